/*
 * `netpath run --serve NAME[=ARG]`: small servers inside the stack, as
 * inetd's built-in services sit beside the kernel's stack. Each is an
 * application written only against the public socket API
 * (include/netpath/socket.h), running in threads of its own while the
 * stack runs in its thread (np_stack_start).
 *   cmd_run -> serve_add (each --serve) -> serve_start (np_socket, np_bind, pthread_create)
 *   UDP:  udp_echo_main / udp_discard_main: np_recvfrom -> np_sendto (echo)
 *   TCP:  tcp_listen_main: np_poll -> np_accept -> one thread per connection (capped)
 *           -> tcp_echo_conn / tcp_discard_conn / http_conn: np_recv -> np_send
 *   serve_stop (np_shutdown wakes each blocked thread; pthread_join; np_close)
 *   serve_print (what each app did)
 * `--serve echo` and `--serve discard` start both the UDP and the TCP
 * service on the port (RFC 862, 863 define both); `--serve http=DIR` is a
 * small HTTP/1.1 file server (RFC 9110, 9112) on TCP port 80.
 * Datagrams the apps never saw are not lost silently: the stack counts
 * them (UdpRcvbufErrors, drops by reason); the apps count their own send
 * errors and print them at exit.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "netpath/socket.h"
#include "tool.h"

#define SERVE_MAX 16
#define SERVE_TCP_MAX_CONNS 256     /* per TCP app; more wait in the listen backlog */
#define SERVE_TCP_BACKLOG 511       /* capped by net.core.somaxconn, as on Linux */
#define SERVE_TICK_MS 250           /* SO_RCVTIMEO/SO_SNDTIMEO: how often a blocked thread looks at `stop` */
#define SERVE_BUF 65536             /* echo buffer and HTTP file chunk */
#define SERVE_STALL_NS (120 * 1000000000ull)  /* a send without progress this long ends the connection */
#define SERVE_CONN_STACK (512 * 1024)         /* connection threads keep their buffers on the heap */
#define HTTP_IDLE_NS (15 * 1000000000ull)     /* keep-alive: an idle connection closes after this */
#define HTTP_REQ_NS (30 * 1000000000ull)      /* the rest of a request must arrive within this */
#define HTTP_LINE_MAX 8192          /* request line longer than this: 414 */
#define HTTP_HEAD_MAX 16384         /* request head larger than this: 431 */

struct serve_app;
struct serve_conn;

/* One kind of service: a protocol on a well-known port, and the code that serves it. */
struct serve_kind {
	const char *name;              /* what --serve names */
	const char *proto;             /* "udp" or "tcp" */
	uint16_t port;                 /* well-known port (RFC 862, 863, 9110 ...) */
	void *(*udp_main)(void *app);  /* UDP: the app's thread */
	void (*tcp_conn)(struct serve_conn *c); /* TCP: serves one accepted connection */
	const char *did;               /* for serve_print: "echoed", "discarded" ... */
};

/* One running service. UDP counters are the app thread's until serve_stop has joined it. */
struct serve_app {
	const struct serve_kind *kind;
	uint16_t port;
	char *root;                    /* http: the directory served (realpath) */
	struct np_stack *stack;
	int fd;
	int started;
	int skipped;                   /* the TCP half of echo/discard when the stack has no TCP */
	pthread_t thread;
	atomic_int stop;
	/* UDP */
	unsigned long datagrams, bytes, send_errors;
	int last_errno;
	/* TCP: live connections, each in a detached thread of its own */
	pthread_mutex_t lock;
	pthread_cond_t changed;        /* a connection ended, or stop was set */
	struct serve_conn *conns;
	int nconns, peak;              /* connections now, and the most at once */
	atomic_ulong connections, bytes_in, bytes_out, requests, accept_errors;
	atomic_ulong status[6];        /* HTTP responses by class: [2] = 2xx ... */
};

/* One accepted TCP connection. */
struct serve_conn {
	struct serve_app *app;
	int fd;
	struct sockaddr_in peer;
	struct serve_conn *next, **pprev;
	unsigned long bytes_in, bytes_out;
};

struct serve_set {
	struct serve_app apps[SERVE_MAX];
	int n;
	int busy_poll;   /* --busy-poll: SO_PREFER_BUSY_POLL on every app socket */
};

static void *udp_echo_main(void *arg);
static void *udp_discard_main(void *arg);
static void tcp_echo_conn(struct serve_conn *c);
static void tcp_discard_conn(struct serve_conn *c);
static void http_conn(struct serve_conn *c);

/* --serve NAME adds every kind of that name: echo and discard are UDP and TCP. */
static const struct serve_kind serve_kinds[] = {
	{ "echo", "udp", 7, udp_echo_main, NULL, "echoed" },          /* RFC 862 */
	{ "echo", "tcp", 7, NULL, tcp_echo_conn, "echoed" },          /* RFC 862 */
	{ "discard", "udp", 9, udp_discard_main, NULL, "discarded" }, /* RFC 863 */
	{ "discard", "tcp", 9, NULL, tcp_discard_conn, "discarded" }, /* RFC 863 */
	{ "http", "tcp", 80, NULL, http_conn, "sent" },               /* RFC 9110, 9112 */
};
#define NKINDS (sizeof(serve_kinds) / sizeof(serve_kinds[0]))

/* ---- the UDP apps ---- */

/*
 * Waits for the next datagram; returns its length, or -1 when the app must
 * end (serve_stop shut the socket down, or an error it cannot go on after).
 */
static ssize_t serve_recv(struct serve_app *a, void *buf, size_t cap, struct sockaddr_in *from, socklen_t *fromlen)
{
	for (;;) {
		*fromlen = sizeof(*from);
		ssize_t n = np_recvfrom(a->fd, buf, cap, 0, (struct sockaddr *)from, fromlen);
		if (atomic_load(&a->stop))
			return -1;
		if (n >= 0)
			return n;
		if (errno == EINTR || errno == EAGAIN)
			continue;
		fprintf(stderr, "netpath: serve %s: recvfrom: %s; the service stops\n", a->kind->name, strerror(errno));
		return -1;
	}
}

/* RFC 862: every datagram goes back to its sender unchanged. */
static void *udp_echo_main(void *arg)
{
	struct serve_app *a = arg;
	char *buf = malloc(65536);
	struct sockaddr_in from;
	socklen_t fromlen;
	ssize_t n;

	if (buf == NULL)
		return NULL;
	while ((n = serve_recv(a, buf, 65536, &from, &fromlen)) >= 0) {
		a->datagrams++;
		a->bytes += (unsigned long)n;
		/* Blocking: a full send buffer waits for room rather than dropping the echo. */
		if (np_sendto(a->fd, buf, (size_t)n, 0, (struct sockaddr *)&from, fromlen) < 0) {
			if (atomic_load(&a->stop))
				break;
			a->send_errors++;
			a->last_errno = errno;
		}
	}
	free(buf);
	return NULL;
}

/* RFC 863: every datagram is read and thrown away; nothing goes back. */
static void *udp_discard_main(void *arg)
{
	struct serve_app *a = arg;
	char *buf = malloc(65536);
	struct sockaddr_in from;
	socklen_t fromlen;
	ssize_t n;

	if (buf == NULL)
		return NULL;
	while ((n = serve_recv(a, buf, 65536, &from, &fromlen)) >= 0) {
		a->datagrams++;
		a->bytes += (unsigned long)n;
	}
	free(buf);
	return NULL;
}

/* ---- TCP connections: blocking I/O that still notices serve_stop ---- */

/*
 * Receives up to cap bytes: > 0, 0 at the peer's FIN, -1 on an error, on
 * serve_stop, or when idle_ns (0: never) passes without a byte. The socket's
 * SO_RCVTIMEO wakes the call every SERVE_TICK_MS to look at `stop`.
 */
static ssize_t conn_recv(struct serve_conn *c, void *buf, size_t cap, uint64_t idle_ns)
{
	struct serve_app *a = c->app;
	uint64_t start = np_stack_now(a->stack);

	for (;;) {
		ssize_t n = np_recv(c->fd, buf, cap, 0);
		if (n >= 0) {
			c->bytes_in += (unsigned long)n;
			return n;
		}
		if (atomic_load(&a->stop))
			return -1;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -1;     /* ECONNRESET, ETIMEDOUT ...: the connection is gone */
		if (idle_ns && np_stack_now(a->stack) - start >= idle_ns)
			return -1;
	}
}

/* Sends all len bytes (blocking while the send buffer is full); 0, or -1 on an error, stop or a stall. */
static int conn_send_all(struct serve_conn *c, const void *buf, size_t len)
{
	struct serve_app *a = c->app;
	const char *p = buf;
	uint64_t progress = np_stack_now(a->stack);

	while (len > 0) {
		ssize_t n = np_send(c->fd, p, len, MSG_NOSIGNAL);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			c->bytes_out += (unsigned long)n;
			progress = np_stack_now(a->stack);
			continue;
		}
		if (atomic_load(&a->stop))
			return -1;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			return -1;     /* EPIPE, ECONNRESET: the peer is gone */
		if (np_stack_now(a->stack) - progress >= SERVE_STALL_NS)
			return -1;     /* the peer stopped reading */
	}
	return 0;
}

/*
 * Ends our side and reads until the peer's FIN (at most 2 s), so a response
 * sent just before the close is not destroyed by an RST for unread data
 * (RFC 9112 9.6: "lingering close").
 */
static void conn_lingering_close(struct serve_conn *c)
{
	char buf[4096];
	uint64_t until = np_stack_now(c->app->stack) + 2000000000ull;

	if (np_shutdown(c->fd, SHUT_WR) < 0)
		return;
	while (np_stack_now(c->app->stack) < until) {
		ssize_t n = np_recv(c->fd, buf, sizeof(buf), 0);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR) || atomic_load(&c->app->stop))
			return;
	}
}

/* RFC 862: every byte goes back until the client closes; then we close too. */
static void tcp_echo_conn(struct serve_conn *c)
{
	char *buf = malloc(SERVE_BUF);
	ssize_t n = -1;

	if (buf == NULL)
		return;
	while ((n = conn_recv(c, buf, SERVE_BUF, 0)) > 0) {
		if (conn_send_all(c, buf, (size_t)n) < 0)
			break;
	}
	free(buf);
}

/* RFC 863: every byte is read and thrown away until the client closes. */
static void tcp_discard_conn(struct serve_conn *c)
{
	char *buf = malloc(SERVE_BUF);

	if (buf == NULL)
		return;
	while (conn_recv(c, buf, SERVE_BUF, 0) > 0)
		;
	free(buf);
}

/* ---- HTTP/1.1 file server (RFC 9110 semantics, RFC 9112 message syntax) ---- */

struct http_req {
	char *method;
	char *target;
	int minor;                     /* HTTP/1.minor */
	int keep_alive;
	long long content_length;      /* -1: none */
	int hosts;
	int transfer_encoding;
};

static const char *http_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 301: return "Moved Permanently";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 414: return "URI Too Long";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 505: return "HTTP Version Not Supported";
	default: return "Unknown";
	}
}

static const char *http_content_type(const char *path)
{
	static const struct {
		const char *ext, *type;
	} types[] = {
		{ "html", "text/html; charset=utf-8" }, { "htm", "text/html; charset=utf-8" },
		{ "txt", "text/plain; charset=utf-8" }, { "md", "text/plain; charset=utf-8" },
		{ "c", "text/plain; charset=utf-8" },   { "h", "text/plain; charset=utf-8" },
		{ "css", "text/css" },                  { "js", "text/javascript" },
		{ "json", "application/json" },         { "svg", "image/svg+xml" },
		{ "png", "image/png" },                 { "jpg", "image/jpeg" },
		{ "jpeg", "image/jpeg" },               { "gif", "image/gif" },
		{ "pdf", "application/pdf" },           { "pcap", "application/vnd.tcpdump.pcap" },
		{ "gz", "application/gzip" },           { "tar", "application/x-tar" },
	};
	const char *slash = strrchr(path, '/');
	const char *dot = strrchr(slash ? slash : path, '.');

	if (dot != NULL) {
		for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
			if (strcasecmp(dot + 1, types[i].ext) == 0)
				return types[i].type;
		}
	}
	return "application/octet-stream";
}

/* An HTTP-date (RFC 9110 5.6.7), e.g. "Sun, 06 Nov 1994 08:49:37 GMT". */
static void http_date(time_t t, char out[40])
{
	struct tm tm;
	static const char days[7][4] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };

	gmtime_r(&t, &tm);
	snprintf(out, 40, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday % 7], tm.tm_mday,
		 months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* Sends a status line and headers; extra holds more header lines ("Name: v\r\n"), or NULL. */
static int http_send_head(struct serve_conn *c, int status, const char *ctype, long long len, time_t mtime,
			  const char *extra, int keep_alive)
{
	char head[1024], date[40], lm[40] = "";
	int n;

	http_date(time(NULL), date);
	if (mtime > 0) {
		char d[40];
		http_date(mtime, d);
		snprintf(lm, sizeof(lm), "%s", d);
	}
	n = snprintf(head, sizeof(head),
		     "HTTP/1.1 %d %s\r\nDate: %s\r\nServer: netpath/%s\r\nContent-Type: %s\r\n"
		     "Content-Length: %lld\r\n%s%s%s%sConnection: %s\r\n\r\n",
		     status, http_reason(status), date, NP_TOOL_VERSION, ctype, len, lm[0] ? "Last-Modified: " : "",
		     lm, lm[0] ? "\r\n" : "", extra ? extra : "", keep_alive ? "keep-alive" : "close");
	if (n < 0 || (size_t)n >= sizeof(head))
		return -1;
	atomic_fetch_add(&c->app->status[status / 100 % 6], 1);
	return conn_send_all(c, head, (size_t)n);
}

/* A small HTML page for an error or a redirect; the body is left out for HEAD. */
static int http_send_page(struct serve_conn *c, int status, const char *msg, const char *extra, int head_only,
			  int keep_alive)
{
	char body[512];
	int n = snprintf(body, sizeof(body),
			 "<!DOCTYPE html>\n<html><head><title>%d %s</title></head>\n"
			 "<body><h1>%d %s</h1><p>%s</p><hr><address>netpath/%s</address></body></html>\n",
			 status, http_reason(status), status, http_reason(status), msg, NP_TOOL_VERSION);

	if (n < 0 || (size_t)n >= sizeof(body))
		n = 0;
	if (http_send_head(c, status, "text/html; charset=utf-8", n, 0, extra, keep_alive) < 0)
		return -1;
	return head_only ? 0 : conn_send_all(c, body, (size_t)n);
}

/* Streams a regular file in SERVE_BUF chunks (never whole in memory). */
static int http_send_file(struct serve_conn *c, int fd, long long size)
{
	char *buf = malloc(SERVE_BUF);
	long long off = 0;
	int rc = 0;

	if (buf == NULL)
		return -1;
	while (off < size) {
		size_t want = size - off < SERVE_BUF ? (size_t)(size - off) : SERVE_BUF;
		ssize_t n = pread(fd, buf, want, (off_t)off);
		if (n <= 0 || conn_send_all(c, buf, (size_t)n) < 0) {
			rc = -1;   /* the file shrank, or the peer left: Content-Length cannot be kept */
			break;
		}
		off += n;
	}
	free(buf);
	return rc;
}

/* Percent-encodes a file name for an href (RFC 3986 2.1: all but unreserved characters). */
static void url_encode(const char *in, char *out, size_t cap)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = 0;

	for (; *in && n + 4 < cap; in++) {
		unsigned char ch = (unsigned char)*in;
		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		    strchr("-._~", ch) != NULL) {
			out[n++] = (char)ch;
		} else {
			out[n++] = '%';
			out[n++] = hex[ch >> 4];
			out[n++] = hex[ch & 15];
		}
	}
	out[n] = '\0';
}

/* Writes text to f with &, <, >, " escaped. */
static void html_escape(FILE *f, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&': fputs("&amp;", f); break;
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '"': fputs("&quot;", f); break;
		default: fputc(*s, f); break;
		}
	}
}

/* A generated index of a directory without index.html. */
static int http_send_listing(struct serve_conn *c, const char *dir, const char *urlpath, int head_only,
			     int keep_alive)
{
	struct dirent **ents = NULL;
	char *body = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&body, &len);
	int n, rc;

	if (f == NULL)
		return http_send_page(c, 500, "out of memory", NULL, head_only, 0);
	n = scandir(dir, &ents, NULL, alphasort);
	fputs("<!DOCTYPE html>\n<html><head><title>Index of ", f);
	html_escape(f, urlpath);
	fputs("</title></head>\n<body><h1>Index of ", f);
	html_escape(f, urlpath);
	fputs("</h1>\n<ul>\n", f);
	for (int i = 0; i < n; i++) {
		char href[NAME_MAX * 3 + 8], full[PATH_MAX + NAME_MAX + 2];
		struct stat st;
		int isdir;
		if (strcmp(ents[i]->d_name, ".") == 0 || strcmp(ents[i]->d_name, "..") == 0)
			continue;
		snprintf(full, sizeof(full), "%s/%s", dir, ents[i]->d_name);
		isdir = stat(full, &st) == 0 && S_ISDIR(st.st_mode);
		url_encode(ents[i]->d_name, href, sizeof(href));
		fprintf(f, "<li><a href=\"%s%s\">", href, isdir ? "/" : "");
		html_escape(f, ents[i]->d_name);
		fprintf(f, "%s</a></li>\n", isdir ? "/" : "");
	}
	for (int i = 0; i < n; i++)
		free(ents[i]);
	free(ents);
	fprintf(f, "</ul>\n<hr><address>netpath/%s</address></body></html>\n", NP_TOOL_VERSION);
	fclose(f);
	rc = http_send_head(c, 200, "text/html; charset=utf-8", (long long)len, 0, NULL, keep_alive);
	if (rc == 0 && !head_only)
		rc = conn_send_all(c, body, len);
	free(body);
	return rc;
}

/* The value of a hex digit, or -1. */
static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'f')
		return (ch | 0x20) - 'a' + 10;
	return -1;
}

/* The path part of a request target: absolute-form "http://host/p" gives "/p" (RFC 9112 3.2.2). */
static const char *http_target_path(const char *target)
{
	if (strncasecmp(target, "http://", 7) == 0) {
		const char *p = strchr(target + 7, '/');
		return p ? p : "/";
	}
	return target;
}

/*
 * Decodes the path of a request target into out (percent-decoding, query
 * dropped). 0, or the status to answer: 400 for a malformed target, 403
 * for a ".." segment (it could climb out of the served directory), 414 when
 * too long.
 */
static int http_decode_path(const char *target, char *out, size_t cap)
{
	size_t n = 0;

	target = http_target_path(target);
	if (target[0] != '/')
		return 400;    /* RFC 9112 3.2.1: origin-form starts with "/" (no asterisk-form for GET/HEAD) */
	for (const char *p = target; *p && *p != '?' && *p != '#'; p++) {
		char ch = *p;
		if (ch == '%') {
			int hi = hexval(p[1]), lo = hi < 0 ? -1 : hexval(p[2]);
			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
				return 400;    /* RFC 3986 2.1; and no NUL inside a file name */
			ch = (char)(hi * 16 + lo);
			p += 2;
		}
		if (n + 1 >= cap)
			return 414;
		out[n++] = ch;
	}
	out[n] = '\0';
	/* Any ".." segment is refused before the file system sees it. */
	for (const char *seg = out; seg != NULL; seg = strchr(seg + 1, '/')) {
		const char *s = seg + 1;
		if (s[0] == '.' && s[1] == '.' && (s[2] == '/' || s[2] == '\0'))
			return 403;
	}
	return 0;
}

/* True if the resolved path is root or below it (symlinks have been followed by realpath). */
static int http_inside(const char *root, const char *resolved)
{
	size_t n = strlen(root);
	if (n == 1)
		return 1;      /* serving "/" */
	return strncmp(resolved, root, n) == 0 && (resolved[n] == '\0' || resolved[n] == '/');
}

/* An error page that ends the connection: 1 (close after it), or -1 if it could not be sent. */
static int http_fail(struct serve_conn *c, int status, const char *msg, int head_only)
{
	return http_send_page(c, status, msg, NULL, head_only, 0) < 0 ? -1 : 1;
}

/*
 * Answers one GET or HEAD for a path under the app's root. 0: the
 * connection may carry the next request; 1: close it (after a lingering
 * close); -1: it broke.
 */
static int http_serve_path(struct serve_conn *c, const struct http_req *r, int head_only)
{
	const char *root = c->app->root;
	char path[PATH_MAX], full[PATH_MAX + 16], resolved[PATH_MAX];
	struct stat st;
	int status, fd, ka = r->keep_alive;

	status = http_decode_path(r->target, path, sizeof(path));
	if (status == 403)
		return http_send_page(c, 403, "The path climbs out of the served directory.", NULL, head_only, ka);
	if (status != 0)
		return http_fail(c, status, "The request target is not a valid path.", head_only);
	if ((size_t)snprintf(full, sizeof(full), "%s%s", strcmp(root, "/") == 0 ? "" : root, path) >= sizeof(full))
		return http_fail(c, 414, "The path is too long.", head_only);
	if (realpath(full, resolved) == NULL) {
		if (errno == EACCES)
			return http_send_page(c, 403, "Permission denied.", NULL, head_only, ka);
		return http_send_page(c, 404, "No such file.", NULL, head_only, ka);
	}
	if (!http_inside(root, resolved))
		return http_send_page(c, 403, "The path leads out of the served directory (a symbolic link).", NULL,
				      head_only, ka);
	if (stat(resolved, &st) < 0)
		return http_send_page(c, 404, "No such file.", NULL, head_only, ka);
	if (S_ISDIR(st.st_mode)) {
		char index[PATH_MAX + 16], rindex[PATH_MAX];
		size_t plen = strlen(path);
		if (plen == 0 || path[plen - 1] != '/') {
			/* RFC 9110 15.4.2: the directory's URL ends in "/", so relative links resolve inside it. */
			const char *t = http_target_path(r->target);
			char extra[HTTP_LINE_MAX + 32];
			snprintf(extra, sizeof(extra), "Location: %.*s/\r\n", (int)strcspn(t, "?#"), t);
			return http_send_page(c, 301, "The directory's address ends in a slash.", extra, head_only, ka);
		}
		snprintf(index, sizeof(index), "%s/index.html", resolved);
		if (realpath(index, rindex) != NULL && http_inside(root, rindex) && stat(rindex, &st) == 0 &&
		    S_ISREG(st.st_mode))
			snprintf(resolved, sizeof(resolved), "%s", rindex);
		else
			return http_send_listing(c, resolved, path, head_only, ka);
	}
	if (!S_ISREG(st.st_mode))
		return http_send_page(c, 403, "Not a regular file.", NULL, head_only, ka);
	fd = open(resolved, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return http_send_page(c, errno == EACCES ? 403 : 404, "Cannot open the file.", NULL, head_only, ka);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return http_send_page(c, 404, "No such file.", NULL, head_only, ka);
	}
	status = http_send_head(c, 200, http_content_type(resolved), (long long)st.st_size, st.st_mtime, NULL, ka);
	if (status == 0 && !head_only)
		status = http_send_file(c, fd, (long long)st.st_size);
	close(fd);
	return status;
}

/* RFC 9110 5.6.2: tchar, the characters of a token (methods, header names). */
static int is_tchar(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       (ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

/* True if a comma-separated header value lists token (case-insensitive), e.g. Connection: close. */
static int http_has_token(const char *value, const char *token)
{
	size_t tl = strlen(token);
	for (const char *p = value; *p;) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		const char *e = p;
		while (*e && *e != ',' && *e != ' ' && *e != '\t')
			e++;
		if ((size_t)(e - p) == tl && strncasecmp(p, token, tl) == 0)
			return 1;
		while (*e && *e != ',')
			e++;
		p = e;
	}
	return 0;
}

/*
 * Parses a request head (NUL-terminated, lines ending in CRLF or LF). 0, or
 * the status to answer (400 malformed, 414 request line too long, 505 not
 * HTTP/1.x).
 */
static int http_parse(char *head, struct http_req *r)
{
	char *save = NULL, *line, *sp1, *sp2;

	memset(r, 0, sizeof(*r));
	r->content_length = -1;
	line = strtok_r(head, "\n", &save);
	if (line == NULL)
		return 400;
	line[strcspn(line, "\r")] = '\0';
	if (strlen(line) > HTTP_LINE_MAX)
		return 414;
	/* RFC 9112 3: method SP request-target SP HTTP-version */
	sp1 = strchr(line, ' ');
	sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
	if (sp1 == NULL || sp2 == NULL || strchr(sp2 + 1, ' ') != NULL || sp1 == line || sp2 == sp1 + 1)
		return 400;
	*sp1 = *sp2 = '\0';
	r->method = line;
	r->target = sp1 + 1;
	for (const char *p = r->method; *p; p++) {
		if (!is_tchar(*p))
			return 400;
	}
	if (strncmp(sp2 + 1, "HTTP/", 5) != 0 || strlen(sp2 + 1) != 8 || sp2[7] != '.' || sp2[6] < '0' ||
	    sp2[6] > '9' || sp2[8] < '0' || sp2[8] > '9')
		return 400;
	if (sp2[6] != '1')
		return 505;
	r->minor = sp2[8] - '0';
	/* RFC 9112 9.3: 1.1 is persistent unless "close"; 1.0 only with "keep-alive". */
	r->keep_alive = r->minor >= 1;
	while ((line = strtok_r(NULL, "\n", &save)) != NULL) {
		char *colon, *v, *end;
		line[strcspn(line, "\r")] = '\0';
		if (line[0] == '\0')
			break;
		if (line[0] == ' ' || line[0] == '\t')
			return 400;    /* RFC 9112 5.2: obsolete line folding is rejected */
		colon = strchr(line, ':');
		if (colon == NULL || colon == line)
			return 400;
		for (const char *p = line; p < colon; p++) {
			if (!is_tchar(*p))
				return 400;    /* RFC 9112 5.1: no whitespace before the colon */
		}
		*colon = '\0';
		v = colon + 1;
		while (*v == ' ' || *v == '\t')
			v++;
		end = v + strlen(v);
		while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
			*--end = '\0';
		if (strcasecmp(line, "Host") == 0) {
			r->hosts++;
		} else if (strcasecmp(line, "Connection") == 0) {
			if (http_has_token(v, "close"))
				r->keep_alive = 0;
			else if (http_has_token(v, "keep-alive"))
				r->keep_alive = 1;
		} else if (strcasecmp(line, "Content-Length") == 0) {
			char *e;
			long long n;
			if (*v < '0' || *v > '9')
				return 400;
			errno = 0;
			n = strtoll(v, &e, 10);
			if (errno || *e || (r->content_length >= 0 && r->content_length != n))
				return 400;    /* RFC 9112 6.3: an invalid or conflicting length */
			r->content_length = n;
		} else if (strcasecmp(line, "Transfer-Encoding") == 0) {
			r->transfer_encoding = 1;
		}
	}
	/* RFC 9112 3.2: an HTTP/1.1 request without exactly one Host is answered 400. */
	if (r->minor >= 1 && r->hosts != 1)
		return 400;
	if (r->hosts > 1)
		return 400;
	return 0;
}

/* Length of the head (through its empty line) in b[0..n), 0 if not complete yet. */
static size_t http_head_end(const char *b, size_t n)
{
	size_t line = 0;

	for (size_t i = 0; i < n; i++) {
		if (b[i] != '\n')
			continue;
		if (i == line || (i == line + 1 && b[line] == '\r'))
			return i + 1;
		line = i + 1;
	}
	return 0;
}

/*
 * One HTTP connection: requests one after another (persistent connections,
 * RFC 9112 9.3; a pipelined request waiting in the buffer is served next).
 */
static void http_conn(struct serve_conn *c)
{
	char *buf = malloc(HTTP_HEAD_MAX + 1);
	size_t have = 0;

	if (buf == NULL)
		return;
	for (;;) {
		struct http_req r;
		size_t end = 0;
		int status, head_only, rc;
		long long body;

		/* Read until the head is complete. */
		for (;;) {
			size_t skip = 0;
			ssize_t n;
			/* RFC 9112 2.2: empty lines before a request line are ignored. */
			while (skip < have && (buf[skip] == '\r' || buf[skip] == '\n'))
				skip++;
			if (skip) {
				memmove(buf, buf + skip, have - skip);
				have -= skip;
			}
			if ((end = http_head_end(buf, have)) != 0)
				break;
			if (have > HTTP_LINE_MAX && memchr(buf, '\n', have) == NULL) {
				http_send_page(c, 414, "The request line is too long.", NULL, 0, 0);
				conn_lingering_close(c);
				goto out;
			}
			if (have == HTTP_HEAD_MAX) {
				http_send_page(c, 431, "The request head is too large.", NULL, 0, 0);
				conn_lingering_close(c);
				goto out;
			}
			n = conn_recv(c, buf + have, HTTP_HEAD_MAX - have, have == 0 ? HTTP_IDLE_NS : HTTP_REQ_NS);
			if (n <= 0)
				goto out;    /* the client closed (or went idle) between or inside requests */
			have += (size_t)n;
		}
		{
			char saved = buf[end];
			buf[end] = '\0';
			status = http_parse(buf, &r);
			buf[end] = saved;
		}
		atomic_fetch_add(&c->app->requests, 1);
		if (status != 0) {
			http_send_page(c, status,
				       status == 414 ? "The request line is too long." :
				       status == 505 ? "Only HTTP/1.0 and HTTP/1.1 are served." :
				       "The request is malformed.", NULL, 0, 0);
			conn_lingering_close(c);
			goto out;
		}
		head_only = strcmp(r.method, "HEAD") == 0;
		if (r.transfer_encoding) {
			/* RFC 9112 6.1: a request body we cannot frame ends the connection. */
			http_send_page(c, 501, "Request bodies with a Transfer-Encoding are not accepted.", NULL,
				       head_only, 0);
			conn_lingering_close(c);
			goto out;
		}
		if (strcmp(r.method, "GET") != 0 && !head_only)
			rc = http_send_page(c, 405, "Only GET and HEAD are served.", "Allow: GET, HEAD\r\n", 0,
					    r.keep_alive);
		else
			rc = http_serve_path(c, &r, head_only);
		if (rc < 0)
			goto out;
		if (rc > 0 || !r.keep_alive) {
			conn_lingering_close(c);
			goto out;
		}
		/* Drop the request and any body it carried (Content-Length); keep what follows. */
		body = r.content_length > 0 ? r.content_length : 0;
		while (body > 0) {
			size_t avail = have - end;
			if (avail > 0) {
				size_t take = (long long)avail < body ? avail : (size_t)body;
				end += take;
				body -= (long long)take;
				continue;
			}
			have = end = 0;
			ssize_t n = conn_recv(c, buf, HTTP_HEAD_MAX, HTTP_REQ_NS);
			if (n <= 0)
				goto out;
			have = (size_t)n;
		}
		memmove(buf, buf + end, have - end);
		have -= end;
	}
out:
	free(buf);
}

/* ---- TCP listeners ---- */

/* The connection's thread: serve it, then unlink and close it (serve_stop may be shutting it down). */
static void *tcp_conn_main(void *arg)
{
	struct serve_conn *c = arg;
	struct serve_app *a = c->app;

	a->kind->tcp_conn(c);
	atomic_fetch_add(&a->bytes_in, c->bytes_in);
	atomic_fetch_add(&a->bytes_out, c->bytes_out);
	pthread_mutex_lock(&a->lock);
	*c->pprev = c->next;
	if (c->next)
		c->next->pprev = c->pprev;
	np_close(c->fd);
	a->nconns--;
	pthread_cond_broadcast(&a->changed);
	pthread_mutex_unlock(&a->lock);
	free(c);
	return NULL;
}

/* Starts a thread for an accepted connection; closes it if that is impossible. */
static void tcp_conn_start(struct serve_app *a, int fd, const struct sockaddr_in *peer)
{
	struct timeval tick = { .tv_sec = 0, .tv_usec = SERVE_TICK_MS * 1000 };
	struct serve_conn *c = calloc(1, sizeof(*c));
	pthread_attr_t attr;
	pthread_t t;
	int rc;

	/* accept(2) does not pass O_NONBLOCK on; the timeouts let the thread see serve_stop. */
	if (c == NULL || np_fcntl(fd, F_SETFL, 0) < 0 ||
	    np_setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tick, sizeof(tick)) < 0 ||
	    np_setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tick, sizeof(tick)) < 0) {
		free(c);
		np_close(fd);
		atomic_fetch_add(&a->accept_errors, 1);
		return;
	}
	c->app = a;
	c->fd = fd;
	c->peer = *peer;
	atomic_fetch_add(&a->connections, 1);
	pthread_mutex_lock(&a->lock);
	c->next = a->conns;
	if (c->next)
		c->next->pprev = &c->next;
	c->pprev = &a->conns;
	a->conns = c;
	if (++a->nconns > a->peak)
		a->peak = a->nconns;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, SERVE_CONN_STACK);
	rc = pthread_create(&t, &attr, tcp_conn_main, c);
	pthread_attr_destroy(&attr);
	if (rc != 0) {
		*c->pprev = c->next;
		if (c->next)
			c->next->pprev = c->pprev;
		a->nconns--;
		np_close(fd);
		free(c);
		atomic_fetch_add(&a->accept_errors, 1);
	}
	pthread_mutex_unlock(&a->lock);
}

/*
 * The listener: waits (np_poll) for connections and gives each a thread,
 * at most SERVE_TCP_MAX_CONNS at once (more wait in the accept queue). At
 * serve_stop it shuts every connection down and waits for their threads.
 */
static void *tcp_listen_main(void *arg)
{
	struct serve_app *a = arg;

	while (!atomic_load(&a->stop)) {
		struct pollfd p = { .fd = a->fd, .events = POLLIN };
		struct sockaddr_in peer;
		socklen_t plen = sizeof(peer);
		int n, fd;

		n = np_poll(&p, 1, SERVE_TICK_MS);
		if (n < 0 && errno != EINTR) {
			fprintf(stderr, "netpath: serve %s: poll: %s; the service stops\n", a->kind->name,
				strerror(errno));
			break;
		}
		if (n <= 0 || atomic_load(&a->stop))
			continue;
		pthread_mutex_lock(&a->lock);
		while (a->nconns >= SERVE_TCP_MAX_CONNS && !atomic_load(&a->stop))
			pthread_cond_wait(&a->changed, &a->lock);
		pthread_mutex_unlock(&a->lock);
		if (atomic_load(&a->stop))
			break;
		memset(&peer, 0, sizeof(peer));
		fd = np_accept(a->fd, (struct sockaddr *)&peer, &plen);
		if (fd < 0) {
			/* The peer may have reset it already (ECONNABORTED), or another wake-up took it. */
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED) {
				/* Out of descriptors or memory: count it and breathe rather than spin. */
				struct timespec ts = { .tv_sec = 0, .tv_nsec = 10 * 1000000L };
				atomic_fetch_add(&a->accept_errors, 1);
				nanosleep(&ts, NULL);
			}
			continue;
		}
		tcp_conn_start(a, fd, &peer);
	}
	/* Stopping: wake every connection's blocked call and wait for all of them. */
	pthread_mutex_lock(&a->lock);
	for (struct serve_conn *c = a->conns; c != NULL; c = c->next)
		np_shutdown(c->fd, SHUT_RDWR);
	while (a->nconns > 0)
		pthread_cond_wait(&a->changed, &a->lock);
	pthread_mutex_unlock(&a->lock);
	return NULL;
}

/* ---- the set ---- */

struct serve_set *serve_new(void)
{
	return calloc(1, sizeof(struct serve_set));
}

void serve_set_busy_poll(struct serve_set *set, int on) { set->busy_poll = on; }

void serve_free(struct serve_set *set)
{
	if (set == NULL)
		return;
	serve_stop(set);
	for (int i = 0; i < set->n; i++) {
		if (strcmp(set->apps[i].kind->proto, "tcp") == 0) {
			pthread_mutex_destroy(&set->apps[i].lock);
			pthread_cond_destroy(&set->apps[i].changed);
		}
		free(set->apps[i].root);
	}
	free(set);
}

int serve_count(const struct serve_set *set)
{
	return set ? set->n : 0;
}

static struct serve_app *serve_new_app(struct serve_set *set, const struct serve_kind *k, uint16_t port)
{
	struct serve_app *a = &set->apps[set->n++];

	memset(a, 0, sizeof(*a));
	a->kind = k;
	a->port = port;
	a->fd = -1;
	if (strcmp(k->proto, "tcp") == 0) {
		pthread_mutex_init(&a->lock, NULL);
		pthread_cond_init(&a->changed, NULL);
	}
	return a;
}

int serve_add(struct serve_set *set, const char *cmd, const char *spec)
{
	const char *eq = strchr(spec, '=');
	size_t len = eq ? (size_t)(eq - spec) : strlen(spec);
	int nk = 0;
	const struct serve_kind *ks[4];
	long port = 0;
	char *root = NULL;

	for (size_t i = 0; i < NKINDS; i++) {
		if (strlen(serve_kinds[i].name) == len && strncmp(serve_kinds[i].name, spec, len) == 0)
			ks[nk++] = &serve_kinds[i];
	}
	if (nk == 0) {
		tool_usage_error(cmd, "unknown service '%.*s' for --serve (known: echo, discard, http=DIR)", (int)len,
				 spec);
		return -1;
	}
	if (ks[0]->tcp_conn == http_conn) {
		/* http=DIR: the directory whose files are served. */
		char resolved[PATH_MAX];
		struct stat st;
		if (eq == NULL || eq[1] == '\0') {
			tool_usage_error(cmd, "--serve http needs a directory: --serve http=DIR");
			return -1;
		}
		if (realpath(eq + 1, resolved) == NULL || stat(resolved, &st) < 0) {
			fprintf(stderr, "netpath: %s: --serve %s: %s: %s\n", cmd, spec, eq + 1, strerror(errno));
			return -1;
		}
		if (!S_ISDIR(st.st_mode)) {
			fprintf(stderr, "netpath: %s: --serve %s: %s is not a directory\n", cmd, spec, eq + 1);
			return -1;
		}
		root = strdup(resolved);
		if (root == NULL)
			return -1;
	} else if (eq != NULL && tool_parse_long(eq + 1, 1, 65535, &port) < 0) {
		/* NAME=PORT moves a service off its well-known port. */
		tool_usage_error(cmd, "bad port in --serve %s (expected %.*s or %.*s=PORT, PORT 1 to 65535)", spec,
				 (int)len, spec, (int)len, spec);
		return -1;
	}
	for (int k = 0; k < nk; k++) {
		uint16_t p = (uint16_t)(port ? port : ks[k]->port);
		for (int i = 0; i < set->n; i++) {
			if (set->apps[i].port == p && strcmp(set->apps[i].kind->proto, ks[k]->proto) == 0) {
				tool_usage_error(cmd, "--serve %s: %s port %u is already served by %s", spec,
						 ks[k]->proto, p, set->apps[i].kind->name);
				free(root);
				return -1;
			}
		}
	}
	if (set->n + nk > SERVE_MAX) {
		tool_usage_error(cmd, "too many --serve options (at most %d services)", SERVE_MAX);
		free(root);
		return -1;
	}
	for (int k = 0; k < nk; k++) {
		struct serve_app *a = serve_new_app(set, ks[k], (uint16_t)(port ? port : ks[k]->port));
		a->root = root;
		root = NULL;
	}
	return 0;
}

/* A UDP socket on 0.0.0.0:port with the largest receive buffer the stack allows (bursts). */
static int serve_udp_socket(struct np_stack *s, uint16_t port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port) };
	int rcvbuf = 1 << 24;   /* capped at net.core.rmem_max, then doubled, as on Linux */
	int fd = np_socket(s, AF_INET, SOCK_DGRAM, 0);

	if (fd < 0)
		return -1;
	if (np_setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)) < 0 ||
	    np_bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
		int e = errno;
		np_close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* A non-blocking listening TCP socket on 0.0.0.0:port (SO_REUSEADDR, as servers set it). */
static int serve_tcp_socket(struct np_stack *s, uint16_t port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port) };
	int one = 1;
	int fd = np_socket(s, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);

	if (fd < 0)
		return -1;
	if (np_setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    np_bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 || np_listen(fd, SERVE_TCP_BACKLOG) < 0) {
		int e = errno;
		np_close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

int serve_start(struct serve_set *set, struct np_stack *s)
{
	for (int i = 0; i < set->n; i++) {
		struct serve_app *a = &set->apps[i];
		int tcp = strcmp(a->kind->proto, "tcp") == 0;
		int rc;

		a->stack = s;
		a->fd = tcp ? serve_tcp_socket(s, a->port) : serve_udp_socket(s, a->port);
		/* A blocked app thread then waits on the devices itself (connections inherit it from the listener). */
		int one = 1;
		if (a->fd >= 0 && set->busy_poll && np_setsockopt(a->fd, SOL_SOCKET, SO_PREFER_BUSY_POLL, &one, sizeof(one)) < 0) {
			fprintf(stderr, "netpath: --busy-poll: %s\n", strerror(errno));
			return -1;
		}
		if (a->fd < 0 && tcp && errno == EPROTONOSUPPORT && a->kind->tcp_conn != http_conn) {
			/* A stack built without TCP still serves the UDP half. */
			fprintf(stderr, "netpath: --serve %s: this stack has no TCP; serving UDP only\n", a->kind->name);
			a->skipped = 1;
			continue;
		}
		if (a->fd < 0) {
			fprintf(stderr, "netpath: --serve %s: cannot %s %s port %u: %s\n", a->kind->name,
				tcp ? "listen on" : "bind", tcp ? "TCP" : "UDP", a->port, strerror(errno));
			return -1;
		}
		atomic_init(&a->stop, 0);
		rc = pthread_create(&a->thread, NULL, tcp ? tcp_listen_main : a->kind->udp_main, a);
		if (rc != 0) {
			fprintf(stderr, "netpath: --serve %s: cannot start its thread: %s\n", a->kind->name, strerror(rc));
			return -1;
		}
		a->started = 1;
	}
	return 0;
}

/* UDP services first, then TCP: "netpath: serving udp echo on port 7, tcp echo on port 7, ..." */
void serve_announce(const struct serve_set *set, FILE *out)
{
	static const char *const protos[] = { "udp", "tcp" };
	int n = 0;

	if (set->n == 0)
		return;
	fprintf(out, "netpath: serving");
	for (int p = 0; p < 2; p++) {
		for (int i = 0; i < set->n; i++) {
			const struct serve_app *a = &set->apps[i];
			if (a->skipped || strcmp(a->kind->proto, protos[p]) != 0)
				continue;
			fprintf(out, "%s %s %s on port %u", n++ ? "," : "", a->kind->proto, a->kind->name, a->port);
			if (a->root != NULL)
				fprintf(out, " (files under %s)", a->root);
		}
	}
	fputc('\n', out);
}

void serve_stop(struct serve_set *set)
{
	for (int i = 0; i < set->n; i++) {
		struct serve_app *a = &set->apps[i];
		if (a->started) {
			atomic_store(&a->stop, 1);
			if (strcmp(a->kind->proto, "tcp") == 0) {
				/* The listener notices within a tick, then shuts its connections down. */
				pthread_mutex_lock(&a->lock);
				pthread_cond_broadcast(&a->changed);
				pthread_mutex_unlock(&a->lock);
			} else {
				/* Shutting the socket down wakes the thread blocked in np_recvfrom or np_sendto. */
				np_shutdown(a->fd, SHUT_RDWR);
			}
			pthread_join(a->thread, NULL);
			a->started = 0;
		}
		if (a->fd >= 0) {
			np_close(a->fd);
			a->fd = -1;
		}
	}
}

void serve_print(const struct serve_set *set, FILE *out)
{
	static const char *const protos[] = { "udp", "tcp" };

	for (int p = 0; p < 2; p++) {
		for (int i = 0; i < set->n; i++) {
			struct serve_app *a = (struct serve_app *)&set->apps[i];
			if (a->skipped || strcmp(a->kind->proto, protos[p]) != 0)
				continue;
			fprintf(out, "serve %s (%s port %u): ", a->kind->name, a->kind->proto, a->port);
			if (p == 0) {
				fprintf(out, "%lu datagrams, %lu bytes %s", a->datagrams, a->bytes, a->kind->did);
				if (a->send_errors)
					fprintf(out, ", %lu echoes not sent (last error: %s)", a->send_errors,
						strerror(a->last_errno));
			} else if (a->kind->tcp_conn == http_conn) {
				fprintf(out, "%lu connections (at most %d at once), %lu requests (%lu 2xx, %lu 3xx, %lu 4xx, "
					     "%lu 5xx), %lu bytes sent",
					atomic_load(&a->connections), a->peak, atomic_load(&a->requests),
					atomic_load(&a->status[2]), atomic_load(&a->status[3]), atomic_load(&a->status[4]),
					atomic_load(&a->status[5]), atomic_load(&a->bytes_out));
			} else {
				fprintf(out, "%lu connections (at most %d at once), %lu bytes %s", atomic_load(&a->connections),
					a->peak, atomic_load(&a->bytes_in), a->kind->did);
			}
			if (p == 1 && atomic_load(&a->accept_errors))
				fprintf(out, ", %lu connections not served (accept or thread errors)",
					atomic_load(&a->accept_errors));
			fputc('\n', out);
		}
	}
}
