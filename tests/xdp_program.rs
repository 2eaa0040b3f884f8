//! Lifecycle of the XDP program: a stale `ferroute_xdp` from a crashed run is
//! replaced, a foreign program is refused and left alone, a second live
//! instance is refused, detach() leaves nothing behind, and bad names or
//! queues give one-line errors. Root tests skip otherwise (fail under CI=true).

mod xdp_support;

use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};

use ferroute::io::xdp::{
    attached_programs, interface_index, XdpError, XdpIo, XdpIoConfig, XdpMode, XdpPort, XdpProgram,
    PROGRAM_NAME,
};
use libbpf_rs::libbpf_sys;
use xdp_support::{require_root, router_ports, Topology, MAC_RA};

/// Loads a two-instruction XDP program (`return XDP_PASS`) called
/// `foreign_xdp`: someone else's program.
fn load_foreign_program() -> OwnedFd {
    // SAFETY: bpf_insn is plain data; zero registers are r0.
    let mut insns: [libbpf_sys::bpf_insn; 2] = unsafe { std::mem::zeroed() };
    insns[0].code = 0xb7; // BPF_ALU64 | BPF_MOV | BPF_K: r0 = imm
    insns[0].imm = 2; // XDP_PASS
    insns[1].code = 0x95; // BPF_JMP | BPF_EXIT
                          // SAFETY: valid instruction array and NUL-terminated strings.
    let fd = unsafe {
        libbpf_sys::bpf_prog_load(
            libbpf_sys::BPF_PROG_TYPE_XDP,
            c"foreign_xdp".as_ptr(),
            c"GPL".as_ptr(),
            insns.as_ptr(),
            insns.len() as _,
            std::ptr::null_mut(),
        )
    };
    assert!(fd >= 0, "loading the foreign program: {fd}");
    // SAFETY: a new descriptor we own.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// Attaches `prog_fd` to `ifindex` through netlink (survives the process
/// closing the descriptor, as after a crash).
fn attach_netlink(ifindex: u32, prog_fd: &OwnedFd, mode: XdpMode) {
    let flags = match mode {
        XdpMode::Native => libbpf_sys::XDP_FLAGS_DRV_MODE,
        XdpMode::Generic => libbpf_sys::XDP_FLAGS_SKB_MODE,
    };
    // SAFETY: valid program descriptor; null options are allowed.
    let ret = unsafe {
        libbpf_sys::bpf_xdp_attach(ifindex as i32, prog_fd.as_raw_fd(), flags, std::ptr::null())
    };
    assert_eq!(ret, 0, "netlink attach");
}

/// Our own compiled object, loaded outside `XdpProgram` and attached through
/// netlink, then abandoned: what a crashed run on an old kernel leaves.
fn leave_stale_program(ifindex: u32) -> u32 {
    let path = ferroute::io::xdp::PROGRAM_OBJECT;
    let object = libbpf_rs::ObjectBuilder::default()
        .open_file(path)
        .expect("open ferroute.bpf.o")
        .load()
        .expect("load ferroute.bpf.o");
    let prog = object
        .progs()
        .find(|p| p.name() == PROGRAM_NAME)
        .expect("ferroute_xdp in the object");
    let fd = prog.as_fd().try_clone_to_owned().expect("dup");
    attach_netlink(ifindex, &fd, XdpMode::Native);
    let attached = attached_programs(ifindex).expect("query");
    assert_eq!(attached.len(), 1);
    attached[0].id
}

#[test]
fn bad_interface_names_say_what_to_do() {
    for name in ["no-such-if0", "", "much-too-long-interface-name"] {
        let err = interface_index(name).expect_err(name);
        let text = err.to_string();
        assert!(matches!(err, XdpError::NoSuchInterface { .. }), "{text}");
        assert!(
            text.contains("does not exist") && text.contains("ip link show"),
            "{text}"
        );
        assert!(!text.contains('\n'), "one line: {text}");
    }
}

#[test]
fn stale_program_replaced_foreign_refused_second_instance_refused() {
    if !require_root("stale_program_replaced_foreign_refused_second_instance_refused") {
        return;
    }
    let topo = Topology::new();
    topo.r.run(|| {
        let ports = router_ports();
        let [ra, rb] = [ports[0].ifindex, ports[1].ifindex];

        // A foreign program on rb: refused by name, left alone, and the
        // interface done before it (ra) is rolled back.
        let foreign = load_foreign_program();
        attach_netlink(rb, &foreign, XdpMode::Generic);
        drop(foreign);
        let err = XdpProgram::load(&ports, XdpMode::Native).expect_err("foreign program");
        let text = err.to_string();
        eprintln!("foreign: {text}");
        assert!(matches!(err, XdpError::ForeignProgram { .. }), "{text}");
        assert!(
            text.contains("\"rb\"") && text.contains("foreign_xdp"),
            "{text}"
        );
        assert!(text.contains("ip link set dev rb xdpgeneric off"), "{text}");
        assert!(attached_programs(ra).expect("query ra").is_empty());
        let on_rb = attached_programs(rb).expect("query rb");
        assert_eq!(on_rb.len(), 1);
        assert_eq!(on_rb[0].name, "foreign_xdp");
        // SAFETY: plain libbpf call.
        let ret = unsafe {
            libbpf_sys::bpf_xdp_detach(rb as i32, libbpf_sys::XDP_FLAGS_SKB_MODE, std::ptr::null())
        };
        assert_eq!(ret, 0);

        // Our own program left on ra by a "crashed" run is replaced.
        let stale_id = leave_stale_program(ra);
        let mut program = XdpProgram::load(&ports, XdpMode::Native).expect("load over stale");
        let on_ra = attached_programs(ra).expect("query ra");
        assert_eq!(on_ra.len(), 1);
        assert_eq!(on_ra[0].name, PROGRAM_NAME);
        assert_ne!(on_ra[0].id, stale_id, "the stale program is gone");
        let live_id = on_ra[0].id;

        // A second instance while the first runs is refused, harmlessly.
        let err = XdpProgram::load(&ports, XdpMode::Native).expect_err("second instance");
        assert!(matches!(err, XdpError::InUse { .. }), "{err}");
        assert!(err.to_string().contains("stop that process"), "{err}");
        assert_eq!(attached_programs(ra).expect("query")[0].id, live_id);

        // detach() removes it everywhere, and again is a no-op.
        program.detach().expect("detach");
        program.detach().expect("detach again");
        assert!(attached_programs(ra).expect("query ra").is_empty());
        assert!(attached_programs(rb).expect("query rb").is_empty());
    });
}

#[test]
fn sockets_on_missing_interfaces_or_queues_fail_clearly() {
    if !require_root("sockets_on_missing_interfaces_or_queues_fail_clearly") {
        return;
    }
    let topo = Topology::new();
    topo.r.run(|| {
        let err = XdpIo::open(&[999_999], &XdpIoConfig::default()).expect_err("no interface");
        assert!(matches!(err, XdpError::NoSuchInterface { .. }), "{err}");

        let ra = interface_index("ra").expect("ra");
        let config = XdpIoConfig {
            queue: 7,
            ..XdpIoConfig::default()
        };
        let err = XdpIo::open(&[ra], &config).expect_err("veth has one queue");
        let text = err.to_string();
        eprintln!("queue 7: {text}");
        assert!(text.contains("ra queue 7"), "{text}");
        assert!(!text.contains('\n'), "{text}");

        let err = XdpProgram::load(
            &[XdpPort {
                ifindex: ra,
                port_index: 64,
                mac: MAC_RA,
            }],
            XdpMode::Native,
        )
        .expect_err("port index out of range");
        assert!(err.to_string().contains("port index 64"), "{err}");
    });
}
