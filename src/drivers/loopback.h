/*
 * The loopback device `lo`: ndo_start_xmit hands the packet straight back
 * through netif_rx (Linux's drivers/net/loopback.c).
 *   ip_finish_output2 -> dev_queue_xmit -> loopback_xmit -> netif_rx -> process_backlog
 */
#ifndef NP_DRIVERS_LOOPBACK_H
#define NP_DRIVERS_LOOPBACK_H

struct np_stack;
struct net_device;

/* Creates, registers and opens `lo` with 127.0.0.1/8 and MTU 65536; NULL on failure. */
struct net_device *loopback_dev_create(struct np_stack *s);

#endif
