/*
 * Unit tests for the internet checksum (RFC 1071, RFC 1624) in src/wire/checksum.c
 * and the wire error names in src/wire/wire.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "wire/checksum.h"
#include "wire/wire.h"

static uint32_t rng_state = 0x12345678u;

static uint32_t rnd(void)
{
	/* xorshift32: deterministic, so a failure reproduces. */
	uint32_t x = rng_state;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return rng_state = x;
}

/* Byte-at-a-time RFC 1071 sum, the obvious reference, folded to 16 bits. */
static uint16_t ref_sum(const uint8_t *p, size_t len, uint32_t init)
{
	uint64_t s = init;
	for (size_t i = 0; i < len; i++)
		s += (i & 1) ? p[i] : (uint32_t)p[i] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

static uint8_t *dup_exact(const uint8_t *src, size_t n)
{
	uint8_t *p = malloc(n);
	assert_non_null(p);
	if (n)
		memcpy(p, src, n);
	return p;
}

/* RFC 1071 3 "Numerical Examples": 00 01 f2 03 f4 f5 f6 f7 sums to ddf2. */
static void test_rfc1071_example(void **state)
{
	(void)state;
	const uint8_t b[] = { 0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7 };
	assert_int_equal(csum_fold(csum_partial(b, sizeof(b), 0)), (uint16_t)~0xddf2);
	assert_int_equal(ip_compute_csum(b, sizeof(b)), 0x220d);
}

/* A captured IPv4/UDP header (192.168.0.1 -> 192.168.0.199) whose checksum is b861. */
static void test_captured_ipv4_header(void **state)
{
	(void)state;
	uint8_t h[] = { 0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
			0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7 };
	assert_int_equal(ip_compute_csum(h, sizeof(h)), 0);
	h[10] = h[11] = 0;
	assert_int_equal(ip_compute_csum(h, sizeof(h)), 0xb861);
}

static void test_small_and_odd(void **state)
{
	(void)state;
	const uint8_t one[] = { 0x01 };
	const uint8_t three[] = { 0x01, 0x02, 0x03 };
	assert_int_equal(ip_compute_csum(one, 0), 0xffff);
	assert_int_equal(csum_fold(csum_partial(one, 1, 0)), (uint16_t)~0x0100);
	assert_int_equal(csum_fold(csum_partial(three, 3, 0)), (uint16_t)~0x0402);
	/* The odd byte is the high half of its word even at an odd address. */
	uint8_t buf[4] = { 0xaa, 0x01, 0x02, 0x03 };
	assert_int_equal(csum_fold(csum_partial(buf + 1, 3, 0)), (uint16_t)~0x0402);
}

static void test_fold(void **state)
{
	(void)state;
	assert_int_equal(csum_fold(0), 0xffff);
	assert_int_equal(csum_fold(0xffff), 0);
	assert_int_equal(csum_fold(0x10000), 0xfffe);
	assert_int_equal(csum_fold(0xffffffffu), 0);
	assert_int_equal(csum_fold(0x0001fffeu), 0);
}

/* Every length 0..300 at every alignment 0..7, against the byte-wise reference. */
static void test_random_vs_reference(void **state)
{
	(void)state;
	uint8_t big[320];
	for (int round = 0; round < 8; round++) {
		for (size_t i = 0; i < sizeof(big); i++)
			big[i] = (uint8_t)rnd();
		if (round == 1)
			memset(big, 0xff, sizeof(big)); /* carries everywhere */
		for (size_t off = 0; off < 8; off++) {
			for (size_t len = 0; len + off <= 308; len++) {
				uint32_t init = round & 1 ? rnd() : 0;
				uint16_t want = (uint16_t)~ref_sum(big + off, len, init);
				uint16_t got = csum_fold(csum_partial(big + off, len, init));
				if (got != want)
					fail_msg("len %zu off %zu: got %04x want %04x", len, off, got, want);
			}
		}
	}
}

/* Exact-size heap buffers: the tail load must not read past an odd length. */
static void test_exact_heap_tails(void **state)
{
	(void)state;
	uint8_t src[97];
	for (size_t i = 0; i < sizeof(src); i++)
		src[i] = (uint8_t)rnd();
	for (size_t n = 0; n <= sizeof(src); n++) {
		uint8_t *p = dup_exact(src, n);
		assert_int_equal(ip_compute_csum(p, n), (uint16_t)~ref_sum(src, n, 0));
		free(p);
	}
}

static void test_large_all_ones(void **state)
{
	(void)state;
	size_t n = 65536 + 3;
	uint8_t *p = malloc(n);
	assert_non_null(p);
	memset(p, 0xff, n);
	assert_int_equal(ip_compute_csum(p, n), (uint16_t)~ref_sum(p, n, 0));
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)rnd();
	assert_int_equal(ip_compute_csum(p, n), (uint16_t)~ref_sum(p, n, 0));
	assert_int_equal(ip_compute_csum(p + 1, n - 1), (uint16_t)~ref_sum(p + 1, n - 1, 0));
	free(p);
}

/* Even-length pieces chain into the sum of the whole. */
static void test_chaining(void **state)
{
	(void)state;
	uint8_t b[200];
	for (size_t i = 0; i < sizeof(b); i++)
		b[i] = (uint8_t)rnd();
	for (size_t k = 0; k <= 199; k += 2) {
		uint32_t s = csum_partial(b, k, 0);
		s = csum_partial(b + k, 199 - k, s);
		assert_int_equal(csum_fold(s), ip_compute_csum(b, 199));
	}
}

static void test_pseudo_header(void **state)
{
	(void)state;
	for (int i = 0; i < 1000; i++) {
		uint32_t sa = rnd(), da = rnd(), init = i & 1 ? rnd() : 0;
		uint16_t len = (uint16_t)rnd();
		uint8_t proto = (uint8_t)rnd();
		uint8_t ph[12] = { (uint8_t)(sa >> 24), (uint8_t)(sa >> 16), (uint8_t)(sa >> 8), (uint8_t)sa,
				   (uint8_t)(da >> 24), (uint8_t)(da >> 16), (uint8_t)(da >> 8), (uint8_t)da,
				   0, proto, (uint8_t)(len >> 8), (uint8_t)len };
		uint16_t want = (uint16_t)~ref_sum(ph, sizeof(ph), init);
		assert_int_equal(csum_fold(csum_tcpudp_nofold(sa, da, len, proto, init)), want);
	}
}

/* RFC 1624 3: HC 0xDD2F, m 0x5555 -> m' 0x3285 must give 0x0000, not 0xFFFF. */
static void test_rfc1624_example(void **state)
{
	(void)state;
	assert_int_equal(csum_replace2(0xdd2f, 0x5555, 0x3285), 0x0000);
}

/* RFC 1624: the incremental update equals a full recompute for random headers and fields. */
static void test_incremental_random(void **state)
{
	(void)state;
	for (int i = 0; i < 20000; i++) {
		uint8_t h[20];
		for (size_t j = 0; j < sizeof(h); j++)
			h[j] = (uint8_t)rnd();
		h[0] = 0x45;
		h[10] = h[11] = 0;
		be16_put(h + 10, ip_compute_csum(h, sizeof(h)));
		for (int k = 0; k < 4; k++) {
			size_t w = (rnd() % 9) * 2;
			if (w >= 10)
				w += 2; /* skip the checksum word itself */
			uint16_t old = be16_get(h + w), nw = (uint16_t)rnd();
			uint16_t inc = csum_replace2(be16_get(h + 10), old, nw);
			be16_put(h + w, nw);
			be16_put(h + 10, 0);
			uint16_t full = ip_compute_csum(h, sizeof(h));
			assert_int_equal(inc, full);
			be16_put(h + 10, inc);
			assert_int_equal(ip_compute_csum(h, sizeof(h)), 0);
		}
	}
}

/* The TTL decrement of ip_forward, the common case of an incremental update. */
static void test_incremental_ttl(void **state)
{
	(void)state;
	uint8_t h[] = { 0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
			0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7 };
	while (h[8] > 0) {
		uint16_t old = be16_get(h + 8);
		h[8]--;
		be16_put(h + 10, csum_replace2(be16_get(h + 10), old, be16_get(h + 8)));
		assert_int_equal(ip_compute_csum(h, sizeof(h)), 0);
	}
}

static void test_strerror(void **state)
{
	(void)state;
	for (int e = WIRE_OK; e <= WIRE_EFIELD; e++) {
		const char *s = wire_strerror(-e);
		assert_non_null(s);
		assert_string_equal(s, wire_strerror(e));
		assert_string_not_equal(s, wire_strerror(99));
		for (int f = WIRE_OK; f < e; f++)
			assert_string_not_equal(s, wire_strerror(f));
	}
	assert_non_null(wire_strerror(-1000));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc1071_example),
		cmocka_unit_test(test_captured_ipv4_header),
		cmocka_unit_test(test_small_and_odd),
		cmocka_unit_test(test_fold),
		cmocka_unit_test(test_random_vs_reference),
		cmocka_unit_test(test_exact_heap_tails),
		cmocka_unit_test(test_large_all_ones),
		cmocka_unit_test(test_chaining),
		cmocka_unit_test(test_pseudo_header),
		cmocka_unit_test(test_rfc1624_example),
		cmocka_unit_test(test_incremental_random),
		cmocka_unit_test(test_incremental_ttl),
		cmocka_unit_test(test_strerror),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
