// SPDX-License-Identifier: (MIT OR Apache-2.0)
//
// The upper bound of the forwarding benchmark: a blind XDP forwarder. Every
// unicast IPv4/IPv6 frame arriving on the interface it is attached to gets
// the egress Ethernet addresses and leaves through the one interface in
// `egress` (a devmap, so transmission is batched per NAPI poll); anything
// else (group-addressed frames such as the hosts' MLD reports, ARP, ...)
// goes to the kernel. No lookup, no TTL, no checks: what a router
// cannot beat on the same path. Attached by the hidden `ferroute
// bench-redirect` (src/io/xdp/redirect.rs mirrors the slots).

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

/* Set by user space before the program is loaded. */
const volatile __u8 dst_mac[ETH_ALEN] = {};
const volatile __u8 src_mac[ETH_ALEN] = {};

enum counter {
	C_REDIRECTED = 0,
	C_PASSED,
	C_COUNT,
};

struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} egress SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, C_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

static __always_inline int count(__u32 slot, int action)
{
	__u64 *value = bpf_map_lookup_elem(&counters, &slot);

	if (value)
		*value += 1; /* per-CPU slot: no atomic needed */
	return action;
}

SEC("xdp")
int ferroute_redirect(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	__u16 proto;
	long action;

	if ((void *)(eth + 1) > data_end)
		return count(C_PASSED, XDP_PASS);
	proto = bpf_ntohs(eth->h_proto);
	if ((eth->h_dest[0] & 1) || (proto != ETH_P_IP && proto != ETH_P_IPV6))
		return count(C_PASSED, XDP_PASS);
#pragma unroll
	for (int i = 0; i < ETH_ALEN; i++) {
		eth->h_dest[i] = dst_mac[i];
		eth->h_source[i] = src_mac[i];
	}
	action = bpf_redirect_map(&egress, 0, XDP_PASS);
	return count(action == XDP_REDIRECT ? C_REDIRECTED : C_PASSED, action);
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
