//! The veth lab of `scripts/lab` for integration tests: three network
//! namespaces (host A, router R, host B) joined by two veth pairs, with the
//! router's kernel forwarding turned off so that every transit frame has to
//! go through `ferroute run`.
//!
//! ```text
//!   A: a0 192.0.2.10/24   <-->  R: p0 192.0.2.1/24    p1 203.0.113.1/24  <-->  B: b0 203.0.113.2/24
//!      2001:db8::10/64             2001:db8::1/64       2001:db8:1::1/64            2001:db8:1::2/64
//! ```
//!
//! Every lab has a unique name (pid and counter) and is removed by [`Lab`]'s
//! Drop (`scripts/lab down`), also when a test fails; a running daemon is
//! stopped by [`daemon::Daemon`]'s Drop first. Nothing here sleeps to wait
//! for something: every wait polls a condition with a bound.

#![allow(dead_code)]

pub mod bgp;
pub mod bgp_script;
pub mod compare;
pub mod config;
pub mod daemon;
pub mod iperf;
pub mod packet;
pub mod path_counters;
pub mod replay;
pub mod rewrite;
pub mod vlan_host;
pub mod xdp_model;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The lab's fixed link-layer addresses (set by scripts/lab).
pub const MAC_P0: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
pub const MAC_A0: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0a];
pub const MAC_P1: [u8; 6] = [0x02, 0, 0, 0, 0x01, 0x01];
pub const MAC_B0: [u8; 6] = [0x02, 0, 0, 0, 0x01, 0x02];

/// How long one external command (ping, tracepath, ...) may run.
pub const COMMAND_LIMIT: Duration = Duration::from_secs(30);

/// True when the test can run (root). Otherwise prints why it is skipped,
/// or fails under CI=true, where the lab tests must run.
pub fn require_root(test: &str) -> bool {
    ferroute::testkit::netns::require_root(test, "network namespaces, XDP")
}

pub use ferroute::testkit::netns::poll_until;

/// One of the lab's three machines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Host {
    A,
    R,
    B,
}

impl Host {
    fn suffix(self) -> &'static str {
        match self {
            Host::A => "a",
            Host::R => "r",
            Host::B => "b",
        }
    }
}

/// What a bounded command left behind.
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub took: Duration,
}

impl Finished {
    /// Both streams, for assertion messages.
    pub fn text(&self) -> String {
        format!(
            "exit {} after {:?}\n--- stdout\n{}--- stderr\n{}",
            self.status, self.took, self.stdout, self.stderr
        )
    }
}

static NEXT_LAB: AtomicU32 = AtomicU32::new(0);
static NEXT_FILE: AtomicU32 = AtomicU32::new(0);

fn base36(mut n: u32) -> String {
    let digits = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(digits[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

/// Runs `command` to completion or kills it after `limit`; its output goes
/// through files in `dir` (no pipe can fill up while we wait).
pub fn run_bounded(mut command: Command, dir: &Path, limit: Duration) -> Finished {
    let n = NEXT_FILE.fetch_add(1, Ordering::Relaxed);
    let out_path = dir.join(format!("cmd{n}.out"));
    let err_path = dir.join(format!("cmd{n}.err"));
    let out = File::create(&out_path).unwrap_or_else(|e| panic!("{}: {e}", out_path.display()));
    let err = File::create(&err_path).unwrap_or_else(|e| panic!("{}: {e}", err_path.display()));
    let started = Instant::now();
    let mut child = command
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
    let mut status = None;
    poll_until(limit, || {
        status = child.try_wait().ok().flatten();
        status.is_some()
    });
    let status = match status {
        Some(s) => s,
        None => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{command:?} did not finish within {limit:?}");
        }
    };
    Finished {
        status,
        stdout: std::fs::read_to_string(&out_path).unwrap_or_default(),
        stderr: std::fs::read_to_string(&err_path).unwrap_or_default(),
        took: started.elapsed(),
    }
}

/// A lab made by `scripts/lab up`, removed by `scripts/lab down` on drop.
pub struct Lab {
    pub name: String,
    /// The lab's directory (LAB_DIR): the script's router.toml, the
    /// operator socket, captures and command output.
    pub dir: PathBuf,
    script: PathBuf,
}

impl Lab {
    /// Creates a lab with a name unique to this process and call.
    pub fn up() -> Lab {
        Lab::up_with_queues(1)
    }

    /// [`Lab::up`] with `queues` rx and tx queues on every veth
    /// (`scripts/lab up --queues`), for `ferroute run --workers queues`.
    pub fn up_with_queues(queues: u32) -> Lab {
        let name = format!(
            "fl{}x{}",
            base36(std::process::id()),
            base36(NEXT_LAB.fetch_add(1, Ordering::Relaxed))
        );
        assert!(name.len() <= 12, "lab name {name} too long");
        let dir = std::env::temp_dir().join(format!("ferroute-lab-{name}"));
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/lab");
        let lab = Lab { name, dir, script };
        // From here on Drop removes whatever `up` managed to create.
        let out = Command::new(&lab.script)
            .args(["up", &lab.name, "--queues", &queues.to_string()])
            .env("LAB_DIR", &lab.dir)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", lab.script.display()));
        assert!(
            out.status.success(),
            "scripts/lab up {} failed: {}{}",
            lab.name,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        lab
    }

    pub fn netns(&self, host: Host) -> String {
        format!("{}-{}", self.name, host.suffix())
    }

    /// The router configuration scripts/lab wrote.
    pub fn script_config(&self) -> PathBuf {
        self.dir.join("router.toml")
    }

    /// `program args...` inside `host`'s namespace.
    pub fn command(&self, host: Host, program: &str, args: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.netns(host), program])
            .args(args);
        c
    }

    /// Runs `program args...` in `host`'s namespace, bounded by [`COMMAND_LIMIT`].
    pub fn run(&self, host: Host, program: &str, args: &[&str]) -> Finished {
        run_bounded(self.command(host, program, args), &self.dir, COMMAND_LIMIT)
    }

    /// `ip -n <ns> args...`, which must succeed.
    pub fn ip(&self, host: Host, args: &[&str]) -> String {
        let ns = self.netns(host);
        let mut c = Command::new("ip");
        c.args(["-n", &ns]).args(args);
        let done = run_bounded(c, &self.dir, COMMAND_LIMIT);
        assert!(
            done.status.success(),
            "ip -n {ns} {}: {}",
            args.join(" "),
            done.text()
        );
        done.stdout
    }

    /// Sets an interface's MTU.
    pub fn set_mtu(&self, host: Host, interface: &str, mtu: u16) {
        self.ip(host, &["link", "set", interface, "mtu", &mtu.to_string()]);
    }

    /// Interfaces of the lab that have an XDP program attached (`ip link
    /// show` prints `xdp`/`xdpgeneric`/... and `prog/xdp` for them).
    pub fn interfaces_with_xdp(&self) -> Vec<String> {
        let mut found = Vec::new();
        for host in [Host::A, Host::R, Host::B] {
            let text = self.ip(host, &["-d", "link", "show"]);
            let mut current = String::new();
            for line in text.lines() {
                if !line.starts_with(' ') {
                    // "3: p0@if2: <...> mtu 1500 xdp qdisc ..."
                    current = line
                        .split(':')
                        .nth(1)
                        .map(|s| s.trim().split('@').next().unwrap_or("").to_string())
                        .unwrap_or_default();
                    let flags = line.split('>').nth(1).unwrap_or("");
                    if flags.split_whitespace().any(|w| w.starts_with("xdp")) {
                        found.push(format!("{}:{current}", self.netns(host)));
                    }
                } else if line.trim_start().starts_with("prog/xdp") {
                    let tag = format!("{}:{current}", self.netns(host));
                    if !found.contains(&tag) {
                        found.push(tag);
                    }
                }
            }
        }
        found
    }

    /// Runs `f` on a thread inside `host`'s namespace (setns changes only
    /// the calling thread); sockets it opens stay in that namespace.
    pub fn enter<T: Send>(&self, host: Host, f: impl FnOnce() -> T + Send) -> T {
        ferroute::testkit::netns::in_netns(&self.netns(host), f)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let result = Command::new(&self.script)
            .args(["down", &self.name])
            .env("LAB_DIR", &self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .output();
        match result {
            Ok(out) if out.status.success() => {}
            Ok(out) => eprintln!(
                "scripts/lab down {} failed: {}",
                self.name,
                String::from_utf8_lossy(&out.stderr)
            ),
            Err(e) => eprintln!("cannot run scripts/lab down {}: {e}", self.name),
        }
    }
}
