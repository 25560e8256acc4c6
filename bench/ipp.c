/*
 * ipp: instructions per packet on netpath's in-process UDP and TCP paths,
 * counted by valgrind's callgrind (bench/run.sh runs it). Two stacks on the
 * in-process cable in one thread, driven by np_stack_poll:
 *   tx: np_sendto on stack a -> udp_sendmsg / tcp_sendmsg -> ip_output ->
 *       dev_queue_xmit -> cable_xmit (the frame is copied into b's ring)
 *   rx: np_stack_poll(b) -> cable_poll -> netif_receive_skb -> ip_rcv ->
 *       udp_rcv / tcp_v4_rcv -> the socket's queue; then np_recv on b
 * With --proto tcp one connection carries --size-byte segments (TCP_NODELAY,
 * one segment per send); the TCP tx half also polls a, so the ACKs b sends
 * back are charged to the sender that must process them, and the rx half
 * includes the ACKs b sends. TCP runs on a frozen virtual clock, so no timer
 * (delayed ACK, RTO) fires inside the counted region: the figure is the
 * per-segment path, nothing else.
 * After a warm-up (ARP resolved, caches and allocators warm) it runs
 * --count packets of --size bytes, collecting only the rx half, dumps
 * the counts ("rx"), then the same for the tx half ("tx"). Run under
 *   valgrind --tool=callgrind --instr-atstart=no --collect-atstart=no ipp
 * each dump's "totals:" divided by --count is instructions per packet.
 * Without <valgrind/callgrind.h> (NO_CALLGRIND) the macros are no-ops and
 * run.sh subtracts a run with --count 0 instead.
 * Written only against include/netpath/.
 */
#define _GNU_SOURCE   /* sendmmsg, recvmmsg; the library is built with it too */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netpath/netpath.h"
#include "netpath/socket.h"

#ifndef NO_CALLGRIND
#include <valgrind/callgrind.h>
#else
#define CALLGRIND_START_INSTRUMENTATION
#define CALLGRIND_STOP_INSTRUMENTATION
#define CALLGRIND_TOGGLE_COLLECT
#define CALLGRIND_ZERO_STATS
#define CALLGRIND_DUMP_STATS_AT(s) ((void)(s))
#endif

static struct np_stack *st[2];
static int tx_fd, rx_fd, tcp;
static char out[65536], in[65536];

static void die(const char *what)
{
	fprintf(stderr, "ipp: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void tx_one(size_t size)
{
	if (np_send(tx_fd, out, size, 0) != (ssize_t)size)
		die("np_send");
	/* TCP: the sender's softirq round takes the ACKs for earlier segments. */
	if (tcp)
		np_stack_poll(st[0]);
}

/* The receiving stack's softirq round, then the application's read. */
static void rx_one(size_t size)
{
	np_stack_poll(st[1]);
	if (np_recv(rx_fd, in, sizeof(in), 0) != (ssize_t)size)
		die("np_recv (the packet did not arrive in one poll round)");
}

int main(int argc, char **argv)
{
	long count = 10000, size = 64, warm = 2000;
	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--count"))
			count = atol(argv[i + 1]);
		else if (!strcmp(argv[i], "--size"))
			size = atol(argv[i + 1]);
		else if (!strcmp(argv[i], "--warmup"))
			warm = atol(argv[i + 1]);
		else if (!strcmp(argv[i], "--proto") && (!strcmp(argv[i + 1], "udp") || !strcmp(argv[i + 1], "tcp")))
			tcp = !strcmp(argv[i + 1], "tcp");
		else {
			fprintf(stderr, "usage: ipp [--proto udp|tcp] [--count N] [--size BYTES] [--warmup N]\n");
			return 2;
		}
	}
	if (size < 1 || size > (tcp ? 1448 : 1472) || count < 0)
		return 2; /* one datagram or one full-sized segment at most: one packet per call */
	memset(out, 'z', sizeof(out));

	static const char *const names[2] = { "a", "b" }, *const addrs[2] = { "10.204.0.1/24", "10.204.0.2/24" };
	struct np_dev *d[2];
	struct np_clock *clk = tcp ? np_clock_virtual(1000000000ull) : NULL;
	for (int i = 0; i < 2; i++) {
		/* A fixed seed: the same ports, IDs and hash buckets on every run. */
		struct np_stack_config cfg = { .name = names[i], .seed = 1 + (uint64_t)i, .clock = clk };
		if (!(st[i] = np_stack_create(&cfg)))
			die("np_stack_create");
	}
	if (np_cable_create(st[0], "eth0", st[1], "eth0", &d[0], &d[1]) < 0 || np_addr_add(d[0], addrs[0]) < 0 ||
	    np_addr_add(d[1], addrs[1]) < 0)
		die("cable");
	struct sockaddr_in at = { .sin_family = AF_INET, .sin_port = htons(9000) };
	inet_pton(AF_INET, "10.204.0.2", &at.sin_addr);
	if (!tcp) {
		rx_fd = np_socket(st[1], AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
		tx_fd = np_socket(st[0], AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
		if (rx_fd < 0 || tx_fd < 0 || np_bind(rx_fd, (struct sockaddr *)&at, sizeof(at)) < 0 ||
		    np_connect(tx_fd, (struct sockaddr *)&at, sizeof(at)) < 0)
			die("sockets");
		/* Warm-up: the first datagram waits for ARP; afterwards every round is the steady state. */
		tx_one((size_t)size);
		for (int i = 0; i < 100; i++) {
			np_stack_poll(st[0]);
			np_stack_poll(st[1]);
		}
		if (np_recv(rx_fd, in, sizeof(in), 0) != size)
			die("warm-up datagram");
	} else {
		int lfd = np_socket(st[1], AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
		tx_fd = np_socket(st[0], AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		if (lfd < 0 || tx_fd < 0 || np_bind(lfd, (struct sockaddr *)&at, sizeof(at)) < 0 || np_listen(lfd, 1) < 0 ||
		    np_setsockopt(tx_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
			die("sockets");
		if (np_connect(tx_fd, (struct sockaddr *)&at, sizeof(at)) < 0 && errno != EINPROGRESS)
			die("np_connect");
		/* The handshake (ARP first) completes within a few rounds on the frozen clock. */
		rx_fd = -1;
		for (int i = 0; i < 100 && rx_fd < 0; i++) {
			np_stack_poll(st[0]);
			np_stack_poll(st[1]);
			rx_fd = np_accept(lfd, NULL, NULL);
		}
		if (rx_fd < 0)
			die("np_accept");
		np_close(lfd);
		for (int i = 0; i < 10; i++)
			np_stack_poll(st[0]);
	}
	for (long i = 0; i < warm; i++) {
		tx_one((size_t)size);
		rx_one((size_t)size);
	}

	CALLGRIND_START_INSTRUMENTATION;
	/* rx: the datagram is sent outside the collected region, received inside it. */
	CALLGRIND_ZERO_STATS;
	for (long i = 0; i < count; i++) {
		tx_one((size_t)size);
		CALLGRIND_TOGGLE_COLLECT;
		rx_one((size_t)size);
		CALLGRIND_TOGGLE_COLLECT;
	}
	CALLGRIND_DUMP_STATS_AT("rx");
	/* tx: the other half. */
	for (long i = 0; i < count; i++) {
		CALLGRIND_TOGGLE_COLLECT;
		tx_one((size_t)size);
		CALLGRIND_TOGGLE_COLLECT;
		rx_one((size_t)size);
	}
	CALLGRIND_DUMP_STATS_AT("tx");
	CALLGRIND_STOP_INSTRUMENTATION;

	printf("ipp proto=%s size=%ld count=%ld ok\n", tcp ? "tcp" : "udp", size, count);
	np_close(tx_fd);
	np_close(rx_fd);
	np_stack_destroy(st[0]);
	np_stack_destroy(st[1]);
	if (clk)
		np_clock_destroy(clk);
	return 0;
}
