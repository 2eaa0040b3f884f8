//! The output-queueing keys of a `[[port]]` and its `[[port.class]]` tables.

use toml::Spanned;

use super::context::Ctx;
use super::raw::{RawPort, RawRate};
use super::ConfigError;
use crate::qos::{ClassConfig, CodelParams, QosConfig, SchedulerKind, MAX_CLASSES, MAX_WEIGHT};

/// Bytes/s accepted for `rate`: 1 kbit/s to 400 Gbit/s.
const RATE_RANGE: std::ops::RangeInclusive<u64> = 125..=50_000_000_000;
const OVERHEAD_RANGE: std::ops::RangeInclusive<i64> = 0..=256;
const QUEUE_LIMIT_RANGE: std::ops::RangeInclusive<i64> = 16..=1_048_576;
/// Flow queues per port: one set of the set-associative table up to 64k
/// (CAKE's 1024 is the default).
const FLOWS_RANGE: std::ops::RangeInclusive<i64> = 8..=65_536;
/// CoDel times, ms.
const CODEL_RANGE: std::ops::RangeInclusive<f64> = 0.01..=10_000.0;

/// Parses `"100mbit"`, `"1.5gbit"`, `"64kbit"`, `"9600bit"` into bytes/s.
pub(super) fn parse_rate(text: &str) -> Option<u64> {
    let t = text.trim().to_ascii_lowercase();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (number, unit) = t.split_at(split);
    let scale = match unit.trim() {
        "bit" | "bps" => 1.0,
        "kbit" | "kbps" => 1e3,
        "mbit" | "mbps" => 1e6,
        "gbit" | "gbps" => 1e9,
        _ => return None,
    };
    let v: f64 = number.parse().ok()?;
    let bytes = v * scale / 8.0;
    (bytes.is_finite() && bytes >= 1.0).then_some(bytes.round() as u64)
}

pub(super) fn port_qos(
    cx: &Ctx,
    i: usize,
    p: &RawPort,
    mtu: u16,
) -> Result<QosConfig, ConfigError> {
    let field = |name: &str| format!("port[{i}].{name}");
    let mut q = QosConfig {
        quantum: mtu as u32 + crate::wire::ethernet::HEADER_LEN as u32,
        ..QosConfig::default()
    };
    if let Some(s) = &p.scheduler {
        q.scheduler = SchedulerKind::parse(s.get_ref()).ok_or_else(|| {
            cx.err(
                s.span(),
                field("scheduler"),
                format!(
                    "{:?} is not a scheduler (\"drr\", \"wfq\" or \"fifo\")",
                    s.get_ref()
                ),
            )
        })?;
    }
    if let Some(r) = &p.rate {
        let bytes = match r.get_ref() {
            RawRate::BytesPerSecond(n) => u64::try_from(*n).ok(),
            RawRate::Text(t) => parse_rate(t),
        };
        let shown = match r.get_ref() {
            RawRate::BytesPerSecond(n) => format!("{n} bytes/s"),
            RawRate::Text(t) => format!("{t:?}"),
        };
        let Some(bytes) = bytes else {
            return Err(cx.err(
                r.span(),
                field("rate"),
                format!("{shown} is not a rate (like \"100mbit\", or an integer of bytes/s)"),
            ));
        };
        if !RATE_RANGE.contains(&bytes) {
            return Err(cx.err(
                r.span(),
                field("rate"),
                format!("{shown} is out of range (1kbit..=400gbit)"),
            ));
        }
        q.rate = Some(bytes);
    }
    if let Some(v) = &p.overhead {
        q.overhead = cx.bounded(v, &field("overhead"), OVERHEAD_RANGE)? as u32;
    }
    if let Some(v) = &p.queue_limit {
        q.queue_limit = cx.bounded(v, &field("queue_limit"), QUEUE_LIMIT_RANGE)? as u32;
        q.flow_limit = q.queue_limit;
    }
    if let Some(v) = &p.flow_limit {
        let limit = cx.bounded(v, &field("flow_limit"), 1..=q.queue_limit as i64)?;
        q.flow_limit = limit as u32;
    }
    if let Some(v) = &p.flows {
        q.flows = cx.bounded(v, &field("flows"), FLOWS_RANGE)? as u32;
    }
    let ms = |v: &Spanned<f64>, name: &str| -> Result<u64, ConfigError> {
        let x = *v.get_ref();
        if !CODEL_RANGE.contains(&x) {
            return Err(cx.err(
                v.span(),
                field(name),
                format!(
                    "{x} is out of range ({}..={} ms)",
                    CODEL_RANGE.start(),
                    CODEL_RANGE.end()
                ),
            ));
        }
        Ok((x * 1e6).round() as u64)
    };
    let mut codel = CodelParams::default();
    if let Some(v) = &p.codel_target_ms {
        codel.target_ns = ms(v, "codel_target_ms")?;
    }
    if let Some(v) = &p.codel_interval_ms {
        codel.interval_ns = ms(v, "codel_interval_ms")?;
    }
    if codel.target_ns >= codel.interval_ns {
        let span = p
            .codel_target_ms
            .as_ref()
            .or(p.codel_interval_ms.as_ref())
            .map(|v| v.span())
            .unwrap_or(0..0);
        return Err(cx.err(
            span,
            field("codel_target_ms"),
            format!(
                "the target ({} ms) must be below the interval ({} ms)",
                codel.target_ns as f64 / 1e6,
                codel.interval_ns as f64 / 1e6
            ),
        ));
    }
    q.codel = codel;
    q.classes = classes(cx, i, p, q.scheduler)?;
    Ok(q)
}

fn classes(
    cx: &Ctx,
    i: usize,
    p: &RawPort,
    scheduler: SchedulerKind,
) -> Result<Vec<ClassConfig>, ConfigError> {
    let mut out: Vec<ClassConfig> = Vec::with_capacity(p.class.len());
    let mut owner = [None::<usize>; 64];
    for (k, c) in p.class.iter().enumerate() {
        let f = |name: &str| format!("port[{i}].class[{k}].{name}");
        let c = c.get_ref();
        if scheduler == SchedulerKind::Fifo {
            return Err(cx.err(
                c.name.span(),
                format!("port[{i}].class[{k}]"),
                "classes need scheduler \"drr\" or \"wfq\" (this port is \"fifo\")".to_string(),
            ));
        }
        let name = c.name.get_ref().trim().to_string();
        if name.is_empty() || name.len() > 32 {
            return Err(cx.err(
                c.name.span(),
                f("name"),
                "a class name has 1 to 32 characters".into(),
            ));
        }
        if let Some(j) = out.iter().position(|o| o.name == name) {
            return Err(cx.err(
                c.name.span(),
                f("name"),
                format!("{name:?} is already the name of class[{j}]"),
            ));
        }
        let named_classes = out.iter().filter(|o| o.name != "default").count();
        if name != "default" && named_classes + 1 >= MAX_CLASSES {
            return Err(cx.err(
                c.name.span(),
                f("name"),
                format!("at most {} classes besides \"default\"", MAX_CLASSES - 1),
            ));
        }
        let weight = match &c.weight {
            Some(w) => cx.bounded(w, &f("weight"), 1..=MAX_WEIGHT as i64)? as u32,
            None => 1,
        };
        let mut dscp = Vec::with_capacity(c.dscp.len());
        for d in &c.dscp {
            let v = cx.bounded(d, &f("dscp"), 0..=63)? as usize;
            if let Some(j) = owner[v] {
                return Err(cx.err(
                    d.span(),
                    f("dscp"),
                    format!("DSCP {v} is already in class[{j}]"),
                ));
            }
            owner[v] = Some(k);
            dscp.push(v as u8);
        }
        out.push(ClassConfig { name, dscp, weight });
    }
    Ok(out)
}
