//! The batch's pre-pass with the flow cache: routes and acl-in answers
//! together, for the flows the worker has seen.
//!
//! On a port whose acl-in has rules, every frame of the common case asks
//! the worker's ACL cache for its flow (one set line) and the FIB for its
//! destination (the batched trie walk): two random reads for one flow. The
//! cache's IPv4 entries therefore keep the flow's route too, as Open
//! vSwitch's exact-match cache keeps a flow's actions: a frame whose entry
//! holds a permit and a route of the current FIB skips the trie walk.
//!
//! * Before the walk: every frame's key made and its set fetched (as the
//!   common case did), then probed; a permitted flow whose entry holds a
//!   current route gives its frame that route as its hint, the others are
//!   looked up as before ([`RouteHints::prepare_cached`]).
//! * After the walk: a permitted flow without a current route keeps the
//!   one just looked up, so its next packet skips the walk.
//! * Current means: looked up in the FIB whose IPv4 trie has the stamp the
//!   cache follows ([`AclCache::follow_fib`], one compare per batch; a new
//!   trie, published or written in place, has a new stamp). A route is
//!   the trie's answer for the destination, which is part of the key, so
//!   an entry's route is exactly what the walk would answer; next hops
//!   are resolved after it as before, so a neighbour's new MAC needs no
//!   new route.
//! * The hints carry the permits found, and the common case uses them
//!   instead of probing again ([`RouteHints::acl_permit`]).
//!
//! Ports without an acl-in with rules and IPv6 frames prepare as before;
//! a link whose batches look up sources too (uRPF on it or on one of its
//! VLANs) gets the acl-in answers but keeps and uses no routes.

use super::acl::{AclAction, FlowAnswer, PreparedV4};
use super::batch::{RouteHints, MAX_HINT_BATCH};
use super::stages::CommonAclIn;
use super::Forwarder;
use crate::fib::{CowArc, Fib, PortId};
use crate::lpm::{MaybeNextHop, NextHopId};

impl Forwarder {
    /// Prepares `hints` for a batch received on `link` (its frames'
    /// received bytes, in order; the iterator is walked twice): the routes
    /// of the frames' destinations (and sources, where the port runs uRPF)
    /// and, on a port whose acl-in has rules, that list's cached answers,
    /// as the module says. The batch then goes to
    /// [`forward_common`](Self::forward_common) with the same `fib`.
    pub fn prepare_batch<'a, I>(
        &mut self,
        fib: &Fib,
        link: PortId,
        frames: I,
        hints: &mut RouteHints,
    ) where
        I: IntoIterator<Item = &'a [u8]>,
        I::IntoIter: Clone,
    {
        let sources = self.wants_sources(link);
        let acl_in = self
            .ports
            .get(link as usize)
            .and_then(|p| p.features.acl_in);
        let list = match self.common_acl_in(acl_in) {
            CommonAclIn::Probe(id) => id,
            _ => return hints.prepare_with_sources(fib, frames, sources),
        };
        // Routes are kept and used only where no sources are looked up
        // (a sub-interface of this link may run uRPF): the walk's slots
        // would then reach the kept routes' (`RouteHints::prepare_cached`).
        let routes_kept = !sources;
        if routes_kept {
            self.acl_cache.follow_fib(CowArc::stamp(&fib.v4));
        }
        let frames = frames.into_iter();
        // Every key made and its set fetched before any probe (see
        // `common_acl_in_key`); each element written once.
        let keys_v4 = self.acl_cache.keys_v4();
        let mut batch = frames.clone().take(MAX_HINT_BATCH);
        let mut n = 0;
        let keys: [PreparedV4; MAX_HINT_BATCH] = std::array::from_fn(|_| match batch.next() {
            Some(frame) => {
                n += 1;
                Self::common_acl_in_key(&keys_v4, list, frame)
            }
            None => PreparedV4::EMPTY,
        });
        hints.begin_acl_answers(list);
        let mut routes: [NextHopId; MAX_HINT_BATCH] = [0; MAX_HINT_BATCH];
        let (mut permits, mut cached) = (0u64, 0u64);
        // (A frame too short for the common case has the empty key, which
        // an empty way answers: its bits are never read, see `plain_v4`.)
        for (i, key) in keys[..n].iter().enumerate() {
            let Some(FlowAnswer {
                answer: (counter, AclAction::Permit),
                route,
            }) = self.acl_cache.probe_flow_v4(key)
            else {
                continue;
            };
            permits |= 1 << i;
            hints.permit(i, counter);
            if let Some(route) = route.filter(|_| routes_kept) {
                cached |= 1 << i;
                routes[i] = route;
            }
        }
        hints.prepare_cached(fib, frames, sources, (cached, &routes));
        if !routes_kept {
            return;
        }
        // The permitted flows without a current route keep the one just
        // looked up (for a plain frame only: its key's destination is the
        // one the walk looked up).
        let mut left = permits & !cached & hints.plain_v4();
        while left != 0 {
            let i = left.trailing_zeros() as usize;
            left &= left - 1;
            if let Some(route) = hints.looked_up_v4(i).and_then(MaybeNextHop::get) {
                self.acl_cache.keep_route_v4(&keys[i], route);
            }
        }
    }
}
