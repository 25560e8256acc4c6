/*
 * struct np_stack: one network stack instance (Linux's struct net plus the
 * per-CPU softnet_data). It owns its devices, routes, neighbours, protocol
 * tables, netfilter hooks, timers, counters and allocator: no mutable
 * globals, so many stacks live in one process.
 */
#ifndef NP_CORE_STACK_H
#define NP_CORE_STACK_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>

#include "core/netdevice.h"
#include "core/skbuff.h"
#include "core/timer.h"
#include "netpath/netpath.h"

struct net_protocol;
struct nf_hook_entry;
struct fib_table;
struct neigh_table;
struct np_ping_state;
struct udp_table;
struct tcp_hashinfo;
struct ipq_table;
struct nf_net;

#define NF_INET_NUMHOOKS 5

/* Run-time tunables (np_sysctl_*); names in core/sysctl.c. */
struct np_sysctls {
	long netdev_budget;
	long netdev_max_backlog;
	long ip_forward;
	long ip_early_demux, tcp_early_demux, udp_early_demux; /* socket + cached input route before routing */
	long ip_default_ttl;
	long icmp_echo_ignore_all;
	long icmp_echo_ignore_broadcasts;
	long icmp_ratelimit_ms;           /* net.ipv4.icmp_ratelimit */
	long icmp_ratemask;
	long neigh_gc_thresh3;
	long neigh_unres_qlen_bytes;
	long neigh_base_reachable_ms;
	long neigh_delay_first_probe_ms;
	long neigh_retrans_ms;
	long neigh_mcast_solicit;
	long neigh_ucast_solicit;
	long neigh_gc_stale_ms;
	/* TCP (net/tcp/): Linux's names; vectors such as tcp_rmem split into _default/_max */
	long somaxconn;                   /* net.core.somaxconn */
	long busy_read_us;                /* net.core.busy_read: SO_BUSY_POLL of new sockets */
	long busy_poll_handback_us;       /* net.core.busy_poll_handback_us: see napi_busy_loop */
	long tcp_rmem_default, tcp_rmem_max;
	long tcp_wmem_default, tcp_wmem_max;
	long tcp_window_scaling;          /* RFC 7323 window scaling offered and accepted on SYNs */
	long tcp_moderate_rcvbuf;         /* receive-buffer autotuning up to tcp_rmem_max */
	long tcp_fin_timeout;             /* s */
	long tcp_keepalive_time, tcp_keepalive_intvl, tcp_keepalive_probes; /* s, s, count */
	long tcp_retries1, tcp_retries2, tcp_orphan_retries;
	long tcp_syn_retries, tcp_synack_retries;
	long tcp_max_syn_backlog;
	long tcp_syncookies;              /* 0 off, 1 when the SYN queue overflows, 2 always (tcp/syncookies.c) */
	long tcp_rto_min_ms, tcp_rto_max_ms;
	long tcp_timewait_len_ms;         /* 2*MSL (Linux: TCP_TIMEWAIT_LEN, 60 s) */
	long tcp_max_tw_buckets;
	long tcp_challenge_ack_limit;     /* per second, per stack (RFC 5961 10) */
	long tcp_invalid_ratelimit;       /* ms between out-of-window/challenge ACKs per socket */
	long tcp_min_snd_mss;
	long tcp_abort_on_overflow;
	long tcp_rfc1337;
	long ipfrag_high_thresh, ipfrag_low_thresh; /* bytes reassembly may hold (net/ipv4/ip_fragment.c) */
	long ipfrag_time;                 /* s a reassembly queue lives */
	long nf_conntrack_max;            /* net.netfilter.nf_conntrack_max (netfilter/nf_conntrack.c) */
};

struct np_stack {
	char name[32];
	struct np_clock *clock;
	int own_clock;
	uint64_t rng_state[2];              /* xorshift128+, seeded from the CSPRNG or cfg.seed */
	uint32_t secret[4];                 /* keyed hashes (ISNs, IP IDs) */

	/* devices */
	struct net_device *dev_list;
	int ifindex_next;
	struct net_device *loopback_dev;

	/* softnet_data: NAPI poll list and the netif_rx backlog */
	struct napi_struct *poll_list;
	struct napi_struct **poll_tail;
	struct sk_buff_head input_pkt_queue;
	struct net_device backlog_dev;      /* owns the backlog napi (process_backlog) */
	struct net_device *tx_sched[64];    /* devices whose qdisc waits for NET_TX */
	int tx_sched_count;
	atomic_int irq_pending;

	/* stack lock (socket/sock.c): the softirq round and socket calls exclude each other */
	pthread_mutex_t lock;
	_Atomic pthread_t lock_owner;        /* atomics: other threads read them to test "is it me" */
	_Atomic int lock_depth;
	_Atomic uint64_t now_cached;         /* np_stack_poll: the round's one clock reading (0 outside a round) */
	pthread_t thread;                   /* np_stack_start */
	pthread_t run_thread;               /* the thread inside np_stack_run, while in_run */
	atomic_int in_run;
	int thread_running;
	struct sock *sock_list;             /* every sock of the stack, for teardown */

	/* event loop */
	int epfd;                           /* np_stack_fd */
	int watched_fds;                    /* device fds in epfd */
	int wakefd;                         /* eventfd: np_stack_stop and cross-thread interrupts */
	/*
	 * Someone may sleep on epfd (np_stack_fd was handed out, or np_stack_run
	 * runs): only then do interrupts write wakefd. A stack driven by
	 * np_stack_poll alone sees irq_pending on its next round without a
	 * system call (Linux raises a softirq on its own CPU without an IPI).
	 */
	atomic_int wake_armed;
	atomic_int stop;
	/*
	 * Busy polling with SO_PREFER_BUSY_POLL (napi_busy_loop): an application
	 * thread blocked on a socket sleeps on epfd itself and runs the softirq
	 * rounds, while the loop thread steps aside; the loop takes the devices
	 * back once the owner has been away for net.core.busy_poll_handback_us.
	 */
	atomic_int busy_state;              /* BUSY_* below */
	_Atomic pthread_t busy_owner;       /* the application thread that has the devices */
	_Atomic uint64_t busy_away_since;   /* CLOCK_MONOTONIC ns the owner last went back to its caller */
	atomic_uint busy_seq;               /* counts the owner's returns: the loop's sign of activity */
	_Atomic uint64_t busy_check_ns;     /* how long the stepped-aside loop sleeps between checks */
	pthread_mutex_t busy_mu;            /* with busy_cond: the stepped-aside loop's sleep */
	pthread_cond_t busy_cond;
	int busy_kicked;                    /* under busy_mu: wake up and look now */
	_Atomic uint64_t busy_takes, busy_handbacks, busy_rounds; /* owner take-overs, loop reclaims, owner rounds */

	/* timers */
	struct timer_slot *timer_heap;      /* core/timer.c: 8-ary min-heap */
	size_t timer_count, timer_cap;

	/* protocol tables */
	struct packet_type *ptype_base;
	struct packet_type *ptype_all;
	const struct net_protocol *inet_protos[256];
	struct nf_hook_entry *nf_hooks[NF_INET_NUMHOOKS];
	struct nf_net *nf;                  /* netfilter/: rule tables, conntrack, NAT (NULL until the first rule) */

	/* IPv4 */
	struct fib_table *fib;
	struct neigh_table *arp_tbl;
	uint16_t *ip_idents;                /* ip_output.c: IP ID counters, NP_IP_IDENTS hashed buckets */
	uint32_t *ip_ident_stamp;           /* ms of each bucket's last use (its random jump on reuse) */
	struct np_ping_state *ping;
	struct udp_table *udp_table;           /* net/udp/udp.c: port, address and 4-tuple hashes */
	struct tcp_hashinfo *tcp_hash;         /* net/tcp/tcp_ipv4.c: established, listening and bind hashes */
	struct ipq_table *ipfrag;              /* net/ipv4/ip_fragment.c: reassembly queues and memory */
	uint64_t icmp_tokens_ns, icmp_last_ns; /* icmp_ratelimit token bucket */

	/* allocator (core/skbuff.c) */
	struct sk_buff *skb_free;
	unsigned char *buf_free;
	uint32_t skb_free_count, buf_free_count;
	unsigned char *big_free;               /* freed NP_SKB_BIG_BUF buffers, linked through their first bytes */
	uint32_t big_free_count;

	/* observability */
	uint64_t mib[NP_MIB_MAX];
	uint64_t drops[NP_DROP_MAX];
	unsigned trace_flags;
	FILE *trace_out;
	void (*trace_cb)(void *arg, const struct np_trace_path *p);
	void *trace_cb_arg;
	uint64_t trace_next_id;

	struct np_sysctls sysctl;
};

enum { BUSY_NONE, BUSY_POLLING, BUSY_ACTIVE, BUSY_AWAY };

/*
 * Linux's napi_busy_loop for a sleeper e on one of s's sockets (stack lock
 * not held): polls the devices from the calling thread for spin_us, then
 * with prefer sleeps on them itself until woken or deadline_ns (stack
 * clock, 0: none). 1: woken; -ETIMEDOUT; 0: go and sleep on the wait queue.
 */
struct wait_queue_entry;
int napi_busy_loop(struct np_stack *s, struct wait_queue_entry *e, uint64_t deadline_ns, unsigned spin_us, int prefer);

#define NP_INC_STATS(s, field) ((s)->mib[NP_MIB_##field]++)
#define NP_ADD_STATS(s, field, n) ((s)->mib[NP_MIB_##field] += (n))

/* The stack lock (Linux's socket spinlock + softirq exclusion in one); recursive for its holder. */
void np_stack_lock(struct np_stack *s);
void np_stack_unlock(struct np_stack *s);

/*
 * The time np_stack_poll read at the start of the round the caller is
 * running (it holds the stack lock), or 0 outside a round: a stamp that
 * costs no clock read (stack.c explains the ordering).
 */
static inline uint64_t np_stack_round_now(const struct np_stack *s)
{
	uint64_t t = atomic_load_explicit(&s->now_cached, memory_order_acquire);
	if (t && pthread_equal(atomic_load_explicit(&s->lock_owner, memory_order_relaxed), pthread_self()))
		return t;
	return 0;
}

/* Wakes np_stack_run from another thread (its epoll sees the eventfd). */
void np_stack_wake(struct np_stack *s);

/* Uniform random numbers from the stack's generator (not for secrets). */
uint64_t np_random(struct np_stack *s);
static inline uint32_t np_random_u32(struct np_stack *s) { return (uint32_t)(np_random(s) >> 32); }
/* Fills buf from the OS CSPRNG (getrandom); falls back to the stack RNG only if cfg.seed was set. */
void np_get_random_bytes(struct np_stack *s, void *buf, size_t len);

/* The softirq pieces np_stack_poll runs, exposed for tests. */
int net_rx_action(struct np_stack *s);
int net_tx_action(struct np_stack *s);

#endif
