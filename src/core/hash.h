/*
 * Keyed hashing shared by the protocol tables: SipHash-2-4 under the
 * stack's secret, what Linux uses for ISNs (RFC 6528) and ephemeral port
 * offsets (RFC 6056), where an attacker must not predict the output.
 * Place in the packet path: udp.c (port selection, SO_REUSEPORT) and
 * tcp_ipv4.c (ISNs, ports, lookup buckets).
 */
#ifndef NP_CORE_HASH_H
#define NP_CORE_HASH_H

#include <stdint.h>

struct np_stack;

/* SipHash-2-4 of two 64-bit words keyed with the stack's 128-bit secret. */
uint64_t np_siphash_2u64(const struct np_stack *s, uint64_t a, uint64_t b);

/* Packs an address, a port and a tag (which table) into one hash input word. */
static inline uint64_t hash_addr_port(uint32_t addr, uint16_t port, uint64_t tag)
{
	return addr | (uint64_t)port << 32 | tag << 48;
}

#endif
