/*
 * `netpath get`: an HTTP/1.1 client (RFC 9110, 9112) inside a netpath stack
 * on a TAP device, like `curl -o FILE URL`: every byte crosses netpath's TCP.
 *   cmd_get -> get_opt (tap_opt: the device options of run) -> get_parse_url
 *           -> tap_stack_setup (tap.c: np_stack_create, tool_dev_setup, default
 *              route, capture, trace) -> np_stack_start (the stack's thread)
 *           -> get_connect (non-blocking np_connect, np_poll for POLLOUT, SO_ERROR)
 *           -> np_send the request -> get_head (status line, headers; 1xx skipped)
 *           -> body framed by Content-Length, chunked, or the server's close
 *              (RFC 9112 6.3) -> written to FILE as it arrives
 *           -> summary: bytes, time, rate, TCP counters -> np_close -> np_stack_join
 * Exit status: 0 only if the whole body arrived with a 2xx status, 1 on a
 * run-time failure (refused, reset, timed out, cut short, non-2xx), 2 on a
 * usage error.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "netpath/socket.h"
#include "tool.h"

#define GET_BUF 65536
#define GET_TICK_MS 250             /* blocked calls wake this often to notice Ctrl-C and the timeout */
#define GET_HEAD_MAX 65536

struct get_opts {
	struct tap_opts dev;        /* the device and global options, as for run (tap.c) */
	const char *out, *url;
	int counters;
	long long timeout_ns;       /* no byte for this long: give up */
};

struct get_url {
	char host[64];              /* as written in the URL (for Host:) */
	struct sockaddr_in addr;
	char path[4096];
};

/* The connection and the bytes received but not yet used. */
struct get_conn {
	struct np_stack *s;
	int fd;
	long long timeout_ns;
	char *buf;
	size_t pos, have;
	unsigned long long wire_bytes;  /* everything received: head, chunk framing, body */
};

/* ---- the URL ---- */

/* http://A.B.C.D[:PORT][/path][?query]; 0 or -1 after printing why. */
static int get_parse_url(const char *url, struct get_url *u)
{
	const char *p, *auth, *end, *colon;
	char ip[32];
	long port = 80;

	memset(u, 0, sizeof(*u));
	if (strncasecmp(url, "https://", 8) == 0) {
		tool_usage_error("get", "https is not supported (netpath has no TLS): %s", url);
		return -1;
	}
	if (strncasecmp(url, "http://", 7) != 0) {
		tool_usage_error("get", "bad URL '%s' (expected http://A.B.C.D[:PORT]/PATH)", url);
		return -1;
	}
	auth = url + 7;
	end = auth + strcspn(auth, "/?#");
	if (memchr(auth, '@', (size_t)(end - auth)) != NULL) {
		tool_usage_error("get", "bad URL '%s' (user names are not supported)", url);
		return -1;
	}
	colon = memchr(auth, ':', (size_t)(end - auth));
	if ((size_t)((colon ? colon : end) - auth) >= sizeof(ip) || (size_t)(end - auth) >= sizeof(u->host)) {
		tool_usage_error("get", "bad host in URL '%s' (expected an IPv4 address A.B.C.D)", url);
		return -1;
	}
	memcpy(ip, auth, (size_t)((colon ? colon : end) - auth));
	ip[(colon ? colon : end) - auth] = '\0';
	memcpy(u->host, auth, (size_t)(end - auth));
	u->host[end - auth] = '\0';
	if (colon != NULL) {
		char ps[8];
		size_t n = (size_t)(end - colon - 1);
		if (n == 0 || n >= sizeof(ps)) {
			tool_usage_error("get", "bad port in URL '%s' (1 to 65535)", url);
			return -1;
		}
		memcpy(ps, colon + 1, n);
		ps[n] = '\0';
		if (tool_parse_long(ps, 1, 65535, &port) < 0) {
			tool_usage_error("get", "bad port in URL '%s' (1 to 65535)", url);
			return -1;
		}
	}
	if (tool_parse_addr(ip, &u->addr.sin_addr) < 0) {
		tool_usage_error("get", "bad host '%s' in URL (an IPv4 address A.B.C.D; netpath has no DNS)", ip);
		return -1;
	}
	u->addr.sin_family = AF_INET;
	u->addr.sin_port = htons((uint16_t)port);
	/* The path and query go to the server; a fragment never does (RFC 9110 4.2.4). */
	p = *end == '/' || *end == '?' ? end : "/";
	if (*p == '?')
		snprintf(u->path, sizeof(u->path), "/%.*s", (int)strcspn(p, "#"), p);
	else
		snprintf(u->path, sizeof(u->path), "%.*s", (int)strcspn(p, "#"), p);
	for (const char *c = u->path; *c; c++) {
		if ((unsigned char)*c <= ' ' || *c == 0x7f) {
			tool_usage_error("get", "bad URL '%s' (spaces and control characters must be %%-encoded)", url);
			return -1;
		}
	}
	return 0;
}

/* ---- receiving ---- */

/* Receives into buf: > 0 bytes, 0 at the server's FIN, -1 with errno (ETIMEDOUT when idle, EINTR on a signal). */
static ssize_t get_recv(struct get_conn *g, void *buf, size_t cap)
{
	uint64_t start = np_stack_now(g->s);

	for (;;) {
		ssize_t n = np_recv(g->fd, buf, cap, 0);
		if (n >= 0) {
			g->wire_bytes += (unsigned long long)n;
			return n;
		}
		if (tool_signalled()) {
			errno = EINTR;
			return -1;
		}
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			return -1;
		if (g->timeout_ns > 0 && np_stack_now(g->s) - start >= (uint64_t)g->timeout_ns) {
			errno = ETIMEDOUT;
			return -1;
		}
	}
}

/* Reads more into the buffer (compacting it first); > 0, 0 at FIN, -1 on error. */
static ssize_t get_fill(struct get_conn *g)
{
	if (g->pos > 0) {
		memmove(g->buf, g->buf + g->pos, g->have - g->pos);
		g->have -= g->pos;
		g->pos = 0;
	}
	if (g->have == GET_BUF) {
		errno = EMSGSIZE;
		return -1;
	}
	ssize_t n = get_recv(g, g->buf + g->have, GET_BUF - g->have);
	if (n > 0)
		g->have += (size_t)n;
	return n;
}

/* The next line (CRLF or LF stripped, NUL-terminated in place); NULL at FIN or on error (errno). */
static char *get_line(struct get_conn *g)
{
	for (;;) {
		char *nl = memchr(g->buf + g->pos, '\n', g->have - g->pos);
		if (nl != NULL) {
			char *line = g->buf + g->pos;
			g->pos = (size_t)(nl - g->buf) + 1;
			*nl = '\0';
			if (nl > line && nl[-1] == '\r')
				nl[-1] = '\0';
			return line;
		}
		ssize_t n = get_fill(g);
		if (n <= 0) {
			if (n == 0)
				errno = ECONNRESET;   /* the server closed inside a line */
			return NULL;
		}
	}
}

/* Writes all of buf to fd; 0 or -1. */
static int write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* ---- the response ---- */

struct get_resp {
	int minor, status;
	char reason[128];
	long long content_length;       /* -1: none */
	int chunked, close;
	char location[512];
};

/* Reads a response head (skipping 1xx interim responses). 0, or -1 after printing why. */
static int get_head(struct get_conn *g, struct get_resp *r)
{
	for (;;) {
		char *line;
		size_t head = 0;

		memset(r, 0, sizeof(*r));
		r->content_length = -1;
		line = get_line(g);
		if (line == NULL) {
			fprintf(stderr, "netpath: get: no response: %s\n",
				errno == ECONNRESET && g->wire_bytes == 0 ? "the server closed the connection"
									  : strerror(errno));
			return -1;
		}
		/* RFC 9112 4: HTTP-version SP 3DIGIT SP [reason-phrase] */
		if (strncmp(line, "HTTP/1.", 7) != 0 || line[7] < '0' || line[7] > '9' || line[8] != ' ' ||
		    line[9] < '1' || line[9] > '5' || line[10] < '0' || line[10] > '9' || line[11] < '0' ||
		    line[11] > '9' || (line[12] != ' ' && line[12] != '\0')) {
			fprintf(stderr, "netpath: get: not an HTTP/1.x response: '%.60s'\n", line);
			return -1;
		}
		r->minor = line[7] - '0';
		r->status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
		snprintf(r->reason, sizeof(r->reason), "%s", line[12] ? line + 13 : "");
		r->close = r->minor == 0;    /* RFC 9112 9.3: 1.0 closes unless keep-alive */
		while ((line = get_line(g)) != NULL && line[0] != '\0') {
			char *colon = strchr(line, ':'), *v;
			head += strlen(line);
			if (head > GET_HEAD_MAX) {
				fprintf(stderr, "netpath: get: response head larger than %d bytes\n", GET_HEAD_MAX);
				return -1;
			}
			if (colon == NULL)
				continue;
			*colon = '\0';
			for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
				;
			if (strcasecmp(line, "Content-Length") == 0) {
				char *e;
				long long n;
				errno = 0;
				n = strtoll(v, &e, 10);
				while (*e == ' ' || *e == '\t')
					e++;
				if (errno || *e || n < 0 || *v < '0' || *v > '9' ||
				    (r->content_length >= 0 && r->content_length != n)) {
					fprintf(stderr, "netpath: get: bad Content-Length '%s'\n", v);
					return -1;
				}
				r->content_length = n;
			} else if (strcasecmp(line, "Transfer-Encoding") == 0) {
				/* RFC 9112 6.3: chunked must be the final coding. */
				size_t l = strlen(v);
				while (l > 0 && (v[l - 1] == ' ' || v[l - 1] == '\t'))
					v[--l] = '\0';
				r->chunked = l >= 7 && strcasecmp(v + l - 7, "chunked") == 0;
				if (!r->chunked)
					r->close = 1;   /* framed by the close */
			} else if (strcasecmp(line, "Connection") == 0) {
				if (strcasestr(v, "close"))
					r->close = 1;
			} else if (strcasecmp(line, "Location") == 0) {
				snprintf(r->location, sizeof(r->location), "%s", v);
			}
		}
		if (line == NULL) {
			fprintf(stderr, "netpath: get: response head cut short: %s\n", strerror(errno));
			return -1;
		}
		if (r->status >= 200 || r->status == 101)
			return 0;
		/* 1xx: an interim response; the final one follows. */
	}
}

/* Copies exactly len body bytes to out (buffered first, then from the socket). 0, or -1 with errno. */
static int get_copy(struct get_conn *g, int out, unsigned long long len, unsigned long long *got)
{
	while (len > 0) {
		if (g->pos == g->have) {
			g->pos = g->have = 0;
			ssize_t n = get_recv(g, g->buf, len < GET_BUF ? (size_t)len : GET_BUF);
			if (n <= 0) {
				if (n == 0)
					errno = ECONNRESET;
				return -1;
			}
			g->have = (size_t)n;
		}
		size_t take = g->have - g->pos;
		if (take > len)
			take = (size_t)len;
		if (write_all(out, g->buf + g->pos, take) < 0) {
			errno = EIO;
			return -1;
		}
		g->pos += take;
		len -= take;
		*got += take;
	}
	return 0;
}

/* RFC 9112 7.1: chunk-size [ext] CRLF data CRLF ... 0 CRLF trailers CRLF. 0, or -1 with errno. */
static int get_chunked(struct get_conn *g, int out, unsigned long long *got)
{
	for (;;) {
		char *line = get_line(g), *e;
		unsigned long long size;

		if (line == NULL)
			return -1;
		errno = 0;
		size = strtoull(line, &e, 16);
		if (e == line || errno || (*e && *e != ';' && *e != ' ' && *e != '\t')) {
			errno = EPROTO;
			return -1;
		}
		if (size == 0)
			break;
		if (get_copy(g, out, size, got) < 0)
			return -1;
		line = get_line(g);
		if (line == NULL)
			return -1;
		if (line[0] != '\0') {
			errno = EPROTO;
			return -1;
		}
	}
	/* Trailer fields, up to the empty line. */
	for (;;) {
		char *line = get_line(g);
		if (line == NULL)
			return -1;
		if (line[0] == '\0')
			return 0;
	}
}

/* Until the server's FIN: the body delimited by the close (RFC 9112 6.3, rule 8). 0, or -1 with errno. */
static int get_until_close(struct get_conn *g, int out, unsigned long long *got)
{
	if (g->have > g->pos) {
		if (write_all(out, g->buf + g->pos, g->have - g->pos) < 0) {
			errno = EIO;
			return -1;
		}
		*got += g->have - g->pos;
	}
	for (;;) {
		ssize_t n = get_recv(g, g->buf, GET_BUF);
		if (n == 0)
			return 0;
		if (n < 0)
			return -1;
		if (write_all(out, g->buf, (size_t)n) < 0) {
			errno = EIO;
			return -1;
		}
		*got += (unsigned long long)n;
	}
}

/* ---- connecting ---- */

/* Connects with a non-blocking np_connect and np_poll; the fd, or -1 after printing why. */
static int get_connect(struct np_stack *s, const struct get_url *u, long long timeout_ns)
{
	struct timeval tick = { .tv_sec = 0, .tv_usec = GET_TICK_MS * 1000 };
	uint64_t start = np_stack_now(s);
	char ip[INET_ADDRSTRLEN];
	int fd, err = 0;
	socklen_t len = sizeof(err);

	inet_ntop(AF_INET, &u->addr.sin_addr, ip, sizeof(ip));
	fd = np_socket(s, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		fprintf(stderr, "netpath: get: socket: %s\n", strerror(errno));
		return -1;
	}
	if (np_connect(fd, (const struct sockaddr *)&u->addr, sizeof(u->addr)) < 0) {
		if (errno != EINPROGRESS) {
			err = errno;
			goto fail;
		}
		for (;;) {
			struct pollfd p = { .fd = fd, .events = POLLOUT };
			int n = np_poll(&p, 1, GET_TICK_MS);
			if (tool_signalled()) {
				err = EINTR;
				goto fail;
			}
			if (n > 0)
				break;
			if (n < 0 && errno != EINTR) {
				err = errno;
				goto fail;
			}
			if (timeout_ns > 0 && np_stack_now(s) - start >= (uint64_t)timeout_ns) {
				err = ETIMEDOUT;
				goto fail;
			}
		}
		if (np_getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			err = errno;
		if (err != 0)
			goto fail;
	}
	/* Blocking from here, with timeouts so Ctrl-C and --timeout are noticed. */
	if (np_fcntl(fd, F_SETFL, 0) < 0 || np_setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tick, sizeof(tick)) < 0 ||
	    np_setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tick, sizeof(tick)) < 0) {
		err = errno;
		goto fail;
	}
	return fd;
fail:
	fprintf(stderr, "netpath: get: cannot connect to %s:%u: %s%s\n", ip, ntohs(u->addr.sin_port), strerror(err),
		err == ECONNREFUSED ? " (the host answered with an RST: nothing listens on that port)" :
		err == ETIMEDOUT ? " (no answer to the SYNs)" : "");
	np_close(fd);
	return -1;
}

/* Sends all of buf; 0 or -1 after printing why. */
static int get_send_all(struct np_stack *s, int fd, const char *buf, size_t len, long long timeout_ns)
{
	uint64_t progress = np_stack_now(s);

	while (len > 0) {
		ssize_t n = np_send(fd, buf, len, MSG_NOSIGNAL);
		if (n > 0) {
			buf += n;
			len -= (size_t)n;
			progress = np_stack_now(s);
			continue;
		}
		if (!tool_signalled() && n < 0 && (errno == EAGAIN || errno == EINTR) &&
		    (timeout_ns <= 0 || np_stack_now(s) - progress < (uint64_t)timeout_ns))
			continue;
		fprintf(stderr, "netpath: get: cannot send the request: %s\n", tool_signalled() ? "interrupted" : strerror(errno));
		return -1;
	}
	return 0;
}

/* ---- set-up and options ---- */

/*
 * One option of get: the device and global options of run first (tap_opt),
 * then get's own. 1 consumed, 0 not an option, -1 usage error (printed).
 */
static int get_opt(struct get_opts *o, int argc, char **argv, int *i)
{
	const char *v;
	int r;

	if ((r = tap_opt("get", &o->dev, argc, argv, i)) != 0)
		return r;
#define OPT(name) ((r = tool_opt("get", argc, argv, i, name, &v)) != 0)
	if (OPT("--timeout")) {
		if (r < 0)
			return -1;
		o->timeout_ns = tool_parse_seconds(v);
		if (o->timeout_ns < 0) {
			tool_usage_error("get", "bad --timeout '%s' (seconds; 0 waits forever)", v);
			return -1;
		}
		return 1;
	}
	if (strcmp(argv[*i], "-o") == 0) {
		if (*i + 1 >= argc) {
			tool_usage_error("get", "option -o needs a value");
			return -1;
		}
		o->out = argv[++*i];
		return 1;
	}
	if (OPT("--output")) {
		if (r < 0)
			return -1;
		o->out = v;
		return 1;
	}
#undef OPT
	if (strcmp(argv[*i], "--counters") == 0) {
		o->counters = 1;
		return 1;
	}
	return 0;
}

/* ---- the command ---- */

int cmd_get(int argc, char **argv)
{
	struct get_opts o;
	struct get_url u;
	struct get_resp resp;
	struct get_conn g;
	struct tap_stack t;
	struct np_stack *s;
	char req[4096 + 256];
	unsigned long long got = 0;
	uint64_t t0, t1;
	int out = -1, rc = 1, n, done = 0, err = 0;
	FILE *info;
	struct nf_opts no;

	memset(&o, 0, sizeof(o));
	memset(&no, 0, sizeof(no));
	o.timeout_ns = 60LL * 1000000000LL;
	o.dev.trace_out = stderr;     /* the body may go to stdout */
	for (int i = 1; i < argc; i++) {
		int r = get_opt(&o, argc, argv, &i);
		if (r == 0)
			r = nf_opt("get", &no, argc, argv, &i); /* --rule, --rules-file (nf.c) */
		if (r < 0)
			return EXIT_USAGE;
		if (r > 0)
			continue;
		if (argv[i][0] == '-' && argv[i][1] != '\0') {
			tool_usage_error("get", "unknown option %s", argv[i]);
			return EXIT_USAGE;
		}
		if (o.url != NULL) {
			tool_usage_error("get", "unexpected argument %s (one URL only)", argv[i]);
			return EXIT_USAGE;
		}
		o.url = argv[i];
	}
	if (o.url == NULL) {
		tool_usage_error("get", "give a URL, e.g. http://10.0.0.1/file");
		return EXIT_USAGE;
	}
	if (o.out == NULL) {
		tool_usage_error("get", "give an output file: -o FILE (or -o - for stdout)");
		return EXIT_USAGE;
	}
	if (o.dev.ndevs == 0) {
		tool_usage_error("get", "give a device with --tap IFNAME --addr A.B.C.D/N");
		return EXIT_USAGE;
	}
	for (int i = 0; i < o.dev.ndevs; i++) {
		if (o.dev.devs[i].naddrs == 0) {
			tool_usage_error("get", "%s needs an address: add --addr A.B.C.D/N", o.dev.devs[i].tap);
			return EXIT_USAGE;
		}
	}
	if (get_parse_url(o.url, &u) < 0)
		return EXIT_USAGE;
	/* The body may go to stdout; then the report goes to stderr. */
	info = strcmp(o.out, "-") == 0 ? stderr : stdout;
	setvbuf(stdout, NULL, _IOLBF, 0);

	if (nf_check("get", &no) < 0)
		return EXIT_USAGE;
	if (tap_stack_setup(&t, &o.dev, "netpath") < 0) {
		tap_stack_free(&t, &o.dev);
		return 1;
	}
	s = t.s;
	if (nf_apply(s, &no) < 0)
		goto out_stack;
	tool_signals_install(NULL);   /* SIGINT/SIGTERM set a flag the loops look at */
	if ((n = np_stack_start(s)) < 0) {
		fprintf(stderr, "netpath: get: cannot start the stack's thread: %s\n", strerror(-n));
		goto out_stack;
	}
	for (int i = 0; i < o.dev.ndevs; i++)
		tool_dev_ready(&o.dev.devs[i]);

	memset(&g, 0, sizeof(g));
	g.s = s;
	g.timeout_ns = o.timeout_ns;
	g.buf = malloc(GET_BUF);
	if (g.buf == NULL)
		goto out_join;
	t0 = np_stack_now(s);
	g.fd = get_connect(s, &u, o.timeout_ns);
	if (g.fd < 0)
		goto out_join;
	n = snprintf(req, sizeof(req),
		     "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: netpath/%s\r\nAccept: */*\r\nConnection: close\r\n\r\n",
		     u.path, u.host, NP_TOOL_VERSION);
	if (n < 0 || (size_t)n >= sizeof(req) || get_send_all(s, g.fd, req, (size_t)n, o.timeout_ns) < 0)
		goto out_close;
	if (get_head(&g, &resp) < 0)
		goto out_close;
	fprintf(stderr, "netpath: get: HTTP/1.%d %d %s, %s\n", resp.minor, resp.status, resp.reason,
		resp.status == 204 || resp.status == 304 ? "no body" :
		resp.chunked ? "chunked" :
		resp.content_length >= 0 ? "Content-Length" : "body until the server closes");
	if (resp.location[0] && resp.status >= 300 && resp.status < 400)
		fprintf(stderr, "netpath: get: Location: %s (redirects are not followed)\n", resp.location);

	out = strcmp(o.out, "-") == 0 ? STDOUT_FILENO : open(o.out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (out < 0) {
		fprintf(stderr, "netpath: get: cannot write %s: %s\n", o.out, strerror(errno));
		goto out_close;
	}
	/* RFC 9112 6.3: how the body is framed. */
	if (resp.status == 204 || resp.status == 304)
		n = 0;
	else if (resp.chunked)
		n = get_chunked(&g, out, &got);
	else if (resp.content_length >= 0)
		n = get_copy(&g, out, (unsigned long long)resp.content_length, &got);
	else
		n = get_until_close(&g, out, &got);
	err = errno;
	done = n == 0;
	t1 = np_stack_now(s);
	{
		double sec = (double)(t1 - t0) / 1e9;
		double bps = sec > 0 ? (double)got / sec : 0;
		fprintf(info, "%llu bytes in %.3f s (%.2f MiB/s, %.1f Mbit/s)%s%s%s\n", got, sec, bps / 1048576.0,
			bps * 8 / 1e6, out == STDOUT_FILENO ? "" : ", saved to ", out == STDOUT_FILENO ? "" : o.out,
			done ? "" : " (INCOMPLETE)");
		fprintf(info, "TCP: %llu segments received, %llu sent, %llu retransmitted (TcpRetransSegs), "
			      "%llu retransmission timeouts (TCPTimeouts)\n",
			(unsigned long long)np_stack_mib(s, NP_MIB_TcpInSegs),
			(unsigned long long)np_stack_mib(s, NP_MIB_TcpOutSegs),
			(unsigned long long)np_stack_mib(s, NP_MIB_TcpRetransSegs),
			(unsigned long long)np_stack_mib(s, NP_MIB_TcpExtTCPTimeouts));
	}
	if (!done) {
		if (resp.content_length >= 0 && !resp.chunked)
			fprintf(stderr, "netpath: get: incomplete: %llu of %lld bytes, then: %s\n", got,
				resp.content_length, err == EINTR ? "interrupted" : strerror(err));
		else
			fprintf(stderr, "netpath: get: incomplete after %llu bytes: %s\n", got,
				err == EINTR ? "interrupted" : err == EPROTO ? "bad chunked framing" : strerror(err));
	} else if (resp.status < 200 || resp.status > 299) {
		fprintf(stderr, "netpath: get: the server answered %d %s\n", resp.status, resp.reason);
	} else {
		rc = 0;
	}
	if (out != STDOUT_FILENO && close(out) < 0) {
		fprintf(stderr, "netpath: get: cannot write %s: %s\n", o.out, strerror(errno));
		rc = 1;
	}
out_close:
	np_close(g.fd);
	{
		/* Give our FIN (or RST) a moment to leave before the stack stops. */
		struct timespec ts = { .tv_sec = 0, .tv_nsec = 50 * 1000000L };
		nanosleep(&ts, NULL);
	}
out_join:
	free(g.buf);
	np_stack_join(s);
out_stack:
	tool_signals_reset();
	if (o.counters) {
		np_stack_print_counters(s, info);
		nf_print_counters(s, &no, info);
	}
	fflush(stdout);
	tap_stack_free(&t, &o.dev);
	return rc;
}
