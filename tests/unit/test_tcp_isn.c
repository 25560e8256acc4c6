/*
 * Initial sequence numbers (RFC 6528; tcp_v4_init_seq in src/net/tcp/tcp_ipv4.c):
 * ISN = M + F(4-tuple, secret), M a clock (64 ns ticks, as Linux), F SipHash
 * under the stack's secret. Checks, on a virtual clock:
 *   - one 4-tuple: the ISN advances with the clock and only with it;
 *   - 10,000 4-tuples at one instant: no visible structure (each bit set
 *     about half the time, consecutive differences not constant, lag-1
 *     serial correlation near 0, top byte uniform, one-bit tuple changes
 *     flip each ISN bit half the time);
 *   - two stack instances: different ISNs for the same tuple, and not by a
 *     constant offset (per-stack secret).
 * The bounds are 5 standard deviations of what a uniform 32-bit generator
 * gives for n samples (a correct generator fails one with probability about
 * 1e-5), and the stacks are seeded, so the figures are the same every run. test_checks_reject_bad_generators feeds the same
 * checks a counter, an affine function of the port and an unkeyed hash,
 * and requires each to be caught, so the bounds are known to have teeth.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <cmocka.h>

#include "core/stack.h"
#include "net/tcp/tcp.h"
#include "netpath/netpath.h"

#define N 10000
#define T0 (1000ull * 1000000000ull)
#define OUR 0x0a000001u        /* 10.0.0.1 */
#define PEER 0x0a000002u       /* 10.0.0.2 */

struct isn_env {
	struct np_clock *clk;
	struct np_stack *a, *b;   /* two independent stacks on one clock */
};

static int setup(void **state)
{
	struct isn_env *e = calloc(1, sizeof(*e));
	e->clk = np_clock_virtual(T0);
	/* Seeded (secrets derived from the seed) so the statistics are the same on every run. */
	struct np_stack_config ca = { .name = "isn-a", .clock = e->clk, .seed = 0x6528 },
			       cb = { .name = "isn-b", .clock = e->clk, .seed = 0x4987 };
	e->a = np_stack_create(&ca);
	e->b = np_stack_create(&cb);
	assert_non_null(e->a);
	assert_non_null(e->b);
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct isn_env *e = *state;
	np_stack_destroy(e->a);
	np_stack_destroy(e->b);
	np_clock_destroy(e->clk);
	free(e);
	return 0;
}

/* ---- the checks: each returns NULL if x looks uniform and independent, else why not ---- */

static char why[256];

/* Each of the 32 bits is set in n/2 +- 5 sigma of the samples (sigma = sqrt(n)/2). */
static const char *check_bits(const uint32_t *x, int n)
{
	double sigma = sqrt((double)n) / 2, lim = 5 * sigma;
	for (int b = 0; b < 32; b++) {
		int ones = 0;
		for (int i = 0; i < n; i++)
			ones += (int)(x[i] >> b & 1);
		if (fabs(ones - n / 2.0) > lim) {
			snprintf(why, sizeof(why), "bit %d set %d times in %d (limit %.0f +- %.0f)", b, ones, n, n / 2.0, lim);
			return why;
		}
	}
	return NULL;
}

static int cmp_u32(const void *p, const void *q)
{
	uint32_t a = *(const uint32_t *)p, b = *(const uint32_t *)q;
	return a < b ? -1 : a > b;
}

/*
 * Consecutive differences x[i+1] - x[i]: for uniform values n-1 of them
 * collide in about n^2 / 2^33 pairs (0.01 for n = 10,000), so at least 99%
 * must be distinct. A counter or any affine map of the tuple gives one value.
 */
static const char *check_diffs(const uint32_t *x, int n)
{
	uint32_t *d = malloc(sizeof(*d) * (size_t)n);
	for (int i = 0; i + 1 < n; i++)
		d[i] = x[i + 1] - x[i];
	qsort(d, (size_t)(n - 1), sizeof(*d), cmp_u32);
	int distinct = n > 1;
	for (int i = 1; i + 1 < n; i++)
		distinct += d[i] != d[i - 1];
	free(d);
	if (distinct < (n - 1) * 99 / 100) {
		snprintf(why, sizeof(why), "only %d distinct consecutive differences in %d", distinct, n - 1);
		return why;
	}
	return NULL;
}

/* Lag-1 serial correlation: for independent samples about N(0, 1/n); |r| must stay under 5/sqrt(n). */
static const char *check_serial(const uint32_t *x, int n)
{
	double m = 0, num = 0, den = 0;
	for (int i = 0; i < n; i++)
		m += x[i];
	m /= n;
	for (int i = 0; i < n; i++) {
		double di = x[i] - m;
		den += di * di;
		if (i + 1 < n)
			num += di * (x[i + 1] - m);
	}
	double r = den > 0 ? num / den : 1, lim = 5 / sqrt((double)n);
	if (fabs(r) > lim) {
		snprintf(why, sizeof(why), "serial correlation %.4f (limit %.4f)", r, lim);
		return why;
	}
	return NULL;
}

/* Top byte over 256 buckets: chi-square (255 degrees of freedom) under 255 + 5 * sqrt(2 * 255). */
static const char *check_top_byte(const uint32_t *x, int n)
{
	int bucket[256] = { 0 };
	for (int i = 0; i < n; i++)
		bucket[x[i] >> 24]++;
	double exp_ = n / 256.0, chi = 0, lim = 255 + 5 * sqrt(2 * 255.0);
	for (int i = 0; i < 256; i++)
		chi += (bucket[i] - exp_) * (bucket[i] - exp_) / exp_;
	if (chi > lim) {
		snprintf(why, sizeof(why), "top byte chi-square %.1f (limit %.1f)", chi, lim);
		return why;
	}
	return NULL;
}

static const char *check_all(const uint32_t *x, int n)
{
	const char *w;
	if ((w = check_bits(x, n)) || (w = check_diffs(x, n)) || (w = check_serial(x, n)) || (w = check_top_byte(x, n)))
		return w;
	return NULL;
}

/* Two generators for the same tuples: at most 1 equal value (2^-32 each) and no constant offset. */
static const char *check_independent(const uint32_t *a, const uint32_t *b, int n)
{
	int equal = 0;
	uint32_t *d = malloc(sizeof(*d) * (size_t)n);
	for (int i = 0; i < n; i++) {
		equal += a[i] == b[i];
		d[i] = b[i] - a[i];
	}
	const char *w = NULL;
	if (equal > 1) {
		snprintf(why, sizeof(why), "%d of %d tuples got the same ISN from both", equal, n);
		w = why;
	} else {
		w = check_bits(d, n);   /* the offset between them is itself uniform */
	}
	free(d);
	return w;
}

#define ASSERT_PASSES(expr) \
	do { \
		const char *w_ = (expr); \
		if (w_) \
			fail_msg("%s: %s", #expr, w_); \
	} while (0)

/* ---- tuples ---- */

/* Family 0: one peer, consecutive source ports (a client's connect()s). Family 1: peers 10.1.0.0 up, one port pair. */
static void tuple(int family, int i, uint32_t *saddr, uint32_t *daddr, uint16_t *sport, uint16_t *dport)
{
	*saddr = OUR;
	if (family == 0) {
		*daddr = PEER;
		*sport = (uint16_t)(32768 + i);
		*dport = 80;
	} else {
		*daddr = 0x0a010000u + (uint32_t)i;
		*sport = 40000;
		*dport = 443;
	}
}

static void isns(struct np_stack *s, int family, uint32_t *x, int n)
{
	for (int i = 0; i < n; i++) {
		uint32_t sa, da;
		uint16_t sp, dp;
		tuple(family, i, &sa, &da, &sp, &dp);
		x[i] = tcp_v4_init_seq(s, sa, da, sp, dp);
	}
}

/* ---- tests ---- */

/* RFC 6528: for one tuple the ISN is M + F, so it moves with the clock (64 ns a tick, as Linux) and only with it. */
static void test_isn_advances_with_time(void **state)
{
	struct isn_env *e = *state;
	uint32_t x0 = tcp_v4_init_seq(e->a, OUR, PEER, 33000, 80);
	assert_int_equal(tcp_v4_init_seq(e->a, OUR, PEER, 33000, 80), x0);   /* same instant, same ISN */
	uint64_t now = T0;
	uint32_t prev = x0;
	/* 1,000 steps of 1 us .. 1 s: each ISN is ahead of the last by the elapsed time in ticks. */
	srand(7);
	for (int i = 0; i < 1000; i++) {
		uint64_t step = 1000ull * (uint64_t)(1 + rand() % 1000000);
		now += step;
		assert_int_equal(np_clock_set(e->clk, now), 0);
		uint32_t x = tcp_v4_init_seq(e->a, OUR, PEER, 33000, 80);
		uint32_t adv = x - prev, want = (uint32_t)((now >> 6) - ((now - step) >> 6));
		if (adv != want)
			fail_msg("step %d: %llu ns moved the ISN by %u, expected %u", i, (unsigned long long)step, adv, want);
		assert_true(adv > 0 && adv < 0x80000000u);   /* "after" in sequence space */
		prev = x;
	}
	/* The total: (now - T0) / 64 ns. */
	assert_int_equal(prev - x0, (uint32_t)((now >> 6) - (T0 >> 6)));
}

static void test_isn_uncorrelated_across_tuples(void **state)
{
	struct isn_env *e = *state;
	static uint32_t x[N];
	for (int family = 0; family < 2; family++) {
		isns(e->a, family, x, N);
		ASSERT_PASSES(check_all(x, N));
	}
	/* Avalanche: changing one bit of the tuple flips each ISN bit half the time. */
	static uint32_t flips[N];
	for (int i = 0; i < N; i++) {
		uint32_t sa, da;
		uint16_t sp, dp;
		tuple(i & 1, i, &sa, &da, &sp, &dp);
		uint32_t base = tcp_v4_init_seq(e->a, sa, da, sp, dp);
		int bit = i % 96;
		if (bit < 32)
			da ^= 1u << bit;
		else if (bit < 48)
			sp ^= (uint16_t)(1u << (bit - 32));
		else if (bit < 64)
			dp ^= (uint16_t)(1u << (bit - 48));
		else
			sa ^= 1u << (bit - 64);
		flips[i] = base ^ tcp_v4_init_seq(e->a, sa, da, sp, dp);
	}
	ASSERT_PASSES(check_bits(flips, N));
}

/* Per-stack secret: two stacks, same tuples, same instant: unrelated ISNs. */
static void test_isn_secret_per_stack(void **state)
{
	struct isn_env *e = *state;
	static uint32_t a[N], b[N];
	for (int family = 0; family < 2; family++) {
		isns(e->a, family, a, N);
		isns(e->b, family, b, N);
		ASSERT_PASSES(check_independent(a, b, N));
		ASSERT_PASSES(check_all(b, N));
	}
	/*
	 * Production stacks (no seed) take the secret from getrandom: two of them
	 * agree on a tuple with probability 2^-32, so more than one equal ISN in
	 * 10,000 (p < 1e-11) means the secret is missing or shared.
	 */
	struct np_stack_config cc = { .name = "isn-c", .clock = e->clk }, cd = { .name = "isn-d", .clock = e->clk };
	struct np_stack *c = np_stack_create(&cc), *d = np_stack_create(&cd);
	assert_non_null(c);
	assert_non_null(d);
	isns(c, 0, a, N);
	isns(d, 0, b, N);
	int equal = 0;
	for (int i = 0; i < N; i++)
		equal += a[i] == b[i];
	assert_true(equal <= 1);
	ASSERT_PASSES(check_diffs(a, N));
	np_stack_destroy(c);
	np_stack_destroy(d);
}

/*
 * The checks catch bad generators: a counter, an affine function of the
 * port, an ISN with only a per-stack constant offset (secret used as an
 * addend), and a keyed hash whose key is the same for every stack (the
 * secret left out). A good generator must pass all of them (other tests).
 */
static void test_checks_reject_bad_generators(void **state)
{
	struct isn_env *e = *state;
	static uint32_t x[N], y[N];

	/* RFC 793's plain clock: every connection at one instant gets a counter value. */
	for (int i = 0; i < N; i++)
		x[i] = 0x12345678u + (uint32_t)i * 250000u;
	assert_non_null(check_all(x, N));
	assert_non_null(check_diffs(x, N));
	assert_non_null(check_serial(x, N));

	/* Affine in the port (a multiplicative "hash"): the bits look fine, the differences do not. */
	for (int i = 0; i < N; i++)
		x[i] = (uint32_t)(32768 + i) * 0x9e3779b1u + 0xdeadbeefu;
	assert_null(check_bits(x, N));
	assert_non_null(check_all(x, N));

	/* Secret added, not hashed: per-stack sequences differ by a constant. */
	isns(e->a, 0, x, N);
	for (int i = 0; i < N; i++)
		y[i] = x[i] + 0x5a5a5a5au;
	assert_non_null(check_independent(x, y, N));

	/* A hash without the secret: two stacks with the same (here zeroed) key agree on every tuple. */
	uint32_t sa[4], sb[4];
	memcpy(sa, e->a->secret, sizeof(sa));
	memcpy(sb, e->b->secret, sizeof(sb));
	memset(e->a->secret, 0, sizeof(sa));
	memset(e->b->secret, 0, sizeof(sb));
	isns(e->a, 1, x, N);
	isns(e->b, 1, y, N);
	assert_null(check_all(x, N));               /* the statistics alone cannot see it ... */
	assert_non_null(check_independent(x, y, N)); /* ... the second stack does */
	memcpy(e->a->secret, sa, sizeof(sa));
	memcpy(e->b->secret, sb, sizeof(sb));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_isn_advances_with_time, setup, teardown),
		cmocka_unit_test_setup_teardown(test_isn_uncorrelated_across_tuples, setup, teardown),
		cmocka_unit_test_setup_teardown(test_isn_secret_per_stack, setup, teardown),
		cmocka_unit_test_setup_teardown(test_checks_reject_bad_generators, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
