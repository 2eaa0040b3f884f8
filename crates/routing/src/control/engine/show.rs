//! `show ...`: the RIB's and the publisher's answers, and whatever the
//! protocol instances answer.

use std::net::IpAddr;

use ipnet::IpNet;
use serde_json::{json, Value};

use super::Engine;
use crate::control::protocol::Registration;

impl Engine {
    /// Answers `show routes [PREFIX|ADDRESS]` (with what every protocol
    /// says about the prefix, such as BGP's decision), `show fib-stats`,
    /// and each protocol's own (`show linkstate`, `show bgp`), as JSON; the
    /// CLI turns it into text.
    pub fn show(&mut self, what: &str) -> Result<Value, String> {
        let mut words = what.split_whitespace();
        match (words.next(), words.next(), words.next()) {
            (Some("routes"), None, _) => {
                let s = self.rib.summary();
                Ok(json!({ "summary": s, "text": s.to_string() }))
            }
            (Some("routes"), Some(arg), None) => self.show_route(arg),
            (Some("fib-stats"), None, _) => Ok(self.show_fib_stats()),
            (Some(first), _, _) => {
                let now = (self.host.clock)();
                for i in &mut self.instances {
                    if let Some(answer) = i.protocol.handle_command(now, what, &self.rib) {
                        return answer;
                    }
                }
                match self.registry.iter().find(|r| r.name == first) {
                    Some(r) => Err(format!("{} is not configured ({})", r.title, r.section)),
                    None => Err(unknown(what, self.registry)),
                }
            }
            _ => Err(unknown(what, self.registry)),
        }
    }

    fn show_route(&mut self, arg: &str) -> Result<Value, String> {
        let e = if let Ok(prefix) = arg.parse::<IpNet>() {
            self.rib.explain(prefix)
        } else if let Ok(addr) = arg.parse::<IpAddr>() {
            self.rib.explain_address(addr)
        } else {
            return Err(format!("{arg:?} is neither a prefix nor an address"));
        };
        let mut text = e.as_ref().map(|e| e.to_string()).unwrap_or_default();
        let mut answer = json!({ "route": e });
        let now = (self.host.clock)();
        let command = format!("routes {arg}");
        let mut found = e.is_some();
        for i in &mut self.instances {
            let Some(Ok(Value::Object(theirs))) =
                i.protocol.handle_command(now, &command, &self.rib)
            else {
                continue;
            };
            found = true;
            for (key, value) in theirs {
                match (key.as_str(), value) {
                    ("text", Value::String(t)) => text.push_str(&t),
                    (_, value) => answer[key] = value,
                }
            }
        }
        if !found {
            return Err(format!("no route for {arg}"));
        }
        answer["text"] = text.into();
        Ok(answer)
    }

    fn show_fib_stats(&self) -> Value {
        let s = self.publisher.stats();
        let text = format!(
            "FIB version {}: {} IPv4 + {} IPv6 prefixes, {} next-hop groups, {:.1} MB; \
             last publication built in {} us ({} prefix and {} group changes); {} publications; \
             IPv4 lookups read the {} copy{}\n",
            s.version,
            s.ipv4_prefixes,
            s.ipv6_prefixes,
            s.groups,
            s.memory_bytes as f64 / 1e6,
            s.last_build_us,
            s.last_prefix_changes,
            s.last_group_changes,
            s.publications,
            s.ipv4_lookup,
            s.ipv4_unpacked_because
                .as_ref()
                .map_or(String::new(), |why| format!(
                    " ({why}; {} of {} publications unpacked)",
                    s.ipv4_unpacked_publications, s.publications
                ))
        );
        json!({ "stats": s, "text": text })
    }
}

fn unknown(what: &str, registry: &[Registration]) -> String {
    let names: Vec<&str> = registry.iter().map(|r| r.name).collect();
    format!(
        "unknown `show {what}` (try: routes [PREFIX|ADDRESS], fib-stats, {})",
        names.join(", ")
    )
}
