/*
 * Compile-time defaults (lwIP's opt.h is the model): each can be overridden
 * with -DNAME=value, and most have a run-time sysctl of the same meaning
 * (np_sysctl_set), named as Linux names it.
 */
#ifndef NETPATH_OPT_H
#define NETPATH_OPT_H

/* net.core.netdev_budget: packets one net_rx_action round may process. */
#ifndef NP_NETDEV_BUDGET
#define NP_NETDEV_BUDGET 300
#endif
/* NAPI weight of a device (Linux: NAPI_POLL_WEIGHT). */
#ifndef NP_NAPI_WEIGHT
#define NP_NAPI_WEIGHT 64
#endif
/* net.core.netdev_max_backlog: netif_rx queue length per stack. */
#ifndef NP_NETDEV_MAX_BACKLOG
#define NP_NETDEV_MAX_BACKLOG 1000
#endif
/* txqueuelen: packets a device's qdisc holds. */
#ifndef NP_TX_QUEUE_LEN
#define NP_TX_QUEUE_LEN 1000
#endif
/* Headroom reserved in every skb so headers can be pushed without copying. */
#ifndef NP_SKB_HEADROOM
#define NP_SKB_HEADROOM 128
#endif
/* Data buffers up to this size come from the per-stack cache (one MTU frame + headroom). */
#ifndef NP_SKB_CACHE_BUF
#define NP_SKB_CACHE_BUF 2048
#endif
/* Free skbs and buffers each stack keeps for reuse. */
#ifndef NP_SKB_CACHE_MAX
#define NP_SKB_CACHE_MAX 4096
#endif
/*
 * Super-packet buffers (a 64 KiB GSO/TSO frame plus headroom and link
 * header): requests of NP_SKB_BIG_MIN bytes or more get one, and each stack
 * keeps NP_SKB_BIG_CACHE_MAX freed ones. Without them every 64 KiB buffer
 * went back to malloc, which returned the heap's top to the kernel and
 * page-faulted it in again on the next frame.
 */
#ifndef NP_SKB_BIG_BUF
#define NP_SKB_BIG_BUF (65536 + 512)
#endif
#ifndef NP_SKB_BIG_MIN
#define NP_SKB_BIG_MIN 49152
#endif
#ifndef NP_SKB_BIG_CACHE_MAX
#define NP_SKB_BIG_CACHE_MAX 32
#endif
/* net.ipv4.neigh.default.gc_thresh3: hard cap on neighbour entries. */
#ifndef NP_NEIGH_GC_THRESH3
#define NP_NEIGH_GC_THRESH3 1024
#endif
/* net.ipv4.neigh.default.unres_qlen_bytes: bytes queued per unresolved neighbour. */
#ifndef NP_NEIGH_UNRES_QLEN_BYTES
#define NP_NEIGH_UNRES_QLEN_BYTES 65536
#endif
/* net.ipv4.neigh.default.base_reachable_time_ms */
#ifndef NP_NEIGH_REACHABLE_MS
#define NP_NEIGH_REACHABLE_MS 30000
#endif
/* net.ipv4.neigh.default.delay_first_probe_time (ms) */
#ifndef NP_NEIGH_DELAY_PROBE_MS
#define NP_NEIGH_DELAY_PROBE_MS 5000
#endif
/* net.ipv4.neigh.default.retrans_time_ms */
#ifndef NP_NEIGH_RETRANS_MS
#define NP_NEIGH_RETRANS_MS 1000
#endif
/* net.ipv4.neigh.default.mcast_solicit / ucast_solicit */
#ifndef NP_NEIGH_MCAST_PROBES
#define NP_NEIGH_MCAST_PROBES 3
#endif
#ifndef NP_NEIGH_UCAST_PROBES
#define NP_NEIGH_UCAST_PROBES 3
#endif
/* net.ipv4.ip_default_ttl */
#ifndef NP_IP_DEFAULT_TTL
#define NP_IP_DEFAULT_TTL 64
#endif
/* ICMP errors one net.ipv4.icmp_ratelimit bucket holds (Linux's icmp_msgs_burst). */
#ifndef NP_ICMP_RATELIMIT_BURST
#define NP_ICMP_RATELIMIT_BURST 50
#endif
/* Addresses one device may hold. */
#ifndef NP_MAX_IFADDRS
#define NP_MAX_IFADDRS 8
#endif
/* Stages one traced packet records (more are counted, not stored). */
#ifndef NP_TRACE_MAX_STAGES
#define NP_TRACE_MAX_STAGES 40
#endif

#endif
