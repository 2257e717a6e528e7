//! Docker credential helpers (`docker-credential-<name> get`) that misbehave:
//! one that prints without end, one that never exits, one that waits for
//! its stdin to close before it answers. A helper over its limits (64 KiB
//! of output, the network idle timeout) is stopped with a one-line error
//! naming it, never quoting what it printed.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::support::registry::{Registry, PASSWORD, USER};
use crate::support::*;

/// Writes an executable `docker-credential-<name>` into `bin`.
fn helper(bin: &Path, name: &str, script: &str) {
    use std::os::unix::fs::PermissionsExt as _;
    let path = bin.join(format!("docker-credential-{name}"));
    write(&path, script.as_bytes());
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// `airlock export` of an artifact on `reg`, with a Docker config naming
/// the helper `name` for it, the helpers in `bin` first on PATH and an
/// idle timeout (the helper's time limit) of 2 s. Returns the output and
/// how long it took.
fn export_with_helper(t: &TestDir, reg: &Registry, bin: &Path, name: &str) -> (Output, Duration) {
    let config = t.join(&format!("docker-{name}"));
    write(
        &config.join("config.json"),
        format!(r#"{{"credHelpers":{{"{}":"{name}"}}}}"#, reg.host()).as_bytes(),
    );
    let (key, _) = keygen(t.path(), &format!("k-{name}"));
    let path = format!("{}:{}", s(bin), std::env::var("PATH").unwrap_or_default());
    let (so, se) = (
        t.join(&format!("{name}.out")),
        t.join(&format!("{name}.err")),
    );
    let started = Instant::now();
    let mut child = Command::new(airlock_bin())
        .args(["export", "-o", s(&t.join(&format!("{name}.airlock")))])
        .args(["--sign-key", s(&key)])
        .args(["--trivy-db", &format!("{}/none/trivy-db:2", reg.host())])
        .args(["--ca-cert", s(reg.ca.as_ref().unwrap())])
        .env_remove("TRIVY_USERNAME")
        .env_remove("TRIVY_PASSWORD")
        .env_remove("TRIVY_REGISTRY_TOKEN")
        .env_remove("REGISTRY_AUTH_FILE")
        .env("XDG_RUNTIME_DIR", t.join("no-runtime"))
        .env("XDG_CONFIG_HOME", t.join("no-config"))
        .env("DOCKER_CONFIG", &config)
        .env("AIRLOCK_NETWORK_IDLE_TIMEOUT", "2")
        .env("PATH", &path)
        .stdout(std::fs::File::create(&so).unwrap())
        .stderr(std::fs::File::create(&se).unwrap())
        .spawn()
        .unwrap();
    // A watchdog: airlock waiting on the helper for good fails the test
    // rather than hanging it.
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(30) {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("airlock still waits on docker-credential-{name} after 30 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = Output {
        status,
        stdout: std::fs::read(&so).unwrap(),
        stderr: std::fs::read(&se).unwrap(),
    };
    (out, started.elapsed())
}

/// The line of `err` that reports why `reg`'s trivy-db was not exported.
fn reason_line(err: &str, reg: &Registry) -> String {
    let prefix = format!("  - {}/none/trivy-db:2: ", reg.host());
    err.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("{err}"))
        .to_string()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Whether a process whose command line contains `marker` still runs.
fn running(marker: &str) -> bool {
    let out = Command::new("ps").args(["-eo", "args"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .any(|l| l.contains(marker) && !l.starts_with("ps "))
}

fn bin_dir(t: &TestDir) -> PathBuf {
    let bin = t.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    bin
}

#[test]
fn a_helper_that_prints_without_end_is_stopped_at_64_kib() {
    let t = TestDir::new();
    let reg = Registry::tls_with_auth(&t.join("registry"));
    let bin = bin_dir(&t);
    helper(&bin, "endless", "#!/bin/sh\nexec yes S3CRET-endless\n");
    let (out, took) = export_with_helper(&t, &reg, &bin, "endless");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = stderr(&out);
    assert_eq!(
        reason_line(&err, &reg),
        format!(
            "the credential helper docker-credential-endless for {} printed more than 65536 bytes; it was stopped",
            reg.host()
        )
    );
    assert!(!err.contains("S3CRET"), "{err}");
    assert!(took < Duration::from_secs(20), "{took:?}");
}

#[test]
fn a_helper_that_never_exits_is_stopped_at_the_idle_timeout_with_its_children() {
    let t = TestDir::new();
    let reg = Registry::tls_with_auth(&t.join("registry"));
    let bin = bin_dir(&t);
    // A shell script whose child keeps its stdout open: the whole group
    // must go, not only the shell.
    helper(
        &bin,
        "sleeper",
        "#!/bin/sh\necho S3CRET-partial\nsleep 987654\n",
    );
    let (out, took) = export_with_helper(&t, &reg, &bin, "sleeper");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = stderr(&out);
    assert_eq!(
        reason_line(&err, &reg),
        format!(
            "the credential helper docker-credential-sleeper for {} did not answer within 2 s; it was stopped",
            reg.host()
        )
    );
    assert!(!err.contains("S3CRET"), "{err}");
    assert!(took < Duration::from_secs(20), "{took:?}");
    assert!(
        !running("sleep 987654"),
        "the helper's child was left running"
    );
}

#[test]
fn a_helper_that_reads_its_stdin_to_the_end_answers() {
    let t = TestDir::new();
    let reg = Registry::tls_with_auth(&t.join("registry"));
    let bin = bin_dir(&t);
    // Answers only once its stdin is closed, and only for this registry.
    helper(
        &bin,
        "patient",
        &format!(
            "#!/bin/sh\nname=$(cat)\n[ \"$name\" = \"{}\" ] || exit 1\nprintf '{{\"Username\":\"{USER}\",\"Secret\":\"{PASSWORD}\"}}'\n",
            reg.host()
        ),
    );
    let (out, took) = export_with_helper(&t, &reg, &bin, "patient");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = stderr(&out);
    // The credentials were accepted: the registry only lacks the artifact.
    assert_eq!(
        reason_line(&err, &reg),
        format!(
            r#"GET https://{0}/v2/none/trivy-db/manifests/2: the registry answered 404: {{"errors":[{{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{{"Tag":"2"}}}}]}}"#,
            reg.host()
        )
    );
    assert!(took < Duration::from_secs(20), "{took:?}");
}
