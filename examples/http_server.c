/*
 * http_server: a small HTTP/1.1 file server (RFC 9110, 9112) written only
 * against the public netpath API (include/netpath/).
 *
 *   http_server
 *       Builds two stacks in this process, "client" (10.0.0.1) and
 *       "server" (10.0.0.2), joined by a virtual cable; serves a temporary
 *       directory holding index.html and a 1 MiB file from the server stack
 *       and fetches both from the client stack. No privileges needed.
 *
 *   http_server --tap IFNAME --addr A.B.C.D/N [--host-addr A.B.C.D/N]
 *               [--gateway A.B.C.D] [--port N] DIR
 *       Runs one stack on a TAP device and serves the files under DIR on
 *       --port (default 80) until SIGINT or SIGTERM. Root or CAP_NET_ADMIN.
 *       From the host:  curl -O http://A.B.C.D/FILE
 *
 * One thread per connection, each a plain blocking loop over the socket:
 * read the request head, answer it, close (Connection: close keeps this
 * example short; `netpath run --serve http=DIR` in tools/serve.c also keeps
 * connections open, lists directories and caps the threads). GET and HEAD
 * only (405 for other methods), 404 for missing files, 403 for paths with
 * "..". Files are sent in 64 KiB pieces, never read whole into memory.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "netpath/netpath.h"
#include "netpath/socket.h"

static atomic_int stopping;   /* SIGINT/SIGTERM, or main when the in-process run is over */
static atomic_int active;     /* connection threads still running */
static atomic_ulong served;   /* responses sent */

static void on_signal(int sig)
{
	(void)sig;
	atomic_store(&stopping, 1);
}

struct conn {
	int fd;
	const char *root;
};

/* Sends all of buf; 0 or -1 (the client left). */
static int send_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t n = np_send(fd, p, len, MSG_NOSIGNAL);
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* A status line, the headers and (unless HEAD) a short text body. */
static void send_status(int fd, int status, const char *reason, int head_only)
{
	char buf[512];
	int n = snprintf(buf, sizeof(buf),
			 "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
			 "Connection: close\r\n\r\n%s\n",
			 status, reason, strlen(reason) + 1, head_only ? "" : reason);
	send_all(fd, buf, (size_t)n - (head_only ? 1 : 0));
	atomic_fetch_add(&served, 1);
}

/* Answers one request: "GET /path HTTP/1.1" and headers, already read into req. */
static void answer(int fd, const char *root, char *req)
{
	char method[16], target[2048], version[16], path[PATH_MAX + 2048], head[256];
	struct stat st;
	int head_only, file;

	if (sscanf(req, "%15s %2047s %15s", method, target, version) != 3 || strncmp(version, "HTTP/1.", 7) != 0 ||
	    target[0] != '/') {
		send_status(fd, 400, "Bad Request", 0);
		return;
	}
	head_only = strcmp(method, "HEAD") == 0;
	if (!head_only && strcmp(method, "GET") != 0) {
		send_status(fd, 405, "Method Not Allowed", 0);
		return;
	}
	target[strcspn(target, "?#")] = '\0';
	if (strstr(target, "..") != NULL || strchr(target, '%') != NULL) {
		send_status(fd, 403, "Forbidden", head_only);   /* no climbing out of root (and no decoding here) */
		return;
	}
	snprintf(path, sizeof(path), "%s%s%s", root, target, target[strlen(target) - 1] == '/' ? "index.html" : "");
	file = open(path, O_RDONLY | O_CLOEXEC);
	if (file < 0 || fstat(file, &st) < 0 || !S_ISREG(st.st_mode)) {
		if (file >= 0)
			close(file);
		send_status(fd, 404, "Not Found", head_only);
		return;
	}
	int n = snprintf(head, sizeof(head),
			 "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: %lld\r\n"
			 "Connection: close\r\n\r\n",
			 (long long)st.st_size);
	atomic_fetch_add(&served, 1);
	if (send_all(fd, head, (size_t)n) == 0 && !head_only) {
		char *buf = malloc(65536);
		ssize_t r;
		while (buf != NULL && (r = read(file, buf, 65536)) > 0 && send_all(fd, buf, (size_t)r) == 0)
			;
		free(buf);
	}
	close(file);
}

/* One connection: read the head (up to the empty line), answer, close. */
static void *conn_main(void *arg)
{
	struct conn *c = arg;
	char req[8192];
	size_t have = 0;

	while (have < sizeof(req) - 1) {
		ssize_t n = np_recv(c->fd, req + have, sizeof(req) - 1 - have, 0);
		if (n <= 0)
			break;
		have += (size_t)n;
		req[have] = '\0';
		if (strstr(req, "\r\n\r\n") != NULL || strstr(req, "\n\n") != NULL) {
			answer(c->fd, c->root, req);
			break;
		}
	}
	if (have == sizeof(req) - 1)
		send_status(c->fd, 431, "Request Header Fields Too Large", 0);
	np_close(c->fd);   /* data still queued is sent, then our FIN */
	free(c);
	atomic_fetch_sub(&active, 1);
	return NULL;
}

/* Accepts connections until `stopping`, each into a thread of its own. */
static void *accept_loop(void *arg)
{
	struct conn *proto = arg;

	while (!atomic_load(&stopping)) {
		struct pollfd p = { .fd = proto->fd, .events = POLLIN };
		if (np_poll(&p, 1, 200) <= 0)
			continue;   /* timeout: look at `stopping` again */
		int fd = np_accept(proto->fd, NULL, NULL);
		if (fd < 0)
			continue;
		struct conn *c = malloc(sizeof(*c));
		pthread_t t;
		if (c == NULL) {
			np_close(fd);
			continue;
		}
		/* A client that goes quiet is dropped, so stopping never waits long. */
		struct timeval idle = { .tv_sec = 5 }, stall = { .tv_sec = 30 };
		np_setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &idle, sizeof(idle));
		np_setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &stall, sizeof(stall));
		c->fd = fd;
		c->root = proto->root;
		atomic_fetch_add(&active, 1);
		if (pthread_create(&t, NULL, conn_main, c) != 0) {
			atomic_fetch_sub(&active, 1);
			np_close(fd);
			free(c);
			continue;
		}
		pthread_detach(t);
	}
	while (atomic_load(&active) > 0)
		usleep(10000);   /* let the connections finish before the stack goes */
	return NULL;
}

static int listen_on(struct np_stack *s, long port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int one = 1, fd = np_socket(s, AF_INET, SOCK_STREAM, 0);

	if (fd < 0 || np_setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    np_bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 || np_listen(fd, 128) < 0) {
		perror("http_server: listen");
		if (fd >= 0)
			np_close(fd);
		return -1;
	}
	return fd;
}

/* ---- without --tap: two stacks on a virtual cable ---- */

/* GETs path from 10.0.0.2 on the client stack; returns the body length, -1 on failure. */
static long fetch(struct np_stack *s, const char *path)
{
	struct sockaddr_in dst = { .sin_family = AF_INET, .sin_port = htons(80) };
	char req[256], *buf = malloc(2 << 20);
	size_t have = 0;
	long body = -1;
	int fd = np_socket(s, AF_INET, SOCK_STREAM, 0);

	inet_pton(AF_INET, "10.0.0.2", &dst.sin_addr);
	if (buf == NULL || fd < 0 || np_connect(fd, (struct sockaddr *)&dst, sizeof(dst)) < 0) {
		perror("client: connect");
		goto out;
	}
	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: 10.0.0.2\r\nConnection: close\r\n\r\n", path);
	send_all(fd, req, strlen(req));
	for (;;) {
		ssize_t n = np_recv(fd, buf + have, (2 << 20) - 1 - have, 0);
		if (n <= 0)
			break;   /* the server's FIN ends the response */
		have += (size_t)n;
	}
	buf[have] = '\0';
	char *end = strstr(buf, "\r\n\r\n");
	if (end != NULL) {
		printf("client: GET %s -> %.*s, %zu body bytes\n", path, (int)strcspn(buf, "\r"), buf,
		       have - (size_t)(end + 4 - buf));
		body = strncmp(buf, "HTTP/1.1 200", 12) == 0 ? (long)(have - (size_t)(end + 4 - buf)) : -1;
	}
out:
	if (fd >= 0)
		np_close(fd);
	free(buf);
	return body;
}

static int run_in_process(void)
{
	static const char *const names[2] = { "client", "server" };
	static const char *const addrs[2] = { "10.0.0.1/24", "10.0.0.2/24" };
	static const char index_html[] = "<html><body><h1>served by netpath</h1></body></html>\n";
	struct np_stack *st[2] = { NULL, NULL };
	struct np_dev *dev[2];
	char dir[] = "/tmp/http_server.XXXXXX", file[64];
	struct conn listener = { .fd = -1, .root = dir };
	pthread_t thread;
	int rc = 1, started = 0;
	FILE *f;

	if (mkdtemp(dir) == NULL) {
		perror("http_server: mkdtemp");
		return 1;
	}
	snprintf(file, sizeof(file), "%s/index.html", dir);
	if ((f = fopen(file, "w")) != NULL) {
		fputs(index_html, f);
		fclose(f);
	}
	snprintf(file, sizeof(file), "%s/data.bin", dir);
	if ((f = fopen(file, "w")) != NULL) {
		for (long i = 0; i < (1 << 20); i++)
			fputc((int)(i % 251), f);
		fclose(f);
	}
	for (int i = 0; i < 2; i++) {
		struct np_stack_config cfg = { .name = names[i] };
		if ((st[i] = np_stack_create(&cfg)) == NULL)
			goto out;
	}
	if (np_cable_create(st[0], "eth0", st[1], "eth0", &dev[0], &dev[1]) < 0 ||
	    np_addr_add(dev[0], addrs[0]) < 0 || np_addr_add(dev[1], addrs[1]) < 0 ||
	    np_stack_start(st[0]) < 0 || np_stack_start(st[1]) < 0 || (listener.fd = listen_on(st[1], 80)) < 0 ||
	    pthread_create(&thread, NULL, accept_loop, &listener) != 0) {
		fprintf(stderr, "http_server: cannot set up the two stacks\n");
		goto out;
	}
	started = 1;
	printf("client 10.0.0.1 eth0 <== virtual cable ==> eth0 10.0.0.2 server (HTTP on port 80, files in %s)\n\n",
	       dir);
	long a = fetch(st[0], "/");
	long b = fetch(st[0], "/data.bin");
	long c = fetch(st[0], "/missing");
	rc = a == (long)strlen(index_html) && b == (1 << 20) && c == -1 ? 0 : 1;
	printf("\nhttp_server: %s\n", rc == 0 ? "index.html and 1 MiB served intact, 404 for the missing file" : "FAILED");
out:
	atomic_store(&stopping, 1);
	if (started)
		pthread_join(thread, NULL);
	if (listener.fd >= 0)
		np_close(listener.fd);
	for (int i = 0; i < 2; i++)
		np_stack_destroy(st[i]);
	snprintf(file, sizeof(file), "%s/index.html", dir);
	unlink(file);
	snprintf(file, sizeof(file), "%s/data.bin", dir);
	unlink(file);
	rmdir(dir);
	return rc;
}

/* ---- with --tap: one stack on a TAP device ---- */

static int run_on_tap(const char *tap, const char *addr, const char *host_addr, const char *gateway, long port,
		      const char *root)
{
	struct np_stack_config cfg = { .name = "http_server" };
	struct np_stack *s = np_stack_create(&cfg);
	struct conn listener = { .fd = -1, .root = root };
	struct np_dev *dev;
	int err = 0, rc;

	if (s == NULL)
		return 1;
	dev = np_tap_open(s, tap, &err);
	if (dev == NULL) {
		fprintf(stderr, "http_server: cannot open TAP %s: %s\n", tap, strerror(-err));
		np_stack_destroy(s);
		return 1;
	}
	if ((rc = np_dev_set_up(dev, 1)) < 0 || (rc = np_addr_add(dev, addr)) < 0 ||
	    (host_addr && (rc = np_tap_set_host_addr(dev, host_addr)) < 0) ||
	    (gateway && (rc = np_route_add(s, "default", gateway, NULL)) < 0)) {
		fprintf(stderr, "http_server: cannot configure %s: %s\n", tap, strerror(-rc));
		np_stack_destroy(s);
		return 1;
	}
	if ((listener.fd = listen_on(s, port)) < 0 || np_stack_start(s) < 0) {
		np_stack_destroy(s);
		return 1;
	}
	fprintf(stderr, "http_server: %s up, %s, HTTP on port %ld, files under %s (Ctrl-C stops)\n", tap, addr, port,
		root);
	accept_loop(&listener);   /* until SIGINT/SIGTERM */
	printf("http_server: %lu responses\n", atomic_load(&served));
	np_close(listener.fd);
	np_stack_destroy(s);
	return 0;
}

static void usage(FILE *out)
{
	fprintf(out, "usage: http_server                      (two stacks in this process, no privileges)\n"
		     "       http_server --tap IFNAME --addr A.B.C.D/N [--host-addr A.B.C.D/N]\n"
		     "                   [--gateway A.B.C.D] [--port N] DIR\n");
}

int main(int argc, char **argv)
{
	const char *tap = NULL, *addr = NULL, *host_addr = NULL, *gateway = NULL, *root = NULL;
	long port = 80;
	struct sigaction sa;

	for (int i = 1; i < argc; i++) {
		const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(opt, "--help") == 0 || strcmp(opt, "-h") == 0) {
			usage(stdout);
			return 0;
		}
		if (opt[0] != '-' && root == NULL) {
			root = opt;
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
		else if (strcmp(opt, "--port") == 0 && (port = strtol(val, NULL, 10)) > 0 && port < 65536)
			;
		else {
			fprintf(stderr, "http_server: bad option %s %s\n", opt, val);
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
	if (addr == NULL || root == NULL) {
		fprintf(stderr, "http_server: --tap needs --addr A.B.C.D/N and a directory to serve\n");
		return 2;
	}
	return run_on_tap(tap, addr, host_addr, gateway, port, root);
}
