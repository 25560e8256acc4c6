/*
 * Scenario: stacks joined by the virtual cable (src/drivers/cable.c).
 * Raw frames across the cable (ring limits, MTU, carrier loss, a pair inside
 * one stack, two stacks in two threads), then IPv4: 1,000 pings over a clean
 * cable with ARP resolved once and a pcap of it all, and 1,000 pings
 * through loss, reordering and delay.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <pcap/pcap.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/netdevice.h"
#include "core/stack.h"
#include "drivers/faults.h"
#include "netpath/netpath.h"

#define T0 (1000 * NSEC_PER_MSEC)
#define ETH_P_TEST 0x88b5   /* IEEE local experimental */

struct pair {
	struct np_clock *clk;
	struct np_stack *s[2];
	struct np_dev *d[2];
};

static void pair_up(struct pair *p, int with_cable)
{
	p->clk = np_clock_virtual(T0);
	assert_non_null(p->clk);
	for (int i = 0; i < 2; i++) {
		struct np_stack_config cfg = { .name = i ? "B" : "A", .clock = p->clk, .seed = (uint64_t)(100 + i) };
		p->s[i] = np_stack_create(&cfg);
		assert_non_null(p->s[i]);
	}
	if (with_cable)
		assert_int_equal(np_cable_create(p->s[0], "eth0", p->s[1], "eth0", &p->d[0], &p->d[1]), 0);
}

static void pair_down(struct pair *p)
{
	np_stack_destroy(p->s[0]);
	np_stack_destroy(p->s[1]);
	np_clock_destroy(p->clk);
}

static void sim(struct pair *p, uint64_t until)
{
	assert_int_equal(np_sim_run(p->s, 2, p->clk, until), 0);
}

static struct net_device *ND(struct np_dev *d) { return (struct net_device *)d; }

/* ---- pcap reading ---------------------------------------------------------- */

struct pcap_counts {
	int frames, arp_req, arp_rep, icmp_req, icmp_rep, other;
	int ts_ordered;
	uint64_t first_ns;
};

static void pcap_count(const char *path, struct pcap_counts *pc)
{
	char errbuf[PCAP_ERRBUF_SIZE];
	memset(pc, 0, sizeof(*pc));
	pcap_t *pd = pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_NANO, errbuf);
	if (!pd)
		fail_msg("pcap_open_offline: %s", errbuf);
	assert_int_equal(pcap_datalink(pd), DLT_EN10MB);
	struct pcap_pkthdr *h;
	const u_char *d;
	uint64_t prev = 0;
	pc->ts_ordered = 1;
	while (pcap_next_ex(pd, &h, &d) == 1) {
		uint64_t ts = (uint64_t)h->ts.tv_sec * NSEC_PER_SEC + (uint64_t)h->ts.tv_usec;
		if (!pc->frames)
			pc->first_ns = ts;
		if (ts < prev)
			pc->ts_ordered = 0;
		prev = ts;
		pc->frames++;
		assert_int_equal(h->caplen, h->len);
		uint16_t type = (uint16_t)(d[12] << 8 | d[13]);
		if (type == 0x0806 && h->caplen >= 22) {
			uint16_t op = (uint16_t)(d[20] << 8 | d[21]);
			if (op == 1)
				pc->arp_req++;
			else if (op == 2)
				pc->arp_rep++;
		} else if (type == 0x0800 && h->caplen >= 34 + 8 && d[23] == 1) {
			uint8_t icmp_type = d[14 + (d[14] & 0x0f) * 4];
			if (icmp_type == 8)
				pc->icmp_req++;
			else if (icmp_type == 0)
				pc->icmp_rep++;
		} else {
			pc->other++;
		}
	}
	pcap_close(pd);
}

/* ---- raw frames ------------------------------------------------------------ */

struct rx_count {
	struct packet_type pt;
	int frames;
	int echo;            /* send each frame back to its source */
	atomic_int echoed;
};

static int test_rcv(struct sk_buff *skb, struct net_device *dev, struct packet_type *pt)
{
	struct rx_count *rc = pt->priv;
	rc->frames++;
	if (rc->echo) {
		struct sk_buff *r = alloc_skb(dev->stack, ETH_HLEN + skb->len);
		if (r) {
			skb_reserve(r, ETH_HLEN);
			memcpy(skb_put(r, skb->len), skb->data, skb->len);
			dev_hard_header(r, dev, ETH_P_TEST, skb_mac_header(skb) + ETH_ALEN, NULL);
			r->dev = dev;
			if (dev_queue_xmit(r) == 0)
				atomic_fetch_add(&rc->echoed, 1);
		}
	}
	consume_skb(skb);
	return 0;
}

static void rx_count_add(struct np_stack *s, struct rx_count *rc)
{
	memset(rc, 0, sizeof(*rc));
	rc->pt.type = ETH_P_TEST;
	rc->pt.func = test_rcv;
	rc->pt.priv = rc;
	dev_add_pack(s, &rc->pt);
}

/* A test frame from dev to dst with payload bytes (a counter in the first 4). */
static struct sk_buff *mkframe(struct net_device *dev, const uint8_t *dst, uint32_t payload, uint32_t seq)
{
	struct sk_buff *skb = alloc_skb(dev->stack, ETH_HLEN + payload);
	assert_non_null(skb);
	skb_reserve(skb, ETH_HLEN);
	uint8_t *p = skb_put(skb, payload);
	memset(p, 0xab, payload);
	if (payload >= 4) {
		p[0] = (uint8_t)(seq >> 24);
		p[1] = (uint8_t)(seq >> 16);
		p[2] = (uint8_t)(seq >> 8);
		p[3] = (uint8_t)seq;
	}
	assert_int_equal(dev_hard_header(skb, dev, ETH_P_TEST, dst, NULL), 0);
	skb->dev = dev;
	return skb;
}

static void test_cable_ring_and_mtu(void **state)
{
	(void)state;
	struct pair p;
	pair_up(&p, 1);
	struct net_device *a = ND(p.d[0]), *b = ND(p.d[1]);
	struct rx_count rc;
	rx_count_add(p.s[1], &rc);
	assert_true(a->flags & NPF_RUNNING);
	assert_memory_not_equal(a->dev_addr, b->dev_addr, ETH_ALEN);

	/* 1,500 frames before B polls: the ring holds 1,024, the rest are dropped as FULL_RING. */
	for (uint32_t i = 0; i < 1500; i++)
		assert_int_equal(dev_hard_start_xmit(mkframe(a, b->dev_addr, 100, i), a), NETDEV_TX_OK);
	assert_int_equal(a->stats.tx_dropped, 1500 - 1024);
	assert_int_equal(np_stack_drops(p.s[0], NP_DROP_FULL_RING), 1500 - 1024);
	sim(&p, T0);
	assert_int_equal(rc.frames, 1024);
	assert_int_equal(b->stats.rx_packets, 1024);
	assert_int_equal(b->stats.rx_bytes, 1024 * (ETH_HLEN + 100));

	/* Through the qdisc, in bursts the ring holds: nothing lost. */
	rc.frames = 0;
	for (int burst = 0; burst < 10; burst++) {
		for (uint32_t i = 0; i < 500; i++)
			assert_int_equal(dev_queue_xmit(mkframe(a, b->dev_addr, 200, i)), 0);
		sim(&p, T0);
	}
	assert_int_equal(rc.frames, 5000);

	/* A frame longer than B's MTU allows is dropped at B (like veth's is_skb_forwardable). */
	assert_int_equal(np_dev_set_mtu(p.d[1], 1000), 0);
	dev_hard_start_xmit(mkframe(a, b->dev_addr, 1000 + VLAN_HLEN + 1, 1), a);
	dev_hard_start_xmit(mkframe(a, b->dev_addr, 1000, 2), a);
	sim(&p, T0);
	assert_int_equal(np_stack_drops(p.s[1], NP_DROP_PKT_TOO_BIG), 1);
	assert_int_equal(rc.frames, 5001);

	/* Frames for another MAC are dropped by the receive core (OTHERHOST), not the cable. */
	static const uint8_t other[6] = { 0x02, 0, 0, 0, 0, 0x99 };
	dev_hard_start_xmit(mkframe(a, other, 100, 3), a);
	sim(&p, T0);
	assert_int_equal(np_stack_drops(p.s[1], NP_DROP_OTHERHOST), 1);
	pair_down(&p);
}

static void test_cable_carrier_loss(void **state)
{
	(void)state;
	struct pair p;
	pair_up(&p, 1);
	struct net_device *a = ND(p.d[0]);
	uint8_t bmac[6];
	np_dev_get_mac(p.d[1], bmac);
	/* Frames still in B's ring when B goes are freed with the cable. */
	for (uint32_t i = 0; i < 10; i++)
		dev_hard_start_xmit(mkframe(a, bmac, 100, i), a);
	np_stack_destroy(p.s[1]);
	p.s[1] = NULL;

	dev_hard_start_xmit(mkframe(a, bmac, 100, 99), a);
	assert_int_equal(a->stats.tx_carrier, 1);
	assert_int_equal(a->stats.tx_errors, 1);
	assert_int_equal(np_stack_drops(p.s[0], NP_DROP_DEV_DOWN), 1);
	assert_false(a->flags & NPF_RUNNING);
	np_stack_destroy(p.s[0]);
	np_clock_destroy(p.clk);
}

static void test_cable_errors_and_same_stack(void **state)
{
	(void)state;
	struct pair p;
	pair_up(&p, 1);
	struct np_dev *x, *y;
	assert_int_equal(np_cable_create(p.s[0], "eth0", p.s[1], "eth1", &x, &y), -EEXIST);
	assert_int_equal(np_cable_create(p.s[0], "v0", p.s[0], "v0", &x, &y), -EEXIST);
	assert_int_equal(np_cable_create(p.s[0], "a-very-long-name-indeed", p.s[1], "eth1", &x, &y), -EINVAL);
	assert_int_equal(np_cable_create(p.s[0], "", p.s[1], "eth1", &x, &y), -EINVAL);
	assert_null(np_dev_get(p.s[1], "eth1"));

	/* Both ends in one stack: frames cross within it. */
	assert_int_equal(np_cable_create(p.s[0], "v0", p.s[0], "v1", &x, &y), 0);
	struct rx_count rc;
	rx_count_add(p.s[0], &rc);
	for (uint32_t i = 0; i < 100; i++)
		dev_queue_xmit(mkframe(ND(x), ND(y)->dev_addr, 64, i));
	sim(&p, T0);
	assert_int_equal(rc.frames, 100);
	assert_int_equal(ND(y)->stats.rx_packets, 100);
	assert_int_equal(ND(x)->stats.tx_packets, 100);
	pair_down(&p);
}

/* B runs in its own thread (np_stack_run, real clock) and echoes; A is driven from this thread. */
struct b_thread {
	struct np_stack *s;
	int rc;
};

static void *b_main(void *arg)
{
	struct b_thread *bt = arg;
	bt->rc = np_stack_run(bt->s, -1);
	return NULL;
}

static void test_cable_two_threads(void **state)
{
	(void)state;
	struct np_stack_config ca = { .name = "A", .seed = 5 }, cb = { .name = "B", .seed = 6 };
	struct np_stack *a = np_stack_create(&ca), *b = np_stack_create(&cb);
	assert_non_null(a);
	assert_non_null(b);
	struct np_dev *da, *db;
	assert_int_equal(np_cable_create(a, "eth0", b, "eth0", &da, &db), 0);
	struct rx_count ra, rb;
	rx_count_add(a, &ra);
	rx_count_add(b, &rb);
	rb.echo = 1;
	uint8_t bmac[6];
	np_dev_get_mac(db, bmac);

	/* One capture written from both threads. */
	char path[64];
	snprintf(path, sizeof(path), "/tmp/np_cable_threads_%d.pcap", (int)getpid());
	int err;
	struct np_capture *cap = np_capture_open(path, &err);
	assert_non_null(cap);
	np_dev_capture(da, cap);
	np_dev_capture(db, cap);

	struct b_thread bt = { .s = b };
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, b_main, &bt), 0);
	const int total = 5000;
	int sent = 0;
	uint64_t deadline = np_stack_now(a) + 20 * NSEC_PER_SEC;
	while (ra.frames < total && np_stack_now(a) < deadline) {
		/* Keep at most 200 in flight: well inside both rings. */
		while (sent < total && sent - ra.frames < 200)
			assert_int_equal(dev_queue_xmit(mkframe(ND(da), bmac, 80, (uint32_t)sent++)), 0);
		np_stack_run(a, 1);
	}
	np_stack_stop(b);
	pthread_join(th, NULL);
	assert_int_equal(bt.rc, 0);
	assert_int_equal(ra.frames, total);
	assert_int_equal(atomic_load(&rb.echoed), total);
	np_dev_capture(da, NULL);
	np_dev_capture(db, NULL);
	np_capture_close(cap);
	struct pcap_counts pc;
	pcap_count(path, &pc);
	unlink(path);
	/* Each frame recorded leaving one end and arriving at the other, both ways. */
	assert_int_equal(pc.frames, 4 * total);
	assert_int_equal(pc.other, 4 * total);

	/* B goes away: A sees carrier loss and frees its frames. */
	np_stack_destroy(b);
	dev_queue_xmit(mkframe(ND(da), bmac, 80, 0));
	assert_int_equal(ND(da)->stats.tx_carrier, 1);
	np_stack_destroy(a);
}

/* ---- IPv4 over the cable ---------------------------------------------------- */

#define PING_ID 0x4e50

struct ping_ctx {
	int replies, errors, dups;
	uint8_t seen[8192];
};

static void on_reply(void *arg, const struct np_ping_reply *r)
{
	struct ping_ctx *c = arg;
	if (r->error_type) {
		c->errors++;
		return;
	}
	if (r->seq < sizeof(c->seen) && c->seen[r->seq]++)
		c->dups++;
	c->replies++;
}

static void addresses(struct pair *p)
{
	assert_int_equal(np_addr_add(p->d[0], "10.0.0.1/24"), 0);
	assert_int_equal(np_addr_add(p->d[1], "10.0.0.2/24"), 0);
}

/* Sends n pings from A to B, one per millisecond, and lets the replies come in. */
static void ping_n(struct pair *p, struct ping_ctx *c, int first_seq, int n)
{
	struct in_addr dst;
	inet_pton(AF_INET, "10.0.0.2", &dst);
	assert_int_equal(np_ping_handler(p->s[0], PING_ID, on_reply, c), 0);
	for (int i = 0; i < n; i++) {
		int rc = np_ping_send(p->s[0], dst, PING_ID, (uint16_t)(first_seq + i), 56);
		assert_true(rc >= 0);
		sim(p, np_clock_now(p->clk) + NSEC_PER_MSEC);
	}
	sim(p, np_clock_now(p->clk) + 100 * NSEC_PER_MSEC);
}

static void test_ping_1000_clean(void **state)
{
	(void)state;
	struct pair p;
	pair_up(&p, 1);
	addresses(&p);
	char path[64];
	snprintf(path, sizeof(path), "/tmp/np_cable_ping_%d.pcap", (int)getpid());
	int err = 1;
	struct np_capture *cap = np_capture_open(path, &err);
	assert_non_null(cap);
	assert_int_equal(err, 0);
	/* One capture shared by devices of two stacks. */
	assert_int_equal(np_dev_capture(p.d[0], cap), 0);
	assert_int_equal(np_dev_capture(p.d[1], cap), 0);

	struct ping_ctx c;
	memset(&c, 0, sizeof(c));
	ping_n(&p, &c, 0, 1000);
	assert_int_equal(c.replies, 1000);
	assert_int_equal(c.dups, 0);
	assert_int_equal(c.errors, 0);
	assert_int_equal(np_stack_mib(p.s[1], NP_MIB_IcmpInEchos), 1000);
	assert_int_equal(np_stack_mib(p.s[1], NP_MIB_IcmpOutEchoReps), 1000);
	assert_int_equal(np_stack_mib(p.s[0], NP_MIB_IcmpInEchoReps), 1000);

	struct np_dev_stats sa, sb;
	np_dev_stats(p.d[0], &sa);
	np_dev_stats(p.d[1], &sb);
	/* 1,000 echoes and one ARP request out of A; 1,000 replies and one ARP reply out of B. */
	assert_int_equal(sa.tx_packets, 1001);
	assert_int_equal(sb.rx_packets, 1001);
	assert_int_equal(sb.tx_packets, 1001);
	assert_int_equal(sa.rx_packets, 1001);
	assert_int_equal(sa.tx_dropped + sb.tx_dropped + sa.rx_dropped + sb.rx_dropped, 0);

	/* Stop capturing before the stacks go, then read the file back with libpcap. */
	np_dev_capture(p.d[0], NULL);
	np_dev_capture(p.d[1], NULL);
	np_capture_close(cap);
	struct pcap_counts pc;
	pcap_count(path, &pc);
	/* Every frame is recorded twice: leaving A (or B) and arriving at the other. */
	assert_int_equal(pc.frames, 2 * 2002);
	/* ARP resolved exactly once each way: A asked once, B answered once and learned A from the request. */
	assert_int_equal(pc.arp_req, 2 * 1);
	assert_int_equal(pc.arp_rep, 2 * 1);
	assert_int_equal(pc.icmp_req, 2 * 1000);
	assert_int_equal(pc.icmp_rep, 2 * 1000);
	assert_int_equal(pc.other, 0);
	/* Timestamps are the shared virtual clock's. */
	assert_true(pc.ts_ordered);
	assert_true(pc.first_ns >= T0 && pc.first_ns < T0 + NSEC_PER_SEC);
	unlink(path);
	pair_down(&p);
}

static void test_ping_1000_faults(void **state)
{
	(void)state;
	struct pair p;
	pair_up(&p, 1);
	addresses(&p);
	struct ping_ctx c;
	memset(&c, 0, sizeof(c));
	/* A clean first ping resolves ARP, so the faults act on the echoes only. */
	ping_n(&p, &c, 0, 1);
	assert_int_equal(c.replies, 1);

	const char *pos = NULL;
	assert_int_equal(np_dev_set_faults(p.d[0], NP_RXTX, "loss=20%,reorder=10%,delay=1ms,seed=42", &pos), 0);
	uint64_t echos0 = np_stack_mib(p.s[1], NP_MIB_IcmpInEchos);
	memset(&c, 0, sizeof(c));
	ping_n(&p, &c, 1, 1000);
	sim(&p, np_clock_now(p.clk) + NSEC_PER_SEC);

	struct np_fault_stats tx, rx;
	faults_get_stats(ND(p.d[0])->faults_tx, &tx);
	faults_get_stats(ND(p.d[0])->faults_rx, &rx);
	uint64_t echos = np_stack_mib(p.s[1], NP_MIB_IcmpInEchos) - echos0;
	print_message("faults: %d/1000 replies; tx lost %llu reordered %llu; rx lost %llu reordered %llu\n",
		      c.replies, (unsigned long long)tx.lost, (unsigned long long)tx.reordered,
		      (unsigned long long)rx.lost, (unsigned long long)rx.reordered);
	/* 0.8 * 0.8 * 1000 = 640, standard deviation 15: allow five of them. */
	assert_in_range(c.replies, 565, 715);
	assert_int_equal(c.dups, 0);
	assert_int_equal(c.errors, 0);
	/* Each side's losses are its own: B saw what A's tx let through, A got what its rx let through. */
	assert_int_equal(echos, tx.seen - tx.lost);
	assert_int_equal((uint64_t)c.replies, rx.seen - rx.lost);
	assert_in_range(tx.lost, 150, 250);
	assert_in_range(rx.lost, 100, 200);
	assert_true(tx.reordered > 0 && rx.reordered > 0);
	/* The two directions do not repeat each other's decisions. */
	assert_true(tx.lost != rx.lost || tx.reordered != rx.reordered);

	/* Faults off: a clean ping comes straight back. */
	assert_int_equal(np_dev_set_faults(p.d[0], NP_RXTX, "off", NULL), 0);
	assert_null(ND(p.d[0])->faults_tx);
	memset(&c, 0, sizeof(c));
	ping_n(&p, &c, 2000, 1);
	assert_int_equal(c.replies, 1);
	assert_true(c.seen[2000 % sizeof(c.seen)] == 1);

	/* Faults left on with packets in flight are freed with the stack (ASan checks). */
	assert_int_equal(np_dev_set_faults(p.d[0], NP_RXTX, "delay=1s", NULL), 0);
	ping_n(&p, &c, 3000, 5);
	pair_down(&p);
}

/* Pings to 127.0.0.1 and to the stack's own address go through lo (loopback_xmit -> netif_rx). */
static void test_loopback_ping(void **state)
{
	(void)state;
	struct pair p;
	pair_up(&p, 1);
	addresses(&p);
	struct np_dev *lo = np_dev_get(p.s[0], "lo");
	assert_non_null(lo);
	struct net_device *lodev = ND(lo);
	assert_true(lodev->flags & NPF_LOOPBACK);
	assert_true(lodev->flags & NPF_NOARP);
	assert_int_equal(lodev->mtu, 65536);
	assert_int_equal(lodev->type, ARPHRD_LOOPBACK_);
	assert_int_equal(lodev->ifa_count, 1);
	assert_int_equal(lodev->ifa[0].ifa_local, 0x7f000001);
	assert_int_equal(lodev->ifa[0].ifa_prefixlen, 8);

	struct ping_ctx c;
	memset(&c, 0, sizeof(c));
	assert_int_equal(np_ping_handler(p.s[0], PING_ID, on_reply, &c), 0);
	/* 127.1.2.3 is ours through the local route 127.0.0.0/8, as on Linux. */
	const char *dsts[] = { "127.0.0.1", "10.0.0.1", "127.1.2.3" };
	for (int i = 0; i < 3; i++) {
		struct in_addr dst;
		inet_pton(AF_INET, dsts[i], &dst);
		for (int k = 0; k < 10; k++)
			assert_true(np_ping_send(p.s[0], dst, PING_ID, (uint16_t)(i * 10 + k), 1000) >= 0);
	}
	sim(&p, np_clock_now(p.clk) + 10 * NSEC_PER_MSEC);
	assert_int_equal(c.replies, 30);
	assert_int_equal(c.dups, 0);
	/* Nothing went out on the cable, and lo carried each request and reply once. */
	assert_int_equal(ND(p.d[0])->stats.tx_packets, 0);
	assert_int_equal(lodev->stats.tx_packets, 60);
	assert_int_equal(lodev->stats.rx_packets, 60);
	assert_int_equal(lodev->stats.rx_bytes, 60 * (ETH_HLEN + 20 + 8 + 1000));
	assert_int_equal(np_stack_mib(p.s[0], NP_MIB_IcmpInEchos), 30);
	assert_int_equal(np_stack_mib(p.s[0], NP_MIB_IpOutNoRoutes), 0);
	pair_down(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cable_ring_and_mtu),
		cmocka_unit_test(test_cable_carrier_loss),
		cmocka_unit_test(test_cable_errors_and_same_stack),
		cmocka_unit_test(test_cable_two_threads),
		cmocka_unit_test(test_ping_1000_clean),
		cmocka_unit_test(test_ping_1000_faults),
		cmocka_unit_test(test_loopback_ping),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
