/*
 * Scenario: TCP over the virtual cable with segmentation and checksum
 * offloads (np_dev_set_offload): super-packets cross the cable whole when
 * both ends have offloads on, are cut by software GSO when the receiving end
 * has them off, and faults (loss drops a whole super-packet, corruption is
 * caught by the receiver's checksum) still leave the transfer intact:
 * SHA-256 of what was sent equals what arrived, both ways.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "scenarios/tcp_net.h"

/* Runs a transfer of bytes each way; offload[i] for end i; returns the sender A's device stats. */
static void run(uint64_t seed, uint64_t bytes, const int offload[2], const char *faults, struct np_dev_stats st[2])
{
	struct tnet *n = tnet_new(seed);
	for (int i = 0; i < 2; i++)
		assert_int_equal(np_dev_set_offload(n->d[i], offload[i]), offload[i]);
	tn_faults_ok(n, faults, seed);
	int c, s;
	int lfd = tn_pair_ok(n, 5001, &c, &s);

	tn_transfer_ok(n, c, s, bytes, seed, 0);
	assert_int_equal(np_stack_mib(n->s[0], NP_MIB_TcpEstabResets) + np_stack_mib(n->s[1], NP_MIB_TcpEstabResets), 0);
	np_dev_stats(n->d[0], &st[0]);
	np_dev_stats(n->d[1], &st[1]);
	print_message("seed %llu offload %d/%d faults %s: A tx %llu frames %llu bytes, B rx %llu frames; "
		      "retrans %llu/%llu csumerr %llu/%llu gso drops %llu\n",
		      (unsigned long long)seed, offload[0], offload[1], faults ? faults : "none",
		      (unsigned long long)st[0].tx_packets, (unsigned long long)st[0].tx_bytes,
		      (unsigned long long)st[1].rx_packets,
		      (unsigned long long)np_stack_mib(n->s[0], NP_MIB_TcpRetransSegs),
		      (unsigned long long)np_stack_mib(n->s[1], NP_MIB_TcpRetransSegs),
		      (unsigned long long)np_stack_mib(n->s[0], NP_MIB_TcpInCsumErrors),
		      (unsigned long long)np_stack_mib(n->s[1], NP_MIB_TcpInCsumErrors),
		      (unsigned long long)np_stack_drops(n->s[0], NP_DROP_SKB_GSO_SEG));
	tn_pair_free(n, lfd, c, s);
}

/* Both ends on: frames average far above the MTU (super-packets crossed whole). */
static void test_offload_both_ends(void **state)
{
	(void)state;
	struct np_dev_stats st[2];
	const int on[2] = { 1, 1 };
	run(21, 8u << 20, on, NULL, st);
	assert_true(st[0].tx_bytes / st[0].tx_packets > 4000);
	assert_true(st[1].rx_bytes / st[1].rx_packets > 4000);
}

/* Sender on, receiver off: the cable segments in software, so nothing over the MTU arrives. */
static void test_offload_one_end(void **state)
{
	(void)state;
	struct np_dev_stats st[2];
	const int on[2] = { 1, 0 };
	run(22, 4u << 20, on, NULL, st);
	assert_true(st[1].rx_bytes / st[1].rx_packets <= 1514);
	/* At least one data frame per MSS reached B. */
	assert_true(st[1].rx_packets >= (4u << 20) / 1448);
}

/* Loss, reordering, duplication and corruption with offloads on: the data still arrives intact. */
static void test_offload_faults(void **state)
{
	(void)state;
	struct np_dev_stats st[2];
	const int on[2] = { 1, 1 };
	for (uint64_t seed = 1; seed <= 3; seed++)
		run(seed, 4u << 20, on, "loss=2%,reorder=5%,dup=1%,corrupt=2%", st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_offload_both_ends),
		cmocka_unit_test(test_offload_one_end),
		cmocka_unit_test(test_offload_faults),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
