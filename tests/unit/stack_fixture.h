/*
 * Fixtures for unit tests of one stack on a virtual clock at 0, alone or
 * with one Ethernet device of the test's own (its ops and NAPI poll),
 * registered and up. Internal headers; header-only, because CMake builds
 * each test_*.c as its own program. Include after <cmocka.h>.
 */
#ifndef NP_TESTS_STACK_FIXTURE_H
#define NP_TESTS_STACK_FIXTURE_H

#include <stdlib.h>

#include "core/netdevice.h"
#include "core/stack.h"

/* cmocka setup/teardown: *state is a stack named "t" (seed 1). */
static inline int one_stack_setup(void **state)
{
	struct np_stack_config cfg = { .name = "t", .clock = np_clock_virtual(0), .seed = 1 };
	*state = np_stack_create(&cfg);
	return *state ? 0 : -1;
}

static inline int one_stack_teardown(void **state)
{
	struct np_stack *s = *state;
	struct np_clock *c = s->clock;
	np_stack_destroy(s);
	np_clock_destroy(c);
	return 0;
}

/* A stack and its device. */
struct fx {
	struct np_clock *c;
	struct np_stack *s;
	struct net_device *dev;
};

/* Stack name (seed) with device devname: priv bytes of private data, ops, NAPI poll; registered and open. */
static inline struct fx *fx_open(const char *name, uint64_t seed, const char *devname, size_t priv,
				 const struct net_device_ops *ops, int (*poll)(struct napi_struct *, int))
{
	struct fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	f->c = np_clock_virtual(0);
	struct np_stack_config cfg = { .name = name, .clock = f->c, .seed = seed };
	f->s = np_stack_create(&cfg);
	assert_non_null(f->s);
	f->dev = alloc_netdev(f->s, devname, priv);
	ether_setup(f->dev);
	f->dev->netdev_ops = ops;
	netif_napi_add(f->dev, poll);
	assert_int_equal(register_netdev(f->dev), 0);
	assert_int_equal(dev_open(f->dev), 0);
	return f;
}

static inline void fx_free(struct fx *f)
{
	np_stack_destroy(f->s);
	np_clock_destroy(f->c);
	free(f);
}

#endif
