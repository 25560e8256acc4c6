/*
 * iptables command-line syntax for the rule tables (the parts of
 * iptables(8), iptables-extensions(8) netpath implements): commands
 * -A -I -D -P -N -X -F -Z with -t filter|nat, matches -i -o -s -d -p
 * --sport --dport --icmp-type --tcp-flags --syn -m state/conntrack, targets
 * ACCEPT DROP REJECT LOG RETURN SNAT DNAT MASQUERADE and user chains.
 * Place in the packet path: none; np_nf_rule -> nf_rule_apply builds the
 * struct nf_rule that ipt_do_table (ip_tables.c) walks.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/stack.h"
#include "netfilter/nf_tables.h"
#include "wire/icmp.h"
#include "wire/ipv4.h"
#include "wire/tcp.h"

#define MAX_TOKENS 64

struct parse {
	char *tok[MAX_TOKENS];
	int ntok, i;
	char *err;
	size_t errlen;
	char buf[1024];
};

static int perr(struct parse *ps, const char *fmt, ...)
{
	if (ps->err && ps->errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(ps->err, ps->errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/* Splits line into tokens; "double" or 'single' quotes group words (for --log-prefix). */
static int tokenize(struct parse *ps, const char *line)
{
	size_t o = 0;
	const char *p = line;
	ps->ntok = 0;
	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
			p++;
		if (!*p)
			break;
		if (ps->ntok == MAX_TOKENS)
			return perr(ps, "too many words in the rule (at most %d)", MAX_TOKENS);
		ps->tok[ps->ntok++] = ps->buf + o;
		while (*p && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
			if (*p == '"' || *p == '\'') {
				char q = *p++;
				while (*p && *p != q) {
					if (o + 2 >= sizeof(ps->buf))
						return perr(ps, "rule too long");
					ps->buf[o++] = *p++;
				}
				if (*p != q)
					return perr(ps, "unterminated quote %c", q);
				p++;
				continue;
			}
			if (o + 2 >= sizeof(ps->buf))
				return perr(ps, "rule too long");
			ps->buf[o++] = *p++;
		}
		ps->buf[o++] = 0;
	}
	return 0;
}

static const char *next_arg(struct parse *ps, const char *opt)
{
	if (ps->i + 1 >= ps->ntok) {
		perr(ps, "option '%s' requires a value", opt);
		return NULL;
	}
	return ps->tok[++ps->i];
}

static int parse_u32(const char *s, unsigned long max, unsigned long *v)
{
	char *end;
	if (!*s || *s == '-' || *s == '+')
		return -1;
	errno = 0;
	unsigned long x = strtoul(s, &end, 10);
	if (errno || *end || x > max)
		return -1;
	*v = x;
	return 0;
}

static int parse_prefix(const char *s, uint32_t *addr, uint32_t *mask)
{
	char a[32];
	const char *slash = strchr(s, '/');
	size_t l = slash ? (size_t)(slash - s) : strlen(s);
	if (l >= sizeof(a))
		return -1;
	memcpy(a, s, l);
	a[l] = 0;
	if (ipv4_aton(a, addr) < 0)
		return -1;
	*mask = 0xffffffffu;
	if (slash) {
		unsigned long plen;
		uint32_t m;
		if (parse_u32(slash + 1, 32, &plen) == 0)
			*mask = ipv4_plen_mask((int)plen);
		else if (ipv4_aton(slash + 1, &m) == 0)
			*mask = m;
		else
			return -1;
	}
	*addr &= *mask;
	return 0;
}

static const struct { const char *name; uint16_t port; } services[] = {
	{ "echo", 7 }, { "ftp", 21 }, { "ssh", 22 }, { "telnet", 23 }, { "smtp", 25 }, { "domain", 53 },
	{ "http", 80 }, { "pop3", 110 }, { "ntp", 123 }, { "imap", 143 }, { "snmp", 161 }, { "https", 443 },
};

static int parse_port(const char *s, uint16_t *port)
{
	unsigned long v;
	if (parse_u32(s, 65535, &v) == 0) {
		*port = (uint16_t)v;
		return 0;
	}
	for (size_t i = 0; i < sizeof(services) / sizeof(services[0]); i++)
		if (!strcmp(s, services[i].name)) {
			*port = services[i].port;
			return 0;
		}
	return -1;
}

/* "80", "1000:2000", ":1024", "1024:" (iptables' port ranges). */
static int parse_port_range(const char *s, uint16_t *lo, uint16_t *hi)
{
	char a[32];
	const char *colon = strchr(s, ':');
	if (!colon)
		return parse_port(s, lo) < 0 ? -1 : (*hi = *lo, 0);
	size_t l = (size_t)(colon - s);
	if (l >= sizeof(a))
		return -1;
	memcpy(a, s, l);
	a[l] = 0;
	*lo = 0;
	*hi = 65535;
	if (l && parse_port(a, lo) < 0)
		return -1;
	if (colon[1] && parse_port(colon + 1, hi) < 0)
		return -1;
	return *lo <= *hi ? 0 : -1;
}

static const struct { const char *name; int type, code; } icmp_types[] = {
	{ "any", -1, -1 }, { "echo-reply", 0, -1 }, { "pong", 0, -1 }, { "destination-unreachable", 3, -1 },
	{ "network-unreachable", 3, 0 }, { "host-unreachable", 3, 1 }, { "protocol-unreachable", 3, 2 },
	{ "port-unreachable", 3, 3 }, { "fragmentation-needed", 3, 4 }, { "source-route-failed", 3, 5 },
	{ "network-prohibited", 3, 9 }, { "host-prohibited", 3, 10 }, { "communication-prohibited", 3, 13 },
	{ "source-quench", 4, -1 }, { "redirect", 5, -1 }, { "echo-request", 8, -1 }, { "ping", 8, -1 },
	{ "router-advertisement", 9, -1 }, { "router-solicitation", 10, -1 }, { "time-exceeded", 11, -1 },
	{ "ttl-exceeded", 11, -1 }, { "ttl-zero-during-transit", 11, 0 }, { "ttl-zero-during-reassembly", 11, 1 },
	{ "parameter-problem", 12, -1 }, { "timestamp-request", 13, -1 }, { "timestamp-reply", 14, -1 },
};

static int parse_icmp_type(const char *s, int *type, int *code)
{
	for (size_t i = 0; i < sizeof(icmp_types) / sizeof(icmp_types[0]); i++)
		if (!strcasecmp(s, icmp_types[i].name)) {
			*type = icmp_types[i].type;
			*code = icmp_types[i].code;
			return 0;
		}
	char a[16];
	const char *slash = strchr(s, '/');
	size_t l = slash ? (size_t)(slash - s) : strlen(s);
	unsigned long t, c;
	if (l >= sizeof(a))
		return -1;
	memcpy(a, s, l);
	a[l] = 0;
	if (parse_u32(a, 255, &t) < 0)
		return -1;
	*type = (int)t;
	*code = -1;
	if (slash) {
		if (parse_u32(slash + 1, 255, &c) < 0)
			return -1;
		*code = (int)c;
	}
	return 0;
}

/* "SYN,ACK,FIN" / "ALL" / "NONE" -> TCPF_* bits; -1 naming the bad flag in ps. */
static int parse_tcp_flags(struct parse *ps, const char *s, uint8_t *out)
{
	static const struct { const char *n; uint8_t f; } fl[] = {
		{ "FIN", TCPF_FIN }, { "SYN", TCPF_SYN }, { "RST", TCPF_RST }, { "PSH", TCPF_PSH },
		{ "ACK", TCPF_ACK }, { "URG", TCPF_URG }, { "ECE", TCPF_ECE }, { "CWR", TCPF_CWR },
		{ "ALL", 0x3f }, { "NONE", 0 },
	};
	char tmp[64];
	snprintf(tmp, sizeof(tmp), "%s", s);
	*out = 0;
	for (char *save = NULL, *w = strtok_r(tmp, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
		size_t i;
		for (i = 0; i < sizeof(fl) / sizeof(fl[0]); i++)
			if (!strcasecmp(w, fl[i].n))
				break;
		if (i == sizeof(fl) / sizeof(fl[0])) {
			perr(ps, "bad TCP flag '%s' in '%s' (SYN ACK FIN RST URG PSH ECE CWR ALL NONE)", w, s);
			return -1;
		}
		*out |= fl[i].f;
	}
	return 0;
}

static int parse_states(struct parse *ps, const char *s, unsigned *mask)
{
	static const struct { const char *n; unsigned b; } st[] = {
		{ "INVALID", NF_CT_INVALID }, { "NEW", NF_CT_NEW }, { "ESTABLISHED", NF_CT_ESTABLISHED },
		{ "RELATED", NF_CT_RELATED }, { "UNTRACKED", NF_CT_UNTRACKED },
	};
	char tmp[128];
	snprintf(tmp, sizeof(tmp), "%s", s);
	*mask = 0;
	for (char *save = NULL, *w = strtok_r(tmp, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
		size_t i;
		for (i = 0; i < sizeof(st) / sizeof(st[0]); i++)
			if (!strcasecmp(w, st[i].n))
				break;
		if (i == sizeof(st) / sizeof(st[0]))
			return perr(ps, "bad state '%s' (NEW ESTABLISHED RELATED INVALID UNTRACKED)", w), -1;
		*mask |= st[i].b;
	}
	return *mask ? 0 : (perr(ps, "empty state list"), -1);
}

/* "a.b.c.d[-e.f.g.h][:port[-port]]" for --to-source / --to-destination. */
static int parse_nat_range(struct parse *ps, const char *s, struct nf_rule *r)
{
	char a[64];
	snprintf(a, sizeof(a), "%s", s);
	char *colon = strchr(a, ':');
	if (colon) {
		*colon = 0;
		char *dash = strchr(colon + 1, '-');
		if (dash)
			*dash = 0;
		if (parse_port(colon + 1, &r->nat_plo) < 0 || !r->nat_plo)
			return perr(ps, "bad port '%s' in '%s'", colon + 1, s);
		r->nat_phi = r->nat_plo;
		if (dash && (parse_port(dash + 1, &r->nat_phi) < 0 || r->nat_phi < r->nat_plo))
			return perr(ps, "bad port range in '%s'", s);
	}
	char *dash = strchr(a, '-');
	if (dash)
		*dash = 0;
	if (ipv4_aton(a, &r->nat_lo) < 0)
		return perr(ps, "bad address '%s' in '%s'", a, s);
	r->nat_hi = r->nat_lo;
	if (dash && (ipv4_aton(dash + 1, &r->nat_hi) < 0 || r->nat_hi < r->nat_lo))
		return perr(ps, "bad address range in '%s'", s);
	return 0;
}

static int proto_by_name(const char *s, uint8_t *proto)
{
	unsigned long v;
	if (!strcasecmp(s, "tcp"))
		*proto = IPPROTO_TCP_;
	else if (!strcasecmp(s, "udp"))
		*proto = IPPROTO_UDP_;
	else if (!strcasecmp(s, "icmp"))
		*proto = IPPROTO_ICMP_;
	else if (!strcasecmp(s, "all"))
		*proto = 0;
	else if (parse_u32(s, 255, &v) == 0)
		*proto = (uint8_t)v;
	else
		return -1;
	return 0;
}

/* Parses matches and target from ps->i on into r. 0 or -EINVAL (ps->err set). */
static int parse_rulespec(struct parse *ps, struct nf_net *n, struct nf_table *t, const char *chain,
			  struct nf_rule *r)
{
	int inv = 0;
	const char *target = NULL;
	const char *reject_with = NULL, *to = NULL, *to_ports = NULL;
	r->icmp_type = -1;
	r->icmp_code = -1;
	for (; ps->i < ps->ntok; ps->i++) {
		const char *o = ps->tok[ps->i];
		const char *v;
		if (!strcmp(o, "!")) {
			if (inv)
				return perr(ps, "'!' twice in a row");
			inv = 1;
			continue;
		}
		int matched_inv = inv;
		inv = 0;
		/* iptables also accepts "-s ! addr" (old syntax): a "!" right after the option. */
#define VALUE()                                                         \
	do {                                                            \
		if (!(v = next_arg(ps, o)))                             \
			return -EINVAL;                                 \
		if (!strcmp(v, "!")) {                                  \
			matched_inv = 1;                                \
			if (!(v = next_arg(ps, o)))                     \
				return -EINVAL;                         \
		}                                                       \
	} while (0)
		if (!strcmp(o, "-i") || !strcmp(o, "--in-interface") || !strcmp(o, "-o") ||
		    !strcmp(o, "--out-interface")) {
			VALUE();
			int in = o[1] == 'i' || !strcmp(o, "--in-interface");
			if (strlen(v) >= sizeof(r->iif) || !*v)
				return perr(ps, "bad interface name '%s'", v);
			if (in) {
				snprintf(r->iif, sizeof(r->iif), "%s", v);
				r->iif_inv = (uint8_t)matched_inv;
			} else {
				snprintf(r->oif, sizeof(r->oif), "%s", v);
				r->oif_inv = (uint8_t)matched_inv;
			}
		} else if (!strcmp(o, "-s") || !strcmp(o, "--source") || !strcmp(o, "--src")) {
			VALUE();
			if (parse_prefix(v, &r->src, &r->smask) < 0)
				return perr(ps, "bad source address '%s' (a.b.c.d or a.b.c.d/len)", v);
			r->has_src = 1;
			r->src_inv = (uint8_t)matched_inv;
		} else if (!strcmp(o, "-d") || !strcmp(o, "--destination") || !strcmp(o, "--dst")) {
			VALUE();
			if (parse_prefix(v, &r->dst, &r->dmask) < 0)
				return perr(ps, "bad destination address '%s' (a.b.c.d or a.b.c.d/len)", v);
			r->has_dst = 1;
			r->dst_inv = (uint8_t)matched_inv;
		} else if (!strcmp(o, "-p") || !strcmp(o, "--protocol")) {
			VALUE();
			if (proto_by_name(v, &r->proto) < 0)
				return perr(ps, "unknown protocol '%s' (tcp, udp, icmp, all or a number)", v);
			r->proto_inv = (uint8_t)matched_inv;
		} else if (!strcmp(o, "--sport") || !strcmp(o, "--source-port") || !strcmp(o, "--dport") ||
			   !strcmp(o, "--destination-port")) {
			VALUE();
			int src = !strcmp(o, "--sport") || !strcmp(o, "--source-port");
			if ((r->proto != IPPROTO_TCP_ && r->proto != IPPROTO_UDP_) || r->proto_inv)
				return perr(ps, "'%s' needs '-p tcp' or '-p udp' before it", o);
			uint16_t lo, hi;
			if (parse_port_range(v, &lo, &hi) < 0)
				return perr(ps, "bad port '%s' (a number, a name or a range lo:hi)", v);
			if (src) {
				r->has_sport = 1, r->sport_lo = lo, r->sport_hi = hi, r->sport_inv = (uint8_t)matched_inv;
			} else {
				r->has_dport = 1, r->dport_lo = lo, r->dport_hi = hi, r->dport_inv = (uint8_t)matched_inv;
			}
		} else if (!strcmp(o, "--icmp-type")) {
			VALUE();
			if (r->proto != IPPROTO_ICMP_)
				return perr(ps, "'--icmp-type' needs '-p icmp' before it");
			if (parse_icmp_type(v, &r->icmp_type, &r->icmp_code) < 0)
				return perr(ps, "unknown ICMP type '%s' (e.g. echo-request, 8 or 3/3)", v);
			r->icmp_inv = (uint8_t)matched_inv;
			if (r->icmp_type < 0 && !matched_inv)
				r->icmp_type = -1; /* "any" */
		} else if (!strcmp(o, "--tcp-flags")) {
			if (r->proto != IPPROTO_TCP_)
				return perr(ps, "'--tcp-flags' needs '-p tcp' before it");
			VALUE();
			const char *comp = next_arg(ps, o);
			if (!comp)
				return perr(ps, "'--tcp-flags' takes two lists: MASK COMP (e.g. SYN,ACK SYN)");
			if (parse_tcp_flags(ps, v, &r->tcp_mask) < 0 || parse_tcp_flags(ps, comp, &r->tcp_comp) < 0)
				return -EINVAL;
			r->has_tcpflags = 1;
			r->tcpflags_inv = (uint8_t)matched_inv;
		} else if (!strcmp(o, "--syn")) {
			if (r->proto != IPPROTO_TCP_)
				return perr(ps, "'--syn' needs '-p tcp' before it");
			r->has_tcpflags = 1;
			r->tcp_mask = TCPF_SYN | TCPF_RST | TCPF_ACK | TCPF_FIN;
			r->tcp_comp = TCPF_SYN;
			r->tcpflags_inv = (uint8_t)matched_inv;
		} else if (!strcmp(o, "-m") || !strcmp(o, "--match")) {
			if (!(v = next_arg(ps, o)))
				return -EINVAL;
			if (strcmp(v, "state") && strcmp(v, "conntrack") && strcmp(v, "tcp") && strcmp(v, "udp") &&
			    strcmp(v, "icmp") && strcmp(v, "comment"))
				return perr(ps, "unknown match '%s' (state, conntrack, tcp, udp, icmp, comment)", v);
		} else if (!strcmp(o, "--comment")) {
			if (!(v = next_arg(ps, o)))
				return -EINVAL;
		} else if (!strcmp(o, "--state") || !strcmp(o, "--ctstate")) {
			VALUE();
			if (parse_states(ps, v, &r->state_mask) < 0)
				return -EINVAL;
			r->has_state = 1;
			r->state_inv = (uint8_t)matched_inv;
		} else if (!strcmp(o, "-j") || !strcmp(o, "--jump")) {
			if (!(target = next_arg(ps, o)))
				return -EINVAL;
		} else if (!strcmp(o, "--reject-with")) {
			if (!(reject_with = next_arg(ps, o)))
				return -EINVAL;
		} else if (!strcmp(o, "--log-prefix")) {
			if (!(v = next_arg(ps, o)))
				return -EINVAL;
			if (strlen(v) >= sizeof(r->log_prefix))
				return perr(ps, "--log-prefix '%s' is longer than 29 characters", v);
			snprintf(r->log_prefix, sizeof(r->log_prefix), "%s", v);
		} else if (!strcmp(o, "--log-level")) {
			if (!next_arg(ps, o))
				return -EINVAL;
		} else if (!strcmp(o, "--to-source") || !strcmp(o, "--to-destination") || !strcmp(o, "--to")) {
			if (!(to = next_arg(ps, o)))
				return -EINVAL;
		} else if (!strcmp(o, "--to-ports")) {
			if (!(to_ports = next_arg(ps, o)))
				return -EINVAL;
		} else {
			return perr(ps, "unknown option '%s'", o);
		}
		if (matched_inv && (!strcmp(o, "-m") || !strcmp(o, "-j") || !strcmp(o, "--jump")))
			return perr(ps, "'!' cannot apply to '%s'", o);
#undef VALUE
	}
	if (inv)
		return perr(ps, "'!' at the end of the rule");

	r->target = NFT_NONE;
	if (!target)
		goto check;
	if (!strcmp(target, "ACCEPT"))
		r->target = NFT_ACCEPT;
	else if (!strcmp(target, "DROP"))
		r->target = NFT_DROP;
	else if (!strcmp(target, "RETURN"))
		r->target = NFT_RETURN;
	else if (!strcmp(target, "LOG"))
		r->target = NFT_LOG;
	else if (!strcmp(target, "REJECT")) {
		if (t != &n->filter)
			return perr(ps, "REJECT is only valid in the filter table");
		r->target = NFT_REJECT;
		r->reject_with = NF_REJECT_PORT_UNREACH;
		if (reject_with) {
			static const struct { const char *n; enum nf_reject_with w; } rw[] = {
				{ "icmp-port-unreachable", NF_REJECT_PORT_UNREACH }, { "port-unreach", NF_REJECT_PORT_UNREACH },
				{ "icmp-host-unreachable", NF_REJECT_HOST_UNREACH }, { "host-unreach", NF_REJECT_HOST_UNREACH },
				{ "icmp-net-unreachable", NF_REJECT_NET_UNREACH }, { "net-unreach", NF_REJECT_NET_UNREACH },
				{ "icmp-proto-unreachable", NF_REJECT_PROTO_UNREACH }, { "proto-unreach", NF_REJECT_PROTO_UNREACH },
				{ "icmp-admin-prohibited", NF_REJECT_ADMIN_PROHIB }, { "admin-prohib", NF_REJECT_ADMIN_PROHIB },
				{ "tcp-reset", NF_REJECT_TCP_RESET }, { "tcp-rst", NF_REJECT_TCP_RESET },
			};
			size_t k;
			for (k = 0; k < sizeof(rw) / sizeof(rw[0]); k++)
				if (!strcmp(reject_with, rw[k].n))
					break;
			if (k == sizeof(rw) / sizeof(rw[0]))
				return perr(ps, "unknown --reject-with '%s' (icmp-port-unreachable, icmp-host-unreachable, "
					    "icmp-net-unreachable, icmp-proto-unreachable, icmp-admin-prohibited, tcp-reset)",
					    reject_with);
			r->reject_with = rw[k].w;
			if (r->reject_with == NF_REJECT_TCP_RESET && (r->proto != IPPROTO_TCP_ || r->proto_inv))
				return perr(ps, "'--reject-with tcp-reset' needs '-p tcp'");
		}
		reject_with = NULL;
	} else if (!strcmp(target, "SNAT") || !strcmp(target, "DNAT") || !strcmp(target, "MASQUERADE")) {
		int dnat = target[0] == 'D';
		if (t != &n->nat)
			return perr(ps, "%s is only valid in the nat table (-t nat)", target);
		if (dnat && (!strcmp(chain, "POSTROUTING") || !strcmp(chain, "INPUT")))
			return perr(ps, "DNAT is only valid in the PREROUTING and OUTPUT chains");
		if (!dnat && (!strcmp(chain, "PREROUTING") || !strcmp(chain, "OUTPUT")))
			return perr(ps, "%s is only valid in the POSTROUTING and INPUT chains", target);
		r->target = dnat ? NFT_DNAT : target[0] == 'S' ? NFT_SNAT : NFT_MASQUERADE;
		if (r->target == NFT_MASQUERADE) {
			if (to)
				return perr(ps, "MASQUERADE takes --to-ports, not '%s'", to);
			if (to_ports) {
				char tmp[64];
				snprintf(tmp, sizeof(tmp), "0.0.0.0:%s", to_ports);
				if (parse_nat_range(ps, tmp, r) < 0)
					return -EINVAL;
			}
		} else {
			if (!to)
				return perr(ps, "%s needs %s ADDR[:PORT]", target, dnat ? "--to-destination" : "--to-source");
			if (parse_nat_range(ps, to, r) < 0)
				return -EINVAL;
		}
		if (r->nat_plo && r->proto != IPPROTO_TCP_ && r->proto != IPPROTO_UDP_)
			return perr(ps, "a port in %s needs '-p tcp' or '-p udp'", target);
		to = to_ports = NULL;
	} else {
		struct nf_chain *c = nf_chain_find(t, target);
		if (!c || c->builtin)
			return perr(ps, "unknown target or chain '%s' (ACCEPT, DROP, REJECT, LOG, RETURN, %s or a chain made with -N)",
				    target, t == &n->nat ? "SNAT, DNAT, MASQUERADE" : "");
		if (!strcmp(c->name, chain))
			return perr(ps, "chain '%s' cannot jump to itself", chain);
		r->target = NFT_JUMP;
		r->jump = c;
	}
check:
	if (reject_with)
		return perr(ps, "'--reject-with' needs '-j REJECT'");
	if (to || to_ports)
		return perr(ps, "'%s' needs '-j SNAT', '-j DNAT' or '-j MASQUERADE'", to ? to : to_ports);
	if (r->log_prefix[0] && r->target != NFT_LOG)
		return perr(ps, "'--log-prefix' needs '-j LOG'");
	if (!strcmp(chain, "INPUT") && t == &n->filter && r->oif[0])
		return perr(ps, "'-o' cannot be used in the INPUT chain");
	if (!strcmp(chain, "OUTPUT") && r->iif[0])
		return perr(ps, "'-i' cannot be used in the OUTPUT chain");
	if (!strcmp(chain, "PREROUTING") && r->oif[0])
		return perr(ps, "'-o' cannot be used in the PREROUTING chain");
	if (!strcmp(chain, "POSTROUTING") && r->iif[0])
		return perr(ps, "'-i' cannot be used in the POSTROUTING chain");
	return 0;
}

/* Rules compare equal for -D when every match and the target agree (counters aside). */
static int rule_same(const struct nf_rule *a, const struct nf_rule *b)
{
	struct nf_rule x = *a, y = *b;
	x.next = y.next = NULL;
	x.pkts = y.pkts = x.bytes = y.bytes = 0;
	return memcmp(&x, &y, sizeof(x)) == 0;
}

static void rule_free(struct nf_rule *r)
{
	if (r->target == NFT_JUMP && r->jump)
		r->jump->refs--;
	free(r);
}

static int needs_conntrack(const struct nf_rule *r, const struct nf_net *n, const struct nf_table *t)
{
	return r->has_state || t == &n->nat;
}

int nf_rule_apply(struct nf_net *n, const char *line, char *err, size_t errlen)
{
	struct parse *ps = calloc(1, sizeof(*ps));
	if (!ps)
		return -ENOMEM;
	ps->err = err;
	ps->errlen = errlen;
	int rc = tokenize(ps, line);
	if (rc < 0)
		goto out;
	if (ps->ntok == 0) {
		rc = perr(ps, "empty rule");
		goto out;
	}
	struct nf_table *t = &n->filter;
	const char *cmd = NULL, *chain = NULL;
	ps->i = 0;
	/* Options before the command: -t TABLE. A chain name first means -A CHAIN. */
	while (ps->i < ps->ntok) {
		const char *o = ps->tok[ps->i];
		if (!strcmp(o, "-t") || !strcmp(o, "--table")) {
			const char *v = next_arg(ps, o);
			if (!v) {
				rc = -EINVAL;
				goto out;
			}
			t = nf_table_find(n, v);
			if (!t) {
				rc = perr(ps, "unknown table '%s' (filter or nat)", v);
				goto out;
			}
			ps->i++;
			continue;
		}
		if (!strcmp(o, "iptables")) {
			ps->i++;
			continue;
		}
		break;
	}
	if (ps->i >= ps->ntok) {
		rc = perr(ps, "missing command (-A, -I, -D, -P, -N, -X, -F or -Z)");
		goto out;
	}
	const char *o = ps->tok[ps->i];
	if (o[0] != '-') {
		cmd = "-A";
		chain = o;
		ps->i++;
	} else {
		static const char *const cmds[][2] = {
			{ "-A", "--append" }, { "-I", "--insert" }, { "-D", "--delete" }, { "-P", "--policy" },
			{ "-N", "--new-chain" }, { "-X", "--delete-chain" }, { "-F", "--flush" }, { "-Z", "--zero" },
		};
		for (size_t k = 0; k < sizeof(cmds) / sizeof(cmds[0]); k++)
			if (!strcmp(o, cmds[k][0]) || !strcmp(o, cmds[k][1]))
				cmd = cmds[k][0];
		if (!cmd) {
			rc = perr(ps, "unknown command '%s' (-A, -I, -D, -P, -N, -X, -F or -Z)", o);
			goto out;
		}
		ps->i++;
		if (ps->i < ps->ntok && ps->tok[ps->i][0] != '-')
			chain = ps->tok[ps->i++];
		else if (cmd[1] != 'F' && cmd[1] != 'Z' && cmd[1] != 'X') {
			rc = perr(ps, "'%s' needs a chain name", o);
			goto out;
		}
	}
	/* -t may also come after the command (iptables accepts options in any order). */
	for (int k = ps->i; k + 1 < ps->ntok; k++) {
		if (!strcmp(ps->tok[k], "-t") || !strcmp(ps->tok[k], "--table")) {
			t = nf_table_find(n, ps->tok[k + 1]);
			if (!t) {
				rc = perr(ps, "unknown table '%s' (filter or nat)", ps->tok[k + 1]);
				goto out;
			}
			for (int m = k; m + 2 < ps->ntok; m++)
				ps->tok[m] = ps->tok[m + 2];
			ps->ntok -= 2;
			break;
		}
	}
	struct nf_chain *c = chain ? nf_chain_find(t, chain) : NULL;

	switch (cmd[1]) {
	case 'N':
		if (c) {
			rc = perr(ps, "chain '%s' already exists in table %s", chain, t->name);
			goto out;
		}
		if (strlen(chain) >= sizeof(c->name) || !strcmp(chain, "ACCEPT") || !strcmp(chain, "DROP") ||
		    !strcmp(chain, "REJECT") || !strcmp(chain, "RETURN") || !strcmp(chain, "LOG")) {
			rc = perr(ps, "bad chain name '%s'", chain);
			goto out;
		}
		c = calloc(1, sizeof(*c));
		if (!c) {
			rc = -ENOMEM;
			goto out;
		}
		snprintf(c->name, sizeof(c->name), "%s", chain);
		c->policy = NFT_RETURN;
		{
			struct nf_chain **pp = &t->chains;
			while (*pp)
				pp = &(*pp)->next;
			*pp = c;
		}
		rc = 0;
		goto out;
	case 'X':
		if (c && c->builtin) {
			rc = perr(ps, "cannot delete built-in chain '%s'", chain);
			goto out;
		}
		for (struct nf_chain **pp = &t->chains; *pp;) {
			struct nf_chain *x = *pp;
			if (x->builtin || (chain && strcmp(x->name, chain))) {
				pp = &x->next;
				continue;
			}
			if (x->refs || x->rules) {
				rc = perr(ps, "chain '%s' is %s", x->name, x->refs ? "still referenced by a -j rule" : "not empty (flush it with -F first)");
				goto out;
			}
			*pp = x->next;
			free(x);
			if (chain)
				break;
		}
		if (chain && !c) {
			rc = perr(ps, "no chain '%s' in table %s", chain, t->name);
			goto out;
		}
		rc = 0;
		goto out;
	default:
		break;
	}
	if (chain && !c) {
		rc = perr(ps, "no chain '%s' in table %s%s", chain, t->name,
			  t == &n->filter && nf_chain_find(&n->nat, chain) ? " (did you mean -t nat?)" : "");
		goto out;
	}
	switch (cmd[1]) {
	case 'F':
	case 'Z':
		for (struct nf_chain *x = t->chains; x; x = x->next) {
			if (c && x != c)
				continue;
			if (cmd[1] == 'Z') {
				x->pkts = x->bytes = 0;
				for (struct nf_rule *r = x->rules; r; r = r->next)
					r->pkts = r->bytes = 0;
				continue;
			}
			while (x->rules) {
				struct nf_rule *r = x->rules;
				x->rules = r->next;
				rule_free(r);
			}
		}
		rc = 0;
		goto out;
	case 'P': {
		if (ps->i >= ps->ntok) {
			rc = perr(ps, "-P %s needs a policy (ACCEPT or DROP)", chain);
			goto out;
		}
		const char *pol = ps->tok[ps->i++];
		if (!c->builtin) {
			rc = perr(ps, "chain '%s' is not built in: only built-in chains have a policy", chain);
			goto out;
		}
		if (strcmp(pol, "ACCEPT") && strcmp(pol, "DROP")) {
			rc = perr(ps, "bad policy '%s' (ACCEPT or DROP)", pol);
			goto out;
		}
		if (ps->i < ps->ntok) {
			rc = perr(ps, "unexpected '%s' after the policy", ps->tok[ps->i]);
			goto out;
		}
		c->policy = pol[0] == 'A' ? NFT_ACCEPT : NFT_DROP;
		rc = 0;
		goto out;
	}
	default:
		break;
	}

	/* -A, -I [num], -D (num | rulespec) */
	unsigned long pos = 0;
	if ((cmd[1] == 'I' || cmd[1] == 'D') && ps->i < ps->ntok && parse_u32(ps->tok[ps->i], 100000, &pos) == 0) {
		ps->i++;
		if (pos == 0) {
			rc = perr(ps, "rule numbers start at 1");
			goto out;
		}
		if (cmd[1] == 'D') {
			if (ps->i < ps->ntok) {
				rc = perr(ps, "unexpected '%s' after the rule number", ps->tok[ps->i]);
				goto out;
			}
			struct nf_rule **pp = &c->rules;
			for (unsigned long k = 1; *pp && k < pos; k++)
				pp = &(*pp)->next;
			if (!*pp) {
				rc = perr(ps, "chain %s has no rule %lu", chain, pos);
				goto out;
			}
			struct nf_rule *r = *pp;
			*pp = r->next;
			rule_free(r);
			rc = 0;
			goto out;
		}
	}
	struct nf_rule *r = calloc(1, sizeof(*r));
	if (!r) {
		rc = -ENOMEM;
		goto out;
	}
	rc = parse_rulespec(ps, n, t, chain, r);
	if (rc < 0) {
		free(r);
		goto out;
	}
	if (cmd[1] == 'D') {
		for (struct nf_rule **pp = &c->rules; *pp; pp = &(*pp)->next) {
			if (rule_same(*pp, r)) {
				struct nf_rule *x = *pp;
				*pp = x->next;
				rule_free(x);
				free(r);
				rc = 0;
				goto out;
			}
		}
		free(r);
		rc = perr(ps, "no such rule in chain %s (iptables: Bad rule (does a matching rule exist in that chain?))",
			  chain);
		goto out;
	}
	if (needs_conntrack(r, n, t) && nf_conntrack_enable(n) < 0) {
		free(r);
		rc = -ENOMEM;
		goto out;
	}
	if (r->target == NFT_JUMP)
		r->jump->refs++;
	struct nf_rule **pp = &c->rules;
	if (cmd[1] == 'I') {
		for (unsigned long k = 1; *pp && k < (pos ? pos : 1); k++)
			pp = &(*pp)->next;
	} else {
		while (*pp)
			pp = &(*pp)->next;
	}
	r->next = *pp;
	*pp = r;
	rc = 0;
out:
	free(ps);
	return rc;
}
