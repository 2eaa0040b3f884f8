//! CPU time of processes and threads, from /proc, for per-packet cost.
//!
//! `/proc/<id>/schedstat` holds the scheduler's exact run time of a task in
//! nanoseconds (unlike the tick-sampled utime + stime of `/proc/<id>/stat`).
//! Work a kernel does in softirq context counts for whichever task it
//! interrupted; kernel threads (threaded NAPI, ksoftirqd) have their own.

use std::path::Path;

/// Nanoseconds task `id` has run: all threads of the process when `id` is a
/// process (a thread-group leader), that thread alone when it is a thread.
pub fn cpu_time_ns(id: u32) -> std::io::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{id}/status"))?;
    let tgid = status
        .lines()
        .find_map(|l| l.strip_prefix("Tgid:"))
        .and_then(|v| v.trim().parse::<u32>().ok())
        .ok_or_else(|| std::io::Error::other(format!("/proc/{id}/status has no Tgid")))?;
    if tgid != id {
        return schedstat(
            &Path::new("/proc")
                .join(tgid.to_string())
                .join("task")
                .join(id.to_string()),
        );
    }
    let mut total = 0;
    for entry in std::fs::read_dir(format!("/proc/{id}/task"))? {
        // A thread that exited meanwhile has no time to add.
        if let Ok(ns) = schedstat(&entry?.path()) {
            total += ns;
        }
    }
    Ok(total)
}

fn schedstat(task: &Path) -> std::io::Result<u64> {
    let text = std::fs::read_to_string(task.join("schedstat"))?;
    parse_schedstat(&text).ok_or_else(|| {
        std::io::Error::other(format!(
            "unexpected {}: {text:?}",
            task.join("schedstat").display()
        ))
    })
}

/// The first field of a schedstat line: run time in nanoseconds.
fn parse_schedstat(text: &str) -> Option<u64> {
    text.split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedstat_lines_parse() {
        assert_eq!(parse_schedstat("174381208 17100314 388\n"), Some(174381208));
        assert_eq!(parse_schedstat(""), None);
        assert_eq!(parse_schedstat("x 1 2"), None);
    }

    #[test]
    fn this_process_and_thread_have_run() {
        let pid = std::process::id();
        // This thread's id: the last component of /proc/thread-self.
        let tid = std::fs::read_link("/proc/thread-self")
            .ok()
            .and_then(|p| p.file_name()?.to_str()?.parse::<u32>().ok())
            .expect("/proc/thread-self");
        // Burn CPU until the kernel says this thread ran 5 ms (wall time is
        // no measure on a loaded machine, where the thread may be preempted).
        let before = cpu_time_ns(tid).expect("thread time");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let mut x = 0u64;
        let thread = loop {
            for _ in 0..100_000 {
                x = std::hint::black_box(x.wrapping_add(1));
            }
            let now = cpu_time_ns(tid).expect("thread time");
            if now >= before + 5_000_000 {
                break now;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "thread never got 5 ms of CPU"
            );
        };
        let process = cpu_time_ns(pid).expect("process time");
        assert!(thread <= process, "thread {thread} > process {process}");
        assert!(
            process >= 5_000_000,
            "{process} ns after 5 ms of this thread's CPU"
        );
        assert!(cpu_time_ns(u32::MAX).is_err());
    }
}
