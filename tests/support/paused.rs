//! A run of airlock that pauses at every fault point (the
//! `fault-injection` feature): a test lets it run on to a named point, then
//! signals, kills or releases it, so no test races a sleep.

use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::{airlock_bin, run_ok, TestDir};

/// A run of airlock that pauses at every crash point, its stderr in a file.
pub struct Paused {
    pub child: Child,
    pub pause: PathBuf,
    stderr: PathBuf,
}

impl Paused {
    /// Starts `airlock ARGS` pausing at every point (`pause` is the file it
    /// writes `N NAME` to and waits on).
    pub fn start(t: &TestDir, tag: &str, args: &[&str]) -> Paused {
        let pause = t.join(&format!("{tag}.pause"));
        let stderr = t.join(&format!("{tag}.stderr"));
        let child = Command::new(airlock_bin())
            .args(args)
            .env("AIRLOCK_FAULT_PAUSE", "all")
            .env("AIRLOCK_FAULT_PAUSE_FILE", &pause)
            .env_remove("AIRLOCK_FAULT_KILL")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap();
        Paused {
            child,
            pause,
            stderr,
        }
    }

    /// Lets it run on to the point named `at`, where it waits.
    pub fn to(&mut self, at: &str) -> &mut Self {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("ended before {at:?}: {status:?}\n{}", self.stderr());
            }
            assert!(start.elapsed() < Duration::from_secs(60), "never at {at:?}");
            // `N NAME\n`, written in one call (a partial read is retried).
            if let Ok(text) = std::fs::read_to_string(&self.pause) {
                if text.ends_with('\n') {
                    if text.trim_end().split_once(' ').map(|(_, n)| n) == Some(at) {
                        return self;
                    }
                    std::fs::remove_file(&self.pause).unwrap();
                }
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn signal(&self, name: &str) {
        run_ok(Command::new("kill").args([&format!("-{name}"), &self.child.id().to_string()]));
    }

    /// Waits for it to end where it is (a signal's handler ends it while
    /// the work waits at its point: nothing runs on past the signal).
    pub fn ended(&mut self) -> ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let _ = std::fs::remove_file(&self.pause);
                return status;
            }
            assert!(start.elapsed() < Duration::from_secs(60), "never ended");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Lets it go through every later point until it ends.
    pub fn finish(&mut self) -> ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let _ = std::fs::remove_file(&self.pause);
                return status;
            }
            assert!(start.elapsed() < Duration::from_secs(60), "never ended");
            let _ = std::fs::remove_file(&self.pause);
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Waits until its stderr has a line starting with `prefix`.
    pub fn wait_for_line(&mut self, prefix: &str) {
        let start = Instant::now();
        while !self.stderr().lines().any(|l| l.starts_with(prefix)) {
            assert!(
                self.child.try_wait().unwrap().is_none(),
                "{}",
                self.stderr()
            );
            assert!(start.elapsed() < Duration::from_secs(60), "no {prefix:?}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// SIGKILL where it waits (a crash, a power loss).
    pub fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        let _ = std::fs::remove_file(&self.pause);
    }
}
