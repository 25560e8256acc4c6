/*
 * The `netpath` command: shared helpers of its subcommands. The command is
 * written only against the public API (the headers in include/netpath), like any other
 * program that links libnetpath.
 *   main (netpath.c) -> cmd_demo (demo.c) | cmd_run, cmd_ping (tap.c) | cmd_get (get.c)
 *   cmd_run --serve -> serve_* (serve.c): apps inside the stack
 *   cmd_run, cmd_ping, cmd_get -> tap_opt (device options), tap_stack_setup (tap.c)
 */
#ifndef NP_TOOL_H
#define NP_TOOL_H

#include <netinet/in.h>
#include <stdio.h>

#include "netpath/netpath.h"

#define NP_TOOL_VERSION "0.1.0"

/* Exit statuses: 0 success, 1 run-time failure (or no ping reply), 2 usage error. */
enum { EXIT_USAGE = 2 };

/* Subcommands: argv[0] is the subcommand name. */
int cmd_demo(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_ping(int argc, char **argv);
int cmd_get(int argc, char **argv);

/* Prints the help of one subcommand (or the overview when name is NULL); -1 if unknown. */
int tool_help(const char *name, FILE *out);
/* "netpath: <subcommand>: <msg>\n" plus a pointer to `netpath help <subcommand>`. */
void tool_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Option scanning for "--name VALUE" and "--name=VALUE". Returns 1 and sets
 * *val when argv[*i] is the option (advancing *i past a separate value),
 * 0 when it is not, -1 (after printing a usage error) when the value is missing.
 */
int tool_opt(const char *cmd, int argc, char **argv, int *i, const char *name, const char **val);

/* Checks "A.B.C.D/N" (N 0..32); 0 or -1. */
int tool_parse_prefix(const char *s, struct in_addr *addr, int *plen);
/* Checks "A.B.C.D"; 0 or -1. */
int tool_parse_addr(const char *s, struct in_addr *addr);
/* Parses a non-negative decimal number of seconds ("0.2", "1"); nanoseconds or -1. */
long long tool_parse_seconds(const char *s);
/* Parses a long in [min, max]; 0 or -1. */
int tool_parse_long(const char *s, long min, long max, long *out);
/* The value of an on|off option: 1 or 0; -1 after printing a usage error naming cmd and opt. */
int tool_parse_onoff(const char *cmd, const char *opt, const char *v);

/* Formats a MAC as "02:00:00:00:00:01". */
void tool_format_mac(const uint8_t mac[6], char out[18]);

/*
 * Signal handling for `run` and `ping`: SIGINT and SIGTERM set a flag and
 * call np_stack_stop on the stack given here.
 */
void tool_signals_install(struct np_stack *s);
int tool_signalled(void);
void tool_signals_reset(void);

/* A --vlan on a tool_dev, with the --addr/--qdisc options given after it (qdisc.c). */
struct tool_vlan {
	unsigned vid;
	const char *name;         /* NULL: "PARENT.VID" */
	const char *addrs[NP_MAX_IFADDRS];
	int naddrs;
	const char *qdisc;
	struct np_dev *dev;
};

/* One TAP device of `run` / `ping` and the options that apply to it. */
struct tool_dev {
	const char *tap;
	int af_packet;            /* --af-packet: tap names an existing interface (afpacket.c) */
	const char *addrs[NP_MAX_IFADDRS];
	int naddrs;
	const char *host_addr;
	long mtu;                 /* 0: leave the default */
	int offload;              /* --offload on: TAP with a vnet header, TSO/GSO/checksum offloads on */
	int gro_off;              /* --gro off: every frame goes up alone (GRO is on by default) */
	const char *faults[4];    /* by enum np_dir: [NP_RX], [NP_TX], [NP_RXTX] */
	struct np_dev *dev;
	const char *qdisc;        /* --qdisc SPEC (qdisc.c) */
	struct tool_vlan vlans[4];
	int nvlans;
};

/*
 * A per-device option (tool_opt's result r) may be taken: its value was
 * there and a device came before it. 0, or -1 after printing a usage error.
 */
int tool_dev_opt_ok(const char *cmd, int r, const struct tool_dev *cur, const char *opt);

/*
 * qdisc.c: --qdisc SPEC and --vlan VID[:NAME] for the current device, and
 * --addr after a --vlan (for the VLAN device). 1 consumed, 0 not ours, -1 usage error (printed).
 */
int tool_netdev_opt(const char *cmd, struct tool_dev *cur, int argc, char **argv, int *i);
/* Sets d's qdisc, creates its VLAN devices with their addresses and qdiscs; -1 after printing. */
int tool_netdev_setup(struct np_stack *s, struct tool_dev *d);
/* One "netpath: t0.100 up (vlan 100 on t0), ..." line per VLAN device on stderr. */
void tool_netdev_ready(const struct tool_dev *d);

/*
 * Opens d->tap on s and applies the addresses, MTU, faults and host side.
 * Prints a clear error and returns -1 on failure.
 */
int tool_dev_setup(struct np_stack *s, struct tool_dev *d);
/* afpacket.c: np_af_packet_open on d->tap; prints a clear error and returns NULL on failure. */
struct np_dev *afpacket_open(struct np_stack *s, const struct tool_dev *d);
/* "netpath: np0 up, 10.0.0.2/24, mac 02:..." on stderr (tests wait for it). */
void tool_dev_ready(const struct tool_dev *d);

/*
 * The device and global options of run, ping and get (tap.c): one parser,
 * so the three commands take the same forms with the same errors.
 */
struct tap_opts {
	struct tool_dev devs[8];
	int ndevs;
	const char *gateway;
	const char *pcap;
	int trace;
	FILE *trace_out;          /* where --trace prints; NULL: stdout (get: stderr, its body may be stdout) */
	const char *sysctls[32];
	int nsysctls;
};
/*
 * Tries argv[*i] as one of the device options (--tap, --af-packet, --addr ...,
 * and --qdisc/--vlan via tool_netdev_opt) or the global ones (--gateway,
 * --pcap, --sysctl, --trace). 1 consumed, 0 not ours, -1 usage error (printed).
 */
int tap_opt(const char *cmd, struct tap_opts *o, int argc, char **argv, int *i);

/* Everything a TAP-backed stack holds, to release in one place. */
struct tap_stack {
	struct np_stack *s;
	struct np_capture *cap;
};
/* Creates the stack and applies sysctls, devices, route, capture and trace. 0 or -1 (printed). */
int tap_stack_setup(struct tap_stack *t, struct tap_opts *o, const char *name);
/* Detaches the capture, destroys the stack, closes the capture file; safe after a failed setup. */
void tap_stack_free(struct tap_stack *t, struct tap_opts *o);

/*
 * `run --serve NAME[=ARG]` (serve.c): built-in apps (UDP and TCP echo and
 * discard, an HTTP file server) written against the socket API, in threads
 * beside the stack's.
 */
struct serve_set;
struct serve_set *serve_new(void);
/* Stops the apps if running and frees the set. */
void serve_free(struct serve_set *set);
int serve_count(const struct serve_set *set);
/* --busy-poll: the apps' sockets get SO_PREFER_BUSY_POLL (see include/netpath/socket.h). */
void serve_set_busy_poll(struct serve_set *set, int on);
/* Adds one --serve spec; -1 after printing a clear error (unknown name, bad port, bad directory). */
int serve_add(struct serve_set *set, const char *cmd, const char *spec);
/* Opens and binds each app's socket and starts its thread; -1 after printing an error. */
int serve_start(struct serve_set *set, struct np_stack *s);
/* "netpath: serving udp echo on port 7, udp discard on port 9, tcp echo on port 7, ..." */
void serve_announce(const struct serve_set *set, FILE *out);
/* Wakes and joins every app thread and closes its socket (before the stack stops). */
void serve_stop(struct serve_set *set);
/* One line per app: what it received, echoed or sent, and any errors. */
void serve_print(const struct serve_set *set, FILE *out);

/* `run --route PREFIX via GW [dev IFNAME]` (repeatable) and `--forward` (router.c). */
struct tool_route {
	char prefix[20], gateway[16], dev[16];
};
struct router_opts {
	struct tool_route routes[32];
	int nroutes;
	int forward;
};
/* Like tool_opt for --route and --forward: 1 consumed, 0 not ours, -1 usage error (printed). */
int router_opt(const char *cmd, struct router_opts *o, int argc, char **argv, int *i);
/* After the devices exist: sets net.ipv4.ip_forward and adds the routes. 0 or -1 (printed). */
int router_apply(struct np_stack *s, const struct router_opts *o);

/* `run --rule 'RULE'` (repeatable) and `--rules-file FILE` (nf.c): iptables-syntax rules. */
struct nf_opts {
	const char *rules[128];
	int nrules;
	const char *files[8];
	int nfiles;
};
/* Like tool_opt for --rule and --rules-file: 1 consumed, 0 not ours, -1 usage error (printed). */
int nf_opt(const char *cmd, struct nf_opts *o, int argc, char **argv, int *i);
/* Parses every rule on a scratch stack: 0, or -1 after a usage error naming the bad rule. */
int nf_check(const char *cmd, const struct nf_opts *o);
/* Loads the files then the rules into s; 0 or -1 (printed). */
int nf_apply(struct np_stack *s, const struct nf_opts *o);
/* The rule tables with their counters (and the conntrack table) if any rule was given. */
void nf_print_counters(struct np_stack *s, const struct nf_opts *o, FILE *out);

#endif
