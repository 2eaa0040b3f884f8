//! What operators do to live sessions and what they are told about them:
//! `bgp reset PEER [soft in|out]`, `show bgp neighbors ADDRESS` (one
//! neighbour in detail) and `show bgp summary` (the counts the status line
//! and `ferroute stats` print).

use std::fmt::Write;
use std::net::IpAddr;
use std::time::Instant;

use serde_json::{json, Value};

use super::{BgpSpeaker, LivePeer};
use crate::control::bgp::adj_rib_in::RouteChange;
use crate::control::bgp::policy::Role;
use crate::control::bgp::session::message::{self, code};
use crate::control::bgp::session::{Family, Negotiated, State};

/// What both sides agreed on, for `show`.
pub(super) fn capabilities(n: &Negotiated) -> Value {
    let gr = n.peer.capabilities.graceful_restart.as_ref();
    json!({
        "families": n.families,
        "four_octet_as": n.four_octet_as,
        "route_refresh": n.route_refresh,
        // The BGP role the peer announced (RFC 9234).
        "role": n.peer.capabilities.role.and_then(Role::from_value),
        "graceful_restart": gr.map(|g| json!({
            "restart_time": g.restart_time,
            "families": g.families.iter().map(|(f, _)| *f).collect::<Vec<_>>(),
        })),
    })
}

impl BgpSpeaker {
    /// One decision outcome for the RIB, counted.
    pub(super) fn route_change(&mut self, change: RouteChange) {
        if !matches!(change, RouteChange::Unchanged) {
            self.route_changes += 1;
        }
        self.files.push_change(change);
    }

    /// The configured peer named `peer` (an address), or an error naming
    /// the configured ones.
    fn named_peer(&self, peer: &str) -> Result<usize, String> {
        let known = || {
            let all: Vec<String> = self
                .peers
                .iter()
                .map(|p| p.config.address.to_string())
                .collect();
            if all.is_empty() {
                "no neighbors are configured".to_string()
            } else {
                format!("configured: {}", all.join(", "))
            }
        };
        let address: IpAddr = peer
            .parse()
            .map_err(|_| format!("{peer:?} is not an address ({})", known()))?;
        self.peer_at(address)
            .ok_or_else(|| format!("{address} is not a BGP neighbor ({})", known()))
    }

    /// `bgp reset PEER`: Cease / administrative reset (RFC 4486 subcode 4)
    /// and a new session. `soft in`: ROUTE-REFRESH for every family (the
    /// peer must have negotiated it). `soft out`: the whole Adj-RIB-Out
    /// sent again, then End-of-RIB.
    pub(super) fn reset(
        &mut self,
        now: Instant,
        peer: &str,
        soft: Option<&str>,
    ) -> Result<Value, String> {
        let i = self.named_peer(peer)?;
        let address = self.peers[i].config.address;
        let established = || format!("{address} is not established: nothing to refresh");
        let text = match soft {
            None => {
                self.peers[i].session.reset(now, code::CEASE_ADMIN_RESET);
                format!("{address}: session reset (cease: administrative reset)\n")
            }
            Some("in") => {
                let n = self.peers[i].session.negotiated().cloned();
                let n = n.ok_or_else(established)?;
                if !n.route_refresh {
                    return Err(format!(
                        "{address} did not negotiate route refresh (RFC 2918): \
                         use a hard reset"
                    ));
                }
                for &f in &n.families {
                    self.peers[i]
                        .session
                        .send_established(message::route_refresh(f));
                }
                let names: Vec<&str> = n.families.iter().map(|f| f.name()).collect();
                format!("{address}: route refresh sent ({})\n", names.join(", "))
            }
            Some("out") => {
                if self.peers[i].session.state() != State::Established {
                    return Err(established());
                }
                let before = self.peers[i].session.stats().updates_out;
                self.peers[i].adj_out.clear();
                self.export_all(i);
                let sent = self.peers[i].session.stats().updates_out - before;
                format!(
                    "{address}: Adj-RIB-Out sent again ({} prefixes, {sent} UPDATEs with End-of-RIB)\n",
                    self.peers[i].adj_out.len()
                )
            }
            Some(other) => return Err(format!("soft {other:?}: `in` or `out`")),
        };
        Ok(json!({ "peer": address, "text": text }))
    }

    /// `show bgp neighbors ADDRESS`: the list's entry plus the counts per
    /// family (which walk the table: only asked for one peer, never by
    /// the list that tests and benchmarks poll).
    pub(super) fn neighbor(&self, now: Instant, peer: &str) -> Result<Value, String> {
        let i = self.named_peer(peer)?;
        let all = self.peers_json(now);
        let mut one = all.get(i).cloned().unwrap_or_default();
        one["per_family"] = self.family_counts(&self.peers[i]);
        Ok(json!({ "peers": [one], "text": self.neighbor_text(now, &self.peers[i]) }))
    }

    /// `show bgp summary`: sessions, how many are established, and the
    /// route changes the live sessions caused.
    pub(super) fn summary(&self) -> Value {
        let established = self
            .peers
            .iter()
            .filter(|p| p.session.state() == State::Established)
            .count();
        let text = format!(
            "BGP: {established}/{} sessions established, {} route changes\n",
            self.peers.len(),
            self.route_changes
        );
        json!({
            "sessions": self.peers.len(),
            "established": established,
            "route_changes": self.route_changes,
            "text": text,
        })
    }

    /// Received (since it came up), accepted (in the Adj-RIB-In) and
    /// advertised (in the Adj-RIB-Out) per family.
    fn family_counts(&self, p: &LivePeer) -> Value {
        let mut accepted = [0u64; 2];
        for (prefix, _) in self.files.bgp_rib().adj_rib_in(p.rib_peer) {
            accepted[Family::of(&prefix) as usize] += 1;
        }
        let mut advertised = [0u64; 2];
        for prefix in p.adj_out.keys() {
            advertised[Family::of(&prefix) as usize] += 1;
        }
        let mut out = serde_json::Map::new();
        for f in Family::ALL {
            let k = f as usize;
            out.insert(
                f.name().to_string(),
                json!({
                    "received": p.announced[k],
                    "accepted": accepted[k],
                    "advertised": advertised[k],
                    "end_of_rib": p.end_of_rib.contains(&f),
                }),
            );
        }
        Value::Object(out)
    }

    fn neighbor_text(&self, now: Instant, p: &LivePeer) -> String {
        let s = &p.session;
        let st = s.stats();
        let n = s.negotiated();
        let ebgp = if s.config().ebgp() { "eBGP" } else { "iBGP" };
        let mut t = format!(
            "BGP neighbor {}, AS {} ({ebgp})",
            p.config.address, p.config.remote_as
        );
        if let Some(n) = n {
            let _ = write!(t, ", router id {}", n.peer.router_id);
        }
        let _ = writeln!(
            t,
            "\n  state {} for {}s (established {} times)",
            format!("{:?}", s.state()).to_lowercase(),
            now.saturating_duration_since(s.since()).as_secs(),
            st.established
        );
        let security = match (p.config.password.is_some(), p.config.ttl_security) {
            (true, true) => "TCP MD5, GTSM",
            (true, false) => "TCP MD5",
            (false, true) => "GTSM",
            (false, false) => "none",
        };
        let policy = |v: Value| v.as_str().map_or(v.to_string(), str::to_string);
        let role = p
            .config
            .role
            .map_or(String::new(), |r| format!("; our role {}", r.name()));
        let _ = writeln!(
            t,
            "  import {}, export {}{role}; transport security: {security}",
            policy(json!(p.config.import)),
            policy(json!(p.config.export))
        );
        if let Some(n) = n {
            let families: Vec<&str> = n.families.iter().map(|f| f.name()).collect();
            let mut caps = vec![families.join(" ")];
            if n.four_octet_as {
                caps.push("4-octet AS".into());
            }
            if n.route_refresh {
                caps.push("route refresh".into());
            }
            if let Some(gr) = &n.peer.capabilities.graceful_restart {
                caps.push(format!("graceful restart ({}s)", gr.restart_time));
            }
            if let Some(r) = n.peer.capabilities.role.and_then(Role::from_value) {
                caps.push(format!("role {}", r.name()));
            }
            let _ = writeln!(
                t,
                "  {} -> {}, hold time {}s; capabilities: {}",
                n.local,
                n.remote,
                n.hold_time,
                caps.join(", ")
            );
        }
        let counts = self.family_counts(p);
        let _ = writeln!(
            t,
            "  family          received  accepted  advertised  end-of-rib"
        );
        for f in Family::ALL {
            let c = &counts[f.name()];
            let n = |k: &str| c[k].as_u64().unwrap_or(0);
            let _ = writeln!(
                t,
                "  {:<14} {:>9} {:>9} {:>11}  {}",
                f.name(),
                n("received"),
                n("accepted"),
                n("advertised"),
                if c["end_of_rib"] == true { "yes" } else { "no" }
            );
        }
        let _ = writeln!(
            t,
            "  messages in {} (updates {}, route-refresh {}), out {} (updates {}, route-refresh {})",
            st.messages_in,
            st.updates_in,
            st.route_refresh_in,
            st.messages_out,
            st.updates_out,
            st.route_refresh_out
        );
        let _ = writeln!(
            t,
            "  treat-as-withdraw {}, attributes discarded {}, stale {}",
            p.treat_as_withdraw,
            p.attributes_discarded,
            p.stale.len()
        );
        let none = || "-".to_string();
        let _ = writeln!(
            t,
            "  last error sent: {}\n  last error received: {}\n  last down: {}",
            st.last_error_sent.clone().unwrap_or_else(none),
            st.last_error_received.clone().unwrap_or_else(none),
            st.last_down.clone().unwrap_or_else(none)
        );
        t
    }
}
