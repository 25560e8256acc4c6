/*
 * Segment-level script harness for TCP (the packetdrill idea, in C): ONE
 * stack on a test Ethernet device that captures every frame the stack sends,
 * a peer that exists only as crafted segments, and a virtual clock.
 *   at(e, ms);                         the clock moves to T0 + ms (timers run)
 *   inject(e, &(struct seg){...});     a segment from the peer arrives
 *   expect(e, &(struct seg){...});     the next segment we sent matches
 *   expect_none(e);                    nothing (more) was sent
 * The socket side uses the public API (non-blocking) on the same stack.
 * Header-only (static functions) because CMake builds each test_*.c alone.
 *   us: 10.0.0.1 (eth0)   peer: 10.0.0.2 (a permanent neighbour: no ARP)
 * setup() puts the stack on the capture device (frames go straight into
 * netif_receive_skb and straight out of cap_xmit). env_new(wire) puts it on
 * a real wire instead (tests/robustness/tap_wire.h: a TAP driven from the
 * kernel's side); inject/expect/at then work unchanged over that wire.
 */
#ifndef NP_TESTS_TCP_SCRIPT_H
#define NP_TESTS_TCP_SCRIPT_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/netdevice.h"
#include "core/skbuff.h"
#include "core/stack.h"
#include "net/ipv4/neighbour.h"
#include "net/ipv4/route.h"
#include "net/tcp/tcp.h"
#include "netpath/netpath.h"
#include "netpath/socket.h"
#include "wire/checksum.h"
#include "wire/eth.h"
#include "wire/icmp.h"
#include "wire/ipv4.h"
#include "wire/tcp.h"

#define IP4(a, b, c, d) (((uint32_t)(a) << 24) | ((uint32_t)(b) << 16) | ((uint32_t)(c) << 8) | (uint32_t)(d))
#define OUR_IP IP4(10, 0, 0, 1)
#define PEER_IP IP4(10, 0, 0, 2)
#define PEER_PORT 40000
#define MS 1000000ull
#define T0 (1000 * MS)
#define MAX_CAP 4096

static const uint8_t peer_mac[6] = { 0x02, 0, 0, 0, 0, 0x02 };

struct cap {
	int n, next;   /* frames captured; next to expect */
	uint32_t len[MAX_CAP];
	uint8_t *frame[MAX_CAP];
	uint64_t when[MAX_CAP];
};

static netdev_tx_t cap_xmit(struct sk_buff *skb, struct net_device *dev)
{
	struct cap *c = dev->priv;
	if (c->n < MAX_CAP) {
		c->frame[c->n] = malloc(skb->len);
		memcpy(c->frame[c->n], skb->data, skb->len);
		c->len[c->n] = skb->len;
		c->when[c->n] = np_stack_now(dev->stack);
		c->n++;
	}
	consume_skb(skb);
	return NETDEV_TX_OK;
}

static void cap_clear(struct cap *c)
{
	for (int i = 0; i < c->n; i++)
		free(c->frame[i]);
	c->n = c->next = 0;
}

static void cap_uninit(struct net_device *dev) { cap_clear(dev->priv); }

static const struct net_device_ops cap_ops = {
	.ndo_start_xmit = cap_xmit,
	.ndo_uninit = cap_uninit,
};

struct env;

/*
 * A real wire under the env's device, instead of the capture device. The
 * stack keeps its virtual clock; only the frames travel for real.
 */
struct env_wire {
	/* Creates, registers and opens the device (e->s exists); sets e->cap, which the wire owns. */
	struct net_device *(*open)(struct env *e);
	/* Puts one frame from the peer on the wire; returns once the device has received it. */
	void (*send)(struct env *e, const uint8_t *f, size_t len);
	/* Moves every frame the device has transmitted so far into e->cap (stamped with the current time). */
	void (*collect)(struct env *e);
	/* After the stack is gone: frees e->cap. */
	void (*close)(struct env *e);
};

struct env {
	struct np_clock *clk;
	struct np_stack *s;
	struct net_device *dev;
	struct cap *cap;
	const struct env_wire *wire;   /* NULL: the capture device */
	uint64_t wire_sent, wire_got;  /* frames put on the wire / collected from it (wire only) */
};

/* A stack on the capture device (wire NULL) or on a real wire: us 10.0.0.1/24, the peer a permanent neighbour. */
static inline struct env *env_new(const struct env_wire *wire)
{
	struct env *e = calloc(1, sizeof(*e));
	assert_non_null(e);
	e->clk = np_clock_virtual(T0);
	struct np_stack_config cfg = { .name = "tcp", .clock = e->clk, .seed = 42 };
	e->s = np_stack_create(&cfg);
	assert_non_null(e->s);
	e->wire = wire;
	if (wire) {
		e->dev = wire->open(e);
		assert_non_null(e->dev);
		assert_non_null(e->cap);
	} else {
		e->dev = alloc_netdev(e->s, "eth0", sizeof(struct cap));
		assert_non_null(e->dev);
		ether_setup(e->dev);
		e->dev->netdev_ops = &cap_ops;
		e->cap = e->dev->priv;
		assert_int_equal(register_netdev(e->dev), 0);
		assert_int_equal(dev_open(e->dev), 0);
	}
	assert_int_equal(inet_addr_add(e->dev, OUR_IP, 24), 0);
	assert_int_equal(neigh_add_permanent(e->s, e->dev, PEER_IP, peer_mac), 0);
	return e;
}

static int setup(void **state)
{
	*state = env_new(NULL);
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;
	np_stack_destroy(e->s);
	if (e->wire)
		e->wire->close(e);
	np_clock_destroy(e->clk);
	free(e);
	return 0;
}

/* Runs the stack to quiescence at the current time (on a wire: and collects what it sent). */
static void settle(struct env *e)
{
	for (int i = 0; i < 1000 && np_stack_poll(e->s) > 0; i++)
		;
	if (e->wire)
		e->wire->collect(e);
}

/* The clock moves to T0 + ms, every timer due on the way runs in order. */
static void at(struct env *e, uint64_t ms)
{
	struct np_stack *ss[1] = { e->s };
	uint64_t until = T0 + ms * MS;
	assert_true(until >= np_clock_now(e->clk));
	if (!e->wire) {
		np_sim_run(ss, 1, e->clk, until);
		settle(e);
		return;
	}
	/* np_sim_run's loop, collecting after each step so every frame carries the time it was sent. */
	for (;;) {
		settle(e);
		uint64_t next = np_stack_next_timer(e->s);
		if (next > until)
			break;
		if (next <= np_clock_now(e->clk))
			fail_msg("a timer due at %llu ns did not run", (unsigned long long)next);
		assert_int_equal(np_clock_set(e->clk, next), 0);
	}
	if (np_clock_now(e->clk) < until)
		assert_int_equal(np_clock_set(e->clk, until), 0);
	settle(e);
}

static inline uint64_t now_ms(struct env *e) { return (np_clock_now(e->clk) - T0) / MS; }

/* A segment, as injected or as expected. Fields left 0 are "don't care" in expect unless noted. */
struct seg {
	uint8_t flags;            /* TCPF_*: always compared */
	uint32_t seq, ack;        /* compared (ack only when ACK is set) */
	int win;                  /* -1 in expect: don't care; inject: window to announce */
	int mss;                  /* inject: MSS option (0: none); expect: -1 none, 0 don't care, >0 value */
	int len;                  /* payload bytes (compared in expect; -1 don't care) */
	const void *data;         /* inject: payload (NULL: pattern bytes) */
	uint16_t sport, dport;    /* 0: PEER_PORT / the test's port */
	int bad_csum;             /* inject: corrupt the TCP checksum */
	const uint8_t *raw_opt;   /* inject: raw option bytes instead of MSS */
	int raw_optlen;
};

static uint16_t script_port = 80;   /* our port in the current test */

/* Builds Ethernet + IPv4 + TCP for s from the peer to us; returns the frame length. */
static size_t build_frame(struct env *e, uint8_t *f, size_t cap, const struct seg *s)
{
	struct eth_repr eth = { .ethertype = ETH_P_IP };
	memcpy(eth.dst, e->dev->dev_addr, 6);
	memcpy(eth.src, peer_mac, 6);
	eth_emit(&eth, f, ETH_HLEN);
	struct tcp_repr r;
	memset(&r, 0, sizeof(r));
	r.sport = s->sport ? s->sport : PEER_PORT;
	r.dport = s->dport ? s->dport : script_port;
	r.seq = s->seq;
	r.ack = s->ack;
	r.flags = s->flags;
	r.window = (uint16_t)(s->win < 0 ? 0 : s->win);
	if (s->mss > 0) {
		r.opt.mss_ok = 1;
		r.opt.mss = (uint16_t)s->mss;
	}
	size_t optlen = s->raw_opt ? (size_t)((s->raw_optlen + 3) & ~3) : tcp_options_len(&r.opt);
	size_t hlen = TCP_HLEN_MIN + optlen;
	size_t plen = s->len > 0 ? (size_t)s->len : 0;
	uint8_t *l4 = f + ETH_HLEN + IPV4_HLEN_MIN;
	assert_true(ETH_HLEN + IPV4_HLEN_MIN + hlen + plen <= cap);
	for (size_t i = 0; i < plen; i++)
		l4[hlen + i] = s->data ? ((const uint8_t *)s->data)[i] : (uint8_t)(s->seq + i);
	if (s->raw_opt) {
		/* Header by hand: the wire emitter would refuse a malformed option. */
		memset(l4, 0, hlen);
		be16_put(l4, r.sport);
		be16_put(l4 + 2, r.dport);
		be32_put(l4 + 4, r.seq);
		be32_put(l4 + 8, r.ack);
		l4[12] = (uint8_t)((hlen / 4) << 4);
		l4[13] = r.flags;
		be16_put(l4 + 14, r.window);
		memcpy(l4 + TCP_HLEN_MIN, s->raw_opt, (size_t)s->raw_optlen);
		uint32_t sum = csum_tcpudp_nofold(PEER_IP, OUR_IP, (uint16_t)(hlen + plen), IPPROTO_TCP_, 0);
		be16_put(l4 + 16, csum_fold(csum_partial(l4, hlen + plen, sum)));
	} else {
		assert_int_equal(tcp_emit(&r, plen, PEER_IP, OUR_IP, l4, hlen + plen), hlen);
	}
	if (s->bad_csum)
		l4[16] ^= 0x5a;
	struct ipv4_repr ip = {
		.tot_len = (uint16_t)(IPV4_HLEN_MIN + hlen + plen),
		.id = 1,
		.ttl = 64,
		.protocol = IPPROTO_TCP_,
		.saddr = PEER_IP,
		.daddr = OUR_IP,
	};
	ipv4_emit(&ip, f + ETH_HLEN, IPV4_HLEN_MIN);
	return ETH_HLEN + IPV4_HLEN_MIN + hlen + plen;
}

static void inject_frame(struct env *e, const uint8_t *f, size_t len)
{
	if (e->wire) {
		e->wire->send(e, f, len);
		settle(e);
		return;
	}
	struct sk_buff *skb = netdev_alloc_skb_copy(e->dev, f, (uint32_t)len);
	assert_non_null(skb);
	np_stack_lock(e->s);
	netif_receive_skb(skb);
	np_stack_unlock(e->s);
	settle(e);
}

static void inject(struct env *e, const struct seg *s)
{
	static uint8_t f[70000];
	size_t len = build_frame(e, f, sizeof(f), s);
	inject_frame(e, f, len);
}

/* What we sent, parsed. */
struct outseg {
	struct tcp_repr th;
	uint32_t saddr, daddr;
	uint64_t when_ms;
	const uint8_t *frame;
};

/* The next captured frame as TCP (checksums verified); fails if there is none. */
static struct outseg next_out(struct env *e)
{
	struct outseg o;
	memset(&o, 0, sizeof(o));
	if (e->cap->next >= e->cap->n)
		fail_msg("expected a segment at %llu ms, nothing was sent", (unsigned long long)now_ms(e));
	int i = e->cap->next++;
	const uint8_t *f = e->cap->frame[i];
	size_t len = e->cap->len[i];
	struct eth_repr eth;
	assert_int_equal(eth_parse(f, len, &eth), 0);
	assert_int_equal(eth.ethertype, ETH_P_IP);
	struct ipv4_repr ip;
	assert_int_equal(ipv4_parse(f + ETH_HLEN, len - ETH_HLEN, &ip), 0);
	assert_int_equal(ip.protocol, IPPROTO_TCP_);
	const uint8_t *l4 = f + ETH_HLEN + ip.ihl;
	size_t l4len = ip.tot_len - ip.ihl;
	assert_true(tcp_csum_ok(l4, l4len, ip.saddr, ip.daddr));
	assert_int_equal(tcp_parse(l4, l4len, &o.th), 0);
	o.saddr = ip.saddr;
	o.daddr = ip.daddr;
	o.when_ms = (e->cap->when[i] - T0) / MS;
	o.frame = f;
	return o;
}

static const char *flagstr(uint8_t f)
{
	static char b[16];
	snprintf(b, sizeof(b), "%s%s%s%s%s", f & TCPF_SYN ? "S" : "", f & TCPF_FIN ? "F" : "", f & TCPF_RST ? "R" : "",
		 f & TCPF_PSH ? "P" : "", f & TCPF_ACK ? "." : "");
	return b;
}

/* The next segment we sent matches s (PSH is ignored unless s asks for it); returns it. */
static struct outseg expect(struct env *e, const struct seg *s)
{
	struct outseg o = next_out(e);
	uint8_t mask = (s->flags & TCPF_PSH) ? 0xff : (uint8_t)~TCPF_PSH;
	if ((o.th.flags & mask) != (s->flags & mask) || o.th.seq != s->seq ||
	    ((s->flags & TCPF_ACK) && o.th.ack != s->ack))
		fail_msg("at %llu ms expected %s seq %u ack %u, got %s seq %u ack %u len %zu", (unsigned long long)o.when_ms,
			 flagstr(s->flags), s->seq, s->ack, flagstr(o.th.flags), o.th.seq, o.th.ack, o.th.payload_len);
	if (s->len >= 0)
		assert_int_equal(o.th.payload_len, (size_t)s->len);
	if (s->win >= 0 && s->win != 0xFFFFF)
		assert_int_equal(o.th.window, s->win);
	if (s->mss == -1)
		assert_false(o.th.opt.mss_ok);
	else if (s->mss > 0) {
		assert_true(o.th.opt.mss_ok);
		assert_int_equal(o.th.opt.mss, s->mss);
	}
	assert_int_equal(o.saddr, OUR_IP);
	assert_int_equal(o.daddr, PEER_IP);
	assert_int_equal(o.th.dport, s->dport ? s->dport : PEER_PORT);
	return o;
}

static inline void expect_none(struct env *e)
{
	if (e->cap->next < e->cap->n) {
		struct outseg o = next_out(e);
		fail_msg("expected nothing, got %s seq %u ack %u len %zu at %llu ms", flagstr(o.th.flags), o.th.seq, o.th.ack,
			 o.th.payload_len, (unsigned long long)o.when_ms);
	}
}

/* Forgets what was captured so far. */
static inline void drain(struct env *e) { e->cap->next = e->cap->n; }

static inline int pending_out(struct env *e) { return e->cap->n - e->cap->next; }

static inline uint64_t mib(struct env *e, enum np_mib_field f) { return np_stack_mib(e->s, f); }
static inline uint64_t drops(struct env *e, enum np_drop_reason r) { return np_stack_drops(e->s, r); }

static inline int tcp_state_of(int fd)
{
	struct tcp_info ti;
	socklen_t l = sizeof(ti);
	if (np_getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &l) < 0)
		return -1;
	return ti.tcpi_state;
}

static inline int so_error(int fd)
{
	int v = -1;
	socklen_t l = sizeof(v);
	np_getsockopt(fd, SOL_SOCKET, SO_ERROR, &v, &l);
	return v;
}

static inline short poll_events(int fd, short ev)
{
	struct pollfd p = { .fd = fd, .events = ev };
	np_poll(&p, 1, 0);
	return p.revents;
}

static inline int listener(struct env *e, uint16_t port, int backlog)
{
	int fd = np_socket(e->s, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	assert_true(fd >= 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	a.sin_addr.s_addr = htonl(OUR_IP);
	assert_int_equal(np_bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(np_listen(fd, backlog), 0);
	script_port = port;
	return fd;
}

/* A connection opened by the peer (passive open on our side). *fd: the accepted socket. Returns our ISS. */
static inline uint32_t open_passive(struct env *e, uint16_t port, uint32_t peer_isn, int *lfd, int *fd)
{
	*lfd = listener(e, port, 8);
	inject(e, &(struct seg){ .flags = TCPF_SYN, .seq = peer_isn, .win = 65535, .mss = 1460 });
	struct outseg o = next_out(e);
	assert_int_equal(o.th.flags, TCPF_SYN | TCPF_ACK);
	assert_int_equal(o.th.ack, peer_isn + 1);
	assert_true(o.th.opt.mss_ok);
	uint32_t iss = o.th.seq;
	inject(e, &(struct seg){ .flags = TCPF_ACK, .seq = peer_isn + 1, .ack = iss + 1, .win = 65535 });
	expect_none(e);
	*fd = np_accept(*lfd, NULL, NULL);
	assert_true(*fd >= 0);
	np_fcntl(*fd, F_SETFL, O_NONBLOCK);
	return iss;
}

/* A connection we open (active open). Returns our ISS; *fd is the connected socket. */
static inline uint32_t open_active(struct env *e, uint16_t lport, uint32_t peer_isn, int peer_mss, int *fd)
{
	*fd = np_socket(e->s, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	assert_true(*fd >= 0);
	struct sockaddr_in me = { .sin_family = AF_INET, .sin_port = htons(lport) };
	me.sin_addr.s_addr = htonl(OUR_IP);
	assert_int_equal(np_bind(*fd, (struct sockaddr *)&me, sizeof(me)), 0);
	script_port = lport;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(PEER_PORT) };
	a.sin_addr.s_addr = htonl(PEER_IP);
	assert_int_equal(np_connect(*fd, (struct sockaddr *)&a, sizeof(a)), -1);
	assert_int_equal(errno, EINPROGRESS);
	settle(e);
	struct outseg o = next_out(e);
	assert_int_equal(o.th.flags, TCPF_SYN);
	uint32_t iss = o.th.seq;
	inject(e, &(struct seg){ .flags = TCPF_SYN | TCPF_ACK, .seq = peer_isn, .ack = iss + 1, .win = 65535,
				 .mss = peer_mss });
	expect(e, &(struct seg){ .flags = TCPF_ACK, .seq = iss + 1, .ack = peer_isn + 1, .win = -1, .len = 0 });
	assert_int_equal(tcp_state_of(*fd), TCP_ESTABLISHED);
	return iss;
}

#endif
