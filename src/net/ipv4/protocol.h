/*
 * inet_protos: the table ip_local_deliver_finish dispatches on by IP
 * protocol number (Linux's net/ipv4/protocol.c).
 *   ip_local_deliver_finish -> inet_protos[iph->protocol]->handler
 *   icmp_unreach -> inet_protos[quoted protocol]->err_handler
 */
#ifndef NP_NET_IPV4_PROTOCOL_H
#define NP_NET_IPV4_PROTOCOL_H

#include "core/skbuff.h"

struct np_stack;

struct net_protocol {
	/* Consumes skb (data at the transport header); returns 0 or a negative errno. */
	int (*handler)(struct sk_buff *skb);
	/*
	 * An ICMP error quoting one of our packets: skb data at the quoted IP
	 * header (at least IHL + 8 bytes present). Does not consume skb.
	 */
	void (*err_handler)(struct sk_buff *skb, uint8_t type, uint8_t code, uint32_t info);
};

/* 0, or -EBUSY if the slot is taken. */
int inet_add_protocol(struct np_stack *s, const struct net_protocol *prot, uint8_t protocol);
void inet_del_protocol(struct np_stack *s, uint8_t protocol);

#endif
