use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketBlock;
use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption,
};
use pcap_file::pcapng::PcapNgWriter;

use super::*;

fn read_all(bytes: &[u8]) -> Result<Vec<CapturedFrame>, PcapError> {
    PcapReader::new(bytes, "mem.pcap")?.collect()
}

/// A classic pcap file with one record, built byte by byte.
fn classic(
    magic: u32,
    big_endian: bool,
    link: u32,
    ts: (u32, u32),
    data: &[u8],
    orig: u32,
) -> Vec<u8> {
    let mut out = Vec::new();
    let put32 = |out: &mut Vec<u8>, v: u32| {
        out.extend_from_slice(&if big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        })
    };
    put32(&mut out, magic);
    let (major, minor) = if big_endian {
        ([0, 2], [0, 4])
    } else {
        ([2, 0], [4, 0])
    };
    out.extend_from_slice(&major);
    out.extend_from_slice(&minor);
    put32(&mut out, 0); // thiszone
    put32(&mut out, 0); // sigfigs
    put32(&mut out, 65535); // snaplen
    put32(&mut out, link);
    put32(&mut out, ts.0);
    put32(&mut out, ts.1);
    put32(&mut out, data.len() as u32);
    put32(&mut out, orig);
    out.extend_from_slice(data);
    out
}

#[test]
fn every_classic_magic_and_byte_order() {
    let data: Vec<u8> = (0..60).collect();
    for big in [false, true] {
        let us = classic(0xa1b2c3d4, big, 1, (10, 250_000), &data, 60);
        let got = read_all(&us).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].timestamp_ns, 10_250_000_000, "µs big={big}");
        assert_eq!(got[0].data, data);
        let ns = classic(0xa1b23c4d, big, 1, (10, 250_000), &data, 60);
        assert_eq!(
            read_all(&ns).unwrap()[0].timestamp_ns,
            10_000_250_000,
            "ns big={big}"
        );
    }
}

#[test]
fn short_captures_are_delivered_as_captured() {
    let data = [0xaau8; 40];
    let got = read_all(&classic(0xa1b2c3d4, false, 1, (1, 0), &data, 1514)).unwrap();
    assert_eq!(got[0].data.len(), 40);
    assert_eq!(got[0].original_len, 1514);
}

#[test]
fn non_ethernet_and_garbage_are_clear_errors() {
    let raw_ip = classic(0xa1b2c3d4, false, 101, (1, 0), &[0x45; 20], 20);
    let err = read_all(&raw_ip).unwrap_err().to_string();
    assert!(err.starts_with("mem.pcap: link type 101"), "{err}");
    assert!(err.contains("not Ethernet"), "{err}");
    let err = read_all(b"hello world, not a capture")
        .unwrap_err()
        .to_string();
    assert!(err.contains("not a pcap or pcapng file"), "{err}");
    let err = read_all(b"ab").unwrap_err().to_string();
    assert!(err.contains("shorter than a file header"), "{err}");
}

#[test]
fn truncated_record_names_the_packet() {
    let mut two = classic(0xa1b2c3d4, false, 1, (1, 0), &[1; 60], 60);
    let record = two[24..].to_vec();
    two.extend_from_slice(&record[..record.len() - 10]);
    let mut reader = PcapReader::new(&two[..], "cut.pcap").unwrap();
    assert!(reader.next_frame().unwrap().is_ok());
    let err = reader.next_frame().unwrap().unwrap_err().to_string();
    assert!(err.starts_with("cut.pcap: packet 1: "), "{err}");
    assert!(err.contains("truncated"), "{err}");
}

#[test]
fn writer_round_trips_through_reader() {
    let frames: Vec<(u64, Vec<u8>)> = vec![
        (1_700_000_000_123_456_789, vec![1; 60]),
        (1_700_000_001_000_000_000, vec![2; 1514]),
        (5, vec![3; 14]),
    ];
    let mut w = PcapWriter::new(Vec::new(), "out.pcap").unwrap();
    for (ts, f) in &frames {
        w.write(*ts, f).unwrap();
    }
    assert_eq!((w.frames(), w.bytes()), (3, 60 + 1514 + 14));
    let bytes = w.finish().unwrap();
    let got = read_all(&bytes).unwrap();
    assert_eq!(got.len(), 3);
    for ((ts, f), g) in frames.iter().zip(&got) {
        assert_eq!(&g.data, f);
        assert_eq!(g.original_len as usize, f.len());
        assert_eq!(g.timestamp_ns, ts / 1000 * 1000, "kept to the microsecond");
    }
    let empty = PcapWriter::new(Vec::new(), "e.pcap")
        .unwrap()
        .finish()
        .unwrap();
    assert_eq!(empty.len(), 24, "header only");
    assert!(read_all(&empty).unwrap().is_empty());
}

fn epb(interface_id: u32, units: u64, data: &[u8]) -> EnhancedPacketBlock<'_> {
    EnhancedPacketBlock {
        interface_id,
        timestamp: Duration::from_nanos(units),
        original_len: data.len() as u32,
        data: data.into(),
        options: vec![],
    }
}

#[test]
fn pcapng_with_timestamp_resolutions() {
    let mut w = PcapNgWriter::new(Vec::new()).unwrap();
    // Interface 0: default resolution (µs); interface 1: ns; interface 2: 2^-10 s.
    w.write_pcapng_block(InterfaceDescriptionBlock::new(DataLink::ETHERNET, 0))
        .unwrap();
    let mut ns = InterfaceDescriptionBlock::new(DataLink::ETHERNET, 0);
    ns.options.push(InterfaceDescriptionOption::IfTsResol(9));
    w.write_pcapng_block(ns).unwrap();
    let mut bin = InterfaceDescriptionBlock::new(DataLink::ETHERNET, 0);
    bin.options
        .push(InterfaceDescriptionOption::IfTsResol(0x80 | 10));
    w.write_pcapng_block(bin).unwrap();
    let a = [0x11u8; 61];
    let b = [0x22u8; 64];
    w.write_pcapng_block(epb(0, 3_000_001, &a)).unwrap();
    w.write_pcapng_block(epb(1, 3_000_000_002, &b)).unwrap();
    w.write_pcapng_block(epb(2, 1024 * 7 + 512, &b)).unwrap();
    let bytes = w.into_inner();
    let got = read_all(&bytes).unwrap();
    assert_eq!(got.len(), 3);
    assert_eq!(got[0].timestamp_ns, 3_000_001_000);
    assert_eq!(
        got[0].data,
        a.to_vec(),
        "odd length survives the block padding"
    );
    assert_eq!(got[1].timestamp_ns, 3_000_000_002);
    assert_eq!(got[2].timestamp_ns, 7_500_000_000);
}

#[test]
fn pcapng_non_ethernet_interface_is_rejected() {
    let mut w = PcapNgWriter::new(Vec::new()).unwrap();
    w.write_pcapng_block(InterfaceDescriptionBlock::new(DataLink::LINUX_SLL, 0))
        .unwrap();
    w.write_pcapng_block(epb(0, 1, &[0; 20])).unwrap();
    let err = read_all(&w.into_inner()).unwrap_err().to_string();
    assert!(err.starts_with("mem.pcap: link type 113"), "{err}");
}

#[test]
fn resolution_conversion() {
    assert_eq!(ng_units_to_ns(5, 6), 5_000);
    assert_eq!(ng_units_to_ns(5, 9), 5);
    assert_eq!(ng_units_to_ns(5_000, 12), 5);
    assert_eq!(ng_units_to_ns(3, 0x80 | 1), 1_500_000_000);
    assert_eq!(ng_units_to_ns(u64::MAX, 0), u64::MAX, "saturates");
    assert_eq!(ng_units_to_ns(1, 127), 0);
}

/// The real corpus (`$FERROUTE_DATA/pcaps`): every file opens, and the number
/// of frames read equals the count `capinfos` recorded in SOURCES.md.
#[test]
fn reads_every_file_of_the_real_corpus() {
    let Some(sources) = crate::testkit::shared_path("pcaps/SOURCES.md") else {
        return;
    };
    let index = std::fs::read_to_string(&sources).expect("SOURCES.md");
    let mut checked = 0;
    let mut current: Option<String> = None;
    for line in index.lines() {
        if let Some(name) = line
            .strip_prefix("#### `")
            .and_then(|l| l.strip_suffix('`'))
        {
            current = Some(name.to_string());
        }
        let Some(count) = line
            .split("packets: ")
            .nth(1)
            .and_then(|rest| rest.split(';').next())
            .and_then(|n| n.trim().parse::<usize>().ok())
        else {
            continue;
        };
        let Some(name) = current.take() else { continue };
        let path = sources.with_file_name(&name);
        let frames: Result<Vec<_>, _> = PcapReader::open(&path).unwrap().collect();
        let frames = frames.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(frames.len(), count, "{name}");
        assert!(frames
            .iter()
            .all(|f| f.data.len() <= f.original_len as usize || f.original_len == 0));
        checked += 1;
    }
    assert!(checked >= 80, "only {checked} files listed in SOURCES.md");
    eprintln!("read {checked} real captures");
}
