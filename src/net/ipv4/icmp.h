/*
 * ICMPv4 (Linux's net/ipv4/icmp.c): echo both ways, errors sent with the
 * quoted header, rate limiting, and errors received passed to the transport.
 *   ip_local_deliver_finish -> icmp_rcv -> icmp_echo / icmp_unreach / ping reply
 *   icmp_send (from ip_local_deliver_finish, udp_rcv ...) -> ip_build_and_send_pkt
 */
#ifndef NP_NET_IPV4_ICMP_H
#define NP_NET_IPV4_ICMP_H

#include "core/skbuff.h"

struct np_stack;

int icmp_init(struct np_stack *s);   /* registers icmp_rcv in inet_protos */
void icmp_free(struct np_stack *s);
/* Consumes skb (data at the ICMP header). */
int icmp_rcv(struct sk_buff *skb);
/*
 * Sends an ICMP error about skb_in (not consumed; its network header must be
 * set) unless RFC 1122 3.2.2 forbids it or the rate limit says no.
 * info: next-hop MTU for ICMP_FRAG_NEEDED.
 */
void icmp_send(struct sk_buff *skb_in, uint8_t type, uint8_t code, uint32_t info);

#endif
