//! `ferroute run` in the lab's router namespace, and its operator socket.

use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::Value;

use super::{poll_until, run_bounded, Finished, Host, Lab, COMMAND_LIMIT};

/// Longest the daemon may take to come up, and to stop after SIGTERM.
const START_LIMIT: Duration = Duration::from_secs(20);
const STOP_LIMIT: Duration = Duration::from_secs(10);

pub fn ferroute_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ferroute"))
}

static NEXT_CORE: AtomicUsize = AtomicUsize::new(0);

/// A running `ferroute run`; killed (SIGTERM, then SIGKILL) on drop if
/// [`Daemon::stop`] was not called, so it never outlives its lab.
pub struct Daemon {
    child: Option<Child>,
    pub socket: PathBuf,
    stdout: PathBuf,
    stderr: PathBuf,
    dir: PathBuf,
}

/// How the daemon ended.
#[derive(Debug)]
pub struct Stopped {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Daemon {
    /// Starts `ferroute run --config config` in the router namespace and
    /// waits until its operator socket answers (the workers and the XDP
    /// program are up before the socket is opened).
    pub fn start(lab: &Lab, config: &Path) -> Daemon {
        Daemon::start_with(lab, config, &[])
    }

    /// [`Daemon::start`] with more `ferroute run` arguments (`--workers`,
    /// `--ring-size`, ...).
    pub fn start_with(lab: &Lab, config: &Path, args: &[&str]) -> Daemon {
        let socket = lab.dir.join("ops.sock");
        let stdout = lab.dir.join("daemon.out");
        let stderr = lab.dir.join("daemon.err");
        // Tests run in parallel threads: spread the daemons' pinned workers.
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let core = NEXT_CORE.fetch_add(1, Ordering::Relaxed) % cores;
        let mut command = lab.command(Host::R, &ferroute_bin().to_string_lossy(), &[]);
        command
            .arg("run")
            .arg("--config")
            .arg(config)
            .arg("--socket")
            .arg(&socket)
            .arg("--cores")
            .arg(core.to_string())
            .args(args)
            .stdin(Stdio::null())
            .stdout(File::create(&stdout).expect("daemon stdout file"))
            .stderr(File::create(&stderr).expect("daemon stderr file"));
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
        let mut daemon = Daemon {
            child: Some(child),
            socket,
            stdout,
            stderr,
            dir: lab.dir.clone(),
        };
        let mut exited = None;
        let up = poll_until(START_LIMIT, || {
            if let Some(child) = daemon.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    exited = Some(status);
                    return true;
                }
            }
            daemon.stats().is_ok()
        });
        if let Some(status) = exited {
            daemon.child = None;
            panic!(
                "ferroute run exited during start-up ({status}): {}{}",
                daemon.read_stdout(),
                daemon.read_stderr()
            );
        }
        assert!(
            up,
            "ferroute run did not answer on {} within {START_LIMIT:?}: {}",
            daemon.socket.display(),
            daemon.read_stderr()
        );
        daemon
    }

    fn read_stdout(&self) -> String {
        std::fs::read_to_string(&self.stdout).unwrap_or_default()
    }

    fn read_stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// The stats report straight from the operator socket (one request line,
    /// one JSON answer `{"ok": report}`), cheap enough to poll.
    pub fn stats(&self) -> Result<Value, String> {
        let mut conn = UnixStream::connect(&self.socket).map_err(|e| e.to_string())?;
        conn.set_read_timeout(Some(Duration::from_secs(5)))
            .map_err(|e| e.to_string())?;
        conn.write_all(b"stats\n").map_err(|e| e.to_string())?;
        let mut body = String::new();
        conn.read_to_string(&mut body).map_err(|e| e.to_string())?;
        let mut v: Value = serde_json::from_str(&body).map_err(|e| format!("{e}: {body}"))?;
        match v.get_mut("ok") {
            Some(ok) => Ok(ok.take()),
            None => Err(format!("no `ok` in {body}")),
        }
    }

    /// The stats report as the operator gets it: `ferroute stats --json`.
    pub fn stats_cli(&self) -> Value {
        let mut c = Command::new(ferroute_bin());
        c.args(["stats", "--json", "--socket"]).arg(&self.socket);
        let done: Finished = run_bounded(c, &self.dir, COMMAND_LIMIT);
        assert!(done.status.success(), "ferroute stats: {}", done.text());
        serde_json::from_str(&done.stdout)
            .unwrap_or_else(|e| panic!("ferroute stats --json is not JSON ({e}): {}", done.stdout))
    }

    fn signal(&self, signal: libc::c_int) {
        if let Some(child) = &self.child {
            // SAFETY: kill(2) on our own child's pid (`ip netns exec`
            // execs ferroute, so the pid is the daemon's).
            unsafe { libc::kill(child.id() as libc::pid_t, signal) };
        }
    }

    /// Sends `signal` and waits (bounded) for the exit; a daemon still
    /// running after [`STOP_LIMIT`] is killed, and the test fails.
    fn signal_and_wait(&mut self, signal: libc::c_int) -> ExitStatus {
        self.signal(signal);
        let mut child = self.child.take().expect("daemon already stopped");
        let mut status = None;
        poll_until(STOP_LIMIT, || {
            status = child.try_wait().ok().flatten();
            status.is_some()
        });
        status.unwrap_or_else(|| {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "ferroute run did not stop within {STOP_LIMIT:?} of signal {signal}: {}",
                self.read_stderr()
            );
        })
    }

    /// SIGTERM, then waits (bounded) for the exit.
    pub fn stop(mut self) -> Stopped {
        let status = self.signal_and_wait(libc::SIGTERM);
        Stopped {
            status,
            stdout: self.read_stdout(),
            stderr: self.read_stderr(),
        }
    }

    /// SIGKILL, as a crash: nothing runs in the daemon after it; waits
    /// (bounded) for the exit.
    pub fn kill(mut self) -> ExitStatus {
        self.signal_and_wait(libc::SIGKILL)
    }

    /// Stops the daemon with SIGTERM and checks what a clean stop means:
    /// exit status 0, the stop reported, and no XDP program left on any
    /// interface of the lab.
    pub fn stop_cleanly(self, lab: &Lab) -> Stopped {
        let stopped = self.stop();
        assert!(
            stopped.status.success(),
            "ferroute run exited with {} after SIGTERM: {}{}",
            stopped.status,
            stopped.stdout,
            stopped.stderr
        );
        assert!(
            stopped.stdout.contains("stopped (SIGTERM)"),
            "ferroute run did not report the SIGTERM stop: {}",
            stopped.stdout
        );
        let left = lab.interfaces_with_xdp();
        assert!(left.is_empty(), "XDP programs left attached on {left:?}");
        stopped
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.child.is_none() {
            return;
        }
        self.signal(libc::SIGTERM);
        if let Some(mut child) = self.child.take() {
            let stopped = poll_until(STOP_LIMIT, || matches!(child.try_wait(), Ok(Some(_))));
            if !stopped {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
    }
}
