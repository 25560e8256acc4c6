/*
 * TCP over IPv4: the receive entry point, lookup tables, ports, ISNs, resets,
 * TIME_WAIT and ICMP errors (Linux's net/ipv4/tcp_ipv4.c, inet_hashtables.c,
 * inet_connection_sock.c, tcp_minisocks.c).
 * Place in the packet path (seed 001):
 *   ip_rcv_finish -> tcp_v4_early_demux (established 4-tuple: the socket and
 *   its cached input route, before ip_route_input)
 *   ip_local_deliver_finish -> inet_protos[IPPROTO_TCP] -> tcp_v4_rcv (header,
 *   checksum, flags) -> __inet_lookup (established 4-tuple, then listener)
 *   -> (sock_owned_by_user ? sk_add_backlog : tcp_v4_do_rcv)
 *   -> tcp_rcv_established / tcp_rcv_state_process        (tcp_input.c)
 *   no socket: tcp_v4_send_reset (RFC 9293 3.10.7.1); TIME_WAIT: tcp_timewait_state_process
 *   icmp_unreach -> tcp_v4_err (RFC 5927 checks, soft errors, path MTU)
 *
 * Tables (s->tcp_hash): ehash holds every synchronized or half-open
 * connection and TIME_WAIT minisock by 4-tuple; lhash the listeners by port;
 * bhash every user of a local port (bind conflicts, ephemeral choice). The
 * 4-tuple buckets are keyed (SipHash with the stack's secret) so a peer
 * cannot aim segments at one long chain.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/netdevice.h"
#include "core/hash.h"
#include "core/stack.h"
#include "net/ipv4/icmp.h"
#include "net/ipv4/ip.h"
#include "net/ipv4/protocol.h"
#include "net/ipv4/route.h"
#include "net/tcp/tcp.h"
#include "net/udp/udp.h"
#include "trace/trace.h"
#include "wire/icmp.h"
#include "wire/ipv4.h"
#include "wire/tcp.h"

/*
 * The established hash starts at 2^13 buckets and doubles (to 2^22) when it
 * holds more entries than buckets, so lookups stay O(1) (siphash spreads
 * them; chains average under 1.5) at 8 to 16 bytes of buckets per entry.
 * (Doubling whenever an insert met a chain of 4 kept 4 to 8 buckets per
 * entry: 32 bytes per connection end at a million.)
 */
#define TCP_EHASH_LOG 13
#define TCP_EHASH_SIZE (1u << TCP_EHASH_LOG)
#define TCP_EHASH_MAX (1u << 22)
#define TCP_BHASH_SIZE 4096u
#define TCP_LHASH_SIZE 256u
#define TCP_PERTURB_SIZE 256u
#define TCP_DST_SLOTS 64u         /* output routes cached per stack (tcp_dst_slot) */
/* Domain tags so the stack's one key serves independent hash functions (UDP uses 1..5). */
enum { TCP_H_EHASH = 0x11, TCP_H_ISN, TCP_H_PORT_OFFSET, TCP_H_PORT_RANDOM }; /* syncookies.c: 0x15, 0x16 */

struct tcp_hashinfo {
	struct tcp_ehash_node **ehash;        /* ehash_mask + 1 buckets */
	uint32_t ehash_mask;
	uint32_t ehash_count;                 /* entries (sockets and TIME_WAIT minisocks) */
	struct tcp_bind_node *bhash[TCP_BHASH_SIZE];
	struct tcp_sock *lhash[TCP_LHASH_SIZE];
	uint32_t perturb[TCP_PERTURB_SIZE];   /* RFC 6056 Algorithm 4 counters */
	struct dst_cache dst[TCP_DST_SLOTS];  /* output routes shared by the sockets (tcp_dst_slot) */
	uint32_t tw_count;
	uint64_t challenge_stamp;             /* second of the current challenge-ACK budget */
	uint32_t challenge_count;
	uint32_t next_isn;
	uint8_t next_isn_set;
};

/* Keyed hashing: np_siphash_2u64 and hash_addr_port (core/hash.h). */

static inline uint32_t ehash_bucket(const struct np_stack *s, uint32_t laddr, uint16_t lport, uint32_t faddr,
				    uint16_t fport)
{
	return (uint32_t)np_siphash_2u64(s, hash_addr_port(laddr, lport, TCP_H_EHASH), hash_addr_port(faddr, fport, 0)) &
	       s->tcp_hash->ehash_mask;
}

static inline uint32_t bhash_bucket(uint16_t port) { return port & (TCP_BHASH_SIZE - 1); }
static inline uint32_t lhash_bucket(uint16_t port) { return port & (TCP_LHASH_SIZE - 1); }

/*
 * RFC 6528: ISN = M + F(localip, localport, remoteip, remoteport, secretkey),
 * F a keyed hash (SipHash, the key from the OS CSPRNG at stack creation), M a
 * clock; Linux ticks M every 64 ns, so does this.
 */
uint32_t tcp_v4_init_seq(struct np_stack *s, uint32_t saddr, uint32_t daddr, uint16_t sport, uint16_t dport)
{
	struct tcp_hashinfo *h = s->tcp_hash;
	if (h && h->next_isn_set) {
		h->next_isn_set = 0;
		return h->next_isn;
	}
	uint32_t f = (uint32_t)np_siphash_2u64(s, hash_addr_port(saddr, sport, TCP_H_ISN), hash_addr_port(daddr, dport, 0));
	return f + (uint32_t)(np_stack_now(s) >> 6);
}

void tcp_set_next_isn(struct np_stack *s, uint32_t isn)
{
	if (!s->tcp_hash)
		return;
	s->tcp_hash->next_isn = isn;
	s->tcp_hash->next_isn_set = 1;
}

struct dst_cache *tcp_dst_slot(struct np_stack *s, uint32_t daddr, uint32_t saddr, const struct net_device *oif)
{
	_Static_assert(TCP_DST_SLOTS == 1u << (32 - 26), "tcp_dst_slot takes the top 6 bits");
	if (!s->tcp_hash)
		return NULL;   /* the stack is going away */
	/* Not keyed: a collision (even a chosen one) only costs a route lookup. */
	uint32_t k = daddr ^ (saddr << 7 | saddr >> 25) ^ (uint32_t)(oif ? oif->ifindex : 0) * 0x9e3779b1u;
	return &s->tcp_hash->dst[(k * 0x9e3779b1u) >> 26];   /* the top 6 bits: TCP_DST_SLOTS */
}

uint32_t tcp_tw_count(const struct np_stack *s) { return s->tcp_hash ? s->tcp_hash->tw_count : 0; }

/* RFC 5961 10: a stack-wide budget of challenge ACKs per second (Linux's tcp_challenge_ack_limit). */
int tcp_challenge_ack_allowed(struct np_stack *s)
{
	struct tcp_hashinfo *h = s->tcp_hash;
	uint64_t sec = np_stack_now(s) / NSEC_PER_SEC;
	if (h->challenge_stamp != sec) {
		h->challenge_stamp = sec;
		h->challenge_count = 0;
	}
	if (h->challenge_count >= (uint32_t)s->sysctl.tcp_challenge_ack_limit)
		return 0;
	h->challenge_count++;
	return 1;
}

/* ---- chains ---------------------------------------------------------------- */

/* TCP_NODE_SOCK or TCP_NODE_TW: the kind of the bind node after the entry (one byte for both). */
static inline uint8_t en_kind(const struct tcp_ehash_node *n)
{
	_Static_assert(offsetof(struct tcp_sock, bn) == offsetof(struct tcp_sock, en) + sizeof(struct tcp_ehash_node) &&
			       offsetof(struct tcp_tw_sock, bn) ==
				       offsetof(struct tcp_tw_sock, en) + sizeof(struct tcp_ehash_node),
		       "en_kind: the bind node must follow the ehash node");
	return ((const struct tcp_bind_node *)(const void *)(n + 1))->kind;
}

static inline struct tcp_sock *en_sock(struct tcp_ehash_node *n) { return container_of(n, struct tcp_sock, en); }
static inline struct tcp_tw_sock *en_tw(struct tcp_ehash_node *n) { return container_of(n, struct tcp_tw_sock, en); }

/* The bucket of an ehash entry, from its owner's 4-tuple. */
static uint32_t en_bucket(const struct np_stack *s, struct tcp_ehash_node *n)
{
	if (en_kind(n) == TCP_NODE_TW) {
		const struct tcp_tw_sock *tw = en_tw(n);
		return ehash_bucket(s, tw->laddr, tw->lport, tw->faddr, tw->fport);
	}
	const struct sock *sk = &en_sock(n)->sk;
	return ehash_bucket(s, sk->inet_rcv_saddr, sk->inet_num, sk->inet_daddr, sk->inet_dport);
}

static int en_match(struct tcp_ehash_node *n, uint32_t laddr, uint16_t lport, uint32_t faddr, uint16_t fport)
{
	if (en_kind(n) == TCP_NODE_TW) {
		const struct tcp_tw_sock *tw = en_tw(n);
		return tw->laddr == laddr && tw->lport == lport && tw->faddr == faddr && tw->fport == fport;
	}
	const struct sock *sk = &en_sock(n)->sk;
	return sk->inet_rcv_saddr == laddr && sk->inet_num == lport && sk->inet_daddr == faddr &&
	       sk->inet_dport == fport;
}

static void ehash_link(struct tcp_ehash_node **head, struct tcp_ehash_node *n)
{
	n->next = *head;
	*head = n;
}

/* Twice the buckets, every node moved over (its key is in the node). Without memory it stays as it is. */
static void ehash_grow(struct np_stack *s)
{
	struct tcp_hashinfo *h = s->tcp_hash;
	uint32_t old = h->ehash_mask + 1, size = old * 2;
	struct tcp_ehash_node **t = calloc(size, sizeof(*t)), **from = h->ehash;
	if (!t)
		return;
	h->ehash = t;
	h->ehash_mask = size - 1;
	for (uint32_t i = 0; i < old; i++) {
		while (from[i]) {
			struct tcp_ehash_node *n = from[i];
			from[i] = n->next;
			ehash_link(&t[en_bucket(s, n)], n);
		}
	}
	free(from);
}

static void ehash_add(struct np_stack *s, struct tcp_ehash_node *n)
{
	struct tcp_hashinfo *h = s->tcp_hash;
	if (h->ehash_count >= h->ehash_mask + 1 && h->ehash_mask + 1 < TCP_EHASH_MAX)
		ehash_grow(s);
	h->ehash_count++;
	ehash_link(&h->ehash[en_bucket(s, n)], n);
}

/* Unlinks n if it is hashed (its owner's 4-tuple finds the bucket: it does not change while hashed). */
static void ehash_del(struct np_stack *s, struct tcp_ehash_node *n)
{
	struct tcp_hashinfo *h = s->tcp_hash;
	if (!h)
		return;
	struct tcp_ehash_node **pp = &h->ehash[en_bucket(s, n)];
	while (*pp && *pp != n)
		pp = &(*pp)->next;
	if (!*pp)
		return;
	*pp = n->next;
	n->next = NULL;
	h->ehash_count--;
}

static struct tcp_ehash_node *ehash_lookup(struct np_stack *s, uint32_t laddr, uint16_t lport, uint32_t faddr,
					   uint16_t fport)
{
	for (struct tcp_ehash_node *n = s->tcp_hash->ehash[ehash_bucket(s, laddr, lport, faddr, fport)]; n;
	     n = n->next)
		if (en_match(n, laddr, lport, faddr, fport))
			return n;
	return NULL;
}

static void bhash_add(struct np_stack *s, struct tcp_bind_node *n)
{
	struct tcp_bind_node **head = &s->tcp_hash->bhash[bhash_bucket(n->port)];
	n->next = *head;
	if (*head)
		(*head)->pprev = &n->next;
	*head = n;
	n->pprev = head;
}

static void bhash_del(struct tcp_bind_node *n)
{
	if (!n->pprev)
		return;
	*n->pprev = n->next;
	if (n->next)
		n->next->pprev = n->pprev;
	n->next = NULL;
	n->pprev = NULL;
}

static inline struct tcp_sock *bn_sock(struct tcp_bind_node *n) { return container_of(n, struct tcp_sock, bn); }
static inline struct tcp_tw_sock *bn_tw(struct tcp_bind_node *n) { return container_of(n, struct tcp_tw_sock, bn); }

void tcp_v4_hash_established(struct sock *sk)
{
	struct tcp_sock *tp = tcp_sk(sk);
	if (tp->ehashed || !sk->stack->tcp_hash)
		return;
	tp->bn.kind = TCP_NODE_SOCK;   /* the entry's kind too (en_kind), before any port is taken */
	ehash_add(sk->stack, &tp->en);
	tp->ehashed = 1;
	inet_sk_rx_dst_reset(sk);   /* a cached input route belongs to one 4-tuple */
}

void tcp_v4_listen_hash(struct sock *sk)
{
	struct tcp_sock *tp = tcp_sk(sk);
	struct tcp_hashinfo *h = sk->stack->tcp_hash;
	if (tp->lhashed || !h)
		return;
	struct tcp_sock **head = &h->lhash[lhash_bucket(sk->inet_num)];
	tp->lq->lnext = *head;
	if (*head)
		(*head)->lq->lpprev = &tp->lq->lnext;
	*head = tp;
	tp->lq->lpprev = head;
	tp->lhashed = 1;
}

/* tcp_prot.unhash: out of the established and listening tables (the port stays: tcp_put_port). */
void tcp_v4_unhash(struct sock *sk)
{
	struct tcp_sock *tp = tcp_sk(sk);
	if (tp->ehashed) {
		ehash_del(sk->stack, &tp->en);
		tp->ehashed = 0;
		inet_sk_rx_dst_reset(sk);
	}
	if (tp->lhashed) {
		struct tcp_listen_sock *lq = tp->lq;
		*lq->lpprev = lq->lnext;
		if (lq->lnext)
			lq->lnext->lq->lpprev = lq->lpprev;
		lq->lnext = NULL;
		lq->lpprev = NULL;
		tp->lhashed = 0;
	}
}

/* Gives the local port back (Linux's inet_put_port). */
void tcp_put_port(struct sock *sk)
{
	struct tcp_sock *tp = tcp_sk(sk);
	if (!tp->bhashed)
		return;
	bhash_del(&tp->bn);
	tp->bhashed = 0;
	sk->inet_num = 0;
}

static void tcp_bind_node_fill(struct sock *sk, uint16_t port, int by_bind)
{
	struct tcp_sock *tp = tcp_sk(sk);
	tp->bn.kind = TCP_NODE_SOCK;
	tp->bn.port = port;
	tp->bn.addr = sk->inet_rcv_saddr;
	tp->bn.by_bind = (uint8_t)by_bind;
}

void tcp_v4_inherit_port(struct sock *child, struct sock *listener)
{
	struct tcp_sock *tp = tcp_sk(child);
	tcp_bind_node_fill(child, listener->inet_num, tcp_sk(listener)->bn.by_bind);
	tp->bn.addr = listener->inet_rcv_saddr;
	bhash_add(child->stack, &tp->bn);
	tp->bhashed = 1;
}

/* ---- ports ------------------------------------------------------------------ */

/*
 * Linux's inet_bind_conflict for a bind() of sk to snum: two users of a port
 * with overlapping addresses and devices clash unless both set SO_REUSEADDR
 * and the other is not listening, or both set SO_REUSEPORT. A TIME_WAIT
 * minisock carries the SO_REUSEADDR of the socket it replaced.
 */
static int tcp_bind_conflict(struct np_stack *s, const struct sock *sk, uint16_t snum)
{
	int reuse = !!(sk->sk_flags & SOCK_REUSEADDR_), reuseport = !!(sk->sk_flags & SOCK_REUSEPORT_);
	for (struct tcp_bind_node *n = s->tcp_hash->bhash[bhash_bucket(snum)]; n; n = n->next) {
		if (n->port != snum)
			continue;
		int listening = 0, n_reuse, n_reuseport, n_dev_if;
		if (n->kind == TCP_NODE_SOCK) {
			const struct sock *sk2 = &bn_sock(n)->sk;
			if (sk2 == sk)
				continue;
			listening = sk2->sk_state == TCP_LISTEN;
			n_reuse = !!(sk2->sk_flags & SOCK_REUSEADDR_);
			n_reuseport = !!(sk2->sk_flags & SOCK_REUSEPORT_);
			n_dev_if = sk2->bound_dev_if;
		} else {
			const struct tcp_tw_sock *tw = bn_tw(n);
			n_reuse = tw->reuse;
			n_reuseport = tw->reuseport;
			n_dev_if = tw->dev_if;
		}
		if (sk->bound_dev_if && n_dev_if && sk->bound_dev_if != n_dev_if)
			continue;
		if (sk->inet_rcv_saddr && n->addr && sk->inet_rcv_saddr != n->addr)
			continue;
		if (reuse && n_reuse && !listening)
			continue;
		if (reuseport && n_reuseport)
			continue;
		return 1;
	}
	return 0;
}

int tcp_v4_listen_conflict(struct sock *sk)
{
	return sk->stack->tcp_hash && tcp_bind_conflict(sk->stack, sk, sk->inet_num);
}

static int tcp_port_used(struct np_stack *s, uint16_t port)
{
	for (struct tcp_bind_node *n = s->tcp_hash->bhash[bhash_bucket(port)]; n; n = n->next)
		if (n->port == port)
			return 1;
	return 0;
}

/* A port connect() may share: nobody got it from bind() (Linux's tb->fastreuse < 0 buckets). */
static int tcp_port_bound_by_bind(struct np_stack *s, uint16_t port)
{
	for (struct tcp_bind_node *n = s->tcp_hash->bhash[bhash_bucket(port)]; n; n = n->next)
		if (n->port == port && n->by_bind)
			return 1;
	return 0;
}

static uint32_t tcp_port_random(struct np_stack *s)
{
	return (uint32_t)np_siphash_2u64(s, np_random(s), (uint64_t)TCP_H_PORT_RANDOM << 48);
}

/*
 * tcp_prot.get_port (Linux's inet_csk_get_port): bind() and listen()'s
 * autobind. Port 0 picks a port nobody uses, starting at random (RFC 6056
 * Algorithm 1; the peer is unknown here). 0 or -EADDRINUSE.
 */
int tcp_v4_get_port(struct sock *sk, uint16_t snum)
{
	struct np_stack *s = sk->stack;
	struct tcp_sock *tp = tcp_sk(sk);
	if (!s->tcp_hash)
		return -EAFNOSUPPORT;
	if (tp->bhashed)
		return -EINVAL;
	if (snum == 0) {
		const uint32_t low = UDP_EPHEMERAL_LOW, num = UDP_EPHEMERAL_HIGH - UDP_EPHEMERAL_LOW + 1;
		uint32_t base = tcp_port_random(s);
		int found = 0;
		for (uint32_t i = 0; i < num; i++) {
			uint16_t p = (uint16_t)(low + (base + i) % num);
			if (!tcp_port_used(s, p)) {
				snum = p;
				found = 1;
				break;
			}
		}
		if (!found)
			return -EADDRINUSE;
	} else {
		if (tcp_bind_conflict(s, sk, snum))
			return -EADDRINUSE;
		tp->userlocks |= SOCK_BINDPORT_LOCK;
	}
	if (sk->inet_rcv_saddr)
		tp->userlocks |= SOCK_BINDADDR_LOCK;
	sk->inet_num = snum;
	tcp_bind_node_fill(sk, snum, 1);
	bhash_add(s, &tp->bn);
	tp->bhashed = 1;
	return 0;
}

/* Is the 4-tuple free (no connection, no TIME_WAIT)? Linux's __inet_check_established without tw reuse. */
static int tcp_4tuple_free(struct np_stack *s, uint32_t laddr, uint16_t lport, uint32_t faddr, uint16_t fport)
{
	return ehash_lookup(s, laddr, lport, faddr, fport) == NULL;
}

/*
 * Linux's __inet_hash_connect: the local port for connect(). Already bound:
 * the 4-tuple must be free. Else RFC 6056 Algorithm 4 (3.3.4, double hash):
 * a keyed hash of (laddr, faddr, fport) gives the offset, a table of
 * counters perturbs it per use, so ports toward one peer do not repeat and
 * other peers learn nothing from them. A port is usable if nobody bound it
 * with bind() and the 4-tuple is free.
 */
static int tcp_v4_hash_connect(struct sock *sk)
{
	struct np_stack *s = sk->stack;
	struct tcp_hashinfo *h = s->tcp_hash;
	struct tcp_sock *tp = tcp_sk(sk);
	if (tp->bhashed) {
		if (!tcp_4tuple_free(s, sk->inet_rcv_saddr, sk->inet_num, sk->inet_daddr, sk->inet_dport))
			return -EADDRNOTAVAIL;
		tcp_v4_hash_established(sk);
		return 0;
	}
	const uint32_t low = UDP_EPHEMERAL_LOW, num = UDP_EPHEMERAL_HIGH - UDP_EPHEMERAL_LOW + 1;
	uint64_t hv = np_siphash_2u64(s, hash_addr_port(sk->inet_rcv_saddr, 0, TCP_H_PORT_OFFSET),
				  hash_addr_port(sk->inet_daddr, sk->inet_dport, 0));
	uint32_t index = (uint32_t)(hv >> 32) & (TCP_PERTURB_SIZE - 1);
	uint32_t offset = (uint32_t)hv + h->perturb[index];
	for (uint32_t i = 0; i < num; i++) {
		uint16_t port = (uint16_t)(low + (offset + i) % num);
		if (tcp_port_bound_by_bind(s, port))
			continue;
		if (!tcp_4tuple_free(s, sk->inet_rcv_saddr, port, sk->inet_daddr, sk->inet_dport))
			continue;
		h->perturb[index] += i + 2 + (tcp_port_random(s) & 1);
		sk->inet_num = port;
		tcp_bind_node_fill(sk, port, 0);
		bhash_add(s, &tp->bn);
		tp->bhashed = 1;
		tcp_v4_hash_established(sk);
		return 0;
	}
	return -EADDRNOTAVAIL;
}

/* ---- connect ------------------------------------------------------------------ */

/* tcp_prot.connect (Linux's tcp_v4_connect): route, source, port, ISN, then the SYN. */
int tcp_v4_connect(struct sock *sk, const struct sockaddr *uaddr, socklen_t addr_len)
{
	struct np_stack *s = sk->stack;
	struct tcp_sock *tp = tcp_sk(sk);
	struct sockaddr_in usin;

	if (addr_len < sizeof(usin))
		return -EINVAL;
	memcpy(&usin, uaddr, sizeof(usin));
	if (usin.sin_family != AF_INET)
		return -EAFNOSUPPORT;
	uint32_t daddr = ntohl(usin.sin_addr.s_addr);
	uint16_t dport = ntohs(usin.sin_port);
	if (daddr == INADDR_ANY)
		daddr = INADDR_LOOPBACK;   /* Linux connects 0.0.0.0 to the local host */
	if (ipv4_is_multicast(daddr) || ipv4_is_lbcast(daddr))
		return -ENETUNREACH;

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
	if (rt.rt_type == RTN_BROADCAST || rt.rt_type == RTN_MULTICAST)
		return -ENETUNREACH;

	uint32_t old_saddr = sk->inet_saddr, old_rcv = sk->inet_rcv_saddr;
	if (!sk->inet_saddr)
		sk->inet_saddr = rt.rt_src;
	if (!sk->inet_rcv_saddr)
		sk->inet_rcv_saddr = sk->inet_saddr;
	sk->inet_daddr = daddr;
	sk->inet_dport = dport;
	uint32_t mtu = rt.rt_mtu ? rt.rt_mtu : (rt.dev ? rt.dev->mtu : 1500);

	tcp_set_state(sk, TCP_SYN_SENT);
	err = tcp_v4_hash_connect(sk);
	if (err) {
		tcp_set_state(sk, TCP_CLOSE);
		sk->inet_daddr = 0;
		sk->inet_dport = 0;
		sk->inet_saddr = old_saddr;
		sk->inet_rcv_saddr = old_rcv;
		return err;
	}
	tp->pmtu = (uint16_t)(mtu > 65535 ? 65535 : mtu);
	tp->iss = tcp_v4_init_seq(s, sk->inet_saddr, daddr, sk->inet_num, dport);
	tp->inet_id = (uint16_t)np_random_u32(s);   /* Linux: get_random_u16() in tcp_v4_connect */
	err = tcp_connect(sk);
	if (err) {
		tcp_set_state(sk, TCP_CLOSE);
		sk->inet_daddr = 0;
		sk->inet_dport = 0;
		return err;
	}
	return 0;
}

/* ---- sending control segments without a socket ------------------------------ */

/*
 * Does not consume skb_in (data at its TCP header, TCP_SKB_CB and IPCB
 * filled): answers it from our address with a bare segment (RST or ACK),
 * as Linux's tcp_v4_send_reset / tcp_v4_send_ack.
 */
static void tcp_v4_send_ctl(struct np_stack *s, const struct sk_buff *skb_in, uint32_t seq, uint32_t ack,
			    uint8_t flags, uint16_t window, uint8_t tos, const char *stage)
{
	const struct tcp_skb_cb *tcb = TCP_SKB_CB(skb_in);
	const uint8_t *th = skb_transport_header(skb_in);
	struct sk_buff *skb = alloc_skb(s, TCP_HLEN_MIN);
	if (!skb)
		return;
	trace_begin(skb, 1);
	trace_stage(skb, stage);
	struct tcp_repr r = {
		.sport = be16_get(th + 2),
		.dport = be16_get(th),
		.seq = seq,
		.ack = ack,
		.flags = flags,
		.window = window,
	};
	uint32_t saddr = tcb->header.daddr, daddr = tcb->header.saddr;
	uint8_t *p = skb_put(skb, TCP_HLEN_MIN);
	tcp_emit(&r, 0, saddr, daddr, p, TCP_HLEN_MIN);
	skb_reset_transport_header(skb);
	struct ip_out_params ip = { .saddr = saddr, .daddr = daddr, .protocol = IPPROTO_TCP_, .tos = tos, .df = 1 };
	NP_INC_STATS(s, TcpOutSegs);
	if (flags & TCPF_RST)
		NP_INC_STATS(s, TcpOutRsts);
	ip_build_and_send_pkt(s, skb, &ip);
}

/*
 * RFC 9293 3.10.7.1 (CLOSED) and the LISTEN/SYN-SENT resets: never answer a
 * RST; if the segment has an ACK the reset takes its sequence number from it,
 * else it acknowledges the segment.
 */
void tcp_v4_send_reset(struct np_stack *s, const struct sk_buff *skb)
{
	const struct tcp_skb_cb *tcb = TCP_SKB_CB(skb);
	if (tcb->tcp_flags & TCPF_RST)
		return;
	/* Only for segments addressed to us (Linux: not for non-local routes). */
	if (skb->pkt_type != PACKET_HOST)
		return;
	if (tcb->tcp_flags & TCPF_ACK)
		tcp_v4_send_ctl(s, skb, tcb->ack_seq, 0, TCPF_RST, 0, 0, "tcp_v4_send_reset");
	else
		tcp_v4_send_ctl(s, skb, 0, tcb->end_seq, TCPF_RST | TCPF_ACK, 0, 0, "tcp_v4_send_reset");
}

/* ---- TIME_WAIT (Linux's tcp_minisocks.c) ------------------------------------ */

static void tcp_tw_free(struct tcp_tw_sock *tw)
{
	struct np_stack *s = tw->stack;
	del_timer(s, &tw->timer);
	ehash_del(s, &tw->en);
	bhash_del(&tw->bn);
	if (s->tcp_hash)
		s->tcp_hash->tw_count--;
	free(tw);
}

static void tcp_tw_timer(struct np_timer *t)
{
	struct tcp_tw_sock *tw = container_of(t, struct tcp_tw_sock, timer);
	NP_INC_STATS(tw->stack, TcpExtTW);
	tcp_tw_free(tw);
}

static uint64_t tcp_timewait_len_ns(const struct np_stack *s)
{
	return (uint64_t)s->sysctl.tcp_timewait_len_ms * NSEC_PER_MSEC;
}

/*
 * Linux's tcp_time_wait: the connection's 4-tuple and port pass to a small
 * minisock for 2*MSL (RFC 9293 3.6: TIME-WAIT), so a late duplicate cannot
 * open a new incarnation; sk itself goes to CLOSE. Over tcp_max_tw_buckets
 * the connection simply closes (TCPTimeWaitOverflow), as Linux does.
 */
void tcp_time_wait(struct sock *sk)
{
	struct np_stack *s = sk->stack;
	struct tcp_sock *tp = tcp_sk(sk);
	struct tcp_hashinfo *h = s->tcp_hash;
	struct tcp_tw_sock *tw = NULL;

	if (h && h->tw_count < (uint32_t)s->sysctl.tcp_max_tw_buckets)
		tw = calloc(1, sizeof(*tw));
	if (tw) {
		tw->stack = s;
		tw->laddr = sk->inet_rcv_saddr;
		tw->lport = sk->inet_num;
		tw->faddr = sk->inet_daddr;
		tw->fport = sk->inet_dport;
		tw->dev_if = sk->bound_dev_if;
		tw->reuse = !!(sk->sk_flags & SOCK_REUSEADDR_);
		tw->reuseport = !!(sk->sk_flags & SOCK_REUSEPORT_);
		tw->bn = tp->bn;
		tw->bn.kind = TCP_NODE_TW;
		tw->bn.next = NULL;
		tw->bn.pprev = NULL;
		tw->bn.port = sk->inet_num;
		tw->snd_nxt = tp->snd_nxt;
		tw->rcv_nxt = tp->rcv_nxt;
		/* The window field the minisock's ACKs carry: already scaled (RFC 7323 2.2). */
		uint32_t tw_win = tcp_receive_window(tp) >> tp->rcv_wscale;
		tw->rcv_wnd = (uint16_t)(tw_win > TCP_MAX_WINDOW ? TCP_MAX_WINDOW : tw_win);
		tw->tos = sk->tos;
		timer_setup(&tw->timer, tcp_tw_timer);
		/* The minisock takes over the 4-tuple and the port before sk lets go of them. */
		tcp_v4_unhash(sk);
		ehash_add(s, &tw->en);
		bhash_add(s, &tw->bn);
		h->tw_count++;
		mod_timer(s, &tw->timer, np_stack_now(s) + tcp_timewait_len_ns(s));
		/* The port now belongs to the minisock. */
		if (tp->bhashed) {
			bhash_del(&tp->bn);
			tp->bhashed = 0;
		}
	} else {
		NP_INC_STATS(s, TcpExtTCPTimeWaitOverflow);
	}
	tcp_done(sk);
}

/* Answers with an ACK as the TIME_WAIT connection would (Linux's tcp_v4_timewait_ack). */
static void tcp_v4_timewait_ack(struct tcp_tw_sock *tw, const struct sk_buff *skb)
{
	tcp_v4_send_ctl(tw->stack, skb, tw->snd_nxt, tw->rcv_nxt, TCPF_ACK, tw->rcv_wnd, tw->tos, "tcp_v4_timewait_ack");
}

struct sock *tcp_v4_lookup_listener(struct np_stack *s, uint32_t daddr, uint16_t dport, const struct net_device *dev);

enum tcp_tw_status { TCP_TW_SUCCESS, TCP_TW_RST, TCP_TW_ACK, TCP_TW_SYN };

/*
 * Linux's tcp_timewait_state_process (RFC 9293 TIME-WAIT, RFC 1122 4.2.2.13):
 * an in-window RST ends TIME_WAIT (unless tcp_rfc1337), a new SYN with a
 * higher sequence number may reopen the connection (*isn: the new ISN, above
 * everything the old incarnation sent), everything else is ACKed (rate
 * limited) and an ACK restarts the 2*MSL timer.
 */
static enum tcp_tw_status tcp_timewait_state_process(struct tcp_tw_sock *tw, const struct sk_buff *skb,
						    uint32_t *isn)
{
	struct np_stack *s = tw->stack;
	const struct tcp_skb_cb *tcb = TCP_SKB_CB(skb);
	uint8_t fl = tcb->tcp_flags;

	if (tcb->seq == tw->rcv_nxt && (tcb->seq == tcb->end_seq || (fl & TCPF_RST))) {
		if (fl & TCPF_RST) {
			if (!s->sysctl.tcp_rfc1337) {
				tcp_tw_free(tw);
				return TCP_TW_SUCCESS;
			}
		} else {
			mod_timer(s, &tw->timer, np_stack_now(s) + tcp_timewait_len_ns(s));
		}
		return TCP_TW_SUCCESS;
	}
	if ((fl & TCPF_SYN) && !(fl & (TCPF_RST | TCPF_ACK)) && after(tcb->seq, tw->rcv_nxt)) {
		uint32_t n = tw->snd_nxt + 65535 + 2;
		*isn = n ? n : 1;
		return TCP_TW_SYN;
	}
	if (!(fl & TCPF_RST)) {
		if (fl & TCPF_ACK)
			mod_timer(s, &tw->timer, np_stack_now(s) + tcp_timewait_len_ns(s));
		return TCP_TW_ACK;
	}
	return TCP_TW_SUCCESS;
}

/* ---- lookup ------------------------------------------------------------------ */

/* The best listener for daddr:dport: an exact address beats the wildcard, a matching device adds. */
struct sock *tcp_v4_lookup_listener(struct np_stack *s, uint32_t daddr, uint16_t dport, const struct net_device *dev)
{
	struct sock *best = NULL;
	int best_score = -1, dif = dev ? dev->ifindex : 0;
	for (struct tcp_sock *tp = s->tcp_hash->lhash[lhash_bucket(dport)]; tp; tp = tp->lq->lnext) {
		struct sock *sk = &tp->sk;
		if (sk->inet_num != dport)
			continue;
		int score = 1;
		if (sk->inet_rcv_saddr) {
			if (sk->inet_rcv_saddr != daddr)
				continue;
			score += 4;
		}
		if (sk->bound_dev_if) {
			if (sk->bound_dev_if != dif)
				continue;
			score += 4;
		}
		if (score > best_score) {
			best_score = score;
			best = sk;
		}
	}
	return best;
}

/* The full sock of an established 4-tuple (tests, ICMP); NULL for none or TIME_WAIT. */
struct sock *tcp_v4_lookup_established(struct np_stack *s, uint32_t laddr, uint16_t lport, uint32_t faddr,
				       uint16_t fport);
struct sock *tcp_v4_lookup_established(struct np_stack *s, uint32_t laddr, uint16_t lport, uint32_t faddr,
				       uint16_t fport)
{
	struct tcp_ehash_node *n = ehash_lookup(s, laddr, lport, faddr, fport);
	return n && en_kind(n) == TCP_NODE_SOCK ? &en_sock(n)->sk : NULL;
}

/* ---- receive ------------------------------------------------------------------ */

/* The fixed header only, when the options are malformed: Linux ignores such options, so do we. */
static int tcp_parse_lenient(const uint8_t *buf, size_t len, struct tcp_repr *r)
{
	int err = tcp_parse(buf, len, r);
	if (err != -WIRE_EOPT)
		return err;
	memset(r, 0, sizeof(*r));
	size_t doff = (size_t)(buf[12] >> 4) * 4;
	r->sport = be16_get(buf);
	r->dport = be16_get(buf + 2);
	r->seq = be32_get(buf + 4);
	r->ack = be32_get(buf + 8);
	r->doff = (uint8_t)doff;
	r->flags = buf[13];
	r->window = be16_get(buf + 14);
	r->check = be16_get(buf + 16);
	r->urg_ptr = be16_get(buf + 18);
	r->payload = buf + doff;
	r->payload_len = len - doff;
	return 0;
}

/* Consumes skb (data at the TCP header, TCP_SKB_CB filled): the socket's receive processing. */
int tcp_v4_do_rcv(struct sock *sk, struct sk_buff *skb)
{
	struct tcp_repr th;

	trace_stage(skb, "tcp_v4_do_rcv");
	if (tcp_parse_lenient(skb->data, skb->len, &th) < 0) {
		kfree_skb_reason(skb, NP_DROP_TCP_HDR);
		return 0;
	}
	if (sk->sk_state == TCP_ESTABLISHED) {
		/* Linux's inet_sk_rx_dst_set: a route resolved in full for this socket is kept for early demux. */
		inet_sk_rx_dst_set(sk, inet_skb_rx_dst_ifindex(skb));
		tcp_rcv_established(sk, skb, &th);
		return 0;
	}
	if (sk->sk_state == TCP_LISTEN && !(th.flags & (TCPF_SYN | TCPF_RST)) && (th.flags & TCPF_ACK)) {
		/* Linux's tcp_v4_cookie_check: the ACK may complete a handshake we kept no state for. */
		int r = cookie_v4_check(sk, skb, &th);
		if (r > 0)
			return 0;
		if (r < 0) {
			tcp_v4_send_reset(sk->stack, skb);
			kfree_skb_reason(skb, (enum np_drop_reason)-r);
			return 0;
		}
	}
	/* It may complete the handshake (and be consumed): its route is cached after (tcp_finish_connect, child creation). */
	int rx_ifindex = inet_skb_rx_dst_ifindex(skb);
	int reason = tcp_rcv_state_process(sk, skb, &th);
	if (reason) {
		tcp_v4_send_reset(sk->stack, skb);
		kfree_skb_reason(skb, (enum np_drop_reason)reason);
	} else if (sk->sk_state == TCP_ESTABLISHED) {
		inet_sk_rx_dst_set(sk, rx_ifindex);
	}
	return 0;
}

/* Consumes skb (data at the TCP header, IPCB filled): Linux's tcp_v4_rcv. */
int tcp_v4_rcv(struct sk_buff *skb)
{
	struct np_stack *s = skb->stack;
	struct tcp_skb_cb *tcb = TCP_SKB_CB(skb);
	enum np_drop_reason reason;
	struct tcp_repr th;

	trace_stage(skb, "tcp_v4_rcv");
	if (skb->pkt_type != PACKET_HOST) {
		/* RFC 9293 3.10.7.2 / RFC 1122 4.2.3.10: no TCP to broadcast or multicast. */
		kfree_skb_reason(skb, NP_DROP_OTHERHOST);
		return 0;
	}
	NP_INC_STATS(s, TcpInSegs);
	skb_reset_transport_header(skb);
	if (skb->len < TCP_HLEN_MIN || (size_t)(skb->data[12] >> 4) * 4 < TCP_HLEN_MIN ||
	    (size_t)(skb->data[12] >> 4) * 4 > skb->len) {
		reason = NP_DROP_TCP_HDR;
		goto bad_packet;
	}
	/*
	 * RFC 9293 3.1: the checksum is mandatory; a bad one is dropped silently.
	 * Linux's skb_csum_unnecessary: the device (or the kernel behind a vnet
	 * TAP) vouched for it, or it never left memory (CHECKSUM_PARTIAL).
	 */
	if (skb->ip_summed != CHECKSUM_UNNECESSARY && skb->ip_summed != CHECKSUM_PARTIAL &&
	    !tcp_csum_ok(skb->data, skb->len, tcb->header.saddr, tcb->header.daddr)) {
		NP_INC_STATS(s, TcpInCsumErrors);
		reason = NP_DROP_TCP_CSUM;
		goto bad_packet;
	}
	if (tcp_parse_lenient(skb->data, skb->len, &th) < 0) {
		reason = NP_DROP_TCP_HDR;
		goto bad_packet;
	}
	tcb->seq = th.seq;
	tcb->end_seq = th.seq + (uint32_t)th.payload_len + !!(th.flags & TCPF_SYN) + !!(th.flags & TCPF_FIN);
	tcb->ack_seq = th.ack;
	tcb->tcp_flags = th.flags;
	tcb->hlen = th.doff;
	tcb->sacked = 0;
	/*
	 * Illegal combinations (no state accepts them): SYN with FIN or RST, and
	 * a segment carrying none of SYN, ACK and RST (RFC 9293 3.10.7: every
	 * other segment must have ACK set).
	 */
	if (((th.flags & TCPF_SYN) && (th.flags & (TCPF_FIN | TCPF_RST))) ||
	    !(th.flags & (TCPF_SYN | TCPF_ACK | TCPF_RST))) {
		kfree_skb_reason(skb, NP_DROP_TCP_FLAGS);
		return 0;
	}
	if (!s->tcp_hash) {
		kfree_skb_reason(skb, NP_DROP_NO_SOCKET);
		return 0;
	}

	trace_stage(skb, "__inet_lookup_skb");
	/* Early demux already found the established socket and holds a reference for us (skb_steal_sock). */
	struct sock *sk = skb_steal_demuxed_sock(skb, tcb->header.saddr, th.sport, tcb->header.daddr, th.dport);
	const int refcounted = sk != NULL;
	struct tcp_ehash_node *n =
		sk ? NULL : ehash_lookup(s, tcb->header.daddr, th.dport, tcb->header.saddr, th.sport);
	if (n && en_kind(n) == TCP_NODE_TW) {
		struct tcp_tw_sock *tw = en_tw(n);
		uint32_t isn = 0;
		trace_stage(skb, "tcp_timewait_state_process");
		switch (tcp_timewait_state_process(tw, skb, &isn)) {
		case TCP_TW_SYN: {
			struct sock *lsk = tcp_v4_lookup_listener(s, tcb->header.daddr, th.dport, skb->dev);
			if (lsk) {
				/* The new SYN is a new connection: the old incarnation is forgotten. */
				tcp_tw_free(tw);
				sock_hold(lsk);
				if (sock_owned_by_user(lsk)) {
					/* Rare: let the listener see it again later; the TIME_WAIT is gone, so it will pass. */
					if (sk_add_backlog(lsk, skb) < 0)
						NP_INC_STATS(s, TcpExtTCPBacklogDrop);
				} else {
					/* A SYN that ended a TIME_WAIT: a new connection with the given ISN. */
					int r = tcp_conn_request(lsk, skb, &th, isn, 1);
					if (r < 0)
						kfree_skb_reason(skb, (enum np_drop_reason)-r);
					else
						consume_skb(skb);
				}
				sock_put(lsk);
				return 0;
			}
			/* No listener: answer as TIME_WAIT would. */
			tcp_v4_timewait_ack(tw, skb);
			kfree_skb_reason(skb, NP_DROP_TCP_TIMEWAIT);
			return 0;
		}
		case TCP_TW_ACK:
			if (!tcp_challenge_ack_allowed(s)) {
				NP_INC_STATS(s, TcpExtTCPACKSkippedTimeWait);
			} else {
				tcp_v4_timewait_ack(tw, skb);
			}
			kfree_skb_reason(skb, NP_DROP_TCP_TIMEWAIT);
			return 0;
		case TCP_TW_RST:
			tcp_v4_send_reset(s, skb);
			kfree_skb_reason(skb, NP_DROP_TCP_TIMEWAIT);
			return 0;
		case TCP_TW_SUCCESS:
		default:
			kfree_skb_reason(skb, NP_DROP_TCP_TIMEWAIT);
			return 0;
		}
	}
	if (!refcounted)
		sk = n ? &en_sock(n)->sk : tcp_v4_lookup_listener(s, tcb->header.daddr, th.dport, skb->dev);
	if (!sk) {
		/* RFC 9293 3.10.7.1: a segment to a closed port is answered with a RST (unless it is one). */
		tcp_v4_send_reset(s, skb);
		kfree_skb_reason(skb, NP_DROP_NO_SOCKET);
		return 0;
	}

	if (!refcounted)
		sock_hold(sk);
	if (sock_owned_by_user(sk)) {
		/* Seed 001: a user holds the socket; release_sock replays the backlog through tcp_v4_do_rcv. */
		if (sk_add_backlog(sk, skb) < 0)
			NP_INC_STATS(s, TcpExtTCPBacklogDrop);
	} else {
		tcp_v4_do_rcv(sk, skb);
	}
	sock_put(sk);
	return 0;

bad_packet:
	NP_INC_STATS(s, TcpInErrs);
	kfree_skb_reason(skb, reason);
	return 0;
}

/* ---- ICMP errors (RFC 5927, RFC 1122 4.2.3.9) ---------------------------------- */

/* Linux's icmp_err_convert. */
static const struct {
	int err;
	int fatal;
} tcp_icmp_err_convert[] = {
	{ ENETUNREACH, 0 },  { EHOSTUNREACH, 0 }, { ENOPROTOOPT, 1 }, { ECONNREFUSED, 1 },
	{ EMSGSIZE, 0 },     { EOPNOTSUPP, 0 },   { ENETUNREACH, 1 }, { EHOSTDOWN, 1 },
	{ ENONET, 1 },       { ENETUNREACH, 1 },  { EHOSTUNREACH, 1 }, { ENETUNREACH, 0 },
	{ EHOSTUNREACH, 0 }, { EHOSTUNREACH, 1 }, { EHOSTUNREACH, 1 }, { EHOSTUNREACH, 1 },
};

/* Path MTU shrank (RFC 1191): smaller segments from now on, and resend what no longer fits. */
static void tcp_v4_mtu_reduced(struct sock *sk, uint32_t mtu)
{
	struct tcp_sock *tp = tcp_sk(sk);
	if (sk->sk_state == TCP_LISTEN || sk->pmtudisc == IP_PMTUDISC_DONT)
		return;
	if (mtu < 68)
		mtu = 68;
	if (mtu >= tp->pmtu)
		return;
	tcp_sync_mss(sk, mtu);
	/* Linux's tcp_simple_retransmit: what is bigger than the new MSS is lost. */
	unsigned mss = tcp_current_mss(sk);
	int marked = 0;
	for (struct sk_buff *skb = tcp_write_queue_head(tp); skb && skb != tcp_send_head(tp);
	     skb = tcp_write_queue_next(tp, skb)) {
		struct tcp_skb_cb *tcb = TCP_SKB_CB(skb);
		if (skb->len > mss) {
			if (tcb->sacked & TCPCB_SACKED_RETRANS) {
				tcb->sacked &= (uint8_t)~TCPCB_SACKED_RETRANS;
				tp->retrans_out--;
			}
			if (!(tcb->sacked & TCPCB_LOST)) {
				tcb->sacked |= TCPCB_LOST;
				tp->lost_out++;
				marked = 1;
			}
		}
	}
	if (!marked)
		return;
	if (tp->ca_state != TCP_CA_Loss) {
		tp->high_seq = tp->snd_nxt;
		tcp_set_ca_state(sk, TCP_CA_Loss);
	}
	tcp_xmit_retransmit_queue(sk);
}

/* Does not consume skb (data at the quoted IP header, IHL + 8 bytes): Linux's tcp_v4_err. */
void tcp_v4_err(struct sk_buff *skb, uint8_t type, uint8_t code, uint32_t info)
{
	struct np_stack *s = skb->stack;
	const uint8_t *q = skb->data;
	int err;

	trace_stage(skb, "tcp_v4_err");
	if (!s->tcp_hash || skb->len < IPV4_HLEN_MIN)
		return;
	size_t ihl = (size_t)(q[0] & 0x0f) * 4;
	if (ihl < IPV4_HLEN_MIN || skb->len < ihl + 8)
		return;
	uint32_t qsaddr = be32_get(q + 12), qdaddr = be32_get(q + 16);
	uint16_t qsport = be16_get(q + ihl), qdport = be16_get(q + ihl + 2);
	uint32_t seq = be32_get(q + ihl + 4);
	struct tcp_ehash_node *n = ehash_lookup(s, qsaddr, qsport, qdaddr, qdport);
	if (!n) {
		NP_INC_STATS(s, IcmpInErrors);
		return;
	}
	if (en_kind(n) == TCP_NODE_TW)
		return;
	struct sock *sk = &en_sock(n)->sk;
	struct tcp_sock *tp = tcp_sk(sk);
	/* RFC 5927 4.1: the quoted sequence number must be one we have in flight. */
	if (!between(seq, tp->snd_una, tp->snd_nxt)) {
		NP_INC_STATS(s, TcpExtOutOfWindowIcmps);
		return;
	}
	switch (type) {
	case ICMP_SOURCE_QUENCH:
		return;   /* RFC 6633 */
	case ICMP_PARAMETERPROB:
		err = EPROTO;
		break;
	case ICMP_DEST_UNREACH:
		if (code > 15)
			return;
		if (code == ICMP_FRAG_NEEDED) {
			sock_hold(sk);
			tcp_v4_mtu_reduced(sk, info);
			sock_put(sk);
			return;
		}
		err = tcp_icmp_err_convert[code].err;
		break;
	case ICMP_TIME_EXCEEDED:
		err = EHOSTUNREACH;
		break;
	default:
		return;
	}
	sock_hold(sk);
	switch (sk->sk_state) {
	case TCP_SYN_SENT:
	case TCP_SYN_RECV:
		/* Linux aborts a connection attempt on an ICMP error that matches it. */
		if (sk->sk_state == TCP_SYN_RECV && type == ICMP_TIME_EXCEEDED)
			break;
		sk->sk_err = err;
		sk_cb(sk)->sk_error_report(sk);
		tcp_done(sk);
		break;
	default:
		/* RFC 5927 / RFC 1122 4.2.3.9: soft errors on a synchronized connection, unless IP_RECVERR. */
		if (sk->recverr)
			sk_error_set(sk, err);
		else
			sk->sk_err_soft = err;
		break;
	}
	sock_put(sk);
}

/*
 * Linux's tcp_v4_early_demux (net_protocol.early_demux): before routing,
 * the established socket of the segment's 4-tuple rides on skb->sk to
 * tcp_v4_rcv, and its cached input route, when valid, spares
 * ip_route_input. Listeners and TIME_WAIT are left to the full path.
 */
static int tcp_v4_early_demux(struct sk_buff *skb)
{
	struct np_stack *s = skb->stack;
	const struct inet_skb_parm *cb = IPCB(skb);
	const uint8_t *th;
	struct tcp_ehash_node *n;
	struct sock *sk;

	if (!s->sysctl.tcp_early_demux || !s->tcp_hash || skb->pkt_type != PACKET_HOST)
		return 0;
	/* Both ports and the data offset present and sane: tcp_v4_rcv checks the rest. */
	if (skb->len < (uint32_t)cb->ihl + TCP_HLEN_MIN)
		return 0;
	th = skb->data + cb->ihl;
	if ((size_t)(th[12] >> 4) * 4 < TCP_HLEN_MIN)
		return 0;
	n = ehash_lookup(s, cb->daddr, be16_get(th + 2), cb->saddr, be16_get(th));
	if (!n || en_kind(n) != TCP_NODE_SOCK)
		return 0;
	sk = &en_sock(n)->sk;
	/*
	 * The write queue head lives apart from the socket and is cold when
	 * many connections take turns; the ACK this segment carries reads it
	 * in tcp_clean_rtx_queue: start the load now, under IP's input work.
	 */
	__builtin_prefetch(en_sock(n)->write_queue);
	return inet_early_demux_found(skb, sk, "tcp_v4_early_demux");
}

static const struct net_protocol tcp_protocol = {
	.early_demux = tcp_v4_early_demux,
	.handler = tcp_v4_rcv,
	.err_handler = tcp_v4_err,
};

/* ---- per-stack setup ----------------------------------------------------------- */

int tcp_init(struct np_stack *s)
{
	if (s->tcp_hash)
		return -EBUSY;
	struct tcp_hashinfo *h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->ehash = calloc(TCP_EHASH_SIZE, sizeof(*h->ehash));
	h->ehash_mask = TCP_EHASH_SIZE - 1;
	int err = h->ehash ? inet_add_protocol(s, &tcp_protocol, IPPROTO_TCP_) : -ENOMEM;
	if (err < 0) {
		free(h->ehash);
		free(h);
		return err;
	}
	s->tcp_hash = h;
	return 0;
}

/* Frees every TCP sock the stack still holds (orphans, unaccepted children) and the TIME_WAIT minisocks. */
void tcp_free(struct np_stack *s)
{
	struct tcp_hashinfo *h = s->tcp_hash;
	if (s->inet_protos[IPPROTO_TCP_] == &tcp_protocol)
		inet_del_protocol(s, IPPROTO_TCP_);
	if (!h)
		return;
	/* Orphans and children hold the only reference to themselves: drop it. */
	for (;;) {
		struct sock *victim = NULL;
		for (struct sock *sk = s->sock_list; sk; sk = sk->node_next)
			if (sk->sk_prot == &tcp_prot && !sk->sk_socket) {
				victim = sk;
				break;
			}
		if (!victim)
			break;
		struct tcp_sock *tp = tcp_sk(victim);
		/* Children first leave their listener; the listener (if any) is gone already. */
		if (tp->parent)
			tcp_child_unlink(victim);
		tcp_clear_xmit_timers(victim);
		tcp_delete_keepalive_timer(victim);
		victim->sk_refcnt = 1;
		sock_put(victim);
	}
	for (uint32_t i = 0; i <= h->ehash_mask; i++) {
		while (h->ehash[i]) {
			struct tcp_ehash_node *n = h->ehash[i];
			if (en_kind(n) == TCP_NODE_TW) {
				tcp_tw_free(en_tw(n));
			} else {
				ehash_del(s, n);
				en_sock(n)->ehashed = 0;
			}
		}
	}
	for (uint32_t i = 0; i < TCP_BHASH_SIZE; i++) {
		while (h->bhash[i]) {
			struct tcp_bind_node *n = h->bhash[i];
			bhash_del(n);
			if (n->kind == TCP_NODE_SOCK)
				bn_sock(n)->bhashed = 0;
		}
	}
	for (uint32_t i = 0; i < TCP_LHASH_SIZE; i++)
		while (h->lhash[i])
			tcp_v4_unhash(&h->lhash[i]->sk);
	free(h->ehash);
	free(h);
	s->tcp_hash = NULL;
}
