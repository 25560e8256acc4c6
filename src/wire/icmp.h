/*
 * ICMPv4 (RFC 792).
 * Place in the packet path: ip_local_deliver -> icmp_rcv (parse, verify) and
 * icmp_reply / icmp_send (emit).
 */
#ifndef NP_WIRE_ICMP_H
#define NP_WIRE_ICMP_H

#include "wire.h"

#define ICMP_HLEN 8
#define ICMP_ECHOREPLY 0
#define ICMP_DEST_UNREACH 3
#define ICMP_SOURCE_QUENCH 4
#define ICMP_REDIRECT 5
#define ICMP_ECHO 8
#define ICMP_TIME_EXCEEDED 11
#define ICMP_PARAMETERPROB 12
#define ICMP_TIMESTAMP 13
#define ICMP_TIMESTAMPREPLY 14

#define ICMP_NET_UNREACH 0
#define ICMP_HOST_UNREACH 1
#define ICMP_PROT_UNREACH 2
#define ICMP_PORT_UNREACH 3
#define ICMP_FRAG_NEEDED 4
#define ICMP_EXC_TTL 0
#define ICMP_EXC_FRAGTIME 1

struct icmp_repr {
	uint8_t type;
	uint8_t code;
	uint16_t check;
	uint32_t rest;          /* echo: id << 16 | seq; frag needed: next-hop MTU in low 16 bits */
	const uint8_t *payload; /* points into the parsed buffer */
	size_t payload_len;
};

/* -WIRE_ETRUNC if len < 8; -WIRE_ECSUM if the checksum over len bytes fails. */
int icmp_parse(const uint8_t *buf, size_t len, struct icmp_repr *r);
/*
 * Writes the 8-byte header followed by r->payload (copied unless it already
 * sits at buf + 8) and the checksum; returns 8 + payload_len or 0 if cap is too small.
 */
size_t icmp_emit(const struct icmp_repr *r, uint8_t *buf, size_t cap);
/* True for the error types (unreachable, quench, redirect, time exceeded, parameter problem). */
int icmp_is_error(uint8_t type);

#endif
