//! The passphrase prompt turns the terminal's echo off and always turns it
//! back on: after a line is read, and when Ctrl-C at the prompt ends the
//! process (SIGINT, handled by the binary's clean-up thread, where no `Drop`
//! runs). Driven in a real pseudo-terminal made by python3's `pty` module:
//! airlock gets it as its controlling terminal (`/dev/tty`), the script
//! plays the user at the master side and reads the echo flag of the
//! terminal's settings before, during and after.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::support::*;

/// Runs `airlock keygen --out PREFIX` in a new pty, waits for `prompts`
/// prompts, answers each with `answers[i]` (bytes, `\x03` for Ctrl-C), and
/// returns what the script saw: `echo_before`, `echo_at_prompt`,
/// `echo_after` (booleans), `code` (exit code, or minus the signal) and
/// `output` (everything airlock wrote to the terminal).
const DRIVER: &str = r#"
import fcntl, json, os, pty, select, subprocess, sys, termios, time
prefix, answers = sys.argv[1], json.loads(sys.argv[2])
master, slave = pty.openpty()
def echo():
    return bool(termios.tcgetattr(slave)[3] & termios.ECHO)
def ctty():
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)
before = echo()
env = {k: v for k, v in os.environ.items() if k != "AIRLOCK_PASSPHRASE"}
child = subprocess.Popen([os.environ["AIRLOCK_BIN"], "keygen", "--out", prefix],
    stdin=slave, stdout=slave, stderr=slave, env=env,
    start_new_session=True, preexec_fn=ctty)
out = b""
def read_until(pred, secs=20):
    global out
    end = time.time() + secs
    while not pred() and time.time() < end:
        r, _, _ = select.select([master], [], [], 0.1)
        if r:
            try:
                out += os.read(master, 4096)
            except OSError:
                break
        elif child.poll() is not None:
            break
at_prompt = []
for i, answer in enumerate(answers):
    read_until(lambda: out.count(b"Passphrase") > i)
    time.sleep(0.2)
    at_prompt.append(echo())
    os.write(master, answer.encode())
try:
    code = child.wait(timeout=20)
except subprocess.TimeoutExpired:
    child.kill()
    code = "timeout"
read_until(lambda: False, 0.5)
print(json.dumps({"echo_before": before, "echo_at_prompt": at_prompt,
    "echo_after": echo(), "code": code, "output": out.decode("utf-8", "replace")}))
"#;

fn drive(prefix: &Path, answers: &[&str]) -> Value {
    let out = Command::new(tool("python3"))
        .arg("-c")
        .arg(DRIVER)
        .arg(prefix)
        .arg(serde_json::to_string(answers).unwrap())
        .env("AIRLOCK_BIN", airlock_bin())
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "the pty driver failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the driver's JSON")
}

#[test]
fn ctrl_c_at_the_passphrase_prompt_leaves_the_terminal_with_echo_on() {
    let t = TestDir::new();
    let prefix = t.join("k");
    let seen = drive(&prefix, &["\u{3}"]);
    assert_eq!(seen["echo_before"], true, "{seen}");
    assert_eq!(
        seen["echo_at_prompt"][0], false,
        "echo is off at the prompt: {seen}"
    );
    assert_eq!(seen["code"], 130, "128 + SIGINT: {seen}");
    assert_eq!(
        seen["echo_after"], true,
        "echo restored after Ctrl-C: {seen}"
    );
    assert!(!t.join("k.key").exists() && !t.join("k.pub").exists());
}

#[test]
fn a_passphrase_typed_at_the_prompt_is_not_echoed_and_echo_comes_back() {
    let t = TestDir::new();
    let prefix = t.join("k");
    let seen = drive(&prefix, &["tty-echo-secret\n", "tty-echo-secret\n"]);
    assert_eq!(seen["code"], 0, "{seen}");
    assert_eq!(
        seen["echo_at_prompt"],
        serde_json::json!([false, false]),
        "{seen}"
    );
    assert_eq!(seen["echo_after"], true, "{seen}");
    let output = seen["output"].as_str().unwrap();
    assert!(output.contains("Passphrase for the new key: "), "{output}");
    assert!(output.contains("Passphrase again: "), "{output}");
    assert!(
        !output.contains("tty-echo-secret"),
        "the passphrase was echoed: {output}"
    );
    assert!(t.join("k.key").is_file() && t.join("k.pub").is_file());
}
