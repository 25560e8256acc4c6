/*
 * Per-stack timers on an 8-ary min-heap (O(log n) add, delete and expiry).
 * Place in the packet path: the softirq loop runs expired timers before
 * NET_RX; users are neighbour state, fault-injection delay, reassembly and
 * the TCP timers. Everything reads the stack's clock, so a virtual clock
 * makes every timeout deterministic.
 */
#ifndef NP_CORE_TIMER_H
#define NP_CORE_TIMER_H

#include <stddef.h>
#include <stdint.h>

struct np_stack;

struct np_timer {
	uint64_t expires;                   /* ns on the stack clock */
	void (*fn)(struct np_timer *t);     /* runs in the stack's softirq context */
	size_t heap_idx;                    /* position + 1 in the heap; 0 when not pending */
};

/* One heap entry: the expiry is kept beside the pointer so sifting never reads a (cold) timer. */
struct timer_slot {
	uint64_t expires;
	struct np_timer *t;
};

#define NSEC_PER_USEC 1000ull
#define NSEC_PER_MSEC 1000000ull
#define NSEC_PER_SEC 1000000000ull

static inline void timer_setup(struct np_timer *t, void (*fn)(struct np_timer *))
{
	t->fn = fn;
	t->heap_idx = 0;
	t->expires = 0;
}
static inline int timer_pending(const struct np_timer *t) { return t->heap_idx != 0; }
/* (Re)arms t to fire at expires (absolute ns). 0 or -ENOMEM. */
int mod_timer(struct np_stack *s, struct np_timer *t, uint64_t expires);
/* Disarms t; returns 1 if it was pending. */
int del_timer(struct np_stack *s, struct np_timer *t);
/* Runs every timer due at now; returns how many ran. */
int run_timers(struct np_stack *s, uint64_t now);
uint64_t timers_next(const struct np_stack *s);

/* Recovers the enclosing struct from a member pointer. */
#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

#endif
