/*
 * The flooder of the memory-under-flood runs (tests/robustness/flood/run.sh,
 * tests/interop/test_floods.sh). It stands on the kernel's side of netpath's
 * TAP and writes raw Ethernet frames into it through an AF_PACKET socket
 * (sendmmsg batches, qdisc bypass), so netpath's receive path sees exactly
 * what an attacker on the link would send, at a paced rate:
 *   syn   SYNs from random spoofed off-link sources (via the gateway MAC)
 *   frag  8-byte first fragments with random ids and sources, never completed
 *   ooo   out-of-order data into one connection it opened itself (a 1-byte hole
 *         at RCV.NXT, then segments within and beyond the window)
 *   arp   ARP requests for netpath's address and unsolicited replies, each from
 *         a random on-link sender
 * It prints the achieved rate once a second and a summary line at the end.
 * Not part of the library: a test tool, built into BUILD/flood/.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64
#define FRAME_MAX 1600

struct opts {
	const char *ifname, *mode;
	uint32_t dst;                 /* netpath's address, host order */
	uint8_t dst_mac[6];
	uint32_t src_net, src_mask;   /* spoofed sources are drawn from here */
	uint16_t dport;
	double rate;                  /* frames/s; 0 = as fast as possible */
	double duration;              /* s */
	uint32_t seg;                 /* ooo: payload bytes per segment */
	uint32_t span;                /* ooo: bytes above RCV.NXT the segments cover */
};

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 16);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void put32(uint8_t *p, uint32_t v) { put16(p, (uint16_t)(v >> 16)); put16(p + 2, (uint16_t)v); }
static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t get32(const uint8_t *p) { return (uint32_t)get16(p) << 16 | get16(p + 2); }

static uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t len)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += get16(p + i);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	return sum;
}

static uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static uint8_t our_mac[6];
static int ifindex;

/* Ethernet + IPv4 header at f; returns the offset of the L4 header (34). */
static size_t build_ip(uint8_t *f, uint32_t src, uint32_t dst, uint8_t proto, uint16_t l4len,
		       uint16_t id, uint16_t frag, const uint8_t dmac[6])
{
	memcpy(f, dmac, 6);
	memcpy(f + 6, our_mac, 6);
	put16(f + 12, ETHERTYPE_IP);
	uint8_t *ip = f + 14;
	ip[0] = 0x45;
	ip[1] = 0;
	put16(ip + 2, (uint16_t)(20 + l4len));
	put16(ip + 4, id);
	put16(ip + 6, frag);
	ip[8] = 64;
	ip[9] = proto;
	put16(ip + 10, 0);
	put32(ip + 12, src);
	put32(ip + 16, dst);
	put16(ip + 10, csum_fold(csum_add(0, ip, 20)));
	return 34;
}

/* A TCP segment (header with options opt/optlen, then len payload bytes) in f; returns the frame length. */
static size_t tcp_frame(uint8_t *f, const uint8_t dmac[6], uint32_t src, uint32_t dst, uint16_t sport,
			uint16_t dport, uint32_t seq, uint32_t ack, uint8_t flags, uint16_t win,
			const uint8_t *opt, size_t optlen, size_t len)
{
	size_t thl = 20 + optlen;
	size_t o = build_ip(f, src, dst, 6, (uint16_t)(thl + len), (uint16_t)rnd(), 0x4000, dmac);
	uint8_t *t = f + o;
	put16(t, sport);
	put16(t + 2, dport);
	put32(t + 4, seq);
	put32(t + 8, ack);
	t[12] = (uint8_t)((thl / 4) << 4);
	t[13] = flags;
	put16(t + 14, win);
	put16(t + 16, 0);
	put16(t + 18, 0);
	if (optlen)
		memcpy(t + 20, opt, optlen);
	for (size_t i = 0; i < len; i++)
		t[thl + i] = (uint8_t)('a' + i % 26);
	uint8_t ph[12];
	put32(ph, src);
	put32(ph + 4, dst);
	ph[8] = 0;
	ph[9] = 6;
	put16(ph + 10, (uint16_t)(thl + len));
	put16(t + 16, csum_fold(csum_add(csum_add(0, ph, 12), t, thl + len)));
	return o + thl + len;
}

static uint32_t rand_src(const struct opts *o)
{
	for (;;) {
		uint32_t host = rnd() & ~o->src_mask;
		if (host != 0 && host != ~o->src_mask) {
			uint32_t a = o->src_net | host;
			if (a != o->dst)
				return a;
		}
	}
}

/* ---- frame generators: each fills one frame and returns its length ---- */

static size_t gen_syn(const struct opts *o, uint8_t *f)
{
	/* MSS 1460, SACK permitted, timestamps, window scale 7: what a Linux client sends. */
	uint8_t opt[20] = { 2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 0, 0, 0, 0, 0, 1, 3, 3, 7 };
	put32(opt + 8, rnd());
	return tcp_frame(f, o->dst_mac, rand_src(o), o->dst, (uint16_t)(1024 + rnd() % 64000), o->dport,
			 rnd() << 1 ^ rnd(), 0, 0x02, 64240, opt, sizeof(opt), 0);
}

static size_t gen_frag(const struct opts *o, uint8_t *f)
{
	/* First fragment (offset 0, MF) of a UDP datagram: 8 bytes, the UDP header only. */
	size_t l4 = build_ip(f, rand_src(o), o->dst, 17, 8, (uint16_t)rnd(), 0x2000, o->dst_mac);
	uint8_t *u = f + l4;
	put16(u, (uint16_t)(1024 + rnd() % 60000));
	put16(u + 2, o->dport);
	put16(u + 4, 1480);
	put16(u + 6, 0);
	return l4 + 8;
}

static size_t gen_arp(const struct opts *o, uint8_t *f, uint64_t k)
{
	uint8_t smac[6] = { 0x02, 0xf1, (uint8_t)rnd(), (uint8_t)rnd(), (uint8_t)rnd(), (uint8_t)rnd() };
	int request = (k & 1) == 0;
	memcpy(f, request ? (const uint8_t *)"\xff\xff\xff\xff\xff\xff" : o->dst_mac, 6);
	memcpy(f + 6, our_mac, 6);
	put16(f + 12, ETHERTYPE_ARP);
	uint8_t *a = f + 14;
	put16(a, 1);
	put16(a + 2, ETHERTYPE_IP);
	a[4] = 6;
	a[5] = 4;
	put16(a + 6, request ? 1 : 2);
	memcpy(a + 8, smac, 6);
	put32(a + 14, rand_src(o));
	memcpy(a + 18, request ? (const uint8_t *)"\0\0\0\0\0\0" : o->dst_mac, 6);
	put32(a + 24, o->dst);
	memset(f + 42, 0, 18);
	return 60;
}

/* ---- the ooo connection ---- */

struct conn {
	uint32_t src;
	uint16_t sport;
	uint32_t snd_nxt;     /* our next sequence number (after the SYN) */
	uint32_t rcv_nxt;     /* netpath's ISN + 1 */
	uint32_t wnd;         /* netpath's window in bytes (from its SYN-ACK, wscale applied later) */
	int wscale;
};

/* Opens one connection by hand: SYN, wait for the SYN-ACK on the packet socket, ACK. 0 or -1. */
static int ooo_connect(int fd, const struct opts *o, struct conn *c)
{
	uint8_t f[FRAME_MAX], opt[8] = { 2, 4, 0x05, 0xb4, 1, 3, 3, 7 };
	c->src = rand_src(o);
	c->sport = (uint16_t)(20000 + rnd() % 30000);
	uint32_t iss = rnd();
	struct sockaddr_ll to = { .sll_family = AF_PACKET, .sll_ifindex = ifindex, .sll_halen = 6 };
	memcpy(to.sll_addr, o->dst_mac, 6);
	for (int attempt = 0; attempt < 5; attempt++) {
		size_t n = tcp_frame(f, o->dst_mac, c->src, o->dst, c->sport, o->dport, iss, 0, 0x02, 64240, opt, 8, 0);
		if (sendto(fd, f, n, 0, (struct sockaddr *)&to, sizeof(to)) < 0)
			perror("flood: sendto SYN");
		double until = now_s() + 1.0;
		while (now_s() < until) {
			struct pollfd p = { .fd = fd, .events = POLLIN };
			if (poll(&p, 1, 100) <= 0)
				continue;
			ssize_t r = recv(fd, f, sizeof(f), MSG_DONTWAIT);
			if (r < 54 || get16(f + 12) != ETHERTYPE_IP || f[23] != 6)
				continue;
			const uint8_t *ip = f + 14;
			size_t ihl = (size_t)(ip[0] & 15) * 4;
			const uint8_t *t = ip + ihl;
			if ((size_t)r < 14 + ihl + 20 || get32(ip + 12) != o->dst || get32(ip + 16) != c->src ||
			    get16(t) != o->dport || get16(t + 2) != c->sport || (t[13] & 0x12) != 0x12 ||
			    get32(t + 8) != iss + 1)
				continue;
			c->rcv_nxt = get32(t + 4) + 1;
			c->snd_nxt = iss + 1;
			c->wnd = get16(t + 14);
			c->wscale = 0;
			size_t thl = (size_t)(t[12] >> 4) * 4;
			for (size_t i = 20; i < thl && 14 + ihl + i < (size_t)r;) {
				uint8_t kind = t[i];
				if (kind == 0)
					break;
				if (kind == 1) {
					i++;
					continue;
				}
				if (i + 1 >= thl || t[i + 1] < 2)
					break;
				if (kind == 3 && t[i + 1] == 3)
					c->wscale = t[i + 2];
				i += t[i + 1];
			}
			n = tcp_frame(f, o->dst_mac, c->src, o->dst, c->sport, o->dport, c->snd_nxt, c->rcv_nxt,
				      0x10, 64240 >> 7, NULL, 0, 0);
			if (sendto(fd, f, n, 0, (struct sockaddr *)&to, sizeof(to)) < 0)
				perror("flood: sendto ACK");
			printf("flood: ooo connection %s:%u -> port %u established (window %u, wscale %d)\n",
			       inet_ntoa((struct in_addr){ htonl(c->src) }), c->sport, o->dport, c->wnd, c->wscale);
			fflush(stdout);
			return 0;
		}
	}
	return -1;
}

static size_t gen_ooo(const struct opts *o, uint8_t *f, const struct conn *c)
{
	/* Leave byte snd_nxt missing; every segment lands somewhere in [snd_nxt+1, snd_nxt+span). */
	uint32_t slots = o->span / o->seg;
	uint32_t off = 1 + (rnd() % (slots ? slots : 1)) * o->seg;
	return tcp_frame(f, o->dst_mac, c->src, o->dst, c->sport, o->dport, c->snd_nxt + off, c->rcv_nxt,
			 0x10, 64240 >> 7, NULL, 0, o->seg);
}

static int parse_mac(const char *s, uint8_t m[6])
{
	unsigned v[6];
	if (sscanf(s, "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6)
		return -1;
	for (int i = 0; i < 6; i++)
		m[i] = (uint8_t)v[i];
	return 0;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: flood --if IFNAME --mode syn|frag|ooo|arp --dst A.B.C.D --dst-mac MAC\n"
		"             [--src-net A.B.C.D/N] [--port N] [--rate PPS] [--duration SEC]\n"
		"             [--seg BYTES] [--span BYTES] [--seed N]\n"
		"Sends frames into IFNAME (the kernel's side of netpath's TAP) at --rate\n"
		"frames/s (0: as fast as it can) for --duration seconds. Needs CAP_NET_RAW.\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct opts o = { .mode = "syn", .dport = 7, .rate = 50000, .duration = 10, .seg = 1000, .span = 1 << 20 };
	int have_mac = 0;
	inet_pton(AF_INET, "198.18.0.0", &o.src_net);
	o.src_net = ntohl(o.src_net);
	o.src_mask = 0xfffe0000u;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!v)
			usage();
		i++;
		if (!strcmp(a, "--if"))
			o.ifname = v;
		else if (!strcmp(a, "--mode"))
			o.mode = v;
		else if (!strcmp(a, "--dst")) {
			struct in_addr in;
			if (inet_pton(AF_INET, v, &in) != 1)
				usage();
			o.dst = ntohl(in.s_addr);
		} else if (!strcmp(a, "--dst-mac")) {
			if (parse_mac(v, o.dst_mac))
				usage();
			have_mac = 1;
		} else if (!strcmp(a, "--src-net")) {
			char buf[64];
			snprintf(buf, sizeof(buf), "%s", v);
			char *sl = strchr(buf, '/');
			int len = sl ? atoi(sl + 1) : 32;
			if (sl)
				*sl = 0;
			struct in_addr in;
			if (inet_pton(AF_INET, buf, &in) != 1 || len < 8 || len > 30)
				usage();
			o.src_mask = len ? 0xffffffffu << (32 - len) : 0;
			o.src_net = ntohl(in.s_addr) & o.src_mask;
		} else if (!strcmp(a, "--port"))
			o.dport = (uint16_t)atoi(v);
		else if (!strcmp(a, "--rate"))
			o.rate = atof(v);
		else if (!strcmp(a, "--duration"))
			o.duration = atof(v);
		else if (!strcmp(a, "--seg"))
			o.seg = (uint32_t)atoi(v);
		else if (!strcmp(a, "--span"))
			o.span = (uint32_t)atoi(v);
		else if (!strcmp(a, "--seed"))
			rng ^= strtoull(v, NULL, 0) * 0x2545f4914f6cdd1dull;
		else
			usage();
	}
	if (!o.ifname || !o.dst || !have_mac || o.seg < 1 || o.seg > 1400)
		usage();
	int mode = !strcmp(o.mode, "syn") ? 0 : !strcmp(o.mode, "frag") ? 1 : !strcmp(o.mode, "ooo") ? 2 :
		   !strcmp(o.mode, "arp") ? 3 : -1;
	if (mode < 0)
		usage();

	/* Protocol 0: a send-only socket (nothing queued to read), except for the ooo handshake. */
	uint16_t proto = mode == 2 ? htons(ETH_P_ALL) : 0;
	int fd = socket(AF_PACKET, SOCK_RAW, proto);
	if (fd < 0) {
		perror("flood: socket(AF_PACKET)");
		return 1;
	}
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", o.ifname);
	if (ioctl(fd, SIOCGIFINDEX, &ifr) < 0) {
		perror("flood: SIOCGIFINDEX");
		return 1;
	}
	ifindex = ifr.ifr_ifindex;
	if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0) {
		perror("flood: SIOCGIFHWADDR");
		return 1;
	}
	memcpy(our_mac, ifr.ifr_hwaddr.sa_data, 6);
	struct sockaddr_ll ll = { .sll_family = AF_PACKET, .sll_protocol = proto, .sll_ifindex = ifindex };
	if (bind(fd, (struct sockaddr *)&ll, sizeof(ll)) < 0) {
		perror("flood: bind");
		return 1;
	}
	int one = 1;
	setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one));
	int sndbuf = 4 << 20;
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));

	struct conn c;
	memset(&c, 0, sizeof(c));
	if (mode == 2 && ooo_connect(fd, &o, &c) < 0) {
		fprintf(stderr, "flood: ooo: no SYN-ACK from %s port %u after 5 SYNs\n",
			inet_ntoa((struct in_addr){ htonl(o.dst) }), o.dport);
		return 1;
	}
	if (mode == 2) {
		/* The handshake is over: stop queueing every frame netpath sends (its duplicate ACKs). */
		int zero = 0;
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &zero, sizeof(zero));
	}

	static uint8_t frames[BATCH][FRAME_MAX];
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH];
	memset(msgs, 0, sizeof(msgs));
	double t0 = now_s(), next_report = t0 + 1, last_t = t0;
	uint64_t sent = 0, errors = 0, k = 0, last_sent = 0;
	for (;;) {
		double t = now_s();
		if (t - t0 >= o.duration)
			break;
		if (t >= next_report) {
			printf("flood: %s t=%.1f sent %llu rate %.0f/s\n", o.mode, t - t0, (unsigned long long)sent,
			       (double)(sent - last_sent) / (t - last_t));
			fflush(stdout);
			last_sent = sent;
			last_t = t;
			next_report += 1;
		}
		int n = BATCH;
		if (o.rate > 0) {
			double due = (t - t0) * o.rate - (double)(sent + errors);
			if (due < 1) {
				struct timespec ts = { 0, 200000 };
				nanosleep(&ts, NULL);
				continue;
			}
			if (due < n)
				n = (int)due;
		}
		for (int i = 0; i < n; i++, k++) {
			size_t len = mode == 0 ? gen_syn(&o, frames[i]) : mode == 1 ? gen_frag(&o, frames[i]) :
				     mode == 2 ? gen_ooo(&o, frames[i], &c) : gen_arp(&o, frames[i], k);
			iov[i].iov_base = frames[i];
			iov[i].iov_len = len;
			msgs[i].msg_hdr.msg_iov = &iov[i];
			msgs[i].msg_hdr.msg_iovlen = 1;
		}
		int r = sendmmsg(fd, msgs, (unsigned)n, 0);
		if (r < 0) {
			if (errno != ENOBUFS && errno != EAGAIN && errno != EINTR) {
				perror("flood: sendmmsg");
				return 1;
			}
			errors += (uint64_t)n;   /* the TAP's queue was full: counted against the rate, not as sent */
		} else {
			sent += (uint64_t)r;
			errors += (uint64_t)(n - r);
		}
	}
	double el = now_s() - t0;
	if (mode == 2) {
		/* Reset the connection exactly at RCV.NXT so netpath frees what it queued. */
		uint8_t f[FRAME_MAX];
		size_t len = tcp_frame(f, o.dst_mac, c.src, o.dst, c.sport, o.dport, c.snd_nxt, 0, 0x04, 0, NULL, 0, 0);
		struct sockaddr_ll to = { .sll_family = AF_PACKET, .sll_ifindex = ifindex, .sll_halen = 6 };
		memcpy(to.sll_addr, o.dst_mac, 6);
		if (sendto(fd, f, len, 0, (struct sockaddr *)&to, sizeof(to)) < 0)
			perror("flood: sendto RST");
	}
	printf("flood: done mode %s sent %llu failed %llu in %.2f s: %.0f frames/s (target %.0f)\n", o.mode,
	       (unsigned long long)sent, (unsigned long long)errors, el, (double)sent / el, o.rate);
	close(fd);
	return 0;
}
