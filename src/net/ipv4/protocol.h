/*
 * inet_protos: the table ip_local_deliver_finish dispatches on by IP
 * protocol number (Linux's net/ipv4/protocol.c).
 *   ip_local_deliver_finish -> inet_protos[iph->protocol]->handler
 *   icmp_unreach -> inet_protos[quoted protocol]->err_handler
 *   ip_rcv_finish -> inet_protos[iph->protocol]->early_demux (before ip_route_input)
 */
#ifndef NP_NET_IPV4_PROTOCOL_H
#define NP_NET_IPV4_PROTOCOL_H

#include "core/netdevice.h"
#include "core/skbuff.h"
#include "net/ipv4/route.h"
#include "socket/sock.h"
#include "trace/trace.h"

struct np_stack;

struct net_protocol {
	/*
	 * Early demux (Linux's tcp_v4_early_demux, udp_v4_early_demux), may be
	 * NULL. Called by ip_rcv_finish on an unfragmented datagram before
	 * routing (skb data at the IP header, IPCB filled); does not consume
	 * skb. It may attach the socket the transport's lookup would find
	 * (skb_set_edemux_sock) and returns 1 when that socket's cached input
	 * route is valid for this skb, so ip_route_input can be skipped; else 0.
	 */
	int (*early_demux)(struct sk_buff *skb);
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

/*
 * Early demux's socket reference and cached input route. Linux keeps these
 * in sock.h and route.h; they live here beside the hook they serve.
 */
/* skb->destructor of an skb carrying early demux's reference on skb->sk: drops it. */
void sock_edemux(struct sk_buff *skb);
/* Attaches sk to skb with a reference (skb->sk was NULL), released by sock_edemux or taken by skb_steal_sock. */
static inline void skb_set_edemux_sock(struct sk_buff *skb, struct sock *sk)
{
	sock_hold(sk);
	skb->sk = sk;
	skb->destructor = sock_edemux;
}
/* The socket early demux attached, with its reference now the caller's; NULL if none. */
static inline struct sock *skb_steal_sock(struct sk_buff *skb)
{
	struct sock *sk = skb->sk;

	if (!sk || skb->destructor != sock_edemux)
		return NULL;
	skb->sk = NULL;
	skb->destructor = NULL;
	return sk;
}
/*
 * The transport's skb_steal_sock: early demux's socket (its reference now
 * the caller's) if it still owns the packet's 4-tuple (host order), else
 * NULL. NAT at LOCAL_IN may have rewritten the packet after early demux
 * (Linux's nf_nat_ipv4_local_in orphans it then): that packet is looked up
 * again, and its route is not cached (IPSKB_RX_DST_NEW cleared).
 */
struct sock *__skb_steal_demuxed_sock(struct sk_buff *skb, uint32_t saddr, uint16_t sport, uint32_t daddr,
				      uint16_t dport);
static inline struct sock *skb_steal_demuxed_sock(struct sk_buff *skb, uint32_t saddr, uint16_t sport,
						  uint32_t daddr, uint16_t dport)
{
	return skb->sk ? __skb_steal_demuxed_sock(skb, saddr, sport, daddr, dport) : NULL;
}
/* Drops early demux's reference before anyone else may own skb (Linux's skb_orphan). */
void skb_edemux_orphan(struct sk_buff *skb);
/*
 * The input device's index when skb's route was resolved in full for early
 * demux's socket and says local delivery (IPSKB_RX_DST_NEW), else 0: a route
 * inet_sk_rx_dst_set may cache on that socket.
 */
int inet_skb_rx_dst_ifindex(const struct sk_buff *skb);
/*
 * Caches an input route on sk (Linux's inet_sk_rx_dst_set): the index
 * inet_skb_rx_dst_ifindex gave for one of its packets (0: nothing to cache)
 * and the current routing generation.
 */
void inet_sk_rx_dst_set(struct sock *sk, int ifindex);
/* True if sk's cached input route holds for skb: same device, no routing change since. */
static inline int inet_sk_rx_dst_valid(const struct sock *sk, const struct sk_buff *skb)
{
	return sk->sk_rx_dst_cookie && sk->sk_rx_dst_ifindex == skb->dev->ifindex &&
	       sk->sk_rx_dst_cookie == rt_genid_ipv4(sk->stack);
}
/* Forgets sk's cached input route: its 4-tuple is changing (hash, unhash). */
void inet_sk_rx_dst_reset(struct sock *sk);
/*
 * The end of an early_demux hook (fn names it in the trace) that found sk:
 * sk rides on skb; 1 when its cached input route holds, so routing is spared.
 */
static inline int inet_early_demux_found(struct sk_buff *skb, struct sock *sk, const char *fn)
{
	skb_set_edemux_sock(skb, sk);
	if (!inet_sk_rx_dst_valid(sk, skb)) {
		trace_stage_detail(skb, fn, "sk");
		return 0;
	}
	trace_stage_detail(skb, fn, "sk, rx_dst");
	return 1;
}

#endif
