//! Why frames were not forwarded, and the per-worker counters.

use serde::{Deserialize, Serialize};

macro_rules! drop_reasons {
    ($($variant:ident => $name:literal, $doc:literal;)*) => {
        /// The one reason a frame was not forwarded.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum DropReason {
            $(#[doc = $doc] $variant,)*
        }

        impl DropReason {
            /// Every reason, in counter order.
            pub const ALL: &'static [DropReason] = &[$(DropReason::$variant,)*];
            pub const COUNT: usize = Self::ALL.len();

            /// The counter's name (snake_case, stable: scripts read it).
            pub fn name(self) -> &'static str {
                match self { $(DropReason::$variant => $name,)* }
            }

            pub fn description(self) -> &'static str {
                match self { $(DropReason::$variant => $doc,)* }
            }
        }
    };
}

drop_reasons! {
    UnknownPort => "unknown_port", "ingress port not in the port table";
    NotOurMac => "not_our_mac", "unicast frame for another station's MAC";
    L2Multicast => "l2_multicast", "broadcast/multicast frame the router does not handle";
    VlanUnknown => "vlan_unknown", "802.1Q tag of a VLAN no sub-interface of the link has";
    VlanUntagged => "vlan_untagged", "untagged frame on a link with only sub-interfaces";
    VlanStacked => "vlan_stacked", "802.1ad service tag or stacked 802.1Q tags (not supported)";
    NoHeadroom => "no_headroom", "no room before the frame to push an 802.1Q tag";
    UnsupportedEthertype => "unsupported_ethertype", "neither IPv4, IPv6 nor ARP";
    Truncated => "truncated", "frame ends before the header or packet does";
    BadVersion => "bad_version", "IP version does not match the EtherType";
    BadHeaderLength => "bad_header_length", "IPv4 IHL below 5";
    BadTotalLength => "bad_total_length", "IP length field inconsistent";
    BadChecksum => "bad_checksum", "IPv4 header checksum wrong";
    BadOptions => "bad_options", "malformed IPv4 options (answered with ICMP parameter problem)";
    SourceRoute => "source_route", "IPv4 loose/strict source route (RFC 7126; see accept_source_route)";
    BadExtensionHeader => "bad_extension_header", "malformed IPv6 extension-header chain";
    MartianSource => "martian_source", "source address that must never be routed";
    MartianDestination => "martian_destination", "destination address that must never be routed";
    MulticastDestination => "multicast_destination", "multicast destination (not forwarded)";
    LinkLocal => "link_local", "IPv6 link-local source on a packet to another link";
    TtlExpired => "ttl_expired", "TTL or hop limit would reach zero";
    NoRoute => "no_route", "no matching route";
    NeighborUnresolved => "neighbor_unresolved", "next hop has no neighbour (MAC) entry";
    MtuDf => "mtu_df", "IPv4 larger than the egress MTU with DF set";
    PacketTooBig => "packet_too_big", "IPv6 larger than the egress MTU";
    BadFragment => "bad_fragment", "fragment reaching past 65535 bytes";
    NoBuffer => "no_buffer", "no transmit buffer for a fragment";
    BlackholeRoute => "blackhole_route", "matched a blackhole route (silent drop)";
    UnreachableRoute => "unreachable_route", "matched an unreachable route (ICMP host unreachable / no route)";
    ProhibitRoute => "prohibit_route", "matched a prohibit route (ICMP administratively prohibited)";
    UrpfStrict => "urpf_strict", "source not routed back through the ingress port (uRPF strict, RFC 3704)";
    UrpfLoose => "urpf_loose", "source without a route other than the default or a discard route (uRPF loose)";
    AclInDeny => "acl_in_deny", "denied by the ingress port's ACL";
    AclInReject => "acl_in_reject", "rejected by the ingress port's ACL (ICMP administratively prohibited)";
    AclOutDeny => "acl_out_deny", "denied by the egress port's ACL";
    AclOutReject => "acl_out_reject", "rejected by the egress port's ACL (ICMP administratively prohibited)";
}

/// Counters of one worker. Plain integers: each worker owns its own and
/// publishes snapshots, so the fast path never touches a shared cache line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counters {
    pub rx_frames: u64,
    pub rx_bytes: u64,
    pub forwarded: u64,
    pub forwarded_bytes: u64,
    /// Packets that left as fragments (each also counted in `forwarded`).
    pub fragmented: u64,
    pub fragments_sent: u64,
    /// Handed to the host stack (ARP, ND, the router's own addresses).
    pub local: u64,
    pub icmp_sent: u64,
    /// ICMP errors not sent because the token bucket was empty.
    pub icmp_rate_limited: u64,
    /// ICMP errors not sent because RFC 1812/4443 forbid one for this packet.
    pub icmp_suppressed: u64,
    /// ICMP errors not sent because no transmit buffer was free.
    pub icmp_no_buffer: u64,
    /// Forwarded with Router Alert (RFC 2113; forwarded as any other).
    pub router_alert: u64,
    /// Forwarded with a Record Route / Timestamp option (the router's entry
    /// added when there was room).
    pub record_route: u64,
    pub timestamp: u64,
    /// Timestamp options that were full (their overflow count raised).
    pub timestamp_overflow: u64,
    pub drops: [u64; DropReason::COUNT],
}

// By hand: arrays longer than 32 have no derived `Default`.
impl Default for Counters {
    fn default() -> Self {
        Counters {
            rx_frames: 0,
            rx_bytes: 0,
            forwarded: 0,
            forwarded_bytes: 0,
            fragmented: 0,
            fragments_sent: 0,
            local: 0,
            icmp_sent: 0,
            icmp_rate_limited: 0,
            icmp_suppressed: 0,
            icmp_no_buffer: 0,
            router_alert: 0,
            record_route: 0,
            timestamp: 0,
            timestamp_overflow: 0,
            drops: [0; DropReason::COUNT],
        }
    }
}

impl Counters {
    #[inline]
    pub fn drop(&mut self, reason: DropReason) {
        self.drops[reason as usize] += 1;
    }

    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.drops[reason as usize]
    }

    pub fn total_dropped(&self) -> u64 {
        self.drops.iter().sum()
    }

    /// Adds `other` into `self` (summing workers).
    pub fn merge(&mut self, other: &Counters) {
        self.rx_frames += other.rx_frames;
        self.rx_bytes += other.rx_bytes;
        self.forwarded += other.forwarded;
        self.forwarded_bytes += other.forwarded_bytes;
        self.fragmented += other.fragmented;
        self.fragments_sent += other.fragments_sent;
        self.local += other.local;
        self.icmp_sent += other.icmp_sent;
        self.icmp_rate_limited += other.icmp_rate_limited;
        self.icmp_suppressed += other.icmp_suppressed;
        self.icmp_no_buffer += other.icmp_no_buffer;
        self.router_alert += other.router_alert;
        self.record_route += other.record_route;
        self.timestamp += other.timestamp;
        self.timestamp_overflow += other.timestamp_overflow;
        for (a, b) in self.drops.iter_mut().zip(other.drops.iter()) {
            *a += b;
        }
    }

    /// A serialisable summary with drop reasons by name (zero ones omitted).
    pub fn summary(&self) -> CounterSummary {
        CounterSummary {
            rx_frames: self.rx_frames,
            rx_bytes: self.rx_bytes,
            forwarded: self.forwarded,
            forwarded_bytes: self.forwarded_bytes,
            fragmented: self.fragmented,
            fragments_sent: self.fragments_sent,
            local: self.local,
            dropped: self.total_dropped(),
            icmp_sent: self.icmp_sent,
            icmp_rate_limited: self.icmp_rate_limited,
            icmp_suppressed: self.icmp_suppressed,
            icmp_no_buffer: self.icmp_no_buffer,
            options: OptionCounts {
                router_alert: self.router_alert,
                record_route: self.record_route,
                timestamp: self.timestamp,
                timestamp_overflow: self.timestamp_overflow,
            },
            drops: DropReason::ALL
                .iter()
                .filter(|r| self.dropped(**r) > 0)
                .map(|r| (r.name().to_string(), self.dropped(*r)))
                .collect(),
        }
    }
}

/// [`Counters`] in the shape shown to operators and scripts.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CounterSummary {
    pub rx_frames: u64,
    pub rx_bytes: u64,
    pub forwarded: u64,
    pub forwarded_bytes: u64,
    pub fragmented: u64,
    pub fragments_sent: u64,
    pub local: u64,
    pub dropped: u64,
    pub icmp_sent: u64,
    pub icmp_rate_limited: u64,
    pub icmp_suppressed: u64,
    /// ICMP errors not sent because no transmit buffer was free.
    pub icmp_no_buffer: u64,
    /// IPv4 options the router acted on.
    #[serde(default)]
    pub options: OptionCounts,
    pub drops: std::collections::BTreeMap<String, u64>,
}

impl std::fmt::Display for OptionCounts {
    /// `router alert 1, record route 2, timestamp 3 (1 full)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "router alert {}, record route {}, timestamp {} ({} full)",
            self.router_alert, self.record_route, self.timestamp, self.timestamp_overflow
        )
    }
}

/// IPv4 options acted on (see [`Counters`]).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct OptionCounts {
    pub router_alert: u64,
    pub record_route: u64,
    pub timestamp: u64,
    pub timestamp_overflow: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_summary_counts() {
        let mut names: Vec<_> = DropReason::ALL.iter().map(|r| r.name()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), DropReason::COUNT);
        let mut c = Counters::default();
        c.drop(DropReason::NoRoute);
        c.drop(DropReason::NoRoute);
        c.drop(DropReason::TtlExpired);
        let mut d = Counters::default();
        d.merge(&c);
        d.merge(&c);
        let s = d.summary();
        assert_eq!(s.dropped, 6);
        assert_eq!(s.drops.get("no_route"), Some(&4));
        assert_eq!(s.drops.get("ttl_expired"), Some(&2));
        assert_eq!(s.drops.len(), 2);
    }
}
