/*
 * Wire layer, shared definitions: every parser below returns 0 or a negative
 * wire_err, and reads the buffer only after checking the length once.
 * Place in the packet path: called by the protocol layers (eth, arp, ip, icmp,
 * udp, tcp) on receive to validate headers and on transmit to emit them.
 * Pure code: no state, no allocation, no skb, no logging.
 */
#ifndef NP_WIRE_WIRE_H
#define NP_WIRE_WIRE_H

#include <stddef.h>
#include <stdint.h>

/* Why a parse failed; the caller maps it to a drop reason. */
enum wire_err {
	WIRE_OK = 0,
	WIRE_ETRUNC = 1,      /* buffer shorter than the fixed header */
	WIRE_EVERSION = 2,    /* IP version is not 4 */
	WIRE_EHDRLEN = 3,     /* IHL < 5, data offset < 5, or header past buffer */
	WIRE_ETOTLEN = 4,     /* a length field disagrees with the buffer */
	WIRE_ECSUM = 5,       /* checksum does not verify */
	WIRE_EOPT = 6,        /* malformed option (length 0/1, past header) */
	WIRE_EFIELD = 7,      /* a field holds a value the protocol forbids */
};

/* Big-endian readers and writers; never cast packed structs onto buffers. */
static inline uint16_t be16_get(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }
static inline uint32_t be32_get(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static inline void be16_put(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static inline void be32_put(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

const char *wire_strerror(int err);

#endif
