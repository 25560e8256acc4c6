/*
 * `netpath run` device options for queueing disciplines and VLANs:
 *   --qdisc SPEC        the qdisc of the device named before it (np_dev_set_qdisc)
 *   --vlan VID[:NAME]   an 802.1Q VLAN device on it (np_vlan_add); the --addr
 *                       and --qdisc options after a --vlan apply to that VLAN
 *                       device, until the next --tap or --vlan.
 * So `--tap t0 --addr 10.0.0.2/24 --vlan 100 --addr 10.100.0.2/24` gives t0
 * 10.0.0.2 and t0.100 10.100.0.2.
 *   tap_opt -> tool_netdev_opt (parse); tool_dev_setup -> tool_netdev_setup
 *   (create VLANs, add their addresses, set qdiscs); tool_dev_ready ->
 *   tool_netdev_ready (one "up" line per VLAN device).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tool.h"

int tool_netdev_opt(const char *cmd, struct tool_dev *cur, int argc, char **argv, int *i)
{
	const char *v;
	int r;
	struct tool_vlan *vl = cur && cur->nvlans ? &cur->vlans[cur->nvlans - 1] : NULL;

	if ((r = tool_opt(cmd, argc, argv, i, "--qdisc", &v)) != 0) {
		if (tool_dev_opt_ok(cmd, r, cur, "--qdisc") < 0)
			return -1;
		if (vl)
			vl->qdisc = v;
		else
			cur->qdisc = v;
		return 1;
	}
	if ((r = tool_opt(cmd, argc, argv, i, "--vlan", &v)) != 0) {
		long vid;
		char num[8];
		const char *colon;
		size_t nlen;
		if (tool_dev_opt_ok(cmd, r, cur, "--vlan") < 0)
			return -1;
		colon = strchr(v, ':');
		nlen = colon ? (size_t)(colon - v) : strlen(v);
		if (nlen == 0 || nlen >= sizeof(num)) {
			tool_usage_error(cmd, "bad --vlan '%s' (expected VID[:NAME], VID 1 to 4094)", v);
			return -1;
		}
		memcpy(num, v, nlen);
		num[nlen] = '\0';
		if (tool_parse_long(num, 1, 4094, &vid) < 0) {
			tool_usage_error(cmd, "bad VLAN id '%s' (1 to 4094)", num);
			return -1;
		}
		if (colon && (colon[1] == '\0' || strlen(colon + 1) >= 16)) {
			tool_usage_error(cmd, "bad VLAN device name '%s' (1 to 15 characters)", colon + 1);
			return -1;
		}
		if (cur->nvlans == (int)(sizeof(cur->vlans) / sizeof(cur->vlans[0]))) {
			tool_usage_error(cmd, "too many --vlan devices on %s", cur->tap);
			return -1;
		}
		vl = &cur->vlans[cur->nvlans++];
		memset(vl, 0, sizeof(*vl));
		vl->vid = (unsigned)vid;
		vl->name = colon ? colon + 1 : NULL;
		return 1;
	}
	/* After a --vlan, --addr belongs to the VLAN device; before it, tap_opt handles it. */
	if (vl && (r = tool_opt(cmd, argc, argv, i, "--addr", &v)) != 0) {
		struct in_addr a;
		int plen;
		if (r < 0)
			return -1;
		if (tool_parse_prefix(v, &a, &plen) < 0) {
			tool_usage_error(cmd, "bad address '%s' (expected A.B.C.D/N, e.g. 10.100.0.2/24)", v);
			return -1;
		}
		if (vl->naddrs == NP_MAX_IFADDRS) {
			tool_usage_error(cmd, "too many addresses on VLAN %u", vl->vid);
			return -1;
		}
		vl->addrs[vl->naddrs++] = v;
		return 1;
	}
	return 0;
}

static int set_qdisc(struct np_dev *dev, const char *spec)
{
	const char *errpos = NULL;
	int rc = np_dev_set_qdisc(dev, spec, &errpos);
	if (rc == -EINVAL) {
		fprintf(stderr,
			"netpath: bad --qdisc '%s' at '%s' (pfifo_fast | pfifo:limit=N | bfifo:limit=SIZE | "
			"tbf:rate=R,burst=SIZE,latency=T | netem:delay=T,jitter=T,loss=P%%,dup=P%%,reorder=P%%,"
			"corrupt=P%%,rate=R,limit=N,seed=N)\n",
			spec, errpos ? errpos : spec);
		return -1;
	}
	if (rc < 0) {
		fprintf(stderr, "netpath: cannot set qdisc on %s: %s\n", np_dev_name(dev), strerror(-rc));
		return -1;
	}
	return 0;
}

int tool_netdev_setup(struct np_stack *s, struct tool_dev *d)
{
	(void)s;
	if (d->qdisc && set_qdisc(d->dev, d->qdisc) < 0)
		return -1;
	for (int k = 0; k < d->nvlans; k++) {
		struct tool_vlan *vl = &d->vlans[k];
		int err = 0;
		vl->dev = np_vlan_add(d->dev, (uint16_t)vl->vid, vl->name, &err);
		if (vl->dev == NULL) {
			fprintf(stderr, "netpath: cannot add VLAN %u on %s: %s\n", vl->vid, d->tap,
				err == -EEXIST ? "that VLAN id or device name exists" : strerror(err ? -err : EIO));
			return -1;
		}
		for (int i = 0; i < vl->naddrs; i++) {
			int rc = np_addr_add(vl->dev, vl->addrs[i]);
			if (rc < 0) {
				fprintf(stderr, "netpath: cannot add address %s to %s: %s\n", vl->addrs[i],
					np_dev_name(vl->dev),
					rc == -EINVAL ? "bad address (expected A.B.C.D/N)" : strerror(-rc));
				return -1;
			}
		}
		if (vl->qdisc && set_qdisc(vl->dev, vl->qdisc) < 0)
			return -1;
	}
	return 0;
}

void tool_netdev_ready(const struct tool_dev *d)
{
	for (int k = 0; k < d->nvlans; k++) {
		const struct tool_vlan *vl = &d->vlans[k];
		char addrs[NP_MAX_IFADDRS * 20 + 16] = "";
		size_t n = 0;
		if (vl->dev == NULL)
			continue;
		for (int i = 0; i < vl->naddrs; i++)
			n += (size_t)snprintf(addrs + n, sizeof(addrs) - n, "%s%s", i ? " " : "", vl->addrs[i]);
		fprintf(stderr, "netpath: %s up (vlan %u on %s), %s\n", np_dev_name(vl->dev), vl->vid, d->tap,
			vl->naddrs ? addrs : "no address");
	}
}
