//! The daemon's side of the ports' stages and ACLs on a running router:
//! `reload` compiling and publishing new ones, `show acl [NAME]`.

use crate::config::Config;
use crate::control::operator::AfterReload;
use crate::forward::acl::{show, AclTable};
use crate::forward::{StagesHandle, StagesSnapshot};

/// Compiles `fresh`'s stages now (reusing the running lists when they did
/// not change) and returns the step that publishes them once the routing
/// inputs are applied: one pointer swap, the workers take it at their
/// next pass. Its answer: the new version and the lists that changed
/// (their counts start at zero; the others keep theirs).
pub fn after_reload(handle: &StagesHandle, fresh: &Config) -> AfterReload {
    let running = handle.load();
    let table = fresh.stage_table(Some(&running));
    let changed = changed_lists(&running.acls, &table.acls);
    let handle = handle.clone();
    Box::new(move || {
        let version = handle.publish(table);
        serde_json::json!({ "version": version, "acl_changed": changed })
    })
}

/// The names of `new`'s lists that are not in `old` as they are.
fn changed_lists(old: &AclTable, new: &AclTable) -> Vec<String> {
    new.acls()
        .iter()
        .filter(|a| !old.acls().iter().any(|o| o.spec() == a.spec()))
        .map(|a| a.spec().name.clone())
        .collect()
}

/// `show acl` or `show acl NAME` (the request line), with `hits` summed
/// over the workers: JSON with a `text` rendering.
pub fn show_acl(
    request: &str,
    handle: &StagesHandle,
    hits: &StagesSnapshot,
    port_names: &[String],
) -> Result<serde_json::Value, String> {
    let only = request
        .strip_prefix("show acl")
        .map(str::trim)
        .filter(|n| !n.is_empty());
    let view = show(&handle.load(), hits, port_names, only)?;
    let mut value = serde_json::to_value(&view).map_err(|e| e.to_string())?;
    value["text"] = view.to_text().into();
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = r#"
[router]
id = "192.0.2.1"

[[port]]
name = "p0"
interface = "a0"
mac = "02:00:00:00:00:01"
addresses = ["192.0.2.1/24"]
acl_in = "no-ssh"

[[port]]
name = "p1"
interface = "b0"
mac = "02:00:00:00:00:02"
addresses = ["203.0.113.1/24"]
acl_out = "no-ssh"

[[acl]]
name = "no-ssh"

[[acl.rule]]
action = "reject"
protocol = "tcp"
destination_port = 22

[[acl]]
name = "spare"
default = "deny"
"#;

    fn config(edit: impl Fn(&str) -> String) -> Config {
        Config::parse(&edit(CONFIG), "router.toml").unwrap()
    }

    #[test]
    fn reload_publishes_only_after_the_routing_step_and_names_changed_lists() {
        let running = config(str::to_string);
        let handle = StagesHandle::new(running.stage_table(None));
        let first = handle.load();
        // Only a port's stage changes: the lists are reused, not compiled.
        let urpf = config(|t| t.replacen("acl_out = \"no-ssh\"", "urpf = \"strict\"", 1));
        let publish = after_reload(&handle, &urpf);
        assert_eq!(handle.version(), 1, "nothing published before the step");
        let answer = publish();
        assert_eq!(answer, serde_json::json!({"version": 2, "acl_changed": []}));
        assert!(std::sync::Arc::ptr_eq(&first.acls, &handle.load().acls));
        assert_eq!(handle.load().features[1].acl_out, None);
        // A rule changed: that list is named, the other is not.
        let edited = config(|t| t.replace("destination_port = 22", "destination_port = 23"));
        let answer = after_reload(&handle, &edited)();
        assert_eq!(
            answer,
            serde_json::json!({"version": 3, "acl_changed": ["no-ssh"]})
        );
    }

    #[test]
    fn show_acl_lists_rules_hits_and_ports_or_one_list() {
        let running = config(str::to_string);
        let handle = StagesHandle::new(running.stage_table(None));
        let names = vec!["p0".to_string(), "p1".to_string()];
        let mut hits = StagesSnapshot {
            version: 1,
            oldest_version: 1,
            ..Default::default()
        };
        hits.acl = crate::forward::acl::hits(&handle.load().acls, &[vec![5, 7], vec![3]]);
        let all = show_acl("show acl", &handle, &hits, &names).unwrap();
        assert_eq!(all["acl"][0]["rules"][0]["hits"], 5);
        assert_eq!(all["acl"][0]["rules"][0]["destination_port"], "22");
        assert_eq!(all["acl"][0]["default_hits"], 7);
        assert_eq!(
            all["acl"][0]["used_by"],
            serde_json::json!([{"port": "p0", "direction": "in"}, {"port": "p1", "direction": "out"}])
        );
        assert_eq!(all["acl"][1]["used_by"], serde_json::json!([]));
        let text = all["text"].as_str().unwrap();
        assert!(
            text.contains("acl no-ssh: 1 rules, default permit, used by p0 in, p1 out"),
            "{text}"
        );
        assert!(text.contains("reject proto 6 dport 22"), "{text}");
        let one = show_acl("show acl spare", &handle, &hits, &names).unwrap();
        assert_eq!(one["acl"].as_array().unwrap().len(), 1);
        assert_eq!(
            (
                one["acl"][0]["default"].as_str(),
                one["acl"][0]["default_hits"].as_u64()
            ),
            (Some("deny"), Some(3))
        );
        let err = show_acl("show acl nope", &handle, &hits, &names).unwrap_err();
        assert!(err.contains("no-ssh, spare"), "{err}");
        // Counts of another table version are not shown as this one's.
        hits.version = 0;
        let stale = show_acl("show acl", &handle, &hits, &names).unwrap();
        assert_eq!(stale["acl"][0]["rules"][0]["hits"], 0);
    }
}
