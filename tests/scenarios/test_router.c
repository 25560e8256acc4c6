/*
 * A netpath stack as a router between two others (RFC 1812), on virtual
 * cables and one virtual clock, through the public API only:
 *   A 10.0.1.2 eth0 <==cable==> eth0 10.0.1.1 R 10.0.2.1 eth1 <==cable==> eth0 10.0.2.2 B
 * R has net.ipv4.ip_forward=1; A and B route everything via R.
 * Checks ping and a TCP transfer A->B through R, a traceroute-like probe
 * (UDP with TTL 1, 2) answered by R with time exceeded and by B with port
 * unreachable, and path MTU discovery (RFC 1191) when R's second link has
 * MTU 576: R answers fragmentation needed, A lowers its MSS, the transfer completes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "tcp_net.h"

#define MS 1000000ull
#define A_IP "10.0.1.2"
#define R0_IP "10.0.1.1"
#define R1_IP "10.0.2.1"
#define B_IP "10.0.2.2"

struct rnet {
	struct np_clock *clk;
	struct np_stack *s[3];   /* A, R, B */
	struct np_dev *a0, *r0, *r1, *b0;
	uint64_t now;
};

static int setup(void **state)
{
	struct rnet *n = calloc(1, sizeof(*n));
	static const char *const names[3] = { "A", "R", "B" };
	n->clk = np_clock_virtual(TN_T0);
	n->now = TN_T0;
	for (int i = 0; i < 3; i++) {
		struct np_stack_config cfg = { .name = names[i], .clock = n->clk, .seed = 100 + (uint64_t)i };
		n->s[i] = np_stack_create(&cfg);
		assert_non_null(n->s[i]);
	}
	assert_int_equal(np_cable_create(n->s[0], "eth0", n->s[1], "eth0", &n->a0, &n->r0), 0);
	assert_int_equal(np_cable_create(n->s[1], "eth1", n->s[2], "eth0", &n->r1, &n->b0), 0);
	assert_int_equal(np_addr_add(n->a0, A_IP "/24"), 0);
	assert_int_equal(np_addr_add(n->r0, R0_IP "/24"), 0);
	assert_int_equal(np_addr_add(n->r1, R1_IP "/24"), 0);
	assert_int_equal(np_addr_add(n->b0, B_IP "/24"), 0);
	assert_int_equal(np_route_add(n->s[0], "default", R0_IP, NULL), 0);
	assert_int_equal(np_route_add(n->s[2], "default", R1_IP, NULL), 0);
	assert_int_equal(np_sysctl_set(n->s[1], "net.ipv4.ip_forward", 1), 0);
	*state = n;
	return 0;
}

static int teardown(void **state)
{
	struct rnet *n = *state;
	for (int i = 0; i < 3; i++)
		np_stack_destroy(n->s[i]);
	np_clock_destroy(n->clk);
	free(n);
	return 0;
}

static void sim(struct rnet *n, uint64_t ms)
{
	n->now += ms * MS;
	np_sim_run(n->s, 3, n->clk, n->now);
}

static uint64_t mib(struct rnet *n, int i, enum np_mib_field f) { return np_stack_mib(n->s[i], f); }

static struct in_addr in(const char *ip)
{
	struct in_addr a;
	inet_pton(AF_INET, ip, &a);
	return a;
}

/* ---- ping ---- */

struct pings {
	int replies, errors;
	uint8_t ttl;
	struct in_addr from;
	int type, code;
};

static void on_ping(void *arg, const struct np_ping_reply *r)
{
	struct pings *p = arg;
	if (r->error_type) {
		p->errors++;
		p->type = r->error_type;
		p->code = r->error_code;
	} else {
		p->replies++;
		p->ttl = r->ttl;
	}
	p->from = r->from;
}

static void test_ping_through_router(void **state)
{
	struct rnet *n = *state;
	struct pings p = { 0 };

	assert_int_equal(np_ping_handler(n->s[0], 77, on_ping, &p), 0);
	for (uint16_t seq = 1; seq <= 3; seq++) {
		assert_int_equal(np_ping_send(n->s[0], in(B_IP), 77, seq, 56), 0);
		sim(n, 100);
	}
	assert_int_equal(p.replies, 3);
	assert_int_equal(p.errors, 0);
	/* B answers with TTL 64; one router hop on the way back. */
	assert_int_equal(p.ttl, 63);
	assert_int_equal(p.from.s_addr, in(B_IP).s_addr);
	assert_int_equal(mib(n, 1, NP_MIB_IpForwDatagrams), 6);
	assert_int_equal(mib(n, 1, NP_MIB_IpInDelivers), 0);

	/* The router's far address answers too (weak host model), without forwarding. */
	assert_int_equal(np_ping_send(n->s[0], in(R1_IP), 77, 9, 56), 0);
	sim(n, 100);
	assert_int_equal(p.replies, 4);
	assert_int_equal(p.ttl, 64);
	assert_int_equal(mib(n, 1, NP_MIB_IpForwDatagrams), 6);

	/* No route on R: net unreachable, from R's address on A's link. */
	assert_int_equal(np_ping_send(n->s[0], in("192.0.2.1"), 77, 10, 56), 0);
	sim(n, 100);
	assert_int_equal(p.errors, 1);
	assert_int_equal(p.type, 3);
	assert_int_equal(p.code, 0);
	assert_int_equal(p.from.s_addr, in(R0_IP).s_addr);
	np_ping_handler(n->s[0], 77, NULL, NULL);
}

/* ---- TCP through the router ---- */

/* Sends len bytes from A to B:port through R and checks them; returns A's TCP_INFO. */
static void transfer(struct rnet *n, uint16_t port, size_t len, struct tcp_info *ti_out)
{
	int lfd = np_socket(n->s[2], AF_INET, SOCK_STREAM, 0);
	assert_true(lfd >= 0);
	struct sockaddr_in la = tn_addr(B_IP, port);
	assert_int_equal(np_bind(lfd, (struct sockaddr *)&la, sizeof(la)), 0);
	assert_int_equal(np_listen(lfd, 4), 0);
	tn_nonblock(lfd);

	int cfd = np_socket(n->s[0], AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	assert_true(cfd >= 0);
	struct sockaddr_in ra = tn_addr(B_IP, port);
	assert_int_equal(np_connect(cfd, (struct sockaddr *)&ra, sizeof(ra)), -1);
	assert_int_equal(errno, EINPROGRESS);

	struct tn_gen gs = { 0x1234567ull + port }, gr = { 0x1234567ull + port };
	struct tn_sha256 hs, hr;
	tn_sha256_init(&hs);
	tn_sha256_init(&hr);
	uint8_t buf[8192], chk[8192];
	size_t sent = 0, recvd = 0, pending = 0, pend_off = 0;
	int afd = -1;

	for (int iter = 0; iter < 20000 && recvd < len; iter++) {
		sim(n, 1);
		if (afd < 0) {
			afd = np_accept(lfd, NULL, NULL);
			if (afd >= 0)
				tn_nonblock(afd);
		}
		while (sent < len) {
			if (pending == 0) {
				pending = len - sent < sizeof(buf) ? len - sent : sizeof(buf);
				tn_gen_fill(&gs, buf, pending);
				tn_sha256_update(&hs, buf, pending);
				pend_off = 0;
			}
			ssize_t w = np_send(cfd, buf + pend_off, pending, 0);
			if (w <= 0)
				break;
			sent += (size_t)w;
			pend_off += (size_t)w;
			pending -= (size_t)w;
		}
		while (afd >= 0) {
			ssize_t r = np_recv(afd, chk, sizeof(chk), 0);
			if (r <= 0)
				break;
			tn_sha256_update(&hr, chk, (size_t)r);
			recvd += (size_t)r;
		}
	}
	(void)gr;
	assert_int_equal(recvd, len);
	uint8_t d1[32], d2[32];
	tn_sha256_final(&hs, d1);
	tn_sha256_final(&hr, d2);
	assert_memory_equal(d1, d2, 32);

	socklen_t tl = sizeof(*ti_out);
	memset(ti_out, 0, sizeof(*ti_out));
	assert_int_equal(np_getsockopt(cfd, IPPROTO_TCP, TCP_INFO, ti_out, &tl), 0);
	np_close(cfd);
	if (afd >= 0)
		np_close(afd);
	np_close(lfd);
	sim(n, 100);
}

static void test_tcp_through_router(void **state)
{
	struct rnet *n = *state;
	struct tcp_info ti;

	transfer(n, 5001, 300000, &ti);
	assert_int_equal(ti.tcpi_pmtu, 1500);
	assert_int_equal(ti.tcpi_snd_mss, 1460);
	assert_true(mib(n, 1, NP_MIB_IpForwDatagrams) > 200);
	assert_int_equal(mib(n, 1, NP_MIB_IcmpOutMsgs), 0);
}

/* RFC 1191: R's link to B has MTU 576; A learns it from R's fragmentation needed. */
static void test_pmtu_through_router(void **state)
{
	struct rnet *n = *state;
	struct tcp_info ti;

	assert_int_equal(np_dev_set_mtu(n->r1, 576), 0);
	transfer(n, 5002, 200000, &ti);
	assert_int_equal(ti.tcpi_pmtu, 576);
	assert_int_equal(ti.tcpi_snd_mss, 536);
	assert_true(mib(n, 1, NP_MIB_IcmpOutDestUnreachs) >= 1);
	assert_true(mib(n, 1, NP_MIB_IpFragFails) >= 1);
	assert_true(np_stack_drops(n->s[1], NP_DROP_PKT_TOO_BIG) >= 1);
	assert_true(mib(n, 0, NP_MIB_IcmpInDestUnreachs) >= 1);
	/* DF stays set on A's segments: R never fragmented them. */
	assert_int_equal(mib(n, 1, NP_MIB_IpFragCreates), 0);
}

/* Without DF the router fragments for the smaller link (RFC 791 2.3) and B reassembles. */
static void test_router_fragments_without_df(void **state)
{
	struct rnet *n = *state;

	assert_int_equal(np_dev_set_mtu(n->r1, 576), 0);
	int rfd = np_socket(n->s[2], AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in ba = tn_addr(B_IP, 9999);
	assert_int_equal(np_bind(rfd, (struct sockaddr *)&ba, sizeof(ba)), 0);
	tn_nonblock(rfd);
	int sfd = np_socket(n->s[0], AF_INET, SOCK_DGRAM, 0);
	int dont = IP_PMTUDISC_DONT;
	assert_int_equal(np_setsockopt(sfd, IPPROTO_IP, IP_MTU_DISCOVER, &dont, sizeof(dont)), 0);
	uint8_t msg[1400], got[2000];
	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)(i ^ 0x5a);
	assert_int_equal(np_sendto(sfd, msg, sizeof(msg), 0, (struct sockaddr *)&ba, sizeof(ba)), (ssize_t)sizeof(msg));
	sim(n, 100);
	assert_int_equal(np_recv(rfd, got, sizeof(got), 0), (ssize_t)sizeof(msg));
	assert_memory_equal(got, msg, sizeof(msg));
	/* 1428 bytes of IP through 576: three fragments, no ICMP back to A. */
	assert_int_equal(mib(n, 1, NP_MIB_IpFragOKs), 1);
	assert_int_equal(mib(n, 1, NP_MIB_IpFragCreates), 3);
	assert_int_equal(mib(n, 1, NP_MIB_IpForwDatagrams), 1);
	assert_int_equal(mib(n, 1, NP_MIB_IcmpOutMsgs), 0);
	assert_int_equal(mib(n, 2, NP_MIB_IpReasmOKs), 1);
	np_close(sfd);
	np_close(rfd);
}

/*
 * RFC 1122 4.2.3.9 / RFC 5927: while established, ICMP unreachable is a soft
 * error (reported by SO_ERROR, the connection lives on); while connecting,
 * it aborts the attempt (Linux).
 */
static void test_tcp_icmp_errors(void **state)
{
	struct rnet *n = *state;
	uint8_t buf[20000], got[20000];

	int lfd = np_socket(n->s[2], AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in la = tn_addr(B_IP, 5003);
	assert_int_equal(np_bind(lfd, (struct sockaddr *)&la, sizeof(la)), 0);
	assert_int_equal(np_listen(lfd, 4), 0);
	tn_nonblock(lfd);
	int cfd = np_socket(n->s[0], AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	struct sockaddr_in ra = tn_addr(B_IP, 5003);
	assert_int_equal(np_connect(cfd, (struct sockaddr *)&ra, sizeof(ra)), -1);
	sim(n, 50);
	int afd = np_accept(lfd, NULL, NULL);
	assert_true(afd >= 0);
	tn_nonblock(afd);
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 7);
	assert_int_equal(np_send(cfd, buf, 10000, 0), 10000);
	sim(n, 100);
	size_t recvd = 0;
	ssize_t r;
	while ((r = np_recv(afd, got + recvd, sizeof(got) - recvd, 0)) > 0)
		recvd += (size_t)r;
	assert_int_equal(recvd, 10000);

	/* R loses its link to B: A's segments get net unreachable from R. */
	assert_int_equal(np_dev_set_up(n->r1, 0), 0);
	uint64_t du0 = mib(n, 0, NP_MIB_IcmpInDestUnreachs);
	assert_int_equal(np_send(cfd, buf + 10000, 10000, 0), 10000);
	sim(n, 3000);
	assert_true(mib(n, 0, NP_MIB_IcmpInDestUnreachs) > du0);
	struct tcp_info ti;
	socklen_t tl = sizeof(ti);
	assert_int_equal(np_getsockopt(cfd, IPPROTO_TCP, TCP_INFO, &ti, &tl), 0);
	assert_int_equal(ti.tcpi_state, TCP_ESTABLISHED);
	int soerr = 0;
	socklen_t el = sizeof(soerr);
	assert_int_equal(np_getsockopt(cfd, SOL_SOCKET, SO_ERROR, &soerr, &el), 0);
	assert_int_equal(soerr, ENETUNREACH);

	/* The link comes back: the retransmissions get through, nothing was lost. */
	assert_int_equal(np_dev_set_up(n->r1, 1), 0);
	for (int i = 0; i < 600 && recvd < 20000; i++) {
		sim(n, 100);
		while ((r = np_recv(afd, got + recvd, sizeof(got) - recvd, 0)) > 0)
			recvd += (size_t)r;
	}
	assert_int_equal(recvd, 20000);
	assert_memory_equal(got, buf, 20000);
	np_close(cfd);
	np_close(afd);
	np_close(lfd);
	sim(n, 100);

	/* Connecting to a net R has no route to: the attempt fails with ENETUNREACH. */
	cfd = np_socket(n->s[0], AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	struct sockaddr_in nr = tn_addr("192.0.2.80", 80);
	assert_int_equal(np_connect(cfd, (struct sockaddr *)&nr, sizeof(nr)), -1);
	assert_int_equal(errno, EINPROGRESS);
	sim(n, 100);
	soerr = 0;
	el = sizeof(soerr);
	assert_int_equal(np_getsockopt(cfd, SOL_SOCKET, SO_ERROR, &soerr, &el), 0);
	assert_int_equal(soerr, ENETUNREACH);
	np_close(cfd);
}

/* ---- traceroute ---- */

struct seen {
	int time_exceeded_from_r;
	int unreach_from_b;
};

static void on_a_path(void *arg, const struct np_trace_path *p)
{
	struct seen *s = arg;
	if (p->tx)
		return;
	if (strstr(p->summary, R0_IP " > " A_IP) && strstr(p->summary, "ICMP") && strstr(p->summary, "time exceeded"))
		s->time_exceeded_from_r++;
	if (strstr(p->summary, B_IP " > " A_IP) && strstr(p->summary, "ICMP") && strstr(p->summary, "unreach"))
		s->unreach_from_b++;
}

static void test_traceroute(void **state)
{
	struct rnet *n = *state;
	struct seen seen = { 0 };

	np_stack_trace(n->s[0], 0, NULL);
	np_stack_trace_cb(n->s[0], on_a_path, &seen);
	uint64_t te0 = mib(n, 0, NP_MIB_IcmpInTimeExcds);
	for (int ttl = 1; ttl <= 2; ttl++) {
		int fd = np_socket(n->s[0], AF_INET, SOCK_DGRAM, 0);
		assert_true(fd >= 0);
		int one = 1;
		assert_int_equal(np_setsockopt(fd, IPPROTO_IP, IP_TTL, &ttl, sizeof(ttl)), 0);
		assert_int_equal(np_setsockopt(fd, IPPROTO_IP, IP_RECVERR, &one, sizeof(one)), 0);
		struct sockaddr_in b = tn_addr(B_IP, (uint16_t)(33434 + ttl));
		assert_int_equal(np_connect(fd, (struct sockaddr *)&b, sizeof(b)), 0);
		tn_nonblock(fd);
		assert_int_equal(np_send(fd, "probe", 5, 0), 5);
		sim(n, 50);
		char c;
		errno = 0;
		assert_int_equal(np_recv(fd, &c, 1, 0), -1);
		/* Hop 1 is R (time exceeded: EHOSTUNREACH), hop 2 the destination (port unreachable). */
		assert_int_equal(errno, ttl == 1 ? EHOSTUNREACH : ECONNREFUSED);
		np_close(fd);
	}
	np_stack_trace_cb(n->s[0], NULL, NULL);
	assert_int_equal(mib(n, 0, NP_MIB_IcmpInTimeExcds), te0 + 1);
	assert_int_equal(mib(n, 1, NP_MIB_IcmpOutTimeExcds), 1);
	assert_int_equal(mib(n, 1, NP_MIB_IpInHdrErrors), 1);
	assert_int_equal(seen.time_exceeded_from_r, 1);
	assert_int_equal(seen.unreach_from_b, 1);
	/* The probe with TTL 2 crossed R; the port unreachable came back through it. */
	assert_int_equal(mib(n, 1, NP_MIB_IpForwDatagrams), 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_ping_through_router, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tcp_through_router, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pmtu_through_router, setup, teardown),
		cmocka_unit_test_setup_teardown(test_router_fragments_without_df, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tcp_icmp_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_traceroute, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
