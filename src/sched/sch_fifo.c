/*
 * pfifo and bfifo: one first-in first-out queue with a limit in packets or
 * in bytes (Linux's net/sched/sch_fifo.c). Also the inner queue of tbf.
 * Place in the packet path: dev_queue_xmit -> pfifo_enqueue (tail drop
 * with QDISC_DROP over the limit) -> __qdisc_run -> fifo_dequeue ->
 * dev_hard_start_xmit.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/netdevice.h"
#include "sched/sch_generic.h"
#include "trace/trace.h"

/* Consumes skb: tail drop when qlen would pass limit packets. */
static int pfifo_enqueue(struct sk_buff *skb, struct Qdisc *q)
{
	trace_stage(skb, "pfifo_enqueue");
	if (q->qlen >= q->limit)
		return qdisc_drop(skb, q);
	skb_queue_tail(&q->bands[0], skb);
	q->qlen++;
	q->backlog += skb->len;
	return NET_XMIT_SUCCESS;
}

/* Consumes skb: tail drop when the backlog would pass limit bytes. */
static int bfifo_enqueue(struct sk_buff *skb, struct Qdisc *q)
{
	trace_stage(skb, "bfifo_enqueue");
	if ((uint64_t)q->backlog + skb->len > q->limit)
		return qdisc_drop(skb, q);
	skb_queue_tail(&q->bands[0], skb);
	q->qlen++;
	q->backlog += skb->len;
	return NET_XMIT_SUCCESS;
}

static struct sk_buff *fifo_dequeue(struct Qdisc *q)
{
	struct sk_buff *skb = skb_dequeue(&q->bands[0]);
	if (skb) {
		q->qlen--;
		q->backlog -= skb->len;
	}
	return skb;
}

static void fifo_reset(struct Qdisc *q)
{
	skb_queue_purge_reason(&q->bands[0], NP_DROP_DEV_DOWN);
	q->qlen = 0;
	q->backlog = 0;
	if (q->gso_skb) {
		kfree_skb_reason(q->gso_skb, NP_DROP_DEV_DOWN);
		q->gso_skb = NULL;
	}
}

/* "limit=N": packets for pfifo, a size for bfifo. Default as Linux: txqueuelen, times the MTU for bfifo. */
static int fifo_init(struct Qdisc *q, const char *args, const char **errpos, int bytes)
{
	q->limit = bytes ? q->dev->tx_queue_len * (q->dev->mtu + q->dev->hard_header_len) : q->dev->tx_queue_len;
	if (!args || !*args)
		return 0;
	const char *end = args + strlen(args);
	uint64_t v;
	int rc = -EINVAL;
	if (!strncmp(args, "limit=", 6)) {
		const char *p = args + 6;
		if (bytes) {
			rc = qdisc_parse_size(p, end, &v);
		} else {
			char *e;
			v = 0;
			rc = -EINVAL;
			if (*p >= '0' && *p <= '9') {
				v = strtoull(p, &e, 10);
				rc = e == end ? 0 : -EINVAL;
			}
		}
		if (rc == 0 && (v == 0 || v > UINT32_MAX))
			rc = -EINVAL;
	}
	if (rc < 0) {
		if (errpos)
			*errpos = args;
		return rc;
	}
	q->limit = (uint32_t)v;
	return 0;
}

static int pfifo_init(struct Qdisc *q, const char *args, const char **errpos)
{
	return fifo_init(q, args, errpos, 0);
}

static int bfifo_init(struct Qdisc *q, const char *args, const char **errpos)
{
	return fifo_init(q, args, errpos, 1);
}

static void pfifo_dump(const struct Qdisc *q, char *buf, size_t cap) { snprintf(buf, cap, "limit %up", q->limit); }
static void bfifo_dump(const struct Qdisc *q, char *buf, size_t cap) { snprintf(buf, cap, "limit %ub", q->limit); }

const struct Qdisc_ops pfifo_qdisc_ops = {
	.id = "pfifo",
	.enqueue = pfifo_enqueue,
	.dequeue = fifo_dequeue,
	.reset = fifo_reset,
	.init = pfifo_init,
	.dump = pfifo_dump,
	.can_bypass = 1,
};

const struct Qdisc_ops bfifo_qdisc_ops = {
	.id = "bfifo",
	.enqueue = bfifo_enqueue,
	.dequeue = fifo_dequeue,
	.reset = fifo_reset,
	.init = bfifo_init,
	.dump = bfifo_dump,
	.can_bypass = 1,
};
