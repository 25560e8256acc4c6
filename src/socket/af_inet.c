/*
 * AF_INET socket operations (Linux's net/ipv4/af_inet.c): the proto_ops
 * table of datagram sockets and the glue from the BSD calls to the
 * protocol (struct proto).
 *   np_sendmsg -> sock_sendmsg -> inet_sendmsg -> (autobind) -> udp_sendmsg
 *   np_recvmsg -> sock_recvmsg -> inet_recvmsg -> udp_recvmsg (sleeps on sk_wq)
 *   np_bind -> inet_bind -> get_port
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>

#include "core/stack.h"
#include "net/ipv4/route.h"
#include "net/tcp/tcp.h"
#include "net/udp/udp.h"
#include "socket/sock.h"
#include "wire/ipv4.h"

int inet_init(struct np_stack *s)
{
	int err = udp_init(s);
	return err ? err : tcp_init(s);
}

void inet_free(struct np_stack *s)
{
	tcp_free(s);
	udp_free(s);
}

static int inet_release(struct socket *sock)
{
	struct sock *sk = sock->sk;
	if (!sk)
		return 0;
	if (sk->sk_type == SOCK_STREAM) {
		/* tcp_close orphans the sock itself (FIN handshake, SO_LINGER) and wakes blocked threads. */
		sk->sk_prot->close(sk);
		sk->sk_socket = NULL;
		sock->sk = NULL;
		sock_put(sk);
		return 0;
	}
	sk->sk_flags |= SOCK_DEAD_;
	/* Threads still blocked on this socket wake up and see it shut down. */
	sk->sk_shutdown = RCV_SHUTDOWN | SEND_SHUTDOWN;
	wake_up_all(&sk->sk_wq);
	if (sk->sk_prot->close)
		sk->sk_prot->close(sk);
	sk->sk_socket = NULL;
	sock->sk = NULL;
	sock_put(sk);
	return 0;
}

static int check_sockaddr_in(const struct sockaddr *addr, socklen_t len, const struct sockaddr_in **sin)
{
	if (!addr || len < sizeof(struct sockaddr_in))
		return -EINVAL;
	*sin = (const struct sockaddr_in *)(const void *)addr;
	return 0;
}

static int inet_bind(struct socket *sock, const struct sockaddr *uaddr, socklen_t len)
{
	struct sock *sk = sock->sk;
	const struct sockaddr_in *sin;
	int rc = check_sockaddr_in(uaddr, len, &sin);
	if (rc)
		return rc;
	uint32_t addr = ntohl(sin->sin_addr.s_addr);
	/* inet_bind: AF_UNSPEC is tolerated only for INADDR_ANY (compatibility). */
	if (sin->sin_family != AF_INET && !(sin->sin_family == AF_UNSPEC && addr == 0))
		return -EAFNOSUPPORT;
	/* Linux's inet_addr_valid_or_nonlocal: ours, or a broadcast or multicast address. */
	if (addr && !inet_addr_is_local(sk->stack, addr) && !ipv4_is_lbcast(addr) && !ipv4_is_multicast(addr)) {
		const struct fib_route *r = fib_lookup(sk->stack, addr);
		if (!r || r->type != RTN_BROADCAST)
			return -EADDRNOTAVAIL;
	}
	if (sk->inet_num)
		return -EINVAL;
	sk->inet_rcv_saddr = addr;
	/* Broadcast and multicast binds receive on them but send from the route's source. */
	sk->inet_saddr = (ipv4_is_lbcast(addr) || ipv4_is_multicast(addr)) ? 0 : addr;
	rc = sk->sk_prot->get_port(sk, ntohs(sin->sin_port));
	if (rc) {
		sk->inet_rcv_saddr = sk->inet_saddr = 0;
		return rc;
	}
	return 0;
}

/* Binds an unbound socket to an ephemeral port (inet_autobind). */
static int inet_autobind(struct sock *sk)
{
	if (sk->inet_num)
		return 0;
	return sk->sk_prot->get_port(sk, 0);
}

static int inet_dgram_connect(struct socket *sock, const struct sockaddr *uaddr, socklen_t len, int flags)
{
	struct sock *sk = sock->sk;
	if (len < sizeof(uaddr->sa_family))
		return -EINVAL;
	if (uaddr->sa_family == AF_UNSPEC) {
		int rc = sk->sk_prot->disconnect ? sk->sk_prot->disconnect(sk, flags) : 0;
		sock->state = SS_UNCONNECTED;
		return rc;
	}
	int rc = sk->sk_prot->connect(sk, uaddr, len);
	if (rc == 0)
		sock->state = SS_CONNECTED;
	return rc;
}

static int inet_getname(struct socket *sock, struct sockaddr *uaddr, socklen_t *len, int peer)
{
	struct sock *sk = sock->sk;
	struct sockaddr_in sin;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	if (peer) {
		/* Linux's inet_getname: a stream socket not (yet) connected has no peer. */
		if (!sk->inet_dport ||
		    (sk->sk_type == SOCK_STREAM && (sk->sk_state == TCP_CLOSE || sk->sk_state == TCP_SYN_SENT)))
			return -ENOTCONN;
		sin.sin_port = htons(sk->inet_dport);
		sin.sin_addr.s_addr = htonl(sk->inet_daddr);
	} else {
		sin.sin_port = htons(sk->inet_num);
		sin.sin_addr.s_addr = htonl(sk->inet_rcv_saddr ? sk->inet_rcv_saddr : sk->inet_saddr);
	}
	if ((int)*len < 0)
		return -EINVAL;
	/* POSIX: the result is truncated to the buffer and *len says the real size. */
	memcpy(uaddr, &sin, *len < sizeof(sin) ? *len : sizeof(sin));
	*len = sizeof(sin);
	return 0;
}

static unsigned inet_poll(struct socket *sock)
{
	struct sock *sk = sock->sk;
	return sk->sk_prot->poll ? sk->sk_prot->poll(sk) : datagram_poll(sk);
}

static int inet_shutdown(struct socket *sock, int how)
{
	struct sock *sk = sock->sk;
	if (how < SHUT_RD || how > SHUT_RDWR)
		return -EINVAL;
	int mask = how + 1;   /* SHUT_RD -> RCV_SHUTDOWN, SHUT_WR -> SEND_SHUTDOWN, both */
	int rc = 0;
	if (sock->state == SS_CONNECTING) {
		if (sk->sk_state == TCP_SYN_SENT || sk->sk_state == TCP_SYN_RECV || sk->sk_state == TCP_CLOSE)
			sock->state = SS_DISCONNECTING;
		else
			sock->state = SS_CONNECTED;
	}
	if (sk->sk_type == SOCK_STREAM && (sk->sk_state == TCP_SYN_SENT ||
					   (sk->sk_state == TCP_LISTEN && (mask & RCV_SHUTDOWN)))) {
		/* Linux's inet_shutdown: a connection attempt or a listener is simply taken down. */
		sk->sk_shutdown |= mask;
		rc = sk->sk_prot->disconnect(sk, O_NONBLOCK);
		sock->state = rc ? SS_DISCONNECTING : SS_UNCONNECTED;
		sk_cb(sk)->sk_state_change(sk);
		return rc;
	}
	if (sk->sk_type == SOCK_STREAM && sk->sk_state == TCP_LISTEN) {
		sk_cb(sk)->sk_state_change(sk);
		return 0;
	}
	/* Linux sets the flags even on an unconnected datagram socket, so pollers wake. */
	if (sk->sk_state == TCP_CLOSE_)
		rc = -ENOTCONN;
	sk->sk_shutdown |= mask;
	if (sk->sk_prot->shutdown)
		sk->sk_prot->shutdown(sk, mask);
	sk_cb(sk)->sk_state_change(sk);
	return rc;
}

static int inet_setsockopt(struct socket *sock, int level, int optname, const void *optval, socklen_t optlen)
{
	struct sock *sk = sock->sk;
	if (level == SOL_SOCKET)
		return sock_setsockopt(sk, optname, optval, optlen);
	if (level == IPPROTO_IP) {
		int val = 0;
		if (optlen >= sizeof(int))
			memcpy(&val, optval, sizeof(int));
		else if (optlen >= 1)
			val = *(const unsigned char *)optval;
		else
			return -EINVAL;
		switch (optname) {
		case IP_TTL:
			/* ip(7): 1..255, or -1 for the route's default. */
			if (val == -1)
				val = 0;
			else if (val < 1 || val > 255)
				return -EINVAL;
			sk->uc_ttl = (uint8_t)val;
			return 0;
		case IP_TOS:
			sk->tos = (uint8_t)(val & ~3);   /* the ECN bits are not the user's */
			return 0;
		case IP_RECVERR:
			sk->recverr = !!val;
			return 0;
		case IP_MTU_DISCOVER:
			if (val < IP_PMTUDISC_DONT || val > IP_PMTUDISC_OMIT)
				return -EINVAL;
			sk->pmtudisc = (uint8_t)val;
			return 0;
		default:
			break;
		}
	}
	if (sk->sk_prot->setsockopt)
		return sk->sk_prot->setsockopt(sk, level, optname, optval, optlen);
	return -ENOPROTOOPT;
}

static int inet_getsockopt(struct socket *sock, int level, int optname, void *optval, socklen_t *optlen)
{
	struct sock *sk = sock->sk;
	if (level == SOL_SOCKET)
		return sock_getsockopt(sk, optname, optval, optlen);
	if (level == IPPROTO_IP) {
		int v;
		switch (optname) {
		case IP_TTL: v = sk->uc_ttl ? sk->uc_ttl : (int)sk->stack->sysctl.ip_default_ttl; break;
		case IP_TOS: v = sk->tos; break;
		case IP_RECVERR: v = sk->recverr; break;
		case IP_MTU_DISCOVER: v = sk->pmtudisc; break;
		default: v = -1; break;
		}
		if (v >= 0) {
			if ((int)*optlen < 0)
				return -EINVAL;
			socklen_t n = *optlen < sizeof(int) ? *optlen : sizeof(int);
			memcpy(optval, &v, n);
			*optlen = n;
			return 0;
		}
	}
	if (sk->sk_prot->getsockopt)
		return sk->sk_prot->getsockopt(sk, level, optname, optval, optlen);
	return -ENOPROTOOPT;
}

static ssize_t inet_sendmsg(struct socket *sock, const struct msghdr *msg, size_t len, int flags)
{
	struct sock *sk = sock->sk;
	if (sk->sk_shutdown & SEND_SHUTDOWN)
		return -EPIPE;
	int rc = inet_autobind(sk);
	if (rc)
		return rc == -EADDRINUSE ? -EAGAIN : rc;
	int nonblock = sock->nonblock || (flags & MSG_DONTWAIT);
	uint64_t deadline = sock_deadline(sk, sock_sndtimeo_ns(sk));
	for (;;) {
		lock_sock(sk);
		ssize_t n = sk->sk_prot->sendmsg(sk, msg, len, flags);
		release_sock(sk);
		if (n != -EAGAIN || nonblock)
			return n;
		/* Send buffer full: sleep until sk_write_space or SO_SNDTIMEO. */
		int w = sk_wait_event(sk, &sk->sk_wq, deadline);
		if (w == -ETIMEDOUT || w == -EDEADLK)
			return -EAGAIN;
	}
}

static ssize_t inet_recvmsg(struct socket *sock, struct msghdr *msg, size_t len, int flags)
{
	struct sock *sk = sock->sk;
	int nonblock = sock->nonblock || (flags & MSG_DONTWAIT);
	uint64_t deadline = sock_deadline(sk, sock_rcvtimeo_ns(sk));
	for (;;) {
		int err = sock_error(sk);
		if (err)
			return err;
		int addr_len = 0;
		lock_sock(sk);
		ssize_t n = sk->sk_prot->recvmsg(sk, msg, len, flags, &addr_len);
		release_sock(sk);
		/* MSG_ERRQUEUE never waits (Linux's ip_recv_error): an empty error queue is EAGAIN at once. */
		if (n != -EAGAIN || (flags & MSG_ERRQUEUE))
			return n;
		if (sk->sk_shutdown & RCV_SHUTDOWN) {
			msg->msg_namelen = 0;   /* end of file: no datagram, so no address (addrlen 0, as Linux) */
			return 0;
		}
		if (nonblock)
			return -EAGAIN;
		int w = sk_wait_event(sk, &sk->sk_wq, deadline);
		if (w == -ETIMEDOUT || w == -EDEADLK)
			return -EAGAIN;
	}
}

/* Stream send/receive: TCP waits (and gives up ownership while waiting) by itself. */
static ssize_t inet_stream_sendmsg(struct socket *sock, const struct msghdr *msg, size_t len, int flags)
{
	struct sock *sk = sock->sk;
	lock_sock(sk);
	ssize_t n = sk->sk_prot->sendmsg(sk, msg, len, flags);
	release_sock(sk);
	return n;
}

static ssize_t inet_stream_recvmsg(struct socket *sock, struct msghdr *msg, size_t len, int flags)
{
	struct sock *sk = sock->sk;
	int addr_len = 0;
	lock_sock(sk);
	ssize_t n = sk->sk_prot->recvmsg(sk, msg, len, flags, &addr_len);
	release_sock(sk);
	return n;
}

/*
 * Linux's __inet_stream_connect: EISCONN, EALREADY, EINPROGRESS for a
 * non-blocking socket (completion is reported by POLLOUT and SO_ERROR),
 * else wait up to SO_SNDTIMEO; a refused, reset or timed-out attempt
 * returns its error (ECONNREFUSED, ETIMEDOUT ...) once.
 */
static int inet_stream_connect(struct socket *sock, const struct sockaddr *uaddr, socklen_t len, int flags)
{
	struct sock *sk = sock->sk;
	int err;

	if (!uaddr || len < sizeof(uaddr->sa_family))
		return -EINVAL;
	if (uaddr->sa_family == AF_UNSPEC) {
		lock_sock(sk);
		err = sk->sk_prot->disconnect(sk, flags);
		release_sock(sk);
		sock->state = err ? SS_DISCONNECTING : SS_UNCONNECTED;
		return err;
	}
	switch (sock->state) {
	default:
		return -EINVAL;
	case SS_CONNECTED:
		return -EISCONN;
	case SS_CONNECTING:
		err = -EALREADY;
		break;
	case SS_UNCONNECTED:
		if (sk->sk_state != TCP_CLOSE)
			return -EISCONN;
		lock_sock(sk);
		err = sk->sk_prot->connect(sk, uaddr, len);
		release_sock(sk);
		if (err < 0)
			return err;
		sock->state = SS_CONNECTING;
		err = -EINPROGRESS;
		break;
	}
	int nonblock = (flags & O_NONBLOCK) || sock->nonblock;
	if (sk->sk_state == TCP_SYN_SENT || sk->sk_state == TCP_SYN_RECV) {
		if (nonblock)
			return err;
		uint64_t deadline = sock_deadline(sk, sock_sndtimeo_ns(sk));
		while (sk->sk_state == TCP_SYN_SENT || sk->sk_state == TCP_SYN_RECV) {
			int w = sk_wait_event(sk, &sk->sk_wq, deadline);
			if (w == -ETIMEDOUT || w == -EDEADLK)
				return -EINPROGRESS;
		}
	}
	if (sk->sk_state == TCP_CLOSE) {
		err = sock_error(sk);
		if (!err)
			err = -ECONNABORTED;
		sock->state = SS_UNCONNECTED;
		lock_sock(sk);
		if (sk->sk_prot->disconnect(sk, flags))
			sock->state = SS_DISCONNECTING;
		release_sock(sk);
		return err;
	}
	sock->state = SS_CONNECTED;
	return 0;
}

/* Linux's inet_listen. */
static int inet_listen(struct socket *sock, int backlog)
{
	struct sock *sk = sock->sk;
	if (sock->state != SS_UNCONNECTED || sock->type != SOCK_STREAM)
		return -EINVAL;
	if (sk->sk_state != TCP_CLOSE && sk->sk_state != TCP_LISTEN)
		return -EINVAL;
	lock_sock(sk);
	int err = tcp_listen_start(sk, backlog);
	release_sock(sk);
	return err;
}

/*
 * Linux's inet_accept: the next established connection, grafted onto
 * newsock (which does not inherit O_NONBLOCK, as Linux's accept). Blocks up
 * to SO_RCVTIMEO unless non-blocking (-EAGAIN).
 */
static int inet_accept(struct socket *sock, struct socket *newsock, int flags)
{
	struct sock *sk = sock->sk;
	int nonblock = sock->nonblock || (flags & O_NONBLOCK);
	uint64_t deadline = sock_deadline(sk, sock_rcvtimeo_ns(sk));
	if (!sk->sk_prot->accept)
		return -EOPNOTSUPP;
	for (;;) {
		int err = 0;
		lock_sock(sk);
		struct sock *child = sk->sk_prot->accept(sk, flags, &err);
		release_sock(sk);
		if (child) {
			child->sk_socket = newsock;
			newsock->sk = child;
			newsock->ops = sock->ops;
			newsock->type = sock->type;
			newsock->state = SS_CONNECTED;
			/* Data or a FIN may have arrived before anyone could be told: say so now. */
			sock_fd_sync(child);
			return 0;
		}
		if (err != -EAGAIN)
			return err;
		if (nonblock)
			return -EAGAIN;
		if (sk->sk_prot->poll(sk) & POLLIN)
			continue;
		int w = sk_wait_event(sk, &sk->sk_wq, deadline);
		if (w == -ETIMEDOUT || w == -EDEADLK)
			return -EAGAIN;
	}
}

const struct proto_ops inet_stream_ops = {
	.family = AF_INET,
	.release = inet_release,
	.bind = inet_bind,
	.connect = inet_stream_connect,
	.accept = inet_accept,
	.getname = inet_getname,
	.poll = inet_poll,
	.listen = inet_listen,
	.shutdown = inet_shutdown,
	.setsockopt = inet_setsockopt,
	.getsockopt = inet_getsockopt,
	.sendmsg = inet_stream_sendmsg,
	.recvmsg = inet_stream_recvmsg,
};

static int inet_no_listen(struct socket *sock, int backlog) { return -EOPNOTSUPP; }
static int inet_no_accept(struct socket *sock, struct socket *newsock, int flags) { return -EOPNOTSUPP; }

const struct proto_ops inet_dgram_ops = {
	.family = AF_INET,
	.release = inet_release,
	.bind = inet_bind,
	.connect = inet_dgram_connect,
	.accept = inet_no_accept,
	.getname = inet_getname,
	.poll = inet_poll,
	.listen = inet_no_listen,
	.shutdown = inet_shutdown,
	.setsockopt = inet_setsockopt,
	.getsockopt = inet_getsockopt,
	.sendmsg = inet_sendmsg,
	.recvmsg = inet_recvmsg,
};

/* inet_create: picks the protocol for (type, protocol). */
int inet_create(struct np_stack *s, struct socket *sock, int type, int protocol);
int inet_create(struct np_stack *s, struct socket *sock, int type, int protocol)
{
	struct proto *prot;
	const struct proto_ops *ops;
	switch (type) {
	case SOCK_DGRAM:
		if (protocol != 0 && protocol != IPPROTO_UDP)
			return -EPROTONOSUPPORT;
		prot = &udp_prot;
		ops = &inet_dgram_ops;
		protocol = IPPROTO_UDP;
		break;
	case SOCK_STREAM:
		if (protocol != 0 && protocol != IPPROTO_TCP)
			return -EPROTONOSUPPORT;
		prot = &tcp_prot;
		ops = &inet_stream_ops;
		protocol = IPPROTO_TCP;
		break;
	default:
		return -ESOCKTNOSUPPORT;
	}
	struct sock *sk = sk_alloc(s, AF_INET, prot);
	if (!sk)
		return -ENOMEM;
	sk->sk_type = type;
	sk->sk_protocol = protocol;
	sk->sk_socket = sock;
	sock->sk = sk;
	sock->ops = ops;
	sock->type = type;
	sock->state = SS_UNCONNECTED;
	if (prot->init) {
		int rc = prot->init(sk);
		if (rc) {
			sock->sk = NULL;
			sock_put(sk);
			return rc;
		}
	}
	return 0;
}
