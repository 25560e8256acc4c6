/*
 * inet_protos registration (Linux's net/ipv4/protocol.c): the transports
 * put their receive and ICMP-error handlers into the stack's table, indexed
 * by IP protocol number.
 *   icmp_init / udp_init / tcp_init -> inet_add_protocol
 *   ip_local_deliver_finish -> inet_protos[iph->protocol]->handler
 *   icmp_unreach -> inet_protos[quoted protocol]->err_handler
 */
#include <errno.h>

#include "core/stack.h"
#include "net/ipv4/protocol.h"

int inet_add_protocol(struct np_stack *s, const struct net_protocol *prot, uint8_t protocol)
{
	/* One handler per protocol, as Linux's cmpxchg on inet_protos[]. */
	if (s->inet_protos[protocol])
		return -EBUSY;
	s->inet_protos[protocol] = prot;
	return 0;
}

void inet_del_protocol(struct np_stack *s, uint8_t protocol)
{
	s->inet_protos[protocol] = NULL;
}
