/*
 * ARP internals shared by arp.c and neighbour.c (Linux's include/net/arp.h
 * plus the neighbour hooks arp_process calls). Private to net/ipv4.
 *   netif_receive_skb -> arp_rcv -> arp_process -> neigh_event_ns / neigh_rcv_update
 *   neigh_probe -> arp_solicit -> arp_send -> dev_queue_xmit
 */
#ifndef NP_NET_IPV4_ARP_H
#define NP_NET_IPV4_ARP_H

#include <stdint.h>

#include "core/skbuff.h"

struct np_stack;
struct net_device;
struct packet_type;

/* Consumes skb (data at the ARP header): the ETH_P_ARP handler neigh_init registers. */
int arp_rcv(struct sk_buff *skb, struct net_device *dev, struct packet_type *pt);

/*
 * Builds an ARP packet in a new skb and sends it through dev_queue_xmit
 * (Linux's arp_send). dest_hw NULL: Ethernet broadcast; src_hw NULL: the
 * device address; target_hw NULL: zeros. stage names the first trace stage.
 * 0 or a negative errno.
 */
int arp_send(struct np_stack *s, struct net_device *dev, uint16_t op, uint32_t dest_ip, uint32_t src_ip,
	     const uint8_t *dest_hw, const uint8_t *src_hw, const uint8_t *target_hw, const char *stage);

/*
 * Sends a request for target on dev (Linux's arp_solicit): unicast to dst_ha
 * when given (NUD_PROBE), else broadcast. skb (not consumed, may be NULL) is a
 * packet waiting for the answer: its source address is used if it is ours.
 */
void arp_solicit(struct np_stack *s, struct net_device *dev, uint32_t target, const uint8_t *dst_ha,
		 const struct sk_buff *skb);

/*
 * A request for one of our addresses came from ip/lladdr (Linux's
 * neigh_event_ns): creates or updates the entry as NUD_STALE. 0, or -ENOBUFS
 * when the table is full and nothing can be evicted. skb (not consumed) only
 * receives the "neigh_update" trace stage.
 */
int neigh_event_ns(struct np_stack *s, struct net_device *dev, uint32_t ip, const uint8_t *lladdr,
		   struct sk_buff *skb);

/*
 * An ARP packet from ip/lladdr that may only refresh an existing entry
 * (replies, requests for others, gratuitous ARP): state is NUD_REACHABLE for
 * a unicast reply, NUD_STALE otherwise. Returns 1 if an entry existed, 0 if not.
 */
int neigh_rcv_update(struct np_stack *s, struct net_device *dev, uint32_t ip, const uint8_t *lladdr,
		     uint8_t state, int is_garp, struct sk_buff *skb);

#endif
