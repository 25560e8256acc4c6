/*
 * libFuzzer target: a multi-packet TCP and UDP session. One stack holds a
 * TCP listener on port 80 (the "server": the fuzzer's peer connects from
 * port 40000), a TCP socket that connects out to the peer at 10.0.0.2:5000
 * (the "client"), a UDP server socket on port 53 and a UDP client bound to
 * 10.0.0.1:45001 and connected to the peer at 10.0.0.2:5353.
 * The fuzzer plays the peer, segment by segment, with clock advances and
 * application calls in between; sequence and acknowledgment numbers are
 * given relative to what the harness has seen (the peer's next sequence
 * number, the end of what the stack sent), so small mutations stay near the
 * window, and every checksum is made right.
 * Input: records of 12 bytes:
 *   [0] op % 12: 0 advance clock by be16([1..2]) ms; 1-2 inject a segment;
 *               3 send [1]*16 bytes; 4 recv; 5 shutdown(SHUT_WR); 6 close;
 *               7 accept; 8 inject a UDP datagram; 9 UDP send; 10 UDP recv;
 *               11 inject an ICMP error quoting the last TCP or UDP packet
 *   segment: [1]&1 flow (0 server, 1 client), [2] flags, [3..4] seq delta
 *   (int16), [5..6] ack delta (int16), [7..8] window, [9] payload length,
 *   [10] option set (see opts()), [11] urgent pointer low byte.
 *   datagram (8): [1]&1 flow (0 to port 53, 1 to the client), [1]&2 from a
 *   port the client is not connected to, [1]&4 to a closed port, [1]&8 to
 *   the subnet broadcast; [2..3] payload length (% 1473), [4]&1 checksum 0,
 *   [4]&2 UDP length field += (int8)[5], [4]&4 fragment it (first part [6]*8).
 *   UDP send (9): [2..3] length (% 2000: the long ones fragment), [4]&1 to a
 *   closed peer port. UDP recv (10): [2]&1 MSG_PEEK, [2]&2 MSG_TRUNC, [3] size.
 *   ICMP (11): [1]&1 quote UDP (else TCP), [2] type, [3] code, [4..5]
 *   next-hop MTU, [6] bytes of the quote beyond the IP header (at most 28).
 * The UDP server echoes what it reads (sendto back to the sender), as a
 * DNS server would answer.
 * Checksums are made right by the harness (fz_fix_checksums), so a mutation
 * reaches the code behind checksum verification.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "fuzz_common.h"
#include "netpath/socket.h"
#include "wire/icmp.h"

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
	int ufd[2];            /* UDP: [0] server on port 53, [1] client connected to 10.0.0.2:5353 */
	uint8_t last_tcp[128], last_udp[128];   /* IP header + start of the last TCP / UDP packet sent */
	size_t last_tcp_len, last_udp_len;
	uint16_t ip_id;
};

/* Every segment the stack sends updates our_end for its flow. */
static netdev_tx_t sess_xmit(struct sk_buff *skb, struct net_device *dev)
{
	struct sess *ss = *(struct sess **)dev->priv;
	struct ipv4_repr ip;
	struct tcp_repr th;
	if (skb->len > ETH_HLEN && ipv4_parse(skb->data + ETH_HLEN, skb->len - ETH_HLEN, &ip) == 0 &&
	    (ip.protocol == IPPROTO_TCP_ || ip.protocol == IPPROTO_UDP_)) {
		/* Kept for op 11: ICMP errors quote what the stack sent. */
		uint8_t *q = ip.protocol == IPPROTO_TCP_ ? ss->last_tcp : ss->last_udp;
		size_t n = skb->len - ETH_HLEN < 128 ? skb->len - ETH_HLEN : 128;
		memcpy(q, skb->data + ETH_HLEN, n);
		*(ip.protocol == IPPROTO_TCP_ ? &ss->last_tcp_len : &ss->last_udp_len) = n;
	}
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

/* An Ethernet + IPv4 header from the peer in f; returns the IP header's start. */
static uint8_t *peer_ip(struct sess *ss, uint8_t *f, uint8_t proto, size_t l4len, uint32_t daddr, uint16_t frag)
{
	struct eth_repr eth = { .ethertype = ETH_P_IP };
	memcpy(eth.dst, ss->e.dev->dev_addr, 6);
	memcpy(eth.src, fz_peer_mac, 6);
	eth_emit(&eth, f, ETH_HLEN);
	struct ipv4_repr ip = { .tot_len = (uint16_t)(IPV4_HLEN_MIN + l4len), .id = ++ss->ip_id, .ttl = 64,
				.frag_off = frag, .protocol = proto, .saddr = FZ_PEER_IP, .daddr = daddr };
	ipv4_emit(&ip, f + ETH_HLEN, IPV4_HLEN_MIN);
	return f + ETH_HLEN;
}

/* Op 8: a UDP datagram from the peer, whole or in two fragments. */
static void udp_in(struct sess *ss, const uint8_t *r)
{
	static uint8_t f[ETH_HLEN + IPV4_HLEN_MIN + 8 + 1472];
	size_t plen = be16_get(r + 2) % 1473;
	uint16_t sport = (r[1] & 2) ? 5354 : 5353;
	uint16_t dport = (r[1] & 4) ? 9 : (r[1] & 1) ? 45001 : 53;
	uint32_t daddr = (r[1] & 8) ? FZ_IP(10, 0, 0, 255) : FZ_OUR_IP;
	uint8_t *ip = peer_ip(ss, f, IPPROTO_UDP_, 8 + plen, daddr, 0);
	uint8_t *uh = ip + IPV4_HLEN_MIN;
	be16_put(uh, sport);
	be16_put(uh + 2, dport);
	be16_put(uh + 4, (uint16_t)(8 + plen));
	for (size_t i = 0; i < plen; i++)
		uh[8 + i] = (uint8_t)(i * 7 + r[7]);
	size_t len = ETH_HLEN + IPV4_HLEN_MIN + 8 + plen;
	fz_fix_checksums(f, len);
	if (r[4] & 1)
		be16_put(uh + 6, 0);
	if (r[4] & 2)
		be16_put(uh + 4, (uint16_t)(8 + plen + (int8_t)r[5]));   /* after the checksum: a lie */
	if (!(r[4] & 4)) {
		fz_inject(&ss->e, f, len);
		return;
	}
	/* Two fragments: the first [6]*8 bytes of the UDP datagram, then the rest. */
	size_t l4 = 8 + plen, first = (size_t)r[6] * 8;
	if (first == 0 || first >= l4)
		first = (l4 / 2) & ~(size_t)7;
	if (first == 0) {
		fz_inject(&ss->e, f, len);
		return;
	}
	static uint8_t g[ETH_HLEN + IPV4_HLEN_MIN + 8 + 1472];
	uint16_t id = ss->ip_id + 1;
	memcpy(g, f, ETH_HLEN);
	uint8_t *gi = peer_ip(ss, g, IPPROTO_UDP_, l4 - first, daddr, (uint16_t)(first / 8));
	memcpy(gi + IPV4_HLEN_MIN, uh + first, l4 - first);
	be16_put(gi + 4, id);
	be16_put(ip + 2, (uint16_t)(IPV4_HLEN_MIN + first));
	be16_put(ip + 4, id);
	be16_put(ip + 6, IP_MF);
	fz_fix_checksums(f, ETH_HLEN + IPV4_HLEN_MIN + first);
	fz_fix_checksums(g, ETH_HLEN + IPV4_HLEN_MIN + l4 - first);
	if (r[7] & 1) {
		fz_inject(&ss->e, g, ETH_HLEN + IPV4_HLEN_MIN + l4 - first);
		fz_inject(&ss->e, f, ETH_HLEN + IPV4_HLEN_MIN + first);
	} else {
		fz_inject(&ss->e, f, ETH_HLEN + IPV4_HLEN_MIN + first);
		fz_inject(&ss->e, g, ETH_HLEN + IPV4_HLEN_MIN + l4 - first);
	}
}

/* Op 11: an ICMP error from the peer quoting the last TCP or UDP packet the stack sent. */
static void icmp_in(struct sess *ss, const uint8_t *r)
{
	const uint8_t *q = (r[1] & 1) ? ss->last_udp : ss->last_tcp;
	size_t qlen = (r[1] & 1) ? ss->last_udp_len : ss->last_tcp_len;
	if (qlen < IPV4_HLEN_MIN)
		return;
	size_t want = IPV4_HLEN_MIN + (r[6] % 29);
	if (qlen > want)
		qlen = want;
	uint8_t f[ETH_HLEN + IPV4_HLEN_MIN + 8 + 128];
	uint8_t *ip = peer_ip(ss, f, IPPROTO_ICMP_, 8 + qlen, FZ_OUR_IP, 0);
	uint8_t *ic = ip + IPV4_HLEN_MIN;
	static const uint8_t types[4] = { ICMP_DEST_UNREACH, ICMP_TIME_EXCEEDED, ICMP_PARAMETERPROB, ICMP_SOURCE_QUENCH };
	ic[0] = (r[2] & 0x80) ? r[2] : types[r[2] & 3];
	ic[1] = r[3] % 16;
	be16_put(ic + 2, 0);
	be16_put(ic + 4, 0);
	be16_put(ic + 6, be16_get(r + 4));   /* next-hop MTU for "fragmentation needed" */
	memcpy(ic + 8, q, qlen);
	size_t len = ETH_HLEN + IPV4_HLEN_MIN + 8 + qlen;
	fz_fix_checksums(f, len);
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
	static int trace = -1;   /* FUZZ_TRACE set: print every packet's path (to see what a seed does) */
	if (trace < 0)
		trace = getenv("FUZZ_TRACE") != NULL;
	if (trace)
		np_stack_trace(e->s, NP_TRACE_PATHS, stderr);

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
	ss.ufd[0] = np_socket(e->s, AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	a.sin_port = htons(53);
	np_bind(ss.ufd[0], (struct sockaddr *)&a, sizeof(a));
	ss.ufd[1] = np_socket(e->s, AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	me.sin_port = htons(45001);
	np_bind(ss.ufd[1], (struct sockaddr *)&me, sizeof(me));
	struct sockaddr_in up = p;
	up.sin_port = htons(5353);
	np_connect(ss.ufd[1], (struct sockaddr *)&up, sizeof(up));
	fz_settle(e);

	static char buf[65536];
	for (size_t off = 0; off + 12 <= size; off += 12) {
		const uint8_t *r = data + off;
		struct flow *fl = &ss.fl[r[1] & 1];
		switch (r[0] % 12) {
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
		case 8:
			udp_in(&ss, r);
			break;
		case 9: {
			size_t n = be16_get(r + 2) % 2000;
			memset(buf, 'u', n);
			struct sockaddr_in to = up;
			if (r[4] & 1)
				to.sin_port = htons(9);
			if (r[1] & 1)
				np_send(ss.ufd[1], buf, n, MSG_DONTWAIT);
			else
				np_sendto(ss.ufd[0], buf, n, MSG_DONTWAIT, (struct sockaddr *)&to, sizeof(to));
			break;
		}
		case 10: {
			int rf = MSG_DONTWAIT | ((r[2] & 1) ? MSG_PEEK : 0) | ((r[2] & 2) ? MSG_TRUNC : 0);
			size_t want = r[3] ? (size_t)r[3] * 8 : sizeof(buf);
			struct sockaddr_in from;
			socklen_t fl_len = sizeof(from);
			ssize_t n = np_recvfrom(ss.ufd[r[1] & 1], buf, want, rf, (struct sockaddr *)&from, &fl_len);
			if (n > 65535 || (n > (ssize_t)want && !(rf & MSG_TRUNC)))
				abort();   /* a datagram never outgrows what was asked (or MSG_TRUNC's real length) */
			/* The server answers, as a DNS server would. */
			if (n >= 0 && !(r[1] & 1))
				np_sendto(ss.ufd[0], buf, (size_t)n < want ? (size_t)n : want, MSG_DONTWAIT,
					  (struct sockaddr *)&from, fl_len);
			break;
		}
		case 11:
			icmp_in(&ss, r);
			break;
		}
		fz_settle(e);
	}
	/* Let every timer run out (retransmissions, FIN_WAIT, TIME_WAIT). */
	for (int i = 0; i < 2; i++)
		if (ss.fl[i].fd >= 0)
			np_close(ss.fl[i].fd);
	np_close(ss.lfd);
	np_close(ss.ufd[0]);
	np_close(ss.ufd[1]);
	fz_advance(e, 300000);
	fz_teardown(e);
	return 0;
}
