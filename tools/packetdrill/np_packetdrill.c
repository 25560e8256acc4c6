/*
 * The packetdrill adapter: packetdrill's shared-object mode
 * (packetdrill --so_filename=build/libnetpath-packetdrill.so) drives one
 * netpath stack through the table of pd_interface.h.
 *
 * Place in the packet path: this file is the driver of a device `tun0`.
 *   script "<" packet: pd_netdev_send -> netif_receive_skb -> ip_rcv -> ...
 *   stack output: ... -> dev_queue_xmit -> dev_hard_start_xmit ->
 *                 pd_start_xmit (strips Ethernet, queues) -> pd_netdev_receive
 *   script system calls: pd_socket, pd_send ... -> np_socket, np_send ...
 *
 * Time. By default the stack runs on a virtual clock that only this file
 * moves: usleep advances it, stopping at every stack timer so each fires
 * at its own instant; netdev_receive, when nothing is queued, advances it
 * to the next timer (a retransmission, a delayed ACK) the same way; every
 * gettimeofday moves it by 1 us so packetdrill's short spin-waits end.
 * packetdrill checks each event's time against its own clock reading,
 * which is this clock, so timing checks are exact and runs repeatable.
 * clock=real in the flags runs the stack on the real clock in its own
 * thread instead.
 *
 * Threads. packetdrill runs blocking system calls in a second thread and
 * reads that call's end time as soon as it returns. Before moving time on,
 * the thread that drives time (the one that called the init function)
 * lets a call woken by the last round of work return and read the clock
 * (pd_grace, watching the thread's state in /proc as packetdrill does),
 * and stops at the deadline of any poll or epoll_wait sleeping in the
 * other thread. While the driver itself waits for that thread outside
 * this library, a keeper thread lets virtual time run at real speed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "core/netdevice.h"
#include "core/skbuff.h"
#include "core/stack.h"
#include "core/timer.h"
#include "netpath/netpath.h"
#include "netpath/socket.h"
#include "pd_interface.h"
#include "wire/eth.h"

#define PD_EXPORT __attribute__((visibility("default")))

#define PD_DEV_NAME "tun0"
#define PD_DEFAULT_LOCAL "192.168.0.2"
#define PD_DEFAULT_PREFIX 16             /* packetdrill's --netmask_ip default 255.255.0.0 */
#define PD_VCLOCK_START NSEC_PER_SEC
#define PD_TICK_NS NSEC_PER_USEC         /* each gettimeofday moves virtual time this much */
#define PD_MAX_ROUNDS 1000               /* np_stack_poll rounds per pd_run */
#define PD_IDLE_REAL_MS 1000             /* netdev_receive: real wait when no timer is pending */
#define PD_SLICE_MS 1                    /* real nap of a poll waiting for virtual time */
#define PD_MAX_THREADS 8                 /* other threads making calls (packetdrill has one) */
#define PD_KEEPER_TICK_NS NSEC_PER_MSEC  /* the time keeper's real-time period */
#define PD_KEEPER_IDLE_TICKS 5           /* ticks of a sleeping driver before the keeper moves time */

/* The MAC the script's remote end sends from; with NOARP it is never resolved. */
static const uint8_t pd_peer_mac[ETH_ALEN] = { 0x02, 0x70, 0x64, 0x00, 0x00, 0x01 };

struct pd_pkt {
	struct pd_pkt *next;
	long long ts_us;
	size_t len;
	unsigned char data[];
};

struct pd_epoll_item {
	int fd;
	uint32_t events;                 /* as given to epoll_ctl */
	uint64_t data;
	uint32_t last;                   /* EPOLLET: readiness at the last report */
	int disabled;                    /* EPOLLONESHOT fired, until EPOLL_CTL_MOD */
};

/* A thread other than the time-driving one that makes calls (packetdrill's syscall thread). */
struct pd_thread {
	pid_t tid;
	int inflight;                    /* calls in progress */
	int pending_stamp;               /* one returned; the thread has not read the clock since */
};

struct pd_epoll {
	struct pd_epoll *next;
	int epfd;                        /* a real epoll fd: it only reserves the number */
	struct pd_epoll_item *items;
	int n, cap;
};

struct pd {
	struct np_stack *s;
	struct np_clock *clock;          /* the virtual clock; NULL with clock=real */
	struct net_device *dev;
	struct np_capture *cap;
	pthread_t main_thread;           /* drives time: packetdrill's main thread */
	pid_t main_tid;
	atomic_int main_driving;         /* the driver is inside usleep, netdev_* or a poll */
	atomic_int main_in_call;         /* the driver is inside a socket call */
	pthread_t keeper;                /* pd_keeper: moves idle virtual time, or kicks the real-clock stack */
	int keeper_running;
	atomic_int keeper_stop;
	long long epoch_us;              /* gettimeofday = epoch_us + stack time */

	/* flags */
	int want_virtual;
	char local[INET_ADDRSTRLEN];
	uint32_t local_ip;               /* host order */
	int prefix_len;
	unsigned mtu;
	uint64_t seed;
	unsigned trace;
	char *pcap;
	uint64_t recv_timeout_ns;        /* how far netdev_receive may move time */
	uint64_t grace_ns;               /* most real time granted to woken calls */

	pthread_mutex_t mu;              /* guards everything below */
	pthread_cond_t cond;             /* packet queued; call in another thread returned or stamped */
	struct pd_pkt *q_head, **q_tail;
	struct pd_thread threads[PD_MAX_THREADS];
	int nthreads;
	int dirty;                       /* the stack did work since the last grace */
	uint64_t *waiters;               /* virtual deadlines of polls sleeping in other threads */
	int nwaiters, waiters_cap;
	int *fds;                        /* sockets handed to packetdrill */
	int nfds, fds_cap;
	struct pd_epoll *epolls;
	int warned_dst, warned_v6;
};

static struct pd *pd_of(void *userdata) { return userdata; }
static int pd_virtual(const struct pd *pd) { return pd->clock != NULL; }
static int pd_is_main(const struct pd *pd) { return pthread_equal(pthread_self(), pd->main_thread); }

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

/* An absolute CLOCK_REALTIME timespec ns from now, for pthread_cond_timedwait. */
static struct timespec deadline_in(uint64_t ns)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	uint64_t t = (uint64_t)ts.tv_nsec + ns;
	ts.tv_sec += (time_t)(t / NSEC_PER_SEC);
	ts.tv_nsec = (long)(t % NSEC_PER_SEC);
	return ts;
}

static long long pd_usecs(const struct pd *pd, uint64_t stack_ns)
{
	return pd->epoch_us + (long long)(stack_ns / NSEC_PER_USEC);
}

/* ---- fd bookkeeping -------------------------------------------------------- */

static int grow(void **arr, int *cap, int need, size_t elem)
{
	if (need <= *cap)
		return 0;
	int n = *cap ? *cap * 2 : 16;
	while (n < need)
		n *= 2;
	void *p = realloc(*arr, (size_t)n * elem);
	if (!p)
		return -1;
	*arr = p;
	*cap = n;
	return 0;
}

static void track_fd(struct pd *pd, int fd)
{
	if (fd < 0)
		return;
	pthread_mutex_lock(&pd->mu);
	if (grow((void **)&pd->fds, &pd->fds_cap, pd->nfds + 1, sizeof(int)) == 0)
		pd->fds[pd->nfds++] = fd;
	pthread_mutex_unlock(&pd->mu);
}

/* Caller holds pd->mu. Forgets fd as a socket and as a member of any epoll set (Linux does so on close). */
static void untrack_fd_locked(struct pd *pd, int fd)
{
	for (int i = 0; i < pd->nfds; i++) {
		if (pd->fds[i] == fd) {
			pd->fds[i] = pd->fds[--pd->nfds];
			break;
		}
	}
	for (struct pd_epoll *ep = pd->epolls; ep; ep = ep->next) {
		for (int i = 0; i < ep->n; i++) {
			if (ep->items[i].fd == fd) {
				ep->items[i] = ep->items[--ep->n];
				break;
			}
		}
	}
}

/* Caller holds pd->mu. */
static struct pd_epoll *find_epoll_locked(struct pd *pd, int epfd)
{
	for (struct pd_epoll *ep = pd->epolls; ep; ep = ep->next)
		if (ep->epfd == epfd)
			return ep;
	return NULL;
}

/* ---- running the stack and moving time ------------------------------------- */

/*
 * Runs softirq rounds until the stack is idle; returns the work done. With
 * clock=real the stack's own thread does that: it is only interrupted, so
 * that it also notices timers armed by the call just made.
 */
static int pd_run(struct pd *pd)
{
	if (!pd_virtual(pd)) {
		netif_irq_raise(pd->dev);
		return 0;
	}
	int total = 0;
	for (int i = 0; i < PD_MAX_ROUNDS; i++) {
		int w = np_stack_poll(pd->s);
		if (w <= 0)
			break;
		total += w;
	}
	if (total) {
		pthread_mutex_lock(&pd->mu);
		pd->dirty = 1;
		pthread_mutex_unlock(&pd->mu);
	}
	return total;
}

static uint64_t pd_next_timer(struct pd *pd)
{
	np_stack_lock(pd->s);
	uint64_t t = np_stack_next_timer(pd->s);
	np_stack_unlock(pd->s);
	return t;
}

/* The earliest deadline after now of a poll sleeping in another thread; UINT64_MAX if none. */
static uint64_t pd_next_waiter(struct pd *pd, uint64_t now)
{
	uint64_t best = UINT64_MAX;
	pthread_mutex_lock(&pd->mu);
	for (int i = 0; i < pd->nwaiters; i++)
		if (pd->waiters[i] > now && pd->waiters[i] < best)
			best = pd->waiters[i];
	pthread_mutex_unlock(&pd->mu);
	return best;
}

/* True if the thread is asleep (state S in /proc): blocked and not woken, since a wake-up makes it R. */
static int thread_sleeping(pid_t tid)
{
	char path[64], st[512];
	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)tid);
	FILE *f = fopen(path, "r");
	if (!f)
		return 1;   /* gone, or no /proc: nothing to wait for */
	size_t n = fread(st, 1, sizeof(st) - 1, f);
	fclose(f);
	st[n] = '\0';
	const char *p = strrchr(st, ')');   /* the name may hold spaces and parentheses */
	return !p || p[1] != ' ' || p[2] == 'S';
}

/*
 * Before time moves on after the stack did work: a call in another thread
 * that the work woke (or whose poll deadline has come) must first return
 * and read the clock, so its end time is the instant it was woken, as it
 * would be on a kernel. Waits (real time, at most grace_ns) until every
 * such thread has done so or is asleep again, checked twice.
 */
static void pd_grace(struct pd *pd)
{
	pthread_mutex_lock(&pd->mu);
	if (!pd->dirty) {
		pthread_mutex_unlock(&pd->mu);
		return;
	}
	uint64_t stop = mono_ns() + pd->grace_ns;
	int calm = 0;
	for (;;) {
		uint64_t now = np_stack_now(pd->s);
		int busy = 0, watched = 0;
		for (int i = 0; i < pd->nwaiters; i++)
			if (pd->waiters[i] <= now)
				busy = 1;   /* it will return within a nap; wait for it */
		for (int i = 0; i < pd->nthreads && !busy; i++) {
			struct pd_thread *t = &pd->threads[i];
			if (!t->inflight && !t->pending_stamp)
				continue;
			watched = 1;
			if (!thread_sleeping(t->tid))
				busy = 1;
		}
		if (!busy && (!watched || ++calm >= 2))
			break;
		if (busy)
			calm = 0;
		if (mono_ns() > stop)
			break;
		struct timespec until = deadline_in(50 * NSEC_PER_USEC);
		pthread_cond_timedwait(&pd->cond, &pd->mu, &until);
	}
	pd->dirty = 0;
	pthread_mutex_unlock(&pd->mu);
}

/*
 * Moves the virtual clock forward to target, stopping at every stack timer
 * and at every deadline of a poll sleeping in another thread, so that each
 * happens at its own instant.
 */
static void pd_advance_to(struct pd *pd, uint64_t target)
{
	for (;;) {
		pd_grace(pd);
		uint64_t now = np_stack_now(pd->s);
		if (now >= target)
			return;
		uint64_t step = target;
		uint64_t t = pd_next_timer(pd);
		uint64_t w = pd_next_waiter(pd, now);
		if (t < step)
			step = t;
		if (w < step)
			step = w;
		if (step <= now)
			step = now + 1;   /* an overdue timer: run it, and make progress */
		np_clock_set(pd->clock, step);
		pd_run(pd);
		if (step == w) {
			/* The sleeper must see its deadline and return before time moves on. */
			pthread_mutex_lock(&pd->mu);
			pd->dirty = 1;
			pthread_mutex_unlock(&pd->mu);
		}
	}
}

/* Caller holds pd->mu: the record of the calling thread, or NULL when the table is full. */
static struct pd_thread *pd_self_locked(struct pd *pd)
{
	pid_t tid = (pid_t)syscall(SYS_gettid);
	for (int i = 0; i < pd->nthreads; i++)
		if (pd->threads[i].tid == tid)
			return &pd->threads[i];
	if (pd->nthreads == PD_MAX_THREADS)
		return NULL;
	pd->threads[pd->nthreads] = (struct pd_thread){ .tid = tid };
	return &pd->threads[pd->nthreads++];
}

/* Calls made outside the time-driving thread are tracked for pd_grace. */
static void pd_enter(struct pd *pd)
{
	if (pd_is_main(pd)) {
		atomic_fetch_add(&pd->main_in_call, 1);
		return;
	}
	pthread_mutex_lock(&pd->mu);
	struct pd_thread *t = pd_self_locked(pd);
	if (t) {
		t->inflight++;
		t->pending_stamp = 0;
	}
	pthread_mutex_unlock(&pd->mu);
}

static void pd_leave(struct pd *pd)
{
	if (pd_is_main(pd)) {
		atomic_fetch_sub(&pd->main_in_call, 1);
		return;
	}
	pthread_mutex_lock(&pd->mu);
	struct pd_thread *t = pd_self_locked(pd);
	if (t) {
		t->inflight--;
		t->pending_stamp = 1;
	}
	pthread_cond_broadcast(&pd->cond);
	pthread_mutex_unlock(&pd->mu);
}

/*
 * The time keeper. packetdrill's main thread sometimes waits, outside this
 * library, for its system call thread to finish a call (before the next
 * system call, and at the end). If that call waits for virtual time (a
 * poll timeout, a retransmission timer), nobody would move time and both
 * would wait for each other. While the driver sleeps outside the library
 * and every call in progress sleeps too, the keeper lets virtual time run
 * at the speed of real time, exactly what a kernel's clock would do.
 */
static int pd_callers_asleep(struct pd *pd)
{
	int waiting = atomic_load(&pd->main_in_call) > 0, all = 1;
	uint64_t now = np_stack_now(pd->s);
	pthread_mutex_lock(&pd->mu);
	/* A poll whose deadline has come, or a call that returned, must read the clock first. */
	for (int i = 0; i < pd->nwaiters; i++)
		if (pd->waiters[i] <= now)
			all = 0;
	for (int i = 0; i < pd->nthreads; i++)
		if (pd->threads[i].pending_stamp)
			all = 0;
	for (int i = 0; i < pd->nthreads; i++) {
		if (!pd->threads[i].inflight)
			continue;
		waiting = 1;
		if (!thread_sleeping(pd->threads[i].tid))
			all = 0;
	}
	pthread_mutex_unlock(&pd->mu);
	return waiting && all;
}

static void pd_keeper_advance(struct pd *pd, uint64_t by)
{
	uint64_t now = np_stack_now(pd->s), target = now + by;
	while (now < target && !atomic_load(&pd->main_driving)) {
		uint64_t step = target, t = pd_next_timer(pd), w = pd_next_waiter(pd, now);
		if (t < step)
			step = t;
		if (w < step)
			step = w;
		if (step <= now)
			step = now + 1;
		np_clock_set(pd->clock, step);
		pd_run(pd);
		if (step == w)
			break;   /* that poll returns first (pd_callers_asleep holds the keeper meanwhile) */
		now = np_stack_now(pd->s);
	}
}

static void *pd_keeper(void *arg)
{
	struct pd *pd = arg;
	int idle = 0;
	uint64_t last = mono_ns();
	while (!atomic_load(&pd->keeper_stop)) {
		struct timespec ts = { 0, (long)PD_KEEPER_TICK_NS };
		nanosleep(&ts, NULL);
		if (!pd_virtual(pd)) {
			/*
			 * clock=real: a timer armed by a call that then slept (a blocking
			 * connect's SYN retransmission) must still wake the stack's thread,
			 * which computed its sleep before the timer existed.
			 */
			netif_irq_raise(pd->dev);
			continue;
		}
		uint64_t m = mono_ns(), elapsed = m - last;
		last = m;
		if (atomic_load(&pd->main_driving) || !thread_sleeping(pd->main_tid) || !pd_callers_asleep(pd)) {
			idle = 0;
			continue;
		}
		if (++idle >= PD_KEEPER_IDLE_TICKS)
			pd_keeper_advance(pd, elapsed);
	}
	return NULL;
}

/* Brackets the driver's own time-moving calls, during which the keeper keeps still. */
static void pd_drive(struct pd *pd, int delta)
{
	if (pd_is_main(pd))
		atomic_fetch_add(&pd->main_driving, delta);
}

/* Runs a socket call: counted, then the stack is run to idle; errno survives. */
#define PD_CALL(pd, type, expr)                 \
	do {                                    \
		pd_enter(pd);                   \
		type r_ = (expr);               \
		int e_ = errno;                 \
		pd_leave(pd);                   \
		pd_run(pd);                     \
		errno = e_;                     \
		return r_;                      \
	} while (0)

/* ---- the device ------------------------------------------------------------ */

/* Consumes skb: the IPv4 packet behind the Ethernet header is queued for pd_netdev_receive. */
static netdev_tx_t pd_start_xmit(struct sk_buff *skb, struct net_device *dev)
{
	struct pd *pd = *(struct pd **)dev->priv;
	if (skb->len <= ETH_HLEN || ((unsigned)skb->data[12] << 8 | skb->data[13]) != ETH_P_IP) {
		/* packetdrill sees IP only; anything else (none expected with NOARP) ends here. */
		consume_skb(skb);
		return NETDEV_TX_OK;
	}
	size_t len = skb->len - ETH_HLEN;
	struct pd_pkt *p = malloc(sizeof(*p) + len);
	if (!p) {
		kfree_skb_reason(skb, NP_DROP_NOMEM);
		return NETDEV_TX_OK;
	}
	p->next = NULL;
	p->len = len;
	p->ts_us = pd_usecs(pd, np_stack_now(pd->s));
	memcpy(p->data, skb->data + ETH_HLEN, len);
	consume_skb(skb);

	pthread_mutex_lock(&pd->mu);
	*pd->q_tail = p;
	pd->q_tail = &p->next;
	pthread_cond_broadcast(&pd->cond);
	pthread_mutex_unlock(&pd->mu);
	return NETDEV_TX_OK;
}

/* Frames arrive by pd_netdev_send, never on a ring: the interrupt only wakes the stack (clock=real). */
static int pd_napi_poll(struct napi_struct *napi, int budget)
{
	napi_complete_done(napi, 0);
	return 0;
}

static const struct net_device_ops pd_netdev_ops = {
	.ndo_start_xmit = pd_start_xmit,
};

/* Takes the oldest queued packet into buf; 1 if there was one. */
static int pd_dequeue(struct pd *pd, void *buf, size_t *count, long long *time_usecs)
{
	pthread_mutex_lock(&pd->mu);
	struct pd_pkt *p = pd->q_head;
	if (p) {
		pd->q_head = p->next;
		if (!pd->q_head)
			pd->q_tail = &pd->q_head;
	}
	pthread_mutex_unlock(&pd->mu);
	if (!p)
		return 0;
	size_t n = p->len < *count ? p->len : *count;
	memcpy(buf, p->data, n);
	*count = n;
	*time_usecs = p->ts_us;
	free(p);
	return 1;
}

/* Waits (real time) up to ns for a packet to be queued; 1 if the queue is not empty. */
static int pd_wait_queue(struct pd *pd, uint64_t ns)
{
	pthread_mutex_lock(&pd->mu);
	struct timespec until = deadline_in(ns);
	while (!pd->q_head)
		if (pthread_cond_timedwait(&pd->cond, &pd->mu, &until) == ETIMEDOUT)
			break;
	int have = pd->q_head != NULL;
	pthread_mutex_unlock(&pd->mu);
	return have;
}

static int pd_netdev_send_inner(void *userdata, const void *buf, size_t count)
{
	struct pd *pd = pd_of(userdata);
	const uint8_t *ip = buf;
	if (!buf || count < 20 || count > 65535 || (ip[0] >> 4) != 4) {
		if (buf && count && (ip[0] >> 4) == 6 && !pd->warned_v6 && (pd->warned_v6 = 1))
			fprintf(stderr, "netpath-packetdrill: netpath speaks IPv4 only; run packetdrill with --ip_version=ipv4\n");
		errno = EAFNOSUPPORT;
		return -1;
	}
	uint32_t daddr = (uint32_t)ip[16] << 24 | (uint32_t)ip[17] << 16 | (uint32_t)ip[18] << 8 | ip[19];
	if (daddr != pd->local_ip && !pd->warned_dst) {
		pd->warned_dst = 1;
		char a[INET_ADDRSTRLEN];
		struct in_addr in = { .s_addr = htonl(daddr) };
		inet_ntop(AF_INET, &in, a, sizeof(a));
		fprintf(stderr,
			"netpath-packetdrill: a script packet is addressed to %s but the stack's address is %s:\n"
			"  run packetdrill with --local_ip=%s, or pass local_ip=%s in --so_flags\n",
			a, pd->local, pd->local, a);
	}

	unsigned char *frame = malloc(ETH_HLEN + count);
	if (!frame) {
		errno = ENOMEM;
		return -1;
	}
	struct eth_repr eth = { .ethertype = ETH_P_IP };
	memcpy(eth.dst, pd->dev->dev_addr, ETH_ALEN);
	memcpy(eth.src, pd_peer_mac, ETH_ALEN);
	eth_emit(&eth, frame, ETH_HLEN);
	memcpy(frame + ETH_HLEN, buf, count);

	/* As a driver's receive: the frame goes up under the stack lock, then softirq work runs. */
	np_stack_lock(pd->s);
	struct sk_buff *skb = netdev_alloc_skb_copy(pd->dev, frame, (uint32_t)(ETH_HLEN + count));
	if (skb)
		netif_receive_skb(skb);
	np_stack_unlock(pd->s);
	free(frame);
	if (!skb) {
		errno = ENOMEM;
		return -1;
	}
	pthread_mutex_lock(&pd->mu);
	pd->dirty = 1;
	pthread_mutex_unlock(&pd->mu);
	pd_run(pd);
	return 0;
}

static int pd_netdev_send(void *userdata, const void *buf, size_t count)
{
	pd_drive(pd_of(userdata), 1);
	int r = pd_netdev_send_inner(userdata, buf, count);
	int e = errno;
	pd_drive(pd_of(userdata), -1);
	errno = e;
	return r;
}

static int pd_netdev_receive_inner(void *userdata, void *buf, size_t *count, long long *time_usecs)
{
	struct pd *pd = pd_of(userdata);
	if (!buf || !count || !time_usecs) {
		errno = EFAULT;
		return -1;
	}
	uint64_t limit = np_stack_now(pd->s) + pd->recv_timeout_ns;
	uint64_t idle_since = 0;
	for (;;) {
		if (pd_dequeue(pd, buf, count, time_usecs))
			return 0;
		if (!pd_virtual(pd)) {
			/* The stack's own thread sends in real time. */
			if (pd_wait_queue(pd, pd->recv_timeout_ns))
				continue;
			break;
		}
		/* Another thread may be about to send: let it, before time moves. */
		pthread_mutex_lock(&pd->mu);
		pd->dirty = 1;
		pthread_mutex_unlock(&pd->mu);
		pd_grace(pd);
		if (pd_run(pd))
			continue;
		pthread_mutex_lock(&pd->mu);
		int queued = pd->q_head != NULL;
		pthread_mutex_unlock(&pd->mu);
		if (queued)
			continue;
		uint64_t now = np_stack_now(pd->s);
		uint64_t next = pd_next_timer(pd);
		uint64_t w = pd_next_waiter(pd, now);
		if (w < next)
			next = w;
		if (next <= limit) {
			idle_since = 0;
			pd_advance_to(pd, next > now ? next : now + 1);
			continue;
		}
		/* Nothing in the stack will send before the limit; only another thread could. */
		if (!idle_since)
			idle_since = mono_ns();
		else if (mono_ns() - idle_since > PD_IDLE_REAL_MS * NSEC_PER_MSEC)
			break;
		pd_wait_queue(pd, 10 * NSEC_PER_MSEC);
	}
	fprintf(stderr,
		"netpath-packetdrill: the stack sent nothing within recv_timeout=%llu s (%s time); "
		"handing packetdrill an empty packet\n",
		(unsigned long long)(pd->recv_timeout_ns / NSEC_PER_SEC), pd_virtual(pd) ? "virtual" : "real");
	*count = 0;
	*time_usecs = pd_usecs(pd, np_stack_now(pd->s));
	return 0;
}

static int pd_netdev_receive(void *userdata, void *buf, size_t *count, long long *time_usecs)
{
	pd_drive(pd_of(userdata), 1);
	int r = pd_netdev_receive_inner(userdata, buf, count, time_usecs);
	int e = errno;
	pd_drive(pd_of(userdata), -1);
	errno = e;
	return r;
}

/* ---- time ------------------------------------------------------------------- */

static int pd_usleep_inner(void *userdata, useconds_t usec)
{
	struct pd *pd = pd_of(userdata);
	if (!pd_virtual(pd))
		return usleep(usec);
	pd_advance_to(pd, np_stack_now(pd->s) + (uint64_t)usec * NSEC_PER_USEC);
	return 0;
}

static int pd_usleep(void *userdata, useconds_t usec)
{
	pd_drive(pd_of(userdata), 1);
	int r = pd_usleep_inner(userdata, usec);
	int e = errno;
	pd_drive(pd_of(userdata), -1);
	errno = e;
	return r;
}

static int pd_gettimeofday(void *userdata, struct timeval *tv, struct timezone *tz)
{
	struct pd *pd = pd_of(userdata);
	uint64_t now;
	if (pd_virtual(pd)) {
		np_clock_set(pd->clock, np_clock_now(pd->clock) + PD_TICK_NS);
		now = np_clock_now(pd->clock);
		if (pd_next_timer(pd) <= now)
			pd_run(pd);
	} else {
		now = np_stack_now(pd->s);
	}
	long long us = pd_usecs(pd, now);
	if (tv) {
		tv->tv_sec = (time_t)(us / 1000000);
		tv->tv_usec = (suseconds_t)(us % 1000000);
	}
	if (tz)
		memset(tz, 0, sizeof(*tz));
	if (!pd_is_main(pd)) {
		/* The end time of a call that returned in this thread has now been read. */
		pthread_mutex_lock(&pd->mu);
		struct pd_thread *t = pd_self_locked(pd);
		if (t && t->pending_stamp) {
			t->pending_stamp = 0;
			pthread_cond_broadcast(&pd->cond);
		}
		pthread_mutex_unlock(&pd->mu);
	}
	return 0;
}

/* ---- waiting for readiness (poll, epoll_wait) -------------------------------- */

/* One readiness check: > 0 ready, 0 none, -1 error (errno); may nap up to nap_ms real. */
typedef int (*pd_check_fn)(struct pd *pd, void *arg, int nap_ms);

/*
 * Waits until check reports readiness or timeout_ms (-1: forever) passes on
 * the stack clock. The time-driving thread moves virtual time itself; any
 * other thread naps in real time while registered as a waiter, so the
 * driving thread stops at its deadline.
 */
static int pd_wait_ready(struct pd *pd, int timeout_ms, pd_check_fn check, void *arg)
{
	uint64_t now = np_stack_now(pd->s);
	uint64_t deadline = timeout_ms < 0 ? UINT64_MAX : now + (uint64_t)timeout_ms * NSEC_PER_MSEC;
	int r;
	if (!pd_virtual(pd)) {
		for (;;) {
			if ((r = check(pd, arg, 0)) != 0)
				return r;
			if (np_stack_now(pd->s) >= deadline)
				return 0;
			if ((r = check(pd, arg, PD_SLICE_MS)) != 0)
				return r;
		}
	}
	if (pd_is_main(pd)) {
		for (;;) {
			if ((r = check(pd, arg, 0)) != 0)
				return r;
			now = np_stack_now(pd->s);
			if (now >= deadline)
				return 0;
			uint64_t t = pd_next_timer(pd);
			uint64_t w = pd_next_waiter(pd, now);
			if (w < t)
				t = w;
			if (t == UINT64_MAX && deadline == UINT64_MAX) {
				/* Nothing in the stack will change; only another thread can. */
				if ((r = check(pd, arg, PD_SLICE_MS)) != 0)
					return r;
				continue;
			}
			pd_advance_to(pd, t < deadline ? (t > now ? t : now + 1) : deadline);
		}
	}
	pthread_mutex_lock(&pd->mu);
	int slot = -1;
	if (deadline != UINT64_MAX && grow((void **)&pd->waiters, &pd->waiters_cap, pd->nwaiters + 1, sizeof(uint64_t)) == 0) {
		slot = pd->nwaiters++;
		pd->waiters[slot] = deadline;
	}
	pthread_mutex_unlock(&pd->mu);
	pd_enter(pd);
	for (;;) {
		if ((r = check(pd, arg, 0)) != 0)
			break;
		if (np_stack_now(pd->s) >= deadline)
			break;
		if ((r = check(pd, arg, PD_SLICE_MS)) != 0)
			break;
	}
	int e = errno;
	pd_leave(pd);
	pthread_mutex_lock(&pd->mu);
	if (slot >= 0) {
		for (int i = 0; i < pd->nwaiters; i++) {
			if (pd->waiters[i] == deadline) {
				pd->waiters[i] = pd->waiters[--pd->nwaiters];
				break;
			}
		}
	}
	pthread_cond_broadcast(&pd->cond);
	pthread_mutex_unlock(&pd->mu);
	errno = e;
	return r;
}

struct pd_poll_arg {
	struct pollfd *fds;
	nfds_t nfds;
};

static int pd_poll_check(struct pd *pd, void *arg, int nap_ms)
{
	struct pd_poll_arg *a = arg;
	return np_poll(a->fds, a->nfds, nap_ms);
}

static int pd_poll_inner(void *userdata, struct pollfd *fds, nfds_t nfds, int timeout)
{
	struct pd *pd = pd_of(userdata);
	if (nfds && !fds) {
		errno = EFAULT;
		return -1;
	}
	struct pd_poll_arg a = { fds, nfds };
	int r = pd_wait_ready(pd, timeout, pd_poll_check, &a);
	int e = errno;
	pd_run(pd);
	errno = e;
	return r;
}

static int pd_poll(void *userdata, struct pollfd *fds, nfds_t nfds, int timeout)
{
	pd_drive(pd_of(userdata), 1);
	int r = pd_poll_inner(userdata, fds, nfds, timeout);
	int e = errno;
	pd_drive(pd_of(userdata), -1);
	errno = e;
	return r;
}

/* ---- epoll over np_poll --------------------------------------------------------- */

static int pd_epoll_create(void *userdata, int size)
{
	struct pd *pd = pd_of(userdata);
	if (size <= 0) {
		errno = EINVAL;
		return -1;
	}
	struct pd_epoll *ep = calloc(1, sizeof(*ep));
	if (!ep) {
		errno = ENOMEM;
		return -1;
	}
	/* A real epoll fd, so the number is the process's and packetdrill's close() works. */
	ep->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (ep->epfd < 0) {
		int e = errno;
		free(ep);
		errno = e;
		return -1;
	}
	pthread_mutex_lock(&pd->mu);
	ep->next = pd->epolls;
	pd->epolls = ep;
	pthread_mutex_unlock(&pd->mu);
	return ep->epfd;
}

static int pd_epoll_ctl(void *userdata, int epfd, int op, int fd, struct epoll_event *event)
{
	struct pd *pd = pd_of(userdata);
	int err = 0;
	pthread_mutex_lock(&pd->mu);
	struct pd_epoll *ep = find_epoll_locked(pd, epfd);
	if (!ep) {
		err = fcntl(epfd, F_GETFD) < 0 ? EBADF : EINVAL;
		goto out;
	}
	if (fd == epfd) {
		err = EINVAL;
		goto out;
	}
	if (!np_is_socket(fd)) {
		/* Only netpath sockets can be watched: Linux says EPERM for an fd without poll. */
		err = fcntl(fd, F_GETFD) < 0 ? EBADF : EPERM;
		goto out;
	}
	int i;
	for (i = 0; i < ep->n; i++)
		if (ep->items[i].fd == fd)
			break;
	int found = i < ep->n;
	if (op != EPOLL_CTL_DEL && !event) {
		err = EFAULT;
		goto out;
	}
	switch (op) {
	case EPOLL_CTL_ADD:
		if (found) {
			err = EEXIST;
			break;
		}
		if (grow((void **)&ep->items, &ep->cap, ep->n + 1, sizeof(*ep->items)) < 0) {
			err = ENOMEM;
			break;
		}
		ep->items[ep->n++] = (struct pd_epoll_item){ .fd = fd, .events = event->events, .data = event->data.u64 };
		break;
	case EPOLL_CTL_MOD:
		if (!found) {
			err = ENOENT;
			break;
		}
		ep->items[i] = (struct pd_epoll_item){ .fd = fd, .events = event->events, .data = event->data.u64 };
		break;
	case EPOLL_CTL_DEL:
		if (!found) {
			err = ENOENT;
			break;
		}
		ep->items[i] = ep->items[--ep->n];
		break;
	default:
		err = EINVAL;
	}
out:
	pthread_mutex_unlock(&pd->mu);
	if (err) {
		errno = err;
		return -1;
	}
	return 0;
}

struct pd_epoll_arg {
	int epfd;
	struct epoll_event *events;
	int maxevents;
};

/* Level-triggered readiness from np_poll; EPOLLET reports only newly set bits, EPOLLONESHOT disarms. */
static int pd_epoll_check(struct pd *pd, void *arg, int nap_ms)
{
	struct pd_epoll_arg *a = arg;
	pthread_mutex_lock(&pd->mu);
	struct pd_epoll *ep = find_epoll_locked(pd, a->epfd);
	if (!ep) {
		pthread_mutex_unlock(&pd->mu);
		errno = EBADF;
		return -1;
	}
	int n = 0;
	struct pollfd *pfds = calloc((size_t)(ep->n ? ep->n : 1), sizeof(*pfds));
	if (!pfds) {
		pthread_mutex_unlock(&pd->mu);
		errno = ENOMEM;
		return -1;
	}
	for (int i = 0; i < ep->n; i++) {
		if (ep->items[i].disabled)
			continue;
		/* Linux's EPOLL* readiness bits equal the POLL* ones in the low 16 bits. */
		pfds[n].fd = ep->items[i].fd;
		pfds[n].events = (short)(ep->items[i].events & 0xffff);
		n++;
	}
	pthread_mutex_unlock(&pd->mu);

	int r = np_poll(pfds, (nfds_t)n, nap_ms);
	if (r <= 0) {
		free(pfds);
		return r;
	}
	int out = 0;
	pthread_mutex_lock(&pd->mu);
	ep = find_epoll_locked(pd, a->epfd);
	for (int k = 0; ep && k < n && out < a->maxevents; k++) {
		unsigned rev = (unsigned short)pfds[k].revents;
		if (!rev || (rev & POLLNVAL))
			continue;
		for (int i = 0; i < ep->n; i++) {
			struct pd_epoll_item *it = &ep->items[i];
			if (it->fd != pfds[k].fd || it->disabled)
				continue;
			uint32_t mask = rev & (it->events | EPOLLERR | EPOLLHUP);
			uint32_t report = mask;
			if (it->events & EPOLLET) {
				report = mask & ~it->last;
				it->last = mask;
			}
			if (!report)
				break;
			if (it->events & EPOLLONESHOT)
				it->disabled = 1;
			a->events[out].events = report;
			a->events[out].data.u64 = it->data;
			out++;
			break;
		}
	}
	pthread_mutex_unlock(&pd->mu);
	free(pfds);
	return out;
}

static int pd_epoll_wait_inner(void *userdata, int epfd, struct epoll_event *events, int maxevents, int timeout)
{
	struct pd *pd = pd_of(userdata);
	if (maxevents <= 0) {
		errno = EINVAL;
		return -1;
	}
	if (!events) {
		errno = EFAULT;
		return -1;
	}
	pthread_mutex_lock(&pd->mu);
	int known = find_epoll_locked(pd, epfd) != NULL;
	pthread_mutex_unlock(&pd->mu);
	if (!known) {
		errno = fcntl(epfd, F_GETFD) < 0 ? EBADF : EINVAL;
		return -1;
	}
	struct pd_epoll_arg a = { epfd, events, maxevents };
	int r = pd_wait_ready(pd, timeout, pd_epoll_check, &a);
	int e = errno;
	pd_run(pd);
	errno = e;
	return r;
}

static int pd_epoll_wait(void *userdata, int epfd, struct epoll_event *events, int maxevents, int timeout)
{
	pd_drive(pd_of(userdata), 1);
	int r = pd_epoll_wait_inner(userdata, epfd, events, maxevents, timeout);
	int e = errno;
	pd_drive(pd_of(userdata), -1);
	errno = e;
	return r;
}

/* ---- socket calls ------------------------------------------------------------- */

static int pd_socket(void *userdata, int domain, int type, int protocol)
{
	struct pd *pd = pd_of(userdata);
	pd_enter(pd);
	int fd = np_socket(pd->s, domain, type, protocol);
	int e = errno;
	pd_leave(pd);
	track_fd(pd, fd);
	errno = e;
	return fd;
}

static int pd_bind(void *userdata, int fd, const struct sockaddr *addr, socklen_t len)
{
	PD_CALL(pd_of(userdata), int, np_bind(fd, addr, len));
}

static int pd_listen(void *userdata, int fd, int backlog)
{
	PD_CALL(pd_of(userdata), int, np_listen(fd, backlog));
}

static int pd_accept(void *userdata, int fd, struct sockaddr *addr, socklen_t *len)
{
	struct pd *pd = pd_of(userdata);
	pd_enter(pd);
	int nfd = np_accept(fd, addr, len);
	int e = errno;
	pd_leave(pd);
	track_fd(pd, nfd);
	pd_run(pd);
	errno = e;
	return nfd;
}

static int pd_connect(void *userdata, int fd, const struct sockaddr *addr, socklen_t len)
{
	PD_CALL(pd_of(userdata), int, np_connect(fd, addr, len));
}

static ssize_t pd_recv(void *userdata, int fd, void *buf, size_t len, int flags)
{
	PD_CALL(pd_of(userdata), ssize_t, np_recv(fd, buf, len, flags));
}

static ssize_t pd_recvfrom(void *userdata, int fd, void *buf, size_t len, int flags, struct sockaddr *src,
			   socklen_t *srclen)
{
	PD_CALL(pd_of(userdata), ssize_t, np_recvfrom(fd, buf, len, flags, src, srclen));
}

static ssize_t pd_recvmsg(void *userdata, int fd, struct msghdr *msg, int flags)
{
	PD_CALL(pd_of(userdata), ssize_t, np_recvmsg(fd, msg, flags));
}

static ssize_t pd_send(void *userdata, int fd, const void *buf, size_t len, int flags)
{
	PD_CALL(pd_of(userdata), ssize_t, np_send(fd, buf, len, flags));
}

static ssize_t pd_sendto(void *userdata, int fd, const void *buf, size_t len, int flags, const struct sockaddr *dst,
			 socklen_t dstlen)
{
	PD_CALL(pd_of(userdata), ssize_t, np_sendto(fd, buf, len, flags, dst, dstlen));
}

static ssize_t pd_sendmsg(void *userdata, int fd, const struct msghdr *msg, int flags)
{
	PD_CALL(pd_of(userdata), ssize_t, np_sendmsg(fd, msg, flags));
}

/* read/write and their vector forms: recv/send on a netpath socket, the kernel's call on anything else (a pipe). */
static ssize_t pd_read(void *userdata, int fd, void *buf, size_t count)
{
	if (!np_is_socket(fd))
		return read(fd, buf, count);
	PD_CALL(pd_of(userdata), ssize_t, np_recv(fd, buf, count, 0));
}

static ssize_t pd_write(void *userdata, int fd, const void *buf, size_t count)
{
	if (!np_is_socket(fd))
		return write(fd, buf, count);
	PD_CALL(pd_of(userdata), ssize_t, np_send(fd, buf, count, 0));
}

static ssize_t pd_readv(void *userdata, int fd, const struct iovec *iov, int iovcnt)
{
	if (!np_is_socket(fd))
		return readv(fd, iov, iovcnt);
	if (iovcnt < 0) {
		errno = EINVAL;
		return -1;
	}
	struct msghdr msg = { .msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)iovcnt };
	PD_CALL(pd_of(userdata), ssize_t, np_recvmsg(fd, &msg, 0));
}

static ssize_t pd_writev(void *userdata, int fd, const struct iovec *iov, int iovcnt)
{
	if (!np_is_socket(fd))
		return writev(fd, iov, iovcnt);
	if (iovcnt < 0) {
		errno = EINVAL;
		return -1;
	}
	struct msghdr msg = { .msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)iovcnt };
	PD_CALL(pd_of(userdata), ssize_t, np_sendmsg(fd, &msg, 0));
}

/* fcntl commands whose third argument is an int; the others take none (or a pointer, unsupported). */
static int fcntl_takes_int(int cmd)
{
	switch (cmd) {
	case F_SETFL: case F_SETFD: case F_DUPFD: case F_DUPFD_CLOEXEC: case F_SETOWN:
	case F_SETSIG: case F_SETLEASE: case F_NOTIFY: case F_SETPIPE_SZ:
		return 1;
	default:
		return 0;
	}
}

static int pd_fcntl(void *userdata, int fd, int cmd, ...)
{
	int arg = 0;
	if (fcntl_takes_int(cmd)) {
		va_list ap;
		va_start(ap, cmd);
		arg = va_arg(ap, int);
		va_end(ap);
	}
	if (!np_is_socket(fd))
		return fcntl_takes_int(cmd) ? fcntl(fd, cmd, arg) : fcntl(fd, cmd);
	PD_CALL(pd_of(userdata), int, fcntl_takes_int(cmd) ? np_fcntl(fd, cmd, arg) : np_fcntl(fd, cmd));
}

/* SIOCINQ: bytes ready to read (the next datagram's size on UDP), read by peeking so nothing is consumed. */
static int pd_inq(int fd, int *out)
{
	int acc = 0;
	socklen_t alen = sizeof(acc);
	if (np_getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &alen) == 0 && acc) {
		errno = EINVAL;   /* Linux's tcp_ioctl on a listener */
		return -1;
	}
	struct pollfd p = { .fd = fd, .events = POLLIN };
	/* A pending error would be consumed by the peek: report 0 bytes and leave it. */
	if (np_poll(&p, 1, 0) < 0)
		return -1;
	if (!(p.revents & POLLIN) || (p.revents & POLLERR)) {
		*out = 0;
		return 0;
	}
	int rcvbuf = 0;
	socklen_t rlen = sizeof(rcvbuf);
	if (np_getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, &rlen) < 0 || rcvbuf < 65536)
		rcvbuf = 65536;
	char *buf = malloc((size_t)rcvbuf);
	if (!buf) {
		errno = ENOMEM;
		return -1;
	}
	ssize_t n = np_recv(fd, buf, (size_t)rcvbuf, MSG_PEEK | MSG_DONTWAIT);
	free(buf);
	if (n < 0 && errno != EAGAIN)
		return -1;
	*out = n < 0 ? 0 : (int)n;
	return 0;
}

static int pd_ioctl(void *userdata, int fd, unsigned long request, ...)
{
	struct pd *pd = pd_of(userdata);
	va_list ap;
	va_start(ap, request);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	if (!np_is_socket(fd))
		return ioctl(fd, request, arg);
	int rc, e;
	pd_enter(pd);
	if (request == FIONREAD) {
		rc = arg ? pd_inq(fd, arg) : (errno = EFAULT, -1);
	} else if (request == FIONBIO) {
		if (!arg) {
			rc = -1;
			errno = EFAULT;
		} else {
			int fl = np_fcntl(fd, F_GETFL);
			rc = fl < 0 ? -1 : np_fcntl(fd, F_SETFL, *(int *)arg ? fl | O_NONBLOCK : fl & ~O_NONBLOCK);
		}
	} else {
		rc = -1;
		errno = ENOTTY;   /* what Linux answers for an ioctl no layer knows */
	}
	e = errno;
	pd_leave(pd);
	errno = e;
	return rc;
}

static int pd_close(void *userdata, int fd)
{
	struct pd *pd = pd_of(userdata);
	if (np_is_socket(fd)) {
		pthread_mutex_lock(&pd->mu);
		untrack_fd_locked(pd, fd);
		pthread_mutex_unlock(&pd->mu);
		PD_CALL(pd, int, np_close(fd));
	}
	pthread_mutex_lock(&pd->mu);
	for (struct pd_epoll **pp = &pd->epolls; *pp; pp = &(*pp)->next) {
		if ((*pp)->epfd == fd) {
			struct pd_epoll *ep = *pp;
			*pp = ep->next;
			free(ep->items);
			free(ep);
			break;
		}
	}
	pthread_mutex_unlock(&pd->mu);
	return close(fd);
}

static int pd_shutdown(void *userdata, int fd, int how)
{
	PD_CALL(pd_of(userdata), int, np_shutdown(fd, how));
}

static int pd_getsockopt(void *userdata, int fd, int level, int name, void *val, socklen_t *len)
{
	PD_CALL(pd_of(userdata), int, np_getsockopt(fd, level, name, val, len));
}

static int pd_setsockopt(void *userdata, int fd, int level, int name, const void *val, socklen_t len)
{
	PD_CALL(pd_of(userdata), int, np_setsockopt(fd, level, name, val, len));
}

/* A kernel pipe: read/write/close on it go to the kernel. */
static int pd_pipe(void *userdata, int pipefd[2])
{
	return pipe(pipefd);
}

static int is_fifo(int fd)
{
	struct stat st;
	return fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode);
}

/*
 * splice between a pipe and a netpath socket, by copying (the data path
 * differs from Linux's page moving; the results do not). Offsets must be
 * absent for pipes and sockets; packetdrill passes pointers anyway, so
 * they are ignored.
 */
static int pd_splice(void *userdata, int fd_in, loff_t *off_in, int fd_out, loff_t *off_out, size_t len,
		     unsigned int flags)
{
	struct pd *pd = pd_of(userdata);
	int in_sock = np_is_socket(fd_in), out_sock = np_is_socket(fd_out);
	if (!in_sock && !out_sock)
		return (int)splice(fd_in, is_fifo(fd_in) ? NULL : off_in, fd_out, is_fifo(fd_out) ? NULL : off_out, len,
				   flags);
	if ((in_sock && !is_fifo(fd_out)) || (out_sock && !is_fifo(fd_in))) {
		errno = EINVAL;   /* Linux: one end must be a pipe */
		return -1;
	}
	size_t n = len < 65536 ? len : 65536;
	char *buf = malloc(n ? n : 1);
	if (!buf) {
		errno = ENOMEM;
		return -1;
	}
	int msgflags = (flags & SPLICE_F_NONBLOCK) ? MSG_DONTWAIT : 0;
	ssize_t r;
	int e;
	pd_enter(pd);
	if (in_sock) {
		r = np_recv(fd_in, buf, n, msgflags);
		if (r > 0)
			r = write(fd_out, buf, (size_t)r);
	} else {
		r = read(fd_in, buf, n);
		if (r > 0)
			r = np_send(fd_out, buf, (size_t)r, msgflags);
	}
	e = errno;
	pd_leave(pd);
	free(buf);
	pd_run(pd);
	errno = e;
	return (int)r;
}

/* ---- life ------------------------------------------------------------------- */

static void pd_destroy(struct pd *pd)
{
	if (!pd)
		return;
	if (pd->keeper_running) {
		atomic_store(&pd->keeper_stop, 1);
		pthread_join(pd->keeper, NULL);
		pd->keeper_running = 0;
	}
	if (pd->s) {
		/*
		 * packetdrill closes its sockets with the kernel's close(); netpath
		 * still holds them and will close their numbers once more. Park
		 * /dev/null on each freed number so that second close is harmless.
		 */
		for (int i = 0; i < pd->nfds; i++) {
			int fd = pd->fds[i];
			if (fcntl(fd, F_GETFD) < 0 && errno == EBADF) {
				int nul = open("/dev/null", O_RDONLY | O_CLOEXEC);
				if (nul >= 0 && nul != fd) {
					dup2(nul, fd);
					close(nul);
				}
			}
		}
		np_stack_destroy(pd->s);
	}
	if (pd->cap)
		np_capture_close(pd->cap);
	if (pd->clock)
		np_clock_destroy(pd->clock);
	while (pd->q_head) {
		struct pd_pkt *p = pd->q_head;
		pd->q_head = p->next;
		free(p);
	}
	while (pd->epolls) {
		struct pd_epoll *ep = pd->epolls;
		pd->epolls = ep->next;
		free(ep->items);
		free(ep);
	}
	free(pd->waiters);
	free(pd->fds);
	free(pd->pcap);
	pthread_cond_destroy(&pd->cond);
	pthread_mutex_destroy(&pd->mu);
	free(pd);
}

static void pd_free(void *userdata)
{
	pd_destroy(pd_of(userdata));
}

static void pd_usage(FILE *out)
{
	fprintf(out,
		"netpath-packetdrill flags (--so_flags, separated by spaces or commas):\n"
		"  local_ip=A.B.C.D   the stack's address (default " PD_DEFAULT_LOCAL "); give packetdrill the same --local_ip\n"
		"  prefix_len=N       its prefix length (default %d); netmask=A.B.C.D also works\n"
		"  mtu=N              the device MTU (default 1500)\n"
		"  clock=virtual|real virtual (default): time moves only with the script; real: real time\n"
		"  recv_timeout=SECS  how long netdev_receive waits for a packet (default 300 virtual / 10 real)\n"
		"  grace_us=N         most real time granted to a woken blocking call (default 1000000)\n"
		"  seed=N             seed the stack's random numbers (ISNs, ports, IP IDs) for repeatable runs\n"
		"  trace=paths|stages print each packet's path through the stack to stderr\n"
		"  pcap=FILE          write every frame of tun0 to a pcap file\n"
		"  net.x.y=N          set a netpath sysctl, e.g. net.ipv4.ip_default_ttl=64\n"
		"  help               print this and exit\n",
		PD_DEFAULT_PREFIX);
}

static void pd_die(struct pd *pd, const char *fmt, const char *arg)
{
	fprintf(stderr, "netpath-packetdrill: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n");
	pd_usage(stderr);
	pd_destroy(pd);
	exit(EXIT_FAILURE);
}

static int parse_u64(const char *v, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long x = strtoull(v, &end, 0);
	if (errno || end == v || *end || *v == '-')
		return -1;
	*out = x;
	return 0;
}

struct pd_sysctl {
	char name[64];
	long value;
};

/* Parses the flags into pd; sysctls are collected for after the stack exists. Exits on a bad flag. */
static void pd_parse_flags(struct pd *pd, const char *flags, struct pd_sysctl *sc, int *nsc, int maxsc)
{
	char *copy = strdup(flags ? flags : "");
	if (!copy)
		pd_die(pd, "%s", "out of memory");
	int recv_set = 0;
	char *save = NULL;
	for (char *tok = strtok_r(copy, " \t\n,", &save); tok; tok = strtok_r(NULL, " \t\n,", &save)) {
		char *val = strchr(tok, '=');
		if (strcmp(tok, "help") == 0) {
			pd_usage(stdout);
			free(copy);
			pd_destroy(pd);
			exit(EXIT_FAILURE);
		}
		if (!val)
			pd_die(pd, "flag '%s' needs a value (key=value)", tok);
		*val++ = '\0';
		uint64_t u;
		if (strcmp(tok, "local_ip") == 0) {
			struct in_addr a;
			if (inet_pton(AF_INET, val, &a) != 1)
				pd_die(pd, "local_ip '%s' is not an IPv4 address", val);
			snprintf(pd->local, sizeof(pd->local), "%s", val);
			pd->local_ip = ntohl(a.s_addr);
		} else if (strcmp(tok, "prefix_len") == 0) {
			if (parse_u64(val, &u) < 0 || u < 1 || u > 32)
				pd_die(pd, "prefix_len '%s' is not 1..32", val);
			pd->prefix_len = (int)u;
		} else if (strcmp(tok, "netmask") == 0) {
			struct in_addr a;
			if (inet_pton(AF_INET, val, &a) != 1)
				pd_die(pd, "netmask '%s' is not an IPv4 address", val);
			uint32_t m = ntohl(a.s_addr);
			int plen = __builtin_popcount(m);
			if (!m || (plen < 32 && (m << plen) != 0))
				pd_die(pd, "netmask '%s' is not contiguous", val);
			pd->prefix_len = plen;
		} else if (strcmp(tok, "mtu") == 0) {
			if (parse_u64(val, &u) < 0 || u < 68 || u > 65535)
				pd_die(pd, "mtu '%s' is not 68..65535", val);
			pd->mtu = (unsigned)u;
		} else if (strcmp(tok, "clock") == 0) {
			if (strcmp(val, "virtual") == 0)
				pd->want_virtual = 1;
			else if (strcmp(val, "real") == 0)
				pd->want_virtual = 0;
			else
				pd_die(pd, "clock '%s' is neither virtual nor real", val);
		} else if (strcmp(tok, "recv_timeout") == 0) {
			if (parse_u64(val, &u) < 0 || u < 1 || u > 86400)
				pd_die(pd, "recv_timeout '%s' is not 1..86400 seconds", val);
			pd->recv_timeout_ns = u * NSEC_PER_SEC;
			recv_set = 1;
		} else if (strcmp(tok, "grace_us") == 0) {
			if (parse_u64(val, &u) < 0 || u > 10000000)
				pd_die(pd, "grace_us '%s' is not 0..10000000", val);
			pd->grace_ns = u * NSEC_PER_USEC;
		} else if (strcmp(tok, "seed") == 0) {
			if (parse_u64(val, &u) < 0)
				pd_die(pd, "seed '%s' is not a number", val);
			pd->seed = u;
		} else if (strcmp(tok, "trace") == 0) {
			if (strcmp(val, "paths") == 0 || strcmp(val, "1") == 0)
				pd->trace = NP_TRACE_PATHS;
			else if (strcmp(val, "stages") == 0)
				pd->trace = NP_TRACE_STAGES;
			else if (strcmp(val, "0") == 0)
				pd->trace = 0;
			else
				pd_die(pd, "trace '%s' is not paths, stages or 0", val);
		} else if (strcmp(tok, "pcap") == 0) {
			free(pd->pcap);
			pd->pcap = strdup(val);
		} else if (strchr(tok, '.')) {
			char *end;
			errno = 0;
			long x = strtol(val, &end, 0);
			if (errno || end == val || *end)
				pd_die(pd, "sysctl value '%s' is not a number", val);
			if (*nsc >= maxsc || strlen(tok) >= sizeof(sc[0].name))
				pd_die(pd, "too many or too long sysctls at '%s'", tok);
			snprintf(sc[*nsc].name, sizeof(sc[*nsc].name), "%s", tok);
			sc[(*nsc)++].value = x;
		} else {
			pd_die(pd, "unknown flag '%s'", tok);
		}
	}
	free(copy);
	if (!recv_set)
		pd->recv_timeout_ns = (pd->want_virtual ? 300 : 10) * NSEC_PER_SEC;
}

PD_EXPORT void packetdrill_interface_init(const char *flags, struct packetdrill_interface *ifc)
{
	struct pd *pd = calloc(1, sizeof(*pd));
	if (!pd || !ifc) {
		fprintf(stderr, "netpath-packetdrill: %s\n", pd ? "no interface table" : "out of memory");
		exit(EXIT_FAILURE);
	}
	pthread_mutex_init(&pd->mu, NULL);
	pthread_cond_init(&pd->cond, NULL);
	pd->q_tail = &pd->q_head;
	pd->main_thread = pthread_self();
	pd->main_tid = (pid_t)syscall(SYS_gettid);
	snprintf(pd->local, sizeof(pd->local), "%s", PD_DEFAULT_LOCAL);
	struct in_addr a;
	inet_pton(AF_INET, PD_DEFAULT_LOCAL, &a);
	pd->local_ip = ntohl(a.s_addr);
	pd->prefix_len = PD_DEFAULT_PREFIX;
	pd->mtu = ETH_DATA_LEN;
	pd->grace_ns = NSEC_PER_SEC;
	pd->want_virtual = 1;

	struct pd_sysctl sc[32];
	int nsc = 0;
	pd_parse_flags(pd, flags, sc, &nsc, 32);

	if (pd->want_virtual && !(pd->clock = np_clock_virtual(PD_VCLOCK_START)))
		pd_die(pd, "%s", "out of memory");
	struct np_stack_config cfg = { .name = "packetdrill", .clock = pd->clock, .seed = pd->seed };
	pd->s = np_stack_create(&cfg);
	if (!pd->s)
		pd_die(pd, "%s", "cannot create the netpath stack");

	pd->dev = alloc_netdev(pd->s, PD_DEV_NAME, sizeof(struct pd *));
	if (!pd->dev)
		pd_die(pd, "%s", "out of memory");
	ether_setup(pd->dev);
	/* A point-to-point link to packetdrill: no ARP, frames go straight to the driver. */
	pd->dev->flags |= NPF_NOARP;
	pd->dev->netdev_ops = &pd_netdev_ops;
	netif_napi_add(pd->dev, pd_napi_poll);
	*(struct pd **)pd->dev->priv = pd;
	if (register_netdev(pd->dev) < 0) {
		free(pd->dev);
		pd->dev = NULL;
		pd_die(pd, "%s", "cannot register " PD_DEV_NAME);
	}
	dev_open(pd->dev);
	struct np_dev *d = (struct np_dev *)pd->dev;
	char prefix[INET_ADDRSTRLEN + 4];
	snprintf(prefix, sizeof(prefix), "%s/%d", pd->local, pd->prefix_len);
	if (np_dev_set_mtu(d, pd->mtu) < 0)
		pd_die(pd, "cannot set mtu (%s)", "see mtu=");
	if (np_addr_add(d, prefix) < 0)
		pd_die(pd, "cannot add address %s", prefix);
	/* Every remote address (packetdrill's --remote_ip, 192.0.2.1 by default) is reached through tun0. */
	if (np_route_add(pd->s, "default", NULL, d) < 0)
		pd_die(pd, "%s", "cannot add the default route");
	for (int i = 0; i < nsc; i++)
		if (np_sysctl_set(pd->s, sc[i].name, sc[i].value) < 0)
			pd_die(pd, "cannot set sysctl %s", sc[i].name);
	if (pd->trace)
		np_stack_trace(pd->s, pd->trace, stderr);
	if (pd->pcap) {
		int err = 0;
		pd->cap = np_capture_open(pd->pcap, &err);
		if (!pd->cap)
			pd_die(pd, "cannot open pcap file %s", pd->pcap);
		np_dev_capture(d, pd->cap);
	}

	/* gettimeofday reads as wall time from the start; only differences matter to packetdrill. */
	struct timeval tv;
	gettimeofday(&tv, NULL);
	pd->epoch_us = (long long)tv.tv_sec * 1000000 + tv.tv_usec - (long long)(np_stack_now(pd->s) / NSEC_PER_USEC);

	if (!pd_virtual(pd) && np_stack_start(pd->s) < 0)
		pd_die(pd, "%s", "cannot start the stack thread");
	if (pthread_create(&pd->keeper, NULL, pd_keeper, pd) != 0)
		pd_die(pd, "%s", "cannot start the time keeper thread");
	pd->keeper_running = 1;

	*ifc = (struct packetdrill_interface){
		.userdata = pd,
		.free = pd_free,
		.socket = pd_socket,
		.bind = pd_bind,
		.listen = pd_listen,
		.accept = pd_accept,
		.connect = pd_connect,
		.read = pd_read,
		.readv = pd_readv,
		.recv = pd_recv,
		.recvfrom = pd_recvfrom,
		.recvmsg = pd_recvmsg,
		.write = pd_write,
		.writev = pd_writev,
		.send = pd_send,
		.sendto = pd_sendto,
		.sendmsg = pd_sendmsg,
		.fcntl = pd_fcntl,
		.ioctl = pd_ioctl,
		.close = pd_close,
		.shutdown = pd_shutdown,
		.getsockopt = pd_getsockopt,
		.setsockopt = pd_setsockopt,
		.poll = pd_poll,
		.netdev_send = pd_netdev_send,
		.netdev_receive = pd_netdev_receive,
		.usleep = pd_usleep,
		.gettimeofday = pd_gettimeofday,
		.epoll_create = pd_epoll_create,
		.epoll_ctl = pd_epoll_ctl,
		.epoll_wait = pd_epoll_wait,
		.pipe = pd_pipe,
		.splice = pd_splice,
	};
}
