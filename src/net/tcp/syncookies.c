/*
 * SYN cookies (RFC 4987 3.6; Linux's net/ipv4/syncookies.c): when a
 * listener's SYN queue is full, the SYN-ACK's sequence number carries the
 * state the queue would have held, so a SYN flood costs no memory.
 * Place in the packet path:
 *   send:    tcp_v4_rcv -> tcp_v4_do_rcv -> tcp_rcv_state_process (LISTEN)
 *            -> tcp_conn_request (queue full, or tcp_syncookies = 2)
 *            -> cookie_v4_send_synack -> ip_build_and_send_pkt
 *   receive: tcp_v4_rcv -> tcp_v4_do_rcv (listener, ACK without SYN)
 *            -> cookie_v4_check -> tcp_openreq_child -> tcp_v4_do_rcv(child)
 *            -> tcp_rcv_state_process (SYN_RECV -> ESTABLISHED, accept queue)
 *
 * The cookie, as Linux builds it (Bernstein's scheme, RFC 4987 3.6):
 *   cookie = H1(tuple) + ISN_peer + (count << 24)
 *          + ((H2(tuple, count) + mssind) mod 2^24)
 * H1, H2 are SipHash under the stack's secret (a different key per stack),
 * count is a 60 s clock (Linux's TCP_SYNCOOKIE_PERIOD) and mssind indexes a
 * small MSS table. The returning ACK is valid when ACK - 1 gives back a count
 * at most one period old and an index inside the table.
 * Window scaling (RFC 7323): the cookie has no room for the shifts, and
 * Linux keeps them only in the low bits of the timestamp option, which
 * netpath does not send. So a cookie SYN-ACK offers no WS option and a
 * connection built from a cookie is unscaled both ways (windows <= 64 KiB),
 * as it is in Linux without timestamps. When timestamps arrive, encode
 * wscale/SACK/ECN in TSval as Linux's cookie_init_timestamp does.
 */
#include <string.h>

#include "core/hash.h"
#include "core/stack.h"
#include "net/ipv4/ip.h"
#include "net/tcp/tcp.h"
#include "trace/trace.h"
#include "wire/ipv4.h"
#include "wire/tcp.h"

#define COOKIEBITS 24
#define COOKIEMASK ((1u << COOKIEBITS) - 1)
#define TCP_SYNCOOKIE_PERIOD_NS (60ull * NSEC_PER_SEC)
/* A cookie is accepted in the period it was made and the next one (Linux's MAX_SYNCOOKIE_AGE). */
#define MAX_SYNCOOKIE_AGE 2
/* How long after the last cookie an ACK to a listener is still checked as one (Linux's TCP_SYNCOOKIE_VALID). */
#define TCP_SYNCOOKIE_VALID_S (MAX_SYNCOOKIE_AGE * 60u)
/* Hash domain tags (tcp_ipv4.c uses 0x11..0x14, UDP 1..5). */
enum { TCP_H_COOKIE1 = 0x15, TCP_H_COOKIE2 = 0x16 };

/* The MSS values a cookie can carry (Linux's msstab for IPv4): common path MTUs minus 40. */
static const uint16_t msstab[] = { 536, 1300, 1440, 1460 };
#define MSSTAB_N (sizeof(msstab) / sizeof(msstab[0]))

static uint32_t cookie_time(const struct np_stack *s) { return (uint32_t)(np_stack_now(s) / TCP_SYNCOOKIE_PERIOD_NS); }

/* saddr/sport: the peer; daddr/dport: us. */
static uint32_t cookie_hash(const struct np_stack *s, uint32_t saddr, uint32_t daddr, uint16_t sport, uint16_t dport,
			    uint32_t count, unsigned c)
{
	return (uint32_t)np_siphash_2u64(s, hash_addr_port(saddr, sport, c ? TCP_H_COOKIE2 : TCP_H_COOKIE1),
					 hash_addr_port(daddr, dport, count & 0xffff));
}

/* The table index for a peer's MSS: the largest entry not above it (536 when it is below them all). */
static unsigned cookie_mssind(uint16_t mss)
{
	unsigned i;
	for (i = MSSTAB_N - 1; i; i--)
		if (mss >= msstab[i])
			break;
	return i;
}

uint16_t cookie_mss_round(uint16_t mss) { return msstab[cookie_mssind(mss)]; }

uint32_t cookie_v4_init_sequence(struct np_stack *s, uint32_t saddr, uint32_t daddr, uint16_t sport, uint16_t dport,
				 uint32_t peer_isn, unsigned mssind)
{
	uint32_t count = cookie_time(s);
	return cookie_hash(s, saddr, daddr, sport, dport, 0, 0) + peer_isn + (count << COOKIEBITS) +
	       ((cookie_hash(s, saddr, daddr, sport, dport, count, 1) + mssind) & COOKIEMASK);
}

/* The MSS index the cookie carries, or -1 if it is forged or older than MAX_SYNCOOKIE_AGE periods. */
static int cookie_v4_decode(struct np_stack *s, uint32_t saddr, uint32_t daddr, uint16_t sport, uint16_t dport,
			    uint32_t peer_isn, uint32_t cookie)
{
	uint32_t count = cookie_time(s);
	cookie -= cookie_hash(s, saddr, daddr, sport, dport, 0, 0) + peer_isn;
	/* The top 8 bits are the count the cookie was made in (mod 256). */
	uint32_t diff = (count - (cookie >> COOKIEBITS)) & ((uint32_t)-1 >> COOKIEBITS);
	if (diff >= MAX_SYNCOOKIE_AGE)
		return -1;
	uint32_t mssind = (cookie - cookie_hash(s, saddr, daddr, sport, dport, count - diff, 1)) & COOKIEMASK;
	return mssind < MSSTAB_N ? (int)mssind : -1;
}

/* Linux's tcp_synq_overflow / tcp_synq_no_recent_overflow, in seconds (+1 so that 0 means never). */
static uint32_t synq_now_s(const struct np_stack *s) { return (uint32_t)(np_stack_now(s) / NSEC_PER_SEC) + 1; }

static int tcp_synq_no_recent_overflow(const struct sock *sk)
{
	uint32_t last = tcp_sk(sk)->lq->last_synq_overflow;   /* sk listens */
	return !last || (int32_t)(synq_now_s(sk->stack) - (last + TCP_SYNCOOKIE_VALID_S)) > 0;
}

/*
 * The SYN-ACK of a cookie: built from the SYN and the listener alone, sent
 * once (no retransmission: there is nothing to retransmit from), and the
 * only allocation is the skb itself.
 */
int cookie_v4_send_synack(struct sock *sk, const struct sk_buff *syn, const struct tcp_repr *th,
			  const struct rtable *rt)
{
	struct np_stack *s = sk->stack;
	struct tcp_sock *lp = tcp_sk(sk);
	const struct tcp_skb_cb *tcb = TCP_SKB_CB(syn);

	/* RFC 9293 3.7.1: the peer's MSS (536 without the option), lowered by TCP_MAXSEG as Linux does. */
	uint16_t peer_mss = th->opt.mss_ok && th->opt.mss ? th->opt.mss : TCP_MSS_DEFAULT;
	if (lp->user_mss && lp->user_mss < peer_mss)
		peer_mss = lp->user_mss;
	unsigned mssind = cookie_mssind(peer_mss);
	uint32_t cookie = cookie_v4_init_sequence(s, tcb->header.saddr, tcb->header.daddr, th->sport, th->dport,
						  tcb->seq, mssind);

	/* What the child would announce: the route's MTU less the headers, and its first window. */
	uint32_t mtu = rt->rt_mtu ? rt->rt_mtu : (rt->dev ? rt->dev->mtu : 1500);
	if (mtu > 65535)
		mtu = 65535;
	unsigned advmss = mtu - IPV4_HLEN_MIN - TCP_HLEN_MIN;
	if (lp->user_mss && advmss > lp->user_mss)
		advmss = lp->user_mss;
	uint32_t win = tcp_initial_rcv_wnd(sk, advmss);

	struct tcp_repr r;
	memset(&r, 0, sizeof(r));
	r.sport = th->dport;
	r.dport = th->sport;
	r.seq = cookie;
	r.ack = tcb->seq + 1;
	r.flags = TCPF_SYN | TCPF_ACK;
	r.window = (uint16_t)(win > TCP_MAX_WINDOW ? TCP_MAX_WINDOW : win);
	r.opt.mss_ok = 1;
	r.opt.mss = (uint16_t)advmss;
	size_t hlen = TCP_HLEN_MIN + tcp_options_len(&r.opt);

	struct sk_buff *skb = alloc_skb(s, (uint32_t)hlen);
	if (!skb) {
		NP_INC_STATS(s, TcpExtListenDrops);
		return -NP_DROP_NOMEM;
	}
	trace_begin(skb, 1);
	trace_stage(skb, "cookie_v4_init_sequence");
	uint32_t saddr = tcb->header.daddr, daddr = tcb->header.saddr;
	uint8_t *p = skb_put(skb, (uint32_t)hlen);
	if (!tcp_emit(&r, 0, saddr, daddr, p, hlen)) {
		kfree_skb_reason(skb, NP_DROP_NOT_SPECIFIED);
		return -NP_DROP_NOT_SPECIFIED;
	}
	skb_reset_transport_header(skb);
	skb->rt = *rt;
	skb->rt_valid = 1;
	uint8_t pmtu = sk->pmtudisc;
	struct ip_out_params ip = {
		.saddr = saddr,
		.daddr = daddr,
		.protocol = IPPROTO_TCP_,
		.tos = sk->tos,
		.ttl = sk->uc_ttl,
		.df = pmtu == IP_PMTUDISC_WANT || pmtu == IP_PMTUDISC_DO || pmtu == IP_PMTUDISC_PROBE,
	};
	lp->lq->last_synq_overflow = synq_now_s(s);   /* sk listens */
	NP_INC_STATS(s, TcpExtSyncookiesSent);
	NP_INC_STATS(s, TcpOutSegs);
	ip_build_and_send_pkt(s, skb, &ip);
	return 0;
}

int cookie_v4_check(struct sock *sk, struct sk_buff *skb, const struct tcp_repr *th)
{
	struct np_stack *s = sk->stack;
	const struct tcp_skb_cb *tcb = TCP_SKB_CB(skb);

	if (!s->sysctl.tcp_syncookies || tcp_synq_no_recent_overflow(sk))
		return 0;
	trace_stage(skb, "cookie_v4_check");
	/* RFC 4987 3.6: SEG.ACK - 1 is our cookie, SEG.SEQ - 1 the peer's ISN. */
	int mssind = cookie_v4_decode(s, tcb->header.saddr, tcb->header.daddr, th->sport, th->dport, tcb->seq - 1,
				      tcb->ack_seq - 1);
	if (mssind < 0) {
		NP_INC_STATS(s, TcpExtSyncookiesFailed);
		return -NP_DROP_TCP_SYNCOOKIE_INVALID;
	}
	NP_INC_STATS(s, TcpExtSyncookiesRecv);
	/* Linux's tcp_v4_syn_recv_sock: no room in the accept queue, no child; the peer's retransmission retries. */
	if (tcp_sk(sk)->lq->ack_backlog > tcp_sk(sk)->lq->max_ack_backlog) {   /* sk listens */
		NP_INC_STATS(s, TcpExtListenOverflows);
		NP_INC_STATS(s, TcpExtListenDrops);
		kfree_skb_reason(skb, NP_DROP_TCP_LISTEN_OVERFLOW);
		return 1;
	}
	struct rtable rt;
	if (ip_route_output(s, tcb->header.saddr, tcb->header.daddr, NULL, &rt) < 0) {
		NP_INC_STATS(s, TcpExtListenDrops);
		kfree_skb_reason(skb, NP_DROP_IP_OUTNOROUTES);
		return 1;
	}
	struct sock *child = tcp_openreq_child(sk, skb, th, &rt);
	if (!child) {
		NP_INC_STATS(s, TcpExtListenDrops);
		kfree_skb_reason(skb, NP_DROP_NOMEM);
		return 1;
	}
	/* Rebuild what the SYN and our SYN-ACK would have left: sequence spaces and the encoded MSS. */
	struct tcp_sock *tp = tcp_sk(child);
	tp->rcv_nxt = tcb->seq;   /* the peer's ISN + 1 */
	tp->rcv_wup = tp->rcv_nxt;
	tp->copied_seq = tp->rcv_nxt;
	tp->snd_wl1 = tcb->seq - 1;
	tp->mss_clamp = msstab[mssind];
	tcp_sync_mss(child, tp->pmtu);
	tp->iss = tcb->ack_seq - 1;
	tp->snd_una = tp->iss;
	tp->snd_nxt = tp->iss + 1;
	tp->write_seq = tp->iss + 1;
	tp->snd_sml = tp->iss + 1;
	tp->high_seq = tp->iss;
	tp->max_packets_seq = tp->iss + 1;
	tp->rto_us = TCP_TIMEOUT_INIT_US;
	/* No shift survives a cookie (see the top): the ACK's window and ours are unscaled. */
	tp->wscale_ok = 0;
	tp->snd_wscale = 0;
	tp->rcv_wscale = 0;
	tp->rcv_wnd = tcp_initial_rcv_wnd(child, tp->advmss);
	tcp_synq_add(sk, child);
	/* The ACK now completes the handshake in the child (Linux's tcp_child_process). */
	sock_hold(child);
	tcp_v4_do_rcv(child, skb);
	sock_put(child);
	return 1;
}
