/*
 * The stack instance and its softirq context (Linux's struct net plus
 * net_dev_init and the NET_RX/NET_TX softirqs run by ksoftirqd, seed 003).
 * np_stack_poll is one softirq round: pending device interrupts become
 * napi_schedule calls, expired timers run, then net_rx_action and
 * net_tx_action. np_stack_run is ksoftirqd: it sleeps in epoll until a
 * device fd is readable, another thread raises an interrupt, or a timer is due.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <unistd.h>

#include "core/stack.h"
#include "drivers/faults.h"
#include "drivers/loopback.h"
#include "net/ipv4/icmp.h"
#include "net/ipv4/ip.h"
#include "net/ipv4/neighbour.h"
#include "net/ipv4/route.h"
#include "netfilter/netfilter.h"
#include "netpath/socket.h"
#include "socket/sock.h"

void backlog_init(struct np_stack *s);
void sysctl_defaults(struct np_sysctls *sc);
void socket_stack_gone(struct np_stack *s);

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

uint64_t np_random(struct np_stack *s)
{
	/* xorshift128+: fast, and reproducible when the stack was given a seed. */
	uint64_t a = s->rng_state[0], b = s->rng_state[1];
	s->rng_state[0] = b;
	a ^= a << 23;
	s->rng_state[1] = a ^ b ^ (a >> 17) ^ (b >> 26);
	return s->rng_state[1] + b;
}

void np_get_random_bytes(struct np_stack *s, void *buf, size_t len)
{
	uint8_t *p = buf;
	size_t got = 0;
	while (got < len) {
		ssize_t n = getrandom(p + got, len - got, 0);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	/* getrandom only fails on ancient kernels; fall back rather than leave zeros. */
	for (; got < len; got++)
		p[got] = (uint8_t)np_random(s);
}

struct np_stack *np_stack_create(const struct np_stack_config *cfg)
{
	struct np_stack *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	snprintf(s->name, sizeof(s->name), "%s", cfg && cfg->name ? cfg->name : "netpath");
	s->clock = cfg && cfg->clock ? cfg->clock : np_clock_real();
	s->epfd = s->wakefd = -1;
	uint64_t seed = cfg ? cfg->seed : 0;
	if (seed) {
		/* A seeded stack is reproducible end to end, secrets included (tests only). */
		uint64_t x = seed;
		s->rng_state[0] = splitmix64(&x);
		s->rng_state[1] = splitmix64(&x);
		for (int i = 0; i < 4; i++)
			s->secret[i] = (uint32_t)splitmix64(&x);
	} else {
		s->rng_state[0] = 1;
		np_get_random_bytes(s, s->rng_state, sizeof(s->rng_state));
		np_get_random_bytes(s, s->secret, sizeof(s->secret));
		if (!s->rng_state[0] && !s->rng_state[1])
			s->rng_state[0] = 1;
	}
	sysctl_defaults(&s->sysctl);
	pthread_mutex_init(&s->lock, NULL);
	pthread_mutex_init(&s->busy_mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->busy_cond, &ca);
	pthread_condattr_destroy(&ca);
	s->poll_tail = &s->poll_list;
	skb_cache_init(s);
	backlog_init(s);

	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	s->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (s->epfd < 0 || s->wakefd < 0)
		goto fail;
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
	if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->wakefd, &ev) < 0)
		goto fail;

	if (fib_init(s) < 0 || neigh_init(s) < 0 || ip_init(s) < 0 || icmp_init(s) < 0 || inet_init(s) < 0)
		goto fail;
	s->loopback_dev = loopback_dev_create(s);
	if (!s->loopback_dev)
		goto fail;
	return s;
fail:
	np_stack_destroy(s);
	return NULL;
}

void np_stack_destroy(struct np_stack *s)
{
	if (!s)
		return;
	if (s->thread_running)
		np_stack_join(s);
	/* Sockets first: closing them frees what they queued and unhashes them. */
	socket_stack_gone(s);
	/* Devices next (their queues hold skbs and their entries hold timers), loopback last. */
	while (s->dev_list) {
		struct net_device *d = s->dev_list;
		while (d && d == s->loopback_dev && d->next)
			d = d->next;
		unregister_netdev(d);
	}
	skb_queue_purge_reason(&s->input_pkt_queue, NP_DROP_STACK_SHUTDOWN);
	if (s->arp_tbl)
		neigh_free(s);
	if (s->fib)
		fib_free(s);
	inet_free(s);
	icmp_free(s);
	ip_free(s);
	nf_hooks_free(s);
	skb_cache_destroy(s);
	free(s->timer_heap);
	if (s->epfd >= 0)
		close(s->epfd);
	if (s->wakefd >= 0)
		close(s->wakefd);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->busy_cond);
	pthread_mutex_destroy(&s->busy_mu);
	free(s);
}

/* The stack lock: recursive for its holder, so a callback may call back into the stack. */
void np_stack_lock(struct np_stack *s)
{
	if (s->lock_depth > 0 && pthread_equal(s->lock_owner, pthread_self())) {
		s->lock_depth++;
		return;
	}
	pthread_mutex_lock(&s->lock);
	s->lock_owner = pthread_self();
	s->lock_depth = 1;
}

void np_stack_unlock(struct np_stack *s)
{
	if (--s->lock_depth > 0)
		return;
	/* The next holder reads the clock afresh. */
	atomic_store_explicit(&s->now_cached, 0, memory_order_relaxed);
	pthread_mutex_unlock(&s->lock);
}

const char *np_stack_name(const struct np_stack *s) { return s->name; }
/*
 * Inside a softirq round the lock holder gets the time read once at the
 * round's start (Linux's jiffies: at most one round stale); everyone else
 * reads the clock. now_cached is loaded first: a non-zero value was stored
 * after its round's holder stored lock_owner, so the owner test is exact.
 */
uint64_t np_stack_now(const struct np_stack *s)
{
	uint64_t t = np_stack_round_now(s);
	if (t)
		return t;
	t = np_clock_now(s->clock);
	/*
	 * A socket call holding the stack lock keeps its first reading until it
	 * lets go, as a round does (Linux refreshes tcp_mstamp once per event):
	 * a send no longer reads the clock for the segment, the IP layer and the
	 * timer each. The holder alone writes it (stacks are heap objects).
	 */
	if (s->lock_depth > 0 && pthread_equal(atomic_load_explicit(&s->lock_owner, memory_order_relaxed), pthread_self()))
		atomic_store_explicit(&((struct np_stack *)(uintptr_t)s)->now_cached, t, memory_order_release);
	return t;
}
uint64_t np_stack_next_timer(const struct np_stack *s) { return timers_next(s); }
int np_stack_fd(const struct np_stack *s)
{
	/* From now on a loop may sleep on it: interrupts must write the eventfd (stacks are heap objects). */
	struct np_stack *m = (struct np_stack *)(uintptr_t)s;
	if (!atomic_exchange(&m->wake_armed, 1) && atomic_load(&m->irq_pending))
		np_stack_wake(m);   /* an interrupt raised before arming must still make the fd readable */
	return s->epfd;
}

/* Empties the wake-up eventfd so np_stack_fd is readable only while there is work. */
static void drain_wakefd(struct np_stack *s)
{
	uint64_t v;
	ssize_t n = read(s->wakefd, &v, sizeof(v));
	(void)n;
}

/* The "hard IRQ" half: devices that raised an interrupt get their NAPI scheduled. */
static int handle_irqs(struct np_stack *s)
{
	if (!atomic_load(&s->irq_pending) || !atomic_exchange(&s->irq_pending, 0))
		return 0;
	if (atomic_load(&s->wake_armed))
		drain_wakefd(s);
	int work = 0;
	for (struct net_device *d = s->dev_list; d; d = d->next) {
		if (atomic_load(&d->irq_pending) && atomic_exchange(&d->irq_pending, 0)) {
			napi_schedule(&d->napi);
			work++;
		}
	}
	return work;
}

/* Devices whose fds are readable raise their interrupt (for callers that never sleep in np_stack_run). */
static int poll_fds(struct np_stack *s)
{
	if (!s->watched_fds)
		return 0;
	struct epoll_event evs[16];
	int n = epoll_wait(s->epfd, evs, 16, 0);
	for (int i = 0; i < n; i++) {
		struct net_device *dev = evs[i].data.ptr;
		if (dev)
			napi_schedule(&dev->napi);
	}
	return n > 0 ? n : 0;
}

/*
 * One softirq round. check_fds: ask epoll which device fds are readable
 * (the "interrupt" of a TAP or an AF_PACKET ring). np_stack_run skips it:
 * its own epoll_wait, which it reaches with a zero timeout while work is
 * pending, already raised every ready device, so asking again each round
 * was one wasted system call per round.
 */
static int stack_poll(struct np_stack *s, int check_fds)
{
	/* The softirq round excludes socket calls from application threads (the stack lock). */
	np_stack_lock(s);
	/* One clock read per round (a nested round keeps the outer one's time). */
	uint64_t outer = atomic_load_explicit(&s->now_cached, memory_order_relaxed);
	uint64_t now = outer ? outer : np_clock_now(s->clock);
	atomic_store_explicit(&s->now_cached, now, memory_order_release);
	int work = handle_irqs(s);
	if (check_fds)
		work += poll_fds(s);
	work += run_timers(s, now);
	work += net_rx_action(s);
	work += net_tx_action(s);
	atomic_store_explicit(&s->now_cached, outer, memory_order_release);
	np_stack_unlock(s);
	return work;
}

int np_stack_poll(struct np_stack *s) { return stack_poll(s, 1); }

static void *stack_thread(void *arg)
{
	np_stack_run(arg, -1);
	return NULL;
}

int np_stack_start(struct np_stack *s)
{
	if (s->thread_running)
		return -EBUSY;
	atomic_store(&s->stop, 0);
	int rc = pthread_create(&s->thread, NULL, stack_thread, s);
	if (rc)
		return -rc;
	s->thread_running = 1;
	return 0;
}

void np_stack_join(struct np_stack *s)
{
	if (!s->thread_running)
		return;
	np_stack_stop(s);
	pthread_join(s->thread, NULL);
	s->thread_running = 0;
}

int np_stack_watch_fd(struct np_stack *s, int fd, struct net_device *dev)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = dev };
	if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -errno;
	s->watched_fds++;
	return 0;
}

void np_stack_unwatch_fd(struct np_stack *s, int fd)
{
	if (epoll_ctl(s->epfd, EPOLL_CTL_DEL, fd, NULL) == 0)
		s->watched_fds--;
}

void np_stack_wake(struct np_stack *s)
{
	uint64_t one = 1;
	ssize_t n = write(s->wakefd, &one, sizeof(one));
	(void)n;
}

/*
 * The loop's sleep on epfd (ksoftirqd's schedule()): until a device fd is
 * readable, the wake-up fd is written, the earliest timer or deadline (stack
 * clock) is due, or cap_ms passed (-1: no cap); then the ready devices' NAPI
 * is scheduled. Returns epoll_wait's result, or STACK_WAIT_DEADLINE without
 * sleeping once the deadline has passed.
 */
#define STACK_WAIT_DEADLINE (-2)
static int stack_wait(struct np_stack *s, uint64_t deadline, int cap_ms)
{
	np_stack_lock(s);
	uint64_t now = np_stack_now(s);
	uint64_t wake = timers_next(s);
	if (deadline < wake)
		wake = deadline;
	int wait_ms;
	if (s->poll_list || atomic_load(&s->irq_pending))
		wait_ms = 0;
	else if (s->tx_sched_count)
		wait_ms = 1;  /* a busy driver: retry the qdisc soon */
	else if (wake == UINT64_MAX)
		wait_ms = -1;
	else
		wait_ms = wake <= now ? 0 : (int)((wake - now + NSEC_PER_MSEC - 1) / NSEC_PER_MSEC);
	np_stack_unlock(s);
	if (now >= deadline)
		return STACK_WAIT_DEADLINE;
	if (cap_ms >= 0 && (wait_ms < 0 || wait_ms > cap_ms))
		wait_ms = cap_ms;
	struct epoll_event evs[16];
	int n = epoll_wait(s->epfd, evs, 16, wait_ms);
	if (n <= 0)
		return n;
	np_stack_lock(s);
	for (int i = 0; i < n; i++) {
		struct net_device *dev = evs[i].data.ptr;
		if (dev)
			napi_schedule(&dev->napi);
		else
			drain_wakefd(s);
	}
	np_stack_unlock(s);
	return n;
}

/* Wakes the loop thread where it sleeps while an application thread has the devices. */
static void busy_kick(struct np_stack *s)
{
	pthread_mutex_lock(&s->busy_mu);
	s->busy_kicked = 1;
	pthread_cond_signal(&s->busy_cond);
	pthread_mutex_unlock(&s->busy_mu);
}

void np_stack_stop(struct np_stack *s)
{
	atomic_store(&s->stop, 1);
	np_stack_wake(s);
	busy_kick(s);
}

/* ---- busy polling (Linux's net/core/dev.c napi_busy_loop, SO_PREFER_BUSY_POLL) ---- */

/* Hand-back times are wall time (CLOCK_MONOTONIC, the real clock), whatever clock the stack runs on. */
static uint64_t mono_ns(void) { return np_clock_now(np_clock_real()); }

/* While the owner sleeps on the devices untouched, the loop looks at most this seldom. */
#define BUSY_CHECK_MAX_NS (50 * NSEC_PER_MSEC)

/*
 * The loop thread while an application thread has the devices (Linux keeps
 * the device interrupt masked while a busy poller keeps coming back): it
 * sleeps, and takes the devices back once the owner has been away from them
 * for the hand-back time. Returns when they are the loop's again, or on stop.
 */
static void busy_step_aside(struct np_stack *s)
{
	uint64_t handback = (uint64_t)s->sysctl.busy_poll_handback_us * NSEC_PER_USEC;
	uint64_t interval = handback;
	unsigned seq = atomic_load(&s->busy_seq);
	while (!atomic_load(&s->stop)) {
		int st = atomic_load(&s->busy_state);
		if (st == BUSY_NONE)
			return;
		uint64_t now = mono_ns(), until;
		if (st == BUSY_AWAY) {
			uint64_t since = atomic_load(&s->busy_away_since);
			if ((int64_t)(now - since) >= (int64_t)handback) {
				int away = BUSY_AWAY;
				if (atomic_compare_exchange_strong(&s->busy_state, &away, BUSY_NONE)) {
					atomic_fetch_add(&s->busy_handbacks, 1);
					return;
				}
				continue;
			}
			interval = handback;
			until = since + handback;
		} else {
			/* An owner asleep on the devices since the last look: look less often (an idle reader costs nothing). */
			unsigned q = atomic_load(&s->busy_seq);
			if (q == seq && st == BUSY_POLLING)
				interval = interval * 2 > BUSY_CHECK_MAX_NS ? BUSY_CHECK_MAX_NS : interval * 2;
			else
				interval = handback;
			seq = q;
			until = now + interval;
		}
		atomic_store(&s->busy_check_ns, interval);
		struct timespec ts = { .tv_sec = (time_t)(until / NSEC_PER_SEC), .tv_nsec = (long)(until % NSEC_PER_SEC) };
		pthread_mutex_lock(&s->busy_mu);
		if (!s->busy_kicked)
			pthread_cond_timedwait(&s->busy_cond, &s->busy_mu, &ts);
		s->busy_kicked = 0;
		pthread_mutex_unlock(&s->busy_mu);
	}
}

/* The calling thread takes the devices: it had them last, or the loop has them. */
static int busy_take(struct np_stack *s)
{
	int st = BUSY_AWAY;
	if (pthread_equal(atomic_load(&s->busy_owner), pthread_self()) &&
	    atomic_compare_exchange_strong(&s->busy_state, &st, BUSY_ACTIVE))
		return 1;
	st = BUSY_NONE;
	if (!atomic_compare_exchange_strong(&s->busy_state, &st, BUSY_ACTIVE))
		return 0;   /* another thread has them */
	atomic_store(&s->busy_owner, pthread_self());
	atomic_fetch_add(&s->busy_takes, 1);
	np_stack_wake(s);   /* the loop may sleep on epfd: it should step aside, not take our events */
	return 1;
}

/* The owner goes back to its caller; the devices stay its own until the hand-back time passes. */
static void busy_leave(struct np_stack *s)
{
	atomic_store(&s->busy_away_since, mono_ns());
	atomic_fetch_add(&s->busy_seq, 1);
	atomic_store(&s->busy_state, BUSY_AWAY);
	/* The loop stopped looking often while we slept: tell it we left. */
	if (atomic_load(&s->busy_check_ns) > (uint64_t)s->sysctl.busy_poll_handback_us * NSEC_PER_USEC)
		busy_kick(s);
}

static int entry_woken(struct wait_queue_entry *e)
{
	pthread_mutex_lock(e->mu);
	int w = *e->woken;
	pthread_mutex_unlock(e->mu);
	return w;
}

static void entry_set_busy(struct wait_queue_entry *e, struct np_stack *s)
{
	pthread_mutex_lock(e->mu);
	e->busy = s;
	e->thread = pthread_self();
	pthread_mutex_unlock(e->mu);
}

int napi_busy_loop(struct np_stack *s, struct wait_queue_entry *e, uint64_t deadline_ns, unsigned spin_us, int prefer)
{
	/* SO_BUSY_POLL / net.core.busy_read: softirq rounds from this thread, no sleeping, for spin_us. */
	if (spin_us) {
		uint64_t end = mono_ns() + (uint64_t)spin_us * NSEC_PER_USEC;
		do {
			stack_poll(s, 1);
			if (entry_woken(e))
				return 1;
		} while (mono_ns() < end);
	}
	if (!prefer || !atomic_load(&s->in_run) || !busy_take(s))
		return 0;
	entry_set_busy(e, s);
	int rc = 0;
	for (;;) {
		if (entry_woken(e)) {
			rc = 1;
			break;
		}
		if (!atomic_load(&s->in_run) || atomic_load(&s->stop))
			break;   /* no loop thread to step aside for: sleep on the queue as usual */
		/* np_stack_run's sleep, on this thread; now and then it looks whether the loop still runs. */
		atomic_store(&s->busy_state, BUSY_POLLING);
		int n = stack_wait(s, deadline_ns ? deadline_ns : UINT64_MAX, 1000);
		atomic_store(&s->busy_state, BUSY_ACTIVE);
		if (n == STACK_WAIT_DEADLINE) {
			rc = -ETIMEDOUT;
			break;
		}
		for (int rounds = 0; rounds < 64 && stack_poll(s, 0) > 0; rounds++)
			;
		atomic_fetch_add_explicit(&s->busy_rounds, 1, memory_order_relaxed);
	}
	entry_set_busy(e, NULL);
	busy_leave(s);
	return rc;
}

int np_stack_run(struct np_stack *s, int timeout_ms)
{
	uint64_t deadline = timeout_ms < 0 ? UINT64_MAX : np_stack_now(s) + (uint64_t)timeout_ms * NSEC_PER_MSEC;
	int rc = 0;
	np_stack_lock(s);
	s->run_thread = pthread_self();
	atomic_store(&s->in_run, 1);
	atomic_store(&s->wake_armed, 1);   /* this loop sleeps on epfd from here on */
	np_stack_unlock(s);
	while (!atomic_load(&s->stop)) {
		if (atomic_load(&s->busy_state) != BUSY_NONE) {
			busy_step_aside(s);
			continue;
		}
		/* Softirq rounds until idle, but never starve the wait below for too long. */
		for (int rounds = 0; rounds < 64 && stack_poll(s, 0) > 0; rounds++)
			;
		if (atomic_load(&s->stop))
			break;
		int n = stack_wait(s, deadline, -1);
		if (n == STACK_WAIT_DEADLINE)
			break;
		if (n < 0 && errno != EINTR) {
			rc = -errno;
			break;
		}
	}
	/* A stop request ends one run; its wake-up is consumed with it. */
	atomic_store(&s->in_run, 0);
	atomic_store(&s->stop, 0);
	drain_wakefd(s);
	return rc;
}

int np_sim_run(struct np_stack **stacks, int n, struct np_clock *clock, uint64_t until_ns)
{
	for (;;) {
		int work;
		do {
			work = 0;
			for (int i = 0; i < n; i++)
				work += np_stack_poll(stacks[i]);
		} while (work);
		uint64_t next = UINT64_MAX;
		for (int i = 0; i < n; i++) {
			uint64_t t = timers_next(stacks[i]);
			if (t < next)
				next = t;
		}
		if (next > until_ns) {
			if (np_clock_now(clock) < until_ns)
				np_clock_set(clock, until_ns);
			return 0;
		}
		if (np_clock_set(clock, next) < 0)
			return -EINVAL;
	}
}

/* ---- public device functions ------------------------------------------- */

struct np_dev *np_dev_get(struct np_stack *s, const char *name)
{
	return (struct np_dev *)dev_get_by_name(s, name);
}

const char *np_dev_name(const struct np_dev *d) { return ((const struct net_device *)d)->name; }

int np_dev_set_up(struct np_dev *d, int up)
{
	struct net_device *dev = (struct net_device *)d;
	return up ? dev_open(dev) : dev_close(dev);
}

int np_dev_set_mtu(struct np_dev *d, unsigned mtu)
{
	struct net_device *dev = (struct net_device *)d;
	/* RFC 791: every host must take 68-byte datagrams; 65535 is the IPv4 limit. */
	if (mtu < 68 || mtu > 65535 || (dev->type == ARPHRD_ETHER_ && mtu > 65535 - ETH_HLEN) ||
	    (dev->max_mtu && mtu > dev->max_mtu))
		return -EINVAL;
	dev->mtu = mtu;
	rt_cache_flush(dev->stack);   /* cached routes carry the MTU */
	return 0;
}

int np_dev_set_mac(struct np_dev *d, const uint8_t mac[6])
{
	if (eth_is_multicast(mac) || eth_is_zero(mac))
		return -EINVAL;
	memcpy(((struct net_device *)d)->dev_addr, mac, ETH_ALEN);
	return 0;
}

void np_dev_get_mac(const struct np_dev *d, uint8_t mac[6])
{
	memcpy(mac, ((const struct net_device *)d)->dev_addr, ETH_ALEN);
}

int np_dev_set_promisc(struct np_dev *d, int on)
{
	struct net_device *dev = (struct net_device *)d;
	if (on)
		dev->flags |= NPF_PROMISC;
	else
		dev->flags &= ~(unsigned)NPF_PROMISC;
	return 0;
}

int np_dev_set_faults(struct np_dev *d, enum np_dir dir, const char *spec, const char **errpos)
{
	struct net_device *dev = (struct net_device *)d;
	if (!(dir & NP_RXTX))
		return -EINVAL;
	/* Parse once per direction so each has its own generator state. */
	struct np_faults *f[2] = { NULL, NULL };
	for (int i = 0; i < 2; i++) {
		if (!(dir & (i ? NP_TX : NP_RX)))
			continue;
		int err = 0;
		f[i] = faults_parse(spec, errpos, &err);
		if (err < 0) {
			if (f[0])
				faults_free(f[0]);
			return err;
		}
	}
	if (dir & NP_RX) {
		if (dev->faults_rx)
			faults_free(dev->faults_rx);
		dev->faults_rx = f[0];
	}
	if (dir & NP_TX) {
		if (dev->faults_tx)
			faults_free(dev->faults_tx);
		dev->faults_tx = f[1];
	}
	return 0;
}

int np_dev_capture(struct np_dev *d, struct np_capture *c)
{
	((struct net_device *)d)->capture = c;
	return 0;
}

void np_dev_stats(const struct np_dev *d, struct np_dev_stats *st)
{
	struct np_stack *s = ((const struct net_device *)d)->stack;
	np_stack_lock(s);
	const struct net_device_stats *x = &((const struct net_device *)d)->stats;
	st->rx_packets = x->rx_packets;
	st->rx_bytes = x->rx_bytes;
	st->rx_errors = x->rx_errors;
	st->rx_dropped = x->rx_dropped;
	st->rx_multicast = x->rx_multicast;
	st->tx_packets = x->tx_packets;
	st->tx_bytes = x->tx_bytes;
	st->tx_errors = x->tx_errors;
	st->tx_dropped = x->tx_dropped;
	st->tx_carrier = x->tx_carrier;
	np_stack_unlock(s);
}
