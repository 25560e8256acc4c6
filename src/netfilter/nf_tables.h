/*
 * Netfilter tables, connection tracking and NAT (Linux's ip_tables,
 * nf_conntrack and nf_nat), internal interface.
 * Place in the packet path: hook functions registered on the five hooks of
 * netfilter.h, in Linux's priority order:
 *   PRE_ROUTING  nf_conntrack_in (-200) -> nf_nat_ipv4_pre_routing (-100)
 *   LOCAL_IN     filter INPUT (0) -> nf_confirm (INT_MAX)
 *   FORWARD      filter FORWARD (0)
 *   LOCAL_OUT    nf_conntrack_local (-200) -> nf_nat_ipv4_local_fn (-100) -> filter OUTPUT (0)
 *   POST_ROUTING nf_nat_ipv4_out (100) -> nf_confirm (INT_MAX)
 * All state lives in struct nf_net behind s->nf, created by the first rule.
 */
#ifndef NP_NETFILTER_NF_TABLES_H
#define NP_NETFILTER_NF_TABLES_H

#include <stdint.h>
#include <stdio.h>

#include "core/skbuff.h"
#include "core/timer.h"

struct np_stack;
struct net_device;

/* ---- packet view (parsed once per hook; bounds checked) ---- */
struct nf_pkt {
	uint8_t *iph;              /* network header */
	uint32_t len;              /* bytes from iph to the end of the datagram */
	uint32_t ihl;
	uint32_t saddr, daddr;     /* host order */
	uint8_t proto, ttl;
	uint16_t id;
	int nonfirst_frag;         /* offset != 0: no transport header */
	int has_l4;                /* the fields below are valid */
	uint8_t *l4;
	uint32_t l4len;
	uint16_t sport, dport;     /* TCP/UDP ports; ICMP query: sport = id */
	uint8_t icmp_type, icmp_code;
	uint8_t tcp_flags;
	uint32_t tcp_seq, tcp_ack;
};
/* 0, or -1 if the packet is not a valid IPv4 datagram. */
int nf_pkt_parse(struct sk_buff *skb, struct nf_pkt *p);

/* ---- connection tracking (nf_conntrack.c) ---- */
enum ip_conntrack_dir { IP_CT_DIR_ORIGINAL, IP_CT_DIR_REPLY };
/* Per-packet state as -m state / -m conntrack see it (bit values for masks). */
enum nf_ct_state {
	NF_CT_INVALID = 1, NF_CT_NEW = 2, NF_CT_ESTABLISHED = 4, NF_CT_RELATED = 8, NF_CT_UNTRACKED = 16,
};
enum tcp_conntrack {
	TCP_CONNTRACK_NONE, TCP_CONNTRACK_SYN_SENT, TCP_CONNTRACK_SYN_RECV, TCP_CONNTRACK_ESTABLISHED,
	TCP_CONNTRACK_FIN_WAIT, TCP_CONNTRACK_CLOSE_WAIT, TCP_CONNTRACK_LAST_ACK, TCP_CONNTRACK_TIME_WAIT,
	TCP_CONNTRACK_CLOSE, TCP_CONNTRACK_MAX,
};
/* Conntrack status bits (Linux's IPS_*). */
enum {
	IPS_SEEN_REPLY = 1, IPS_ASSURED = 2, IPS_CONFIRMED = 4, IPS_SRC_NAT = 8, IPS_DST_NAT = 16,
	IPS_SRC_NAT_DONE = 32, IPS_DST_NAT_DONE = 64,
};

struct nf_conntrack_tuple {
	uint32_t src, dst;         /* host order */
	uint16_t sport, dport;     /* ICMP: sport = echo id, dport = 0 */
	uint8_t proto;
};

/* One direction's hash node (Linux's nf_conntrack_tuple_hash). */
struct nf_ct_thash {
	struct nf_ct_thash *next;
	struct nf_conn *ct;
	int dir;
};

struct nf_conn {
	struct nf_conntrack_tuple tuple[2];
	struct nf_ct_thash th[2];  /* hashed under each direction's tuple */
	struct nf_conn *lnext, *lprev; /* every conn, for GC and printing */
	uint64_t id;
	int use;                   /* references: the table's one, plus one per skb->_nfct */
	uint8_t dying;             /* out of the table; freed when the last skb lets go */
	uint64_t timeout;          /* absolute ns */
	unsigned status;           /* IPS_* */
	uint8_t tcp_state;         /* enum tcp_conntrack */
	uint8_t tcp_fin_dir;       /* direction that sent the first FIN */
	uint64_t packets[2], bytes[2];
};

struct nf_ct_stat {
	uint64_t found, new_, invalid, insert, drop, early_drop, delete_, related;
};

struct nf_conntrack_net {
	int enabled;
	struct nf_ct_thash **hash;
	unsigned hash_size;
	struct nf_conn *all;       /* list head */
	unsigned count;
	uint64_t next_id;
	struct nf_ct_stat stat;
	struct np_timer gc_timer;
};

/* ---- rules and chains (ip_tables.c) ---- */
enum nf_target {
	NFT_NONE,        /* no -j: only counts */
	NFT_ACCEPT, NFT_DROP, NFT_REJECT, NFT_LOG, NFT_RETURN, NFT_JUMP,
	NFT_SNAT, NFT_DNAT, NFT_MASQUERADE,
};
enum nf_reject_with {
	NF_REJECT_PORT_UNREACH, NF_REJECT_HOST_UNREACH, NF_REJECT_NET_UNREACH, NF_REJECT_PROTO_UNREACH,
	NF_REJECT_ADMIN_PROHIB, NF_REJECT_TCP_RESET,
};

struct nf_chain;

struct nf_rule {
	struct nf_rule *next;
	/* matches; each *_inv is "!" */
	char iif[16], oif[16];
	uint8_t iif_inv, oif_inv;
	uint8_t has_src, has_dst, src_inv, dst_inv;
	uint32_t src, smask, dst, dmask;
	uint8_t proto, proto_inv;  /* 0: any */
	uint8_t has_sport, has_dport, sport_inv, dport_inv;
	uint16_t sport_lo, sport_hi, dport_lo, dport_hi;
	int icmp_type, icmp_code;  /* -1: any */
	uint8_t icmp_inv;
	uint8_t has_tcpflags, tcpflags_inv, tcp_mask, tcp_comp;
	uint8_t has_state, state_inv;
	unsigned state_mask;       /* NF_CT_* bits */
	/* target */
	enum nf_target target;
	enum nf_reject_with reject_with;
	char log_prefix[32];
	struct nf_chain *jump;
	uint32_t nat_lo, nat_hi;   /* address range, host order */
	uint16_t nat_plo, nat_phi; /* port range, 0: keep */
	/* counters */
	uint64_t pkts, bytes;
};

struct nf_chain {
	struct nf_chain *next;
	char name[32];
	int builtin;
	enum nf_target policy;     /* NFT_ACCEPT or NFT_DROP for built-in chains */
	struct nf_rule *rules;
	uint64_t pkts, bytes;      /* packets that took the policy */
	int refs;                  /* -j references (user chains) */
};

struct nf_table {
	const char *name;
	struct nf_chain *chains;
};

struct nf_net {
	struct np_stack *stack;
	struct nf_table filter, nat;
	int hooks;                 /* filter/nat hooks registered */
	struct nf_conntrack_net ct;
	uint64_t log_tokens_ns, log_last_ns; /* LOG rate limit token bucket */
	uint64_t log_suppressed;
};

/* The stack's netfilter state, created (hooks registered) on first use; NULL on no memory. */
struct nf_net *nf_net_get(struct np_stack *s);
/* Frees tables, conntrack and unregisters the hooks (np_stack_destroy, via nf_hooks_free). */
void nf_net_free(struct np_stack *s);

/* Parses one rule line and applies it (ip_tables_parse.c). 0 or -errno with err filled. */
int nf_rule_apply(struct nf_net *n, const char *line, char *err, size_t errlen);

struct nf_chain *nf_chain_find(struct nf_table *t, const char *name);
struct nf_table *nf_table_find(struct nf_net *n, const char *name);
/* Runs chain of table over skb (not consumed); returns NFT_ACCEPT/NFT_DROP or a NAT target. */

/* Conntrack (nf_conntrack.c). */
int nf_conntrack_enable(struct nf_net *n);
void nf_conntrack_free(struct nf_net *n);
/* Classifies skb at PRE_ROUTING/LOCAL_OUT (or LOCAL_IN after reassembly); 0 or NF drop (-1) with *reason. */
int nf_conntrack_in(struct nf_net *n, struct sk_buff *skb, enum np_drop_reason *reason);
/* The packet's conntrack (NULL: untracked or gone) and its direction / state, from skb->_nfct. */
struct nf_conn *nf_ct_get(struct nf_net *n, const struct sk_buff *skb, int *dir, unsigned *state);
void nf_conntrack_confirm(struct nf_net *n, struct nf_conn *ct);
/* Re-hashes ct after NAT changed its reply tuple; -EEXIST if that tuple is taken. */
int nf_ct_change_reply(struct nf_net *n, struct nf_conn *ct, const struct nf_conntrack_tuple *reply);
struct nf_conn *nf_ct_find(struct nf_net *n, const struct nf_conntrack_tuple *t, int *dir);
int nf_ct_tuple_taken(struct nf_net *n, const struct nf_conntrack_tuple *t, const struct nf_conn *ignore);
void nf_conntrack_print(struct nf_net *n, FILE *out);
const char *nf_ct_tcp_state_name(unsigned st);

/* NAT (nf_nat.c): sets up bindings on a NEW conn and rewrites headers. */
/* Applies ct's translation for the manip type (0: source, 1: destination); 0 or -1 (no memory). */
int nf_nat_packet(struct nf_net *n, struct sk_buff *skb, struct nf_conn *ct, int dir, int manip_dst);
/* Binds ct for a SNAT/MASQUERADE/DNAT rule; returns 0 or -1 (no free tuple). */
int nf_nat_setup(struct nf_net *n, struct sk_buff *skb, struct nf_conn *ct, const struct nf_rule *r,
		 int manip_dst);

#endif
