/*
 * libFuzzer target: the whole receive path from the driver entry point
 * (netif_receive_skb -> ARP / ip_rcv -> ICMP, UDP, TCP, reassembly) on a
 * stack that has a TCP listener (port 80), a bound UDP socket (port 53) and
 * a connected TCP socket, so every layer has somewhere to deliver to.
 * Input: one mode byte, then frames, each a 2-byte big-endian length and
 * that many bytes (a raw Ethernet frame).
 *   mode bit 0: recompute IP/TCP/UDP/ICMP checksums before injecting
 *               (mutations get past verification); clear: inject as is.
 *   mode bit 1: advance the clock 250 ms after each frame (timers run).
 *   mode bit 2: frames arrive CHECKSUM_UNNECESSARY (a NIC verified them):
 *               TCP and UDP checksum checks are off, mutations get through.
 * Our address 10.0.0.1 and MAC come from fuzz_common.h; the seed corpus
 * (tests/fuzz/corpus/fuzz_frame) holds real frames addressed to them.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "fuzz_common.h"
#include "netpath/socket.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	struct fz_env e;
	fz_setup(&e);
	/* Fixed MAC so corpus frames reach us: 02:00:00:00:00:01. */
	static const uint8_t mac[6] = { 0x02, 0, 0, 0, 0, 0x01 };
	memcpy(e.dev->dev_addr, mac, 6);

	int lfd = np_socket(e.s, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(80) };
	np_bind(lfd, (struct sockaddr *)&a, sizeof(a));
	np_listen(lfd, 8);
	int ufd = np_socket(e.s, AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	a.sin_port = htons(53);
	np_bind(ufd, (struct sockaddr *)&a, sizeof(a));
	int cfd = np_socket(e.s, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	struct sockaddr_in p = { .sin_family = AF_INET, .sin_port = htons(5000) };
	p.sin_addr.s_addr = htonl(FZ_PEER_IP);
	np_connect(cfd, (struct sockaddr *)&p, sizeof(p));
	fz_settle(&e);

	uint8_t mode = data[0];
	size_t off = 1;
	uint8_t f[2048];
	while (off + 2 <= size) {
		size_t len = be16_get(data + off);
		off += 2;
		if (len > size - off)
			len = size - off;
		if (len > sizeof(f))
			len = sizeof(f);
		memcpy(f, data + off, len);
		off += len;
		if (mode & 1)
			fz_fix_checksums(f, len);
		fz_inject_csum(&e, f, len, mode & 4);
		if (mode & 2)
			fz_advance(&e, 250);
		/* Drain what the sockets received, as an application would. */
		char b[2048];
		while (np_recv(ufd, b, sizeof(b), MSG_DONTWAIT) > 0)
			;
		int afd = np_accept(lfd, NULL, NULL);
		if (afd >= 0) {
			np_recv(afd, b, sizeof(b), MSG_DONTWAIT);
			np_close(afd);
		}
	}
	np_close(cfd);
	np_close(ufd);
	np_close(lfd);
	fz_teardown(&e);
	return 0;
}
