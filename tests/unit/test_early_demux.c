/*
 * Early demux (ip_rcv_finish -> tcp_v4_early_demux / udp_v4_early_demux,
 * src/net/ipv4/ip_input.c): two stacks on the virtual cable
 * (tests/scenarios/tcp_net.h), each packet's path read from its trace.
 * Proves that an established TCP flow and a connected UDP socket skip
 * ip_route_input once the socket cached its input route; that the sysctls
 * turn it off with every counter identical; that a routing or address change
 * sends the next packet through full routing (so an address no longer ours
 * is not delivered, a source that became ours is a martian); that another
 * input device takes the full path; and that listeners, TIME_WAIT,
 * unconnected sockets and fragments are left to it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "scenarios/tcp_net.h"

#include "core/netdevice.h"
#include "core/skbuff.h"
#include "core/stack.h"
#include "net/ipv4/ip.h"
#include "net/ipv4/neighbour.h"
#include "net/ipv4/protocol.h"
#include "net/tcp/tcp.h"
#include "socket/sock.h"
#include "wire/wire.h"
#include "netpath/netfilter.h"

#define B_ALIAS "10.0.0.3"

/* What the rx paths of one stack looked like, stage by stage. */
struct paths {
	int udp, tcp;              /* rx paths that reached udp_rcv / tcp_v4_rcv */
	int udp_fast, tcp_fast;    /* ... through early demux's cached route (no ip_route_input) */
	int udp_sk, tcp_sk;        /* ... early demux found the socket but routed in full */
	int udp_routed, tcp_routed;/* ... that ran ip_route_input */
	int bad;                   /* a fast path that also ran ip_route_input: must stay 0 */
	int edemux_drop;           /* a path with an early demux stage that ended in a drop */
	int edemux_any;            /* paths with an early demux stage */
	int frag, frag_routed;     /* paths through ip_defrag, and those that ran ip_route_input */
	char last[2048];           /* the last rx path with an IP stage, for messages */
};

static int has_stage(const struct np_trace_path *p, const char *fn, const char *detail)
{
	for (int i = 0; i < p->nstages; i++)
		if (!strcmp(p->stages[i].fn, fn) && (!detail || !strcmp(p->stages[i].detail, detail)))
			return 1;
	return 0;
}

static void on_path(void *arg, const struct np_trace_path *p)
{
	struct paths *c = arg;

	if (p->tx || !has_stage(p, "ip_rcv", NULL))
		return;
	np_trace_format(p, c->last, sizeof(c->last));
	int routed = has_stage(p, "ip_route_input", NULL);
	int udp_fast = has_stage(p, "udp_v4_early_demux", "sk, rx_dst");
	int tcp_fast = has_stage(p, "tcp_v4_early_demux", "sk, rx_dst");
	if ((udp_fast || tcp_fast) && routed)
		c->bad++;
	if (has_stage(p, "udp_v4_early_demux", NULL) || has_stage(p, "tcp_v4_early_demux", NULL)) {
		c->edemux_any++;
		c->edemux_drop += p->dropped;
	}
	if (has_stage(p, "ip_defrag", NULL)) {
		c->frag++;
		c->frag_routed += routed;
	}
	if (has_stage(p, "udp_rcv", NULL)) {
		c->udp++;
		c->udp_fast += udp_fast;
		c->udp_sk += has_stage(p, "udp_v4_early_demux", "sk");
		c->udp_routed += routed;
	}
	if (has_stage(p, "tcp_v4_rcv", NULL)) {
		c->tcp++;
		c->tcp_fast += tcp_fast;
		c->tcp_sk += has_stage(p, "tcp_v4_early_demux", "sk");
		c->tcp_routed += routed;
	}
}

struct env {
	struct tnet *n;
	struct paths pa[2];
};

static struct env *env_new(long early_demux)
{
	struct env *e = calloc(1, sizeof(*e));
	assert_non_null(e);
	e->n = tnet_new(7);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(np_sysctl_set(e->n->s[i], "net.ipv4.ip_early_demux", early_demux), 0);
		np_stack_trace_cb(e->n->s[i], on_path, &e->pa[i]);
	}
	return e;
}

static void env_free(struct env *e)
{
	for (int i = 0; i < 2; i++)
		np_stack_trace_cb(e->n->s[i], NULL, NULL);
	tnet_free(e->n);
	free(e);
}

static void paths_reset(struct env *e) { memset(e->pa, 0, sizeof(e->pa)); }

/* A UDP socket of stack i bound to ip:port, connected to peer:pport when peer is set. */
static int udp_sock(struct env *e, int i, const char *ip, uint16_t port, const char *peer, uint16_t pport)
{
	int fd = np_socket(e->n->s[i], AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	assert_true(fd >= 0);
	struct sockaddr_in a = tn_addr(ip, port);
	assert_int_equal(np_bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	if (peer) {
		struct sockaddr_in p = tn_addr(peer, pport);
		assert_int_equal(np_connect(fd, (struct sockaddr *)&p, sizeof(p)), 0);
	}
	return fd;
}

/* Sends count datagrams "seq N" from fd (connected) and lets the stacks run. */
static void udp_send_n(struct env *e, int fd, int first, int count)
{
	for (int k = 0; k < count; k++) {
		char msg[32];
		int len = snprintf(msg, sizeof(msg), "seq %d", first + k);
		assert_int_equal(np_send(fd, msg, (size_t)len, 0), len);
		tnet_sim(e->n, 1);
	}
}

/* Receives exactly count datagrams "seq first.." on fd, then finds the queue empty. */
static void udp_recv_n(int fd, int first, int count)
{
	for (int k = 0; k < count; k++) {
		char buf[64], want[32];
		int len = snprintf(want, sizeof(want), "seq %d", first + k);
		ssize_t r = np_recv(fd, buf, sizeof(buf), 0);
		if (r != len)
			fail_msg("datagram %d: got %zd bytes (%s)", first + k, r, r < 0 ? strerror(errno) : "");
		assert_memory_equal(buf, want, (size_t)len);
	}
	char buf[64];
	assert_int_equal(np_recv(fd, buf, sizeof(buf), 0), -1);
	assert_int_equal(errno, EAGAIN);
}

/* A connected TCP pair: *a on stack 0 (client), *b accepted on stack 1 (10.0.0.2:port). */
static void tcp_pair(struct env *e, uint16_t port, int *a, int *b)
{
	int l = tn_listen(e->n, 1, TN_B_IP, port, 8);
	assert_true(l >= 0);
	*a = tn_connect(e->n, 0, TN_B_IP, port);
	assert_true(*a >= 0);
	*b = tn_accept_ok(e->n, l);
	np_close(l);
	tnet_sim(e->n, 10);
}

/* One request and its echo-like answer over an established pair; returns when both are read. */
static void tcp_ping(struct env *e, int a, int b, size_t size)
{
	static uint8_t out[65536], in[65536];
	memset(out, 0x5a, size);
	assert_int_equal(np_send(a, out, size, 0), (ssize_t)size);
	size_t got = 0;
	for (int t = 0; t < 1000 && got < size; t++) {
		tnet_sim(e->n, 1);
		ssize_t r = np_recv(b, in, sizeof(in), MSG_DONTWAIT);
		if (r > 0)
			got += (size_t)r;
	}
	assert_int_equal(got, size);
	assert_int_equal(np_send(b, out, 100, 0), 100);
	got = 0;
	for (int t = 0; t < 1000 && got < 100; t++) {
		tnet_sim(e->n, 1);
		ssize_t r = np_recv(a, in, sizeof(in), MSG_DONTWAIT);
		if (r > 0)
			got += (size_t)r;
	}
	assert_int_equal(got, 100);
	tnet_sim(e->n, 300);   /* delayed ACKs out */
}

static struct net_device *ndev(struct np_stack *s, const char *name)
{
	struct net_device *d = (struct net_device *)np_dev_get(s, name);
	assert_non_null(d);
	return d;
}

/* ---- (1) the fast path ---- */

static void test_udp_connected_fast_path(void **state)
{
	(void)state;
	struct env *e = env_new(1);
	int b = udp_sock(e, 1, TN_B_IP, 7000, TN_A_IP, 6000);
	int a = udp_sock(e, 0, TN_A_IP, 6000, TN_B_IP, 7000);
	uint64_t in0 = np_stack_mib(e->n->s[1], NP_MIB_UdpInDatagrams);

	udp_send_n(e, a, 0, 20);
	udp_recv_n(b, 0, 20);
	struct paths *p = &e->pa[1];
	assert_int_equal(np_stack_mib(e->n->s[1], NP_MIB_UdpInDatagrams) - in0, 20);
	assert_int_equal(p->udp, 20);
	/* The first datagram routes in full and leaves its route on the socket; the rest use it. */
	if (p->udp_fast != 19 || p->udp_routed != 1 || p->udp_sk != 1)
		fail_msg("fast %d routed %d sk-only %d of %d; last: %s", p->udp_fast, p->udp_routed, p->udp_sk,
			 p->udp, p->last);
	assert_int_equal(p->bad, 0);

	/* Connected to another peer, the socket forgets the route: it was validated for the old one. */
	struct sockaddr_in peer2 = tn_addr(TN_A_IP, 6001);
	assert_int_equal(np_connect(b, (struct sockaddr *)&peer2, sizeof(peer2)), 0);
	int a2 = udp_sock(e, 0, TN_A_IP, 6001, TN_B_IP, 7000);
	paths_reset(e);
	udp_send_n(e, a2, 20, 2);
	udp_recv_n(b, 20, 2);
	assert_int_equal(p->udp_sk, 1);
	assert_int_equal(p->udp_routed, 1);
	assert_int_equal(p->udp_fast, 1);
	np_close(a2);
	np_close(a);
	np_close(b);
	env_free(e);
}

static void test_tcp_established_fast_path(void **state)
{
	(void)state;
	struct env *e = env_new(1);
	int a, b;
	tcp_pair(e, 8000, &a, &b);
	paths_reset(e);
	for (int k = 0; k < 5; k++)
		tcp_ping(e, a, b, 3000);
	for (int i = 0; i < 2; i++) {
		struct paths *p = &e->pa[i];
		/* Every segment of the established connection: the route cached by the handshake's first data. */
		if (p->tcp == 0 || p->tcp_fast != p->tcp || p->tcp_routed != 0)
			fail_msg("stack %d: fast %d routed %d of %d; last: %s", i, p->tcp_fast, p->tcp_routed, p->tcp,
				 p->last);
		assert_int_equal(p->bad, 0);
	}
	/* A bulk transfer both ways (and the FINs) arrives intact through it. */
	paths_reset(e);
	tn_transfer_ok(e->n, a, b, 300000, 3, 0);
	for (int i = 0; i < 2; i++) {
		assert_true(e->pa[i].tcp_fast > 100);
		assert_int_equal(e->pa[i].tcp_routed, 0);
		assert_int_equal(e->pa[i].edemux_drop, 0);
	}
	np_close(a);
	np_close(b);
	env_free(e);
}

/* ---- (2) the sysctls: off means the full path, with the same outcome ---- */

struct snap {
	uint64_t mib[2][NP_MIB_MAX];
	uint64_t drops[2][NP_DROP_MAX];
	uint8_t rx[2][4096];
	size_t rxlen[2];
	struct paths pa[2];
};

/*
 * The same workload on a fresh pair: connected and unconnected UDP, an
 * address removed under a connected socket, a route change, a TCP transfer.
 */
static void workload(struct snap *out, const char *sysctl, long value)
{
	struct env *e = env_new(1);
	for (int i = 0; i < 2; i++)
		assert_int_equal(np_sysctl_set(e->n->s[i], sysctl, value), 0);
	assert_int_equal(np_addr_add(e->n->d[1], B_ALIAS "/24"), 0);

	int b = udp_sock(e, 1, TN_B_IP, 7000, TN_A_IP, 6000);
	int a = udp_sock(e, 0, TN_A_IP, 6000, TN_B_IP, 7000);
	int b2 = udp_sock(e, 1, B_ALIAS, 7001, TN_A_IP, 6001);
	int a2 = udp_sock(e, 0, TN_A_IP, 6001, B_ALIAS, 7001);
	int u = udp_sock(e, 1, "0.0.0.0", 7002, NULL, 0);
	int a3 = udp_sock(e, 0, TN_A_IP, 6002, TN_B_IP, 7002);
	udp_send_n(e, a, 0, 5);
	udp_send_n(e, a2, 0, 5);
	udp_send_n(e, a3, 0, 5);
	assert_int_equal(np_route_add(e->n->s[1], "192.168.9.0/24", NULL, e->n->d[1]), 0);
	udp_send_n(e, a, 5, 5);
	assert_int_equal(np_addr_del(e->n->d[1], B_ALIAS "/24"), 0);
	udp_send_n(e, a2, 5, 3);   /* to an address no longer ours: dropped either way */
	int tb, ta;
	tcp_pair(e, 8000, &ta, &tb);
	tn_transfer_ok(e->n, ta, tb, 100000, 5, 0);
	np_close(ta);
	np_close(tb);
	tnet_sim(e->n, 1000);

	size_t len = 0;
	ssize_t r;
	while ((r = np_recv(b, out->rx[1] + len, 64, 0)) > 0)
		len += (size_t)r;
	while ((r = np_recv(b2, out->rx[1] + len, 64, 0)) > 0)
		len += (size_t)r;
	while ((r = np_recv(u, out->rx[1] + len, 64, 0)) > 0)
		len += (size_t)r;
	out->rxlen[1] = len;
	for (int i = 0; i < 2; i++) {
		for (int f = 0; f < NP_MIB_MAX; f++)
			out->mib[i][f] = np_stack_mib(e->n->s[i], (enum np_mib_field)f);
		for (int d = 0; d < NP_DROP_MAX; d++)
			out->drops[i][d] = np_stack_drops(e->n->s[i], (enum np_drop_reason)d);
		out->pa[i] = e->pa[i];
	}
	np_close(a);
	np_close(b);
	np_close(a2);
	np_close(b2);
	np_close(a3);
	np_close(u);
	env_free(e);
}

static void assert_same_outcome(const struct snap *on, const struct snap *off)
{
	for (int i = 0; i < 2; i++) {
		for (int f = 0; f < NP_MIB_MAX; f++)
			if (on->mib[i][f] != off->mib[i][f])
				fail_msg("stack %d counter %d: %llu with early demux, %llu without", i, f,
					 (unsigned long long)on->mib[i][f], (unsigned long long)off->mib[i][f]);
		for (int d = 0; d < NP_DROP_MAX; d++)
			if (on->drops[i][d] != off->drops[i][d])
				fail_msg("stack %d drop %s: %llu with early demux, %llu without", i,
					 np_drop_reason_name((enum np_drop_reason)d), (unsigned long long)on->drops[i][d],
					 (unsigned long long)off->drops[i][d]);
	}
	assert_int_equal(on->rxlen[1], off->rxlen[1]);
	assert_memory_equal(on->rx[1], off->rx[1], on->rxlen[1]);
}

static void test_sysctls_off_same_outcome(void **state)
{
	(void)state;
	struct snap *on = calloc(1, sizeof(*on)), *off = calloc(1, sizeof(*off));
	assert_non_null(on);
	assert_non_null(off);

	workload(on, "net.ipv4.ip_early_demux", 1);
	assert_true(on->pa[1].udp_fast > 0);
	assert_true(on->pa[1].tcp_fast > 0);
	assert_true(on->pa[0].tcp_fast > 0);
	assert_int_equal(on->pa[1].bad, 0);
	/* 20 datagrams delivered, the 3 to the removed address not. */
	assert_int_equal(on->mib[1][NP_MIB_UdpInDatagrams], 20);
	assert_int_equal(on->drops[1][NP_DROP_IP_INADDRERRORS], 3);

	const char *knobs[] = { "net.ipv4.ip_early_demux", "net.ipv4.tcp_early_demux", "net.ipv4.udp_early_demux" };
	for (size_t k = 0; k < sizeof(knobs) / sizeof(knobs[0]); k++) {
		memset(off, 0, sizeof(*off));
		workload(off, knobs[k], 0);
		assert_same_outcome(on, off);
		for (int i = 0; i < 2; i++) {
			/* The protocol switched off never demuxes early; the other still does. */
			if (k != 1)
				assert_int_equal(off->pa[i].udp_fast + off->pa[i].udp_sk, 0);
			if (k != 2)
				assert_int_equal(off->pa[i].tcp_fast + off->pa[i].tcp_sk, 0);
		}
		if (k == 1)
			assert_true(off->pa[1].udp_fast > 0);
		if (k == 2)
			assert_true(off->pa[1].tcp_fast > 0);
	}
	free(on);
	free(off);
}

static void test_sysctl_defaults(void **state)
{
	(void)state;
	struct env *e = env_new(1);
	const char *knobs[] = { "net.ipv4.ip_early_demux", "net.ipv4.tcp_early_demux", "net.ipv4.udp_early_demux" };
	for (size_t k = 0; k < 3; k++) {
		long v = -1;
		assert_int_equal(np_sysctl_get(e->n->s[1], knobs[k], &v), 0);
		assert_int_equal(v, 1);
		assert_int_equal(np_sysctl_set(e->n->s[1], knobs[k], 2), -EINVAL);
	}
	env_free(e);
}

/* ---- (3) routing and address changes make the cached route stale ---- */

static void test_route_change_goes_slow_once(void **state)
{
	(void)state;
	struct env *e = env_new(1);
	int b = udp_sock(e, 1, TN_B_IP, 7000, TN_A_IP, 6000);
	int a = udp_sock(e, 0, TN_A_IP, 6000, TN_B_IP, 7000);
	int ta, tb;
	tcp_pair(e, 8000, &ta, &tb);
	udp_send_n(e, a, 0, 3);
	tcp_ping(e, ta, tb, 1000);
	paths_reset(e);

	/* A route that has nothing to do with the flows still bumps the generation. */
	assert_int_equal(np_route_add(e->n->s[1], "192.168.9.0/24", NULL, e->n->d[1]), 0);
	udp_recv_n(b, 0, 3);   /* a datagram's path ends (and is counted) when it is read */
	paths_reset(e);
	udp_send_n(e, a, 3, 1);
	udp_recv_n(b, 3, 1);
	assert_int_equal(e->pa[1].udp_routed, 1);
	assert_int_equal(e->pa[1].udp_sk, 1);
	udp_send_n(e, a, 4, 2);
	udp_recv_n(b, 4, 2);
	assert_int_equal(e->pa[1].udp_fast, 2);

	paths_reset(e);
	assert_int_equal(np_route_del(e->n->s[1], "192.168.9.0/24"), 0);
	tcp_ping(e, ta, tb, 1000);
	struct paths *p = &e->pa[1];
	if (p->tcp_routed != 1 || p->tcp_sk != 1 || p->tcp_fast != p->tcp - 1)
		fail_msg("after route del: routed %d sk-only %d fast %d of %d; last: %s", p->tcp_routed, p->tcp_sk,
			 p->tcp_fast, p->tcp, p->last);
	assert_int_equal(e->pa[1].bad, 0);
	np_close(a);
	np_close(b);
	np_close(ta);
	np_close(tb);
	env_free(e);
}

/* B's counters and drops after datagrams to an address it no longer has (ip_forward as given). */
static void address_removed(long early_demux, long forward, struct snap *out)
{
	struct env *e = env_new(early_demux);
	struct np_stack *sb = e->n->s[1];
	assert_int_equal(np_sysctl_set(sb, "net.ipv4.ip_forward", forward), 0);
	assert_int_equal(np_addr_add(e->n->d[1], B_ALIAS "/24"), 0);
	int b = udp_sock(e, 1, B_ALIAS, 7001, TN_A_IP, 6001);
	int a = udp_sock(e, 0, TN_A_IP, 6001, B_ALIAS, 7001);
	udp_send_n(e, a, 0, 3);
	udp_recv_n(b, 0, 3);
	assert_int_equal(e->pa[1].udp_fast, early_demux ? 2 : 0);

	assert_int_equal(np_addr_del(e->n->d[1], B_ALIAS "/24"), 0);
	uint64_t in0 = np_stack_mib(sb, NP_MIB_UdpInDatagrams);
	paths_reset(e);
	udp_send_n(e, a, 3, 2);
	tnet_sim(e->n, 5000);   /* ARP for the forwarded copies gives up */
	/* Early demux still finds the socket, but the full route says "not ours": never delivered. */
	assert_int_equal(e->pa[1].udp, 0);
	assert_int_equal(e->pa[1].edemux_drop, early_demux ? 2 : 0);
	assert_int_equal(np_stack_mib(sb, NP_MIB_UdpInDatagrams) - in0, 0);
	udp_recv_n(b, 3, 0);
	for (int f = 0; f < NP_MIB_MAX; f++)
		out->mib[1][f] = np_stack_mib(sb, (enum np_mib_field)f);
	for (int d = 0; d < NP_DROP_MAX; d++)
		out->drops[1][d] = np_stack_drops(sb, (enum np_drop_reason)d);
	np_close(a);
	np_close(b);
	env_free(e);
}

static void test_address_removed_not_delivered(void **state)
{
	(void)state;
	struct snap *on = calloc(1, sizeof(*on)), *off = calloc(1, sizeof(*off));
	assert_non_null(on);
	assert_non_null(off);
	for (long fwd = 0; fwd <= 1; fwd++) {
		memset(on, 0, sizeof(*on));
		memset(off, 0, sizeof(*off));
		address_removed(1, fwd, on);
		address_removed(0, fwd, off);
		assert_same_outcome(on, off);
		/* A host drops them as not its own; a router would forward them (and its ARP fails). */
		if (!fwd) {
			assert_int_equal(on->drops[1][NP_DROP_IP_INADDRERRORS], 2);
			assert_int_equal(on->mib[1][NP_MIB_IpInAddrErrors], 2);
		} else {
			assert_int_equal(on->mib[1][NP_MIB_IpForwDatagrams], 2);
		}
	}
	free(on);
	free(off);
}

static void test_source_becomes_local_is_martian(void **state)
{
	(void)state;
	struct env *e = env_new(1);
	struct np_stack *sb = e->n->s[1];
	int b = udp_sock(e, 1, TN_B_IP, 7000, TN_A_IP, 6000);
	int a = udp_sock(e, 0, TN_A_IP, 6000, TN_B_IP, 7000);
	udp_send_n(e, a, 0, 3);
	udp_recv_n(b, 0, 3);
	assert_int_equal(e->pa[1].udp_fast, 2);

	/* B now owns A's address (on lo): a datagram from it off the wire is a martian source. */
	assert_int_equal(np_addr_add(np_dev_get(sb, "lo"), TN_A_IP "/32"), 0);
	uint64_t m0 = np_stack_mib(sb, NP_MIB_IpExtInMartians), d0 = np_stack_drops(sb, NP_DROP_IP_LOCAL_SOURCE);
	udp_send_n(e, a, 3, 2);
	assert_int_equal(np_stack_mib(sb, NP_MIB_IpExtInMartians) - m0, 2);
	assert_int_equal(np_stack_drops(sb, NP_DROP_IP_LOCAL_SOURCE) - d0, 2);
	udp_recv_n(b, 3, 0);
	np_close(a);
	np_close(b);
	env_free(e);
}

/* ---- (4) another input device ---- */

static void test_other_device_takes_full_path(void **state)
{
	(void)state;
	struct env *e = env_new(1);
	struct np_dev *x[2];
	assert_int_equal(np_cable_create(e->n->s[0], "eth1", e->n->s[1], "eth1", &x[0], &x[1]), 0);
	assert_int_equal(np_addr_add(x[0], "10.0.1.1/24"), 0);
	assert_int_equal(np_addr_add(x[1], "10.0.1.2/24"), 0);
	int b = udp_sock(e, 1, TN_B_IP, 7000, TN_A_IP, 6000);
	int a = udp_sock(e, 0, TN_A_IP, 6000, TN_B_IP, 7000);
	udp_send_n(e, a, 0, 3);
	udp_recv_n(b, 0, 3);   /* a datagram's path ends (and is counted) when it is read */
	assert_int_equal(e->pa[1].udp_fast, 2);

	/* A now reaches 10.0.0.2 through eth1 (a host route; B answers ARP only for eth1's own addresses). */
	uint8_t mac[6];
	np_dev_get_mac(x[1], mac);
	assert_int_equal(neigh_add_permanent(e->n->s[0], (struct net_device *)x[0], 0x0a000002u, mac), 0);
	assert_int_equal(np_route_add(e->n->s[0], TN_B_IP "/32", NULL, x[0]), 0);
	paths_reset(e);
	udp_send_n(e, a, 3, 1);
	udp_recv_n(b, 3, 1);
	/* Same socket, same generation on B, but not the device the route was cached for. */
	assert_int_equal(e->pa[1].udp, 1);
	assert_int_equal(e->pa[1].udp_sk, 1);
	assert_int_equal(e->pa[1].udp_routed, 1);
	/* Then it is cached for eth1 and the flow is fast again. */
	udp_send_n(e, a, 4, 2);
	udp_recv_n(b, 4, 2);
	assert_int_equal(e->pa[1].udp_fast, 2);
	assert_int_equal(ndev(e->n->s[1], "eth1")->ifindex, ((struct net_device *)x[1])->ifindex);
	np_close(a);
	np_close(b);
	env_free(e);
}

/* ---- NAT at LOCAL_IN rewrites a packet after early demux ---- */

static int udp_sock_reuse(struct env *e, int i, const char *ip, uint16_t port, const char *peer, uint16_t pport)
{
	int fd = np_socket(e->n->s[i], AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	int one = 1;
	assert_true(fd >= 0);
	assert_int_equal(np_setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)), 0);
	struct sockaddr_in a = tn_addr(ip, port), p = tn_addr(peer, pport);
	assert_int_equal(np_bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(np_connect(fd, (struct sockaddr *)&p, sizeof(p)), 0);
	return fd;
}

/*
 * B's s2 talks to 10.0.0.9, which OUTPUT's DNAT sends to A: A's answers get
 * their source turned back into 10.0.0.9 at LOCAL_IN, after early demux
 * took s1 (connected to A itself) for them. They must reach s2, as without
 * early demux, and leave no cached route on s1.
 */
static void test_local_in_nat_relooks_up(void **state)
{
	(void)state;
	for (long on = 0; on <= 1; on++) {
		struct env *e = env_new(on);
		char err[256];
		int s1 = udp_sock_reuse(e, 1, TN_B_IP, 7000, TN_A_IP, 6000);
		int s2 = udp_sock_reuse(e, 1, TN_B_IP, 7000, "10.0.0.9", 6000);
		int rc = np_nf_rule(e->n->s[1], "-t nat -A OUTPUT -p udp -d 10.0.0.9 -j DNAT --to-destination 10.0.0.1",
				    err, sizeof(err));
		if (rc)
			fail_msg("rule: %s", err);
		int a = udp_sock(e, 0, TN_A_IP, 6000, TN_B_IP, 7000);
		udp_send_n(e, s2, 100, 1);
		udp_recv_n(a, 100, 1);
		paths_reset(e);
		udp_send_n(e, a, 0, 3);
		udp_recv_n(s1, 0, 0);
		udp_recv_n(s2, 0, 3);
		/* Early demux took s1 each time, gave it up, and cached nothing on it. */
		assert_int_equal(e->pa[1].udp, 3);
		assert_int_equal(e->pa[1].udp_sk, on ? 3 : 0);
		assert_int_equal(e->pa[1].udp_fast, 0);
		assert_int_equal(e->pa[1].udp_routed, 3);
		/*
		 * Nor on s2, whose 4-tuple they matched only after NAT: their route
		 * was resolved for A, so 10.0.0.9's own first datagram routes in full.
		 */
		assert_int_equal(np_addr_add(e->n->d[0], "10.0.0.9/32"), 0);
		int a9 = udp_sock(e, 0, "10.0.0.9", 6000, TN_B_IP, 7000);
		paths_reset(e);
		udp_send_n(e, a9, 0, 1);
		udp_recv_n(s2, 0, 1);
		assert_int_equal(e->pa[1].udp, 1);
		assert_int_equal(e->pa[1].udp_fast, 0);
		assert_int_equal(e->pa[1].udp_routed, 1);
		np_close(a9);
		np_close(a);
		np_close(s1);
		np_close(s2);
		env_free(e);
	}
}

/* ---- (5) what early demux leaves to the full path ---- */

/* Runs the protocol's early_demux on a hand-built IPv4 + ports header arriving on dev. */
static int demux_probe(struct np_stack *s, struct net_device *dev, uint8_t proto, uint32_t saddr, uint16_t sport,
		       uint32_t daddr, uint16_t dport, uint8_t pkt_type, struct sock **sk_out)
{
	struct sk_buff *skb = alloc_skb(s, 128);
	assert_non_null(skb);
	uint8_t *h = skb_put(skb, 40);
	memset(h, 0, 40);
	h[0] = 0x45;
	h[20] = (uint8_t)(sport >> 8);
	h[21] = (uint8_t)sport;
	h[22] = (uint8_t)(dport >> 8);
	h[23] = (uint8_t)dport;
	h[32] = 5 << 4;                 /* TCP data offset; a UDP length field is at 24 */
	skb_reset_network_header(skb);
	skb->dev = dev;
	skb->pkt_type = pkt_type;
	struct inet_skb_parm *cb = IPCB(skb);
	memset(cb, 0, sizeof(*cb));
	cb->saddr = saddr;
	cb->daddr = daddr;
	cb->protocol = proto;
	cb->ihl = 20;
	const struct net_protocol *prot = s->inet_protos[proto];
	assert_non_null(prot);
	assert_non_null(prot->early_demux);
	int r = prot->early_demux(skb);
	*sk_out = skb->sk;
	kfree_skb_reason(skb, NP_DROP_NOT_SPECIFIED);   /* drops the demux reference with it */
	return r;
}

static void test_fall_through(void **state)
{
	(void)state;
	struct env *e = env_new(1);
	struct np_stack *sa = e->n->s[0], *sb = e->n->s[1];
	struct net_device *da = ndev(sa, "eth0"), *db = ndev(sb, "eth0");
	const uint32_t A = 0x0a000001u, B = 0x0a000002u;
	struct sock *sk;

	/* An unconnected UDP socket: found only by the full lookup, routed in full. */
	int u = udp_sock(e, 1, "0.0.0.0", 7002, NULL, 0);
	int a3 = udp_sock(e, 0, TN_A_IP, 6002, TN_B_IP, 7002);
	udp_send_n(e, a3, 0, 4);
	udp_recv_n(u, 0, 4);
	assert_int_equal(e->pa[1].udp, 4);
	assert_int_equal(e->pa[1].udp_routed, 4);
	assert_int_equal(e->pa[1].udp_fast + e->pa[1].udp_sk, 0);
	assert_int_equal(demux_probe(sb, db, IPPROTO_UDP, A, 6002, B, 7002, PACKET_HOST, &sk), 0);
	assert_null(sk);

	/* A connected one, but the frame was a link-layer broadcast: not early demux's business. */
	int b = udp_sock(e, 1, TN_B_IP, 7000, TN_A_IP, 6000);
	int a = udp_sock(e, 0, TN_A_IP, 6000, TN_B_IP, 7000);
	udp_send_n(e, a, 0, 2);
	udp_recv_n(b, 0, 2);
	assert_int_equal(demux_probe(sb, db, IPPROTO_UDP, A, 6000, B, 7000, PACKET_BROADCAST, &sk), 0);
	assert_null(sk);
	assert_int_equal(demux_probe(sb, db, IPPROTO_UDP, A, 6000, B, 7000, PACKET_HOST, &sk), 1);
	assert_non_null(sk);
	assert_int_equal(np_sysctl_set(sb, "net.ipv4.udp_early_demux", 0), 0);
	assert_int_equal(demux_probe(sb, db, IPPROTO_UDP, A, 6000, B, 7000, PACKET_HOST, &sk), 0);
	assert_null(sk);
	assert_int_equal(np_sysctl_set(sb, "net.ipv4.udp_early_demux", 1), 0);
	/* Two sockets on one 4-tuple (SO_REUSEADDR): only the full lookup's scoring may choose. */
	int r1 = udp_sock_reuse(e, 1, TN_B_IP, 7003, TN_A_IP, 6003);
	int r2 = udp_sock_reuse(e, 1, TN_B_IP, 7003, TN_A_IP, 6003);
	assert_int_equal(demux_probe(sb, db, IPPROTO_UDP, A, 6003, B, 7003, PACKET_HOST, &sk), 0);
	assert_null(sk);
	np_close(r2);
	assert_int_equal(demux_probe(sb, db, IPPROTO_UDP, A, 6003, B, 7003, PACKET_HOST, &sk), 0);
	assert_ptr_not_equal(sk, NULL);   /* unique again: found, but no route cached yet */
	np_close(r1);

	/* A fragmented datagram: no ports in most fragments, so the full path for all of them. */
	paths_reset(e);
	static char big[3000];
	memset(big, 'f', sizeof(big));
	assert_int_equal(np_send(a, big, sizeof(big), 0), (ssize_t)sizeof(big));
	tnet_sim(e->n, 5);
	char rbuf[4000];
	assert_int_equal(np_recv(b, rbuf, sizeof(rbuf), 0), (ssize_t)sizeof(big));
	if (e->pa[1].frag < 2 || e->pa[1].frag_routed != e->pa[1].frag)
		fail_msg("%d fragments, %d routed; last: %s", e->pa[1].frag, e->pa[1].frag_routed, e->pa[1].last);
	assert_int_equal(e->pa[1].edemux_any, 0);

	/* A listener: a SYN is demuxed by the full lookup only. */
	int l = tn_listen(e->n, 1, TN_B_IP, 8000, 8);
	paths_reset(e);
	int ta = tn_connect(e->n, 0, TN_B_IP, 8000);
	assert_true(ta >= 0);
	tnet_sim(e->n, 1);
	assert_true(e->pa[1].tcp >= 1);   /* the SYN (and the handshake's ACK) */
	assert_true(e->pa[1].tcp_routed >= 1);
	assert_int_equal(demux_probe(sb, db, IPPROTO_TCP, A, 40000, B, 8000, PACKET_HOST, &sk), 0);
	assert_null(sk);
	int tb = tn_accept_ok(e->n, l);
	uint16_t cport = tnet_local_port(ta);
	tcp_ping(e, ta, tb, 500);
	assert_int_equal(demux_probe(sb, db, IPPROTO_TCP, A, cport, B, 8000, PACKET_HOST, &sk), 1);
	assert_non_null(sk);

	/* TIME_WAIT: A closes first and ends in TIME_WAIT; early demux leaves its segments alone. */
	np_close(ta);
	tnet_sim(e->n, 50);
	np_close(tb);
	tnet_sim(e->n, 50);
	assert_true(tcp_tw_count(sa) > 0);
	assert_int_equal(demux_probe(sa, da, IPPROTO_TCP, B, 8000, A, cport, PACKET_HOST, &sk), 0);
	assert_null(sk);

	np_close(l);
	np_close(u);
	np_close(a3);
	np_close(a);
	np_close(b);
	env_free(e);
}

/*
 * What a transport may cache: only a local route resolved in full for early
 * demux's socket (IPSKB_RX_DST_NEW), never one a NAT'd packet took to a
 * socket looked up after LOCAL_IN, nor a broadcast route.
 */
static void test_rx_dst_cache_rules(void **state)
{
	(void)state;
	struct env *e = env_new(1);
	struct np_stack *sb = e->n->s[1];
	struct net_device *db = ndev(sb, "eth0");
	struct sk_buff *skb = alloc_skb(sb, 64);
	assert_non_null(skb);
	skb->dev = db;
	memset(IPCB(skb), 0, sizeof(struct inet_skb_parm));
	skb->rt_valid = 1;
	skb->rt.rt_type = RTN_LOCAL;
	skb->rt.dev = db;
	assert_int_equal(inet_skb_rx_dst_ifindex(skb), 0);
	IPCB(skb)->flags |= IPSKB_RX_DST_NEW;
	assert_int_equal(inet_skb_rx_dst_ifindex(skb), db->ifindex);
	skb->rt.rt_type = RTN_BROADCAST;
	assert_int_equal(inet_skb_rx_dst_ifindex(skb), 0);
	kfree_skb_reason(skb, NP_DROP_NOT_SPECIFIED);
	env_free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_udp_connected_fast_path),
		cmocka_unit_test(test_tcp_established_fast_path),
		cmocka_unit_test(test_sysctl_defaults),
		cmocka_unit_test(test_sysctls_off_same_outcome),
		cmocka_unit_test(test_route_change_goes_slow_once),
		cmocka_unit_test(test_address_removed_not_delivered),
		cmocka_unit_test(test_source_becomes_local_is_martian),
		cmocka_unit_test(test_other_device_takes_full_path),
		cmocka_unit_test(test_local_in_nat_relooks_up),
		cmocka_unit_test(test_fall_through),
		cmocka_unit_test(test_rx_dst_cache_rules),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
