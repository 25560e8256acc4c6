/*
 * Connection tracking (Linux's net/netfilter/nf_conntrack_core.c,
 * nf_conntrack_proto_tcp.c, _udp.c, _icmp.c): one entry per flow, found
 * from either direction's 5-tuple, with a simplified TCP state machine,
 * per-state timeouts, a bounded table and timer-driven garbage collection.
 * Place in the packet path:
 *   NF_HOOK(PRE_ROUTING) / NF_HOOK(LOCAL_OUT) -> nf_conntrack_in (priority -200)
 *     -> resolve_normal_ct (find or create) -> tcp_packet / udp_packet / icmp_packet
 *   NF_HOOK(LOCAL_IN) / NF_HOOK(POST_ROUTING) -> nf_confirm -> nf_conntrack_confirm
 * The classification rides on the packet (skb->_nfct holds a reference, as in
 * Linux), so later hooks (filter, NAT) and lo's second pass read it back with nf_ct_get.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/stack.h"
#include "netfilter/netfilter.h"
#include "netfilter/nf_tables.h"
#include "trace/trace.h"
#include "wire/icmp.h"
#include "wire/ipv4.h"
#include "wire/tcp.h"
#include "wire/wire.h"

#define NF_CT_HASH_SIZE 1024u
#define NF_CT_UNCONFIRMED_NS (2 * NSEC_PER_SEC) /* an entry whose first packet never passed */

/* Linux's nf_conntrack_tcp_timeout_* (seconds). */
static const uint32_t tcp_timeouts[TCP_CONNTRACK_MAX] = {
	[TCP_CONNTRACK_NONE] = 120,
	[TCP_CONNTRACK_SYN_SENT] = 120,
	[TCP_CONNTRACK_SYN_RECV] = 60,
	[TCP_CONNTRACK_ESTABLISHED] = 5 * 24 * 3600,
	[TCP_CONNTRACK_FIN_WAIT] = 120,
	[TCP_CONNTRACK_CLOSE_WAIT] = 60,
	[TCP_CONNTRACK_LAST_ACK] = 30,
	[TCP_CONNTRACK_TIME_WAIT] = 120,
	[TCP_CONNTRACK_CLOSE] = 10,
};
#define UDP_TIMEOUT 30          /* nf_conntrack_udp_timeout */
#define UDP_TIMEOUT_STREAM 120  /* nf_conntrack_udp_timeout_stream (Linux >= 5.x; older kernels 180) */
#define ICMP_TIMEOUT 30         /* nf_conntrack_icmp_timeout */
#define GENERIC_TIMEOUT 600     /* nf_conntrack_generic_timeout */

static const char *const tcp_state_names[TCP_CONNTRACK_MAX] = {
	"NONE", "SYN_SENT", "SYN_RECV", "ESTABLISHED", "FIN_WAIT", "CLOSE_WAIT", "LAST_ACK", "TIME_WAIT", "CLOSE",
};

const char *nf_ct_tcp_state_name(unsigned st)
{
	return st < TCP_CONNTRACK_MAX ? tcp_state_names[st] : "?";
}

static uint64_t ct_timeout_ns(const struct nf_conn *ct)
{
	uint64_t sec;
	switch (ct->tuple[0].proto) {
	case IPPROTO_TCP_:
		sec = tcp_timeouts[ct->tcp_state];
		break;
	case IPPROTO_UDP_:
		sec = (ct->status & IPS_SEEN_REPLY) ? UDP_TIMEOUT_STREAM : UDP_TIMEOUT;
		break;
	case IPPROTO_ICMP_:
		sec = ICMP_TIMEOUT;
		break;
	default:
		sec = GENERIC_TIMEOUT;
		break;
	}
	return sec * NSEC_PER_SEC;
}

static unsigned tuple_hash(const struct nf_conntrack_net *c, const struct nf_conntrack_tuple *t, uint32_t seed)
{
	uint32_t h = seed;
	uint32_t v[3] = { t->src, t->dst, ((uint32_t)t->sport << 16) ^ t->dport ^ ((uint32_t)t->proto << 8) };
	for (int i = 0; i < 3; i++) {
		h ^= v[i];
		h *= 0x9e3779b1u;
		h ^= h >> 15;
	}
	return h % c->hash_size;
}

static int tuple_eq(const struct nf_conntrack_tuple *a, const struct nf_conntrack_tuple *b)
{
	return a->src == b->src && a->dst == b->dst && a->sport == b->sport && a->dport == b->dport &&
	       a->proto == b->proto;
}

static void tuple_invert(const struct nf_conntrack_tuple *t, struct nf_conntrack_tuple *r)
{
	r->src = t->dst;
	r->dst = t->src;
	r->proto = t->proto;
	if (t->proto == IPPROTO_ICMP_) {
		/* The echo id is the same both ways (Linux keeps it in src.u.icmp.id). */
		r->sport = t->sport;
		r->dport = t->dport;
	} else {
		r->sport = t->dport;
		r->dport = t->sport;
	}
}

static void ct_hash_insert(struct nf_net *n, struct nf_conn *ct, int d)
{
	struct nf_conntrack_net *c = &n->ct;
	unsigned h = tuple_hash(c, &ct->tuple[d], n->stack->secret[2]);
	ct->th[d].ct = ct;
	ct->th[d].dir = d;
	ct->th[d].next = c->hash[h];
	c->hash[h] = &ct->th[d];
}

static void ct_hash_remove(struct nf_net *n, struct nf_conn *ct, int d)
{
	struct nf_conntrack_net *c = &n->ct;
	unsigned h = tuple_hash(c, &ct->tuple[d], n->stack->secret[2]);
	for (struct nf_ct_thash **pp = &c->hash[h]; *pp; pp = &(*pp)->next) {
		if (*pp == &ct->th[d]) {
			*pp = ct->th[d].next;
			ct->th[d].next = NULL;
			return;
		}
	}
}

static void ct_destroy(struct nf_net *n, struct nf_conn *ct)
{
	struct nf_conntrack_net *c = &n->ct;
	ct_hash_remove(n, ct, 0);
	ct_hash_remove(n, ct, 1);
	if (ct->lprev)
		ct->lprev->lnext = ct->lnext;
	else
		c->all = ct->lnext;
	if (ct->lnext)
		ct->lnext->lprev = ct->lprev;
	ct->lnext = ct->lprev = NULL;
	c->count--;
	c->stat.delete_++;
	ct->dying = 1;
	nf_conntrack_put(ct);
}

void nf_conntrack_get(struct nf_conn *ct)
{
	if (ct)
		ct->use++;
}

void nf_conntrack_put(struct nf_conn *ct)
{
	if (ct && --ct->use == 0)
		free(ct);
}

static struct nf_conn *ct_lookup(struct nf_net *n, const struct nf_conntrack_tuple *t, int *dir)
{
	struct nf_conntrack_net *c = &n->ct;
	unsigned h = tuple_hash(c, t, n->stack->secret[2]);
	for (struct nf_ct_thash *th = c->hash[h]; th; th = th->next) {
		if (tuple_eq(&th->ct->tuple[th->dir], t)) {
			*dir = th->dir;
			return th->ct;
		}
	}
	return NULL;
}

struct nf_conn *nf_ct_find(struct nf_net *n, const struct nf_conntrack_tuple *t, int *dir)
{
	int d = 0;
	struct nf_conn *ct = n->ct.hash ? ct_lookup(n, t, &d) : NULL;
	if (ct && ct->timeout <= np_stack_now(n->stack)) {
		ct_destroy(n, ct);
		ct = NULL;
	}
	if (dir)
		*dir = d;
	return ct;
}

int nf_ct_tuple_taken(struct nf_net *n, const struct nf_conntrack_tuple *t, const struct nf_conn *ignore)
{
	int d;
	struct nf_conn *ct = nf_ct_find(n, t, &d);
	return ct && ct != ignore;
}

int nf_ct_change_reply(struct nf_net *n, struct nf_conn *ct, const struct nf_conntrack_tuple *reply)
{
	if (nf_ct_tuple_taken(n, reply, ct))
		return -EEXIST;
	ct_hash_remove(n, ct, 1);
	ct->tuple[1] = *reply;
	ct_hash_insert(n, ct, 1);
	return 0;
}

/* ---- garbage collection ---- */

static void gc_worker(struct np_timer *t)
{
	struct nf_conntrack_net *c = container_of(t, struct nf_conntrack_net, gc_timer);
	struct nf_net *n = container_of(c, struct nf_net, ct);
	uint64_t now = np_stack_now(n->stack), next = UINT64_MAX;
	for (struct nf_conn *ct = c->all, *nx; ct; ct = nx) {
		nx = ct->lnext;
		if (ct->timeout <= now)
			ct_destroy(n, ct);
		else if (ct->timeout < next)
			next = ct->timeout;
	}
	if (next != UINT64_MAX)
		mod_timer(n->stack, &c->gc_timer, next);
}

static void gc_arm(struct nf_net *n, uint64_t when)
{
	struct nf_conntrack_net *c = &n->ct;
	if (!timer_pending(&c->gc_timer) || c->gc_timer.expires > when)
		mod_timer(n->stack, &c->gc_timer, when);
}

int nf_conntrack_enable(struct nf_net *n)
{
	struct nf_conntrack_net *c = &n->ct;
	if (c->enabled)
		return 0;
	c->hash = calloc(NF_CT_HASH_SIZE, sizeof(*c->hash));
	if (!c->hash)
		return -ENOMEM;
	c->hash_size = NF_CT_HASH_SIZE;
	c->next_id = 1;
	timer_setup(&c->gc_timer, gc_worker);
	c->enabled = 1;
	return 0;
}

void nf_conntrack_free(struct nf_net *n)
{
	struct nf_conntrack_net *c = &n->ct;
	if (!c->enabled)
		return;
	del_timer(n->stack, &c->gc_timer);
	while (c->all) {
		/* An skb still queued somewhere keeps its entry until it is freed. */
		struct nf_conn *ct = c->all;
		c->all = ct->lnext;
		ct->dying = 1;
		nf_conntrack_put(ct);
	}
	free(c->hash);
	memset(c, 0, sizeof(*c));
}

/* ---- the packet's classification (skb->_nfct) ---- */

static void ct_record(struct sk_buff *skb, struct nf_conn *ct, int dir, unsigned state)
{
	nf_conntrack_get(ct);
	nf_conntrack_put(skb->_nfct);
	skb->_nfct = ct;
	skb->nfct_dir = (uint8_t)dir;
	skb->nfct_state = (uint8_t)state;
}

struct nf_conn *nf_ct_get(struct nf_net *n, const struct sk_buff *skb, int *dir, unsigned *state)
{
	*dir = skb->nfct_dir;
	*state = skb->nfct_state;
	if (!n->ct.enabled || !skb->_nfct || skb->_nfct->dying)
		return NULL;
	return skb->_nfct;
}

/* ---- protocol trackers ---- */

/*
 * Simplified nf_conntrack_proto_tcp state table: follows the handshake and
 * the close without window tracking. Returns 0, or -1 for a segment the
 * state does not allow (classified INVALID, state unchanged).
 */
static int tcp_packet(struct nf_conn *ct, int dir, uint8_t flags)
{
	uint8_t st = ct->tcp_state;
	if (flags & TCPF_RST) {
		ct->tcp_state = TCP_CONNTRACK_CLOSE;
		return 0;
	}
	if ((flags & (TCPF_SYN | TCPF_ACK)) == TCPF_SYN) {
		if (dir == IP_CT_DIR_ORIGINAL) {
			if (st == TCP_CONNTRACK_NONE || st == TCP_CONNTRACK_SYN_SENT || st == TCP_CONNTRACK_CLOSE ||
			    st == TCP_CONNTRACK_TIME_WAIT) {
				ct->tcp_state = TCP_CONNTRACK_SYN_SENT;
				if (st == TCP_CONNTRACK_CLOSE || st == TCP_CONNTRACK_TIME_WAIT)
					ct->status &= ~(unsigned)(IPS_SEEN_REPLY | IPS_ASSURED);
			}
			return 0;
		}
		/* Simultaneous open. */
		if (st == TCP_CONNTRACK_SYN_SENT)
			ct->tcp_state = TCP_CONNTRACK_SYN_RECV;
		return st == TCP_CONNTRACK_SYN_SENT ? 0 : -1;
	}
	if ((flags & (TCPF_SYN | TCPF_ACK)) == (TCPF_SYN | TCPF_ACK)) {
		if (dir == IP_CT_DIR_REPLY && (st == TCP_CONNTRACK_SYN_SENT || st == TCP_CONNTRACK_SYN_RECV)) {
			ct->tcp_state = TCP_CONNTRACK_SYN_RECV;
			return 0;
		}
		return st >= TCP_CONNTRACK_ESTABLISHED ? 0 : -1;
	}
	if (st == TCP_CONNTRACK_SYN_SENT)
		return -1; /* only a SYN/ACK (or RST) may answer a SYN */
	if (flags & TCPF_FIN) {
		if (st == TCP_CONNTRACK_ESTABLISHED || st == TCP_CONNTRACK_SYN_RECV) {
			ct->tcp_state = TCP_CONNTRACK_FIN_WAIT;
			ct->tcp_fin_dir = (uint8_t)dir;
			ct->status |= IPS_ASSURED;
		} else if ((st == TCP_CONNTRACK_FIN_WAIT || st == TCP_CONNTRACK_CLOSE_WAIT) && dir != ct->tcp_fin_dir) {
			ct->tcp_state = TCP_CONNTRACK_LAST_ACK;
		}
		return 0;
	}
	if (flags & TCPF_ACK) {
		if (st == TCP_CONNTRACK_SYN_RECV && dir == IP_CT_DIR_ORIGINAL) {
			ct->tcp_state = TCP_CONNTRACK_ESTABLISHED;
			ct->status |= IPS_ASSURED;
		} else if (st == TCP_CONNTRACK_FIN_WAIT && dir != ct->tcp_fin_dir) {
			ct->tcp_state = TCP_CONNTRACK_CLOSE_WAIT;
		} else if (st == TCP_CONNTRACK_LAST_ACK && dir == ct->tcp_fin_dir) {
			ct->tcp_state = TCP_CONNTRACK_TIME_WAIT;
		}
		return 0;
	}
	return -1; /* no SYN, ACK or RST */
}

static int icmp_is_query_request(uint8_t type)
{
	return type == ICMP_ECHO || type == ICMP_TIMESTAMP || type == 15 /* info request */ || type == 17;
}

/* Tuple of the packet quoted in an ICMP error (RFC 792: IP header + 8 bytes). */
static int icmp_inner_tuple(const struct nf_pkt *p, struct nf_conntrack_tuple *t)
{
	const uint8_t *in = p->l4 + ICMP_HLEN;
	uint32_t left = p->l4len - ICMP_HLEN;
	if (p->l4len < ICMP_HLEN + IPV4_HLEN_MIN)
		return -1;
	uint32_t ihl = (uint32_t)(in[0] & 0x0f) * 4;
	if ((in[0] >> 4) != 4 || ihl < IPV4_HLEN_MIN || left < ihl + 8)
		return -1;
	memset(t, 0, sizeof(*t));
	t->src = be32_get(in + 12);
	t->dst = be32_get(in + 16);
	t->proto = in[9];
	const uint8_t *l4 = in + ihl;
	if (t->proto == IPPROTO_TCP_ || t->proto == IPPROTO_UDP_) {
		t->sport = be16_get(l4);
		t->dport = be16_get(l4 + 2);
	} else if (t->proto == IPPROTO_ICMP_) {
		if (icmp_is_error(l4[0]))
			return -1; /* no error about an error (RFC 1122 3.2.2) */
		t->sport = be16_get(l4 + 4);
	}
	return 0;
}

/*
 * Classifies skb (not consumed): finds or creates its conntrack, runs the
 * protocol tracker and records the result for the later hooks. Returns 0,
 * or -1 with *reason when a new flow finds the table full.
 */
int nf_conntrack_in(struct nf_net *n, struct sk_buff *skb, enum np_drop_reason *reason)
{
	struct nf_conntrack_net *c = &n->ct;
	struct np_stack *s = n->stack;
	struct nf_pkt p;
	if (nf_pkt_parse(skb, &p) < 0)
		return 0;
	/* Fragments are tracked once reassembled (LOCAL_IN); forwarded ones stay untracked. */
	if (p.nonfirst_frag || (be16_get(p.iph + 6) & 0x2000)) {
		ct_record(skb, NULL, 0, NF_CT_UNTRACKED);
		return 0;
	}
	if (!p.has_l4 && (p.proto == IPPROTO_TCP_ || p.proto == IPPROTO_UDP_ || p.proto == IPPROTO_ICMP_)) {
		c->stat.invalid++;
		ct_record(skb, NULL, 0, NF_CT_INVALID);
		return 0;
	}
	uint64_t now = np_stack_now(s);
	struct nf_conntrack_tuple t = { .src = p.saddr, .dst = p.daddr, .proto = p.proto };
	int dir = IP_CT_DIR_ORIGINAL;

	if (p.proto == IPPROTO_ICMP_ && icmp_is_error(p.icmp_type)) {
		/* RELATED: an error about a flow we track (nf_conntrack_icmpv4_error). */
		/*
		 * The quote is a packet of the flow going the other way, as it
		 * left the last NAT: its inverse is the tuple the error's own
		 * direction has (nf_conntrack_icmpv4_error inverts it the same way).
		 */
		struct nf_conntrack_tuple in, inv;
		struct nf_conn *ct = NULL;
		if (icmp_inner_tuple(&p, &in) == 0) {
			tuple_invert(&in, &inv);
			ct = nf_ct_find(n, &inv, &dir);
		}
		if (!ct) {
			c->stat.invalid++;
			ct_record(skb, NULL, 0, NF_CT_INVALID);
			return 0;
		}
		c->stat.related++;
		ct_record(skb, ct, dir, NF_CT_RELATED);
		return 0;
	}
	if (p.proto == IPPROTO_TCP_ || p.proto == IPPROTO_UDP_) {
		t.sport = p.sport;
		t.dport = p.dport;
	} else if (p.proto == IPPROTO_ICMP_) {
		t.sport = p.sport;
	}

	struct nf_conn *ct = nf_ct_find(n, &t, &dir);
	if (!ct) {
		/* Only a flow's first packet may create it (nf_conntrack_tcp_loose=0, ICMP requests only). */
		if ((p.proto == IPPROTO_TCP_ && (p.tcp_flags & (TCPF_SYN | TCPF_ACK | TCPF_RST)) != TCPF_SYN) ||
		    (p.proto == IPPROTO_ICMP_ && !icmp_is_query_request(p.icmp_type))) {
			c->stat.invalid++;
			ct_record(skb, NULL, 0, NF_CT_INVALID);
			return 0;
		}
		if ((long)c->count >= s->sysctl.nf_conntrack_max) {
			/* Linux: "nf_conntrack: table full, dropping packet" after early_drop failed. */
			c->stat.drop++;
			trace_stage_detail(skb, "nf_conntrack_in", "table full");
			*reason = NP_DROP_NF_CONNTRACK_FULL;
			return -1;
		}
		ct = calloc(1, sizeof(*ct));
		if (!ct) {
			*reason = NP_DROP_NOMEM;
			return -1;
		}
		ct->id = c->next_id++;
		ct->use = 1;
		ct->tuple[0] = t;
		tuple_invert(&t, &ct->tuple[1]);
		ct->timeout = now + NF_CT_UNCONFIRMED_NS;
		ct_hash_insert(n, ct, 0);
		ct_hash_insert(n, ct, 1);
		ct->lnext = c->all;
		if (c->all)
			c->all->lprev = ct;
		c->all = ct;
		c->count++;
		c->stat.new_++;
		gc_arm(n, ct->timeout);
		dir = IP_CT_DIR_ORIGINAL;
	} else {
		c->stat.found++;
	}

	unsigned state;
	int bad = 0;
	if (p.proto == IPPROTO_TCP_)
		bad = tcp_packet(ct, dir, p.tcp_flags) < 0;
	else if (p.proto == IPPROTO_ICMP_)
		bad = (dir == IP_CT_DIR_ORIGINAL) != icmp_is_query_request(p.icmp_type);
	if (bad) {
		c->stat.invalid++;
		ct_record(skb, NULL, 0, NF_CT_INVALID);
		return 0;
	}
	if (dir == IP_CT_DIR_REPLY && !(ct->status & IPS_SEEN_REPLY)) {
		ct->status |= IPS_SEEN_REPLY;
		if (p.proto != IPPROTO_TCP_)
			ct->status |= IPS_ASSURED;
	}
	state = (dir == IP_CT_DIR_ORIGINAL && !(ct->status & IPS_SEEN_REPLY)) ? NF_CT_NEW : NF_CT_ESTABLISHED;
	ct->packets[dir]++;
	ct->bytes[dir] += p.len;
	if (ct->status & IPS_CONFIRMED) {
		ct->timeout = now + ct_timeout_ns(ct);
		gc_arm(n, ct->timeout);
	}
	ct_record(skb, ct, dir, state);
	return 0;
}

void nf_conntrack_confirm(struct nf_net *n, struct nf_conn *ct)
{
	ct->status |= IPS_CONFIRMED;
	ct->timeout = np_stack_now(n->stack) + ct_timeout_ns(ct);
	n->ct.stat.insert++;
	gc_arm(n, ct->timeout);
}

/* conntrack -L, then conntrack -S style totals. */
void nf_conntrack_print(struct nf_net *n, FILE *out)
{
	struct nf_conntrack_net *c = &n->ct;
	uint64_t now = np_stack_now(n->stack);
	fprintf(out, "conntrack: %u flows (nf_conntrack_max %ld)\n", c->count, n->stack->sysctl.nf_conntrack_max);
	for (struct nf_conn *ct = c->all; ct; ct = ct->lnext) {
		if (!(ct->status & IPS_CONFIRMED) || ct->timeout <= now)
			continue;
		const char *pn = ct->tuple[0].proto == IPPROTO_TCP_ ? "tcp"
				 : ct->tuple[0].proto == IPPROTO_UDP_ ? "udp"
				 : ct->tuple[0].proto == IPPROTO_ICMP_ ? "icmp" : "unknown";
		fprintf(out, "%-8s %-2u %llu ", pn, ct->tuple[0].proto,
			(unsigned long long)((ct->timeout - now) / NSEC_PER_SEC));
		if (ct->tuple[0].proto == IPPROTO_TCP_)
			fprintf(out, "%s ", nf_ct_tcp_state_name(ct->tcp_state));
		for (int d = 0; d < 2; d++) {
			char a[16], b[16];
			const struct nf_conntrack_tuple *t = &ct->tuple[d];
			fprintf(out, "src=%s dst=%s ", ipv4_ntoa(t->src, a), ipv4_ntoa(t->dst, b));
			if (t->proto == IPPROTO_ICMP_)
				fprintf(out, "id=%u ", t->sport);
			else if (t->proto == IPPROTO_TCP_ || t->proto == IPPROTO_UDP_)
				fprintf(out, "sport=%u dport=%u ", t->sport, t->dport);
			fprintf(out, "packets=%llu bytes=%llu ", (unsigned long long)ct->packets[d],
				(unsigned long long)ct->bytes[d]);
			if (d == 0 && !(ct->status & IPS_SEEN_REPLY))
				fprintf(out, "[UNREPLIED] ");
		}
		fprintf(out, "%s\n", (ct->status & IPS_ASSURED) ? "[ASSURED]" : "");
	}
	fprintf(out, "conntrack stats: found=%llu new=%llu invalid=%llu insert=%llu drop=%llu delete=%llu related=%llu\n",
		(unsigned long long)c->stat.found, (unsigned long long)c->stat.new_,
		(unsigned long long)c->stat.invalid, (unsigned long long)c->stat.insert,
		(unsigned long long)c->stat.drop, (unsigned long long)c->stat.delete_,
		(unsigned long long)c->stat.related);
}
