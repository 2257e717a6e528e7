//! Named crash points for the crash-safety tests.
//!
//! Import calls [`point`] at every step where a crash would leave a
//! different state on disk (after each staged file, before and after each
//! swap, while the previous generation is kept, during clean-up). In normal
//! builds it is an empty inline function. Built with the `fault-injection`
//! feature (the test command does; releases do not), it reads:
//!
//! - `AIRLOCK_FAULT_TRACE=FILE`: append `N NAME` for every point reached;
//! - `AIRLOCK_FAULT_KILL=N`: send SIGKILL to this process at the N-th point;
//! - `AIRLOCK_FAULT_PAUSE=N[,M...]` (or `all`) with
//!   `AIRLOCK_FAULT_PAUSE_FILE=FILE`: at those points, write `N NAME` to FILE
//!   and wait until FILE is removed (so a test can act at that exact step:
//!   scan, fill the disk, start a second import).

/// A crash point named `name` (no effect without `fault-injection`).
#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub fn point(_name: &str) {}

/// A crash point named `name`; see the module docs.
#[cfg(feature = "fault-injection")]
pub fn point(name: &str) {
    use std::io::Write as _;
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNT: AtomicU64 = AtomicU64::new(0);

    let n = COUNT.fetch_add(1, Ordering::SeqCst) + 1;
    // A list of point numbers, or `all`.
    let at = |var: &str| {
        std::env::var(var).is_ok_and(|v| {
            v == "all"
                || v.split(',')
                    .any(|x| x.trim().parse::<u64>().ok() == Some(n))
        })
    };
    if let Some(trace) = std::env::var_os("AIRLOCK_FAULT_TRACE") {
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(trace)
        {
            let _ = writeln!(f, "{n} {name}");
            let _ = f.sync_all();
        }
    }
    if at("AIRLOCK_FAULT_PAUSE") {
        if let Some(file) = std::env::var_os("AIRLOCK_FAULT_PAUSE_FILE") {
            let file = std::path::PathBuf::from(file);
            if std::fs::write(&file, format!("{n} {name}\n")).is_ok() {
                while file.exists() {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
            }
        }
    }
    if at("AIRLOCK_FAULT_KILL") {
        let _ =
            rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::KILL);
    }
}
