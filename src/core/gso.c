/*
 * Generic segmentation offload in software, and the transmit-side checksum
 * help (Linux's net/core/gso.c skb_gso_segment, net/ipv4/tcp_offload.c
 * tcp4_gso_segment, net/core/dev.c validate_xmit_skb / skb_checksum_help).
 * Place in the packet path:
 *   tcp_write_xmit (one super-packet of up to gso_max_size when the route's
 *   device has TSO or GSO) -> ip_queue_xmit -> ... -> dev_queue_xmit -> qdisc
 *   -> dev_hard_start_xmit -> validate_xmit_skb: a device without TSO gets
 *   real segments (skb_gso_segment), one without HW_CSUM gets finished
 *   checksums (skb_checksum_help) -> taps -> [tx faults] -> ndo_start_xmit.
 * TCP builds one super-packet per send opportunity and runs its output path
 * once for it; only here, at the device, is it cut into wire-sized pieces,
 * so everything above (netfilter, qdisc, neighbour) runs once per 64 KiB.
 */
#include <errno.h>
#include <string.h>

#include "core/netdevice.h"
#include "core/stack.h"
#include "trace/trace.h"
#include "wire/checksum.h"
#include "wire/eth.h"
#include "wire/wire.h"

#define GSO_IP_PROTO_TCP 6
#define GSO_TCPF_FIN 0x01
#define GSO_TCPF_PSH 0x08
#define GSO_TCPF_CWR 0x80

/* Offsets of the IPv4 and TCP headers in a frame at data (Ethernet, optionally one 802.1Q tag). */
struct gso_hdrs {
	uint32_t nh;        /* IPv4 header, from data */
	uint32_t th;        /* TCP header, from data */
	uint32_t hlen;      /* all headers: th + TCP header length */
};

/* Finds the headers of a TCPv4 frame; -EINVAL if it is anything else or truncated. */
static int gso_find_hdrs(const struct sk_buff *skb, int link, struct gso_hdrs *h)
{
	const uint8_t *d = skb->data;
	uint32_t off = 0;
	if (link) {
		if (skb->len < ETH_HLEN)
			return -EINVAL;
		uint16_t type = be16_get(d + 12);
		off = ETH_HLEN;
		if (type == ETH_P_8021Q) {
			if (skb->len < ETH_HLEN + VLAN_HLEN)
				return -EINVAL;
			type = be16_get(d + 16);
			off += VLAN_HLEN;
		}
		if (type != ETH_P_IP)
			return -EINVAL;
	}
	if (skb->len < off + 20 || (d[off] >> 4) != 4)
		return -EINVAL;
	uint32_t ihl = (uint32_t)(d[off] & 0x0f) * 4;
	if (ihl < 20 || skb->len < off + ihl + 20 || d[off + 9] != GSO_IP_PROTO_TCP)
		return -EINVAL;
	/* A fragment cannot be segmented (MF or an offset). */
	if (be16_get(d + off + 6) & 0x3fff)
		return -EINVAL;
	uint32_t doff = (uint32_t)(d[off + ihl + 12] >> 4) * 4;
	if (doff < 20 || skb->len < off + ihl + doff)
		return -EINVAL;
	h->nh = off;
	h->th = off + ihl;
	h->hlen = off + ihl + doff;
	return 0;
}

int skb_checksum_help(struct sk_buff *skb)
{
	if (skb->ip_summed != CHECKSUM_PARTIAL)
		return 0;
	uint32_t start = skb->csum_start;
	uint32_t dstart = (uint32_t)(skb->data - skb->head);
	if (start < dstart || start - dstart + skb->csum_offset + 2u > skb->len)
		return -EINVAL;
	if (skb->cloned && skb_unshare_data(skb) < 0)
		return -ENOMEM;
	uint8_t *p = skb->head + start;
	uint32_t len = skb->len - (start - dstart);
	/* The field holds the folded pseudo-header sum: summing over it finishes the job. */
	uint16_t c = csum_fold(csum_partial(p, len, 0));
	be16_put(p + skb->csum_offset, c);
	skb->ip_summed = CHECKSUM_NONE;
	return 0;
}

/* Copies what a segment inherits from its super-packet. */
static void gso_copy_meta(struct sk_buff *n, const struct sk_buff *skb)
{
	n->dev = skb->dev;
	n->tstamp = skb->tstamp;
	n->protocol = skb->protocol;
	n->vlan_tci = skb->vlan_tci;
	n->vlan_present = skb->vlan_present;
	n->pkt_type = skb->pkt_type;
	n->mark = skb->mark;
	n->priority = skb->priority;
	n->rt = skb->rt;
	n->rt_valid = skb->rt_valid;
	n->tapped = skb->tapped;
	memcpy(n->cb, skb->cb, sizeof(n->cb));
}

struct sk_buff *skb_gso_segment(struct sk_buff *skb, uint32_t features, enum np_drop_reason *reason)
{
	struct skb_shared_info *sh = skb_shinfo(skb);
	struct gso_hdrs h;
	*reason = NP_DROP_SKB_GSO_SEG;
	if (!(sh->gso_type & SKB_GSO_TCPV4) || !sh->gso_size)
		return NULL;
	/* Data at the link header on a device's transmit path, at the IP header otherwise. */
	int link = skb->dev && skb->dev->hard_header_len && skb->mac_header != SKB_HDR_UNSET &&
		   skb->head + skb->mac_header == skb->data;
	if (gso_find_hdrs(skb, link, &h) < 0)
		return NULL;
	trace_stage(skb, "skb_gso_segment");
	uint32_t mss = sh->gso_size;
	uint32_t payload = skb->len - h.hlen;
	uint32_t nsegs = payload ? (payload + mss - 1) / mss : 1;
	const uint8_t *src = skb->data;
	uint16_t id0 = be16_get(src + h.nh + 4);
	uint32_t seq0 = be32_get(src + h.th + 4);
	uint8_t flags = src[h.th + 13];
	int csum_hw = (features & NETIF_F_HW_CSUM) != 0;
	struct sk_buff *first = NULL, **tailp = &first;

	for (uint32_t i = 0; i < nsegs; i++) {
		uint32_t off = i * mss;
		uint32_t seglen = payload - off < mss ? payload - off : mss;
		struct sk_buff *n = alloc_skb(skb->stack, h.hlen + seglen);
		if (!n) {
			*reason = NP_DROP_NOMEM;
			while (first) {
				struct sk_buff *next = first->next;
				first->next = NULL;
				kfree_skb_reason(first, NP_DROP_NOMEM);
				first = next;
			}
			return NULL;
		}
		gso_copy_meta(n, skb);
		uint8_t *d = skb_put(n, h.hlen + seglen);
		memcpy(d, src, h.hlen);
		memcpy(d + h.hlen, src + h.hlen + off, seglen);
		n->mac_header = link ? (uint16_t)(n->data - n->head) : SKB_HDR_UNSET;
		n->network_header = (uint16_t)(n->data - n->head + h.nh);
		n->transport_header = (uint16_t)(n->data - n->head + h.th);

		/* IP: each segment its own datagram: length, id in sequence, header checksum. */
		uint8_t *ip = d + h.nh;
		uint32_t iplen = h.hlen - h.nh + seglen;
		be16_put(ip + 2, (uint16_t)iplen);
		be16_put(ip + 4, (uint16_t)(id0 + i));
		be16_put(ip + 10, 0);
		be16_put(ip + 10, csum_fold(csum_partial(ip, h.th - h.nh, 0)));

		/* TCP: sequence by offset; FIN and PSH only on the last, CWR only on the first. */
		uint8_t *th = d + h.th;
		be32_put(th + 4, seq0 + off);
		uint8_t f = flags;
		if (i + 1 < nsegs)
			f &= (uint8_t)~(GSO_TCPF_FIN | GSO_TCPF_PSH);
		if (i > 0)
			f &= (uint8_t)~GSO_TCPF_CWR;
		th[13] = f;
		uint32_t tcplen = h.hlen - h.th + seglen;
		uint32_t saddr = be32_get(ip + 12), daddr = be32_get(ip + 16);
		uint16_t pseudo = csum_fold(csum_tcpudp_nofold(saddr, daddr, (uint16_t)tcplen, GSO_IP_PROTO_TCP, 0));
		if (csum_hw) {
			be16_put(th + 16, (uint16_t)~pseudo);
			n->ip_summed = CHECKSUM_PARTIAL;
			n->csum_start = n->transport_header;
			n->csum_offset = 16;
		} else {
			be16_put(th + 16, (uint16_t)~pseudo);
			be16_put(th + 16, csum_fold(csum_partial(th, tcplen, 0)));
			n->ip_summed = CHECKSUM_NONE;
		}
		if (skb->trace) {
			trace_begin(n, 1);
			trace_stage_detail(n, "skb_gso_segment", skb->dev ? skb->dev->name : NULL);
		}
		*tailp = n;
		tailp = &n->next;
	}
	*reason = NP_DROP_NOT_DROPPED_YET;
	return first;
}

struct sk_buff *validate_xmit_skb(struct sk_buff *skb, struct net_device *dev)
{
	trace_stage(skb, "validate_xmit_skb");
	if (skb_is_gso(skb) && !(dev->features & NETIF_F_TSO)) {
		enum np_drop_reason why;
		struct sk_buff *segs = skb_gso_segment(skb, dev->features, &why);
		if (!segs) {
			dev->stats.tx_dropped++;
			kfree_skb_reason(skb, why);
			return NULL;
		}
		consume_skb(skb);
		return segs;
	}
	if (skb->ip_summed == CHECKSUM_PARTIAL && !(dev->features & NETIF_F_HW_CSUM)) {
		if (skb_checksum_help(skb) < 0) {
			dev->stats.tx_dropped++;
			kfree_skb_reason(skb, NP_DROP_NOMEM);
			return NULL;
		}
	}
	return skb;
}

uint32_t netdev_set_offloads(struct net_device *dev, int on)
{
	uint32_t f = dev->features;
	if (on)
		f |= dev->hw_features & NETIF_F_OFFLOADS;
	else
		f &= ~(uint32_t)NETIF_F_OFFLOADS;
	if (dev->netdev_ops && dev->netdev_ops->ndo_set_features && dev->netdev_ops->ndo_set_features(dev, f) < 0)
		return dev->features;
	dev->features = f;
	if (!dev->gso_max_size)
		dev->gso_max_size = NP_GSO_MAX_SIZE;
	/* Routes cached by sockets carry no features, but TCP reads them per send: nothing to flush. */
	return dev->features;
}

int np_dev_set_offload(struct np_dev *d, int on)
{
	struct net_device *dev = (struct net_device *)d;
	if (!dev)
		return -EINVAL;
	if (on && !(dev->hw_features & NETIF_F_OFFLOADS))
		return -EOPNOTSUPP;
	uint32_t f = netdev_set_offloads(dev, on);
	return (f & NETIF_F_TSO) ? 1 : 0;
}
