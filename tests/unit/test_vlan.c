/*
 * 802.1Q VLAN devices (src/net/8021q/vlan.c): creation rules, the tag
 * inserted on transmit (VID, PCP from skb->priority, inner EtherType), the
 * tag stripped on receive and the frame handed to the VLAN device (a tagged
 * ARP request gets a tagged ARP reply), unknown VLANs dropped with
 * VLAN_UNKNOWN, and VLAN devices leaving with their parent.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../capdev.h"
#include "core/netdevice.h"
#include "core/stack.h"
#include "netpath/netpath.h"
#include "wire/arp.h"
#include "wire/eth.h"

#define T0 (1000 * NSEC_PER_MSEC)

struct fx {
	struct np_clock *clk;
	struct np_stack *s;
	struct net_device *eth;
	struct cap *cap;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	f->clk = np_clock_virtual(T0);
	struct np_stack_config cfg = { .name = "vlan", .clock = f->clk, .seed = 9 };
	f->s = np_stack_create(&cfg);
	f->eth = capdev_add(f->s, "eth0");
	f->cap = f->eth->priv;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	np_stack_destroy(f->s);
	np_clock_destroy(f->clk);
	free(f);
	return 0;
}

static struct net_device *ND(struct np_dev *d) { return (struct net_device *)d; }

static void test_add_rules(void **state)
{
	struct fx *f = *state;
	int err = 1;
	struct np_dev *v = np_vlan_add((struct np_dev *)f->eth, 100, NULL, &err);
	assert_non_null(v);
	assert_int_equal(err, 0);
	assert_string_equal(np_dev_name(v), "eth0.100");
	assert_memory_equal(ND(v)->dev_addr, f->eth->dev_addr, ETH_ALEN);
	assert_int_equal(ND(v)->mtu, f->eth->mtu);
	assert_true(ND(v)->flags & NPF_UP);
	assert_ptr_equal(np_dev_get(f->s, "eth0.100"), v);
	/* The same VID twice, reserved VIDs, a VLAN on a VLAN, a name too long or taken. */
	assert_null(np_vlan_add((struct np_dev *)f->eth, 100, "other", &err));
	assert_int_equal(err, -EEXIST);
	assert_null(np_vlan_add((struct np_dev *)f->eth, 0, NULL, &err));
	assert_int_equal(err, -EINVAL);
	assert_null(np_vlan_add((struct np_dev *)f->eth, 4095, NULL, &err));
	assert_int_equal(err, -EINVAL);
	assert_null(np_vlan_add(v, 5, NULL, &err));
	assert_int_equal(err, -EINVAL);
	assert_null(np_vlan_add((struct np_dev *)f->eth, 7, "a-very-long-name-x", &err));
	assert_int_equal(err, -EINVAL);
	assert_null(np_vlan_add((struct np_dev *)f->eth, 7, "eth0", &err));
	assert_int_equal(err, -EEXIST);
	struct np_dev *w = np_vlan_add((struct np_dev *)f->eth, 4094, "voice", &err);
	assert_non_null(w);
	/* The parent takes its VLAN devices with it. */
	unregister_netdev(f->eth);
	assert_null(np_dev_get(f->s, "eth0.100"));
	assert_null(np_dev_get(f->s, "voice"));
}

static void test_tx_inserts_tag(void **state)
{
	struct fx *f = *state;
	int err;
	struct net_device *v = ND(np_vlan_add((struct np_dev *)f->eth, 100, NULL, &err));
	static const uint8_t dst[6] = { 0x02, 1, 2, 3, 4, 5 };
	struct sk_buff *skb = alloc_skb(f->s, 64);
	memset(skb_put(skb, 46), 0xab, 46);
	skb->dev = v;
	skb->priority = 5;
	assert_int_equal(dev_hard_header(skb, v, ETH_P_IP, dst, NULL), 0);
	assert_int_equal(dev_queue_xmit(skb), 0);
	assert_int_equal(f->cap->n, 1);
	assert_int_equal(f->cap->len[0], 14 + 4 + 46);
	const uint8_t *fr = f->cap->frame[0];
	struct eth_repr e;
	assert_int_equal(eth_parse(fr, f->cap->len[0], &e), 0);
	assert_memory_equal(e.dst, dst, 6);
	assert_memory_equal(e.src, f->eth->dev_addr, 6);
	assert_int_equal(e.ethertype, ETH_P_8021Q);
	struct vlan_repr t;
	assert_int_equal(vlan_parse(fr + ETH_HLEN, f->cap->len[0] - ETH_HLEN, &t), 0);
	assert_int_equal(t.vid, 100);
	assert_int_equal(t.pcp, 5);
	assert_int_equal(t.ethertype, ETH_P_IP);
	assert_int_equal(fr[18], 0xab);
	assert_int_equal(v->stats.tx_packets, 1);
	assert_int_equal(f->eth->stats.tx_packets, 1);
	assert_int_equal(f->eth->stats.tx_bytes, 64);
}

/* Builds a tagged (vid != 0) or untagged ARP request for tip from 10.100.0.9 into an skb on eth. */
static struct sk_buff *arp_request(struct fx *f, int vid, uint32_t tip)
{
	static const uint8_t peer[6] = { 0x02, 0xaa, 0, 0, 0, 9 };
	uint8_t fr[64] = { 0 };
	size_t off = 0;
	struct eth_repr e = { .ethertype = vid ? ETH_P_8021Q : ETH_P_ARP };
	memset(e.dst, 0xff, 6);
	memcpy(e.src, peer, 6);
	off += eth_emit(&e, fr, sizeof(fr));
	if (vid) {
		struct vlan_repr t = { .vid = (uint16_t)vid, .ethertype = ETH_P_ARP };
		off += vlan_emit(&t, fr + off, sizeof(fr) - off);
	}
	struct arp_repr a = { .op = ARPOP_REQUEST, .sip = IP(10, 100, 0, 9), .tip = tip };
	memcpy(a.sha, peer, 6);
	off += arp_emit(&a, fr + off, sizeof(fr) - off);
	return netdev_alloc_skb_copy(f->eth, fr, 60);
}

static void test_rx_strips_tag_and_replies_tagged(void **state)
{
	struct fx *f = *state;
	int err;
	struct np_dev *v = np_vlan_add((struct np_dev *)f->eth, 100, NULL, &err);
	assert_int_equal(np_addr_add(v, "10.100.0.1/24"), 0);
	netif_receive_skb(arp_request(f, 100, IP(10, 100, 0, 1)));
	while (np_stack_poll(f->s))
		;
	assert_int_equal(ND(v)->stats.rx_packets, 1);
	assert_int_equal(f->cap->n, 1);
	const uint8_t *fr = f->cap->frame[0];
	struct eth_repr e;
	struct vlan_repr t;
	struct arp_repr a;
	assert_int_equal(eth_parse(fr, f->cap->len[0], &e), 0);
	assert_int_equal(e.ethertype, ETH_P_8021Q);
	assert_int_equal(vlan_parse(fr + 14, f->cap->len[0] - 14, &t), 0);
	assert_int_equal(t.vid, 100);
	assert_int_equal(t.ethertype, ETH_P_ARP);
	assert_int_equal(arp_parse(fr + 18, f->cap->len[0] - 18, &a), 0);
	assert_int_equal(a.op, ARPOP_REPLY);
	assert_int_equal(a.sip, IP(10, 100, 0, 1));
	assert_int_equal(a.tip, IP(10, 100, 0, 9));
	assert_memory_equal(a.sha, f->eth->dev_addr, 6);
}

static void test_rx_unknown_vlan_dropped(void **state)
{
	struct fx *f = *state;
	int err;
	struct np_dev *v = np_vlan_add((struct np_dev *)f->eth, 100, NULL, &err);
	assert_int_equal(np_addr_add(v, "10.100.0.1/24"), 0);
	netif_receive_skb(arp_request(f, 200, IP(10, 100, 0, 1)));
	while (np_stack_poll(f->s))
		;
	assert_int_equal(np_stack_drops(f->s, NP_DROP_VLAN_UNKNOWN), 1);
	assert_int_equal(f->eth->stats.rx_dropped, 1);
	assert_int_equal(ND(v)->stats.rx_packets, 0);
	assert_int_equal(f->cap->n, 0);
	/* A VLAN device that is down drops its frames too. */
	np_dev_set_up(v, 0);
	netif_receive_skb(arp_request(f, 100, IP(10, 100, 0, 1)));
	assert_int_equal(np_stack_drops(f->s, NP_DROP_DEV_DOWN), 1);
	assert_int_equal(f->cap->n, 0);
}

static void test_rx_priority_tagged_goes_to_parent(void **state)
{
	struct fx *f = *state;
	assert_int_equal(np_addr_add((struct np_dev *)f->eth, "10.100.0.1/24"), 0);
	struct sk_buff *skb = arp_request(f, 0, IP(10, 100, 0, 1));
	/* Re-tag it with VID 0 by hand: 802.1Q 9.6 priority tag. */
	uint8_t fr[64];
	memcpy(fr, skb->data, 12);
	fr[12] = 0x81;
	fr[13] = 0x00;
	fr[14] = 0xa0;   /* PCP 5, VID 0 */
	fr[15] = 0x00;
	memcpy(fr + 16, skb->data + 12, 44);
	kfree_skb_reason(skb, NP_DROP_NOT_SPECIFIED);
	netif_receive_skb(netdev_alloc_skb_copy(f->eth, fr, 60));
	while (np_stack_poll(f->s))
		;
	assert_int_equal(f->cap->n, 1);
	struct eth_repr e;
	assert_int_equal(eth_parse(f->cap->frame[0], f->cap->len[0], &e), 0);
	/* The parent answers untagged. */
	assert_int_equal(e.ethertype, ETH_P_ARP);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_add_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tx_inserts_tag, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_strips_tag_and_replies_tagged, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_unknown_vlan_dropped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_priority_tagged_goes_to_parent, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
