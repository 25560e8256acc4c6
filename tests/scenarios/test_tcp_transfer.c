/*
 * Scenario: netpath to netpath TCP over the virtual cable, public API only,
 * on one virtual clock.
 *   A (10.0.0.1/24) eth0 <==cable==> eth0 B (10.0.0.2/24)
 * - a basic exchange with half-close, checked state by state;
 * - bulk transfers both ways at once under the fault grid (5% loss, 5%
 *   reordering, 1% duplication, 0.1% single-bit corruption, several seeds):
 *   the SHA-256 of what each side received equals what the other sent and no
 *   connection is aborted. CI size 8 MiB each way per seed; NP_TCP_BIG=1
 *   runs the 100 MiB version;
 * - connect/transfer/close cycles (CI: 2,000; NP_TCP_BIG=1: 10,000) with
 *   nothing left behind (ASan's leak check covers memory; counters and
 *   TIME_WAIT bookkeeping are checked here).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "scenarios/tcp_net.h"

static int big(void)
{
	const char *e = getenv("NP_TCP_BIG");
	return e && *e && strcmp(e, "0") != 0;
}

/* Accepts the pending connection on lfd (after letting the handshake run). */
static void test_basic_exchange(void **state)
{
	struct tnet *n = tnet_new(1);
	int lfd = tn_listen(n, 1, "0.0.0.0", 80, 16);
	assert_true(lfd >= 0);
	int c = tn_connect(n, 0, TN_B_IP, 80);
	assert_true(c >= 0);

	/* Before the handshake: no peer, not writable. */
	struct sockaddr_in peer;
	socklen_t plen = sizeof(peer);
	assert_int_equal(np_getpeername(c, (struct sockaddr *)&peer, &plen), -1);
	assert_int_equal(errno, ENOTCONN);

	int s = tn_accept_ok(n, lfd);
	struct pollfd pfd = { .fd = c, .events = POLLOUT };
	assert_int_equal(np_poll(&pfd, 1, 0), 1);
	assert_true(pfd.revents & POLLOUT);
	int err = -1;
	socklen_t elen = sizeof(err);
	assert_int_equal(np_getsockopt(c, SOL_SOCKET, SO_ERROR, &err, &elen), 0);
	assert_int_equal(err, 0);
	struct tcp_info ti;
	socklen_t tlen = sizeof(ti);
	assert_int_equal(np_getsockopt(c, IPPROTO_TCP, TCP_INFO, &ti, &tlen), 0);
	assert_int_equal(ti.tcpi_state, TCP_ESTABLISHED);
	assert_int_equal(ti.tcpi_snd_mss, 1460);

	assert_int_equal(np_send(c, "hello", 5, 0), 5);
	tnet_sim(n, 1);
	char buf[64];
	assert_int_equal(np_recv(s, buf, sizeof(buf), MSG_PEEK), 5);
	assert_int_equal(np_recv(s, buf, sizeof(buf), 0), 5);
	assert_memory_equal(buf, "hello", 5);
	assert_int_equal(np_recv(s, buf, sizeof(buf), 0), -1);
	assert_int_equal(errno, EAGAIN);

	/* Half-close: the client shuts its side, the server still talks. */
	assert_int_equal(np_shutdown(c, SHUT_WR), 0);
	tnet_sim(n, 1);
	assert_int_equal(np_recv(s, buf, sizeof(buf), 0), 0);
	assert_int_equal(np_send(c, "x", 1, 0), -1);
	assert_int_equal(errno, EPIPE);
	assert_int_equal(np_send(s, "world", 5, 0), 5);
	tnet_sim(n, 1);
	assert_int_equal(np_recv(c, buf, sizeof(buf), 0), 5);
	assert_memory_equal(buf, "world", 5);
	tlen = sizeof(ti);
	np_getsockopt(c, IPPROTO_TCP, TCP_INFO, &ti, &tlen);
	assert_int_equal(ti.tcpi_state, TCP_FIN_WAIT2);
	np_getsockopt(s, IPPROTO_TCP, TCP_INFO, &ti, &tlen);
	assert_int_equal(ti.tcpi_state, TCP_CLOSE_WAIT);

	assert_int_equal(np_close(s), 0);
	tnet_sim(n, 1);
	assert_int_equal(np_recv(c, buf, sizeof(buf), 0), 0);
	/* The active closer is in TIME_WAIT; the passive side is gone. */
	extern uint32_t tcp_tw_count(const struct np_stack *s);
	assert_int_equal(tcp_tw_count(n->s[0]), 1);
	assert_int_equal(tcp_tw_count(n->s[1]), 0);
	assert_int_equal(np_close(c), 0);
	assert_int_equal(np_stack_mib(n->s[0], NP_MIB_TcpCurrEstab), 0);
	assert_int_equal(np_stack_mib(n->s[1], NP_MIB_TcpCurrEstab), 0);
	assert_int_equal(np_stack_mib(n->s[0], NP_MIB_TcpActiveOpens), 1);
	assert_int_equal(np_stack_mib(n->s[1], NP_MIB_TcpPassiveOpens), 1);
	/* 2*MSL later the TIME_WAIT is gone. */
	tnet_sim(n, 61000);
	assert_int_equal(tcp_tw_count(n->s[0]), 0);
	np_close(lfd);
	tnet_free(n);
}

/* ---- bulk transfer ---- */

static void run_bulk(uint64_t seed, uint64_t bytes, const char *faults)
{
	struct tnet *n = tnet_new(seed);
	tn_faults_ok(n, faults, seed);
	int c, s;
	int lfd = tn_pair_ok(n, 5001, &c, &s);
	uint64_t ms = tn_transfer_ok(n, c, s, bytes, seed, 16384);
	uint64_t resets = np_stack_mib(n->s[0], NP_MIB_TcpEstabResets) + np_stack_mib(n->s[1], NP_MIB_TcpEstabResets);
	assert_int_equal(resets, 0);
	print_message("seed %llu: %llu bytes each way in %llu ms virtual; retrans %llu/%llu timeouts %llu/%llu "
		      "fastretrans %llu/%llu csumerr %llu/%llu\n",
		      (unsigned long long)seed, (unsigned long long)bytes, (unsigned long long)ms,
		      (unsigned long long)np_stack_mib(n->s[0], NP_MIB_TcpRetransSegs),
		      (unsigned long long)np_stack_mib(n->s[1], NP_MIB_TcpRetransSegs),
		      (unsigned long long)np_stack_mib(n->s[0], NP_MIB_TcpExtTCPTimeouts),
		      (unsigned long long)np_stack_mib(n->s[1], NP_MIB_TcpExtTCPTimeouts),
		      (unsigned long long)np_stack_mib(n->s[0], NP_MIB_TcpExtTCPFastRetrans),
		      (unsigned long long)np_stack_mib(n->s[1], NP_MIB_TcpExtTCPFastRetrans),
		      (unsigned long long)np_stack_mib(n->s[0], NP_MIB_TcpInCsumErrors),
		      (unsigned long long)np_stack_mib(n->s[1], NP_MIB_TcpInCsumErrors));
	tn_pair_free(n, lfd, c, s);
}

static void test_bulk_clean(void **state)
{
	run_bulk(11, 8u << 20, NULL);
}

static void test_bulk_fault_grid(void **state)
{
	uint64_t bytes = big() ? 100ull << 20 : 8ull << 20;
	for (uint64_t seed = 1; seed <= 3; seed++)
		run_bulk(seed, bytes, "loss=5%,reorder=5%,dup=1%,corrupt=0.1%");
}

/* Over lo (MTU 64 KiB): one stack talks to itself through 127.0.0.1. */
static void test_loopback(void **state)
{
	struct tnet *n = tnet_new(9);
	int lfd = tn_listen(n, 0, "127.0.0.1", 8080, 4);
	assert_true(lfd >= 0);
	int c = tn_connect(n, 0, "127.0.0.1", 8080);
	assert_true(c >= 0);
	int s = tn_accept_ok(n, lfd);
	struct tcp_info ti;
	socklen_t tl = sizeof(ti);
	assert_int_equal(np_getsockopt(c, IPPROTO_TCP, TCP_INFO, &ti, &tl), 0);
	assert_true(ti.tcpi_snd_mss > 60000);   /* lo MTU - 40 */
	tn_transfer_ok(n, c, s, 4u << 20, 9, 16384);
	np_close(c);
	np_close(s);
	np_close(lfd);
	tnet_sim(n, 100);
	tnet_free(n);
}

/* ---- cycles ---- */

static void test_connect_transfer_close_cycles(void **state)
{
	struct tnet *n = tnet_new(5);
	int cycles = big() ? 10000 : 2000;
	const char *e = getenv("NP_TCP_CYCLES");
	if (e)
		cycles = atoi(e);
	int lfd = tn_listen(n, 1, TN_B_IP, 7, 128);
	assert_true(lfd >= 0);
	char msg[300], buf[600];
	for (int i = 0; i < (int)sizeof(msg); i++)
		msg[i] = (char)i;
	for (int k = 0; k < cycles; k++) {
		int c = tn_connect(n, 0, TN_B_IP, 7);
		assert_true(c >= 0);
		int s = tn_accept_ok(n, lfd);
		assert_int_equal(np_send(c, msg, sizeof(msg), 0), (ssize_t)sizeof(msg));
		tnet_sim(n, 1);
		assert_int_equal(np_recv(s, buf, sizeof(buf), 0), (ssize_t)sizeof(msg));
		assert_int_equal(np_send(s, buf, sizeof(msg), 0), (ssize_t)sizeof(msg));
		tnet_sim(n, 1);
		assert_int_equal(np_recv(c, buf, sizeof(buf), 0), (ssize_t)sizeof(msg));
		assert_memory_equal(buf, msg, sizeof(msg));
		/* Alternate who closes first, so both sides see TIME_WAIT and LAST_ACK. */
		if (k & 1) {
			np_close(c);
			tnet_sim(n, 1);
			np_close(s);
		} else {
			np_close(s);
			tnet_sim(n, 1);
			np_close(c);
		}
		tnet_sim(n, 1);
	}
	assert_int_equal(np_stack_mib(n->s[0], NP_MIB_TcpCurrEstab), 0);
	assert_int_equal(np_stack_mib(n->s[1], NP_MIB_TcpCurrEstab), 0);
	assert_int_equal(np_stack_mib(n->s[0], NP_MIB_TcpEstabResets), 0);
	assert_int_equal(np_stack_mib(n->s[1], NP_MIB_TcpPassiveOpens), (uint64_t)cycles);
	/* After 2*MSL every TIME_WAIT has expired. */
	tnet_sim(n, 61000);
	extern uint32_t tcp_tw_count(const struct np_stack *s);
	assert_int_equal(tcp_tw_count(n->s[0]) + tcp_tw_count(n->s[1]), 0);
	np_close(lfd);
	tnet_free(n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic_exchange),
		cmocka_unit_test(test_bulk_clean),
		cmocka_unit_test(test_bulk_fault_grid),
		cmocka_unit_test(test_loopback),
		cmocka_unit_test(test_connect_transfer_close_cycles),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
