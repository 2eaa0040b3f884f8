// SPDX-License-Identifier: (MIT OR Apache-2.0)
//
// ferroute's traffic generator program, run by the kernel itself through
// BPF_PROG_RUN in live-frames mode (BPF_F_TEST_XDP_LIVE_FRAMES, Linux >=
// 5.18), as xdp-trafficgen does: user space hands the kernel one template
// frame and a repeat count; the kernel runs this program on a page-pool copy
// of the template per repetition and transmits whatever it redirects. No skb
// and no system call per frame.
//
// The kernel recycles the page-pool pages without resetting their bytes, and
// whoever handled a frame downstream may have rewritten its headers (a
// router rewrites the MACs and decrements the TTL in place; an XDP program
// on a veth peer works on this very page). So per frame the program first
// restores the headers (Ethernet to UDP) from `headers`, then picks the next
// flow (UDP source port base_port + seq % flows), patches the port and the
// UDP checksum (RFC 1624) so every frame leaves with valid checksums,
// counts it and redirects it out of `ifindex`. The payload is left alone.
//
// User space also parks this program on `lo` so the kernel's XDP dispatcher
// keeps it between runs (see gen.rs); there it must do nothing. Generated
// frames carry a few bytes of XDP metadata, received frames none: frames
// without metadata pass untouched.
//
// User space (src/io/xdp/gen.rs) sets the read-only configuration before
// loading and reads `counters`; keep both in step.

#include <linux/bpf.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#define MAX_HEADERS 64
#define IPV4_HEADERS 42 /* Ethernet 14 + IPv4 20 + UDP 8 */
#define IPV6_HEADERS 62 /* Ethernet 14 + IPv6 40 + UDP 8 */

/* The headers of flow 0, set by user space before loading. */
__u8 headers[MAX_HEADERS];

/* Set by user space before the program is loaded. */
const volatile __u32 ifindex = 0;
const volatile __u32 flows = 1;
const volatile __u16 base_port = 1024;
/* Offset of the UDP header: 34 (IPv4) or 54 (IPv6). */
const volatile __u32 udp_offset = 34;
/* IPv4 UDP may carry "no checksum" (0); IPv6 UDP must not. */
const volatile __u8 checksum_zero_is_none = 1;

enum counter {
	C_GENERATED = 0,
	C_TRUNCATED,
	C_COUNT,
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, C_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

/* RFC 1624 eqn. 3 on network-order words (one's complement sums do not
 * depend on the byte order, as long as all words share it). */
static __always_inline __u16 checksum_replace(__u16 check, __u16 old_word, __u16 new_word)
{
	__u32 sum = (__u16)~check + (__u16)~old_word + (__u32)new_word;

	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

SEC("xdp")
int ferroute_gen(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 slot = C_GENERATED;
	__u64 *generated = bpf_map_lookup_elem(&counters, &slot);
	__u16 *udp;
	__u16 old_port, new_port, check;
	__u64 seq;

	if (!generated)
		return XDP_ABORTED;
	/* Only frames of a BPF_PROG_RUN carry metadata (see gen.rs): the
	 * program may also sit on an interface, where it must do nothing. */
	if (ctx->data_meta >= ctx->data)
		return XDP_PASS;
	/* udp_offset is constant after loading: one branch survives. */
	if (udp_offset == IPV6_HEADERS - 8) {
		if (data + IPV6_HEADERS > data_end)
			goto truncated;
		__builtin_memcpy(data, headers, IPV6_HEADERS);
		udp = data + IPV6_HEADERS - 8;
	} else {
		if (data + IPV4_HEADERS > data_end)
			goto truncated;
		__builtin_memcpy(data, headers, IPV4_HEADERS);
		udp = data + IPV4_HEADERS - 8;
	}
	seq = *generated;
	*generated = seq + 1; /* per-CPU slot: no atomic needed */
	if (flows > 1) {
		new_port = bpf_htons(base_port + (__u16)(seq % flows));
		old_port = udp[0];
		if (old_port != new_port) {
			udp[0] = new_port;
			check = udp[3];
			if (check != 0 || !checksum_zero_is_none) {
				check = checksum_replace(check, old_port, new_port);
				/* A computed 0 is sent as 0xffff (RFC 768). */
				udp[3] = check ? check : 0xffff;
			}
		}
	}
	return bpf_redirect(ifindex, 0);

truncated:
	slot = C_TRUNCATED;
	generated = bpf_map_lookup_elem(&counters, &slot);
	if (generated)
		*generated += 1;
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
