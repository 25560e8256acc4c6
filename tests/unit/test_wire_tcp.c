/*
 * Unit tests for the TCP header and options (RFC 9293 3.1, RFC 7323, RFC 2018)
 * in src/wire/tcp.c, including Linux's option layout byte for byte.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "wire/ipv4.h"
#include "wire/tcp.h"

static uint32_t rng_state = 0x0badf00du;

static uint32_t rnd(void)
{
	uint32_t x = rng_state;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return rng_state = x;
}

static uint8_t *dup_exact(const uint8_t *src, size_t n)
{
	uint8_t *p = malloc(n);
	assert_non_null(p);
	if (n)
		memcpy(p, src, n);
	return p;
}

static const uint32_t SA = 0xc0a80001, DA = 0xc0a80002;

static uint16_t ref_tcp_csum(const uint8_t *p, size_t len)
{
	uint64_t s = (SA >> 16) + (SA & 0xffff) + (DA >> 16) + (DA & 0xffff) + IPPROTO_TCP_ + len;
	for (size_t i = 0; i < len; i++)
		s += (i & 1) ? p[i] : (uint32_t)p[i] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

/* The checksum a correct sender would store in seg (its own checksum field read as zero). */
static uint16_t ref_emitted_csum(const uint8_t *seg, size_t n)
{
	uint8_t *z = dup_exact(seg, n);
	be16_put(z + 16, 0);
	uint16_t c = ref_tcp_csum(z, n);
	free(z);
	return c;
}

/* Builds a 20-byte header followed by the given option bytes (padded by the caller). */
static size_t make_seg(uint8_t *buf, const uint8_t *opts, size_t optlen)
{
	memset(buf, 0, 20);
	be16_put(buf, 40000);
	be16_put(buf + 2, 80);
	be32_put(buf + 4, 1000);
	be32_put(buf + 8, 0);
	buf[12] = (uint8_t)(((20 + optlen) / 4) << 4);
	buf[13] = TCPF_SYN;
	be16_put(buf + 14, 64240);
	if (optlen)
		memcpy(buf + 20, opts, optlen);
	return 20 + optlen;
}

static int parse_opts_exact(const uint8_t *opts, size_t optlen, struct tcp_repr *r)
{
	uint8_t seg[60];
	size_t n = make_seg(seg, opts, optlen);
	uint8_t *p = dup_exact(seg, n);
	int rc = tcp_parse(p, n, r);
	free(p);
	return rc;
}

/*
 * The SYN Linux sends, as tcpdump shows it:
 * "Flags [S], seq 1000, win 64240, options [mss 1460,sackOK,TS val 287454020 ecr 0,nop,wscale 7]".
 */
static const uint8_t linux_syn[40] = {
	0x9c, 0x40, 0x00, 0x50, 0x00, 0x00, 0x03, 0xe8, 0x00, 0x00, 0x00, 0x00,
	0xa0, 0x02, 0xfa, 0xf0, 0x00, 0x00, 0x00, 0x00,
	0x02, 0x04, 0x05, 0xb4,                         /* mss 1460 */
	0x04, 0x02,                                     /* sackOK */
	0x08, 0x0a, 0x11, 0x22, 0x33, 0x44, 0x00, 0x00, 0x00, 0x00, /* TS val ecr */
	0x01,                                           /* nop */
	0x03, 0x03, 0x07,                               /* wscale 7 */
};

static struct tcp_repr syn_repr(void)
{
	struct tcp_repr r = {
		.sport = 40000, .dport = 80, .seq = 1000, .flags = TCPF_SYN, .window = 64240,
		.opt = { .mss_ok = 1, .mss = 1460, .sack_ok = 1, .ts_ok = 1, .tsval = 0x11223344,
			 .wscale_ok = 1, .wscale = 7 },
	};
	return r;
}

static void test_linux_syn_layout(void **state)
{
	(void)state;
	struct tcp_repr r = syn_repr();
	assert_int_equal(tcp_options_len(&r.opt), 20);
	uint8_t *p = malloc(40);
	assert_int_equal(tcp_emit(&r, 0, SA, DA, p, 40), 40);
	uint8_t want[40];
	memcpy(want, linux_syn, sizeof(want));
	be16_put(want + 16, ref_emitted_csum(want, sizeof(want)));
	assert_memory_equal(p, want, sizeof(want));
	assert_true(tcp_csum_ok(p, 40, SA, DA));

	struct tcp_repr b;
	assert_int_equal(tcp_parse(p, 40, &b), 0);
	assert_int_equal(b.doff, 40);
	assert_int_equal(b.flags, TCPF_SYN);
	assert_true(b.opt.mss_ok && b.opt.sack_ok && b.opt.ts_ok && b.opt.wscale_ok);
	assert_int_equal(b.opt.mss, 1460);
	assert_int_equal(b.opt.tsval, 0x11223344);
	assert_int_equal(b.opt.tsecr, 0);
	assert_int_equal(b.opt.wscale, 7);
	assert_int_equal(b.opt.num_sacks, 0);
	assert_int_equal(b.payload_len, 0);
	free(p);
}

/* Each subset of options, padded with NOPs the way Linux's tcp_options_write does. */
static void test_linux_partial_layouts(void **state)
{
	(void)state;
	static const struct {
		uint8_t mss, sack, ts, ws, nsack;
		size_t len;
		uint8_t bytes[40];
	} cases[] = {
		{ 0, 0, 0, 0, 0, 0, { 0 } },
		{ 1, 0, 0, 0, 0, 4, { 2, 4, 0x05, 0xb4 } },
		{ 1, 1, 0, 1, 0, 12, { 2, 4, 0x05, 0xb4, 1, 1, 4, 2, 1, 3, 3, 7 } },
		{ 1, 0, 1, 1, 0, 20, { 2, 4, 0x05, 0xb4, 1, 1, 8, 10, 0x11, 0x22, 0x33, 0x44,
				       0x55, 0x66, 0x77, 0x88, 1, 3, 3, 7 } },
		{ 1, 1, 1, 0, 0, 16, { 2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0x11, 0x22, 0x33, 0x44,
				       0x55, 0x66, 0x77, 0x88 } },
		{ 0, 0, 1, 0, 0, 12, { 1, 1, 8, 10, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88 } },
		{ 0, 1, 0, 0, 0, 4, { 1, 1, 4, 2 } },
		{ 0, 0, 0, 1, 0, 4, { 1, 3, 3, 7 } },
		{ 0, 0, 0, 0, 1, 12, { 1, 1, 5, 10, 0, 0, 0, 1, 0, 0, 0, 2 } },
		{ 0, 0, 1, 0, 2, 32, { 1, 1, 8, 10, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88,
				       1, 1, 5, 18, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4 } },
		/* Four blocks fit without timestamps (36 bytes)... */
		{ 0, 0, 0, 0, 4, 36, { 1, 1, 5, 34, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4,
				       0, 0, 0, 5, 0, 0, 0, 6, 0, 0, 0, 7, 0, 0, 0, 8 } },
		/* ...but only three beside them: Linux drops the fourth. */
		{ 0, 0, 1, 0, 4, 40, { 1, 1, 8, 10, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88,
				       1, 1, 5, 26, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4,
				       0, 0, 0, 5, 0, 0, 0, 6 } },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct tcp_repr r = { .sport = 1, .dport = 2, .flags = TCPF_ACK };
		r.opt.mss_ok = cases[i].mss;
		r.opt.mss = 1460;
		r.opt.sack_ok = cases[i].sack;
		r.opt.ts_ok = cases[i].ts;
		r.opt.tsval = 0x11223344;
		r.opt.tsecr = 0x55667788;
		r.opt.wscale_ok = cases[i].ws;
		r.opt.wscale = 7;
		r.opt.num_sacks = cases[i].nsack;
		for (uint32_t b = 0; b < 4; b++)
			r.opt.sacks[b] = (struct tcp_sack_block){ 2 * b + 1, 2 * b + 2 };
		assert_int_equal(tcp_options_len(&r.opt), cases[i].len);
		size_t hlen = 20 + cases[i].len;
		uint8_t *p = malloc(hlen);
		if (tcp_emit(&r, 0, SA, DA, p, hlen) != hlen)
			fail_msg("case %zu: emit length", i);
		if (memcmp(p + 20, cases[i].bytes, cases[i].len) != 0)
			fail_msg("case %zu: option bytes differ", i);
		assert_int_equal(p[12] >> 4, hlen / 4);
		assert_true(tcp_csum_ok(p, hlen, SA, DA));

		struct tcp_repr b;
		assert_int_equal(tcp_parse(p, hlen, &b), 0);
		free(p);
		assert_int_equal(b.opt.mss_ok, cases[i].mss);
		assert_int_equal(b.opt.sack_ok, cases[i].sack);
		assert_int_equal(b.opt.ts_ok, cases[i].ts);
		assert_int_equal(b.opt.wscale_ok, cases[i].ws);
		unsigned nsack = cases[i].nsack == 4 && cases[i].ts ? 3 : cases[i].nsack;
		assert_int_equal(b.opt.num_sacks, nsack);
		for (unsigned k = 0; k < nsack; k++) {
			assert_int_equal(b.opt.sacks[k].start, 2 * k + 1);
			assert_int_equal(b.opt.sacks[k].end, 2 * k + 2);
		}
		if (cases[i].mss)
			assert_int_equal(b.opt.mss, 1460);
		if (cases[i].ts) {
			assert_int_equal(b.opt.tsval, 0x11223344);
			assert_int_equal(b.opt.tsecr, 0x55667788);
		}
	}
}

static void test_emit_with_payload(void **state)
{
	(void)state;
	for (size_t plen = 0; plen < 50; plen++) {
		struct tcp_repr r = {
			.sport = (uint16_t)rnd(), .dport = (uint16_t)rnd(), .seq = rnd(), .ack = rnd(),
			.flags = (uint8_t)rnd(), .window = (uint16_t)rnd(), .urg_ptr = (uint16_t)rnd(),
			.opt = { .ts_ok = 1, .tsval = rnd(), .tsecr = rnd() },
		};
		size_t n = 32 + plen;
		uint8_t *p = malloc(n);
		for (size_t i = 0; i < plen; i++)
			p[32 + i] = (uint8_t)rnd();
		assert_int_equal(tcp_emit(&r, plen, SA, DA, p, n), 32);
		assert_true(tcp_csum_ok(p, n, SA, DA));
		assert_int_equal(be16_get(p + 16), ref_emitted_csum(p, n));
		struct tcp_repr b;
		assert_int_equal(tcp_parse(p, n, &b), 0);
		assert_int_equal(b.sport, r.sport);
		assert_int_equal(b.dport, r.dport);
		assert_int_equal(b.seq, r.seq);
		assert_int_equal(b.ack, r.ack);
		assert_int_equal(b.flags, r.flags);
		assert_int_equal(b.window, r.window);
		assert_int_equal(b.urg_ptr, r.urg_ptr);
		assert_int_equal(b.doff, 32);
		assert_int_equal(b.check, be16_get(p + 16));
		assert_int_equal(b.opt.tsval, r.opt.tsval);
		assert_int_equal(b.opt.tsecr, r.opt.tsecr);
		assert_ptr_equal(b.payload, p + 32);
		assert_int_equal(b.payload_len, plen);
		/* Any flipped bit breaks the checksum; so does the wrong pseudo-header. */
		p[rnd() % n] ^= (uint8_t)(1u << (rnd() % 8));
		assert_false(tcp_csum_ok(p, n, SA, DA));
		free(p);
	}
}

static void test_emit_limits(void **state)
{
	(void)state;
	struct tcp_repr r = syn_repr();
	for (size_t cap = 0; cap < 45; cap++) {
		uint8_t *p = malloc(cap ? cap : 1);
		assert_int_equal(tcp_emit(&r, 5, SA, DA, p, cap), 0);
		free(p);
	}
	uint8_t *p = malloc(45);
	memset(p + 40, 'x', 5);
	assert_int_equal(tcp_emit(&r, 5, SA, DA, p, 45), 40);
	assert_true(tcp_csum_ok(p, 45, SA, DA));
	assert_false(tcp_csum_ok(p, 45, SA, DA + 1));
	free(p);
	/* The pseudo-header length is 16 bits. */
	uint8_t hdr[60];
	assert_int_equal(tcp_emit(&r, 65536 - 40, SA, DA, hdr, (size_t)-1), 0);
}

/* Every truncation inside the header fails; past it, the payload just shrinks. */
static void test_truncation(void **state)
{
	(void)state;
	uint8_t seg[45];
	struct tcp_repr r = syn_repr();
	memset(seg + 40, 'y', 5);
	assert_int_equal(tcp_emit(&r, 5, SA, DA, seg, sizeof(seg)), 40);
	struct tcp_repr b;
	for (size_t n = 0; n <= sizeof(seg); n++) {
		uint8_t *p = dup_exact(seg, n);
		int got = tcp_parse(p, n, &b);
		int want = n < 20 ? -WIRE_ETRUNC : n < 40 ? -WIRE_EHDRLEN : 0;
		if (got != want)
			fail_msg("len %zu: got %d want %d", n, got, want);
		if (got == 0)
			assert_int_equal(b.payload_len, n - 40);
		free(p);
	}
}

/* RFC 9293 3.1: Data Offset below 5 or beyond the segment. */
static void test_data_offset(void **state)
{
	(void)state;
	uint8_t seg[60];
	struct tcp_repr b;
	make_seg(seg, NULL, 0);
	for (unsigned d = 0; d < 5; d++) {
		seg[12] = (uint8_t)(d << 4);
		assert_int_equal(tcp_parse(seg, 60, &b), -WIRE_EHDRLEN);
	}
	for (unsigned d = 6; d <= 15; d++) {
		memset(seg + 20, TCPOPT_NOP, 40);
		seg[12] = (uint8_t)(d << 4);
		uint8_t *p = dup_exact(seg, d * 4 - 1);
		assert_int_equal(tcp_parse(p, d * 4 - 1, &b), -WIRE_EHDRLEN);
		free(p);
		p = dup_exact(seg, d * 4);
		assert_int_equal(tcp_parse(p, d * 4, &b), 0);
		free(p);
	}
	/* The reserved nibble is not part of the data offset. */
	make_seg(seg, NULL, 0);
	seg[12] = 0x5f;
	assert_int_equal(tcp_parse(seg, 20, &b), 0);
	assert_int_equal(b.doff, 20);
}

/* Each malformed option kind, in an exact-size buffer so a read past the header would trap. */
static void test_malformed_options(void **state)
{
	(void)state;
	static const struct { const char *what; size_t len; uint8_t o[12]; } bad[] = {
		{ "unknown len 0", 4, { 30, 0, 1, 1 } },
		{ "unknown len 1", 4, { 30, 1, 1, 1 } },
		{ "mss len 0", 4, { 2, 0, 1, 1 } },
		{ "unknown past header", 4, { 1, 30, 4, 0 } },
		{ "mss past header", 4, { 1, 1, 2, 4 } },
		{ "kind without length", 4, { 1, 1, 1, 2 } },
		{ "unknown kind without length", 4, { 1, 1, 1, 99 } },
		{ "ts past header", 8, { 1, 1, 8, 10, 0, 0, 0, 0 } },
		{ "mss len 3", 4, { 2, 3, 5, 0 } },
		{ "mss len 5", 8, { 2, 5, 5, 0xb4, 0, 0, 0, 0 } },
		{ "wscale len 2", 4, { 3, 2, 1, 1 } },
		{ "wscale len 4", 4, { 3, 4, 7, 0 } },
		{ "sackOK len 3", 4, { 4, 3, 0, 0 } },
		{ "sackOK len 4", 4, { 4, 4, 0, 0 } },
		{ "ts len 8", 8, { 8, 8, 0, 0, 0, 0, 0, 0 } },
		{ "ts len 12", 12, { 8, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 } },
		{ "sack len 2", 4, { 5, 2, 1, 1 } },
		{ "sack len 9", 12, { 5, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 } },
		{ "sack len 11", 12, { 5, 11, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 } },
		{ "good then len 0", 8, { 2, 4, 5, 0xb4, 30, 0, 0, 0 } },
	};
	struct tcp_repr b;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (parse_opts_exact(bad[i].o, bad[i].len, &b) != -WIRE_EOPT)
			fail_msg("accepted: %s", bad[i].what);
	}
	/* SACK of 2 + 8n but longer than the header: past the header. */
	uint8_t sack[20] = { 1, 1, 5, 26 };
	assert_int_equal(parse_opts_exact(sack, sizeof(sack), &b), -WIRE_EOPT);
}

static void test_many_nops(void **state)
{
	(void)state;
	uint8_t o[40];
	struct tcp_repr b;
	memset(o, TCPOPT_NOP, sizeof(o));
	assert_int_equal(parse_opts_exact(o, sizeof(o), &b), 0);
	assert_false(b.opt.mss_ok || b.opt.sack_ok || b.opt.ts_ok || b.opt.wscale_ok || b.opt.num_sacks);
	/* 36 NOPs, then an MSS option ending exactly at the header's end. */
	o[36] = TCPOPT_MSS;
	o[37] = 4;
	be16_put(o + 38, 536);
	assert_int_equal(parse_opts_exact(o, sizeof(o), &b), 0);
	assert_true(b.opt.mss_ok);
	assert_int_equal(b.opt.mss, 536);
	assert_int_equal(b.doff, 60);
}

/* RFC 9293 3.1: End of Option List ends parsing; what follows is padding, however odd. */
static void test_eol_stops(void **state)
{
	(void)state;
	const uint8_t o[8] = { TCPOPT_EOL, 2, 0, 0, 3, 1, 0xff, 0xff };
	const uint8_t o2[8] = { 1, 3, 3, 5, 0, 2, 4, 5 };
	struct tcp_repr b;
	assert_int_equal(parse_opts_exact(o, sizeof(o), &b), 0);
	assert_false(b.opt.mss_ok || b.opt.wscale_ok);
	assert_int_equal(parse_opts_exact(o2, sizeof(o2), &b), 0);
	assert_true(b.opt.wscale_ok);
	assert_int_equal(b.opt.wscale, 5);
	assert_false(b.opt.mss_ok);
}

/* RFC 9293 3.1: unknown options are skipped by their length. */
static void test_unknown_skipped(void **state)
{
	(void)state;
	const uint8_t o[20] = {
		254, 6, 0xf9, 0x89, 0xaa, 0xbb,     /* experimental (RFC 6994) */
		2, 4, 0x05, 0x78,                   /* mss 1400 */
		19, 2,                              /* unknown, empty */
		30, 8, 2, 4, 0, 0, 0, 0,            /* MPTCP-like, carrying bytes that look like MSS */
	};
	struct tcp_repr b;
	assert_int_equal(parse_opts_exact(o, sizeof(o), &b), 0);
	assert_true(b.opt.mss_ok);
	assert_int_equal(b.opt.mss, 1400);
	assert_false(b.opt.sack_ok || b.opt.ts_ok || b.opt.wscale_ok);
}

static void test_sack_blocks_parse(void **state)
{
	(void)state;
	uint8_t o[36] = { 1, 1, 5, 34 };
	for (int i = 0; i < 8; i++)
		be32_put(o + 4 + 4 * i, 0x1000u * (uint32_t)(i + 1));
	struct tcp_repr b;
	assert_int_equal(parse_opts_exact(o, sizeof(o), &b), 0);
	assert_int_equal(b.opt.num_sacks, 4);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(b.opt.sacks[i].start, 0x1000u * (uint32_t)(2 * i + 1));
		assert_int_equal(b.opt.sacks[i].end, 0x1000u * (uint32_t)(2 * i + 2));
	}
	const uint8_t one[12] = { 5, 10, 0, 0, 0, 1, 0, 0, 0, 9, 0, 0 };
	assert_int_equal(parse_opts_exact(one, sizeof(one), &b), 0);
	assert_int_equal(b.opt.num_sacks, 1);
	assert_int_equal(b.opt.sacks[0].start, 1);
	assert_int_equal(b.opt.sacks[0].end, 9);
}

/* Random option bytes: the parser must never read past the header nor loop forever. */
static void test_random_options_fuzz(void **state)
{
	(void)state;
	struct tcp_repr b;
	for (int i = 0; i < 20000; i++) {
		uint8_t o[40];
		size_t len = 4 * (rnd() % 11);
		for (size_t j = 0; j < len; j++) {
			uint32_t x = rnd();
			o[j] = (uint8_t)(x % 4 == 0 ? x >> 8 : (x >> 8) % 12);
		}
		int rc = parse_opts_exact(o, len, &b);
		assert_true(rc == 0 || rc == -WIRE_EOPT);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_linux_syn_layout),
		cmocka_unit_test(test_linux_partial_layouts),
		cmocka_unit_test(test_emit_with_payload),
		cmocka_unit_test(test_emit_limits),
		cmocka_unit_test(test_truncation),
		cmocka_unit_test(test_data_offset),
		cmocka_unit_test(test_malformed_options),
		cmocka_unit_test(test_many_nops),
		cmocka_unit_test(test_eol_stops),
		cmocka_unit_test(test_unknown_skipped),
		cmocka_unit_test(test_sack_blocks_parse),
		cmocka_unit_test(test_random_options_fuzz),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
