/*
 * tcp_echo_server: TCP echo (RFC 862, port 7) and discard (RFC 863, port 9)
 * servers in one event loop, written only against the public netpath API
 * (include/netpath/), the way a program uses netpath.
 *
 *   tcp_echo_server
 *       Builds two stacks in this process, "client" (10.0.0.1) and
 *       "server" (10.0.0.2), joined by a virtual cable, runs the servers on
 *       the server stack and talks to them from the client stack: a few
 *       lines and 1 MiB through echo, 1 MiB into discard. No privileges.
 *
 *   tcp_echo_server --tap IFNAME --addr A.B.C.D/N [--host-addr A.B.C.D/N]
 *                   [--gateway A.B.C.D] [--echo-port N] [--discard-port N]
 *       Runs one stack on a TAP device and serves until SIGINT or SIGTERM.
 *       Root or CAP_NET_ADMIN. From the host:
 *         echo hello | nc -N A.B.C.D 7          (prints hello)
 *         head -c 1M /dev/zero | nc -N A.B.C.D 9
 *
 * One thread serves every connection: the sockets are non-blocking and
 * np_poll says which can be read or written, as poll(2) would over the
 * kernel's sockets. An echo connection reads only when what it read before
 * has been sent back, so a client that does not read its echoes is slowed
 * down by TCP's flow control instead of filling our memory. When the client
 * closes (FIN), echo sends what is left, then closes too.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netpath/netpath.h"
#include "netpath/socket.h"

#define MAX_CONNS 64
#define BUF_SIZE 16384

static atomic_int stopping;   /* SIGINT/SIGTERM, or main when the in-process run is over */

static void on_signal(int sig)
{
	(void)sig;
	atomic_store(&stopping, 1);
}

enum service { ECHO, DISCARD };

struct conn {
	int fd;                   /* -1: free slot */
	enum service svc;
	char buf[BUF_SIZE];       /* echo: bytes read but not yet sent back */
	size_t len, off;
	int eof;                  /* the client sent its FIN */
};

struct server {
	int listen_fd[2];         /* [ECHO], [DISCARD] */
	struct conn conns[MAX_CONNS];
	unsigned long accepted, echoed, discarded;
};

/* A non-blocking listening socket on 0.0.0.0:port. -1 and errno on failure. */
static int listen_on(struct np_stack *s, uint16_t port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port) };
	int one = 1;
	int fd = np_socket(s, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);

	if (fd < 0)
		return -1;
	if (np_setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    np_bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 || np_listen(fd, 64) < 0) {
		int e = errno;
		np_close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

static void conn_close(struct conn *c)
{
	np_close(c->fd);
	c->fd = -1;
}

/* Accepts every connection waiting on a listener (while slots are free). */
static void accept_all(struct server *sv, enum service svc)
{
	for (;;) {
		struct conn *c = NULL;
		for (int i = 0; i < MAX_CONNS && c == NULL; i++) {
			if (sv->conns[i].fd < 0)
				c = &sv->conns[i];
		}
		if (c == NULL)
			return;   /* full: the rest wait in the listen backlog */
		int fd = np_accept(sv->listen_fd[svc], NULL, NULL);
		if (fd < 0)
			return;   /* EAGAIN: none left */
		np_fcntl(fd, F_SETFL, O_NONBLOCK);   /* accept(2) does not inherit O_NONBLOCK */
		c->fd = fd;
		c->svc = svc;
		c->len = c->off = 0;
		c->eof = 0;
		sv->accepted++;
	}
}

/* Reads and writes what the connection allows now; closes it when it is done. */
static void conn_io(struct server *sv, struct conn *c, short revents)
{
	/* Send back what is pending (echo). */
	while (c->off < c->len) {
		ssize_t n = np_send(c->fd, c->buf + c->off, c->len - c->off, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;   /* wait for POLLOUT */
			conn_close(c);    /* EPIPE, ECONNRESET: the client is gone */
			return;
		}
		c->off += (size_t)n;
		sv->echoed += (unsigned long)n;
	}
	c->len = c->off = 0;
	if (c->eof) {
		conn_close(c);    /* everything echoed after the client's FIN: our FIN */
		return;
	}
	if (!(revents & (POLLIN | POLLHUP | POLLERR)))
		return;
	for (;;) {
		ssize_t n = np_recv(c->fd, c->buf, sizeof(c->buf), 0);
		if (n < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				conn_close(c);
			return;
		}
		if (n == 0) {
			c->eof = 1;
			if (c->svc == DISCARD)
				conn_close(c);
			else
				conn_io(sv, c, 0);   /* nothing pending: close now */
			return;
		}
		if (c->svc == DISCARD) {
			sv->discarded += (unsigned long)n;
			continue;
		}
		c->len = (size_t)n;
		conn_io(sv, c, 0);   /* echo it; read more only once it is all sent */
		return;
	}
}

/* The event loop: one np_poll over the listeners and every connection, until `stopping`. */
static void *serve_loop(void *arg)
{
	struct server *sv = arg;
	struct pollfd pfd[2 + MAX_CONNS];
	struct conn *owner[2 + MAX_CONNS];

	while (!atomic_load(&stopping)) {
		int n = 0;
		for (int s = 0; s < 2; s++) {
			pfd[n].fd = sv->listen_fd[s];
			pfd[n].events = POLLIN;
			owner[n++] = NULL;
		}
		for (int i = 0; i < MAX_CONNS; i++) {
			struct conn *c = &sv->conns[i];
			if (c->fd < 0)
				continue;
			pfd[n].fd = c->fd;
			pfd[n].events = c->off < c->len ? POLLOUT : POLLIN;
			owner[n++] = c;
		}
		if (np_poll(pfd, (nfds_t)n, 200) <= 0)
			continue;   /* timeout: look at `stopping` again */
		for (int i = 0; i < n; i++) {
			if (pfd[i].revents == 0)
				continue;
			if (owner[i] == NULL)
				accept_all(sv, i == 0 ? ECHO : DISCARD);
			else if (owner[i]->fd >= 0)
				conn_io(sv, owner[i], pfd[i].revents);
		}
	}
	for (int i = 0; i < MAX_CONNS; i++) {
		if (sv->conns[i].fd >= 0)
			conn_close(&sv->conns[i]);
	}
	return NULL;
}

static int server_open(struct server *sv, struct np_stack *s, long echo_port, long discard_port)
{
	memset(sv, 0, sizeof(*sv));
	for (int i = 0; i < MAX_CONNS; i++)
		sv->conns[i].fd = -1;
	sv->listen_fd[ECHO] = listen_on(s, (uint16_t)echo_port);
	sv->listen_fd[DISCARD] = sv->listen_fd[ECHO] < 0 ? -1 : listen_on(s, (uint16_t)discard_port);
	if (sv->listen_fd[DISCARD] < 0) {
		perror("tcp_echo_server: listen");
		if (sv->listen_fd[ECHO] >= 0)
			np_close(sv->listen_fd[ECHO]);
		sv->listen_fd[ECHO] = sv->listen_fd[DISCARD] = -1;
		return -1;
	}
	return 0;
}

static void server_close(struct server *sv)
{
	np_close(sv->listen_fd[ECHO]);
	np_close(sv->listen_fd[DISCARD]);
}

/* ---- without --tap: two stacks on a virtual cable ---- */

/* A blocking client: connects to the server stack's port. -1 on failure (printed). */
static int client_connect(struct np_stack *s, uint16_t port)
{
	struct sockaddr_in dst = { .sin_family = AF_INET, .sin_port = htons(port) };
	int fd = np_socket(s, AF_INET, SOCK_STREAM, 0);

	inet_pton(AF_INET, "10.0.0.2", &dst.sin_addr);
	if (fd < 0 || np_connect(fd, (struct sockaddr *)&dst, sizeof(dst)) < 0) {
		perror("client: connect");
		if (fd >= 0)
			np_close(fd);
		return -1;
	}
	return fd;
}

/* Sends n pattern bytes while reading the echo back (both directions at once); 0 if it all came back. */
static int client_bulk_echo(int fd, size_t total)
{
	static unsigned char out[BUF_SIZE], in[BUF_SIZE];
	size_t sent = 0, got = 0, bad = 0;

	np_fcntl(fd, F_SETFL, O_NONBLOCK);
	while (got < total) {
		struct pollfd p = { .fd = fd, .events = POLLIN | (sent < total ? POLLOUT : 0) };
		if (np_poll(&p, 1, 5000) <= 0)
			break;
		if (sent < total && (p.revents & POLLOUT)) {
			size_t len = total - sent < sizeof(out) ? total - sent : sizeof(out);
			for (size_t k = 0; k < len; k++)
				out[k] = (unsigned char)((sent + k) * 7);
			ssize_t n = np_send(fd, out, len, 0);
			if (n > 0 && (sent += (size_t)n) == total)
				np_shutdown(fd, SHUT_WR);   /* FIN: the server closes after the last echo */
		}
		ssize_t n = np_recv(fd, in, sizeof(in), 0);
		if (n == 0)
			break;
		for (ssize_t k = 0; k < n; k++)
			bad += in[k] != (unsigned char)((got + (size_t)k) * 7);
		if (n > 0)
			got += (size_t)n;
	}
	printf("client: sent %zu bytes to echo, %zu came back, %zu differed\n", sent, got, bad);
	return got == total && bad == 0 ? 0 : -1;
}

static int run_in_process(void)
{
	static const char *const names[2] = { "client", "server" };
	static const char *const addrs[2] = { "10.0.0.1/24", "10.0.0.2/24" };
	static const char *const lines[] = { "hello", "echo, echo", "a TCP stream through two netpath stacks" };
	struct np_stack *st[2] = { NULL, NULL };
	struct np_dev *dev[2];
	static struct server sv;
	pthread_t thread;
	int ok = 0, fd, rc = 1, started = 0;

	for (int i = 0; i < 2; i++) {
		struct np_stack_config cfg = { .name = names[i] };
		if ((st[i] = np_stack_create(&cfg)) == NULL)
			goto out;
	}
	if (np_cable_create(st[0], "eth0", st[1], "eth0", &dev[0], &dev[1]) < 0 ||
	    np_addr_add(dev[0], addrs[0]) < 0 || np_addr_add(dev[1], addrs[1]) < 0 ||
	    np_stack_start(st[0]) < 0 || np_stack_start(st[1]) < 0) {
		fprintf(stderr, "tcp_echo_server: cannot set up the two stacks\n");
		goto out;
	}
	printf("client 10.0.0.1 eth0 <== virtual cable ==> eth0 10.0.0.2 server (TCP echo on 7, discard on 9)\n\n");
	if (server_open(&sv, st[1], 7, 9) < 0 || pthread_create(&thread, NULL, serve_loop, &sv) != 0)
		goto out;
	started = 1;

	/* Echo: a line at a time, each read back before the next. */
	if ((fd = client_connect(st[0], 7)) >= 0) {
		for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
			char back[128];
			size_t len = strlen(lines[i]), got = 0;
			np_send(fd, lines[i], len, 0);
			while (got < len) {
				ssize_t n = np_recv(fd, back + got, len - got, 0);
				if (n <= 0)
					break;
				got += (size_t)n;
			}
			back[got] = '\0';
			printf("client: sent \"%s\", echo \"%s\"%s\n", lines[i], back, strcmp(back, lines[i]) ? " (DIFFERENT!)" : "");
			ok += strcmp(back, lines[i]) == 0;
		}
		np_close(fd);
	}
	/* Echo: 1 MiB while reading it back; then discard: 1 MiB and a close. */
	if ((fd = client_connect(st[0], 7)) >= 0) {
		ok += client_bulk_echo(fd, 1 << 20) == 0;
		np_close(fd);
	}
	if ((fd = client_connect(st[0], 9)) >= 0) {
		static char zeros[BUF_SIZE];
		size_t sent = 0;
		while (sent < (1u << 20)) {
			ssize_t n = np_send(fd, zeros, sizeof(zeros), 0);
			if (n <= 0)
				break;
			sent += (size_t)n;
		}
		printf("client: sent %zu bytes to discard, then closed\n", sent);
		np_shutdown(fd, SHUT_WR);
		char c;
		ok += sent == (1u << 20) && np_recv(fd, &c, 1, 0) == 0;   /* discard's FIN: it read everything */
		np_close(fd);
	}
	atomic_store(&stopping, 1);
	pthread_join(thread, NULL);
	started = 0;
	printf("\nserver: %lu connections, %lu bytes echoed, %lu bytes discarded\n", sv.accepted, sv.echoed,
	       sv.discarded);
	rc = ok == (int)(sizeof(lines) / sizeof(lines[0])) + 2 && sv.discarded == (1u << 20) ? 0 : 1;
	printf("tcp_echo_server: %s\n", rc == 0 ? "every echo matched, discard read everything" : "FAILED");
out:
	if (started) {
		atomic_store(&stopping, 1);
		pthread_join(thread, NULL);
	}
	if (sv.listen_fd[ECHO] > 0)
		server_close(&sv);   /* sv is static: 0 until server_open, -1 if it failed */
	for (int i = 0; i < 2; i++)
		np_stack_destroy(st[i]);   /* stops its thread first */
	return rc;
}

/* ---- with --tap: one stack on a TAP device ---- */

static int run_on_tap(const char *tap, const char *addr, const char *host_addr, const char *gateway, long echo_port,
		      long discard_port)
{
	struct np_stack_config cfg = { .name = "tcp_echo_server" };
	struct np_stack *s = np_stack_create(&cfg);
	static struct server sv;
	struct np_dev *dev;
	int err = 0, rc;

	if (s == NULL)
		return 1;
	dev = np_tap_open(s, tap, &err);
	if (dev == NULL) {
		fprintf(stderr, "tcp_echo_server: cannot open TAP %s: %s\n", tap, strerror(-err));
		np_stack_destroy(s);
		return 1;
	}
	if ((rc = np_dev_set_up(dev, 1)) < 0 || (rc = np_addr_add(dev, addr)) < 0 ||
	    (host_addr && (rc = np_tap_set_host_addr(dev, host_addr)) < 0) ||
	    (gateway && (rc = np_route_add(s, "default", gateway, NULL)) < 0)) {
		fprintf(stderr, "tcp_echo_server: cannot configure %s: %s\n", tap, strerror(-rc));
		np_stack_destroy(s);
		return 1;
	}
	if (server_open(&sv, s, echo_port, discard_port) < 0 || (rc = np_stack_start(s)) < 0) {
		np_stack_destroy(s);
		return 1;
	}
	fprintf(stderr, "tcp_echo_server: %s up, %s, TCP echo on port %ld, discard on port %ld (Ctrl-C stops)\n", tap,
		addr, echo_port, discard_port);

	serve_loop(&sv);   /* until SIGINT/SIGTERM */

	printf("tcp_echo_server: %lu connections, %lu bytes echoed, %lu bytes discarded\n", sv.accepted, sv.echoed,
	       sv.discarded);
	server_close(&sv);
	np_stack_destroy(s);
	return 0;
}

static void usage(FILE *out)
{
	fprintf(out, "usage: tcp_echo_server                      (two stacks in this process, no privileges)\n"
		     "       tcp_echo_server --tap IFNAME --addr A.B.C.D/N [--host-addr A.B.C.D/N]\n"
		     "                       [--gateway A.B.C.D] [--echo-port N] [--discard-port N]\n");
}

int main(int argc, char **argv)
{
	const char *tap = NULL, *addr = NULL, *host_addr = NULL, *gateway = NULL;
	long echo_port = 7, discard_port = 9;
	struct sigaction sa;

	for (int i = 1; i < argc; i++) {
		const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
		long *port = strcmp(opt, "--echo-port") == 0 ? &echo_port : strcmp(opt, "--discard-port") == 0 ? &discard_port : NULL;
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
		else if (port != NULL && (*port = strtol(val, NULL, 10)) > 0 && *port < 65536)
			;
		else {
			fprintf(stderr, "tcp_echo_server: bad option %s %s\n", opt, val);
			usage(stderr);
			return 2;
		}
		i++;
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);

	if (tap == NULL)
		return run_in_process();
	if (addr == NULL) {
		fprintf(stderr, "tcp_echo_server: --tap needs --addr A.B.C.D/N\n");
		return 2;
	}
	return run_on_tap(tap, addr, host_addr, gateway, echo_port, discard_port);
}
