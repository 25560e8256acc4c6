/*
 * Queueing disciplines under dev_queue_xmit (Linux's net/sched/sch_generic.c):
 *   dev_queue_xmit -> qdisc->enqueue -> __qdisc_run -> dequeue
 *   -> dev_hard_start_xmit; a busy driver requeues and the device is
 *   rescheduled for the NET_TX softirq (__netif_schedule -> net_tx_action).
 */
#ifndef NP_SCHED_SCH_GENERIC_H
#define NP_SCHED_SCH_GENERIC_H

#include <stddef.h>

#include "core/skbuff.h"
#include "core/timer.h"

struct net_device;

enum { NET_XMIT_SUCCESS = 0, NET_XMIT_DROP = 1 };

struct Qdisc;
struct Qdisc_ops {
	const char *id;
	/* Consumes skb: queues it or frees it with QDISC_DROP. */
	int (*enqueue)(struct sk_buff *skb, struct Qdisc *q);
	struct sk_buff *(*dequeue)(struct Qdisc *q);
	void (*reset)(struct Qdisc *q);
	/* Parses "key=value,..." (may be NULL); 0, or -EINVAL with *errpos at the bad key, or -ENOMEM. */
	int (*init)(struct Qdisc *q, const char *args, const char **errpos);
	/* Frees q->priv (after reset). */
	void (*destroy)(struct Qdisc *q);
	/* The parameters as `tc qdisc show` prints them, e.g. "rate 10Mbit burst 32Kb lat 50ms". */
	void (*dump)(const struct Qdisc *q, char *buf, size_t cap);
	/* Packets held inside the discipline beyond qlen (netem's delay line); may be NULL. */
	uint32_t (*held)(const struct Qdisc *q);
	/*
	 * Work-conserving FIFO (Linux's TCQ_F_CAN_BYPASS): with nothing queued a
	 * packet may go straight to the driver (sch_direct_xmit), skipping an
	 * enqueue and a dequeue that could not reorder or delay it.
	 */
	int can_bypass;
};

struct Qdisc {
	const struct Qdisc_ops *ops;
	struct net_device *dev;
	struct sk_buff *gso_skb;        /* requeued after NETDEV_TX_BUSY */
	int running;                    /* a packet is in the driver (Linux's qdisc_run_begin): no bypass meanwhile */
	uint32_t limit;
	uint32_t qlen;
	uint64_t drops, requeues, packets, bytes;
	uint64_t overlimits;            /* tbf: dequeue found too few tokens */
	uint32_t backlog;               /* bytes queued (qlen packets) */
	uint32_t handle;                /* 0 for the default, 0x80010000 ... as tc numbers them */
	struct sk_buff_head bands[3];   /* pfifo_fast; pfifo/bfifo use bands[0] */
	void *priv;                     /* the discipline's own state (tbf, netem) */
};

extern const struct Qdisc_ops pfifo_fast_ops, pfifo_qdisc_ops, bfifo_qdisc_ops, tbf_qdisc_ops, netem_qdisc_ops;

/* Consumes skb: counts a QDISC_DROP on q and frees it (Linux's qdisc_drop). Returns NET_XMIT_DROP. */
int qdisc_drop(struct sk_buff *skb, struct Qdisc *q);

/* Linux's qdisc_watchdog: a timer that reschedules the device (netif_schedule) when it fires. */
struct qdisc_watchdog {
	struct np_timer timer;
	struct Qdisc *q;
};
void qdisc_watchdog_init(struct qdisc_watchdog *wd, struct Qdisc *q);
/* Arms the watchdog for expires (ns on the stack clock); an earlier pending time is kept. */
void qdisc_watchdog_schedule_ns(struct qdisc_watchdog *wd, uint64_t expires);
void qdisc_watchdog_cancel(struct qdisc_watchdog *wd);

/*
 * Creates a qdisc for dev from "name" or "name:key=value,..." (pfifo_fast,
 * pfifo, bfifo, tbf, netem). NULL with *err = -EINVAL (*errpos at the bad
 * part of spec) or -ENOMEM.
 */
struct Qdisc *qdisc_create(struct net_device *dev, const char *spec, const char **errpos, int *err);

/*
 * Size and time values as tc writes them. Sizes: bytes, with b, k/kb,
 * m/mb, g/gb (powers of 1024) or kbit/mbit/gbit; rates: bit, kbit, mbit,
 * gbit (powers of 1000) or bps, kbps, mbps (bytes); times: us, ms, s.
 * Each parses [p, end) completely; 0 or -EINVAL.
 */
int qdisc_parse_size(const char *p, const char *end, uint64_t *bytes);
int qdisc_parse_rate(const char *p, const char *end, uint64_t *bits_per_sec);
int qdisc_parse_time(const char *p, const char *end, uint64_t *ns);

/* pfifo_fast with limit = dev->tx_queue_len. NULL on no memory. */
struct Qdisc *qdisc_create_default(struct net_device *dev);
void qdisc_destroy(struct Qdisc *q);
/* Sends while the driver accepts and the quota (64) lasts; returns packets sent. */
int __qdisc_run(struct Qdisc *q);

#endif
