/*
 * Scenario: UDP sockets on two stacks joined by the virtual cable, on one
 * shared virtual clock driven by np_sim_run, through the public API only
 * (include/netpath/netpath.h and socket.h).
 *   A (10.0.0.1/24) eth0 <==cable==> eth0 B (10.0.0.2/24)
 * Covers an echo exchange, ICMP port unreachable turning into ECONNREFUSED
 * on a connected socket's next call, broadcast with and without
 * SO_BROADCAST, EMSGSIZE, EDESTADDRREQ, ENOTCONN, and receive-buffer
 * overflow counted where Linux counts it, and sendmmsg/recvmmsg batches
 * (counts, per-message lengths and sources, errors only when nothing went).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "netpath/netpath.h"
#include "netpath/socket.h"

#define MS 1000000ull
#define T0 (1000 * MS)
#define A_IP "10.0.0.1"
#define B_IP "10.0.0.2"

struct net {
	struct np_clock *clk;
	struct np_stack *s[2];      /* A, B */
	struct np_dev *d[2];
	uint64_t now;
};

static int setup(void **state)
{
	struct net *n = calloc(1, sizeof(*n));
	n->clk = np_clock_virtual(T0);
	n->now = T0;
	for (int i = 0; i < 2; i++) {
		struct np_stack_config cfg = { .name = i ? "B" : "A", .clock = n->clk, .seed = (uint64_t)(300 + i) };
		n->s[i] = np_stack_create(&cfg);
		assert_non_null(n->s[i]);
	}
	assert_int_equal(np_cable_create(n->s[0], "eth0", n->s[1], "eth0", &n->d[0], &n->d[1]), 0);
	assert_int_equal(np_addr_add(n->d[0], A_IP "/24"), 0);
	assert_int_equal(np_addr_add(n->d[1], B_IP "/24"), 0);
	*state = n;
	return 0;
}

static int teardown(void **state)
{
	struct net *n = *state;
	np_stack_destroy(n->s[0]);
	np_stack_destroy(n->s[1]);
	np_clock_destroy(n->clk);
	free(n);
	return 0;
}

/* Lets both stacks run for ms milliseconds of virtual time. */
static void sim(struct net *n, uint64_t ms)
{
	n->now += ms * MS;
	assert_int_equal(np_sim_run(n->s, 2, n->clk, n->now), 0);
}

static struct sockaddr_in addr_of(const char *ip, uint16_t port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	assert_int_equal(inet_pton(AF_INET, ip, &a.sin_addr), 1);
	return a;
}

static int udp_socket(struct np_stack *s)
{
	int fd = np_socket(s, AF_INET, SOCK_DGRAM, 0);
	assert_true(fd >= 0);
	return fd;
}

static int udp_bound(struct np_stack *s, const char *ip, uint16_t port)
{
	int fd = udp_socket(s);
	struct sockaddr_in a = addr_of(ip, port);
	assert_int_equal(np_bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

static ssize_t send_to(int fd, const void *buf, size_t len, const char *ip, uint16_t port)
{
	struct sockaddr_in a = addr_of(ip, port);
	return np_sendto(fd, buf, len, 0, (struct sockaddr *)&a, sizeof(a));
}

static uint64_t mib(struct net *n, int i, enum np_mib_field f) { return np_stack_mib(n->s[i], f); }

/* Datagrams waiting on fd (drains it). */
static int drain(int fd)
{
	static char buf[65536];
	int k = 0;
	while (np_recv(fd, buf, sizeof(buf), MSG_DONTWAIT) >= 0)
		k++;
	assert_int_equal(errno, EAGAIN);
	return k;
}

static void test_echo(void **state)
{
	struct net *n = *state;
	int server = udp_bound(n->s[1], "0.0.0.0", 7);
	int client = udp_socket(n->s[0]);

	assert_int_equal(send_to(client, "hello", 5, B_IP, 7), 5);
	sim(n, 10);

	/* The server's descriptor polls readable and yields the datagram with its source. */
	struct pollfd pfd = { .fd = server, .events = POLLIN };
	assert_int_equal(np_poll(&pfd, 1, 0), 1);
	assert_true(pfd.revents & POLLIN);
	char buf[64];
	struct sockaddr_in from;
	socklen_t flen = sizeof(from);
	assert_int_equal(np_recvfrom(server, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from, &flen), 5);
	assert_memory_equal(buf, "hello", 5);
	assert_int_equal(flen, sizeof(from));
	struct sockaddr_in a_addr = addr_of(A_IP, 0);
	assert_int_equal(from.sin_addr.s_addr, a_addr.sin_addr.s_addr);
	struct sockaddr_in cname;
	socklen_t clen = sizeof(cname);
	assert_int_equal(np_getsockname(client, (struct sockaddr *)&cname, &clen), 0);
	assert_int_equal(from.sin_port, cname.sin_port);
	assert_true(ntohs(cname.sin_port) >= 32768 && ntohs(cname.sin_port) <= 60999);

	/* Echo it back to where it came from. */
	assert_int_equal(np_sendto(server, buf, 5, 0, (struct sockaddr *)&from, flen), 5);
	sim(n, 10);
	memset(buf, 0, sizeof(buf));
	flen = sizeof(from);
	assert_int_equal(np_recvfrom(client, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from, &flen), 5);
	assert_memory_equal(buf, "hello", 5);
	struct sockaddr_in b7 = addr_of(B_IP, 7);
	assert_int_equal(from.sin_addr.s_addr, b7.sin_addr.s_addr);
	assert_int_equal(from.sin_port, b7.sin_port);

	for (int i = 0; i < 2; i++) {
		assert_int_equal(mib(n, i, NP_MIB_UdpOutDatagrams), 1);
		assert_int_equal(mib(n, i, NP_MIB_UdpInDatagrams), 1);
		assert_int_equal(mib(n, i, NP_MIB_UdpNoPorts), 0);
	}
	/* A connected pair talks with send/recv, and many datagrams keep their boundaries and order. */
	assert_int_equal(np_connect(client, (struct sockaddr *)&b7, sizeof(b7)), 0);
	for (int i = 0; i < 20; i++) {
		char msg[8];
		int len = snprintf(msg, sizeof(msg), "m%d", i);
		assert_int_equal(np_send(client, msg, (size_t)len, 0), len);
	}
	sim(n, 10);
	for (int i = 0; i < 20; i++) {
		char want[8];
		int len = snprintf(want, sizeof(want), "m%d", i);
		assert_int_equal(np_recv(server, buf, sizeof(buf), MSG_DONTWAIT), len);
		assert_memory_equal(buf, want, (size_t)len);
	}
	np_close(server);
	np_close(client);
}

static void test_port_unreachable_econnrefused(void **state)
{
	struct net *n = *state;
	int c = udp_socket(n->s[0]);
	struct sockaddr_in closed = addr_of(B_IP, 9999);
	assert_int_equal(np_connect(c, (struct sockaddr *)&closed, sizeof(closed)), 0);
	char buf[16];

	/* The first send succeeds; B answers with port unreachable; the next call reports it. */
	assert_int_equal(np_send(c, "x", 1, 0), 1);
	sim(n, 10);
	assert_int_equal(mib(n, 1, NP_MIB_UdpNoPorts), 1);
	assert_int_equal(mib(n, 1, NP_MIB_IcmpOutDestUnreachs), 1);
	assert_int_equal(mib(n, 0, NP_MIB_IcmpInDestUnreachs), 1);
	struct pollfd pfd = { .fd = c, .events = POLLIN };
	assert_int_equal(np_poll(&pfd, 1, 0), 1);
	assert_true(pfd.revents & POLLERR);
	assert_int_equal(np_recv(c, buf, sizeof(buf), MSG_DONTWAIT), -1);
	assert_int_equal(errno, ECONNREFUSED);
	/* Reported once. */
	assert_int_equal(np_recv(c, buf, sizeof(buf), MSG_DONTWAIT), -1);
	assert_int_equal(errno, EAGAIN);

	/* Or on the next send, which then does not go out. */
	assert_int_equal(np_send(c, "y", 1, 0), 1);
	sim(n, 10);
	uint64_t out = mib(n, 0, NP_MIB_UdpOutDatagrams);
	assert_int_equal(np_send(c, "z", 1, 0), -1);
	assert_int_equal(errno, ECONNREFUSED);
	assert_int_equal(mib(n, 0, NP_MIB_UdpOutDatagrams), out);
	/* SO_ERROR is clear again. */
	int soerr = -1;
	socklen_t slen = sizeof(soerr);
	assert_int_equal(np_getsockopt(c, SOL_SOCKET, SO_ERROR, &soerr, &slen), 0);
	assert_int_equal(soerr, 0);

	/* An unconnected socket is not told (RFC 1122 4.1.3.3 as Linux implements it). */
	int u = udp_socket(n->s[0]);
	assert_int_equal(send_to(u, "x", 1, B_IP, 9998), 1);
	sim(n, 10);
	assert_int_equal(mib(n, 1, NP_MIB_UdpNoPorts), 3);
	assert_int_equal(np_recv(u, buf, sizeof(buf), MSG_DONTWAIT), -1);
	assert_int_equal(errno, EAGAIN);
	assert_int_equal(send_to(u, "x", 1, B_IP, 9998), 1);
	np_close(c);
	np_close(u);
}

static void test_broadcast(void **state)
{
	struct net *n = *state;
	int rx = udp_bound(n->s[1], "0.0.0.0", 5000);
	int tx = udp_socket(n->s[0]);

	/* udp(7): sending to a broadcast address needs SO_BROADCAST. */
	assert_int_equal(send_to(tx, "b", 1, "10.0.0.255", 5000), -1);
	assert_int_equal(errno, EACCES);
	assert_int_equal(send_to(tx, "b", 1, "255.255.255.255", 5000), -1);
	assert_int_equal(errno, EACCES);
	struct sockaddr_in bc = addr_of("10.0.0.255", 5000);
	assert_int_equal(np_connect(tx, (struct sockaddr *)&bc, sizeof(bc)), -1);
	assert_int_equal(errno, EACCES);

	int one = 1, val = 0;
	socklen_t vlen = sizeof(val);
	assert_int_equal(np_setsockopt(tx, SOL_SOCKET, SO_BROADCAST, &one, sizeof(one)), 0);
	assert_int_equal(np_getsockopt(tx, SOL_SOCKET, SO_BROADCAST, &val, &vlen), 0);
	assert_int_equal(val, 1);
	assert_int_equal(send_to(tx, "subnet", 6, "10.0.0.255", 5000), 6);
	assert_int_equal(send_to(tx, "limited", 7, "255.255.255.255", 5000), 7);
	sim(n, 10);
	char buf[16];
	assert_int_equal(np_recv(rx, buf, sizeof(buf), MSG_DONTWAIT), 6);
	assert_memory_equal(buf, "subnet", 6);
	assert_int_equal(np_recv(rx, buf, sizeof(buf), MSG_DONTWAIT), 7);
	assert_memory_equal(buf, "limited", 7);

	/* A broadcast to a port nobody listens on draws no ICMP error (RFC 1122 3.2.2). */
	uint64_t icmp_out = mib(n, 1, NP_MIB_IcmpOutMsgs);
	assert_int_equal(send_to(tx, "nobody", 6, "10.0.0.255", 5999), 6);
	sim(n, 10);
	assert_int_equal(mib(n, 1, NP_MIB_IcmpOutMsgs), icmp_out);
	assert_int_equal(mib(n, 1, NP_MIB_UdpNoPorts), 0);
	np_close(rx);
	np_close(tx);
}

static void test_emsgsize(void **state)
{
	struct net *n = *state;
	static char big[65536];
	int rx = udp_bound(n->s[1], "0.0.0.0", 5100);
	int tx = udp_socket(n->s[0]);

	/* 65507 is the most IPv4 can carry; beyond that EMSGSIZE. */
	assert_int_equal(send_to(tx, big, 65508, B_IP, 5100), -1);
	assert_int_equal(errno, EMSGSIZE);
	/* Bigger than the 1500-byte MTU: EMSGSIZE only with IP_PMTUDISC_DO (else it is fragmented). */
	int pmtu_do = IP_PMTUDISC_DO, pmtu_want = IP_PMTUDISC_WANT;
	assert_int_equal(np_setsockopt(tx, IPPROTO_IP, IP_MTU_DISCOVER, &pmtu_do, sizeof(pmtu_do)), 0);
	assert_int_equal(send_to(tx, big, 1473, B_IP, 5100), -1);
	assert_int_equal(errno, EMSGSIZE);
	assert_int_equal(np_setsockopt(tx, IPPROTO_IP, IP_MTU_DISCOVER, &pmtu_want, sizeof(pmtu_want)), 0);
	memset(big, 0x5a, 1472);
	assert_int_equal(send_to(tx, big, 1472, B_IP, 5100), 1472);
	sim(n, 10);
	static char buf[2048];
	assert_int_equal(np_recv(rx, buf, sizeof(buf), MSG_DONTWAIT), 1472);
	assert_memory_equal(buf, big, 1472);
	np_close(rx);
	np_close(tx);
}

static void test_unconnected_errors(void **state)
{
	struct net *n = *state;
	int fd = udp_socket(n->s[0]);

	assert_int_equal(np_send(fd, "x", 1, 0), -1);
	assert_int_equal(errno, EDESTADDRREQ);
	struct sockaddr_in peer;
	socklen_t plen = sizeof(peer);
	assert_int_equal(np_getpeername(fd, (struct sockaddr *)&peer, &plen), -1);
	assert_int_equal(errno, ENOTCONN);

	struct sockaddr_in b = addr_of(B_IP, 4000);
	assert_int_equal(np_connect(fd, (struct sockaddr *)&b, sizeof(b)), 0);
	plen = sizeof(peer);
	assert_int_equal(np_getpeername(fd, (struct sockaddr *)&peer, &plen), 0);
	assert_int_equal(peer.sin_addr.s_addr, b.sin_addr.s_addr);
	assert_int_equal(peer.sin_port, b.sin_port);
	/* connect picked the source address by route. */
	struct sockaddr_in me;
	socklen_t mlen = sizeof(me);
	assert_int_equal(np_getsockname(fd, (struct sockaddr *)&me, &mlen), 0);
	struct sockaddr_in a = addr_of(A_IP, 0);
	assert_int_equal(me.sin_addr.s_addr, a.sin_addr.s_addr);
	assert_true(ntohs(me.sin_port) >= 32768);

	/* connect(AF_UNSPEC) dissolves the association. */
	struct sockaddr unspec = { .sa_family = AF_UNSPEC };
	assert_int_equal(np_connect(fd, &unspec, sizeof(unspec)), 0);
	plen = sizeof(peer);
	assert_int_equal(np_getpeername(fd, (struct sockaddr *)&peer, &plen), -1);
	assert_int_equal(errno, ENOTCONN);
	assert_int_equal(np_send(fd, "x", 1, 0), -1);
	assert_int_equal(errno, EDESTADDRREQ);
	np_close(fd);
}

static void test_rcvbuf_overflow(void **state)
{
	struct net *n = *state;
	static char payload[1000];
	int rx = udp_bound(n->s[1], "0.0.0.0", 6000);
	int small = 4096;
	assert_int_equal(np_setsockopt(rx, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
	int tx = udp_socket(n->s[0]);

	/* One datagram first, so ARP is resolved before the burst. */
	assert_int_equal(send_to(tx, payload, 10, B_IP, 6000), 10);
	sim(n, 10);
	assert_int_equal(drain(rx), 1);

	const int burst = 50;
	for (int i = 0; i < burst; i++)
		assert_int_equal(send_to(tx, payload, sizeof(payload), B_IP, 6000), (ssize_t)sizeof(payload));
	sim(n, 10);
	int got = drain(rx);
	int lost = burst - got;
	assert_true(got >= 1);
	assert_true(lost > 0);
	assert_int_equal(mib(n, 1, NP_MIB_UdpRcvbufErrors), (uint64_t)lost);
	assert_int_equal(mib(n, 1, NP_MIB_UdpInErrors), (uint64_t)lost);
	assert_int_equal(np_stack_drops(n->s[1], NP_DROP_SOCKET_RCVBUFF), (uint64_t)lost);
	assert_int_equal(mib(n, 1, NP_MIB_UdpInDatagrams), (uint64_t)(1 + got));
	assert_int_equal(mib(n, 0, NP_MIB_UdpOutDatagrams), (uint64_t)(1 + burst));
	np_close(rx);
	np_close(tx);
}

/* np_sendmmsg/np_recvmmsg: Linux's batch semantics, message by message. */
static void test_mmsg(void **state)
{
	struct net *n = *state;
	int server = udp_bound(n->s[1], "0.0.0.0", 9);
	int client = udp_socket(n->s[0]);
	struct sockaddr_in dst = addr_of(B_IP, 9);
	static char out[5][300], in[8][400];
	struct mmsghdr m[8];
	struct iovec iov[8];

	/* Five datagrams of different sizes in one call: all go, each msg_len set. */
	memset(m, 0, sizeof(m));
	for (int i = 0; i < 5; i++) {
		memset(out[i], 'a' + i, sizeof(out[i]));
		iov[i] = (struct iovec){ .iov_base = out[i], .iov_len = (size_t)(10 + 50 * i) };
		m[i].msg_hdr = (struct msghdr){ .msg_name = &dst, .msg_namelen = sizeof(dst), .msg_iov = &iov[i],
						.msg_iovlen = 1 };
	}
	assert_int_equal(np_sendmmsg(client, m, 5, 0), 5);
	for (int i = 0; i < 5; i++)
		assert_int_equal(m[i].msg_len, 10 + 50 * i);
	assert_int_equal(mib(n, 0, NP_MIB_UdpOutDatagrams), 5);
	sim(n, 10);

	/* Received in order with their sources; a vlen beyond what waits returns what waits. */
	struct sockaddr_in from[8];
	memset(m, 0, sizeof(m));
	for (int i = 0; i < 8; i++) {
		iov[i] = (struct iovec){ .iov_base = in[i], .iov_len = sizeof(in[i]) };
		m[i].msg_hdr = (struct msghdr){ .msg_name = &from[i], .msg_namelen = sizeof(from[i]), .msg_iov = &iov[i],
						.msg_iovlen = 1 };
	}
	assert_int_equal(np_recvmmsg(server, m, 8, MSG_DONTWAIT, NULL), 5);
	struct sockaddr_in a_addr = addr_of(A_IP, 0);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(m[i].msg_len, 10 + 50 * i);
		assert_memory_equal(in[i], out[i], m[i].msg_len);
		assert_int_equal(m[i].msg_hdr.msg_namelen, sizeof(from[i]));
		assert_int_equal(from[i].sin_addr.s_addr, a_addr.sin_addr.s_addr);
	}
	/* Nothing left: the first message fails, so the call does, with EAGAIN. */
	assert_int_equal(np_recvmmsg(server, m, 8, MSG_DONTWAIT, NULL), -1);
	assert_int_equal(errno, EAGAIN);

	/* An error ends the batch: what went before it is the result; first in line, it is the error. */
	static char big[70000];
	memset(m, 0, sizeof(m));
	for (int i = 0; i < 3; i++) {
		iov[i] = (struct iovec){ .iov_base = i == 1 ? big : out[i], .iov_len = i == 1 ? sizeof(big) : 20 };
		m[i].msg_hdr = (struct msghdr){ .msg_name = &dst, .msg_namelen = sizeof(dst), .msg_iov = &iov[i],
						.msg_iovlen = 1 };
	}
	assert_int_equal(np_sendmmsg(client, m, 3, 0), 1);
	assert_int_equal(np_sendmmsg(client, m + 1, 2, 0), -1);
	assert_int_equal(errno, EMSGSIZE);
	sim(n, 10);

	/* MSG_WAITFORONE on a blocking socket: only the first may wait, so two queued come back at once. */
	assert_int_equal(np_sendmmsg(client, m + 2, 1, 0), 1);
	sim(n, 10);
	memset(m, 0, sizeof(m));
	for (int i = 0; i < 4; i++) {
		iov[i] = (struct iovec){ .iov_base = in[i], .iov_len = sizeof(in[i]) };
		m[i].msg_hdr = (struct msghdr){ .msg_iov = &iov[i], .msg_iovlen = 1 };
	}
	assert_int_equal(np_recvmmsg(server, m, 4, MSG_WAITFORONE, NULL), 2);
	assert_int_equal(m[0].msg_len, 20);
	assert_int_equal(m[1].msg_len, 20);

	/* Argument errors, as Linux reports them. */
	assert_int_equal(np_sendmmsg(client, m, 0, 0), 0);
	assert_int_equal(np_sendmmsg(client, NULL, 2, 0), -1);
	assert_int_equal(errno, EFAULT);
	struct timespec bad = { .tv_sec = 0, .tv_nsec = 2000000000L };
	assert_int_equal(np_recvmmsg(server, m, 2, MSG_DONTWAIT, &bad), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(np_recvmmsg(12345678, m, 2, 0, NULL), -1);
	assert_int_equal(errno, EBADF);
	np_close(client);
	np_close(server);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_echo, setup, teardown),
		cmocka_unit_test_setup_teardown(test_port_unreachable_econnrefused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_broadcast, setup, teardown),
		cmocka_unit_test_setup_teardown(test_emsgsize, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unconnected_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rcvbuf_overflow, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mmsg, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
