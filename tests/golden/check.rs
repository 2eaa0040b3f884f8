//! Replays one capture under one set-up and compares every frame's outcome,
//! every transmitted frame and the counters with the prediction.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::path::Path;

use super::capture;
use super::model::Setup;
use super::predict::{predict, Family, Icmp, Output, Prediction, Verdict};
use super::replay::{self, FrameReport, Report};

/// Most problems listed per capture (the count is always given).
const MAX_LISTED: usize = 12;

/// Outcomes across all captures, to show the test is not vacuous.
#[derive(Debug, Default)]
pub struct Coverage {
    pub seen: BTreeMap<&'static str, u64>,
}

/// Outcomes the corpus must exercise at least once.
pub const REQUIRED: &[&str] = &[
    "forward v4",
    "forward v6",
    "fragmented",
    "ttl_expired + ICMPv4",
    "ttl_expired + ICMPv6",
    "bad_checksum",
    "truncated",
    "local ARP",
    "vlan_unknown",
    "bad_extension_header or link_local",
    "mtu_df",
    "packet_too_big",
];

impl Coverage {
    fn record(&mut self, p: &Prediction) {
        let sent = matches!(p.icmp, Icmp::Sent(_));
        let mut keys = Vec::new();
        match (p.verdict, p.family, p.reason) {
            (Verdict::Forward, Family::V4, _) => keys.push("forward v4"),
            (Verdict::Forward, Family::V6, _) => keys.push("forward v6"),
            (Verdict::Fragmented, _, _) => keys.push("fragmented"),
            (Verdict::Local, Family::Arp, _) => keys.push("local ARP"),
            (Verdict::Drop, Family::V4, Some("ttl_expired")) if sent => {
                keys.push("ttl_expired + ICMPv4")
            }
            (Verdict::Drop, Family::V6, Some("ttl_expired")) if sent => {
                keys.push("ttl_expired + ICMPv6")
            }
            (Verdict::Drop, _, Some("bad_extension_header" | "link_local")) => {
                keys.push("bad_extension_header or link_local")
            }
            _ => {}
        }
        if let Some(
            r @ ("bad_checksum" | "truncated" | "vlan_unknown" | "mtu_df" | "packet_too_big"),
        ) = p.reason
        {
            keys.push(r);
        }
        for k in keys {
            *self.seen.entry(k).or_default() += 1;
        }
    }

    pub fn missing(&self) -> Vec<&'static str> {
        REQUIRED
            .iter()
            .copied()
            .filter(|k| !self.seen.contains_key(k))
            .collect()
    }
}

/// What one replay did, as predicted (printed as the one-line summary).
#[derive(Debug, Default)]
pub struct Tally {
    pub frames: u64,
    pub forwarded: u64,
    pub fragmented: u64,
    pub fragments: u64,
    pub local: u64,
    pub icmp_sent: u64,
    pub icmp_suppressed: u64,
    pub drops: BTreeMap<&'static str, u64>,
}

impl fmt::Display for Tally {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} frames: {} forwarded ({} fragmented into {}), {} local, {} ICMP sent, {} suppressed; drops:",
            self.frames,
            self.forwarded,
            self.fragmented,
            self.fragments,
            self.local,
            self.icmp_sent,
            self.icmp_suppressed
        )?;
        if self.drops.is_empty() {
            write!(f, " none")?;
        }
        for (reason, n) in &self.drops {
            write!(f, " {reason}={n}")?;
        }
        Ok(())
    }
}

/// The frames one port transmitted, consumed in order.
struct PortStream {
    name: String,
    frames: VecDeque<capture::Frame>,
    total_frames: u64,
    total_bytes: u64,
}

/// Replays `capture` under `setup`; `Err` lists every disagreement.
pub fn check_capture(
    bin: &Path,
    capture: &Path,
    setup: &Setup,
    coverage: &mut Coverage,
) -> Result<Tally, (Tally, Vec<String>)> {
    let mut problems = Vec::new();
    let mut tally = Tally::default();
    let report = match replay_capture(bin, capture, setup) {
        Ok(r) => r,
        Err(e) => return Err((tally, vec![e])),
    };
    let (frames, report, mut streams) = report;
    let predictions: Vec<Prediction> = frames.iter().map(|f| predict(setup, &f.data)).collect();
    if report.frames.len() != frames.len() {
        problems.push(format!(
            "report has {} frames, the capture {}",
            report.frames.len(),
            frames.len()
        ));
    }
    let mut fragments_reported = 0u64;
    for (i, (pred, frame_report)) in predictions.iter().zip(&report.frames).enumerate() {
        tally.add(pred);
        if pred.verdict == Verdict::Fragmented {
            fragments_reported += frame_report.emitted.len() as u64;
        }
        match check_frame(setup, &frames[i], i, pred, frame_report, &mut streams) {
            Ok(()) => coverage.record(pred),
            Err(e) => problems.push(format!("frame {i}: {e}")),
        }
    }
    tally.fragments = fragments_reported;
    check_streams_and_ports(&report, &streams, &mut problems);
    check_counters(&report, &tally, frames.len() as u64, &mut problems);
    if problems.is_empty() {
        Ok(tally)
    } else {
        let n = problems.len();
        if n > MAX_LISTED {
            problems.truncate(MAX_LISTED);
            problems.push(format!("... and {} more", n - MAX_LISTED));
        }
        Err((tally, problems))
    }
}

type Replayed = (Vec<capture::Frame>, Report, Vec<PortStream>);

fn replay_capture(bin: &Path, capture: &Path, setup: &Setup) -> Result<Replayed, String> {
    let tmp = tempfile::tempdir().map_err(|e| e.to_string())?;
    let ext = capture
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("pcap");
    let input = tmp.path().join(format!("in.{ext}"));
    let frames = capture::write_router_copy(capture, &input, &setup.ingress().mac)?;
    let config = tmp.path().join("router.toml");
    std::fs::write(&config, setup.to_toml()).map_err(|e| e.to_string())?;
    let out_dir = tmp.path().join("out");
    std::fs::create_dir(&out_dir).map_err(|e| e.to_string())?;
    let report = replay::run(bin, tmp.path(), &config, &input, &out_dir)?;
    let mut streams = Vec::new();
    for port in &setup.ports {
        let frames = match report.ports.iter().find(|p| p.name == port.name) {
            Some(p) if p.output.exists() => capture::read_frames(&p.output)?,
            Some(p) if p.tx_frames == 0 => Vec::new(),
            Some(p) => return Err(format!("{} is missing", p.output.display())),
            None => return Err(format!("report has no port {}", port.name)),
        };
        streams.push(PortStream {
            name: port.name.to_string(),
            total_frames: frames.len() as u64,
            total_bytes: frames.iter().map(|f| f.data.len() as u64).sum(),
            frames: frames.into(),
        });
    }
    Ok((frames, report, streams))
}

impl Tally {
    fn add(&mut self, p: &Prediction) {
        self.frames += 1;
        match p.verdict {
            Verdict::Forward => self.forwarded += 1,
            Verdict::Fragmented => {
                self.forwarded += 1;
                self.fragmented += 1;
            }
            Verdict::Local => self.local += 1,
            Verdict::Drop => *self.drops.entry(p.reason.unwrap_or("?")).or_default() += 1,
        }
        match p.icmp {
            Icmp::Sent(_) => self.icmp_sent += 1,
            Icmp::Suppressed => self.icmp_suppressed += 1,
            Icmp::None => {}
        }
    }
}

fn port_index(streams: &[PortStream], name: &str) -> Result<usize, String> {
    streams
        .iter()
        .position(|s| s.name == name)
        .ok_or_else(|| format!("unknown port {name:?}"))
}

/// Microseconds: what a classic pcap can carry, whatever the input had.
fn micros(ts: std::time::Duration) -> u128 {
    ts.as_micros()
}

/// Takes the next frame off port `name`'s stream; it must carry the time
/// stamp of the input frame that caused it.
fn pop(streams: &mut [PortStream], name: &str, input: &capture::Frame) -> Result<Vec<u8>, String> {
    let i = port_index(streams, name)?;
    let frame = streams[i]
        .frames
        .pop_front()
        .ok_or_else(|| format!("{name}'s output has no frame left for it"))?;
    if micros(frame.ts) != micros(input.ts) {
        return Err(format!(
            "frame on {name} stamped {:?}, input stamped {:?}",
            frame.ts, input.ts
        ));
    }
    Ok(frame.data)
}

/// Compares one frame's report with the prediction. The frames the report
/// says were sent are taken off the port streams first, so one wrong frame
/// does not shift every later comparison.
fn check_frame(
    setup: &Setup,
    input: &capture::Frame,
    i: usize,
    pred: &Prediction,
    got: &FrameReport,
    streams: &mut [PortStream],
) -> Result<(), String> {
    let sent_forward = if got.verdict == "forward" {
        Some(pop(
            streams,
            got.egress.as_deref().unwrap_or("<none>"),
            input,
        )?)
    } else {
        None
    };
    let mut sent_emitted = Vec::new();
    for e in &got.emitted {
        let frame = pop(streams, &e.port, input)?;
        if frame.len() != e.len {
            return Err(format!(
                "emitted frame on {} is {} bytes in the pcap, {} in the report",
                e.port,
                frame.len(),
                e.len
            ));
        }
        sent_emitted.push((port_index(streams, &e.port)?, frame));
    }
    if got.index != i || got.input != setup.ingress().name {
        return Err(format!(
            "reported as index {} input {:?}",
            got.index, got.input
        ));
    }
    let want_egress = pred.egress.map(|p| setup.ports[p].name);
    if got.verdict != pred.verdict.name()
        || got.reason.as_deref() != pred.reason
        || got.egress.as_deref() != want_egress
    {
        return Err(format!(
            "got {} {:?} egress {:?}, predicted {} {:?} egress {:?}",
            got.verdict,
            got.reason,
            got.egress,
            pred.verdict.name(),
            pred.reason,
            want_egress
        ));
    }
    match (&pred.output, &pred.icmp) {
        (Output::Forward(want), _) => {
            let frame = sent_forward.expect("verdict is forward");
            if got.len != Some(frame.len()) {
                return Err(format!(
                    "report says {:?} bytes forwarded, the pcap holds {}",
                    got.len,
                    frame.len()
                ));
            }
            want.compare(&frame)
                .map_err(|e| format!("forwarded frame: {e}"))?;
        }
        (Output::Fragments(spec), _) => {
            let mut pieces = Vec::new();
            for (port, frame) in &sent_emitted {
                if *port != spec.port {
                    return Err(format!("a fragment left on {}", setup.ports[*port].name));
                }
                pieces.push(frame.as_slice());
            }
            spec.check(&pieces)?;
            return Ok(());
        }
        (Output::None, Icmp::Sent(want)) => {
            let [(port, frame)] = sent_emitted.as_slice() else {
                return Err(format!(
                    "{} frames emitted, predicted one ICMP error",
                    sent_emitted.len()
                ));
            };
            if *port != want.port {
                return Err(format!("ICMP error left on {}", setup.ports[*port].name));
            }
            want.compare(frame)
                .map_err(|e| format!("ICMP error: {e}"))?;
            return Ok(());
        }
        (Output::None, _) => {}
    }
    if !sent_emitted.is_empty() {
        return Err(format!(
            "{} frames emitted, none predicted",
            sent_emitted.len()
        ));
    }
    Ok(())
}

fn check_streams_and_ports(report: &Report, streams: &[PortStream], problems: &mut Vec<String>) {
    for s in streams {
        if !s.frames.is_empty() {
            problems.push(format!(
                "{} transmitted {} frames no input frame accounts for",
                s.name,
                s.frames.len()
            ));
        }
    }
    for p in &report.ports {
        let Some(s) = streams.iter().find(|s| s.name == p.name) else {
            problems.push(format!("report names unknown port {}", p.name));
            continue;
        };
        if p.tx_frames != s.total_frames || p.tx_bytes != s.total_bytes {
            problems.push(format!(
                "port {} reports {} frames / {} bytes, its pcap holds {} / {}",
                p.name, p.tx_frames, p.tx_bytes, s.total_frames, s.total_bytes
            ));
        }
    }
}

fn check_counters(report: &Report, want: &Tally, frames: u64, problems: &mut Vec<String>) {
    let mut expect = |name: &str, value: u64| match report.counter(name) {
        Ok(v) if v == value => {}
        Ok(v) => problems.push(format!("counter {name} = {v}, predicted {value}")),
        Err(e) => problems.push(e),
    };
    let dropped: u64 = want.drops.values().sum();
    expect("rx_frames", frames);
    expect("forwarded", want.forwarded);
    expect("fragmented", want.fragmented);
    expect("fragments_sent", want.fragments);
    expect("local", want.local);
    expect("dropped", dropped);
    expect("icmp_sent", want.icmp_sent);
    expect("icmp_suppressed", want.icmp_suppressed);
    expect("icmp_rate_limited", 0);
    expect("icmp_no_buffer", 0);
    if report.frames_in != frames {
        problems.push(format!(
            "frames_in = {}, capture has {frames}",
            report.frames_in
        ));
    }
    let (fw, lo, dr) = (
        report.counter("forwarded").unwrap_or(0),
        report.counter("local").unwrap_or(0),
        report.counter("dropped").unwrap_or(0),
    );
    if fw + lo + dr != report.frames_in {
        problems.push(format!(
            "forwarded {fw} + local {lo} + dropped {dr} != frames_in {}",
            report.frames_in
        ));
    }
    let reported_sum: u64 = report.drops.values().sum();
    if reported_sum != dr {
        problems.push(format!(
            "drops by reason sum to {reported_sum}, dropped = {dr}"
        ));
    }
    let reasons: std::collections::BTreeSet<&str> = want
        .drops
        .keys()
        .copied()
        .chain(report.drops.keys().map(|s| s.as_str()))
        .collect();
    for reason in reasons {
        let got = report.drops.get(reason).copied().unwrap_or(0);
        let predicted = want.drops.get(reason).copied().unwrap_or(0);
        if got != predicted {
            problems.push(format!("drops.{reason} = {got}, predicted {predicted}"));
        }
    }
}
