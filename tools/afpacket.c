/*
 * `netpath run --af-packet IFNAME`: the device is an existing Linux
 * interface (a veth end, a NIC) reached through an AF_PACKET socket with a
 * TPACKET_V3 ring (src/drivers/af_packet.c) instead of a TAP.
 *   tap_opt (--af-packet) -> tool_dev_setup -> afpacket_open -> np_af_packet_open
 */
#include <errno.h>
#include <string.h>

#include "tool.h"

struct np_dev *afpacket_open(struct np_stack *s, const struct tool_dev *d)
{
	const char *hint = "";
	int err = 0;
	struct np_dev *dev = np_af_packet_open(s, d->tap, &err);

	if (dev != NULL)
		return dev;
	switch (-err) {
	case EPERM:
	case EACCES:
		hint = " (run as root or with CAP_NET_RAW)";
		break;
	case ENODEV:
		hint = " (no such interface: create it first, e.g. `ip link add a type veth peer name b`)";
		break;
	case EINVAL:
		hint = " (bad interface name, or not an Ethernet interface)";
		break;
	case EEXIST:
		hint = " (a netpath device of that name exists already)";
		break;
	default:
		break;
	}
	fprintf(stderr, "netpath: cannot attach to %s with AF_PACKET: %s%s\n", d->tap, strerror(err ? -err : EIO),
		hint);
	return NULL;
}
