/*
 * A netpath router doing NAT between a private and a public network, on
 * virtual cables and one virtual clock:
 *   P 192.168.1.2 eth0 <==> eth0 192.168.1.1 R 203.0.113.1 eth1 <==> eth0 203.0.113.2 Q
 * R forwards (ip_forward=1) with
 *   -t nat -A POSTROUTING -o eth1 -j MASQUERADE
 *   -t nat -A PREROUTING -i eth1 -p tcp --dport 8080 -j DNAT --to-destination 192.168.1.2:80
 * Q has no route to 192.168.1.0/24: only translated packets can be answered.
 * Checks TCP, UDP and ping from P to Q (Q sees R's address), an ICMP error
 * about a masqueraded flow translated back to P, and port forwarding from Q
 * to P's server through the DNAT rule.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "tcp_net.h"
#include "netpath/netfilter.h"

#define MS 1000000ull
#define P_IP "192.168.1.2"
#define R0_IP "192.168.1.1"
#define R1_IP "203.0.113.1"
#define Q_IP "203.0.113.2"

struct nnet {
	struct np_clock *clk;
	struct np_stack *s[3]; /* P, R, Q */
	struct np_dev *p0, *r0, *r1, *q0;
	uint64_t now;
	int replies;
};

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
	struct nnet *n = calloc(1, sizeof(*n));
	static const char *const names[3] = { "P", "R", "Q" };
	n->clk = np_clock_virtual(TN_T0);
	n->now = TN_T0;
	for (int i = 0; i < 3; i++) {
		struct np_stack_config cfg = { .name = names[i], .clock = n->clk, .seed = 500 + (uint64_t)i };
		n->s[i] = np_stack_create(&cfg);
		assert_non_null(n->s[i]);
	}
	assert_int_equal(np_cable_create(n->s[0], "eth0", n->s[1], "eth0", &n->p0, &n->r0), 0);
	assert_int_equal(np_cable_create(n->s[1], "eth1", n->s[2], "eth0", &n->r1, &n->q0), 0);
	assert_int_equal(np_addr_add(n->p0, P_IP "/24"), 0);
	assert_int_equal(np_addr_add(n->r0, R0_IP "/24"), 0);
	assert_int_equal(np_addr_add(n->r1, R1_IP "/24"), 0);
	assert_int_equal(np_addr_add(n->q0, Q_IP "/24"), 0);
	assert_int_equal(np_route_add(n->s[0], "default", R0_IP, NULL), 0);
	assert_int_equal(np_sysctl_set(n->s[1], "net.ipv4.ip_forward", 1), 0);
	rule(n->s[1], "-t nat -A POSTROUTING -o eth1 -j MASQUERADE");
	rule(n->s[1], "-t nat -A PREROUTING -i eth1 -p tcp --dport 8080 -j DNAT --to-destination " P_IP ":80");
	*state = n;
	return 0;
}

static int teardown(void **state)
{
	struct nnet *n = *state;
	for (int i = 0; i < 3; i++)
		np_stack_destroy(n->s[i]);
	np_clock_destroy(n->clk);
	free(n);
	return 0;
}

static void sim(struct nnet *n, uint64_t ms)
{
	n->now += ms * MS;
	np_sim_run(n->s, 3, n->clk, n->now);
}

static int tcp_listen(struct np_stack *s, uint16_t port)
{
	int fd = np_socket(s, AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = tn_addr("0.0.0.0", port);
	assert_int_equal(np_bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(np_listen(fd, 4), 0);
	np_fcntl(fd, F_SETFL, O_NONBLOCK);
	return fd;
}

static int tcp_connect(struct np_stack *s, const char *ip, uint16_t port)
{
	int fd = np_socket(s, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	struct sockaddr_in a = tn_addr(ip, port);
	np_connect(fd, (struct sockaddr *)&a, sizeof(a));
	return fd;
}

static void assert_peer(int fd, const char *ip)
{
	struct sockaddr_in a;
	socklen_t l = sizeof(a);
	char buf[16];
	assert_int_equal(np_getpeername(fd, (struct sockaddr *)&a, &l), 0);
	inet_ntop(AF_INET, &a.sin_addr, buf, sizeof(buf));
	assert_string_equal(buf, ip);
}

/* TCP from P to Q: Q's peer is R's public address; data both ways; the flow ends cleanly. */
static void test_masquerade_tcp(void **state)
{
	struct nnet *n = *state;
	int l = tcp_listen(n->s[2], 80);
	int c = tcp_connect(n->s[0], Q_IP, 80);
	sim(n, 50);
	int s = np_accept(l, NULL, NULL);
	assert_true(s >= 0);
	assert_peer(s, R1_IP);
	assert_peer(c, Q_IP);
	static char big[20000];
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (char)(i * 7);
	assert_int_equal(np_send(c, big, sizeof(big), 0), (ssize_t)sizeof(big));
	assert_int_equal(np_send(s, "reply", 5, 0), 5);
	sim(n, 200);
	static char got[20000];
	size_t have = 0;
	for (;;) {
		ssize_t r = np_recv(s, got + have, sizeof(got) - have, MSG_DONTWAIT);
		if (r <= 0)
			break;
		have += (size_t)r;
	}
	assert_int_equal(have, sizeof(big));
	assert_memory_equal(got, big, sizeof(big));
	char buf[8];
	assert_int_equal(np_recv(c, buf, sizeof(buf), MSG_DONTWAIT), 5);
	/* No checksum failed anywhere: the incremental updates were right. */
	assert_int_equal(np_stack_mib(n->s[2], NP_MIB_TcpInCsumErrors), 0);
	assert_int_equal(np_stack_mib(n->s[0], NP_MIB_TcpInCsumErrors), 0);
	np_close(c);
	np_close(s);
	sim(n, 100);
	np_close(l);
}

/* UDP from P to Q and back: Q sees R:port, P sees the answer from Q. */
static void test_masquerade_udp(void **state)
{
	struct nnet *n = *state;
	int q = np_socket(n->s[2], AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in qa = tn_addr(Q_IP, 53);
	assert_int_equal(np_bind(q, (struct sockaddr *)&qa, sizeof(qa)), 0);
	int p = np_socket(n->s[0], AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in pa = tn_addr(P_IP, 4444);
	assert_int_equal(np_bind(p, (struct sockaddr *)&pa, sizeof(pa)), 0);
	assert_int_equal(np_sendto(p, "query", 5, 0, (struct sockaddr *)&qa, sizeof(qa)), 5);
	sim(n, 50);
	struct sockaddr_in from;
	socklen_t fl = sizeof(from);
	char buf[16], ip[16];
	assert_int_equal(np_recvfrom(q, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from, &fl), 5);
	inet_ntop(AF_INET, &from.sin_addr, ip, sizeof(ip));
	assert_string_equal(ip, R1_IP);
	assert_int_equal(ntohs(from.sin_port), 4444); /* the port was free: kept */
	assert_int_equal(np_sendto(q, "answer", 6, 0, (struct sockaddr *)&from, fl), 6);
	sim(n, 50);
	fl = sizeof(from);
	assert_int_equal(np_recvfrom(p, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from, &fl), 6);
	inet_ntop(AF_INET, &from.sin_addr, ip, sizeof(ip));
	assert_string_equal(ip, Q_IP);
	assert_int_equal(ntohs(from.sin_port), 53);
	assert_int_equal(np_stack_mib(n->s[2], NP_MIB_UdpInCsumErrors), 0);
	assert_int_equal(np_stack_mib(n->s[0], NP_MIB_UdpInCsumErrors), 0);

	/* An ICMP error about the masqueraded flow (Q's port 9 is closed) is translated back to P. */
	int u = np_socket(n->s[0], AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in q9 = tn_addr(Q_IP, 9);
	assert_int_equal(np_connect(u, (struct sockaddr *)&q9, sizeof(q9)), 0);
	assert_int_equal(np_send(u, "x", 1, 0), 1);
	sim(n, 50);
	assert_int_equal(np_recv(u, buf, sizeof(buf), MSG_DONTWAIT), -1);
	assert_int_equal(errno, ECONNREFUSED);
	assert_int_equal(np_stack_mib(n->s[0], NP_MIB_IcmpInCsumErrors), 0);
	np_close(u);
	np_close(p);
	np_close(q);
}

static void on_reply(void *arg, const struct np_ping_reply *r)
{
	struct nnet *n = arg;
	if (!r->error_type)
		n->replies++;
}

/* Ping from P to Q through the masquerade (the echo id is the flow's key). */
static void test_masquerade_ping(void **state)
{
	struct nnet *n = *state;
	np_ping_handler(n->s[0], 321, on_reply, n);
	for (uint16_t seq = 1; seq <= 3; seq++) {
		assert_int_equal(np_ping_send(n->s[0], tn_addr(Q_IP, 0).sin_addr, 321, seq, 56), 0);
		sim(n, 100);
	}
	assert_int_equal(n->replies, 3);
	assert_int_equal(np_stack_mib(n->s[2], NP_MIB_IcmpInEchos), 3);
	/* Q could only answer R: it has no route to P's network. */
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	np_nf_print(n->s[1], "conntrack", m);
	fclose(m);
	assert_non_null(strstr(buf, "src=" P_IP " dst=" Q_IP " id=321"));
	assert_non_null(strstr(buf, "src=" Q_IP " dst=" R1_IP " id=321"));
	free(buf);
}

/* Port forwarding: Q connects to R:8080 and reaches P's server on port 80. */
static void test_dnat_port_forward(void **state)
{
	struct nnet *n = *state;
	int l = tcp_listen(n->s[0], 80);
	int c = tcp_connect(n->s[2], R1_IP, 8080);
	sim(n, 50);
	int s = np_accept(l, NULL, NULL);
	assert_true(s >= 0);
	assert_peer(s, Q_IP);       /* no source NAT on the way in */
	assert_peer(c, R1_IP);      /* Q still talks to R:8080 */
	assert_int_equal(np_send(c, "GET /", 5, 0), 5);
	sim(n, 50);
	char buf[8];
	assert_int_equal(np_recv(s, buf, sizeof(buf), MSG_DONTWAIT), 5);
	assert_int_equal(np_send(s, "200 OK", 6, 0), 6);
	sim(n, 50);
	assert_int_equal(np_recv(c, buf, sizeof(buf), MSG_DONTWAIT), 6);
	/* The nat rule was consulted once, for the flow's first packet. */
	char *out = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&out, &len);
	np_nf_print(n->s[1], "nat", m);
	fclose(m);
	/* 48 bytes: the SYN (IP 20 + TCP 20 + MSS 4 + nop,wscale 4). */
	assert_non_null(strstr(out, "1        1    48 DNAT       tcp  --  eth1"));
	assert_non_null(strstr(out, "to:" P_IP ":80"));
	free(out);
	np_close(c);
	np_close(s);
	np_close(l);
	sim(n, 100);
}

/* DNAT in P's nat OUTPUT: a datagram for an address nobody has goes to Q instead (rerouted via R); the answer comes back un-NATed. */
static void test_dnat_output(void **state)
{
	struct nnet *n = *state;
	rule(n->s[0], "-t nat -A OUTPUT -p udp -d 192.168.1.77 --dport 5353 -j DNAT --to-destination " Q_IP ":53");
	int q = np_socket(n->s[2], AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in qa = tn_addr(Q_IP, 53);
	assert_int_equal(np_bind(q, (struct sockaddr *)&qa, sizeof(qa)), 0);
	int p = np_socket(n->s[0], AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in ghost = tn_addr("192.168.1.77", 5353);
	assert_int_equal(np_sendto(p, "where", 5, 0, (struct sockaddr *)&ghost, sizeof(ghost)), 5);
	sim(n, 50);
	struct sockaddr_in from;
	socklen_t fl = sizeof(from);
	char buf[16], ip[16];
	assert_int_equal(np_recvfrom(q, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from, &fl), 5);
	assert_int_equal(np_sendto(q, "here", 4, 0, (struct sockaddr *)&from, fl), 4);
	sim(n, 50);
	fl = sizeof(from);
	assert_int_equal(np_recvfrom(p, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from, &fl), 4);
	inet_ntop(AF_INET, &from.sin_addr, ip, sizeof(ip));
	assert_string_equal(ip, "192.168.1.77");
	assert_int_equal(ntohs(from.sin_port), 5353);
	np_close(p);
	np_close(q);
}

/* A router firewall: FORWARD lets P's flows and their replies through, drops new flows from the public side. */
static void test_forward_filter(void **state)
{
	struct nnet *n = *state;
	rule(n->s[1], "-A FORWARD -m state --state ESTABLISHED,RELATED -j ACCEPT");
	rule(n->s[1], "-A FORWARD -i eth0 -o eth1 -j ACCEPT");
	rule(n->s[1], "-P FORWARD DROP");
	int l = tcp_listen(n->s[2], 80);
	int c = tcp_connect(n->s[0], Q_IP, 80);
	sim(n, 50);
	int s = np_accept(l, NULL, NULL);
	assert_true(s >= 0);
	/* Q -> R:8080 is DNATed to P, but the new flow is dropped in FORWARD by the policy. */
	int pl = tcp_listen(n->s[0], 80);
	int qc = tcp_connect(n->s[2], R1_IP, 8080);
	sim(n, 500);
	assert_int_equal(np_accept(pl, NULL, NULL), -1);
	char *out = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&out, &len);
	np_nf_print(n->s[1], "filter", m);
	fclose(m);
	assert_non_null(strstr(out, "Chain FORWARD (policy DROP 1 packets, 48 bytes)")); /* the SYN with MSS and WS (its RTO is 1 s) */
	free(out);
	assert_int_equal(np_stack_drops(n->s[1], NP_DROP_NETFILTER_DROP), 1);
	np_close(qc);
	np_close(pl);
	np_close(c);
	np_close(s);
	np_close(l);
}

/* A fragmented datagram through the masquerade: R reassembles before conntrack (nf_defrag_ipv4), NATs, fragments again. */
static void test_masquerade_fragments(void **state)
{
	struct nnet *n = *state;
	int q = np_socket(n->s[2], AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in qa = tn_addr(Q_IP, 53);
	assert_int_equal(np_bind(q, (struct sockaddr *)&qa, sizeof(qa)), 0);
	int p = np_socket(n->s[0], AF_INET, SOCK_DGRAM, 0);
	static char big[4000], got[4100];
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (char)(i * 13);
	assert_int_equal(np_sendto(p, big, sizeof(big), 0, (struct sockaddr *)&qa, sizeof(qa)), (ssize_t)sizeof(big));
	sim(n, 50);
	struct sockaddr_in from;
	socklen_t fl = sizeof(from);
	char ip[16];
	assert_int_equal(np_recvfrom(q, got, sizeof(got), MSG_DONTWAIT, (struct sockaddr *)&from, &fl),
			 (ssize_t)sizeof(big));
	assert_memory_equal(got, big, sizeof(big));
	inet_ntop(AF_INET, &from.sin_addr, ip, sizeof(ip));
	assert_string_equal(ip, R1_IP);
	assert_int_equal(np_stack_mib(n->s[1], NP_MIB_IpReasmOKs), 1);
	assert_true(np_stack_mib(n->s[1], NP_MIB_IpFragCreates) >= 3);
	/* Each fragment counted once as received, the reassembled datagram not again. */
	assert_int_equal(np_stack_mib(n->s[1], NP_MIB_IpInReceives), np_stack_mib(n->s[1], NP_MIB_IpReasmReqds));
	np_close(p);
	np_close(q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_masquerade_tcp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_masquerade_udp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_masquerade_ping, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dnat_port_forward, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dnat_output, setup, teardown),
		cmocka_unit_test_setup_teardown(test_forward_filter, setup, teardown),
		cmocka_unit_test_setup_teardown(test_masquerade_fragments, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
