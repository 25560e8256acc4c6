/*
 * Busy polling (src/core/stack.c napi_busy_loop, SO_BUSY_POLL and
 * SO_PREFER_BUSY_POLL): two stacks on the cable, each with its loop thread
 * on the real clock. A reader blocked on a socket with SO_PREFER_BUSY_POLL
 * sleeps on its stack's devices and runs the softirq rounds itself while the
 * loop steps aside; the loop takes the devices back once the owner has been
 * away for net.core.busy_poll_handback_us, so other sockets are still
 * served. Runs under ThreadSanitizer in CI.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/stack.h"
#include "netpath/netpath.h"
#include "netpath/socket.h"
#include "../cable_pair.h"

#define ROUNDS 300

static int udp_on(struct np_stack *s, const char *ip, uint16_t port, int timeout_ms)
{
	int fd = np_socket(s, AF_INET, SOCK_DGRAM, 0);
	assert_true(fd >= 0);
	struct sockaddr_in sin = tn_addr(ip, port);
	assert_int_equal(np_bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	struct timeval tv = { .tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000 };
	assert_int_equal(np_setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	return fd;
}

static int geti(int fd, int opt)
{
	int v = -1;
	socklen_t l = sizeof(v);
	assert_int_equal(np_getsockopt(fd, SOL_SOCKET, opt, &v, &l), 0);
	return v;
}

/* The options read back as set; net.core.busy_read is the default of new sockets; TCP children inherit. */
static void test_busy_poll_options(void **state)
{
	struct tnet *w = *state;
	int fd = np_socket(w->s[1], AF_INET, SOCK_DGRAM, 0);
	assert_int_equal(geti(fd, SO_BUSY_POLL), 0);
	assert_int_equal(geti(fd, SO_PREFER_BUSY_POLL), 0);
	int v = 50;
	assert_int_equal(np_setsockopt(fd, SOL_SOCKET, SO_BUSY_POLL, &v, sizeof(v)), 0);
	assert_int_equal(geti(fd, SO_BUSY_POLL), 50);
	v = -1;
	assert_int_equal(np_setsockopt(fd, SOL_SOCKET, SO_BUSY_POLL, &v, sizeof(v)), -1);
	assert_int_equal(errno, EINVAL);
	v = 100000;
	assert_int_equal(np_setsockopt(fd, SOL_SOCKET, SO_BUSY_POLL, &v, sizeof(v)), 0);
	assert_int_equal(geti(fd, SO_BUSY_POLL), 2047);   /* netpath keeps 11 bits */
	v = 1;
	assert_int_equal(np_setsockopt(fd, SOL_SOCKET, SO_PREFER_BUSY_POLL, &v, sizeof(v)), 0);
	assert_int_equal(geti(fd, SO_PREFER_BUSY_POLL), 1);
	np_close(fd);

	assert_int_equal(np_sysctl_set(w->s[1], "net.core.busy_read", 30), 0);
	assert_int_equal(np_sysctl_set(w->s[1], "net.core.busy_read", 5000), -EINVAL);
	fd = np_socket(w->s[1], AF_INET, SOCK_DGRAM, 0);
	assert_int_equal(geti(fd, SO_BUSY_POLL), 30);
	np_close(fd);
	assert_int_equal(np_sysctl_set(w->s[1], "net.core.busy_read", 0), 0);

	/* A listener's busy-poll settings go to its connections (Linux's sk_clone_lock copies them). */
	int l = np_socket(w->s[1], AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sb = tn_addr("10.9.0.2", 7100);
	assert_int_equal(np_bind(l, (struct sockaddr *)&sb, sizeof(sb)), 0);
	v = 1;
	assert_int_equal(np_setsockopt(l, SOL_SOCKET, SO_PREFER_BUSY_POLL, &v, sizeof(v)), 0);
	v = 20;
	assert_int_equal(np_setsockopt(l, SOL_SOCKET, SO_BUSY_POLL, &v, sizeof(v)), 0);
	assert_int_equal(np_listen(l, 4), 0);
	int c = np_socket(w->s[0], AF_INET, SOCK_STREAM, 0);
	assert_int_equal(np_connect(c, (struct sockaddr *)&sb, sizeof(sb)), 0);
	int a = np_accept(l, NULL, NULL);
	assert_true(a >= 0);
	assert_int_equal(geti(a, SO_PREFER_BUSY_POLL), 1);
	assert_int_equal(geti(a, SO_BUSY_POLL), 20);
	assert_int_equal(geti(c, SO_PREFER_BUSY_POLL), 0);
	np_close(a);
	np_close(c);
	np_close(l);
}

struct echo {
	struct np_stack *s;
	int fd;
	int rounds, echoed;
	/* after its rounds the thread parks here, away from the stack, until released */
	pthread_mutex_t mu;
	pthread_cond_t cond;
	int parked, release;
};

static void *echo_main(void *arg)
{
	struct echo *e = arg;
	for (int i = 0; i < e->rounds; i++) {
		char buf[256];
		struct sockaddr_in from;
		socklen_t fl = sizeof(from);
		ssize_t n = np_recvfrom(e->fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);
		if (n <= 0)
			break;
		if (np_sendto(e->fd, buf, (size_t)n, 0, (struct sockaddr *)&from, fl) != n)
			break;
		e->echoed++;
	}
	pthread_mutex_lock(&e->mu);
	e->parked = 1;
	pthread_cond_broadcast(&e->cond);
	while (!e->release)
		pthread_cond_wait(&e->cond, &e->mu);
	pthread_mutex_unlock(&e->mu);
	return NULL;
}

static void echo_start(struct echo *e, pthread_t *t)
{
	pthread_mutex_init(&e->mu, NULL);
	pthread_cond_init(&e->cond, NULL);
	assert_int_equal(pthread_create(t, NULL, echo_main, e), 0);
}

static void echo_wait_parked(struct echo *e)
{
	pthread_mutex_lock(&e->mu);
	while (!e->parked)
		pthread_cond_wait(&e->cond, &e->mu);
	pthread_mutex_unlock(&e->mu);
}

static void echo_finish(struct echo *e, pthread_t t)
{
	pthread_mutex_lock(&e->mu);
	e->release = 1;
	pthread_cond_broadcast(&e->cond);
	pthread_mutex_unlock(&e->mu);
	pthread_join(t, NULL);
	pthread_cond_destroy(&e->cond);
	pthread_mutex_destroy(&e->mu);
}

/* Request/response from a to b, one at a time, each reply checked. */
static int exchange(int cfd, uint16_t port, int rounds)
{
	struct sockaddr_in dst = tn_addr("10.9.0.2", port);
	int ok = 0;
	for (int r = 0; r < rounds; r++) {
		char msg[64], back[64];
		int len = snprintf(msg, sizeof(msg), "request %d", r);
		if (np_sendto(cfd, msg, (size_t)len, 0, (struct sockaddr *)&dst, sizeof(dst)) != len)
			continue;
		ssize_t n = np_recv(cfd, back, sizeof(back), 0);
		if (n == len && memcmp(msg, back, (size_t)len) == 0)
			ok++;
	}
	return ok;
}

/*
 * With SO_PREFER_BUSY_POLL the blocked echo thread takes b's devices and
 * runs b's rounds itself; when it stops coming back, b's loop takes them
 * back and serves a socket nobody busy-polls.
 */
static void test_prefer_busy_poll_echo_and_handback(void **state)
{
	struct tnet *w = *state;
	uint64_t takes0 = atomic_load(&w->s[1]->busy_takes), rounds0 = atomic_load(&w->s[1]->busy_rounds);
	uint64_t back0 = atomic_load(&w->s[1]->busy_handbacks);
	struct echo e = { .s = w->s[1], .fd = udp_on(w->s[1], "10.9.0.2", 7200, 5000), .rounds = ROUNDS };
	int one = 1;
	assert_int_equal(np_setsockopt(e.fd, SOL_SOCKET, SO_PREFER_BUSY_POLL, &one, sizeof(one)), 0);
	pthread_t t;
	echo_start(&e, &t);
	int cfd = udp_on(w->s[0], "10.9.0.1", 7201, 5000);
	assert_int_equal(exchange(cfd, 7200, ROUNDS), ROUNDS);
	echo_wait_parked(&e);
	assert_int_equal(e.echoed, ROUNDS);
	/* The echo thread had the devices and ran softirq rounds on them. */
	assert_true(atomic_load(&w->s[1]->busy_takes) > takes0);
	assert_true(atomic_load(&w->s[1]->busy_rounds) > rounds0);

	/* The owner is parked away from the stack: a plain socket on b must still get its datagram. */
	int other = udp_on(w->s[1], "10.9.0.2", 7202, 5000);
	struct sockaddr_in to = tn_addr("10.9.0.2", 7202);
	assert_int_equal(np_sendto(cfd, "late", 4, 0, (struct sockaddr *)&to, sizeof(to)), 4);
	char buf[16];
	assert_int_equal(np_recv(other, buf, sizeof(buf), 0), 4);
	assert_memory_equal(buf, "late", 4);
	assert_true(atomic_load(&w->s[1]->busy_handbacks) > back0);
	assert_int_equal(atomic_load(&w->s[1]->busy_state), BUSY_NONE);
	echo_finish(&e, t);
	np_close(other);
	np_close(cfd);
	np_close(e.fd);
}

/* The whole echo run on b's port (e's socket, bound there): every round answered, then both sockets closed. */
static void echo_all(struct tnet *w, struct echo *e, uint16_t port)
{
	pthread_t t;
	echo_start(e, &t);
	int cfd = udp_on(w->s[0], "10.9.0.1", (uint16_t)(port + 1), 5000);
	assert_int_equal(exchange(cfd, port, e->rounds), e->rounds);
	echo_wait_parked(e);
	echo_finish(e, t);
	np_close(cfd);
	np_close(e->fd);
}

/* Without the options nothing busy-polls: the counters stay where they were. */
static void test_no_busy_poll_without_options(void **state)
{
	struct tnet *w = *state;
	uint64_t takes0 = atomic_load(&w->s[1]->busy_takes), rounds0 = atomic_load(&w->s[1]->busy_rounds);
	struct echo e = { .s = w->s[1], .fd = udp_on(w->s[1], "10.9.0.2", 7300, 5000), .rounds = 50 };
	echo_all(w, &e, 7300);
	assert_int_equal(atomic_load(&w->s[1]->busy_takes), takes0);
	assert_int_equal(atomic_load(&w->s[1]->busy_rounds), rounds0);
}

/* SO_BUSY_POLL alone: the reader spins on the devices, then sleeps on its queue as usual. */
static void test_busy_poll_spin_only(void **state)
{
	struct tnet *w = *state;
	struct echo e = { .s = w->s[1], .fd = udp_on(w->s[1], "10.9.0.2", 7400, 5000), .rounds = 100 };
	int us = 50;
	assert_int_equal(np_setsockopt(e.fd, SOL_SOCKET, SO_BUSY_POLL, &us, sizeof(us)), 0);
	uint64_t takes0 = atomic_load(&w->s[1]->busy_takes);
	echo_all(w, &e, 7400);
	assert_int_equal(atomic_load(&w->s[1]->busy_takes), takes0);   /* spinning never takes the devices */
}

/* SO_RCVTIMEO still ends a busy-polling wait, with EAGAIN. */
static void test_prefer_busy_poll_timeout(void **state)
{
	struct tnet *w = *state;
	int fd = udp_on(w->s[1], "10.9.0.2", 7500, 50);
	int one = 1;
	assert_int_equal(np_setsockopt(fd, SOL_SOCKET, SO_PREFER_BUSY_POLL, &one, sizeof(one)), 0);
	char buf[8];
	assert_int_equal(np_recv(fd, buf, sizeof(buf), 0), -1);
	assert_int_equal(errno, EAGAIN);
	np_close(fd);
}

/* A reader waiting on the devices is woken by a close from another thread, and the devices go back. */
static void test_prefer_busy_poll_close_wakes(void **state)
{
	struct tnet *w = *state;
	int fd = udp_on(w->s[1], "10.9.0.2", 7700, 0);
	int one = 1;
	assert_int_equal(np_setsockopt(fd, SOL_SOCKET, SO_PREFER_BUSY_POLL, &one, sizeof(one)), 0);
	uint64_t takes0 = atomic_load(&w->s[1]->busy_takes);
	/* Busy polling needs b's loop thread running (before it runs, a reader sleeps on its queue). */
	while (!atomic_load(&w->s[1]->in_run))
		sched_yield();
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, tnet_close_later, &fd), 0);
	char c;
	ssize_t n = np_recv(fd, &c, 1, 0);   /* no timeout: only the close can end it */
	pthread_join(t, NULL);
	assert_true(n == 0 || (n == -1 && errno == EBADF));
	assert_true(atomic_load(&w->s[1]->busy_takes) > takes0);   /* it did wait on the devices */
	/* The stack still serves a plain socket afterwards (the loop takes the devices back). */
	int other = udp_on(w->s[1], "10.9.0.2", 7701, 5000);
	int cfd = udp_on(w->s[0], "10.9.0.1", 7702, 5000);
	struct sockaddr_in to = tn_addr("10.9.0.2", 7701);
	assert_int_equal(np_sendto(cfd, "x", 1, 0, (struct sockaddr *)&to, sizeof(to)), 1);
	assert_int_equal(np_recv(other, &c, 1, 0), 1);
	np_close(other);
	np_close(cfd);
}

/* TCP: a server thread with SO_PREFER_BUSY_POLL on its listener accepts and echoes through its own rounds. */
static void *tcp_server(void *arg)
{
	int l = *(int *)arg;
	int c = np_accept(l, NULL, NULL);
	if (c < 0)
		return NULL;
	char buf[64];
	ssize_t n;
	while ((n = np_recv(c, buf, sizeof(buf), 0)) > 0)
		if (np_send(c, buf, (size_t)n, 0) != n)
			break;
	np_close(c);
	return NULL;
}

static void test_prefer_busy_poll_tcp(void **state)
{
	struct tnet *w = *state;
	uint64_t rounds0 = atomic_load(&w->s[1]->busy_rounds);
	int l = np_socket(w->s[1], AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sb = tn_addr("10.9.0.2", 7600);
	assert_int_equal(np_bind(l, (struct sockaddr *)&sb, sizeof(sb)), 0);
	int one = 1;
	assert_int_equal(np_setsockopt(l, SOL_SOCKET, SO_PREFER_BUSY_POLL, &one, sizeof(one)), 0);
	assert_int_equal(np_listen(l, 4), 0);
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, tcp_server, &l), 0);
	int c = np_socket(w->s[0], AF_INET, SOCK_STREAM, 0);
	assert_int_equal(np_setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)), 0);
	assert_int_equal(np_connect(c, (struct sockaddr *)&sb, sizeof(sb)), 0);
	int ok = 0;
	for (int r = 0; r < 200; r++) {
		char msg[32], back[32];
		int len = snprintf(msg, sizeof(msg), "tcp %d", r);
		assert_int_equal(np_send(c, msg, (size_t)len, 0), len);
		ssize_t got = 0;
		while (got < len) {
			ssize_t n = np_recv(c, back + got, sizeof(back) - (size_t)got, 0);
			if (n <= 0)
				break;
			got += n;
		}
		if (got == len && memcmp(msg, back, (size_t)len) == 0)
			ok++;
	}
	assert_int_equal(ok, 200);
	np_close(c);
	pthread_join(t, NULL);
	np_close(l);
	assert_true(atomic_load(&w->s[1]->busy_rounds) > rounds0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_busy_poll_options, tnet_threads_setup, tnet_threads_teardown),
		cmocka_unit_test_setup_teardown(test_prefer_busy_poll_echo_and_handback, tnet_threads_setup, tnet_threads_teardown),
		cmocka_unit_test_setup_teardown(test_no_busy_poll_without_options, tnet_threads_setup, tnet_threads_teardown),
		cmocka_unit_test_setup_teardown(test_busy_poll_spin_only, tnet_threads_setup, tnet_threads_teardown),
		cmocka_unit_test_setup_teardown(test_prefer_busy_poll_timeout, tnet_threads_setup, tnet_threads_teardown),
		cmocka_unit_test_setup_teardown(test_prefer_busy_poll_close_wakes, tnet_threads_setup, tnet_threads_teardown),
		cmocka_unit_test_setup_teardown(test_prefer_busy_poll_tcp, tnet_threads_setup, tnet_threads_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
