/*
 * struct sk_buff: the packet as it moves through every layer (Linux's
 * include/linux/skbuff.h, linear buffers only).
 * Place in the packet path: allocated by drivers on receive and by the
 * transports on send, freed at the end of every path by consume_skb (normal
 * end) or kfree_skb_reason (drop, counted under its reason).
 *
 * Ownership rule of the house: a function that takes an skb consumes it on
 * every path (passes it on, queues it, or frees it). Sharing only through
 * skb_get (another reference to the same skb) or skb_clone (a new head
 * sharing the data).
 */
#ifndef NP_CORE_SKBUFF_H
#define NP_CORE_SKBUFF_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "netpath/drop_reason.h"

struct np_stack;
struct net_device;
struct sock;
struct np_trace_path;
struct nf_conn;

enum { PACKET_HOST = 0, PACKET_BROADCAST = 1, PACKET_MULTICAST = 2, PACKET_OTHERHOST = 3, PACKET_OUTGOING = 4 };
/*
 * skb->ip_summed, as Linux's: NONE (verify in software), UNNECESSARY (the
 * device or the kernel behind a TAP vouched for it), PARTIAL (the transport
 * checksum still has to be finished: the field holds the pseudo-header sum
 * and csum_start/csum_offset say where to sum and where to store).
 */
enum { CHECKSUM_NONE = 0, CHECKSUM_UNNECESSARY = 1, CHECKSUM_PARTIAL = 3 };

/* skb_shinfo(skb)->gso_type (Linux's SKB_GSO_*): what a GSO super-packet is. */
enum { SKB_GSO_TCPV4 = 1 << 0, SKB_GSO_DODGY = 1 << 1 };

/* Route attached to a packet (Linux's dst_entry/rtable, held by value). */
enum rtn_type { RTN_UNSPEC = 0, RTN_UNICAST, RTN_LOCAL, RTN_BROADCAST, RTN_MULTICAST, RTN_UNREACHABLE, RTN_BLACKHOLE };
struct rtable {
	struct net_device *dev;     /* output device (input: the local device) */
	uint32_t rt_gateway;        /* next hop (host order): the gateway, or daddr on-link */
	uint32_t rt_src;            /* preferred source (host order) */
	uint32_t rt_mtu;            /* path MTU for this destination */
	uint8_t rt_type;            /* enum rtn_type (after the 32-bit fields: 24 bytes, not 32) */
	uint8_t rt_uses_gateway;
};

/* Lives at the end of the data buffer; clones share it (Linux's skb_shared_info). */
struct skb_shared_info {
	int dataref;                /* heads pointing at this buffer */
	uint16_t gso_size;          /* segment payload size (MSS) when this is a GSO super-packet; 0: not GSO */
	uint16_t gso_segs;          /* segments it will become */
	uint16_t gso_type;          /* SKB_GSO_* */
	uint32_t bufsize;           /* bytes before this struct */
	uint8_t cached;             /* buffer came from the stack's cache */
};

struct sk_buff {
	struct sk_buff *next, *prev;    /* sk_buff_head links; first, as in Linux */
	struct np_stack *stack;         /* whose allocator owns the head */
	struct net_device *dev;         /* device it arrived on or leaves by */
	struct sock *sk;                /* owning socket, if any */
	void (*destructor)(struct sk_buff *skb);
	struct np_trace_path *trace;    /* NULL unless tracing: the only trace cost */
	uint64_t tstamp;                /* ns on the stack clock */

	unsigned char *head, *data;
	uint32_t tail, end;             /* offsets from head */
	uint32_t len;

	uint16_t mac_header, network_header, transport_header; /* offsets from head; 0xFFFF unset */
	uint16_t protocol;              /* EtherType, host order */
	uint16_t vlan_tci;              /* tag stripped on receive or to insert on send */
	uint8_t pkt_type;               /* PACKET_* */
	uint8_t ip_summed;              /* CHECKSUM_* */
	uint16_t csum_start;            /* CHECKSUM_PARTIAL: offset from head where summing starts */
	uint16_t csum_offset;           /* CHECKSUM_PARTIAL: where the result goes, from csum_start */
	uint8_t cloned : 1, vlan_present : 1, rt_valid : 1, from_cache : 1;
	uint8_t tapped : 1;               /* already captured: a requeued skb is not captured twice */
	int users;                      /* references to this head */
	uint32_t mark, priority;
	struct rtable rt;               /* valid when rt_valid */
	struct nf_conn *_nfct;          /* conntrack entry (a counted reference), NULL: none */
	uint8_t nfct_state;             /* enum nf_ct_state as conntrack classified it (0: not seen) */
	uint8_t nfct_dir;               /* enum ip_conntrack_dir of that classification */
	char cb[48] __attribute__((aligned(8))); /* per-layer private area (IPCB, TCP_SKB_CB ...) */
};

#define SKB_HDR_UNSET 0xFFFF

struct sk_buff_head {
	struct sk_buff *next, *prev;    /* must match sk_buff's first two fields */
	uint32_t qlen;
	uint32_t bytes;                 /* sum of skb->len on the queue */
};

static inline struct skb_shared_info *skb_shinfo(const struct sk_buff *skb)
{
	return (struct skb_shared_info *)(skb->head + skb->end);
}
/* Is this a GSO super-packet (one skb that will leave as several segments)? */
static inline int skb_is_gso(const struct sk_buff *skb) { return skb_shinfo(skb)->gso_size != 0; }
static inline unsigned char *skb_tail_pointer(const struct sk_buff *skb) { return skb->head + skb->tail; }
static inline unsigned char *skb_end_pointer(const struct sk_buff *skb) { return skb->head + skb->end; }
static inline uint32_t skb_headroom(const struct sk_buff *skb) { return (uint32_t)(skb->data - skb->head); }
static inline uint32_t skb_tailroom(const struct sk_buff *skb) { return skb->end - skb->tail; }

/* Allocates an skb with size bytes of data room (plus NP_SKB_HEADROOM reserved). NULL on no memory. */
struct sk_buff *alloc_skb(struct np_stack *s, uint32_t size);
/* alloc_skb for a received frame of len bytes: copies it in, sets dev; NULL on no memory. */
struct sk_buff *netdev_alloc_skb_copy(struct net_device *dev, const void *frame, uint32_t len);
/* Drops a reference; the last one counts the drop under reason, traces it and frees. */
void kfree_skb_reason(struct sk_buff *skb, enum np_drop_reason reason);
/* Drops a reference at a normal end of the path (no drop counted). */
void consume_skb(struct sk_buff *skb);
/* Takes another reference to the same head. */
static inline struct sk_buff *skb_get(struct sk_buff *skb) { skb->users++; return skb; }
/* New head sharing the data (read-only for both); NULL on no memory. Not traced. */
struct sk_buff *skb_clone(struct sk_buff *skb);
/*
 * Consumes skb but keeps its data buffer, which it returns (with the data's
 * offset, length and the buffer's end) for build_skb in another stack: a
 * zero-copy hand-over, as veth passes the skb itself. NULL (skb untouched)
 * when the buffer is shared, referenced twice, or from the stack's cache.
 */
unsigned char *skb_steal_data(struct sk_buff *skb, uint32_t *data_off, uint32_t *len, uint32_t *end);
/* Linux's build_skb: a new head in stack s around buf (its shared info at buf + end); NULL on no memory. */
struct sk_buff *build_skb(struct np_stack *s, unsigned char *buf, uint32_t end);
/* Full private copy with the same headroom; NULL on no memory. */
struct sk_buff *skb_copy(const struct sk_buff *skb);
/* Ensures the data is private (un-shares a clone) before writing; 0 or -ENOMEM. */
int skb_unshare_data(struct sk_buff *skb);

static inline void skb_reserve(struct sk_buff *skb, uint32_t len) { skb->data += len; skb->tail += len; }
/* Adds len bytes at the tail; returns where they start. Caller checked skb_tailroom. */
unsigned char *skb_put(struct sk_buff *skb, uint32_t len);
/* Adds len bytes in front; returns the new data. Caller checked skb_headroom. */
unsigned char *skb_push(struct sk_buff *skb, uint32_t len);
/* Removes len bytes from the front; NULL (and nothing changes) if len > skb->len. */
unsigned char *skb_pull(struct sk_buff *skb, uint32_t len);
/* Cuts the packet to len bytes (no-op if already shorter). */
void skb_trim(struct sk_buff *skb, uint32_t len);
/* True if the first len bytes are present (linear buffers: len <= skb->len). */
static inline int pskb_may_pull(const struct sk_buff *skb, uint32_t len) { return len <= skb->len; }

static inline void skb_reset_mac_header(struct sk_buff *skb) { skb->mac_header = (uint16_t)(skb->data - skb->head); }
static inline void skb_reset_network_header(struct sk_buff *skb) { skb->network_header = (uint16_t)(skb->data - skb->head); }
static inline void skb_reset_transport_header(struct sk_buff *skb) { skb->transport_header = (uint16_t)(skb->data - skb->head); }
static inline unsigned char *skb_mac_header(const struct sk_buff *skb) { return skb->head + skb->mac_header; }
static inline unsigned char *skb_network_header(const struct sk_buff *skb) { return skb->head + skb->network_header; }
static inline unsigned char *skb_transport_header(const struct sk_buff *skb) { return skb->head + skb->transport_header; }
static inline uint32_t skb_network_offset(const struct sk_buff *skb) { return (uint32_t)(skb->head + skb->network_header - skb->data); }

/* Queues (Linux's skb_queue_*); not locked: the owner serialises. */
void skb_queue_head_init(struct sk_buff_head *q);
void skb_queue_tail(struct sk_buff_head *q, struct sk_buff *skb);
void skb_queue_head(struct sk_buff_head *q, struct sk_buff *skb);
struct sk_buff *skb_dequeue(struct sk_buff_head *q);
struct sk_buff *skb_dequeue_tail(struct sk_buff_head *q);
void skb_unlink(struct sk_buff *skb, struct sk_buff_head *q);
static inline struct sk_buff *skb_peek(const struct sk_buff_head *q)
{
	return q->next == (const struct sk_buff *)q ? NULL : q->next;
}
static inline int skb_queue_empty(const struct sk_buff_head *q) { return q->qlen == 0; }
/* Frees every skb on the queue under reason. */
void skb_queue_purge_reason(struct sk_buff_head *q, enum np_drop_reason reason);

/* Per-stack allocator: called by np_stack_create/destroy. */
void skb_cache_init(struct np_stack *s);
void skb_cache_destroy(struct np_stack *s);

#endif
