//! Capture files: a reader for classic pcap (microsecond and nanosecond
//! magic, either byte order) and pcapng, and a writer for classic pcap.
//!
//! Only Ethernet captures are accepted: the pipeline starts at the Ethernet
//! header. Frames captured shorter than they were on the wire are delivered
//! as captured (the pipeline counts them as truncated if that matters).
//! Written files use microsecond timestamps so that every tool reads them.

use std::fs::File;
use std::io::{BufWriter, Chain, Cursor, Read, Write};
use std::path::Path;
use std::time::Duration;

use pcap_file::pcap::{
    PcapHeader, PcapPacket, PcapReader as ClassicReader, PcapWriter as ClassicWriter,
};
use pcap_file::pcapng::{Block, PcapNgReader};
use pcap_file::{DataLink, Endianness, PcapError as LibError, TsResolution};

/// Snapshot length written in the headers of our files (tcpdump's default).
pub const WRITE_SNAPLEN: u32 = 262_144;

const PCAPNG_MAGIC: u32 = 0x0a0d_0d0a;
const CLASSIC_MAGICS: [u32; 4] = [0xa1b2_c3d4, 0xd4c3_b2a1, 0xa1b2_3c4d, 0x4d3c_b2a1];

/// One frame read from a capture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapturedFrame {
    /// Nanoseconds since the Unix epoch.
    pub timestamp_ns: u64,
    /// Length on the wire (may exceed `data.len()` when the capture was cut short).
    pub original_len: u32,
    /// The captured bytes, starting at the Ethernet header.
    pub data: Vec<u8>,
}

/// Why a capture could not be read or written. Each names the file.
#[derive(Debug, thiserror::Error)]
pub enum PcapError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not a pcap or pcapng file ({detail})")]
    NotPcap { path: String, detail: String },
    #[error(
        "{path}: link type {link_type} is not Ethernet; only Ethernet (LINKTYPE_ETHERNET, 1) \
         captures are supported"
    )]
    NotEthernet { path: String, link_type: String },
    #[error("{path}: packet {index}: {detail}")]
    Record {
        path: String,
        /// 0-based position of the packet in the file.
        index: u64,
        detail: String,
    },
}

fn describe(e: LibError) -> String {
    match e {
        LibError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            "the file ends inside this record (truncated capture or corrupt length)".to_string()
        }
        LibError::IoError(io) => io.to_string(),
        LibError::InvalidField(what) => format!("invalid field: {what}"),
        other => other.to_string(),
    }
}

fn link_name(link: DataLink) -> String {
    format!("{} ({link:?})", u32::from(link))
}

type Peeked<R> = Chain<Cursor<[u8; 4]>, R>;

enum Format<R: Read> {
    Classic {
        reader: ClassicReader<Peeked<R>>,
        nanos: bool,
    },
    Ng {
        reader: PcapNgReader<Peeked<R>>,
        /// Timestamp of the last packet, for Simple Packet Blocks (which have none).
        last_ns: u64,
    },
}

/// Reads Ethernet frames from a classic pcap or pcapng stream.
pub struct PcapReader<R: Read = File> {
    path: String,
    format: Format<R>,
    index: u64,
}

impl PcapReader<File> {
    /// Opens `path`, detecting the format from its first four bytes.
    pub fn open(path: &Path) -> Result<Self, PcapError> {
        let name = path.display().to_string();
        let file = File::open(path).map_err(|source| PcapError::Io {
            path: name.clone(),
            source,
        })?;
        PcapReader::new(file, &name)
    }
}

impl<R: Read> PcapReader<R> {
    /// Reads from `input`; `name` is used in error messages.
    pub fn new(mut input: R, name: &str) -> Result<Self, PcapError> {
        let path = name.to_string();
        let mut magic = [0u8; 4];
        if let Err(e) = input.read_exact(&mut magic) {
            return Err(if e.kind() == std::io::ErrorKind::UnexpectedEof {
                PcapError::NotPcap {
                    path,
                    detail: "shorter than a file header".to_string(),
                }
            } else {
                PcapError::Io { path, source: e }
            });
        }
        let peeked = Cursor::new(magic).chain(input);
        let header_error = |e: LibError| PcapError::NotPcap {
            path: path.clone(),
            detail: describe(e),
        };
        let be = u32::from_be_bytes(magic);
        let format = if be == PCAPNG_MAGIC {
            let reader = PcapNgReader::new(peeked).map_err(header_error)?;
            Format::Ng { reader, last_ns: 0 }
        } else if CLASSIC_MAGICS.contains(&be) {
            let reader = ClassicReader::new(peeked).map_err(header_error)?;
            let header = reader.header();
            if header.datalink != DataLink::ETHERNET {
                return Err(PcapError::NotEthernet {
                    path,
                    link_type: link_name(header.datalink),
                });
            }
            let nanos = header.ts_resolution == TsResolution::NanoSecond;
            Format::Classic { reader, nanos }
        } else {
            return Err(PcapError::NotPcap {
                path,
                detail: format!("unknown magic number {be:08x}"),
            });
        };
        Ok(PcapReader {
            path,
            format,
            index: 0,
        })
    }

    /// The name given at opening (for messages).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The next frame, `None` at the end of the file.
    pub fn next_frame(&mut self) -> Option<Result<CapturedFrame, PcapError>> {
        let result = match &mut self.format {
            Format::Classic { reader, nanos } => {
                let nanos = *nanos;
                reader.next_raw_packet().map(|r| {
                    r.map(|raw| {
                        let frac = if nanos {
                            raw.ts_frac as u64
                        } else {
                            raw.ts_frac as u64 * 1000
                        };
                        CapturedFrame {
                            timestamp_ns: raw.ts_sec as u64 * 1_000_000_000 + frac,
                            original_len: raw.orig_len,
                            data: raw.data.into_owned(),
                        }
                    })
                    .map_err(|e| ReadProblem::Record(describe(e)))
                })
            }
            Format::Ng { reader, last_ns } => next_ng_frame(reader, last_ns),
        }?;
        let index = self.index;
        self.index += 1;
        Some(result.map_err(|problem| match problem {
            ReadProblem::Record(detail) => PcapError::Record {
                path: self.path.clone(),
                index,
                detail,
            },
            ReadProblem::NotEthernet(link_type) => PcapError::NotEthernet {
                path: self.path.clone(),
                link_type,
            },
        }))
    }
}

impl<R: Read> Iterator for PcapReader<R> {
    type Item = Result<CapturedFrame, PcapError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_frame()
    }
}

/// A problem met while reading one packet, before the file name is attached.
enum ReadProblem {
    Record(String),
    NotEthernet(String),
}

/// Converts pcapng timestamp units to nanoseconds. `if_tsresol`: a power of
/// ten (high bit clear) or of two (high bit set) fraction of a second;
/// default 10^-6.
fn ng_units_to_ns(units: u64, tsresol: u8) -> u64 {
    let units = units as u128;
    let ns = if tsresol & 0x80 == 0 {
        let exp = tsresol as u32;
        if exp <= 9 {
            units * 10u128.pow(9 - exp)
        } else if exp - 9 <= 38 {
            units / 10u128.pow(exp - 9)
        } else {
            0
        }
    } else {
        let exp = (tsresol & 0x7f) as u32;
        (units * 1_000_000_000) >> exp.min(127)
    };
    ns.min(u64::MAX as u128) as u64
}

fn next_ng_frame<R: Read>(
    reader: &mut PcapNgReader<R>,
    last_ns: &mut u64,
) -> Option<Result<CapturedFrame, ReadProblem>> {
    use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionOption as Opt;
    loop {
        // Copy what is needed out of the block: it borrows the reader.
        let (interface, units, original_len, data) = match reader.next_block()? {
            Err(e) => return Some(Err(ReadProblem::Record(describe(e)))),
            Ok(Block::InterfaceDescription(idb)) => {
                if idb.linktype != DataLink::ETHERNET {
                    return Some(Err(ReadProblem::NotEthernet(link_name(idb.linktype))));
                }
                continue;
            }
            Ok(Block::EnhancedPacket(epb)) => (
                epb.interface_id,
                Some(epb.timestamp.as_nanos() as u64),
                epb.original_len,
                epb.data.into_owned(),
            ),
            Ok(Block::Packet(pb)) => (
                pb.interface_id as u32,
                Some(pb.timestamp),
                pb.original_len,
                pb.data.into_owned(),
            ),
            Ok(Block::SimplePacket(spb)) => (0, None, spb.original_len, spb.data.into_owned()),
            Ok(_) => continue,
        };
        let Some(idb) = reader.interfaces().get(interface as usize) else {
            return Some(Err(ReadProblem::Record(format!(
                "refers to interface {interface}, which has no Interface Description Block"
            ))));
        };
        if idb.linktype != DataLink::ETHERNET {
            return Some(Err(ReadProblem::NotEthernet(link_name(idb.linktype))));
        }
        let mut data = data;
        let timestamp_ns = match units {
            Some(units) => {
                let mut tsresol = 6;
                let mut offset_s = 0u64;
                for opt in &idb.options {
                    match opt {
                        Opt::IfTsResol(r) => tsresol = *r,
                        Opt::IfTsOffset(o) => offset_s = *o,
                        _ => {}
                    }
                }
                ng_units_to_ns(units, tsresol)
                    .saturating_add(offset_s.saturating_mul(1_000_000_000))
            }
            None => {
                // A Simple Packet Block's data is padded; its captured length
                // is the original length cut at the interface's snaplen.
                let mut cap = original_len as usize;
                if idb.snaplen != 0 {
                    cap = cap.min(idb.snaplen as usize);
                }
                data.truncate(cap);
                *last_ns
            }
        };
        *last_ns = timestamp_ns;
        return Some(Ok(CapturedFrame {
            timestamp_ns,
            original_len,
            data,
        }));
    }
}

/// Writes Ethernet frames to a classic pcap stream with microsecond timestamps.
pub struct PcapWriter<W: Write = BufWriter<File>> {
    path: String,
    inner: ClassicWriter<W>,
    frames: u64,
    bytes: u64,
}

impl PcapWriter<BufWriter<File>> {
    /// Creates (or truncates) `path` and writes the file header.
    pub fn create(path: &Path) -> Result<Self, PcapError> {
        let name = path.display().to_string();
        let file = File::create(path).map_err(|source| PcapError::Io {
            path: name.clone(),
            source,
        })?;
        PcapWriter::new(BufWriter::new(file), &name)
    }
}

impl<W: Write> PcapWriter<W> {
    /// Writes the file header to `output`; `name` is used in error messages.
    pub fn new(output: W, name: &str) -> Result<Self, PcapError> {
        let header = PcapHeader {
            snaplen: WRITE_SNAPLEN,
            datalink: DataLink::ETHERNET,
            ts_resolution: TsResolution::MicroSecond,
            endianness: Endianness::native(),
            ..PcapHeader::default()
        };
        let inner = ClassicWriter::with_header(output, header).map_err(|e| PcapError::Io {
            path: name.to_string(),
            source: std::io::Error::other(describe(e)),
        })?;
        Ok(PcapWriter {
            path: name.to_string(),
            inner,
            frames: 0,
            bytes: 0,
        })
    }

    /// Appends one frame stamped `timestamp_ns` (kept to the microsecond).
    pub fn write(&mut self, timestamp_ns: u64, frame: &[u8]) -> Result<(), PcapError> {
        let captured = &frame[..frame.len().min(WRITE_SNAPLEN as usize)];
        let packet = PcapPacket::new(
            Duration::from_nanos(timestamp_ns),
            frame.len() as u32,
            captured,
        );
        self.inner
            .write_packet(&packet)
            .map_err(|e| PcapError::Record {
                path: self.path.clone(),
                index: self.frames,
                detail: describe(e),
            })?;
        self.frames += 1;
        self.bytes += frame.len() as u64;
        Ok(())
    }

    /// Frames written so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Frame bytes written so far (record headers excluded).
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Flushes and returns the output.
    pub fn finish(self) -> Result<W, PcapError> {
        let mut out = self.inner.into_writer();
        out.flush().map_err(|source| PcapError::Io {
            path: self.path,
            source,
        })?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
