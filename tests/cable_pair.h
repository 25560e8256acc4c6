/*
 * Two netpath stacks joined by the virtual cable on one shared virtual
 * clock: the bench most in-process tests drive (the TCP scenarios through
 * tcp_net.h, the netfilter unit tests directly). Public API only;
 * header-only (static functions) because CMake builds each test_*.c as its
 * own executable.
 *   s[0] (addr[0]) eth0 <==cable==> eth0 s[1] (addr[1])
 * Time moves only when a test says so (tnet_sim, tnet_sim_next), so every
 * run is the same run. With .threads the pair is the threaded model
 * instead: the real clock, each stack in a thread of its own
 * (np_stack_start), joined by tnet_free.
 */
#ifndef NP_TESTS_CABLE_PAIR_H
#define NP_TESTS_CABLE_PAIR_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "netpath/netpath.h"
#include "netpath/socket.h"

#define TN_MS 1000000ull
#define TN_T0 (1000 * TN_MS)
#define TN_A_IP "10.0.0.1"
#define TN_B_IP "10.0.0.2"

struct tnet {
	struct np_clock *clk;
	struct np_stack *s[2];
	struct np_dev *d[2];
	uint64_t now;               /* virtual time the stacks have been run to */
	int threads;                /* each stack runs in its own thread (real clock) */
};

/* What a pair is made of; tnet_new's pair is the TCP tests' default. */
struct tnet_config {
	const char *name[2];        /* stack names (they prefix trace lines) */
	const char *addr[2];        /* "A.B.C.D/N" on each eth0 */
	uint64_t seed[2];           /* each stack's seed (ISNs, ports, IP ids) */
	uint64_t t0;                /* virtual clock at the start, ns */
	int threads;                /* real clock, np_stack_start on both (t0 unused) */
};

static inline void tnet_free(struct tnet *n)
{
	if (n == NULL)
		return;
	for (int i = 0; i < 2 && n->threads; i++)
		if (n->s[i])
			np_stack_join(n->s[i]);
	np_stack_destroy(n->s[0]);
	np_stack_destroy(n->s[1]);
	np_clock_destroy(n->clk);
	free(n);
}

/* The pair as cfg says; NULL if a stack, the cable or an address cannot be made. */
static inline struct tnet *tnet_open(const struct tnet_config *cfg)
{
	struct tnet *n = calloc(1, sizeof(*n));
	if (n == NULL)
		return NULL;
	n->clk = cfg->threads ? np_clock_real() : np_clock_virtual(cfg->t0);
	n->now = cfg->t0;
	for (int i = 0; i < 2; i++) {
		struct np_stack_config sc = { .name = cfg->name[i], .clock = n->clk, .seed = cfg->seed[i] };
		n->s[i] = np_stack_create(&sc);
	}
	if (n->clk == NULL || n->s[0] == NULL || n->s[1] == NULL ||
	    np_cable_create(n->s[0], "eth0", n->s[1], "eth0", &n->d[0], &n->d[1]) ||
	    np_addr_add(n->d[0], cfg->addr[0]) || np_addr_add(n->d[1], cfg->addr[1])) {
		tnet_free(n);
		return NULL;
	}
	for (int i = 0; i < 2 && cfg->threads; i++) {
		if (np_stack_start(n->s[i]) != 0) {
			tnet_free(n);
			return NULL;
		}
		n->threads = 1;
	}
	return n;
}

/* A (10.0.0.1/24) and B (10.0.0.2/24) from TN_T0, stack seeds 2*seed+1 and 2*seed+2; aborts on failure. */
static inline struct tnet *tnet_new(uint64_t seed)
{
	const struct tnet_config cfg = {
		.name = { "A", "B" },
		.addr = { TN_A_IP "/24", TN_B_IP "/24" },
		.seed = { seed * 2 + 1, seed * 2 + 2 },
		.t0 = TN_T0,
	};
	struct tnet *n = tnet_open(&cfg);
	if (n == NULL)
		abort();
	return n;
}

/*
 * Test fixtures (cmocka's setup/teardown shape) for the threaded pair: a
 * (10.9.0.1/24) and b (10.9.0.2/24), each stack in its own thread.
 */
static inline int tnet_threads_setup(void **state)
{
	const struct tnet_config cfg = {
		.name = { "a", "b" }, .addr = { "10.9.0.1/24", "10.9.0.2/24" }, .threads = 1,
	};
	*state = tnet_open(&cfg);
	return *state ? 0 : -1;
}

static inline int tnet_threads_teardown(void **state)
{
	tnet_free(*state);
	return 0;
}

/* Lets both stacks run for us microseconds of virtual time. */
static inline void tnet_sim_us(struct tnet *n, uint64_t us)
{
	n->now += us * 1000;
	np_sim_run(n->s, 2, n->clk, n->now);
}

static inline void tnet_sim(struct tnet *n, uint64_t ms) { tnet_sim_us(n, ms * 1000); }

/* Jumps to the next timer of either stack (at most max_ms ahead). */
static inline void tnet_sim_next(struct tnet *n, uint64_t max_ms)
{
	uint64_t t = np_stack_next_timer(n->s[0]), t2 = np_stack_next_timer(n->s[1]);
	if (t2 < t)
		t = t2;
	uint64_t lim = n->now + max_ms * TN_MS;
	if (t > lim || t == UINT64_MAX)
		t = lim;
	if (t <= n->now)
		t = n->now + 1000;
	n->now = t;
	np_sim_run(n->s, 2, n->clk, n->now);
}

/* ip:port as a sockaddr_in. */
static inline struct sockaddr_in tn_addr(const char *ip, uint16_t port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	inet_pton(AF_INET, ip, &a.sin_addr);
	return a;
}

/* A thread body for the threaded pair: closes the socket *(int *)arg 30 ms from now, under a blocked caller. */
static inline void *tnet_close_later(void *arg)
{
	struct timespec d = { .tv_nsec = 30 * 1000 * 1000 };
	nanosleep(&d, NULL);
	np_close(*(int *)arg);
	return NULL;
}

/* The local port (host order) of socket fd; aborts if it cannot be read (a broken bench). */
static inline uint16_t tnet_local_port(int fd)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	if (np_getsockname(fd, (struct sockaddr *)&a, &len) != 0)
		abort();
	return ntohs(a.sin_port);
}

#endif
