/*
 * ip_rcv and friends against malformed frames (RFC 1122 3.2.1): each one is
 * dropped with the expected reason and SNMP counter, and afterwards a good
 * echo request still gets a correct reply.
 * Frames enter as a driver would hand them up: netif_receive_skb on a test
 * Ethernet device whose ndo_start_xmit captures what the stack sends.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/netdevice.h"
#include "core/skbuff.h"
#include "core/stack.h"
#include "net/ipv4/ip.h"
#include "net/ipv4/neighbour.h"
#include "net/ipv4/route.h"
#include "netpath/netpath.h"
#include "wire/checksum.h"
#include "wire/eth.h"
#include "wire/icmp.h"
#include "wire/ipv4.h"

#define OUR_IP IP(10, 0, 0, 1)
#define PEER_IP IP(10, 0, 0, 2)
#define MAX_CAP 128
#include "capdev.h"

static const uint8_t peer_mac[6] = { 0x02, 0, 0, 0, 0, 0x02 };

struct env {
	struct np_clock *clk;
	struct np_stack *s;
	struct net_device *dev;
	struct cap *cap;
	uint16_t seq;
};

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	e->clk = np_clock_virtual(NSEC_PER_SEC);
	struct np_stack_config cfg = { .name = "ipin", .clock = e->clk, .seed = 7 };
	e->s = np_stack_create(&cfg);
	assert_non_null(e->s);
	e->dev = capdev_add(e->s, "eth0");
	assert_non_null(e->dev);
	e->cap = e->dev->priv;
	assert_int_equal(inet_addr_add(e->dev, OUR_IP, 24), 0);
	assert_int_equal(neigh_add_permanent(e->s, e->dev, PEER_IP, peer_mac), 0);
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

/* ---- frame building ---- */

struct ipf {
	uint32_t src, dst;
	uint8_t proto;
	uint16_t frag_off;
	const uint8_t *opt;
	uint8_t optlen;
	const uint8_t *l4;
	size_t l4len;
};

/* Ethernet (to our MAC from the peer) + a valid IPv4 header + l4; returns the frame length. */
static size_t mk_frame(struct env *e, uint8_t *f, const struct ipf *p)
{
	struct eth_repr eth = { .ethertype = ETH_P_IP };
	memcpy(eth.dst, e->dev->dev_addr, 6);
	memcpy(eth.src, peer_mac, 6);
	eth_emit(&eth, f, ETH_HLEN);
	struct ipv4_repr ip = {
		.tot_len = (uint16_t)(IPV4_HLEN_MIN + p->optlen + p->l4len),
		.id = 0x1234,
		.frag_off = p->frag_off,
		.ttl = 64,
		.protocol = p->proto,
		.saddr = p->src,
		.daddr = p->dst,
		.options = p->opt,
		.options_len = p->optlen,
	};
	size_t hl = ipv4_emit(&ip, f + ETH_HLEN, 60);
	assert_int_equal(hl, IPV4_HLEN_MIN + p->optlen);
	memcpy(f + ETH_HLEN + hl, p->l4, p->l4len);
	return ETH_HLEN + hl + p->l4len;
}

/* An ICMP echo request with a recognisable payload; returns its length. */
static size_t mk_echo(uint8_t *buf, uint16_t id, uint16_t seq, size_t plen)
{
	uint8_t payload[256];
	for (size_t i = 0; i < plen; i++)
		payload[i] = (uint8_t)(0xA0 + i);
	struct icmp_repr ic = { .type = ICMP_ECHO, .rest = (uint32_t)id << 16 | seq, .payload = payload, .payload_len = plen };
	return icmp_emit(&ic, buf, ICMP_HLEN + plen);
}

/* Recomputes the IP header checksum of the frame after a test edited the header. */
static void fix_ip_csum(uint8_t *f)
{
	uint8_t *ip = f + ETH_HLEN;
	size_t ihl = (size_t)(ip[0] & 0x0f) * 4;
	be16_put(ip + 10, 0);
	be16_put(ip + 10, ip_compute_csum(ip, ihl));
}

static void inject(struct env *e, const uint8_t *f, size_t len)
{
	struct sk_buff *skb = netdev_alloc_skb_copy(e->dev, f, (uint32_t)len);
	assert_non_null(skb);
	netif_receive_skb(skb);
	for (int i = 0; i < 100 && np_stack_poll(e->s) > 0; i++)
		;
}

static uint64_t mib(struct env *e, enum np_mib_field f) { return np_stack_mib(e->s, f); }
static uint64_t drops(struct env *e, enum np_drop_reason r) { return np_stack_drops(e->s, r); }

/* Parses a captured frame as Ethernet + IPv4 (checksum verified) + ICMP (checksum verified). */
static void parse_icmp_frame(struct env *e, const uint8_t *f, size_t len, struct ipv4_repr *ip,
			     struct icmp_repr *ic)
{
	struct eth_repr eth;
	assert_int_equal(eth_parse(f, len, &eth), 0);
	assert_int_equal(eth.ethertype, ETH_P_IP);
	assert_memory_equal(eth.dst, peer_mac, 6);
	assert_memory_equal(eth.src, e->dev->dev_addr, 6);
	assert_int_equal(ipv4_parse(f + ETH_HLEN, len - ETH_HLEN, ip), 0);
	assert_true(ipv4_csum_ok(f + ETH_HLEN, ip->ihl));
	assert_int_equal(ip->protocol, IPPROTO_ICMP_);
	assert_int_equal(icmp_parse(f + ETH_HLEN + ip->ihl, ip->tot_len - ip->ihl, ic), 0);
}

/* A good echo request from the peer gets exactly one correct reply. */
static void assert_good_echo(struct env *e)
{
	uint8_t l4[128], f[256];
	uint16_t seq = ++e->seq;
	size_t l4len = mk_echo(l4, 0x4242, seq, 32);
	struct ipf p = { .src = PEER_IP, .dst = OUR_IP, .proto = IPPROTO_ICMP_, .l4 = l4, .l4len = l4len };
	size_t len = mk_frame(e, f, &p);

	cap_clear(e->cap);
	uint64_t reps = mib(e, NP_MIB_IcmpOutEchoReps);
	inject(e, f, len);
	assert_int_equal(e->cap->n, 1);
	assert_int_equal(mib(e, NP_MIB_IcmpOutEchoReps), reps + 1);

	struct ipv4_repr ip;
	struct icmp_repr ic;
	parse_icmp_frame(e, e->cap->frame[0], e->cap->len[0], &ip, &ic);
	assert_int_equal(ip.saddr, OUR_IP);
	assert_int_equal(ip.daddr, PEER_IP);
	assert_int_equal(ip.ttl, 64);
	assert_int_equal(ip.tot_len, IPV4_HLEN_MIN + l4len);
	assert_int_equal(ip.frag_off & IP_OFFSET, 0);
	assert_int_equal(ic.type, ICMP_ECHOREPLY);
	assert_int_equal(ic.code, 0);
	assert_int_equal(ic.rest, (uint32_t)0x4242 << 16 | seq);
	assert_int_equal(ic.payload_len, 32);
	assert_memory_equal(ic.payload, l4 + ICMP_HLEN, 32);
	cap_clear(e->cap);
}

/* Injects f and checks it was dropped for reason, with counter (if any) up by one and no reply. */
static void expect_drop(struct env *e, const uint8_t *f, size_t len, enum np_drop_reason reason, int counter)
{
	uint64_t before = drops(e, reason);
	uint64_t cbefore = counter >= 0 ? mib(e, (enum np_mib_field)counter) : 0;
	uint64_t recv = mib(e, NP_MIB_IpInReceives);
	uint64_t delivers = mib(e, NP_MIB_IpInDelivers);
	cap_clear(e->cap);
	inject(e, f, len);
	assert_int_equal(drops(e, reason), before + 1);
	if (counter >= 0)
		assert_int_equal(mib(e, (enum np_mib_field)counter), cbefore + 1);
	if (reason != NP_DROP_OTHERHOST)
		assert_int_equal(mib(e, NP_MIB_IpInReceives), recv + 1);
	assert_int_equal(mib(e, NP_MIB_IpInDelivers), delivers);
	assert_int_equal(e->cap->n, 0);
	assert_good_echo(e);
}

/* A good echo frame to mutate. */
static size_t good_frame(struct env *e, uint8_t *f)
{
	uint8_t l4[64];
	size_t l4len = mk_echo(l4, 7, 7, 16);
	struct ipf p = { .src = PEER_IP, .dst = OUR_IP, .proto = IPPROTO_ICMP_, .l4 = l4, .l4len = l4len };
	return mk_frame(e, f, &p);
}

/* ---- tests ---- */

static void test_good_echo(void **state)
{
	struct env *e = *state;
	assert_good_echo(e);
	assert_int_equal(mib(e, NP_MIB_IpInReceives), 1);
	assert_int_equal(mib(e, NP_MIB_IpInDelivers), 1);
	assert_int_equal(mib(e, NP_MIB_IpOutRequests), 1);
	assert_int_equal(mib(e, NP_MIB_IcmpInEchos), 1);
}

static void test_ihl_below_5(void **state)
{
	struct env *e = *state;
	uint8_t f[256];
	size_t len = good_frame(e, f);
	f[ETH_HLEN] = 0x44;
	fix_ip_csum(f);
	expect_drop(e, f, len, NP_DROP_IP_INHDR, NP_MIB_IpInHdrErrors);
}

static void test_ihl_beyond_frame(void **state)
{
	struct env *e = *state;
	uint8_t f[256];
	size_t len = good_frame(e, f);   /* 20 + 24 bytes of IP */
	f[ETH_HLEN] = 0x4F;              /* 60-byte header */
	expect_drop(e, f, len, NP_DROP_IP_INHDR, NP_MIB_IpInHdrErrors);
}

static void test_tot_len_beyond_frame(void **state)
{
	struct env *e = *state;
	uint8_t f[256];
	size_t len = good_frame(e, f);
	be16_put(f + ETH_HLEN + 2, 200);
	fix_ip_csum(f);
	expect_drop(e, f, len, NP_DROP_PKT_TOO_SMALL, NP_MIB_IpExtInTruncatedPkts);
	assert_int_equal(mib(e, NP_MIB_IpInHdrErrors), 0);
}

static void test_tot_len_below_ihl(void **state)
{
	struct env *e = *state;
	uint8_t f[256];
	size_t len = good_frame(e, f);
	be16_put(f + ETH_HLEN + 2, 16);
	fix_ip_csum(f);
	expect_drop(e, f, len, NP_DROP_IP_INHDR, NP_MIB_IpInHdrErrors);
}

static void test_version_6(void **state)
{
	struct env *e = *state;
	uint8_t f[256];
	size_t len = good_frame(e, f);
	f[ETH_HLEN] = 0x65;
	fix_ip_csum(f);
	expect_drop(e, f, len, NP_DROP_IP_INHDR, NP_MIB_IpInHdrErrors);
}

static void test_bad_checksum(void **state)
{
	struct env *e = *state;
	uint8_t f[256];
	size_t len = good_frame(e, f);
	f[ETH_HLEN + 10] ^= 0x01;
	expect_drop(e, f, len, NP_DROP_IP_CSUM, NP_MIB_IpExtInCsumErrors);
	assert_int_equal(mib(e, NP_MIB_IpInHdrErrors), 1);
}

static void test_truncated_header(void **state)
{
	struct env *e = *state;
	uint8_t f[256];
	good_frame(e, f);
	expect_drop(e, f, ETH_HLEN + 10, NP_DROP_IP_INHDR, NP_MIB_IpInHdrErrors);
}

static void test_martian_sources(void **state)
{
	struct env *e = *state;
	static const uint32_t martians[] = { IP(127, 0, 0, 1), IP(0, 0, 0, 0), IP(224, 0, 0, 1),
					     IP(255, 255, 255, 255), IP(240, 0, 0, 1) };
	for (size_t i = 0; i < sizeof(martians) / sizeof(martians[0]); i++) {
		uint8_t f[256];
		size_t len = good_frame(e, f);
		be32_put(f + ETH_HLEN + 12, martians[i]);
		fix_ip_csum(f);
		expect_drop(e, f, len, NP_DROP_IP_INVALID_SOURCE, NP_MIB_IpExtInMartians);
	}
	/* No error is ever sent back to a martian. */
	assert_int_equal(mib(e, NP_MIB_IcmpOutDestUnreachs), 0);
}

static void test_own_address_as_source(void **state)
{
	struct env *e = *state;
	uint8_t f[256];
	size_t len = good_frame(e, f);
	be32_put(f + ETH_HLEN + 12, OUR_IP);
	fix_ip_csum(f);
	expect_drop(e, f, len, NP_DROP_IP_LOCAL_SOURCE, NP_MIB_IpExtInMartians);
}

static void test_not_ours_no_forwarding(void **state)
{
	struct env *e = *state;
	uint8_t f[256];
	size_t len = good_frame(e, f);
	be32_put(f + ETH_HLEN + 16, IP(10, 0, 0, 99));
	fix_ip_csum(f);
	expect_drop(e, f, len, NP_DROP_IP_INADDRERRORS, NP_MIB_IpInAddrErrors);
	len = good_frame(e, f);
	be32_put(f + ETH_HLEN + 16, IP(192, 0, 2, 1));
	fix_ip_csum(f);
	expect_drop(e, f, len, NP_DROP_IP_INADDRERRORS, NP_MIB_IpInAddrErrors);
}

static void test_bad_options(void **state)
{
	struct env *e = *state;
	uint8_t l4[64], f[256];
	size_t l4len = mk_echo(l4, 1, 1, 8);
	/* Record route (7) with length 0: RFC 791 options have a length of at least 2. */
	static const uint8_t zero_len[4] = { 7, 0, 4, 0 };
	struct ipf p = { .src = PEER_IP, .dst = OUR_IP, .proto = IPPROTO_ICMP_, .opt = zero_len, .optlen = 4,
			 .l4 = l4, .l4len = l4len };
	size_t len = mk_frame(e, f, &p);
	expect_drop(e, f, len, NP_DROP_IP_INHDR, NP_MIB_IpInHdrErrors);

	/* Length 8 in a 4-byte option area: runs past the header. */
	static const uint8_t past[4] = { 7, 8, 4, 0 };
	p.opt = past;
	len = mk_frame(e, f, &p);
	expect_drop(e, f, len, NP_DROP_IP_INHDR, NP_MIB_IpInHdrErrors);

	/* A well-formed loose source route: refused (accept_source_route=0), not a header error. */
	static const uint8_t lsrr[8] = { 131, 7, 4, 10, 0, 0, 9, 0 };
	p.opt = lsrr;
	p.optlen = 8;
	len = mk_frame(e, f, &p);
	uint64_t hdr = mib(e, NP_MIB_IpInHdrErrors);
	expect_drop(e, f, len, NP_DROP_IP_INHDR, -1);
	assert_int_equal(mib(e, NP_MIB_IpInHdrErrors), hdr);

	/* Good options (NOPs and end of list) are accepted: the echo is answered. */
	static const uint8_t nops[4] = { 1, 1, 1, 0 };
	p.opt = nops;
	p.optlen = 4;
	len = mk_frame(e, f, &p);
	cap_clear(e->cap);
	inject(e, f, len);
	assert_int_equal(e->cap->n, 1);
	cap_clear(e->cap);
}

/* Fragments go to reassembly (tests/unit/test_ip_frag.c covers it): held, not delivered. */
static void test_fragments_queued(void **state)
{
	struct env *e = *state;
	uint8_t l4[64], f[256];
	size_t l4len = mk_echo(l4, 1, 1, 8);
	struct ipf p = { .src = PEER_IP, .dst = OUR_IP, .proto = IPPROTO_ICMP_, .frag_off = IP_MF, .l4 = l4,
			 .l4len = l4len };
	size_t len = mk_frame(e, f, &p);
	uint64_t reqds = mib(e, NP_MIB_IpReasmReqds);
	cap_clear(e->cap);
	inject(e, f, len);
	assert_int_equal(mib(e, NP_MIB_IpReasmReqds), reqds + 1);
	assert_int_equal(mib(e, NP_MIB_IpInDelivers), 0);
	assert_int_equal(e->cap->n, 0);
	/* DF alone is not a fragment. */
	p.frag_off = IP_DF;
	len = mk_frame(e, f, &p);
	cap_clear(e->cap);
	inject(e, f, len);
	assert_int_equal(e->cap->n, 1);
	cap_clear(e->cap);
}

static void test_unknown_protocol(void **state)
{
	struct env *e = *state;
	uint8_t l4[40], f[256];
	for (size_t i = 0; i < sizeof(l4); i++)
		l4[i] = (uint8_t)i;
	struct ipf p = { .src = PEER_IP, .dst = OUR_IP, .proto = 253, .l4 = l4, .l4len = sizeof(l4) };
	size_t len = mk_frame(e, f, &p);

	cap_clear(e->cap);
	inject(e, f, len);
	assert_int_equal(drops(e, NP_DROP_IP_NOPROTO), 1);
	assert_int_equal(mib(e, NP_MIB_IpInUnknownProtos), 1);
	assert_int_equal(mib(e, NP_MIB_IcmpOutDestUnreachs), 1);
	assert_int_equal(e->cap->n, 1);

	struct ipv4_repr ip;
	struct icmp_repr ic;
	parse_icmp_frame(e, e->cap->frame[0], e->cap->len[0], &ip, &ic);
	assert_int_equal(ip.saddr, OUR_IP);
	assert_int_equal(ip.daddr, PEER_IP);
	assert_int_equal(ic.type, ICMP_DEST_UNREACH);
	assert_int_equal(ic.code, ICMP_PROT_UNREACH);
	assert_int_equal(ic.rest, 0);
	/* RFC 1812 4.3.2.3: the whole offending datagram (it fits in 576 bytes) is quoted. */
	assert_int_equal(ic.payload_len, len - ETH_HLEN);
	assert_memory_equal(ic.payload, f + ETH_HLEN, len - ETH_HLEN);
	cap_clear(e->cap);
	assert_good_echo(e);
}

static void test_ethernet_padding_trimmed(void **state)
{
	struct env *e = *state;
	uint8_t l4[16], f[ETH_ZLEN];
	size_t l4len = mk_echo(l4, 0x99, 3, 0);   /* a bare 8-byte echo: 28 bytes of IP */
	struct ipf p = { .src = PEER_IP, .dst = OUR_IP, .proto = IPPROTO_ICMP_, .l4 = l4, .l4len = l4len };
	size_t len = mk_frame(e, f, &p);
	assert_int_equal(len, ETH_HLEN + 28);
	memset(f + len, 0xEE, ETH_ZLEN - len);   /* padding that must not reach ICMP */

	cap_clear(e->cap);
	inject(e, f, ETH_ZLEN);
	assert_int_equal(e->cap->n, 1);
	assert_int_equal(e->cap->len[0], ETH_HLEN + 28);
	struct ipv4_repr ip;
	struct icmp_repr ic;
	parse_icmp_frame(e, e->cap->frame[0], e->cap->len[0], &ip, &ic);
	assert_int_equal(ip.tot_len, 28);
	assert_int_equal(ic.type, ICMP_ECHOREPLY);
	assert_int_equal(ic.payload_len, 0);
	assert_int_equal(ic.rest, (uint32_t)0x99 << 16 | 3);
	cap_clear(e->cap);
	assert_int_equal(mib(e, NP_MIB_IpExtInOctets), ETH_ZLEN - ETH_HLEN);
}

static void test_otherhost_in_promisc(void **state)
{
	struct env *e = *state;
	uint8_t f[256];
	size_t len = good_frame(e, f);
	static const uint8_t other[6] = { 0x02, 0, 0, 0, 0, 0x77 };
	memcpy(f, other, 6);
	e->dev->flags |= NPF_PROMISC;
	expect_drop(e, f, len, NP_DROP_OTHERHOST, -1);
	assert_int_equal(mib(e, NP_MIB_IpInReceives), 1);   /* only the good echo */
	e->dev->flags &= ~(unsigned)NPF_PROMISC;
}

static void test_ip_ids_differ_per_destination(void **state)
{
	struct env *e = *state;
	/* Consecutive IDs to one destination advance; two destinations do not share a sequence. */
	uint16_t a1 = ip_select_ident(e->s, OUR_IP, PEER_IP, IPPROTO_ICMP_, 1);
	uint16_t a2 = ip_select_ident(e->s, OUR_IP, PEER_IP, IPPROTO_ICMP_, 1);
	uint16_t b1 = ip_select_ident(e->s, OUR_IP, IP(10, 0, 0, 3), IPPROTO_ICMP_, 1);
	assert_int_equal((uint16_t)(a2 - a1), 1);
	assert_int_not_equal((uint16_t)(b1 - a2), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_good_echo, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ihl_below_5, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ihl_beyond_frame, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tot_len_beyond_frame, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tot_len_below_ihl, setup, teardown),
		cmocka_unit_test_setup_teardown(test_version_6, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_checksum, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncated_header, setup, teardown),
		cmocka_unit_test_setup_teardown(test_martian_sources, setup, teardown),
		cmocka_unit_test_setup_teardown(test_own_address_as_source, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_ours_no_forwarding, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_options, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fragments_queued, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_protocol, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ethernet_padding_trimmed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_otherhost_in_promisc, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ip_ids_differ_per_destination, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
