/*
 * The AF_PACKET driver: a netpath device whose wire is an existing Linux
 * interface (one end of a veth pair, or a NIC), reached through a packet
 * socket with a TPACKET_V3 receive ring, so no TAP is needed.
 *   receive: the kernel copies a frame into the mmap'ed ring -> a block is
 *            retired (full, or after the retire timeout) -> the socket
 *            becomes readable -> the stack's epoll (np_stack_watch_fd)
 *            schedules our NAPI -> afp_poll: walk the blocks the kernel
 *            handed over (TP_STATUS_USER), copy each frame into an skb ->
 *            napi_gro_receive -> netif_receive_skb; hand the block back
 *   send:    dev_hard_start_xmit -> [tx faults] -> afp_xmit: send() one
 *            frame on the bound socket (packet_snd in the kernel), padded to
 *            ETH_ZLEN as a NIC pads it. First version: no TX ring.
 *
 * netpath keeps its own random MAC, so the socket joins the interface in
 * promiscuous mode (PACKET_MR_PROMISC) to see frames addressed to it, and
 * sets PACKET_IGNORE_OUTGOING so our own transmissions do not come back.
 *
 * Offloads: a frame the local kernel sent with checksum offload (veth with
 * tx-checksumming on) arrives TP_STATUS_CSUMNOTREADY, its TCP/UDP checksum
 * holding only the pseudo-header sum; we complete it here (as Linux's
 * skb_checksum_help would) so the stack, captures and forwarding all see a
 * correct frame. TSO/GSO/GRO frames longer than the MTU are dropped as
 * PKT_TOO_BIG: turn those offloads off on the peer (docs and the test).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

/* <net/if.h> and core/netdevice.h both define IFNAMSIZ (16); keep the core's. */
#undef IFNAMSIZ
/* <linux/if_packet.h> defines skb->pkt_type values as macros; core/skbuff.h has them as an enum. */
#undef PACKET_HOST
#undef PACKET_BROADCAST
#undef PACKET_MULTICAST
#undef PACKET_OTHERHOST
#undef PACKET_OUTGOING
#include "core/netdevice.h"
#include "core/stack.h"
#include "trace/trace.h"
#include "wire/checksum.h"

/*
 * The ring: 256 blocks of 32 KiB (8 MiB); V3 packs variable-sized frames into
 * a block and hands it over when it is full or after the retire timeout. Small
 * blocks keep a TCP window (64 KiB without window scaling) from waiting for the
 * timeout: a 1 MiB block held a whole window and made every round trip 1 ms
 * (0.5 Gbit/s); 32 KiB blocks retire every ~20 frames. The cost: the MTU is
 * at most a block (max_mtu).
 */
#define AFP_BLOCK_SIZE (1u << 15)
#define AFP_BLOCK_NR 256u
#define AFP_FRAME_SIZE 2048u
/* A partly filled block is handed to us after this many ms: bounds the receive latency. */
#define AFP_RETIRE_MS 1u

/* <linux/if_ether.h> would clash with wire/eth.h; this is its only name we need. */
#define AFP_ETH_P_ALL 0x0003
#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23
#endif
#ifndef TP_STATUS_CSUM_VALID
#define TP_STATUS_CSUM_VALID (1 << 7)
#endif

struct afp_priv {
	int fd;
	int ifindex;                    /* the kernel's */
	char ifname[IFNAMSIZ];
	uint8_t *ring;                  /* AFP_BLOCK_NR blocks, mmap'ed */
	size_t ring_len;
	unsigned blk;                   /* the block the next poll reads */
	uint32_t pkt_idx;               /* frames of blk already taken (a poll ran out of budget) */
	struct tpacket3_hdr *pkt;       /* next frame of blk when pkt_idx > 0 */
};

static struct tpacket_block_desc *afp_block(struct afp_priv *ap, unsigned i)
{
	return (struct tpacket_block_desc *)(ap->ring + (size_t)i * AFP_BLOCK_SIZE);
}

/* Largest frame the device accepts: MTU + Ethernet header + one VLAN tag. */
static uint32_t afp_max_frame(const struct net_device *dev)
{
	return dev->mtu + ETH_HLEN + VLAN_HLEN;
}

/*
 * Completes the TCP/UDP checksum of an IPv4 frame the kernel handed over
 * with checksum offload pending (TP_STATUS_CSUMNOTREADY): the field holds
 * only the pseudo-header sum, so it is recomputed over the whole segment.
 * Returns 1 if it filled one in, 0 if the frame is not such a packet.
 */
static int afp_csum_complete(uint8_t *f, uint32_t len)
{
	uint32_t off = ETH_HLEN;
	if (len < off)
		return 0;
	uint16_t type = (uint16_t)(f[12] << 8 | f[13]);
	if ((type == 0x8100 || type == 0x88a8) && len >= off + VLAN_HLEN) {
		type = (uint16_t)(f[16] << 8 | f[17]);
		off += VLAN_HLEN;
	}
	if (type != 0x0800 || len < off + 20)
		return 0;
	uint8_t *ip = f + off;
	uint32_t ihl = (uint32_t)(ip[0] & 0x0f) * 4;
	uint32_t tot = (uint32_t)(ip[2] << 8 | ip[3]);
	/* Offload only ever leaves the checksum of a whole datagram pending (RFC 791: MF=0, offset 0). */
	if ((ip[0] >> 4) != 4 || ihl < 20 || tot < ihl || off + tot > len || (ip[6] & 0x3f) || ip[7])
		return 0;
	uint8_t proto = ip[9];
	uint32_t l4len = tot - ihl;
	uint32_t coff;
	if (proto == 6 && l4len >= 20)
		coff = 16;      /* RFC 9293 3.1 */
	else if (proto == 17 && l4len >= 8)
		coff = 6;       /* RFC 768 */
	else
		return 0;
	uint8_t *l4 = ip + ihl;
	uint32_t saddr = (uint32_t)ip[12] << 24 | (uint32_t)ip[13] << 16 | (uint32_t)ip[14] << 8 | ip[15];
	uint32_t daddr = (uint32_t)ip[16] << 24 | (uint32_t)ip[17] << 16 | (uint32_t)ip[18] << 8 | ip[19];
	l4[coff] = 0;
	l4[coff + 1] = 0;
	uint16_t c = csum_fold(csum_tcpudp_nofold(saddr, daddr, (uint16_t)l4len, proto, csum_partial(l4, l4len, 0)));
	if (proto == 17 && c == 0)
		c = 0xffff;     /* RFC 768: a computed zero is sent as all ones */
	l4[coff] = (uint8_t)(c >> 8);
	l4[coff + 1] = (uint8_t)c;
	return 1;
}

/* One frame of the ring into an skb and up the stack (or dropped, counted). */
static void afp_rx_frame(struct napi_struct *napi, struct tpacket3_hdr *h)
{
	struct net_device *dev = napi->dev;
	const uint8_t *frame = (const uint8_t *)h + h->tp_mac;
	uint32_t len = h->tp_snaplen;
	int tagged = (h->tp_status & TP_STATUS_VLAN_VALID) != 0;
	uint32_t total = len + (tagged ? VLAN_HLEN : 0);

	if (h->tp_len != h->tp_snaplen || total > afp_max_frame(dev)) {
		/* A GSO/GRO super-frame or one cut short: the MTU does not allow it. */
		dev->stats.rx_errors++;
		dev->stats.rx_dropped++;
		struct sk_buff *skb = alloc_skb(dev->stack, 0);
		if (skb) {
			skb->dev = dev;
			kfree_skb_reason(skb, NP_DROP_PKT_TOO_BIG);
		}
		return;
	}
	struct sk_buff *skb = alloc_skb(dev->stack, total);
	if (!skb) {
		dev->stats.rx_dropped++;
		return;
	}
	skb->dev = dev;
	uint8_t *p = skb_put(skb, total);
	if (tagged && len >= 2 * ETH_ALEN) {
		/* The kernel took the 802.1Q tag out of the frame (VLAN offload): put it back. */
		uint16_t tpid = (h->tp_status & TP_STATUS_VLAN_TPID_VALID) ? h->hv1.tp_vlan_tpid : ETH_P_8021Q;
		uint16_t tci = h->hv1.tp_vlan_tci;
		memcpy(p, frame, 2 * ETH_ALEN);
		p[12] = (uint8_t)(tpid >> 8);
		p[13] = (uint8_t)tpid;
		p[14] = (uint8_t)(tci >> 8);
		p[15] = (uint8_t)tci;
		memcpy(p + 16, frame + 2 * ETH_ALEN, len - 2 * ETH_ALEN);
	} else {
		memcpy(p, frame, len);
		if (tagged)
			skb_trim(skb, len);
	}
	if (h->tp_status & TP_STATUS_CSUMNOTREADY)
		afp_csum_complete(p, skb->len);
	else if (h->tp_status & TP_STATUS_CSUM_VALID)
		skb->ip_summed = CHECKSUM_UNNECESSARY;   /* the NIC verified it */
	napi_gro_receive(napi, skb);
}

/*
 * NAPI poll: takes frames from the blocks the kernel retired, in ring order,
 * until budget; a block goes back to the kernel once all its frames are
 * taken. Stopping mid-block keeps the position for the next poll.
 */
static int afp_poll(struct napi_struct *napi, int budget)
{
	struct afp_priv *ap = napi->dev->priv;
	int work = 0;

	while (work < budget) {
		struct tpacket_block_desc *bd = afp_block(ap, ap->blk);
		if (!(__atomic_load_n(&bd->hdr.bh1.block_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER))
			break;
		uint32_t n = bd->hdr.bh1.num_pkts;
		if (ap->pkt_idx == 0)
			ap->pkt = (struct tpacket3_hdr *)((uint8_t *)bd + bd->hdr.bh1.offset_to_first_pkt);
		while (ap->pkt_idx < n && work < budget) {
			struct tpacket3_hdr *h = ap->pkt;
			ap->pkt = (struct tpacket3_hdr *)((uint8_t *)h + h->tp_next_offset);
			ap->pkt_idx++;
			const struct sockaddr_ll *sll =
				(const struct sockaddr_ll *)((const uint8_t *)h + TPACKET_ALIGN(sizeof(*h)));
			if (sll->sll_pkttype == PACKET_OUTGOING)
				continue;   /* one of ours, looped back (no PACKET_IGNORE_OUTGOING) */
			work++;
			afp_rx_frame(napi, h);
		}
		if (ap->pkt_idx < n)
			break;
		/* Every frame copied out: the block is the kernel's again. */
		ap->pkt_idx = 0;
		ap->pkt = NULL;
		__atomic_store_n(&bd->hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
		ap->blk = (ap->blk + 1) % AFP_BLOCK_NR;
	}
	return work;
}

/* Consumes skb unless it returns NETDEV_TX_BUSY (the kernel's queue is full). */
static netdev_tx_t afp_xmit(struct sk_buff *skb, struct net_device *dev)
{
	static const uint8_t zeros[ETH_ZLEN];
	struct afp_priv *ap = dev->priv;
	struct iovec iov[2] = {
		{ .iov_base = skb->data, .iov_len = skb->len },
		{ .iov_base = (void *)zeros, .iov_len = 0 },
	};
	/* A NIC pads short frames to the Ethernet minimum; the padding is not in skb->len. */
	if (skb->len < ETH_ZLEN)
		iov[1].iov_len = ETH_ZLEN - skb->len;
	size_t total = iov[0].iov_len + iov[1].iov_len;
	struct msghdr msg = { .msg_iov = iov, .msg_iovlen = 2 };

	trace_stage(skb, "packet_snd");
	ssize_t n;
	do
		n = sendmsg(ap->fd, &msg, MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)) {
		/* The qdisc keeps the packet; NET_TX tries again next round. */
		netif_schedule(dev);
		return NETDEV_TX_BUSY;
	}
	if (n < 0 || (size_t)n != total) {
		dev->stats.tx_errors++;
		kfree_skb_reason(skb, NP_DROP_TX_ERROR);
		return NETDEV_TX_OK;
	}
	consume_skb(skb);
	return NETDEV_TX_OK;
}

static void afp_close(struct afp_priv *ap)
{
	if (ap->ring) {
		munmap(ap->ring, ap->ring_len);
		ap->ring = NULL;
	}
	if (ap->fd >= 0) {
		close(ap->fd);   /* also leaves the promiscuous membership */
		ap->fd = -1;
	}
}

/* Called by unregister_netdev: stop watching, unmap the ring, close. */
static void afp_uninit(struct net_device *dev)
{
	struct afp_priv *ap = dev->priv;
	if (ap->fd >= 0)
		np_stack_unwatch_fd(dev->stack, ap->fd);
	afp_close(ap);
}

static const struct net_device_ops afp_ops = {
	.ndo_start_xmit = afp_xmit,
	.ndo_uninit = afp_uninit,
};

static int afp_errno(int e)
{
	return (e == EPERM || e == EACCES) ? -EPERM : -e;
}

/* Opens the socket, sets up and maps the ring, binds to ifname. 0 or a negative errno (ap closed). */
static int afp_attach(struct afp_priv *ap, const char *ifname)
{
	ap->fd = -1;
	ap->ring = NULL;
	unsigned idx = if_nametoindex(ifname);
	if (idx == 0)
		return errno == ENODEV || errno == ENXIO ? -ENODEV : -errno;
	ap->ifindex = (int)idx;
	snprintf(ap->ifname, sizeof(ap->ifname), "%s", ifname);

	ap->fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(AFP_ETH_P_ALL));
	if (ap->fd < 0)
		return afp_errno(errno);

	int rc;
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (ioctl(ap->fd, SIOCGIFHWADDR, &ifr) < 0) {
		rc = afp_errno(errno);
		goto fail;
	}
	if (ifr.ifr_hwaddr.sa_family != ARPHRD_ETHER_) {
		rc = -EINVAL;   /* netpath speaks Ethernet only */
		goto fail;
	}

	int v = TPACKET_V3;
	if (setsockopt(ap->fd, SOL_PACKET, PACKET_VERSION, &v, sizeof(v)) < 0)
		goto fail_errno;
	/*
	 * Our own transmissions would otherwise come back through the ring
	 * (Linux 4.20+); on older kernels afp_poll skips them by sll_pkttype.
	 */
	v = 1;
	(void)setsockopt(ap->fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &v, sizeof(v));

	struct tpacket_req3 req = {
		.tp_block_size = AFP_BLOCK_SIZE,
		.tp_block_nr = AFP_BLOCK_NR,
		.tp_frame_size = AFP_FRAME_SIZE,
		.tp_frame_nr = AFP_BLOCK_SIZE / AFP_FRAME_SIZE * AFP_BLOCK_NR,
		.tp_retire_blk_tov = AFP_RETIRE_MS,
		.tp_feature_req_word = 0,
	};
	if (setsockopt(ap->fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof(req)) < 0)
		goto fail_errno;
	ap->ring_len = (size_t)AFP_BLOCK_SIZE * AFP_BLOCK_NR;
	void *ring = mmap(NULL, ap->ring_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_LOCKED, ap->fd, 0);
	if (ring == MAP_FAILED)   /* MAP_LOCKED may exceed RLIMIT_MEMLOCK: map unlocked then */
		ring = mmap(NULL, ap->ring_len, PROT_READ | PROT_WRITE, MAP_SHARED, ap->fd, 0);
	if (ring == MAP_FAILED)
		goto fail_errno;
	ap->ring = ring;

	struct sockaddr_ll sll = {
		.sll_family = AF_PACKET,
		.sll_protocol = htons(AFP_ETH_P_ALL),
		.sll_ifindex = ap->ifindex,
	};
	if (bind(ap->fd, (struct sockaddr *)&sll, sizeof(sll)) < 0)
		goto fail_errno;
	/* netpath's MAC is its own, not the interface's: receive every frame on the wire. */
	struct packet_mreq mr = { .mr_ifindex = ap->ifindex, .mr_type = PACKET_MR_PROMISC };
	if (setsockopt(ap->fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof(mr)) < 0)
		goto fail_errno;
	return 0;
fail_errno:
	rc = afp_errno(errno);
fail:
	afp_close(ap);
	return rc;
}

struct np_dev *np_af_packet_open(struct np_stack *s, const char *ifname, int *err)
{
	int dummy;
	if (!err)
		err = &dummy;
	if (!s || !ifname || !ifname[0] || strlen(ifname) >= IFNAMSIZ) {
		*err = -EINVAL;
		return NULL;
	}
	if (dev_get_by_name(s, ifname)) {
		*err = -EEXIST;
		return NULL;
	}
	struct afp_priv tmp;
	memset(&tmp, 0, sizeof(tmp));
	int rc = afp_attach(&tmp, ifname);
	if (rc < 0) {
		*err = rc;
		return NULL;
	}
	struct net_device *dev = alloc_netdev(s, ifname, sizeof(struct afp_priv));
	if (!dev) {
		afp_close(&tmp);
		*err = -ENOMEM;
		return NULL;
	}
	ether_setup(dev);   /* netpath's own random MAC; the interface keeps its own */
	/* A frame must fit one ring block (with its tpacket header): the kernel drops longer ones. */
	dev->max_mtu = AFP_BLOCK_SIZE - 256 - ETH_HLEN - VLAN_HLEN;
	dev->netdev_ops = &afp_ops;
	netif_napi_add(dev, afp_poll);
	/* GRO on by default, as Linux: the application receives the same bytes either way. */
	dev->hw_features = NETIF_F_GRO;
	dev->features = NETIF_F_GRO;
	struct afp_priv *ap = dev->priv;
	*ap = tmp;
	rc = register_netdev(dev);
	if (rc < 0) {
		afp_close(ap);
		free(dev);   /* never registered: nothing else refers to it */
		*err = rc;
		return NULL;
	}
	rc = np_stack_watch_fd(s, ap->fd, dev);
	if (rc < 0) {
		unregister_netdev(dev);   /* afp_uninit closes the socket */
		*err = rc;
		return NULL;
	}
	dev_open(dev);
	/* Blocks the kernel filled before we watched would otherwise wait for the next one. */
	netif_irq_raise(dev);
	*err = 0;
	return (struct np_dev *)dev;
}
