//! Where frames went: the counters along a path through the lab (the
//! daemon's stats, each named interface's kernel and veth counters),
//! snapshotted before and after some traffic and compared, so a test that
//! misses frames can say where they stopped instead of only that they did.

use serde_json::{Map, Value};

use ferroute::testkit::netns;

/// One interface of one namespace, as `label` ("R p2") in reports.
pub struct Link<'a> {
    pub label: &'a str,
    pub netns: &'a str,
    pub interface: &'a str,
}

impl<'a> Link<'a> {
    pub fn new(label: &'a str, netns: &'a str, interface: &'a str) -> Link<'a> {
        Link {
            label,
            netns,
            interface,
        }
    }
}

/// One snapshot: the daemon's `stats` as given, every link's counters and
/// the stack counters of each (label, namespace) of `stacks`.
pub fn snapshot(stats: Value, links: &[Link], stacks: &[(&str, &str)]) -> Value {
    let stacks: Map<String, Value> = stacks
        .iter()
        .map(|(label, netns)| (label.to_string(), stack_counters(netns)))
        .collect();
    serde_json::json!({
        "ferroute": stats,
        "links": links_counters(links),
        "stack": stacks,
    })
}

/// The kernel's counters of `interface` in `netns`: `ip -s link` (rx/tx
/// packets, drops, errors) and, for a veth, `ethtool -S` (its per-queue
/// XDP counters and the frames its peer refused).
pub fn link_counters(netns: &str, interface: &str) -> Value {
    let ip = netns::run(
        "ip",
        &["-n", netns, "-s", "-j", "link", "show", "dev", interface],
    );
    let mut counters = Map::new();
    if let Ok(Value::Array(links)) = serde_json::from_str::<Value>(&ip) {
        if let Some(stats) = links.first().and_then(|l| l.get("stats64")) {
            counters.insert("link".into(), stats.clone());
        }
    }
    let ethtool = std::process::Command::new("ip")
        .args(["netns", "exec", netns, "ethtool", "-S", interface])
        .output();
    if let Ok(out) = ethtool {
        let text = String::from_utf8_lossy(&out.stdout);
        let driver: Map<String, Value> = text
            .lines()
            .filter_map(|line| {
                let (name, value) = line.split_once(':')?;
                Some((
                    name.trim().to_string(),
                    value.trim().parse::<u64>().ok()?.into(),
                ))
            })
            .collect();
        counters.insert("ethtool".into(), driver.into());
    }
    counters.into()
}

/// The kernel's IP, ICMP and extended counters of `netns` (`nstat`,
/// absolute, its history untouched): frames a host's stack discarded.
pub fn stack_counters(netns: &str) -> Value {
    let out = netns::run("ip", &["netns", "exec", netns, "nstat", "-saz", "--json"]);
    serde_json::from_str::<Value>(&out)
        .ok()
        .and_then(|mut v| v.get_mut("kernel").map(Value::take))
        .unwrap_or_default()
}

/// Every link's counters, keyed by label.
pub fn links_counters(links: &[Link]) -> Value {
    links
        .iter()
        .map(|l| (l.label.to_string(), link_counters(l.netns, l.interface)))
        .collect::<Map<String, Value>>()
        .into()
}

/// The numbers that differ between two snapshots of the same shape, one
/// per line: `path: before -> after (+delta)`. Array elements are named by
/// their `port` or `name` field where they have one.
pub fn changes(before: &Value, after: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk(before, after, String::new(), &mut out);
    out
}

fn walk(before: &Value, after: &Value, path: String, out: &mut Vec<String>) {
    match (before, after) {
        (Value::Object(b), Value::Object(a)) => {
            for (key, av) in a {
                let bv = b.get(key).unwrap_or(&Value::Null);
                walk(bv, av, join(&path, key), out);
            }
        }
        (Value::Array(b), Value::Array(a)) => {
            for (i, av) in a.iter().enumerate() {
                let name = ["port", "name"]
                    .iter()
                    .find_map(|k| av.get(*k).and_then(Value::as_str))
                    .map_or_else(|| i.to_string(), str::to_string);
                walk(
                    b.get(i).unwrap_or(&Value::Null),
                    av,
                    join(&path, &name),
                    out,
                );
            }
        }
        (b, Value::Number(a)) => {
            let (Some(a), b) = (a.as_f64(), b.as_f64().unwrap_or(0.0)) else {
                return;
            };
            if a != b {
                out.push(format!("{path}: {b} -> {a} ({:+})", a - b));
            }
        }
        _ => {}
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn changes_name_the_numbers_that_moved() {
        let before = json!({"a": 1, "ports": [{"port": "p2", "sent": 3}], "same": 4});
        let after = json!({"a": 1, "ports": [{"port": "p2", "sent": 8}], "same": 4, "new": 2});
        assert_eq!(
            changes(&before, &after),
            ["new: 0 -> 2 (+2)", "ports.p2.sent: 3 -> 8 (+5)"]
        );
    }
}
