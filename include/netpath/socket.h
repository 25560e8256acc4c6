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
 * Thread safety: any number of threads may call these functions while the
 * stack runs in its own thread (np_stack_start) or is driven by
 * np_stack_poll from one thread. Blocking calls sleep on the socket's wait
 * queue and are woken by sk_data_ready / sk_write_space.
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
 * Runs the stack in a thread of its own (ksoftirqd) until np_stack_join.
 * 0 or a negative errno.
 */
int np_stack_start(struct np_stack *s);
void np_stack_join(struct np_stack *s);

#ifdef __cplusplus
}
#endif
#endif
