//! The optional per-port stages as the family paths call them: ACLs and
//! uRPF (order and cost: see `features.rs`).

use super::acl::{Acl, AclAction, AclId, AclKey, AclKeyV4};
use super::{DropReason, Forwarder, Ingress, Urpf, Verdict};
use crate::fib::PortId;
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

/// TCP and UDP ports from the first four payload bytes, when the payload
/// holds them.
#[inline]
fn ports(protocol: u8, payload: &[u8]) -> Option<(u16, u16)> {
    if protocol != protocol::TCP && protocol != protocol::UDP {
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
pub(super) fn acl_key_v6(ip: &Ipv6Packet<&[u8]>) -> AclKey {
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
    AclKey {
        src: ip.src().into(),
        dst: ip.dst().into(),
        protocol: proto,
        ports,
    }
}

impl Forwarder {
    /// Runs ACL `id` of `port` (direction `dir`) on the packet whose
    /// counter slot (rule, or default) `slot` finds: counts it, and says
    /// why the packet stops if it does. A list without rules answers its
    /// default without reading the fields or calling the classifier.
    #[inline]
    pub(super) fn acl_stage(
        &mut self,
        id: AclId,
        slot: impl FnOnce(&Acl) -> usize,
        dir: Direction,
        port: PortId,
    ) -> Option<AclDrop> {
        // Ids come from the configuration, which checks them: a missing
        // one cannot happen, and lets the packet through if it did.
        let acl = self.acls.get(id)?;
        let slot = if acl.is_empty() { 0 } else { slot(acl) };
        let action = acl.action_at(slot);
        if let Some(hits) = self.acl_hits.get_mut(id as usize) {
            if let Some(c) = hits.get_mut(slot) {
                *c += 1;
            }
        }
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

    /// acl-in, then uRPF, on a transit packet arriving as `ctx` says:
    /// what stopped it, if anything. `slot` (the ACL's counter slot for
    /// the packet, see [`Forwarder::acl_stage`]) and `urpf_passes` are
    /// asked only when the port turns the stage on.
    #[inline(always)]
    pub(super) fn ingress_stages(
        &mut self,
        ctx: &Ingress,
        slot: impl FnOnce(&Acl) -> usize,
        urpf_passes: impl FnOnce(Urpf) -> bool,
    ) -> Option<Stopped> {
        // Most ports run neither stage: one test, no call (the call's
        // register saves cost more than the stages' tests did).
        if ctx.features.acl_in.is_none() && ctx.features.urpf.is_none() {
            return None;
        }
        self.run_ingress_stages(ctx, slot, urpf_passes)
    }

    #[inline(never)]
    fn run_ingress_stages(
        &mut self,
        ctx: &Ingress,
        slot: impl FnOnce(&Acl) -> usize,
        urpf_passes: impl FnOnce(Urpf) -> bool,
    ) -> Option<Stopped> {
        if let Some(acl) = ctx.features.acl_in {
            if let Some(drop) = self.acl_stage(acl, slot, Direction::In, ctx.port) {
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
