//! Reading captures (classic pcap or pcapng, told apart by their magic
//! number, not their name) and writing the copy that is replayed: the same
//! file with every unicast destination MAC replaced by the router's.
//!
//! Records are read raw: a few captures carry record headers that claim
//! more than the snap length, and the replayer must send what was captured.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use pcap_file::pcap::{PcapReader, PcapWriter};
use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionOption;
use pcap_file::pcapng::{Block, PcapNgReader, PcapNgWriter};
use pcap_file::{DataLink, TsResolution};

use super::model::Mac;

const PCAPNG_MAGIC: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];

fn is_pcapng(path: &Path) -> Result<bool, String> {
    let mut magic = [0u8; 4];
    File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(magic == PCAPNG_MAGIC)
}

/// Every capture file under `dir`, recursively, sorted by path.
pub fn find_captures(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("pcap" | "pcapng")
            ) {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// Points a unicast destination MAC at the router; group addresses stay.
fn aim_at_router(frame: &mut [u8], router: &Mac) {
    if frame.len() >= 6 && frame[0] & 1 == 0 {
        frame[..6].copy_from_slice(router);
    }
}

/// One captured frame.
#[derive(Debug, Clone)]
pub struct Frame {
    /// Capture time (pcapng: scaled by the interface's if_tsresol and if_tsoffset).
    pub ts: Duration,
    pub data: Vec<u8>,
}

fn copy_block<W: Write>(
    writer: &mut Option<PcapNgWriter<W>>,
    block: &Block,
) -> Result<(), pcap_file::PcapError> {
    if let Some(w) = writer.as_mut() {
        w.write_block(block)?;
    }
    Ok(())
}

/// An interface's time stamp resolution (default 10^-6 s) and offset (s).
fn interface_clock(options: &[InterfaceDescriptionOption]) -> (u8, u64) {
    let mut clock = (6, 0);
    for opt in options {
        match opt {
            InterfaceDescriptionOption::IfTsResol(r) => clock.0 = *r,
            InterfaceDescriptionOption::IfTsOffset(o) => clock.1 = *o,
            _ => {}
        }
    }
    clock
}

/// pcapng time stamp units to a time: `resol` is a negative power of ten,
/// or of two when its top bit is set (pcapng spec, if_tsresol).
fn units_to_time(units: u64, resol: u8) -> Duration {
    let units = units as u128;
    let per_second: u128 = if resol & 0x80 == 0 {
        10u128.saturating_pow(resol as u32)
    } else {
        1u128
            .checked_shl((resol & 0x7f) as u32)
            .unwrap_or(u128::MAX)
    };
    let secs = units / per_second;
    let nanos = (units % per_second) * 1_000_000_000 / per_second;
    Duration::new(secs.min(u64::MAX as u128) as u64, nanos as u32)
}

/// Reads every frame of `path`.
pub fn read_frames(path: &Path) -> Result<Vec<Frame>, String> {
    rewrite(path, None, None)
}

/// Writes the copy of `src` to replay into `dst` (same format) and returns
/// its frames.
pub fn write_router_copy(src: &Path, dst: &Path, router: &Mac) -> Result<Vec<Frame>, String> {
    rewrite(src, Some(dst), Some(router))
}

fn rewrite(src: &Path, dst: Option<&Path>, router: Option<&Mac>) -> Result<Vec<Frame>, String> {
    let err = |e: &dyn std::fmt::Display| format!("{}: {e}", src.display());
    let input = BufReader::new(File::open(src).map_err(|e| err(&e))?);
    let output = match dst {
        Some(d) => Some(BufWriter::new(File::create(d).map_err(|e| err(&e))?)),
        None => None,
    };
    let mut frames = Vec::new();
    let mut fix = |ts: Duration, data: &mut Vec<u8>| {
        if let Some(mac) = router {
            aim_at_router(data, mac);
        }
        frames.push(Frame {
            ts,
            data: data.clone(),
        });
    };
    if is_pcapng(src)? {
        let mut reader = PcapNgReader::new(input).map_err(|e| err(&e))?;
        let mut writer = match output {
            Some(o) => Some(
                PcapNgWriter::with_section_header(o, reader.section().clone())
                    .map_err(|e| err(&e))?,
            ),
            None => None,
        };
        // (if_tsresol, if_tsoffset) of each interface, in order.
        let mut clocks: Vec<(u8, u64)> = Vec::new();
        let mut last = Duration::ZERO;
        while let Some(block) = reader.next_block() {
            let mut block = block.map_err(|e| err(&e))?.into_owned();
            let (interface, units, data) = match &mut block {
                Block::InterfaceDescription(idb) => {
                    if idb.linktype != DataLink::ETHERNET {
                        return Err(err(&format!(
                            "link type {:?} is not Ethernet",
                            idb.linktype
                        )));
                    }
                    clocks.push(interface_clock(&idb.options));
                    copy_block(&mut writer, &block).map_err(|e| err(&e))?;
                    continue;
                }
                // pcap-file hands over the raw 64-bit time stamp as nanoseconds.
                Block::EnhancedPacket(p) => (
                    p.interface_id as usize,
                    Some(p.timestamp.as_nanos() as u64),
                    p.data.to_mut(),
                ),
                Block::Packet(p) => (p.interface_id as usize, Some(p.timestamp), p.data.to_mut()),
                Block::SimplePacket(p) => (0, None, p.data.to_mut()),
                _ => {
                    copy_block(&mut writer, &block).map_err(|e| err(&e))?;
                    continue;
                }
            };
            let &(resol, offset) = clocks
                .get(interface)
                .ok_or_else(|| err(&format!("packet on undeclared interface {interface}")))?;
            if let Some(units) = units {
                last = units_to_time(units, resol) + Duration::from_secs(offset);
            }
            fix(last, data);
            copy_block(&mut writer, &block).map_err(|e| err(&e))?;
        }
        if let Some(w) = writer {
            w.into_inner().flush().map_err(|e| err(&e))?;
        }
    } else {
        let mut reader = PcapReader::new(input).map_err(|e| err(&e))?;
        let header = reader.header();
        if header.datalink != DataLink::ETHERNET {
            return Err(err(&format!(
                "link type {:?} is not Ethernet",
                header.datalink
            )));
        }
        let mut writer = match output {
            Some(o) => Some(PcapWriter::with_header(o, header).map_err(|e| err(&e))?),
            None => None,
        };
        while let Some(packet) = reader.next_raw_packet() {
            let mut packet = packet.map_err(|e| err(&e))?.into_owned();
            let frac_ns = match header.ts_resolution {
                TsResolution::MicroSecond => packet.ts_frac as u64 * 1000,
                TsResolution::NanoSecond => packet.ts_frac as u64,
            };
            let ts = Duration::from_secs(packet.ts_sec as u64) + Duration::from_nanos(frac_ns);
            fix(ts, packet.data.to_mut());
            if let Some(w) = writer.as_mut() {
                w.write_raw_packet(&packet).map_err(|e| err(&e))?;
            }
        }
        if let Some(w) = writer {
            w.into_writer().flush().map_err(|e| err(&e))?;
        }
    }
    Ok(frames)
}
