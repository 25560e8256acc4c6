/*
 * Ethernet II and 802.1Q headers.
 * Place in the packet path: driver rx -> netif_receive_skb (eth_type_trans)
 * and neigh_resolve_output -> dev_queue_xmit (header build).
 */
#ifndef NP_WIRE_ETH_H
#define NP_WIRE_ETH_H

#include "wire.h"

#define ETH_ALEN 6
#define ETH_HLEN 14
#define ETH_ZLEN 60            /* minimum frame without FCS */
#define ETH_DATA_LEN 1500
#define ETH_FRAME_LEN 1514
#define VLAN_HLEN 4

#define ETH_P_IP 0x0800
#define ETH_P_ARP 0x0806
#define ETH_P_8021Q 0x8100
#define ETH_P_IPV6 0x86DD

struct eth_repr {
	uint8_t dst[ETH_ALEN];
	uint8_t src[ETH_ALEN];
	uint16_t ethertype;
};

struct vlan_repr {
	uint8_t pcp;
	uint8_t dei;
	uint16_t vid;           /* 0..4095 */
	uint16_t ethertype;     /* encapsulated type */
};

/* Parses the 14-byte header; -WIRE_ETRUNC if len < ETH_HLEN. */
int eth_parse(const uint8_t *buf, size_t len, struct eth_repr *r);
/* Writes ETH_HLEN bytes; returns ETH_HLEN, or 0 if cap is too small. */
size_t eth_emit(const struct eth_repr *r, uint8_t *buf, size_t cap);
/* Parses the 4 bytes after an 0x8100 EtherType. */
int vlan_parse(const uint8_t *buf, size_t len, struct vlan_repr *r);
/* Writes VLAN_HLEN bytes; 0 if cap is too small or pcp > 7, dei > 1, vid > 4095. */
size_t vlan_emit(const struct vlan_repr *r, uint8_t *buf, size_t cap);

static inline int eth_is_broadcast(const uint8_t *a)
{
	return (a[0] & a[1] & a[2] & a[3] & a[4] & a[5]) == 0xff;
}
static inline int eth_is_multicast(const uint8_t *a) { return a[0] & 1; }
static inline int eth_is_zero(const uint8_t *a)
{
	return (a[0] | a[1] | a[2] | a[3] | a[4] | a[5]) == 0;
}
/* Formats "aa:bb:cc:dd:ee:ff" into out (at least 18 bytes). */
char *eth_ntoa(const uint8_t *a, char *out);
/* Parses "aa:bb:cc:dd:ee:ff"; returns 0 or -WIRE_EFIELD. */
int eth_aton(const char *s, uint8_t *a);

#endif
