/*
 * IPv4 addresses on devices (Linux's net/ipv4/devinet.c) and the public
 * address/route/neighbour configuration calls (what `ip addr`, `ip route`
 * and `ip neigh` do through netlink).
 * Place in the packet path: configuration, not per packet; the route
 * resolvers and ARP ask it which addresses are ours.
 *   np_addr_add -> inet_addr_add -> fib_add_ifaddr (local, broadcast, connected routes)
 *   np_addr_del -> inet_addr_del -> fib_del_ifaddr
 *   np_route_add/del -> fib_add / fib_del;  np_*_print -> fib_print / neigh_print
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/netdevice.h"
#include "core/stack.h"
#include "net/ipv4/fib_lookup.h"
#include "net/ipv4/neighbour.h"
#include "net/ipv4/route.h"
#include "wire/ipv4.h"

int inet_addr_is_local(const struct np_stack *s, uint32_t addr)
{
	return inet_addr_dev(s, addr) != NULL;
}

struct net_device *inet_addr_dev(const struct np_stack *s, uint32_t addr)
{
	if (!s || !addr)
		return NULL;
	for (struct net_device *d = s->dev_list; d; d = d->next)
		for (int i = 0; i < d->ifa_count; i++)
			if (d->ifa[i].ifa_local == addr)
				return d;
	return NULL;
}

/* Linux's inet_select_addr: the first address whose subnet holds dst, else the first address. */
uint32_t inet_select_addr(const struct net_device *dev, uint32_t dst)
{
	uint32_t addr = 0;

	if (!dev)
		return 0;
	for (int i = 0; i < dev->ifa_count; i++) {
		const struct in_ifaddr *ifa = &dev->ifa[i];

		if (dst && ((dst ^ ifa->ifa_local) & ifa->ifa_mask) == 0)
			return ifa->ifa_local;
		if (!addr)
			addr = ifa->ifa_local;
	}
	return addr;
}

int inet_addr_add(struct net_device *dev, uint32_t addr, int plen)
{
	struct in_ifaddr *ifa;

	if (!dev || plen < 0 || plen > 32)
		return -EINVAL;
	/* An interface address must be a unicast address (RFC 1122 3.2.1.3). */
	if (ipv4_is_zeronet(addr) || ipv4_is_multicast(addr) || ipv4_is_lbcast(addr))
		return -EINVAL;
	for (int i = 0; i < dev->ifa_count; i++)
		if (dev->ifa[i].ifa_local == addr)
			return -EEXIST;
	if (dev->ifa_count >= NP_MAX_IFADDRS)
		return -ENOSPC;

	ifa = &dev->ifa[dev->ifa_count++];
	memset(ifa, 0, sizeof(*ifa));
	ifa->ifa_local = addr;
	ifa->ifa_prefixlen = plen;
	ifa->ifa_mask = ipv4_plen_mask(plen);
	/* `ip addr add ... brd +`: /31 (RFC 3021) and /32 have no broadcast address. */
	ifa->ifa_broadcast = plen < 31 ? (addr | ~ifa->ifa_mask) : 0;
	fib_add_ifaddr(dev, ifa);
	rt_cache_flush(dev->stack);   /* source address choices changed too */
	return 0;
}

int inet_addr_del(struct net_device *dev, uint32_t addr, int plen)
{
	struct in_ifaddr gone;
	int i;

	if (!dev)
		return -EINVAL;
	for (i = 0; i < dev->ifa_count; i++)
		if (dev->ifa[i].ifa_local == addr && (plen < 0 || dev->ifa[i].ifa_prefixlen == plen))
			break;
	if (i == dev->ifa_count)
		return -EADDRNOTAVAIL;
	gone = dev->ifa[i];
	/* Keep the order: the first address stays the primary one. */
	memmove(&dev->ifa[i], &dev->ifa[i + 1], (size_t)(dev->ifa_count - i - 1) * sizeof(dev->ifa[0]));
	dev->ifa_count--;
	fib_del_ifaddr(dev, &gone);
	rt_cache_flush(dev->stack);
	return 0;
}

/* ---- public API ---- */

int np_addr_add(struct np_dev *d, const char *prefix)
{
	uint32_t addr;
	int plen;

	if (!d || !prefix || ipv4_prefix_parse(prefix, &addr, &plen))
		return -EINVAL;
	return inet_addr_add((struct net_device *)d, addr, plen);
}

int np_addr_del(struct np_dev *d, const char *prefix)
{
	uint32_t addr;
	int plen;

	if (!d || !prefix || ipv4_prefix_parse(prefix, &addr, &plen))
		return -EINVAL;
	/* Like `ip addr del 10.0.0.2` without a length, a bare address matches any prefix length. */
	return inet_addr_del((struct net_device *)d, addr, strchr(prefix, '/') ? plen : -1);
}

/* "default" or "A.B.C.D/N" with no host bits set. 0 or -EINVAL. */
static int route_prefix_parse(const char *prefix, uint32_t *dst, int *plen)
{
	if (!prefix)
		return -EINVAL;
	if (strcmp(prefix, "default") == 0) {
		*dst = 0;
		*plen = 0;
		return 0;
	}
	if (ipv4_prefix_parse(prefix, dst, plen))
		return -EINVAL;
	/* iproute2: "Invalid prefix for given prefix length". */
	if (*dst & ~ipv4_plen_mask(*plen))
		return -EINVAL;
	return 0;
}

int np_route_add(struct np_stack *s, const char *prefix, const char *gateway, struct np_dev *d)
{
	struct net_device *dev = (struct net_device *)d;
	struct fib_route r = { .type = RTN_UNICAST, .protocol = RTPROT_BOOT };

	if (!s || route_prefix_parse(prefix, &r.dst, &r.plen))
		return -EINVAL;
	if (gateway && ipv4_aton(gateway, &r.gateway))
		return -EINVAL;
	if (!gateway && !dev)
		return -ENODEV;     /* "Nexthop device required" */
	if (dev && !(dev->flags & NPF_UP))
		return -ENETDOWN;   /* "Device for nexthop is not up" */
	r.dev = dev;
	return fib_add(s, &r);
}

int np_route_del(struct np_stack *s, const char *prefix)
{
	uint32_t dst;
	int plen;

	if (!s || route_prefix_parse(prefix, &dst, &plen))
		return -EINVAL;
	return fib_del(s, dst, plen, NULL);
}

void np_route_print(struct np_stack *s, FILE *out)
{
	if (s)
		fib_print(s, out ? out : stdout);
}

void np_neigh_print(struct np_stack *s, FILE *out)
{
	if (s)
		neigh_print(s, out ? out : stdout);
}

static int dev_cmp_ifindex(const void *pa, const void *pb)
{
	const struct net_device *a = *(const struct net_device *const *)pa;
	const struct net_device *b = *(const struct net_device *const *)pb;

	return a->ifindex - b->ifindex;
}

/* One device as `ip addr` prints it. */
static void addr_print_dev(const struct net_device *d, FILE *out)
{
	static const struct { unsigned flag; const char *name; } names[] = {
		{ NPF_LOOPBACK, "LOOPBACK" }, { NPF_BROADCAST, "BROADCAST" }, { NPF_NOARP, "NOARP" },
		{ NPF_PROMISC, "PROMISC" }, { NPF_UP, "UP" }, { NPF_RUNNING, "LOWER_UP" },
	};
	char m1[18], m2[18], a[16], b[16];
	const char *sep = "";

	fprintf(out, "%d: %s: <", d->ifindex, d->name);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (d->flags & names[i].flag) {
			fprintf(out, "%s%s", sep, names[i].name);
			sep = ",";
		}
	}
	fprintf(out, "> mtu %u\n", d->mtu);
	if (d->flags & NPF_LOOPBACK)
		fprintf(out, "    link/loopback %s brd %s\n", eth_ntoa(d->dev_addr, m1), eth_ntoa(d->broadcast, m2));
	else if (d->type == ARPHRD_ETHER_)
		fprintf(out, "    link/ether %s brd %s\n", eth_ntoa(d->dev_addr, m1), eth_ntoa(d->broadcast, m2));
	else
		fputs("    link/none\n", out);
	for (int i = 0; i < d->ifa_count; i++) {
		const struct in_ifaddr *ifa = &d->ifa[i];

		fprintf(out, "    inet %s/%d", ipv4_ntoa(ifa->ifa_local, a), ifa->ifa_prefixlen);
		/* Linux's lo address carries no broadcast (its broadcast route exists all the same). */
		if (ifa->ifa_broadcast && !(d->flags & NPF_LOOPBACK))
			fprintf(out, " brd %s", ipv4_ntoa(ifa->ifa_broadcast, b));
		fprintf(out, " scope %s %s\n", ipv4_is_loopback(ifa->ifa_local) ? "host" : "global", d->name);
	}
}

void np_addr_print(struct np_stack *s, FILE *out)
{
	struct net_device **v;
	size_t n = 0, i = 0;

	if (!s)
		return;
	if (!out)
		out = stdout;
	for (struct net_device *d = s->dev_list; d; d = d->next)
		n++;
	if (!n)
		return;
	v = malloc(n * sizeof(*v));
	if (!v)
		return;
	for (struct net_device *d = s->dev_list; d; d = d->next)
		v[i++] = d;
	qsort(v, n, sizeof(*v), dev_cmp_ifindex);
	for (i = 0; i < n; i++)
		addr_print_dev(v[i], out);
	free(v);
}
