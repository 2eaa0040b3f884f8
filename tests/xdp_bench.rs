//! A blind AF_XDP forwarder between two veths, measured: an AF_XDP
//! generator in namespace `a` sends 64-byte UDP frames into `ra`; the router
//! receives them on port 0, rewrites the Ethernet header and sends them out
//! of port 1 to `pb`, where an XDP program drops them. Ignored by default:
//!
//! ```text
//! cargo test --release --test xdp_bench -- --ignored --nocapture
//! FERROUTE_BENCH_SECS=10 (default 5)
//! FERROUTE_BENCH_RT=1    (SCHED_FIFO threads, for a machine busy with other work)
//! ```
//!
//! It reports what it saw; it asserts only that frames flowed.

mod xdp_support;

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use etherparse::PacketBuilder;
use ferroute::io::xdp::{interface_index, XdpIo, XdpIoConfig, XdpMode, XdpPort, XdpProgram};
use ferroute::io::{FrameBatch, PacketIo};
use libbpf_rs::libbpf_sys;
use xdp_support::{require_root, Topology, MAC_PA, MAC_PB, MAC_RA, MAC_RB};

const BATCH: usize = 64;

/// Pins the calling thread to `cpu`; with FERROUTE_BENCH_RT=1 also makes it
/// SCHED_FIFO, so other work on a shared machine does not preempt it (the
/// kernel's RT throttling still leaves others 5% of the CPU).
fn pin_to_cpu(cpu: usize) {
    // SAFETY: cpu_set_t and sched_param are plain data; the calls affect
    // this thread only.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
        if std::env::var("FERROUTE_BENCH_RT").as_deref() == Ok("1") {
            let param = libc::sched_param { sched_priority: 10 };
            libc::sched_setscheduler(0, libc::SCHED_FIFO, &param);
        }
    }
}

/// `return XDP_DROP`, attached natively to `ifindex`: the cheapest sink.
fn attach_drop_program(ifindex: u32) -> OwnedFd {
    // SAFETY: bpf_insn is plain data; zero registers are r0.
    let mut insns: [libbpf_sys::bpf_insn; 2] = unsafe { std::mem::zeroed() };
    insns[0].code = 0xb7; // r0 = imm
    insns[0].imm = 1; // XDP_DROP
    insns[1].code = 0x95; // exit
                          // SAFETY: valid instructions and strings.
    let fd = unsafe {
        libbpf_sys::bpf_prog_load(
            libbpf_sys::BPF_PROG_TYPE_XDP,
            c"bench_sink".as_ptr(),
            c"GPL".as_ptr(),
            insns.as_ptr(),
            2,
            std::ptr::null_mut(),
        )
    };
    assert!(fd >= 0, "loading the sink: {fd}");
    // SAFETY: a descriptor we own.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: zeroed options with sz set.
    let mut opts: libbpf_sys::bpf_link_create_opts = unsafe { std::mem::zeroed() };
    opts.sz = std::mem::size_of::<libbpf_sys::bpf_link_create_opts>() as _;
    opts.flags = libbpf_sys::XDP_FLAGS_DRV_MODE;
    // SAFETY: valid descriptors and options.
    let link = unsafe {
        libbpf_sys::bpf_link_create(fd.as_raw_fd(), ifindex as i32, libbpf_sys::BPF_XDP, &opts)
    };
    assert!(link >= 0, "attaching the sink: {link}");
    // SAFETY: a descriptor we own; closing it detaches the sink.
    unsafe { OwnedFd::from_raw_fd(link) }
}

fn template() -> Vec<u8> {
    let builder = PacketBuilder::ethernet2(MAC_PA.0, MAC_RA.0)
        .ipv4([10, 1, 0, 2], [10, 2, 0, 2], 64)
        .udp(4000, 5000);
    let payload = [0u8; 18]; // 14 + 20 + 8 + 18 = 60 bytes (64 on the wire)
    let mut frame = Vec::new();
    builder.write(&mut frame, &payload).expect("template");
    frame
}

/// Sends the template as fast as the ring takes it until `stop`.
fn generate(stop: &AtomicBool, sent: &AtomicU64) {
    let pa = interface_index("pa").expect("pa");
    let (mut io, mut pool) = XdpIo::open(&[pa], &XdpIoConfig::default()).expect("generator");
    let frame = template();
    let mut batch = FrameBatch::with_capacity(BATCH);
    let mut total = 0u64;
    // Frames keep their bytes across transmissions: write the template once.
    let mut written = FrameBatch::with_capacity(pool.available());
    while let Some(mut f) = pool.alloc() {
        io.umem().data(&mut f)[..frame.len()].copy_from_slice(&frame);
        f.set_len(frame.len());
        let _ = written.push(f);
    }
    for f in written.drain() {
        pool.free(f);
    }
    while !stop.load(Ordering::Relaxed) {
        io.service(&mut pool);
        while !batch.is_full() {
            let Some(mut f) = pool.alloc() else { break };
            f.set_len(frame.len());
            let _ = batch.push(f);
        }
        let n = batch.len();
        let dropped = io.send(0, &mut batch, &mut pool);
        total += (n - dropped) as u64;
    }
    sent.store(total, Ordering::Relaxed);
}

#[derive(Debug, Default)]
struct RouterResult {
    forwarded: u64,
    tx_dropped: u64,
    seconds: f64,
    rx_ring_full: u64,
    fill_empty: u64,
    zero_copy: bool,
}

fn route(stop: &AtomicBool, ready: &AtomicBool, mode: XdpMode, warmup: Duration) -> RouterResult {
    let ports = [
        XdpPort {
            ifindex: interface_index("ra").expect("ra"),
            port_index: 0,
            mac: MAC_RA,
        },
        XdpPort {
            ifindex: interface_index("rb").expect("rb"),
            port_index: 1,
            mac: MAC_RB,
        },
    ];
    let program = XdpProgram::load(&ports, mode).expect("load");
    let (mut io, mut pool) = XdpIo::open(
        &[ports[0].ifindex, ports[1].ifindex],
        &XdpIoConfig::default(),
    )
    .expect("open");
    io.register_with(&program).expect("register");
    ready.store(true, Ordering::Release);
    let mut rx = FrameBatch::with_capacity(BATCH);
    let mut tx = FrameBatch::with_capacity(BATCH);
    let mut result = RouterResult {
        zero_copy: io.is_zero_copy(),
        ..RouterResult::default()
    };
    let begin = Instant::now();
    let mut measuring = false;
    let mut start = begin;
    let mut iterations = 0u32;
    while !stop.load(Ordering::Relaxed) {
        io.service(&mut pool);
        io.recv(0, &mut rx);
        for mut frame in rx.drain() {
            let data = io.umem().data(&mut frame);
            data[..6].copy_from_slice(&MAC_PB.0);
            data[6..12].copy_from_slice(&MAC_RB.0);
            let _ = tx.push(frame);
        }
        let n = tx.len() as u64;
        let dropped = io.send(1, &mut tx, &mut pool) as u64;
        if measuring {
            result.forwarded += n - dropped;
            result.tx_dropped += dropped;
        }
        // Read the clock only now and then, not per batch.
        iterations = iterations.wrapping_add(1);
        if !measuring && iterations % 1024 == 0 && begin.elapsed() >= warmup {
            measuring = true;
            start = Instant::now();
        }
    }
    result.seconds = start.elapsed().as_secs_f64();
    let s0 = io.statistics(0).expect("stats");
    result.rx_ring_full = s0.rx_ring_full;
    result.fill_empty = s0.rx_fill_ring_empty_descs;
    let counters = program.counters().expect("counters");
    eprintln!("xdp counters: {counters:?}");
    result
}

fn bench(mode: XdpMode) {
    let seconds: u64 = std::env::var("FERROUTE_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let warmup = Duration::from_secs(1);
    let topo = Topology::new();
    let _sink = topo
        .b
        .run(|| attach_drop_program(interface_index("pb").expect("pb")));
    let stop = AtomicBool::new(false);
    let ready = AtomicBool::new(false);
    let sent = AtomicU64::new(0);
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let result = std::thread::scope(|s| {
        let router = s.spawn(|| {
            topo.r.enter();
            pin_to_cpu(1 % cpus);
            route(&stop, &ready, mode, warmup)
        });
        let wait = Instant::now();
        while !ready.load(Ordering::Acquire) && wait.elapsed() < Duration::from_secs(10) {
            std::thread::yield_now();
        }
        let generator = s.spawn(|| {
            topo.a.enter();
            pin_to_cpu(0);
            generate(&stop, &sent);
        });
        let until = Instant::now() + warmup + Duration::from_secs(seconds);
        while Instant::now() < until && !router.is_finished() && !generator.is_finished() {
            std::thread::sleep(Duration::from_millis(50)); // a benchmark's clock, not a wait for a condition
        }
        stop.store(true, Ordering::Relaxed);
        let _ = generator.join();
        router.join().expect("router")
    });
    let mpps = result.forwarded as f64 / result.seconds / 1e6;
    eprintln!(
        "{} mode, zero-copy {}: forwarded {} frames in {:.2} s = {:.3} Mpps; tx ring drops {}; \
         rx ring full {}; fill ring empty {}; generator sent {} in total",
        mode.name(),
        result.zero_copy,
        result.forwarded,
        result.seconds,
        mpps,
        result.tx_dropped,
        result.rx_ring_full,
        result.fill_empty,
        sent.load(Ordering::Relaxed)
    );
    assert!(result.forwarded > 0, "no frame was forwarded");
}

/// The same traffic forwarded by the router namespace's kernel instead
/// (ip_forward, static neighbours, no XDP on the router): the baseline.
fn kernel_baseline() {
    let seconds: u64 = std::env::var("FERROUTE_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let topo = Topology::new();
    topo.r
        .run(|| std::fs::write("/proc/sys/net/ipv4/ip_forward", "1"))
        .expect("ip_forward");
    // Forward on CPU 1 (receive packet steering), as the AF_XDP router does,
    // instead of in the generator's softirq on CPU 0.
    let rps = std::process::Command::new("ip")
        .args(["netns", "exec", &topo.r.name, "sh", "-c"])
        .arg("echo 2 > /sys/class/net/ra/queues/rx-0/rps_cpus")
        .status()
        .expect("ip netns exec");
    assert!(rps.success(), "setting rps_cpus of ra");
    let _sink = topo
        .b
        .run(|| attach_drop_program(interface_index("pb").expect("pb")));
    let stop = AtomicBool::new(false);
    let sent = AtomicU64::new(0);
    let (before, after, elapsed) = std::thread::scope(|s| {
        let generator = s.spawn(|| {
            topo.a.enter();
            pin_to_cpu(0);
            generate(&stop, &sent);
        });
        std::thread::sleep(Duration::from_secs(1)); // warm-up (a benchmark's clock)
        let before = topo.r.tx_packets("rb");
        let start = Instant::now();
        std::thread::sleep(Duration::from_secs(seconds));
        let after = topo.r.tx_packets("rb");
        let elapsed = start.elapsed().as_secs_f64();
        stop.store(true, Ordering::Relaxed);
        let _ = generator.join();
        (before, after, elapsed)
    });
    let forwarded = after - before;
    eprintln!(
        "kernel forwarding: {} frames in {:.2} s = {:.3} Mpps; generator sent {} in total",
        forwarded,
        elapsed,
        forwarded as f64 / elapsed / 1e6,
        sent.load(Ordering::Relaxed)
    );
    assert!(forwarded > 0, "the kernel forwarded nothing");
}

#[test]
#[ignore = "benchmark: cargo test --release --test xdp_bench -- --ignored --nocapture"]
fn kernel_forwarding_baseline() {
    if require_root("kernel_forwarding_baseline") {
        kernel_baseline();
    }
}

#[test]
#[ignore = "benchmark: cargo test --release --test xdp_bench -- --ignored --nocapture"]
fn forward_between_veths_native() {
    if require_root("forward_between_veths_native") {
        bench(XdpMode::Native);
    }
}

#[test]
#[ignore = "benchmark: cargo test --release --test xdp_bench -- --ignored --nocapture"]
fn forward_between_veths_generic() {
    if require_root("forward_between_veths_generic") {
        bench(XdpMode::Generic);
    }
}
