/*
 * http_client: downloads one URL with an HTTP/1.1 GET (RFC 9110, 9112),
 * written only against the public netpath API (include/netpath/).
 *
 *   http_client
 *       Builds two stacks in this process, "client" (10.0.0.1) and
 *       "server" (10.0.0.2), joined by a virtual cable; a tiny server on
 *       the server stack answers with 1 MiB and the client downloads and
 *       checks it. No privileges needed.
 *
 *   http_client --tap IFNAME --addr A.B.C.D/N [--host-addr A.B.C.D/N]
 *               [--gateway A.B.C.D] [-o FILE] http://A.B.C.D[:PORT]/PATH
 *       Runs one stack on a TAP device and downloads the URL, e.g. from the
 *       host's `python3 -m http.server`, into FILE (default: stdout).
 *       Root or CAP_NET_ADMIN.
 *
 * The client is the plain blocking sequence it would be over the kernel's
 * sockets: np_connect (which waits for the handshake), np_send the request,
 * np_recv until the server closes. The body is framed by Content-Length or
 * by the close; chunked responses are left to `netpath get` (tools/get.c).
 * Exits 0 only if the whole body arrived with status 200.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "netpath/netpath.h"
#include "netpath/socket.h"

#define BODY_SIZE (1 << 20)   /* what the in-process server sends */

/* Downloads url through stack s into out; the body length, or -1 on failure (printed). */
static long http_get(struct np_stack *s, const char *url, FILE *out)
{
	struct sockaddr_in dst = { .sin_family = AF_INET, .sin_port = htons(80) };
	char host[64], req[2300], head[16384];
	const char *path;
	size_t have = 0;
	long length = -1, body = 0;
	int fd, status = 0;
	char *end = NULL;

	/* http://A.B.C.D[:PORT]/PATH: an address, no DNS. */
	if (strncmp(url, "http://", 7) != 0 || sscanf(url + 7, "%63[0-9.]", host) != 1 ||
	    inet_pton(AF_INET, host, &dst.sin_addr) != 1) {
		fprintf(stderr, "http_client: bad URL %s (expected http://A.B.C.D[:PORT]/PATH)\n", url);
		return -1;
	}
	path = url + 7 + strlen(host);
	if (*path == ':') {
		dst.sin_port = htons((uint16_t)strtol(path + 1, NULL, 10));
		path += strcspn(path, "/");
	}
	if (*path == '\0')
		path = "/";
	if (strlen(path) > 2048) {
		fprintf(stderr, "http_client: URL too long\n");
		return -1;
	}
	fd = np_socket(s, AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || np_connect(fd, (struct sockaddr *)&dst, sizeof(dst)) < 0) {
		fprintf(stderr, "http_client: connect to %s:%u: %s\n", host, ntohs(dst.sin_port), strerror(errno));
		if (fd >= 0)
			np_close(fd);
		return -1;
	}
	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", path, host);
	if (np_send(fd, req, strlen(req), MSG_NOSIGNAL) != (ssize_t)strlen(req)) {
		fprintf(stderr, "http_client: send: %s\n", strerror(errno));
		np_close(fd);
		return -1;
	}
	/* The head: read until the empty line. */
	while (end == NULL && have < sizeof(head) - 1) {
		ssize_t n = np_recv(fd, head + have, sizeof(head) - 1 - have, 0);
		if (n <= 0)
			break;
		have += (size_t)n;
		head[have] = '\0';
		end = strstr(head, "\r\n\r\n");
	}
	if (end == NULL || sscanf(head, "HTTP/1.%*d %d", &status) != 1) {
		fprintf(stderr, "http_client: no HTTP response from %s\n", host);
		np_close(fd);
		return -1;
	}
	for (char *line = strstr(head, "\r\n"); line != NULL && line < end; line = strstr(line + 2, "\r\n")) {
		if (strncasecmp(line + 2, "Content-Length:", 15) == 0)
			length = strtol(line + 17, NULL, 10);
		if (strncasecmp(line + 2, "Transfer-Encoding:", 18) == 0) {
			fprintf(stderr, "http_client: the response is chunked; `netpath get` decodes that\n");
			np_close(fd);
			return -1;
		}
	}
	fprintf(stderr, "http_client: %.*s\n", (int)strcspn(head, "\r"), head);
	/* The body: what followed the head, then everything until the server closes. */
	body = (long)(have - (size_t)(end + 4 - head));
	fwrite(end + 4, 1, (size_t)body, out);
	for (;;) {
		char buf[65536];
		ssize_t n = np_recv(fd, buf, sizeof(buf), 0);
		if (n < 0)
			fprintf(stderr, "http_client: recv: %s\n", strerror(errno));
		if (n <= 0)
			break;
		fwrite(buf, 1, (size_t)n, out);
		body += n;
		if (length >= 0 && body >= length)
			break;
	}
	np_close(fd);
	if (status != 200 || (length >= 0 && body != length)) {
		fprintf(stderr, "http_client: status %d, %ld of %ld bytes\n", status, body, length);
		return -1;
	}
	return body;
}

/* ---- without --tap: two stacks on a virtual cable ---- */

/* The in-process server: answers one request with BODY_SIZE bytes of a pattern. */
static void *tiny_server(void *arg)
{
	int lfd = *(int *)arg, fd;
	char req[4096], head[128];
	static char body[BODY_SIZE];

	fd = np_accept(lfd, NULL, NULL);
	if (fd < 0)
		return NULL;
	np_recv(fd, req, sizeof(req), 0);   /* the request (small: one segment) */
	for (long i = 0; i < BODY_SIZE; i++)
		body[i] = (char)(i % 251);
	snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n", BODY_SIZE);
	np_send(fd, head, strlen(head), MSG_NOSIGNAL);
	for (size_t off = 0; off < BODY_SIZE;) {
		ssize_t n = np_send(fd, body + off, BODY_SIZE - off, MSG_NOSIGNAL);
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	np_close(fd);
	return NULL;
}

static int run_in_process(void)
{
	static const char *const names[2] = { "client", "server" };
	static const char *const addrs[2] = { "10.0.0.1/24", "10.0.0.2/24" };
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(80) };
	struct np_stack *st[2] = { NULL, NULL };
	struct np_dev *dev[2];
	char *got = NULL;
	size_t len = 0;
	pthread_t thread;
	int lfd = -1, rc = 1, started = 0;
	long n;
	FILE *mem = open_memstream(&got, &len);

	for (int i = 0; i < 2; i++) {
		struct np_stack_config cfg = { .name = names[i] };
		if ((st[i] = np_stack_create(&cfg)) == NULL)
			goto out;
	}
	if (mem == NULL || np_cable_create(st[0], "eth0", st[1], "eth0", &dev[0], &dev[1]) < 0 ||
	    np_addr_add(dev[0], addrs[0]) < 0 || np_addr_add(dev[1], addrs[1]) < 0 || np_stack_start(st[0]) < 0 ||
	    np_stack_start(st[1]) < 0 || (lfd = np_socket(st[1], AF_INET, SOCK_STREAM, 0)) < 0 ||
	    np_bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) < 0 || np_listen(lfd, 4) < 0 ||
	    pthread_create(&thread, NULL, tiny_server, &lfd) != 0) {
		fprintf(stderr, "http_client: cannot set up the two stacks\n");
		goto out;
	}
	started = 1;
	printf("client 10.0.0.1 eth0 <== virtual cable ==> eth0 10.0.0.2 server (answers GET with 1 MiB)\n\n");
	n = http_get(st[0], "http://10.0.0.2/", mem);
	fclose(mem);
	mem = NULL;
	rc = n == BODY_SIZE ? 0 : 1;
	for (long i = 0; rc == 0 && i < BODY_SIZE; i++)
		rc = got[i] != (char)(i % 251);
	printf("http_client: %ld bytes, %s\n", n, rc == 0 ? "every byte as the server sent it" : "FAILED");
out:
	if (started)
		pthread_join(thread, NULL);
	if (mem != NULL)
		fclose(mem);
	free(got);
	if (lfd >= 0)
		np_close(lfd);
	for (int i = 0; i < 2; i++)
		np_stack_destroy(st[i]);
	return rc;
}

/* ---- with --tap ---- */

static int run_on_tap(const char *tap, const char *addr, const char *host_addr, const char *gateway, const char *url,
		      const char *outpath)
{
	struct np_stack_config cfg = { .name = "http_client" };
	struct np_stack *s = np_stack_create(&cfg);
	struct np_dev *dev;
	FILE *out = stdout;
	int err = 0, rc;
	long n;

	if (s == NULL)
		return 1;
	dev = np_tap_open(s, tap, &err);
	if (dev == NULL) {
		fprintf(stderr, "http_client: cannot open TAP %s: %s\n", tap, strerror(-err));
		np_stack_destroy(s);
		return 1;
	}
	if ((rc = np_dev_set_up(dev, 1)) < 0 || (rc = np_addr_add(dev, addr)) < 0 ||
	    (host_addr && (rc = np_tap_set_host_addr(dev, host_addr)) < 0) ||
	    (gateway && (rc = np_route_add(s, "default", gateway, NULL)) < 0) || (rc = np_stack_start(s)) < 0) {
		fprintf(stderr, "http_client: cannot configure %s: %s\n", tap, strerror(-rc));
		np_stack_destroy(s);
		return 1;
	}
	if (outpath != NULL && (out = fopen(outpath, "wb")) == NULL) {
		perror(outpath);
		np_stack_destroy(s);
		return 1;
	}
	n = http_get(s, url, out);
	if (out != stdout && fclose(out) != 0)
		n = -1;
	if (n >= 0)
		fprintf(stderr, "http_client: %ld bytes from %s\n", n, url);
	np_stack_destroy(s);
	return n >= 0 ? 0 : 1;
}

static void usage(FILE *out)
{
	fprintf(out, "usage: http_client                      (two stacks in this process, no privileges)\n"
		     "       http_client --tap IFNAME --addr A.B.C.D/N [--host-addr A.B.C.D/N]\n"
		     "                   [--gateway A.B.C.D] [-o FILE] http://A.B.C.D[:PORT]/PATH\n");
}

int main(int argc, char **argv)
{
	const char *tap = NULL, *addr = NULL, *host_addr = NULL, *gateway = NULL, *url = NULL, *out = NULL;

	for (int i = 1; i < argc; i++) {
		const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(opt, "--help") == 0 || strcmp(opt, "-h") == 0) {
			usage(stdout);
			return 0;
		}
		if (opt[0] != '-' && url == NULL) {
			url = opt;
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
		else if (strcmp(opt, "-o") == 0)
			out = val;
		else {
			fprintf(stderr, "http_client: bad option %s %s\n", opt, val);
			usage(stderr);
			return 2;
		}
		i++;
	}
	if (tap == NULL)
		return run_in_process();
	if (addr == NULL || url == NULL) {
		fprintf(stderr, "http_client: --tap needs --addr A.B.C.D/N and a URL\n");
		return 2;
	}
	return run_on_tap(tap, addr, host_addr, gateway, url, out);
}
