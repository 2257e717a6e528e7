//! Running a Docker credential helper (`docker-credential-<name> get`)
//! without letting it stall or exhaust airlock: the server name is written
//! to its stdin, which is then closed; at most [`MAX_HELPER_OUTPUT`] bytes
//! of its answer are read; and it must have answered and exited within the
//! network idle timeout (`--network-idle-timeout`, default 60 s). A helper
//! over either limit is killed (its whole process group: a shell script's
//! children too) and reaped, and the error names the helper, never what it
//! printed (which may hold a secret).

use std::io::{Read as _, Write as _};
use std::os::unix::process::CommandExt as _;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use zeroize::Zeroizing;

use super::RegistryError;

/// The most a helper may print: a secret's size, as the 64 KiB limit on a
/// secret line elsewhere.
pub const MAX_HELPER_OUTPUT: u64 = 64 << 10;

/// How often a running helper is looked at.
const POLL: Duration = Duration::from_millis(10);

/// What a helper that ran to the end said.
pub struct Answer {
    /// Whether it exited with status 0.
    pub success: bool,
    /// What it printed on stdout.
    pub stdout: Zeroizing<Vec<u8>>,
}

/// Runs `docker-credential-<helper> get` for `server` (for the registry
/// `host`, named in errors), within `limit`. `Ok(None)`: the helper could
/// not be started (not on `PATH`).
pub fn get(
    helper: &str,
    server: &str,
    host: &str,
    limit: Duration,
) -> Result<Option<Answer>, RegistryError> {
    let Ok(mut child) = Command::new(format!("docker-credential-{helper}"))
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
    else {
        return Ok(None);
    };
    let failed = |reason: String| RegistryError::CredentialHelper {
        helper: format!("docker-credential-{helper}"),
        host: host.to_string(),
        reason,
    };
    // The name is far smaller than a pipe's buffer: the write does not
    // wait on a helper that never reads. A helper that exited already
    // (a broken pipe) is judged by its exit below.
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(server.as_bytes());
    }
    let Some(stdout) = child.stdout.take() else {
        stop(&mut child);
        return Err(failed("gave no output pipe".into()));
    };
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = Zeroizing::new(Vec::new());
        let read = stdout.take(MAX_HELPER_OUTPUT + 1).read_to_end(&mut buf);
        let _ = tx.send(read.map(|_| buf));
    });
    let deadline = Instant::now() + limit;
    let mut output = None;
    let mut status = None;
    loop {
        if output.is_none() {
            match rx.try_recv() {
                Ok(Ok(buf)) if buf.len() as u64 > MAX_HELPER_OUTPUT => {
                    stop(&mut child);
                    return Err(failed(format!(
                        "printed more than {MAX_HELPER_OUTPUT} bytes; it was stopped"
                    )));
                }
                Ok(Ok(buf)) => output = Some(buf),
                Ok(Err(e)) => {
                    stop(&mut child);
                    return Err(failed(format!("could not be read: {e}")));
                }
                Err(_) => {}
            }
        }
        if status.is_none() {
            status = child.try_wait().ok().flatten();
        }
        if let (Some(stdout), Some(status)) = (&output, status) {
            return Ok(Some(Answer {
                success: status.success(),
                stdout: stdout.clone(),
            }));
        }
        if Instant::now() >= deadline {
            stop(&mut child);
            return Err(failed(format!(
                "did not answer within {}; it was stopped",
                super::limits::secs(limit)
            )));
        }
        std::thread::sleep(POLL);
    }
}

/// Kills the helper's process group and reaps the helper.
fn stop(child: &mut Child) {
    kill_group(child);
    let _ = child.kill();
    let _ = child.wait();
}

/// Sends SIGKILL to the process group the helper leads.
fn kill_group(child: &Child) {
    if let Ok(pid) = libc::pid_t::try_from(child.id()) {
        // SAFETY: kill(2) with a negative pid signals the process group the
        // helper was started as the leader of (`process_group(0)`); it
        // touches no memory.
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
    }
}
