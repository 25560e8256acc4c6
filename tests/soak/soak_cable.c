/*
 * Soak driver (tests/soak/run.sh, path "cable"): two netpath stacks joined by
 * the in-process virtual cable on one virtual clock, a bulk TCP transfer in
 * both directions at once through netpath's fault injector, SHA-256 checked
 * each way.
 *   A (10.0.0.1/24) eth0 <==cable==> eth0 B (10.0.0.2/24)
 *   each side's transmit: dev_hard_start_xmit -> faults_apply (link model
 *   delay+rate, plus loss/reorder/dup/corrupt) -> the cable -> the peer
 * A virtual clock makes a run deterministic (seed in, same faults out), so a
 * failure reproduces exactly with the printed command. The cable alone has
 * no speed, so a link model (default 100 us one-way delay, 1 Gbit/s) is
 * applied on both transmit sides; goodput is then measured in that link's
 * virtual time, and the wall-clock time the run took is printed beside it.
 * The applications are infinitely fast: they read and write whenever the
 * stacks have run to idle.
 * Prints one "SOAK key=value ..." line; exits 0 when both directions
 * arrived whole with equal digests and no connection aborted, 1 otherwise.
 */
#include <stdint.h>
#include <time.h>

#include "scenarios/tcp_net.h"

static void usage(void)
{
	fprintf(stderr, "usage: soak_cable [--bytes N] [--faults SPEC] [--link SPEC] [--seed N] [--stall-sec S]\n"
			"  --bytes N      bytes each way (default 100 MiB)\n"
			"  --faults SPEC  netpath fault spec added on both transmit sides, e.g.\n"
			"                 loss=1%%,reorder=5%%,dup=1%%,corrupt=0.1%% (default: none)\n"
			"  --link SPEC    the link model on both transmit sides (default delay=100us,rate=1gbit)\n"
			"  --seed N       seeds the stacks, the injector and the data (default 1)\n"
			"  --stall-sec S  virtual seconds without progress that count as an abort (default 600)\n");
	exit(2);
}

/* Runs both stacks to idle at the current instant, or to the next timer when nothing is pending. */
static void step(struct tnet *n, int advance)
{
	if (!advance) {
		np_sim_run(n->s, 2, n->clk, n->now);
		return;
	}
	uint64_t t = np_stack_next_timer(n->s[0]), t2 = np_stack_next_timer(n->s[1]);
	if (t2 < t)
		t = t2;
	if (t == UINT64_MAX || t <= n->now)
		t = n->now + 1000 * TN_MS;   /* nothing armed: let a second pass */
	n->now = t;
	np_sim_run(n->s, 2, n->clk, n->now);
}

static double wall_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void hex(const uint8_t *h, char *out)
{
	for (int i = 0; i < 32; i++)
		sprintf(out + 2 * i, "%02x", h[i]);
}

int main(int argc, char **argv)
{
	uint64_t bytes = 100ull << 20, seed = 1, stall_sec = 600;
	const char *faults = "", *link = "delay=100us,rate=1gbit";
	for (int i = 1; i < argc; i++) {
		if (i + 1 >= argc)
			usage();
		if (!strcmp(argv[i], "--bytes"))
			bytes = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--faults"))
			faults = argv[++i];
		else if (!strcmp(argv[i], "--link"))
			link = argv[++i];
		else if (!strcmp(argv[i], "--seed"))
			seed = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--stall-sec"))
			stall_sec = strtoull(argv[++i], NULL, 0);
		else
			usage();
	}
	if (bytes == 0 || seed == 0)
		usage();

	double w0 = wall_now();
	struct tnet *n = tnet_new(seed);
	/* One spec per transmit side, each with its own injector seed: both directions are impaired. */
	for (int i = 0; i < 2; i++) {
		char spec[512];
		snprintf(spec, sizeof(spec), "%s%s%s,seed=%llu", link, *link && *faults ? "," : "", faults,
			 (unsigned long long)(seed * 10 + (uint64_t)i));
		const char *errpos = NULL;
		if (np_dev_set_faults(n->d[i], NP_TX, spec, &errpos) < 0) {
			fprintf(stderr, "soak_cable: bad fault spec '%s' at '%s'\n", spec, errpos ? errpos : "?");
			return 2;
		}
	}

	int lfd = tn_listen(n, 1, TN_B_IP, 5001, 8);
	int c = tn_connect(n, 0, TN_B_IP, 5001);
	if (lfd < 0 || c < 0) {
		fprintf(stderr, "soak_cable: listen/connect failed: %s\n", strerror(errno));
		return 1;
	}
	/* Up to 10 virtual minutes to connect: under loss the SYN or SYN-ACK may need many retries. */
	int s = -1;
	uint64_t t_conn = n->now;
	while (s < 0 && n->now - t_conn < 600ull * 1000 * TN_MS) {
		step(n, 1);
		s = np_accept(lfd, NULL, NULL);
	}
	if (s < 0) {
		printf("SOAK path=cable seed=%llu bytes=%llu aborted=1 why=no_accept\n", (unsigned long long)seed,
		       (unsigned long long)bytes);
		return 1;
	}
	tn_nonblock(s);

	struct tn_side x[2];
	uint64_t done_ns[2] = { 0, 0 };   /* virtual time each side saw its peer's EOF */
	memset(x, 0, sizeof(x));
	x[0].fd = c;
	x[1].fd = s;
	for (int i = 0; i < 2; i++) {
		x[i].to_send = bytes;
		x[i].chunk = 16384;
		x[i].g.x = seed * 7919 + (uint64_t)i + 1;
		tn_sha256_init(&x[i].tx);
		tn_sha256_init(&x[i].rx);
	}
	uint64_t t0 = n->now, last_progress = n->now;
	const char *why = NULL;
	while (!(x[0].eof && x[1].eof)) {
		uint64_t m = tn_pump(&x[0]) + tn_pump(&x[1]);
		for (int i = 0; i < 2; i++)
			if (x[i].eof && !done_ns[i])
				done_ns[i] = n->now;
		if (x[0].err || x[1].err) {
			why = "socket_error";
			break;
		}
		if (m) {
			last_progress = n->now;
			step(n, 0);      /* the stacks send what was written, at this instant */
		} else {
			if (n->now - last_progress > stall_sec * 1000 * TN_MS) {
				why = "stall";
				break;
			}
			step(n, 1);
		}
	}
	double wall = wall_now() - w0;

	uint8_t h[4][32];
	tn_sha256_final(&x[0].tx, h[0]);
	tn_sha256_final(&x[1].rx, h[1]);
	tn_sha256_final(&x[1].tx, h[2]);
	tn_sha256_final(&x[0].rx, h[3]);
	int sha_ab = x[1].rcvd == bytes && !memcmp(h[0], h[1], 32);
	int sha_ba = x[0].rcvd == bytes && !memcmp(h[2], h[3], 32);
	uint64_t resets = np_stack_mib(n->s[0], NP_MIB_TcpEstabResets) + np_stack_mib(n->s[1], NP_MIB_TcpEstabResets);
	int aborted = why != NULL || resets != 0;
	/* A->B completes when B reads A's EOF, B->A when A reads B's. */
	double t_ab = x[1].eof ? (double)(done_ns[1] - t0) / 1e9 : 0;
	double t_ba = x[0].eof ? (double)(done_ns[0] - t0) / 1e9 : 0;
	char hx[65];
	hex(h[1], hx);
	printf("SOAK path=cable seed=%llu bytes=%llu faults=%s link=%s"
	       " ab_s=%.3f ab_MBps=%.2f ba_s=%.3f ba_MBps=%.2f wall_s=%.2f"
	       " retrans_a=%llu retrans_b=%llu timeouts_a=%llu timeouts_b=%llu fastretrans_a=%llu fastretrans_b=%llu"
	       " csumerr_a=%llu csumerr_b=%llu injected_loss=%llu resets=%llu"
	       " rcvd_ab=%llu rcvd_ba=%llu sha_ab=%s sha_ba=%s aborted=%d why=%s sha_b_rx=%s\n",
	       (unsigned long long)seed, (unsigned long long)bytes, *faults ? faults : "none", link, t_ab,
	       t_ab > 0 ? (double)bytes / t_ab / 1e6 : 0, t_ba, t_ba > 0 ? (double)bytes / t_ba / 1e6 : 0, wall,
	       (unsigned long long)np_stack_mib(n->s[0], NP_MIB_TcpRetransSegs),
	       (unsigned long long)np_stack_mib(n->s[1], NP_MIB_TcpRetransSegs),
	       (unsigned long long)np_stack_mib(n->s[0], NP_MIB_TcpExtTCPTimeouts),
	       (unsigned long long)np_stack_mib(n->s[1], NP_MIB_TcpExtTCPTimeouts),
	       (unsigned long long)np_stack_mib(n->s[0], NP_MIB_TcpExtTCPFastRetrans),
	       (unsigned long long)np_stack_mib(n->s[1], NP_MIB_TcpExtTCPFastRetrans),
	       (unsigned long long)np_stack_mib(n->s[0], NP_MIB_TcpInCsumErrors),
	       (unsigned long long)np_stack_mib(n->s[1], NP_MIB_TcpInCsumErrors),
	       (unsigned long long)(np_stack_drops(n->s[0], NP_DROP_FAULT_INJECTED_LOSS) +
				    np_stack_drops(n->s[1], NP_DROP_FAULT_INJECTED_LOSS)),
	       (unsigned long long)resets, (unsigned long long)x[1].rcvd, (unsigned long long)x[0].rcvd,
	       sha_ab ? "ok" : "MISMATCH", sha_ba ? "ok" : "MISMATCH", aborted, why ? why : "none", hx);
	if (why)
		fprintf(stderr, "soak_cable: %s (A: sent %llu rcvd %llu err %s; B: sent %llu rcvd %llu err %s)\n", why,
			(unsigned long long)x[0].sent, (unsigned long long)x[0].rcvd, strerror(x[0].err),
			(unsigned long long)x[1].sent, (unsigned long long)x[1].rcvd, strerror(x[1].err));

	np_close(c);
	np_close(s);
	np_close(lfd);
	tnet_sim(n, 100);
	tnet_free(n);
	return sha_ab && sha_ba && !aborted ? 0 : 1;
}
