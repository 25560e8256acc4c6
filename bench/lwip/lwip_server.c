/*
 * lwip_server: the lwIP column of netpath's benchmarks (bench/run.sh). It
 * serves what `npload echo-server --backend np-tap` serves, on a TAP, with
 * lwIP 2.1 (Debian's liblwip) instead of netpath, so npload's client over
 * the kernel's sockets can measure both the same way.
 *
 *   lwip_server --tap IF --addr A.B.C.D/N [--gw A.B.C.D] --port P
 *               [--proto udp|tcp] [--size BYTES] [--mode echo|stream-recv]
 *               [--duration SEC] [--warmup SEC]
 *
 * --mode echo (default): UDP and TCP echo on --port, like npload
 * echo-server; --duration is the server's life. --mode stream-recv: a TCP
 * sink, like npload stream-recv: reads and drops, and measures goodput over
 * --duration from --warmup after the first byte.
 *
 * One thread, lwIP's raw (callback) API: poll() on the TAP, read() each
 * frame into a pbuf of its own, ethernet_input() runs lwIP's whole receive
 * path, and the UDP / TCP callbacks echo from inside it; the reply leaves
 * through our linkoutput (writev on the TAP) before ethernet_input returns.
 * lwIP's timers run from the same loop (sys_check_timeouts); tcpip_init is
 * never called, so no tcpip thread exists. This is the event-loop model,
 * the counterpart of npload's --np-loop poll.
 *
 * The TAP glue is ours, not Debian's tapif: that one reads 1514-byte
 * frames into the library's 616-byte pool buffers. Here every frame gets a
 * PBUF_RAM pbuf of MTU + 14 + 4 + 1 bytes, read() fills it directly (as
 * netpath's tap driver fills a fresh skb), and pbuf_realloc trims it.
 * Frames are sent padded to 60 bytes, as netpath's tap driver does.
 *
 * lwIP's options are those Debian compiled the library with (its
 * lwipopts.h, which we must include unchanged: the structures depend on
 * it): pools from malloc (no pbuf or PCB limits), TCP_WND 65535 (window
 * scaling on with shift 1, so the receive window stays 64 KiB),
 * TCP_SND_BUF 65535, MSS 1460, LWIP_ASSERT compiled in, checksums generated
 * and checked in software (lwIP's defaults), like netpath on a TAP.
 *
 * Output matches npload's: "lwip_server: echo-server ready" (or
 * "stream-recv ready") on stderr once the TAP exists, one "npload
 * mode=echo-server backend=lwip ... packets=... cpu_s=..." (or
 * "mode=stream-recv ... gbps=...") line on stdout at the end.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "lwip/init.h"
#include "lwip/etharp.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "lwip/tcp.h"
#include "lwip/timeouts.h"
#include "lwip/udp.h"
#include "netif/ethernet.h"

#define ETH_HDR 14
#define ETH_MIN 60
#define RX_SIZE (1500 + ETH_HDR + 4 + 1)   /* MTU + header + a VLAN tag + one byte to see a too-long frame */
#define RX_BUDGET 64                       /* frames per wake-up before timers get a turn */

#define BENCH_PROG "lwip_server"
#include "../bench_util.h"

static int tap_fd = -1;
static unsigned long packets, bytes, tcp_bytes, tx_errors, rx_too_big;   /* packets: UDP datagrams */
static unsigned long echo_size = 64;
static int sink;   /* --mode stream-recv */
/* The sink's measurement: from warmup after the first byte, for duration. */
static double sink_warmup = 0.3, sink_duration = 2.0;
static double t_first, t_win, t_last, cpu_win = -1;
static unsigned long long win_bytes;

/* ---- the TAP glue: lwIP's netif on a Linux TAP ---------------------------------- */

/* linkoutput: one writev of the frame (all pbufs of the chain), padded to the Ethernet minimum. */
static err_t tap_linkoutput(struct netif *nif, struct pbuf *p)
{
	static const uint8_t zeros[ETH_MIN];
	struct iovec iov[17];
	int n = 0;
	(void)nif;
	for (struct pbuf *q = p; q && n < 16; q = q->next)
		iov[n++] = (struct iovec){ .iov_base = q->payload, .iov_len = q->len };
	if (p->tot_len < ETH_MIN)
		iov[n++] = (struct iovec){ .iov_base = (void *)zeros, .iov_len = ETH_MIN - p->tot_len };
	ssize_t w;
	do
		w = writev(tap_fd, iov, n);
	while (w < 0 && errno == EINTR);
	if (w < 0) {
		/* EIO: the host side is not up yet (lwIP's gratuitous ARP at netif_set_up, so every
		 * run counts 1); EAGAIN: the kernel's queue is full. The frame is lost, as on a NIC. */
		tx_errors++;
		return ERR_IF;
	}
	return ERR_OK;
}

static err_t tap_netif_init(struct netif *nif)
{
	static const uint8_t mac[6] = { 0x02, 0x4c, 0x57, 0x49, 0x50, 0x02 };
	nif->name[0] = 't';
	nif->name[1] = 'p';
	nif->mtu = 1500;
	nif->hwaddr_len = 6;
	memcpy(nif->hwaddr, mac, 6);
	nif->flags = NETIF_FLAG_BROADCAST | NETIF_FLAG_ETHARP | NETIF_FLAG_ETHERNET | NETIF_FLAG_LINK_UP;
	nif->output = etharp_output;
	nif->linkoutput = tap_linkoutput;
	return ERR_OK;
}

static int tap_open(const char *name)
{
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		die("/dev/net/tun: %s", strerror(errno));
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI;   /* plain Ethernet frames, no offloads */
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0)
		die("TUNSETIFF %s: %s", name, strerror(errno));
	return fd;
}

/* Reads up to RX_BUDGET frames, each into a pbuf of its own, and hands them to lwIP. */
static void tap_poll(struct netif *nif)
{
	for (int i = 0; i < RX_BUDGET; i++) {
		struct pbuf *p = pbuf_alloc(PBUF_RAW, RX_SIZE, PBUF_RAM);
		if (!p)
			return;   /* out of memory: leave the frame in the kernel's queue */
		ssize_t n = read(tap_fd, p->payload, RX_SIZE);
		if (n <= 0) {
			pbuf_free(p);
			if (n < 0 && errno == EINTR)
				continue;
			return;   /* EAGAIN: drained */
		}
		if (n >= RX_SIZE) {
			rx_too_big++;
			pbuf_free(p);
			continue;
		}
		pbuf_realloc(p, (u16_t)n);
		if (nif->input(p, nif) != ERR_OK)
			pbuf_free(p);
	}
}

/* ---- UDP echo ---------------------------------------------------------------- */

static void udp_echo_recv(void *arg, struct udp_pcb *pcb, struct pbuf *p, const ip_addr_t *addr, u16_t port)
{
	(void)arg;
	packets++;
	bytes += p->tot_len;
	if (!sink)
		udp_sendto(pcb, p, addr, port);   /* the same pbuf: udp_sendto prepends headers in front of the payload */
	pbuf_free(p);
}

/* ---- TCP echo / stream sink ------------------------------------------------------ */

/* Bytes received but not yet echoed (the send buffer was full); they keep the window closed. */
struct conn {
	struct pbuf *pending;
};

static void conn_free(struct conn *c)
{
	if (c->pending)
		pbuf_free(c->pending);
	free(c);
}

/* Echoes as much of c->pending as the send buffer takes, and opens the window by that much. */
static err_t conn_flush(struct tcp_pcb *pcb, struct conn *c)
{
	while (c->pending) {
		u16_t len = c->pending->len, room = tcp_sndbuf(pcb);
		if (len > room)
			len = room;
		if (len == 0)
			break;
		err_t e = tcp_write(pcb, c->pending->payload, len, TCP_WRITE_FLAG_COPY);
		if (e == ERR_MEM)
			break;   /* the segment queue is full: the sent callback comes back */
		if (e != ERR_OK)
			return e;
		tcp_recved(pcb, len);
		c->pending = pbuf_free_header(c->pending, len);
	}
	return tcp_output(pcb);
}

static err_t tcp_echo_sent(void *arg, struct tcp_pcb *pcb, u16_t len)
{
	(void)len;
	return arg ? conn_flush(pcb, arg) : ERR_OK;
}

static void tcp_echo_err(void *arg, err_t err)
{
	(void)err;
	if (arg)
		conn_free(arg);   /* lwIP has freed the pcb already */
}

static err_t tcp_echo_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err)
{
	struct conn *c = arg;
	if (!p || err != ERR_OK) {
		/* The client closed: close our side too (no TIME_WAIT on the passive closer). */
		if (p)
			pbuf_free(p);
		if (sink && tcp_bytes)
			stopping = 1;   /* the stream ended */
		tcp_arg(pcb, NULL);
		tcp_recv(pcb, NULL);
		tcp_sent(pcb, NULL);
		tcp_err(pcb, NULL);
		conn_free(c);
		if (tcp_close(pcb) != ERR_OK) {
			tcp_abort(pcb);
			return ERR_ABRT;
		}
		return ERR_OK;
	}
	bytes += p->tot_len;
	tcp_bytes += p->tot_len;
	if (sink) {
		double t = now_s();
		if (!t_first)
			t_first = t;
		t_last = t;
		if (cpu_win < 0 && t >= t_first + sink_warmup) {
			cpu_win = cpu_s();
			t_win = t;
			win_bytes = tcp_bytes;
		}
		if (cpu_win >= 0 && t >= t_win + sink_duration)
			stopping = 1;
		tcp_recved(pcb, p->tot_len);
		pbuf_free(p);
		return ERR_OK;
	}
	if (c->pending)
		pbuf_cat(c->pending, p);
	else
		c->pending = p;
	err_t e = conn_flush(pcb, c);
	if (e != ERR_OK && e != ERR_MEM) {
		tcp_arg(pcb, NULL);
		conn_free(c);
		tcp_abort(pcb);
		return ERR_ABRT;
	}
	return ERR_OK;
}

static err_t tcp_echo_accept(void *arg, struct tcp_pcb *pcb, err_t err)
{
	(void)arg;
	if (err != ERR_OK || !pcb)
		return ERR_VAL;
	struct conn *c = calloc(1, sizeof(*c));
	if (!c) {
		tcp_abort(pcb);
		return ERR_ABRT;
	}
	tcp_nagle_disable(pcb);   /* the client and npload's servers set TCP_NODELAY */
	tcp_arg(pcb, c);
	tcp_recv(pcb, tcp_echo_recv);
	tcp_sent(pcb, tcp_echo_sent);
	tcp_err(pcb, tcp_echo_err);
	return ERR_OK;
}

/* ---- main ------------------------------------------------------------------------------ */

static void usage(FILE *out)
{
	fprintf(out, "usage: lwip_server --tap IF --addr A.B.C.D/N [--gw A.B.C.D] --port P [--proto udp|tcp]\n"
		     "                   [--size BYTES] [--mode echo|stream-recv] [--duration SEC] [--warmup SEC]\n");
}

int main(int argc, char **argv)
{
	const char *tap = NULL, *addr = NULL, *gw = NULL, *proto = "udp", *mode = "echo";
	int port = 0;
	double duration = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			return 0;
		}
		if (!v) {
			usage(stderr);
			return 2;
		}
		i++;
		if (!strcmp(a, "--tap"))
			tap = v;
		else if (!strcmp(a, "--addr"))
			addr = v;
		else if (!strcmp(a, "--gw"))
			gw = v;
		else if (!strcmp(a, "--port"))
			port = atoi(v);
		else if (!strcmp(a, "--proto"))
			proto = v;
		else if (!strcmp(a, "--size"))
			echo_size = strtoul(v, NULL, 10);
		else if (!strcmp(a, "--mode"))
			mode = v;
		else if (!strcmp(a, "--duration"))
			duration = atof(v);
		else if (!strcmp(a, "--warmup"))
			sink_warmup = atof(v);
		else {
			usage(stderr);
			return 2;
		}
	}
	if (!tap || !addr || port <= 0 || port > 65535) {
		usage(stderr);
		return 2;
	}
	if (!echo_size)
		echo_size = 1;
	sink = !strcmp(mode, "stream-recv");
	if (!sink && strcmp(mode, "echo"))
		die("--mode echo or stream-recv");
	if (sink) {
		/* --duration is the measured window; the sink gives up 30 s after start without a stream. */
		sink_duration = duration > 0 ? duration : sink_duration;
		duration = 30 + sink_warmup + sink_duration;
	}

	char a[32];
	snprintf(a, sizeof(a), "%s", addr);
	char *slash = strchr(a, '/');
	int plen = slash ? atoi(slash + 1) : 24;
	if (slash)
		*slash = 0;
	ip4_addr_t ip, mask, gwa;
	if (!ip4addr_aton(a, &ip) || plen < 0 || plen > 32)
		die("bad --addr %s", addr);
	ip4_addr_set_u32(&mask, plen ? lwip_htonl(0xffffffffu << (32 - plen)) : 0);
	ip4_addr_set_zero(&gwa);
	if (gw && !ip4addr_aton(gw, &gwa))
		die("bad --gw %s", gw);

	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	tap_fd = tap_open(tap);
	lwip_init();   /* the core alone: no tcpip thread, we are the only thread */
	static struct netif nif;
	if (!netif_add(&nif, &ip, &mask, &gwa, NULL, tap_netif_init, ethernet_input))
		die("netif_add failed");
	netif_set_default(&nif);
	netif_set_up(&nif);
	netif_set_link_up(&nif);

	struct udp_pcb *u = udp_new();
	if (!u || udp_bind(u, IP_ADDR_ANY, (u16_t)port) != ERR_OK)
		die("udp bind port %d failed", port);
	udp_recv(u, udp_echo_recv, NULL);
	struct tcp_pcb *t = tcp_new();
	if (!t || tcp_bind(t, IP_ADDR_ANY, (u16_t)port) != ERR_OK)
		die("tcp bind port %d failed", port);
	struct tcp_pcb *l = tcp_listen_with_backlog(t, 255);
	if (!l)
		die("tcp_listen failed");
	tcp_accept(l, tcp_echo_accept);
	fprintf(stderr, "lwip_server: %s ready (lwip %s port %d on %s)\n", sink ? "stream-recv" : "echo-server", proto,
		port, tap);

	double t0 = now_s();
	struct pollfd pfd = { .fd = tap_fd, .events = POLLIN };
	while (!stopping && (duration <= 0 || now_s() - t0 < duration)) {
		u32_t sleep_ms = sys_timeouts_sleeptime();
		int timeout = sleep_ms > 100 ? 100 : (int)sleep_ms;   /* wake at least every 100 ms to see the flags */
		int r = poll(&pfd, 1, timeout);
		if (r < 0 && errno != EINTR)
			die("poll: %s", strerror(errno));
		if (r > 0)
			tap_poll(&nif);
		sys_check_timeouts();
	}

	double cpu = cpu_s();
	if (sink) {
		/* As npload stream-recv: goodput over the window, CPU per 1448 bytes (a full segment). */
		close(tap_fd);
		if (cpu_win < 0)
			die("the stream ended before the measurement began (%lu bytes)", tcp_bytes);
		double secs = t_last - t_win, segs = (double)(tcp_bytes - win_bytes) / 1448.0;
		printf("npload mode=stream-recv backend=lwip bytes=%llu seconds=%.3f gbps=%.3f cpu_s=%.6f "
		       "cpu_ns_per_pkt=%.1f offload=0 tx_errors=%lu rx_too_big=%lu\n",
		       tcp_bytes - win_bytes, secs, secs > 0 ? (double)(tcp_bytes - win_bytes) * 8 / secs / 1e9 : 0.0,
		       cpu - cpu_win, segs > 0 ? (cpu - cpu_win) * 1e9 / segs : 0.0, tx_errors, rx_too_big);
		return 0;
	}
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	long csw = ru.ru_nvcsw + ru.ru_nivcsw;
	packets += tcp_bytes / echo_size;   /* TCP: requests of --size bytes, as npload echo-server counts them */
	printf("npload mode=echo-server backend=lwip proto=%s packets=%lu bytes=%lu cpu_s=%.6f cpu_ns_per_pkt=%.1f "
	       "ctx_switches=%ld ctx_switches_per_pkt=%.3f tx_errors=%lu rx_too_big=%lu\n",
	       proto, packets, bytes, cpu, packets ? cpu * 1e9 / (double)packets : 0.0, csw,
	       packets ? (double)csw / (double)packets : 0.0, tx_errors, rx_too_big);
	fflush(stdout);
	close(tap_fd);
	return 0;
}
