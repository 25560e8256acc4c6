/* Unit tests for src/core/skbuff.c: buffer arithmetic, clones, queues, the per-stack cache, drop counting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/skbuff.h"
#include "core/stack.h"
#include "stack_fixture.h"

static void test_put_push_pull_trim(void **state)
{
	struct np_stack *s = *state;
	struct sk_buff *skb = alloc_skb(s, 100);
	assert_non_null(skb);
	assert_int_equal(skb_headroom(skb), NP_SKB_HEADROOM);
	assert_int_equal(skb->len, 0);
	assert_true(skb_tailroom(skb) >= 100);
	unsigned char *p = skb_put(skb, 60);
	memset(p, 0xab, 60);
	assert_int_equal(skb->len, 60);
	unsigned char *h = skb_push(skb, 20);
	assert_ptr_equal(h, p - 20);
	assert_int_equal(skb->len, 80);
	assert_int_equal(skb_headroom(skb), NP_SKB_HEADROOM - 20);
	assert_ptr_equal(skb_pull(skb, 20), p);
	assert_null(skb_pull(skb, 61));       /* more than there is: nothing changes */
	assert_int_equal(skb->len, 60);
	skb_trim(skb, 28);
	assert_int_equal(skb->len, 28);
	assert_ptr_equal(skb_tail_pointer(skb), p + 28);
	skb_trim(skb, 100);                    /* growing is not trimming */
	assert_int_equal(skb->len, 28);
	consume_skb(skb);
	assert_int_equal(np_stack_drops(s, NP_DROP_NOT_SPECIFIED), 0);
}

static void test_headers(void **state)
{
	struct sk_buff *skb = alloc_skb(*state, 64);
	skb_put(skb, 64);
	skb_reset_mac_header(skb);
	skb_pull(skb, 14);
	skb_reset_network_header(skb);
	assert_ptr_equal(skb_mac_header(skb) + 14, skb_network_header(skb));
	assert_int_equal(skb_network_offset(skb), 0);
	consume_skb(skb);
}

static void test_clone_shares_data(void **state)
{
	struct np_stack *s = *state;
	struct sk_buff *skb = alloc_skb(s, 64);
	memset(skb_put(skb, 64), 1, 64);
	struct sk_buff *c = skb_clone(skb);
	assert_non_null(c);
	assert_ptr_equal(c->data, skb->data);
	assert_int_equal(skb_shinfo(skb)->dataref, 2);
	assert_true(c->cloned && skb->cloned);
	/* Un-sharing the clone gives it private data; the original keeps its bytes. */
	assert_int_equal(skb_unshare_data(c), 0);
	assert_ptr_not_equal(c->data, skb->data);
	c->data[0] = 9;
	assert_int_equal(skb->data[0], 1);
	assert_int_equal(skb_shinfo(skb)->dataref, 1);
	assert_memory_equal(c->data + 1, skb->data + 1, 63);
	consume_skb(c);
	consume_skb(skb);
}

static void test_get_and_drop_reason(void **state)
{
	struct np_stack *s = *state;
	struct sk_buff *skb = alloc_skb(s, 10);
	skb_get(skb);
	kfree_skb_reason(skb, NP_DROP_IP_CSUM);   /* one reference left: not freed, not counted */
	assert_int_equal(np_stack_drops(s, NP_DROP_IP_CSUM), 0);
	kfree_skb_reason(skb, NP_DROP_IP_CSUM);
	assert_int_equal(np_stack_drops(s, NP_DROP_IP_CSUM), 1);
	/* An out-of-range reason is counted as NOT_SPECIFIED rather than corrupting memory. */
	kfree_skb_reason(alloc_skb(s, 10), (enum np_drop_reason)9999);
	assert_int_equal(np_stack_drops(s, NP_DROP_NOT_SPECIFIED), 1);
}

static void test_copy(void **state)
{
	struct sk_buff *skb = alloc_skb(*state, 40);
	for (int i = 0; i < 40; i++)
		skb_put(skb, 1)[0] = (unsigned char)i;
	skb->protocol = 0x0800;
	struct sk_buff *c = skb_copy(skb);
	assert_non_null(c);
	assert_ptr_not_equal(c->data, skb->data);
	assert_memory_equal(c->data, skb->data, 40);
	assert_int_equal(skb_headroom(c), skb_headroom(skb));
	assert_int_equal(c->protocol, 0x0800);
	consume_skb(c);
	consume_skb(skb);
}

static void test_cache_reuse_and_large(void **state)
{
	struct np_stack *s = *state;
	struct sk_buff *a = alloc_skb(s, 1500);
	unsigned char *head = a->head;
	consume_skb(a);
	struct sk_buff *b = alloc_skb(s, 1000);
	assert_ptr_equal(b->head, head);   /* the freed buffer came back from the cache */
	assert_true(b->from_cache);
	consume_skb(b);
	struct sk_buff *big = alloc_skb(s, 65536);
	assert_non_null(big);
	assert_false(big->from_cache);
	assert_true(skb_tailroom(big) >= 65536);
	memset(skb_put(big, 65536), 0, 65536);
	consume_skb(big);
}

/* Super-packet buffers: reused from the stack's own list, handed between stacks, the list capped. */
static void test_big_buffer_cache(void **state)
{
	struct np_stack *s = *state;
	struct sk_buff *a = alloc_skb(s, 60000);
	assert_non_null(a);
	assert_int_equal(a->end, NP_SKB_BIG_BUF);
	assert_false(a->from_cache);   /* not the MTU cache: such a buffer may change stacks */
	unsigned char *head = a->head;
	memset(skb_put(a, 60000), 0x5a, 60000);
	consume_skb(a);
	assert_int_equal(s->big_free_count, 1);
	struct sk_buff *b = alloc_skb(s, NP_SKB_BIG_MIN);
	assert_ptr_equal(b->head, head);   /* the freed buffer came back */
	assert_int_equal(s->big_free_count, 0);

	/* Below NP_SKB_BIG_MIN (and above the MTU cache) a buffer is malloc'd to size and never listed. */
	struct sk_buff *mid = alloc_skb(s, 9000);
	assert_true(mid->end < NP_SKB_BIG_BUF);
	consume_skb(mid);
	assert_int_equal(s->big_free_count, 0);

	/* Stolen by another stack (the cable's hand-over), it ends in that stack's list. */
	struct np_stack_config cfg = { .name = "t2", .clock = s->clock, .seed = 2 };
	struct np_stack *s2 = np_stack_create(&cfg);
	assert_non_null(s2);
	skb_put(b, 100);
	uint32_t off, len, end;
	unsigned char *buf = skb_steal_data(b, &off, &len, &end);
	assert_ptr_equal(buf, head);
	struct sk_buff *c = build_skb(s2, buf, end);
	assert_non_null(c);
	consume_skb(c);
	assert_int_equal(s2->big_free_count, 1);
	assert_int_equal(s->big_free_count, 0);
	np_stack_destroy(s2);   /* frees its list */

	/* The list keeps at most NP_SKB_BIG_CACHE_MAX; the rest go back to malloc. */
	struct sk_buff *many[NP_SKB_BIG_CACHE_MAX + 4];
	for (int i = 0; i < NP_SKB_BIG_CACHE_MAX + 4; i++)
		assert_non_null(many[i] = alloc_skb(s, 65536));
	for (int i = 0; i < NP_SKB_BIG_CACHE_MAX + 4; i++)
		consume_skb(many[i]);
	assert_int_equal(s->big_free_count, NP_SKB_BIG_CACHE_MAX);
}

static void test_queue(void **state)
{
	struct sk_buff_head q;
	skb_queue_head_init(&q);
	assert_null(skb_peek(&q));
	assert_null(skb_dequeue(&q));
	struct sk_buff *v[5];
	for (int i = 0; i < 5; i++) {
		v[i] = alloc_skb(*state, 10);
		skb_put(v[i], (uint32_t)i + 1);
	}
	skb_queue_tail(&q, v[1]);
	skb_queue_tail(&q, v[2]);
	skb_queue_head(&q, v[0]);
	skb_queue_tail(&q, v[3]);
	skb_queue_tail(&q, v[4]);
	assert_int_equal(q.qlen, 5);
	assert_int_equal(q.bytes, 15);
	skb_unlink(v[2], &q);
	assert_int_equal(q.bytes, 12);
	assert_ptr_equal(skb_dequeue_tail(&q), v[4]);
	assert_ptr_equal(skb_dequeue(&q), v[0]);
	assert_ptr_equal(skb_dequeue(&q), v[1]);
	assert_int_equal(q.qlen, 1);
	consume_skb(v[0]);
	consume_skb(v[1]);
	consume_skb(v[2]);
	consume_skb(v[4]);
	skb_queue_purge_reason(&q, NP_DROP_SOCKET_CLOSE);
	assert_true(skb_queue_empty(&q));
	assert_int_equal(np_stack_drops(*state, NP_DROP_SOCKET_CLOSE), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_put_push_pull_trim, one_stack_setup, one_stack_teardown),
		cmocka_unit_test_setup_teardown(test_headers, one_stack_setup, one_stack_teardown),
		cmocka_unit_test_setup_teardown(test_clone_shares_data, one_stack_setup, one_stack_teardown),
		cmocka_unit_test_setup_teardown(test_get_and_drop_reason, one_stack_setup, one_stack_teardown),
		cmocka_unit_test_setup_teardown(test_copy, one_stack_setup, one_stack_teardown),
		cmocka_unit_test_setup_teardown(test_cache_reuse_and_large, one_stack_setup, one_stack_teardown),
		cmocka_unit_test_setup_teardown(test_big_buffer_cache, one_stack_setup, one_stack_teardown),
		cmocka_unit_test_setup_teardown(test_queue, one_stack_setup, one_stack_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
