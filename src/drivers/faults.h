/*
 * Fault injection, a layer any device can switch on for receive and transmit
 * separately (the netem this machine's kernel lacks): loss, duplication,
 * reordering, single-bit corruption, delay with jitter, and a rate limit.
 * Seeded and reproducible: the same seed and the same traffic give the same faults.
 *   rx: driver poll -> netif_receive_skb -> faults_apply -> __netif_receive_skb
 *   tx: dev_hard_start_xmit -> taps -> faults_apply -> ndo_start_xmit
 */
#ifndef NP_DRIVERS_FAULTS_H
#define NP_DRIVERS_FAULTS_H

#include <stdint.h>

#include "core/skbuff.h"

struct net_device;

struct np_fault_stats {
	uint64_t seen, lost, duplicated, reordered, corrupted, delayed, rate_dropped;
};

/*
 * Parses "loss=2%,delay=20ms,jitter=5ms,reorder=5%,dup=1%,corrupt=0.1%,
 * rate=10mbit,limit=1000,seed=N" (percent with up to 4 decimals; times in
 * us/ms/s; rates in bit/kbit/mbit/gbit). Returns NULL with *err = -EINVAL and
 * *errpos at the bad key, or -ENOMEM. "" and "off" give *err = 0 and NULL.
 */
struct np_faults *faults_parse(const char *spec, const char **errpos, int *err);
void faults_free(struct np_faults *f);
/* Canonical form of the settings, e.g. "loss=2%,delay=20ms,seed=1". */
void faults_format(const struct np_faults *f, char *out, size_t cap);
void faults_get_stats(const struct np_faults *f, struct np_fault_stats *st);

/*
 * Consumes skb: decides its fate, then hands each surviving copy to deliver
 * (now, or later from a timer on dev's stack for delay, reorder and rate).
 * Losses are freed with FAULT_INJECTED_LOSS. deliver consumes what it gets.
 */
void faults_apply(struct np_faults *f, struct net_device *dev, struct sk_buff *skb,
		  void (*deliver)(struct net_device *dev, struct sk_buff *skb));
/* Frees packets still held (device going away). */
void faults_flush(struct np_faults *f);

#endif
