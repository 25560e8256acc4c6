/*
 * Shared helpers for the TCP scenario tests that join two netpath stacks by
 * the virtual cable (tests/cable_pair.h: public API only, one shared virtual
 * clock): sockets, a bulk-transfer driver, plus a small
 * self-contained SHA-256 (FIPS 180-4) so transfers can be checked end to end
 * without a crypto dependency. Header-only (static functions): CMake builds
 * each tests/scenarios/test_*.c as its own executable.
 *   A (10.0.0.1/24) eth0 <==cable==> eth0 B (10.0.0.2/24)
 */
#ifndef NP_TESTS_TCP_NET_H
#define NP_TESTS_TCP_NET_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "netpath/netpath.h"
#include "netpath/socket.h"

#include "cable_pair.h"   /* struct tnet, tnet_new, tnet_sim: the two stacks on a cable */

static inline void tn_nonblock(int fd) { np_fcntl(fd, F_SETFL, O_NONBLOCK); }

/* A non-blocking listener on ip:port of stack i. */
static inline int tn_listen(struct tnet *n, int i, const char *ip, uint16_t port, int backlog)
{
	int fd = np_socket(n->s[i], AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	int one = 1;
	np_setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in a = tn_addr(ip, port);
	if (np_bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || np_listen(fd, backlog) < 0) {
		np_close(fd);
		return -1;
	}
	tn_nonblock(fd);
	return fd;
}

/* A non-blocking connect from stack i; returns the fd (connect said EINPROGRESS). */
static inline int tn_connect(struct tnet *n, int i, const char *ip, uint16_t port)
{
	int fd = np_socket(n->s[i], AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -1;
	struct sockaddr_in a = tn_addr(ip, port);
	if (np_connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0 || errno != EINPROGRESS) {
		np_close(fd);
		return -1;
	}
	return fd;
}

/* ---- SHA-256 (FIPS 180-4) ---- */

struct tn_sha256 {
	uint32_t h[8];
	uint64_t len;
	uint8_t buf[64];
	size_t n;
};

static const uint32_t tn_sha_k[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
	0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
	0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
	0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
	0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

#define TN_ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static inline void tn_sha256_init(struct tn_sha256 *c)
{
	static const uint32_t iv[8] = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
					0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 };
	memcpy(c->h, iv, sizeof(iv));
	c->len = 0;
	c->n = 0;
}

static inline void tn_sha256_block(struct tn_sha256 *c, const uint8_t *p)
{
	uint32_t w[64];
	for (int i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
	for (int i = 16; i < 64; i++) {
		uint32_t s0 = TN_ROR(w[i - 15], 7) ^ TN_ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
		uint32_t s1 = TN_ROR(w[i - 2], 17) ^ TN_ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
		w[i] = w[i - 16] + s0 + w[i - 7] + s1;
	}
	uint32_t a = c->h[0], b = c->h[1], cc = c->h[2], d = c->h[3], e = c->h[4], f = c->h[5], g = c->h[6], h = c->h[7];
	for (int i = 0; i < 64; i++) {
		uint32_t t1 = h + (TN_ROR(e, 6) ^ TN_ROR(e, 11) ^ TN_ROR(e, 25)) + ((e & f) ^ (~e & g)) + tn_sha_k[i] + w[i];
		uint32_t t2 = (TN_ROR(a, 2) ^ TN_ROR(a, 13) ^ TN_ROR(a, 22)) + ((a & b) ^ (a & cc) ^ (b & cc));
		h = g; g = f; f = e; e = d + t1; d = cc; cc = b; b = a; a = t1 + t2;
	}
	c->h[0] += a; c->h[1] += b; c->h[2] += cc; c->h[3] += d;
	c->h[4] += e; c->h[5] += f; c->h[6] += g; c->h[7] += h;
}

static inline void tn_sha256_update(struct tn_sha256 *c, const void *data, size_t len)
{
	const uint8_t *p = data;
	c->len += len;
	while (len) {
		size_t k = 64 - c->n < len ? 64 - c->n : len;
		memcpy(c->buf + c->n, p, k);
		c->n += k;
		p += k;
		len -= k;
		if (c->n == 64) {
			tn_sha256_block(c, c->buf);
			c->n = 0;
		}
	}
}

static inline void tn_sha256_final(struct tn_sha256 *c, uint8_t out[32])
{
	uint64_t bits = c->len * 8;
	uint8_t pad = 0x80;
	tn_sha256_update(c, &pad, 1);
	uint8_t z = 0;
	while (c->n != 56)
		tn_sha256_update(c, &z, 1);
	uint8_t l[8];
	for (int i = 0; i < 8; i++)
		l[i] = (uint8_t)(bits >> (56 - 8 * i));
	tn_sha256_update(c, l, 8);
	for (int i = 0; i < 8; i++) {
		out[4 * i] = (uint8_t)(c->h[i] >> 24);
		out[4 * i + 1] = (uint8_t)(c->h[i] >> 16);
		out[4 * i + 2] = (uint8_t)(c->h[i] >> 8);
		out[4 * i + 3] = (uint8_t)c->h[i];
	}
}

/* A reproducible byte stream (xorshift64*) for transfers. */
struct tn_gen {
	uint64_t x;
};

static inline void tn_gen_fill(struct tn_gen *g, uint8_t *buf, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if ((i & 7) == 0) {
			g->x ^= g->x >> 12;
			g->x ^= g->x << 25;
			g->x ^= g->x >> 27;
		}
		buf[i] = (uint8_t)((g->x * 0x2545F4914F6CDD1Dull) >> (8 * (i & 7)));
	}
}

/*
 * One end of a two-way bulk transfer: sends to_send bytes of its generator's
 * stream (chunk bytes per send, 0: the whole pend buffer), then shuts down
 * its write side, and reads until EOF; both directions are hashed. The
 * caller alternates tn_pump on both ends with tnet_sim until both see EOF;
 * err holds the first errno other than EAGAIN.
 */
struct tn_side {
	int fd;
	struct tn_sha256 tx, rx;
	uint64_t to_send, sent, rcvd;
	struct tn_gen g;
	size_t chunk;
	uint8_t pend[65536];
	size_t pend_len, pend_off;
	int shut_wr, eof, err;
};

/* Sends and receives what it can without blocking; returns bytes moved. */
static inline uint64_t tn_pump(struct tn_side *x)
{
	static uint8_t buf[65536];
	size_t chunk = x->chunk && x->chunk < sizeof(x->pend) ? x->chunk : sizeof(x->pend);
	uint64_t moved = 0;
	while (!x->shut_wr && x->sent < x->to_send) {
		if (x->pend_off == x->pend_len) {
			uint64_t left = x->to_send - x->sent;
			x->pend_len = left < chunk ? (size_t)left : chunk;
			x->pend_off = 0;
			tn_gen_fill(&x->g, x->pend, x->pend_len);
		}
		ssize_t r = np_send(x->fd, x->pend + x->pend_off, x->pend_len - x->pend_off, MSG_DONTWAIT);
		if (r < 0) {
			if (errno != EAGAIN)
				x->err = errno;
			break;
		}
		tn_sha256_update(&x->tx, x->pend + x->pend_off, (size_t)r);
		x->pend_off += (size_t)r;
		x->sent += (uint64_t)r;
		moved += (uint64_t)r;
	}
	if (!x->shut_wr && x->sent == x->to_send) {
		if (np_shutdown(x->fd, SHUT_WR) != 0)
			x->err = errno;
		x->shut_wr = 1;
	}
	while (!x->eof) {
		ssize_t r = np_recv(x->fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (r > 0) {
			tn_sha256_update(&x->rx, buf, (size_t)r);
			x->rcvd += (uint64_t)r;
			moved += (uint64_t)r;
		} else if (r == 0) {
			x->eof = 1;
		} else {
			if (errno != EAGAIN)
				x->err = errno;
			break;
		}
	}
	return moved;
}

/*
 * Accepts one connection on non-blocking listener lfd, running the stacks
 * for up to a minute of virtual time (under loss the SYN or SYN-ACK may need
 * retransmitting). The accepted socket is made non-blocking. -1 with errno:
 * none came (ETIMEDOUT), or np_accept failed otherwise.
 */
static inline int tn_accept_wait(struct tnet *n, int lfd)
{
	uint64_t until = n->now + 60000 * TN_MS;
	while (n->now < until) {
		int fd = np_accept(lfd, NULL, NULL);
		if (fd >= 0) {
			tn_nonblock(fd);
			return fd;
		}
		if (errno != EAGAIN)
			return -1;
		tnet_sim_next(n, 1);
	}
	errno = ETIMEDOUT;
	return -1;
}

/* What tn_transfer saw: x[0] is end a, x[1] end b (their counts and errors). */
struct tn_xfer {
	uint64_t ms;                 /* virtual time taken */
	int stalled;                 /* 200,000 idle steps in a row without progress */
	int sha_ab, sha_ba;          /* 1: what arrived hashes as what was sent */
	struct tn_side x[2];
};

/*
 * bytes each way at once between connected non-blocking sockets a and b
 * (the data from seed, chunk bytes per send, 0: 64 KiB), driving the two
 * stacks of n; stops at the first socket error or a stall. Caller frees r.
 */
static inline struct tn_xfer *tn_transfer(struct tnet *n, int a, int b, uint64_t bytes, uint64_t seed, size_t chunk)
{
	struct tn_xfer *r = calloc(1, sizeof(*r));
	if (!r)
		abort();
	struct tn_side *x = r->x;
	x[0].fd = a;
	x[1].fd = b;
	for (int i = 0; i < 2; i++) {
		x[i].to_send = bytes;
		x[i].chunk = chunk;
		x[i].g.x = seed * 7919 + (uint64_t)i + 1;
		tn_sha256_init(&x[i].tx);
		tn_sha256_init(&x[i].rx);
	}
	uint64_t t0 = n->now;
	int idle = 0;
	while (!(x[0].eof && x[1].eof) && !x[0].err && !x[1].err) {
		if (tn_pump(&x[0]) + tn_pump(&x[1])) {
			idle = 0;
			tnet_sim_us(n, 100);
		} else {
			tnet_sim_next(n, 1000);
			if (++idle > 200000) {
				r->stalled = 1;
				break;
			}
		}
	}
	uint8_t h[4][32];
	tn_sha256_final(&x[0].tx, h[0]);
	tn_sha256_final(&x[1].rx, h[1]);
	tn_sha256_final(&x[1].tx, h[2]);
	tn_sha256_final(&x[0].rx, h[3]);
	r->sha_ab = x[1].rcvd == bytes && !memcmp(h[0], h[1], 32);
	r->sha_ba = x[0].rcvd == bytes && !memcmp(h[2], h[3], 32);
	r->ms = (n->now - t0) / TN_MS;
	return r;
}

#ifdef assert_true
/* For cmocka tests (cmocka.h included first): a transfer of bytes each way arrived whole and intact. */
static inline uint64_t tn_transfer_ok(struct tnet *n, int a, int b, uint64_t bytes, uint64_t seed, size_t chunk)
{
	struct tn_xfer *r = tn_transfer(n, a, b, bytes, seed, chunk);
	if (r->x[0].err || r->x[1].err)
		fail_msg("connection failed: %s / %s (sent %llu/%llu, rcvd %llu/%llu)", strerror(r->x[0].err),
			 strerror(r->x[1].err), (unsigned long long)r->x[0].sent, (unsigned long long)r->x[1].sent,
			 (unsigned long long)r->x[0].rcvd, (unsigned long long)r->x[1].rcvd);
	if (r->stalled)
		fail_msg("transfer stalled");
	assert_int_equal(r->x[1].rcvd, bytes);
	assert_int_equal(r->x[0].rcvd, bytes);
	assert_true(r->sha_ab);
	assert_true(r->sha_ba);
	uint64_t ms = r->ms;
	free(r);
	return ms;
}

/* For cmocka tests: tn_accept_wait that must succeed. */
static inline int tn_accept_ok(struct tnet *n, int lfd)
{
	int fd = tn_accept_wait(n, lfd);
	if (fd < 0)
		fail_msg("no connection to accept: %s", strerror(errno));
	return fd;
}

/*
 * For cmocka tests: the same fault spec on both ends' transmit side (NULL:
 * none), each injector seeded seed * 10 + end so the directions differ.
 */
static inline void tn_faults_ok(struct tnet *n, const char *faults, uint64_t seed)
{
	for (int i = 0; i < 2 && faults; i++) {
		char spec[160];
		snprintf(spec, sizeof(spec), "%s,seed=%llu", faults, (unsigned long long)(seed * 10 + (uint64_t)i));
		const char *errpos = NULL;
		assert_int_equal(np_dev_set_faults(n->d[i], NP_TX, spec, &errpos), 0);
	}
}

/* For cmocka tests: A connects to B's port; *c the client, *s the accepted end; returns the listener. */
static inline int tn_pair_ok(struct tnet *n, uint16_t port, int *c, int *s)
{
	int lfd = tn_listen(n, 1, TN_B_IP, port, 8);
	*c = tn_connect(n, 0, TN_B_IP, port);
	assert_true(lfd >= 0 && *c >= 0);
	*s = tn_accept_ok(n, lfd);
	return lfd;
}

/* Undoes tn_pair_ok: both ends closed, 100 ms for their FINs, the listener closed, the pair freed. */
static inline void tn_pair_free(struct tnet *n, int lfd, int c, int s)
{
	np_close(c);
	np_close(s);
	tnet_sim(n, 100);
	np_close(lfd);
	tnet_free(n);
}
#endif

#endif
