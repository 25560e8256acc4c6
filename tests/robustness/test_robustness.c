/*
 * Malformed-input and attack suite: a table of cases, each a frame or a short
 * sequence of frames that enters through the driver entry point
 * (netif_receive_skb on a capture device, tests/scenarios/tcp_script.h), with
 * the expected outcome: drop reasons and SNMP counters that move (exact
 * deltas), and what the stack sends back (nothing, an ICMP error, a RST, a
 * challenge ACK ...). After every case the stack must still answer a ping
 * and a TCP echo (a listener on port 7 whose accepted sockets the test
 * echoes), so a case that wedges or corrupts the stack fails.
 * Each case runs on a fresh stack; a last test runs every case in a row on
 * one stack, so state left behind by one case cannot hurt the next.
 * Adding a case is one entry in cases[] (docs/robustness.md lists them).
 *   us: 10.0.0.1 (eth0)   peer: 10.0.0.2 (permanent neighbour)
 * The same binary runs the same table a second way, through a real TAP
 * driven from the kernel's side (tests/robustness/tap_wire.h), when given
 * --tap IFNAME or NP_ROBUST_TAP=IFNAME (root, inside a network namespace:
 * tests/interop/test_robustness_tap.sh). A case whose frames the kernel
 * cannot send says so in the table (INPROC_ONLY, with the reason).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "scenarios/tcp_script.h"
#include "robustness/tap_wire.h"
#include "net/ipv4/ip.h"
#include "wire/arp.h"
#include "wire/udp.h"

#define ECHO_PORT 7
#define A TCPF_ACK

/* ---- expectations ---------------------------------------------------------------- */

/* Drop reason delta: n exact, or ANYN for "at least one". */
#define ANYN (-1)
struct dexp { int reason, n; };
struct mexp { int field1, n; };   /* field1 = mib field + 1 (0 ends the list) */
#define D(r, n) { NP_DROP_##r, n }
#define M(f, n) { NP_MIB_##f + 1, n }

enum reply_kind {
	RP_NONE,    /* nothing at all is sent */
	RP_ANY,     /* don't care */
	RP_ICMP,    /* an ICMP message of type a, code b */
	RP_TCP,     /* a TCP segment whose flags & b == a */
	RP_ARP,     /* an ARP reply */
	RP_ECHO,    /* an ICMP echo reply (a reassembled or odd but valid echo) */
};
struct reply { enum reply_kind kind; uint8_t a, b; };

struct rctx;
struct rcase {
	const char *name;
	void (*prep)(struct rctx *);      /* before the counters are sampled (e.g. a connection) */
	void (*frames)(struct rctx *);    /* injects the case's frames */
	struct dexp drops[4];
	struct mexp mibs[4];
	struct reply reply;
	void (*check)(struct rctx *);     /* extra assertions (state unchanged ...) */
	const char *inproc_only;          /* why the frames cannot cross a TAP; NULL (BOTH): they can */
};

struct rctx {
	struct env *e;
	const struct rcase *c;
	int lfd;                  /* the echo listener */
	uint16_t hport;           /* next peer port for the health check */
	uint16_t cport;           /* peer port of this case's connection */
	int cfd;                  /* this case's accepted connection */
	uint32_t iss, wnd;        /* our ISS, the window we offered */
	uint32_t pisn;            /* peer ISN */
	uint16_t ipid;
	int nneigh;
	int nconn;               /* connections opened so far (each gets its own peer port) */
	uint64_t aux;
};

/* ---- frame builders --------------------------------------------------------------- */

static size_t eth_hdr(struct env *e, uint8_t *f, uint16_t type, const uint8_t *dst)
{
	struct eth_repr eth = { .ethertype = type };
	memcpy(eth.dst, dst ? dst : e->dev->dev_addr, 6);
	memcpy(eth.src, peer_mac, 6);
	return eth_emit(&eth, f, ETH_HLEN);
}

struct ipp {
	uint32_t src, dst;        /* 0: the peer / us */
	uint8_t proto;
	uint16_t frag_off, id;
	const uint8_t *opt;
	uint8_t optlen;
	const void *l4;
	size_t l4len;
};

/* Ethernet + a valid IPv4 header + l4; returns the frame length. */
static size_t ip_frame(struct rctx *x, uint8_t *f, const struct ipp *p)
{
	eth_hdr(x->e, f, ETH_P_IP, NULL);
	struct ipv4_repr ip = {
		.tot_len = (uint16_t)(IPV4_HLEN_MIN + p->optlen + p->l4len),
		.id = p->id ? p->id : ++x->ipid,
		.frag_off = p->frag_off,
		.ttl = 64,
		.protocol = p->proto,
		.saddr = p->src ? p->src : PEER_IP,
		.daddr = p->dst ? p->dst : OUR_IP,
		.options = p->opt,
		.options_len = p->optlen,
	};
	size_t hl = ipv4_emit(&ip, f + ETH_HLEN, 60);
	assert_int_equal(hl, IPV4_HLEN_MIN + p->optlen);
	if (p->l4len)
		memcpy(f + ETH_HLEN + hl, p->l4, p->l4len);
	return ETH_HLEN + hl + p->l4len;
}

/* An ICMP message (checksummed); returns its length. */
static size_t icmp_msg(uint8_t *buf, uint8_t type, uint8_t code, uint32_t rest, const void *pl, size_t plen)
{
	struct icmp_repr ic = { .type = type, .code = code, .rest = rest, .payload = pl, .payload_len = plen };
	return icmp_emit(&ic, buf, ICMP_HLEN + plen);
}

static size_t echo_req(uint8_t *buf, uint16_t seq, size_t plen)
{
	uint8_t pl[2048];
	for (size_t i = 0; i < plen; i++)
		pl[i] = (uint8_t)(0x30 + i);
	return icmp_msg(buf, ICMP_ECHO, 0, (uint32_t)0x5151 << 16 | seq, pl, plen);
}

/* A good echo request frame to mutate. */
static size_t echo_frame(struct rctx *x, uint8_t *f)
{
	uint8_t l4[64];
	size_t n = echo_req(l4, 9, 24);
	return ip_frame(x, f, &(struct ipp){ .proto = IPPROTO_ICMP_, .l4 = l4, .l4len = n });
}

static void fix_ip_csum(uint8_t *f)
{
	uint8_t *ip = f + ETH_HLEN;
	size_t ihl = (size_t)(ip[0] & 0x0f) * 4;
	be16_put(ip + 10, 0);
	be16_put(ip + 10, ip_compute_csum(ip, ihl));
}

/* Recomputes the TCP or UDP checksum over l4len bytes at l4 (the check field at off). */
static void fix_l4_csum(uint8_t *l4, size_t l4len, uint8_t proto)
{
	size_t off = proto == IPPROTO_TCP_ ? 16 : 6;
	be16_put(l4 + off, 0);
	uint32_t sum = csum_tcpudp_nofold(PEER_IP, OUR_IP, (uint16_t)l4len, proto, 0);
	uint16_t c = csum_fold(csum_partial(l4, l4len, sum));
	if (proto == IPPROTO_UDP_ && c == 0)
		c = 0xffff;
	be16_put(l4 + off, c);
}

/* A UDP datagram from the peer (port 5000) with a correct checksum; returns the frame length. */
static size_t udp_frame(struct rctx *x, uint8_t *f, uint16_t dport, size_t plen)
{
	uint8_t l4[512];
	be16_put(l4, 5000);
	be16_put(l4 + 2, dport);
	be16_put(l4 + 4, (uint16_t)(8 + plen));
	for (size_t i = 0; i < plen; i++)
		l4[8 + i] = (uint8_t)i;
	fix_l4_csum(l4, 8 + plen, IPPROTO_UDP_);
	return ip_frame(x, f, &(struct ipp){ .proto = IPPROTO_UDP_, .l4 = l4, .l4len = 8 + plen });
}

static void send_frame(struct rctx *x, const uint8_t *f, size_t len) { inject_frame(x->e, f, len); }

/* An ARP packet from the peer's MAC (sha overridable). */
static size_t arp_frame(struct rctx *x, uint8_t *f, uint16_t op, const uint8_t *sha, uint32_t sip, uint32_t tip,
			const uint8_t *edst)
{
	static const uint8_t bc[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	eth_hdr(x->e, f, ETH_P_ARP, edst ? edst : bc);
	struct arp_repr r = { .op = op, .sip = sip, .tip = tip };
	memcpy(r.sha, sha ? sha : peer_mac, 6);
	if (op == ARPOP_REPLY)
		memcpy(r.tha, x->e->dev->dev_addr, 6);
	return ETH_HLEN + arp_emit(&r, f + ETH_HLEN, ARP_HLEN);
}

/* One fragment of an echo request datagram (the ICMP message is in dgram). */
static void frag(struct rctx *x, uint16_t id, const uint8_t *dgram, size_t off, size_t len, int more)
{
	uint8_t f[2048];
	size_t n = ip_frame(x, f, &(struct ipp){ .proto = IPPROTO_ICMP_, .id = id,
						  .frag_off = (uint16_t)((off >> 3) | (more ? IP_MF : 0)),
						  .l4 = dgram + off, .l4len = len });
	send_frame(x, f, n);
}

/* ---- TCP helpers ----------------------------------------------------------------- */

/* An established connection to the echo listener from peer port cport; fills iss/wnd/cfd. */
static void tcp_estab(struct rctx *x)
{
	struct env *e = x->e;
	x->cport = (uint16_t)(41000 + x->nconn++);
	cap_clear(e->cap);
	if (!x->pisn)
		x->pisn = 1000;
	inject(e, &(struct seg){ .flags = TCPF_SYN, .seq = x->pisn, .win = 65535, .mss = 1460, .sport = x->cport,
				 .dport = ECHO_PORT });
	struct outseg o = next_out(e);
	assert_int_equal(o.th.flags, TCPF_SYN | A);
	x->iss = o.th.seq;
	inject(e, &(struct seg){ .flags = A, .seq = x->pisn + 1, .ack = x->iss + 1, .win = 65535, .sport = x->cport,
				 .dport = ECHO_PORT });
	x->cfd = np_accept(x->lfd, NULL, NULL);
	assert_true(x->cfd >= 0);
	np_fcntl(x->cfd, F_SETFL, O_NONBLOCK);
	x->wnd = o.th.window;
	drain(e);
}

static void tcp_seg(struct rctx *x, struct seg s)
{
	if (!s.sport)
		s.sport = x->cport;
	if (!s.dport)
		s.dport = ECHO_PORT;
	inject(x->e, &s);
}

/* Injects a TCP segment whose raw header bytes a mutator edits (checksum fixed after). */
static void tcp_mutated(struct rctx *x, struct seg s, void (*mut)(uint8_t *l4, size_t *l4len), int keep_csum)
{
	static uint8_t f[4096];
	if (!s.sport)
		s.sport = x->cport ? x->cport : 42000;
	if (!s.dport)
		s.dport = ECHO_PORT;
	size_t len = build_frame(x->e, f, sizeof(f), &s);
	uint8_t *l4 = f + ETH_HLEN + IPV4_HLEN_MIN;
	size_t l4len = len - ETH_HLEN - IPV4_HLEN_MIN;
	mut(l4, &l4len);
	if (!keep_csum)
		fix_l4_csum(l4, l4len, IPPROTO_TCP_);
	be16_put(f + ETH_HLEN + 2, (uint16_t)(IPV4_HLEN_MIN + l4len));
	fix_ip_csum(f);
	inject_frame(x->e, f, ETH_HLEN + IPV4_HLEN_MIN + l4len);
}

static void assert_estab(struct rctx *x) { assert_int_equal(tcp_state_of(x->cfd), TCP_ESTABLISHED); }

/* ---- cases: link layer and ARP ---------------------------------------------------- */

static void f_runt(struct rctx *x)
{
	uint8_t f[64];
	eth_hdr(x->e, f, ETH_P_IP, NULL);
	send_frame(x, f, 10);
}
static void f_eth_only(struct rctx *x)
{
	uint8_t f[64];
	eth_hdr(x->e, f, ETH_P_IP, NULL);
	send_frame(x, f, ETH_HLEN);
}
static void f_ethertype_unknown(struct rctx *x)
{
	uint8_t f[64] = { 0 };
	eth_hdr(x->e, f, 0x88B5, NULL);
	send_frame(x, f, 60);
}
static void f_arp_trunc(struct rctx *x)
{
	uint8_t f[64];
	size_t n = arp_frame(x, f, ARPOP_REQUEST, NULL, PEER_IP, OUR_IP, NULL);
	send_frame(x, f, n - 10);
}
static void f_arp_hwtype(struct rctx *x)
{
	uint8_t f[64];
	size_t n = arp_frame(x, f, ARPOP_REQUEST, NULL, PEER_IP, OUR_IP, NULL);
	be16_put(f + ETH_HLEN, 7);
	send_frame(x, f, n);
}
static void f_arp_plen(struct rctx *x)
{
	uint8_t f[64];
	size_t n = arp_frame(x, f, ARPOP_REQUEST, NULL, PEER_IP, OUR_IP, NULL);
	f[ETH_HLEN + 5] = 6;
	send_frame(x, f, n);
}
static void f_arp_opcode(struct rctx *x)
{
	uint8_t f[64];
	size_t n = arp_frame(x, f, ARPOP_REQUEST, NULL, PEER_IP, OUR_IP, NULL);
	be16_put(f + ETH_HLEN + 6, 9);
	send_frame(x, f, n);
}
static void f_arp_sha_bcast(struct rctx *x)
{
	static const uint8_t bc[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	uint8_t f[64];
	send_frame(x, f, arp_frame(x, f, ARPOP_REQUEST, bc, IP4(10, 0, 0, 5), OUR_IP, NULL));
}
static void f_arp_sha_zero(struct rctx *x)
{
	static const uint8_t z[6] = { 0 };
	uint8_t f[64];
	send_frame(x, f, arp_frame(x, f, ARPOP_REQUEST, z, IP4(10, 0, 0, 5), OUR_IP, NULL));
}
static void f_arp_sip_bcast(struct rctx *x)
{
	uint8_t f[64];
	send_frame(x, f, arp_frame(x, f, ARPOP_REQUEST, NULL, IP4(255, 255, 255, 255), OUR_IP, NULL));
}
static void f_arp_sip_subnet_bcast(struct rctx *x)
{
	uint8_t f[64];
	send_frame(x, f, arp_frame(x, f, ARPOP_REPLY, NULL, IP4(10, 0, 255, 255), OUR_IP, x->e->dev->dev_addr));
}
static void f_arp_sip_ours(struct rctx *x)
{
	uint8_t f[64];
	send_frame(x, f, arp_frame(x, f, ARPOP_REQUEST, NULL, OUR_IP, OUR_IP, NULL));
}
static void f_arp_unsolicited(struct rctx *x)
{
	uint8_t f[64];
	send_frame(x, f, arp_frame(x, f, ARPOP_REPLY, NULL, IP4(10, 0, 0, 66), OUR_IP, x->e->dev->dev_addr));
}
static void f_arp_not_for_us(struct rctx *x)
{
	uint8_t f[64];
	send_frame(x, f, arp_frame(x, f, ARPOP_REQUEST, NULL, IP4(10, 0, 0, 5), IP4(10, 0, 0, 77), NULL));
}
static void f_arp_probe(struct rctx *x)
{
	uint8_t f[64];
	send_frame(x, f, arp_frame(x, f, ARPOP_REQUEST, NULL, 0, OUR_IP, NULL));
}
static void p_count_neigh(struct rctx *x) { x->nneigh = neigh_count(x->e->s); }
static void c_neigh_unchanged(struct rctx *x) { assert_int_equal(neigh_count(x->e->s), x->nneigh); }
/* 2,000 requests for us from distinct senders (10.0.x.y is on-link only for /24: use a /16). */
static void f_arp_flood(struct rctx *x)
{
	uint8_t f[64];
	for (int i = 0; i < 2000; i++) {
		uint8_t sha[6] = { 0x02, 0x10, 0, 0, (uint8_t)(i >> 8), (uint8_t)i };
		uint32_t sip = IP4(10, 0, 1 + (i >> 8), (uint8_t)(i & 0xff) ? (uint8_t)(i & 0xff) : 1);
		send_frame(x, f, arp_frame(x, f, ARPOP_REQUEST, sha, sip, OUR_IP, NULL));
	}
}
static void c_neigh_bounded(struct rctx *x)
{
	/* Permanent entries (the peer) do not count against gc_thresh3 (Linux's gc_entries). */
	if (neigh_count(x->e->s) > NP_NEIGH_GC_THRESH3 + x->nneigh)
		fail_msg("neighbour table holds %d entries after 2000 senders (gc_thresh3 %d)", neigh_count(x->e->s),
			 NP_NEIGH_GC_THRESH3);
	assert_true(neigh_count(x->e->s) > x->nneigh);
}

/* ---- cases: IPv4 header ---------------------------------------------------------- */

static void f_ip_version6(struct rctx *x)
{
	uint8_t f[256];
	size_t n = echo_frame(x, f);
	f[ETH_HLEN] = 0x65;
	fix_ip_csum(f);
	send_frame(x, f, n);
}
static void f_ip_ihl4(struct rctx *x)
{
	uint8_t f[256];
	size_t n = echo_frame(x, f);
	f[ETH_HLEN] = 0x44;
	fix_ip_csum(f);
	send_frame(x, f, n);
}
static void f_ip_ihl_past_frame(struct rctx *x)
{
	uint8_t f[256];
	echo_frame(x, f);
	f[ETH_HLEN] = 0x4F;
	send_frame(x, f, ETH_HLEN + 40);
}
static void f_ip_ihl_past_totlen(struct rctx *x)
{
	uint8_t f[256];
	size_t n = echo_frame(x, f);
	f[ETH_HLEN] = 0x47;                       /* 28-byte header ... */
	be16_put(f + ETH_HLEN + 2, 24);           /* ... in a 24-byte datagram */
	fix_ip_csum(f);
	send_frame(x, f, n);
}
static void f_ip_totlen_past_frame(struct rctx *x)
{
	uint8_t f[256];
	size_t n = echo_frame(x, f);
	be16_put(f + ETH_HLEN + 2, 1000);
	fix_ip_csum(f);
	send_frame(x, f, n);
}
static void f_ip_totlen_below_ihl(struct rctx *x)
{
	uint8_t f[256];
	size_t n = echo_frame(x, f);
	be16_put(f + ETH_HLEN + 2, 12);
	fix_ip_csum(f);
	send_frame(x, f, n);
}
/* tot_len shorter than the frame: the tail is trimmed as padding, so the ICMP checksum fails. */
static void f_ip_totlen_short_of_frame(struct rctx *x)
{
	uint8_t f[256];
	size_t n = echo_frame(x, f);
	be16_put(f + ETH_HLEN + 2, (uint16_t)(n - ETH_HLEN - 6));
	fix_ip_csum(f);
	send_frame(x, f, n);
}
static void f_ip_truncated_hdr(struct rctx *x)
{
	uint8_t f[256];
	echo_frame(x, f);
	send_frame(x, f, ETH_HLEN + 12);
}
static void f_ip_bad_csum(struct rctx *x)
{
	uint8_t f[256];
	size_t n = echo_frame(x, f);
	f[ETH_HLEN + 11] ^= 0x40;
	send_frame(x, f, n);
}
static void ip_opt_frame(struct rctx *x, const uint8_t *opt, uint8_t optlen)
{
	uint8_t f[256], l4[64];
	size_t l = echo_req(l4, 3, 8);
	send_frame(x, f, ip_frame(x, f, &(struct ipp){ .proto = IPPROTO_ICMP_, .opt = opt, .optlen = optlen, .l4 = l4,
						     .l4len = l }));
}
static void f_ip_opt_len0(struct rctx *x) { ip_opt_frame(x, (const uint8_t[]){ 7, 0, 4, 0 }, 4); }
static void f_ip_opt_len1(struct rctx *x) { ip_opt_frame(x, (const uint8_t[]){ 68, 1, 0, 0 }, 4); }
static void f_ip_opt_past(struct rctx *x) { ip_opt_frame(x, (const uint8_t[]){ 7, 12, 4, 0 }, 4); }
static void f_ip_lsrr(struct rctx *x) { ip_opt_frame(x, (const uint8_t[]){ 131, 7, 4, 10, 0, 0, 9, 0 }, 8); }
static void f_ip_ssrr(struct rctx *x) { ip_opt_frame(x, (const uint8_t[]){ 137, 7, 4, 10, 0, 0, 9, 0 }, 8); }
static void f_ip_opt_nops(struct rctx *x) { ip_opt_frame(x, (const uint8_t[]){ 1, 1, 1, 0 }, 4); }
static void src_echo(struct rctx *x, uint32_t src, uint32_t dst)
{
	uint8_t f[256], l4[64];
	size_t l = echo_req(l4, 4, 8);
	send_frame(x, f, ip_frame(x, f, &(struct ipp){ .src = src, .dst = dst, .proto = IPPROTO_ICMP_, .l4 = l4,
						     .l4len = l }));
}
static void f_martian_loopback(struct rctx *x) { src_echo(x, IP4(127, 0, 0, 1), 0); }
static void f_martian_multicast(struct rctx *x) { src_echo(x, IP4(224, 0, 0, 5), 0); }
static void f_martian_zero(struct rctx *x)
{
	uint8_t f[256];
	size_t n = echo_frame(x, f);
	be32_put(f + ETH_HLEN + 12, 0);
	fix_ip_csum(f);
	send_frame(x, f, n);
}
static void f_martian_class_e(struct rctx *x) { src_echo(x, IP4(240, 1, 2, 3), 0); }
static void f_land_icmp(struct rctx *x) { src_echo(x, OUR_IP, OUR_IP); }
/* The LAND attack proper: a SYN from our own address and port to ourselves. */
static void f_land_syn(struct rctx *x)
{
	static uint8_t f[256];
	size_t n = build_frame(x->e, f, sizeof(f), &(struct seg){ .flags = TCPF_SYN, .seq = 5, .win = 1000,
								  .sport = ECHO_PORT, .dport = ECHO_PORT });
	uint8_t *ip = f + ETH_HLEN;
	be32_put(ip + 12, OUR_IP);
	fix_ip_csum(f);
	send_frame(x, f, n);
}
static void f_dst_not_ours(struct rctx *x) { src_echo(x, 0, IP4(192, 0, 2, 1)); }

/* ---- cases: fragments ------------------------------------------------------------ */

/* An echo request datagram of len bytes (ICMP header + payload) in d. */
static void dgram(uint8_t *d, size_t len) { echo_req(d, 77, len - ICMP_HLEN); }

static void f_ping_of_death(struct rctx *x)
{
	uint8_t d[1500];
	dgram(d, 1480);
	frag(x, 0x4001, d, 0, 1480, 1);
	/* Last fragment at offset 65528 with 64 bytes: 65,612 bytes of datagram. */
	uint8_t f[256];
	size_t n = ip_frame(x, f, &(struct ipp){ .proto = IPPROTO_ICMP_, .id = 0x4001,
						  .frag_off = (uint16_t)(65528 >> 3), .l4 = d, .l4len = 64 });
	send_frame(x, f, n);
}
static void f_teardrop(struct rctx *x)
{
	uint8_t d[64];
	dgram(d, 48);
	frag(x, 0x4002, d, 0, 32, 1);
	frag(x, 0x4002, d, 8, 8, 1);     /* inside the first one, not all of it (a duplicate would be) */
	frag(x, 0x4002, d, 24, 24, 0);
}
static void f_frag_partial_overlap(struct rctx *x)
{
	uint8_t d[64];
	dgram(d, 48);
	frag(x, 0x4003, d, 0, 16, 1);
	frag(x, 0x4003, d, 8, 40, 0);
}
static void f_frag_duplicate(struct rctx *x)
{
	uint8_t d[64];
	dgram(d, 48);
	frag(x, 0x4004, d, 0, 24, 1);
	frag(x, 0x4004, d, 0, 24, 1);
	frag(x, 0x4004, d, 24, 24, 0);
}
static void f_frag_zero_len(struct rctx *x)
{
	uint8_t d[64];
	dgram(d, 48);
	frag(x, 0x4005, d, 0, 24, 1);
	frag(x, 0x4005, d, 24, 0, 1);
}
/* A non-last fragment of 20 bytes: trimmed to 16 (Linux), so the datagram never completes. */
static void f_frag_not_mult8(struct rctx *x)
{
	uint8_t d[64];
	dgram(d, 48);
	frag(x, 0x4006, d, 0, 20, 1);
	frag(x, 0x4006, d, 24, 24, 0);
}
static void f_frag_conflicting_last(struct rctx *x)
{
	uint8_t d[64];
	dgram(d, 48);
	frag(x, 0x4007, d, 16, 32, 0);
	frag(x, 0x4007, d, 16, 16, 0);
}
static void f_frag_middle_first(struct rctx *x)
{
	uint8_t d[64];
	dgram(d, 48);
	frag(x, 0x4008, d, 16, 16, 1);
	frag(x, 0x4008, d, 32, 16, 0);
	frag(x, 0x4008, d, 0, 16, 1);
}
static void f_frag_last_before_data(struct rctx *x)
{
	uint8_t d[64];
	dgram(d, 48);
	frag(x, 0x4009, d, 0, 40, 1);
	frag(x, 0x4009, d, 24, 8, 0);     /* ends at 32, before data we hold */
}
/* 1,000 tiny first fragments of distinct datagrams, never completed, then reassembly timeout. */
static void f_frag_tiny_flood(struct rctx *x)
{
	uint8_t d[16];
	dgram(d, 16);
	for (int i = 0; i < 1000; i++)
		frag(x, (uint16_t)(0x6000 + i), d, 0, 8, 1);
	at(x->e, now_ms(x->e) + 31000);
}
/* 300 8-byte fragments in one queue: the per-queue cap (256) kills it. */
static void f_frag_too_many(struct rctx *x)
{
	static const uint8_t d[300 * 8];
	for (int i = 0; i < 300; i++)
		frag(x, 0x4010, d, (size_t)i * 8, 8, 1);
}
static void f_ipip_broken(struct rctx *x)
{
	uint8_t inner[40], f[256];
	memset(inner, 0, sizeof(inner));
	inner[0] = 0x45;
	be16_put(inner + 2, 1000);   /* inner total length past the packet */
	inner[9] = IPPROTO_UDP_;
	send_frame(x, f, ip_frame(x, f, &(struct ipp){ .proto = 4, .l4 = inner, .l4len = sizeof(inner) }));
}

/* ---- cases: ICMP ------------------------------------------------------------------ */

static void f_icmp_short(struct rctx *x)
{
	uint8_t l4[4] = { ICMP_ECHO, 0, 0, 0 }, f[128];
	be16_put(l4 + 2, ip_compute_csum(l4, 4));
	send_frame(x, f, ip_frame(x, f, &(struct ipp){ .proto = IPPROTO_ICMP_, .l4 = l4, .l4len = 4 }));
}
static void f_icmp_bad_csum(struct rctx *x)
{
	uint8_t l4[64], f[128];
	size_t l = echo_req(l4, 5, 16);
	l4[2] ^= 0x11;
	send_frame(x, f, ip_frame(x, f, &(struct ipp){ .proto = IPPROTO_ICMP_, .l4 = l4, .l4len = l }));
}
/* A quoted datagram: IP header + 8 bytes of UDP from us to the peer. */
static size_t quote(uint8_t *q, uint8_t proto)
{
	struct ipv4_repr ip = { .tot_len = 48, .id = 1, .ttl = 64, .protocol = proto, .saddr = OUR_IP,
				.daddr = PEER_IP };
	ipv4_emit(&ip, q, IPV4_HLEN_MIN);
	be16_put(q + 20, 5353);
	be16_put(q + 22, 9);
	be16_put(q + 24, 28);
	be16_put(q + 26, 0);
	return 28;
}
static void icmp_err(struct rctx *x, uint8_t type, uint8_t code, uint32_t rest, size_t qlen, uint32_t src)
{
	uint8_t q[64], l4[128], f[256];
	quote(q, IPPROTO_UDP_);
	size_t l = icmp_msg(l4, type, code, rest, q, qlen);
	send_frame(x, f, ip_frame(x, f, &(struct ipp){ .src = src, .proto = IPPROTO_ICMP_, .l4 = l4, .l4len = l }));
}
static void f_icmp_err_trunc_quote(struct rctx *x) { icmp_err(x, ICMP_DEST_UNREACH, ICMP_PORT_UNREACH, 0, 12, 0); }
static void f_icmp_err_quote_no_l4(struct rctx *x) { icmp_err(x, ICMP_TIME_EXCEEDED, 0, 0, 20, 0); }
static void f_icmp_frag_needed_small(struct rctx *x) { icmp_err(x, ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED, 40, 28, 0); }
/* A redirect for 192.0.2.0 to 10.0.0.99 from a host that is not our gateway (no default route at all). */
static void p_route(struct rctx *x)
{
	struct fib_route r = { 0 };
	const struct fib_route *cur = fib_lookup(x->e->s, IP4(192, 0, 2, 1));
	(void)r;
	x->aux = cur ? 1 : 0;
}
static void f_icmp_redirect(struct rctx *x)
{
	icmp_err(x, ICMP_REDIRECT, 1, IP4(10, 0, 0, 99), 28, IP4(10, 0, 0, 3));
}
static void c_route_unchanged(struct rctx *x)
{
	const struct fib_route *cur = fib_lookup(x->e->s, IP4(192, 0, 2, 1));
	assert_int_equal(cur ? 1 : 0, (int)x->aux);
}
static void f_icmp_type_unknown(struct rctx *x)
{
	uint8_t l4[16], f[128];
	size_t l = icmp_msg(l4, 200, 0, 0, NULL, 0);
	send_frame(x, f, ip_frame(x, f, &(struct ipp){ .proto = IPPROTO_ICMP_, .l4 = l4, .l4len = l }));
}
/* An echo to the subnet broadcast address: ignored (icmp_echo_ignore_broadcasts). */
static void f_icmp_bcast_echo(struct rctx *x) { src_echo(x, 0, IP4(10, 0, 255, 255)); }

/* ---- cases: UDP ------------------------------------------------------------------- */

static void f_udp_len_below8(struct rctx *x)
{
	uint8_t f[256];
	size_t n = udp_frame(x, f, 9, 16);
	uint8_t *l4 = f + ETH_HLEN + IPV4_HLEN_MIN;
	be16_put(l4 + 4, 4);
	fix_l4_csum(l4, 24, IPPROTO_UDP_);
	send_frame(x, f, n);
}
static void f_udp_len_past(struct rctx *x)
{
	uint8_t f[256];
	size_t n = udp_frame(x, f, 9, 16);
	uint8_t *l4 = f + ETH_HLEN + IPV4_HLEN_MIN;
	be16_put(l4 + 4, 200);
	send_frame(x, f, n);
}
static void f_udp_bad_csum(struct rctx *x)
{
	uint8_t f[256];
	size_t n = udp_frame(x, f, 9, 16);
	f[ETH_HLEN + IPV4_HLEN_MIN + 6] ^= 0x21;
	send_frame(x, f, n);
}
static void f_udp_no_port(struct rctx *x)
{
	uint8_t f[256];
	send_frame(x, f, udp_frame(x, f, 9, 16));
}
static void f_udp_truncated(struct rctx *x)
{
	uint8_t f[256];
	size_t n = udp_frame(x, f, 9, 0);
	be16_put(f + ETH_HLEN + 2, IPV4_HLEN_MIN + 4);   /* an IP datagram with 4 bytes of UDP */
	fix_ip_csum(f);
	send_frame(x, f, n - 4);
}

/* ---- cases: TCP header and options ------------------------------------------------ */

static void m_doff4(uint8_t *l4, size_t *len) { l4[12] = 0x40; }
static void m_doff_past(uint8_t *l4, size_t *len) { l4[12] = 0xF0; }
static void f_tcp_doff4(struct rctx *x) { tcp_mutated(x, (struct seg){ .flags = TCPF_SYN, .seq = 9, .win = 1000 }, m_doff4, 0); }
static void f_tcp_doff_past(struct rctx *x)
{
	tcp_mutated(x, (struct seg){ .flags = TCPF_SYN, .seq = 9, .win = 1000, .len = 8 }, m_doff_past, 0);
}
static void f_tcp_bad_csum(struct rctx *x)
{
	tcp_seg(x, (struct seg){ .flags = TCPF_SYN, .seq = 9, .win = 1000, .sport = 42001, .bad_csum = 1 });
}
static void f_tcp_truncated(struct rctx *x)
{
	uint8_t f[256];
	size_t n = build_frame(x->e, f, sizeof(f), &(struct seg){ .flags = TCPF_SYN, .seq = 9, .win = 1000,
								  .sport = 42002, .dport = ECHO_PORT });
	be16_put(f + ETH_HLEN + 2, IPV4_HLEN_MIN + 12);
	fix_ip_csum(f);
	send_frame(x, f, n - 8);
}
static void syn_opt(struct rctx *x, uint16_t sport, const uint8_t *opt, int optlen)
{
	tcp_seg(x, (struct seg){ .flags = TCPF_SYN, .seq = 77, .win = 65535, .sport = sport, .raw_opt = opt,
				 .raw_optlen = optlen });
}
static void f_tcp_opt_len0(struct rctx *x) { syn_opt(x, 42010, (const uint8_t[]){ 30, 0, 1, 1 }, 4); }
static void f_tcp_opt_len1(struct rctx *x) { syn_opt(x, 42011, (const uint8_t[]){ 30, 1, 1, 1 }, 4); }
static void f_tcp_opt_past(struct rctx *x) { syn_opt(x, 42012, (const uint8_t[]){ 30, 40, 1, 1 }, 4); }
static void f_tcp_mss0(struct rctx *x) { syn_opt(x, 42013, (const uint8_t[]){ 2, 4, 0, 0 }, 4); }
static void f_tcp_mss_len3(struct rctx *x) { syn_opt(x, 42014, (const uint8_t[]){ 2, 3, 5, 1 }, 4); }
static void f_tcp_wscale15(struct rctx *x) { syn_opt(x, 42015, (const uint8_t[]){ 1, 3, 3, 15 }, 4); }
static void f_tcp_sack_bad_len(struct rctx *x) { syn_opt(x, 42016, (const uint8_t[]){ 5, 7, 0, 0, 0, 0, 0, 0 }, 8); }
/* The SYN-ACK to an options-mangled SYN: sane MSS (never 0) and a window scale clamped to 14. */
static void c_synack_sane(struct rctx *x)
{
	struct env *e = x->e;
	int seen = 0;
	for (int i = 0; i < e->cap->n; i++) {
		struct ipv4_repr ip;
		struct tcp_repr th;
		if (ipv4_parse(e->cap->frame[i] + ETH_HLEN, e->cap->len[i] - ETH_HLEN, &ip) < 0 ||
		    ip.protocol != IPPROTO_TCP_)
			continue;
		assert_int_equal(tcp_parse(e->cap->frame[i] + ETH_HLEN + ip.ihl, ip.tot_len - ip.ihl, &th), 0);
		if (th.flags == (TCPF_SYN | A)) {
			seen++;
			if (th.opt.mss_ok)
				assert_true(th.opt.mss >= 536);
			if (th.opt.wscale_ok)
				assert_true(th.opt.wscale <= 14);
		}
	}
	assert_int_equal(seen, 1);
}
static void f_tcp_syn_fin(struct rctx *x) { tcp_seg(x, (struct seg){ .flags = TCPF_SYN | TCPF_FIN, .seq = 5, .sport = 42020 }); }
static void f_tcp_syn_rst(struct rctx *x) { tcp_seg(x, (struct seg){ .flags = TCPF_SYN | TCPF_RST, .seq = 5, .sport = 42021 }); }
static void f_tcp_no_flags(struct rctx *x) { tcp_seg(x, (struct seg){ .flags = 0, .seq = 5, .sport = 42022 }); }
static void f_tcp_all_flags(struct rctx *x) { tcp_seg(x, (struct seg){ .flags = 0xFF, .seq = 5, .sport = 42023 }); }
static void f_tcp_ack_to_listener(struct rctx *x) { tcp_seg(x, (struct seg){ .flags = A, .seq = 5, .ack = 99, .sport = 42024 }); }
static void f_tcp_rst_to_listener(struct rctx *x) { tcp_seg(x, (struct seg){ .flags = TCPF_RST, .seq = 5, .sport = 42025 }); }
static void f_tcp_closed_port(struct rctx *x)
{
	inject(x->e, &(struct seg){ .flags = TCPF_SYN, .seq = 5, .win = 1000, .sport = 42026, .dport = 9999 });
}

/* ---- cases: TCP on an established connection (RFC 5961, RFC 9293 3.10.7.4) ---------- */

static void f_est_rst_inwindow(struct rctx *x) { tcp_seg(x, (struct seg){ .flags = TCPF_RST, .seq = x->pisn + 1 + 100 }); }
static void f_est_rst_outside(struct rctx *x) { tcp_seg(x, (struct seg){ .flags = TCPF_RST, .seq = x->pisn + 1 + x->wnd + 10 }); }
static void f_est_syn_inwindow(struct rctx *x)
{
	tcp_seg(x, (struct seg){ .flags = TCPF_SYN, .seq = x->pisn + 1 + 10, .win = 1000, .mss = 1460 });
}
static void f_est_ack_unsent(struct rctx *x)
{
	tcp_seg(x, (struct seg){ .flags = A, .seq = x->pisn + 1, .ack = x->iss + 1 + 100000, .win = 65535 });
}
static void f_est_ack_too_old(struct rctx *x)
{
	tcp_seg(x, (struct seg){ .flags = A, .seq = x->pisn + 1, .ack = x->iss + 1 - 0x40000000u, .win = 65535 });
}
static void f_est_data_outside(struct rctx *x)
{
	tcp_seg(x, (struct seg){ .flags = A, .seq = x->pisn + 1 + 0x20000000u, .ack = x->iss + 1, .win = 65535, .len = 10 });
}
static void f_est_data_old(struct rctx *x)
{
	tcp_seg(x, (struct seg){ .flags = A, .seq = x->pisn + 1 - 100, .ack = x->iss + 1, .win = 65535, .len = 50 });
}
static void f_est_no_ack(struct rctx *x)
{
	tcp_seg(x, (struct seg){ .flags = TCPF_PSH, .seq = x->pisn + 1, .win = 65535, .len = 10 });
}
static void f_est_wscale_nonsyn(struct rctx *x)
{
	tcp_seg(x, (struct seg){ .flags = A, .seq = x->pisn + 1, .ack = x->iss + 1, .win = 100,
				 .raw_opt = (const uint8_t[]){ 1, 3, 3, 14 }, .raw_optlen = 4 });
}
static void f_est_sack_outside(struct rctx *x)
{
	uint8_t o[12] = { 1, 1, 5, 10 };
	be32_put(o + 4, x->iss + 0x10000000u);
	be32_put(o + 8, x->iss + 0x10001000u);
	tcp_seg(x, (struct seg){ .flags = A, .seq = x->pisn + 1, .ack = x->iss + 1, .win = 65535, .raw_opt = o,
				 .raw_optlen = 12 });
}
static void f_est_sack_reversed(struct rctx *x)
{
	uint8_t o[12] = { 1, 1, 5, 10 };
	be32_put(o + 4, x->iss + 500);
	be32_put(o + 8, x->iss + 1);
	tcp_seg(x, (struct seg){ .flags = A, .seq = x->pisn + 1, .ack = x->iss + 1, .win = 65535, .raw_opt = o,
				 .raw_optlen = 12 });
}
static void m_urg_far(uint8_t *l4, size_t *len)
{
	l4[13] |= TCPF_URG;
	be16_put(l4 + 18, 0xFFFF);
}
static void m_urg_zero(uint8_t *l4, size_t *len)
{
	l4[13] |= TCPF_URG;
	be16_put(l4 + 18, 0);
}
static void f_est_urg_far(struct rctx *x)
{
	tcp_mutated(x, (struct seg){ .flags = A | TCPF_PSH, .seq = x->pisn + 1, .ack = x->iss + 1, .win = 65535, .len = 10 },
		    m_urg_far, 0);
}
static void f_est_urg_zero_nodata(struct rctx *x)
{
	tcp_mutated(x, (struct seg){ .flags = A, .seq = x->pisn + 1, .ack = x->iss + 1, .win = 65535 }, m_urg_zero, 0);
}
/* The urgent byte is delivered in line (the data is all there, in order). */
static void c_data10(struct rctx *x)
{
	char b[64];
	assert_int_equal(np_recv(x->cfd, b, sizeof(b), 0), 10);
	assert_estab(x);
}
static void p_estab_wrap(struct rctx *x)
{
	x->pisn = 0xFFFFFFF0u;
	tcp_estab(x);
}
/* Data that crosses 2^32 in sequence space, in two segments. */
static void f_est_seq_wrap(struct rctx *x)
{
	tcp_seg(x, (struct seg){ .flags = A, .seq = 0xFFFFFFF1u, .ack = x->iss + 1, .win = 65535, .len = 10 });
	tcp_seg(x, (struct seg){ .flags = A | TCPF_PSH, .seq = 0xFFFFFFFBu, .ack = x->iss + 1, .win = 65535, .len = 20 });
}
static void c_wrap(struct rctx *x)
{
	char b[64];
	assert_int_equal(np_recv(x->cfd, b, sizeof(b), 0), 30);
	for (int i = 0; i < 10; i++)
		assert_int_equal((uint8_t)b[i], (uint8_t)(0xFFFFFFF1u + i));
	for (int i = 0; i < 20; i++)
		assert_int_equal((uint8_t)b[10 + i], (uint8_t)(0xFFFFFFFBu + i));
	/* Our ACK covers both, wrapped past zero. */
	struct env *e = x->e;
	int acked = 0;
	for (int i = 0; i < e->cap->n; i++) {
		struct ipv4_repr ip;
		struct tcp_repr th;
		if (ipv4_parse(e->cap->frame[i] + ETH_HLEN, e->cap->len[i] - ETH_HLEN, &ip) == 0 &&
		    ip.protocol == IPPROTO_TCP_ &&
		    tcp_parse(e->cap->frame[i] + ETH_HLEN + ip.ihl, ip.tot_len - ip.ihl, &th) == 0 && th.ack == 15)
			acked = 1;
	}
	if (!acked) {
		at(e, now_ms(e) + 500);
		acked = e->cap->n > 0;
	}
	assert_true(acked);
	assert_estab(x);
}
static void f_est_rst_exact(struct rctx *x) { tcp_seg(x, (struct seg){ .flags = TCPF_RST, .seq = x->pisn + 1 }); }
static void c_reset(struct rctx *x)
{
	char b[4];
	assert_int_equal(np_recv(x->cfd, b, sizeof(b), 0), -1);
	assert_int_equal(errno, ECONNRESET);
}

/* ---- the table ----------------------------------------------------------------------- */

#define NONE { RP_NONE, 0, 0 }
#define ANY { RP_ANY, 0, 0 }
#define ICMPR(t, c) { RP_ICMP, t, c }
#define TCPR(f, m) { RP_TCP, f, m }
#define RST_R TCPR(TCPF_RST, TCPF_RST)
#define CHALLENGE TCPR(A, 0xff & ~TCPF_PSH)
#define BOTH NULL                     /* runs in-process and through the TAP */
#define INPROC_ONLY(why) (why)

static const struct rcase cases[] = {
	/* link layer */
	{ "runt_10_bytes", NULL, f_runt, { D(MAC_TRUNCATED, 1) }, { { 0 } }, NONE, NULL,
	  INPROC_ONLY("Linux refuses packet-socket frames shorter than the 14-byte Ethernet header (EINVAL)") },
	{ "eth_header_only_ipv4", NULL, f_eth_only, { D(IP_INHDR, 1) }, { M(IpInHdrErrors, 1) }, NONE, NULL, BOTH },
	{ "unknown_ethertype", NULL, f_ethertype_unknown, { D(UNHANDLED_PROTO, 1) }, { { 0 } }, NONE, NULL, BOTH },
	/* ARP */
	{ "arp_truncated", NULL, f_arp_trunc, { D(ARP_TRUNCATED, 1) }, { { 0 } }, NONE, NULL, BOTH },
	{ "arp_bad_hwtype", NULL, f_arp_hwtype, { D(ARP_BAD_FIELDS, 1) }, { { 0 } }, NONE, NULL, BOTH },
	{ "arp_bad_plen", NULL, f_arp_plen, { D(ARP_BAD_FIELDS, 1) }, { { 0 } }, NONE, NULL, BOTH },
	{ "arp_bad_opcode", NULL, f_arp_opcode, { D(ARP_BAD_FIELDS, 1) }, { { 0 } }, NONE, NULL, BOTH },
	{ "arp_sha_broadcast", p_count_neigh, f_arp_sha_bcast, { D(ARP_INVALID_SHA, 1) }, { { 0 } }, NONE, c_neigh_unchanged, BOTH },
	{ "arp_sha_zero", p_count_neigh, f_arp_sha_zero, { D(ARP_INVALID_SHA, 1) }, { { 0 } }, NONE, c_neigh_unchanged, BOTH },
	{ "arp_sip_broadcast", p_count_neigh, f_arp_sip_bcast, { D(ARP_INVALID_SIP, 1) }, { { 0 } }, NONE, c_neigh_unchanged, BOTH },
	{ "arp_sip_subnet_broadcast", p_count_neigh, f_arp_sip_subnet_bcast, { D(ARP_INVALID_SIP, 1) }, { { 0 } }, NONE,
	  c_neigh_unchanged, BOTH },
	{ "arp_sip_ours", p_count_neigh, f_arp_sip_ours, { D(ARP_INVALID_SIP, 1) }, { { 0 } }, NONE, c_neigh_unchanged, BOTH },
	{ "arp_unsolicited_reply", p_count_neigh, f_arp_unsolicited, { D(ARP_UNSOLICITED, 1) }, { { 0 } }, NONE,
	  c_neigh_unchanged, BOTH },
	{ "arp_request_not_for_us", p_count_neigh, f_arp_not_for_us, { D(ARP_NOT_FOR_US, 1) }, { { 0 } }, NONE,
	  c_neigh_unchanged, BOTH },
	{ "arp_probe_sip_zero", p_count_neigh, f_arp_probe, { { 0 } }, { { 0 } }, { RP_ARP, 0, 0 }, c_neigh_unchanged, BOTH },
	{ "arp_flood_table_bounded", p_count_neigh, f_arp_flood, { { 0 } }, { { 0 } }, ANY, c_neigh_bounded, BOTH },
	/* IPv4 header */
	{ "ip_version_6", NULL, f_ip_version6, { D(IP_INHDR, 1) }, { M(IpInHdrErrors, 1) }, NONE, NULL, BOTH },
	{ "ip_ihl_4", NULL, f_ip_ihl4, { D(IP_INHDR, 1) }, { M(IpInHdrErrors, 1) }, NONE, NULL, BOTH },
	{ "ip_ihl_past_frame", NULL, f_ip_ihl_past_frame, { D(IP_INHDR, 1) }, { M(IpInHdrErrors, 1) }, NONE, NULL, BOTH },
	{ "ip_ihl_past_tot_len", NULL, f_ip_ihl_past_totlen, { D(IP_INHDR, 1) }, { M(IpInHdrErrors, 1) }, NONE, NULL, BOTH },
	{ "ip_tot_len_past_frame", NULL, f_ip_totlen_past_frame, { D(PKT_TOO_SMALL, 1) }, { M(IpExtInTruncatedPkts, 1) },
	  NONE, NULL, BOTH },
	{ "ip_tot_len_below_ihl", NULL, f_ip_totlen_below_ihl, { D(IP_INHDR, 1) }, { M(IpInHdrErrors, 1) }, NONE, NULL, BOTH },
	{ "ip_tot_len_short_of_frame", NULL, f_ip_totlen_short_of_frame, { D(ICMP_CSUM, 1) },
	  { M(IcmpInCsumErrors, 1), M(IcmpInErrors, 1) }, NONE, NULL, BOTH },
	{ "ip_header_truncated", NULL, f_ip_truncated_hdr, { D(IP_INHDR, 1) }, { M(IpInHdrErrors, 1) }, NONE, NULL, BOTH },
	{ "ip_bad_checksum", NULL, f_ip_bad_csum, { D(IP_CSUM, 1) }, { M(IpExtInCsumErrors, 1), M(IpInHdrErrors, 1) },
	  NONE, NULL, BOTH },
	{ "ip_option_len_0", NULL, f_ip_opt_len0, { D(IP_INHDR, 1) }, { M(IpInHdrErrors, 1) }, NONE, NULL, BOTH },
	{ "ip_option_len_1", NULL, f_ip_opt_len1, { D(IP_INHDR, 1) }, { M(IpInHdrErrors, 1) }, NONE, NULL, BOTH },
	{ "ip_option_past_header", NULL, f_ip_opt_past, { D(IP_INHDR, 1) }, { M(IpInHdrErrors, 1) }, NONE, NULL, BOTH },
	{ "ip_lsrr_refused", NULL, f_ip_lsrr, { D(IP_INHDR, 1) }, { M(IpInHdrErrors, 0) }, NONE, NULL, BOTH },
	{ "ip_ssrr_refused", NULL, f_ip_ssrr, { D(IP_INHDR, 1) }, { M(IpInHdrErrors, 0) }, NONE, NULL, BOTH },
	{ "ip_options_nop_ok", NULL, f_ip_opt_nops, { { 0 } }, { M(IcmpOutEchoReps, 1) }, { RP_ECHO, 0, 0 }, NULL, BOTH },
	{ "martian_src_loopback", NULL, f_martian_loopback, { D(IP_INVALID_SOURCE, 1) }, { M(IpExtInMartians, 1) }, NONE,
	  NULL, BOTH },
	{ "martian_src_multicast", NULL, f_martian_multicast, { D(IP_INVALID_SOURCE, 1) }, { M(IpExtInMartians, 1) },
	  NONE, NULL, BOTH },
	{ "martian_src_zero", NULL, f_martian_zero, { D(IP_INVALID_SOURCE, 1) }, { M(IpExtInMartians, 1) }, NONE, NULL, BOTH },
	{ "martian_src_class_e", NULL, f_martian_class_e, { D(IP_INVALID_SOURCE, 1) }, { M(IpExtInMartians, 1) }, NONE,
	  NULL, BOTH },
	{ "land_icmp_src_eq_dst_ours", NULL, f_land_icmp, { D(IP_LOCAL_SOURCE, 1) }, { M(IpExtInMartians, 1) }, NONE, NULL, BOTH },
	{ "land_tcp_syn", NULL, f_land_syn, { D(IP_LOCAL_SOURCE, 1) }, { M(TcpPassiveOpens, 0) }, NONE, NULL, BOTH },
	{ "dst_not_ours_no_forwarding", NULL, f_dst_not_ours, { D(IP_INADDRERRORS, 1) }, { M(IpInAddrErrors, 1) }, NONE,
	  NULL, BOTH },
	/* fragments */
	{ "frag_ping_of_death", NULL, f_ping_of_death, { D(PKT_TOO_BIG, 2) }, { M(IpReasmFails, 1), M(IpInDelivers, 0) },
	  NONE, NULL, BOTH },
	{ "frag_teardrop", NULL, f_teardrop, { D(IP_FRAG_OVERLAP, 2) },
	  { M(IpExtReasmOverlaps, 1), M(IpReasmOKs, 0), M(IpInDelivers, 0) }, NONE, NULL, BOTH },
	{ "frag_partial_overlap", NULL, f_frag_partial_overlap, { D(IP_FRAG_OVERLAP, 2) },
	  { M(IpExtReasmOverlaps, 1), M(IpReasmOKs, 0) }, NONE, NULL, BOTH },
	{ "frag_duplicate_then_complete", NULL, f_frag_duplicate, { D(DUP_FRAG, 1) }, { M(IpReasmOKs, 1) },
	  { RP_ECHO, 0, 0 }, NULL, BOTH },
	{ "frag_zero_length", NULL, f_frag_zero_len, { D(IP_FRAG_INVALID, 2) }, { M(IpReasmFails, 1) }, NONE, NULL, BOTH },
	{ "frag_not_multiple_of_8", NULL, f_frag_not_mult8, { { 0 } }, { M(IpReasmOKs, 0), M(IpReasmReqds, 2) }, NONE,
	  NULL, BOTH },
	{ "frag_conflicting_last", NULL, f_frag_conflicting_last, { D(IP_FRAG_INVALID, 2) }, { M(IpReasmFails, 1) }, NONE,
	  NULL, BOTH },
	{ "frag_last_ends_before_data", NULL, f_frag_last_before_data, { D(IP_FRAG_INVALID, 2) }, { M(IpReasmFails, 1) },
	  NONE, NULL, BOTH },
	{ "frag_middle_first_order", NULL, f_frag_middle_first, { { 0 } }, { M(IpReasmOKs, 1), M(IpReasmReqds, 3) },
	  { RP_ECHO, 0, 0 }, NULL, BOTH },
	{ "frag_tiny_flood_timeout", NULL, f_frag_tiny_flood, { { 0 } }, { M(IpReasmReqds, 1000), M(IpReasmOKs, 0) }, ANY,
	  NULL, BOTH },
	{ "frag_too_many_in_queue", NULL, f_frag_too_many, { D(IP_FRAG_TOO_MANY, ANYN) }, { M(IpReasmOKs, 0) }, NONE, NULL, BOTH },
	{ "ipip_broken_inner_noproto", NULL, f_ipip_broken, { D(IP_NOPROTO, 1) },
	  { M(IpInUnknownProtos, 1), M(IcmpOutDestUnreachs, 1) }, ICMPR(ICMP_DEST_UNREACH, ICMP_PROT_UNREACH), NULL, BOTH },
	/* ICMP */
	{ "icmp_shorter_than_8", NULL, f_icmp_short, { D(ICMP_TRUNCATED, 1) }, { M(IcmpInErrors, 1) }, NONE, NULL, BOTH },
	{ "icmp_bad_checksum", NULL, f_icmp_bad_csum, { D(ICMP_CSUM, 1) }, { M(IcmpInCsumErrors, 1) }, NONE, NULL, BOTH },
	{ "icmp_error_quote_truncated", NULL, f_icmp_err_trunc_quote, { D(ICMP_TRUNCATED, 1) }, { M(IcmpInErrors, 1) },
	  NONE, NULL, BOTH },
	{ "icmp_error_quote_no_l4", NULL, f_icmp_err_quote_no_l4, { D(ICMP_TRUNCATED, 1) }, { M(IcmpInErrors, 1) }, NONE,
	  NULL, BOTH },
	{ "icmp_frag_needed_mtu_below_68", NULL, f_icmp_frag_needed_small, { D(NOT_SPECIFIED, 1) }, { M(IcmpInErrors, 1) },
	  NONE, NULL, BOTH },
	{ "icmp_redirect_not_from_gateway", p_route, f_icmp_redirect, { { 0 } }, { M(IcmpInRedirects, 1) }, NONE,
	  c_route_unchanged, BOTH },
	{ "icmp_unknown_type", NULL, f_icmp_type_unknown, { D(ICMP_UNHANDLED, 1) }, { M(IcmpInErrors, 1) }, NONE, NULL, BOTH },
	{ "icmp_echo_to_broadcast", NULL, f_icmp_bcast_echo, { D(ICMP_BROADCAST_ECHO, 1) }, { M(IcmpOutEchoReps, 0) }, NONE,
	  NULL, BOTH },
	/* UDP */
	{ "udp_length_below_8", NULL, f_udp_len_below8, { D(UDP_BAD_LEN, 1) }, { M(UdpInErrors, 1) }, NONE, NULL, BOTH },
	{ "udp_length_past_payload", NULL, f_udp_len_past, { D(UDP_BAD_LEN, 1) }, { M(UdpInErrors, 1) }, NONE, NULL, BOTH },
	{ "udp_bad_checksum", NULL, f_udp_bad_csum, { D(UDP_CSUM, 1) }, { M(UdpInCsumErrors, 1), M(UdpInErrors, 1) }, NONE,
	  NULL, BOTH },
	{ "udp_header_truncated", NULL, f_udp_truncated, { D(UDP_BAD_LEN, 1) }, { M(UdpInErrors, 1) }, NONE, NULL, BOTH },
	{ "udp_no_port_unreachable", NULL, f_udp_no_port, { D(NO_SOCKET, 1) }, { M(UdpNoPorts, 1) },
	  ICMPR(ICMP_DEST_UNREACH, ICMP_PORT_UNREACH), NULL, BOTH },
	/* TCP header and options (to the echo listener) */
	{ "tcp_doff_below_5", NULL, f_tcp_doff4, { D(TCP_HDR, 1) }, { M(TcpInErrs, 1) }, NONE, NULL, BOTH },
	{ "tcp_doff_past_segment", NULL, f_tcp_doff_past, { D(TCP_HDR, 1) }, { M(TcpInErrs, 1) }, NONE, NULL, BOTH },
	{ "tcp_header_truncated", NULL, f_tcp_truncated, { D(TCP_HDR, 1) }, { M(TcpInErrs, 1) }, NONE, NULL, BOTH },
	{ "tcp_bad_checksum", NULL, f_tcp_bad_csum, { D(TCP_CSUM, 1) }, { M(TcpInCsumErrors, 1), M(TcpInErrs, 1) }, NONE,
	  NULL, BOTH },
	{ "tcp_option_len_0_ignored", NULL, f_tcp_opt_len0, { { 0 } }, { { 0 } }, TCPR(TCPF_SYN | A, 0xff), c_synack_sane, BOTH },
	{ "tcp_option_len_1_ignored", NULL, f_tcp_opt_len1, { { 0 } }, { { 0 } }, TCPR(TCPF_SYN | A, 0xff), c_synack_sane, BOTH },
	{ "tcp_option_past_header", NULL, f_tcp_opt_past, { { 0 } }, { { 0 } }, TCPR(TCPF_SYN | A, 0xff), c_synack_sane, BOTH },
	{ "tcp_mss_0", NULL, f_tcp_mss0, { { 0 } }, { { 0 } }, TCPR(TCPF_SYN | A, 0xff), c_synack_sane, BOTH },
	{ "tcp_mss_length_3", NULL, f_tcp_mss_len3, { { 0 } }, { { 0 } }, TCPR(TCPF_SYN | A, 0xff), c_synack_sane, BOTH },
	{ "tcp_wscale_15_clamped", NULL, f_tcp_wscale15, { { 0 } }, { { 0 } }, TCPR(TCPF_SYN | A, 0xff), c_synack_sane, BOTH },
	{ "tcp_sack_bad_length", NULL, f_tcp_sack_bad_len, { { 0 } }, { { 0 } }, TCPR(TCPF_SYN | A, 0xff), c_synack_sane, BOTH },
	{ "tcp_syn_fin", NULL, f_tcp_syn_fin, { D(TCP_FLAGS, 1) }, { M(TcpPassiveOpens, 0) }, NONE, NULL, BOTH },
	{ "tcp_syn_rst", NULL, f_tcp_syn_rst, { D(TCP_FLAGS, 1) }, { { 0 } }, NONE, NULL, BOTH },
	{ "tcp_no_flags", NULL, f_tcp_no_flags, { D(TCP_FLAGS, 1) }, { { 0 } }, NONE, NULL, BOTH },
	{ "tcp_all_flags", NULL, f_tcp_all_flags, { D(TCP_FLAGS, 1) }, { { 0 } }, NONE, NULL, BOTH },
	{ "tcp_ack_to_listener", NULL, f_tcp_ack_to_listener, { D(TCP_LISTEN_NOSYN, ANYN) }, { M(TcpOutRsts, 1) }, RST_R,
	  NULL, BOTH },
	{ "tcp_rst_to_listener", NULL, f_tcp_rst_to_listener, { { 0 } }, { M(TcpOutRsts, 0) }, NONE, NULL, BOTH },
	{ "tcp_syn_closed_port", NULL, f_tcp_closed_port, { D(NO_SOCKET, 1) }, { M(TcpOutRsts, 1) }, TCPR(TCPF_RST | A, 0xff),
	  NULL, BOTH },
	/* TCP on an established connection */
	{ "tcp_rst_in_window_challenge", tcp_estab, f_est_rst_inwindow, { D(TCP_RESET, 1) }, { M(TcpExtTCPChallengeACK, 1) },
	  CHALLENGE, assert_estab, BOTH },
	{ "tcp_rst_outside_window", tcp_estab, f_est_rst_outside, { D(TCP_INVALID_SEQUENCE, 1) }, { M(TcpExtTCPChallengeACK, 0) }, NONE,
	  assert_estab, BOTH },
	{ "tcp_rst_exact_resets", tcp_estab, f_est_rst_exact, { { 0 } }, { M(TcpEstabResets, 1) }, NONE, c_reset, BOTH },
	{ "tcp_syn_in_window_challenge", tcp_estab, f_est_syn_inwindow, { D(TCP_INVALID_SYN, 1) },
	  { M(TcpExtTCPSYNChallenge, 1), M(TcpExtTCPChallengeACK, 1) }, CHALLENGE, assert_estab, BOTH },
	{ "tcp_ack_for_unsent_data", tcp_estab, f_est_ack_unsent, { D(TCP_ACK_UNSENT_DATA, 1) }, { { 0 } }, ANY,
	  assert_estab, BOTH },
	{ "tcp_ack_too_old", tcp_estab, f_est_ack_too_old, { D(TCP_TOO_OLD_ACK, 1) }, { { 0 } }, ANY, assert_estab, BOTH },
	{ "tcp_data_outside_window", tcp_estab, f_est_data_outside, { D(TCP_INVALID_SEQUENCE, 1) }, { { 0 } }, CHALLENGE,
	  assert_estab, BOTH },
	{ "tcp_data_old_duplicate", tcp_estab, f_est_data_old, { D(TCP_OLD_SEQUENCE, 1) }, { { 0 } }, CHALLENGE,
	  assert_estab, BOTH },
	{ "tcp_no_ack_when_synchronized", tcp_estab, f_est_no_ack, { D(TCP_FLAGS, 1) }, { { 0 } }, NONE, assert_estab, BOTH },
	{ "tcp_wscale_on_non_syn_ignored", tcp_estab, f_est_wscale_nonsyn, { { 0 } }, { { 0 } }, NONE, assert_estab, BOTH },
	{ "tcp_sack_blocks_outside_window", tcp_estab, f_est_sack_outside, { { 0 } }, { { 0 } }, NONE, assert_estab, BOTH },
	{ "tcp_sack_block_reversed", tcp_estab, f_est_sack_reversed, { { 0 } }, { { 0 } }, NONE, assert_estab, BOTH },
	{ "tcp_urgent_pointer_past_data", tcp_estab, f_est_urg_far, { { 0 } }, { { 0 } }, ANY, c_data10, BOTH },
	{ "tcp_urgent_flag_no_data", tcp_estab, f_est_urg_zero_nodata, { { 0 } }, { { 0 } }, NONE, assert_estab, BOTH },
	{ "tcp_sequence_wraparound", p_estab_wrap, f_est_seq_wrap, { { 0 } }, { { 0 } }, ANY, c_wrap, BOTH },
};
#define NCASES (sizeof(cases) / sizeof(cases[0]))

/* ---- reply predicates and the health check ------------------------------------------ */

/* Parses captured frame i as IPv4 from us to the peer; NULL if it is not. */
static const uint8_t *cap_ip(struct env *e, int i, struct ipv4_repr *ip)
{
	struct eth_repr eth;
	const uint8_t *f = e->cap->frame[i];
	size_t len = e->cap->len[i];
	if (eth_parse(f, len, &eth) < 0 || eth.ethertype != ETH_P_IP)
		return NULL;
	if (ipv4_parse(f + ETH_HLEN, len - ETH_HLEN, ip) < 0)
		return NULL;
	assert_true(ipv4_csum_ok(f + ETH_HLEN, ip->ihl));
	return f + ETH_HLEN + ip->ihl;
}

static int reply_matches(struct env *e, int i, const struct reply *r)
{
	struct ipv4_repr ip;
	const uint8_t *l4;
	switch (r->kind) {
	case RP_ARP: {
		struct eth_repr eth;
		struct arp_repr a;
		return eth_parse(e->cap->frame[i], e->cap->len[i], &eth) == 0 && eth.ethertype == ETH_P_ARP &&
		       arp_parse(e->cap->frame[i] + ETH_HLEN, e->cap->len[i] - ETH_HLEN, &a) == 0 && a.op == ARPOP_REPLY;
	}
	case RP_ICMP:
	case RP_ECHO: {
		struct icmp_repr ic;
		if (!(l4 = cap_ip(e, i, &ip)) || ip.protocol != IPPROTO_ICMP_)
			return 0;
		if (icmp_parse(l4, ip.tot_len - ip.ihl, &ic) < 0)
			return 0;
		if (r->kind == RP_ECHO)
			return ic.type == ICMP_ECHOREPLY;
		return ic.type == r->a && ic.code == r->b;
	}
	case RP_TCP: {
		struct tcp_repr th;
		if (!(l4 = cap_ip(e, i, &ip)) || ip.protocol != IPPROTO_TCP_)
			return 0;
		assert_true(tcp_csum_ok(l4, ip.tot_len - ip.ihl, ip.saddr, ip.daddr));
		if (tcp_parse(l4, ip.tot_len - ip.ihl, &th) < 0)
			return 0;
		return (th.flags & r->b) == r->a;
	}
	default:
		return 0;
	}
}

static void check_reply(struct rctx *x)
{
	struct env *e = x->e;
	const struct reply *r = &x->c->reply;
	if (r->kind == RP_ANY)
		return;
	if (r->kind == RP_NONE) {
		if (e->cap->n)
			fail_msg("%s: expected no reply, %d frame(s) sent", x->c->name, e->cap->n);
		return;
	}
	int hits = 0;
	for (int i = 0; i < e->cap->n; i++)
		hits += reply_matches(e, i, r);
	if (hits != 1)
		fail_msg("%s: expected exactly one matching reply, got %d among %d frame(s)", x->c->name, hits, e->cap->n);
}

/* The stack answers a ping (exactly one echo reply with our payload). */
static void health_ping(struct rctx *x)
{
	struct env *e = x->e;
	uint8_t l4[128], f[256];
	size_t l = echo_req(l4, (uint16_t)(x->ipid + 1), 40);
	size_t n = ip_frame(x, f, &(struct ipp){ .proto = IPPROTO_ICMP_, .l4 = l4, .l4len = l });
	cap_clear(e->cap);
	inject_frame(e, f, n);
	int replies = 0;
	for (int i = 0; i < e->cap->n; i++) {
		struct ipv4_repr ip;
		struct icmp_repr ic;
		const uint8_t *p = cap_ip(e, i, &ip);
		if (p && ip.protocol == IPPROTO_ICMP_ && icmp_parse(p, ip.tot_len - ip.ihl, &ic) == 0 &&
		    ic.type == ICMP_ECHOREPLY && ic.payload_len == 40 && memcmp(ic.payload, l4 + ICMP_HLEN, 40) == 0 &&
		    ip.daddr == PEER_IP)
			replies++;
	}
	if (replies != 1)
		fail_msg("after %s: ping got %d replies", x->c ? x->c->name : "setup", replies);
	cap_clear(e->cap);
}

/* A fresh connection to the echo listener carries 16 bytes there and back, then the peer resets it. */
static void health_tcp_echo(struct rctx *x)
{
	struct env *e = x->e;
	uint16_t port = x->hport++;
	const char *msg = "netpath-echo-chk";
	cap_clear(e->cap);
	inject(e, &(struct seg){ .flags = TCPF_SYN, .seq = 500, .win = 65535, .mss = 1460, .sport = port,
				 .dport = ECHO_PORT });
	struct outseg o = next_out(e);
	if (o.th.flags != (TCPF_SYN | A) || o.th.ack != 501)
		fail_msg("after %s: SYN to the echo port got %s ack %u", x->c ? x->c->name : "setup", flagstr(o.th.flags),
			 o.th.ack);
	uint32_t iss = o.th.seq;
	inject(e, &(struct seg){ .flags = A, .seq = 501, .ack = iss + 1, .win = 65535, .sport = port, .dport = ECHO_PORT });
	inject(e, &(struct seg){ .flags = A | TCPF_PSH, .seq = 501, .ack = iss + 1, .win = 65535, .len = 16, .data = msg,
				 .sport = port, .dport = ECHO_PORT });
	int fd = np_accept(x->lfd, NULL, NULL);
	assert_true(fd >= 0);
	char b[64];
	assert_int_equal(np_recv(fd, b, sizeof(b), MSG_DONTWAIT), 16);
	assert_memory_equal(b, msg, 16);
	assert_int_equal(np_send(fd, b, 16, MSG_DONTWAIT), 16);
	settle(e);
	int echoed = 0;
	for (int i = e->cap->next; i < e->cap->n; i++) {
		struct ipv4_repr ip;
		struct tcp_repr th;
		const uint8_t *p = cap_ip(e, i, &ip);
		if (p && ip.protocol == IPPROTO_TCP_ && tcp_parse(p, ip.tot_len - ip.ihl, &th) == 0 && th.dport == port &&
		    th.payload_len == 16 && memcmp(th.payload, msg, 16) == 0 && th.seq == iss + 1 && th.ack == 517)
			echoed++;
	}
	if (echoed != 1)
		fail_msg("after %s: TCP echo came back %d times", x->c ? x->c->name : "setup", echoed);
	inject(e, &(struct seg){ .flags = TCPF_RST, .seq = 517, .sport = port, .dport = ECHO_PORT });
	np_close(fd);
	cap_clear(e->cap);
}

/* ---- running a case ------------------------------------------------------------------ */

static int use_tap;   /* 1: every stack's device is the TAP (tap_wire.h) */

static void run_case(struct rctx *x, const struct rcase *c)
{
	struct env *e = x->e;
	uint64_t d0[NP_DROP_MAX], m0[NP_MIB_MAX];
	x->c = c;
	x->cfd = -1;
	x->cport = 0;
	x->pisn = 0;
	if (c->prep)
		c->prep(x);
	for (int i = 0; i < NP_DROP_MAX; i++)
		d0[i] = drops(e, (enum np_drop_reason)i);
	for (int i = 0; i < NP_MIB_MAX; i++)
		m0[i] = mib(e, (enum np_mib_field)i);
	cap_clear(e->cap);
	c->frames(x);
	for (int k = 0; k < 4 && c->drops[k].reason; k++) {
		const struct dexp *d = &c->drops[k];
		uint64_t got = drops(e, (enum np_drop_reason)d->reason) - d0[d->reason];
		if (d->n == ANYN ? got == 0 : got != (uint64_t)d->n) {
			fprintf(stderr, "%s: drops so far:", c->name);
			for (int i = 1; i < NP_DROP_MAX; i++)
				if (drops(e, (enum np_drop_reason)i) != d0[i])
					fprintf(stderr, " %s+%llu", np_drop_reason_name(i),
						(unsigned long long)(drops(e, (enum np_drop_reason)i) - d0[i]));
			fprintf(stderr, "\n");
			fail_msg("%s: drop %s moved by %llu, expected %d", c->name, np_drop_reason_name(d->reason),
				 (unsigned long long)got, d->n);
		}
	}
	for (int k = 0; k < 4 && c->mibs[k].field1; k++) {
		int f = c->mibs[k].field1 - 1;
		uint64_t got = mib(e, (enum np_mib_field)f) - m0[f];
		if (got != (uint64_t)c->mibs[k].n)
			fail_msg("%s: %s moved by %llu, expected %d", c->name, np_mib_name(f), (unsigned long long)got,
				 c->mibs[k].n);
	}
	check_reply(x);
	if (c->check)
		c->check(x);
	if (x->cfd >= 0) {
		/* An abortive close (RST): nothing of this connection lingers into the next case. */
		struct linger lg = { .l_onoff = 1, .l_linger = 0 };
		np_setsockopt(x->cfd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		np_close(x->cfd);
		x->cfd = -1;
	}
	cap_clear(e->cap);
	health_ping(x);
	health_tcp_echo(x);
}

static int rsetup(void **state)
{
	const struct rcase *c = *state;
	struct rctx *x = calloc(1, sizeof(*x));
	void *st = NULL;
	if (use_tap)
		st = env_new(&tap_wire);
	else
		setup(&st);
	x->e = st;
	x->c = c;
	x->hport = 30000;
	/* A /16 so the ARP flood's senders are on-link. */
	assert_int_equal(inet_addr_del(x->e->dev, OUR_IP, 24), 0);
	assert_int_equal(inet_addr_add(x->e->dev, OUR_IP, 16), 0);
	x->lfd = np_socket(x->e->s, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	assert_true(x->lfd >= 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(ECHO_PORT) };
	assert_int_equal(np_bind(x->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(np_listen(x->lfd, 64), 0);
	script_port = ECHO_PORT;
	*state = x;
	return 0;
}

static int rteardown(void **state)
{
	struct rctx *x = *state;
	void *st = x->e;
	np_close(x->lfd);
	teardown(&st);
	free(x);
	return 0;
}

static void test_case(void **state)
{
	struct rctx *x = *state;
	health_ping(x);
	run_case(x, x->c);
}

/* Every case in a row on one stack (state one case leaves must not hurt the next). */
static void test_all_on_one_stack(void **state)
{
	struct rctx *x = *state;
	for (size_t i = 0; i < NCASES; i++) {
		if (use_tap && cases[i].inproc_only)
			continue;
		/* Past the ICMP error rate limit (icmp_ratelimit, 1 s per peer) the previous case used up. */
		at(x->e, now_ms(x->e) + 2000);
		run_case(x, &cases[i]);
	}
}

/* Prints which cases go through the TAP and which stay in-process (and why). */
static void print_tap_plan(void)
{
	int via = 0, inproc = 0;
	for (size_t i = 0; i < NCASES; i++) {
		if (cases[i].inproc_only)
			inproc++;
		else
			via++;
	}
	printf("%d cases via TAP, %d in-process only", via, inproc);
	const char *sep = ": ";
	for (size_t i = 0; i < NCASES; i++)
		if (cases[i].inproc_only) {
			printf("%s%s (%s)", sep, cases[i].name, cases[i].inproc_only);
			sep = ", ";
		}
	printf("\n");
	fflush(stdout);
}

/*
 * Usage: test_robustness [--tap IFNAME]   (or NP_ROBUST_TAP=IFNAME)
 * Without it, every case goes in through netif_receive_skb on a capture
 * device; with it, through the TAP IFNAME (created if missing), and a TAP
 * that cannot be set up is a failure, never a skip.
 */
int main(int argc, char **argv)
{
	const char *tap = getenv("NP_ROBUST_TAP");
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--tap") == 0 && i + 1 < argc)
			tap = argv[++i];
		else {
			fprintf(stderr, "usage: %s [--tap IFNAME]   (or NP_ROBUST_TAP=IFNAME)\n", argv[0]);
			return 2;
		}
	}
	if (tap && tap[0]) {
		char why[256];
		if (tap_link_open(tap, why, sizeof(why)) < 0) {
			fprintf(stderr, "FAIL: test_robustness via TAP cannot run: %s\n", why);
			return 1;
		}
		use_tap = 1;
		print_tap_plan();
	}
	struct CMUnitTest *t = calloc(NCASES + 1, sizeof(*t));
	size_t n = 0;
	for (size_t i = 0; i < NCASES; i++) {
		if (use_tap && cases[i].inproc_only)
			continue;
		t[n++] = (struct CMUnitTest){ .name = cases[i].name, .test_func = test_case, .setup_func = rsetup,
					      .teardown_func = rteardown, .initial_state = (void *)&cases[i] };
	}
	t[n++] = (struct CMUnitTest){ .name = "all_cases_on_one_stack", .test_func = test_all_on_one_stack,
				      .setup_func = rsetup, .teardown_func = rteardown, .initial_state = NULL };
	int r = _cmocka_run_group_tests(use_tap ? "robustness-tap" : "robustness", t, n, NULL, NULL);
	free(t);
	if (use_tap && tap_link.stale)
		printf("(%llu frames of earlier stacks were ignored on %s)\n", (unsigned long long)tap_link.stale, tap);
	return r;
}
