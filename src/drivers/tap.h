/*
 * The TAP driver's virtio-net header handling (Linux's
 * include/linux/virtio_net.h virtio_net_hdr_to_skb / virtio_net_hdr_from_skb),
 * shared by tap.c and its unit tests.
 * Place in the packet path: tap_poll reads [virtio_net_hdr][frame] ->
 *   virtio_net_hdr_to_skb (GSO super-frame, CHECKSUM_PARTIAL or vouched-for
 *   checksum, or a counted drop) -> napi_gro_receive;
 *   tap_xmit: virtio_net_hdr_from_skb -> writev([hdr][frame]).
 */
#ifndef NP_DRIVERS_TAP_H
#define NP_DRIVERS_TAP_H

#include <linux/virtio_net.h>

#include "core/skbuff.h"

/*
 * Applies the header the kernel wrote in front of the frame in skb (data at
 * the Ethernet header): offload metadata on success (0); on a header that
 * does not describe this frame, -EINVAL with *why naming the drop (the
 * caller frees): VNET_HDR_BAD_GSO (gso_size 0, unknown gso_type),
 * VNET_HDR_BAD_LEN (hdr_len past the frame), VNET_HDR_BAD_CSUM
 * (csum_start/csum_offset past the frame).
 */
int virtio_net_hdr_to_skb(struct sk_buff *skb, const struct virtio_net_hdr *h, enum np_drop_reason *why);
/* Fills h for skb (data at the Ethernet header): GSO and NEEDS_CSUM as the skb asks; 0 or -EINVAL. */
int virtio_net_hdr_from_skb(const struct sk_buff *skb, struct virtio_net_hdr *h);

#endif
