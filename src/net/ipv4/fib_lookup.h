/*
 * FIB internals shared by route.c and devinet.c (Linux's net/ipv4/fib_lookup.h
 * and the fib_frontend address hooks). Private to net/ipv4.
 *   inet_addr_add -> fib_add_ifaddr (local, broadcast and connected routes)
 *   inet_addr_del -> fib_del_ifaddr
 */
#ifndef NP_NET_IPV4_FIB_LOOKUP_H
#define NP_NET_IPV4_FIB_LOOKUP_H

#include <stdint.h>
#include <stdio.h>

struct np_stack;
struct net_device;
struct in_ifaddr;

/* Installs the kernel routes of an address on dev (existing ones are kept). */
void fib_add_ifaddr(struct net_device *dev, const struct in_ifaddr *ifa);
/*
 * Removes the routes an address (already taken off dev) owned; routes shared
 * with the addresses left on dev are re-installed for them, and when dev has
 * no address left every route through it goes (Linux's fib_disable_ip).
 */
void fib_del_ifaddr(struct net_device *dev, const struct in_ifaddr *ifa);

/* Prints the local table like `ip route show table local`. */
void fib_print_local(const struct np_stack *s, FILE *out);

#endif
