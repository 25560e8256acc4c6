/*
 * Internet checksum (RFC 1071) and its incremental update (RFC 1624).
 * Place in the packet path: ip_rcv, icmp_rcv, udp_rcv and tcp_v4_rcv verify
 * with it; ip_send_check, icmp_reply, udp_send_skb and tcp_transmit_skb fill
 * header checksums with it.
 *
 * Convention: every sum here is the one's-complement sum of the buffer read as
 * big-endian 16-bit words, in host order, so a folded value is stored with
 * be16_put and a field read with be16_get can be fed straight back in.
 */
#include <string.h>

#include "checksum.h"

/* Adds with end-around carry, as one's-complement addition needs (RFC 1071 2(A)). */
static inline uint64_t add64(uint64_t acc, uint64_t w)
{
	acc += w;
	return acc + (acc < w);
}

static inline uint32_t add32(uint32_t acc, uint32_t w)
{
	acc += w;
	return acc + (acc < w);
}

/* Folds 64 bits of one's-complement sum down to 16 without losing carries. */
static inline uint16_t fold64(uint64_t acc)
{
	acc = (acc & 0xffffffffu) + (acc >> 32);
	acc = (acc & 0xffffffffu) + (acc >> 32);
	acc = (acc & 0xffff) + (acc >> 16);
	acc = (acc & 0xffff) + (acc >> 16);
	acc = (acc & 0xffff) + (acc >> 16);
	return (uint16_t)acc;
}

static inline uint64_t load64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, sizeof(v)); /* memcpy: any alignment, no aliasing trouble */
	return v;
}

/*
 * Sums native 64-bit words; the one's-complement sum is independent of byte
 * order (RFC 1071 2(B)), so on a little-endian host the folded result only
 * needs a final byte swap. Odd lengths pad the last byte with zero on the
 * right (RFC 1071 1), which a zero-filled tail word gives for free because
 * words are counted from buf, not from the address.
 */
uint32_t csum_partial(const void *buf, size_t len, uint32_t sum)
{
	const uint8_t *p = buf;
	uint64_t a = 0, b = 0, c = 0, d = 0;

#if defined(__x86_64__) && defined(__GNUC__)
	/*
	 * One add-with-carry chain, 64 bytes per step (as Linux's x86
	 * csum_partial): adcq folds each carry into the next add, so a word
	 * costs one instruction instead of the add + carry-add pair below.
	 */
	while (len >= 64) {
		__asm__("addq 0*8(%[src]),%[res]\n\t"
			"adcq 1*8(%[src]),%[res]\n\t"
			"adcq 2*8(%[src]),%[res]\n\t"
			"adcq 3*8(%[src]),%[res]\n\t"
			"adcq 4*8(%[src]),%[res]\n\t"
			"adcq 5*8(%[src]),%[res]\n\t"
			"adcq 6*8(%[src]),%[res]\n\t"
			"adcq 7*8(%[src]),%[res]\n\t"
			"adcq $0,%[res]"
			: [res] "+r"(a)
			: [src] "r"(p), "m"(*(const uint8_t(*)[64])p)
			: "cc");
		p += 64;
		len -= 64;
	}
	if (len >= 32) {
		__asm__("addq 0*8(%[src]),%[res]\n\t"
			"adcq 1*8(%[src]),%[res]\n\t"
			"adcq 2*8(%[src]),%[res]\n\t"
			"adcq 3*8(%[src]),%[res]\n\t"
			"adcq $0,%[res]"
			: [res] "+r"(b)
			: [src] "r"(p), "m"(*(const uint8_t(*)[32])p)
			: "cc");
		p += 32;
		len -= 32;
	}
#endif
	/* Four independent accumulators keep the adds from serialising. */
	while (len >= 32) {
		a = add64(a, load64(p));
		b = add64(b, load64(p + 8));
		c = add64(c, load64(p + 16));
		d = add64(d, load64(p + 24));
		p += 32;
		len -= 32;
	}
	while (len >= 8) {
		a = add64(a, load64(p));
		p += 8;
		len -= 8;
	}
	if (len) {
		uint8_t tail[8] = { 0 };
		memcpy(tail, p, len);
		b = add64(b, load64(tail));
	}
	a = add64(add64(a, b), add64(c, d));

	uint16_t r = fold64(a);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	r = (uint16_t)((r >> 8) | (r << 8));
#endif
	return add32(sum, r);
}

uint16_t csum_fold(uint32_t sum)
{
	return (uint16_t)~fold64(sum);
}

uint16_t ip_compute_csum(const void *buf, size_t len)
{
	return csum_fold(csum_partial(buf, len, 0));
}

/* The pseudo-header of RFC 768 and RFC 9293 3.1: saddr, daddr, zero, proto, length. */
uint32_t csum_tcpudp_nofold(uint32_t saddr, uint32_t daddr, uint16_t len, uint8_t proto, uint32_t sum)
{
	uint64_t acc = sum;

	acc += saddr >> 16;
	acc += saddr & 0xffff;
	acc += daddr >> 16;
	acc += daddr & 0xffff;
	acc += proto;
	acc += len;
	acc = (acc & 0xffffffffu) + (acc >> 32);
	acc = (acc & 0xffffffffu) + (acc >> 32);
	return (uint32_t)acc;
}

/*
 * RFC 1624 eqn. 3, HC' = ~(~HC + ~m + m'): unlike RFC 1141's HC + m + ~m' it
 * gives 0x0000, not 0xFFFF, where a full recompute does (RFC 1624 3).
 */
uint16_t csum_replace2(uint16_t check, uint16_t old, uint16_t new_)
{
	uint32_t s = (uint32_t)(uint16_t)~check + (uint16_t)~old + new_;
	return csum_fold(s);
}
