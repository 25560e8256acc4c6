/*
 * `netpath run` and `netpath ping`: a netpath stack on TAP devices, driven
 * on the real clock by np_stack_run (epoll on the TAP fds and timers).
 *   cmd_run -> tool_dev_setup (np_tap_open, np_addr_add, np_tap_set_host_addr)
 *           -> np_stack_run(s, -1) until SIGINT/SIGTERM -> np_stack_print_counters
 *      with --serve: np_stack_start (the stack's thread) + serve_start (an app thread
 *           each, serve.c) -> sigtimedwait for SIGINT/SIGTERM -> serve_stop -> np_stack_join
 *   cmd_ping -> np_ping_send each interval -> np_stack_run(s, small timeout)
 *            -> ping_reply (np_ping_handler callback) -> iputils-style summary
 * The device options (tap_opt) and the stack set-up (tap_stack_setup) here
 * are also those of `netpath get` (get.c).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "netpath/socket.h"
#include "tool.h"

/* ---- device set-up shared by run and ping ---- */

static void tap_open_error(const char *ifname, int err)
{
	const char *hint = "";

	switch (-err) {
	case EPERM:
	case EACCES:
		hint = " (run as root or with CAP_NET_ADMIN)";
		break;
	case EBUSY:
		hint = " (another process holds it; stop it or pick another name)";
		break;
	case ENOENT:
	case ENODEV:
		hint = " (/dev/net/tun is missing: load the tun module with `modprobe tun`)";
		break;
	case EINVAL:
		hint = " (bad interface name, or a non-TAP device of that name exists)";
		break;
	default:
		break;
	}
	fprintf(stderr, "netpath: cannot open TAP %s: %s%s\n", ifname, strerror(-err), hint);
}

int tool_dev_setup(struct np_stack *s, struct tool_dev *d)
{
	static const enum np_dir order[] = { NP_RXTX, NP_RX, NP_TX };
	static const char *const dirname[] = { "", "--faults-rx", "--faults-tx", "--faults" };
	int err = 0;
	int rc;

	d->dev = d->af_packet ? afpacket_open(s, d)
			      : np_tap_open_flags(s, d->tap, d->offload ? NP_TAP_VNET_HDR : 0, &err);
	if (d->dev == NULL) {
		if (!d->af_packet)
			tap_open_error(d->tap, err ? err : -EIO);
		return -1;
	}
	if (d->offload && (rc = np_dev_set_offload(d->dev, 1)) != 1) {
		fprintf(stderr, "netpath: cannot turn offloads on on %s: %s\n", d->tap,
			rc < 0 ? strerror(-rc) : "the device refused");
		return -1;
	}
	if (d->gro_off && (rc = np_dev_set_gro(d->dev, 0)) != 0) {
		fprintf(stderr, "netpath: cannot turn GRO off on %s: %s\n", d->tap, rc < 0 ? strerror(-rc) : "refused");
		return -1;
	}
	if (d->mtu > 0 && (rc = np_dev_set_mtu(d->dev, (unsigned)d->mtu)) < 0) {
		fprintf(stderr, "netpath: cannot set MTU %ld on %s: %s\n", d->mtu, d->tap, strerror(-rc));
		return -1;
	}
	rc = np_dev_set_up(d->dev, 1);
	if (rc < 0) {
		fprintf(stderr, "netpath: cannot bring %s up: %s\n", d->tap, strerror(-rc));
		return -1;
	}
	for (int i = 0; i < d->naddrs; i++) {
		rc = np_addr_add(d->dev, d->addrs[i]);
		if (rc < 0) {
			fprintf(stderr, "netpath: cannot add address %s to %s: %s\n", d->addrs[i], d->tap,
				rc == -EINVAL ? "bad address (expected A.B.C.D/N)" : strerror(-rc));
			return -1;
		}
	}
	for (size_t k = 0; k < sizeof(order) / sizeof(order[0]); k++) {
		const char *spec = d->faults[order[k]];
		const char *errpos = NULL;
		if (spec == NULL)
			continue;
		rc = np_dev_set_faults(d->dev, order[k], spec, &errpos);
		if (rc < 0) {
			if (rc == -EINVAL)
				fprintf(stderr, "netpath: bad %s spec '%s' at '%s' (keys: loss delay jitter reorder "
						"dup corrupt rate limit seed)\n",
					dirname[order[k]], spec, errpos ? errpos : spec);
			else
				fprintf(stderr, "netpath: cannot set faults on %s: %s\n", d->tap, strerror(-rc));
			return -1;
		}
	}
	if (d->host_addr != NULL) {
		rc = np_tap_set_host_addr(d->dev, d->host_addr);
		if (rc < 0) {
			fprintf(stderr, "netpath: cannot configure the host side of %s as %s: %s\n", d->tap,
				d->host_addr, strerror(-rc));
			return -1;
		}
	}
	if (tool_netdev_setup(s, d) < 0)   /* --qdisc, --vlan (qdisc.c) */
		return -1;
	return 0;
}

void tool_dev_ready(const struct tool_dev *d)
{
	uint8_t mac[6];
	char macs[18];
	char addrs[NP_MAX_IFADDRS * 20 + 16] = "";
	size_t n = 0;

	np_dev_get_mac(d->dev, mac);
	tool_format_mac(mac, macs);
	for (int i = 0; i < d->naddrs; i++)
		n += (size_t)snprintf(addrs + n, sizeof(addrs) - n, "%s%s", i ? " " : "", d->addrs[i]);
	if (d->naddrs == 0)
		snprintf(addrs, sizeof(addrs), "no address");
	fprintf(stderr, "netpath: %s up, %s, mac %s%s%s\n", d->tap, addrs, macs,
		d->host_addr ? ", host side " : "", d->host_addr ? d->host_addr : "");
	tool_netdev_ready(d);
}

int tool_dev_opt_ok(const char *cmd, int r, const struct tool_dev *cur, const char *opt)
{
	if (r < 0)
		return -1;
	if (cur == NULL) {
		tool_usage_error(cmd, "%s applies to a device: give --tap IFNAME before it", opt);
		return -1;
	}
	return 0;
}

/* The next device (--tap or --af-packet) named name; NULL after a usage error (too_many when full). */
static struct tool_dev *tap_opt_new_dev(const char *cmd, struct tap_opts *o, const char *name, const char *too_many)
{
	if (o->ndevs == (int)(sizeof(o->devs) / sizeof(o->devs[0]))) {
		tool_usage_error(cmd, "%s", too_many);
		return NULL;
	}
	if (*name == '\0' || strlen(name) >= 16) {
		tool_usage_error(cmd, "bad interface name '%s' (1 to 15 characters)", name);
		return NULL;
	}
	struct tool_dev *d = &o->devs[o->ndevs++];
	memset(d, 0, sizeof(*d));
	d->tap = name;
	return d;
}

/*
 * The one parser of the device and global options, for run, ping and get
 * (struct tap_opts in tool.h). A new per-device option goes here beside
 * --offload and --gro: a field in struct tool_dev, set after checking that
 * a device was given (cur), applied in tool_dev_setup.
 */
int tap_opt(const char *cmd, struct tap_opts *o, int argc, char **argv, int *i)
{
	const char *v;
	struct tool_dev *cur = o->ndevs ? &o->devs[o->ndevs - 1] : NULL;
	int r;
	long n;
	struct in_addr a;
	int plen;

#define OPT(name) ((r = tool_opt(cmd, argc, argv, i, name, &v)) != 0)
	/* --qdisc, --vlan and the --addr after a --vlan (qdisc.c). */
	if ((r = tool_netdev_opt(cmd, cur, argc, argv, i)) != 0)
		return r;
	if (OPT("--tap"))
		return r < 0 || !tap_opt_new_dev(cmd, o, v, "too many --tap devices") ? -1 : 1;
	if (OPT("--af-packet")) {
		struct tool_dev *d = r < 0 ? NULL : tap_opt_new_dev(cmd, o, v, "too many devices");
		if (d == NULL)
			return -1;
		d->af_packet = 1;   /* an existing interface, not a TAP (afpacket.c) */
		return 1;
	}
	if (OPT("--addr")) {
		if (tool_dev_opt_ok(cmd, r, cur, "--addr") < 0)
			return -1;
		if (tool_parse_prefix(v, &a, &plen) < 0) {
			tool_usage_error(cmd, "bad address '%s' (expected A.B.C.D/N, e.g. 10.0.0.2/24)", v);
			return -1;
		}
		if (cur->naddrs == NP_MAX_IFADDRS) {
			tool_usage_error(cmd, "too many addresses on %s", cur->tap);
			return -1;
		}
		cur->addrs[cur->naddrs++] = v;
		return 1;
	}
	if (OPT("--host-addr")) {
		if (tool_dev_opt_ok(cmd, r, cur, "--host-addr") < 0)
			return -1;
		if (cur->af_packet) {
			tool_usage_error(cmd, "--host-addr is for --tap; configure %s with `ip addr` instead", cur->tap);
			return -1;
		}
		if (tool_parse_prefix(v, &a, &plen) < 0) {
			tool_usage_error(cmd, "bad host address '%s' (expected A.B.C.D/N, e.g. 10.0.0.1/24)", v);
			return -1;
		}
		cur->host_addr = v;
		return 1;
	}
	if (OPT("--offload")) {
		if (tool_dev_opt_ok(cmd, r, cur, "--offload") < 0)
			return -1;
		int on = tool_parse_onoff(cmd, "--offload", v);
		if (on < 0)
			return -1;
		if (cur->af_packet && on) {
			tool_usage_error(cmd, "--offload on is for --tap devices (AF_PACKET has no offloads in netpath)");
			return -1;
		}
		cur->offload = on;
		return 1;
	}
	if (OPT("--gro")) {
		if (tool_dev_opt_ok(cmd, r, cur, "--gro") < 0)
			return -1;
		int on = tool_parse_onoff(cmd, "--gro", v);
		if (on < 0)
			return -1;
		cur->gro_off = !on;
		return 1;
	}
	if (OPT("--mtu")) {
		if (tool_dev_opt_ok(cmd, r, cur, "--mtu") < 0)
			return -1;
		if (tool_parse_long(v, 68, 65535, &n) < 0) {
			tool_usage_error(cmd, "bad MTU '%s' (68 to 65535)", v);
			return -1;
		}
		cur->mtu = n;
		return 1;
	}
	{
		static const struct {
			const char *name;
			enum np_dir dir;
		} fo[] = { { "--faults-rx", NP_RX }, { "--faults-tx", NP_TX }, { "--faults", NP_RXTX } };
		for (size_t k = 0; k < sizeof(fo) / sizeof(fo[0]); k++) {
			if (OPT(fo[k].name)) {
				if (tool_dev_opt_ok(cmd, r, cur, fo[k].name) < 0)
					return -1;
				cur->faults[fo[k].dir] = v;
				return 1;
			}
		}
	}
	if (OPT("--gateway")) {
		if (r < 0)
			return -1;
		if (tool_parse_addr(v, &a) < 0) {
			tool_usage_error(cmd, "bad gateway '%s' (expected A.B.C.D)", v);
			return -1;
		}
		o->gateway = v;
		return 1;
	}
	if (OPT("--pcap")) {
		if (r < 0)
			return -1;
		o->pcap = v;
		return 1;
	}
	if (OPT("--sysctl")) {
		if (r < 0)
			return -1;
		if (strchr(v, '=') == NULL) {
			tool_usage_error(cmd, "bad --sysctl '%s' (expected NAME=VALUE)", v);
			return -1;
		}
		if (o->nsysctls == (int)(sizeof(o->sysctls) / sizeof(o->sysctls[0]))) {
			tool_usage_error(cmd, "too many --sysctl options");
			return -1;
		}
		o->sysctls[o->nsysctls++] = v;
		return 1;
	}
#undef OPT
	if (strcmp(argv[*i], "--trace") == 0) {
		o->trace = 1;
		return 1;
	}
	return 0;
}

void tap_stack_free(struct tap_stack *t, struct tap_opts *o)
{
	if (t->cap != NULL) {
		for (int i = 0; i < o->ndevs; i++) {
			if (o->devs[i].dev != NULL)
				np_dev_capture(o->devs[i].dev, NULL);
		}
	}
	if (t->s != NULL)
		np_stack_destroy(t->s);
	if (t->cap != NULL)
		np_capture_close(t->cap);
	t->s = NULL;
	t->cap = NULL;
}

int tap_stack_setup(struct tap_stack *t, struct tap_opts *o, const char *name)
{
	struct np_stack_config cfg = { .name = name, .clock = NULL, .seed = 0 };
	int rc;

	memset(t, 0, sizeof(*t));
	t->s = np_stack_create(&cfg);
	if (t->s == NULL) {
		fprintf(stderr, "netpath: cannot create a stack (out of memory?)\n");
		return -1;
	}
	for (int i = 0; i < o->nsysctls; i++) {
		char sname[128];
		const char *eq = strchr(o->sysctls[i], '=');
		size_t len = (size_t)(eq - o->sysctls[i]);
		long val;
		if (len >= sizeof(sname) || tool_parse_long(eq + 1, -2147483648L, 2147483647L, &val) < 0) {
			fprintf(stderr, "netpath: bad --sysctl '%s' (expected NAME=INTEGER)\n", o->sysctls[i]);
			return -1;
		}
		memcpy(sname, o->sysctls[i], len);
		sname[len] = '\0';
		rc = np_sysctl_set(t->s, sname, val);
		if (rc < 0) {
			fprintf(stderr, "netpath: cannot set sysctl %s to %ld: %s\n", sname, val,
				rc == -ENOENT ? "no such tunable (see `netpath sysctl`)" : strerror(-rc));
			return -1;
		}
	}
	for (int i = 0; i < o->ndevs; i++) {
		if (tool_dev_setup(t->s, &o->devs[i]) < 0)
			return -1;
	}
	if (o->gateway != NULL) {
		rc = np_route_add(t->s, "default", o->gateway, NULL);
		if (rc < 0) {
			fprintf(stderr, "netpath: cannot add default route via %s: %s\n", o->gateway,
				rc == -EINVAL ? "gateway is not on a connected network" : strerror(-rc));
			return -1;
		}
	}
	if (o->pcap != NULL) {
		int err = 0;
		t->cap = np_capture_open(o->pcap, &err);
		if (t->cap == NULL) {
			fprintf(stderr, "netpath: cannot open capture file %s: %s\n", o->pcap,
				strerror(err ? -err : EIO));
			return -1;
		}
		for (int i = 0; i < o->ndevs; i++)
			np_dev_capture(o->devs[i].dev, t->cap);
	}
	if (o->trace)
		np_stack_trace(t->s, NP_TRACE_STAGES | NP_TRACE_PATHS, o->trace_out ? o->trace_out : stdout);
	return 0;
}

/* ---- netpath run ---- */

/* Without --serve: this thread is the stack's (np_stack_run) until SIGINT/SIGTERM. */
static void run_in_this_thread(struct tap_stack *t, struct tap_opts *o, long long interval_ns)
{
	tool_signals_install(t->s);
	for (int i = 0; i < o->ndevs; i++)
		tool_dev_ready(&o->devs[i]);

	uint64_t started = np_stack_now(t->s);
	while (!tool_signalled()) {
		if (interval_ns > 0) {
			uint64_t until = np_stack_now(t->s) + (uint64_t)interval_ns;
			while (!tool_signalled() && np_stack_now(t->s) < until) {
				uint64_t left = until - np_stack_now(t->s);
				np_stack_run(t->s, (int)((left + 999999) / 1000000));
			}
			if (tool_signalled())
				break;
			printf("--- counters after %.1f s ---\n", (double)(np_stack_now(t->s) - started) / 1e9);
			np_stack_print_counters(t->s, stdout);
			fflush(stdout);
		} else {
			np_stack_run(t->s, -1);
		}
	}
	tool_signals_reset();
	fprintf(stderr, "netpath: stopping\n");
}

/*
 * With --serve: the stack runs in a thread of its own (np_stack_start), each
 * app in its own, and this thread only waits for SIGINT/SIGTERM (printing
 * the counters every --counters-interval). The two signals are blocked in
 * every thread and taken here by sigtimedwait, so none lands in a stack or
 * app thread. The apps stop first, then the stack. 0, or 1 if it could not start.
 */
static int run_with_apps(struct tap_stack *t, struct tap_opts *o, struct serve_set *sv, long long interval_ns)
{
	sigset_t sigs, old;
	int rc;

	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, &old);   /* inherited by the threads started below */
	signal(SIGPIPE, SIG_IGN);
	rc = np_stack_start(t->s);
	if (rc < 0) {
		fprintf(stderr, "netpath: cannot start the stack's thread: %s\n", strerror(-rc));
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		return 1;
	}
	if (serve_start(sv, t->s) < 0) {
		serve_stop(sv);
		np_stack_join(t->s);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		return 1;
	}
	serve_announce(sv, stderr);
	for (int i = 0; i < o->ndevs; i++)
		tool_dev_ready(&o->devs[i]);

	uint64_t started = np_stack_now(t->s);
	for (;;) {
		long long wait_ns = interval_ns > 0 ? interval_ns : 3600LL * 1000000000LL;
		struct timespec ts = { .tv_sec = (time_t)(wait_ns / 1000000000LL), .tv_nsec = (long)(wait_ns % 1000000000LL) };
		int sig = sigtimedwait(&sigs, NULL, &ts);
		if (sig == SIGINT || sig == SIGTERM)
			break;
		if (sig < 0 && errno == EAGAIN && interval_ns > 0) {
			printf("--- counters after %.1f s ---\n", (double)(np_stack_now(t->s) - started) / 1e9);
			np_stack_print_counters(t->s, stdout);
			fflush(stdout);
		}
	}
	fprintf(stderr, "netpath: stopping\n");
	serve_stop(sv);
	np_stack_join(t->s);
	serve_print(sv, stdout);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return 0;
}

int cmd_run(int argc, char **argv)
{
	struct tap_opts o;
	struct tap_stack t;
	struct serve_set *sv;
	struct router_opts ro;
	struct nf_opts no;
	long long interval_ns = 0;
	const char *v;
	int r, rc = EXIT_USAGE, busy_poll = 0;

	memset(&o, 0, sizeof(o));
	memset(&ro, 0, sizeof(ro));
	memset(&no, 0, sizeof(no));
	sv = serve_new();
	if (sv == NULL) {
		fprintf(stderr, "netpath: run: out of memory\n");
		return 1;
	}
	for (int i = 1; i < argc; i++) {
		r = tap_opt("run", &o, argc, argv, &i);
		if (r < 0)
			goto out;
		if (r > 0)
			continue;
		r = router_opt("run", &ro, argc, argv, &i);
		if (r < 0)
			goto out;
		if (r > 0)
			continue;
		r = nf_opt("run", &no, argc, argv, &i);
		if (r < 0)
			goto out;
		if (r > 0)
			continue;
		r = tool_opt("run", argc, argv, &i, "--counters-interval", &v);
		if (r < 0)
			goto out;
		if (r > 0) {
			interval_ns = tool_parse_seconds(v);
			if (interval_ns <= 0) {
				tool_usage_error("run", "bad --counters-interval '%s' (seconds > 0)", v);
				goto out;
			}
			continue;
		}
		if (!strcmp(argv[i], "--busy-poll")) {
			busy_poll = 1;
			continue;
		}
		r = tool_opt("run", argc, argv, &i, "--serve", &v);
		if (r < 0)
			goto out;
		if (r > 0) {
			if (serve_add(sv, "run", v) < 0)
				goto out;
			continue;
		}
		if (argv[i][0] == '-')
			tool_usage_error("run", "unknown option %s", argv[i]);
		else
			tool_usage_error("run", "unexpected argument %s", argv[i]);
		goto out;
	}
	if (o.ndevs == 0) {
		tool_usage_error("run", "give a device with --tap IFNAME or --af-packet IFNAME");
		goto out;
	}
	if (nf_check("run", &no) < 0)
		goto out;
	if (busy_poll && serve_count(sv) == 0) {
		tool_usage_error("run", "--busy-poll is for the apps' sockets: give --serve too");
		goto out;
	}
	serve_set_busy_poll(sv, busy_poll);

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (tap_stack_setup(&t, &o, "netpath") < 0 || router_apply(t.s, &ro) < 0 || nf_apply(t.s, &no) < 0) {
		tap_stack_free(&t, &o);
		rc = 1;
		goto out;
	}
	if (serve_count(sv) > 0) {
		rc = run_with_apps(&t, &o, sv, interval_ns);
	} else {
		run_in_this_thread(&t, &o, interval_ns);
		rc = 0;
	}
	if (rc == 0) {
		np_stack_print_counters(t.s, stdout);
		nf_print_counters(t.s, &no, stdout);
	}
	fflush(stdout);
	tap_stack_free(&t, &o);
out:
	serve_free(sv);
	return rc;
}

/* ---- netpath ping ---- */

/* Square root by Newton's method (the command does not link libm). */
static double tool_sqrt(double x)
{
	double r = x > 1 ? x : 1;
	if (x <= 0)
		return 0;
	for (int i = 0; i < 60; i++)
		r = 0.5 * (r + x / r);
	return r;
}

struct ping_state {
	const char *dest;
	uint16_t id;
	long count;
	unsigned long sent, received, errors, dups;
	unsigned char seen[65536 / 8];  /* seqs answered, for (DUP!) */
	double rtt_min, rtt_max, rtt_sum, rtt_sum2;
};

static const char *icmp_error_text(int type, int code)
{
	static const char *const unreach[] = {
		"Destination Net Unreachable",  "Destination Host Unreachable",
		"Destination Protocol Unreachable", "Destination Port Unreachable",
		"Frag needed and DF set",       "Source Route Failed",
		"Destination Net Unknown",      "Destination Host Unknown",
		"Source Host Isolated",         "Destination Net Prohibited",
		"Destination Host Prohibited",  "Destination Net Unreachable for Type of Service",
		"Destination Host Unreachable for Type of Service", "Packet filtered",
		"Precedence Violation",         "Precedence Cutoff",
	};
	if (type == 3 && code >= 0 && code < (int)(sizeof(unreach) / sizeof(unreach[0])))
		return unreach[code];
	if (type == 11)
		return code == 0 ? "Time to live exceeded" : "Frag reassembly time exceeded";
	if (type == 12)
		return "Parameter problem";
	if (type == 5)
		return "Redirect";
	return "ICMP error";
}

static void ping_reply(void *arg, const struct np_ping_reply *r)
{
	struct ping_state *st = arg;
	char from[INET_ADDRSTRLEN];
	double ms = (double)r->rtt_ns / 1e6;
	int dup;

	inet_ntop(AF_INET, &r->from, from, sizeof(from));
	if (r->error_type != 0) {
		st->errors++;
		printf("From %s icmp_seq=%u %s\n", from, r->seq, icmp_error_text(r->error_type, r->error_code));
		return;
	}
	dup = (st->seen[r->seq / 8] >> (r->seq % 8)) & 1;
	st->seen[r->seq / 8] |= (unsigned char)(1u << (r->seq % 8));
	if (dup) {
		st->dups++;
	} else {
		st->received++;
		if (st->received == 1 || ms < st->rtt_min)
			st->rtt_min = ms;
		if (ms > st->rtt_max)
			st->rtt_max = ms;
		st->rtt_sum += ms;
		st->rtt_sum2 += ms * ms;
	}
	printf("%zu bytes from %s: icmp_seq=%u ttl=%u time=%.*f ms%s\n", r->len + 8, from, r->seq, r->ttl,
	       ms < 1 ? 3 : ms < 10 ? 2 : ms < 100 ? 1 : 0, ms, dup ? " (DUP!)" : "");
}

int cmd_ping(int argc, char **argv)
{
	struct tap_opts o;
	struct tap_stack t;
	struct ping_state *st;
	struct in_addr dst;
	const char *dest = NULL;
	long count = 4, size = 56;
	long long interval_ns = 1000000000LL, wait_ns = 10000000000LL;
	uint64_t start, next_send, deadline = 0;
	int rc, exit_code;
	struct nf_opts no;

	memset(&o, 0, sizeof(o));
	memset(&no, 0, sizeof(no));
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		int r = tap_opt("ping", &o, argc, argv, &i);
		if (r == 0)
			r = nf_opt("ping", &no, argc, argv, &i);
		if (r < 0)
			return EXIT_USAGE;
		if (r > 0)
			continue;
		if (a[0] == '-' && a[1] != '\0' && a[2] == '\0' && strchr("ciWs", a[1]) != NULL) {
			const char *v;
			if (i + 1 >= argc) {
				tool_usage_error("ping", "option %s needs a value", a);
				return EXIT_USAGE;
			}
			v = argv[++i];
			if ((a[1] == 'c' && tool_parse_long(v, 1, 65535, &count) < 0) ||
			    (a[1] == 's' && tool_parse_long(v, 0, 65507, &size) < 0) ||
			    (a[1] == 'i' && (interval_ns = tool_parse_seconds(v)) < 0) ||
			    (a[1] == 'W' && (wait_ns = tool_parse_seconds(v)) < 0)) {
				tool_usage_error("ping", "bad value '%s' for %s", v, a);
				return EXIT_USAGE;
			}
			continue;
		}
		if (a[0] == '-') {
			tool_usage_error("ping", "unknown option %s", a);
			return EXIT_USAGE;
		}
		if (dest != NULL) {
			tool_usage_error("ping", "unexpected argument %s (one destination only)", a);
			return EXIT_USAGE;
		}
		dest = a;
	}
	if (dest == NULL) {
		tool_usage_error("ping", "give a destination address");
		return EXIT_USAGE;
	}
	if (tool_parse_addr(dest, &dst) < 0) {
		tool_usage_error("ping", "bad destination '%s' (expected A.B.C.D)", dest);
		return EXIT_USAGE;
	}
	for (int i = 0; i < o.ndevs; i++) {
		if (o.devs[i].naddrs == 0) {
			tool_usage_error("ping", "%s needs an address: add --addr A.B.C.D/N", o.devs[i].tap);
			return EXIT_USAGE;
		}
	}

	if (nf_check("ping", &no) < 0)
		return EXIT_USAGE;
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (tap_stack_setup(&t, &o, "netpath") < 0 || nf_apply(t.s, &no) < 0) {
		tap_stack_free(&t, &o);
		return EXIT_USAGE;
	}
	st = calloc(1, sizeof(*st));
	if (st == NULL) {
		tap_stack_free(&t, &o);
		return 1;
	}
	st->dest = dest;
	st->count = count;
	st->id = (uint16_t)(getpid() & 0xffff);
	rc = np_ping_handler(t.s, st->id, ping_reply, st);
	if (rc < 0) {
		fprintf(stderr, "netpath: ping: cannot register the echo handler: %s\n", strerror(-rc));
		free(st);
		tap_stack_free(&t, &o);
		return 1;
	}
	tool_signals_install(t.s);
	for (int i = 0; i < o.ndevs; i++)
		tool_dev_ready(&o.devs[i]);
	printf("PING %s (%s) %ld(%ld) bytes of data.\n", dest, dest, size, size + 28);

	start = np_stack_now(t.s);
	next_send = start;
	exit_code = 0;
	while (!tool_signalled()) {
		uint64_t now = np_stack_now(t.s);
		uint64_t wake;

		if ((long)st->sent < count && now >= next_send) {
			uint16_t seq = (uint16_t)(st->sent + 1);
			st->sent++;
			rc = np_ping_send(t.s, dst, st->id, seq, (size_t)size);
			if (rc < 0) {
				fprintf(stderr, "ping: sendmsg: %s\n", strerror(-rc));
				if (rc == -ENETUNREACH || rc == -EHOSTUNREACH || rc == -EINVAL) {
					st->sent--;   /* never left, as ping(8) counts it */
					exit_code = 2;
					break;
				}
			}
			next_send += (uint64_t)interval_ns;
			if ((long)st->sent == count)
				deadline = now + (uint64_t)wait_ns;
			continue;
		}
		if ((long)st->sent == count &&
		    (st->received + st->errors >= st->sent || now >= deadline))
			break;
		wake = (long)st->sent < count ? next_send : deadline;
		{
			uint64_t left = wake > now ? wake - now : 0;
			int ms = (int)((left + 999999) / 1000000);
			np_stack_run(t.s, ms > 100 ? 100 : ms < 1 ? 1 : ms);
		}
	}
	tool_signals_reset();

	{
		uint64_t elapsed = np_stack_now(t.s) - start;
		unsigned long loss = st->sent ? (st->sent - st->received) * 100 / st->sent : 0;
		printf("\n--- %s ping statistics ---\n", dest);
		printf("%lu packets transmitted, %lu received", st->sent, st->received);
		if (st->dups)
			printf(", +%lu duplicates", st->dups);
		if (st->errors)
			printf(", +%lu errors", st->errors);
		printf(", %lu%% packet loss, time %llums\n", loss, (unsigned long long)(elapsed / 1000000));
		if (st->received > 0) {
			double avg = st->rtt_sum / (double)st->received;
			double var = st->rtt_sum2 / (double)st->received - avg * avg;
			printf("rtt min/avg/max/mdev = %.3f/%.3f/%.3f/%.3f ms\n", st->rtt_min, avg, st->rtt_max,
			       tool_sqrt(var));
		}
	}
	fflush(stdout);
	if (exit_code == 0)
		exit_code = st->received > 0 ? 0 : 1;
	free(st);
	tap_stack_free(&t, &o);
	return exit_code;
}
