/*
 * Scenario: UDP datagrams bigger than the link MTU between two stacks on the
 * virtual cable, through the public API only (netpath.h, socket.h).
 *   A (10.0.0.1/24) eth0 <==cable==> eth0 B (10.0.0.2/24)
 * A sends 20,000-byte datagrams; ip_fragment splits them at A, ip_defrag
 * joins them at B, B echoes them back the same way. At MTU 1500 and 576,
 * in order and with the cable reordering frames, and IP_PMTUDISC_DO still
 * refusing with EMSGSIZE.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "netpath/netpath.h"
#include "netpath/socket.h"

#define MS 1000000ull
#define T0 (1000 * MS)
#define DGRAM 20000

struct net {
	struct np_clock *clk;
	struct np_stack *s[2];
	struct np_dev *d[2];
	uint64_t now;
};

static int setup(void **state)
{
	struct net *n = calloc(1, sizeof(*n));
	n->clk = np_clock_virtual(T0);
	n->now = T0;
	for (int i = 0; i < 2; i++) {
		struct np_stack_config cfg = { .name = i ? "B" : "A", .clock = n->clk, .seed = (uint64_t)(900 + i) };
		n->s[i] = np_stack_create(&cfg);
		assert_non_null(n->s[i]);
	}
	assert_int_equal(np_cable_create(n->s[0], "eth0", n->s[1], "eth0", &n->d[0], &n->d[1]), 0);
	assert_int_equal(np_addr_add(n->d[0], "10.0.0.1/24"), 0);
	assert_int_equal(np_addr_add(n->d[1], "10.0.0.2/24"), 0);
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

static void sim(struct net *n, uint64_t ms)
{
	n->now += ms * MS;
	assert_int_equal(np_sim_run(n->s, 2, n->clk, n->now), 0);
}

static int udp_bound(struct np_stack *s, const char *ip, uint16_t port)
{
	int fd = np_socket(s, AF_INET, SOCK_DGRAM, 0);
	assert_true(fd >= 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	assert_int_equal(inet_pton(AF_INET, ip, &a.sin_addr), 1);
	assert_int_equal(np_bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

static uint64_t mib(struct net *n, int i, enum np_mib_field f) { return np_stack_mib(n->s[i], f); }

/* count datagrams of DGRAM bytes A -> B, each echoed back by B; all arrive intact. */
static void exchange(struct net *n, unsigned mtu, int count)
{
	static uint8_t out[DGRAM], in[DGRAM + 100];
	assert_int_equal(np_dev_set_mtu(n->d[0], mtu), 0);
	assert_int_equal(np_dev_set_mtu(n->d[1], mtu), 0);
	int a = udp_bound(n->s[0], "10.0.0.1", 4000);
	int b = udp_bound(n->s[1], "10.0.0.2", 7);
	struct sockaddr_in to_b = { .sin_family = AF_INET, .sin_port = htons(7) };
	inet_pton(AF_INET, "10.0.0.2", &to_b.sin_addr);
	uint64_t frag_oks = mib(n, 0, NP_MIB_IpFragOKs), creates = mib(n, 0, NP_MIB_IpFragCreates);
	uint64_t reasm_b = mib(n, 1, NP_MIB_IpReasmOKs), reasm_a = mib(n, 0, NP_MIB_IpReasmOKs);
	unsigned per = (DGRAM + 8 + ((mtu - 20) & ~7u) - 1) / ((mtu - 20) & ~7u);

	for (int k = 0; k < count; k++) {
		for (size_t i = 0; i < DGRAM; i++)
			out[i] = (uint8_t)(i * 7 + (size_t)k * 13 + mtu);
		assert_int_equal(np_sendto(a, out, DGRAM, 0, (struct sockaddr *)&to_b, sizeof(to_b)), DGRAM);
		sim(n, 50);
		struct sockaddr_in from;
		socklen_t fl = sizeof(from);
		ssize_t r = np_recvfrom(b, in, sizeof(in), MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
		assert_int_equal(r, DGRAM);
		assert_memory_equal(in, out, DGRAM);
		assert_int_equal(ntohs(from.sin_port), 4000);
		/* The echo goes back fragmented the same way. */
		assert_int_equal(np_sendto(b, in, (size_t)r, 0, (struct sockaddr *)&from, fl), DGRAM);
		sim(n, 50);
		memset(in, 0, sizeof(in));
		assert_int_equal(np_recv(a, in, sizeof(in), MSG_DONTWAIT), DGRAM);
		assert_memory_equal(in, out, DGRAM);
	}
	assert_int_equal(mib(n, 0, NP_MIB_IpFragOKs), frag_oks + (uint64_t)count);
	assert_int_equal(mib(n, 0, NP_MIB_IpFragCreates), creates + (uint64_t)count * per);
	assert_int_equal(mib(n, 1, NP_MIB_IpReasmOKs), reasm_b + (uint64_t)count);
	assert_int_equal(mib(n, 0, NP_MIB_IpReasmOKs), reasm_a + (uint64_t)count);
	assert_int_equal(mib(n, 1, NP_MIB_IpReasmFails), 0);
	assert_int_equal(mib(n, 1, NP_MIB_UdpInDatagrams), mib(n, 0, NP_MIB_UdpOutDatagrams));

	/* IP_PMTUDISC_DO: the socket wants no fragmentation, so EMSGSIZE. */
	int v = IP_PMTUDISC_DO;
	assert_int_equal(np_setsockopt(a, IPPROTO_IP, IP_MTU_DISCOVER, &v, sizeof(v)), 0);
	assert_int_equal(np_sendto(a, out, DGRAM, 0, (struct sockaddr *)&to_b, sizeof(to_b)), -1);
	assert_int_equal(errno, EMSGSIZE);
	/* The largest UDP datagram IPv4 carries, 65,507 bytes, still goes with the default. */
	v = IP_PMTUDISC_WANT;
	assert_int_equal(np_setsockopt(a, IPPROTO_IP, IP_MTU_DISCOVER, &v, sizeof(v)), 0);
	static uint8_t huge[65507], huge_in[65536];
	for (size_t i = 0; i < sizeof(huge); i++)
		huge[i] = (uint8_t)(i ^ (i >> 8));
	int rcvbuf = 1 << 20;
	assert_int_equal(np_setsockopt(b, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)), 0);
	assert_int_equal(np_sendto(a, huge, sizeof(huge), 0, (struct sockaddr *)&to_b, sizeof(to_b)), 65507);
	sim(n, 100);
	assert_int_equal(np_recv(b, huge_in, sizeof(huge_in), MSG_DONTWAIT), 65507);
	assert_memory_equal(huge_in, huge, sizeof(huge));
	np_close(a);
	np_close(b);
}

static void test_udp_20000_mtu1500(void **state) { exchange(*state, 1500, 5); }
static void test_udp_20000_mtu576(void **state) { exchange(*state, 576, 5); }

/* The cable reorders frames: reassembly does not care about arrival order. */
static void test_udp_20000_reordered(void **state)
{
	struct net *n = *state;
	const char *err = NULL;
	assert_int_equal(np_dev_set_faults(n->d[0], NP_TX, "reorder=30%,seed=5", &err), 0);
	assert_int_equal(np_dev_set_faults(n->d[1], NP_TX, "reorder=30%,seed=6", &err), 0);
	exchange(n, 576, 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_udp_20000_mtu1500, setup, teardown),
		cmocka_unit_test_setup_teardown(test_udp_20000_mtu576, setup, teardown),
		cmocka_unit_test_setup_teardown(test_udp_20000_reordered, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
