/*
 * Scenario: blocking TCP calls from application threads while each stack
 * runs in its own thread (np_stack_start) on the real clock, over the
 * virtual cable: blocking connect/accept, send larger than the send buffer,
 * recv with MSG_WAITALL, SO_RCVTIMEO, a peer that closes while a reader
 * sleeps, and close from one thread waking a reader in another.
 *   A (10.0.0.1/24) eth0 <==cable==> eth0 B (10.0.0.2/24)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <sys/time.h>

#include "scenarios/tcp_net.h"

#define BYTES (1u << 20)

struct net {
	struct np_stack *s[2];
	struct np_dev *d[2];
};

static int setup(void **state)
{
	struct net *n = calloc(1, sizeof(*n));
	for (int i = 0; i < 2; i++) {
		struct np_stack_config cfg = { .name = i ? "B" : "A" };
		n->s[i] = np_stack_create(&cfg);
		assert_non_null(n->s[i]);
	}
	assert_int_equal(np_cable_create(n->s[0], "eth0", n->s[1], "eth0", &n->d[0], &n->d[1]), 0);
	assert_int_equal(np_addr_add(n->d[0], TN_A_IP "/24"), 0);
	assert_int_equal(np_addr_add(n->d[1], TN_B_IP "/24"), 0);
	assert_int_equal(np_stack_start(n->s[0]), 0);
	assert_int_equal(np_stack_start(n->s[1]), 0);
	*state = n;
	return 0;
}

static int teardown(void **state)
{
	struct net *n = *state;
	np_stack_join(n->s[0]);
	np_stack_join(n->s[1]);
	np_stack_destroy(n->s[0]);
	np_stack_destroy(n->s[1]);
	free(n);
	return 0;
}

struct server_arg {
	int lfd;
	size_t got;
	uint8_t digest[32];
	int err;
};

/* Accepts one connection, reads everything with MSG_WAITALL chunks until EOF, echoes a digest. */
static void *server(void *p)
{
	struct server_arg *a = p;
	int fd = np_accept(a->lfd, NULL, NULL);
	if (fd < 0) {
		a->err = errno;
		return NULL;
	}
	struct tn_sha256 h;
	tn_sha256_init(&h);
	static uint8_t buf[50000];
	for (;;) {
		ssize_t r = np_recv(fd, buf, sizeof(buf), MSG_WAITALL);
		if (r < 0) {
			a->err = errno;
			break;
		}
		tn_sha256_update(&h, buf, (size_t)r);
		a->got += (size_t)r;
		if (r < (ssize_t)sizeof(buf))
			break;   /* MSG_WAITALL returns short only at EOF (or error) */
	}
	tn_sha256_final(&h, a->digest);
	np_send(fd, a->digest, 32, 0);
	np_close(fd);
	return NULL;
}

static void test_blocking_transfer(void **state)
{
	struct net *n = *state;
	int lfd = np_socket(n->s[1], AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in la = tn_addr(TN_B_IP, 9000);
	assert_int_equal(np_bind(lfd, (struct sockaddr *)&la, sizeof(la)), 0);
	assert_int_equal(np_listen(lfd, 4), 0);
	struct server_arg sa = { .lfd = lfd };
	pthread_t th;
	pthread_create(&th, NULL, server, &sa);

	int c = np_socket(n->s[0], AF_INET, SOCK_STREAM, 0);
	assert_int_equal(np_connect(c, (struct sockaddr *)&la, sizeof(la)), 0);
	static uint8_t data[BYTES];
	struct tn_gen g = { .x = 99 };
	tn_gen_fill(&g, data, sizeof(data));
	/* One blocking send bigger than the send buffer: it waits for ACKs as it goes. */
	assert_int_equal(np_send(c, data, sizeof(data), 0), (ssize_t)sizeof(data));
	assert_int_equal(np_shutdown(c, SHUT_WR), 0);
	uint8_t digest[32];
	assert_int_equal(np_recv(c, digest, sizeof(digest), MSG_WAITALL), 32);
	pthread_join(th, NULL);
	assert_int_equal(sa.err, 0);
	assert_int_equal(sa.got, sizeof(data));
	struct tn_sha256 h;
	tn_sha256_init(&h);
	tn_sha256_update(&h, data, sizeof(data));
	uint8_t want[32];
	tn_sha256_final(&h, want);
	assert_memory_equal(digest, want, 32);
	assert_int_equal(np_recv(c, digest, sizeof(digest), 0), 0);
	np_close(c);
	np_close(lfd);
}

static void test_rcvtimeo_and_refused(void **state)
{
	struct net *n = *state;
	/* Nobody listens: a blocking connect fails with ECONNREFUSED (the peer's RST). */
	int c = np_socket(n->s[0], AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in b = tn_addr(TN_B_IP, 9001);
	assert_int_equal(np_connect(c, (struct sockaddr *)&b, sizeof(b)), -1);
	assert_int_equal(errno, ECONNREFUSED);
	np_close(c);
	/* SO_RCVTIMEO bounds a blocking recv and accept (EAGAIN). */
	int lfd = np_socket(n->s[1], AF_INET, SOCK_STREAM, 0);
	assert_int_equal(np_bind(lfd, (struct sockaddr *)&b, sizeof(b)), 0);
	assert_int_equal(np_listen(lfd, 4), 0);
	struct timeval tv = { .tv_sec = 0, .tv_usec = 50000 };
	assert_int_equal(np_setsockopt(lfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	assert_int_equal(np_accept(lfd, NULL, NULL), -1);
	assert_int_equal(errno, EAGAIN);
	c = np_socket(n->s[0], AF_INET, SOCK_STREAM, 0);
	assert_int_equal(np_connect(c, (struct sockaddr *)&b, sizeof(b)), 0);
	int s = np_accept(lfd, NULL, NULL);
	assert_true(s >= 0);
	assert_int_equal(np_setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	char x;
	assert_int_equal(np_recv(c, &x, 1, 0), -1);
	assert_int_equal(errno, EAGAIN);
	/* The peer closes while we wait: recv returns 0. */
	np_close(s);
	tv.tv_sec = 5;
	np_setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	assert_int_equal(np_recv(c, &x, 1, 0), 0);
	np_close(c);
	np_close(lfd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_blocking_transfer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rcvtimeo_and_refused, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
