/*
 * IPv4 rule tables (Linux's net/ipv4/netfilter/ip_tables.c, iptable_filter.c,
 * iptable_nat.c, ipt_REJECT.c, xt_LOG.c): the filter table (INPUT, FORWARD,
 * OUTPUT) and the nat table (PREROUTING, INPUT, OUTPUT, POSTROUTING), user
 * chains, matches, targets and per-rule counters.
 * Place in the packet path: hook functions on the five netfilter hooks
 *   NF_HOOK(LOCAL_IN)  -> iptable_filter_hook -> ipt_do_table(filter, INPUT)
 *   NF_HOOK(FORWARD)   -> iptable_filter_hook -> ipt_do_table(filter, FORWARD)
 *   NF_HOOK(LOCAL_OUT) -> nf_conntrack_local -> nf_nat_ipv4_local_fn -> iptable_filter_hook
 *   NF_HOOK(PRE_ROUTING) -> nf_conntrack_in -> nf_nat_ipv4_pre_routing (nat PREROUTING)
 *   NF_HOOK(POST_ROUTING) -> nf_nat_ipv4_out (nat POSTROUTING) -> nf_confirm
 * The rule that decides a packet is named in its trace ("filter/INPUT rule 3 DROP").
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "core/netdevice.h"
#include "core/stack.h"
#include "net/ipv4/icmp.h"
#include "net/ipv4/ip.h"
#include "net/ipv4/route.h"
#include "net/tcp/tcp.h"
#include "netfilter/netfilter.h"
#include "netfilter/nf_tables.h"
#include "netpath/netfilter.h"
#include "trace/trace.h"
#include "wire/icmp.h"
#include "wire/ipv4.h"
#include "wire/tcp.h"
#include "wire/wire.h"

/* Linux's NF_IP_PRI_* */
#define NF_IP_PRI_CONNTRACK_DEFRAG (-400)
#define NF_IP_PRI_CONNTRACK (-200)
#define NF_IP_PRI_NAT_DST (-100)
#define NF_IP_PRI_FILTER 0
#define NF_IP_PRI_NAT_SRC 100
#define NF_IP_PRI_CONNTRACK_CONFIRM INT_MAX

#define IPT_MAX_JUMP_DEPTH 16
#define LOG_RATE_NS (NSEC_PER_SEC / 5)  /* 5 lines a second ... */
#define LOG_BURST 10                    /* ... after a burst of 10 */

/* ---- packet view ---- */

int nf_pkt_parse(struct sk_buff *skb, struct nf_pkt *p)
{
	memset(p, 0, sizeof(*p));
	if (skb->network_header == SKB_HDR_UNSET)
		return -1;
	uint8_t *iph = skb_network_header(skb);
	uint8_t *end = skb_tail_pointer(skb);
	if (iph < skb->head || iph + IPV4_HLEN_MIN > end)
		return -1;
	uint32_t ihl = (uint32_t)(iph[0] & 0x0f) * 4;
	uint32_t tot = be16_get(iph + 2);
	if ((iph[0] >> 4) != 4 || ihl < IPV4_HLEN_MIN || tot < ihl || iph + tot > end)
		return -1;
	p->iph = iph;
	p->len = tot;
	p->ihl = ihl;
	p->id = be16_get(iph + 4);
	p->ttl = iph[8];
	p->proto = iph[9];
	p->saddr = be32_get(iph + 12);
	p->daddr = be32_get(iph + 16);
	p->nonfirst_frag = (be16_get(iph + 6) & 0x1fff) != 0;
	if (p->nonfirst_frag)
		return 0;
	p->l4 = iph + ihl;
	p->l4len = tot - ihl;
	switch (p->proto) {
	case IPPROTO_TCP_:
		if (p->l4len < TCP_HLEN_MIN)
			return 0;
		p->sport = be16_get(p->l4);
		p->dport = be16_get(p->l4 + 2);
		p->tcp_seq = be32_get(p->l4 + 4);
		p->tcp_ack = be32_get(p->l4 + 8);
		p->tcp_flags = p->l4[13];
		p->has_l4 = 1;
		break;
	case IPPROTO_UDP_:
		if (p->l4len < 8)
			return 0;
		p->sport = be16_get(p->l4);
		p->dport = be16_get(p->l4 + 2);
		p->has_l4 = 1;
		break;
	case IPPROTO_ICMP_:
		if (p->l4len < ICMP_HLEN)
			return 0;
		p->icmp_type = p->l4[0];
		p->icmp_code = p->l4[1];
		if (!icmp_is_error(p->icmp_type))
			p->sport = be16_get(p->l4 + 4);
		p->has_l4 = 1;
		break;
	default:
		break;
	}
	return 0;
}

/* ---- tables and chains ---- */

struct nf_table *nf_table_find(struct nf_net *n, const char *name)
{
	if (!name || !strcmp(name, "filter"))
		return &n->filter;
	if (!strcmp(name, "nat"))
		return &n->nat;
	return NULL;
}

struct nf_chain *nf_chain_find(struct nf_table *t, const char *name)
{
	for (struct nf_chain *c = t->chains; c; c = c->next)
		if (!strcmp(c->name, name))
			return c;
	return NULL;
}

static int chain_add_builtin(struct nf_table *t, const char *name)
{
	struct nf_chain *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	snprintf(c->name, sizeof(c->name), "%s", name);
	c->builtin = 1;
	c->policy = NFT_ACCEPT;
	struct nf_chain **pp = &t->chains;
	while (*pp)
		pp = &(*pp)->next;
	*pp = c;
	return 0;
}

static void table_free(struct nf_table *t)
{
	while (t->chains) {
		struct nf_chain *c = t->chains;
		t->chains = c->next;
		while (c->rules) {
			struct nf_rule *r = c->rules;
			c->rules = r->next;
			free(r);
		}
		free(c);
	}
}

/* ---- matching ---- */

static int ifname_match(const char *pat, const struct net_device *dev)
{
	if (!dev)
		return 0;
	size_t l = strlen(pat);
	if (l && pat[l - 1] == '+')
		return !strncmp(pat, dev->name, l - 1);
	return !strcmp(pat, dev->name);
}

static int rule_match(const struct nf_rule *r, const struct nf_pkt *p, const struct nf_hook_state *st,
		      unsigned ctstate)
{
	if (r->iif[0] && ifname_match(r->iif, st->in) == r->iif_inv)
		return 0;
	if (r->oif[0] && ifname_match(r->oif, st->out) == r->oif_inv)
		return 0;
	if (r->has_src && ((p->saddr & r->smask) == r->src) == r->src_inv)
		return 0;
	if (r->has_dst && ((p->daddr & r->dmask) == r->dst) == r->dst_inv)
		return 0;
	if (r->proto && (p->proto == r->proto) == r->proto_inv)
		return 0;
	/* Port, type and flag matches never match a later fragment (as xt_tcpudp). */
	if (r->has_sport || r->has_dport || r->icmp_type >= 0 || r->has_tcpflags) {
		if (!p->has_l4)
			return 0;
		if (r->has_sport && (p->sport >= r->sport_lo && p->sport <= r->sport_hi) == r->sport_inv)
			return 0;
		if (r->has_dport && (p->dport >= r->dport_lo && p->dport <= r->dport_hi) == r->dport_inv)
			return 0;
		if (r->icmp_type >= 0) {
			int m = p->icmp_type == r->icmp_type && (r->icmp_code < 0 || p->icmp_code == r->icmp_code);
			if (m == r->icmp_inv)
				return 0;
		}
		if (r->has_tcpflags && ((p->tcp_flags & r->tcp_mask) == r->tcp_comp) == r->tcpflags_inv)
			return 0;
	}
	if (r->has_state && ((ctstate & r->state_mask) != 0) == r->state_inv)
		return 0;
	return 1;
}

/* ---- targets ---- */

static const char *target_name(const struct nf_rule *r)
{
	switch (r->target) {
	case NFT_ACCEPT: return "ACCEPT";
	case NFT_DROP: return "DROP";
	case NFT_REJECT: return "REJECT";
	case NFT_LOG: return "LOG";
	case NFT_RETURN: return "RETURN";
	case NFT_JUMP: return r->jump ? r->jump->name : "?";
	case NFT_SNAT: return "SNAT";
	case NFT_DNAT: return "DNAT";
	case NFT_MASQUERADE: return "MASQUERADE";
	default: return "";
	}
}

/* xt_LOG: one kernel-log-like line, through a token bucket so a flood cannot flood the output. */
static void ipt_log(struct nf_net *n, const struct nf_rule *r, const struct nf_pkt *p,
		    const struct nf_hook_state *st)
{
	struct np_stack *s = n->stack;
	uint64_t now = np_stack_now(s);
	uint64_t cap = LOG_RATE_NS * LOG_BURST;
	n->log_tokens_ns += now - n->log_last_ns;
	if (n->log_last_ns == 0 || n->log_tokens_ns > cap)
		n->log_tokens_ns = cap;
	n->log_last_ns = now;
	if (n->log_tokens_ns < LOG_RATE_NS) {
		n->log_suppressed++;
		return;
	}
	n->log_tokens_ns -= LOG_RATE_NS;

	char sa[16], da[16], l4[96] = "";
	static const char *const pn[] = { [IPPROTO_ICMP_] = "ICMP", [IPPROTO_TCP_] = "TCP", [IPPROTO_UDP_] = "UDP" };
	const char *proto = p->proto < sizeof(pn) / sizeof(pn[0]) && pn[p->proto] ? pn[p->proto] : NULL;
	if (p->has_l4 && (p->proto == IPPROTO_TCP_ || p->proto == IPPROTO_UDP_))
		snprintf(l4, sizeof(l4), " SPT=%u DPT=%u%s%s%s%s", p->sport, p->dport,
			 p->proto == IPPROTO_TCP_ && (p->tcp_flags & TCPF_SYN) ? " SYN" : "",
			 p->proto == IPPROTO_TCP_ && (p->tcp_flags & TCPF_ACK) ? " ACK" : "",
			 p->proto == IPPROTO_TCP_ && (p->tcp_flags & TCPF_FIN) ? " FIN" : "",
			 p->proto == IPPROTO_TCP_ && (p->tcp_flags & TCPF_RST) ? " RST" : "");
	else if (p->has_l4 && p->proto == IPPROTO_ICMP_)
		snprintf(l4, sizeof(l4), " TYPE=%u CODE=%u", p->icmp_type, p->icmp_code);
	FILE *out = s->trace_out ? s->trace_out : stderr;
	fprintf(out, "%s: %sIN=%s OUT=%s SRC=%s DST=%s LEN=%u TTL=%u ID=%u PROTO=", s->name, r->log_prefix,
		st->in ? st->in->name : "", st->out ? st->out->name : "", ipv4_ntoa(p->saddr, sa),
		ipv4_ntoa(p->daddr, da), p->len, p->ttl, p->id);
	if (proto)
		fprintf(out, "%s%s\n", proto, l4);
	else
		fprintf(out, "%u\n", p->proto);
	fflush(out);
}

/* ipt_REJECT: answers skb (not consumed) with an ICMP error or a TCP RST. */
static void ipt_reject(struct nf_net *n, const struct nf_rule *r, struct sk_buff *skb, const struct nf_pkt *p,
		       unsigned hook)
{
	if (r->reject_with == NF_REJECT_TCP_RESET) {
		/* Only for TCP (the parser insists on -p tcp); never answer a RST (RFC 9293 3.10.7). */
		if (p->proto != IPPROTO_TCP_ || !p->has_l4 || (p->tcp_flags & TCPF_RST))
			return;
		/* tcp_v4_send_reset reads the segment through TCP_SKB_CB and the transport header. */
		struct tcp_skb_cb *tcb = TCP_SKB_CB(skb);
		struct inet_skb_parm *cb = IPCB(skb);
		cb->saddr = p->saddr;
		cb->daddr = p->daddr;
		uint32_t doff = (uint32_t)(p->l4[12] >> 4) * 4;
		uint32_t plen = p->l4len > doff ? p->l4len - doff : 0;
		tcb->seq = p->tcp_seq;
		tcb->end_seq = p->tcp_seq + plen + !!(p->tcp_flags & TCPF_SYN) + !!(p->tcp_flags & TCPF_FIN);
		tcb->ack_seq = p->tcp_ack;
		tcb->tcp_flags = p->tcp_flags;
		skb->transport_header = (uint16_t)(p->l4 - skb->head);
		uint8_t pkt_type = skb->pkt_type;
		/* On LOCAL_OUT the segment is ours: the reset goes back to us like Linux's nf_send_reset. */
		skb->pkt_type = PACKET_HOST;
		tcp_v4_send_reset(n->stack, skb);
		skb->pkt_type = pkt_type;
		return;
	}
	(void)hook;
	static const uint8_t code[] = {
		[NF_REJECT_PORT_UNREACH] = ICMP_PORT_UNREACH, [NF_REJECT_HOST_UNREACH] = ICMP_HOST_UNREACH,
		[NF_REJECT_NET_UNREACH] = ICMP_NET_UNREACH, [NF_REJECT_PROTO_UNREACH] = ICMP_PROT_UNREACH,
		[NF_REJECT_ADMIN_PROHIB] = 13,
	};
	/* icmp_send reads the addresses from IPCB, which a NAT hook may have left stale. */
	IPCB(skb)->saddr = p->saddr;
	IPCB(skb)->daddr = p->daddr;
	icmp_send(skb, ICMP_DEST_UNREACH, code[r->reject_with], 0);
}

static void trace_verdict(struct sk_buff *skb, const struct nf_table *t, const struct nf_chain *c, int ruleno,
			  const char *what)
{
	if (!skb->trace)
		return;
	char d[96];
	if (ruleno > 0)
		snprintf(d, sizeof(d), "%s/%s rule %d %s", t->name, c->name, ruleno, what);
	else
		snprintf(d, sizeof(d), "%s/%s policy %s", t->name, c->name, what);
	trace_stage_detail(skb, "ipt_do_table", d);
}

/*
 * Linux's ipt_do_table: walks chain (jumping into user chains, RETURN or
 * their end coming back) until a terminal target. Does not consume skb.
 * Returns the terminal rule (NULL: the built-in chain's policy decided,
 * given in *policy).
 */
static const struct nf_rule *ipt_do_table(struct nf_net *n, struct nf_table *t, struct nf_chain *chain,
					  struct sk_buff *skb, const struct nf_pkt *p,
					  const struct nf_hook_state *st, unsigned ctstate, enum nf_target *policy)
{
	struct { struct nf_chain *c; struct nf_rule *r; int num; } stack[IPT_MAX_JUMP_DEPTH];
	int depth = 0;
	struct nf_chain *c = chain;
	struct nf_rule *r = c->rules;
	int num = 1;

	for (;;) {
		if (!r) {
			if (depth == 0) {
				c->pkts++;
				c->bytes += p->len;
				*policy = c->policy;
				trace_verdict(skb, t, c, 0, c->policy == NFT_DROP ? "DROP" : "ACCEPT");
				return NULL;
			}
			depth--;
			c = stack[depth].c;
			r = stack[depth].r;
			num = stack[depth].num;
			continue;
		}
		if (!rule_match(r, p, st, ctstate)) {
			r = r->next;
			num++;
			continue;
		}
		r->pkts++;
		r->bytes += p->len;
		switch (r->target) {
		case NFT_NONE:
			break;
		case NFT_LOG:
			ipt_log(n, r, p, st);
			break;
		case NFT_RETURN:
			if (depth == 0) {
				/* RETURN in a built-in chain: the policy decides. */
				c->pkts++;
				c->bytes += p->len;
				*policy = c->policy;
				trace_verdict(skb, t, c, 0, c->policy == NFT_DROP ? "DROP" : "ACCEPT");
				return NULL;
			}
			depth--;
			c = stack[depth].c;
			r = stack[depth].r;
			num = stack[depth].num;
			continue;
		case NFT_JUMP:
			if (depth < IPT_MAX_JUMP_DEPTH && r->jump) {
				stack[depth].c = c;
				stack[depth].r = r->next;
				stack[depth].num = num + 1;
				depth++;
				c = r->jump;
				r = c->rules;
				num = 1;
				continue;
			}
			break;
		default:
			trace_verdict(skb, t, c, num, target_name(r));
			return r;
		}
		r = r->next;
		num++;
	}
}

/* ---- hook functions ---- */

static struct nf_chain *builtin_chain(struct nf_table *t, unsigned hook)
{
	const char *name = NULL;
	if (t->chains && !strcmp(t->name, "filter")) {
		if (hook == NF_INET_LOCAL_IN)
			name = "INPUT";
		else if (hook == NF_INET_FORWARD)
			name = "FORWARD";
		else if (hook == NF_INET_LOCAL_OUT)
			name = "OUTPUT";
	} else if (t->chains) {
		if (hook == NF_INET_PRE_ROUTING)
			name = "PREROUTING";
		else if (hook == NF_INET_LOCAL_IN)
			name = "INPUT";
		else if (hook == NF_INET_LOCAL_OUT)
			name = "OUTPUT";
		else if (hook == NF_INET_POST_ROUTING)
			name = "POSTROUTING";
	}
	return name ? nf_chain_find(t, name) : NULL;
}

static unsigned pkt_ctstate(struct nf_net *n, const struct sk_buff *skb)
{
	if (!n->ct.enabled)
		return NF_CT_UNTRACKED;
	int dir;
	unsigned state;
	if (!nf_ct_get(n, skb, &dir, &state))
		return state ? state : NF_CT_UNTRACKED;
	return state;
}

/* iptable_filter_hook: the filter table's chain for this hook. */
static unsigned iptable_filter_hook(void *priv, struct sk_buff *skb, const struct nf_hook_state *st,
				    enum np_drop_reason *reason)
{
	struct nf_net *n = priv;
	struct nf_chain *c = builtin_chain(&n->filter, st->hook);
	struct nf_pkt p;
	if (!c || nf_pkt_parse(skb, &p) < 0)
		return NF_ACCEPT;
	enum nf_target policy = NFT_ACCEPT;
	const struct nf_rule *r = ipt_do_table(n, &n->filter, c, skb, &p, st, pkt_ctstate(n, skb), &policy);
	enum nf_target v = r ? r->target : policy;
	if (v == NFT_REJECT) {
		ipt_reject(n, r, skb, &p, st->hook);
		v = NFT_DROP;
	}
	if (v == NFT_DROP) {
		*reason = NP_DROP_NETFILTER_DROP;
		return NF_DROP;
	}
	return NF_ACCEPT;
}

/* Conntrack entry point on PRE_ROUTING and LOCAL_OUT (nf_conntrack_in / nf_conntrack_local). */
static unsigned ipv4_conntrack_in(void *priv, struct sk_buff *skb, const struct nf_hook_state *st,
				  enum np_drop_reason *reason)
{
	struct nf_net *n = priv;
	if (!n->ct.enabled)
		return NF_ACCEPT;
	if (st->hook == NF_INET_PRE_ROUTING && st->in && st->in == n->stack->loopback_dev) {
		/* Our own packet back through lo: LOCAL_OUT classified it already (Linux keeps skb->_nfct). */
		int dir;
		unsigned state;
		if (nf_ct_get(n, skb, &dir, &state) || state)
			return NF_ACCEPT;
	}
	trace_stage(skb, st->hook == NF_INET_PRE_ROUTING ? "nf_conntrack_in" : "nf_conntrack_local");
	return nf_conntrack_in(n, skb, reason) < 0 ? NF_DROP : NF_ACCEPT;
}

/*
 * NAT on a hook (nf_nat_ipv4_fn): a NEW conntrack consults the nat chain
 * once to bind its translation; every packet then gets the translation of
 * its conntrack for this hook's manip type (destination before routing,
 * source after).
 */
static unsigned nf_nat_ipv4_fn(void *priv, struct sk_buff *skb, const struct nf_hook_state *st,
			       enum np_drop_reason *reason)
{
	struct nf_net *n = priv;
	int manip_dst = st->hook == NF_INET_PRE_ROUTING || st->hook == NF_INET_LOCAL_OUT;
	int dir;
	unsigned state;
	if (!n->ct.enabled)
		return NF_ACCEPT;
	struct nf_conn *ct = nf_ct_get(n, skb, &dir, &state);
	if (!ct)
		return NF_ACCEPT;
	if (st->hook == NF_INET_LOCAL_IN && !(ct->status & (IPS_DST_NAT | IPS_SRC_NAT)))
		return NF_ACCEPT;
	unsigned done = manip_dst ? IPS_DST_NAT_DONE : IPS_SRC_NAT_DONE;
	if (!(ct->status & done) && dir == IP_CT_DIR_ORIGINAL && !(ct->status & IPS_CONFIRMED)) {
		struct nf_chain *c = builtin_chain(&n->nat, st->hook);
		struct nf_pkt p;
		if (c && c->rules && nf_pkt_parse(skb, &p) == 0) {
			enum nf_target policy = NFT_ACCEPT;
			const struct nf_rule *r = ipt_do_table(n, &n->nat, c, skb, &p, st, state, &policy);
			enum nf_target v = r ? r->target : policy;
			if (v == NFT_DROP) {
				*reason = NP_DROP_NETFILTER_DROP;
				return NF_DROP;
			}
			if (r && (v == NFT_SNAT || v == NFT_DNAT || v == NFT_MASQUERADE)) {
				trace_stage(skb, manip_dst ? "nf_nat_setup_info dst" : "nf_nat_setup_info src");
				if (nf_nat_setup(n, skb, ct, r, manip_dst) < 0) {
					*reason = NP_DROP_NETFILTER_DROP;
					return NF_DROP;
				}
			}
		}
		ct->status |= done;
	}
	uint32_t old_daddr = IPCB(skb)->daddr;
	if (nf_nat_packet(n, skb, ct, dir, manip_dst) < 0) {
		*reason = NP_DROP_NOMEM;
		return NF_DROP;
	}
	/* Our own packet sent elsewhere by DNAT needs a new route (Linux's ip_route_me_harder). */
	if (st->hook == NF_INET_LOCAL_OUT && IPCB(skb)->daddr != old_daddr) {
		struct rtable rt;
		if (ip_route_output(n->stack, IPCB(skb)->daddr, 0, NULL, &rt) < 0) {
			*reason = NP_DROP_IP_OUTNOROUTES;
			return NF_DROP;
		}
		skb->rt = rt;
		skb->rt_valid = 1;
	}
	return NF_ACCEPT;
}

/* nf_confirm: the packet passed every hook, so its conntrack goes live with its real timeout. */
static unsigned ipv4_confirm(void *priv, struct sk_buff *skb, const struct nf_hook_state *st,
			     enum np_drop_reason *reason)
{
	struct nf_net *n = priv;
	int dir;
	unsigned state;
	if (!n->ct.enabled)
		return NF_ACCEPT;
	struct nf_conn *ct = nf_ct_get(n, skb, &dir, &state);
	if (ct && !(ct->status & IPS_CONFIRMED))
		nf_conntrack_confirm(n, ct);
	return NF_ACCEPT;
}

/* Conntrack for a reassembled datagram that reached LOCAL_IN without a classification. */
static unsigned ipv4_conntrack_defrag_in(void *priv, struct sk_buff *skb, const struct nf_hook_state *st,
					 enum np_drop_reason *reason)
{
	struct nf_net *n = priv;
	int dir;
	unsigned state;
	if (!n->ct.enabled)
		return NF_ACCEPT;
	/* Fragments were left untracked at PRE_ROUTING; the reassembled datagram is tracked here. */
	if (nf_ct_get(n, skb, &dir, &state) || (state && state != NF_CT_UNTRACKED))
		return NF_ACCEPT;
	return nf_conntrack_in(n, skb, reason) < 0 ? NF_DROP : NF_ACCEPT;
}

/*
 * nf_defrag_ipv4 (priority -400): with connection tracking on, fragments
 * are reassembled before conntrack and NAT see them, forwarded ones too, as
 * in Linux. The whole datagram restarts at ip_rcv (ip_defrag builds a new
 * skb), where it is not counted a second time. Consumes skb when it is a fragment.
 */
static unsigned ipv4_conntrack_defrag(void *priv, struct sk_buff *skb, const struct nf_hook_state *st,
				      enum np_drop_reason *reason)
{
	struct nf_net *n = priv;
	if (!n->ct.enabled || !(IPCB(skb)->frag_off & (IP_MF | IP_OFFSET)))
		return NF_ACCEPT;
	struct np_stack *s = n->stack;
	trace_stage(skb, "nf_ct_ipv4_gather_frags");
	if (ip_defrag(s, &skb) != 0)
		return NF_STOLEN; /* queued, or dropped and counted by ip_defrag */
	struct net_device *dev = skb->dev ? skb->dev : st->in;
	s->mib[NP_MIB_IpInReceives]--;
	s->mib[NP_MIB_IpExtInOctets] -= skb->len;
	ip_rcv(skb, dev, NULL);
	return NF_STOLEN;
}

static const struct {
	unsigned hook;
	int prio;
	nf_hookfn fn;
} nf_ops[] = {
	{ NF_INET_PRE_ROUTING, NF_IP_PRI_CONNTRACK_DEFRAG, ipv4_conntrack_defrag },
	{ NF_INET_PRE_ROUTING, NF_IP_PRI_CONNTRACK, ipv4_conntrack_in },
	{ NF_INET_PRE_ROUTING, NF_IP_PRI_NAT_DST, nf_nat_ipv4_fn },
	{ NF_INET_LOCAL_IN, NF_IP_PRI_CONNTRACK - 1, ipv4_conntrack_defrag_in },
	{ NF_INET_LOCAL_IN, NF_IP_PRI_FILTER, iptable_filter_hook },
	{ NF_INET_LOCAL_IN, NF_IP_PRI_NAT_SRC, nf_nat_ipv4_fn },
	{ NF_INET_LOCAL_IN, NF_IP_PRI_CONNTRACK_CONFIRM, ipv4_confirm },
	{ NF_INET_FORWARD, NF_IP_PRI_FILTER, iptable_filter_hook },
	{ NF_INET_LOCAL_OUT, NF_IP_PRI_CONNTRACK, ipv4_conntrack_in },
	{ NF_INET_LOCAL_OUT, NF_IP_PRI_NAT_DST, nf_nat_ipv4_fn },
	{ NF_INET_LOCAL_OUT, NF_IP_PRI_FILTER, iptable_filter_hook },
	{ NF_INET_POST_ROUTING, NF_IP_PRI_NAT_SRC, nf_nat_ipv4_fn },
	{ NF_INET_POST_ROUTING, NF_IP_PRI_CONNTRACK_CONFIRM, ipv4_confirm },
};
#define NF_OPS_COUNT (sizeof(nf_ops) / sizeof(nf_ops[0]))

struct nf_net *nf_net_get(struct np_stack *s)
{
	if (s->nf)
		return s->nf;
	struct nf_net *n = calloc(1, sizeof(*n));
	if (!n)
		return NULL;
	n->stack = s;
	n->filter.name = "filter";
	n->nat.name = "nat";
	if (chain_add_builtin(&n->filter, "INPUT") || chain_add_builtin(&n->filter, "FORWARD") ||
	    chain_add_builtin(&n->filter, "OUTPUT") || chain_add_builtin(&n->nat, "PREROUTING") ||
	    chain_add_builtin(&n->nat, "INPUT") || chain_add_builtin(&n->nat, "OUTPUT") ||
	    chain_add_builtin(&n->nat, "POSTROUTING"))
		goto fail;
	for (size_t i = 0; i < NF_OPS_COUNT; i++) {
		if (nf_register_hook(s, nf_ops[i].hook, nf_ops[i].prio, nf_ops[i].fn, n) < 0) {
			for (size_t j = 0; j < i; j++)
				nf_unregister_hook(s, nf_ops[j].hook, nf_ops[j].fn, n);
			goto fail;
		}
	}
	n->hooks = 1;
	s->nf = n;
	return n;
fail:
	table_free(&n->filter);
	table_free(&n->nat);
	free(n);
	return NULL;
}

void nf_net_free(struct np_stack *s)
{
	struct nf_net *n = s->nf;
	if (!n)
		return;
	if (n->hooks)
		for (size_t i = 0; i < NF_OPS_COUNT; i++)
			nf_unregister_hook(s, nf_ops[i].hook, nf_ops[i].fn, n);
	nf_conntrack_free(n);
	table_free(&n->filter);
	table_free(&n->nat);
	free(n);
	s->nf = NULL;
}

/* ---- printing (iptables -L -v -n --line-numbers) ---- */

static void fmt_count(uint64_t v, char *out, size_t cap)
{
	/* iptables prints K/M/G past 99999 */
	if (v < 100000)
		snprintf(out, cap, "%llu", (unsigned long long)v);
	else if (v < 10000000ull)
		snprintf(out, cap, "%lluK", (unsigned long long)(v / 1000));
	else if (v < 10000000000ull)
		snprintf(out, cap, "%lluM", (unsigned long long)(v / 1000000));
	else
		snprintf(out, cap, "%lluG", (unsigned long long)(v / 1000000000));
}

static void fmt_addr(int has, uint32_t a, uint32_t mask, int inv, char *out, size_t cap)
{
	char b[16];
	int plen = 0;
	for (uint32_t m = mask; m & 0x80000000u; m <<= 1)
		plen++;
	if (!has)
		snprintf(out, cap, "0.0.0.0/0");
	else if (plen == 32)
		snprintf(out, cap, "%s%s", inv ? "!" : "", ipv4_ntoa(a, b));
	else
		snprintf(out, cap, "%s%s/%d", inv ? "!" : "", ipv4_ntoa(a, b), plen);
}

static const char *const state_names[] = { "INVALID", "NEW", "RELATED", "ESTABLISHED", "UNTRACKED" };
static const unsigned state_bits[] = { NF_CT_INVALID, NF_CT_NEW, NF_CT_RELATED, NF_CT_ESTABLISHED, NF_CT_UNTRACKED };

/* The match/target options column, as iptables -L prints them. */
static void fmt_extra(const struct nf_rule *r, char *out, size_t cap)
{
	size_t o = 0;
#define APPEND(...) do { if (o < cap) o += (size_t)snprintf(out + o, cap - o, __VA_ARGS__); } while (0)
	out[0] = 0;
	const char *pn = r->proto == IPPROTO_TCP_ ? "tcp" : r->proto == IPPROTO_UDP_ ? "udp" : "icmp";
	if (r->has_sport) {
		if (r->sport_lo == r->sport_hi)
			APPEND("%s spt:%s%u ", pn, r->sport_inv ? "!" : "", r->sport_lo);
		else
			APPEND("%s spts:%s%u:%u ", pn, r->sport_inv ? "!" : "", r->sport_lo, r->sport_hi);
	}
	if (r->has_dport) {
		if (r->dport_lo == r->dport_hi)
			APPEND("%s dpt:%s%u ", pn, r->dport_inv ? "!" : "", r->dport_lo);
		else
			APPEND("%s dpts:%s%u:%u ", pn, r->dport_inv ? "!" : "", r->dport_lo, r->dport_hi);
	}
	if (r->has_tcpflags)
		APPEND("tcp flags:%s0x%02X/0x%02X ", r->tcpflags_inv ? "!" : "", r->tcp_mask, r->tcp_comp);
	if (r->icmp_type >= 0) {
		if (r->icmp_code >= 0)
			APPEND("icmptype %s%d code %d ", r->icmp_inv ? "!" : "", r->icmp_type, r->icmp_code);
		else
			APPEND("icmptype %s%d ", r->icmp_inv ? "!" : "", r->icmp_type);
	}
	if (r->has_state) {
		APPEND("%sstate ", r->state_inv ? "! " : "");
		int first = 1;
		for (size_t i = 0; i < 5; i++)
			if (r->state_mask & state_bits[i]) {
				APPEND("%s%s", first ? "" : ",", state_names[i]);
				first = 0;
			}
		APPEND(" ");
	}
	char a[16], b[16];
	switch (r->target) {
	case NFT_REJECT: {
		static const char *const w[] = { "icmp-port-unreachable", "icmp-host-unreachable",
						 "icmp-net-unreachable", "icmp-proto-unreachable",
						 "icmp-admin-prohibited", "tcp-reset" };
		APPEND("reject-with %s", w[r->reject_with]);
		break;
	}
	case NFT_LOG:
		APPEND("LOG flags 0 level 4%s%s%s", r->log_prefix[0] ? " prefix \"" : "", r->log_prefix,
		       r->log_prefix[0] ? "\"" : "");
		break;
	case NFT_SNAT:
	case NFT_DNAT:
		APPEND("to:%s", ipv4_ntoa(r->nat_lo, a));
		if (r->nat_hi != r->nat_lo)
			APPEND("-%s", ipv4_ntoa(r->nat_hi, b));
		if (r->nat_plo)
			APPEND(":%u", r->nat_plo);
		if (r->nat_phi != r->nat_plo)
			APPEND("-%u", r->nat_phi);
		break;
	case NFT_MASQUERADE:
		if (r->nat_plo)
			APPEND("masq ports: %u-%u", r->nat_plo, r->nat_phi);
		break;
	default:
		break;
	}
#undef APPEND
	size_t l = strlen(out);
	while (l && out[l - 1] == ' ')
		out[--l] = 0;
}

static void print_table(struct nf_table *t, FILE *out)
{
	int first = 1;
	for (struct nf_chain *c = t->chains; c; c = c->next) {
		char pk[16], by[16];
		if (!first)
			fprintf(out, "\n");
		first = 0;
		if (c->builtin) {
			fmt_count(c->pkts, pk, sizeof(pk));
			fmt_count(c->bytes, by, sizeof(by));
			fprintf(out, "Chain %s (policy %s %s packets, %s bytes) [table %s]\n", c->name,
				c->policy == NFT_DROP ? "DROP" : "ACCEPT", pk, by, t->name);
		} else {
			fprintf(out, "Chain %s (%d references) [table %s]\n", c->name, c->refs, t->name);
		}
		fprintf(out, "num   pkts bytes target     prot opt in     out     source               destination\n");
		int num = 1;
		for (struct nf_rule *r = c->rules; r; r = r->next, num++) {
			char src[24], dst[24], extra[160], in[20], o[20], prot[8];
			fmt_count(r->pkts, pk, sizeof(pk));
			fmt_count(r->bytes, by, sizeof(by));
			fmt_addr(r->has_src, r->src, r->smask, r->src_inv, src, sizeof(src));
			fmt_addr(r->has_dst, r->dst, r->dmask, r->dst_inv, dst, sizeof(dst));
			snprintf(in, sizeof(in), "%s%s", r->iif_inv ? "!" : "", r->iif[0] ? r->iif : "*");
			snprintf(o, sizeof(o), "%s%s", r->oif_inv ? "!" : "", r->oif[0] ? r->oif : "*");
			if (!r->proto)
				snprintf(prot, sizeof(prot), "all");
			else
				snprintf(prot, sizeof(prot), "%s%s", r->proto_inv ? "!" : "",
					 r->proto == IPPROTO_TCP_ ? "tcp" : r->proto == IPPROTO_UDP_ ? "udp"
					 : r->proto == IPPROTO_ICMP_ ? "icmp" : "?");
			if (r->proto && strcmp(prot + (r->proto_inv ? 1 : 0), "?") == 0)
				snprintf(prot, sizeof(prot), "%s%u", r->proto_inv ? "!" : "", r->proto);
			fmt_extra(r, extra, sizeof(extra));
			char line[400];
			snprintf(line, sizeof(line), "%-4d%6s %5s %-10s %-4s --  %-6s %-6s  %-20s %-20s %s", num, pk, by,
				 target_name(r), prot, in, o, src, dst, extra);
			size_t l = strlen(line);
			while (l && line[l - 1] == ' ')
				line[--l] = 0;
			fprintf(out, "%s\n", line);
		}
	}
}

/* ---- public API ---- */

int np_nf_rule(struct np_stack *s, const char *rule, char *err, size_t errlen)
{
	if (err && errlen)
		err[0] = 0;
	if (!s || !rule) {
		if (err && errlen)
			snprintf(err, errlen, "no stack or rule");
		return -EINVAL;
	}
	np_stack_lock(s);
	struct nf_net *n = nf_net_get(s);
	int r = n ? nf_rule_apply(n, rule, err, errlen) : -ENOMEM;
	if (r == -ENOMEM && err && errlen && !err[0])
		snprintf(err, errlen, "out of memory");
	np_stack_unlock(s);
	return r;
}

int np_nf_load_file(struct np_stack *s, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		int e = errno;
		if (err && errlen)
			snprintf(err, errlen, "%s: %s", path, strerror(e));
		return -e;
	}
	char line[1024], table[16] = "filter", sub[512];
	int lineno = 0, rc = 0;
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		char *p = line;
		while (*p == ' ' || *p == '\t')
			p++;
		size_t l = strlen(p);
		while (l && (p[l - 1] == '\n' || p[l - 1] == '\r' || p[l - 1] == ' ' || p[l - 1] == '\t'))
			p[--l] = 0;
		if (!*p || *p == '#' || !strcmp(p, "COMMIT"))
			continue;
		const char *cmd = line;
		char buf[1100];
		if (*p == '*') {
			snprintf(table, sizeof(table), "%s", p + 1);
			if (strcmp(table, "filter") && strcmp(table, "nat")) {
				if (err && errlen)
					snprintf(err, errlen, "%s:%d: unknown table '%s' (filter or nat)", path, lineno,
						 table);
				rc = -EINVAL;
				break;
			}
			continue;
		}
		if (*p == ':') {
			/* ":CHAIN POLICY [pkts:bytes]" declares a chain and its policy. */
			char name[32] = "", pol[16] = "";
			if (sscanf(p + 1, "%31s %15s", name, pol) < 1) {
				if (err && errlen)
					snprintf(err, errlen, "%s:%d: bad chain line '%s'", path, lineno, p);
				rc = -EINVAL;
				break;
			}
			if (!strcmp(pol, "-") || !pol[0])
				snprintf(buf, sizeof(buf), "-t %s -N %s", table, name);
			else
				snprintf(buf, sizeof(buf), "-t %s -P %s %s", table, name, pol);
			cmd = buf;
			np_stack_lock(s);
			struct nf_net *n = nf_net_get(s);
			struct nf_table *t = n ? nf_table_find(n, table) : NULL;
			int exists = t && nf_chain_find(t, name);
			np_stack_unlock(s);
			if (exists && (!strcmp(pol, "-") || !pol[0]))
				continue;
		} else {
			snprintf(buf, sizeof(buf), "-t %s %s", table, p);
			cmd = buf;
		}
		rc = np_nf_rule(s, cmd, sub, sizeof(sub));
		if (rc < 0) {
			if (err && errlen)
				snprintf(err, errlen, "%s:%d: %s", path, lineno, sub);
			break;
		}
	}
	fclose(f);
	return rc;
}

void np_nf_print(struct np_stack *s, const char *table, FILE *out)
{
	np_stack_lock(s);
	struct nf_net *n = s->nf;
	if (!n) {
		np_stack_unlock(s);
		return;
	}
	if (!table || !strcmp(table, "filter"))
		print_table(&n->filter, out);
	int nat_used = 0;
	for (struct nf_chain *c = n->nat.chains; c; c = c->next)
		if (c->rules || !c->builtin)
			nat_used = 1;
	if ((!table && nat_used) || (table && !strcmp(table, "nat"))) {
		if (!table)
			fprintf(out, "\n");
		print_table(&n->nat, out);
	}
	if ((!table || !strcmp(table, "conntrack")) && n->ct.enabled) {
		if (!table)
			fprintf(out, "\n");
		nf_conntrack_print(n, out);
	}
	np_stack_unlock(s);
}
