/*
 * TCP timers (Linux's net/ipv4/tcp_timer.c, inet_connection_sock.c), all on
 * the stack clock (mod_timer/del_timer), so a virtual clock tests minutes of
 * back-off in microseconds. Linux's three timers are three deadlines behind
 * one np_timer per socket (tcp_timer_fire runs the due ones, earliest first).
 * Place in the packet path: np_stack_poll -> run_timers -> tcp_timer_fire ->
 *   tcp_write_timer: tcp_retransmit_timer (RTO, RFC 6298 5.4-5.7: back off,
 *     go-back-N from SND.UNA) or tcp_probe_timer (zero-window probes, RFC 9293
 *     3.8.6.1) -> tcp_retransmit_skb / tcp_send_probe0 -> tcp_transmit_skb
 *   tcp_delack_timer -> tcp_send_ack (RFC 1122 4.2.3.2)
 *   tcp_keepalive_timer -> tcp_write_wakeup (RFC 1122 4.2.3.6), and the
 *     orphaned FIN_WAIT2 timeout (tcp_fin_timeout)
 * Aborts (tcp_write_err) follow tcp_retries2 / tcp_syn_retries /
 * tcp_synack_retries / TCP_USER_TIMEOUT as Linux computes them.
 */
#include <errno.h>

#include "core/stack.h"
#include "net/tcp/tcp.h"
#include "trace/trace.h"

#define TCP_RESOURCE_PROBE_NS (500 * NSEC_PER_MSEC)

uint32_t tcp_rto_min_us(const struct np_stack *s) { return (uint32_t)s->sysctl.tcp_rto_min_ms * 1000u; }
uint32_t tcp_rto_max_us(const struct np_stack *s) { return (uint32_t)s->sysctl.tcp_rto_max_ms * 1000u; }

uint64_t tcp_rto_ns(const struct tcp_sock *tp)
{
	uint64_t rto = (uint64_t)tp->rto_us << (tp->backoff > 30 ? 30 : tp->backoff);
	uint64_t max = tcp_rto_max_us(tp->sk.stack);
	return (rto > max ? max : rto) * NSEC_PER_USEC;
}

/* Linux's tcp_probe0_when: the RTO (at least rto_min) backed off by the probes sent. */
uint64_t tcp_probe0_when(const struct tcp_sock *tp)
{
	uint64_t base = tp->rto_us;
	uint64_t min = tcp_rto_min_us(tp->sk.stack), max = tcp_rto_max_us(tp->sk.stack);
	if (base < min)
		base = min;
	base <<= (tp->backoff > 30 ? 30 : tp->backoff);
	return (base > max ? max : base) * NSEC_PER_USEC;
}

/* Arms the socket's np_timer at the earliest deadline, or disarms it. */
static void tcp_timer_sync(struct sock *sk)
{
	struct tcp_sock *tp = tcp_sk(sk);
	uint64_t next = TCP_TIMER_OFF;
	for (int i = 0; i < TCP_TIMER_MAX; i++)
		if (tp->timer_when[i] < next)
			next = tp->timer_when[i];
	if (next == TCP_TIMER_OFF)
		del_timer(sk->stack, &tp->timer);
	else if (!timer_pending(&tp->timer) || tp->timer.expires != next)
		mod_timer(sk->stack, &tp->timer, next);
}

void tcp_timer_set(struct sock *sk, int which, uint64_t when)
{
	tcp_sk(sk)->timer_when[which] = when == TCP_TIMER_OFF ? when - 1 : when;
	tcp_timer_sync(sk);
}

void tcp_timer_del(struct sock *sk, int which)
{
	struct tcp_sock *tp = tcp_sk(sk);
	if (tp->timer_when[which] == TCP_TIMER_OFF)
		return;
	tp->timer_when[which] = TCP_TIMER_OFF;
	tcp_timer_sync(sk);
}

void tcp_reset_xmit_timer(struct sock *sk, int what, uint64_t when_ns)
{
	struct tcp_sock *tp = tcp_sk(sk);
	tp->pending = (uint8_t)what;
	tcp_timer_set(sk, TCP_TIMER_WRITE, np_stack_now(sk->stack) + when_ns);
}

/* RFC 6298 5.2/5.3: no data outstanding stops the timer; else it restarts with the current RTO. */
void tcp_rearm_rto(struct sock *sk)
{
	struct tcp_sock *tp = tcp_sk(sk);
	if (!tp->packets_out) {
		if (tp->pending == ICSK_TIME_RETRANS) {
			tcp_timer_del(sk, TCP_TIMER_WRITE);
			tp->pending = 0;
		}
		return;
	}
	tcp_reset_xmit_timer(sk, ICSK_TIME_RETRANS, tcp_rto_ns(tp));
}

void tcp_clear_xmit_timers(struct sock *sk)
{
	struct tcp_sock *tp = tcp_sk(sk);
	tp->timer_when[TCP_TIMER_WRITE] = TCP_TIMER_OFF;
	tp->timer_when[TCP_TIMER_DELACK] = TCP_TIMER_OFF;
	tcp_timer_sync(sk);
	tp->pending = 0;
	tp->ack_pending = 0;
}

void tcp_reset_keepalive_timer(struct sock *sk, uint64_t len_ns)
{
	tcp_timer_set(sk, TCP_TIMER_KEEPALIVE, np_stack_now(sk->stack) + len_ns);
}

void tcp_delete_keepalive_timer(struct sock *sk) { tcp_timer_del(sk, TCP_TIMER_KEEPALIVE); }

/*
 * Linux's tcp_model_timeout: how long `boundary` retransmissions take with
 * exponential back-off from rto_base, capped per step at the maximum RTO.
 */
static uint64_t tcp_model_timeout_ns(const struct np_stack *s, unsigned boundary, uint64_t rto_base_us)
{
	uint64_t max = tcp_rto_max_us(s);
	unsigned thresh = 0;
	while ((rto_base_us << (thresh + 1)) <= max && thresh < 31)
		thresh++;
	uint64_t t;
	if (boundary <= thresh)
		t = ((2ull << boundary) - 1) * rto_base_us;
	else
		t = ((2ull << thresh) - 1) * rto_base_us + (uint64_t)(boundary - thresh) * max;
	return t * NSEC_PER_USEC;
}

/* Orphans give up sooner (Linux's tcp_orphan_retries: 0 means 8). */
static int tcp_orphan_retries(const struct sock *sk)
{
	long r = sk->stack->sysctl.tcp_orphan_retries;
	return r ? (int)r : 8;
}

/* Linux's tcp_write_err: the soft error we kept (e.g. EHOSTUNREACH), else ETIMEDOUT. */
static void tcp_write_timeout_err(struct sock *sk)
{
	NP_INC_STATS(sk->stack, TcpExtTCPAbortOnTimeout);
	tcp_write_err(sk, sk->sk_err_soft ? sk->sk_err_soft : ETIMEDOUT);
}

/* Linux's tcp_write_timeout: 1 if the connection was aborted. */
static int tcp_write_timeout(struct sock *sk)
{
	struct tcp_sock *tp = tcp_sk(sk);
	struct np_stack *s = sk->stack;
	int expired;

	if (sk->sk_state == TCP_SYN_SENT || sk->sk_state == TCP_SYN_RECV) {
		long retries = sk->sk_state == TCP_SYN_SENT ? s->sysctl.tcp_syn_retries : s->sysctl.tcp_synack_retries;
		expired = tp->retransmits >= retries;
		if (tp->user_timeout_ms && tp->retrans_stamp &&
		    tcp_ms_since(s, tp->retrans_stamp) >= (uint64_t)tp->user_timeout_ms * NSEC_PER_MSEC)
			expired = 1;
	} else {
		unsigned boundary = (unsigned)s->sysctl.tcp_retries2;
		if (sk->sk_flags & SOCK_DEAD_) {
			unsigned o = (unsigned)tcp_orphan_retries(sk);
			if (o < boundary)
				boundary = o;
		}
		if (!tp->retrans_stamp) {
			expired = 0;
		} else if (tp->user_timeout_ms) {
			expired = tcp_ms_since(s, tp->retrans_stamp) >= (uint64_t)tp->user_timeout_ms * NSEC_PER_MSEC;
		} else {
			expired = tcp_ms_since(s, tp->retrans_stamp) >= tcp_model_timeout_ns(s, boundary, tcp_rto_min_us(s));
		}
	}
	if (expired) {
		tcp_write_timeout_err(sk);
		return 1;
	}
	return 0;
}

/* RFC 6298 5.4-5.7 (Linux's tcp_retransmit_timer). */
static void tcp_retransmit_timer(struct sock *sk)
{
	struct tcp_sock *tp = tcp_sk(sk);
	struct np_stack *s = sk->stack;
	struct sk_buff *head = tcp_write_queue_head(tp);

	if (!tp->packets_out || !head)
		return;
	if (!tp->snd_wnd && !(sk->sk_flags & SOCK_DEAD_) && sk->sk_state != TCP_SYN_SENT &&
	    sk->sk_state != TCP_SYN_RECV) {
		/*
		 * The peer shrank its window to zero under data we sent: keep
		 * retransmitting without backing off (Linux), but give up once it has
		 * said nothing for the maximum RTO.
		 */
		if (tcp_ms_since(s, tp->rcv_tstamp) > (uint64_t)tcp_rto_max_us(s) * NSEC_PER_USEC) {
			tcp_write_timeout_err(sk);
			return;
		}
		tcp_enter_loss(sk);
		tcp_retransmit_skb(sk, head);
		tcp_reset_xmit_timer(sk, ICSK_TIME_RETRANS, tcp_rto_ns(tp));
		return;
	}
	if (tcp_write_timeout(sk))
		return;
	if (sk->sk_state != TCP_SYN_SENT && sk->sk_state != TCP_SYN_RECV)
		NP_INC_STATS(s, TcpExtTCPTimeouts);
	tcp_enter_loss(sk);
	if (tcp_retransmit_skb(sk, head) < 0) {
		/* No memory for the copy: try again soon without backing off. */
		NP_INC_STATS(s, TcpExtTCPRetransFail);
		tcp_reset_xmit_timer(sk, ICSK_TIME_RETRANS, TCP_RESOURCE_PROBE_NS);
		return;
	}
	/* RFC 6298 5.5: back off; 5.6: restart with the new RTO. */
	if (tp->backoff < 30)
		tp->backoff++;
	tp->retransmits++;
	tcp_reset_xmit_timer(sk, ICSK_TIME_RETRANS, tcp_rto_ns(tp));
}

/* Zero-window probing (Linux's tcp_probe_timer). */
static void tcp_probe_timer(struct sock *sk)
{
	struct tcp_sock *tp = tcp_sk(sk);
	struct np_stack *s = sk->stack;

	if (tp->packets_out || !tcp_send_head(tp)) {
		tp->probes_out = 0;
		tp->probes_tstamp = 0;
		return;
	}
	if (tp->user_timeout_ms && tp->probes_tstamp &&
	    tcp_ms_since(s, tp->probes_tstamp) >= (uint64_t)tp->user_timeout_ms * NSEC_PER_MSEC) {
		tcp_write_timeout_err(sk);
		return;
	}
	int max_probes = (int)s->sysctl.tcp_retries2;
	if ((sk->sk_flags & SOCK_DEAD_) && tcp_orphan_retries(sk) < max_probes)
		max_probes = tcp_orphan_retries(sk);
	if (tp->probes_out >= max_probes) {
		tcp_write_timeout_err(sk);
		return;
	}
	tcp_send_probe0(sk);
}

static void tcp_write_timer(struct sock *sk)
{
	struct tcp_sock *tp = tcp_sk(sk);

	if (sk->sk_state == TCP_CLOSE || !tp->pending)
		return;
	sock_hold(sk);
	int what = tp->pending;
	tp->pending = 0;
	if (what == ICSK_TIME_PROBE0)
		tcp_probe_timer(sk);
	else
		tcp_retransmit_timer(sk);
	sock_put(sk);
}

/* Linux's tcp_delack_timer_handler: the delayed ACK is due. */
static void tcp_delack_timer(struct sock *sk)
{
	struct tcp_sock *tp = tcp_sk(sk);

	if (sk->sk_state == TCP_CLOSE || !tp->ack_pending)
		return;
	sock_hold(sk);
	/* A delayed ACK that had to fire means the exchange is not interactive (Linux leaves pingpong). */
	tp->pingpong = 0;
	NP_INC_STATS(sk->stack, TcpExtDelayedACKs);
	tcp_send_ack(sk);
	sock_put(sk);
}

uint32_t tcp_keepalive_time_s(const struct tcp_sock *tp)
{
	long v = tp->keepalive_time_s ? tp->keepalive_time_s : tp->sk.stack->sysctl.tcp_keepalive_time;
	return (uint32_t)v;   /* seconds; callers scale */
}

uint32_t tcp_keepalive_intvl_s(const struct tcp_sock *tp)
{
	return (uint32_t)(tp->keepalive_intvl_s ? tp->keepalive_intvl_s : tp->sk.stack->sysctl.tcp_keepalive_intvl);
}

int tcp_keepalive_probes(const struct tcp_sock *tp)
{
	return tp->keepalive_probes ? tp->keepalive_probes : (int)tp->sk.stack->sysctl.tcp_keepalive_probes;
}

/* Linux's tcp_keepalive_timer: keepalive probes (RFC 1122 4.2.3.6) and the orphan FIN_WAIT2 timeout. */
static void tcp_keepalive_timer(struct sock *sk)
{
	struct tcp_sock *tp = tcp_sk(sk);
	struct np_stack *s = sk->stack;

	sock_hold(sk);
	if (sk->sk_state == TCP_FIN_WAIT2 && (sk->sk_flags & SOCK_DEAD_)) {
		/* tcp_fin_timeout ran out with the peer's FIN still missing: reset and forget. */
		tcp_send_active_reset(sk);
		tcp_done(sk);
		goto out;
	}
	if (!(sk->sk_flags & SOCK_KEEPOPEN_) || sk->sk_state == TCP_CLOSE || sk->sk_state == TCP_LISTEN ||
	    sk->sk_state == TCP_SYN_SENT)
		goto out;
	uint64_t ktime = (uint64_t)tcp_keepalive_time_s(tp) * NSEC_PER_SEC;
	uint64_t elapsed;
	if (tp->packets_out || tcp_send_head(tp)) {
		/* Data in flight: the retransmit timer watches the connection. */
		tcp_reset_keepalive_timer(sk, ktime);
		goto out;
	}
	elapsed = tcp_ms_since(s, tcp_stamp_later(tp->lrcvtime, tp->rcv_tstamp));
	if (elapsed >= ktime) {
		uint64_t utmo = (uint64_t)tp->user_timeout_ms * NSEC_PER_MSEC;
		if ((tp->user_timeout_ms && elapsed >= utmo && tp->probes_out > 0) ||
		    (!tp->user_timeout_ms && tp->probes_out >= tcp_keepalive_probes(tp))) {
			tcp_send_active_reset(sk);
			tcp_write_timeout_err(sk);
			goto out;
		}
		if (tcp_write_wakeup(sk) >= 0) {
			NP_INC_STATS(s, TcpExtTCPKeepAlive);
			tp->probes_out++;
			elapsed = (uint64_t)tcp_keepalive_intvl_s(tp) * NSEC_PER_SEC;
		} else {
			elapsed = TCP_RESOURCE_PROBE_NS;
		}
	} else {
		elapsed = ktime - elapsed;
	}
	tcp_reset_keepalive_timer(sk, elapsed);
out:
	sock_put(sk);
}

/*
 * The socket's np_timer: runs each due deadline once, earliest first (a
 * handler may re-arm any of them), then re-arms at the earliest left.
 * While a user thread owns the socket, due work waits a little (Linux
 * defers to release_sock; here the owner holds the stack lock).
 */
static void tcp_timer_fire(struct np_timer *t)
{
	static void (*const handler[TCP_TIMER_MAX])(struct sock *) = {
		[TCP_TIMER_WRITE] = tcp_write_timer,
		[TCP_TIMER_DELACK] = tcp_delack_timer,
		[TCP_TIMER_KEEPALIVE] = tcp_keepalive_timer,
	};
	static const uint64_t owned_retry[TCP_TIMER_MAX] = {
		[TCP_TIMER_WRITE] = NSEC_PER_MSEC,
		[TCP_TIMER_DELACK] = NSEC_PER_MSEC,
		[TCP_TIMER_KEEPALIVE] = 50 * NSEC_PER_MSEC,
	};
	struct tcp_sock *tp = container_of(t, struct tcp_sock, timer);
	struct sock *sk = &tp->sk;
	uint64_t now = np_stack_now(sk->stack);
	unsigned ran = 0;

	sock_hold(sk);
	for (;;) {
		int due = -1;
		for (int i = 0; i < TCP_TIMER_MAX; i++)
			if (!(ran & (1u << i)) && tp->timer_when[i] <= now &&
			    (due < 0 || tp->timer_when[i] < tp->timer_when[due]))
				due = i;
		if (due < 0)
			break;
		ran |= 1u << due;
		if (sock_owned_by_user(sk)) {
			tp->timer_when[due] = now + owned_retry[due];
			continue;
		}
		tp->timer_when[due] = TCP_TIMER_OFF;
		handler[due](sk);
	}
	tcp_timer_sync(sk);
	sock_put(sk);
}

void tcp_init_xmit_timers(struct sock *sk)
{
	struct tcp_sock *tp = tcp_sk(sk);
	timer_setup(&tp->timer, tcp_timer_fire);
	for (int i = 0; i < TCP_TIMER_MAX; i++)
		tp->timer_when[i] = TCP_TIMER_OFF;
}
