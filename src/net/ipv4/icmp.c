/*
 * ICMPv4 (Linux's net/ipv4/icmp.c and the echo half of net/ipv4/ping.c),
 * RFC 792 with the host rules of RFC 1122 3.2.2.
 * Place in the packet path: a transport in inet_protos[IPPROTO_ICMP].
 *   ip_local_deliver_finish -> icmp_rcv
 *     -> icmp_echo -> icmp_reply -> ip_build_and_send_pkt
 *     -> ping_rcv -> the np_ping_handler callback for the echo id
 *     -> icmp_unreach -> inet_protos[quoted protocol]->err_handler
 *        (icmp_err for our own echoes -> the ping callback)
 *   ip_local_deliver_finish / udp_rcv / ... -> icmp_send -> ip_build_and_send_pkt
 *   np_ping_send -> ip_build_and_send_pkt
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>

#include "core/netdevice.h"
#include "core/stack.h"
#include "core/timer.h"
#include "net/ipv4/icmp.h"
#include "net/ipv4/ip.h"
#include "net/ipv4/protocol.h"
#include "net/ipv4/route.h"
#include "trace/trace.h"
#include "wire/icmp.h"
#include "wire/ipv4.h"

/* Types above this are unknown to Linux (NR_ICMP_TYPES); 17/18 are address mask request/reply. */
#define NR_ICMP_TYPES 18
#define ICMP_ADDRESS 17
#define ICMP_ADDRESSREPLY 18
#define NR_ICMP_UNREACH 15
/* RFC 1812 4.3.2.3: an error, with its IP header, fits in 576 bytes. */
#define ICMP_ERR_MAX_LEN 576
/* RFC 791: every host accepts 68-byte datagrams; a smaller next-hop MTU is bogus. */
#define ICMP_MIN_MTU 68
/* RFC 1349 / Linux: errors are sent with precedence "internetwork control". */
#define IPTOS_TOS_MASK 0x1E
#define IPTOS_PREC_INTERNETCONTROL 0xC0

/* One registered np_ping_handler. */
struct ping_handler {
	uint16_t id;
	void (*cb)(void *arg, const struct np_ping_reply *r);
	void *arg;
};

/* s->ping: the ping "sockets", by echo identifier. */
struct np_ping_state {
	struct ping_handler *v;
	size_t n, cap;
};

static void icmp_err(struct sk_buff *skb, uint8_t type, uint8_t code, uint32_t info);

static const struct net_protocol icmp_protocol = {
	.handler = icmp_rcv,
	.err_handler = icmp_err,
};

int icmp_init(struct np_stack *s)
{
	s->ping = calloc(1, sizeof(*s->ping));
	if (!s->ping)
		return -ENOMEM;
	int err = inet_add_protocol(s, &icmp_protocol, IPPROTO_ICMP_);
	if (err < 0) {
		free(s->ping);
		s->ping = NULL;
		return err;
	}
	/* The bucket starts full; icmp_ratelimit_allow clamps it to the burst. */
	s->icmp_tokens_ns = UINT64_MAX;
	s->icmp_last_ns = np_stack_now(s);
	return 0;
}

void icmp_free(struct np_stack *s)
{
	if (s->inet_protos[IPPROTO_ICMP_] == &icmp_protocol)
		inet_del_protocol(s, IPPROTO_ICMP_);
	if (s->ping) {
		free(s->ping->v);
		free(s->ping);
		s->ping = NULL;
	}
}

/* ---- rate limiting ------------------------------------------------------ */

/*
 * Token bucket in nanoseconds (Linux's icmp_global_allow and the per-peer
 * inet_peer_xrlim_allow, simplified to one bucket per stack): a message costs
 * net.ipv4.icmp_ratelimit ms of tokens, time refills them, and the bucket
 * holds NP_ICMP_RATELIMIT_BURST messages. Only the types in
 * net.ipv4.icmp_ratemask are limited (by default the errors, not echo replies).
 */
static int icmp_ratelimit_allow(struct np_stack *s, uint8_t type)
{
	long ms = s->sysctl.icmp_ratelimit_ms;

	if (type > 31 || !((unsigned long)s->sysctl.icmp_ratemask & (1ul << type)) || ms <= 0)
		return 1;
	uint64_t cost = (uint64_t)ms * NSEC_PER_MSEC;
	uint64_t burst = cost * NP_ICMP_RATELIMIT_BURST;
	uint64_t now = np_stack_now(s);
	uint64_t elapsed = now > s->icmp_last_ns ? now - s->icmp_last_ns : 0;
	uint64_t tokens = s->icmp_tokens_ns;

	tokens = tokens >= burst || elapsed >= burst - tokens ? burst : tokens + elapsed;
	s->icmp_last_ns = now;
	if (tokens >= cost) {
		s->icmp_tokens_ns = tokens - cost;
		return 1;
	}
	s->icmp_tokens_ns = tokens;
	NP_INC_STATS(s, IcmpOutRateLimitGlobal);
	return 0;
}

/* ---- ping "sockets" ------------------------------------------------------ */

static struct ping_handler *ping_lookup(struct np_stack *s, uint16_t id)
{
	if (!s->ping)
		return NULL;
	for (size_t i = 0; i < s->ping->n; i++)
		if (s->ping->v[i].id == id)
			return &s->ping->v[i];
	return NULL;
}

/* The send timestamp np_ping_send put in the first 8 payload bytes, as an RTT. */
static uint64_t ping_rtt(struct np_stack *s, const uint8_t *payload, size_t len)
{
	if (len < 8)
		return 0;
	uint64_t sent = ((uint64_t)be32_get(payload) << 32) | be32_get(payload + 4);
	uint64_t now = np_stack_now(s);
	return now >= sent ? now - sent : 0;
}

/* Calls the handler for id with r (copying the handler first: the callback may re-register). */
static void ping_deliver(struct np_stack *s, uint16_t id, const struct np_ping_reply *r)
{
	struct ping_handler *h = ping_lookup(s, id);
	if (!h)
		return;
	struct ping_handler copy = *h;
	copy.cb(copy.arg, r);
}

int np_ping_handler(struct np_stack *s, uint16_t id, void (*cb)(void *arg, const struct np_ping_reply *r),
		    void *arg)
{
	struct np_ping_state *ps = s->ping;
	if (!ps)
		return -EINVAL;
	struct ping_handler *h = ping_lookup(s, id);
	if (!cb) {
		/* A NULL callback unregisters id. */
		if (!h)
			return -ENOENT;
		*h = ps->v[--ps->n];
		return 0;
	}
	if (!h) {
		if (ps->n == ps->cap) {
			size_t cap = ps->cap ? ps->cap * 2 : 4;
			struct ping_handler *v = realloc(ps->v, cap * sizeof(*v));
			if (!v)
				return -ENOMEM;
			ps->v = v;
			ps->cap = cap;
		}
		h = &ps->v[ps->n++];
	}
	h->id = id;
	h->cb = cb;
	h->arg = arg;
	return 0;
}

/* Consumes skb (an echo reply): Linux's ping_rcv, to the handler for its id. */
static int ping_rcv(struct np_stack *s, struct sk_buff *skb, const struct icmp_repr *ic)
{
	trace_stage(skb, "ping_rcv");
	struct np_ping_reply r = {
		.id = (uint16_t)(ic->rest >> 16),
		.seq = (uint16_t)ic->rest,
		.ttl = IPCB(skb)->ttl,
		.len = ic->payload_len,
		.rtt_ns = ping_rtt(s, ic->payload, ic->payload_len),
	};
	r.from.s_addr = htonl(IPCB(skb)->saddr);
	/* A reply nobody waits for is still a normal end, as Linux finding no socket. */
	ping_deliver(s, r.id, &r);
	consume_skb(skb);
	return 0;
}

/*
 * ICMP's own err_handler (Linux's ping_err): an error quoting one of our
 * echo requests goes to the ping handler. skb data at the quoted IP header,
 * IHL + 8 bytes present; IPCB(skb) still describes the error's own header.
 */
static void icmp_err(struct sk_buff *skb, uint8_t type, uint8_t code, uint32_t info)
{
	struct np_stack *s = skb->stack;
	const uint8_t *q = skb->data;
	size_t qihl = (size_t)(q[0] & 0x0f) * 4;
	const uint8_t *qicmp = q + qihl;

	if (qicmp[0] != ICMP_ECHO || !inet_addr_is_local(s, be32_get(q + 12)))
		return;
	size_t qpayload = skb->len - qihl - ICMP_HLEN;
	struct np_ping_reply r = {
		.id = be16_get(qicmp + 4),
		.seq = be16_get(qicmp + 6),
		.ttl = IPCB(skb)->ttl,
		.len = qpayload,
		.rtt_ns = ping_rtt(s, qicmp + ICMP_HLEN, qpayload),
		.error_type = type,
		.error_code = code,
	};
	r.from.s_addr = htonl(IPCB(skb)->saddr);
	ping_deliver(s, r.id, &r);
}

int np_ping_send(struct np_stack *s, struct in_addr dst, uint16_t id, uint16_t seq, size_t payload_len)
{
	uint32_t daddr = ntohl(dst.s_addr);
	struct rtable rt;

	if (payload_len > 0xFFFFu - IPV4_HLEN_MIN - ICMP_HLEN)
		return -EMSGSIZE;
	int err = ip_route_output(s, daddr, 0, NULL, &rt);
	if (err < 0) {
		NP_INC_STATS(s, IpOutNoRoutes);
		return err;
	}
	size_t len = ICMP_HLEN + payload_len;
	struct sk_buff *skb = alloc_skb(s, (uint32_t)len);
	if (!skb)
		return -ENOBUFS;
	trace_begin(skb, 1);
	trace_stage(skb, "ping_v4_sendmsg");

	uint8_t *buf = skb_put(skb, (uint32_t)len);
	uint8_t *payload = buf + ICMP_HLEN;
	size_t i = 0;
	if (payload_len >= 8) {
		/* Like ping(8): the send time leads the data, so the reply carries it back. */
		uint64_t now = np_stack_now(s);
		be32_put(payload, (uint32_t)(now >> 32));
		be32_put(payload + 4, (uint32_t)now);
		i = 8;
	}
	for (; i < payload_len; i++)
		payload[i] = (uint8_t)i;
	struct icmp_repr req = {
		.type = ICMP_ECHO,
		.rest = (uint32_t)id << 16 | seq,
		.payload = payload,
		.payload_len = payload_len,
	};
	icmp_emit(&req, buf, len);

	skb->rt = rt;
	skb->rt_valid = 1;
	NP_INC_STATS(s, IcmpOutMsgs);
	NP_INC_STATS(s, IcmpOutEchos);
	struct ip_out_params p = { .daddr = daddr, .protocol = IPPROTO_ICMP_ };
	err = ip_build_and_send_pkt(s, skb, &p);
	return err < 0 ? err : 0;
}

/* ---- receive ------------------------------------------------------------ */

/* Does not consume skb_in: answers an echo request with the same identifier, sequence and data. */
static void icmp_reply(struct np_stack *s, struct sk_buff *skb_in, const struct icmp_repr *ic)
{
	const struct inet_skb_parm *in = IPCB(skb_in);
	struct rtable rt;

	/*
	 * RFC 1122 3.2.2.6: the reply's source is the address the request was
	 * sent to; for a broadcast request the route picks one of ours.
	 */
	uint32_t saddr = skb_in->rt_valid && skb_in->rt.rt_type == RTN_LOCAL ? in->daddr : 0;
	if (ip_route_output(s, in->saddr, saddr, NULL, &rt) < 0) {
		NP_INC_STATS(s, IpOutNoRoutes);
		return;
	}
	if (!icmp_ratelimit_allow(s, ICMP_ECHOREPLY))
		return;
	size_t len = ICMP_HLEN + ic->payload_len;
	struct sk_buff *skb = alloc_skb(s, (uint32_t)len);
	if (!skb) {
		NP_INC_STATS(s, IcmpOutErrors);
		return;
	}
	trace_begin(skb, 1);
	trace_stage(skb, "icmp_reply");
	struct icmp_repr rep = {
		.type = ICMP_ECHOREPLY,
		.code = 0,
		.rest = ic->rest,
		.payload = ic->payload,
		.payload_len = ic->payload_len,
	};
	icmp_emit(&rep, skb_put(skb, (uint32_t)len), len);
	skb->rt = rt;
	skb->rt_valid = 1;

	NP_INC_STATS(s, IcmpOutMsgs);
	NP_INC_STATS(s, IcmpOutEchoReps);
	/* Linux echoes the request's TOS in the reply. */
	struct ip_out_params p = {
		.saddr = saddr,
		.daddr = in->saddr,
		.protocol = IPPROTO_ICMP_,
		.tos = in->tos,
	};
	ip_build_and_send_pkt(s, skb, &p);
}

/* Consumes skb (an echo request): RFC 1122 3.2.2.6, every host answers echo. */
static int icmp_echo(struct np_stack *s, struct sk_buff *skb, const struct icmp_repr *ic)
{
	trace_stage(skb, "icmp_echo");
	/* net.ipv4.icmp_echo_ignore_all: ignoring is a normal end, not a drop (Linux). */
	if (!s->sysctl.icmp_echo_ignore_all)
		icmp_reply(s, skb, ic);
	consume_skb(skb);
	return 0;
}

/*
 * Consumes skb (an error message): checks the quoted header, then hands it to
 * the protocol that sent the quoted datagram (Linux's icmp_unreach and
 * icmp_socket_deliver).
 */
static int icmp_unreach(struct np_stack *s, struct sk_buff *skb, const struct icmp_repr *ic)
{
	enum np_drop_reason reason;
	uint32_t info = 0;

	trace_stage(skb, "icmp_unreach");
	/* RFC 792: the error carries the internet header + 64 bits of the original datagram. */
	const uint8_t *q = ic->payload;
	size_t qlen = ic->payload_len;
	size_t qihl = qlen >= IPV4_HLEN_MIN ? (size_t)(q[0] & 0x0f) * 4 : 0;
	if (qihl < IPV4_HLEN_MIN || qlen < qihl + 8) {
		reason = NP_DROP_ICMP_TRUNCATED;
		goto error;
	}

	switch (ic->type) {
	case ICMP_DEST_UNREACH:
		if (ic->code > NR_ICMP_UNREACH)
			goto out;
		if (ic->code == ICMP_FRAG_NEEDED) {
			/* RFC 1191 4: next-hop MTU in the low 16 bits; below 68 it is bogus. */
			info = ic->rest & 0xFFFF;
			if (info < ICMP_MIN_MTU) {
				reason = NP_DROP_NOT_SPECIFIED;
				goto error;
			}
		}
		break;
	case ICMP_PARAMETERPROB:
		/* RFC 792: the pointer is the first byte of the rest. */
		info = ic->rest >> 24;
		break;
	default:
		break;
	}

	skb_pull(skb, ICMP_HLEN);
	const struct net_protocol *prot = s->inet_protos[q[9]];
	if (prot && prot->err_handler)
		prot->err_handler(skb, ic->type, ic->code, info);
out:
	consume_skb(skb);
	return 0;

error:
	NP_INC_STATS(s, IcmpInErrors);
	kfree_skb_reason(skb, reason);
	return -EINVAL;
}

/* The per-type In counters Linux keeps (ICMPMSGIN plus the RFC 2011 ones). */
static void icmp_count_in(struct np_stack *s, uint8_t type)
{
	switch (type) {
	case ICMP_DEST_UNREACH: NP_INC_STATS(s, IcmpInDestUnreachs); break;
	case ICMP_TIME_EXCEEDED: NP_INC_STATS(s, IcmpInTimeExcds); break;
	case ICMP_PARAMETERPROB: NP_INC_STATS(s, IcmpInParmProbs); break;
	case ICMP_REDIRECT: NP_INC_STATS(s, IcmpInRedirects); break;
	case ICMP_ECHO: NP_INC_STATS(s, IcmpInEchos); break;
	case ICMP_ECHOREPLY: NP_INC_STATS(s, IcmpInEchoReps); break;
	default: break;
	}
}

/* Consumes skb (data at the ICMP header). */
int icmp_rcv(struct sk_buff *skb)
{
	struct np_stack *s = skb->stack;
	enum np_drop_reason reason;
	struct icmp_repr ic;

	trace_stage(skb, "icmp_rcv");
	NP_INC_STATS(s, IcmpInMsgs);
	int r = icmp_parse(skb->data, skb->len, &ic);
	if (r == -WIRE_ECSUM) {
		NP_INC_STATS(s, IcmpInCsumErrors);
		reason = NP_DROP_ICMP_CSUM;
		goto error;
	}
	if (r < 0) {
		reason = NP_DROP_ICMP_TRUNCATED;
		goto error;
	}
	if (ic.type > NR_ICMP_TYPES) {
		reason = NP_DROP_ICMP_UNHANDLED;
		goto error;
	}
	icmp_count_in(s, ic.type);

	if (skb->rt_valid && (skb->rt.rt_type == RTN_BROADCAST || skb->rt.rt_type == RTN_MULTICAST)) {
		/*
		 * RFC 1122 3.2.2.6: echo to broadcast MAY be ignored (and is, by
		 * default: icmp_echo_ignore_broadcasts); 3.2.2.8 the same for
		 * timestamps. Any other type to broadcast is bogus.
		 */
		if ((ic.type == ICMP_ECHO || ic.type == ICMP_TIMESTAMP) && s->sysctl.icmp_echo_ignore_broadcasts) {
			reason = ic.type == ICMP_ECHO ? NP_DROP_ICMP_BROADCAST_ECHO : NP_DROP_ICMP_UNHANDLED;
			goto error;
		}
		if (ic.type != ICMP_ECHO && ic.type != ICMP_TIMESTAMP && ic.type != ICMP_ADDRESS &&
		    ic.type != ICMP_ADDRESSREPLY) {
			reason = NP_DROP_ICMP_UNHANDLED;
			goto error;
		}
	}

	switch (ic.type) {
	case ICMP_ECHO:
		return icmp_echo(s, skb, &ic);
	case ICMP_ECHOREPLY:
		return ping_rcv(s, skb, &ic);
	case ICMP_DEST_UNREACH:
	case ICMP_SOURCE_QUENCH:
	case ICMP_TIME_EXCEEDED:
	case ICMP_PARAMETERPROB:
		return icmp_unreach(s, skb, &ic);
	case ICMP_REDIRECT:
		/*
		 * RFC 1122 3.2.2.2 wants hosts to update their route; like Linux
		 * with accept_redirects off we leave the FIB alone.
		 */
	default:
		/* Known types we do not act on (timestamp, address mask ...): Linux's icmp_discard. */
		consume_skb(skb);
		return 0;
	}

error:
	NP_INC_STATS(s, IcmpInErrors);
	kfree_skb_reason(skb, reason);
	return -EINVAL;
}

/* ---- errors we send ------------------------------------------------------ */

/* RFC 1122 3.2.2 (e): the source must name a single host for us to answer it. */
static int icmp_source_ok(struct np_stack *s, const struct sk_buff *skb_in, uint32_t saddr)
{
	if (ipv4_is_zeronet(saddr) || ipv4_is_lbcast(saddr) || ipv4_is_multicast(saddr) ||
	    ipv4_is_class_e(saddr))
		return 0;
	/* 127/8 names a host only on lo: Linux answers there (UDP to a closed port on localhost). */
	if (ipv4_is_loopback(saddr))
		return skb_in->dev && (skb_in->dev->flags & NPF_LOOPBACK);
	const struct fib_route *fr = fib_lookup(s, saddr);
	if (fr && fr->type == RTN_BROADCAST)
		return 0;
	return 1;
}

void icmp_send(struct sk_buff *skb_in, uint8_t type, uint8_t code, uint32_t info)
{
	struct np_stack *s = skb_in->stack;
	struct rtable rt;

	if (skb_in->network_header == SKB_HDR_UNSET)
		return;
	const uint8_t *iph = skb_network_header(skb_in);
	const uint8_t *end = skb_in->data + skb_in->len;
	if (end < iph + IPV4_HLEN_MIN)
		return;
	size_t avail = (size_t)(end - iph);
	size_t ihl = (size_t)(iph[0] & 0x0f) * 4;
	uint16_t tot_len = be16_get(iph + 2);
	if (ihl < IPV4_HLEN_MIN || ihl > avail)
		return;
	if (tot_len >= ihl && tot_len < avail)
		avail = tot_len;
	uint8_t tos = iph[1];
	uint16_t frag_off = be16_get(iph + 6);
	uint8_t protocol = iph[9];
	uint32_t saddr = be32_get(iph + 12);
	uint32_t daddr = be32_get(iph + 16);

	trace_stage(skb_in, "icmp_send");
	/* RFC 1122 3.2.2: never about a datagram to a broadcast or multicast address ... */
	if (skb_in->rt_valid && (skb_in->rt.rt_type == RTN_BROADCAST || skb_in->rt.rt_type == RTN_MULTICAST))
		return;
	if (ipv4_is_multicast(daddr) || ipv4_is_lbcast(daddr))
		return;
	/* ... nor one sent as a link-layer broadcast or multicast ... */
	if (skb_in->pkt_type != PACKET_HOST)
		return;
	/* ... nor a non-initial fragment ... */
	if (frag_off & IP_OFFSET)
		return;
	/* ... nor one whose source does not define a single host ... */
	if (!icmp_source_ok(s, skb_in, saddr))
		return;
	/* ... nor an ICMP error message (unknown types count as errors, as in Linux). */
	if (icmp_is_error(type) && protocol == IPPROTO_ICMP_) {
		if (avail < ihl + 1)
			return;
		uint8_t itype = iph[ihl];
		if (itype > NR_ICMP_TYPES || icmp_is_error(itype))
			return;
	}
	/* Linux's icmpv4_mask_allow: path MTU discovery (RFC 1191) is never rate limited. */
	if (!(type == ICMP_DEST_UNREACH && code == ICMP_FRAG_NEEDED) && !icmp_ratelimit_allow(s, type))
		return;

	/* The source is the address the offending datagram was sent to, when it is ours. */
	int local = skb_in->rt_valid ? skb_in->rt.rt_type == RTN_LOCAL : inet_addr_is_local(s, daddr);
	uint32_t src = local ? daddr : 0;
	if (ip_route_output(s, saddr, src, NULL, &rt) < 0) {
		NP_INC_STATS(s, IpOutNoRoutes);
		return;
	}

	/* RFC 1812 4.3.2.3: quote as much as fits in 576 bytes (and in the path MTU). */
	size_t room = ICMP_ERR_MAX_LEN;
	if (rt.rt_mtu && rt.rt_mtu < room)
		room = rt.rt_mtu;
	room -= IPV4_HLEN_MIN + ICMP_HLEN;
	size_t qlen = avail < room ? avail : room;
	size_t len = ICMP_HLEN + qlen;

	struct sk_buff *skb = alloc_skb(s, (uint32_t)len);
	if (!skb) {
		NP_INC_STATS(s, IcmpOutErrors);
		return;
	}
	trace_begin(skb, 1);
	trace_stage(skb, "icmp_send");
	struct icmp_repr msg = {
		.type = type,
		.code = code,
		.rest = info,
		.payload = iph,
		.payload_len = qlen,
	};
	icmp_emit(&msg, skb_put(skb, (uint32_t)len), len);
	skb->rt = rt;
	skb->rt_valid = 1;

	NP_INC_STATS(s, IcmpOutMsgs);
	if (type == ICMP_DEST_UNREACH)
		NP_INC_STATS(s, IcmpOutDestUnreachs);
	else if (type == ICMP_TIME_EXCEEDED)
		NP_INC_STATS(s, IcmpOutTimeExcds);
	struct ip_out_params p = {
		.saddr = src,
		.daddr = saddr,
		.protocol = IPPROTO_ICMP_,
		.tos = icmp_is_error(type) ? (uint8_t)((tos & IPTOS_TOS_MASK) | IPTOS_PREC_INTERNETCONTROL) : tos,
	};
	ip_build_and_send_pkt(s, skb, &p);
}
