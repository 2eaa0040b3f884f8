//! Counters of a port's queues, per class, and their operator report.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// One class's counters (plain integers: one writer, the worker).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClassCounters {
    /// Frames accepted into a queue.
    pub enqueued: u64,
    /// Frames handed to the transmit ring.
    pub sent: u64,
    pub sent_bytes: u64,
    /// ECN-capable frames marked CE (or already CE) by CoDel.
    pub marks: u64,
    /// Not-ECT frames CoDel dropped.
    pub aqm_drops: u64,
    /// Frames dropped because a flow queue or the port buffer was full.
    pub overflow_drops: u64,
    /// Frames and bytes queued now.
    pub backlog: u64,
    pub backlog_bytes: u64,
}

impl ClassCounters {
    pub fn merge(&mut self, o: &ClassCounters) {
        self.enqueued += o.enqueued;
        self.sent += o.sent;
        self.sent_bytes += o.sent_bytes;
        self.marks += o.marks;
        self.aqm_drops += o.aqm_drops;
        self.overflow_drops += o.overflow_drops;
        self.backlog += o.backlog;
        self.backlog_bytes += o.backlog_bytes;
    }

    /// Frames that left the queues one way or another.
    pub fn dropped(&self) -> u64 {
        self.aqm_drops + self.overflow_drops
    }
}

/// Sojourn-time histogram: 1 µs resolution is plenty, up to 100 s.
pub fn sojourn_histogram() -> Histogram<u64> {
    match Histogram::new_with_bounds(1, 100_000_000_000, 2) {
        Ok(h) => h,
        Err(e) => unreachable!("constant histogram bounds are valid: {e}"),
    }
}

/// Sojourn percentiles in nanoseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SojournSummary {
    pub samples: u64,
    pub p50: u64,
    pub p99: u64,
    pub max: u64,
}

impl SojournSummary {
    pub fn of(h: &Histogram<u64>) -> SojournSummary {
        SojournSummary {
            samples: h.len(),
            p50: h.value_at_quantile(0.5),
            p99: h.value_at_quantile(0.99),
            max: h.max(),
        }
    }
}

/// One class in a report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClassReport {
    pub name: String,
    pub weight: u32,
    pub counters: ClassCounters,
    pub sojourn_ns: SojournSummary,
}

/// One port in a report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortQosReport {
    pub port: String,
    pub scheduler: String,
    /// Shaped rate in bytes/s (0: unshaped).
    pub rate: u64,
    pub total: ClassCounters,
    pub sojourn_ns: SojournSummary,
    pub classes: Vec<ClassReport>,
    pub flow_collisions: u64,
}

/// A port's counters and histograms as a worker publishes them; the sum
/// over workers is what operators see.
#[derive(Debug, Clone)]
pub struct PortQosSnapshot {
    pub port: String,
    pub scheduler: String,
    pub rate: u64,
    pub names: Vec<String>,
    pub weights: Vec<u32>,
    pub counters: Vec<ClassCounters>,
    pub sojourn: Vec<Histogram<u64>>,
    pub collisions: u64,
}

impl PortQosSnapshot {
    /// Adds another worker's view of the same port.
    pub fn merge(&mut self, o: &PortQosSnapshot) {
        for (a, b) in self.counters.iter_mut().zip(&o.counters) {
            a.merge(b);
        }
        for (a, b) in self.sojourn.iter_mut().zip(&o.sojourn) {
            // Same bounds on both sides: adding cannot fail.
            let _ = a.add(b);
        }
        self.collisions += o.collisions;
    }

    pub fn report(&self) -> PortQosReport {
        let mut total = ClassCounters::default();
        let mut all = sojourn_histogram();
        let classes = (0..self.counters.len())
            .map(|c| {
                total.merge(&self.counters[c]);
                let _ = all.add(&self.sojourn[c]);
                ClassReport {
                    name: self.names.get(c).cloned().unwrap_or_default(),
                    weight: self.weights.get(c).copied().unwrap_or(1),
                    counters: self.counters[c],
                    sojourn_ns: SojournSummary::of(&self.sojourn[c]),
                }
            })
            .collect();
        PortQosReport {
            port: self.port.clone(),
            scheduler: self.scheduler.clone(),
            rate: self.rate,
            total,
            sojourn_ns: SojournSummary::of(&all),
            classes,
            flow_collisions: self.collisions,
        }
    }
}

/// Every port's queues.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QosReport {
    pub ports: Vec<PortQosReport>,
}

impl QosReport {
    /// Lines for `ferroute stats`.
    pub fn to_text(&self) -> String {
        use std::fmt::Write as _;
        let mut s = String::new();
        for p in &self.ports {
            let rate = if p.rate == 0 {
                "unshaped".to_string()
            } else {
                format!("{:.1} Mbit/s", p.rate as f64 * 8.0 / 1e6)
            };
            let _ = writeln!(
                s,
                "queues {} ({}, {}): backlog {} frames, flow collisions {}",
                p.port, p.scheduler, rate, p.total.backlog, p.flow_collisions
            );
            for c in &p.classes {
                let k = &c.counters;
                let _ = writeln!(
                    s,
                    "  {:<10} w{:<4} enq {} sent {} ({} B) marks {} aqm-drops {} overflow {} backlog {} \
                     sojourn p50 {} p99 {} max {} µs",
                    c.name,
                    c.weight,
                    k.enqueued,
                    k.sent,
                    k.sent_bytes,
                    k.marks,
                    k.aqm_drops,
                    k.overflow_drops,
                    k.backlog,
                    c.sojourn_ns.p50 / 1000,
                    c.sojourn_ns.p99 / 1000,
                    c.sojourn_ns.max / 1000
                );
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use crate::qos::tests::frames::{v4_frame, V4Spec};
    use crate::qos::tests::sim::{SimFrame, SimStore};
    use crate::qos::{ClassConfig, PortQueues, QosConfig};

    #[test]
    fn snapshots_merge_across_workers_and_print() {
        let cfg = QosConfig {
            rate: Some(12_500_000),
            classes: vec![ClassConfig {
                name: "voice".into(),
                dscp: vec![46],
                weight: 4,
            }],
            ..QosConfig::default()
        };
        let mut snaps = Vec::new();
        for worker in 0..2u64 {
            let mut q = PortQueues::new(&cfg, [worker, 1]);
            let mut store = SimStore::default();
            for id in 0..10 {
                let mut s = V4Spec::udp(id as u16, 1);
                s.dscp = if id % 2 == 0 { 46 } else { 0 };
                let bytes = v4_frame(&s);
                q.enqueue(
                    SimFrame {
                        id,
                        source: 0,
                        bytes,
                    },
                    0,
                    &mut store,
                );
            }
            for _ in 0..6 {
                assert!(q.dequeue(1_000_000, &mut store).is_some());
            }
            let mut snap = q.snapshot("p1");
            q.snapshot_into(&mut snap);
            snaps.push(snap);
        }
        let mut sum = snaps[0].clone();
        sum.merge(&snaps[1]);
        let r = sum.report();
        assert_eq!(r.total.enqueued, 20);
        assert_eq!(r.total.sent, 12);
        assert_eq!(r.total.backlog, 8);
        assert_eq!(r.sojourn_ns.samples, 12);
        assert_eq!(r.classes[1].name, "voice");
        assert_eq!(r.classes[1].counters.enqueued, 10);
        let text = super::QosReport { ports: vec![r] }.to_text();
        assert!(text.contains("queues p1 (drr, 100.0 Mbit/s)"), "{text}");
        assert!(text.contains("voice"), "{text}");
    }
}
