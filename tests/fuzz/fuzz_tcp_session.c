/*
 * libFuzzer target: a multi-packet TCP session. One stack holds a listener
 * on port 80 (the "server": the fuzzer's peer connects from port 40000) and
 * a socket that connects out to the peer at 10.0.0.2:5000 (the "client").
 * The fuzzer plays the peer, segment by segment, with clock advances and
 * application calls in between; sequence and acknowledgment numbers are
 * given relative to what the harness has seen (the peer's next sequence
 * number, the end of what the stack sent), so small mutations stay near the
 * window, and every checksum is made right.
 * Input: records of 12 bytes:
 *   [0] op % 8: 0 advance clock by be16([1..2]) ms; 1-2 inject a segment;
 *               3 send [1]*16 bytes; 4 recv; 5 shutdown(SHUT_WR); 6 close;
 *               7 accept
 *   segment: [1]&1 flow (0 server, 1 client), [2] flags, [3..4] seq delta
 *   (int16), [5..6] ack delta (int16), [7..8] window, [9] payload length,
 *   [10] option set (see opts()), [11] urgent pointer low byte.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "fuzz_common.h"
#include "netpath/socket.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct flow {
	uint16_t peer_port, our_port;
	uint32_t peer_nxt;     /* the peer's next sequence number */
	uint32_t our_end;      /* end of the last segment the stack sent on this flow */
	int fd;
};

struct sess {
	struct fz_env e;
	struct flow fl[2];
	int lfd;
};

/* Every segment the stack sends updates our_end for its flow. */
static netdev_tx_t sess_xmit(struct sk_buff *skb, struct net_device *dev)
{
	struct sess *ss = *(struct sess **)dev->priv;
	struct ipv4_repr ip;
	struct tcp_repr th;
	if (skb->len > ETH_HLEN && ipv4_parse(skb->data + ETH_HLEN, skb->len - ETH_HLEN, &ip) == 0 &&
	    ip.protocol == IPPROTO_TCP_ &&
	    tcp_parse(skb->data + ETH_HLEN + ip.ihl, ip.tot_len - ip.ihl, &th) == 0) {
		for (int i = 0; i < 2; i++)
			if (ss->fl[i].peer_port == th.dport)
				ss->fl[i].our_end = th.seq + (uint32_t)th.payload_len + !!(th.flags & TCPF_SYN) +
						    !!(th.flags & TCPF_FIN);
	}
	consume_skb(skb);
	return NETDEV_TX_OK;
}

static const struct net_device_ops sess_ops = { .ndo_start_xmit = sess_xmit };

/* Option sets: 0 none, 1 MSS, 2 full SYN set, 3 SACK of our data, 4 TS, 5 garbage lengths, 6 wscale 14, 7 MSS 0. */
static size_t opts(uint8_t *o, uint8_t sel, const struct flow *f)
{
	switch (sel % 8) {
	case 1: o[0] = 2; o[1] = 4; be16_put(o + 2, 1460); return 4;
	case 2:
		o[0] = 2; o[1] = 4; be16_put(o + 2, 536); o[4] = 4; o[5] = 2; o[6] = 8; o[7] = 10;
		be32_put(o + 8, 12345); be32_put(o + 12, 0); o[16] = 1; o[17] = 3; o[18] = 3; o[19] = 7;
		return 20;
	case 3:
		o[0] = 1; o[1] = 1; o[2] = 5; o[3] = 10;
		be32_put(o + 4, f->our_end - 2000); be32_put(o + 8, f->our_end - 1000);
		return 12;
	case 4: o[0] = 1; o[1] = 1; o[2] = 8; o[3] = 10; be32_put(o + 4, 999); be32_put(o + 8, 1); return 12;
	case 5: o[0] = 2; o[1] = 3; o[2] = 30; o[3] = 1; return 4;
	case 6: o[0] = 1; o[1] = 3; o[2] = 3; o[3] = 14; return 4;
	case 7: o[0] = 2; o[1] = 4; o[2] = 0; o[3] = 0; return 4;
	default: return 0;
	}
}

static void seg(struct sess *ss, const uint8_t *r)
{
	struct flow *fl = &ss->fl[r[1] & 1];
	uint8_t f[ETH_HLEN + IPV4_HLEN_MIN + 60 + 256];
	uint8_t flags = r[2];
	uint32_t seq = fl->peer_nxt + (uint32_t)(int16_t)be16_get(r + 3);
	uint32_t ack = fl->our_end + (uint32_t)(int16_t)be16_get(r + 5);
	size_t plen = r[9];
	uint8_t o[40];
	size_t olen = opts(o, r[10], fl);
	size_t hlen = 20 + ((olen + 3) & ~(size_t)3);
	memset(o + olen, 0, sizeof(o) - olen);

	struct eth_repr eth = { .ethertype = ETH_P_IP };
	memcpy(eth.dst, ss->e.dev->dev_addr, 6);
	memcpy(eth.src, fz_peer_mac, 6);
	eth_emit(&eth, f, ETH_HLEN);
	struct ipv4_repr ip = { .tot_len = (uint16_t)(IPV4_HLEN_MIN + hlen + plen), .id = 1, .ttl = 64,
				.protocol = IPPROTO_TCP_, .saddr = FZ_PEER_IP, .daddr = FZ_OUR_IP };
	ipv4_emit(&ip, f + ETH_HLEN, IPV4_HLEN_MIN);
	uint8_t *l4 = f + ETH_HLEN + IPV4_HLEN_MIN;
	memset(l4, 0, hlen);
	be16_put(l4, fl->peer_port);
	be16_put(l4 + 2, fl->our_port);
	be32_put(l4 + 4, seq);
	be32_put(l4 + 8, ack);
	l4[12] = (uint8_t)((hlen / 4) << 4);
	l4[13] = flags;
	be16_put(l4 + 14, be16_get(r + 7));
	be16_put(l4 + 18, r[11]);
	memcpy(l4 + 20, o, hlen - 20);
	for (size_t i = 0; i < plen; i++)
		l4[hlen + i] = (uint8_t)(seq + i);
	size_t len = ETH_HLEN + IPV4_HLEN_MIN + hlen + plen;
	fz_fix_checksums(f, len);
	/* The peer's sequence space moves on only for a segment exactly at its next number. */
	if (seq == fl->peer_nxt && !(flags & TCPF_RST))
		fl->peer_nxt = seq + (uint32_t)plen + !!(flags & TCPF_SYN) + !!(flags & TCPF_FIN);
	fz_inject(&ss->e, f, len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct sess ss;
	memset(&ss, 0, sizeof(ss));
	struct fz_env *e = &ss.e;
	fz_setup(e);
	e->dev->netdev_ops = &sess_ops;
	*(struct sess **)e->dev->priv = &ss;

	ss.lfd = np_socket(e->s, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(80) };
	np_bind(ss.lfd, (struct sockaddr *)&a, sizeof(a));
	np_listen(ss.lfd, 4);
	ss.fl[0] = (struct flow){ .peer_port = 40000, .our_port = 80, .peer_nxt = 1000, .fd = -1 };
	ss.fl[1] = (struct flow){ .peer_port = 5000, .our_port = 45000, .peer_nxt = 7000, .fd = -1 };
	ss.fl[1].fd = np_socket(e->s, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	struct sockaddr_in me = { .sin_family = AF_INET, .sin_port = htons(45000) };
	me.sin_addr.s_addr = htonl(FZ_OUR_IP);
	np_bind(ss.fl[1].fd, (struct sockaddr *)&me, sizeof(me));
	struct sockaddr_in p = { .sin_family = AF_INET, .sin_port = htons(5000) };
	p.sin_addr.s_addr = htonl(FZ_PEER_IP);
	np_connect(ss.fl[1].fd, (struct sockaddr *)&p, sizeof(p));
	fz_settle(e);

	static char buf[65536];
	for (size_t off = 0; off + 12 <= size; off += 12) {
		const uint8_t *r = data + off;
		struct flow *fl = &ss.fl[r[1] & 1];
		switch (r[0] % 8) {
		case 0:
			fz_advance(e, be16_get(r + 1));
			break;
		case 1:
		case 2:
			seg(&ss, r);
			break;
		case 3:
			if (fl->fd >= 0) {
				memset(buf, 'x', (size_t)r[2] * 16);
				np_send(fl->fd, buf, (size_t)r[2] * 16, MSG_DONTWAIT);
			}
			break;
		case 4:
			if (fl->fd >= 0)
				np_recv(fl->fd, buf, sizeof(buf), MSG_DONTWAIT);
			break;
		case 5:
			if (fl->fd >= 0)
				np_shutdown(fl->fd, SHUT_WR);
			break;
		case 6:
			if (fl->fd >= 0) {
				np_close(fl->fd);
				fl->fd = -1;
			}
			break;
		case 7:
			if (ss.fl[0].fd < 0)
				ss.fl[0].fd = np_accept(ss.lfd, NULL, NULL);
			break;
		}
		fz_settle(e);
	}
	/* Let every timer run out (retransmissions, FIN_WAIT, TIME_WAIT). */
	for (int i = 0; i < 2; i++)
		if (ss.fl[i].fd >= 0)
			np_close(ss.fl[i].fd);
	np_close(ss.lfd);
	fz_advance(e, 300000);
	fz_teardown(e);
	return 0;
}
