/*
 * libFuzzer target: sequences of BSD socket calls (include/netpath/socket.h)
 * on two stacks joined by the in-process cable, with virtual time, stack
 * polls and clock advances interleaved, so the socket layer (socket.c,
 * af_inet.c, sock.c), the TCP and UDP state machines and their timers see
 * calls in orders no test writes by hand.
 *   A 10.0.0.1/24 eth0 <==cable==> eth0 B 10.0.0.2/24   (each has lo too)
 * Input: records of 8 bytes [op, slot, a, b, c16, d16] (see the switch in
 * LLVMFuzzerTestOneInput); slot & 7 picks one of 8 descriptor slots, slot
 * bits 6-7 both set a stale, negative or non-socket descriptor instead.
 *   op % 20: 0 socket, 1 bind, 2 listen, 3 connect, 4 accept, 5 send,
 *   6 sendto, 7 recv, 8 recvfrom, 9 setsockopt, 10 getsockopt, 11 shutdown,
 *   12 close, 13 poll, 14 fcntl, 15 getsockname / getpeername, 16 advance
 *   the clock, 17 run one stack's softirq, 18 sendmsg / recvmsg, 19 jump to
 *   the next timer. Addresses come from a table (any, A, B, lo, broadcasts,
 *   multicast, a silent host) with fuzzed ports, families and lengths.
 *
 * Every call is checked: -1 comes with an errno the man page lists for that
 * call; a success value is sane (recv never returns more than asked, send
 * on UDP all or nothing, addrlen / optlen never grow past the buffer, poll
 * counts its revents); TCP byte streams arrive in order without loss or
 * duplication (each sender writes offset % 251, each receiver checks it);
 * UDP datagrams arrive whole or truncated, never altered; every IPv4 frame
 * the stacks exchange parses, has right checksums and no source port 0
 * (wire_check_rcv). Nothing may block:
 * sockets stay O_NONBLOCK, send/recv carry MSG_DONTWAIT, poll has timeout 0,
 * a lingering close is turned into an abortive or plain one, and a watchdog
 * thread aborts if one call runs longer than 5 s. At the end every socket is
 * closed, the clock runs until the timers are done, and neither stack may
 * hold a sock any more (sock_list empty); LeakSanitizer checks the rest.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/netdevice.h"
#include "core/skbuff.h"
#include "core/stack.h"
#include "netpath/netpath.h"
#include "netpath/socket.h"
#include "socket/sock.h"
#include "wire/eth.h"
#include "wire/ipv4.h"
#include "wire/tcp.h"
#include "wire/udp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NSLOT 8
#define MS 1000000ull
#define T0 (1000000ull * MS)
#define BUFMAX 65536

/* ---- the watchdog: a call that blocks is a failure, not a hang ------------------------- */

static _Atomic(const char *) wd_call;
static atomic_ulong wd_gen;

static void *watchdog(void *arg)
{
	(void)arg;
	unsigned long seen = 0;
	int ticks = 0;
	for (;;) {
		usleep(250000);
		const char *c = atomic_load(&wd_call);
		unsigned long g = atomic_load(&wd_gen);
		if (c && g == seen) {
			if (++ticks >= 20) {
				fprintf(stderr, "fuzz_socket_api: %s blocked for more than 5 s\n", c);
				abort();
			}
		} else {
			ticks = 0;
			seen = g;
		}
	}
	return NULL;
}

static void wd_enter(const char *call)
{
	atomic_fetch_add(&wd_gen, 1);
	atomic_store(&wd_call, call);
}

static void wd_leave(void)
{
	atomic_store(&wd_call, (const char *)NULL);
	atomic_fetch_add(&wd_gen, 1);
}

/* ---- errno checks ------------------------------------------------------------------------ */

#define FAIL(...)                                                         \
	do {                                                              \
		fprintf(stderr, "fuzz_socket_api: invariant broken: " __VA_ARGS__); \
		fputc('\n', stderr);                                      \
		abort();                                                  \
	} while (0)

/* Errors a socket may report on any data or connect call: sk_err set by a RST, a timeout or an ICMP error. */
#define ASYNC_ERRS ECONNREFUSED, ECONNRESET, ETIMEDOUT, EHOSTUNREACH, ENETUNREACH, ENOPROTOOPT, EMSGSIZE, \
	EOPNOTSUPP, EACCES, EHOSTDOWN, ENONET, EPROTO, EPIPE
static const int E_SOCKET[] = { EAFNOSUPPORT, EINVAL, EPROTONOSUPPORT, ESOCKTNOSUPPORT, EPROTOTYPE, EMFILE,
				ENFILE, ENOMEM, ENOBUFS, EACCES, 0 };
static const int E_BIND[] = { EBADF, ENOTSOCK, EINVAL, EADDRINUSE, EADDRNOTAVAIL, EAFNOSUPPORT, EACCES, EFAULT, 0 };
static const int E_LISTEN[] = { EBADF, ENOTSOCK, EOPNOTSUPP, EADDRINUSE, EINVAL, 0 };
static const int E_CONNECT[] = { EBADF, ENOTSOCK, EINVAL, EAFNOSUPPORT, EADDRNOTAVAIL, EADDRINUSE, EINPROGRESS,
				 EALREADY, EISCONN, EAGAIN, EPERM, EFAULT, ENETDOWN, ECONNABORTED, ASYNC_ERRS, 0 };
static const int E_ACCEPT[] = { EBADF, ENOTSOCK, EAGAIN, EINVAL, EOPNOTSUPP, ECONNABORTED, EMFILE, ENFILE, ENOMEM,
				ENOBUFS, EFAULT, EPROTO, EPERM, 0 };
static const int E_SEND[] = { EBADF, ENOTSOCK, EAGAIN, ENOTCONN, EDESTADDRREQ, EISCONN, EMSGSIZE, EINVAL,
			      EAFNOSUPPORT, ENOBUFS, ENOMEM, EFAULT, EADDRNOTAVAIL, EPERM, ENETDOWN, ASYNC_ERRS, 0 };
static const int E_RECV[] = { EBADF, ENOTSOCK, EAGAIN, ENOTCONN, EINVAL, EFAULT, ENOMEM, ASYNC_ERRS, 0 };
static const int E_SHUTDOWN[] = { EBADF, ENOTSOCK, EINVAL, ENOTCONN, 0 };
static const int E_CLOSE[] = { EBADF, 0 };
static const int E_NAME[] = { EBADF, ENOTSOCK, EFAULT, EINVAL, ENOBUFS, ENOTCONN, 0 };
static const int E_SETOPT[] = { EBADF, ENOTSOCK, EINVAL, ENOPROTOOPT, EFAULT, EDOM, EPERM, ENOENT, EOPNOTSUPP,
				EISCONN, EACCES, EBUSY, 0 };
static const int E_GETOPT[] = { EBADF, ENOTSOCK, EINVAL, ENOPROTOOPT, EFAULT, EOPNOTSUPP, ENOTCONN, 0 };
static const int E_FCNTL[] = { EBADF, ENOTSOCK, EINVAL, 0 };
static const int E_POLL[] = { EFAULT, EINVAL, ENOMEM, 0 };

/* Checks a -1 result: errno must be set, and one the call may return. */
static int trace_calls;   /* FUZZ_TRACE=1: print each call and its result; =2: packet paths too */

static void check_err(const char *call, long rc, int err, const int *allowed)
{
	if (trace_calls)
		fprintf(stderr, "  %-12s -> %ld%s%s\n", call, rc, rc < 0 ? " " : "", rc < 0 ? strerror(err) : "");
	if (rc >= 0)
		return;
	if (rc != -1)
		FAIL("%s returned %ld (only -1 signals an error)", call, rc);
	for (const int *e = allowed; *e; e++)
		if (*e == err)
			return;
	FAIL("%s failed with errno %d (%s), which it may not return", call, err, strerror(err));
}

/* ---- every IPv4 frame either stack receives must be well formed -------------------------- */

/*
 * A second ETH_P_IP handler on each stack: deliver_ptype hands it a clone of
 * every IPv4 frame that arrives (over the cable or lo), and since only the
 * two stacks send, that is everything they send. The header must parse with
 * a right checksum; a TCP or UDP datagram (first fragment) must carry a
 * right checksum unless the device left it to hardware, and a source port:
 * port 0 is only ever a destination (connect() to port 0 is allowed, as on
 * Linux), so the one segment that may come from port 0 is the RST answering
 * a segment sent to it. Consumes skb.
 */
static int wire_check_rcv(struct sk_buff *skb, struct net_device *dev, struct packet_type *pt)
{
	(void)dev;
	uint8_t *to_port0 = pt->priv;   /* bitmap: source ports that sent TCP to port 0 */
	struct ipv4_repr ip;
	const uint8_t *b = skb->data;
	if (ipv4_parse(b, skb->len, &ip) != 0 || !ipv4_csum_ok(b, ip.ihl))
		FAIL("a stack sent an IPv4 header that does not parse or verify (%u bytes)", skb->len);
	int partial = skb->ip_summed == CHECKSUM_PARTIAL || skb->ip_summed == CHECKSUM_UNNECESSARY;
	if (!(ip.frag_off & (IP_MF | IP_OFFSET)) && ip.tot_len <= skb->len) {
		const uint8_t *l4 = b + ip.ihl;
		size_t l4len = ip.tot_len - ip.ihl;
		if (ip.protocol == IPPROTO_TCP_) {
			struct tcp_repr th;
			if (tcp_parse(l4, l4len, &th) != 0)
				FAIL("a stack sent a TCP header that does not parse");
			if (!th.dport)
				to_port0[th.sport >> 3] |= (uint8_t)(1u << (th.sport & 7));
			if (!th.sport && !((th.flags & TCPF_RST) && (to_port0[th.dport >> 3] & (1u << (th.dport & 7)))))
				FAIL("a stack sent TCP %u > %u flags %#x from port 0 (only a RST to a segment sent to "
				     "port 0 may)", th.sport, th.dport, th.flags);
			if (!partial && !tcp_csum_ok(l4, l4len, ip.saddr, ip.daddr))
				FAIL("a stack sent TCP %u > %u with a wrong checksum", th.sport, th.dport);
		} else if (ip.protocol == IPPROTO_UDP_) {
			struct udp_repr uh;
			if (udp_parse(l4, l4len, &uh) != 0)
				FAIL("a stack sent a UDP header that does not parse");
			if (!uh.sport)
				FAIL("a stack sent UDP %u > %u from port 0", uh.sport, uh.dport);
			if (!partial && !udp_csum_ok(l4, &uh, ip.saddr, ip.daddr))
				FAIL("a stack sent UDP %u > %u with a wrong checksum", uh.sport, uh.dport);
		}
	}
	consume_skb(skb);
	return 0;
}

/* ---- the world ----------------------------------------------------------------------- */

struct slot {
	int fd;            /* -1: empty */
	int st;            /* stack index */
	int type;          /* SOCK_STREAM / SOCK_DGRAM */
	uint64_t tx_off;   /* TCP: bytes this socket's send accepted on the current connection */
	uint64_t rx_off;   /* TCP: bytes received on the current connection */
	int connected_once;
};

struct world {
	struct np_clock *clk;
	struct np_stack *s[2];
	struct np_dev *d[2];
	uint64_t now;
	struct slot sl[NSLOT];
	struct packet_type tap[2];
	uint8_t to_port0[65536 / 8];   /* wire_check_rcv's bitmap */
	int oob_used;      /* MSG_OOB takes a byte out of the stream: the order check stops */
	int stale_fd;      /* the number of the last descriptor closed */
};

static const uint32_t ips[8] = {
	0,                      /* INADDR_ANY */
	0x0a000001,             /* A */
	0x0a000002,             /* B */
	0x7f000001,             /* loopback */
	0x0a0000ff,             /* subnet broadcast */
	0xe0000001,             /* multicast */
	0xffffffff,             /* limited broadcast */
	0x0a000003,             /* on the subnet, nobody answers ARP */
};
static const uint16_t ports[4] = { 0, 80, 81, 0 };
static const int families[4] = { AF_INET, AF_INET, AF_UNSPEC, AF_INET6 };
static const socklen_t addrlens[8] = { sizeof(struct sockaddr_in), sizeof(struct sockaddr_in), 0, 2, 8, 15, 28, 128 };

/*
 * An address built from a selector byte (ip, port, family) and a port, in a
 * heap buffer exactly *len bytes long so ASan sees any read past it.
 */
static struct sockaddr *mkaddr(uint8_t sel, uint8_t lensel, uint16_t port, socklen_t *len)
{
	struct sockaddr_in sin;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = (sa_family_t)families[(sel >> 5) & 3];
	sin.sin_addr.s_addr = htonl(ips[sel & 7]);
	uint16_t p = ports[(sel >> 3) & 3];
	sin.sin_port = htons(((sel >> 3) & 3) == 3 ? port : p);
	*len = addrlens[lensel & 7];
	uint8_t *b = malloc(*len ? *len : 1);
	memset(b, 0xa5, *len ? *len : 1);
	memcpy(b, &sin, *len < sizeof(sin) ? *len : sizeof(sin));
	return (struct sockaddr *)(void *)b;
}

static void poll_stack(struct world *w, int i)
{
	for (int k = 0; k < 64 && np_stack_poll(w->s[i]) > 0; k++)
		;
}

static void advance(struct world *w, uint64_t ns)
{
	w->now += ns;
	np_sim_run(w->s, 2, w->clk, w->now);
}

static struct slot *slot_of(struct world *w, uint8_t b) { return &w->sl[b & (NSLOT - 1)]; }

static int free_slot(struct world *w)
{
	for (int i = 0; i < NSLOT; i++)
		if (w->sl[i].fd < 0)
			return i;
	return -1;
}

/* The descriptor a record names: usually its slot's, sometimes a stale or foreign one. */
static int pick_fd(struct world *w, uint8_t b)
{
	switch (b >> 6) {
	case 3:
		return (b & 8) ? w->stale_fd : ((b & 16) ? 0 : -1);
	default:
		return slot_of(w, b)->fd;
	}
}

/* Which slot holds fd (-1 if none). */
static struct slot *slot_by_fd(struct world *w, int fd)
{
	if (fd < 0)
		return NULL;
	for (int i = 0; i < NSLOT; i++)
		if (w->sl[i].fd == fd)
			return &w->sl[i];
	return NULL;
}

/* The pattern of a TCP stream (offset % 251) and of a UDP datagram (length, then i*13+len). */
static void fill_stream(uint8_t *b, size_t n, uint64_t off)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)((off + i) % 251);
}

static void fill_dgram(uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)(i * 13 + n);
	if (n >= 2) {
		b[0] = (uint8_t)(n >> 8);
		b[1] = (uint8_t)n;
	}
}

/* Checks what a recv returned; advances the stream offset unless peeking. */
static void check_received(struct world *w, struct slot *sl, const uint8_t *b, size_t asked, long n, int flags,
			   int msg_flags)
{
	if (n < 0)
		return;
	if (sl->type == SOCK_STREAM) {
		if ((size_t)n > asked)
			FAIL("TCP recv returned %ld bytes, more than the %zu asked", n, asked);
		if (flags & MSG_OOB)
			return;
		if (!w->oob_used && !(flags & MSG_TRUNC))
			for (long i = 0; i < n; i++)
				if (b[i] != (uint8_t)((sl->rx_off + (uint64_t)i) % 251))
					FAIL("TCP stream byte %llu is %u, expected %u (lost, duplicated or reordered data)",
					     (unsigned long long)(sl->rx_off + (uint64_t)i), b[i],
					     (unsigned)((sl->rx_off + (uint64_t)i) % 251));
		if (!(flags & MSG_PEEK))
			sl->rx_off += (uint64_t)n;
		return;
	}
	if (n > 65535)
		FAIL("UDP recv returned %ld, more than a datagram can hold", n);
	if ((size_t)n > asked && !(flags & MSG_TRUNC))
		FAIL("UDP recv returned %ld bytes, more than the %zu asked (no MSG_TRUNC)", n, asked);
	size_t got = (size_t)n < asked ? (size_t)n : asked;
	if (flags & (MSG_ERRQUEUE | MSG_OOB))
		return;
	if (got >= 2) {
		size_t dl = ((size_t)b[0] << 8) | b[1];
		if ((size_t)n > dl)
			FAIL("UDP datagram of %zu bytes came back as %ld", dl, n);
		if ((flags & MSG_TRUNC) && (size_t)n != dl)
			FAIL("recv(MSG_TRUNC) returned %ld for a datagram of %zu bytes", n, dl);
		if (!(flags & MSG_TRUNC) && dl > asked && (size_t)n != asked)
			FAIL("a %zu-byte datagram into %zu bytes returned %ld", dl, asked, n);
		if (msg_flags >= 0 && (dl > asked) != !!(msg_flags & MSG_TRUNC))
			FAIL("msg_flags MSG_TRUNC is %d for a %zu-byte datagram into %zu", !!(msg_flags & MSG_TRUNC), dl,
			     asked);
		for (size_t i = 2; i < got; i++)
			if (b[i] != (uint8_t)(i * 13 + dl))
				FAIL("UDP datagram byte %zu altered", i);
	}
}

/* Closes a slot; a lingering close (which would wait) becomes abortive or plain first. */
static void close_slot(struct world *w, struct slot *sl, int abortive)
{
	if (sl->fd < 0)
		return;
	struct linger l;
	socklen_t ll = sizeof(l);
	if (np_getsockopt(sl->fd, SOL_SOCKET, SO_LINGER, &l, &ll) == 0 && l.l_onoff && l.l_linger > 0) {
		struct linger nl = { .l_onoff = abortive, .l_linger = 0 };
		if (np_setsockopt(sl->fd, SOL_SOCKET, SO_LINGER, &nl, sizeof(nl)) != 0)
			FAIL("SO_LINGER cannot be changed on fd %d", sl->fd);
	}
	wd_enter("close");
	errno = 0;
	int rc = np_close(sl->fd);
	int e = errno;
	wd_leave();
	if (rc != 0)
		FAIL("close of a live socket failed: errno %d", e);
	w->stale_fd = sl->fd;
	sl->fd = -1;
}

static void new_slot(struct world *w, struct slot *sl, int fd, int st, int type)
{
	(void)w;
	*sl = (struct slot){ .fd = fd, .st = st, .type = type };
}

/* ---- setsockopt / getsockopt names ------------------------------------------------------ */

static const int levels[8] = { SOL_SOCKET, SOL_SOCKET, IPPROTO_IP, IPPROTO_TCP, IPPROTO_TCP, IPPROTO_UDP, -1, 0 };
static const int sol_names[] = { SO_REUSEADDR, SO_REUSEPORT, SO_BROADCAST, SO_KEEPALIVE, SO_OOBINLINE, SO_TIMESTAMP,
				 SO_RCVBUF, SO_SNDBUF, SO_TYPE, SO_ERROR, SO_PROTOCOL, SO_DOMAIN, SO_ACCEPTCONN,
				 SO_RCVTIMEO, SO_SNDTIMEO, SO_LINGER };
static const int ip_names[] = { IP_TTL, IP_TOS, IP_RECVERR, IP_MTU_DISCOVER, IP_MTU, IP_OPTIONS, IP_PKTINFO,
				IP_MULTICAST_TTL };
static const int tcp_names[] = { TCP_NODELAY, TCP_CORK, TCP_MAXSEG, TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT,
				 TCP_USER_TIMEOUT, TCP_LINGER2, TCP_QUICKACK, TCP_CONGESTION, TCP_INFO,
				 TCP_DEFER_ACCEPT, TCP_SYNCNT, TCP_WINDOW_CLAMP };
static const socklen_t optlens[8] = { sizeof(int), sizeof(int), 0, 1, 2, 8, 16, 104 };

static void opt_pick(uint8_t a, uint8_t b, int *level, int *name)
{
	*level = levels[a & 7];
	if (a & 0x80) {
		*name = b;   /* any number */
		return;
	}
	switch (*level) {
	case SOL_SOCKET: *name = sol_names[b % (sizeof(sol_names) / sizeof(sol_names[0]))]; break;
	case IPPROTO_IP: *name = ip_names[b % (sizeof(ip_names) / sizeof(ip_names[0]))]; break;
	case IPPROTO_TCP: *name = tcp_names[b % (sizeof(tcp_names) / sizeof(tcp_names[0]))]; break;
	default: *name = b; break;
	}
}

/* ---- the calls -------------------------------------------------------------------------- */

static uint8_t txbuf[BUFMAX];

static void do_send(struct world *w, const uint8_t *r, int with_addr, int use_msg)
{
	int fd = pick_fd(w, r[1]);
	struct slot *sl = slot_by_fd(w, fd);
	size_t len = ((size_t)r[4] << 8 | r[5]) & 0x7fff;
	if (r[2] & 0x80)
		len *= 2;   /* up to 64 KiB, past a UDP datagram's limit */
	if (len > BUFMAX)
		len = BUFMAX;
	int flags = MSG_DONTWAIT | MSG_NOSIGNAL;
	if (r[2] & 1)
		flags |= MSG_MORE;
	if ((r[2] & 6) == 6)
		flags |= MSG_OOB;
	if (r[2] & 8)
		flags |= MSG_CONFIRM;
	if ((r[2] & 0x30) == 0x30)
		flags |= MSG_PEEK;   /* not a send flag: must be refused or ignored */
	if ((r[2] & 0x70) == 0x40)
		flags |= MSG_EOR;
	int dgram = sl && sl->type == SOCK_DGRAM;
	if (dgram)
		fill_dgram(txbuf, len);
	else
		fill_stream(txbuf, len, sl ? sl->tx_off : 0);
	socklen_t alen = 0;
	struct sockaddr *a = with_addr ? mkaddr(r[3], r[6], (uint16_t)(80 + (r[7] & 3)), &alen) : NULL;
	ssize_t n;
	errno = 0;
	if (use_msg) {
		/* Split the data over up to 4 iovecs. */
		struct iovec iov[4];
		int cnt = 1 + (r[6] >> 6);
		size_t left = len, off = 0;
		for (int i = 0; i < cnt; i++) {
			size_t part = i == cnt - 1 ? left : left / 2;
			iov[i].iov_base = txbuf + off;
			iov[i].iov_len = part;
			off += part;
			left -= part;
		}
		struct msghdr m = { .msg_name = a, .msg_namelen = a ? alen : 0, .msg_iov = iov, .msg_iovlen = (size_t)cnt };
		wd_enter("sendmsg");
		n = np_sendmsg(fd, &m, flags);
	} else {
		wd_enter(with_addr ? "sendto" : "send");
		n = with_addr ? np_sendto(fd, txbuf, len, flags, a, alen) : np_send(fd, txbuf, len, flags);
	}
	int e = errno;
	wd_leave();
	free(a);
	check_err("send", n, e, E_SEND);
	if (n < 0)
		return;
	if ((size_t)n > len)
		FAIL("send of %zu bytes returned %zd", len, n);
	if (dgram && (size_t)n != len)
		FAIL("UDP send of %zu bytes returned %zd (a datagram goes whole or not at all)", len, n);
	if (flags & MSG_OOB)
		w->oob_used = 1;
	if (sl && !dgram)
		sl->tx_off += (uint64_t)n;
}

static void do_recv(struct world *w, const uint8_t *r, int with_addr, int use_msg)
{
	int fd = pick_fd(w, r[1]);
	struct slot *sl = slot_by_fd(w, fd);
	size_t len = ((size_t)r[4] << 8 | r[5]) % (BUFMAX + 1);
	int flags = MSG_DONTWAIT;
	if (r[2] & 1)
		flags |= MSG_PEEK;
	if (r[2] & 2)
		flags |= MSG_TRUNC;
	if (r[2] & 4)
		flags |= MSG_WAITALL;
	if ((r[2] & 0x18) == 0x18)
		flags |= MSG_OOB;
	if ((r[2] & 0x60) == 0x60)
		flags |= MSG_ERRQUEUE;
	/* An exact-size heap buffer: ASan sees any write past what was asked. */
	uint8_t *b = malloc(len ? len : 1);
	struct sockaddr_in from;
	socklen_t flen = (socklen_t)addrlens[r[3] & 7];
	socklen_t fin = flen;
	uint8_t *fbuf = with_addr ? malloc(flen ? flen : 1) : NULL;
	int msg_flags = -1;
	ssize_t n;
	errno = 0;
	if (use_msg) {
		struct iovec iov[2] = { { .iov_base = b, .iov_len = len / 2 }, { .iov_base = b + len / 2, .iov_len = len - len / 2 } };
		size_t clen = (size_t)(r[6] & 0x7f);
		uint8_t *cbuf = clen ? malloc(clen) : NULL;
		struct msghdr m = { .msg_name = fbuf, .msg_namelen = fbuf ? flen : 0, .msg_iov = iov, .msg_iovlen = 2,
				    .msg_control = cbuf, .msg_controllen = clen };
		wd_enter("recvmsg");
		n = np_recvmsg(fd, &m, flags);
		int e = errno;
		wd_leave();
		errno = e;
		if (n >= 0) {
			if (m.msg_controllen > clen)
				FAIL("recvmsg grew msg_controllen from %zu to %zu", clen, (size_t)m.msg_controllen);
			if (fbuf && m.msg_namelen != 0 && m.msg_namelen != sizeof(struct sockaddr_in))
				FAIL("recvmsg msg_namelen %u", (unsigned)m.msg_namelen);
			msg_flags = m.msg_flags;
		}
		free(cbuf);
	} else if (with_addr) {
		wd_enter("recvfrom");
		n = np_recvfrom(fd, b, len, flags, (struct sockaddr *)(void *)fbuf, (r[3] & 0x80) ? NULL : &flen);
	} else {
		wd_enter("recv");
		n = np_recv(fd, b, len, flags);
	}
	int e = errno;
	wd_leave();
	check_err("recv", n, e, E_RECV);
	if (n >= 0 && with_addr && !use_msg && !(r[3] & 0x80)) {
		if (flen != 0 && flen != sizeof(struct sockaddr_in))
			FAIL("recvfrom addrlen %u (in %u)", (unsigned)flen, (unsigned)fin);
		if (flen && fin >= sizeof(from)) {
			memcpy(&from, fbuf, sizeof(from));
			if (from.sin_family != AF_INET)
				FAIL("recvfrom address family %u", from.sin_family);
		}
	}
	if (sl)
		check_received(w, sl, b, len, n, flags, msg_flags);
	else if (n >= 0 && (size_t)n > len && !(flags & MSG_TRUNC))
		FAIL("recv returned %zd, more than the %zu asked", n, len);
	free(b);
	free(fbuf);
}

static void do_sockopt(struct world *w, const uint8_t *r, int set)
{
	int fd = pick_fd(w, r[1]);
	int level, name;
	opt_pick(r[2], r[3], &level, &name);
	socklen_t len = (r[6] & 0x80) ? (socklen_t)(r[6] & 0x7f) : optlens[r[6] & 7];
	if (set) {
		if (level == SOL_SOCKET && name == SO_LINGER && len >= sizeof(struct linger)) {
			/* Allowed, but close_slot will turn a lingering close into a non-blocking one. */
		}
		uint8_t *v = malloc(len ? len : 1);
		for (socklen_t i = 0; i < len; i++)
			v[i] = (uint8_t)(i < 2 ? r[4 + i] : (i < 4 ? r[6 + i - 2] : 0));
		if (len >= 4 && (r[7] & 0x80)) {
			int x = (int8_t)r[5];   /* small, possibly negative ints */
			memcpy(v, &x, sizeof(x));
		}
		if (level == IPPROTO_TCP && name == TCP_CONGESTION) {
			static const char *cc[] = { "reno", "cubic", "bbr", "" };
			const char *c = cc[r[4] & 3];
			memcpy(v, c, strlen(c) < len ? strlen(c) : len);
		}
		errno = 0;
		wd_enter("setsockopt");
		int rc = np_setsockopt(fd, level, name, (r[7] & 0x40) ? NULL : v, len);
		int e = errno;
		wd_leave();
		free(v);
		check_err("setsockopt", rc, e, E_SETOPT);
		if (rc > 0)
			FAIL("setsockopt returned %d", rc);
	} else {
		int neg = (r[7] & 0xc0) == 0xc0;
		socklen_t in = neg ? (socklen_t)-1 : len;
		size_t cap = neg ? 64 : len;
		uint8_t *v = malloc(cap ? cap : 1);
		socklen_t out = in;
		errno = 0;
		wd_enter("getsockopt");
		int rc = np_getsockopt(fd, level, name, v, &out);
		int e = errno;
		wd_leave();
		check_err("getsockopt", rc, e, E_GETOPT);
		if (rc > 0)
			FAIL("getsockopt returned %d", rc);
		if (rc == 0 && !neg && out > in)
			FAIL("getsockopt(%d, %d) grew optlen from %u to %u", level, name, (unsigned)in, (unsigned)out);
		if (rc == 0 && level == SOL_SOCKET && name == SO_ERROR && out >= sizeof(int)) {
			int x;
			memcpy(&x, v, sizeof(x));
			if (x < 0 || x > 200)
				FAIL("SO_ERROR %d", x);
		}
		free(v);
	}
}

static void do_poll(struct world *w, const uint8_t *r)
{
	struct pollfd p[NSLOT + 2];
	nfds_t n = 0;
	for (int i = 0; i < NSLOT; i++)
		if (r[2] & (1u << i))
			p[n++] = (struct pollfd){ .fd = w->sl[i].fd, .events = (short)((r[4] << 8) | r[5]) };
	if (r[3] & 1)
		p[n++] = (struct pollfd){ .fd = -1, .events = POLLIN };
	if (r[3] & 2)
		p[n++] = (struct pollfd){ .fd = w->stale_fd, .events = POLLIN | POLLOUT };
	errno = 0;
	wd_enter("poll");
	int rc = np_poll(p, n, 0);
	int e = errno;
	wd_leave();
	check_err("poll", rc, e, E_POLL);
	if (rc < 0)
		return;
	int cnt = 0;
	for (nfds_t i = 0; i < n; i++) {
		if (p[i].fd < 0 && p[i].revents)
			FAIL("poll set revents %#x on a negative fd", p[i].revents);
		if (p[i].revents & ~(p[i].events | POLLERR | POLLHUP | POLLNVAL))
			FAIL("poll revents %#x outside events %#x", p[i].revents, p[i].events);
		if (p[i].revents)
			cnt++;
	}
	if (rc != cnt)
		FAIL("poll returned %d but %d entries have revents", rc, cnt);
}

static void do_name(struct world *w, const uint8_t *r)
{
	int fd = pick_fd(w, r[1]);
	int peer = r[2] & 1;
	socklen_t len = addrlens[r[3] & 7], in = len;
	uint8_t *b = malloc(len ? len : 1);
	errno = 0;
	wd_enter("getsockname");
	int rc = (r[2] & 2) ? (peer ? np_getpeername(fd, NULL, &len) : np_getsockname(fd, (struct sockaddr *)(void *)b, NULL))
			    : (peer ? np_getpeername(fd, (struct sockaddr *)(void *)b, &len)
				    : np_getsockname(fd, (struct sockaddr *)(void *)b, &len));
	int e = errno;
	wd_leave();
	check_err(peer ? "getpeername" : "getsockname", rc, e, E_NAME);
	if (rc > 0)
		FAIL("getsockname returned %d", rc);
	if (rc == 0) {
		if (len != sizeof(struct sockaddr_in))
			FAIL("get%sname addrlen %u (in %u)", peer ? "peer" : "sock", (unsigned)len, (unsigned)in);
		if (in >= 2) {
			sa_family_t fam;
			memcpy(&fam, b, sizeof(fam));
			if (fam != AF_INET)
				FAIL("get%sname family %u", peer ? "peer" : "sock", fam);
		}
	}
	free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int wd_started;
	if (!wd_started) {
		pthread_t t;
		if (pthread_create(&t, NULL, watchdog, NULL) != 0)
			abort();
		pthread_detach(t);
		wd_started = 1;
		trace_calls = getenv("FUZZ_TRACE") != NULL;
	}
	struct world w;
	memset(&w, 0, sizeof(w));
	w.stale_fd = -1;
	for (int i = 0; i < NSLOT; i++)
		w.sl[i].fd = -1;
	w.clk = np_clock_virtual(T0);
	w.now = T0;
	for (int i = 0; i < 2; i++) {
		struct np_stack_config cfg = { .name = i ? "B" : "A", .clock = w.clk, .seed = (uint64_t)i + 1 };
		w.s[i] = np_stack_create(&cfg);
		if (!w.s[i])
			abort();
	}
	for (int i = 0; i < 2; i++) {
		w.tap[i] = (struct packet_type){ .type = ETH_P_IP, .func = wire_check_rcv, .priv = w.to_port0 };
		dev_add_pack(w.s[i], &w.tap[i]);
	}
	if (trace_calls && getenv("FUZZ_TRACE")[0] == '2')
		for (int i = 0; i < 2; i++)
			np_stack_trace(w.s[i], NP_TRACE_PATHS, stderr);
	if (np_cable_create(w.s[0], "eth0", w.s[1], "eth0", &w.d[0], &w.d[1]) || np_addr_add(w.d[0], "10.0.0.1/24") ||
	    np_addr_add(w.d[1], "10.0.0.2/24"))
		abort();

	for (size_t off = 0; off + 8 <= size; off += 8) {
		const uint8_t *r = data + off;
		struct slot *sl = slot_of(&w, r[1]);
		int fd = pick_fd(&w, r[1]);
		int rc, e;
		switch (r[0] % 20) {
		case 0: { /* socket(stack, type, protocol) into the slot */
			static const int protos[4] = { 0, IPPROTO_TCP, IPPROTO_UDP, 0 };
			int type = (r[2] & 1) ? SOCK_DGRAM : SOCK_STREAM;
			if ((r[2] & 6) == 6)
				type = (r[2] & 8) ? SOCK_RAW : SOCK_SEQPACKET;
			int proto = (r[3] & 4) ? (int)r[4] : protos[r[3] & 3];
			int domain = (r[3] & 0x80) ? AF_INET6 : AF_INET;
			close_slot(&w, sl, 0);
			errno = 0;
			wd_enter("socket");
			rc = np_socket(w.s[r[2] >> 7], domain, type | SOCK_NONBLOCK, proto);
			e = errno;
			wd_leave();
			check_err("socket", rc, e, E_SOCKET);
			if (rc >= 0) {
				if (!np_is_socket(rc))
					FAIL("socket returned %d, which is not a socket", rc);
				new_slot(&w, sl, rc, r[2] >> 7, type);
			}
			break;
		}
		case 1: { /* bind */
			socklen_t alen;
			struct sockaddr *a = mkaddr(r[2], r[3], (uint16_t)((r[4] << 8) | r[5]), &alen);
			errno = 0;
			wd_enter("bind");
			rc = np_bind(fd, (r[6] & 0x80) ? NULL : a, alen);
			e = errno;
			wd_leave();
			free(a);
			check_err("bind", rc, e, E_BIND);
			if (rc > 0)
				FAIL("bind returned %d", rc);
			break;
		}
		case 2: /* listen */
			errno = 0;
			wd_enter("listen");
			rc = np_listen(fd, (r[2] & 0x80) ? (int)(int8_t)r[3] : (int)r[3] % 8);
			e = errno;
			wd_leave();
			check_err("listen", rc, e, E_LISTEN);
			if (rc > 0)
				FAIL("listen returned %d", rc);
			break;
		case 3: { /* connect */
			socklen_t alen;
			struct sockaddr *a = mkaddr(r[2], r[3], (uint16_t)((r[4] << 8) | r[5]), &alen);
			errno = 0;
			wd_enter("connect");
			rc = np_connect(fd, a, alen);
			e = errno;
			wd_leave();
			int unspec = alen >= 2 && ((struct sockaddr_in *)(void *)a)->sin_family == AF_UNSPEC;
			free(a);
			check_err("connect", rc, e, E_CONNECT);
			if (rc > 0)
				FAIL("connect returned %d", rc);
			struct slot *cs = slot_by_fd(&w, fd);
			/* A new connection (or a disconnect) starts both byte streams of this socket again. */
			if (cs && (unspec ? rc == 0 : ((rc == -1 && e == EINPROGRESS) || (rc == 0 && !cs->connected_once)))) {
				cs->tx_off = cs->rx_off = 0;
				cs->connected_once = !unspec;
			}
			break;
		}
		case 4: { /* accept */
			int want_addr = r[2] & 1;
			struct sockaddr_in peer;
			socklen_t plen = addrlens[r[3] & 7], pin = plen;
			uint8_t *pb = want_addr ? malloc(plen ? plen : 1) : NULL;
			errno = 0;
			wd_enter("accept");
			rc = np_accept(fd, (struct sockaddr *)(void *)pb, want_addr ? &plen : NULL);
			e = errno;
			wd_leave();
			check_err("accept", rc, e, E_ACCEPT);
			if (rc >= 0) {
				if (want_addr && plen != sizeof(struct sockaddr_in))
					FAIL("accept addrlen %u (in %u)", (unsigned)plen, (unsigned)pin);
				if (want_addr && pin >= sizeof(peer)) {
					memcpy(&peer, pb, sizeof(peer));
					if (peer.sin_family != AF_INET)
						FAIL("accept address family %u", peer.sin_family);
				}
				/* accept does not inherit O_NONBLOCK: set it before anything can block. */
				if (np_fcntl(rc, F_SETFL, O_NONBLOCK) != 0)
					FAIL("F_SETFL on an accepted socket failed");
				struct slot *ls = slot_by_fd(&w, fd);
				int i = free_slot(&w);
				if (i < 0) {
					struct slot tmp;
					new_slot(&w, &tmp, rc, ls ? ls->st : 0, SOCK_STREAM);
					close_slot(&w, &tmp, r[2] & 2);
				} else {
					new_slot(&w, &w.sl[i], rc, ls ? ls->st : 0, SOCK_STREAM);
				}
			}
			free(pb);
			break;
		}
		case 5: do_send(&w, r, 0, 0); break;
		case 6: do_send(&w, r, 1, 0); break;
		case 7: do_recv(&w, r, 0, 0); break;
		case 8: do_recv(&w, r, 1, 0); break;
		case 9: do_sockopt(&w, r, 1); break;
		case 10: do_sockopt(&w, r, 0); break;
		case 11: { /* shutdown */
			int how = (r[2] & 0x80) ? (int)(int8_t)r[3] : r[3] % 3;
			errno = 0;
			wd_enter("shutdown");
			rc = np_shutdown(fd, how);
			e = errno;
			wd_leave();
			check_err("shutdown", rc, e, E_SHUTDOWN);
			if (rc > 0)
				FAIL("shutdown returned %d", rc);
			break;
		}
		case 12: /* close */
			if (slot_by_fd(&w, fd)) {
				close_slot(&w, slot_by_fd(&w, fd), r[2] & 1);
			} else {
				errno = 0;
				wd_enter("close");
				rc = np_close(fd);
				e = errno;
				wd_leave();
				check_err("close", rc, e, E_CLOSE);
				if (rc == 0)
					FAIL("close of fd %d, which holds no socket of ours, succeeded", fd);
			}
			break;
		case 13: do_poll(&w, r); break;
		case 14: { /* fcntl */
			static const int cmds[4] = { F_GETFL, F_SETFL, F_GETFD, F_SETFD };
			int cmd = (r[2] & 0x80) ? (int)r[3] : cmds[r[2] & 3];
			errno = 0;
			wd_enter("fcntl");
			/* O_NONBLOCK always stays on: a blocking socket could block this single thread. */
			rc = np_fcntl(fd, cmd, ((r[4] << 8) | r[5]) | O_NONBLOCK);
			e = errno;
			wd_leave();
			check_err("fcntl", rc, e, E_FCNTL);
			if (rc >= 0 && cmd == F_GETFL && !(rc & O_NONBLOCK))
				FAIL("F_GETFL lost O_NONBLOCK: %#x", rc);
			if (rc > 0 && (cmd == F_SETFL || cmd == F_SETFD))
				FAIL("fcntl set returned %d", rc);
			break;
		}
		case 15: do_name(&w, r); break;
		case 16: /* the clock: up to 65 s, or up to ~18 min in 16 s steps */
			advance(&w, (r[2] & 0x80) ? (uint64_t)((r[4] << 8) | r[5]) * 16 * MS
						  : (uint64_t)((r[4] << 8) | r[5]) * MS);
			break;
		case 17: /* one stack's softirq without time passing (packets in flight meet the next call) */
			poll_stack(&w, r[2] & 1);
			if (r[2] & 2)
				poll_stack(&w, !(r[2] & 1));
			break;
		case 18: if (r[2] & 1) do_recv(&w, r, 1, 1); else do_send(&w, r, (r[2] >> 1) & 1, 1); break;
		case 19: /* jump to the next timer of either stack */ {
			uint64_t t = np_stack_next_timer(w.s[0]), t2 = np_stack_next_timer(w.s[1]);
			if (t2 < t)
				t = t2;
			if (t != UINT64_MAX && t > w.now && t - w.now < 3600ull * 1000 * MS)
				advance(&w, t - w.now);
			break;
		}
		}
	}

	/* Close everything and let every timer run out: no sock may remain. */
	for (int i = 0; i < NSLOT; i++)
		close_slot(&w, &w.sl[i], 0);
	uint64_t closed_at = w.now;
	advance(&w, 1000);   /* the FINs and RSTs of the closes go out and arrive */
	for (int k = 0; k < 2000 && (w.s[0]->sock_list || w.s[1]->sock_list); k++) {
		uint64_t t = np_stack_next_timer(w.s[0]), t2 = np_stack_next_timer(w.s[1]);
		if (t2 < t)
			t = t2;
		if (t == UINT64_MAX || t - closed_at > 4 * 3600ull * 1000 * MS)
			break;
		advance(&w, t > w.now ? t - w.now : 1000);
	}
	if (trace_calls && (w.s[0]->sock_list || w.s[1]->sock_list))
		for (int i = 0; i < 2; i++)
			np_stack_print_counters(w.s[i], stderr);
	for (int i = 0; i < 2; i++)
		if (w.s[i]->sock_list)
			FAIL("stack %c still holds a sock (type %d, state %d, refcnt %d) after every socket was closed and 4 h of "
			     "timers ran",
			     'A' + i, w.s[i]->sock_list->sk_type, w.s[i]->sock_list->sk_state, w.s[i]->sock_list->sk_refcnt);
	for (int i = 0; i < 2; i++)
		dev_remove_pack(w.s[i], &w.tap[i]);
	np_stack_destroy(w.s[0]);
	np_stack_destroy(w.s[1]);
	np_clock_destroy(w.clk);
	return 0;
}
