/*
 * TCP socket calls (Linux's net/ipv4/tcp.c): tcp_prot, the glue between the
 * BSD socket layer and the protocol engine.
 * Place in the packet path (seed 001/003):
 *   np_send -> inet_stream_sendmsg -> tcp_sendmsg: payload into skbs on
 *     sk_write_queue (forced_push / tcp_push_one / tcp_push) -> tcp_write_xmit
 *   np_recv -> inet_stream_recvmsg -> tcp_recvmsg: copies from sk_receive_queue,
 *     sleeps (release_sock, which replays the backlog) until data, FIN or error,
 *     then tcp_cleanup_rbuf opens the window (a window update if it grew a lot)
 *   np_close -> inet_release -> tcp_close (FIN, RST on unread data or
 *     SO_LINGER 0, orphan until the handshake ends)
 *   np_shutdown -> inet_shutdown -> tcp_shutdown (half-close: FIN)
 *   np_accept -> inet_accept -> tcp_accept (the accept queue)
 * The state changes of RFC 9293 3.10 that the user drives live here
 * (tcp_close_state); those the network drives are in tcp_input.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "core/stack.h"
#include "net/tcp/tcp.h"
#include "trace/trace.h"

#define TCP_INFINITE_SSTHRESH 0x7fffffffu
#define SHUTDOWN_MASK (RCV_SHUTDOWN | SEND_SHUTDOWN)

/* ---- state ------------------------------------------------------------------------- */

static int tcp_counted_established(int state) { return state == TCP_ESTABLISHED || state == TCP_CLOSE_WAIT; }

/*
 * Linux's tcp_set_state, with RFC 1213's counters: tcpCurrEstab counts
 * ESTABLISHED and CLOSE-WAIT, tcpEstabResets their direct moves to CLOSED,
 * tcpAttemptFails SYN-SENT/SYN-RECEIVED moving to CLOSED. Going to CLOSE
 * leaves the lookup tables and gives the port back unless the user bound it.
 */
void tcp_set_state(struct sock *sk, int state)
{
	struct np_stack *s = sk->stack;
	int old = sk->sk_state;
	if (!tcp_counted_established(old) && tcp_counted_established(state))
		NP_INC_STATS(s, TcpCurrEstab);
	if (tcp_counted_established(old) && !tcp_counted_established(state) && s->mib[NP_MIB_TcpCurrEstab])
		s->mib[NP_MIB_TcpCurrEstab]--;
	if (state == TCP_CLOSE && old != TCP_CLOSE) {
		if (old == TCP_SYN_SENT || old == TCP_SYN_RECV)
			NP_INC_STATS(s, TcpAttemptFails);
		if (tcp_counted_established(old))
			NP_INC_STATS(s, TcpEstabResets);
		tcp_v4_unhash(sk);
		if (!(tcp_sk(sk)->userlocks & SOCK_BINDPORT_LOCK))
			tcp_put_port(sk);
	}
	sk->sk_state = state;
}

void tcp_done(struct sock *sk)
{
	struct tcp_sock *tp = tcp_sk(sk);
	tcp_set_state(sk, TCP_CLOSE);
	tcp_clear_xmit_timers(sk);
	tcp_delete_keepalive_timer(sk);
	sk->sk_shutdown = SHUTDOWN_MASK;
	if (tp->parent && !tp->in_accept_queue) {
		/* An embryo (SYN-RECEIVED): RFC 9293 "return to LISTEN" means it simply goes. */
		tcp_child_unlink(sk);
		sock_put(sk);
		return;
	}
	if (tp->orphan_ref) {
		tp->orphan_ref = 0;
		sock_put(sk);
		return;
	}
	if (!(sk->sk_flags & SOCK_DEAD_))
		sk_cb(sk)->sk_state_change(sk);
}

void tcp_write_err(struct sock *sk, int err)
{
	sk->sk_err = err;
	tcp_write_queue_purge(sk);
	int dead = !!(sk->sk_flags & SOCK_DEAD_);
	sock_hold(sk);
	tcp_done(sk);
	if (!dead)
		sk_cb(sk)->sk_error_report(sk);
	sock_put(sk);
}

/* ---- the listener's queues ---------------------------------------------------------- */

int tcp_child_established(struct sock *child)
{
	struct tcp_sock *tp = tcp_sk(child);
	struct sock *lsk = &tp->parent->sk;
	struct tcp_listen_sock *lp = tp->parent->lq;
	if (lp->ack_backlog > lp->max_ack_backlog)
		return -ENOSPC;
	/* Out of the SYN queue ... */
	*tp->child_pprev = tp->child_next;
	if (tp->child_next)
		tp->child_next->child_pprev = tp->child_pprev;
	tp->child_next = NULL;
	tp->child_pprev = NULL;
	lp->syn_qlen--;
	/* ... into the accept queue, in order of establishment. */
	tp->child_pprev = lp->acc_tail ? &lp->acc_tail->child_next : &lp->acc_head;
	*tp->child_pprev = tp;
	lp->acc_tail = tp;
	lp->ack_backlog++;
	tp->in_accept_queue = 1;
	sk_cb(lsk)->sk_data_ready(lsk);
	return 0;
}

void tcp_child_unlink(struct sock *child)
{
	struct tcp_sock *tp = tcp_sk(child);
	if (!tp->parent)
		return;
	struct tcp_listen_sock *lp = tp->parent->lq;
	if (tp->in_accept_queue) {
		if (tp->child_pprev) {
			*tp->child_pprev = tp->child_next;
			if (tp->child_next)
				tp->child_next->child_pprev = tp->child_pprev;
			else   /* it was the tail: the one before it (if any) is */
				lp->acc_tail = tp->child_pprev == &lp->acc_head
						       ? NULL
						       : container_of(tp->child_pprev, struct tcp_sock, child_next);
			lp->ack_backlog--;
		}
		tp->in_accept_queue = 0;
		tp->child_next = NULL;
		tp->child_pprev = NULL;
	} else if (tp->child_pprev) {
		*tp->child_pprev = tp->child_next;
		if (tp->child_next)
			tp->child_next->child_pprev = tp->child_pprev;
		tp->child_next = NULL;
		tp->child_pprev = NULL;
		lp->syn_qlen--;
	}
	tp->parent = NULL;
}

/* Linux's inet_csk_listen_stop: every child goes; established ones are reset (tcp_disconnect). */
void tcp_listen_stop(struct sock *sk)
{
	struct tcp_listen_sock *lp = tcp_lq(tcp_sk(sk));
	while (lp && (lp->syn_head || lp->acc_head)) {
		struct tcp_sock *tp = lp->acc_head ? lp->acc_head : lp->syn_head;
		struct sock *child = &tp->sk;
		tcp_child_unlink(child);
		child->sk_flags |= SOCK_DEAD_;
		if (child->sk_state == TCP_ESTABLISHED || child->sk_state == TCP_CLOSE_WAIT ||
		    child->sk_state == TCP_SYN_RECV)
			tcp_send_active_reset(child);
		tcp_set_state(child, TCP_CLOSE);
		tcp_clear_xmit_timers(child);
		tcp_delete_keepalive_timer(child);
		sock_put(child);
	}
}

int tcp_listen_start(struct sock *sk, int backlog)
{
	struct np_stack *s = sk->stack;
	unsigned b = (unsigned)backlog;
	if (b > (unsigned)s->sysctl.somaxconn)
		b = (unsigned)s->sysctl.somaxconn;
	if (sk->sk_state == TCP_LISTEN) {
		tcp_sk(sk)->lq->max_ack_backlog = b;
		return 0;
	}
	if (sk->sk_state != TCP_CLOSE)
		return -EINVAL;
	if (!sk->inet_num) {
		if (sk->sk_prot->get_port(sk, 0) < 0)
			return -EADDRINUSE;
	} else if (tcp_v4_listen_conflict(sk)) {
		return -EADDRINUSE;
	}
	struct tcp_sock *tp = tcp_sk(sk);
	if (!tp->lq && !(tp->lq = calloc(1, sizeof(*tp->lq))))
		return -ENOMEM;   /* (kept until the last reference: a listener may listen again) */
	tp->lq->max_ack_backlog = b;
	tp->lq->ack_backlog = 0;
	tcp_set_state(sk, TCP_LISTEN);
	tcp_v4_listen_hash(sk);
	return 0;
}

/* tcp_prot.accept (Linux's inet_csk_accept): the oldest established child, or -EAGAIN. */
static struct sock *tcp_accept(struct sock *sk, int flags, int *err)
{
	struct tcp_listen_sock *lp = tcp_lq(tcp_sk(sk));
	if (sk->sk_state != TCP_LISTEN || !lp) {
		*err = -EINVAL;
		return NULL;
	}
	struct tcp_sock *tp = lp->acc_head;
	if (!tp) {
		*err = -EAGAIN;
		return NULL;
	}
	lp->acc_head = tp->child_next;
	if (lp->acc_head)
		lp->acc_head->child_pprev = &lp->acc_head;
	else
		lp->acc_tail = NULL;
	lp->ack_backlog--;
	tp->child_next = NULL;
	tp->child_pprev = NULL;
	tp->in_accept_queue = 0;
	tp->parent = NULL;
	sock_fd_sync(sk);
	*err = 0;
	return &tp->sk;
}

/* ---- waiting ------------------------------------------------------------------------ */

/*
 * Sleeps on the socket's wait queue as Linux's sk_wait_event does: ownership
 * is given up (release_sock replays the backlog) so softirq delivery goes
 * straight to the socket meanwhile. 0 when woken (or the backlog may have
 * changed things), -ETIMEDOUT, -EDEADLK inside a stack callback.
 */
static int tcp_wait(struct sock *sk, uint64_t deadline)
{
	int had_backlog = sk->sk_backlog && !skb_queue_empty(sk->sk_backlog);
	release_sock(sk);
	int rc = had_backlog ? 0 : sk_wait_event(sk, &sk->sk_wq, deadline);
	lock_sock(sk);
	return rc;
}

static int tcp_nonblock(const struct sock *sk, int flags)
{
	return (flags & MSG_DONTWAIT) || (sk->sk_socket && sk->sk_socket->nonblock);
}

/* ---- iovec helpers ------------------------------------------------------------------ */

static void iov_copy_from(const struct msghdr *msg, size_t off, void *dst, size_t n)
{
	uint8_t *d = dst;
	for (size_t i = 0; i < (size_t)msg->msg_iovlen && n; i++) {
		size_t l = msg->msg_iov[i].iov_len;
		if (off >= l) {
			off -= l;
			continue;
		}
		size_t c = l - off < n ? l - off : n;
		memcpy(d, (const uint8_t *)msg->msg_iov[i].iov_base + off, c);
		d += c;
		n -= c;
		off = 0;
	}
}

static void iov_copy_to(struct msghdr *msg, size_t off, const void *src, size_t n)
{
	const uint8_t *p = src;
	for (size_t i = 0; i < (size_t)msg->msg_iovlen && n; i++) {
		size_t l = msg->msg_iov[i].iov_len;
		if (off >= l) {
			off -= l;
			continue;
		}
		size_t c = l - off < n ? l - off : n;
		memcpy((uint8_t *)msg->msg_iov[i].iov_base + off, p, c);
		p += c;
		n -= c;
		off = 0;
	}
}

/* ---- sendmsg --------------------------------------------------------------------- */

static int tcp_nonagle_of(const struct tcp_sock *tp)
{
	return (tp->nodelay ? TCP_NAGLE_OFF : 0) | (tp->cork ? TCP_NAGLE_CORK : 0);
}

/* Seed 003's forced_push: more than half the largest window is unpushed. */
static int forced_push(const struct tcp_sock *tp)
{
	return after(tp->write_seq, tp->pushed_seq + (tp->max_window >> 1));
}

static void tcp_mark_push(struct tcp_sock *tp, struct sk_buff *skb)
{
	TCP_SKB_CB(skb)->tcp_flags |= TCPF_PSH;
	tp->pushed_seq = tp->write_seq;
}

/* Linux's tcp_push: PSH on the tail unless MSG_MORE, then send what may go. */
static void tcp_push(struct sock *sk, int flags, unsigned mss_now, int nonagle)
{
	struct tcp_sock *tp = tcp_sk(sk);
	if (!tcp_send_head(tp))
		return;
	if (!(flags & MSG_MORE) || forced_push(tp))
		tcp_mark_push(tp, tcp_write_queue_tail(tp));
	if (flags & MSG_MORE)
		nonagle = TCP_NAGLE_CORK;
	__tcp_push_pending_frames(sk, mss_now, nonagle);
}

/*
 * tcp_prot.sendmsg (Linux's tcp_sendmsg): copies into MSS-sized skbs on the
 * write queue, appending to an unsent tail first; a full send buffer pushes
 * and waits (or -EAGAIN). Returns bytes queued or a negative errno: EPIPE
 * once the sending side is shut down or never connected (no SIGPIPE is
 * raised: a library cannot know the application's signal plan).
 */
static ssize_t tcp_sendmsg_locked(struct sock *sk, const struct msghdr *msg, size_t size, int flags, int nonblock,
				  uint64_t deadline, unsigned mss_now, unsigned size_goal);

static ssize_t tcp_sendmsg(struct sock *sk, const struct msghdr *msg, size_t size, int flags)
{
	struct tcp_sock *tp = tcp_sk(sk);
	int nonblock = tcp_nonblock(sk, flags);
	uint64_t deadline = sock_deadline(sk, sock_sndtimeo_ns(sk));

	if (flags & MSG_OOB)
		return -EOPNOTSUPP;
	/* sk_stream_wait_connect: a connection still opening is waited for. */
	while (!(TCPF_STATE(sk->sk_state) & (TCPF_STATE(TCP_ESTABLISHED) | TCPF_STATE(TCP_CLOSE_WAIT)))) {
		if (sk->sk_err)
			return sock_error(sk);
		if (!(TCPF_STATE(sk->sk_state) & (TCPF_STATE(TCP_SYN_SENT) | TCPF_STATE(TCP_SYN_RECV))))
			return -EPIPE;
		if (nonblock)
			return -EAGAIN;
		if (tcp_wait(sk, deadline) < 0)
			return -EAGAIN;
	}

	unsigned mss_now = tcp_current_mss(sk);
	unsigned size_goal = mss_now;
	tp->in_sendmsg = 1;   /* traces of segments sent from here begin at tcp_sendmsg */
	ssize_t ret = tcp_sendmsg_locked(sk, msg, size, flags, nonblock, deadline, mss_now, size_goal);
	tp->in_sendmsg = 0;
	return ret;
}

static ssize_t tcp_sendmsg_locked(struct sock *sk, const struct msghdr *msg, size_t size, int flags, int nonblock,
				  uint64_t deadline, unsigned mss_now, unsigned size_goal)
{
	struct tcp_sock *tp = tcp_sk(sk);
	struct np_stack *s = sk->stack;
	size_t copied = 0;
	int err;
	/*
	 * Linux builds 64 KiB skbs for a TSO route; here skbs stay one MSS and
	 * tcp_tso_xmit joins them, so the send head waits for a super-packet's
	 * worth. Otherwise a window that takes each MSS as it is written (RFC
	 * 7323 scaling) would send every skb as its own frame.
	 */
	unsigned push_goal = tcp_xmit_size_goal(sk, mss_now);

	while (copied < size) {
		if (sk->sk_err || (sk->sk_shutdown & SEND_SHUTDOWN))
			goto do_error;
		struct sk_buff *skb = tcp_write_queue_tail(tp);
		uint32_t copy = 0;
		if (skb && tcp_send_head(tp) && skb->len < size_goal && !(TCP_SKB_CB(skb)->tcp_flags & (TCPF_FIN | TCPF_SYN))) {
			copy = size_goal - skb->len;
			if (copy > skb_tailroom(skb))
				copy = skb_tailroom(skb);
		}
		if (!copy) {
			if (tcp_wmem_queued(tp) >= sk->sk_sndbuf)
				goto wait_for_space;
			/*
			 * Linear buffers: a segment's worth for bulk data, but a small
			 * write on a big-MTU path (lo: 64 KiB) takes a small buffer.
			 */
			uint32_t want = size - copied > 1920 ? (uint32_t)(size - copied) : 1920;
			skb = tcp_write_queue_get(tp) == 0 ? alloc_skb(s, want < size_goal ? want : size_goal) : NULL;
			if (!skb)
				goto wait_for_space;
			/* The write-queue skb carries no trace: each transmitted clone starts its own. */
			struct tcp_skb_cb *tcb = TCP_SKB_CB(skb);
			memset(tcb, 0, sizeof(*tcb));
			tcb->seq = tcb->end_seq = tp->write_seq;
			tcb->tcp_flags = TCPF_ACK;
			skb_queue_tail(tp->write_queue, skb);
			tcp_wmem_queued_add(tp, tcp_skb_truesize(skb));
			if (!tcp_send_head(tp))
				tcp_set_send_head(tp, skb);
			copy = size_goal;
			if (copy > skb_tailroom(skb))
				copy = skb_tailroom(skb);
		}
		if (copy > size - copied)
			copy = (uint32_t)(size - copied);
		iov_copy_from(msg, copied, skb_put(skb, copy), copy);
		tp->write_queue->bytes += copy;
		TCP_SKB_CB(skb)->end_seq += copy;
		tp->write_seq += copy;
		copied += copy;
		if (copied == size)
			break;
		if (skb->len < size_goal)
			continue;
		if (forced_push(tp)) {
			tcp_mark_push(tp, skb);
			__tcp_push_pending_frames(sk, mss_now, TCP_NAGLE_PUSH);
		} else if (push_goal <= mss_now ? skb == tcp_send_head(tp)
			   : tcp_send_head(tp) && tp->write_seq - TCP_SKB_CB(tcp_send_head(tp))->seq >= push_goal) {
			tcp_push_one(sk, mss_now);
		}
		continue;

wait_for_space:
		tp->nospace = 1;
		if (copied)
			tcp_push(sk, flags & ~MSG_MORE, mss_now, TCP_NAGLE_PUSH);
		if (nonblock) {
			err = -EAGAIN;
			goto out_err;
		}
		if (tcp_wait(sk, deadline) < 0) {
			err = -EAGAIN;
			goto out_err;
		}
		mss_now = tcp_current_mss(sk);
		size_goal = mss_now;
		push_goal = tcp_xmit_size_goal(sk, mss_now);
	}
	if (copied)
		tcp_push(sk, flags, mss_now, tcp_nonagle_of(tp));
	return (ssize_t)copied;

do_error:
	if (copied)
		goto out;
	err = sk->sk_err ? sock_error(sk) : -EPIPE;
	return err;
out:
	tcp_push(sk, flags, mss_now, tcp_nonagle_of(tp));
	return (ssize_t)copied;
out_err:
	if (copied) {
		tcp_push(sk, flags, mss_now, tcp_nonagle_of(tp));
		return (ssize_t)copied;
	}
	return err;
}

/* ---- recvmsg ---------------------------------------------------------------------- */

/*
 * Linux's tcp_cleanup_rbuf: after the user read, ACK now if a delayed ACK is
 * overdue or the window we could offer doubled (RFC 1122 4.2.3.3: the
 * window update that ends a zero window or a small one).
 */
void tcp_cleanup_rbuf(struct sock *sk, int copied)
{
	struct tcp_sock *tp = tcp_sk(sk);
	int time_to_ack = 0;
	if (sk->sk_state == TCP_CLOSE || sk->sk_state == TCP_LISTEN || sk->sk_state == TCP_SYN_SENT)
		return;
	if (tp->ack_pending && tp->rcv_nxt - tp->rcv_wup > tp->rcv_mss)
		time_to_ack = 1;
	if (!time_to_ack && copied > 0 && !(sk->sk_shutdown & RCV_SHUTDOWN)) {
		uint32_t now_win = tcp_receive_window(tp);
		if (2 * now_win <= tcp_max_rcv_window(tp)) {
			uint32_t new_win = __tcp_select_window(sk);
			if (new_win && new_win >= 2 * now_win)
				time_to_ack = 1;
		}
	}
	if (time_to_ack)
		tcp_send_ack(sk);
}

/*
 * tcp_prot.recvmsg (Linux's tcp_recvmsg): up to len bytes in order; blocks
 * until at least one (MSG_WAITALL: len) is there, the peer's FIN (0), an
 * error, or the timeout. MSG_PEEK leaves the data queued.
 */
static ssize_t tcp_recvmsg(struct sock *sk, struct msghdr *msg, size_t len, int flags, int *addr_len)
{
	struct tcp_sock *tp = tcp_sk(sk);
	int nonblock = tcp_nonblock(sk, flags);
	uint64_t deadline = sock_deadline(sk, sock_rcvtimeo_ns(sk));
	int peek = !!(flags & MSG_PEEK);
	size_t target = (flags & MSG_WAITALL) ? len : 1;
	uint32_t seq = tp->copied_seq;
	ssize_t copied = 0;

	msg->msg_namelen = 0;
	if (addr_len)
		*addr_len = 0;
	if (sk->sk_state == TCP_LISTEN)
		return -ENOTCONN;
	if (flags & MSG_OOB)
		return -EINVAL;   /* urgent data is kept inline (RFC 6093): there is no out-of-band byte */
	if (flags & MSG_ERRQUEUE)
		return -EAGAIN;
	if (len == 0)
		return 0;

	for (;;) {
		struct sk_buff *skb = NULL;
		uint32_t offset = 0;
		for (struct sk_buff *p = sk_receive_queue_peek(sk); p; p = sk_receive_queue_next(sk, p)) {
			uint32_t off = seq - TCP_SKB_CB(p)->seq;
			if (off < p->len) {
				skb = p;
				offset = off;
				break;
			}
		}
		if (skb) {
			size_t used = skb->len - offset;
			if (used > len - (size_t)copied)
				used = len - (size_t)copied;
			trace_stage(skb, "tcp_recvmsg");
			iov_copy_to(msg, (size_t)copied, skb->data + offset, used);
			seq += (uint32_t)used;
			copied += (ssize_t)used;
			if (!peek) {
				tp->copied_seq = seq;
				if (offset + used == skb->len) {
					skb_unlink(skb, sk->sk_receive_queue);
					sk_receive_queue_release_if_empty(sk);
					sk->sk_rmem_alloc -= tcp_skb_truesize(skb);
					consume_skb(skb);
				}
			}
			if ((size_t)copied >= len)
				break;
			continue;
		}
		/* Nothing more queued. */
		if ((size_t)copied >= target)
			break;
		if (copied) {
			if (sk->sk_err || sk->sk_state == TCP_CLOSE || (sk->sk_shutdown & RCV_SHUTDOWN) || nonblock)
				break;
		} else {
			if (sk->sk_flags & SOCK_DONE_)
				break;
			if (sk->sk_err) {
				copied = sock_error(sk);
				break;
			}
			if (sk->sk_shutdown & RCV_SHUTDOWN)
				break;
			if (sk->sk_state == TCP_CLOSE) {
				copied = -ENOTCONN;   /* never connected */
				break;
			}
			if (nonblock) {
				copied = -EAGAIN;
				break;
			}
		}
		if (!peek)
			tcp_cleanup_rbuf(sk, (int)copied);
		if (tcp_wait(sk, deadline) < 0) {
			if (!copied)
				copied = -EAGAIN;
			break;
		}
		if (peek)
			seq = tp->copied_seq + (uint32_t)copied;
	}
	if (!peek) {
		if (copied > 0)
			tcp_rcv_space_adjust(sk);
		tcp_cleanup_rbuf(sk, copied > 0 ? (int)copied : 0);
	}
	sock_fd_sync(sk);
	return copied;
}

/* ---- close, shutdown, disconnect ------------------------------------------------------ */

/* RFC 9293 3.10.4 CLOSE (Linux's tcp_close_state): the next state, and whether a FIN goes. */
static int tcp_close_state(struct sock *sk)
{
	switch (sk->sk_state) {
	case TCP_ESTABLISHED:
	case TCP_SYN_RECV:
		tcp_set_state(sk, TCP_FIN_WAIT1);
		return 1;
	case TCP_CLOSE_WAIT:
		tcp_set_state(sk, TCP_LAST_ACK);
		return 1;
	case TCP_SYN_SENT:
	case TCP_LISTEN:
		tcp_set_state(sk, TCP_CLOSE);
		return 0;
	default:
		return 0;
	}
}

/* tcp_prot.shutdown (how: RCV_SHUTDOWN | SEND_SHUTDOWN, inet_shutdown already set sk_shutdown). */
static int tcp_shutdown(struct sock *sk, int how)
{
	if (!(how & SEND_SHUTDOWN))
		return 0;
	lock_sock(sk);
	if (TCPF_STATE(sk->sk_state) & (TCPF_STATE(TCP_ESTABLISHED) | TCPF_STATE(TCP_SYN_SENT) |
					  TCPF_STATE(TCP_SYN_RECV) | TCPF_STATE(TCP_CLOSE_WAIT))) {
		if (tcp_close_state(sk))
			tcp_send_fin(sk);
	}
	release_sock(sk);
	return 0;
}

static int tcp_need_reset(int state)
{
	return TCPF_STATE(state) & (TCPF_STATE(TCP_ESTABLISHED) | TCPF_STATE(TCP_CLOSE_WAIT) |
				    TCPF_STATE(TCP_FIN_WAIT1) | TCPF_STATE(TCP_FIN_WAIT2) | TCPF_STATE(TCP_SYN_RECV));
}

static void tcp_purge_receive(struct sock *sk)
{
	struct tcp_sock *tp = tcp_sk(sk);
	struct sk_buff *skb;
	while (sk->sk_receive_queue && (skb = skb_dequeue(sk->sk_receive_queue)) != NULL) {
		sk->sk_rmem_alloc -= tcp_skb_truesize(skb);
		kfree_skb_reason(skb, NP_DROP_SOCKET_CLOSE);
	}
	sk_receive_queue_release_if_empty(sk);
	while (tp->ofo_queue && (skb = skb_dequeue(tp->ofo_queue)) != NULL) {
		sk->sk_rmem_alloc -= tcp_skb_truesize(skb);
		kfree_skb_reason(skb, NP_DROP_SOCKET_CLOSE);
	}
	tcp_ofo_release_if_empty(tp);
}

/*
 * tcp_prot.disconnect (Linux's tcp_disconnect): connect(AF_UNSPEC),
 * SO_LINGER 0 close, shutdown of a connecting socket. Resets a synchronized
 * connection and makes the socket reusable.
 */
int tcp_disconnect(struct sock *sk, int flags)
{
	struct tcp_sock *tp = tcp_sk(sk);
	int old = sk->sk_state;
	int reset = old != TCP_LISTEN &&
		    (tcp_need_reset(old) || (tp->snd_nxt != tp->write_seq &&
					     (TCPF_STATE(old) & (TCPF_STATE(TCP_FIN_WAIT1) | TCPF_STATE(TCP_CLOSING) |
								 TCPF_STATE(TCP_LAST_ACK)))));

	/* The RST goes first: TCP_CLOSE releases the port (tcp_put_port), and with it the RST's source port. */
	if (reset)
		tcp_send_active_reset(sk);
	if (old != TCP_CLOSE)
		tcp_set_state(sk, TCP_CLOSE);
	if (old == TCP_LISTEN)
		tcp_listen_stop(sk);
	else if (reset || old == TCP_SYN_SENT)
		sk->sk_err = ECONNRESET;
	tcp_clear_xmit_timers(sk);
	tcp_delete_keepalive_timer(sk);
	tcp_purge_receive(sk);
	tcp_write_queue_purge(sk);
	sk->sk_shutdown = 0;
	sk->sk_flags &= ~(unsigned)SOCK_DONE_;
	uint32_t seq = tp->write_seq + tp->max_window + 2;
	tp->write_seq = seq ? seq : 1;
	tp->srtt_us = tp->rttvar_us = 0;
	tp->rto_us = TCP_TIMEOUT_INIT_US;
	tp->backoff = tp->retransmits = tp->probes_out = 0;
	tp->snd_cwnd = TCP_INIT_CWND;
	tp->snd_cwnd_cnt = 0;
	tp->snd_ssthresh = TCP_INFINITE_SSTHRESH;
	tp->snd_wnd = tp->max_window = 0;
	tp->dupacks = 0;
	tp->total_retrans = 0;
	tp->ato_set = 0;
	tp->quick = 0;
	tp->pingpong = 0;
	tcp_set_ca_state(sk, TCP_CA_Open);
	if (!(tp->userlocks & SOCK_BINDADDR_LOCK))
		sk->inet_rcv_saddr = sk->inet_saddr = 0;
	sk->inet_daddr = 0;
	sk->inet_dport = 0;
	sk_cb(sk)->sk_error_report(sk);
	return 0;
}

/*
 * tcp_prot.close (Linux's tcp_close). RFC 2525 2.17 / RFC 1122 4.2.2.13:
 * closing with unread data resets the connection; SO_LINGER with 0 seconds
 * aborts with RST; otherwise a FIN goes and the socket lives on as an orphan
 * until the handshake ends (SO_LINGER > 0 first waits that long for it).
 */
static void tcp_close(struct sock *sk)
{
	struct tcp_sock *tp = tcp_sk(sk);
	struct np_stack *s = sk->stack;
	size_t unread = 0;

	lock_sock(sk);
	sk->sk_shutdown = SHUTDOWN_MASK;
	if (sk->sk_state == TCP_LISTEN) {
		tcp_set_state(sk, TCP_CLOSE);
		tcp_listen_stop(sk);
		goto adjudge_to_death;
	}
	for (struct sk_buff *skb = sk_receive_queue_peek(sk); skb; skb = sk_receive_queue_next(sk, skb))
		unread += skb->len;
	tcp_purge_receive(sk);
	if (sk->sk_state == TCP_CLOSE)
		goto adjudge_to_death;

	if (unread) {
		NP_INC_STATS(s, TcpExtTCPAbortOnClose);
		tcp_send_active_reset(sk);   /* before TCP_CLOSE releases the source port */
		tcp_set_state(sk, TCP_CLOSE);
	} else if ((sk->sk_flags & SOCK_LINGER_) && sk->sk_lingertime == 0) {
		NP_INC_STATS(s, TcpExtTCPAbortOnData);
		tcp_disconnect(sk, 0);
	} else if (tcp_close_state(sk)) {
		tcp_send_fin(sk);
	}

	if ((sk->sk_flags & SOCK_LINGER_) && sk->sk_lingertime > 0) {
		/* sk_stream_wait_close: until our FIN is acknowledged or the linger time passes. */
		uint64_t deadline = np_stack_now(s) + (uint64_t)sk->sk_lingertime * NSEC_PER_SEC;
		while (TCPF_STATE(sk->sk_state) &
		       (TCPF_STATE(TCP_FIN_WAIT1) | TCPF_STATE(TCP_CLOSING) | TCPF_STATE(TCP_LAST_ACK))) {
			if (tcp_wait(sk, deadline) < 0)
				break;
		}
	}

adjudge_to_death:
	/* Threads still blocked on the socket wake and see it shut down. */
	wake_up_all(&sk->sk_wq);
	sk->sk_flags |= SOCK_DEAD_;
	if (sk->sk_state != TCP_CLOSE) {
		/* An orphan: it keeps itself alive until tcp_done. */
		sock_hold(sk);
		tp->orphan_ref = 1;
		if (sk->sk_state == TCP_FIN_WAIT2) {
			long tmo = tp->linger2_s > 0 ? tp->linger2_s : s->sysctl.tcp_fin_timeout;
			if (tp->linger2_s < 0) {
				tcp_send_active_reset(sk);
				NP_INC_STATS(s, TcpExtTCPAbortOnLinger);
				release_sock(sk);
				tcp_done(sk);
				return;
			}
			tcp_reset_keepalive_timer(sk, (uint64_t)tmo * NSEC_PER_SEC);
		}
	} else {
		tcp_clear_xmit_timers(sk);
		tcp_delete_keepalive_timer(sk);
	}
	release_sock(sk);
}

/* ---- poll ------------------------------------------------------------------------ */

/* tcp_prot.poll (Linux's tcp_poll). */
int tcp_poll_mask(struct sock *sk)
{
	struct tcp_sock *tp = tcp_sk(sk);
	int state = sk->sk_state;
	unsigned mask = 0;

	if (state == TCP_LISTEN)
		return tcp_lq(tp) && tcp_lq(tp)->acc_head ? POLLIN | POLLRDNORM : 0;
	if (sk->sk_shutdown == SHUTDOWN_MASK || state == TCP_CLOSE)
		mask |= POLLHUP;
	if (sk->sk_shutdown & RCV_SHUTDOWN)
		mask |= POLLIN | POLLRDNORM | POLLRDHUP;
	if (state != TCP_SYN_SENT && state != TCP_SYN_RECV) {
		if (!sk_receive_queue_empty(sk))
			mask |= POLLIN | POLLRDNORM;
		if (!(sk->sk_shutdown & SEND_SHUTDOWN)) {
			/* sk_stream_is_writeable: free space at least a third of the buffer (Linux's min_wspace). */
			if (sk->sk_sndbuf - tcp_wmem_queued(tp) >= tcp_wmem_queued(tp) / 2)
				mask |= POLLOUT | POLLWRNORM;
			else
				tp->nospace = 1;
		} else {
			mask |= POLLOUT | POLLWRNORM;
		}
	}
	if (sk->sk_err)
		mask |= POLLERR;
	return (int)mask;
}

static unsigned tcp_poll(struct sock *sk) { return (unsigned)tcp_poll_mask(sk); }

/* ---- options ---------------------------------------------------------------------- */

void tcp_set_keepalive(struct sock *sk, int on)
{
	struct tcp_sock *tp = tcp_sk(sk);
	if (TCPF_STATE(sk->sk_state) & (TCPF_STATE(TCP_CLOSE) | TCPF_STATE(TCP_LISTEN)))
		return;
	if (on && !(sk->sk_flags & SOCK_KEEPOPEN_))
		tcp_reset_keepalive_timer(sk, (uint64_t)tcp_keepalive_time_s(tp) * NSEC_PER_SEC);
	else if (!on)
		tcp_delete_keepalive_timer(sk);
}

static int tcp_setsockopt(struct sock *sk, int level, int optname, const void *optval, socklen_t optlen)
{
	struct tcp_sock *tp = tcp_sk(sk);
	if (level != IPPROTO_TCP)
		return -ENOPROTOOPT;
	if (optname == TCP_CONGESTION) {
		char name[16];
		size_t n = optlen < sizeof(name) - 1 ? optlen : sizeof(name) - 1;
		if (n)
			memcpy(name, optval, n);   /* optval may be NULL when optlen is 0: "" is no algorithm, ENOENT */
		name[n] = 0;
		const struct tcp_congestion_ops *ca = tcp_ca_find(name);
		if (!ca)
			return -ENOENT;
		lock_sock(sk);
		if (tp->ca_ops && tp->ca_ops->release)
			tp->ca_ops->release(tp);
		tp->ca_ops = ca;
		if (sk->sk_state != TCP_CLOSE && sk->sk_state != TCP_LISTEN)
			tcp_init_congestion_control(sk);
		release_sock(sk);
		return 0;
	}
	if (optlen < sizeof(int))
		return -EINVAL;
	int val;
	memcpy(&val, optval, sizeof(val));
	int err = 0;
	lock_sock(sk);
	switch (optname) {
	case TCP_NODELAY:
		tp->nodelay = !!val;
		if (val)
			tcp_push_pending_frames(sk);
		break;
	case TCP_CORK:
		tp->cork = !!val;
		if (!val && tcp_send_head(tp))
			__tcp_push_pending_frames(sk, tcp_current_mss(sk),
						  tp->nodelay ? TCP_NAGLE_OFF | TCP_NAGLE_PUSH : 0);
		break;
	case TCP_MAXSEG:
		/* tcp(7): 88 (TCP_MIN_MSS) .. 32767; 0 resets. */
		if (val && (val < TCP_MIN_USER_MSS || val > 32767)) {
			err = -EINVAL;
			break;
		}
		tp->user_mss = (uint16_t)val;
		break;
	case TCP_KEEPIDLE:
		if (val < 1 || val > 32767) {
			err = -EINVAL;
			break;
		}
		tp->keepalive_time_s = val;
		if ((sk->sk_flags & SOCK_KEEPOPEN_) &&
		    !(TCPF_STATE(sk->sk_state) & (TCPF_STATE(TCP_CLOSE) | TCPF_STATE(TCP_LISTEN)))) {
			uint64_t el = tcp_ms_since(sk->stack, tcp_stamp_later(tp->lrcvtime, tp->rcv_tstamp));
			uint64_t want = (uint64_t)val * NSEC_PER_SEC;
			tcp_reset_keepalive_timer(sk, el < want ? want - el : 0);
		}
		break;
	case TCP_KEEPINTVL:
		if (val < 1 || val > 32767)
			err = -EINVAL;
		else
			tp->keepalive_intvl_s = val;
		break;
	case TCP_KEEPCNT:
		if (val < 1 || val > 127)
			err = -EINVAL;
		else
			tp->keepalive_probes = val;
		break;
	case TCP_USER_TIMEOUT:
		if (val < 0)
			err = -EINVAL;
		else
			tp->user_timeout_ms = (uint32_t)val;
		break;
	case TCP_LINGER2:
		if (val < 0)
			tp->linger2_s = -1;
		else if (val > 120)
			tp->linger2_s = 120;
		else
			tp->linger2_s = val;
		break;
	case TCP_QUICKACK:
		if (val) {
			tp->quick = TCP_MAX_QUICKACKS;
			tp->pingpong = 0;
			if (tp->ack_pending && tcp_synchronized(sk->sk_state))
				tcp_send_ack(sk);
		} else {
			tp->pingpong = 1;
		}
		break;
	case TCP_WINDOW_CLAMP:
		/* tcp(7): the largest window offered; 0 lifts it, only while closed. At least half of 2304 (Linux's SOCK_MIN_RCVBUF / 2). */
		if (!val) {
			if (sk->sk_state != TCP_CLOSE)
				err = -EINVAL;
			else
				tp->window_clamp = 0;
		} else {
			tp->window_clamp = val < 0 ? 0x7fffffffu : (uint32_t)(val < 1152 ? 1152 : val);
		}
		break;
	default:
		err = -ENOPROTOOPT;
		break;
	}
	release_sock(sk);
	return err;
}

static int tcp_getsockopt(struct sock *sk, int level, int optname, void *optval, socklen_t *optlen)
{
	struct tcp_sock *tp = tcp_sk(sk);
	if (level != IPPROTO_TCP)
		return -ENOPROTOOPT;
	if ((int)*optlen < 0)
		return -EINVAL;
	if (optname == TCP_CONGESTION) {
		const char *name = tp->ca_ops ? tp->ca_ops->name : tcp_reno.name;
		socklen_t n = (socklen_t)strlen(name) + 1;
		if (*optlen < n)
			n = *optlen;
		memcpy(optval, name, n);
		*optlen = n;
		return 0;
	}
	if (optname == TCP_INFO) {
		struct tcp_info ti;
		memset(&ti, 0, sizeof(ti));
		ti.tcpi_state = (uint8_t)sk->sk_state;
		ti.tcpi_ca_state = tp->ca_state;
		ti.tcpi_retransmits = tp->retransmits;
		ti.tcpi_probes = tp->probes_out;
		ti.tcpi_backoff = tp->backoff;
		ti.tcpi_rto = (uint32_t)(tcp_rto_ns(tp) / NSEC_PER_USEC);
		ti.tcpi_snd_mss = tp->mss_cache;
		ti.tcpi_rcv_mss = tp->rcv_mss;
		ti.tcpi_unacked = tp->packets_out;
		ti.tcpi_lost = tp->lost_out;
		ti.tcpi_retrans = tp->retrans_out;
		ti.tcpi_rtt = tp->srtt_us;
		ti.tcpi_rttvar = tp->rttvar_us;
		ti.tcpi_snd_ssthresh = tp->snd_ssthresh;
		ti.tcpi_snd_cwnd = tp->snd_cwnd;
		ti.tcpi_advmss = tp->advmss;
		ti.tcpi_pmtu = tp->pmtu;
		ti.tcpi_rcv_space = tp->rcv_wnd;
		ti.tcpi_total_retrans = tp->total_retrans;
		if (tp->wscale_ok && tcp_synchronized(sk->sk_state)) {
			ti.tcpi_options |= TCPI_OPT_WSCALE;
			ti.tcpi_snd_wscale = tp->snd_wscale & 0xf;
			ti.tcpi_rcv_wscale = tp->rcv_wscale & 0xf;
		}
		ti.tcpi_rcv_rtt = tp->rcv_rtt_us;
		socklen_t n = *optlen < sizeof(ti) ? *optlen : (socklen_t)sizeof(ti);
		memcpy(optval, &ti, n);
		*optlen = n;
		return 0;
	}
	int v;
	switch (optname) {
	case TCP_NODELAY: v = tp->nodelay; break;
	case TCP_CORK: v = tp->cork; break;
	case TCP_MAXSEG:
		v = tp->mss_cache ? tp->mss_cache : TCP_MSS_DEFAULT;
		if (tp->user_mss && (TCPF_STATE(sk->sk_state) & (TCPF_STATE(TCP_CLOSE) | TCPF_STATE(TCP_LISTEN))))
			v = tp->user_mss;
		break;
	case TCP_KEEPIDLE: v = (int)tcp_keepalive_time_s(tp); break;
	case TCP_KEEPINTVL: v = (int)tcp_keepalive_intvl_s(tp); break;
	case TCP_KEEPCNT: v = tcp_keepalive_probes(tp); break;
	case TCP_USER_TIMEOUT: v = (int)tp->user_timeout_ms; break;
	case TCP_LINGER2: v = tp->linger2_s > 0 ? tp->linger2_s : tp->linger2_s < 0 ? -1 : (int)sk->stack->sysctl.tcp_fin_timeout; break;
	case TCP_QUICKACK: v = !tp->pingpong; break;
	case TCP_WINDOW_CLAMP: v = (int)(tp->window_clamp > 0x7fffffffu ? 0x7fffffffu : tp->window_clamp); break;
	default:
		return -ENOPROTOOPT;
	}
	socklen_t n = *optlen < sizeof(int) ? *optlen : (socklen_t)sizeof(int);
	memcpy(optval, &v, n);
	*optlen = n;
	return 0;
}

/* ---- life -------------------------------------------------------------------------- */

/* tcp_prot.init (Linux's tcp_init_sock): defaults of RFC 9293/6298/5681 and the sysctls. */
static int tcp_init_sock(struct sock *sk)
{
	struct tcp_sock *tp = tcp_sk(sk);
	struct np_stack *s = sk->stack;
	memset((char *)tp + sizeof(struct sock), 0, sizeof(*tp) - sizeof(struct sock));
	tcp_init_xmit_timers(sk);
	tp->rto_us = TCP_TIMEOUT_INIT_US;
	tp->mss_cache = TCP_MSS_DEFAULT;
	tp->snd_cwnd = TCP_INIT_CWND;
	tp->snd_ssthresh = TCP_INFINITE_SSTHRESH;
	tp->ca_ops = &tcp_reno;
	tp->ca_state = TCP_CA_Open;
	tp->pmtu = 1500;
	sk->sk_rcvbuf = (int)s->sysctl.tcp_rmem_default;
	sk->sk_sndbuf = (int)s->sysctl.tcp_wmem_default;
	sk->sk_state = TCP_CLOSE;
	return 0;
}

/* tcp_prot.destroy (Linux's tcp_v4_destroy_sock): the last reference is going. */
static void tcp_v4_destroy_sock(struct sock *sk)
{
	struct tcp_sock *tp = tcp_sk(sk);
	tcp_clear_xmit_timers(sk);
	tcp_delete_keepalive_timer(sk);
	if (tp->parent)
		tcp_child_unlink(sk);
	tcp_listen_stop(sk);
	tcp_write_queue_purge(sk);
	tcp_purge_receive(sk);
	if (sk->stack->tcp_hash) {
		tcp_v4_unhash(sk);
		tcp_put_port(sk);
	}
	free(tcp_lq(tp));
	tp->lq = NULL;
	if (tp->ca_ops && tp->ca_ops->release)
		tp->ca_ops->release(tp);
}

struct proto tcp_prot = {
	.name = "TCP",
	.obj_size = sizeof(struct tcp_sock),
	.init = tcp_init_sock,
	.destroy = tcp_v4_destroy_sock,
	.close = tcp_close,
	.connect = tcp_v4_connect,
	.disconnect = tcp_disconnect,
	.sendmsg = tcp_sendmsg,
	.recvmsg = tcp_recvmsg,
	.shutdown = tcp_shutdown,
	.setsockopt = tcp_setsockopt,
	.getsockopt = tcp_getsockopt,
	.backlog_rcv = tcp_v4_do_rcv,
	.get_port = tcp_v4_get_port,
	.unhash = tcp_v4_unhash,
	.poll = tcp_poll,
	.accept = tcp_accept,
	.keepalive = tcp_set_keepalive,
};
