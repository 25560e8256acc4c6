/*
 * Shared by the libFuzzer targets in tests/fuzz: one stack on a virtual
 * clock with an Ethernet device whose driver keeps the last frame the stack
 * sent (so a target can react to it) and frees the rest, and a helper that
 * recomputes the IPv4 header and TCP/UDP/ICMP checksums of a frame so that
 * mutations get past checksum verification and reach the code behind it.
 * Frames enter as a driver hands them up: netif_receive_skb.
 *   us: 10.0.0.1/24 on eth0   peer: 10.0.0.2 (permanent neighbour)
 */
#ifndef NP_FUZZ_COMMON_H
#define NP_FUZZ_COMMON_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/netdevice.h"
#include "core/skbuff.h"
#include "core/stack.h"
#include "net/ipv4/neighbour.h"
#include "net/ipv4/route.h"
#include "netpath/netpath.h"
#include "wire/checksum.h"
#include "wire/eth.h"
#include "wire/ipv4.h"
#include "wire/tcp.h"

#define FZ_IP(a, b, c, d) (((uint32_t)(a) << 24) | ((uint32_t)(b) << 16) | ((uint32_t)(c) << 8) | (uint32_t)(d))
#define FZ_OUR_IP FZ_IP(10, 0, 0, 1)
#define FZ_PEER_IP FZ_IP(10, 0, 0, 2)
#define FZ_T0 1000000000000ull

static const uint8_t fz_peer_mac[6] = { 0x02, 0, 0, 0, 0, 0x02 };

struct fz_cap {
	uint8_t last[2048];
	uint32_t last_len;
	uint64_t sent;
};

static netdev_tx_t fz_xmit(struct sk_buff *skb, struct net_device *dev)
{
	struct fz_cap *c = dev->priv;
	uint32_t n = skb->len < sizeof(c->last) ? skb->len : (uint32_t)sizeof(c->last);
	memcpy(c->last, skb->data, n);
	c->last_len = n;
	c->sent++;
	consume_skb(skb);
	return NETDEV_TX_OK;
}

static const struct net_device_ops fz_ops = { .ndo_start_xmit = fz_xmit };

struct fz_env {
	struct np_clock *clk;
	struct np_stack *s;
	struct net_device *dev;
	struct fz_cap *cap;
};

static inline int fz_setup(struct fz_env *e)
{
	e->clk = np_clock_virtual(FZ_T0);
	struct np_stack_config cfg = { .name = "fuzz", .clock = e->clk, .seed = 1 };
	e->s = np_stack_create(&cfg);
	if (!e->s)
		abort();
	e->dev = alloc_netdev(e->s, "eth0", sizeof(struct fz_cap));
	ether_setup(e->dev);
	e->dev->netdev_ops = &fz_ops;
	e->cap = e->dev->priv;
	if (register_netdev(e->dev) < 0 || dev_open(e->dev) < 0)
		abort();
	if (inet_addr_add(e->dev, FZ_OUR_IP, 24) < 0 || neigh_add_permanent(e->s, e->dev, FZ_PEER_IP, fz_peer_mac) < 0)
		abort();
	return 0;
}

static inline void fz_teardown(struct fz_env *e)
{
	np_stack_destroy(e->s);
	np_clock_destroy(e->clk);
}

static inline void fz_settle(struct fz_env *e)
{
	for (int i = 0; i < 1000 && np_stack_poll(e->s) > 0; i++)
		;
}

/*
 * csum_ok: the frame arrives marked CHECKSUM_UNNECESSARY, as from a NIC that
 * verified it, so TCP and UDP skip their checksum check (a mutated payload
 * gets through without the harness fixing anything).
 */
static inline void fz_inject_csum(struct fz_env *e, const uint8_t *f, size_t len, int csum_ok)
{
	struct sk_buff *skb = netdev_alloc_skb_copy(e->dev, f, (uint32_t)len);
	if (!skb)
		return;
	if (csum_ok)
		skb->ip_summed = CHECKSUM_UNNECESSARY;
	np_stack_lock(e->s);
	netif_receive_skb(skb);
	np_stack_unlock(e->s);
	fz_settle(e);
}

static inline void fz_inject(struct fz_env *e, const uint8_t *f, size_t len)
{
	fz_inject_csum(e, f, len, 0);
}

/* Moves the clock forward by ms, running every timer due on the way. */
static inline void fz_advance(struct fz_env *e, uint64_t ms)
{
	struct np_stack *ss[1] = { e->s };
	np_sim_run(ss, 1, e->clk, np_clock_now(e->clk) + ms * 1000000ull);
	fz_settle(e);
}

/*
 * Makes the checksums of an Ethernet/IPv4 frame right, as far as its own
 * length fields allow (never reading or writing past len): the IP header
 * checksum, then the TCP, UDP or ICMP one over min(tot_len, len) - ihl bytes
 * for first fragments that are not fragments (offset 0, MF clear).
 */
static inline void fz_fix_checksums(uint8_t *f, size_t len)
{
	if (len < ETH_HLEN + IPV4_HLEN_MIN || be16_get(f + 12) != ETH_P_IP)
		return;
	uint8_t *ip = f + ETH_HLEN;
	size_t avail = len - ETH_HLEN;
	size_t ihl = (size_t)(ip[0] & 0x0f) * 4;
	if (ihl < IPV4_HLEN_MIN || ihl > avail)
		return;
	be16_put(ip + 10, 0);
	be16_put(ip + 10, ip_compute_csum(ip, ihl));
	size_t tot = be16_get(ip + 2);
	if (tot > avail)
		tot = avail;
	if (tot <= ihl || (be16_get(ip + 6) & (IP_MF | IP_OFFSET)))
		return;
	uint8_t *l4 = ip + ihl;
	size_t l4len = tot - ihl;
	uint32_t saddr = be32_get(ip + 12), daddr = be32_get(ip + 16);
	switch (ip[9]) {
	case IPPROTO_TCP_:
		if (l4len >= 20) {
			be16_put(l4 + 16, 0);
			uint32_t sum = csum_tcpudp_nofold(saddr, daddr, (uint16_t)l4len, IPPROTO_TCP_, 0);
			be16_put(l4 + 16, csum_fold(csum_partial(l4, l4len, sum)));
		}
		break;
	case IPPROTO_UDP_:
		if (l4len >= 8) {
			size_t ulen = be16_get(l4 + 4);
			if (ulen < 8 || ulen > l4len)
				ulen = l4len;
			be16_put(l4 + 6, 0);
			uint32_t sum = csum_tcpudp_nofold(saddr, daddr, (uint16_t)ulen, IPPROTO_UDP_, 0);
			uint16_t c = csum_fold(csum_partial(l4, ulen, sum));
			be16_put(l4 + 6, c ? c : 0xffff);
		}
		break;
	case IPPROTO_ICMP_:
		if (l4len >= 4) {
			be16_put(l4 + 2, 0);
			be16_put(l4 + 2, ip_compute_csum(l4, l4len));
		}
		break;
	default:
		break;
	}
}

#endif
