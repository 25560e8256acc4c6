/*
 * Unit tests for src/drivers/faults.c: the spec parser, reproducibility,
 * the statistics of loss, duplication and corruption, exact delay and rate
 * timing on a virtual clock, reordering, and freeing of held packets.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <errno.h>

#include "core/netdevice.h"
#include "core/skbuff.h"
#include "core/stack.h"
#include "drivers/faults.h"

#define T0 (1000 * NSEC_PER_MSEC)
#define MAXREC 300000

/* What the deliver function saw, in order (deliver has no context argument). */
struct rec {
	uint32_t seq;
	uint32_t len;
	uint64_t at;
	uint8_t data[128];
};
static struct rec *g_rec;
static int g_nrec;

static void collect(struct net_device *dev, struct sk_buff *skb)
{
	assert_true(g_nrec < MAXREC);
	struct rec *r = &g_rec[g_nrec++];
	r->seq = skb->len >= 4 ? ((uint32_t)skb->data[0] << 24 | (uint32_t)skb->data[1] << 16 |
				  (uint32_t)skb->data[2] << 8 | skb->data[3])
			       : 0;
	r->len = skb->len;
	r->at = np_stack_now(dev->stack);
	memcpy(r->data, skb->data, skb->len < sizeof(r->data) ? skb->len : sizeof(r->data));
	consume_skb(skb);
}

struct env {
	struct np_clock *clk;
	struct np_stack *s;
	struct net_device *dev;
};

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	e->clk = np_clock_virtual(T0);
	struct np_stack_config cfg = { .name = "f", .clock = e->clk, .seed = 11 };
	e->s = np_stack_create(&cfg);
	assert_non_null(e->s);
	/* Any device of the stack will do: faults only need dev->stack and hand dev back. */
	e->dev = e->s->loopback_dev;
	assert_non_null(e->dev);
	if (!g_rec)
		g_rec = malloc(sizeof(*g_rec) * MAXREC);
	g_nrec = 0;
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;
	np_stack_destroy(e->s);
	np_clock_destroy(e->clk);
	free(e);
	return 0;
}

/* A frame of len bytes: the sequence number big-endian, then a pattern. */
static uint8_t pattern(uint32_t seq, uint32_t i) { return (uint8_t)(seq * 7 + i * 13 + 1); }

static struct sk_buff *mkpkt(struct env *e, uint32_t seq, uint32_t len)
{
	struct sk_buff *skb = alloc_skb(e->s, len);
	assert_non_null(skb);
	uint8_t *p = skb_put(skb, len);
	for (uint32_t i = 0; i < len; i++)
		p[i] = pattern(seq, i);
	p[0] = (uint8_t)(seq >> 24);
	p[1] = (uint8_t)(seq >> 16);
	p[2] = (uint8_t)(seq >> 8);
	p[3] = (uint8_t)seq;
	skb->dev = e->dev;
	return skb;
}

static struct np_faults *parse_ok(const char *spec)
{
	int err = 1;
	const char *pos = NULL;
	struct np_faults *f = faults_parse(spec, &pos, &err);
	assert_int_equal(err, 0);
	assert_non_null(f);
	return f;
}

static void run_until(struct env *e, uint64_t t)
{
	struct np_stack *v[1] = { e->s };
	assert_int_equal(np_sim_run(v, 1, e->clk, t), 0);
}

/* ---- parser ---------------------------------------------------------------- */

static void test_parse_accept(void **state)
{
	(void)state;
	static const struct { const char *in, *canon; } ok[] = {
		{ "loss=2%", "loss=2%,seed=1" },
		{ "loss=2%,delay=20ms,seed=1", "loss=2%,delay=20ms,seed=1" },
		{ "seed=42,loss=0.1234%", "loss=0.1234%,seed=42" },
		{ "jitter=5ms,delay=20ms", "delay=20ms,jitter=5ms,seed=1" },
		{ "delay=1.5ms", "delay=1.5ms,seed=1" },
		{ "delay=2s", "delay=2s,seed=1" },
		{ "delay=1500ms", "delay=1.5s,seed=1" },
		{ "delay=250us", "delay=250us,seed=1" },
		{ "delay=0.001us", "delay=0.001us,seed=1" },   /* 1 ns */
		{ "rate=10mbit", "rate=10mbit,seed=1" },
		{ "rate=1.5Mbit", "rate=1.5mbit,seed=1" },
		{ "rate=64kbit,limit=50", "rate=64kbit,limit=50,seed=1" },
		{ "rate=1gbit", "rate=1gbit,seed=1" },
		{ "rate=300bit", "rate=300bit,seed=1" },
		{ "reorder=5%,dup=1%,corrupt=0.1%", "reorder=5%,dup=1%,corrupt=0.1%,seed=1" },
		{ "loss=100%", "loss=100%,seed=1" },
		{ "loss=0%", "seed=1" },
		{ "limit=1000", "seed=1" },
		{ "seed=18446744073709551615", "seed=18446744073709551615" },
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		int err = 1;
		const char *pos = NULL;
		struct np_faults *f = faults_parse(ok[i].in, &pos, &err);
		assert_int_equal(err, 0);
		assert_non_null(f);
		char buf[256];
		faults_format(f, buf, sizeof(buf));
		assert_string_equal(buf, ok[i].canon);
		/* The canonical form parses back to the same settings. */
		struct np_faults *g = parse_ok(buf);
		char buf2[256];
		faults_format(g, buf2, sizeof(buf2));
		assert_string_equal(buf2, buf);
		faults_free(g);
		faults_free(f);
	}
	/* "" and "off" mean no faults: NULL without an error. */
	int err = 1;
	assert_null(faults_parse("", NULL, &err));
	assert_int_equal(err, 0);
	err = 1;
	assert_null(faults_parse("off", NULL, &err));
	assert_int_equal(err, 0);
	/* A tiny buffer is cut, never overrun. */
	struct np_faults *f = parse_ok("loss=2%,delay=20ms");
	char small[8];
	memset(small, 'x', sizeof(small));
	faults_format(f, small, 5);
	assert_int_equal(strlen(small), 4);
	faults_free(f);
}

static void test_parse_reject(void **state)
{
	(void)state;
	static const struct { const char *in; int at; } bad[] = {
		{ "loss=20", 0 },              /* missing unit */
		{ "loss=101%", 0 },            /* above 100% */
		{ "loss=100.0001%", 0 },
		{ "loss=1.23456%", 0 },        /* more than 4 decimals */
		{ "loss=abc%", 0 },
		{ "loss=%", 0 },
		{ "loss=", 0 },
		{ "loss", 0 },
		{ "=2%", 0 },
		{ "los=2%", 0 },               /* unknown key */
		{ "Loss=2%", 0 },
		{ "loss=2%,delay=20", 8 },     /* errpos at the bad key */
		{ "loss=2%,delay=20min", 8 },
		{ "loss=2%,delay=-1ms", 8 },
		{ "loss=2%,jitter=5", 8 },
		{ "delay=1ms,rate=10", 10 },
		{ "delay=1ms,rate=10mbps", 10 },
		{ "delay=1ms,rate=1.5bit", 10 }, /* not a whole bit per second */
		{ "limit=0", 0 },
		{ "limit=12x", 0 },
		{ "limit=5000000000", 0 },
		{ "seed=-1", 0 },
		{ "seed=99999999999999999999", 0 }, /* overflow */
		{ "loss=2%,", 8 },             /* empty item */
		{ ",loss=2%", 0 },
		{ "loss=2%,loss=3%", 8 },      /* a key twice */
		{ "loss=2% ", 0 },
		{ "loss=1.%", 0 },
		{ "loss=.5%", 0 },
		{ "delay=3601s", 0 },
		{ "on", 0 },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int err = 0;
		const char *pos = NULL;
		struct np_faults *f = faults_parse(bad[i].in, &pos, &err);
		if (f)
			fail_msg("accepted \"%s\"", bad[i].in);
		assert_int_equal(err, -EINVAL);
		assert_non_null(pos);
		if (pos - bad[i].in != bad[i].at)
			fail_msg("\"%s\": errpos %d, want %d", bad[i].in, (int)(pos - bad[i].in), bad[i].at);
	}
	/* errpos and err may be NULL. */
	assert_null(faults_parse("bogus=1", NULL, NULL));
}

/* ---- decisions ------------------------------------------------------------- */

static void run_n(struct env *e, struct np_faults *f, int n, uint32_t len)
{
	for (int i = 0; i < n; i++)
		faults_apply(f, e->dev, mkpkt(e, (uint32_t)i, len), collect);
}

static void test_same_seed_same_decisions(void **state)
{
	struct env *e = *state;
	const char *spec = "loss=30%,dup=10%,corrupt=10%,reorder=10%,seed=7";
	struct np_faults *f = parse_ok(spec);
	run_n(e, f, 2000, 64);
	faults_free(f);   /* a held-back packet, if any, is freed */
	int n1 = g_nrec;
	struct rec *first = malloc(sizeof(*first) * (size_t)n1);
	memcpy(first, g_rec, sizeof(*first) * (size_t)n1);

	g_nrec = 0;
	f = parse_ok(spec);
	run_n(e, f, 2000, 64);
	faults_free(f);
	assert_int_equal(g_nrec, n1);
	for (int i = 0; i < n1; i++) {
		assert_int_equal(g_rec[i].seq, first[i].seq);
		assert_memory_equal(g_rec[i].data, first[i].data, 64);
	}

	/* Another seed gives other decisions. */
	g_nrec = 0;
	f = parse_ok("loss=30%,dup=10%,corrupt=10%,reorder=10%,seed=8");
	run_n(e, f, 2000, 64);
	faults_free(f);
	int differ = g_nrec != n1;
	for (int i = 0; !differ && i < n1; i++)
		differ = g_rec[i].seq != first[i].seq || memcmp(g_rec[i].data, first[i].data, 64) != 0;
	assert_true(differ);
	free(first);
}

static void test_loss_rate(void **state)
{
	struct env *e = *state;
	struct np_faults *f = parse_ok("loss=20%");
	const int n = 100000;
	run_n(e, f, n, 60);
	struct np_fault_stats st;
	faults_get_stats(f, &st);
	assert_int_equal(st.seen, n);
	assert_int_equal(st.lost + (uint64_t)g_nrec, n);
	/* 20% +- 1% (the standard deviation is 0.13%). */
	assert_in_range(st.lost, 19000, 21000);
	assert_int_equal(np_stack_drops(e->s, NP_DROP_FAULT_INJECTED_LOSS), st.lost);
	/* Survivors come through untouched and in order. */
	for (int i = 1; i < g_nrec; i++)
		assert_true(g_rec[i].seq > g_rec[i - 1].seq);
	faults_free(f);
}

static void test_dup_rate(void **state)
{
	struct env *e = *state;
	struct np_faults *f = parse_ok("dup=10%,seed=3");
	const int n = 100000;
	run_n(e, f, n, 60);
	struct np_fault_stats st;
	faults_get_stats(f, &st);
	assert_int_equal((uint64_t)g_nrec, n + st.duplicated);
	assert_in_range(st.duplicated, 9000, 11000);
	/* A duplicate follows its original with the same bytes. */
	int dups = 0;
	for (int i = 1; i < g_nrec; i++) {
		if (g_rec[i].seq == g_rec[i - 1].seq) {
			assert_memory_equal(g_rec[i].data, g_rec[i - 1].data, 60);
			dups++;
		}
	}
	assert_int_equal(dups, st.duplicated);
	faults_free(f);
}

static int bits_differ(const uint8_t *a, const uint8_t *b, size_t n)
{
	int d = 0;
	for (size_t i = 0; i < n; i++)
		d += __builtin_popcount((unsigned)(a[i] ^ b[i]));
	return d;
}

static void test_corrupt_one_bit(void **state)
{
	struct env *e = *state;
	struct np_faults *f = parse_ok("corrupt=10%,seed=5");
	const int n = 20000, len = 100;
	run_n(e, f, n, len);
	struct np_fault_stats st;
	faults_get_stats(f, &st);
	assert_int_equal(g_nrec, n);
	int corrupted = 0;
	for (int i = 0; i < g_nrec; i++) {
		uint8_t want[100];
		uint32_t seq = (uint32_t)i;   /* corruption may hit the sequence bytes: use the position */
		for (int j = 0; j < len; j++)
			want[j] = pattern(seq, (uint32_t)j);
		want[0] = (uint8_t)(seq >> 24);
		want[1] = (uint8_t)(seq >> 16);
		want[2] = (uint8_t)(seq >> 8);
		want[3] = (uint8_t)seq;
		int d = bits_differ(want, g_rec[i].data, (size_t)len);
		assert_true(d == 0 || d == 1);
		corrupted += d;
	}
	assert_int_equal(corrupted, st.corrupted);
	assert_in_range(st.corrupted, 1800, 2200);   /* 10% +- 1% */
	faults_free(f);

	/* A clone's bytes are un-shared before the flip: the original stays intact. */
	g_nrec = 0;
	f = parse_ok("corrupt=100%");
	struct sk_buff *orig = mkpkt(e, 77, 64);
	struct sk_buff *clone = skb_clone(orig);
	assert_non_null(clone);
	uint8_t before[64];
	memcpy(before, orig->data, 64);
	faults_apply(f, e->dev, clone, collect);
	assert_int_equal(g_nrec, 1);
	assert_int_equal(bits_differ(before, g_rec[0].data, 64), 1);
	assert_memory_equal(orig->data, before, 64);
	/* The same for a second reference to one head (skb_get). */
	struct sk_buff *ref = skb_get(orig);
	faults_apply(f, e->dev, ref, collect);
	assert_int_equal(g_nrec, 2);
	assert_int_equal(bits_differ(before, g_rec[1].data, 64), 1);
	assert_memory_equal(orig->data, before, 64);
	assert_int_equal(orig->users, 1);
	consume_skb(orig);
	faults_free(f);
}

/* ---- time ---------------------------------------------------------------- */

static void test_delay_exact(void **state)
{
	struct env *e = *state;
	struct np_faults *f = parse_ok("delay=5ms");
	faults_apply(f, e->dev, mkpkt(e, 1, 60), collect);
	assert_int_equal(g_nrec, 0);
	run_until(e, T0 + 5 * NSEC_PER_MSEC - 1);
	assert_int_equal(g_nrec, 0);
	run_until(e, T0 + 5 * NSEC_PER_MSEC);
	assert_int_equal(g_nrec, 1);
	assert_int_equal(g_rec[0].at, T0 + 5 * NSEC_PER_MSEC);

	/* Packets sent later leave exactly delay later each. */
	for (int i = 0; i < 5; i++) {
		np_clock_set(e->clk, T0 + 10 * NSEC_PER_MSEC + (uint64_t)i * 300 * NSEC_PER_USEC);
		faults_apply(f, e->dev, mkpkt(e, (uint32_t)(10 + i), 60), collect);
		np_stack_poll(e->s);
	}
	run_until(e, T0 + 100 * NSEC_PER_MSEC);
	assert_int_equal(g_nrec, 6);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(g_rec[1 + i].seq, 10 + i);
		assert_int_equal(g_rec[1 + i].at, T0 + 15 * NSEC_PER_MSEC + (uint64_t)i * 300 * NSEC_PER_USEC);
	}
	struct np_fault_stats st;
	faults_get_stats(f, &st);
	assert_int_equal(st.delayed, 6);
	faults_free(f);
}

static void test_jitter_keeps_order(void **state)
{
	struct env *e = *state;
	struct np_faults *f = parse_ok("delay=10ms,jitter=5ms,seed=9");
	const int n = 1000;
	uint64_t sent[1000];
	for (int i = 0; i < n; i++) {
		sent[i] = T0 + (uint64_t)i * 100 * NSEC_PER_USEC;
		run_until(e, sent[i]);
		faults_apply(f, e->dev, mkpkt(e, (uint32_t)i, 60), collect);
	}
	run_until(e, T0 + 2 * NSEC_PER_SEC);
	assert_int_equal(g_nrec, n);
	uint64_t min = UINT64_MAX, max = 0;
	for (int i = 0; i < n; i++) {
		/* Jitter alone never reorders. */
		assert_int_equal(g_rec[i].seq, i);
		uint64_t d = g_rec[i].at - sent[i];
		assert_in_range(d, 5 * NSEC_PER_MSEC, 15 * NSEC_PER_MSEC);
		if (d < min)
			min = d;
		if (d > max)
			max = d;
	}
	/* It does spread the delay. */
	assert_true(min < 7 * NSEC_PER_MSEC);
	assert_true(max > 13 * NSEC_PER_MSEC);
	faults_free(f);
}

static void test_rate(void **state)
{
	struct env *e = *state;
	struct np_faults *f = parse_ok("rate=1mbit");
	/* 1250 bytes = 10,000 bits = 10 ms at 1 Mbit/s. */
	for (int i = 0; i < 10; i++)
		faults_apply(f, e->dev, mkpkt(e, (uint32_t)i, 1250), collect);
	run_until(e, T0 + NSEC_PER_SEC);
	assert_int_equal(g_nrec, 10);
	for (int i = 0; i < 10; i++) {
		assert_int_equal(g_rec[i].seq, i);
		assert_int_equal(g_rec[i].at, T0 + (uint64_t)(i + 1) * 10 * NSEC_PER_MSEC);
	}
	faults_free(f);

	/* With a delay: the first leaves at delay + its own time, the rest 10 ms apart. */
	g_nrec = 0;
	uint64_t t1 = np_stack_now(e->s);
	f = parse_ok("rate=1mbit,delay=50ms");
	for (int i = 0; i < 3; i++)
		faults_apply(f, e->dev, mkpkt(e, (uint32_t)i, 1250), collect);
	run_until(e, t1 + NSEC_PER_SEC);
	assert_int_equal(g_nrec, 3);
	for (int i = 0; i < 3; i++)
		assert_int_equal(g_rec[i].at, t1 + 50 * NSEC_PER_MSEC + (uint64_t)(i + 1) * 10 * NSEC_PER_MSEC);
	faults_free(f);

	/* limit: beyond 5 waiting packets the rest are dropped. */
	g_nrec = 0;
	uint64_t drops0 = np_stack_drops(e->s, NP_DROP_FAULT_INJECTED_LOSS);
	f = parse_ok("rate=1mbit,limit=5");
	for (int i = 0; i < 10; i++)
		faults_apply(f, e->dev, mkpkt(e, (uint32_t)i, 1250), collect);
	struct np_fault_stats st;
	faults_get_stats(f, &st);
	assert_int_equal(st.rate_dropped, 5);
	assert_int_equal(np_stack_drops(e->s, NP_DROP_FAULT_INJECTED_LOSS) - drops0, 5);
	run_until(e, np_stack_now(e->s) + NSEC_PER_SEC);
	assert_int_equal(g_nrec, 5);
	faults_free(f);
}

static void test_reorder(void **state)
{
	struct env *e = *state;
	/* No delay: a chosen packet is held back and follows the next one. */
	struct np_faults *f = parse_ok("reorder=100%");
	run_n(e, f, 6, 60);
	static const uint32_t want[] = { 1, 0, 3, 2, 5, 4 };
	assert_int_equal(g_nrec, 6);
	for (int i = 0; i < 6; i++)
		assert_int_equal(g_rec[i].seq, want[i]);
	struct np_fault_stats st;
	faults_get_stats(f, &st);
	assert_int_equal(st.reordered, 3);

	/* A lone held packet leaves after the hold time (10 ms), not never. */
	g_nrec = 0;
	uint64_t t = np_stack_now(e->s);
	faults_apply(f, e->dev, mkpkt(e, 9, 60), collect);
	assert_int_equal(g_nrec, 0);
	run_until(e, t + 20 * NSEC_PER_MSEC);
	assert_int_equal(g_nrec, 1);
	assert_int_equal(g_rec[0].at, t + 10 * NSEC_PER_MSEC);
	faults_free(f);

	/* reorder=10%: each reordered packet swaps with its successor, nothing else moves. */
	g_nrec = 0;
	f = parse_ok("reorder=10%,seed=4");
	run_n(e, f, 10000, 60);
	faults_get_stats(f, &st);
	faults_free(f);   /* may free a final held packet */
	int swaps = 0;
	for (int i = 0; i + 1 < g_nrec; i++) {
		if (g_rec[i].seq > g_rec[i + 1].seq) {
			assert_int_equal(g_rec[i].seq, g_rec[i + 1].seq + 1);
			swaps++;
		}
	}
	assert_true(swaps == (int)st.reordered || swaps + 1 == (int)st.reordered);
	assert_in_range(st.reordered, 700, 1100);   /* 10% chosen, minus those arriving while one is held */

	/* With a delay, netem's way: reordered packets go at once, the others wait the delay, in order. */
	g_nrec = 0;
	t = np_stack_now(e->s);
	f = parse_ok("delay=10ms,reorder=25%,seed=3");
	run_n(e, f, 1000, 60);
	int immediate = g_nrec;
	faults_get_stats(f, &st);
	assert_int_equal(immediate, st.reordered);
	assert_in_range(immediate, 200, 300);
	run_until(e, t + NSEC_PER_SEC);
	assert_int_equal(g_nrec, 1000);
	for (int i = 0; i < 1000; i++) {
		assert_int_equal(g_rec[i].at, i < immediate ? t : t + 10 * NSEC_PER_MSEC);
		if (i && i != immediate)
			assert_true(g_rec[i].seq > g_rec[i - 1].seq);
	}
	faults_free(f);

	/* reorder=0% never changes the order. */
	g_nrec = 0;
	f = parse_ok("reorder=0%,delay=1ms,jitter=900us");
	run_n(e, f, 500, 60);
	run_until(e, np_stack_now(e->s) + NSEC_PER_SEC);
	assert_int_equal(g_nrec, 500);
	for (int i = 0; i < 500; i++)
		assert_int_equal(g_rec[i].seq, i);
	faults_free(f);
}

static void test_free_held(void **state)
{
	struct env *e = *state;
	uint64_t d0 = np_stack_drops(e->s, NP_DROP_STACK_SHUTDOWN);
	struct np_faults *f = parse_ok("delay=1s,dup=50%");
	run_n(e, f, 100, 200);
	struct np_fault_stats st;
	faults_get_stats(f, &st);
	assert_int_equal(g_nrec, 0);
	uint64_t held = 100 + st.duplicated;
	/* faults_flush frees everything waiting, and nothing fires afterwards. */
	faults_flush(f);
	assert_int_equal(np_stack_drops(e->s, NP_DROP_STACK_SHUTDOWN) - d0, held);
	run_until(e, np_stack_now(e->s) + 2 * NSEC_PER_SEC);
	assert_int_equal(g_nrec, 0);
	/* It keeps working after a flush. */
	faults_apply(f, e->dev, mkpkt(e, 1, 60), collect);
	run_until(e, np_stack_now(e->s) + 2 * NSEC_PER_SEC);
	struct np_fault_stats st2;
	faults_get_stats(f, &st2);
	assert_int_equal(g_nrec, 1 + st2.duplicated - st.duplicated);
	assert_int_equal(g_rec[0].seq, 1);
	/* faults_free with packets still waiting (ASan checks they are freed). */
	run_n(e, f, 10, 60);
	faults_free(f);

	/* The device's own fault sets are freed when the stack goes (unregister_netdev). */
	assert_int_equal(np_dev_set_faults((struct np_dev *)e->dev, NP_RXTX, "delay=1s", NULL), 0);
	faults_apply(e->dev->faults_tx, e->dev, mkpkt(e, 2, 60), collect);
	const char *pos = NULL;
	assert_int_equal(np_dev_set_faults((struct np_dev *)e->dev, NP_TX, "delay=1s,bogus=1", &pos), -EINVAL);
	assert_string_equal(pos, "bogus=1");
}

static void test_null_faults_pass_through(void **state)
{
	struct env *e = *state;
	faults_apply(NULL, e->dev, mkpkt(e, 5, 60), collect);
	assert_int_equal(g_nrec, 1);
	struct np_fault_stats st;
	faults_get_stats(NULL, &st);
	assert_int_equal(st.seen, 0);
	char buf[16];
	faults_format(NULL, buf, sizeof(buf));
	assert_string_equal(buf, "off");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_accept),
		cmocka_unit_test(test_parse_reject),
		cmocka_unit_test_setup_teardown(test_same_seed_same_decisions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_loss_rate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dup_rate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_one_bit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delay_exact, setup, teardown),
		cmocka_unit_test_setup_teardown(test_jitter_keeps_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reorder, setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_held, setup, teardown),
		cmocka_unit_test_setup_teardown(test_null_faults_pass_through, setup, teardown),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	free(g_rec);
	return rc;
}
