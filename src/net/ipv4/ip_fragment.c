/*
 * IPv4 fragmentation and reassembly (Linux's ip_do_fragment in
 * net/ipv4/ip_output.c and net/ipv4/ip_fragment.c), RFC 791 2.3 and 3.2,
 * RFC 815, RFC 5722 (overlaps), RFC 1191 (fragmentation needed).
 * Place in the packet path:
 *   send:    ... ip_output -> NF_INET_POST_ROUTING -> ip_finish_output
 *            -> ip_fragment (skb->len > route MTU) -> output (ip_finish_output2) per fragment
 *   receive: ip_rcv_finish -> ip_local_deliver -> ip_defrag -> ip_frag_queue
 *            -> ip_frag_reasm (last missing piece) -> NF_INET_LOCAL_IN -> ...
 *   timers:  ip_expire (net.ipv4.ipfrag_time) -> icmp_send time exceeded code 1
 *
 * Tracing: each fragment ip_fragment makes is a new traced packet (its path
 * starts at "ip_fragment" with "frag i/n off X len Y"), and the datagram's own
 * path ends there as consumed. On receive each fragment's path stops at
 * "ip_defrag" ("queued"); it ends when its queue does: consumed when the
 * datagram is complete, or dropped under the reason that killed the queue
 * (overlap, timeout, memory ...). The reassembled datagram starts a new path
 * at "ip_frag_reasm" and goes on through LOCAL_IN to its protocol.
 *
 * Reassembly state is per stack (s->ipfrag): a hash of queues keyed by
 * (saddr, daddr, id, protocol), an age list (oldest first) for eviction, and
 * the bytes held (the fragments' truesize plus the queue heads), kept under
 * net.ipv4.ipfrag_high_thresh: when a fragment would push it over, the
 * oldest queues are evicted down to ipfrag_low_thresh. A queue keeps its
 * fragments in an array sorted by offset: appending in order is O(1), any
 * other insert is a binary search plus a memmove of pointers, never a walk
 * of the data.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/netdevice.h"
#include "core/stack.h"
#include "core/timer.h"
#include "net/ipv4/icmp.h"
#include "net/ipv4/ip.h"
#include "trace/trace.h"
#include "wire/checksum.h"
#include "wire/icmp.h"
#include "wire/ipv4.h"

/*
 * Fragments one queue may hold. Linux bounds disorder instead
 * (ipfrag_max_dist); a count cap is simpler and still lets any datagram
 * through when fragments carry at least 256 data bytes (65,535 / 256).
 */
#ifndef NP_IPFRAG_MAX_FRAGS
#define NP_IPFRAG_MAX_FRAGS 256
#endif
#define IPQ_HASHSZ 1024
#define IP_MAX_DGRAM 65535u
/* RFC 791 3.1: option types whose copy bit (0x80) is set travel in every fragment. */
#define IPOPT_END 0
#define IPOPT_NOOP 1
#define IPOPT_COPY 0x80

struct ipfrag_ent {
	uint32_t offset, end;     /* data bytes [offset, end) of the datagram */
	struct sk_buff *skb;      /* data at the fragment's IP header */
};

/* One datagram being reassembled (Linux's struct ipq). */
struct ipq {
	struct ipq *hnext;                  /* hash chain */
	struct ipq *older, *newer;          /* age list */
	struct np_stack *stack;
	uint32_t saddr, daddr;
	uint16_t id;
	uint8_t protocol;
	uint8_t first_in, last_in;          /* INET_FRAG_FIRST_IN / INET_FRAG_LAST_IN */
	uint32_t len;                       /* datagram data length: known once last_in */
	uint32_t meat;                      /* data bytes held */
	uint32_t max_size;                  /* largest fragment (header + data) */
	size_t mem;                         /* bytes charged to the table */
	unsigned n, cap;
	struct ipfrag_ent *frags;           /* sorted by offset, never overlapping */
	struct np_timer timer;              /* ip_expire */
};

struct ipq_table {
	struct ipq *hash[IPQ_HASHSZ];
	struct ipq *oldest, *newest;
	size_t mem;
	unsigned count;
};

/* What a queued skb costs (Linux's truesize): its buffer plus its head. */
static size_t frag_truesize(const struct sk_buff *skb)
{
	return (size_t)skb->end + sizeof(struct sk_buff);
}

/* ---- fragmentation ----------------------------------------------------- */

int ip_exceeds_mtu(const struct sk_buff *skb, uint32_t mtu)
{
	const uint8_t *iph = skb->data;
	if (skb_is_gso(skb) && skb->len >= 20) {
		/* Linux's gso_validate_network_len: what counts is each segment it becomes. */
		uint32_t ihl = (uint32_t)(iph[0] & 0x0f) * 4;
		uint32_t doff = skb->len >= ihl + 20 ? (uint32_t)(iph[ihl + 12] >> 4) * 4 : 20;
		return ihl + doff + skb_shinfo(skb)->gso_size > mtu;
	}
	return skb->len > mtu && (be16_get(iph + 6) & IP_DF);
}

/*
 * RFC 791 3.1/3.2: the options a non-first fragment carries, those with the
 * copy bit, padded with End of Option List to a 4-byte multiple. Returns
 * the new options length. The walk is bounded: ip_rcv checked the options of
 * a received datagram and we emitted our own.
 */
static size_t ip_options_fragment(const uint8_t *opt, size_t len, uint8_t *out)
{
	size_t i = 0, o = 0;

	while (i < len) {
		uint8_t type = opt[i];
		if (type == IPOPT_END)
			break;
		if (type == IPOPT_NOOP) {
			i++;
			continue;
		}
		if (len - i < 2 || opt[i + 1] < 2 || opt[i + 1] > len - i)
			break;
		if (type & IPOPT_COPY) {
			memcpy(out + o, opt + i, opt[i + 1]);
			o += opt[i + 1];
		}
		i += opt[i + 1];
	}
	while (o % 4)
		out[o++] = IPOPT_END;
	return o;
}

/* Consumes skb (data at the IP header); see ip.h. Linux's ip_fragment + ip_do_fragment (slow path). */
int ip_fragment(struct np_stack *s, struct sk_buff *skb, uint32_t mtu,
		int (*output)(struct np_stack *s, struct sk_buff *skb))
{
	struct ipv4_repr iph;
	enum np_drop_reason reason = NP_DROP_PKT_TOO_BIG;
	int err = -EMSGSIZE;

	trace_stage(skb, "ip_fragment");
	if (ipv4_parse(skb->data, skb->len, &iph) < 0) {
		reason = NP_DROP_IP_INHDR;
		err = -EINVAL;
		goto fail;
	}
	if (iph.frag_off & IP_DF) {
		/*
		 * RFC 1191 / RFC 1122 3.3.3: DF forbids it. Like Linux, tell the
		 * source (a forwarded packet's sender, or ourselves for a local
		 * one) the MTU that would have worked.
		 */
		NP_INC_STATS(s, IpFragFails);
		icmp_send(skb, ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED, mtu);
		kfree_skb_reason(skb, NP_DROP_PKT_TOO_BIG);
		return -EMSGSIZE;
	}
	/* RFC 791: every fragment carries the header and at least 8 data bytes. */
	if (mtu < (uint32_t)iph.ihl + 8)
		goto fail;

	uint8_t fopt[IPV4_HLEN_MAX - IPV4_HLEN_MIN];
	size_t fopt_len = ip_options_fragment(iph.options, iph.options_len, fopt);
	uint32_t left = iph.tot_len - iph.ihl;
	const uint8_t *data = skb->data + iph.ihl;
	uint32_t base = (uint32_t)(iph.frag_off & IP_OFFSET) << 3;
	/* Refragmenting a fragment (forwarding): its MF stays on every piece. */
	int not_last = !!(iph.frag_off & IP_MF);
	uint32_t pos = 0;
	unsigned idx = 0, total = 0;

	/* Count first, so each fragment's trace can say "i of n". */
	for (uint32_t p = 0, hl = iph.ihl; p < left; hl = IPV4_HLEN_MIN + (uint32_t)fopt_len) {
		uint32_t room = (mtu - hl) & ~7u;
		p += left - p > mtu - hl ? room : left - p;
		total++;
	}

	while (pos < left) {
		int first = pos == 0;
		uint32_t hlen = first ? iph.ihl : IPV4_HLEN_MIN + (uint32_t)fopt_len;
		uint32_t len = left - pos;
		/* Every fragment but the last carries a multiple of 8 data bytes (RFC 791 3.1). */
		if (len > mtu - hlen)
			len = (mtu - hlen) & ~7u;

		struct sk_buff *f = alloc_skb(s, hlen + len);
		if (!f) {
			reason = NP_DROP_NOMEM;
			err = -ENOBUFS;
			goto fail;
		}
		f->dev = skb->dev;
		f->protocol = skb->protocol;
		f->priority = skb->priority;
		f->mark = skb->mark;
		f->tstamp = skb->tstamp;
		f->rt = skb->rt;
		f->rt_valid = skb->rt_valid;
		memcpy(f->cb, skb->cb, sizeof(f->cb));
		trace_begin(f, 1);

		uint8_t *h = skb_put(f, hlen + len);
		struct ipv4_repr fr = iph;
		fr.tot_len = (uint16_t)(hlen + len);
		fr.frag_off = (uint16_t)(((base + pos) >> 3) | ((pos + len < left || not_last) ? IP_MF : 0));
		fr.options = first ? iph.options : fopt;
		fr.options_len = (uint8_t)(hlen - IPV4_HLEN_MIN);
		if (!fr.options_len)
			fr.options = NULL;
		ipv4_emit(&fr, h, hlen);
		memcpy(h + hlen, data + pos, len);
		skb_reset_network_header(f);
		f->transport_header = (uint16_t)(f->network_header + hlen);
		IPCB(f)->frag_off = fr.frag_off;
		IPCB(f)->ihl = (uint8_t)hlen;

		idx++;
		if (f->trace) {
			char d[64];
			snprintf(d, sizeof(d), "frag %u/%u off %u len %u", idx, total, base + pos, len);
			trace_stage_detail(f, "ip_fragment", d);
		}
		pos += len;
		NP_INC_STATS(s, IpFragCreates);
		err = output(s, f);
		if (err < 0 && err != -ENOBUFS) {
			/* Linux stops at the first fragment the link refuses; the rest would be useless. */
			reason = NP_DROP_NOT_SPECIFIED;
			goto fail;
		}
	}
	NP_INC_STATS(s, IpFragOKs);
	consume_skb(skb);
	return 0;

fail:
	NP_INC_STATS(s, IpFragFails);
	kfree_skb_reason(skb, reason);
	return err;
}

/* ---- reassembly: the table ----------------------------------------------- */

int ipfrag_init(struct np_stack *s)
{
	s->ipfrag = calloc(1, sizeof(*s->ipfrag));
	return s->ipfrag ? 0 : -ENOMEM;
}

size_t ipfrag_mem(const struct np_stack *s) { return s->ipfrag ? s->ipfrag->mem : 0; }
unsigned ipfrag_queues(const struct np_stack *s) { return s->ipfrag ? s->ipfrag->count : 0; }

static unsigned ipq_hash(const struct np_stack *s, uint32_t saddr, uint32_t daddr, uint16_t id, uint8_t proto)
{
	/* Keyed, so a sender cannot aim all its queues at one chain. */
	uint32_t h = saddr * 0x9e3779b1u ^ s->secret[2];
	h = (h ^ daddr) * 0x85ebca6bu;
	h = (h ^ ((uint32_t)id << 8 | proto) ^ s->secret[3]) * 0xc2b2ae35u;
	h ^= h >> 16;
	return h % IPQ_HASHSZ;
}

/* Unhashes q, stops its timer and frees it with every fragment it holds (under reason). */
static void ipq_kill(struct np_stack *s, struct ipq *q, enum np_drop_reason reason)
{
	struct ipq_table *t = s->ipfrag;
	struct ipq **pp = &t->hash[ipq_hash(s, q->saddr, q->daddr, q->id, q->protocol)];

	while (*pp && *pp != q)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = q->hnext;
	if (q->older)
		q->older->newer = q->newer;
	else
		t->oldest = q->newer;
	if (q->newer)
		q->newer->older = q->older;
	else
		t->newest = q->older;
	del_timer(s, &q->timer);
	for (unsigned i = 0; i < q->n; i++)
		kfree_skb_reason(q->frags[i].skb, reason);
	t->mem -= q->mem;
	t->count--;
	free(q->frags);
	free(q);
}

void ipfrag_free(struct np_stack *s)
{
	if (!s->ipfrag)
		return;
	while (s->ipfrag->oldest)
		ipq_kill(s, s->ipfrag->oldest, NP_DROP_STACK_SHUTDOWN);
	free(s->ipfrag);
	s->ipfrag = NULL;
}

/*
 * Timer (Linux's ip_expire): RFC 791 3.2 / RFC 1122 3.3.2, the datagram
 * did not complete in time. Only if its first fragment arrived can we quote
 * it, so only then the source hears ICMP time exceeded, code 1.
 */
static void ip_expire(struct np_timer *tm)
{
	struct ipq *q = container_of(tm, struct ipq, timer);
	struct np_stack *s = q->stack;

	NP_INC_STATS(s, IpReasmFails);
	NP_INC_STATS(s, IpReasmTimeout);
	if (q->first_in && q->n && q->frags[0].offset == 0) {
		struct sk_buff *head = q->frags[0].skb;
		trace_stage(head, "ip_expire");
		icmp_send(head, ICMP_TIME_EXCEEDED, ICMP_EXC_FRAGTIME, 0);
	}
	ipq_kill(s, q, NP_DROP_FRAG_REASM_TIMEOUT);
}

/* Evicts the oldest queues until the table holds at most ipfrag_low_thresh bytes (Linux's evictor). */
static void ip_evictor(struct np_stack *s, const struct ipq *keep)
{
	struct ipq_table *t = s->ipfrag;
	size_t low = (size_t)s->sysctl.ipfrag_low_thresh;

	while (t->mem > low && t->oldest) {
		struct ipq *q = t->oldest;
		if (q == keep) {
			if (!q->newer)
				break;
			q = q->newer;
		}
		NP_INC_STATS(s, IpReasmFails);
		ipq_kill(s, q, NP_DROP_IP_FRAG_MEM_LIMIT);
	}
}

/* Finds or creates the queue for the fragment's key; NULL on no memory. */
static struct ipq *ip_find(struct np_stack *s, const struct inet_skb_parm *cb)
{
	struct ipq_table *t = s->ipfrag;
	unsigned h = ipq_hash(s, cb->saddr, cb->daddr, cb->id, cb->protocol);

	for (struct ipq *q = t->hash[h]; q; q = q->hnext)
		if (q->saddr == cb->saddr && q->daddr == cb->daddr && q->id == cb->id && q->protocol == cb->protocol)
			return q;
	struct ipq *q = calloc(1, sizeof(*q));
	if (!q)
		return NULL;
	q->stack = s;
	q->saddr = cb->saddr;
	q->daddr = cb->daddr;
	q->id = cb->id;
	q->protocol = cb->protocol;
	q->mem = sizeof(*q);
	timer_setup(&q->timer, ip_expire);
	if (mod_timer(s, &q->timer, np_stack_now(s) + (uint64_t)s->sysctl.ipfrag_time * NSEC_PER_SEC) < 0) {
		free(q);
		return NULL;
	}
	q->hnext = t->hash[h];
	t->hash[h] = q;
	q->older = t->newest;
	if (t->newest)
		t->newest->newer = q;
	else
		t->oldest = q;
	t->newest = q;
	t->mem += q->mem;
	t->count++;
	return q;
}

/* ---- reassembly: one datagram ---------------------------------------------- */

/*
 * Builds the whole datagram from q (complete) as one linear skb of its final
 * size (Linux's ip_frag_reasm); kills q. Returns it, or NULL if it is too
 * long for IP or memory ran out (q killed, counted).
 */
static struct sk_buff *ip_frag_reasm(struct np_stack *s, struct ipq *q, struct sk_buff *last)
{
	struct sk_buff *head = q->frags[0].skb;
	uint32_t ihl = IPCB(head)->ihl;
	uint32_t tot = ihl + q->len;

	struct sk_buff *skb = tot <= IP_MAX_DGRAM ? alloc_skb(s, tot) : NULL;
	if (!skb) {
		NP_INC_STATS(s, IpReasmFails);
		ipq_kill(s, q, tot > IP_MAX_DGRAM ? NP_DROP_PKT_TOO_BIG : NP_DROP_NOMEM);
		return NULL;
	}
	uint8_t *p = skb_put(skb, tot);
	memcpy(p, head->data, ihl);
	for (unsigned i = 0; i < q->n; i++) {
		const struct ipfrag_ent *e = &q->frags[i];
		memcpy(p + ihl + e->offset, e->skb->data + IPCB(e->skb)->ihl, e->end - e->offset);
	}
	/* The datagram's header: the first fragment's, whole again (MF and offset clear, DF kept). */
	be16_put(p + 2, (uint16_t)tot);
	be16_put(p + 6, be16_get(p + 6) & IP_DF);
	be16_put(p + 10, 0);
	be16_put(p + 10, ip_compute_csum(p, ihl));

	skb->dev = last->dev;
	skb->pkt_type = head->pkt_type;
	skb->protocol = head->protocol;
	skb->tstamp = last->tstamp;
	skb->mark = head->mark;
	skb->rt = last->rt;
	skb->rt_valid = last->rt_valid;
	memcpy(skb->cb, head->cb, sizeof(skb->cb));
	IPCB(skb)->frag_off &= IP_DF;
	IPCB(skb)->flags |= IPSKB_FRAG_COMPLETE;
	skb_reset_network_header(skb);
	skb->transport_header = (uint16_t)(skb->network_header + ihl);
	trace_begin(skb, 0);
	if (skb->trace) {
		char d[64];
		snprintf(d, sizeof(d), "%u fragments, %u bytes", q->n, tot);
		trace_stage_detail(skb, "ip_frag_reasm", d);
	}
	/* The queued fragments end normally: their bytes live on in skb. */
	for (unsigned i = 0; i < q->n; i++)
		consume_skb(q->frags[i].skb);
	q->n = 0;
	ipq_kill(s, q, NP_DROP_NOT_SPECIFIED);
	NP_INC_STATS(s, IpReasmOKs);
	return skb;
}

/* Index of the first fragment whose end is past offset (binary search over the sorted array). */
static unsigned ipq_search(const struct ipq *q, uint32_t offset)
{
	unsigned lo = 0, hi = q->n;
	while (lo < hi) {
		unsigned mid = (lo + hi) / 2;
		if (q->frags[mid].end <= offset)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Consumes *pskb; see ip.h. Linux's ip_defrag + ip_frag_queue. */
int ip_defrag(struct np_stack *s, struct sk_buff **pskb)
{
	struct sk_buff *skb = *pskb;
	struct inet_skb_parm *cb = IPCB(skb);
	enum np_drop_reason reason;
	struct ipq *q;

	trace_stage(skb, "ip_defrag");
	NP_INC_STATS(s, IpReasmReqds);
	*pskb = NULL;

	uint32_t ihl = cb->ihl;
	uint32_t offset = (uint32_t)(cb->frag_off & IP_OFFSET) << 3;
	uint32_t end = offset + (skb->len - ihl);
	int more = !!(cb->frag_off & IP_MF);

	q = ip_find(s, cb);
	if (!q) {
		NP_INC_STATS(s, IpReasmFails);
		kfree_skb_reason(skb, NP_DROP_NOMEM);
		return -ENOMEM;
	}

	/* RFC 791 3.1: fragments but the last carry multiples of 8 bytes; Linux trims the excess. */
	if (more && (end & 7)) {
		end &= ~7u;
		skb_trim(skb, ihl + (end - offset));
	}
	/* The ping of death: no datagram may be longer than 65,535 bytes (RFC 791 3.1). */
	if (ihl + end > IP_MAX_DGRAM) {
		reason = NP_DROP_PKT_TOO_BIG;
		goto discard_qp;
	}
	if (!more) {
		/* A last fragment that ends before data we hold, or a second one elsewhere: corrupt. */
		if (end < q->len || (q->last_in && end != q->len)) {
			reason = NP_DROP_IP_FRAG_INVALID;
			goto discard_qp;
		}
		q->last_in = 1;
		q->len = end;
	} else if (end > q->len) {
		if (q->last_in) {
			reason = NP_DROP_IP_FRAG_INVALID;
			goto discard_qp;
		}
		q->len = end;
	}
	/* Linux kills the queue for a fragment without data. */
	if (end == offset) {
		reason = NP_DROP_IP_FRAG_INVALID;
		goto discard_qp;
	}

	/* Where it goes: O(1) for the common in-order append, a binary search otherwise. */
	unsigned at;
	if (!q->n || q->frags[q->n - 1].end <= offset) {
		at = q->n;
	} else {
		at = ipq_search(q, offset);
		uint32_t covered = 0, cur = offset;
		int contiguous = 1;
		for (unsigned i = at; i < q->n && q->frags[i].offset < end; i++) {
			if (q->frags[i].offset > cur)
				contiguous = 0;
			uint32_t lo = q->frags[i].offset > offset ? q->frags[i].offset : offset;
			uint32_t hi = q->frags[i].end < end ? q->frags[i].end : end;
			covered += hi - lo;
			cur = q->frags[i].end;
		}
		if (covered == end - offset && contiguous) {
			/* Every byte is already held: a duplicate, dropped alone (RFC 5722 4). */
			kfree_skb_reason(skb, NP_DROP_DUP_FRAG);
			return -EINVAL;
		}
		if (covered) {
			/* RFC 5722 4 (errata 3089): an overlap discards the whole datagram. */
			NP_INC_STATS(s, IpExtReasmOverlaps);
			reason = NP_DROP_IP_FRAG_OVERLAP;
			goto discard_qp;
		}
	}
	if (q->n >= NP_IPFRAG_MAX_FRAGS) {
		reason = NP_DROP_IP_FRAG_TOO_MANY;
		goto discard_qp;
	}
	if (q->n == q->cap) {
		unsigned cap = q->cap ? q->cap * 2 : 8;
		struct ipfrag_ent *v = realloc(q->frags, cap * sizeof(*v));
		if (!v) {
			reason = NP_DROP_NOMEM;
			goto discard_qp;
		}
		q->frags = v;
		q->cap = cap;
	}
	memmove(&q->frags[at + 1], &q->frags[at], (q->n - at) * sizeof(q->frags[0]));
	q->frags[at] = (struct ipfrag_ent){ .offset = offset, .end = end, .skb = skb };
	q->n++;
	q->meat += end - offset;
	if (offset == 0)
		q->first_in = 1;
	if (skb->len > q->max_size)
		q->max_size = skb->len;
	size_t ts = frag_truesize(skb);
	q->mem += ts;
	s->ipfrag->mem += ts;
	struct sk_buff *last = skb;

	if (q->first_in && q->last_in && q->meat == q->len) {
		struct sk_buff *whole = ip_frag_reasm(s, q, last);
		if (!whole)
			return -ENOMEM;
		*pskb = whole;
		return 0;
	}
	/* Queued: this path ends here; the device may go away before the datagram completes. */
	trace_stage_detail(skb, "ip_defrag", "queued");
	skb->dev = NULL;
	/* ipfrag_high_thresh, checked on every fragment: evict the oldest queues down to low_thresh. */
	if (s->ipfrag->mem > (size_t)s->sysctl.ipfrag_high_thresh) {
		ip_evictor(s, q);
		if (s->ipfrag->mem > (size_t)s->sysctl.ipfrag_high_thresh) {
			/* This datagram alone is over the budget. */
			NP_INC_STATS(s, IpReasmFails);
			ipq_kill(s, q, NP_DROP_IP_FRAG_MEM_LIMIT);
			return -ENOMEM;
		}
	}
	return -EINPROGRESS;

discard_qp:
	NP_INC_STATS(s, IpReasmFails);
	ipq_kill(s, q, reason);
	kfree_skb_reason(skb, reason);
	return -EINVAL;
}
