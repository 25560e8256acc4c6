/*
 * netpath public API: stacks, clocks, devices, addresses, routes, counters,
 * trace, capture and fault injection. Everything here is np_*; the
 * kernel-style internals (sk_buff, net_device ...) stay inside the library.
 *
 * Errors: functions returning int return 0 (or a count) on success and a
 * negative errno value on failure; functions returning a pointer return NULL
 * and, where an out-parameter `err` is given, store the negative errno there.
 */
#ifndef NETPATH_NETPATH_H
#define NETPATH_NETPATH_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "netpath/drop_reason.h"
#include "netpath/mib.h"
#include "netpath/opt.h"

#ifdef __cplusplus
extern "C" {
#endif

struct np_stack;
struct np_clock;
struct np_dev;        /* a struct net_device inside the library */
struct np_capture;

/* ---- clocks ------------------------------------------------------------ */

/* The real monotonic clock. */
struct np_clock *np_clock_real(void);
/* A virtual clock starting at start_ns; it only moves when told to. Shareable by many stacks. */
struct np_clock *np_clock_virtual(uint64_t start_ns);
void np_clock_destroy(struct np_clock *c);
uint64_t np_clock_now(const struct np_clock *c);
/* Moves a virtual clock forward to ns (never backwards); -EINVAL on a real clock. */
int np_clock_set(struct np_clock *c, uint64_t ns);

/* ---- stacks ------------------------------------------------------------ */

struct np_stack_config {
	const char *name;         /* for traces; "netpath" if NULL */
	struct np_clock *clock;   /* NULL: the real clock */
	uint64_t seed;            /* 0: from the OS CSPRNG (secrets, IP IDs, ports) */
};

/* Creates a stack with its loopback device `lo` (127.0.0.1/8) up. */
struct np_stack *np_stack_create(const struct np_stack_config *cfg);
/* Frees everything the stack owns; its devices' peers see their cables go down. */
void np_stack_destroy(struct np_stack *s);
const char *np_stack_name(const struct np_stack *s);
uint64_t np_stack_now(const struct np_stack *s);

/*
 * Runs the stack's softirq context once to completion in the caller: device
 * interrupts, expired timers, NET_RX (NAPI polls under the budget) and NET_TX.
 * Returns the amount of work done (0 when idle).
 */
int np_stack_poll(struct np_stack *s);
/* Nanosecond time of the next timer, UINT64_MAX if none. */
uint64_t np_stack_next_timer(const struct np_stack *s);
/*
 * Waits (epoll) for device input, a wake-up or the next timer, polling the
 * stack until timeout_ms passes (-1: until np_stack_stop). Real clock only.
 */
int np_stack_run(struct np_stack *s, int timeout_ms);
/* Asks np_stack_run to return (async-signal-safe). */
void np_stack_stop(struct np_stack *s);
/* An fd that becomes readable when the stack has work: for epoll/libuv loops. */
int np_stack_fd(const struct np_stack *s);

/*
 * Simulation helper: polls every stack until all are idle, then moves the
 * shared virtual clock to the earliest timer, until the clock reaches until_ns.
 */
int np_sim_run(struct np_stack **stacks, int n, struct np_clock *clock, uint64_t until_ns);

/* Run-time tunables named like Linux's sysctls (e.g. "net.ipv4.ip_default_ttl"). */
int np_sysctl_set(struct np_stack *s, const char *name, long value);
int np_sysctl_get(const struct np_stack *s, const char *name, long *value);
/* Prints every sysctl as "name = value". */
void np_sysctl_print(const struct np_stack *s, FILE *out);

/* ---- devices ----------------------------------------------------------- */

struct np_dev *np_dev_get(struct np_stack *s, const char *name);
const char *np_dev_name(const struct np_dev *d);
int np_dev_set_up(struct np_dev *d, int up);
int np_dev_set_mtu(struct np_dev *d, unsigned mtu);
int np_dev_set_mac(struct np_dev *d, const uint8_t mac[6]);
void np_dev_get_mac(const struct np_dev *d, uint8_t mac[6]);
int np_dev_set_promisc(struct np_dev *d, int on);
/*
 * Segmentation and checksum offloads (Linux's ethtool -K tso/tx/rx/sg):
 * on a cable end, super-packets and partial checksums cross whole when both
 * ends have them on; on a TAP opened with NP_TAP_VNET_HDR, the kernel and
 * netpath exchange them through the virtio-net header. Off by default.
 * Returns 1 if offloads are now on, 0 if off, -EOPNOTSUPP if the device has
 * none (a plain TAP, AF_PACKET, loopback).
 */
int np_dev_set_offload(struct np_dev *d, int on);
/*
 * Generic receive offload (`ethtool -K IFNAME gro on|off`): in-order TCP
 * segments of a flow received in one NAPI poll go up as one super-packet.
 * On by default on TAP and AF_PACKET devices, off on cables. Returns 1 if
 * on, 0 if off, -EOPNOTSUPP if the device cannot (loopback).
 */
int np_dev_set_gro(struct np_dev *d, int on);

/*
 * A veth-like pair: devices named name_a in stack a and name_b in stack b,
 * with random locally administered MACs, MTU 1500, up. Either side may be
 * driven from its own thread.
 */
int np_cable_create(struct np_stack *a, const char *name_a, struct np_stack *b, const char *name_b,
		    struct np_dev **dev_a, struct np_dev **dev_b);

/*
 * Attaches to the TAP device ifname (IFF_TAP|IFF_NO_PI), creating it if it
 * does not exist. -EPERM without CAP_NET_ADMIN, -EBUSY if another process
 * holds it, -ENOENT if /dev/net/tun is missing.
 */
struct np_dev *np_tap_open(struct np_stack *s, const char *ifname, int *err);
/*
 * np_tap_open with flags: NP_TAP_VNET_HDR opens the TAP with IFF_VNET_HDR
 * (a virtio-net header on every frame), which np_dev_set_offload needs;
 * offloads stay off until it is called. -EINVAL on unknown flags.
 */
#define NP_TAP_VNET_HDR 0x1u
struct np_dev *np_tap_open_flags(struct np_stack *s, const char *ifname, unsigned flags, int *err);
/* Configures the kernel's side of a TAP: address/prefix, link up. */
int np_tap_set_host_addr(struct np_dev *d, const char *prefix);
/*
 * Attaches a device to an existing Linux interface (a veth end, a NIC) via
 * an AF_PACKET socket with a TPACKET_V3 ring, in promiscuous mode; netpath
 * keeps its own MAC. Turn TSO/GSO/GRO off on the peer (frames over the MTU
 * are dropped). -EPERM without CAP_NET_RAW, -ENODEV for an unknown
 * interface, -EINVAL if it is not Ethernet, -EEXIST if the name is taken.
 */
struct np_dev *np_af_packet_open(struct np_stack *s, const char *ifname, int *err);

/* ---- addresses and routes ---------------------------------------------- */

/* Adds "A.B.C.D/N" to the device and its connected route. -EINVAL on a bad prefix, -EEXIST if present. */
int np_addr_add(struct np_dev *d, const char *prefix);
int np_addr_del(struct np_dev *d, const char *prefix);
/* Adds a route: prefix "A.B.C.D/N" or "default", via gateway (may be NULL for on-link) or dev. */
int np_route_add(struct np_stack *s, const char *prefix, const char *gateway, struct np_dev *dev);
int np_route_del(struct np_stack *s, const char *prefix);
/* Prints routes like `ip route`, addresses like `ip addr`, neighbours like `ip neigh`. */
void np_route_print(struct np_stack *s, FILE *out);
void np_addr_print(struct np_stack *s, FILE *out);
void np_neigh_print(struct np_stack *s, FILE *out);

/* ---- fault injection ----------------------------------------------------- */

enum np_dir { NP_RX = 1, NP_TX = 2, NP_RXTX = 3 };
/*
 * Parses "loss=2%,delay=20ms,jitter=5ms,reorder=5%,dup=1%,corrupt=0.1%,rate=10mbit,seed=N"
 * and applies it to the device in the given direction(s); "" or "off" clears.
 * -EINVAL with *errpos set to the offending key on a bad spec.
 */
int np_dev_set_faults(struct np_dev *d, enum np_dir dir, const char *spec, const char **errpos);

/* ---- queueing disciplines and VLANs --------------------------------------- */

/*
 * Replaces the device's qdisc (its queued packets are dropped), like
 * `tc qdisc replace dev D root ...`: "pfifo_fast", "pfifo:limit=100",
 * "bfifo:limit=64k", "tbf:rate=10mbit,burst=32k,latency=50ms" (or limit=BYTES),
 * "netem:delay=10ms,jitter=2ms,loss=1%,dup=1%,reorder=5%,corrupt=0.1%,rate=1mbit,limit=1000,seed=N".
 * -EINVAL with *errpos at the offending part of spec, -ENOMEM.
 */
int np_dev_set_qdisc(struct np_dev *d, const char *spec, const char **errpos);
/* Prints every device's qdisc and its statistics like `tc -s qdisc show`. */
void np_qdisc_print(struct np_stack *s, FILE *out);
/*
 * Adds an 802.1Q VLAN device on an Ethernet parent (like `ip link add link
 * PARENT name NAME type vlan id VID`): the parent's MAC and MTU, up, with its
 * own addresses, routes and ARP. name NULL: "PARENT.VID". NULL with *err =
 * -EINVAL (vid not 1..4094, parent not Ethernet), -EEXIST (that VID or name
 * exists), -ENOMEM.
 */
struct np_dev *np_vlan_add(struct np_dev *parent, uint16_t vid, const char *name, int *err);

/* ---- capture and trace --------------------------------------------------- */

/* A pcap file (libpcap, Ethernet link type) shared by any devices of any stacks. */
struct np_capture *np_capture_open(const char *path, int *err);
void np_capture_close(struct np_capture *c);
/* Every frame the device sends or receives is written to c (NULL stops). */
int np_dev_capture(struct np_dev *d, struct np_capture *c);

enum np_trace_flags {
	NP_TRACE_STAGES = 1, /* print one line per stage as it happens */
	NP_TRACE_PATHS = 2,  /* print each packet's whole path when it ends */
};

struct np_trace_stage {
	const char *fn;       /* a function name of the seed diagrams */
	char detail[48];      /* e.g. device, hook verdict, rule */
};

struct np_trace_path {
	uint64_t id;
	uint64_t start_ns;
	const char *dev;          /* device where the packet entered or left */
	int tx;                   /* 1: locally generated */
	char summary[128];        /* "10.0.0.1 > 10.0.0.2 ICMP echo request id=1 seq=1" */
	unsigned len;             /* bytes when the path began */
	int nstages;              /* stored stages (<= NP_TRACE_MAX_STAGES) */
	struct np_trace_stage stages[NP_TRACE_MAX_STAGES];
	int dropped;              /* 0: consumed */
	int reason;               /* enum np_drop_reason when dropped */
};

/* Turns tracing on (flags) or off (0); lines go to out (stderr if NULL). */
void np_stack_trace(struct np_stack *s, unsigned flags, FILE *out);
/* Called when each traced packet ends (tracing must be on; flags may be 0 for callback only). */
void np_stack_trace_cb(struct np_stack *s, void (*cb)(void *arg, const struct np_trace_path *p), void *arg);
/* Formats a path as "a -> b -> c -> consumed" into out. */
void np_trace_format(const struct np_trace_path *p, char *out, size_t cap);

/* ---- counters ------------------------------------------------------------ */

uint64_t np_stack_mib(const struct np_stack *s, enum np_mib_field f);
uint64_t np_stack_drops(const struct np_stack *s, enum np_drop_reason r);

struct np_dev_stats {
	uint64_t rx_packets, rx_bytes, rx_errors, rx_dropped, rx_multicast;
	uint64_t tx_packets, tx_bytes, tx_errors, tx_dropped, tx_carrier;
};
void np_dev_stats(const struct np_dev *d, struct np_dev_stats *st);
/* Prints devices like `ip -s link`, nonzero SNMP counters like `nstat -a`, and drops by reason. */
void np_stack_print_counters(struct np_stack *s, FILE *out);

/* ---- ICMP echo (ping) ------------------------------------------------------ */

struct np_ping_reply {
	struct in_addr from;
	uint16_t id, seq;
	uint8_t ttl;
	size_t len;               /* ICMP payload bytes */
	uint64_t rtt_ns;          /* from the timestamp the request carried */
	int error_type;           /* 0 for a reply; else the ICMP error type that quoted our echo */
	int error_code;
};

/* Sends an echo request; payload_len bytes (>= 8 carry a send timestamp). */
int np_ping_send(struct np_stack *s, struct in_addr dst, uint16_t id, uint16_t seq, size_t payload_len);
/* Receives echo replies (and errors quoting our echoes) for this id. */
int np_ping_handler(struct np_stack *s, uint16_t id, void (*cb)(void *arg, const struct np_ping_reply *r),
		    void *arg);

#ifdef __cplusplus
}
#endif
#endif
