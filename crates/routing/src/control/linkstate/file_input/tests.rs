//! The link-state file input driven by bytes and clock ticks alone.

use std::path::Path;
use std::time::Duration;

use super::*;
use crate::control::bgp::ResolveWith;
use crate::control::protocol::{frozen_clock, ProtocolPort, SocketEvent};
use crate::control::rib::route::{RibRoute, Via};

const LSDB: &str = r#"
[[router]]
id = "192.0.2.1"
sequence = 1
[[router.link]]
neighbor = "10.255.0.2"
cost = 10
via = "203.0.113.2"
port = "p1"

[[router]]
id = "10.255.0.2"
sequence = 1
[[router.link]]
neighbor = "192.0.2.1"
cost = 10
[[router.stub]]
prefix = "198.18.0.0/24"
cost = 3
"#;

fn config(file: &str) -> ProtocolConfig {
    ProtocolConfig::new(
        "192.0.2.1".parse().unwrap(),
        vec![ProtocolPort::named(0, "p0"), ProtocolPort::named(1, "p1")],
    )
    .with_section(NAME, LinkStateConfig { file: file.into() })
}

#[test]
fn bytes_in_then_spf_after_the_hold_down_gives_the_routes() {
    let rib = ResolveWith(|_| None);
    let t0 = frozen_clock();
    let ms = Duration::from_millis;
    let config = config("lsdb.toml");
    let mut ls = (REGISTRATION.create)(&config).expect("configured");
    let files = ls.reconfigure(t0, &config).unwrap().files;
    assert_eq!(files, [Path::new("lsdb.toml")]);
    assert_eq!(ls.poll_timeout(), None);
    let input = ProtocolInput::File {
        path: &files[0],
        bytes: LSDB.as_bytes(),
    };
    ls.handle_input(t0, input, &rib).unwrap();
    assert_eq!(ls.poll_timeout(), Some(t0 + SPF_HOLD_DOWN));
    ls.handle_timeout(t0 + ms(19), &rib);
    assert_eq!(ls.poll_route(), None, "the hold-down has not passed");
    ls.handle_timeout(t0 + ms(20), &rib);
    let want = RibRoute {
        prefix: "198.18.0.0/24".parse().unwrap(),
        source: RouteSource::LINK_STATE,
        metric: 13,
        paths: vec![Via::Gateway {
            port: 1,
            gateway: "203.0.113.2".parse().unwrap(),
        }],
    };
    match ls.poll_route() {
        Some(RouteOutput::ReplaceSource { source, routes }) => {
            assert_eq!(source, RouteSource::LINK_STATE);
            assert_eq!(routes, [want]);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(ls.poll_route(), None);
    assert_eq!(ls.poll_timeout(), None);
    // The same contents again change nothing: no SPF run is scheduled.
    ls.handle_input(t0 + ms(30), input, &rib).unwrap();
    assert_eq!(ls.poll_timeout(), None);
    let shown = ls.handle_command(t0, "linkstate", &rib).unwrap().unwrap();
    assert!(shown["text"].as_str().unwrap().contains("10.255.0.2"));
    assert!(ls.handle_command(t0, "bgp", &rib).is_none());
}

#[test]
fn a_malformed_file_is_refused_with_its_line_and_nothing_changes() {
    let rib = ResolveWith(|_| None);
    let t0 = frozen_clock();
    let config = config("lsdb.toml");
    let mut ls = (REGISTRATION.create)(&config).unwrap();
    ls.reconfigure(t0, &config).unwrap();
    let bad = LSDB.replace("cost = 3", "cost = \"three\"");
    let line = bad.lines().position(|l| l.contains("three")).unwrap() + 1;
    let err = ls
        .handle_input(
            t0,
            ProtocolInput::File {
                path: Path::new("lsdb.toml"),
                bytes: bad.as_bytes(),
            },
            &rib,
        )
        .unwrap_err();
    assert!(
        err.starts_with(&format!("lsdb.toml:{line}: router[1].stub[0].cost")),
        "{err}"
    );
    assert_eq!(ls.poll_timeout(), None);
    assert_eq!(ls.poll_route(), None);
    let socket = ProtocolInput::Socket(SocketEvent::Stream {
        socket: crate::control::protocol::SocketId(1),
        bytes: b"x",
    });
    assert!(ls.handle_input(t0, socket, &rib).is_err());
}
