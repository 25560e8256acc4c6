/*
 * npload: the load tool of netpath's benchmarks (bench/run.sh). The same
 * code runs over the kernel's sockets and over netpath's np_* sockets, so
 * both sides of every ratio are measured by one tool. Written only against
 * include/netpath/ and the C library (POSIX plus Linux's epoll, TUN and
 * sendmmsg/recvmmsg).
 *
 *   npload MODE [--backend kernel|np-tap|np-cable] [options]
 *
 * Backends (the tiny abstraction below, struct backend):
 *   kernel    socket(2), sendto(2) ... on whatever namespace npload runs in
 *   np-tap    a netpath stack npload creates on a TAP (--tap IF --addr A/N
 *             [--host-addr A/N]); runs in its own thread (np_stack_start,
 *             blocking calls) or, with --np-loop poll, in npload's thread
 *             (np_stack_fd + np_stack_poll: an event loop)
 *   np-cable  two netpath stacks in this process on the in-process cable,
 *             side 0 = 10.203.0.1, side 1 = 10.203.0.2, driven by
 *             np_stack_poll from npload's one thread
 *
 * Modes (each prints one line "npload mode=... key=value ..." on stdout):
 *   echo-server   UDP (or --proto tcp) echo on --port until SIGTERM/--duration
 *   echo-client   keeps --window datagrams of --size bytes outstanding
 *                 towards --dst A.B.C.D:PORT for --duration s; replies/s
 *   bulk          sender and receiver in this one thread (kernel: 127.0.0.1,
 *                 np-cable: the two stacks), --size bytes each; Gbit/s
 *   sock-mem      malloc'd bytes (mallinfo2) and kernel slab bytes
 *                 (/proc/meminfo) per idle socket, --count sockets
 *   tap-reflect   the raw TAP ceiling: reads frames from --tap, answers ARP,
 *                 writes each IPv4 UDP frame back with addresses swapped
 *   memcpy        the memcpy ceiling: --size-byte copies, Gbit/s
 *   probe         exit 0 if the backend can open a --proto socket, 77 if not
 *   crr-client    TCP: connect, 1-byte request, 1-byte reply, close, repeated
 *                 towards --dst for --duration s; connections/s
 *   rr-scale      TCP: --count connections between the two sides of this
 *                 process, one 1-byte transaction at a time, visiting them in
 *                 turn; transactions/s (per-packet cost against the count)
 *   conn-max      TCP: opens connections between the two sides until malloc
 *                 + kernel slab grew by --mem-limit bytes; how many fit
 *
 * CPU time is getrusage(RUSAGE_SELF) user+sys: every thread of npload,
 * netpath's stack thread included, plus the kernel work done on its behalf.
 */
#define _GNU_SOURCE   /* sendmmsg, recvmmsg; the library is built with it too */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <malloc.h>
#include <net/if.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "netpath/netpath.h"
#include "netpath/socket.h"

#define MAX_DGRAM 65536
#define EXIT_UNSUPPORTED 77

#define BENCH_PROG "npload"
#include "bench_util.h"

/* Context switches (voluntary + involuntary) of this process so far. */
static long ctx_switches(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_nvcsw + ru.ru_nivcsw;
}

/* ---- options ---------------------------------------------------------------- */

struct opts {
	const char *mode, *backend, *np_loop, *proto;
	const char *tap, *addr, *host_addr, *dst;
	int port, size, window, burst, count, bind_sockets;
	double duration, warmup;
	/* connection figures (crr-client, rr-scale, conn-max) */
	int keepalive, nofd;
	int busy_poll;       /* echo-server: SO_PREFER_BUSY_POLL on the server's sockets */
	long long mem_limit;
	/* bulk TCP figures: --offload on (TSO/GSO + checksum offload on the cable ends or the vnet TAP) */
	int offload;
	int mmsg;            /* echo-server --mmsg N: UDP in batches of N (recvmmsg + sendmmsg), 0: one at a time */
	const char *iface;   /* np-afpacket: the Linux interface to attach to */
	int clamp;           /* stream-recv: TCP_WINDOW_CLAMP on the listener (kernel), 0: none */
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: npload MODE [options]\n"
		"modes: echo-server echo-client bulk sock-mem tap-reflect memcpy probe\n"
		"       crr-client rr-scale conn-max\n"
		"  --backend kernel|np-tap|np-cable   sockets of the kernel or of netpath (default kernel)\n"
		"  --np-loop thread|poll   netpath in its own thread or polled by npload's thread\n"
		"  --proto udp|tcp         (default udp)\n"
		"  --tap IF --addr A.B.C.D/N [--host-addr A.B.C.D/N]   np-tap and tap-reflect\n"
		"  --port P  --dst A.B.C.D:PORT  --size BYTES  --window N  --burst N\n"
		"  --duration SEC  --warmup SEC  --count N  --no-bind\n"
		"  --keepalive (rr-scale: SO_KEEPALIVE on every end)  --mem-limit BYTES (conn-max)\n"
		"  --nofd (netpath: sockets without an eventfd each, NP_SOCK_NOFD)\n"
		"  --busy-poll             echo-server: SO_PREFER_BUSY_POLL (a blocked server thread polls the devices)\n"
		"  --offload on|off        np-cable/np-tap/np-afpacket: TSO, GSO, checksum offload (default off)\n"
		"  --mmsg N                echo-server, UDP: recvmmsg + sendmmsg batches of up to N (<= 64)\n"
		"  --iface IF              np-afpacket: attach to IF (a veth end) with --addr A.B.C.D/N\n"
		"  --clamp BYTES           stream-recv: TCP_WINDOW_CLAMP (the kernel with netpath's 64 KiB window)\n"
		"bulk TCP over devices: stream-recv (listen on --port, count until EOF), stream-send (to --dst,\n"
		"  64 KiB writes, or --size datagrams with --proto udp), tap-drain (--tap IF [--offload on]:\n"
		"  read frames and count them, answering ARP: the raw TAP read ceiling)\n");
}

static void parse_opts(int argc, char **argv, struct opts *o)
{
	memset(o, 0, sizeof(*o));
	o->backend = "kernel";
	o->proto = "udp";
	o->size = 64;
	o->window = 64;
	o->burst = 32;
	o->count = 10000;
	o->duration = 2.0;
	o->warmup = 0.3;
	o->bind_sockets = 1;
	if (argc < 2) {
		usage(stderr);
		exit(2);
	}
	o->mode = argv[1];
	for (int i = 2; i < argc; i++) {
		const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(k, "--no-bind")) {
			o->bind_sockets = 0;
			continue;
		}
		if (!strcmp(k, "--keepalive")) {
			o->keepalive = 1;
			continue;
		}
		if (!strcmp(k, "--busy-poll")) {
			o->busy_poll = 1;
			continue;
		}
		if (!strcmp(k, "--nofd")) {
			o->nofd = 1;   /* netpath: NP_SOCK_NOFD sockets (no eventfd each) */
			continue;
		}
		if (!strcmp(k, "--help")) {
			usage(stdout);
			exit(0);
		}
		if (!v)
			die("option %s needs a value", k);
		i++;
		if (!strcmp(k, "--backend"))
			o->backend = v;
		else if (!strcmp(k, "--np-loop"))
			o->np_loop = v;
		else if (!strcmp(k, "--proto"))
			o->proto = v;
		else if (!strcmp(k, "--tap"))
			o->tap = v;
		else if (!strcmp(k, "--addr"))
			o->addr = v;
		else if (!strcmp(k, "--host-addr"))
			o->host_addr = v;
		else if (!strcmp(k, "--dst"))
			o->dst = v;
		else if (!strcmp(k, "--port"))
			o->port = atoi(v);
		else if (!strcmp(k, "--size"))
			o->size = atoi(v);
		else if (!strcmp(k, "--window"))
			o->window = atoi(v);
		else if (!strcmp(k, "--burst"))
			o->burst = atoi(v);
		else if (!strcmp(k, "--count"))
			o->count = atoi(v);
		else if (!strcmp(k, "--duration"))
			o->duration = atof(v);
		else if (!strcmp(k, "--warmup"))
			o->warmup = atof(v);
		else if (!strcmp(k, "--mem-limit"))
			o->mem_limit = atoll(v);
		else if (!strcmp(k, "--offload"))
			o->offload = !strcmp(v, "on");
		else if (!strcmp(k, "--mmsg"))
			o->mmsg = atoi(v);
		else if (!strcmp(k, "--iface"))
			o->iface = v;
		else if (!strcmp(k, "--clamp"))
			o->clamp = atoi(v);
		else
			die("unknown option %s (npload --help)", k);
	}
	if (o->size < 0 || o->size > MAX_DGRAM - 1 || o->window < 1 || o->burst < 1 || o->count < 0)
		die("bad --size/--window/--burst/--count");
}

/* "A.B.C.D:PORT" */
static void parse_dst(const char *s, struct sockaddr_in *sin)
{
	char host[64];
	const char *colon = s ? strchr(s, ':') : NULL;
	if (!colon || (size_t)(colon - s) >= sizeof(host))
		die("--dst wants A.B.C.D:PORT");
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = 0;
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)atoi(colon + 1));
	if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
		die("bad address in --dst %s", s);
}

/* ---- backends ----------------------------------------------------------------- */

/*
 * One set of socket calls. side picks the stack of np-cable (0 or 1); the
 * kernel and np-tap have one. wait() blocks until fd has `events` or the
 * timeout passes, running netpath in the caller when it is polled.
 */
struct backend {
	const char *name;
	int (*socket)(struct backend *b, int side, int type);
	int (*bind)(int fd, const struct sockaddr *a, socklen_t l);
	int (*connect)(int fd, const struct sockaddr *a, socklen_t l);
	int (*listen)(int fd, int backlog);
	int (*accept)(int fd, struct sockaddr *a, socklen_t *l);
	ssize_t (*sendto)(int fd, const void *buf, size_t len, int flags, const struct sockaddr *a, socklen_t l);
	ssize_t (*recvfrom)(int fd, void *buf, size_t len, int flags, struct sockaddr *a, socklen_t *l);
	int (*setsockopt)(int fd, int level, int name, const void *v, socklen_t l);
	int (*close)(int fd);
	int (*set_nonblock)(int fd);
	int (*wait)(struct backend *b, int fd, short events, int timeout_ms);
	/*
	 * Datagram batches on a connected socket: up to n datagrams of len bytes
	 * (send) or of at most cap bytes (receive, never blocking). The kernel
	 * uses sendmmsg/recvmmsg, netpath a loop of single calls. Returns how
	 * many went, 0 if none could.
	 */
	int (*send_batch)(int fd, const void *buf, size_t len, int n);
	int (*recv_batch)(int fd, void *buf, size_t cap, int n);
	/* sendmmsg/recvmmsg: the kernel's, or np_sendmmsg/np_recvmmsg (echo-server --mmsg). */
	int (*sendmmsg)(int fd, struct mmsghdr *m, unsigned int n, int flags);
	int (*recvmmsg)(int fd, struct mmsghdr *m, unsigned int n, int flags, struct timespec *t);
	/* Runs polled stacks until idle (no-op where the kernel or a thread does it). */
	void (*progress)(struct backend *b);
	struct in_addr addr[2];       /* the address of each side */
	/* netpath */
	struct np_stack *st[2];
	int nst, polled, epfd;
	int type_flags;               /* netpath: NP_SOCK_NOFD with --nofd */
};

static int k_socket(struct backend *b, int side, int type) { return socket(AF_INET, type, 0); }
static int k_set_nonblock(int fd) { return fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }
static int k_wait(struct backend *b, int fd, short events, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = events };
	int n = poll(&p, 1, timeout_ms);
	return n > 0 ? 1 : 0;
}
static void no_progress(struct backend *b) {}

#define BATCH_MAX 64
static int k_send_batch(int fd, const void *buf, size_t len, int n)
{
	struct mmsghdr m[BATCH_MAX];
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	if (n > BATCH_MAX)
		n = BATCH_MAX;
	memset(m, 0, sizeof(m[0]) * (size_t)n);
	for (int i = 0; i < n; i++) {
		m[i].msg_hdr.msg_iov = &iov;
		m[i].msg_hdr.msg_iovlen = 1;
	}
	int r = sendmmsg(fd, m, (unsigned)n, MSG_DONTWAIT);
	return r > 0 ? r : 0;
}
static int k_recv_batch(int fd, void *buf, size_t cap, int n)
{
	struct mmsghdr m[BATCH_MAX];
	struct iovec iov[BATCH_MAX];
	if (n > BATCH_MAX)
		n = BATCH_MAX;
	memset(m, 0, sizeof(m[0]) * (size_t)n);
	for (int i = 0; i < n; i++) {
		/* Every datagram lands in the same buffer: only the count matters. */
		iov[i] = (struct iovec){ .iov_base = buf, .iov_len = cap };
		m[i].msg_hdr.msg_iov = &iov[i];
		m[i].msg_hdr.msg_iovlen = 1;
	}
	int r = recvmmsg(fd, m, (unsigned)n, MSG_DONTWAIT, NULL);
	return r > 0 ? r : 0;
}

static void backend_kernel(struct backend *b)
{
	*b = (struct backend){
		.name = "kernel", .socket = k_socket, .bind = bind, .connect = connect, .listen = listen,
		.accept = accept, .sendto = sendto, .recvfrom = recvfrom, .setsockopt = setsockopt, .close = close,
		.set_nonblock = k_set_nonblock, .wait = k_wait, .progress = no_progress,
		.send_batch = k_send_batch, .recv_batch = k_recv_batch, .sendmmsg = sendmmsg, .recvmmsg = recvmmsg,
	};
	inet_pton(AF_INET, "127.0.0.1", &b->addr[0]);
	b->addr[1] = b->addr[0];
}

static int np_socket_side(struct backend *b, int side, int type)
{
	return np_socket(b->st[side < b->nst ? side : 0], AF_INET, type | b->type_flags, 0);
}
static int np_set_nonblock(int fd) { return np_fcntl(fd, F_SETFL, O_NONBLOCK); }
static int np_send_batch(int fd, const void *buf, size_t len, int n)
{
	int i = 0;
	while (i < n && np_send(fd, buf, len, MSG_DONTWAIT) >= 0)
		i++;
	return i;
}
static int np_recv_batch(int fd, void *buf, size_t cap, int n)
{
	int i = 0;
	while (i < n && np_recv(fd, buf, cap, MSG_DONTWAIT) >= 0)
		i++;
	return i;
}

/* Every polled stack runs until none has work left. */
static void np_progress(struct backend *b)
{
	if (!b->polled)
		return;
	for (int rounds = 0; rounds < 1000; rounds++) {
		int work = 0;
		for (int i = 0; i < b->nst; i++)
			work += np_stack_poll(b->st[i]);
		if (!work)
			break;
	}
}

static int np_wait(struct backend *b, int fd, short events, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = events };
	if (!b->polled)
		return np_poll(&p, 1, timeout_ms) > 0;
	double deadline = now_s() + timeout_ms / 1e3;
	for (;;) {
		np_progress(b);
		if (np_poll(&p, 1, 0) > 0)
			return 1;
		double left = deadline - now_s();
		if (left <= 0 || stopping)
			return 0;
		if (b->epfd < 0)
			continue;   /* np-cable: both stacks are ours; spin until the deadline */
		/* np-tap event loop: sleep until the TAP, a wake-up, the socket or the next timer. */
		int ms = (int)(left * 1e3) + 1;
		uint64_t next = np_stack_next_timer(b->st[0]), now = np_stack_now(b->st[0]);
		if (next != UINT64_MAX)
			ms = next <= now ? 0 : ((int)((next - now) / 1000000) + 1 < ms ? (int)((next - now) / 1000000) + 1 : ms);
		struct epoll_event ev[4];
		epoll_wait(b->epfd, ev, 4, ms);
	}
}

static void backend_np_common(struct backend *b, const char *name)
{
	*b = (struct backend){
		.name = name, .socket = np_socket_side, .bind = np_bind, .connect = np_connect, .listen = np_listen,
		.accept = np_accept, .sendto = np_sendto, .recvfrom = np_recvfrom, .setsockopt = np_setsockopt,
		.close = np_close, .set_nonblock = np_set_nonblock, .wait = np_wait, .progress = np_progress,
		.send_batch = np_send_batch, .recv_batch = np_recv_batch, .sendmmsg = np_sendmmsg,
		.recvmmsg = np_recvmmsg, .epfd = -1,
	};
}

static struct np_stack *new_stack(const char *name)
{
	struct np_stack_config cfg = { .name = name };
	struct np_stack *s = np_stack_create(&cfg);
	if (!s)
		die("np_stack_create failed");
	return s;
}

static void backend_np_tap(struct backend *b, const struct opts *o)
{
	int err = 0;
	backend_np_common(b, "np-tap");
	if (!o->tap || !o->addr)
		die("--backend np-tap needs --tap IF --addr A.B.C.D/N");
	b->st[0] = new_stack("npload");
	b->nst = 1;
	struct np_dev *d = np_tap_open_flags(b->st[0], o->tap, o->offload ? NP_TAP_VNET_HDR : 0, &err);
	if (!d)
		die("cannot open TAP %s: %s", o->tap, strerror(-err));
	if (o->offload && np_dev_set_offload(d, 1) != 1)
		die("cannot turn offloads on on TAP %s", o->tap);
	if ((err = np_addr_add(d, o->addr)) < 0 || (o->host_addr && (err = np_tap_set_host_addr(d, o->host_addr)) < 0))
		die("cannot configure %s: %s", o->tap, strerror(-err));
	char a[32];
	snprintf(a, sizeof(a), "%s", o->addr);
	*strchr(a, '/') = 0;
	inet_pton(AF_INET, a, &b->addr[0]);
	b->addr[1] = b->addr[0];
	b->polled = o->np_loop && !strcmp(o->np_loop, "poll");
	if (b->polled) {
		/* np_stack_fd: readable when the TAP has frames or another thread raised an interrupt. */
		b->epfd = epoll_create1(0);
		struct epoll_event ev = { .events = EPOLLIN };
		epoll_ctl(b->epfd, EPOLL_CTL_ADD, np_stack_fd(b->st[0]), &ev);
	} else if ((err = np_stack_start(b->st[0])) < 0) {
		die("np_stack_start: %s", strerror(-err));
	}
}

static void backend_np_cable(struct backend *b, const struct opts *o)
{
	static const char *const addrs[2] = { "10.203.0.1/24", "10.203.0.2/24" };
	struct np_dev *d[2];
	backend_np_common(b, "np-cable");
	b->st[0] = new_stack("a");
	b->st[1] = new_stack("b");
	b->nst = 2;
	if (np_cable_create(b->st[0], "eth0", b->st[1], "eth0", &d[0], &d[1]) < 0 || np_addr_add(d[0], addrs[0]) < 0 ||
	    np_addr_add(d[1], addrs[1]) < 0)
		die("cannot build two stacks on a cable");
	if (o->offload && (np_dev_set_offload(d[0], 1) != 1 || np_dev_set_offload(d[1], 1) != 1))
		die("cannot turn offloads on on the cable");
	inet_pton(AF_INET, "10.203.0.1", &b->addr[0]);
	inet_pton(AF_INET, "10.203.0.2", &b->addr[1]);
	b->polled = !(o->np_loop && !strcmp(o->np_loop, "thread"));
	if (!b->polled && (np_stack_start(b->st[0]) < 0 || np_stack_start(b->st[1]) < 0))
		die("np_stack_start failed");
}

/* netpath on an existing interface through AF_PACKET (--iface IF --addr A/N), polled or threaded like np-tap. */
static void backend_np_afpacket(struct backend *b, const struct opts *o)
{
	int err = 0;
	backend_np_common(b, "np-afpacket");
	if (!o->iface || !o->addr)
		die("--backend np-afpacket needs --iface IF --addr A.B.C.D/N");
	b->st[0] = new_stack("npload");
	b->nst = 1;
	struct np_dev *d = np_af_packet_open(b->st[0], o->iface, &err);
	if (!d)
		die("cannot open %s with AF_PACKET: %s", o->iface, strerror(-err));
	if (o->offload && np_dev_set_offload(d, 1) != 1)
		die("AF_PACKET has no offloads in netpath (--offload off)");
	if ((err = np_addr_add(d, o->addr)) < 0)
		die("cannot configure %s: %s", o->iface, strerror(-err));
	char a[32];
	snprintf(a, sizeof(a), "%s", o->addr);
	*strchr(a, '/') = 0;
	inet_pton(AF_INET, a, &b->addr[0]);
	b->addr[1] = b->addr[0];
	b->polled = o->np_loop && !strcmp(o->np_loop, "poll");
	if (b->polled) {
		b->epfd = epoll_create1(0);
		struct epoll_event ev = { .events = EPOLLIN };
		epoll_ctl(b->epfd, EPOLL_CTL_ADD, np_stack_fd(b->st[0]), &ev);
	} else if ((err = np_stack_start(b->st[0])) < 0) {
		die("np_stack_start: %s", strerror(-err));
	}
}

static void backend_open(struct backend *b, const struct opts *o)
{
	if (!strcmp(o->backend, "kernel"))
		backend_kernel(b);
	else if (!strcmp(o->backend, "np-tap"))
		backend_np_tap(b, o);
	else if (!strcmp(o->backend, "np-cable"))
		backend_np_cable(b, o);
	else if (!strcmp(o->backend, "np-afpacket"))
		backend_np_afpacket(b, o);
	else
		die("unknown backend %s (kernel, np-tap, np-cable, np-afpacket)", o->backend);
	if (o->nofd && b->nst)
		b->type_flags = NP_SOCK_NOFD;
}

static void backend_close(struct backend *b)
{
	/* NPLOAD_COUNTERS=1: netpath's counters and drops on stderr, to see where a run lost packets. */
	const char *pc = getenv("NPLOAD_COUNTERS");
	for (int i = 0; pc && *pc == '1' && i < b->nst; i++)
		np_stack_print_counters(b->st[i], stderr);
	for (int i = 0; i < b->nst; i++)
		np_stack_destroy(b->st[i]);   /* stops its thread, closes its sockets */
	if (b->epfd >= 0)
		close(b->epfd);
}

static int sock_type(const struct opts *o)
{
	if (!strcmp(o->proto, "udp"))
		return SOCK_DGRAM;
	if (!strcmp(o->proto, "tcp"))
		return SOCK_STREAM;
	die("unknown --proto %s", o->proto);
	return -1;
}

static void set_rcvtimeo(struct backend *b, int fd, int ms)
{
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
	b->setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

static struct sockaddr_in sin_of(struct in_addr a, int port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr = a };
	return sin;
}

/* Sends all len bytes on a stream socket (non-blocking ones wait for room). */
static int send_all(struct backend *b, int fd, const char *buf, size_t len)
{
	size_t done = 0;
	while (done < len && !stopping) {
		ssize_t n = b->sendto(fd, buf + done, len - done, MSG_NOSIGNAL, NULL, 0);
		if (n > 0) {
			done += (size_t)n;
		} else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			b->wait(b, fd, POLLOUT, 100);
		} else {
			return -1;
		}
	}
	return 0;
}

/* ---- echo-server ------------------------------------------------------------------ */

/*
 * UDP: every datagram goes back to its sender (RFC 862). TCP: one
 * connection at a time, every byte goes back. Kernel and np-tap in thread
 * mode use blocking calls (as `netpath run --serve echo` does); a polled
 * netpath runs as an event loop over non-blocking calls.
 */
static int mode_echo_server(const struct opts *o)
{
	struct backend b;
	backend_open(&b, o);
	int type = sock_type(o);
	static char buf[MAX_DGRAM];
	unsigned long packets = 0, bytes = 0;
	double t0 = now_s();
	int one = 1;

	int fd = b.socket(&b, 1, type);
	if (fd < 0)
		die("socket: %s", strerror(errno));
	b.setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* Accepted connections inherit it, as Linux's sk_clone_lock copies it. */
	if (o->busy_poll && b.setsockopt(fd, SOL_SOCKET, SO_PREFER_BUSY_POLL, &one, sizeof(one)) < 0)
		die("SO_PREFER_BUSY_POLL: %s", strerror(errno));
	struct sockaddr_in any = sin_of((struct in_addr){ 0 }, o->port);
	if (b.bind(fd, (struct sockaddr *)&any, sizeof(any)) < 0)
		die("bind port %d: %s", o->port, strerror(errno));
	if (type == SOCK_STREAM && b.listen(fd, 16) < 0)
		die("listen: %s", strerror(errno));
	if (b.polled)
		b.set_nonblock(fd);
	else
		set_rcvtimeo(&b, fd, 100);
	fprintf(stderr, "npload: echo-server ready (%s %s port %d)\n", b.name, o->proto, o->port);

	int cfd = -1;
	while (!stopping && (o->duration <= 0 || now_s() - t0 < o->duration)) {
		int rfd = fd;
		if (type == SOCK_STREAM) {
			if (cfd < 0) {
				if (b.polled && !b.wait(&b, fd, POLLIN, 100))
					continue;
				cfd = b.accept(fd, NULL, NULL);
				if (cfd < 0)
					continue;
				b.setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
				if (b.polled)
					b.set_nonblock(cfd);
				else
					set_rcvtimeo(&b, cfd, 100);
			}
			rfd = cfd;
		}
		if (b.polled && !b.wait(&b, rfd, POLLIN, 100))
			continue;
		if (type == SOCK_DGRAM && o->mmsg > 0) {
			/* Batches: everything waiting (up to --mmsg) in, the same datagrams back out. */
			static char bufs[BATCH_MAX][MAX_DGRAM];
			struct mmsghdr m[BATCH_MAX];
			struct iovec iov[BATCH_MAX];
			struct sockaddr_in from[BATCH_MAX];
			int want = o->mmsg < BATCH_MAX ? o->mmsg : BATCH_MAX;
			for (;;) {
				memset(m, 0, sizeof(m[0]) * (size_t)want);
				for (int i = 0; i < want; i++) {
					iov[i] = (struct iovec){ .iov_base = bufs[i], .iov_len = sizeof(bufs[i]) };
					m[i].msg_hdr = (struct msghdr){ .msg_name = &from[i], .msg_namelen = sizeof(from[i]),
									.msg_iov = &iov[i], .msg_iovlen = 1 };
				}
				int got = b.recvmmsg(rfd, m, (unsigned)want, b.polled ? MSG_DONTWAIT : MSG_WAITFORONE, NULL);
				if (got <= 0)
					break;
				for (int i = 0; i < got; i++) {
					iov[i].iov_len = m[i].msg_len;
					bytes += m[i].msg_len;
				}
				packets += (unsigned long)got;
				for (int sent = 0; sent < got;) {
					int r = b.sendmmsg(rfd, m + sent, (unsigned)(got - sent), 0);
					if (r <= 0)
						break;
					sent += r;
				}
				if (!b.polled)
					break;
			}
			b.progress(&b);
			continue;
		}
		for (;;) {
			struct sockaddr_in from;
			socklen_t fl = sizeof(from);
			ssize_t n = b.recvfrom(rfd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);
			if (n < 0)
				break;   /* EAGAIN (timeout or drained) or EINTR: check the flags */
			if (type == SOCK_STREAM) {
				if (n == 0 || send_all(&b, rfd, buf, (size_t)n) < 0) {
					b.close(cfd);
					cfd = -1;
					break;
				}
				bytes += (unsigned long)n;
				packets += (unsigned long)n / (o->size ? (unsigned long)o->size : 1);
			} else {
				packets++;
				bytes += (unsigned long)n;
				b.sendto(rfd, buf, (size_t)n, 0, (struct sockaddr *)&from, fl);
			}
			if (!b.polled)
				break;
		}
		b.progress(&b);
	}
	double cpu = cpu_s();
	long csw = ctx_switches();
	printf("npload mode=echo-server backend=%s proto=%s packets=%lu bytes=%lu cpu_s=%.6f cpu_ns_per_pkt=%.1f "
	       "ctx_switches=%ld ctx_switches_per_pkt=%.3f\n",
	       b.name, o->proto, packets, bytes, cpu, packets ? cpu * 1e9 / (double)packets : 0.0, csw,
	       packets ? (double)csw / (double)packets : 0.0);
	fflush(stdout);
	if (cfd >= 0)
		b.close(cfd);
	b.close(fd);
	backend_close(&b);
	return 0;
}

/* ---- echo-client ------------------------------------------------------------------ */

/*
 * Keeps --window requests of --size bytes in flight and counts the replies
 * that come back during --duration after --warmup. A window that stays
 * silent for 50 ms is written off as lost and refilled.
 */
static int mode_echo_client(const struct opts *o)
{
	struct backend b;
	backend_open(&b, o);
	int type = sock_type(o);
	struct sockaddr_in dst;
	parse_dst(o->dst, &dst);
	static char out[MAX_DGRAM], in[MAX_DGRAM];
	memset(out, 'x', sizeof(out));
	unsigned long sent = 0, received = 0, lost = 0, win_rx = 0;
	size_t size = (size_t)o->size, pending_bytes = 0;
	int one = 1;

	int fd = b.socket(&b, 0, type);
	if (fd < 0)
		die("socket: %s", strerror(errno));
	if (type == SOCK_STREAM)
		b.setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (b.connect(fd, (struct sockaddr *)&dst, sizeof(dst)) < 0)
		die("connect %s: %s", o->dst, strerror(errno));
	b.set_nonblock(fd);

	double t_start = now_s(), t_win = t_start + o->warmup, t_end = t_win + o->duration;
	double cpu_win = -1, t_measured_start = 0;
	long outstanding = 0;
	while (!stopping) {
		double t = now_s();
		if (cpu_win < 0 && t >= t_win) {
			cpu_win = cpu_s();
			t_measured_start = t;
			win_rx = received;
		}
		if (t >= t_end)
			break;
		while (type == SOCK_DGRAM && outstanding < o->window) {
			/* UDP: the whole missing part of the window in one batch (sendmmsg on the kernel). */
			int k = b.send_batch(fd, out, size, (int)(o->window - outstanding));
			if (k <= 0)
				break;
			outstanding += k;
			sent += (unsigned long)k;
		}
		while (type == SOCK_STREAM && outstanding < o->window) {
			ssize_t n = b.sendto(fd, out, size, MSG_NOSIGNAL, NULL, 0);
			if (n < 0) {
				/* EAGAIN, ENOBUFS: the queue is full, read first; ECONNREFUSED: an
				 * ICMP error from before the server was up, try again next round. */
				break;
			}
			if ((size_t)n != size) {
				/* Keep framing simple: finish this request before counting it. */
				if (send_all(&b, fd, out + n, size - (size_t)n) < 0)
					die("send: %s", strerror(errno));
			}
			outstanding++;
			sent++;
		}
		b.progress(&b);
		if (!b.wait(&b, fd, POLLIN, 50)) {
			lost += (unsigned long)outstanding;
			outstanding = 0;
			continue;
		}
		while (type == SOCK_DGRAM) {
			int k = b.recv_batch(fd, in, sizeof(in), BATCH_MAX);
			if (k <= 0)
				break;
			received += (unsigned long)k;
			outstanding = outstanding > k ? outstanding - k : 0;
		}
		while (type == SOCK_STREAM) {
			ssize_t n = b.recvfrom(fd, in, sizeof(in), 0, NULL, NULL);
			if (n < 0)
				break;
			if (n == 0)
				die("the server closed the connection");
			pending_bytes += (size_t)n;
			while (pending_bytes >= size && size) {
				pending_bytes -= size;
				received++;
				if (outstanding > 0)
					outstanding--;
			}
		}
	}
	double t_stop = now_s(), cpu = cpu_s();
	if (cpu_win < 0)
		die("stopped before the measurement began");
	unsigned long got = received - win_rx;
	double secs = t_stop - t_measured_start;
	printf("npload mode=echo-client backend=%s proto=%s size=%zu window=%d sent=%lu received=%lu lost=%lu "
	       "seconds=%.3f pps=%.1f cpu_s=%.6f cpu_ns_per_pkt=%.1f\n",
	       b.name, o->proto, size, o->window, sent, got, lost, secs, (double)got / secs, cpu - cpu_win,
	       got ? (cpu - cpu_win) * 1e9 / (double)got : 0.0);
	fflush(stdout);
	b.close(fd);
	backend_close(&b);
	return got ? 0 : 1;
}

/* ---- bulk ----------------------------------------------------------------------------- */

/*
 * One thread sends --burst datagrams (or a 64 KiB chunk of stream) of
 * --size bytes from side 0, lets polled stacks run, and drains side 1.
 * Throughput is the payload received per second (goodput).
 */
static int mode_bulk(const struct opts *o)
{
	struct backend b;
	backend_open(&b, o);
	int type = sock_type(o);
	static char out[MAX_DGRAM], in[MAX_DGRAM];
	memset(out, 'y', sizeof(out));
	int one = 1;
	size_t size = (size_t)o->size;

	int rx = b.socket(&b, 1, type);
	int tx = b.socket(&b, 0, type);
	if (rx < 0 || tx < 0)
		die("socket: %s", strerror(errno));
	struct sockaddr_in at = sin_of(b.addr[1], o->port);
	if (b.bind(rx, (struct sockaddr *)&at, sizeof(at)) < 0)
		die("bind port %d: %s", o->port, strerror(errno));
	if (type == SOCK_STREAM) {
		if (b.listen(rx, 4) < 0)
			die("listen: %s", strerror(errno));
		b.set_nonblock(tx);
		if (b.connect(tx, (struct sockaddr *)&at, sizeof(at)) < 0 && errno != EINPROGRESS)
			die("connect: %s", strerror(errno));
		if (!b.wait(&b, rx, POLLIN, 2000))
			die("no connection to accept");
		int a = b.accept(rx, NULL, NULL);
		if (a < 0)
			die("accept: %s", strerror(errno));
		b.close(rx);
		rx = a;
		b.setsockopt(tx, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	} else if (b.connect(tx, (struct sockaddr *)&at, sizeof(at)) < 0) {
		die("connect: %s", strerror(errno));
	}
	b.set_nonblock(tx);
	b.set_nonblock(rx);

	unsigned long dgrams = 0, win_dgrams = 0, sent = 0;
	unsigned long long bytes = 0, win_bytes = 0;
	double t_start = now_s(), t_win = t_start + o->warmup, t_end = t_win + o->duration;
	double cpu_win = -1, t_measured_start = 0;
	for (unsigned long iter = 0; !stopping; iter++) {
		if ((iter & 15) == 0) {
			double t = now_s();
			if (cpu_win < 0 && t >= t_win) {
				cpu_win = cpu_s();
				t_measured_start = t;
				win_dgrams = dgrams;
				win_bytes = bytes;
			}
			if (t >= t_end)
				break;
		}
		for (int i = 0; i < o->burst; i++) {
			ssize_t n = b.sendto(tx, out, type == SOCK_STREAM ? 65536 : size, MSG_NOSIGNAL, NULL, 0);
			if (n < 0)
				break;
			sent++;
			if (type == SOCK_STREAM)
				break;
		}
		b.progress(&b);
		for (;;) {
			ssize_t n = b.recvfrom(rx, in, type == SOCK_STREAM ? sizeof(in) : size, 0, NULL, NULL);
			if (n <= 0)
				break;
			bytes += (unsigned long long)n;
			dgrams++;
		}
	}
	double t_stop = now_s(), cpu = cpu_s();
	if (cpu_win < 0)
		die("stopped before the measurement began");
	double secs = t_stop - t_measured_start;
	unsigned long long got = bytes - win_bytes;
	unsigned long nd = type == SOCK_STREAM ? (unsigned long)(got / (size ? size : 1)) : dgrams - win_dgrams;
	printf("npload mode=bulk backend=%s proto=%s size=%zu burst=%d datagrams=%lu bytes=%llu seconds=%.3f "
	       "gbps=%.3f cpu_s=%.6f cpu_ns_per_pkt=%.1f sent_total=%lu\n",
	       b.name, o->proto, size, o->burst, nd, got, secs, (double)got * 8 / secs / 1e9, cpu - cpu_win,
	       nd ? (cpu - cpu_win) * 1e9 / (double)nd : 0.0, sent);
	fflush(stdout);
	b.close(tx);
	b.close(rx);
	backend_close(&b);
	return got ? 0 : 1;
}

/* ---- sock-mem --------------------------------------------------------------------------- */

static long long malloc_in_use(void)
{
	struct mallinfo2 mi = mallinfo2();
	return (long long)(mi.uordblks + mi.hblkhd);
}

/* Slab + kernel stack + page tables: where sockets, files and eventfds live in the kernel. */
static long long kernel_slab_bytes(void)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char line[256];
	long long kb = 0, v;
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Slab: %lld kB", &v) == 1)
			kb += v;
	fclose(f);
	return kb * 1024;
}

/*
 * Memory per idle socket: UDP sockets bound to ephemeral ports (or unbound
 * with --no-bind); TCP: established connections, both ends in this process,
 * so the cost is divided over 2 * count ends.
 */
static int mode_sock_mem(const struct opts *o)
{
	struct backend b;
	backend_open(&b, o);
	int type = sock_type(o);
	int n = o->count;
	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
	int *fds = calloc((size_t)n * 2 + 1, sizeof(int));
	if (!fds)
		die("out of memory");
	/* Warm: the first socket grows tables (fd table, hashes) that are not per-socket. */
	int w = b.socket(&b, 0, type);
	if (w < 0) {
		if (errno == EPROTONOSUPPORT || errno == ESOCKTNOSUPPORT)
			return EXIT_UNSUPPORTED;
		die("socket: %s", strerror(errno));
	}
	b.close(w);

	int ends = 0, lfd = -1;
	struct sockaddr_in at = sin_of(b.addr[1], o->port);
	if (type == SOCK_STREAM) {
		lfd = b.socket(&b, 1, type);
		int one = 1;
		b.setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (lfd < 0 || b.bind(lfd, (struct sockaddr *)&at, sizeof(at)) < 0 || b.listen(lfd, 4096) < 0)
			die("listener: %s", strerror(errno));
		b.set_nonblock(lfd);
	}
	long long m0 = malloc_in_use(), k0 = kernel_slab_bytes();
	for (int i = 0; i < n; i++) {
		int fd = b.socket(&b, 0, type);
		if (fd < 0)
			die("socket %d: %s (raise ulimit -n)", i, strerror(errno));
		fds[ends++] = fd;
		if (type == SOCK_DGRAM && o->bind_sockets) {
			struct sockaddr_in any = sin_of((struct in_addr){ 0 }, 0);
			if (b.bind(fd, (struct sockaddr *)&any, sizeof(any)) < 0)
				die("bind %d: %s", i, strerror(errno));
		} else if (type == SOCK_STREAM) {
			b.set_nonblock(fd);
			if (b.connect(fd, (struct sockaddr *)&at, sizeof(at)) < 0 && errno != EINPROGRESS)
				die("connect %d: %s", i, strerror(errno));
			b.progress(&b);
			for (;;) {
				int a = b.accept(lfd, NULL, NULL);
				if (a < 0)
					break;
				fds[ends++] = a;
			}
		}
	}
	if (type == SOCK_STREAM) {
		double deadline = now_s() + 10;
		while (ends < 2 * n && now_s() < deadline) {
			b.wait(&b, lfd, POLLIN, 100);
			int a = b.accept(lfd, NULL, NULL);
			if (a >= 0)
				fds[ends++] = a;
		}
		if (ends < 2 * n)
			die("only %d of %d connections established", ends - n, n);
	}
	b.progress(&b);
	long long m1 = malloc_in_use(), k1 = kernel_slab_bytes();
	double per_m = (double)(m1 - m0) / ends, per_k = (double)(k1 - k0) / ends;
	printf("npload mode=sock-mem backend=%s proto=%s sockets=%d malloc_bytes_per_socket=%.1f "
	       "kernel_bytes_per_socket=%.1f bytes_per_socket=%.1f\n",
	       b.name, o->proto, ends, per_m, per_k, per_m + per_k);
	fflush(stdout);
	for (int i = 0; i < ends; i++)
		b.close(fds[i]);
	if (lfd >= 0)
		b.close(lfd);
	free(fds);
	backend_close(&b);
	return 0;
}

/* ---- connection figures: crr-client, rr-scale, conn-max ----------------------------- */

/* As many descriptors as the system allows (root may raise the hard limit up to fs.nr_open). */
static void raise_nofile(void)
{
	struct rlimit rl;
	long long nr_open = 0;
	FILE *f = fopen("/proc/sys/fs/nr_open", "r");
	if (f) {
		if (fscanf(f, "%lld", &nr_open) != 1)
			nr_open = 0;
		fclose(f);
	}
	getrlimit(RLIMIT_NOFILE, &rl);
	if (nr_open > 0 && (rlim_t)nr_open > rl.rlim_max) {
		struct rlimit want = { .rlim_cur = (rlim_t)nr_open, .rlim_max = (rlim_t)nr_open };
		if (setrlimit(RLIMIT_NOFILE, &want) == 0)
			return;
	}
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
}

/* TCP segments sent by netpath's stacks so far (0 for the kernel). */
static uint64_t np_segs(struct backend *b)
{
	uint64_t n = 0;
	for (int i = 0; i < b->nst; i++)
		n += np_stack_mib(b->st[i], NP_MIB_TcpOutSegs);
	return n;
}

/* Waits for fd to have events (up to ms); 0 if it never did. */
static int wait_for(struct backend *b, int fd, short events, int ms)
{
	return b->wait(b, fd, events, ms);
}

/* Receives exactly len bytes from a non-blocking stream socket, waiting as needed; -1 on EOF/error. */
static int recv_exact(struct backend *b, int fd, char *buf, size_t len)
{
	size_t got = 0;
	while (got < len && !stopping) {
		ssize_t n = b->recvfrom(fd, buf + got, len - got, 0, NULL, NULL);
		if (n > 0) {
			got += (size_t)n;
		} else if (n == 0) {
			return -1;
		} else if (errno == EAGAIN || errno == EINTR) {
			b->progress(b);
			if (!wait_for(b, fd, POLLIN, 1000))
				return -1;   /* a second without data: the connection is stuck */
		} else {
			return -1;
		}
	}
	return got == len ? 0 : -1;
}

/*
 * connect + 1-byte request + 1-byte reply + close, one connection at a time,
 * against an echo-server (which serves connections one after another). The
 * client closes first, so TIME_WAIT stays on the client's side.
 */
static int mode_crr_client(const struct opts *o)
{
	struct backend b;
	backend_open(&b, o);
	struct sockaddr_in dst;
	parse_dst(o->dst, &dst);
	char c = 'r', in[16];
	int one = 1;
	unsigned long conns = 0, win_conns = 0, failed = 0;
	double t_start = now_s(), t_win = t_start + o->warmup, t_end = t_win + o->duration;
	double cpu_win = -1, t_measured_start = 0;
	while (!stopping) {
		double t = now_s();
		if (cpu_win < 0 && t >= t_win) {
			cpu_win = cpu_s();
			t_measured_start = t;
			win_conns = conns;
		}
		if (t >= t_end)
			break;
		int fd = b.socket(&b, 0, SOCK_STREAM);
		if (fd < 0)
			die("socket: %s", strerror(errno));
		b.setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		b.set_nonblock(fd);
		int ok = 0;
		if (b.connect(fd, (struct sockaddr *)&dst, sizeof(dst)) == 0 || errno == EINPROGRESS) {
			b.progress(&b);
			if (wait_for(&b, fd, POLLOUT, 1000) && send_all(&b, fd, &c, 1) == 0 &&
			    recv_exact(&b, fd, in, 1) == 0)
				ok = 1;
		}
		b.close(fd);
		if (ok)
			conns++;
		else if (++failed > 100)
			die("100 connections failed (last errno %s)", strerror(errno));
	}
	double t_stop = now_s(), cpu = cpu_s();
	if (cpu_win < 0)
		die("stopped before the measurement began");
	unsigned long got = conns - win_conns;
	double secs = t_stop - t_measured_start;
	printf("npload mode=crr-client backend=%s connections=%lu failed=%lu seconds=%.3f pps=%.1f cpu_s=%.6f "
	       "cpu_ns_per_pkt=%.1f\n",
	       b.name, got, failed, secs, (double)got / secs, cpu - cpu_win, got ? (cpu - cpu_win) * 1e9 / (double)got : 0.0);
	fflush(stdout);
	backend_close(&b);
	return got ? 0 : 1;
}

/*
 * n established connections from side 0 to side 1 of this process, each
 * paired with its accepted end: cli[i] <-> srv[i]. Listeners on nl ports
 * from o->port up (20000 connections each: one peer address and port offer
 * about 28000 ephemeral ports). Stops early when stop_bytes > 0 and malloc +
 * slab grew by that much (conn-max); returns the number of pairs.
 */
struct pairs {
	int *cli, *srv, *lfd;
	int n, nl;
	long long m0, k0;          /* malloc and slab before the first connection */
	long long bytes_at_n;      /* growth when the last checkpoint below the limit was taken */
	int n_below;               /* pairs at that checkpoint */
	const char *stop_reason;
};

#define PAIRS_PER_LISTENER 20000

static void pairs_open(struct backend *b, const struct opts *o, struct pairs *p, int n, long long stop_bytes)
{
	int one = 1;
	memset(p, 0, sizeof(*p));
	p->nl = (n + PAIRS_PER_LISTENER - 1) / PAIRS_PER_LISTENER;
	p->cli = calloc((size_t)n + 1, sizeof(int));
	p->srv = calloc((size_t)n + 1, sizeof(int));
	p->lfd = calloc((size_t)p->nl + 1, sizeof(int));
	if (!p->cli || !p->srv || !p->lfd)
		die("out of memory");
	/* Warm: the first socket grows tables (fd table, hashes) that are not per-connection. */
	int w = b->socket(b, 0, SOCK_STREAM);
	if (w < 0)
		die("socket: %s", strerror(errno));
	b->close(w);
	for (int l = 0; l < p->nl; l++) {
		struct sockaddr_in at = sin_of(b->addr[1], o->port + l);
		int fd = b->socket(b, 1, SOCK_STREAM);
		if (fd < 0)
			die("socket: %s", strerror(errno));
		b->setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (b->bind(fd, (struct sockaddr *)&at, sizeof(at)) < 0 || b->listen(fd, 4096) < 0)
			die("listener on port %d: %s", o->port + l, strerror(errno));
		b->set_nonblock(fd);
		p->lfd[l] = fd;
	}
	p->m0 = malloc_in_use();
	p->k0 = kernel_slab_bytes();
	p->stop_reason = "count";
	for (int i = 0; i < n && !stopping; i++) {
		int l = i / PAIRS_PER_LISTENER;
		struct sockaddr_in at = sin_of(b->addr[1], o->port + l);
		int fd = b->socket(b, 0, SOCK_STREAM);
		if (fd < 0) {
			p->stop_reason = errno == EMFILE || errno == ENFILE ? "descriptors" : "socket";
			fprintf(stderr, "npload: socket %d: %s\n", i, strerror(errno));
			break;
		}
		b->set_nonblock(fd);
		if (b->connect(fd, (struct sockaddr *)&at, sizeof(at)) < 0 && errno != EINPROGRESS) {
			fprintf(stderr, "npload: connect %d: %s\n", i, strerror(errno));
			b->close(fd);
			p->stop_reason = "connect";
			break;
		}
		b->progress(b);
		int a = b->accept(p->lfd[l], NULL, NULL);
		if (a < 0 && wait_for(b, p->lfd[l], POLLIN, 2000))
			a = b->accept(p->lfd[l], NULL, NULL);
		if (a < 0) {
			fprintf(stderr, "npload: accept %d: %s\n", i, strerror(errno));
			b->close(fd);
			p->stop_reason = errno == EMFILE || errno == ENFILE ? "descriptors" : "accept";
			break;
		}
		p->cli[i] = fd;
		p->srv[i] = a;
		p->n = i + 1;
		if (stop_bytes > 0 && (p->n % 1000) == 0) {
			long long grown = malloc_in_use() - p->m0 + kernel_slab_bytes() - p->k0;
			if (grown >= stop_bytes) {
				p->stop_reason = "memory";
				break;
			}
			p->n_below = p->n;
			p->bytes_at_n = grown;
		}
	}
	b->progress(b);
}

static void pairs_close(struct backend *b, struct pairs *p)
{
	for (int i = 0; i < p->n; i++) {
		b->close(p->cli[i]);
		b->close(p->srv[i]);
	}
	for (int l = 0; l < p->nl; l++)
		b->close(p->lfd[l]);
	free(p->cli);
	free(p->srv);
	free(p->lfd);
}

/*
 * Request/response over --count connections, one 1-byte transaction at a
 * time, visiting the connections in turn: the work per transaction is the
 * same whatever the count, except what the count itself costs (lookups over
 * more sockets, more timers, colder caches). Side 0 asks, side 1 answers.
 */
static int mode_rr_scale(const struct opts *o)
{
	struct backend b;
	backend_open(&b, o);
	raise_nofile();
	int n = o->count > 0 ? o->count : 1, one = 1;
	struct pairs p;
	pairs_open(&b, o, &p, n, 0);
	if (p.n < n)
		die("only %d of %d connections established", p.n, n);
	for (int i = 0; i < n; i++) {
		int fds[2] = { p.cli[i], p.srv[i] };
		for (int k = 0; k < 2; k++) {
			b.set_nonblock(fds[k]);
			b.setsockopt(fds[k], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
			if (o->keepalive)
				b.setsockopt(fds[k], SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
		}
	}
	char c = 'q', in[16];
	unsigned long trans = 0, win_trans = 0;
	uint64_t segs0 = 0;
	double t_start = now_s(), t_win = t_start + o->warmup, t_end = t_win + o->duration;
	double cpu_win = -1, t_measured_start = 0;
	for (int i = 0; !stopping; i = i + 1 == n ? 0 : i + 1) {
		if ((trans & 63) == 0) {
			double t = now_s();
			if (cpu_win < 0 && t >= t_win) {
				cpu_win = cpu_s();
				t_measured_start = t;
				win_trans = trans;
				segs0 = np_segs(&b);
			}
			if (t >= t_end)
				break;
		}
		if (b.sendto(p.cli[i], &c, 1, MSG_NOSIGNAL, NULL, 0) != 1)
			die("send on connection %d: %s", i, strerror(errno));
		b.progress(&b);
		if (recv_exact(&b, p.srv[i], in, 1) < 0)
			die("no request on connection %d", i);
		if (b.sendto(p.srv[i], in, 1, MSG_NOSIGNAL, NULL, 0) != 1)
			die("reply on connection %d: %s", i, strerror(errno));
		b.progress(&b);
		if (recv_exact(&b, p.cli[i], in, 1) < 0)
			die("no reply on connection %d", i);
		trans++;
	}
	double t_stop = now_s(), cpu = cpu_s();
	if (cpu_win < 0)
		die("stopped before the measurement began");
	unsigned long got = trans - win_trans;
	double secs = t_stop - t_measured_start;
	uint64_t segs = np_segs(&b) - segs0;
	printf("npload mode=rr-scale backend=%s connections=%d keepalive=%d transactions=%lu seconds=%.3f pps=%.1f "
	       "cpu_s=%.6f cpu_ns_per_pkt=%.1f segs_per_trans=%.2f\n",
	       b.name, n, o->keepalive, got, secs, (double)got / secs, cpu - cpu_win,
	       got ? (cpu - cpu_win) * 1e9 / (double)got : 0.0, got && b.nst ? (double)segs / (double)got : 0.0);
	fflush(stdout);
	pairs_close(&b, &p);
	backend_close(&b);
	return got ? 0 : 1;
}

/*
 * How many idle established connections (both ends in this process) fit in
 * --mem-limit bytes of malloc + kernel slab growth; --count caps the attempt.
 * Stops at the limit, or earlier when descriptors, ports or memory run out
 * (reason=...).
 */
static int mode_conn_max(const struct opts *o)
{
	struct backend b;
	backend_open(&b, o);
	raise_nofile();
	long long limit = o->mem_limit > 0 ? o->mem_limit : 1LL << 30;
	struct pairs p;
	double t0 = now_s();
	pairs_open(&b, o, &p, o->count, limit);
	double secs = now_s() - t0;
	long long grown = malloc_in_use() - p.m0 + kernel_slab_bytes() - p.k0;
	long long m = malloc_in_use() - p.m0;
	/* At the limit: the last checkpoint below it; otherwise everything opened. */
	int held = !strcmp(p.stop_reason, "memory") ? p.n_below : p.n;
	long long bytes = !strcmp(p.stop_reason, "memory") ? p.bytes_at_n : grown;
	printf("npload mode=conn-max backend=%s limit=%lld connections=%d reason=%s bytes=%lld malloc_bytes=%lld "
	       "bytes_per_connection=%.1f seconds=%.3f\n",
	       b.name, limit, held, p.stop_reason, bytes, m, held ? (double)bytes / held : 0.0, secs);
	fflush(stdout);
	pairs_close(&b, &p);
	backend_close(&b);
	return held ? 0 : 1;
}

/* ---- tap-reflect -------------------------------------------------------------------------- */

static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }

/*
 * The most any stack on a TAP can do: read a frame, write one back. ARP
 * requests get a reply (so the kernel resolves us); IPv4 UDP frames go back
 * with MACs, addresses and ports swapped, which leaves both checksums valid
 * (the one's-complement sum does not depend on the order of its words).
 */
static int mode_tap_reflect(const struct opts *o)
{
	static const uint8_t mymac[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x02 };
	uint8_t f[2048], tmp[16];
	unsigned long frames = 0, other = 0;
	if (!o->tap)
		die("tap-reflect needs --tap IF");
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		die("/dev/net/tun: %s", strerror(errno));
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", o->tap);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0)
		die("TUNSETIFF %s: %s", o->tap, strerror(errno));
	fprintf(stderr, "npload: tap-reflect ready on %s\n", o->tap);
	while (!stopping) {
		ssize_t n = read(fd, f, sizeof(f));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("read: %s", strerror(errno));
		}
		if (n < 14)
			continue;
		uint16_t et = get16(f + 12);
		if (et == 0x0806 && n >= 42 && get16(f + 20) == 1) {
			/* ARP request -> reply: we are whoever was asked for. */
			memcpy(f, f + 6, 6);
			memcpy(f + 6, mymac, 6);
			f[21] = 2;
			memcpy(tmp, f + 22, 10);          /* sender MAC + IP */
			memcpy(f + 22, mymac, 6);
			memcpy(f + 28, f + 38, 4);        /* we are the target IP */
			memcpy(f + 32, tmp, 10);
			other++;
		} else if (et == 0x0800 && n >= 42 && f[23] == 17) {
			size_t ihl = (size_t)(f[14] & 15) * 4;
			if (14 + ihl + 8 > (size_t)n)
				continue;
			memcpy(tmp, f, 6);
			memcpy(f, f + 6, 6);
			memcpy(f + 6, tmp, 6);
			memcpy(tmp, f + 26, 4);
			memcpy(f + 26, f + 30, 4);
			memcpy(f + 30, tmp, 4);
			uint8_t *u = f + 14 + ihl;
			memcpy(tmp, u, 2);
			memcpy(u, u + 2, 2);
			memcpy(u + 2, tmp, 2);
			frames++;
		} else {
			continue;
		}
		if (write(fd, f, (size_t)n) < 0 && errno != EINTR)
			die("write: %s", strerror(errno));
	}
	double cpu = cpu_s();
	long csw = ctx_switches();
	printf("npload mode=tap-reflect packets=%lu arp=%lu cpu_s=%.6f cpu_ns_per_pkt=%.1f ctx_switches=%ld "
	       "ctx_switches_per_pkt=%.3f\n",
	       frames, other, cpu, frames ? cpu * 1e9 / (double)frames : 0.0, csw,
	       frames ? (double)csw / (double)frames : 0.0);
	fflush(stdout);
	close(fd);
	return 0;
}

/* ---- memcpy ----------------------------------------------------------------------------------- */

/* Copies --size-byte blocks between two 1 MiB regions (cache-resident, like a socket's queue). */
static int mode_memcpy(const struct opts *o)
{
	enum { REGION = 1 << 20 };
	char *src = malloc(REGION), *dst = malloc(REGION);
	size_t size = (size_t)(o->size ? o->size : 1);
	if (!src || !dst || size > REGION)
		die("memcpy: bad size");
	memset(src, 1, REGION);
	memset(dst, 2, REGION);
	size_t slots = REGION / size, k = 0;
	unsigned long copies = 0;
	double t0 = now_s(), c0 = cpu_s(), t;
	do {
		for (int i = 0; i < 4096; i++) {
			memcpy(dst + k * size, src + k * size, size);
			if (++k == slots)
				k = 0;
		}
		copies += 4096;
		__asm__ volatile("" : : "r"(dst) : "memory");   /* the copies must happen */
		t = now_s();
	} while (t - t0 < o->duration && !stopping);
	double secs = t - t0, cpu = cpu_s() - c0;
	printf("npload mode=memcpy size=%zu copies=%lu seconds=%.3f gbps=%.3f cpu_ns_per_pkt=%.1f\n", size, copies, secs,
	       (double)copies * (double)size * 8 / secs / 1e9, cpu * 1e9 / (double)copies);
	free(src);
	free(dst);
	return 0;
}

/* ---- probe ----------------------------------------------------------------------------------------- */

static int mode_probe(const struct opts *o)
{
	struct backend b;
	backend_open(&b, o);
	int fd = b.socket(&b, 0, sock_type(o));
	int e = errno;
	if (fd >= 0)
		b.close(fd);
	backend_close(&b);
	if (fd >= 0) {
		printf("npload mode=probe backend=%s proto=%s supported=1\n", o->backend, o->proto);
		return 0;
	}
	/* The message goes last: it has spaces. */
	printf("npload mode=probe backend=%s proto=%s supported=0 error=%s\n", o->backend, o->proto, strerror(e));
	return e == EPROTONOSUPPORT || e == ESOCKTNOSUPPORT ? EXIT_UNSUPPORTED : 1;
}

/* ---- bulk TCP over a device: stream-recv, stream-send, tap-drain ---------------------------- */

/*
 * The receiving end of figures 2 and 3 (issue 6): listens on --port, takes
 * one connection, reads until EOF, SIGTERM or --duration after the first
 * byte. Goodput counts from --warmup after the first byte; CPU is per
 * 1448 bytes received (one full segment at MTU 1500).
 */
static int mode_stream_recv(const struct opts *o)
{
	struct backend b;
	backend_open(&b, o);
	static char buf[1 << 16];
	int l = b.socket(&b, 0, SOCK_STREAM), one = 1;
	struct sockaddr_in at = sin_of((struct in_addr){ 0 }, o->port);
	b.setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (o->clamp > 0 && b.setsockopt(l, IPPROTO_TCP, TCP_WINDOW_CLAMP, &o->clamp, sizeof(o->clamp)) < 0)
		die("TCP_WINDOW_CLAMP %d: %s", o->clamp, strerror(errno));
	if (l < 0 || b.bind(l, (struct sockaddr *)&at, sizeof(at)) < 0 || b.listen(l, 4) < 0)
		die("listen on port %d: %s", o->port, strerror(errno));
	fprintf(stderr, "npload: stream-recv ready\n");
	if (!b.wait(&b, l, POLLIN, 30000))
		die("no connection within 30 s");
	int fd = b.accept(l, NULL, NULL);
	if (fd < 0)
		die("accept: %s", strerror(errno));
	b.set_nonblock(fd);
	unsigned long long bytes = 0, win_bytes = 0;
	double t_first = 0, t_win = 0, t_last = 0, cpu_win = -1;
	for (;;) {
		ssize_t n = b.recvfrom(fd, buf, sizeof(buf), 0, NULL, NULL);
		double t = now_s();
		if (n > 0) {
			if (!t_first)
				t_first = t;
			bytes += (unsigned long long)n;
			t_last = t;
			if (cpu_win < 0 && t >= t_first + o->warmup) {
				cpu_win = cpu_s();
				t_win = t;
				win_bytes = bytes;
			}
			if (cpu_win >= 0 && t >= t_win + o->duration)
				break;
			continue;
		}
		if (n == 0 || stopping)
			break;
		if (errno != EAGAIN && errno != EINTR)
			die("recv: %s", strerror(errno));
		if (!b.wait(&b, fd, POLLIN, 2000) && !stopping && bytes)
			break;   /* the sender went quiet */
	}
	double cpu = cpu_s();
	if (cpu_win < 0)
		die("the stream ended before the measurement began (%llu bytes)", bytes);
	double secs = t_last - t_win;
	unsigned long long got = bytes - win_bytes;
	double segs = (double)got / 1448.0;
	printf("npload mode=stream-recv backend=%s bytes=%llu seconds=%.3f gbps=%.3f cpu_s=%.6f cpu_ns_per_pkt=%.1f "
	       "offload=%d\n",
	       b.name, got, secs, secs > 0 ? (double)got * 8 / secs / 1e9 : 0.0, cpu - cpu_win,
	       segs > 0 ? (cpu - cpu_win) * 1e9 / segs : 0.0, o->offload);
	fflush(stdout);
	const char *pc = getenv("NPLOAD_COUNTERS");
	if (pc && *pc == '1' && b.nst)
		np_stack_print_counters(b.st[0], stderr);
	b.close(fd);
	b.close(l);
	backend_close(&b);
	return got ? 0 : 1;
}

/*
 * The sending end: connects to --dst and writes 64 KiB chunks (TCP), or
 * --size datagrams as fast as they go (UDP: the load for tap-drain), for
 * --warmup + --duration seconds; goodput over the last --duration.
 */
static int mode_stream_send(const struct opts *o)
{
	struct backend b;
	backend_open(&b, o);
	int type = sock_type(o);
	static char buf[1 << 16];
	memset(buf, 'z', sizeof(buf));
	struct sockaddr_in dst;
	parse_dst(o->dst, &dst);
	int fd = b.socket(&b, 0, type);
	if (fd < 0)
		die("socket: %s", strerror(errno));
	/* Non-blocking connect: a polled netpath stack runs only inside b.wait. */
	b.set_nonblock(fd);
	if (b.connect(fd, (struct sockaddr *)&dst, sizeof(dst)) < 0 && errno != EINPROGRESS)
		die("connect %s: %s", o->dst, strerror(errno));
	if (type == SOCK_STREAM && !b.wait(&b, fd, POLLOUT, 10000))
		die("connect %s: no answer in 10 s", o->dst);
	size_t chunk = type == SOCK_STREAM ? sizeof(buf) : (size_t)o->size;
	/*
	 * UDP load for tap-drain: the kernel's UDP GSO (UDP_SEGMENT), one send of
	 * up to 64 KiB cut into --size datagrams at the device, so the sender's
	 * system calls do not bound what the reader sees; plain sends without it.
	 */
	if (type == SOCK_DGRAM && !b.nst && o->size > 0) {
		int seg = o->size;
		if (setsockopt(fd, IPPROTO_UDP, 103 /* UDP_SEGMENT */, &seg, sizeof(seg)) == 0)
			chunk = (size_t)o->size * (size_t)(65000 / (o->size + 28));
	}
	unsigned long long bytes = 0, win_bytes = 0;
	double t0 = now_s(), t_win = t0 + o->warmup, t_end = t_win + o->duration, cpu_win = -1;
	while (!stopping) {
		double t = now_s();
		if (cpu_win < 0 && t >= t_win) {
			cpu_win = cpu_s();
			win_bytes = bytes;
		}
		if (t >= t_end)
			break;
		ssize_t n = b.sendto(fd, buf, chunk, MSG_NOSIGNAL, NULL, 0);
		if (n > 0) {
			bytes += (unsigned long long)n;
			continue;
		}
		if (n < 0 && (errno == ECONNRESET || errno == EPIPE || errno == ENETUNREACH))
			break;   /* the receiver has measured enough and closed */
		if (n < 0 && errno != EAGAIN && errno != EINTR && errno != ENOBUFS && errno != ECONNREFUSED)
			die("send: %s", strerror(errno));
		b.wait(&b, fd, POLLOUT, 100);
	}
	double cpu = cpu_s(), secs = now_s() - t_win;
	unsigned long long got = bytes - win_bytes;
	double segs = (double)got / 1448.0;
	printf("npload mode=stream-send backend=%s proto=%s bytes=%llu seconds=%.3f gbps=%.3f cpu_s=%.6f "
	       "cpu_ns_per_pkt=%.1f\n",
	       b.name, o->proto, got, secs, secs > 0 ? (double)got * 8 / secs / 1e9 : 0.0, cpu_win >= 0 ? cpu - cpu_win : 0.0,
	       segs > 0 && cpu_win >= 0 ? (cpu - cpu_win) * 1e9 / segs : 0.0);
	fflush(stdout);
	b.close(fd);
	backend_close(&b);
	return got ? 0 : 1;
}

/*
 * The raw TAP read ceiling: read() frames (with --offload on: with a
 * virtio-net header, TUN_F_CSUM|TUN_F_TSO4, so super-frames arrive whole)
 * and count their bytes; ARP requests are answered so the kernel sends.
 * Runs until SIGTERM or --warmup + --duration after the first frame.
 */
static int mode_tap_drain(const struct opts *o)
{
	static const uint8_t mymac[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x03 };
	static uint8_t f[65536 + 64];
	uint8_t tmp[16];
	if (!o->tap)
		die("tap-drain needs --tap IF");
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		die("/dev/net/tun: %s", strerror(errno));
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | (o->offload ? IFF_VNET_HDR : 0);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", o->tap);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0)
		die("TUNSETIFF %s: %s", o->tap, strerror(errno));
	size_t hl = 0;
	if (o->offload) {
		int sz = 10;
		hl = 10;
		if (ioctl(fd, TUNSETVNETHDRSZ, &sz) < 0 || ioctl(fd, TUNSETOFFLOAD, (unsigned long)(TUN_F_CSUM | TUN_F_TSO4)) < 0)
			die("vnet header / offloads on %s: %s", o->tap, strerror(errno));
	}
	fprintf(stderr, "npload: tap-drain ready on %s\n", o->tap);
	unsigned long long bytes = 0, win_bytes = 0, frames = 0, win_frames = 0;
	double t_first = 0, t_win = 0, t_last = 0, cpu_win = -1;
	while (!stopping) {
		ssize_t n = read(fd, f, sizeof(f));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("read: %s", strerror(errno));
		}
		if ((size_t)n < hl + 14)
			continue;
		uint8_t *e = f + hl;
		size_t len = (size_t)n - hl;
		uint16_t et = get16(e + 12);
		if (et == 0x0806 && len >= 42 && get16(e + 20) == 1) {
			memcpy(e, e + 6, 6);
			memcpy(e + 6, mymac, 6);
			e[21] = 2;
			memcpy(tmp, e + 22, 10);
			memcpy(e + 22, mymac, 6);
			memcpy(e + 28, e + 38, 4);
			memcpy(e + 32, tmp, 10);
			memset(f, 0, hl);
			if (write(fd, f, (size_t)n) < 0 && errno != EINTR)
				die("write: %s", strerror(errno));
			continue;
		}
		if (et != 0x0800 || len < 14 + 28)
			continue;
		double t = now_s();
		if (!t_first)
			t_first = t;
		/* Payload above IP and UDP/TCP headers, as the stacks' goodput counts it. */
		size_t ihl = (size_t)(e[14] & 15) * 4, l4 = e[23] == 6 ? (size_t)(e[14 + ihl + 12] >> 4) * 4 : 8;
		bytes += len > 14 + ihl + l4 ? len - 14 - ihl - l4 : 0;
		frames++;
		t_last = t;
		if (cpu_win < 0 && t >= t_first + o->warmup) {
			cpu_win = cpu_s();
			t_win = t;
			win_bytes = bytes;
			win_frames = frames;
		}
		if (cpu_win >= 0 && t >= t_win + o->duration)
			break;
	}
	double cpu = cpu_s();
	if (cpu_win < 0)
		die("no frames to measure");
	double secs = t_last - t_win;
	unsigned long long got = bytes - win_bytes;
	double segs = (double)got / 1448.0;
	printf("npload mode=tap-drain bytes=%llu frames=%llu seconds=%.3f gbps=%.3f cpu_s=%.6f cpu_ns_per_pkt=%.1f "
	       "offload=%d\n",
	       got, frames - win_frames, secs, secs > 0 ? (double)got * 8 / secs / 1e9 : 0.0, cpu - cpu_win,
	       segs > 0 ? (cpu - cpu_win) * 1e9 / segs : 0.0, o->offload);
	fflush(stdout);
	close(fd);
	return got ? 0 : 1;
}

int main(int argc, char **argv)
{
	struct opts o;
	struct sigaction sa;
	parse_opts(argc, argv, &o);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;   /* no SA_RESTART: a blocked read() returns EINTR */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (!strcmp(o.mode, "echo-server"))
		return mode_echo_server(&o);
	if (!strcmp(o.mode, "echo-client"))
		return mode_echo_client(&o);
	if (!strcmp(o.mode, "bulk"))
		return mode_bulk(&o);
	if (!strcmp(o.mode, "sock-mem"))
		return mode_sock_mem(&o);
	if (!strcmp(o.mode, "tap-reflect"))
		return mode_tap_reflect(&o);
	if (!strcmp(o.mode, "memcpy"))
		return mode_memcpy(&o);
	if (!strcmp(o.mode, "probe"))
		return mode_probe(&o);
	if (!strcmp(o.mode, "crr-client"))
		return mode_crr_client(&o);
	if (!strcmp(o.mode, "rr-scale"))
		return mode_rr_scale(&o);
	if (!strcmp(o.mode, "conn-max"))
		return mode_conn_max(&o);
	if (!strcmp(o.mode, "stream-recv"))
		return mode_stream_recv(&o);
	if (!strcmp(o.mode, "stream-send"))
		return mode_stream_send(&o);
	if (!strcmp(o.mode, "tap-drain"))
		return mode_tap_drain(&o);
	usage(stderr);
	return 2;
}
