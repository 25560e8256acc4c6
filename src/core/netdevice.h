/*
 * struct net_device, NAPI and the protocol dispatch tables (Linux's
 * include/linux/netdevice.h).
 * Receive: driver "interrupt" -> napi_schedule -> net_rx_action -> driver
 * poll -> napi_gro_receive -> netif_receive_skb -> taps -> ptype dispatch.
 * Send: dev_queue_xmit -> qdisc -> dev_hard_start_xmit -> taps -> ndo_start_xmit.
 */
#ifndef NP_CORE_NETDEVICE_H
#define NP_CORE_NETDEVICE_H

#include <stdatomic.h>
#include <stdint.h>

#include "core/skbuff.h"
#include "netpath/netpath.h"
#include "wire/eth.h"

#define IFNAMSIZ 16

/* dev->flags, as in <linux/if.h>. */
#define NPF_UP 0x1
#define NPF_BROADCAST 0x2
#define NPF_LOOPBACK 0x8
#define NPF_RUNNING 0x40
#define NPF_NOARP 0x80
#define NPF_PROMISC 0x100

#define ARPHRD_ETHER_ 1
#define ARPHRD_LOOPBACK_ 772

/*
 * dev->features (Linux's NETIF_F_*): what the device does for the stack.
 * SG: takes data in more than one piece; HW_CSUM: finishes CHECKSUM_PARTIAL
 * checksums itself (or its wire needs none: the cable, a vnet-header TAP);
 * TSO: takes TCPv4 super-packets of up to gso_max_size and segments them on
 * the wire; GSO: the core may hold super-packets for it and segment them in
 * software just before the driver (validate_xmit_skb); GRO: receive merges;
 * RXCSUM: trusts checksums the wire vouched for. dev->hw_features is what
 * may be switched on.
 */
#define NETIF_F_SG (1u << 0)
#define NETIF_F_HW_CSUM (1u << 1)
#define NETIF_F_TSO (1u << 2)
#define NETIF_F_GSO (1u << 3)
#define NETIF_F_GRO (1u << 4)
#define NETIF_F_RXCSUM (1u << 5)
#define NETIF_F_OFFLOADS (NETIF_F_SG | NETIF_F_HW_CSUM | NETIF_F_TSO | NETIF_F_RXCSUM)
/* Linux's GSO_MAX_SIZE: the most one super-packet may carry, headers included. */
#define NP_GSO_MAX_SIZE 65536u

typedef enum { NETDEV_TX_OK = 0, NETDEV_TX_BUSY = 0x10 } netdev_tx_t;

struct net_device;
struct napi_struct;
struct Qdisc;
struct np_faults;

struct net_device_ops {
	int (*ndo_open)(struct net_device *dev);
	int (*ndo_stop)(struct net_device *dev);
	/*
	 * Consumes skb and returns NETDEV_TX_OK, or returns NETDEV_TX_BUSY and
	 * leaves it with the caller (the qdisc requeues it).
	 */
	netdev_tx_t (*ndo_start_xmit)(struct sk_buff *skb, struct net_device *dev);
	/* Frees the driver's private state; called once on unregister. */
	void (*ndo_uninit)(struct net_device *dev);
	/* Optional: the driver applies features (NETIF_F_*); 0 or a negative errno (Linux's ndo_set_features). */
	int (*ndo_set_features)(struct net_device *dev, uint32_t features);
};

/* TCP flows GRO holds per NAPI at once (Linux keeps 8 hash buckets of them). */
#define NP_GRO_MAX_HELD 8

struct napi_struct {
	struct napi_struct *poll_next;  /* on the stack's poll list */
	struct net_device *dev;
	/* Processes at most budget packets; returns how many. < budget means done. */
	int (*poll)(struct napi_struct *napi, int budget);
	int weight;
	int scheduled;
	/* GRO (core/gro.c): skbs being merged, oldest first; flushed at the end of every poll. */
	struct sk_buff *gro_held[NP_GRO_MAX_HELD];
	int gro_count;
};

struct in_ifaddr {
	uint32_t ifa_local;     /* host order */
	uint32_t ifa_mask;
	uint32_t ifa_broadcast;
	int ifa_prefixlen;
};

struct net_device_stats {
	uint64_t rx_packets, rx_bytes, rx_errors, rx_dropped, rx_multicast;
	uint64_t tx_packets, tx_bytes, tx_errors, tx_dropped, tx_carrier;
};

struct net_device {
	char name[IFNAMSIZ];
	int ifindex;
	struct np_stack *stack;
	struct net_device *next;        /* the stack's device list */
	const struct net_device_ops *netdev_ops;
	unsigned flags;                 /* NPF_* */
	uint16_t type;                  /* ARPHRD_* */
	uint16_t hard_header_len;       /* 14 for Ethernet, 0 for loopback */
	uint32_t mtu;
	uint32_t max_mtu;               /* largest MTU the driver can carry; 0: the IPv4 limit (Linux's max_mtu) */
	uint32_t features;              /* NETIF_F_* in force */
	uint32_t hw_features;           /* NETIF_F_* the driver can switch on */
	uint32_t gso_max_size;          /* largest super-packet the device takes (Linux's gso_max_size) */
	uint8_t dev_addr[ETH_ALEN];
	uint8_t broadcast[ETH_ALEN];
	struct net_device_stats stats;

	struct napi_struct napi;        /* one rx queue per device */
	atomic_int irq_pending;         /* set by napi "interrupts" from any thread */
	struct Qdisc *qdisc;
	uint32_t tx_queue_len;
	int tx_stopped;                 /* driver said BUSY: qdisc waits for netif_wake_queue */

	struct in_ifaddr ifa[NP_MAX_IFADDRS]; /* in_device: addresses on this device */
	int ifa_count;

	struct np_faults *faults_rx, *faults_tx;
	struct np_capture *capture;
	void *priv;                     /* driver state */
};

/* Protocol handlers by EtherType (Linux's packet_type, ptype_base/ptype_all). */
struct packet_type {
	uint16_t type;                  /* EtherType; 0 with ptype_all */
	struct net_device *dev;         /* NULL: any device */
	/* Consumes skb; returns 0 or a negative errno. */
	int (*func)(struct sk_buff *skb, struct net_device *dev, struct packet_type *pt);
	void *priv;
	struct packet_type *next;
};

/* ---- device life ---- */
/* Allocates a device with priv_size bytes of driver state; NULL on no memory. */
struct net_device *alloc_netdev(struct np_stack *s, const char *name, size_t priv_size);
/* Gives it an ifindex, puts it on the stack's list, sets up its qdisc. 0, -EEXIST, -ENOMEM. */
int register_netdev(struct net_device *dev);
/* Takes it down, purges its queues, calls ndo_uninit and frees it. */
void unregister_netdev(struct net_device *dev);
struct net_device *dev_get_by_name(struct np_stack *s, const char *name);
struct net_device *dev_get_by_index(struct np_stack *s, int ifindex);
int dev_open(struct net_device *dev);
int dev_close(struct net_device *dev);
/* Sets up dev as Ethernet: header length, broadcast, MTU 1500, random local MAC. */
void ether_setup(struct net_device *dev);

/* ---- receive ---- */
void netif_napi_add(struct net_device *dev, int (*poll)(struct napi_struct *, int));
/* In the stack's context: puts napi on the poll list if not already there. */
void napi_schedule(struct napi_struct *napi);
/* From any thread (the driver's "hard IRQ"): marks dev and wakes the stack. */
void netif_irq_raise(struct net_device *dev);
void napi_complete_done(struct napi_struct *napi, int work_done);
/*
 * Consumes skb (data at the Ethernet header): on a device with NETIF_F_GRO
 * an in-order TCPv4 segment is merged into the skb held for its flow (or
 * held as a new one); anything else goes to netif_receive_skb after the
 * held skbs of its addresses (core/gro.c).
 */
void napi_gro_receive(struct napi_struct *napi, struct sk_buff *skb);
/* Hands every held skb up, oldest first, as one super-packet each (end of a NAPI poll). */
void napi_gro_flush(struct napi_struct *napi);
/* Frees every held skb under reason (the device goes down). */
void napi_gro_drop_held(struct napi_struct *napi, enum np_drop_reason reason);
/* Turns GRO on (if in hw_features) or off (flushing what is held); returns the features in force. */
uint32_t netdev_set_gro(struct net_device *dev, int on);
/* Consumes skb: queues it on the stack's backlog for non-NAPI drivers (loopback). */
int netif_rx(struct sk_buff *skb);
/*
 * Consumes skb (data at the Ethernet header for Ethernet devices): fault
 * injection rx, taps, eth_type_trans, VLAN, ptype dispatch.
 */
int netif_receive_skb(struct sk_buff *skb);
void dev_add_pack(struct np_stack *s, struct packet_type *pt);
void dev_remove_pack(struct np_stack *s, struct packet_type *pt);
/* Sets skb->pkt_type and protocol from the Ethernet header and pulls it; returns the EtherType. */
uint16_t eth_type_trans(struct sk_buff *skb, struct net_device *dev);

/* ---- send ---- */
/* Consumes skb (data at the link header): qdisc enqueue and run. 0, or a negative errno if dropped. */
int dev_queue_xmit(struct sk_buff *skb);
/* Consumes skb unless it returns NETDEV_TX_BUSY: taps, fault injection tx, driver. */
netdev_tx_t dev_hard_start_xmit(struct sk_buff *skb, struct net_device *dev);
/* Builds the Ethernet header in front of skb->data (Linux's dev_hard_header). 0 or -ENOSPC. */
int dev_hard_header(struct sk_buff *skb, struct net_device *dev, uint16_t type, const uint8_t *daddr,
		    const uint8_t *saddr);
/*
 * Consumes skb: Linux's validate_xmit_skb, run by dev_hard_start_xmit before
 * the driver: a GSO super-packet the device cannot take is cut into real
 * segments (skb_gso_segment), a CHECKSUM_PARTIAL one it cannot finish gets
 * its checksum (skb_checksum_help). Returns the skb, or a list of segments
 * linked by ->next, or NULL (dropped and counted).
 */
struct sk_buff *validate_xmit_skb(struct sk_buff *skb, struct net_device *dev);
/*
 * Linux's skb_gso_segment for TCPv4 super-packets (data at the link
 * header): returns a list (linked by ->next) of real segments, each with its
 * own headers (IP id, total length, sequence number, flags, checksums), or
 * NULL with *reason set. Does not consume skb.
 */
struct sk_buff *skb_gso_segment(struct sk_buff *skb, uint32_t features, enum np_drop_reason *reason);
/* Linux's skb_checksum_help: finishes a CHECKSUM_PARTIAL checksum in software. 0 or -EINVAL/-ENOMEM. */
int skb_checksum_help(struct sk_buff *skb);
/* Turns offloads (NETIF_F_OFFLOADS, limited to hw_features) on or off; returns the features in force. */
uint32_t netdev_set_offloads(struct net_device *dev, int on);

/* Driver side, in the stack's context: stop/wake the TX queue when its ring is full/has room. */
void netif_stop_queue(struct net_device *dev);
void netif_wake_queue(struct net_device *dev);
/* Marks the device's qdisc for the NET_TX softirq (Linux's __netif_schedule). */
void netif_schedule(struct net_device *dev);

/* ---- driver helpers shared by fd-based drivers ---- */
/*
 * Registers fd with the stack's epoll set: when it becomes readable the
 * stack raises dev's interrupt. 0 or a negative errno.
 */
int np_stack_watch_fd(struct np_stack *s, int fd, struct net_device *dev);
void np_stack_unwatch_fd(struct np_stack *s, int fd);

#endif
