/*
 * IPv4 forwarding (RFC 1812 5.2-5.3, Linux's ip_forward): one stack with two
 * capture devices, net.ipv4.ip_forward=1.
 *   A (10.0.1.2) -- eth0 10.0.1.1/24 [stack] eth1 10.0.2.1/24 -- B (10.0.2.2)
 * Frames from A enter eth0 through netif_receive_skb; what the stack sends
 * on each device is captured and parsed with the wire layer.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/netdevice.h"
#include "core/skbuff.h"
#include "core/stack.h"
#include "net/ipv4/ip.h"
#include "net/ipv4/neighbour.h"
#include "net/ipv4/route.h"
#include "netfilter/netfilter.h"
#include "netpath/netpath.h"
#include "wire/checksum.h"
#include "wire/eth.h"
#include "wire/icmp.h"
#include "wire/ipv4.h"
#include "wire/udp.h"

#define MAX_CAP 64
#include "capdev.h"

#define R0_IP IP(10, 0, 1, 1)
#define R1_IP IP(10, 0, 2, 1)
#define A_IP IP(10, 0, 1, 2)
#define B_IP IP(10, 0, 2, 2)
#define T0 NSEC_PER_SEC

static const uint8_t a_mac[6] = { 0x02, 0, 0, 0, 0x01, 0x02 };
static const uint8_t b_mac[6] = { 0x02, 0, 0, 0, 0x02, 0x02 };
static const uint8_t bcast_mac[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

struct env {
	struct np_clock *clk;
	struct np_stack *s;
	struct net_device *dev0, *dev1;
	struct cap *cap0, *cap1;
};

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	e->clk = np_clock_virtual(T0);
	struct np_stack_config cfg = { .name = "router", .clock = e->clk, .seed = 7 };
	e->s = np_stack_create(&cfg);
	assert_non_null(e->s);
	e->dev0 = capdev_add(e->s, "eth0");
	e->dev1 = capdev_add(e->s, "eth1");
	assert_non_null(e->dev0);
	assert_non_null(e->dev1);
	e->cap0 = e->dev0->priv;
	e->cap1 = e->dev1->priv;
	assert_int_equal(inet_addr_add(e->dev0, R0_IP, 24), 0);
	assert_int_equal(inet_addr_add(e->dev1, R1_IP, 24), 0);
	assert_int_equal(neigh_add_permanent(e->s, e->dev0, A_IP, a_mac), 0);
	assert_int_equal(neigh_add_permanent(e->s, e->dev1, B_IP, b_mac), 0);
	assert_int_equal(np_sysctl_set(e->s, "net.ipv4.ip_forward", 1), 0);
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

/* ---- helpers ---- */

struct pkt {
	uint32_t src, dst;
	uint8_t ttl;
	uint16_t frag_off;
	size_t payload;        /* UDP payload bytes */
	const uint8_t *dmac;   /* NULL: eth0's MAC */
};

/* An Ethernet frame from A carrying a UDP datagram (port 40000 -> 33434); returns its length. */
static size_t mk_frame(struct env *e, uint8_t *f, const struct pkt *p)
{
	struct eth_repr eth = { .ethertype = ETH_P_IP };
	memcpy(eth.dst, p->dmac ? p->dmac : e->dev0->dev_addr, 6);
	memcpy(eth.src, a_mac, 6);
	eth_emit(&eth, f, ETH_HLEN);
	uint8_t *ip = f + ETH_HLEN;
	size_t l4 = UDP_HLEN + p->payload;
	struct ipv4_repr iph = {
		.tot_len = (uint16_t)(IPV4_HLEN_MIN + l4),
		.id = 0x4242,
		.frag_off = p->frag_off,
		.ttl = p->ttl ? p->ttl : 64,
		.protocol = IPPROTO_UDP_,
		.saddr = p->src ? p->src : A_IP,
		.daddr = p->dst,
	};
	assert_int_equal(ipv4_emit(&iph, ip, IPV4_HLEN_MIN), IPV4_HLEN_MIN);
	uint8_t *udp = ip + IPV4_HLEN_MIN;
	be16_put(udp, 40000);
	be16_put(udp + 2, 33434);
	be16_put(udp + 4, (uint16_t)l4);
	be16_put(udp + 6, 0);
	for (size_t i = 0; i < p->payload; i++)
		udp[UDP_HLEN + i] = (uint8_t)i;
	return ETH_HLEN + IPV4_HLEN_MIN + l4;
}

static void poll_all(struct env *e)
{
	for (int i = 0; i < 100 && np_stack_poll(e->s) > 0; i++)
		;
}

static void inject(struct env *e, const struct pkt *p)
{
	static uint8_t f[2048];
	size_t len = mk_frame(e, f, p);
	struct sk_buff *skb = netdev_alloc_skb_copy(e->dev0, f, (uint32_t)len);
	assert_non_null(skb);
	netif_receive_skb(skb);
	poll_all(e);
}

/* Like inject, through netif_rx (the backlog), where a traced path begins. */
static void inject_rx(struct env *e, const struct pkt *p)
{
	static uint8_t f[2048];
	size_t len = mk_frame(e, f, p);
	struct sk_buff *skb = netdev_alloc_skb_copy(e->dev0, f, (uint32_t)len);
	assert_non_null(skb);
	netif_rx(skb);
	poll_all(e);
}

/* Parses captured frame i of c as Ethernet + IPv4. */
static void parse_ip(const struct cap *c, int i, struct eth_repr *eth, struct ipv4_repr *ip)
{
	assert_true(i < c->n);
	assert_int_equal(eth_parse(c->frame[i], c->len[i], eth), 0);
	assert_int_equal(eth->ethertype, ETH_P_IP);
	assert_int_equal(ipv4_parse(c->frame[i] + ETH_HLEN, c->len[i] - ETH_HLEN, ip), 0);
}

/* Asserts eth0's only frame is the ICMP error type/code to A from R0 and returns its parse. */
static void expect_icmp_error(struct env *e, uint8_t type, uint8_t code, struct icmp_repr *ic)
{
	struct eth_repr eth;
	struct ipv4_repr ip;

	assert_int_equal(e->cap0->n, 1);
	parse_ip(e->cap0, 0, &eth, &ip);
	assert_memory_equal(eth.dst, a_mac, 6);
	assert_int_equal(ip.protocol, IPPROTO_ICMP_);
	assert_int_equal(ip.saddr, R0_IP);
	assert_int_equal(ip.daddr, A_IP);
	assert_true(ipv4_csum_ok(e->cap0->frame[0] + ETH_HLEN, ip.ihl));
	assert_int_equal(icmp_parse(e->cap0->frame[0] + ETH_HLEN + ip.ihl, ip.tot_len - ip.ihl, ic), 0);
	assert_int_equal(ic->type, type);
	assert_int_equal(ic->code, code);
	/* RFC 792: the quote holds the offending header and at least its first 8 data bytes. */
	assert_true(ic->payload_len >= IPV4_HLEN_MIN + 8);
}

/* ---- forwarding ---- */

static void test_forward_ttl_and_checksum(void **state)
{
	struct env *e = *state;
	uint8_t orig[2048];
	struct pkt p = { .dst = B_IP, .ttl = 64, .payload = 100 };
	size_t len = mk_frame(e, orig, &p);

	inject(e, &p);
	assert_int_equal(e->cap0->n, 0);
	assert_int_equal(e->cap1->n, 1);
	struct eth_repr eth;
	struct ipv4_repr ip;
	parse_ip(e->cap1, 0, &eth, &ip);
	/* Out of eth1, from its MAC to B's. */
	assert_memory_equal(eth.dst, b_mac, 6);
	assert_memory_equal(eth.src, e->dev1->dev_addr, 6);
	assert_int_equal(ip.ttl, 63);
	assert_int_equal(ip.saddr, A_IP);
	assert_int_equal(ip.daddr, B_IP);
	assert_int_equal(ip.id, 0x4242);
	/* RFC 1624 incremental update: the header still verifies ... */
	const uint8_t *h = e->cap1->frame[0] + ETH_HLEN;
	assert_true(ipv4_csum_ok(h, IPV4_HLEN_MIN));
	assert_int_equal(ip_compute_csum(h, IPV4_HLEN_MIN), 0);
	/* ... and only TTL and checksum changed: payload and the rest byte for byte. */
	assert_int_equal(e->cap1->len[0], len);
	assert_memory_equal(h, orig + ETH_HLEN, 8);
	assert_memory_equal(h + 9, orig + ETH_HLEN + 9, 1);
	assert_memory_equal(h + 12, orig + ETH_HLEN + 12, len - ETH_HLEN - 12);
	assert_int_equal(np_stack_mib(e->s, NP_MIB_IpForwDatagrams), 1);
	assert_int_equal(np_stack_mib(e->s, NP_MIB_IpInDelivers), 0);
}

/* The checksum stays right across the carry cases of the one's-complement update. */
static void test_forward_checksum_many_ttls(void **state)
{
	struct env *e = *state;

	for (int ttl = 2; ttl <= 255; ttl++) {
		struct pkt p = { .dst = B_IP, .ttl = (uint8_t)ttl, .payload = (size_t)ttl % 7 };
		inject(e, &p);
		assert_int_equal(e->cap1->n, 1);
		struct eth_repr eth;
		struct ipv4_repr ip;
		parse_ip(e->cap1, 0, &eth, &ip);
		assert_int_equal(ip.ttl, ttl - 1);
		assert_true(ipv4_csum_ok(e->cap1->frame[0] + ETH_HLEN, IPV4_HLEN_MIN));
		cap_clear(e->cap1);
	}
	assert_int_equal(np_stack_mib(e->s, NP_MIB_IpForwDatagrams), 254);
}

static void test_ttl_expired_sends_time_exceeded(void **state)
{
	struct env *e = *state;
	uint8_t orig[2048];
	struct pkt p = { .dst = B_IP, .ttl = 1, .payload = 40 };
	mk_frame(e, orig, &p);

	inject(e, &p);
	assert_int_equal(e->cap1->n, 0);
	struct icmp_repr ic;
	expect_icmp_error(e, ICMP_TIME_EXCEEDED, ICMP_EXC_TTL, &ic);
	/* The quote is the header as it arrived (TTL 1) and the UDP header. */
	assert_memory_equal(ic.payload, orig + ETH_HLEN, IPV4_HLEN_MIN + 8);
	assert_int_equal(np_stack_drops(e->s, NP_DROP_IP_INHDR), 1);
	assert_int_equal(np_stack_mib(e->s, NP_MIB_IpInHdrErrors), 1);
	assert_int_equal(np_stack_mib(e->s, NP_MIB_IcmpOutTimeExcds), 1);
	assert_int_equal(np_stack_mib(e->s, NP_MIB_IpForwDatagrams), 0);

	/* TTL 0 the same way. */
	cap_clear(e->cap0);
	p.ttl = 0;
	struct pkt p0 = p;
	uint8_t f[2048];
	size_t len = mk_frame(e, f, &p0);
	f[ETH_HLEN + 8] = 0;
	be16_put(f + ETH_HLEN + 10, 0);
	be16_put(f + ETH_HLEN + 10, ip_compute_csum(f + ETH_HLEN, IPV4_HLEN_MIN));
	struct sk_buff *skb = netdev_alloc_skb_copy(e->dev0, f, (uint32_t)len);
	netif_receive_skb(skb);
	poll_all(e);
	expect_icmp_error(e, ICMP_TIME_EXCEEDED, ICMP_EXC_TTL, &ic);
	assert_int_equal(e->cap1->n, 0);
}

static void test_no_route_sends_unreachable(void **state)
{
	struct env *e = *state;
	struct icmp_repr ic;

	struct pkt p = { .dst = IP(192, 0, 2, 9), .payload = 8 };
	inject(e, &p);
	assert_int_equal(e->cap1->n, 0);
	expect_icmp_error(e, ICMP_DEST_UNREACH, ICMP_NET_UNREACH, &ic);
	assert_int_equal(be32_get(ic.payload + 16), IP(192, 0, 2, 9));
	assert_int_equal(np_stack_drops(e->s, NP_DROP_IP_INNOROUTES), 1);
	assert_int_equal(np_stack_mib(e->s, NP_MIB_IpExtInNoRoutes), 1);

	/* An `unreachable` route: host unreachable. */
	cap_clear(e->cap0);
	struct fib_route ur = { .dst = IP(192, 0, 2, 0), .plen = 24, .type = RTN_UNREACHABLE,
				.protocol = RTPROT_STATIC };
	assert_int_equal(fib_add(e->s, &ur), 0);
	inject(e, &p);
	expect_icmp_error(e, ICMP_DEST_UNREACH, ICMP_HOST_UNREACH, &ic);

	/* A blackhole route: silently dropped. */
	cap_clear(e->cap0);
	struct fib_route bh = { .dst = IP(198, 51, 100, 0), .plen = 24, .type = RTN_BLACKHOLE,
				.protocol = RTPROT_STATIC };
	assert_int_equal(fib_add(e->s, &bh), 0);
	p.dst = IP(198, 51, 100, 1);
	inject(e, &p);
	assert_int_equal(e->cap0->n, 0);
	assert_int_equal(e->cap1->n, 0);
	assert_int_equal(np_stack_drops(e->s, NP_DROP_IP_INNOROUTES), 3);
	assert_int_equal(np_stack_mib(e->s, NP_MIB_IpForwDatagrams), 0);
}

static void test_via_gateway(void **state)
{
	struct env *e = *state;
	struct fib_route r = { .dst = IP(10, 0, 3, 0), .plen = 24, .gateway = B_IP, .dev = e->dev1,
			       .type = RTN_UNICAST, .protocol = RTPROT_STATIC };

	assert_int_equal(fib_add(e->s, &r), 0);
	struct pkt p = { .dst = IP(10, 0, 3, 7), .payload = 10 };
	inject(e, &p);
	assert_int_equal(e->cap1->n, 1);
	struct eth_repr eth;
	struct ipv4_repr ip;
	parse_ip(e->cap1, 0, &eth, &ip);
	/* The next hop is the gateway: B's MAC, the destination unchanged. */
	assert_memory_equal(eth.dst, b_mac, 6);
	assert_int_equal(ip.daddr, IP(10, 0, 3, 7));
	assert_int_equal(ip.ttl, 63);
}

static void test_forwarding_off(void **state)
{
	struct env *e = *state;

	assert_int_equal(np_sysctl_set(e->s, "net.ipv4.ip_forward", 0), 0);
	struct pkt p = { .dst = B_IP, .payload = 10 };
	inject(e, &p);
	assert_int_equal(e->cap0->n, 0);
	assert_int_equal(e->cap1->n, 0);
	assert_int_equal(np_stack_drops(e->s, NP_DROP_IP_INADDRERRORS), 1);
	assert_int_equal(np_stack_mib(e->s, NP_MIB_IpInAddrErrors), 1);
	assert_int_equal(np_stack_mib(e->s, NP_MIB_IpForwDatagrams), 0);
	/* A host without a route does not answer either (RFC 1122 3.3.4: not a router). */
	p.dst = IP(192, 0, 2, 9);
	inject(e, &p);
	assert_int_equal(e->cap0->n, 0);
	assert_int_equal(np_stack_drops(e->s, NP_DROP_IP_INADDRERRORS), 2);
}

static void test_link_broadcast_not_forwarded(void **state)
{
	struct env *e = *state;

	struct pkt p = { .dst = B_IP, .payload = 10, .dmac = bcast_mac };
	inject(e, &p);
	assert_int_equal(e->cap0->n, 0);   /* no ICMP about a link broadcast either */
	assert_int_equal(e->cap1->n, 0);
	assert_int_equal(np_stack_drops(e->s, NP_DROP_IP_FORWARD_NOT_HOST), 1);
	assert_int_equal(np_stack_mib(e->s, NP_MIB_IpForwDatagrams), 0);

	/* Nor a link multicast. */
	static const uint8_t mcast_mac[6] = { 0x01, 0x00, 0x5e, 0x00, 0x00, 0x01 };
	p.dmac = mcast_mac;
	inject(e, &p);
	assert_int_equal(e->cap1->n, 0);
	assert_int_equal(np_stack_drops(e->s, NP_DROP_IP_FORWARD_NOT_HOST), 2);

	/* B's subnet broadcast is ours to receive (a directed broadcast), not to pass on. */
	p.dmac = NULL;
	p.dst = IP(10, 0, 2, 255);
	inject(e, &p);
	assert_int_equal(e->cap1->n, 0);
	assert_int_equal(np_stack_mib(e->s, NP_MIB_IpForwDatagrams), 0);
}

static void test_martians_not_forwarded(void **state)
{
	struct env *e = *state;
	static const struct {
		uint32_t src, dst;
		enum np_drop_reason reason;
	} cases[] = {
		{ IP(127, 0, 0, 1), B_IP, NP_DROP_IP_INVALID_SOURCE },
		{ IP(224, 0, 0, 5), B_IP, NP_DROP_IP_INVALID_SOURCE },
		{ IP(240, 0, 0, 1), B_IP, NP_DROP_IP_INVALID_SOURCE },
		{ IP(0, 1, 2, 3), B_IP, NP_DROP_IP_INVALID_SOURCE },
		{ IP(10, 0, 1, 255), B_IP, NP_DROP_IP_INVALID_SOURCE },
		{ R1_IP, B_IP, NP_DROP_IP_LOCAL_SOURCE },
		{ A_IP, IP(127, 0, 0, 9), NP_DROP_IP_INVALID_DEST },
		{ A_IP, IP(0, 0, 0, 9), NP_DROP_IP_INVALID_DEST },
		{ A_IP, IP(240, 1, 2, 3), NP_DROP_IP_INVALID_DEST },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t before = np_stack_drops(e->s, cases[i].reason);
		struct pkt p = { .src = cases[i].src, .dst = cases[i].dst, .payload = 4 };
		inject(e, &p);
		assert_int_equal(np_stack_drops(e->s, cases[i].reason), before + 1);
		assert_int_equal(e->cap0->n, 0);
		assert_int_equal(e->cap1->n, 0);
	}
	assert_int_equal(np_stack_mib(e->s, NP_MIB_IpForwDatagrams), 0);
}

static void test_df_too_big_sends_frag_needed(void **state)
{
	struct env *e = *state;
	uint8_t orig[2048];

	e->dev1->mtu = 576;
	struct pkt p = { .dst = B_IP, .frag_off = IP_DF, .payload = 1000 };
	mk_frame(e, orig, &p);
	inject(e, &p);
	assert_int_equal(e->cap1->n, 0);
	struct icmp_repr ic;
	expect_icmp_error(e, ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED, &ic);
	/* RFC 1191 4: the next-hop MTU in the low 16 bits of the second word. */
	assert_int_equal(ic.rest & 0xFFFF, 576);
	assert_int_equal(ic.rest >> 16, 0);
	assert_memory_equal(ic.payload, orig + ETH_HLEN, IPV4_HLEN_MIN + 8);
	assert_int_equal(np_stack_drops(e->s, NP_DROP_PKT_TOO_BIG), 1);
	assert_int_equal(np_stack_mib(e->s, NP_MIB_IpFragFails), 1);

	/* Exactly the MTU fits. */
	cap_clear(e->cap0);
	p.payload = 576 - IPV4_HLEN_MIN - UDP_HLEN;
	inject(e, &p);
	assert_int_equal(e->cap0->n, 0);
	assert_int_equal(e->cap1->n, 1);

	/* Path MTU discovery is never rate limited: many in a row all get an answer. */
	cap_clear(e->cap1);
	p.payload = 1000;
	for (int i = 0; i < 80; i++) {
		inject(e, &p);
		assert_int_equal(e->cap0->n, 1);
		cap_clear(e->cap0);
	}

	/* Without DF the router fragments (or fails) but never asks for a smaller MTU. */
	p.frag_off = 0;
	inject(e, &p);
	for (int i = 0; i < e->cap0->n; i++) {
		struct eth_repr eth;
		struct ipv4_repr ip;
		parse_ip(e->cap0, i, &eth, &ip);
		assert_int_not_equal(ip.protocol, IPPROTO_ICMP_);
	}
}

/* ---- the path: ip_forward -> NF_INET_FORWARD -> ip_forward_finish ---- */

struct paths {
	char text[8][1024];
	int n;
};

static void on_path(void *arg, const struct np_trace_path *p)
{
	struct paths *ps = arg;
	if (ps->n < 8)
		np_trace_format(p, ps->text[ps->n++], sizeof(ps->text[0]));
}

struct hook_seen {
	int n;
	struct net_device *in, *out;
	int drop;
};

static unsigned fwd_hook(void *priv, struct sk_buff *skb, const struct nf_hook_state *st,
			 enum np_drop_reason *reason)
{
	struct hook_seen *h = priv;
	h->n++;
	h->in = st->in;
	h->out = st->out;
	/* The TTL is already decremented when FORWARD runs, as in Linux. */
	assert_int_equal(skb_network_header(skb)[8], 63);
	return h->drop ? NF_DROP : NF_ACCEPT;
}

static void test_forward_path_and_hook(void **state)
{
	struct env *e = *state;
	struct paths ps = { .n = 0 };
	struct hook_seen h = { 0 };

	assert_int_equal(nf_register_hook(e->s, NF_INET_FORWARD, 0, fwd_hook, &h), 0);
	np_stack_trace(e->s, 0, NULL);
	np_stack_trace_cb(e->s, on_path, &ps);
	struct pkt p = { .dst = B_IP, .payload = 10 };
	inject_rx(e, &p);
	assert_int_equal(h.n, 1);
	assert_ptr_equal(h.in, e->dev0);
	assert_ptr_equal(h.out, e->dev1);
	assert_int_equal(e->cap1->n, 1);
	int found = 0;
	for (int i = 0; i < ps.n; i++) {
		const char *t = ps.text[i];
		const char *a = strstr(t, "ip_rcv_finish");
		const char *b = a ? strstr(a, "ip_forward") : NULL;
		const char *c = b ? strstr(b, "NF_INET_FORWARD") : NULL;
		const char *d = c ? strstr(c, "ip_forward_finish") : NULL;
		const char *f = d ? strstr(d, "dst_output") : NULL;
		const char *g = f ? strstr(f, "NF_INET_POST_ROUTING") : NULL;
		if (g && strstr(g, "dev_queue_xmit"))
			found = 1;
	}
	if (!found)
		for (int i = 0; i < ps.n; i++)
			printf("path %d: %s\n", i, ps.text[i]);
	assert_true(found);

	/* A FORWARD hook that drops: nothing leaves, the reason is netfilter's. */
	h.drop = 1;
	inject(e, &p);
	assert_int_equal(h.n, 2);
	assert_int_equal(e->cap1->n, 1);
	assert_int_equal(np_stack_drops(e->s, NP_DROP_NETFILTER_DROP), 1);
	assert_int_equal(np_stack_mib(e->s, NP_MIB_IpForwDatagrams), 1);
	np_stack_trace_cb(e->s, NULL, NULL);
	np_stack_trace(e->s, 0, NULL);
	nf_unregister_hook(e->s, NF_INET_FORWARD, fwd_hook, &h);
}

/* Traffic for the router itself is still delivered locally, not forwarded. */
static void test_local_still_delivered(void **state)
{
	struct env *e = *state;

	/* UDP to a closed port on eth1's address, arriving on eth0: port unreachable from R1_IP. */
	struct pkt p = { .dst = R1_IP, .payload = 4 };
	inject(e, &p);
	assert_int_equal(e->cap1->n, 0);
	struct icmp_repr ic;
	assert_int_equal(e->cap0->n, 1);
	struct eth_repr eth;
	struct ipv4_repr ip;
	parse_ip(e->cap0, 0, &eth, &ip);
	assert_int_equal(ip.saddr, R1_IP);
	assert_int_equal(icmp_parse(e->cap0->frame[0] + ETH_HLEN + ip.ihl, ip.tot_len - ip.ihl, &ic), 0);
	assert_int_equal(ic.type, ICMP_DEST_UNREACH);
	assert_int_equal(ic.code, ICMP_PORT_UNREACH);
	assert_int_equal(np_stack_mib(e->s, NP_MIB_IpForwDatagrams), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_forward_ttl_and_checksum, setup, teardown),
		cmocka_unit_test_setup_teardown(test_forward_checksum_many_ttls, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ttl_expired_sends_time_exceeded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_route_sends_unreachable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_via_gateway, setup, teardown),
		cmocka_unit_test_setup_teardown(test_forwarding_off, setup, teardown),
		cmocka_unit_test_setup_teardown(test_link_broadcast_not_forwarded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_martians_not_forwarded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_df_too_big_sends_frag_needed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_forward_path_and_hook, setup, teardown),
		cmocka_unit_test_setup_teardown(test_local_still_delivered, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
