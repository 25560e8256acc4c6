/*
 * IPv4 header parse/emit (RFC 791) with the receive checks of RFC 1122 3.2.1.
 * Place in the packet path: netif_receive_skb -> ip_rcv (ipv4_parse,
 * ipv4_csum_ok) -> ip_rcv_finish (ipv4_options_check); ip_queue_xmit and
 * ip_build_and_send_pkt -> ip_local_out (ipv4_emit); ip_fragment copies options.
 */
#include <stdio.h>
#include <string.h>

#include "checksum.h"
#include "ipv4.h"

#define IPOPT_END 0
#define IPOPT_NOOP 1

int ipv4_parse(const uint8_t *buf, size_t len, struct ipv4_repr *r)
{
	if (len < IPV4_HLEN_MIN)
		return -WIRE_ETRUNC;
	/* RFC 1122 3.2.1.1: silently discard a datagram whose version is not 4. */
	if ((buf[0] >> 4) != 4)
		return -WIRE_EVERSION;
	/* RFC 791 3.1: IHL counts 32-bit words, at least 5; the header must be in the buffer. */
	size_t ihl = (size_t)(buf[0] & 0x0f) * 4;
	if (ihl < IPV4_HLEN_MIN || ihl > len)
		return -WIRE_EHDRLEN;
	/* RFC 791 3.1: total length covers header and data; it can neither undercut the header nor exceed what arrived. */
	uint16_t tot_len = be16_get(buf + 2);
	if (tot_len < ihl || tot_len > len)
		return -WIRE_ETOTLEN;

	r->ihl = (uint8_t)ihl;
	r->tos = buf[1];
	r->tot_len = tot_len;
	r->id = be16_get(buf + 4);
	r->frag_off = be16_get(buf + 6);
	r->ttl = buf[8];
	r->protocol = buf[9];
	r->check = be16_get(buf + 10);
	r->saddr = be32_get(buf + 12);
	r->daddr = be32_get(buf + 16);
	r->options_len = (uint8_t)(ihl - IPV4_HLEN_MIN);
	r->options = r->options_len ? buf + IPV4_HLEN_MIN : NULL;
	return 0;
}

/* RFC 1122 3.2.1.2: the header checksum must verify; a correct header sums to 0xFFFF. */
int ipv4_csum_ok(const uint8_t *buf, size_t ihl)
{
	return ip_compute_csum(buf, ihl) == 0;
}

/*
 * The header length comes from options_len, not r->ihl; options may already
 * sit at buf + 20 (memmove copes). Options must pad themselves to 4 bytes
 * (RFC 791 3.1 "Padding") and fit in the 40 bytes IHL can express.
 */
size_t ipv4_emit(const struct ipv4_repr *r, uint8_t *buf, size_t cap)
{
	size_t hlen = IPV4_HLEN_MIN + (size_t)r->options_len;

	if (r->options_len % 4 || hlen > IPV4_HLEN_MAX || (r->options_len && !r->options))
		return 0;
	if (cap < hlen)
		return 0;
	buf[0] = (uint8_t)(0x40 | (hlen / 4));
	buf[1] = r->tos;
	be16_put(buf + 2, r->tot_len);
	be16_put(buf + 4, r->id);
	be16_put(buf + 6, r->frag_off);
	buf[8] = r->ttl;
	buf[9] = r->protocol;
	be16_put(buf + 10, 0);
	be32_put(buf + 12, r->saddr);
	be32_put(buf + 16, r->daddr);
	if (r->options_len)
		memmove(buf + IPV4_HLEN_MIN, r->options, r->options_len);
	be16_put(buf + 10, ip_compute_csum(buf, hlen));
	return hlen;
}

/*
 * RFC 791 3.1 option format: End of Option List and No Operation are single
 * bytes; every other option is type, length (counting both), data. A length
 * below 2 or running past the header is malformed (RFC 1122 3.2.1.8 lets the
 * receiver discard it; Linux answers with a parameter problem).
 */
int ipv4_options_check(const uint8_t *opt, size_t len)
{
	size_t i = 0;

	while (i < len) {
		uint8_t type = opt[i];
		if (type == IPOPT_END)
			break;
		if (type == IPOPT_NOOP) {
			i++;
			continue;
		}
		if (len - i < 2)
			return -WIRE_EOPT;
		uint8_t olen = opt[i + 1];
		if (olen < 2 || olen > len - i)
			return -WIRE_EOPT;
		i += olen;
	}
	return 0;
}

char *ipv4_ntoa(uint32_t a, char *out)
{
	snprintf(out, 16, "%u.%u.%u.%u", a >> 24, (a >> 16) & 0xff, (a >> 8) & 0xff, a & 0xff);
	return out;
}

/*
 * Reads a decimal number of 1..maxdig digits no larger than max, with no sign
 * and no leading zero (inet_pton's rule: "010" would read as octal in inet_aton).
 * Returns the characters consumed or 0.
 */
static int read_dec(const char *s, int maxdig, unsigned max, unsigned *out)
{
	unsigned v = 0;
	int n = 0;

	while (s[n] >= '0' && s[n] <= '9') {
		if (n == maxdig)
			return 0;
		if (n == 1 && s[0] == '0')
			return 0;
		v = v * 10 + (unsigned)(s[n] - '0');
		n++;
	}
	if (n == 0 || v > max)
		return 0;
	*out = v;
	return n;
}

/* Parses exactly four dotted decimal bytes; returns characters consumed or 0. */
static int read_quad(const char *s, uint32_t *a)
{
	uint32_t v = 0;
	int pos = 0;

	for (int i = 0; i < 4; i++) {
		unsigned b;
		int n = read_dec(s + pos, 3, 255, &b);
		if (n == 0)
			return 0;
		pos += n;
		v = (v << 8) | b;
		if (i < 3) {
			if (s[pos] != '.')
				return 0;
			pos++;
		}
	}
	*a = v;
	return pos;
}

int ipv4_aton(const char *s, uint32_t *a)
{
	uint32_t v;

	if (!s)
		return -WIRE_EFIELD;
	int n = read_quad(s, &v);
	if (n == 0 || s[n] != '\0')
		return -WIRE_EFIELD;
	*a = v;
	return 0;
}

/* The address keeps its host bits, as `ip addr add 10.0.0.1/24` does. */
int ipv4_prefix_parse(const char *s, uint32_t *addr, int *plen)
{
	uint32_t v;
	unsigned p = 32;

	if (!s)
		return -WIRE_EFIELD;
	int n = read_quad(s, &v);
	if (n == 0)
		return -WIRE_EFIELD;
	if (s[n] == '/') {
		int m = read_dec(s + n + 1, 2, 32, &p);
		if (m == 0)
			return -WIRE_EFIELD;
		n += 1 + m;
	}
	if (s[n] != '\0')
		return -WIRE_EFIELD;
	*addr = v;
	*plen = (int)p;
	return 0;
}
