/*
 * TCP output (Linux's net/ipv4/tcp_output.c).
 * Place in the packet path (seed 001/003):
 *   tcp_sendmsg -> tcp_push / tcp_push_one -> __tcp_push_pending_frames
 *   -> tcp_write_xmit (receive window, cwnd, Nagle/cork, sender SWS)
 *   -> tcp_transmit_skb (a clone goes down, the original stays on
 *      sk_write_queue until ACKed; header + checksum) -> ip_queue_xmit
 *   retransmissions: tcp_retransmit_timer / tcp_fastretrans_alert
 *      -> tcp_retransmit_skb / tcp_xmit_retransmit_queue -> tcp_transmit_skb
 *   control: tcp_send_ack, tcp_send_delayed_ack, tcp_send_fin,
 *      tcp_send_active_reset, tcp_connect (SYN), tcp_send_synack,
 *      tcp_write_wakeup / tcp_send_probe0 (zero-window and keepalive probes)
 * Headers are written into the clone's headroom. Clones share the data
 * buffer, so when an earlier clone of the same skb may still sit in a queue
 * below us (dataref > 1) the segment is copied instead (Linux's pskb_copy
 * when skb_cloned), and no two headers ever share bytes.
 */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "core/netdevice.h"
#include "core/stack.h"
#include "net/ipv4/ip.h"
#include "net/ipv4/route.h"
#include "net/tcp/tcp.h"
#include "trace/trace.h"
#include "wire/checksum.h"
#include "wire/ipv4.h"
#include "wire/tcp.h"

static inline uint64_t tcp_now(const struct sock *sk) { return np_stack_now(sk->stack); }

/* ---- MSS and window ----------------------------------------------------------- */

/*
 * RFC 9293 3.7.1 and Linux's tcp_sync_mss: the send MSS is what the path MTU
 * leaves after the IP and TCP headers, no more than the peer announced
 * (536 when it announced nothing) or the user asked (TCP_MAXSEG), and never
 * below net.ipv4.tcp_min_snd_mss (48).
 */
void tcp_sync_mss(struct sock *sk, unsigned pmtu)
{
	struct tcp_sock *tp = tcp_sk(sk);
	int mss = (int)pmtu - IPV4_HLEN_MIN - TCP_HLEN_MIN;
	if (tp->mss_clamp && mss > tp->mss_clamp)
		mss = tp->mss_clamp;
	if (tp->user_mss && mss > tp->user_mss)
		mss = tp->user_mss;
	if (mss < (int)sk->stack->sysctl.tcp_min_snd_mss)
		mss = (int)sk->stack->sysctl.tcp_min_snd_mss;
	tp->pmtu = (uint16_t)pmtu;
	tp->mss_cache = (uint16_t)mss;
}

/*
 * The MSS for the next segment; Linux's tcp_bound_to_half_wnd keeps it at
 * most half the largest window the peer offered, so a tiny window still
 * gets segments (RFC 1122 4.2.3.4's Fs = 1/2).
 */
unsigned tcp_current_mss(struct sock *sk)
{
	struct tcp_sock *tp = tcp_sk(sk);
	unsigned mss = tp->mss_cache;
	unsigned cutoff = tp->max_window > TCP_MSS_DEFAULT ? tp->max_window >> 1 : tp->max_window;
	if (cutoff && mss > cutoff)
		mss = cutoff < 68 - TCP_HLEN_MIN ? 68 - TCP_HLEN_MIN : cutoff;
	return mss ? mss : TCP_MSS_DEFAULT;
}

/* Linux's tcp_win_from_space with tcp_adv_win_scale = 1: half the buffer is overhead. */
static inline int tcp_win_from_space(int space) { return space - (space >> 1); }

uint32_t tcp_max_rcv_window(const struct tcp_sock *tp)
{
	uint32_t max = TCP_MAX_WINDOW << tp->rcv_wscale;
	return tp->window_clamp && tp->window_clamp < max ? tp->window_clamp : max;
}

uint8_t tcp_wscale_for_space(uint32_t space)
{
	uint8_t ws = 0;
	while (space > TCP_MAX_WINDOW && ws < TCP_MAX_WSCALE) {
		space >>= 1;
		ws++;
	}
	return ws;
}

/*
 * Linux's tcp_select_initial_window, the scaling half: the shift covers the
 * largest buffer the connection may grow to (tcp_rmem_max, or the buffer
 * the user fixed with SO_RCVBUF), no more than TCP_WINDOW_CLAMP. The shift
 * is fixed for the connection's life (RFC 7323 2.2), hence the maximum.
 */
void tcp_init_wscale(struct sock *sk, int offer)
{
	struct tcp_sock *tp = tcp_sk(sk);
	uint32_t full = (uint32_t)tcp_win_from_space(sk->sk_rcvbuf);
	if ((sk->sk_userlocks & SOCK_RCVBUF_LOCK) && (!tp->window_clamp || tp->window_clamp > full))
		tp->window_clamp = full;
	tp->wscale_ok = offer ? 1 : 0;
	tp->rcv_wscale = 0;
	if (offer) {
		uint32_t space = full;
		if (!(sk->sk_userlocks & SOCK_RCVBUF_LOCK) && (uint64_t)sk->stack->sysctl.tcp_rmem_max > space)
			space = (uint32_t)sk->stack->sysctl.tcp_rmem_max;
		if (tp->window_clamp && tp->window_clamp < space)
			space = tp->window_clamp;
		tp->rcv_wscale = tcp_wscale_for_space(space);
	}
}

/*
 * Linux's __tcp_select_window: the window we could offer now, from the free
 * receive space. RFC 1122 4.2.3.3 (receiver SWS avoidance): below one MSS (or
 * a sixteenth of the buffer) of free space offer nothing, and move the right
 * edge only by whole segments.
 */
uint32_t __tcp_select_window(struct sock *sk)
{
	struct tcp_sock *tp = tcp_sk(sk);
	int mss = tp->rcv_mss ? tp->rcv_mss : TCP_MSS_DEFAULT;
	int full_space = tcp_win_from_space(sk->sk_rcvbuf);
	int free_space = tcp_win_from_space(sk->sk_rcvbuf - sk->sk_rmem_alloc);
	uint32_t max_win = tcp_max_rcv_window(tp);
	if (full_space > (int)max_win)
		full_space = (int)max_win;
	if (mss > full_space) {
		mss = full_space;
		if (mss <= 0)
			return 0;
	}
	if (free_space < (full_space >> 1)) {
		tp->quick = 0;
		if (free_space < (full_space >> 4) || free_space < mss)
			return 0;
	}
	if (free_space > full_space)
		free_space = full_space;
	if (tp->rcv_wscale) {
		/*
		 * Scaled: the field counts units of 1 << rcv_wscale, so offer the
		 * free space rounded up to a unit (a window below one unit would
		 * read as zero), as Linux does.
		 */
		uint32_t unit = 1u << tp->rcv_wscale;
		return ((uint32_t)free_space + unit - 1) & ~(unit - 1);
	}
	uint32_t window = tp->rcv_wnd;
	if ((int)window <= free_space - mss || (int)window > free_space)
		window = (uint32_t)(free_space / mss * mss);
	else if (mss == full_space && free_space > (int)window + (full_space >> 1))
		window = (uint32_t)free_space;
	return window;
}

/*
 * Linux's tcp_select_window: the window field of an outgoing segment. RFC
 * 9293 3.8.6.2.2 and RFC 7323 2.4: never shrink the window already offered
 * (the right edge does not move left); the window kept in rcv_wnd is a
 * whole number of 1 << rcv_wscale units, so the peer reads back exactly it.
 */
uint16_t tcp_select_window(struct sock *sk)
{
	struct tcp_sock *tp = tcp_sk(sk);
	struct np_stack *s = sk->stack;
	uint32_t old_win = tp->rcv_wnd;
	uint32_t cur_win = tcp_receive_window(tp);
	uint32_t new_win = __tcp_select_window(sk);

	uint32_t unit = 1u << tp->rcv_wscale;
	if (new_win < cur_win) {
		if (new_win == 0)
			NP_INC_STATS(s, TcpExtTCPWantZeroWindowAdv);
		new_win = (cur_win + unit - 1) & ~(unit - 1);
	}
	if (new_win > TCP_MAX_WINDOW << tp->rcv_wscale)
		new_win = TCP_MAX_WINDOW << tp->rcv_wscale;
	tp->rcv_wnd = new_win;
	tp->rcv_wup = tp->rcv_nxt;
	if (new_win == 0) {
		tp->pingpong = 0;   /* keep ACKs quick until the window reopens */
		if (old_win)
			NP_INC_STATS(s, TcpExtTCPToZeroWindowAdv);
	} else if (old_win == 0) {
		NP_INC_STATS(s, TcpExtTCPFromZeroWindowAdv);
	}
	return (uint16_t)(new_win >> tp->rcv_wscale);
}

/* ---- transmit ------------------------------------------------------------------ */

/* The route for a flow through the stack's shared cache (tcp_dst_slot). 0 or -ENETUNREACH / -EHOSTUNREACH. */
static int tcp_route_output(struct np_stack *s, uint32_t daddr, uint32_t saddr, struct net_device *oif,
			    struct rtable *rt)
{
	struct dst_cache *c = tcp_dst_slot(s, daddr, saddr, oif);
	return c ? ip_route_output_cached(s, c, daddr, saddr, oif, rt) : ip_route_output(s, daddr, saddr, oif, rt);
}

/* Consumes skb (data at the TCP header): Linux's ip_queue_xmit, the route and IP header per segment. */
static int ip_queue_xmit(struct sock *sk, struct sk_buff *skb)
{
	struct np_stack *s = sk->stack;
	trace_stage(skb, "ip_queue_xmit");
	struct net_device *oif = sk->bound_dev_if ? dev_get_by_index(s, sk->bound_dev_if) : NULL;
	uint8_t pmtu = sk->pmtudisc;
	struct ip_out_params p = {
		.saddr = sk->inet_saddr,
		.daddr = sk->inet_daddr,
		.protocol = IPPROTO_TCP_,
		.tos = sk->tos,
		.ttl = sk->uc_ttl,
		.df = pmtu == IP_PMTUDISC_WANT || pmtu == IP_PMTUDISC_DO || pmtu == IP_PMTUDISC_PROBE,
		.inet_id = &tcp_sk(sk)->inet_id,   /* Linux's ip_select_ident_segs: the socket numbers its segments */
		.oif = oif,
	};
	/* The socket's cached route; on a failure ip_build_and_send_pkt routes again and reports it. */
	skb->rt_valid = 0;
	if (tcp_route_output(s, p.daddr, p.saddr, oif, &skb->rt) == 0)
		skb->rt_valid = 1;
	return ip_build_and_send_pkt(s, skb, &p);
}

/*
 * Linux's sk_setup_caps / sk_can_gso: the offload features of the device the
 * socket's route leaves by (the cached route, so no lookup per segment), and
 * that device's gso_max_size. 0 for local destinations (loopback) and
 * unroutable ones.
 */
static uint32_t tcp_route_caps(struct sock *sk, uint32_t *gso_max)
{
	struct np_stack *s = sk->stack;
	struct net_device *oif = sk->bound_dev_if ? dev_get_by_index(s, sk->bound_dev_if) : NULL;
	struct rtable rt;
	*gso_max = 0;
	if (tcp_route_output(s, sk->inet_daddr, sk->inet_saddr, oif, &rt) < 0 ||
	    rt.rt_type != RTN_UNICAST || !rt.dev)
		return 0;
	*gso_max = rt.dev->gso_max_size;
	return rt.dev->features;
}

/* Sending an ACK (alone or on data) answers everything received so far: no delayed ACK is owed. */
static void tcp_event_ack_sent(struct sock *sk)
{
	struct tcp_sock *tp = tcp_sk(sk);
	if (tp->quick)
		tp->quick--;
	tp->ack_pending = 0;
	tcp_timer_del(sk, TCP_TIMER_DELACK);
}

/* Data sent soon after data arrived: the exchange is interactive, ACKs may ride on replies. */
static void tcp_event_data_sent(struct sock *sk)
{
	struct tcp_sock *tp = tcp_sk(sk);
	if (tp->lrcvtime && tcp_ms_since(sk->stack, tp->lrcvtime) < TCP_DELACK_MIN_NS)
		tp->pingpong = 1;
}

int tcp_transmit_skb(struct sock *sk, struct sk_buff *skb, int clone_it, enum tcp_xmit_why why)
{
	struct tcp_sock *tp = tcp_sk(sk);
	struct np_stack *s = sk->stack;
	struct tcp_skb_cb *tcb = TCP_SKB_CB(skb);

	if (clone_it) {
		tcb->when = tcp_now(sk);
		/* An earlier clone may still be below us: its header bytes are not ours to overwrite. */
		struct sk_buff *n = skb_shinfo(skb)->dataref > 1 ? skb_copy(skb) : skb_clone(skb);
		if (!n)
			return -ENOBUFS;
		skb = n;
		tcb = TCP_SKB_CB(skb);
		trace_begin(skb, 1);
		if (why == TCP_XMIT_NEW && tp->in_sendmsg) {
			trace_stage(skb, "tcp_sendmsg");
			trace_stage(skb, "tcp_push");
		}
		trace_stage(skb, why == TCP_XMIT_RETRANS ? "tcp_retransmit_skb"
				 : why == TCP_XMIT_PROBE ? "tcp_write_wakeup" : "tcp_write_xmit");
	}
	trace_stage(skb, "tcp_transmit_skb");

	struct tcp_repr r;
	memset(&r, 0, sizeof(r));
	r.sport = sk->inet_num;
	r.dport = sk->inet_dport;
	r.seq = tcb->seq;
	r.flags = tcb->tcp_flags;
	r.ack = (r.flags & TCPF_ACK) ? tp->rcv_nxt : 0;
	if (r.flags & TCPF_SYN) {
		/* RFC 7323 2.2: the window in a SYN is never scaled; RFC 9293 3.7.1: announce our MSS. */
		r.window = (uint16_t)(tp->rcv_wnd > TCP_MAX_WINDOW ? TCP_MAX_WINDOW : tp->rcv_wnd);
		r.opt.mss_ok = 1;
		r.opt.mss = tp->advmss;
		/* RFC 7323 2.2: our shift on our SYN; on a SYN-ACK only if the peer's SYN offered one (wscale_ok). */
		if (tp->wscale_ok) {
			r.opt.wscale_ok = 1;
			r.opt.wscale = tp->rcv_wscale;
		}
	} else {
		r.window = tcp_select_window(sk);
	}
	size_t hlen = TCP_HLEN_MIN + tcp_options_len(&r.opt);
	size_t payload = skb->len;
	if (skb_headroom(skb) < hlen + IPV4_HLEN_MIN) {
		kfree_skb_reason(skb, NP_DROP_NOMEM);
		return -ENOBUFS;
	}
	uint8_t *p = skb_push(skb, (uint32_t)hlen);
	/*
	 * Checksum offload (Linux's tcp_v4_send_check with CHECKSUM_PARTIAL): a
	 * super-packet, or any segment for a device that finishes checksums,
	 * carries only the pseudo-header sum; whoever needs the real one
	 * (skb_gso_segment, skb_checksum_help, the TAP's kernel) completes it.
	 */
	uint32_t gso_max;
	int partial = payload && (skb_is_gso(skb) || (tcp_route_caps(sk, &gso_max) & NETIF_F_HW_CSUM));
	if (!tcp_emit(&r, partial ? 0 : payload, sk->inet_saddr, sk->inet_daddr, p, partial ? hlen : skb->len)) {
		kfree_skb_reason(skb, NP_DROP_NOT_SPECIFIED);
		return -EINVAL;
	}
	skb_reset_transport_header(skb);
	if (partial) {
		uint16_t pseudo = csum_fold(csum_tcpudp_nofold(sk->inet_saddr, sk->inet_daddr, (uint16_t)skb->len,
							      IPPROTO_TCP_, 0));
		be16_put(p + 16, (uint16_t)~pseudo);
		skb->ip_summed = CHECKSUM_PARTIAL;
		skb->csum_start = skb->transport_header;
		skb->csum_offset = 16;
	}

	if (r.flags & TCPF_ACK)
		tcp_event_ack_sent(sk);
	if (payload)
		tcp_event_data_sent(sk);
	/* RFC 1213 tcpOutSegs excludes retransmissions (Linux counts only new sequence space and bare segments). */
	if (why != TCP_XMIT_RETRANS)
		NP_INC_STATS(s, TcpOutSegs);
	/* Errors below (no route, full queue) are losses the retransmit timer repairs. */
	ip_queue_xmit(sk, skb);
	return 0;
}

/* ---- the write queue ---------------------------------------------------------- */

void tcp_wmem_free_skb(struct sock *sk, struct sk_buff *skb)
{
	struct tcp_sock *tp = tcp_sk(sk);
	tcp_wmem_queued_add(tp, -tcp_skb_truesize(skb));
	consume_skb(skb);
}

void tcp_write_queue_purge(struct sock *sk)
{
	struct tcp_sock *tp = tcp_sk(sk);
	struct sk_buff *skb;
	while (tp->write_queue && (skb = skb_dequeue(tp->write_queue)) != NULL)
		tcp_wmem_free_skb(sk, skb);
	tcp_write_queue_release_if_empty(tp);   /* and with it send_head */
	tp->packets_out = tp->lost_out = tp->retrans_out = 0;
}

static void tcp_insert_after(struct tcp_sock *tp, struct sk_buff *prev, struct sk_buff *n)
{
	n->prev = prev;
	n->next = prev->next;
	prev->next->prev = n;
	prev->next = n;
	tp->write_queue->qlen++;   /* prev is queued: the queue exists */
	tp->write_queue->bytes += n->len;
}

/* Is skb already sent (before send_head)? */
static int tcp_skb_sent(const struct tcp_sock *tp, const struct sk_buff *skb)
{
	return before(TCP_SKB_CB(skb)->seq, tp->snd_nxt);
}

int tcp_fragment(struct sock *sk, struct sk_buff *skb, uint32_t len, unsigned mss_now)
{
	struct tcp_sock *tp = tcp_sk(sk);
	struct tcp_skb_cb *tcb = TCP_SKB_CB(skb);
	if (len >= skb->len)
		return 0;
	uint32_t nlen = skb->len - len;
	struct sk_buff *buff = alloc_skb(sk->stack, nlen + 0);
	if (!buff)
		return -ENOMEM;
	memcpy(skb_put(buff, nlen), skb->data + len, nlen);
	struct tcp_skb_cb *ncb = TCP_SKB_CB(buff);
	memset(ncb, 0, sizeof(*ncb));
	ncb->seq = tcb->seq + len;
	ncb->end_seq = tcb->end_seq;
	ncb->tcp_flags = tcb->tcp_flags;
	ncb->sacked = tcb->sacked;
	ncb->when = tcb->when;
	/* PSH and FIN stay with the last byte. */
	tcb->tcp_flags &= (uint8_t)~(TCPF_FIN | TCPF_PSH);
	tcb->end_seq = tcb->seq + len;
	skb_trim(skb, len);
	tp->write_queue->bytes -= nlen;
	tcp_wmem_queued_add(tp, tcp_skb_truesize(buff));
	tcp_insert_after(tp, skb, buff);
	if (tcp_skb_sent(tp, buff)) {
		tp->packets_out++;
		if (ncb->sacked & TCPCB_LOST)
			tp->lost_out++;
		if (ncb->sacked & TCPCB_SACKED_RETRANS)
			tp->retrans_out++;
	}
	return 0;
}

void tcp_trim_head(struct sock *sk, struct sk_buff *skb, uint32_t len)
{
	struct tcp_sock *tp = tcp_sk(sk);
	if (len > skb->len)
		len = skb->len;
	skb_pull(skb, len);
	TCP_SKB_CB(skb)->seq += len;
	tp->write_queue->bytes -= len;
}

/* A new segment went out (Linux's tcp_event_new_data_sent). */
static void tcp_event_new_data_sent(struct sock *sk, struct sk_buff *skb, unsigned mss_now)
{
	struct tcp_sock *tp = tcp_sk(sk);
	struct tcp_skb_cb *tcb = TCP_SKB_CB(skb);
	uint32_t prior_packets = tp->packets_out;

	tcp_set_send_head(tp, tcp_write_queue_next(tp, skb));
	tp->snd_nxt = tcb->end_seq;
	tp->packets_out++;
	if (skb->len)
		NP_INC_STATS(sk->stack, TcpExtTCPOrigDataSent);
	if (skb->len < mss_now)
		tp->snd_sml = tcb->end_seq;
	/* Linux's tcp_cwnd_validate: the most packets in flight this window. */
	if (!before(tp->snd_una, tp->max_packets_seq) || tp->packets_out > tp->max_packets_out) {
		tp->max_packets_out = tp->packets_out;
		tp->max_packets_seq = tp->snd_nxt;
	}
	/* RFC 6298 5.1: start the timer when data goes out and it is not running. */
	if (!prior_packets || tp->pending == ICSK_TIME_PROBE0)
		tcp_rearm_rto(sk);
}

/* Linux's tcp_cwnd_test: room in the congestion window (a lone FIN is never held back by it). */
static uint32_t tcp_cwnd_test(const struct tcp_sock *tp, const struct sk_buff *skb)
{
	if ((TCP_SKB_CB(skb)->tcp_flags & TCPF_FIN) && skb->len == 0)
		return 1;
	uint32_t in_flight = tcp_packets_in_flight(tp);
	return in_flight < tp->snd_cwnd ? tp->snd_cwnd - in_flight : 0;
}

/* Does the first segment of skb fit the peer's window (RFC 9293 3.8.6.2.1)? */
static int tcp_snd_wnd_test(const struct tcp_sock *tp, const struct sk_buff *skb, unsigned cur_mss)
{
	uint32_t end_seq = TCP_SKB_CB(skb)->end_seq;
	if (skb->len > cur_mss)
		end_seq = TCP_SKB_CB(skb)->seq + cur_mss;
	return !after(end_seq, tcp_wnd_end(tp));
}

/*
 * Nagle (RFC 1122 4.2.3.4, RFC 896) in Linux's form: a partial segment waits
 * while corked, or (unless TCP_NODELAY) while a small segment sent earlier is
 * still unacknowledged (Minshall's variant).
 */
static int tcp_nagle_test(const struct tcp_sock *tp, const struct sk_buff *skb, unsigned cur_mss, int nonagle)
{
	if (nonagle & TCP_NAGLE_PUSH)
		return 1;
	if (TCP_SKB_CB(skb)->tcp_flags & TCPF_FIN)
		return 1;
	int partial = skb->len < cur_mss;
	if (!partial)
		return 1;
	if (nonagle & TCP_NAGLE_CORK)
		return 0;
	if (!nonagle && tp->packets_out && after(tp->snd_sml, tp->snd_una))
		return 0;
	return 1;
}

/*
 * TSO (Linux's tcp_tso_autosize and tso_fragment, the other way round): the
 * write queue stays in MSS-sized skbs, so loss, SACK and retransmission
 * accounting stays per segment; when the route's device takes super-packets
 * (NETIF_F_TSO, or NETIF_F_GSO for software segmentation at the device), the
 * run of queued segments that cwnd, the peer's window and Nagle let go now
 * leaves as one skb of up to the size goal (gso_max_size less the headers),
 * marked gso_size = MSS. Returns the segments sent (0: not applicable, the
 * caller sends one segment the usual way; <0: out of memory).
 */
/* The size goal: room for Ethernet, a VLAN tag, IP and TCP with options under gso_max_size. */
static uint32_t tcp_tso_goal(uint32_t gso_max, unsigned mss_now)
{
	uint32_t goal = (gso_max > 65535u ? 65535u : gso_max);
	goal = goal > 14 + 4 + 60 + 60 ? goal - (14 + 4 + 60 + 60) : 0;
	return goal - goal % mss_now;
}

unsigned tcp_xmit_size_goal(struct sock *sk, unsigned mss_now)
{
	uint32_t gso_max;
	if (!(tcp_route_caps(sk, &gso_max) & (NETIF_F_TSO | NETIF_F_GSO)))
		return mss_now;
	uint32_t goal = tcp_tso_goal(gso_max, mss_now);
	return goal > mss_now ? goal : mss_now;
}

static int tcp_tso_xmit(struct sock *sk, struct sk_buff *skb, unsigned mss_now, uint32_t quota, int nonagle)
{
	struct tcp_sock *tp = tcp_sk(sk);
	uint32_t gso_max;
	if (quota < 2 || skb->len != mss_now || !(tcp_route_caps(sk, &gso_max) & (NETIF_F_TSO | NETIF_F_GSO)))
		return 0;
	uint32_t goal = tcp_tso_goal(gso_max, mss_now);
	uint32_t n = 0, bytes = 0;
	struct sk_buff *it = skb;
	while (it && n < quota) {
		struct tcp_skb_cb *cb = TCP_SKB_CB(it);
		if ((cb->tcp_flags & TCPF_SYN) || !it->len || it->len > mss_now || bytes + it->len > goal)
			break;
		if (after(cb->end_seq, tcp_wnd_end(tp)))
			break;
		int lastq = tcp_write_queue_next(tp, it) == NULL;
		if (it->len < mss_now && !tcp_nagle_test(tp, it, mss_now, lastq ? nonagle : TCP_NAGLE_PUSH))
			break;
		n++;
		bytes += it->len;
		/* Only the last piece may be short or carry FIN. */
		if (it->len < mss_now || (cb->tcp_flags & TCPF_FIN))
			break;
		it = tcp_write_queue_next(tp, it);
	}
	if (n < 2)
		return 0;

	struct sk_buff *sup = alloc_skb(sk->stack, bytes);
	if (!sup)
		return -ENOBUFS;
	struct tcp_skb_cb *scb = TCP_SKB_CB(sup);
	memset(scb, 0, sizeof(*scb));
	scb->seq = TCP_SKB_CB(skb)->seq;
	uint64_t now = tcp_now(sk);
	it = skb;
	for (uint32_t i = 0; i < n; i++, it = tcp_write_queue_next(tp, it)) {
		memcpy(skb_put(sup, it->len), it->data, it->len);
		scb->tcp_flags |= TCP_SKB_CB(it)->tcp_flags;
		scb->end_seq = TCP_SKB_CB(it)->end_seq;
	}
	scb->when = now;
	struct skb_shared_info *sh = skb_shinfo(sup);
	sh->gso_size = (uint16_t)mss_now;
	sh->gso_segs = (uint16_t)n;
	sh->gso_type = SKB_GSO_TCPV4;
	trace_begin(sup, 1);
	if (tp->in_sendmsg) {
		trace_stage(sup, "tcp_sendmsg");
		trace_stage(sup, "tcp_push");
	}
	trace_stage_detail(sup, "tcp_write_xmit", "tso");
	if (tcp_transmit_skb(sk, sup, 0, TCP_XMIT_NEW) < 0)
		return -ENOBUFS;
	NP_ADD_STATS(sk->stack, TcpOutSegs, n - 1);
	for (uint32_t i = 0; i < n; i++) {
		struct sk_buff *cur = tcp_send_head(tp);
		TCP_SKB_CB(cur)->when = now;
		tcp_event_new_data_sent(sk, cur, mss_now);
	}
	return (int)n;
}

int tcp_write_xmit(struct sock *sk, unsigned mss_now, int nonagle)
{
	struct tcp_sock *tp = tcp_sk(sk);
	struct sk_buff *skb;
	int sent = 0;

	while ((skb = tcp_send_head(tp)) != NULL) {
		uint32_t quota = tcp_cwnd_test(tp, skb);
		if (!quota)
			break;
		int tso = tcp_tso_xmit(sk, skb, mss_now, quota, nonagle);
		if (tso < 0)
			break;
		if (tso > 0) {
			sent += tso;
			continue;
		}
		if (skb->len > mss_now && tcp_fragment(sk, skb, mss_now, mss_now) < 0)
			break;
		if (!tcp_snd_wnd_test(tp, skb, mss_now))
			break;
		int last = tcp_write_queue_next(tp, skb) == NULL;
		if (!tcp_nagle_test(tp, skb, mss_now, last ? nonagle : TCP_NAGLE_PUSH))
			break;
		if (tcp_transmit_skb(sk, skb, 1, TCP_XMIT_NEW) < 0)
			break;
		tcp_event_new_data_sent(sk, skb, mss_now);
		sent++;
	}
	if (sent)
		return 0;
	return !tp->packets_out && tcp_send_head(tp);
}

/* Linux's tcp_check_probe_timer: nothing in flight but data waits: the probe timer takes over. */
void tcp_check_probe_timer(struct sock *sk)
{
	struct tcp_sock *tp = tcp_sk(sk);
	if (!tp->packets_out && !tp->pending)
		tcp_reset_xmit_timer(sk, ICSK_TIME_PROBE0, tcp_probe0_when(tp));
}

static int tcp_nonagle(const struct tcp_sock *tp)
{
	return (tp->nodelay ? TCP_NAGLE_OFF : 0) | (tp->cork ? TCP_NAGLE_CORK : 0);
}

void __tcp_push_pending_frames(struct sock *sk, unsigned cur_mss, int nonagle)
{
	if (sk->sk_state == TCP_CLOSE)
		return;
	if (tcp_write_xmit(sk, cur_mss, nonagle))
		tcp_check_probe_timer(sk);
}

void tcp_push_pending_frames(struct sock *sk)
{
	struct tcp_sock *tp = tcp_sk(sk);
	if (tcp_send_head(tp))
		__tcp_push_pending_frames(sk, tcp_current_mss(sk), tcp_nonagle(tp));
}

/* Seed 003: the fresh tail is the send head, so try to send it right away. */
void tcp_push_one(struct sock *sk, unsigned mss_now)
{
	__tcp_push_pending_frames(sk, mss_now, tcp_nonagle(tcp_sk(sk)));
}

/* ---- retransmission ----------------------------------------------------------- */

int tcp_retransmit_skb(struct sock *sk, struct sk_buff *skb)
{
	struct tcp_sock *tp = tcp_sk(sk);
	struct np_stack *s = sk->stack;
	struct tcp_skb_cb *tcb = TCP_SKB_CB(skb);

	/* Part of it was acknowledged meanwhile: resend only the rest. */
	if (before(tcb->seq, tp->snd_una) && skb->len) {
		uint32_t acked = tp->snd_una - tcb->seq;
		if (acked >= skb->len)
			return -EINVAL;
		tcp_trim_head(sk, skb, acked);
	}
	/* Beyond the window only the head may go (it is a probe of sorts). */
	if (!before(tcb->seq, tcp_wnd_end(tp)) && tcb->seq != tp->snd_una && skb->len)
		return -EAGAIN;
	unsigned cur_mss = tcp_current_mss(sk);
	if (skb->len > cur_mss && tcp_fragment(sk, skb, cur_mss, cur_mss) < 0)
		return -ENOMEM;
	uint64_t first_sent = tcb->when;
	int err = tcp_transmit_skb(sk, skb, 1, TCP_XMIT_RETRANS);
	if (err)
		return err;
	NP_INC_STATS(s, TcpRetransSegs);
	if (tcb->tcp_flags & TCPF_SYN)
		NP_INC_STATS(s, TcpExtTCPSynRetrans);
	tp->total_retrans++;
	if (!tp->retrans_stamp)
		tp->retrans_stamp = first_sent ? tcp_ns_to_stamp_ms(first_sent) : tcp_stamp_ms(sk->stack);
	tcb->sacked |= TCPCB_EVER_RETRANS;
	if (!(tcb->sacked & TCPCB_SACKED_RETRANS)) {
		tcb->sacked |= TCPCB_SACKED_RETRANS;
		tp->retrans_out++;
	}
	return 0;
}

/* Linux's tcp_xmit_retransmit_queue: resend what is marked lost, as the congestion window allows. */
void tcp_xmit_retransmit_queue(struct sock *sk)
{
	struct tcp_sock *tp = tcp_sk(sk);
	struct sk_buff *skb = tcp_write_queue_head(tp);
	while (skb && skb != tcp_send_head(tp) && tp->lost_out) {
		struct sk_buff *next = tcp_write_queue_next(tp, skb);
		struct tcp_skb_cb *tcb = TCP_SKB_CB(skb);
		if (tcp_packets_in_flight(tp) >= tp->snd_cwnd)
			break;
		if ((tcb->sacked & TCPCB_LOST) && !(tcb->sacked & TCPCB_SACKED_RETRANS)) {
			int head = skb == tcp_write_queue_head(tp);
			if (tcp_retransmit_skb(sk, skb))
				break;
			if (tp->ca_state == TCP_CA_Recovery)
				NP_INC_STATS(sk->stack, TcpExtTCPFastRetrans);
			else
				NP_INC_STATS(sk->stack, TcpExtTCPSlowStartRetrans);
			if (head)
				tcp_rearm_rto(sk);
			next = tcp_write_queue_next(tp, skb);
		}
		skb = next;
	}
}

/* ---- control segments ------------------------------------------------------- */

/* Linux's tcp_acceptable_seq: SND.NXT, unless the peer shrank its window below it. */
static uint32_t tcp_acceptable_seq(const struct tcp_sock *tp)
{
	if (!before(tcp_wnd_end(tp), tp->snd_nxt))
		return tp->snd_nxt;
	return tcp_wnd_end(tp);
}

/* A bare segment with the given sequence number and flags, sent now (not queued). */
static int tcp_send_bare(struct sock *sk, uint32_t seq, uint8_t flags, const char *stage)
{
	struct sk_buff *buff = alloc_skb(sk->stack, 0);
	if (!buff)
		return -ENOBUFS;
	trace_begin(buff, 1);
	trace_stage(buff, stage);
	struct tcp_skb_cb *tcb = TCP_SKB_CB(buff);
	memset(tcb, 0, sizeof(*tcb));
	tcb->seq = tcb->end_seq = seq;
	tcb->tcp_flags = flags;
	return tcp_transmit_skb(sk, buff, 0, TCP_XMIT_CTL);
}

void tcp_send_ack(struct sock *sk)
{
	if (sk->sk_state == TCP_CLOSE)
		return;
	tcp_send_bare(sk, tcp_acceptable_seq(tcp_sk(sk)), TCPF_ACK, "tcp_send_ack");
}

/* RFC 1122 4.2.3.2 / Linux's tcp_send_delayed_ack: ACK within 40 ms unless something else carries it. */
void tcp_send_delayed_ack(struct sock *sk)
{
	struct tcp_sock *tp = tcp_sk(sk);
	uint64_t timeout = tcp_now(sk) + TCP_DELACK_MIN_NS;
	if (tcp_timer_armed(tp, TCP_TIMER_DELACK) && tp->timer_when[TCP_TIMER_DELACK] < timeout)
		return;
	tcp_timer_set(sk, TCP_TIMER_DELACK, timeout);
}

void tcp_send_active_reset(struct sock *sk)
{
	NP_INC_STATS(sk->stack, TcpOutRsts);
	tcp_send_bare(sk, tcp_acceptable_seq(tcp_sk(sk)), TCPF_ACK | TCPF_RST, "tcp_send_active_reset");
}

/* Appends skb (seq/end_seq/flags set) to the write queue, which the caller made sure of (Linux's tcp_skb_entail). */
static void tcp_skb_entail(struct sock *sk, struct sk_buff *skb)
{
	struct tcp_sock *tp = tcp_sk(sk);
	skb_queue_tail(tp->write_queue, skb);
	tcp_wmem_queued_add(tp, tcp_skb_truesize(skb));
	if (!tcp_send_head(tp))
		tcp_set_send_head(tp, skb);
}

/* RFC 9293 3.6: the FIN rides on the last unsent segment, or goes alone. */
void tcp_send_fin(struct sock *sk)
{
	struct tcp_sock *tp = tcp_sk(sk);
	struct sk_buff *tail = tcp_write_queue_tail(tp);
	if (tail && tcp_send_head(tp)) {
		TCP_SKB_CB(tail)->tcp_flags |= TCPF_FIN;
		TCP_SKB_CB(tail)->end_seq++;
		tp->write_seq++;
	} else {
		struct sk_buff *skb = tcp_write_queue_get(tp) == 0 ? alloc_skb(sk->stack, 0) : NULL;
		if (!skb)
			return;   /* out of memory: the peer's timers end it */
		struct tcp_skb_cb *tcb = TCP_SKB_CB(skb);
		memset(tcb, 0, sizeof(*tcb));
		tcb->seq = tp->write_seq;
		tcb->end_seq = tp->write_seq + 1;
		tcb->tcp_flags = TCPF_ACK | TCPF_FIN;
		tp->write_seq++;
		tcp_skb_entail(sk, skb);
	}
	__tcp_push_pending_frames(sk, tcp_current_mss(sk), TCP_NAGLE_OFF);
}

/* Queues our SYN (flags SYN or SYN|ACK) at ISS and sends it. */
static int tcp_queue_syn(struct sock *sk, uint8_t flags)
{
	struct tcp_sock *tp = tcp_sk(sk);
	struct sk_buff *skb = tcp_write_queue_get(tp) == 0 ? alloc_skb(sk->stack, 0) : NULL;
	if (!skb)
		return -ENOBUFS;
	struct tcp_skb_cb *tcb = TCP_SKB_CB(skb);
	memset(tcb, 0, sizeof(*tcb));
	tcb->seq = tp->iss;
	tcb->end_seq = tp->iss + 1;
	tcb->tcp_flags = flags;
	tp->snd_una = tp->iss;
	tp->snd_nxt = tp->iss;
	tp->write_seq = tp->iss + 1;
	tp->snd_sml = tp->iss;
	tp->high_seq = tp->iss;
	tp->max_packets_seq = tp->iss;
	tcp_skb_entail(sk, skb);
	tp->retrans_stamp = tcp_stamp_ms(sk->stack);
	tcp_transmit_skb(sk, skb, 1, TCP_XMIT_NEW);
	tcp_event_new_data_sent(sk, skb, tcp_current_mss(sk));
	return 0;
}

/*
 * Initial receive window (Linux's tcp_select_initial_window): what the SYN
 * or SYN-ACK announces, so at most 65535 (RFC 7323 2.2: never scaled), and
 * no more than TCP_WINDOW_CLAMP. SYN cookies use it too.
 */
uint32_t tcp_initial_rcv_wnd(const struct sock *sk, unsigned mss)
{
	const struct tcp_sock *tp = tcp_sk(sk);
	int space = tcp_win_from_space(sk->sk_rcvbuf);
	if (space > (int)TCP_MAX_WINDOW)
		space = TCP_MAX_WINDOW;
	if (tp->window_clamp && space > (int)tp->window_clamp)
		space = (int)tp->window_clamp;
	if (!mss)
		mss = TCP_MSS_DEFAULT;
	if ((unsigned)space > mss)
		space = (int)((unsigned)space / mss * mss);
	return (uint32_t)space;
}

static void tcp_init_rcv_wnd(struct sock *sk)
{
	struct tcp_sock *tp = tcp_sk(sk);
	tp->rcv_wnd = tcp_initial_rcv_wnd(sk, tp->advmss);
}

/* Linux's tcp_connect_init + tcp_connect: everything the SYN needs, then the SYN (RFC 9293 3.5). */
int tcp_connect(struct sock *sk)
{
	struct tcp_sock *tp = tcp_sk(sk);
	unsigned mss = tp->pmtu - IPV4_HLEN_MIN - TCP_HLEN_MIN;
	if (tp->user_mss && mss > tp->user_mss)
		mss = tp->user_mss;
	tp->advmss = (uint16_t)mss;
	tp->mss_clamp = TCP_MSS_DEFAULT;
	tcp_sync_mss(sk, tp->pmtu);
	tp->rcv_mss = (uint16_t)(tp->advmss < TCP_MSS_DEFAULT ? tp->advmss : TCP_MSS_DEFAULT);
	tcp_init_wscale(sk, sk->stack->sysctl.tcp_window_scaling != 0);
	tp->snd_wscale = 0;
	/* Autotuning measures afresh (a reconnect after disconnect keeps the grown buffer, as Linux). */
	tp->rcv_rtt_time = tp->rcvq_time = 0;
	tp->rcv_rtt_us = 0;
	tcp_init_rcv_wnd(sk);
	tp->rcv_nxt = 0;
	tp->rcv_wup = 0;
	tp->copied_seq = 0;
	tp->snd_wnd = 0;
	tp->max_window = 0;
	tp->rto_us = TCP_TIMEOUT_INIT_US;
	tp->backoff = 0;
	tp->retransmits = 0;
	int err = tcp_queue_syn(sk, TCPF_SYN);
	if (!err)
		NP_INC_STATS(sk->stack, TcpActiveOpens);
	return err;
}

/* Sends the queued SYN as SYN|ACK (passive open's child, or a simultaneous open: RFC 9293 3.5 fig. 8). */
int tcp_send_synack(struct sock *sk)
{
	struct tcp_sock *tp = tcp_sk(sk);
	struct sk_buff *skb = tcp_write_queue_head(tp);
	if (!skb || !(TCP_SKB_CB(skb)->tcp_flags & TCPF_SYN))
		return -EINVAL;
	TCP_SKB_CB(skb)->tcp_flags |= TCPF_ACK;
	return tcp_transmit_skb(sk, skb, 1, TCP_XMIT_NEW);
}

/* The child's SYN-ACK: queued so the retransmit timer covers it like any segment. */
int tcp_v4_send_synack_queued(struct sock *sk);
int tcp_v4_send_synack_queued(struct sock *sk)
{
	struct tcp_sock *tp = tcp_sk(sk);
	tp->rto_us = TCP_TIMEOUT_INIT_US;
	tcp_init_rcv_wnd(sk);
	tp->rcv_wup = tp->rcv_nxt;
	return tcp_queue_syn(sk, TCPF_SYN | TCPF_ACK);
}

/* ---- probes --------------------------------------------------------------------- */

/*
 * Linux's tcp_write_wakeup: if the window lets part of the send head go,
 * send it (cut to the window); else an ACK-only segment one below SND.UNA,
 * which the peer must answer with its current window (RFC 9293 3.8.6.1,
 * RFC 1122 4.2.3.6). 0 if something was sent, <0 if not.
 */
int tcp_write_wakeup(struct sock *sk)
{
	struct tcp_sock *tp = tcp_sk(sk);
	if (sk->sk_state == TCP_CLOSE)
		return -1;
	struct sk_buff *skb = tcp_send_head(tp);
	if (skb && before(TCP_SKB_CB(skb)->seq, tcp_wnd_end(tp))) {
		unsigned mss = tcp_current_mss(sk);
		uint32_t seg_size = tcp_wnd_end(tp) - TCP_SKB_CB(skb)->seq;
		if (seg_size < TCP_SKB_CB(skb)->end_seq - TCP_SKB_CB(skb)->seq || skb->len > mss) {
			if (seg_size > mss)
				seg_size = mss;
			TCP_SKB_CB(skb)->tcp_flags |= TCPF_PSH;
			if (seg_size < skb->len && tcp_fragment(sk, skb, seg_size, mss) < 0)
				return -1;
		}
		int err = tcp_transmit_skb(sk, skb, 1, TCP_XMIT_PROBE);
		if (!err)
			tcp_event_new_data_sent(sk, skb, mss);
		return err;
	}
	return tcp_send_bare(sk, tp->snd_una - 1, TCPF_ACK, "tcp_write_wakeup") < 0 ? -1 : 0;
}

/* Linux's tcp_send_probe0: one zero-window probe, then back off. */
void tcp_send_probe0(struct sock *sk)
{
	struct tcp_sock *tp = tcp_sk(sk);
	int err = tcp_write_wakeup(sk);
	if (tp->packets_out || !tcp_send_head(tp)) {
		/* The window opened (or everything went): back to normal retransmission. */
		tp->probes_out = 0;
		tp->backoff = 0;
		tp->probes_tstamp = 0;
		return;
	}
	NP_INC_STATS(sk->stack, TcpExtTCPWinProbe);
	tp->probes_out++;
	if (!tp->probes_tstamp)
		tp->probes_tstamp = tcp_stamp_ms(sk->stack);
	uint64_t timeout;
	if (err >= 0) {
		if (tp->backoff < 30)
			tp->backoff++;
		timeout = tcp_probe0_when(tp);
	} else {
		timeout = 500 * NSEC_PER_MSEC;
	}
	tcp_reset_xmit_timer(sk, ICSK_TIME_PROBE0, timeout);
}
