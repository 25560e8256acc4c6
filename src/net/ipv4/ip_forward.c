/*
 * IPv4 forwarding (Linux's net/ipv4/ip_forward.c, and ip_error from
 * net/ipv4/route.c), RFC 1812 5.2-5.3 for a router.
 * Place in the packet path: between route input and IP output, for packets
 * that are neither ours nor broadcast, when net.ipv4.ip_forward=1.
 *   ip_rcv -> NF_INET_PRE_ROUTING -> ip_rcv_finish -> ip_route_input (RTN_UNICAST)
 *   -> ip_forward (TTL, next-hop MTU, TTL decrement) -> NF_INET_FORWARD
 *   -> ip_forward_finish -> dst_output -> ip_output -> NF_INET_POST_ROUTING
 *   -> ip_finish_output (fragments non-DF packets) -> neigh_output ...
 *   ip_rcv_finish (no route) -> ip_error -> icmp_send(DEST_UNREACH)
 * Martian sources and destinations never get here: ip_route_input refuses them.
 * ICMP redirects (RFC 1812 5.2.7.2) are not sent: a router whose next hop
 * is on the link the packet came from just forwards it (Linux's
 * send_redirects=0 behaviour).
 */
#include <errno.h>

#include "core/netdevice.h"
#include "core/stack.h"
#include "net/ipv4/icmp.h"
#include "net/ipv4/ip.h"
#include "net/ipv4/ip_forward.h"
#include "net/ipv4/route.h"
#include "netfilter/netfilter.h"
#include "trace/trace.h"
#include "wire/checksum.h"
#include "wire/icmp.h"
#include "wire/ipv4.h"

/*
 * RFC 1812 5.3.1: decrement the TTL and update the header checksum
 * incrementally (RFC 1624), as Linux's ip_decrease_ttl. The TTL shares its
 * 16-bit word with the protocol byte.
 */
static void ip_decrease_ttl(uint8_t *iph)
{
	uint16_t old = be16_get(iph + 8);
	iph[8]--;
	uint16_t now = be16_get(iph + 8);
	be16_put(iph + 10, csum_replace2(be16_get(iph + 10), old, now));
}

/* Consumes skb: counts the forwarded datagram and hands it to the route's output. */
static int ip_forward_finish(struct np_stack *s, struct sk_buff *skb)
{
	trace_stage(skb, "ip_forward_finish");
	NP_INC_STATS(s, IpForwDatagrams);
	/* The receive timestamp means nothing on the way out (Linux's skb_clear_tstamp). */
	skb->tstamp = 0;
	return dst_output(s, skb);
}

/* Consumes skb (data at the IP header, the forward route in skb->rt). */
int ip_forward(struct np_stack *s, struct sk_buff *skb)
{
	enum np_drop_reason reason;
	int err = -EINVAL;

	trace_stage(skb, "ip_forward");
	/*
	 * RFC 1812 5.3.4: a datagram that arrived as a link-layer broadcast or
	 * multicast is not forwarded unless it is addressed to an IP multicast
	 * group (no multicast routing here).
	 */
	if (skb->pkt_type != PACKET_HOST) {
		reason = NP_DROP_IP_FORWARD_NOT_HOST;
		goto drop;
	}
	/* A locally generated packet never comes in through here. */
	if (skb->sk) {
		reason = NP_DROP_NOT_SPECIFIED;
		goto drop;
	}

	uint8_t *iph = skb_network_header(skb);
	/*
	 * RFC 1812 5.3.1 and RFC 792: a datagram whose TTL would reach zero is
	 * discarded and the source told with time exceeded (code 0). Linux
	 * counts it as a header error (IpInHdrErrors, drop reason IP_INHDR).
	 */
	if (iph[8] <= 1) {
		NP_INC_STATS(s, IpInHdrErrors);
		icmp_send(skb, ICMP_TIME_EXCEEDED, ICMP_EXC_TTL, 0);
		reason = NP_DROP_IP_INHDR;
		err = -EHOSTUNREACH;
		goto drop;
	}

	/*
	 * RFC 1191 / RFC 1812 5.2.7.1: a DF datagram larger than the next hop's
	 * MTU is dropped with fragmentation needed carrying that MTU, here before
	 * the TTL changes, as Linux does (ip_exceeds_mtu is in ip_fragment.c).
	 * Without DF, ip_finish_output fragments it.
	 */
	IPCB(skb)->flags |= IPSKB_FORWARDED;
	struct net_device *out = skb->rt.dev;
	uint32_t mtu = skb->rt.rt_mtu ? skb->rt.rt_mtu : out->mtu;
	if (ip_exceeds_mtu(skb, mtu)) {
		NP_INC_STATS(s, IpFragFails);
		icmp_send(skb, ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED, mtu);
		reason = NP_DROP_PKT_TOO_BIG;
		err = -EMSGSIZE;
		goto drop;
	}

	/* We are about to change the header: a shared buffer (a capture clone) gets copied first. */
	if (skb_unshare_data(skb) < 0) {
		NP_INC_STATS(s, IpOutDiscards);
		reason = NP_DROP_NOMEM;
		err = -ENOMEM;
		goto drop;
	}
	iph = skb_network_header(skb);
	ip_decrease_ttl(iph);
	IPCB(skb)->ttl = iph[8];

	return NF_HOOK(NF_INET_FORWARD, s, skb, skb->dev, out, ip_forward_finish);

drop:
	kfree_skb_reason(skb, reason);
	return err;
}

/* Consumes skb (data at the IP header): Linux's ip_error for a forwarding router. */
int ip_error(struct np_stack *s, struct sk_buff *skb)
{
	const struct fib_route *r = fib_lookup(s, IPCB(skb)->daddr);

	trace_stage(skb, "ip_error");
	if (!r || r->type == RTN_UNICAST || r->type == RTN_LOCAL || r->type == RTN_BROADCAST) {
		/* Nothing in the FIB covers daddr (ENETUNREACH in Linux). */
		NP_INC_STATS(s, IpExtInNoRoutes);
		icmp_send(skb, ICMP_DEST_UNREACH, ICMP_NET_UNREACH, 0);
	} else if (r->type == RTN_UNREACHABLE) {
		/* `ip route add unreachable PREFIX`: EHOSTUNREACH, host unreachable. */
		icmp_send(skb, ICMP_DEST_UNREACH, ICMP_HOST_UNREACH, 0);
	}
	/* RTN_BLACKHOLE: discarded without a word. */
	kfree_skb_reason(skb, NP_DROP_IP_INNOROUTES);
	return -ENETUNREACH;
}
