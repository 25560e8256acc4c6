/*
 * The table of entry points packetdrill's shared-object mode expects
 * (packetdrill --so_filename=LIB --so_flags=FLAGS): packetdrill dlopen()s
 * LIB, calls packetdrill_interface_init(FLAGS, &table) once, and from then
 * on makes every system call of a script, every injected packet and every
 * clock reading through the table instead of the kernel.
 *
 * packetdrill reads the table by position, so the fields below must stay
 * in exactly this order with exactly these types. Every function gets the
 * userdata pointer first, then the arguments of the POSIX call it stands
 * for, and returns what that call returns (-1 with errno on failure).
 */
#ifndef NP_TOOLS_PD_INTERFACE_H
#define NP_TOOLS_PD_INTERFACE_H

#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

struct packetdrill_interface {
	void *userdata;
	/* Called once when the script has finished: release everything. */
	void (*free)(void *userdata);

	int (*socket)(void *userdata, int domain, int type, int protocol);
	int (*bind)(void *userdata, int sockfd, const struct sockaddr *addr, socklen_t addrlen);
	int (*listen)(void *userdata, int sockfd, int backlog);
	int (*accept)(void *userdata, int sockfd, struct sockaddr *addr, socklen_t *addrlen);
	int (*connect)(void *userdata, int sockfd, const struct sockaddr *addr, socklen_t addrlen);
	ssize_t (*read)(void *userdata, int fd, void *buf, size_t count);
	ssize_t (*readv)(void *userdata, int fd, const struct iovec *iov, int iovcnt);
	ssize_t (*recv)(void *userdata, int sockfd, void *buf, size_t len, int flags);
	ssize_t (*recvfrom)(void *userdata, int sockfd, void *buf, size_t len, int flags, struct sockaddr *src_addr,
			    socklen_t *addrlen);
	ssize_t (*recvmsg)(void *userdata, int sockfd, struct msghdr *msg, int flags);
	ssize_t (*write)(void *userdata, int fd, const void *buf, size_t count);
	ssize_t (*writev)(void *userdata, int fd, const struct iovec *iov, int iovcnt);
	ssize_t (*send)(void *userdata, int sockfd, const void *buf, size_t len, int flags);
	ssize_t (*sendto)(void *userdata, int sockfd, const void *buf, size_t len, int flags,
			  const struct sockaddr *dest_addr, socklen_t addrlen);
	ssize_t (*sendmsg)(void *userdata, int sockfd, const struct msghdr *msg, int flags);
	/* packetdrill passes an int third argument, when there is one. */
	int (*fcntl)(void *userdata, int fd, int cmd, ...);
	/* packetdrill passes an int * third argument, when there is one. */
	int (*ioctl)(void *userdata, int fd, unsigned long request, ...);
	int (*close)(void *userdata, int fd);
	int (*shutdown)(void *userdata, int sockfd, int how);
	int (*getsockopt)(void *userdata, int sockfd, int level, int optname, void *optval, socklen_t *optlen);
	int (*setsockopt)(void *userdata, int sockfd, int level, int optname, const void *optval, socklen_t optlen);
	int (*poll)(void *userdata, struct pollfd *fds, nfds_t nfds, int timeout);

	/*
	 * Hands one IP packet (no link-layer header) from the script's remote
	 * end to the stack under test. 0, or -1 on error.
	 */
	int (*netdev_send)(void *userdata, const void *buf, size_t count);
	/*
	 * Takes the next IP packet the stack under test sent: *count is the
	 * buffer's size on entry and the packet's length on return (0 when
	 * nothing came), *time_usecs the moment it left, on the clock that
	 * gettimeofday below reads. 0, or -1 on error (packetdrill then asks again).
	 */
	int (*netdev_receive)(void *userdata, void *buf, size_t *count, long long *time_usecs);
	/* packetdrill sleeps and reads the time only through these. */
	int (*usleep)(void *userdata, useconds_t usec);
	int (*gettimeofday)(void *userdata, struct timeval *tv, struct timezone *tz);

	int (*epoll_create)(void *userdata, int size);
	int (*epoll_ctl)(void *userdata, int epfd, int op, int fd, struct epoll_event *event);
	int (*epoll_wait)(void *userdata, int epfd, struct epoll_event *events, int maxevents, int timeout);
	int (*pipe)(void *userdata, int pipefd[2]);
	int (*splice)(void *userdata, int fd_in, loff_t *off_in, int fd_out, loff_t *off_out, size_t len,
		      unsigned int flags);
};

/* The one symbol the library exports. */
typedef void (*packetdrill_interface_init_t)(const char *flags, struct packetdrill_interface *ifc);
void packetdrill_interface_init(const char *flags, struct packetdrill_interface *ifc);

#endif
