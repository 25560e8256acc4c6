/*
 * UDP over IPv4 (RFC 768, RFC 1122 4.1; Linux's net/ipv4/udp.c).
 * Place in the packet path:
 *   receive: ip_local_deliver_finish -> inet_protos[IPPROTO_UDP] -> udp_rcv
 *            -> __udp4_lib_lookup_skb -> udp_queue_rcv_skb
 *            -> (owned by user? sk_add_backlog : __udp_queue_rcv_skb)
 *            -> sock_queue_rcv_skb -> sk_data_ready
 *            (broadcast: __udp4_lib_mcast_deliver, one clone per socket)
 *   ICMP:    icmp_unreach -> udp_err -> sk_err on the socket that sent the quoted datagram
 *   send:    inet_sendmsg -> udp_sendmsg -> udp_send_skb -> ip_build_and_send_pkt
 *   recv:    inet_recvmsg -> udp_recvmsg -> skb_recv_datagram
 * The socket layer (src/socket/) reaches UDP only through udp_prot.
 */
#ifndef NP_NET_UDP_UDP_H
#define NP_NET_UDP_UDP_H

#include <stdint.h>

#include "core/skbuff.h"
#include "net/ipv4/ip.h"

struct np_stack;
struct net_device;
struct sock;
struct proto;

/* Linux's default net.ipv4.ip_local_port_range (ephemeral ports, RFC 6056 2.1). */
#define UDP_EPHEMERAL_LOW 32768
#define UDP_EPHEMERAL_HIGH 60999

/* RFC 791 + RFC 768: 65535 - 20 (IP header) - 8 (UDP header). */
#define UDP_MAX_PAYLOAD 65507

/*
 * Per-packet UDP control block: after IPCB in skb->cb, so the IP fields
 * (source and destination address) stay valid for recvmsg beside the ports.
 */
struct udp_skb_cb {
	struct inet_skb_parm header;
	uint16_t sport, dport;      /* host order */
};
#define UDP_SKB_CB(skb) ((struct udp_skb_cb *)(void *)(skb)->cb)
_Static_assert(sizeof(struct udp_skb_cb) <= sizeof(((struct sk_buff *)0)->cb), "UDP_SKB_CB overflows skb->cb");

extern struct proto udp_prot;

/* Allocates the stack's UDP table and registers udp_rcv/udp_err for IPPROTO_UDP. 0 or a negative errno. */
int udp_init(struct np_stack *s);
/* Unregisters UDP and frees the table (sockets still hashed are detached, not freed). */
void udp_free(struct np_stack *s);

/* Consumes skb (data at the UDP header, IPCB filled): the inet_protos handler. */
int udp_rcv(struct sk_buff *skb);
/* ICMP error quoting one of our datagrams (skb data at the quoted IP header); does not consume skb. */
void udp_err(struct sk_buff *skb, uint8_t type, uint8_t code, uint32_t info);

/*
 * The socket for a datagram from saddr:sport to daddr:dport arriving on dev
 * (may be NULL): best score wins (connected 4-tuple > bound address >
 * wildcard; a matching bound device adds), SO_REUSEPORT groups pick a member
 * by a hash of the 4-tuple. NULL if none. Addresses and ports in host order.
 */
struct sock *__udp4_lib_lookup(struct np_stack *s, uint32_t saddr, uint16_t sport, uint32_t daddr,
			       uint16_t dport, const struct net_device *dev);

/* Consumes skb (data at the UDP header): queues it on sk (or its backlog) or drops it. */
int udp_queue_rcv_skb(struct sock *sk, struct sk_buff *skb);

#endif
