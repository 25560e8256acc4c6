/*
 * The BSD socket calls (Linux's net/socket.c): descriptor lookup, the
 * stack lock around each call, and the conversion from internal -Exxx to
 * -1 + errno that only the public API does.
 *   np_sendto -> sock_sendmsg -> sock->ops->sendmsg (inet_sendmsg) -> ...
 *   np_recvfrom -> sock_recvmsg -> sock->ops->recvmsg (inet_recvmsg) -> ...
 *
 * Each socket's descriptor is an eventfd: the kernel hands out the number,
 * so it never collides with the process's other descriptors, and the fd is
 * readable while the socket has something to report. The table from fd
 * number to socket is process-wide because the fd namespace is: it is the
 * one piece of shared state, behind its own lock. NP_SOCK_NOFD sockets
 * (programs with very many connections) take numbers from NP_SOCK_FD_BASE
 * up instead, in a second table, and get an eventfd only if np_socket_fd
 * asks: no kernel descriptor or kernel memory per socket otherwise.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "core/stack.h"
#include "netpath/socket.h"
#include "socket/sock.h"
#include "socket/slab.h"

int inet_create(struct np_stack *s, struct socket *sock, int type, int protocol);

static pthread_mutex_t fdt_lock = PTHREAD_MUTEX_INITIALIZER;
static struct socket **fdt;
static int fdt_size;
/* NP_SOCK_NOFD descriptors: ndt[fd - NP_SOCK_FD_BASE]; freed numbers are reused, the last freed first. */
static struct socket **ndt;
static int ndt_size, ndt_used;
/* Freed numbers; grown as numbers are freed (not with ndt: 4 bytes a socket while none is). */
static int *ndt_free;
static int ndt_nfree, ndt_free_size;

/* Remembers freed number i for reuse (fdt_lock held); without memory the number is simply not reused. */
static void ndt_put_free(int i)
{
	if (ndt_nfree == ndt_free_size) {
		int n = ndt_free_size ? ndt_free_size * 2 : 64;
		int *f = realloc(ndt_free, (size_t)n * sizeof(*f));
		if (!f)
			return;
		ndt_free = f;
		ndt_free_size = n;
	}
	ndt_free[ndt_nfree++] = i;
}

/* Gives so a descriptor of netpath's own; -ENFILE when the number space is used up. */
static int ndt_alloc(struct socket *so)
{
	pthread_mutex_lock(&fdt_lock);
	int i;
	if (ndt_nfree) {
		i = ndt_free[--ndt_nfree];
	} else {
		if (ndt_used == ndt_size) {
			int n = ndt_size ? ndt_size * 2 : 64;
			if (n > INT32_MAX - NP_SOCK_FD_BASE) {
				pthread_mutex_unlock(&fdt_lock);
				return -ENFILE;
			}
			struct socket **t = realloc(ndt, (size_t)n * sizeof(*t));
			if (!t) {
				pthread_mutex_unlock(&fdt_lock);
				return -ENOMEM;
			}
			ndt = t;
			ndt_size = n;
		}
		i = ndt_used++;
	}
	ndt[i] = so;
	so->fd = NP_SOCK_FD_BASE + i;
	pthread_mutex_unlock(&fdt_lock);
	return 0;
}

static int fdt_install(int fd, struct socket *so)
{
	if (fd >= NP_SOCK_FD_BASE)
		return 0;   /* ndt_alloc installed it */
	pthread_mutex_lock(&fdt_lock);
	if (fd >= fdt_size) {
		int n = fdt_size ? fdt_size : 64;
		while (n <= fd)
			n *= 2;
		struct socket **t = realloc(fdt, (size_t)n * sizeof(*t));
		if (!t) {
			pthread_mutex_unlock(&fdt_lock);
			return -ENOMEM;
		}
		memset(t + fdt_size, 0, (size_t)(n - fdt_size) * sizeof(*t));
		fdt = t;
		fdt_size = n;
	}
	fdt[fd] = so;
	pthread_mutex_unlock(&fdt_lock);
	return 0;
}

/* Returns the socket with a reference taken (drop it with sockfd_put), or NULL. */
static struct socket *fdt_get(int fd)
{
	struct socket *so = NULL;
	pthread_mutex_lock(&fdt_lock);
	if (fd >= NP_SOCK_FD_BASE) {
		if (fd - NP_SOCK_FD_BASE < ndt_used && (so = ndt[fd - NP_SOCK_FD_BASE]) != NULL)
			atomic_fetch_add(&so->refs, 1);
	} else if (fd >= 0 && fd < fdt_size && (so = fdt[fd]) != NULL) {
		atomic_fetch_add(&so->refs, 1);
	}
	pthread_mutex_unlock(&fdt_lock);
	return so;
}

/* struct socket objects come from one cache (no malloc header each: see slab.h). */
static struct socket *socket_alloc(void)
{
	struct kmem_cache *c = kmem_cache_get(sizeof(struct socket));
	return c ? kmem_cache_zalloc(c) : calloc(1, sizeof(struct socket));
}

static void socket_free(struct socket *so)
{
	struct kmem_cache *c = kmem_cache_get(sizeof(struct socket));
	if (c)
		kmem_cache_free(c, so);
	else
		free(so);
}

/* The last reference (after np_close took the table's) frees the socket. */
static void sockfd_put(struct socket *so)
{
	if (atomic_fetch_sub(&so->refs, 1) == 1)
		socket_free(so);
}

static struct socket *fdt_remove(int fd)
{
	struct socket *so = NULL;
	pthread_mutex_lock(&fdt_lock);
	if (fd >= NP_SOCK_FD_BASE) {
		int i = fd - NP_SOCK_FD_BASE;
		if (i < ndt_used && (so = ndt[i]) != NULL) {
			ndt[i] = NULL;
			ndt_put_free(i);
		}
	} else if (fd >= 0 && fd < fdt_size) {
		so = fdt[fd];
		fdt[fd] = NULL;
	}
	pthread_mutex_unlock(&fdt_lock);
	return so;
}

int np_is_socket(int fd)
{
	struct socket *so = fdt_get(fd);
	if (so)
		sockfd_put(so);
	return so != NULL;
}

/*
 * Looks fd up, takes a reference on the socket and on its sock, and takes
 * the stack lock; sets errno (EBADF / ENOTSOCK) and returns NULL if fd is
 * not a socket. The references keep both alive if another thread closes
 * the descriptor meanwhile; sockfd_unlock_put drops them.
 */
static struct socket *sockfd_lookup_lock(int fd, struct sock **skp)
{
	struct socket *so = fdt_get(fd);
	if (!so) {
		errno = (fd >= 0 && fd < NP_SOCK_FD_BASE && fcntl(fd, F_GETFD) >= 0) ? ENOTSOCK : EBADF;
		return NULL;
	}
	np_stack_lock(so->stack);
	if (!so->sk) {
		np_stack_unlock(so->stack);
		sockfd_put(so);
		errno = EBADF;
		return NULL;
	}
	*skp = so->sk;
	sock_hold(*skp);
	return so;
}

static void sockfd_unlock_put(struct socket *so, struct sock *sk)
{
	sock_put(sk);
	np_stack_unlock(so->stack);
	sockfd_put(so);
}

static int ret_err(long rc)
{
	if (rc < 0) {
		errno = (int)-rc;
		return -1;
	}
	return (int)rc;
}

static ssize_t ret_err_ssize(ssize_t rc)
{
	if (rc < 0) {
		errno = (int)-rc;
		return -1;
	}
	return rc;
}

/* The descriptor of a new socket: an eventfd, or (nofd) a number of netpath's own. 0 or -errno. */
static int socket_fd_open(struct socket *so, int nofd)
{
	if (nofd) {
		so->efd = -1;
		return ndt_alloc(so);
	}
	so->fd = so->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	return so->fd < 0 ? -errno : 0;
}

/* Gives back what socket_fd_open took (after fdt_remove, or on a failed open). */
static void socket_fd_close(struct socket *so)
{
	if (so->efd >= 0)
		close(so->efd);
	if (socket_nofd(so)) {
		/* Still in ndt only if the open failed before anyone could see the number. */
		pthread_mutex_lock(&fdt_lock);
		int i = so->fd - NP_SOCK_FD_BASE;
		if (i >= 0 && i < ndt_used && ndt[i] == so) {
			ndt[i] = NULL;
			ndt_put_free(i);
		}
		pthread_mutex_unlock(&fdt_lock);
	}
	so->efd = -1;
}

int np_socket(struct np_stack *s, int domain, int type, int protocol)
{
	if (!s) {
		errno = EINVAL;
		return -1;
	}
	if (domain != AF_INET) {
		errno = EAFNOSUPPORT;
		return -1;
	}
	int nonblock = type & SOCK_NONBLOCK, nofd = !!(type & NP_SOCK_NOFD);
	type &= ~(SOCK_NONBLOCK | SOCK_CLOEXEC | NP_SOCK_NOFD);
	struct socket *so = socket_alloc();
	if (!so) {
		errno = ENOMEM;
		return -1;
	}
	atomic_init(&so->refs, 1);   /* the fd table's */
	int rc = socket_fd_open(so, nofd);
	if (rc < 0) {
		socket_free(so);
		errno = -rc;
		return -1;
	}
	so->stack = s;
	so->nonblock = !!nonblock;
	np_stack_lock(s);
	rc = inet_create(s, so, type, protocol);
	np_stack_unlock(s);
	if (rc == 0)
		rc = fdt_install(so->fd, so);
	if (rc < 0) {
		if (so->sk) {
			np_stack_lock(s);
			so->ops->release(so);
			np_stack_unlock(s);
		}
		socket_fd_close(so);
		socket_free(so);
		errno = -rc;
		return -1;
	}
	return so->fd;
}

int np_close(int fd)
{
	struct socket *so = fdt_remove(fd);
	if (!so) {
		errno = EBADF;
		return -1;
	}
	struct np_stack *s = so->stack;
	np_stack_lock(s);
	if (so->sk)
		so->ops->release(so);
	np_stack_unlock(s);
	socket_fd_close(so);
	sockfd_put(so);
	return 0;
}

int np_socket_fd(int fd)
{
	struct sock *sk;
	struct socket *so = sockfd_lookup_lock(fd, &sk);
	if (!so)
		return -1;
	long rc = so->efd;
	if (so->efd < 0) {
		rc = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (rc < 0) {
			rc = -errno;
		} else {
			so->efd = (int)rc;
			so->readable_signalled = 0;
			sock_fd_sync(sk);   /* readable now if the socket already has something to report */
		}
	}
	sockfd_unlock_put(so, sk);
	return ret_err(rc);
}

/* Closes every socket of a stack that is going away (np_stack_destroy). */
void socket_stack_gone(struct np_stack *s);
void socket_stack_gone(struct np_stack *s)
{
	for (int i = 0;; i++) {
		pthread_mutex_lock(&fdt_lock);
		int used = ndt_used;
		struct socket *so = i < used ? ndt[i] : NULL;
		pthread_mutex_unlock(&fdt_lock);
		if (i >= used)
			break;
		if (so && so->stack == s)
			np_close(NP_SOCK_FD_BASE + i);
	}
	for (int fd = 0;; fd++) {
		pthread_mutex_lock(&fdt_lock);
		int size = fdt_size;
		struct socket *so = fd < size ? fdt[fd] : NULL;
		pthread_mutex_unlock(&fdt_lock);
		if (fd >= size)
			break;
		if (so && so->stack == s)
			np_close(fd);
	}
}

#define SOCKCALL(fd, expr)                                   \
	do {                                                 \
		struct sock *sk_;                            \
		struct socket *so = sockfd_lookup_lock(fd, &sk_); \
		if (!so)                                     \
			return -1;                           \
		long rc_ = (expr);                           \
		sockfd_unlock_put(so, sk_);                  \
		return ret_err(rc_);                         \
	} while (0)

int np_bind(int fd, const struct sockaddr *addr, socklen_t addrlen)
{
	SOCKCALL(fd, so->ops->bind(so, addr, addrlen));
}

int np_connect(int fd, const struct sockaddr *addr, socklen_t addrlen)
{
	SOCKCALL(fd, so->ops->connect(so, addr, addrlen, so->nonblock ? O_NONBLOCK : 0));
}

int np_listen(int fd, int backlog)
{
	SOCKCALL(fd, so->ops->listen(so, backlog));
}

/*
 * accept(2): a new socket (and eventfd descriptor) for the next connection.
 * It does not inherit O_NONBLOCK (Linux's accept; accept4 flags are not offered).
 */
int np_accept(int fd, struct sockaddr *addr, socklen_t *addrlen)
{
	struct sock *sk;
	struct socket *so = sockfd_lookup_lock(fd, &sk);
	if (!so)
		return -1;
	long rc;
	struct socket *newso = NULL;
	if (addr && !addrlen) {
		rc = -EFAULT;
		goto out;
	}
	if (addr && (int)*addrlen < 0) {
		rc = -EINVAL;
		goto out;
	}
	newso = socket_alloc();
	if (!newso) {
		rc = -ENOMEM;
		goto out;
	}
	atomic_init(&newso->refs, 1);   /* the fd table's */
	rc = socket_fd_open(newso, socket_nofd(so));
	if (rc < 0) {
		socket_free(newso);
		newso = NULL;
		goto out;
	}
	newso->stack = so->stack;
	rc = so->ops->accept(so, newso, 0);
	if (rc < 0) {
		socket_fd_close(newso);
		socket_free(newso);
		newso = NULL;
		goto out;
	}
	if (addr)
		newso->ops->getname(newso, addr, addrlen, 1);
	rc = fdt_install(newso->fd, newso);
	if (rc < 0) {
		newso->ops->release(newso);
		socket_fd_close(newso);
		socket_free(newso);
		newso = NULL;
		goto out;
	}
	rc = newso->fd;
out:
	sockfd_unlock_put(so, sk);
	return ret_err(rc);
}

int np_shutdown(int fd, int how)
{
	SOCKCALL(fd, so->ops->shutdown(so, how));
}

int np_getsockname(int fd, struct sockaddr *addr, socklen_t *addrlen)
{
	SOCKCALL(fd, (!addr || !addrlen) ? -EFAULT : so->ops->getname(so, addr, addrlen, 0));
}

int np_getpeername(int fd, struct sockaddr *addr, socklen_t *addrlen)
{
	SOCKCALL(fd, (!addr || !addrlen) ? -EFAULT : so->ops->getname(so, addr, addrlen, 1));
}

int np_setsockopt(int fd, int level, int optname, const void *optval, socklen_t optlen)
{
	SOCKCALL(fd, (!optval && optlen) ? -EFAULT : so->ops->setsockopt(so, level, optname, optval, optlen));
}

int np_getsockopt(int fd, int level, int optname, void *optval, socklen_t *optlen)
{
	SOCKCALL(fd, (!optval || !optlen) ? -EFAULT : so->ops->getsockopt(so, level, optname, optval, optlen));
}

int np_fcntl(int fd, int cmd, ...)
{
	struct sock *sk;
	struct socket *so = sockfd_lookup_lock(fd, &sk);
	if (!so)
		return -1;
	long rc;
	if (cmd == F_GETFL) {
		rc = O_RDWR | (so->nonblock ? O_NONBLOCK : 0);
	} else if (cmd == F_SETFL) {
		va_list ap;
		va_start(ap, cmd);
		int fl = va_arg(ap, int);
		va_end(ap);
		so->nonblock = !!(fl & O_NONBLOCK);
		rc = 0;
	} else if (cmd == F_GETFD || cmd == F_SETFD) {
		rc = cmd == F_GETFD ? FD_CLOEXEC : 0;
	} else {
		rc = -EINVAL;
	}
	sockfd_unlock_put(so, sk);
	return ret_err(rc);
}

/* Sums a message's iovec into *len: 0, or a negative errno for a vector the msg calls refuse. */
static int msg_iov_len(const struct msghdr *msg, size_t *len)
{
	if (!msg || (msg->msg_iovlen && !msg->msg_iov))
		return -EFAULT;
	if (msg->msg_iovlen > 1024)
		return -EMSGSIZE;   /* UIO_MAXIOV */
	*len = 0;
	for (size_t i = 0; i < (size_t)msg->msg_iovlen; i++)
		*len += msg->msg_iov[i].iov_len;
	return 0;
}

ssize_t np_sendmsg(int fd, const struct msghdr *msg, int flags)
{
	struct sock *sk;
	struct socket *so = sockfd_lookup_lock(fd, &sk);
	if (!so)
		return -1;
	size_t len;
	ssize_t rc = msg_iov_len(msg, &len);
	if (rc == 0)
		rc = so->ops->sendmsg(so, msg, len, flags);
	sockfd_unlock_put(so, sk);
	return ret_err_ssize(rc);
}

ssize_t np_recvmsg(int fd, struct msghdr *msg, int flags)
{
	struct sock *sk;
	struct socket *so = sockfd_lookup_lock(fd, &sk);
	if (!so)
		return -1;
	size_t len;
	ssize_t rc = msg_iov_len(msg, &len);
	if (rc == 0) {
		msg->msg_flags = 0;
		rc = so->ops->recvmsg(so, msg, len, flags);
	}
	sockfd_unlock_put(so, sk);
	return ret_err_ssize(rc);
}

int np_sendmmsg(int fd, struct mmsghdr *msgvec, unsigned int vlen, int flags)
{
	struct sock *sk;
	struct socket *so = sockfd_lookup_lock(fd, &sk);
	if (!so)
		return -1;
	if (vlen > 1024)
		vlen = 1024;   /* UIO_MAXIOV, as Linux caps it */
	ssize_t rc = (vlen && !msgvec) ? -EFAULT : 0;
	unsigned int n = 0;
	/* One descriptor lookup and one stack hold for the whole batch. */
	while (rc >= 0 && n < vlen) {
		size_t len;
		rc = msg_iov_len(&msgvec[n].msg_hdr, &len);
		if (rc < 0)
			break;
		rc = so->ops->sendmsg(so, &msgvec[n].msg_hdr, len, flags);
		if (rc < 0)
			break;
		msgvec[n++].msg_len = (unsigned int)rc;
	}
	sockfd_unlock_put(so, sk);
	if (n)
		return (int)n;
	return ret_err(rc);
}

int np_recvmmsg(int fd, struct mmsghdr *msgvec, unsigned int vlen, int flags, struct timespec *timeout)
{
	struct sock *sk;
	struct socket *so = sockfd_lookup_lock(fd, &sk);
	if (!so)
		return -1;
	if (vlen > 1024)
		vlen = 1024;
	ssize_t rc = (vlen && !msgvec) ? -EFAULT : 0;
	struct timespec end = { 0 };
	if (rc == 0 && timeout) {
		if (timeout->tv_sec < 0 || timeout->tv_nsec < 0 || timeout->tv_nsec >= 1000000000L) {
			rc = -EINVAL;
		} else {
			clock_gettime(CLOCK_MONOTONIC, &end);
			end.tv_sec += timeout->tv_sec;
			end.tv_nsec += timeout->tv_nsec;
			if (end.tv_nsec >= 1000000000L) {
				end.tv_sec++;
				end.tv_nsec -= 1000000000L;
			}
		}
	}
	unsigned int n = 0;
	while (rc >= 0 && n < vlen) {
		struct msghdr *m = &msgvec[n].msg_hdr;
		size_t len;
		rc = msg_iov_len(m, &len);
		if (rc < 0)
			break;
		m->msg_flags = 0;
		rc = so->ops->recvmsg(so, m, len, flags);
		if (rc < 0)
			break;
		msgvec[n++].msg_len = (unsigned int)rc;
		/* MSG_WAITFORONE: only the first message may wait. */
		if (flags & MSG_WAITFORONE)
			flags |= MSG_DONTWAIT;
		if (timeout) {
			struct timespec now;
			clock_gettime(CLOCK_MONOTONIC, &now);
			if (now.tv_sec > end.tv_sec || (now.tv_sec == end.tv_sec && now.tv_nsec >= end.tv_nsec))
				break;
		}
		if (m->msg_flags & MSG_OOB)
			break;
	}
	/* Linux keeps a later error for the next call (SO_ERROR); running out of messages is no error. */
	if (n && rc < 0 && rc != -EAGAIN && rc != -EWOULDBLOCK && !sk->sk_err)
		sk->sk_err = (int)-rc;
	sockfd_unlock_put(so, sk);
	if (n)
		return (int)n;
	return ret_err(rc);
}

ssize_t np_sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *dest, socklen_t addrlen)
{
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr msg = { .msg_name = (void *)dest, .msg_namelen = dest ? addrlen : 0, .msg_iov = &iov,
			      .msg_iovlen = 1 };
	return np_sendmsg(fd, &msg, flags);
}

ssize_t np_send(int fd, const void *buf, size_t len, int flags)
{
	return np_sendto(fd, buf, len, flags, NULL, 0);
}

ssize_t np_recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *src, socklen_t *addrlen)
{
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr msg = { .msg_name = src, .msg_namelen = src && addrlen ? *addrlen : 0, .msg_iov = &iov,
			      .msg_iovlen = 1 };
	ssize_t n = np_recvmsg(fd, &msg, flags);
	if (n >= 0 && src && addrlen)
		*addrlen = msg.msg_namelen;
	return n;
}

ssize_t np_recv(int fd, void *buf, size_t len, int flags)
{
	return np_recvfrom(fd, buf, len, flags, NULL, NULL);
}

/* ---- poll ------------------------------------------------------------------ */

int np_poll(struct pollfd *fds, nfds_t nfds, int timeout)
{
	if (nfds > 0 && !fds) {
		errno = EFAULT;
		return -1;
	}
	pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	pthread_condattr_t ca;
	pthread_cond_t cond;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&cond, &ca);
	pthread_condattr_destroy(&ca);
	int woken = 0;
	struct wait_queue_entry *ents = calloc(nfds ? nfds : 1, sizeof(*ents));
	struct socket **socks = calloc(nfds ? nfds : 1, sizeof(*socks));
	struct sock **psk = calloc(nfds ? nfds : 1, sizeof(*psk));
	if (!ents || !socks || !psk) {
		free(ents);
		free(socks);
		free(psk);
		errno = ENOMEM;
		return -1;
	}
	struct timespec start;
	clock_gettime(CLOCK_MONOTONIC, &start);
	uint64_t t0 = (uint64_t)start.tv_sec * 1000000000ull + (uint64_t)start.tv_nsec;
	uint64_t until = timeout < 0 ? UINT64_MAX : t0 + (uint64_t)timeout * 1000000ull;
	int ready;
	for (;;) {
		ready = 0;
		woken = 0;
		for (nfds_t i = 0; i < nfds; i++) {
			fds[i].revents = 0;
			socks[i] = NULL;
			if (fds[i].fd < 0)
				continue;
			struct socket *so = fdt_get(fds[i].fd);
			if (!so) {
				fds[i].revents = POLLNVAL;
				ready++;
				continue;
			}
			np_stack_lock(so->stack);
			if (!so->sk) {
				np_stack_unlock(so->stack);
				sockfd_put(so);
				fds[i].revents = POLLNVAL;
				ready++;
				continue;
			}
			/* The sock stays alive while we sit on its wait queue. */
			sock_hold(so->sk);
			psk[i] = so->sk;
			/* Register before looking, under the same lock: no wake-up can slip between. */
			ents[i] = (struct wait_queue_entry){ .mu = &mu, .cond = &cond, .woken = &woken };
			struct wait_queue_head *wq = &so->sk->sk_wq;
			ents[i].next = wq->first;
			if (wq->first)
				wq->first->prev = &ents[i];
			wq->first = &ents[i];
			socks[i] = so;
			unsigned m = so->ops->poll(so);
			np_stack_unlock(so->stack);
			fds[i].revents = (short)(m & ((unsigned)fds[i].events | POLLERR | POLLHUP | POLLNVAL));
			if (fds[i].revents)
				ready++;
		}
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		uint64_t t = (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec;
		if (!ready && t < until) {
			pthread_mutex_lock(&mu);
			if (!woken) {
				uint64_t u = until == UINT64_MAX ? t + 3600ull * 1000000000ull : until;
				struct timespec ts = { .tv_sec = (time_t)(u / 1000000000ull), .tv_nsec = (long)(u % 1000000000ull) };
				pthread_cond_timedwait(&cond, &mu, &ts);
			}
			pthread_mutex_unlock(&mu);
		}
		/* Unregister from every socket before looking again or returning. */
		for (nfds_t i = 0; i < nfds; i++) {
			struct socket *so = socks[i];
			if (!so)
				continue;
			np_stack_lock(so->stack);
			struct wait_queue_entry *e = &ents[i];
			struct wait_queue_head *wq = &psk[i]->sk_wq;
			if (e->prev)
				e->prev->next = e->next;
			else if (wq->first == e)
				wq->first = e->next;
			if (e->next)
				e->next->prev = e->prev;
			sock_put(psk[i]);
			np_stack_unlock(so->stack);
			sockfd_put(so);
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		t = (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec;
		if (ready || t >= until)
			break;
	}
	pthread_cond_destroy(&cond);
	pthread_mutex_destroy(&mu);
	free(ents);
	free(socks);
	free(psk);
	return ready;
}
