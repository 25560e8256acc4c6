/*
 * sk_buff allocation, reference counting, clones and queues (Linux's
 * net/core/skbuff.c, linear buffers only).
 * Place in the packet path: drivers allocate on receive (netdev_alloc_skb_copy),
 * the protocols allocate on send (alloc_skb); every path ends here in
 * consume_skb or kfree_skb_reason, which also ends the packet's trace.
 *
 * Each stack keeps free lists of skb heads and of MTU-sized data buffers, so
 * the hot path does not call malloc per packet, and of super-packet buffers
 * (NP_SKB_BIG_BUF: TSO, GRO, vnet-TAP frames), which any stack may free into
 * its own list (the cable hands them between stacks). Other sizes (jumbo
 * frames, loopback's 64 KiB MTU below NP_SKB_BIG_MIN) come from malloc.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/skbuff.h"
#include "core/netdevice.h"
#include "core/stack.h"
#include "netfilter/netfilter.h"
#include "trace/trace.h"

#define SHINFO_SIZE ((sizeof(struct skb_shared_info) + 15) & ~(size_t)15)

void skb_cache_init(struct np_stack *s)
{
	s->skb_free = NULL;
	s->buf_free = NULL;
	s->big_free = NULL;
	s->skb_free_count = s->buf_free_count = s->big_free_count = 0;
}

void skb_cache_destroy(struct np_stack *s)
{
	while (s->skb_free) {
		struct sk_buff *n = s->skb_free->next;
		free(s->skb_free);
		s->skb_free = n;
	}
	while (s->buf_free) {
		unsigned char *n;
		memcpy(&n, s->buf_free, sizeof(n));
		free(s->buf_free);
		s->buf_free = n;
	}
	while (s->big_free) {
		unsigned char *n;
		memcpy(&n, s->big_free, sizeof(n));
		free(s->big_free);
		s->big_free = n;
	}
	s->skb_free_count = s->buf_free_count = s->big_free_count = 0;
}

static struct sk_buff *skb_head_alloc(struct np_stack *s)
{
	struct sk_buff *skb = s->skb_free;
	if (skb) {
		s->skb_free = skb->next;
		s->skb_free_count--;
	} else {
		skb = malloc(sizeof(*skb));
		if (!skb)
			return NULL;
	}
	memset(skb, 0, sizeof(*skb));
	skb->stack = s;
	skb->users = 1;
	skb->mac_header = skb->network_header = skb->transport_header = SKB_HDR_UNSET;
	return skb;
}

static void skb_head_free(struct sk_buff *skb)
{
	struct np_stack *s = skb->stack;
	if (s->skb_free_count < NP_SKB_CACHE_MAX) {
		skb->next = s->skb_free;
		s->skb_free = skb;
		s->skb_free_count++;
	} else {
		free(skb);
	}
}

/* Returns a buffer of at least size bytes followed by its shared info. */
static unsigned char *skb_data_alloc(struct np_stack *s, uint32_t size, uint32_t *bufsize, int *cached)
{
	unsigned char *buf;
	if (size <= NP_SKB_CACHE_BUF) {
		*bufsize = NP_SKB_CACHE_BUF;
		*cached = 1;
		if (s->buf_free) {
			buf = s->buf_free;
			memcpy(&s->buf_free, buf, sizeof(s->buf_free)); /* the free list link lives in the buffer */
			s->buf_free_count--;
			return buf;
		}
	} else if (size >= NP_SKB_BIG_MIN && size <= NP_SKB_BIG_BUF) {
		/* Not "cached": such a buffer may change stacks (skb_steal_data); its size says what it is. */
		*bufsize = NP_SKB_BIG_BUF;
		*cached = 0;
		if (s->big_free) {
			buf = s->big_free;
			memcpy(&s->big_free, buf, sizeof(s->big_free));
			s->big_free_count--;
			return buf;
		}
	} else {
		*bufsize = (size + 63) & ~63u;
		*cached = 0;
	}
	return malloc(*bufsize + SHINFO_SIZE);
}

static void skb_data_release(struct np_stack *s, struct sk_buff *skb)
{
	struct skb_shared_info *sh = skb_shinfo(skb);
	if (--sh->dataref > 0)
		return;
	if (sh->cached && s->buf_free_count < NP_SKB_CACHE_MAX) {
		memcpy(skb->head, &s->buf_free, sizeof(s->buf_free));
		s->buf_free = skb->head;
		s->buf_free_count++;
	} else if (!sh->cached && skb->end == NP_SKB_BIG_BUF && s->big_free_count < NP_SKB_BIG_CACHE_MAX) {
		memcpy(skb->head, &s->big_free, sizeof(s->big_free));
		s->big_free = skb->head;
		s->big_free_count++;
	} else {
		free(skb->head);
	}
}

/* Points a fresh head at buf (its shared info at buf + end), one data reference, empty. */
static void skb_attach_data(struct np_stack *s, struct sk_buff *skb, unsigned char *buf, uint32_t end)
{
	skb->head = skb->data = buf;
	skb->tail = 0;
	skb->end = end;
	struct skb_shared_info *sh = skb_shinfo(skb);
	memset(sh, 0, sizeof(*sh));
	sh->dataref = 1;
	sh->bufsize = end;
	/* Stamped lazily: the round's time, or netif_receive_skb stamps it (Linux's net_timestamp_check). */
	skb->tstamp = np_stack_round_now(s);
}

static struct sk_buff *alloc_skb_raw(struct np_stack *s, uint32_t size)
{
	struct sk_buff *skb = skb_head_alloc(s);
	if (!skb)
		return NULL;
	uint32_t bufsize;
	int cached;
	unsigned char *buf = skb_data_alloc(s, size, &bufsize, &cached);
	if (!buf) {
		skb_head_free(skb);
		return NULL;
	}
	skb_attach_data(s, skb, buf, bufsize);
	skb_shinfo(skb)->cached = (uint8_t)cached;
	skb->from_cache = (uint8_t)cached;
	return skb;
}

struct sk_buff *alloc_skb(struct np_stack *s, uint32_t size)
{
	struct sk_buff *skb = alloc_skb_raw(s, size + NP_SKB_HEADROOM);
	if (skb)
		skb_reserve(skb, NP_SKB_HEADROOM);
	return skb;
}

struct sk_buff *netdev_alloc_skb_copy(struct net_device *dev, const void *frame, uint32_t len)
{
	/* Receive buffers get a little headroom so a VLAN tag can be pushed back in place. */
	struct sk_buff *skb = alloc_skb_raw(dev->stack, len + 32);
	if (!skb)
		return NULL;
	skb_reserve(skb, 32);
	memcpy(skb_put(skb, len), frame, len);
	skb->dev = dev;
	return skb;
}

static void skb_release(struct sk_buff *skb)
{
	if (skb->destructor)
		skb->destructor(skb);
	nf_conntrack_put(skb->_nfct);
	skb_data_release(skb->stack, skb);
	skb_head_free(skb);
}

void kfree_skb_reason(struct sk_buff *skb, enum np_drop_reason reason)
{
	if (!skb || --skb->users > 0)
		return;
	if (reason <= NP_DROP_NOT_DROPPED_YET || reason >= NP_DROP_MAX)
		reason = NP_DROP_NOT_SPECIFIED;
	skb->stack->drops[reason]++;
	if (skb->trace)
		trace_end(skb, 1, reason);
	skb_release(skb);
}

void consume_skb(struct sk_buff *skb)
{
	if (!skb || --skb->users > 0)
		return;
	if (skb->trace)
		trace_end(skb, 0, NP_DROP_NOT_DROPPED_YET);
	skb_release(skb);
}

unsigned char *skb_steal_data(struct sk_buff *skb, uint32_t *data_off, uint32_t *len, uint32_t *end)
{
	struct skb_shared_info *sh = skb_shinfo(skb);
	if (skb->users != 1 || sh->dataref != 1 || sh->cached)
		return NULL;
	unsigned char *buf = skb->head;
	*data_off = (uint32_t)(skb->data - skb->head);
	*len = skb->len;
	*end = skb->end;
	/* A normal end for the head (trace, socket accounting, conntrack); the buffer lives on. */
	if (skb->trace)
		trace_end(skb, 0, NP_DROP_NOT_DROPPED_YET);
	if (skb->destructor)
		skb->destructor(skb);
	nf_conntrack_put(skb->_nfct);
	skb_head_free(skb);
	return buf;
}

struct sk_buff *build_skb(struct np_stack *s, unsigned char *buf, uint32_t end)
{
	struct sk_buff *skb = skb_head_alloc(s);
	if (!skb)
		return NULL;
	skb_attach_data(s, skb, buf, end);
	return skb;
}

struct sk_buff *skb_clone(struct sk_buff *skb)
{
	struct sk_buff *n = skb_head_alloc(skb->stack);
	if (!n)
		return NULL;
	*n = *skb;
	n->next = n->prev = NULL;
	n->users = 1;
	n->sk = NULL;
	n->destructor = NULL;
	n->trace = NULL;
	nf_conntrack_get(n->_nfct);
	n->cloned = 1;
	skb->cloned = 1;
	skb_shinfo(skb)->dataref++;
	return n;
}

struct sk_buff *skb_copy(const struct sk_buff *skb)
{
	uint32_t headroom = skb_headroom(skb);
	struct sk_buff *n = alloc_skb_raw(skb->stack, headroom + skb->len);
	if (!n)
		return NULL;
	skb_reserve(n, headroom);
	memcpy(skb_put(n, skb->len), skb->data, skb->len);
	n->dev = skb->dev;
	n->tstamp = skb->tstamp;
	n->mac_header = skb->mac_header;
	n->network_header = skb->network_header;
	n->transport_header = skb->transport_header;
	n->protocol = skb->protocol;
	n->vlan_tci = skb->vlan_tci;
	n->vlan_present = skb->vlan_present;
	n->pkt_type = skb->pkt_type;
	n->ip_summed = skb->ip_summed;
	n->csum_start = skb->csum_start;
	n->csum_offset = skb->csum_offset;
	skb_shinfo(n)->gso_size = skb_shinfo(skb)->gso_size;
	skb_shinfo(n)->gso_segs = skb_shinfo(skb)->gso_segs;
	skb_shinfo(n)->gso_type = skb_shinfo(skb)->gso_type;
	n->mark = skb->mark;
	n->priority = skb->priority;
	n->rt = skb->rt;
	n->rt_valid = skb->rt_valid;
	n->_nfct = skb->_nfct;
	nf_conntrack_get(n->_nfct);
	n->nfct_state = skb->nfct_state;
	n->nfct_dir = skb->nfct_dir;
	memcpy(n->cb, skb->cb, sizeof(n->cb));
	return n;
}

int skb_unshare_data(struct sk_buff *skb)
{
	if (skb_shinfo(skb)->dataref == 1)
		return 0;
	uint32_t bufsize;
	int cached;
	unsigned char *buf = skb_data_alloc(skb->stack, skb->end, &bufsize, &cached);
	if (!buf)
		return -ENOMEM;
	memcpy(buf, skb->head, skb->tail);
	struct skb_shared_info old = *skb_shinfo(skb);
	skb_data_release(skb->stack, skb);
	skb->data = buf + (skb->data - skb->head);
	skb->head = buf;
	skb->end = bufsize;
	struct skb_shared_info *sh = skb_shinfo(skb);
	*sh = old;
	sh->dataref = 1;
	sh->bufsize = bufsize;
	sh->cached = (uint8_t)cached;
	skb->cloned = 0;
	return 0;
}

unsigned char *skb_put(struct sk_buff *skb, uint32_t len)
{
	unsigned char *p = skb_tail_pointer(skb);
	skb->tail += len;
	skb->len += len;
	return p;
}

unsigned char *skb_push(struct sk_buff *skb, uint32_t len)
{
	skb->data -= len;
	skb->len += len;
	return skb->data;
}

unsigned char *skb_pull(struct sk_buff *skb, uint32_t len)
{
	if (len > skb->len)
		return NULL;
	skb->len -= len;
	skb->data += len;
	return skb->data;
}

void skb_trim(struct sk_buff *skb, uint32_t len)
{
	if (skb->len > len) {
		skb->tail -= skb->len - len;
		skb->len = len;
	}
}

void skb_queue_head_init(struct sk_buff_head *q)
{
	q->next = q->prev = (struct sk_buff *)q;
	q->qlen = 0;
	q->bytes = 0;
}

static void skb_insert_between(struct sk_buff_head *q, struct sk_buff *skb, struct sk_buff *prev,
			       struct sk_buff *next)
{
	skb->next = next;
	skb->prev = prev;
	prev->next = skb;
	next->prev = skb;
	q->qlen++;
	q->bytes += skb->len;
}

void skb_queue_tail(struct sk_buff_head *q, struct sk_buff *skb)
{
	skb_insert_between(q, skb, q->prev, (struct sk_buff *)q);
}

void skb_queue_head(struct sk_buff_head *q, struct sk_buff *skb)
{
	skb_insert_between(q, skb, (struct sk_buff *)q, q->next);
}

void skb_unlink(struct sk_buff *skb, struct sk_buff_head *q)
{
	skb->prev->next = skb->next;
	skb->next->prev = skb->prev;
	skb->next = skb->prev = NULL;
	q->qlen--;
	q->bytes -= skb->len;
}

struct sk_buff *skb_dequeue(struct sk_buff_head *q)
{
	struct sk_buff *skb = skb_peek(q);
	if (skb)
		skb_unlink(skb, q);
	return skb;
}

struct sk_buff *skb_dequeue_tail(struct sk_buff_head *q)
{
	if (q->qlen == 0)
		return NULL;
	struct sk_buff *skb = q->prev;
	skb_unlink(skb, q);
	return skb;
}

void skb_queue_purge_reason(struct sk_buff_head *q, enum np_drop_reason reason)
{
	struct sk_buff *skb;
	while ((skb = skb_dequeue(q)) != NULL)
		kfree_skb_reason(skb, reason);
}
