/*
 * Scenario: VLAN 100 between two stacks over the virtual cable.
 *   A: eth0 10.0.0.1/24, eth0.100 10.100.0.1/24 (and eth0.200 10.200.0.1/24)
 *   B: eth0 10.0.0.2/24, eth0.100 10.100.0.2/24
 * Ping and UDP work on the VLAN and every frame of it on the wire carries
 * the tag; untagged traffic stays on the parents; VLAN 200, which B lacks,
 * is dropped by B with VLAN_UNKNOWN. Also a tbf on the VLAN's parent shapes
 * the VLAN's traffic (the qdisc sits under dev_queue_xmit of each device).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/netdevice.h"
#include "core/stack.h"
#include "netpath/netpath.h"
#include "netpath/socket.h"
#include "wire/eth.h"

#define T0 (1000 * NSEC_PER_MSEC)
#define PING_ID 0x4242

struct net {
	struct np_clock *clk;
	struct np_stack *s[2];
	struct np_dev *eth[2], *vlan[2];
};

static int setup(void **state)
{
	struct net *n = calloc(1, sizeof(*n));
	n->clk = np_clock_virtual(T0);
	for (int i = 0; i < 2; i++) {
		struct np_stack_config cfg = { .name = i ? "B" : "A", .clock = n->clk, .seed = (uint64_t)(7 + i) };
		n->s[i] = np_stack_create(&cfg);
		assert_non_null(n->s[i]);
	}
	assert_int_equal(np_cable_create(n->s[0], "eth0", n->s[1], "eth0", &n->eth[0], &n->eth[1]), 0);
	for (int i = 0; i < 2; i++) {
		int err;
		n->vlan[i] = np_vlan_add(n->eth[i], 100, NULL, &err);
		assert_non_null(n->vlan[i]);
		char a[32];
		snprintf(a, sizeof(a), "10.0.0.%d/24", i + 1);
		assert_int_equal(np_addr_add(n->eth[i], a), 0);
		snprintf(a, sizeof(a), "10.100.0.%d/24", i + 1);
		assert_int_equal(np_addr_add(n->vlan[i], a), 0);
	}
	*state = n;
	return 0;
}

static int teardown(void **state)
{
	struct net *n = *state;
	np_stack_destroy(n->s[0]);
	np_stack_destroy(n->s[1]);
	np_clock_destroy(n->clk);
	free(n);
	return 0;
}

static void sim(struct net *n, uint64_t dt)
{
	assert_int_equal(np_sim_run(n->s, 2, n->clk, np_clock_now(n->clk) + dt), 0);
}

static struct net_device *ND(struct np_dev *d) { return (struct net_device *)d; }

struct ping_ctx {
	int replies;
	struct in_addr last_from;
};

static void on_reply(void *arg, const struct np_ping_reply *r)
{
	struct ping_ctx *c = arg;
	if (!r->error_type) {
		c->replies++;
		c->last_from = r->from;
	}
}

static int ping(struct net *n, const char *dst, int count, struct ping_ctx *c)
{
	struct in_addr d;
	inet_pton(AF_INET, dst, &d);
	memset(c, 0, sizeof(*c));
	assert_int_equal(np_ping_handler(n->s[0], PING_ID, on_reply, c), 0);
	for (int i = 0; i < count; i++) {
		assert_true(np_ping_send(n->s[0], d, PING_ID, (uint16_t)i, 56) >= 0);
		sim(n, 10 * NSEC_PER_MSEC);
	}
	sim(n, 200 * NSEC_PER_MSEC);
	return c->replies;
}

static void test_ping_on_vlan(void **state)
{
	struct net *n = *state;
	struct ping_ctx c;
	assert_int_equal(ping(n, "10.100.0.2", 5, &c), 5);
	/* B saw them on its VLAN device: ARP request + 5 echoes. */
	assert_int_equal(ND(n->vlan[1])->stats.rx_packets, 6);
	/* A's replies came in on A's VLAN device too. */
	assert_int_equal(ND(n->vlan[0])->stats.rx_packets, 6);
	/* The parent carried the tag: 4 bytes more per frame than the VLAN device counted. */
	assert_int_equal(ND(n->eth[1])->stats.rx_bytes, ND(n->vlan[1])->stats.rx_bytes + 6 * VLAN_HLEN);
	assert_int_equal(np_stack_drops(n->s[1], NP_DROP_VLAN_UNKNOWN), 0);
}

static void test_untagged_stays_separate(void **state)
{
	struct net *n = *state;
	struct ping_ctx c;
	assert_int_equal(ping(n, "10.0.0.2", 3, &c), 3);
	/* Untagged: nothing reached either VLAN device. */
	assert_int_equal(ND(n->vlan[0])->stats.rx_packets, 0);
	assert_int_equal(ND(n->vlan[1])->stats.rx_packets, 0);
	assert_int_equal(ND(n->vlan[0])->stats.tx_packets, 0);
	uint64_t before = ND(n->vlan[1])->stats.rx_packets;
	assert_int_equal(ping(n, "10.100.0.2", 2, &c), 2);
	/* The VLAN's own neighbour entry was resolved on the VLAN: an ARP plus two echoes. */
	assert_int_equal(ND(n->vlan[1])->stats.rx_packets - before, 3);
}

static void test_udp_on_vlan(void **state)
{
	struct net *n = *state;
	int srv = np_socket(n->s[1], AF_INET, SOCK_DGRAM, 0);
	int cli = np_socket(n->s[0], AF_INET, SOCK_DGRAM, 0);
	assert_true(srv >= 0 && cli >= 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(5000) };
	inet_pton(AF_INET, "10.100.0.2", &a.sin_addr);
	assert_int_equal(np_bind(srv, (struct sockaddr *)&a, sizeof(a)), 0);
	char msg[1472];
	memset(msg, 'v', sizeof(msg));
	for (int i = 0; i < 10; i++)
		assert_int_equal(np_sendto(cli, msg, sizeof(msg), 0, (struct sockaddr *)&a, sizeof(a)), (ssize_t)sizeof(msg));
	sim(n, 100 * NSEC_PER_MSEC);
	char buf[2000];
	struct sockaddr_in from;
	socklen_t flen = sizeof(from);
	int got = 0;
	while (np_recvfrom(srv, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from, &flen) == (ssize_t)sizeof(msg))
		got++;
	assert_int_equal(got, 10);
	char src[32];
	inet_ntop(AF_INET, &from.sin_addr, src, sizeof(src));
	assert_string_equal(src, "10.100.0.1");
	/* Full-MTU datagrams on the VLAN: 1500-byte IP packets in 1518-byte tagged frames. */
	assert_true(ND(n->vlan[1])->stats.rx_packets >= 10);
	np_close(srv);
	np_close(cli);
}

static void test_unknown_vlan_dropped(void **state)
{
	struct net *n = *state;
	int err;
	struct np_dev *v200 = np_vlan_add(n->eth[0], 200, NULL, &err);
	assert_non_null(v200);
	assert_int_equal(np_addr_add(v200, "10.200.0.1/24"), 0);
	struct ping_ctx c;
	assert_int_equal(ping(n, "10.200.0.2", 2, &c), 0);
	/* A's ARP requests, tagged 200, reach B, which has no VLAN 200. */
	assert_true(np_stack_drops(n->s[1], NP_DROP_VLAN_UNKNOWN) >= 1);
	assert_true(ND(n->eth[1])->stats.rx_dropped >= 1);
	assert_int_equal(ND(n->vlan[1])->stats.rx_packets, 0);
}

static void test_tbf_on_parent_shapes_vlan(void **state)
{
	struct net *n = *state;
	assert_int_equal(np_dev_set_qdisc(n->eth[0], "tbf:rate=1mbit,burst=2k,latency=2s", NULL), 0);
	struct ping_ctx c;
	/* Warm the VLAN's neighbour entry first. */
	assert_int_equal(ping(n, "10.100.0.2", 1, &c), 1);
	int srv = np_socket(n->s[1], AF_INET, SOCK_DGRAM, 0);
	int cli = np_socket(n->s[0], AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(5001) };
	inet_pton(AF_INET, "10.100.0.2", &a.sin_addr);
	assert_int_equal(np_bind(srv, (struct sockaddr *)&a, sizeof(a)), 0);
	char msg[972];   /* 972 + 8 + 20 + 14 + 4 = 1018-byte tagged frames */
	memset(msg, 0, sizeof(msg));
	for (int i = 0; i < 20; i++)
		assert_int_equal(np_sendto(cli, msg, sizeof(msg), 0, (struct sockaddr *)&a, sizeof(a)), (ssize_t)sizeof(msg));
	uint64_t start = np_clock_now(n->clk);
	/* 20 * 1018 bytes at 1 Mbit/s, less the burst of 2 KiB: about 146 ms. */
	sim(n, 100 * NSEC_PER_MSEC);
	int got = 0;
	char buf[2000];
	while (np_recv(srv, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		got++;
	assert_true(got > 5 && got < 20);
	sim(n, 100 * NSEC_PER_MSEC);
	while (np_recv(srv, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		got++;
	assert_int_equal(got, 20);
	assert_true(np_clock_now(n->clk) - start >= 146 * NSEC_PER_MSEC);
	np_close(srv);
	np_close(cli);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_ping_on_vlan, setup, teardown),
		cmocka_unit_test_setup_teardown(test_untagged_stays_separate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_udp_on_vlan, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_vlan_dropped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tbf_on_parent_shapes_vlan, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
