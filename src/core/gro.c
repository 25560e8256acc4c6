/*
 * Generic receive offload (Linux's net/core/gro.c with the IPv4 and TCP
 * callbacks of net/ipv4/af_inet.c inet_gro_receive and tcp_offload.c
 * tcp4_gro_receive / tcp_gro_complete, folded into one file).
 * Place in the packet path:
 *   driver poll -> napi_gro_receive -> [held per flow on the NAPI] ->
 *   napi_gro_flush (end of every poll) -> napi_gro_complete ->
 *   netif_receive_skb -> taps, netfilter, IP, TCP once per super-packet.
 * Why: a TAP or AF_PACKET without offloads hands one wire frame per read;
 * merging in-order segments of a TCP flow here lets everything above run
 * once per up to 64 KiB, as the vnet TAP's TSO super-frames already do. The
 * merged skb has the shape of such a super-frame (gso_size/gso_segs,
 * SKB_GSO_TCPV4, CHECKSUM_PARTIAL), so forwarding re-segments it with GSO.
 */
#include <errno.h>
#include <string.h>

#include "core/netdevice.h"
#include "core/stack.h"
#include "trace/trace.h"
#include "wire/checksum.h"
#include "wire/eth.h"
#include "wire/ipv4.h"
#include "wire/tcp.h"
#include "wire/wire.h"

#define GRO_IPPROTO_TCP 6
#define GRO_TCPF_PSH 0x08
#define GRO_TCPF_ACK 0x10
#define GRO_IP_DF 0x4000

/* Per held skb (Linux's NAPI_GRO_CB): lives in skb->cb while the skb is held. */
struct napi_gro_cb {
	uint32_t next_seq;      /* sequence the next merged segment must start at */
	uint16_t mss;           /* payload of the first segment: every merged one but the last has it */
	uint16_t count;         /* segments merged into this skb */
	uint16_t last_id;       /* IP id of the last merged segment */
	uint16_t ip_tot;        /* IP total length so far */
	uint8_t csum_checked;   /* the stack verified the checksums (was CHECKSUM_NONE) */
	uint8_t psh;            /* a merged segment had PSH */
	struct sk_buff *last;   /* last segment chained (by ->next) behind this one */
};
#define NAPI_GRO_CB(skb) ((struct napi_gro_cb *)(void *)(skb)->cb)

/* Per segment chained behind a held skb: where its payload is. */
struct gro_frag_cb {
	uint32_t off, len;      /* from skb->data */
};
#define GRO_FRAG_CB(skb) ((struct gro_frag_cb *)(void *)(skb)->cb)

/* What inet_gro_receive/tcp4_gro_receive learned of one frame. */
struct gro_frame {
	const uint8_t *ip, *th;
	uint32_t saddr, daddr;
	uint16_t sport, dport;
	uint32_t seq, ack;
	uint16_t win, ip_id, ip_tot;
	uint8_t flags, doff, ttl, tos, df;
	uint32_t payload;
	int ipv4;               /* an IPv4 frame: held flows of its addresses must go first */
	int mergeable;          /* an in-profile TCP segment (see inet_gro_receive) */
};

static void gro_deliver(struct sk_buff *skb)
{
	netif_receive_skb(skb);
}

/* Frees the segments chained behind a held skb (they were copied, or the whole is dropped). */
static void gro_free_chain(struct sk_buff *skb, enum np_drop_reason reason)
{
	struct sk_buff *n = skb->next;
	skb->next = NULL;
	while (n) {
		struct sk_buff *next = n->next;
		n->next = NULL;
		if (reason == NP_DROP_NOT_DROPPED_YET)
			consume_skb(n);
		else
			kfree_skb_reason(n, reason);
		n = next;
	}
}

/*
 * Builds the merged skb: the held frame's headers, then every chained
 * payload, copied once into a buffer of exactly that size (the socket
 * charges the buffer's size to its receive window). NULL on no memory.
 */
static struct sk_buff *gro_build(struct sk_buff *p)
{
	const struct napi_gro_cb *cb = NAPI_GRO_CB(p);
	uint32_t total = (uint32_t)ETH_HLEN + cb->ip_tot;
	struct sk_buff *big = alloc_skb(p->stack, total);
	if (!big)
		return NULL;
	memcpy(skb_put(big, p->len), p->data, p->len);
	for (struct sk_buff *n = p->next; n; n = n->next)
		memcpy(skb_put(big, GRO_FRAG_CB(n)->len), n->data + GRO_FRAG_CB(n)->off, GRO_FRAG_CB(n)->len);
	big->dev = p->dev;
	big->tstamp = p->tstamp;
	big->pkt_type = p->pkt_type;
	big->mark = p->mark;
	big->priority = p->priority;
	big->trace = p->trace;   /* the trace follows the data */
	p->trace = NULL;
	return big;
}

/* Linux's tcp_gro_complete + inet_gro_complete: the headers of the merged skb tell its true size. */
static void napi_gro_complete(struct sk_buff *skb)
{
	struct napi_gro_cb *cb = NAPI_GRO_CB(skb);
	trace_stage(skb, "napi_gro_complete");
	uint16_t count = cb->count;
	uint16_t mss = cb->mss;
	uint8_t checked = cb->csum_checked;
	uint8_t psh = cb->psh;
	if (count > 1) {
		struct sk_buff *big = gro_build(skb);
		if (!big) {
			/* No memory for the merge: the segments go up one by one, still in order. */
			struct sk_buff *n = skb->next;
			skb->next = NULL;
			memset(skb->cb, 0, sizeof(skb->cb));
			gro_deliver(skb);
			while (n) {
				struct sk_buff *next = n->next;
				n->next = NULL;
				memset(n->cb, 0, sizeof(n->cb));
				gro_deliver(n);
				n = next;
			}
			return;
		}
		gro_free_chain(skb, NP_DROP_NOT_DROPPED_YET);
		consume_skb(skb);
		skb = big;
	}
	memset(skb->cb, 0, sizeof(skb->cb));
	if (count > 1) {
		uint8_t *ip = skb->data + ETH_HLEN;
		uint32_t tot = skb->len - ETH_HLEN;
		be16_put(ip + 2, (uint16_t)tot);
		be16_put(ip + 10, 0);
		be16_put(ip + 10, csum_fold(csum_partial(ip, 20, 0)));
		/* As tcp_gro_complete: the TCP checksum is left partial (pseudo-header only), already verified. */
		uint8_t *th = ip + 20;
		th[13] |= psh;
		uint16_t pseudo = csum_fold(csum_tcpudp_nofold(be32_get(ip + 12), be32_get(ip + 16), (uint16_t)(tot - 20),
							       GRO_IPPROTO_TCP, 0));
		be16_put(th + 16, (uint16_t)~pseudo);
		skb->ip_summed = CHECKSUM_PARTIAL;
		skb->csum_start = (uint16_t)(th - skb->head);
		skb->csum_offset = 16;
		struct skb_shared_info *sh = skb_shinfo(skb);
		sh->gso_size = mss;
		sh->gso_segs = count;
		sh->gso_type = SKB_GSO_TCPV4;
	} else if (checked) {
		skb->ip_summed = CHECKSUM_UNNECESSARY;   /* verified once here: TCP need not sum it again */
	}
	gro_deliver(skb);
}

/* Takes the held skb at index i off the list (keeping the age order of the rest). */
static struct sk_buff *gro_unlink(struct napi_struct *napi, int i)
{
	struct sk_buff *skb = napi->gro_held[i];
	for (int j = i; j + 1 < napi->gro_count; j++)
		napi->gro_held[j] = napi->gro_held[j + 1];
	napi->gro_held[--napi->gro_count] = NULL;
	return skb;
}

void napi_gro_flush(struct napi_struct *napi)
{
	while (napi->gro_count > 0) {
		struct sk_buff *skb = gro_unlink(napi, 0);
		trace_stage(skb, "napi_gro_flush");
		napi_gro_complete(skb);
	}
}

void napi_gro_drop_held(struct napi_struct *napi, enum np_drop_reason reason)
{
	while (napi->gro_count > 0) {
		struct sk_buff *skb = gro_unlink(napi, 0);
		if (skb->dev)
			skb->dev->stats.rx_dropped += NAPI_GRO_CB(skb)->count;
		gro_free_chain(skb, reason);
		kfree_skb_reason(skb, reason);
	}
}

/* Delivers, oldest first, the held skbs of an address pair: a frame of theirs that is not merged comes after them. */
static void gro_flush_addrs(struct napi_struct *napi, uint32_t saddr, uint32_t daddr)
{
	for (int i = 0; i < napi->gro_count;) {
		const uint8_t *ip = napi->gro_held[i]->data + ETH_HLEN;
		if (be32_get(ip + 12) == saddr && be32_get(ip + 16) == daddr) {
			struct sk_buff *skb = gro_unlink(napi, i);
			trace_stage(skb, "napi_gro_flush");
			napi_gro_complete(skb);
		} else {
			i++;
		}
	}
}

static int tcp4_gro_same_flow(const struct sk_buff *p, const struct gro_frame *f);

/* Delivers the held skb of f's TCP flow, if any: f comes after it. */
static void gro_flush_flow(struct napi_struct *napi, const struct gro_frame *f)
{
	for (int i = 0; i < napi->gro_count; i++) {
		if (tcp4_gro_same_flow(napi->gro_held[i], f)) {
			struct sk_buff *skb = gro_unlink(napi, i);
			trace_stage(skb, "napi_gro_flush");
			napi_gro_complete(skb);
			return;
		}
	}
}

/*
 * inet_gro_receive + the header half of tcp4_gro_receive: parses the frame
 * at skb->data (Ethernet) and says whether it may be merged: IPv4 without
 * options, not a fragment, a valid header checksum, TCP with only ACK (and
 * PSH), a payload, a valid TCP checksum (verified here unless the device
 * vouched for it), a private linear skb, not already a super-packet.
 */
static void inet_gro_receive(struct sk_buff *skb, struct gro_frame *f)
{
	memset(f, 0, sizeof(*f));
	const uint8_t *d = skb->data;
	if (skb->len < ETH_HLEN + 20 || be16_get(d + 12) != ETH_P_IP)
		return;
	const uint8_t *ip = d + ETH_HLEN;
	if ((ip[0] >> 4) != 4)
		return;
	f->ip = ip;
	f->saddr = be32_get(ip + 12);
	f->daddr = be32_get(ip + 16);
	f->ipv4 = 1;
	uint32_t tot = be16_get(ip + 2);
	if (ip[0] != 0x45 || ip[9] != GRO_IPPROTO_TCP || (be16_get(ip + 6) & 0x3fff) || tot < 40 ||
	    tot > skb->len - ETH_HLEN || !ipv4_csum_ok(ip, 20))
		return;
	if (skb_is_gso(skb) || skb->cloned || skb->users != 1 || skb->vlan_present)
		return;
	const uint8_t *th = ip + 20;
	uint32_t doff = (uint32_t)(th[12] >> 4) * 4;
	if (doff < 20 || doff > tot - 20)
		return;
	f->th = th;
	f->sport = be16_get(th);
	f->dport = be16_get(th + 2);
	f->seq = be32_get(th + 4);
	f->ack = be32_get(th + 8);
	f->flags = th[13];
	f->win = be16_get(th + 14);
	f->doff = (uint8_t)doff;
	f->ip_id = be16_get(ip + 4);
	f->ip_tot = (uint16_t)tot;
	f->ttl = ip[8];
	f->tos = ip[1];
	f->df = (be16_get(ip + 6) & GRO_IP_DF) != 0;
	f->payload = tot - 20 - doff;
	/* FIN, SYN, RST, URG, ECE, CWR, and a missing ACK, end merging as in tcp4_gro_receive. */
	if ((f->flags & (uint8_t)~(GRO_TCPF_ACK | GRO_TCPF_PSH)) || !(f->flags & GRO_TCPF_ACK) || !f->payload)
		return;
	if (skb->ip_summed == CHECKSUM_NONE) {
		/* Verified once here; a bad one goes up unmerged and TCP drops it (TCP_CSUM, TcpInCsumErrors). */
		if (!tcp_csum_ok(th, tot - 20, f->saddr, f->daddr))
			return;
	}
	f->mergeable = 1;
}

/* Does segment f continue the held skb p (tcp4_gro_receive's flow and flush tests)? */
static int tcp4_gro_same_flow(const struct sk_buff *p, const struct gro_frame *f)
{
	const uint8_t *ip = p->data + ETH_HLEN;
	const uint8_t *th = ip + 20;
	return be32_get(ip + 12) == f->saddr && be32_get(ip + 16) == f->daddr && be16_get(th) == f->sport &&
	       be16_get(th + 2) == f->dport;
}

static int tcp4_gro_can_merge(const struct sk_buff *p, const struct sk_buff *skb, const struct gro_frame *f)
{
	const struct napi_gro_cb *cb = NAPI_GRO_CB(p);
	const uint8_t *ip = p->data + ETH_HLEN;
	const uint8_t *th = ip + 20;
	if (f->seq != cb->next_seq || be32_get(th + 8) != f->ack || be16_get(th + 14) != f->win)
		return 0;
	if ((uint32_t)(th[12] >> 4) * 4 != f->doff || memcmp(th + 20, f->th + 20, (size_t)f->doff - 20) != 0)
		return 0;
	/* The link header, TTL and TOS are the same; the IP id counts up unless DF makes it meaningless. */
	if (memcmp(p->data, skb->data, ETH_HLEN) != 0 || ip[8] != f->ttl || ip[1] != f->tos ||
	    ((be16_get(ip + 6) & GRO_IP_DF) != 0) != f->df)
		return 0;
	if (!f->df && f->ip_id != (uint16_t)(cb->last_id + 1))
		return 0;
	if (f->payload > cb->mss)
		return 0;
	if (p->dev != skb->dev)
		return 0;
	return 1;
}

/* Would merging f take the held skb past the 64 KiB an IP datagram (and GSO) may carry? */
static int gro_would_overflow(const struct sk_buff *p, const struct gro_frame *f)
{
	return (uint32_t)NAPI_GRO_CB(p)->ip_tot + f->payload > 0xffffu;
}

/* Starts holding skb as a new flow; the oldest flow goes up if the list is full. */
static void gro_hold(struct napi_struct *napi, struct sk_buff *skb, const struct gro_frame *f)
{
	if (napi->gro_count >= NP_GRO_MAX_HELD) {
		struct sk_buff *old = gro_unlink(napi, 0);
		trace_stage(old, "napi_gro_flush");
		napi_gro_complete(old);
	}
	/* Padding past the IP datagram (short Ethernet frames) would end up inside the merged payload. */
	if (skb->len > (uint32_t)ETH_HLEN + f->ip_tot)
		skb_trim(skb, (uint32_t)ETH_HLEN + f->ip_tot);
	struct napi_gro_cb *cb = NAPI_GRO_CB(skb);
	memset(skb->cb, 0, sizeof(skb->cb));
	cb->next_seq = f->seq + f->payload;
	cb->mss = (uint16_t)f->payload;
	cb->count = 1;
	cb->last_id = f->ip_id;
	cb->ip_tot = f->ip_tot;
	cb->csum_checked = skb->ip_summed == CHECKSUM_NONE;
	cb->last = skb;
	skb->next = NULL;
	napi->gro_held[napi->gro_count++] = skb;
}

/*
 * Chains skb behind the held skb p (tcp4_gro_receive's skb_gro_receive):
 * nothing is copied until napi_gro_complete builds the merged skb once.
 */
static void gro_append(struct sk_buff *p, struct sk_buff *skb, const struct gro_frame *f)
{
	struct napi_gro_cb *cb = NAPI_GRO_CB(p);
	struct gro_frag_cb *fc = GRO_FRAG_CB(skb);
	fc->off = (uint32_t)(f->th + f->doff - skb->data);
	fc->len = f->payload;
	skb->next = NULL;
	cb->last->next = skb;
	cb->last = skb;
	cb->next_seq += f->payload;
	cb->count++;
	cb->last_id = f->ip_id;
	cb->ip_tot = (uint16_t)(cb->ip_tot + f->payload);
	cb->psh |= f->flags & GRO_TCPF_PSH;
	/* The device counted frames as they came: the merged headers are bytes it received too. */
	p->dev->stats.rx_packets++;
	p->dev->stats.rx_bytes += skb->len - f->payload;
}

static void napi_gro_receive_tcp(struct napi_struct *napi, struct sk_buff *skb)
{
	struct gro_frame f;
	inet_gro_receive(skb, &f);
	if (!f.ipv4) {
		gro_deliver(skb);
		return;
	}
	if (f.mergeable) {
		trace_stage(skb, "tcp4_gro_receive");
		for (int i = 0; i < napi->gro_count; i++) {
			struct sk_buff *p = napi->gro_held[i];
			if (!tcp4_gro_same_flow(p, &f))
				continue;
			if (tcp4_gro_can_merge(p, skb, &f) && !gro_would_overflow(p, &f)) {
				gro_append(p, skb, &f);
				/* PSH or a short segment ends the burst: up it goes (Linux's flush). */
				if ((f.flags & GRO_TCPF_PSH) || f.payload < NAPI_GRO_CB(p)->mss) {
					gro_unlink(napi, i);
					napi_gro_complete(p);
				}
				return;
			}
			/* Same flow, does not continue it: the held one goes up first (in order per flow). */
			struct sk_buff *old = gro_unlink(napi, i);
			trace_stage(old, "napi_gro_flush");
			napi_gro_complete(old);
			break;
		}
		if (!(f.flags & GRO_TCPF_PSH)) {
			gro_hold(napi, skb, &f);
			return;
		}
		if (skb->ip_summed == CHECKSUM_NONE)
			skb->ip_summed = CHECKSUM_UNNECESSARY;   /* just verified */
		gro_deliver(skb);
		return;
	}
	if (f.th)
		gro_flush_flow(napi, &f);
	else
		gro_flush_addrs(napi, f.saddr, f.daddr);   /* ports unknown (options, a fragment): all of them */
	gro_deliver(skb);
}

void napi_gro_receive(struct napi_struct *napi, struct sk_buff *skb)
{
	struct net_device *dev = napi->dev;
	if (!skb->trace)
		trace_begin(skb, 0);
	trace_stage_detail(skb, "napi_poll", dev->name);
	trace_stage(skb, "napi_gro_receive");
	/*
	 * Rx fault injection acts on wire frames, so it bypasses GRO; so do
	 * devices without an Ethernet header (none of the GRO drivers).
	 */
	if (!(dev->features & NETIF_F_GRO) || dev->faults_rx || dev->hard_header_len != ETH_HLEN || skb->dev != dev) {
		if (napi->gro_count)
			napi_gro_flush(napi);
		gro_deliver(skb);
		return;
	}
	/* Arrival time as netif_receive_skb would give it: a held skb keeps its first segment's. */
	if (!skb->tstamp)
		skb->tstamp = np_stack_now(dev->stack);
	napi_gro_receive_tcp(napi, skb);
}

uint32_t netdev_set_gro(struct net_device *dev, int on)
{
	if (on && (dev->hw_features & NETIF_F_GRO))
		dev->features |= NETIF_F_GRO;
	else if (!on) {
		dev->features &= ~(uint32_t)NETIF_F_GRO;
		napi_gro_flush(&dev->napi);
	}
	return dev->features;
}

int np_dev_set_gro(struct np_dev *d, int on)
{
	struct net_device *dev = (struct net_device *)d;
	if (!dev)
		return -EINVAL;
	if (on && !(dev->hw_features & NETIF_F_GRO))
		return -EOPNOTSUPP;
	return (netdev_set_gro(dev, on) & NETIF_F_GRO) ? 1 : 0;
}
