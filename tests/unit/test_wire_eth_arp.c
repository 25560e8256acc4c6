/*
 * Unit tests for Ethernet, 802.1Q and ARP (RFC 826) in src/wire/eth.c and src/wire/arp.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "wire/arp.h"
#include "wire/eth.h"

static uint8_t *dup_exact(const uint8_t *src, size_t n)
{
	uint8_t *p = malloc(n);
	assert_non_null(p);
	if (n)
		memcpy(p, src, n);
	return p;
}

/* A broadcast ARP request frame: who-has 192.168.1.1 tell 192.168.1.100. */
static const uint8_t arp_frame[] = {
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x08, 0x06,
	0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01,
	0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0xc0, 0xa8, 0x01, 0x64,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc0, 0xa8, 0x01, 0x01,
};
static const uint8_t mac_a[ETH_ALEN] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

static void test_eth_parse(void **state)
{
	(void)state;
	struct eth_repr r;
	assert_int_equal(eth_parse(arp_frame, sizeof(arp_frame), &r), 0);
	assert_true(eth_is_broadcast(r.dst));
	assert_true(eth_is_multicast(r.dst));
	assert_memory_equal(r.src, mac_a, ETH_ALEN);
	assert_false(eth_is_multicast(r.src));
	assert_false(eth_is_broadcast(r.src));
	assert_int_equal(r.ethertype, ETH_P_ARP);
}

static void test_eth_truncated(void **state)
{
	(void)state;
	struct eth_repr r;
	for (size_t n = 0; n < ETH_HLEN; n++) {
		uint8_t *p = dup_exact(arp_frame, n);
		assert_int_equal(eth_parse(p, n, &r), -WIRE_ETRUNC);
		free(p);
	}
	uint8_t *p = dup_exact(arp_frame, ETH_HLEN);
	assert_int_equal(eth_parse(p, ETH_HLEN, &r), 0);
	free(p);
}

static void test_eth_emit(void **state)
{
	(void)state;
	struct eth_repr r = { .ethertype = ETH_P_IP }, back;
	memcpy(r.dst, mac_a, ETH_ALEN);
	memset(r.src, 0x0a, ETH_ALEN);
	for (size_t cap = 0; cap < ETH_HLEN; cap++) {
		uint8_t *p = malloc(cap ? cap : 1);
		assert_int_equal(eth_emit(&r, p, cap), 0);
		free(p);
	}
	uint8_t *p = malloc(ETH_HLEN);
	assert_int_equal(eth_emit(&r, p, ETH_HLEN), ETH_HLEN);
	assert_int_equal(p[12], 0x08);
	assert_int_equal(p[13], 0x00);
	assert_int_equal(eth_parse(p, ETH_HLEN, &back), 0);
	assert_memory_equal(&back, &r, sizeof(r));
	free(p);
}

static void test_vlan(void **state)
{
	(void)state;
	const uint8_t tag[] = { 0xa0, 0x64, 0x08, 0x00 }; /* pcp 5, dei 0, vid 100, IPv4 */
	struct vlan_repr v;
	for (size_t n = 0; n < VLAN_HLEN; n++) {
		uint8_t *p = dup_exact(tag, n);
		assert_int_equal(vlan_parse(p, n, &v), -WIRE_ETRUNC);
		free(p);
	}
	assert_int_equal(vlan_parse(tag, sizeof(tag), &v), 0);
	assert_int_equal(v.pcp, 5);
	assert_int_equal(v.dei, 0);
	assert_int_equal(v.vid, 100);
	assert_int_equal(v.ethertype, ETH_P_IP);

	uint8_t out[VLAN_HLEN];
	struct vlan_repr w = { .pcp = 7, .dei = 1, .vid = 4095, .ethertype = ETH_P_ARP }, back;
	assert_int_equal(vlan_emit(&w, out, sizeof(out)), VLAN_HLEN);
	assert_int_equal(vlan_parse(out, sizeof(out), &back), 0);
	assert_memory_equal(&back, &w, sizeof(w));
	assert_int_equal(vlan_emit(&w, out, VLAN_HLEN - 1), 0);
	assert_int_equal(vlan_emit(&v, out, sizeof(out)), VLAN_HLEN);
	assert_memory_equal(out, tag, sizeof(tag));
	/* Fields the TCI cannot hold are refused, not truncated. */
	w.vid = 4096;
	assert_int_equal(vlan_emit(&w, out, sizeof(out)), 0);
	w.vid = 1;
	w.pcp = 8;
	assert_int_equal(vlan_emit(&w, out, sizeof(out)), 0);
	w.pcp = 0;
	w.dei = 2;
	assert_int_equal(vlan_emit(&w, out, sizeof(out)), 0);
}

static void test_eth_predicates(void **state)
{
	(void)state;
	const uint8_t zero[ETH_ALEN] = { 0 };
	const uint8_t mcast[ETH_ALEN] = { 0x01, 0x00, 0x5e, 0x00, 0x00, 0x01 };
	const uint8_t almost[ETH_ALEN] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe };
	assert_true(eth_is_zero(zero));
	assert_false(eth_is_zero(mac_a));
	assert_true(eth_is_multicast(mcast));
	assert_false(eth_is_broadcast(mcast));
	assert_false(eth_is_broadcast(almost));
}

static void test_eth_ntoa_aton(void **state)
{
	(void)state;
	char buf[18];
	uint8_t a[ETH_ALEN];
	assert_string_equal(eth_ntoa(mac_a, buf), "52:54:00:12:34:56");
	assert_int_equal(eth_aton("52:54:00:12:34:56", a), 0);
	assert_memory_equal(a, mac_a, ETH_ALEN);
	assert_int_equal(eth_aton("FF:ff:Ff:0:1:a", a), 0);
	const uint8_t want[ETH_ALEN] = { 0xff, 0xff, 0xff, 0x00, 0x01, 0x0a };
	assert_memory_equal(a, want, ETH_ALEN);

	const char *bad[] = {
		"", "52:54:00:12:34", "52:54:00:12:34:56:78", "52:54:00:12:34:5g",
		"525:4:00:12:34:56", "52-54-00-12-34-56", "52:54:00:12:34:56 ", " 52:54:00:12:34:56",
		"52:54:00:12:34:", "52:54::12:34:56", ":52:54:00:12:34", "0x52:54:00:12:34:56",
	};
	memcpy(a, mac_a, ETH_ALEN);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (eth_aton(bad[i], a) != -WIRE_EFIELD)
			fail_msg("accepted \"%s\"", bad[i]);
		assert_memory_equal(a, mac_a, ETH_ALEN); /* untouched on failure */
	}
}

static void test_arp_parse(void **state)
{
	(void)state;
	struct arp_repr r;
	const uint8_t *a = arp_frame + ETH_HLEN;
	assert_int_equal(arp_parse(a, ARP_HLEN, &r), 0);
	assert_int_equal(r.op, ARPOP_REQUEST);
	assert_memory_equal(r.sha, mac_a, ETH_ALEN);
	assert_int_equal(r.sip, 0xc0a80164);
	assert_true(eth_is_zero(r.tha));
	assert_int_equal(r.tip, 0xc0a80101);

	/* Ethernet pads ARP to 46 bytes; the trailer is ignored. */
	uint8_t padded[46] = { 0 };
	memcpy(padded, a, ARP_HLEN);
	assert_int_equal(arp_parse(padded, sizeof(padded), &r), 0);
}

static void test_arp_truncated(void **state)
{
	(void)state;
	struct arp_repr r;
	for (size_t n = 0; n < ARP_HLEN; n++) {
		uint8_t *p = dup_exact(arp_frame + ETH_HLEN, n);
		assert_int_equal(arp_parse(p, n, &r), -WIRE_ETRUNC);
		free(p);
	}
	uint8_t *p = dup_exact(arp_frame + ETH_HLEN, ARP_HLEN);
	assert_int_equal(arp_parse(p, ARP_HLEN, &r), 0);
	free(p);
}

/* RFC 826 "Packet Reception": hardware type, protocol type, lengths and opcode must be ours. */
static void test_arp_fields(void **state)
{
	(void)state;
	static const struct { size_t off; uint8_t val; } bad[] = {
		{ 1, 6 },      /* hardware type IEEE 802 */
		{ 0, 1 },      /* hardware type 0x0101 */
		{ 2, 0x86 },   /* protocol 0x8600 */
		{ 3, 0x06 },   /* protocol 0x0806 */
		{ 4, 8 },      /* hardware length 8 */
		{ 4, 0 },
		{ 5, 16 },     /* protocol length 16 */
		{ 5, 0 },
		{ 7, 0 },      /* opcode 0 */
		{ 7, 3 },      /* opcode 3 (RARP request) */
		{ 6, 1 },      /* opcode 0x0101 */
	};
	struct arp_repr r;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint8_t p[ARP_HLEN];
		memcpy(p, arp_frame + ETH_HLEN, ARP_HLEN);
		p[bad[i].off] = bad[i].val;
		if (arp_parse(p, sizeof(p), &r) != -WIRE_EFIELD)
			fail_msg("case %zu accepted", i);
	}
	uint8_t p[ARP_HLEN];
	memcpy(p, arp_frame + ETH_HLEN, ARP_HLEN);
	p[7] = ARPOP_REPLY;
	assert_int_equal(arp_parse(p, sizeof(p), &r), 0);
	assert_int_equal(r.op, ARPOP_REPLY);
}

static void test_arp_emit(void **state)
{
	(void)state;
	struct arp_repr r = { .op = ARPOP_REQUEST, .sip = 0xc0a80164, .tip = 0xc0a80101 }, back;
	memcpy(r.sha, mac_a, ETH_ALEN);
	uint8_t *p = malloc(ARP_HLEN);
	assert_int_equal(arp_emit(&r, p, ARP_HLEN - 1), 0);
	assert_int_equal(arp_emit(&r, p, ARP_HLEN), ARP_HLEN);
	assert_memory_equal(p, arp_frame + ETH_HLEN, ARP_HLEN);
	assert_int_equal(arp_parse(p, ARP_HLEN, &back), 0);
	free(p);
	assert_int_equal(back.op, r.op);
	assert_memory_equal(back.sha, r.sha, ETH_ALEN);
	assert_int_equal(back.sip, r.sip);
	assert_memory_equal(back.tha, r.tha, ETH_ALEN);
	assert_int_equal(back.tip, r.tip);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_eth_parse),
		cmocka_unit_test(test_eth_truncated),
		cmocka_unit_test(test_eth_emit),
		cmocka_unit_test(test_vlan),
		cmocka_unit_test(test_eth_predicates),
		cmocka_unit_test(test_eth_ntoa_aton),
		cmocka_unit_test(test_arp_parse),
		cmocka_unit_test(test_arp_truncated),
		cmocka_unit_test(test_arp_fields),
		cmocka_unit_test(test_arp_emit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
