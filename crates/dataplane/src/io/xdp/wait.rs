//! A worker's sleep: until one of its sockets has frames or a deadline
//! passes, to the microsecond.
//!
//! poll(2) takes whole milliseconds, which a shaped port cannot use: at
//! 20 Mbit/s the next frame is due in 0.6 ms, so a poll timeout rounded
//! down to 0 made the worker spin (measured in the veth lab: 219 000
//! `poll(…, 0)` calls per second, the worker on its core 75 % of the
//! time, and a spinning thread is the one the kernel's scheduler makes
//! wait longest when the core is shared), and one rounded up would send
//! late. ppoll(2) takes a `timespec`; the thread's timer slack (50 µs by
//! default, how late the kernel may fire a sleeper's timer to batch
//! wake-ups) is set once to [`TIMER_SLACK_NS`] by the thread that sleeps.

use std::os::fd::RawFd;
use std::time::Duration;

/// Timer slack of a worker thread: a few percent of the shortest shaper
/// wait worth sleeping for.
const TIMER_SLACK_NS: u64 = 5_000;

/// Most sockets one wait watches (the XDP program's port limit).
const MAX_FDS: usize = 64;

/// The calling thread's timer slack, set once.
#[derive(Debug, Default)]
pub(super) struct Sleeper {
    slack_set: bool,
}

impl Sleeper {
    /// Sleeps until one of `fds` is readable (or in error) or `timeout`
    /// passes; returns early on a signal. Only the first [`MAX_FDS`] are
    /// watched.
    pub fn wait_readable(&mut self, fds: &[RawFd], timeout: Duration) {
        if !self.slack_set {
            self.slack_set = true;
            // SAFETY: PR_SET_TIMERSLACK takes a plain integer and changes
            // only the calling thread's slack; a failure leaves the
            // default, which is still correct, just less punctual.
            unsafe {
                libc::prctl(libc::PR_SET_TIMERSLACK, TIMER_SLACK_NS as libc::c_ulong);
            }
        }
        let mut set = [libc::pollfd {
            fd: -1,
            events: 0,
            revents: 0,
        }; MAX_FDS];
        let n = fds.len().min(MAX_FDS);
        for (slot, fd) in set.iter_mut().zip(fds) {
            slot.fd = *fd;
            slot.events = libc::POLLIN;
        }
        let ts = libc::timespec {
            tv_sec: timeout.as_secs().min(libc::time_t::MAX as u64) as libc::time_t,
            tv_nsec: timeout.subsec_nanos() as libc::c_long,
        };
        // SAFETY: `set[..n]` are initialised pollfd entries and `ts` a valid
        // timespec, all owned by this stack frame; ppoll only writes the
        // entries' `revents`. A null signal mask keeps the thread's own.
        unsafe {
            libc::ppoll(set.as_mut_ptr(), n as libc::nfds_t, &ts, std::ptr::null());
        }
    }
}

/// Moves the calling thread to SCHED_FIFO at `priority` (1..=99), so that
/// its wake-up preempts time-shared tasks at once instead of at their next
/// scheduler tick (4 ms at HZ=250), as DPDK deployments give their workers
/// cores of their own. A worker that is never idle then holds its core
/// except for the kernel's RT throttling share (5 % by default): for cores
/// that are the router's, or traffic that leaves the worker idle between
/// frames (a shaped port). Needs CAP_SYS_NICE (or RLIMIT_RTPRIO).
pub fn set_fifo_priority(priority: u8) -> std::io::Result<()> {
    let param = libc::sched_param {
        sched_priority: priority as libc::c_int,
    };
    // SAFETY: pid 0 is the calling thread; `param` is a valid sched_param
    // that the call only reads.
    let done = unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) };
    if done == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// The calling thread's current timer slack in nanoseconds.
#[cfg(test)]
fn timer_slack_ns() -> u64 {
    // SAFETY: PR_GET_TIMERSLACK takes no pointer and returns the slack.
    let slack = unsafe { libc::prctl(libc::PR_GET_TIMERSLACK) };
    slack.max(0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn sleeps_sub_millisecond_timeouts_instead_of_returning_at_once() {
        // A pipe nobody writes to: only the timeout ends the wait.
        let mut fds = [0; 2];
        // SAFETY: `fds` has room for the two descriptors pipe writes.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        let mut sleeper = Sleeper::default();
        let started = Instant::now();
        sleeper.wait_readable(&fds[..1], Duration::from_micros(300));
        let took = started.elapsed();
        // poll(2) would have been handed 0 ms and returned at once (no
        // upper bound: a descheduled test thread may wake late).
        assert!(took >= Duration::from_micros(300), "woke after {took:?}");
        assert_eq!(timer_slack_ns(), TIMER_SLACK_NS);
        // SAFETY: both descriptors came from pipe above and are closed once.
        unsafe {
            libc::close(fds[0]);
            libc::close(fds[1]);
        }
    }

    #[test]
    fn fifo_priority_applies_to_the_calling_thread_only() {
        // A thread of its own, so the test harness keeps its scheduler.
        let (result, policy) = std::thread::spawn(|| {
            let result = set_fifo_priority(7);
            // SAFETY: sched_getscheduler(0) only reads the caller's policy.
            (result, unsafe { libc::sched_getscheduler(0) })
        })
        .join()
        .expect("thread");
        // SAFETY: as above, for this thread.
        assert_eq!(unsafe { libc::sched_getscheduler(0) }, libc::SCHED_OTHER);
        match result {
            Ok(()) => assert_eq!(policy, libc::SCHED_FIFO),
            Err(e) => {
                // Only a missing privilege may refuse it, and then nothing changed.
                assert_eq!(e.raw_os_error(), Some(libc::EPERM), "{e}");
                // SAFETY: geteuid has no preconditions.
                assert_ne!(unsafe { libc::geteuid() }, 0, "root was refused: {e}");
                assert_eq!(policy, libc::SCHED_OTHER);
            }
        }
    }

    #[test]
    fn a_readable_socket_ends_the_wait() {
        let mut fds = [0; 2];
        // SAFETY: as above.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        // SAFETY: writes one byte from a live buffer to the pipe's write end.
        assert_eq!(unsafe { libc::write(fds[1], [1u8].as_ptr().cast(), 1) }, 1);
        let started = Instant::now();
        Sleeper::default().wait_readable(&fds[..1], Duration::from_secs(10));
        assert!(started.elapsed() < Duration::from_secs(5));
        // SAFETY: both descriptors came from pipe above and are closed once.
        unsafe {
            libc::close(fds[0]);
            libc::close(fds[1]);
        }
    }
}
