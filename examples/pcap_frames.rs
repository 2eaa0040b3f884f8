//! Splits captures into one file per Ethernet frame: fuzz seeds.
//!
//! ```text
//! cargo run --example pcap_frames -- [--prefix HEX] [--rewrite-dst MAC]
//!     [--max-per-file N] <dir-or-file>... <out-dir>
//! ```
//!
//! Reads every `.pcap`/`.pcapng` under the inputs (directories are walked
//! recursively, in sorted order), and writes each Ethernet frame to
//! `<out-dir>/<fnv64 of the bytes>`, so identical frames are written once.
//! `--prefix` puts bytes before every frame (the `forward` fuzz target reads
//! a 2-byte control prefix); `--rewrite-dst` writes, beside each unicast
//! frame, a second copy whose destination MAC is the given one, so that
//! seeds are accepted by a router port with that MAC and reach the deep
//! paths. Files that are not captures or not Ethernet are reported and skipped.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::Parser;
use ferroute::wire::MacAddr;
use pcap_file::pcap::PcapReader;
use pcap_file::pcapng::{Block, PcapNgReader};
use pcap_file::DataLink;

#[derive(Parser, Debug)]
#[command(about = "Write every Ethernet frame of pcap/pcapng files as its own file (fuzz seeds)")]
struct Args {
    /// Hex bytes to put before every frame (e.g. 0000 for the forward fuzz target).
    #[arg(long, default_value = "")]
    prefix: String,
    /// Also write a copy of each unicast frame with this destination MAC.
    #[arg(long)]
    rewrite_dst: Option<MacAddr>,
    /// Take at most this many frames from each capture (0 = all).
    #[arg(long, default_value_t = 0)]
    max_per_file: usize,
    /// Captures or directories holding them, then the output directory.
    #[arg(required = true, num_args = 2..)]
    paths: Vec<PathBuf>,
}

/// FNV-1a, 64 bit: a stable file name for a frame's bytes.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn parse_hex(s: &str) -> Result<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        bail!("--prefix `{s}`: an even number of hex digits is needed");
    }
    (0..s.len())
        .step_by(2)
        .map(|i| {
            u8::from_str_radix(&s[i..i + 2], 16)
                .with_context(|| format!("--prefix `{s}`: `{}` is not hex", &s[i..i + 2]))
        })
        .collect()
}

fn is_capture(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("pcap" | "pcapng" | "cap")
    )
}

fn collect_captures(path: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let meta = fs::metadata(path).with_context(|| format!("{}", path.display()))?;
    if meta.is_dir() {
        let mut entries: Vec<PathBuf> = fs::read_dir(path)
            .with_context(|| format!("reading directory {}", path.display()))?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()?;
        entries.sort();
        for entry in entries {
            if entry.is_dir() || is_capture(&entry) {
                collect_captures(&entry, out)?;
            }
        }
    } else {
        out.push(path.to_path_buf());
    }
    Ok(())
}

/// Calls `frame` for each Ethernet frame of the capture at `path` until it
/// returns false. A capture that ends in a damaged record keeps the frames
/// before it (and says so).
fn read_frames(path: &Path, frame: &mut dyn FnMut(&[u8]) -> bool) -> Result<()> {
    let mut magic = [0u8; 4];
    {
        use std::io::Read;
        File::open(path)?
            .read_exact(&mut magic)
            .context("too short to be a capture")?;
    }
    let file = BufReader::new(File::open(path)?);
    if magic == [0x0a, 0x0d, 0x0d, 0x0a] {
        let mut reader = PcapNgReader::new(file).context("not a pcapng file")?;
        // Link types of the current section's interfaces, by interface id.
        let mut links: Vec<DataLink> = reader.interfaces().iter().map(|i| i.linktype).collect();
        while let Some(block) = reader.next_block() {
            let block = match block {
                Ok(b) => b,
                Err(e) => {
                    eprintln!(
                        "pcap_frames: {}: stopped at a damaged block: {e}",
                        path.display()
                    );
                    break;
                }
            };
            let (interface, data) = match block {
                Block::SectionHeader(_) => {
                    links.clear();
                    continue;
                }
                Block::InterfaceDescription(i) => {
                    links.push(i.linktype);
                    continue;
                }
                Block::EnhancedPacket(p) => (p.interface_id, p.data),
                Block::Packet(p) => (p.interface_id as u32, p.data),
                Block::SimplePacket(p) => (0, p.data),
                _ => continue,
            };
            let ethernet = links.get(interface as usize) == Some(&DataLink::ETHERNET);
            if ethernet && !frame(&data) {
                break;
            }
        }
    } else {
        let mut reader = PcapReader::new(file).context("neither pcap nor pcapng")?;
        let link = reader.header().datalink;
        if link != DataLink::ETHERNET {
            bail!("link type {link:?}, not Ethernet");
        }
        // Raw records: the checked reader refuses records longer than the
        // header's snap length, which fuzzer-made captures (the most useful
        // seeds) have; the captured bytes are all that matters here.
        while let Some(packet) = reader.next_raw_packet() {
            match packet {
                Ok(p) => {
                    if !frame(&p.data) {
                        break;
                    }
                }
                Err(e) => {
                    eprintln!(
                        "pcap_frames: {}: stopped at a damaged record: {e}",
                        path.display()
                    );
                    break;
                }
            }
        }
    }
    Ok(())
}

struct SeedWriter {
    dir: PathBuf,
    prefix: Vec<u8>,
    seen: HashSet<u64>,
    written: usize,
}

impl SeedWriter {
    fn write(&mut self, frame: &[u8]) -> Result<()> {
        let mut seed = Vec::with_capacity(self.prefix.len() + frame.len());
        seed.extend_from_slice(&self.prefix);
        seed.extend_from_slice(frame);
        let hash = fnv1a(&seed);
        if self.seen.insert(hash) {
            let path = self.dir.join(format!("{hash:016x}"));
            fs::write(&path, &seed).with_context(|| format!("writing {}", path.display()))?;
            self.written += 1;
        }
        Ok(())
    }
}

fn run(args: Args) -> Result<()> {
    let (out_dir, inputs) = args.paths.split_last().expect("clap requires two paths");
    let mut captures = Vec::new();
    for input in inputs {
        collect_captures(input, &mut captures)?;
    }
    fs::create_dir_all(out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let mut writer = SeedWriter {
        dir: out_dir.clone(),
        prefix: parse_hex(&args.prefix)?,
        seen: HashSet::new(),
        written: 0,
    };
    let (mut frames, mut skipped) = (0usize, 0usize);
    for capture in &captures {
        let mut taken = 0usize;
        let mut error = None;
        let result = read_frames(capture, &mut |frame| {
            taken += 1;
            let mut result = writer.write(frame);
            if let (Ok(()), Some(mac), true) = (&result, args.rewrite_dst, frame.len() >= 14) {
                if frame[0] & 1 == 0 && frame[..6] != mac.0 {
                    let mut copy = frame.to_vec();
                    copy[..6].copy_from_slice(&mac.0);
                    result = writer.write(&copy);
                }
            }
            if let Err(e) = result {
                error = Some(e);
                return false;
            }
            args.max_per_file == 0 || taken < args.max_per_file
        });
        if let Some(e) = error {
            return Err(e);
        }
        match result {
            Ok(()) => frames += taken,
            Err(e) => {
                skipped += 1;
                eprintln!("pcap_frames: skipped {}: {e:#}", capture.display());
            }
        }
    }
    println!(
        "pcap_frames: {} capture(s), {frames} frame(s) read, {} seed file(s) written to {} ({skipped} skipped)",
        captures.len(),
        writer.written,
        out_dir.display()
    );
    Ok(())
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pcap_frames: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
