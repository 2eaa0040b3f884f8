//! Stopping a benchmark tool cleanly on SIGINT/SIGTERM: the signals are
//! blocked and read from a signalfd between chunks of work, so the tool
//! always gets to detach its programs and print its totals.

use std::os::fd::AsFd;
use std::time::Duration;

use nix::poll::{ppoll, PollFd, PollFlags};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::time::TimeSpec;

/// SIGINT and SIGTERM, taken synchronously.
#[derive(Debug)]
pub struct StopSignals {
    fd: SignalFd,
}

impl StopSignals {
    /// Blocks SIGINT and SIGTERM in the calling thread (call it before
    /// starting threads, which inherit the mask) and opens a signalfd for them.
    pub fn new() -> std::io::Result<StopSignals> {
        let mut set = SigSet::empty();
        set.add(Signal::SIGINT);
        set.add(Signal::SIGTERM);
        set.thread_block()?;
        let fd = SignalFd::with_flags(&set, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)?;
        Ok(StopSignals { fd })
    }

    /// The name of a stop signal that has come, without waiting.
    pub fn check(&self) -> Option<&'static str> {
        match self.fd.read_signal() {
            Ok(Some(info)) if info.ssi_signo == Signal::SIGINT as u32 => Some("SIGINT"),
            Ok(Some(_)) => Some("SIGTERM"),
            _ => None,
        }
    }

    /// Waits up to `timeout` for a stop signal (nanosecond precision, so it
    /// doubles as the pacing sleep).
    pub fn wait(&self, timeout: Duration) -> Option<&'static str> {
        if !timeout.is_zero() {
            let mut fds = [PollFd::new(self.fd.as_fd(), PollFlags::POLLIN)];
            let _ = ppoll(&mut fds, Some(TimeSpec::from_duration(timeout)), None);
        }
        self.check()
    }
}
