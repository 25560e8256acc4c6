/*
 * TCP header and options parse/emit (RFC 9293 3.1, RFC 7323, RFC 2018).
 * Place in the packet path: ip_local_deliver -> tcp_v4_rcv (tcp_parse,
 * tcp_csum_ok) -> tcp_rcv_state_process / tcp_rcv_established;
 * tcp_write_xmit -> tcp_transmit_skb (tcp_options_len, tcp_emit) -> ip_queue_xmit.
 */
#include <string.h>

#include "checksum.h"
#include "ipv4.h"
#include "tcp.h"

#define TCPOLEN_MSS 4
#define TCPOLEN_WINDOW 3
#define TCPOLEN_SACK_PERM 2
#define TCPOLEN_TIMESTAMP 10
#define TCPOLEN_SACK_BASE 2
#define TCPOLEN_SACK_PERBLOCK 8
#define TCP_OPT_SPACE (TCP_HLEN_MAX - TCP_HLEN_MIN)

/*
 * RFC 9293 3.1 "Options": kinds 0 and 1 are single bytes; every other option
 * is kind, length (counting both), data. The length must be at least 2, so the
 * walk always advances, and must stay inside the header (RFC 9293 3.1 MUST-7
 * asks the receiver to cope with illegal lengths, here by rejecting).
 */
static int tcp_parse_options(const uint8_t *p, size_t len, struct tcp_options *o)
{
	size_t i = 0;

	memset(o, 0, sizeof(*o));
	while (i < len) {
		uint8_t kind = p[i];
		if (kind == TCPOPT_EOL)
			break;
		if (kind == TCPOPT_NOP) {
			i++;
			continue;
		}
		if (len - i < 2)
			return -WIRE_EOPT;
		uint8_t olen = p[i + 1];
		if (olen < 2 || olen > len - i)
			return -WIRE_EOPT;
		const uint8_t *d = p + i + 2;
		switch (kind) {
		case TCPOPT_MSS: /* RFC 9293 3.2: kind 2, length 4, 16-bit MSS. */
			if (olen != TCPOLEN_MSS)
				return -WIRE_EOPT;
			o->mss_ok = 1;
			o->mss = be16_get(d);
			break;
		case TCPOPT_WINDOW: /* RFC 7323 2.2: kind 3, length 3, shift count. */
			if (olen != TCPOLEN_WINDOW)
				return -WIRE_EOPT;
			o->wscale_ok = 1;
			o->wscale = d[0];
			break;
		case TCPOPT_SACK_PERM: /* RFC 2018 2: kind 4, length 2. */
			if (olen != TCPOLEN_SACK_PERM)
				return -WIRE_EOPT;
			o->sack_ok = 1;
			break;
		case TCPOPT_TIMESTAMP: /* RFC 7323 3.2: kind 8, length 10, TSval and TSecr. */
			if (olen != TCPOLEN_TIMESTAMP)
				return -WIRE_EOPT;
			o->ts_ok = 1;
			o->tsval = be32_get(d);
			o->tsecr = be32_get(d + 4);
			break;
		case TCPOPT_SACK: { /* RFC 2018 3: kind 5, length 2 + 8n; 40 bytes hold at most 4 blocks. */
			if (olen < TCPOLEN_SACK_BASE + TCPOLEN_SACK_PERBLOCK ||
			    (olen - TCPOLEN_SACK_BASE) % TCPOLEN_SACK_PERBLOCK)
				return -WIRE_EOPT;
			unsigned n = (olen - TCPOLEN_SACK_BASE) / TCPOLEN_SACK_PERBLOCK;
			if (n > 4)
				n = 4;
			for (unsigned b = 0; b < n; b++) {
				o->sacks[b].start = be32_get(d + 8 * b);
				o->sacks[b].end = be32_get(d + 8 * b + 4);
			}
			o->num_sacks = (uint8_t)n;
			break;
		}
		default: /* RFC 9293 3.1 MUST-6: ignore an unknown option, skipping by its length. */
			break;
		}
		i += olen;
	}
	return 0;
}

int tcp_parse(const uint8_t *buf, size_t len, struct tcp_repr *r)
{
	if (len < TCP_HLEN_MIN)
		return -WIRE_ETRUNC;
	/* RFC 9293 3.1: Data Offset counts 32-bit words; 5 is the bare header. */
	size_t doff = (size_t)(buf[12] >> 4) * 4;
	if (doff < TCP_HLEN_MIN || doff > len)
		return -WIRE_EHDRLEN;
	int err = tcp_parse_options(buf + TCP_HLEN_MIN, doff - TCP_HLEN_MIN, &r->opt);
	if (err)
		return err;
	r->sport = be16_get(buf);
	r->dport = be16_get(buf + 2);
	r->seq = be32_get(buf + 4);
	r->ack = be32_get(buf + 8);
	r->doff = (uint8_t)doff;
	r->flags = buf[13];
	r->window = be16_get(buf + 14);
	r->check = be16_get(buf + 16);
	r->urg_ptr = be16_get(buf + 18);
	r->payload = buf + doff;
	r->payload_len = len - doff;
	return 0;
}

/* RFC 9293 3.1: the checksum covers the pseudo-header, the header and the data. */
int tcp_csum_ok(const uint8_t *buf, size_t len, uint32_t saddr, uint32_t daddr)
{
	if (len > 0xffff)
		return 0;
	uint32_t sum = csum_tcpudp_nofold(saddr, daddr, (uint16_t)len, IPPROTO_TCP_, 0);
	return csum_fold(csum_partial(buf, len, sum)) == 0;
}

/*
 * SACK blocks that fit beside the other options: Linux drops blocks rather
 * than overflow the 40 option bytes (3 fit next to timestamps, 4 without).
 */
static unsigned sack_blocks_fit(const struct tcp_options *opt, size_t used)
{
	unsigned n = opt->num_sacks > 4 ? 4 : opt->num_sacks;

	while (n && used + 4 + TCPOLEN_SACK_PERBLOCK * n > TCP_OPT_SPACE)
		n--;
	return n;
}

/* Bytes of everything but SACK blocks, in the layout tcp_options_write uses. */
static size_t fixed_options_len(const struct tcp_options *opt)
{
	size_t n = 0;

	if (opt->mss_ok)
		n += 4;
	if (opt->ts_ok)
		n += 12;         /* sackOK,TS or nop,nop,TS */
	else if (opt->sack_ok)
		n += 4;          /* nop,nop,sackOK */
	if (opt->wscale_ok)
		n += 4;          /* nop,wscale */
	return n;
}

size_t tcp_options_len(const struct tcp_options *opt)
{
	size_t n = fixed_options_len(opt);
	unsigned sacks = sack_blocks_fit(opt, n);

	if (sacks)
		n += 4 + TCPOLEN_SACK_PERBLOCK * sacks;
	return n;
}

/*
 * Linux's tcp_options_write order, every option aligned to 4 with NOPs:
 *   mss(4) | sackOK,TS(12) or nop,nop,TS(12) or nop,nop,sackOK(4) |
 *   nop,wscale(4) | nop,nop,sack blocks(4+8n)
 */
static void tcp_options_write(const struct tcp_options *opt, uint8_t *p)
{
	size_t used = fixed_options_len(opt);
	unsigned sacks = sack_blocks_fit(opt, used);

	if (opt->mss_ok) {
		p[0] = TCPOPT_MSS;
		p[1] = TCPOLEN_MSS;
		be16_put(p + 2, opt->mss);
		p += 4;
	}
	if (opt->ts_ok) {
		if (opt->sack_ok) {
			p[0] = TCPOPT_SACK_PERM;
			p[1] = TCPOLEN_SACK_PERM;
		} else {
			p[0] = TCPOPT_NOP;
			p[1] = TCPOPT_NOP;
		}
		p[2] = TCPOPT_TIMESTAMP;
		p[3] = TCPOLEN_TIMESTAMP;
		be32_put(p + 4, opt->tsval);
		be32_put(p + 8, opt->tsecr);
		p += 12;
	} else if (opt->sack_ok) {
		p[0] = TCPOPT_NOP;
		p[1] = TCPOPT_NOP;
		p[2] = TCPOPT_SACK_PERM;
		p[3] = TCPOLEN_SACK_PERM;
		p += 4;
	}
	if (opt->wscale_ok) {
		p[0] = TCPOPT_NOP;
		p[1] = TCPOPT_WINDOW;
		p[2] = TCPOLEN_WINDOW;
		p[3] = opt->wscale;
		p += 4;
	}
	if (sacks) {
		p[0] = TCPOPT_NOP;
		p[1] = TCPOPT_NOP;
		p[2] = TCPOPT_SACK;
		p[3] = (uint8_t)(TCPOLEN_SACK_BASE + TCPOLEN_SACK_PERBLOCK * sacks);
		p += 4;
		for (unsigned b = 0; b < sacks; b++) {
			be32_put(p, opt->sacks[b].start);
			be32_put(p + 4, opt->sacks[b].end);
			p += 8;
		}
	}
}

/*
 * The header length comes from r->opt, not r->doff; the caller sets only the
 * options this segment should carry (MSS, WS and sackOK belong on SYNs).
 */
size_t tcp_emit(const struct tcp_repr *r, size_t payload_len, uint32_t saddr, uint32_t daddr,
		uint8_t *buf, size_t cap)
{
	size_t hlen = TCP_HLEN_MIN + tcp_options_len(&r->opt);

	if (payload_len > 0xffff - hlen || cap < hlen + payload_len)
		return 0;
	size_t seglen = hlen + payload_len;

	be16_put(buf, r->sport);
	be16_put(buf + 2, r->dport);
	be32_put(buf + 4, r->seq);
	be32_put(buf + 8, r->ack);
	buf[12] = (uint8_t)((hlen / 4) << 4); /* reserved bits zero (RFC 9293 3.1) */
	buf[13] = r->flags;
	be16_put(buf + 14, r->window);
	be16_put(buf + 16, 0);
	be16_put(buf + 18, r->urg_ptr);
	tcp_options_write(&r->opt, buf + TCP_HLEN_MIN);
	uint32_t sum = csum_tcpudp_nofold(saddr, daddr, (uint16_t)seglen, IPPROTO_TCP_, 0);
	be16_put(buf + 16, csum_fold(csum_partial(buf, seglen, sum)));
	return hlen;
}
