/*
 * ICMP (RFC 792, RFC 1122 3.2.2): echo replies, receive errors, the rules
 * about when an error may be sent, rate limiting on the virtual clock, the
 * ping API and errors handed to the transports.
 * Frames enter through netif_receive_skb on a test Ethernet device whose
 * ndo_start_xmit captures what the stack sends.
 */
#include <arpa/inet.h>
#include <errno.h>
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
#include "net/ipv4/icmp.h"
#include "net/ipv4/ip.h"
#include "net/ipv4/neighbour.h"
#include "net/ipv4/protocol.h"
#include "net/ipv4/route.h"
#include "netpath/netpath.h"
#include "wire/checksum.h"
#include "wire/eth.h"
#include "wire/icmp.h"
#include "wire/ipv4.h"

#define OUR_IP IP(10, 0, 0, 1)
#define PEER_IP IP(10, 0, 0, 2)
#define BCAST_IP IP(10, 0, 0, 255)
#define MAX_CAP 128
#include "capdev.h"
#define T0 NSEC_PER_SEC

static const uint8_t peer_mac[6] = { 0x02, 0, 0, 0, 0, 0x02 };
static const uint8_t bcast_mac[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

struct env {
	struct np_clock *clk;
	struct np_stack *s;
	struct net_device *dev;
	struct cap *cap;
};

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	e->clk = np_clock_virtual(T0);
	struct np_stack_config cfg = { .name = "icmp", .clock = e->clk, .seed = 11 };
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

/* ---- helpers ---- */

struct ipf {
	uint32_t src, dst;
	uint8_t proto, tos;
	uint16_t frag_off;
	const uint8_t *dmac;    /* NULL: our MAC */
	const uint8_t *l4;
	size_t l4len;
};

/* An IPv4 datagram (valid header) with l4 after it; returns its length. */
static size_t mk_ip(uint8_t *buf, const struct ipf *p)
{
	struct ipv4_repr ip = {
		.tos = p->tos,
		.tot_len = (uint16_t)(IPV4_HLEN_MIN + p->l4len),
		.id = 0x0101,
		.frag_off = p->frag_off,
		.ttl = 64,
		.protocol = p->proto,
		.saddr = p->src,
		.daddr = p->dst,
	};
	assert_int_equal(ipv4_emit(&ip, buf, IPV4_HLEN_MIN), IPV4_HLEN_MIN);
	memcpy(buf + IPV4_HLEN_MIN, p->l4, p->l4len);
	return IPV4_HLEN_MIN + p->l4len;
}

/* Ethernet frame from the peer around mk_ip; returns the frame length. */
static size_t mk_frame(struct env *e, uint8_t *f, const struct ipf *p)
{
	struct eth_repr eth = { .ethertype = ETH_P_IP };
	memcpy(eth.dst, p->dmac ? p->dmac : e->dev->dev_addr, 6);
	memcpy(eth.src, peer_mac, 6);
	eth_emit(&eth, f, ETH_HLEN);
	return ETH_HLEN + mk_ip(f + ETH_HLEN, p);
}

static size_t mk_icmp(uint8_t *buf, uint8_t type, uint8_t code, uint32_t rest, const uint8_t *payload,
		      size_t plen)
{
	struct icmp_repr ic = { .type = type, .code = code, .rest = rest, .payload = payload, .payload_len = plen };
	size_t n = icmp_emit(&ic, buf, ICMP_HLEN + plen);
	assert_int_equal(n, ICMP_HLEN + plen);
	return n;
}

static void poll_all(struct env *e)
{
	for (int i = 0; i < 100 && np_stack_poll(e->s) > 0; i++)
		;
}

static void inject(struct env *e, const uint8_t *f, size_t len)
{
	struct sk_buff *skb = netdev_alloc_skb_copy(e->dev, f, (uint32_t)len);
	assert_non_null(skb);
	netif_receive_skb(skb);
	poll_all(e);
}

/* Sends an ICMP message from the peer to dst. */
static void inject_icmp(struct env *e, uint32_t dst, const uint8_t *dmac, const uint8_t *icmp, size_t len)
{
	uint8_t f[1600];
	struct ipf p = { .src = PEER_IP, .dst = dst, .proto = IPPROTO_ICMP_, .dmac = dmac, .l4 = icmp, .l4len = len };
	inject(e, f, mk_frame(e, f, &p));
}

static uint64_t mib(struct env *e, enum np_mib_field f) { return np_stack_mib(e->s, f); }
static uint64_t drops(struct env *e, enum np_drop_reason r) { return np_stack_drops(e->s, r); }
static uint64_t all_drops(struct env *e)
{
	uint64_t n = 0;
	for (int r = 0; r < NP_DROP_MAX; r++)
		n += np_stack_drops(e->s, (enum np_drop_reason)r);
	return n;
}

/* Parses a captured frame as Ethernet to the peer + IPv4 + ICMP, both checksums verified. */
static void parse_icmp_frame(struct env *e, int i, struct ipv4_repr *ip, struct icmp_repr *ic)
{
	const uint8_t *f = e->cap->frame[i];
	size_t len = e->cap->len[i];
	struct eth_repr eth;
	assert_int_equal(eth_parse(f, len, &eth), 0);
	assert_int_equal(eth.ethertype, ETH_P_IP);
	assert_memory_equal(eth.dst, peer_mac, 6);
	assert_int_equal(ipv4_parse(f + ETH_HLEN, len - ETH_HLEN, ip), 0);
	assert_true(ipv4_csum_ok(f + ETH_HLEN, ip->ihl));
	assert_int_equal(ip->protocol, IPPROTO_ICMP_);
	assert_int_equal(icmp_parse(f + ETH_HLEN + ip->ihl, ip->tot_len - ip->ihl, ic), 0);
}

/* An skb as ip_rcv leaves it (network header set, from the peer's link), for direct icmp_send calls. */
static struct sk_buff *rx_skb(struct env *e, const uint8_t *ip, size_t len)
{
	struct sk_buff *skb = alloc_skb(e->s, (uint32_t)len);
	assert_non_null(skb);
	memcpy(skb_put(skb, (uint32_t)len), ip, len);
	skb_reset_network_header(skb);
	skb->dev = e->dev;
	skb->pkt_type = PACKET_HOST;
	return skb;
}

/* Calls icmp_send about the datagram ip and returns how many frames left. */
static int send_error_about(struct env *e, const uint8_t *ip, size_t len, uint8_t type, uint8_t code)
{
	cap_clear(e->cap);
	struct sk_buff *skb = rx_skb(e, ip, len);
	icmp_send(skb, type, code, 0);
	consume_skb(skb);
	poll_all(e);
	int n = e->cap->n;
	cap_clear(e->cap);
	return n;
}

/* An unknown-protocol datagram from the peer (provokes protocol unreachable). */
static size_t mk_noproto(struct env *e, uint8_t *f, uint32_t dst, const uint8_t *dmac)
{
	static const uint8_t junk[12] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 };
	struct ipf p = { .src = PEER_IP, .dst = dst, .proto = 253, .dmac = dmac, .l4 = junk, .l4len = sizeof(junk) };
	return mk_frame(e, f, &p);
}

/* ---- echo ---- */

static void test_echo_reply_content(void **state)
{
	struct env *e = *state;
	uint8_t payload[200], icmp[256], f[512];
	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i * 7 + 3);
	size_t n = mk_icmp(icmp, ICMP_ECHO, 0, 0xBEEF0005, payload, sizeof(payload));
	struct ipf p = { .src = PEER_IP, .dst = OUR_IP, .proto = IPPROTO_ICMP_, .tos = 0x10, .l4 = icmp, .l4len = n };
	inject(e, f, mk_frame(e, f, &p));

	assert_int_equal(e->cap->n, 1);
	struct ipv4_repr ip;
	struct icmp_repr ic;
	parse_icmp_frame(e, 0, &ip, &ic);
	assert_int_equal(ip.saddr, OUR_IP);
	assert_int_equal(ip.daddr, PEER_IP);
	assert_int_equal(ip.tos, 0x10);
	assert_int_equal(ip.ttl, 64);
	assert_int_equal(ic.type, ICMP_ECHOREPLY);
	assert_int_equal(ic.code, 0);
	assert_int_equal(ic.rest, 0xBEEF0005);
	assert_int_equal(ic.payload_len, sizeof(payload));
	assert_memory_equal(ic.payload, payload, sizeof(payload));
	assert_int_equal(mib(e, NP_MIB_IcmpInMsgs), 1);
	assert_int_equal(mib(e, NP_MIB_IcmpInEchos), 1);
	assert_int_equal(mib(e, NP_MIB_IcmpOutMsgs), 1);
	assert_int_equal(mib(e, NP_MIB_IcmpOutEchoReps), 1);
	assert_int_equal(all_drops(e), 0);
	cap_clear(e->cap);
}

static void test_checksum_error(void **state)
{
	struct env *e = *state;
	uint8_t payload[16] = { 0 }, icmp[64];
	size_t n = mk_icmp(icmp, ICMP_ECHO, 0, 0x00010001, payload, sizeof(payload));
	icmp[10] ^= 0x40;
	inject_icmp(e, OUR_IP, NULL, icmp, n);
	assert_int_equal(drops(e, NP_DROP_ICMP_CSUM), 1);
	assert_int_equal(mib(e, NP_MIB_IcmpInMsgs), 1);
	assert_int_equal(mib(e, NP_MIB_IcmpInCsumErrors), 1);
	assert_int_equal(mib(e, NP_MIB_IcmpInErrors), 1);
	assert_int_equal(mib(e, NP_MIB_IcmpInEchos), 0);
	assert_int_equal(e->cap->n, 0);
}

static void test_truncated(void **state)
{
	struct env *e = *state;
	static const uint8_t half[4] = { ICMP_ECHO, 0, 0xF7, 0xFF };
	inject_icmp(e, OUR_IP, NULL, half, sizeof(half));
	assert_int_equal(drops(e, NP_DROP_ICMP_TRUNCATED), 1);
	assert_int_equal(mib(e, NP_MIB_IcmpInErrors), 1);
	assert_int_equal(e->cap->n, 0);
}

static void test_unknown_type_dropped(void **state)
{
	struct env *e = *state;
	uint8_t icmp[16];
	size_t n = mk_icmp(icmp, 42, 0, 0, NULL, 0);
	inject_icmp(e, OUR_IP, NULL, icmp, n);
	assert_int_equal(drops(e, NP_DROP_ICMP_UNHANDLED), 1);
	/* A known type we do not act on (timestamp reply) is a normal end. */
	n = mk_icmp(icmp, ICMP_TIMESTAMPREPLY, 0, 0, NULL, 0);
	inject_icmp(e, OUR_IP, NULL, icmp, n);
	assert_int_equal(all_drops(e), 1);
	assert_int_equal(mib(e, NP_MIB_IcmpInMsgs), 2);
}

static void test_echo_ignore_all(void **state)
{
	struct env *e = *state;
	uint8_t icmp[64];
	size_t n = mk_icmp(icmp, ICMP_ECHO, 0, 0x00090001, NULL, 0);
	assert_int_equal(np_sysctl_set(e->s, "net.ipv4.icmp_echo_ignore_all", 1), 0);
	inject_icmp(e, OUR_IP, NULL, icmp, n);
	assert_int_equal(e->cap->n, 0);
	assert_int_equal(mib(e, NP_MIB_IcmpInEchos), 1);
	assert_int_equal(mib(e, NP_MIB_IcmpOutEchoReps), 0);
	assert_int_equal(all_drops(e), 0);   /* ignored, not dropped (Linux consumes it) */

	assert_int_equal(np_sysctl_set(e->s, "net.ipv4.icmp_echo_ignore_all", 0), 0);
	inject_icmp(e, OUR_IP, NULL, icmp, n);
	assert_int_equal(e->cap->n, 1);
	assert_int_equal(mib(e, NP_MIB_IcmpOutEchoReps), 1);
	cap_clear(e->cap);
}

static void test_echo_to_broadcast(void **state)
{
	struct env *e = *state;
	uint8_t icmp[64];
	size_t n = mk_icmp(icmp, ICMP_ECHO, 0, 0x00030003, NULL, 0);
	/* Default icmp_echo_ignore_broadcasts=1 (RFC 1122 3.2.2.6 MAY ignore). */
	inject_icmp(e, BCAST_IP, bcast_mac, icmp, n);
	assert_int_equal(drops(e, NP_DROP_ICMP_BROADCAST_ECHO), 1);
	assert_int_equal(e->cap->n, 0);
	inject_icmp(e, IP(255, 255, 255, 255), bcast_mac, icmp, n);
	assert_int_equal(drops(e, NP_DROP_ICMP_BROADCAST_ECHO), 2);
	assert_int_equal(e->cap->n, 0);

	/* Answered when allowed, from our own unicast address. */
	assert_int_equal(np_sysctl_set(e->s, "net.ipv4.icmp_echo_ignore_broadcasts", 0), 0);
	inject_icmp(e, BCAST_IP, bcast_mac, icmp, n);
	assert_int_equal(e->cap->n, 1);
	struct ipv4_repr ip;
	struct icmp_repr ic;
	parse_icmp_frame(e, 0, &ip, &ic);
	assert_int_equal(ip.saddr, OUR_IP);
	assert_int_equal(ip.daddr, PEER_IP);
	assert_int_equal(ic.type, ICMP_ECHOREPLY);
	cap_clear(e->cap);
}

/* ---- when errors are sent (RFC 1122 3.2.2) ---- */

static void test_no_error_about_error(void **state)
{
	struct env *e = *state;
	uint8_t quote[28] = { 0x45 }, icmp[64], ip[128];

	/* Control: an error about an echo request is sent. */
	size_t n = mk_icmp(icmp, ICMP_ECHO, 0, 0x00010001, NULL, 0);
	struct ipf p = { .src = PEER_IP, .dst = OUR_IP, .proto = IPPROTO_ICMP_, .l4 = icmp, .l4len = n };
	size_t len = mk_ip(ip, &p);
	assert_int_equal(send_error_about(e, ip, len, ICMP_DEST_UNREACH, ICMP_PORT_UNREACH), 1);
	assert_int_equal(mib(e, NP_MIB_IcmpOutDestUnreachs), 1);

	/* Never about an ICMP error message ... */
	n = mk_icmp(icmp, ICMP_DEST_UNREACH, ICMP_PORT_UNREACH, 0, quote, sizeof(quote));
	p.l4len = n;
	len = mk_ip(ip, &p);
	assert_int_equal(send_error_about(e, ip, len, ICMP_DEST_UNREACH, ICMP_PORT_UNREACH), 0);
	n = mk_icmp(icmp, ICMP_TIME_EXCEEDED, 0, 0, quote, sizeof(quote));
	len = mk_ip(ip, &p);
	assert_int_equal(send_error_about(e, ip, len, ICMP_TIME_EXCEEDED, ICMP_EXC_TTL), 0);
	/* ... nor about an unknown ICMP type (Linux treats those as errors). */
	n = mk_icmp(icmp, 42, 0, 0, NULL, 0);
	p.l4len = n;
	len = mk_ip(ip, &p);
	assert_int_equal(send_error_about(e, ip, len, ICMP_DEST_UNREACH, ICMP_PORT_UNREACH), 0);
	assert_int_equal(mib(e, NP_MIB_IcmpOutMsgs), 1);
}

static void test_no_error_to_broadcast(void **state)
{
	struct env *e = *state;
	uint8_t f[128];

	/* Subnet broadcast and limited broadcast destinations. */
	inject(e, f, mk_noproto(e, f, BCAST_IP, bcast_mac));
	inject(e, f, mk_noproto(e, f, IP(255, 255, 255, 255), bcast_mac));
	/* Unicast IP inside a link-layer broadcast frame. */
	inject(e, f, mk_noproto(e, f, OUR_IP, bcast_mac));
	assert_int_equal(drops(e, NP_DROP_IP_NOPROTO), 3);
	assert_int_equal(mib(e, NP_MIB_IpInUnknownProtos), 3);
	assert_int_equal(mib(e, NP_MIB_IcmpOutMsgs), 0);
	assert_int_equal(e->cap->n, 0);

	/* The same datagram unicast is answered. */
	inject(e, f, mk_noproto(e, f, OUR_IP, NULL));
	assert_int_equal(e->cap->n, 1);
	assert_int_equal(mib(e, NP_MIB_IcmpOutDestUnreachs), 1);
	cap_clear(e->cap);
}

static void test_no_error_about_fragment_or_bad_source(void **state)
{
	struct env *e = *state;
	static const uint8_t udp[8] = { 0x30, 0x39, 0x00, 0x35, 0x00, 0x08, 0, 0 };
	uint8_t ip[64];
	struct ipf p = { .src = PEER_IP, .dst = OUR_IP, .proto = IPPROTO_UDP_, .frag_off = 5, .l4 = udp, .l4len = 8 };
	size_t len = mk_ip(ip, &p);
	/* A non-first fragment: never (RFC 1122 3.2.2). */
	assert_int_equal(send_error_about(e, ip, len, ICMP_DEST_UNREACH, ICMP_PORT_UNREACH), 0);
	/* The first fragment is answered. */
	p.frag_off = IP_MF;
	len = mk_ip(ip, &p);
	assert_int_equal(send_error_about(e, ip, len, ICMP_DEST_UNREACH, ICMP_PORT_UNREACH), 1);

	/* Sources that do not name a single host. */
	static const uint32_t bad[] = { IP(0, 0, 0, 0), IP(255, 255, 255, 255), IP(224, 1, 2, 3),
					IP(127, 0, 0, 1), IP(240, 0, 0, 9), BCAST_IP };
	p.frag_off = 0;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		p.src = bad[i];
		len = mk_ip(ip, &p);
		assert_int_equal(send_error_about(e, ip, len, ICMP_DEST_UNREACH, ICMP_PORT_UNREACH), 0);
	}
	/* A multicast destination. */
	p.src = PEER_IP;
	p.dst = IP(224, 0, 0, 251);
	len = mk_ip(ip, &p);
	assert_int_equal(send_error_about(e, ip, len, ICMP_DEST_UNREACH, ICMP_PORT_UNREACH), 0);
	assert_int_equal(mib(e, NP_MIB_IcmpOutMsgs), 1);
}

static void test_error_quotes_up_to_576(void **state)
{
	struct env *e = *state;
	uint8_t big[1000], ip[1100];
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)i;
	struct ipf p = { .src = PEER_IP, .dst = OUR_IP, .proto = 253, .l4 = big, .l4len = sizeof(big) };
	size_t len = mk_ip(ip, &p);
	cap_clear(e->cap);
	struct sk_buff *skb = rx_skb(e, ip, len);
	icmp_send(skb, ICMP_DEST_UNREACH, ICMP_PROT_UNREACH, 0);
	consume_skb(skb);
	poll_all(e);
	assert_int_equal(e->cap->n, 1);
	struct ipv4_repr rip;
	struct icmp_repr ic;
	parse_icmp_frame(e, 0, &rip, &ic);
	assert_int_equal(rip.tot_len, 576);
	assert_int_equal(ic.payload_len, 576 - 28);
	assert_memory_equal(ic.payload, ip, 576 - 28);
	/* Errors carry precedence "internetwork control" (Linux, RFC 1812 4.3.2.5). */
	assert_int_equal(rip.tos & 0xE0, 0xC0);
	cap_clear(e->cap);
}

static void test_rate_limit(void **state)
{
	struct env *e = *state;
	uint8_t f[128];
	size_t len = mk_noproto(e, f, OUR_IP, NULL);

	/* A full bucket holds 50 errors; more at the same instant are suppressed. */
	for (int i = 0; i < 60; i++)
		inject(e, f, len);
	assert_int_equal(mib(e, NP_MIB_IcmpOutDestUnreachs), 50);
	assert_int_equal(mib(e, NP_MIB_IcmpOutRateLimitGlobal), 10);
	assert_int_equal(e->cap->n, 50);
	cap_clear(e->cap);

	/* Echo replies are not in icmp_ratemask: still answered. */
	uint8_t icmp[16];
	size_t n = mk_icmp(icmp, ICMP_ECHO, 0, 0x00050001, NULL, 0);
	inject_icmp(e, OUR_IP, NULL, icmp, n);
	assert_int_equal(e->cap->n, 1);
	cap_clear(e->cap);

	/* icmp_ratelimit=1000 ms: one second of virtual time refills one message. */
	np_clock_set(e->clk, T0 + NSEC_PER_SEC);
	inject(e, f, len);
	inject(e, f, len);
	assert_int_equal(mib(e, NP_MIB_IcmpOutDestUnreachs), 51);
	assert_int_equal(mib(e, NP_MIB_IcmpOutRateLimitGlobal), 11);

	/* Ten more seconds: ten more. */
	np_clock_set(e->clk, T0 + 11 * NSEC_PER_SEC);
	for (int i = 0; i < 12; i++)
		inject(e, f, len);
	assert_int_equal(mib(e, NP_MIB_IcmpOutDestUnreachs), 61);
	assert_int_equal(mib(e, NP_MIB_IcmpOutRateLimitGlobal), 13);

	/* A long idle period refills only up to the burst. */
	np_clock_set(e->clk, T0 + 3600 * NSEC_PER_SEC);
	for (int i = 0; i < 55; i++)
		inject(e, f, len);
	assert_int_equal(mib(e, NP_MIB_IcmpOutDestUnreachs), 111);

	/* net.ipv4.icmp_ratelimit=0 switches the limit off. */
	assert_int_equal(np_sysctl_set(e->s, "net.ipv4.icmp_ratelimit", 0), 0);
	for (int i = 0; i < 5; i++)
		inject(e, f, len);
	assert_int_equal(mib(e, NP_MIB_IcmpOutDestUnreachs), 116);
	cap_clear(e->cap);
}

/* ---- ping ---- */

struct ping_log {
	int n;
	struct np_ping_reply r[8];
};

static void ping_cb(void *arg, const struct np_ping_reply *r)
{
	struct ping_log *log = arg;
	if (log->n < 8)
		log->r[log->n++] = *r;
}

static void test_ping(void **state)
{
	struct env *e = *state;
	struct ping_log log = { 0 };
	struct in_addr peer = { htonl(PEER_IP) };

	assert_int_equal(np_ping_handler(e->s, 0x77, ping_cb, &log), 0);
	assert_int_equal(np_ping_send(e->s, peer, 0x77, 1, 56), 0);
	assert_int_equal(mib(e, NP_MIB_IcmpOutEchos), 1);
	assert_int_equal(e->cap->n, 1);

	/* The request on the wire: id, seq, 56 bytes led by the send time. */
	uint8_t req[256];
	size_t reqlen = e->cap->len[0] - ETH_HLEN;
	memcpy(req, e->cap->frame[0] + ETH_HLEN, reqlen);
	struct ipv4_repr ip;
	struct icmp_repr ic;
	parse_icmp_frame(e, 0, &ip, &ic);
	assert_int_equal(ip.saddr, OUR_IP);
	assert_int_equal(ip.daddr, PEER_IP);
	assert_int_equal(ic.type, ICMP_ECHO);
	assert_int_equal(ic.rest, (uint32_t)0x77 << 16 | 1);
	assert_int_equal(ic.payload_len, 56);
	assert_int_equal(be32_get(ic.payload), (uint32_t)(T0 >> 32));
	assert_int_equal(be32_get(ic.payload + 4), (uint32_t)T0);
	cap_clear(e->cap);

	/* The peer answers 5 ms later. */
	np_clock_set(e->clk, T0 + 5 * NSEC_PER_MSEC);
	uint8_t rep[256];
	size_t n = mk_icmp(rep, ICMP_ECHOREPLY, 0, ic.rest, req + IPV4_HLEN_MIN + ICMP_HLEN, 56);
	inject_icmp(e, OUR_IP, NULL, rep, n);
	assert_int_equal(log.n, 1);
	assert_int_equal(ntohl(log.r[0].from.s_addr), PEER_IP);
	assert_int_equal(log.r[0].id, 0x77);
	assert_int_equal(log.r[0].seq, 1);
	assert_int_equal(log.r[0].ttl, 64);
	assert_int_equal(log.r[0].len, 56);
	assert_int_equal(log.r[0].rtt_ns, 5 * NSEC_PER_MSEC);
	assert_int_equal(log.r[0].error_type, 0);
	assert_int_equal(mib(e, NP_MIB_IcmpInEchoReps), 1);

	/* A reply for an id nobody registered: consumed, not dropped, nobody called. */
	n = mk_icmp(rep, ICMP_ECHOREPLY, 0, (uint32_t)0x78 << 16 | 1, NULL, 0);
	inject_icmp(e, OUR_IP, NULL, rep, n);
	assert_int_equal(log.n, 1);
	assert_int_equal(mib(e, NP_MIB_IcmpInEchoReps), 2);
	assert_int_equal(all_drops(e), 0);

	/* An error quoting our echo reaches the handler with its type and code. */
	uint8_t err[256];
	n = mk_icmp(err, ICMP_DEST_UNREACH, ICMP_HOST_UNREACH, 0, req, IPV4_HLEN_MIN + ICMP_HLEN + 8);
	inject_icmp(e, OUR_IP, NULL, err, n);
	assert_int_equal(log.n, 2);
	assert_int_equal(log.r[1].error_type, ICMP_DEST_UNREACH);
	assert_int_equal(log.r[1].error_code, ICMP_HOST_UNREACH);
	assert_int_equal(log.r[1].id, 0x77);
	assert_int_equal(log.r[1].seq, 1);
	assert_int_equal(ntohl(log.r[1].from.s_addr), PEER_IP);
	assert_int_equal(log.r[1].rtt_ns, 5 * NSEC_PER_MSEC);
	assert_int_equal(mib(e, NP_MIB_IcmpInDestUnreachs), 1);

	/* No route: the errno comes back and IpOutNoRoutes counts it. */
	struct in_addr far = { htonl(IP(192, 0, 2, 9)) };
	assert_int_equal(np_ping_send(e->s, far, 0x77, 2, 8), -ENETUNREACH);
	assert_int_equal(mib(e, NP_MIB_IpOutNoRoutes), 1);
	assert_int_equal(e->cap->n, 0);

	assert_int_equal(np_ping_handler(e->s, 0x77, NULL, NULL), 0);
	assert_int_equal(np_ping_handler(e->s, 0x77, NULL, NULL), -ENOENT);
}

static void test_ping_self_through_lo(void **state)
{
	struct env *e = *state;
	struct ping_log log = { 0 };
	assert_int_equal(np_ping_handler(e->s, 9, ping_cb, &log), 0);

	struct in_addr self = { htonl(OUR_IP) };
	assert_int_equal(np_ping_send(e->s, self, 9, 1, 16), 0);
	poll_all(e);
	struct in_addr lo = { htonl(IP(127, 0, 0, 1)) };
	assert_int_equal(np_ping_send(e->s, lo, 9, 2, 0), 0);
	poll_all(e);

	assert_int_equal(e->cap->n, 0);   /* nothing left by eth0 */
	assert_int_equal(log.n, 2);
	assert_int_equal(ntohl(log.r[0].from.s_addr), OUR_IP);
	assert_int_equal(log.r[0].seq, 1);
	assert_int_equal(log.r[0].len, 16);
	assert_int_equal(log.r[0].rtt_ns, 0);
	assert_int_equal(ntohl(log.r[1].from.s_addr), IP(127, 0, 0, 1));
	assert_int_equal(log.r[1].seq, 2);
	assert_int_equal(mib(e, NP_MIB_IcmpInEchos), 2);
	assert_int_equal(mib(e, NP_MIB_IcmpInEchoReps), 2);
	assert_int_equal(all_drops(e), 0);
}

/* ---- errors received ---- */

struct err_log {
	int n;
	uint8_t type, code;
	uint32_t info;
	uint32_t quoted_daddr;
	uint32_t from;
};
static struct err_log errlog;

static void fake_err(struct sk_buff *skb, uint8_t type, uint8_t code, uint32_t info)
{
	errlog.n++;
	errlog.type = type;
	errlog.code = code;
	errlog.info = info;
	errlog.quoted_daddr = be32_get(skb->data + 16);
	errlog.from = IPCB(skb)->saddr;
}

static int fake_rcv(struct sk_buff *skb)
{
	consume_skb(skb);
	return 0;
}

static const struct net_protocol fake_proto = { .handler = fake_rcv, .err_handler = fake_err };

static void test_errors_to_transport(void **state)
{
	struct env *e = *state;
	memset(&errlog, 0, sizeof(errlog));
	assert_int_equal(inet_add_protocol(e->s, &fake_proto, 253), 0);
	assert_int_equal(inet_add_protocol(e->s, &fake_proto, 253), -EBUSY);

	/* A datagram we sent (proto 253) to 192.0.2.7, quoted by a router on our link. */
	uint8_t l4[8] = { 0 }, quote[64], icmp[128];
	struct ipf p = { .src = OUR_IP, .dst = IP(192, 0, 2, 7), .proto = 253, .l4 = l4, .l4len = 8 };
	size_t qlen = mk_ip(quote, &p);

	size_t n = mk_icmp(icmp, ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED, 1400, quote, qlen);
	inject_icmp(e, OUR_IP, NULL, icmp, n);
	assert_int_equal(errlog.n, 1);
	assert_int_equal(errlog.type, ICMP_DEST_UNREACH);
	assert_int_equal(errlog.code, ICMP_FRAG_NEEDED);
	assert_int_equal(errlog.info, 1400);
	assert_int_equal(errlog.quoted_daddr, IP(192, 0, 2, 7));
	assert_int_equal(errlog.from, PEER_IP);

	n = mk_icmp(icmp, ICMP_TIME_EXCEEDED, ICMP_EXC_TTL, 0, quote, qlen);
	inject_icmp(e, OUR_IP, NULL, icmp, n);
	assert_int_equal(errlog.n, 2);
	assert_int_equal(errlog.type, ICMP_TIME_EXCEEDED);
	assert_int_equal(mib(e, NP_MIB_IcmpInTimeExcds), 1);

	n = mk_icmp(icmp, ICMP_PARAMETERPROB, 0, 9u << 24, quote, qlen);
	inject_icmp(e, OUR_IP, NULL, icmp, n);
	assert_int_equal(errlog.n, 3);
	assert_int_equal(errlog.info, 9);
	assert_int_equal(mib(e, NP_MIB_IcmpInParmProbs), 1);
	assert_int_equal(mib(e, NP_MIB_IcmpInErrors), 0);

	/* Next-hop MTU below 68 is bogus: counted as an error, not passed on. */
	n = mk_icmp(icmp, ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED, 60, quote, qlen);
	inject_icmp(e, OUR_IP, NULL, icmp, n);
	assert_int_equal(errlog.n, 3);
	assert_int_equal(mib(e, NP_MIB_IcmpInErrors), 1);

	/* A quote shorter than the header + 8 bytes: truncated. */
	n = mk_icmp(icmp, ICMP_DEST_UNREACH, ICMP_PORT_UNREACH, 0, quote, IPV4_HLEN_MIN + 4);
	inject_icmp(e, OUR_IP, NULL, icmp, n);
	assert_int_equal(errlog.n, 3);
	assert_int_equal(drops(e, NP_DROP_ICMP_TRUNCATED), 1);
	assert_int_equal(mib(e, NP_MIB_IcmpInErrors), 2);

	/* Redirects are counted and ignored. */
	n = mk_icmp(icmp, ICMP_REDIRECT, 1, IP(10, 0, 0, 3), quote, qlen);
	inject_icmp(e, OUR_IP, NULL, icmp, n);
	assert_int_equal(errlog.n, 3);
	assert_int_equal(mib(e, NP_MIB_IcmpInRedirects), 1);
	assert_int_equal(mib(e, NP_MIB_IcmpInDestUnreachs), 3);
	assert_int_equal(e->cap->n, 0);   /* errors are never answered */

	inet_del_protocol(e->s, 253);
	assert_null(e->s->inet_protos[253]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_echo_reply_content, setup, teardown),
		cmocka_unit_test_setup_teardown(test_checksum_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_type_dropped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_echo_ignore_all, setup, teardown),
		cmocka_unit_test_setup_teardown(test_echo_to_broadcast, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_error_about_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_error_to_broadcast, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_error_about_fragment_or_bad_source, setup, teardown),
		cmocka_unit_test_setup_teardown(test_error_quotes_up_to_576, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rate_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ping, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ping_self_through_lo, setup, teardown),
		cmocka_unit_test_setup_teardown(test_errors_to_transport, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
