/*
 * Unit tests for the TAP driver's virtio-net header handling
 * (src/drivers/tap.c virtio_net_hdr_to_skb / virtio_net_hdr_from_skb): what
 * a header from the kernel does to the skb, which headers are refused and
 * under which drop reason, and the header netpath writes for its own
 * super-packets and partial checksums.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/netdevice.h"
#include "core/skbuff.h"
#include "core/stack.h"
#include "stack_fixture.h"
#include "drivers/tap.h"

/* A 14 + 20 + 32 + payload byte frame (its bytes do not matter to the header checks). */
static struct sk_buff *frame(struct np_stack *s, uint32_t payload)
{
	struct sk_buff *skb = alloc_skb(s, 66 + payload);
	assert_non_null(skb);
	uint8_t *d = skb_put(skb, 66 + payload);
	memset(d, 0, 66 + payload);
	d[14 + 20 + 12] = 8 << 4;   /* TCP data offset: 32 bytes */
	return skb;
}

static void test_plain_and_data_valid(void **state)
{
	struct np_stack *s = *state;
	enum np_drop_reason why = NP_DROP_NOT_DROPPED_YET;
	struct virtio_net_hdr h = { 0 };
	struct sk_buff *skb = frame(s, 100);
	assert_int_equal(virtio_net_hdr_to_skb(skb, &h, &why), 0);
	assert_int_equal(skb->ip_summed, CHECKSUM_NONE);
	assert_false(skb_is_gso(skb));
	consume_skb(skb);

	h.flags = VIRTIO_NET_HDR_F_DATA_VALID;
	skb = frame(s, 100);
	assert_int_equal(virtio_net_hdr_to_skb(skb, &h, &why), 0);
	assert_int_equal(skb->ip_summed, CHECKSUM_UNNECESSARY);
	consume_skb(skb);
}

static void test_needs_csum_and_gso(void **state)
{
	struct np_stack *s = *state;
	enum np_drop_reason why = NP_DROP_NOT_DROPPED_YET;
	struct virtio_net_hdr h = {
		.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM, .gso_type = VIRTIO_NET_HDR_GSO_TCPV4,
		.hdr_len = 66, .gso_size = 1448, .csum_start = 34, .csum_offset = 16,
	};
	struct sk_buff *skb = frame(s, 5000);
	assert_int_equal(virtio_net_hdr_to_skb(skb, &h, &why), 0);
	assert_int_equal(skb->ip_summed, CHECKSUM_PARTIAL);
	assert_ptr_equal(skb->head + skb->csum_start, skb->data + 34);
	assert_int_equal(skb->csum_offset, 16);
	assert_true(skb_is_gso(skb));
	assert_int_equal(skb_shinfo(skb)->gso_size, 1448);
	assert_int_equal(skb_shinfo(skb)->gso_segs, 4);   /* 5000 bytes of payload in 1448-byte segments */
	assert_true(skb_shinfo(skb)->gso_type & SKB_GSO_TCPV4);

	/* And back: the header netpath would write for this skb says the same. */
	struct virtio_net_hdr o;
	assert_int_equal(virtio_net_hdr_from_skb(skb, &o), 0);
	assert_int_equal(o.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
	assert_int_equal(o.gso_type, VIRTIO_NET_HDR_GSO_TCPV4);
	assert_int_equal(o.gso_size, 1448);
	assert_int_equal(o.hdr_len, 66);
	assert_int_equal(o.csum_start, 34);
	assert_int_equal(o.csum_offset, 16);
	consume_skb(skb);
}

/* Each bad header: refused with its own reason, nothing applied that could mislead later layers. */
static void test_bad_headers(void **state)
{
	struct np_stack *s = *state;
	static const struct {
		struct virtio_net_hdr h;
		enum np_drop_reason want;
	} bad[] = {
		{ { .gso_type = VIRTIO_NET_HDR_GSO_TCPV4, .hdr_len = 66, .gso_size = 0 }, NP_DROP_VNET_HDR_BAD_GSO },
		{ { .gso_type = VIRTIO_NET_HDR_GSO_UDP, .hdr_len = 42, .gso_size = 1400 }, NP_DROP_VNET_HDR_BAD_GSO },
		{ { .gso_type = VIRTIO_NET_HDR_GSO_TCPV6, .hdr_len = 86, .gso_size = 1400 }, NP_DROP_VNET_HDR_BAD_GSO },
		{ { .gso_type = 0x17, .hdr_len = 66, .gso_size = 1400 }, NP_DROP_VNET_HDR_BAD_GSO },
		{ { .gso_type = VIRTIO_NET_HDR_GSO_TCPV4, .hdr_len = 60000, .gso_size = 1448 }, NP_DROP_VNET_HDR_BAD_LEN },
		{ { .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM, .csum_start = 5000, .csum_offset = 16 }, NP_DROP_VNET_HDR_BAD_CSUM },
		{ { .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM, .csum_start = 34, .csum_offset = 65000 }, NP_DROP_VNET_HDR_BAD_CSUM },
		{ { .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM, .csum_start = 0xffff, .csum_offset = 0xffff }, NP_DROP_VNET_HDR_BAD_CSUM },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		enum np_drop_reason why = NP_DROP_NOT_DROPPED_YET;
		struct sk_buff *skb = frame(s, 1000);
		assert_int_equal(virtio_net_hdr_to_skb(skb, &bad[i].h, &why), -EINVAL);
		assert_int_equal(why, bad[i].want);
		/* The caller frees under the reason: counted by name. */
		uint64_t before = s->drops[why];
		kfree_skb_reason(skb, why);
		assert_int_equal(s->drops[why], before + 1);
		assert_non_null(np_drop_reason_name((int)why));
	}
}

static void test_from_skb_refuses_what_it_cannot_say(void **state)
{
	struct np_stack *s = *state;
	struct virtio_net_hdr o;
	/* A super-packet without a partial checksum cannot be described to the kernel. */
	struct sk_buff *skb = frame(s, 3000);
	skb_shinfo(skb)->gso_size = 1448;
	skb_shinfo(skb)->gso_type = SKB_GSO_TCPV4;
	assert_int_equal(virtio_net_hdr_from_skb(skb, &o), -EINVAL);
	/* A plain partial checksum: NEEDS_CSUM only. */
	skb_shinfo(skb)->gso_size = 0;
	skb->ip_summed = CHECKSUM_PARTIAL;
	skb->csum_start = (uint16_t)(skb->data - skb->head + 34);
	skb->csum_offset = 16;
	assert_int_equal(virtio_net_hdr_from_skb(skb, &o), 0);
	assert_int_equal(o.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
	assert_int_equal(o.gso_type, VIRTIO_NET_HDR_GSO_NONE);
	/* csum_start before the frame: refused. */
	skb->csum_start = 0;
	assert_int_equal(virtio_net_hdr_from_skb(skb, &o), -EINVAL);
	consume_skb(skb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_plain_and_data_valid, one_stack_setup, one_stack_teardown),
		cmocka_unit_test_setup_teardown(test_needs_csum_and_gso, one_stack_setup, one_stack_teardown),
		cmocka_unit_test_setup_teardown(test_bad_headers, one_stack_setup, one_stack_teardown),
		cmocka_unit_test_setup_teardown(test_from_skb_refuses_what_it_cannot_say, one_stack_setup, one_stack_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
