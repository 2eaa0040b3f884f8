//! MinLSArrival without waiting for the neighbour (§13 step 5a): a newer
//! instance arriving within MinLSArrival of the held one's installation is
//! not installed then, but kept and taken in once MinLSArrival has passed,
//! as if it arrived at that moment (installed, flooded, acknowledged).
//!
//! The RFC discards it and counts on the neighbour's retransmission. FRR
//! floods up to three instances of its router LSA within a millisecond when
//! an adjacency forms (the last one naming the new transit network) and
//! retransmits after 5-10 s: ferroute held the instance without the transit
//! link all that time, so the path through FRR was unusable for up to 10 s
//! after its adjacency came up, and a failover onto it in that window found
//! no route at all (the two-path lab: 90-150 ms without a route for D, in 4
//! of 32 runs). The rate limit stays: at most one instance per LSA per
//! MinLSArrival is installed; what is kept per LSA is the newest instance
//! only, for a bounded number of LSAs.

use std::net::Ipv4Addr;
use std::time::Instant;

use super::{Speaker, MIN_LS_ARRIVAL};
use crate::control::ospf::database::{Instance, MAX_AGE};
use crate::control::ospf::neighbor::NeighborState;
use crate::control::ospf::wire::lsa::{LsaHeader, LsaKey};

/// LSAs that may wait for MinLSArrival at once (a neighbour that floods
/// every LSA twice in a row costs at most this many copies).
pub const MAX_DEFERRED: usize = 4096;

/// A newer instance that came within MinLSArrival of the held one.
#[derive(Debug, Clone)]
pub struct Deferred {
    /// The whole LSA as received.
    bytes: Vec<u8>,
    received: Instant,
    /// When MinLSArrival has passed since the held instance was installed.
    pub due: Instant,
    /// The interface and neighbour it came from.
    interface: usize,
    neighbor: Ipv4Addr,
}

impl Speaker {
    /// `lsa`, newer than the held instance installed at `installed`, came
    /// from neighbour `id` on interface `i` within MinLSArrival: kept
    /// until then, unless a newer one is kept already.
    pub(super) fn defer_arrival(
        &mut self,
        now: Instant,
        installed: Instant,
        i: usize,
        id: Ipv4Addr,
        lsa: &LsaHeader<&[u8]>,
    ) {
        let key = lsa.key();
        let received = Instance::of(lsa);
        if let Some(kept) = self.deferred.get(&key) {
            let kept =
                LsaHeader::checked_in(self.version, &kept.bytes[..]).map(|h| Instance::of(&h));
            if kept.is_ok_and(|k| !received.compare(&k).is_gt()) {
                return;
            }
        } else if self.deferred.len() >= MAX_DEFERRED {
            return self.count("LSU: MinLSArrival deferrals full");
        }
        self.deferred.insert(
            key,
            Deferred {
                bytes: lsa.bytes().to_vec(),
                received: now,
                due: installed + MIN_LS_ARRIVAL,
                interface: i,
                neighbor: id,
            },
        );
    }

    /// The kept instances whose MinLSArrival has passed, taken in as if
    /// they arrived now (still from a neighbour in Exchange or later, and
    /// still newer than what is held).
    pub(super) fn deferred_arrivals(&mut self, now: Instant) {
        let mut due: Vec<LsaKey> = self
            .deferred
            .iter()
            .filter(|(_, d)| d.due <= now)
            .map(|(k, _)| *k)
            .collect();
        due.sort_unstable();
        for key in due {
            let Some(d) = self.deferred.remove(&key) else {
                continue;
            };
            let from = self
                .interfaces
                .get(d.interface)
                .and_then(|f| f.neighbors.get(&d.neighbor))
                .filter(|n| n.state >= NeighborState::Exchange)
                .map(|n| n.address);
            let Some(to) = from else { continue };
            let mut bytes = d.bytes;
            // Aged while it waited, as it would have been in the database.
            let waited = now.saturating_duration_since(d.received).as_secs();
            let age = u16::from_be_bytes([bytes[0], bytes[1]]);
            let age = (u64::from(age) + waited).min(u64::from(MAX_AGE)) as u16;
            bytes[0..2].copy_from_slice(&age.to_be_bytes());
            let Ok(lsa) = LsaHeader::lsa_in(self.version, &bytes[..]) else {
                continue;
            };
            let newer = self
                .db
                .instance(&key, now)
                .is_none_or(|held| Instance::of(&lsa).compare(&held).is_gt());
            if !newer {
                continue; // a retransmission brought it (or a newer one) first
            }
            self.count("LSU: taken in after MinLSArrival");
            let mut direct_acks = Vec::new();
            self.receive_lsa(now, d.interface, d.neighbor, &lsa, &mut direct_acks);
            if !direct_acks.is_empty() {
                self.send_ack(d.interface, to, &direct_acks);
            }
        }
    }

    /// When the first kept instance falls due.
    pub(super) fn deferred_due(&self) -> Option<Instant> {
        self.deferred.values().map(|d| d.due).min()
    }
}
