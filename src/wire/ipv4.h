/*
 * IPv4 header (RFC 791) with the receive checks of RFC 1122 3.2.1.
 * Place in the packet path: ip_rcv (parse, verify) and ip_queue_xmit /
 * ip_build_and_send_pkt (emit), ip_fragment (options copy).
 */
#ifndef NP_WIRE_IPV4_H
#define NP_WIRE_IPV4_H

#include "wire.h"

#define IPV4_HLEN_MIN 20
#define IPV4_HLEN_MAX 60
#define IP_DF 0x4000
#define IP_MF 0x2000
#define IP_OFFSET 0x1FFF

#define IPPROTO_ICMP_ 1
#define IPPROTO_TCP_ 6
#define IPPROTO_UDP_ 17

struct ipv4_repr {
	uint8_t ihl;            /* header length in bytes (20..60) */
	uint8_t tos;
	uint16_t tot_len;       /* total length field */
	uint16_t id;
	uint16_t frag_off;      /* raw field: flags + offset in 8-byte units */
	uint8_t ttl;
	uint8_t protocol;
	uint16_t check;         /* as found on the wire */
	uint32_t saddr;         /* host order */
	uint32_t daddr;         /* host order */
	const uint8_t *options; /* points into the parsed buffer; NULL if none */
	uint8_t options_len;
};

/*
 * Structural checks in RFC 1122 order: -WIRE_ETRUNC (len < 20),
 * -WIRE_EVERSION, -WIRE_EHDRLEN (IHL < 5 or IHL*4 > len),
 * -WIRE_ETOTLEN (tot_len < IHL*4 or tot_len > len). The checksum and the
 * options are not checked here: call ipv4_csum_ok and ipv4_options_check so
 * the caller can count each failure separately.
 */
int ipv4_parse(const uint8_t *buf, size_t len, struct ipv4_repr *r);
/* True if the header checksum over ihl bytes verifies. */
int ipv4_csum_ok(const uint8_t *buf, size_t ihl);
/*
 * Writes a header of 20 + options_len bytes (options_len a multiple of 4,
 * at most 40; r->ihl is ignored) with a correct checksum; returns the header
 * length, or 0 if cap is too small or the options are invalid.
 */
size_t ipv4_emit(const struct ipv4_repr *r, uint8_t *buf, size_t cap);
/* Walks the options: -WIRE_EOPT on a length < 2 or past the header. */
int ipv4_options_check(const uint8_t *opt, size_t len);

static inline int ipv4_is_multicast(uint32_t a) { return (a & 0xf0000000u) == 0xe0000000u; }
static inline int ipv4_is_lbcast(uint32_t a) { return a == 0xffffffffu; }
static inline int ipv4_is_zeronet(uint32_t a) { return (a & 0xff000000u) == 0; }
static inline int ipv4_is_loopback(uint32_t a) { return (a & 0xff000000u) == 0x7f000000u; }
static inline int ipv4_is_class_e(uint32_t a) { return (a & 0xf0000000u) == 0xf0000000u && a != 0xffffffffu; }

/* Formats dotted quad into out (at least 16 bytes). */
char *ipv4_ntoa(uint32_t a, char *out);
/* Parses a dotted quad (four decimal bytes, no leading zeros); returns 0 or -WIRE_EFIELD. */
int ipv4_aton(const char *s, uint32_t *a);
/* Parses "A.B.C.D/N" (N 0..32; "/N" optional means 32); returns 0 or -WIRE_EFIELD. */
int ipv4_prefix_parse(const char *s, uint32_t *addr, int *plen);
static inline uint32_t ipv4_plen_mask(int plen) { return plen <= 0 ? 0 : (uint32_t)(0xffffffffu << (32 - plen)); }

#endif
