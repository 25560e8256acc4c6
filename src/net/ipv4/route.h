/*
 * IPv4 routing: a FIB with longest-prefix match (Linux's fib_lookup over the
 * local and main tables) and the input/output route resolvers.
 *   ip_rcv_finish -> ip_route_input -> local / broadcast / forward / drop
 *   ip_queue_xmit, ip_send_skb -> ip_route_output
 */
#ifndef NP_NET_IPV4_ROUTE_H
#define NP_NET_IPV4_ROUTE_H

#include <stdio.h>

#include "core/skbuff.h"
#include "netpath/drop_reason.h"

struct np_stack;
struct net_device;

/* Route origin, as `ip route` prints it. */
enum rt_proto { RTPROT_KERNEL = 2, RTPROT_BOOT = 3, RTPROT_STATIC = 4 };

struct fib_route {
	uint32_t dst;           /* host order, masked */
	int plen;
	uint32_t gateway;       /* 0: on-link */
	struct net_device *dev;
	uint32_t prefsrc;       /* 0: pick from dev */
	uint8_t type;           /* RTN_UNICAST, RTN_LOCAL, RTN_BROADCAST, RTN_UNREACHABLE, RTN_BLACKHOLE */
	uint8_t protocol;       /* enum rt_proto */
	uint32_t metric;
};

int fib_init(struct np_stack *s);
void fib_free(struct np_stack *s);
/*
 * Adds a route (copied). 0, -EEXIST, -ENETUNREACH (gateway not on-link, as
 * Linux), -EINVAL (bad plen; gateway is ours or a broadcast), -ENOMEM.
 */
int fib_add(struct np_stack *s, const struct fib_route *r);
/* Deletes the main-table route for dst/plen (and dev if non-NULL), as `ip route del`. 0 or -ESRCH. */
int fib_del(struct np_stack *s, uint32_t dst, int plen, struct net_device *dev);
/* Removes every route through dev (device going away). */
void fib_flush_dev(struct np_stack *s, struct net_device *dev);
/* Longest-prefix match; local/broadcast routes win over main. NULL if none. */
const struct fib_route *fib_lookup(const struct np_stack *s, uint32_t daddr);
void fib_print(const struct np_stack *s, FILE *out);

/*
 * The input route of a packet to our address daddr arriving on dev
 * (RTN_LOCAL), as ip_route_input fills it; early demux uses it for a
 * socket's cached route, so both always agree.
 */
void ip_route_input_local(struct rtable *rt, struct net_device *dev, uint32_t daddr);
/*
 * Route for a received packet to daddr from saddr on dev: fills rt and
 * returns 0, or returns a negative drop reason (-NP_DROP_IP_INVALID_SOURCE
 * for martians, -NP_DROP_IP_INADDRERRORS when not ours and not forwarding,
 * -NP_DROP_IP_INNOROUTES ...).
 */
int ip_route_input(struct np_stack *s, uint32_t daddr, uint32_t saddr, uint8_t tos,
		   struct net_device *dev, struct rtable *rt);
/*
 * Route for an outgoing packet: fills rt (device, next hop, source, MTU) and
 * returns 0, or -ENETUNREACH / -EHOSTUNREACH. oif (may be NULL) forces the device.
 */
int ip_route_output(struct np_stack *s, uint32_t daddr, uint32_t saddr, struct net_device *oif,
		    struct rtable *rt);

/*
 * A socket's cached output route (Linux's sk_dst_cache): valid while the
 * routing generation is the one it was filled under and the keys match.
 * Zero-initialised it is empty.
 */
struct dst_cache {
	struct rtable rt;
	uint32_t genid;         /* routing generation when filled; 0: empty */
	uint32_t daddr, saddr;
	int oif;                /* ifindex of the forced device (0: none): 40 bytes, one per socket */
};
/* ip_route_output through c: a hit copies the cached route, a miss routes and refills c. */
int ip_route_output_cached(struct np_stack *s, struct dst_cache *c, uint32_t daddr, uint32_t saddr,
			   struct net_device *oif, struct rtable *rt);
/*
 * Invalidates every dst_cache (Linux's rt_cache_flush, a new rt_genid).
 * Called on any change ip_route_output depends on: routes, addresses,
 * device up/down and MTU. Whatever it comes to depend on must call it too.
 * Early demux's cached input routes (sk_rx_dst_cookie) go stale with it too.
 */
void rt_cache_flush(struct np_stack *s);
/* The current routing generation (Linux's rt_genid_ipv4): never 0, changes on every rt_cache_flush. */
uint32_t rt_genid_ipv4(const struct np_stack *s);

/* Address helpers used by the route resolvers and ARP. */
/* True if addr is one of the stack's local addresses (on any device). */
int inet_addr_is_local(const struct np_stack *s, uint32_t addr);
/* The device holding addr, or NULL. */
struct net_device *inet_addr_dev(const struct np_stack *s, uint32_t addr);
/* Primary address of dev in dst's subnet (or the first one); 0 if none. */
uint32_t inet_select_addr(const struct net_device *dev, uint32_t dst);
/* Adds/deletes an address on dev and its local, broadcast and connected routes. */
int inet_addr_add(struct net_device *dev, uint32_t addr, int plen);
int inet_addr_del(struct net_device *dev, uint32_t addr, int plen);

#endif
