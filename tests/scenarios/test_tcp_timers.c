/*
 * TCP timing and loss recovery, segment by segment on virtual time
 * (tcp_script.h): RTO with exponential back-off (RFC 6298, 200 ms floor),
 * SYN retransmission and ETIMEDOUT, fast retransmit and NewReno partial ACKs
 * (RFC 5681, RFC 6582), zero-window probing with back-off, keepalive
 * (TCP_KEEPIDLE/INTVL/CNT), TCP_USER_TIMEOUT, delayed ACKs (quick-ack at
 * the start, every second full segment, 40 ms timer), Nagle / TCP_NODELAY /
 * TCP_CORK, the MSS option (missing = 536, clamped to 48, TCP_MAXSEG), the
 * receive window closing and reopening, and ICMP errors (path MTU, port
 * unreachable while connecting).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "scenarios/tcp_script.h"

#define A TCPF_ACK
#define P TCPF_PSH
#define W (-1)

static char zeros[65536];

static void test_rto_backoff(void **state)
{
	struct env *e = *state;
	int fd;
	uint32_t iss = open_active(e, 5000, 100, 1460, &fd);
	/* The handshake's RTT is ~0, so the RTO is the 200 ms floor. */
	assert_int_equal(np_send(fd, "data", 4, 0), 4);
	expect(e, &(struct seg){ .flags = A | P, .seq = iss + 1, .ack = 101, .win = W, .len = 4 });
	uint64_t t[] = { 200, 600, 1400, 3000, 6200 };
	for (int i = 0; i < 5; i++) {
		at(e, t[i] - 1);
		expect_none(e);
		at(e, t[i]);
		struct outseg o = expect(e, &(struct seg){ .flags = A | P, .seq = iss + 1, .ack = 101, .win = W, .len = 4 });
		assert_int_equal(o.when_ms, t[i]);
	}
	assert_int_equal(mib(e, NP_MIB_TcpRetransSegs), 5);
	assert_int_equal(mib(e, NP_MIB_TcpExtTCPTimeouts), 5);
	/* The ACK ends it; the back-off stays until a fresh RTT sample (Karn), then new data uses 200 ms again. */
	inject(e, &(struct seg){ .flags = A, .seq = 101, .ack = iss + 5, .win = 65535 });
	assert_int_equal(np_send(fd, "more", 4, 0), 4);
	expect(e, &(struct seg){ .flags = A | P, .seq = iss + 5, .ack = 101, .win = W, .len = 4 });
	at(e, 6300);
	inject(e, &(struct seg){ .flags = A, .seq = 101, .ack = iss + 9, .win = 65535 });
	assert_int_equal(np_send(fd, "last", 4, 0), 4);
	expect(e, &(struct seg){ .flags = A | P, .seq = iss + 9, .ack = 101, .win = W, .len = 4 });
	at(e, 6300 + 199);
	expect_none(e);
	at(e, 6300 + 400);
	struct outseg o = expect(e, &(struct seg){ .flags = A | P, .seq = iss + 9, .ack = 101, .win = W, .len = 4 });
	/* RFC 6298 2.3 with the 100 ms sample: SRTT 12.5 ms, RTTVAR 25 ms, RTO 112.5 ms -> the 200 ms floor. */
	assert_int_equal(o.when_ms, 6300 + 200);
	struct tcp_info ti;
	socklen_t tl = sizeof(ti);
	np_getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &tl);
	assert_int_equal(ti.tcpi_rtt, 12501);   /* 7/8 * 1 us (the SYN sample) + 100 ms / 8 */
	assert_int_equal(ti.tcpi_rttvar, 24999);
}

static void test_syn_retries_then_etimedout(void **state)
{
	struct env *e = *state;
	assert_int_equal(np_sysctl_set(e->s, "net.ipv4.tcp_syn_retries", 3), 0);
	int fd = np_socket(e->s, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(PEER_PORT) };
	a.sin_addr.s_addr = htonl(PEER_IP);
	assert_int_equal(np_connect(fd, (struct sockaddr *)&a, sizeof(a)), -1);
	struct outseg o = next_out(e);
	script_port = o.th.sport;
	/* RFC 6298 2.1: 1 s, then 2, 4 ... */
	uint64_t t[] = { 1000, 3000, 7000 };
	for (int i = 0; i < 3; i++) {
		at(e, t[i]);
		struct outseg r = expect(e, &(struct seg){ .flags = TCPF_SYN, .seq = o.th.seq, .win = W, .len = 0, .mss = 1460 });
		assert_int_equal(r.when_ms, t[i]);
	}
	at(e, 14999);
	assert_int_equal(tcp_state_of(fd), TCP_SYN_SENT);
	at(e, 15000);
	expect_none(e);
	assert_true(poll_events(fd, POLLOUT) & POLLERR);
	assert_int_equal(so_error(fd), ETIMEDOUT);
	assert_int_equal(mib(e, NP_MIB_TcpExtTCPSynRetrans), 3);
	np_close(fd);
}

static void test_fast_retransmit_newreno(void **state)
{
	struct env *e = *state;
	int fd;
	uint32_t iss = open_active(e, 5001, 100, 1000, &fd);
	int one = 1;
	np_setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	assert_int_equal(np_send(fd, zeros, 6000, 0), 6000);
	for (int i = 0; i < 6; i++)
		expect(e, &(struct seg){ .flags = A, .seq = iss + 1 + 1000u * (uint32_t)i, .ack = 101, .win = W, .len = 1000 });
	expect_none(e);
	/* Segments 1 and 3 are lost: ACK of segment 0... then duplicates. */
	at(e, 10);
	inject(e, &(struct seg){ .flags = A, .seq = 101, .ack = iss + 1001, .win = 65535 });
	inject(e, &(struct seg){ .flags = A, .seq = 101, .ack = iss + 1001, .win = 65535 });
	inject(e, &(struct seg){ .flags = A, .seq = 101, .ack = iss + 1001, .win = 65535 });
	expect_none(e);
	inject(e, &(struct seg){ .flags = A, .seq = 101, .ack = iss + 1001, .win = 65535 });
	/* Third duplicate: fast retransmit of the first hole, at once (RFC 5681 3.2). */
	expect(e, &(struct seg){ .flags = A, .seq = iss + 1001, .ack = 101, .win = W, .len = 1000 });
	assert_int_equal(mib(e, NP_MIB_TcpExtTCPRenoRecovery), 1);
	assert_int_equal(mib(e, NP_MIB_TcpExtTCPFastRetrans), 1);
	/* A partial ACK (up to the second hole): NewReno resends it at once (RFC 6582 3.2 step 5). */
	inject(e, &(struct seg){ .flags = A, .seq = 101, .ack = iss + 3001, .win = 65535 });
	expect(e, &(struct seg){ .flags = A, .seq = iss + 3001, .ack = 101, .win = W, .len = 1000 });
	/* The full ACK ends recovery; no RTO fires afterwards. */
	inject(e, &(struct seg){ .flags = A, .seq = 101, .ack = iss + 6001, .win = 65535 });
	at(e, 2000);
	expect_none(e);
	struct tcp_info ti;
	socklen_t tl = sizeof(ti);
	np_getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &tl);
	assert_int_equal(ti.tcpi_ca_state, TCP_CA_Open);
	assert_int_equal(ti.tcpi_snd_ssthresh, 5);   /* half of the initial window of 10 */
	assert_int_equal(mib(e, NP_MIB_TcpExtTCPTimeouts), 0);
}

static void test_zero_window_probe(void **state)
{
	struct env *e = *state;
	int fd;
	uint32_t iss = open_active(e, 5002, 100, 1460, &fd);
	/* The peer closes its window. */
	inject(e, &(struct seg){ .flags = A, .seq = 101, .ack = iss + 1, .win = 0 });
	assert_int_equal(np_send(fd, "queued", 6, 0), 6);
	expect_none(e);
	/* Probes (one below SND.UNA, no data) back off: 200, +400, +800 ms. */
	uint64_t t[] = { 200, 600, 1400 };
	for (int i = 0; i < 3; i++) {
		at(e, t[i]);
		struct outseg o = expect(e, &(struct seg){ .flags = A, .seq = iss, .ack = 101, .win = W, .len = 0 });
		assert_int_equal(o.when_ms, t[i]);
		inject(e, &(struct seg){ .flags = A, .seq = 101, .ack = iss + 1, .win = 0 });
		expect_none(e);
	}
	assert_int_equal(mib(e, NP_MIB_TcpExtTCPWinProbe), 3);
	/* The window opens: the data goes at once. */
	at(e, 1500);
	inject(e, &(struct seg){ .flags = A, .seq = 101, .ack = iss + 1, .win = 1000 });
	expect(e, &(struct seg){ .flags = A | P, .seq = iss + 1, .ack = 101, .win = W, .len = 6 });
	inject(e, &(struct seg){ .flags = A, .seq = 101, .ack = iss + 7, .win = 1000 });
	at(e, 10000);
	expect_none(e);
}

static void test_keepalive(void **state)
{
	struct env *e = *state;
	int fd;
	uint32_t iss = open_active(e, 5003, 100, 1460, &fd);
	int on = 1, idle = 10, intvl = 5, cnt = 3;
	assert_int_equal(np_setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on)), 0);
	assert_int_equal(np_setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle)), 0);
	assert_int_equal(np_setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl)), 0);
	assert_int_equal(np_setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt)), 0);
	int v = 0;
	socklen_t vl = sizeof(v);
	assert_int_equal(np_getsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &v, &vl), 0);
	assert_int_equal(v, 10);
	at(e, 9999);
	expect_none(e);
	at(e, 10000);
	expect(e, &(struct seg){ .flags = A, .seq = iss, .ack = 101, .win = W, .len = 0 });
	/* Answered: the idle clock restarts. */
	inject(e, &(struct seg){ .flags = A, .seq = 101, .ack = iss + 1, .win = 65535 });
	at(e, 19999);
	expect_none(e);
	/* Unanswered: probes every 5 s, then a RST and ETIMEDOUT after 3. */
	uint64_t t[] = { 20000, 25000, 30000 };
	for (int i = 0; i < 3; i++) {
		at(e, t[i]);
		struct outseg o = expect(e, &(struct seg){ .flags = A, .seq = iss, .ack = 101, .win = W, .len = 0 });
		assert_int_equal(o.when_ms, t[i]);
	}
	at(e, 35000);
	expect(e, &(struct seg){ .flags = TCPF_RST | A, .seq = iss + 1, .ack = 101, .win = W, .len = 0 });
	char b[4];
	assert_int_equal(np_recv(fd, b, sizeof(b), 0), -1);
	assert_int_equal(errno, ETIMEDOUT);
	assert_int_equal(mib(e, NP_MIB_TcpExtTCPKeepAlive), 4);
	assert_int_equal(mib(e, NP_MIB_TcpExtTCPAbortOnTimeout), 1);
}

static void test_user_timeout(void **state)
{
	struct env *e = *state;
	int fd;
	uint32_t iss = open_active(e, 5004, 100, 1460, &fd);
	int ut = 1000;
	assert_int_equal(np_setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &ut, sizeof(ut)), 0);
	assert_int_equal(np_send(fd, "x", 1, 0), 1);
	expect(e, &(struct seg){ .flags = A | P, .seq = iss + 1, .ack = 101, .win = W, .len = 1 });
	at(e, 200);
	expect(e, &(struct seg){ .flags = A | P, .seq = iss + 1, .ack = 101, .win = W, .len = 1 });
	at(e, 600);
	expect(e, &(struct seg){ .flags = A | P, .seq = iss + 1, .ack = 101, .win = W, .len = 1 });
	assert_int_equal(tcp_state_of(fd), TCP_ESTABLISHED);
	/* The next RTO (1400 ms) finds the data unacknowledged for more than 1 s: abort. */
	at(e, 1400);
	expect_none(e);
	assert_int_equal(tcp_state_of(fd), TCP_CLOSE);
	assert_int_equal(so_error(fd), ETIMEDOUT);
}

static void test_delayed_ack(void **state)
{
	struct env *e = *state;
	int lfd, fd;
	uint32_t iss = open_passive(e, 80, 1000, &lfd, &fd);
	uint32_t seq = 1001;
	static char sink[4096];
	/* Quick-ack at the start: the first segments are acknowledged one by one. */
	int quick = 0;
	for (;;) {
		inject(e, &(struct seg){ .flags = A, .seq = seq, .ack = iss + 1, .win = 65535, .len = 1460 });
		seq += 1460;
		/* The application keeps up, so the window stays wide open. */
		while (np_recv(fd, sink, sizeof(sink), 0) > 0)
			;
		if (!pending_out(e))
			break;
		expect(e, &(struct seg){ .flags = A, .seq = iss + 1, .ack = seq, .win = W, .len = 0 });
		quick++;
		assert_true(quick <= 16);
	}
	assert_true(quick >= 2);
	/* Past quick-ack: one full segment waits for the 40 ms timer ... */
	uint64_t t0 = now_ms(e);
	at(e, t0 + 39);
	expect_none(e);
	at(e, t0 + 40);
	struct outseg o = expect(e, &(struct seg){ .flags = A, .seq = iss + 1, .ack = seq, .win = W, .len = 0 });
	assert_int_equal(o.when_ms, t0 + 40);
	assert_int_equal(mib(e, NP_MIB_TcpExtDelayedACKs), 1);
	/* ... and every second full segment is acknowledged at once (RFC 5681 4.2). */
	while (np_recv(fd, sink, sizeof(sink), 0) > 0)
		;
	inject(e, &(struct seg){ .flags = A, .seq = seq, .ack = iss + 1, .win = 65535, .len = 1460 });
	expect_none(e);
	while (np_recv(fd, sink, sizeof(sink), 0) > 0)
		;
	expect_none(e);
	inject(e, &(struct seg){ .flags = A, .seq = seq + 1460, .ack = iss + 1, .win = 65535, .len = 1460 });
	expect(e, &(struct seg){ .flags = A, .seq = iss + 1, .ack = seq + 2920, .win = W, .len = 0 });
	np_close(fd);
	np_close(lfd);
}

static void test_nagle_nodelay_cork(void **state)
{
	struct env *e = *state;
	int fd;
	uint32_t iss = open_active(e, 5005, 100, 1460, &fd);
	/* Nagle: a second small write waits for the first one's ACK. */
	assert_int_equal(np_send(fd, "aaaa", 4, 0), 4);
	expect(e, &(struct seg){ .flags = A | P, .seq = iss + 1, .ack = 101, .win = W, .len = 4 });
	assert_int_equal(np_send(fd, "bbbb", 4, 0), 4);
	assert_int_equal(np_send(fd, "cccc", 4, 0), 4);
	expect_none(e);
	at(e, 5);
	inject(e, &(struct seg){ .flags = A, .seq = 101, .ack = iss + 5, .win = 65535 });
	expect(e, &(struct seg){ .flags = A | P, .seq = iss + 5, .ack = 101, .win = W, .len = 8 });
	inject(e, &(struct seg){ .flags = A, .seq = 101, .ack = iss + 13, .win = 65535 });
	/* TCP_NODELAY: small writes go at once. */
	int one = 1, zero = 0;
	np_setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	assert_int_equal(np_send(fd, "dd", 2, 0), 2);
	assert_int_equal(np_send(fd, "ee", 2, 0), 2);
	expect(e, &(struct seg){ .flags = A | P, .seq = iss + 13, .ack = 101, .win = W, .len = 2 });
	expect(e, &(struct seg){ .flags = A | P, .seq = iss + 15, .ack = 101, .win = W, .len = 2 });
	inject(e, &(struct seg){ .flags = A, .seq = 101, .ack = iss + 17, .win = 65535 });
	/* TCP_CORK holds partial segments, even with TCP_NODELAY, until uncorked. */
	np_setsockopt(fd, IPPROTO_TCP, TCP_CORK, &one, sizeof(one));
	assert_int_equal(np_send(fd, "ff", 2, 0), 2);
	assert_int_equal(np_send(fd, "gg", 2, 0), 2);
	expect_none(e);
	np_setsockopt(fd, IPPROTO_TCP, TCP_CORK, &zero, sizeof(zero));
	expect(e, &(struct seg){ .flags = A | P, .seq = iss + 17, .ack = 101, .win = W, .len = 4 });
	inject(e, &(struct seg){ .flags = A, .seq = 101, .ack = iss + 21, .win = 65535 });
	/* A cork is not forever: Linux sends what it holds after 200 ms. */
	np_setsockopt(fd, IPPROTO_TCP, TCP_CORK, &one, sizeof(one));
	uint64_t t0 = now_ms(e);
	assert_int_equal(np_send(fd, "hh", 2, 0), 2);
	expect_none(e);
	at(e, t0 + 200);
	expect(e, &(struct seg){ .flags = A | P, .seq = iss + 21, .ack = 101, .win = W, .len = 2 });
}

static void test_mss_option(void **state)
{
	struct env *e = *state;
	/* No MSS option: RFC 9293 3.7.1 says 536. */
	int fd;
	uint32_t iss = open_active(e, 5006, 100, 0, &fd);
	int one = 1;
	np_setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	assert_int_equal(np_send(fd, zeros, 1000, 0), 1000);
	expect(e, &(struct seg){ .flags = A, .seq = iss + 1, .ack = 101, .win = W, .len = 536 });
	expect(e, &(struct seg){ .flags = A | P, .seq = iss + 537, .ack = 101, .win = W, .len = 464 });
	int v = 0;
	socklen_t vl = sizeof(v);
	np_getsockopt(fd, IPPROTO_TCP, TCP_MAXSEG, &v, &vl);
	assert_int_equal(v, 536);
	np_close(fd);
	drain(e);
	/* An absurdly small MSS is raised to tcp_min_snd_mss (48). */
	int fd2;
	iss = open_active(e, 5007, 100, 10, &fd2);
	np_setsockopt(fd2, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	assert_int_equal(np_send(fd2, zeros, 100, 0), 100);
	expect(e, &(struct seg){ .flags = A, .seq = iss + 1, .ack = 101, .win = W, .len = 48 });
	np_close(fd2);
	drain(e);
	/* TCP_MAXSEG before connect: announced and used; out of range is EINVAL. */
	int fd3 = np_socket(e->s, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	int mss = 50;
	assert_int_equal(np_setsockopt(fd3, IPPROTO_TCP, TCP_MAXSEG, &mss, sizeof(mss)), -1);
	assert_int_equal(errno, EINVAL);
	mss = 1000;
	assert_int_equal(np_setsockopt(fd3, IPPROTO_TCP, TCP_MAXSEG, &mss, sizeof(mss)), 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(PEER_PORT) };
	a.sin_addr.s_addr = htonl(PEER_IP);
	np_connect(fd3, (struct sockaddr *)&a, sizeof(a));
	struct outseg o = next_out(e);
	assert_int_equal(o.th.flags, TCPF_SYN);
	assert_true(o.th.opt.mss_ok);
	assert_int_equal(o.th.opt.mss, 1000);
	script_port = o.th.sport;
	inject(e, &(struct seg){ .flags = TCPF_SYN | A, .seq = 100, .ack = o.th.seq + 1, .win = 65535, .mss = 1460 });
	drain(e);
	np_setsockopt(fd3, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	assert_int_equal(np_send(fd3, zeros, 1500, 0), 1500);
	expect(e, &(struct seg){ .flags = A, .seq = o.th.seq + 1, .ack = 101, .win = W, .len = 1000 });
	np_close(fd3);
}

static void test_receive_window_closes_and_reopens(void **state)
{
	struct env *e = *state;
	int lfd = listener(e, 80, 4);
	int rcv = 4096;   /* the kernel doubles it: 8192 bytes of buffer */
	assert_int_equal(np_setsockopt(lfd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv)), 0);
	inject(e, &(struct seg){ .flags = TCPF_SYN, .seq = 1000, .win = 65535, .mss = 1000 });
	struct outseg o = next_out(e);
	uint32_t iss = o.th.seq;
	assert_true(o.th.window <= 4096);
	inject(e, &(struct seg){ .flags = A, .seq = 1001, .ack = iss + 1, .win = 65535 });
	int fd = np_accept(lfd, NULL, NULL);
	np_fcntl(fd, F_SETFL, O_NONBLOCK);
	uint32_t seq = 1001, win = o.th.window;
	/* Fill whatever we offer; nobody reads. Compacting the queue may offer a little more at first. */
	for (int round = 0; round < 50; round++) {
		uint32_t n = win < 1000 ? win : 1000;
		if (n == 0)
			n = 100;   /* a segment into a zero window */
		inject(e, &(struct seg){ .flags = A, .seq = seq, .ack = iss + 1, .win = 65535, .len = (int)n });
		if (win) {
			seq += n;
			win -= n;   /* unless an ACK below says otherwise (a delayed ACK may not come now) */
		}
		int zero = 0;
		while (pending_out(e)) {
			struct outseg a = next_out(e);
			assert_int_equal(a.th.ack, seq);
			win = a.th.ack + a.th.window - seq;
			zero = a.th.window == 0;
		}
		if (zero && drops(e, NP_DROP_TCP_ZEROWINDOW) > 0)
			break;
	}
	/* Window zero: data beyond it was dropped (TCP_ZEROWINDOW) and answered with window 0. */
	assert_true(drops(e, NP_DROP_TCP_ZEROWINDOW) >= 1);
	assert_int_equal(win, 0);
	assert_true(seq - 1001 >= o.th.window);   /* at least what the SYN-ACK offered was taken */
	assert_true(poll_events(fd, POLLIN) & POLLIN);
	/* The application reads: a window update goes out (RFC 1122 4.2.3.3). */
	static char b[20000];
	ssize_t got = np_recv(fd, b, sizeof(b), 0);
	assert_true(got > 0);
	assert_int_equal((uint32_t)got, seq - 1001);
	struct outseg u = expect(e, &(struct seg){ .flags = A, .seq = iss + 1, .ack = seq, .win = W, .len = 0 });
	assert_true(u.th.window >= 1000);
	np_close(fd);
	np_close(lfd);
}

/* An ICMP error from the peer quoting the given frame we sent. */
static void inject_icmp(struct env *e, const uint8_t *our_frame, uint8_t type, uint8_t code, uint32_t rest)
{
	uint8_t f[256], icmp[128];
	const uint8_t *qip = our_frame + ETH_HLEN;
	struct icmp_repr ic = { .type = type, .code = code, .rest = rest, .payload = qip, .payload_len = IPV4_HLEN_MIN + 8 };
	size_t il = icmp_emit(&ic, icmp, sizeof(icmp));
	struct eth_repr eth = { .ethertype = ETH_P_IP };
	memcpy(eth.dst, e->dev->dev_addr, 6);
	memcpy(eth.src, peer_mac, 6);
	eth_emit(&eth, f, ETH_HLEN);
	struct ipv4_repr ip = { .tot_len = (uint16_t)(IPV4_HLEN_MIN + il), .id = 9, .ttl = 64, .protocol = IPPROTO_ICMP_,
				.saddr = PEER_IP, .daddr = OUR_IP };
	ipv4_emit(&ip, f + ETH_HLEN, IPV4_HLEN_MIN);
	memcpy(f + ETH_HLEN + IPV4_HLEN_MIN, icmp, il);
	inject_frame(e, f, ETH_HLEN + IPV4_HLEN_MIN + il);
}

static void test_icmp_errors(void **state)
{
	struct env *e = *state;
	/* Port unreachable quoting our SYN: the attempt fails with ECONNREFUSED. */
	int fd = np_socket(e->s, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(PEER_PORT) };
	a.sin_addr.s_addr = htonl(PEER_IP);
	np_connect(fd, (struct sockaddr *)&a, sizeof(a));
	struct outseg syn = next_out(e);
	inject_icmp(e, syn.frame, ICMP_DEST_UNREACH, ICMP_PORT_UNREACH, 0);
	assert_int_equal(so_error(fd), ECONNREFUSED);
	np_close(fd);
	/* Fragmentation needed quoting our data: smaller segments, the lost one resent (RFC 1191). */
	int fd2;
	uint32_t iss = open_active(e, 5008, 100, 1460, &fd2);
	assert_int_equal(np_send(fd2, zeros, 1460, 0), 1460);
	struct outseg big = expect(e, &(struct seg){ .flags = A | P, .seq = iss + 1, .ack = 101, .win = W, .len = 1460 });
	inject_icmp(e, big.frame, ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED, 1000);
	expect(e, &(struct seg){ .flags = A, .seq = iss + 1, .ack = 101, .win = W, .len = 960 });
	expect(e, &(struct seg){ .flags = A | P, .seq = iss + 961, .ack = 101, .win = W, .len = 500 });
	int v = 0;
	socklen_t vl = sizeof(v);
	np_getsockopt(fd2, IPPROTO_TCP, TCP_MAXSEG, &v, &vl);
	assert_int_equal(v, 960);
	/* An error quoting a sequence number we never sent is ignored (RFC 5927). */
	uint8_t forged[128];
	memcpy(forged, big.frame, ETH_HLEN + IPV4_HLEN_MIN + 8);
	be32_put(forged + ETH_HLEN + IPV4_HLEN_MIN + 4, iss + 100000);
	inject_icmp(e, forged, ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED, 500);
	assert_int_equal(mib(e, NP_MIB_TcpExtOutOfWindowIcmps), 1);
	expect_none(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_rto_backoff, setup, teardown),
		cmocka_unit_test_setup_teardown(test_syn_retries_then_etimedout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fast_retransmit_newreno, setup, teardown),
		cmocka_unit_test_setup_teardown(test_zero_window_probe, setup, teardown),
		cmocka_unit_test_setup_teardown(test_keepalive, setup, teardown),
		cmocka_unit_test_setup_teardown(test_user_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delayed_ack, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nagle_nodelay_cork, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mss_option, setup, teardown),
		cmocka_unit_test_setup_teardown(test_receive_window_closes_and_reopens, setup, teardown),
		cmocka_unit_test_setup_teardown(test_icmp_errors, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
