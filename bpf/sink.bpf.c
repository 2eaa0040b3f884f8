// SPDX-License-Identifier: (MIT OR Apache-2.0)
//
// ferroute's benchmark sink: counts every frame (per CPU, packets and bytes)
// and drops it, except the hosts' own chatter, which goes to the kernel
// uncounted: frames to a group (broadcast/multicast) MAC, ARP, and ICMPv6
// (neighbour discovery; MLD behind its hop-by-hop header). So the host
// running the sink still resolves addresses, and a benchmark counts only
// the traffic it sent. Attached by `ferroute sink` (src/io/xdp/sink.rs
// mirrors the counter slots).

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/in6.h>
#include <linux/ipv6.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#define IPPROTO_ICMPV6_ 58

enum counter {
	C_DROPPED_PACKETS = 0,
	C_DROPPED_BYTES,
	C_PASSED_PACKETS,
	C_COUNT,
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, C_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

static __always_inline void add(__u32 slot, __u64 amount)
{
	__u64 *value = bpf_map_lookup_elem(&counters, &slot);

	if (value)
		*value += amount; /* per-CPU slot: no atomic needed */
}

/* IPv6 carrying ICMPv6, directly or behind one hop-by-hop or destination
 * options header (as MLD does). */
static __always_inline int is_icmpv6(void *l3, __u16 proto, void *data_end)
{
	struct ipv6hdr *ip6 = l3;
	__u8 *ext = (__u8 *)(ip6 + 1);

	if (proto != ETH_P_IPV6 || (void *)(ip6 + 1) > data_end)
		return 0;
	if (ip6->nexthdr == IPPROTO_ICMPV6_)
		return 1;
	if (ip6->nexthdr != IPPROTO_HOPOPTS && ip6->nexthdr != IPPROTO_DSTOPTS)
		return 0;
	if ((void *)(ext + 1) > data_end)
		return 0;
	return ext[0] == IPPROTO_ICMPV6_;
}

SEC("xdp")
int ferroute_sink(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) <= data_end) {
		__u16 proto = bpf_ntohs(eth->h_proto);

		if ((eth->h_dest[0] & 1) || proto == ETH_P_ARP || is_icmpv6(eth + 1, proto, data_end)) {
			add(C_PASSED_PACKETS, 1);
			return XDP_PASS;
		}
	}
	add(C_DROPPED_PACKETS, 1);
	add(C_DROPPED_BYTES, (__u64)(data_end - data));
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
