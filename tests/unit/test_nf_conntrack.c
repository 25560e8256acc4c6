/*
 * Unit tests for connection tracking (src/netfilter/nf_conntrack.c) as a
 * stateful firewall sees it: NEW / ESTABLISHED / RELATED / INVALID for TCP,
 * UDP and ICMP, the simplified TCP state machine, timeouts on a virtual
 * clock with garbage collection, and the nf_conntrack_max bound. Two stacks
 * on a virtual cable (tests/cable_pair.h):
 *   a 10.1.0.1 eth0 <==cable==> eth0 10.1.0.2 b   (b runs the firewall)
 * b's rules: 1 RELATED ACCEPT, 2 ESTABLISHED ACCEPT, 3 INVALID DROP,
 *            4 icmp echo-request ACCEPT, policy DROP.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "cable_pair.h"
#include "core/stack.h"
#include "netfilter/nf_tables.h"
#include "netpath/netfilter.h"
#include "netpath/netpath.h"
#include "netpath/socket.h"
#include "wire/ipv4.h"

#define MS 1000000ull
#define A_IP 0x0a010001u
#define B_IP 0x0a010002u

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

static void rule(struct np_stack *s, const char *r)
{
	char err[256];
	int rc = np_nf_rule(s, r, err, sizeof(err));
	if (rc)
		fprintf(stderr, "rule '%s': %s\n", r, err);
	assert_int_equal(rc, 0);
}

static int setup(void **state)
{
	static const struct tnet_config pair = {
		.name = { "a", "b" }, .addr = { "10.1.0.1/24", "10.1.0.2/24" }, .seed = { 31, 32 }, .t0 = 1000 * MS,
	};
	struct fx *f = calloc(1, sizeof(*f));
	f->n = tnet_open(&pair);
	assert_non_null(f->n);   /* both stacks, the cable and the two addresses */
	f->a = f->n->s[0];
	f->b = f->n->s[1];
	np_ping_handler(f->b, 99, on_reply, f);
	rule(f->b, "-A INPUT -m state --state RELATED -j ACCEPT");
	rule(f->b, "-A INPUT -m state --state ESTABLISHED -j ACCEPT");
	rule(f->b, "-A INPUT -m conntrack --ctstate INVALID -j DROP");
	rule(f->b, "-A INPUT -p icmp --icmp-type echo-request -j ACCEPT");
	rule(f->b, "-P INPUT DROP");
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

static uint64_t rule_pkts(struct fx *f, int n)
{
	struct nf_rule *r = nf_chain_find(&f->b->nf->filter, "INPUT")->rules;
	while (r && --n > 0)
		r = r->next;
	assert_non_null(r);
	return r->pkts;
}

static struct nf_conn *ct_of(struct fx *f, uint32_t src, uint32_t dst, uint8_t proto, uint16_t sp, uint16_t dp,
			     int *dir)
{
	struct nf_conntrack_tuple t = { .src = src, .dst = dst, .sport = sp, .dport = dp, .proto = proto };
	int d;
	return nf_ct_find(f->b->nf, &t, dir ? dir : &d);
}

static int udp_sock(struct np_stack *s, const char *ip, uint16_t port)
{
	int fd = np_socket(s, AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	inet_pton(AF_INET, ip, &a.sin_addr);
	assert_int_equal(np_bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

static ssize_t udp_to(int fd, const char *ip, uint16_t port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	inet_pton(AF_INET, ip, &a.sin_addr);
	return np_sendto(fd, "ping", 4, 0, (struct sockaddr *)&a, sizeof(a));
}

/* b's own TCP connection works (replies are ESTABLISHED); a new one to b is dropped; the tracker follows the close. */
static void test_tcp_states(void **state)
{
	struct fx *f = *state;
	int l = np_socket(f->a, AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in la = { .sin_family = AF_INET, .sin_port = htons(80) };
	assert_int_equal(np_bind(l, (struct sockaddr *)&la, sizeof(la)), 0);
	assert_int_equal(np_listen(l, 4), 0);
	np_fcntl(l, F_SETFL, O_NONBLOCK);

	int c = np_socket(f->b, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	struct sockaddr_in b0 = { .sin_family = AF_INET, .sin_port = htons(40000) };
	assert_int_equal(np_bind(c, (struct sockaddr *)&b0, sizeof(b0)), 0);
	struct sockaddr_in d = { .sin_family = AF_INET, .sin_port = htons(80) };
	inet_pton(AF_INET, "10.1.0.1", &d.sin_addr);
	np_connect(c, (struct sockaddr *)&d, sizeof(d));
	sim(f, 10);
	int dir = -1;
	struct nf_conn *ct = ct_of(f, B_IP, A_IP, 6, 40000, 80, &dir);
	assert_non_null(ct);
	assert_int_equal(dir, IP_CT_DIR_ORIGINAL);
	assert_int_equal(ct->tcp_state, TCP_CONNTRACK_ESTABLISHED);
	assert_true(ct->status & IPS_ASSURED);
	/* Found from the reply direction too. */
	assert_ptr_equal(ct_of(f, A_IP, B_IP, 6, 80, 40000, &dir), ct);
	assert_int_equal(dir, IP_CT_DIR_REPLY);
	int s = np_accept(l, NULL, NULL);
	assert_true(s >= 0);
	assert_int_equal(np_send(s, "hello", 5, 0), 5);
	sim(f, 10);
	char buf[8];
	assert_int_equal(np_recv(c, buf, sizeof(buf), 0), 5);
	assert_true(rule_pkts(f, 2) >= 2); /* SYN/ACK and the data */
	/* 5 days for an established flow (Linux's nf_conntrack_tcp_timeout_established). */
	assert_true(ct->timeout - np_stack_now(f->b) > 4ull * 24 * 3600 * 1000 * MS);

	/* b closes first: FIN_WAIT; a's ACK: CLOSE_WAIT; a's FIN: LAST_ACK; b's ACK: TIME_WAIT. */
	np_close(c);
	sim(f, 10);
	assert_int_equal(ct->tcp_state, TCP_CONNTRACK_CLOSE_WAIT);
	np_close(s);
	sim(f, 10);
	assert_int_equal(ct->tcp_state, TCP_CONNTRACK_TIME_WAIT);
	uint64_t left = ct->timeout - np_stack_now(f->b);
	assert_true(left > 119000 * MS && left <= 120000 * MS);

	/* A new connection to b: the SYN is NEW and nothing accepts it. */
	int bl = np_socket(f->b, AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in bla = { .sin_family = AF_INET, .sin_port = htons(81) };
	assert_int_equal(np_bind(bl, (struct sockaddr *)&bla, sizeof(bla)), 0);
	assert_int_equal(np_listen(bl, 4), 0);
	int ac = np_socket(f->a, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	struct sockaddr_in bd = { .sin_family = AF_INET, .sin_port = htons(81) };
	inet_pton(AF_INET, "10.1.0.2", &bd.sin_addr);
	np_connect(ac, (struct sockaddr *)&bd, sizeof(bd));
	sim(f, 100);
	assert_int_equal(np_stack_mib(f->b, NP_MIB_TcpPassiveOpens), 0);
	assert_true(nf_chain_find(&f->b->nf->filter, "INPUT")->pkts >= 1);
	np_close(ac);
	np_close(bl);
	np_close(l);
}

/* A segment of a flow conntrack never saw start is INVALID (nf_conntrack_tcp_loose=0). */
static void test_tcp_invalid(void **state)
{
	struct fx *f = *state;
	rule(f->b, "-F");
	rule(f->b, "-P INPUT ACCEPT");
	/* Established while b's conntrack is off (a fresh stack would not track: no state rule). */
	f->b->nf->ct.enabled = 0;
	int bl = np_socket(f->b, AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in bla = { .sin_family = AF_INET, .sin_port = htons(81) };
	assert_int_equal(np_bind(bl, (struct sockaddr *)&bla, sizeof(bla)), 0);
	assert_int_equal(np_listen(bl, 4), 0);
	int ac = np_socket(f->a, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	struct sockaddr_in bd = { .sin_family = AF_INET, .sin_port = htons(81) };
	inet_pton(AF_INET, "10.1.0.2", &bd.sin_addr);
	np_connect(ac, (struct sockaddr *)&bd, sizeof(bd));
	sim(f, 10);
	int s = np_accept(bl, NULL, NULL);
	assert_true(s >= 0);
	f->b->nf->ct.enabled = 1;
	rule(f->b, "-A INPUT -m state --state INVALID -j DROP");
	assert_int_equal(np_send(ac, "data", 4, 0), 4);
	sim(f, 10);
	assert_int_equal(rule_pkts(f, 1), 1);
	assert_true(f->b->nf->ct.stat.invalid >= 1);
	char buf[8];
	assert_int_equal(np_recv(s, buf, sizeof(buf), MSG_DONTWAIT), -1);
	np_close(s);
	np_close(ac);
	np_close(bl);
}

/* UDP: b's query is answered (ESTABLISHED), a's unsolicited datagram is dropped; 30 s / 120 s timeouts. */
static void test_udp_and_timeouts(void **state)
{
	struct fx *f = *state;
	int srv = udp_sock(f->a, "10.1.0.1", 53);
	int cli = udp_sock(f->b, "10.1.0.2", 5353);
	assert_int_equal(udp_to(cli, "10.1.0.1", 53), 4);
	sim(f, 10);
	struct nf_conn *ct = ct_of(f, B_IP, A_IP, 17, 5353, 53, NULL);
	assert_non_null(ct);
	assert_false(ct->status & IPS_SEEN_REPLY);
	assert_true(ct->timeout - np_stack_now(f->b) <= 30000 * MS);
	/* a answers: accepted as ESTABLISHED, the flow now has the stream timeout. */
	struct sockaddr_in from;
	socklen_t fl = sizeof(from);
	char buf[16];
	assert_int_equal(np_recvfrom(srv, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from, &fl), 4);
	assert_int_equal(np_sendto(srv, "pong", 4, 0, (struct sockaddr *)&from, fl), 4);
	sim(f, 10);
	assert_int_equal(np_recv(cli, buf, sizeof(buf), MSG_DONTWAIT), 4);
	assert_true(ct->status & IPS_SEEN_REPLY);
	assert_true(ct->timeout - np_stack_now(f->b) > 100000 * MS);
	assert_int_equal(rule_pkts(f, 2), 1);

	/* a's own new flow to b is NEW: dropped by the policy. */
	int other = udp_sock(f->a, "10.1.0.1", 9999);
	assert_int_equal(udp_to(other, "10.1.0.2", 5353), 4);
	sim(f, 10);
	assert_int_equal(np_recv(cli, buf, sizeof(buf), MSG_DONTWAIT), -1);

	/* An unanswered flow expires after 30 s; the garbage collector frees it on its timer. */
	int q = udp_sock(f->b, "10.1.0.2", 6000);
	assert_int_equal(udp_to(q, "10.1.0.1", 7777), 4); /* a answers port unreachable: RELATED, not a reply */
	sim(f, 10);
	assert_non_null(ct_of(f, B_IP, A_IP, 17, 6000, 7777, NULL));
	sim(f, 29000);
	/* a's dropped datagram left an unconfirmed entry: it lived only 2 s. */
	assert_null(ct_of(f, A_IP, B_IP, 17, 9999, 5353, NULL));
	assert_non_null(ct_of(f, B_IP, A_IP, 17, 6000, 7777, NULL));
	sim(f, 2000);
	assert_int_equal(f->b->nf->ct.count, 1);
	assert_null(ct_of(f, B_IP, A_IP, 17, 6000, 7777, NULL));
	/* The answered one lives 120 s from its last packet, then goes too. */
	assert_non_null(ct_of(f, B_IP, A_IP, 17, 5353, 53, NULL));
	sim(f, 100000);
	assert_int_equal(f->b->nf->ct.count, 0);
	/* Now a's "reply" is a NEW flow and is dropped. */
	assert_int_equal(np_sendto(srv, "late", 4, 0, (struct sockaddr *)&from, fl), 4);
	sim(f, 10);
	assert_int_equal(np_recv(cli, buf, sizeof(buf), MSG_DONTWAIT), -1);
	np_close(q);
	np_close(other);
	np_close(srv);
	np_close(cli);
}

/* ICMP errors quoting a tracked flow are RELATED: the port unreachable reaches b's socket. */
static void test_related(void **state)
{
	struct fx *f = *state;
	int u = np_socket(f->b, AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in d = { .sin_family = AF_INET, .sin_port = htons(9) };
	inet_pton(AF_INET, "10.1.0.1", &d.sin_addr);
	assert_int_equal(np_connect(u, (struct sockaddr *)&d, sizeof(d)), 0);
	assert_int_equal(np_send(u, "x", 1, 0), 1);
	sim(f, 10);
	assert_int_equal(rule_pkts(f, 1), 1);
	assert_int_equal(f->b->nf->ct.stat.related, 1);
	char buf[4];
	assert_int_equal(np_recv(u, buf, sizeof(buf), MSG_DONTWAIT), -1);
	assert_int_equal(errno, ECONNREFUSED);
	np_close(u);
}

/* ICMP echo: b's ping is answered (ESTABLISHED by echo id); a's ping to b is NEW and accepted by rule 4. */
static void test_icmp(void **state)
{
	struct fx *f = *state;
	struct in_addr a;
	inet_pton(AF_INET, "10.1.0.1", &a);
	assert_int_equal(np_ping_send(f->b, a, 99, 1, 32), 0);
	sim(f, 100);
	assert_int_equal(f->replies, 1);
	assert_int_equal(rule_pkts(f, 2), 1);
	struct nf_conn *ct = ct_of(f, B_IP, A_IP, 1, 99, 0, NULL);
	assert_non_null(ct);
	assert_true(ct->status & IPS_SEEN_REPLY);
	uint64_t left = ct->timeout - np_stack_now(f->b);
	assert_true(left > 29000 * MS && left <= 30000 * MS);
	struct in_addr b;
	inet_pton(AF_INET, "10.1.0.2", &b);
	np_ping_handler(f->a, 5, on_reply, f);
	assert_int_equal(np_ping_send(f->a, b, 5, 1, 32), 0);
	sim(f, 100);
	assert_int_equal(f->replies, 2);
	assert_int_equal(rule_pkts(f, 4), 1);
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	np_nf_print(f->b, "conntrack", m);
	fclose(m);
	assert_non_null(strstr(buf, "icmp     1 "));
	assert_non_null(strstr(buf, "src=10.1.0.1 dst=10.1.0.2 id=5"));
	free(buf);
}

/* nf_conntrack_max: a new flow past the bound is dropped with NF_CONNTRACK_FULL and counted. */
static void test_table_bound(void **state)
{
	struct fx *f = *state;
	assert_int_equal(np_sysctl_set(f->b, "net.netfilter.nf_conntrack_max", 2), 0);
	int u = udp_sock(f->b, "10.1.0.2", 7000);
	int srv = udp_sock(f->a, "10.1.0.1", 7001);
	(void)srv;
	assert_int_equal(udp_to(u, "10.1.0.1", 7001), 4);
	assert_int_equal(udp_to(u, "10.1.0.1", 7002), 4);
	sim(f, 10);
	assert_int_equal(f->b->nf->ct.count, 2);
	/* LOCAL_OUT drops the third flow's first packet: the send fails like Linux's (EPERM). */
	assert_int_equal(udp_to(u, "10.1.0.1", 7003), -1);
	assert_int_equal(errno, EPERM);
	assert_int_equal(np_stack_drops(f->b, NP_DROP_NF_CONNTRACK_FULL), 1);
	assert_int_equal(f->b->nf->ct.stat.drop, 1);
	/* A packet of a known flow still passes. */
	assert_int_equal(udp_to(u, "10.1.0.1", 7001), 4);
	np_close(u);
	np_close(srv);
}

/* A ping to ourselves through lo is classified once (at LOCAL_OUT), not again on the way back in. */
static void test_loopback(void **state)
{
	struct fx *f = *state;
	struct in_addr self;
	inet_pton(AF_INET, "10.1.0.2", &self);
	assert_int_equal(np_ping_send(f->b, self, 99, 1, 16), 0);
	sim(f, 10);
	assert_int_equal(f->replies, 1);
	struct nf_conn *ct = ct_of(f, B_IP, B_IP, 1, 99, 0, NULL);
	assert_non_null(ct);
	assert_int_equal(ct->packets[IP_CT_DIR_ORIGINAL], 1);
	assert_int_equal(ct->packets[IP_CT_DIR_REPLY], 1);
	assert_int_equal(rule_pkts(f, 4), 1); /* the request: NEW */
	assert_int_equal(rule_pkts(f, 2), 1); /* the reply: ESTABLISHED */
}

/*
 * skb->_nfct is a counted reference: a datagram still queued on a socket
 * keeps its entry alive after the table expires it, and the entry is freed
 * with the last packet (ASan catches a use after free or a leak).
 */
static void test_skb_holds_entry(void **state)
{
	struct fx *f = *state;
	int fb = udp_sock(f->b, "10.1.0.2", 5353);
	int fa = udp_sock(f->a, "10.1.0.1", 5354);
	assert_int_equal(udp_to(fb, "10.1.0.1", 5354), 4);
	sim(f, 10);
	char buf[16];
	struct sockaddr_in from;
	socklen_t fl = sizeof(from);
	assert_int_equal(np_recvfrom(fa, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from, &fl), 4);
	assert_int_equal(udp_to(fa, "10.1.0.2", 5353), 4); /* the reply: ESTABLISHED, queued at b */
	sim(f, 10);
	struct nf_conn *ct = ct_of(f, B_IP, A_IP, 17, 5353, 5354, NULL);
	assert_non_null(ct);
	assert_int_equal(ct->use, 2); /* the table's and the queued datagram's */
	sim(f, 200 * 1000); /* past the UDP stream timeout: GC takes it out of the table */
	assert_null(ct_of(f, B_IP, A_IP, 17, 5353, 5354, NULL));
	assert_int_equal(f->b->nf->ct.count, 0);
	assert_int_equal(ct->dying, 1);
	assert_int_equal(ct->use, 1);
	assert_int_equal(np_recvfrom(fb, buf, sizeof(buf), MSG_DONTWAIT, NULL, NULL), 4); /* frees skb and entry */
	np_close(fa);
	np_close(fb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_tcp_states, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tcp_invalid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_udp_and_timeouts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_related, setup, teardown),
		cmocka_unit_test_setup_teardown(test_icmp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_table_bound, setup, teardown),
		cmocka_unit_test_setup_teardown(test_loopback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_skb_holds_entry, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
