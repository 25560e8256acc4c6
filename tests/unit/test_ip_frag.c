/*
 * IPv4 fragmentation and reassembly (net/ipv4/ip_fragment.c): RFC 791 2.3,
 * 3.2, RFC 815, RFC 5722, RFC 1191.
 * Reassembly: fragments enter as a driver hands them up (netif_receive_skb on
 * a capturing Ethernet device); a test protocol (253) records what
 * ip_local_deliver hands up after reassembly. Fragmentation: what the stack
 * sends through the capturing device at several MTUs, and ip_fragment called
 * directly for the options rules.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "core/netdevice.h"
#include "core/skbuff.h"
#include "core/stack.h"
#include "net/ipv4/ip.h"
#include "net/ipv4/neighbour.h"
#include "net/ipv4/protocol.h"
#include "net/ipv4/route.h"
#include "netpath/netpath.h"
#include "netpath/socket.h"
#include "trace/trace.h"
#include "wire/checksum.h"
#include "wire/eth.h"
#include "wire/icmp.h"
#include "wire/ipv4.h"

#define OUR_IP IP(10, 0, 0, 1)
#define PEER_IP IP(10, 0, 0, 2)
#define TEST_PROTO 253
#define MAX_CAP 256
#include "capdev.h"

static const uint8_t peer_mac[6] = { 0x02, 0, 0, 0, 0, 0x02 };

/* What the test protocol received (the handler has no other way to reach the test). */
static struct {
	int n;
	uint32_t len;
	uint8_t data[70000];
} got;

static int test_proto_rcv(struct sk_buff *skb)
{
	got.n++;
	got.len = skb->len;
	memcpy(got.data, skb->data, skb->len);
	consume_skb(skb);
	return 0;
}
static const struct net_protocol test_proto = { .handler = test_proto_rcv };

struct env {
	struct np_clock *clk;
	struct np_stack *s;
	struct net_device *dev;
	struct cap *cap;
	uint64_t now;
};

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	e->now = NSEC_PER_SEC;
	e->clk = np_clock_virtual(e->now);
	struct np_stack_config cfg = { .name = "frag", .clock = e->clk, .seed = 11 };
	e->s = np_stack_create(&cfg);
	assert_non_null(e->s);
	e->dev = capdev_add(e->s, "eth0");
	assert_non_null(e->dev);
	e->cap = e->dev->priv;
	assert_int_equal(inet_addr_add(e->dev, OUR_IP, 24), 0);
	assert_int_equal(neigh_add_permanent(e->s, e->dev, PEER_IP, peer_mac), 0);
	assert_int_equal(inet_add_protocol(e->s, &test_proto, TEST_PROTO), 0);
	memset(&got, 0, sizeof(got));
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;
	np_stack_destroy(e->s);
	np_clock_destroy(e->clk);
	free(e);
	return 0;
}

static uint64_t mib(struct env *e, enum np_mib_field f) { return np_stack_mib(e->s, f); }
static uint64_t drops(struct env *e, enum np_drop_reason r) { return np_stack_drops(e->s, r); }

static void pump(struct env *e)
{
	for (int i = 0; i < 1000 && np_stack_poll(e->s) > 0; i++)
		;
}

static void advance(struct env *e, uint64_t ns)
{
	e->now += ns;
	assert_int_equal(np_clock_set(e->clk, e->now), 0);
	pump(e);
}

static void inject_frame(struct env *e, const uint8_t *f, size_t len)
{
	struct sk_buff *skb = netdev_alloc_skb_copy(e->dev, f, (uint32_t)len);
	assert_non_null(skb);
	trace_begin(skb, 0);   /* as a driver's receive does; nothing unless the test turned tracing on */
	netif_receive_skb(skb);
	pump(e);
}

/* Sends one fragment from the peer: data[off, off+len) of a datagram with id and protocol. */
static void frag_in(struct env *e, uint16_t id, uint8_t proto, uint32_t off, int mf, const uint8_t *data,
		    uint32_t len)
{
	static uint8_t f[ETH_HLEN + 65536];
	struct eth_repr eth = { .ethertype = ETH_P_IP };
	memcpy(eth.dst, e->dev->dev_addr, 6);
	memcpy(eth.src, peer_mac, 6);
	eth_emit(&eth, f, ETH_HLEN);
	struct ipv4_repr ip = {
		.tot_len = (uint16_t)(IPV4_HLEN_MIN + len),
		.id = id,
		.frag_off = (uint16_t)((off >> 3) | (mf ? IP_MF : 0)),
		.ttl = 64,
		.protocol = proto,
		.saddr = PEER_IP,
		.daddr = OUR_IP,
	};
	assert_int_equal(ipv4_emit(&ip, f + ETH_HLEN, 60), IPV4_HLEN_MIN);
	memcpy(f + ETH_HLEN + IPV4_HLEN_MIN, data + off, len);
	inject_frame(e, f, ETH_HLEN + IPV4_HLEN_MIN + len);
}

static void fill(uint8_t *b, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		b[i] = (uint8_t)(seed >> 16);
	}
}

/* Lexicographic next permutation; 0 when p was the last one. */
static int next_perm(int *p, int n)
{
	int i = n - 2;
	while (i >= 0 && p[i] >= p[i + 1])
		i--;
	if (i < 0)
		return 0;
	int j = n - 1;
	while (p[j] <= p[i])
		j--;
	int t = p[i]; p[i] = p[j]; p[j] = t;
	for (int a = i + 1, b = n - 1; a < b; a++, b--) {
		t = p[a]; p[a] = p[b]; p[b] = t;
	}
	return 1;
}

/* Every order of n fragments (each 16 bytes, the last 11) reassembles to the right bytes. */
static void permutations(struct env *e, int n, int expect_count)
{
	uint8_t dg[256];
	uint32_t total = (uint32_t)(16 * (n - 1) + 11);
	int p[8], count = 0;
	for (int i = 0; i < n; i++)
		p[i] = i;
	do {
		fill(dg, total, (uint32_t)count);
		int before = got.n;
		for (int k = 0; k < n; k++) {
			int i = p[k];
			uint32_t off = (uint32_t)i * 16, len = i == n - 1 ? 11 : 16;
			assert_int_equal(got.n, before);
			frag_in(e, (uint16_t)(1000 + count), TEST_PROTO, off, i != n - 1, dg, len);
		}
		assert_int_equal(got.n, before + 1);
		assert_int_equal(got.len, total);
		assert_memory_equal(got.data, dg, total);
		assert_int_equal(ipfrag_queues(e->s), 0);
		count++;
	} while (next_perm(p, n));
	assert_int_equal(count, expect_count);
	assert_int_equal(mib(e, NP_MIB_IpReasmOKs), (uint64_t)expect_count);
	assert_int_equal(mib(e, NP_MIB_IpReasmReqds), (uint64_t)(expect_count * n));
	assert_int_equal(mib(e, NP_MIB_IpReasmFails), 0);
	assert_int_equal(ipfrag_mem(e->s), 0);
}

static void test_permutations_4(void **state) { permutations(*state, 4, 24); }
static void test_permutations_6(void **state) { permutations(*state, 6, 720); }

/* A fragmented echo request is answered: LOCAL_IN and icmp_rcv see the whole datagram. */
static void test_echo_reassembled(void **state)
{
	struct env *e = *state;
	uint8_t dg[1008];
	uint8_t payload[1000];
	fill(payload, sizeof(payload), 5);
	struct icmp_repr ic = { .type = ICMP_ECHO, .rest = 0x77770001, .payload = payload, .payload_len = 1000 };
	icmp_emit(&ic, dg, sizeof(dg));
	cap_clear(e->cap);
	frag_in(e, 9, IPPROTO_ICMP_, 504, 0, dg, 504);
	frag_in(e, 9, IPPROTO_ICMP_, 0, 1, dg, 504);
	assert_int_equal(e->cap->n, 1);
	struct ipv4_repr ip;
	struct icmp_repr rep;
	const uint8_t *f = e->cap->frame[0];
	assert_int_equal(ipv4_parse(f + ETH_HLEN, e->cap->len[0] - ETH_HLEN, &ip), 0);
	assert_int_equal(icmp_parse(f + ETH_HLEN + ip.ihl, ip.tot_len - ip.ihl, &rep), 0);
	assert_int_equal(rep.type, ICMP_ECHOREPLY);
	assert_int_equal(rep.payload_len, 1000);
	assert_memory_equal(rep.payload, payload, 1000);
	cap_clear(e->cap);
}

/* Teardrop-style overlap: RFC 5722, the whole datagram is discarded. */
static void test_overlap(void **state)
{
	struct env *e = *state;
	uint8_t dg[64];
	fill(dg, sizeof(dg), 1);
	frag_in(e, 1, TEST_PROTO, 0, 1, dg, 32);
	frag_in(e, 1, TEST_PROTO, 24, 1, dg, 24);     /* [24,48) overlaps [0,32) */
	assert_int_equal(mib(e, NP_MIB_IpExtReasmOverlaps), 1);
	assert_int_equal(mib(e, NP_MIB_IpReasmFails), 1);
	assert_int_equal(drops(e, NP_DROP_IP_FRAG_OVERLAP), 2);
	assert_int_equal(ipfrag_queues(e->s), 0);
	/* The rest arrives: no datagram is assembled from what was left. */
	frag_in(e, 1, TEST_PROTO, 32, 1, dg, 16);
	frag_in(e, 1, TEST_PROTO, 48, 0, dg, 16);
	assert_int_equal(got.n, 0);
	/* An overlap arriving before queued data (inserted in the middle) is caught too. */
	frag_in(e, 2, TEST_PROTO, 16, 1, dg, 16);
	frag_in(e, 2, TEST_PROTO, 48, 0, dg, 16);
	frag_in(e, 2, TEST_PROTO, 8, 1, dg, 16);      /* [8,24) overlaps [16,32) */
	assert_int_equal(mib(e, NP_MIB_IpExtReasmOverlaps), 2);
	frag_in(e, 2, TEST_PROTO, 0, 1, dg, 16);
	frag_in(e, 2, TEST_PROTO, 32, 1, dg, 16);
	assert_int_equal(got.n, 0);
}

/* Exact (and contained) duplicates drop only themselves. */
static void test_duplicates(void **state)
{
	struct env *e = *state;
	uint8_t dg[48];
	fill(dg, sizeof(dg), 2);
	frag_in(e, 3, TEST_PROTO, 0, 1, dg, 16);
	frag_in(e, 3, TEST_PROTO, 0, 1, dg, 16);
	frag_in(e, 3, TEST_PROTO, 16, 1, dg, 16);
	frag_in(e, 3, TEST_PROTO, 8, 1, dg, 16);      /* [8,24): every byte already held */
	assert_int_equal(drops(e, NP_DROP_DUP_FRAG), 2);
	assert_int_equal(mib(e, NP_MIB_IpExtReasmOverlaps), 0);
	assert_int_equal(got.n, 0);
	frag_in(e, 3, TEST_PROTO, 32, 0, dg, 16);
	assert_int_equal(got.n, 1);
	assert_int_equal(got.len, 48);
	assert_memory_equal(got.data, dg, 48);
	assert_int_equal(mib(e, NP_MIB_IpReasmFails), 0);
}

/* Ping of death: data past 65,535 bytes discards the datagram. */
static void test_ping_of_death(void **state)
{
	struct env *e = *state;
	static uint8_t dg[65536 + 64];
	fill(dg, sizeof(dg), 3);
	frag_in(e, 4, TEST_PROTO, 0, 1, dg, 1480);
	frag_in(e, 4, TEST_PROTO, 65528 - 8, 0, dg, 32);   /* ends at 65,552 + 20 of header */
	assert_int_equal(drops(e, NP_DROP_PKT_TOO_BIG), 2);
	assert_int_equal(mib(e, NP_MIB_IpReasmFails), 1);
	assert_int_equal(ipfrag_queues(e->s), 0);
	assert_int_equal(got.n, 0);
	/* Exactly 65,535 bytes is fine: 65,515 of data in 44 fragments of 1,480 and one of 395. */
	uint32_t total = 65535 - IPV4_HLEN_MIN;
	for (uint32_t off = 0; off < total; off += 1480)
		frag_in(e, 5, TEST_PROTO, off, off + 1480 < total, dg, off + 1480 < total ? 1480 : total - off);
	assert_int_equal(got.n, 1);
	assert_int_equal(got.len, total);
	assert_memory_equal(got.data, dg, total);
}

/* Non-last fragments not a multiple of 8 are trimmed (Linux); zero-length fragments kill the queue. */
static void test_lengths(void **state)
{
	struct env *e = *state;
	uint8_t dg[64], bad[64];
	fill(dg, sizeof(dg), 4);
	memcpy(bad, dg, sizeof(bad));
	memset(bad + 8, 0xEE, 5);
	frag_in(e, 6, TEST_PROTO, 0, 1, bad, 13);     /* 13 bytes: trimmed to 8 */
	frag_in(e, 6, TEST_PROTO, 8, 0, dg, 24);
	assert_int_equal(got.n, 1);
	assert_int_equal(got.len, 32);
	assert_memory_equal(got.data, dg, 32);

	frag_in(e, 7, TEST_PROTO, 0, 1, dg, 16);
	frag_in(e, 7, TEST_PROTO, 16, 1, dg, 0);      /* zero-length */
	assert_int_equal(drops(e, NP_DROP_IP_FRAG_INVALID), 2);
	assert_int_equal(mib(e, NP_MIB_IpReasmFails), 1);
	assert_int_equal(ipfrag_queues(e->s), 0);
	/* A fragment of fewer than 8 bytes with MF set has nothing left after the trim. */
	frag_in(e, 8, TEST_PROTO, 0, 1, dg, 5);
	assert_int_equal(drops(e, NP_DROP_IP_FRAG_INVALID), 3);
	assert_int_equal(got.n, 1);
}

/* A second last fragment with another end, or data past the end, is corruption. */
static void test_conflicting_last(void **state)
{
	struct env *e = *state;
	uint8_t dg[64];
	fill(dg, sizeof(dg), 6);
	frag_in(e, 9, TEST_PROTO, 32, 0, dg, 8);      /* ends at 40 */
	frag_in(e, 9, TEST_PROTO, 40, 0, dg, 8);      /* another last, ends at 48 */
	assert_int_equal(drops(e, NP_DROP_IP_FRAG_INVALID), 2);
	assert_int_equal(mib(e, NP_MIB_IpReasmFails), 1);
	frag_in(e, 10, TEST_PROTO, 32, 0, dg, 8);
	frag_in(e, 10, TEST_PROTO, 32, 1, dg, 16);    /* MF data beyond the known end */
	assert_int_equal(drops(e, NP_DROP_IP_FRAG_INVALID), 4);
	frag_in(e, 11, TEST_PROTO, 32, 1, dg, 16);
	frag_in(e, 11, TEST_PROTO, 16, 0, dg, 8);     /* last ends before data we hold */
	assert_int_equal(drops(e, NP_DROP_IP_FRAG_INVALID), 6);
	assert_int_equal(mib(e, NP_MIB_IpReasmFails), 3);
	/* The same last fragment twice is only a duplicate. */
	frag_in(e, 12, TEST_PROTO, 16, 0, dg, 8);
	frag_in(e, 12, TEST_PROTO, 16, 0, dg, 8);
	assert_int_equal(drops(e, NP_DROP_DUP_FRAG), 1);
	frag_in(e, 12, TEST_PROTO, 0, 1, dg, 16);
	assert_int_equal(got.n, 1);
	assert_int_equal(got.len, 24);
}

/* A flood of tiny first fragments: the accounted memory never passes ipfrag_high_thresh. */
static void flood(struct env *e, int count)
{
	uint8_t dg[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	long high, low;
	assert_int_equal(np_sysctl_get(e->s, "net.ipv4.ipfrag_high_thresh", &high), 0);
	assert_int_equal(np_sysctl_get(e->s, "net.ipv4.ipfrag_low_thresh", &low), 0);
	size_t peak = 0;
	for (int i = 0; i < count; i++) {
		frag_in(e, (uint16_t)i, (uint8_t)(TEST_PROTO - (i >> 16)), 0, 1, dg, 8);
		assert_true(ipfrag_mem(e->s) <= (size_t)high);
		if (ipfrag_mem(e->s) > peak)
			peak = ipfrag_mem(e->s);
	}
	/* It filled up to the budget and evicted down to low_thresh on the way. */
	assert_true(peak > (size_t)low);
	assert_true(mib(e, NP_MIB_IpReasmFails) > 0);
	assert_int_equal(drops(e, NP_DROP_IP_FRAG_MEM_LIMIT), mib(e, NP_MIB_IpReasmFails));
	assert_int_equal(ipfrag_queues(e->s) + mib(e, NP_MIB_IpReasmFails), (uint64_t)count);
	/* Whole datagrams still get through. */
	uint8_t ok[24];
	fill(ok, sizeof(ok), 9);
	frag_in(e, 60000, TEST_PROTO, 0, 1, ok, 16);
	frag_in(e, 60000, TEST_PROTO, 16, 0, ok, 8);
	assert_int_equal(got.n, 1);
	assert_memory_equal(got.data, ok, 24);
}

static void test_memory_default(void **state)
{
	struct env *e = *state;
	long high;
	assert_int_equal(np_sysctl_get(e->s, "net.ipv4.ipfrag_high_thresh", &high), 0);
	assert_int_equal(high, 4 * 1024 * 1024);
	flood(e, 4000);
}

static void test_memory_small(void **state)
{
	struct env *e = *state;
	assert_int_equal(np_sysctl_set(e->s, "net.ipv4.ipfrag_high_thresh", 100000), 0);
	assert_int_equal(np_sysctl_set(e->s, "net.ipv4.ipfrag_low_thresh", 60000), 0);
	flood(e, 1000);
}

/* Timeout: time exceeded code 1 only when the first fragment arrived (RFC 792, RFC 1122 3.3.2). */
static void test_timeout(void **state)
{
	struct env *e = *state;
	uint8_t dg[64];
	fill(dg, sizeof(dg), 7);
	cap_clear(e->cap);
	frag_in(e, 20, TEST_PROTO, 0, 1, dg, 16);     /* first fragment: ICMP when it expires */
	frag_in(e, 21, TEST_PROTO, 16, 0, dg, 16);    /* no first fragment: silence */
	advance(e, 29 * NSEC_PER_SEC);
	assert_int_equal(ipfrag_queues(e->s), 2);
	assert_int_equal(e->cap->n, 0);
	advance(e, 2 * NSEC_PER_SEC);
	assert_int_equal(ipfrag_queues(e->s), 0);
	assert_int_equal(ipfrag_mem(e->s), 0);
	assert_int_equal(mib(e, NP_MIB_IpReasmTimeout), 2);
	assert_int_equal(mib(e, NP_MIB_IpReasmFails), 2);
	assert_int_equal(drops(e, NP_DROP_FRAG_REASM_TIMEOUT), 2);
	assert_int_equal(mib(e, NP_MIB_IcmpOutTimeExcds), 1);
	assert_int_equal(e->cap->n, 1);
	struct ipv4_repr ip, q;
	struct icmp_repr ic;
	const uint8_t *f = e->cap->frame[0];
	assert_int_equal(ipv4_parse(f + ETH_HLEN, e->cap->len[0] - ETH_HLEN, &ip), 0);
	assert_int_equal(ip.daddr, PEER_IP);
	assert_int_equal(icmp_parse(f + ETH_HLEN + ip.ihl, ip.tot_len - ip.ihl, &ic), 0);
	assert_int_equal(ic.type, ICMP_TIME_EXCEEDED);
	assert_int_equal(ic.code, ICMP_EXC_FRAGTIME);
	/* It quotes the first fragment's header. */
	assert_int_equal(ipv4_parse(ic.payload, ic.payload_len, &q), 0);
	assert_int_equal(q.id, 20);
	assert_int_equal(q.frag_off, IP_MF);
	cap_clear(e->cap);
	/* net.ipv4.ipfrag_time is honoured. */
	assert_int_equal(np_sysctl_set(e->s, "net.ipv4.ipfrag_time", 5), 0);
	frag_in(e, 22, TEST_PROTO, 0, 1, dg, 16);
	advance(e, 6 * NSEC_PER_SEC);
	assert_int_equal(mib(e, NP_MIB_IpReasmTimeout), 3);
	assert_int_equal(ipfrag_queues(e->s), 0);
}

/* ---- fragmentation ---- */

struct frags {
	int n;
	uint16_t id;
	uint32_t total;
	uint8_t data[70000];
};

/* Checks every captured frame is a correct fragment of one datagram and reassembles it into fr. */
static void check_fragments(struct env *e, uint32_t mtu, struct frags *fr, int df_expected)
{
	uint32_t next = 0;
	fr->n = e->cap->n;
	assert_true(fr->n >= 1);
	for (int i = 0; i < e->cap->n; i++) {
		const uint8_t *f = e->cap->frame[i] + ETH_HLEN;
		struct ipv4_repr ip;
		assert_int_equal(ipv4_parse(f, e->cap->len[i] - ETH_HLEN, &ip), 0);
		assert_true(ipv4_csum_ok(f, ip.ihl));
		assert_true(ip.tot_len <= mtu);
		if (i == 0)
			fr->id = ip.id;
		assert_int_equal(ip.id, fr->id);
		assert_int_equal((ip.frag_off & IP_DF) != 0, df_expected);
		uint32_t off = (uint32_t)(ip.frag_off & IP_OFFSET) << 3;
		uint32_t len = ip.tot_len - ip.ihl;
		assert_int_equal(off, next);
		int last = i == e->cap->n - 1;
		assert_int_equal((ip.frag_off & IP_MF) != 0, !last);
		if (!last) {
			assert_int_equal(len % 8, 0);
			/* As full as the MTU allows. */
			assert_true((uint32_t)ip.tot_len + 8 > mtu);
		}
		memcpy(fr->data + off, f + ip.ihl, len);
		next = off + len;
	}
	fr->total = next;
}

/* An echo request of plen bytes to the peer at device MTU mtu: fragments, then the reply path. */
static void fragment_at(struct env *e, uint32_t mtu, size_t plen)
{
	static struct frags fr;
	e->dev->mtu = mtu;
	cap_clear(e->cap);
	uint64_t oks = mib(e, NP_MIB_IpFragOKs), creates = mib(e, NP_MIB_IpFragCreates);
	struct in_addr dst = { .s_addr = htonl(PEER_IP) };
	assert_int_equal(np_ping_send(e->s, dst, 0x1234, (uint16_t)mtu, plen), 0);
	pump(e);
	check_fragments(e, mtu, &fr, 0);
	int expect_n = (int)((ICMP_HLEN + plen + ((mtu - 20) & ~7u) - 1) / ((mtu - 20) & ~7u));
	assert_int_equal(fr.n, expect_n);
	assert_int_equal(mib(e, NP_MIB_IpFragOKs), oks + (fr.n > 1));
	assert_int_equal(mib(e, NP_MIB_IpFragCreates), creates + (fr.n > 1 ? (uint64_t)fr.n : 0));
	assert_int_equal(fr.total, ICMP_HLEN + plen);
	struct icmp_repr ic;
	assert_int_equal(icmp_parse(fr.data, fr.total, &ic), 0);   /* the checksum over the whole datagram */
	assert_int_equal(ic.type, ICMP_ECHO);
	assert_int_equal(ic.payload_len, plen);
	for (size_t i = 8; i < plen; i++)
		assert_int_equal(ic.payload[i], (uint8_t)i);

	/* Reflected back as if the peer sent it: reassembled here, answered, the answer fragmented. */
	int n = e->cap->n;
	uint8_t **frames = calloc((size_t)n, sizeof(*frames));
	uint32_t *lens = calloc((size_t)n, sizeof(*lens));
	for (int i = 0; i < n; i++) {
		frames[i] = e->cap->frame[i];
		lens[i] = e->cap->len[i];
		e->cap->frame[i] = NULL;
	}
	e->cap->n = 0;
	uint64_t reasm = mib(e, NP_MIB_IpReasmOKs);
	for (int k = n - 1; k >= 0; k--) {      /* in reverse, for good measure */
		uint8_t *f = frames[k];
		memcpy(f, e->dev->dev_addr, 6);
		memcpy(f + 6, peer_mac, 6);
		be32_put(f + ETH_HLEN + 12, PEER_IP);
		be32_put(f + ETH_HLEN + 16, OUR_IP);
		be16_put(f + ETH_HLEN + 10, 0);
		be16_put(f + ETH_HLEN + 10, ip_compute_csum(f + ETH_HLEN, (size_t)(f[ETH_HLEN] & 0x0f) * 4));
		inject_frame(e, f, lens[k]);
		free(f);
	}
	free(frames);
	free(lens);
	assert_int_equal(mib(e, NP_MIB_IpReasmOKs), reasm + (n > 1));
	check_fragments(e, mtu, &fr, 0);
	assert_int_equal(fr.n, n);
	assert_int_equal(icmp_parse(fr.data, fr.total, &ic), 0);
	assert_int_equal(ic.type, ICMP_ECHOREPLY);
	assert_int_equal(ic.payload_len, plen);
	for (size_t i = 8; i < plen; i++)
		assert_int_equal(ic.payload[i], (uint8_t)i);
	cap_clear(e->cap);
}

static void test_fragment_mtus(void **state)
{
	struct env *e = *state;
	static const uint32_t mtus[] = { 576, 1280, 1500, 9000 };
	for (size_t i = 0; i < sizeof(mtus) / sizeof(mtus[0]); i++) {
		fragment_at(e, mtus[i], 20000);
		fragment_at(e, mtus[i], 8000);
	}
	/* The smallest MTU every host must take (RFC 791): 68 bytes, 48 of data per fragment. */
	fragment_at(e, 68, 1000);
	assert_int_equal(mib(e, NP_MIB_IpFragFails), 0);
	assert_int_equal(mib(e, NP_MIB_IpReasmFails), 0);
}

/* DF: UDP follows Linux's IP_MTU_DISCOVER rules; a raw DF datagram too big fails with EMSGSIZE. */
static void test_fragment_df(void **state)
{
	struct env *e = *state;
	static uint8_t big[4000];
	static struct frags fr;
	memset(big, 0x5a, sizeof(big));
	for (size_t m = 0; m < 2; m++) {
		uint32_t mtu = m ? 1500 : 576;
		e->dev->mtu = mtu;
		int fd = np_socket(e->s, AF_INET, SOCK_DGRAM, 0);
		assert_true(fd >= 0);
		struct sockaddr_in peer = { .sin_family = AF_INET, .sin_port = htons(9999) };
		peer.sin_addr.s_addr = htonl(PEER_IP);
		/* Default IP_PMTUDISC_WANT: DF when it fits, fragmented without DF when not. */
		cap_clear(e->cap);
		assert_int_equal(np_sendto(fd, big, 100, 0, (struct sockaddr *)&peer, sizeof(peer)), 100);
		pump(e);
		check_fragments(e, mtu, &fr, 1);
		assert_int_equal(fr.n, 1);
		cap_clear(e->cap);
		assert_int_equal(np_sendto(fd, big, 3000, 0, (struct sockaddr *)&peer, sizeof(peer)), 3000);
		pump(e);
		check_fragments(e, mtu, &fr, 0);
		assert_true(fr.n > 1);
		assert_int_equal(fr.total, 3008);
		assert_memory_equal(fr.data + 8, big, 3000);
		/* IP_PMTUDISC_DO: EMSGSIZE, nothing sent; DONT: fragmented, and DF never set. */
		int v = IP_PMTUDISC_DO;
		assert_int_equal(np_setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &v, sizeof(v)), 0);
		cap_clear(e->cap);
		assert_int_equal(np_sendto(fd, big, mtu - 27, 0, (struct sockaddr *)&peer, sizeof(peer)), -1);
		assert_int_equal(errno, EMSGSIZE);
		assert_int_equal(np_sendto(fd, big, mtu - 28, 0, (struct sockaddr *)&peer, sizeof(peer)), (ssize_t)mtu - 28);
		pump(e);
		check_fragments(e, mtu, &fr, 1);
		v = IP_PMTUDISC_DONT;
		assert_int_equal(np_setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &v, sizeof(v)), 0);
		cap_clear(e->cap);
		assert_int_equal(np_sendto(fd, big, 100, 0, (struct sockaddr *)&peer, sizeof(peer)), 100);
		pump(e);
		check_fragments(e, mtu, &fr, 0);
		cap_clear(e->cap);
		np_close(fd);
	}

	/* A datagram with DF that does not fit: IpFragFails, PKT_TOO_BIG, ICMP frag needed with the MTU. */
	e->dev->mtu = 1500;
	struct sk_buff *skb = alloc_skb(e->s, 2000);
	assert_non_null(skb);
	memset(skb_put(skb, 2000), 0, 2000);
	struct ip_out_params p = { .daddr = PEER_IP, .protocol = TEST_PROTO, .df = 1 };
	uint64_t fails = mib(e, NP_MIB_IpFragFails), tb = drops(e, NP_DROP_PKT_TOO_BIG);
	uint64_t unreach = mib(e, NP_MIB_IcmpOutDestUnreachs), inunreach = mib(e, NP_MIB_IcmpInDestUnreachs);
	cap_clear(e->cap);
	assert_int_equal(ip_build_and_send_pkt(e->s, skb, &p), -EMSGSIZE);
	pump(e);
	assert_int_equal(mib(e, NP_MIB_IpFragFails), fails + 1);
	assert_int_equal(drops(e, NP_DROP_PKT_TOO_BIG), tb + 1);
	assert_int_equal(mib(e, NP_MIB_IcmpOutDestUnreachs), unreach + 1);
	assert_int_equal(mib(e, NP_MIB_IcmpInDestUnreachs), inunreach + 1);   /* to ourselves, through lo */
	assert_int_equal(e->cap->n, 0);
}

/* ip_fragment directly: RFC 791 options rules. */
static struct cap opt_cap;
static int opt_output(struct np_stack *s, struct sk_buff *skb)
{
	if (opt_cap.n < MAX_CAP) {
		opt_cap.frame[opt_cap.n] = malloc(skb->len);
		memcpy(opt_cap.frame[opt_cap.n], skb->data, skb->len);
		opt_cap.len[opt_cap.n++] = skb->len;
	}
	consume_skb(skb);
	return 0;
}

static void test_fragment_options(void **state)
{
	struct env *e = *state;
	/* Record route (7, not copied) then loose source route (131, copied), padded to 16 bytes. */
	static const uint8_t opts[16] = { 7, 7, 4, 0, 0, 0, 0, 131, 7, 4, 10, 0, 0, 9, 0, 0 };
	uint8_t data[200];
	fill(data, sizeof(data), 8);
	struct sk_buff *skb = alloc_skb(e->s, 36 + 200);
	uint8_t *h = skb_put(skb, 36 + 200);
	struct ipv4_repr ip = { .tot_len = 236, .id = 77, .ttl = 9, .protocol = TEST_PROTO, .saddr = OUR_IP,
				.daddr = PEER_IP, .options = opts, .options_len = 16 };
	assert_int_equal(ipv4_emit(&ip, h, 36), 36);
	memcpy(h + 36, data, 200);
	skb_reset_network_header(skb);
	memset(&opt_cap, 0, sizeof(opt_cap));
	assert_int_equal(ip_fragment(e->s, skb, 100, opt_output), 0);
	/* First: 36-byte header, 64 data; then 28-byte headers (LSRR + one pad byte), 72 data. */
	assert_int_equal(opt_cap.n, 3);
	static const uint32_t want_ihl[] = { 36, 28, 28 }, want_len[] = { 64, 72, 64 };
	uint8_t back[200];
	for (int i = 0; i < 3; i++) {
		struct ipv4_repr fr;
		assert_int_equal(ipv4_parse(opt_cap.frame[i], opt_cap.len[i], &fr), 0);
		assert_true(ipv4_csum_ok(opt_cap.frame[i], fr.ihl));
		assert_int_equal(fr.ihl, want_ihl[i]);
		assert_int_equal(fr.tot_len - fr.ihl, want_len[i]);
		assert_int_equal(fr.id, 77);
		assert_int_equal(fr.ttl, 9);
		if (i == 0) {
			assert_memory_equal(fr.options, opts, 16);
		} else {
			static const uint8_t copied[8] = { 131, 7, 4, 10, 0, 0, 9, 0 };
			assert_memory_equal(fr.options, copied, 8);
			assert_int_equal(ipv4_options_check(fr.options, fr.options_len), 0);
		}
		uint32_t off = (uint32_t)(fr.frag_off & IP_OFFSET) << 3;
		memcpy(back + off, opt_cap.frame[i] + fr.ihl, fr.tot_len - fr.ihl);
	}
	assert_memory_equal(back, data, 200);
	cap_clear(&opt_cap);
	/* An MTU with no room for 8 data bytes fails. */
	skb = alloc_skb(e->s, 100);
	h = skb_put(skb, 100);
	ip.tot_len = 100;
	ip.options = NULL;
	ip.options_len = 0;
	assert_int_equal(ipv4_emit(&ip, h, 20), 20);
	uint64_t fails = mib(e, NP_MIB_IpFragFails);
	assert_int_equal(ip_fragment(e->s, skb, 27, opt_output), -EMSGSIZE);
	assert_int_equal(mib(e, NP_MIB_IpFragFails), fails + 1);
	assert_int_equal(opt_cap.n, 0);
}

/* Traces: each fragment is a path of its own starting at ip_fragment; the reassembled datagram at ip_frag_reasm. */
static struct {
	int paths, frag_paths, reasm_paths, defrag_ends, original_ends;
	char first_detail[48];
} tr;

static int path_has(const struct np_trace_path *p, const char *fn)
{
	for (int i = 0; i < p->nstages; i++)
		if (strcmp(p->stages[i].fn, fn) == 0)
			return 1;
	return 0;
}

static void trace_cb(void *arg, const struct np_trace_path *p)
{
	(void)arg;
	tr.paths++;
	if (p->nstages == 0)
		return;
	const struct np_trace_stage *first = &p->stages[0], *last = &p->stages[p->nstages - 1];
	if (strcmp(first->fn, "ip_fragment") == 0) {
		if (tr.frag_paths++ == 0)
			memcpy(tr.first_detail, first->detail, sizeof(tr.first_detail));
		assert_false(p->dropped);
		assert_true(path_has(p, "dev_queue_xmit") || path_has(p, "ip_finish_output2"));
	} else if (strcmp(first->fn, "ip_frag_reasm") == 0) {
		tr.reasm_paths++;
		assert_true(path_has(p, "ip_local_deliver_finish"));
		assert_true(path_has(p, "icmp_echo"));
	} else if (strcmp(last->fn, "ip_defrag") == 0) {
		tr.defrag_ends++;
		assert_false(p->dropped);
	} else if (strcmp(last->fn, "ip_fragment") == 0) {
		tr.original_ends++;
		assert_false(p->dropped);
	}
}

static void test_trace(void **state)
{
	struct env *e = *state;
	memset(&tr, 0, sizeof(tr));
	np_stack_trace_cb(e->s, trace_cb, NULL);
	e->dev->mtu = 576;
	struct in_addr dst = { .s_addr = htonl(PEER_IP) };
	assert_int_equal(np_ping_send(e->s, dst, 1, 1, 1000), 0);
	pump(e);
	assert_int_equal(e->cap->n, 2);
	assert_int_equal(tr.frag_paths, 2);
	assert_int_equal(tr.original_ends, 1);
	assert_string_equal(tr.first_detail, "frag 1/2 off 0 len 552");
	cap_clear(e->cap);

	uint8_t dg[508];
	uint8_t payload[500];
	fill(payload, sizeof(payload), 5);
	struct icmp_repr ic = { .type = ICMP_ECHO, .rest = 0x77770001, .payload = payload, .payload_len = 500 };
	icmp_emit(&ic, dg, sizeof(dg));
	frag_in(e, 9, IPPROTO_ICMP_, 256, 0, dg, 252);
	frag_in(e, 9, IPPROTO_ICMP_, 0, 1, dg, 256);
	assert_int_equal(tr.defrag_ends, 2);
	assert_int_equal(tr.reasm_paths, 1);
	assert_int_equal(e->cap->n, 1);
	np_stack_trace_cb(e->s, NULL, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_permutations_4, setup, teardown),
		cmocka_unit_test_setup_teardown(test_permutations_6, setup, teardown),
		cmocka_unit_test_setup_teardown(test_echo_reassembled, setup, teardown),
		cmocka_unit_test_setup_teardown(test_overlap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_duplicates, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ping_of_death, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lengths, setup, teardown),
		cmocka_unit_test_setup_teardown(test_conflicting_last, setup, teardown),
		cmocka_unit_test_setup_teardown(test_memory_default, setup, teardown),
		cmocka_unit_test_setup_teardown(test_memory_small, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fragment_mtus, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fragment_df, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fragment_options, setup, teardown),
		cmocka_unit_test_setup_teardown(test_trace, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
