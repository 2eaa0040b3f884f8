//! Managed neighbour entries (the RIB's gateways and glean requests) and
//! publication follow-ups: the part of the loop that asks the kernel to
//! resolve next hops (through the subscription's request socket).

use std::time::Instant;

use super::Control;
use crate::control::kernel::gateways::{self, ManagedEntry};
use crate::control::kernel::netlink::ManagedOutcome;
use crate::control::{ControlError, StopReport};
use crate::fib::FibError;

impl Control {
    /// Makes every gateway a managed entry and remembers the ones it made;
    /// one gateway's failure does not stop the others (the first is returned).
    pub(super) fn ensure_gateways(&mut self) -> Result<(), ControlError> {
        let mut first_error = None;
        for i in 0..self.gateways.len() {
            let g = self.gateways[i];
            match self.sub.rtnl().ensure_managed(g.ifindex, g.address) {
                Ok(ManagedOutcome::Created | ManagedOutcome::Adopted) => {
                    self.owned.insert(g);
                }
                Ok(ManagedOutcome::AlreadyManaged | ManagedOutcome::LeftStatic(_)) => {}
                Err(source) => {
                    first_error.get_or_insert(ControlError::Managed {
                        gateway: g.address,
                        ifindex: g.ifindex,
                        source,
                    });
                }
            }
        }
        self.lock_status().managed = self.owned.iter().copied().collect();
        first_error.map_or(Ok(()), Err)
    }

    /// Asks the kernel to resolve the next hops workers found unresolved
    /// (on-link addresses only; the notification that follows rebuilds the FIB).
    pub(super) fn resolve_gleaned(&mut self, now: Instant) {
        let table = &self.table;
        let wanted = self.glean.take(now, self.gleaned.len(), |port, addr| {
            table.has_static(addr) || table.learned(addr, port).is_some()
        });
        for (_, addr) in wanted {
            let Some(ifindex) = self.table.connected_port(addr).map(|p| p.ifindex) else {
                continue;
            };
            let entry = ManagedEntry {
                ifindex,
                address: addr,
            };
            match self.sub.rtnl().ensure_managed(ifindex, addr) {
                Ok(ManagedOutcome::Created | ManagedOutcome::Adopted) => {
                    if self.owned.insert(entry) {
                        self.gleaned.insert(entry);
                    }
                }
                Ok(_) => {}
                Err(e) => self.record_error(&e),
            }
        }
    }

    /// Hands the current neighbours to the RIB and publishes what changed.
    pub(super) fn rebuild(&mut self) -> Result<(), FibError> {
        self.engine.set_neighbors(self.table.resolved());
        let version = self.engine.publish_now();
        self.published(version);
        Ok(())
    }

    pub(super) fn published(&mut self, version: u64) {
        {
            let mut status = self.lock_status();
            status.fib_version = version;
            status.fib_builds += 1;
        }
        self.refresh_gateways();
    }

    /// Follows the RIB's gateways after a publication: entries for new ones
    /// are made, the ones made for gateways no longer used are deleted
    /// (entries made for gleaning stay until stop).
    fn refresh_gateways(&mut self) {
        let wanted = gateways::wanted(&self.table, self.engine.gateways());
        if wanted == self.gateways {
            return;
        }
        let old = std::mem::replace(&mut self.gateways, wanted);
        for gone in old.iter().filter(|g| !self.gateways.contains(g)) {
            if self.gleaned.contains(gone) || !self.owned.remove(gone) {
                continue;
            }
            if let Err(e) = self.sub.rtnl().remove_managed(gone.ifindex, gone.address) {
                self.record_error(&e);
            }
        }
        if let Err(e) = self.ensure_gateways() {
            self.record_error(&e);
        }
    }

    pub(super) fn remove_owned(&mut self) -> StopReport {
        let mut report = StopReport::default();
        for g in std::mem::take(&mut self.owned) {
            match self.sub.rtnl().remove_managed(g.ifindex, g.address) {
                Ok(true) => report.removed.push(g),
                Ok(false) => {}
                Err(e) => report
                    .failures
                    .push(format!("{} on interface {}: {e}", g.address, g.ifindex)),
            }
        }
        self.lock_status().managed.clear();
        report
    }
}
