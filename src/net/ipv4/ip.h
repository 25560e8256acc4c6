/*
 * IPv4 input and output (Linux's net/ipv4/ip_input.c, ip_output.c).
 * Receive: ip_rcv -> NF_INET_PRE_ROUTING -> ip_rcv_finish -> ip_route_input
 *   -> ip_local_deliver -> ip_defrag (ip_fragment.c) -> NF_INET_LOCAL_IN
 *   -> ip_local_deliver_finish -> inet_protos[proto]->handler
 *   -> ip_forward (seam for the forwarding issue)
 * Send: ip_queue_xmit / ip_build_and_send_pkt -> ip_local_out
 *   -> NF_INET_LOCAL_OUT -> dst_output -> ip_output -> NF_INET_POST_ROUTING
 *   -> ip_finish_output -> ip_fragment (ip_fragment.c) -> ip_finish_output2 -> neigh_output
 */
#ifndef NP_NET_IPV4_IP_H
#define NP_NET_IPV4_IP_H

#include "core/skbuff.h"

struct np_stack;
struct net_device;

/* Per-packet IP control block in skb->cb (Linux's IPCB). */
struct inet_skb_parm {
	uint32_t saddr, daddr;      /* host order, from the header */
	uint8_t protocol;
	uint8_t ttl;
	uint8_t tos;
	uint8_t ihl;                /* header bytes */
	uint16_t flags;             /* IPSKB_* */
	uint16_t frag_off;          /* the header's field: IP_DF, IP_MF and the offset */
	uint16_t id;
};
#define IPCB(skb) ((struct inet_skb_parm *)(void *)(skb)->cb)
/* IPCB flags (Linux's IPSKB_*). */
#define IPSKB_FORWARDED 0x0001      /* set by ip_forward before dst_output */
#define IPSKB_FRAG_COMPLETE 0x0008  /* built by ip_defrag from fragments */
#define IPSKB_RX_DST_NEW 0x0010     /* skb->rt was resolved in full for early demux's socket: cache it there */

int ip_init(struct np_stack *s);  /* registers ip_rcv (ETH_P_IP); 0 or -ENOMEM */
void ip_free(struct np_stack *s);  /* unregisters ip_rcv and frees what ip_init allocated */

/* Consumes skb (data at the IP header): the checks of RFC 1122 3.2.1, then PRE_ROUTING. */
int ip_rcv(struct sk_buff *skb, struct net_device *dev, struct packet_type *pt);
/* Consumes skb: LOCAL_IN then inet_protos dispatch (ICMP protocol unreachable if none). */
int ip_local_deliver(struct np_stack *s, struct sk_buff *skb);

/* Output parameters for a locally generated packet. */
struct ip_out_params {
	uint32_t saddr;             /* 0: the route's preferred source */
	uint32_t daddr;
	uint8_t protocol;
	uint8_t tos;
	uint8_t ttl;                /* 0: net.ipv4.ip_default_ttl */
	uint8_t df;                 /* set IP_DF */
	/*
	 * Linux's skb->ignore_df: the sender may be fragmented despite DF (its
	 * PMTU mode is below IP_PMTUDISC_DO), so a DF datagram still needs a real ID.
	 */
	uint8_t ignore_df;
	struct net_device *oif;     /* NULL: by route */
	/* A connected socket's own ID counter (Linux's inet_sk(sk)->inet_id); NULL: none. */
	uint16_t *inet_id;
};

/*
 * Consumes skb (data at the transport header, headroom for IP + link):
 * routes, pushes the IP header and sends through ip_local_out. When the route
 * was already resolved (skb->rt_valid) it is reused. 0 or a negative errno
 * (-ENETUNREACH, -EMSGSIZE ...).
 */
int ip_build_and_send_pkt(struct np_stack *s, struct sk_buff *skb, const struct ip_out_params *p);
/* Consumes skb (data at a complete IP header, route in skb->rt): LOCAL_OUT -> dst_output. */
int ip_local_out(struct np_stack *s, struct sk_buff *skb);
/* Consumes skb (route in skb->rt): the route's output, ip_output (local routes through lo). */
int dst_output(struct np_stack *s, struct sk_buff *skb);
/* Consumes skb: POST_ROUTING -> ip_finish_output. */
int ip_output(struct np_stack *s, struct sk_buff *skb);
/*
 * The first of segs consecutive IP IDs for a datagram (segs > 1: a GSO
 * super-packet) saddr -> daddr of protocol (ip_output.c, Linux's ip_select_ident_segs).
 */
uint16_t ip_select_ident(struct np_stack *s, uint32_t saddr, uint32_t daddr, uint8_t protocol, unsigned segs);
/* The ID buckets of a stack (ip_init/ip_free); -ENOMEM. */
int ip_idents_init(struct np_stack *s);
void ip_idents_free(struct np_stack *s);
#define NP_IP_IDENTS 2048

/*
 * Fragmentation and reassembly (net/ipv4/ip_fragment.c).
 * ip_fragment: consumes skb (data at the IP header, route in skb->rt): with DF
 * clear, sends fragments of at most mtu bytes through output; with DF set it
 * fails as Linux's ip_fragment does (IpFragFails, ICMP fragmentation needed
 * carrying mtu to the source: for a forwarded packet the RFC 1191 answer, for
 * our own the local error) and returns -EMSGSIZE. ip_finish_output calls it
 * for every skb longer than the route MTU, forwarded or local alike.
 */
int ip_fragment(struct np_stack *s, struct sk_buff *skb, uint32_t mtu,
		int (*output)(struct np_stack *s, struct sk_buff *skb));
/* Linux's ip_exceeds_mtu: true if skb (data at the IP header) cannot leave whole through mtu with DF. */
int ip_exceeds_mtu(const struct sk_buff *skb, uint32_t mtu);
/*
 * Consumes *pskb (a fragment, data at the IP header, IPCB set): queues it.
 * Returns 0 with *pskb replaced by the whole datagram (new linear skb, IPCB
 * with frag_off 0 and IPSKB_FRAG_COMPLETE) when this fragment completed it;
 * -EINPROGRESS when queued; another negative errno when dropped.
 */
int ip_defrag(struct np_stack *s, struct sk_buff **pskb);
int ipfrag_init(struct np_stack *s);   /* allocates s->ipfrag; 0 or -ENOMEM */
void ipfrag_free(struct np_stack *s);  /* frees every queue (STACK_SHUTDOWN) and the table */
/* Bytes reassembly holds now (fragment truesizes + queue heads), for tests and the CLI. */
size_t ipfrag_mem(const struct np_stack *s);
/* Reassembly queues alive now. */
unsigned ipfrag_queues(const struct np_stack *s);

#endif
