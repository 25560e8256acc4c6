/*
 * Unit tests for src/core/dev.c and src/sched/sch_generic.c: the receive
 * core's early drops, ptype dispatch, NAPI budgets, the netif_rx backlog,
 * the qdisc's requeue when a driver is busy, and when an interrupt writes
 * the stack's wake-up eventfd (only once a loop may sleep on it).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <poll.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/netdevice.h"
#include "core/stack.h"
#include "stack_fixture.h"
#include "sched/sch_generic.h"

struct tdev {
	int busy;             /* return NETDEV_TX_BUSY while set */
	int sent;
	uint32_t last_len;
	int rx_left;          /* frames the fake ring still holds */
	int polls;
};

static netdev_tx_t tdev_xmit(struct sk_buff *skb, struct net_device *dev)
{
	struct tdev *t = dev->priv;
	if (t->busy)
		return NETDEV_TX_BUSY;
	t->sent++;
	t->last_len = skb->len;
	consume_skb(skb);
	return NETDEV_TX_OK;
}

static const struct net_device_ops tdev_ops = { .ndo_start_xmit = tdev_xmit };

static int handled;
static int handler(struct sk_buff *skb, struct net_device *dev, struct packet_type *pt)
{
	handled++;
	consume_skb(skb);
	return 0;
}
static struct packet_type test_pt = { .type = 0x88b5, .func = handler };

/* Fake ring: each poll delivers frames for the test EtherType until rx_left runs out. */
static int tdev_poll(struct napi_struct *napi, int budget)
{
	struct net_device *dev = napi->dev;
	struct tdev *t = dev->priv;
	int n = 0;
	t->polls++;
	uint8_t f[60] = { 0 };
	memcpy(f, dev->dev_addr, 6);
	f[12] = 0x88;
	f[13] = 0xb5;
	while (n < budget && t->rx_left > 0) {
		napi_gro_receive(napi, netdev_alloc_skb_copy(dev, f, sizeof(f)));
		t->rx_left--;
		n++;
	}
	if (n < budget)
		napi_complete_done(napi, n);
	return n;
}

static int setup(void **state)
{
	struct fx *f = fx_open("t", 3, "t0", sizeof(struct tdev), &tdev_ops, tdev_poll);
	dev_add_pack(f->s, &test_pt);
	handled = 0;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	dev_remove_pack(f->s, &test_pt);
	fx_free(f);
	return 0;
}

static void rx(struct fx *f, const uint8_t *frame, uint32_t len)
{
	netif_receive_skb(netdev_alloc_skb_copy(f->dev, frame, len));
}

static void test_register_duplicate_name(void **state)
{
	struct fx *f = *state;
	struct net_device *d = alloc_netdev(f->s, "t0", 0);
	ether_setup(d);
	assert_int_equal(register_netdev(d), -EEXIST);
	free(d);
	assert_ptr_equal(dev_get_by_name(f->s, "t0"), f->dev);
	assert_ptr_equal(dev_get_by_index(f->s, f->dev->ifindex), f->dev);
	/* ether_setup gives a locally administered unicast MAC. */
	assert_int_equal(f->dev->dev_addr[0] & 3, 2);
}

static void test_rx_early_drops(void **state)
{
	struct fx *f = *state;
	uint8_t frame[60] = { 0 };
	rx(f, frame, 10);
	assert_int_equal(np_stack_drops(f->s, NP_DROP_MAC_TRUNCATED), 1);
	/* Unicast to another MAC: dropped unless promiscuous. */
	memset(frame, 0x22, 6);
	frame[12] = 0x88;
	frame[13] = 0xb5;
	rx(f, frame, 60);
	assert_int_equal(np_stack_drops(f->s, NP_DROP_OTHERHOST), 1);
	assert_int_equal(handled, 0);
	np_dev_set_promisc((struct np_dev *)f->dev, 1);
	rx(f, frame, 60);
	assert_int_equal(handled, 1);
	/* Broadcast is ours; an unknown EtherType has no handler. */
	memset(frame, 0xff, 6);
	frame[12] = 0x12;
	frame[13] = 0x34;
	rx(f, frame, 60);
	assert_int_equal(np_stack_drops(f->s, NP_DROP_UNHANDLED_PROTO), 1);
	/* 802.1Q without VLAN devices (VID 5: VID 0 is priority-tagged and stays on the device). */
	frame[12] = 0x81;
	frame[13] = 0x00;
	frame[15] = 5;
	rx(f, frame, 60);
	assert_int_equal(np_stack_drops(f->s, NP_DROP_VLAN_UNKNOWN), 1);
	/* A device that is down drops everything. */
	dev_close(f->dev);
	frame[12] = 0x88;
	frame[13] = 0xb5;
	rx(f, frame, 60);
	assert_int_equal(np_stack_drops(f->s, NP_DROP_DEV_DOWN), 1);
	assert_int_equal(handled, 1);
	assert_int_equal(f->dev->stats.rx_packets, 5);  /* every frame that reached the device while it was up */
}

static void test_napi_budget(void **state)
{
	struct fx *f = *state;
	struct tdev *t = f->dev->priv;
	t->rx_left = 200;
	np_sysctl_set(f->s, "net.core.netdev_budget", 100);
	netif_irq_raise(f->dev);
	/* One softirq round polls each NAPI once, up to its weight, as net_rx_action does. */
	np_stack_poll(f->s);
	assert_int_equal(handled, 64);
	assert_true(f->dev->napi.scheduled);
	assert_true(t->rx_left > 0);
	while (np_stack_poll(f->s))
		;
	assert_int_equal(handled, 200);
	assert_int_equal(t->rx_left, 0);
	assert_false(f->dev->napi.scheduled);
}

/* The wake-up eventfd's count, from /proc/self/fdinfo. */
static long eventfd_count(int fd)
{
	char path[64], line[128];
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	FILE *fp = fopen(path, "r");
	assert_non_null(fp);
	long v = -1;
	while (fgets(line, sizeof(line), fp))
		if (sscanf(line, "eventfd-count: %lx", &v) == 1)
			break;
	fclose(fp);
	return v;
}

static int fd_readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

static void test_interrupt_wakes_only_sleepers(void **state)
{
	struct fx *f = *state;
	struct tdev *t = f->dev->priv;
	/* Driven by np_stack_poll alone: an interrupt is seen by the next round, no system call made. */
	t->rx_left = 3;
	netif_irq_raise(f->dev);
	assert_int_equal(eventfd_count(f->s->wakefd), 0);
	while (np_stack_poll(f->s))
		;
	assert_int_equal(handled, 3);

	/* Pending when a loop first asks for the fd: the fd must already say so. */
	t->rx_left = 2;
	netif_irq_raise(f->dev);
	int fd = np_stack_fd(f->s);
	assert_true(fd_readable(fd));
	while (np_stack_poll(f->s))
		;
	assert_int_equal(handled, 5);
	assert_false(fd_readable(fd));   /* the round drained it */

	/* From then on every interrupt makes the fd readable until a round takes it. */
	t->rx_left = 1;
	netif_irq_raise(f->dev);
	assert_int_equal(eventfd_count(f->s->wakefd), 1);
	assert_true(fd_readable(fd));
	while (np_stack_poll(f->s))
		;
	assert_int_equal(handled, 6);
	assert_false(fd_readable(fd));
}

static void test_backlog_limit(void **state)
{
	struct fx *f = *state;
	np_sysctl_set(f->s, "net.core.netdev_max_backlog", 10);
	uint8_t frame[60] = { 0 };
	memset(frame, 0xff, 6);
	frame[12] = 0x88;
	frame[13] = 0xb5;
	for (int i = 0; i < 15; i++)
		netif_rx(netdev_alloc_skb_copy(f->dev, frame, 60));
	assert_int_equal(np_stack_drops(f->s, NP_DROP_CPU_BACKLOG), 5);
	while (np_stack_poll(f->s))
		;
	assert_int_equal(handled, 10);
}

static struct sk_buff *frame_skb(struct fx *f, uint32_t len)
{
	struct sk_buff *skb = alloc_skb(f->s, len);
	memset(skb_put(skb, len), 0, len);
	skb->dev = f->dev;
	return skb;
}

static void test_qdisc_busy_requeue(void **state)
{
	struct fx *f = *state;
	struct tdev *t = f->dev->priv;
	t->busy = 1;
	for (int i = 0; i < 5; i++)
		assert_int_equal(dev_queue_xmit(frame_skb(f, 60 + (uint32_t)i)), 0);
	assert_int_equal(t->sent, 0);
	assert_true(f->dev->qdisc->requeues >= 1);
	t->busy = 0;
	/* NET_TX softirq picks the device up again and sends in order. */
	while (np_stack_poll(f->s))
		;
	assert_int_equal(t->sent, 5);
	assert_int_equal(t->last_len, 64);
	assert_int_equal(f->dev->stats.tx_packets, 5);
}

static void test_qdisc_limit(void **state)
{
	struct fx *f = *state;
	struct tdev *t = f->dev->priv;
	t->busy = 1;
	f->dev->qdisc->limit = 3;
	int dropped = 0;
	for (int i = 0; i < 6; i++)
		if (dev_queue_xmit(frame_skb(f, 60)) == -ENOBUFS)
			dropped++;
	/* One is held as requeued, three wait in the bands, the rest are QDISC_DROP. */
	assert_int_equal(dropped, 2);
	assert_int_equal(np_stack_drops(f->s, NP_DROP_QDISC_DROP), 2);
	t->busy = 0;
	while (np_stack_poll(f->s))
		;
	assert_int_equal(t->sent, 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_register_duplicate_name, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_early_drops, setup, teardown),
		cmocka_unit_test_setup_teardown(test_napi_budget, setup, teardown),
		cmocka_unit_test_setup_teardown(test_interrupt_wakes_only_sleepers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backlog_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_qdisc_busy_requeue, setup, teardown),
		cmocka_unit_test_setup_teardown(test_qdisc_limit, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
