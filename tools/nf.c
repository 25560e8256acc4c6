/*
 * `netpath run` as a firewall / NAT box: the --rule and --rules-file
 * options (iptables syntax, see include/netpath/netfilter.h).
 *   cmd_run -> nf_opt (each argument) -> nf_check (rules parsed on a scratch
 *   stack, so a bad rule is a usage error before any TAP opens)
 *   -> tap_stack_setup -> nf_apply (np_nf_load_file, np_nf_rule)
 *   -> ... -> at exit nf_print_counters (iptables -L -v -n style) after the stack counters.
 */
#include <stdlib.h>
#include <string.h>

#include "netpath/netfilter.h"
#include "tool.h"

int nf_opt(const char *cmd, struct nf_opts *o, int argc, char **argv, int *i)
{
	const char *v;
	int r = tool_opt(cmd, argc, argv, i, "--rule", &v);
	if (r < 0)
		return -1;
	if (r > 0) {
		if (o->nrules >= (int)(sizeof(o->rules) / sizeof(o->rules[0]))) {
			tool_usage_error(cmd, "too many --rule options (at most %zu; use --rules-file)",
					 sizeof(o->rules) / sizeof(o->rules[0]));
			return -1;
		}
		o->rules[o->nrules++] = v;
		return 1;
	}
	r = tool_opt(cmd, argc, argv, i, "--rules-file", &v);
	if (r < 0)
		return -1;
	if (r > 0) {
		if (o->nfiles >= (int)(sizeof(o->files) / sizeof(o->files[0]))) {
			tool_usage_error(cmd, "too many --rules-file options");
			return -1;
		}
		o->files[o->nfiles++] = v;
		return 1;
	}
	return 0;
}

/* Files first (a saved rule set), then each --rule in order. 0 or -1 (printed). */
static int nf_load(struct np_stack *s, const char *cmd, const struct nf_opts *o, int usage)
{
	char err[512];
	for (int k = 0; k < o->nfiles; k++) {
		if (np_nf_load_file(s, o->files[k], err, sizeof(err)) < 0) {
			if (usage)
				tool_usage_error(cmd, "--rules-file: %s", err);
			else
				fprintf(stderr, "netpath: %s: --rules-file: %s\n", cmd, err);
			return -1;
		}
	}
	for (int k = 0; k < o->nrules; k++) {
		if (np_nf_rule(s, o->rules[k], err, sizeof(err)) < 0) {
			if (usage)
				tool_usage_error(cmd, "--rule '%s': %s", o->rules[k], err);
			else
				fprintf(stderr, "netpath: %s: --rule '%s': %s\n", cmd, o->rules[k], err);
			return -1;
		}
	}
	return 0;
}

int nf_check(const char *cmd, const struct nf_opts *o)
{
	if (o->nrules == 0 && o->nfiles == 0)
		return 0;
	struct np_stack_config cfg = { .name = "check" };
	struct np_stack *s = np_stack_create(&cfg);
	if (!s) {
		fprintf(stderr, "netpath: %s: out of memory\n", cmd);
		return -1;
	}
	int r = nf_load(s, cmd, o, 1);
	np_stack_destroy(s);
	return r;
}

int nf_apply(struct np_stack *s, const struct nf_opts *o)
{
	return nf_load(s, "run", o, 0);
}

void nf_print_counters(struct np_stack *s, const struct nf_opts *o, FILE *out)
{
	if (o->nrules == 0 && o->nfiles == 0)
		return;
	fprintf(out, "\nnetfilter (iptables -L -v -n --line-numbers):\n");
	np_nf_print(s, NULL, out);
}
