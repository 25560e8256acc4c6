/*
 * Per-packet path trace. Each stage of the seed diagrams calls
 * trace_stage(skb, "fn"); when tracing is off that is one branch on a NULL
 * pointer. trace_begin attaches a record to a new packet; kfree_skb_reason
 * and consume_skb end it, print it and hand it to the callback.
 */
#ifndef NP_TRACE_TRACE_H
#define NP_TRACE_TRACE_H

#include "core/skbuff.h"
#include "netpath/netpath.h"

/* Starts a path on a new skb if the stack traces (tx: 1 for locally generated). */
void trace_begin(struct sk_buff *skb, int tx);
void trace_stage_slow(struct sk_buff *skb, const char *fn, const char *detail);
/* Ends the path (called from consume_skb/kfree_skb_reason): prints, calls back, frees. */
void trace_end(struct sk_buff *skb, int dropped, enum np_drop_reason reason);
/* Formats a one-line summary of the frame or IP packet in skb. */
void trace_summarize(const struct sk_buff *skb, char *out, size_t cap);

static inline void trace_stage(struct sk_buff *skb, const char *fn)
{
	if (__builtin_expect(skb->trace != NULL, 0))
		trace_stage_slow(skb, fn, NULL);
}
static inline void trace_stage_detail(struct sk_buff *skb, const char *fn, const char *detail)
{
	if (__builtin_expect(skb->trace != NULL, 0))
		trace_stage_slow(skb, fn, detail);
}

#endif
