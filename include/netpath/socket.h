/*
 * The BSD socket API over a netpath stack. Each call has the POSIX
 * signature and returns -1 with errno set exactly as POSIX and Linux's
 * socket(7), udp(7) and ip(7) document, except np_socket, which also names
 * the stack the socket lives in.
 *
 * Every netpath socket is backed by a real kernel file descriptor (an
 * eventfd) and that number is the socket's descriptor: it never collides
 * with the process's other fds, close() semantics stay familiar, and the fd
 * is readable whenever the socket has data, a pending error or a hang-up,
 * so it can sit in an epoll set or a libuv loop beside ordinary fds.
 *
 * A program that holds very many sockets may open them with NP_SOCK_NOFD
 * in np_socket's type: such a socket costs no kernel descriptor (and no
 * kernel memory); its descriptor is a number of netpath's own, at or above
 * NP_SOCK_FD_BASE, which only np_* calls understand. np_socket_fd gives it
 * an eventfd on demand for epoll; blocking calls and np_poll never need one.
 * np_accept on an NP_SOCK_NOFD listener returns NP_SOCK_NOFD sockets.
 *
 * Thread safety: any number of threads may call these functions while the
 * stack runs in its own thread (np_stack_start) or is driven by
 * np_stack_poll from one thread. Blocking calls sleep on the socket's wait
 * queue and are woken by sk_data_ready / sk_write_space.
 *
 * Busy polling, as Linux's SO_BUSY_POLL and SO_PREFER_BUSY_POLL: with
 * SO_BUSY_POLL (µs, up to 2,047; net.core.busy_read sets the default) a
 * blocking call first runs the stack's softirq rounds from the calling
 * thread for that long. With SO_PREFER_BUSY_POLL, while the stack runs in
 * its own thread, the blocked thread then sleeps on the stack's devices
 * itself and processes what arrives, and the stack thread steps aside: one
 * thread wake-up per arrival instead of two. The stack thread takes the
 * devices back once that thread has been away from them for
 * net.core.busy_poll_handback_us (1,000 by default; Linux's role for it is
 * gro_flush_timeout): meanwhile other sockets' packets and timers wait.
 * One thread at a time has the devices; others sleep on their queues.
 * Accepted connections inherit both options from the listener.
 */
#ifndef NETPATH_SOCKET_H
#define NETPATH_SOCKET_H

#include <poll.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

struct np_stack;

/* np_socket type flag (beside SOCK_NONBLOCK, SOCK_CLOEXEC): no eventfd until np_socket_fd asks. */
#define NP_SOCK_NOFD 0x40000000
/* Descriptors of NP_SOCK_NOFD sockets start here (above any kernel descriptor: fs.nr_open is lower). */
#define NP_SOCK_FD_BASE 0x40000000

int np_socket(struct np_stack *s, int domain, int type, int protocol);
int np_bind(int fd, const struct sockaddr *addr, socklen_t addrlen);
int np_connect(int fd, const struct sockaddr *addr, socklen_t addrlen);
int np_listen(int fd, int backlog);
int np_accept(int fd, struct sockaddr *addr, socklen_t *addrlen);
ssize_t np_send(int fd, const void *buf, size_t len, int flags);
ssize_t np_recv(int fd, void *buf, size_t len, int flags);
ssize_t np_sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *dest, socklen_t addrlen);
ssize_t np_recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *src, socklen_t *addrlen);
ssize_t np_sendmsg(int fd, const struct msghdr *msg, int flags);
ssize_t np_recvmsg(int fd, struct msghdr *msg, int flags);
/*
 * Linux's sendmmsg(2)/recvmmsg(2) (struct mmsghdr needs _GNU_SOURCE):
 * several messages under one descriptor lookup and one hold of the stack.
 * They return how many messages went (msg_len set for each); an error ends
 * the batch and is returned only when no message went, as Linux does (an
 * error after the first received message is kept as the socket's pending
 * error, SO_ERROR). vlen is capped at 1024 (UIO_MAXIOV). recvmmsg takes
 * MSG_WAITFORONE, and checks timeout after each message, as Linux does.
 */
struct mmsghdr;
struct timespec;
int np_sendmmsg(int fd, struct mmsghdr *msgvec, unsigned int vlen, int flags);
int np_recvmmsg(int fd, struct mmsghdr *msgvec, unsigned int vlen, int flags, struct timespec *timeout);
int np_shutdown(int fd, int how);
int np_close(int fd);
int np_getsockname(int fd, struct sockaddr *addr, socklen_t *addrlen);
int np_getpeername(int fd, struct sockaddr *addr, socklen_t *addrlen);
int np_setsockopt(int fd, int level, int optname, const void *optval, socklen_t optlen);
int np_getsockopt(int fd, int level, int optname, void *optval, socklen_t *optlen);
/* F_GETFL / F_SETFL with O_NONBLOCK. */
int np_fcntl(int fd, int cmd, ...);
/*
 * poll(2) over netpath sockets (fds that are not netpath sockets get
 * POLLNVAL). timeout in ms, -1 forever. Woken by the stack, never busy-polls.
 */
int np_poll(struct pollfd *fds, nfds_t nfds, int timeout);

/* True if fd is a netpath socket. */
int np_is_socket(int fd);
/*
 * The kernel descriptor that is readable whenever the socket has data, a
 * pending error or a hang-up (for epoll): the socket's own descriptor, or
 * for an NP_SOCK_NOFD socket an eventfd made on the first call and owned by
 * the socket (np_close closes it; do not close it yourself). -1 + errno.
 */
int np_socket_fd(int fd);

/*
 * Runs the stack in a thread of its own (ksoftirqd) until np_stack_join.
 * 0 or a negative errno.
 */
int np_stack_start(struct np_stack *s);
void np_stack_join(struct np_stack *s);

#ifdef __cplusplus
}
#endif
#endif
