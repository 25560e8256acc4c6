/*
 * udp_echo_server: a UDP echo server (RFC 862) written only against the
 * public netpath API (include/netpath/), the way a program uses netpath.
 *
 *   udp_echo_server
 *       Builds two stacks in this process, "client" (10.0.0.1) and
 *       "server" (10.0.0.2), joined by a virtual cable, runs the echo
 *       server on the server stack and sends it a few datagrams from the
 *       client stack. No privileges needed.
 *
 *   udp_echo_server --tap IFNAME --addr A.B.C.D/N [--host-addr A.B.C.D/N]
 *                   [--gateway A.B.C.D] [--port N]
 *       Runs one stack on a TAP device and echoes every datagram sent to
 *       --port (default 7) until SIGINT or SIGTERM. Root or CAP_NET_ADMIN.
 *       From the host:  echo hello | socat - UDP4:A.B.C.D:7
 *
 * Each stack runs in a thread of its own (np_stack_start), so the server is
 * the plain blocking loop it would be over the kernel's sockets: np_recvfrom,
 * np_sendto back to the sender. SO_RCVTIMEO wakes the loop now and then to
 * see whether it was asked to stop.
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

static atomic_int stopping;   /* set by SIGINT/SIGTERM, or by main when the demo is over */

static void on_signal(int sig)
{
	(void)sig;
	atomic_store(&stopping, 1);
}

/* A UDP socket bound to 0.0.0.0:port, with a large receive buffer for bursts. -1 and errno on failure. */
static int echo_socket(struct np_stack *s, uint16_t port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port) };
	struct timeval tv = { .tv_sec = 0, .tv_usec = 200000 };
	int rcvbuf = 1 << 20;  /* capped at net.core.rmem_max, as on Linux */
	int fd = np_socket(s, AF_INET, SOCK_DGRAM, 0);

	if (fd < 0)
		return -1;
	if (np_bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
	    np_setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    np_setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)) < 0) {
		int e = errno;
		np_close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

struct server {
	int fd;
	int verbose;
	long echoed;
};

/* The server itself: every datagram goes back to its sender, until `stopping`. */
static void *echo_loop(void *arg)
{
	struct server *sv = arg;
	char buf[65536];   /* the largest datagram */

	while (!atomic_load(&stopping)) {
		struct sockaddr_in from;
		socklen_t fromlen = sizeof(from);
		ssize_t n = np_recvfrom(sv->fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fromlen);
		if (n < 0) {
			if (errno == EAGAIN)
				continue;   /* SO_RCVTIMEO passed: look at `stopping` again */
			perror("udp_echo_server: recvfrom");
			break;
		}
		if (sv->verbose) {
			char ip[INET_ADDRSTRLEN];
			inet_ntop(AF_INET, &from.sin_addr, ip, sizeof(ip));
			printf("server: %zd bytes from %s:%u, echoing them back\n", n, ip, ntohs(from.sin_port));
		}
		if (np_sendto(sv->fd, buf, (size_t)n, 0, (struct sockaddr *)&from, fromlen) < 0)
			perror("udp_echo_server: sendto");
		else
			sv->echoed++;
	}
	return NULL;
}

/* ---- without --tap: two stacks on a virtual cable ---- */

static int run_in_process(void)
{
	static const char *const names[2] = { "client", "server" };
	static const char *const addrs[2] = { "10.0.0.1/24", "10.0.0.2/24" };
	static const char *const msgs[] = { "hello", "echo, echo", "a UDP datagram through two netpath stacks" };
	struct np_stack *st[2] = { NULL, NULL };
	struct np_dev *dev[2];
	struct server sv = { .fd = -1, .verbose = 1 };
	pthread_t thread;
	int ok = 0, cfd = -1, rc = 1;

	for (int i = 0; i < 2; i++) {
		struct np_stack_config cfg = { .name = names[i] };
		if ((st[i] = np_stack_create(&cfg)) == NULL)
			goto out;
	}
	if (np_cable_create(st[0], "eth0", st[1], "eth0", &dev[0], &dev[1]) < 0 ||
	    np_addr_add(dev[0], addrs[0]) < 0 || np_addr_add(dev[1], addrs[1]) < 0 ||
	    np_stack_start(st[0]) < 0 || np_stack_start(st[1]) < 0) {
		fprintf(stderr, "udp_echo_server: cannot set up the two stacks\n");
		goto out;
	}
	printf("client 10.0.0.1 eth0 <== virtual cable ==> eth0 10.0.0.2 server (UDP echo on port 7)\n\n");

	if ((sv.fd = echo_socket(st[1], 7)) < 0) {
		perror("udp_echo_server: socket on the server stack");
		goto out;
	}
	if (pthread_create(&thread, NULL, echo_loop, &sv) != 0) {
		fprintf(stderr, "udp_echo_server: cannot start the server thread\n");
		goto out;
	}

	/* A small client on the other stack: a connected socket, send, wait for the echo. */
	struct sockaddr_in dst = { .sin_family = AF_INET, .sin_port = htons(7) };
	struct timeval tv = { .tv_sec = 2 };
	inet_pton(AF_INET, "10.0.0.2", &dst.sin_addr);
	cfd = np_socket(st[0], AF_INET, SOCK_DGRAM, 0);
	if (cfd < 0 || np_setsockopt(cfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    np_connect(cfd, (struct sockaddr *)&dst, sizeof(dst)) < 0) {
		perror("udp_echo_server: client socket");
	} else {
		for (size_t i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++) {
			char back[256];
			printf("client: sending \"%s\"\n", msgs[i]);
			if (np_send(cfd, msgs[i], strlen(msgs[i]), 0) < 0) {
				perror("client: send");
				continue;
			}
			ssize_t n = np_recv(cfd, back, sizeof(back) - 1, 0);
			if (n < 0) {
				perror("client: recv");
				continue;
			}
			back[n] = '\0';
			printf("client: got back \"%s\"%s\n", back, strcmp(back, msgs[i]) == 0 ? "" : " (DIFFERENT!)");
			ok += strcmp(back, msgs[i]) == 0;
		}
	}
	atomic_store(&stopping, 1);
	pthread_join(thread, NULL);
	printf("\n%d of %zu datagrams came back intact; the server echoed %ld\n", ok, sizeof(msgs) / sizeof(msgs[0]),
	       sv.echoed);
	rc = ok == (int)(sizeof(msgs) / sizeof(msgs[0])) ? 0 : 1;
out:
	if (cfd >= 0)
		np_close(cfd);
	if (sv.fd >= 0)
		np_close(sv.fd);
	for (int i = 0; i < 2; i++)
		np_stack_destroy(st[i]);   /* stops its thread first */
	return rc;
}

/* ---- with --tap: one stack on a TAP device ---- */

static int run_on_tap(const char *tap, const char *addr, const char *host_addr, const char *gateway, long port)
{
	struct np_stack_config cfg = { .name = "udp_echo_server" };
	struct np_stack *s = np_stack_create(&cfg);
	struct server sv = { .fd = -1, .verbose = 0 };
	struct np_dev *dev;
	int err = 0, rc;

	if (s == NULL)
		return 1;
	dev = np_tap_open(s, tap, &err);
	if (dev == NULL) {
		fprintf(stderr, "udp_echo_server: cannot open TAP %s: %s\n", tap, strerror(-err));
		np_stack_destroy(s);
		return 1;
	}
	if ((rc = np_dev_set_up(dev, 1)) < 0 || (rc = np_addr_add(dev, addr)) < 0 ||
	    (host_addr && (rc = np_tap_set_host_addr(dev, host_addr)) < 0) ||
	    (gateway && (rc = np_route_add(s, "default", gateway, NULL)) < 0)) {
		fprintf(stderr, "udp_echo_server: cannot configure %s: %s\n", tap, strerror(-rc));
		np_stack_destroy(s);
		return 1;
	}
	if ((sv.fd = echo_socket(s, (uint16_t)port)) < 0 || (rc = np_stack_start(s)) < 0) {
		perror("udp_echo_server: socket");
		np_stack_destroy(s);
		return 1;
	}
	fprintf(stderr, "udp_echo_server: %s up, %s, UDP echo on port %ld (Ctrl-C stops)\n", tap, addr, port);

	echo_loop(&sv);   /* until SIGINT/SIGTERM */

	printf("udp_echo_server: echoed %ld datagrams\n", sv.echoed);
	np_close(sv.fd);
	np_stack_destroy(s);
	return 0;
}

static void usage(FILE *out)
{
	fprintf(out, "usage: udp_echo_server                      (two stacks in this process, no privileges)\n"
		     "       udp_echo_server --tap IFNAME --addr A.B.C.D/N [--host-addr A.B.C.D/N]\n"
		     "                       [--gateway A.B.C.D] [--port N]   (echo on a TAP until Ctrl-C)\n");
}

int main(int argc, char **argv)
{
	const char *tap = NULL, *addr = NULL, *host_addr = NULL, *gateway = NULL;
	long port = 7;
	struct sigaction sa;

	for (int i = 1; i < argc; i++) {
		const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(opt, "--help") == 0 || strcmp(opt, "-h") == 0) {
			usage(stdout);
			return 0;
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
		else if (strcmp(opt, "--port") == 0 && (port = strtol(val, NULL, 10)) > 0 && port < 65536)
			;
		else {
			fprintf(stderr, "udp_echo_server: bad option %s %s\n", opt, val);
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

	if (tap == NULL)
		return run_in_process();
	if (addr == NULL) {
		fprintf(stderr, "udp_echo_server: --tap needs --addr A.B.C.D/N\n");
		return 2;
	}
	return run_on_tap(tap, addr, host_addr, gateway, port);
}
