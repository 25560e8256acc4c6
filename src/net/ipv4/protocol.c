/*
 * inet_protos registration (Linux's net/ipv4/protocol.c): the transports
 * put their receive and ICMP-error handlers into the stack's table, indexed
 * by IP protocol number.
 *   icmp_init / udp_init / tcp_init -> inet_add_protocol
 *   ip_local_deliver_finish -> inet_protos[iph->protocol]->handler
 *   icmp_unreach -> inet_protos[quoted protocol]->err_handler
 *   ip_rcv_finish -> inet_protos[iph->protocol]->early_demux, and the
 *   socket reference and cached input route early demux hands on.
 */
#include <errno.h>

#include "core/netdevice.h"
#include "core/stack.h"
#include "net/ipv4/ip.h"
#include "net/ipv4/protocol.h"
#include "net/ipv4/route.h"
#include "socket/sock.h"

int inet_add_protocol(struct np_stack *s, const struct net_protocol *prot, uint8_t protocol)
{
	/* One handler per protocol, as Linux's cmpxchg on inet_protos[]. */
	if (s->inet_protos[protocol])
		return -EBUSY;
	s->inet_protos[protocol] = prot;
	return 0;
}

void inet_del_protocol(struct np_stack *s, uint8_t protocol)
{
	s->inet_protos[protocol] = NULL;
}

/* ---- early demux (ip_rcv_finish -> inet_protos[proto]->early_demux) ---- */

void sock_edemux(struct sk_buff *skb)
{
	struct sock *sk = skb->sk;

	skb->sk = NULL;
	sock_put(sk);
}

void skb_edemux_orphan(struct sk_buff *skb)
{
	struct sock *sk = skb_steal_sock(skb);

	if (sk)
		sock_put(sk);
}

struct sock *__skb_steal_demuxed_sock(struct sk_buff *skb, uint32_t saddr, uint16_t sport, uint32_t daddr,
				      uint16_t dport)
{
	struct sock *sk = skb_steal_sock(skb);

	if (!sk)
		return NULL;
	if (sk->inet_daddr == saddr && sk->inet_dport == sport && sk->inet_rcv_saddr == daddr &&
	    sk->inet_num == dport)
		return sk;
	IPCB(skb)->flags &= (uint16_t)~IPSKB_RX_DST_NEW;
	sock_put(sk);
	return NULL;
}

int inet_skb_rx_dst_ifindex(const struct sk_buff *skb)
{
	/* Only a local route resolved for this very socket is cached: it is all early demux can stand for. */
	if (!(IPCB(skb)->flags & IPSKB_RX_DST_NEW) || !skb->rt_valid || skb->rt.rt_type != RTN_LOCAL || !skb->rt.dev)
		return 0;
	return skb->rt.dev->ifindex;
}

void inet_sk_rx_dst_set(struct sock *sk, int ifindex)
{
	if (!ifindex)
		return;
	sk->sk_rx_dst_ifindex = ifindex;
	sk->sk_rx_dst_cookie = rt_genid_ipv4(sk->stack);
}

void inet_sk_rx_dst_reset(struct sock *sk)
{
	sk->sk_rx_dst_ifindex = 0;
	sk->sk_rx_dst_cookie = 0;
}
