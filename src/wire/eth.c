/*
 * Ethernet II and 802.1Q tag parse/emit.
 * Place in the packet path: driver rx -> netif_receive_skb (eth_type_trans
 * reads the header, vlan untag) and neigh_resolve_output / dev_hard_header
 * (writes it) -> dev_queue_xmit.
 */
#include <stdio.h>
#include <string.h>

#include "eth.h"

int eth_parse(const uint8_t *buf, size_t len, struct eth_repr *r)
{
	if (len < ETH_HLEN)
		return -WIRE_ETRUNC;
	memcpy(r->dst, buf, ETH_ALEN);
	memcpy(r->src, buf + 6, ETH_ALEN);
	r->ethertype = be16_get(buf + 12);
	return 0;
}

size_t eth_emit(const struct eth_repr *r, uint8_t *buf, size_t cap)
{
	if (cap < ETH_HLEN)
		return 0;
	memcpy(buf, r->dst, ETH_ALEN);
	memcpy(buf + 6, r->src, ETH_ALEN);
	be16_put(buf + 12, r->ethertype);
	return ETH_HLEN;
}

/* IEEE 802.1Q tag control information: PCP(3) | DEI(1) | VID(12). */
int vlan_parse(const uint8_t *buf, size_t len, struct vlan_repr *r)
{
	if (len < VLAN_HLEN)
		return -WIRE_ETRUNC;
	uint16_t tci = be16_get(buf);
	r->pcp = (uint8_t)(tci >> 13);
	r->dei = (uint8_t)((tci >> 12) & 1);
	r->vid = tci & 0x0fff;
	r->ethertype = be16_get(buf + 2);
	return 0;
}

/* Refuses fields the 16-bit TCI cannot hold rather than truncating them silently. */
size_t vlan_emit(const struct vlan_repr *r, uint8_t *buf, size_t cap)
{
	if (cap < VLAN_HLEN || r->pcp > 7 || r->dei > 1 || r->vid > 0x0fff)
		return 0;
	be16_put(buf, (uint16_t)((r->pcp << 13) | (r->dei << 12) | r->vid));
	be16_put(buf + 2, r->ethertype);
	return VLAN_HLEN;
}

char *eth_ntoa(const uint8_t *a, char *out)
{
	snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", a[0], a[1], a[2], a[3], a[4], a[5]);
	return out;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Six groups of one or two hex digits joined by ':', as `ip link` accepts; nothing after. */
int eth_aton(const char *s, uint8_t *a)
{
	uint8_t out[ETH_ALEN];

	if (!s)
		return -WIRE_EFIELD;
	for (int i = 0; i < ETH_ALEN; i++) {
		int hi = hexval(*s);
		if (hi < 0)
			return -WIRE_EFIELD;
		s++;
		int lo = hexval(*s);
		if (lo >= 0) {
			hi = hi * 16 + lo;
			s++;
		}
		out[i] = (uint8_t)hi;
		if (i < ETH_ALEN - 1) {
			if (*s != ':')
				return -WIRE_EFIELD;
			s++;
		}
	}
	if (*s != '\0')
		return -WIRE_EFIELD;
	memcpy(a, out, ETH_ALEN);
	return 0;
}
