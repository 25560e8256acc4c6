/*
 * tbf, the token bucket filter (Linux's net/sched/sch_tbf.c): shapes a
 * device to a rate, letting a burst through at once.
 * Place in the packet path: dev_queue_xmit -> tbf_enqueue (an inner byte
 * fifo, limit = rate * latency + burst as tc computes it) -> __qdisc_run ->
 * tbf_dequeue: the head leaves when the bucket holds its length's worth of
 * tokens; otherwise dequeue returns NULL and arms the qdisc watchdog for
 * the moment it will, which reschedules the device for NET_TX
 * (qdisc_watchdog -> netif_schedule -> net_tx_action -> __qdisc_run).
 *
 * Tokens are kept as Linux keeps them, in nanoseconds of transmission time
 * at the rate: the bucket holds at most `buffer` ns (burst bytes at the
 * rate) and fills with the stack clock, so a virtual clock shapes exactly.
 * The length charged is skb->len at the device: the Ethernet frame without
 * preamble and FCS, like Linux's qdisc_pkt_len.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/netdevice.h"
#include "core/stack.h"
#include "sched/sch_generic.h"
#include "trace/trace.h"

struct tbf_sched_data {
	uint64_t rate_bps;              /* bits per second */
	uint32_t burst;                 /* bucket size in bytes (max_size) */
	uint64_t buffer_ns;             /* the bucket in ns of transmission at the rate */
	uint64_t latency_ns;            /* as given, or derived from limit= */
	int64_t tokens;                 /* ns */
	uint64_t t_c;                   /* time of the last checkpoint */
	struct qdisc_watchdog watchdog;
};

static uint64_t tbf_len_ns(const struct tbf_sched_data *t, uint32_t len)
{
	return ((uint64_t)len * 8 * NSEC_PER_SEC + t->rate_bps - 1) / t->rate_bps;
}

/* Consumes skb: a frame larger than the bucket can never leave, one over the byte limit is tail-dropped. */
static int tbf_enqueue(struct sk_buff *skb, struct Qdisc *q)
{
	struct tbf_sched_data *t = q->priv;
	trace_stage(skb, "tbf_enqueue");
	if (skb->len > t->burst || (uint64_t)q->backlog + skb->len > q->limit)
		return qdisc_drop(skb, q);
	skb_queue_tail(&q->bands[0], skb);
	q->qlen++;
	q->backlog += skb->len;
	return NET_XMIT_SUCCESS;
}

/* Returns the head if the bucket covers it, else NULL with the watchdog armed for when it will. */
static struct sk_buff *tbf_dequeue(struct Qdisc *q)
{
	struct tbf_sched_data *t = q->priv;
	struct sk_buff *skb = skb_peek(&q->bands[0]);
	if (!skb)
		return NULL;
	uint64_t now = np_stack_now(q->dev->stack);
	uint64_t elapsed = now > t->t_c ? now - t->t_c : 0;
	int64_t toks = (int64_t)(elapsed < t->buffer_ns ? elapsed : t->buffer_ns) + t->tokens;
	if (toks > (int64_t)t->buffer_ns)
		toks = (int64_t)t->buffer_ns;
	toks -= (int64_t)tbf_len_ns(t, skb->len);
	if (toks >= 0) {
		skb_unlink(skb, &q->bands[0]);
		q->qlen--;
		q->backlog -= skb->len;
		t->t_c = now;
		t->tokens = toks;
		trace_stage(skb, "tbf_dequeue");
		return skb;
	}
	/* Not enough tokens: come back exactly when there will be. */
	qdisc_watchdog_schedule_ns(&t->watchdog, now + (uint64_t)(-toks));
	q->overlimits++;
	return NULL;
}

static void tbf_reset(struct Qdisc *q)
{
	struct tbf_sched_data *t = q->priv;
	skb_queue_purge_reason(&q->bands[0], NP_DROP_DEV_DOWN);
	q->qlen = 0;
	q->backlog = 0;
	if (q->gso_skb) {
		kfree_skb_reason(q->gso_skb, NP_DROP_DEV_DOWN);
		q->gso_skb = NULL;
	}
	if (t) {
		t->t_c = np_stack_now(q->dev->stack);
		t->tokens = (int64_t)t->buffer_ns;
		qdisc_watchdog_cancel(&t->watchdog);
	}
}

/* "rate=10mbit,burst=32k,latency=50ms" (or limit=BYTES instead of latency), as `tc qdisc add ... tbf`. */
static int tbf_init(struct Qdisc *q, const char *args, const char **errpos)
{
	struct tbf_sched_data *t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	q->priv = t;
	qdisc_watchdog_init(&t->watchdog, q);
	uint64_t burst = 0, limit = 0, v;
	int have_limit = 0, have_lat = 0;
	const char *p = args ? args : "";
	if (!*p) {
		if (errpos)
			*errpos = p;
		return -EINVAL;
	}
	for (;;) {
		const char *end = strchr(p, ',');
		if (!end)
			end = p + strlen(p);
		const char *eq = memchr(p, '=', (size_t)(end - p));
		int rc = -EINVAL;
		if (eq) {
			size_t klen = (size_t)(eq - p);
#define KEY(k) (klen == strlen(k) && !strncmp(p, k, klen))
			if (KEY("rate") && !t->rate_bps)
				rc = qdisc_parse_rate(eq + 1, end, &t->rate_bps);
			else if ((KEY("burst") || KEY("buffer") || KEY("maxburst")) && !burst)
				rc = qdisc_parse_size(eq + 1, end, &burst);
			else if ((KEY("latency") || KEY("lat")) && !have_lat && !have_limit)
				rc = qdisc_parse_time(eq + 1, end, &t->latency_ns), have_lat = 1;
			else if (KEY("limit") && !have_lat && !have_limit)
				rc = qdisc_parse_size(eq + 1, end, &limit), have_limit = 1;
#undef KEY
		}
		if (rc == 0 && burst > UINT32_MAX)
			rc = -EINVAL;
		if (rc < 0) {
			if (errpos)
				*errpos = p;
			return -EINVAL;
		}
		if (!*end)
			break;
		p = end + 1;
	}
	/* tc requires rate, burst and one of latency or limit. */
	if (!t->rate_bps || !burst || (!have_lat && !have_limit)) {
		if (errpos)
			*errpos = args;
		return -EINVAL;
	}
	t->burst = (uint32_t)burst;
	t->buffer_ns = tbf_len_ns(t, t->burst);
	if (have_lat) {
		/* tc: limit = rate * latency + burst, in bytes. */
		v = (uint64_t)((double)t->rate_bps / 8 * (double)t->latency_ns / 1e9) + burst;
		limit = v;
	} else {
		t->latency_ns = limit > burst ? tbf_len_ns(t, (uint32_t)(limit - burst > UINT32_MAX ? UINT32_MAX : limit - burst)) : 0;
	}
	if (limit == 0 || limit > UINT32_MAX) {
		if (errpos)
			*errpos = args;
		return -EINVAL;
	}
	q->limit = (uint32_t)limit;
	t->tokens = (int64_t)t->buffer_ns;
	t->t_c = np_stack_now(q->dev->stack);
	return 0;
}

static void tbf_destroy(struct Qdisc *q)
{
	struct tbf_sched_data *t = q->priv;
	if (!t)
		return;
	qdisc_watchdog_cancel(&t->watchdog);
	free(t);
	q->priv = NULL;
}

static void tbf_dump(const struct Qdisc *q, char *buf, size_t cap)
{
	const struct tbf_sched_data *t = q->priv;
	char rate[32], burst[32];
	if (t->rate_bps >= 1000000000 && t->rate_bps % 1000000000 == 0)
		snprintf(rate, sizeof(rate), "%lluGbit", (unsigned long long)(t->rate_bps / 1000000000));
	else if (t->rate_bps >= 1000000 && t->rate_bps % 1000000 == 0)
		snprintf(rate, sizeof(rate), "%lluMbit", (unsigned long long)(t->rate_bps / 1000000));
	else if (t->rate_bps >= 1000 && t->rate_bps % 1000 == 0)
		snprintf(rate, sizeof(rate), "%lluKbit", (unsigned long long)(t->rate_bps / 1000));
	else
		snprintf(rate, sizeof(rate), "%llubit", (unsigned long long)t->rate_bps);
	if (t->burst >= 1 << 20 && t->burst % (1 << 20) == 0)
		snprintf(burst, sizeof(burst), "%uMb", t->burst >> 20);
	else if (t->burst >= 1024 && t->burst % 1024 == 0)
		snprintf(burst, sizeof(burst), "%uKb", t->burst >> 10);
	else
		snprintf(burst, sizeof(burst), "%ub", t->burst);
	snprintf(buf, cap, "rate %s burst %s lat %.1fms limit %ub", rate, burst,
		 (double)t->latency_ns / (double)NSEC_PER_MSEC, q->limit);
}

const struct Qdisc_ops tbf_qdisc_ops = {
	.id = "tbf",
	.enqueue = tbf_enqueue,
	.dequeue = tbf_dequeue,
	.reset = tbf_reset,
	.init = tbf_init,
	.destroy = tbf_destroy,
	.dump = tbf_dump,
};
