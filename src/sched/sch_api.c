/*
 * Choosing and showing a device's queueing discipline (Linux's
 * net/sched/sch_api.c, driven by `tc qdisc replace` and `tc -s qdisc`).
 * Place in the packet path: none itself; it installs the qdisc that
 *   dev_queue_xmit -> qdisc->enqueue -> __qdisc_run -> qdisc->dequeue
 * runs for every packet the device sends.
 *   np_dev_set_qdisc -> qdisc_create (ops->init parses the spec) -> the old
 *   qdisc is reset (its packets dropped) and destroyed, as a replace does.
 *   np_qdisc_print -> one `tc -s qdisc` paragraph per device.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/netdevice.h"
#include "core/stack.h"
#include "sched/sch_generic.h"

static const struct Qdisc_ops *const qdisc_base[] = {
	&pfifo_fast_ops, &pfifo_qdisc_ops, &bfifo_qdisc_ops, &tbf_qdisc_ops, &netem_qdisc_ops,
};

/* ---- tc's units ------------------------------------------------------- */

/* Reads digits[.digits] (up to 3 decimals) as thousandths; returns the first byte after it, NULL if none. */
static const char *parse_milli(const char *p, const char *end, uint64_t *out)
{
	uint64_t v = 0;
	int digits = 0, decimals = -1;
	for (; p < end; p++) {
		if (*p == '.' && decimals < 0 && digits) {
			decimals = 0;
			continue;
		}
		if (*p < '0' || *p > '9')
			break;
		if (decimals >= 0 && ++decimals > 3)
			return NULL;
		if (v > (UINT64_MAX - 9) / 10)
			return NULL;
		v = v * 10 + (uint64_t)(*p - '0');
		digits++;
	}
	if (!digits || decimals == 0)
		return NULL;
	for (int d = decimals < 0 ? 0 : decimals; d < 3; d++) {
		if (v > UINT64_MAX / 10)
			return NULL;
		v *= 10;
	}
	*out = v;
	return p;
}

struct unit {
	const char *name;
	uint64_t mult;      /* base units per unit, times 8 for sizes given in bits */
};

/* value (thousandths) * mult / (1000 * div), which must be whole enough to be nonzero when value is. */
static int parse_units(const char *p, const char *end, const struct unit *u, size_t n, uint64_t div,
		       uint64_t *out)
{
	uint64_t v;
	const char *q = parse_milli(p, end, &v);
	if (!q)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if ((size_t)(end - q) != strlen(u[i].name) || strncasecmp(q, u[i].name, (size_t)(end - q)))
			continue;
		if (v && u[i].mult > UINT64_MAX / v)
			return -EINVAL;
		*out = v * u[i].mult / (1000 * div);
		return 0;
	}
	return -EINVAL;
}

int qdisc_parse_size(const char *p, const char *end, uint64_t *bytes)
{
	/* Bits are counted in eighths of a byte, then divided by 8. */
	static const struct unit u[] = {
		{ "", 8 },           { "b", 8 },           { "k", 8 << 10 },           { "kb", 8 << 10 },
		{ "m", 8 << 20 },    { "mb", 8 << 20 },    { "g", 8ull << 30 },        { "gb", 8ull << 30 },
		{ "kbit", 1 << 10 }, { "mbit", 1 << 20 },  { "gbit", 1ull << 30 },
	};
	return parse_units(p, end, u, sizeof(u) / sizeof(u[0]), 8, bytes);
}

int qdisc_parse_rate(const char *p, const char *end, uint64_t *bits_per_sec)
{
	static const struct unit u[] = {
		{ "bit", 1 },      { "kbit", 1000 },      { "mbit", 1000000 },      { "gbit", 1000000000 },
		{ "bps", 8 },      { "kbps", 8000 },      { "mbps", 8000000 },      { "gbps", 8000000000ull },
	};
	int rc = parse_units(p, end, u, sizeof(u) / sizeof(u[0]), 1, bits_per_sec);
	return rc < 0 || *bits_per_sec == 0 ? -EINVAL : 0;
}

int qdisc_parse_time(const char *p, const char *end, uint64_t *ns)
{
	static const struct unit u[] = {
		{ "us", NSEC_PER_USEC }, { "usec", NSEC_PER_USEC }, { "ms", NSEC_PER_MSEC },
		{ "msec", NSEC_PER_MSEC }, { "s", NSEC_PER_SEC },   { "sec", NSEC_PER_SEC },
	};
	return parse_units(p, end, u, sizeof(u) / sizeof(u[0]), 1, ns);
}

/* ---- create, replace, show -------------------------------------------- */

struct Qdisc *qdisc_create(struct net_device *dev, const char *spec, const char **errpos, int *err)
{
	int dummy;
	if (!err)
		err = &dummy;
	*err = -EINVAL;
	if (!spec || !*spec) {
		if (errpos)
			*errpos = spec;
		return NULL;
	}
	const char *colon = strchr(spec, ':');
	size_t nlen = colon ? (size_t)(colon - spec) : strlen(spec);
	const struct Qdisc_ops *ops = NULL;
	for (size_t i = 0; i < sizeof(qdisc_base) / sizeof(qdisc_base[0]); i++)
		if (strlen(qdisc_base[i]->id) == nlen && !strncmp(spec, qdisc_base[i]->id, nlen))
			ops = qdisc_base[i];
	if (!ops) {
		if (errpos)
			*errpos = spec;
		return NULL;
	}
	struct Qdisc *q = calloc(1, sizeof(*q));
	if (!q) {
		*err = -ENOMEM;
		return NULL;
	}
	q->ops = ops;
	q->dev = dev;
	q->limit = dev->tx_queue_len;
	for (int b = 0; b < 3; b++)
		skb_queue_head_init(&q->bands[b]);
	int rc = ops->init ? ops->init(q, colon ? colon + 1 : NULL, errpos) : 0;
	if (rc < 0) {
		if (ops->destroy)
			ops->destroy(q);
		free(q);
		*err = rc;
		return NULL;
	}
	*err = 0;
	return q;
}

int np_dev_set_qdisc(struct np_dev *d, const char *spec, const char **errpos)
{
	struct net_device *dev = (struct net_device *)d;
	struct np_stack *s = dev->stack;
	int err;
	np_stack_lock(s);
	struct Qdisc *q = qdisc_create(dev, spec, errpos, &err);
	if (q) {
		/* tc numbers the qdiscs it creates 8001:, 8002: ... per device; the default is 0:. */
		uint32_t prev = dev->qdisc ? dev->qdisc->handle : 0;
		q->handle = prev ? prev + 0x10000 : 0x80010000u;
		if (dev->qdisc)
			qdisc_destroy(dev->qdisc);
		dev->qdisc = q;
	}
	np_stack_unlock(s);
	return q ? 0 : err;
}

void np_qdisc_print(struct np_stack *s, FILE *out)
{
	np_stack_lock(s);
	for (struct net_device *d = s->dev_list; d; d = d->next) {
		const struct Qdisc *q = d->qdisc;
		char params[160] = "";
		if (!q)
			continue;
		if (q->ops->dump)
			q->ops->dump(q, params, sizeof(params));
		fprintf(out, "qdisc %s %x: dev %s root %s\n", q->ops->id, q->handle >> 16, d->name, params);
		uint32_t held = q->ops->held ? q->ops->held(q) : 0;
		fprintf(out, " Sent %llu bytes %llu pkt (dropped %llu, overlimits %llu requeues %llu)\n",
			(unsigned long long)q->bytes, (unsigned long long)q->packets, (unsigned long long)q->drops,
			(unsigned long long)q->overlimits, (unsigned long long)q->requeues);
		fprintf(out, " backlog %ub %up requeues %llu\n", q->backlog, q->qlen + held + (q->gso_skb ? 1 : 0),
			(unsigned long long)q->requeues);
	}
	np_stack_unlock(s);
}
