/*
 * The packetdrill adapter (tools/packetdrill/np_packetdrill.c) driven the
 * way packetdrill drives it: dlopen() build/libnetpath-packetdrill.so,
 * look up packetdrill_interface_init, and make every call through the
 * table it fills. packetdrill itself is not needed: each test plays a
 * script's part by hand (inject an IPv4 packet, make system calls, sniff
 * what the stack sends, read the clock).
 *
 * The library is found beside the test's build directory
 * (build/tests/../libnetpath-packetdrill.so) or at $NP_PACKETDRILL_SO.
 */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../tools/packetdrill/pd_interface.h"
#include "wire/checksum.h"
#include "wire/ipv4.h"
#include "wire/udp.h"

#define LOCAL_IP "10.9.0.2"
#define REMOTE_IP "192.0.2.1"
#define LOCAL_PORT 5000
#define REMOTE_PORT 4000

static void *lib;
static packetdrill_interface_init_t init_fn;

struct env {
	struct packetdrill_interface ifc;
	void *ud;
};

static int group_setup(void **state)
{
	char path[PATH_MAX];
	const char *env = getenv("NP_PACKETDRILL_SO");
	if (env) {
		snprintf(path, sizeof(path), "%s", env);
	} else {
		char exe[PATH_MAX];
		ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
		if (n <= 0)
			return -1;
		exe[n] = '\0';
		snprintf(path, sizeof(path), "%s/../libnetpath-packetdrill.so", dirname(exe));
	}
	/* As packetdrill does, minus RTLD_DEEPBIND (which the sanitizers refuse). */
	lib = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
	if (!lib) {
		fprintf(stderr, "FAIL: cannot load the adapter: %s (build the netpath_packetdrill target, "
				"or set NP_PACKETDRILL_SO)\n", dlerror());
		return -1;
	}
	init_fn = (packetdrill_interface_init_t)dlsym(lib, "packetdrill_interface_init");
	return init_fn ? 0 : -1;
}

static int group_teardown(void **state)
{
	if (lib)
		dlclose(lib);
	return 0;
}

static struct env *env_new(const char *flags)
{
	struct env *e = calloc(1, sizeof(*e));
	assert_non_null(e);
	init_fn(flags, &e->ifc);
	e->ud = e->ifc.userdata;
	assert_non_null(e->ud);
	return e;
}

static void env_free(struct env *e)
{
	e->ifc.free(e->ud);
	free(e);
}

static uint32_t ip_of(const char *s)
{
	struct in_addr a;
	assert_int_equal(inet_pton(AF_INET, s, &a), 1);
	return ntohl(a.s_addr);
}

static struct sockaddr_in sin_of(const char *ip, uint16_t port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	sa.sin_addr.s_addr = htonl(ip_of(ip));
	return sa;
}

/* An IPv4/UDP datagram from the script's remote end to the stack, as packetdrill injects it. */
static size_t mk_udp(uint8_t *buf, size_t cap, uint16_t dport, const char *payload)
{
	size_t plen = strlen(payload);
	uint32_t src = ip_of(REMOTE_IP), dst = ip_of(LOCAL_IP);
	struct ipv4_repr ip = {
		.tot_len = (uint16_t)(20 + 8 + plen), .id = 7, .ttl = 64, .protocol = 17, .saddr = src, .daddr = dst,
	};
	assert_true(cap >= 28 + plen);
	assert_int_equal(ipv4_emit(&ip, buf, cap), 20);
	memcpy(buf + 28, payload, plen);
	assert_int_equal(udp_emit(REMOTE_PORT, dport, plen, src, dst, buf + 20, cap - 20), 8);
	return 28 + plen;
}

static long long now_us(struct env *e)
{
	struct timeval tv;
	assert_int_equal(e->ifc.gettimeofday(e->ud, &tv, NULL), 0);
	return (long long)tv.tv_sec * 1000000 + tv.tv_usec;
}

static int udp_socket(struct env *e, int connect_too)
{
	int fd = e->ifc.socket(e->ud, AF_INET, SOCK_DGRAM, IPPROTO_UDP);
	assert_true(fd >= 0);
	/* A real kernel descriptor, so packetdrill's final close() works on it. */
	assert_true(fcntl(fd, F_GETFD) >= 0);
	struct sockaddr_in me = sin_of(LOCAL_IP, LOCAL_PORT);
	assert_int_equal(e->ifc.bind(e->ud, fd, (struct sockaddr *)&me, sizeof(me)), 0);
	if (connect_too) {
		struct sockaddr_in peer = sin_of(REMOTE_IP, REMOTE_PORT);
		assert_int_equal(e->ifc.connect(e->ud, fd, (struct sockaddr *)&peer, sizeof(peer)), 0);
	}
	return fd;
}

/* Sniffs the next packet and checks it is UDP LOCAL:5000 -> REMOTE:4000 carrying payload. */
static void expect_udp_out(struct env *e, const char *payload, long long *ts)
{
	uint8_t buf[2048];
	size_t count = sizeof(buf);
	long long t = 0;
	assert_int_equal(e->ifc.netdev_receive(e->ud, buf, &count, &t), 0);
	size_t plen = strlen(payload);
	assert_int_equal(count, 28 + plen);
	struct ipv4_repr ip;
	assert_int_equal(ipv4_parse(buf, count, &ip), 0);
	assert_true(ipv4_csum_ok(buf, ip.ihl));
	assert_int_equal(ip.protocol, 17);
	assert_int_equal(ip.saddr, ip_of(LOCAL_IP));
	assert_int_equal(ip.daddr, ip_of(REMOTE_IP));
	struct udp_repr u;
	assert_int_equal(udp_parse(buf + 20, count - 20, &u), 0);
	assert_int_equal(u.sport, LOCAL_PORT);
	assert_int_equal(u.dport, REMOTE_PORT);
	assert_true(udp_csum_ok(buf + 20, &u, ip.saddr, ip.daddr));
	assert_memory_equal(buf + 28, payload, plen);
	if (ts)
		*ts = t;
}

/* ---- tests ---- */

static void test_exports_only_the_entry_point(void **state)
{
	assert_non_null(dlsym(lib, "packetdrill_interface_init"));
	/* The stack's own symbols stay inside, so they cannot clash with packetdrill's. */
	assert_null(dlsym(lib, "alloc_skb"));
	assert_null(dlsym(lib, "ip_rcv"));
	assert_null(dlsym(lib, "np_socket"));
}

static void test_udp_exchange(void **state)
{
	struct env *e = env_new("local_ip=" LOCAL_IP " prefix_len=24 seed=5");
	int fd = udp_socket(e, 0);

	uint8_t pkt[256];
	size_t n = mk_udp(pkt, sizeof(pkt), LOCAL_PORT, "hello");
	assert_int_equal(e->ifc.netdev_send(e->ud, pkt, n), 0);

	int inq = -1;
	assert_int_equal(e->ifc.ioctl(e->ud, fd, FIONREAD, &inq), 0);
	assert_int_equal(inq, 5);

	char buf[100];
	struct sockaddr_in src;
	socklen_t srclen = sizeof(src);
	assert_int_equal(e->ifc.recvfrom(e->ud, fd, buf, sizeof(buf), 0, (struct sockaddr *)&src, &srclen), 5);
	assert_memory_equal(buf, "hello", 5);
	assert_int_equal(srclen, sizeof(src));
	assert_int_equal(ntohl(src.sin_addr.s_addr), ip_of(REMOTE_IP));
	assert_int_equal(ntohs(src.sin_port), REMOTE_PORT);

	struct sockaddr_in dst = sin_of(REMOTE_IP, REMOTE_PORT);
	assert_int_equal(e->ifc.sendto(e->ud, fd, "world!", 6, 0, (struct sockaddr *)&dst, sizeof(dst)), 6);
	long long ts;
	expect_udp_out(e, "world!", &ts);
	/* The timestamp is on the clock gettimeofday reads, and no later than now. */
	long long now = now_us(e);
	assert_true(ts <= now);
	assert_true(now - ts < 1000);

	assert_int_equal(e->ifc.close(e->ud, fd), 0);
	errno = 0;
	assert_int_equal(e->ifc.close(e->ud, fd), -1);
	assert_int_equal(errno, EBADF);
	env_free(e);
}

static void test_vectors_and_read_write(void **state)
{
	struct env *e = env_new("local_ip=" LOCAL_IP);
	int fd = udp_socket(e, 1);
	struct iovec iov[2] = { { "ab", 2 }, { "cde", 3 } };
	assert_int_equal(e->ifc.writev(e->ud, fd, iov, 2), 5);
	expect_udp_out(e, "abcde", NULL);
	assert_int_equal(e->ifc.write(e->ud, fd, "xyz", 3), 3);
	expect_udp_out(e, "xyz", NULL);
	struct msghdr msg = { .msg_iov = iov, .msg_iovlen = 1 };
	assert_int_equal(e->ifc.sendmsg(e->ud, fd, &msg, 0), 2);
	expect_udp_out(e, "ab", NULL);
	assert_int_equal(e->ifc.send(e->ud, fd, "q", 1, 0), 1);
	expect_udp_out(e, "q", NULL);

	uint8_t pkt[256];
	size_t n = mk_udp(pkt, sizeof(pkt), LOCAL_PORT, "0123456789");
	assert_int_equal(e->ifc.netdev_send(e->ud, pkt, n), 0);
	char a[4], b[16];
	struct iovec riov[2] = { { a, sizeof(a) }, { b, sizeof(b) } };
	assert_int_equal(e->ifc.readv(e->ud, fd, riov, 2), 10);
	assert_memory_equal(a, "0123", 4);
	assert_memory_equal(b, "456789", 6);
	assert_int_equal(e->ifc.netdev_send(e->ud, pkt, n), 0);
	assert_int_equal(e->ifc.read(e->ud, fd, b, sizeof(b)), 10);
	assert_int_equal(e->ifc.netdev_send(e->ud, pkt, n), 0);
	assert_int_equal(e->ifc.recv(e->ud, fd, b, sizeof(b), 0), 10);
	assert_int_equal(e->ifc.close(e->ud, fd), 0);
	env_free(e);
}

static void test_errno_as_posix(void **state)
{
	struct env *e = env_new("local_ip=" LOCAL_IP);
	errno = 0;
	assert_int_equal(e->ifc.socket(e->ud, AF_INET6, SOCK_DGRAM, 0), -1);
	assert_int_equal(errno, EAFNOSUPPORT);

	int fd = udp_socket(e, 0);
	assert_int_equal(e->ifc.fcntl(e->ud, fd, F_GETFL) & O_NONBLOCK, 0);
	assert_int_equal(e->ifc.fcntl(e->ud, fd, F_SETFL, O_RDWR | O_NONBLOCK), 0);
	assert_int_equal(e->ifc.fcntl(e->ud, fd, F_GETFL) & O_NONBLOCK, O_NONBLOCK);
	char buf[8];
	errno = 0;
	assert_int_equal(e->ifc.recv(e->ud, fd, buf, sizeof(buf), 0), -1);
	assert_int_equal(errno, EAGAIN);
	errno = 0;
	assert_int_equal(e->ifc.listen(e->ud, fd, 1), -1);
	assert_int_equal(errno, EOPNOTSUPP);
	errno = 0;
	assert_int_equal(e->ifc.ioctl(e->ud, fd, SIOCATMARK + 0x4000, buf), -1);
	assert_int_equal(errno, ENOTTY);
	int one = 1, got = 0;
	socklen_t len = sizeof(got);
	assert_int_equal(e->ifc.setsockopt(e->ud, fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)), 0);
	assert_int_equal(e->ifc.getsockopt(e->ud, fd, SOL_SOCKET, SO_REUSEADDR, &got, &len), 0);
	assert_int_equal(got, 1);
	assert_int_equal(e->ifc.shutdown(e->ud, fd, SHUT_RDWR) == 0 || errno == ENOTCONN, 1);
	/* A non-IPv4 packet is refused, not injected. */
	uint8_t v6[40] = { 0x60 };
	errno = 0;
	assert_int_equal(e->ifc.netdev_send(e->ud, v6, sizeof(v6)), -1);
	assert_int_equal(errno, EAFNOSUPPORT);
	assert_int_equal(e->ifc.close(e->ud, fd), 0);
	env_free(e);
}

static double real_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_virtual_time(void **state)
{
	struct env *e = env_new("local_ip=" LOCAL_IP);
	double r0 = real_s();
	long long t0 = now_us(e);
	/* Each clock reading moves virtual time by 1 us, so spin-waits end. */
	long long t1 = now_us(e);
	assert_int_equal(t1 - t0, 1);
	assert_int_equal(e->ifc.usleep(e->ud, 3 * 1000000), 0);
	long long t2 = now_us(e);
	assert_int_equal(t2 - t1, 3 * 1000000 + 1);

	/* poll with a timeout and nothing to read returns 0 after exactly that much virtual time. */
	int fd = udp_socket(e, 0);
	struct pollfd p = { .fd = fd, .events = POLLIN };
	long long t3 = now_us(e);
	assert_int_equal(e->ifc.poll(e->ud, &p, 1, 250), 0);
	long long t4 = now_us(e);
	assert_true(t4 - t3 >= 250000 && t4 - t3 <= 250010);
	p.events = POLLOUT;
	assert_int_equal(e->ifc.poll(e->ud, &p, 1, 1000), 1);
	assert_int_equal(p.revents, POLLOUT);
	/* Seconds of script time took far less real time. */
	assert_true(real_s() - r0 < 2.0);
	assert_int_equal(e->ifc.close(e->ud, fd), 0);
	env_free(e);
}

/* packetdrill's second thread: one blocking call, then it reads the clock for the call's end time. */
struct blocker {
	struct env *e;
	int fd;
	int use_poll;
	pid_t tid;
	int started;
	long rc;
	long long end_us;
};

static void *blocker_main(void *arg)
{
	struct blocker *b = arg;
	__atomic_store_n(&b->tid, (pid_t)syscall(SYS_gettid), __ATOMIC_SEQ_CST);
	__atomic_store_n(&b->started, 1, __ATOMIC_SEQ_CST);
	if (b->use_poll) {
		struct pollfd p = { .fd = b->fd, .events = POLLIN };
		b->rc = b->e->ifc.poll(b->e->ud, &p, 1, 50);
	} else {
		char buf[64];
		b->rc = b->e->ifc.recv(b->e->ud, b->fd, buf, sizeof(buf), 0);
	}
	b->end_us = now_us(b->e);
	return NULL;
}

/* Waits, as packetdrill does (yielding, never sleeping), until the thread sleeps in its call. */
static void await_sleeping(struct blocker *b)
{
	while (!__atomic_load_n(&b->started, __ATOMIC_SEQ_CST))
		sched_yield();
	char path[64], st[512];
	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)b->tid);
	for (int i = 0; i < 1000000; i++) {
		FILE *f = fopen(path, "r");
		assert_non_null(f);
		size_t n = fread(st, 1, sizeof(st) - 1, f);
		fclose(f);
		st[n] = '\0';
		const char *p = strrchr(st, ')');
		if (p && p[1] == ' ' && p[2] == 'S')
			return;
		sched_yield();
	}
	fail_msg("the blocking call never went to sleep");
}

static void test_blocking_call_in_other_thread(void **state)
{
	struct env *e = env_new("local_ip=" LOCAL_IP);
	int fd = udp_socket(e, 0);
	struct blocker b = { .e = e, .fd = fd };
	long long t0 = now_us(e);
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, blocker_main, &b), 0);
	await_sleeping(&b);
	assert_int_equal(e->ifc.usleep(e->ud, 100000), 0);
	uint8_t pkt[256];
	size_t n = mk_udp(pkt, sizeof(pkt), LOCAL_PORT, "wake");
	assert_int_equal(e->ifc.netdev_send(e->ud, pkt, n), 0);
	/* Time moves on only after the woken call has returned and read the clock. */
	assert_int_equal(e->ifc.usleep(e->ud, 200000), 0);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(b.rc, 4);
	assert_true(b.end_us - t0 >= 100000 && b.end_us - t0 < 100100);
	assert_int_equal(e->ifc.close(e->ud, fd), 0);
	env_free(e);
}

static void test_poll_timeout_in_other_thread(void **state)
{
	struct env *e = env_new("local_ip=" LOCAL_IP);
	int fd = udp_socket(e, 0);
	struct blocker b = { .e = e, .fd = fd, .use_poll = 1 };
	long long t0 = now_us(e);
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, blocker_main, &b), 0);
	await_sleeping(&b);
	/* The driving thread stops at the sleeper's 50 ms deadline on its way to 300 ms. */
	assert_int_equal(e->ifc.usleep(e->ud, 300000), 0);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(b.rc, 0);
	assert_true(b.end_us - t0 >= 50000 && b.end_us - t0 < 50100);
	assert_true(now_us(e) - t0 >= 300000);
	assert_int_equal(e->ifc.close(e->ud, fd), 0);
	env_free(e);
}

/*
 * packetdrill's main thread waits for its system call thread outside the
 * library (before its next system call): the poll's timeout must still
 * come, as real time would bring it.
 */
static void test_poll_timeout_while_driver_waits(void **state)
{
	struct env *e = env_new("local_ip=" LOCAL_IP);
	int fd = udp_socket(e, 0);
	struct blocker b = { .e = e, .fd = fd, .use_poll = 1 };
	long long t0 = now_us(e);
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, blocker_main, &b), 0);
	await_sleeping(&b);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(b.rc, 0);
	assert_true(b.end_us - t0 >= 50000 && b.end_us - t0 < 50100);
	assert_int_equal(e->ifc.close(e->ud, fd), 0);
	env_free(e);
}

static void test_receive_gives_up_with_an_empty_packet(void **state)
{
	struct env *e = env_new("local_ip=" LOCAL_IP " recv_timeout=1");
	uint8_t buf[256];
	size_t count = sizeof(buf);
	long long ts = -1;
	assert_int_equal(e->ifc.netdev_receive(e->ud, buf, &count, &ts), 0);
	assert_int_equal(count, 0);
	assert_true(ts > 0);
	env_free(e);
}

static void test_epoll(void **state)
{
	struct env *e = env_new("local_ip=" LOCAL_IP);
	int fd = udp_socket(e, 0);
	int ep = e->ifc.epoll_create(e->ud, 1);
	assert_true(ep >= 0);
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 42 };
	assert_int_equal(e->ifc.epoll_ctl(e->ud, ep, EPOLL_CTL_ADD, fd, &ev), 0);
	errno = 0;
	assert_int_equal(e->ifc.epoll_ctl(e->ud, ep, EPOLL_CTL_ADD, fd, &ev), -1);
	assert_int_equal(errno, EEXIST);
	struct epoll_event out[4];
	assert_int_equal(e->ifc.epoll_wait(e->ud, ep, out, 4, 0), 0);

	uint8_t pkt[256];
	size_t n = mk_udp(pkt, sizeof(pkt), LOCAL_PORT, "ping");
	assert_int_equal(e->ifc.netdev_send(e->ud, pkt, n), 0);
	assert_int_equal(e->ifc.epoll_wait(e->ud, ep, out, 4, 100), 1);
	assert_int_equal(out[0].events, EPOLLIN);
	assert_int_equal(out[0].data.u64, 42);
	/* Level-triggered: still readable, still reported. */
	assert_int_equal(e->ifc.epoll_wait(e->ud, ep, out, 4, 0), 1);

	/* Edge-triggered: reported once until readiness changes. */
	ev.events = EPOLLIN | EPOLLET;
	assert_int_equal(e->ifc.epoll_ctl(e->ud, ep, EPOLL_CTL_MOD, fd, &ev), 0);
	assert_int_equal(e->ifc.epoll_wait(e->ud, ep, out, 4, 0), 1);
	assert_int_equal(e->ifc.epoll_wait(e->ud, ep, out, 4, 0), 0);

	assert_int_equal(e->ifc.epoll_ctl(e->ud, ep, EPOLL_CTL_DEL, fd, NULL), 0);
	errno = 0;
	assert_int_equal(e->ifc.epoll_ctl(e->ud, ep, EPOLL_CTL_DEL, fd, NULL), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(e->ifc.close(e->ud, ep), 0);
	assert_int_equal(e->ifc.close(e->ud, fd), 0);
	env_free(e);
}

static void test_pipe_and_splice(void **state)
{
	struct env *e = env_new("local_ip=" LOCAL_IP);
	int fd = udp_socket(e, 1);
	int p[2];
	assert_int_equal(e->ifc.pipe(e->ud, p), 0);
	assert_int_equal(e->ifc.write(e->ud, p[1], "spliced", 7), 7);
	loff_t off_in = 0, off_out = 0;
	assert_int_equal(e->ifc.splice(e->ud, p[0], &off_in, fd, &off_out, 7, 0), 7);
	expect_udp_out(e, "spliced", NULL);

	uint8_t pkt[256];
	size_t n = mk_udp(pkt, sizeof(pkt), LOCAL_PORT, "back");
	assert_int_equal(e->ifc.netdev_send(e->ud, pkt, n), 0);
	assert_int_equal(e->ifc.splice(e->ud, fd, &off_in, p[1], &off_out, 100, 0), 4);
	char buf[8];
	assert_int_equal(e->ifc.read(e->ud, p[0], buf, sizeof(buf)), 4);
	assert_memory_equal(buf, "back", 4);
	assert_int_equal(e->ifc.close(e->ud, p[0]), 0);
	assert_int_equal(e->ifc.close(e->ud, p[1]), 0);
	assert_int_equal(e->ifc.close(e->ud, fd), 0);
	env_free(e);
}

/* packetdrill closes its sockets with the kernel's close() and then frees the adapter. */
static void test_kernel_close_then_free(void **state)
{
	struct env *e = env_new("local_ip=" LOCAL_IP);
	int fd = udp_socket(e, 1);
	assert_int_equal(close(fd), 0);
	env_free(e);
	errno = 0;
	assert_int_equal(fcntl(fd, F_GETFD), -1);
	assert_int_equal(errno, EBADF);
}

static void test_real_clock(void **state)
{
	struct env *e = env_new("local_ip=" LOCAL_IP " clock=real");
	int fd = udp_socket(e, 1);
	long long t0 = now_us(e);
	assert_int_equal(e->ifc.usleep(e->ud, 20000), 0);
	assert_true(now_us(e) - t0 >= 20000);
	assert_int_equal(e->ifc.write(e->ud, fd, "real", 4), 4);
	expect_udp_out(e, "real", NULL);
	assert_int_equal(e->ifc.close(e->ud, fd), 0);
	env_free(e);
}

/* A bad flag stops packetdrill with a message, as packetdrill's own bad options do. */
static void test_bad_flags_exit(void **state)
{
	const char *bad[] = { "bogus=1", "local_ip=300.1.2.3", "prefix_len=40", "clock=sundial", "mtu" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		fflush(NULL);
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			struct packetdrill_interface ifc;
			if (!freopen("/dev/null", "w", stderr))
				_exit(3);
			init_fn(bad[i], &ifc);
			_exit(0);
		}
		int st = 0;
		assert_int_equal(waitpid(pid, &st, 0), pid);
		assert_true(WIFEXITED(st));
		assert_int_equal(WEXITSTATUS(st), EXIT_FAILURE);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exports_only_the_entry_point),
		cmocka_unit_test(test_udp_exchange),
		cmocka_unit_test(test_vectors_and_read_write),
		cmocka_unit_test(test_errno_as_posix),
		cmocka_unit_test(test_virtual_time),
		cmocka_unit_test(test_blocking_call_in_other_thread),
		cmocka_unit_test(test_poll_timeout_in_other_thread),
		cmocka_unit_test(test_poll_timeout_while_driver_waits),
		cmocka_unit_test(test_receive_gives_up_with_an_empty_packet),
		cmocka_unit_test(test_epoll),
		cmocka_unit_test(test_pipe_and_splice),
		cmocka_unit_test(test_kernel_close_then_free),
		cmocka_unit_test(test_real_clock),
		cmocka_unit_test(test_bad_flags_exit),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
