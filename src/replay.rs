//! Offline forwarding: capture files in, one capture file per port out.
//!
//! The inputs are merged by timestamp (ties go to the earlier input; each
//! file keeps its own order), and every frame goes through ONE
//! [`Forwarder`] with `now_ns` = its capture timestamp, so ICMP rate limiting
//! behaves as it would have on the wire. Everything the router would have
//! transmitted is written to `<output dir>/<port>.pcap`, stamped with the
//! time of the input frame that caused it; a VLAN sub-interface's file
//! holds its frames tagged, as they cross its parent's wire. Inputs are
//! given to links (tagged frames reach their sub-interfaces).
//!
//! The FIB is the one `ferroute run` publishes first for the same
//! configuration ([`OfflineRouting`]): static routes, the `[linkstate]`
//! database's SPF routes and the `[bgp]` files' selection, resolved over
//! the static neighbours. Live sessions (`[[bgp.peer]]`, OSPF) are not
//! replayed: they never come up, so they add no routes.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::config::Config;
use crate::control::offline::{OfflineError, OfflineRouting};
use crate::fib::PortId;
use crate::forward::acl::{self, AclHits};
use crate::forward::{
    Arrival, Counters, DropReason, Forwarder, FrameHint, PortFeatureCounters, Verdict,
};
use crate::io::{CapturedFrame, MemoryTx, PcapError, PcapReader, PcapWriter};
use crate::wire::ethernet::ethertype;
use crate::wire::vlan::{VlanFrame, TAG_LEN};

/// One `--input PORT=FILE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayInput {
    /// Name of the port the frames arrive on.
    pub port: String,
    pub path: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("input {path}: no port named {port:?} in the configuration (ports: {known})")]
    UnknownPort {
        port: String,
        path: String,
        known: String,
    },
    #[error(
        "input {path}: port {port:?} is a VLAN; give its frames, tagged, to its parent {parent:?}"
    )]
    InputOnVlan {
        port: String,
        path: String,
        parent: String,
    },
    #[error("input {0}: the same file would also be written as output")]
    InputIsOutput(String),
    #[error("no input files")]
    NoInputs,
    #[error(transparent)]
    Pcap(#[from] PcapError),
    #[error("output directory {path}: {source}")]
    OutputDir {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot build the FIB from the configuration: {0}")]
    Fib(#[from] OfflineError),
}

impl ReplayError {
    /// True when the command line or configuration is at fault (rather than
    /// a file that could not be read or written).
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            ReplayError::UnknownPort { .. }
                | ReplayError::InputOnVlan { .. }
                | ReplayError::InputIsOutput(_)
                | ReplayError::NoInputs
                | ReplayError::Fib(_)
        )
    }
}

/// What one port transmitted.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PortTx {
    pub name: String,
    pub tx_frames: u64,
    pub tx_bytes: u64,
    /// The capture file written for this port.
    pub output: String,
    /// What the port's optional stages (uRPF, ACLs) dropped.
    pub stages: PortFeatureCounters,
}

/// A frame the pipeline emitted (ICMP error or fragment).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct EmittedTrace {
    pub port: String,
    pub len: usize,
}

/// What became of one input frame.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FrameTrace {
    /// Position in the merged processing order (0-based).
    pub index: u64,
    /// Ingress port name.
    pub input: String,
    /// "forward" | "fragmented" | "local" | "drop".
    pub verdict: &'static str,
    /// The drop reason's name for "drop", else null.
    pub reason: Option<&'static str>,
    /// Egress port name for "forward" and "fragmented", else null.
    pub egress: Option<String>,
    /// Transmitted length for "forward", else null.
    pub len: Option<usize>,
    /// Frames the pipeline emitted for this input, in order.
    pub emitted: Vec<EmittedTrace>,
}

impl fmt::Display for FrameTrace {
    /// One line for people: `#3 p0 → forward p1 (98 bytes)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{} {} → {}", self.index, self.input, self.verdict)?;
        if let Some(reason) = self.reason {
            write!(f, " {reason}")?;
        }
        if let Some(egress) = &self.egress {
            write!(f, " {egress}")?;
        }
        if let Some(len) = self.len {
            write!(f, " ({len} bytes)")?;
        }
        if self.verdict == "fragmented" {
            let sizes: Vec<String> = self.emitted.iter().map(|e| e.len.to_string()).collect();
            write!(
                f,
                " ({} fragments: {} bytes)",
                self.emitted.len(),
                sizes.join(" + ")
            )?;
        } else {
            for e in &self.emitted {
                write!(f, " (+icmp on {}, {} bytes)", e.port, e.len)?;
            }
        }
        Ok(())
    }
}

/// The outcome of a replay.
#[derive(Debug, Clone)]
pub struct ReplayReport {
    pub frames_in: u64,
    /// Input frames per `--input`, in the order given.
    pub frames_per_input: Vec<u64>,
    pub counters: Counters,
    /// Every configured port, in configuration order.
    pub ports: Vec<PortTx>,
    /// Hits per rule of every `[[acl]]`.
    pub acl: Vec<AclHits>,
}

/// The `--json` shape (a contract: scripts and other tools read it).
#[derive(Serialize)]
struct JsonReport<'a> {
    frames_in: u64,
    counters: crate::forward::CounterSummary,
    ports: &'a [PortTx],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    acl: &'a [AclHits],
    #[serde(skip_serializing_if = "Option::is_none")]
    frames: Option<&'a [FrameTrace]>,
}

impl ReplayReport {
    /// The report as one JSON object (fields in the documented order);
    /// `frames` only when traced.
    pub fn to_json(&self, frames: Option<&[FrameTrace]>) -> serde_json::Result<String> {
        serde_json::to_string(&JsonReport {
            frames_in: self.frames_in,
            counters: self.counters.summary(),
            ports: &self.ports,
            acl: &self.acl,
            frames,
        })
    }
}

/// One input with its next frame (the merge's look-ahead).
struct Source {
    port: PortId,
    reader: PcapReader,
    head: Option<CapturedFrame>,
}

impl Source {
    fn advance(&mut self) -> Result<(), PcapError> {
        self.head = self.reader.next_frame().transpose()?;
        Ok(())
    }
}

/// The input with the earliest next frame; ties go to the earliest input.
fn earliest(sources: &[Source]) -> Option<usize> {
    let mut best: Option<(usize, u64)> = None;
    for (i, s) in sources.iter().enumerate() {
        if let Some(frame) = &s.head {
            if best.is_none_or(|(_, ts)| frame.timestamp_ns < ts) {
                best = Some((i, frame.timestamp_ns));
            }
        }
    }
    best.map(|(i, _)| i)
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// How input frames are prepared before they enter the pipeline.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReplayOptions {
    /// Give every unicast frame the ingress port's MAC as destination, so
    /// captures taken on other networks reach IP processing instead of being
    /// dropped as `not_our_mac`. Group-addressed frames are left alone.
    pub retarget_unicast_mac: bool,
}

/// Gives a unicast frame the MAC of the interface it arrives on: the
/// link's, or the VLAN sub-interface's its 802.1Q tag names.
fn retarget(frame: &mut [u8], config: &Config, link: PortId) {
    let vid = VlanFrame::new_checked(&*frame)
        .ok()
        .filter(|f| f.tpid() == ethertype::VLAN)
        .map(|f| f.tci().vid());
    let interface = config.ports.iter().find(|p| match (p.vlan, vid) {
        (Some(v), Some(vid)) => v.parent == link && v.id == vid,
        _ => false,
    });
    let Some(port) = interface.or(config.ports.get(link as usize)) else {
        return;
    };
    if frame.len() >= 6 && frame[0] & 1 == 0 {
        frame[..6].copy_from_slice(&port.mac.0);
    }
}

/// Room left before each input frame: a frame leaving through a VLAN
/// sub-interface grows by its tag in place, as on AF_XDP.
const HEADROOM: usize = TAG_LEN;

/// Replays `inputs` through the configured router, writing one capture per
/// port into `output_dir` (created if missing). With `trace`, each input
/// frame's [`FrameTrace`] is passed to it as soon as the frame is processed.
pub fn replay(
    config: &Config,
    inputs: &[ReplayInput],
    output_dir: &Path,
    options: ReplayOptions,
    mut trace: Option<&mut dyn FnMut(&FrameTrace)>,
) -> Result<ReplayReport, ReplayError> {
    if inputs.is_empty() {
        return Err(ReplayError::NoInputs);
    }
    let outputs: Vec<PathBuf> = config
        .ports
        .iter()
        .map(|p| output_dir.join(format!("{}.pcap", p.name)))
        .collect();
    let mut sources = Vec::with_capacity(inputs.len());
    for input in inputs {
        let Some(port) = config.port_id(&input.port) else {
            let known: Vec<&str> = config.ports.iter().map(|p| p.name.as_str()).collect();
            return Err(ReplayError::UnknownPort {
                port: input.port.clone(),
                path: input.path.display().to_string(),
                known: known.join(", "),
            });
        };
        if let Some(v) = config.ports[port as usize].vlan {
            return Err(ReplayError::InputOnVlan {
                port: input.port.clone(),
                path: input.path.display().to_string(),
                parent: config.ports[v.parent as usize].name.clone(),
            });
        }
        if outputs.iter().any(|o| same_file(o, &input.path)) {
            return Err(ReplayError::InputIsOutput(input.path.display().to_string()));
        }
        let mut source = Source {
            port,
            reader: PcapReader::open(&input.path)?,
            head: None,
        };
        source.advance()?;
        sources.push(source);
    }
    let fib = OfflineRouting::build(config)?.table();
    std::fs::create_dir_all(output_dir).map_err(|source| ReplayError::OutputDir {
        path: output_dir.display().to_string(),
        source,
    })?;
    let mut writers = Vec::with_capacity(outputs.len());
    for path in &outputs {
        writers.push(PcapWriter::create(path)?);
    }

    let mut forwarder = Forwarder::new(config.forwarder_config());
    let max_mtu = config.ports.iter().map(|p| p.mtu).max().unwrap_or(0);
    let mut tx = MemoryTx::new(max_mtu);
    let mut frames_per_input = vec![0u64; sources.len()];
    let port_name = |id: PortId| config.port_name(id).unwrap_or("?").to_string();
    let mut index = 0u64;
    while let Some(i) = earliest(&sources) {
        let Some(frame) = sources[i].head.take() else {
            break;
        };
        let ingress = sources[i].port;
        frames_per_input[i] += 1;
        let now = frame.timestamp_ns;
        let mut data = vec![0u8; HEADROOM];
        data.extend_from_slice(&frame.data);
        if options.retarget_unicast_mac {
            retarget(&mut data[HEADROOM..], config, ingress);
        }
        let arrival = Arrival {
            link: ingress,
            start: HEADROOM,
            now_ns: now,
            hint: FrameHint::NONE,
        };
        let verdict = forwarder.process_at(&fib, &mut data, arrival, &mut tx);
        let mut emitted = Vec::new();
        for out in tx.drain() {
            if let Some(w) = writers.get_mut(out.port as usize) {
                w.write(now, &out.data)?;
            }
            if trace.is_some() {
                emitted.push(EmittedTrace {
                    port: port_name(out.port),
                    len: out.data.len(),
                });
            }
        }
        if let Verdict::Forward { port, start, len } = verdict {
            let bytes = data.get(start..start + len);
            if let (Some(w), Some(bytes)) = (writers.get_mut(port as usize), bytes) {
                w.write(now, bytes)?;
            }
        }
        if let Some(observe) = trace.as_mut() {
            observe(&frame_trace(
                index,
                port_name(ingress),
                verdict,
                emitted,
                port_name,
            ));
        }
        index += 1;
        sources[i].advance()?;
    }

    let mut ports = Vec::with_capacity(writers.len());
    let stages = forwarder.port_counters.iter();
    for (((writer, path), port), stages) in writers
        .into_iter()
        .zip(&outputs)
        .zip(&config.ports)
        .zip(stages)
    {
        ports.push(PortTx {
            name: port.name.clone(),
            tx_frames: writer.frames(),
            tx_bytes: writer.bytes(),
            output: path.display().to_string(),
            stages: *stages,
        });
        writer.finish()?;
    }
    Ok(ReplayReport {
        frames_in: index,
        frames_per_input,
        counters: forwarder.counters.clone(),
        ports,
        acl: acl::hits(forwarder.acls(), &forwarder.acl_hits.to_vecs()),
    })
}

fn frame_trace(
    index: u64,
    input: String,
    verdict: Verdict,
    emitted: Vec<EmittedTrace>,
    port_name: impl Fn(PortId) -> String,
) -> FrameTrace {
    let (name, reason, egress, len) = match verdict {
        Verdict::Forward { port, len, .. } => ("forward", None, Some(port_name(port)), Some(len)),
        Verdict::Fragmented { port, .. } => ("fragmented", None, Some(port_name(port)), None),
        Verdict::Local => ("local", None, None, None),
        Verdict::Drop(reason) => ("drop", Some(DropReason::name(reason)), None, None),
    };
    FrameTrace {
        index,
        input,
        verdict: name,
        reason,
        egress,
        len,
        emitted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trace(verdict: &'static str, reason: Option<&'static str>, emitted: &[usize]) -> FrameTrace {
        FrameTrace {
            index: 4,
            input: "p0".into(),
            verdict,
            reason,
            egress: (verdict == "forward" || verdict == "fragmented").then(|| "p1".into()),
            len: (verdict == "forward").then_some(98),
            emitted: emitted
                .iter()
                .map(|&len| EmittedTrace {
                    port: if verdict == "drop" { "p0" } else { "p1" }.into(),
                    len,
                })
                .collect(),
        }
    }

    #[test]
    fn trace_lines_read_well() {
        assert_eq!(
            trace("forward", None, &[]).to_string(),
            "#4 p0 → forward p1 (98 bytes)"
        );
        assert_eq!(
            trace("drop", Some("ttl_expired"), &[70]).to_string(),
            "#4 p0 → drop ttl_expired (+icmp on p0, 70 bytes)"
        );
        assert_eq!(
            trace("drop", Some("no_route"), &[]).to_string(),
            "#4 p0 → drop no_route"
        );
        assert_eq!(
            trace("fragmented", None, &[1414, 114]).to_string(),
            "#4 p0 → fragmented p1 (2 fragments: 1414 + 114 bytes)"
        );
        assert_eq!(trace("local", None, &[]).to_string(), "#4 p0 → local");
    }

    #[test]
    fn json_has_the_documented_shape() {
        let report = ReplayReport {
            frames_in: 1,
            frames_per_input: vec![1],
            counters: Counters::default(),
            ports: vec![PortTx {
                name: "p0".into(),
                tx_frames: 0,
                tx_bytes: 0,
                output: "out/p0.pcap".into(),
                stages: PortFeatureCounters {
                    urpf_dropped: 2,
                    ..Default::default()
                },
            }],
            acl: vec![AclHits {
                name: "edge".into(),
                rules: vec![3],
                default: 1,
            }],
        };
        let parse = |s: String| -> serde_json::Value { serde_json::from_str(&s).unwrap() };
        let text = report.to_json(None).unwrap();
        assert!(
            text.starts_with("{\"frames_in\":1,\"counters\":{"),
            "{text}"
        );
        let without = parse(text);
        assert!(without.get("frames").is_none());
        assert_eq!(without["ports"][0]["output"], "out/p0.pcap");
        assert_eq!(without["counters"]["rx_frames"], 0);
        assert_eq!(without["ports"][0]["stages"]["urpf_dropped"], 2);
        assert_eq!(without["acl"][0]["name"], "edge");
        assert_eq!(without["acl"][0]["rules"][0], 3);
        assert_eq!(without["acl"][0]["default"], 1);
        let frames = [trace("drop", Some("ttl_expired"), &[70])];
        let with = parse(report.to_json(Some(&frames)).unwrap());
        let f = &with["frames"][0];
        assert_eq!(f["verdict"], "drop");
        assert_eq!(f["reason"], "ttl_expired");
        assert!(f["egress"].is_null() && f["len"].is_null());
        assert_eq!(f["emitted"][0]["port"], "p0");
        assert_eq!(f["emitted"][0]["len"], 70);
    }
}
