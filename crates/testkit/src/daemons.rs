//! Real routing daemons as test peers, each in a network namespace with
//! its own folder for configuration, control socket, pid file and log —
//! never the system's paths, never through systemd. A daemon is stopped by
//! the PID this code started (SIGTERM, then SIGKILL after a bounded wait)
//! when its guard drops, and its folder is removed, so a failing test
//! leaves nothing behind.
//!
//! * [`Bird`]: BIRD 2 (`bird -f -s SOCKET -c CONF -P PIDFILE`), queried
//!   with `birdc -s SOCKET`.
//! * [`Frr`]: FRR's zebra plus the protocol daemons asked for (bgpd,
//!   ospfd). FRR's daemons refuse to run as root, so they run as user `frr`
//!   in a folder it owns, with `-P 0` (no TCP vty); a protocol daemon
//!   starts once zebra's zserv socket exists. Queried with
//!   `vtysh --vty_socket FOLDER`.
//! * [`Gobgp`]: `gobgpd -f CONF`, queried with the `gobgp` CLI inside the
//!   namespace (its gRPC API listens on the namespace's loopback).
//!
//! Tests check [`require_daemon`] first: without the program they skip,
//! except under `CI=true`, where `scripts/setup` has installed it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use super::netns::{poll_until, skip};

/// How long a daemon may take to create its control socket.
const START_LIMIT: Duration = Duration::from_secs(20);
/// How long a daemon may take to exit after SIGTERM.
const STOP_LIMIT: Duration = Duration::from_secs(5);

/// True when `program` (a path or a name on PATH) can run. Otherwise
/// prints why the test is skipped, or fails under `CI=true`.
pub fn require_daemon(test: &str, program: &str) -> bool {
    let found = if program.contains('/') {
        Path::new(program).exists()
    } else {
        Command::new("sh")
            .args(["-c", &format!("command -v {program}")])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !found {
        skip(
            test,
            &format!("needs {program} (scripts/setup installs it)"),
        );
    }
    found
}

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A private folder `ferroute-KIND-PID-N` under the temporary directory,
/// removed on drop.
#[derive(Debug)]
struct Folder(PathBuf);

impl Folder {
    fn new(kind: &str) -> Folder {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("ferroute-{kind}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        Folder(path)
    }

    fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, contents).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        path
    }

    fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.0.join(name)).unwrap_or_default()
    }
}

impl Drop for Folder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A process this code started, stopped by its PID on drop.
#[derive(Debug)]
struct Process {
    what: String,
    child: Child,
}

impl Process {
    /// Starts `args` inside namespace `netns` (`ip netns exec` replaces
    /// itself with the program, so the child's PID is the daemon's), with
    /// stdout and stderr into `log`.
    fn spawn(what: &str, netns: &str, args: &[&str], log: &Path) -> Process {
        let out = std::fs::File::create(log).unwrap_or_else(|e| panic!("{}: {e}", log.display()));
        let err = out.try_clone().expect("log file descriptor");
        let child = Command::new("ip")
            .args(["netns", "exec", netns])
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
        Process {
            what: what.to_string(),
            child,
        }
    }

    /// Panics with the log's tail if the process has exited.
    fn check_running(&mut self, log: &str) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("{} exited ({status}):\n{}", self.what, tail(log, 30));
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let pid = self.child.id() as libc::pid_t;
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        // SAFETY: signals our own child, which has not been reaped (try_wait
        // said it is running), so the PID is still its.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let child = &mut self.child;
        if !poll_until(STOP_LIMIT, || matches!(child.try_wait(), Ok(Some(_)))) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Runs a query program to completion; its stdout (panics if it cannot run).
fn query(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    text
}

/// Waits for `socket` to appear while `process` runs.
fn wait_for_socket(process: &mut Process, socket: &Path, folder: &Folder, log: &str) {
    let appeared = poll_until(START_LIMIT, || {
        socket.exists() || matches!(process.child.try_wait(), Ok(Some(_)))
    });
    process.check_running(&folder.log(log));
    assert!(
        appeared,
        "{} made no {} in {START_LIMIT:?}:\n{}",
        process.what,
        socket.display(),
        tail(&folder.log(log), 30)
    );
}

/// A BIRD 2 daemon in a namespace.
#[derive(Debug)]
pub struct Bird {
    process: Process,
    socket: PathBuf,
    folder: Folder,
}

impl Bird {
    /// Starts `bird` in `netns` with configuration `config` (BIRD 2
    /// syntax); returns once its control socket answers.
    pub fn start(netns: &str, config: &str) -> Bird {
        Bird::start_with(netns, config, &[])
    }

    /// [`Bird::start`] with more `bird` arguments (`-R`: graceful restart
    /// recovery after a restart).
    pub fn start_with(netns: &str, config: &str, extra: &[&str]) -> Bird {
        let folder = Folder::new("bird");
        let conf = folder.write("bird.conf", config);
        let socket = folder.0.join("bird.ctl");
        let pid = folder.0.join("bird.pid");
        let args = [
            "bird",
            "-f",
            "-s",
            path_str(&socket),
            "-c",
            path_str(&conf),
            "-P",
            path_str(&pid),
        ];
        let args: Vec<&str> = args.iter().chain(extra).copied().collect();
        let mut process = Process::spawn("bird", netns, &args, &folder.0.join("bird.log"));
        wait_for_socket(&mut process, &socket, &folder, "bird.log");
        Bird {
            process,
            socket,
            folder,
        }
    }

    /// `birdc -s SOCKET COMMAND...`'s output.
    pub fn birdc(&self, command: &str) -> String {
        let mut args = vec!["-s", path_str(&self.socket)];
        args.extend(command.split_whitespace());
        query("birdc", &args)
    }

    /// What the daemon wrote to stdout and stderr so far.
    pub fn log(&self) -> String {
        self.folder.log("bird.log")
    }

    pub fn pid(&self) -> u32 {
        self.process.child.id()
    }
}

/// FRR's protocol daemons [`Frr`] can start beside zebra.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrrDaemon {
    Bgpd,
    Ospfd,
    Ospf6d,
}

impl FrrDaemon {
    fn name(self) -> &'static str {
        match self {
            FrrDaemon::Bgpd => "bgpd",
            FrrDaemon::Ospfd => "ospfd",
            FrrDaemon::Ospf6d => "ospf6d",
        }
    }
}

/// Where FRR's daemons are installed (Debian).
pub const FRR_DAEMONS: &str = "/usr/lib/frr";

/// FRR's zebra and protocol daemons in a namespace, as user `frr`.
#[derive(Debug)]
pub struct Frr {
    /// Protocol daemons first, zebra last: they stop in this order.
    processes: Vec<Process>,
    folder: Folder,
}

impl Frr {
    /// Starts zebra, then each of `daemons` with the same `config` (FRR's
    /// integrated syntax: each daemon takes the parts it knows); returns
    /// once every daemon's vty socket exists.
    pub fn start(netns: &str, daemons: &[FrrDaemon], config: &str) -> Frr {
        let folder = Folder::new("frr");
        let conf = folder.write("frr.conf", config);
        let status = Command::new("chown")
            .args(["-R", "frr:frr", path_str(&folder.0)])
            .status()
            .expect("chown");
        assert!(status.success(), "chown frr:frr {}", folder.0.display());
        let zserv = folder.0.join("zserv.api");
        let mut frr = Frr {
            processes: Vec::new(),
            folder,
        };
        let mut names = vec!["zebra"];
        names.extend(daemons.iter().map(|d| d.name()));
        for name in names {
            let program = format!("{FRR_DAEMONS}/{name}");
            let dir = &frr.folder.0;
            let pid = dir.join(format!("{name}.pid"));
            let log = dir.join(format!("{name}.log"));
            let log_option = format!("file:{}", log.display());
            let args = [
                program.as_str(),
                "-u",
                "frr",
                "-g",
                "frr",
                "-P",
                "0",
                "-f",
                path_str(&conf),
                "-i",
                path_str(&pid),
                "-z",
                path_str(&zserv),
                "--vty_socket",
                path_str(dir),
                "--log",
                &log_option,
            ];
            let out = dir.join(format!("{name}.out"));
            let mut process = Process::spawn(name, netns, &args, &out);
            // zebra's zserv socket before any protocol daemon (they connect
            // to it); each daemon's vty socket before it is queried.
            let vty = dir.join(format!("{name}.vty"));
            wait_for_socket(&mut process, &vty, &frr.folder, &format!("{name}.out"));
            if name == "zebra" {
                wait_for_socket(&mut process, &zserv, &frr.folder, "zebra.out");
            }
            frr.processes.insert(0, process);
        }
        frr
    }

    /// `vtysh -c COMMAND`'s output.
    pub fn vtysh(&self, command: &str) -> String {
        query(
            "vtysh",
            &["--vty_socket", path_str(&self.folder.0), "-c", command],
        )
    }

    /// `vtysh -c C1 -c C2 ...`: several commands in one session (a
    /// configuration change: `configure terminal`, then its lines).
    pub fn vtysh_lines(&self, commands: &[&str]) -> String {
        let mut args = vec!["--vty_socket", path_str(&self.folder.0)];
        for c in commands {
            args.extend(["-c", c]);
        }
        query("vtysh", &args)
    }

    /// A daemon's log (`zebra`, `bgpd`, `ospfd`).
    pub fn log(&self, daemon: &str) -> String {
        let mut text = self.folder.log(&format!("{daemon}.out"));
        text.push_str(&self.folder.log(&format!("{daemon}.log")));
        text
    }
}

/// A GoBGP daemon in a namespace.
#[derive(Debug)]
pub struct Gobgp {
    process: Process,
    netns: String,
    folder: Folder,
}

impl Gobgp {
    /// Starts `gobgpd` in `netns` with `config` (its TOML syntax); returns
    /// once its API answers.
    pub fn start(netns: &str, config: &str) -> Gobgp {
        let folder = Folder::new("gobgp");
        let conf = folder.write("gobgpd.toml", config);
        let args = [
            "gobgpd",
            "-f",
            path_str(&conf),
            "-t",
            "toml",
            "--pprof-disable",
        ];
        let process = Process::spawn("gobgpd", netns, &args, &folder.0.join("gobgpd.log"));
        let mut gobgp = Gobgp {
            process,
            netns: netns.to_string(),
            folder,
        };
        let answered = poll_until(START_LIMIT, || {
            gobgp.process.check_running(&gobgp.folder.log("gobgpd.log"));
            Command::new("ip")
                .args(["netns", "exec", &gobgp.netns, "gobgp", "global"])
                .output()
                .is_ok_and(|o| o.status.success())
        });
        assert!(
            answered,
            "gobgpd did not answer in {START_LIMIT:?}:\n{}",
            tail(&gobgp.log(), 30)
        );
        gobgp
    }

    /// `gobgp ARGS...`'s output (run inside the namespace).
    pub fn cli(&self, args: &str) -> String {
        let mut all = vec!["netns", "exec", &self.netns, "gobgp"];
        all.extend(args.split_whitespace());
        query("ip", &all)
    }

    pub fn log(&self) -> String {
        self.folder.log("gobgpd.log")
    }
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("temporary paths are UTF-8")
}
