/* Unit tests for src/core/timer.c: heap order, re-arming, deletion, and the clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>
#include <errno.h>

#include "core/stack.h"
#include "core/timer.h"

#define N 5000

struct tt {
	struct np_timer t;
	int id;
	int fired;
	uint64_t fired_at;
};

static uint64_t g_order_prev;
static int g_order_ok = 1;
static int g_fired;

static void fire(struct np_timer *t)
{
	struct tt *x = container_of(t, struct tt, t);
	x->fired++;
	x->fired_at = t->expires;
	if (t->expires < g_order_prev)
		g_order_ok = 0;
	g_order_prev = t->expires;
	g_fired++;
}

static struct np_stack *mk(struct np_clock **c)
{
	*c = np_clock_virtual(0);
	struct np_stack_config cfg = { .name = "t", .clock = *c, .seed = 7 };
	return np_stack_create(&cfg);
}

static void test_random_order_with_deletes(void **state)
{
	(void)state;
	struct np_clock *c;
	struct np_stack *s = mk(&c);
	struct tt *v = calloc(N, sizeof(*v));
	srand(42);
	g_order_prev = 0;
	g_order_ok = 1;
	g_fired = 0;
	for (int i = 0; i < N; i++) {
		timer_setup(&v[i].t, fire);
		v[i].id = i;
		assert_int_equal(mod_timer(s, &v[i].t, 1000 + (uint64_t)(rand() % 100000)), 0);
		assert_true(timer_pending(&v[i].t));
	}
	/* Re-arm a third, delete a third. */
	int deleted = 0;
	for (int i = 0; i < N; i += 3) {
		mod_timer(s, &v[i].t, 1000 + (uint64_t)(rand() % 100000));
		if (i + 1 < N) {
			assert_int_equal(del_timer(s, &v[i + 1].t), 1);
			assert_int_equal(del_timer(s, &v[i + 1].t), 0);
			deleted++;
		}
	}
	/* Nothing fires before its time. */
	assert_int_equal(run_timers(s, 999), 0);
	uint64_t t = 0;
	while (t <= 200000) {
		run_timers(s, t);
		t += 777;
	}
	assert_true(g_order_ok);
	assert_int_equal(g_fired, N - deleted);
	for (int i = 0; i < N; i++) {
		if (i % 3 == 1) {
			assert_int_equal(v[i].fired, 0);
		} else {
			assert_int_equal(v[i].fired, 1);
			assert_false(timer_pending(&v[i].t));
		}
	}
	free(v);
	np_stack_destroy(s);
	np_clock_destroy(c);
}

static struct np_stack *g_stack;
static struct tt g_rearm;

static void rearm_self(struct np_timer *t)
{
	struct tt *x = container_of(t, struct tt, t);
	x->fired++;
	if (x->fired < 5)
		mod_timer(g_stack, t, t->expires + 10);
}

static void test_rearm_from_callback_and_next(void **state)
{
	(void)state;
	struct np_clock *c;
	struct np_stack *s = mk(&c);
	g_stack = s;
	uint64_t before = np_stack_next_timer(s);
	timer_setup(&g_rearm.t, rearm_self);
	g_rearm.fired = 0;
	mod_timer(s, &g_rearm.t, 100);
	assert_int_equal(np_stack_next_timer(s), before < 100 ? before : 100);
	/* A callback that re-arms for a later time runs once per due time, never spins. */
	run_timers(s, 100);
	assert_int_equal(g_rearm.fired, 1);
	run_timers(s, 135);
	assert_int_equal(g_rearm.fired, 4);
	run_timers(s, 1000);
	assert_int_equal(g_rearm.fired, 5);
	assert_false(timer_pending(&g_rearm.t));
	np_stack_destroy(s);
	np_clock_destroy(c);
}

static void test_virtual_clock(void **state)
{
	(void)state;
	struct np_clock *c = np_clock_virtual(5);
	assert_int_equal(np_clock_now(c), 5);
	assert_int_equal(np_clock_set(c, 100), 0);
	assert_int_equal(np_clock_now(c), 100);
	assert_int_equal(np_clock_set(c, 50), 0);   /* never backwards */
	assert_int_equal(np_clock_now(c), 100);
	assert_int_equal(np_clock_set(np_clock_real(), 1), -EINVAL);
	uint64_t a = np_clock_now(np_clock_real()), b = np_clock_now(np_clock_real());
	assert_true(b >= a);
	np_clock_destroy(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random_order_with_deletes),
		cmocka_unit_test(test_rearm_from_callback_and_next),
		cmocka_unit_test(test_virtual_clock),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
