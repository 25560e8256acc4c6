/*
 * Scenario: one thread drives two stacks and their sockets through a single
 * epoll loop, as a program that embeds netpath in its own event loop (libuv,
 * a game loop) would. There is no stack thread: the loop waits on
 * np_stack_fd(s) of each stack (readable while the stack has work: a frame
 * in its cable ring, an interrupt) and on the sockets' fds (eventfds,
 * readable while a socket has data or a pending error), with the earliest
 * stack timer as its timeout. When a stack fd fires it runs np_stack_poll
 * until the stack is idle; when a socket fd fires it reads the socket with
 * np_recv until EAGAIN.
 *   A (10.7.0.1/24) eth0 <==cable==> eth0 B (10.7.0.2/24), real clock
 * Checks that echo exchanges and a burst complete, that a socket fd is not
 * readable once its queue is empty (so the loop never spins), that an ICMP
 * error makes the fd readable until np_recv reports it, and that an idle
 * loop sleeps (its wake-ups are counted and bounded).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "netpath/netpath.h"
#include "netpath/socket.h"

#define A_IP "10.7.0.1"
#define B_IP "10.7.0.2"
#define ECHO_PORT 7
#define MAX_PAYLOAD 1472
#define TAG_SOCKET 100          /* epoll tags: 0 and 1 are the stacks, TAG_SOCKET + fd a socket */

struct world {
	struct np_stack *s[2];      /* A, B */
	int ep;
	int srv;                    /* B's echo socket, port 7 */
	int cli;                    /* A's client socket, connected to B:7 */

	unsigned long wakeups;      /* epoll_wait returns */
	unsigned long stack_polls;  /* np_stack_poll calls */
	unsigned long spurious;     /* a socket fd fired with nothing to read */

	long echoed;                /* datagrams B's echo socket answered */
	long sent, ok, bad;         /* the client's datagrams, and their echoes */
	int client_err;             /* errno of the last failed np_recv on cli (not EAGAIN) */
};

/* ---- helpers ---- */

static long size_of(long seq) { return 1 + (seq * 37) % MAX_PAYLOAD; }

static void fill(unsigned char *buf, long size, long seq)
{
	uint32_t x = 2166136261u ^ (uint32_t)seq;
	for (long i = 0; i < size; i++) {
		x = x * 16777619u + 12345u;
		buf[i] = (unsigned char)(x >> 24);
	}
}

static struct sockaddr_in sin_of(const char *ip, uint16_t port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port) };
	assert_int_equal(inet_pton(AF_INET, ip, &sin.sin_addr), 1);
	return sin;
}

/* Is fd readable right now? (poll(2) with a zero timeout on the socket's eventfd.) */
static int fd_readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int n = poll(&p, 1, 0);
	assert_true(n >= 0);
	return n > 0 && (p.revents & POLLIN);
}

static void watch(struct world *w, int fd, uint64_t tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = tag };
	assert_int_equal(epoll_ctl(w->ep, EPOLL_CTL_ADD, fd, &ev), 0);
}

static int new_socket(struct world *w, int stack)
{
	int fd = np_socket(w->s[stack], AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	assert_true(fd >= 0);
	assert_true(np_is_socket(fd));
	/* A fresh socket has nothing to report: its fd must not be readable. */
	assert_false(fd_readable(fd));
	watch(w, fd, TAG_SOCKET + (uint64_t)fd);
	return fd;
}

/* ---- the application: an echo server on B and a checking client on A ---- */

static void client_send(struct world *w)
{
	unsigned char buf[MAX_PAYLOAD];
	long size = size_of(w->sent);

	fill(buf, size, w->sent);
	assert_int_equal(np_send(w->cli, buf, (size_t)size, 0), size);
	w->sent++;
}

static void on_server_readable(struct world *w)
{
	unsigned char buf[2048];
	struct sockaddr_in from;
	socklen_t fromlen = sizeof(from);
	ssize_t n;
	int got = 0;

	while ((n = np_recvfrom(w->srv, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fromlen)) >= 0) {
		assert_int_equal(np_sendto(w->srv, buf, (size_t)n, 0, (struct sockaddr *)&from, fromlen), n);
		w->echoed++;
		got++;
		fromlen = sizeof(from);
	}
	assert_int_equal(errno, EAGAIN);
	if (!got)
		w->spurious++;
}

static void on_client_readable(struct world *w, long target)
{
	unsigned char buf[2048], want[MAX_PAYLOAD];
	ssize_t n;
	int got = 0;

	for (;;) {
		n = np_recv(w->cli, buf, sizeof(buf), 0);
		if (n < 0)
			break;
		got++;
		long seq = w->ok + w->bad, size = size_of(seq);
		fill(want, size, seq);
		if (n == size && memcmp(buf, want, (size_t)size) == 0)
			w->ok++;
		else
			w->bad++;
		/* Ping-pong mode: the next datagram goes out once this one came back. */
		if (w->sent < target && w->sent == w->ok + w->bad)
			client_send(w);
	}
	if (errno != EAGAIN) {
		w->client_err = errno;
		got++;
	}
	if (!got)
		w->spurious++;
}

/* ---- the event loop ---- */

/*
 * One turn: sleeps in epoll_wait until a stack or socket fd is readable, the
 * earliest stack timer is due, or max_ms passes; then runs what fired.
 */
static void loop_once(struct world *w, int max_ms, long target)
{
	struct epoll_event evs[8];
	uint64_t now = np_stack_now(w->s[0]), next = UINT64_MAX;
	int ms = max_ms;

	for (int i = 0; i < 2; i++) {
		uint64_t t = np_stack_next_timer(w->s[i]);
		if (t < next)
			next = t;
	}
	if (next != UINT64_MAX) {
		uint64_t left = next > now ? next - now : 0;
		if (left / 1000000 < (uint64_t)ms)
			ms = (int)((left + 999999) / 1000000);
	}
	int n = epoll_wait(w->ep, evs, 8, ms);
	assert_true(n >= 0 || errno == EINTR);
	w->wakeups++;
	if (n <= 0) {
		/* A timer is due (or max_ms passed): let both stacks run their timers. */
		for (int i = 0; i < 2; i++) {
			np_stack_poll(w->s[i]);
			w->stack_polls++;
		}
		return;
	}
	for (int k = 0; k < n; k++) {
		uint64_t tag = evs[k].data.u64;
		if (tag < 2) {
			/* The stack has work: run its softirq context until it is idle. */
			while (np_stack_poll(w->s[tag]) > 0)
				w->stack_polls++;
			w->stack_polls++;
			/* Idle now, so its fd must have gone quiet (level-triggered epoll would spin otherwise). */
			assert_false(fd_readable(np_stack_fd(w->s[tag])));
		} else if ((int)(tag - TAG_SOCKET) == w->srv) {
			on_server_readable(w);
			assert_false(fd_readable(w->srv));
		} else if ((int)(tag - TAG_SOCKET) == w->cli) {
			on_client_readable(w, target);
			assert_false(fd_readable(w->cli));
		} else {
			fail_msg("epoll returned an unknown tag %llu", (unsigned long long)tag);
		}
	}
}

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Runs the loop until the client has target good echoes (or an error), or timeout_ms passes. */
static void run_until_echoed(struct world *w, long target, int timeout_ms)
{
	uint64_t end = mono_ms() + (uint64_t)timeout_ms;
	while (w->ok + w->bad < target && !w->client_err && mono_ms() < end)
		loop_once(w, 100, target);
}

/* ---- fixtures ---- */

static int setup(void **state)
{
	struct world *w = calloc(1, sizeof(*w));
	struct np_dev *da, *db;
	assert_non_null(w);
	for (int i = 0; i < 2; i++) {
		/* The real clock: the loop sleeps in epoll_wait for real. */
		struct np_stack_config cfg = { .name = i ? "B" : "A", .clock = NULL, .seed = (uint64_t)(700 + i) };
		w->s[i] = np_stack_create(&cfg);
		assert_non_null(w->s[i]);
	}
	assert_int_equal(np_cable_create(w->s[0], "eth0", w->s[1], "eth0", &da, &db), 0);
	assert_int_equal(np_addr_add(da, A_IP "/24"), 0);
	assert_int_equal(np_addr_add(db, B_IP "/24"), 0);

	w->ep = epoll_create1(EPOLL_CLOEXEC);
	assert_true(w->ep >= 0);
	for (int i = 0; i < 2; i++) {
		assert_true(np_stack_fd(w->s[i]) >= 0);
		watch(w, np_stack_fd(w->s[i]), (uint64_t)i);
	}

	struct sockaddr_in any7 = sin_of("0.0.0.0", ECHO_PORT), b7 = sin_of(B_IP, ECHO_PORT);
	w->srv = new_socket(w, 1);
	assert_int_equal(np_bind(w->srv, (struct sockaddr *)&any7, sizeof(any7)), 0);
	w->cli = new_socket(w, 0);
	assert_int_equal(np_connect(w->cli, (struct sockaddr *)&b7, sizeof(b7)), 0);
	*state = w;
	return 0;
}

static int teardown(void **state)
{
	struct world *w = *state;
	np_close(w->cli);
	np_close(w->srv);
	close(w->ep);
	np_stack_destroy(w->s[0]);
	np_stack_destroy(w->s[1]);
	free(w);
	return 0;
}

/* ---- tests ---- */

/* 200 echoes one after another (the first waits for ARP), sizes 1..1472: all intact, wake-ups bounded. */
static void test_ping_pong(void **state)
{
	struct world *w = *state;
	const long n = 200;

	client_send(w);
	run_until_echoed(w, n, 10000);
	assert_int_equal(w->client_err, 0);
	assert_int_equal(w->ok, n);
	assert_int_equal(w->bad, 0);
	assert_int_equal(w->echoed, n);
	assert_int_equal(w->sent, n);
	/*
	 * Each round trip takes a handful of wake-ups (B's stack fd, the echo
	 * socket, A's stack fd, the client socket; often fewer, as several fds
	 * fire together). A busy loop would take thousands.
	 */
	print_message("ping-pong: %ld echoes, %lu epoll wake-ups, %lu np_stack_poll calls, %lu spurious\n", n,
		      w->wakeups, w->stack_polls, w->spurious);
	assert_true(w->wakeups >= (unsigned long)n);
	assert_true(w->wakeups <= (unsigned long)(6 * n + 20));
	assert_int_equal(w->spurious, 0);
	/* Nothing is left: neither socket has anything to report. */
	assert_false(fd_readable(w->cli));
	assert_false(fd_readable(w->srv));
}

/*
 * 100 datagrams sent at once (after one exchange has resolved ARP, so none
 * waits in the neighbour queue charged to the send buffer): the echo socket
 * drains its queue on each wake-up and every echo comes back, in order.
 */
static void test_burst(void **state)
{
	struct world *w = *state;
	const long n = 100;

	client_send(w);
	run_until_echoed(w, 1, 5000);
	assert_int_equal(w->ok, 1);
	unsigned long before = w->wakeups;

	for (long i = 0; i < n; i++)
		client_send(w);
	run_until_echoed(w, n + 1, 10000);
	assert_int_equal(w->client_err, 0);
	assert_int_equal(w->ok, n + 1);
	assert_int_equal(w->bad, 0);
	assert_int_equal(w->echoed, n + 1);
	print_message("burst: %ld echoes, %lu epoll wake-ups, %lu np_stack_poll calls\n", n, w->wakeups - before,
		      w->stack_polls);
	/* Batching: fewer wake-ups than datagrams moved (2n datagrams, 4n fd events if taken one by one). */
	assert_true(w->wakeups - before <= (unsigned long)n);
	assert_int_equal(np_stack_mib(w->s[1], NP_MIB_UdpInDatagrams), (uint64_t)(n + 1));
	assert_int_equal(np_stack_mib(w->s[0], NP_MIB_UdpInDatagrams), (uint64_t)(n + 1));
	assert_int_equal(w->spurious, 0);
	assert_false(fd_readable(w->cli));
	assert_false(fd_readable(w->srv));
}

/*
 * A connected socket to a closed port: B's ICMP port unreachable makes the
 * socket's fd readable (a pending error); np_recv reports ECONNREFUSED once,
 * and then the fd is quiet again.
 */
static void test_error_wakes_the_loop(void **state)
{
	struct world *w = *state;
	struct sockaddr_in closed = sin_of(B_IP, 9999);

	/* Reuse the client as the socket under test: point it at the closed port. */
	assert_int_equal(np_connect(w->cli, (struct sockaddr *)&closed, sizeof(closed)), 0);
	assert_int_equal(np_send(w->cli, "anyone?", 7, 0), 7);
	run_until_echoed(w, 1, 5000);
	assert_int_equal(w->client_err, ECONNREFUSED);
	assert_int_equal(w->ok, 0);
	assert_false(fd_readable(w->cli));
	char buf[16];
	assert_int_equal(np_recv(w->cli, buf, sizeof(buf), 0), -1);
	assert_int_equal(errno, EAGAIN);
	assert_int_equal(np_stack_mib(w->s[1], NP_MIB_UdpNoPorts), 1);
}

/* With nothing to do the loop sleeps: a 300 ms idle stretch costs a few timeouts, not a spin. */
static void test_idle_loop_sleeps(void **state)
{
	struct world *w = *state;

	/* Some traffic first, so ARP entries and their timers exist. */
	client_send(w);
	run_until_echoed(w, 1, 5000);
	assert_int_equal(w->ok, 1);

	unsigned long before = w->wakeups, polls_before = w->stack_polls;
	uint64_t end = mono_ms() + 300;
	while (mono_ms() < end)
		loop_once(w, 100, 1);
	unsigned long idle = w->wakeups - before;
	print_message("idle 300 ms: %lu epoll wake-ups, %lu np_stack_poll calls\n", idle,
		      w->stack_polls - polls_before);
	/* About 3 (max_ms 100) plus any timer that came due; a spinning loop would count thousands. */
	assert_true(idle >= 1);
	assert_true(idle <= 10);
	assert_false(fd_readable(np_stack_fd(w->s[0])));
	assert_false(fd_readable(np_stack_fd(w->s[1])));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_ping_pong, setup, teardown),
		cmocka_unit_test_setup_teardown(test_burst, setup, teardown),
		cmocka_unit_test_setup_teardown(test_error_wakes_the_loop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_idle_loop_sleeps, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
