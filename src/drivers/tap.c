/*
 * The TAP driver: a netpath device whose wire is a Linux TAP interface
 * (IFF_TAP | IFF_NO_PI, plain Ethernet frames, no offloads), so the host
 * kernel is the peer.
 *   receive: the kernel writes a frame -> the TAP fd becomes readable -> the
 *            stack's epoll (np_stack_watch_fd) schedules our NAPI ->
 *            tap_poll: read() up to budget frames into fresh skbs ->
 *            napi_gro_receive -> netif_receive_skb
 *   send:    dev_hard_start_xmit -> [tx faults] -> tap_xmit: writev() the
 *            frame, padded to ETH_ZLEN as a NIC pads it
 *
 * The fd is non-blocking: EAGAIN ends a poll, and on transmit makes the
 * driver answer NETDEV_TX_BUSY (the qdisc keeps the packet) with the device
 * scheduled for the next NET_TX round.
 *
 * Opened with NP_TAP_VNET_HDR (IFF_VNET_HDR) every frame carries a struct
 * virtio_net_hdr in front, and offloads can be turned on (np_dev_set_offload
 * -> TUNSETOFFLOAD TUN_F_CSUM|TUN_F_TSO4): the kernel may then hand us TCP
 * super-frames of up to 64 KiB and frames whose checksum it left partial,
 * which go up whole (TCP takes a multi-MSS segment: GRO's effect), and we
 * hand it our TSO super-packets with gso_size = MSS. Bad headers are counted
 * drops (VNET_HDR_*), never trusted.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

/* <net/if.h> and core/netdevice.h both define IFNAMSIZ (16); keep the core's. */
#undef IFNAMSIZ
#include "core/netdevice.h"
#include "core/stack.h"
#include "drivers/tap.h"
#include "trace/trace.h"
#include "wire/wire.h"

/* Largest frame a vnet-header TAP hands over: a 64 KiB super-frame plus its link header. */
#define TAP_GSO_FRAME_MAX (65536 + ETH_HLEN + VLAN_HLEN)

struct tap_priv {
	int fd;
	char ifname[IFNAMSIZ];          /* the kernel's name for the interface */
	struct sk_buff *spare;          /* an rx skb left unused by the last poll */
	int vnet_hdr;                   /* IFF_VNET_HDR: a struct virtio_net_hdr precedes every frame */
};

int virtio_net_hdr_to_skb(struct sk_buff *skb, const struct virtio_net_hdr *h, enum np_drop_reason *why)
{
	uint32_t len = skb->len;
	uint8_t gso = h->gso_type & (uint8_t)~VIRTIO_NET_HDR_GSO_ECN;
	if (h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
		/* The kernel left the transport checksum to us: it vouches for the data (it never left memory). */
		if ((uint32_t)h->csum_start + h->csum_offset + 2u > len) {
			*why = NP_DROP_VNET_HDR_BAD_CSUM;
			return -EINVAL;
		}
		skb->ip_summed = CHECKSUM_PARTIAL;
		skb->csum_start = (uint16_t)(skb->data - skb->head + h->csum_start);
		skb->csum_offset = h->csum_offset;
	} else if (h->flags & VIRTIO_NET_HDR_F_DATA_VALID) {
		skb->ip_summed = CHECKSUM_UNNECESSARY;
	}
	if (gso == VIRTIO_NET_HDR_GSO_NONE)
		return 0;
	if (gso != VIRTIO_NET_HDR_GSO_TCPV4 || !h->gso_size) {
		*why = NP_DROP_VNET_HDR_BAD_GSO;
		return -EINVAL;
	}
	if (h->hdr_len > len) {
		*why = NP_DROP_VNET_HDR_BAD_LEN;
		return -EINVAL;
	}
	struct skb_shared_info *sh = skb_shinfo(skb);
	uint32_t hdr = h->hdr_len ? h->hdr_len : 54;
	uint32_t payload = len > hdr ? len - hdr : 0;
	sh->gso_size = h->gso_size;
	sh->gso_type = SKB_GSO_TCPV4 | SKB_GSO_DODGY;   /* DODGY: from outside, headers re-checked by whoever segments */
	sh->gso_segs = (uint16_t)((payload + h->gso_size - 1) / h->gso_size);
	return 0;
}

int virtio_net_hdr_from_skb(const struct sk_buff *skb, struct virtio_net_hdr *h)
{
	memset(h, 0, sizeof(*h));
	const struct skb_shared_info *sh = skb_shinfo(skb);
	uint32_t data_off = (uint32_t)(skb->data - skb->head);
	if (skb->ip_summed == CHECKSUM_PARTIAL) {
		if (skb->csum_start < data_off)
			return -EINVAL;
		h->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
		h->csum_start = (uint16_t)(skb->csum_start - data_off);
		h->csum_offset = skb->csum_offset;
	}
	if (sh->gso_size) {
		if (!(sh->gso_type & SKB_GSO_TCPV4) || skb->ip_summed != CHECKSUM_PARTIAL)
			return -EINVAL;
		/* hdr_len: Ethernet + IP + TCP headers, the part every segment repeats. */
		uint32_t th = h->csum_start;
		if (th + 13u > skb->len)
			return -EINVAL;
		h->hdr_len = (uint16_t)(th + (uint32_t)(skb->data[th + 12] >> 4) * 4);
		h->gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
		h->gso_size = sh->gso_size;
	}
	return 0;
}

/* Bytes read per frame: MTU + Ethernet header + one VLAN tag, plus one to see a frame that was too long. */
static uint32_t tap_rx_size(const struct net_device *dev)
{
	return dev->mtu + ETH_HLEN + VLAN_HLEN + 1;
}

/*
 * Reads one plain frame into skb. A frame filling the whole buffer was
 * longer than the MTU allows (read() truncated it): dropped with
 * PKT_TOO_BIG. Runts go up; the core drops them as MAC_TRUNCATED. Returns
 * the skb to hand up, or NULL (nothing read: *n <= 0, skb kept as the
 * spare; or dropped).
 */
static struct sk_buff *tap_read_plain(struct net_device *dev, struct tap_priv *tp, struct sk_buff *skb, ssize_t *n)
{
	uint32_t size = tap_rx_size(dev);
	*n = read(tp->fd, skb_tail_pointer(skb), size);
	if (*n <= 0) {
		tp->spare = skb;
		return NULL;
	}
	skb_put(skb, (uint32_t)*n);
	skb->dev = dev;
	if ((uint32_t)*n >= size) {
		dev->stats.rx_errors++;
		dev->stats.rx_dropped++;
		kfree_skb_reason(skb, NP_DROP_PKT_TOO_BIG);
		return NULL;
	}
	return skb;
}

/*
 * Reads one [virtio_net_hdr][frame] into skb, a super-packet buffer
 * (NP_SKB_BIG_BUF, from the stack's cache), so a 64 KiB frame lands in
 * place. A frame of MTU size or less is copied into a right-sized skb
 * instead (copybreak, as NIC drivers do: an ACK should not hold 64 KiB) and
 * skb stays the spare for the next read. Returns the skb to hand up, or
 * NULL (nothing read: *n <= 0, skb kept as the spare; or dropped).
 */
static struct sk_buff *tap_read_vnet(struct net_device *dev, struct tap_priv *tp, struct sk_buff *skb, ssize_t *n)
{
	struct virtio_net_hdr h;
	struct iovec iov[2] = {
		{ .iov_base = &h, .iov_len = sizeof(h) },
		{ .iov_base = skb_tail_pointer(skb), .iov_len = TAP_GSO_FRAME_MAX },
	};
	*n = readv(tp->fd, iov, 2);
	if (*n <= 0) {
		tp->spare = skb;
		return NULL;
	}
	enum np_drop_reason why = NP_DROP_VNET_HDR_BAD_LEN;
	skb->dev = dev;
	if ((size_t)*n < sizeof(h))
		goto drop;   /* the buffer goes back to the cache with the drop */
	uint32_t flen = (uint32_t)((size_t)*n - sizeof(h));
	if (flen < tap_rx_size(dev)) {
		struct sk_buff *small = alloc_skb(dev->stack, flen);
		if (!small) {
			why = NP_DROP_NOMEM;
			goto drop;
		}
		memcpy(skb_put(small, flen), skb_tail_pointer(skb), flen);
		tp->spare = skb;
		skb = small;
		skb->dev = dev;
	} else {
		skb_put(skb, flen);
	}
	if (virtio_net_hdr_to_skb(skb, &h, &why) < 0)
		goto drop;
	/* Beyond the MTU only a super-frame may be. */
	if (flen >= tap_rx_size(dev) && !skb_is_gso(skb)) {
		why = NP_DROP_PKT_TOO_BIG;
		goto drop;
	}
	return skb;
drop:
	dev->stats.rx_errors++;
	dev->stats.rx_dropped++;
	kfree_skb_reason(skb, why);
	return NULL;
}

/* NAPI poll: reads frames until budget or EAGAIN, each into the spare skb or a fresh one. */
static int tap_poll(struct napi_struct *napi, int budget)
{
	struct net_device *dev = napi->dev;
	struct tap_priv *tp = dev->priv;
	/* A vnet TAP may hand a 64 KiB super-frame; a plain one an MTU-sized frame. */
	uint32_t bufsize = tp->vnet_hdr ? TAP_GSO_FRAME_MAX : tap_rx_size(dev);
	int work = 0;

	while (work < budget) {
		struct sk_buff *skb = tp->spare;
		tp->spare = NULL;
		if (skb && skb_tailroom(skb) < bufsize) {
			consume_skb(skb);   /* the MTU grew since it was allocated */
			skb = NULL;
		}
		if (!skb && !(skb = alloc_skb(dev->stack, bufsize))) {
			/* Leave the frame in the kernel's queue; the next poll retries. */
			dev->stats.rx_dropped++;
			break;
		}
		ssize_t n;
		struct sk_buff *got = tp->vnet_hdr ? tap_read_vnet(dev, tp, skb, &n) : tap_read_plain(dev, tp, skb, &n);
		if (n <= 0) {
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
				dev->stats.rx_errors++;
			break;
		}
		work++;
		if (got)
			napi_gro_receive(napi, got);
	}
	return work;
}

/* Consumes skb unless it returns NETDEV_TX_BUSY (the kernel's queue is full). */
static netdev_tx_t tap_xmit(struct sk_buff *skb, struct net_device *dev)
{
	static const uint8_t zeros[ETH_ZLEN];
	struct tap_priv *tp = dev->priv;
	struct virtio_net_hdr h;
	struct iovec iov[3] = {
		{ .iov_base = &h, .iov_len = sizeof(h) },
		{ .iov_base = skb->data, .iov_len = skb->len },
		{ .iov_base = (void *)zeros, .iov_len = 0 },
	};
	/* A NIC pads short frames to the Ethernet minimum; the padding is not in skb->len. */
	if (skb->len < ETH_ZLEN)
		iov[2].iov_len = ETH_ZLEN - skb->len;
	struct iovec *v = iov + 1;
	int nv = 2;
	if (tp->vnet_hdr) {
		if (virtio_net_hdr_from_skb(skb, &h) < 0) {
			dev->stats.tx_errors++;
			kfree_skb_reason(skb, NP_DROP_TX_ERROR);
			return NETDEV_TX_OK;
		}
		v = iov;
		nv = 3;
	}
	size_t total = 0;
	for (int i = 0; i < nv; i++)
		total += v[i].iov_len;

	trace_stage(skb, "tun_net_xmit");
	ssize_t n;
	do
		n = writev(tp->fd, v, nv);
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

/* Called by unregister_netdev: stop watching, close (a TAP we created disappears with it). */
static void tap_uninit(struct net_device *dev)
{
	struct tap_priv *tp = dev->priv;
	if (tp->spare) {
		consume_skb(tp->spare);
		tp->spare = NULL;
	}
	if (tp->fd >= 0) {
		np_stack_unwatch_fd(dev->stack, tp->fd);
		close(tp->fd);
		tp->fd = -1;
	}
}

/* Tells the kernel what we accept from it (TUNSETOFFLOAD); what we send it needs only the vnet header. */
static int tap_set_features(struct net_device *dev, uint32_t features)
{
	struct tap_priv *tp = dev->priv;
	if (!tp->vnet_hdr)
		return (features & NETIF_F_OFFLOADS) ? -EOPNOTSUPP : 0;
	unsigned long off = 0;
	if (features & NETIF_F_HW_CSUM)
		off |= TUN_F_CSUM;
	if ((features & NETIF_F_TSO) && (features & NETIF_F_HW_CSUM))
		off |= TUN_F_TSO4;
	if (ioctl(tp->fd, TUNSETOFFLOAD, off) < 0)
		return -errno;
	return 0;
}

static const struct net_device_ops tap_ops = {
	.ndo_start_xmit = tap_xmit,
	.ndo_uninit = tap_uninit,
	.ndo_set_features = tap_set_features,
};

/* Opens /dev/net/tun and attaches to (or creates) ifname. Returns the fd or a negative errno. */
static int tap_attach(const char *ifname, char *kname, int vnet_hdr)
{
	int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT || errno == ENXIO || errno == ENODEV)
			return -ENOENT;
		if (errno == EPERM || errno == EACCES)
			return -EPERM;
		return -errno;
	}
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | (vnet_hdr ? IFF_VNET_HDR : 0);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		int e = errno;
		close(fd);
		if (e == EPERM || e == EACCES)
			return -EPERM;
		return -e;   /* EBUSY: another process holds it; EINVAL: it is a TUN, not a TAP */
	}
	/* No offloads until asked for: the kernel hands us plain frames with complete checksums. */
	(void)ioctl(fd, TUNSETOFFLOAD, 0ul);
	if (vnet_hdr) {
		int sz = (int)sizeof(struct virtio_net_hdr);
		if (ioctl(fd, TUNSETVNETHDRSZ, &sz) < 0) {
			int e = errno;
			close(fd);
			return -e;
		}
	}
	snprintf(kname, IFNAMSIZ, "%s", ifr.ifr_name);
	return fd;
}

struct np_dev *np_tap_open(struct np_stack *s, const char *ifname, int *err)
{
	return np_tap_open_flags(s, ifname, 0, err);
}

struct np_dev *np_tap_open_flags(struct np_stack *s, const char *ifname, unsigned flags, int *err)
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
	char kname[IFNAMSIZ];
	int vnet = (flags & NP_TAP_VNET_HDR) != 0;
	if (flags & ~(unsigned)NP_TAP_VNET_HDR) {
		*err = -EINVAL;
		return NULL;
	}
	int fd = tap_attach(ifname, kname, vnet);
	if (fd < 0) {
		*err = fd;
		return NULL;
	}
	struct net_device *dev = alloc_netdev(s, ifname, sizeof(struct tap_priv));
	if (!dev) {
		close(fd);
		*err = -ENOMEM;
		return NULL;
	}
	ether_setup(dev);   /* netpath's own random MAC; the kernel side keeps its own */
	dev->netdev_ops = &tap_ops;
	netif_napi_add(dev, tap_poll);
	/* GRO on by default, as Linux: the application receives the same bytes either way. */
	dev->hw_features = NETIF_F_GRO;
	dev->features = NETIF_F_GRO;
	struct tap_priv *tp = dev->priv;
	tp->fd = fd;
	snprintf(tp->ifname, sizeof(tp->ifname), "%s", kname);
	if (vnet) {
		tp->vnet_hdr = 1;
		dev->hw_features |= NETIF_F_OFFLOADS;
		dev->gso_max_size = NP_GSO_MAX_SIZE;
	}
	int rc = register_netdev(dev);
	if (rc < 0) {
		close(fd);
		free(dev);   /* never registered: nothing else refers to it */
		*err = rc;
		return NULL;
	}
	rc = np_stack_watch_fd(s, fd, dev);
	if (rc < 0) {
		unregister_netdev(dev);   /* tap_uninit closes the fd */
		*err = rc;
		return NULL;
	}
	dev_open(dev);
	/* Frames the kernel queued before we watched would otherwise wait for the next one. */
	netif_irq_raise(dev);
	*err = 0;
	return (struct np_dev *)dev;
}

/* Parses "A.B.C.D/N" into a network-order address and a prefix length. */
static int parse_prefix(const char *prefix, struct in_addr *addr, int *plen)
{
	char buf[32];
	const char *slash = strchr(prefix, '/');
	if (!slash || (size_t)(slash - prefix) >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, prefix, (size_t)(slash - prefix));
	buf[slash - prefix] = 0;
	if (inet_pton(AF_INET, buf, addr) != 1)
		return -EINVAL;
	char *end;
	long n = strtol(slash + 1, &end, 10);
	if (end == slash + 1 || *end || n < 0 || n > 32)
		return -EINVAL;
	*plen = (int)n;
	return 0;
}

int np_tap_set_host_addr(struct np_dev *d, const char *prefix)
{
	struct net_device *dev = (struct net_device *)d;
	if (!dev || !prefix || dev->netdev_ops != &tap_ops)
		return -EINVAL;
	struct tap_priv *tp = dev->priv;
	struct in_addr addr;
	int plen;
	if (parse_prefix(prefix, &addr, &plen) < 0)
		return -EINVAL;

	int sk = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (sk < 0)
		return -errno;
	struct ifreq ifr;
	struct sockaddr_in sin = { .sin_family = AF_INET };
	int rc = 0;

	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", tp->ifname);
	sin.sin_addr = addr;
	memcpy(&ifr.ifr_addr, &sin, sizeof(sin));
	if (ioctl(sk, SIOCSIFADDR, &ifr) < 0)
		goto fail;

	sin.sin_addr.s_addr = plen ? htonl(0xffffffffu << (32 - plen)) : 0;
	memcpy(&ifr.ifr_netmask, &sin, sizeof(sin));
	if (ioctl(sk, SIOCSIFNETMASK, &ifr) < 0)
		goto fail;

	/* Same MTU both sides, or the kernel sends frames our poll must drop as too big. */
	memset(&ifr.ifr_ifru, 0, sizeof(ifr.ifr_ifru));
	ifr.ifr_mtu = (int)dev->mtu;
	if (ioctl(sk, SIOCSIFMTU, &ifr) < 0)
		goto fail;

	memset(&ifr.ifr_ifru, 0, sizeof(ifr.ifr_ifru));
	if (ioctl(sk, SIOCGIFFLAGS, &ifr) < 0)
		goto fail;
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(sk, SIOCSIFFLAGS, &ifr) < 0)
		goto fail;
	close(sk);
	return 0;
fail:
	rc = errno == EACCES ? -EPERM : -errno;
	close(sk);
	return rc;
}
