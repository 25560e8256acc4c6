/*
 * A real wire for the robustness suite (and any tcp_script.h test): the
 * stack's device is a TAP (src/drivers/tap.c), and the peer's frames come
 * from the Linux kernel's side of it, written on an AF_PACKET socket bound
 * to the kernel's end, so every malformed frame crosses the kernel's
 * packet_snd -> dev_queue_xmit -> tun_net_xmit -> netpath's tap_poll path
 * before netif_receive_skb sees it.
 *   test --sendto(AF_PACKET)--> kernel TAP end --tun--> netpath tap_poll -> stack
 *   test <--recvfrom(AF_PACKET)-- kernel TAP end <--tun-- netpath tap_xmit <- stack
 * The stack keeps its virtual clock. No sleeps decide anything: a sent frame
 * has arrived when the device's rx counters move, and what the stack sent
 * is read back until as many frames as its tx counter says; the real-time
 * deadlines only turn a lost frame into a loud failure.
 * The kernel stays quiet on the link: no IPv4 address on its end, IPv6
 * disabled on it (no RS, ND or MLD), so it never answers the cases' spoofed
 * peer (10.0.0.2, a permanent neighbour in the stack) nor resets netpath's
 * SYN-ACKs; the frames netpath sends to the peer's MAC are PACKET_OTHERHOST
 * to the kernel, which drops them, but a packet socket still sees them.
 * One persistent TAP serves every stack of the run (each stack attaches and
 * detaches); each stack gets its own MAC, so a late frame of a previous
 * stack cannot be mistaken for one of the current stack.
 */
#ifndef NP_TESTS_ROBUSTNESS_TAP_WIRE_H
#define NP_TESTS_ROBUSTNESS_TAP_WIRE_H

#include "scenarios/tcp_script.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
/* <net/if.h> and core/netdevice.h both define IFNAMSIZ (16); the core's is already in use. */
#undef IFNAMSIZ
#include <net/if.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* A frame that has not shown up after this long is lost: the case fails (never a pass/fail oracle). */
#define TAP_WIRE_DEADLINE_MS 10000

struct tap_link {
	char ifname[16];
	int ifindex;
	int psock;            /* AF_PACKET, ETH_P_ALL, bound to the kernel's end */
	int created;          /* we created the persistent TAP: delete it at exit */
	unsigned nstacks;     /* stacks attached so far (each gets its own MAC) */
	uint64_t stale;       /* frames read that came from an earlier stack */
};

static struct tap_link tap_link = { .psock = -1 };

static uint64_t tap_wire_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Opens /dev/net/tun on ifname as a TAP and sets its persistence; 0 or -errno. */
static int tap_wire_persist(const char *ifname, int on)
{
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	int rc = 0;
	if (ioctl(fd, TUNSETIFF, &ifr) < 0 || ioctl(fd, TUNSETPERSIST, (unsigned long)on) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

/* Deletes the TAP if this run created it (atexit). */
static void tap_link_close(void)
{
	if (tap_link.psock >= 0)
		close(tap_link.psock);
	tap_link.psock = -1;
	if (tap_link.created)
		tap_wire_persist(tap_link.ifname, 0);
	tap_link.created = 0;
}

/*
 * The first interface of this network namespace other than lo and ifname
 * (into other, "" if none): a namespace made for the test has no other.
 */
static void tap_wire_other_iface(const char *ifname, char *other, size_t len)
{
	other[0] = 0;
	struct if_nameindex *all = if_nameindex();
	if (!all)
		return;
	for (struct if_nameindex *i = all; i->if_index; i++)
		if (strcmp(i->if_name, "lo") != 0 && strcmp(i->if_name, ifname) != 0) {
			snprintf(other, len, "%s", i->if_name);
			break;
		}
	if_freenameindex(all);
}

/*
 * Prepares the kernel's end of the TAP ifname (creating it, persistent, if
 * it does not exist): IPv6 off, no IPv4 address, MTU 1500, up, and a packet
 * socket bound to it. 0, or -1 with a message in why that says what to do.
 */
static int tap_link_open(const char *ifname, char *why, size_t whylen)
{
	int rc;
	if (!ifname[0] || strlen(ifname) >= sizeof(tap_link.ifname)) {
		snprintf(why, whylen, "bad interface name '%s' (1 to 15 characters)", ifname);
		return -1;
	}
	snprintf(tap_link.ifname, sizeof(tap_link.ifname), "%s", ifname);
	char other[IF_NAMESIZE + 1];
	tap_wire_other_iface(ifname, other, sizeof(other));
	if (other[0] && !getenv("NP_ROBUST_TAP_ANY_NETNS")) {
		snprintf(why, whylen,
			 "refusing to use TAP %s in a network namespace with other interfaces (%s): run inside a "
			 "fresh one (ip netns add; tests/interop/test_robustness_tap.sh does), or set "
			 "NP_ROBUST_TAP_ANY_NETNS=1",
			 ifname, other);
		return -1;
	}
	if (!if_nametoindex(ifname)) {
		if ((rc = tap_wire_persist(ifname, 1)) < 0) {
			snprintf(why, whylen, "cannot create TAP %s: %s%s", ifname, strerror(-rc),
				 rc == -EPERM || rc == -EACCES ? " (needs root / CAP_NET_ADMIN)" : "");
			return -1;
		}
		tap_link.created = 1;
		atexit(tap_link_close);
	}
	tap_link.ifindex = (int)if_nametoindex(ifname);
	if (!tap_link.ifindex) {
		snprintf(why, whylen, "TAP %s vanished after creation", ifname);
		return -1;
	}

	/* IPv6 off before the link goes up, or the kernel sends router solicitations and MLD reports. */
	char path[96];
	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/disable_ipv6", ifname);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t w = write(fd, "1\n", 2);
		close(fd);
		if (w != 2) {
			snprintf(why, whylen, "cannot write %s: %s", path, strerror(errno));
			return -1;
		}
	} else if (access("/proc/sys/net/ipv6", F_OK) == 0) {
		snprintf(why, whylen, "cannot open %s: %s", path, strerror(errno));
		return -1;
	}

	int sk = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (sk < 0) {
		snprintf(why, whylen, "socket: %s", strerror(errno));
		return -1;
	}
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (ioctl(sk, SIOCGIFADDR, &ifr) == 0) {
		close(sk);
		snprintf(why, whylen, "%s has an IPv4 address: the kernel would answer the cases' peer; remove it", ifname);
		return -1;
	}
	memset(&ifr.ifr_ifru, 0, sizeof(ifr.ifr_ifru));
	ifr.ifr_mtu = 1500;
	rc = ioctl(sk, SIOCSIFMTU, &ifr);
	if (rc == 0) {
		memset(&ifr.ifr_ifru, 0, sizeof(ifr.ifr_ifru));
		rc = ioctl(sk, SIOCGIFFLAGS, &ifr);
	}
	if (rc == 0) {
		ifr.ifr_flags |= IFF_UP;
		rc = ioctl(sk, SIOCSIFFLAGS, &ifr);
	}
	int e = errno;
	close(sk);
	if (rc < 0) {
		snprintf(why, whylen, "cannot set %s up with MTU 1500: %s", ifname, strerror(e));
		return -1;
	}

	tap_link.psock = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
	if (tap_link.psock < 0) {
		snprintf(why, whylen, "AF_PACKET socket: %s (needs CAP_NET_RAW)", strerror(errno));
		return -1;
	}
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL),
				   .sll_ifindex = tap_link.ifindex };
	if (bind(tap_link.psock, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		snprintf(why, whylen, "bind AF_PACKET to %s: %s", ifname, strerror(errno));
		return -1;
	}
	/* Room for a whole flood's replies; as root the limit does not apply. */
	int big = 8 << 20;
	if (setsockopt(tap_link.psock, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big)) < 0)
		setsockopt(tap_link.psock, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	/*
	 * Straight to tun_net_xmit, no qdisc: a TAP that has just been attached
	 * keeps the noop qdisc until linkwatch activates it (asynchronously),
	 * and frames sent before that would vanish without an error.
	 */
	int bypass = 1;
	if (setsockopt(tap_link.psock, SOL_PACKET, PACKET_QDISC_BYPASS, &bypass, sizeof(bypass)) < 0) {
		snprintf(why, whylen, "PACKET_QDISC_BYPASS on %s: %s", ifname, strerror(errno));
		return -1;
	}
#ifdef PACKET_IGNORE_OUTGOING
	/* Our own sends need not come back (they are skipped below anyway). */
	int one = 1;
	setsockopt(tap_link.psock, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one));
#endif
	return 0;
}

/* Frames lost by the packet socket (its buffer overflowed); 0 if unknown. */
static unsigned tap_wire_sock_drops(void)
{
	struct tpacket_stats st;
	socklen_t l = sizeof(st);
	if (getsockopt(tap_link.psock, SOL_PACKET, PACKET_STATISTICS, &st, &l) < 0)
		return 0;
	return st.tp_drops;
}

/* Everything the packet socket holds (frames of a previous stack) is thrown away. */
static void tap_wire_drain(void)
{
	uint8_t b[2048];
	while (recv(tap_link.psock, b, sizeof(b), MSG_DONTWAIT) >= 0)
		;
}

static struct net_device *tap_wire_open(struct env *e)
{
	if (tap_link.psock < 0)
		fail_msg("the TAP link is not open (tap_link_open first)");
	tap_wire_drain();
	int err = 0;
	struct np_dev *d = np_tap_open(e->s, tap_link.ifname, &err);
	if (!d)
		fail_msg("np_tap_open(%s): %s", tap_link.ifname, strerror(-err));
	unsigned n = ++tap_link.nstacks;
	const uint8_t mac[6] = { 0x02, 0x4e, 0x50, (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n };
	assert_int_equal(np_dev_set_mac(d, mac), 0);
	e->cap = calloc(1, sizeof(*e->cap));
	assert_non_null(e->cap);
	/* Anything sent while the device came up carried the old MAC: not this stack's to collect. */
	struct net_device *dev = (struct net_device *)d;
	e->wire_sent = 0;
	e->wire_got = dev->stats.tx_packets - dev->stats.tx_errors;
	return dev;
}

/* What the device has taken off the wire (read, whatever became of the frame after). */
static uint64_t tap_wire_arrived(const struct net_device *dev)
{
	return dev->stats.rx_packets + dev->stats.rx_errors + dev->stats.rx_dropped;
}

static void tap_wire_send(struct env *e, const uint8_t *f, size_t len)
{
	if (len < ETH_HLEN)
		fail_msg("a %zu-byte frame cannot cross the TAP: Linux refuses packet-socket frames shorter than the "
			 "Ethernet header; mark the case in-process only",
			 len);
	uint64_t before = tap_wire_arrived(e->dev);
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons((uint16_t)(f[12] << 8 | f[13])),
				   .sll_ifindex = tap_link.ifindex, .sll_halen = ETH_ALEN };
	memcpy(sll.sll_addr, f, ETH_ALEN);
	ssize_t n = sendto(tap_link.psock, f, len, 0, (struct sockaddr *)&sll, sizeof(sll));
	if (n != (ssize_t)len)
		fail_msg("sendto %s (%zu bytes): %s", tap_link.ifname, len, n < 0 ? strerror(errno) : "short write");
	e->wire_sent++;
	uint64_t deadline = tap_wire_ms() + TAP_WIRE_DEADLINE_MS;
	while (tap_wire_arrived(e->dev) == before) {
		if (np_stack_poll(e->s) > 0)
			continue;
		uint64_t now = tap_wire_ms();
		if (now >= deadline)
			fail_msg("a %zu-byte frame sent on %s did not reach netpath's TAP in %d ms", len, tap_link.ifname,
				 TAP_WIRE_DEADLINE_MS);
		/* Sleep until the TAP fd is readable (the stack's epoll fd), not for a fixed time. */
		struct pollfd p = { .fd = np_stack_fd(e->s), .events = POLLIN };
		poll(&p, 1, (int)(deadline - now));
	}
}

static void tap_wire_collect(struct env *e)
{
	const struct net_device *dev = e->dev;
	uint64_t want = dev->stats.tx_packets - dev->stats.tx_errors;
	uint64_t deadline = tap_wire_ms() + TAP_WIRE_DEADLINE_MS;
	static uint8_t b[65536];
	while (e->wire_got < want) {
		struct sockaddr_ll from;
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(tap_link.psock, b, sizeof(b), MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
		if (n < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				fail_msg("recvfrom %s: %s", tap_link.ifname, strerror(errno));
			uint64_t now = tap_wire_ms();
			if (now >= deadline)
				fail_msg("netpath sent %llu frames on %s, %llu reached the kernel's side in %d ms "
					 "(packet socket drops: %u)",
					 (unsigned long long)want, tap_link.ifname, (unsigned long long)e->wire_got,
					 TAP_WIRE_DEADLINE_MS, tap_wire_sock_drops());
			struct pollfd p = { .fd = tap_link.psock, .events = POLLIN };
			poll(&p, 1, (int)(deadline - now));
			continue;
		}
		if (from.sll_pkttype == PACKET_OUTGOING)
			continue;   /* the peer's own frames (ours) or anything the kernel itself sent */
		if (n < ETH_HLEN || memcmp(b + ETH_ALEN, dev->dev_addr, ETH_ALEN) != 0) {
			tap_link.stale++;   /* a frame of an earlier stack, sent as it was torn down */
			continue;
		}
		e->wire_got++;
		struct cap *c = e->cap;
		if (c->n < MAX_CAP) {
			c->frame[c->n] = malloc((size_t)n);
			assert_non_null(c->frame[c->n]);
			memcpy(c->frame[c->n], b, (size_t)n);
			c->len[c->n] = (uint32_t)n;
			c->when[c->n] = np_stack_now(e->s);
			c->n++;
		}
	}
	/* A quiet link: everything netpath took off the wire is what the test put on it. */
	if (dev->stats.rx_packets != e->wire_sent)
		fail_msg("netpath received %llu frames on %s but the test sent %llu: the kernel is talking on the link",
			 (unsigned long long)dev->stats.rx_packets, tap_link.ifname, (unsigned long long)e->wire_sent);
}

static void tap_wire_close(struct env *e)
{
	cap_clear(e->cap);
	free(e->cap);
	e->cap = NULL;
}

static const struct env_wire tap_wire = {
	.open = tap_wire_open,
	.send = tap_wire_send,
	.collect = tap_wire_collect,
	.close = tap_wire_close,
};

#endif
