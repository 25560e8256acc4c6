/*
 * IPv4 forwarding (Linux's net/ipv4/ip_forward.c and route.c's ip_error).
 *   ip_rcv_finish -> ip_route_input (RTN_UNICAST, not ours) -> ip_forward
 *   -> NF_INET_FORWARD -> ip_forward_finish -> dst_output -> ip_output ...
 *   ip_rcv_finish (no route while forwarding) -> ip_error -> ICMP unreachable
 */
#ifndef NP_NET_IPV4_IP_FORWARD_H
#define NP_NET_IPV4_IP_FORWARD_H

#include "core/skbuff.h"

struct np_stack;

/*
 * Consumes skb (data at the IP header, the forward route in skb->rt): TTL,
 * next-hop MTU (RFC 1191), TTL decrement, NF_INET_FORWARD, dst_output.
 * 0 or a negative errno when the packet was dropped.
 */
int ip_forward(struct np_stack *s, struct sk_buff *skb);
/*
 * Consumes skb (data at the IP header): a packet to forward for which the
 * FIB has no usable route (Linux's ip_error). Sends ICMP net unreachable (no
 * route) or host unreachable (an `unreachable` route), nothing for a
 * blackhole, counts IpExtInNoRoutes, drops as IP_INNOROUTES. Returns -ENETUNREACH.
 */
int ip_error(struct np_stack *s, struct sk_buff *skb);

#endif
