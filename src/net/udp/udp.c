/*
 * UDP over IPv4 (RFC 768, RFC 1122 4.1; Linux's net/ipv4/udp.c and
 * net/ipv4/datagram.c).
 * Place in the packet path: the transport above ip_local_deliver_finish and
 * below the BSD socket layer (src/socket/).
 *   early:   ip_rcv_finish -> udp_v4_early_demux (connected socket by 4-tuple,
 *            its cached input route instead of ip_route_input)
 *   receive: ip_local_deliver_finish -> udp_rcv (length, checksum)
 *            -> __udp4_lib_lookup_skb -> udp_queue_rcv_skb
 *            -> (sock_owned_by_user ? sk_add_backlog : __udp_queue_rcv_skb)
 *            -> sock_queue_rcv_skb -> sk_data_ready
 *            broadcast: __udp4_lib_mcast_deliver (a clone per matching socket)
 *            no socket: UdpNoPorts + icmp_send(port unreachable)
 *   errors:  icmp_unreach -> udp_err -> sk_err (connected sockets, RFC 1122 4.1.3.3)
 *   send:    inet_sendmsg -> udp_sendmsg (route, checks, copy) -> udp_send_skb
 *            -> ip_build_and_send_pkt -> ip_local_out ...
 *   recv:    inet_recvmsg -> udp_recvmsg -> skb_recv_datagram -> consume_skb
 *
 * Lookup tables (per stack, Linux's udp_table): every bound socket is in
 * hash (by local port: bind conflicts, ephemeral ports, broadcast delivery);
 * an unconnected socket is also in hash2 (by bound address and port) and a
 * connected one in hash4 (by the 4-tuple), so unicast lookup costs the same
 * with ten sockets or ten thousand. The buckets are keyed (SipHash with the
 * stack's secret) so a peer cannot aim datagrams at one long chain.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "core/netdevice.h"
#include "core/hash.h"
#include "core/stack.h"
#include "net/ipv4/icmp.h"
#include "net/ipv4/ip.h"
#include "net/ipv4/protocol.h"
#include "net/ipv4/route.h"
#include "net/udp/udp.h"
#include "socket/sock.h"
#include "trace/trace.h"
#include "wire/icmp.h"
#include "wire/ipv4.h"
#include "wire/udp.h"

#ifndef IP_PMTUDISC_DONT
#define IP_PMTUDISC_DONT 0
#define IP_PMTUDISC_WANT 1
#define IP_PMTUDISC_DO 2
#define IP_PMTUDISC_PROBE 3
#endif

/* Buckets per table (Linux's UDP_HTABLE_SIZE_MIN is 256; it scales with memory). */
#define UDP_HTABLE_LOG 9
#define UDP_HTABLE_SIZE (1u << UDP_HTABLE_LOG)
#define UDP_HTABLE_MASK (UDP_HTABLE_SIZE - 1)
/* RFC 6056 3.3.4 (Algorithm 4): the table of per-bucket counters. */
#define UDP_PERTURB_SIZE 256
/* Domain tags so the one key serves independent hash functions. */
enum { UDP_H_ADDR = 1, UDP_H_4TUPLE, UDP_H_EHASH, UDP_H_PORT_OFFSET, UDP_H_PORT_RANDOM };

struct udp_sock;

/* One intrusive chain link: pprev points at whatever points at us (the head or the previous next). */
struct udp_link {
	struct udp_sock *next;
	struct udp_sock **pprev;
};

/* A SO_REUSEPORT group: unconnected sockets sharing (address, port, device) (Linux's sock_reuseport). */
struct udp_reuseport {
	uint32_t n, cap;
	struct udp_sock **socks;
};

/* Linux's struct udp_sock: struct sock first, so sk_alloc sizes it by udp_prot.obj_size. */
struct udp_sock {
	struct sock sk;
	struct udp_link port_node;      /* table->hash */
	struct udp_link addr_node;      /* table->hash2 (not connected) */
	struct udp_link conn_node;      /* table->hash4 (connected) */
	uint16_t udp_port_hash;         /* local port it is hashed under */
	uint8_t hashed;
	uint8_t in_hash4;
	uint8_t port_auto;              /* picked by get_port(sk, 0): released on disconnect */
	uint8_t saddr_auto;             /* rcv_saddr set by connect: cleared on disconnect */
	struct udp_reuseport *reuse;
	uint32_t reuse_idx;
	struct dst_cache dst;           /* connected sends: Linux's sk_dst_cache */
	uint16_t inet_id;               /* connected: IP ID of the next datagram, random from connect */
};

/* s->udp_table. */
struct udp_table {
	struct udp_sock *hash[UDP_HTABLE_SIZE];
	struct udp_sock *hash2[UDP_HTABLE_SIZE];
	struct udp_sock *hash4[UDP_HTABLE_SIZE];
	uint32_t perturb[UDP_PERTURB_SIZE];
	uint32_t hash_seed;             /* jhash key of hash2/hash4, derived from the stack secret */
	uint32_t hash4_count;           /* connected sockets in hash4: early demux looks only if any */
};

#define PORT_OFF offsetof(struct udp_sock, port_node)
#define ADDR_OFF offsetof(struct udp_sock, addr_node)
#define CONN_OFF offsetof(struct udp_sock, conn_node)

static inline struct udp_sock *udp_sk(const struct sock *sk) { return (struct udp_sock *)(void *)sk; }

/* Keyed hashing: np_siphash_2u64 and hash_addr_port (core/hash.h). */

static inline uint32_t udp_hash_port(uint16_t port) { return port & UDP_HTABLE_MASK; }

/*
 * Bob Jenkins' lookup3 final mix, as Linux's jhash_3words: the lookup tables
 * hash with it under a secret seed (udp4_portaddr_hash, inet_ehashfn), a
 * fraction of SipHash-2-4's cost; SipHash stays for port offsets.
 */
#define JH_ROL32(x, k) (((x) << (k)) | ((x) >> (32 - (k))))
static inline uint32_t udp_jhash_3words(uint32_t a, uint32_t b, uint32_t c, uint32_t seed)
{
	a += seed + 0xdeadbeefu + (3 << 2);
	b += seed + 0xdeadbeefu + (3 << 2);
	c += seed + 0xdeadbeefu + (3 << 2);
	c ^= b; c -= JH_ROL32(b, 14);
	a ^= c; a -= JH_ROL32(c, 11);
	b ^= a; b -= JH_ROL32(a, 25);
	c ^= b; c -= JH_ROL32(b, 16);
	a ^= c; a -= JH_ROL32(c, 4);
	b ^= a; b -= JH_ROL32(a, 14);
	c ^= b; c -= JH_ROL32(b, 24);
	return c;
}

static inline uint32_t udp_table_seed(const struct np_stack *s)
{
	return ((const struct udp_table *)s->udp_table)->hash_seed;
}

static inline uint32_t udp_hash_addr(const struct np_stack *s, uint32_t addr, uint16_t port)
{
	return udp_jhash_3words(addr, port, UDP_H_ADDR, udp_table_seed(s)) & UDP_HTABLE_MASK;
}

static inline uint32_t udp_hash_4tuple(const struct np_stack *s, uint32_t laddr, uint16_t lport, uint32_t faddr,
				       uint16_t fport)
{
	return udp_jhash_3words(laddr, faddr, (uint32_t)lport << 16 | fport, udp_table_seed(s) ^ UDP_H_4TUPLE) &
	       UDP_HTABLE_MASK;
}

/* Linux's udp_ehashfn: spreads the flows of a SO_REUSEPORT group over its members. */
static inline uint32_t udp_ehashfn(const struct np_stack *s, uint32_t laddr, uint16_t lport, uint32_t faddr,
				   uint16_t fport)
{
	return (uint32_t)np_siphash_2u64(s, hash_addr_port(laddr, lport, 0), hash_addr_port(faddr, fport, UDP_H_EHASH));
}

/* ---- chains ---------------------------------------------------------------- */

static inline struct udp_link *ulink(struct udp_sock *us, size_t off)
{
	return (struct udp_link *)(void *)((char *)us + off);
}

/* Adds at the head, as Linux's sk_add_node_rcu: the newest socket wins ties. */
static void chain_add(struct udp_sock **head, struct udp_sock *us, size_t off)
{
	struct udp_link *l = ulink(us, off);

	l->next = *head;
	if (*head)
		ulink(*head, off)->pprev = &l->next;
	*head = us;
	l->pprev = head;
}

static void chain_del(struct udp_sock *us, size_t off)
{
	struct udp_link *l = ulink(us, off);

	if (!l->pprev)
		return;
	*l->pprev = l->next;
	if (l->next)
		ulink(l->next, off)->pprev = l->pprev;
	l->next = NULL;
	l->pprev = NULL;
}

#define chain_for_each(us, head, off) for (struct udp_sock *us = (head); us; us = ulink(us, off)->next)

/* Connected with a full 4-tuple: lives in hash4 rather than hash2. */
static inline int udp_connected4(const struct sock *sk)
{
	return sk->sk_state == TCP_ESTABLISHED_ && sk->inet_daddr && sk->inet_dport && sk->inet_rcv_saddr;
}

/* ---- SO_REUSEPORT groups --------------------------------------------------- */

static void reuseport_detach(struct udp_sock *us)
{
	struct udp_reuseport *g = us->reuse;

	if (!g)
		return;
	/* Swap the last member into our place, as reuseport_detach_sock does. */
	g->socks[us->reuse_idx] = g->socks[--g->n];
	g->socks[us->reuse_idx]->reuse_idx = us->reuse_idx;
	us->reuse = NULL;
	if (g->n == 0) {
		free(g->socks);
		free(g);
	}
}

/*
 * Joins the group of an unconnected SO_REUSEPORT socket bound to the same
 * address, port and device (Linux's udp_reuseport_add_sock), or starts one.
 * Without memory the socket simply stays out of any group.
 */
static void reuseport_attach(struct np_stack *s, struct udp_table *t, struct udp_sock *us)
{
	struct sock *sk = &us->sk;
	struct udp_reuseport *g = NULL;

	chain_for_each(us2, t->hash2[udp_hash_addr(s, sk->inet_rcv_saddr, us->udp_port_hash)], ADDR_OFF) {
		const struct sock *sk2 = &us2->sk;
		if (us2 != us && us2->reuse && us2->udp_port_hash == us->udp_port_hash &&
		    sk2->inet_rcv_saddr == sk->inet_rcv_saddr && sk2->bound_dev_if == sk->bound_dev_if &&
		    (sk2->sk_flags & SOCK_REUSEPORT_)) {
			g = us2->reuse;
			break;
		}
	}
	if (!g) {
		g = calloc(1, sizeof(*g));
		if (!g)
			return;
	}
	if (g->n == g->cap) {
		uint32_t cap = g->cap ? g->cap * 2 : 4;
		struct udp_sock **v = realloc(g->socks, cap * sizeof(*v));
		if (!v) {
			if (g->n == 0)
				free(g);
			return;
		}
		g->socks = v;
		g->cap = cap;
	}
	us->reuse = g;
	us->reuse_idx = g->n;
	g->socks[g->n++] = us;
}

/* ---- hashing a socket in and out --------------------------------------- */

/* Puts a socket whose udp_port_hash is set into hash and hash2/hash4. */
static void udp_hash_sock(struct np_stack *s, struct udp_table *t, struct udp_sock *us)
{
	struct sock *sk = &us->sk;

	chain_add(&t->hash[udp_hash_port(us->udp_port_hash)], us, PORT_OFF);
	if (udp_connected4(sk)) {
		chain_add(&t->hash4[udp_hash_4tuple(s, sk->inet_rcv_saddr, us->udp_port_hash, sk->inet_daddr,
						    sk->inet_dport)],
			  us, CONN_OFF);
		us->in_hash4 = 1;
		t->hash4_count++;
	} else {
		chain_add(&t->hash2[udp_hash_addr(s, sk->inet_rcv_saddr, us->udp_port_hash)], us, ADDR_OFF);
		us->in_hash4 = 0;
		if (sk->sk_flags & SOCK_REUSEPORT_)
			reuseport_attach(s, t, us);
	}
	us->hashed = 1;
	inet_sk_rx_dst_reset(sk);   /* a cached input route belongs to one 4-tuple */
}

static void udp_unhash_sock(struct udp_sock *us)
{
	if (!us->hashed)
		return;
	inet_sk_rx_dst_reset(&us->sk);
	reuseport_detach(us);
	if (us->in_hash4)
		((struct udp_table *)us->sk.stack->udp_table)->hash4_count--;
	chain_del(us, PORT_OFF);
	chain_del(us, us->in_hash4 ? CONN_OFF : ADDR_OFF);
	us->hashed = 0;
	us->in_hash4 = 0;
}

/* Linux's udp_lib_rehash: the address or peer changed, the port did not. */
static void udp_rehash(struct sock *sk)
{
	struct udp_sock *us = udp_sk(sk);
	struct np_stack *s = sk->stack;

	if (!us->hashed || !s->udp_table)
		return;
	udp_unhash_sock(us);
	udp_hash_sock(s, s->udp_table, us);
}

/* udp_prot.unhash (Linux's udp_lib_unhash): out of every table, port released. */
static void udp_lib_unhash(struct sock *sk)
{
	struct udp_sock *us = udp_sk(sk);

	if (!us->hashed)
		return;
	udp_unhash_sock(us);
	sk->inet_num = 0;
	us->udp_port_hash = 0;
}

/* ---- binding: ports -------------------------------------------------------- */

/*
 * Linux's udp_lib_lport_inuse: would binding sk to snum clash with a socket
 * already there? Two sockets may share a port when both set SO_REUSEADDR,
 * or both set SO_REUSEPORT, or their devices differ, or their addresses do
 * not overlap (0.0.0.0 overlaps every address).
 */
static int udp_lport_inuse(struct udp_table *t, const struct sock *sk, uint16_t snum)
{
	chain_for_each(us2, t->hash[udp_hash_port(snum)], PORT_OFF) {
		const struct sock *sk2 = &us2->sk;
		if (sk2 == sk || us2->udp_port_hash != snum)
			continue;
		if ((sk->sk_flags & SOCK_REUSEADDR_) && (sk2->sk_flags & SOCK_REUSEADDR_))
			continue;
		if (sk->bound_dev_if && sk2->bound_dev_if && sk->bound_dev_if != sk2->bound_dev_if)
			continue;
		if (sk->inet_rcv_saddr && sk2->inet_rcv_saddr && sk->inet_rcv_saddr != sk2->inet_rcv_saddr)
			continue;
		/* Linux also compares the owners' uids; one process owns every socket here. */
		if ((sk->sk_flags & SOCK_REUSEPORT_) && (sk2->sk_flags & SOCK_REUSEPORT_))
			continue;
		return 1;
	}
	return 0;
}

/* Any socket on port at all: an ephemeral port is handed out only when nobody holds it. */
static int udp_port_used(struct udp_table *t, uint16_t port)
{
	chain_for_each(us, t->hash[udp_hash_port(port)], PORT_OFF)
		if (us->udp_port_hash == port)
			return 1;
	return 0;
}

/*
 * A random 32-bit value no peer can predict: the stack generator (which a
 * seeded test stack makes reproducible) passed through the keyed SipHash,
 * so its outputs do not expose the generator's linear state.
 */
static uint32_t udp_port_random(struct np_stack *s)
{
	return (uint32_t)np_siphash_2u64(s, np_random(s), (uint64_t)UDP_H_PORT_RANDOM << 48);
}

/*
 * Ephemeral port selection (RFC 6056). With the peer known (connect), it is
 * Algorithm 4 (3.3.4, double-hash): a keyed hash of (local address, remote
 * address, remote port) gives the starting offset, a second one picks a
 * counter that advances on every use by the ports tried plus a random step
 * (Linux's table_perturb idea), so ports toward one peer rarely repeat and
 * other peers learn nothing from them. With the peer unknown (bind to port
 * 0, autobind before sendto) every socket would share one counter, so the
 * start is fully random instead (Algorithm 1, 3.3.1, what Linux's UDP always
 * does): one port seen must not give away the next, e.g. a DNS resolver's.
 * The range is Linux's default net.ipv4.ip_local_port_range, kept as
 * constants in udp.h until a sysctl is wanted.
 */
static int udp_pick_ephemeral(struct np_stack *s, struct udp_table *t, const struct sock *sk, uint32_t daddr,
			      uint16_t dport, uint16_t *port)
{
	const uint32_t low = UDP_EPHEMERAL_LOW, num = UDP_EPHEMERAL_HIGH - UDP_EPHEMERAL_LOW + 1;
	uint64_t h = np_siphash_2u64(s, hash_addr_port(sk->inet_rcv_saddr, 0, UDP_H_PORT_OFFSET), hash_addr_port(daddr, dport, 0));
	uint32_t index = (uint32_t)(h >> 32) & (UDP_PERTURB_SIZE - 1);
	int known_peer = daddr != 0;
	uint32_t base = (uint32_t)h + (known_peer ? t->perturb[index] : udp_port_random(s));

	for (uint32_t i = 0; i < num; i++) {
		uint16_t p = (uint16_t)(low + (base + i) % num);
		if (!udp_port_used(t, p)) {
			if (known_peer)
				t->perturb[index] += i + 1 + (udp_port_random(s) & 7);
			*port = p;
			return 0;
		}
	}
	return -EADDRINUSE;
}

/* Binds sk to snum (0: an ephemeral port chosen with the peer as hint) and hashes it. */
static int udp_lib_get_port(struct sock *sk, uint16_t snum, uint32_t daddr, uint16_t dport)
{
	struct np_stack *s = sk->stack;
	struct udp_table *t = s->udp_table;
	struct udp_sock *us = udp_sk(sk);

	if (!t)
		return -EAFNOSUPPORT;
	if (us->hashed)
		return -EINVAL;
	if (snum == 0) {
		if (udp_pick_ephemeral(s, t, sk, daddr, dport, &snum) < 0)
			return -EADDRINUSE;
		us->port_auto = 1;
	} else {
		if (udp_lport_inuse(t, sk, snum))
			return -EADDRINUSE;
		us->port_auto = 0;
	}
	sk->inet_num = snum;
	us->udp_port_hash = snum;
	udp_hash_sock(s, t, us);
	return 0;
}

/*
 * udp_prot.get_port (Linux's udp_v4_get_port): 0 or -EADDRINUSE. The socket
 * layer's autobind turns a failure for port 0 into -EAGAIN, as Linux's
 * inet_autobind does; bind(port 0) reports -EADDRINUSE.
 */
static int udp_v4_get_port(struct sock *sk, uint16_t snum)
{
	return udp_lib_get_port(sk, snum, sk->inet_daddr, sk->inet_dport);
}

/* ---- lookup ---------------------------------------------------------------- */

/*
 * Linux's compute_score for a socket bound to laddr:hnum: -1 if it cannot
 * take the datagram, else 2, +4 for a matching connected peer address, +4
 * for the peer port, +4 for a matching bound device.
 */
static int compute_score(const struct sock *sk, uint32_t saddr, uint16_t sport, uint32_t laddr, uint16_t hnum,
			 int dif)
{
	int score = 2;

	if (udp_sk(sk)->udp_port_hash != hnum || sk->inet_rcv_saddr != laddr)
		return -1;
	if (sk->inet_daddr) {
		if (sk->inet_daddr != saddr)
			return -1;
		score += 4;
	}
	if (sk->inet_dport) {
		if (sk->inet_dport != sport)
			return -1;
		score += 4;
	}
	if (sk->bound_dev_if) {
		if (sk->bound_dev_if != dif)
			return -1;
		score += 4;
	}
	return score;
}

/* Connected sockets by exact 4-tuple (Linux's udp4_lib_lookup4 over hash4). */
static struct sock *udp4_lib_lookup4(struct np_stack *s, struct udp_table *t, uint32_t saddr, uint16_t sport,
				     uint32_t daddr, uint16_t hnum, int dif)
{
	struct sock *result = NULL;
	int badness = -1;

	chain_for_each(us, t->hash4[udp_hash_4tuple(s, daddr, hnum, saddr, sport)], CONN_OFF) {
		int score = compute_score(&us->sk, saddr, sport, daddr, hnum, dif);
		if (score > badness) {
			badness = score;
			result = &us->sk;
		}
	}
	return result;
}

/* Unconnected sockets bound to laddr:hnum (Linux's udp4_lib_lookup2), SO_REUSEPORT groups by flow hash. */
static struct sock *udp4_lib_lookup2(struct np_stack *s, struct udp_table *t, uint32_t saddr, uint16_t sport,
				     uint32_t laddr, uint32_t daddr, uint16_t hnum, int dif)
{
	struct udp_sock *result = NULL;
	int badness = -1;

	chain_for_each(us, t->hash2[udp_hash_addr(s, laddr, hnum)], ADDR_OFF) {
		int score = compute_score(&us->sk, saddr, sport, laddr, hnum, dif);
		if (score > badness) {
			badness = score;
			result = us;
		}
	}
	if (result && result->reuse && result->reuse->n > 1) {
		/* Every member scores the same (same address, port, device, unconnected). */
		struct udp_reuseport *g = result->reuse;
		uint32_t hash = udp_ehashfn(s, daddr, hnum, saddr, sport);
		result = g->socks[((uint64_t)hash * g->n) >> 32];
	}
	return result ? &result->sk : NULL;
}

struct sock *__udp4_lib_lookup(struct np_stack *s, uint32_t saddr, uint16_t sport, uint32_t daddr,
			       uint16_t dport, const struct net_device *dev)
{
	struct udp_table *t = s->udp_table;
	int dif = dev ? dev->ifindex : 0;
	struct sock *sk;

	if (!t)
		return NULL;
	/* Connected 4-tuple first, then the exact local address, then the wildcard, as Linux. */
	sk = udp4_lib_lookup4(s, t, saddr, sport, daddr, dport, dif);
	if (sk)
		return sk;
	sk = udp4_lib_lookup2(s, t, saddr, sport, daddr, daddr, dport, dif);
	if (sk)
		return sk;
	return udp4_lib_lookup2(s, t, saddr, sport, INADDR_ANY, daddr, dport, dif);
}

/* ---- receive --------------------------------------------------------------- */

/*
 * Consumes skb (data at the UDP payload): the receive queue, or a drop when
 * the receive buffer is full. Also the backlog handler release_sock runs.
 */
static int __udp_queue_rcv_skb(struct sock *sk, struct sk_buff *skb)
{
	struct np_stack *s = sk->stack;

	trace_stage(skb, "__udp_queue_rcv_skb");
	int rc = sock_queue_rcv_skb(sk, skb);
	if (rc < 0) {
		/* Linux's __udp_queue_rcv_skb: -ENOMEM is the receive buffer being full. */
		if (rc == -ENOMEM)
			NP_INC_STATS(s, UdpRcvbufErrors);
		NP_INC_STATS(s, UdpInErrors);
		sk->sk_drops++;
		kfree_skb_reason(skb, NP_DROP_SOCKET_RCVBUFF);
		return -1;
	}
	/*
	 * sock_queue_rcv_skb has queued it and called sk_data_ready. Counted
	 * here, when queued (RFC 4113 udpInDatagrams: delivered to a user's
	 * socket); Linux counts it when recvmsg dequeues it.
	 */
	NP_INC_STATS(s, UdpInDatagrams);
	return 0;
}

/* Consumes skb: prot->backlog_rcv, for datagrams that arrived while a user owned the socket. */
static int udp_backlog_rcv(struct sock *sk, struct sk_buff *skb)
{
	return __udp_queue_rcv_skb(sk, skb) < 0 ? -ENOBUFS : 0;
}

/* Consumes skb (data at the UDP header): to the socket's queue, its backlog, or a drop. */
int udp_queue_rcv_skb(struct sock *sk, struct sk_buff *skb)
{
	trace_stage(skb, "udp_queue_rcv_skb");
	/* recvmsg copies the payload; the header stays reachable through transport_header and UDP_SKB_CB. */
	skb_pull(skb, UDP_HLEN);
	if (sock_owned_by_user(sk)) {
		/* Seed 001: a user holds the socket, so the datagram waits on the backlog. */
		if (sk_add_backlog(sk, skb) < 0) {
			/* sk_add_backlog dropped it (SOCKET_RCVBUFF) and counted sk_drops. */
			NP_INC_STATS(sk->stack, UdpInErrors);
			return -1;
		}
		return 0;
	}
	return __udp_queue_rcv_skb(sk, skb);
}

/* Linux's __udp_is_mcast_sock: may this socket see a broadcast to daddr:hnum from saddr:sport? */
static int udp_is_mcast_sock(const struct udp_sock *us, uint16_t hnum, uint32_t daddr, uint32_t saddr,
			     uint16_t sport, int dif)
{
	const struct sock *sk = &us->sk;

	return us->udp_port_hash == hnum && (!sk->inet_daddr || sk->inet_daddr == saddr) &&
	       (!sk->inet_dport || sk->inet_dport == sport) &&
	       (!sk->inet_rcv_saddr || sk->inet_rcv_saddr == daddr) &&
	       (!sk->bound_dev_if || sk->bound_dev_if == dif);
}

/*
 * Consumes skb (data at the UDP header): Linux's __udp4_lib_mcast_deliver.
 * Every socket on the port that accepts the datagram gets it: clones for
 * all but the first, which gets the original (and its trace).
 */
static int __udp4_lib_mcast_deliver(struct np_stack *s, struct sk_buff *skb, uint32_t saddr, uint16_t sport,
				    uint32_t daddr, uint16_t hnum)
{
	int dif = skb->dev ? skb->dev->ifindex : 0;
	struct sock *first = NULL;

	trace_stage(skb, "__udp4_lib_mcast_deliver");
	chain_for_each(us, s->udp_table->hash[udp_hash_port(hnum)], PORT_OFF) {
		if (!udp_is_mcast_sock(us, hnum, daddr, saddr, sport, dif))
			continue;
		if (!first) {
			first = &us->sk;
			continue;
		}
		struct sk_buff *nskb = skb_clone(skb);
		if (!nskb) {
			us->sk.sk_drops++;
			NP_INC_STATS(s, UdpRcvbufErrors);
			NP_INC_STATS(s, UdpInErrors);
			continue;
		}
		udp_queue_rcv_skb(&us->sk, nskb);
	}
	if (first) {
		udp_queue_rcv_skb(first, skb);
		return 0;
	}
	/* No listener: Linux counts UdpIgnoredMulti (not UdpNoPorts) and sends no ICMP (RFC 1122 3.2.2). */
	kfree_skb_reason(skb, NP_DROP_NO_SOCKET);
	return 0;
}

/* Was the datagram sent to a broadcast or multicast address? The input route says; else the link layer. */
static int udp_dst_is_mcast(const struct sk_buff *skb, uint32_t daddr)
{
	if (skb->rt_valid)
		return skb->rt.rt_type == RTN_BROADCAST || skb->rt.rt_type == RTN_MULTICAST;
	return skb->pkt_type == PACKET_BROADCAST || skb->pkt_type == PACKET_MULTICAST || ipv4_is_lbcast(daddr) ||
	       ipv4_is_multicast(daddr);
}

/* Consumes skb (data at the UDP header, IPCB filled): Linux's __udp4_lib_rcv. */
int udp_rcv(struct sk_buff *skb)
{
	struct np_stack *s = skb->stack;
	struct udp_skb_cb *cb = UDP_SKB_CB(skb);
	enum np_drop_reason reason;
	struct udp_repr uh;

	trace_stage(skb, "udp_rcv");
	/* RFC 768: at least a header, and a length field between 8 and what IP carried. */
	if (udp_parse(skb->data, skb->len, &uh) < 0) {
		reason = NP_DROP_UDP_BAD_LEN;
		goto inerror;
	}
	/* A shorter length field is legal: what follows it is not part of the datagram. */
	skb_trim(skb, uh.len);
	/*
	 * RFC 1122 4.1.3.4: a datagram whose checksum fails is discarded
	 * silently; a zero checksum means the sender computed none.
	 */
	if (skb->ip_summed != CHECKSUM_UNNECESSARY &&
	    !udp_csum_ok(skb->data, &uh, cb->header.saddr, cb->header.daddr)) {
		NP_INC_STATS(s, UdpInCsumErrors);
		reason = NP_DROP_UDP_CSUM;
		goto inerror;
	}
	cb->sport = uh.sport;
	cb->dport = uh.dport;
	if (!s->udp_table) {
		reason = NP_DROP_NO_SOCKET;
		goto drop;
	}

	if (udp_dst_is_mcast(skb, cb->header.daddr))
		return __udp4_lib_mcast_deliver(s, skb, cb->header.saddr, uh.sport, cb->header.daddr, uh.dport);

	trace_stage(skb, "__udp4_lib_lookup_skb");
	/* Early demux found the connected socket (the one lookup4 returns) and holds a reference for us. */
	struct sock *sk = skb_steal_demuxed_sock(skb, cb->header.saddr, uh.sport, cb->header.daddr, uh.dport);
	if (sk) {
		/* Linux's udp_sk_rx_dst_set: a route resolved for this socket is the one early demux will reuse. */
		inet_sk_rx_dst_set(sk, inet_skb_rx_dst_ifindex(skb));
		udp_queue_rcv_skb(sk, skb);
		sock_put(sk);
		return 0;
	}
	sk = __udp4_lib_lookup(s, cb->header.saddr, uh.sport, cb->header.daddr, uh.dport, skb->dev);
	if (sk) {
		udp_queue_rcv_skb(sk, skb);
		return 0;
	}

	/* RFC 1122 4.1.3.1: SHOULD send port unreachable (icmp_send applies 3.2.2's limits and the rate limit). */
	NP_INC_STATS(s, UdpNoPorts);
	icmp_send(skb, ICMP_DEST_UNREACH, ICMP_PORT_UNREACH, 0);
	reason = NP_DROP_NO_SOCKET;
	goto drop;

inerror:
	NP_INC_STATS(s, UdpInErrors);
drop:
	kfree_skb_reason(skb, reason);
	return 0;
}

/* ---- ICMP errors ----------------------------------------------------------- */

/* Linux's icmp_err_convert: errno per destination-unreachable code, and whether it is hard. */
static const struct {
	int err;
	int fatal;
} icmp_err_convert[] = {
	{ ENETUNREACH, 0 },  /* ICMP_NET_UNREACH */
	{ EHOSTUNREACH, 0 }, /* ICMP_HOST_UNREACH */
	{ ENOPROTOOPT, 1 },  /* ICMP_PROT_UNREACH */
	{ ECONNREFUSED, 1 }, /* ICMP_PORT_UNREACH */
	{ EMSGSIZE, 0 },     /* ICMP_FRAG_NEEDED */
	{ EOPNOTSUPP, 0 },   /* ICMP_SR_FAILED */
	{ ENETUNREACH, 1 },  /* ICMP_NET_UNKNOWN */
	{ EHOSTDOWN, 1 },    /* ICMP_HOST_UNKNOWN */
	{ ENONET, 1 },       /* ICMP_HOST_ISOLATED */
	{ ENETUNREACH, 1 },  /* ICMP_NET_ANO */
	{ EHOSTUNREACH, 1 }, /* ICMP_HOST_ANO */
	{ ENETUNREACH, 0 },  /* ICMP_NET_UNR_TOS */
	{ EHOSTUNREACH, 0 }, /* ICMP_HOST_UNR_TOS */
	{ EHOSTUNREACH, 1 }, /* ICMP_PKT_FILTERED */
	{ EHOSTUNREACH, 1 }, /* ICMP_PREC_VIOLATION */
	{ EHOSTUNREACH, 1 }, /* ICMP_PREC_CUTOFF */
};

/*
 * Does not consume skb (data at the quoted IP header, IHL + 8 bytes):
 * Linux's __udp4_lib_err. RFC 1122 4.1.3.3 passes ICMP errors to the
 * application; as Linux, only hard errors on connected sockets become
 * sk_err (reported by the next call), unless IP_RECVERR asked for all.
 */
void udp_err(struct sk_buff *skb, uint8_t type, uint8_t code, uint32_t info)
{
	struct np_stack *s = skb->stack;
	const uint8_t *q = skb->data;
	int err, harderr = 0;

	trace_stage(skb, "__udp4_lib_err");
	if (skb->len < IPV4_HLEN_MIN)
		return;
	size_t ihl = (size_t)(q[0] & 0x0f) * 4;
	if (ihl < IPV4_HLEN_MIN || skb->len < ihl + UDP_HLEN)
		return;
	/* We sent the quoted datagram: its source is us, its destination the peer. */
	uint32_t qsaddr = be32_get(q + 12), qdaddr = be32_get(q + 16);
	uint16_t qsport = be16_get(q + ihl), qdport = be16_get(q + ihl + 2);
	struct sock *sk = __udp4_lib_lookup(s, qdaddr, qdport, qsaddr, qsport, skb->dev);
	if (!sk) {
		NP_INC_STATS(s, IcmpInErrors);
		return;
	}

	switch (type) {
	case ICMP_SOURCE_QUENCH:
	case ICMP_REDIRECT:
		/* RFC 6633 deprecates source quench; redirects are the route's business. */
		return;
	case ICMP_PARAMETERPROB:
		err = EPROTO;
		harderr = 1;
		break;
	case ICMP_DEST_UNREACH:
		if (code == ICMP_FRAG_NEEDED) {
			/* RFC 1191: the path MTU cache lands with the IP-layer issue; report only. */
			if (sk->pmtudisc == IP_PMTUDISC_DONT)
				return;
			err = EMSGSIZE;
			harderr = 1;
			break;
		}
		err = EHOSTUNREACH;
		if (code < sizeof(icmp_err_convert) / sizeof(icmp_err_convert[0])) {
			err = icmp_err_convert[code].err;
			harderr = icmp_err_convert[code].fatal;
		}
		break;
	case ICMP_TIME_EXCEEDED:
	default:
		err = EHOSTUNREACH;
		break;
	}

	if (!sk->recverr && (!harderr || sk->sk_state != TCP_ESTABLISHED_))
		return;
	/* With IP_RECVERR Linux also queues the error on sk_error_queue; we only set sk_err. */
	sk_error_set(sk, err);
}

/*
 * Linux's __udp4_lib_demux_lookup: the connected socket of an exact 4-tuple
 * that may take a datagram from dif, if it is the only one; two or more
 * (SO_REUSEADDR) are left to udp4_lib_lookup4's scoring.
 */
static struct sock *udp4_lib_demux_lookup(struct np_stack *s, const struct udp_table *t, uint32_t saddr,
					  uint16_t sport, uint32_t daddr, uint16_t hnum, int dif)
{
	struct sock *result = NULL;

	chain_for_each(us, t->hash4[udp_hash_4tuple(s, daddr, hnum, saddr, sport)], CONN_OFF) {
		const struct sock *sk = &us->sk;

		if (us->udp_port_hash != hnum || sk->inet_rcv_saddr != daddr || sk->inet_daddr != saddr ||
		    sk->inet_dport != sport || (sk->bound_dev_if && sk->bound_dev_if != dif))
			continue;
		if (result)
			return NULL;
		result = &us->sk;
	}
	return result;
}

/*
 * Linux's udp_v4_early_demux (net_protocol.early_demux), unicast only: the
 * connected socket of the datagram's 4-tuple, the one __udp4_lib_lookup
 * would pick first, rides on skb->sk to udp_rcv, and its cached input
 * route, when valid, spares ip_route_input. Unconnected sockets, broadcast
 * and multicast take the full path.
 */
static int udp_v4_early_demux(struct sk_buff *skb)
{
	struct np_stack *s = skb->stack;
	const struct udp_table *t = s->udp_table;
	const struct inet_skb_parm *cb = IPCB(skb);
	const uint8_t *uh;
	struct sock *sk;

	/* No connected socket at all (a server's usual table): nothing to find, skip the hash. */
	if (!s->sysctl.udp_early_demux || !t || !t->hash4_count || skb->pkt_type != PACKET_HOST)
		return 0;
	if (skb->len < (uint32_t)cb->ihl + UDP_HLEN)
		return 0;
	uh = skb->data + cb->ihl;
	sk = udp4_lib_demux_lookup(s, t, cb->saddr, be16_get(uh), cb->daddr, be16_get(uh + 2), skb->dev->ifindex);
	if (!sk)
		return 0;
	return inet_early_demux_found(skb, sk, "udp_v4_early_demux");
}

static const struct net_protocol udp_protocol = {
	.early_demux = udp_v4_early_demux,
	.handler = udp_rcv,
	.err_handler = udp_err,
};

/* ---- send ------------------------------------------------------------------ */

/* What an skb costs its socket's buffer (Linux's truesize): the data buffer plus the head. */
static inline int udp_skb_truesize(const struct sk_buff *skb)
{
	return (int)(skb->end + sizeof(struct sk_buff));
}

/* skb->destructor of a sent datagram (Linux's sock_wfree): returns its send-buffer charge. */
static void udp_wfree(struct sk_buff *skb)
{
	struct sock *sk = skb->sk;

	if (!sk)
		return;
	sk->sk_wmem_alloc -= udp_skb_truesize(skb);
	skb->sk = NULL;
	if (!(sk->sk_flags & SOCK_DEAD_) && sk_cb(sk)->sk_write_space)
		sk_cb(sk)->sk_write_space(sk);
	sock_put(sk);
}

/* Charges skb to sk's send buffer until it is freed; the skb holds a reference on sk. */
static void udp_set_owner_w(struct sk_buff *skb, struct sock *sk)
{
	sock_hold(sk);
	skb->sk = sk;
	skb->destructor = udp_wfree;
	sk->sk_wmem_alloc += udp_skb_truesize(skb);
}

/* Consumes skb (data at the UDP header room + payload): header and checksum, then IP. */
static int udp_send_skb(struct sock *sk, struct sk_buff *skb, const struct rtable *rt, uint32_t saddr,
			uint32_t daddr, uint16_t dport, size_t len, struct net_device *oif)
{
	struct np_stack *s = sk->stack;

	trace_stage(skb, "udp_send_skb");
	udp_emit(sk->inet_num, dport, len, saddr, daddr, skb->data, skb->len);
	skb_reset_transport_header(skb);
	skb->rt = *rt;
	skb->rt_valid = 1;
	/*
	 * Linux's __ip_make_skb: DF with IP_PMTUDISC_DO/PROBE (udp_sendmsg refused
	 * anything bigger than the MTU), and with WANT only when the datagram fits
	 * the route MTU; a bigger one goes without DF and is fragmented here.
	 */
	uint8_t pmtu = sk->pmtudisc;
	uint32_t mtu = rt->rt_mtu ? rt->rt_mtu : (rt->dev ? rt->dev->mtu : 0);
	int fits = !mtu || skb->len + IPV4_HLEN_MIN <= mtu;
	struct ip_out_params p = {
		.saddr = saddr,
		.daddr = daddr,
		.protocol = IPPROTO_UDP_,
		.tos = sk->tos,
		.ttl = sk->uc_ttl,
		.df = pmtu == IP_PMTUDISC_DO || pmtu == IP_PMTUDISC_PROBE || (pmtu == IP_PMTUDISC_WANT && fits),
		.ignore_df = pmtu < IP_PMTUDISC_DO,
		.oif = oif,
		/* Linux numbers a connected socket's datagrams itself (ip_select_ident_segs). */
		.inet_id = sk->inet_daddr ? &udp_sk(sk)->inet_id : NULL,
	};
	int err = ip_build_and_send_pkt(s, skb, &p);
	if (err) {
		/* Linux: a full qdisc (ENOBUFS) is not the application's error unless it asked (IP_RECVERR). */
		if (err == -ENOBUFS && !sk->recverr) {
			NP_INC_STATS(s, UdpSndbufErrors);
			err = 0;
		}
	} else {
		NP_INC_STATS(s, UdpOutDatagrams);
	}
	return err;
}

static inline int udp_nonblocking(const struct sock *sk, int flags)
{
	return (flags & MSG_DONTWAIT) || (sk->sk_socket && sk->sk_socket->nonblock);
}

/*
 * udp_prot.sendmsg (Linux's udp_sendmsg): len bytes of msg's iovec as one
 * datagram. Returns len or a negative errno; -EAGAIN when the send buffer
 * is full (the socket layer waits and retries for a blocking socket).
 */
static ssize_t udp_sendmsg(struct sock *sk, const struct msghdr *msg, size_t len, int flags)
{
	struct np_stack *s = sk->stack;
	uint32_t daddr;
	uint16_t dport;
	int err;

	if (len > 0xFFFF)
		return -EMSGSIZE;
	if (flags & MSG_OOB)
		return -EOPNOTSUPP;
	/* inet_sendmsg's autobind, in case the socket layer did not do it first. */
	if (!sk->inet_num && udp_v4_get_port(sk, 0) < 0)
		return -EAGAIN;

	if (msg->msg_name) {
		struct sockaddr_in usin;
		if (msg->msg_namelen < sizeof(usin))
			return -EINVAL;
		memcpy(&usin, msg->msg_name, sizeof(usin));
		/* Linux still accepts AF_UNSPEC here for old programs. */
		if (usin.sin_family != AF_INET && usin.sin_family != AF_UNSPEC)
			return -EAFNOSUPPORT;
		daddr = ntohl(usin.sin_addr.s_addr);
		dport = ntohs(usin.sin_port);
		if (dport == 0)
			return -EINVAL;
	} else {
		if (sk->sk_state != TCP_ESTABLISHED_)
			return -EDESTADDRREQ;
		daddr = sk->inet_daddr;
		dport = sk->inet_dport;
	}

	struct net_device *oif = NULL;
	if (sk->bound_dev_if) {
		oif = dev_get_by_index(s, sk->bound_dev_if);
		if (!oif)
			return -ENODEV;
	}
	/* Route first: it names the source address a socket bound to 0.0.0.0 sends from. */
	struct rtable rt;
	if (msg->msg_name)
		err = ip_route_output(s, daddr, sk->inet_saddr, oif, &rt);
	else
		err = ip_route_output_cached(s, &udp_sk(sk)->dst, daddr, sk->inet_saddr, oif, &rt);
	if (err < 0) {
		if (err == -ENETUNREACH)
			NP_INC_STATS(s, IpOutNoRoutes);
		return err;
	}
	/* RFC 1122 4.1.3.5 leaves broadcast sending to the application: Linux asks for SO_BROADCAST. */
	if ((rt.rt_type == RTN_BROADCAST || ipv4_is_lbcast(daddr)) && !(sk->sk_flags & SOCK_BROADCAST_))
		return -EACCES;
	/* RFC 791 3.1: total length is 16 bits, so 65535 - 20 - 8 bytes of payload at most. */
	if (len > UDP_MAX_PAYLOAD)
		return -EMSGSIZE;
	/*
	 * Linux's __ip_append_data: a datagram bigger than the MTU is fragmented
	 * (ip_fragment) unless the socket asked for real PMTU discovery
	 * (DO, PROBE or INTERFACE: ip_sk_ignore_df is false): then EMSGSIZE.
	 */
	uint32_t mtu = rt.rt_mtu ? rt.rt_mtu : (rt.dev ? rt.dev->mtu : 0);
	int ignore_df = sk->pmtudisc < IP_PMTUDISC_DO || sk->pmtudisc == IP_PMTUDISC_OMIT;
	if (!ignore_df && mtu && len + UDP_HLEN + IPV4_HLEN_MIN > mtu)
		return -EMSGSIZE;

	/* sock_alloc_send_skb's checks: a pending error (e.g. ECONNREFUSED) first, then shutdown, then room. */
	err = sock_error(sk);
	if (err)
		return err;
	if (sk->sk_shutdown & SEND_SHUTDOWN)
		return -EPIPE;
	if (sk->sk_wmem_alloc >= sk->sk_sndbuf) {
		/* Linux counts UdpSndbufErrors when the caller will not wait (SOCK_NOSPACE). */
		if (udp_nonblocking(sk, flags))
			NP_INC_STATS(s, UdpSndbufErrors);
		return -EAGAIN;
	}

	struct sk_buff *skb = alloc_skb(s, (uint32_t)(len + UDP_HLEN));
	if (!skb) {
		NP_INC_STATS(s, UdpSndbufErrors);
		return -ENOBUFS;
	}
	trace_begin(skb, 1);
	trace_stage(skb, "udp_sendmsg");
	udp_set_owner_w(skb, sk);
	uint8_t *buf = skb_put(skb, (uint32_t)(len + UDP_HLEN));
	if (len)
		memcpy_from_msg(buf + UDP_HLEN, msg, len);

	uint32_t saddr = sk->inet_saddr ? sk->inet_saddr : rt.rt_src;
	err = udp_send_skb(sk, skb, &rt, saddr, daddr, dport, len, oif);
	return err < 0 ? err : (ssize_t)len;
}

/* ---- recvmsg --------------------------------------------------------------- */

/* Linux's put_cmsg for one control message; MSG_CTRUNC when it does not fit. */
static size_t udp_put_cmsg(struct msghdr *msg, size_t used, int level, int type, const void *data, size_t len)
{
	if (!msg->msg_control || msg->msg_controllen < used + CMSG_LEN(len)) {
		msg->msg_flags |= MSG_CTRUNC;
		return used;
	}
	struct cmsghdr cm = { .cmsg_len = CMSG_LEN(len), .cmsg_level = level, .cmsg_type = type };
	uint8_t *p = (uint8_t *)msg->msg_control + used;
	memcpy(p, &cm, sizeof(cm));
	memcpy(p + CMSG_LEN(0), data, len);
	size_t space = CMSG_SPACE(len);
	return used + (space < msg->msg_controllen - used ? space : msg->msg_controllen - used);
}

/*
 * udp_prot.recvmsg (Linux's udp_recvmsg): the next datagram, truncated to
 * len (MSG_TRUNC in msg_flags; with MSG_TRUNC in flags the full length is
 * returned). -EAGAIN when nothing is queued: the socket layer blocks.
 */
static ssize_t udp_recvmsg(struct sock *sk, struct msghdr *msg, size_t len, int flags, int *addr_len)
{
	if (flags & MSG_ERRQUEUE)
		return -EAGAIN;     /* ip_recv_error with an empty error queue */
	/* __skb_try_recv_datagram reports a pending error before any data. */
	int err = sock_error(sk);
	if (err)
		return err;
	struct sk_buff *skb = skb_recv_datagram(sk, flags);
	if (!skb) {
		if (!(sk->sk_shutdown & RCV_SHUTDOWN))
			return -EAGAIN;
		/* End of file after shutdown(SHUT_RD): no datagram, so no address (Linux returns addrlen 0). */
		msg->msg_namelen = 0;
		return 0;
	}

	size_t ulen = skb->len, copied = len;
	if (copied > ulen)
		copied = ulen;
	else if (copied < ulen)
		msg->msg_flags |= MSG_TRUNC;
	if (copied)
		skb_copy_datagram_msg(skb, 0, msg, copied);

	if (msg->msg_name) {
		struct sockaddr_in sin = { .sin_family = AF_INET };
		sin.sin_port = htons(UDP_SKB_CB(skb)->sport);
		sin.sin_addr.s_addr = htonl(UDP_SKB_CB(skb)->header.saddr);
		size_t n = msg->msg_namelen < sizeof(sin) ? msg->msg_namelen : sizeof(sin);
		memcpy(msg->msg_name, &sin, n);
		/* As recvfrom(2): the address is truncated to the buffer, the length says its real size. */
		msg->msg_namelen = sizeof(sin);
		if (addr_len)
			*addr_len = (int)sizeof(sin);
	}
	if (msg->msg_control) {
		size_t used = 0;
		if (sk->sk_flags & SOCK_RCVTSTAMP_) {
			/* SO_TIMESTAMP: arrival time on the stack's clock. */
			struct timeval tv = {
				.tv_sec = (time_t)(skb->tstamp / NSEC_PER_SEC),
				.tv_usec = (suseconds_t)(skb->tstamp % NSEC_PER_SEC / NSEC_PER_USEC),
			};
			used = udp_put_cmsg(msg, used, SOL_SOCKET, SO_TIMESTAMP, &tv, sizeof(tv));
		}
		msg->msg_controllen = used;
	}

	ssize_t ret = (flags & MSG_TRUNC) ? (ssize_t)ulen : (ssize_t)copied;
	if (!(flags & MSG_PEEK))
		consume_skb(skb);
	return ret;
}

/* ---- connect, disconnect, shutdown, close ---------------------------------- */

/* udp_prot.disconnect (Linux's __udp_disconnect): connect(AF_UNSPEC). */
static int udp_disconnect(struct sock *sk, int flags)
{
	struct udp_sock *us = udp_sk(sk);

	sk->sk_state = TCP_CLOSE_;
	sk->inet_daddr = 0;
	sk->inet_dport = 0;
	/* What connect chose goes back; what bind chose stays (Linux's SOCK_BINDADDR/BINDPORT_LOCK). */
	if (us->saddr_auto) {
		sk->inet_rcv_saddr = 0;
		sk->inet_saddr = 0;
		us->saddr_auto = 0;
	}
	if (us->port_auto)
		udp_lib_unhash(sk);
	else
		udp_rehash(sk);
	return 0;
}

/*
 * udp_prot.connect (Linux's inet_dgram_connect + ip4_datagram_connect):
 * fixes the peer, picks the source address by route if unbound, binds an
 * ephemeral port if needed, and moves the socket to the connected table.
 */
static int ip4_datagram_connect(struct sock *sk, const struct sockaddr *uaddr, socklen_t addr_len)
{
	struct np_stack *s = sk->stack;
	struct udp_sock *us = udp_sk(sk);
	struct sockaddr_in usin;
	sa_family_t family;

	if (addr_len < sizeof(family))
		return -EINVAL;
	memcpy(&family, &uaddr->sa_family, sizeof(family));
	if (family == AF_UNSPEC)
		return udp_disconnect(sk, 0);
	if (addr_len < sizeof(usin))
		return -EINVAL;
	if (family != AF_INET)
		return -EAFNOSUPPORT;
	memcpy(&usin, uaddr, sizeof(usin));
	uint32_t daddr = ntohl(usin.sin_addr.s_addr);
	uint16_t dport = ntohs(usin.sin_port);

	/* inet_dgram_connect autobinds first; the peer seeds the RFC 6056 offset. */
	if (!sk->inet_num && udp_lib_get_port(sk, 0, daddr, dport) < 0)
		return -EAGAIN;

	struct net_device *oif = NULL;
	if (sk->bound_dev_if) {
		oif = dev_get_by_index(s, sk->bound_dev_if);
		if (!oif)
			return -ENODEV;
	}
	struct rtable rt;
	int err = ip_route_output(s, daddr, sk->inet_saddr, oif, &rt);
	if (err < 0) {
		if (err == -ENETUNREACH)
			NP_INC_STATS(s, IpOutNoRoutes);
		return err;
	}
	if ((rt.rt_type == RTN_BROADCAST || ipv4_is_lbcast(daddr)) && !(sk->sk_flags & SOCK_BROADCAST_))
		return -EACCES;

	if (!sk->inet_saddr)
		sk->inet_saddr = rt.rt_src;
	if (!sk->inet_rcv_saddr) {
		sk->inet_rcv_saddr = rt.rt_src;
		us->saddr_auto = 1;
	}
	sk->inet_daddr = daddr;
	sk->inet_dport = dport;
	sk->sk_state = TCP_ESTABLISHED_;
	us->inet_id = (uint16_t)np_random_u32(sk->stack);   /* Linux: get_random_u16() in ip4_datagram_connect */
	udp_rehash(sk);
	return 0;
}

/*
 * udp_prot.shutdown: how is the RCV_SHUTDOWN/SEND_SHUTDOWN mask (inet_shutdown
 * has already turned SHUT_* into it and decides -ENOTCONN). Later sends get
 * -EPIPE; a reader with nothing queued gets 0 (end of file).
 */
static int udp_shutdown(struct sock *sk, int how)
{
	sk->sk_shutdown |= how & (RCV_SHUTDOWN | SEND_SHUTDOWN);
	return 0;
}

/* udp_prot.close (Linux's udp_lib_close -> sk_common_release): no more lookups find it. */
static void udp_lib_close(struct sock *sk)
{
	udp_lib_unhash(sk);
}

/* udp_prot.destroy: the last reference is going; nothing may still point at it. */
static void udp_destroy_sock(struct sock *sk)
{
	udp_lib_unhash(sk);
}

/* udp_prot.init (Linux's udp_init_sock): our part of the sock starts empty. */
static int udp_init_sock(struct sock *sk)
{
	struct udp_sock *us = udp_sk(sk);

	memset((char *)us + sizeof(struct sock), 0, sizeof(*us) - sizeof(struct sock));
	return 0;
}

/* SOL_UDP options (UDP_CORK, UDP_SEGMENT ...) are not implemented. */
static int udp_setsockopt(struct sock *sk, int level, int optname, const void *optval, socklen_t optlen)
{
	return -ENOPROTOOPT;
}

static int udp_getsockopt(struct sock *sk, int level, int optname, void *optval, socklen_t *optlen)
{
	return -ENOPROTOOPT;
}

struct proto udp_prot = {
	.name = "UDP",
	.obj_size = sizeof(struct udp_sock),
	.init = udp_init_sock,
	.destroy = udp_destroy_sock,
	.close = udp_lib_close,
	.connect = ip4_datagram_connect,
	.disconnect = udp_disconnect,
	.sendmsg = udp_sendmsg,
	.recvmsg = udp_recvmsg,
	.shutdown = udp_shutdown,
	.setsockopt = udp_setsockopt,
	.getsockopt = udp_getsockopt,
	.backlog_rcv = udp_backlog_rcv,
	.get_port = udp_v4_get_port,
	.unhash = udp_lib_unhash,
	.poll = NULL,
};

/* ---- per-stack setup ------------------------------------------------------- */

int udp_init(struct np_stack *s)
{
	if (s->udp_table)
		return -EBUSY;
	struct udp_table *t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	int err = inet_add_protocol(s, &udp_protocol, IPPROTO_UDP_);
	if (err < 0) {
		free(t);
		return err;
	}
	t->hash_seed = (uint32_t)np_siphash_2u64(s, hash_addr_port(0, 0, UDP_H_ADDR), hash_addr_port(0, 0, UDP_H_4TUPLE));
	s->udp_table = t;
	return 0;
}

void udp_free(struct np_stack *s)
{
	struct udp_table *t = s->udp_table;

	if (s->inet_protos[IPPROTO_UDP_] == &udp_protocol)
		inet_del_protocol(s, IPPROTO_UDP_);
	if (!t)
		return;
	/* Sockets still open are left unhashed, so their later close touches nothing freed here. */
	for (uint32_t i = 0; i < UDP_HTABLE_SIZE; i++) {
		while (t->hash[i]) {
			struct udp_sock *us = t->hash[i];
			udp_lib_unhash(&us->sk);
		}
	}
	free(t);
	s->udp_table = NULL;
}
