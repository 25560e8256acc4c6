/*
 * libFuzzer target: tcp_parse (src/wire/tcp.c) on arbitrary bytes, then a
 * round trip: the options it accepted are emitted by tcp_emit and parsed
 * again, and must come back the same (MSS, window scale, SACK-permitted,
 * timestamps). Any read past the buffer is caught by ASan.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wire/tcp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* An exact-size heap copy so ASan sees any overread. */
	uint8_t *buf = malloc(size ? size : 1);
	memcpy(buf, data, size);
	struct tcp_repr r;
	int err = tcp_parse(buf, size, &r);
	if (err == 0) {
		if (r.doff < 20 || r.doff > size || r.payload_len != size - r.doff || r.opt.num_sacks > 4)
			abort();
		struct tcp_repr w = r;
		uint8_t out[128];
		size_t hl = tcp_emit(&w, 0, 0x0a000001, 0x0a000002, out, sizeof(out));
		if (hl) {
			struct tcp_repr q;
			if (tcp_parse(out, hl, &q) != 0)
				abort();
			if (q.opt.mss_ok != r.opt.mss_ok || (r.opt.mss_ok && q.opt.mss != r.opt.mss) ||
			    q.opt.wscale_ok != r.opt.wscale_ok || (r.opt.wscale_ok && q.opt.wscale != r.opt.wscale) ||
			    q.opt.sack_ok != r.opt.sack_ok || q.opt.ts_ok != r.opt.ts_ok ||
			    (r.opt.ts_ok && (q.opt.tsval != r.opt.tsval || q.opt.tsecr != r.opt.tsecr)) ||
			    q.seq != r.seq || q.ack != r.ack || q.flags != r.flags || q.window != r.window)
				abort();
		}
	}
	free(buf);
	return 0;
}
