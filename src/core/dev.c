/*
 * Devices, NAPI, the receive core and the transmit core (Linux's
 * net/core/dev.c).
 * Receive: driver "hard IRQ" (netif_irq_raise) -> napi_schedule ->
 *   net_rx_action -> napi->poll -> napi_gro_receive -> netif_receive_skb
 *   -> [rx faults] -> __netif_receive_skb_core -> taps (pcap) ->
 *   eth_type_trans -> ptype_base[EtherType]->func (ip_rcv, arp_rcv).
 *   Non-NAPI drivers (loopback): netif_rx -> input_pkt_queue ->
 *   process_backlog -> __netif_receive_skb.
 * Send: dev_queue_xmit -> qdisc enqueue -> __qdisc_run ->
 *   dev_hard_start_xmit -> taps (pcap) -> [tx faults] -> ndo_start_xmit.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/netdevice.h"
#include "core/stack.h"
#include "drivers/faults.h"
#include "net/8021q/vlan.h"
#include "net/ipv4/neighbour.h"
#include "net/ipv4/route.h"
#include "sched/sch_generic.h"
#include "trace/capture.h"
#include "trace/trace.h"
#include "wire/eth.h"

/* ---- device life ----------------------------------------------------- */

struct net_device *alloc_netdev(struct np_stack *s, const char *name, size_t priv_size)
{
	struct net_device *dev = calloc(1, sizeof(*dev) + priv_size);
	if (!dev)
		return NULL;
	snprintf(dev->name, sizeof(dev->name), "%s", name);
	dev->stack = s;
	dev->mtu = ETH_DATA_LEN;
	dev->tx_queue_len = NP_TX_QUEUE_LEN;
	dev->napi.dev = dev;
	dev->napi.weight = NP_NAPI_WEIGHT;
	atomic_init(&dev->irq_pending, 0);
	dev->priv = priv_size ? (void *)(dev + 1) : NULL;
	return dev;
}

void ether_setup(struct net_device *dev)
{
	dev->type = ARPHRD_ETHER_;
	dev->hard_header_len = ETH_HLEN;
	dev->mtu = ETH_DATA_LEN;
	dev->flags |= NPF_BROADCAST;
	memset(dev->broadcast, 0xff, ETH_ALEN);
	uint64_t r = np_random(dev->stack);
	memcpy(dev->dev_addr, &r, ETH_ALEN);
	/* Locally administered unicast, as Linux's eth_random_addr. */
	dev->dev_addr[0] = (uint8_t)((dev->dev_addr[0] & 0xfe) | 0x02);
}

struct net_device *dev_get_by_name(struct np_stack *s, const char *name)
{
	for (struct net_device *d = s->dev_list; d; d = d->next)
		if (strcmp(d->name, name) == 0)
			return d;
	return NULL;
}

struct net_device *dev_get_by_index(struct np_stack *s, int ifindex)
{
	for (struct net_device *d = s->dev_list; d; d = d->next)
		if (d->ifindex == ifindex)
			return d;
	return NULL;
}

int register_netdev(struct net_device *dev)
{
	struct np_stack *s = dev->stack;
	if (!dev->name[0] || dev_get_by_name(s, dev->name))
		return -EEXIST;
	dev->qdisc = qdisc_create_default(dev);
	if (!dev->qdisc)
		return -ENOMEM;
	dev->ifindex = ++s->ifindex_next;
	struct net_device **pp = &s->dev_list;
	while (*pp)
		pp = &(*pp)->next;
	*pp = dev;
	return 0;
}

int dev_open(struct net_device *dev)
{
	if (dev->flags & NPF_UP)
		return 0;
	if (dev->netdev_ops && dev->netdev_ops->ndo_open) {
		int rc = dev->netdev_ops->ndo_open(dev);
		if (rc < 0)
			return rc;
	}
	dev->flags |= NPF_UP | NPF_RUNNING;
	rt_cache_flush(dev->stack);   /* routes through dev come alive */
	return 0;
}

static void napi_unschedule(struct np_stack *s, struct napi_struct *napi)
{
	if (!napi->scheduled)
		return;
	struct napi_struct **pp = &s->poll_list;
	while (*pp && *pp != napi)
		pp = &(*pp)->poll_next;
	if (*pp) {
		*pp = napi->poll_next;
		if (s->poll_tail == &napi->poll_next)
			s->poll_tail = pp;
	}
	napi->poll_next = NULL;
	napi->scheduled = 0;
}

static void tx_unschedule(struct np_stack *s, struct net_device *dev)
{
	for (int i = 0; i < s->tx_sched_count; i++) {
		if (s->tx_sched[i] == dev) {
			s->tx_sched[i] = s->tx_sched[--s->tx_sched_count];
			return;
		}
	}
}

int dev_close(struct net_device *dev)
{
	if (!(dev->flags & NPF_UP))
		return 0;
	if (dev->netdev_ops && dev->netdev_ops->ndo_stop)
		dev->netdev_ops->ndo_stop(dev);
	dev->flags &= ~(unsigned)(NPF_UP | NPF_RUNNING);
	rt_cache_flush(dev->stack);
	napi_unschedule(dev->stack, &dev->napi);
	napi_gro_drop_held(&dev->napi, NP_DROP_DEV_DOWN);
	tx_unschedule(dev->stack, dev);
	if (dev->qdisc && dev->qdisc->ops->reset)
		dev->qdisc->ops->reset(dev->qdisc);
	return 0;
}

void unregister_netdev(struct net_device *dev)
{
	struct np_stack *s = dev->stack;
	/* VLAN devices on it go first, as Linux's NETDEV_UNREGISTER notifier takes them down. */
	vlan_unregister_children(dev);
	dev_close(dev);
	neigh_flush_dev(s, dev);
	fib_flush_dev(s, dev);
	for (struct net_device **pp = &s->dev_list; *pp; pp = &(*pp)->next) {
		if (*pp == dev) {
			*pp = dev->next;
			break;
		}
	}
	for (struct packet_type **pp = &s->ptype_base; *pp;) {
		if ((*pp)->dev == dev)
			*pp = (*pp)->next;
		else
			pp = &(*pp)->next;
	}
	for (int i = 0; i < 2; i++) {
		struct np_faults *f = i ? dev->faults_tx : dev->faults_rx;
		if (f) {
			faults_flush(f);
			faults_free(f);
		}
	}
	dev->faults_rx = dev->faults_tx = NULL;
	if (dev->qdisc)
		qdisc_destroy(dev->qdisc);
	if (dev->netdev_ops && dev->netdev_ops->ndo_uninit)
		dev->netdev_ops->ndo_uninit(dev);
	if (s->loopback_dev == dev)
		s->loopback_dev = NULL;
	free(dev);
}

/* ---- NAPI and the backlog ------------------------------------------------ */

void netif_napi_add(struct net_device *dev, int (*poll)(struct napi_struct *, int))
{
	dev->napi.dev = dev;
	dev->napi.poll = poll;
	if (!dev->napi.weight)
		dev->napi.weight = NP_NAPI_WEIGHT;
}

void napi_schedule(struct napi_struct *napi)
{
	struct np_stack *s = napi->dev->stack;
	if (napi->scheduled || !napi->poll)
		return;
	napi->scheduled = 1;
	napi->poll_next = NULL;
	*s->poll_tail = napi;
	s->poll_tail = &napi->poll_next;
}

void napi_complete_done(struct napi_struct *napi, int work_done)
{
	(void)work_done;
	/* What GRO holds goes up before the NAPI sleeps (Linux's napi_complete_done -> gro_flush). */
	if (napi->gro_count)
		napi_gro_flush(napi);
	/* net_rx_action unlinks it; clearing the flag lets the next interrupt reschedule. */
	napi->scheduled = 0;
}

void netif_irq_raise(struct net_device *dev)
{
	struct np_stack *s = dev->stack;
	atomic_store(&dev->irq_pending, 1);
	/*
	 * Only the 0 -> 1 transition writes the eventfd (one syscall per wake-up,
	 * not per frame), and only when a loop may be asleep on it (wake_armed).
	 */
	if (!atomic_exchange(&s->irq_pending, 1) && atomic_load(&s->wake_armed)) {
		uint64_t one = 1;
		ssize_t n = write(s->wakefd, &one, sizeof(one));
		(void)n;
	}
}

/* process_backlog: the NAPI poll of the per-stack input_pkt_queue (seed 003). */
static int process_backlog(struct napi_struct *napi, int budget)
{
	struct np_stack *s = napi->dev->stack;
	int work = 0;
	struct sk_buff *skb;
	while (work < budget && (skb = skb_dequeue(&s->input_pkt_queue)) != NULL) {
		trace_stage(skb, "process_backlog");
		netif_receive_skb(skb);
		work++;
	}
	if (work < budget)
		napi_complete_done(napi, work);
	return work;
}

void backlog_init(struct np_stack *s);
void backlog_init(struct np_stack *s)
{
	skb_queue_head_init(&s->input_pkt_queue);
	snprintf(s->backlog_dev.name, sizeof(s->backlog_dev.name), "backlog");
	s->backlog_dev.stack = s;
	s->backlog_dev.napi.weight = NP_NAPI_WEIGHT;
	netif_napi_add(&s->backlog_dev, process_backlog);
}

int netif_rx(struct sk_buff *skb)
{
	struct np_stack *s = skb->stack;
	if (!skb->trace)
		trace_begin(skb, 0);
	trace_stage(skb, "netif_rx");
	if (s->input_pkt_queue.qlen >= (uint32_t)s->sysctl.netdev_max_backlog) {
		if (skb->dev)
			skb->dev->stats.rx_dropped++;
		kfree_skb_reason(skb, NP_DROP_CPU_BACKLOG);
		return -ENOBUFS;
	}
	skb_queue_tail(&s->input_pkt_queue, skb);
	napi_schedule(&s->backlog_dev.napi);
	return 0;
}

int net_rx_action(struct np_stack *s)
{
	long budget = s->sysctl.netdev_budget;
	int total = 0;
	/* Only the NAPIs queued when the round starts run in it (Linux splices the list). */
	struct napi_struct *list = s->poll_list;
	s->poll_list = NULL;
	s->poll_tail = &s->poll_list;
	while (list) {
		struct napi_struct *napi = list;
		list = napi->poll_next;
		napi->poll_next = NULL;
		if (budget <= 0) {
			/* Out of budget: keep the rest for the next round, as Linux's time_squeeze. */
			napi->scheduled = 0;
			napi_schedule(napi);
			continue;
		}
		int work = napi->poll(napi, napi->weight);
		/* GRO holds nothing across polls: a burst's super-packets go up at its end. */
		if (napi->gro_count)
			napi_gro_flush(napi);
		total += work;
		budget -= work;
		if (work >= napi->weight) {
			/* Still busy: poll again in the next round. */
			napi->scheduled = 0;
			napi_schedule(napi);
		} else {
			napi->scheduled = 0;
		}
	}
	return total;
}

/* ---- receive ------------------------------------------------------------ */

/* napi_gro_receive and the GRO list are in core/gro.c. */

uint16_t eth_type_trans(struct sk_buff *skb, struct net_device *dev)
{
	const uint8_t *dst = skb->data;
	skb_reset_mac_header(skb);
	if (eth_is_multicast(dst))
		skb->pkt_type = eth_is_broadcast(dst) ? PACKET_BROADCAST : PACKET_MULTICAST;
	else if (memcmp(dst, dev->dev_addr, ETH_ALEN) != 0)
		skb->pkt_type = PACKET_OTHERHOST;
	else
		skb->pkt_type = PACKET_HOST;
	uint16_t type = be16_get(skb->data + 12);
	skb_pull(skb, ETH_HLEN);
	skb_reset_network_header(skb);
	skb->protocol = type;
	return type;
}

static void deliver_ptype(struct sk_buff *skb, struct net_device *dev)
{
	struct np_stack *s = dev->stack;
	struct packet_type *match = NULL;
	for (struct packet_type *pt = s->ptype_base; pt; pt = pt->next) {
		if (pt->type != skb->protocol || (pt->dev && pt->dev != dev))
			continue;
		if (match) {
			/* More than one handler: each but the last gets a clone, as deliver_skb. */
			struct sk_buff *c = skb_clone(skb);
			if (c)
				match->func(c, dev, match);
		}
		match = pt;
	}
	if (!match) {
		kfree_skb_reason(skb, NP_DROP_UNHANDLED_PROTO);
		return;
	}
	match->func(skb, dev, match);
}

/* Consumes skb: the receive core after rx fault injection. */
static void __netif_receive_skb_core(struct net_device *dev, struct sk_buff *skb)
{
	trace_stage(skb, "__netif_receive_skb_core");
	if (!(dev->flags & NPF_UP)) {
		dev->stats.rx_dropped++;
		kfree_skb_reason(skb, NP_DROP_DEV_DOWN);
		return;
	}
	dev->stats.rx_packets++;
	dev->stats.rx_bytes += skb->len;
	if (dev->capture && !skb->tapped) {
		/* ptype_all: the packet tap sees the frame before any protocol does. */
		trace_stage(skb, "packet_tap");
		capture_skb(dev->capture, dev->stack, skb);
		skb->tapped = 1;
	}
	if (skb->len < ETH_HLEN) {
		dev->stats.rx_errors++;
		kfree_skb_reason(skb, NP_DROP_MAC_TRUNCATED);
		return;
	}
	eth_type_trans(skb, dev);
	if (skb->pkt_type == PACKET_OTHERHOST && !(dev->flags & NPF_PROMISC)) {
		/* A NIC filters these in hardware; a virtual one drops them here. */
		dev->stats.rx_dropped++;
		kfree_skb_reason(skb, NP_DROP_OTHERHOST);
		return;
	}
	if (skb->pkt_type == PACKET_MULTICAST || skb->pkt_type == PACKET_BROADCAST)
		dev->stats.rx_multicast++;
	if (skb->protocol == ETH_P_8021Q) {
		/* 802.1Q: untag and go on as the VLAN device (net/8021q/vlan.c); no such VLAN is a drop. */
		enum np_drop_reason reason;
		struct net_device *vdev = vlan_do_receive(skb, &reason);
		if (!vdev) {
			dev->stats.rx_dropped++;
			kfree_skb_reason(skb, reason);
			return;
		}
		dev = vdev;
	}
	deliver_ptype(skb, dev);
}

int netif_receive_skb(struct sk_buff *skb)
{
	struct net_device *dev = skb->dev;
	trace_stage(skb, "netif_receive_skb");
	/* An skb built outside a softirq round (loopback) gets its arrival time here. */
	if (!skb->tstamp)
		skb->tstamp = np_stack_now(dev->stack);
	if (dev->faults_rx) {
		faults_apply(dev->faults_rx, dev, skb, __netif_receive_skb_core);
		return 0;
	}
	__netif_receive_skb_core(dev, skb);
	return 0;
}

void dev_add_pack(struct np_stack *s, struct packet_type *pt)
{
	struct packet_type **head = pt->type ? &s->ptype_base : &s->ptype_all;
	pt->next = *head;
	*head = pt;
}

void dev_remove_pack(struct np_stack *s, struct packet_type *pt)
{
	struct packet_type **pp = pt->type ? &s->ptype_base : &s->ptype_all;
	for (; *pp; pp = &(*pp)->next) {
		if (*pp == pt) {
			*pp = pt->next;
			return;
		}
	}
}

/* ---- send --------------------------------------------------------------- */

int dev_hard_header(struct sk_buff *skb, struct net_device *dev, uint16_t type, const uint8_t *daddr,
		    const uint8_t *saddr)
{
	if (skb_headroom(skb) < ETH_HLEN)
		return -ENOSPC;
	struct eth_repr e;
	memcpy(e.dst, daddr ? daddr : dev->broadcast, ETH_ALEN);
	memcpy(e.src, saddr ? saddr : dev->dev_addr, ETH_ALEN);
	e.ethertype = type;
	eth_emit(&e, skb_push(skb, ETH_HLEN), ETH_HLEN);
	skb_reset_mac_header(skb);
	return 0;
}

/* Consumes skb: the driver call after tx fault injection; a busy driver here means a drop. */
static void xmit_after_faults(struct net_device *dev, struct sk_buff *skb)
{
	uint32_t len = skb->len;
	trace_stage_detail(skb, "ndo_start_xmit", dev->name);
	if (dev->netdev_ops->ndo_start_xmit(skb, dev) == NETDEV_TX_OK) {
		dev->stats.tx_packets++;
		dev->stats.tx_bytes += len;
	} else {
		dev->stats.tx_dropped++;
		kfree_skb_reason(skb, NP_DROP_FULL_RING);
	}
}

netdev_tx_t dev_hard_start_xmit(struct sk_buff *skb, struct net_device *dev)
{
	trace_stage(skb, "dev_hard_start_xmit");
	if (dev->capture && !skb->tapped) {
		trace_stage(skb, "packet_tap");
		capture_skb(dev->capture, dev->stack, skb);
		skb->tapped = 1;
	}
	if (dev->faults_tx) {
		faults_apply(dev->faults_tx, dev, skb, xmit_after_faults);
		return NETDEV_TX_OK;
	}
	uint32_t len = skb->len;
	trace_stage_detail(skb, "ndo_start_xmit", dev->name);
	netdev_tx_t rc = dev->netdev_ops->ndo_start_xmit(skb, dev);
	if (rc == NETDEV_TX_OK) {
		dev->stats.tx_packets++;
		dev->stats.tx_bytes += len;
	}
	return rc;
}

int dev_queue_xmit(struct sk_buff *skb)
{
	struct net_device *dev = skb->dev;
	trace_stage_detail(skb, "dev_queue_xmit", dev->name);
	if (!(dev->flags & NPF_UP)) {
		dev->stats.tx_dropped++;
		kfree_skb_reason(skb, NP_DROP_DEV_DOWN);
		return -ENETDOWN;
	}
	struct Qdisc *q = dev->qdisc;
	/*
	 * validate_xmit_skb runs here, before the qdisc rather than after it as
	 * in Linux: a driver that answers BUSY then has one real packet to give
	 * back, and qdiscs that count packets (pfifo, netem) see wire segments.
	 */
	if (__builtin_expect(skb_is_gso(skb) || skb->ip_summed == CHECKSUM_PARTIAL, 0)) {
		skb = validate_xmit_skb(skb, dev);
		if (!skb)
			return -ENOBUFS;
	}
	int err = 0, queued = 0;
	while (skb) {
		struct sk_buff *next = skb->next;
		skb->next = NULL;
		/*
		 * Linux's __dev_xmit_skb bypass: an idle work-conserving queue (nothing
		 * queued, nothing held back from a busy driver, the runner not inside
		 * it) hands the packet to the driver directly; counted as sent by it.
		 */
		if (q->ops->can_bypass && !q->qlen && !q->gso_skb && !q->running && !dev->tx_stopped) {
			trace_stage(skb, "sch_direct_xmit");
			uint32_t len = skb->len;
			q->running = 1;
			if (dev_hard_start_xmit(skb, dev) != NETDEV_TX_OK) {
				q->gso_skb = skb;   /* the driver kept it: NET_TX retries, ahead of later packets */
				q->requeues++;
				netif_schedule(dev);
			} else {
				q->packets++;
				q->bytes += len;
			}
			q->running = 0;
			skb = next;
			continue;
		}
		if (q->ops->enqueue(skb, q) != NET_XMIT_SUCCESS) {
			dev->stats.tx_dropped++;
			err = -ENOBUFS;
		}
		queued = 1;
		skb = next;
	}
	/* A refused bypass already scheduled NET_TX; only queued packets want the runner now. */
	if (queued && !dev->tx_stopped)
		__qdisc_run(q);
	return err;
}

void netif_schedule(struct net_device *dev)
{
	struct np_stack *s = dev->stack;
	for (int i = 0; i < s->tx_sched_count; i++)
		if (s->tx_sched[i] == dev)
			return;
	if (s->tx_sched_count < (int)(sizeof(s->tx_sched) / sizeof(s->tx_sched[0])))
		s->tx_sched[s->tx_sched_count++] = dev;
}

void netif_stop_queue(struct net_device *dev) { dev->tx_stopped = 1; }

void netif_wake_queue(struct net_device *dev)
{
	dev->tx_stopped = 0;
	netif_schedule(dev);
}

int net_tx_action(struct np_stack *s)
{
	int n = s->tx_sched_count, work = 0;
	struct net_device *devs[64];
	memcpy(devs, s->tx_sched, (size_t)n * sizeof(devs[0]));
	s->tx_sched_count = 0;
	for (int i = 0; i < n; i++) {
		if (!devs[i]->tx_stopped && (devs[i]->flags & NPF_UP))
			work += __qdisc_run(devs[i]->qdisc);
	}
	return work;
}
