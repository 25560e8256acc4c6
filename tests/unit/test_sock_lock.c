/*
 * Unit tests for src/socket/sock.c's socket ownership (lock_sock /
 * release_sock) and the stack's list of socks: the condition variable a
 * contending thread sleeps on is allocated by the first one that has to
 * wait (not carried by every socket), and a sock leaves the stack's list in
 * O(1) whatever its place in it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>
#include <pthread.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/stack.h"
#include "socket/sock.h"

static struct proto dummy_prot = { .name = "dummy", .obj_size = sizeof(struct sock) };

static struct np_stack *mk(struct np_clock **c)
{
	*c = np_clock_virtual(0);
	struct np_stack_config cfg = { .name = "t", .clock = *c, .seed = 3 };
	return np_stack_create(&cfg);
}

struct contender {
	struct sock *sk;
	_Atomic int started, owned_it;
};

static void *contend(void *arg)
{
	struct contender *c = arg;
	struct np_stack *s = c->sk->stack;
	np_stack_lock(s);
	c->started = 1;
	lock_sock(c->sk);            /* waits: the main thread owns it */
	c->owned_it = 1;
	release_sock(c->sk);
	np_stack_unlock(s);
	return NULL;
}

static void test_contended_lock_sock(void **state)
{
	(void)state;
	struct np_clock *clk;
	struct np_stack *s = mk(&clk);
	np_stack_lock(s);
	struct sock *sk = sk_alloc(s, AF_INET, &dummy_prot);
	assert_non_null(sk);
	assert_null(sk->owned_cond);   /* nobody waited yet: no condition variable */
	lock_sock(sk);
	assert_int_equal(sk->owned, 1);
	np_stack_unlock(s);            /* still owned: the other thread has to wait */

	struct contender c = { .sk = sk };
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, contend, &c), 0);
	while (!c.started)
		sched_yield();
	/* The contender is asleep on the socket (or about to be): it allocates the condition variable. */
	for (int i = 0; i < 1000; i++) {
		np_stack_lock(s);
		int waiting = sk->owned_cond != NULL;
		np_stack_unlock(s);
		if (waiting)
			break;
		usleep(1000);
	}
	np_stack_lock(s);
	assert_non_null(sk->owned_cond);
	assert_int_equal(c.owned_it, 0);
	release_sock(sk);              /* wakes it */
	np_stack_unlock(s);
	pthread_join(th, NULL);
	assert_int_equal(c.owned_it, 1);
	np_stack_lock(s);
	assert_int_equal(sk->owned, 0);
	sock_put(sk);                  /* frees the condition variable with the sock */
	np_stack_unlock(s);
	np_stack_destroy(s);
	np_clock_destroy(clk);
}

static int on_list(struct np_stack *s, struct sock *sk)
{
	for (struct sock *x = s->sock_list; x; x = x->node_next)
		if (x == sk)
			return 1;
	return 0;
}

static void test_sock_list_unlink(void **state)
{
	(void)state;
	struct np_clock *clk;
	struct np_stack *s = mk(&clk);
	struct sock *v[5];
	np_stack_lock(s);
	struct sock *before = s->sock_list;
	for (int i = 0; i < 5; i++)
		v[i] = sk_alloc(s, AF_INET, &dummy_prot);
	/* Middle, head (the newest), tail (the oldest of ours): each leaves, the others stay. */
	int order[5] = { 2, 4, 0, 3, 1 };
	for (int k = 0; k < 5; k++) {
		struct sock *gone = v[order[k]];
		sock_put(gone);
		for (int j = k + 1; j < 5; j++)
			assert_true(on_list(s, v[order[j]]));
	}
	assert_ptr_equal(s->sock_list, before);
	np_stack_unlock(s);
	np_stack_destroy(s);
	np_clock_destroy(clk);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_contended_lock_sock),
		cmocka_unit_test(test_sock_list_unlink),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
