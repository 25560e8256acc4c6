/*
 * 802.1Q VLAN devices (Linux's net/8021q): the receive and transmit hooks
 * the device core calls.
 *   rx: netif_receive_skb -> __netif_receive_skb_core (ETH_P_8021Q)
 *       -> vlan_do_receive (untag, skb->dev = VLAN device) -> ptype dispatch
 *   tx: ... -> dev_queue_xmit(VLAN dev) -> vlan_dev_hard_start_xmit (tag)
 *       -> dev_queue_xmit(parent)
 */
#ifndef NP_NET_8021Q_VLAN_H
#define NP_NET_8021Q_VLAN_H

#include <stdint.h>

#include "core/skbuff.h"
#include "netpath/drop_reason.h"

struct net_device;

/* The VLAN device for vid on real_dev, or NULL. */
struct net_device *vlan_find_dev(struct net_device *real_dev, uint16_t vid);
/*
 * skb->data at the 802.1Q tag (after eth_type_trans): strips the tag, moves
 * the MAC addresses up against the inner header (so skb->mac_header is an
 * untagged Ethernet header), sets protocol, vlan_tci and skb->dev to the
 * VLAN device and returns it. On failure returns NULL with *reason set
 * and skb untouched (the caller drops it).
 */
struct net_device *vlan_do_receive(struct sk_buff *skb, enum np_drop_reason *reason);
/* The device core calls this from unregister_netdev: a parent takes its VLAN devices with it. */
void vlan_unregister_children(struct net_device *real_dev);
int is_vlan_dev(const struct net_device *dev);

#endif
