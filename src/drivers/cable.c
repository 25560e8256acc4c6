/*
 * The virtual cable: a veth-like pair of Ethernet devices joining two
 * stacks (or two devices of one stack), each of which may run in its own
 * thread.
 *   send: dev_hard_start_xmit -> [tx faults] -> cable_xmit: copy into the
 *         peer's rx ring, netif_irq_raise(peer)
 *   receive (peer's thread): handle_irqs -> napi_schedule -> net_rx_action
 *         -> cable_poll: copy out of the ring into an skb of the peer's own
 *         allocator -> napi_gro_receive -> netif_receive_skb
 * Offloads (np_dev_set_offload on both ends): TSO super-packets and
 * CHECKSUM_PARTIAL frames cross whole with their metadata, as veth passes
 * the skb; an end without them gets real segments and finished checksums.
 *
 * Frames are copied, never handed over, because each stack has its own skb
 * allocator and runs in its own thread. The two ends share one refcounted
 * struct cable: the ring mutex also guards the end pointers, so a sender
 * never touches a peer device that is being unregistered. When one end goes
 * away (its stack is destroyed) the survivor sees carrier loss: its frames
 * are dropped with DEV_DOWN and counted as carrier errors.
 *
 * Counters: the core counts rx/tx packets and bytes; the cable counts only
 * its own drops and errors.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/netdevice.h"
#include "core/stack.h"
#include "trace/trace.h"

/* Frames waiting per direction, like a NIC's rx descriptor ring. */
#define CABLE_RING_SIZE 1024

struct cable_frame {
	uint8_t *buf;           /* kept between frames, grown as needed */
	uint32_t cap, len;
	/* Offload metadata riding with the frame, as veth hands over the skb itself. */
	uint16_t gso_size, gso_segs, gso_type;
	uint8_t ip_summed;
	uint16_t csum_start;    /* CHECKSUM_PARTIAL: from the frame's first byte */
	uint16_t csum_offset;
	/* A large frame handed over whole (skb_steal_data): its buffer, data offset and end; NULL: in buf. */
	uint8_t *owned;
	uint32_t owned_off, owned_end;
};

/* Frames at least this long cross by hand-over when their buffer is the sender's alone. */
#define CABLE_HANDOVER_MIN 4096

struct cable_ring {
	struct cable_frame slot[CABLE_RING_SIZE];
	uint32_t head, count;
};

struct cable {
	pthread_mutex_t lock;           /* guards everything below */
	int refs;                       /* ends still registered */
	struct net_device *end[2];      /* NULL once that end is unregistered */
	struct cable_ring ring[2];      /* ring[i]: frames on their way to end[i] */
};

struct cable_port {
	struct cable *cable;
	int side;
};

static void cable_ring_free(struct cable_ring *r)
{
	for (int i = 0; i < CABLE_RING_SIZE; i++) {
		free(r->slot[i].buf);
		r->slot[i].buf = NULL;
		r->slot[i].cap = 0;
		free(r->slot[i].owned);   /* a handed-over frame never polled */
		r->slot[i].owned = NULL;
	}
	r->head = r->count = 0;
}

static netdev_tx_t cable_xmit_one(struct sk_buff *skb, struct net_device *dev);

/*
 * Consumes skb: copies the frame into the peer's ring and raises the peer's
 * interrupt. Offloads cross only when both ends have them on: a super-packet
 * or a partial checksum for an end without them is finished here first (the
 * way veth's peer would segment it in its own receive path).
 */
static netdev_tx_t cable_xmit(struct sk_buff *skb, struct net_device *dev)
{
	struct cable_port *port = dev->priv;
	struct cable *c = port->cable;
	if (__builtin_expect(skb_is_gso(skb) || skb->ip_summed == CHECKSUM_PARTIAL, 0)) {
		pthread_mutex_lock(&c->lock);
		struct net_device *pdev = c->end[!port->side];
		uint32_t pfeat = pdev ? pdev->features : 0;
		pthread_mutex_unlock(&c->lock);
		if (skb_is_gso(skb) && !(pfeat & NETIF_F_TSO)) {
			enum np_drop_reason why;
			struct sk_buff *segs = skb_gso_segment(skb, 0, &why);
			if (!segs) {
				dev->stats.tx_dropped++;
				kfree_skb_reason(skb, why);
				return NETDEV_TX_OK;
			}
			consume_skb(skb);
			while (segs) {
				struct sk_buff *next = segs->next;
				segs->next = NULL;
				cable_xmit_one(segs, dev);
				segs = next;
			}
			return NETDEV_TX_OK;
		}
		if (skb->ip_summed == CHECKSUM_PARTIAL && !(pfeat & NETIF_F_HW_CSUM) && skb_checksum_help(skb) < 0) {
			dev->stats.tx_dropped++;
			kfree_skb_reason(skb, NP_DROP_NOMEM);
			return NETDEV_TX_OK;
		}
	}
	return cable_xmit_one(skb, dev);
}

/* Consumes skb: one frame into the peer's ring. */
static netdev_tx_t cable_xmit_one(struct sk_buff *skb, struct net_device *dev)
{
	struct cable_port *port = dev->priv;
	struct cable *c = port->cable;
	int peer = !port->side;
	enum np_drop_reason why = NP_DROP_NOT_DROPPED_YET;

	trace_stage(skb, "veth_xmit");
	pthread_mutex_lock(&c->lock);
	struct net_device *pdev = c->end[peer];
	struct cable_ring *r = &c->ring[peer];
	if (!pdev) {
		why = NP_DROP_DEV_DOWN;
	} else if (r->count == CABLE_RING_SIZE) {
		why = NP_DROP_FULL_RING;
	} else {
		struct cable_frame *f = &r->slot[(r->head + r->count) % CABLE_RING_SIZE];
		uint32_t need = skb->len >= CABLE_HANDOVER_MIN && !skb_shinfo(skb)->cached ? 0 : skb->len;
		if (f->cap < need) {
			uint8_t *nb = realloc(f->buf, skb->len);
			if (nb) {
				f->buf = nb;
				f->cap = skb->len;
			}
		}
		if (f->cap < need) {
			why = NP_DROP_NOMEM;
		} else {
			f->len = skb->len;
			struct skb_shared_info *sh = skb_shinfo(skb);
			f->gso_size = sh->gso_size;
			f->gso_segs = sh->gso_segs;
			f->gso_type = sh->gso_type;
			f->ip_summed = skb->ip_summed;
			if (skb->ip_summed == CHECKSUM_PARTIAL) {
				f->csum_start = (uint16_t)(skb->head + skb->csum_start - skb->data);
				f->csum_offset = skb->csum_offset;
			} else if (skb->ip_summed != CHECKSUM_NONE) {
				f->ip_summed = CHECKSUM_NONE;   /* what we vouched for is not the peer's to trust */
			}
			/* The frame's bytes: its own buffer handed over when it is ours alone, else a copy. */
			f->owned = NULL;
			if (!need) {
				uint32_t len;
				f->owned = skb_steal_data(skb, &f->owned_off, &len, &f->owned_end);
				if (f->owned)
					skb = NULL;   /* consumed */
			}
			if (skb && f->cap < skb->len) {
				uint8_t *nb = realloc(f->buf, skb->len);
				if (nb) {
					f->buf = nb;
					f->cap = skb->len;
				}
			}
			if (skb && f->cap < skb->len) {
				why = NP_DROP_NOMEM;
				goto unlock;
			}
			if (skb)
				memcpy(f->buf, skb->data, skb->len);
			r->count++;
			/* Under the lock: the peer cannot be unregistered and freed meanwhile. */
			netif_irq_raise(pdev);
		}
	}
unlock:
	pthread_mutex_unlock(&c->lock);

	switch (why) {
	case NP_DROP_NOT_DROPPED_YET:
		if (skb)
			consume_skb(skb);
		break;
	case NP_DROP_DEV_DOWN:
		/* The other end is gone: carrier lost (netif_carrier_off). */
		dev->flags &= ~(unsigned)NPF_RUNNING;
		dev->stats.tx_errors++;
		dev->stats.tx_carrier++;
		kfree_skb_reason(skb, why);
		break;
	default:
		dev->stats.tx_dropped++;
		kfree_skb_reason(skb, why);
		break;
	}
	return NETDEV_TX_OK;
}

/*
 * NAPI poll of one end: takes up to budget frames out of its ring (under the
 * lock, copying each into this stack's skb), then hands them up outside the
 * lock, since receiving may send back through the same cable.
 */
static int cable_poll(struct napi_struct *napi, int budget)
{
	struct net_device *dev = napi->dev;
	struct cable_port *port = dev->priv;
	struct cable *c = port->cable;
	struct cable_ring *r = &c->ring[port->side];
	struct sk_buff_head batch;
	int work = 0;

	skb_queue_head_init(&batch);
	pthread_mutex_lock(&c->lock);
	while (work < budget && r->count) {
		struct cable_frame *f = &r->slot[r->head];
		struct sk_buff *skb;
		if (f->owned) {
			/* Handed over: a head of this stack around the sender's buffer (Linux's build_skb). */
			skb = build_skb(dev->stack, f->owned, f->owned_end);
			if (skb) {
				skb_reserve(skb, f->owned_off);
				skb_put(skb, f->len);
				skb->dev = dev;
			} else {
				free(f->owned);
			}
			f->owned = NULL;
		} else {
			skb = netdev_alloc_skb_copy(dev, f->buf, f->len);
		}
		r->head = (r->head + 1) % CABLE_RING_SIZE;
		r->count--;
		work++;
		if (!skb) {
			/* No skb to free under a reason, so count the drop directly. */
			dev->stats.rx_dropped++;
			dev->stack->drops[NP_DROP_NOMEM]++;
			continue;
		}
		if (f->gso_size) {
			struct skb_shared_info *sh = skb_shinfo(skb);
			sh->gso_size = f->gso_size;
			sh->gso_segs = f->gso_segs;
			sh->gso_type = f->gso_type;
		}
		if (f->ip_summed == CHECKSUM_PARTIAL) {
			/* Like veth: a partial checksum crossing in memory needs no verify (skb_csum_unnecessary). */
			skb->ip_summed = CHECKSUM_PARTIAL;
			skb->csum_start = (uint16_t)(skb->data - skb->head + f->csum_start);
			skb->csum_offset = f->csum_offset;
		}
		skb_queue_tail(&batch, skb);
	}
	pthread_mutex_unlock(&c->lock);

	struct sk_buff *skb;
	while ((skb = skb_dequeue(&batch)) != NULL) {
		/* Like veth (is_skb_forwardable): nothing longer than this end's MTU allows gets in. */
		if (skb->len > dev->mtu + ETH_HLEN + VLAN_HLEN && !skb_is_gso(skb)) {
			dev->stats.rx_dropped++;
			kfree_skb_reason(skb, NP_DROP_PKT_TOO_BIG);
			continue;
		}
		napi_gro_receive(napi, skb);
	}
	return work;
}

/* Called by unregister_netdev: this end leaves; the last one frees the cable. */
static void cable_uninit(struct net_device *dev)
{
	struct cable_port *port = dev->priv;
	struct cable *c = port->cable;
	pthread_mutex_lock(&c->lock);
	c->end[port->side] = NULL;
	cable_ring_free(&c->ring[port->side]);
	int last = --c->refs == 0;
	pthread_mutex_unlock(&c->lock);
	if (last) {
		cable_ring_free(&c->ring[!port->side]);
		pthread_mutex_destroy(&c->lock);
		free(c);
	}
}

static const struct net_device_ops cable_ops = {
	.ndo_start_xmit = cable_xmit,
	.ndo_uninit = cable_uninit,
};

static int cable_name_ok(const char *name)
{
	return name && name[0] && strlen(name) < IFNAMSIZ;
}

int np_cable_create(struct np_stack *a, const char *name_a, struct np_stack *b, const char *name_b,
		    struct np_dev **dev_a, struct np_dev **dev_b)
{
	if (!a || !b || !cable_name_ok(name_a) || !cable_name_ok(name_b))
		return -EINVAL;
	if (dev_get_by_name(a, name_a) || dev_get_by_name(b, name_b) || (a == b && !strcmp(name_a, name_b)))
		return -EEXIST;

	struct cable *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	pthread_mutex_init(&c->lock, NULL);
	struct np_stack *st[2] = { a, b };
	const char *nm[2] = { name_a, name_b };
	struct net_device *d[2] = { NULL, NULL };
	for (int i = 0; i < 2; i++) {
		d[i] = alloc_netdev(st[i], nm[i], sizeof(struct cable_port));
		if (!d[i]) {
			free(d[0]);
			pthread_mutex_destroy(&c->lock);
			free(c);
			return -ENOMEM;
		}
		ether_setup(d[i]);
		d[i]->netdev_ops = &cable_ops;
		/* veth's offloads, off until asked for (np_dev_set_offload): both ends must turn them on. */
		d[i]->hw_features = NETIF_F_OFFLOADS | NETIF_F_GRO;   /* GRO too, off by default as on a veth */
		d[i]->gso_max_size = NP_GSO_MAX_SIZE;
		netif_napi_add(d[i], cable_poll);
		struct cable_port *port = d[i]->priv;
		port->cable = c;
		port->side = i;
	}
	/* Two stacks with the same seed draw the same "random" MAC: keep the ends distinct. */
	if (!memcmp(d[0]->dev_addr, d[1]->dev_addr, ETH_ALEN))
		d[1]->dev_addr[5] ^= 1;

	int rc = register_netdev(d[0]);
	if (rc < 0) {
		/* Neither end is registered: nothing else refers to them. */
		free(d[0]);
		free(d[1]);
		pthread_mutex_destroy(&c->lock);
		free(c);
		return rc;
	}
	pthread_mutex_lock(&c->lock);
	c->end[0] = d[0];
	c->refs = 1;
	pthread_mutex_unlock(&c->lock);
	rc = register_netdev(d[1]);
	if (rc < 0) {
		free(d[1]);
		unregister_netdev(d[0]);   /* its uninit drops the last reference and frees c */
		return rc;
	}
	pthread_mutex_lock(&c->lock);
	c->end[1] = d[1];
	c->refs = 2;
	pthread_mutex_unlock(&c->lock);

	dev_open(d[0]);
	dev_open(d[1]);
	if (dev_a)
		*dev_a = (struct np_dev *)d[0];
	if (dev_b)
		*dev_b = (struct np_dev *)d[1];
	return 0;
}
