/*
 * TCP input: RFC 9293 3.10.7 "SEGMENT ARRIVES", step by step (Linux's
 * net/ipv4/tcp_input.c).
 * Place in the packet path (seed 001):
 *   tcp_v4_do_rcv -> tcp_rcv_established (ESTABLISHED)
 *                 -> tcp_rcv_state_process (LISTEN: tcp_conn_request;
 *                    SYN-SENT: tcp_rcv_synsent_state_process; the rest)
 *   both: tcp_validate_incoming (1 sequence, 2 RST, 4 SYN: RFC 5961) ->
 *         tcp_ack (5: RFC 5961 5.2, window update, tcp_clean_rtx_queue frees
 *         acknowledged skbs, RTT per RFC 6298, tcp_fastretrans_alert: NewReno
 *         RFC 5681/6582) -> tcp_data_queue (7: in order -> sk_receive_queue ->
 *         sk_data_ready; out of order -> tcp_data_queue_ofo; 8: tcp_fin)
 *         -> tcp_data_snd_check (send what the ACK opened) -> tcp_ack_snd_check
 *         (delayed ACK: every second full segment, 40 ms timer, quick-ack at start).
 * The urgent pointer is never used as an offset: urgent data stays inline.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/netdevice.h"
#include "core/stack.h"
#include "net/ipv4/route.h"
#include "net/tcp/tcp.h"
#include "trace/trace.h"
#include "wire/ipv4.h"

enum { ACK_SCHED = 1, ACK_NOW = 2 };
#define TCP_INFINITE_SSTHRESH 0x7fffffffu

static inline uint64_t tcp_now(const struct sock *sk) { return np_stack_now(sk->stack); }

/* ---- RTT and RTO (RFC 6298) -------------------------------------------------- */

/* RFC 6298 2.2/2.3 with alpha = 1/8, beta = 1/4. */
void tcp_rtt_estimator(struct tcp_sock *tp, uint32_t r)
{
	if (r == 0)
		r = 1;
	if (!tp->srtt_us) {
		tp->srtt_us = r;
		tp->rttvar_us = r / 2;
	} else {
		uint32_t delta = tp->srtt_us > r ? tp->srtt_us - r : r - tp->srtt_us;
		tp->rttvar_us = tp->rttvar_us - (tp->rttvar_us >> 2) + (delta >> 2);
		tp->srtt_us = tp->srtt_us - (tp->srtt_us >> 3) + (r >> 3);
	}
}

/* RTO = SRTT + max(G, 4 RTTVAR) (G = 1 ms), bounded by tcp_rto_min_ms (200 ms, Linux's floor) and tcp_rto_max_ms. */
void tcp_set_rto(struct sock *sk)
{
	struct tcp_sock *tp = tcp_sk(sk);
	uint32_t var = 4 * tp->rttvar_us;
	if (var < 1000)
		var = 1000;
	uint64_t rto = (uint64_t)tp->srtt_us + var;
	uint32_t min = tcp_rto_min_us(sk->stack), max = tcp_rto_max_us(sk->stack);
	if (rto < min)
		rto = min;
	if (rto > max)
		rto = max;
	tp->rto_us = (uint32_t)rto;
}

/* A valid sample (Karn: never from a retransmitted segment) also resets the back-off (RFC 6298 5.7). */
static void tcp_ack_update_rtt(struct sock *sk, uint32_t rtt_us)
{
	struct tcp_sock *tp = tcp_sk(sk);
	tcp_rtt_estimator(tp, rtt_us);
	tcp_set_rto(sk);
	tp->backoff = 0;
}

/* ---- congestion state ---------------------------------------------------------- */

/*
 * RTO fired (RFC 5681 3.1 (4), RFC 6298 5.5): ssthresh halves (once per
 * episode), cwnd restarts at one segment, and everything outstanding is
 * marked lost so it is resent from SND.UNA as the window grows (go-back-N,
 * Linux's tcp_enter_loss without SACK).
 */
void tcp_enter_loss(struct sock *sk)
{
	struct tcp_sock *tp = tcp_sk(sk);
	if (tp->ca_state <= TCP_CA_Disorder || !after(tp->high_seq, tp->snd_una) ||
	    (tp->ca_state == TCP_CA_Loss && !tp->retransmits)) {
		tp->prior_cwnd = tp->snd_cwnd;
		tp->snd_ssthresh = tp->ca_ops->ssthresh(tp);
		if (tp->ca_ops->cwnd_event)
			tp->ca_ops->cwnd_event(tp, CA_EVENT_LOSS);
	}
	tp->snd_cwnd = 1;
	tp->snd_cwnd_cnt = 0;
	tp->retrans_out = 0;
	tp->lost_out = 0;
	for (struct sk_buff *skb = tcp_write_queue_head(tp); skb && skb != tcp_send_head(tp);
	     skb = tcp_write_queue_next(tp, skb)) {
		struct tcp_skb_cb *tcb = TCP_SKB_CB(skb);
		tcb->sacked &= (uint8_t)~TCPCB_SACKED_RETRANS;
		tcb->sacked |= TCPCB_LOST;
		tp->lost_out++;
	}
	tp->dupacks = 0;
	tp->high_seq = tp->snd_nxt;
	tcp_set_ca_state(sk, TCP_CA_Loss);
}

/* RFC 5681 3.2 step 2-3 (Linux's tcp_enter_recovery for Reno): halve, inflate by 3, resend the head. */
static void tcp_enter_recovery(struct sock *sk)
{
	struct tcp_sock *tp = tcp_sk(sk);
	struct sk_buff *head = tcp_write_queue_head(tp);
	NP_INC_STATS(sk->stack, TcpExtTCPRenoRecovery);
	tp->prior_cwnd = tp->snd_cwnd;
	tp->snd_ssthresh = tp->ca_ops->ssthresh(tp);
	tp->snd_cwnd = tp->snd_ssthresh + TCP_REORDERING;
	tp->snd_cwnd_cnt = 0;
	tp->high_seq = tp->snd_nxt;
	tcp_set_ca_state(sk, TCP_CA_Recovery);
	if (head && head != tcp_send_head(tp)) {
		struct tcp_skb_cb *tcb = TCP_SKB_CB(head);
		if (!(tcb->sacked & TCPCB_LOST)) {
			tcb->sacked |= TCPCB_LOST;
			tp->lost_out++;
		}
		if (tcb->sacked & TCPCB_SACKED_RETRANS) {
			tcb->sacked &= (uint8_t)~TCPCB_SACKED_RETRANS;
			tp->retrans_out--;
		}
		/* RFC 5681: the lost segment goes now, whatever the window says. */
		if (!tcp_retransmit_skb(sk, head))
			NP_INC_STATS(sk->stack, TcpExtTCPFastRetrans);
	}
}

/* RFC 6582 3.2 step 5: a partial ACK in recovery: resend the next hole at once, deflate the window. */
static void tcp_partial_ack(struct sock *sk, uint32_t acked)
{
	struct tcp_sock *tp = tcp_sk(sk);
	struct sk_buff *head = tcp_write_queue_head(tp);
	tp->snd_cwnd = tp->snd_cwnd > acked ? tp->snd_cwnd - acked : 0;
	tp->snd_cwnd += 1;
	if (!head || head == tcp_send_head(tp))
		return;
	struct tcp_skb_cb *tcb = TCP_SKB_CB(head);
	if (!(tcb->sacked & TCPCB_LOST)) {
		tcb->sacked |= TCPCB_LOST;
		tp->lost_out++;
	}
	if (!(tcb->sacked & TCPCB_SACKED_RETRANS)) {
		if (!tcp_retransmit_skb(sk, head))
			NP_INC_STATS(sk->stack, TcpExtTCPFastRetrans);
	}
}

/*
 * Linux's tcp_fastretrans_alert for Reno: duplicate ACKs count towards fast
 * retransmit (RFC 5681 3.2), recovery lasts until everything outstanding
 * when it began is acknowledged (RFC 6582 "recover" = high_seq), and a loss
 * episode (RTO) ends the same way.
 */
static void tcp_fastretrans_alert(struct sock *sk, uint32_t prior_snd_una, uint32_t acked, int is_dupack)
{
	struct tcp_sock *tp = tcp_sk(sk);
	int advanced = after(tp->snd_una, prior_snd_una);

	switch (tp->ca_state) {
	case TCP_CA_Recovery:
		if (advanced) {
			if (!before(tp->snd_una, tp->high_seq)) {
				/* RFC 6582 3.2 step 6 (option 1): full ACK, leave with cwnd <= ssthresh. */
				uint32_t flight = tcp_packets_in_flight(tp);
				uint32_t w = (flight > 1 ? flight : 1) + 1;
				tp->snd_cwnd = w < tp->snd_ssthresh ? w : tp->snd_ssthresh;
				tp->dupacks = 0;
				tcp_set_ca_state(sk, TCP_CA_Open);
			} else {
				tcp_partial_ack(sk, acked);
			}
		} else if (is_dupack) {
			/* RFC 5681 3.2 step 4: each further duplicate inflates cwnd by one segment. */
			tp->snd_cwnd++;
		}
		break;
	case TCP_CA_Loss:
		if (!before(tp->snd_una, tp->high_seq)) {
			tp->dupacks = 0;
			tcp_set_ca_state(sk, TCP_CA_Open);
		}
		break;
	default:
		if (advanced) {
			tp->dupacks = 0;
		} else if (is_dupack) {
			tp->dupacks++;
			/* RFC 6582 3.2 step 1: not again for data sent before the last recovery ended. */
			if (tp->dupacks >= TCP_REORDERING && after(tp->snd_una, tp->high_seq))
				tcp_enter_recovery(sk);
		}
		break;
	}
}

/* ---- RFC 5961 and out-of-window ACKs ---------------------------------------- */

/*
 * Linux's tcp_oow_rate_limited: ACKs sent in answer to out-of-window or
 * otherwise unacceptable segments are limited per socket to one per
 * tcp_invalid_ratelimit ms, so two stacks cannot be driven into an ACK loop
 * and a blind attacker gets no amplification. Segments with data are never
 * limited. 1 if this one must be skipped.
 */
int tcp_oow_rate_limited(struct sock *sk, const struct sk_buff *skb)
{
	struct tcp_sock *tp = tcp_sk(sk);
	const struct tcp_skb_cb *tcb = TCP_SKB_CB(skb);
	if (skb && tcb->seq != tcb->end_seq && !(tcb->tcp_flags & TCPF_SYN))
		return 0;
	uint64_t lim = (uint64_t)sk->stack->sysctl.tcp_invalid_ratelimit * NSEC_PER_MSEC;
	if (tp->last_oow_ack_time && tcp_ms_since(sk->stack, tp->last_oow_ack_time) < lim)
		return 1;
	tp->last_oow_ack_time = tcp_stamp_ms(sk->stack);
	return 0;
}

/* RFC 5961 3.2/4.2/5.2 challenge ACK, per-socket and per-stack rate limited (RFC 5961 10). */
void tcp_send_challenge_ack(struct sock *sk, int syn)
{
	struct np_stack *s = sk->stack;
	struct tcp_sock *tp = tcp_sk(sk);
	uint64_t lim = (uint64_t)s->sysctl.tcp_invalid_ratelimit * NSEC_PER_MSEC;
	if (tp->last_oow_ack_time && tcp_ms_since(s, tp->last_oow_ack_time) < lim) {
		NP_INC_STATS(s, TcpExtTCPACKSkippedChallenge);
		return;
	}
	if (!tcp_challenge_ack_allowed(s)) {
		NP_INC_STATS(s, TcpExtTCPACKSkippedChallenge);
		return;
	}
	tp->last_oow_ack_time = tcp_stamp_ms(s);
	NP_INC_STATS(s, TcpExtTCPChallengeACK);
	if (syn)
		NP_INC_STATS(s, TcpExtTCPSYNChallenge);
	tcp_send_ack(sk);
}

/* RFC 9293 3.10.7.4 step 1: the acceptability test, over the window we last advertised. */
static int tcp_sequence(const struct tcp_sock *tp, uint32_t seq, uint32_t end_seq)
{
	uint32_t wnd = tcp_receive_window(tp);
	uint32_t len = end_seq - seq;
	if (len == 0) {
		if (wnd == 0)
			return seq == tp->rcv_nxt;
		return !before(seq, tp->rcv_nxt) && before(seq, tp->rcv_nxt + wnd);
	}
	if (wnd == 0)
		/* "Special allowance" for ACKs and RSTs: the segment is processed, its data dropped as zero window. */
		return seq == tp->rcv_nxt;
	int head_in = !before(seq, tp->rcv_nxt) && before(seq, tp->rcv_nxt + wnd);
	int tail_in = !before(end_seq - 1, tp->rcv_nxt) && before(end_seq - 1, tp->rcv_nxt + wnd);
	return head_in || tail_in;
}

/* ---- sending from input ------------------------------------------------------------- */

/* Linux's __tcp_ack_snd_check: now, or later (delayed ACK). */
static void tcp_ack_snd_check(struct sock *sk)
{
	struct tcp_sock *tp = tcp_sk(sk);
	if (!tp->ack_pending)
		return;
	if ((tp->rcv_nxt - tp->rcv_wup > tp->rcv_mss && __tcp_select_window(sk) >= tp->rcv_wnd) ||
	    (tp->quick && !tp->pingpong) || (tp->ack_pending & ACK_NOW) || !tcp_ofo_empty(tp)) {
		tcp_send_ack(sk);
		return;
	}
	tcp_send_delayed_ack(sk);
}

/* Linux's tcp_sndbuf_expand: room for two windows of full segments, unless the user fixed SO_SNDBUF. */
static void tcp_sndbuf_expand(struct sock *sk)
{
	struct tcp_sock *tp = tcp_sk(sk);
	if (sk->sk_userlocks & SOCK_SNDBUF_LOCK)
		return;
	uint32_t per_mss = (uint32_t)(NP_SKB_HEADROOM + tp->mss_cache + sizeof(struct sk_buff) + 64);
	uint32_t nr = tp->snd_cwnd > TCP_INIT_CWND ? tp->snd_cwnd : TCP_INIT_CWND;
	uint64_t sndmem = 2ull * nr * per_mss;
	if (sndmem > (uint64_t)sk->stack->sysctl.tcp_wmem_max)
		sndmem = (uint64_t)sk->stack->sysctl.tcp_wmem_max;
	if ((int)sndmem > sk->sk_sndbuf)
		sk->sk_sndbuf = (int)sndmem;
}

/* Linux's tcp_check_space: acknowledged data made room: wake a writer waiting for it. */
static void tcp_check_space(struct sock *sk)
{
	struct tcp_sock *tp = tcp_sk(sk);
	if (tp->snd_cwnd > TCP_INIT_CWND)
		tcp_sndbuf_expand(sk);
	if (tp->nospace && sk->sk_sndbuf - tcp_wmem_queued(tp) >= tcp_wmem_queued(tp) / 2) {
		tp->nospace = 0;
		if (!(sk->sk_flags & SOCK_DEAD_))
			sk_cb(sk)->sk_write_space(sk);
	}
}

static void tcp_data_snd_check(struct sock *sk)
{
	tcp_push_pending_frames(sk);
	tcp_check_space(sk);
}

/* ---- ACK processing (RFC 9293 3.10.7.4 step 5) ----------------------------------- */

/*
 * Linux's tcp_clean_rtx_queue: frees every skb the ACK covers (the only place
 * a sent TCP skb is freed, seed 003), trims a partly covered one, and takes
 * an RTT sample from a segment never retransmitted (Karn). Returns the number
 * of segments acked.
 */
static uint32_t tcp_clean_rtx_queue(struct sock *sk, int *retrans_acked)
{
	struct tcp_sock *tp = tcp_sk(sk);
	uint64_t now = tcp_now(sk), first_ackt = 0;
	uint32_t acked = 0;
	struct sk_buff *skb;

	*retrans_acked = 0;
	while ((skb = tcp_write_queue_head(tp)) != NULL && skb != tcp_send_head(tp)) {
		struct tcp_skb_cb *tcb = TCP_SKB_CB(skb);
		if (after(tcb->end_seq, tp->snd_una)) {
			/* Partly acknowledged: keep the rest (nothing of it can be freed yet). */
			if (before(tcb->seq, tp->snd_una) && skb->len && !(tcb->tcp_flags & TCPF_SYN)) {
				uint32_t n = tp->snd_una - tcb->seq;
				if (n < skb->len)
					tcp_trim_head(sk, skb, n);
			}
			break;
		}
		if (tcb->sacked & TCPCB_EVER_RETRANS)
			*retrans_acked = 1;
		else if (!first_ackt)
			first_ackt = tcb->when;
		if (tcb->sacked & TCPCB_LOST)
			tp->lost_out--;
		if (tcb->sacked & TCPCB_SACKED_RETRANS)
			tp->retrans_out--;
		tp->packets_out--;
		acked++;
		skb_unlink(skb, tp->write_queue);
		tcp_wmem_free_skb(sk, skb);
	}
	tcp_write_queue_release_if_empty(tp);
	if (first_ackt && !*retrans_acked && now >= first_ackt)
		tcp_ack_update_rtt(sk, (uint32_t)((now - first_ackt) / NSEC_PER_USEC));
	if (tp->ca_ops->pkts_acked && acked)
		tp->ca_ops->pkts_acked(tp, acked, tp->srtt_us);
	/* Nothing retransmitted is outstanding any more: the give-up clock restarts. */
	skb = tcp_write_queue_head(tp);
	if (!skb || skb == tcp_send_head(tp) || !(TCP_SKB_CB(skb)->sacked & TCPCB_EVER_RETRANS))
		tp->retrans_stamp = 0;
	return acked;
}

/* Linux's tcp_may_update_window / RFC 9293 (SND.WL1 < SEG.SEQ or (= and SND.WL2 =< SEG.ACK)). */
static int tcp_may_update_window(const struct tcp_sock *tp, uint32_t ack, uint32_t ack_seq, uint32_t nwin)
{
	return after(ack, tp->snd_una) || after(ack_seq, tp->snd_wl1) ||
	       (ack_seq == tp->snd_wl1 && (nwin > tp->snd_wnd || !nwin));
}

/*
 * Linux's tcp_ack. RFC 5961 5.2: an ACK is acceptable only within
 * [SND.UNA - MAX.SND.WND, SND.NXT]; beyond SND.NXT or too old it earns a
 * (rate-limited) ACK and the segment is dropped (<0). An old but
 * acceptable ACK (0) changes nothing but the segment's data still counts.
 */
static int tcp_ack(struct sock *sk, const struct sk_buff *skb, const struct tcp_repr *th)
{
	struct tcp_sock *tp = tcp_sk(sk);
	const struct tcp_skb_cb *tcb = TCP_SKB_CB(skb);
	uint32_t prior_snd_una = tp->snd_una;
	uint32_t ack = tcb->ack_seq;
	uint32_t nwin = th->window;
	int window_changed = 0;

	/* RFC 7323 2.2: every window but a SYN's counts units of the peer's shift. */
	if (!(tcb->tcp_flags & TCPF_SYN))
		nwin <<= tp->snd_wscale;

	if (before(ack, prior_snd_una)) {
		uint32_t max_wnd = tp->max_window ? tp->max_window : 1;
		if (before(ack, prior_snd_una - max_wnd)) {
			tcp_send_challenge_ack(sk, 0);
			return -NP_DROP_TCP_TOO_OLD_ACK;
		}
		return 0;
	}
	if (after(ack, tp->snd_nxt)) {
		tcp_send_challenge_ack(sk, 0);
		return -NP_DROP_TCP_ACK_UNSENT_DATA;
	}

	tp->rcv_tstamp = tcp_stamp_ms(sk->stack);
	tp->probes_out = 0;
	if (tcp_may_update_window(tp, ack, tcb->seq, nwin)) {
		if (tp->snd_wnd != nwin) {
			window_changed = 1;
			tp->snd_wnd = nwin;
			if (nwin > tp->max_window)
				tp->max_window = nwin;
		}
		tp->snd_wl1 = tcb->seq;
	}

	uint32_t acked = 0;
	int retrans_acked = 0;
	if (after(ack, prior_snd_una)) {
		tp->snd_una = ack;
		tp->retransmits = 0;
		acked = tcp_clean_rtx_queue(sk, &retrans_acked);
		tcp_rearm_rto(sk);
	}
	int is_dupack = !after(ack, prior_snd_una) && tcb->seq == tcb->end_seq && !window_changed &&
			tp->packets_out && !(tcb->tcp_flags & (TCPF_SYN | TCPF_FIN));
	if (tcb->seq == tcb->end_seq)
		NP_INC_STATS(sk->stack, TcpExtTCPPureAcks);

	tcp_fastretrans_alert(sk, prior_snd_una, acked, is_dupack);
	if (acked && tp->ca_state != TCP_CA_Recovery)
		tp->ca_ops->cong_avoid(tp, ack, acked);
	if (tp->ca_state == TCP_CA_Recovery || tp->ca_state == TCP_CA_Loss)
		tcp_xmit_retransmit_queue(sk);

	/* Linux's tcp_ack_probe: the window opened under a zero-window probe: stop probing. */
	if (tp->pending == ICSK_TIME_PROBE0 && tcp_send_head(tp) &&
	    !after(TCP_SKB_CB(tcp_send_head(tp))->end_seq, tcp_wnd_end(tp))) {
		tp->backoff = 0;
		tp->probes_tstamp = 0;
		tcp_timer_del(sk, TCP_TIMER_WRITE);
		tp->pending = 0;
	}
	return 1;
}

/* ---- data (RFC 9293 3.10.7.4 step 7, 8) --------------------------------------- */

/* Linux's tcp_enter_quickack_mode / tcp_incr_quickack. */
static void tcp_incr_quickack(struct tcp_sock *tp)
{
	uint32_t q = tp->rcv_wnd / (2u * (tp->rcv_mss ? tp->rcv_mss : TCP_MSS_DEFAULT));
	if (q == 0)
		q = 2;
	if (q > TCP_MAX_QUICKACKS)
		q = TCP_MAX_QUICKACKS;
	if (q > tp->quick)
		tp->quick = (uint8_t)q;
}

static void tcp_enter_quickack_mode(struct tcp_sock *tp)
{
	tcp_incr_quickack(tp);
	tp->pingpong = 0;
}

/*
 * Linux's tcp_rcv_rtt_measure (no timestamps): the time the peer takes to
 * fill the window we offered is at least one RTT; the smallest sample is
 * the receiver's RTT, which paces receive-buffer autotuning.
 */
static void tcp_rcv_rtt_measure(struct tcp_sock *tp, uint32_t now_us)
{
	if (tp->rcv_rtt_time) {
		if (before(tp->rcv_nxt, tp->rcv_rtt_seq))
			return;
		uint64_t us = (uint32_t)(now_us - tp->rcv_rtt_time);
		if (us == 0)
			us = 1;
		if (us > UINT32_MAX)
			us = UINT32_MAX;
		if (!tp->rcv_rtt_us || us < tp->rcv_rtt_us)
			tp->rcv_rtt_us = (uint32_t)us;
	}
	tp->rcv_rtt_seq = tp->rcv_nxt + tp->rcv_wnd;
	tp->rcv_rtt_time = now_us;
}

/*
 * Linux's tcp_rcv_space_adjust (dynamic right-sizing): once per receiver
 * RTT, if the reader took more than in the previous RTT, the buffer grows
 * to hold about twice that (plus the growth rate), up to tcp_rmem_max, so
 * the window (scaled, RFC 7323) can cover the path's bandwidth-delay
 * product. A buffer the user fixed with SO_RCVBUF stays as it is. The
 * buffer is a limit: nothing is allocated until data arrives.
 */
void tcp_rcv_space_adjust(struct sock *sk)
{
	struct tcp_sock *tp = tcp_sk(sk);
	uint32_t now_us = tcp_stamp_us(sk->stack);
	if (!tp->rcvq_time) {
		uint32_t init = (uint32_t)TCP_INIT_CWND * tp->advmss;
		tp->rcvq_space = tp->rcv_wnd < init ? tp->rcv_wnd : init;
		if (!tp->rcvq_space)
			tp->rcvq_space = tp->advmss ? tp->advmss : TCP_MSS_DEFAULT;
		goto new_measure;
	}
	if (!tp->rcv_rtt_us || (uint32_t)(now_us - tp->rcvq_time) < tp->rcv_rtt_us)
		return;
	uint32_t copied = tp->copied_seq - tp->rcvq_seq;
	if (copied <= tp->rcvq_space)
		goto new_measure;
	if (sk->stack->sysctl.tcp_moderate_rcvbuf && !(sk->sk_userlocks & SOCK_RCVBUF_LOCK)) {
		uint64_t rcvwin = 2ull * copied + 16ull * tp->advmss;
		uint64_t grow = rcvwin * (copied - tp->rcvq_space) / tp->rcvq_space;
		rcvwin += grow << 1;
		/* The buffer that offers rcvwin (the inverse of tcp_win_from_space: half is overhead). */
		uint64_t rcvbuf = rcvwin << 1;
		if (rcvbuf > (uint64_t)sk->stack->sysctl.tcp_rmem_max)
			rcvbuf = (uint64_t)sk->stack->sysctl.tcp_rmem_max;
		if (rcvbuf > (uint64_t)sk->sk_rcvbuf)
			sk->sk_rcvbuf = (int)rcvbuf;
	}
	tp->rcvq_space = copied;
new_measure:
	tp->rcvq_seq = tp->copied_seq;
	tp->rcvq_time = now_us;
}

/* Linux's tcp_event_data_recv: the delayed-ACK engine learns the peer's segment size and pace. */
static void tcp_event_data_recv(struct sock *sk, uint32_t len)
{
	struct tcp_sock *tp = tcp_sk(sk);
	uint64_t now_ns = tcp_now(sk);   /* one clock read for both stamps */
	uint32_t now = tcp_ns_to_stamp_ms(now_ns);
	tcp_rcv_rtt_measure(tp, tcp_ns_to_stamp_us(now_ns));
	if (len > tp->rcv_mss)
		tp->rcv_mss = (uint16_t)(len < tp->advmss ? len : tp->advmss);
	if (!tp->ato_set) {
		tp->ato_set = 1;
		tcp_incr_quickack(tp);
	} else if ((uint64_t)(uint32_t)(now - tp->lrcvtime) * NSEC_PER_MSEC > (uint64_t)tp->rto_us * NSEC_PER_USEC) {
		/* A long gap: the sender restarts slow, so ACK quickly again. */
		tcp_incr_quickack(tp);
	}
	tp->lrcvtime = now;
	tp->ack_pending |= ACK_SCHED;
}

#define TCP_COLLAPSE_CHUNK 16384u

/*
 * Linux's tcp_collapse: copies the unread bytes of the receive queue into
 * compact buffers, so the per-segment overhead of many small segments (or a
 * small SO_RCVBUF) does not use up the buffer the window promised.
 */
static void tcp_collapse_receive_queue(struct sock *sk)
{
	struct tcp_sock *tp = tcp_sk(sk);
	struct sk_buff_head *q = sk->sk_receive_queue;
	struct sk_buff_head nq;
	uint32_t total = 0;
	int old_cost = 0;

	if (!q || q->qlen < 2)
		return;
	for (struct sk_buff *p = skb_peek(q); p; p = p->next == (struct sk_buff *)q ? NULL : p->next) {
		uint32_t start = seq_max(TCP_SKB_CB(p)->seq, tp->copied_seq);
		if (after(TCP_SKB_CB(p)->end_seq, start))
			total += TCP_SKB_CB(p)->end_seq - start;
		old_cost += tcp_skb_truesize(p);
	}
	skb_queue_head_init(&nq);
	int new_cost = 0;
	uint32_t seq = tp->copied_seq, left = total;
	struct sk_buff *src = skb_peek(q);
	while (left) {
		uint32_t n = left < TCP_COLLAPSE_CHUNK ? left : TCP_COLLAPSE_CHUNK;
		struct sk_buff *nskb = alloc_skb(sk->stack, n);
		if (!nskb) {
			skb_queue_purge_reason(&nq, NP_DROP_NOMEM);
			return;
		}
		struct tcp_skb_cb *ncb = TCP_SKB_CB(nskb);
		memset(ncb, 0, sizeof(*ncb));
		ncb->seq = seq;
		ncb->end_seq = seq + n;
		uint32_t filled = 0;
		while (filled < n && src) {
			uint32_t off = seq - TCP_SKB_CB(src)->seq;
			if (off >= src->len) {
				src = src->next == (struct sk_buff *)q ? NULL : src->next;
				continue;
			}
			uint32_t c = src->len - off < n - filled ? src->len - off : n - filled;
			memcpy(skb_put(nskb, c), src->data + off, c);
			filled += c;
			seq += c;
		}
		left -= n;
		new_cost += tcp_skb_truesize(nskb);
		skb_queue_tail(&nq, nskb);
	}
	if (new_cost >= old_cost) {
		skb_queue_purge_reason(&nq, NP_DROP_NOMEM);
		return;
	}
	struct sk_buff *skb;
	while ((skb = skb_dequeue(q)) != NULL)
		consume_skb(skb);
	while ((skb = skb_dequeue(&nq)) != NULL)
		skb_queue_tail(q, skb);
	sk->sk_rmem_alloc += new_cost - old_cost;
}

/* Charges an skb to the receive buffer; compacts, then prunes the out-of-order queue if needed. 0 or -ENOMEM. */
static void tcp_prune_ofo_queue(struct sock *sk, int need);
static int tcp_try_rmem_schedule(struct sock *sk, int size)
{
	/* As Linux: the check is on what is already queued, so one segment may overshoot the buffer. */
	if (sk->sk_rmem_alloc <= sk->sk_rcvbuf)
		return 0;
	tcp_collapse_receive_queue(sk);
	if (sk->sk_rmem_alloc <= sk->sk_rcvbuf)
		return 0;
	tcp_prune_ofo_queue(sk, 0);
	return sk->sk_rmem_alloc <= sk->sk_rcvbuf ? 0 : -ENOMEM;
}

/*
 * Appends in-order data (skb data at the payload, TCP_SKB_CB seq at its
 * first byte) to sk_receive_queue. Small segments are copied into the tail
 * when it has room (Linux's tcp_try_coalesce), so a stream of tiny
 * segments does not cost one buffer each. Consumes skb. `charged`: the
 * caller already counted skb in sk_rmem_alloc.
 */
static void tcp_queue_rcv(struct sock *sk, struct sk_buff *skb, int charged)
{
	struct tcp_sock *tp = tcp_sk(sk);
	struct sk_buff_head *q = sk->sk_receive_queue;   /* the callers made sure of it */
	struct sk_buff *tail = q->prev;
	struct tcp_skb_cb *tcb = TCP_SKB_CB(skb);
	trace_stage(skb, "tcp_queue_rcv");
	if (tail != (struct sk_buff *)q && skb->len &&
	    skb_shinfo(tail)->dataref == 1 && skb_tailroom(tail) >= skb->len &&
	    TCP_SKB_CB(tail)->end_seq == tcb->seq && skb->len <= 512) {
		memcpy(skb_put(tail, skb->len), skb->data, skb->len);
		TCP_SKB_CB(tail)->end_seq += skb->len;
		q->bytes += skb->len;
		if (charged)
			sk->sk_rmem_alloc -= tcp_skb_truesize(skb);
		consume_skb(skb);
		return;
	}
	(void)tp;
	if (!charged)
		sk->sk_rmem_alloc += tcp_skb_truesize(skb);
	tcb->end_seq = tcb->seq + skb->len;   /* the queue holds data only; FIN is a state */
	skb->sk = NULL;
	skb_queue_tail(q, skb);
}

/* RFC 9293 3.10.7.4 step 8 (Linux's tcp_fin): the peer's FIN is in sequence. */
static void tcp_fin(struct sock *sk)
{
	struct tcp_sock *tp = tcp_sk(sk);

	sk->sk_shutdown |= RCV_SHUTDOWN;
	sk->sk_flags |= SOCK_DONE_;
	tp->ack_pending |= ACK_SCHED | ACK_NOW;
	switch (sk->sk_state) {
	case TCP_SYN_RECV:
	case TCP_ESTABLISHED:
		tcp_set_state(sk, TCP_CLOSE_WAIT);
		tp->pingpong = 1;
		break;
	case TCP_CLOSE_WAIT:
	case TCP_CLOSING:
	case TCP_LAST_ACK:
		/* A retransmitted FIN: nothing new. */
		break;
	case TCP_FIN_WAIT1:
		/* Simultaneous close (RFC 9293 3.6, figure 13): ACK their FIN, wait for ours to be ACKed. */
		tcp_send_ack(sk);
		tcp_set_state(sk, TCP_CLOSING);
		break;
	case TCP_FIN_WAIT2:
		tcp_send_ack(sk);
		tcp_time_wait(sk);
		return;
	default:
		break;
	}
	/* Nothing can follow a FIN. */
	if (tp->ofo_queue)
		skb_queue_purge_reason(tp->ofo_queue, NP_DROP_TCP_FIN);
	tcp_ofo_release_if_empty(tp);
	if (!(sk->sk_flags & SOCK_DEAD_)) {
		sk_cb(sk)->sk_state_change(sk);
	}
}

/* Drops out-of-order data from the highest sequence down until size fits (Linux's tcp_prune_ofo_queue). */
static void tcp_prune_ofo_queue(struct sock *sk, int need)
{
	struct tcp_sock *tp = tcp_sk(sk);
	struct sk_buff *skb;
	int pruned = 0;
	while (sk->sk_rmem_alloc + need > sk->sk_rcvbuf && tp->ofo_queue &&
	       (skb = skb_dequeue_tail(tp->ofo_queue)) != NULL) {
		sk->sk_rmem_alloc -= tcp_skb_truesize(skb);
		kfree_skb_reason(skb, NP_DROP_TCP_OFO_QUEUE_PRUNE);
		pruned = 1;
	}
	tcp_ofo_release_if_empty(tp);
	if (pruned)
		NP_INC_STATS(sk->stack, TcpExtOfoPruned);
}

/*
 * Linux's tcp_data_queue_ofo: keep a segment that arrived ahead of a hole,
 * sorted by sequence. Duplicates and covered data are dropped, segments the
 * new one covers are replaced; the queue is bounded by the receive buffer
 * and TCP_OFO_MAX_SEGS, so no peer can make it grow (or its walk cost) without
 * bound. Consumes skb (data at the payload).
 */
static void tcp_data_queue_ofo(struct sock *sk, struct sk_buff *skb)
{
	struct tcp_sock *tp = tcp_sk(sk);
	struct np_stack *s = sk->stack;
	struct tcp_skb_cb *tcb = TCP_SKB_CB(skb);
	uint32_t seq = tcb->seq, end_seq = tcb->end_seq;

	trace_stage(skb, "tcp_data_queue_ofo");
	NP_INC_STATS(s, TcpExtTCPOFOQueue);
	tp->ack_pending |= ACK_SCHED | ACK_NOW;   /* RFC 5681 4.2: a hole is reported at once (dup ACK) */

	if (tcp_try_rmem_schedule(sk, tcp_skb_truesize(skb)) < 0) {
		NP_INC_STATS(s, TcpExtTCPOFODrop);
		kfree_skb_reason(skb, NP_DROP_TCP_OFO_DROP);
		return;
	}
	if (!tp->ofo_queue) {
		if (!(tp->ofo_queue = malloc(sizeof(*tp->ofo_queue)))) {
			NP_INC_STATS(s, TcpExtTCPOFODrop);
			kfree_skb_reason(skb, NP_DROP_TCP_OFO_DROP);
			return;
		}
		skb_queue_head_init(tp->ofo_queue);
	}
	struct sk_buff_head *q = tp->ofo_queue;   /* not empty after this call: skb goes in */
	if (q->qlen >= TCP_OFO_MAX_SEGS) {
		struct sk_buff *last = skb_peek(q) ? q->prev : NULL;
		if (last && after(TCP_SKB_CB(last)->seq, seq)) {
			skb_unlink(last, q);
			sk->sk_rmem_alloc -= tcp_skb_truesize(last);
			kfree_skb_reason(last, NP_DROP_TCP_OFO_QUEUE_PRUNE);
			NP_INC_STATS(s, TcpExtOfoPruned);
		} else {
			NP_INC_STATS(s, TcpExtTCPOFODrop);
			kfree_skb_reason(skb, NP_DROP_TCP_OFO_DROP);
			return;
		}
	}
	/* Walk back from the tail: in-order arrivals behind one hole append in O(1). */
	struct sk_buff *p = q->prev;
	while (p != (struct sk_buff *)q && after(TCP_SKB_CB(p)->seq, seq))
		p = p->prev;
	if (p != (struct sk_buff *)q) {
		struct tcp_skb_cb *pcb = TCP_SKB_CB(p);
		if (!after(end_seq, pcb->end_seq)) {
			/* All of it is here already. */
			NP_INC_STATS(s, TcpExtTCPOFOMerge);
			kfree_skb_reason(skb, NP_DROP_TCP_OFOMERGE);
			return;
		}
		if (pcb->seq == seq) {
			/* Same start, longer: the new one replaces it. */
			struct sk_buff *prev = p->prev;
			skb_unlink(p, q);
			sk->sk_rmem_alloc -= tcp_skb_truesize(p);
			NP_INC_STATS(s, TcpExtTCPOFOMerge);
			kfree_skb_reason(p, NP_DROP_TCP_OFOMERGE);
			p = prev;
		}
	}
	/* Later segments the new one covers entirely go. */
	struct sk_buff *next = p->next;
	while (next != (struct sk_buff *)q && !after(TCP_SKB_CB(next)->end_seq, end_seq)) {
		struct sk_buff *n2 = next->next;
		skb_unlink(next, q);
		sk->sk_rmem_alloc -= tcp_skb_truesize(next);
		NP_INC_STATS(s, TcpExtTCPOFOMerge);
		kfree_skb_reason(next, NP_DROP_TCP_OFOMERGE);
		next = n2;
	}
	/* Insert after p (p may be the queue head itself). */
	skb->prev = p;
	skb->next = p->next;
	p->next->prev = skb;
	p->next = skb;
	q->qlen++;
	q->bytes += skb->len;
	sk->sk_rmem_alloc += tcp_skb_truesize(skb);
}

/* Linux's tcp_ofo_queue: the hole filled; move what is now in order to the receive queue. */
static void tcp_ofo_queue(struct sock *sk)
{
	struct tcp_sock *tp = tcp_sk(sk);
	struct sk_buff *skb;
	if (sk_receive_queue_get(sk) < 0)
		return;   /* no memory: the data waits on ofo_queue */
	while (tp->ofo_queue && (skb = skb_peek(tp->ofo_queue)) != NULL && !after(TCP_SKB_CB(skb)->seq, tp->rcv_nxt)) {
		struct tcp_skb_cb *tcb = TCP_SKB_CB(skb);
		skb_unlink(skb, tp->ofo_queue);
		tcp_ofo_release_if_empty(tp);
		trace_stage(skb, "tcp_ofo_queue");
		if (!after(tcb->end_seq, tp->rcv_nxt)) {
			sk->sk_rmem_alloc -= tcp_skb_truesize(skb);
			kfree_skb_reason(skb, NP_DROP_TCP_OFOMERGE);
			continue;
		}
		if (before(tcb->seq, tp->rcv_nxt)) {
			uint32_t n = tp->rcv_nxt - tcb->seq;
			skb_pull(skb, n);
			tcb->seq += n;
		}
		int fin = !!(tcb->tcp_flags & TCPF_FIN);
		tp->rcv_nxt = tcb->end_seq;
		if (skb->len) {
			tcp_queue_rcv(sk, skb, 1);
		} else {
			sk->sk_rmem_alloc -= tcp_skb_truesize(skb);
			consume_skb(skb);
		}
		if (fin) {
			tcp_fin(sk);
			break;
		}
	}
}

/*
 * Linux's tcp_data_queue. Consumes skb (data at the TCP header; TCP_SKB_CB's
 * hlen says where the payload starts).
 */
static void tcp_data_queue(struct sock *sk, struct sk_buff *skb)
{
	struct tcp_sock *tp = tcp_sk(sk);
	struct np_stack *s = sk->stack;
	struct tcp_skb_cb *tcb = TCP_SKB_CB(skb);
	enum np_drop_reason reason;

	trace_stage(skb, "tcp_data_queue");
	skb_pull(skb, tcb->hlen);
	if (tcb->tcp_flags & TCPF_SYN) {
		/* Only the special SYN-ACK of a simultaneous open gets here: its SYN is already counted. */
		tcb->seq++;
	}
	if (tcb->seq == tcb->end_seq) {
		consume_skb(skb);
		return;
	}
	uint32_t len = skb->len;

	if (tcb->seq == tp->rcv_nxt) {
		if (tcp_receive_window(tp) == 0) {
			/* A bare FIN is accepted even then (Linux): it costs no buffer. */
			if (!(len == 0 && (tcb->tcp_flags & TCPF_FIN))) {
				NP_INC_STATS(s, TcpExtTCPZeroWindowDrop);
				reason = NP_DROP_TCP_ZEROWINDOW;
				goto out_of_window;
			}
		}
queue_and_out:
		if (len && tcp_try_rmem_schedule(sk, tcp_skb_truesize(skb)) < 0) {
			NP_INC_STATS(s, TcpExtTCPRcvQDrop);
			reason = NP_DROP_PROTO_MEM;
			goto out_of_window;
		}
		if (len && sk_receive_queue_get(sk) < 0) {   /* the queue the in-order data goes to */
			NP_INC_STATS(s, TcpExtTCPRcvQDrop);
			reason = NP_DROP_NOMEM;
			goto out_of_window;
		}
		int fin = !!(tcb->tcp_flags & TCPF_FIN);
		tp->rcv_nxt = tcb->end_seq;
		if (len) {
			tcp_event_data_recv(sk, len);
			tcp_queue_rcv(sk, skb, 0);
		} else {
			tp->ack_pending |= ACK_SCHED;
			consume_skb(skb);
		}
		if (fin)
			tcp_fin(sk);
		if (!tcp_ofo_empty(tp)) {
			tcp_ofo_queue(sk);
			/* RFC 5681 4.2: ACK at once when a segment fills a hole. */
			if (tcp_ofo_empty(tp))
				tp->ack_pending |= ACK_NOW;
		}
		if (!(sk->sk_flags & SOCK_DEAD_) && len)
			sk_cb(sk)->sk_data_ready(sk);
		return;
	}

	if (!after(tcb->end_seq, tp->rcv_nxt)) {
		/* A retransmission of what we have: ACK at once so the sender learns (RFC 9293 step 1). */
		reason = NP_DROP_TCP_OLD_DATA;
		goto out_of_window;
	}
	if (!before(tcb->seq, tp->rcv_nxt + tcp_receive_window(tp))) {
		reason = NP_DROP_TCP_OVERWINDOW;
		goto out_of_window;
	}
	if (before(tcb->seq, tp->rcv_nxt)) {
		/* Partly old: keep the new part. */
		uint32_t n = tp->rcv_nxt - tcb->seq;
		skb_pull(skb, n);
		tcb->seq += n;
		len = skb->len;
		if (!tcp_receive_window(tp)) {
			NP_INC_STATS(s, TcpExtTCPZeroWindowDrop);
			reason = NP_DROP_TCP_ZEROWINDOW;
			goto out_of_window;
		}
		goto queue_and_out;
	}
	tcp_data_queue_ofo(sk, skb);
	return;

out_of_window:
	tcp_enter_quickack_mode(tp);
	tp->ack_pending |= ACK_SCHED | ACK_NOW;
	kfree_skb_reason(skb, reason);
}

/* ---- validation (RFC 9293 steps 1-4 with RFC 5961) ------------------------------- */

/* Linux's tcp_reset: the peer reset the connection (RFC 9293 3.10.7.4 step 2). */
void tcp_reset(struct sock *sk)
{
	int err;
	switch (sk->sk_state) {
	case TCP_SYN_SENT:
		err = ECONNREFUSED;
		break;
	case TCP_CLOSE_WAIT:
		err = EPIPE;
		break;
	case TCP_CLOSE:
		return;
	case TCP_SYN_RECV:
		NP_INC_STATS(sk->stack, TcpExtEmbryonicRsts);
		err = ECONNRESET;
		break;
	default:
		err = ECONNRESET;
		break;
	}
	tcp_write_err(sk, err);
}

/* Is this the SYN-ACK answering our SYN-ACK in a simultaneous open (Linux's special case)? */
static int tcp_simopen_synack(const struct sock *sk, const struct tcp_skb_cb *tcb)
{
	const struct tcp_sock *tp = tcp_sk(sk);
	return sk->sk_state == TCP_SYN_RECV && !tp->parent && (tcb->tcp_flags & TCPF_ACK) &&
	       (tcb->tcp_flags & TCPF_SYN) && tcb->seq + 1 == tcb->end_seq && tcb->seq + 1 == tp->rcv_nxt &&
	       tcb->ack_seq == tp->snd_nxt;
}

/* 1: go on; 0: the segment was dealt with (consumed). */
static int tcp_validate_incoming(struct sock *sk, struct sk_buff *skb, const struct tcp_repr *th)
{
	struct tcp_sock *tp = tcp_sk(sk);
	struct tcp_skb_cb *tcb = TCP_SKB_CB(skb);
	uint8_t fl = tcb->tcp_flags;

	if (tcp_simopen_synack(sk, tcb))
		return 1;

	/* Step 1: sequence number. */
	if (!tcp_sequence(tp, tcb->seq, tcb->end_seq)) {
		enum np_drop_reason reason = !after(tcb->end_seq, tp->rcv_nxt) && tcb->end_seq != tcb->seq
						     ? NP_DROP_TCP_OLD_SEQUENCE
						     : tcp_receive_window(tp) ? NP_DROP_TCP_INVALID_SEQUENCE
									      : NP_DROP_TCP_ZEROWINDOW;
		if (!(fl & TCPF_RST)) {
			if (fl & TCPF_SYN)
				goto syn_challenge;
			if (!tcp_oow_rate_limited(sk, skb)) {
				if (tcb->seq != tcb->end_seq && before(tcb->seq, tp->rcv_nxt))
					tcp_enter_quickack_mode(tp);
				tcp_send_ack(sk);
			} else {
				NP_INC_STATS(sk->stack, TcpExtTCPACKSkippedSeq);
			}
		}
		kfree_skb_reason(skb, reason);
		return 0;
	}

	/* Step 2: RST. RFC 5961 3.2: exactly RCV.NXT resets, elsewhere in the window a challenge ACK. */
	if (fl & TCPF_RST) {
		if (tcb->seq == tp->rcv_nxt) {
			/* An accepted RST did its job: a normal end, not a drop. */
			tcp_reset(sk);
			consume_skb(skb);
		} else {
			tcp_send_challenge_ack(sk, 0);
			kfree_skb_reason(skb, NP_DROP_TCP_RESET);
		}
		return 0;
	}

	/* Step 4: SYN in a synchronized state. RFC 5961 4.2: challenge ACK, whatever the sequence number. */
	if (fl & TCPF_SYN) {
syn_challenge:
		/* (In SYN-RECEIVED nothing past the SYN is taken yet: rcv_nxt - 1 is the peer's ISN.) */
		if (sk->sk_state == TCP_SYN_RECV && tp->parent && tcb->seq == tp->rcv_nxt - 1 && !(fl & TCPF_ACK)) {
			/* The peer did not hear our SYN-ACK: send it again (Linux's tcp_check_req). */
			tcp_send_synack(sk);
			kfree_skb_reason(skb, NP_DROP_TCP_INVALID_SYN);
			return 0;
		}
		tcp_send_challenge_ack(sk, 1);
		kfree_skb_reason(skb, NP_DROP_TCP_INVALID_SYN);
		return 0;
	}
	(void)th;
	return 1;
}

/* ---- connection establishment ---------------------------------------------------- */

/* Linux's tcp_init_transfer: the connection is synchronized; congestion control and buffers start. */
static void tcp_init_transfer(struct sock *sk)
{
	struct tcp_sock *tp = tcp_sk(sk);
	/* RFC 5681 3.1: after a lost SYN or SYN-ACK the initial window is one segment. */
	tp->snd_cwnd = tp->total_retrans ? 1 : TCP_INIT_CWND;
	tp->snd_ssthresh = TCP_INFINITE_SSTHRESH;
	tp->snd_cwnd_cnt = 0;
	/* RFC 6298 5.7: no RTT sample and the SYN was retransmitted: RTO 3 s. */
	if (!tp->srtt_us && tp->total_retrans)
		tp->rto_us = TCP_TIMEOUT_FALLBACK_US;
	else if (!tp->srtt_us)
		tp->rto_us = TCP_TIMEOUT_INIT_US;
	tp->backoff = 0;
	tp->retransmits = 0;
	tp->retrans_stamp = 0;
	tp->rcv_tstamp = tcp_stamp_ms(sk->stack);
	tcp_set_ca_state(sk, TCP_CA_Open);
	tcp_init_congestion_control(sk);
	tcp_sndbuf_expand(sk);
	if (sk->sk_flags & SOCK_KEEPOPEN_)
		tcp_reset_keepalive_timer(sk, (uint64_t)tcp_keepalive_time_s(tp) * NSEC_PER_SEC);
}

/*
 * RFC 7323 2.2-2.3 (Linux's tcp_parse_options for a SYN): scaling is on only
 * when both SYNs carried the option; the peer's shift is clamped to 14.
 */
static void tcp_take_peer_wscale(struct sock *sk, const struct tcp_repr *th)
{
	struct tcp_sock *tp = tcp_sk(sk);
	if (tp->wscale_ok && th->opt.wscale_ok) {
		tp->snd_wscale = th->opt.wscale > TCP_MAX_WSCALE ? TCP_MAX_WSCALE : th->opt.wscale;
	} else {
		tp->wscale_ok = 0;
		tp->snd_wscale = 0;
		tp->rcv_wscale = 0;
	}
}

/* RFC 9293 3.7.1: the peer's MSS option (536 if absent) caps our segments. */
static void tcp_take_peer_mss(struct sock *sk, const struct tcp_repr *th)
{
	struct tcp_sock *tp = tcp_sk(sk);
	uint16_t mss = th->opt.mss_ok ? th->opt.mss : TCP_MSS_DEFAULT;
	if (mss == 0)
		mss = TCP_MSS_DEFAULT;
	tp->mss_clamp = mss;
	tcp_sync_mss(sk, tp->pmtu);
}

/* RFC 9293 3.10.7.3 (SYN-SENT). Returns a drop reason when the caller must answer with a RST, else 0. */
static int tcp_rcv_synsent_state_process(struct sock *sk, struct sk_buff *skb, const struct tcp_repr *th)
{
	struct tcp_sock *tp = tcp_sk(sk);
	struct tcp_skb_cb *tcb = TCP_SKB_CB(skb);
	uint8_t fl = tcb->tcp_flags;

	if (fl & TCPF_ACK) {
		/* First: the ACK must acknowledge our SYN. */
		if (!after(tcb->ack_seq, tp->iss) || after(tcb->ack_seq, tp->snd_nxt)) {
			if (fl & TCPF_RST) {
				kfree_skb_reason(skb, NP_DROP_TCP_SYNSENT);
				return 0;
			}
			return NP_DROP_TCP_SYNSENT;
		}
		if (fl & TCPF_RST) {
			/* RFC 5961 3.2 for SYN-SENT: acceptable because it acknowledges our SYN; consumed, as Linux. */
			tcp_reset(sk);
			consume_skb(skb);
			return 0;
		}
		if (!(fl & TCPF_SYN)) {
			kfree_skb_reason(skb, NP_DROP_TCP_SYNSENT);
			return 0;
		}
		/* SYN-ACK. */
		tp->rcv_nxt = tcb->seq + 1;
		tp->rcv_wup = tp->rcv_nxt;
		tp->copied_seq = tp->rcv_nxt;
		tp->snd_wnd = th->window;   /* RFC 7323 2.2: a SYN's window is never scaled */
		tp->max_window = th->window;
		tp->snd_wl1 = tcb->seq;
		tcp_take_peer_mss(sk, th);
		tcp_take_peer_wscale(sk, th);
		tp->snd_una = tcb->ack_seq;
		int retrans_acked;
		tcp_clean_rtx_queue(sk, &retrans_acked);
		tcp_rearm_rto(sk);
		tcp_set_state(sk, TCP_ESTABLISHED);
		tcp_init_transfer(sk);
		if (!(sk->sk_flags & SOCK_DEAD_))
			sk_cb(sk)->sk_state_change(sk);
		/* Data on a SYN-ACK is not taken (Linux without Fast Open): the peer sends it again. */
		tcp_send_ack(sk);
		tcp_push_pending_frames(sk);
		consume_skb(skb);
		return 0;
	}
	if (fl & TCPF_RST) {
		kfree_skb_reason(skb, NP_DROP_TCP_RESET);
		return 0;
	}
	if (fl & TCPF_SYN) {
		/* Simultaneous open (RFC 9293 3.5 figure 8): SYN-RECEIVED, answer SYN,ACK. */
		tp->rcv_nxt = tcb->seq + 1;
		tp->rcv_wup = tp->rcv_nxt;
		tp->copied_seq = tp->rcv_nxt;
		tp->snd_wnd = th->window;
		tp->max_window = th->window;
		tp->snd_wl1 = tcb->seq;
		tcp_take_peer_mss(sk, th);
		tcp_take_peer_wscale(sk, th);
		tcp_set_state(sk, TCP_SYN_RECV);
		tcp_send_synack(sk);
		consume_skb(skb);
		return 0;
	}
	kfree_skb_reason(skb, NP_DROP_TCP_SYNSENT);
	return 0;
}

/*
 * Linux's inet_csk_reqsk_queue_is_full: the SYN queue holds at most the
 * listen() backlog. netpath also caps it at net.ipv4.tcp_max_syn_backlog
 * (Linux consults that only without cookies): a SYN_RECV child here is a
 * full sock, not a small request sock, so the bound matters more.
 */
static int tcp_reqsk_queue_is_full(const struct sock *sk)
{
	const struct tcp_listen_sock *lp = tcp_sk(sk)->lq;   /* sk listens */
	return lp->syn_qlen >= lp->max_ack_backlog || lp->syn_qlen >= (uint32_t)sk->stack->sysctl.tcp_max_syn_backlog;
}

/* Linux's tcp_syn_flood_action: the SYN queue is full (or cookies are forced); 1 to answer with a cookie. */
static int tcp_syn_flood_action(struct sock *sk)
{
	if (sk->stack->sysctl.tcp_syncookies) {
		NP_INC_STATS(sk->stack, TcpExtTCPReqQFullDoCookies);
		return 1;
	}
	NP_INC_STATS(sk->stack, TcpExtTCPReqQFullDrop);
	return 0;
}

struct sock *tcp_openreq_child(struct sock *sk, const struct sk_buff *skb, const struct tcp_repr *th,
			       const struct rtable *rt)
{
	struct np_stack *s = sk->stack;
	struct tcp_sock *lp = tcp_sk(sk);
	const struct tcp_skb_cb *tcb = TCP_SKB_CB(skb);
	struct sock *child = sk_alloc(s, AF_INET, &tcp_prot);
	if (!child)
		return NULL;
	struct tcp_sock *tp = tcp_sk(child);
	tcp_prot.init(child);
	/* What sk_clone_lock copies from the listener: options and buffers. */
	child->sk_type = sk->sk_type;
	child->sk_protocol = sk->sk_protocol;
	child->sk_flags = sk->sk_flags & (SOCK_REUSEADDR_ | SOCK_REUSEPORT_ | SOCK_KEEPOPEN_ | SOCK_LINGER_ |
					   SOCK_URGINLINE_ | SOCK_RCVTSTAMP_ | SOCK_PREFER_BUSY_POLL_);
	child->sk_ll_usec = sk->sk_ll_usec;
	child->sk_lingertime = sk->sk_lingertime;
	child->sk_userlocks = sk->sk_userlocks & (SOCK_SNDBUF_LOCK | SOCK_RCVBUF_LOCK);
	child->sk_rcvbuf = sk->sk_rcvbuf;
	child->sk_sndbuf = sk->sk_sndbuf;
	child->sk_rcvtimeo_ms = sk->sk_rcvtimeo_ms;
	child->sk_sndtimeo_ms = sk->sk_sndtimeo_ms;
	child->uc_ttl = sk->uc_ttl;
	child->tos = sk->tos;
	child->pmtudisc = sk->pmtudisc;
	child->recverr = sk->recverr;
	child->bound_dev_if = sk->bound_dev_if;
	tp->nodelay = lp->nodelay;
	tp->user_mss = lp->user_mss;
	tp->keepalive_time_s = lp->keepalive_time_s;
	tp->keepalive_intvl_s = lp->keepalive_intvl_s;
	tp->keepalive_probes = lp->keepalive_probes;
	tp->user_timeout_ms = lp->user_timeout_ms;
	tp->linger2_s = lp->linger2_s;
	tp->ca_ops = lp->ca_ops;
	tp->window_clamp = lp->window_clamp;

	child->inet_rcv_saddr = child->inet_saddr = tcb->header.daddr;
	child->inet_daddr = tcb->header.saddr;
	child->inet_dport = th->sport;
	child->inet_num = sk->inet_num;
	uint32_t mtu = rt->rt_mtu ? rt->rt_mtu : (rt->dev ? rt->dev->mtu : 1500);
	tp->pmtu = (uint16_t)(mtu > 65535 ? 65535 : mtu);
	unsigned advmss = tp->pmtu - IPV4_HLEN_MIN - TCP_HLEN_MIN;
	if (tp->user_mss && advmss > tp->user_mss)
		advmss = tp->user_mss;
	tp->advmss = (uint16_t)advmss;
	tcp_take_peer_mss(child, th);
	tp->rcv_mss = (uint16_t)(tp->advmss < TCP_MSS_DEFAULT ? tp->advmss : TCP_MSS_DEFAULT);
	/* Only a SYN negotiates scaling (a cookie's ACK does not: syncookies.c). */
	tcp_init_wscale(child, (tcb->tcp_flags & TCPF_SYN) && s->sysctl.tcp_window_scaling);
	tcp_take_peer_wscale(child, th);

	tp->rcv_nxt = tcb->seq + 1;
	tp->rcv_wup = tp->rcv_nxt;
	tp->copied_seq = tp->rcv_nxt;
	tp->snd_wnd = th->window;
	tp->max_window = th->window;
	tp->snd_wl1 = tcb->seq;
	return child;
}

void tcp_synq_add(struct sock *sk, struct sock *child)
{
	struct tcp_sock *tp = tcp_sk(child);
	struct tcp_listen_sock *lp = tcp_sk(sk)->lq;   /* sk listens */
	tp->parent = tcp_sk(sk);
	tcp_set_state(child, TCP_SYN_RECV);
	tp->child_next = lp->syn_head;
	if (lp->syn_head)
		lp->syn_head->child_pprev = &tp->child_next;
	lp->syn_head = tp;
	tp->child_pprev = &lp->syn_head;
	lp->syn_qlen++;
	tcp_v4_hash_established(child);
	tcp_v4_inherit_port(child, sk);
}

/*
 * Linux's tcp_conn_request (RFC 9293 3.10.7.2, LISTEN with a SYN): a child
 * sock in SYN-RECEIVED joins the listener's SYN queue and answers SYN,ACK.
 * When the SYN queue is full (or tcp_syncookies is 2) the answer is a SYN
 * cookie instead (RFC 4987 3.6), which keeps no state; without cookies the
 * SYN is dropped and the peer retries. A full accept queue drops the SYN
 * either way. Does not consume skb.
 */
int tcp_conn_request(struct sock *sk, struct sk_buff *skb, const struct tcp_repr *th, uint32_t isn, int isn_set)
{
	struct np_stack *s = sk->stack;
	struct tcp_sock *lp = tcp_sk(sk);
	struct tcp_skb_cb *tcb = TCP_SKB_CB(skb);
	long syncookies = s->sysctl.tcp_syncookies;
	int want_cookie = 0;

	trace_stage(skb, "tcp_conn_request");
	if ((syncookies == 2 || tcp_reqsk_queue_is_full(sk)) && !isn_set) {
		want_cookie = tcp_syn_flood_action(sk);
		if (!want_cookie) {
			NP_INC_STATS(s, TcpExtListenDrops);
			return -NP_DROP_TCP_REQQFULLDROP;
		}
	} else if (isn_set && tcp_reqsk_queue_is_full(sk)) {
		/* A SYN that reopens a TIME_WAIT keeps its ISN, so no cookie: the bound still holds. */
		NP_INC_STATS(s, TcpExtTCPReqQFullDrop);
		NP_INC_STATS(s, TcpExtListenDrops);
		return -NP_DROP_TCP_REQQFULLDROP;
	}
	/* Linux's sk_acceptq_is_full: backlog + 1 established children wait at most. */
	if (lp->lq->ack_backlog > lp->lq->max_ack_backlog) {
		NP_INC_STATS(s, TcpExtListenOverflows);
		NP_INC_STATS(s, TcpExtListenDrops);
		return -NP_DROP_TCP_LISTEN_OVERFLOW;
	}
	/* Without cookies Linux keeps the last quarter of tcp_max_syn_backlog free (its "kill this clause"). */
	long max_syn = s->sysctl.tcp_max_syn_backlog;
	if (!want_cookie && !isn_set && !syncookies && max_syn - (long)lp->lq->syn_qlen < (max_syn >> 2)) {
		NP_INC_STATS(s, TcpExtListenDrops);
		return -NP_DROP_TCP_REQQFULLDROP;
	}
	struct rtable rt;
	if (ip_route_output(s, tcb->header.saddr, tcb->header.daddr, NULL, &rt) < 0) {
		NP_INC_STATS(s, TcpExtListenDrops);
		return -NP_DROP_IP_OUTNOROUTES;
	}
	if (want_cookie)
		return cookie_v4_send_synack(sk, skb, th, &rt);

	struct sock *child = tcp_openreq_child(sk, skb, th, &rt);
	if (!child) {
		NP_INC_STATS(s, TcpExtListenDrops);
		return -NP_DROP_NOMEM;
	}
	struct tcp_sock *tp = tcp_sk(child);
	tp->iss = isn_set ? isn : tcp_v4_init_seq(s, child->inet_saddr, child->inet_daddr, child->inet_num,
						  child->inet_dport);
	tp->inet_id = (uint16_t)np_random_u32(s);   /* Linux: get_random_u16() in tcp_v4_syn_recv_sock */
	tcp_synq_add(sk, child);
	int tcp_v4_send_synack_queued(struct sock *sk);
	if (tcp_v4_send_synack_queued(child) < 0) {
		tcp_done(child);
		return -NP_DROP_NOMEM;
	}
	return 0;
}

/* ---- the state machine --------------------------------------------------------------- */

void tcp_rcv_established(struct sock *sk, struct sk_buff *skb, const struct tcp_repr *th)
{
	trace_stage(skb, "tcp_rcv_established");
	/* The oldest unacknowledged skb, which this ACK may free: load it while the segment is checked. */
	if (tcp_sk(sk)->write_queue)
		__builtin_prefetch(tcp_sk(sk)->write_queue->next);
	if (!tcp_validate_incoming(sk, skb, th))
		return;
	if (!(TCP_SKB_CB(skb)->tcp_flags & TCPF_ACK)) {
		kfree_skb_reason(skb, NP_DROP_TCP_FLAGS);
		return;
	}
	int r = tcp_ack(sk, skb, th);
	if (r < 0) {
		kfree_skb_reason(skb, (enum np_drop_reason)-r);
		return;
	}
	tcp_data_queue(sk, skb);
	if (sk->sk_state != TCP_CLOSE) {
		tcp_data_snd_check(sk);
		tcp_ack_snd_check(sk);
	}
}

int tcp_rcv_state_process(struct sock *sk, struct sk_buff *skb, const struct tcp_repr *th)
{
	struct tcp_sock *tp = tcp_sk(sk);
	struct tcp_skb_cb *tcb = TCP_SKB_CB(skb);
	uint8_t fl = tcb->tcp_flags;

	trace_stage(skb, "tcp_rcv_state_process");
	switch (sk->sk_state) {
	case TCP_CLOSE:
		kfree_skb_reason(skb, NP_DROP_TCP_CLOSE);
		return 0;
	case TCP_LISTEN:
		/* RFC 9293 3.10.7.2: RST ignored, ACK answered by RST, SYN opens a child. */
		if (fl & TCPF_RST) {
			kfree_skb_reason(skb, NP_DROP_TCP_RESET);
			return 0;
		}
		if (fl & TCPF_ACK)
			return NP_DROP_TCP_LISTEN_NOSYN;
		if (fl & TCPF_SYN) {
			int r = tcp_conn_request(sk, skb, th, 0, 0);
			if (r < 0)
				kfree_skb_reason(skb, (enum np_drop_reason)-r);
			else
				consume_skb(skb);
			return 0;
		}
		kfree_skb_reason(skb, NP_DROP_TCP_FLAGS);
		return 0;
	case TCP_SYN_SENT:
		return tcp_rcv_synsent_state_process(sk, skb, th);
	default:
		break;
	}

	if (!tcp_validate_incoming(sk, skb, th))
		return 0;
	/* Step 5: ACK. */
	if (!(fl & TCPF_ACK)) {
		kfree_skb_reason(skb, NP_DROP_TCP_FLAGS);
		return 0;
	}
	if (sk->sk_state == TCP_SYN_RECV) {
		/* RFC 9293: SND.UNA < SEG.ACK =< SND.NXT moves to ESTABLISHED; anything else is answered with RST. */
		if (!after(tcb->ack_seq, tp->snd_una) || after(tcb->ack_seq, tp->snd_nxt))
			return NP_DROP_TCP_ACK_UNSENT_DATA;
		if (tp->parent && tcp_child_established(sk) < 0) {
			/* Accept queue full: forget this ACK, the SYN-ACK timer asks again (Linux). */
			NP_INC_STATS(sk->stack, TcpExtListenOverflows);
			NP_INC_STATS(sk->stack, TcpExtListenDrops);
			if (sk->stack->sysctl.tcp_abort_on_overflow) {
				tcp_done(sk);
				return NP_DROP_TCP_LISTEN_OVERFLOW;
			}
			kfree_skb_reason(skb, NP_DROP_TCP_LISTEN_OVERFLOW);
			return 0;
		}
		/* RFC 7323 2.2: this ACK's window is scaled (the first one that is). */
		tp->snd_wnd = (uint32_t)th->window << tp->snd_wscale;
		if (tp->snd_wnd > tp->max_window)
			tp->max_window = tp->snd_wnd;
		tp->snd_wl1 = tcb->seq;
		int passive = tp->parent != NULL;
		tcp_set_state(sk, TCP_ESTABLISHED);
		if (passive)
			NP_INC_STATS(sk->stack, TcpPassiveOpens);
		tp->snd_una = tcb->ack_seq;
		int retrans_acked;
		tcp_clean_rtx_queue(sk, &retrans_acked);
		tcp_rearm_rto(sk);
		tcp_init_transfer(sk);
		if (!(sk->sk_flags & SOCK_DEAD_))
			sk_cb(sk)->sk_state_change(sk);
	} else {
		int r = tcp_ack(sk, skb, th);
		if (r < 0) {
			kfree_skb_reason(skb, (enum np_drop_reason)-r);
			return 0;
		}
	}

	switch (sk->sk_state) {
	case TCP_FIN_WAIT1:
		if (tp->snd_una == tp->write_seq) {
			/* Our FIN is acknowledged. */
			tcp_set_state(sk, TCP_FIN_WAIT2);
			sk->sk_shutdown |= SEND_SHUTDOWN;
			if (!(sk->sk_flags & SOCK_DEAD_)) {
				sk_cb(sk)->sk_state_change(sk);
			} else {
				/* An orphan waits tcp_fin_timeout for the peer's FIN (Linux's FIN_WAIT2 timer). */
				long tmo = tp->linger2_s > 0 ? tp->linger2_s : sk->stack->sysctl.tcp_fin_timeout;
				if (tp->linger2_s < 0) {
					tcp_send_active_reset(sk);
					tcp_done(sk);
					NP_INC_STATS(sk->stack, TcpExtTCPAbortOnData);
					kfree_skb_reason(skb, NP_DROP_TCP_CLOSE);
					return 0;
				}
				if (tcb->end_seq != tcb->seq && after(tcb->end_seq - !!(fl & TCPF_FIN), tp->rcv_nxt)) {
					/* Data for a socket nobody will read: RFC 1122 4.2.2.13 wants a reset. */
					NP_INC_STATS(sk->stack, TcpExtTCPAbortOnData);
					tcp_done(sk);
					return NP_DROP_TCP_ABORT_ON_DATA;
				}
				tcp_reset_keepalive_timer(sk, (uint64_t)tmo * NSEC_PER_SEC);
			}
		}
		break;
	case TCP_CLOSING:
		if (tp->snd_una == tp->write_seq) {
			tcp_time_wait(sk);
			consume_skb(skb);
			return 0;
		}
		break;
	case TCP_LAST_ACK:
		if (tp->snd_una == tp->write_seq) {
			tcp_done(sk);
			consume_skb(skb);
			return 0;
		}
		break;
	default:
		break;
	}

	/* Step 7: segment text. */
	switch (sk->sk_state) {
	case TCP_CLOSE_WAIT:
	case TCP_CLOSING:
	case TCP_LAST_ACK:
		if (tcb->end_seq == tcb->seq) {
			/* A pure ACK: already processed in step 5, so a normal end. */
			consume_skb(skb);
			goto out;
		}
		if (!before(tcb->seq, tp->rcv_nxt)) {
			/* Nothing can come after the peer's FIN. */
			kfree_skb_reason(skb, NP_DROP_TCP_FIN);
			goto out;
		}
		/* fallthrough */
	case TCP_FIN_WAIT1:
	case TCP_FIN_WAIT2:
		/* RFC 1122 4.2.2.13: new data for a socket closed for reading gets a reset. */
		if (sk->sk_shutdown & RCV_SHUTDOWN) {
			if (tcb->end_seq != tcb->seq && after(tcb->end_seq - !!(fl & TCPF_FIN), tp->rcv_nxt)) {
				NP_INC_STATS(sk->stack, TcpExtTCPAbortOnData);
				tcp_reset(sk);
				return NP_DROP_TCP_ABORT_ON_DATA;
			}
		}
		/* fallthrough */
	case TCP_ESTABLISHED:
	case TCP_SYN_RECV:
		tcp_data_queue(sk, skb);
		break;
	default:
		kfree_skb_reason(skb, NP_DROP_TCP_CLOSE);
		break;
	}
out:
	if (sk->sk_state != TCP_CLOSE) {
		tcp_data_snd_check(sk);
		tcp_ack_snd_check(sk);
	}
	return 0;
}
