/*
 * Unit tests for the socket route cache (route.c's ip_route_output_cached,
 * Linux's sk_dst_cache): a cached route must equal what ip_route_output
 * gives after every change it depends on (route add/del, address add/del,
 * device down/up, MTU, device removal), and a key change must miss.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/netdevice.h"
#include "core/stack.h"
#include "net/ipv4/route.h"

#define IP(a, b, c, d) (((uint32_t)(a) << 24) | ((uint32_t)(b) << 16) | ((uint32_t)(c) << 8) | (uint32_t)(d))

static netdev_tx_t tx_sink(struct sk_buff *skb, struct net_device *dev)
{
	consume_skb(skb);
	return NETDEV_TX_OK;
}
static const struct net_device_ops sink_ops = { .ndo_start_xmit = tx_sink };

struct fx {
	struct np_clock *c;
	struct np_stack *s;
	struct net_device *t0, *t1;
};

static struct net_device *mkdev(struct np_stack *s, const char *name)
{
	struct net_device *d = alloc_netdev(s, name, 0);

	assert_non_null(d);
	ether_setup(d);
	d->netdev_ops = &sink_ops;
	assert_int_equal(register_netdev(d), 0);
	assert_int_equal(dev_open(d), 0);
	return d;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct np_stack_config cfg = { .name = "rc", .seed = 7 };

	f->c = np_clock_virtual(1000);
	cfg.clock = f->c;
	f->s = np_stack_create(&cfg);
	assert_non_null(f->s);
	f->t0 = mkdev(f->s, "t0");
	f->t1 = mkdev(f->s, "t1");
	assert_int_equal(inet_addr_add(f->t0, IP(10, 0, 0, 1), 24), 0);
	assert_int_equal(inet_addr_add(f->t1, IP(10, 1, 0, 1), 24), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	np_stack_destroy(f->s);
	np_clock_destroy(f->c);
	free(f);
	return 0;
}

/* The cached answer and a fresh lookup agree, result and route. */
static void check_same(struct fx *f, struct dst_cache *c, uint32_t daddr, uint32_t saddr, struct net_device *oif)
{
	struct rtable a, b;
	int ea = ip_route_output_cached(f->s, c, daddr, saddr, oif, &a);
	int eb = ip_route_output(f->s, daddr, saddr, oif, &b);

	assert_int_equal(ea, eb);
	if (ea == 0) {
		assert_int_equal(a.rt_type, b.rt_type);
		assert_ptr_equal(a.dev, b.dev);
		assert_int_equal(a.rt_gateway, b.rt_gateway);
		assert_int_equal(a.rt_uses_gateway, b.rt_uses_gateway);
		assert_int_equal(a.rt_src, b.rt_src);
		assert_int_equal(a.rt_mtu, b.rt_mtu);
	}
}

static void test_hit_and_invalidation(void **state)
{
	struct fx *f = *state;
	struct dst_cache c = { 0 };
	struct rtable rt;
	uint32_t dst = IP(192, 168, 5, 9);
	struct fib_route def = { .dst = 0, .plen = 0, .gateway = IP(10, 0, 0, 254), .type = RTN_UNICAST,
				 .protocol = RTPROT_STATIC };
	struct fib_route more = { .dst = IP(192, 168, 5, 0), .plen = 24, .gateway = IP(10, 1, 0, 254),
				  .type = RTN_UNICAST, .protocol = RTPROT_STATIC };

	/* No route: an error is never cached. */
	assert_int_equal(ip_route_output_cached(f->s, &c, dst, 0, NULL, &rt), -ENETUNREACH);
	assert_int_equal(c.genid, 0);

	assert_int_equal(fib_add(f->s, &def), 0);
	assert_int_equal(ip_route_output_cached(f->s, &c, dst, 0, NULL, &rt), 0);
	assert_ptr_equal(rt.dev, f->t0);
	assert_int_not_equal(c.genid, 0);
	check_same(f, &c, dst, 0, NULL);

	/* A more specific route must be seen at once. */
	assert_int_equal(fib_add(f->s, &more), 0);
	check_same(f, &c, dst, 0, NULL);
	assert_int_equal(ip_route_output_cached(f->s, &c, dst, 0, NULL, &rt), 0);
	assert_ptr_equal(rt.dev, f->t1);
	assert_int_equal(rt.rt_gateway, IP(10, 1, 0, 254));

	/* Its deletion too. */
	assert_int_equal(fib_del(f->s, IP(192, 168, 5, 0), 24, NULL), 0);
	check_same(f, &c, dst, 0, NULL);
	assert_int_equal(ip_route_output_cached(f->s, &c, dst, 0, NULL, &rt), 0);
	assert_ptr_equal(rt.dev, f->t0);

	/* MTU. */
	assert_int_equal(np_dev_set_mtu((struct np_dev *)f->t0, 1400), 0);
	assert_int_equal(ip_route_output_cached(f->s, &c, dst, 0, NULL, &rt), 0);
	assert_int_equal(rt.rt_mtu, 1400);
	check_same(f, &c, dst, 0, NULL);

	/* Device down, then up (the kernel routes of its address come back with np_addr). */
	assert_int_equal(dev_close(f->t0), 0);
	check_same(f, &c, dst, 0, NULL);
	assert_int_not_equal(ip_route_output_cached(f->s, &c, dst, 0, NULL, &rt), 0);
	assert_int_equal(dev_open(f->t0), 0);
	check_same(f, &c, dst, 0, NULL);
}

static void test_keys_and_addresses(void **state)
{
	struct fx *f = *state;
	struct dst_cache c = { 0 };
	struct rtable rt;

	/* On-link on t0; then another destination, source and oif each miss. */
	assert_int_equal(ip_route_output_cached(f->s, &c, IP(10, 0, 0, 7), 0, NULL, &rt), 0);
	assert_ptr_equal(rt.dev, f->t0);
	assert_int_equal(rt.rt_src, IP(10, 0, 0, 1));
	assert_int_equal(ip_route_output_cached(f->s, &c, IP(10, 1, 0, 7), 0, NULL, &rt), 0);
	assert_ptr_equal(rt.dev, f->t1);
	check_same(f, &c, IP(10, 1, 0, 7), IP(10, 0, 0, 1), NULL);
	check_same(f, &c, IP(10, 1, 0, 7), 0, f->t0);
	check_same(f, &c, IP(10, 1, 0, 7), 0, NULL);

	/* A source address that goes away makes the cached route invalid. */
	check_same(f, &c, IP(10, 1, 0, 7), IP(10, 1, 0, 1), NULL);
	assert_int_equal(inet_addr_del(f->t1, IP(10, 1, 0, 1), 24), 0);
	assert_int_equal(ip_route_output_cached(f->s, &c, IP(10, 1, 0, 7), IP(10, 1, 0, 1), NULL, &rt), -EINVAL);
	check_same(f, &c, IP(10, 1, 0, 7), IP(10, 1, 0, 1), NULL);

	/* A new address: its connected route is used at once. */
	check_same(f, &c, IP(10, 2, 0, 7), 0, NULL);
	assert_int_equal(inet_addr_add(f->t1, IP(10, 2, 0, 1), 24), 0);
	assert_int_equal(ip_route_output_cached(f->s, &c, IP(10, 2, 0, 7), 0, NULL, &rt), 0);
	assert_ptr_equal(rt.dev, f->t1);
	assert_int_equal(rt.rt_src, IP(10, 2, 0, 1));

	/* The device goes away: no cached pointer to it survives. */
	unregister_netdev(f->t1);
	f->t1 = NULL;
	assert_int_not_equal(ip_route_output_cached(f->s, &c, IP(10, 2, 0, 7), 0, NULL, &rt), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_hit_and_invalidation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_keys_and_addresses, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
