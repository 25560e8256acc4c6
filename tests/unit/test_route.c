/*
 * Unit tests for src/net/ipv4/route.c and devinet.c: longest-prefix match
 * against a brute-force reference, default and host routes, deletion, the
 * local/broadcast/connected routes of addresses, input classification and
 * martians, gateway checks, output route and source selection, printing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/netdevice.h"
#include "core/stack.h"
#include "net/ipv4/fib_lookup.h"
#include "net/ipv4/route.h"
#include "wire/ipv4.h"

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
	struct np_stack_config cfg = { .name = "rt", .seed = 7 };

	f->c = np_clock_virtual(1000);
	cfg.clock = f->c;
	f->s = np_stack_create(&cfg);
	assert_non_null(f->s);
	f->t0 = mkdev(f->s, "t0");
	f->t1 = mkdev(f->s, "t1");
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

/* Captures a print function's output. */
static char *capture(void (*fn)(struct np_stack *, FILE *), struct np_stack *s)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);

	fn(s, m);
	fclose(m);
	return buf;
}

/* ---- LPM against brute force ---- */

struct ref_route {
	uint32_t dst;
	int plen;
	int live;
};

static uint64_t xs_state;
static uint32_t xs32(void)
{
	/* xorshift64*: a fixed seed keeps the test reproducible. */
	xs_state ^= xs_state >> 12;
	xs_state ^= xs_state << 25;
	xs_state ^= xs_state >> 27;
	return (uint32_t)((xs_state * 0x2545F4914F6CDD1Dull) >> 32);
}

static const struct ref_route *ref_lookup(const struct ref_route *v, int n, uint32_t a)
{
	const struct ref_route *best = NULL;

	for (int i = 0; i < n; i++)
		if (v[i].live && ((a ^ v[i].dst) & ipv4_plen_mask(v[i].plen)) == 0 && (!best || v[i].plen > best->plen))
			best = &v[i];
	return best;
}

static uint32_t random_query(const struct ref_route *v, int n)
{
	uint32_t a;

	do {
		if (xs32() & 1) {
			/* Near an existing prefix, so long prefixes get hit. */
			const struct ref_route *r = &v[xs32() % (uint32_t)n];
			a = r->dst | (xs32() & ~ipv4_plen_mask(r->plen));
		} else {
			a = xs32();
		}
	} while (ipv4_is_loopback(a)); /* 127/8 is the loopback's local route */
	return a;
}

static void check_against_ref(struct np_stack *s, const struct ref_route *v, int n, int queries)
{
	for (int q = 0; q < queries; q++) {
		uint32_t a = random_query(v, n);
		const struct ref_route *want = ref_lookup(v, n, a);
		const struct fib_route *got = fib_lookup(s, a);

		if (!want) {
			assert_null(got);
			continue;
		}
		assert_non_null(got);
		assert_int_equal(got->plen, want->plen);
		assert_int_equal(got->dst, want->dst);
	}
}

static void test_lpm_random_vs_bruteforce(void **state)
{
	struct fx *f = *state;
	enum { N = 4000 };
	struct ref_route *v = calloc(N, sizeof(*v));
	int n = 0;

	xs_state = 0x9e3779b97f4a7c15ull;
	while (n < N) {
		/* Lengths 1..32 (no default, so misses are tested too), weighted like real tables. */
		int plen = (xs32() & 3) ? 8 + (int)(xs32() % 25) : 1 + (int)(xs32() % 32);
		uint32_t dst = xs32() & ipv4_plen_mask(plen);
		struct fib_route r = { .dst = dst, .plen = plen, .dev = f->t0, .type = RTN_UNICAST,
				       .protocol = RTPROT_BOOT };
		int rc = fib_add(f->s, &r);

		if (rc == -EEXIST)
			continue;
		assert_int_equal(rc, 0);
		v[n++] = (struct ref_route){ dst, plen, 1 };
	}
	/* Adding the same prefix again is refused, as `ip route add` does. */
	struct fib_route dup = { .dst = v[0].dst, .plen = v[0].plen, .dev = f->t0, .type = RTN_UNICAST };
	assert_int_equal(fib_add(f->s, &dup), -EEXIST);

	check_against_ref(f->s, v, n, 20000);

	/* Delete half, check again; deleted routes are gone for good. */
	for (int i = 0; i < n; i += 2) {
		assert_int_equal(fib_del(f->s, v[i].dst, v[i].plen, NULL), 0);
		v[i].live = 0;
	}
	assert_int_equal(fib_del(f->s, v[0].dst, v[0].plen, NULL), -ESRCH);
	check_against_ref(f->s, v, n, 20000);

	/* The device going away takes every route through it. */
	fib_flush_dev(f->s, f->t0);
	for (int i = 0; i < n; i++)
		v[i].live = 0;
	check_against_ref(f->s, v, n, 2000);
	free(v);
}

static void test_bad_prefixes(void **state)
{
	struct fx *f = *state;
	struct fib_route r = { .dst = IP(10, 1, 0, 1), .plen = 16, .dev = f->t0, .type = RTN_UNICAST };

	assert_int_equal(fib_add(f->s, &r), -EINVAL);       /* host bits set */
	r.dst = IP(10, 1, 0, 0);
	r.plen = 33;
	assert_int_equal(fib_add(f->s, &r), -EINVAL);
	assert_int_equal(np_route_add(f->s, "10.1.0.1/16", NULL, (struct np_dev *)f->t0), -EINVAL);
	assert_int_equal(np_route_add(f->s, "10.1.0.0/33", NULL, (struct np_dev *)f->t0), -EINVAL);
	assert_int_equal(np_route_add(f->s, "nonsense", NULL, (struct np_dev *)f->t0), -EINVAL);
	assert_int_equal(np_route_add(f->s, "10.1.0.0/16", "10.0.0.256", NULL), -EINVAL);
	assert_int_equal(np_route_add(f->s, "10.1.0.0/16", NULL, NULL), -ENODEV);
	assert_int_equal(np_route_del(f->s, "10.1.0.0/16"), -ESRCH);
}

/* ---- default, host routes, gateways ---- */

static void test_default_and_host_routes(void **state)
{
	struct fx *f = *state;
	struct rtable rt;
	const struct fib_route *r;

	assert_int_equal(np_addr_add((struct np_dev *)f->t0, "10.0.0.2/24"), 0);
	assert_null(fib_lookup(f->s, IP(8, 8, 8, 8)));
	assert_int_equal(ip_route_output(f->s, IP(8, 8, 8, 8), 0, NULL, &rt), -ENETUNREACH);

	assert_int_equal(np_route_add(f->s, "default", "10.0.0.1", NULL), 0);
	assert_int_equal(np_route_add(f->s, "default", "10.0.0.1", NULL), -EEXIST);
	r = fib_lookup(f->s, IP(8, 8, 8, 8));
	assert_non_null(r);
	assert_int_equal(r->plen, 0);
	assert_int_equal(r->gateway, IP(10, 0, 0, 1));
	assert_ptr_equal(r->dev, f->t0);   /* learnt from the connected route */

	assert_int_equal(ip_route_output(f->s, IP(8, 8, 8, 8), 0, NULL, &rt), 0);
	assert_int_equal(rt.rt_type, RTN_UNICAST);
	assert_ptr_equal(rt.dev, f->t0);
	assert_int_equal(rt.rt_gateway, IP(10, 0, 0, 1));
	assert_int_equal(rt.rt_uses_gateway, 1);
	assert_int_equal(rt.rt_src, IP(10, 0, 0, 2));
	assert_int_equal(rt.rt_mtu, 1500);

	/* On-link destinations keep themselves as next hop. */
	assert_int_equal(ip_route_output(f->s, IP(10, 0, 0, 9), 0, NULL, &rt), 0);
	assert_int_equal(rt.rt_gateway, IP(10, 0, 0, 9));
	assert_int_equal(rt.rt_uses_gateway, 0);

	/* A /32 host route beats the /24 and the default. */
	assert_int_equal(np_route_add(f->s, "10.0.0.77/32", "10.0.0.5", NULL), 0);
	r = fib_lookup(f->s, IP(10, 0, 0, 77));
	assert_int_equal(r->plen, 32);
	assert_int_equal(r->gateway, IP(10, 0, 0, 5));
	assert_int_equal(fib_lookup(f->s, IP(10, 0, 0, 78))->plen, 24);
	assert_int_equal(ip_route_output(f->s, IP(10, 0, 0, 77), 0, NULL, &rt), 0);
	assert_int_equal(rt.rt_gateway, IP(10, 0, 0, 5));

	char *out = capture(np_route_print, f->s);
	assert_non_null(strstr(out, "default via 10.0.0.1 dev t0\n"));
	assert_non_null(strstr(out, "10.0.0.0/24 dev t0 proto kernel scope link src 10.0.0.2\n"));
	assert_non_null(strstr(out, "10.0.0.77 via 10.0.0.5 dev t0\n"));
	assert_true(strstr(out, "default") < strstr(out, "10.0.0.0/24"));
	free(out);

	assert_int_equal(np_route_del(f->s, "10.0.0.77/32"), 0);
	assert_int_equal(fib_lookup(f->s, IP(10, 0, 0, 77))->plen, 24);
	assert_int_equal(np_route_del(f->s, "default"), 0);
	assert_null(fib_lookup(f->s, IP(8, 8, 8, 8)));
	assert_int_equal(np_route_del(f->s, "default"), -ESRCH);
}

static void test_gateway_must_be_onlink(void **state)
{
	struct fx *f = *state;

	assert_int_equal(np_addr_add((struct np_dev *)f->t0, "10.0.0.2/24"), 0);
	assert_int_equal(np_addr_add((struct np_dev *)f->t1, "172.16.0.1/16"), 0);
	/* "Nexthop has invalid gateway": no connected route holds it. */
	assert_int_equal(np_route_add(f->s, "10.9.0.0/16", "192.168.1.1", NULL), -ENETUNREACH);
	/* A gateway reached only through another gateway is not on-link either. */
	assert_int_equal(np_route_add(f->s, "192.168.0.0/16", "10.0.0.1", NULL), 0);
	assert_int_equal(np_route_add(f->s, "10.9.0.0/16", "192.168.1.1", NULL), -ENETUNREACH);
	/* Given a device, the gateway must be on-link through that device. */
	assert_int_equal(np_route_add(f->s, "10.9.0.0/16", "10.0.0.1", (struct np_dev *)f->t1), -ENETUNREACH);
	assert_int_equal(np_route_add(f->s, "10.9.0.0/16", "10.0.0.1", (struct np_dev *)f->t0), 0);
	/* Our own address or a broadcast cannot be a gateway. */
	assert_int_equal(np_route_add(f->s, "10.8.0.0/16", "10.0.0.2", NULL), -EINVAL);
	assert_int_equal(np_route_add(f->s, "10.8.0.0/16", "255.255.255.255", NULL), -EINVAL);
	/* A device that is down takes no routes. */
	assert_int_equal(dev_close(f->t1), 0);
	assert_int_equal(np_route_add(f->s, "10.7.0.0/16", NULL, (struct np_dev *)f->t1), -ENETDOWN);
	assert_int_equal(np_route_add(f->s, "10.7.0.0/16", "172.16.0.9", NULL), -ENETUNREACH);
}

/* ---- addresses ---- */

static void test_addr_add_del(void **state)
{
	struct fx *f = *state;
	struct np_dev *d = (struct np_dev *)f->t0;
	struct rtable rt;
	char buf[32];

	assert_int_equal(np_addr_add(d, "10.0.0.2/24"), 0);
	assert_int_equal(np_addr_add(d, "10.0.0.2/24"), -EEXIST);
	assert_int_equal(np_addr_add(d, "10.0.0.2/33"), -EINVAL);
	assert_int_equal(np_addr_add(d, "10.0.0/24"), -EINVAL);
	assert_int_equal(np_addr_add(d, "224.0.0.1/24"), -EINVAL);
	assert_true(inet_addr_is_local(f->s, IP(10, 0, 0, 2)));
	assert_ptr_equal(inet_addr_dev(f->s, IP(10, 0, 0, 2)), f->t0);
	assert_null(inet_addr_dev(f->s, IP(10, 0, 0, 3)));
	assert_int_equal(f->t0->ifa[0].ifa_broadcast, IP(10, 0, 0, 255));

	/* A second address in the same subnet shares the routes; the first stays primary. */
	assert_int_equal(np_addr_add(d, "10.0.0.3/24"), 0);
	assert_int_equal(inet_select_addr(f->t0, IP(10, 0, 0, 50)), IP(10, 0, 0, 2));
	assert_int_equal(np_addr_del(d, "10.0.0.2/24"), 0);
	assert_false(inet_addr_is_local(f->s, IP(10, 0, 0, 2)));
	assert_int_equal(ip_route_input(f->s, IP(10, 0, 0, 3), IP(10, 0, 0, 9), 0, f->t0, &rt), 0);
	assert_int_equal(rt.rt_type, RTN_LOCAL);
	assert_int_equal(ip_route_input(f->s, IP(10, 0, 0, 255), IP(10, 0, 0, 9), 0, f->t0, &rt), 0);
	assert_int_equal(rt.rt_type, RTN_BROADCAST);
	const struct fib_route *r = fib_lookup(f->s, IP(10, 0, 0, 50));
	assert_non_null(r);
	assert_int_equal(r->prefsrc, IP(10, 0, 0, 3));  /* promoted */
	/* 10.0.0.2 is no longer local: with forwarding off it is an address error. */
	assert_int_equal(ip_route_input(f->s, IP(10, 0, 0, 2), IP(10, 0, 0, 9), 0, f->t0, &rt),
			 -NP_DROP_IP_INADDRERRORS);

	/* Without addresses nothing is local or connected any more. */
	assert_int_equal(np_addr_del(d, "10.0.0.3"), 0);
	assert_int_equal(np_addr_del(d, "10.0.0.3/24"), -EADDRNOTAVAIL);
	assert_null(fib_lookup(f->s, IP(10, 0, 0, 50)));
	assert_null(fib_lookup(f->s, IP(10, 0, 0, 255)));
	assert_int_equal(f->t0->ifa_count, 0);

	/* The address array is bounded. */
	for (int i = 0; i < NP_MAX_IFADDRS; i++) {
		snprintf(buf, sizeof(buf), "10.%d.0.1/16", i + 1);
		assert_int_equal(np_addr_add(d, buf), 0);
	}
	assert_int_equal(np_addr_add(d, "10.200.0.1/16"), -ENOSPC);

	/* /32 and /31: no connected broadcast; /32 no connected route. */
	assert_int_equal(np_addr_add((struct np_dev *)f->t1, "192.0.2.1/32"), 0);
	assert_int_equal(f->t1->ifa[0].ifa_broadcast, 0);
	assert_int_equal(fib_lookup(f->s, IP(192, 0, 2, 1))->type, RTN_LOCAL);
	assert_null(fib_lookup(f->s, IP(192, 0, 2, 2)));
	assert_int_equal(np_addr_add((struct np_dev *)f->t1, "198.51.100.0/31"), 0);
	assert_int_equal(fib_lookup(f->s, IP(198, 51, 100, 1))->plen, 31);

	char *out = capture(np_addr_print, f->s);
	assert_non_null(strstr(out, ": t0: <BROADCAST,UP,LOWER_UP> mtu 1500\n    link/ether "));
	assert_non_null(strstr(out, "    inet 10.1.0.1/16 brd 10.1.255.255 scope global t0\n"));
	assert_non_null(strstr(out, "    inet 192.0.2.1/32 scope global t1\n"));
	assert_non_null(strstr(out, "1: lo: <LOOPBACK"));
	assert_non_null(strstr(out, "    inet 127.0.0.1/8 scope host lo\n"));
	free(out);
}

/* ---- input classification ---- */

static void test_input_classification(void **state)
{
	struct fx *f = *state;
	struct rtable rt;
	uint32_t peer = IP(10, 0, 0, 9);

	assert_int_equal(np_addr_add((struct np_dev *)f->t0, "10.0.0.2/24"), 0);
	assert_int_equal(np_addr_add((struct np_dev *)f->t1, "172.16.0.1/16"), 0);

	assert_int_equal(ip_route_input(f->s, IP(10, 0, 0, 2), peer, 0, f->t0, &rt), 0);
	assert_int_equal(rt.rt_type, RTN_LOCAL);
	assert_int_equal(rt.rt_src, IP(10, 0, 0, 2));
	/* Weak host model: an address of t1 arriving on t0 is still ours. */
	assert_int_equal(ip_route_input(f->s, IP(172, 16, 0, 1), peer, 0, f->t0, &rt), 0);
	assert_int_equal(rt.rt_type, RTN_LOCAL);
	assert_int_equal(ip_route_input(f->s, IP(10, 0, 0, 255), peer, 0, f->t0, &rt), 0);
	assert_int_equal(rt.rt_type, RTN_BROADCAST);
	assert_int_equal(ip_route_input(f->s, IP(255, 255, 255, 255), peer, 0, f->t0, &rt), 0);
	assert_int_equal(rt.rt_type, RTN_BROADCAST);
	assert_int_equal(rt.rt_src, IP(10, 0, 0, 2));
	assert_int_equal(ip_route_input(f->s, IP(224, 0, 0, 1), peer, 0, f->t0, &rt), 0);
	assert_int_equal(rt.rt_type, RTN_MULTICAST);

	/* Not ours: an address error unless forwarding, then a route or INNOROUTES. */
	assert_int_equal(ip_route_input(f->s, IP(172, 16, 5, 5), peer, 0, f->t0, &rt), -NP_DROP_IP_INADDRERRORS);
	f->s->sysctl.ip_forward = 1;
	assert_int_equal(ip_route_input(f->s, IP(172, 16, 5, 5), peer, 0, f->t0, &rt), 0);
	assert_int_equal(rt.rt_type, RTN_UNICAST);
	assert_ptr_equal(rt.dev, f->t1);
	assert_int_equal(rt.rt_gateway, IP(172, 16, 5, 5));
	assert_int_equal(rt.rt_src, IP(172, 16, 0, 1));
	assert_int_equal(ip_route_input(f->s, IP(8, 8, 8, 8), peer, 0, f->t0, &rt), -NP_DROP_IP_INNOROUTES);
	assert_int_equal(np_route_add(f->s, "default", "172.16.0.254", NULL), 0);
	assert_int_equal(ip_route_input(f->s, IP(8, 8, 8, 8), peer, 0, f->t0, &rt), 0);
	assert_int_equal(rt.rt_gateway, IP(172, 16, 0, 254));
	assert_int_equal(rt.rt_uses_gateway, 1);

	/* On lo, loopback addresses are fine; the whole 127/8 is local. */
	assert_int_equal(ip_route_input(f->s, IP(127, 0, 0, 1), IP(127, 0, 0, 1), 0, f->s->loopback_dev, &rt), 0);
	assert_int_equal(rt.rt_type, RTN_LOCAL);
	assert_int_equal(ip_route_input(f->s, IP(127, 0, 0, 5), IP(127, 0, 0, 1), 0, f->s->loopback_dev, &rt), 0);
	assert_int_equal(rt.rt_type, RTN_LOCAL);
	/* Our own source is normal on lo (our packets to ourselves). */
	assert_int_equal(ip_route_input(f->s, IP(10, 0, 0, 2), IP(10, 0, 0, 2), 0, f->s->loopback_dev, &rt), 0);
	assert_int_equal(rt.rt_type, RTN_LOCAL);
}

static void test_martians(void **state)
{
	struct fx *f = *state;
	struct rtable rt;
	uint32_t me = IP(10, 0, 0, 2);
	static const uint32_t bad_src[] = {
		0xe0000001u,        /* 224.0.0.1 multicast */
		0xffffffffu,        /* limited broadcast */
		0xf0000001u,        /* 240.0.0.1 class E */
		0,                  /* 0.0.0.0 */
		0x01020304u & 0x00ffffffu, /* 0.2.3.4: "this network" */
		0x7f000001u,        /* loopback off lo */
		0x0a0000ffu,        /* our subnet broadcast 10.0.0.255 */
	};
	static const uint32_t bad_dst[] = { 0x00010203u, 0xf0000001u, 0x7f000001u };

	assert_int_equal(np_addr_add((struct np_dev *)f->t0, "10.0.0.2/24"), 0);
	f->s->sysctl.ip_forward = 1;   /* martians are refused even on a router */
	uint64_t m0 = np_stack_mib(f->s, NP_MIB_IpExtInMartians);
	for (size_t i = 0; i < sizeof(bad_src) / sizeof(bad_src[0]); i++)
		assert_int_equal(ip_route_input(f->s, me, bad_src[i], 0, f->t0, &rt), -NP_DROP_IP_INVALID_SOURCE);
	/* ip_rcv_finish counts martians (once); the resolver only names the reason. */
	assert_int_equal(np_stack_mib(f->s, NP_MIB_IpExtInMartians), m0);
	/* Our own address as source from the wire. */
	assert_int_equal(ip_route_input(f->s, me, me, 0, f->t0, &rt), -NP_DROP_IP_LOCAL_SOURCE);
	for (size_t i = 0; i < sizeof(bad_dst) / sizeof(bad_dst[0]); i++)
		assert_int_equal(ip_route_input(f->s, bad_dst[i], IP(10, 0, 0, 9), 0, f->t0, &rt),
				 -NP_DROP_IP_INVALID_DEST);
	assert_int_equal(np_stack_mib(f->s, NP_MIB_IpExtInMartians), m0);
}

/* ---- output ---- */

static void test_output_source_selection(void **state)
{
	struct fx *f = *state;
	struct rtable rt;

	assert_int_equal(np_addr_add((struct np_dev *)f->t0, "10.0.0.2/24"), 0);
	assert_int_equal(np_addr_add((struct np_dev *)f->t0, "192.168.1.2/24"), 0);
	assert_int_equal(np_addr_add((struct np_dev *)f->t1, "172.16.0.1/16"), 0);

	/* The address in the destination's subnet. */
	assert_int_equal(ip_route_output(f->s, IP(192, 168, 1, 9), 0, NULL, &rt), 0);
	assert_int_equal(rt.rt_src, IP(192, 168, 1, 2));
	assert_int_equal(ip_route_output(f->s, IP(10, 0, 0, 9), 0, NULL, &rt), 0);
	assert_int_equal(rt.rt_src, IP(10, 0, 0, 2));
	/* A gateway route: the address in the gateway's subnet. */
	assert_int_equal(np_route_add(f->s, "default", "192.168.1.1", NULL), 0);
	assert_int_equal(ip_route_output(f->s, IP(8, 8, 8, 8), 0, NULL, &rt), 0);
	assert_int_equal(rt.rt_src, IP(192, 168, 1, 2));
	/* An explicit source must be ours. */
	assert_int_equal(ip_route_output(f->s, IP(8, 8, 8, 8), IP(172, 16, 0, 1), NULL, &rt), 0);
	assert_int_equal(rt.rt_src, IP(172, 16, 0, 1));
	assert_int_equal(ip_route_output(f->s, IP(8, 8, 8, 8), IP(10, 0, 0, 99), NULL, &rt), -EINVAL);

	/* To ourselves: through lo. */
	assert_int_equal(ip_route_output(f->s, IP(172, 16, 0, 1), 0, NULL, &rt), 0);
	assert_int_equal(rt.rt_type, RTN_LOCAL);
	assert_ptr_equal(rt.dev, f->s->loopback_dev);
	assert_int_equal(rt.rt_src, IP(172, 16, 0, 1));
	assert_int_equal(ip_route_output(f->s, IP(127, 0, 0, 1), 0, NULL, &rt), 0);
	assert_ptr_equal(rt.dev, f->s->loopback_dev);

	/* Broadcasts: subnet via its device, limited via oif or the first device with an address. */
	assert_int_equal(ip_route_output(f->s, IP(172, 16, 255, 255), 0, NULL, &rt), 0);
	assert_int_equal(rt.rt_type, RTN_BROADCAST);
	assert_ptr_equal(rt.dev, f->t1);
	assert_int_equal(rt.rt_src, IP(172, 16, 0, 1));
	assert_int_equal(ip_route_output(f->s, 0xffffffffu, 0, NULL, &rt), 0);
	assert_int_equal(rt.rt_type, RTN_BROADCAST);
	assert_ptr_equal(rt.dev, f->t0);
	assert_int_equal(ip_route_output(f->s, 0xffffffffu, 0, f->t1, &rt), 0);
	assert_ptr_equal(rt.dev, f->t1);
	assert_int_equal(rt.rt_src, IP(172, 16, 0, 1));

	/* oif restricts the lookup; with no route through it the destination is assumed on-link. */
	assert_int_equal(ip_route_output(f->s, IP(10, 0, 0, 9), 0, f->t1, &rt), 0);
	assert_ptr_equal(rt.dev, f->t1);
	assert_int_equal(rt.rt_gateway, IP(10, 0, 0, 9));
	assert_int_equal(rt.rt_src, IP(172, 16, 0, 1));

	/* Unreachable routes, and devices that are down. */
	struct fib_route u = { .dst = IP(203, 0, 113, 0), .plen = 24, .type = RTN_UNREACHABLE };
	assert_int_equal(fib_add(f->s, &u), 0);
	assert_int_equal(ip_route_output(f->s, IP(203, 0, 113, 1), 0, NULL, &rt), -EHOSTUNREACH);
	assert_int_equal(dev_close(f->t0), 0);
	assert_int_equal(ip_route_output(f->s, IP(10, 0, 0, 9), 0, NULL, &rt), -ENETUNREACH);
	assert_int_equal(ip_route_output(f->s, IP(10, 0, 0, 9), 0, f->t0, &rt), -ENETUNREACH);
	char *out = capture(np_route_print, f->s);
	assert_non_null(strstr(out, "10.0.0.0/24 dev t0 proto kernel scope link src 10.0.0.2 linkdown\n"));
	assert_non_null(strstr(out, "unreachable 203.0.113.0/24\n"));
	free(out);
}

static void test_local_table_print(void **state)
{
	struct fx *f = *state;
	char *buf = NULL;
	size_t len = 0;
	FILE *m;

	assert_int_equal(np_addr_add((struct np_dev *)f->t0, "10.0.0.2/24"), 0);
	m = open_memstream(&buf, &len);
	fib_print_local(f->s, m);
	fclose(m);
	assert_non_null(strstr(buf, "local 10.0.0.2 dev t0 proto kernel scope host src 10.0.0.2\n"));
	assert_non_null(strstr(buf, "broadcast 10.0.0.255 dev t0 proto kernel scope link src 10.0.0.2\n"));
	assert_non_null(strstr(buf, "local 127.0.0.0/8 dev lo proto kernel scope host src 127.0.0.1\n"));
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_lpm_random_vs_bruteforce, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_prefixes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_default_and_host_routes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gateway_must_be_onlink, setup, teardown),
		cmocka_unit_test_setup_teardown(test_addr_add_del, setup, teardown),
		cmocka_unit_test_setup_teardown(test_input_classification, setup, teardown),
		cmocka_unit_test_setup_teardown(test_martians, setup, teardown),
		cmocka_unit_test_setup_teardown(test_output_source_selection, setup, teardown),
		cmocka_unit_test_setup_teardown(test_local_table_print, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
