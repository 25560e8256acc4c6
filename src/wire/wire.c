/*
 * Wire layer error names.
 * Place in the packet path: the trace and the drop counters print these when a
 * parser in eth/arp/ipv4/icmp/udp/tcp rejects a header.
 */
#include "wire.h"

/* Accepts the error with either sign, since parsers return it negated. */
const char *wire_strerror(int err)
{
	if (err < 0)
		err = -err;
	switch (err) {
	case WIRE_OK: return "ok";
	case WIRE_ETRUNC: return "buffer shorter than the fixed header";
	case WIRE_EVERSION: return "IP version is not 4";
	case WIRE_EHDRLEN: return "header length too small or past the buffer";
	case WIRE_ETOTLEN: return "length field disagrees with the buffer";
	case WIRE_ECSUM: return "checksum does not verify";
	case WIRE_EOPT: return "malformed option";
	case WIRE_EFIELD: return "field holds a forbidden value";
	default: return "unknown wire error";
	}
}
