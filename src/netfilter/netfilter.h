/*
 * Netfilter hook points (Linux's include/linux/netfilter.h): the five IPv4
 * hooks called at the Linux places, a registration API ordered by priority,
 * and verdicts. The rule tables (filter, nat) register here later.
 *   ip_rcv -> NF_INET_PRE_ROUTING -> ip_rcv_finish
 *   ip_local_deliver -> NF_INET_LOCAL_IN -> ip_local_deliver_finish
 *   ip_forward -> NF_INET_FORWARD -> ip_forward_finish
 *   ip_local_out -> NF_INET_LOCAL_OUT -> dst_output
 *   ip_output -> NF_INET_POST_ROUTING -> ip_finish_output
 */
#ifndef NP_NETFILTER_NETFILTER_H
#define NP_NETFILTER_NETFILTER_H

#include "core/skbuff.h"

struct np_stack;
struct net_device;

enum nf_inet_hooks {
	NF_INET_PRE_ROUTING,
	NF_INET_LOCAL_IN,
	NF_INET_FORWARD,
	NF_INET_LOCAL_OUT,
	NF_INET_POST_ROUTING,
};

enum nf_verdict { NF_DROP = 0, NF_ACCEPT = 1, NF_STOLEN = 2 };

struct nf_hook_state {
	unsigned hook;
	struct net_device *in, *out;
	struct np_stack *stack;
};

/*
 * A hook returns NF_ACCEPT (skb goes on), NF_DROP (the core frees it with
 * NETFILTER_DROP, or the reason the hook stored in *reason) or NF_STOLEN
 * (the hook took the skb).
 */
typedef unsigned (*nf_hookfn)(void *priv, struct sk_buff *skb, const struct nf_hook_state *st,
			      enum np_drop_reason *reason);

struct nf_hook_entry {
	nf_hookfn hook;
	void *priv;
	int priority;                   /* lower runs first, as NF_IP_PRI_* */
	struct nf_hook_entry *next;
};

extern const char *const nf_hook_names[5];

/* 0 or -ENOMEM / -EINVAL. */
/* skb->_nfct references (nf_conntrack.c); both accept NULL. The last put frees the entry. */
void nf_conntrack_get(struct nf_conn *ct);
void nf_conntrack_put(struct nf_conn *ct);

int nf_register_hook(struct np_stack *s, unsigned hook, int priority, nf_hookfn fn, void *priv);
void nf_unregister_hook(struct np_stack *s, unsigned hook, nf_hookfn fn, void *priv);
void nf_hooks_free(struct np_stack *s);

typedef int (*nf_okfn)(struct np_stack *s, struct sk_buff *skb);
/*
 * Consumes skb: traces the hook, runs its entries; on accept returns
 * okfn(s, skb), on drop frees skb and returns -EPERM, on stolen returns 0.
 */
int NF_HOOK(unsigned hook, struct np_stack *s, struct sk_buff *skb, struct net_device *in,
	    struct net_device *out, nf_okfn okfn);

#endif
