/*
 * Unit tests for src/core/gro.c: GRO in the NAPI receive path. In-order
 * segments of a TCPv4 flow go up as one super-packet (byte-exact, valid IP
 * header, gso_segs); anything that does not continue a flow flushes it
 * first, so delivery stays in order per flow. A recording ptype handler
 * sees what the receive core hands to IPv4.
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
#include "stack_fixture.h"
#include "net/ipv4/route.h"
#include "wire/checksum.h"
#include "wire/ipv4.h"
#include "wire/tcp.h"
#include "wire/wire.h"

#define SADDR 0x0a000001u
#define DADDR 0x0a000002u
#define MSS 1448u
#define SEQ0 0xfffff000u   /* wraps inside a burst */
#define F_FIN 0x01
#define F_SYN 0x02
#define F_RST 0x04
#define F_PSH 0x08
#define F_ACK 0x10
#define F_URG 0x20

/* What the receive core handed to IPv4, one record per skb. */
struct rec {
	uint8_t *data;      /* from the IP header */
	uint32_t len;
	uint16_t gso_size, gso_segs, gso_type;
	uint8_t ip_summed;
	uint32_t bufsize;   /* skb->end: what a socket charges for it */
};
#define MAX_RECS 64
static struct rec recs[MAX_RECS];
static int nrecs;

static int record(struct sk_buff *skb, struct net_device *dev, struct packet_type *pt)
{
	(void)dev;
	(void)pt;
	assert_true(nrecs < MAX_RECS);
	struct rec *r = &recs[nrecs++];
	r->data = malloc(skb->len);
	memcpy(r->data, skb->data, skb->len);
	r->len = skb->len;
	r->gso_size = skb_shinfo(skb)->gso_size;
	r->gso_segs = skb_shinfo(skb)->gso_segs;
	r->gso_type = skb_shinfo(skb)->gso_type;
	r->ip_summed = skb->ip_summed;
	r->bufsize = skb->end;
	consume_skb(skb);
	return 0;
}
static struct packet_type rec_pt = { .type = 0x0800, .func = record };

static netdev_tx_t sink_xmit(struct sk_buff *skb, struct net_device *dev)
{
	(void)dev;
	consume_skb(skb);
	return NETDEV_TX_OK;
}
static const struct net_device_ops sink_ops = { .ndo_start_xmit = sink_xmit };

/* A poll that hands up the frames queued in pending (the fake ring). */
static struct sk_buff *pending[MAX_RECS];
static int npending;
static int ring_poll(struct napi_struct *napi, int budget)
{
	int n = 0;
	while (n < budget && n < npending) {
		napi_gro_receive(napi, pending[n]);
		n++;
	}
	npending = 0;
	return n;
}

static int setup(void **state)
{
	struct fx *f = fx_open("g", 5, "g0", 0, &sink_ops, ring_poll);
	f->dev->hw_features = NETIF_F_GRO;
	f->dev->features = NETIF_F_GRO;
	assert_int_equal(inet_addr_add(f->dev, DADDR, 24), 0);
	dev_add_pack(f->s, &rec_pt);
	nrecs = 0;
	npending = 0;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	dev_remove_pack(f->s, &rec_pt);
	fx_free(f);
	for (int i = 0; i < nrecs; i++)
		free(recs[i].data);
	return 0;
}

static uint8_t pay_byte(uint32_t seq) { return (uint8_t)(seq * 7u + 3u); }

struct seg {
	uint32_t saddr;
	uint16_t sport;
	uint32_t seq;
	uint32_t len;
	uint8_t flags;
	uint16_t win;
	uint32_t tsval;
	int ip_opt;         /* 4 bytes of IP options */
	int frag;           /* MF set */
	int bad_csum;
	uint16_t id;
};

static struct seg S(uint32_t seq, uint32_t len)
{
	struct seg g = { .saddr = SADDR, .sport = 40000, .seq = seq, .len = len, .flags = F_ACK, .win = 1000,
			 .tsval = 5, .id = (uint16_t)(seq / MSS) };
	return g;
}

/* Ethernet + IPv4 (DF) + TCP with a timestamp option + payload bytes pay_byte(seq + i). */
static struct sk_buff *frame(struct fx *f, const struct seg *g)
{
	uint32_t ihl = g->ip_opt ? 24 : 20, thl = 32;
	uint32_t n = 14 + ihl + thl + g->len;
	struct sk_buff *skb = alloc_skb(f->s, n);
	assert_non_null(skb);
	uint8_t *d = skb_put(skb, n);
	memset(d, 0, 14 + ihl + thl);
	memcpy(d, f->dev->dev_addr, 6);
	memset(d + 6, 0x02, 6);
	be16_put(d + 12, 0x0800);
	uint8_t *ip = d + 14;
	ip[0] = (uint8_t)(0x40 | (ihl / 4));
	be16_put(ip + 2, (uint16_t)(ihl + thl + g->len));
	be16_put(ip + 4, g->id);
	be16_put(ip + 6, g->frag ? 0x2000 : 0x4000);
	ip[8] = 64;
	ip[9] = 6;
	be32_put(ip + 12, g->saddr);
	be32_put(ip + 16, DADDR);
	if (g->ip_opt)
		memset(ip + 20, 1, 4);   /* NOPs */
	be16_put(ip + 10, csum_fold(csum_partial(ip, ihl, 0)));
	uint8_t *th = ip + ihl;
	be16_put(th, g->sport);
	be16_put(th + 2, 80);
	be32_put(th + 4, g->seq);
	be32_put(th + 8, 777);
	th[12] = (uint8_t)((thl / 4) << 4);
	th[13] = g->flags;
	be16_put(th + 14, g->win);
	th[20] = 1;
	th[21] = 1;
	th[22] = 8;
	th[23] = 10;
	be32_put(th + 24, g->tsval);
	for (uint32_t i = 0; i < g->len; i++)
		th[thl + i] = pay_byte(g->seq + i);
	be16_put(th + 16, csum_fold(csum_tcpudp_nofold(g->saddr, DADDR, (uint16_t)(thl + g->len), 6,
							csum_partial(th, thl + g->len, 0))));
	if (g->bad_csum)
		th[16] ^= 0x55;
	skb->dev = f->dev;
	return skb;
}

static void rx(struct fx *f, struct seg g) { napi_gro_receive(&f->dev->napi, frame(f, &g)); }

/* Checks record i: one IPv4/TCP packet from seq carrying segs segments and len payload bytes, all valid. */
static void check_rec(int i, uint32_t seq, uint32_t len, uint16_t segs)
{
	assert_true(i < nrecs);
	struct rec *r = &recs[i];
	const uint8_t *ip = r->data;
	uint32_t ihl = (uint32_t)(ip[0] & 0x0f) * 4;
	assert_true(ipv4_csum_ok(ip, ihl));
	assert_int_equal(be16_get(ip + 2), r->len);
	const uint8_t *th = ip + ihl;
	uint32_t thl = (uint32_t)(th[12] >> 4) * 4;
	assert_int_equal(be32_get(th + 4), seq);
	assert_int_equal(r->len - ihl - thl, len);
	for (uint32_t k = 0; k < len; k++)
		if (th[thl + k] != pay_byte(seq + k))
			fail_msg("payload byte %u of record %d differs", k, i);
	if (segs > 1) {
		assert_int_equal(r->gso_segs, segs);
		assert_int_equal(r->gso_size, MSS);
		assert_int_equal(r->gso_type, SKB_GSO_TCPV4);
		assert_int_equal(r->ip_summed, CHECKSUM_PARTIAL);
		/* The field holds the pseudo-header sum: finishing it gives a checksum that verifies. */
		uint8_t *copy = malloc(r->len - ihl);
		memcpy(copy, th, r->len - ihl);
		be16_put(copy + 16, csum_fold(csum_partial(copy, r->len - ihl, 0)));
		assert_true(tcp_csum_ok(copy, r->len - ihl, be32_get(ip + 12), be32_get(ip + 16)));
		free(copy);
	} else {
		assert_int_equal(r->gso_size, 0);
		assert_true(tcp_csum_ok(th, r->len - ihl, be32_get(ip + 12), be32_get(ip + 16)));
	}
}

static void test_merge_in_order(void **state)
{
	struct fx *f = *state;
	uint64_t pk0 = f->dev->stats.rx_packets;
	for (uint32_t i = 0; i < 10; i++)
		rx(f, S(SEQ0 + i * MSS, MSS));
	assert_int_equal(nrecs, 0);   /* held until the flush */
	napi_gro_flush(&f->dev->napi);
	assert_int_equal(nrecs, 1);
	check_rec(0, SEQ0, 10 * MSS, 10);
	/* Built once at its exact size: a socket charging the buffer sees no 64 KiB for 10 segments. */
	assert_true(recs[0].bufsize <= 14 + recs[0].len + NP_SKB_HEADROOM + 64);
	/* The device counts wire frames, as a driver would before GRO. */
	assert_int_equal(f->dev->stats.rx_packets - pk0, 10);
}

static void test_flush_at_end_of_poll(void **state)
{
	struct fx *f = *state;
	for (uint32_t i = 0; i < 5; i++) {
		struct seg g = S(SEQ0 + i * MSS, MSS);
		pending[npending++] = frame(f, &g);
	}
	napi_schedule(&f->dev->napi);
	net_rx_action(f->s);
	assert_int_equal(nrecs, 1);
	check_rec(0, SEQ0, 5 * MSS, 5);
	assert_int_equal(f->dev->napi.gro_count, 0);
}

static void test_out_of_order_flushes(void **state)
{
	struct fx *f = *state;
	rx(f, S(SEQ0, MSS));
	rx(f, S(SEQ0 + MSS, MSS));
	rx(f, S(SEQ0 + 4 * MSS, MSS));   /* a hole: the first two go up now */
	assert_int_equal(nrecs, 1);
	check_rec(0, SEQ0, 2 * MSS, 2);
	rx(f, S(SEQ0 + 5 * MSS, MSS));
	rx(f, S(SEQ0 + 2 * MSS, MSS));   /* the retransmission fills the hole: the held one first */
	napi_gro_flush(&f->dev->napi);
	assert_int_equal(nrecs, 3);
	check_rec(1, SEQ0 + 4 * MSS, 2 * MSS, 2);
	check_rec(2, SEQ0 + 2 * MSS, MSS, 1);
}

static void test_flows_kept_apart(void **state)
{
	struct fx *f = *state;
	struct seg a = S(SEQ0, MSS), b = S(1000, MSS);
	b.sport = 40001;
	for (int i = 0; i < 3; i++) {
		rx(f, a);
		rx(f, b);
		a.seq += MSS;
		b.seq += MSS;
	}
	napi_gro_flush(&f->dev->napi);
	assert_int_equal(nrecs, 2);
	check_rec(0, SEQ0, 3 * MSS, 3);
	check_rec(1, 1000, 3 * MSS, 3);
}

static void test_too_many_flows_flushes_oldest(void **state)
{
	struct fx *f = *state;
	for (int i = 0; i <= NP_GRO_MAX_HELD; i++) {
		struct seg g = S(SEQ0, MSS);
		g.sport = (uint16_t)(41000 + i);
		rx(f, g);
	}
	assert_int_equal(nrecs, 1);
	assert_int_equal(be16_get(recs[0].data + 20), 41000);
	napi_gro_flush(&f->dev->napi);
	assert_int_equal(nrecs, NP_GRO_MAX_HELD + 1);
}

static void flags_flush(struct fx *f, uint8_t flag)
{
	rx(f, S(SEQ0, MSS));
	struct seg g = S(SEQ0 + MSS, MSS);
	g.flags = (uint8_t)(F_ACK | flag);
	rx(f, g);
	/* Not merged, not held: the held segment goes up first, then this one. */
	assert_int_equal(nrecs, 2);
	check_rec(0, SEQ0, MSS, 1);
	check_rec(1, SEQ0 + MSS, MSS, 1);
	assert_int_equal(recs[1].data[20 + 13], F_ACK | flag);
	assert_int_equal(f->dev->napi.gro_count, 0);
}

static void test_fin_flushes(void **state) { flags_flush(*state, F_FIN); }
static void test_syn_flushes(void **state) { flags_flush(*state, F_SYN); }
static void test_rst_flushes(void **state) { flags_flush(*state, F_RST); }
static void test_urg_flushes(void **state) { flags_flush(*state, F_URG); }

static void test_window_change_flushes(void **state)
{
	struct fx *f = *state;
	rx(f, S(SEQ0, MSS));
	rx(f, S(SEQ0 + MSS, MSS));
	struct seg g = S(SEQ0 + 2 * MSS, MSS);
	g.win = 999;
	rx(f, g);
	assert_int_equal(nrecs, 1);
	check_rec(0, SEQ0, 2 * MSS, 2);
	napi_gro_flush(&f->dev->napi);
	assert_int_equal(nrecs, 2);
	check_rec(1, SEQ0 + 2 * MSS, MSS, 1);
	assert_int_equal(be16_get(recs[1].data + 20 + 14), 999);
}

static void test_option_change_flushes(void **state)
{
	struct fx *f = *state;
	rx(f, S(SEQ0, MSS));
	struct seg g = S(SEQ0 + MSS, MSS);
	g.tsval = 6;   /* a later timestamp: options differ */
	rx(f, g);
	napi_gro_flush(&f->dev->napi);
	assert_int_equal(nrecs, 2);
	check_rec(0, SEQ0, MSS, 1);
	check_rec(1, SEQ0 + MSS, MSS, 1);
}

static void test_ip_option_and_fragment_flush(void **state)
{
	struct fx *f = *state;
	rx(f, S(SEQ0, MSS));
	struct seg g = S(SEQ0 + MSS, MSS);
	g.ip_opt = 1;
	rx(f, g);
	assert_int_equal(nrecs, 2);
	check_rec(0, SEQ0, MSS, 1);
	assert_int_equal(recs[1].data[0], 0x46);
	rx(f, S(SEQ0 + 2 * MSS, MSS));
	g = S(SEQ0 + 3 * MSS, MSS);
	g.frag = 1;
	rx(f, g);
	assert_int_equal(nrecs, 4);
	check_rec(2, SEQ0 + 2 * MSS, MSS, 1);
	assert_int_equal(be16_get(recs[3].data + 6) & 0x2000, 0x2000);
	assert_int_equal(f->dev->napi.gro_count, 0);
}

static void test_bad_checksum_never_merged(void **state)
{
	struct fx *f = *state;
	uint64_t d0 = f->s->drops[NP_DROP_TCP_CSUM];
	rx(f, S(SEQ0, MSS));
	struct seg bad = S(SEQ0 + MSS, MSS);
	bad.bad_csum = 1;
	rx(f, bad);
	rx(f, S(SEQ0 + MSS, MSS));   /* the retransmission is good */
	rx(f, S(SEQ0 + 2 * MSS, MSS));
	napi_gro_flush(&f->dev->napi);
	assert_int_equal(nrecs, 3);
	check_rec(0, SEQ0, MSS, 1);
	assert_int_equal(recs[1].ip_summed, CHECKSUM_NONE);   /* TCP verifies it and drops it */
	check_rec(2, SEQ0 + MSS, 2 * MSS, 2);
	/* The IPv4 stack behind the recorder (a clone each) dropped the bad one under its reason. */
	assert_int_equal(f->s->drops[NP_DROP_TCP_CSUM] - d0, 1);
}

static void test_64k_cap(void **state)
{
	struct fx *f = *state;
	const uint32_t n = 50;
	for (uint32_t i = 0; i < n; i++)
		rx(f, S(SEQ0 + i * MSS, MSS));
	napi_gro_flush(&f->dev->napi);
	assert_int_equal(nrecs, 2);
	/* 20 + 32 + 45 * 1448 = 65212 fits an IP datagram; a 46th segment would not. */
	check_rec(0, SEQ0, 45 * MSS, 45);
	check_rec(1, SEQ0 + 45 * MSS, 5 * MSS, 5);
	for (int i = 0; i < nrecs; i++)
		assert_true(recs[i].len <= 65535);
}

static void test_psh_flushes(void **state)
{
	struct fx *f = *state;
	rx(f, S(SEQ0, MSS));
	rx(f, S(SEQ0 + MSS, MSS));
	struct seg g = S(SEQ0 + 2 * MSS, MSS);
	g.flags = F_ACK | F_PSH;
	rx(f, g);
	assert_int_equal(nrecs, 1);   /* up at once, no flush needed */
	check_rec(0, SEQ0, 3 * MSS, 3);
	assert_int_equal(recs[0].data[20 + 13], F_ACK | F_PSH);
	assert_int_equal(f->dev->napi.gro_count, 0);
}

static void test_short_segment_is_last(void **state)
{
	struct fx *f = *state;
	rx(f, S(SEQ0, MSS));
	rx(f, S(SEQ0 + MSS, 100));
	assert_int_equal(nrecs, 1);
	check_rec(0, SEQ0, MSS + 100, 2);
	/* A segment longer than the held one's never merges. */
	rx(f, S(SEQ0 + MSS + 100, 500));
	rx(f, S(SEQ0 + MSS + 600, MSS));
	napi_gro_flush(&f->dev->napi);
	assert_int_equal(nrecs, 3);
	check_rec(1, SEQ0 + MSS + 100, 500, 1);
	check_rec(2, SEQ0 + MSS + 600, MSS, 1);
}

static void test_gro_off(void **state)
{
	struct fx *f = *state;
	rx(f, S(SEQ0, MSS));
	assert_int_equal(np_dev_set_gro((struct np_dev *)f->dev, 0), 0);
	assert_int_equal(nrecs, 1);   /* turning it off hands up what was held */
	rx(f, S(SEQ0 + MSS, MSS));
	rx(f, S(SEQ0 + 2 * MSS, MSS));
	assert_int_equal(nrecs, 3);
	assert_int_equal(np_dev_set_gro((struct np_dev *)f->dev, 1), 1);
	f->dev->hw_features = 0;
	assert_int_equal(np_dev_set_gro((struct np_dev *)f->dev, 1), -EOPNOTSUPP);
}

static void test_dev_close_drops_held(void **state)
{
	struct fx *f = *state;
	rx(f, S(SEQ0, MSS));
	rx(f, S(SEQ0 + MSS, MSS));
	uint64_t d0 = f->s->drops[NP_DROP_DEV_DOWN];
	dev_close(f->dev);
	assert_int_equal(f->dev->napi.gro_count, 0);
	assert_int_equal(nrecs, 0);
	/* Each wire frame is a drop of its own. */
	assert_int_equal(f->s->drops[NP_DROP_DEV_DOWN] - d0, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_merge_in_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flush_at_end_of_poll, setup, teardown),
		cmocka_unit_test_setup_teardown(test_out_of_order_flushes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flows_kept_apart, setup, teardown),
		cmocka_unit_test_setup_teardown(test_too_many_flows_flushes_oldest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fin_flushes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_syn_flushes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rst_flushes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_urg_flushes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_window_change_flushes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_option_change_flushes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ip_option_and_fragment_flush, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_checksum_never_merged, setup, teardown),
		cmocka_unit_test_setup_teardown(test_64k_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_psh_flushes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_short_segment_is_last, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gro_off, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dev_close_drops_held, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
