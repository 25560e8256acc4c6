/*
 * The socket layer's structures (Linux's include/net/sock.h,
 * include/linux/net.h): struct socket (the BSD side, with proto_ops),
 * struct sock (the protocol side, with proto), wait queues and the
 * ownership rules of seed 001/003:
 *   send:    np_sendmsg -> sock_sendmsg -> ops->sendmsg (inet_sendmsg) -> prot->sendmsg (udp_sendmsg)
 *   receive: udp_rcv -> __udp4_lib_lookup -> udp_queue_rcv_skb ->
 *            (owned by user? sk_add_backlog : sock_queue_rcv_skb) -> sk_data_ready
 *            np_recvmsg -> sock_recvmsg -> inet_recvmsg -> udp_recvmsg -> __skb_recv_datagram
 * Locking: the stack lock (np_stack_lock) plays the kernel's socket
 * spinlock and softirq exclusion; lock_sock marks the socket owned by a user
 * thread so that softirq delivery goes to the backlog, which release_sock
 * processes (tcp_v4_rcv / udp_queue_rcv_skb, seed 001).
 */
#ifndef NP_SOCKET_SOCK_H
#define NP_SOCKET_SOCK_H

#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "core/skbuff.h"
#include "core/stack.h"
#include "core/timer.h"
#include "netpath/socket.h"   /* NP_SOCK_FD_BASE */

struct np_stack;
struct sock;
struct sock_callbacks;
struct socket;

/* A sleeper: a blocked call or an np_poll. Woken by sk_data_ready & co. */
struct wait_queue_entry {
	struct wait_queue_entry *next, *prev;
	pthread_mutex_t *mu;
	pthread_cond_t *cond;
	int *woken;
	/*
	 * Set while the sleeper waits on its stack's devices instead of cond
	 * (napi_busy_loop with SO_PREFER_BUSY_POLL): a waker from another
	 * thread also writes that stack's wake-up fd.
	 */
	struct np_stack *busy;
	pthread_t thread;
};

struct wait_queue_head {
	struct wait_queue_entry *first;
};

/* Wakes every sleeper on wq (stack lock held). */
void wake_up_all(struct wait_queue_head *wq);

/* sk_state values used by datagram sockets; TCP adds its own. */
enum { SS_UNCONNECTED = 1, SS_CONNECTING = 2, SS_CONNECTED = 3, SS_DISCONNECTING = 4 };
#define TCP_CLOSE_ 7
#define TCP_ESTABLISHED_ 1

/* sk->sk_flags bits. */
enum {
	SOCK_BROADCAST_ = 1 << 0,
	SOCK_REUSEADDR_ = 1 << 1,
	SOCK_REUSEPORT_ = 1 << 2,
	SOCK_KEEPOPEN_ = 1 << 3,
	SOCK_DEAD_ = 1 << 4,
	SOCK_RCVTSTAMP_ = 1 << 5,
	SOCK_LINGER_ = 1 << 6,     /* SO_LINGER on: close waits sk_lingertime (0: abortive RST) */
	SOCK_DONE_ = 1 << 7,       /* stream: the peer's FIN (or a reset) ended the input */
	SOCK_URGINLINE_ = 1 << 8,
	SOCK_PREFER_BUSY_POLL_ = 1 << 9, /* SO_PREFER_BUSY_POLL: a blocked reader keeps the devices (napi_busy_loop) */
};

/* sk->sk_userlocks: what the user fixed, so the stack leaves it alone (Linux's SOCK_*_LOCK). */
enum { SOCK_SNDBUF_LOCK = 1, SOCK_RCVBUF_LOCK = 2, SOCK_BINDADDR_LOCK = 4, SOCK_BINDPORT_LOCK = 8 };

#define RCV_SHUTDOWN 1
#define SEND_SHUTDOWN 2

struct proto {
	const char *name;
	size_t obj_size;                 /* bytes of the protocol's sock (struct sock first) */
	int (*init)(struct sock *sk);
	void (*destroy)(struct sock *sk);
	void (*close)(struct sock *sk);
	int (*connect)(struct sock *sk, const struct sockaddr *addr, socklen_t len);
	int (*disconnect)(struct sock *sk, int flags);
	int (*bind)(struct sock *sk, const struct sockaddr *addr, socklen_t len); /* optional override */
	/* Returns bytes sent or a negative errno. */
	ssize_t (*sendmsg)(struct sock *sk, const struct msghdr *msg, size_t len, int flags);
	/* Returns bytes received or a negative errno; *addr_len set when msg_name is filled. */
	ssize_t (*recvmsg)(struct sock *sk, struct msghdr *msg, size_t len, int flags, int *addr_len);
	int (*shutdown)(struct sock *sk, int how);
	int (*setsockopt)(struct sock *sk, int level, int optname, const void *optval, socklen_t optlen);
	int (*getsockopt)(struct sock *sk, int level, int optname, void *optval, socklen_t *optlen);
	/* Consumes skb: delivery deferred while the socket was owned by a user. */
	int (*backlog_rcv)(struct sock *sk, struct sk_buff *skb);
	/* Puts sk in the lookup tables with local port snum (0: pick an ephemeral one). 0 or -EADDRINUSE. */
	int (*get_port)(struct sock *sk, uint16_t snum);
	void (*unhash)(struct sock *sk);
	/* Poll mask beyond the generic datagram one (may be NULL). */
	unsigned (*poll)(struct sock *sk);
	/* Stream sockets: the next established child of a listener (Linux's inet_csk_accept), or NULL and *err. */
	struct sock *(*accept)(struct sock *sk, int flags, int *err);
	/* SO_KEEPALIVE changed (may be NULL). */
	void (*keepalive)(struct sock *sk, int on);
	/* Its sockets' sk_data_ready & co (NULL: sock_def_callbacks); see sk_cb(). */
	const struct sock_callbacks *cb;
};

struct proto_ops {
	int family;
	int (*release)(struct socket *sock);
	int (*bind)(struct socket *sock, const struct sockaddr *addr, socklen_t len);
	int (*connect)(struct socket *sock, const struct sockaddr *addr, socklen_t len, int flags);
	int (*accept)(struct socket *sock, struct socket *newsock, int flags);
	int (*getname)(struct socket *sock, struct sockaddr *addr, socklen_t *len, int peer);
	unsigned (*poll)(struct socket *sock);
	int (*listen)(struct socket *sock, int backlog);
	int (*shutdown)(struct socket *sock, int how);
	int (*setsockopt)(struct socket *sock, int level, int optname, const void *optval, socklen_t optlen);
	int (*getsockopt)(struct socket *sock, int level, int optname, void *optval, socklen_t *optlen);
	ssize_t (*sendmsg)(struct socket *sock, const struct msghdr *msg, size_t len, int flags);
	ssize_t (*recvmsg)(struct socket *sock, struct msghdr *msg, size_t len, int flags);
};

struct socket {
	int fd;                          /* the descriptor: the eventfd, or (NP_SOCK_NOFD) a number >= NP_SOCK_FD_BASE */
	int efd;                         /* the eventfd (== fd unless NP_SOCK_NOFD), -1 until np_socket_fd */
	_Atomic int refs;                /* the fd table's reference plus one per call in flight */
	/* 8-bit fields, and NP_SOCK_NOFD read from fd: 40 bytes, a 48-byte malloc chunk instead of 64 */
	uint8_t type;                    /* SOCK_DGRAM, SOCK_STREAM */
	uint8_t state;                   /* SS_* */
	uint8_t nonblock;                /* O_NONBLOCK */
	uint8_t readable_signalled;      /* eventfd currently holds a count */
	struct sock *sk;
	const struct proto_ops *ops;
	struct np_stack *stack;
};
_Static_assert(sizeof(struct socket) <= 40, "struct socket grew past a 48-byte malloc chunk (one per socket)");

/* NP_SOCK_NOFD: the socket holds no kernel descriptor of its own (its number is netpath's). */
static inline int socket_nofd(const struct socket *so) { return so->fd >= NP_SOCK_FD_BASE; }

/*
 * Linux's sk_data_ready, sk_write_space, sk_state_change and sk_error_report.
 * Only netpath sets them, the same for every socket of a protocol, so they
 * are one table per protocol (struct proto's cb), not 32 bytes per socket;
 * struct sock is internal, so no embedder can install its own anyway.
 */
struct sock_callbacks {
	void (*sk_data_ready)(struct sock *sk);
	void (*sk_write_space)(struct sock *sk);
	void (*sk_state_change)(struct sock *sk);
	void (*sk_error_report)(struct sock *sk);
};
extern const struct sock_callbacks sock_def_callbacks;

/*
 * Field order keeps the struct free of holes (offsetof-checked): pointers,
 * then 64-bit, then 32-bit, then narrower fields. One of these per socket
 * end, so every 8 bytes count at a million connections.
 */
struct sock {
	struct np_stack *stack;
	struct socket *sk_socket;
	struct proto *sk_prot;
	pthread_cond_t *owned_cond;      /* lock_sock waiters; allocated by the first one that has to wait */
	struct wait_queue_head sk_wq;
	struct sock *node_next;          /* all sockets of the stack */
	struct sock **node_pprev;        /* O(1) unlink from that list */

	/*
	 * Data for the reader: the head is allocated by the first skb
	 * (sk_receive_queue_get) and freed when the reader empties it (NULL:
	 * empty), so an idle socket carries 8 bytes, not 24.
	 */
	struct sk_buff_head *sk_receive_queue;
	/*
	 * No sk_error_queue: nothing queues errors (IP_RECVERR reports through
	 * sk_err), and 24 bytes a socket are too many for an always-empty
	 * queue. Whoever queues the first one adds it as a pointer, NULL when empty.
	 */
	/*
	 * Packets that arrived while a user owned the socket: allocated by the
	 * first one (NULL: empty so far), kept until the sock is freed. Most
	 * sockets never see contention, and 8 bytes beat 24 for each of them.
	 */
	struct sk_buff_head *sk_backlog;  /* packets that arrived while owned by a user */

	/* SO_RCVTIMEO / SO_SNDTIMEO in ms (0: forever), rounded up as Linux rounds to jiffies */
	uint32_t sk_rcvtimeo_ms, sk_sndtimeo_ms;
	unsigned sk_flags;               /* SOCK_*_ bits */
	int sk_refcnt;
	/* inet_sock: addresses in host order */
	uint32_t inet_rcv_saddr;         /* bound local address (0 = any) */
	uint32_t inet_saddr;             /* source for sending */
	uint32_t inet_daddr;             /* connected peer */
	int bound_dev_if;
	int sk_rcvbuf, sk_sndbuf;        /* bytes (doubled as Linux does on setsockopt) */
	int sk_rmem_alloc;               /* bytes charged to the receive queue */
	int sk_wmem_alloc;               /* bytes in flight below the socket */
	int sk_drops;
	int sk_lingertime;               /* SO_LINGER seconds */
	/* (sk_ack_backlog and sk_max_ack_backlog: in TCP's listener state, struct tcp_listen_sock) */
	/*
	 * Early demux's cached input route (Linux's sk_rx_dst): the local route
	 * needs nothing but the device, so it is the device's index and the
	 * routing generation it was resolved under (0: none; inet_sk_rx_dst_set).
	 */
	int sk_rx_dst_ifindex;
	uint32_t sk_rx_dst_cookie;
	uint16_t inet_num;               /* local port, host order (0 = unbound) */
	uint16_t inet_dport;             /* connected peer port, host order */
	/* 8 bits each, as Linux's skc_family/sk_type/sk_protocol widths allow (AF_INET, SOCK_*, IPPROTO_*) */
	uint8_t sk_family, sk_type, sk_protocol;
	uint8_t sk_state;                /* TCP_* (8 bits, as Linux's skc_state) */
	uint8_t sk_userlocks;            /* SOCK_*_LOCK (4 bits in Linux) */
	uint8_t sk_err, sk_err_soft;     /* positive errno values (all fit 8 bits) */
	uint8_t sk_shutdown;             /* RCV_SHUTDOWN | SEND_SHUTDOWN */
	uint8_t uc_ttl;                  /* 0: net.ipv4.ip_default_ttl */
	uint8_t tos;
	/* (bit-fields: written only under the stack lock) */
	unsigned pmtudisc : 3;           /* IP_PMTUDISC_* (0..IP_PMTUDISC_OMIT, 5) */
	unsigned recverr : 1;
	unsigned owned : 1;              /* lock_sock held by a user thread */
	/* SO_BUSY_POLL: µs a blocked reader polls the devices; 11 bits (2,047 µs) fit beside the bits above */
	unsigned sk_ll_usec : 11;
};
#define SK_LL_USEC_MAX 2047u

/* The callbacks of sk (its protocol's, or the default ones). */
static inline const struct sock_callbacks *sk_cb(const struct sock *sk)
{
	return sk->sk_prot->cb ? sk->sk_prot->cb : &sock_def_callbacks;
}

/* ---- the receive queue (NULL while empty) ---- */
static inline struct sk_buff *sk_receive_queue_peek(const struct sock *sk)
{
	return sk->sk_receive_queue ? skb_peek(sk->sk_receive_queue) : NULL;
}
static inline struct sk_buff *sk_receive_queue_next(const struct sock *sk, const struct sk_buff *skb)
{
	return skb->next == (const struct sk_buff *)sk->sk_receive_queue ? NULL : skb->next;
}
static inline int sk_receive_queue_empty(const struct sock *sk)
{
	return !sk->sk_receive_queue || skb_queue_empty(sk->sk_receive_queue);
}
/* Allocates the receive queue if it is not there (before an skb goes in): 0 or -ENOMEM. */
int sk_receive_queue_get(struct sock *sk);
/* Frees the receive queue head once it holds nothing. */
void sk_receive_queue_release_if_empty(struct sock *sk);

/* ---- socket lifetime and the stack lock ---- */
/* Allocates prot->obj_size bytes, initialises the generic fields and defaults. NULL on no memory. */
struct sock *sk_alloc(struct np_stack *s, int family, struct proto *prot);
static inline void sock_hold(struct sock *sk) { sk->sk_refcnt++; }
/* Drops a reference; the last one calls prot->destroy, purges queues and frees. */
void sock_put(struct sock *sk);

/*
 * Sleeps on wq until woken or deadline_ns (0: none) passes; the stack lock
 * is released while asleep. Returns 0 when woken, -ETIMEDOUT, or -EDEADLK
 * when called from inside the stack's own context (a callback).
 */
int sk_wait_event(struct sock *sk, struct wait_queue_head *wq, uint64_t deadline_ns);

/* lock_sock/release_sock (stack lock held on entry and exit). */
void lock_sock(struct sock *sk);
/* Processes the backlog through prot->backlog_rcv, then clears ownership. */
void release_sock(struct sock *sk);
static inline int sock_owned_by_user(const struct sock *sk) { return sk->owned; }
/* Consumes skb: queues it on the backlog, or drops it (SOCKET_RCVBUFF) over rcvbuf + sndbuf. */
int sk_add_backlog(struct sock *sk, struct sk_buff *skb);

/*
 * Charges skb to sk_rmem_alloc, queues it on the receive queue and calls
 * sk_data_ready (returns 0: skb consumed); over sk_rcvbuf it returns -ENOMEM
 * and leaves skb with the caller, which counts and drops it.
 */
int sock_queue_rcv_skb(struct sock *sk, struct sk_buff *skb);
/* Dequeues the next datagram (MSG_PEEK: leaves it), uncharging it; NULL if none. */
struct sk_buff *skb_recv_datagram(struct sock *sk, int flags);
/* Copies up to len bytes of skb data from offset into the iovec; returns bytes copied. */
size_t skb_copy_datagram_msg(const struct sk_buff *skb, size_t offset, struct msghdr *msg, size_t len);
/* Gathers the iovec into buf (len bytes). */
void memcpy_from_msg(void *buf, const struct msghdr *msg, size_t len);

/* Default callbacks: wake sleepers and signal the socket's eventfd. */
void sock_def_readable(struct sock *sk);
void sock_def_write_space(struct sock *sk);
/* Poll mask of a datagram socket (datagram_poll). */
unsigned datagram_poll(struct sock *sk);
/* Re-evaluates the socket's eventfd from its poll mask (stream sockets after reading or accepting). */
void sock_fd_sync(struct sock *sk);
/* Sets sk_err and reports it (wakes readers/pollers). */
void sk_error_set(struct sock *sk, int err);
int sock_error(struct sock *sk);   /* returns -sk_err and clears it, or 0 */

static inline uint64_t sock_rcvtimeo_ns(const struct sock *sk) { return (uint64_t)sk->sk_rcvtimeo_ms * NSEC_PER_MSEC; }
static inline uint64_t sock_sndtimeo_ns(const struct sock *sk) { return (uint64_t)sk->sk_sndtimeo_ms * NSEC_PER_MSEC; }

/* Deadline for a blocking call from a timeout (0 = forever): absolute ns on the stack clock. */
uint64_t sock_deadline(struct sock *sk, uint64_t timeo_ns);

/* Generic socket-level options (SOL_SOCKET). 0 or a negative errno (-ENOPROTOOPT for unknown). */
int sock_setsockopt(struct sock *sk, int optname, const void *optval, socklen_t optlen);
int sock_getsockopt(struct sock *sk, int optname, void *optval, socklen_t *optlen);

/* ---- AF_INET ---- */
int inet_init(struct np_stack *s);     /* registers udp (and later tcp) */
void inet_free(struct np_stack *s);
extern const struct proto_ops inet_dgram_ops;
extern const struct proto_ops inet_stream_ops;

#endif
