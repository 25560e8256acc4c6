/*
 * IP ID selection (src/net/ipv4/ip_output.c, ip_select_ident): the IDs a
 * peer sees must not reveal what we send to others, must stay unique per
 * (source, destination, protocol) while fragments may live (RFC 6864), and
 * must differ between stack instances. Statistical bounds are derived from
 * the counts, never from wall-clock time (the clock is virtual).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include "core/stack.h"
#include "net/ipv4/ip.h"
#include "netpath/netpath.h"
#include "netpath/socket.h"
#include "../cable_pair.h"

#define SRC 0x0a000001u
#define PEER 0x0a000002u
#define MS 1000000ull

struct env {
	struct np_clock *clk;
	struct np_stack *s;
};

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	e->clk = np_clock_virtual(1000 * MS);
	struct np_stack_config cfg = { .name = "ipid", .clock = e->clk, .seed = 11 };
	e->s = np_stack_create(&cfg);
	assert_non_null(e->s);
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;
	np_stack_destroy(e->s);
	np_clock_destroy(e->clk);
	free(e);
	return 0;
}

static uint16_t id_to(struct env *e, uint32_t daddr) { return ip_select_ident(e->s, SRC, daddr, 17, 1); }

/* Within one millisecond one flow's IDs count up by one, and 65,535 in a row are all distinct. */
static void test_unique_per_flow(void **state)
{
	struct env *e = *state;
	static uint8_t seen[65536];
	memset(seen, 0, sizeof(seen));
	uint16_t prev = id_to(e, PEER);
	seen[prev] = 1;
	for (int i = 1; i < 65535; i++) {
		uint16_t id = id_to(e, PEER);
		assert_int_equal((uint16_t)(id - prev), 1);
		assert_int_equal(seen[id], 0);
		seen[id] = 1;
		prev = id;
	}
}

/*
 * Between two datagrams to PEER the stack sends 20 to other destinations.
 * A global counter would step PEER's IDs by 21 every time; with hashed
 * buckets PEER's step is 1 plus the few of those 20 that share its bucket
 * (1 in 2048 each: about 1% of steps are 2 or more).
 */
static void test_other_flows_invisible(void **state)
{
	struct env *e = *state;
	uint32_t other = 0x0b000000u;
	uint16_t prev = id_to(e, PEER);
	int exact = 0, steps = 1000;
	uint64_t total = 0;
	for (int i = 0; i < steps; i++) {
		for (int k = 0; k < 20; k++)
			id_to(e, other++);
		uint16_t id = id_to(e, PEER);
		uint16_t step = (uint16_t)(id - prev);
		exact += step == 1;
		total += step;
		prev = id;
	}
	assert_true(exact >= steps * 95 / 100);
	assert_true(total < (uint64_t)steps * 3 / 2);
}

/*
 * After an idle gap of G ms a bucket jumps by 1 + U[0, G): 400 gaps of
 * 1000 ms give steps in [1, 1000] whose mean is 500.5 +- 5 sigma
 * (sigma = 1000 / sqrt(12 * 400) = 14.4), and not all the same.
 */
static void test_idle_jump(void **state)
{
	struct env *e = *state;
	uint16_t prev = id_to(e, PEER);
	double sum = 0;
	int distinct = 0;
	uint16_t first_step = 0;
	for (int i = 0; i < 400; i++) {
		np_clock_set(e->clk, np_clock_now(e->clk) + 1000 * MS);
		uint16_t id = id_to(e, PEER);
		uint16_t step = (uint16_t)(id - prev);
		assert_true(step >= 1 && step <= 1000);
		if (i == 0)
			first_step = step;
		distinct += step != first_step;
		sum += step;
		prev = id;
	}
	double mean = sum / 400, sigma = 1000.0 / sqrt(12.0 * 400);
	assert_true(fabs(mean - 500.5) < 5 * sigma);
	assert_true(distinct > 300);
}

/* Two unseeded stacks (secrets from getrandom) choose unrelated IDs for the same 1,000 flows. */
static void test_per_stack(void **state)
{
	(void)state;
	struct np_clock *c = np_clock_virtual(1000 * MS);
	struct np_stack_config ca = { .name = "x", .clock = c }, cb = { .name = "y", .clock = c };
	struct np_stack *a = np_stack_create(&ca), *b = np_stack_create(&cb);
	assert_non_null(a);
	assert_non_null(b);
	int same = 0;
	for (uint32_t d = 0; d < 1000; d++) {
		uint16_t a1 = ip_select_ident(a, SRC, 0x0c000000u + d, 6, 1), b1 = ip_select_ident(b, SRC, 0x0c000000u + d, 6, 1);
		same += a1 == b1;
	}
	assert_true(same <= 3); /* 1000 / 65536 expected */
	np_stack_destroy(a);
	np_stack_destroy(b);
	np_clock_destroy(c);
}

/* A GSO super-packet of 10 segments takes 10 IDs: the next datagram's ID follows the last segment's. */
static void test_gso_reserves(void **state)
{
	struct env *e = *state;
	uint16_t first = ip_select_ident(e->s, SRC, PEER, 6, 10);
	uint16_t next = ip_select_ident(e->s, SRC, PEER, 6, 1);
	assert_int_equal((uint16_t)(next - first), 10);
}

/* ---- which ID a datagram gets on the wire (Linux's ip_select_ident_segs) ---- */

struct wire_id {
	uint8_t proto;
	uint16_t sport, id;
	uint8_t flags;          /* TCP flags */
};

/* Reads back IPv4 frames from src (4 bytes) in a capture: their ports, IDs and TCP flags. */
static int read_ids(const char *path, const char *src, struct wire_id *w, int max)
{
	char err[PCAP_ERRBUF_SIZE];
	pcap_t *p = pcap_open_offline(path, err);
	assert_non_null(p);
	struct pcap_pkthdr *h;
	const u_char *d;
	int n = 0;
	while (n < max && pcap_next_ex(p, &h, &d) == 1) {
		if (h->caplen < 14 + 20 + 8 || d[12] != 0x08 || d[13] != 0x00)
			continue;
		const u_char *ip = d + 14, *l4 = ip + (ip[0] & 15) * 4;
		if (memcmp(ip + 12, src, 4) != 0)
			continue;
		if (ip[9] == 6 && h->caplen < 14 + 20 + 20)
			continue;
		w[n] = (struct wire_id){ .proto = ip[9], .sport = (uint16_t)(l4[0] << 8 | l4[1]),
					 .id = (uint16_t)(ip[4] << 8 | ip[5]), .flags = ip[9] == 6 ? l4[13] : 0 };
		n++;
	}
	pcap_close(p);
	return n;
}

static void test_ids_on_the_wire(void **state)
{
	(void)state;
	struct tnet *n = tnet_new(77);
	char path[] = "/tmp/np-ipid-XXXXXX";
	int tfd = mkstemp(path);
	assert_true(tfd >= 0);
	close(tfd);
	int err;
	struct np_capture *cap = np_capture_open(path, &err);
	assert_non_null(cap);
	assert_int_equal(np_dev_capture(n->d[0], cap), 0);

	struct sockaddr_in b9 = { .sin_family = AF_INET, .sin_port = htons(9) };
	b9.sin_addr.s_addr = htonl(0x0a000002);
	int sink = np_socket(n->s[1], AF_INET, SOCK_DGRAM, 0);   /* so that B answers no port unreachable */
	struct sockaddr_in any9 = { .sin_family = AF_INET, .sin_port = htons(9) };
	assert_int_equal(np_bind(sink, (struct sockaddr *)&any9, sizeof(any9)), 0);
	int conn = np_socket(n->s[0], AF_INET, SOCK_DGRAM, 0);
	int want = np_socket(n->s[0], AF_INET, SOCK_DGRAM, 0);
	int dofd = np_socket(n->s[0], AF_INET, SOCK_DGRAM, 0);
	int pmtu = IP_PMTUDISC_DO;
	assert_int_equal(np_setsockopt(dofd, IPPROTO_IP, IP_MTU_DISCOVER, &pmtu, sizeof(pmtu)), 0);
	assert_int_equal(np_connect(conn, (struct sockaddr *)&b9, sizeof(b9)), 0);
	/* The connected socket's datagrams interleaved with others' to the same peer. */
	for (int i = 0; i < 3; i++) {
		assert_int_equal(np_send(conn, "c", 1, 0), 1);
		assert_int_equal(np_sendto(want, "w", 1, 0, (struct sockaddr *)&b9, sizeof(b9)), 1);
		assert_int_equal(np_sendto(dofd, "d", 1, 0, (struct sockaddr *)&b9, sizeof(b9)), 1);
		tnet_sim(n, 1);
	}
	/* A SYN to a closed port of B's draws B's RST: a control segment of no socket is atomic, ID 0. */
	int tcp = np_socket(n->s[0], AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	struct sockaddr_in b1 = b9;
	b1.sin_port = htons(1);
	np_connect(tcp, (struct sockaddr *)&b1, sizeof(b1));
	tnet_sim(n, 5);
	/* A TCP connection: every segment A's socket sends (SYN, ACKs, data) takes its counter in turn. */
	int lfd = np_socket(n->s[1], AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	struct sockaddr_in any5 = { .sin_family = AF_INET, .sin_port = htons(5000) };
	assert_int_equal(np_bind(lfd, (struct sockaddr *)&any5, sizeof(any5)), 0);
	assert_int_equal(np_listen(lfd, 4), 0);
	int cli = np_socket(n->s[0], AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	struct sockaddr_in b5 = b9;
	b5.sin_port = htons(5000);
	np_connect(cli, (struct sockaddr *)&b5, sizeof(b5));
	tnet_sim(n, 5);
	int one = 1;
	assert_int_equal(np_setsockopt(cli, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)), 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(np_send(cli, "abc", 3, 0), 3);
		tnet_sim(n, 1);
	}
	tnet_sim(n, 100);
	np_dev_capture(n->d[0], NULL);
	np_capture_close(cap);

	struct wire_id w[64], wb[64];
	int k = read_ids(path, "\x0a\x00\x00\x01", w, 64);
	int kb = read_ids(path, "\x0a\x00\x00\x02", wb, 64);
	unlink(path);
	int rst = 0;
	for (int i = 0; i < kb; i++) {
		if (wb[i].proto == 6 && (wb[i].flags & 0x04)) {
			assert_int_equal(wb[i].id, 0);
			rst++;
		}
	}
	assert_int_equal(rst, 1);
	uint16_t pt = tnet_local_port(cli);
	int nt = 0;
	uint16_t t0 = 0;
	for (int i = 0; i < k; i++) {
		if (w[i].proto != 6 || w[i].sport != pt)
			continue;
		if (nt == 0)
			t0 = w[i].id;
		assert_int_equal(w[i].id, (uint16_t)(t0 + nt));
		nt++;
	}
	assert_true(nt >= 5);   /* SYN, the handshake's ACK, three data segments (and any ACK) */
	uint16_t pc = tnet_local_port(conn), pw = tnet_local_port(want), pd = tnet_local_port(dofd);
	int nc = 0, nw = 0, nd = 0;
	uint16_t c0 = 0, w0 = 0;
	for (int i = 0; i < k; i++) {
		if (w[i].proto == 17 && w[i].sport == pc) {
			/* Connected: its own counter, one up per datagram whatever others send. */
			if (nc == 0)
				c0 = w[i].id;
			assert_int_equal(w[i].id, (uint16_t)(c0 + nc));
			nc++;
		} else if (w[i].proto == 17 && w[i].sport == pw) {
			/* Unconnected, PMTU "want" (may be fragmented): the keyed bucket's sequence. */
			if (nw == 0)
				w0 = w[i].id;
			assert_int_equal(w[i].id, (uint16_t)(w0 + nw));
			nw++;
		} else if (w[i].proto == 17 && w[i].sport == pd) {
			assert_int_equal(w[i].id, 0);   /* DF that nobody may fragment: atomic, ID 0 */
			nd++;
		}
	}
	assert_int_equal(nc, 3);
	assert_int_equal(nw, 3);
	assert_int_equal(nd, 3);
	/* The connected socket's start is its own random one, not the bucket's. */
	assert_int_not_equal(c0, w0);
	np_close(conn);
	np_close(want);
	np_close(dofd);
	np_close(tcp);
	np_close(cli);
	np_close(lfd);
	np_close(sink);
	tnet_free(n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_unique_per_flow, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_flows_invisible, setup, teardown),
		cmocka_unit_test_setup_teardown(test_idle_jump, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gso_reserves, setup, teardown),
		cmocka_unit_test(test_per_stack),
		cmocka_unit_test(test_ids_on_the_wire),
	};
	return cmocka_run_group_tests_name("ip_ident", tests, NULL, NULL);
}
