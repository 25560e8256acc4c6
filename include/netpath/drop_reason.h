/*
 * Drop reasons: one list, modelled on Linux's enum skb_drop_reason
 * (include/net/dropreason-core.h). Every drop site names one; the trace,
 * the per-reason counters and `netpath` print these same names.
 */
#ifndef NETPATH_DROP_REASON_H
#define NETPATH_DROP_REASON_H

/* X(NAME, "what happened") */
#define NP_DROP_REASON_LIST(X) \
	X(NOT_DROPPED_YET, "not dropped (placeholder, never counted)") \
	X(NOT_SPECIFIED, "dropped without a more precise reason") \
	X(NOMEM, "no memory for a buffer or an entry") \
	X(MAC_TRUNCATED, "frame shorter than the Ethernet header") \
	X(OTHERHOST, "frame not addressed to this host (not promiscuous)") \
	X(UNHANDLED_PROTO, "no handler for the EtherType") \
	X(DEV_DOWN, "device is administratively down") \
	X(CPU_BACKLOG, "netif_rx backlog full (netdev_max_backlog)") \
	X(FULL_RING, "driver ring or cable queue full") \
	X(TX_ERROR, "driver failed to transmit") \
	X(VNET_HDR_BAD_GSO, "virtio-net header: GSO frame with gso_size 0 or an unknown gso_type") \
	X(VNET_HDR_BAD_LEN, "virtio-net header: hdr_len past the frame, or the header itself truncated") \
	X(VNET_HDR_BAD_CSUM, "virtio-net header: csum_start/csum_offset past the frame") \
	X(SKB_GSO_SEG, "software GSO could not segment the super-packet (not TCPv4, bad headers)") \
	X(QDISC_DROP, "queueing discipline dropped the packet") \
	X(PKT_TOO_BIG, "packet larger than the device MTU") \
	X(FAULT_INJECTED_LOSS, "fault injection: simulated loss") \
	X(VLAN_UNKNOWN, "802.1Q frame for a VLAN with no device") \
	X(ARP_TRUNCATED, "ARP packet shorter than 28 bytes") \
	X(ARP_BAD_FIELDS, "ARP hardware/protocol type, lengths or opcode invalid") \
	X(ARP_INVALID_SHA, "ARP sender MAC is broadcast, multicast or zero") \
	X(ARP_INVALID_SIP, "ARP sender IP is 0.0.0.0 (not a probe), multicast, broadcast or our own") \
	X(ARP_UNSOLICITED, "ARP reply for which we hold no entry") \
	X(ARP_NOT_FOR_US, "ARP request for an address that is not ours") \
	X(NEIGH_FAILED, "neighbour resolution failed") \
	X(NEIGH_QUEUEFULL, "neighbour pending queue full") \
	X(NEIGH_CREATEFAIL, "could not create a neighbour entry (table full)") \
	X(NEIGH_DEAD, "neighbour entry removed while packets waited") \
	X(IP_INHDR, "IPv4 header invalid (version, IHL, options)") \
	X(PKT_TOO_SMALL, "packet shorter than a length field says") \
	X(IP_CSUM, "IPv4 header checksum error") \
	X(IP_INVALID_SOURCE, "martian source address") \
	X(IP_LOCAL_SOURCE, "source address is one of ours") \
	X(IP_INVALID_DEST, "destination is not a valid unicast/broadcast address") \
	X(IP_INADDRERRORS, "destination not local and forwarding is off") \
	X(IP_INNOROUTES, "no route for the received packet") \
	X(IP_OUTNOROUTES, "no route for an outgoing packet") \
	X(IP_NOPROTO, "no handler for the IP protocol") \
	X(NETFILTER_DROP, "a netfilter hook dropped the packet") \
	X(ICMP_CSUM, "ICMP checksum error") \
	X(ICMP_TRUNCATED, "ICMP message shorter than 8 bytes") \
	X(ICMP_BROADCAST_ECHO, "echo to broadcast ignored (icmp_echo_ignore_broadcasts)") \
	X(ICMP_UNHANDLED, "ICMP type this host does not act on") \
	X(UDP_CSUM, "UDP checksum error") \
	X(UDP_BAD_LEN, "UDP length field invalid") \
	X(TCP_CSUM, "TCP checksum error") \
	X(TCP_HDR, "TCP header invalid") \
	X(TCP_FLAGS, "TCP flags invalid (SYN+FIN, SYN+RST, or none of SYN/ACK/RST)") \
	X(TCP_ZEROWINDOW, "TCP data arrived while the receive window was zero") \
	X(TCP_OLD_DATA, "TCP data already received (a spurious retransmission)") \
	X(TCP_OVERWINDOW, "TCP data beyond the receive window") \
	X(TCP_OFOMERGE, "TCP out-of-order data already held in the out-of-order queue") \
	X(TCP_OLD_SEQUENCE, "TCP segment entirely before RCV.NXT (duplicate)") \
	X(TCP_INVALID_SEQUENCE, "TCP segment outside the receive window") \
	X(TCP_RESET, "TCP RST not exactly at RCV.NXT (RFC 5961 3.2: challenge ACK or ignored)") \
	X(TCP_INVALID_SYN, "TCP SYN on a synchronized connection (RFC 5961 4.2)") \
	X(TCP_CLOSE, "TCP segment for a closed connection") \
	X(TCP_FIN, "TCP segment after the peer's FIN, or FIN in a state that ignores it") \
	X(TCP_OLD_ACK, "TCP ACK older than SND.UNA - MAX.SND.WND (RFC 5961 5.2)") \
	X(TCP_TOO_OLD_ACK, "TCP ACK too old to process") \
	X(TCP_ACK_UNSENT_DATA, "TCP ACK for data not yet sent (RFC 5961 5.2)") \
	X(TCP_NO_ACK, "TCP segment without ACK in a synchronized state") \
	X(TCP_OFO_QUEUE_PRUNE, "TCP out-of-order queue pruned for memory") \
	X(TCP_OFO_DROP, "TCP out-of-order segment dropped (queue caps or memory)") \
	X(TCP_LISTEN_OVERFLOW, "TCP accept queue full") \
	X(TCP_REQQFULLDROP, "TCP SYN queue full") \
	X(TCP_SYNCOOKIE_INVALID, "TCP ACK to a listener whose SYN cookie did not validate (RFC 4987 3.6)") \
	X(TCP_LISTEN_NOSYN, "TCP segment to a listener that is not a SYN") \
	X(TCP_TIMEWAIT, "TCP segment for a TIME_WAIT connection, answered or ignored") \
	X(TCP_ABORT_ON_DATA, "TCP data received after the socket was closed") \
	X(TCP_SYNSENT, "TCP segment unacceptable in SYN-SENT") \
	X(PROTO_MEM, "socket receive memory exhausted") \
	X(NO_SOCKET, "no socket for the packet") \
	X(SOCKET_RCVBUFF, "socket receive buffer full") \
	X(SOCKET_CLOSE, "socket closed with data queued") \
	X(STACK_SHUTDOWN, "stack or device destroyed with the packet queued") \
	X(DUP_FRAG, "fragment whose bytes reassembly already holds (duplicate)") \
	X(FRAG_REASM_TIMEOUT, "reassembly not complete within net.ipv4.ipfrag_time") \
	X(IP_FRAG_OVERLAP, "fragment partly overlaps queued data (RFC 5722): datagram discarded") \
	X(IP_FRAG_INVALID, "zero-length fragment, conflicting last fragment or data past the end") \
	X(IP_FRAG_TOO_MANY, "reassembly queue already holds its maximum number of fragments") \
	X(IP_FRAG_MEM_LIMIT, "reassembly memory over net.ipv4.ipfrag_high_thresh: oldest queues evicted") \
	X(IP_FORWARD_NOT_HOST, "packet to forward arrived as link-layer broadcast or multicast") \
	X(NF_CONNTRACK_FULL, "connection tracking table full (net.netfilter.nf_conntrack_max): new flow dropped")

enum np_drop_reason {
#define NP_DR_ENUM(name, desc) NP_DROP_##name,
	NP_DROP_REASON_LIST(NP_DR_ENUM)
#undef NP_DR_ENUM
	NP_DROP_MAX
};

/* Name as printed (e.g. "IP_CSUM"), or NULL if out of range. */
const char *np_drop_reason_name(int reason);
const char *np_drop_reason_desc(int reason);

#endif
