/*
 * `netpath run --serve NAME[=ARG]`: small servers inside the stack, as
 * inetd's built-in services sit beside the kernel's stack. Each is an
 * application written only against the public socket API
 * (include/netpath/socket.h), running in a thread of its own while the
 * stack runs in its thread (np_stack_start).
 *   cmd_run -> serve_add (each --serve) -> serve_start (np_socket, np_bind, pthread_create)
 *           -> udp_echo_main / udp_discard_main: np_recvfrom -> np_sendto (echo)
 *           -> serve_stop (np_shutdown wakes each blocked thread; pthread_join; np_close)
 *           -> serve_print (what each app did)
 * Datagrams the apps never saw are not lost silently: the stack counts
 * them (UdpRcvbufErrors, drops by reason); the apps count their own send
 * errors and print them at exit.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "netpath/socket.h"
#include "tool.h"

#define SERVE_MAX 16

struct serve_app;

/* One kind of service --serve knows. */
struct serve_kind {
	const char *name;
	const char *proto;             /* "udp" or "tcp" */
	uint16_t port;                 /* well-known port (RFC 862, 863 ...) */
	const char *needs;             /* non-NULL: not available yet, and what it waits for */
	void *(*main)(void *app);      /* the app's thread */
};

/* One running service. The counters are the app thread's until serve_stop has joined it. */
struct serve_app {
	const struct serve_kind *kind;
	uint16_t port;
	int fd;
	int started;
	pthread_t thread;
	atomic_int stop;
	unsigned long datagrams, bytes, send_errors;
	int last_errno;
};

struct serve_set {
	struct serve_app apps[SERVE_MAX];
	int n;
};

static void *udp_echo_main(void *arg);
static void *udp_discard_main(void *arg);

static const struct serve_kind serve_kinds[] = {
	{ "echo", "udp", 7, NULL, udp_echo_main },          /* RFC 862 */
	{ "discard", "udp", 9, NULL, udp_discard_main },    /* RFC 863 */
	{ "http", "tcp", 80, "TCP (not yet built)", NULL },
};

/* ---- the apps ---- */

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

/* ---- the set ---- */

struct serve_set *serve_new(void)
{
	return calloc(1, sizeof(struct serve_set));
}

void serve_free(struct serve_set *set)
{
	if (set == NULL)
		return;
	serve_stop(set);
	free(set);
}

int serve_count(const struct serve_set *set)
{
	return set ? set->n : 0;
}

/* The names --serve knows, for error messages: "echo, discard; http needs TCP (not yet built)". */
static void serve_known(char *out, size_t cap)
{
	size_t n = 0;
	int later = 0;
	out[0] = '\0';
	for (size_t i = 0; i < sizeof(serve_kinds) / sizeof(serve_kinds[0]) && n < cap; i++) {
		if (serve_kinds[i].needs == NULL)
			n += (size_t)snprintf(out + n, cap - n, "%s%s", n ? ", " : "", serve_kinds[i].name);
	}
	for (size_t i = 0; i < sizeof(serve_kinds) / sizeof(serve_kinds[0]) && n < cap; i++) {
		if (serve_kinds[i].needs != NULL)
			n += (size_t)snprintf(out + n, cap - n, "%s%s needs %s", later++ ? ", " : "; ",
					      serve_kinds[i].name, serve_kinds[i].needs);
	}
}

int serve_add(struct serve_set *set, const char *cmd, const char *spec)
{
	const char *eq = strchr(spec, '=');
	size_t len = eq ? (size_t)(eq - spec) : strlen(spec);
	const struct serve_kind *k = NULL;
	char known[128];
	long port;

	for (size_t i = 0; i < sizeof(serve_kinds) / sizeof(serve_kinds[0]); i++) {
		if (strlen(serve_kinds[i].name) == len && strncmp(serve_kinds[i].name, spec, len) == 0)
			k = &serve_kinds[i];
	}
	if (k == NULL) {
		serve_known(known, sizeof(known));
		tool_usage_error(cmd, "unknown service '%.*s' for --serve (known: %s)", (int)len, spec, known);
		return -1;
	}
	if (k->needs != NULL) {
		fprintf(stderr, "netpath: %s: --serve %s needs %s\n", cmd, spec, k->needs);
		return -1;
	}
	/* NAME=PORT moves a UDP service off its well-known port. */
	port = k->port;
	if (eq != NULL && tool_parse_long(eq + 1, 1, 65535, &port) < 0) {
		tool_usage_error(cmd, "bad port in --serve %s (expected %s or %s=PORT, PORT 1 to 65535)", spec, k->name,
				 k->name);
		return -1;
	}
	for (int i = 0; i < set->n; i++) {
		if (set->apps[i].port == port && strcmp(set->apps[i].kind->proto, k->proto) == 0) {
			tool_usage_error(cmd, "--serve %s: %s port %ld is already served by %s", spec, k->proto, port,
					 set->apps[i].kind->name);
			return -1;
		}
	}
	if (set->n == SERVE_MAX) {
		tool_usage_error(cmd, "too many --serve options (at most %d)", SERVE_MAX);
		return -1;
	}
	struct serve_app *a = &set->apps[set->n++];
	memset(a, 0, sizeof(*a));
	a->kind = k;
	a->port = (uint16_t)port;
	a->fd = -1;
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

int serve_start(struct serve_set *set, struct np_stack *s)
{
	for (int i = 0; i < set->n; i++) {
		struct serve_app *a = &set->apps[i];
		int rc;

		a->fd = serve_udp_socket(s, a->port);
		if (a->fd < 0) {
			fprintf(stderr, "netpath: --serve %s: cannot bind UDP port %u: %s\n", a->kind->name, a->port,
				strerror(errno));
			return -1;
		}
		atomic_init(&a->stop, 0);
		rc = pthread_create(&a->thread, NULL, a->kind->main, a);
		if (rc != 0) {
			fprintf(stderr, "netpath: --serve %s: cannot start its thread: %s\n", a->kind->name, strerror(rc));
			return -1;
		}
		a->started = 1;
	}
	return 0;
}

void serve_announce(const struct serve_set *set, FILE *out)
{
	if (set->n == 0)
		return;
	fprintf(out, "netpath: serving");
	for (int i = 0; i < set->n; i++)
		fprintf(out, "%s %s %s on port %u", i ? "," : "", set->apps[i].kind->proto, set->apps[i].kind->name,
			set->apps[i].port);
	fputc('\n', out);
}

void serve_stop(struct serve_set *set)
{
	for (int i = 0; i < set->n; i++) {
		struct serve_app *a = &set->apps[i];
		if (a->started) {
			/* Shutting the socket down wakes the thread blocked in np_recvfrom or np_sendto. */
			atomic_store(&a->stop, 1);
			np_shutdown(a->fd, SHUT_RDWR);
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
	for (int i = 0; i < set->n; i++) {
		const struct serve_app *a = &set->apps[i];
		fprintf(out, "serve %s (%s port %u): %lu datagrams, %lu bytes %s", a->kind->name, a->kind->proto, a->port,
			a->datagrams, a->bytes, a->kind->main == udp_echo_main ? "echoed" : "discarded");
		if (a->send_errors)
			fprintf(out, ", %lu echoes not sent (last error: %s)", a->send_errors, strerror(a->last_errno));
		fputc('\n', out);
	}
}
