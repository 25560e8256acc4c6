/*
 * Unit tests for src/netfilter/core.c: the five hooks are passed at Linux's
 * places, entries run in priority order, and DROP / STOLEN / ACCEPT verdicts
 * do what they say (a drop is counted under its reason). Two stacks on a
 * virtual cable (tests/cable_pair.h):
 *   a 10.1.0.1 eth0 <==cable==> eth0 10.1.0.2 b
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cable_pair.h"
#include "core/stack.h"
#include "net/ipv4/ip.h"
#include "netfilter/netfilter.h"

struct fx {
	struct tnet *n;
	struct np_stack *a, *b;   /* n->s[0], n->s[1] */
	int replies;
};

static void on_reply(void *arg, const struct np_ping_reply *r)
{
	struct fx *f = arg;
	if (!r->error_type)
		f->replies++;
}

static int setup(void **state)
{
	static const struct tnet_config pair = {
		.name = { "a", "b" }, .addr = { "10.1.0.1/24", "10.1.0.2/24" }, .seed = { 11, 12 }, .t0 = 0,
	};
	struct fx *f = calloc(1, sizeof(*f));
	f->n = tnet_open(&pair);
	assert_non_null(f->n);   /* both stacks, the cable and the two addresses */
	f->a = f->n->s[0];
	f->b = f->n->s[1];
	np_ping_handler(f->a, 77, on_reply, f);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	tnet_free(f->n);
	free(f);
	return 0;
}

static void ping(struct fx *f, uint16_t seq)
{
	struct in_addr dst;
	inet_pton(AF_INET, "10.1.0.2", &dst);
	assert_int_equal(np_ping_send(f->a, dst, 77, seq, 56), 0);
	tnet_sim(f->n, 1000);
}

static int calls[8], ncalls;

static unsigned drop_icmp(void *priv, struct sk_buff *skb, const struct nf_hook_state *st,
			  enum np_drop_reason *reason)
{
	calls[ncalls++ & 7] = (int)(intptr_t)priv;
	return IPCB(skb)->protocol == IPPROTO_ICMP ? NF_DROP : NF_ACCEPT;
}

static unsigned accept_hook(void *priv, struct sk_buff *skb, const struct nf_hook_state *st,
			    enum np_drop_reason *reason)
{
	calls[ncalls++ & 7] = (int)(intptr_t)priv;
	return NF_ACCEPT;
}

static void test_drop_at_local_in(void **state)
{
	struct fx *f = *state;
	ping(f, 1);
	assert_int_equal(f->replies, 1);
	assert_int_equal(nf_register_hook(f->b, NF_INET_LOCAL_IN, 0, drop_icmp, (void *)1), 0);
	ping(f, 2);
	assert_int_equal(f->replies, 1);
	assert_int_equal(np_stack_drops(f->b, NP_DROP_NETFILTER_DROP), 1);
	/* The hook ran after routing: bob received it, but never answered. */
	assert_int_equal(np_stack_mib(f->b, NP_MIB_IcmpInEchos), 1);
	nf_unregister_hook(f->b, NF_INET_LOCAL_IN, drop_icmp, (void *)1);
	ping(f, 3);
	assert_int_equal(f->replies, 2);
}

static void test_priority_order(void **state)
{
	struct fx *f = *state;
	ncalls = 0;
	/* Registered out of order; they must run 10, 20, 30. */
	nf_register_hook(f->b, NF_INET_PRE_ROUTING, 30, accept_hook, (void *)30);
	nf_register_hook(f->b, NF_INET_PRE_ROUTING, 10, accept_hook, (void *)10);
	nf_register_hook(f->b, NF_INET_PRE_ROUTING, 20, accept_hook, (void *)20);
	ping(f, 1);
	assert_int_equal(f->replies, 1);
	assert_int_equal(ncalls, 1 * 3);   /* one IP packet reached bob (ARP is not IP) */
	assert_int_equal(calls[0], 10);
	assert_int_equal(calls[1], 20);
	assert_int_equal(calls[2], 30);
	assert_int_equal(nf_register_hook(f->b, 7, 0, accept_hook, NULL), -EINVAL);
}

static struct sk_buff *stolen;
static unsigned steal(void *priv, struct sk_buff *skb, const struct nf_hook_state *st, enum np_drop_reason *reason)
{
	stolen = skb;
	return NF_STOLEN;
}

static unsigned drop_as_martian(void *priv, struct sk_buff *skb, const struct nf_hook_state *st,
				enum np_drop_reason *reason)
{
	*reason = NP_DROP_IP_INVALID_SOURCE;
	return NF_DROP;
}

static void test_drop_with_hook_reason(void **state)
{
	struct fx *f = *state;
	nf_register_hook(f->a, NF_INET_LOCAL_OUT, 0, drop_as_martian, NULL);
	struct in_addr dst;
	inet_pton(AF_INET, "10.1.0.2", &dst);
	/* As in Linux, a locally generated packet dropped by a hook fails the send with EPERM. */
	assert_int_equal(np_ping_send(f->a, dst, 77, 1, 56), -EPERM);
	assert_int_equal(f->replies, 0);
	/* The reason the hook chose is the one counted. */
	assert_int_equal(np_stack_drops(f->a, NP_DROP_IP_INVALID_SOURCE), 1);
	assert_int_equal(np_stack_drops(f->a, NP_DROP_NETFILTER_DROP), 0);
}

static void test_stolen(void **state)
{
	struct fx *f = *state;
	nf_register_hook(f->a, NF_INET_POST_ROUTING, 0, steal, NULL);
	stolen = NULL;
	ping(f, 1);
	/* The hook owns it now: nothing was sent, nothing counted as a drop. */
	assert_non_null(stolen);
	assert_int_equal(f->replies, 0);
	assert_int_equal(np_stack_drops(f->a, NP_DROP_NETFILTER_DROP), 0);
	consume_skb(stolen);
	nf_unregister_hook(f->a, NF_INET_POST_ROUTING, steal, NULL);
	ping(f, 2);
	assert_int_equal(f->replies, 1);
}

static char seen[4][96];
static int nseen;
/* Records, per packet, the hooks its path passed, in order. */
static void collect(void *arg, const struct np_trace_path *p)
{
	if (nseen >= 4)
		return;
	seen[nseen][0] = 0;
	for (int i = 0; i < p->nstages; i++) {
		if (strncmp(p->stages[i].fn, "NF_INET_", 8) == 0) {
			strcat(seen[nseen], p->stages[i].fn + 8);
			strcat(seen[nseen], " ");
		}
	}
	nseen++;
}

static void test_hooks_on_the_path(void **state)
{
	struct fx *f = *state;
	ping(f, 1);   /* resolve ARP first so the traced packets are the echo pair only */
	nseen = 0;
	np_stack_trace(f->b, 0, NULL);
	np_stack_trace_cb(f->b, collect, NULL);
	ping(f, 2);
	/*
	 * bob: the request passes PRE_ROUTING then LOCAL_IN; the reply LOCAL_OUT then
	 * POST_ROUTING. The reply's path ends first (at the driver), while the
	 * request is still in icmp_rcv.
	 */
	assert_int_equal(nseen, 2);
	assert_string_equal(seen[0], "LOCAL_OUT POST_ROUTING ");
	assert_string_equal(seen[1], "PRE_ROUTING LOCAL_IN ");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_drop_at_local_in, setup, teardown),
		cmocka_unit_test_setup_teardown(test_priority_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stolen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_drop_with_hook_reason, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hooks_on_the_path, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
