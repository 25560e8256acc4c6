/*
 * RFC 9293 3.10 state transitions, segment by segment (tcp_script.h): one
 * stack, a scripted peer, virtual time. Covers passive and active open,
 * simultaneous open and close, half-close, active/passive close through
 * TIME_WAIT and LAST_ACK, RST on a closed port, ECONNREFUSED, SO_LINGER 0,
 * close with unread data, TIME_WAIT answers and reuse by a newer SYN, the
 * listen backlog, and a sequence space that wraps (ISN 0xFFFFFFFF).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "scenarios/tcp_script.h"

#define A TCPF_ACK
#define W (-1)   /* any window */

static void test_passive_open_and_data(void **state)
{
	struct env *e = *state;
	int lfd = listener(e, 80, 8);
	assert_int_equal(tcp_state_of(lfd), TCP_LISTEN);
	inject(e, &(struct seg){ .flags = TCPF_SYN, .seq = 1000, .win = 65535, .mss = 1400 });
	/* SYN_RECV: a SYN-ACK carrying our MSS (1500 - 40); nothing to accept yet. */
	struct outseg o = next_out(e);
	assert_int_equal(o.th.flags, TCPF_SYN | A);
	assert_int_equal(o.th.ack, 1001);
	assert_true(o.th.opt.mss_ok);
	assert_int_equal(o.th.opt.mss, 1460);
	uint32_t iss = o.th.seq;
	assert_int_equal(np_accept(lfd, NULL, NULL), -1);
	assert_int_equal(errno, EAGAIN);
	assert_int_equal(poll_events(lfd, POLLIN), 0);
	/* The third segment completes it (and may carry data). */
	inject(e, &(struct seg){ .flags = A | TCPF_PSH, .seq = 1001, .ack = iss + 1, .win = 65535, .len = 3, .data = "abc" });
	/* Quick-ack at the start of a connection: the data is acknowledged at once. */
	expect(e, &(struct seg){ .flags = A, .seq = iss + 1, .ack = 1004, .win = W, .len = 0 });
	assert_true(poll_events(lfd, POLLIN) & POLLIN);
	struct sockaddr_in pa;
	socklen_t pl = sizeof(pa);
	int fd = np_accept(lfd, (struct sockaddr *)&pa, &pl);
	assert_true(fd >= 0);
	assert_int_equal(pl, sizeof(pa));
	assert_int_equal(ntohl(pa.sin_addr.s_addr), PEER_IP);
	assert_int_equal(ntohs(pa.sin_port), PEER_PORT);
	/* accept(2) does not inherit O_NONBLOCK. */
	assert_int_equal(np_fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
	np_fcntl(fd, F_SETFL, O_NONBLOCK);
	assert_int_equal(tcp_state_of(fd), TCP_ESTABLISHED);
	char buf[16];
	assert_int_equal(np_recv(fd, buf, sizeof(buf), 0), 3);
	assert_memory_equal(buf, "abc", 3);
	/* The peer's MSS (1400) limits what we send. */
	static char big[3000];
	assert_int_equal(np_send(fd, big, sizeof(big), 0), (ssize_t)sizeof(big));
	o = expect(e, &(struct seg){ .flags = A, .seq = iss + 1, .ack = 1004, .win = W, .len = 1400 });
	expect(e, &(struct seg){ .flags = A, .seq = iss + 1401, .ack = 1004, .win = W, .len = 1400 });
	expect(e, &(struct seg){ .flags = A | TCPF_PSH, .seq = iss + 2801, .ack = 1004, .win = W, .len = 200 });
	expect_none(e);
	assert_int_equal(mib(e, NP_MIB_TcpPassiveOpens), 1);
	assert_int_equal(mib(e, NP_MIB_TcpCurrEstab), 1);
	np_close(fd);
	np_close(lfd);
}

static void test_active_open_close_time_wait(void **state)
{
	struct env *e = *state;
	int fd;
	uint32_t iss = open_active(e, 5000, 7777, 1460, &fd);
	assert_int_equal(mib(e, NP_MIB_TcpActiveOpens), 1);
	assert_true(poll_events(fd, POLLOUT) & POLLOUT);
	assert_int_equal(so_error(fd), 0);
	/* Active close: FIN_WAIT1 -> (ACK) FIN_WAIT2 -> (FIN) TIME_WAIT. */
	at(e, 10);
	assert_int_equal(np_shutdown(fd, SHUT_WR), 0);
	expect(e, &(struct seg){ .flags = A | TCPF_FIN, .seq = iss + 1, .ack = 7778, .win = W, .len = 0 });
	assert_int_equal(tcp_state_of(fd), TCP_FIN_WAIT1);
	inject(e, &(struct seg){ .flags = A, .seq = 7778, .ack = iss + 2, .win = 65535 });
	assert_int_equal(tcp_state_of(fd), TCP_FIN_WAIT2);
	expect_none(e);
	/* Half-closed: the peer may still send, and we still read. */
	inject(e, &(struct seg){ .flags = A, .seq = 7778, .ack = iss + 2, .win = 65535, .len = 10 });
	char buf[32];
	assert_int_equal(np_recv(fd, buf, sizeof(buf), 0), 10);
	drain(e);
	inject(e, &(struct seg){ .flags = A | TCPF_FIN, .seq = 7788, .ack = iss + 2, .win = 65535 });
	expect(e, &(struct seg){ .flags = A, .seq = iss + 2, .ack = 7789, .win = W, .len = 0 });
	assert_int_equal(tcp_state_of(fd), TCP_CLOSE);   /* the minisock holds TIME_WAIT */
	assert_int_equal(tcp_tw_count(e->s), 1);
	assert_int_equal(np_recv(fd, buf, sizeof(buf), 0), 0);
	np_close(fd);
	/* TIME_WAIT answers a retransmitted FIN with an ACK and restarts 2*MSL. */
	at(e, 30000);
	inject(e, &(struct seg){ .flags = A | TCPF_FIN, .seq = 7788, .ack = iss + 2, .win = 65535 });
	expect(e, &(struct seg){ .flags = A, .seq = iss + 2, .ack = 7789, .win = W, .len = 0 });
	at(e, 30000 + 59000);
	assert_int_equal(tcp_tw_count(e->s), 1);
	at(e, 30000 + 60001);
	assert_int_equal(tcp_tw_count(e->s), 0);
	assert_int_equal(mib(e, NP_MIB_TcpExtTW), 1);
	/* Now the 4-tuple is free: a segment for it meets a closed port. */
	inject(e, &(struct seg){ .flags = A, .seq = 7789, .ack = iss + 2, .win = 65535 });
	expect(e, &(struct seg){ .flags = TCPF_RST, .seq = iss + 2, .win = W, .len = 0 });
	expect_none(e);
}

static void test_passive_close_last_ack(void **state)
{
	struct env *e = *state;
	int lfd, fd;
	uint32_t iss = open_passive(e, 81, 500, &lfd, &fd);
	inject(e, &(struct seg){ .flags = A | TCPF_FIN, .seq = 501, .ack = iss + 1, .win = 65535 });
	expect(e, &(struct seg){ .flags = A, .seq = iss + 1, .ack = 502, .win = W, .len = 0 });
	assert_int_equal(tcp_state_of(fd), TCP_CLOSE_WAIT);
	assert_true(poll_events(fd, POLLIN | POLLRDHUP) & POLLRDHUP);
	char buf[8];
	assert_int_equal(np_recv(fd, buf, sizeof(buf), 0), 0);
	/* CLOSE_WAIT may still send. */
	assert_int_equal(np_send(fd, "xy", 2, 0), 2);
	expect(e, &(struct seg){ .flags = A | TCPF_PSH, .seq = iss + 1, .ack = 502, .win = W, .len = 2 });
	np_close(fd);
	expect(e, &(struct seg){ .flags = A | TCPF_FIN, .seq = iss + 3, .ack = 502, .win = W, .len = 0 });
	inject(e, &(struct seg){ .flags = A, .seq = 502, .ack = iss + 4, .win = 65535 });
	expect_none(e);
	/* LAST_ACK -> CLOSED: the orphan is gone and the 4-tuple answers RST. */
	assert_int_equal(tcp_tw_count(e->s), 0);
	inject(e, &(struct seg){ .flags = A, .seq = 502, .ack = iss + 4, .win = 65535 });
	expect(e, &(struct seg){ .flags = TCPF_RST, .seq = iss + 4, .win = W, .len = 0 });
	assert_int_equal(mib(e, NP_MIB_TcpCurrEstab), 0);
	np_close(lfd);
}

static void test_simultaneous_close(void **state)
{
	struct env *e = *state;
	int fd;
	uint32_t iss = open_active(e, 5001, 100, 1460, &fd);
	np_close(fd);
	expect(e, &(struct seg){ .flags = A | TCPF_FIN, .seq = iss + 1, .ack = 101, .win = W, .len = 0 });
	/* Their FIN crosses ours: FIN_WAIT1 -> CLOSING, ACK theirs. */
	inject(e, &(struct seg){ .flags = A | TCPF_FIN, .seq = 101, .ack = iss + 1, .win = 65535 });
	expect(e, &(struct seg){ .flags = A, .seq = iss + 2, .ack = 102, .win = W, .len = 0 });
	assert_int_equal(tcp_tw_count(e->s), 0);
	/* Their ACK of our FIN: CLOSING -> TIME_WAIT. */
	inject(e, &(struct seg){ .flags = A, .seq = 102, .ack = iss + 2, .win = 65535 });
	assert_int_equal(tcp_tw_count(e->s), 1);
	expect_none(e);
}

static void test_fin_wait1_straight_to_time_wait(void **state)
{
	struct env *e = *state;
	int fd;
	uint32_t iss = open_active(e, 5002, 100, 1460, &fd);
	np_close(fd);
	expect(e, &(struct seg){ .flags = A | TCPF_FIN, .seq = iss + 1, .ack = 101, .win = W, .len = 0 });
	/* FIN+ACK acknowledging our FIN at once. */
	inject(e, &(struct seg){ .flags = A | TCPF_FIN, .seq = 101, .ack = iss + 2, .win = 65535 });
	expect(e, &(struct seg){ .flags = A, .seq = iss + 2, .ack = 102, .win = W, .len = 0 });
	assert_int_equal(tcp_tw_count(e->s), 1);
}

static void test_simultaneous_open(void **state)
{
	struct env *e = *state;
	int fd = np_socket(e->s, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	struct sockaddr_in me = { .sin_family = AF_INET, .sin_port = htons(6000) };
	me.sin_addr.s_addr = htonl(OUR_IP);
	assert_int_equal(np_bind(fd, (struct sockaddr *)&me, sizeof(me)), 0);
	script_port = 6000;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(PEER_PORT) };
	a.sin_addr.s_addr = htonl(PEER_IP);
	assert_int_equal(np_connect(fd, (struct sockaddr *)&a, sizeof(a)), -1);
	assert_int_equal(errno, EINPROGRESS);
	assert_int_equal(np_connect(fd, (struct sockaddr *)&a, sizeof(a)), -1);
	assert_int_equal(errno, EALREADY);
	struct outseg o = next_out(e);
	assert_int_equal(o.th.flags, TCPF_SYN);
	uint32_t iss = o.th.seq;
	/* Their SYN crosses ours: SYN_SENT -> SYN_RECV, we answer SYN,ACK from our ISS. */
	inject(e, &(struct seg){ .flags = TCPF_SYN, .seq = 9000, .win = 65535, .mss = 1460 });
	expect(e, &(struct seg){ .flags = TCPF_SYN | A, .seq = iss, .ack = 9001, .win = W, .len = 0 });
	assert_int_equal(tcp_state_of(fd), TCP_SYN_RECV);
	/* Their SYN,ACK acknowledges ours: ESTABLISHED. */
	inject(e, &(struct seg){ .flags = TCPF_SYN | A, .seq = 9000, .ack = iss + 1, .win = 65535, .mss = 1460 });
	assert_int_equal(tcp_state_of(fd), TCP_ESTABLISHED);
	drain(e);
	assert_true(poll_events(fd, POLLOUT) & POLLOUT);
	/* The second connect after a non-blocking one completed says 0, then EISCONN (Linux). */
	assert_int_equal(np_connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(np_connect(fd, (struct sockaddr *)&a, sizeof(a)), -1);
	assert_int_equal(errno, EISCONN);
	assert_int_equal(np_send(fd, "hi", 2, 0), 2);
	expect(e, &(struct seg){ .flags = A | TCPF_PSH, .seq = iss + 1, .ack = 9001, .win = W, .len = 2 });
}

static void test_rst_on_closed_port(void **state)
{
	struct env *e = *state;
	script_port = 9999;
	/* RFC 9293 3.10.7.1: no ACK -> <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>. */
	inject(e, &(struct seg){ .flags = TCPF_SYN, .seq = 123, .win = 1000, .mss = 1460 });
	expect(e, &(struct seg){ .flags = TCPF_RST | A, .seq = 0, .ack = 124, .win = W, .len = 0 });
	/* ACK set -> <SEQ=SEG.ACK><CTL=RST>. */
	inject(e, &(struct seg){ .flags = A, .seq = 5, .ack = 4242, .win = 1000, .len = 7 });
	expect(e, &(struct seg){ .flags = TCPF_RST, .seq = 4242, .win = W, .len = 0 });
	/* A RST is never answered. */
	inject(e, &(struct seg){ .flags = TCPF_RST, .seq = 5, .win = 0 });
	expect_none(e);
	assert_int_equal(drops(e, NP_DROP_NO_SOCKET), 3);
	assert_int_equal(mib(e, NP_MIB_TcpOutRsts), 2);
}

static void test_connection_refused(void **state)
{
	struct env *e = *state;
	int fd = np_socket(e->s, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	script_port = 0;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(PEER_PORT) };
	a.sin_addr.s_addr = htonl(PEER_IP);
	assert_int_equal(np_connect(fd, (struct sockaddr *)&a, sizeof(a)), -1);
	assert_int_equal(errno, EINPROGRESS);
	struct outseg o = next_out(e);
	uint32_t iss = o.th.seq;
	/* The ephemeral port comes from Linux's default range. */
	assert_true(o.th.sport >= 32768 && o.th.sport <= 60999);
	script_port = o.th.sport;
	/* An ACK that does not acknowledge our SYN: answered by RST, the attempt goes on. */
	inject(e, &(struct seg){ .flags = A, .seq = 1, .ack = iss + 77, .win = 0 });
	expect(e, &(struct seg){ .flags = TCPF_RST, .seq = iss + 77, .win = W, .len = 0 });
	assert_int_equal(tcp_state_of(fd), TCP_SYN_SENT);
	/* RST,ACK acknowledging the SYN: refused. */
	inject(e, &(struct seg){ .flags = TCPF_RST | A, .seq = 0, .ack = iss + 1, .win = 0 });
	short ev = poll_events(fd, POLLOUT);
	assert_true(ev & POLLERR);
	assert_true(ev & POLLOUT);
	assert_int_equal(so_error(fd), ECONNREFUSED);
	assert_int_equal(so_error(fd), 0);
	assert_int_equal(mib(e, NP_MIB_TcpAttemptFails), 1);
	expect_none(e);
	np_close(fd);
}

static void test_linger_zero_sends_rst(void **state)
{
	struct env *e = *state;
	int fd;
	uint32_t iss = open_active(e, 5003, 300, 1460, &fd);
	struct linger l = { .l_onoff = 1, .l_linger = 0 };
	assert_int_equal(np_setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l)), 0);
	struct linger g;
	socklen_t gl = sizeof(g);
	assert_int_equal(np_getsockopt(fd, SOL_SOCKET, SO_LINGER, &g, &gl), 0);
	assert_int_equal(g.l_onoff, 1);
	np_close(fd);
	expect(e, &(struct seg){ .flags = TCPF_RST | A, .seq = iss + 1, .ack = 301, .win = W, .len = 0 });
	expect_none(e);
	assert_int_equal(tcp_tw_count(e->s), 0);
	inject(e, &(struct seg){ .flags = A, .seq = 301, .ack = iss + 1, .win = 1000 });
	expect(e, &(struct seg){ .flags = TCPF_RST, .seq = iss + 1, .win = W, .len = 0 });
}

static void test_close_with_unread_data_resets(void **state)
{
	struct env *e = *state;
	int lfd, fd;
	uint32_t iss = open_passive(e, 82, 10, &lfd, &fd);
	inject(e, &(struct seg){ .flags = A, .seq = 11, .ack = iss + 1, .win = 65535, .len = 100 });
	drain(e);
	np_close(fd);
	expect(e, &(struct seg){ .flags = TCPF_RST | A, .seq = iss + 1, .ack = 111, .win = W, .len = 0 });
	assert_int_equal(mib(e, NP_MIB_TcpExtTCPAbortOnClose), 1);
	np_close(lfd);
}

static void test_reset_in_established(void **state)
{
	struct env *e = *state;
	int lfd, fd;
	uint32_t iss = open_passive(e, 83, 10, &lfd, &fd);
	inject(e, &(struct seg){ .flags = TCPF_RST, .seq = 11, .win = 0 });
	char b[4];
	assert_int_equal(np_recv(fd, b, sizeof(b), 0), -1);
	assert_int_equal(errno, ECONNRESET);
	assert_int_equal(np_send(fd, b, 1, 0), -1);
	assert_int_equal(errno, EPIPE);
	assert_true(poll_events(fd, POLLIN) & POLLHUP);
	assert_int_equal(mib(e, NP_MIB_TcpEstabResets), 1);
	(void)iss;
	np_close(fd);
	np_close(lfd);
}

static void test_time_wait_reuse_by_newer_syn(void **state)
{
	struct env *e = *state;
	int lfd, fd;
	uint32_t iss = open_passive(e, 84, 1000, &lfd, &fd);
	/* We close first: our side goes through FIN_WAIT to TIME_WAIT. */
	np_close(fd);
	expect(e, &(struct seg){ .flags = A | TCPF_FIN, .seq = iss + 1, .ack = 1001, .win = W, .len = 0 });
	inject(e, &(struct seg){ .flags = A | TCPF_FIN, .seq = 1001, .ack = iss + 2, .win = 65535 });
	expect(e, &(struct seg){ .flags = A, .seq = iss + 2, .ack = 1002, .win = W, .len = 0 });
	assert_int_equal(tcp_tw_count(e->s), 1);
	/* An old SYN (lower sequence) is answered with an ACK, not a connection. */
	at(e, 1000);
	inject(e, &(struct seg){ .flags = TCPF_SYN, .seq = 900, .win = 65535, .mss = 1460 });
	expect(e, &(struct seg){ .flags = A, .seq = iss + 2, .ack = 1002, .win = W, .len = 0 });
	/* A newer SYN reopens it (RFC 1122 4.2.2.13, Linux): the new ISS is above the old SND.NXT. */
	inject(e, &(struct seg){ .flags = TCPF_SYN, .seq = 5000, .win = 65535, .mss = 1460 });
	struct outseg o = next_out(e);
	assert_int_equal(o.th.flags, TCPF_SYN | A);
	assert_int_equal(o.th.ack, 5001);
	assert_int_equal(o.th.seq, iss + 2 + 65535 + 2);
	assert_int_equal(tcp_tw_count(e->s), 0);
	inject(e, &(struct seg){ .flags = A, .seq = 5001, .ack = o.th.seq + 1, .win = 65535 });
	int fd2 = np_accept(lfd, NULL, NULL);
	assert_true(fd2 >= 0);
	np_close(fd2);
	np_close(lfd);
}

static void test_listen_backlog(void **state)
{
	struct env *e = *state;
	int lfd = listener(e, 85, 1);
	uint32_t iss[3];
	/* backlog 1: Linux queues backlog + 1 established connections. */
	for (int i = 0; i < 2; i++) {
		inject(e, &(struct seg){ .flags = TCPF_SYN, .seq = 100, .win = 65535, .mss = 1460, .sport = (uint16_t)(2000 + i) });
		struct outseg o = next_out(e);
		assert_int_equal(o.th.flags, TCPF_SYN | A);
		iss[i] = o.th.seq;
		inject(e, &(struct seg){ .flags = A, .seq = 101, .ack = iss[i] + 1, .win = 65535, .sport = (uint16_t)(2000 + i) });
	}
	/* A third SYN finds the accept queue full: dropped, no answer. */
	inject(e, &(struct seg){ .flags = TCPF_SYN, .seq = 100, .win = 65535, .mss = 1460, .sport = 2002 });
	expect_none(e);
	assert_int_equal(mib(e, NP_MIB_TcpExtListenOverflows), 1);
	assert_int_equal(drops(e, NP_DROP_TCP_LISTEN_OVERFLOW), 1);
	int a = np_accept(lfd, NULL, NULL), b = np_accept(lfd, NULL, NULL);
	assert_true(a >= 0 && b >= 0);
	assert_int_equal(np_accept(lfd, NULL, NULL), -1);
	assert_int_equal(errno, EAGAIN);
	/* Room again: the retried SYN gets its SYN-ACK. */
	inject(e, &(struct seg){ .flags = TCPF_SYN, .seq = 100, .win = 65535, .mss = 1460, .sport = 2002 });
	struct outseg o = next_out(e);
	assert_int_equal(o.th.flags, TCPF_SYN | A);
	/* An unanswered SYN-ACK is retransmitted at 1 s (RFC 6298 initial RTO), then backs off. */
	at(e, 999);
	expect_none(e);
	at(e, 1000);
	struct outseg r = next_out(e);
	assert_int_equal(r.th.flags, TCPF_SYN | A);
	assert_int_equal(r.th.seq, o.th.seq);
	at(e, 3000);
	r = next_out(e);
	assert_int_equal(r.th.seq, o.th.seq);
	assert_int_equal(r.when_ms, 3000);
	/* After tcp_synack_retries (5) the embryo is dropped silently. */
	at(e, 200000);
	drain(e);
	inject(e, &(struct seg){ .flags = A, .seq = 101, .ack = o.th.seq + 1, .win = 65535, .sport = 2002 });
	expect(e, &(struct seg){ .flags = TCPF_RST, .seq = o.th.seq + 1, .win = W, .len = 0, .dport = 2002 });
	np_close(a);
	np_close(b);
	np_close(lfd);
}

static void test_sequence_wraparound(void **state)
{
	struct env *e = *state;
	/* Our ISN just below 2^32 and the peer's at 0xFFFFFFFF: both sequence spaces wrap at once. */
	tcp_set_next_isn(e->s, 0xFFFFFFF0u);
	int fd;
	uint32_t iss = open_active(e, 5004, 0xFFFFFFFFu, 1460, &fd);
	assert_int_equal(iss, 0xFFFFFFF0u);
	char buf[100];
	for (int i = 0; i < 100; i++)
		buf[i] = (char)i;
	/* We send 100 bytes across 2^32. */
	assert_int_equal(np_send(fd, buf, 100, 0), 100);
	expect(e, &(struct seg){ .flags = A | TCPF_PSH, .seq = 0xFFFFFFF1u, .ack = 0, .win = W, .len = 100 });
	inject(e, &(struct seg){ .flags = A, .seq = 0, .ack = 0xFFFFFFF1u + 100, .win = 65535 });
	struct tcp_info ti;
	socklen_t tl = sizeof(ti);
	np_getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &tl);
	assert_int_equal(ti.tcpi_unacked, 0);
	/* The peer's data arrives in two pieces out of order around 0 in its space. */
	inject(e, &(struct seg){ .flags = A, .seq = 10, .ack = 85, .win = 65535, .len = 10 });
	expect(e, &(struct seg){ .flags = A, .seq = 85, .ack = 0, .win = W, .len = 0 });   /* dup ACK for the hole */
	inject(e, &(struct seg){ .flags = A, .seq = 0, .ack = 85, .win = 65535, .len = 10 });
	expect(e, &(struct seg){ .flags = A, .seq = 85, .ack = 20, .win = W, .len = 0 });
	char in[32];
	assert_int_equal(np_recv(fd, in, sizeof(in), 0), 20);
	for (int i = 0; i < 20; i++)
		assert_int_equal((uint8_t)in[i], (uint8_t)i);
}

static void test_illegal_flags_and_checksum(void **state)
{
	struct env *e = *state;
	int lfd = listener(e, 86, 4);
	inject(e, &(struct seg){ .flags = TCPF_SYN | TCPF_FIN, .seq = 1, .win = 100 });
	inject(e, &(struct seg){ .flags = TCPF_SYN | TCPF_RST, .seq = 1, .win = 100 });
	inject(e, &(struct seg){ .flags = TCPF_FIN, .seq = 1, .win = 100 });
	inject(e, &(struct seg){ .flags = 0, .seq = 1, .win = 100 });
	expect_none(e);
	assert_int_equal(drops(e, NP_DROP_TCP_FLAGS), 4);
	inject(e, &(struct seg){ .flags = TCPF_SYN, .seq = 1, .win = 100, .bad_csum = 1 });
	expect_none(e);
	assert_int_equal(mib(e, NP_MIB_TcpInCsumErrors), 1);
	assert_int_equal(mib(e, NP_MIB_TcpInErrs), 1);
	assert_int_equal(drops(e, NP_DROP_TCP_CSUM), 1);
	/* Malformed options (length 0; an MSS of the wrong length) cannot loop or overrun: ignored, as Linux. */
	static const uint8_t bad0[] = { 2, 0, 1, 1 };
	inject(e, &(struct seg){ .flags = TCPF_SYN, .seq = 1, .win = 100, .raw_opt = bad0, .raw_optlen = 4 });
	struct outseg o = next_out(e);
	assert_int_equal(o.th.flags, TCPF_SYN | A);
	static const uint8_t bad1[] = { 2, 3, 5, 1 };
	inject(e, &(struct seg){ .flags = TCPF_SYN, .seq = 1, .win = 100, .raw_opt = bad1, .raw_optlen = 4, .sport = 3 });
	o = next_out(e);
	assert_int_equal(o.th.flags, TCPF_SYN | A);
	np_close(lfd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_passive_open_and_data, setup, teardown),
		cmocka_unit_test_setup_teardown(test_active_open_close_time_wait, setup, teardown),
		cmocka_unit_test_setup_teardown(test_passive_close_last_ack, setup, teardown),
		cmocka_unit_test_setup_teardown(test_simultaneous_close, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fin_wait1_straight_to_time_wait, setup, teardown),
		cmocka_unit_test_setup_teardown(test_simultaneous_open, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rst_on_closed_port, setup, teardown),
		cmocka_unit_test_setup_teardown(test_connection_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_linger_zero_sends_rst, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_with_unread_data_resets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset_in_established, setup, teardown),
		cmocka_unit_test_setup_teardown(test_time_wait_reuse_by_newer_syn, setup, teardown),
		cmocka_unit_test_setup_teardown(test_listen_backlog, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sequence_wraparound, setup, teardown),
		cmocka_unit_test_setup_teardown(test_illegal_flags_and_checksum, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
