//! The optional per-port stages as the family paths call them: ACLs and
//! uRPF (order and cost: see `features.rs`).

use super::acl::{
    Acl, AclAction, AclCache, AclId, AclKeyV4, AclKeyV6, AclTable, Answer, FlowKeyV4, FlowKeyV6,
    KeysV4, PreparedV4,
};
use super::{DropReason, Forwarder, Ingress, Urpf, Verdict};
use crate::fib::PortId;
use crate::wire::ethernet::HEADER_LEN as ETH_LEN;
use crate::wire::ipv4::{protocol, Ipv4Packet};
use crate::wire::ipv6::{walk_extension_headers, Ipv6Packet};

/// Which of a port's ACLs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Direction {
    In,
    Out,
}

/// Why an ingress stage stopped a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stopped {
    Acl(AclDrop),
    /// Failed uRPF (already counted; never answered).
    Urpf(DropReason),
}

/// What an ACL said about a packet it does not let through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct AclDrop {
    pub reason: DropReason,
    /// Answer with ICMP administratively prohibited.
    pub reject: bool,
}

/// Whether an ACL rule's ports apply to `protocol` (TCP and UDP).
#[inline(always)]
fn has_ports(protocol: u8) -> bool {
    protocol == protocol::TCP || protocol == protocol::UDP
}

/// TCP and UDP ports from the first four payload bytes, when the payload
/// holds them.
#[inline]
fn ports(protocol: u8, payload: &[u8]) -> Option<(u16, u16)> {
    if !has_ports(protocol) {
        return None;
    }
    let p = payload.get(..4)?;
    Some((
        u16::from_be_bytes([p[0], p[1]]),
        u16::from_be_bytes([p[2], p[3]]),
    ))
}

/// The fields an ACL matches, of a checked IPv4 packet, addresses as
/// numbers (no `IpAddr` to build and match on per packet).
#[inline(always)]
pub(super) fn acl_key_v4(ip: &Ipv4Packet<&[u8]>) -> AclKeyV4 {
    let proto = ip.protocol();
    AclKeyV4 {
        src: u32::from_be_bytes(ip.src().octets()),
        dst: u32::from_be_bytes(ip.dst().octets()),
        protocol: proto,
        ports: if ip.is_non_first_fragment() {
            None
        } else {
            ports(proto, ip.payload())
        },
    }
}

/// The same for IPv6: the protocol is the upper layer's after the
/// extension headers (a chain that cannot be walked is matched as its
/// first next-header value, with no ports).
#[inline]
pub(super) fn acl_key_v6(ip: &Ipv6Packet<&[u8]>) -> AclKeyV6 {
    let payload = ip.payload();
    let (proto, ports) = match walk_extension_headers(ip.next_header(), payload) {
        Ok(w) if w.non_first_fragment => (w.upper_protocol, None),
        Ok(w) => (
            w.upper_protocol,
            ports(
                w.upper_protocol,
                payload.get(w.upper_offset..).unwrap_or(&[]),
            ),
        ),
        Err(_) => (ip.next_header(), None),
    };
    AclKeyV6 {
        src: ip.src().into(),
        dst: ip.dst().into(),
        protocol: proto,
        ports,
    }
}

/// A packet as the ACL stage reads it: the stage asks the worker's cache
/// for list `id`'s answer, which asks the list's classifier on a miss (the
/// list is fetched only then).
pub(super) trait AclFields {
    fn answer(&self, cache: &mut AclCache, acls: &AclTable, id: AclId) -> Answer;
}

/// List `id`'s answer for fields `slot` classifies. Ids come from the
/// configuration, which checks them: a missing list cannot happen, and
/// would let the packet through uncounted.
#[inline(always)]
fn classified(acls: &AclTable, id: AclId, slot: impl FnOnce(&Acl) -> usize) -> Answer {
    match acls.get(id) {
        Some(acl) => acl.answer(slot(acl)),
        None => (usize::MAX, AclAction::Permit),
    }
}

/// A checked IPv4 packet for the ACL stage, with the bytes it views: the
/// cache key straight from those bytes (a hit converts no field), the
/// classifier's fields ([`acl_key_v4`]) only on a miss.
pub(super) struct AclPacketV4<'a, 'b> {
    pub ip: &'a Ipv4Packet<&'b [u8]>,
    /// What `ip` views (read here directly: the view's slice accessors
    /// were left as calls once the stage is inlined into the IPv4 path).
    pub bytes: &'b [u8],
}

impl AclPacketV4<'_, '_> {
    /// The cache key of list `id` for the packet.
    #[inline(always)]
    fn key(&self, id: AclId) -> FlowKeyV4 {
        flow_key_v4(self.bytes, self.ip.header_len(), self.ip.total_len(), id)
    }
}

/// The cache key of list `id` for the IPv4 packet `bytes` (from its
/// header's first byte), whose header is `header_len` bytes and whose
/// total length is `total`: the fields as the header's bytes hold them (a
/// hit converts none), "ports known" by the rule [`acl_key_v4`] applies (a
/// test holds the two together). A header shorter than 20 bytes reads
/// zeros (only a checked one comes here; the classifier decides).
#[inline(always)]
fn flow_key_v4(bytes: &[u8], header_len: usize, total: usize, id: AclId) -> FlowKeyV4 {
    let byte = |i: usize| bytes.get(i).copied().unwrap_or(0);
    let proto = byte(9);
    let first = u16::from_be_bytes([byte(6), byte(7)]) & 0x1fff == 0;
    let addrs = bytes
        .get(12..20)
        .and_then(|a| a.try_into().ok())
        .unwrap_or([0; 8]);
    // The payload's first four bytes, when within the total length: the
    // tests and the choice without branches between them (mixed traffic
    // would mispredict them).
    let ports = bytes
        .get(header_len..header_len + 4)
        .and_then(|p| <[u8; 4]>::try_from(p).ok());
    let known = has_ports(proto) & first & (header_len + 4 <= total) & ports.is_some();
    let ports = u32::from_ne_bytes(ports.unwrap_or_default()) & (known as u32).wrapping_neg();
    FlowKeyV4::new(addrs, ports, known, proto, id)
}

/// No list on that side: counts nothing (the common case counts it as it counts a list's permit).
pub(super) const NO_PERMIT: (usize, bool) = (usize::MAX, false);

/// What a batch's acl-in answers for the common case
/// ([`Forwarder::common_acl_in`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CommonAclIn {
    /// Every frame alike, without reading it (no list, or one without
    /// rules that permits): the counter to count for each frame forwarded
    /// ([`NO_PERMIT`]'s for no list), added once per batch.
    Every(usize),
    /// No frame (a list without rules that denies or rejects): the
    /// pipeline drops and counts them.
    None,
    /// Per frame, by list `id`'s answers in the cache.
    Probe(AclId),
}

impl AclFields for AclPacketV4<'_, '_> {
    #[inline(always)]
    fn answer(&self, cache: &mut AclCache, acls: &AclTable, id: AclId) -> Answer {
        let ip = self.ip;
        cache.answer_v4(self.key(id), || {
            classified(acls, id, |acl| acl.slot_v4(&acl_key_v4(ip)))
        })
    }
}

impl AclFields for AclKeyV6 {
    #[inline(always)]
    fn answer(&self, cache: &mut AclCache, acls: &AclTable, id: AclId) -> Answer {
        cache.answer_v6(FlowKeyV6::of(self, id), || {
            classified(acls, id, |acl| acl.slot_v6(self))
        })
    }
}

impl Forwarder {
    /// Runs ACL `id` of `port` (direction `dir`) on the packet whose
    /// fields `fields` reads: finds its counter slot (rule, or default)
    /// through the cache, counts it, and says why the packet stops if it
    /// does. A list without rules answers its default without reading the
    /// fields or asking the cache; the others' lists are read only when
    /// the cache has no answer.
    #[inline(always)]
    pub(super) fn acl_stage<F: AclFields>(
        &mut self,
        id: AclId,
        fields: impl FnOnce() -> F,
        dir: Direction,
        port: PortId,
    ) -> Option<AclDrop> {
        let (counter, action) = if self.acl_cache.is_empty_list(id) {
            classified(&self.acls, id, |_| 0)
        } else {
            fields().answer(&mut self.acl_cache, &self.acls, id)
        };
        self.acl_hits.count(counter);
        let reject = match action {
            AclAction::Permit => return None,
            AclAction::Deny => false,
            AclAction::Reject => true,
        };
        let counters = self.port_counters.get_mut(port as usize);
        let (counter, reason) = match (dir, counters) {
            (Direction::In, c) => (
                c.map(|c| &mut c.acl_in_dropped),
                [DropReason::AclInDeny, DropReason::AclInReject][reject as usize],
            ),
            (Direction::Out, c) => (
                c.map(|c| &mut c.acl_out_dropped),
                [DropReason::AclOutDeny, DropReason::AclOutReject][reject as usize],
            ),
        };
        if let Some(n) = counter {
            *n += 1;
        }
        Some(AclDrop { reason, reject })
    }

    /// For the batch's common case (`common.rs`), before its loop: what
    /// list `acl_in` (the batch's port's acl-in) answers, decided once per
    /// batch where it can be.
    #[inline(always)]
    pub(super) fn common_acl_in(&self, acl_in: Option<AclId>) -> CommonAclIn {
        match acl_in {
            None => CommonAclIn::Every(NO_PERMIT.0),
            Some(id) if self.acl_cache.is_empty_list(id) => match classified(&self.acls, id, |_| 0)
            {
                (counter, AclAction::Permit) => CommonAclIn::Every(counter),
                _ => CommonAclIn::None,
            },
            Some(id) => CommonAclIn::Probe(id),
        }
    }

    /// For the batch's pre-pass with the flow cache (`flow_cache.rs`), when
    /// [`common_acl_in`](Self::common_acl_in) answered
    /// [`CommonAclIn::Probe`]: list `id`'s cache key for `frame`, made by
    /// `keys` (the cache's, [`AclCache::keys_v4`]), its set being fetched.
    /// The keys are made for the whole batch first, then probed, as VPP's
    /// ACL plugin hashes a whole vector before looking any of it up: the
    /// probes then wait for no memory. Only the common case's frames use
    /// their answer (one too short for it gets the empty key), so a frame
    /// that is not one costs a key.
    #[inline(always)]
    pub(super) fn common_acl_in_key(keys: &KeysV4, id: AclId, frame: &[u8]) -> PreparedV4 {
        match frame.get(ETH_LEN..).filter(|ip| ip.len() >= 20) {
            Some(ip) => {
                let total = u16::from_be_bytes([ip[2], ip[3]]) as usize;
                keys.prepare(flow_key_v4(ip, 20, total, id))
            }
            None => PreparedV4::EMPTY,
        }
    }

    /// For the batch's common case (`common.rs`), on a packet that passed
    /// every other test, leaving through a port whose acl-out is `id`:
    /// what that list answers by the cache, as
    /// [`cached_permit`](Self::cached_permit) says (the packet `ip`, from
    /// its header's first byte, has no options and is `total` bytes).
    #[inline(always)]
    pub(super) fn common_acl_out_permit(
        &self,
        id: AclId,
        ip: &[u8],
        total: usize,
    ) -> Option<(usize, bool)> {
        self.cached_permit(Some(id), |cache, id| {
            cache.probe_v4(flow_key_v4(ip, 20, total, id))
        })
    }

    /// The same for an IPv6 packet of the common case (no extension
    /// header) and list `acl`, either side: its key is the one the
    /// pipeline's ACL stage makes ([`acl_key_v6`]).
    #[inline(always)]
    pub(super) fn common_acl_v6_permit(
        &self,
        acl: Option<AclId>,
        ip: &Ipv6Packet<&[u8]>,
    ) -> Option<(usize, bool)> {
        self.cached_permit(acl, |cache, id| {
            cache.probe_v6(FlowKeyV6::of(&acl_key_v6(ip), id))
        })
    }

    /// For the batch's common case (`common.rs`): list `acl`'s counter for
    /// a packet, and whether the cache answered (an empty list's default
    /// needs no cache; no list: [`NO_PERMIT`]), if the list permits it by
    /// an answer the cache already holds (`probe` asks it for list `id`).
    /// `None` leaves the packet to the pipeline, which asks again,
    /// classifying, caching and counting once; so nothing is counted here:
    /// the common case counts the counter (and a cache hit) once the
    /// packet is forwarded.
    #[inline(always)]
    fn cached_permit(
        &self,
        acl: Option<AclId>,
        probe: impl FnOnce(&AclCache, AclId) -> Option<Answer>,
    ) -> Option<(usize, bool)> {
        let Some(id) = acl else {
            return Some(NO_PERMIT);
        };
        let ((counter, action), cached) = if self.acl_cache.is_empty_list(id) {
            (classified(&self.acls, id, |_| 0), false)
        } else {
            (probe(&self.acl_cache, id)?, true)
        };
        (action == AclAction::Permit).then_some((counter, cached))
    }

    /// acl-in, then uRPF, on a transit packet arriving as `ctx` says:
    /// what stopped it, if anything. `fields` (the packet's ACL fields, see
    /// [`Forwarder::acl_stage`]) and `urpf_passes` are asked only when the
    /// port turns the stage on. `out_of_line` (a constant at each call
    /// site) keeps the stages a call.
    #[inline(always)]
    pub(super) fn ingress_stages<F: AclFields>(
        &mut self,
        ctx: &Ingress<'_>,
        fields: impl FnOnce() -> F,
        urpf_passes: impl FnOnce(Urpf) -> bool,
        out_of_line: bool,
    ) -> Option<Stopped> {
        // Most ports run neither stage: one test. IPv4 inlines the stages
        // behind it: out of line, the call and its register saves cost ~25
        // instructions per packet (callgrind, the stages bench: stages off
        // 584 -> 571, an empty list 650 -> 605, a cached answer 722 ->
        // 675). IPv6 keeps the call: inlined, the stages cost its packets
        // without stages ~10 instructions (`forward_v6/pipeline_batched`:
        // 721 inlined, 711 out of line).
        if ctx.features.acl_in.is_none() && ctx.features.urpf.is_none() {
            return None;
        }
        if out_of_line {
            return self.run_ingress_stages_out_of_line(ctx, fields, urpf_passes);
        }
        self.run_ingress_stages(ctx, fields, urpf_passes)
    }

    #[inline(never)]
    fn run_ingress_stages_out_of_line<F: AclFields>(
        &mut self,
        ctx: &Ingress,
        fields: impl FnOnce() -> F,
        urpf: impl FnOnce(Urpf) -> bool,
    ) -> Option<Stopped> {
        self.run_ingress_stages(ctx, fields, urpf)
    }

    #[inline(always)]
    fn run_ingress_stages<F: AclFields>(
        &mut self,
        ctx: &Ingress<'_>,
        fields: impl FnOnce() -> F,
        urpf_passes: impl FnOnce(Urpf) -> bool,
    ) -> Option<Stopped> {
        if let Some(acl) = ctx.features.acl_in {
            if let Some(drop) = self.acl_stage(acl, fields, Direction::In, ctx.port) {
                return Some(Stopped::Acl(drop));
            }
        }
        if let Some(mode) = ctx.features.urpf {
            if !urpf_passes(mode) {
                return Some(Stopped::Urpf(self.urpf_failed(ctx.port, mode)));
            }
        }
        None
    }

    /// The verdict on a packet a stage stopped; `reject` sends the ICMP
    /// error of a rejecting ACL.
    #[inline]
    pub(super) fn stopped(&mut self, stopped: Stopped, reject: impl FnOnce(&mut Self)) -> Verdict {
        match stopped {
            Stopped::Acl(drop) => {
                if drop.reject {
                    reject(self);
                }
                Verdict::Drop(drop.reason)
            }
            Stopped::Urpf(reason) => Verdict::Drop(reason),
        }
    }

    /// Counts a uRPF failure on `port`; the drop reason of `mode`.
    #[inline]
    fn urpf_failed(&mut self, port: PortId, mode: Urpf) -> DropReason {
        if let Some(c) = self.port_counters.get_mut(port as usize) {
            c.urpf_dropped += 1;
        }
        match mode {
            Urpf::Strict => DropReason::UrpfStrict,
            Urpf::Loose => DropReason::UrpfLoose,
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// The cache key read from the bytes and the classifier's fields
        /// agree on every packet a checked view accepts (options, later
        /// fragments, short payloads, padding, any protocol): two packets
        /// share a key only if the classifier cannot tell them apart.
        #[test]
        fn the_cache_key_says_what_the_classifier_reads(
            ihl in 5u8..8,
            proto in prop_oneof![Just(protocol::TCP), Just(protocol::UDP), any::<u8>()],
            frag in prop_oneof![Just(0u16), Just(0x2000), any::<u16>()],
            payload in 0usize..10,
            padding in 0usize..6,
            bytes in prop::collection::vec(any::<u8>(), 48),
            id in any::<AclId>(),
        ) {
            let header = ihl as usize * 4;
            let total = header + payload;
            let mut b = bytes[..total + padding].to_vec();
            b[0] = 0x40 | ihl;
            b[2..4].copy_from_slice(&(total as u16).to_be_bytes());
            b[6..8].copy_from_slice(&frag.to_be_bytes());
            b[9] = proto;
            let ip = Ipv4Packet::new_checked(&b[..]).unwrap();
            let packet = AclPacketV4 { ip: &ip, bytes: &b };
            prop_assert_eq!(packet.key(id), FlowKeyV4::of(&acl_key_v4(&ip), id));
        }
    }
}
