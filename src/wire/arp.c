/*
 * ARP for IPv4 over Ethernet (RFC 826).
 * Place in the packet path: netif_receive_skb -> ptype dispatch -> arp_rcv
 * (parse, then neighbour update) and neigh_solicit -> arp_send (emit).
 */
#include <string.h>

#include "arp.h"

/*
 * RFC 826 "Packet Reception": a packet whose hardware type, protocol type or
 * address lengths we do not speak is discarded; so is an unknown opcode.
 */
int arp_parse(const uint8_t *buf, size_t len, struct arp_repr *r)
{
	if (len < ARP_HLEN)
		return -WIRE_ETRUNC;
	if (be16_get(buf) != ARPHRD_ETHER || be16_get(buf + 2) != ETH_P_IP)
		return -WIRE_EFIELD;
	if (buf[4] != ETH_ALEN || buf[5] != 4)
		return -WIRE_EFIELD;
	uint16_t op = be16_get(buf + 6);
	if (op != ARPOP_REQUEST && op != ARPOP_REPLY)
		return -WIRE_EFIELD;
	r->op = op;
	memcpy(r->sha, buf + 8, ETH_ALEN);
	r->sip = be32_get(buf + 14);
	memcpy(r->tha, buf + 18, ETH_ALEN);
	r->tip = be32_get(buf + 24);
	return 0;
}

size_t arp_emit(const struct arp_repr *r, uint8_t *buf, size_t cap)
{
	if (cap < ARP_HLEN)
		return 0;
	be16_put(buf, ARPHRD_ETHER);
	be16_put(buf + 2, ETH_P_IP);
	buf[4] = ETH_ALEN;
	buf[5] = 4;
	be16_put(buf + 6, r->op);
	memcpy(buf + 8, r->sha, ETH_ALEN);
	be32_put(buf + 14, r->sip);
	memcpy(buf + 18, r->tha, ETH_ALEN);
	be32_put(buf + 24, r->tip);
	return ARP_HLEN;
}
