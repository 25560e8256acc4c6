/*
 * Per-packet path trace: the seed diagrams made observable. A traced skb
 * carries a record; each stage appends the kernel function name it passed;
 * consume_skb / kfree_skb_reason end the record, print it and hand it to the
 * user's callback. Untraced packets pay one NULL test per stage.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/netdevice.h"
#include "core/stack.h"
#include "trace/trace.h"
#include "wire/arp.h"
#include "wire/eth.h"
#include "wire/icmp.h"
#include "wire/ipv4.h"
#include "wire/tcp.h"
#include "wire/udp.h"

void np_stack_trace(struct np_stack *s, unsigned flags, FILE *out)
{
	s->trace_flags = flags;
	s->trace_out = out;
}

void np_stack_trace_cb(struct np_stack *s, void (*cb)(void *arg, const struct np_trace_path *p), void *arg)
{
	s->trace_cb = cb;
	s->trace_cb_arg = arg;
}

static FILE *trace_file(const struct np_stack *s) { return s->trace_out ? s->trace_out : stderr; }

void trace_begin(struct sk_buff *skb, int tx)
{
	struct np_stack *s = skb->stack;
	if (!s->trace_flags && !s->trace_cb)
		return;
	struct np_trace_path *p = calloc(1, sizeof(*p));
	if (!p)
		return;  /* tracing is best effort: the packet goes on untraced */
	p->id = ++s->trace_next_id;
	p->start_ns = np_stack_now(s);
	p->tx = tx;
	p->len = skb->len;
	skb->trace = p;
}

static const char *icmp_type_name(uint8_t t)
{
	switch (t) {
	case ICMP_ECHOREPLY: return "echo reply";
	case ICMP_DEST_UNREACH: return "destination unreachable";
	case ICMP_SOURCE_QUENCH: return "source quench";
	case ICMP_REDIRECT: return "redirect";
	case ICMP_ECHO: return "echo request";
	case ICMP_TIME_EXCEEDED: return "time exceeded";
	case ICMP_PARAMETERPROB: return "parameter problem";
	default: return "type";
	}
}

static void summarize_ipv4(const uint8_t *p, size_t len, char *out, size_t cap)
{
	struct ipv4_repr ip;
	char a[16], b[16];
	if (ipv4_parse(p, len, &ip) < 0) {
		snprintf(out, cap, "IPv4 (malformed header, %zu bytes)", len);
		return;
	}
	const uint8_t *l4 = p + ip.ihl;
	size_t l4len = ip.tot_len - ip.ihl;
	int n = snprintf(out, cap, "%s > %s ", ipv4_ntoa(ip.saddr, a), ipv4_ntoa(ip.daddr, b));
	if (n < 0 || (size_t)n >= cap)
		return;
	out += n;
	cap -= (size_t)n;
	if ((ip.frag_off & IP_OFFSET) != 0) {
		snprintf(out, cap, "proto %u fragment offset %u len %u", ip.protocol, (ip.frag_off & IP_OFFSET) * 8,
			 ip.tot_len);
		return;
	}
	if (ip.protocol == IPPROTO_ICMP_ && l4len >= ICMP_HLEN) {
		uint8_t t = l4[0];
		if (t == ICMP_ECHO || t == ICMP_ECHOREPLY)
			snprintf(out, cap, "ICMP %s id=%u seq=%u len %u", icmp_type_name(t), be16_get(l4 + 4),
				 be16_get(l4 + 6), ip.tot_len);
		else
			snprintf(out, cap, "ICMP %s code %u len %u", icmp_type_name(t), l4[1], ip.tot_len);
	} else if (ip.protocol == IPPROTO_UDP_ && l4len >= UDP_HLEN) {
		snprintf(out, cap, "UDP %u > %u len %u", be16_get(l4), be16_get(l4 + 2), ip.tot_len);
	} else if (ip.protocol == IPPROTO_TCP_ && l4len >= TCP_HLEN_MIN) {
		static const char fl[] = "FSRPAUEC";
		char flags[9];
		int k = 0;
		for (int i = 0; i < 8; i++)
			if (l4[13] & (1 << i))
				flags[k++] = fl[i];
		flags[k] = 0;
		snprintf(out, cap, "TCP %u > %u [%s] seq %u ack %u len %u", be16_get(l4), be16_get(l4 + 2), flags,
			 be32_get(l4 + 4), be32_get(l4 + 8), ip.tot_len);
	} else {
		snprintf(out, cap, "proto %u len %u", ip.protocol, ip.tot_len);
	}
}

static void summarize_l3(uint16_t proto, const uint8_t *p, size_t len, char *out, size_t cap)
{
	if (proto == ETH_P_IP) {
		summarize_ipv4(p, len, out, cap);
	} else if (proto == ETH_P_ARP) {
		struct arp_repr a;
		char x[16], y[16], m[18];
		if (arp_parse(p, len, &a) < 0)
			snprintf(out, cap, "ARP (malformed, %zu bytes)", len);
		else if (a.op == ARPOP_REQUEST)
			snprintf(out, cap, "ARP request who-has %s tell %s", ipv4_ntoa(a.tip, x), ipv4_ntoa(a.sip, y));
		else
			snprintf(out, cap, "ARP reply %s is-at %s", ipv4_ntoa(a.sip, x), eth_ntoa(a.sha, m));
	} else {
		snprintf(out, cap, "EtherType 0x%04x, %zu bytes", proto, len);
	}
}

void trace_summarize(const struct sk_buff *skb, char *out, size_t cap)
{
	const uint8_t *tail = skb->head + skb->tail;
	if (skb->network_header != SKB_HDR_UNSET && skb->head + skb->network_header <= tail) {
		const uint8_t *p = skb->head + skb->network_header;
		uint16_t proto = skb->protocol;
		/* Locally built IP packets may not carry an EtherType yet. */
		if (!proto && p < tail && (p[0] >> 4) == 4)
			proto = ETH_P_IP;
		summarize_l3(proto, p, (size_t)(tail - p), out, cap);
		return;
	}
	const uint8_t *m = skb->mac_header != SKB_HDR_UNSET ? skb->head + skb->mac_header : skb->data;
	struct eth_repr e;
	if (m <= tail && eth_parse(m, (size_t)(tail - m), &e) == 0) {
		summarize_l3(e.ethertype, m + ETH_HLEN, (size_t)(tail - m) - ETH_HLEN, out, cap);
		return;
	}
	snprintf(out, cap, "runt frame, %u bytes", skb->len);
}

static void trace_fill_summary(struct np_trace_path *p, const struct sk_buff *skb)
{
	if (!p->summary[0])
		trace_summarize(skb, p->summary, sizeof(p->summary));
	/* Locally built packets start empty: their length is known once headers are on. */
	if (!p->len)
		p->len = skb->len;
	if (!p->dev && skb->dev)
		p->dev = skb->dev->name;
}

void trace_stage_slow(struct sk_buff *skb, const char *fn, const char *detail)
{
	struct np_trace_path *p = skb->trace;
	struct np_stack *s = skb->stack;
	/* The summary is taken once the headers are known, before later stages pull them. */
	int new_summary = 0;
	if (!p->summary[0] && (skb->network_header != SKB_HDR_UNSET || skb->mac_header != SKB_HDR_UNSET)) {
		trace_fill_summary(p, skb);
		new_summary = 1;
	}
	if (p->nstages < NP_TRACE_MAX_STAGES) {
		struct np_trace_stage *st = &p->stages[p->nstages++];
		st->fn = fn;
		if (detail)
			snprintf(st->detail, sizeof(st->detail), "%s", detail);
	}
	if (s->trace_flags & NP_TRACE_STAGES) {
		uint64_t dt = np_stack_now(s) - p->start_ns;
		/* The packet's summary is printed on the first stage that knows it. */
		fprintf(trace_file(s), "[%s] #%" PRIu64 " +%" PRIu64 ".%03" PRIu64 "us %s%s%s%s%s\n", s->name, p->id,
			dt / 1000, dt % 1000, fn, detail ? " " : "", detail ? detail : "", new_summary ? "  " : "",
			new_summary ? p->summary : "");
	}
}

void np_trace_format(const struct np_trace_path *p, char *out, size_t cap)
{
	size_t used = 0;
	out[0] = 0;
	for (int i = 0; i < p->nstages && used < cap; i++) {
		int n = snprintf(out + used, cap - used, "%s%s", i ? " -> " : "", p->stages[i].fn);
		if (n < 0)
			return;
		used += (size_t)n;
		if (p->stages[i].detail[0] && used < cap) {
			n = snprintf(out + used, cap - used, "(%s)", p->stages[i].detail);
			if (n < 0)
				return;
			used += (size_t)n;
		}
	}
	if (used < cap) {
		if (p->dropped)
			snprintf(out + used, cap - used, " -> DROP %s", np_drop_reason_name(p->reason));
		else
			snprintf(out + used, cap - used, " -> consumed");
	}
}

void trace_end(struct sk_buff *skb, int dropped, enum np_drop_reason reason)
{
	struct np_trace_path *p = skb->trace;
	struct np_stack *s = skb->stack;
	skb->trace = NULL;
	trace_fill_summary(p, skb);
	if (!p->dev)
		p->dev = "-";
	p->dropped = dropped;
	p->reason = dropped ? (int)reason : 0;
	if (s->trace_flags & NP_TRACE_PATHS) {
		char path[NP_TRACE_MAX_STAGES * 80];
		np_trace_format(p, path, sizeof(path));
		fprintf(trace_file(s), "[%s] #%" PRIu64 " %s %s %s: %s\n", s->name, p->id, p->tx ? "tx" : "rx", p->dev,
			p->summary, path);
	}
	if (s->trace_cb)
		s->trace_cb(s->trace_cb_arg, p);
	free(p);
}
