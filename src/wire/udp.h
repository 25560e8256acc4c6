/*
 * UDP header (RFC 768).
 * Place in the packet path: ip_local_deliver -> udp_rcv (parse) and
 * udp_sendmsg -> udp_send_skb (emit).
 */
#ifndef NP_WIRE_UDP_H
#define NP_WIRE_UDP_H

#include "wire.h"

#define UDP_HLEN 8

struct udp_repr {
	uint16_t sport;
	uint16_t dport;
	uint16_t len;   /* length field */
	uint16_t check; /* as on the wire; 0 = none */
};

/*
 * -WIRE_ETRUNC if len < 8; -WIRE_ETOTLEN if the length field is < 8 or
 * larger than len (the IP payload). A shorter length field is valid: the
 * caller trims to it.
 */
int udp_parse(const uint8_t *buf, size_t len, struct udp_repr *r);
/* True if the checksum (with pseudo-header) over r->len bytes verifies or is 0. */
int udp_csum_ok(const uint8_t *buf, const struct udp_repr *r, uint32_t saddr, uint32_t daddr);
/*
 * Writes the header for a payload already at buf + 8 of payload_len bytes and
 * computes the checksum (0 is sent as 0xFFFF); returns 8 or 0 if cap too small.
 */
size_t udp_emit(uint16_t sport, uint16_t dport, size_t payload_len, uint32_t saddr, uint32_t daddr,
		uint8_t *buf, size_t cap);

#endif
