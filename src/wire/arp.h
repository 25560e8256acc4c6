/*
 * ARP for IPv4 over Ethernet (RFC 826).
 * Place in the packet path: netif_receive_skb -> arp_rcv (parse) and
 * neigh_solicit -> arp_send (emit).
 */
#ifndef NP_WIRE_ARP_H
#define NP_WIRE_ARP_H

#include "eth.h"

#define ARP_HLEN 28
#define ARPHRD_ETHER 1
#define ARPOP_REQUEST 1
#define ARPOP_REPLY 2

struct arp_repr {
	uint16_t op;
	uint8_t sha[ETH_ALEN];
	uint32_t sip;           /* host order */
	uint8_t tha[ETH_ALEN];
	uint32_t tip;           /* host order */
};

/*
 * Parses an Ethernet/IPv4 ARP packet: -WIRE_ETRUNC if shorter than 28 bytes,
 * -WIRE_EFIELD if hardware type != 1, protocol != 0x0800, hlen != 6, plen != 4
 * or op is not request/reply.
 */
int arp_parse(const uint8_t *buf, size_t len, struct arp_repr *r);
/* Writes ARP_HLEN bytes; returns ARP_HLEN or 0 if cap is too small. */
size_t arp_emit(const struct arp_repr *r, uint8_t *buf, size_t cap);

#endif
