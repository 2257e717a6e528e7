//! Issue 12: keygen's scrypt derivation (encrypting the new key, 1 GiB of
//! memory and seconds) is a wait like an unlock's, and says so the same
//! way: a phase `encrypting PREFIX.key (scrypt key derivation: 1.0 GiB of
//! memory, a few seconds)`, shown on a terminal (stderr of a real
//! pseudo-terminal made by python3's `pty` module, 400 columns wide so no
//! line is cut), while `--unencrypted` derives nothing and shows nothing.

use std::path::Path;
use std::process::Command;

use crate::support::*;

/// Runs `airlock keygen --out PREFIX ARGS` with stderr on a pty (stdin and
/// stdout not), the passphrase in the environment; returns the exit code
/// and what reached the terminal.
const DRIVER: &str = r#"
import fcntl, json, os, pty, struct, subprocess, sys, termios
master, slave = pty.openpty()
fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 400, 0, 0))
env = dict(os.environ, AIRLOCK_PASSPHRASE="correct horse")
child = subprocess.Popen([os.environ["AIRLOCK_BIN"], "keygen", "--out"] + sys.argv[1:],
    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=slave, env=env)
os.close(slave)
out = b""
while True:
    try:
        chunk = os.read(master, 4096)
    except OSError:
        break
    if not chunk:
        break
    out += chunk
print(json.dumps({"code": child.wait(timeout=60), "stderr": out.decode("utf-8", "replace")}))
"#;

/// What keygen wrote to its terminal, as lines: escape sequences removed,
/// each carriage return or newline ending a line, blank lines dropped.
fn keygen_on_a_terminal(args: &[&str]) -> (i64, Vec<String>) {
    let out = Command::new("python3")
        .arg("-c")
        .arg(DRIVER)
        .args(args)
        .env("AIRLOCK_BIN", airlock_bin())
        .output()
        .expect("python3");
    assert!(out.status.success(), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("the driver's JSON");
    let raw = v["stderr"].as_str().unwrap_or_default();
    let mut plain = String::new();
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ parameters, then one final byte in @..~.
            if chars.next_if_eq(&'[').is_some() {
                while chars.next().is_some_and(|c| !('@'..='~').contains(&c)) {}
            }
            continue;
        }
        plain.push(if c == '\r' { '\n' } else { c });
    }
    let lines = plain
        .lines()
        .map(|l| l.trim_end().to_string())
        .filter(|l| !l.is_empty())
        .collect();
    (v["code"].as_i64().unwrap_or(-1), lines)
}

fn phase(key: &Path) -> String {
    format!(
        "encrypting {} (scrypt key derivation: 1.0 GiB of memory, a few seconds)",
        key.display()
    )
}

#[test]
fn keygen_says_what_the_wait_is_while_it_derives_the_key() {
    let t = TestDir::new();
    let prefix = t.join("builder");
    let (code, lines) = keygen_on_a_terminal(&[s(&prefix)]);
    assert_eq!(code, 0, "{lines:?}");
    let key = t.join("builder.key");
    // The spinner's line: a spinner character, the phase, the bytes done
    // (none: the wait has no byte count) and the rate and time so far.
    let shown: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("scrypt key derivation"))
        .collect();
    assert!(!shown.is_empty(), "{lines:?}");
    for l in &shown {
        let (spinner, rest) = l.split_once(' ').expect("a spinner, then the phase");
        assert_eq!(spinner.chars().count(), 1, "{l:?}");
        let elapsed = rest
            .strip_prefix(&format!("{} 0 B 0 B/s ", phase(&key)))
            .and_then(|r| r.strip_suffix('s'));
        assert!(
            elapsed.is_some_and(|e| !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit())),
            "{l:?}"
        );
    }
    assert!(key.exists());
}

#[test]
fn an_unencrypted_keygen_derives_nothing_and_shows_no_phase() {
    let t = TestDir::new();
    let prefix = t.join("builder");
    let (code, lines) = keygen_on_a_terminal(&[s(&prefix), "--unencrypted"]);
    assert_eq!(code, 0, "{lines:?}");
    assert_eq!(lines, Vec::<String>::new());
    assert!(t.join("builder.key").exists());
}
