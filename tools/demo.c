/*
 * `netpath demo`: two stacks, alice and bob, in this process, joined by a
 * virtual cable and run on one virtual clock (deterministic and instant).
 * It shows ARP resolving, pings both ways, a UDP echo exchange and a
 * datagram to a closed port, a TCP transfer over a lossy cable and a TCP
 * connection to a closed port, the path the first packet of each kind took
 * through the stack (stage by stage, as the seed diagrams draw it), and the
 * counters of both stacks.
 *   cmd_demo -> demo_setup (np_stack_create, np_cable_create, np_addr_add)
 *            -> act_ping (np_ping_send, np_sim_run) -> demo_on_path (trace callback)
 *            -> act_udp (non-blocking np_sendto / np_recvfrom between np_sim_run calls)
 *            -> act_tcp (np_dev_set_faults on the cable; non-blocking np_connect, np_accept,
 *               np_send / np_recv between np_sim_run calls; the TCP counters)
 *            -> demo_print_paths -> np_stack_print_counters
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "netpath/socket.h"
#include "tool.h"

#define DEMO_NSTACKS 2
#define DEMO_MAX_KINDS 96
#define SEC 1000000000ull

struct demo;

/* Handed to the trace callback of one stack, so a path knows whose it is. */
struct demo_tracer {
	struct demo *d;
	int idx;
};

/* The first path seen of one kind (stack + direction + device + what it is). */
struct demo_kind {
	char key[96];
	char what[48];
	int stack;
	unsigned long rank;       /* when it started, as far as the stacks tell (see demo_rank) */
	struct np_trace_path path;
};

/* Every path that ended: which stack, its id there, and the order it ended in. */
struct demo_ended {
	int stack;
	uint64_t id;
};

struct demo {
	struct np_clock *clock;
	struct np_stack *st[DEMO_NSTACKS];
	struct np_dev *dev[DEMO_NSTACKS];
	const char *name[DEMO_NSTACKS];
	const char *addr[DEMO_NSTACKS];
	struct demo_tracer tracer[DEMO_NSTACKS];
	struct np_capture *cap;
	int trace_all;
	const char *faults;       /* --faults on alice's eth0, or NULL */
	struct demo_kind *kinds;
	int nkinds;
	struct demo_ended *ended;
	size_t nended, cap_ended;
	unsigned long npaths, ndropped;
	unsigned long pings_sent, pings_answered;
	unsigned long udp_sent, udp_echoed;
	int udp_refused;          /* the connected socket saw ECONNREFUSED */
	unsigned long tcp_sent, tcp_intact;  /* bytes alice sent, bytes bob got in order and intact */
	int tcp_eof;              /* bob saw alice's FIN after the last byte */
	int tcp_refused;          /* the connect to a closed port saw ECONNREFUSED */
};

/* ---- packet paths ---- */

/*
 * What a packet is, from its trace summary: the leading words that are not
 * addresses or fields ("10.0.0.1 > 10.0.0.2 ICMP echo request id=1 seq=1"
 * gives "ICMP echo request").
 */
static void kind_of(const char *summary, char *out, size_t cap)
{
	char buf[128];
	char *save = NULL;
	size_t n = 0;
	int words = 0;

	snprintf(buf, sizeof(buf), "%s", summary);
	out[0] = '\0';
	for (char *tok = strtok_r(buf, " ", &save); tok != NULL && words < 3; tok = strtok_r(NULL, " ", &save)) {
		size_t len = strlen(tok);
		int has_digit = strpbrk(tok, "0123456789") != NULL;
		if (n + 1 >= cap)
			break;
		if (strcmp(tok, ">") == 0 || (has_digit && words == 0))
			continue;     /* addresses before the protocol name */
		if (has_digit || strchr(tok, '=') != NULL || strchr(tok, '(') != NULL)
			break;        /* fields after it */
		while (len > 0 && (tok[len - 1] == ',' || tok[len - 1] == ':'))
			tok[--len] = '\0';
		if (len == 0)
			continue;
		n += (size_t)snprintf(out + n, cap - n, "%s%s", words ? " " : "", tok);
		words++;
	}
	if (out[0] == '\0')
		snprintf(out, cap, "packet");
	/* TCP: "TCP [S]", "TCP [SA]", "TCP [A]", "TCP [PA]", "TCP [FA]" ...: one kind per flag set. */
	if (strcmp(out, "TCP") == 0) {
		const char *fl = strchr(summary, '['), *end = fl ? strchr(fl, ']') : NULL;
		if (fl != NULL && end != NULL)
			snprintf(out, cap, "TCP %.*s", (int)(end - fl + 1), fl);
	}
}

/* Trace callback: runs when each packet of either stack ends (consumed or dropped). */
static void demo_on_path(void *arg, const struct np_trace_path *p)
{
	struct demo_tracer *t = arg;
	struct demo *d = t->d;
	char what[48];
	char key[96];

	d->npaths++;
	if (p->dropped)
		d->ndropped++;
	if (d->nended == d->cap_ended) {
		size_t cap = d->cap_ended ? d->cap_ended * 2 : 64;
		struct demo_ended *e = realloc(d->ended, cap * sizeof(*e));
		if (e != NULL) {
			d->ended = e;
			d->cap_ended = cap;
		}
	}
	if (d->nended < d->cap_ended) {
		d->ended[d->nended].stack = t->idx;
		d->ended[d->nended].id = p->id;
		d->nended++;
	}
	kind_of(p->summary, what, sizeof(what));
	snprintf(key, sizeof(key), "%d/%s/%d/%s/%d", t->idx, p->dev ? p->dev : "?", p->tx, what, p->dropped);
	for (int i = 0; i < d->nkinds; i++) {
		if (strcmp(d->kinds[i].key, key) == 0)
			return;
	}
	if (d->nkinds == DEMO_MAX_KINDS)
		return;
	snprintf(d->kinds[d->nkinds].key, sizeof(d->kinds[0].key), "%s", key);
	snprintf(d->kinds[d->nkinds].what, sizeof(d->kinds[0].what), "%s", what);
	d->kinds[d->nkinds].stack = t->idx;
	d->kinds[d->nkinds].path = *p;
	d->nkinds++;
}

/* Prints one path as numbered stages, wrapped to about 100 columns. */
static void print_path(FILE *out, const char *stack, const struct np_trace_path *p)
{
	int col = 0;

	fprintf(out, "%s %s %s %s\n", stack, p->tx ? "sends on" : "receives on", p->dev ? p->dev : "?", p->summary);
	for (int i = 0; i < p->nstages; i++) {
		char item[128];
		int len;
		if (p->stages[i].detail[0] != '\0')
			len = snprintf(item, sizeof(item), "%2d. %s [%s]", i + 1, p->stages[i].fn, p->stages[i].detail);
		else
			len = snprintf(item, sizeof(item), "%2d. %s", i + 1, p->stages[i].fn);
		if (col > 0 && col + 3 + len > 100) {
			fputc('\n', out);
			col = 0;
		}
		col += fprintf(out, "%s%s", col ? "   " : "  ", item);
	}
	if (col > 0)
		fputc('\n', out);
	if (p->dropped)
		fprintf(out, "  => dropped: %s (%s)\n", np_drop_reason_name(p->reason) ? np_drop_reason_name(p->reason) : "?",
			np_drop_reason_desc(p->reason) ? np_drop_reason_desc(p->reason) : "?");
	else
		fprintf(out, "  => consumed\n");
}

/*
 * Paths end (and reach the callback) in an order that puts a packet sent
 * while another is being received before the one that caused it. Path ids
 * grow with start time within one stack, so a path started no later than
 * the earliest end of any path of its stack with an id at least its own:
 * that end's position is its rank. Sorting by rank gives the causal order
 * across both stacks.
 */
static void demo_rank(struct demo *d)
{
	for (int k = 0; k < d->nkinds; k++) {
		struct demo_kind *kd = &d->kinds[k];
		kd->rank = (unsigned long)-1;
		for (size_t e = 0; e < d->nended; e++) {
			if (d->ended[e].stack == kd->stack && d->ended[e].id >= kd->path.id) {
				kd->rank = (unsigned long)e;
				break;
			}
		}
	}
}

static int kind_cmp(const void *a, const void *b)
{
	const struct demo_kind *x = a, *y = b;
	if (x->rank != y->rank)
		return x->rank < y->rank ? -1 : 1;
	if (x->stack != y->stack)
		return x->stack < y->stack ? -1 : 1;
	return x->path.id < y->path.id ? -1 : x->path.id > y->path.id;
}

static void demo_print_paths(struct demo *d)
{
	demo_rank(d);
	qsort(d->kinds, (size_t)d->nkinds, sizeof(d->kinds[0]), kind_cmp);
	printf("\n== The path the first packet of each kind took ==\n");
	printf("(%lu packets traced, %lu dropped; in the order they started. Each stage is the kernel\n"
	       "function of the same name, see docs/architecture.md; [..] is the stage's detail.)\n\n",
	       d->npaths, d->ndropped);
	for (int i = 0; i < d->nkinds; i++) {
		print_path(stdout, d->name[d->kinds[i].stack], &d->kinds[i].path);
		putchar('\n');
	}
}

/* ---- tables ---- */

/* Prints the neighbour table of stack i, or "(empty)". */
static void demo_print_neigh(struct demo *d, int i)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);

	if (m == NULL) {
		np_neigh_print(d->st[i], stdout);
		return;
	}
	np_neigh_print(d->st[i], m);
	fclose(m);
	printf("%s:\n", d->name[i]);
	if (len == 0) {
		printf("  (empty)\n");
	} else {
		char *save = NULL;
		for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
			printf("  %s\n", line);
	}
	free(buf);
}

static void demo_print_neighbours(struct demo *d, const char *when)
{
	printf("\n== Neighbour tables %s ==\n", when);
	for (int i = 0; i < DEMO_NSTACKS; i++)
		demo_print_neigh(d, i);
}

/* ---- pings ---- */

struct demo_ping {
	struct demo *d;
	const char *dest;
	unsigned sent, received;
	unsigned char seen[64];
};

static void demo_ping_reply(void *arg, const struct np_ping_reply *r)
{
	struct demo_ping *pg = arg;
	char from[INET_ADDRSTRLEN];
	double ms = (double)r->rtt_ns / 1e6;

	inet_ntop(AF_INET, &r->from, from, sizeof(from));
	if (r->error_type != 0) {
		printf("From %s icmp_seq=%u ICMP error type %d code %d\n", from, r->seq, r->error_type, r->error_code);
		return;
	}
	if (r->seq < sizeof(pg->seen) * 8 && !(pg->seen[r->seq / 8] & (1u << (r->seq % 8)))) {
		pg->seen[r->seq / 8] |= (unsigned char)(1u << (r->seq % 8));
		pg->received++;
		printf("%zu bytes from %s: icmp_seq=%u ttl=%u time=%.3f ms\n", r->len + 8, from, r->seq, r->ttl, ms);
	} else {
		printf("%zu bytes from %s: icmp_seq=%u ttl=%u time=%.3f ms (DUP!)\n", r->len + 8, from, r->seq, r->ttl,
		       ms);
	}
}

/* Runs every stack on the virtual clock until it reaches until_ns. */
static void demo_sim(struct demo *d, uint64_t until_ns)
{
	int rc = np_sim_run(d->st, DEMO_NSTACKS, d->clock, until_ns);
	if (rc < 0)
		fprintf(stderr, "netpath: demo: np_sim_run: %s\n", strerror(-rc));
}

/* from pings the address of `to` count times, one second apart on the virtual clock. */
static int demo_ping(struct demo *d, int from, int to, unsigned count)
{
	struct demo_ping pg;
	struct in_addr dst;
	uint16_t id = (uint16_t)(0x4e50 + from);  /* "NP" */
	int rc;

	memset(&pg, 0, sizeof(pg));
	pg.d = d;
	pg.dest = d->addr[to];
	inet_pton(AF_INET, d->addr[to], &dst);
	rc = np_ping_handler(d->st[from], id, demo_ping_reply, &pg);
	if (rc < 0) {
		fprintf(stderr, "netpath: demo: np_ping_handler: %s\n", strerror(-rc));
		return -1;
	}
	printf("\n== %s pings %s (%u echo requests, one per virtual second) ==\n", d->name[from], d->name[to], count);
	printf("PING %s (%s) 56(84) bytes of data.\n", pg.dest, pg.dest);
	if (from == 0 && d->faults == NULL)
		printf("(virtual time: the cable adds no delay, so the RTT is 0; try --faults delay=5ms)\n");
	for (unsigned seq = 1; seq <= count; seq++) {
		uint64_t now = np_clock_now(d->clock);
		rc = np_ping_send(d->st[from], dst, id, (uint16_t)seq, 56);
		if (rc < 0)
			printf("ping: sendmsg: %s\n", strerror(-rc));
		else
			pg.sent++;
		demo_sim(d, now + SEC);
	}
	/* Let late replies (faults with delay) arrive. */
	demo_sim(d, np_clock_now(d->clock) + 2 * SEC);
	np_ping_handler(d->st[from], id, NULL, NULL);

	printf("--- %s ping statistics ---\n", pg.dest);
	printf("%u packets transmitted, %u received, %u%% packet loss\n", count, pg.received,
	       (count - pg.received) * 100 / count);
	d->pings_sent += count;
	d->pings_answered += pg.received;
	return 0;
}

/* ---- UDP ---- */

static struct sockaddr_in demo_sin(const char *ip, uint16_t port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port) };
	inet_pton(AF_INET, ip, &sin.sin_addr);
	return sin;
}

/* bob's echo socket: answers every datagram queued on it (one thread drives all, so never blocks). */
static void demo_bob_echoes(int fd)
{
	char buf[2048];
	struct sockaddr_in from;
	socklen_t fromlen = sizeof(from);
	ssize_t n;

	while ((n = np_recvfrom(fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from, &fromlen)) >= 0) {
		char ip[INET_ADDRSTRLEN];
		inet_ntop(AF_INET, &from.sin_addr, ip, sizeof(ip));
		printf("bob:   %zd bytes from %s:%u on port 7, echoed back\n", n, ip, ntohs(from.sin_port));
		if (np_sendto(fd, buf, (size_t)n, MSG_DONTWAIT, (struct sockaddr *)&from, fromlen) < 0)
			printf("bob:   sendto: %s\n", strerror(errno));
		fromlen = sizeof(from);
	}
}

/*
 * alice sends datagrams to an echo socket on bob and prints the replies;
 * then a connected socket sends one to a port where nothing listens, and
 * its next call reports bob's ICMP port unreachable as ECONNREFUSED. One
 * thread drives both stacks on the virtual clock, so every socket is
 * non-blocking and np_sim_run moves the packets between the calls.
 */
static int act_udp(struct demo *d)
{
	static const char *const msgs[] = { "hello, bob", "a datagram through two netpath stacks", "bye" };
	struct sockaddr_in echo_addr = demo_sin("0.0.0.0", 7), bob7 = demo_sin(d->addr[1], 7);
	struct sockaddr_in bob_closed = demo_sin(d->addr[1], 9999);
	int echo = -1, cli = -1, conn = -1, rc = -1;
	char buf[2048];
	ssize_t n;

	printf("\n== UDP: alice sends %zu datagrams to an echo socket on bob (port 7) ==\n",
	       sizeof(msgs) / sizeof(msgs[0]));
	echo = np_socket(d->st[1], AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	cli = np_socket(d->st[0], AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	conn = np_socket(d->st[0], AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	if (echo < 0 || cli < 0 || conn < 0 || np_bind(echo, (struct sockaddr *)&echo_addr, sizeof(echo_addr)) < 0) {
		fprintf(stderr, "netpath: demo: UDP sockets: %s\n", strerror(errno));
		goto out;
	}
	for (size_t i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++) {
		size_t len = strlen(msgs[i]);
		printf("alice: sendto 10.0.0.2:7 \"%s\" (%zu bytes)\n", msgs[i], len);
		if (np_sendto(cli, msgs[i], len, 0, (struct sockaddr *)&bob7, sizeof(bob7)) < 0) {
			printf("alice: sendto: %s\n", strerror(errno));
			continue;
		}
		d->udp_sent++;
		demo_sim(d, np_clock_now(d->clock) + SEC);
		demo_bob_echoes(echo);
		demo_sim(d, np_clock_now(d->clock) + SEC);
		n = np_recv(cli, buf, sizeof(buf) - 1, 0);
		if (n < 0) {
			printf("alice: no echo (%s)\n", strerror(errno));
			continue;
		}
		buf[n] = '\0';
		if ((size_t)n == len && memcmp(buf, msgs[i], len) == 0) {
			d->udp_echoed++;
			printf("alice: got \"%s\" back\n", buf);
		} else {
			printf("alice: got %zd different bytes back\n", n);
		}
	}
	printf("--- %lu of %lu datagrams echoed back intact\n", d->udp_echoed, d->udp_sent);

	printf("\n== UDP: alice's connected socket sends to bob's port 9999, where nothing listens ==\n");
	if (np_connect(conn, (struct sockaddr *)&bob_closed, sizeof(bob_closed)) < 0 ||
	    np_send(conn, "anyone there?", 13, 0) < 0) {
		printf("alice: connect/send: %s\n", strerror(errno));
	} else {
		printf("alice: connect 10.0.0.2:9999, send \"anyone there?\"\n");
		demo_sim(d, np_clock_now(d->clock) + SEC);
		n = np_recv(conn, buf, sizeof(buf), 0);
		if (n < 0 && errno == ECONNREFUSED) {
			d->udp_refused = 1;
			printf("alice: recv: %s (ECONNREFUSED: bob answered with an ICMP port unreachable)\n",
			       strerror(errno));
		} else if (n < 0) {
			printf("alice: recv: %s (expected ECONNREFUSED)\n", strerror(errno));
		} else {
			printf("alice: recv: %zd bytes (expected ECONNREFUSED)\n", n);
		}
	}
	rc = 0;
out:
	if (echo >= 0)
		np_close(echo);
	if (cli >= 0)
		np_close(cli);
	if (conn >= 0)
		np_close(conn);
	return rc;
}

/* ---- TCP ---- */

#define DEMO_TCP_BYTES (1ul << 20)
#define DEMO_TCP_PORT 5001
#define DEMO_TCP_CLOSED_PORT 9999
#define DEMO_TCP_FAULTS "loss=2%,delay=5ms,seed=3"
#define MSEC 1000000ull

/* Byte i of the transfer: a pattern bob checks as it arrives (a lost, doubled or misplaced byte shows). */
static unsigned char demo_tcp_byte(unsigned long i)
{
	return (unsigned char)(i * 131 + (i >> 10) * 7 + (i >> 17));
}

/* Prints one stack's TCP counters that tell how the loss was repaired. */
static void demo_tcp_counters(struct demo *d, int i, const char *who)
{
	static const struct {
		enum np_mib_field f;
		const char *name;
	} c[] = {
		{ NP_MIB_TcpActiveOpens, "TcpActiveOpens" },           { NP_MIB_TcpPassiveOpens, "TcpPassiveOpens" },
		{ NP_MIB_TcpOutSegs, "TcpOutSegs" },                   { NP_MIB_TcpInSegs, "TcpInSegs" },
		{ NP_MIB_TcpRetransSegs, "TcpRetransSegs" },           { NP_MIB_TcpExtTCPFastRetrans, "TCPFastRetrans" },
		{ NP_MIB_TcpExtTCPTimeouts, "TCPTimeouts" },           { NP_MIB_TcpExtTCPLossUndo, "TCPLossUndo" },
		{ NP_MIB_TcpExtTCPOFOQueue, "TCPOFOQueue" },           { NP_MIB_TcpExtDelayedACKs, "DelayedACKs" },
	};
	int col = 0;

	printf("%s:", who);
	for (size_t k = 0; k < sizeof(c) / sizeof(c[0]); k++) {
		uint64_t v = np_stack_mib(d->st[i], c[k].f);
		if (v == 0 && c[k].f != NP_MIB_TcpRetransSegs)
			continue;
		if (col >= 4) {
			printf("\n%*s", (int)strlen(who) + 1, "");
			col = 0;
		}
		printf(" %s %llu", c[k].name, (unsigned long long)v);
		col++;
	}
	printf("\n");
}

/* Sends what alice's send buffer takes now; returns the bytes accepted. */
static unsigned long demo_tcp_push(int fd, unsigned long sent)
{
	unsigned char buf[16384];
	unsigned long start = sent;

	while (sent < DEMO_TCP_BYTES) {
		size_t len = DEMO_TCP_BYTES - sent < sizeof(buf) ? DEMO_TCP_BYTES - sent : sizeof(buf);
		for (size_t k = 0; k < len; k++)
			buf[k] = demo_tcp_byte(sent + k);
		ssize_t n = np_send(fd, buf, len, MSG_DONTWAIT);
		if (n <= 0)
			break;   /* EAGAIN: the send buffer is full until ACKs free it */
		sent += (unsigned long)n;
	}
	return sent - start;
}

/* Reads what bob has received in order, checking every byte; -1 on an error, 1 at EOF, else 0. */
static int demo_tcp_pull(struct demo *d, int fd, unsigned long *got)
{
	unsigned char buf[16384];

	for (;;) {
		ssize_t n = np_recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n == 0)
			return 1;
		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
		for (ssize_t k = 0; k < n; k++) {
			if (buf[k] == demo_tcp_byte(*got + (unsigned long)k))
				d->tcp_intact++;
		}
		*got += (unsigned long)n;
	}
}

/*
 * alice connects to a listening socket on bob and sends 1 MiB while bob's
 * eth0 drops 2% of the frames both ways (and delays each by 5 ms, so the
 * RTT is 10 ms); TCP's retransmissions (fast retransmit on duplicate ACKs,
 * the retransmission timer) repair every loss. Then alice connects to a
 * closed port: bob answers the SYN with an RST and alice's socket reports
 * ECONNREFUSED. One thread drives both stacks on the virtual clock, so the
 * sockets are non-blocking and np_sim_run moves the packets between calls.
 */
static int act_tcp(struct demo *d)
{
	struct sockaddr_in any = demo_sin("0.0.0.0", DEMO_TCP_PORT), bobp = demo_sin(d->addr[1], DEMO_TCP_PORT);
	struct sockaddr_in closed = demo_sin(d->addr[1], DEMO_TCP_CLOSED_PORT), peer;
	socklen_t plen = sizeof(peer), elen;
	const char *errpos = NULL;
	int lfd = -1, cfd = -1, afd = -1, xfd = -1, err = 0, rc = -1, eof = 0;
	unsigned long got = 0;
	uint64_t t0, t1, deadline;
	struct pollfd pf;
	char ip[INET_ADDRSTRLEN];

	printf("\n== TCP: alice sends 1 MiB to bob (port %d) over a cable that loses 2%% of the frames ==\n",
	       DEMO_TCP_PORT);
	if (np_dev_set_faults(d->dev[1], NP_RXTX, DEMO_TCP_FAULTS, &errpos) < 0) {
		fprintf(stderr, "netpath: demo: cannot set faults on bob's eth0\n");
		return -1;
	}
	printf("(bob's eth0 now drops 2%% of the frames each way and delays each by 5 ms: %s)\n", DEMO_TCP_FAULTS);
	lfd = np_socket(d->st[1], AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	cfd = np_socket(d->st[0], AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (lfd < 0 || cfd < 0 || np_bind(lfd, (struct sockaddr *)&any, sizeof(any)) < 0 || np_listen(lfd, 8) < 0) {
		fprintf(stderr, "netpath: demo: TCP sockets: %s\n", strerror(errno));
		goto out;
	}
	printf("bob:   socket, bind 0.0.0.0:%d, listen\n", DEMO_TCP_PORT);

	/* The three-way handshake (RFC 9293 3.5): SYN, SYN-ACK, ACK. */
	t0 = np_clock_now(d->clock);
	if (np_connect(cfd, (struct sockaddr *)&bobp, sizeof(bobp)) == 0 || errno != EINPROGRESS) {
		printf("alice: connect: %s (expected EINPROGRESS)\n", strerror(errno));
		goto out;
	}
	printf("alice: connect 10.0.0.2:%d: EINPROGRESS (non-blocking; the SYN is on its way)\n", DEMO_TCP_PORT);
	deadline = t0 + 150 * SEC;   /* past the last SYN retry (net.ipv4.tcp_syn_retries) */
	for (;;) {
		demo_sim(d, np_clock_now(d->clock) + MSEC);
		if (afd < 0)
			afd = np_accept(lfd, (struct sockaddr *)&peer, &plen);
		/* alice's socket turns writable when connected, or reports why it is not (SO_ERROR). */
		pf.fd = cfd;
		pf.events = POLLOUT;
		pf.revents = 0;
		if (np_poll(&pf, 1, 0) > 0) {
			elen = sizeof(err);
			if (np_getsockopt(cfd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
				err = errno;
			if (err != 0 || afd >= 0)
				break;
		}
		if (np_clock_now(d->clock) >= deadline)
			break;
	}
	if (afd < 0 || err != 0) {
		printf("alice: no connection after %.1f s of virtual time: %s\n",
		       (double)(np_clock_now(d->clock) - t0) / 1e9, err ? strerror(err) : "no answer");
		goto out;
	}
	inet_ntop(AF_INET, &peer.sin_addr, ip, sizeof(ip));
	printf("bob:   accept: %s:%u, %.1f ms after the connect (SYN, SYN-ACK, ACK)\n", ip, ntohs(peer.sin_port),
	       (double)(np_clock_now(d->clock) - t0) / 1e6);

	/* The transfer: alice fills her send buffer, bob drains his receive queue, the clock moves 1 ms. */
	t0 = np_clock_now(d->clock);
	deadline = t0 + 120 * SEC;
	while (!eof && np_clock_now(d->clock) < deadline) {
		if (d->tcp_sent < DEMO_TCP_BYTES) {
			d->tcp_sent += demo_tcp_push(cfd, d->tcp_sent);
			if (d->tcp_sent == DEMO_TCP_BYTES) {
				np_shutdown(cfd, SHUT_WR);   /* FIN after the last byte */
				printf("alice: sent %lu bytes with np_send, then shutdown(SHUT_WR): FIN\n", d->tcp_sent);
			}
		}
		int r = demo_tcp_pull(d, afd, &got);
		if (r < 0) {
			printf("bob:   recv: %s\n", strerror(errno));
			break;
		}
		if (r > 0) {
			eof = 1;
			break;
		}
		demo_sim(d, np_clock_now(d->clock) + MSEC);
	}
	t1 = np_clock_now(d->clock);
	d->tcp_eof = eof && got == DEMO_TCP_BYTES;
	printf("bob:   received %lu bytes, %s, then %s\n", got,
	       d->tcp_intact == DEMO_TCP_BYTES && got == DEMO_TCP_BYTES ? "every byte in order and intact"
									: "NOT the bytes alice sent",
	       eof ? "end of file (alice's FIN)" : "no end of file");
	{
		double sec = (double)(t1 - t0) / 1e9;
		printf("--- %lu bytes in %.3f s of virtual time (%.2f Mbit/s; RTT 10 ms, 2%% loss each way)\n", got, sec,
		       sec > 0 ? (double)got * 8 / sec / 1e6 : 0.0);
	}
	/* bob closes too: his FIN, alice's ACK; alice then holds TIME_WAIT. */
	np_close(afd);
	afd = -1;
	demo_sim(d, np_clock_now(d->clock) + 5 * SEC);
	{
		char c;
		printf("bob:   close: FIN; alice: recv -> %s, close\n",
		       np_recv(cfd, &c, 1, MSG_DONTWAIT) == 0 ? "0 (end of file)" : "no end of file");
	}
	printf("How TCP repaired the losses:\n");
	demo_tcp_counters(d, 0, "  alice");
	demo_tcp_counters(d, 1, "  bob  ");
	printf("  the cable's fault injection dropped %llu frames (drop FAULT_INJECTED_LOSS)\n",
	       (unsigned long long)(np_stack_drops(d->st[0], NP_DROP_FAULT_INJECTED_LOSS) +
				    np_stack_drops(d->st[1], NP_DROP_FAULT_INJECTED_LOSS)));
	np_dev_set_faults(d->dev[1], NP_RXTX, "off", NULL);

	/* A closed port (RFC 9293 3.10.7.1): the SYN is answered with an RST. */
	printf("\n== TCP: alice connects to bob's port %d, where nothing listens ==\n", DEMO_TCP_CLOSED_PORT);
	xfd = np_socket(d->st[0], AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (xfd < 0 || (np_connect(xfd, (struct sockaddr *)&closed, sizeof(closed)) < 0 && errno != EINPROGRESS)) {
		printf("alice: connect: %s\n", strerror(errno));
	} else {
		demo_sim(d, np_clock_now(d->clock) + SEC);
		err = 0;
		elen = sizeof(err);
		np_getsockopt(xfd, SOL_SOCKET, SO_ERROR, &err, &elen);
		if (err == ECONNREFUSED) {
			d->tcp_refused = 1;
			printf("alice: connect 10.0.0.2:%d: %s (ECONNREFUSED: bob answered the SYN with an RST)\n",
			       DEMO_TCP_CLOSED_PORT, strerror(err));
		} else {
			printf("alice: connect 10.0.0.2:%d: %s (expected ECONNREFUSED)\n", DEMO_TCP_CLOSED_PORT,
			       err ? strerror(err) : "no error");
		}
	}
	rc = 0;
out:
	np_dev_set_faults(d->dev[1], NP_RXTX, "off", NULL);
	if (afd >= 0)
		np_close(afd);
	if (cfd >= 0)
		np_close(cfd);
	if (lfd >= 0)
		np_close(lfd);
	if (xfd >= 0)
		np_close(xfd);
	return rc;
}

/* The demo's acts, in order. Each shows one part of the stack. */
static int act_ping(struct demo *d)
{
	demo_print_neighbours(d, "before the first ping");
	if (demo_ping(d, 0, 1, 5) < 0)
		return -1;
	demo_print_neighbours(d, "after ARP");
	if (demo_ping(d, 1, 0, 3) < 0)
		return -1;
	return 0;
}

static const struct {
	const char *name;
	int (*fn)(struct demo *d);
} demo_acts[] = {
	{ "ping", act_ping },
	{ "udp", act_udp },
	{ "tcp", act_tcp },
};

/* ---- set-up ---- */

static int demo_setup(struct demo *d, const char *faults)
{
	static const char *const names[DEMO_NSTACKS] = { "alice", "bob" };
	static const char *const addrs[DEMO_NSTACKS] = { "10.0.0.1", "10.0.0.2" };
	static const char *const prefixes[DEMO_NSTACKS] = { "10.0.0.1/24", "10.0.0.2/24" };
	int rc;

	d->clock = np_clock_virtual(SEC);
	if (d->clock == NULL)
		return -ENOMEM;
	for (int i = 0; i < DEMO_NSTACKS; i++) {
		/* Fixed seeds: the same MACs, IP IDs and output on every run. */
		struct np_stack_config cfg = { .name = names[i], .clock = d->clock, .seed = (uint64_t)i + 1 };
		d->name[i] = names[i];
		d->addr[i] = addrs[i];
		d->st[i] = np_stack_create(&cfg);
		if (d->st[i] == NULL)
			return -ENOMEM;
	}
	rc = np_cable_create(d->st[0], "eth0", d->st[1], "eth0", &d->dev[0], &d->dev[1]);
	if (rc < 0)
		return rc;
	for (int i = 0; i < DEMO_NSTACKS; i++) {
		rc = np_addr_add(d->dev[i], prefixes[i]);
		if (rc < 0)
			return rc;
	}
	if (faults != NULL) {
		const char *errpos = NULL;
		rc = np_dev_set_faults(d->dev[0], NP_RXTX, faults, &errpos);
		if (rc < 0) {
			fprintf(stderr, "netpath: demo: bad --faults spec '%s' at '%s'\n", faults, errpos ? errpos : faults);
			return rc;
		}
	}
	return 0;
}

static void demo_free(struct demo *d)
{
	if (d->cap != NULL && d->dev[0] != NULL)
		np_dev_capture(d->dev[0], NULL);
	for (int i = 0; i < DEMO_NSTACKS; i++) {
		if (d->st[i] != NULL)
			np_stack_destroy(d->st[i]);
	}
	if (d->cap != NULL)
		np_capture_close(d->cap);
	if (d->clock != NULL)
		np_clock_destroy(d->clock);
	free(d->kinds);
	free(d->ended);
}

int cmd_demo(int argc, char **argv)
{
	struct demo d;
	const char *pcap = NULL, *faults = NULL;
	int rc;

	memset(&d, 0, sizeof(d));
	for (int i = 1; i < argc; i++) {
		const char *v;
		int r;
		if (strcmp(argv[i], "--trace") == 0) {
			d.trace_all = 1;
			continue;
		}
		if ((r = tool_opt("demo", argc, argv, &i, "--pcap", &v)) != 0) {
			if (r < 0)
				return EXIT_USAGE;
			pcap = v;
			continue;
		}
		if ((r = tool_opt("demo", argc, argv, &i, "--faults", &v)) != 0) {
			if (r < 0)
				return EXIT_USAGE;
			faults = v;
			continue;
		}
		tool_usage_error("demo", "%s %s", argv[i][0] == '-' ? "unknown option" : "unexpected argument",
				 argv[i]);
		return EXIT_USAGE;
	}

	setvbuf(stdout, NULL, _IOLBF, 0);
	d.kinds = calloc(DEMO_MAX_KINDS, sizeof(*d.kinds));
	if (d.kinds == NULL) {
		fprintf(stderr, "netpath: demo: out of memory\n");
		return 1;
	}
	d.faults = faults;
	rc = demo_setup(&d, faults);
	if (rc < 0) {
		if (rc != -EINVAL || faults == NULL)
			fprintf(stderr, "netpath: demo: cannot set up the stacks: %s\n", strerror(-rc));
		demo_free(&d);
		return rc == -EINVAL && faults != NULL ? EXIT_USAGE : 1;
	}
	if (pcap != NULL) {
		int err = 0;
		d.cap = np_capture_open(pcap, &err);
		if (d.cap == NULL) {
			fprintf(stderr, "netpath: demo: cannot open capture file %s: %s\n", pcap,
				strerror(err ? -err : EIO));
			demo_free(&d);
			return 1;
		}
		np_dev_capture(d.dev[0], d.cap);
	}
	for (int i = 0; i < DEMO_NSTACKS; i++) {
		d.tracer[i].d = &d;
		d.tracer[i].idx = i;
		np_stack_trace_cb(d.st[i], demo_on_path, &d.tracer[i]);
		np_stack_trace(d.st[i], d.trace_all ? NP_TRACE_STAGES | NP_TRACE_PATHS : 0, stdout);
	}

	printf("netpath %s demo: two stacks in one process, joined by a virtual cable,\n"
	       "running on a virtual clock (deterministic; no privileges needed).\n\n",
	       NP_TOOL_VERSION);
	printf("  alice            virtual cable            bob\n"
	       "  eth0 10.0.0.1/24 <======================> eth0 10.0.0.2/24\n");
	if (faults != NULL)
		printf("  (alice's eth0 is impaired both ways: %s)\n", faults);
	printf("\n== alice's addresses and routes (bob's mirror them) ==\n");
	np_addr_print(d.st[0], stdout);
	np_route_print(d.st[0], stdout);

	rc = 0;
	for (size_t a = 0; a < sizeof(demo_acts) / sizeof(demo_acts[0]); a++) {
		if (demo_acts[a].fn(&d) < 0) {
			fprintf(stderr, "netpath: demo: act %s failed\n", demo_acts[a].name);
			rc = 1;
		}
	}

	if (d.trace_all)
		printf("\n== Packet paths ==\n(%lu packets traced above, %lu dropped)\n", d.npaths, d.ndropped);
	else
		demo_print_paths(&d);

	for (int i = 0; i < DEMO_NSTACKS; i++) {
		printf("\n== Counters of %s ==\n", d.name[i]);
		np_stack_print_counters(d.st[i], stdout);
	}
	if (pcap != NULL)
		printf("\nalice's eth0 was captured to %s (open it in Wireshark)\n", pcap);

	int tcp_ok = d.tcp_sent == DEMO_TCP_BYTES && d.tcp_intact == DEMO_TCP_BYTES && d.tcp_eof;
	if (rc == 0 && d.pings_answered == d.pings_sent && d.udp_echoed == d.udp_sent && d.udp_sent > 0 &&
	    d.udp_refused && tcp_ok && d.tcp_refused) {
		printf("\ndemo: all %lu pings answered, all %lu UDP datagrams echoed, ECONNREFUSED from the closed port;\n"
		       "      TCP: %lu bytes arrived intact over the lossy cable, ECONNREFUSED (RST) from the closed port\n",
		       d.pings_sent, d.udp_sent, d.tcp_intact);
	} else {
		printf("\ndemo: %lu of %lu pings answered, %lu of %lu UDP datagrams echoed, %s;\n"
		       "      TCP: %lu of %lu bytes arrived intact%s, %s\n",
		       d.pings_answered, d.pings_sent, d.udp_echoed, d.udp_sent,
		       d.udp_refused ? "ECONNREFUSED from the closed port" : "no ECONNREFUSED from the closed port",
		       d.tcp_intact, DEMO_TCP_BYTES, d.tcp_eof ? "" : " (no end of file)",
		       d.tcp_refused ? "ECONNREFUSED (RST) from the closed port" : "no ECONNREFUSED from the closed TCP port");
		rc = 1;
	}
	for (int i = 0; i < DEMO_NSTACKS; i++)
		np_stack_trace(d.st[i], 0, NULL);
	demo_free(&d);
	return rc;
}
