/*
 * Unit tests for src/net/ipv4/neighbour.c and arp.c: the NUD state machine
 * on a virtual clock (INCOMPLETE retries and failure, REACHABLE, STALE,
 * DELAY, PROBE), the pending queue (order, byte cap), the cached header,
 * ARP input rules (RFC 826, RFC 5227 probes, invalid senders, unsolicited
 * replies), the bounded table under a flood, garbage collection, and the
 * no-ARP paths (broadcast, multicast, NOARP devices).
 *
 * The test device captures every transmitted frame, so the ARP requests
 * and flushed packets can be inspected byte by byte.
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
#include "net/ipv4/neighbour.h"
#include "net/ipv4/route.h"
#include "trace/trace.h"
#include "wire/arp.h"
#include "wire/eth.h"
#include "wire/ipv4.h"

#define IP(a, b, c, d) (((uint32_t)(a) << 24) | ((uint32_t)(b) << 16) | ((uint32_t)(c) << 8) | (uint32_t)(d))
#define MS (1000ull * 1000ull)
#define SEC (1000ull * MS)

static const uint8_t MY_MAC[6] = { 0x02, 0, 0, 0, 0, 0x01 };
static const uint8_t PEER_MAC[6] = { 0x02, 0, 0, 0, 0, 0x02 };
static const uint8_t PEER_MAC2[6] = { 0x02, 0, 0, 0, 0, 0x22 };
static const uint8_t BCAST[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
static const uint8_t ZERO[6] = { 0 };
#define MY_IP IP(10, 0, 0, 1)
#define PEER_IP IP(10, 0, 0, 2)

/* The device's driver state: every frame it is asked to send. */
struct capdev {
	struct sk_buff_head txq;
};

static netdev_tx_t cap_xmit(struct sk_buff *skb, struct net_device *dev)
{
	struct capdev *c = dev->priv;

	skb_queue_tail(&c->txq, skb);
	return NETDEV_TX_OK;
}

static void cap_uninit(struct net_device *dev)
{
	struct capdev *c = dev->priv;

	skb_queue_purge_reason(&c->txq, NP_DROP_STACK_SHUTDOWN);
}

static const struct net_device_ops cap_ops = { .ndo_start_xmit = cap_xmit, .ndo_uninit = cap_uninit };

struct fx {
	struct np_clock *c;
	struct np_stack *s;
	struct net_device *dev;
	struct capdev *cap;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct np_stack_config cfg = { .name = "nb", .seed = 11 };

	f->c = np_clock_virtual(1 * SEC);
	cfg.clock = f->c;
	f->s = np_stack_create(&cfg);
	assert_non_null(f->s);
	f->dev = alloc_netdev(f->s, "t0", sizeof(struct capdev));
	assert_non_null(f->dev);
	ether_setup(f->dev);
	memcpy(f->dev->dev_addr, MY_MAC, 6);
	f->dev->netdev_ops = &cap_ops;
	f->cap = f->dev->priv;
	skb_queue_head_init(&f->cap->txq);
	assert_int_equal(register_netdev(f->dev), 0);
	assert_int_equal(dev_open(f->dev), 0);
	assert_int_equal(inet_addr_add(f->dev, MY_IP, 24), 0);
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

/* ---- helpers ---- */

static uint64_t now(struct fx *f) { return np_clock_now(f->c); }

/* Runs the stack's timers up to now + d, one expiry at a time. */
static void advance(struct fx *f, uint64_t d)
{
	struct np_stack *ss[1] = { f->s };

	assert_int_equal(np_sim_run(ss, 1, f->c, now(f) + d), 0);
}

static uint64_t drops(struct fx *f, enum np_drop_reason r) { return np_stack_drops(f->s, r); }
static uint64_t mib(struct fx *f, enum np_mib_field m) { return np_stack_mib(f->s, m); }
static int state_of(struct fx *f, uint32_t ip) { return neigh_lookup_state(f->s, f->dev, ip, NULL); }
static int ntx(struct fx *f) { return (int)f->cap->txq.qlen; }

/* A fake IPv4 packet of len bytes from us, tagged so the flush order can be checked. */
static struct sk_buff *mk_ip(struct fx *f, uint32_t len, uint8_t tag)
{
	struct sk_buff *skb = alloc_skb(f->s, len);
	uint8_t *p;

	assert_non_null(skb);
	p = skb_put(skb, len);
	memset(p, 0, len);
	p[0] = 0x45;
	be32_put(p + 12, MY_IP);
	p[IPV4_HLEN_MIN] = tag;
	return skb;
}

static int send_ip(struct fx *f, uint32_t nexthop, uint8_t tag)
{
	return neigh_output(f->s, f->dev, nexthop, mk_ip(f, 100, tag));
}

/* A transmitted frame, parsed. */
struct frame {
	struct eth_repr eth;
	struct arp_repr arp;    /* when eth.ethertype is ETH_P_ARP */
	uint8_t tag;            /* when IPv4: the test's tag byte */
	uint32_t len;
};

static struct frame pop(struct fx *f)
{
	struct sk_buff *skb = skb_dequeue(&f->cap->txq);
	struct frame fr;

	memset(&fr, 0, sizeof(fr));
	assert_non_null(skb);
	fr.len = skb->len;
	assert_int_equal(eth_parse(skb->data, skb->len, &fr.eth), 0);
	if (fr.eth.ethertype == ETH_P_ARP)
		assert_int_equal(arp_parse(skb->data + ETH_HLEN, skb->len - ETH_HLEN, &fr.arp), 0);
	else if (skb->len > ETH_HLEN + IPV4_HLEN_MIN)
		fr.tag = skb->data[ETH_HLEN + IPV4_HLEN_MIN];
	consume_skb(skb);
	return fr;
}

/* The "wire" took every frame: a normal end for each. */
static void drain(struct fx *f)
{
	struct sk_buff *skb;

	while ((skb = skb_dequeue(&f->cap->txq)) != NULL)
		consume_skb(skb);
}

/* Delivers an Ethernet frame carrying an ARP packet, as the driver would. */
static void inject_raw(struct fx *f, const uint8_t *frame, uint32_t len)
{
	struct sk_buff *skb = netdev_alloc_skb_copy(f->dev, frame, len);

	assert_non_null(skb);
	trace_begin(skb, 0);    /* what a driver does for a received frame */
	netif_receive_skb(skb);
	np_stack_poll(f->s);
}

static void inject_arp(struct fx *f, uint16_t op, const uint8_t *eth_dst, const uint8_t *sha, uint32_t sip,
		       const uint8_t *tha, uint32_t tip)
{
	uint8_t fr[ETH_ZLEN] = { 0 };
	struct eth_repr e;
	struct arp_repr a;

	memcpy(e.dst, eth_dst, 6);
	memcpy(e.src, sha, 6);
	e.ethertype = ETH_P_ARP;
	assert_int_equal(eth_emit(&e, fr, sizeof(fr)), ETH_HLEN);
	a.op = op;
	memcpy(a.sha, sha, 6);
	a.sip = sip;
	memcpy(a.tha, tha, 6);
	a.tip = tip;
	assert_int_equal(arp_emit(&a, fr + ETH_HLEN, sizeof(fr) - ETH_HLEN), ARP_HLEN);
	inject_raw(f, fr, sizeof(fr));   /* padded to the Ethernet minimum, as on the wire */
}

static void reply_from_peer(struct fx *f, const uint8_t *mac)
{
	inject_arp(f, ARPOP_REPLY, MY_MAC, mac, PEER_IP, MY_MAC, MY_IP);
}

static void expect_broadcast_request(struct fx *f, uint32_t target)
{
	struct frame r = pop(f);

	assert_int_equal(r.eth.ethertype, ETH_P_ARP);
	assert_memory_equal(r.eth.dst, BCAST, 6);
	assert_memory_equal(r.eth.src, MY_MAC, 6);
	assert_int_equal(r.arp.op, ARPOP_REQUEST);
	assert_memory_equal(r.arp.sha, MY_MAC, 6);
	assert_int_equal(r.arp.sip, MY_IP);
	assert_memory_equal(r.arp.tha, ZERO, 6);
	assert_int_equal(r.arp.tip, target);
}

static void expect_unicast_request(struct fx *f, const uint8_t *to, uint32_t target)
{
	struct frame r = pop(f);

	assert_int_equal(r.eth.ethertype, ETH_P_ARP);
	assert_memory_equal(r.eth.dst, to, 6);
	assert_int_equal(r.arp.op, ARPOP_REQUEST);
	assert_int_equal(r.arp.sip, MY_IP);
	assert_int_equal(r.arp.tip, target);
}

/* Brings PEER_IP to REACHABLE through a real request/reply exchange. */
static void resolve_peer(struct fx *f)
{
	assert_int_equal(send_ip(f, PEER_IP, 0xaa), 0);
	expect_broadcast_request(f, PEER_IP);
	reply_from_peer(f, PEER_MAC);
	assert_int_equal(state_of(f, PEER_IP), NUD_REACHABLE);
	assert_int_equal(pop(f).tag, 0xaa);
	assert_int_equal(ntx(f), 0);
}

static char *neigh_text(struct fx *f)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);

	np_neigh_print(f->s, m);
	fclose(m);
	return buf;
}

/* ---- INCOMPLETE: retries then FAILED ---- */

static void test_incomplete_retries_then_failed(void **state)
{
	struct fx *f = *state;
	uint64_t failed0 = drops(f, NP_DROP_NEIGH_FAILED);

	for (uint8_t i = 1; i <= 3; i++)
		assert_int_equal(send_ip(f, PEER_IP, i), 0);
	/* One broadcast request, however many packets wait. */
	assert_int_equal(ntx(f), 1);
	expect_broadcast_request(f, PEER_IP);
	assert_int_equal(state_of(f, PEER_IP), NUD_INCOMPLETE);
	assert_int_equal(neigh_count(f->s), 1);

	/* retrans_time (1 s) between solicitations, mcast_solicit (3) in all. */
	advance(f, 999 * MS);
	assert_int_equal(ntx(f), 0);
	advance(f, 1 * MS);
	assert_int_equal(ntx(f), 1);
	expect_broadcast_request(f, PEER_IP);
	advance(f, 1 * SEC);
	assert_int_equal(ntx(f), 1);
	expect_broadcast_request(f, PEER_IP);
	assert_int_equal(state_of(f, PEER_IP), NUD_INCOMPLETE);
	assert_int_equal(drops(f, NP_DROP_NEIGH_FAILED), failed0);

	advance(f, 1 * SEC);
	assert_int_equal(state_of(f, PEER_IP), NUD_FAILED);
	assert_int_equal(ntx(f), 0);   /* no fourth request, no packet left */
	assert_int_equal(drops(f, NP_DROP_NEIGH_FAILED), failed0 + 3);
	assert_int_equal(mib(f, NP_MIB_ArpCacheResFailed), 1);
	char *txt = neigh_text(f);
	assert_string_equal(txt, "10.0.0.2 dev t0 FAILED\n");
	free(txt);

	/* A new packet to a FAILED neighbour starts resolution again. */
	assert_int_equal(send_ip(f, PEER_IP, 9), 0);
	assert_int_equal(state_of(f, PEER_IP), NUD_INCOMPLETE);
	expect_broadcast_request(f, PEER_IP);
	reply_from_peer(f, PEER_MAC);
	assert_int_equal(pop(f).tag, 9);
}

/* ---- reply: REACHABLE, queue flushed in order, cached header ---- */

static void test_reply_flushes_queue_in_order(void **state)
{
	struct fx *f = *state;
	struct frame fr;
	uint8_t mac[6];

	for (uint8_t i = 1; i <= 4; i++)
		assert_int_equal(send_ip(f, PEER_IP, i), 0);
	expect_broadcast_request(f, PEER_IP);
	assert_int_equal(ntx(f), 0);

	reply_from_peer(f, PEER_MAC);
	assert_int_equal(neigh_lookup_state(f->s, f->dev, PEER_IP, mac), NUD_REACHABLE);
	assert_memory_equal(mac, PEER_MAC, 6);
	assert_int_equal(ntx(f), 4);
	for (uint8_t i = 1; i <= 4; i++) {
		fr = pop(f);
		assert_int_equal(fr.eth.ethertype, ETH_P_IP);
		assert_memory_equal(fr.eth.dst, PEER_MAC, 6);
		assert_memory_equal(fr.eth.src, MY_MAC, 6);
		assert_int_equal(fr.tag, i);
		assert_int_equal(fr.len, ETH_HLEN + 100);
	}

	/* Now the fast path: the cached header, no ARP, a counted hit. */
	uint64_t hits = mib(f, NP_MIB_ArpCacheHits);
	assert_int_equal(send_ip(f, PEER_IP, 5), 0);
	assert_int_equal(ntx(f), 1);
	fr = pop(f);
	assert_int_equal(fr.tag, 5);
	assert_memory_equal(fr.eth.dst, PEER_MAC, 6);
	assert_int_equal(mib(f, NP_MIB_ArpCacheHits), hits + 1);

	char *txt = neigh_text(f);
	assert_string_equal(txt, "10.0.0.2 dev t0 lladdr 02:00:00:00:00:02 REACHABLE\n");
	free(txt);
}

/* A broadcast reply resolves too, but only to STALE (Linux: it does not prove reachability). */
static void test_broadcast_reply_is_stale(void **state)
{
	struct fx *f = *state;

	assert_int_equal(send_ip(f, PEER_IP, 1), 0);
	expect_broadcast_request(f, PEER_IP);
	inject_arp(f, ARPOP_REPLY, BCAST, PEER_MAC, PEER_IP, MY_MAC, MY_IP);
	assert_int_equal(state_of(f, PEER_IP), NUD_STALE);
	assert_int_equal(pop(f).tag, 1);
}

/* ---- REACHABLE -> STALE -> DELAY -> PROBE -> REACHABLE / FAILED ---- */

static void test_reachable_stale_delay_probe(void **state)
{
	struct fx *f = *state;
	struct frame fr;

	resolve_peer(f);
	/* base_reachable_time 30 s randomised into [15 s, 45 s). */
	advance(f, 14 * SEC);
	assert_int_equal(state_of(f, PEER_IP), NUD_REACHABLE);
	advance(f, 32 * SEC);
	assert_int_equal(state_of(f, PEER_IP), NUD_STALE);
	assert_int_equal(ntx(f), 0);

	/* Using a STALE entry sends at once with the old address and enters DELAY. */
	assert_int_equal(send_ip(f, PEER_IP, 7), 0);
	assert_int_equal(state_of(f, PEER_IP), NUD_DELAY);
	fr = pop(f);
	assert_int_equal(fr.tag, 7);
	assert_memory_equal(fr.eth.dst, PEER_MAC, 6);

	/* delay_first_probe_time (5 s) later: PROBE, a unicast request to the old address. */
	advance(f, 4999 * MS);
	assert_int_equal(state_of(f, PEER_IP), NUD_DELAY);
	assert_int_equal(ntx(f), 0);
	advance(f, 1 * MS);
	assert_int_equal(state_of(f, PEER_IP), NUD_PROBE);
	assert_int_equal(ntx(f), 1);
	expect_unicast_request(f, PEER_MAC, PEER_IP);

	/* Packets still flow while probing. */
	assert_int_equal(send_ip(f, PEER_IP, 8), 0);
	assert_int_equal(pop(f).tag, 8);

	/* The answer confirms it. */
	reply_from_peer(f, PEER_MAC);
	assert_int_equal(state_of(f, PEER_IP), NUD_REACHABLE);
	assert_int_equal(ntx(f), 0);

	/* Again, but nobody answers: ucast_solicit (3) probes a second apart, then FAILED. */
	advance(f, 46 * SEC);
	assert_int_equal(state_of(f, PEER_IP), NUD_STALE);
	assert_int_equal(send_ip(f, PEER_IP, 9), 0);
	assert_int_equal(pop(f).tag, 9);
	advance(f, 5 * SEC);
	assert_int_equal(state_of(f, PEER_IP), NUD_PROBE);
	expect_unicast_request(f, PEER_MAC, PEER_IP);
	advance(f, 1 * SEC);
	expect_unicast_request(f, PEER_MAC, PEER_IP);
	advance(f, 1 * SEC);
	expect_unicast_request(f, PEER_MAC, PEER_IP);
	assert_int_equal(state_of(f, PEER_IP), NUD_PROBE);
	uint64_t rf = mib(f, NP_MIB_ArpCacheResFailed);
	advance(f, 1 * SEC);
	assert_int_equal(state_of(f, PEER_IP), NUD_FAILED);
	assert_int_equal(ntx(f), 0);
	assert_int_equal(mib(f, NP_MIB_ArpCacheResFailed), rf + 1);
}

/* An entry used within delay_first_probe of its expiry goes from REACHABLE straight to DELAY (Linux). */
static void test_reachable_used_goes_to_delay(void **state)
{
	struct fx *f = *state;

	resolve_peer(f);
	for (int i = 0; i < 50; i++) {
		assert_int_equal(send_ip(f, PEER_IP, (uint8_t)i), 0);
		drain(f);
		advance(f, 1 * SEC);
		if (state_of(f, PEER_IP) != NUD_REACHABLE)
			break;
	}
	assert_int_equal(state_of(f, PEER_IP), NUD_DELAY);
	/* A reply during DELAY confirms without a probe. */
	reply_from_peer(f, PEER_MAC);
	assert_int_equal(state_of(f, PEER_IP), NUD_REACHABLE);
	advance(f, 5 * SEC);
	assert_int_equal(ntx(f), 0);
}

/* ---- ARP input rules ---- */

static void test_request_for_us_gets_reply(void **state)
{
	struct fx *f = *state;
	struct frame fr;
	uint8_t mac[6];

	inject_arp(f, ARPOP_REQUEST, BCAST, PEER_MAC, PEER_IP, ZERO, MY_IP);
	assert_int_equal(ntx(f), 1);
	fr = pop(f);
	assert_int_equal(fr.eth.ethertype, ETH_P_ARP);
	assert_memory_equal(fr.eth.dst, PEER_MAC, 6);   /* unicast reply */
	assert_memory_equal(fr.eth.src, MY_MAC, 6);
	assert_int_equal(fr.arp.op, ARPOP_REPLY);
	assert_memory_equal(fr.arp.sha, MY_MAC, 6);
	assert_int_equal(fr.arp.sip, MY_IP);
	assert_memory_equal(fr.arp.tha, PEER_MAC, 6);
	assert_int_equal(fr.arp.tip, PEER_IP);
	/* The sender is learnt as STALE (Linux's neigh_event_ns). */
	assert_int_equal(neigh_lookup_state(f->s, f->dev, PEER_IP, mac), NUD_STALE);
	assert_memory_equal(mac, PEER_MAC, 6);
	/* ... and its address is used right away without asking. */
	assert_int_equal(send_ip(f, PEER_IP, 3), 0);
	fr = pop(f);
	assert_int_equal(fr.tag, 3);
	assert_memory_equal(fr.eth.dst, PEER_MAC, 6);

	/* A request from a REACHABLE neighbour does not demote it. */
	reply_from_peer(f, PEER_MAC);
	assert_int_equal(state_of(f, PEER_IP), NUD_REACHABLE);
	inject_arp(f, ARPOP_REQUEST, BCAST, PEER_MAC, PEER_IP, ZERO, MY_IP);
	assert_int_equal(state_of(f, PEER_IP), NUD_REACHABLE);
	assert_int_equal(pop(f).arp.op, ARPOP_REPLY);
}

static void test_request_not_for_us(void **state)
{
	struct fx *f = *state;
	uint64_t nfu = drops(f, NP_DROP_ARP_NOT_FOR_US);

	/* Unknown sender asking for someone else: no reply, no entry. */
	inject_arp(f, ARPOP_REQUEST, BCAST, PEER_MAC, PEER_IP, ZERO, IP(10, 0, 0, 77));
	assert_int_equal(ntx(f), 0);
	assert_int_equal(state_of(f, PEER_IP), -ENOENT);
	assert_int_equal(drops(f, NP_DROP_ARP_NOT_FOR_US), nfu + 1);

	/* A known sender's entry is refreshed (new MAC after the locktime). */
	inject_arp(f, ARPOP_REQUEST, BCAST, PEER_MAC, PEER_IP, ZERO, MY_IP);
	drain(f);
	advance(f, 2 * SEC);
	inject_arp(f, ARPOP_REQUEST, BCAST, PEER_MAC2, PEER_IP, ZERO, IP(10, 0, 0, 77));
	uint8_t mac[6];
	assert_int_equal(neigh_lookup_state(f->s, f->dev, PEER_IP, mac), NUD_STALE);
	assert_memory_equal(mac, PEER_MAC2, 6);
	assert_int_equal(drops(f, NP_DROP_ARP_NOT_FOR_US), nfu + 2);
	assert_int_equal(ntx(f), 0);

	/* RFC 5227 probe (sender 0.0.0.0) for our address: answered, nothing learnt. */
	inject_arp(f, ARPOP_REQUEST, BCAST, PEER_MAC, 0, ZERO, MY_IP);
	assert_int_equal(ntx(f), 1);
	struct frame fr = pop(f);
	assert_int_equal(fr.arp.op, ARPOP_REPLY);
	assert_int_equal(fr.arp.sip, MY_IP);
	assert_int_equal(fr.arp.tip, 0);
	assert_memory_equal(fr.eth.dst, PEER_MAC, 6);
	assert_int_equal(neigh_count(f->s), 1);
}

static void test_unsolicited_reply_creates_nothing(void **state)
{
	struct fx *f = *state;
	uint64_t uns = drops(f, NP_DROP_ARP_UNSOLICITED);

	reply_from_peer(f, PEER_MAC);
	assert_int_equal(state_of(f, PEER_IP), -ENOENT);
	assert_int_equal(neigh_count(f->s), 0);
	assert_int_equal(drops(f, NP_DROP_ARP_UNSOLICITED), uns + 1);

	/* Gratuitous ARP (sender == target) only updates an existing entry. */
	inject_arp(f, ARPOP_REQUEST, BCAST, PEER_MAC, PEER_IP, ZERO, PEER_IP);
	assert_int_equal(state_of(f, PEER_IP), -ENOENT);
	resolve_peer(f);
	inject_arp(f, ARPOP_REQUEST, BCAST, PEER_MAC2, PEER_IP, ZERO, PEER_IP);
	uint8_t mac[6];
	assert_int_equal(neigh_lookup_state(f->s, f->dev, PEER_IP, mac), NUD_STALE);
	assert_memory_equal(mac, PEER_MAC2, 6);
	assert_int_equal(ntx(f), 0);

	/* A different answer within locktime (1 s) does not replace the first one. */
	inject_arp(f, ARPOP_REPLY, MY_MAC, PEER_MAC, PEER_IP, MY_MAC, MY_IP);
	assert_int_equal(neigh_lookup_state(f->s, f->dev, PEER_IP, mac), NUD_STALE);
	assert_memory_equal(mac, PEER_MAC2, 6);
	advance(f, 1001 * MS);
	inject_arp(f, ARPOP_REPLY, MY_MAC, PEER_MAC, PEER_IP, MY_MAC, MY_IP);
	assert_int_equal(neigh_lookup_state(f->s, f->dev, PEER_IP, mac), NUD_REACHABLE);
	assert_memory_equal(mac, PEER_MAC, 6);
}

static void test_invalid_senders_dropped(void **state)
{
	struct fx *f = *state;
	static const uint8_t MCAST_MAC[6] = { 0x01, 0x00, 0x5e, 0x00, 0x00, 0x01 };
	uint64_t sha = drops(f, NP_DROP_ARP_INVALID_SHA);
	uint64_t sip = drops(f, NP_DROP_ARP_INVALID_SIP);

	inject_arp(f, ARPOP_REQUEST, BCAST, BCAST, PEER_IP, ZERO, MY_IP);
	inject_arp(f, ARPOP_REQUEST, BCAST, ZERO, PEER_IP, ZERO, MY_IP);
	inject_arp(f, ARPOP_REQUEST, BCAST, MCAST_MAC, PEER_IP, ZERO, MY_IP);
	assert_int_equal(drops(f, NP_DROP_ARP_INVALID_SHA), sha + 3);

	inject_arp(f, ARPOP_REQUEST, BCAST, PEER_MAC, MY_IP, ZERO, MY_IP);           /* our own IP */
	inject_arp(f, ARPOP_REQUEST, BCAST, PEER_MAC, IP(224, 0, 0, 5), ZERO, MY_IP);
	inject_arp(f, ARPOP_REQUEST, BCAST, PEER_MAC, IP(255, 255, 255, 255), ZERO, MY_IP);
	inject_arp(f, ARPOP_REQUEST, BCAST, PEER_MAC, IP(10, 0, 0, 255), ZERO, MY_IP); /* subnet broadcast */
	inject_arp(f, ARPOP_REQUEST, BCAST, PEER_MAC, IP(127, 0, 0, 1), ZERO, MY_IP);
	inject_arp(f, ARPOP_REPLY, MY_MAC, PEER_MAC, 0, MY_MAC, MY_IP);              /* reply from 0.0.0.0 */
	assert_int_equal(drops(f, NP_DROP_ARP_INVALID_SIP), sip + 6);

	/* None was answered or learnt. */
	assert_int_equal(ntx(f), 0);
	assert_int_equal(neigh_count(f->s), 0);

	/* Malformed packets: short, and wrong hardware type. */
	uint8_t fr[ETH_HLEN + 20] = { 0 };
	memcpy(fr, MY_MAC, 6);
	memcpy(fr + 6, PEER_MAC, 6);
	be16_put(fr + 12, ETH_P_ARP);
	uint64_t tr = drops(f, NP_DROP_ARP_TRUNCATED);
	inject_raw(f, fr, sizeof(fr));
	assert_int_equal(drops(f, NP_DROP_ARP_TRUNCATED), tr + 1);

	uint8_t big[ETH_ZLEN] = { 0 };
	struct arp_repr a = { .op = ARPOP_REQUEST, .sip = PEER_IP, .tip = MY_IP };
	memcpy(a.sha, PEER_MAC, 6);
	memcpy(big, BCAST, 6);
	memcpy(big + 6, PEER_MAC, 6);
	be16_put(big + 12, ETH_P_ARP);
	arp_emit(&a, big + ETH_HLEN, ARP_HLEN);
	be16_put(big + ETH_HLEN, 6);      /* IEEE 802 hardware type */
	uint64_t bf = drops(f, NP_DROP_ARP_BAD_FIELDS);
	inject_raw(f, big, sizeof(big));
	assert_int_equal(drops(f, NP_DROP_ARP_BAD_FIELDS), bf + 1);
	assert_int_equal(ntx(f), 0);
}

/* ---- bounds ---- */

static void test_table_bounded_under_flood(void **state)
{
	struct fx *f = *state;
	long thresh3 = f->s->sysctl.neigh_gc_thresh3;
	int flood = (int)thresh3 * 10;
	uint64_t gc0 = mib(f, NP_MIB_ArpCacheForcedGcRuns);
	uint8_t mac[6] = { 0x02, 0x10, 0, 0, 0, 0 };

	/* One resolution in progress: its waiting packet must survive the flood. */
	assert_int_equal(send_ip(f, PEER_IP, 1), 0);
	drain(f);

	for (int i = 0; i < flood; i++) {
		uint32_t sip = IP(10, 1, 0, 0) + (uint32_t)i;

		mac[4] = (uint8_t)(i >> 8);
		mac[5] = (uint8_t)i;
		inject_arp(f, ARPOP_REQUEST, BCAST, mac, sip, ZERO, MY_IP);
		assert_true(neigh_count(f->s) <= thresh3);
		drain(f);
	}
	assert_int_equal(neigh_count(f->s), thresh3);
	/* Every sender was answered: the least recently used entry made room each time. */
	assert_int_equal(mib(f, NP_MIB_ArpCacheForcedGcRuns), gc0 + (uint64_t)(flood - thresh3 + 1));
	assert_int_equal(mib(f, NP_MIB_ArpCacheTableFulls), 0);
	/* The newest senders remain, the oldest went. */
	assert_int_equal(state_of(f, IP(10, 1, 0, 0) + (uint32_t)flood - 1), NUD_STALE);
	assert_int_equal(state_of(f, IP(10, 1, 0, 0)), -ENOENT);
	assert_int_equal(state_of(f, PEER_IP), NUD_INCOMPLETE);
	reply_from_peer(f, PEER_MAC);
	assert_int_equal(pop(f).tag, 1);
}

static void test_table_full_of_pending_entries(void **state)
{
	struct fx *f = *state;
	uint64_t cf = drops(f, NP_DROP_NEIGH_CREATEFAIL);

	f->s->sysctl.neigh_gc_thresh3 = 16;
	for (uint32_t i = 0; i < 16; i++)
		assert_int_equal(send_ip(f, IP(10, 0, 0, 100) + i, 1), 0);
	drain(f);
	assert_int_equal(neigh_count(f->s), 16);

	/* Nothing may be evicted: a new next hop is refused ... */
	assert_int_equal(send_ip(f, IP(10, 0, 0, 200), 2), -ENOBUFS);
	assert_int_equal(drops(f, NP_DROP_NEIGH_CREATEFAIL), cf + 1);
	/* ... and so is a request from a new sender, which then gets no reply (as Linux). */
	inject_arp(f, ARPOP_REQUEST, BCAST, PEER_MAC, PEER_IP, ZERO, MY_IP);
	assert_int_equal(ntx(f), 0);
	assert_int_equal(drops(f, NP_DROP_NEIGH_CREATEFAIL), cf + 2);
	assert_int_equal(mib(f, NP_MIB_ArpCacheTableFulls), 2);

	/* Permanent entries do not count against gc_thresh3 (Linux's exempt_from_gc). */
	assert_int_equal(neigh_add_permanent(f->s, f->dev, PEER_IP, PEER_MAC), 0);
	assert_int_equal(neigh_count(f->s), 17);
}

static void test_pending_queue_byte_cap(void **state)
{
	struct fx *f = *state;
	uint64_t qf = drops(f, NP_DROP_NEIGH_QUEUEFULL);
	uint64_t ud = mib(f, NP_MIB_ArpCacheUnresolvedDiscards);

	f->s->sysctl.neigh_unres_qlen_bytes = 3000;
	for (uint8_t i = 1; i <= 5; i++)
		assert_int_equal(neigh_output(f->s, f->dev, PEER_IP, mk_ip(f, 1000, i)), 0);
	/* Only the three newest fit; the oldest were dropped. */
	assert_int_equal(drops(f, NP_DROP_NEIGH_QUEUEFULL), qf + 2);
	assert_int_equal(mib(f, NP_MIB_ArpCacheUnresolvedDiscards), ud + 2);
	expect_broadcast_request(f, PEER_IP);
	reply_from_peer(f, PEER_MAC);
	assert_int_equal(ntx(f), 3);
	assert_int_equal(pop(f).tag, 3);
	assert_int_equal(pop(f).tag, 4);
	assert_int_equal(pop(f).tag, 5);
}

/* ---- garbage collection ---- */

static void test_gc_removes_stale_and_failed(void **state)
{
	struct fx *f = *state;
	uint64_t destroys = mib(f, NP_MIB_ArpCacheDestroys);

	inject_arp(f, ARPOP_REQUEST, BCAST, PEER_MAC, PEER_IP, ZERO, MY_IP);   /* STALE */
	drain(f);
	assert_int_equal(send_ip(f, IP(10, 0, 0, 3), 1), 0);                  /* will fail */
	drain(f);
	advance(f, 10 * SEC);
	assert_int_equal(state_of(f, IP(10, 0, 0, 3)), NUD_FAILED);
	assert_int_equal(state_of(f, PEER_IP), NUD_STALE);
	assert_int_equal(neigh_count(f->s), 2);
	/* gc_stale_time is 60 s. */
	advance(f, 49 * SEC);
	assert_int_equal(state_of(f, PEER_IP), NUD_STALE);
	advance(f, 2 * SEC);
	assert_int_equal(state_of(f, PEER_IP), -ENOENT);
	advance(f, 10 * SEC);
	assert_int_equal(state_of(f, IP(10, 0, 0, 3)), -ENOENT);
	assert_int_equal(neigh_count(f->s), 0);
	assert_int_equal(mib(f, NP_MIB_ArpCacheDestroys), destroys + 2);
	drain(f);
}

/* ---- paths without ARP ---- */

static void test_broadcast_multicast_noarp(void **state)
{
	struct fx *f = *state;
	struct frame fr;
	static const uint8_t MDNS_MAC[6] = { 0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb };

	assert_int_equal(send_ip(f, IP(10, 0, 0, 255), 1), 0);
	fr = pop(f);
	assert_int_equal(fr.eth.ethertype, ETH_P_IP);
	assert_memory_equal(fr.eth.dst, BCAST, 6);
	assert_int_equal(send_ip(f, IP(255, 255, 255, 255), 2), 0);
	assert_memory_equal(pop(f).eth.dst, BCAST, 6);
	assert_int_equal(send_ip(f, IP(224, 0, 0, 251), 3), 0);
	assert_memory_equal(pop(f).eth.dst, MDNS_MAC, 6);
	assert_int_equal(neigh_count(f->s), 0);
	assert_int_equal(ntx(f), 0);

	/* A NOARP device sends straight away (Linux puts its own address as destination). */
	f->dev->flags |= NPF_NOARP;
	assert_int_equal(send_ip(f, PEER_IP, 4), 0);
	fr = pop(f);
	assert_int_equal(fr.tag, 4);
	assert_memory_equal(fr.eth.dst, MY_MAC, 6);
	assert_int_equal(neigh_count(f->s), 0);
	/* ... and ignores ARP. */
	inject_arp(f, ARPOP_REQUEST, BCAST, PEER_MAC, PEER_IP, ZERO, MY_IP);
	assert_int_equal(ntx(f), 0);
	f->dev->flags &= ~(unsigned)NPF_NOARP;

	/* Loopback: no header, no ARP. */
	struct net_device *lo = f->s->loopback_dev;
	assert_non_null(lo);
	uint64_t tx0 = lo->stats.tx_packets;
	assert_int_equal(neigh_output(f->s, lo, IP(127, 0, 0, 1), mk_ip(f, 100, 5)), 0);
	assert_int_equal(lo->stats.tx_packets, tx0 + 1);
	np_stack_poll(f->s);
	assert_int_equal(neigh_count(f->s), 0);
}

static void test_permanent_entry(void **state)
{
	struct fx *f = *state;
	uint8_t mac[6];

	/* Becoming permanent resolves waiting packets too. */
	assert_int_equal(send_ip(f, PEER_IP, 1), 0);
	drain(f);
	assert_int_equal(neigh_add_permanent(f->s, f->dev, PEER_IP, PEER_MAC), 0);
	assert_int_equal(pop(f).tag, 1);
	assert_int_equal(send_ip(f, PEER_IP, 2), 0);
	struct frame fr = pop(f);
	assert_int_equal(fr.tag, 2);
	assert_memory_equal(fr.eth.dst, PEER_MAC, 6);
	/* ARP cannot change it, and time does not age it. */
	advance(f, 2 * SEC);
	reply_from_peer(f, PEER_MAC2);
	advance(f, 600 * SEC);
	assert_int_equal(neigh_lookup_state(f->s, f->dev, PEER_IP, mac), NUD_PERMANENT);
	assert_memory_equal(mac, PEER_MAC, 6);
	char *txt = neigh_text(f);
	assert_string_equal(txt, "10.0.0.2 dev t0 lladdr 02:00:00:00:00:02 PERMANENT\n");
	free(txt);
}

static void test_flush_dev_drops_pending(void **state)
{
	struct fx *f = *state;
	uint64_t dead = drops(f, NP_DROP_NEIGH_DEAD);

	assert_int_equal(send_ip(f, PEER_IP, 1), 0);
	assert_int_equal(send_ip(f, PEER_IP, 2), 0);
	assert_int_equal(send_ip(f, IP(10, 0, 0, 3), 3), 0);
	drain(f);
	neigh_flush_dev(f->s, f->dev);
	assert_int_equal(neigh_count(f->s), 0);
	assert_int_equal(drops(f, NP_DROP_NEIGH_DEAD), dead + 3);
	/* No timer of a flushed entry fires later. */
	advance(f, 10 * SEC);
	assert_int_equal(ntx(f), 0);
}

/* A packet without room for the Ethernet header is copied, not refused. */
static void test_no_headroom_is_copied(void **state)
{
	struct fx *f = *state;
	struct sk_buff *skb = alloc_skb(f->s, 100);

	resolve_peer(f);
	/* Put the fake IP packet at the very start of the buffer. */
	skb_push(skb, skb_headroom(skb));
	skb_trim(skb, 100);
	assert_int_equal(skb->len, 100);
	memset(skb->data, 0, skb->len);
	skb->data[0] = 0x45;
	skb->data[IPV4_HLEN_MIN] = 0x5a;
	assert_int_equal(skb_headroom(skb), 0);
	assert_int_equal(neigh_output(f->s, f->dev, PEER_IP, skb), 0);
	struct frame fr = pop(f);
	assert_int_equal(fr.tag, 0x5a);
	assert_int_equal(fr.len, ETH_HLEN + 100);
	assert_memory_equal(fr.eth.dst, PEER_MAC, 6);
}

/* ---- trace stages ---- */

struct paths {
	char text[8][512];
	int n;
};

static void on_path(void *arg, const struct np_trace_path *p)
{
	struct paths *ps = arg;

	if (ps->n < 8)
		np_trace_format(p, ps->text[ps->n++], sizeof(ps->text[0]));
}

static void test_trace_stages(void **state)
{
	struct fx *f = *state;
	struct paths ps = { .n = 0 };
	struct sk_buff *skb;

	np_stack_trace_cb(f->s, on_path, &ps);
	skb = mk_ip(f, 100, 1);
	trace_begin(skb, 1);
	assert_int_equal(neigh_output(f->s, f->dev, PEER_IP, skb), 0);
	reply_from_peer(f, PEER_MAC);
	drain(f);
	np_stack_trace_cb(f->s, NULL, NULL);

	/* The ARP request, the reply we received, the data packet (ends when drained). */
	int req = -1, rep = -1, data = -1;
	for (int i = 0; i < ps.n; i++) {
		if (strstr(ps.text[i], "arp_solicit -> arp_send -> dev_queue_xmit(t0)"))
			req = i;
		else if (strstr(ps.text[i], "arp_rcv -> arp_process -> neigh_update(10.0.0.2 INCOMPLETE->REACHABLE) -> consumed"))
			rep = i;
		else if (strstr(ps.text[i], "neigh_output -> neigh_resolve_output -> arp_solicit -> "
					    "neigh_resolve_output -> dev_queue_xmit(t0)"))
			data = i;
	}
	assert_true(req >= 0);
	assert_true(rep >= 0);
	assert_true(data >= 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_incomplete_retries_then_failed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reply_flushes_queue_in_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_broadcast_reply_is_stale, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reachable_stale_delay_probe, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reachable_used_goes_to_delay, setup, teardown),
		cmocka_unit_test_setup_teardown(test_request_for_us_gets_reply, setup, teardown),
		cmocka_unit_test_setup_teardown(test_request_not_for_us, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unsolicited_reply_creates_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_invalid_senders_dropped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_table_bounded_under_flood, setup, teardown),
		cmocka_unit_test_setup_teardown(test_table_full_of_pending_entries, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pending_queue_byte_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gc_removes_stale_and_failed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_broadcast_multicast_noarp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_permanent_entry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flush_dev_drops_pending, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_headroom_is_copied, setup, teardown),
		cmocka_unit_test_setup_teardown(test_trace_stages, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
