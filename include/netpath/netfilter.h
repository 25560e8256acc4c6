/*
 * Packet filtering and NAT rules for a netpath stack, in iptables' syntax
 * (the filter and nat tables, connection tracking, SNAT/MASQUERADE/DNAT).
 * See docs/netfilter.md.
 */
#ifndef NETPATH_NETFILTER_H
#define NETPATH_NETFILTER_H

#include <stddef.h>
#include <stdio.h>

struct np_stack;

/*
 * Applies one iptables command line without the leading "iptables", e.g.
 *   "-A INPUT -p tcp --dport 80 -j DROP", "-t nat -A POSTROUTING -o eth1 -j MASQUERADE",
 *   "-P INPUT DROP", "-N web", "-D INPUT 2", "-F", or "INPUT -p tcp --dport 80 -j DROP"
 *   (a chain first means -A).
 * Returns 0, or a negative errno with a message naming the bad token in err.
 */
int np_nf_rule(struct np_stack *s, const char *rule, char *err, size_t errlen);

/*
 * Loads an iptables-save-like file: "*filter" / "*nat" select the table,
 * ":CHAIN POLICY [..]" sets a policy (":name -" creates a user chain),
 * "-A ..." lines add rules, "COMMIT", blank lines and "#" comments are skipped.
 * Stops at the first bad line: negative errno, err says "path:line: why".
 */
int np_nf_load_file(struct np_stack *s, const char *path, char *err, size_t errlen);

/*
 * Prints the rules with numbers and packet/byte counters like
 * `iptables -L -v -n --line-numbers`. table: "filter", "nat", "conntrack"
 * (the connection table) or NULL for everything in use.
 */
void np_nf_print(struct np_stack *s, const char *table, FILE *out);

#endif
