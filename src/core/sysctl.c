/*
 * Run-time tunables, named as Linux's sysctls so a reader can look each one
 * up in Documentation/networking/ip-sysctl.rst. Defaults come from
 * include/netpath/opt.h.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "core/stack.h"

struct sysctl_entry {
	const char *name;
	size_t off;
	long min, max;
};

#define SC(n, field, lo, hi) { n, offsetof(struct np_sysctls, field), lo, hi }
static const struct sysctl_entry sysctl_table[] = {
	SC("net.core.netdev_budget", netdev_budget, 1, 1000000),
	SC("net.core.netdev_max_backlog", netdev_max_backlog, 1, 10000000),
	SC("net.ipv4.ip_forward", ip_forward, 0, 1),
	SC("net.ipv4.ip_early_demux", ip_early_demux, 0, 1),
	SC("net.ipv4.tcp_early_demux", tcp_early_demux, 0, 1),
	SC("net.ipv4.udp_early_demux", udp_early_demux, 0, 1),
	SC("net.ipv4.ip_default_ttl", ip_default_ttl, 1, 255),
	SC("net.ipv4.icmp_echo_ignore_all", icmp_echo_ignore_all, 0, 1),
	SC("net.ipv4.icmp_echo_ignore_broadcasts", icmp_echo_ignore_broadcasts, 0, 1),
	SC("net.ipv4.icmp_ratelimit", icmp_ratelimit_ms, 0, 3600000),
	SC("net.ipv4.icmp_ratemask", icmp_ratemask, 0, 0x7ffffffL),
	SC("net.ipv4.neigh.default.gc_thresh3", neigh_gc_thresh3, 1, 10000000),
	SC("net.ipv4.neigh.default.unres_qlen_bytes", neigh_unres_qlen_bytes, 0, 1L << 30),
	SC("net.ipv4.neigh.default.base_reachable_time_ms", neigh_base_reachable_ms, 1, 3600000),
	SC("net.ipv4.neigh.default.delay_first_probe_time_ms", neigh_delay_first_probe_ms, 1, 3600000),
	SC("net.ipv4.neigh.default.retrans_time_ms", neigh_retrans_ms, 1, 3600000),
	SC("net.ipv4.neigh.default.mcast_solicit", neigh_mcast_solicit, 0, 255),
	SC("net.ipv4.neigh.default.ucast_solicit", neigh_ucast_solicit, 0, 255),
	SC("net.ipv4.neigh.default.gc_stale_time_ms", neigh_gc_stale_ms, 1, 36000000),
	SC("net.core.somaxconn", somaxconn, 0, 65535),
	SC("net.core.busy_read", busy_read_us, 0, 2047),
	SC("net.core.busy_poll_handback_us", busy_poll_handback_us, 1, 1000000),
	SC("net.ipv4.tcp_rmem_default", tcp_rmem_default, 4096, 1L << 30),
	SC("net.ipv4.tcp_rmem_max", tcp_rmem_max, 4096, 1L << 30),
	SC("net.ipv4.tcp_wmem_default", tcp_wmem_default, 4096, 1L << 30),
	SC("net.ipv4.tcp_wmem_max", tcp_wmem_max, 4096, 1L << 30),
	SC("net.ipv4.tcp_window_scaling", tcp_window_scaling, 0, 1),
	SC("net.ipv4.tcp_moderate_rcvbuf", tcp_moderate_rcvbuf, 0, 1),
	SC("net.ipv4.tcp_fin_timeout", tcp_fin_timeout, 1, 86400),
	SC("net.ipv4.tcp_keepalive_time", tcp_keepalive_time, 1, 32767),
	SC("net.ipv4.tcp_keepalive_intvl", tcp_keepalive_intvl, 1, 32767),
	SC("net.ipv4.tcp_keepalive_probes", tcp_keepalive_probes, 1, 127),
	SC("net.ipv4.tcp_retries1", tcp_retries1, 0, 255),
	SC("net.ipv4.tcp_retries2", tcp_retries2, 0, 255),
	SC("net.ipv4.tcp_orphan_retries", tcp_orphan_retries, 0, 255),
	SC("net.ipv4.tcp_syn_retries", tcp_syn_retries, 1, 127),
	SC("net.ipv4.tcp_synack_retries", tcp_synack_retries, 0, 255),
	SC("net.ipv4.tcp_max_syn_backlog", tcp_max_syn_backlog, 1, 1L << 24),
	SC("net.ipv4.tcp_syncookies", tcp_syncookies, 0, 2),
	SC("net.ipv4.tcp_rto_min_ms", tcp_rto_min_ms, 1, 120000),
	SC("net.ipv4.tcp_rto_max_ms", tcp_rto_max_ms, 1000, 120000),
	SC("net.ipv4.tcp_timewait_len_ms", tcp_timewait_len_ms, 1, 3600000),
	SC("net.ipv4.tcp_max_tw_buckets", tcp_max_tw_buckets, 0, 1L << 24),
	SC("net.ipv4.tcp_challenge_ack_limit", tcp_challenge_ack_limit, 0, 0x7fffffffL),
	SC("net.ipv4.tcp_invalid_ratelimit", tcp_invalid_ratelimit, 0, 3600000),
	SC("net.ipv4.tcp_min_snd_mss", tcp_min_snd_mss, 48, 65535),
	SC("net.ipv4.tcp_abort_on_overflow", tcp_abort_on_overflow, 0, 1),
	SC("net.ipv4.tcp_rfc1337", tcp_rfc1337, 0, 1),
	SC("net.ipv4.ipfrag_high_thresh", ipfrag_high_thresh, 0, 1L << 30),
	SC("net.ipv4.ipfrag_low_thresh", ipfrag_low_thresh, 0, 1L << 30),
	SC("net.ipv4.ipfrag_time", ipfrag_time, 1, 86400),
	SC("net.netfilter.nf_conntrack_max", nf_conntrack_max, 0, 1L << 24),
};
#undef SC

#define NSYSCTL (sizeof(sysctl_table) / sizeof(sysctl_table[0]))

void sysctl_defaults(struct np_sysctls *sc);
void sysctl_defaults(struct np_sysctls *sc)
{
	sc->netdev_budget = NP_NETDEV_BUDGET;
	sc->netdev_max_backlog = NP_NETDEV_MAX_BACKLOG;
	sc->ip_forward = 0;
	sc->ip_early_demux = 1;       /* Linux's defaults: all three on */
	sc->tcp_early_demux = 1;
	sc->udp_early_demux = 1;
	sc->ip_default_ttl = NP_IP_DEFAULT_TTL;
	sc->icmp_echo_ignore_all = 0;
	sc->icmp_echo_ignore_broadcasts = 1;
	sc->icmp_ratelimit_ms = 1000;
	sc->icmp_ratemask = 0x1818;   /* Linux: unreachable, source quench, time exceeded, parameter problem */
	sc->neigh_gc_thresh3 = NP_NEIGH_GC_THRESH3;
	sc->neigh_unres_qlen_bytes = NP_NEIGH_UNRES_QLEN_BYTES;
	sc->neigh_base_reachable_ms = NP_NEIGH_REACHABLE_MS;
	sc->neigh_delay_first_probe_ms = NP_NEIGH_DELAY_PROBE_MS;
	sc->neigh_retrans_ms = NP_NEIGH_RETRANS_MS;
	sc->neigh_mcast_solicit = NP_NEIGH_MCAST_PROBES;
	sc->neigh_ucast_solicit = NP_NEIGH_UCAST_PROBES;
	sc->neigh_gc_stale_ms = 60000;
	sc->somaxconn = 4096;
	sc->busy_read_us = 0;             /* Linux's default: no busy polling */
	sc->busy_poll_handback_us = 1000; /* the role of Linux's gro_flush_timeout with prefer-busy-poll */
	sc->tcp_rmem_default = 131072;    /* Linux's tcp_rmem: 4096 131072 6291456 */
	/*
	 * Autotuning's ceiling: 1 MiB, not Linux's 6 MiB, while netpath has no
	 * SACK. A 512 KiB window fits a TAP's queue; a 3 MiB one overflows it,
	 * and without SACK each hole costs the sender a round trip (measured
	 * over a TAP: plain-frame receive fell from 3.8 to 0.1 Gbit/s at 6 MiB).
	 */
	sc->tcp_rmem_max = 1048576;
	sc->tcp_wmem_default = 16384;     /* Linux's tcp_wmem: 4096 16384 4194304 */
	sc->tcp_wmem_max = 4194304;
	/*
	 * Linux's defaults: scaling on, and the receive buffer starts at
	 * tcp_rmem_default (a 64 KiB window) and grows with the reader's pace
	 * up to tcp_rmem_max, so the shift is chosen for that (1 MiB: 5; Linux's 6 MiB: 7).
	 */
	sc->tcp_window_scaling = 1;
	sc->tcp_moderate_rcvbuf = 1;
	sc->tcp_fin_timeout = 60;
	sc->tcp_keepalive_time = 7200;
	sc->tcp_keepalive_intvl = 75;
	sc->tcp_keepalive_probes = 9;
	sc->tcp_retries1 = 3;
	sc->tcp_retries2 = 15;
	sc->tcp_orphan_retries = 0;       /* 0 means 8, as Linux */
	sc->tcp_syn_retries = 6;
	sc->tcp_synack_retries = 5;
	sc->tcp_max_syn_backlog = 1024;
	sc->tcp_syncookies = 1;           /* Linux: cookies once a listener's SYN queue overflows */
	sc->tcp_rto_min_ms = 200;
	sc->tcp_rto_max_ms = 120000;
	sc->tcp_timewait_len_ms = 60000;
	sc->tcp_max_tw_buckets = 262144;
	sc->tcp_challenge_ack_limit = 1000;
	sc->tcp_invalid_ratelimit = 500;
	sc->tcp_min_snd_mss = 48;
	sc->tcp_abort_on_overflow = 0;
	sc->tcp_rfc1337 = 0;
	sc->ipfrag_high_thresh = 4 * 1024 * 1024;   /* Linux: 4 MiB */
	sc->ipfrag_low_thresh = 3 * 1024 * 1024;    /* Linux: 3 MiB */
	sc->ipfrag_time = 30;
	sc->nf_conntrack_max = 65536;              /* Linux sizes it by memory; 65536 is typical */
}

static const struct sysctl_entry *sysctl_find(const char *name)
{
	for (size_t i = 0; i < NSYSCTL; i++)
		if (strcmp(sysctl_table[i].name, name) == 0)
			return &sysctl_table[i];
	return NULL;
}

int np_sysctl_set(struct np_stack *s, const char *name, long value)
{
	const struct sysctl_entry *e = sysctl_find(name);
	if (!e)
		return -ENOENT;
	if (value < e->min || value > e->max)
		return -EINVAL;
	*(long *)((char *)&s->sysctl + e->off) = value;
	return 0;
}

int np_sysctl_get(const struct np_stack *s, const char *name, long *value)
{
	const struct sysctl_entry *e = sysctl_find(name);
	if (!e)
		return -ENOENT;
	*value = *(const long *)((const char *)&s->sysctl + e->off);
	return 0;
}

void np_sysctl_print(const struct np_stack *s, FILE *out)
{
	for (size_t i = 0; i < NSYSCTL; i++)
		fprintf(out, "%s = %ld\n", sysctl_table[i].name,
			*(const long *)((const char *)&s->sysctl + sysctl_table[i].off));
}
