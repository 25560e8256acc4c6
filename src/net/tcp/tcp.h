/*
 * TCP (RFC 9293) over IPv4: the declarations the tcp_*.c files share
 * (Linux's include/net/tcp.h, inet_connection_sock.h, tcp.h).
 * Place in the packet path (seed 001/003):
 *   send:    inet_stream_sendmsg -> tcp_sendmsg (skb on sk_write_queue) -> tcp_push
 *            -> tcp_write_xmit (window, cwnd, Nagle) -> tcp_transmit_skb (clone,
 *            header, checksum) -> ip_queue_xmit; the skb stays queued until ACKed.
 *   receive: ip_local_deliver_finish -> tcp_v4_rcv (checksum, lookup)
 *            -> (owned by user ? sk_add_backlog : tcp_v4_do_rcv)
 *            -> tcp_rcv_established / tcp_rcv_state_process -> tcp_data_queue
 *            -> sk_receive_queue -> sk_data_ready -> tcp_recvmsg.
 * Files: tcp.c (socket calls), tcp_input.c, tcp_output.c, tcp_timer.c,
 * tcp_ipv4.c (lookup tables, ISN, RST, TIME_WAIT, ICMP), tcp_cong.c (NewReno),
 * syncookies.c (SYN cookies when a listener's SYN queue is full).
 */
#ifndef NP_NET_TCP_TCP_H
#define NP_NET_TCP_TCP_H

#include <errno.h>
#include <netinet/tcp.h>   /* TCP_ESTABLISHED ... TCP_CLOSING, TCP_NODELAY ... */
#include <stdint.h>
#include <stdlib.h>

#include "core/netdevice.h"
#include "core/skbuff.h"
#include "core/timer.h"
#include "net/ipv4/ip.h"
#include "net/ipv4/route.h"
#include "net/tcp/tcp_seq.h"
#include "socket/sock.h"
#include "socket/slab.h"
#include "wire/tcp.h"

struct np_stack;
struct tcp_sock;

/* ---- constants (Linux's include/net/tcp.h) ---- */
#define MAX_TCP_HEADER (TCP_HLEN_MAX + 20 + 14)   /* TCP + IP + Ethernet */
#define TCP_INIT_CWND 10                          /* RFC 6928 */
#define TCP_MAX_QUICKACKS 16
#define TCP_DELACK_MIN_NS (40 * NSEC_PER_MSEC)    /* Linux's TCP_DELACK_MIN */
#define TCP_TIMEOUT_INIT_US 1000000u              /* RFC 6298 2.1: 1 s */
#define TCP_TIMEOUT_FALLBACK_US 3000000u          /* RFC 6298 5.7 */
#define TCP_MAX_WINDOW 65535u                     /* largest unscaled window field */
#define TCP_MAX_WSCALE 14                         /* RFC 7323 2.3: larger shifts are clamped */
#define TCP_MIN_USER_MSS 88                       /* Linux's TCP_MIN_MSS for TCP_MAXSEG */
#define TCP_OFO_MAX_SEGS 512                      /* out-of-order queue segment cap */
#define TCP_REORDERING 3                          /* dupacks before fast retransmit (RFC 5681) */

/* A TCP sock's states are <netinet/tcp.h>'s (TCP_ESTABLISHED = 1 ... TCP_CLOSING = 11). */
#define TCPF_STATE(s) (1u << (s))

/* ---- per-segment control block: after IPCB in skb->cb (Linux's TCP_SKB_CB) ---- */
enum {
	TCPCB_LOST = 1,           /* marked lost: to be retransmitted */
	TCPCB_SACKED_RETRANS = 2, /* retransmitted and not yet acknowledged or lost again */
	TCPCB_EVER_RETRANS = 4,   /* retransmitted at least once (Karn: no RTT sample) */
};

struct tcp_skb_cb {
	struct inet_skb_parm header; /* IPCB: valid on receive */
	uint32_t seq;                /* first sequence number (SYN counts) */
	uint32_t end_seq;            /* seq + SYN + FIN + payload length */
	uint8_t tcp_flags;           /* TCPF_* */
	uint8_t sacked;              /* TCPCB_* */
	uint16_t hlen;               /* receive: header bytes (payload follows) */
	uint32_t ack_seq;            /* receive: the segment's ACK field */
	uint64_t when;               /* send: ns of the last transmission */
};
#define TCP_SKB_CB(skb) ((struct tcp_skb_cb *)(void *)(skb)->cb)
_Static_assert(sizeof(struct tcp_skb_cb) <= sizeof(((struct sk_buff *)0)->cb), "TCP_SKB_CB overflows skb->cb");

/* ---- congestion control (Linux's struct tcp_congestion_ops) ---- */
/* enum tcp_ca_state (TCP_CA_Open ... TCP_CA_Loss) comes from <netinet/tcp.h>, with Linux's values. */
enum tcp_ca_event { CA_EVENT_TX_START, CA_EVENT_CWND_RESTART, CA_EVENT_COMPLETE_CWR, CA_EVENT_LOSS };

struct tcp_congestion_ops {
	const char *name;
	/* Returns the slow-start threshold after a loss (required). */
	uint32_t (*ssthresh)(struct tcp_sock *tp);
	/* Grows cwnd for acked packets (required). */
	void (*cong_avoid)(struct tcp_sock *tp, uint32_t ack, uint32_t acked);
	void (*init)(struct tcp_sock *tp);
	void (*release)(struct tcp_sock *tp);
	void (*set_state)(struct tcp_sock *tp, uint8_t new_state);
	void (*cwnd_event)(struct tcp_sock *tp, enum tcp_ca_event ev);
	/* RTT sample of newly acked data (us; 0 if none). */
	void (*pkts_acked)(struct tcp_sock *tp, uint32_t acked, uint32_t rtt_us);
	/* cwnd to restore when a loss is undone (optional). */
	uint32_t (*undo_cwnd)(struct tcp_sock *tp);
};
/*
 * Per-socket words of congestion-control state (Linux: 104 bytes). NewReno,
 * the only module, needs none, so none are reserved: a module that needs
 * some grows this (every socket pays it).
 */
#define TCP_CA_PRIV_WORDS 0

/* ---- lookup-table nodes (tcp_ipv4.c) ---- */
enum { TCP_NODE_SOCK = 1, TCP_NODE_TW = 2 };

/*
 * A 4-tuple in the established hash: a full sock or a TIME_WAIT minisock.
 * The tuple itself is the owner's (the sock's inet_* fields, which do not
 * change while it is hashed, or the minisock's copy): not kept twice. Its
 * kind is that of the bind node both owners place right after it (en_kind).
 * 8 bytes: with under one entry per bucket, finding the predecessor on
 * unlink costs less than a back pointer in every socket.
 */
struct tcp_ehash_node {
	struct tcp_ehash_node *next; /* singly linked: unlinking walks the (short) chain of its bucket */
};

/*
 * A local port in use (Linux's bind bucket member). The owner's
 * SO_REUSEADDR, SO_REUSEPORT and device are read from it (a sock's live
 * options, as Linux's inet_bind_conflict reads sk2's; a minisock's
 * copies), not kept here.
 */
struct tcp_bind_node {
	struct tcp_bind_node *next, **pprev;
	uint32_t addr;               /* bound local address (0: any) */
	uint16_t port;
	uint8_t kind;                /* TCP_NODE_* */
	uint8_t by_bind;             /* the port came from bind(): connect's ephemeral search skips it */
};

/* TIME_WAIT minisock (Linux's tcp_timewait_sock): what is needed to ACK, RST and reuse. */
struct tcp_tw_sock {
	struct tcp_ehash_node en;
	struct tcp_bind_node bn;     /* right after en: its kind is en's (en_kind) */
	struct np_stack *stack;
	struct np_timer timer;
	uint32_t laddr, faddr;       /* the 4-tuple, host order */
	uint16_t lport, fport;
	int dev_if;                  /* the replaced sock's bound device, SO_REUSEADDR and SO_REUSEPORT */
	uint8_t reuse, reuseport;
	uint32_t snd_nxt, rcv_nxt;
	uint16_t rcv_wnd;
	uint8_t tos, ttl;
};

/*
 * A listener's own state (Linux's icsk_accept_queue and listening-hash
 * node), allocated by listen(): few sockets listen, so the others do not
 * carry it.
 */
struct tcp_listen_sock {
	struct tcp_sock *lnext, **lpprev; /* listening hash */
	struct tcp_sock *syn_head, *acc_head, *acc_tail; /* its children */
	uint32_t syn_qlen;
	uint32_t last_synq_overflow; /* second (+1) a SYN cookie was last sent; 0 never */
	/* Linux's sk_ack_backlog / sk_max_ack_backlog (listeners only, so here rather than in every sock) */
	uint32_t ack_backlog;        /* established children waiting for accept */
	uint32_t max_ack_backlog;    /* listen()'s backlog, capped by net.core.somaxconn */
};

/* What a socket's write queue allocates: the queue and its first unsent skb (tcp_send_head). */
struct tcp_write_queue {
	struct sk_buff_head q;       /* tcp_sock.write_queue points here */
	struct sk_buff *send_head;   /* first unsent skb (NULL: all sent) */
	int wmem_queued;             /* truesize of the queue (Linux's sk_wmem_queued) */
};

/* ---- the TCP sock (Linux's tcp_sock + inet_connection_sock) ---- */
enum { ICSK_TIME_RETRANS = 1, ICSK_TIME_PROBE0 = 3 };

/*
 * Linux's three per-socket timers (icsk_retransmit_timer, icsk_delack_timer,
 * sk_timer), kept as three deadlines behind one np_timer armed at the
 * earliest: 48 bytes a socket instead of 72 (tcp_timer.c).
 */
enum { TCP_TIMER_WRITE, TCP_TIMER_DELACK, TCP_TIMER_KEEPALIVE, TCP_TIMER_MAX };
#define TCP_TIMER_OFF UINT64_MAX

struct tcp_sock {
	struct sock sk;              /* first: sk_alloc sizes it by tcp_prot.obj_size */

	struct tcp_ehash_node en;    /* established hash (also SYN_RECV children) */
	struct tcp_bind_node bn;     /* bind hash; right after en: its kind is en's (en_kind) */

	/*
	 * Passive open. A child (parent set, from tcp_openreq_child until
	 * accept or unlink) never listens, and a listener is never a child: a
	 * socket only listens from CLOSE with a descriptor, which a child gets
	 * at accept, after its links were cleared. So the child's links and
	 * the listener's state share the space (with the listener's
	 * fields in tcp_listen_sock and one list for both queues, 56 bytes
	 * per socket less).
	 */
	struct tcp_sock *parent;     /* listener while unaccepted; NULL: lq below is the valid member */
	union {
		struct {
			/* the listener's syn list (SYN_RECV), or its accept queue (FIFO) once in_accept_queue */
			struct tcp_sock *child_next, **child_pprev;
		};
		struct tcp_listen_sock *lq;  /* from listen() to the last reference; NULL if never listened */
	};

	/* send sequence space (RFC 9293 3.3.1) */
	/* (no SND.WL2: the window update test is Linux's tcp_may_update_window, on snd_una) */
	uint32_t iss, snd_una, snd_nxt, snd_wnd, snd_wl1, write_seq, max_window;
	/* receive sequence space (no IRS kept: SYN-RECEIVED finds it as rcv_nxt - 1) */
	uint32_t rcv_nxt, rcv_wnd, rcv_wup, copied_seq;

	/* MSS */
	uint16_t mss_cache;          /* current send MSS */
	uint16_t mss_clamp;          /* peer's MSS option (536 if none) */
	uint16_t advmss;             /* what we announce */
	uint16_t user_mss;           /* TCP_MAXSEG */
	uint16_t rcv_mss;            /* estimate of the peer's segment size (delayed ACK) */
	uint16_t pmtu;               /* path MTU in use */

	/* queues */
	/*
	 * Unacked + unsent, in sequence order: the head (struct tcp_write_queue,
	 * with send_head) is allocated with the first skb (tcp_write_queue_get)
	 * and freed when the queue empties (NULL: empty), as ofo_queue below,
	 * so an idle socket carries 8 bytes, not 32.
	 */
	struct sk_buff_head *write_queue;
	/* out of order, sorted by seq: allocated by the first such segment, freed when it empties (NULL: empty) */
	struct sk_buff_head *ofo_queue;
	uint32_t total_retrans;      /* (here: no hole before ca_ops) */

	/* congestion control (in packets, as Linux) */
	uint32_t snd_cwnd, snd_ssthresh, snd_cwnd_cnt, prior_cwnd;
	uint32_t packets_out, lost_out, retrans_out, max_packets_out, max_packets_seq;
	uint32_t snd_sml;            /* end of the last small segment sent (Minshall's Nagle) */
	uint32_t pushed_seq;         /* write_seq at the last PSH mark (forced_push) */
	uint32_t high_seq;           /* snd_nxt at the start of recovery/loss (RFC 6582 "recover") */
	uint32_t dupacks;
	const struct tcp_congestion_ops *ca_ops;

	/* RTT (RFC 6298), microseconds */
	uint32_t srtt_us, rttvar_us, rto_us;
	/* 32-bit stamps (tcp_stamp_ms below; 0: unset), as Linux keeps them in u32 jiffies */
	uint32_t retrans_stamp;      /* ms stamp of the first transmission of what the timer guards */
	uint32_t probes_tstamp;      /* ms stamp of the first zero-window probe */
	uint32_t rcv_tstamp;         /* ms stamp of the last ACK received (keepalive) */
	uint32_t lrcvtime;           /* ms stamp of the last data received */
	uint32_t last_oow_ack_time;  /* ms stamp: RFC 5961 / out-of-window ACK rate limiting */
	uint32_t user_timeout_ms;    /* TCP_USER_TIMEOUT (here: no hole before the timers) */
	uint8_t backoff, retransmits;
	/* Linux's inet_sk(sk)->inet_id: the IP ID of the next segment, random from connect/accept */
	uint16_t inet_id;

	/* timers */
	struct np_timer timer;       /* armed at the earliest of timer_when[] */
	/*
	 * Absolute ns per TCP_TIMER_* (TCP_TIMER_OFF: not armed). WRITE: RTO,
	 * zero-window probe, SYN / SYN-ACK; DELACK; KEEPALIVE: keepalive and
	 * the orphan FIN_WAIT2 timeout.
	 */
	uint64_t timer_when[TCP_TIMER_MAX];

	/* receive window limits and autotuning (Linux's window_clamp, rcv_rtt_est, rcvq_space) */
	uint32_t window_clamp;       /* largest window we offer (TCP_WINDOW_CLAMP; 0 before the handshake: none) */
	uint32_t rcv_rtt_seq;        /* RTT sample ends when rcv_nxt passes this */
	uint32_t rcv_rtt_us;         /* receiver's RTT estimate (0: none yet) */
	uint32_t rcvq_seq;           /* copied_seq when the current measure began */
	uint32_t rcvq_space;         /* bytes the reader took in the last RTT (at least the initial window) */
	uint32_t rcv_rtt_time;       /* us stamp when the current RTT sample began (0: none) */
	uint32_t rcvq_time;          /* us stamp when the current copy measure began (0: none) */

	/* options */
	uint16_t keepalive_time_s, keepalive_intvl_s; /* TCP_KEEPIDLE/KEEPINTVL, 1..32767 s (0: sysctl) */
	uint8_t keepalive_probes;    /* TCP_KEEPCNT, 1..127 (0: sysctl) */
	int8_t linger2_s;            /* TCP_LINGER2: -1, or 0..120 s (0: sysctl) */
	/*
	 * Small values and yes/no state in bit-fields (written only under the
	 * stack lock, so sharing bytes is safe): 5 bytes instead of 19. Widths
	 * hold every value assigned (see the comments).
	 */
	unsigned userlocks : 4;      /* SOCK_BINDADDR_LOCK | SOCK_BINDPORT_LOCK (4 | 8): what the user chose */
	/* RFC 7323 shifts (Linux's rx_opt), 0..TCP_MAX_WSCALE (14) */
	unsigned snd_wscale : 4;     /* the peer's shift: received windows are << it */
	unsigned rcv_wscale : 4;     /* our shift: sent windows are >> it */
	unsigned ca_state : 3;       /* TCP_CA_Open .. TCP_CA_Loss (0..4) */
	unsigned pending : 2;        /* ICSK_TIME_* (0, 1, 3) owning the WRITE timer */
	/* delayed ACK */
	unsigned ack_pending : 2;    /* ACK_SCHED | ACK_NOW */
	unsigned quick : 5;          /* ACKs left in quick-ack mode, 0..TCP_MAX_QUICKACKS (16) */
	unsigned ehashed : 1, bhashed : 1, lhashed : 1;
	unsigned in_accept_queue : 1;
	unsigned orphan_ref : 1;     /* tcp_close kept a reference for the closing orphan */
	/* RFC 7323 window scaling: SYN_SENT: 1 if our SYN offered it; later: both SYNs did */
	unsigned wscale_ok : 1;
	unsigned pingpong : 1;       /* interactive: delay ACKs */
	unsigned ato_set : 1;
	unsigned nodelay : 1, cork : 1;
	unsigned nospace : 1;        /* a writer waits for send-buffer space */
	unsigned in_sendmsg : 1;     /* inside tcp_sendmsg (trace stages) */
	unsigned probes_out : 8;     /* zero-window or keepalive probes unanswered (as Linux's u8) */

	uint32_t ca_priv[TCP_CA_PRIV_WORDS]; /* last: while it is empty it costs nothing */
};

_Static_assert(TCP_MAX_WSCALE < 16 && TCP_MAX_QUICKACKS < 32 && TCP_CA_Loss < 8 && ICSK_TIME_PROBE0 < 4 &&
		       (SOCK_BINDADDR_LOCK | SOCK_BINDPORT_LOCK) < 16,
	       "a tcp_sock bit-field is too narrow for its values");

static inline struct tcp_sock *tcp_sk(const struct sock *sk) { return (struct tcp_sock *)(void *)sk; }
/* The listener state of tp, or NULL (never listened, or a child whose union holds links). */
static inline struct tcp_listen_sock *tcp_lq(const struct tcp_sock *tp) { return tp->parent ? NULL : tp->lq; }

/*
 * 32-bit stamps of the stack clock: milliseconds for timeouts (wrap after
 * 49 days) and microseconds for RTT-scale measures (wrap after 71 minutes),
 * 4 bytes a stamp instead of 8. Differences are taken modulo 2^32, so they
 * hold across a wrap; +1 keeps 0 free to mean "unset" (it recurs for one
 * tick per wrap, as with Linux's jiffies).
 */
static inline uint32_t tcp_ns_to_stamp_ms(uint64_t ns) { return (uint32_t)(ns / NSEC_PER_MSEC) + 1; }
static inline uint32_t tcp_stamp_ms(const struct np_stack *s) { return tcp_ns_to_stamp_ms(np_stack_now(s)); }
static inline uint32_t tcp_ns_to_stamp_us(uint64_t ns) { return (uint32_t)(ns / NSEC_PER_USEC) + 1; }
static inline uint32_t tcp_stamp_us(const struct np_stack *s) { return tcp_ns_to_stamp_us(np_stack_now(s)); }
/* ns since an ms stamp (whole ms). */
static inline uint64_t tcp_ms_since(const struct np_stack *s, uint32_t stamp)
{
	return (uint64_t)(uint32_t)(tcp_stamp_ms(s) - stamp) * NSEC_PER_MSEC;
}
/* The later of two ms stamps, across a wrap (an unset one loses to a set one). */
static inline uint32_t tcp_stamp_later(uint32_t a, uint32_t b)
{
	if (!a || !b)
		return a ? a : b;
	return (int32_t)(a - b) > 0 ? a : b;
}

/* sk_state helpers */
static inline int tcp_synchronized(int state)
{
	return !(TCPF_STATE(state) & (TCPF_STATE(TCP_CLOSE) | TCPF_STATE(TCP_LISTEN) | TCPF_STATE(TCP_SYN_SENT)));
}

/* What an skb costs its socket (truesize): the buffer plus the head. */
static inline int tcp_skb_truesize(const struct sk_buff *skb) { return (int)(skb->end + sizeof(struct sk_buff)); }

/* Receive window still open to the peer (Linux's tcp_receive_window). */
static inline uint32_t tcp_receive_window(const struct tcp_sock *tp)
{
	int32_t win = (int32_t)(tp->rcv_wup + tp->rcv_wnd - tp->rcv_nxt);
	return win < 0 ? 0 : (uint32_t)win;
}

static inline uint32_t tcp_wnd_end(const struct tcp_sock *tp) { return tp->snd_una + tp->snd_wnd; }
static inline uint32_t tcp_packets_in_flight(const struct tcp_sock *tp)
{
	return tp->packets_out - tp->lost_out + tp->retrans_out;
}
static inline int tcp_ofo_empty(const struct tcp_sock *tp) { return !tp->ofo_queue || skb_queue_empty(tp->ofo_queue); }
/* Frees the out-of-order queue head once it holds nothing (idle sockets carry only the pointer). */
static inline void tcp_ofo_release_if_empty(struct tcp_sock *tp)
{
	if (tp->ofo_queue && skb_queue_empty(tp->ofo_queue)) {
		free(tp->ofo_queue);
		tp->ofo_queue = NULL;
	}
}
/* The first unsent skb (Linux's tcp_send_head), or NULL when everything queued was sent. */
static inline struct sk_buff *tcp_send_head(const struct tcp_sock *tp)
{
	return tp->write_queue ? container_of(tp->write_queue, struct tcp_write_queue, q)->send_head : NULL;
}
/* Bytes (truesize) the write queue holds: 0 without one. */
static inline int tcp_wmem_queued(const struct tcp_sock *tp)
{
	return tp->write_queue ? container_of(tp->write_queue, struct tcp_write_queue, q)->wmem_queued : 0;
}
/* Charges (delta > 0) or uncharges an skb's truesize; the write queue exists. */
static inline void tcp_wmem_queued_add(struct tcp_sock *tp, int delta)
{
	container_of(tp->write_queue, struct tcp_write_queue, q)->wmem_queued += delta;
}
/* Sets the first unsent skb; the write queue exists (skb, if any, is on it). */
static inline void tcp_set_send_head(struct tcp_sock *tp, struct sk_buff *skb)
{
	container_of(tp->write_queue, struct tcp_write_queue, q)->send_head = skb;
}
static inline struct sk_buff *tcp_write_queue_head(const struct tcp_sock *tp)
{
	return tp->write_queue ? skb_peek(tp->write_queue) : NULL;
}
static inline struct sk_buff *tcp_write_queue_next(const struct tcp_sock *tp, const struct sk_buff *skb)
{
	return skb->next == (const struct sk_buff *)tp->write_queue ? NULL : skb->next;
}
static inline struct sk_buff *tcp_write_queue_tail(const struct tcp_sock *tp)
{
	const struct sk_buff_head *q = tp->write_queue;
	return !q || q->prev == (const struct sk_buff *)q ? NULL : q->prev;
}
/* The write queue, allocated if it was not (before an skb goes in): 0 or -ENOMEM. */
static inline int tcp_write_queue_get(struct tcp_sock *tp)
{
	if (tp->write_queue)
		return 0;
	struct tcp_write_queue *wq = kmem_spare_alloc(KMEM_SPARE_WQ, sizeof(*wq));
	if (!wq)
		return -ENOMEM;
	skb_queue_head_init(&wq->q);
	wq->send_head = NULL;
	wq->wmem_queued = 0;
	tp->write_queue = &wq->q;
	return 0;
}
/* Frees the write queue head once it holds nothing. */
static inline void tcp_write_queue_release_if_empty(struct tcp_sock *tp)
{
	if (tp->write_queue && skb_queue_empty(tp->write_queue)) {
		kmem_spare_free(KMEM_SPARE_WQ, container_of(tp->write_queue, struct tcp_write_queue, q));
		tp->write_queue = NULL;
	}
}

/* Per-stack TCP state (s->tcp_hash): lookup tables and rate limits. */
struct tcp_hashinfo;

extern struct proto tcp_prot;

/* ---- tcp_ipv4.c ---- */
int tcp_init(struct np_stack *s);
/*
 * ip_queue_xmit's cached route for a flow's keys (Linux's sk_dst_cache,
 * shared the way its per-nexthop cached routes are): one of a few per-stack
 * slots, so that a socket carries no 40-byte cache of its own. Use it with
 * ip_route_output_cached, which checks the keys and the routing generation.
 * NULL once tcp_free ran.
 */
struct dst_cache *tcp_dst_slot(struct np_stack *s, uint32_t daddr, uint32_t saddr, const struct net_device *oif);
void tcp_free(struct np_stack *s);
/* Consumes skb (data at the TCP header, IPCB filled): the inet_protos handler. */
int tcp_v4_rcv(struct sk_buff *skb);
/* Consumes skb (data at the TCP header, TCP_SKB_CB filled): prot->backlog_rcv too. */
int tcp_v4_do_rcv(struct sock *sk, struct sk_buff *skb);
/* ICMP error quoting one of our segments (skb data at the quoted IP header); does not consume skb. */
void tcp_v4_err(struct sk_buff *skb, uint8_t type, uint8_t code, uint32_t info);
int tcp_v4_connect(struct sock *sk, const struct sockaddr *uaddr, socklen_t addr_len);
int tcp_v4_get_port(struct sock *sk, uint16_t snum);
void tcp_v4_hash_established(struct sock *sk);
void tcp_v4_unhash(struct sock *sk);
void tcp_v4_listen_hash(struct sock *sk);
/* Shares the listener's port with a child (Linux's inet_inherit_port). */
void tcp_v4_inherit_port(struct sock *child, struct sock *listener);
/* Does not consume skb: answers it with a RST (RFC 9293 3.10.7.1), unless it is one. */
void tcp_v4_send_reset(struct np_stack *s, const struct sk_buff *skb);
uint32_t tcp_v4_init_seq(struct np_stack *s, uint32_t saddr, uint32_t daddr, uint16_t sport, uint16_t dport);
/* Replaces sk (FIN_WAIT2/CLOSING/... -> TIME_WAIT) by a minisock; sk goes to CLOSE. */
void tcp_time_wait(struct sock *sk);
/* Number of TIME_WAIT minisocks (tests). */
uint32_t tcp_tw_count(const struct np_stack *s);
/* Tests: the next ISN this stack picks (once). */
void tcp_set_next_isn(struct np_stack *s, uint32_t isn);
/* Per-stack challenge-ACK budget (RFC 5961 10): 1 if one may be sent now. */
int tcp_challenge_ack_allowed(struct np_stack *s);

/* ---- tcp.c ---- */
void tcp_set_state(struct sock *sk, int state);
/* The connection is over: CLOSE, timers off, waiters woken; an orphan is freed. */
void tcp_done(struct sock *sk);
/* Aborts with err (ECONNRESET, ETIMEDOUT ...): reports it, then tcp_done. */
void tcp_write_err(struct sock *sk, int err);
void tcp_reset(struct sock *sk);
/* RCV_SHUTDOWN + EOF readers; wakes them. */
int tcp_poll_mask(struct sock *sk);
/* Re-evaluates window after the user read (sends a window update if it grew a lot). */
void tcp_cleanup_rbuf(struct sock *sk, int copied);
/* Child of a listener became ESTABLISHED: to the accept queue (0) or -ENOSPC when full. */
int tcp_child_established(struct sock *child);
/* Unlinks a child from its listener's queues. */
void tcp_child_unlink(struct sock *child);
/* Aborts every child of a listener (close, shutdown). */
void tcp_listen_stop(struct sock *sk);
int tcp_disconnect(struct sock *sk, int flags);
uint32_t tcp_keepalive_time_s(const struct tcp_sock *tp);
uint32_t tcp_keepalive_intvl_s(const struct tcp_sock *tp);
int tcp_keepalive_probes(const struct tcp_sock *tp);
void tcp_set_keepalive(struct sock *sk, int on);
/* listen(): CLOSE -> LISTEN (or a new backlog for a listener). 0, -EINVAL, -EADDRINUSE. */
int tcp_listen_start(struct sock *sk, int backlog);
/* Does another listener hold sk's address and port (Linux re-checks at listen)? */
int tcp_v4_listen_conflict(struct sock *sk);
void tcp_put_port(struct sock *sk);

/* ---- tcp_input.c ---- */
/* Consumes skb: ESTABLISHED processing (RFC 9293 3.10.7.4). */
void tcp_rcv_established(struct sock *sk, struct sk_buff *skb, const struct tcp_repr *th);
/* Consumes skb: every other state. Returns 1 if the caller must answer with a RST (and then free skb). */
int tcp_rcv_state_process(struct sock *sk, struct sk_buff *skb, const struct tcp_repr *th);
void tcp_rtt_estimator(struct tcp_sock *tp, uint32_t rtt_us);
/* Receive-buffer autotuning after the reader took data (Linux's tcp_rcv_space_adjust). */
void tcp_rcv_space_adjust(struct sock *sk);
void tcp_set_rto(struct sock *sk);
void tcp_enter_loss(struct sock *sk);
/* Out of window ACKs and challenge ACKs share a per-socket limit (tcp_invalid_ratelimit). */
int tcp_oow_rate_limited(struct sock *sk, const struct sk_buff *skb);
void tcp_send_challenge_ack(struct sock *sk, int syn);
/*
 * Linux's tcp_conn_request (LISTEN + SYN): a SYN_RECV child, a SYN cookie, or a
 * drop. Does not consume skb; 0 or -reason. isn_set: a TIME_WAIT reuse with isn.
 */
int tcp_conn_request(struct sock *sk, struct sk_buff *skb, const struct tcp_repr *th, uint32_t isn, int isn_set);
/*
 * A child of listener sk for the connection skb opens (what sk_clone_lock and
 * tcp_create_openreq_child copy), not yet queued nor hashed; NULL without memory.
 */
struct sock *tcp_openreq_child(struct sock *sk, const struct sk_buff *skb, const struct tcp_repr *th,
			       const struct rtable *rt);
/* Links a SYN_RECV child into its listener's SYN queue and the lookup tables. */
void tcp_synq_add(struct sock *sk, struct sock *child);

/* ---- syncookies.c (RFC 4987 3.6, Linux's net/ipv4/syncookies.c) ---- */
/* Does not consume skb: answers the SYN with a cookie SYN-ACK (no state kept). 0 or -reason. */
int cookie_v4_send_synack(struct sock *sk, const struct sk_buff *skb, const struct tcp_repr *th,
			  const struct rtable *rt);
/*
 * An ACK (no SYN/RST) reached listener sk. Returns 0 when it is not a cookie
 * (the listener handles it), 1 when consumed (a child was built from the
 * cookie and took skb, or skb was dropped), or -reason when the cookie is
 * invalid (the caller answers with a RST and frees skb with that reason).
 */
int cookie_v4_check(struct sock *sk, struct sk_buff *skb, const struct tcp_repr *th);
/* The cookie ISN for a 4-tuple (saddr/sport: the peer), the peer's ISN and an MSS index; tests. */
uint32_t cookie_v4_init_sequence(struct np_stack *s, uint32_t saddr, uint32_t daddr, uint16_t sport,
				 uint16_t dport, uint32_t peer_isn, unsigned mssind);
/* The MSS a cookie encodes for a peer announcing mss (Linux's msstab: 536, 1300, 1440, 1460). */
uint16_t cookie_mss_round(uint16_t mss);

/* ---- tcp_output.c ---- */
enum tcp_xmit_why { TCP_XMIT_NEW = 0, TCP_XMIT_RETRANS, TCP_XMIT_CTL, TCP_XMIT_PROBE };
/* Does not consume skb when clone_it (a copy goes out); otherwise consumes it. 0 or -errno. */
int tcp_transmit_skb(struct sock *sk, struct sk_buff *skb, int clone_it, enum tcp_xmit_why why);
/* Sends what window, cwnd and Nagle allow (nonagle: TCP_NAGLE_*); 1 if nothing could go and data waits. */
int tcp_write_xmit(struct sock *sk, unsigned mss_now, int nonagle);
void tcp_push_pending_frames(struct sock *sk);
void __tcp_push_pending_frames(struct sock *sk, unsigned cur_mss, int nonagle);
void tcp_push_one(struct sock *sk, unsigned mss_now);
/*
 * Linux's tcp_xmit_size_goal: unsent bytes sendmsg gathers before it pushes
 * the send head (a super-packet's worth on a TSO route, else one MSS).
 */
unsigned tcp_xmit_size_goal(struct sock *sk, unsigned mss_now);
int tcp_retransmit_skb(struct sock *sk, struct sk_buff *skb);
void tcp_xmit_retransmit_queue(struct sock *sk);
void tcp_send_ack(struct sock *sk);
void tcp_send_delayed_ack(struct sock *sk);
void tcp_send_fin(struct sock *sk);
void tcp_send_active_reset(struct sock *sk);
int tcp_send_synack(struct sock *sk);
/* The receive window a new connection of sk offers first, for segments of mss (Linux's tcp_select_initial_window). */
uint32_t tcp_initial_rcv_wnd(const struct sock *sk, unsigned mss);
int tcp_connect(struct sock *sk);
/* Zero-window probe / keepalive probe (Linux's tcp_write_wakeup): <0 if nothing was sent. */
int tcp_write_wakeup(struct sock *sk);
void tcp_send_probe0(struct sock *sk);
unsigned tcp_current_mss(struct sock *sk);
void tcp_sync_mss(struct sock *sk, unsigned pmtu);
/* Window to advertise now, as the 16-bit field (>> rcv_wscale); updates rcv_wnd/rcv_wup (Linux's tcp_select_window). */
uint16_t tcp_select_window(struct sock *sk);
/* RFC 7323: our shift for a receive space of space bytes (the smallest that fits 16 bits, at most 14). */
uint8_t tcp_wscale_for_space(uint32_t space);
/* Linux's tcp_select_initial_window for scaling: picks tp->rcv_wscale and window_clamp before our SYN or SYN-ACK. */
void tcp_init_wscale(struct sock *sk, int offer);
/* The largest window we may offer now (65535 << rcv_wscale, no more than window_clamp). */
uint32_t tcp_max_rcv_window(const struct tcp_sock *tp);
uint32_t __tcp_select_window(struct sock *sk);
/* Splits skb so that it holds len bytes (the rest goes into a new skb after it). 0 or -ENOMEM. */
int tcp_fragment(struct sock *sk, struct sk_buff *skb, uint32_t len, unsigned mss_now);
/* Drops len bytes from the front of a partially acked skb. */
void tcp_trim_head(struct sock *sk, struct sk_buff *skb, uint32_t len);
/* Frees an acknowledged (or purged) write-queue skb and its charge. */
void tcp_wmem_free_skb(struct sock *sk, struct sk_buff *skb);
void tcp_write_queue_purge(struct sock *sk);
void tcp_check_probe_timer(struct sock *sk);
enum { TCP_NAGLE_OFF = 1, TCP_NAGLE_CORK = 2, TCP_NAGLE_PUSH = 4 };

/* ---- tcp_timer.c ---- */
void tcp_init_xmit_timers(struct sock *sk);
void tcp_clear_xmit_timers(struct sock *sk);
/* Arms the retransmit timer for what (ICSK_TIME_*) after when_us. */
void tcp_reset_xmit_timer(struct sock *sk, int what, uint64_t when_ns);
void tcp_rearm_rto(struct sock *sk);
void tcp_reset_keepalive_timer(struct sock *sk, uint64_t len_ns);
/* Arms TCP_TIMER_* `which` for absolute ns `when` / disarms it (either re-arms the one np_timer). */
void tcp_timer_set(struct sock *sk, int which, uint64_t when);
void tcp_timer_del(struct sock *sk, int which);
static inline int tcp_timer_armed(const struct tcp_sock *tp, int which) { return tp->timer_when[which] != TCP_TIMER_OFF; }
void tcp_delete_keepalive_timer(struct sock *sk);
uint64_t tcp_rto_ns(const struct tcp_sock *tp);   /* current RTO with backoff */
uint64_t tcp_probe0_when(const struct tcp_sock *tp);

/* ---- tcp_cong.c ---- */
extern const struct tcp_congestion_ops tcp_reno;
/* The congestion control called name (NULL if unknown). */
const struct tcp_congestion_ops *tcp_ca_find(const char *name);
void tcp_init_congestion_control(struct sock *sk);
void tcp_set_ca_state(struct sock *sk, uint8_t state);
uint32_t tcp_reno_ssthresh(struct tcp_sock *tp);
void tcp_reno_cong_avoid(struct tcp_sock *tp, uint32_t ack, uint32_t acked);
/* RFC 5681 slow start and additive increase helpers (Linux's tcp_slow_start / tcp_cong_avoid_ai). */
uint32_t tcp_slow_start(struct tcp_sock *tp, uint32_t acked);
void tcp_cong_avoid_ai(struct tcp_sock *tp, uint32_t w, uint32_t acked);
int tcp_is_cwnd_limited(const struct tcp_sock *tp);

/* Stack-wide sysctls in ns/us for the hot paths. */
uint32_t tcp_rto_min_us(const struct np_stack *s);
uint32_t tcp_rto_max_us(const struct np_stack *s);

#endif
