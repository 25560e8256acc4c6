/*
 * SYN cookies and the listener's queues (src/net/tcp/syncookies.c,
 * tcp_conn_request), segment by segment on the tcp_script.h harness: one
 * stack, a scripted peer, virtual time. Covers net.ipv4.tcp_syncookies 0/1/2,
 * the bounded SYN queue, the accept queue overflow, cookie validation (forged,
 * stale, one period old), the MSS the cookie carries, and a 10,000-SYN flood
 * that must leave the number of socks bounded while a real client gets in.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "scenarios/tcp_script.h"

#define A TCPF_ACK
#define W (-1)   /* any window */

/* Not exported by a header (tests only). */
struct sock *tcp_v4_lookup_established(struct np_stack *s, uint32_t laddr, uint16_t lport, uint32_t faddr,
				       uint16_t fport);

/* Every sock the stack holds (listeners, SYN_RECV children, connections). */
static unsigned sock_count(struct env *e)
{
	unsigned n = 0;
	for (struct sock *sk = e->s->sock_list; sk; sk = sk->node_next)
		n++;
	return n;
}

/* The listener on port: its SYN queue length. */
static unsigned syn_qlen(struct env *e, uint16_t port)
{
	for (struct sock *sk = e->s->sock_list; sk; sk = sk->node_next)
		if (sk->sk_state == TCP_LISTEN && sk->inet_num == port)
			return tcp_sk(sk)->lq->syn_qlen;
	fail_msg("no listener on port %u", port);
	return 0;
}

static void set_sysctl(struct env *e, const char *name, long v) { assert_int_equal(np_sysctl_set(e->s, name, v), 0); }

/* A SYN from sport; returns the SYN-ACK that answers it (checked to be one). */
static struct outseg syn_synack(struct env *e, uint16_t sport, uint32_t isn, int mss)
{
	inject(e, &(struct seg){ .flags = TCPF_SYN, .seq = isn, .win = 65535, .mss = mss, .sport = sport });
	struct outseg o = next_out(e);
	assert_int_equal(o.th.flags, TCPF_SYN | A);
	assert_int_equal(o.th.dport, sport);
	assert_int_equal(o.th.ack, isn + 1);
	return o;
}

static uint32_t expected_cookie(struct env *e, uint16_t sport, uint32_t isn, unsigned mssind)
{
	return cookie_v4_init_sequence(e->s, PEER_IP, OUR_IP, sport, script_port, isn, mssind);
}

static void test_mss_table(void **state)
{
	(void)state;
	/* Linux's msstab: the largest entry not above the peer's MSS, 536 below them all. */
	assert_int_equal(cookie_mss_round(100), 536);
	assert_int_equal(cookie_mss_round(536), 536);
	assert_int_equal(cookie_mss_round(1299), 536);
	assert_int_equal(cookie_mss_round(1300), 1300);
	assert_int_equal(cookie_mss_round(1400), 1300);
	assert_int_equal(cookie_mss_round(1440), 1440);
	assert_int_equal(cookie_mss_round(1459), 1440);
	assert_int_equal(cookie_mss_round(1460), 1460);
	assert_int_equal(cookie_mss_round(8960), 1460);
}

/* tcp_syncookies = 1 (default): the SYN queue (backlog 2) fills, the next SYN gets a cookie and no state. */
static void test_cookie_when_queue_full(void **state)
{
	struct env *e = *state;
	long v;
	assert_int_equal(np_sysctl_get(e->s, "net.ipv4.tcp_syncookies", &v), 0);
	assert_int_equal(v, 1);
	int lfd = listener(e, 80, 2);
	syn_synack(e, 2000, 100, 1460);
	syn_synack(e, 2001, 200, 1460);
	assert_int_equal(syn_qlen(e, 80), 2);
	assert_int_equal(mib(e, NP_MIB_TcpExtSyncookiesSent), 0);
	unsigned socks = sock_count(e);

	struct outseg o = syn_synack(e, 2002, 300, 1400);
	/* The cookie: our MSS announced as usual, the sequence number from the hash with MSS index 1 (1300). */
	assert_true(o.th.opt.mss_ok);
	assert_int_equal(o.th.opt.mss, 1460);
	assert_int_equal(o.th.seq, expected_cookie(e, 2002, 300, 1));
	assert_true(o.th.window > 0);
	assert_int_equal(mib(e, NP_MIB_TcpExtTCPReqQFullDoCookies), 1);
	assert_int_equal(mib(e, NP_MIB_TcpExtSyncookiesSent), 1);
	assert_int_equal(mib(e, NP_MIB_TcpExtTCPReqQFullDrop), 0);
	assert_int_equal(mib(e, NP_MIB_TcpExtListenDrops), 0);
	/* No request sock: nothing allocated, nothing hashed, the queue unchanged. */
	assert_int_equal(sock_count(e), socks);
	assert_int_equal(syn_qlen(e, 80), 2);
	assert_null(tcp_v4_lookup_established(e->s, OUR_IP, 80, PEER_IP, 2002));
	/* Stateless: only the two queued SYN-ACKs are retransmitted at 1 s, never the cookie. */
	at(e, 1000);
	int seen[2] = { 0, 0 };
	while (pending_out(e)) {
		struct outseg r = next_out(e);
		assert_int_equal(r.th.flags, TCPF_SYN | A);
		assert_true(r.th.dport == 2000 || r.th.dport == 2001);
		seen[r.th.dport - 2000]++;
	}
	assert_int_equal(seen[0], 1);
	assert_int_equal(seen[1], 1);
	np_close(lfd);
}

/* The ACK that returns the cookie builds the connection: MSS 1300 (from 1400), data both ways. */
static void test_cookie_completes_connection(void **state)
{
	struct env *e = *state;
	int lfd = listener(e, 80, 1);
	syn_synack(e, 2000, 100, 1460);   /* fills the SYN queue (backlog 1) */
	struct outseg o = syn_synack(e, 2001, 5000, 1400);
	uint32_t c = o.th.seq;
	assert_int_equal(c, expected_cookie(e, 2001, 5000, 1));
	uint64_t passive = mib(e, NP_MIB_TcpPassiveOpens);
	/* The third segment carries data: the child is made from the cookie and takes it. */
	inject(e, &(struct seg){ .flags = A | TCPF_PSH, .seq = 5001, .ack = c + 1, .win = 65535, .len = 5,
				 .data = "hello", .sport = 2001 });
	expect(e, &(struct seg){ .flags = A, .seq = c + 1, .ack = 5006, .win = W, .len = 0, .dport = 2001 });
	assert_int_equal(mib(e, NP_MIB_TcpExtSyncookiesRecv), 1);
	assert_int_equal(mib(e, NP_MIB_TcpExtSyncookiesFailed), 0);
	assert_int_equal(mib(e, NP_MIB_TcpPassiveOpens), passive + 1);
	assert_int_equal(syn_qlen(e, 80), 1);
	int fd = np_accept(lfd, NULL, NULL);
	assert_true(fd >= 0);
	np_fcntl(fd, F_SETFL, O_NONBLOCK);
	assert_int_equal(tcp_state_of(fd), TCP_ESTABLISHED);
	char buf[16];
	assert_int_equal(np_recv(fd, buf, sizeof(buf), 0), 5);
	assert_memory_equal(buf, "hello", 5);
	/* Our segments follow the MSS the cookie carried. */
	struct tcp_info ti;
	socklen_t tl = sizeof(ti);
	assert_int_equal(np_getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &tl), 0);
	assert_int_equal(ti.tcpi_snd_mss, 1300);
	static char big[3000];
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (char)i;
	assert_int_equal(np_send(fd, big, sizeof(big), 0), (ssize_t)sizeof(big));
	struct outseg d1 = expect(e, &(struct seg){ .flags = A, .seq = c + 1, .ack = 5006, .win = W, .len = 1300, .dport = 2001 });
	assert_memory_equal(d1.th.payload, big, 1300);
	expect(e, &(struct seg){ .flags = A, .seq = c + 1301, .ack = 5006, .win = W, .len = 1300, .dport = 2001 });
	expect(e, &(struct seg){ .flags = A | TCPF_PSH, .seq = c + 2601, .ack = 5006, .win = W, .len = 400, .dport = 2001 });
	inject(e, &(struct seg){ .flags = A, .seq = 5006, .ack = c + 3001, .win = 65535, .sport = 2001 });
	/* More data from the peer, then a clean close from our side. */
	inject(e, &(struct seg){ .flags = A | TCPF_PSH, .seq = 5006, .ack = c + 3001, .win = 65535, .len = 3,
				 .data = "xyz", .sport = 2001 });
	assert_int_equal(np_recv(fd, buf, sizeof(buf), 0), 3);
	assert_memory_equal(buf, "xyz", 3);
	drain(e);
	np_close(fd);
	expect(e, &(struct seg){ .flags = A | TCPF_FIN, .seq = c + 3001, .ack = 5009, .win = W, .len = 0, .dport = 2001 });
	np_close(lfd);
}

/* Forged and stale cookies: dropped as TCP_SYNCOOKIE_INVALID, answered with a RST (Linux), no sock. */
static void test_cookie_invalid_and_stale(void **state)
{
	struct env *e = *state;
	set_sysctl(e, "net.ipv4.tcp_syncookies", 2);
	int lfd = listener(e, 80, 8);
	unsigned socks = sock_count(e);
	uint32_t c = syn_synack(e, 3000, 1000, 1460).th.seq;
	assert_int_equal(c, expected_cookie(e, 3000, 1000, 3));
	/* Wrong ACK (cookie + 1), then the right ACK with another peer ISN. */
	inject(e, &(struct seg){ .flags = A, .seq = 1001, .ack = c + 2, .win = 65535, .sport = 3000 });
	expect(e, &(struct seg){ .flags = TCPF_RST, .seq = c + 2, .dport = 3000, .win = W, .len = 0 });
	inject(e, &(struct seg){ .flags = A, .seq = 7001, .ack = c + 1, .win = 65535, .sport = 3000 });
	expect(e, &(struct seg){ .flags = TCPF_RST, .seq = c + 1, .dport = 3000, .win = W, .len = 0 });
	/* The same cookie from another port (another 4-tuple). */
	inject(e, &(struct seg){ .flags = A, .seq = 1001, .ack = c + 1, .win = 65535, .sport = 3001 });
	expect(e, &(struct seg){ .flags = TCPF_RST, .seq = c + 1, .dport = 3001, .win = W, .len = 0 });
	assert_int_equal(mib(e, NP_MIB_TcpExtSyncookiesFailed), 3);
	assert_int_equal(drops(e, NP_DROP_TCP_SYNCOOKIE_INVALID), 3);
	assert_int_equal(mib(e, NP_MIB_TcpExtSyncookiesRecv), 0);
	assert_int_equal(sock_count(e), socks);

	/* One period later (60 s) the cookie is still good: Linux accepts the last two counter values. */
	uint32_t c2 = syn_synack(e, 3002, 2000, 1460).th.seq;
	at(e, 70 * 1000);
	inject(e, &(struct seg){ .flags = A, .seq = 2001, .ack = c2 + 1, .win = 65535, .sport = 3002 });
	expect_none(e);
	assert_int_equal(mib(e, NP_MIB_TcpExtSyncookiesRecv), 1);
	int fd = np_accept(lfd, NULL, NULL);
	assert_true(fd >= 0);
	np_close(fd);
	drain(e);

	/* Two periods later it is stale. Another cookie just before keeps the listener "recently overflowed". */
	uint32_t c3 = syn_synack(e, 3003, 3000, 1460).th.seq;
	at(e, 70 * 1000 + 121 * 1000);
	drain(e);   /* the closed connection's FIN retransmissions */
	syn_synack(e, 3004, 4000, 1460);
	inject(e, &(struct seg){ .flags = A, .seq = 3001, .ack = c3 + 1, .win = 65535, .sport = 3003 });
	expect(e, &(struct seg){ .flags = TCPF_RST, .seq = c3 + 1, .dport = 3003, .win = W, .len = 0 });
	assert_int_equal(mib(e, NP_MIB_TcpExtSyncookiesFailed), 4);
	assert_int_equal(drops(e, NP_DROP_TCP_SYNCOOKIE_INVALID), 4);
	assert_null(tcp_v4_lookup_established(e->s, OUR_IP, 80, PEER_IP, 3003));
	np_close(lfd);
}

/* Without a recent overflow an ACK to a listener is not checked as a cookie: a plain RST (Linux). */
static void test_no_recent_overflow(void **state)
{
	struct env *e = *state;
	int lfd = listener(e, 80, 8);
	inject(e, &(struct seg){ .flags = A, .seq = 1, .ack = 12345, .win = 65535, .sport = 3100 });
	expect(e, &(struct seg){ .flags = TCPF_RST, .seq = 12345, .dport = 3100, .win = W, .len = 0 });
	assert_int_equal(mib(e, NP_MIB_TcpExtSyncookiesFailed), 0);
	assert_int_equal(drops(e, NP_DROP_TCP_LISTEN_NOSYN), 1);
	/* After a cookie, 120 s (two periods) of ACKs are checked; then no longer. */
	set_sysctl(e, "net.ipv4.tcp_syncookies", 2);
	uint32_t c = syn_synack(e, 3101, 10, 1460).th.seq;
	set_sysctl(e, "net.ipv4.tcp_syncookies", 1);
	at(e, 119 * 1000);
	inject(e, &(struct seg){ .flags = A, .seq = 11, .ack = c + 5, .win = 65535, .sport = 3101 });
	expect(e, &(struct seg){ .flags = TCPF_RST, .seq = c + 5, .dport = 3101, .win = W, .len = 0 });
	assert_int_equal(mib(e, NP_MIB_TcpExtSyncookiesFailed), 1);
	at(e, 122 * 1000);
	inject(e, &(struct seg){ .flags = A, .seq = 11, .ack = c + 5, .win = 65535, .sport = 3101 });
	expect(e, &(struct seg){ .flags = TCPF_RST, .seq = c + 5, .dport = 3101, .win = W, .len = 0 });
	assert_int_equal(mib(e, NP_MIB_TcpExtSyncookiesFailed), 1);
	assert_int_equal(drops(e, NP_DROP_TCP_LISTEN_NOSYN), 2);
	/* tcp_syncookies = 0: never checked. */
	set_sysctl(e, "net.ipv4.tcp_syncookies", 2);
	c = syn_synack(e, 3102, 10, 1460).th.seq;
	set_sysctl(e, "net.ipv4.tcp_syncookies", 0);
	inject(e, &(struct seg){ .flags = A, .seq = 11, .ack = c + 1, .win = 65535, .sport = 3102 });
	expect(e, &(struct seg){ .flags = TCPF_RST, .seq = c + 1, .dport = 3102, .win = W, .len = 0 });
	assert_int_equal(mib(e, NP_MIB_TcpExtSyncookiesRecv), 0);
	np_close(lfd);
}

/* tcp_syncookies = 0: a full SYN queue drops SYNs (TCPReqQFullDrop, ListenDrops), no answer. */
static void test_syncookies_off(void **state)
{
	struct env *e = *state;
	set_sysctl(e, "net.ipv4.tcp_syncookies", 0);
	int lfd = listener(e, 80, 2);
	syn_synack(e, 2000, 100, 1460);
	syn_synack(e, 2001, 200, 1460);
	unsigned socks = sock_count(e);
	for (int i = 0; i < 5; i++)
		inject(e, &(struct seg){ .flags = TCPF_SYN, .seq = 300, .win = 65535, .mss = 1460, .sport = (uint16_t)(2002 + i) });
	expect_none(e);
	assert_int_equal(mib(e, NP_MIB_TcpExtTCPReqQFullDrop), 5);
	assert_int_equal(mib(e, NP_MIB_TcpExtListenDrops), 5);
	assert_int_equal(drops(e, NP_DROP_TCP_REQQFULLDROP), 5);
	assert_int_equal(mib(e, NP_MIB_TcpExtSyncookiesSent), 0);
	assert_int_equal(mib(e, NP_MIB_TcpExtTCPReqQFullDoCookies), 0);
	assert_int_equal(sock_count(e), socks);
	assert_int_equal(syn_qlen(e, 80), 2);
	np_close(lfd);

	/* Linux also keeps the last quarter of tcp_max_syn_backlog (8 here) free: 7 SYNs queue, the 8th drops. */
	set_sysctl(e, "net.ipv4.tcp_max_syn_backlog", 8);
	drain(e);
	lfd = listener(e, 81, 100);
	for (int i = 0; i < 7; i++)
		syn_synack(e, (uint16_t)(2100 + i), 100, 1460);
	uint64_t full = mib(e, NP_MIB_TcpExtTCPReqQFullDrop), ld = mib(e, NP_MIB_TcpExtListenDrops);
	inject(e, &(struct seg){ .flags = TCPF_SYN, .seq = 100, .win = 65535, .mss = 1460, .sport = 2107 });
	expect_none(e);
	assert_int_equal(syn_qlen(e, 81), 7);
	assert_int_equal(mib(e, NP_MIB_TcpExtListenDrops), ld + 1);
	assert_int_equal(mib(e, NP_MIB_TcpExtTCPReqQFullDrop), full);
	np_close(lfd);
}

/* tcp_syncookies = 2: every SYN gets a cookie, even with an empty queue. */
static void test_syncookies_always(void **state)
{
	struct env *e = *state;
	set_sysctl(e, "net.ipv4.tcp_syncookies", 2);
	int lfd = listener(e, 80, 128);
	unsigned socks = sock_count(e);
	for (int i = 0; i < 3; i++) {
		struct outseg o = syn_synack(e, (uint16_t)(4000 + i), 77, 536);
		assert_int_equal(o.th.seq, expected_cookie(e, (uint16_t)(4000 + i), 77, 0));
	}
	assert_int_equal(syn_qlen(e, 80), 0);
	assert_int_equal(sock_count(e), socks);
	assert_int_equal(mib(e, NP_MIB_TcpExtSyncookiesSent), 3);
	assert_int_equal(mib(e, NP_MIB_TcpExtTCPReqQFullDoCookies), 3);
	/* No MSS option: 536 (RFC 9293 3.7.1), index 0. */
	struct outseg o = syn_synack(e, 4003, 88, 0);
	assert_int_equal(o.th.seq, expected_cookie(e, 4003, 88, 0));
	inject(e, &(struct seg){ .flags = A, .seq = 89, .ack = o.th.seq + 1, .win = 65535, .sport = 4003 });
	int fd = np_accept(lfd, NULL, NULL);
	assert_true(fd >= 0);
	struct tcp_info ti;
	socklen_t tl = sizeof(ti);
	assert_int_equal(np_getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &tl), 0);
	assert_int_equal(ti.tcpi_snd_mss, 536);
	np_close(fd);
	np_close(lfd);
}

/*
 * Accept queue full (backlog 1: two established children wait): a SYN is
 * dropped (ListenOverflows), and a valid cookie ACK is dropped without a
 * child or a RST (tcp_abort_on_overflow = 0); its retransmission gets in
 * once accept() made room.
 */
static void test_accept_queue_full(void **state)
{
	struct env *e = *state;
	set_sysctl(e, "net.ipv4.tcp_syncookies", 2);
	int lfd = listener(e, 80, 1);
	uint32_t c[3];
	for (int i = 0; i < 3; i++)
		c[i] = syn_synack(e, (uint16_t)(5000 + i), 100, 1460).th.seq;
	for (int i = 0; i < 2; i++)
		inject(e, &(struct seg){ .flags = A, .seq = 101, .ack = c[i] + 1, .win = 65535, .sport = (uint16_t)(5000 + i) });
	expect_none(e);
	unsigned socks = sock_count(e);
	inject(e, &(struct seg){ .flags = A, .seq = 101, .ack = c[2] + 1, .win = 65535, .sport = 5002 });
	expect_none(e);
	assert_int_equal(mib(e, NP_MIB_TcpExtSyncookiesRecv), 3);
	assert_int_equal(mib(e, NP_MIB_TcpExtListenOverflows), 1);
	assert_int_equal(mib(e, NP_MIB_TcpExtListenDrops), 1);
	assert_int_equal(drops(e, NP_DROP_TCP_LISTEN_OVERFLOW), 1);
	assert_int_equal(sock_count(e), socks);
	/* A new SYN meets the full accept queue: dropped before any cookie. */
	inject(e, &(struct seg){ .flags = TCPF_SYN, .seq = 100, .win = 65535, .mss = 1460, .sport = 5003 });
	expect_none(e);
	assert_int_equal(mib(e, NP_MIB_TcpExtListenOverflows), 2);
	assert_int_equal(mib(e, NP_MIB_TcpExtSyncookiesSent), 3);
	int a = np_accept(lfd, NULL, NULL);
	assert_true(a >= 0);
	/* The peer retransmits its third segment: now there is room. */
	inject(e, &(struct seg){ .flags = A, .seq = 101, .ack = c[2] + 1, .win = 65535, .sport = 5002 });
	expect_none(e);
	int b = np_accept(lfd, NULL, NULL), d = np_accept(lfd, NULL, NULL);
	assert_true(b >= 0 && d >= 0);
	np_close(a);
	np_close(b);
	np_close(d);
	np_close(lfd);
}

/*
 * A flood of 10,000 SYNs that never complete (the peer's address with every
 * source port 10000..19999): the SYN queue stays at the backlog (128), the
 * stack holds no more socks than that, every other SYN got a cookie, and a
 * legitimate handshake in the middle of it completes.
 */
#define FLOOD_N 10000
#define FLOOD_BACKLOG 128
static void test_flood_bounded(void **state)
{
	struct env *e = *state;
	int lfd = listener(e, 80, FLOOD_BACKLOG);
	unsigned socks0 = sock_count(e), peak = socks0;
	uint64_t out0 = mib(e, NP_MIB_TcpOutSegs);
	for (int i = 0; i < FLOOD_N; i++) {
		inject(e, &(struct seg){ .flags = TCPF_SYN, .seq = 0x9e3779b9u * (uint32_t)i, .win = 65535, .mss = 1460,
					 .sport = (uint16_t)(10000 + i) });
		if (sock_count(e) > peak)
			peak = sock_count(e);
		if (e->cap->n > MAX_CAP - 16)
			cap_clear(e->cap);
	}
	cap_clear(e->cap);
	assert_int_equal(peak, socks0 + FLOOD_BACKLOG);
	assert_int_equal(syn_qlen(e, 80), FLOOD_BACKLOG);
	assert_int_equal(mib(e, NP_MIB_TcpExtSyncookiesSent), FLOOD_N - FLOOD_BACKLOG);
	assert_int_equal(mib(e, NP_MIB_TcpExtTCPReqQFullDoCookies), FLOOD_N - FLOOD_BACKLOG);
	assert_int_equal(mib(e, NP_MIB_TcpExtListenDrops), 0);
	/* One SYN-ACK for every SYN. */
	assert_int_equal(mib(e, NP_MIB_TcpOutSegs) - out0, FLOOD_N);

	/* The legitimate client: its handshake completes through a cookie and data flows. */
	struct outseg o = syn_synack(e, 40001, 777, 1460);
	inject(e, &(struct seg){ .flags = A, .seq = 778, .ack = o.th.seq + 1, .win = 65535, .sport = 40001 });
	expect_none(e);
	int fd = np_accept(lfd, NULL, NULL);
	assert_true(fd >= 0);
	np_fcntl(fd, F_SETFL, O_NONBLOCK);
	assert_int_equal(np_send(fd, "ok", 2, 0), 2);
	expect(e, &(struct seg){ .flags = A | TCPF_PSH, .seq = o.th.seq + 1, .ack = 778, .win = W, .len = 2, .dport = 40001 });
	assert_true(sock_count(e) <= socks0 + FLOOD_BACKLOG + 2);

	/* The queued children time out (SYN-ACK retries, about 63 s): the queue empties, memory comes back. */
	at(e, 200 * 1000);
	cap_clear(e->cap);
	assert_int_equal(syn_qlen(e, 80), 0);
	assert_int_equal(sock_count(e), socks0 + 1);
	np_close(fd);
	np_close(lfd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mss_table),
		cmocka_unit_test_setup_teardown(test_cookie_when_queue_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cookie_completes_connection, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cookie_invalid_and_stale, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_recent_overflow, setup, teardown),
		cmocka_unit_test_setup_teardown(test_syncookies_off, setup, teardown),
		cmocka_unit_test_setup_teardown(test_syncookies_always, setup, teardown),
		cmocka_unit_test_setup_teardown(test_accept_queue_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flood_bounded, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
