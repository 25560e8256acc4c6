/*
 * SNMP-style counters named as Linux names them in /proc/net/snmp and
 * /proc/net/netstat (what `nstat` prints), plus the neighbour-cache
 * statistics of /proc/net/stat/arp_cache.
 */
#ifndef NETPATH_MIB_H
#define NETPATH_MIB_H

/* X(group, name): printed as group##name, e.g. IpInReceives. */
#define NP_MIB_LIST(X) \
	X(Ip, InReceives) X(Ip, InHdrErrors) X(Ip, InAddrErrors) X(Ip, ForwDatagrams) \
	X(Ip, InUnknownProtos) X(Ip, InDiscards) X(Ip, InDelivers) X(Ip, OutRequests) \
	X(Ip, OutDiscards) X(Ip, OutNoRoutes) X(Ip, ReasmTimeout) X(Ip, ReasmReqds) \
	X(Ip, ReasmOKs) X(Ip, ReasmFails) X(Ip, FragOKs) X(Ip, FragFails) X(Ip, FragCreates) \
	X(IpExt, InNoRoutes) X(IpExt, InTruncatedPkts) X(IpExt, InMcastPkts) X(IpExt, InBcastPkts) \
	X(IpExt, InOctets) X(IpExt, OutOctets) X(IpExt, InCsumErrors) X(IpExt, InMartians) \
	X(IpExt, ReasmOverlaps) \
	X(Icmp, InMsgs) X(Icmp, InErrors) X(Icmp, InCsumErrors) X(Icmp, InDestUnreachs) \
	X(Icmp, InTimeExcds) X(Icmp, InParmProbs) X(Icmp, InRedirects) X(Icmp, InEchos) \
	X(Icmp, InEchoReps) X(Icmp, OutMsgs) X(Icmp, OutErrors) X(Icmp, OutDestUnreachs) \
	X(Icmp, OutTimeExcds) X(Icmp, OutEchos) X(Icmp, OutEchoReps) X(Icmp, OutRateLimitGlobal) \
	X(Udp, InDatagrams) X(Udp, NoPorts) X(Udp, InErrors) X(Udp, OutDatagrams) \
	X(Udp, RcvbufErrors) X(Udp, SndbufErrors) X(Udp, InCsumErrors) \
	X(Tcp, ActiveOpens) X(Tcp, PassiveOpens) X(Tcp, AttemptFails) X(Tcp, EstabResets) \
	X(Tcp, CurrEstab) X(Tcp, InSegs) X(Tcp, OutSegs) X(Tcp, RetransSegs) X(Tcp, InErrs) \
	X(Tcp, OutRsts) X(Tcp, InCsumErrors) \
	X(TcpExt, EmbryonicRsts) X(TcpExt, TW) X(TcpExt, DelayedACKs) X(TcpExt, ListenOverflows) \
	X(TcpExt, ListenDrops) X(TcpExt, TCPRenoRecovery) X(TcpExt, TCPTimeouts) X(TcpExt, TCPFastRetrans) \
	X(TcpExt, TCPSlowStartRetrans) X(TcpExt, TCPAbortOnData) X(TcpExt, TCPAbortOnClose) \
	X(TcpExt, TCPAbortOnTimeout) X(TcpExt, TCPAbortOnLinger) X(TcpExt, TCPBacklogDrop) \
	X(TcpExt, TCPRcvQDrop) X(TcpExt, TCPZeroWindowDrop) X(TcpExt, TCPOFOQueue) X(TcpExt, TCPOFODrop) \
	X(TcpExt, TCPOFOMerge) X(TcpExt, OfoPruned) X(TcpExt, TCPChallengeACK) X(TcpExt, TCPSYNChallenge) \
	X(TcpExt, TCPACKSkippedSeq) X(TcpExt, TCPACKSkippedChallenge) X(TcpExt, TCPACKSkippedTimeWait) \
	X(TcpExt, TCPSynRetrans) X(TcpExt, TCPWinProbe) X(TcpExt, TCPKeepAlive) X(TcpExt, TCPTimeWaitOverflow) \
	X(TcpExt, OutOfWindowIcmps) X(TcpExt, TCPReqQFullDrop) X(TcpExt, TCPOrigDataSent) \
	X(TcpExt, TCPRetransFail) X(TcpExt, TCPPureAcks) X(TcpExt, TCPToZeroWindowAdv) \
	X(TcpExt, TCPFromZeroWindowAdv) X(TcpExt, TCPWantZeroWindowAdv) X(TcpExt, TCPLossUndo) \
	X(TcpExt, SyncookiesSent) X(TcpExt, SyncookiesRecv) X(TcpExt, SyncookiesFailed) \
	X(TcpExt, TCPReqQFullDoCookies) \
	X(ArpCache, Allocs) X(ArpCache, Destroys) X(ArpCache, Lookups) X(ArpCache, Hits) \
	X(ArpCache, ResFailed) X(ArpCache, RcvProbesUcast) X(ArpCache, RcvProbesMcast) \
	X(ArpCache, UnresolvedDiscards) X(ArpCache, TableFulls) X(ArpCache, ForcedGcRuns)

enum np_mib_field {
#define NP_MIB_ENUM(group, name) NP_MIB_##group##name,
	NP_MIB_LIST(NP_MIB_ENUM)
#undef NP_MIB_ENUM
	NP_MIB_MAX
};

/* "IpInReceives" for NP_MIB_IpInReceives, NULL if out of range. */
const char *np_mib_name(int field);

#endif
