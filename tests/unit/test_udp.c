/*
 * UDP (src/net/udp/udp.c) on one stack: datagrams enter as a driver would
 * hand them up (netif_receive_skb on a test Ethernet device whose
 * ndo_start_xmit captures what the stack sends), sockets are driven through
 * the np_* socket API, and the lookup table through udp_prot directly.
 * Covers RFC 768 length rules, RFC 1122 4.1.3.4 checksums, port unreachable
 * (4.1.3.1, never for broadcast), receive-buffer overflow, the lookup
 * preference (connected > bound > wildcard), SO_REUSEPORT spreading,
 * EADDRINUSE, ephemeral ports (RFC 6056), ICMP errors (4.1.3.3) and sending.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "core/netdevice.h"
#include "core/skbuff.h"
#include "core/stack.h"
#include "net/ipv4/neighbour.h"
#include "net/ipv4/route.h"
#include "net/udp/udp.h"
#include "netpath/netpath.h"
#include "netpath/socket.h"
#include "socket/sock.h"
#include "wire/checksum.h"
#include "wire/eth.h"
#include "wire/icmp.h"
#include "wire/ipv4.h"
#include "wire/udp.h"

#define OUR_IP IP(10, 0, 0, 1)
#define PEER_IP IP(10, 0, 0, 2)
#define OTHER_IP IP(10, 0, 0, 3)
#define BCAST_IP IP(10, 0, 0, 255)
#define LO_IP IP(127, 0, 0, 1)
#define MAX_CAP 256
#include "capdev.h"

static const uint8_t peer_mac[6] = { 0x02, 0, 0, 0, 0, 0x02 };
static const uint8_t other_mac[6] = { 0x02, 0, 0, 0, 0, 0x03 };
static const uint8_t bcast_mac[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

struct env {
	struct np_clock *clk;
	struct np_stack *s;
	struct net_device *dev;
	struct cap *cap;
	int own_udp;            /* we called udp_init (the socket layer's inet_init did not) */
};

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	e->clk = np_clock_virtual(NSEC_PER_SEC);
	struct np_stack_config cfg = { .name = "udp", .clock = e->clk, .seed = 11 };
	e->s = np_stack_create(&cfg);
	assert_non_null(e->s);
	if (!e->s->udp_table) {
		assert_int_equal(udp_init(e->s), 0);
		e->own_udp = 1;
	}
	e->dev = capdev_add(e->s, "eth0");
	assert_non_null(e->dev);
	e->cap = e->dev->priv;
	assert_int_equal(inet_addr_add(e->dev, OUR_IP, 24), 0);
	assert_int_equal(neigh_add_permanent(e->s, e->dev, PEER_IP, peer_mac), 0);
	assert_int_equal(neigh_add_permanent(e->s, e->dev, OTHER_IP, other_mac), 0);
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;
	if (e->own_udp)
		udp_free(e->s);
	np_stack_destroy(e->s);
	np_clock_destroy(e->clk);
	free(e);
	return 0;
}

static uint64_t mib(struct env *e, enum np_mib_field f) { return np_stack_mib(e->s, f); }
static uint64_t drops(struct env *e, enum np_drop_reason r) { return np_stack_drops(e->s, r); }

static void pump(struct env *e)
{
	for (int i = 0; i < 100 && np_stack_poll(e->s) > 0; i++)
		;
}

/* ---- frames ---- */

enum csum_mode { CSUM_GOOD, CSUM_ZERO, CSUM_BAD };

struct udpf {
	uint32_t src, dst;
	uint16_t sport, dport;
	const void *payload;
	size_t plen;
	enum csum_mode csum;
	int ulen_override;      /* nonzero: write this into the length field (after the checksum) */
	size_t extra;           /* bytes of trailing garbage after the datagram, inside the IP payload */
	size_t raw_len;         /* nonzero: IP payload is just this many bytes of the header (runts) */
	int bcast;              /* Ethernet broadcast */
	const uint8_t *src_mac;
};

/* Ethernet + IPv4 + UDP as described; returns the frame length. */
static size_t mk_udp_frame(struct env *e, uint8_t *f, const struct udpf *u)
{
	uint8_t l4[2048];
	size_t l4len = UDP_HLEN + u->plen;

	if (u->plen)
		memcpy(l4 + UDP_HLEN, u->payload, u->plen);
	assert_int_equal(udp_emit(u->sport, u->dport, u->plen, u->src, u->dst, l4, sizeof(l4)), UDP_HLEN);
	if (u->csum == CSUM_ZERO)
		be16_put(l4 + 6, 0);
	else if (u->csum == CSUM_BAD)
		be16_put(l4 + 6, (uint16_t)(be16_get(l4 + 6) ^ 0x5a5a));
	if (u->ulen_override)
		be16_put(l4 + 4, (uint16_t)u->ulen_override);
	for (size_t i = 0; i < u->extra; i++)
		l4[l4len++] = (uint8_t)(0xE0 + i);
	if (u->raw_len)
		l4len = u->raw_len;

	struct eth_repr eth = { .ethertype = ETH_P_IP };
	memcpy(eth.dst, u->bcast ? bcast_mac : e->dev->dev_addr, 6);
	memcpy(eth.src, u->src_mac ? u->src_mac : peer_mac, 6);
	eth_emit(&eth, f, ETH_HLEN);
	struct ipv4_repr ip = {
		.tot_len = (uint16_t)(IPV4_HLEN_MIN + l4len),
		.id = 0x4321,
		.ttl = 64,
		.protocol = IPPROTO_UDP_,
		.saddr = u->src,
		.daddr = u->dst,
	};
	assert_int_equal(ipv4_emit(&ip, f + ETH_HLEN, IPV4_HLEN_MIN), IPV4_HLEN_MIN);
	memcpy(f + ETH_HLEN + IPV4_HLEN_MIN, l4, l4len);
	return ETH_HLEN + IPV4_HLEN_MIN + l4len;
}

/* Hands a frame up as a non-NAPI driver would (netif_rx starts its trace), then runs the stack. */
static void inject_frame(struct env *e, const uint8_t *f, size_t len)
{
	struct sk_buff *skb = netdev_alloc_skb_copy(e->dev, f, (uint32_t)len);
	assert_non_null(skb);
	assert_int_equal(netif_rx(skb), 0);
	pump(e);
}

static void inject(struct env *e, const struct udpf *u)
{
	uint8_t f[2200];
	inject_frame(e, f, mk_udp_frame(e, f, u));
}

/* A plain datagram from the peer with payload "data". */
static void inject_simple(struct env *e, uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport)
{
	struct udpf u = { .src = src, .dst = dst, .sport = sport, .dport = dport, .payload = "data", .plen = 4 };
	if (src == OTHER_IP)
		u.src_mac = other_mac;
	if (dst == BCAST_IP)
		u.bcast = 1;
	inject(e, &u);
}

/* ---- sockets ---- */

static struct sockaddr_in sin_of(uint32_t addr, uint16_t port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	a.sin_addr.s_addr = htonl(addr);
	return a;
}

static int new_sock(struct env *e, int reuseaddr, int reuseport)
{
	int fd = np_socket(e->s, AF_INET, SOCK_DGRAM, 0);
	assert_true(fd >= 0);
	int one = 1;
	if (reuseaddr)
		assert_int_equal(np_setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)), 0);
	if (reuseport)
		assert_int_equal(np_setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)), 0);
	return fd;
}

static int bind_to(int fd, uint32_t addr, uint16_t port)
{
	struct sockaddr_in a = sin_of(addr, port);
	return np_bind(fd, (struct sockaddr *)&a, sizeof(a));
}

static int bound_sock(struct env *e, uint32_t addr, uint16_t port, int reuseaddr, int reuseport)
{
	int fd = new_sock(e, reuseaddr, reuseport);
	assert_int_equal(bind_to(fd, addr, port), 0);
	return fd;
}

static uint16_t local_port(int fd)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	assert_int_equal(np_getsockname(fd, (struct sockaddr *)&a, &len), 0);
	assert_int_equal(len, sizeof(a));
	return ntohs(a.sin_port);
}

/* Datagrams waiting on fd (drains it). */
static int drain(int fd)
{
	char buf[2048];
	int n = 0;
	while (np_recv(fd, buf, sizeof(buf), MSG_DONTWAIT) >= 0)
		n++;
	assert_int_equal(errno, EAGAIN);
	return n;
}

/* ---- RFC 768 lengths ---- */

static void test_runt_dropped(void **state)
{
	struct env *e = *state;
	int fd = bound_sock(e, 0, 5000, 0, 0);
	uint64_t inerr = mib(e, NP_MIB_UdpInErrors), bad = drops(e, NP_DROP_UDP_BAD_LEN);

	/* Six bytes of UDP header: shorter than the header itself. */
	struct udpf u = { .src = PEER_IP, .dst = OUR_IP, .sport = 1, .dport = 5000, .raw_len = 6 };
	inject(e, &u);
	assert_int_equal(mib(e, NP_MIB_UdpInErrors), inerr + 1);
	assert_int_equal(drops(e, NP_DROP_UDP_BAD_LEN), bad + 1);
	assert_int_equal(drain(fd), 0);
	np_close(fd);
}

static void test_length_field_too_big(void **state)
{
	struct env *e = *state;
	int fd = bound_sock(e, 0, 5000, 0, 0);
	uint64_t inerr = mib(e, NP_MIB_UdpInErrors), bad = drops(e, NP_DROP_UDP_BAD_LEN);
	uint64_t indg = mib(e, NP_MIB_UdpInDatagrams);

	/* Length claims 20 bytes more than IP carried. */
	struct udpf u = { .src = PEER_IP, .dst = OUR_IP, .sport = 1, .dport = 5000, .payload = "0123456789",
			  .plen = 10, .ulen_override = UDP_HLEN + 30 };
	inject(e, &u);
	/* And a length field below the header size. */
	u.ulen_override = 4;
	inject(e, &u);
	assert_int_equal(mib(e, NP_MIB_UdpInErrors), inerr + 2);
	assert_int_equal(drops(e, NP_DROP_UDP_BAD_LEN), bad + 2);
	assert_int_equal(mib(e, NP_MIB_UdpInDatagrams), indg);
	assert_int_equal(drain(fd), 0);
	np_close(fd);
}

static void test_shorter_length_field_trims(void **state)
{
	struct env *e = *state;
	int fd = bound_sock(e, 0, 5000, 0, 0);
	uint64_t inerr = mib(e, NP_MIB_UdpInErrors);

	/* A 4-byte datagram (checksum over it alone) followed by 6 bytes of IP payload that are not UDP's. */
	struct udpf u = { .src = PEER_IP, .dst = OUR_IP, .sport = 1234, .dport = 5000, .payload = "abcd", .plen = 4,
			  .extra = 6 };
	inject(e, &u);
	char buf[64];
	struct sockaddr_in from;
	socklen_t flen = sizeof(from);
	ssize_t n = np_recvfrom(fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from, &flen);
	assert_int_equal(n, 4);
	assert_memory_equal(buf, "abcd", 4);
	assert_int_equal(flen, sizeof(from));
	assert_int_equal(from.sin_family, AF_INET);
	assert_int_equal(ntohl(from.sin_addr.s_addr), PEER_IP);
	assert_int_equal(ntohs(from.sin_port), 1234);
	assert_int_equal(mib(e, NP_MIB_UdpInErrors), inerr);
	np_close(fd);
}

/* ---- RFC 1122 4.1.3.4 checksums ---- */

static void test_bad_checksum_dropped(void **state)
{
	struct env *e = *state;
	int fd = bound_sock(e, 0, 5000, 0, 0);
	uint64_t inerr = mib(e, NP_MIB_UdpInErrors), csum = mib(e, NP_MIB_UdpInCsumErrors);
	uint64_t dr = drops(e, NP_DROP_UDP_CSUM), noports = mib(e, NP_MIB_UdpNoPorts);

	struct udpf u = { .src = PEER_IP, .dst = OUR_IP, .sport = 1, .dport = 5000, .payload = "abcd", .plen = 4,
			  .csum = CSUM_BAD };
	inject(e, &u);
	/* Silently: no socket sees it, no ICMP goes out, even to a closed port. */
	u.dport = 5001;
	cap_clear(e->cap);
	inject(e, &u);
	assert_int_equal(e->cap->n, 0);
	assert_int_equal(mib(e, NP_MIB_UdpInCsumErrors), csum + 2);
	assert_int_equal(mib(e, NP_MIB_UdpInErrors), inerr + 2);
	assert_int_equal(drops(e, NP_DROP_UDP_CSUM), dr + 2);
	assert_int_equal(mib(e, NP_MIB_UdpNoPorts), noports);
	assert_int_equal(drain(fd), 0);
	np_close(fd);
}

static void test_zero_checksum_accepted(void **state)
{
	struct env *e = *state;
	int fd = bound_sock(e, 0, 5000, 0, 0);
	uint64_t indg = mib(e, NP_MIB_UdpInDatagrams);

	struct udpf u = { .src = PEER_IP, .dst = OUR_IP, .sport = 1, .dport = 5000, .payload = "zero", .plen = 4,
			  .csum = CSUM_ZERO };
	inject(e, &u);
	char buf[16];
	assert_int_equal(np_recv(fd, buf, sizeof(buf), MSG_DONTWAIT), 4);
	assert_memory_equal(buf, "zero", 4);
	assert_int_equal(mib(e, NP_MIB_UdpInDatagrams), indg + 1);
	np_close(fd);
}

/* ---- no socket ---- */

static void test_no_socket_port_unreachable(void **state)
{
	struct env *e = *state;
	uint64_t noports = mib(e, NP_MIB_UdpNoPorts), dr = drops(e, NP_DROP_NO_SOCKET);
	uint64_t outdu = mib(e, NP_MIB_IcmpOutDestUnreachs);

	cap_clear(e->cap);
	struct udpf u = { .src = PEER_IP, .dst = OUR_IP, .sport = 40000, .dport = 6000, .payload = "knock",
			  .plen = 5 };
	inject(e, &u);
	assert_int_equal(mib(e, NP_MIB_UdpNoPorts), noports + 1);
	assert_int_equal(drops(e, NP_DROP_NO_SOCKET), dr + 1);
	assert_int_equal(mib(e, NP_MIB_IcmpOutDestUnreachs), outdu + 1);
	assert_int_equal(e->cap->n, 1);

	const uint8_t *f = e->cap->frame[0];
	size_t len = e->cap->len[0];
	struct eth_repr eth;
	struct ipv4_repr ip;
	struct icmp_repr ic;
	assert_int_equal(eth_parse(f, len, &eth), 0);
	assert_memory_equal(eth.dst, peer_mac, 6);
	assert_int_equal(ipv4_parse(f + ETH_HLEN, len - ETH_HLEN, &ip), 0);
	assert_int_equal(ip.protocol, IPPROTO_ICMP_);
	assert_int_equal(ip.saddr, OUR_IP);
	assert_int_equal(ip.daddr, PEER_IP);
	assert_int_equal(icmp_parse(f + ETH_HLEN + ip.ihl, ip.tot_len - ip.ihl, &ic), 0);
	assert_int_equal(ic.type, ICMP_DEST_UNREACH);
	assert_int_equal(ic.code, ICMP_PORT_UNREACH);
	/* RFC 792: the quoted IP header and at least 8 bytes of the datagram (here all of it). */
	assert_true(ic.payload_len >= IPV4_HLEN_MIN + UDP_HLEN);
	struct ipv4_repr q;
	assert_int_equal(ipv4_parse(ic.payload, ic.payload_len, &q), 0);
	assert_int_equal(q.saddr, PEER_IP);
	assert_int_equal(q.daddr, OUR_IP);
	assert_int_equal(q.protocol, IPPROTO_UDP_);
	assert_int_equal(be16_get(ic.payload + q.ihl), 40000);
	assert_int_equal(be16_get(ic.payload + q.ihl + 2), 6000);
	cap_clear(e->cap);
}

static void test_no_icmp_for_broadcast(void **state)
{
	struct env *e = *state;
	uint64_t noports = mib(e, NP_MIB_UdpNoPorts), dr = drops(e, NP_DROP_NO_SOCKET);
	uint64_t outmsgs = mib(e, NP_MIB_IcmpOutMsgs);

	cap_clear(e->cap);
	/* Subnet broadcast and limited broadcast, both in Ethernet broadcast frames. */
	inject_simple(e, PEER_IP, 40000, BCAST_IP, 6000);
	struct udpf u = { .src = PEER_IP, .dst = 0xffffffffu, .sport = 40000, .dport = 6000, .payload = "x",
			  .plen = 1, .bcast = 1 };
	inject(e, &u);
	assert_int_equal(e->cap->n, 0);
	assert_int_equal(mib(e, NP_MIB_IcmpOutMsgs), outmsgs);
	/* Linux counts these as UdpIgnoredMulti, not UdpNoPorts. */
	assert_int_equal(mib(e, NP_MIB_UdpNoPorts), noports);
	assert_int_equal(drops(e, NP_DROP_NO_SOCKET), dr + 2);
}

/* ---- receive buffer ---- */

static void test_rcvbuf_overflow(void **state)
{
	struct env *e = *state;
	int fd = bound_sock(e, 0, 5100, 0, 0);
	int small = 4096;
	assert_int_equal(np_setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
	uint64_t rcvbuf = mib(e, NP_MIB_UdpRcvbufErrors), inerr = mib(e, NP_MIB_UdpInErrors);
	uint64_t dr = drops(e, NP_DROP_SOCKET_RCVBUFF), indg = mib(e, NP_MIB_UdpInDatagrams);

	static char payload[1000];
	const int sent = 100;
	for (int i = 0; i < sent; i++) {
		struct udpf u = { .src = PEER_IP, .dst = OUR_IP, .sport = 2000, .dport = 5100, .payload = payload,
				  .plen = sizeof(payload) };
		inject(e, &u);
	}
	int got = drain(fd);
	int lost = sent - got;
	assert_true(got >= 1);
	assert_true(lost > 0);
	assert_int_equal(mib(e, NP_MIB_UdpRcvbufErrors), rcvbuf + (uint64_t)lost);
	assert_int_equal(mib(e, NP_MIB_UdpInErrors), inerr + (uint64_t)lost);
	assert_int_equal(drops(e, NP_DROP_SOCKET_RCVBUFF), dr + (uint64_t)lost);
	assert_int_equal(mib(e, NP_MIB_UdpInDatagrams), indg + (uint64_t)got);
	/* Once drained, the socket takes datagrams again. */
	inject_simple(e, PEER_IP, 2000, OUR_IP, 5100);
	assert_int_equal(drain(fd), 1);
	np_close(fd);
}

/* ---- lookup ---- */

static void test_lookup_preference(void **state)
{
	struct env *e = *state;
	/* Three sockets on port 7000 (SO_REUSEADDR lets them share it). */
	int w = bound_sock(e, 0, 7000, 1, 0);
	int b = bound_sock(e, OUR_IP, 7000, 1, 0);
	int c = bound_sock(e, OUR_IP, 7000, 1, 0);
	struct sockaddr_in peer = sin_of(PEER_IP, 9000);
	assert_int_equal(np_connect(c, (struct sockaddr *)&peer, sizeof(peer)), 0);

	/* The connected socket's exact 4-tuple beats everything. */
	inject_simple(e, PEER_IP, 9000, OUR_IP, 7000);
	assert_int_equal(drain(c), 1);
	assert_int_equal(drain(b), 0);
	assert_int_equal(drain(w), 0);

	/* Another peer port or peer: the socket bound to the address beats the wildcard. */
	inject_simple(e, PEER_IP, 9001, OUR_IP, 7000);
	inject_simple(e, OTHER_IP, 9000, OUR_IP, 7000);
	assert_int_equal(drain(c), 0);
	assert_int_equal(drain(b), 2);
	assert_int_equal(drain(w), 0);

	/* Broadcast: only sockets whose bound address is the wildcard (or the broadcast) see it. */
	inject_simple(e, PEER_IP, 9000, BCAST_IP, 7000);
	assert_int_equal(drain(w), 1);
	assert_int_equal(drain(b), 0);
	assert_int_equal(drain(c), 0);

	/* With the bound socket gone, the wildcard takes its datagrams. */
	np_close(b);
	inject_simple(e, PEER_IP, 9001, OUR_IP, 7000);
	assert_int_equal(drain(w), 1);
	assert_int_equal(drain(c), 0);

	/* Disconnect (AF_UNSPEC): c is an ordinary bound socket again, and the newest bound one wins ties. */
	struct sockaddr unspec = { .sa_family = AF_UNSPEC };
	assert_int_equal(np_connect(c, &unspec, sizeof(unspec)), 0);
	inject_simple(e, PEER_IP, 9000, OUR_IP, 7000);
	assert_int_equal(drain(c), 1);
	assert_int_equal(drain(w), 0);
	np_close(c);
	np_close(w);
}

static void test_broadcast_to_every_socket(void **state)
{
	struct env *e = *state;
	int a = bound_sock(e, 0, 7100, 1, 0);
	int b = bound_sock(e, 0, 7100, 1, 0);
	int c = bound_sock(e, 0xffffffffu, 7100, 1, 0);
	int d = bound_sock(e, OUR_IP, 7100, 1, 0);
	uint64_t indg = mib(e, NP_MIB_UdpInDatagrams);

	/* Every wildcard socket gets its own copy; one bound to a unicast address does not. */
	inject_simple(e, PEER_IP, 9000, BCAST_IP, 7100);
	assert_int_equal(drain(a), 1);
	assert_int_equal(drain(b), 1);
	assert_int_equal(drain(c), 0);
	assert_int_equal(drain(d), 0);
	assert_int_equal(mib(e, NP_MIB_UdpInDatagrams), indg + 2);
	/* The limited broadcast also reaches the socket bound to 255.255.255.255. */
	struct udpf u = { .src = PEER_IP, .dst = 0xffffffffu, .sport = 9000, .dport = 7100, .payload = "x",
			  .plen = 1, .bcast = 1 };
	inject(e, &u);
	assert_int_equal(drain(a), 1);
	assert_int_equal(drain(b), 1);
	assert_int_equal(drain(c), 1);
	assert_int_equal(drain(d), 0);
	/* A unicast datagram goes to one of them only: the one bound to the address. */
	inject_simple(e, PEER_IP, 9000, OUR_IP, 7100);
	assert_int_equal(drain(d), 1);
	assert_int_equal(drain(a) + drain(b) + drain(c), 0);
	np_close(a);
	np_close(b);
	np_close(c);
	np_close(d);
}

static void test_reuseport_distribution(void **state)
{
	struct env *e = *state;
	enum { N = 4, FLOWS = 400 };
	int fd[N], got[N];
	for (int i = 0; i < N; i++)
		fd[i] = bound_sock(e, 0, 8000, 0, 1);
	/* A socket without SO_REUSEPORT cannot join. */
	int intruder = new_sock(e, 0, 0);
	assert_int_equal(bind_to(intruder, 0, 8000), -1);
	assert_int_equal(errno, EADDRINUSE);
	np_close(intruder);

	for (int f = 0; f < FLOWS; f++)
		inject_simple(e, PEER_IP, (uint16_t)(10000 + f), OUR_IP, 8000);
	int total = 0;
	for (int i = 0; i < N; i++) {
		got[i] = drain(fd[i]);
		total += got[i];
		/* Hashing spreads the flows: each member gets a fair share (expected 100). */
		assert_true(got[i] >= FLOWS / N / 2);
	}
	assert_int_equal(total, FLOWS);

	/* One flow always lands on the same member. */
	for (int k = 0; k < 20; k++)
		inject_simple(e, PEER_IP, 5555, OUR_IP, 8000);
	int members = 0;
	for (int i = 0; i < N; i++) {
		int n = drain(fd[i]);
		if (n) {
			members++;
			assert_int_equal(n, 20);
		}
	}
	assert_int_equal(members, 1);

	/* A member leaving: the others still take every flow. */
	np_close(fd[0]);
	for (int f = 0; f < 40; f++)
		inject_simple(e, PEER_IP, (uint16_t)(20000 + f), OUR_IP, 8000);
	assert_int_equal(drain(fd[1]) + drain(fd[2]) + drain(fd[3]), 40);
	for (int i = 1; i < N; i++)
		np_close(fd[i]);
}

/* ---- bind ---- */

static void test_eaddrinuse(void **state)
{
	struct env *e = *state;

	/* The wildcard overlaps every address. */
	int a = bound_sock(e, 0, 9000, 0, 0);
	int x = new_sock(e, 0, 0);
	assert_int_equal(bind_to(x, OUR_IP, 9000), -1);
	assert_int_equal(errno, EADDRINUSE);
	assert_int_equal(bind_to(x, LO_IP, 9000), -1);
	assert_int_equal(errno, EADDRINUSE);
	np_close(x);

	/* Distinct addresses share a port; the wildcard then clashes with both. */
	int c = bound_sock(e, OUR_IP, 9100, 0, 0);
	int d = bound_sock(e, LO_IP, 9100, 0, 0);
	x = new_sock(e, 0, 0);
	assert_int_equal(bind_to(x, 0, 9100), -1);
	assert_int_equal(errno, EADDRINUSE);
	assert_int_equal(bind_to(x, OUR_IP, 9100), -1);
	assert_int_equal(errno, EADDRINUSE);
	np_close(x);

	/* SO_REUSEADDR shares only when both sockets set it. */
	int f = bound_sock(e, 0, 9200, 1, 0);
	x = new_sock(e, 0, 0);
	assert_int_equal(bind_to(x, 0, 9200), -1);
	assert_int_equal(errno, EADDRINUSE);
	np_close(x);
	int h = bound_sock(e, OUR_IP, 9200, 1, 0);

	/* SO_REUSEPORT likewise. */
	int i = bound_sock(e, 0, 9300, 0, 1);
	int j = bound_sock(e, 0, 9300, 0, 1);
	x = new_sock(e, 1, 0);
	assert_int_equal(bind_to(x, 0, 9300), -1);
	assert_int_equal(errno, EADDRINUSE);
	np_close(x);

	/* Closing releases the port. */
	np_close(a);
	x = bound_sock(e, OUR_IP, 9000, 0, 0);
	assert_int_equal(local_port(x), 9000);
	np_close(x);
	np_close(c);
	np_close(d);
	np_close(f);
	np_close(h);
	np_close(i);
	np_close(j);
}

static void test_ephemeral_ports(void **state)
{
	struct env *e = *state;
	enum { N = 600 };
	static int fd[N];
	static uint8_t seen[65536];
	memset(seen, 0, sizeof(seen));

	for (int i = 0; i < N; i++) {
		fd[i] = bound_sock(e, 0, 0, 0, 0);
		uint16_t p = local_port(fd[i]);
		assert_true(p >= UDP_EPHEMERAL_LOW && p <= UDP_EPHEMERAL_HIGH);
		assert_false(seen[p]);
		seen[p] = 1;
	}
	/* Not a simple counter: consecutive binds do not get consecutive ports every time. */
	int sequential = 0;
	for (int i = 1; i < N; i++)
		if (local_port(fd[i]) == local_port(fd[i - 1]) + 1)
			sequential++;
	assert_true(sequential < N / 2);
	for (int i = 0; i < N; i++)
		np_close(fd[i]);

	/* connect on an unbound socket binds it too; toward one peer the ports never repeat. */
	memset(seen, 0, sizeof(seen));
	struct sockaddr_in dns = sin_of(PEER_IP, 53);
	for (int i = 0; i < 100; i++) {
		fd[i] = new_sock(e, 0, 0);
		assert_int_equal(np_connect(fd[i], (struct sockaddr *)&dns, sizeof(dns)), 0);
		uint16_t p = local_port(fd[i]);
		assert_true(p >= UDP_EPHEMERAL_LOW && p <= UDP_EPHEMERAL_HIGH);
		assert_false(seen[p]);
		seen[p] = 1;
	}
	for (int i = 0; i < 100; i++)
		np_close(fd[i]);

	/* sendto on an unbound socket binds it to an ephemeral port first. */
	int s = new_sock(e, 0, 0);
	struct sockaddr_in peer = sin_of(PEER_IP, 53);
	assert_int_equal(np_sendto(s, "q", 1, 0, (struct sockaddr *)&peer, sizeof(peer)), 1);
	uint16_t p = local_port(s);
	assert_true(p >= UDP_EPHEMERAL_LOW && p <= UDP_EPHEMERAL_HIGH);
	np_close(s);
	cap_clear(e->cap);
}

/* Exhausting the range through udp_prot directly (no descriptors needed). */
static void test_ephemeral_exhaustion(void **state)
{
	struct env *e = *state;
	const int range = UDP_EPHEMERAL_HIGH - UDP_EPHEMERAL_LOW + 1;
	struct sock **sk = calloc((size_t)range + 1, sizeof(*sk));
	assert_non_null(sk);

	np_stack_lock(e->s);
	for (int i = 0; i <= range; i++) {
		sk[i] = sk_alloc(e->s, AF_INET, &udp_prot);
		assert_non_null(sk[i]);
		int err = udp_prot.get_port(sk[i], 0);
		if (i < range) {
			assert_int_equal(err, 0);
		} else {
			/* Every port taken: bind(0) fails (inet_autobind turns this into EAGAIN). */
			assert_int_equal(err, -EADDRINUSE);
		}
	}
	/* Freeing one port makes it the only one available. */
	uint16_t freed = sk[range / 2]->inet_num;
	udp_prot.unhash(sk[range / 2]);
	assert_int_equal(sk[range / 2]->inet_num, 0);
	assert_int_equal(udp_prot.get_port(sk[range], 0), 0);
	assert_int_equal(sk[range]->inet_num, freed);
	for (int i = 0; i <= range; i++) {
		udp_prot.unhash(sk[i]);
		sock_put(sk[i]);
	}
	np_stack_unlock(e->s);
	free(sk);
}

/* __udp4_lib_lookup directly: scores, devices and the wildcard fallback. */
static void test_lookup_direct(void **state)
{
	struct env *e = *state;

	np_stack_lock(e->s);
	struct sock *wild = sk_alloc(e->s, AF_INET, &udp_prot);
	struct sock *devb = sk_alloc(e->s, AF_INET, &udp_prot);
	struct sock *addr = sk_alloc(e->s, AF_INET, &udp_prot);
	assert_non_null(wild);
	assert_non_null(devb);
	assert_non_null(addr);
	wild->sk_flags |= SOCK_REUSEADDR_;
	devb->sk_flags |= SOCK_REUSEADDR_;
	addr->sk_flags |= SOCK_REUSEADDR_;
	assert_int_equal(udp_prot.get_port(wild, 7200), 0);
	devb->bound_dev_if = e->dev->ifindex;
	assert_int_equal(udp_prot.get_port(devb, 7200), 0);

	/* A wildcard socket bound to the arrival device beats an unbound one ... */
	assert_ptr_equal(__udp4_lib_lookup(e->s, PEER_IP, 1, OUR_IP, 7200, e->dev), devb);
	/* ... and is out of the running on another device. */
	assert_ptr_equal(__udp4_lib_lookup(e->s, PEER_IP, 1, LO_IP, 7200, e->s->loopback_dev), wild);
	/* A socket bound to the exact address wins over any wildcard. */
	addr->inet_rcv_saddr = addr->inet_saddr = OUR_IP;
	assert_int_equal(udp_prot.get_port(addr, 7200), 0);
	assert_ptr_equal(__udp4_lib_lookup(e->s, PEER_IP, 1, OUR_IP, 7200, e->dev), addr);
	assert_ptr_equal(__udp4_lib_lookup(e->s, PEER_IP, 1, LO_IP, 7200, e->s->loopback_dev), wild);
	/* Nothing on another port. */
	assert_null(__udp4_lib_lookup(e->s, PEER_IP, 1, OUR_IP, 7201, e->dev));

	/* Connected: only its peer matches it, everyone else falls through. */
	struct sockaddr_in peer = sin_of(PEER_IP, 4444);
	assert_int_equal(udp_prot.connect(addr, (struct sockaddr *)&peer, sizeof(peer)), 0);
	assert_int_equal(addr->sk_state, TCP_ESTABLISHED_);
	assert_ptr_equal(__udp4_lib_lookup(e->s, PEER_IP, 4444, OUR_IP, 7200, e->dev), addr);
	assert_ptr_equal(__udp4_lib_lookup(e->s, PEER_IP, 4445, OUR_IP, 7200, e->dev), devb);

	struct sock *all[] = { wild, devb, addr };
	for (int i = 0; i < 3; i++) {
		udp_prot.unhash(all[i]);
		sock_put(all[i]);
	}
	assert_null(__udp4_lib_lookup(e->s, PEER_IP, 4444, OUR_IP, 7200, e->dev));
	np_stack_unlock(e->s);
}

/* Many connected sockets on one local port: each gets exactly its own peer's datagrams. */
static void test_many_connected(void **state)
{
	struct env *e = *state;
	enum { N = 64 };
	int server = bound_sock(e, 0, 7300, 1, 0);
	int fd[N];
	for (int i = 0; i < N; i++) {
		fd[i] = bound_sock(e, OUR_IP, 7300, 1, 0);
		struct sockaddr_in peer = sin_of(PEER_IP, (uint16_t)(30000 + i));
		assert_int_equal(np_connect(fd[i], (struct sockaddr *)&peer, sizeof(peer)), 0);
	}
	for (int i = N - 1; i >= 0; i--)
		inject_simple(e, PEER_IP, (uint16_t)(30000 + i), OUR_IP, 7300);
	inject_simple(e, PEER_IP, 29999, OUR_IP, 7300);
	for (int i = 0; i < N; i++)
		assert_int_equal(drain(fd[i]), 1);
	assert_int_equal(drain(server), 1);
	for (int i = 0; i < N; i++)
		np_close(fd[i]);
	np_close(server);
}

/* ---- ICMP errors (RFC 1122 4.1.3.3) ---- */

/* An ICMP error from the peer quoting a datagram we sent from sport to PEER_IP:dport. */
static void inject_icmp_error_rest(struct env *e, uint8_t type, uint8_t code, uint32_t rest, uint16_t sport,
				   uint16_t dport)
{
	uint8_t quote[IPV4_HLEN_MIN + UDP_HLEN + 4];
	struct ipv4_repr qip = {
		.tot_len = sizeof(quote),
		.ttl = 64,
		.protocol = IPPROTO_UDP_,
		.saddr = OUR_IP,
		.daddr = PEER_IP,
	};
	ipv4_emit(&qip, quote, IPV4_HLEN_MIN);
	udp_emit(sport, dport, 4, OUR_IP, PEER_IP, quote + IPV4_HLEN_MIN, UDP_HLEN + 4);
	uint8_t l4[128];
	struct icmp_repr ic = { .type = type, .code = code, .rest = rest, .payload = quote, .payload_len = sizeof(quote) };
	size_t l4len = icmp_emit(&ic, l4, sizeof(l4));

	uint8_t f[256];
	struct eth_repr eth = { .ethertype = ETH_P_IP };
	memcpy(eth.dst, e->dev->dev_addr, 6);
	memcpy(eth.src, peer_mac, 6);
	eth_emit(&eth, f, ETH_HLEN);
	struct ipv4_repr ip = {
		.tot_len = (uint16_t)(IPV4_HLEN_MIN + l4len),
		.ttl = 64,
		.protocol = IPPROTO_ICMP_,
		.saddr = PEER_IP,
		.daddr = OUR_IP,
	};
	ipv4_emit(&ip, f + ETH_HLEN, IPV4_HLEN_MIN);
	memcpy(f + ETH_HLEN + IPV4_HLEN_MIN, l4, l4len);
	inject_frame(e, f, ETH_HLEN + IPV4_HLEN_MIN + l4len);
}

static void inject_icmp_error(struct env *e, uint8_t type, uint8_t code, uint16_t sport, uint16_t dport)
{
	inject_icmp_error_rest(e, type, code, 0, sport, dport);
}

static void test_icmp_errors(void **state)
{
	struct env *e = *state;
	char buf[16];

	int conn = bound_sock(e, 0, 4001, 0, 0);
	struct sockaddr_in peer = sin_of(PEER_IP, 5001);
	assert_int_equal(np_connect(conn, (struct sockaddr *)&peer, sizeof(peer)), 0);
	int unconn = bound_sock(e, 0, 4002, 0, 0);

	/* Port unreachable: a hard error, reported once by the connected socket's next call. */
	inject_icmp_error(e, ICMP_DEST_UNREACH, ICMP_PORT_UNREACH, 4001, 5001);
	assert_int_equal(np_recv(conn, buf, sizeof(buf), MSG_DONTWAIT), -1);
	assert_int_equal(errno, ECONNREFUSED);
	assert_int_equal(np_recv(conn, buf, sizeof(buf), MSG_DONTWAIT), -1);
	assert_int_equal(errno, EAGAIN);

	/* ... and on the next send instead, if that comes first. */
	inject_icmp_error(e, ICMP_DEST_UNREACH, ICMP_PORT_UNREACH, 4001, 5001);
	cap_clear(e->cap);
	assert_int_equal(np_send(conn, "x", 1, 0), -1);
	assert_int_equal(errno, ECONNREFUSED);
	assert_int_equal(e->cap->n, 0);
	assert_int_equal(np_send(conn, "x", 1, 0), 1);
	pump(e);
	assert_int_equal(e->cap->n, 1);
	cap_clear(e->cap);

	/* Host unreachable is a soft error: Linux does not report it without IP_RECVERR. */
	inject_icmp_error(e, ICMP_DEST_UNREACH, ICMP_HOST_UNREACH, 4001, 5001);
	assert_int_equal(np_recv(conn, buf, sizeof(buf), MSG_DONTWAIT), -1);
	assert_int_equal(errno, EAGAIN);

	/* An unconnected socket hears nothing (RFC 1122 4.1.3.3 leaves it to the application). */
	inject_icmp_error(e, ICMP_DEST_UNREACH, ICMP_PORT_UNREACH, 4002, 5001);
	assert_int_equal(np_recv(unconn, buf, sizeof(buf), MSG_DONTWAIT), -1);
	assert_int_equal(errno, EAGAIN);

	/* Fragmentation needed (RFC 1191, next-hop MTU 1400): EMSGSIZE for a socket doing PMTU discovery. */
	inject_icmp_error_rest(e, ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED, 1400, 4001, 5001);
	assert_int_equal(np_recv(conn, buf, sizeof(buf), MSG_DONTWAIT), -1);
	assert_int_equal(errno, EMSGSIZE);
	/* ... and nothing for one that opted out (IP_PMTUDISC_DONT). */
	int dont = IP_PMTUDISC_DONT;
	assert_int_equal(np_setsockopt(conn, IPPROTO_IP, IP_MTU_DISCOVER, &dont, sizeof(dont)), 0);
	inject_icmp_error_rest(e, ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED, 1400, 4001, 5001);
	assert_int_equal(np_recv(conn, buf, sizeof(buf), MSG_DONTWAIT), -1);
	assert_int_equal(errno, EAGAIN);

	/* IP_RECVERR asks for every error, soft ones and unconnected sockets included. */
	int one = 1;
	assert_int_equal(np_setsockopt(unconn, IPPROTO_IP, IP_RECVERR, &one, sizeof(one)), 0);
	inject_icmp_error(e, ICMP_DEST_UNREACH, ICMP_HOST_UNREACH, 4002, 5001);
	assert_int_equal(np_recv(unconn, buf, sizeof(buf), MSG_DONTWAIT), -1);
	assert_int_equal(errno, EHOSTUNREACH);
	inject_icmp_error(e, ICMP_TIME_EXCEEDED, 0, 4002, 5001);
	int soerr = 0;
	socklen_t slen = sizeof(soerr);
	assert_int_equal(np_getsockopt(unconn, SOL_SOCKET, SO_ERROR, &soerr, &slen), 0);
	assert_int_equal(soerr, EHOSTUNREACH);

	/* An error about a port nobody holds is counted as a bad ICMP message. */
	uint64_t icmp_inerr = mib(e, NP_MIB_IcmpInErrors);
	inject_icmp_error(e, ICMP_DEST_UNREACH, ICMP_PORT_UNREACH, 4999, 5001);
	assert_int_equal(mib(e, NP_MIB_IcmpInErrors), icmp_inerr + 1);
	np_close(conn);
	np_close(unconn);
}

/* ---- send ---- */

static void test_sendto_builds_datagram(void **state)
{
	struct env *e = *state;
	int fd = bound_sock(e, 0, 4100, 0, 0);
	int ttl = 9;
	assert_int_equal(np_setsockopt(fd, IPPROTO_IP, IP_TTL, &ttl, sizeof(ttl)), 0);
	uint64_t out = mib(e, NP_MIB_UdpOutDatagrams);

	cap_clear(e->cap);
	struct sockaddr_in peer = sin_of(PEER_IP, 5300);
	assert_int_equal(np_sendto(fd, "payload!", 8, 0, (struct sockaddr *)&peer, sizeof(peer)), 8);
	pump(e);
	assert_int_equal(mib(e, NP_MIB_UdpOutDatagrams), out + 1);
	assert_int_equal(e->cap->n, 1);

	const uint8_t *f = e->cap->frame[0];
	size_t len = e->cap->len[0];
	struct eth_repr eth;
	struct ipv4_repr ip;
	struct udp_repr uh;
	assert_int_equal(eth_parse(f, len, &eth), 0);
	assert_memory_equal(eth.dst, peer_mac, 6);
	assert_int_equal(ipv4_parse(f + ETH_HLEN, len - ETH_HLEN, &ip), 0);
	assert_true(ipv4_csum_ok(f + ETH_HLEN, ip.ihl));
	assert_int_equal(ip.protocol, IPPROTO_UDP_);
	/* Bound to 0.0.0.0: the route chose the source. */
	assert_int_equal(ip.saddr, OUR_IP);
	assert_int_equal(ip.daddr, PEER_IP);
	assert_int_equal(ip.ttl, 9);
	const uint8_t *u = f + ETH_HLEN + ip.ihl;
	assert_int_equal(udp_parse(u, ip.tot_len - ip.ihl, &uh), 0);
	assert_int_equal(uh.sport, 4100);
	assert_int_equal(uh.dport, 5300);
	assert_int_equal(uh.len, UDP_HLEN + 8);
	assert_int_not_equal(uh.check, 0);
	assert_true(udp_csum_ok(u, &uh, ip.saddr, ip.daddr));
	assert_memory_equal(u + UDP_HLEN, "payload!", 8);
	cap_clear(e->cap);
	np_close(fd);
}

static void test_send_errors(void **state)
{
	struct env *e = *state;
	int fd = new_sock(e, 0, 0);
	static char big[65536];
	struct sockaddr_in peer = sin_of(PEER_IP, 5300);

	/* Unconnected send without an address. */
	assert_int_equal(np_send(fd, "x", 1, 0), -1);
	assert_int_equal(errno, EDESTADDRREQ);
	/* Short sockaddr, wrong family, port 0. */
	assert_int_equal(np_sendto(fd, "x", 1, 0, (struct sockaddr *)&peer, sizeof(peer) - 1), -1);
	assert_int_equal(errno, EINVAL);
	struct sockaddr_in bad = peer;
	bad.sin_family = AF_INET6;
	assert_int_equal(np_sendto(fd, "x", 1, 0, (struct sockaddr *)&bad, sizeof(bad)), -1);
	assert_int_equal(errno, EAFNOSUPPORT);
	bad = sin_of(PEER_IP, 0);
	assert_int_equal(np_sendto(fd, "x", 1, 0, (struct sockaddr *)&bad, sizeof(bad)), -1);
	assert_int_equal(errno, EINVAL);
	/* Broadcast without SO_BROADCAST. */
	struct sockaddr_in bc = sin_of(BCAST_IP, 5300);
	assert_int_equal(np_sendto(fd, "x", 1, 0, (struct sockaddr *)&bc, sizeof(bc)), -1);
	assert_int_equal(errno, EACCES);
	/* Too big for IP; too big for the MTU only with IP_PMTUDISC_DO (else ip_fragment splits it). */
	assert_int_equal(np_sendto(fd, big, 65508, 0, (struct sockaddr *)&peer, sizeof(peer)), -1);
	assert_int_equal(errno, EMSGSIZE);
	int pmtu_do = IP_PMTUDISC_DO, pmtu_want = IP_PMTUDISC_WANT;
	assert_int_equal(np_setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &pmtu_do, sizeof(pmtu_do)), 0);
	assert_int_equal(np_sendto(fd, big, 1473, 0, (struct sockaddr *)&peer, sizeof(peer)), -1);
	assert_int_equal(errno, EMSGSIZE);
	assert_int_equal(np_setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &pmtu_want, sizeof(pmtu_want)), 0);
	cap_clear(e->cap);
	assert_int_equal(np_sendto(fd, big, 1473, 0, (struct sockaddr *)&peer, sizeof(peer)), 1473);
	pump(e);
	assert_int_equal(e->cap->n, 2);
	cap_clear(e->cap);
	assert_int_equal(np_sendto(fd, big, 1472, 0, (struct sockaddr *)&peer, sizeof(peer)), 1472);
	pump(e);
	assert_int_equal(e->cap->n, 1);
	assert_int_equal(e->cap->len[0], ETH_HLEN + 1500);
	/* No route. */
	struct sockaddr_in far = sin_of(IP(192, 0, 2, 1), 53);
	assert_int_equal(np_sendto(fd, "x", 1, 0, (struct sockaddr *)&far, sizeof(far)), -1);
	assert_int_equal(errno, ENETUNREACH);
	/* After shutdown(SHUT_WR): EPIPE (MSG_NOSIGNAL: no SIGPIPE in a test). */
	assert_int_equal(np_connect(fd, (struct sockaddr *)&peer, sizeof(peer)), 0);
	assert_int_equal(np_shutdown(fd, SHUT_WR), 0);
	assert_int_equal(np_send(fd, "x", 1, MSG_NOSIGNAL), -1);
	assert_int_equal(errno, EPIPE);
	cap_clear(e->cap);
	np_close(fd);
}

/* To ourselves over lo: sendto, then recvfrom with MSG_PEEK and MSG_TRUNC. */
static void test_loopback_truncation_and_peek(void **state)
{
	struct env *e = *state;
	int rx = bound_sock(e, LO_IP, 4200, 0, 0);
	int tx = new_sock(e, 0, 0);
	struct sockaddr_in dst = sin_of(LO_IP, 4200);
	assert_int_equal(np_sendto(tx, "0123456789", 10, 0, (struct sockaddr *)&dst, sizeof(dst)), 10);
	pump(e);

	char buf[16];
	struct sockaddr_in from;
	socklen_t flen = sizeof(from);
	/* MSG_PEEK leaves it queued. */
	assert_int_equal(np_recvfrom(rx, buf, 4, MSG_PEEK | MSG_DONTWAIT, (struct sockaddr *)&from, &flen), 4);
	assert_memory_equal(buf, "0123", 4);
	assert_int_equal(ntohl(from.sin_addr.s_addr), LO_IP);
	assert_int_equal(ntohs(from.sin_port), local_port(tx));
	/* MSG_TRUNC returns the datagram's real length; the rest is discarded. */
	assert_int_equal(np_recv(rx, buf, 4, MSG_TRUNC | MSG_DONTWAIT), 10);
	assert_memory_equal(buf, "0123", 4);
	assert_int_equal(np_recv(rx, buf, sizeof(buf), MSG_DONTWAIT), -1);
	assert_int_equal(errno, EAGAIN);

	/* recvmsg says MSG_TRUNC in msg_flags. */
	assert_int_equal(np_sendto(tx, "abcdef", 6, 0, (struct sockaddr *)&dst, sizeof(dst)), 6);
	pump(e);
	struct iovec iov = { .iov_base = buf, .iov_len = 3 };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	assert_int_equal(np_recvmsg(rx, &msg, MSG_DONTWAIT), 3);
	assert_true(msg.msg_flags & MSG_TRUNC);
	assert_memory_equal(buf, "abc", 3);
	np_close(rx);
	np_close(tx);
}

/*
 * The send buffer: datagrams held below the socket (here in the neighbour
 * queue while ARP for an unknown host goes unanswered) stay charged until
 * freed; a full buffer says EAGAIN, and room comes back when they go.
 */
static void test_sndbuf_accounting(void **state)
{
	struct env *e = *state;
	int fd = new_sock(e, 0, 0);
	int small = 4096;
	assert_int_equal(np_setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
	struct sockaddr_in silent = sin_of(IP(10, 0, 0, 9), 5000);
	static char payload[1000];
	uint64_t sndbuf_err = mib(e, NP_MIB_UdpSndbufErrors);

	int sent = 0;
	ssize_t r;
	while ((r = np_sendto(fd, payload, sizeof(payload), MSG_DONTWAIT, (struct sockaddr *)&silent,
			      sizeof(silent))) > 0)
		sent++;
	assert_int_equal(r, -1);
	assert_int_equal(errno, EAGAIN);
	assert_true(sent >= 2 && sent < 20);
	assert_int_equal(mib(e, NP_MIB_UdpSndbufErrors), sndbuf_err + 1);
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };
	assert_int_equal(np_poll(&pfd, 1, 0), 0);

	/* ARP gives up (3 probes, 1 s apart): the queued datagrams are freed and the room returns. */
	for (int i = 1; i <= 10; i++) {
		np_clock_set(e->clk, NSEC_PER_SEC + (uint64_t)i * 500 * NSEC_PER_MSEC);
		pump(e);
	}
	assert_int_equal(np_poll(&pfd, 1, 0), 1);
	assert_true(pfd.revents & POLLOUT);
	assert_int_equal(np_sendto(fd, payload, sizeof(payload), MSG_DONTWAIT, (struct sockaddr *)&silent,
				   sizeof(silent)),
			 (ssize_t)sizeof(payload));
	/* Closing with datagrams still queued below it: they keep the sock alive until they go. */
	np_close(fd);
	for (int i = 11; i <= 20; i++) {
		np_clock_set(e->clk, NSEC_PER_SEC + (uint64_t)i * 500 * NSEC_PER_MSEC);
		pump(e);
	}
	cap_clear(e->cap);
}

/* SO_TIMESTAMP: recvmsg carries the arrival time (stack clock) as SCM_TIMESTAMP. */
static void test_timestamp_cmsg(void **state)
{
	struct env *e = *state;
	int fd = bound_sock(e, 0, 5500, 0, 0);
	int one = 1;
	assert_int_equal(np_setsockopt(fd, SOL_SOCKET, SO_TIMESTAMP, &one, sizeof(one)), 0);
	np_clock_set(e->clk, 3 * NSEC_PER_SEC + 250 * NSEC_PER_USEC);
	inject_simple(e, PEER_IP, 1000, OUR_IP, 5500);

	char buf[16];
	union {
		struct cmsghdr align;
		char b[CMSG_SPACE(sizeof(struct timeval))];
	} ctl;
	struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b,
			      .msg_controllen = sizeof(ctl.b) };
	assert_int_equal(np_recvmsg(fd, &msg, MSG_DONTWAIT), 4);
	struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
	assert_non_null(cm);
	assert_int_equal(cm->cmsg_level, SOL_SOCKET);
	assert_int_equal(cm->cmsg_type, SCM_TIMESTAMP);
	struct timeval tv;
	memcpy(&tv, CMSG_DATA(cm), sizeof(tv));
	assert_int_equal(tv.tv_sec, 3);
	assert_int_equal(tv.tv_usec, 250);
	assert_false(msg.msg_flags & MSG_CTRUNC);

	/* Without SO_TIMESTAMP, no control data. */
	one = 0;
	assert_int_equal(np_setsockopt(fd, SOL_SOCKET, SO_TIMESTAMP, &one, sizeof(one)), 0);
	inject_simple(e, PEER_IP, 1000, OUR_IP, 5500);
	msg.msg_controllen = sizeof(ctl.b);
	assert_int_equal(np_recvmsg(fd, &msg, MSG_DONTWAIT), 4);
	assert_int_equal(msg.msg_controllen, 0);
	np_close(fd);
}

/* ---- the trace names the stages of seed 003 ---- */

struct trace_rec {
	int n;
	char path[4][512];
	int dropped[4];
	int reason[4];
};

static void trace_cb(void *arg, const struct np_trace_path *p)
{
	struct trace_rec *t = arg;
	if (t->n < 4) {
		np_trace_format(p, t->path[t->n], sizeof(t->path[0]));
		t->dropped[t->n] = p->dropped;
		t->reason[t->n] = p->reason;
		t->n++;
	}
}

static void test_trace_stages(void **state)
{
	struct env *e = *state;
	struct trace_rec t = { 0 };
	int fd = bound_sock(e, 0, 5400, 0, 0);

	np_stack_trace_cb(e->s, trace_cb, &t);
	inject_simple(e, PEER_IP, 1000, OUR_IP, 5400);
	assert_int_equal(t.n, 0);   /* still queued on the socket */
	assert_int_equal(drain(fd), 1);
	assert_int_equal(t.n, 1);
	assert_false(t.dropped[0]);
	const char *want[] = { "ip_rcv", "ip_local_deliver", "udp_rcv", "__udp4_lib_lookup_skb",
			       "udp_queue_rcv_skb", "sk_data_ready" };
	const char *at = t.path[0];
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		const char *p = strstr(at, want[i]);
		if (!p)
			fail_msg("stage %s missing in order from: %s", want[i], t.path[0]);
		at = p + strlen(want[i]);
	}

	/* A datagram for a closed port ends as a NO_SOCKET drop. */
	inject_simple(e, PEER_IP, 1000, OUR_IP, 5401);
	assert_true(t.n >= 2);
	int found = 0;
	for (int i = 1; i < t.n; i++)
		if (t.dropped[i] && t.reason[i] == NP_DROP_NO_SOCKET && strstr(t.path[i], "udp_rcv"))
			found = 1;
	assert_true(found);
	np_stack_trace_cb(e->s, NULL, NULL);
	cap_clear(e->cap);
	np_close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_runt_dropped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_length_field_too_big, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shorter_length_field_trims, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_checksum_dropped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_zero_checksum_accepted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_socket_port_unreachable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_icmp_for_broadcast, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rcvbuf_overflow, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lookup_preference, setup, teardown),
		cmocka_unit_test_setup_teardown(test_broadcast_to_every_socket, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reuseport_distribution, setup, teardown),
		cmocka_unit_test_setup_teardown(test_eaddrinuse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ephemeral_ports, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ephemeral_exhaustion, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lookup_direct, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_connected, setup, teardown),
		cmocka_unit_test_setup_teardown(test_icmp_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sendto_builds_datagram, setup, teardown),
		cmocka_unit_test_setup_teardown(test_send_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_loopback_truncation_and_peek, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sndbuf_accounting, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timestamp_cmsg, setup, teardown),
		cmocka_unit_test_setup_teardown(test_trace_stages, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
