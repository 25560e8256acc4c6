/*
 * Scenario: TCP over the virtual cable with GRO on at both ends (np_dev_set_gro,
 * offloads off): in-order segments received in one NAPI poll go up as one
 * super-packet, and the data still arrives byte-exact both ways (SHA-256),
 * also when each end's transmit side loses, reorders, duplicates and
 * corrupts frames (so GRO sees holes, repeats and bad checksums).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "scenarios/tcp_net.h"

/* Runs a transfer of bytes each way with GRO on both ends; returns B's device stats and TcpInSegs. */
static void run(uint64_t seed, uint64_t bytes, const char *faults, struct np_dev_stats *stb, uint64_t *insegs)
{
	struct tnet *n = tnet_new(seed);
	for (int i = 0; i < 2; i++)
		assert_int_equal(np_dev_set_gro(n->d[i], 1), 1);
	tn_faults_ok(n, faults, seed);
	int c, s;
	int lfd = tn_pair_ok(n, 5001, &c, &s);

	tn_transfer_ok(n, c, s, bytes, seed, 0);
	assert_int_equal(np_stack_mib(n->s[0], NP_MIB_TcpEstabResets) + np_stack_mib(n->s[1], NP_MIB_TcpEstabResets), 0);
	np_dev_stats(n->d[1], stb);
	*insegs = np_stack_mib(n->s[1], NP_MIB_TcpInSegs);
	print_message("seed %llu GRO faults %s: B rx %llu frames, TcpInSegs %llu; csumerr %llu/%llu\n",
		      (unsigned long long)seed, faults ? faults : "none", (unsigned long long)stb->rx_packets,
		      (unsigned long long)*insegs, (unsigned long long)np_stack_mib(n->s[0], NP_MIB_TcpInCsumErrors),
		      (unsigned long long)np_stack_mib(n->s[1], NP_MIB_TcpInCsumErrors));
	tn_pair_free(n, lfd, c, s);
}

/* Clean cable: data intact, and TCP ran fewer times than frames arrived (segments were merged). */
static void test_gro_transfer(void **state)
{
	(void)state;
	struct np_dev_stats st;
	uint64_t insegs;
	run(31, 4u << 20, NULL, &st, &insegs);
	assert_true(insegs < st.rx_packets);
}

/* Loss, reordering, duplication and corruption in front of GRO: the data still arrives intact. */
static void test_gro_faults(void **state)
{
	(void)state;
	struct np_dev_stats st;
	uint64_t insegs;
	for (uint64_t seed = 1; seed <= 3; seed++)
		run(seed, 2u << 20, "loss=2%,reorder=5%,dup=1%,corrupt=2%", &st, &insegs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gro_transfer),
		cmocka_unit_test(test_gro_faults),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
