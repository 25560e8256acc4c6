/*
 * The `netpath` command: entry point, help, and the small subcommands
 * (version, sysctl, drop-reasons). The packet-moving subcommands live in
 * demo.c (two stacks on a virtual cable), tap.c (run, ping on a TAP) and
 * get.c (an HTTP download over netpath's TCP).
 *   main -> cmd_demo | cmd_run | cmd_ping | cmd_get | cmd_sysctl | cmd_drop_reasons
 */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "tool.h"

static const char overview[] =
	"usage: netpath <command> [options]\n"
	"\n"
	"netpath is a TCP/IP stack in user space, built like the Linux kernel's stack;\n"
	"every packet can be followed through the kernel's functions, stage by stage.\n"
	"\n"
	"commands:\n"
	"  demo     two stacks on a virtual cable: ARP, pings, UDP, TCP, each packet's path, counters\n"
	"  run      run a stack on a TAP device until SIGINT/SIGTERM, then print counters\n"
	"  ping     ping from inside a netpath stack (on a TAP, or over its loopback)\n"
	"  get      download a URL over HTTP/1.1 through a netpath stack on a TAP\n"
	"  sysctl   print the run-time tunables and their defaults\n"
	"  drop-reasons  list every drop reason with its meaning\n"
	"  version  print the version\n"
	"  help     help on a command: netpath help <command>\n"
	"\n"
	"Run `netpath demo` first; it needs no privileges.\n";

static const char help_demo[] =
	"usage: netpath demo [--trace] [--pcap FILE] [--faults SPEC]\n"
	"\n"
	"Builds two stacks in this process, alice (10.0.0.1/24) and bob (10.0.0.2/24),\n"
	"each with a device eth0, joins them with a virtual cable and runs them on a\n"
	"virtual clock (deterministic and instant). It shows the neighbour tables\n"
	"before and after ARP, five pings alice -> bob and three bob -> alice, UDP\n"
	"datagrams alice -> an echo socket on bob and one to a closed port (the\n"
	"connected socket then says ECONNREFUSED), a TCP transfer of 1 MiB alice -> bob\n"
	"over a cable that loses 2% of the frames (retransmissions repair every loss:\n"
	"TcpRetransSegs ...) and a TCP connection to a closed port (refused by an RST),\n"
	"then the path the first packet of each kind took through the stack, and the\n"
	"counters.\n"
	"\n"
	"  --trace        print every packet's stages as they happen and its whole path\n"
	"                 when it ends (instead of only the first packet of each kind)\n"
	"  --pcap FILE    capture alice's eth0 to FILE (open it in Wireshark)\n"
	"  --faults SPEC  impair alice's eth0 both ways, e.g. delay=10ms or loss=20%,seed=1\n"
	"                 (keys: loss delay jitter reorder dup corrupt rate limit seed)\n"
	"\n"
	"Exit status: 0 if every ping and UDP datagram got its reply, the closed ports\n"
	"said ECONNREFUSED and the TCP transfer arrived intact, 1 otherwise.\n";

static const char help_run[] =
	"usage: netpath run --tap IFNAME [--addr A.B.C.D/N]... [--host-addr A.B.C.D/N]\n"
	"                   [--mtu N] [--faults SPEC] [--faults-rx SPEC] [--faults-tx SPEC]\n"
	"                   [--qdisc SPEC] [--vlan VID[:NAME] [--addr A.B.C.D/N]...]...\n"
	"                   [--offload on|off] [--tap IFNAME2 ...] [--gateway A.B.C.D]\n"
	"                   [--pcap FILE] [--trace]\n"
	"                   [--af-packet IFNAME ...]\n"
	"                   [--sysctl NAME=VALUE]... [--counters-interval SEC]\n"
	"                   [--serve NAME[=PORT]]... [--serve http=DIR] [--busy-poll]\n"
	"                   [--forward] [--route PREFIX via GW [dev IFNAME]]...\n"
	"                   [--rule 'RULE']... [--rules-file FILE]\n"
	"\n"
	"Runs a netpath stack on the TAP device IFNAME (created if missing) in the\n"
	"foreground until SIGINT or SIGTERM, then prints its counters and exits 0.\n"
	"Once every device is up it prints a line like\n"
	"  netpath: tap0 up, 10.0.0.2/24, mac 02:12:34:56:78:9a\n"
	"to stderr. Needs root or CAP_NET_ADMIN.\n"
	"\n"
	"--af-packet IFNAME instead of --tap attaches to an existing interface (a veth\n"
	"end, a NIC) through an AF_PACKET ring, in promiscuous mode with netpath's own\n"
	"MAC; no --host-addr. Turn off TSO/GSO/GRO on it and on its peer (ethtool -K).\n"
	"\n"
	"Options after a --tap apply to that device:\n"
	"  --addr A.B.C.D/N       an address of the stack on the device (repeatable)\n"
	"  --host-addr A.B.C.D/N  configure the kernel's side of the TAP and set it up\n"
	"  --mtu N                device MTU (default 1500)\n"
	"  --offload on|off       TAP: virtio-net header with TSO/GSO and checksum offloads (default off:\n"
	"                         plain frames, checksums verified in software, nothing to trust)\n"
	"  --gro on|off           generic receive offload: in-order TCP segments received in one poll\n"
	"                         go up as one super-packet (default on, like ethtool -K DEV gro on)\n"
	"  --faults SPEC          impair the device both ways; --faults-rx / --faults-tx\n"
	"                         for one direction. SPEC: loss=2%,delay=20ms,jitter=5ms,\n"
	"                         reorder=5%,dup=1%,corrupt=0.1%,rate=10mbit,seed=N\n"
	"  --qdisc SPEC           the device's queueing discipline (like tc qdisc replace):\n"
	"                         pfifo_fast (default), pfifo:limit=N, bfifo:limit=SIZE,\n"
	"                         tbf:rate=10mbit,burst=32k,latency=50ms (or limit=SIZE),\n"
	"                         netem:delay=10ms,jitter=2ms,loss=1%,dup=1%,reorder=5%,\n"
	"                         corrupt=0.1%,rate=1mbit,limit=N,seed=N\n"
	"  --vlan VID[:NAME]      an 802.1Q VLAN device on it (VID 1-4094, name IFNAME.VID);\n"
	"                         the --addr and --qdisc after it apply to the VLAN device:\n"
	"                         --tap t0 --addr 10.0.0.2/24 --vlan 100 --addr 10.100.0.2/24\n"
	"Global options:\n"
	"  --gateway A.B.C.D      default route via this gateway\n"
	"  --pcap FILE            capture every device to FILE\n"
	"  --trace                print every packet's path (stage by stage) to stdout\n"
	"  --sysctl NAME=VALUE    set a tunable, e.g. net.ipv4.ip_default_ttl=32\n"
	"  --counters-interval SEC  also print the counters every SEC seconds\n"
	"  --forward              route between the devices (net.ipv4.ip_forward=1)\n"
	"  --route PREFIX via GW [dev IFNAME]  a static route (repeatable); PREFIX is\n"
	"                         A.B.C.D/N or default\n"
	"  --rule 'RULE'          a netfilter rule in iptables syntax (repeatable), e.g.\n"
	"                         'INPUT -p tcp --dport 80 -j DROP' (a chain first means -A),\n"
	"                         '-P INPUT DROP', '-t nat -A POSTROUTING -o rt1 -j MASQUERADE';\n"
	"                         the rule counters print with the others at exit\n"
	"  --rules-file FILE      rules in iptables-save form (*filter, :CHAIN POLICY, -A ...)\n"
	"  --serve NAME[=PORT]    run an app inside the stack (repeatable); the stack then\n"
	"                         runs in a thread of its own and each app in another:\n"
	"                           echo      UDP and TCP echo on port 7 (RFC 862)\n"
	"                           discard   UDP and TCP discard on port 9 (RFC 863)\n"
	"                           http=DIR  HTTP/1.1 on TCP port 80: GET and HEAD of the\n"
	"                                     files under DIR (keep-alive, directory listings)\n"
	"                         echo=PORT, discard=PORT serve on another port. At exit\n"
	"                         each app prints what it did before the counters.\n"
	"  --busy-poll            the apps' sockets get SO_PREFER_BUSY_POLL: a thread blocked\n"
	"                         on one waits on the devices and runs the stack's rounds\n"
	"                         itself, the stack's thread steps aside (one wake-up per\n"
	"                         packet instead of two; net.core.busy_poll_handback_us)\n"
	"\n"
	"Example (as root):\n"
	"  netpath run --tap tap0 --addr 10.0.0.2/24 --host-addr 10.0.0.1/24 --trace\n"
	"  ping 10.0.0.2          # from another terminal\n"
	"  netpath run --tap tap0 --addr 10.0.0.2/24 --host-addr 10.0.0.1/24 --serve echo\n"
	"  echo hello | socat - UDP4:10.0.0.2:7   # from another terminal\n"
	"  netpath run --tap tap0 --addr 10.0.0.2/24 --host-addr 10.0.0.1/24 --serve http=/srv\n"
	"  curl -O http://10.0.0.2/file           # from another terminal\n"
	"  netpath run --forward --tap rt0 --addr 10.81.1.1/24 --host-addr 10.81.1.2/24 \\\n"
	"              --tap rt1 --addr 10.81.2.1/24 --route 10.81.3.0/24 via 10.81.2.2\n";

static const char help_ping[] =
	"usage: netpath ping [--tap IFNAME --addr A.B.C.D/N [--gateway A.B.C.D]\n"
	"                    [--host-addr A.B.C.D/N] [--mtu N] [--faults SPEC]]\n"
	"                    [--pcap FILE] [--trace] [-c COUNT] [-i INTERVAL] [-s SIZE]\n"
	"                    [-W TIMEOUT] DEST\n"
	"\n"
	"Sends ICMP echo requests from inside a netpath stack and prints the replies\n"
	"like iputils ping. With --tap the stack runs on that TAP device (root or\n"
	"CAP_NET_ADMIN needed); without it, only the stack's loopback (127.0.0.1/8)\n"
	"exists, so `netpath ping 127.0.0.1` works unprivileged.\n"
	"\n"
	"  -c COUNT     stop after COUNT requests (default 4)\n"
	"  -i INTERVAL  seconds between requests (default 1)\n"
	"  -s SIZE      ICMP data bytes (default 56)\n"
	"  -W TIMEOUT   seconds to wait for replies after the last request (default 10)\n"
	"  --rule 'RULE', --rules-file FILE  netfilter rules, as for `netpath run`\n"
	"\n"
	"Exit status: 0 if at least one reply came back, 1 if none, 2 on errors.\n";

static const char help_get[] =
	"usage: netpath get --tap IFNAME --addr A.B.C.D/N [--host-addr A.B.C.D/N]\n"
	"                   [--gateway A.B.C.D] [--mtu N] [--faults SPEC] [--faults-rx SPEC]\n"
	"                   [--faults-tx SPEC] [--pcap FILE] [--trace] [--sysctl NAME=VALUE]...\n"
	"                   [--timeout SEC] [--counters] URL -o FILE\n"
	"\n"
	"Downloads URL (http://A.B.C.D[:PORT]/PATH; no DNS, no TLS) with an HTTP/1.1\n"
	"GET from inside a netpath stack on the TAP device IFNAME, so every byte\n"
	"crosses netpath's TCP, and writes the body to FILE (-o - for stdout). The\n"
	"body may be framed by Content-Length, chunked, or the server's close.\n"
	"Prints the size, time and rate, and the TCP counters (retransmissions).\n"
	"Needs root or CAP_NET_ADMIN.\n"
	"\n"
	"  -o, --output FILE  where the body goes (- for stdout; the report then goes to stderr)\n"
	"  --timeout SEC      give up when nothing arrives for SEC seconds (default 60; 0: never)\n"
	"  --counters         print the stack's counters at the end (and the rule counters)\n"
	"  --rule 'RULE', --rules-file FILE  netfilter rules, as for `netpath run`\n"
	"  the device options (--addr, --host-addr, --mtu, --offload, --gro, --faults*, --qdisc,\n"
	"  --vlan; --af-packet IFNAME instead of --tap) and --gateway, --pcap, --trace (to\n"
	"  stderr), --sysctl are those of `netpath run`: one parser serves both.\n"
	"\n"
	"Exit status: 0 if the whole body arrived with a 2xx status, 1 if the\n"
	"connection failed, was cut short or the status was not 2xx, 2 on usage errors.\n"
	"\n"
	"Example (as root, with a web server on the host side):\n"
	"  python3 -m http.server --bind 10.0.0.1 8000 &\n"
	"  netpath get --tap tap0 --addr 10.0.0.2/24 --host-addr 10.0.0.1/24 \\\n"
	"      http://10.0.0.1:8000/file -o file\n";

static const char help_sysctl[] =
	"usage: netpath sysctl [NAME...]\n"
	"\n"
	"Prints the run-time tunables of a fresh stack as `name = value` (all of them,\n"
	"or the ones named). Set them with `netpath run --sysctl NAME=VALUE`.\n";

static const char help_drops[] =
	"usage: netpath drop-reasons\n"
	"\n"
	"Lists every drop reason (modelled on Linux's enum skb_drop_reason) with what\n"
	"it means. The trace and the counters print these same names.\n";

static const char help_version[] = "usage: netpath version\n\nPrints the version of netpath.\n";

int tool_help(const char *name, FILE *out)
{
	static const struct {
		const char *name;
		const char *text;
	} helps[] = {
		{ "demo", help_demo },     { "run", help_run },     { "ping", help_ping },     { "get", help_get },
		{ "sysctl", help_sysctl }, { "drop-reasons", help_drops }, { "version", help_version },
	};
	if (name == NULL) {
		fputs(overview, out);
		return 0;
	}
	for (size_t i = 0; i < sizeof(helps) / sizeof(helps[0]); i++) {
		if (strcmp(name, helps[i].name) == 0) {
			fputs(helps[i].text, out);
			return 0;
		}
	}
	return -1;
}

void tool_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "netpath: %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	tool_help(cmd, stderr);
}

int tool_opt(const char *cmd, int argc, char **argv, int *i, const char *name, const char **val)
{
	const char *a = argv[*i];
	size_t n = strlen(name);

	if (strncmp(a, name, n) != 0)
		return 0;
	if (a[n] == '=') {
		*val = a + n + 1;
		return 1;
	}
	if (a[n] != '\0')
		return 0;
	if (*i + 1 >= argc) {
		tool_usage_error(cmd, "option %s needs a value", name);
		return -1;
	}
	*val = argv[++*i];
	return 1;
}

int tool_parse_addr(const char *s, struct in_addr *addr)
{
	return inet_pton(AF_INET, s, addr) == 1 ? 0 : -1;
}

int tool_parse_prefix(const char *s, struct in_addr *addr, int *plen)
{
	char buf[32];
	const char *slash = strchr(s, '/');
	long n;

	if (slash == NULL || (size_t)(slash - s) >= sizeof(buf))
		return -1;
	memcpy(buf, s, (size_t)(slash - s));
	buf[slash - s] = '\0';
	if (tool_parse_addr(buf, addr) < 0)
		return -1;
	if (tool_parse_long(slash + 1, 0, 32, &n) < 0)
		return -1;
	*plen = (int)n;
	return 0;
}

int tool_parse_onoff(const char *cmd, const char *opt, const char *v)
{
	if (!strcmp(v, "on"))
		return 1;
	if (!strcmp(v, "off"))
		return 0;
	tool_usage_error(cmd, "%s takes on or off, not '%s'", opt, v);
	return -1;
}

int tool_parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	if (*s == '\0')
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

long long tool_parse_seconds(const char *s)
{
	char *end;
	double v;

	if (*s == '\0')
		return -1;
	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || *end != '\0' || !(v >= 0) || v > 1e6)
		return -1;
	return (long long)(v * 1e9 + 0.5);
}

void tool_format_mac(const uint8_t mac[6], char out[18])
{
	snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
}

/* The only process-wide state of the command: what a signal must stop. */
static struct np_stack *volatile sig_stack;
static volatile sig_atomic_t sig_seen;

static void on_signal(int sig)
{
	struct np_stack *s = sig_stack;
	sig_seen = sig;
	if (s != NULL)
		np_stack_stop(s);
}

void tool_signals_install(struct np_stack *s)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sig_stack = s;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

int tool_signalled(void)
{
	return sig_seen != 0;
}

void tool_signals_reset(void)
{
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	sig_stack = NULL;
}

/* `netpath sysctl [NAME...]`: the tunables of a fresh stack. */
static int cmd_sysctl(int argc, char **argv)
{
	struct np_stack_config cfg = { .name = "netpath", .clock = NULL, .seed = 1 };
	struct np_stack *s;
	int rc = 0;

	for (int i = 1; i < argc; i++) {
		if (argv[i][0] == '-') {
			tool_usage_error("sysctl", "unknown option %s", argv[i]);
			return EXIT_USAGE;
		}
	}
	s = np_stack_create(&cfg);
	if (s == NULL) {
		fprintf(stderr, "netpath: sysctl: cannot create a stack\n");
		return 1;
	}
	if (argc <= 1) {
		np_sysctl_print(s, stdout);
	} else {
		for (int i = 1; i < argc; i++) {
			long v;
			if (np_sysctl_get(s, argv[i], &v) < 0) {
				fprintf(stderr, "netpath: sysctl: unknown tunable %s (see `netpath sysctl`)\n", argv[i]);
				rc = 1;
				continue;
			}
			printf("%s = %ld\n", argv[i], v);
		}
	}
	np_stack_destroy(s);
	return rc;
}

/* `netpath drop-reasons`: the list the trace and counters name. */
static int cmd_drop_reasons(int argc, char **argv)
{
	if (argc > 1) {
		tool_usage_error("drop-reasons", "unexpected argument %s", argv[1]);
		return EXIT_USAGE;
	}
	for (int r = 1; r < NP_DROP_MAX; r++)
		printf("%-22s %s\n", np_drop_reason_name(r), np_drop_reason_desc(r));
	return 0;
}

int main(int argc, char **argv)
{
	const char *cmd;

	if (argc < 2) {
		fputs(overview, stderr);
		return EXIT_USAGE;
	}
	cmd = argv[1];
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
		fputs(overview, stdout);
		return 0;
	}
	if (strcmp(cmd, "help") == 0) {
		if (argc < 3) {
			fputs(overview, stdout);
			return 0;
		}
		if (tool_help(argv[2], stdout) < 0) {
			fprintf(stderr, "netpath: no such command: %s\n\n", argv[2]);
			fputs(overview, stderr);
			return EXIT_USAGE;
		}
		return 0;
	}
	if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0) {
		printf("netpath %s\n", NP_TOOL_VERSION);
		return 0;
	}
	/* `netpath CMD --help` works for every command. */
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			if (tool_help(cmd, stdout) == 0)
				return 0;
		}
	}
	if (strcmp(cmd, "demo") == 0)
		return cmd_demo(argc - 1, argv + 1);
	if (strcmp(cmd, "run") == 0)
		return cmd_run(argc - 1, argv + 1);
	if (strcmp(cmd, "ping") == 0)
		return cmd_ping(argc - 1, argv + 1);
	if (strcmp(cmd, "get") == 0)
		return cmd_get(argc - 1, argv + 1);
	if (strcmp(cmd, "sysctl") == 0)
		return cmd_sysctl(argc - 1, argv + 1);
	if (strcmp(cmd, "drop-reasons") == 0)
		return cmd_drop_reasons(argc - 1, argv + 1);
	fprintf(stderr, "netpath: no such command: %s\n\n", cmd);
	fputs(overview, stderr);
	return EXIT_USAGE;
}
