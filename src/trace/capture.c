/*
 * Packet capture to a pcap file through libpcap: the ptype_all-style tap
 * (Linux's dev_queue_xmit_nit and the taps of __netif_receive_skb_core).
 *   netif_receive_skb -> [rx faults] -> __netif_receive_skb_core -> capture_skb
 *   dev_hard_start_xmit -> capture_skb -> [tx faults] -> ndo_start_xmit
 *
 * One capture may be shared by devices of several stacks running in
 * several threads, so records are written under a mutex. Files use
 * nanosecond timestamps: a stack on a virtual clock writes its virtual time
 * (so a simulation's pcap shows simulated time), a stack on the real clock
 * writes wall-clock time (the monotonic stack clock plus the offset to
 * CLOCK_REALTIME taken once at open).
 */
#include <errno.h>
#include <pcap/pcap.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "core/stack.h"
#include "netpath/netpath.h"
#include "trace/capture.h"

#define CAPTURE_SNAPLEN 262144
/* Records and time between flushes: cheap, and a reader of the live file stays close behind. */
#define CAPTURE_FLUSH_RECORDS 32
#define CAPTURE_FLUSH_NS (100 * 1000000ull)

struct np_capture {
	pthread_mutex_t lock;
	pcap_t *pd;
	pcap_dumper_t *dumper;
	unsigned unflushed;
	uint64_t last_flush_ns;
	int64_t wall_offset_ns;         /* CLOCK_REALTIME - stack real clock, at open */
};

struct np_capture *np_capture_open(const char *path, int *err)
{
	int dummy;
	if (!err)
		err = &dummy;
	if (!path || !path[0]) {
		*err = -EINVAL;
		return NULL;
	}
	struct np_capture *c = calloc(1, sizeof(*c));
	if (!c) {
		*err = -ENOMEM;
		return NULL;
	}
	c->pd = pcap_open_dead_with_tstamp_precision(DLT_EN10MB, CAPTURE_SNAPLEN, PCAP_TSTAMP_PRECISION_NANO);
	if (!c->pd) {
		free(c);
		*err = -ENOMEM;
		return NULL;
	}
	errno = 0;
	c->dumper = pcap_dump_open(c->pd, path);
	if (!c->dumper) {
		/* pcap_dump_open fails in fopen: its errno says why (ENOENT, EACCES ...). */
		*err = errno ? -errno : -EIO;
		pcap_close(c->pd);
		free(c);
		return NULL;
	}
	/* The one wall-clock read: real-clock stacks' timestamps are offset by it. */
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	uint64_t wall = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	c->wall_offset_ns = (int64_t)(wall - np_clock_now(np_clock_real()));
	pthread_mutex_init(&c->lock, NULL);
	*err = 0;
	return c;
}

void np_capture_close(struct np_capture *c)
{
	if (!c)
		return;
	pcap_dump_flush(c->dumper);
	pcap_dump_close(c->dumper);
	pcap_close(c->pd);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

void capture_skb(struct np_capture *c, struct np_stack *s, const struct sk_buff *skb)
{
	if (!c)
		return;
	uint64_t now = np_stack_now(s);
	uint64_t t = now;
	if (s->clock == np_clock_real())
		t = (uint64_t)((int64_t)now + c->wall_offset_ns);
	struct pcap_pkthdr h;
	h.ts.tv_sec = (time_t)(t / 1000000000ull);
	h.ts.tv_usec = (suseconds_t)(t % 1000000000ull);   /* nanoseconds: the file is nano-precision */
	h.len = skb->len;
	h.caplen = skb->len < CAPTURE_SNAPLEN ? skb->len : CAPTURE_SNAPLEN;

	pthread_mutex_lock(&c->lock);
	pcap_dump((u_char *)c->dumper, &h, skb->data);
	if (++c->unflushed >= CAPTURE_FLUSH_RECORDS || now - c->last_flush_ns >= CAPTURE_FLUSH_NS ||
	    now < c->last_flush_ns) {
		pcap_dump_flush(c->dumper);
		c->unflushed = 0;
		c->last_flush_ns = now;
	}
	pthread_mutex_unlock(&c->lock);
}
