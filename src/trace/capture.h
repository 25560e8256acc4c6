/*
 * Packet capture to pcap through libpcap: a ptype_all-style tap.
 *   netif_receive_skb -> capture_skb (what the stack received, after rx faults)
 *   dev_hard_start_xmit -> capture_skb (what the stack sent, before tx faults)
 */
#ifndef NP_TRACE_CAPTURE_H
#define NP_TRACE_CAPTURE_H

#include "core/skbuff.h"

struct np_capture;
struct np_stack;

/* Writes skb->data for skb->len bytes (an Ethernet frame) with the time of stack s. Thread-safe. */
void capture_skb(struct np_capture *c, struct np_stack *s, const struct sk_buff *skb);

#endif
