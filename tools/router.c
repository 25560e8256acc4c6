/*
 * `netpath run` as a router: the --route and --forward options (the
 * several --tap/--addr/--host-addr device options are tap.c's).
 *   cmd_run -> router_opt (each argument) -> tap_stack_setup (devices)
 *           -> router_apply: net.ipv4.ip_forward=1, np_route_add per --route
 *   then packets between the TAPs take ip_rcv -> ip_forward -> dst_output.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tool.h"

/* Splits "PREFIX via GW [dev IFNAME]" (or "PREFIX dev IFNAME") into r; 0 or -1. */
static int route_parse_words(const char *cmd, struct tool_route *r, char **w, int n)
{
	struct in_addr a;
	int plen;

	if (n < 1) {
		tool_usage_error(cmd, "--route needs PREFIX via GATEWAY");
		return -1;
	}
	if (strcmp(w[0], "default") != 0 && tool_parse_prefix(w[0], &a, &plen) < 0) {
		tool_usage_error(cmd, "bad route prefix '%s' (expected A.B.C.D/N or default)", w[0]);
		return -1;
	}
	if (strlen(w[0]) >= sizeof(r->prefix)) {
		tool_usage_error(cmd, "bad route prefix '%s'", w[0]);
		return -1;
	}
	strcpy(r->prefix, w[0]);
	r->gateway[0] = r->dev[0] = '\0';
	for (int k = 1; k < n; k += 2) {
		if (k + 1 >= n) {
			tool_usage_error(cmd, "--route: '%s' needs a value", w[k]);
			return -1;
		}
		if (strcmp(w[k], "via") == 0) {
			if (tool_parse_addr(w[k + 1], &a) < 0 || strlen(w[k + 1]) >= sizeof(r->gateway)) {
				tool_usage_error(cmd, "bad gateway '%s' (expected A.B.C.D)", w[k + 1]);
				return -1;
			}
			strcpy(r->gateway, w[k + 1]);
		} else if (strcmp(w[k], "dev") == 0) {
			if (*w[k + 1] == '\0' || strlen(w[k + 1]) >= sizeof(r->dev)) {
				tool_usage_error(cmd, "bad interface name '%s'", w[k + 1]);
				return -1;
			}
			strcpy(r->dev, w[k + 1]);
		} else {
			tool_usage_error(cmd, "--route: unexpected '%s' (expected PREFIX via GATEWAY [dev IFNAME])",
					 w[k]);
			return -1;
		}
	}
	if (r->gateway[0] == '\0' && r->dev[0] == '\0') {
		tool_usage_error(cmd, "--route %s needs 'via GATEWAY' or 'dev IFNAME'", r->prefix);
		return -1;
	}
	return 0;
}

int router_opt(const char *cmd, struct router_opts *o, int argc, char **argv, int *i)
{
	const char *v;
	int r;

	if (strcmp(argv[*i], "--forward") == 0) {
		o->forward = 1;
		return 1;
	}
	r = tool_opt(cmd, argc, argv, i, "--route", &v);
	if (r <= 0)
		return r;
	if (o->nroutes == (int)(sizeof(o->routes) / sizeof(o->routes[0]))) {
		tool_usage_error(cmd, "too many --route options");
		return -1;
	}
	struct tool_route *rt = &o->routes[o->nroutes];
	if (strchr(v, ' ') != NULL) {
		/* One quoted argument: "10.81.2.0/24 via 10.81.1.2". */
		char buf[128];
		char *w[8];
		int n = 0;
		if (strlen(v) >= sizeof(buf)) {
			tool_usage_error(cmd, "--route '%s' is too long", v);
			return -1;
		}
		strcpy(buf, v);
		for (char *save = NULL, *t = strtok_r(buf, " \t", &save); t && n < 8; t = strtok_r(NULL, " \t", &save))
			w[n++] = t;
		if (route_parse_words(cmd, rt, w, n) < 0)
			return -1;
	} else {
		/* Separate arguments: --route PREFIX via GW [dev IFNAME]. */
		char *w[5];
		int n = 0;
		w[n++] = (char *)v;
		while (n + 1 < 5 && *i + 2 < argc &&
		       (strcmp(argv[*i + 1], "via") == 0 || strcmp(argv[*i + 1], "dev") == 0)) {
			w[n++] = argv[*i + 1];
			w[n++] = argv[*i + 2];
			*i += 2;
		}
		if (route_parse_words(cmd, rt, w, n) < 0)
			return -1;
	}
	o->nroutes++;
	return 1;
}

int router_apply(struct np_stack *s, const struct router_opts *o)
{
	int rc;

	if (o->forward) {
		rc = np_sysctl_set(s, "net.ipv4.ip_forward", 1);
		if (rc < 0) {
			fprintf(stderr, "netpath: cannot turn forwarding on: %s\n", strerror(-rc));
			return -1;
		}
	}
	for (int k = 0; k < o->nroutes; k++) {
		const struct tool_route *r = &o->routes[k];
		struct np_dev *dev = NULL;
		if (r->dev[0] != '\0') {
			dev = np_dev_get(s, r->dev);
			if (dev == NULL) {
				fprintf(stderr, "netpath: --route %s: no device %s (give it with --tap)\n", r->prefix,
					r->dev);
				return -1;
			}
		}
		rc = np_route_add(s, r->prefix, r->gateway[0] ? r->gateway : NULL, dev);
		if (rc < 0) {
			const char *why = strerror(-rc);
			if (rc == -ENETUNREACH || rc == -EINVAL)
				why = "gateway is not on a connected network (add an --addr in its subnet)";
			else if (rc == -EEXIST)
				why = "a route for this prefix exists already";
			fprintf(stderr, "netpath: cannot add route %s%s%s: %s\n", r->prefix,
				r->gateway[0] ? " via " : "", r->gateway, why);
			return -1;
		}
	}
	if (o->forward || o->nroutes > 0)
		fprintf(stderr, "netpath: forwarding %s, %d static route%s\n", o->forward ? "on" : "off",
			o->nroutes, o->nroutes == 1 ? "" : "s");
	return 0;
}
