//! `[[bgp.peer]]` and `[bgp] redistribute`: live sessions and what they
//! advertise.

use std::sync::Arc;
use std::time::Duration;

use toml::Spanned;

use super::context::Ctx;
use super::raw::{RawBgp, RawBgpPeer};
use super::ConfigError;
use crate::control::bgp::policy::{Role, RoutePolicy};
use crate::control::bgp::speaker::{BgpPeerConfig, Policy};
use crate::control::protocol::Md5Key;
use crate::control::rib::route::RouteSource;

/// `redistribute`: "connected" and "static".
pub(super) fn redistribute(cx: &Ctx, raw: &RawBgp) -> Result<Vec<RouteSource>, ConfigError> {
    super::redistribute::sources(
        cx,
        &raw.redistribute,
        "bgp.redistribute",
        &["connected", "static"],
    )
}

pub(super) fn peers(
    cx: &Ctx,
    raw: &RawBgp,
    local_as: u32,
    policies: &[Arc<RoutePolicy>],
) -> Result<Vec<BgpPeerConfig>, ConfigError> {
    let mut out: Vec<BgpPeerConfig> = Vec::new();
    for (i, p) in raw.peer.iter().enumerate() {
        let peer = peer(cx, i, p.get_ref(), local_as, policies)?;
        if let Some(j) = out.iter().position(|o| o.address == peer.address) {
            let a = &p.get_ref().address;
            return Err(cx.err(
                a.span(),
                format!("bgp.peer[{i}].address"),
                format!("{} is already bgp.peer[{j}]", peer.address),
            ));
        }
        out.push(peer);
    }
    Ok(out)
}

fn peer(
    cx: &Ctx,
    i: usize,
    p: &RawBgpPeer,
    local_as: u32,
    policies: &[Arc<RoutePolicy>],
) -> Result<BgpPeerConfig, ConfigError> {
    let field = |f: &str| format!("bgp.peer[{i}].{f}");
    let address = cx.ip(&p.address, field("address"))?;
    if address.is_unspecified() || address.is_multicast() || address.is_loopback() {
        return Err(cx.err(
            p.address.span(),
            field("address"),
            format!("{address} cannot be a peer's address"),
        ));
    }
    let remote_as = cx.bounded(&p.remote_as, &field("remote_as"), 1..=u32::MAX as i64)? as u32;
    let mut c = BgpPeerConfig::new(address, remote_as, local_as);
    if let Some(a) = &p.local_address {
        c.local_address = Some(cx.ip(a, field("local_address"))?);
    }
    c.passive = p.passive.as_ref().is_some_and(|v| *v.get_ref());
    c.graceful_restart = p.graceful_restart.as_ref().is_none_or(|v| *v.get_ref());
    if let Some(h) = &p.hold_time {
        let h = cx.bounded(h, &field("hold_time"), 0..=65535)? as u16;
        if h == 1 || h == 2 {
            return Err(cx.err(
                p.hold_time.as_ref().map_or(0..0, |h| h.span()),
                field("hold_time"),
                "0, or 3 seconds and more (RFC 4271 §4.2)".to_string(),
            ));
        }
        c.hold_time = h;
    }
    if let Some(r) = &p.connect_retry {
        c.connect_retry =
            Duration::from_secs(cx.bounded(r, &field("connect_retry"), 1..=3600)? as u64);
    }
    if let Some(a) = &p.advertisement_interval {
        let secs = cx.bounded(a, &field("advertisement_interval"), 0..=600)?;
        c.advertisement_interval = Duration::from_secs(secs as u64);
    }
    if let Some(m) = &p.multihop {
        c.multihop = Some(cx.bounded(m, &field("multihop"), 1..=255)? as u8);
    }
    c.ttl_security = p.ttl_security.as_ref().is_some_and(|v| *v.get_ref());
    if let Some(pw) = &p.password {
        // The error never repeats the password.
        c.password = Some(Md5Key::new(pw.get_ref().as_bytes()).ok_or_else(|| {
            cx.err(
                pw.span(),
                field("password"),
                format!("1 to {} bytes (TCP MD5, RFC 2385)", Md5Key::MAX_LEN),
            )
        })?);
    }
    if let Some(r) = &p.role {
        let role = Role::from_name(r.get_ref()).ok_or_else(|| {
            let names: Vec<&str> = Role::ALL.iter().map(|r| r.name()).collect();
            cx.err(
                r.span(),
                field("role"),
                format!("{:?}: one of {}", r.get_ref(), names.join(", ")),
            )
        })?;
        if remote_as == local_as {
            return Err(cx.err(
                r.span(),
                field("role"),
                "roles are for eBGP peers (RFC 9234)".to_string(),
            ));
        }
        // With a role the relationship is said: routes flow by it.
        c.role = Some(role);
        c.import = Policy::All;
        c.export = Policy::All;
    }
    c.strict_role = p.strict_role.as_ref().is_some_and(|v| *v.get_ref());
    if c.strict_role && c.role.is_none() {
        let span = p.strict_role.as_ref().map_or(0..0, |v| v.span());
        return Err(cx.err(span, field("strict_role"), "needs a role".to_string()));
    }
    for (value, slot, name) in [
        (&p.import, &mut c.import, "import"),
        (&p.export, &mut c.export, "export"),
    ] {
        if let Some(v) = value {
            *slot = policy(cx, v, field(name), policies)?;
        }
    }
    Ok(c)
}

/// An `import`/`export` value: "all", "none" or a `[[bgp.policy]]` name
/// (for peers and file inputs alike).
pub(super) fn policy(
    cx: &Ctx,
    v: &Spanned<String>,
    field: String,
    policies: &[Arc<RoutePolicy>],
) -> Result<Policy, ConfigError> {
    Ok(match v.get_ref().as_str() {
        "all" => Policy::All,
        "none" => Policy::None,
        other => match policies.iter().find(|p| p.name == other) {
            Some(p) => Policy::Named(p.clone()),
            None => {
                return Err(cx.err(
                    v.span(),
                    field,
                    format!("{other:?}: \"all\", \"none\" or the name of a [[bgp.policy]]"),
                ))
            }
        },
    })
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use crate::control::bgp::speaker::Policy;
    use crate::control::protocol::Md5Key;
    use crate::control::rib::route::RouteSource;

    const ROUTER: &str = "[router]\nid = \"192.0.2.1\"\n\n[[port]]\nname = \"p0\"\n\
                          mac = \"02:00:00:00:00:01\"\naddresses = [\"192.0.2.1/24\"]\n\n";

    fn parse(bgp: &str) -> Result<crate::config::BgpConfig, crate::config::ConfigError> {
        Config::parse(&format!("{ROUTER}{bgp}"), "r.toml").map(|c| c.bgp.unwrap())
    }

    #[test]
    fn peers_are_read_with_their_defaults() {
        let bgp = parse(
            "[bgp]\nlocal_as = 65000\nredistribute = [\"static\", \"connected\"]\n\n\
             [[bgp.peer]]\naddress = \"192.0.2.2\"\nremote_as = 65001\n\n\
             [[bgp.peer]]\naddress = \"2001:db8::2\"\nremote_as = 65000\npassive = true\n\
             hold_time = 30\nconnect_retry = 10\nmultihop = 2\nlocal_address = \"2001:db8::1\"\n\
             import = \"none\"\nexport = \"all\"\ngraceful_restart = false\n\
             password = \"s3cret\"\ngtsm = true\n\
             advertisement_interval = 5\n",
        )
        .unwrap();
        assert_eq!(
            bgp.redistribute,
            [RouteSource::STATIC, RouteSource::CONNECTED]
        );
        let (e, i) = (&bgp.peers[0], &bgp.peers[1]);
        // eBGP exchanges nothing unless told (RFC 8212).
        assert_eq!(
            (&e.import, &e.export, e.hold_time, e.passive),
            (&Policy::None, &Policy::None, 90, false)
        );
        assert!(e.graceful_restart);
        assert_eq!(
            (&i.import, &i.export, i.hold_time, i.passive),
            (&Policy::None, &Policy::All, 30, true)
        );
        assert_eq!((i.multihop, i.connect_retry.as_secs()), (Some(2), 10));
        assert_eq!(i.local_address, Some("2001:db8::1".parse().unwrap()));
        assert!(!i.graceful_restart);
        assert_eq!(i.password, Md5Key::new(b"s3cret"));
        assert!(i.ttl_security && !e.ttl_security && e.password.is_none());
        assert_eq!(format!("{:?}", i.password), "Some(Md5Key(<hidden>))");
        // MRAI: a short default for eBGP, none for iBGP unless set.
        assert_eq!(e.advertisement_interval.as_secs(), 1);
        assert_eq!(i.advertisement_interval.as_secs(), 5);
    }

    #[test]
    fn bad_peers_name_their_field() {
        let peer = |extra: &str| {
            format!("[bgp]\nlocal_as = 1\n[[bgp.peer]]\naddress = \"192.0.2.2\"\nremote_as = 2\n{extra}")
        };
        let cases = [
            (
                peer("import = \"some\"\n"),
                "bgp.peer[0].import",
                "name of a [[bgp.policy]]",
            ),
            (
                peer("hold_time = 2\n"),
                "bgp.peer[0].hold_time",
                "3 seconds",
            ),
            (
                peer("password = \"\"\n"),
                "bgp.peer[0].password",
                "1 to 80 bytes",
            ),
            (
                peer("multihop = 0\n"),
                "bgp.peer[0].multihop",
                "out of range",
            ),
            (
                peer("[[bgp.peer]]\naddress = \"192.0.2.2\"\nremote_as = 3\n"),
                "bgp.peer[1].address",
                "already bgp.peer[0]",
            ),
            (
                "[bgp]\nlocal_as = 1\nredistribute = [\"ospf\"]\n".to_string(),
                "bgp.redistribute[0]",
                "only",
            ),
            (
                "[bgp]\nlocal_as = 1\n[[bgp.peer]]\naddress = \"0.0.0.0\"\nremote_as = 2\n"
                    .to_string(),
                "bgp.peer[0].address",
                "cannot be",
            ),
        ];
        for (text, field, message) in cases {
            let e = parse(&text).unwrap_err();
            assert_eq!(e.field, field, "{text}: {e}");
            assert!(e.message.contains(message), "{text}: {e}");
        }
    }
}
