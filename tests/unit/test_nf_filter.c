/*
 * Unit tests for the filter table (src/netfilter/ip_tables.c and
 * ip_tables_parse.c): the iptables rule syntax and its errors, matches
 * (-s/-d with !, -p, ports and ranges, --icmp-type, --tcp-flags/--syn,
 * -i/-o), targets (ACCEPT, DROP, REJECT with ICMP or a TCP reset, LOG,
 * RETURN and user chains), chain policies, per-rule counters as
 * `iptables -L -v -n` prints them, rules files, and the trace naming the
 * rule that decided a packet. Two stacks on a virtual cable (tests/cable_pair.h):
 *   a 10.1.0.1 eth0 <==cable==> eth0 10.1.0.2 b   (rules on b unless said)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cable_pair.h"
#include "core/stack.h"
#include "netfilter/nf_tables.h"
#include "netpath/netfilter.h"
#include "netpath/netpath.h"
#include "netpath/socket.h"

#define MS 1000000ull

struct fx {
	struct tnet *n;
	struct np_stack *a, *b;   /* n->s[0], n->s[1] */
	int replies;
};

static void on_reply(void *arg, const struct np_ping_reply *r)
{
	struct fx *f = arg;
	if (!r->error_type)
		f->replies++;
}

static int setup(void **state)
{
	static const struct tnet_config pair = {
		.name = { "a", "b" }, .addr = { "10.1.0.1/24", "10.1.0.2/24" }, .seed = { 21, 22 }, .t0 = 1000 * MS,
	};
	struct fx *f = calloc(1, sizeof(*f));
	f->n = tnet_open(&pair);
	assert_non_null(f->n);   /* both stacks, the cable and the two addresses */
	f->a = f->n->s[0];
	f->b = f->n->s[1];
	np_ping_handler(f->a, 77, on_reply, f);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	tnet_free(f->n);
	free(f);
	return 0;
}

static void sim(struct fx *f, uint64_t ms) { tnet_sim(f->n, ms); }

static void ping(struct fx *f, uint16_t seq)
{
	struct in_addr dst;
	inet_pton(AF_INET, "10.1.0.2", &dst);
	np_ping_send(f->a, dst, 77, seq, 56);
	sim(f, 1000);
}

static void rule(struct np_stack *s, const char *r)
{
	char err[256];
	int rc = np_nf_rule(s, r, err, sizeof(err));
	if (rc)
		fprintf(stderr, "rule '%s': %s\n", r, err);
	assert_int_equal(rc, 0);
}

static struct nf_rule *nth_rule(struct np_stack *s, const char *table, const char *chain, int n)
{
	struct nf_table *t = nf_table_find(s->nf, table);
	struct nf_chain *c = nf_chain_find(t, chain);
	assert_non_null(c);
	struct nf_rule *r = c->rules;
	while (r && --n > 0)
		r = r->next;
	assert_non_null(r);
	return r;
}

/* Prints table of s into a string (caller frees). */
static char *print_rules(struct np_stack *s, const char *table)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	np_nf_print(s, table, m);
	fclose(m);
	return buf;
}

/* Each bad rule fails with EINVAL and a message naming the bad token. */
static void test_parser_errors(void **state)
{
	struct fx *f = *state;
	static const struct { const char *rule, *needle; } bad[] = {
		{ "-A INPUT -p tcp --dport abc -j DROP", "'abc'" },
		{ "-A NOPE -j DROP", "'NOPE'" },
		{ "-A INPUT --dport 80 -j DROP", "-p tcp" },
		{ "-A INPUT -p tcp -j FOO", "'FOO'" },
		{ "-P INPUT MAYBE", "'MAYBE'" },
		{ "-t mangle -A INPUT -j DROP", "'mangle'" },
		{ "-A INPUT -p udp -j REJECT --reject-with tcp-reset", "-p tcp" },
		{ "-A INPUT -p tcp -j REJECT --reject-with icmp-bogus", "'icmp-bogus'" },
		{ "-A INPUT -s 10.1.0.300 -j DROP", "'10.1.0.300'" },
		{ "-A INPUT -p tcp --dport 90:80 -j DROP", "'90:80'" },
		{ "-A INPUT -p tcp --tcp-flags SYN,BOGUS SYN -j DROP", "'BOGUS'" },
		{ "-A INPUT -p icmp --icmp-type nonsense -j DROP", "'nonsense'" },
		{ "-A INPUT -m state --state NEW,SLEEPY -j DROP", "'SLEEPY'" },
		{ "-A INPUT -j MASQUERADE", "nat" },
		{ "-t nat -A POSTROUTING -j DNAT --to-destination 1.2.3.4", "PREROUTING" },
		{ "-A INPUT -p tcp --frobnicate -j DROP", "'--frobnicate'" },
		{ "-A INPUT -p tcp --dport", "'--dport' requires a value" },
		{ "-X INPUT", "built-in" },
		{ "", "empty" },
		{ "-Q INPUT", "'-Q'" },
		{ "-D INPUT 3", "no rule 3" },
		{ "-A INPUT -o eth0 -j DROP", "'-o'" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char err[256] = "";
		int rc = np_nf_rule(f->b, bad[i].rule, err, sizeof(err));
		if (rc != -EINVAL || !strstr(err, bad[i].needle))
			fprintf(stderr, "rule '%s' -> %d '%s'\n", bad[i].rule, rc, err);
		assert_int_equal(rc, -EINVAL);
		assert_non_null(strstr(err, bad[i].needle));
		assert_true(err[0] != 0);
	}
	/* Nothing half-added by a failed rule. */
	assert_null(nf_chain_find(&f->b->nf->filter, "INPUT")->rules);
}

static int collect_rule_seen;
static char collect_detail[64];
static void collect(void *arg, const struct np_trace_path *p)
{
	for (int i = 0; i < p->nstages; i++)
		if (!strcmp(p->stages[i].fn, "ipt_do_table") && strstr(p->stages[i].detail, "DROP")) {
			collect_rule_seen++;
			snprintf(collect_detail, sizeof(collect_detail), "%s", p->stages[i].detail);
			if (p->dropped)
				assert_int_equal(p->reason, NP_DROP_NETFILTER_DROP);
		}
}

/* A DROP on echo requests: no reply, the drop counted as NETFILTER_DROP, the rule's counters, the trace. */
static void test_drop_icmp_counters_trace(void **state)
{
	struct fx *f = *state;
	ping(f, 1);
	assert_int_equal(f->replies, 1);
	rule(f->b, "-A INPUT -p udp -j ACCEPT");
	rule(f->b, "INPUT -p icmp --icmp-type echo-request -j DROP");
	collect_rule_seen = 0;
	np_stack_trace(f->b, 0, NULL);
	np_stack_trace_cb(f->b, collect, NULL);
	ping(f, 2);
	ping(f, 3);
	assert_int_equal(f->replies, 1);
	assert_int_equal(np_stack_drops(f->b, NP_DROP_NETFILTER_DROP), 2);
	assert_int_equal(collect_rule_seen, 2);
	assert_string_equal(collect_detail, "filter/INPUT rule 2 DROP");
	struct nf_rule *r1 = nth_rule(f->b, "filter", "INPUT", 1), *r2 = nth_rule(f->b, "filter", "INPUT", 2);
	assert_int_equal(r1->pkts, 0);
	assert_int_equal(r2->pkts, 2);
	assert_int_equal(r2->bytes, 2 * (20 + 8 + 56));
	char *out = print_rules(f->b, "filter");
	assert_non_null(strstr(out, "Chain INPUT (policy ACCEPT"));
	assert_non_null(strstr(out, "2        2   168 DROP       icmp --  *      *       0.0.0.0/0            0.0.0.0/0            icmptype 8"));
	free(out);
	/* -Z zeroes; -D by number removes; pings pass again. */
	rule(f->b, "-Z");
	assert_int_equal(r2->pkts, 0);
	rule(f->b, "-D INPUT 2");
	ping(f, 4);
	assert_int_equal(f->replies, 2);
}

/* -P INPUT DROP with an ACCEPT for ICMP: pings pass, UDP is dropped by the policy (named in the trace). */
static void test_policy(void **state)
{
	struct fx *f = *state;
	rule(f->b, "-A INPUT -p icmp -j ACCEPT");
	rule(f->b, "-P INPUT DROP");
	ping(f, 1);
	assert_int_equal(f->replies, 1);
	int fd = np_socket(f->b, AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in ab = { .sin_family = AF_INET, .sin_port = htons(5000) };
	inet_pton(AF_INET, "10.1.0.2", &ab.sin_addr);
	assert_int_equal(np_bind(fd, (struct sockaddr *)&ab, sizeof(ab)), 0);
	int fa = np_socket(f->a, AF_INET, SOCK_DGRAM, 0);
	assert_int_equal(np_sendto(fa, "hi", 2, 0, (struct sockaddr *)&ab, sizeof(ab)), 2);
	sim(f, 100);
	char buf[16];
	assert_int_equal(np_recv(fd, buf, sizeof(buf), MSG_DONTWAIT), -1);
	assert_int_equal(errno, EAGAIN);
	struct nf_chain *in = nf_chain_find(&f->b->nf->filter, "INPUT");
	assert_int_equal(in->pkts, 1);
	char *out = print_rules(f->b, NULL);
	assert_non_null(strstr(out, "Chain INPUT (policy DROP 1 packets, 30 bytes)"));
	free(out);
	/* Back to ACCEPT: the datagram goes through. */
	rule(f->b, "-P INPUT ACCEPT");
	assert_int_equal(np_sendto(fa, "hi", 2, 0, (struct sockaddr *)&ab, sizeof(ab)), 2);
	sim(f, 100);
	assert_int_equal(np_recv(fd, buf, sizeof(buf), MSG_DONTWAIT), 2);
	np_close(fd);
	np_close(fa);
}

/* Source/destination prefixes with "!", interfaces, UDP port ranges and -I positions. */
static void test_matches(void **state)
{
	struct fx *f = *state;
	rule(f->b, "-A INPUT -s 10.1.0.0/24 -p udp --dport 6000:6010 -j DROP");
	rule(f->b, "-A INPUT ! -s 10.1.0.0/24 -j DROP");
	rule(f->b, "-A INPUT -i eth1 -j DROP");
	rule(f->b, "-A INPUT -i eth+ -d 10.1.0.2 -p udp ! --dport 7000 -j DROP");
	rule(f->b, "-I INPUT 1 -p udp --sport 1234 -j ACCEPT");
	int fa = np_socket(f->a, AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in src = { .sin_family = AF_INET, .sin_port = htons(4321) };
	assert_int_equal(np_bind(fa, (struct sockaddr *)&src, sizeof(src)), 0);
	uint16_t ports[] = { 6005, 7000, 6011 };
	for (size_t i = 0; i < 3; i++) {
		struct sockaddr_in d = { .sin_family = AF_INET, .sin_port = htons(ports[i]) };
		inet_pton(AF_INET, "10.1.0.2", &d.sin_addr);
		np_sendto(fa, "x", 1, 0, (struct sockaddr *)&d, sizeof(d));
		sim(f, 50);
	}
	assert_int_equal(nth_rule(f->b, "filter", "INPUT", 1)->pkts, 0); /* sport 4321 */
	assert_int_equal(nth_rule(f->b, "filter", "INPUT", 2)->pkts, 1); /* 6005 */
	assert_int_equal(nth_rule(f->b, "filter", "INPUT", 3)->pkts, 0); /* all from 10.1.0.0/24 */
	assert_int_equal(nth_rule(f->b, "filter", "INPUT", 4)->pkts, 0); /* arrived on eth0 */
	assert_int_equal(nth_rule(f->b, "filter", "INPUT", 5)->pkts, 1); /* 6011 (7000 excluded by !) */
	/* 7000 passed the rules: b answered port unreachable (no socket), which a saw. */
	assert_int_equal(np_stack_mib(f->a, NP_MIB_IcmpInDestUnreachs), 1);
	char *out = print_rules(f->b, "filter");
	assert_non_null(strstr(out, "udp dpts:6000:6010"));
	assert_non_null(strstr(out, "!10.1.0.0/24"));
	assert_non_null(strstr(out, "udp dpt:!7000"));
	free(out);
	np_close(fa);
}

/* REJECT answers with ICMP port unreachable (connected UDP: ECONNREFUSED) or a TCP RST (connect: ECONNREFUSED). */
static void test_reject(void **state)
{
	struct fx *f = *state;
	rule(f->b, "-A INPUT -p udp --dport 9 -j REJECT");
	rule(f->b, "-A INPUT -p tcp --dport 80 -j REJECT --reject-with tcp-reset");
	rule(f->b, "-A INPUT -p tcp --dport 81 -j DROP");
	int srv = np_socket(f->b, AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in l = { .sin_family = AF_INET, .sin_port = htons(80) };
	assert_int_equal(np_bind(srv, (struct sockaddr *)&l, sizeof(l)), 0);
	assert_int_equal(np_listen(srv, 4), 0);

	int u = np_socket(f->a, AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in d = { .sin_family = AF_INET, .sin_port = htons(9) };
	inet_pton(AF_INET, "10.1.0.2", &d.sin_addr);
	assert_int_equal(np_connect(u, (struct sockaddr *)&d, sizeof(d)), 0);
	assert_int_equal(np_send(u, "x", 1, 0), 1);
	sim(f, 100);
	char buf[4];
	assert_int_equal(np_recv(u, buf, sizeof(buf), MSG_DONTWAIT), -1);
	assert_int_equal(errno, ECONNREFUSED);

	int t = np_socket(f->a, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	d.sin_port = htons(80);
	assert_int_equal(np_connect(t, (struct sockaddr *)&d, sizeof(d)), -1);
	assert_int_equal(errno, EINPROGRESS);
	sim(f, 100);
	int err = 0;
	socklen_t el = sizeof(err);
	assert_int_equal(np_getsockopt(t, SOL_SOCKET, SO_ERROR, &err, &el), 0);
	assert_int_equal(err, ECONNREFUSED);
	assert_int_equal(nth_rule(f->b, "filter", "INPUT", 2)->pkts, 1);
	/* The listener never saw the SYN. */
	assert_int_equal(np_stack_mib(f->b, NP_MIB_TcpPassiveOpens), 0);
	/* DROP instead: the connect is still pending after a second. */
	int t2 = np_socket(f->a, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	d.sin_port = htons(81);
	np_connect(t2, (struct sockaddr *)&d, sizeof(d));
	sim(f, 500);
	err = 0;
	assert_int_equal(np_getsockopt(t2, SOL_SOCKET, SO_ERROR, &err, &el), 0);
	assert_int_equal(err, 0);
	np_close(t2);
	np_close(t);
	np_close(u);
	np_close(srv);
}

/* User chains: -N, -j CHAIN, RETURN and the chain's end coming back; -X refuses a referenced chain. */
static void test_user_chains(void **state)
{
	struct fx *f = *state;
	rule(f->b, "-N icmpchk");
	rule(f->b, "-A INPUT -p icmp -j icmpchk");
	rule(f->b, "-A icmpchk -s 10.1.0.9 -j RETURN");
	rule(f->b, "-A icmpchk -p icmp --icmp-type 8 -j DROP");
	collect_rule_seen = 0;
	np_stack_trace(f->b, 0, NULL);
	np_stack_trace_cb(f->b, collect, NULL);
	ping(f, 1);
	assert_int_equal(f->replies, 0);
	assert_string_equal(collect_detail, "filter/icmpchk rule 2 DROP");
	char err[128];
	assert_int_equal(np_nf_rule(f->b, "-X icmpchk", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "referenced"));
	rule(f->b, "-I icmpchk -s 10.1.0.1 -j RETURN");
	ping(f, 2);
	assert_int_equal(f->replies, 1);
	assert_int_equal(nth_rule(f->b, "filter", "icmpchk", 1)->pkts, 1);
	/* -D by rule specification. */
	rule(f->b, "-D INPUT -p icmp -j icmpchk");
	rule(f->b, "-F icmpchk");
	rule(f->b, "-X icmpchk");
	assert_null(nf_chain_find(&f->b->nf->filter, "icmpchk"));
	char *out = print_rules(f->b, "filter");
	assert_null(strstr(out, "icmpchk"));
	free(out);
}

/* OUTPUT: a locally generated packet dropped by a rule fails the send with EPERM. --syn and --tcp-flags. */
static void test_output_and_tcp_flags(void **state)
{
	struct fx *f = *state;
	rule(f->a, "-A OUTPUT -p icmp -d 10.1.0.2 -j DROP");
	struct in_addr dst;
	inet_pton(AF_INET, "10.1.0.2", &dst);
	assert_int_equal(np_ping_send(f->a, dst, 77, 1, 56), -EPERM);
	rule(f->a, "-F OUTPUT");
	rule(f->b, "-A INPUT -p tcp --syn -j DROP");
	rule(f->b, "-A INPUT -p tcp --tcp-flags SYN,ACK,RST SYN -j DROP");
	int t = np_socket(f->a, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	struct sockaddr_in d = { .sin_family = AF_INET, .sin_port = htons(22) };
	d.sin_addr = dst;
	np_connect(t, (struct sockaddr *)&d, sizeof(d));
	sim(f, 100);
	assert_int_equal(nth_rule(f->b, "filter", "INPUT", 1)->pkts, 1);
	assert_int_equal(nth_rule(f->b, "filter", "INPUT", 2)->pkts, 0);
	np_close(t);
}

/* LOG prints a line with the prefix to the stack's trace output, rate limited; the packet goes on. */
static void test_log(void **state)
{
	struct fx *f = *state;
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	np_stack_trace(f->b, 0, m);
	rule(f->b, "-A INPUT -p icmp -j LOG --log-prefix \"PING IN: \"");
	ping(f, 1);
	assert_int_equal(f->replies, 1);
	for (int i = 0; i < 30; i++) {
		struct in_addr dst;
		inet_pton(AF_INET, "10.1.0.2", &dst);
		np_ping_send(f->a, dst, 77, (uint16_t)(i + 2), 8);
	}
	sim(f, 100);
	fflush(m);
	assert_non_null(strstr(buf, "PING IN: IN=eth0 OUT= SRC=10.1.0.1 DST=10.1.0.2 LEN=84"));
	assert_non_null(strstr(buf, "PROTO=ICMP TYPE=8 CODE=0"));
	int lines = 0;
	for (char *p = buf; (p = strstr(p, "PING IN:")); p++)
		lines++;
	/* The first line, then (a second later, the bucket full again) a burst of 10 out of 30. */
	assert_int_equal(lines, 11);
	assert_int_equal(f->b->nf->log_suppressed, 20);
	assert_int_equal(nth_rule(f->b, "filter", "INPUT", 1)->pkts, 31);
	np_stack_trace(f->b, 0, NULL);
	fclose(m);
	free(buf);
}

/* iptables-save-like files: tables, policies, comments; a bad line names file and line. */
static void test_rules_file(void **state)
{
	struct fx *f = *state;
	char path[] = "/tmp/np-nf-rulesXXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	const char *text = "# a firewall\n*filter\n:INPUT DROP [0:0]\n:FORWARD ACCEPT [0:0]\n:mine - [0:0]\n"
			   "-A INPUT -p icmp -j mine\n-A mine -j ACCEPT\nCOMMIT\n\n*nat\n:POSTROUTING ACCEPT [0:0]\nCOMMIT\n";
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	char err[256];
	assert_int_equal(np_nf_load_file(f->b, path, err, sizeof(err)), 0);
	ping(f, 1);
	assert_int_equal(f->replies, 1);
	assert_int_equal(nf_chain_find(&f->b->nf->filter, "INPUT")->policy, NFT_DROP);
	fd = open(path, O_WRONLY | O_TRUNC);
	const char *bad = "*filter\n-A INPUT -p tcp --dport 80 -j DROP\n-A INPUT -p tcp --dport http2 -j DROP\n";
	assert_int_equal(write(fd, bad, strlen(bad)), (ssize_t)strlen(bad));
	close(fd);
	assert_int_equal(np_nf_load_file(f->b, path, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, ":3: "));
	assert_non_null(strstr(err, "'http2'"));
	unlink(path);
	assert_true(np_nf_load_file(f->b, "/nonexistent/rules", err, sizeof(err)) < 0);
	assert_non_null(strstr(err, "/nonexistent/rules"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_parser_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_drop_icmp_counters_trace, setup, teardown),
		cmocka_unit_test_setup_teardown(test_policy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_matches, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reject, setup, teardown),
		cmocka_unit_test_setup_teardown(test_user_chains, setup, teardown),
		cmocka_unit_test_setup_teardown(test_output_and_tcp_flags, setup, teardown),
		cmocka_unit_test_setup_teardown(test_log, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rules_file, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
