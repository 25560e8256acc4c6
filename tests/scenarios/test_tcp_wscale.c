/*
 * RFC 7323 section 2 window scaling, segment by segment (tcp_script.h: one
 * stack, a scripted peer, virtual time) and end to end (tcp_net.h: two
 * stacks on the virtual cable with a 50 ms delay each way). Covers the
 * negotiation (both, one or neither side offers), the shift chosen from the
 * receive buffer, TCP_WINDOW_CLAMP, the clamp of the peer's shift to 14,
 * windows shifted on send and receive but never on a SYN, a WS option on a
 * non-SYN ignored, a window that never shrinks (2.4), and more than 64 KiB
 * in flight on a long path (SHA-256 of the data checked).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "scenarios/tcp_net.h"
#include "scenarios/tcp_script.h"

#define A TCPF_ACK
#define W (-1)
#define INIT_WIN 64240   /* 65535 rounded down to our 1460-byte MSS: the SYN's window */
#define OUR_WS 5         /* our shift by default: tcp_rmem_max 1 MiB >> 5 = 32768 fits 16 bits */

/* MSS then nop,wscale (Linux's SYN layout without SACK or timestamps). */
struct synopt {
	uint8_t b[8];
};
static struct synopt syn_opts(int mss, int ws)
{
	struct synopt o = { { 2, 4, (uint8_t)(mss >> 8), (uint8_t)mss, 1, 3, 3, (uint8_t)ws } };
	return o;
}

/* The peer opens (passive on our side); ws < 0: its SYN has no WS option. Returns the SYN-ACK. */
static struct outseg passive_syn(struct env *e, uint16_t port, uint32_t peer_isn, int ws, int *lfd)
{
	*lfd = listener(e, port, 8);
	static struct synopt o;
	o = syn_opts(1000, ws < 0 ? 0 : ws);
	inject(e, &(struct seg){ .flags = TCPF_SYN, .seq = peer_isn, .win = 65535, .raw_opt = o.b,
				 .raw_optlen = ws < 0 ? 4 : 8 });
	struct outseg syn = next_out(e);
	assert_int_equal(syn.th.flags, TCPF_SYN | A);
	assert_int_equal(syn.th.ack, peer_isn + 1);
	return syn;
}

/* Completes the passive open with an ACK announcing win (the raw field); returns the accepted fd. */
static int passive_finish(struct env *e, int lfd, uint32_t peer_isn, uint32_t iss, int win)
{
	inject(e, &(struct seg){ .flags = A, .seq = peer_isn + 1, .ack = iss + 1, .win = win });
	expect_none(e);
	int fd = np_accept(lfd, NULL, NULL);
	assert_true(fd >= 0);
	np_fcntl(fd, F_SETFL, O_NONBLOCK);
	return fd;
}

/* We open; returns our SYN. */
static struct outseg active_syn(struct env *e, uint16_t lport, int *fd)
{
	*fd = np_socket(e->s, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	assert_true(*fd >= 0);
	struct sockaddr_in me = { .sin_family = AF_INET, .sin_port = htons(lport) };
	me.sin_addr.s_addr = htonl(OUR_IP);
	assert_int_equal(np_bind(*fd, (struct sockaddr *)&me, sizeof(me)), 0);
	script_port = lport;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(PEER_PORT) };
	a.sin_addr.s_addr = htonl(PEER_IP);
	assert_int_equal(np_connect(*fd, (struct sockaddr *)&a, sizeof(a)), -1);
	assert_int_equal(errno, EINPROGRESS);
	settle(e);
	struct outseg syn = next_out(e);
	assert_int_equal(syn.th.flags, TCPF_SYN);
	return syn;
}

/* The peer's SYN-ACK (ws < 0: no WS option, MSS 1000); returns our ACK. */
static struct outseg active_finish(struct env *e, int fd, uint32_t iss, uint32_t peer_isn, int ws, int win)
{
	static struct synopt o;
	o = syn_opts(1000, ws < 0 ? 0 : ws);
	inject(e, &(struct seg){ .flags = TCPF_SYN | A, .seq = peer_isn, .ack = iss + 1, .win = win, .raw_opt = o.b,
				 .raw_optlen = ws < 0 ? 4 : 8 });
	struct outseg ack = expect(e, &(struct seg){ .flags = A, .seq = iss + 1, .ack = peer_isn + 1, .win = W, .len = 0 });
	assert_int_equal(tcp_state_of(fd), TCP_ESTABLISHED);
	return ack;
}

static struct tcp_info info(int fd)
{
	struct tcp_info ti;
	socklen_t l = sizeof(ti);
	memset(&ti, 0, sizeof(ti));
	assert_int_equal(np_getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &l), 0);
	return ti;
}

/* Writes len bytes, then sums the payload of everything we sent; *last: the last segment's window field. */
static size_t send_and_count(struct env *e, int fd, size_t len, int *last_win)
{
	static char buf[65536];
	assert_true(len <= sizeof(buf));
	assert_int_equal(np_send(fd, buf, len, 0), (ssize_t)len);
	settle(e);
	size_t total = 0;
	while (pending_out(e)) {
		struct outseg o = next_out(e);
		total += o.th.payload_len;
		if (last_win)
			*last_win = o.th.window;
	}
	return total;
}

/* Both offer, passive: WS 7 answered with our 5; windows shifted both ways after the SYNs, never on them. */
static void test_both_offer_passive(void **state)
{
	struct env *e = *state;
	int lfd;
	struct outseg syn = passive_syn(e, 80, 1000, 7, &lfd);
	assert_true(syn.th.opt.wscale_ok);
	assert_int_equal(syn.th.opt.wscale, OUR_WS);
	assert_int_equal(syn.th.window, INIT_WIN);   /* 2.2: a SYN's window is not scaled */
	/* The third segment's window 50 means 50 << 7 = 6400 bytes. */
	int fd = passive_finish(e, lfd, 1000, syn.th.seq, 50);
	struct tcp_info ti = info(fd);
	assert_true(ti.tcpi_options & TCPI_OPT_WSCALE);
	assert_int_equal(ti.tcpi_snd_wscale, 7);
	assert_int_equal(ti.tcpi_rcv_wscale, OUR_WS);
	int win = -1;
	size_t sent = send_and_count(e, fd, 12000, &win);
	/* 6400 bytes of window (cwnd would allow 10 x 1000 of the 12000): six full segments and the 400 left. */
	assert_true(sent >= 6000 && sent <= 6400);
	/* Our window field counts 32-byte units: 2048 = the 64 KiB free. */
	assert_int_equal(win, 65536 >> OUR_WS);
	np_close(fd);
	np_close(lfd);
}

/* Both offer, active: our SYN offers 5; the peer's SYN-ACK window is taken as is, later ones shifted by its 3. */
static void test_both_offer_active(void **state)
{
	struct env *e = *state;
	int fd;
	struct outseg syn = active_syn(e, 5000, &fd);
	assert_true(syn.th.opt.wscale_ok);
	assert_int_equal(syn.th.opt.wscale, OUR_WS);
	assert_int_equal(syn.th.window, INIT_WIN);
	uint32_t iss = syn.th.seq;
	struct outseg ack = active_finish(e, fd, iss, 7000, 3, 3000);
	assert_int_equal(ack.th.window, 65536 >> OUR_WS);
	assert_int_equal(info(fd).tcpi_snd_wscale, 3);
	/* The SYN-ACK's 3000 is 3000 bytes (not 3000 << 3): three segments of 1000. */
	assert_int_equal(send_and_count(e, fd, 12000, NULL), 3000);
	/* An ACK of them with window 1000 opens 1000 << 3 = 8000 bytes. */
	inject(e, &(struct seg){ .flags = A, .seq = 7001, .ack = iss + 1 + 3000, .win = 1000 });
	size_t total = 0;
	while (pending_out(e))
		total += next_out(e).th.payload_len;
	assert_int_equal(total, 8000);
	np_close(fd);
}

/* Only the peer offers (our sysctl is off): no WS in the SYN-ACK, windows unscaled both ways. */
static void test_only_peer_offers(void **state)
{
	struct env *e = *state;
	assert_int_equal(np_sysctl_set(e->s, "net.ipv4.tcp_window_scaling", 0), 0);
	int lfd;
	struct outseg syn = passive_syn(e, 80, 1000, 7, &lfd);
	assert_false(syn.th.opt.wscale_ok);
	int fd = passive_finish(e, lfd, 1000, syn.th.seq, 6400);
	assert_false(info(fd).tcpi_options & TCPI_OPT_WSCALE);
	int win = -1;
	size_t sent = send_and_count(e, fd, 12000, &win);
	assert_true(sent >= 6000 && sent <= 6400);   /* 6400 bytes, not 6400 << 7 */
	assert_true(win > 60000 && win <= 65535);     /* our field in bytes */
	np_close(fd);
	np_close(lfd);
}

/* Only we offer, passive: a SYN without WS gets a SYN-ACK without it (2.2: only in reply to one). */
static void test_only_we_offer_passive(void **state)
{
	struct env *e = *state;
	int lfd;
	struct outseg syn = passive_syn(e, 80, 1000, -1, &lfd);
	assert_false(syn.th.opt.wscale_ok);
	int fd = passive_finish(e, lfd, 1000, syn.th.seq, 6400);
	assert_false(info(fd).tcpi_options & TCPI_OPT_WSCALE);
	int win = -1;
	size_t sent = send_and_count(e, fd, 12000, &win);
	assert_true(sent >= 6000 && sent <= 6400);
	assert_true(win > 60000 && win <= 65535);
	np_close(fd);
	np_close(lfd);
}

/* Only we offer, active: the SYN-ACK without WS turns scaling off; our shift of 5 is dropped. */
static void test_only_we_offer_active(void **state)
{
	struct env *e = *state;
	int fd;
	struct outseg syn = active_syn(e, 5001, &fd);
	assert_true(syn.th.opt.wscale_ok);
	uint32_t iss = syn.th.seq;
	struct outseg ack = active_finish(e, fd, iss, 7000, -1, 3000);
	assert_true(ack.th.window > 60000);   /* unscaled */
	assert_false(info(fd).tcpi_options & TCPI_OPT_WSCALE);
	assert_int_equal(send_and_count(e, fd, 12000, NULL), 3000);
	inject(e, &(struct seg){ .flags = A, .seq = 7001, .ack = iss + 1 + 3000, .win = 5000 });
	size_t total = 0;
	while (pending_out(e))
		total += next_out(e).th.payload_len;
	assert_int_equal(total, 5000);   /* 5000 bytes, unscaled */
	np_close(fd);
}

/* Neither offers: no WS anywhere. */
static void test_none_offers(void **state)
{
	struct env *e = *state;
	assert_int_equal(np_sysctl_set(e->s, "net.ipv4.tcp_window_scaling", 0), 0);
	int fd;
	struct outseg syn = active_syn(e, 5002, &fd);
	assert_false(syn.th.opt.wscale_ok);
	assert_int_equal(syn.th.window, INIT_WIN);
	struct outseg ack = active_finish(e, fd, syn.th.seq, 7000, -1, 4000);
	assert_true(ack.th.window > 60000);
	assert_false(info(fd).tcpi_options & TCPI_OPT_WSCALE);
	np_close(fd);
}

/* Our SYN's shift for a given buffer limit (Linux's tcp_select_initial_window). */
static int syn_wscale(struct env *e, uint16_t lport, int rcvbuf, int clamp)
{
	int fd = np_socket(e->s, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	assert_true(fd >= 0);
	if (rcvbuf)
		assert_int_equal(np_setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)), 0);
	if (clamp) {
		assert_int_equal(np_setsockopt(fd, IPPROTO_TCP, TCP_WINDOW_CLAMP, &clamp, sizeof(clamp)), 0);
		int v = 0;
		socklen_t l = sizeof(v);
		assert_int_equal(np_getsockopt(fd, IPPROTO_TCP, TCP_WINDOW_CLAMP, &v, &l), 0);
		assert_int_equal(v, clamp);
	}
	struct sockaddr_in me = { .sin_family = AF_INET, .sin_port = htons(lport) };
	me.sin_addr.s_addr = htonl(OUR_IP);
	assert_int_equal(np_bind(fd, (struct sockaddr *)&me, sizeof(me)), 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(PEER_PORT) };
	a.sin_addr.s_addr = htonl(PEER_IP);
	assert_int_equal(np_connect(fd, (struct sockaddr *)&a, sizeof(a)), -1);
	settle(e);
	struct outseg syn = next_out(e);
	assert_int_equal(syn.th.flags, TCPF_SYN);
	assert_true(syn.th.opt.wscale_ok);
	assert_true(syn.th.window <= 65535);
	if (clamp && clamp < INIT_WIN)
		assert_true(syn.th.window <= clamp);
	np_close(fd);
	drain(e);
	return syn.th.opt.wscale;
}

/* The shift is the smallest that fits the largest receive space in 16 bits, at most 14. */
static void test_shift_from_buffers(void **state)
{
	struct env *e = *state;
	assert_int_equal(tcp_wscale_for_space(0), 0);
	assert_int_equal(tcp_wscale_for_space(65535), 0);
	assert_int_equal(tcp_wscale_for_space(65536), 1);
	assert_int_equal(tcp_wscale_for_space(131070), 1);
	assert_int_equal(tcp_wscale_for_space(131072), 2);
	assert_int_equal(tcp_wscale_for_space(6291456), 7);
	assert_int_equal(tcp_wscale_for_space(UINT32_MAX), 14);
	/* Default: tcp_rmem_max 1 MiB -> 5 (1 MiB >> 5 = 32768); Linux's 6 MiB -> 7, what Linux offers. */
	assert_int_equal(syn_wscale(e, 6000, 0, 0), OUR_WS);
	assert_int_equal(np_sysctl_set(e->s, "net.ipv4.tcp_rmem_max", 6291456), 0);
	assert_int_equal(syn_wscale(e, 6001, 0, 0), 7);
	assert_int_equal(np_sysctl_set(e->s, "net.ipv4.tcp_rmem_max", 1L << 30), 0);
	assert_int_equal(syn_wscale(e, 6002, 0, 0), 14);  /* 1 GiB needs 15: clamped to 14 */
	/* SO_RCVBUF fixes the buffer: 32768 doubled, half of it window: 32768 fits, shift 0 (still offered). */
	assert_int_equal(syn_wscale(e, 6003, 32768, 0), 0);
	/* SO_RCVBUF 1 MiB is capped by net.core.rmem_max (212992, doubled): 212992 of window -> 2. */
	assert_int_equal(syn_wscale(e, 6004, 1 << 20, 0), 2);
	/* TCP_WINDOW_CLAMP bounds the space: 200000 -> 2; 5000 -> 0 and a SYN window of at most 5000. */
	assert_int_equal(syn_wscale(e, 6005, 0, 200000), 2);
	assert_int_equal(syn_wscale(e, 6006, 0, 5000), 0);
}

/* RFC 7323 2.3: a shift above 14 is taken as 14. */
static void test_peer_shift_clamped(void **state)
{
	struct env *e = *state;
	int lfd;
	struct outseg syn = passive_syn(e, 80, 1000, 15, &lfd);
	assert_true(syn.th.opt.wscale_ok);
	/* Window 1 means 1 << 14 = 16384 bytes; with MSS 1000 and cwnd 10 that is 10 segments. */
	int fd = passive_finish(e, lfd, 1000, syn.th.seq, 1);
	assert_int_equal(info(fd).tcpi_snd_wscale, 14);
	assert_int_equal(send_and_count(e, fd, 12000, NULL), 10000);
	np_close(fd);
	np_close(lfd);
}

/* 2.2: a WS option on a segment without SYN changes nothing. */
static void test_ws_on_non_syn_ignored(void **state)
{
	struct env *e = *state;
	static const uint8_t ws7[] = { 1, 3, 3, 7 }, ws0[] = { 1, 3, 3, 0 };
	/* Unscaled connection: an ACK with WS 7 and window 6400 still means 6400 bytes. */
	int lfd;
	struct outseg syn = passive_syn(e, 80, 1000, -1, &lfd);
	uint32_t iss = syn.th.seq;
	int fd = passive_finish(e, lfd, 1000, iss, 0);
	inject(e, &(struct seg){ .flags = A, .seq = 1001, .ack = iss + 1, .win = 6400, .raw_opt = ws7, .raw_optlen = 4 });
	assert_false(info(fd).tcpi_options & TCPI_OPT_WSCALE);
	drain(e);
	size_t sent = send_and_count(e, fd, 12000, NULL);
	assert_true(sent >= 6000 && sent <= 6400);
	np_close(fd);
	np_close(lfd);
	drain(e);

	/* Scaled connection (7): an ACK with WS 0 and window 50 still means 50 << 7. */
	syn = passive_syn(e, 81, 5000, 7, &lfd);
	iss = syn.th.seq;
	fd = passive_finish(e, lfd, 5000, iss, 0);
	inject(e, &(struct seg){ .flags = A, .seq = 5001, .ack = iss + 1, .win = 50, .raw_opt = ws0, .raw_optlen = 4,
				 .dport = 81 });
	assert_int_equal(info(fd).tcpi_snd_wscale, 7);
	drain(e);
	sent = send_and_count(e, fd, 12000, NULL);
	assert_true(sent >= 6000 && sent <= 6400);
	np_close(fd);
	np_close(lfd);
}

/* 2.4: the right edge we offer (ACK + window << 5) never moves left while the buffer fills. */
static void test_window_never_shrinks(void **state)
{
	struct env *e = *state;
	int lfd;
	struct outseg syn = passive_syn(e, 80, 1000, 7, &lfd);
	uint32_t iss = syn.th.seq;
	int fd = passive_finish(e, lfd, 1000, iss, 1000);
	uint32_t seq = 1001, edge = 1001 + INIT_WIN;
	int min_field = 1 << 16, acks = 0, zero = 0;
	uint64_t t = 0;
	for (int i = 0; i < 400 && !zero; i++) {
		if (!before(seq + 1000, edge + 1))
			break;   /* the next segment would not fit what we offered */
		inject(e, &(struct seg){ .flags = A, .seq = seq, .ack = iss + 1, .win = 1000, .len = 1000 });
		seq += 1000;
		t += 50;
		at(e, t);   /* past the delayed-ACK timer */
		while (pending_out(e)) {
			struct outseg o = next_out(e);
			assert_int_equal(o.th.payload_len, 0);
			uint32_t right = o.th.ack + ((uint32_t)o.th.window << OUR_WS);
			if (before(right, edge))
				fail_msg("right edge moved left: %u -> %u (ack %u window %u)", edge, right, o.th.ack, o.th.window);
			edge = right;
			if (o.th.window < min_field)
				min_field = o.th.window;
			zero |= o.th.window == 0;
			acks++;
		}
	}
	assert_true(acks > 10);
	/* The buffer filled (nothing read): the offered window did go down, and the edge held. */
	assert_true(min_field < (16384 >> OUR_WS));
	assert_int_equal(drops(e, NP_DROP_TCP_ZEROWINDOW) + drops(e, NP_DROP_PROTO_MEM), 0);
	/* Reading everything reopens it: a window update moves the edge right. */
	static char buf[65536];
	size_t got = 0;
	ssize_t r;
	while ((r = np_recv(fd, buf, sizeof(buf), 0)) > 0)
		got += (size_t)r;
	assert_int_equal(got, seq - 1001);
	settle(e);
	int updated = 0;
	while (pending_out(e)) {
		struct outseg o = next_out(e);
		uint32_t right = o.th.ack + ((uint32_t)o.th.window << OUR_WS);
		assert_false(before(right, edge));
		updated |= after(right, edge);
		edge = right;
	}
	assert_true(updated);
	np_close(fd);
	np_close(lfd);
}

/* ---- end to end: a long path needs more than 64 KiB in flight ---- */

struct flow_result {
	uint64_t ms;              /* virtual time the transfer took */
	uint32_t max_inflight;    /* bytes unacknowledged at the sender, at most */
	int rcvbuf;               /* the receiver's SO_RCVBUF at the end */
};

static struct flow_result one_way(int scaling, uint64_t bytes)
{
	struct tnet *n = tnet_new(5);
	for (int i = 0; i < 2; i++) {
		const char *errpos = NULL;
		/*
		 * A long fat pipe: 200 Mbit/s, 50 ms each way, a queue that holds a
		 * slow-start overshoot (the default limit is 1000 packets). The rate
		 * spreads a flight out as a real link does, so it never arrives
		 * faster than the cable's 1024-frame ring drains.
		 */
		assert_int_equal(np_dev_set_faults(n->d[i], NP_TX, "delay=50ms,rate=200mbit,limit=100000", &errpos), 0);
		assert_int_equal(np_sysctl_set(n->s[i], "net.ipv4.tcp_window_scaling", scaling), 0);
	}
	int lfd = tn_listen(n, 1, TN_B_IP, 5001, 8);
	int c = tn_connect(n, 0, TN_B_IP, 5001);
	assert_true(lfd >= 0 && c >= 0);
	int s = -1;
	for (int i = 0; i < 1000 && s < 0; i++) {
		tnet_sim_next(n, 10);
		s = np_accept(lfd, NULL, NULL);
	}
	assert_true(s >= 0);
	tn_nonblock(s);

	struct tn_sha256 tx, rx;
	tn_sha256_init(&tx);
	tn_sha256_init(&rx);
	struct tn_gen g = { .x = 77 };
	static uint8_t pend[16384], buf[65536];
	size_t pend_len = 0, pend_off = 0;
	uint64_t sent = 0, rcvd = 0, t0 = n->now;
	struct flow_result res = { 0, 0, 0 };
	int idle = 0, shut = 0;
	for (;;) {
		uint64_t moved = 0;
		while (sent < bytes) {
			if (pend_off == pend_len) {
				pend_len = bytes - sent < sizeof(pend) ? (size_t)(bytes - sent) : sizeof(pend);
				pend_off = 0;
				tn_gen_fill(&g, pend, pend_len);
			}
			ssize_t r = np_send(c, pend + pend_off, pend_len - pend_off, MSG_DONTWAIT);
			if (r < 0) {
				assert_int_equal(errno, EAGAIN);
				break;
			}
			tn_sha256_update(&tx, pend + pend_off, (size_t)r);
			pend_off += (size_t)r;
			sent += (uint64_t)r;
			moved += (uint64_t)r;
		}
		if (sent == bytes && !shut) {
			assert_int_equal(np_shutdown(c, SHUT_WR), 0);
			shut = 1;
		}
		ssize_t r;
		while ((r = np_recv(s, buf, sizeof(buf), MSG_DONTWAIT)) > 0) {
			tn_sha256_update(&rx, buf, (size_t)r);
			rcvd += (uint64_t)r;
			moved += (uint64_t)r;
		}
		if (r == 0)
			break;   /* EOF: everything arrived */
		assert_int_equal(errno, EAGAIN);
		struct tcp_info ti;
		socklen_t tl = sizeof(ti);
		assert_int_equal(np_getsockopt(c, IPPROTO_TCP, TCP_INFO, &ti, &tl), 0);
		uint32_t inflight = ti.tcpi_unacked * ti.tcpi_snd_mss;
		if (inflight > res.max_inflight)
			res.max_inflight = inflight;
		if (moved) {
			idle = 0;
			tnet_sim(n, 1);
		} else {
			tnet_sim_next(n, 10);
			if (++idle > 100000)
				fail_msg("transfer stalled at %llu of %llu bytes", (unsigned long long)rcvd,
					 (unsigned long long)bytes);
		}
	}
	assert_int_equal(rcvd, bytes);
	uint8_t h1[32], h2[32];
	tn_sha256_final(&tx, h1);
	tn_sha256_final(&rx, h2);
	assert_memory_equal(h1, h2, 32);
	res.ms = (n->now - t0) / TN_MS;
	socklen_t l = sizeof(res.rcvbuf);
	assert_int_equal(np_getsockopt(s, SOL_SOCKET, SO_RCVBUF, &res.rcvbuf, &l), 0);
	assert_int_equal(np_stack_mib(n->s[0], NP_MIB_TcpEstabResets) + np_stack_mib(n->s[1], NP_MIB_TcpEstabResets), 0);
	np_close(c);
	np_close(s);
	tnet_sim(n, 200);
	np_close(lfd);
	tnet_free(n);
	return res;
}

static void test_large_window_over_cable(void **state)
{
	(void)state;
	const uint64_t bytes = 8u << 20;
	struct flow_result on = one_way(1, bytes);
	struct flow_result off = one_way(0, bytes);
	print_message("8 MiB over 200 Mbit/s and a 100 ms RTT: scaled %llu ms (max %u in flight, rcvbuf %d), "
		      "unscaled %llu ms (max %u in flight)\n",
		      (unsigned long long)on.ms, on.max_inflight, on.rcvbuf, (unsigned long long)off.ms, off.max_inflight);
	/* Without scaling one RTT carries at most 64 KiB; with it the autotuned buffer lets far more fly. */
	assert_true(off.max_inflight <= 65535);
	assert_true(on.max_inflight > 4 * 65535);
	assert_true(on.rcvbuf > 131072);
	assert_true(on.ms < off.ms);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_both_offer_passive, setup, teardown),
		cmocka_unit_test_setup_teardown(test_both_offer_active, setup, teardown),
		cmocka_unit_test_setup_teardown(test_only_peer_offers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_only_we_offer_passive, setup, teardown),
		cmocka_unit_test_setup_teardown(test_only_we_offer_active, setup, teardown),
		cmocka_unit_test_setup_teardown(test_none_offers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shift_from_buffers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_peer_shift_clamped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ws_on_non_syn_ignored, setup, teardown),
		cmocka_unit_test_setup_teardown(test_window_never_shrinks, setup, teardown),
		cmocka_unit_test(test_large_window_over_cable),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
