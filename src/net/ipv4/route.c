/*
 * IPv4 routing: the FIB and the input/output route resolvers (Linux's
 * net/ipv4/fib_trie.c, fib_frontend.c and route.c).
 * Place in the packet path:
 *   ip_rcv -> ip_rcv_finish -> ip_route_input -> ip_local_deliver / broadcast /
 *     ip_forward / drop
 *   ip_queue_xmit, ip_build_and_send_pkt -> ip_route_output -> ip_output
 *   inet_addr_add/del -> fib_add_ifaddr / fib_del_ifaddr
 *
 * Two tables as in Linux: "local" (our addresses and broadcast addresses,
 * consulted first) and "main" (connected, static and default routes). Each
 * table keeps one hash per prefix length and a bitmap of the lengths present,
 * so a longest-prefix match costs one hash probe per length in use, scanned
 * from /32 down to /0.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/netdevice.h"
#include "core/stack.h"
#include "net/ipv4/fib_lookup.h"
#include "net/ipv4/route.h"
#include "wire/ipv4.h"

/* One route (Linux's fib_alias + fib_info, which we do not share). */
struct fib_alias {
	struct fib_alias *next;         /* hash chain */
	uint64_t seq;                   /* insertion order: first added wins a tie */
	struct fib_route r;
};

/* The routes of one prefix length. */
struct fib_hash {
	struct fib_alias **buckets;
	uint32_t nbuckets;              /* power of two, 0 before the first route */
	uint32_t count;
};

struct fib_tbl {
	struct fib_hash len[33];
	uint64_t present;               /* bit plen set while len[plen] holds routes */
	uint32_t count;
};

struct fib_table {
	struct fib_tbl local, main;
	uint32_t seed;
	uint64_t seq;
	uint32_t genid;         /* Linux's rt_genid: bumped by rt_cache_flush, never 0 */
};

static uint32_t fib_hashfn(uint32_t seed, uint32_t key)
{
	uint32_t h = key ^ seed;

	/* murmur3 finaliser: every input bit affects the bucket. */
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	h ^= h >> 16;
	return h;
}

static struct fib_table *fib_of(const struct np_stack *s) { return s->fib; }

/* Where a route lives: our own and broadcast addresses in local, the rest in main. */
static struct fib_tbl *fib_tbl_for(struct fib_table *ft, uint8_t type)
{
	return (type == RTN_LOCAL || type == RTN_BROADCAST) ? &ft->local : &ft->main;
}

/* A route through a device that is down is skipped, as Linux flushes those routes. */
static int fib_alias_alive(const struct fib_route *r)
{
	return r->dev == NULL || (r->dev->flags & NPF_UP);
}

int fib_init(struct np_stack *s)
{
	struct fib_table *ft = calloc(1, sizeof(*ft));

	if (!ft)
		return -ENOMEM;
	ft->seed = s->secret[2] ^ 0x5bd1e995u;
	ft->genid = 1;
	s->fib = ft;
	return 0;
}

void rt_cache_flush(struct np_stack *s)
{
	struct fib_table *ft = s ? fib_of(s) : NULL;

	if (ft && !++ft->genid)
		ft->genid = 1;   /* 0 marks an empty dst_cache */
}

uint32_t rt_genid_ipv4(const struct np_stack *s)
{
	const struct fib_table *ft = fib_of(s);

	return ft ? ft->genid : 0;
}

static void fib_tbl_free(struct fib_tbl *t)
{
	for (int l = 0; l <= 32; l++) {
		struct fib_hash *h = &t->len[l];

		for (uint32_t b = 0; b < h->nbuckets; b++) {
			struct fib_alias *fa = h->buckets[b];

			while (fa) {
				struct fib_alias *next = fa->next;
				free(fa);
				fa = next;
			}
		}
		free(h->buckets);
	}
	memset(t, 0, sizeof(*t));
}

void fib_free(struct np_stack *s)
{
	struct fib_table *ft = fib_of(s);

	if (!ft)
		return;
	fib_tbl_free(&ft->local);
	fib_tbl_free(&ft->main);
	free(ft);
	s->fib = NULL;
}

/* Doubles a prefix-length hash once it holds more routes than buckets. 0 or -ENOMEM. */
static int fib_hash_grow(struct fib_hash *h, uint32_t seed)
{
	uint32_t n = h->nbuckets ? h->nbuckets * 2 : 8;
	struct fib_alias **nb = calloc(n, sizeof(*nb));

	if (!nb)
		return -ENOMEM;
	for (uint32_t b = 0; b < h->nbuckets; b++) {
		struct fib_alias *fa = h->buckets[b];

		/* Reversing each chain is harmless: ties are broken by seq, not position. */
		while (fa) {
			struct fib_alias *next = fa->next;
			uint32_t i = fib_hashfn(seed, fa->r.dst) & (n - 1);

			fa->next = nb[i];
			nb[i] = fa;
			fa = next;
		}
	}
	free(h->buckets);
	h->buckets = nb;
	h->nbuckets = n;
	return 0;
}

static struct fib_alias **fib_bucket(const struct fib_hash *h, uint32_t seed, uint32_t dst)
{
	return &h->buckets[fib_hashfn(seed, dst) & (h->nbuckets - 1)];
}

/* Which routes a lookup may return. */
struct fib_filter {
	const struct net_device *oif;   /* only routes through this device */
	int onlink;                     /* only routes without a gateway (scope link) */
};

static int fib_filter_ok(const struct fib_route *r, const struct fib_filter *f)
{
	if (!fib_alias_alive(r))
		return 0;
	if (f && f->oif && r->dev != f->oif)
		return 0;
	if (f && f->onlink && (r->type != RTN_UNICAST || r->gateway != 0))
		return 0;
	return 1;
}

/* Longest-prefix match in one table: lowest metric, then oldest, among the routes of the longest length. */
static const struct fib_route *fib_tbl_lookup(const struct fib_tbl *t, uint32_t seed, uint32_t daddr,
					      const struct fib_filter *f)
{
	uint64_t bits = t->present;

	while (bits) {
		int plen = 63 - __builtin_clzll(bits);
		const struct fib_hash *h = &t->len[plen];
		uint32_t key = daddr & ipv4_plen_mask(plen);
		const struct fib_alias *best = NULL;

		bits &= ~(1ull << plen);
		for (const struct fib_alias *fa = *fib_bucket(h, seed, key); fa; fa = fa->next) {
			if (fa->r.dst != key || !fib_filter_ok(&fa->r, f))
				continue;
			if (!best || fa->r.metric < best->r.metric ||
			    (fa->r.metric == best->r.metric && fa->seq < best->seq))
				best = fa;
		}
		if (best)
			return &best->r;
	}
	return NULL;
}

const struct fib_route *fib_lookup(const struct np_stack *s, uint32_t daddr)
{
	const struct fib_table *ft = fib_of(s);
	const struct fib_route *r;

	if (!ft)
		return NULL;
	/* Linux consults the local table first: our addresses beat any main route. */
	r = fib_tbl_lookup(&ft->local, ft->seed, daddr, NULL);
	return r ? r : fib_tbl_lookup(&ft->main, ft->seed, daddr, NULL);
}

/*
 * Two routes clash (Linux's NLM_F_EXCL): same table, prefix and metric. The
 * kernel's connected routes append instead (fib_magic uses NLM_F_APPEND), so
 * the same subnet may be connected through two devices.
 */
static int fib_route_clash(const struct fib_route *a, const struct fib_route *b)
{
	if (a->dst != b->dst || a->plen != b->plen || a->metric != b->metric)
		return 0;
	if (a->protocol == RTPROT_KERNEL && b->protocol == RTPROT_KERNEL)
		return a->dev == b->dev && a->type == b->type;
	return 1;
}

/*
 * Checks a gateway as Linux's fib_check_nh_v4_gw does ("Nexthop has invalid
 * gateway"): it must be reached on-link through a connected route (not
 * through another gateway), on dev if one was given. Fills r->dev.
 */
static int fib_check_gateway(struct np_stack *s, struct fib_route *r)
{
	struct fib_table *ft = fib_of(s);
	struct fib_filter f = { .oif = r->dev, .onlink = 1 };
	const struct fib_route *nh;

	if (ipv4_is_multicast(r->gateway) || ipv4_is_lbcast(r->gateway) || ipv4_is_zeronet(r->gateway) ||
	    ipv4_is_class_e(r->gateway))
		return -EINVAL;
	if (inet_addr_is_local(s, r->gateway))
		return -EINVAL;
	nh = fib_tbl_lookup(&ft->main, ft->seed, r->gateway, &f);
	if (!nh)
		return -ENETUNREACH;
	r->dev = nh->dev;
	return 0;
}

int fib_add(struct np_stack *s, const struct fib_route *route)
{
	struct fib_table *ft = fib_of(s);
	rt_cache_flush(s);
	struct fib_route r;
	struct fib_tbl *t;
	struct fib_hash *h;
	struct fib_alias *fa;
	int err;

	if (!ft || !route)
		return -EINVAL;
	r = *route;
	if (r.plen < 0 || r.plen > 32)
		return -EINVAL;
	/* "Invalid prefix for given prefix length": host bits must be clear. */
	if (r.dst & ~ipv4_plen_mask(r.plen))
		return -EINVAL;
	switch (r.type) {
	case RTN_UNICAST:
		if (r.gateway) {
			err = fib_check_gateway(s, &r);
			if (err)
				return err;
		} else if (!r.dev) {
			return -ENODEV;     /* "Nexthop device required" */
		}
		break;
	case RTN_LOCAL:
	case RTN_BROADCAST:
		if (!r.dev)
			return -ENODEV;
		r.gateway = 0;
		break;
	case RTN_UNREACHABLE:
	case RTN_BLACKHOLE:
		r.dev = NULL;
		r.gateway = 0;
		break;
	default:
		return -EINVAL;
	}

	t = fib_tbl_for(ft, r.type);
	h = &t->len[r.plen];
	if (h->nbuckets) {
		for (fa = *fib_bucket(h, ft->seed, r.dst); fa; fa = fa->next)
			if (fib_route_clash(&fa->r, &r))
				return -EEXIST;
	}
	if (h->count >= h->nbuckets && fib_hash_grow(h, ft->seed))
		return -ENOMEM;
	fa = calloc(1, sizeof(*fa));
	if (!fa)
		return -ENOMEM;
	fa->r = r;
	fa->seq = ++ft->seq;
	struct fib_alias **b = fib_bucket(h, ft->seed, r.dst);
	fa->next = *b;
	*b = fa;
	h->count++;
	t->count++;
	t->present |= 1ull << r.plen;
	return 0;
}

/* What a deletion must match; fields left 0/NULL match anything. */
struct fib_match {
	uint32_t dst;
	int plen;
	const struct net_device *dev;
	uint8_t type;                   /* RTN_UNSPEC: any */
	uint8_t protocol;               /* 0: any */
	uint32_t prefsrc;               /* 0: any */
};

static int fib_match_ok(const struct fib_route *r, const struct fib_match *m)
{
	return r->dst == m->dst && r->plen == m->plen && (!m->dev || r->dev == m->dev) &&
	       (m->type == RTN_UNSPEC || r->type == m->type) && (!m->protocol || r->protocol == m->protocol) &&
	       (!m->prefsrc || r->prefsrc == m->prefsrc);
}

static void fib_unlink(struct fib_tbl *t, struct fib_hash *h, struct fib_alias **pp, int plen)
{
	struct fib_alias *fa = *pp;

	*pp = fa->next;
	free(fa);
	h->count--;
	t->count--;
	if (h->count == 0)
		t->present &= ~(1ull << plen);
}

/* Deletes the first (oldest) route matching m from t. 0 or -ESRCH. */
static int fib_tbl_del(struct fib_tbl *t, uint32_t seed, const struct fib_match *m)
{
	struct fib_hash *h;
	struct fib_alias **pp, **victim = NULL;

	if (m->plen < 0 || m->plen > 32)
		return -ESRCH;
	h = &t->len[m->plen];
	if (!h->nbuckets)
		return -ESRCH;
	for (pp = fib_bucket(h, seed, m->dst); *pp; pp = &(*pp)->next)
		if (fib_match_ok(&(*pp)->r, m) && (!victim || (*pp)->seq < (*victim)->seq))
			victim = pp;
	if (!victim)
		return -ESRCH;
	fib_unlink(t, h, victim, m->plen);
	return 0;
}

/* `ip route del` works on the main table, so a local route survives it. */
int fib_del(struct np_stack *s, uint32_t dst, int plen, struct net_device *dev)
{
	struct fib_table *ft = fib_of(s);
	struct fib_match m = { .dst = dst & ipv4_plen_mask(plen), .plen = plen, .dev = dev };

	if (!ft)
		return -ESRCH;
	rt_cache_flush(s);
	return fib_tbl_del(&ft->main, ft->seed, &m);
}

/* Removes every route for which pred(route, arg) holds. */
static void fib_tbl_remove_if(struct fib_tbl *t, int (*pred)(const struct fib_route *, const void *),
			      const void *arg)
{
	for (int l = 0; l <= 32; l++) {
		struct fib_hash *h = &t->len[l];

		for (uint32_t b = 0; b < h->nbuckets; b++) {
			struct fib_alias **pp = &h->buckets[b];

			while (*pp) {
				if (pred(&(*pp)->r, arg))
					fib_unlink(t, h, pp, l);
				else
					pp = &(*pp)->next;
			}
		}
	}
}

static int fib_route_uses_dev(const struct fib_route *r, const void *dev) { return r->dev == dev; }

void fib_flush_dev(struct np_stack *s, struct net_device *dev)
{
	struct fib_table *ft = fib_of(s);

	if (!ft)
		return;
	rt_cache_flush(s);
	fib_tbl_remove_if(&ft->local, fib_route_uses_dev, dev);
	fib_tbl_remove_if(&ft->main, fib_route_uses_dev, dev);
}

/* ---- kernel routes of an address (Linux's fib_add_ifaddr / fib_del_ifaddr) ---- */

static void fib_magic(struct np_stack *s, struct net_device *dev, uint8_t type, uint32_t dst, int plen,
		      uint32_t prefsrc)
{
	struct fib_route r = {
		.dst = dst & ipv4_plen_mask(plen),
		.plen = plen,
		.dev = dev,
		.prefsrc = prefsrc,
		.type = type,
		.protocol = RTPROT_KERNEL,
	};

	/* -EEXIST means another address already installed the same route. */
	(void)fib_add(s, &r);
}

void fib_add_ifaddr(struct net_device *dev, const struct in_ifaddr *ifa)
{
	struct np_stack *s = dev->stack;
	uint32_t prefix = ifa->ifa_local & ifa->ifa_mask;

	fib_magic(s, dev, RTN_LOCAL, ifa->ifa_local, 32, ifa->ifa_local);
	/* The prefix route: connected in main, or the whole prefix local on loopback (127/8). */
	if (!ipv4_is_zeronet(prefix) && ifa->ifa_prefixlen < 32) {
		if (dev->flags & NPF_LOOPBACK)
			fib_magic(s, dev, RTN_LOCAL, prefix, ifa->ifa_prefixlen, ifa->ifa_local);
		else
			fib_magic(s, dev, RTN_UNICAST, prefix, ifa->ifa_prefixlen, ifa->ifa_local);
	}
	if (ifa->ifa_broadcast && ifa->ifa_prefixlen < 31)
		fib_magic(s, dev, RTN_BROADCAST, ifa->ifa_broadcast, 32, ifa->ifa_local);
}

struct fib_kernel_arg {
	const struct net_device *dev;
	uint32_t addr;
};

/* Kernel routes of dev, and any route preferring the deleted address as source (fib_sync_down_addr). */
static int fib_route_of_addr(const struct fib_route *r, const void *p)
{
	const struct fib_kernel_arg *a = p;

	return (r->dev == a->dev && r->protocol == RTPROT_KERNEL) || (a->addr && r->prefsrc == a->addr);
}

void fib_del_ifaddr(struct net_device *dev, const struct in_ifaddr *ifa)
{
	struct np_stack *s = dev->stack;
	struct fib_table *ft = fib_of(s);
	struct fib_kernel_arg a = { .dev = dev, .addr = ifa->ifa_local };

	if (!ft)
		return;
	rt_cache_flush(s);
	if (dev->ifa_count == 0) {
		/* The last address went: nothing can be sent from dev (fib_disable_ip). */
		fib_flush_dev(s, dev);
		return;
	}
	/*
	 * Drop the device's kernel routes and re-install them for the addresses
	 * left: shared broadcast and connected routes pass to the next address
	 * in the subnet (Linux with promote_secondaries=1).
	 */
	fib_tbl_remove_if(&ft->local, fib_route_of_addr, &a);
	fib_tbl_remove_if(&ft->main, fib_route_of_addr, &a);
	for (int i = 0; i < dev->ifa_count; i++)
		fib_add_ifaddr(dev, &dev->ifa[i]);
}

/* ---- printing (`ip route`) ---- */

static int fib_alias_cmp(const void *pa, const void *pb)
{
	const struct fib_alias *a = *(const struct fib_alias *const *)pa;
	const struct fib_alias *b = *(const struct fib_alias *const *)pb;

	/* Address order as Linux's trie walk, longer prefix first, then metric, then age. */
	if (a->r.dst != b->r.dst)
		return a->r.dst < b->r.dst ? -1 : 1;
	if (a->r.plen != b->r.plen)
		return b->r.plen - a->r.plen;
	if (a->r.metric != b->r.metric)
		return a->r.metric < b->r.metric ? -1 : 1;
	return a->seq < b->seq ? -1 : 1;
}

static void fib_print_route(const struct fib_route *r, FILE *out)
{
	char a[16], b[16];

	switch (r->type) {
	case RTN_UNREACHABLE: fputs("unreachable ", out); break;
	case RTN_BLACKHOLE: fputs("blackhole ", out); break;
	case RTN_LOCAL: fputs("local ", out); break;
	case RTN_BROADCAST: fputs("broadcast ", out); break;
	default: break;
	}
	if (r->plen == 0)
		fputs("default", out);
	else if (r->plen == 32)
		fputs(ipv4_ntoa(r->dst, a), out);
	else
		fprintf(out, "%s/%d", ipv4_ntoa(r->dst, a), r->plen);
	if (r->gateway)
		fprintf(out, " via %s", ipv4_ntoa(r->gateway, b));
	if (r->dev)
		fprintf(out, " dev %s", r->dev->name);
	if (r->protocol == RTPROT_KERNEL)
		fputs(" proto kernel", out);
	else if (r->protocol == RTPROT_STATIC)
		fputs(" proto static", out);
	/* RTPROT_BOOT (what `ip route add` sets) is not printed, as iproute2 does. */
	if (r->type == RTN_LOCAL)
		fputs(" scope host", out);
	else if ((r->type == RTN_UNICAST && !r->gateway) || r->type == RTN_BROADCAST)
		fputs(" scope link", out);
	if (r->prefsrc)
		fprintf(out, " src %s", ipv4_ntoa(r->prefsrc, b));
	if (r->metric)
		fprintf(out, " metric %u", r->metric);
	if (!fib_alias_alive(r))
		fputs(" linkdown", out);
	fputc('\n', out);
}

static void fib_tbl_print(const struct fib_tbl *t, FILE *out)
{
	struct fib_alias **v;
	size_t n = 0;

	if (!t->count)
		return;
	v = malloc(t->count * sizeof(*v));
	if (!v)
		return;
	for (int l = 0; l <= 32; l++)
		for (uint32_t b = 0; b < t->len[l].nbuckets; b++)
			for (struct fib_alias *fa = t->len[l].buckets[b]; fa; fa = fa->next)
				v[n++] = fa;
	qsort(v, n, sizeof(*v), fib_alias_cmp);
	for (size_t i = 0; i < n; i++)
		fib_print_route(&v[i]->r, out);
	free(v);
}

/* The main table, as `ip route` shows it; the local table follows `ip route show table local`. */
void fib_print(const struct np_stack *s, FILE *out)
{
	const struct fib_table *ft = fib_of(s);

	if (ft)
		fib_tbl_print(&ft->main, out);
}

void fib_print_local(const struct np_stack *s, FILE *out)
{
	const struct fib_table *ft = fib_of(s);

	if (ft)
		fib_tbl_print(&ft->local, out);
}

/* ---- route input (Linux's ip_route_input_slow) ---- */

/*
 * A martian (Linux's in_martian_src / in_martian_dst). The caller,
 * ip_rcv_finish, counts it once (IpExtInMartians for sources, IpInAddrErrors
 * for destinations), so the resolver only names the reason.
 */
static int ip_route_martian(struct np_stack *s, int reason)
{
	(void)s;
	return -reason;
}

/* Lowest-ifindex device that is up, not loopback, and has an address. */
static struct net_device *first_up_dev_with_addr(const struct np_stack *s)
{
	struct net_device *best = NULL;

	for (struct net_device *d = s->dev_list; d; d = d->next)
		if ((d->flags & NPF_UP) && !(d->flags & NPF_LOOPBACK) && d->ifa_count > 0 &&
		    (!best || d->ifindex < best->ifindex))
			best = d;
	return best;
}

/*
 * Source address for traffic leaving dev toward dst: an address of dev (in
 * dst's subnet if possible), else any address of another non-loopback
 * device, as Linux's inet_select_addr falls back to for global scope.
 */
static uint32_t route_select_src(const struct np_stack *s, const struct net_device *dev, uint32_t dst)
{
	uint32_t a = inet_select_addr(dev, dst);
	const struct net_device *d;

	if (a)
		return a;
	d = first_up_dev_with_addr(s);
	return d ? d->ifa[0].ifa_local : 0;
}

void ip_route_input_local(struct rtable *rt, struct net_device *dev, uint32_t daddr)
{
	memset(rt, 0, sizeof(*rt));
	rt->dev = dev;
	rt->rt_mtu = dev->mtu;
	rt->rt_type = RTN_LOCAL;
	rt->rt_src = daddr;
}

int ip_route_input(struct np_stack *s, uint32_t daddr, uint32_t saddr, uint8_t tos, struct net_device *dev,
		   struct rtable *rt)
{
	struct fib_table *ft = fib_of(s);
	const int on_lo = (dev->flags & NPF_LOOPBACK) != 0;
	const struct fib_route *r;

	memset(rt, 0, sizeof(*rt));
	rt->dev = dev;
	rt->rt_mtu = dev->mtu;

	/*
	 * Martian sources (RFC 1812 5.3.7, RFC 1122 3.2.1.3): multicast, limited
	 * broadcast, class E, "this network" (0.0.0.0/8, including the DHCP
	 * client's 0.0.0.0, which we have no use for) and loopback off lo.
	 */
	if (ipv4_is_multicast(saddr) || ipv4_is_lbcast(saddr) || ipv4_is_class_e(saddr) || ipv4_is_zeronet(saddr))
		return ip_route_martian(s, NP_DROP_IP_INVALID_SOURCE);
	if (!on_lo && ipv4_is_loopback(saddr))
		return ip_route_martian(s, NP_DROP_IP_INVALID_SOURCE);
	/* fib_validate_source: a packet from one of our addresses cannot arrive from the wire. */
	if (!on_lo && inet_addr_is_local(s, saddr))
		return ip_route_martian(s, NP_DROP_IP_LOCAL_SOURCE);
	/* ... nor from one of our subnet broadcast addresses (reverse route not unicast). */
	r = ft ? fib_tbl_lookup(&ft->local, ft->seed, saddr, NULL) : NULL;
	if (r && r->type == RTN_BROADCAST)
		return ip_route_martian(s, NP_DROP_IP_INVALID_SOURCE);

	/* RFC 1122 3.2.1.3: limited broadcast is always accepted as broadcast. */
	if (ipv4_is_lbcast(daddr)) {
		rt->rt_type = RTN_BROADCAST;
		rt->rt_src = inet_select_addr(dev, saddr);
		return 0;
	}
	/* Martian destinations (RFC 1812 5.3.7). */
	if (ipv4_is_zeronet(daddr) || ipv4_is_class_e(daddr) || (!on_lo && ipv4_is_loopback(daddr)))
		return ip_route_martian(s, NP_DROP_IP_INVALID_DEST);
	/* No multicast routing or group membership yet: the caller drops these. */
	if (ipv4_is_multicast(daddr)) {
		rt->rt_type = RTN_MULTICAST;
		rt->rt_src = inet_select_addr(dev, saddr);
		return 0;
	}

	r = ft ? fib_tbl_lookup(&ft->local, ft->seed, daddr, NULL) : NULL;
	if (r && r->type == RTN_LOCAL) {
		/* Weak host model (RFC 1122 3.3.4.2): any of our addresses on any device. */
		ip_route_input_local(rt, dev, daddr);
		return 0;
	}
	if (r && r->type == RTN_BROADCAST) {
		rt->rt_type = RTN_BROADCAST;
		rt->rt_src = inet_select_addr(dev, saddr);
		return 0;
	}

	/* RFC 1122 3.3.4: a host that is not a router does not forward. */
	if (!s->sysctl.ip_forward)
		return -NP_DROP_IP_INADDRERRORS;
	r = ft ? fib_tbl_lookup(&ft->main, ft->seed, daddr, NULL) : NULL;
	if (!r || r->type != RTN_UNICAST)
		return -NP_DROP_IP_INNOROUTES;
	rt->rt_type = RTN_UNICAST;
	rt->dev = r->dev;
	rt->rt_gateway = r->gateway ? r->gateway : daddr;
	rt->rt_uses_gateway = r->gateway != 0;
	rt->rt_src = r->prefsrc ? r->prefsrc : route_select_src(s, r->dev, rt->rt_gateway);
	rt->rt_mtu = r->dev->mtu;
	return 0;
}

/* ---- route output (Linux's ip_route_output_key_hash_rcu) ---- */

int ip_route_output_cached(struct np_stack *s, struct dst_cache *c, uint32_t daddr, uint32_t saddr,
			   struct net_device *oif, struct rtable *rt)
{
	const struct fib_table *ft = fib_of(s);

	int oifindex = oif ? oif->ifindex : 0;   /* a device that goes away flushes the cache (new genid) */

	if (ft && c->genid == ft->genid && c->daddr == daddr && c->saddr == saddr && c->oif == oifindex) {
		*rt = c->rt;
		return 0;
	}
	int err = ip_route_output(s, daddr, saddr, oif, rt);
	c->genid = 0;
	if (err == 0 && ft) {
		c->rt = *rt;
		c->daddr = daddr;
		c->saddr = saddr;
		c->oif = oifindex;
		c->genid = ft->genid;
	}
	return err;
}

static int rt_fill(struct rtable *rt, uint8_t type, struct net_device *dev, uint32_t gw, int uses_gw, uint32_t src)
{
	if (!dev || !(dev->flags & NPF_UP))
		return -ENETUNREACH;
	rt->rt_type = type;
	rt->dev = dev;
	rt->rt_gateway = gw;
	rt->rt_uses_gateway = (uint8_t)uses_gw;
	rt->rt_src = src;
	rt->rt_mtu = dev->mtu;
	return 0;
}

int ip_route_output(struct np_stack *s, uint32_t daddr, uint32_t saddr, struct net_device *oif, struct rtable *rt)
{
	struct fib_table *ft = fib_of(s);
	struct fib_filter f = { .oif = oif };
	const struct fib_route *r;

	memset(rt, 0, sizeof(*rt));
	if (!ft)
		return -ENETUNREACH;
	if (saddr) {
		/*
		 * A source must be ours: an address of a device or covered by a local
		 * route (127.1.2.3 through 127.0.0.0/8), as Linux's __ip_dev_find.
		 * Anything else is -EINVAL (no IP_FREEBIND here).
		 */
		const struct fib_route *lr = fib_tbl_lookup(&ft->local, ft->seed, saddr, NULL);
		if (ipv4_is_multicast(saddr) || ipv4_is_lbcast(saddr) ||
		    (!inet_addr_is_local(s, saddr) && !(lr && lr->type == RTN_LOCAL)))
			return -EINVAL;
	}
	if (oif && !(oif->flags & NPF_UP))
		return -ENETUNREACH;

	/* Linux: no destination means "myself" (saddr, or 127.0.0.1). */
	if (!daddr)
		daddr = saddr ? saddr : 0x7f000001u;

	if (ipv4_is_lbcast(daddr) || ipv4_is_multicast(daddr)) {
		struct net_device *dev = oif;
		uint8_t type = ipv4_is_lbcast(daddr) ? RTN_BROADCAST : RTN_MULTICAST;

		if (!dev && saddr)
			dev = inet_addr_dev(s, saddr);
		if (!dev && type == RTN_MULTICAST) {
			r = fib_tbl_lookup(&ft->main, ft->seed, daddr, NULL);
			dev = r ? r->dev : NULL;
		}
		if (!dev)
			dev = first_up_dev_with_addr(s);
		if (!dev)
			return -ENETUNREACH;
		return rt_fill(rt, type, dev, daddr, 0, saddr ? saddr : inet_select_addr(dev, 0));
	}

	r = fib_tbl_lookup(&ft->local, ft->seed, daddr, NULL);
	if (r && r->type == RTN_LOCAL) {
		/* To ourselves: through the loopback device, whatever oif says. */
		uint32_t src = saddr ? saddr : (r->prefsrc ? r->prefsrc : daddr);

		return rt_fill(rt, RTN_LOCAL, s->loopback_dev, daddr, 0, src);
	}
	if (r && r->type == RTN_BROADCAST && (!oif || r->dev == oif))
		return rt_fill(rt, RTN_BROADCAST, r->dev, daddr, 0, saddr ? saddr : r->prefsrc);

	r = fib_tbl_lookup(&ft->main, ft->seed, daddr, &f);
	if (!r) {
		/* Linux: with an oif and no route, assume the destination is on-link. */
		if (oif)
			return rt_fill(rt, RTN_UNICAST, oif, daddr, 0,
				       saddr ? saddr : route_select_src(s, oif, daddr));
		return -ENETUNREACH;
	}
	if (r->type == RTN_UNREACHABLE)
		return -EHOSTUNREACH;
	if (r->type == RTN_BLACKHOLE)
		return -EINVAL;     /* Linux's fib_props[RTN_BLACKHOLE].error */
	{
		uint32_t gw = r->gateway ? r->gateway : daddr;
		uint32_t src = saddr ? saddr : (r->prefsrc ? r->prefsrc : route_select_src(s, r->dev, gw));

		return rt_fill(rt, RTN_UNICAST, r->dev, gw, r->gateway != 0, src);
	}
}
