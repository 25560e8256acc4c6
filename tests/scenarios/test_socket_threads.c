/*
 * Threads against the socket layer: two stacks joined by the virtual cable,
 * each running in its own stack thread on the real clock, while
 * application threads use blocking and polled sockets. Checks that a reader
 * blocked in np_recv wakes when the other stack's thread delivers, that
 * np_poll over many sockets wakes without busy polling, that timeouts
 * return EAGAIN, and (under ThreadSanitizer) that nothing races.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "netpath/netpath.h"
#include "netpath/socket.h"
#include "../cable_pair.h"

#define NTHREADS 4
#define NSOCKS 8          /* per thread */
#define ROUNDS 50         /* datagrams per socket */

/* Echo server on b: one thread, np_poll over its sockets, answers every datagram. */
struct echo_server {
	struct np_stack *s;
	int fds[NTHREADS];
	volatile int stop;
	long echoed;
};

static void *echo_main(void *arg)
{
	struct echo_server *e = arg;
	struct pollfd p[NTHREADS];
	for (int i = 0; i < NTHREADS; i++)
		p[i] = (struct pollfd){ .fd = e->fds[i], .events = POLLIN };
	while (!__atomic_load_n(&e->stop, __ATOMIC_ACQUIRE)) {
		int n = np_poll(p, NTHREADS, 50);
		if (n < 0)
			break;
		for (int i = 0; i < NTHREADS; i++) {
			if (!(p[i].revents & POLLIN))
				continue;
			char buf[2048];
			struct sockaddr_in from;
			socklen_t fl = sizeof(from);
			ssize_t r;
			while ((r = np_recvfrom(e->fds[i], buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from, &fl)) > 0) {
				np_sendto(e->fds[i], buf, (size_t)r, 0, (struct sockaddr *)&from, fl);
				__atomic_add_fetch(&e->echoed, 1, __ATOMIC_RELAXED);
				fl = sizeof(from);
			}
		}
	}
	return NULL;
}

struct client {
	struct np_stack *s;
	int id;
	int ok, bad;
};

static void *client_main(void *arg)
{
	struct client *c = arg;
	int fds[NSOCKS];
	struct timeval tv = { .tv_sec = 2 };
	for (int i = 0; i < NSOCKS; i++) {
		fds[i] = np_socket(c->s, AF_INET, SOCK_DGRAM, 0);
		np_setsockopt(fds[i], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	}
	struct sockaddr_in dst = tn_addr("10.9.0.2", (uint16_t)(7000 + c->id));
	for (int r = 0; r < ROUNDS; r++) {
		for (int i = 0; i < NSOCKS; i++) {
			char msg[64], back[64];
			int len = snprintf(msg, sizeof(msg), "t%d s%d r%d", c->id, i, r);
			np_sendto(fds[i], msg, (size_t)len, 0, (struct sockaddr *)&dst, sizeof(dst));
			/* Blocking receive: the stack thread of a delivers and must wake us. */
			ssize_t n = np_recv(fds[i], back, sizeof(back), 0);
			if (n == len && memcmp(msg, back, (size_t)len) == 0)
				c->ok++;
			else
				c->bad++;
		}
	}
	for (int i = 0; i < NSOCKS; i++)
		np_close(fds[i]);
	return NULL;
}

static void test_many_threads_echo(void **state)
{
	struct tnet *w = *state;
	struct echo_server e = { .s = w->s[1] };
	for (int i = 0; i < NTHREADS; i++) {
		e.fds[i] = np_socket(w->s[1], AF_INET, SOCK_DGRAM, 0);
		assert_true(e.fds[i] >= 0);
		struct sockaddr_in sin = tn_addr("0.0.0.0", (uint16_t)(7000 + i));
		assert_int_equal(np_bind(e.fds[i], (struct sockaddr *)&sin, sizeof(sin)), 0);
	}
	pthread_t et, ct[NTHREADS];
	struct client cl[NTHREADS];
	pthread_create(&et, NULL, echo_main, &e);
	for (int i = 0; i < NTHREADS; i++) {
		cl[i] = (struct client){ .s = w->s[0], .id = i };
		pthread_create(&ct[i], NULL, client_main, &cl[i]);
	}
	int ok = 0, bad = 0;
	for (int i = 0; i < NTHREADS; i++) {
		pthread_join(ct[i], NULL);
		ok += cl[i].ok;
		bad += cl[i].bad;
	}
	__atomic_store_n(&e.stop, 1, __ATOMIC_RELEASE);
	pthread_join(et, NULL);
	for (int i = 0; i < NTHREADS; i++)
		np_close(e.fds[i]);
	/* The cable loses nothing: every datagram comes back, byte for byte. */
	assert_int_equal(bad, 0);
	assert_int_equal(ok, NTHREADS * NSOCKS * ROUNDS);
}

struct blocked {
	int fd;
	ssize_t n;
	int err;
	char buf[32];
};

static void *blocked_reader(void *arg)
{
	struct blocked *b = arg;
	b->n = np_recv(b->fd, b->buf, sizeof(b->buf), 0);
	b->err = errno;
	return NULL;
}

static void test_blocked_reader_wakes(void **state)
{
	struct tnet *w = *state;
	int rfd = np_socket(w->s[1], AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in sin = tn_addr("10.9.0.2", 9100);
	assert_int_equal(np_bind(rfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	struct blocked b = { .fd = rfd };
	pthread_t t;
	pthread_create(&t, NULL, blocked_reader, &b);
	/* Give the reader time to block (it must not have returned yet). */
	struct timespec d = { .tv_nsec = 50 * 1000 * 1000 };
	nanosleep(&d, NULL);
	int sfd = np_socket(w->s[0], AF_INET, SOCK_DGRAM, 0);
	assert_int_equal(np_sendto(sfd, "wake", 4, 0, (struct sockaddr *)&sin, sizeof(sin)), 4);
	pthread_join(t, NULL);
	assert_int_equal(b.n, 4);
	assert_memory_equal(b.buf, "wake", 4);
	np_close(sfd);
	np_close(rfd);
}

static void test_rcvtimeo_and_nonblock(void **state)
{
	struct tnet *w = *state;
	int fd = np_socket(w->s[0], AF_INET, SOCK_DGRAM, 0);
	struct timeval tv = { .tv_usec = 30000 };
	assert_int_equal(np_setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	char c;
	errno = 0;
	assert_int_equal(np_recv(fd, &c, 1, 0), -1);
	assert_int_equal(errno, EAGAIN);
	errno = 0;
	assert_int_equal(np_recv(fd, &c, 1, MSG_DONTWAIT), -1);
	assert_int_equal(errno, EWOULDBLOCK);
	/* A poll with nothing to read times out with 0. */
	struct pollfd p = { .fd = fd, .events = POLLIN };
	assert_int_equal(np_poll(&p, 1, 20), 0);
	/* POLLOUT is ready at once on an idle datagram socket. */
	p.events = POLLOUT;
	assert_int_equal(np_poll(&p, 1, -1), 1);
	assert_true(p.revents & POLLOUT);
	np_close(fd);
}

static void test_close_wakes_blocked_reader(void **state)
{
	struct tnet *w = *state;
	int fd = np_socket(w->s[0], AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in sin = tn_addr("10.9.0.1", 9200);
	assert_int_equal(np_bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	pthread_t t;
	pthread_create(&t, NULL, tnet_close_later, &fd);
	char c;
	/* Closed under us: the call returns (0, as a shut-down socket), never hangs or crashes. */
	ssize_t n = np_recv(fd, &c, 1, 0);
	pthread_join(t, NULL);
	assert_true(n == 0 || (n == -1 && errno == EBADF));
	errno = 0;
	assert_int_equal(np_recv(fd, &c, 1, 0), -1);
	assert_int_equal(errno, EBADF);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_many_threads_echo, tnet_threads_setup, tnet_threads_teardown),
		cmocka_unit_test_setup_teardown(test_blocked_reader_wakes, tnet_threads_setup, tnet_threads_teardown),
		cmocka_unit_test_setup_teardown(test_rcvtimeo_and_nonblock, tnet_threads_setup, tnet_threads_teardown),
		cmocka_unit_test_setup_teardown(test_close_wakes_blocked_reader, tnet_threads_setup, tnet_threads_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
