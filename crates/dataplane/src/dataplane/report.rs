//! Operator views of the workers' statistics: the JSON report served on the
//! operator socket, and the one-line status `ferroute run` prints each second.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::stats::StatsSnapshot;
use crate::forward::{CounterSummary, DropReason, StagesSnapshot};
use crate::io::SocketDrops;
use crate::qos::QosReport;

/// Per-packet latency percentiles in nanoseconds.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct LatencySummary {
    pub samples: u64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub max: u64,
}

impl LatencySummary {
    pub fn of(h: &hdrhistogram::Histogram<u64>) -> LatencySummary {
        LatencySummary {
            samples: h.len(),
            p50: h.value_at_quantile(0.5),
            p90: h.value_at_quantile(0.9),
            p99: h.value_at_quantile(0.99),
            max: h.max(),
        }
    }
}

/// One worker's share of the traffic (worker q serves receive queue q of
/// every port): how an operator sees that every queue is served, and how
/// evenly the NIC's hash spreads the flows.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct WorkerShare {
    pub rx_frames: u64,
    pub forwarded: u64,
    pub batches: u64,
}

impl WorkerShare {
    pub fn of(snap: &StatsSnapshot) -> WorkerShare {
        WorkerShare {
            rx_frames: snap.counters.rx_frames,
            forwarded: snap.counters.forwarded,
            batches: snap.extra.batches,
        }
    }
}

/// What `ferroute stats` shows.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct StatsReport {
    pub uptime_ms: u64,
    pub workers: usize,
    pub fib_version: u64,
    pub counters: CounterSummary,
    pub tx_dropped: u64,
    pub local_in_worker: u64,
    pub batches: u64,
    pub latency_ns: LatencySummary,
    /// How late workers woke from sleeps timed for a shaper (scheduling
    /// delay of the host, not queueing).
    #[serde(default)]
    pub shaper_wake_late_ns: LatencySummary,
    /// The XDP program's per-CPU counters, summed, by name.
    pub xdp: BTreeMap<String, u64>,
    /// Output queues per egress port.
    #[serde(default)]
    pub qos: QosReport,
    /// Frames the kernel dropped at the AF_XDP sockets, by reason (not in
    /// `counters`, which count what the workers saw).
    #[serde(default)]
    pub socket_drops: SocketDrops,
    /// uRPF and ACL counters: per port, and per rule of every ACL.
    #[serde(default)]
    pub stages: StagesSnapshot,
    /// Frames carried between the links and the TAPs of VLAN
    /// sub-interfaces (`ferroute run`'s punt thread), by name; empty
    /// without VLANs.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub linux_cp: BTreeMap<String, u64>,
    /// Each worker's share, in worker (receive queue) order; empty when
    /// the report was made without them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub per_worker: Vec<WorkerShare>,
}

impl StatsReport {
    pub fn new(
        snap: &StatsSnapshot,
        workers: usize,
        uptime: Duration,
        xdp: BTreeMap<String, u64>,
    ) -> Self {
        let latency_ns = LatencySummary::of(&snap.latency_ns);
        StatsReport {
            uptime_ms: uptime.as_millis() as u64,
            workers,
            fib_version: snap.extra.fib_version,
            counters: snap.counters.summary(),
            tx_dropped: snap.extra.tx_dropped,
            local_in_worker: snap.extra.local_in_worker,
            batches: snap.extra.batches,
            latency_ns,
            shaper_wake_late_ns: LatencySummary::of(&snap.wake_late_ns),
            xdp,
            qos: QosReport {
                ports: snap.qos.iter().map(|p| p.report()).collect(),
            },
            socket_drops: snap.socket_drops,
            stages: snap.stages.clone(),
            linux_cp: BTreeMap::new(),
            per_worker: Vec::new(),
        }
    }

    /// Redirected frames neither received nor counted as dropped at a
    /// socket: those still in the receive rings (a few at most once traffic
    /// stops), or lost unseen (a bug). None without the XDP program's counts.
    pub fn unaccounted(&self) -> Option<i64> {
        let redirected = *self.xdp.get("redirected")?;
        let accounted = self.counters.rx_frames + self.socket_drops.rx_dropped();
        Some(redirected as i64 - accounted as i64)
    }

    /// Multi-line text for people.
    pub fn to_text(&self) -> String {
        let c = &self.counters;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "uptime {:.1} s, {} worker(s), FIB version {}",
            self.uptime_ms as f64 / 1000.0,
            self.workers,
            self.fib_version
        );
        let _ = writeln!(
            s,
            "rx          {:>14} frames {:>16} bytes",
            c.rx_frames, c.rx_bytes
        );
        let _ = writeln!(
            s,
            "forwarded   {:>14} frames {:>16} bytes",
            c.forwarded, c.forwarded_bytes
        );
        let _ = writeln!(
            s,
            "fragmented  {:>14} ({} fragments sent)",
            c.fragmented, c.fragments_sent
        );
        let _ = writeln!(s, "local       {:>14}", c.local + self.local_in_worker);
        let d = &self.socket_drops;
        let _ = writeln!(s, "dropped     {:>14}", c.dropped + d.total());
        for (reason, n) in &c.drops {
            let _ = writeln!(s, "  {reason:<24}{n:>12}");
        }
        for (reason, n) in d.by_reason().iter().filter(|(_, n)| *n > 0) {
            let _ = writeln!(s, "  {reason:<24}{n:>12}");
        }
        if let Some(unaccounted) = self.unaccounted() {
            let _ = writeln!(
                s,
                "redirected {} = received {} + dropped at the sockets {} + in the rings {}",
                self.xdp.get("redirected").copied().unwrap_or(0),
                c.rx_frames,
                d.rx_dropped(),
                unaccounted
            );
        }
        let _ = writeln!(s, "tx ring full {:>13}", self.tx_dropped);
        let _ = writeln!(
            s,
            "icmp errors sent {}, rate limited {}, suppressed {}, no buffer {}",
            c.icmp_sent, c.icmp_rate_limited, c.icmp_suppressed, c.icmp_no_buffer
        );
        if c.options != Default::default() {
            let _ = writeln!(s, "ipv4 options: {}", c.options);
        }
        let l = &self.latency_ns;
        let _ = writeln!(
            s,
            "latency per packet (ns): p50 {} p90 {} p99 {} max {} over {} packets",
            l.p50, l.p90, l.p99, l.max, l.samples
        );
        let w = &self.shaper_wake_late_ns;
        if w.samples > 0 {
            let _ = writeln!(
                s,
                "shaper wake-ups late by (µs): p50 {} p99 {} max {} over {} sleeps",
                w.p50 / 1000,
                w.p99 / 1000,
                w.max / 1000,
                w.samples
            );
        }
        if self.per_worker.len() > 1 {
            for (q, w) in self.per_worker.iter().enumerate() {
                let _ = writeln!(
                    s,
                    "  worker {q:<3} rx {:>14} forwarded {:>14} batches {:>12}",
                    w.rx_frames, w.forwarded, w.batches
                );
            }
        }
        let stages = self.stages.to_text();
        if !stages.is_empty() {
            let _ = writeln!(s, "stages:");
            s.push_str(&stages);
        }
        s.push_str(&self.qos.to_text());
        for (title, counters) in [
            ("xdp program:", &self.xdp),
            ("vlan taps (linux-cp):", &self.linux_cp),
        ] {
            if !counters.is_empty() {
                let _ = writeln!(s, "{title}");
                for (name, n) in counters {
                    let _ = writeln!(s, "  {name:<24}{n:>12}");
                }
            }
        }
        s
    }
}

fn rate(now: u64, before: u64, secs: f64) -> f64 {
    now.saturating_sub(before) as f64 / secs
}

fn human(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else if v >= 10.0 || v == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// One status line from two snapshots `elapsed` apart: rates per second, and
/// drops by reason.
pub fn status_line(now: &StatsSnapshot, before: &StatsSnapshot, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64().max(1e-9);
    let (n, b) = (&now.counters, &before.counters);
    let (ns, bs) = (&now.socket_drops, &before.socket_drops);
    let mut line = format!(
        "rx {}pps  fwd {}pps {}bps  local {}/s  drop {}/s",
        human(rate(n.rx_frames, b.rx_frames, secs)),
        human(rate(n.forwarded, b.forwarded, secs)),
        human(rate(n.forwarded_bytes, b.forwarded_bytes, secs) * 8.0),
        human(rate(n.local, b.local, secs)),
        human(rate(
            n.total_dropped() + ns.total(),
            b.total_dropped() + bs.total(),
            secs
        )),
    );
    let mut reasons = Vec::new();
    let pipeline = DropReason::ALL
        .iter()
        .map(|r| (r.name(), n.dropped(*r), b.dropped(*r)));
    let sockets = ns
        .by_reason()
        .into_iter()
        .zip(bs.by_reason())
        .map(|((name, now), (_, before))| (name, now, before));
    for (name, now, before) in pipeline.chain(sockets) {
        let d = now.saturating_sub(before);
        if d > 0 {
            reasons.push(format!("{name} {}", human(d as f64 / secs)));
        }
    }
    if !reasons.is_empty() {
        let _ = write!(line, " ({})", reasons.join(", "));
    }
    let icmp = n.icmp_sent.saturating_sub(b.icmp_sent);
    if icmp > 0 {
        let _ = write!(line, "  icmp {}/s", human(icmp as f64 / secs));
    }
    let txd = now.extra.tx_dropped.saturating_sub(before.extra.tx_dropped);
    if txd > 0 {
        let _ = write!(line, "  tx-full {}/s", human(txd as f64 / secs));
    }
    // The interval's own latencies: the snapshots' histograms are
    // cumulative, and `before`'s counts are contained in `now`'s.
    let mut interval = now.latency_ns.clone();
    if interval.subtract(&before.latency_ns).is_ok() && !interval.is_empty() {
        let _ = write!(
            line,
            "  lat p50 {}ns p99 {}ns",
            interval.value_at_quantile(0.5),
            interval.value_at_quantile(0.99)
        );
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_line_shows_rates_and_reasons() {
        let before = StatsSnapshot::default();
        let mut now = StatsSnapshot::default();
        now.counters.rx_frames = 2_000_000;
        now.counters.forwarded = 1_500_000;
        now.counters.forwarded_bytes = 1_500_000 * 64;
        now.counters.drop(DropReason::NoRoute);
        now.counters.icmp_sent = 1;
        now.latency_ns.record(1500).unwrap();
        let line = status_line(&now, &before, Duration::from_secs(2));
        assert!(
            line.starts_with("rx 1.00Mpps  fwd 750.0kpps 384.00Mbps"),
            "{line}"
        );
        assert!(line.contains("drop 0.5/s (no_route 0.5)"), "{line}");
        assert!(line.contains("icmp 0.5/s"), "{line}");
        assert!(line.contains("lat p50 1500ns"), "{line}");
    }

    #[test]
    fn socket_drops_are_drop_reasons_and_complete_the_account() {
        let before = StatsSnapshot::default();
        let mut now = StatsSnapshot::default();
        now.counters.rx_frames = 90;
        now.counters.drop(DropReason::NoRoute);
        now.socket_drops.rx_ring_full = 6;
        now.socket_drops.fill_ring_empty = 2;
        now.socket_drops.tx_ring_empty = 1000;
        let line = status_line(&now, &before, Duration::from_secs(1));
        assert!(
            line.contains(
                "drop 9.0/s (no_route 1.0, xsk_rx_ring_full 6.0, xsk_fill_ring_empty 2.0)"
            ),
            "{line}"
        );
        let mut xdp = BTreeMap::new();
        xdp.insert("redirected".to_string(), 100);
        let r = StatsReport::new(&now, 1, Duration::from_secs(1), xdp);
        // 100 redirected = 90 received + 8 dropped at the sockets + 2 left.
        assert_eq!(r.unaccounted(), Some(2));
        let text = r.to_text();
        assert!(text.contains("dropped                  9\n"), "{text}");
        assert!(
            text.contains("  xsk_rx_ring_full                   6"),
            "{text}"
        );
        assert!(
            !text.contains("xsk_rx_other"),
            "zero reasons are left out: {text}"
        );
        assert!(
            text.contains(
                "redirected 100 = received 90 + dropped at the sockets 8 + in the rings 2"
            ),
            "{text}"
        );
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["socket_drops"]["rx_ring_full"], 6);
    }

    #[test]
    fn status_line_latency_covers_only_the_interval() {
        let mut before = StatsSnapshot::default();
        before.latency_ns.record_n(90_000, 1000).unwrap();
        let mut now = before.clone();
        now.latency_ns.record_n(2_000, 10).unwrap();
        let line = status_line(&now, &before, Duration::from_secs(1));
        assert!(line.contains("lat p50 2000ns p99 2000ns"), "{line}");
        // Nothing new in the interval: no latency shown.
        let line = status_line(&before, &before, Duration::from_secs(1));
        assert!(!line.contains("lat"), "{line}");
    }

    #[test]
    fn report_round_trips_through_json() {
        let mut snap = StatsSnapshot::default();
        snap.counters.forwarded = 5;
        snap.latency_ns.record_n(2000, 10).unwrap();
        snap.wake_late_ns.record_n(30_000, 4).unwrap();
        let mut xdp = BTreeMap::new();
        xdp.insert("redirected".to_string(), 7);
        let mut r = StatsReport::new(&snap, 2, Duration::from_millis(1500), xdp);
        let json = serde_json::to_string(&r).unwrap();
        assert!(!json.contains("linux_cp"), "no VLANs, no section: {json}");
        assert!(
            !json.contains("per_worker"),
            "no shares, no section: {json}"
        );
        r.linux_cp.insert("to_kernel".to_string(), 3);
        r.per_worker = vec![
            WorkerShare {
                rx_frames: 4,
                forwarded: 3,
                batches: 2,
            },
            WorkerShare {
                rx_frames: 9,
                forwarded: 8,
                batches: 1,
            },
        ];
        let json = serde_json::to_string(&r).unwrap();
        let back: StatsReport = serde_json::from_str(&json).unwrap();
        assert_eq!(back, r);
        assert!(
            r.to_text()
                .contains("vlan taps (linux-cp):\n  to_kernel                          3\n"),
            "{}",
            r.to_text()
        );
        assert!(
            r.to_text().contains(
                "  worker 1   rx              9 forwarded              8 batches            1\n"
            ),
            "{}",
            r.to_text()
        );
        assert_eq!(r.latency_ns.samples, 10);
        assert_eq!(r.shaper_wake_late_ns.samples, 4);
        let text = r.to_text();
        assert!(
            text.contains("forwarded") && text.contains("redirected"),
            "{text}"
        );
        assert!(
            text.contains("shaper wake-ups late by (µs): p50 30 "),
            "{text}"
        );
    }
}
