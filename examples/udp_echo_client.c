/*
 * udp_echo_client: a UDP echo client written only against the public
 * netpath API (include/netpath/). It sends datagrams to an echo server
 * (RFC 862) and checks that every reply is the datagram it sent, byte for
 * byte.
 *
 *   udp_echo_client [--count N] [--size N]
 *       Builds two stacks in this process, "client" (10.0.0.1) and
 *       "server" (10.0.0.2), joined by a virtual cable, starts a small echo
 *       server on the server stack and runs the client against it. No
 *       privileges needed.
 *
 *   udp_echo_client --tap IFNAME --addr A.B.C.D/N [--host-addr A.B.C.D/N]
 *                   [--gateway A.B.C.D] [--count N] [--size N] DEST[:PORT]
 *       Runs one stack on a TAP device and talks to the echo server at
 *       DEST:PORT (default port 7), e.g. the host's
 *       `socat UDP4-RECVFROM:7,fork EXEC:cat`. Root or CAP_NET_ADMIN.
 *
 * Prints a summary; exits 0 only if every datagram came back intact.
 * The stacks run in threads of their own (np_stack_start); the client is a
 * plain blocking loop over a connected socket: np_send, then np_recv with
 * SO_RCVTIMEO, as it would be over the kernel's sockets. Being connected,
 * the socket also reports "nothing listens there" (ICMP port unreachable)
 * as ECONNREFUSED.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netpath/netpath.h"
#include "netpath/socket.h"

#define MAX_SIZE 65507   /* the largest UDP payload over IPv4 */

static atomic_int stopping;   /* SIGINT/SIGTERM */

static void on_signal(int sig)
{
	(void)sig;
	atomic_store(&stopping, 1);
}

/* Datagram i's contents: pseudo-random bytes that depend on i, so a reply can be checked. */
static void fill(unsigned char *buf, long size, long i)
{
	uint64_t x = 0x9E3779B97F4A7C15ull * (uint64_t)(i + 1);
	for (long k = 0; k < size; k++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		buf[k] = (unsigned char)x;
	}
}

/*
 * The client: count datagrams of size bytes to dst, one at a time, each
 * waiting up to 2 s for its echo. A reply that is not the datagram just
 * sent (a late echo of an earlier one, or a damaged one) is counted and
 * the wait goes on. 0 if every echo came back intact.
 */
static int echo_client(struct np_stack *s, const struct sockaddr_in *dst, long count, long size, int verbose)
{
	static unsigned char out[MAX_SIZE], in[MAX_SIZE + 1];
	struct timeval tv = { .tv_sec = 0, .tv_usec = 200000 };
	long intact = 0, wrong = 0, lost = 0, sent = 0;
	int refused = 0;
	char ip[INET_ADDRSTRLEN];
	int fd = np_socket(s, AF_INET, SOCK_DGRAM, 0);

	inet_ntop(AF_INET, &dst->sin_addr, ip, sizeof(ip));
	if (fd < 0 || np_setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    np_connect(fd, (const struct sockaddr *)dst, sizeof(*dst)) < 0) {
		fprintf(stderr, "udp_echo_client: cannot connect a UDP socket to %s:%u: %s\n", ip, ntohs(dst->sin_port),
			strerror(errno));
		if (fd >= 0)
			np_close(fd);
		return 1;
	}
	for (long i = 0; i < count && !refused && !atomic_load(&stopping); i++) {
		uint64_t t0 = np_stack_now(s), deadline = t0 + 2000000000ull;
		int matched = 0;

		fill(out, size, i);
		if (np_send(fd, out, (size_t)size, 0) < 0) {
			fprintf(stderr, "udp_echo_client: send: %s\n", strerror(errno));
			refused = errno == ECONNREFUSED;
			continue;
		}
		sent++;
		while (!matched && np_stack_now(s) < deadline && !atomic_load(&stopping)) {
			ssize_t n = np_recv(fd, in, sizeof(in), 0);
			if (n < 0 && errno == EAGAIN)
				continue;   /* SO_RCVTIMEO: check the deadline and the signal flag */
			if (n < 0) {
				/* ECONNREFUSED: an ICMP port unreachable came back, nothing listens at dst. */
				fprintf(stderr, "udp_echo_client: recv: %s\n", strerror(errno));
				refused = errno == ECONNREFUSED;
				break;
			}
			if (n == size && memcmp(in, out, (size_t)size) == 0)
				matched = 1;
			else
				wrong++;
		}
		if (matched)
			intact++;
		else
			lost++;
		if (verbose)
			printf("%ld bytes to %s:%u: %s (%.3f ms)\n", size, ip, ntohs(dst->sin_port),
			       matched ? "echo matched" : "NO MATCHING ECHO", (double)(np_stack_now(s) - t0) / 1e6);
	}
	np_close(fd);
	printf("udp_echo_client: %ld datagrams of %ld bytes sent to %s:%u: %ld echoed back intact, "
	       "%ld wrong or late replies, %ld without an echo\n",
	       sent, size, ip, ntohs(dst->sin_port), intact, wrong, lost);
	return intact == count ? 0 : 1;
}

/* ---- without --tap: two stacks on a virtual cable, with an echo server ---- */

static void *tiny_echo_server(void *arg)
{
	int fd = *(int *)arg;
	static char buf[MAX_SIZE];

	for (;;) {
		struct sockaddr_in from;
		socklen_t fromlen = sizeof(from);
		ssize_t n = np_recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fromlen);
		if (n < 0 && errno == EAGAIN)
			continue;
		if (n < 0 || atomic_load(&stopping))
			return NULL;   /* main shut the socket down: recvfrom says 0 or fails */
		np_sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&from, fromlen);
	}
}

static int run_in_process(long count, long size)
{
	static const char *const names[2] = { "client", "server" };
	static const char *const addrs[2] = { "10.0.0.1/24", "10.0.0.2/24" };
	struct np_stack *st[2] = { NULL, NULL };
	struct np_dev *dev[2];
	struct sockaddr_in any = { .sin_family = AF_INET, .sin_port = htons(7) };
	struct sockaddr_in dst = { .sin_family = AF_INET, .sin_port = htons(7) };
	pthread_t thread;
	int sfd = -1, rc = 1;

	for (int i = 0; i < 2; i++) {
		struct np_stack_config cfg = { .name = names[i] };
		if ((st[i] = np_stack_create(&cfg)) == NULL)
			goto out;
	}
	if (np_cable_create(st[0], "eth0", st[1], "eth0", &dev[0], &dev[1]) < 0 ||
	    np_addr_add(dev[0], addrs[0]) < 0 || np_addr_add(dev[1], addrs[1]) < 0 ||
	    np_stack_start(st[0]) < 0 || np_stack_start(st[1]) < 0) {
		fprintf(stderr, "udp_echo_client: cannot set up the two stacks\n");
		goto out;
	}
	sfd = np_socket(st[1], AF_INET, SOCK_DGRAM, 0);
	if (sfd < 0 || np_bind(sfd, (struct sockaddr *)&any, sizeof(any)) < 0) {
		perror("udp_echo_client: echo server socket");
		goto out;
	}
	if (pthread_create(&thread, NULL, tiny_echo_server, &sfd) != 0)
		goto out;
	printf("client 10.0.0.1 eth0 <== virtual cable ==> eth0 10.0.0.2 server (UDP echo on port 7)\n\n");

	inet_pton(AF_INET, "10.0.0.2", &dst.sin_addr);
	rc = echo_client(st[0], &dst, count, size, count <= 10);

	atomic_store(&stopping, 1);
	np_shutdown(sfd, SHUT_RDWR);   /* wakes the server thread blocked in np_recvfrom */
	pthread_join(thread, NULL);
out:
	if (sfd >= 0)
		np_close(sfd);
	for (int i = 0; i < 2; i++)
		np_stack_destroy(st[i]);   /* stops its thread first */
	return rc;
}

/* ---- with --tap: one stack on a TAP device ---- */

static int run_on_tap(const char *tap, const char *addr, const char *host_addr, const char *gateway,
		      const struct sockaddr_in *dst, long count, long size)
{
	struct np_stack_config cfg = { .name = "udp_echo_client" };
	struct np_stack *s = np_stack_create(&cfg);
	struct np_dev *dev;
	int err = 0, rc;

	if (s == NULL)
		return 1;
	dev = np_tap_open(s, tap, &err);
	if (dev == NULL) {
		fprintf(stderr, "udp_echo_client: cannot open TAP %s: %s\n", tap, strerror(-err));
		np_stack_destroy(s);
		return 1;
	}
	if ((rc = np_dev_set_up(dev, 1)) < 0 || (rc = np_addr_add(dev, addr)) < 0 ||
	    (host_addr && (rc = np_tap_set_host_addr(dev, host_addr)) < 0) ||
	    (gateway && (rc = np_route_add(s, "default", gateway, NULL)) < 0) || (rc = np_stack_start(s)) < 0) {
		fprintf(stderr, "udp_echo_client: cannot configure %s: %s\n", tap, strerror(-rc));
		np_stack_destroy(s);
		return 1;
	}
	rc = echo_client(s, dst, count, size, count <= 10);
	np_stack_destroy(s);
	return rc;
}

static void usage(FILE *out)
{
	fprintf(out, "usage: udp_echo_client [--count N] [--size N]     (two stacks in this process, no privileges)\n"
		     "       udp_echo_client --tap IFNAME --addr A.B.C.D/N [--host-addr A.B.C.D/N]\n"
		     "                       [--gateway A.B.C.D] [--count N] [--size N] DEST[:PORT]\n"
		     "  --count N  datagrams to send, one at a time (default 5)\n"
		     "  --size N   bytes in each (default 64; at most 1472 on a 1500-byte MTU)\n");
}

/* "A.B.C.D" or "A.B.C.D:PORT" (default port 7). 0 or -1. */
static int parse_dest(const char *s, struct sockaddr_in *dst)
{
	char host[INET_ADDRSTRLEN];
	const char *colon = strchr(s, ':');
	size_t len = colon ? (size_t)(colon - s) : strlen(s);
	long port = colon ? strtol(colon + 1, NULL, 10) : 7;

	if (len >= sizeof(host) || port <= 0 || port > 65535)
		return -1;
	memcpy(host, s, len);
	host[len] = '\0';
	memset(dst, 0, sizeof(*dst));
	dst->sin_family = AF_INET;
	dst->sin_port = htons((uint16_t)port);
	return inet_pton(AF_INET, host, &dst->sin_addr) == 1 ? 0 : -1;
}

int main(int argc, char **argv)
{
	const char *tap = NULL, *addr = NULL, *host_addr = NULL, *gateway = NULL, *dest = NULL;
	long count = 5, size = 64;
	struct sockaddr_in dst;
	struct sigaction sa;

	for (int i = 1; i < argc; i++) {
		const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(opt, "--help") == 0 || strcmp(opt, "-h") == 0) {
			usage(stdout);
			return 0;
		}
		if (opt[0] != '-' && dest == NULL) {
			dest = opt;
			continue;
		}
		if (val == NULL) {
			usage(stderr);
			return 2;
		}
		if (strcmp(opt, "--tap") == 0)
			tap = val;
		else if (strcmp(opt, "--addr") == 0)
			addr = val;
		else if (strcmp(opt, "--host-addr") == 0)
			host_addr = val;
		else if (strcmp(opt, "--gateway") == 0)
			gateway = val;
		else if (strcmp(opt, "--count") == 0 && (count = strtol(val, NULL, 10)) > 0)
			;
		else if (strcmp(opt, "--size") == 0 && (size = strtol(val, NULL, 10)) >= 0 && size <= MAX_SIZE)
			;
		else {
			fprintf(stderr, "udp_echo_client: bad option %s %s\n", opt, val);
			usage(stderr);
			return 2;
		}
		i++;
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	setvbuf(stdout, NULL, _IOLBF, 0);

	if (tap == NULL) {
		if (dest != NULL) {
			fprintf(stderr, "udp_echo_client: DEST needs --tap (without it the client talks to its own server)\n");
			return 2;
		}
		return run_in_process(count, size);
	}
	if (addr == NULL || dest == NULL || parse_dest(dest, &dst) < 0) {
		fprintf(stderr, "udp_echo_client: --tap needs --addr A.B.C.D/N and a destination A.B.C.D[:PORT]\n");
		return 2;
	}
	return run_on_tap(tap, addr, host_addr, gateway, &dst, count, size);
}
