/*
 * Blind-attack defences (RFC 5961) and the RFC 9293 acceptability test at
 * its edges, segment by segment (tcp_script.h): RST and data at RCV.NXT-1,
 * RCV.NXT, RCV.NXT+RCV.WND-1 and RCV.NXT+RCV.WND; challenge ACKs for
 * in-window RSTs and for SYNs on a synchronized connection, the ACK
 * acceptability window [SND.UNA - MAX.SND.WND, SND.NXT], and the per-socket
 * rate limit on the ACKs such segments earn.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "scenarios/tcp_script.h"

#define A TCPF_ACK
#define W (-1)

/* An established passive connection; *wnd: the receive window we offered (from our last segment). */
static uint32_t estab(struct env *e, uint16_t port, int *lfd, int *fd, uint32_t *wnd)
{
	*lfd = listener(e, port, 4);
	inject(e, &(struct seg){ .flags = TCPF_SYN, .seq = 1000, .win = 65535, .mss = 1460 });
	struct outseg o = next_out(e);
	uint32_t iss = o.th.seq;
	*wnd = o.th.window;
	inject(e, &(struct seg){ .flags = A, .seq = 1001, .ack = iss + 1, .win = 65535 });
	*fd = np_accept(*lfd, NULL, NULL);
	assert_true(*fd >= 0);
	np_fcntl(*fd, F_SETFL, O_NONBLOCK);
	expect_none(e);
	return iss;
}

static void test_rst_sequence_edges(void **state)
{
	struct env *e = *state;
	int lfd, fd;
	uint32_t wnd, iss = estab(e, 80, &lfd, &fd, &wnd);
	const uint32_t nxt = 1001;
	assert_true(wnd > 1000);

	/* RCV.NXT - 1: outside the window, dropped silently. */
	inject(e, &(struct seg){ .flags = TCPF_RST, .seq = nxt - 1 });
	expect_none(e);
	/* RCV.NXT + RCV.WND: outside, dropped silently. */
	inject(e, &(struct seg){ .flags = TCPF_RST, .seq = nxt + wnd });
	expect_none(e);
	assert_int_equal(tcp_state_of(fd), TCP_ESTABLISHED);
	/* RCV.NXT + RCV.WND - 1: in the window but not exact: a challenge ACK (RFC 5961 3.2). */
	inject(e, &(struct seg){ .flags = TCPF_RST, .seq = nxt + wnd - 1 });
	expect(e, &(struct seg){ .flags = A, .seq = iss + 1, .ack = nxt, .win = W, .len = 0 });
	assert_int_equal(mib(e, NP_MIB_TcpExtTCPChallengeACK), 1);
	assert_int_equal(tcp_state_of(fd), TCP_ESTABLISHED);
	/* Another within tcp_invalid_ratelimit (500 ms): the challenge is rate limited per socket. */
	at(e, 100);
	inject(e, &(struct seg){ .flags = TCPF_RST | A, .seq = nxt + 1, .ack = iss + 1 });
	expect_none(e);
	assert_int_equal(mib(e, NP_MIB_TcpExtTCPACKSkippedChallenge), 1);
	at(e, 700);
	inject(e, &(struct seg){ .flags = TCPF_RST | A, .seq = nxt + 1, .ack = iss + 1 });
	expect(e, &(struct seg){ .flags = A, .seq = iss + 1, .ack = nxt, .win = W, .len = 0 });
	assert_int_equal(drops(e, NP_DROP_TCP_RESET), 3);
	/* Exactly RCV.NXT: the connection is reset. */
	inject(e, &(struct seg){ .flags = TCPF_RST, .seq = nxt });
	expect_none(e);
	char b[4];
	assert_int_equal(np_recv(fd, b, sizeof(b), 0), -1);
	assert_int_equal(errno, ECONNRESET);
	np_close(fd);
	np_close(lfd);
}

static void test_syn_on_synchronized_connection(void **state)
{
	struct env *e = *state;
	int lfd, fd;
	uint32_t wnd, iss = estab(e, 81, &lfd, &fd, &wnd);
	/* RFC 5961 4.2: whatever its sequence number, a SYN earns a challenge ACK and changes nothing. */
	inject(e, &(struct seg){ .flags = TCPF_SYN, .seq = 1001 + 10, .win = 65535, .mss = 1460 });
	expect(e, &(struct seg){ .flags = A, .seq = iss + 1, .ack = 1001, .win = W, .len = 0 });
	at(e, 600);
	inject(e, &(struct seg){ .flags = TCPF_SYN, .seq = 5, .win = 65535, .mss = 1460 });
	expect(e, &(struct seg){ .flags = A, .seq = iss + 1, .ack = 1001, .win = W, .len = 0 });
	assert_int_equal(mib(e, NP_MIB_TcpExtTCPSYNChallenge), 2);
	assert_int_equal(drops(e, NP_DROP_TCP_INVALID_SYN), 2);
	assert_int_equal(tcp_state_of(fd), TCP_ESTABLISHED);
	/* The connection still works. */
	inject(e, &(struct seg){ .flags = A, .seq = 1001, .ack = iss + 1, .win = 65535, .len = 4, .data = "ping" });
	char b[8];
	assert_int_equal(np_recv(fd, b, sizeof(b), 0), 4);
	np_close(fd);
	np_close(lfd);
}

static void test_ack_acceptability(void **state)
{
	struct env *e = *state;
	int lfd, fd;
	uint32_t wnd, iss = estab(e, 82, &lfd, &fd, &wnd);
	char b[64];
	/* SEG.ACK > SND.NXT: ACK it and drop it, data included (RFC 5961 5.2). */
	inject(e, &(struct seg){ .flags = A, .seq = 1001, .ack = iss + 2, .win = 65535, .len = 5, .data = "evil!" });
	expect(e, &(struct seg){ .flags = A, .seq = iss + 1, .ack = 1001, .win = W, .len = 0 });
	assert_int_equal(np_recv(fd, b, sizeof(b), 0), -1);
	assert_int_equal(drops(e, NP_DROP_TCP_ACK_UNSENT_DATA), 1);
	/* SEG.ACK < SND.UNA - MAX.SND.WND: too old, same treatment. */
	at(e, 600);
	inject(e, &(struct seg){ .flags = A, .seq = 1001, .ack = iss + 1 - 70000, .win = 65535, .len = 5, .data = "evil!" });
	expect(e, &(struct seg){ .flags = A, .seq = iss + 1, .ack = 1001, .win = W, .len = 0 });
	assert_int_equal(np_recv(fd, b, sizeof(b), 0), -1);
	assert_int_equal(drops(e, NP_DROP_TCP_TOO_OLD_ACK), 1);
	/* An old ACK inside the window is acceptable: its data is taken. */
	inject(e, &(struct seg){ .flags = A, .seq = 1001, .ack = iss + 1 - 1000, .win = 65535, .len = 5, .data = "hello" });
	expect(e, &(struct seg){ .flags = A, .seq = iss + 1, .ack = 1006, .win = W, .len = 0 });
	assert_int_equal(np_recv(fd, b, sizeof(b), 0), 5);
	np_close(fd);
	np_close(lfd);
}

static void test_data_sequence_edges(void **state)
{
	struct env *e = *state;
	int lfd, fd;
	uint32_t wnd, iss = estab(e, 83, &lfd, &fd, &wnd);
	const uint32_t nxt = 1001;
	char b[64];
	/* One byte at RCV.NXT - 1: a duplicate: ACK (never rate limited: it carries data), not delivered. */
	inject(e, &(struct seg){ .flags = A, .seq = nxt - 1, .ack = iss + 1, .win = 65535, .len = 1 });
	struct outseg o0 = expect(e, &(struct seg){ .flags = A, .seq = iss + 1, .ack = nxt, .win = W, .len = 0 });
	assert_int_equal(drops(e, NP_DROP_TCP_OLD_SEQUENCE), 1);
	wnd = o0.th.window;   /* RCV.WND as last advertised */
	/* One byte at RCV.NXT + RCV.WND: beyond the window: ACK, dropped. */
	inject(e, &(struct seg){ .flags = A, .seq = nxt + wnd, .ack = iss + 1, .win = 65535, .len = 1 });
	struct outseg o = expect(e, &(struct seg){ .flags = A, .seq = iss + 1, .ack = nxt, .win = W, .len = 0 });
	assert_int_equal(drops(e, NP_DROP_TCP_INVALID_SEQUENCE), 1);
	/* The window offered is never moved left: what we said still holds. */
	assert_true(nxt + o.th.window >= nxt + wnd);
	wnd = o.th.window;
	/* One byte at RCV.NXT + RCV.WND - 1: in the window, held out of order; a duplicate ACK reports the hole. */
	inject(e, &(struct seg){ .flags = A, .seq = nxt + wnd - 1, .ack = iss + 1, .win = 65535, .len = 1 });
	expect(e, &(struct seg){ .flags = A, .seq = iss + 1, .ack = nxt, .win = W, .len = 0 });
	assert_int_equal(mib(e, NP_MIB_TcpExtTCPOFOQueue), 1);
	assert_int_equal(np_recv(fd, b, sizeof(b), 0), -1);
	/* At RCV.NXT: delivered. */
	inject(e, &(struct seg){ .flags = A, .seq = nxt, .ack = iss + 1, .win = 65535, .len = 3, .data = "abc" });
	expect(e, &(struct seg){ .flags = A, .seq = iss + 1, .ack = nxt + 3, .win = W, .len = 0 });
	assert_int_equal(np_recv(fd, b, sizeof(b), 0), 3);
	/* Bare out-of-window ACKs: answered, but at most one per 500 ms per socket. */
	at(e, 1000);
	inject(e, &(struct seg){ .flags = A, .seq = nxt + 3 + wnd + 100, .ack = iss + 1, .win = 65535 });
	expect(e, &(struct seg){ .flags = A, .seq = iss + 1, .ack = nxt + 3, .win = W, .len = 0 });
	inject(e, &(struct seg){ .flags = A, .seq = nxt + 3 + wnd + 100, .ack = iss + 1, .win = 65535 });
	expect_none(e);
	assert_int_equal(mib(e, NP_MIB_TcpExtTCPACKSkippedSeq), 1);
	np_close(fd);
	np_close(lfd);
}

static void test_out_of_order_reassembly(void **state)
{
	struct env *e = *state;
	int lfd, fd;
	uint32_t wnd, iss = estab(e, 84, &lfd, &fd, &wnd);
	const uint32_t nxt = 1001;
	uint8_t data[4000];
	for (int i = 0; i < 4000; i++)
		data[i] = (uint8_t)(i * 7);
	/* Segments 3, 2, a duplicate of 3, one overlapping 2 and 3, then 1. */
	inject(e, &(struct seg){ .flags = A, .seq = nxt + 2000, .ack = iss + 1, .win = 65535, .len = 1000, .data = data + 2000 });
	inject(e, &(struct seg){ .flags = A, .seq = nxt + 1000, .ack = iss + 1, .win = 65535, .len = 1000, .data = data + 1000 });
	inject(e, &(struct seg){ .flags = A, .seq = nxt + 2000, .ack = iss + 1, .win = 65535, .len = 1000, .data = data + 2000 });
	inject(e, &(struct seg){ .flags = A, .seq = nxt + 1500, .ack = iss + 1, .win = 65535, .len = 1000, .data = data + 1500 });
	for (int i = 0; i < 4; i++)
		expect(e, &(struct seg){ .flags = A, .seq = iss + 1, .ack = nxt, .win = W, .len = 0 });
	assert_true(mib(e, NP_MIB_TcpExtTCPOFOMerge) >= 1);
	inject(e, &(struct seg){ .flags = A, .seq = nxt, .ack = iss + 1, .win = 65535, .len = 1000, .data = data });
	/* The hole is filled: one ACK for everything, at once. */
	expect(e, &(struct seg){ .flags = A, .seq = iss + 1, .ack = nxt + 3000, .win = W, .len = 0 });
	uint8_t in[4000];
	assert_int_equal(np_recv(fd, in, sizeof(in), 0), 3000);
	assert_memory_equal(in, data, 3000);
	np_close(fd);
	np_close(lfd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_rst_sequence_edges, setup, teardown),
		cmocka_unit_test_setup_teardown(test_syn_on_synchronized_connection, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ack_acceptability, setup, teardown),
		cmocka_unit_test_setup_teardown(test_data_sequence_edges, setup, teardown),
		cmocka_unit_test_setup_teardown(test_out_of_order_reassembly, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
