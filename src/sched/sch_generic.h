/*
 * Queueing disciplines under dev_queue_xmit (Linux's net/sched/sch_generic.c):
 *   dev_queue_xmit -> qdisc->enqueue -> __qdisc_run -> dequeue
 *   -> dev_hard_start_xmit; a busy driver requeues and the device is
 *   rescheduled for the NET_TX softirq (__netif_schedule -> net_tx_action).
 */
#ifndef NP_SCHED_SCH_GENERIC_H
#define NP_SCHED_SCH_GENERIC_H

#include "core/skbuff.h"

struct net_device;

enum { NET_XMIT_SUCCESS = 0, NET_XMIT_DROP = 1 };

struct Qdisc;
struct Qdisc_ops {
	const char *id;
	/* Consumes skb: queues it or frees it with QDISC_DROP. */
	int (*enqueue)(struct sk_buff *skb, struct Qdisc *q);
	struct sk_buff *(*dequeue)(struct Qdisc *q);
	void (*reset)(struct Qdisc *q);
};

struct Qdisc {
	const struct Qdisc_ops *ops;
	struct net_device *dev;
	struct sk_buff *gso_skb;        /* requeued after NETDEV_TX_BUSY */
	uint32_t limit;
	uint32_t qlen;
	uint64_t drops, requeues, packets, bytes;
	struct sk_buff_head bands[3];   /* pfifo_fast */
};

/* pfifo_fast with limit = dev->tx_queue_len. NULL on no memory. */
struct Qdisc *qdisc_create_default(struct net_device *dev);
void qdisc_destroy(struct Qdisc *q);
/* Sends while the driver accepts and the quota (64) lasts; returns packets sent. */
int __qdisc_run(struct Qdisc *q);

#endif
