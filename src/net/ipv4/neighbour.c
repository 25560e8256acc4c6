/*
 * The neighbour table for IPv4 over Ethernet (Linux's net/core/neighbour.c
 * with arp_tbl's parameters).
 * Place in the packet path (seed 002, "neighbor output"):
 *   ip_finish_output2 -> neigh_output -> cached header (NUD_CONNECTED)
 *                                    \-> neigh_resolve_output -> neigh_event_send
 *                                          -> queue on arp_queue + neigh_probe -> arp_solicit
 *   arp_rcv -> arp_process -> neigh_event_ns / neigh_rcv_update -> neigh_update
 *     -> flush arp_queue -> dev_hard_header (cached) -> dev_queue_xmit
 *   per-entry timer: neigh_timer_handler (retries, REACHABLE -> STALE/DELAY,
 *     DELAY -> PROBE, PROBE/INCOMPLETE -> FAILED, garbage collection)
 *
 * Entries live in a hash keyed by (device, address) with a per-stack secret,
 * bounded by gc_thresh3; an LRU list of the non-permanent entries picks the
 * victim when the table is full (Linux's gc_list + neigh_forced_gc).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/netdevice.h"
#include "core/stack.h"
#include "core/timer.h"
#include "net/ipv4/arp.h"
#include "net/ipv4/neighbour.h"
#include "trace/trace.h"
#include "wire/arp.h"
#include "wire/ipv4.h"

#define NUD_IN_TIMER (NUD_INCOMPLETE | NUD_REACHABLE | NUD_DELAY | NUD_PROBE)
#define NUD_VALID (NUD_PERMANENT | NUD_NOARP | NUD_REACHABLE | NUD_PROBE | NUD_STALE | NUD_DELAY)
#define NUD_CONNECTED (NUD_PERMANENT | NUD_NOARP | NUD_REACHABLE)

#define NEIGH_UPDATE_F_OVERRIDE 0x1
#define NEIGH_UPDATE_F_ADMIN 0x2

/* Linux's arp_tbl locktime: a second answer within 1 s does not replace the first. */
#define NEIGH_LOCKTIME_NS (1000 * NSEC_PER_MSEC)
/* Linux never re-arms a neighbour timer closer than HZ/100. */
#define NEIGH_MIN_TIMER_NS (10 * NSEC_PER_MSEC)

struct neigh_table;

struct neighbour {
	struct neighbour *hnext;            /* hash chain */
	struct neighbour *lru_prev, *lru_next; /* non-permanent entries, least recently used first */
	struct neigh_table *tbl;
	struct net_device *dev;
	uint32_t ip;                        /* host order */
	uint8_t ha[ETH_ALEN];
	uint8_t nud_state;
	uint8_t hh_valid;                   /* hh holds the Ethernet header for ha */
	uint8_t on_lru;
	int probes;
	uint64_t confirmed, updated, used;  /* ns on the stack clock */
	uint64_t reachable_ns;              /* this REACHABLE period, randomised */
	struct np_timer timer;
	struct sk_buff_head arp_queue;      /* packets waiting for resolution */
	uint32_t arp_queue_bytes;
	uint8_t hh[ETH_HLEN];               /* cached link header (Linux's hh_cache) */
};

struct neigh_table {
	struct np_stack *s;
	struct neighbour **buckets;
	uint32_t nbuckets;                  /* power of two */
	uint32_t secret[2];
	int entries;                        /* all entries */
	int gc_entries;                     /* non-permanent entries: those gc_thresh3 bounds */
	struct neighbour *lru_head, *lru_tail;
	struct packet_type arp_pt;
};

static struct neigh_table *tbl_of(const struct np_stack *s) { return s->arp_tbl; }

static uint64_t ms_to_ns(long ms) { return ms > 0 ? (uint64_t)ms * NSEC_PER_MSEC : 0; }

static uint32_t neigh_hash(const struct neigh_table *t, const struct net_device *dev, uint32_t ip)
{
	uint32_t h = (ip ^ t->secret[0]) + (uint32_t)dev->ifindex * 0x9e3779b1u;

	h ^= t->secret[1];
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	h ^= h >> 16;
	return h & (t->nbuckets - 1);
}

static const char *nud_name(uint8_t st)
{
	switch (st) {
	case NUD_INCOMPLETE: return "INCOMPLETE";
	case NUD_REACHABLE: return "REACHABLE";
	case NUD_STALE: return "STALE";
	case NUD_DELAY: return "DELAY";
	case NUD_PROBE: return "PROBE";
	case NUD_FAILED: return "FAILED";
	case NUD_NOARP: return "NOARP";
	case NUD_PERMANENT: return "PERMANENT";
	default: return "NONE";
	}
}

/* ---- LRU ---- */

static void lru_unlink(struct neigh_table *t, struct neighbour *n)
{
	if (!n->on_lru)
		return;
	if (n->lru_prev)
		n->lru_prev->lru_next = n->lru_next;
	else
		t->lru_head = n->lru_next;
	if (n->lru_next)
		n->lru_next->lru_prev = n->lru_prev;
	else
		t->lru_tail = n->lru_prev;
	n->lru_prev = n->lru_next = NULL;
	n->on_lru = 0;
}

static void lru_append(struct neigh_table *t, struct neighbour *n)
{
	n->lru_next = NULL;
	n->lru_prev = t->lru_tail;
	if (t->lru_tail)
		t->lru_tail->lru_next = n;
	else
		t->lru_head = n;
	t->lru_tail = n;
	n->on_lru = 1;
}

static void lru_touch(struct neigh_table *t, struct neighbour *n)
{
	if (n->on_lru && t->lru_tail != n) {
		lru_unlink(t, n);
		lru_append(t, n);
	}
}

/* ---- table ---- */

static void neigh_timer_handler(struct np_timer *timer);

static int neigh_grow(struct neigh_table *t)
{
	uint32_t n = t->nbuckets * 2;
	struct neighbour **nb = calloc(n, sizeof(*nb));

	if (!nb)
		return -ENOMEM;
	struct neighbour **old = t->buckets;
	uint32_t oldn = t->nbuckets;

	t->buckets = nb;
	t->nbuckets = n;
	for (uint32_t b = 0; b < oldn; b++) {
		struct neighbour *e = old[b];

		while (e) {
			struct neighbour *next = e->hnext;
			uint32_t i = neigh_hash(t, e->dev, e->ip);

			e->hnext = nb[i];
			nb[i] = e;
			e = next;
		}
	}
	free(old);
	return 0;
}

/* Lookup without statistics (inspection). */
static struct neighbour *neigh_find(const struct neigh_table *t, const struct net_device *dev, uint32_t ip)
{
	for (struct neighbour *n = t->buckets[neigh_hash(t, dev, ip)]; n; n = n->hnext)
		if (n->ip == ip && n->dev == dev)
			return n;
	return NULL;
}

/* Linux's neigh_lookup: counts ArpCacheLookups and ArpCacheHits. */
static struct neighbour *neigh_lookup(struct neigh_table *t, const struct net_device *dev, uint32_t ip)
{
	struct neighbour *n;

	NP_INC_STATS(t->s, ArpCacheLookups);
	n = neigh_find(t, dev, ip);
	if (n)
		NP_INC_STATS(t->s, ArpCacheHits);
	return n;
}

/* Unlinks and frees n; packets still waiting are dropped under reason. */
static void neigh_destroy(struct neigh_table *t, struct neighbour *n, enum np_drop_reason reason)
{
	struct neighbour **pp = &t->buckets[neigh_hash(t, n->dev, n->ip)];

	while (*pp && *pp != n)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = n->hnext;
	if (n->on_lru) {
		lru_unlink(t, n);
		t->gc_entries--;
	}
	t->entries--;
	del_timer(t->s, &n->timer);
	skb_queue_purge_reason(&n->arp_queue, reason);
	NP_INC_STATS(t->s, ArpCacheDestroys);
	free(n);
}

/* An entry the forced GC may take: not permanent, and no packets waiting on it. */
static int neigh_evictable(const struct neighbour *n)
{
	if (n->nud_state & (NUD_PERMANENT | NUD_NOARP))
		return 0;
	return !(n->nud_state == NUD_INCOMPLETE && !skb_queue_empty(&n->arp_queue));
}

/* Linux's neigh_forced_gc, reduced to the least recently used evictable entry. 1 if one went. */
static int neigh_forced_gc(struct neigh_table *t)
{
	NP_INC_STATS(t->s, ArpCacheForcedGcRuns);
	for (struct neighbour *n = t->lru_head; n; n = n->lru_next) {
		if (neigh_evictable(n)) {
			neigh_destroy(t, n, NP_DROP_NEIGH_DEAD);
			return 1;
		}
	}
	return 0;
}

/*
 * Creates an entry in NUD_NONE (Linux's neigh_alloc + ___neigh_create).
 * Permanent entries are exempt from gc_thresh3, as in Linux. NULL when the
 * table is full and nothing can be evicted (ArpCacheTableFulls) or on no memory.
 */
static struct neighbour *neigh_create(struct neigh_table *t, struct net_device *dev, uint32_t ip, int exempt)
{
	struct np_stack *s = t->s;
	struct neighbour *n;
	uint32_t b;

	if (!exempt) {
		long thresh3 = s->sysctl.neigh_gc_thresh3;

		while (t->gc_entries >= thresh3) {
			if (!neigh_forced_gc(t)) {
				NP_INC_STATS(s, ArpCacheTableFulls);
				return NULL;
			}
		}
	}
	if ((uint32_t)t->entries >= t->nbuckets && t->nbuckets < (1u << 20))
		(void)neigh_grow(t);    /* a longer chain is still correct */
	n = calloc(1, sizeof(*n));
	if (!n)
		return NULL;
	n->tbl = t;
	n->dev = dev;
	n->ip = ip;
	n->nud_state = NUD_NONE;
	n->used = n->updated = np_stack_now(s);
	timer_setup(&n->timer, neigh_timer_handler);
	skb_queue_head_init(&n->arp_queue);
	b = neigh_hash(t, dev, ip);
	n->hnext = t->buckets[b];
	t->buckets[b] = n;
	t->entries++;
	if (!exempt) {
		lru_append(t, n);
		t->gc_entries++;
	}
	NP_INC_STATS(s, ArpCacheAllocs);
	return n;
}

int neigh_init(struct np_stack *s)
{
	struct neigh_table *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	t->nbuckets = 64;
	t->buckets = calloc(t->nbuckets, sizeof(*t->buckets));
	if (!t->buckets) {
		free(t);
		return -ENOMEM;
	}
	t->s = s;
	/* A keyed hash: a flood of chosen senders cannot pile into one chain. */
	t->secret[0] = s->secret[0] ^ (uint32_t)np_random(s);
	t->secret[1] = s->secret[1] ^ (uint32_t)(np_random(s) >> 32);
	t->arp_pt.type = ETH_P_ARP;
	t->arp_pt.func = arp_rcv;
	t->arp_pt.priv = t;
	s->arp_tbl = t;
	dev_add_pack(s, &t->arp_pt);
	return 0;
}

void neigh_free(struct np_stack *s)
{
	struct neigh_table *t = tbl_of(s);

	if (!t)
		return;
	dev_remove_pack(s, &t->arp_pt);
	for (uint32_t b = 0; b < t->nbuckets; b++)
		while (t->buckets[b])
			neigh_destroy(t, t->buckets[b], NP_DROP_NEIGH_DEAD);
	free(t->buckets);
	free(t);
	s->arp_tbl = NULL;
}

void neigh_flush_dev(struct np_stack *s, struct net_device *dev)
{
	struct neigh_table *t = tbl_of(s);

	if (!t)
		return;
	for (uint32_t b = 0; b < t->nbuckets; b++) {
		struct neighbour *n = t->buckets[b];

		while (n) {
			struct neighbour *next = n->hnext;

			if (n->dev == dev)
				neigh_destroy(t, n, NP_DROP_NEIGH_DEAD);
			n = next;
		}
	}
}

/* ---- transmit helpers ---- */

/*
 * Consumes skb on failure: returns skb, or a copy with room for a link
 * header in front, or NULL (dropped with NOMEM). The IP layer normally
 * leaves NP_SKB_HEADROOM, so the copy is the rare path.
 */
static struct sk_buff *neigh_headroom(struct np_stack *s, struct sk_buff *skb, uint32_t need)
{
	struct sk_buff *nskb;

	if (skb_headroom(skb) >= need)
		return skb;
	nskb = alloc_skb(s, skb->len + need);
	if (!nskb) {
		kfree_skb_reason(skb, NP_DROP_NOMEM);
		return NULL;
	}
	skb_reserve(nskb, need);
	memcpy(skb_put(nskb, skb->len), skb->data, skb->len);
	skb_reset_network_header(nskb);
	nskb->dev = skb->dev;
	nskb->protocol = skb->protocol;
	nskb->priority = skb->priority;
	nskb->mark = skb->mark;
	nskb->tstamp = skb->tstamp;
	nskb->ip_summed = skb->ip_summed;
	nskb->rt = skb->rt;
	nskb->rt_valid = skb->rt_valid;
	memcpy(nskb->cb, skb->cb, sizeof(nskb->cb));
	/* The path record moves with the packet. */
	nskb->trace = skb->trace;
	skb->trace = NULL;
	consume_skb(skb);
	return nskb;
}

/* Consumes skb: builds the header for ha with dev_hard_header and sends; caches the header in hh. */
static int neigh_xmit_ha(struct net_device *dev, const uint8_t *ha, uint8_t *hh, uint8_t *hh_valid,
			 struct sk_buff *skb)
{
	if (hh && *hh_valid) {
		memcpy(skb_push(skb, ETH_HLEN), hh, ETH_HLEN);
	} else {
		if (dev_hard_header(skb, dev, ETH_P_IP, ha, NULL) < 0) {
			kfree_skb_reason(skb, NP_DROP_NOMEM);
			return -ENOSPC;
		}
		if (hh && dev->hard_header_len == ETH_HLEN) {
			memcpy(hh, skb->data, ETH_HLEN);
			*hh_valid = 1;
		}
	}
	skb_reset_mac_header(skb);
	return dev_queue_xmit(skb);
}

/*
 * Sends every packet that waited for resolution, in order (Linux's
 * neigh_update flush). The queue is detached first and n is not touched
 * once transmission starts: a driver may answer synchronously and change
 * the table under us.
 */
static void neigh_flush_queue(struct neighbour *n)
{
	struct sk_buff_head q;
	struct net_device *dev = n->dev;
	uint8_t ha[ETH_ALEN], hh[ETH_HLEN];
	uint8_t hh_valid;
	struct sk_buff *skb;

	if (skb_queue_empty(&n->arp_queue))
		return;
	skb_queue_head_init(&q);
	while ((skb = skb_dequeue(&n->arp_queue)) != NULL)
		skb_queue_tail(&q, skb);
	n->arp_queue_bytes = 0;
	memcpy(ha, n->ha, ETH_ALEN);
	/* Build the cached header once, with dev_hard_header, before anything leaves. */
	if (!n->hh_valid && dev->hard_header_len == ETH_HLEN) {
		skb = skb_peek(&q);
		if (dev_hard_header(skb, dev, ETH_P_IP, ha, NULL) == 0) {
			memcpy(n->hh, skb->data, ETH_HLEN);
			n->hh_valid = 1;
			skb_pull(skb, ETH_HLEN);
		}
	}
	memcpy(hh, n->hh, ETH_HLEN);
	hh_valid = n->hh_valid;
	while ((skb = skb_dequeue(&q)) != NULL) {
		trace_stage(skb, "neigh_resolve_output");
		(void)neigh_xmit_ha(dev, ha, hh, &hh_valid, skb);
	}
}

/* ---- state machine ---- */

static uint64_t neigh_rand_reachable(struct np_stack *s)
{
	uint64_t base = ms_to_ns(s->sysctl.neigh_base_reachable_ms);

	/* Linux's neigh_rand_reach_time: uniform in [base/2, 3*base/2). */
	if (base < 2)
		return base;
	return base / 2 + np_random(s) % base;
}

static void neigh_arm(struct neighbour *n, uint64_t when)
{
	(void)mod_timer(n->tbl->s, &n->timer, when);
}

/* STALE and FAILED entries have no protocol timer: theirs is the garbage collector's. */
static void neigh_arm_gc(struct neighbour *n)
{
	uint64_t base = n->used > n->updated ? n->used : n->updated;

	neigh_arm(n, base + ms_to_ns(n->tbl->s->sysctl.neigh_gc_stale_ms));
}

static int neigh_max_probes(const struct neighbour *n)
{
	const struct np_sysctls *c = &n->tbl->s->sysctl;

	/* Linux: ucast + app + (PROBE ? mcast_reprobes (0) : mcast) */
	return (int)c->neigh_ucast_solicit + (n->nud_state & NUD_PROBE ? 0 : (int)c->neigh_mcast_solicit);
}

/*
 * Sends one solicitation (Linux's neigh_probe): unicast to the old address
 * while probes < ucast_solicit (NUD_PROBE starts at 0), broadcast after
 * (NUD_INCOMPLETE starts at ucast_solicit). n may be gone once this returns.
 */
static void neigh_probe(struct neighbour *n)
{
	struct np_stack *s = n->tbl->s;
	int unicast = n->probes < (int)s->sysctl.neigh_ucast_solicit;
	uint8_t ha[ETH_ALEN];
	struct net_device *dev = n->dev;
	uint32_t ip = n->ip;
	/* Linux passes the newest waiting packet; its source address becomes the ARP sender. */
	const struct sk_buff *skb = skb_queue_empty(&n->arp_queue) ? NULL : n->arp_queue.prev;

	memcpy(ha, n->ha, ETH_ALEN);
	n->probes++;
	arp_solicit(s, dev, ip, unicast ? ha : NULL, skb);
}

/* Resolution failed: waiting packets are dropped (Linux's neigh_invalidate). */
static void neigh_invalidate(struct neighbour *n)
{
	n->arp_queue_bytes = 0;
	skb_queue_purge_reason(&n->arp_queue, NP_DROP_NEIGH_FAILED);
}

static void neigh_timer_handler(struct np_timer *timer)
{
	struct neighbour *n = container_of(timer, struct neighbour, timer);
	struct neigh_table *t = n->tbl;
	struct np_stack *s = t->s;
	uint64_t now = np_stack_now(s);
	uint64_t delay = ms_to_ns(s->sysctl.neigh_delay_first_probe_ms);
	uint64_t retrans = ms_to_ns(s->sysctl.neigh_retrans_ms);
	uint8_t state = n->nud_state;
	uint64_t next;

	if (retrans < NEIGH_MIN_TIMER_NS)
		retrans = NEIGH_MIN_TIMER_NS;
	if (state & (NUD_STALE | NUD_FAILED)) {
		/* Garbage collection (Linux's neigh_periodic_work): unused for gc_stale_time. */
		uint64_t base = n->used > n->updated ? n->used : n->updated;

		if (now >= base + ms_to_ns(s->sysctl.neigh_gc_stale_ms))
			neigh_destroy(t, n, NP_DROP_NEIGH_DEAD);
		else
			neigh_arm_gc(n);
		return;
	}
	if (!(state & NUD_IN_TIMER))
		return;

	next = now + NSEC_PER_SEC;
	if (state & NUD_REACHABLE) {
		if (now <= n->confirmed + n->reachable_ns) {
			next = n->confirmed + n->reachable_ns;
		} else if (now <= n->used + delay) {
			/* Used recently: go straight to DELAY rather than waiting for the next use. */
			n->nud_state = NUD_DELAY;
			n->updated = now;
			next = now + delay;
		} else {
			n->nud_state = NUD_STALE;
			n->updated = now;
			neigh_arm_gc(n);
			return;
		}
	} else if (state & NUD_DELAY) {
		if (now <= n->confirmed + delay) {
			n->nud_state = NUD_REACHABLE;
			n->updated = now;
			n->reachable_ns = neigh_rand_reachable(s);
			next = n->confirmed + n->reachable_ns;
		} else {
			n->nud_state = NUD_PROBE;
			n->updated = now;
			n->probes = 0;
			next = now + retrans;
		}
	} else {
		/* INCOMPLETE or PROBE: the next retransmission. */
		next = now + retrans;
	}

	if ((n->nud_state & (NUD_INCOMPLETE | NUD_PROBE)) && n->probes >= neigh_max_probes(n)) {
		n->nud_state = NUD_FAILED;
		n->updated = now;
		n->hh_valid = 0;
		NP_INC_STATS(s, ArpCacheResFailed);
		neigh_invalidate(n);
		neigh_arm_gc(n);
		return;
	}
	if (next < now + NEIGH_MIN_TIMER_NS)
		next = now + NEIGH_MIN_TIMER_NS;
	neigh_arm(n, next);
	if (n->nud_state & (NUD_INCOMPLETE | NUD_PROBE))
		neigh_probe(n);
}

/*
 * Linux's neigh_update: moves n to new with link address lladdr (NULL:
 * keep). Without OVERRIDE a different address does not replace a valid
 * one; a STALE report of the same address does not demote a better state.
 * Leaving an invalid state sends the packets that waited. trace_skb (not
 * consumed, may be NULL) is the ARP packet that caused the update.
 */
static void neigh_update(struct neighbour *n, const uint8_t *lladdr, uint8_t new, unsigned flags,
			 struct sk_buff *trace_skb)
{
	struct np_stack *s = n->tbl->s;
	uint64_t now = np_stack_now(s);
	uint8_t old = n->nud_state;
	int ll_changed = 0;

	if (!(flags & NEIGH_UPDATE_F_ADMIN) && (old & (NUD_NOARP | NUD_PERMANENT)))
		return;
	if (!lladdr) {
		if (!(old & NUD_VALID))
			return;
		lladdr = n->ha;
	}
	if (old & NUD_VALID) {
		if (memcmp(lladdr, n->ha, ETH_ALEN) != 0) {
			if (!(flags & NEIGH_UPDATE_F_OVERRIDE))
				return;
			ll_changed = 1;
		} else if (new == NUD_STALE && !(flags & NEIGH_UPDATE_F_ADMIN)) {
			new = old;
		}
	} else {
		ll_changed = 1;
	}
	if (trace_skb && trace_skb->trace) {
		char detail[48], a[16];

		snprintf(detail, sizeof(detail), "%s %s->%s", ipv4_ntoa(n->ip, a), nud_name(old), nud_name(new));
		trace_stage_detail(trace_skb, "neigh_update", detail);
	}
	if (new & NUD_CONNECTED)
		n->confirmed = now;
	if (ll_changed) {
		memcpy(n->ha, lladdr, ETH_ALEN);
		n->hh_valid = 0;
		n->updated = now;
		if (!(new & NUD_CONNECTED)) {
			/* Not confirmed: make sure a DELAY check does not count it as fresh. */
			uint64_t back = 2 * ms_to_ns(s->sysctl.neigh_base_reachable_ms);

			n->confirmed = now > back ? now - back : 0;
		}
	}
	if (new == old)
		return;
	del_timer(s, &n->timer);
	if (new & NUD_PROBE)
		n->probes = 0;
	n->nud_state = new;
	n->updated = now;
	if (new & NUD_REACHABLE) {
		n->reachable_ns = neigh_rand_reachable(s);
		neigh_arm(n, now + n->reachable_ns);
	} else if (new & NUD_IN_TIMER) {
		neigh_arm(n, now);
	} else if (new & NUD_STALE) {
		neigh_arm_gc(n);
	}
	if (!(old & NUD_VALID) && (new & NUD_VALID))
		neigh_flush_queue(n);
}

/*
 * Consumes skb when it returns 1 (queued or dropped); 0 means send it now
 * with n->ha (Linux's __neigh_event_send). n may be gone after a 1.
 */
static int neigh_event_send(struct neighbour *n, struct sk_buff *skb)
{
	struct neigh_table *t = n->tbl;
	struct np_stack *s = t->s;
	uint64_t now = np_stack_now(s);
	int immediate_probe = 0;

	n->used = now;
	lru_touch(t, n);
	if (n->nud_state & (NUD_CONNECTED | NUD_DELAY | NUD_PROBE))
		return 0;
	if (!(n->nud_state & (NUD_STALE | NUD_INCOMPLETE))) {
		/* NONE or FAILED: start (again) with broadcast solicitations. */
		if (s->sysctl.neigh_mcast_solicit > 0) {
			uint64_t retrans = ms_to_ns(s->sysctl.neigh_retrans_ms);

			n->probes = (int)s->sysctl.neigh_ucast_solicit;
			n->nud_state = NUD_INCOMPLETE;
			n->updated = now;
			neigh_arm(n, now + (retrans > NEIGH_MIN_TIMER_NS ? retrans : NEIGH_MIN_TIMER_NS));
			immediate_probe = 1;
		} else {
			n->nud_state = NUD_FAILED;
			n->updated = now;
			neigh_arm_gc(n);
			kfree_skb_reason(skb, NP_DROP_NEIGH_FAILED);
			return 1;
		}
	} else if (n->nud_state & NUD_STALE) {
		/* RFC 1122 2.3.2.1 / Linux: use the old address, confirm it after delay_first_probe. */
		n->nud_state = NUD_DELAY;
		n->updated = now;
		neigh_arm(n, now + ms_to_ns(s->sysctl.neigh_delay_first_probe_ms));
		return 0;
	}

	/* INCOMPLETE: queue, dropping the oldest packets beyond unres_qlen_bytes. */
	while (n->arp_queue_bytes + skb->len > (uint64_t)(s->sysctl.neigh_unres_qlen_bytes > 0 ?
							    s->sysctl.neigh_unres_qlen_bytes : 0)) {
		struct sk_buff *old = skb_dequeue(&n->arp_queue);

		if (!old)
			break;
		n->arp_queue_bytes -= old->len;
		kfree_skb_reason(old, NP_DROP_NEIGH_QUEUEFULL);
		NP_INC_STATS(s, ArpCacheUnresolvedDiscards);
	}
	skb_queue_tail(&n->arp_queue, skb);
	n->arp_queue_bytes += skb->len;
	if (immediate_probe) {
		trace_stage(skb, "arp_solicit");
		neigh_probe(n);
	}
	return 1;
}

/* Consumes skb: the slow path through the ARP state machine (Linux's neigh_resolve_output). */
static int neigh_resolve_output(struct neighbour *n, struct sk_buff *skb)
{
	trace_stage(skb, "neigh_resolve_output");
	if (neigh_event_send(n, skb))
		return 0;
	return neigh_xmit_ha(n->dev, n->ha, n->hh, &n->hh_valid, skb);
}

/* Is nexthop a broadcast address on dev (limited, or the subnet broadcast of one of its addresses)? */
static int neigh_is_broadcast(const struct net_device *dev, uint32_t nexthop)
{
	if (ipv4_is_lbcast(nexthop))
		return 1;
	for (int i = 0; i < dev->ifa_count; i++)
		if (dev->ifa[i].ifa_broadcast && dev->ifa[i].ifa_broadcast == nexthop)
			return 1;
	return 0;
}

/* Consumes skb (data at the IP header): cached header, resolution, or a direct send. */
int neigh_output(struct np_stack *s, struct net_device *dev, uint32_t nexthop, struct sk_buff *skb)
{
	struct neigh_table *t = tbl_of(s);
	struct neighbour *n;
	uint8_t ha[ETH_ALEN];

	trace_stage(skb, "neigh_output");
	skb->dev = dev;
	skb->protocol = ETH_P_IP;
	skb_reset_network_header(skb);
	if (dev->hard_header_len) {
		skb = neigh_headroom(s, skb, dev->hard_header_len);
		if (!skb)
			return -ENOMEM;
	}

	/* Loopback and NOARP devices need no resolution (Linux's NUD_NOARP entries). */
	if ((dev->flags & (NPF_NOARP | NPF_LOOPBACK)) || dev->hard_header_len == 0) {
		if (dev->hard_header_len && dev_hard_header(skb, dev, ETH_P_IP, dev->dev_addr, NULL) < 0) {
			kfree_skb_reason(skb, NP_DROP_NOMEM);
			return -ENOSPC;
		}
		skb_reset_mac_header(skb);
		return dev_queue_xmit(skb);
	}
	/* Broadcast: the Ethernet broadcast address, no ARP (arp_constructor, RTN_BROADCAST). */
	if (neigh_is_broadcast(dev, nexthop))
		return neigh_xmit_ha(dev, dev->broadcast, NULL, NULL, skb);
	/* RFC 1112 6.4: 01:00:5e plus the low 23 bits of the group (arp_mc_map). */
	if (ipv4_is_multicast(nexthop)) {
		ha[0] = 0x01, ha[1] = 0x00, ha[2] = 0x5e;
		ha[3] = (uint8_t)((nexthop >> 16) & 0x7f);
		ha[4] = (uint8_t)(nexthop >> 8);
		ha[5] = (uint8_t)nexthop;
		return neigh_xmit_ha(dev, ha, NULL, NULL, skb);
	}
	if (!t) {
		kfree_skb_reason(skb, NP_DROP_NEIGH_CREATEFAIL);
		return -ENOBUFS;
	}

	n = neigh_lookup(t, dev, nexthop);
	if (!n) {
		n = neigh_create(t, dev, nexthop, 0);
		if (!n) {
			kfree_skb_reason(skb, NP_DROP_NEIGH_CREATEFAIL);
			return -ENOBUFS;
		}
	}
	/* Fast path (seed 002): a confirmed neighbour's cached header is pushed as is. */
	if ((n->nud_state & NUD_CONNECTED) && n->hh_valid) {
		n->used = np_stack_now(s);
		lru_touch(t, n);
		memcpy(skb_push(skb, ETH_HLEN), n->hh, ETH_HLEN);
		skb_reset_mac_header(skb);
		return dev_queue_xmit(skb);
	}
	return neigh_resolve_output(n, skb);
}

/* ---- hooks for arp_process ---- */

/* Does not consume skb (the ARP packet, used for its trace only). */
int neigh_event_ns(struct np_stack *s, struct net_device *dev, uint32_t ip, const uint8_t *lladdr,
		   struct sk_buff *skb)
{
	struct neigh_table *t = tbl_of(s);
	struct neighbour *n;

	if (!t)
		return -ENOBUFS;
	n = neigh_lookup(t, dev, ip);
	if (!n) {
		n = neigh_create(t, dev, ip, 0);
		if (!n)
			return -ENOBUFS;
	}
	neigh_update(n, lladdr, NUD_STALE, NEIGH_UPDATE_F_OVERRIDE, skb);
	return 0;
}

/* Does not consume skb (the ARP packet, used for its trace only). */
int neigh_rcv_update(struct np_stack *s, struct net_device *dev, uint32_t ip, const uint8_t *lladdr,
		     uint8_t state, int is_garp, struct sk_buff *skb)
{
	struct neigh_table *t = tbl_of(s);
	struct neighbour *n;
	int override;

	if (!t)
		return 0;
	n = neigh_lookup(t, dev, ip);
	if (!n)
		return 0;
	/*
	 * Linux's arp_process: of several different answers back to back take
	 * the first (locktime), unless this is a gratuitous announcement.
	 */
	override = is_garp || np_stack_now(s) >= n->updated + NEIGH_LOCKTIME_NS;
	neigh_update(n, lladdr, state, override ? NEIGH_UPDATE_F_OVERRIDE : 0, skb);
	return 1;
}

/* ---- inspection and administration ---- */

int neigh_lookup_state(struct np_stack *s, struct net_device *dev, uint32_t ip, uint8_t mac_out[6])
{
	struct neigh_table *t = tbl_of(s);
	struct neighbour *n;

	if (!t || !dev)
		return -ENOENT;
	n = neigh_find(t, dev, ip);
	if (!n)
		return -ENOENT;
	if (mac_out)
		memcpy(mac_out, n->ha, ETH_ALEN);
	return n->nud_state;
}

int neigh_add_permanent(struct np_stack *s, struct net_device *dev, uint32_t ip, const uint8_t mac[6])
{
	struct neigh_table *t = tbl_of(s);
	struct neighbour *n;

	if (!t || !dev || !mac)
		return -EINVAL;
	if (ipv4_is_multicast(ip) || ipv4_is_lbcast(ip) || ipv4_is_zeronet(ip))
		return -EINVAL;
	n = neigh_find(t, dev, ip);
	if (!n) {
		n = neigh_create(t, dev, ip, 1);
		if (!n)
			return -ENOMEM;
	} else if (n->on_lru) {
		/* Permanent entries leave the GC's list and stop counting against gc_thresh3. */
		lru_unlink(t, n);
		t->gc_entries--;
	}
	/* neigh_update stops the entry's timer; n is not touched after it may have flushed packets. */
	neigh_update(n, mac, NUD_PERMANENT, NEIGH_UPDATE_F_OVERRIDE | NEIGH_UPDATE_F_ADMIN, NULL);
	return 0;
}

int neigh_count(const struct np_stack *s)
{
	const struct neigh_table *t = tbl_of(s);

	return t ? t->entries : 0;
}

static int neigh_cmp(const void *pa, const void *pb)
{
	const struct neighbour *a = *(const struct neighbour *const *)pa;
	const struct neighbour *b = *(const struct neighbour *const *)pb;

	if (a->dev->ifindex != b->dev->ifindex)
		return a->dev->ifindex - b->dev->ifindex;
	return a->ip < b->ip ? -1 : a->ip > b->ip;
}

/* Like `ip neigh`: "10.0.0.2 dev tap0 lladdr 02:00:00:00:00:02 REACHABLE". */
void neigh_print(struct np_stack *s, FILE *out)
{
	struct neigh_table *t = tbl_of(s);
	struct neighbour **v;
	size_t i = 0;

	if (!t || !t->entries)
		return;
	v = malloc((size_t)t->entries * sizeof(*v));
	if (!v)
		return;
	for (uint32_t b = 0; b < t->nbuckets; b++)
		for (struct neighbour *n = t->buckets[b]; n; n = n->hnext)
			v[i++] = n;
	qsort(v, i, sizeof(*v), neigh_cmp);
	for (size_t k = 0; k < i; k++) {
		const struct neighbour *n = v[k];
		char a[16], m[18];

		fprintf(out, "%s dev %s", ipv4_ntoa(n->ip, a), n->dev->name);
		if (n->nud_state & NUD_VALID)
			fprintf(out, " lladdr %s", eth_ntoa(n->ha, m));
		fprintf(out, " %s\n", nud_name(n->nud_state));
	}
	free(v);
}
