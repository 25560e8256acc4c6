/*
 * ICMPv4 message parse/emit (RFC 792).
 * Place in the packet path: ip_local_deliver -> icmp_rcv (icmp_parse) ->
 * icmp_echo / icmp_unreach; icmp_reply and icmp_send (icmp_emit) -> ip_push.
 */
#include <string.h>

#include "checksum.h"
#include "icmp.h"

/* RFC 792: the checksum covers the whole ICMP message, header and data. */
int icmp_parse(const uint8_t *buf, size_t len, struct icmp_repr *r)
{
	if (len < ICMP_HLEN)
		return -WIRE_ETRUNC;
	if (ip_compute_csum(buf, len) != 0)
		return -WIRE_ECSUM;
	r->type = buf[0];
	r->code = buf[1];
	r->check = be16_get(buf + 2);
	r->rest = be32_get(buf + 4);
	r->payload = buf + ICMP_HLEN;
	r->payload_len = len - ICMP_HLEN;
	return 0;
}

size_t icmp_emit(const struct icmp_repr *r, uint8_t *buf, size_t cap)
{
	if (cap < ICMP_HLEN || r->payload_len > cap - ICMP_HLEN)
		return 0;
	if (r->payload_len && !r->payload)
		return 0;
	size_t len = ICMP_HLEN + r->payload_len;

	/* The payload may already be in place (echo reply reuses the request); memmove covers overlap. */
	if (r->payload_len && r->payload != buf + ICMP_HLEN)
		memmove(buf + ICMP_HLEN, r->payload, r->payload_len);
	buf[0] = r->type;
	buf[1] = r->code;
	be16_put(buf + 2, 0);
	be32_put(buf + 4, r->rest);
	be16_put(buf + 2, ip_compute_csum(buf, len));
	return len;
}

/* RFC 1122 3.2.2: the error messages, which must never be answered with another error. */
int icmp_is_error(uint8_t type)
{
	switch (type) {
	case ICMP_DEST_UNREACH:
	case ICMP_SOURCE_QUENCH:
	case ICMP_REDIRECT:
	case ICMP_TIME_EXCEEDED:
	case ICMP_PARAMETERPROB:
		return 1;
	default:
		return 0;
	}
}
