/*
 * Counter names and printing: drop reasons (like Linux's drop_reasons
 * table), SNMP counters as nstat names them, and device statistics as
 * `ip -s link` shows them. Read by `netpath run` at exit and by tests.
 */
#include "core/stack.h"
#include "net/ipv4/ip.h"
#include "net/ipv4/neighbour.h"
#include "net/tcp/tcp.h"

static const char *const drop_names[] = {
#define DR_NAME(name, desc) #name,
	NP_DROP_REASON_LIST(DR_NAME)
#undef DR_NAME
};
static const char *const drop_descs[] = {
#define DR_DESC(name, desc) desc,
	NP_DROP_REASON_LIST(DR_DESC)
#undef DR_DESC
};
static const char *const mib_names[] = {
#define MIB_NAME(group, name) #group #name,
	NP_MIB_LIST(MIB_NAME)
#undef MIB_NAME
};

const char *np_drop_reason_name(int r) { return r >= 0 && r < NP_DROP_MAX ? drop_names[r] : NULL; }
const char *np_drop_reason_desc(int r) { return r >= 0 && r < NP_DROP_MAX ? drop_descs[r] : NULL; }
const char *np_mib_name(int f) { return f >= 0 && f < NP_MIB_MAX ? mib_names[f] : NULL; }

/* Counters are written by the softirq round: readers from other threads take the stack lock. */
uint64_t np_stack_mib(const struct np_stack *s, enum np_mib_field f)
{
	struct np_stack *w = (struct np_stack *)s;
	np_stack_lock(w);
	uint64_t v = (unsigned)f < NP_MIB_MAX ? s->mib[f] : 0;
	np_stack_unlock(w);
	return v;
}

uint64_t np_stack_drops(const struct np_stack *s, enum np_drop_reason r)
{
	struct np_stack *w = (struct np_stack *)s;
	np_stack_lock(w);
	uint64_t v = (unsigned)r < NP_DROP_MAX ? s->drops[r] : 0;
	np_stack_unlock(w);
	return v;
}

/*
 * What the stack holds right now (gauges, not counters), in the words of
 * Linux's /proc/net/sockstat and arp_cache stats: the flood tests
 * (tests/robustness/flood) read them to show each table stays under its
 * sysctl bound. Bytes, except counts. Caller holds the stack lock.
 */
static void np_sockstat_print(struct np_stack *s, FILE *out)
{
	unsigned tcp = 0, udp = 0, synrecv = 0, ofo_segs = 0;
	unsigned long tcp_rmem = 0, udp_rmem = 0, ofo = 0;
	for (struct sock *sk = s->sock_list; sk; sk = sk->node_next) {
		if (sk->sk_protocol == IPPROTO_TCP) {
			const struct tcp_sock *tp = (const struct tcp_sock *)sk;
			tcp++;
			synrecv += sk->sk_state == TCP_SYN_RECV;
			tcp_rmem += (unsigned long)sk->sk_rmem_alloc;
			ofo += tp->ofo_queue ? tp->ofo_queue->bytes : 0;   /* NULL: empty */
			ofo_segs += tp->ofo_queue ? tp->ofo_queue->qlen : 0;
		} else if (sk->sk_protocol == IPPROTO_UDP) {
			udp++;
			udp_rmem += (unsigned long)sk->sk_rmem_alloc;
		}
	}
	fprintf(out, "sockstat of %s:\n", s->name);
	fprintf(out, "  TCP: inuse %u tw %u synrecv %u rmem %lu ofo %lu ofo_segs %u\n",
		tcp, tcp_tw_count(s), synrecv, tcp_rmem, ofo, ofo_segs);
	fprintf(out, "  UDP: inuse %u udp_rmem %lu\n", udp, udp_rmem);
	fprintf(out, "  FRAG: inuse %u memory %zu\n", ipfrag_queues(s), ipfrag_mem(s));
	fprintf(out, "  ARP: entries %d\n", neigh_count(s));
	fprintf(out, "  SKB: cached %u\n", s->skb_free_count);
}

void np_stack_print_counters(struct np_stack *s, FILE *out)
{
	np_stack_lock(s);
	fprintf(out, "Devices of %s:\n", s->name);
	for (struct net_device *d = s->dev_list; d; d = d->next) {
		const struct net_device_stats *st = &d->stats;
		fprintf(out, "  %d: %s: mtu %u\n", d->ifindex, d->name, d->mtu);
		fprintf(out, "    RX: bytes %llu packets %llu errors %llu dropped %llu mcast %llu\n",
			(unsigned long long)st->rx_bytes, (unsigned long long)st->rx_packets,
			(unsigned long long)st->rx_errors, (unsigned long long)st->rx_dropped,
			(unsigned long long)st->rx_multicast);
		fprintf(out, "    TX: bytes %llu packets %llu errors %llu dropped %llu carrier %llu\n",
			(unsigned long long)st->tx_bytes, (unsigned long long)st->tx_packets,
			(unsigned long long)st->tx_errors, (unsigned long long)st->tx_dropped,
			(unsigned long long)st->tx_carrier);
	}
	fprintf(out, "SNMP counters of %s (nonzero):\n", s->name);
	for (int i = 0; i < NP_MIB_MAX; i++)
		if (s->mib[i])
			fprintf(out, "  %-28s %llu\n", mib_names[i], (unsigned long long)s->mib[i]);
	fprintf(out, "Drops by reason of %s:\n", s->name);
	int any = 0;
	for (int i = 1; i < NP_DROP_MAX; i++) {
		if (!s->drops[i])
			continue;
		any = 1;
		fprintf(out, "  drop %-24s %llu  (%s)\n", drop_names[i], (unsigned long long)s->drops[i], drop_descs[i]);
	}
	if (!any)
		fprintf(out, "  (none)\n");
	fprintf(out, "Queueing disciplines of %s:\n", s->name);
	np_qdisc_print(s, out);
	np_sockstat_print(s, out);
	np_stack_unlock(s);
}
