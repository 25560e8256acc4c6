/*
 * Sequence arithmetic (src/net/tcp/tcp_seq.h) and the NewReno congestion
 * control (src/net/tcp/tcp_cong.c), on their own: comparisons across 2^32,
 * Linux's between() argument order, slow start capped at ssthresh,
 * congestion avoidance of one segment per window, and the halving ssthresh.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "net/tcp/tcp.h"

static void test_before_after_wrap(void **state)
{
	assert_true(before(1, 2));
	assert_false(before(2, 1));
	assert_false(before(5, 5));
	assert_true(before(0xFFFFFFFFu, 0));          /* across the wrap */
	assert_true(after(0, 0xFFFFFFFFu));
	assert_true(before(0xFFFFFFF0u, 0x10));
	assert_true(after(0x7FFFFFFFu, 0));
	assert_true(before(0x80000001u, 0));          /* more than half the space ahead is behind */
	assert_int_equal(seq_max(0xFFFFFFFEu, 3), 3);
	assert_int_equal(seq_min(0xFFFFFFFEu, 3), 0xFFFFFFFEu);
}

static void test_between_linux_order(void **state)
{
	/* between(x, lo, hi): lo <= x <= hi. */
	assert_true(between(5, 1, 10));
	assert_true(between(1, 1, 10));
	assert_true(between(10, 1, 10));
	assert_false(between(11, 1, 10));
	assert_false(between(0, 1, 10));
	assert_true(between(2, 0xFFFFFFF0u, 5));      /* window across 2^32 */
	assert_true(between(0xFFFFFFF5u, 0xFFFFFFF0u, 5));
	assert_false(between(6, 0xFFFFFFF0u, 5));
}

static void test_reno(void **state)
{
	static struct tcp_sock tp;
	memset(&tp, 0, sizeof(tp));
	tp.snd_cwnd = 10;
	tp.snd_ssthresh = 16;
	tp.max_packets_out = 10;
	/* Slow start: +1 per acked segment, not past ssthresh. */
	tcp_reno_cong_avoid(&tp, 0, 4);
	assert_int_equal(tp.snd_cwnd, 14);
	tp.max_packets_out = 14;
	tcp_reno_cong_avoid(&tp, 0, 4);
	assert_int_equal(tp.snd_cwnd, 16);
	/* The two left over start congestion avoidance: one segment per cwnd acked. */
	tp.max_packets_out = 16;
	tcp_reno_cong_avoid(&tp, 0, 10);
	assert_int_equal(tp.snd_cwnd, 16);
	tcp_reno_cong_avoid(&tp, 0, 6);
	assert_int_equal(tp.snd_cwnd, 17);
	/* Not cwnd limited (the application sent little): no growth. */
	tp.max_packets_out = 3;
	tcp_reno_cong_avoid(&tp, 0, 50);
	assert_int_equal(tp.snd_cwnd, 17);
	/* ssthresh: half, at least 2. */
	assert_int_equal(tcp_reno_ssthresh(&tp), 8);
	tp.snd_cwnd = 3;
	assert_int_equal(tcp_reno_ssthresh(&tp), 2);
	assert_ptr_equal(tcp_ca_find("reno"), &tcp_reno);
	assert_null(tcp_ca_find("nope"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_before_after_wrap),
		cmocka_unit_test(test_between_linux_order),
		cmocka_unit_test(test_reno),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
