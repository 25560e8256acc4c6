#!/usr/bin/env python3
"""802.1Q peer for test_qdisc.sh: the kernel here has no 8021q module, so
scapy plays the tagged host on the TAP.

    vlan_peer.py IFACE NETPATH_MAC VID MY_IP NETPATH_IP [--expect-silence]

Sends, tagged with VID, an ARP request for NETPATH_IP and then four ICMP
echo requests (the last one of the full 1500-byte MTU), and sniffs netpath's answers on IFACE. Tagged ARP requests
from netpath for MY_IP are answered (tagged) so its echo replies can leave.
Prints one line per check; exit 0 when every answer came back tagged with
VID (or, with --expect-silence, when nothing at all came back for VID).
"""
import sys
import time

from scapy.all import ARP, ICMP, IP, AsyncSniffer, Dot1Q, Ether, conf, get_if_hwaddr, sendp  # noqa: E402

conf.verb = 0


def payload(seq):
    # The last echo fills the VLAN device's MTU: a 1500-byte IP packet in a 1518-byte tagged frame.
    return b"vlan-peer" * 4 if seq < 4 else bytes((i * 7) & 0xff for i in range(1472))


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    silence = "--expect-silence" in sys.argv
    iface, np_mac, vid, my_ip, np_ip = args[0], args[1].lower(), int(args[2]), args[3], args[4]
    my_mac = get_if_hwaddr(iface)
    seen = []

    def on_frame(p):
        if Ether not in p or p[Ether].src.lower() != np_mac:
            return
        seen.append(p)
        # netpath resolving us on the VLAN: answer tagged, as a VLAN host would.
        if Dot1Q in p and ARP in p and p[ARP].op == 1 and p[ARP].pdst == my_ip and p[Dot1Q].vlan == vid:
            sendp(Ether(dst=p[Ether].src, src=my_mac) / Dot1Q(vlan=vid) /
                  ARP(op=2, hwsrc=my_mac, psrc=my_ip, hwdst=p[ARP].hwsrc, pdst=p[ARP].psrc), iface=iface)

    sniffer = AsyncSniffer(iface=iface, prn=on_frame, store=False)
    sniffer.start()
    time.sleep(0.5)
    sendp(Ether(dst="ff:ff:ff:ff:ff:ff", src=my_mac) / Dot1Q(vlan=vid) /
          ARP(op=1, hwsrc=my_mac, psrc=my_ip, pdst=np_ip), iface=iface)
    time.sleep(0.5)
    for seq in range(1, 5):
        sendp(Ether(dst=np_mac, src=my_mac) / Dot1Q(vlan=vid, prio=0) /
              IP(src=my_ip, dst=np_ip) / ICMP(type=8, id=0x5151, seq=seq) / payload(seq), iface=iface)
        time.sleep(0.3)
    time.sleep(1.0)
    sniffer.stop()

    arp_replies = [p for p in seen if ARP in p and p[ARP].op == 2 and p[ARP].psrc == np_ip]
    echo_replies = [p for p in seen if ICMP in p and p[ICMP].type == 0 and p[ICMP].id == 0x5151]
    untagged = [p for p in arp_replies + echo_replies if Dot1Q not in p]
    wrong_vid = [p for p in arp_replies + echo_replies if Dot1Q in p and p[Dot1Q].vlan != vid]
    good_arp = [p for p in arp_replies if Dot1Q in p and p[Dot1Q].vlan == vid and p[ARP].hwsrc.lower() == np_mac]
    good_echo = sorted({p[ICMP].seq for p in echo_replies
                        if Dot1Q in p and p[Dot1Q].vlan == vid and p[IP].src == np_ip and p[IP].dst == my_ip
                        and bytes(p[ICMP].payload) == payload(p[ICMP].seq)})
    print(f"vid {vid}: {len(arp_replies)} ARP replies ({len(good_arp)} tagged {vid}), "
          f"{len(echo_replies)} echo replies (seqs tagged {vid}: {good_echo}), "
          f"{len(untagged)} untagged, {len(wrong_vid)} with another VID")
    if silence:
        ok = not arp_replies and not echo_replies
    else:
        ok = len(good_arp) >= 1 and good_echo == [1, 2, 3, 4] and not untagged and not wrong_vid
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
