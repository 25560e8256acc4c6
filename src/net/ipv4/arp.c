/*
 * ARP for IPv4 over Ethernet (RFC 826, Linux's net/ipv4/arp.c).
 * Place in the packet path:
 *   netif_receive_skb -> ptype dispatch (ETH_P_ARP) -> arp_rcv -> arp_process
 *     -> neigh_event_ns (request for us) + arp_send (reply)
 *     -> neigh_rcv_update (replies, others' requests) -> neigh_update -> flush queue
 *   neigh_resolve_output / neigh_timer_handler -> neigh_probe -> arp_solicit
 *     -> arp_send -> dev_hard_header -> dev_queue_xmit
 *
 * Entries learned from a request for us are created NUD_STALE, as Linux's
 * neigh_event_ns does: the request proves the sender exists but not that it
 * hears us. Only a unicast reply moves an entry to NUD_REACHABLE.
 */
#include <errno.h>
#include <string.h>

#include "core/netdevice.h"
#include "core/stack.h"
#include "net/ipv4/arp.h"
#include "net/ipv4/neighbour.h"
#include "net/ipv4/route.h"
#include "trace/trace.h"
#include "wire/arp.h"
#include "wire/ipv4.h"

/* Allocates, traces and sends a new skb; takes none. */
int arp_send(struct np_stack *s, struct net_device *dev, uint16_t op, uint32_t dest_ip, uint32_t src_ip,
	     const uint8_t *dest_hw, const uint8_t *src_hw, const uint8_t *target_hw, const char *stage)
{
	static const uint8_t zero[ETH_ALEN];
	struct arp_repr r;
	struct sk_buff *skb;
	uint32_t hlen = dev->hard_header_len;

	skb = alloc_skb(s, hlen + ARP_HLEN);
	if (!skb)
		return -ENOMEM;
	/* Room for the link header dev_hard_header pushes. */
	skb_reserve(skb, hlen);
	skb_reset_network_header(skb);
	r.op = op;
	memcpy(r.sha, src_hw ? src_hw : dev->dev_addr, ETH_ALEN);
	r.sip = src_ip;
	memcpy(r.tha, target_hw ? target_hw : zero, ETH_ALEN);
	r.tip = dest_ip;
	arp_emit(&r, skb_put(skb, ARP_HLEN), ARP_HLEN);
	skb->dev = dev;
	skb->protocol = ETH_P_ARP;
	trace_begin(skb, 1);
	if (stage)
		trace_stage(skb, stage);
	trace_stage(skb, "arp_send");
	if (dev_hard_header(skb, dev, ETH_P_ARP, dest_hw ? dest_hw : dev->broadcast, src_hw) < 0) {
		kfree_skb_reason(skb, NP_DROP_NOMEM);
		return -ENOSPC;
	}
	skb_reset_mac_header(skb);
	return dev_queue_xmit(skb);
}

void arp_solicit(struct np_stack *s, struct net_device *dev, uint32_t target, const uint8_t *dst_ha,
		 const struct sk_buff *skb)
{
	uint32_t saddr = 0;

	/*
	 * arp_announce = 0: the waiting packet's source, if it is ours, else the
	 * device's address for target's subnet (inet_select_addr).
	 */
	if (skb && skb->len >= IPV4_HLEN_MIN) {
		uint32_t ip_saddr = be32_get(skb->data + 12);

		if (inet_addr_is_local(s, ip_saddr))
			saddr = ip_saddr;
	}
	if (!saddr)
		saddr = inet_select_addr(dev, target);
	/* A PROBE is unicast to the address we hold; the target hardware field stays zero. */
	(void)arp_send(s, dev, ARPOP_REQUEST, target, saddr, dst_ha, NULL, NULL, "arp_solicit");
}

/* Is addr configured on dev itself (Linux's arp_ignore=1 answer rule)? */
static int arp_addr_on_dev(const struct net_device *dev, uint32_t addr)
{
	for (int i = 0; i < dev->ifa_count; i++)
		if (dev->ifa[i].ifa_local == addr)
			return 1;
	return 0;
}

static int arp_is_bcast_on_dev(const struct net_device *dev, uint32_t addr)
{
	for (int i = 0; i < dev->ifa_count; i++)
		if (dev->ifa[i].ifa_broadcast && dev->ifa[i].ifa_broadcast == addr)
			return 1;
	return 0;
}

/* Consumes skb: the RFC 826 "Packet Reception" algorithm with Linux's arp_process rules. */
static int arp_process(struct np_stack *s, struct net_device *dev, struct sk_buff *skb, const struct arp_repr *r)
{
	int tip_ours, is_garp, known;
	uint8_t state;

	trace_stage(skb, "arp_process");

	/* A sender hardware address must name one station (IEEE 802: not group, not zero). */
	if (eth_is_multicast(r->sha) || eth_is_zero(r->sha)) {
		kfree_skb_reason(skb, NP_DROP_ARP_INVALID_SHA);
		return -EINVAL;
	}
	/* Linux: requests for multicast or loopback targets are bogus. */
	if (ipv4_is_multicast(r->tip) || (ipv4_is_loopback(r->tip) && !(dev->flags & NPF_LOOPBACK))) {
		kfree_skb_reason(skb, NP_DROP_ARP_NOT_FOR_US);
		return 0;
	}
	tip_ours = arp_addr_on_dev(dev, r->tip);

	/* RFC 5227 2.1.1: sender 0.0.0.0 is a probe; answer it if it is about us, learn nothing. */
	if (r->sip == 0) {
		if (r->op == ARPOP_REQUEST && tip_ours) {
			(void)arp_send(s, dev, ARPOP_REPLY, r->sip, r->tip, r->sha, dev->dev_addr, r->sha, NULL);
			consume_skb(skb);
			return 0;
		}
		kfree_skb_reason(skb, r->op == ARPOP_REQUEST ? NP_DROP_ARP_NOT_FOR_US : NP_DROP_ARP_INVALID_SIP);
		return 0;
	}
	/* A sender protocol address must be a unicast address that is not ours. */
	if (ipv4_is_multicast(r->sip) || ipv4_is_lbcast(r->sip) || ipv4_is_zeronet(r->sip) ||
	    ipv4_is_loopback(r->sip) || arp_is_bcast_on_dev(dev, r->sip) || inet_addr_is_local(s, r->sip)) {
		kfree_skb_reason(skb, NP_DROP_ARP_INVALID_SIP);
		return -EINVAL;
	}
	is_garp = r->sip == r->tip;

	if (r->op == ARPOP_REQUEST && tip_ours) {
		/* RFC 826: merge the sender, then swap fields and reply unicast. */
		if (neigh_event_ns(s, dev, r->sip, r->sha, skb) < 0) {
			/* Linux sends no reply when it cannot hold the sender (neigh_event_ns NULL). */
			kfree_skb_reason(skb, NP_DROP_NEIGH_CREATEFAIL);
			return -ENOBUFS;
		}
		(void)arp_send(s, dev, ARPOP_REPLY, r->sip, r->tip, r->sha, dev->dev_addr, r->sha, NULL);
		consume_skb(skb);
		return 0;
	}

	/*
	 * Everything else only refreshes an entry we already hold: no entry from
	 * unsolicited replies or others' requests (Linux with arp_accept = 0).
	 * Broadcast replies and requests do not assert reachability.
	 */
	state = (r->op == ARPOP_REPLY && skb->pkt_type == PACKET_HOST) ? NUD_REACHABLE : NUD_STALE;
	known = neigh_rcv_update(s, dev, r->sip, r->sha, state, is_garp, skb);
	if (r->op == ARPOP_REPLY) {
		if (known)
			consume_skb(skb);
		else
			kfree_skb_reason(skb, NP_DROP_ARP_UNSOLICITED);
	} else if (is_garp) {
		/* A gratuitous announcement is not a question: nothing to refuse. */
		consume_skb(skb);
	} else {
		kfree_skb_reason(skb, NP_DROP_ARP_NOT_FOR_US);
	}
	return 0;
}

/* Consumes skb (data at the ARP header, after eth_type_trans). */
int arp_rcv(struct sk_buff *skb, struct net_device *dev, struct packet_type *pt)
{
	struct np_stack *s = dev->stack;
	struct arp_repr r;
	int err;

	trace_stage(skb, "arp_rcv");
	/* Linux's arp_rcv: a NOARP device ignores ARP altogether. */
	if (dev->flags & NPF_NOARP) {
		consume_skb(skb);
		return 0;
	}
	/* RFC 826: discard what is not Ethernet/IPv4 of the right lengths or has an unknown opcode. */
	err = arp_parse(skb->data, skb->len, &r);
	if (err) {
		kfree_skb_reason(skb, err == -WIRE_ETRUNC ? NP_DROP_ARP_TRUNCATED : NP_DROP_ARP_BAD_FIELDS);
		return -EINVAL;
	}
	return arp_process(s, dev, skb, &r);
}
