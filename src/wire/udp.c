/*
 * UDP header parse/emit (RFC 768).
 * Place in the packet path: ip_local_deliver -> udp_rcv (udp_parse,
 * udp_csum_ok) -> udp_queue_rcv_skb; udp_sendmsg -> udp_send_skb (udp_emit)
 * -> ip_queue_xmit.
 */
#include "checksum.h"
#include "ipv4.h"
#include "udp.h"

/*
 * RFC 768: Length counts header and data, so it is at least 8, and it cannot
 * claim more than the IP payload carries. A shorter Length is legal: the
 * caller trims the payload to it, as Linux's udp_rcv does.
 */
int udp_parse(const uint8_t *buf, size_t len, struct udp_repr *r)
{
	if (len < UDP_HLEN)
		return -WIRE_ETRUNC;
	uint16_t ulen = be16_get(buf + 4);
	if (ulen < UDP_HLEN || ulen > len)
		return -WIRE_ETOTLEN;
	r->sport = be16_get(buf);
	r->dport = be16_get(buf + 2);
	r->len = ulen;
	r->check = be16_get(buf + 6);
	return 0;
}

/* RFC 768: an all-zero checksum means the sender computed none (RFC 1122 4.1.3.4 accepts it). */
int udp_csum_ok(const uint8_t *buf, const struct udp_repr *r, uint32_t saddr, uint32_t daddr)
{
	if (r->check == 0)
		return 1;
	uint32_t sum = csum_tcpudp_nofold(saddr, daddr, r->len, IPPROTO_UDP_, 0);
	return csum_fold(csum_partial(buf, r->len, sum)) == 0;
}

/* RFC 768: a computed checksum of zero is sent as all ones, since zero means "none". */
size_t udp_emit(uint16_t sport, uint16_t dport, size_t payload_len, uint32_t saddr, uint32_t daddr,
		uint8_t *buf, size_t cap)
{
	if (payload_len > 0xffff - UDP_HLEN || cap < UDP_HLEN + payload_len)
		return 0;
	uint16_t ulen = (uint16_t)(UDP_HLEN + payload_len);

	be16_put(buf, sport);
	be16_put(buf + 2, dport);
	be16_put(buf + 4, ulen);
	be16_put(buf + 6, 0);
	uint32_t sum = csum_tcpudp_nofold(saddr, daddr, ulen, IPPROTO_UDP_, 0);
	uint16_t check = csum_fold(csum_partial(buf, ulen, sum));
	be16_put(buf + 6, check ? check : 0xffff);
	return UDP_HLEN;
}
