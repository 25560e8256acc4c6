/*
 * netem as a qdisc (Linux's net/sched/sch_netem.c): delay, jitter, loss,
 * duplication, reordering, corruption and a rate, seeded and reproducible.
 * It is built on the fault-injection layer (drivers/faults.c), which
 * already makes netem's decisions in netem's order; this file only places
 * that layer under dev_queue_xmit instead of beside the driver.
 * Place in the packet path: dev_queue_xmit -> netem_enqueue -> faults_apply
 *   (netem_enqueue/netem_dequeue trace stages; losses freed with
 *   FAULT_INJECTED_LOSS) -> netem_deliver puts each surviving copy on the
 *   ready queue, now or from the faults timer when its time comes; a timer
 *   delivery reschedules the device (netif_schedule -> net_tx_action) ->
 *   __qdisc_run -> netem_dequeue -> dev_hard_start_xmit.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/netdevice.h"
#include "core/stack.h"
#include "drivers/faults.h"
#include "sched/sch_generic.h"
#include "trace/trace.h"

struct netem_sched_data {
	struct np_faults *faults;
	uint64_t delivered;             /* copies faults handed back to the ready queue */
	int in_enqueue;                 /* delivering synchronously: dev_queue_xmit runs the qdisc itself */
};

/* The faults layer's deliver function: consumes skb onto the ready queue of dev's netem. */
static void netem_deliver(struct net_device *dev, struct sk_buff *skb)
{
	struct Qdisc *q = dev->qdisc;
	if (!q || q->ops != &netem_qdisc_ops) {
		/* The qdisc was replaced meanwhile (its faults were flushed, so this cannot happen). */
		kfree_skb_reason(skb, NP_DROP_QDISC_DROP);
		return;
	}
	struct netem_sched_data *n = q->priv;
	n->delivered++;
	skb_queue_tail(&q->bands[0], skb);
	q->qlen++;
	q->backlog += skb->len;
	if (!n->in_enqueue)
		netif_schedule(dev);
}

/* Consumes skb: the faults layer decides its fate (a loss is a success to the sender, as in Linux). */
static int netem_enqueue(struct sk_buff *skb, struct Qdisc *q)
{
	struct netem_sched_data *n = q->priv;
	struct np_fault_stats before, after;
	faults_get_stats(n->faults, &before);
	n->in_enqueue = 1;
	faults_apply(n->faults, q->dev, skb, netem_deliver);
	n->in_enqueue = 0;
	faults_get_stats(n->faults, &after);
	q->drops += (after.lost - before.lost) + (after.rate_dropped - before.rate_dropped);
	return NET_XMIT_SUCCESS;
}

static struct sk_buff *netem_dequeue(struct Qdisc *q)
{
	struct sk_buff *skb = skb_dequeue(&q->bands[0]);
	if (skb) {
		q->qlen--;
		q->backlog -= skb->len;
	}
	return skb;
}

static void netem_reset(struct Qdisc *q)
{
	struct netem_sched_data *n = q->priv;
	if (n && n->faults) {
		/* Flushed packets never come back: count them as delivered so held() stays right. */
		uint32_t held = q->ops->held(q);
		faults_flush(n->faults);
		n->delivered += held;
	}
	skb_queue_purge_reason(&q->bands[0], NP_DROP_DEV_DOWN);
	q->qlen = 0;
	q->backlog = 0;
	if (q->gso_skb) {
		kfree_skb_reason(q->gso_skb, NP_DROP_DEV_DOWN);
		q->gso_skb = NULL;
	}
}

/* Packets inside the delay line: offered + duplicated - lost - delivered. */
static uint32_t netem_held(const struct Qdisc *q)
{
	const struct netem_sched_data *n = q->priv;
	struct np_fault_stats st;
	faults_get_stats(n->faults, &st);
	uint64_t in = st.seen + st.duplicated, out = st.lost + st.rate_dropped + n->delivered;
	return in > out ? (uint32_t)(in - out) : 0;
}

/* The keys of faults_parse: delay, jitter, loss, dup, reorder, corrupt, rate, limit, seed. */
static int netem_init(struct Qdisc *q, const char *args, const char **errpos)
{
	struct netem_sched_data *n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	q->priv = n;
	int err = 0;
	if (args && *args && strcmp(args, "off") != 0) {
		n->faults = faults_parse(args, errpos, &err);
		if (!n->faults)
			return err ? err : -EINVAL;
	}
	/* No impairment ("netem" alone): faults stays NULL and faults_apply passes packets straight on. */
	return 0;
}

static void netem_destroy(struct Qdisc *q)
{
	struct netem_sched_data *n = q->priv;
	if (!n)
		return;
	faults_free(n->faults);
	free(n);
	q->priv = NULL;
}

static void netem_dump(const struct Qdisc *q, char *buf, size_t cap)
{
	const struct netem_sched_data *n = q->priv;
	char spec[160];
	struct np_fault_stats st;
	faults_format(n->faults, spec, sizeof(spec));
	faults_get_stats(n->faults, &st);
	snprintf(buf, cap, "%s (lost %llu duplicated %llu reordered %llu corrupted %llu)", spec,
		 (unsigned long long)st.lost, (unsigned long long)st.duplicated, (unsigned long long)st.reordered,
		 (unsigned long long)st.corrupted);
}

const struct Qdisc_ops netem_qdisc_ops = {
	.id = "netem",
	.enqueue = netem_enqueue,
	.dequeue = netem_dequeue,
	.reset = netem_reset,
	.init = netem_init,
	.destroy = netem_destroy,
	.dump = netem_dump,
	.held = netem_held,
};
