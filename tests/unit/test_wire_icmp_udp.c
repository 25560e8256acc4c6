/*
 * Unit tests for ICMPv4 (RFC 792) and UDP (RFC 768) in src/wire/icmp.c and src/wire/udp.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "wire/checksum.h"
#include "wire/icmp.h"
#include "wire/ipv4.h"
#include "wire/udp.h"

static uint32_t rng_state = 0xdeadbeefu;

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

/* Byte-wise RFC 1071 checksum over a pseudo-header and a segment, the slow obvious way. */
static uint16_t ref_l4_csum(uint32_t sa, uint32_t da, uint8_t proto, const uint8_t *p, size_t len)
{
	uint64_t s = (sa >> 16) + (sa & 0xffff) + (da >> 16) + (da & 0xffff) + proto + len;
	for (size_t i = 0; i < len; i++)
		s += (i & 1) ? p[i] : (uint32_t)p[i] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

/* Echo request with id 0, seq 0 and no data: the checksum is ~0x0800 = 0xf7ff. */
static void test_icmp_known_vector(void **state)
{
	(void)state;
	uint8_t m[8] = { 8, 0, 0xf7, 0xff, 0, 0, 0, 0 };
	struct icmp_repr r;
	assert_int_equal(icmp_parse(m, sizeof(m), &r), 0);
	assert_int_equal(r.type, ICMP_ECHO);
	assert_int_equal(r.check, 0xf7ff);
	assert_int_equal(r.payload_len, 0);

	struct icmp_repr e = { .type = ICMP_ECHO };
	uint8_t out[8];
	assert_int_equal(icmp_emit(&e, out, sizeof(out)), 8);
	assert_memory_equal(out, m, sizeof(m));
}

/* A ping as Linux sends it: id 0x1c46, seq 1, 56 bytes of data. */
static void make_ping(uint8_t p[64])
{
	p[0] = ICMP_ECHO;
	p[1] = 0;
	be16_put(p + 2, 0);
	be16_put(p + 4, 0x1c46);
	be16_put(p + 6, 1);
	for (int i = 0; i < 56; i++)
		p[8 + i] = (uint8_t)(0x10 + i);
	be16_put(p + 2, ip_compute_csum(p, 64));
}

static void test_icmp_truncated(void **state)
{
	(void)state;
	uint8_t ping[64];
	make_ping(ping);
	struct icmp_repr r;
	for (size_t n = 0; n < ICMP_HLEN; n++) {
		uint8_t *p = dup_exact(ping, n);
		assert_int_equal(icmp_parse(p, n, &r), -WIRE_ETRUNC);
		free(p);
	}
	/* Cut inside the data, the checksum over what is there no longer verifies. */
	for (size_t n = ICMP_HLEN; n < sizeof(ping); n++) {
		uint8_t *p = dup_exact(ping, n);
		assert_int_equal(icmp_parse(p, n, &r), -WIRE_ECSUM);
		free(p);
	}
	uint8_t *p = dup_exact(ping, sizeof(ping));
	assert_int_equal(icmp_parse(p, sizeof(ping), &r), 0);
	assert_int_equal(r.rest, 0x1c460001);
	assert_ptr_equal(r.payload, p + 8);
	assert_int_equal(r.payload_len, 56);
	free(p);
}

static void test_icmp_bad_checksum(void **state)
{
	(void)state;
	uint8_t ping[64];
	struct icmp_repr r;
	for (size_t i = 0; i < sizeof(ping); i++) {
		make_ping(ping);
		ping[i] ^= 0x20;
		assert_int_equal(icmp_parse(ping, sizeof(ping), &r), -WIRE_ECSUM);
	}
}

static void test_icmp_roundtrip(void **state)
{
	(void)state;
	for (size_t plen = 0; plen < 80; plen++) {
		uint8_t data[80];
		for (size_t i = 0; i < plen; i++)
			data[i] = (uint8_t)rnd();
		struct icmp_repr e = {
			.type = ICMP_DEST_UNREACH, .code = ICMP_FRAG_NEEDED, .rest = 1400,
			.payload = data, .payload_len = plen,
		}, b;
		uint8_t *p = malloc(8 + plen);
		assert_int_equal(icmp_emit(&e, p, 8 + plen), 8 + plen);
		assert_int_equal(icmp_parse(p, 8 + plen, &b), 0);
		assert_int_equal(b.type, e.type);
		assert_int_equal(b.code, e.code);
		assert_int_equal(b.rest, 1400);
		assert_int_equal(b.payload_len, plen);
		if (plen)
			assert_memory_equal(b.payload, data, plen);
		/* Echo reply reusing the request in place: the payload is already at buf + 8. */
		struct icmp_repr reply = { .type = ICMP_ECHOREPLY, .rest = b.rest,
					   .payload = p + 8, .payload_len = plen };
		assert_int_equal(icmp_emit(&reply, p, 8 + plen), 8 + plen);
		assert_int_equal(icmp_parse(p, 8 + plen, &b), 0);
		assert_int_equal(b.type, ICMP_ECHOREPLY);
		if (plen)
			assert_memory_equal(b.payload, data, plen);
		/* One byte short of room: nothing is written. */
		assert_int_equal(icmp_emit(&e, p, 7 + plen), 0);
		free(p);
	}
}

static void test_icmp_is_error(void **state)
{
	(void)state;
	for (unsigned t = 0; t < 256; t++) {
		int want = t == ICMP_DEST_UNREACH || t == ICMP_SOURCE_QUENCH || t == ICMP_REDIRECT ||
			   t == ICMP_TIME_EXCEEDED || t == ICMP_PARAMETERPROB;
		assert_int_equal(!!icmp_is_error((uint8_t)t), want);
	}
}

/* DNS query 10.0.0.1:53000 -> 10.0.0.2:53 with 12 bytes of data. */
static const uint32_t SA = 0x0a000001, DA = 0x0a000002;

static size_t make_udp(uint8_t *p, size_t plen)
{
	for (size_t i = 0; i < plen; i++)
		p[8 + i] = (uint8_t)(i * 7 + 1);
	return udp_emit(53000, 53, plen, SA, DA, p, 8 + plen);
}

static void test_udp_parse_emit(void **state)
{
	(void)state;
	for (size_t plen = 0; plen < 40; plen++) {
		uint8_t *p = malloc(8 + plen);
		assert_int_equal(make_udp(p, plen), 8);
		struct udp_repr r;
		assert_int_equal(udp_parse(p, 8 + plen, &r), 0);
		assert_int_equal(r.sport, 53000);
		assert_int_equal(r.dport, 53);
		assert_int_equal(r.len, 8 + plen);
		assert_int_not_equal(r.check, 0);
		uint16_t ref;
		uint8_t *z = dup_exact(p, 8 + plen);
		be16_put(z + 6, 0);
		ref = ref_l4_csum(SA, DA, IPPROTO_UDP_, z, 8 + plen);
		free(z);
		assert_int_equal(r.check, ref ? ref : 0xffff);
		assert_true(udp_csum_ok(p, &r, SA, DA));
		assert_false(udp_csum_ok(p, &r, SA + 1, DA)); /* wrong pseudo-header */
		p[8 + plen - 1] ^= 0x01;
		assert_false(udp_csum_ok(p, &r, SA, DA));
		free(p);
	}
}

static void test_udp_truncated(void **state)
{
	(void)state;
	uint8_t pkt[20];
	assert_int_equal(make_udp(pkt, 12), 8);
	struct udp_repr r;
	for (size_t n = 0; n < UDP_HLEN; n++) {
		uint8_t *p = dup_exact(pkt, n);
		assert_int_equal(udp_parse(p, n, &r), -WIRE_ETRUNC);
		free(p);
	}
	/* Past the header, a Length of 20 exceeds what is left of the datagram. */
	for (size_t n = UDP_HLEN; n < sizeof(pkt); n++) {
		uint8_t *p = dup_exact(pkt, n);
		assert_int_equal(udp_parse(p, n, &r), -WIRE_ETOTLEN);
		free(p);
	}
}

/* RFC 768: Length is at least 8 and at most the IP payload; shorter than the payload is fine. */
static void test_udp_length_rules(void **state)
{
	(void)state;
	uint8_t pkt[20];
	struct udp_repr r;
	assert_int_equal(make_udp(pkt, 12), 8);
	for (unsigned l = 0; l < 8; l++) {
		be16_put(pkt + 4, (uint16_t)l);
		assert_int_equal(udp_parse(pkt, sizeof(pkt), &r), -WIRE_ETOTLEN);
	}
	be16_put(pkt + 4, 21);
	assert_int_equal(udp_parse(pkt, sizeof(pkt), &r), -WIRE_ETOTLEN);
	be16_put(pkt + 4, 0xffff);
	assert_int_equal(udp_parse(pkt, sizeof(pkt), &r), -WIRE_ETOTLEN);
	be16_put(pkt + 4, 8);
	assert_int_equal(udp_parse(pkt, sizeof(pkt), &r), 0);
	assert_int_equal(r.len, 8);

	/* A datagram of 10 bytes padded to 20: the checksum covers only Length bytes. */
	uint8_t *p = malloc(20);
	assert_int_equal(make_udp(p, 2), 8);
	memset(p + 10, 0xee, 10);
	assert_int_equal(udp_parse(p, 20, &r), 0);
	assert_int_equal(r.len, 10);
	assert_true(udp_csum_ok(p, &r, SA, DA));
	free(p);
}

/* RFC 768: a zero checksum means none was computed; it is accepted whatever the data. */
static void test_udp_zero_checksum(void **state)
{
	(void)state;
	uint8_t pkt[20];
	struct udp_repr r;
	assert_int_equal(make_udp(pkt, 12), 8);
	be16_put(pkt + 6, 0);
	pkt[10] ^= 0xff;
	assert_int_equal(udp_parse(pkt, sizeof(pkt), &r), 0);
	assert_int_equal(r.check, 0);
	assert_true(udp_csum_ok(pkt, &r, SA, DA));
	assert_true(udp_csum_ok(pkt, &r, 1, 2));
}

/* RFC 768: a checksum that computes to zero is sent as all ones, and still verifies. */
static void test_udp_computed_zero_sent_as_ffff(void **state)
{
	(void)state;
	uint8_t pkt[10];
	be16_put(pkt + 8, 0);
	assert_int_equal(udp_emit(1, 2, 2, SA, DA, pkt, sizeof(pkt)), 8);
	uint16_t c = be16_get(pkt + 6);
	/* Adding c as data makes the sum all ones, so the computed checksum is zero. */
	be16_put(pkt + 8, c);
	assert_int_equal(udp_emit(1, 2, 2, SA, DA, pkt, sizeof(pkt)), 8);
	assert_int_equal(be16_get(pkt + 6), 0xffff);
	struct udp_repr r;
	assert_int_equal(udp_parse(pkt, sizeof(pkt), &r), 0);
	assert_true(udp_csum_ok(pkt, &r, SA, DA));
}

static void test_udp_emit_limits(void **state)
{
	(void)state;
	for (size_t cap = 0; cap < 12; cap++) {
		uint8_t *p = malloc(cap ? cap : 1);
		assert_int_equal(udp_emit(1, 2, 4, SA, DA, p, cap), 0);
		free(p);
	}
	uint8_t buf[8];
	/* Length is 16 bits: 65527 bytes of payload is the most. */
	assert_int_equal(udp_emit(1, 2, 65528, SA, DA, buf, (size_t)-1), 0);
	uint8_t *big = calloc(1, 65535);
	assert_non_null(big);
	assert_int_equal(udp_emit(1, 2, 65527, SA, DA, big, 65535), 8);
	assert_int_equal(be16_get(big + 4), 65535);
	struct udp_repr r;
	assert_int_equal(udp_parse(big, 65535, &r), 0);
	assert_true(udp_csum_ok(big, &r, SA, DA));
	free(big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_icmp_known_vector),
		cmocka_unit_test(test_icmp_truncated),
		cmocka_unit_test(test_icmp_bad_checksum),
		cmocka_unit_test(test_icmp_roundtrip),
		cmocka_unit_test(test_icmp_is_error),
		cmocka_unit_test(test_udp_parse_emit),
		cmocka_unit_test(test_udp_truncated),
		cmocka_unit_test(test_udp_length_rules),
		cmocka_unit_test(test_udp_zero_checksum),
		cmocka_unit_test(test_udp_computed_zero_sent_as_ffff),
		cmocka_unit_test(test_udp_emit_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
