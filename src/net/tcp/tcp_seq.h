/*
 * TCP sequence-number arithmetic modulo 2^32 (RFC 9293 3.4; FreeBSD's
 * tcp_seq.h, Linux's before()/after()). Every comparison of sequence or
 * acknowledgment numbers in src/net/tcp/ goes through these, so wrap-around
 * (an ISN of 0xFFFFFFFF) needs no special case anywhere else.
 */
#ifndef NP_NET_TCP_TCP_SEQ_H
#define NP_NET_TCP_TCP_SEQ_H

#include <stdint.h>

/* seq1 is earlier than seq2 (strictly). */
static inline int before(uint32_t seq1, uint32_t seq2) { return (int32_t)(seq1 - seq2) < 0; }
/* seq2 is earlier than seq1 (strictly). */
#define after(seq2, seq1) before(seq1, seq2)
/* seq2 <= seq1 <= seq3 in sequence space (Linux's argument order: the value first, then the bounds). */
static inline int between(uint32_t seq1, uint32_t seq2, uint32_t seq3) { return seq3 - seq2 >= seq1 - seq2; }
static inline uint32_t seq_max(uint32_t a, uint32_t b) { return after(a, b) ? a : b; }
static inline uint32_t seq_min(uint32_t a, uint32_t b) { return before(a, b) ? a : b; }

#endif
