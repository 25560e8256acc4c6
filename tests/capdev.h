/*
 * Test fixture shared by the unit tests: a device whose driver captures
 * every frame the stack transmits (the frames can then be parsed with the
 * wire layer), so a test can inject a frame with netif_receive_skb and
 * assert on exactly what the stack sent back.
 */
#ifndef NP_TESTS_CAPDEV_H
#define NP_TESTS_CAPDEV_H

#include <stdlib.h>
#include <string.h>

#include "core/netdevice.h"
#include "core/skbuff.h"

/* A host-order IPv4 address from its four bytes. */
#define IP(a, b, c, d) (((uint32_t)(a) << 24) | ((uint32_t)(b) << 16) | ((uint32_t)(c) << 8) | (uint32_t)(d))

#ifndef MAX_CAP
#define MAX_CAP 256
#endif

struct cap {
	int n;
	uint32_t len[MAX_CAP];
	uint8_t *frame[MAX_CAP];
};

static netdev_tx_t cap_xmit(struct sk_buff *skb, struct net_device *dev)
{
	struct cap *c = dev->priv;
	if (c->n < MAX_CAP) {
		c->frame[c->n] = malloc(skb->len);
		memcpy(c->frame[c->n], skb->data, skb->len);
		c->len[c->n++] = skb->len;
	}
	consume_skb(skb);
	return NETDEV_TX_OK;
}

/* Forgets (and frees) every captured frame. */
static inline void cap_clear(struct cap *c)
{
	for (int i = 0; i < c->n; i++)
		free(c->frame[i]);
	c->n = 0;
}

static void cap_uninit(struct net_device *dev) { cap_clear(dev->priv); }

static const struct net_device_ops cap_ops = {
	.ndo_start_xmit = cap_xmit,
	.ndo_uninit = cap_uninit,
};

/* Creates, registers and opens an Ethernet capture device; its struct cap is dev->priv. */
static inline struct net_device *capdev_add(struct np_stack *s, const char *name)
{
	struct net_device *dev = alloc_netdev(s, name, sizeof(struct cap));
	if (!dev)
		return NULL;
	ether_setup(dev);
	dev->netdev_ops = &cap_ops;
	if (register_netdev(dev) < 0) {
		free(dev);
		return NULL;
	}
	dev_open(dev);
	return dev;
}

#endif
