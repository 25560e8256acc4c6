/*
 * Netfilter hook core (Linux's net/netfilter/core.c): per-hook lists of
 * functions ordered by priority and the NF_HOOK call that runs them.
 * Place in the packet path: ip_rcv, ip_local_deliver, ip_forward,
 * ip_local_out and ip_output call NF_HOOK; the accepted packet continues in
 * the matching _finish function.
 */
#include <errno.h>
#include <stdlib.h>

#include "core/stack.h"
#include "netfilter/netfilter.h"
#include "netfilter/nf_tables.h"
#include "trace/trace.h"

const char *const nf_hook_names[5] = {
	"NF_INET_PRE_ROUTING", "NF_INET_LOCAL_IN", "NF_INET_FORWARD", "NF_INET_LOCAL_OUT", "NF_INET_POST_ROUTING",
};

int nf_register_hook(struct np_stack *s, unsigned hook, int priority, nf_hookfn fn, void *priv)
{
	if (hook >= NF_INET_NUMHOOKS || !fn)
		return -EINVAL;
	struct nf_hook_entry *e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->hook = fn;
	e->priv = priv;
	e->priority = priority;
	struct nf_hook_entry **pp = &s->nf_hooks[hook];
	while (*pp && (*pp)->priority <= priority)
		pp = &(*pp)->next;
	e->next = *pp;
	*pp = e;
	return 0;
}

void nf_unregister_hook(struct np_stack *s, unsigned hook, nf_hookfn fn, void *priv)
{
	if (hook >= NF_INET_NUMHOOKS)
		return;
	for (struct nf_hook_entry **pp = &s->nf_hooks[hook]; *pp; pp = &(*pp)->next) {
		if ((*pp)->hook == fn && (*pp)->priv == priv) {
			struct nf_hook_entry *e = *pp;
			*pp = e->next;
			free(e);
			return;
		}
	}
}

void nf_hooks_free(struct np_stack *s)
{
	nf_net_free(s); /* the rule tables' state and their hooks */
	for (int h = 0; h < NF_INET_NUMHOOKS; h++) {
		while (s->nf_hooks[h]) {
			struct nf_hook_entry *e = s->nf_hooks[h];
			s->nf_hooks[h] = e->next;
			free(e);
		}
	}
}

int NF_HOOK(unsigned hook, struct np_stack *s, struct sk_buff *skb, struct net_device *in,
	    struct net_device *out, nf_okfn okfn)
{
	trace_stage(skb, nf_hook_names[hook]);
	struct nf_hook_state st = { .hook = hook, .in = in, .out = out, .stack = s };
	for (struct nf_hook_entry *e = s->nf_hooks[hook]; e; e = e->next) {
		enum np_drop_reason reason = NP_DROP_NETFILTER_DROP;
		unsigned v = e->hook(e->priv, skb, &st, &reason);
		if (v == NF_ACCEPT)
			continue;
		if (v == NF_STOLEN)
			return 0;
		kfree_skb_reason(skb, reason);
		return -EPERM;
	}
	return okfn(s, skb);
}
