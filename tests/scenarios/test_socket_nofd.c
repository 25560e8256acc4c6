/*
 * Scenario: sockets opened with NP_SOCK_NOFD (programs that hold very many
 * connections) over the virtual cable. Their descriptors are netpath's own
 * numbers (>= NP_SOCK_FD_BASE, no kernel fd each), every np_* call works on
 * them, np_accept on such a listener gives such sockets, np_poll needs no
 * eventfd, and np_socket_fd hands out an eventfd on demand that is readable
 * exactly while the socket has something to report (epoll users).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "scenarios/tcp_net.h"

static int open_fds(void)
{
	int n = 0;
	for (int fd = 0; fd < 4096; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			n++;
	return n;
}

static int fd_readable(int efd)
{
	struct pollfd p = { .fd = efd, .events = POLLIN };
	return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

/* A connected pair over the cable: *c on A (NOFD), *a accepted on B (NOFD listener). */
static void connect_pair(struct tnet *n, int *lfd, int *c, int *a)
{
	struct sockaddr_in b = tn_addr(TN_B_IP, 8080);
	*lfd = np_socket(n->s[1], AF_INET, SOCK_STREAM | NP_SOCK_NOFD | SOCK_NONBLOCK, 0);
	assert_true(*lfd >= NP_SOCK_FD_BASE);
	assert_int_equal(np_bind(*lfd, (struct sockaddr *)&b, sizeof(b)), 0);
	assert_int_equal(np_listen(*lfd, 8), 0);
	*c = np_socket(n->s[0], AF_INET, SOCK_STREAM | NP_SOCK_NOFD | SOCK_NONBLOCK, 0);
	assert_true(*c >= NP_SOCK_FD_BASE);
	assert_int_equal(np_connect(*c, (struct sockaddr *)&b, sizeof(b)), -1);
	assert_int_equal(errno, EINPROGRESS);
	tnet_sim(n, 10);
	*a = np_accept(*lfd, NULL, NULL);
	assert_true(*a >= NP_SOCK_FD_BASE);
	assert_true(np_is_socket(*a));
}

static void test_nofd_costs_no_descriptor(void **state)
{
	(void)state;
	struct tnet *n = tnet_new(1);
	int before = open_fds();
	int fds[64];
	for (int i = 0; i < 64; i++) {
		fds[i] = np_socket(n->s[0], AF_INET, SOCK_DGRAM | NP_SOCK_NOFD, 0);
		assert_true(fds[i] >= NP_SOCK_FD_BASE);
		assert_true(np_is_socket(fds[i]));
	}
	assert_int_equal(open_fds(), before);   /* no kernel descriptor per socket */
	/* Numbers are distinct and reused after close. */
	for (int i = 1; i < 64; i++)
		assert_int_not_equal(fds[i], fds[i - 1]);
	assert_int_equal(np_close(fds[10]), 0);
	assert_false(np_is_socket(fds[10]));
	assert_int_equal(np_close(fds[10]), -1);
	assert_int_equal(errno, EBADF);
	char x = 0;
	assert_int_equal(np_send(fds[10], &x, 1, 0), -1);
	assert_int_equal(errno, EBADF);
	int again = np_socket(n->s[0], AF_INET, SOCK_DGRAM | NP_SOCK_NOFD, 0);
	assert_int_equal(again, fds[10]);
	fds[10] = again;
	/* An ordinary socket still is its eventfd, and np_socket_fd says so. */
	int plain = np_socket(n->s[0], AF_INET, SOCK_DGRAM, 0);
	assert_true(plain >= 0 && plain < NP_SOCK_FD_BASE);
	assert_int_equal(np_socket_fd(plain), plain);
	assert_int_equal(np_close(plain), 0);
	for (int i = 0; i < 64; i++)
		assert_int_equal(np_close(fds[i]), 0);
	assert_int_equal(open_fds(), before);
	assert_int_equal(np_socket_fd(fds[0]), -1);
	assert_int_equal(errno, EBADF);
	tnet_free(n);
}

static void test_nofd_tcp_and_poll(void **state)
{
	(void)state;
	struct tnet *n = tnet_new(2);
	int before = open_fds();
	int lfd, c, a;
	connect_pair(n, &lfd, &c, &a);
	assert_int_equal(open_fds(), before);
	/* Data both ways; np_poll works without any eventfd. */
	assert_int_equal(np_send(c, "ping", 4, 0), 4);
	tnet_sim(n, 1);
	struct pollfd p = { .fd = a, .events = POLLIN };
	assert_int_equal(np_poll(&p, 1, 0), 1);
	assert_true(p.revents & POLLIN);
	char buf[8];
	assert_int_equal(np_recv(a, buf, sizeof(buf), 0), 4);
	assert_memory_equal(buf, "ping", 4);
	assert_int_equal(np_poll(&p, 1, 0), 0);
	struct sockaddr_in peer;
	socklen_t pl = sizeof(peer);
	assert_int_equal(np_getpeername(a, (struct sockaddr *)&peer, &pl), 0);
	assert_int_equal(peer.sin_addr.s_addr, inet_addr(TN_A_IP));

	/* np_socket_fd: an eventfd on demand, level-triggered on the socket's readiness. */
	int efd = np_socket_fd(c);
	assert_true(efd >= 0 && efd < NP_SOCK_FD_BASE);
	assert_int_equal(np_socket_fd(c), efd);   /* the same one every time */
	assert_int_equal(open_fds(), before + 1);
	assert_false(fd_readable(efd));
	int ep = epoll_create1(0);
	struct epoll_event ev = { .events = EPOLLIN };
	assert_int_equal(epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev), 0);
	assert_int_equal(np_send(a, "pong", 4, 0), 4);
	tnet_sim(n, 1);
	struct epoll_event out;
	assert_int_equal(epoll_wait(ep, &out, 1, 0), 1);
	assert_int_equal(np_recv(c, buf, sizeof(buf), 0), 4);
	assert_memory_equal(buf, "pong", 4);
	assert_false(fd_readable(efd));
	assert_int_equal(epoll_wait(ep, &out, 1, 0), 0);

	/* Asked for while data already waits: readable at once. */
	assert_int_equal(np_send(c, "late", 4, 0), 4);
	tnet_sim(n, 1);
	int efd2 = np_socket_fd(a);
	assert_true(efd2 >= 0);
	assert_true(fd_readable(efd2));

	/* The peer's FIN makes it readable (EOF), as for an ordinary socket. */
	assert_int_equal(np_recv(a, buf, sizeof(buf), 0), 4);
	assert_false(fd_readable(efd2));
	assert_int_equal(np_close(c), 0);   /* closes its eventfd too */
	tnet_sim(n, 1);
	assert_true(fd_readable(efd2));
	assert_int_equal(np_recv(a, buf, sizeof(buf), 0), 0);
	close(ep);
	assert_int_equal(np_close(a), 0);
	assert_int_equal(np_close(lfd), 0);
	assert_int_equal(open_fds(), before);
	tnet_free(n);
}

/* np_stack_destroy closes the NOFD sockets of that stack, and only those. */
static void test_nofd_stack_destroy(void **state)
{
	(void)state;
	struct tnet *n = tnet_new(3);
	struct np_stack_config cfg = { .name = "other" };
	struct np_stack *other = np_stack_create(&cfg);
	assert_non_null(other);
	int mine = np_socket(other, AF_INET, SOCK_DGRAM | NP_SOCK_NOFD, 0);
	int gone = np_socket(n->s[0], AF_INET, SOCK_DGRAM | NP_SOCK_NOFD, 0);
	assert_true(mine >= NP_SOCK_FD_BASE && gone >= NP_SOCK_FD_BASE);
	tnet_free(n);
	assert_false(np_is_socket(gone));
	assert_true(np_is_socket(mine));
	assert_int_equal(np_close(mine), 0);
	np_stack_destroy(other);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nofd_costs_no_descriptor),
		cmocka_unit_test(test_nofd_tcp_and_poll),
		cmocka_unit_test(test_nofd_stack_destroy),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
