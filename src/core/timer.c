/*
 * Per-stack timers on a binary min-heap keyed by expiry.
 * Place in the packet path: np_stack_poll -> run_timers -> neighbour state
 * machine, fault-injection delay queues, (later) reassembly and TCP timers.
 * The heap stores each timer's index in the timer itself, so deletion and
 * re-arming are O(log n) with no search.
 */
#include <errno.h>
#include <stdlib.h>

#include "core/stack.h"
#include "core/timer.h"

static void heap_set(struct np_stack *s, size_t i, struct np_timer *t)
{
	s->timer_heap[i] = t;
	t->heap_idx = i + 1;
}

static void sift_up(struct np_stack *s, size_t i)
{
	struct np_timer *t = s->timer_heap[i];
	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (s->timer_heap[parent]->expires <= t->expires)
			break;
		heap_set(s, i, s->timer_heap[parent]);
		i = parent;
	}
	heap_set(s, i, t);
}

static void sift_down(struct np_stack *s, size_t i)
{
	struct np_timer *t = s->timer_heap[i];
	size_t n = s->timer_count;
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= n)
			break;
		if (c + 1 < n && s->timer_heap[c + 1]->expires < s->timer_heap[c]->expires)
			c++;
		if (s->timer_heap[c]->expires >= t->expires)
			break;
		heap_set(s, i, s->timer_heap[c]);
		i = c;
	}
	heap_set(s, i, t);
}

static void heap_remove(struct np_stack *s, struct np_timer *t)
{
	size_t i = t->heap_idx - 1;
	struct np_timer *last = s->timer_heap[--s->timer_count];
	t->heap_idx = 0;
	if (last == t)
		return;
	heap_set(s, i, last);
	if (i > 0 && s->timer_heap[(i - 1) / 2]->expires > last->expires)
		sift_up(s, i);
	else
		sift_down(s, i);
}

int mod_timer(struct np_stack *s, struct np_timer *t, uint64_t expires)
{
	if (timer_pending(t)) {
		heap_remove(s, t);
	} else if (s->timer_count == s->timer_cap) {
		size_t cap = s->timer_cap ? s->timer_cap * 2 : 64;
		struct np_timer **h = realloc(s->timer_heap, cap * sizeof(*h));
		if (!h)
			return -ENOMEM;
		s->timer_heap = h;
		s->timer_cap = cap;
	}
	t->expires = expires;
	s->timer_heap[s->timer_count] = t;
	t->heap_idx = ++s->timer_count;
	sift_up(s, s->timer_count - 1);
	/*
	 * An application thread armed the earliest timer while the stack's loop
	 * sleeps on the old deadline: wake it so it sleeps on the new one.
	 */
	if (t->heap_idx == 1 && atomic_load(&s->in_run) && !pthread_equal(pthread_self(), s->run_thread))
		np_stack_wake(s);
	return 0;
}

int del_timer(struct np_stack *s, struct np_timer *t)
{
	if (!timer_pending(t))
		return 0;
	heap_remove(s, t);
	return 1;
}

int run_timers(struct np_stack *s, uint64_t now)
{
	int ran = 0;
	/* A callback may re-arm its own timer for "now": cap the round so it cannot spin. */
	int limit = (int)s->timer_count + 64;
	while (s->timer_count && s->timer_heap[0]->expires <= now && ran < limit) {
		struct np_timer *t = s->timer_heap[0];
		heap_remove(s, t);
		t->fn(t);
		ran++;
	}
	return ran;
}

uint64_t timers_next(const struct np_stack *s)
{
	return s->timer_count ? s->timer_heap[0]->expires : UINT64_MAX;
}
