/*
 * Source and destination NAT on top of connection tracking (Linux's
 * net/netfilter/nf_nat_core.c, nf_nat_proto.c, xt_MASQUERADE, xt_nat).
 * Place in the packet path:
 *   NF_HOOK(PRE_ROUTING) / NF_HOOK(LOCAL_OUT) -> nf_nat_ipv4_fn (priority -100):
 *     nat PREROUTING/OUTPUT for a NEW flow (DNAT) -> nf_nat_packet (destination)
 *   NF_HOOK(POST_ROUTING) / NF_HOOK(LOCAL_IN) -> nf_nat_ipv4_fn (priority 100):
 *     nat POSTROUTING for a NEW flow (SNAT, MASQUERADE) -> nf_nat_packet (source)
 * A binding changes the conntrack's reply tuple; every packet of the flow is
 * then rewritten so that it looks like the inverse of the other direction's
 * tuple, with incremental checksum updates (RFC 1624).
 */
#include <errno.h>
#include <string.h>

#include "core/netdevice.h"
#include "core/stack.h"
#include "net/ipv4/ip.h"
#include "net/ipv4/route.h"
#include "netfilter/nf_tables.h"
#include "trace/trace.h"
#include "wire/checksum.h"
#include "wire/icmp.h"
#include "wire/ipv4.h"
#include "wire/wire.h"

/* Updates a 16-bit checksum at csum for a 32-bit field changing from old to new (RFC 1624). */
static void csum_replace4(uint8_t *csum, uint32_t old, uint32_t new_)
{
	uint16_t c = be16_get(csum);
	c = csum_replace2(c, (uint16_t)(old >> 16), (uint16_t)(new_ >> 16));
	c = csum_replace2(c, (uint16_t)old, (uint16_t)new_);
	be16_put(csum, c);
}

static void csum_replace16(uint8_t *csum, uint16_t old, uint16_t new_)
{
	be16_put(csum, csum_replace2(be16_get(csum), old, new_));
}

/* Rewrites the address at field (saddr or daddr of the header at iph) and the checksums covering it. */
static void nat_set_addr(struct nf_pkt *p, uint8_t *field, uint32_t addr)
{
	uint32_t old = be32_get(field);
	if (old == addr)
		return;
	be32_put(field, addr);
	csum_replace4(p->iph + 10, old, addr);
	if (!p->has_l4)
		return;
	/* The TCP and UDP checksums cover the pseudo-header (RFC 793 3.1, RFC 768). */
	if (p->proto == IPPROTO_TCP_ && p->l4len >= 18)
		csum_replace4(p->l4 + 16, old, addr);
	else if (p->proto == IPPROTO_UDP_ && be16_get(p->l4 + 6)) {
		csum_replace4(p->l4 + 6, old, addr);
		if (!be16_get(p->l4 + 6))
			be16_put(p->l4 + 6, 0xffff); /* RFC 768: a computed 0 is sent as all ones */
	}
}

static void nat_set_port(struct nf_pkt *p, uint8_t *field, uint16_t port)
{
	uint16_t old = be16_get(field);
	if (old == port)
		return;
	be16_put(field, port);
	if (p->proto == IPPROTO_TCP_ && p->l4len >= 18)
		csum_replace16(p->l4 + 16, old, port);
	else if (p->proto == IPPROTO_UDP_ && be16_get(p->l4 + 6)) {
		csum_replace16(p->l4 + 6, old, port);
		if (!be16_get(p->l4 + 6))
			be16_put(p->l4 + 6, 0xffff);
	} else if (p->proto == IPPROTO_ICMP_)
		csum_replace16(p->l4 + 2, old, port);
}

/*
 * Translates the packet quoted by an ICMP error about a NATed flow
 * (nf_nat_icmp_reply_translation): the quoted packet travelled the other
 * way, so its source is fixed where the outer destination is and vice versa.
 */
static void nat_icmp_inner(struct nf_pkt *p, const struct nf_conn *ct, int dir, int manip_dst)
{
	uint8_t *in = p->l4 + ICMP_HLEN;
	if (p->l4len < ICMP_HLEN + IPV4_HLEN_MIN)
		return;
	uint32_t ihl = (uint32_t)(in[0] & 0x0f) * 4;
	if (ihl < IPV4_HLEN_MIN || p->l4len < ICMP_HLEN + ihl + 8)
		return;
	const struct nf_conntrack_tuple *want = &ct->tuple[!dir]; /* the error goes in dir; the quote in !dir */
	uint8_t *l4 = in + ihl;
	uint8_t *icsum = p->l4 + 2;
	/* Every byte changed inside the ICMP message changes its checksum; the inner IP checksum too. */
	uint8_t *field = manip_dst ? in + 12 : in + 16;
	uint32_t addr = manip_dst ? want->src : want->dst;
	uint32_t old = be32_get(field);
	if (old != addr) {
		uint16_t ock = be16_get(in + 10);
		be32_put(field, addr);
		csum_replace4(in + 10, old, addr);
		csum_replace16(icsum, ock, be16_get(in + 10));
		csum_replace4(icsum, old, addr);
	}
	if (in[9] == IPPROTO_TCP_ || in[9] == IPPROTO_UDP_) {
		uint8_t *pf = manip_dst ? l4 : l4 + 2;
		uint16_t port = manip_dst ? want->sport : want->dport;
		uint16_t op = be16_get(pf);
		if (op != port) {
			be16_put(pf, port);
			csum_replace16(icsum, op, port);
		}
	} else if (in[9] == IPPROTO_ICMP_) {
		uint16_t op = be16_get(l4 + 4);
		if (op != want->sport) {
			be16_put(l4 + 4, want->sport);
			csum_replace16(icsum, op, want->sport);
		}
	}
}

int nf_nat_packet(struct nf_net *n, struct sk_buff *skb, struct nf_conn *ct, int dir, int manip_dst)
{
	if (!(ct->status & (IPS_SRC_NAT | IPS_DST_NAT)))
		return 0;
	struct nf_pkt p;
	if (nf_pkt_parse(skb, &p) < 0)
		return 0;
	const struct nf_conntrack_tuple *o = &ct->tuple[!dir];
	int related = p.proto == IPPROTO_ICMP_ && p.has_l4 && icmp_is_error(p.icmp_type);
	uint32_t addr = manip_dst ? o->src : o->dst;
	uint16_t port = manip_dst ? o->sport : o->dport;
	int l4ports = !related && p.has_l4 && (p.proto == IPPROTO_TCP_ || p.proto == IPPROTO_UDP_);
	/* The echo id is a source-NAT field: rewritten on the source manip going out, undone coming back. */
	int icmpid = !related && p.has_l4 && p.proto == IPPROTO_ICMP_ && (dir == IP_CT_DIR_ORIGINAL) != manip_dst;
	int change = (manip_dst ? p.daddr : p.saddr) != addr ||
		     (l4ports && (manip_dst ? p.dport : p.sport) != port) || (icmpid && p.sport != o->sport) ||
		     related;
	if (!change)
		return 0;
	/* TCP sends clones of its retransmit queue: write only into a private copy. */
	if (skb_unshare_data(skb) < 0)
		return -1;
	/* An offloaded checksum holds only the pseudo-header sum: finish it so RFC 1624 updates apply. */
	if (skb->ip_summed == CHECKSUM_PARTIAL && skb_checksum_help(skb) < 0)
		return -1;
	nf_pkt_parse(skb, &p);
	if (related) {
		/* The outer header goes to / comes from the translated host; the quote is fixed too. */
		nat_icmp_inner(&p, ct, dir, manip_dst);
		p.has_l4 = 0; /* the ICMP checksum has no pseudo-header */
	}
	nat_set_addr(&p, p.iph + (manip_dst ? 16 : 12), addr);
	if (l4ports)
		nat_set_port(&p, p.l4 + (manip_dst ? 2 : 0), port);
	if (icmpid)
		nat_set_port(&p, p.l4 + 4, o->sport);
	struct inet_skb_parm *cb = IPCB(skb);
	if (manip_dst)
		cb->daddr = addr;
	else
		cb->saddr = addr;
	if (skb->trace) {
		char a[16], d[64];
		snprintf(d, sizeof(d), "%s -> %s:%u", manip_dst ? "dst" : "src", ipv4_ntoa(addr, a),
			 l4ports ? port : (icmpid ? o->sport : 0));
		trace_stage_detail(skb, "nf_nat_manip_pkt", d);
	}
	return 0;
}

/* MASQUERADE's source: the output device's address for the next hop (inet_select_addr). */
static uint32_t masq_addr(struct sk_buff *skb, const struct nf_conn *ct)
{
	if (skb->rt_valid && skb->rt.dev) {
		uint32_t nh = skb->rt.rt_gateway ? skb->rt.rt_gateway : ct->tuple[0].dst;
		uint32_t a = inet_select_addr(skb->rt.dev, nh);
		if (a)
			return a;
		return skb->rt.rt_src;
	}
	return 0;
}

int nf_nat_setup(struct nf_net *n, struct sk_buff *skb, struct nf_conn *ct, const struct nf_rule *r,
		 int manip_dst)
{
	struct nf_conntrack_tuple reply = ct->tuple[1];
	uint8_t proto = reply.proto;
	int ports = proto == IPPROTO_TCP_ || proto == IPPROTO_UDP_;
	uint32_t lo = r->nat_lo, hi = r->nat_hi;
	if (r->target == NFT_MASQUERADE) {
		lo = hi = masq_addr(skb, ct);
		if (!lo)
			return -1;
	}
	/* Spread a range of addresses by the flow's source (Linux hashes the same way). */
	uint32_t addr = lo;
	if (hi > lo)
		addr = lo + (ct->tuple[0].src ^ ct->tuple[0].dst) % (hi - lo + 1);

	if (manip_dst) {
		reply.src = addr;
		if (ports && r->nat_plo)
			reply.sport = (uint16_t)(r->nat_plo + (r->nat_phi > r->nat_plo
								   ? ct->tuple[0].sport % (r->nat_phi - r->nat_plo + 1)
								   : 0));
		if (nf_ct_change_reply(n, ct, &reply) < 0)
			return -1;
		ct->status |= IPS_DST_NAT;
		return 0;
	}

	reply.dst = addr;
	/* Keep the source port (or echo id) when it is free; else search the range (nf_nat_l4proto_unique_tuple). */
	uint16_t plo = r->nat_plo ? r->nat_plo : 1024, phi = r->nat_plo ? r->nat_phi : 65535;
	uint16_t *pp = proto == IPPROTO_ICMP_ ? &reply.sport : ports ? &reply.dport : NULL;
	if (pp && r->nat_plo && (*pp < plo || *pp > phi))
		*pp = plo;
	if (pp && proto == IPPROTO_ICMP_)
		plo = 0, phi = 65535;
	if (nf_ct_tuple_taken(n, &reply, ct)) {
		if (!pp)
			return -1;
		uint32_t span = (uint32_t)phi - plo + 1;
		uint32_t off = np_random_u32(n->stack) % span;
		int found = 0;
		for (uint32_t i = 0; i < span && i < 65536; i++) {
			*pp = (uint16_t)(plo + (off + i) % span);
			if (!nf_ct_tuple_taken(n, &reply, ct)) {
				found = 1;
				break;
			}
		}
		if (!found)
			return -1;
	}
	if (nf_ct_change_reply(n, ct, &reply) < 0)
		return -1;
	ct->status |= IPS_SRC_NAT;
	return 0;
}
