/*
 * Internet checksum (RFC 1071) with incremental update (RFC 1624).
 * Place in the packet path: ip_rcv/icmp_rcv/udp_rcv/tcp_v4_rcv verify with it,
 * ip_send and the transports fill header checksums with it.
 */
#ifndef NP_WIRE_CHECKSUM_H
#define NP_WIRE_CHECKSUM_H

#include <stddef.h>
#include <stdint.h>

/*
 * Adds buf to a 32-bit one's-complement accumulator (unfolded), reading it as
 * big-endian 16-bit words; any alignment. When chaining calls, every piece
 * but the last must have an even length.
 */
uint32_t csum_partial(const void *buf, size_t len, uint32_t sum);
/* Folds an accumulator and complements it: the value to store in a header. */
uint16_t csum_fold(uint32_t sum);
/* Checksum of a whole buffer, ready to store (0 when a buffer including its checksum verifies). */
uint16_t ip_compute_csum(const void *buf, size_t len);
/* Unfolded sum of the IPv4 pseudo-header (addresses in host order). */
uint32_t csum_tcpudp_nofold(uint32_t saddr, uint32_t daddr, uint16_t len, uint8_t proto, uint32_t sum);
/* RFC 1624 eqn. 3: new checksum after one 16-bit field changes from old to new. */
uint16_t csum_replace2(uint16_t check, uint16_t old, uint16_t new_);

#endif
