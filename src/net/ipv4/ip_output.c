/*
 * IPv4 send (Linux's net/ipv4/ip_output.c).
 * Place in the packet path: between the transports (and ICMP) and the
 * neighbour layer.
 *   icmp_reply / icmp_send / np_ping_send (later udp_send_skb, tcp_transmit_skb)
 *   -> ip_build_and_send_pkt (route, header) -> ip_local_out -> NF_INET_LOCAL_OUT
 *   -> dst_output -> ip_output -> NF_INET_POST_ROUTING -> ip_finish_output
 *   -> ip_fragment (ip_fragment.c, when longer than the MTU) -> ip_finish_output2
 *   -> neigh_output -> dev_queue_xmit
 * Packets to our own addresses leave through `lo`, as in Linux.
 */
#include <errno.h>
#include <stdlib.h>

#include "core/hash.h"
#include "core/netdevice.h"
#include "core/stack.h"
#include "net/ipv4/ip.h"
#include "net/ipv4/neighbour.h"
#include "net/ipv4/route.h"
#include "netfilter/netfilter.h"
#include "trace/trace.h"
#include "wire/eth.h"
#include "wire/ipv4.h"

/*
 * IP IDs (RFC 6864; Linux's ip_idents_reserve). A global counter would let
 * any peer watch how many datagrams we send to everyone else (the idle-scan
 * side channel), and one counter per destination costs memory per peer. So,
 * as Linux: NP_IP_IDENTS counters, the bucket picked by a keyed hash of
 * (saddr, daddr, protocol); one destination sees consecutive IDs while it
 * talks steadily, and only the few flows sharing its bucket move its
 * sequence. A bucket left idle jumps ahead by a random amount up to the
 * milliseconds it slept (Linux: jiffies, since CVE-2019-10638), so a peer
 * cannot count what other flows in its bucket sent meanwhile either.
 */
int ip_idents_init(struct np_stack *s)
{
	s->ip_idents = malloc(NP_IP_IDENTS * sizeof(*s->ip_idents));
	s->ip_ident_stamp = calloc(NP_IP_IDENTS, sizeof(*s->ip_ident_stamp));
	if (!s->ip_idents || !s->ip_ident_stamp) {
		ip_idents_free(s);
		return -ENOMEM;
	}
	np_get_random_bytes(s, s->ip_idents, NP_IP_IDENTS * sizeof(*s->ip_idents));
	return 0;
}

void ip_idents_free(struct np_stack *s)
{
	free(s->ip_idents);
	free(s->ip_ident_stamp);
	s->ip_idents = NULL;
	s->ip_ident_stamp = NULL;
}

uint16_t ip_select_ident(struct np_stack *s, uint32_t saddr, uint32_t daddr, uint8_t protocol, unsigned segs)
{
	uint64_t h = np_siphash_2u64(s, ((uint64_t)saddr << 32) | daddr, 0x1d00u | protocol);
	unsigned b = (unsigned)(h % NP_IP_IDENTS);
	uint32_t now = (uint32_t)(np_stack_now(s) / 1000000u);
	uint32_t old = s->ip_ident_stamp[b], delta = 0;
	if (old != now) {
		/* Uniform in [0, now - old): the elapsed milliseconds bound the jump. */
		delta = (uint32_t)(((uint64_t)np_random_u32(s) * (uint32_t)(now - old)) >> 32);
		s->ip_ident_stamp[b] = now;
	}
	/* A GSO super-packet reserves one ID per segment it will become. */
	s->ip_idents[b] = (uint16_t)(s->ip_idents[b] + delta + segs);
	return (uint16_t)(s->ip_idents[b] - segs + 1);
}

/* Consumes skb: last step of IP output, into the neighbour layer. */
static int ip_finish_output2(struct np_stack *s, struct sk_buff *skb)
{
	trace_stage(skb, "ip_finish_output2");
	NP_ADD_STATS(s, IpExtOutOctets, skb->len);
	return neigh_output(s, skb->rt.dev, skb->rt.rt_gateway, skb);
}

/* Consumes skb: checks the path MTU, then ip_finish_output2. */
static int ip_finish_output(struct np_stack *s, struct sk_buff *skb)
{
	struct net_device *dev = skb->rt.dev;
	uint32_t mtu = skb->rt.rt_mtu ? skb->rt.rt_mtu : dev->mtu;

	trace_stage(skb, "ip_finish_output");
	/* RFC 791 2.3: too big for the link, so fragment (or, with DF, refuse). */
	if (skb->len > mtu && !skb_is_gso(skb))
		return ip_fragment(s, skb, mtu, ip_finish_output2);
	/* A GSO super-packet is cut into MTU-sized segments at the device (validate_xmit_skb). */
	return ip_finish_output2(s, skb);
}

/* Consumes skb: POST_ROUTING -> ip_finish_output. */
int ip_output(struct np_stack *s, struct sk_buff *skb)
{
	struct net_device *dev = skb->rt.dev;

	trace_stage(skb, "ip_output");
	skb->dev = dev;
	skb->protocol = ETH_P_IP;
	return NF_HOOK(NF_INET_POST_ROUTING, s, skb, NULL, dev, ip_finish_output);
}

/* Consumes skb (route in skb->rt): the route's output function. */
int dst_output(struct np_stack *s, struct sk_buff *skb)
{
	trace_stage(skb, "dst_output");
	switch (skb->rt.rt_type) {
	case RTN_LOCAL:
		/* To one of our addresses: out through lo and back in through netif_rx. */
		if (!s->loopback_dev) {
			NP_INC_STATS(s, IpOutNoRoutes);
			kfree_skb_reason(skb, NP_DROP_IP_OUTNOROUTES);
			return -ENETUNREACH;
		}
		skb->rt.dev = s->loopback_dev;
		if (!skb->rt.rt_gateway)
			skb->rt.rt_gateway = IPCB(skb)->daddr;
		return ip_output(s, skb);
	case RTN_BLACKHOLE:
		/* Linux's dst_discard_out: silently dropped, the sender sees success. */
		kfree_skb_reason(skb, NP_DROP_IP_OUTNOROUTES);
		return 0;
	case RTN_UNREACHABLE:
		NP_INC_STATS(s, IpOutNoRoutes);
		kfree_skb_reason(skb, NP_DROP_IP_OUTNOROUTES);
		return -EHOSTUNREACH;
	default:
		return ip_output(s, skb);
	}
}

/* Consumes skb (data at a complete IP header, route in skb->rt): LOCAL_OUT -> dst_output. */
int ip_local_out(struct np_stack *s, struct sk_buff *skb)
{
	trace_stage(skb, "ip_local_out");
	skb->protocol = ETH_P_IP;
	return NF_HOOK(NF_INET_LOCAL_OUT, s, skb, NULL, skb->rt.dev, dst_output);
}

/*
 * Consumes skb (data at the transport header): routes unless skb->rt is
 * already valid, pushes the IP header and sends it through ip_local_out.
 */
int ip_build_and_send_pkt(struct np_stack *s, struct sk_buff *skb, const struct ip_out_params *p)
{
	enum np_drop_reason reason;
	int err;

	trace_stage(skb, "ip_build_and_send_pkt");
	if (!skb->rt_valid) {
		struct rtable rt;
		err = ip_route_output(s, p->daddr, p->saddr, p->oif, &rt);
		if (err < 0) {
			NP_INC_STATS(s, IpOutNoRoutes);
			reason = NP_DROP_IP_OUTNOROUTES;
			goto drop;
		}
		skb->rt = rt;
		skb->rt_valid = 1;
	}
	if (skb->len > 0xFFFFu - IPV4_HLEN_MIN) {
		/* RFC 791 3.1: total length is 16 bits. */
		NP_INC_STATS(s, IpOutDiscards);
		err = -EMSGSIZE;
		reason = NP_DROP_PKT_TOO_BIG;
		goto drop;
	}
	if (skb_headroom(skb) < IPV4_HLEN_MIN) {
		NP_INC_STATS(s, IpOutDiscards);
		err = -ENOBUFS;
		reason = NP_DROP_NOMEM;
		goto drop;
	}

	struct ipv4_repr iph = {
		.tos = p->tos,
		.tot_len = (uint16_t)(skb->len + IPV4_HLEN_MIN),
		.frag_off = p->df ? IP_DF : 0,
		.ttl = p->ttl ? p->ttl : (uint8_t)s->sysctl.ip_default_ttl,
		.protocol = p->protocol,
		.saddr = p->saddr ? p->saddr : skb->rt.rt_src,
		.daddr = p->daddr,
	};
	/*
	 * Linux's ip_select_ident_segs: a connected socket numbers its datagrams
	 * from its own random start (nothing shared, no hash); a DF datagram
	 * nobody may fragment is atomic (RFC 6864 4.1) and carries 0; the rest
	 * take the keyed buckets. A super-packet reserves one ID per segment.
	 */
	unsigned segs = skb_shinfo(skb)->gso_segs > 1 ? skb_shinfo(skb)->gso_segs : 1;
	if (p->inet_id) {
		iph.id = *p->inet_id;
		*p->inet_id = (uint16_t)(*p->inet_id + segs);
	} else if (p->df && !p->ignore_df) {
		iph.id = 0;
	} else {
		iph.id = ip_select_ident(s, iph.saddr, iph.daddr, iph.protocol, segs);
	}
	/* Linux's rt_tos2priority: the TOS picks the pfifo_fast band (and the VLAN PCP). */
	static const uint8_t ip_tos2prio[16] = { 0, 0, 0, 0, 2, 2, 2, 2, 6, 6, 6, 6, 4, 4, 4, 4 };
	if (!skb->priority)
		skb->priority = ip_tos2prio[(iph.tos & 0x1e) >> 1];
	uint8_t *hdr = skb_push(skb, IPV4_HLEN_MIN);
	ipv4_emit(&iph, hdr, IPV4_HLEN_MIN);
	skb_reset_network_header(skb);
	skb->transport_header = (uint16_t)(skb->network_header + IPV4_HLEN_MIN);

	struct inet_skb_parm *cb = IPCB(skb);
	memset(cb, 0, sizeof(*cb));
	cb->saddr = iph.saddr;
	cb->daddr = iph.daddr;
	cb->protocol = iph.protocol;
	cb->ttl = iph.ttl;
	cb->tos = iph.tos;
	cb->ihl = IPV4_HLEN_MIN;
	cb->frag_off = iph.frag_off;
	cb->id = iph.id;

	NP_INC_STATS(s, IpOutRequests);
	return ip_local_out(s, skb);

drop:
	kfree_skb_reason(skb, reason);
	return err;
}
