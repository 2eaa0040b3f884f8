// SPDX-License-Identifier: (MIT OR Apache-2.0)
//
// ferroute's XDP program: the split between the router's data plane and the
// kernel. Transit IPv4/IPv6 frames addressed to the port's MAC go to the
// AF_XDP socket of (port, rx queue); everything the kernel must see stays in
// the kernel (XDP_PASS): ARP, IPv6 neighbour discovery, frames for the
// router's own addresses, link-local and group traffic, VLAN tags (on links
// without sub-interfaces) and anything not IP. Each decision is counted per
// CPU.
//
// On a link with VLAN sub-interfaces (`PORT_HAS_VLANS`), a tagged frame is
// judged as arriving on its sub-interface (`vlans`, by link and VLAN id: the
// sub-interface's MAC, the link's sockets): transit frames go to the link's socket (the worker
// pops the tag); what is for the router goes to the kernel, where ferroute's
// punt socket on the link hands it, untagged, to the sub-interface's TAP.
// Frames of a VLAN the link does not serve, 802.1ad and stacked tags go to
// the socket too, so the worker counts them (vlan_unknown, vlan_stacked).
//
// The user-space side (src/io/xdp/program.rs) mirrors the map layouts and
// counter indices below; keep both in step.

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/in6.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#define MAX_PORTS 64
#define MAX_QUEUES 64
#define MAX_LOCAL_ADDRESSES 1024

#define ETH_P_8021AD_ 0x88A8
#define VLAN_IDS 4096
/* port_info.flags: the link carries VLAN sub-interfaces; (in `vlans`) the
 * entry is a sub-interface. */
#define PORT_HAS_VLANS 1
#define VLAN_SERVED 2
/* port_info.flags: (in `port_slots`) the slot is a port. */
#define PORT_PRESENT 4
#define PORT_SLOTS 4096
#define LOCAL_FILTER_WORDS 1024 /* 65,536 bits: a 16-bit fold */

#define IPPROTO_ICMPV6_ 58
#define ND_ROUTER_SOLICIT 133
#define ND_REDIRECT 137

/* What the XDP program knows of a port, keyed by ifindex (or of a VLAN
 * sub-interface, keyed by link and VLAN id: then port_index is its link's,
 * whose sockets carry its frames, and mac its own). */
struct port_info {
	__u32 port_index;
	__u8 mac[ETH_ALEN];
	__u8 flags;
	__u8 pad;
};

struct vlan_tag {
	__be16 tci;
	__be16 encapsulated;
};

/* Counter slots (indices into `counters`). */
enum counter {
	C_REDIRECTED = 0,
	C_PASSED_ARP,
	C_PASSED_ND,
	C_PASSED_LOCAL,
	C_PASSED_GROUP,
	C_PASSED_NOT_IP,
	C_PASSED_NO_SOCKET,
	C_PASSED_NOT_OUR_MAC,
	C_PASSED_LINK_LOCAL,
	C_PASSED_VLAN,
	C_PASSED_UNKNOWN_PORT,
	C_PASSED_TRUNCATED,
	C_COUNT,
};

/* key = port_index * MAX_QUEUES + rx_queue → AF_XDP socket. */
struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, MAX_PORTS * MAX_QUEUES);
	__type(key, __u32);
	__type(value, __u32);
} xsks SEC(".maps");

/* Ports by ifindex: a direct array for the indexes below PORT_SLOTS (every
 * interface of a namespace but the thousands-th; an entry is a port when
 * PORT_PRESENT is set), a hash for the others. The array's lookup is
 * inlined by the verifier, where a hash lookup is a call, a hash and a
 * bucket walk: ~20 ns per frame in test mode (`tests/xdp_vlan.rs`). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PORT_SLOTS);
	__type(key, __u32);
	__type(value, struct port_info);
} port_slots SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_PORTS);
	__type(key, __u32);
	__type(value, struct port_info);
} ports SEC(".maps");

/* VLAN sub-interfaces: key = link port_index * VLAN_IDS + VLAN id → the
 * sub-interface (flags VLAN_SERVED; a direct array, as the pipeline's
 * table: no hashing on the per-frame path). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_PORTS * VLAN_IDS);
	__type(key, __u32);
	__type(value, struct port_info);
} vlans SEC(".maps");

/* The router's own IPv4 addresses (network byte order). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_LOCAL_ADDRESSES);
	__type(key, __u32);
	__type(value, __u8);
} local_v4 SEC(".maps");

/* The router's own IPv6 addresses. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_LOCAL_ADDRESSES);
	__type(key, struct in6_addr);
	__type(value, __u8);
} local_v6 SEC(".maps");

/* A filter in front of the two hashes of local addresses: bit
 * local_fold(address) is set for each of the router's addresses, so a
 * transit frame (bit clear, nearly always) is told by one inlined array
 * read instead of a hash lookup; a set bit is confirmed in the hash. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, LOCAL_FILTER_WORDS);
	__type(key, __u32);
	__type(value, __u64);
} local_filter SEC(".maps");

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

/* Whether bit `fold` of the local-address filter is set. */
static __always_inline int maybe_local(__u32 fold)
{
	__u32 word = fold >> 6;
	__u64 *bits = bpf_map_lookup_elem(&local_filter, &word);

	return bits && ((*bits >> (fold & 63)) & 1);
}

/* An address's bit in the filter: the XOR of its 16-bit big-endian words
 * (src/io/xdp/program.rs: `local_fold`, the same). */
static __always_inline __u32 local_fold(const __u8 *a, int len)
{
	__u32 fold = 0;

#pragma unroll
	for (int i = 0; i < 16; i += 2)
		if (i < len)
			fold ^= ((__u32)a[i] << 8) | a[i + 1];
	return fold;
}

static __always_inline struct port_info *port_of(__u32 ifindex)
{
	struct port_info *port;

	if (ifindex < PORT_SLOTS) {
		port = bpf_map_lookup_elem(&port_slots, &ifindex);
		return port && (port->flags & PORT_PRESENT) ? port : 0;
	}
	return bpf_map_lookup_elem(&ports, &ifindex);
}

static __always_inline int mac_equal(const __u8 *a, const __u8 *b)
{
	return ((a[0] ^ b[0]) | (a[1] ^ b[1]) | (a[2] ^ b[2]) | (a[3] ^ b[3]) |
		(a[4] ^ b[4]) | (a[5] ^ b[5])) == 0;
}

/* Is this IPv6 packet neighbour discovery (ICMPv6 133..137)? Looks directly
 * after the fixed header and behind up to two hop-by-hop / destination
 * options / routing headers (ND never carries a fragment header). */
static __always_inline int is_neighbour_discovery(struct ipv6hdr *ip6, void *data_end)
{
	__u8 next = ip6->nexthdr;
	__u8 *cursor = (__u8 *)(ip6 + 1);

#pragma unroll
	for (int i = 0; i < 2; i++) {
		if (next != IPPROTO_HOPOPTS && next != IPPROTO_DSTOPTS && next != IPPROTO_ROUTING)
			break;
		if (cursor + 2 > (__u8 *)data_end)
			return 0;
		next = cursor[0];
		cursor += ((__u32)cursor[1] + 1) * 8;
	}
	if (next != IPPROTO_ICMPV6_)
		return 0;
	if (cursor + 1 > (__u8 *)data_end)
		return 0;
	return cursor[0] >= ND_ROUTER_SOLICIT && cursor[0] <= ND_REDIRECT;
}

static __always_inline int to_socket(struct xdp_md *ctx, const struct port_info *port)
{
	__u32 queue = ctx->rx_queue_index;
	__u32 key;

	if (queue >= MAX_QUEUES)
		return count(C_PASSED_NO_SOCKET, XDP_PASS);
	key = port->port_index * MAX_QUEUES + queue;
	/* The low bits of the flags are the action when the slot is empty. */
	if (bpf_redirect_map(&xsks, key, XDP_PASS) == XDP_REDIRECT)
		return count(C_REDIRECTED, XDP_REDIRECT);
	return count(C_PASSED_NO_SOCKET, XDP_PASS);
}

/* The verdict for a frame with destination MAC `dest`, network protocol
 * `proto` and network header at `l3`, on the interface `port` (a link, or a
 * VLAN sub-interface whose tag was looked past). */
static __always_inline int classify(struct xdp_md *ctx, const struct port_info *port,
				    const __u8 *dest, __u16 proto, void *l3, void *data_end)
{
	if (dest[0] & 1)
		return count(C_PASSED_GROUP, XDP_PASS);
	if (!mac_equal(dest, port->mac))
		return count(C_PASSED_NOT_OUR_MAC, XDP_PASS);

	if (proto == ETH_P_IP) {
		struct iphdr *ip = l3;
		__u32 daddr;

		if ((void *)(ip + 1) > data_end)
			return count(C_PASSED_TRUNCATED, XDP_PASS);
		daddr = ip->daddr;
		if (maybe_local(local_fold((const __u8 *)&ip->daddr, 4)) &&
		    bpf_map_lookup_elem(&local_v4, &daddr))
			return count(C_PASSED_LOCAL, XDP_PASS);
		return to_socket(ctx, port);
	}
	if (proto == ETH_P_IPV6) {
		struct ipv6hdr *ip6 = l3;
		struct in6_addr daddr;

		if ((void *)(ip6 + 1) > data_end)
			return count(C_PASSED_TRUNCATED, XDP_PASS);
		if (is_neighbour_discovery(ip6, data_end))
			return count(C_PASSED_ND, XDP_PASS);
		/* fe80::/10 never leaves its link. */
		if (ip6->daddr.in6_u.u6_addr8[0] == 0xfe &&
		    (ip6->daddr.in6_u.u6_addr8[1] & 0xc0) == 0x80)
			return count(C_PASSED_LINK_LOCAL, XDP_PASS);
		__builtin_memcpy(&daddr, &ip6->daddr, sizeof(daddr));
		if (maybe_local(local_fold(daddr.in6_u.u6_addr8, 16)) &&
		    bpf_map_lookup_elem(&local_v6, &daddr))
			return count(C_PASSED_LOCAL, XDP_PASS);
		return to_socket(ctx, port);
	}
	if (proto == ETH_P_ARP)
		return count(C_PASSED_ARP, XDP_PASS);
	if (proto == ETH_P_8021Q || proto == ETH_P_8021AD_)
		return count(C_PASSED_VLAN, XDP_PASS);
	return count(C_PASSED_NOT_IP, XDP_PASS);
}

/* A tagged frame on a link with sub-interfaces: judged on its VLAN's
 * sub-interface. What the pipeline refuses (unknown VLANs, 802.1ad, stacked
 * or cut tags) goes to the link's socket, where the worker counts it. */
static __always_inline int tagged(struct xdp_md *ctx, const struct port_info *link,
				  struct ethhdr *eth, __u16 proto, void *data_end)
{
	struct vlan_tag *tag = (void *)(eth + 1);
	struct port_info *sub;
	__u32 vid, key;
	__u16 inner;

	if ((void *)(tag + 1) > data_end)
		return to_socket(ctx, link);
	inner = bpf_ntohs(tag->encapsulated);
	if (proto == ETH_P_8021AD_ || inner == ETH_P_8021Q || inner == ETH_P_8021AD_)
		return to_socket(ctx, link);
	vid = bpf_ntohs(tag->tci) & 0xfff;
	/* VLAN 0 is priority-tagged traffic of the link itself. */
	if (vid == 0)
		return classify(ctx, link, eth->h_dest, inner, tag + 1, data_end);
	key = link->port_index * VLAN_IDS + vid;
	sub = bpf_map_lookup_elem(&vlans, &key);
	if (!sub || !(sub->flags & VLAN_SERVED))
		return to_socket(ctx, link);
	return classify(ctx, sub, eth->h_dest, inner, tag + 1, data_end);
}

SEC("xdp")
int ferroute_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 ifindex = ctx->ingress_ifindex;
	struct port_info *port;
	struct ethhdr *eth = data;
	__u16 proto;

	port = port_of(ifindex);
	if (!port)
		return count(C_PASSED_UNKNOWN_PORT, XDP_PASS);
	if ((void *)(eth + 1) > data_end)
		return count(C_PASSED_TRUNCATED, XDP_PASS);
	proto = bpf_ntohs(eth->h_proto);
	if ((port->flags & PORT_HAS_VLANS) && (proto == ETH_P_8021Q || proto == ETH_P_8021AD_))
		return tagged(ctx, port, eth, proto, data_end);
	return classify(ctx, port, eth->h_dest, proto, eth + 1, data_end);
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
