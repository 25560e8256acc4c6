/*
 * The stack clock: real (CLOCK_MONOTONIC) or virtual (moved only by
 * np_clock_set). Every timer, timeout and timestamp in the stack reads it,
 * which is what lets tests run a 60-second timeout in microseconds.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "netpath/netpath.h"

struct np_clock {
	int is_virtual;
	_Atomic uint64_t now;   /* virtual time; shared by stacks in several threads */
};

/* The real clock needs no state; one immutable instance serves every stack. */
static struct np_clock real_clock = { .is_virtual = 0 };

struct np_clock *np_clock_real(void) { return &real_clock; }

struct np_clock *np_clock_virtual(uint64_t start_ns)
{
	struct np_clock *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->is_virtual = 1;
	atomic_store(&c->now, start_ns);
	return c;
}

void np_clock_destroy(struct np_clock *c)
{
	if (c && c != &real_clock)
		free(c);
}

uint64_t np_clock_now(const struct np_clock *c)
{
	if (c->is_virtual)
		return atomic_load(&((struct np_clock *)c)->now);
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int np_clock_set(struct np_clock *c, uint64_t ns)
{
	if (!c->is_virtual)
		return -EINVAL;
	uint64_t cur = atomic_load(&c->now);
	/* Time never runs backwards: concurrent setters keep the later value. */
	while (ns > cur && !atomic_compare_exchange_weak(&c->now, &cur, ns))
		;
	return 0;
}
