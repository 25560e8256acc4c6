/*
 * 802.1Q VLAN devices (Linux's net/8021q/vlan.c, vlan_dev.c, vlan_core.c).
 * A VLAN device is an Ethernet device with its parent's MAC and MTU and its
 * own addresses, routes and neighbours; only the tag on the parent's wire
 * tells its frames apart (IEEE 802.1Q-2018 9.6: TPID 0x8100, then PCP 3
 * bits, DEI 1 bit, VID 12 bits; VIDs 0 and 4095 are reserved).
 *   rx: parent netif_receive_skb -> __netif_receive_skb_core ->
 *       eth_type_trans (ETH_P_8021Q) -> vlan_do_receive (untag, skb->dev =
 *       VLAN device; none: VLAN_UNKNOWN) -> ptype dispatch (ip_rcv, arp_rcv)
 *   tx: ip_finish_output2 -> neigh_resolve_output -> dev_queue_xmit(VLAN)
 *       -> its qdisc -> dev_hard_start_xmit -> vlan_dev_hard_start_xmit
 *       (insert the tag after the MACs) -> dev_queue_xmit(parent)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/netdevice.h"
#include "core/stack.h"
#include "net/8021q/vlan.h"
#include "trace/capture.h"
#include "trace/trace.h"
#include "wire/eth.h"

#define VLAN_VID_MASK 0x0fff

struct vlan_dev_priv {
	struct net_device *real_dev;
	uint16_t vlan_id;
};

static netdev_tx_t vlan_dev_hard_start_xmit(struct sk_buff *skb, struct net_device *dev);

static const struct net_device_ops vlan_netdev_ops = {
	.ndo_start_xmit = vlan_dev_hard_start_xmit,
};

static struct vlan_dev_priv *vlan_dev_priv(const struct net_device *dev) { return dev->priv; }

int is_vlan_dev(const struct net_device *dev) { return dev->netdev_ops == &vlan_netdev_ops; }

struct net_device *vlan_find_dev(struct net_device *real_dev, uint16_t vid)
{
	for (struct net_device *d = real_dev->stack->dev_list; d; d = d->next)
		if (is_vlan_dev(d) && vlan_dev_priv(d)->real_dev == real_dev && vlan_dev_priv(d)->vlan_id == vid)
			return d;
	return NULL;
}

/* Makes skb's head and data ours to rewrite in place; 0 or -ENOMEM. */
static int vlan_make_writable(struct sk_buff *skb)
{
	/* A head others hold (skb_get) cannot be moved under them. */
	if (skb->users > 1)
		return -ENOMEM;
	return skb_unshare_data(skb);
}

struct net_device *vlan_do_receive(struct sk_buff *skb, enum np_drop_reason *reason)
{
	struct net_device *real_dev = skb->dev;
	struct vlan_repr tag;
	if (vlan_parse(skb->data, skb->len, &tag) < 0) {
		*reason = NP_DROP_MAC_TRUNCATED;
		return NULL;
	}
	/* 802.1Q 9.6: VID 0 only carries a priority; the frame belongs to the parent itself. */
	struct net_device *vdev = tag.vid ? vlan_find_dev(real_dev, tag.vid) : real_dev;
	if (!vdev) {
		*reason = NP_DROP_VLAN_UNKNOWN;
		return NULL;
	}
	if (!(vdev->flags & NPF_UP)) {
		*reason = NP_DROP_DEV_DOWN;
		return NULL;
	}
	if (skb->mac_header == SKB_HDR_UNSET || vlan_make_writable(skb) < 0) {
		*reason = NP_DROP_NOMEM;
		return NULL;
	}
	trace_stage_detail(skb, "vlan_do_receive", vdev->name);
	/* Untag (Linux's skb_vlan_untag): the MACs move up so an untagged header sits before the inner one. */
	unsigned char *mac = skb->head + skb->mac_header;
	memmove(mac + VLAN_HLEN, mac, 2 * ETH_ALEN);
	skb_pull(skb, VLAN_HLEN);
	skb->mac_header = (uint16_t)(skb->mac_header + VLAN_HLEN);
	skb_reset_network_header(skb);
	skb->protocol = tag.ethertype;
	skb->vlan_tci = (uint16_t)((tag.pcp << 13) | (tag.dei << 12) | tag.vid);
	skb->vlan_present = 1;
	skb->dev = vdev;
	if (vdev != real_dev) {
		vdev->stats.rx_packets++;
		vdev->stats.rx_bytes += skb->len + ETH_HLEN;
		if (skb->pkt_type == PACKET_MULTICAST || skb->pkt_type == PACKET_BROADCAST)
			vdev->stats.rx_multicast++;
		if (vdev->capture) {
			/* A tap on the VLAN device sees the untagged frame, as tcpdump -i eth0.100 does. */
			skb_push(skb, ETH_HLEN);
			capture_skb(vdev->capture, vdev->stack, skb);
			skb_pull(skb, ETH_HLEN);
		}
	}
	return vdev;
}

/*
 * Consumes skb (data at the Ethernet header built for the VLAN device):
 * inserts the tag after the MACs and queues the frame on the parent.
 */
static netdev_tx_t vlan_dev_hard_start_xmit(struct sk_buff *skb, struct net_device *dev)
{
	struct vlan_dev_priv *vlan = vlan_dev_priv(dev);
	trace_stage_detail(skb, "vlan_dev_hard_start_xmit", vlan->real_dev->name);
	if (skb->users > 1) {
		struct sk_buff *n = skb_copy(skb);
		consume_skb(skb);
		if (!n)
			return NETDEV_TX_OK;   /* nothing left to drop: the copy failed */
		skb = n;
	}
	if (skb->len < ETH_HLEN) {
		kfree_skb_reason(skb, NP_DROP_MAC_TRUNCATED);
		return NETDEV_TX_OK;
	}
	if (skb_headroom(skb) < VLAN_HLEN || vlan_make_writable(skb) < 0) {
		kfree_skb_reason(skb, NP_DROP_NOMEM);
		return NETDEV_TX_OK;
	}
	/* skb->priority 0..7 becomes the PCP, as an identity egress-qos-map would make it. */
	struct vlan_repr tag = {
		.pcp = (uint8_t)(skb->priority < 8 ? skb->priority : 0),
		.dei = 0,
		.vid = vlan->vlan_id,
	};
	unsigned char *p = skb_push(skb, VLAN_HLEN);
	memmove(p, p + VLAN_HLEN, 2 * ETH_ALEN);
	tag.ethertype = be16_get(p + ETH_HLEN + VLAN_HLEN - 2);
	be16_put(p + 2 * ETH_ALEN, ETH_P_8021Q);
	vlan_emit(&tag, p + ETH_HLEN, VLAN_HLEN);
	skb_reset_mac_header(skb);
	skb->dev = vlan->real_dev;
	/* The parent's tap must see the tagged frame too. */
	skb->tapped = 0;
	dev_queue_xmit(skb);
	return NETDEV_TX_OK;
}

void vlan_unregister_children(struct net_device *real_dev)
{
	struct np_stack *s = real_dev->stack;
	for (;;) {
		struct net_device *d = s->dev_list;
		while (d && !(is_vlan_dev(d) && vlan_dev_priv(d)->real_dev == real_dev))
			d = d->next;
		if (!d)
			return;
		unregister_netdev(d);
	}
}

struct np_dev *np_vlan_add(struct np_dev *parent, uint16_t vid, const char *name, int *err)
{
	struct net_device *real_dev = (struct net_device *)parent;
	struct np_stack *s = real_dev->stack;
	char defname[IFNAMSIZ + 8];
	int dummy, rc;
	if (!err)
		err = &dummy;
	/* 802.1Q 9.6: 0 means priority-tagged only and 4095 is reserved. */
	if (vid == 0 || vid >= VLAN_VID_MASK || real_dev->type != ARPHRD_ETHER_ || is_vlan_dev(real_dev)) {
		*err = -EINVAL;
		return NULL;
	}
	if (!name) {
		snprintf(defname, sizeof(defname), "%s.%u", real_dev->name, vid);
		name = defname;
	}
	if (!*name || strlen(name) >= IFNAMSIZ) {
		*err = -EINVAL;
		return NULL;
	}
	np_stack_lock(s);
	if (vlan_find_dev(real_dev, vid) || dev_get_by_name(s, name)) {
		np_stack_unlock(s);
		*err = -EEXIST;
		return NULL;
	}
	struct net_device *dev = alloc_netdev(s, name, sizeof(struct vlan_dev_priv));
	if (!dev) {
		np_stack_unlock(s);
		*err = -ENOMEM;
		return NULL;
	}
	ether_setup(dev);
	memcpy(dev->dev_addr, real_dev->dev_addr, ETH_ALEN);
	/* The tag travels outside the MTU: the parent carries MTU + 18-byte frames (cable, TAP). */
	dev->mtu = real_dev->mtu;
	dev->netdev_ops = &vlan_netdev_ops;
	struct vlan_dev_priv *vlan = vlan_dev_priv(dev);
	vlan->real_dev = real_dev;
	vlan->vlan_id = vid;
	rc = register_netdev(dev);
	if (rc == 0)
		rc = dev_open(dev);
	if (rc < 0) {
		if (dev->ifindex)
			unregister_netdev(dev);
		else
			free(dev);
		np_stack_unlock(s);
		*err = rc;
		return NULL;
	}
	np_stack_unlock(s);
	*err = 0;
	return (struct np_dev *)dev;
}
