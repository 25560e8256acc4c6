/*
 * The default queueing discipline, pfifo_fast, and the qdisc runner
 * (Linux's net/sched/sch_generic.c).
 * Place in the packet path: dev_queue_xmit -> pfifo_fast_enqueue ->
 *   __qdisc_run -> pfifo_fast_dequeue -> dev_hard_start_xmit; when the
 *   driver is busy the packet is requeued and the device rescheduled for
 *   the NET_TX softirq (__netif_schedule -> net_tx_action), seed 003.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/netdevice.h"
#include "core/stack.h"
#include "sched/sch_generic.h"
#include "trace/trace.h"

/* Linux's prio2band: skb->priority (from the TOS) to one of three bands, 0 first. */
static const uint8_t prio2band[16] = { 1, 2, 2, 2, 1, 2, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1 };

static int pfifo_fast_enqueue(struct sk_buff *skb, struct Qdisc *q)
{
	trace_stage(skb, "pfifo_fast_enqueue");
	if (q->qlen >= q->limit)
		return qdisc_drop(skb, q);
	skb_queue_tail(&q->bands[prio2band[skb->priority & 15]], skb);
	q->qlen++;
	q->backlog += skb->len;
	return NET_XMIT_SUCCESS;
}

static struct sk_buff *pfifo_fast_dequeue(struct Qdisc *q)
{
	for (int b = 0; b < 3; b++) {
		struct sk_buff *skb = skb_dequeue(&q->bands[b]);
		if (skb) {
			q->qlen--;
			q->backlog -= skb->len;
			return skb;
		}
	}
	return NULL;
}

static void pfifo_fast_reset(struct Qdisc *q)
{
	for (int b = 0; b < 3; b++)
		skb_queue_purge_reason(&q->bands[b], NP_DROP_DEV_DOWN);
	q->qlen = 0;
	q->backlog = 0;
	if (q->gso_skb) {
		kfree_skb_reason(q->gso_skb, NP_DROP_DEV_DOWN);
		q->gso_skb = NULL;
	}
}

static int pfifo_fast_init(struct Qdisc *q, const char *args, const char **errpos)
{
	/* pfifo_fast takes no parameters: its limit is the device's txqueuelen. */
	if (args && *args) {
		if (errpos)
			*errpos = args;
		return -EINVAL;
	}
	q->limit = q->dev->tx_queue_len;
	return 0;
}

static void pfifo_fast_dump(const struct Qdisc *q, char *buf, size_t cap)
{
	size_t n = (size_t)snprintf(buf, cap, "bands 3 priomap");
	for (int i = 0; i < 16 && n < cap; i++)
		n += (size_t)snprintf(buf + n, cap - n, " %u", prio2band[i]);
}

const struct Qdisc_ops pfifo_fast_ops = {
	.id = "pfifo_fast",
	.enqueue = pfifo_fast_enqueue,
	.dequeue = pfifo_fast_dequeue,
	.reset = pfifo_fast_reset,
	.init = pfifo_fast_init,
	.dump = pfifo_fast_dump,
	.can_bypass = 1,
};

int qdisc_drop(struct sk_buff *skb, struct Qdisc *q)
{
	q->drops++;
	kfree_skb_reason(skb, NP_DROP_QDISC_DROP);
	return NET_XMIT_DROP;
}

static void qdisc_watchdog_fire(struct np_timer *t)
{
	struct qdisc_watchdog *wd = container_of(t, struct qdisc_watchdog, timer);
	/* Enough tokens now (or time to send): NET_TX dequeues again (Linux's qdisc_watchdog). */
	netif_schedule(wd->q->dev);
}

void qdisc_watchdog_init(struct qdisc_watchdog *wd, struct Qdisc *q)
{
	timer_setup(&wd->timer, qdisc_watchdog_fire);
	wd->q = q;
}

void qdisc_watchdog_schedule_ns(struct qdisc_watchdog *wd, uint64_t expires)
{
	if (timer_pending(&wd->timer) && wd->timer.expires <= expires)
		return;
	/* mod_timer fails only without memory; the next enqueue runs the qdisc again. */
	(void)mod_timer(wd->q->dev->stack, &wd->timer, expires);
}

void qdisc_watchdog_cancel(struct qdisc_watchdog *wd)
{
	if (timer_pending(&wd->timer))
		del_timer(wd->q->dev->stack, &wd->timer);
}

struct Qdisc *qdisc_create_default(struct net_device *dev)
{
	struct Qdisc *q = calloc(1, sizeof(*q));
	if (!q)
		return NULL;
	q->ops = &pfifo_fast_ops;
	q->dev = dev;
	q->limit = dev->tx_queue_len;
	for (int b = 0; b < 3; b++)
		skb_queue_head_init(&q->bands[b]);
	return q;
}

void qdisc_destroy(struct Qdisc *q)
{
	if (q->ops->reset)
		q->ops->reset(q);
	if (q->ops->destroy)
		q->ops->destroy(q);
	free(q);
}

static int qdisc_restart_all(struct Qdisc *q)
{
	struct net_device *dev = q->dev;
	int quota = 64, sent = 0;
	while (quota-- > 0) {
		struct sk_buff *skb = q->gso_skb;
		if (skb)
			q->gso_skb = NULL;
		else if (!(skb = q->ops->dequeue(q)))
			return sent;
		uint32_t len = skb->len;
		if (dev_hard_start_xmit(skb, dev) != NETDEV_TX_OK) {
			/* The driver kept it: hold it at the head and retry from NET_TX. */
			q->gso_skb = skb;
			q->requeues++;
			netif_schedule(dev);
			return sent;
		}
		q->packets++;
		q->bytes += len;
		sent++;
	}
	/* Quota used up with packets left: yield to other work, continue in NET_TX. */
	if (q->qlen)
		netif_schedule(dev);
	return sent;
}

/* The runner marks the qdisc busy so that a packet sent meanwhile queues behind, never bypasses. */
int __qdisc_run(struct Qdisc *q)
{
	int was = q->running;
	q->running = 1;
	int sent = qdisc_restart_all(q);
	q->running = was;
	return sent;
}
