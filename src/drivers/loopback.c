/*
 * The loopback device `lo` (Linux's drivers/net/loopback.c): what a stack
 * sends to itself goes down to the driver and comes straight back up.
 *   ip_finish_output2 -> neigh_output -> dev_queue_xmit -> qdisc
 *   -> dev_hard_start_xmit -> loopback_xmit -> netif_rx -> input_pkt_queue
 *   -> process_backlog -> netif_receive_skb -> eth_type_trans -> ip_rcv
 *
 * As in Linux, lo keeps an Ethernet header (all-zero addresses) so receive
 * has one path for every device: netif_receive_skb and eth_type_trans treat
 * it like any Ethernet frame, and the zero destination matches lo's zero
 * MAC, so the packet is PACKET_HOST.
 */
#include <stdlib.h>
#include <string.h>

#include "core/netdevice.h"
#include "core/stack.h"
#include "drivers/loopback.h"
#include "net/ipv4/route.h"
#include "trace/trace.h"

#define LOOPBACK_MTU 65536
#define INADDR_LOOPBACK_HOST 0x7f000001u

/* Consumes skb: hands it to the backlog of the same stack (never busy, like Linux's lo). */
static netdev_tx_t loopback_xmit(struct sk_buff *skb, struct net_device *dev)
{
	trace_stage(skb, "loopback_xmit");
	/* skb_orphan: the sender's buffer accounting ends here, as in Linux. */
	if (skb->destructor) {
		skb->destructor(skb);
		skb->destructor = NULL;
	}
	skb->sk = NULL;
	skb->dev = dev;
	/* skb->tapped stays set: a capture on lo shows each packet once, as tcpdump -i lo does. */
	/* netif_rx consumes it; a full backlog is counted there (CPU_BACKLOG, rx_dropped). */
	netif_rx(skb);
	return NETDEV_TX_OK;
}

static const struct net_device_ops loopback_ops = {
	.ndo_start_xmit = loopback_xmit,
};

struct net_device *loopback_dev_create(struct np_stack *s)
{
	struct net_device *dev = alloc_netdev(s, "lo", 0);
	if (!dev)
		return NULL;
	ether_setup(dev);
	dev->netdev_ops = &loopback_ops;
	dev->type = ARPHRD_LOOPBACK_;
	dev->flags = NPF_LOOPBACK | NPF_NOARP | NPF_UP | NPF_RUNNING;
	dev->mtu = LOOPBACK_MTU;
	memset(dev->dev_addr, 0, ETH_ALEN);
	memset(dev->broadcast, 0, ETH_ALEN);
	if (register_netdev(dev) < 0) {
		/* Never registered, so nothing else refers to it. */
		free(dev);
		return NULL;
	}
	s->loopback_dev = dev;
	dev_open(dev);
	/* Linux gives lo 127.0.0.1/8 when the inet layer comes up (inetdev_event). */
	if (inet_addr_add(dev, INADDR_LOOPBACK_HOST, 8) < 0) {
		unregister_netdev(dev);
		s->loopback_dev = NULL;
		return NULL;
	}
	return dev;
}
