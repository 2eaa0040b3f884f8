//! The OSPF live test's namespaces and configurations: ferroute in `rt`,
//! BIRD in `bd`, FRR in `fr`, their LAN through a bridge in `hub`.

use ferroute::config::Config;
use ferroute::control::{self, Control, ControlHandle};
use ferroute::fib::FibHandle;
use ferroute::testkit::netns::Netns;

pub struct Lab {
    pub rt: Netns,
    pub bd: Netns,
    pub fr: Netns,
    _hub: Netns,
}

pub fn veth(a: &Netns, a_name: &str, b: &Netns, b_name: &str) {
    a.ip(&[
        "link", "add", a_name, "type", "veth", "peer", "name", b_name, "netns", &b.name,
    ]);
    a.ip(&["link", "set", a_name, "up"]);
    b.ip(&["link", "set", b_name, "up"]);
}

pub fn addr(ns: &Netns, dev: &str, address: &str) {
    ns.ip(&["addr", "add", address, "dev", dev]);
}

/// A LAN with no one else on it (a veth pair inside one namespace: the
/// kernel here has no dummy interfaces).
/// A LAN: a bridge in `hub` (multicast snooping off, so that OSPF's
/// groups reach every member) with each member's `lan0` on it, addressed.
pub fn bridged_lan(hub: &Netns, members: &[(&Netns, &str, &str)]) {
    hub.ip(&[
        "link",
        "add",
        "br0",
        "type",
        "bridge",
        "mcast_snooping",
        "0",
    ]);
    hub.ip(&["link", "set", "br0", "up"]);
    for &(ns, port, address) in members {
        veth(ns, "lan0", hub, port);
        hub.ip(&["link", "set", port, "master", "br0"]);
        addr(ns, "lan0", address);
    }
}

pub fn lone_lan(ns: &Netns, dev: &str, address: &str) {
    let peer = format!("{dev}p");
    ns.ip(&["link", "add", dev, "type", "veth", "peer", "name", &peer]);
    ns.ip(&["link", "set", dev, "up"]);
    ns.ip(&["link", "set", &peer, "up"]);
    addr(ns, dev, address);
}

impl Lab {
    pub fn new() -> Lab {
        let hub = Netns::new("ospf-hub");
        let rt = Netns::new("ospf-rt");
        let bd = Netns::new("ospf-bd");
        let fr = Netns::new("ospf-fr");
        bridged_lan(
            &hub,
            &[
                (&rt, "h-rt", "192.0.2.1/24"),
                (&bd, "h-bd", "192.0.2.2/24"),
                (&fr, "h-fr", "192.0.2.3/24"),
            ],
        );
        veth(&rt, "p2p0", &bd, "p2p0");
        addr(&rt, "p2p0", "10.0.12.1/30");
        addr(&bd, "p2p0", "10.0.12.2/30");
        veth(&rt, "p2p1", &fr, "p2p0");
        addr(&rt, "p2p1", "10.0.13.1/30");
        addr(&fr, "p2p0", "10.0.13.2/30");
        lone_lan(&rt, "stub0", "100.64.1.1/24");
        lone_lan(&bd, "stub0", "198.51.100.1/24");
        lone_lan(&fr, "stub0", "203.0.113.1/24");
        lone_lan(&fr, "ext0", "100.67.0.1/24");
        Lab {
            rt,
            bd,
            fr,
            _hub: hub,
        }
    }
}

pub const FERROUTE: &str = r#"
[router]
id = "10.0.0.1"

[[port]]
name = "lan"
interface = "lan0"
mac = "02:00:00:00:00:01"
addresses = ["192.0.2.1/24"]

[[port]]
name = "p2p"
interface = "p2p0"
mac = "02:00:00:00:00:02"
addresses = ["10.0.12.1/30"]

[[port]]
name = "p2pf"
interface = "p2p1"
mac = "02:00:00:00:00:04"
addresses = ["10.0.13.1/30"]

[[port]]
name = "stub"
interface = "stub0"
mac = "02:00:00:00:00:03"
addresses = ["100.64.1.1/24"]

[[route]]
prefix = "100.68.0.0/24"
action = "blackhole"

[ospf]
area = "0.0.0.0"
redistribute = ["static"]

[[ospf.interface]]
port = "lan"
network = "broadcast"
priority = 100
hello_interval = 1
dead_interval = 4
authentication = "simple"
password = "lanpass"

[[ospf.interface]]
port = "p2p"
network = "point-to-point"
hello_interval = 1
dead_interval = 4
authentication = "md5"
password = "p2pkey"
key_id = 1

[[ospf.interface]]
port = "p2pf"
network = "point-to-point"
hello_interval = 1
dead_interval = 4
authentication = "md5"
password = "p2pkey"
key_id = 1

[[ospf.interface]]
port = "stub"
hello_interval = 1
dead_interval = 4
"#;

pub const BIRD: &str = r#"
router id 10.0.0.2;
protocol device { scan time 1; }
protocol static {
  ipv4;
  route 100.66.0.0/24 blackhole;
}
protocol ospf v2 o {
  ipv4 {
    import all;
    export filter { if source = RTS_STATIC then { ospf_metric2 = 25; accept; } reject; };
  };
  area 0 {
    interface "lan0" {
      type broadcast; hello 1; dead 4; priority 5;
      authentication simple; password "lanpass";
    };
    interface "p2p0" {
      type ptp; hello 1; dead 4;
      authentication cryptographic; password "p2pkey" { id 1; algorithm keyed md5; };
    };
    interface "stub0" { stub yes; };
  };
}
"#;

pub const FRR: &str = r#"
frr defaults traditional
hostname fr
!
interface lan0
 ip ospf hello-interval 1
 ip ospf dead-interval 4
 ip ospf priority 10
 ip ospf authentication
 ip ospf authentication-key lanpass
!
interface p2p0
 ip ospf network point-to-point
 ip ospf hello-interval 1
 ip ospf dead-interval 4
 ip ospf authentication message-digest
 ip ospf message-digest-key 1 md5 p2pkey
!
ip prefix-list EXT seq 5 permit 100.67.0.0/24
!
route-map EXT permit 10
 match ip address prefix-list EXT
!
router ospf
 ospf router-id 10.0.0.3
 network 192.0.2.0/24 area 0
 network 10.0.13.0/30 area 0
 network 203.0.113.0/24 area 0
 redistribute connected metric 30 metric-type 1 route-map EXT
!
"#;

/// ferroute's control plane in namespace `rt`.
pub fn start_ferroute(rt: &Netns, config: &Config) -> (ControlHandle, FibHandle) {
    rt.run(|| {
        let inputs = config.control_inputs();
        let ifindexes = control::port_ifindexes(&inputs).unwrap();
        let fib = FibHandle::new(config.fib().unwrap());
        let handle = Control::start(&inputs, fib.clone(), &ifindexes).unwrap();
        (handle, fib)
    })
}
