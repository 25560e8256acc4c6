/*
 * Unit tests for the IPv4 header (RFC 791, RFC 1122 3.2.1) in src/wire/ipv4.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "wire/checksum.h"
#include "wire/ipv4.h"

static uint32_t rng_state = 0x9e3779b9u;

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

/* A captured IPv4 header: UDP 192.168.0.1 -> 192.168.0.199, tot_len 115, DF, TTL 64. */
static const uint8_t captured[20] = {
	0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
	0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
};

/* A 24-byte header (one NOP,NOP,NOP,EOL option word) plus 8 bytes of data; tot_len 32. */
static void make_opt_packet(uint8_t p[32])
{
	memset(p, 0, 32);
	p[0] = 0x46;
	be16_put(p + 2, 32);
	p[8] = 64;
	p[9] = IPPROTO_UDP_;
	be32_put(p + 12, 0x0a000001);
	be32_put(p + 16, 0x0a000002);
	p[20] = p[21] = p[22] = 1;
	p[23] = 0;
	be16_put(p + 10, ip_compute_csum(p, 24));
	memset(p + 24, 0xab, 8);
}

static void test_parse_captured(void **state)
{
	(void)state;
	uint8_t pkt[115] = { 0 };
	memcpy(pkt, captured, sizeof(captured));
	struct ipv4_repr r;
	assert_int_equal(ipv4_parse(pkt, sizeof(pkt), &r), 0);
	assert_int_equal(r.ihl, 20);
	assert_int_equal(r.tos, 0);
	assert_int_equal(r.tot_len, 115);
	assert_int_equal(r.id, 0);
	assert_int_equal(r.frag_off, IP_DF);
	assert_int_equal(r.ttl, 64);
	assert_int_equal(r.protocol, IPPROTO_UDP_);
	assert_int_equal(r.check, 0xb861);
	assert_int_equal(r.saddr, 0xc0a80001);
	assert_int_equal(r.daddr, 0xc0a800c7);
	assert_null(r.options);
	assert_int_equal(r.options_len, 0);
	assert_true(ipv4_csum_ok(pkt, r.ihl));
}

static void test_checksum_bad(void **state)
{
	(void)state;
	uint8_t h[20];
	for (size_t byte = 0; byte < sizeof(h); byte++) {
		for (int bit = 0; bit < 8; bit++) {
			memcpy(h, captured, sizeof(h));
			h[byte] ^= (uint8_t)(1u << bit);
			assert_false(ipv4_csum_ok(h, sizeof(h)));
		}
	}
	memcpy(h, captured, sizeof(h));
	assert_true(ipv4_csum_ok(h, sizeof(h)));
}

/* Every truncation of a 32-byte datagram fails, and with the error of the first check it breaks. */
static void test_truncation(void **state)
{
	(void)state;
	uint8_t pkt[32];
	make_opt_packet(pkt);
	struct ipv4_repr r;
	for (size_t n = 0; n < sizeof(pkt); n++) {
		uint8_t *p = dup_exact(pkt, n);
		int want = n < 20 ? -WIRE_ETRUNC : n < 24 ? -WIRE_EHDRLEN : -WIRE_ETOTLEN;
		int got = ipv4_parse(p, n, &r);
		free(p);
		if (got != want)
			fail_msg("len %zu: got %d want %d", n, got, want);
	}
	uint8_t *p = dup_exact(pkt, sizeof(pkt));
	assert_int_equal(ipv4_parse(p, sizeof(pkt), &r), 0);
	assert_int_equal(r.ihl, 24);
	assert_int_equal(r.options_len, 4);
	assert_ptr_equal(r.options, p + 20);
	assert_true(ipv4_csum_ok(p, r.ihl));
	assert_int_equal(ipv4_options_check(r.options, r.options_len), 0);
	free(p);
}

/* RFC 1122 3.2.1.1: any version but 4 is discarded, checked before IHL. */
static void test_bad_version(void **state)
{
	(void)state;
	struct ipv4_repr r;
	for (unsigned v = 0; v < 16; v++) {
		if (v == 4)
			continue;
		uint8_t h[20];
		memcpy(h, captured, sizeof(h));
		h[0] = (uint8_t)(v << 4 | 5);
		uint8_t *p = dup_exact(h, sizeof(h));
		/* tot_len 115 > 20 too, but the version is reported first. */
		assert_int_equal(ipv4_parse(p, sizeof(h), &r), -WIRE_EVERSION);
		p[0] = (uint8_t)(v << 4 | 1);
		assert_int_equal(ipv4_parse(p, sizeof(h), &r), -WIRE_EVERSION);
		free(p);
	}
}

/* RFC 791 3.1: IHL is at least 5 words. */
static void test_ihl_too_small(void **state)
{
	(void)state;
	struct ipv4_repr r;
	uint8_t pkt[115] = { 0 };
	memcpy(pkt, captured, sizeof(captured));
	for (unsigned ihl = 0; ihl < 5; ihl++) {
		pkt[0] = (uint8_t)(0x40 | ihl);
		assert_int_equal(ipv4_parse(pkt, sizeof(pkt), &r), -WIRE_EHDRLEN);
	}
}

static void test_ihl_past_buffer(void **state)
{
	(void)state;
	struct ipv4_repr r;
	for (unsigned ihl = 6; ihl <= 15; ihl++) {
		size_t n = ihl * 4 - 1;
		uint8_t h[60] = { 0 };
		h[0] = (uint8_t)(0x40 | ihl);
		be16_put(h + 2, (uint16_t)n);
		uint8_t *p = dup_exact(h, n);
		assert_int_equal(ipv4_parse(p, n, &r), -WIRE_EHDRLEN);
		free(p);
	}
}

static void test_tot_len(void **state)
{
	(void)state;
	struct ipv4_repr r;
	uint8_t pkt[32];

	/* Below the header length. */
	make_opt_packet(pkt);
	for (unsigned t = 0; t < 24; t++) {
		be16_put(pkt + 2, (uint16_t)t);
		assert_int_equal(ipv4_parse(pkt, sizeof(pkt), &r), -WIRE_ETOTLEN);
	}
	/* Beyond the buffer. */
	be16_put(pkt + 2, 33);
	assert_int_equal(ipv4_parse(pkt, sizeof(pkt), &r), -WIRE_ETOTLEN);
	be16_put(pkt + 2, 0xffff);
	assert_int_equal(ipv4_parse(pkt, sizeof(pkt), &r), -WIRE_ETOTLEN);
	/* Shorter than the buffer (Ethernet padding): valid; the caller trims. */
	be16_put(pkt + 2, 24);
	assert_int_equal(ipv4_parse(pkt, sizeof(pkt), &r), 0);
	assert_int_equal(r.tot_len, 24);
	be16_put(pkt + 2, 28);
	assert_int_equal(ipv4_parse(pkt, sizeof(pkt), &r), 0);
	assert_int_equal(r.tot_len, 28);
}

static void test_emit_roundtrip(void **state)
{
	(void)state;
	for (int i = 0; i < 2000; i++) {
		uint8_t opts[40];
		for (size_t j = 0; j < sizeof(opts); j++)
			opts[j] = (uint8_t)rnd();
		struct ipv4_repr r = {
			.tos = (uint8_t)rnd(), .id = (uint16_t)rnd(), .frag_off = (uint16_t)rnd(),
			.ttl = (uint8_t)rnd(), .protocol = (uint8_t)rnd(),
			.saddr = rnd(), .daddr = rnd(), .options = opts,
			.options_len = (uint8_t)((rnd() % 11) * 4),
		};
		size_t hlen = 20 + r.options_len;
		r.tot_len = (uint16_t)(hlen + rnd() % 16);
		uint8_t *p = malloc(r.tot_len);
		assert_non_null(p);
		memset(p, 0x5a, r.tot_len);
		assert_int_equal(ipv4_emit(&r, p, hlen), hlen);
		struct ipv4_repr b;
		assert_int_equal(ipv4_parse(p, r.tot_len, &b), 0);
		assert_true(ipv4_csum_ok(p, b.ihl));
		assert_int_equal(b.ihl, hlen);
		assert_int_equal(b.tos, r.tos);
		assert_int_equal(b.tot_len, r.tot_len);
		assert_int_equal(b.id, r.id);
		assert_int_equal(b.frag_off, r.frag_off);
		assert_int_equal(b.ttl, r.ttl);
		assert_int_equal(b.protocol, r.protocol);
		assert_int_equal(b.saddr, r.saddr);
		assert_int_equal(b.daddr, r.daddr);
		assert_int_equal(b.options_len, r.options_len);
		if (r.options_len)
			assert_memory_equal(b.options, opts, r.options_len);
		else
			assert_null(b.options);
		/* Emitting the parsed repr back in place reproduces the same bytes. */
		uint8_t copy[60];
		memcpy(copy, p, hlen);
		assert_int_equal(ipv4_emit(&b, p, hlen), hlen);
		assert_memory_equal(copy, p, hlen);
		free(p);
	}
}

static void test_emit_limits(void **state)
{
	(void)state;
	uint8_t opts[44] = { 1, 1, 1, 0 };
	struct ipv4_repr r = { .tot_len = 24, .ttl = 1, .options = opts, .options_len = 4 };
	for (size_t cap = 0; cap < 24; cap++) {
		uint8_t *p = malloc(cap ? cap : 1);
		assert_int_equal(ipv4_emit(&r, p, cap), 0);
		free(p);
	}
	uint8_t buf[64];
	r.options_len = 3; /* not padded to 4 (RFC 791 3.1 "Padding") */
	assert_int_equal(ipv4_emit(&r, buf, sizeof(buf)), 0);
	r.options_len = 44; /* more than IHL can express */
	assert_int_equal(ipv4_emit(&r, buf, sizeof(buf)), 0);
	r.options_len = 4;
	r.options = NULL;
	assert_int_equal(ipv4_emit(&r, buf, sizeof(buf)), 0);
	r.options_len = 0;
	assert_int_equal(ipv4_emit(&r, buf, sizeof(buf)), 20);
	assert_int_equal(buf[0], 0x45);
}

/* RFC 1624 3 on real headers: ip_forward's TTL decrement and random field rewrites (NAT). */
static void test_incremental_matches_full(void **state)
{
	(void)state;
	for (int i = 0; i < 5000; i++) {
		struct ipv4_repr r = {
			.tos = (uint8_t)rnd(), .tot_len = (uint16_t)rnd(), .id = (uint16_t)rnd(),
			.frag_off = (uint16_t)rnd(), .ttl = (uint8_t)rnd(), .protocol = (uint8_t)rnd(),
			.saddr = rnd(), .daddr = rnd(),
		};
		uint8_t h[20];
		assert_int_equal(ipv4_emit(&r, h, sizeof(h)), 20);
		size_t w = 2 * (rnd() % 10);
		if (w == 10)
			continue;
		uint16_t old = be16_get(h + w), nw = (uint16_t)rnd();
		uint16_t inc = csum_replace2(be16_get(h + 10), old, nw);
		be16_put(h + w, nw);
		be16_put(h + 10, 0);
		assert_int_equal(inc, ip_compute_csum(h, sizeof(h)));
		be16_put(h + 10, inc);
		assert_true(ipv4_csum_ok(h, sizeof(h)));
	}
}

static int opt_check_exact(const uint8_t *o, size_t n)
{
	uint8_t *p = dup_exact(o, n);
	int rc = ipv4_options_check(p, n);
	free(p);
	return rc;
}

/* RFC 791 3.1 option format: EOL and NOP are one byte, others carry a length >= 2 inside the header. */
static void test_options_check(void **state)
{
	(void)state;
	const uint8_t nops[8] = { 1, 1, 1, 1, 1, 1, 1, 1 };
	const uint8_t eol_then_junk[4] = { 0, 0x44, 0x00, 0xff };
	const uint8_t rr[8] = { 7, 7, 4, 0, 0, 0, 0, 0 };            /* record route, one slot, EOL */
	const uint8_t ra[4] = { 148, 4, 0, 0 };                       /* router alert */
	const uint8_t len0[4] = { 1, 0x44, 0, 0 };
	const uint8_t len1[4] = { 0x44, 1, 0, 0 };
	const uint8_t past[4] = { 1, 0x44, 4, 0 };
	const uint8_t no_len[4] = { 1, 1, 1, 0x44 };
	const uint8_t second_bad[8] = { 148, 4, 0, 0, 7, 9, 4, 0 };

	assert_int_equal(opt_check_exact(nops, 0), 0);
	assert_int_equal(opt_check_exact(nops, sizeof(nops)), 0);
	assert_int_equal(opt_check_exact(eol_then_junk, sizeof(eol_then_junk)), 0);
	assert_int_equal(opt_check_exact(rr, sizeof(rr)), 0);
	assert_int_equal(opt_check_exact(ra, sizeof(ra)), 0);
	assert_int_equal(opt_check_exact(len0, sizeof(len0)), -WIRE_EOPT);
	assert_int_equal(opt_check_exact(len1, sizeof(len1)), -WIRE_EOPT);
	assert_int_equal(opt_check_exact(past, sizeof(past)), -WIRE_EOPT);
	assert_int_equal(opt_check_exact(no_len, sizeof(no_len)), -WIRE_EOPT);
	assert_int_equal(opt_check_exact(second_bad, sizeof(second_bad)), -WIRE_EOPT);
	/* Every truncation of a valid option list: valid only where an option ends. */
	for (size_t n = 0; n <= sizeof(rr); n++) {
		int want = (n == 0 || n >= 7) ? 0 : -WIRE_EOPT;
		assert_int_equal(opt_check_exact(rr, n), want);
	}
}

static void test_ntoa_aton(void **state)
{
	(void)state;
	char buf[16];
	uint32_t a = 0;
	assert_string_equal(ipv4_ntoa(0xc0a800c7, buf), "192.168.0.199");
	assert_string_equal(ipv4_ntoa(0xffffffff, buf), "255.255.255.255");
	assert_string_equal(ipv4_ntoa(0, buf), "0.0.0.0");
	assert_int_equal(ipv4_aton("192.168.0.199", &a), 0);
	assert_int_equal(a, 0xc0a800c7);
	assert_int_equal(ipv4_aton("255.255.255.255", &a), 0);
	assert_int_equal(a, 0xffffffff);
	assert_int_equal(ipv4_aton("0.0.0.0", &a), 0);
	assert_int_equal(a, 0);
	for (int i = 0; i < 1000; i++) {
		uint32_t v = rnd(), back;
		assert_int_equal(ipv4_aton(ipv4_ntoa(v, buf), &back), 0);
		assert_int_equal(back, v);
	}

	const char *bad[] = {
		"", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1.256.1.1", "1.1.1.256", "1.2.3.4 ", " 1.2.3.4",
		"1.2.3.4x", "1..2.3", "1.2.3.", ".1.2.3", "01.2.3.4", "1.2.3.04", "1.2.3.-4", "+1.2.3.4",
		"1234.1.1.1", "1.2.3.4/24", "1.2.3.0x4", "a.b.c.d", "1,2,3,4", "1.2.3.4.",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		a = 0x01020304;
		if (ipv4_aton(bad[i], &a) != -WIRE_EFIELD)
			fail_msg("accepted \"%s\"", bad[i]);
		assert_int_equal(a, 0x01020304);
	}
}

static void test_prefix_parse(void **state)
{
	(void)state;
	uint32_t a;
	int plen;
	assert_int_equal(ipv4_prefix_parse("10.0.0.1/24", &a, &plen), 0);
	assert_int_equal(a, 0x0a000001); /* host bits kept */
	assert_int_equal(plen, 24);
	assert_int_equal(ipv4_prefix_parse("192.168.1.7", &a, &plen), 0);
	assert_int_equal(a, 0xc0a80107);
	assert_int_equal(plen, 32);
	assert_int_equal(ipv4_prefix_parse("0.0.0.0/0", &a, &plen), 0);
	assert_int_equal(a, 0);
	assert_int_equal(plen, 0);
	assert_int_equal(ipv4_prefix_parse("1.2.3.4/32", &a, &plen), 0);
	assert_int_equal(plen, 32);
	assert_int_equal(ipv4_prefix_parse("1.2.3.4/8", &a, &plen), 0);
	assert_int_equal(plen, 8);

	const char *bad[] = {
		"", "/24", "1.2.3/24", "1.2.3.4.5/24", "256.1.1.1/8", "1.2.3.4/33", "1.2.3.4/100",
		"1.2.3.4/", "1.2.3.4/-1", "1.2.3.4/24x", "1.2.3.4/024", "1.2.3.4/ 24", "1.2.3.4 /24",
		"1.2.3.4/24/8", "1.2.3.4//24", "1.2.3.4x", "1.2.3.4/+8",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		a = 7;
		plen = 7;
		if (ipv4_prefix_parse(bad[i], &a, &plen) != -WIRE_EFIELD)
			fail_msg("accepted \"%s\"", bad[i]);
		assert_int_equal(a, 7);
		assert_int_equal(plen, 7);
	}
}

static void test_address_classes(void **state)
{
	(void)state;
	assert_int_equal(ipv4_plen_mask(0), 0);
	assert_int_equal(ipv4_plen_mask(8), 0xff000000u);
	assert_int_equal(ipv4_plen_mask(24), 0xffffff00u);
	assert_int_equal(ipv4_plen_mask(32), 0xffffffffu);
	assert_true(ipv4_is_multicast(0xe0000001));
	assert_false(ipv4_is_multicast(0xdfffffff));
	assert_true(ipv4_is_lbcast(0xffffffff));
	assert_true(ipv4_is_zeronet(0x00123456));
	assert_true(ipv4_is_loopback(0x7f000001));
	assert_true(ipv4_is_class_e(0xf0000001));
	assert_false(ipv4_is_class_e(0xffffffff));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_captured),
		cmocka_unit_test(test_checksum_bad),
		cmocka_unit_test(test_truncation),
		cmocka_unit_test(test_bad_version),
		cmocka_unit_test(test_ihl_too_small),
		cmocka_unit_test(test_ihl_past_buffer),
		cmocka_unit_test(test_tot_len),
		cmocka_unit_test(test_emit_roundtrip),
		cmocka_unit_test(test_emit_limits),
		cmocka_unit_test(test_incremental_matches_full),
		cmocka_unit_test(test_options_check),
		cmocka_unit_test(test_ntoa_aton),
		cmocka_unit_test(test_prefix_parse),
		cmocka_unit_test(test_address_classes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
