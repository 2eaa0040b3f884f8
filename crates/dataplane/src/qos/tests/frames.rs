//! Frames for the queueing tests, described by the fields the classifier
//! and the ECN marker read, built by `testkit::frames`.

use crate::testkit::frames::{V4Frame, V6Frame};
use crate::wire::MacAddr;

const DST_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 2]);
const SRC_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);

#[derive(Debug, Clone)]
pub struct V4Spec {
    pub src: [u8; 4],
    pub dst: [u8; 4],
    pub proto: u8,
    pub sport: u16,
    pub dport: u16,
    pub dscp: u8,
    pub ecn: u8,
    pub ttl: u8,
    pub more_frags: bool,
    pub frag_offset: u16,
    /// 4-byte words of IPv4 options (NOPs).
    pub option_words: usize,
    /// Bytes of transport payload after the 8-byte port header.
    pub payload: usize,
}

impl V4Spec {
    pub fn proto(proto: u8) -> V4Spec {
        V4Spec {
            src: [10, 0, 0, 1],
            dst: [10, 0, 1, 1],
            proto,
            sport: 0,
            dport: 0,
            dscp: 0,
            ecn: 0,
            ttl: 64,
            more_frags: false,
            frag_offset: 0,
            option_words: 0,
            payload: 18,
        }
    }

    pub fn tcp(sport: u16, dport: u16) -> V4Spec {
        V4Spec {
            sport,
            dport,
            ..V4Spec::proto(6)
        }
    }

    pub fn udp(sport: u16, dport: u16) -> V4Spec {
        V4Spec {
            sport,
            dport,
            ..V4Spec::proto(17)
        }
    }
}

pub fn v4_frame(s: &V4Spec) -> Vec<u8> {
    V4Frame {
        dst_mac: DST_MAC,
        src_mac: SRC_MAC,
        src: s.src.into(),
        dst: s.dst.into(),
        protocol: s.proto,
        dscp_ecn: (s.dscp << 2) | (s.ecn & 3),
        ident: 0x1234,
        ttl: s.ttl,
        dont_fragment: false,
        more_fragments: s.more_frags,
        fragment_offset: s.frag_offset,
        option_words: s.option_words,
        ports: Some((s.sport, s.dport)),
        payload: vec![0xab; s.payload],
    }
    .build()
}

#[derive(Debug, Clone)]
pub struct V6Spec {
    pub src: [u8; 16],
    pub dst: [u8; 16],
    pub proto: u8,
    pub sport: u16,
    pub dport: u16,
    pub dscp: u8,
    pub ecn: u8,
    pub flow_label: u32,
    /// A fragment header with this offset (8-byte units).
    pub fragment: Option<u16>,
    pub payload: usize,
}

impl V6Spec {
    pub fn tcp(sport: u16, dport: u16) -> V6Spec {
        let mut src = [0u8; 16];
        src[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
        let mut dst = src;
        src[15] = 1;
        dst[15] = 2;
        V6Spec {
            src,
            dst,
            proto: 6,
            sport,
            dport,
            dscp: 0,
            ecn: 0,
            flow_label: 0x12345,
            fragment: None,
            payload: 18,
        }
    }

    pub fn udp(sport: u16, dport: u16) -> V6Spec {
        V6Spec {
            proto: 17,
            ..V6Spec::tcp(sport, dport)
        }
    }
}

pub fn v6_frame(s: &V6Spec) -> Vec<u8> {
    V6Frame {
        dst_mac: DST_MAC,
        src_mac: SRC_MAC,
        src: s.src.into(),
        dst: s.dst.into(),
        next_header: s.proto,
        traffic_class: (s.dscp << 2) | (s.ecn & 3),
        flow_label: s.flow_label,
        hop_limit: 64,
        fragment: s.fragment,
        ports: Some((s.sport, s.dport)),
        payload: vec![0xab; s.payload],
    }
    .build()
}

/// A UDP frame of flow `flow` (its source port) with DSCP `dscp`, ECN
/// bits `ecn` and `payload` bytes (the property tests' batches).
pub fn udp_frame(flow: u16, dscp: u8, ecn: u8, payload: u16) -> Vec<u8> {
    let mut s = V4Spec::udp(flow, 53);
    s.dscp = dscp;
    s.ecn = ecn;
    s.payload = payload as usize;
    v4_frame(&s)
}

/// The flow fields of an untagged IPv4 frame without options, read as
/// the pipeline's common case reads them (`forward::common`).
pub fn tuple_of(frame: &[u8]) -> crate::qos::FlowTuple {
    let header: &[u8; 20] = frame[14..34].try_into().unwrap();
    let total = u16::from_be_bytes([header[2], header[3]]) as usize;
    let l4 = frame[34..].first_chunk().filter(|_| total >= 24);
    crate::qos::FlowTuple::v4(header, l4)
}

/// The property tests' port: `kind` with three classes (default, "ef" by
/// DSCP 46 at weight 5, "af" by DSCP 10 at weight 2), CoDel at 1 ms / 10
/// ms, shaped to 10 MB/s when `shaped`.
pub fn three_class_config(
    kind: crate::qos::SchedulerKind,
    queue_limit: u32,
    flow_limit: u32,
    flows: u32,
    shaped: bool,
) -> crate::qos::QosConfig {
    use crate::qos::{ClassConfig, CodelParams, QosConfig};
    QosConfig {
        scheduler: kind,
        rate: shaped.then_some(10_000_000),
        queue_limit,
        flow_limit,
        flows,
        codel: CodelParams {
            target_ns: 1_000_000,
            interval_ns: 10_000_000,
        },
        classes: vec![
            ClassConfig {
                name: "ef".into(),
                dscp: vec![46],
                weight: 5,
            },
            ClassConfig {
                name: "af".into(),
                dscp: vec![10],
                weight: 2,
            },
        ],
        ..QosConfig::default()
    }
}
