/*
 * Generic socket core (Linux's net/core/sock.c, net/core/datagram.c):
 * allocation, the stack lock, lock_sock/release_sock with the backlog,
 * receive-queue accounting, wait queues and the default wake-up callbacks.
 * Place in the packet path:
 *   udp_queue_rcv_skb -> sock_queue_rcv_skb -> sk_data_ready (sock_def_readable)
 *   -> wakes the thread blocked in skb_recv_datagram / np_poll.
 */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/stack.h"
#include "socket/sock.h"
#include "socket/slab.h"
#include "trace/trace.h"

/* ---- wait queues ----------------------------------------------------------- */

static void wq_add(struct wait_queue_head *wq, struct wait_queue_entry *e)
{
	e->prev = NULL;
	e->next = wq->first;
	if (wq->first)
		wq->first->prev = e;
	wq->first = e;
}

static void wq_del(struct wait_queue_head *wq, struct wait_queue_entry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		wq->first = e->next;
	if (e->next)
		e->next->prev = e->prev;
	e->next = e->prev = NULL;
}

void wake_up_all(struct wait_queue_head *wq)
{
	for (struct wait_queue_entry *e = wq->first; e; e = e->next) {
		pthread_mutex_lock(e->mu);
		*e->woken = 1;
		pthread_cond_signal(e->cond);
		struct np_stack *busy = e->busy;
		int other = busy && !pthread_equal(e->thread, pthread_self());
		pthread_mutex_unlock(e->mu);
		if (other)
			np_stack_wake(busy);   /* it sleeps in epoll_wait on its devices, not on cond */
	}
}

/* A stack clock that is virtual only moves when a driver moves it: wake up now and then to look. */
#define VIRTUAL_SLICE_NS (5 * NSEC_PER_MSEC)

int sk_wait_event(struct sock *sk, struct wait_queue_head *wq, uint64_t deadline_ns)
{
	struct np_stack *s = sk->stack;
	if (s->lock_depth != 1)
		return -EDEADLK;  /* a callback inside the stack's own context must not sleep */
	pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	pthread_condattr_t ca;
	pthread_cond_t cond;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&cond, &ca);
	pthread_condattr_destroy(&ca);
	int woken = 0, rc = 0;
	struct wait_queue_entry e = { .mu = &mu, .cond = &cond, .woken = &woken };
	wq_add(wq, &e);
	int is_real = np_clock_set(s->clock, 0) == -EINVAL;
	unsigned spin_us = sk->sk_ll_usec;
	int prefer = !!(sk->sk_flags & SOCK_PREFER_BUSY_POLL_);
	np_stack_unlock(s);

	/* Busy polling (SO_BUSY_POLL, SO_PREFER_BUSY_POLL) first, on a real clock only. */
	if (is_real && (spin_us || prefer)) {
		int b = napi_busy_loop(s, &e, deadline_ns, spin_us, prefer);
		if (b == -ETIMEDOUT)
			rc = -ETIMEDOUT;
	}

	pthread_mutex_lock(&mu);
	while (!woken && !rc) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		uint64_t mono = (uint64_t)ts.tv_sec * NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
		uint64_t until;
		if (is_real) {
			if (deadline_ns && np_stack_now(s) >= deadline_ns) {
				rc = -ETIMEDOUT;
				break;
			}
			until = deadline_ns ? deadline_ns : mono + 3600 * NSEC_PER_SEC;
		} else {
			if (deadline_ns && np_stack_now(s) >= deadline_ns) {
				rc = -ETIMEDOUT;
				break;
			}
			until = mono + VIRTUAL_SLICE_NS;
		}
		ts.tv_sec = (time_t)(until / NSEC_PER_SEC);
		ts.tv_nsec = (long)(until % NSEC_PER_SEC);
		pthread_cond_timedwait(&cond, &mu, &ts);
	}
	pthread_mutex_unlock(&mu);

	np_stack_lock(s);
	wq_del(wq, &e);
	pthread_cond_destroy(&cond);
	pthread_mutex_destroy(&mu);
	return woken ? 0 : rc;
}

uint64_t sock_deadline(struct sock *sk, uint64_t timeo_ns)
{
	return timeo_ns ? np_stack_now(sk->stack) + timeo_ns : 0;
}

/* ---- allocation ----------------------------------------------------------- */

/* The object cache of prot's socks (Linux's prot->slab), or NULL: calloc/free then. */
static struct kmem_cache *sk_cache(const struct proto *prot, size_t *size)
{
	*size = prot->obj_size < sizeof(struct sock) ? sizeof(struct sock) : prot->obj_size;
	return kmem_cache_get(*size);
}

struct sock *sk_alloc(struct np_stack *s, int family, struct proto *prot)
{
	_Static_assert(_Alignof(struct sock) <= 8, "kmem_cache objects are 8-byte aligned");
	size_t size;
	struct kmem_cache *c = sk_cache(prot, &size);
	struct sock *sk = c ? kmem_cache_zalloc(c) : calloc(1, size);
	if (!sk)
		return NULL;
	sk->stack = s;
	sk->sk_prot = prot;
	sk->sk_family = family;
	sk->sk_refcnt = 1;
	sk->sk_state = TCP_CLOSE_;
	/* net.core.rmem_default / wmem_default */
	sk->sk_rcvbuf = 212992;
	sk->sk_sndbuf = 212992;
	sk->sk_ll_usec = s->sysctl.busy_read_us > SK_LL_USEC_MAX ? SK_LL_USEC_MAX : (unsigned)s->sysctl.busy_read_us;
	sk->pmtudisc = 1;
	sk->node_next = s->sock_list;
	if (s->sock_list)
		s->sock_list->node_pprev = &sk->node_next;
	s->sock_list = sk;
	sk->node_pprev = &s->sock_list;
	return sk;
}

void sock_put(struct sock *sk)
{
	if (--sk->sk_refcnt > 0)
		return;
	if (sk->sk_prot->destroy)
		sk->sk_prot->destroy(sk);
	if (sk->sk_receive_queue) {
		skb_queue_purge_reason(sk->sk_receive_queue, NP_DROP_SOCKET_CLOSE);
		free(sk->sk_receive_queue);
	}
	if (sk->sk_backlog) {
		skb_queue_purge_reason(sk->sk_backlog, NP_DROP_SOCKET_CLOSE);
		free(sk->sk_backlog);
	}
	*sk->node_pprev = sk->node_next;
	if (sk->node_next)
		sk->node_next->node_pprev = sk->node_pprev;
	if (sk->owned_cond) {
		pthread_cond_destroy(sk->owned_cond);
		free(sk->owned_cond);
	}
	size_t size;
	struct kmem_cache *c = sk_cache(sk->sk_prot, &size);
	if (c)
		kmem_cache_free(c, sk);
	else
		free(sk);
}

/* ---- ownership and the backlog (seed 001) ----------------------------------- */

/*
 * Contention on a socket between user threads is rare, so the condition
 * variable its waiters sleep on is allocated by the first waiter (48 bytes
 * less per socket); it lives until the sock is freed.
 */
void lock_sock(struct sock *sk)
{
	while (sk->owned) {
		/* Another user thread owns it: wait with the stack lock released. */
		struct np_stack *s = sk->stack;
		int depth = s->lock_depth;
		if (!sk->owned_cond) {
			pthread_cond_t *c = malloc(sizeof(*c));
			if (c && pthread_cond_init(c, NULL) == 0) {
				sk->owned_cond = c;
			} else {
				/* No memory for a condition variable: let the owner run, then look again. */
				free(c);
				atomic_store(&s->now_cached, 0);   /* time read before the wait is stale after it */
				s->lock_depth = 0;
				pthread_mutex_unlock(&s->lock);
				sched_yield();
				pthread_mutex_lock(&s->lock);
				s->lock_owner = pthread_self();
				s->lock_depth = depth;
				continue;
			}
		}
		atomic_store(&s->now_cached, 0);   /* time read before the wait is stale after it */
		s->lock_depth = 0;
		pthread_cond_wait(sk->owned_cond, &s->lock);
		s->lock_owner = pthread_self();
		s->lock_depth = depth;
	}
	sk->owned = 1;
}

void release_sock(struct sock *sk)
{
	struct sk_buff *skb;
	while (sk->sk_backlog && (skb = skb_dequeue(sk->sk_backlog)) != NULL) {
		trace_stage(skb, "release_sock");
		sk->sk_prot->backlog_rcv(sk, skb);
	}
	sk->owned = 0;
	if (sk->owned_cond)
		pthread_cond_broadcast(sk->owned_cond);
}

int sk_add_backlog(struct sock *sk, struct sk_buff *skb)
{
	trace_stage(skb, "sk_add_backlog");
	/* Linux's sk_rcvqueues_full: the backlog plus the queue may use rcvbuf + sndbuf. */
	uint32_t queued = sk->sk_backlog ? sk->sk_backlog->bytes : 0;
	if ((int64_t)queued + sk->sk_rmem_alloc + skb->len > (int64_t)sk->sk_rcvbuf + sk->sk_sndbuf) {
		sk->sk_drops++;
		kfree_skb_reason(skb, NP_DROP_SOCKET_RCVBUFF);
		return -ENOBUFS;
	}
	if (!sk->sk_backlog) {
		if (!(sk->sk_backlog = malloc(sizeof(*sk->sk_backlog)))) {
			sk->sk_drops++;
			kfree_skb_reason(skb, NP_DROP_NOMEM);
			return -ENOBUFS;
		}
		skb_queue_head_init(sk->sk_backlog);
	}
	skb_queue_tail(sk->sk_backlog, skb);
	return 0;
}

/* ---- receive queue ---------------------------------------------------------- */

/* What an skb costs against the receive buffer (Linux's truesize: data plus overhead). */
static int skb_truesize(const struct sk_buff *skb)
{
	return (int)(skb->len + sizeof(struct sk_buff) + 64);
}

/* The eventfd of a socket mirrors its readiness; NP_SOCK_NOFD sockets have none until np_socket_fd. */
static void signal_fd(struct sock *sk)
{
	struct socket *so = sk->sk_socket;
	if (so && so->efd >= 0 && !so->readable_signalled) {
		uint64_t one = 1;
		if (write(so->efd, &one, sizeof(one)) == sizeof(one))
			so->readable_signalled = 1;
	}
}

void sock_fd_sync(struct sock *sk)
{
	struct socket *so = sk->sk_socket;
	if (!so || so->efd < 0)
		return;
	unsigned m = sk->sk_prot->poll ? sk->sk_prot->poll(sk) : datagram_poll(sk);
	if (m & (POLLIN | POLLERR | POLLHUP | POLLRDHUP)) {
		signal_fd(sk);
	} else if (so->readable_signalled) {
		uint64_t v;
		if (read(so->efd, &v, sizeof(v)) == sizeof(v))
			so->readable_signalled = 0;
	}
}

/* Clears the eventfd once nothing is left to report, so epoll users see level-triggered readiness. */
static void maybe_unsignal_fd(struct sock *sk)
{
	struct socket *so = sk->sk_socket;
	if (so && sk->sk_prot->poll) {
		/* Stream sockets: readiness is whatever their poll mask says. */
		sock_fd_sync(sk);
		return;
	}
	if (so && so->readable_signalled && sk_receive_queue_empty(sk) && !sk->sk_err &&
	    !(sk->sk_shutdown & RCV_SHUTDOWN)) {
		uint64_t v;
		if (read(so->efd, &v, sizeof(v)) == sizeof(v))
			so->readable_signalled = 0;
	}
}

int sk_receive_queue_get(struct sock *sk)
{
	if (sk->sk_receive_queue)
		return 0;
	if (!(sk->sk_receive_queue = kmem_spare_alloc(KMEM_SPARE_RQ, sizeof(*sk->sk_receive_queue))))
		return -ENOMEM;
	skb_queue_head_init(sk->sk_receive_queue);
	return 0;
}

void sk_receive_queue_release_if_empty(struct sock *sk)
{
	if (sk->sk_receive_queue && skb_queue_empty(sk->sk_receive_queue)) {
		kmem_spare_free(KMEM_SPARE_RQ, sk->sk_receive_queue);
		sk->sk_receive_queue = NULL;
	}
}

int sock_queue_rcv_skb(struct sock *sk, struct sk_buff *skb)
{
	trace_stage(skb, "sock_queue_rcv_skb");
	int ts = skb_truesize(skb);
	if (sk->sk_rmem_alloc + ts > sk->sk_rcvbuf || sk_receive_queue_get(sk) < 0)
		return -ENOMEM;
	sk->sk_rmem_alloc += ts;
	skb->sk = sk;
	skb_queue_tail(sk->sk_receive_queue, skb);
	trace_stage(skb, "sk_data_ready");
	sk_cb(sk)->sk_data_ready(sk);
	return 0;
}

struct sk_buff *skb_recv_datagram(struct sock *sk, int flags)
{
	struct sk_buff *skb = sk_receive_queue_peek(sk);
	if (!skb)
		return NULL;
	if (flags & MSG_PEEK)
		return skb;
	skb_unlink(skb, sk->sk_receive_queue);
	sk_receive_queue_release_if_empty(sk);
	sk->sk_rmem_alloc -= skb_truesize(skb);
	skb->sk = NULL;
	maybe_unsignal_fd(sk);
	return skb;
}

size_t skb_copy_datagram_msg(const struct sk_buff *skb, size_t offset, struct msghdr *msg, size_t len)
{
	size_t done = 0;
	const uint8_t *src = skb->data + offset;
	if (offset >= skb->len)
		return 0;
	if (len > skb->len - offset)
		len = skb->len - offset;
	for (size_t i = 0; i < (size_t)msg->msg_iovlen && done < len; i++) {
		size_t n = msg->msg_iov[i].iov_len;
		if (n > len - done)
			n = len - done;
		if (n)
			memcpy(msg->msg_iov[i].iov_base, src + done, n);
		done += n;
	}
	return done;
}

void memcpy_from_msg(void *buf, const struct msghdr *msg, size_t len)
{
	uint8_t *dst = buf;
	size_t done = 0;
	for (size_t i = 0; i < (size_t)msg->msg_iovlen && done < len; i++) {
		size_t n = msg->msg_iov[i].iov_len;
		if (n > len - done)
			n = len - done;
		if (n)
			memcpy(dst + done, msg->msg_iov[i].iov_base, n);
		done += n;
	}
}

/* ---- callbacks and errors ----------------------------------------------------- */

void sock_def_readable(struct sock *sk)
{
	signal_fd(sk);
	wake_up_all(&sk->sk_wq);
}

void sock_def_write_space(struct sock *sk)
{
	wake_up_all(&sk->sk_wq);
}

const struct sock_callbacks sock_def_callbacks = {
	.sk_data_ready = sock_def_readable,
	.sk_write_space = sock_def_write_space,
	.sk_state_change = sock_def_readable,
	.sk_error_report = sock_def_readable,
};

void sk_error_set(struct sock *sk, int err)
{
	sk->sk_err = err;
	sk_cb(sk)->sk_error_report(sk);
}

int sock_error(struct sock *sk)
{
	int err = sk->sk_err;
	if (!err)
		return 0;
	sk->sk_err = 0;
	maybe_unsignal_fd(sk);
	return -err;
}

unsigned datagram_poll(struct sock *sk)
{
	unsigned mask = 0;
	if (sk->sk_err)
		mask |= POLLERR;
	if (sk->sk_shutdown & RCV_SHUTDOWN)
		mask |= POLLRDHUP | POLLIN | POLLRDNORM;
	if (sk->sk_shutdown == (RCV_SHUTDOWN | SEND_SHUTDOWN))
		mask |= POLLHUP;
	if (!sk_receive_queue_empty(sk))
		mask |= POLLIN | POLLRDNORM;
	if (sk->sk_wmem_alloc < sk->sk_sndbuf)
		mask |= POLLOUT | POLLWRNORM | POLLWRBAND;
	return mask;
}

/* ---- SOL_SOCKET options (Linux's sock_setsockopt / sk_getsockopt) ------------- */

/* net.core.rmem_max / wmem_max: what a user may ask for before doubling. */
#define SYSCTL_RMEM_MAX 212992
#define SYSCTL_WMEM_MAX 212992
#define SOCK_MIN_RCVBUF 2304
#define SOCK_MIN_SNDBUF 4608

static int get_timeval_ns(const void *optval, socklen_t optlen, uint64_t *ns)
{
	struct timeval tv;
	if (optlen < sizeof(tv))
		return -EINVAL;
	memcpy(&tv, optval, sizeof(tv));
	if (tv.tv_usec < 0 || tv.tv_usec >= 1000000)
		return -EDOM;
	if (tv.tv_sec < 0) {
		*ns = 0;   /* Linux treats a negative timeout as "no timeout"... after a warning */
		return 0;
	}
	*ns = (uint64_t)tv.tv_sec * NSEC_PER_SEC + (uint64_t)tv.tv_usec * NSEC_PER_USEC;
	return 0;
}

static void set_flag(struct sock *sk, unsigned flag, int on)
{
	if (on)
		sk->sk_flags |= flag;
	else
		sk->sk_flags &= ~flag;
}

int sock_setsockopt(struct sock *sk, int optname, const void *optval, socklen_t optlen)
{
	if (optname == SO_RCVTIMEO || optname == SO_SNDTIMEO) {
		uint64_t ns;
		int rc = get_timeval_ns(optval, optlen, &ns);
		if (rc)
			return rc;
		/* Whole ms rounded up (Linux: jiffies); beyond 32 bits of ms, forever (Linux: MAX_SCHEDULE_TIMEOUT). */
		uint64_t ms = ns / NSEC_PER_MSEC + (ns % NSEC_PER_MSEC != 0);
		uint32_t v = ms > UINT32_MAX ? 0 : (uint32_t)ms;
		if (optname == SO_RCVTIMEO)
			sk->sk_rcvtimeo_ms = v;
		else
			sk->sk_sndtimeo_ms = v;
		return 0;
	}
	if (optname == SO_LINGER) {
		/* socket(7): l_onoff on + l_linger 0 makes close abortive (RST); else close waits up to l_linger s. */
		struct linger ling;
		if (optlen < sizeof(ling))
			return -EINVAL;
		memcpy(&ling, optval, sizeof(ling));
		if (!ling.l_onoff) {
			sk->sk_flags &= ~SOCK_LINGER_;
		} else {
			sk->sk_lingertime = ling.l_linger < 0 ? 0 : ling.l_linger;
			sk->sk_flags |= SOCK_LINGER_;
		}
		return 0;
	}
	if (optlen < sizeof(int))
		return -EINVAL;
	int val;
	memcpy(&val, optval, sizeof(val));
	switch (optname) {
	case SO_REUSEADDR:
		set_flag(sk, SOCK_REUSEADDR_, val);
		return 0;
	case SO_REUSEPORT:
		set_flag(sk, SOCK_REUSEPORT_, val);
		return 0;
	case SO_BROADCAST:
		set_flag(sk, SOCK_BROADCAST_, val);
		return 0;
	case SO_KEEPALIVE:
		if (sk->sk_prot->keepalive)
			sk->sk_prot->keepalive(sk, !!val);
		set_flag(sk, SOCK_KEEPOPEN_, val);
		return 0;
	case SO_OOBINLINE:
		set_flag(sk, SOCK_URGINLINE_, val);
		return 0;
	case SO_TIMESTAMP:
		set_flag(sk, SOCK_RCVTSTAMP_, val);
		return 0;
	case SO_BUSY_POLL:
		/* Linux's sk_ll_usec (no CAP_NET_ADMIN check here); netpath keeps up to SK_LL_USEC_MAX. */
		if (val < 0)
			return -EINVAL;
		sk->sk_ll_usec = (unsigned)val > SK_LL_USEC_MAX ? SK_LL_USEC_MAX : (unsigned)val;
		return 0;
	case SO_PREFER_BUSY_POLL:
		set_flag(sk, SOCK_PREFER_BUSY_POLL_, val);
		return 0;
	case SO_RCVBUF:
		/* socket(7): the kernel doubles the value to allow for bookkeeping overhead. */
		if (val > SYSCTL_RMEM_MAX)
			val = SYSCTL_RMEM_MAX;
		if (val < 0)
			val = 0;
		sk->sk_rcvbuf = val * 2 < SOCK_MIN_RCVBUF ? SOCK_MIN_RCVBUF : val * 2;
		sk->sk_userlocks |= SOCK_RCVBUF_LOCK;
		return 0;
	case SO_SNDBUF:
		if (val > SYSCTL_WMEM_MAX)
			val = SYSCTL_WMEM_MAX;
		if (val < 0)
			val = 0;
		sk->sk_sndbuf = val * 2 < SOCK_MIN_SNDBUF ? SOCK_MIN_SNDBUF : val * 2;
		sk->sk_userlocks |= SOCK_SNDBUF_LOCK;
		sk_cb(sk)->sk_write_space(sk);
		return 0;
	case SO_TYPE:
	case SO_ERROR:
	case SO_PROTOCOL:
	case SO_DOMAIN:
	case SO_ACCEPTCONN:
		return -ENOPROTOOPT;
	default:
		return -ENOPROTOOPT;
	}
}

static int put_opt(void *optval, socklen_t *optlen, const void *v, socklen_t len)
{
	if (*optlen > len)
		*optlen = len;
	memcpy(optval, v, *optlen);
	return 0;
}

int sock_getsockopt(struct sock *sk, int optname, void *optval, socklen_t *optlen)
{
	if ((int)*optlen < 0)
		return -EINVAL;
	if (optname == SO_RCVTIMEO || optname == SO_SNDTIMEO) {
		uint64_t ns = optname == SO_RCVTIMEO ? sock_rcvtimeo_ns(sk) : sock_sndtimeo_ns(sk);
		struct timeval tv = { .tv_sec = (time_t)(ns / NSEC_PER_SEC),
				      .tv_usec = (suseconds_t)((ns % NSEC_PER_SEC) / NSEC_PER_USEC) };
		return put_opt(optval, optlen, &tv, sizeof(tv));
	}
	if (optname == SO_LINGER) {
		struct linger ling = { .l_onoff = !!(sk->sk_flags & SOCK_LINGER_), .l_linger = sk->sk_lingertime };
		return put_opt(optval, optlen, &ling, sizeof(ling));
	}
	int v;
	switch (optname) {
	case SO_ACCEPTCONN: v = sk->sk_state == 10 /* TCP_LISTEN */; break;
	case SO_OOBINLINE: v = !!(sk->sk_flags & SOCK_URGINLINE_); break;
	case SO_REUSEADDR: v = !!(sk->sk_flags & SOCK_REUSEADDR_); break;
	case SO_REUSEPORT: v = !!(sk->sk_flags & SOCK_REUSEPORT_); break;
	case SO_BROADCAST: v = !!(sk->sk_flags & SOCK_BROADCAST_); break;
	case SO_KEEPALIVE: v = !!(sk->sk_flags & SOCK_KEEPOPEN_); break;
	case SO_TIMESTAMP: v = !!(sk->sk_flags & SOCK_RCVTSTAMP_); break;
	case SO_BUSY_POLL: v = (int)sk->sk_ll_usec; break;
	case SO_PREFER_BUSY_POLL: v = !!(sk->sk_flags & SOCK_PREFER_BUSY_POLL_); break;
	case SO_RCVBUF: v = sk->sk_rcvbuf; break;
	case SO_SNDBUF: v = sk->sk_sndbuf; break;
	case SO_TYPE: v = sk->sk_type; break;
	case SO_PROTOCOL: v = sk->sk_protocol; break;
	case SO_DOMAIN: v = sk->sk_family; break;
	case SO_ERROR:
		/* Linux's sk_getsockopt: a pending hard error, else the last soft one (e.g. ICMP unreachable). */
		v = -sock_error(sk);
		if (!v) {
			v = sk->sk_err_soft;
			sk->sk_err_soft = 0;
		}
		break;
	default:
		return -ENOPROTOOPT;
	}
	return put_opt(optval, optlen, &v, sizeof(v));
}
