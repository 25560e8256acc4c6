/*
 * Unit tests for src/core/gso.c: software segmentation of TCPv4 super-packets
 * (skb_gso_segment), finishing partial checksums (skb_checksum_help) and the
 * device-side choice between them (validate_xmit_skb).
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
#include "wire/checksum.h"
#include "wire/ipv4.h"
#include "wire/tcp.h"
#include "wire/wire.h"

#define SADDR 0x0a000001u
#define DADDR 0x0a000002u

/*
 * A frame at the Ethernet header: IPv4 (id 0x1234, DF) + TCP (seq, flags,
 * 12 bytes of options) + payload bytes i & 0xff, its TCP checksum partial
 * (pseudo-header only), marked as a GSO super-packet of mss.
 */
static struct sk_buff *make_super(struct np_stack *s, uint32_t payload, uint16_t mss, uint8_t flags)
{
	const uint32_t thl = 32;
	struct sk_buff *skb = alloc_skb(s, 14 + 20 + thl + payload);
	assert_non_null(skb);
	uint8_t *d = skb_put(skb, 14 + 20 + thl + payload);
	memset(d, 0, 14 + 20 + thl);
	memset(d, 0xaa, 12);
	be16_put(d + 12, 0x0800);
	uint8_t *ip = d + 14;
	ip[0] = 0x45;
	be16_put(ip + 2, (uint16_t)(20 + thl + payload));
	be16_put(ip + 4, 0x1234);
	be16_put(ip + 6, 0x4000);
	ip[8] = 64;
	ip[9] = 6;
	be32_put(ip + 12, SADDR);
	be32_put(ip + 16, DADDR);
	be16_put(ip + 10, csum_fold(csum_partial(ip, 20, 0)));
	uint8_t *th = ip + 20;
	be16_put(th, 1000);
	be16_put(th + 2, 80);
	be32_put(th + 4, 0xfffff000u);   /* wraps inside the packet */
	be32_put(th + 8, 77);
	th[12] = (uint8_t)((thl / 4) << 4);
	th[13] = flags;
	be16_put(th + 14, 65535);
	th[20] = 1;   /* NOP NOP timestamp-sized option block */
	th[21] = 1;
	th[22] = 8;
	th[23] = 10;
	for (uint32_t i = 0; i < payload; i++)
		th[thl + i] = (uint8_t)i;
	uint16_t pseudo = csum_fold(csum_tcpudp_nofold(SADDR, DADDR, (uint16_t)(thl + payload), 6, 0));
	be16_put(th + 16, (uint16_t)~pseudo);
	skb->ip_summed = CHECKSUM_PARTIAL;
	skb_reset_mac_header(skb);
	skb->network_header = (uint16_t)(skb->mac_header + 14);
	skb->transport_header = (uint16_t)(skb->network_header + 20);
	skb->csum_start = skb->transport_header;
	skb->csum_offset = 16;
	skb->dev = s->dev_list;   /* any Ethernet device: lo is not, so tests set it */
	skb_shinfo(skb)->gso_size = mss;
	skb_shinfo(skb)->gso_segs = (uint16_t)((payload + mss - 1) / mss);
	skb_shinfo(skb)->gso_type = SKB_GSO_TCPV4;
	return skb;
}

static struct net_device *eth_dev(struct np_stack *s)
{
	struct np_dev *a, *b;
	assert_int_equal(np_cable_create(s, "c0", s, "c1", &a, &b), 0);
	return (struct net_device *)a;
}

static void check_segments(struct sk_buff *segs, uint32_t payload, uint16_t mss, uint8_t flags, int partial)
{
	uint32_t n = (payload + mss - 1) / mss, i = 0, off = 0;
	for (struct sk_buff *seg = segs; seg; seg = seg->next, i++) {
		uint32_t plen = payload - off < mss ? payload - off : mss;
		assert_int_equal(seg->len, 14 + 20 + 32 + plen);
		const uint8_t *ip = seg->data + 14, *th = ip + 20;
		assert_int_equal(be16_get(ip + 2), 20 + 32 + plen);
		assert_int_equal(be16_get(ip + 4), (uint16_t)(0x1234 + i));
		assert_true(ipv4_csum_ok(ip, 20));
		assert_int_equal(be32_get(th + 4), (uint32_t)(0xfffff000u + off));
		uint8_t f = th[13];
		int last = i + 1 == n;
		assert_int_equal(!!(f & TCPF_FIN), last && (flags & TCPF_FIN));
		assert_int_equal(!!(f & TCPF_PSH), last && (flags & TCPF_PSH));
		assert_int_equal(!!(f & 0x80), i == 0 && (flags & 0x80));
		assert_true(f & TCPF_ACK);
		for (uint32_t k = 0; k < plen; k++)
			assert_int_equal(th[32 + k], (uint8_t)(off + k));
		if (partial) {
			assert_int_equal(seg->ip_summed, CHECKSUM_PARTIAL);
			assert_int_equal(skb_checksum_help(seg), 0);
		} else {
			assert_int_equal(seg->ip_summed, CHECKSUM_NONE);
		}
		assert_true(tcp_csum_ok(th, 32 + plen, SADDR, DADDR));
		off += plen;
	}
	assert_int_equal(i, n);
}

static void free_list(struct sk_buff *segs)
{
	while (segs) {
		struct sk_buff *n = segs->next;
		segs->next = NULL;
		consume_skb(segs);
		segs = n;
	}
}

static void test_segment_sw_csum(void **state)
{
	struct np_stack *s = *state;
	struct net_device *dev = eth_dev(s);
	uint8_t flags = TCPF_ACK | TCPF_PSH | TCPF_FIN | 0x80;
	struct sk_buff *skb = make_super(s, 5000, 1448, flags);
	skb->dev = dev;
	enum np_drop_reason why;
	struct sk_buff *segs = skb_gso_segment(skb, 0, &why);
	assert_non_null(segs);
	check_segments(segs, 5000, 1448, flags, 0);
	free_list(segs);
	consume_skb(skb);
}

static void test_segment_hw_csum_exact_multiple(void **state)
{
	struct np_stack *s = *state;
	struct net_device *dev = eth_dev(s);
	struct sk_buff *skb = make_super(s, 4 * 1000, 1000, TCPF_ACK | TCPF_PSH);
	skb->dev = dev;
	enum np_drop_reason why;
	struct sk_buff *segs = skb_gso_segment(skb, NETIF_F_HW_CSUM, &why);
	assert_non_null(segs);
	check_segments(segs, 4000, 1000, TCPF_ACK | TCPF_PSH, 1);
	free_list(segs);
	consume_skb(skb);
}

static void test_checksum_help(void **state)
{
	struct np_stack *s = *state;
	struct sk_buff *skb = make_super(s, 999, 1448, TCPF_ACK);
	skb_shinfo(skb)->gso_size = 0;
	assert_false(tcp_csum_ok(skb->data + 34, 32 + 999, SADDR, DADDR));
	assert_int_equal(skb_checksum_help(skb), 0);
	assert_int_equal(skb->ip_summed, CHECKSUM_NONE);
	assert_true(tcp_csum_ok(skb->data + 34, 32 + 999, SADDR, DADDR));
	/* csum_start before the data: refused, not a wild write. */
	skb->ip_summed = CHECKSUM_PARTIAL;
	skb->csum_start = 0;
	assert_int_equal(skb_checksum_help(skb), -EINVAL);
	consume_skb(skb);
}

static void test_bad_super_packets(void **state)
{
	struct np_stack *s = *state;
	struct net_device *dev = eth_dev(s);
	enum np_drop_reason why;
	/* Unknown gso_type. */
	struct sk_buff *skb = make_super(s, 3000, 1448, TCPF_ACK);
	skb->dev = dev;
	skb_shinfo(skb)->gso_type = 0;
	assert_null(skb_gso_segment(skb, 0, &why));
	assert_int_equal(why, NP_DROP_SKB_GSO_SEG);
	/* Not TCP. */
	skb_shinfo(skb)->gso_type = SKB_GSO_TCPV4;
	skb->data[14 + 9] = 17;
	assert_null(skb_gso_segment(skb, 0, &why));
	assert_int_equal(why, NP_DROP_SKB_GSO_SEG);
	/* TCP header length past the frame. */
	skb->data[14 + 9] = 6;
	skb_trim(skb, 14 + 20 + 24);
	assert_null(skb_gso_segment(skb, 0, &why));
	consume_skb(skb);

	/* validate_xmit_skb drops it, counted under the reason. */
	uint64_t before = s->drops[NP_DROP_SKB_GSO_SEG];
	skb = make_super(s, 3000, 1448, TCPF_ACK);
	skb->dev = dev;
	skb_shinfo(skb)->gso_type = 0;
	assert_null(validate_xmit_skb(skb, dev));
	assert_int_equal(s->drops[NP_DROP_SKB_GSO_SEG], before + 1);
}

static void test_validate_by_features(void **state)
{
	struct np_stack *s = *state;
	struct net_device *dev = eth_dev(s);
	dev->hw_features = NETIF_F_OFFLOADS;
	/* TSO on: the super-packet goes to the driver whole. */
	netdev_set_offloads(dev, 1);
	struct sk_buff *skb = make_super(s, 3000, 1448, TCPF_ACK);
	skb->dev = dev;
	struct sk_buff *r = validate_xmit_skb(skb, dev);
	assert_ptr_equal(r, skb);
	assert_null(r->next);
	assert_int_equal(r->ip_summed, CHECKSUM_PARTIAL);
	consume_skb(r);
	/* Off: three real segments with finished checksums. */
	netdev_set_offloads(dev, 0);
	skb = make_super(s, 3000, 1448, TCPF_ACK);
	skb->dev = dev;
	r = validate_xmit_skb(skb, dev);
	assert_non_null(r);
	check_segments(r, 3000, 1448, TCPF_ACK, 0);
	free_list(r);
	/* A plain partial-checksum frame on a device without HW_CSUM is finished. */
	skb = make_super(s, 700, 1448, TCPF_ACK);
	skb_shinfo(skb)->gso_size = 0;
	skb->dev = dev;
	r = validate_xmit_skb(skb, dev);
	assert_ptr_equal(r, skb);
	assert_int_equal(r->ip_summed, CHECKSUM_NONE);
	assert_true(tcp_csum_ok(r->data + 34, 32 + 700, SADDR, DADDR));
	consume_skb(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_segment_sw_csum, one_stack_setup, one_stack_teardown),
		cmocka_unit_test_setup_teardown(test_segment_hw_csum_exact_multiple, one_stack_setup, one_stack_teardown),
		cmocka_unit_test_setup_teardown(test_checksum_help, one_stack_setup, one_stack_teardown),
		cmocka_unit_test_setup_teardown(test_bad_super_packets, one_stack_setup, one_stack_teardown),
		cmocka_unit_test_setup_teardown(test_validate_by_features, one_stack_setup, one_stack_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
