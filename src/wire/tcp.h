/*
 * TCP header and options (RFC 9293 3.1, RFC 7323, RFC 2018).
 * Place in the packet path: tcp_v4_rcv (parse) and tcp_transmit_skb (emit).
 * The option parser never loops on a zero length and never reads past the header.
 */
#ifndef NP_WIRE_TCP_H
#define NP_WIRE_TCP_H

#include "wire.h"

#define TCP_HLEN_MIN 20
#define TCP_HLEN_MAX 60

#define TCPF_FIN 0x01
#define TCPF_SYN 0x02
#define TCPF_RST 0x04
#define TCPF_PSH 0x08
#define TCPF_ACK 0x10
#define TCPF_URG 0x20
#define TCPF_ECE 0x40
#define TCPF_CWR 0x80

#define TCPOPT_EOL 0
#define TCPOPT_NOP 1
#define TCPOPT_MSS 2
#define TCPOPT_WINDOW 3
#define TCPOPT_SACK_PERM 4
#define TCPOPT_SACK 5
#define TCPOPT_TIMESTAMP 8

struct tcp_sack_block { uint32_t start, end; };

struct tcp_options {
	uint8_t mss_ok, wscale_ok, sack_ok, ts_ok;
	uint16_t mss;
	uint8_t wscale;          /* as received; caller clamps to 14 (RFC 7323 2.3) */
	uint32_t tsval, tsecr;
	uint8_t num_sacks;       /* 0..4 */
	struct tcp_sack_block sacks[4];
};

struct tcp_repr {
	uint16_t sport, dport;
	uint32_t seq, ack;
	uint8_t doff;            /* header length in bytes */
	uint8_t flags;           /* TCPF_* */
	uint16_t window;
	uint16_t check;
	uint16_t urg_ptr;
	struct tcp_options opt;
	const uint8_t *payload;  /* points into the parsed buffer */
	size_t payload_len;
};

/*
 * -WIRE_ETRUNC if len < 20; -WIRE_EHDRLEN if data offset < 5 or past len;
 * -WIRE_EOPT for an option of length < 2, past the header, or a known option
 * with the wrong length (MSS != 4, WS != 3, SACK-perm != 2, TS != 10,
 * SACK not 2 + 8n). Unknown options are skipped by their length.
 */
int tcp_parse(const uint8_t *buf, size_t len, struct tcp_repr *r);
/* Checksum verifies over len bytes with the pseudo-header. */
int tcp_csum_ok(const uint8_t *buf, size_t len, uint32_t saddr, uint32_t daddr);
/*
 * Bytes the options in opt take when emitted, padded to 4 (Linux's layout);
 * SACK blocks that would push the total past 40 bytes are dropped, as Linux does.
 */
size_t tcp_options_len(const struct tcp_options *opt);
/*
 * Writes header + options for a payload already at buf + header length, with
 * the checksum; returns the header length or 0 if cap is too small (cap must
 * cover header + payload). The length comes from r->opt; r->doff is ignored.
 * Each option whose *_ok flag is set is written, in Linux's order, NOP-padded
 * to 4: mss | sackOK,TS or nop,nop,TS or nop,nop,sackOK | nop,wscale |
 * nop,nop,SACK blocks. A full SYN is "mss, sackOK, TS val ecr, nop, wscale".
 */
size_t tcp_emit(const struct tcp_repr *r, size_t payload_len, uint32_t saddr, uint32_t daddr,
		uint8_t *buf, size_t cap);

#endif
