//! `[[bgp.policy]]`: named import/export policies, compiled into
//! [`RoutePolicy`] (the evaluator and the written forms of communities and
//! prefix-list entries are `control::bgp::policy`'s).
//!
//! ```toml
//! [[bgp.policy]]
//! name = "from-transit"
//! default = "reject"                    # what no term decides (default reject)
//!
//! [[bgp.policy.term]]
//! match.prefix = ["10.0.0.0/8 le 32"]   # any of: PREFIX [ge N] [le M]
//! action = "reject"                     # accept, reject or continue
//!
//! [[bgp.policy.term]]
//! match.community = ["65001:100"]       # any of; also large_community = ["A:B:C"]
//! match.as_path_contains = [65010]      # also origin_as, as_path_length = { min, max },
//! set.local_pref = 200                  # next_hop = ["203.0.113.0/24"]
//! set.add_community = ["65000:1"]       # also remove_community, (add|remove)_large_community,
//! action = "accept"                     # med, prepend = N, blackhole = true (import)
//! ```

use std::sync::Arc;

use serde::Deserialize;
use toml::Spanned;

use super::context::Ctx;
use super::ConfigError;
use crate::control::bgp::policy::{syntax, Action, Changes, Conditions, RoutePolicy, Term};

/// `[[bgp.policy]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBgpPolicy {
    pub name: Spanned<String>,
    pub default: Option<Spanned<String>>,
    #[serde(default)]
    pub term: Vec<Spanned<RawTerm>>,
}

/// `[[bgp.policy.term]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTerm {
    #[serde(rename = "match", default)]
    pub conditions: RawMatch,
    #[serde(default)]
    pub set: RawSet,
    pub action: Spanned<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMatch {
    #[serde(default)]
    pub prefix: Vec<Spanned<String>>,
    #[serde(default)]
    pub as_path_contains: Vec<Spanned<i64>>,
    #[serde(default)]
    pub origin_as: Vec<Spanned<i64>>,
    pub as_path_length: Option<Spanned<RawRange>>,
    #[serde(default)]
    pub community: Vec<Spanned<String>>,
    #[serde(default)]
    pub large_community: Vec<Spanned<String>>,
    #[serde(default)]
    pub next_hop: Vec<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRange {
    pub min: Option<Spanned<i64>>,
    pub max: Option<Spanned<i64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSet {
    pub local_pref: Option<Spanned<i64>>,
    pub med: Option<Spanned<i64>>,
    #[serde(default)]
    pub add_community: Vec<Spanned<String>>,
    #[serde(default)]
    pub remove_community: Vec<Spanned<String>>,
    #[serde(default)]
    pub add_large_community: Vec<Spanned<String>>,
    #[serde(default)]
    pub remove_large_community: Vec<Spanned<String>>,
    pub prepend: Option<Spanned<i64>>,
    pub blackhole: Option<Spanned<bool>>,
}

/// Every `[[bgp.policy]]`, compiled, in file order.
pub(super) fn policies(
    cx: &Ctx,
    raw: &[Spanned<RawBgpPolicy>],
) -> Result<Vec<Arc<RoutePolicy>>, ConfigError> {
    let mut out: Vec<Arc<RoutePolicy>> = Vec::with_capacity(raw.len());
    for (i, p) in raw.iter().enumerate() {
        let p = p.get_ref();
        let field = |f: &str| format!("bgp.policy[{i}].{f}");
        let name = p.name.get_ref();
        if name.is_empty() || matches!(name.as_str(), "all" | "none") {
            return Err(cx.err(
                p.name.span(),
                field("name"),
                format!("{name:?} cannot name a policy (empty, \"all\" and \"none\" are taken)"),
            ));
        }
        if let Some(j) = out.iter().position(|o| o.name == *name) {
            return Err(cx.err(
                p.name.span(),
                field("name"),
                format!("{name:?} is already bgp.policy[{j}]"),
            ));
        }
        let default_accept = match p.default.as_ref().map(|d| (d.get_ref().as_str(), d)) {
            None | Some(("reject", _)) => false,
            Some(("accept", _)) => true,
            Some((other, d)) => {
                return Err(cx.err(
                    d.span(),
                    field("default"),
                    format!("{other:?}: \"accept\" or \"reject\""),
                ))
            }
        };
        let terms = p
            .term
            .iter()
            .enumerate()
            .map(|(t, term)| self::term(cx, &format!("bgp.policy[{i}].term[{t}]"), term.get_ref()))
            .collect::<Result<_, _>>()?;
        out.push(Arc::new(RoutePolicy {
            name: name.clone(),
            terms,
            default_accept,
        }));
    }
    Ok(out)
}

/// Reads each of `values` with `read`, errors located at the value.
fn each<T>(
    cx: &Ctx,
    field: &str,
    values: &[Spanned<String>],
    read: impl Fn(&str) -> Result<T, String>,
) -> Result<Vec<T>, ConfigError> {
    values
        .iter()
        .enumerate()
        .map(|(k, v)| read(v.get_ref()).map_err(|e| cx.err(v.span(), format!("{field}[{k}]"), e)))
        .collect()
}

fn asns(cx: &Ctx, field: &str, values: &[Spanned<i64>]) -> Result<Vec<u32>, ConfigError> {
    values
        .iter()
        .enumerate()
        .map(|(k, v)| Ok(cx.bounded(v, &format!("{field}[{k}]"), 0..=u32::MAX as i64)? as u32))
        .collect()
}

fn term(cx: &Ctx, at: &str, t: &RawTerm) -> Result<Term, ConfigError> {
    let action = match t.action.get_ref().as_str() {
        "accept" => Action::Accept,
        "reject" => Action::Reject,
        "continue" => Action::Continue,
        other => {
            return Err(cx.err(
                t.action.span(),
                format!("{at}.action"),
                format!("{other:?}: \"accept\", \"reject\" or \"continue\""),
            ))
        }
    };
    let m = &t.conditions;
    let f = |k: &str| format!("{at}.match.{k}");
    let as_path_length = match &m.as_path_length {
        None => None,
        Some(r) => {
            let bound = |v: &Option<Spanned<i64>>, k: &str, or: u32| match v {
                Some(v) => cx
                    .bounded(v, &f(&format!("as_path_length.{k}")), 0..=u32::MAX as i64)
                    .map(|v| v as u32),
                None => Ok(or),
            };
            let (lo, hi) = (
                bound(&r.get_ref().min, "min", 0)?,
                bound(&r.get_ref().max, "max", u32::MAX)?,
            );
            if lo > hi {
                return Err(cx.err(
                    r.span(),
                    f("as_path_length"),
                    format!("min {lo} is above max {hi}"),
                ));
            }
            Some((lo, hi))
        }
    };
    let conditions = Conditions {
        prefix: each(cx, &f("prefix"), &m.prefix, syntax::prefix_entry)?,
        as_path_contains: asns(cx, &f("as_path_contains"), &m.as_path_contains)?,
        origin_as: asns(cx, &f("origin_as"), &m.origin_as)?,
        as_path_length,
        community: each(cx, &f("community"), &m.community, syntax::community)?,
        large_community: each(
            cx,
            &f("large_community"),
            &m.large_community,
            syntax::large_community,
        )?,
        next_hop: each(cx, &f("next_hop"), &m.next_hop, |s| {
            s.parse::<ipnet::IpNet>()
                .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| format!("{s:?} is not an address or a prefix"))
        })?,
    };
    let s = &t.set;
    let f = |k: &str| format!("{at}.set.{k}");
    let u32_of = |v: &Option<Spanned<i64>>, k: &str| {
        v.as_ref()
            .map(|v| cx.bounded(v, &f(k), 0..=u32::MAX as i64).map(|v| v as u32))
            .transpose()
    };
    let changes = Changes {
        local_pref: u32_of(&s.local_pref, "local_pref")?,
        med: u32_of(&s.med, "med")?,
        add_community: each(cx, &f("add_community"), &s.add_community, syntax::community)?,
        remove_community: each(
            cx,
            &f("remove_community"),
            &s.remove_community,
            syntax::community,
        )?,
        add_large_community: each(
            cx,
            &f("add_large_community"),
            &s.add_large_community,
            syntax::large_community,
        )?,
        remove_large_community: each(
            cx,
            &f("remove_large_community"),
            &s.remove_large_community,
            syntax::large_community,
        )?,
        prepend: match &s.prepend {
            Some(v) => cx.bounded(v, &f("prepend"), 0..=32)? as u8,
            None => 0,
        },
        blackhole: s.blackhole.as_ref().is_some_and(|v| *v.get_ref()),
    };
    Ok(Term {
        conditions,
        changes,
        action,
    })
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use crate::control::bgp::policy::{Action, Role};
    use crate::control::bgp::speaker::Policy;

    const ROUTER: &str = "[router]\nid = \"192.0.2.1\"\n\n[[port]]\nname = \"p0\"\n\
                          mac = \"02:00:00:00:00:01\"\naddresses = [\"192.0.2.1/24\"]\n\n";

    fn parse(bgp: &str) -> Result<crate::config::BgpConfig, crate::config::ConfigError> {
        Config::parse(&format!("{ROUTER}[bgp]\nlocal_as = 65000\n{bgp}"), "r.toml")
            .map(|c| c.bgp.unwrap())
    }

    const POLICY: &str = r#"
[[bgp.policy]]
name = "from-b"
default = "accept"

[[bgp.policy.term]]
match.prefix = ["198.51.100.0/24", "2001:db8::/32 ge 48 le 64"]
match.as_path_contains = [65010]
match.origin_as = [65020]
match.as_path_length = { min = 1, max = 4 }
match.community = ["65001:100", "blackhole"]
match.large_community = ["65001:1:2"]
match.next_hop = ["203.0.113.0/24", "192.0.2.2"]
action = "reject"

[[bgp.policy.term]]
set.local_pref = 200
set.med = 7
set.add_community = ["65000:1"]
set.remove_community = ["no-export"]
set.add_large_community = ["65000:0:1"]
set.remove_large_community = ["65001:1:2"]
set.prepend = 2
set.blackhole = true
action = "continue"
"#;

    fn peer(extra: &str) -> String {
        format!("[[bgp.peer]]\naddress = \"192.0.2.2\"\nremote_as = 65001\n{extra}")
    }

    #[test]
    fn files_take_an_import_policy_too() {
        let bgp = parse(&format!(
            "[[bgp.mrt]]\nfile = \"rib.mrt\"\nimport = \"from-b\"\n\n[[bgp.table]]\n\
             file = \"t\"\npeer = \"192.0.2.2\"\npeer_as = 65001\nimport = \"none\"\n{POLICY}"
        ))
        .unwrap();
        let Policy::Named(from_b) = &bgp.mrt[0].import else {
            panic!("{:?}", bgp.mrt[0].import)
        };
        assert_eq!(from_b.name, "from-b");
        assert_eq!(bgp.tables[0].import, Policy::None);
        let e = parse("[[bgp.mrt]]\nfile = \"m\"\nimport = \"rtbh\"\n").unwrap_err();
        assert_eq!((e.field.as_str(), e.line), ("bgp.mrt[0].import", Some(13)));
        assert!(e.message.contains("name of a [[bgp.policy]]"), "{e}");
    }

    #[test]
    fn a_policy_is_compiled_and_named_by_peers() {
        let bgp = parse(&format!(
            "{}{POLICY}",
            peer(
                "import = \"from-b\"\nexport = \"none\"\nrole = \"customer\"\nstrict_role = true\n"
            )
        ))
        .unwrap();
        let p = &bgp.peers[0];
        let Policy::Named(from_b) = &p.import else {
            panic!("{:?}", p.import)
        };
        assert_eq!(from_b.name, "from-b");
        assert!(from_b.default_accept);
        let (t0, t1) = (&from_b.terms[0], &from_b.terms[1]);
        assert_eq!(t0.action, Action::Reject);
        let c = &t0.conditions;
        assert_eq!(c.prefix.len(), 2);
        assert_eq!((c.prefix[1].min_len, c.prefix[1].max_len), (48, 64));
        assert_eq!(
            (c.as_path_contains.clone(), c.origin_as.clone()),
            (vec![65010], vec![65020])
        );
        assert_eq!(c.as_path_length, Some((1, 4)));
        assert_eq!(c.community, vec![0xfde9_0064, 0xffff_029a]);
        assert_eq!(c.large_community, vec![[65001, 1, 2]]);
        assert_eq!(c.next_hop[1], "192.0.2.2/32".parse().unwrap());
        let s = &t1.changes;
        assert_eq!(
            (t1.action, s.local_pref, s.med, s.prepend),
            (Action::Continue, Some(200), Some(7), 2)
        );
        assert_eq!(
            (s.add_community.clone(), s.remove_community.clone()),
            (vec![0xfde8_0001], vec![0xffff_ff01])
        );
        assert_eq!(s.add_large_community, vec![[65000, 0, 1]]);
        assert_eq!(s.remove_large_community, vec![[65001, 1, 2]]);
        assert!(s.blackhole);
        assert_eq!(
            (p.export.clone(), p.role, p.strict_role),
            (Policy::None, Some(Role::Customer), true)
        );
    }

    #[test]
    fn a_role_makes_ebgp_exchange_routes_without_a_policy() {
        let bgp = parse(&peer("role = \"peer\"\n")).unwrap();
        let p = &bgp.peers[0];
        assert_eq!(
            (p.import.clone(), p.export.clone()),
            (Policy::All, Policy::All)
        );
        // Without one, RFC 8212.
        let bgp = parse(&peer("")).unwrap();
        assert_eq!(bgp.peers[0].import, Policy::None);
    }

    #[test]
    fn bad_policies_name_their_field_and_line() {
        let term =
            |body: &str| format!("[[bgp.policy]]\nname = \"x\"\n[[bgp.policy.term]]\n{body}\n");
        let cases = [
            (
                peer("import = \"missing\"\n"),
                "bgp.peer[0].import",
                "name of a [[bgp.policy]]",
                "",
            ),
            (
                peer("role = \"upstream\"\n"),
                "bgp.peer[0].role",
                "one of provider",
                "",
            ),
            (
                peer("strict_role = true\n"),
                "bgp.peer[0].strict_role",
                "needs a role",
                "",
            ),
            (
                "[[bgp.peer]]\naddress = \"192.0.2.2\"\nremote_as = 65000\nrole = \"peer\"\n"
                    .into(),
                "bgp.peer[0].role",
                "eBGP",
                "",
            ),
            (
                term("action = \"permit\""),
                "bgp.policy[0].term[0].action",
                "\"accept\"",
                "",
            ),
            (
                term("match.prefix = [\"10.0.0.0/8 ge 4\"]\naction = \"accept\""),
                "bgp.policy[0].term[0].match.prefix[0]",
                "ge <= le",
                "",
            ),
            (
                term("match.community = [\"65536:1\"]\naction = \"accept\""),
                "bgp.policy[0].term[0].match.community[0]",
                "not a community",
                "",
            ),
            (
                term("match.large_community = [\"1:2\"]\naction = \"accept\""),
                "bgp.policy[0].term[0].match.large_community[0]",
                "not a large community",
                "",
            ),
            (
                term("match.next_hop = [\"somewhere\"]\naction = \"accept\""),
                "bgp.policy[0].term[0].match.next_hop[0]",
                "not an address",
                "",
            ),
            (
                term("match.as_path_length = { min = 5, max = 2 }\naction = \"accept\""),
                "bgp.policy[0].term[0].match.as_path_length",
                "above max",
                "",
            ),
            (
                term("set.prepend = 40\naction = \"accept\""),
                "bgp.policy[0].term[0].set.prepend",
                "out of range",
                "",
            ),
            (
                "[[bgp.policy]]\nname = \"x\"\ndefault = \"maybe\"\n".into(),
                "bgp.policy[0].default",
                "\"accept\" or \"reject\"",
                "",
            ),
            (
                "[[bgp.policy]]\nname = \"x\"\n[[bgp.policy]]\nname = \"x\"\n".into(),
                "bgp.policy[1].name",
                "already bgp.policy[0]",
                "",
            ),
            (
                "[[bgp.policy]]\nname = \"all\"\n".into(),
                "bgp.policy[0].name",
                "cannot name",
                "",
            ),
        ];
        for (text, field, message, at) in cases {
            let e = parse(&text).unwrap_err();
            assert_eq!(e.field, field, "{text}: {e}");
            assert!(e.message.contains(message), "{text}: {e}");
            // The error points at the value: the last line that holds
            // the field's key (`at` if given); the text starts on line 11.
            let key = if at.is_empty() {
                field.rsplit('.').next().unwrap().split('[').next().unwrap()
            } else {
                at
            };
            let lines: Vec<&str> = text.lines().collect();
            let want = lines.iter().rposition(|l| l.contains(key)).unwrap() + 11;
            assert_eq!(e.line, Some(want), "{text}: {e}");
        }
    }
}
