/*
 * The neighbour subsystem and ARP (Linux's net/core/neighbour.c and
 * net/ipv4/arp.c): a bounded table with the Linux NUD states, retries and
 * timeouts, a bounded pending queue per entry flushed when the reply comes
 * (seed 002), and a cached Ethernet header.
 *   ip_finish_output2 -> neigh_output -> (REACHABLE: cached header) or
 *   neigh_resolve_output -> arp_solicit; arp_rcv -> arp_process ->
 *   neigh_update -> flush pending queue -> dev_queue_xmit
 */
#ifndef NP_NET_IPV4_NEIGHBOUR_H
#define NP_NET_IPV4_NEIGHBOUR_H

#include <stdio.h>

#include "core/skbuff.h"

struct np_stack;
struct net_device;

/* Linux's NUD_* values, so `ip neigh`-style output and tests read the same. */
#define NUD_INCOMPLETE 0x01
#define NUD_REACHABLE 0x02
#define NUD_STALE 0x04
#define NUD_DELAY 0x08
#define NUD_PROBE 0x10
#define NUD_FAILED 0x20
#define NUD_NOARP 0x40
#define NUD_PERMANENT 0x80
#define NUD_NONE 0x00

int neigh_init(struct np_stack *s);   /* also registers arp_rcv with dev_add_pack */
void neigh_free(struct np_stack *s);
/* Removes every entry on dev, freeing queued packets with NEIGH_DEAD. */
void neigh_flush_dev(struct np_stack *s, struct net_device *dev);

/*
 * Consumes skb (data at the IP header): sends it to nexthop on dev, resolving
 * the link address with ARP if needed (queueing skb meanwhile). Loopback and
 * NOARP devices send directly. 0 or a negative errno.
 */
int neigh_output(struct np_stack *s, struct net_device *dev, uint32_t nexthop, struct sk_buff *skb);

/* Inspection for tests and `ip neigh`: state (NUD_*) of the entry, or -ENOENT. */
int neigh_lookup_state(struct np_stack *s, struct net_device *dev, uint32_t ip, uint8_t mac_out[6]);
/* Adds a permanent entry (like `ip neigh add ... nud permanent`). */
int neigh_add_permanent(struct np_stack *s, struct net_device *dev, uint32_t ip, const uint8_t mac[6]);
int neigh_count(const struct np_stack *s);
void neigh_print(struct np_stack *s, FILE *out);

#endif
