/*
 * Queueing disciplines (src/sched): pfifo's limit, pfifo_fast's bands by
 * TOS (through ip_build_and_send_pkt's rt_tos2priority), tbf's rate, burst,
 * byte limit and watchdog on a virtual clock, netem's delay, loss and
 * duplication (seeded), the spec parser's errors and the `tc -s qdisc` print,
 * and the idle-queue bypass (Linux's TCQ_F_CAN_BYPASS) with its ordering rules.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/netdevice.h"
#include "core/stack.h"
#include "net/ipv4/ip.h"
#include "netpath/netpath.h"
#include "sched/sch_generic.h"
#include "trace/trace.h"

#define T0 (1000 * NSEC_PER_MSEC)
#define MAXREC 4096

/* A driver that records when each frame left and how long it was. */
struct rec {
	int n;
	int busy;
	uint64_t t[MAXREC];
	uint32_t len[MAXREC];
	uint8_t first[MAXREC];
};

static netdev_tx_t rec_xmit(struct sk_buff *skb, struct net_device *dev)
{
	struct rec *r = dev->priv;
	if (r->busy)
		return NETDEV_TX_BUSY;
	if (r->n < MAXREC) {
		r->t[r->n] = np_stack_now(dev->stack);
		r->len[r->n] = skb->len;
		r->first[r->n] = skb->len ? skb->data[0] : 0;
		r->n++;
	}
	consume_skb(skb);
	return NETDEV_TX_OK;
}

static const struct net_device_ops rec_ops = { .ndo_start_xmit = rec_xmit };

struct fx {
	struct np_clock *clk;
	struct np_stack *s;
	struct net_device *dev;
	struct rec *r;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	f->clk = np_clock_virtual(T0);
	struct np_stack_config cfg = { .name = "sched", .clock = f->clk, .seed = 42 };
	f->s = np_stack_create(&cfg);
	f->dev = alloc_netdev(f->s, "t0", sizeof(struct rec));
	ether_setup(f->dev);
	f->dev->netdev_ops = &rec_ops;
	assert_int_equal(register_netdev(f->dev), 0);
	dev_open(f->dev);
	f->r = f->dev->priv;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	np_stack_destroy(f->s);
	np_clock_destroy(f->clk);
	free(f);
	return 0;
}

static struct np_dev *ND(struct net_device *d) { return (struct np_dev *)d; }

/* Queues one frame of len bytes whose first byte is tag. Returns dev_queue_xmit's result. */
static int xmit(struct fx *f, uint32_t len, uint8_t tag)
{
	struct sk_buff *skb = alloc_skb(f->s, len);
	memset(skb_put(skb, len), 0, len);
	skb->data[0] = tag;
	skb->dev = f->dev;
	return dev_queue_xmit(skb);
}

static void sim(struct fx *f, uint64_t until)
{
	assert_int_equal(np_sim_run(&f->s, 1, f->clk, until), 0);
}

/* ---- pfifo / pfifo_fast ------------------------------------------------ */

static void test_pfifo_limit(void **state)
{
	struct fx *f = *state;
	assert_int_equal(np_dev_set_qdisc(ND(f->dev), "pfifo:limit=3", NULL), 0);
	assert_string_equal(f->dev->qdisc->ops->id, "pfifo");
	netif_stop_queue(f->dev);
	int dropped = 0;
	for (int i = 0; i < 6; i++)
		if (xmit(f, 100, (uint8_t)i) == -ENOBUFS)
			dropped++;
	assert_int_equal(dropped, 3);
	assert_int_equal(f->dev->qdisc->drops, 3);
	assert_int_equal(f->dev->qdisc->qlen, 3);
	assert_int_equal(f->dev->qdisc->backlog, 300);
	assert_int_equal(np_stack_drops(f->s, NP_DROP_QDISC_DROP), 3);
	netif_wake_queue(f->dev);
	while (np_stack_poll(f->s))
		;
	/* FIFO: the first three, in order. */
	assert_int_equal(f->r->n, 3);
	for (int i = 0; i < 3; i++)
		assert_int_equal(f->r->first[i], i);
	assert_int_equal(f->dev->qdisc->packets, 3);
	assert_int_equal(f->dev->qdisc->bytes, 300);
	assert_int_equal(f->dev->qdisc->backlog, 0);
}

static void test_bfifo_limit(void **state)
{
	struct fx *f = *state;
	assert_int_equal(np_dev_set_qdisc(ND(f->dev), "bfifo:limit=1k", NULL), 0);
	assert_int_equal(f->dev->qdisc->limit, 1024);
	netif_stop_queue(f->dev);
	int ok = 0;
	for (int i = 0; i < 5; i++)
		if (xmit(f, 300, 0) == 0)
			ok++;
	assert_int_equal(ok, 3);   /* 900 bytes fit, the fourth would make 1200 */
	assert_int_equal(f->dev->qdisc->drops, 2);
}

static void test_pfifo_fast_bands_by_tos(void **state)
{
	struct fx *f = *state;
	struct net_device *lo = f->s->loopback_dev;
	assert_non_null(lo);
	assert_string_equal(lo->qdisc->ops->id, "pfifo_fast");
	netif_stop_queue(lo);
	/* IPTOS_THROUGHPUT (bulk, band 2), 0 (best effort, band 1), IPTOS_LOWDELAY (interactive, band 0). */
	static const uint8_t tos[3] = { 0x08, 0x00, 0x10 };
	static const uint32_t want_prio[3] = { 2, 0, 6 };
	for (int i = 0; i < 3; i++) {
		struct sk_buff *skb = alloc_skb(f->s, 8);
		memset(skb_put(skb, 8), 0, 8);
		struct ip_out_params p = { .daddr = 0x7f000001, .protocol = 17, .tos = tos[i] };
		assert_int_equal(ip_build_and_send_pkt(f->s, skb, &p), 0);
	}
	struct Qdisc *q = lo->qdisc;
	assert_int_equal(q->qlen, 3);
	/* Dequeue order: band 0 first, so the low-delay packet overtakes the others. */
	for (int k = 2; k >= 0; k--) {
		struct sk_buff *skb = q->ops->dequeue(q);
		assert_non_null(skb);
		assert_int_equal(skb->priority, want_prio[k]);
		assert_int_equal(IPCB(skb)->tos, tos[k]);
		consume_skb(skb);
	}
	assert_null(q->ops->dequeue(q));
	netif_wake_queue(lo);
}

static void test_requeue_counted(void **state)
{
	struct fx *f = *state;
	f->r->busy = 1;
	for (int i = 0; i < 3; i++)
		assert_int_equal(xmit(f, 60, (uint8_t)i), 0);
	assert_true(f->dev->qdisc->requeues >= 1);
	f->r->busy = 0;
	while (np_stack_poll(f->s))
		;
	assert_int_equal(f->r->n, 3);
	assert_int_equal(f->dev->qdisc->packets, 3);
}

/* ---- bypass of an idle work-conserving queue ------------------------------ */

struct paths {
	int n;
	char text[8][512];
};

static void on_path(void *arg, const struct np_trace_path *p)
{
	struct paths *ps = arg;
	if (ps->n < 8)
		np_trace_format(p, ps->text[ps->n++], sizeof(ps->text[0]));
}

/* Traces one frame through dev_queue_xmit and returns its path's text. */
static const char *traced_xmit(struct fx *f, struct paths *ps, uint8_t tag)
{
	struct sk_buff *skb = alloc_skb(f->s, 60);
	memset(skb_put(skb, 60), 0, 60);
	skb->data[0] = tag;
	skb->dev = f->dev;
	np_stack_trace_cb(f->s, on_path, ps);
	trace_begin(skb, 1);
	assert_int_equal(dev_queue_xmit(skb), 0);
	np_stack_trace_cb(f->s, NULL, NULL);
	assert_true(ps->n > 0);
	return ps->text[ps->n - 1];
}

static void test_bypass_idle_queue(void **state)
{
	struct fx *f = *state;
	struct paths ps = { .n = 0 };
	struct Qdisc *q = f->dev->qdisc;
	assert_true(q->ops->can_bypass);

	/* Idle pfifo_fast: straight to the driver, never queued, counted as sent by the qdisc. */
	const char *t = traced_xmit(f, &ps, 1);
	assert_non_null(strstr(t, "dev_queue_xmit(t0) -> sch_direct_xmit -> dev_hard_start_xmit"));
	assert_null(strstr(t, "pfifo_fast_enqueue"));
	assert_int_equal(f->r->n, 1);
	assert_int_equal(q->packets, 1);
	assert_int_equal(q->bytes, 60);

	/* A busy driver keeps the packet: held at the head, later ones queue behind it, order kept. */
	f->r->busy = 1;
	assert_int_equal(xmit(f, 60, 2), 0);
	assert_non_null(q->gso_skb);
	assert_int_equal(q->requeues, 1);   /* one refusal: no second try before NET_TX */
	assert_int_equal(q->qlen, 0);
	assert_int_equal(xmit(f, 60, 3), 0);
	assert_int_equal(xmit(f, 60, 4), 0);
	assert_int_equal(q->qlen, 2);
	f->r->busy = 0;
	while (np_stack_poll(f->s))
		;
	assert_int_equal(f->r->n, 4);
	for (int i = 0; i < 4; i++)
		assert_int_equal(f->r->first[i], i + 1);
	assert_int_equal(q->packets, 4);
	assert_null(q->gso_skb);

	/* Idle again: the bypass is back. */
	t = traced_xmit(f, &ps, 5);
	assert_non_null(strstr(t, "sch_direct_xmit"));
	assert_int_equal(f->r->n, 5);

	/* A stopped queue never bypasses: the packet waits in the qdisc. */
	netif_stop_queue(f->dev);
	assert_int_equal(xmit(f, 60, 6), 0);
	assert_int_equal(q->qlen, 1);
	assert_int_equal(f->r->n, 5);
	netif_wake_queue(f->dev);
	while (np_stack_poll(f->s))
		;
	assert_int_equal(f->r->n, 6);
}

/* A shaping qdisc (tbf) is not work-conserving: it never bypasses. */
static void test_no_bypass_when_shaping(void **state)
{
	struct fx *f = *state;
	struct paths ps = { .n = 0 };
	assert_int_equal(np_dev_set_qdisc(ND(f->dev), "tbf:rate=1mbit,burst=10k,limit=100k", NULL), 0);
	assert_false(f->dev->qdisc->ops->can_bypass);
	const char *t = traced_xmit(f, &ps, 1);
	assert_null(strstr(t, "sch_direct_xmit"));
	assert_int_equal(f->r->n, 1);   /* within the burst: sent at once, through the queue */
	assert_int_equal(np_dev_set_qdisc(ND(f->dev), "pfifo:limit=10", NULL), 0);
	assert_true(f->dev->qdisc->ops->can_bypass);
}

/* ---- tbf ----------------------------------------------------------------- */

static void test_tbf_rate(void **state)
{
	struct fx *f = *state;
	/* A one-frame bucket: after the first frame each leaves at the rate. */
	assert_int_equal(np_dev_set_qdisc(ND(f->dev), "tbf:rate=10mbit,burst=1514,latency=1s", NULL), 0);
	const int N = 200;
	const uint32_t len = 1514;
	for (int i = 0; i < N; i++)
		assert_int_equal(xmit(f, len, (uint8_t)i), 0);
	assert_int_equal(f->r->n, 1);   /* only the bucket's worth leaves at once */
	assert_true(f->dev->qdisc->overlimits >= 1);
	/* Nothing but the watchdog can send the rest: it must reschedule the device. */
	sim(f, T0 + 2 * NSEC_PER_SEC);
	assert_int_equal(f->r->n, N);
	uint64_t pkt_ns = (uint64_t)len * 8 * NSEC_PER_SEC / 10000000;  /* 1.2112 ms */
	uint64_t total_ns = (uint64_t)N * len * 8 * NSEC_PER_SEC / 10000000;
	uint64_t took = f->r->t[N - 1] - T0;
	/* N bytes at 10 Mbit/s take N*8/10e6 s, within one packet time (the first left at once). */
	assert_true(took + pkt_ns + 1000 >= total_ns);
	assert_true(took <= total_ns);
	/* And evenly: consecutive departures one packet time apart (to the ns of rounding). */
	for (int i = 2; i < N; i++) {
		uint64_t gap = f->r->t[i] - f->r->t[i - 1];
		assert_true(gap + 2 >= pkt_ns && gap <= pkt_ns + 2);
	}
	assert_int_equal(f->dev->qdisc->drops, 0);
	assert_int_equal(f->dev->qdisc->packets, (uint64_t)N);
	assert_int_equal(f->dev->qdisc->bytes, (uint64_t)N * len);
}

static void test_tbf_burst(void **state)
{
	struct fx *f = *state;
	assert_int_equal(np_dev_set_qdisc(ND(f->dev), "tbf:rate=1mbit,burst=32k,latency=1s", NULL), 0);
	for (int i = 0; i < 40; i++)
		assert_int_equal(xmit(f, 1000, (uint8_t)i), 0);
	/* 32 KiB of tokens: 32 frames of 1000 bytes at once, no more. */
	assert_int_equal(f->r->n, 32);
	/* An idle second refills the bucket only up to the burst. */
	sim(f, T0 + 5 * NSEC_PER_SEC);
	assert_int_equal(f->r->n, 40);
	int before = f->r->n;
	for (int i = 0; i < 40; i++)
		assert_int_equal(xmit(f, 1000, (uint8_t)i), 0);
	assert_int_equal(f->r->n - before, 32);
	/* A frame larger than the bucket can never leave: dropped at once. */
	assert_int_equal(np_dev_set_qdisc(ND(f->dev), "tbf:rate=1mbit,burst=1000,limit=100k", NULL), 0);
	assert_int_equal(xmit(f, 1001, 0), -ENOBUFS);
	assert_int_equal(f->dev->qdisc->drops, 1);
}

static void test_tbf_limit_from_latency(void **state)
{
	struct fx *f = *state;
	assert_int_equal(np_dev_set_qdisc(ND(f->dev), "tbf:rate=10mbit,burst=32k,latency=50ms", NULL), 0);
	/* tc: limit = rate * latency + burst = 62500 + 32768 bytes. */
	assert_int_equal(f->dev->qdisc->limit, 95268);
	/* 32 KiB leave at once, 95268 bytes wait, the rest are QDISC_DROP. */
	int dropped = 0;
	for (int i = 0; i < 200; i++)
		if (xmit(f, 1000, 0) == -ENOBUFS)
			dropped++;
	assert_int_equal(f->r->n, 32);
	assert_int_equal(f->dev->qdisc->qlen, 95);
	assert_int_equal(dropped, 200 - 32 - 95);
	assert_int_equal(np_stack_drops(f->s, NP_DROP_QDISC_DROP), (uint64_t)dropped);
	char *buf = NULL;
	size_t sz = 0;
	FILE *m = open_memstream(&buf, &sz);
	np_qdisc_print(f->s, m);
	fclose(m);
	assert_non_null(strstr(buf, "qdisc tbf 8001: dev t0 root rate 10Mbit burst 32Kb lat 50.0ms limit 95268b"));
	assert_non_null(strstr(buf, " Sent 32000 bytes 32 pkt (dropped 73, overlimits "));
	assert_non_null(strstr(buf, " backlog 95000b 95p requeues 0"));
	assert_non_null(strstr(buf, "qdisc pfifo_fast 0: dev lo root bands 3 priomap 1 2 2 2 1 2 0 0 1 1 1 1 1 1 1 1"));
	free(buf);
	/* Taking the device down empties the qdisc and stops the watchdog. */
	dev_close(f->dev);
	assert_int_equal(f->dev->qdisc->qlen, 0);
	assert_int_equal(f->dev->qdisc->backlog, 0);
	sim(f, T0 + NSEC_PER_SEC);
	assert_int_equal(f->r->n, 32);
}

/* ---- netem --------------------------------------------------------------- */

static void test_netem_delay(void **state)
{
	struct fx *f = *state;
	assert_int_equal(np_dev_set_qdisc(ND(f->dev), "netem:delay=10ms", NULL), 0);
	for (int i = 0; i < 5; i++)
		assert_int_equal(xmit(f, 100, (uint8_t)i), 0);
	while (np_stack_poll(f->s))
		;
	assert_int_equal(f->r->n, 0);
	assert_int_equal(f->dev->qdisc->ops->held(f->dev->qdisc), 5);
	sim(f, T0 + 9 * NSEC_PER_MSEC);
	assert_int_equal(f->r->n, 0);
	sim(f, T0 + 20 * NSEC_PER_MSEC);
	assert_int_equal(f->r->n, 5);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(f->r->t[i], T0 + 10 * NSEC_PER_MSEC);
		assert_int_equal(f->r->first[i], i);
	}
	assert_int_equal(f->dev->qdisc->ops->held(f->dev->qdisc), 0);
	assert_int_equal(f->dev->qdisc->packets, 5);
}

/* Sends n frames through "netem:<spec>" on a fresh stack; returns how many left. */
static int netem_run(const char *spec, int n, uint64_t *drops, uint64_t *lossdrops)
{
	struct fx *f;
	setup((void **)&f);
	const char *errpos = NULL;
	assert_int_equal(np_dev_set_qdisc(ND(f->dev), spec, &errpos), 0);
	for (int i = 0; i < n; i++)
		assert_int_equal(xmit(f, 100, (uint8_t)i), 0);
	sim(f, T0 + NSEC_PER_SEC);
	int sent = f->r->n;
	*drops = f->dev->qdisc->drops;
	*lossdrops = np_stack_drops(f->s, NP_DROP_FAULT_INJECTED_LOSS);
	teardown((void **)&f);
	return sent;
}

static void test_netem_loss_seeded(void **state)
{
	(void)state;
	uint64_t d1, d2, l1, l2;
	int a = netem_run("netem:loss=30%,seed=7", 1000, &d1, &l1);
	int b = netem_run("netem:loss=30%,seed=7", 1000, &d2, &l2);
	/* Same seed, same traffic: the same packets lost. */
	assert_int_equal(a, b);
	assert_true(a > 620 && a < 780);
	assert_int_equal(d1, (uint64_t)(1000 - a));
	assert_int_equal(l1, d1);
	int c = netem_run("netem:loss=30%,seed=8", 1000, &d2, &l2);
	assert_true(c > 620 && c < 780);
	/* Duplication adds copies. */
	int dup = netem_run("netem:dup=20%,seed=3", 1000, &d2, &l2);
	assert_true(dup > 1120 && dup < 1280);
	assert_int_equal(d2, 0);
}

static void test_netem_jitter_reorder(void **state)
{
	(void)state;
	struct fx *f;
	setup((void **)&f);
	assert_int_equal(np_dev_set_qdisc(ND(f->dev), "netem:delay=10ms,reorder=25%,seed=5", NULL), 0);
	for (int i = 0; i < 100; i++)
		assert_int_equal(xmit(f, 100, (uint8_t)i), 0);
	sim(f, T0 + NSEC_PER_SEC);
	assert_int_equal(f->r->n, 100);
	/* netem's reorder: chosen packets leave at once, ahead of the delayed ones. */
	int early = 0;
	for (int i = 0; i < 100; i++)
		if (f->r->t[i] == T0)
			early++;
	assert_true(early > 10 && early < 40);
	teardown((void **)&f);
}

/* ---- spec errors ---------------------------------------------------------- */

static void test_spec_errors(void **state)
{
	struct fx *f = *state;
	const char *errpos = NULL;
	const char *spec = "tbf:rate=10mbit,burst=xx,latency=50ms";
	assert_int_equal(np_dev_set_qdisc(ND(f->dev), spec, &errpos), -EINVAL);
	assert_ptr_equal(errpos, strstr(spec, "burst="));
	spec = "fq_codel";
	assert_int_equal(np_dev_set_qdisc(ND(f->dev), spec, &errpos), -EINVAL);
	assert_ptr_equal(errpos, spec);
	spec = "pfifo:limit=0";
	assert_int_equal(np_dev_set_qdisc(ND(f->dev), spec, &errpos), -EINVAL);
	assert_ptr_equal(errpos, spec + 6);
	spec = "netem:delay=10ms,los=1%";
	assert_int_equal(np_dev_set_qdisc(ND(f->dev), spec, &errpos), -EINVAL);
	assert_ptr_equal(errpos, strstr(spec, "los="));
	/* tbf needs rate, burst and latency or limit. */
	spec = "tbf:rate=10mbit,burst=32k";
	assert_int_equal(np_dev_set_qdisc(ND(f->dev), spec, &errpos), -EINVAL);
	assert_int_equal(np_dev_set_qdisc(ND(f->dev), "tbf:rate=1.5mbit,burst=10kb,limit=3000", NULL), 0);
	/* A failed replace keeps the old qdisc. */
	assert_string_equal(f->dev->qdisc->ops->id, "tbf");
	assert_int_equal(np_dev_set_qdisc(ND(f->dev), "pfifo_fast:limit=3", &errpos), -EINVAL);
	assert_string_equal(f->dev->qdisc->ops->id, "tbf");
	uint64_t v;
	const char *s = "1.5mbit";
	assert_int_equal(qdisc_parse_rate(s, s + strlen(s), &v), 0);
	assert_int_equal(v, 1500000);
	s = "32kbit";
	assert_int_equal(qdisc_parse_size(s, s + strlen(s), &v), 0);
	assert_int_equal(v, 4096);
	s = "2.5ms";
	assert_int_equal(qdisc_parse_time(s, s + strlen(s), &v), 0);
	assert_int_equal(v, 2500000);
	s = "5 ms";
	assert_int_equal(qdisc_parse_time(s, s + strlen(s), &v), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_pfifo_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bfifo_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pfifo_fast_bands_by_tos, setup, teardown),
		cmocka_unit_test_setup_teardown(test_requeue_counted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bypass_idle_queue, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_bypass_when_shaping, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tbf_rate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tbf_burst, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tbf_limit_from_latency, setup, teardown),
		cmocka_unit_test_setup_teardown(test_netem_delay, setup, teardown),
		cmocka_unit_test(test_netem_loss_seeded),
		cmocka_unit_test(test_netem_jitter_reorder),
		cmocka_unit_test_setup_teardown(test_spec_errors, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
