/*
 * Pluggable congestion control (Linux's net/ipv4/tcp_cong.c) with NewReno
 * (RFC 5681 slow start and congestion avoidance; the recovery half, RFC
 * 6582, lives in tcp_input.c's tcp_fastretrans_alert, as in Linux).
 * Place in the packet path:
 *   tcp_ack -> tcp_cong_control -> ca_ops->cong_avoid (grow cwnd)
 *   tcp_enter_loss / tcp_enter_recovery -> ca_ops->ssthresh (shrink)
 * cwnd and ssthresh count segments, as Linux's do. A new algorithm is one
 * more const struct tcp_congestion_ops in tcp_ca_table (CUBIC comes later).
 */
#include <string.h>

#include "core/stack.h"
#include "net/tcp/tcp.h"

/* RFC 5681 3.1 slow start: cwnd grows by the segments acked, up to ssthresh; returns what is left over. */
uint32_t tcp_slow_start(struct tcp_sock *tp, uint32_t acked)
{
	uint32_t cwnd = tp->snd_cwnd + acked;
	if (cwnd > tp->snd_ssthresh)
		cwnd = tp->snd_ssthresh;
	acked -= cwnd - tp->snd_cwnd;
	tp->snd_cwnd = cwnd;
	return acked;
}

/* RFC 5681 3.1 congestion avoidance: one segment per window of w segments acked. */
void tcp_cong_avoid_ai(struct tcp_sock *tp, uint32_t w, uint32_t acked)
{
	if (tp->snd_cwnd_cnt >= w) {
		tp->snd_cwnd_cnt = 0;
		tp->snd_cwnd++;
	}
	tp->snd_cwnd_cnt += acked;
	if (tp->snd_cwnd_cnt >= w) {
		uint32_t delta = tp->snd_cwnd_cnt / w;
		tp->snd_cwnd_cnt -= delta * w;
		tp->snd_cwnd += delta;
	}
}

/*
 * RFC 7661's idea, as Linux's tcp_is_cwnd_limited: grow cwnd only while the
 * sender actually uses it, so an application-limited flow keeps a cwnd it has
 * validated.
 */
int tcp_is_cwnd_limited(const struct tcp_sock *tp)
{
	if (tp->snd_cwnd < tp->snd_ssthresh)
		return tp->snd_cwnd < 2 * tp->max_packets_out;
	return tp->max_packets_out >= tp->snd_cwnd;
}

/* NewReno's ssthresh (RFC 5681 (4)): half the window, at least two segments. */
uint32_t tcp_reno_ssthresh(struct tcp_sock *tp)
{
	uint32_t half = tp->snd_cwnd >> 1;
	return half < 2 ? 2 : half;
}

void tcp_reno_cong_avoid(struct tcp_sock *tp, uint32_t ack, uint32_t acked)
{
	if (!tcp_is_cwnd_limited(tp))
		return;
	if (tp->snd_cwnd < tp->snd_ssthresh) {
		acked = tcp_slow_start(tp, acked);
		if (!acked)
			return;
	}
	tcp_cong_avoid_ai(tp, tp->snd_cwnd, acked);
}

static uint32_t tcp_reno_undo_cwnd(struct tcp_sock *tp)
{
	return tp->snd_cwnd > tp->prior_cwnd ? tp->snd_cwnd : tp->prior_cwnd;
}

/* Linux calls it "reno"; its recovery is NewReno (RFC 6582) when SACK is off. */
const struct tcp_congestion_ops tcp_reno = {
	.name = "reno",
	.ssthresh = tcp_reno_ssthresh,
	.cong_avoid = tcp_reno_cong_avoid,
	.undo_cwnd = tcp_reno_undo_cwnd,
};

static const struct tcp_congestion_ops *const tcp_ca_table[] = {
	&tcp_reno,
};

const struct tcp_congestion_ops *tcp_ca_find(const char *name)
{
	for (size_t i = 0; i < sizeof(tcp_ca_table) / sizeof(tcp_ca_table[0]); i++)
		if (strcmp(tcp_ca_table[i]->name, name) == 0)
			return tcp_ca_table[i];
	return NULL;
}

void tcp_init_congestion_control(struct sock *sk)
{
	struct tcp_sock *tp = tcp_sk(sk);
	if (!tp->ca_ops)
		tp->ca_ops = tcp_ca_table[0];
	memset(tp->ca_priv, 0, sizeof(tp->ca_priv));
	if (tp->ca_ops->init)
		tp->ca_ops->init(tp);
}

void tcp_set_ca_state(struct sock *sk, uint8_t state)
{
	struct tcp_sock *tp = tcp_sk(sk);
	if (tp->ca_ops && tp->ca_ops->set_state)
		tp->ca_ops->set_state(tp, state);
	tp->ca_state = state;
}
