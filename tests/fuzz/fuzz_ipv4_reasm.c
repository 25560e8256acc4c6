/*
 * libFuzzer target: IPv4 reassembly (ip_defrag, src/net/ipv4/ip_fragment.c)
 * fed sequences of fragments through the driver entry point, with clock
 * advances in between so reassembly timeouts (and ICMP time exceeded) run.
 * The datagrams are UDP to a bound port (checksum 0: not verified, so a
 * reassembled datagram reaches the socket whatever the fuzzer put in it);
 * IP header checksums are always made right by the harness.
 * Input: records of 6 bytes + data:
 *   op     bit 7 set: advance the clock by (op & 0x7f) * 500 ms; no more bytes.
 *          else a fragment: datagram id = op & 3, protocol UDP (op & 4: ICMP)
 *   off    2 bytes, the fragment offset field (units of 8 bytes, 13 bits)
 *   flags  bit 0 MF, bit 1 DF, bit 2 leave the IP checksum wrong
 *   len    2 bytes, data bytes (at most 1480), taken from the input
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "fuzz_common.h"
#include "netpath/socket.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_env e;
	fz_setup(&e);
	int ufd = np_socket(e.s, AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(53) };
	np_bind(ufd, (struct sockaddr *)&a, sizeof(a));

	size_t off = 0;
	uint8_t f[ETH_HLEN + IPV4_HLEN_MIN + 1480];
	while (off < size) {
		uint8_t op = data[off++];
		if (op & 0x80) {
			fz_advance(&e, (uint64_t)(op & 0x7f) * 500);
			continue;
		}
		if (size - off < 5)
			break;
		uint16_t fo = be16_get(data + off) & IP_OFFSET;
		uint8_t fl = data[off + 2];
		size_t len = be16_get(data + off + 3);
		off += 5;
		if (len > 1480)
			len = 1480;
		if (len > size - off)
			len = size - off;
		struct eth_repr eth = { .ethertype = ETH_P_IP };
		memcpy(eth.dst, e.dev->dev_addr, 6);
		memcpy(eth.src, fz_peer_mac, 6);
		eth_emit(&eth, f, ETH_HLEN);
		struct ipv4_repr ip = {
			.tot_len = (uint16_t)(IPV4_HLEN_MIN + len),
			.id = (uint16_t)(0x100 + (op & 3)),
			.frag_off = (uint16_t)(fo | ((fl & 1) ? IP_MF : 0) | ((fl & 2) ? IP_DF : 0)),
			.ttl = 64,
			.protocol = (op & 4) ? IPPROTO_ICMP_ : IPPROTO_UDP_,
			.saddr = FZ_PEER_IP,
			.daddr = FZ_OUR_IP,
		};
		ipv4_emit(&ip, f + ETH_HLEN, IPV4_HLEN_MIN);
		uint8_t *l4 = f + ETH_HLEN + IPV4_HLEN_MIN;
		memcpy(l4, data + off, len);
		off += len;
		if (fo == 0 && !(op & 4) && len >= 8) {
			be16_put(l4 + 2, 53);   /* to the bound port */
			be16_put(l4 + 6, 0);    /* no UDP checksum */
		}
		if (fl & 4)
			f[ETH_HLEN + 10] ^= 0xff;
		fz_inject(&e, f, ETH_HLEN + IPV4_HLEN_MIN + len);
		char b[2048];
		while (np_recv(ufd, b, sizeof(b), MSG_DONTWAIT) > 0)
			;
	}
	/* Every queue left must time out cleanly. */
	fz_advance(&e, 60000);
	np_close(ufd);
	fz_teardown(&e);
	return 0;
}
