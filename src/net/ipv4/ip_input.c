/*
 * IPv4 receive (Linux's net/ipv4/ip_input.c).
 * Place in the packet path: between the device layer and the transports.
 *   netif_receive_skb -> ptype_base[ETH_P_IP] -> ip_rcv -> NF_INET_PRE_ROUTING
 *   -> ip_rcv_finish -> early_demux (tcp_v4_early_demux, udp_v4_early_demux):
 *      a connected socket's cached local route stands in for ip_route_input
 *   -> ip_route_input (everything else)
 *      -> local/broadcast: ip_local_deliver -> ip_defrag (ip_fragment.c)
 *         -> NF_INET_LOCAL_IN -> ip_local_deliver_finish
 *         -> inet_protos[proto]->handler (icmp_rcv, udp_rcv, tcp_v4_rcv)
 *      -> unicast elsewhere: ip_forward (ip_forward.c) -> NF_INET_FORWARD -> dst_output
 * Every drop names its reason and bumps the SNMP counter Linux bumps there.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/netdevice.h"
#include "core/stack.h"
#include "net/ipv4/icmp.h"
#include "net/ipv4/ip.h"
#include "net/ipv4/ip_forward.h"
#include "net/ipv4/protocol.h"
#include "net/ipv4/route.h"
#include "netfilter/netfilter.h"
#include "trace/trace.h"
#include "wire/icmp.h"
#include "wire/ipv4.h"

/* Option types whose presence we act on (RFC 791 3.1). */
#define IPOPT_END 0
#define IPOPT_NOOP 1
#define IPOPT_LSRR 131
#define IPOPT_SSRR 137

/* What ip_init allocates: the ETH_P_IP packet_type, found again by ip_free on the ptype list. */
struct ip_state {
	struct packet_type pt;
};

int ip_init(struct np_stack *s)
{
	struct ip_state *st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	st->pt.type = ETH_P_IP;
	st->pt.func = ip_rcv;
	st->pt.priv = st;
	if (ipfrag_init(s) < 0 || ip_idents_init(s) < 0) {
		ipfrag_free(s);
		free(st);
		return -ENOMEM;
	}
	dev_add_pack(s, &st->pt);
	return 0;
}

void ip_free(struct np_stack *s)
{
	ipfrag_free(s);
	ip_idents_free(s);
	for (struct packet_type *pt = s->ptype_base; pt; pt = pt->next) {
		if (pt->type == ETH_P_IP && pt->func == ip_rcv && pt->dev == NULL) {
			struct ip_state *st = pt->priv;
			dev_remove_pack(s, pt);
			free(st);
			return;
		}
	}
}

/*
 * True if the options carry a source route. Linux's default
 * accept_source_route=0 refuses those (RFC 1122 3.3.5 lets a host choose);
 * the walk is safe because ipv4_options_check already bounded every option.
 */
static int ip_options_has_srr(const uint8_t *opt, size_t len)
{
	size_t i = 0;

	while (i < len) {
		uint8_t type = opt[i];
		if (type == IPOPT_END)
			break;
		if (type == IPOPT_NOOP) {
			i++;
			continue;
		}
		if (type == IPOPT_LSRR || type == IPOPT_SSRR)
			return 1;
		i += opt[i + 1];
	}
	return 0;
}

/* Consumes skb (data at the transport header after the pull): hands it to the protocol. */
static int ip_local_deliver_finish(struct np_stack *s, struct sk_buff *skb)
{
	struct inet_skb_parm *cb = IPCB(skb);

	trace_stage(skb, "ip_local_deliver_finish");
	skb_pull(skb, cb->ihl);
	skb_reset_transport_header(skb);

	const struct net_protocol *prot = s->inet_protos[cb->protocol];
	if (prot && prot->handler) {
		NP_INC_STATS(s, IpInDelivers);
		return prot->handler(skb);
	}
	/*
	 * RFC 1122 3.2.2.1: a host SHOULD send protocol unreachable; icmp_send
	 * itself refuses when the destination was broadcast or multicast.
	 */
	NP_INC_STATS(s, IpInUnknownProtos);
	icmp_send(skb, ICMP_DEST_UNREACH, ICMP_PROT_UNREACH, 0);
	kfree_skb_reason(skb, NP_DROP_IP_NOPROTO);
	return -EPROTONOSUPPORT;
}

/* Consumes skb: reassembly (ip_defrag), then NF_INET_LOCAL_IN -> ip_local_deliver_finish. */
int ip_local_deliver(struct np_stack *s, struct sk_buff *skb)
{
	trace_stage(skb, "ip_local_deliver");
	if (IPCB(skb)->frag_off & (IP_MF | IP_OFFSET)) {
		/* RFC 791 3.2: LOCAL_IN rules see only whole datagrams, as in Linux. */
		int err = ip_defrag(s, &skb);
		if (err)
			return err == -EINPROGRESS ? 0 : err;
	}
	return NF_HOOK(NF_INET_LOCAL_IN, s, skb, skb->dev, NULL, ip_local_deliver_finish);
}

/*
 * Early demux (Linux's ip_rcv_finish_core): the transport finds the socket
 * by its 4-tuple and, if the socket cached its input route for this device
 * under the current routing generation, returns 1. Whole datagrams only (a
 * fragment has no ports), and not one a socket already owns.
 */
static int ip_early_demux(struct np_stack *s, struct sk_buff *skb, const struct inet_skb_parm *cb)
{
	const struct net_protocol *ipprot;

	if (!s->sysctl.ip_early_demux || skb->sk || (cb->frag_off & (IP_MF | IP_OFFSET)))
		return 0;
	ipprot = s->inet_protos[cb->protocol];
	return ipprot && ipprot->early_demux ? ipprot->early_demux(skb) : 0;
}

/* Consumes skb: routes it and hands it to local delivery (or the forwarding seam). */
static int ip_rcv_finish(struct np_stack *s, struct sk_buff *skb)
{
	struct inet_skb_parm *cb = IPCB(skb);
	enum np_drop_reason reason;
	struct rtable rt;

	trace_stage(skb, "ip_rcv_finish");
	if (ip_early_demux(s, skb, cb)) {
		/*
		 * The cached route needs nothing but this: its device and the routing
		 * generation are unchanged since ip_route_input said "local" for it.
		 */
		ip_route_input_local(&skb->rt, skb->dev, cb->daddr);
		skb->rt_valid = 1;
		return ip_local_deliver(s, skb);
	}
	trace_stage(skb, "ip_route_input");
	int r = ip_route_input(s, cb->daddr, cb->saddr, cb->tos, skb->dev, &rt);
	/*
	 * A socket found by early demux goes with the packet only to local
	 * delivery: anything else (a martian, an address no longer ours) must
	 * end exactly as if early demux had not run. A local route resolved
	 * for its 4-tuple is what the transport caches on it.
	 */
	if (skb->destructor == sock_edemux) {
		if (r < 0 || rt.rt_type != RTN_LOCAL)
			skb_edemux_orphan(skb);
		else
			cb->flags |= IPSKB_RX_DST_NEW;
	}
	if (r < 0) {
		reason = -r > NP_DROP_NOT_DROPPED_YET && -r < NP_DROP_MAX ? (enum np_drop_reason)-r
									  : NP_DROP_NOT_SPECIFIED;
		switch (reason) {
		case NP_DROP_IP_INADDRERRORS:
		case NP_DROP_IP_INVALID_DEST:
			NP_INC_STATS(s, IpInAddrErrors);
			break;
		case NP_DROP_IP_INNOROUTES:
			/* Forwarding and nothing routes daddr: ip_error answers with ICMP (ip_forward.c). */
			return ip_error(s, skb);
		case NP_DROP_IP_INVALID_SOURCE:
		case NP_DROP_IP_LOCAL_SOURCE:
			/* RFC 1812 5.3.7 martian source: Linux logs it (log_martians); we count it. */
			NP_INC_STATS(s, IpExtInMartians);
			break;
		default:
			break;
		}
		goto drop;
	}
	skb->rt = rt;
	skb->rt_valid = 1;

	switch (rt.rt_type) {
	case RTN_LOCAL:
		return ip_local_deliver(s, skb);
	case RTN_BROADCAST:
		NP_INC_STATS(s, IpExtInBcastPkts);
		return ip_local_deliver(s, skb);
	case RTN_MULTICAST:
		/* No group membership yet (IGMP): nothing here listens to multicast. */
		NP_INC_STATS(s, IpInAddrErrors);
		reason = NP_DROP_IP_INVALID_DEST;
		goto drop;
	case RTN_UNICAST:
		return ip_forward(s, skb);
	default:
		/* Unreachable or blackhole route (Linux's ip_error). */
		NP_INC_STATS(s, IpExtInNoRoutes);
		reason = NP_DROP_IP_INNOROUTES;
		goto drop;
	}

drop:
	kfree_skb_reason(skb, reason);
	return -EINVAL;
}

/*
 * Consumes skb (data at the IP header): the checks of RFC 1122 3.2.1 in
 * Linux's order (ip_rcv_core), then NF_INET_PRE_ROUTING -> ip_rcv_finish.
 */
int ip_rcv(struct sk_buff *skb, struct net_device *dev, struct packet_type *pt)
{
	struct np_stack *s = dev->stack;
	enum np_drop_reason reason;
	struct ipv4_repr iph;

	trace_stage(skb, "ip_rcv");
	/* Another host's frame, seen in promiscuous mode: not ours to process. */
	if (skb->pkt_type == PACKET_OTHERHOST) {
		reason = NP_DROP_OTHERHOST;
		goto drop;
	}
	NP_INC_STATS(s, IpInReceives);
	NP_ADD_STATS(s, IpExtInOctets, skb->len);

	int r = ipv4_parse(skb->data, skb->len, &iph);
	switch (r) {
	case 0:
		break;
	case -WIRE_ETOTLEN:
		/* The header is complete: Linux verifies its checksum before the length. */
		if (!ipv4_csum_ok(skb->data, (size_t)(skb->data[0] & 0x0f) * 4))
			goto csum_error;
		/* RFC 1122 3.2.1.1 (IP_INHDR) vs a frame cut short (PKT_TOO_SMALL). */
		if (be16_get(skb->data + 2) > skb->len) {
			NP_INC_STATS(s, IpExtInTruncatedPkts);
			reason = NP_DROP_PKT_TOO_SMALL;
			goto drop;
		}
		goto inhdr_error;
	default:
		/* -WIRE_ETRUNC, -WIRE_EVERSION (RFC 1122 3.2.1.1), -WIRE_EHDRLEN. */
		goto inhdr_error;
	}
	/* RFC 1122 3.2.1.2: silently discard a datagram with a bad header checksum. */
	if (!ipv4_csum_ok(skb->data, iph.ihl))
		goto csum_error;

	/* Ethernet pads short frames to 60 bytes; the datagram ends at tot_len. */
	skb_trim(skb, iph.tot_len);
	skb_reset_network_header(skb);
	skb->transport_header = (uint16_t)(skb->network_header + iph.ihl);

	struct inet_skb_parm *cb = IPCB(skb);
	memset(cb, 0, sizeof(*cb));
	cb->saddr = iph.saddr;
	cb->daddr = iph.daddr;
	cb->protocol = iph.protocol;
	cb->ttl = iph.ttl;
	cb->tos = iph.tos;
	cb->ihl = iph.ihl;
	cb->frag_off = iph.frag_off;
	cb->id = iph.id;

	if (iph.options_len) {
		/* RFC 1122 3.2.1.8: a malformed option makes the header invalid. */
		if (ipv4_options_check(iph.options, iph.options_len) < 0)
			goto inhdr_error;
		/* accept_source_route=0 (Linux's default): refuse source-routed datagrams. */
		if (ip_options_has_srr(iph.options, iph.options_len)) {
			reason = NP_DROP_IP_INHDR;
			goto drop;
		}
	}

	return NF_HOOK(NF_INET_PRE_ROUTING, s, skb, dev, NULL, ip_rcv_finish);

csum_error:
	NP_INC_STATS(s, IpExtInCsumErrors);
	reason = NP_DROP_IP_CSUM;
	NP_INC_STATS(s, IpInHdrErrors);
	goto drop;
inhdr_error:
	reason = NP_DROP_IP_INHDR;
	NP_INC_STATS(s, IpInHdrErrors);
drop:
	kfree_skb_reason(skb, reason);
	return -EINVAL;
}
