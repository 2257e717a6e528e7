//! Shared test harness: a temporary directory per test, the airlock binary,
//! fixture inputs written to disk, tree hashes, and the reference tools.
#![allow(dead_code)]

pub mod db_builder;
pub mod delta_fixtures;
pub mod fixtures;
pub mod hostile;
#[cfg(feature = "fault-injection")]
pub mod paused;
pub mod registry;
pub mod resign;
pub mod trivy;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use sha2::{Digest, Sha256};

/// A unique temporary directory, removed when the test ends.
pub struct TestDir {
    dir: tempfile::TempDir,
}

impl TestDir {
    pub fn new() -> Self {
        TestDir {
            dir: tempfile::Builder::new()
                .prefix("airlock-test-")
                .tempdir()
                .expect("tempdir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn join(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }
}

/// The airlock binary under test.
pub fn airlock_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_airlock"))
}

/// Runs airlock with `args`; stdin is closed.
pub fn airlock(args: &[&str]) -> Output {
    Command::new(airlock_bin())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run airlock")
}

/// Runs airlock and asserts success; returns stdout.
pub fn airlock_ok(args: &[&str]) -> String {
    let out = airlock(args);
    assert!(
        out.status.success(),
        "airlock {args:?} failed ({:?}):\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 stdout")
}

/// Runs airlock, asserts the exit code, returns stderr.
pub fn airlock_fails(args: &[&str], code: i32) -> String {
    let out = airlock(args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(code),
        "airlock {args:?}: expected exit {code}\nstdout:\n{}\nstderr:\n{stderr}",
        String::from_utf8_lossy(&out.stdout)
    );
    stderr
}

pub fn write(path: &Path, data: &[u8]) {
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p).unwrap();
    }
    std::fs::write(path, data).unwrap();
}

pub fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// The published inputs of a full export, written under `dir/inputs`.
pub struct Inputs {
    pub db: PathBuf,
    pub java_db: PathBuf,
    pub checks: PathBuf,
    pub vex_manifest: PathBuf,
    pub vex_archive: PathBuf,
}

pub fn write_inputs(dir: &Path) -> Inputs {
    use fixtures::*;
    let d = dir.join("inputs");
    let inputs = Inputs {
        db: d.join("db.tar.gz"),
        java_db: d.join("javadb.tar.gz"),
        checks: d.join("bundle.tar.gz"),
        vex_manifest: d.join("vex-repository.json"),
        vex_archive: d.join("main.zip"),
    };
    write(&inputs.db, &trivy_db_tar_gz(2, UPDATED_AT, NEXT_UPDATE));
    write(&inputs.java_db, &java_db_tar_gz(UPDATED_AT, NEXT_UPDATE));
    write(&inputs.checks, &checks_bundle_tar_gz());
    write(
        &inputs.vex_manifest,
        vex_repository_json("https://github.com/aquasecurity/vexhub/archive/refs/heads/main.zip")
            .as_bytes(),
    );
    write(&inputs.vex_archive, &vex_archive_zip());
    inputs
}

/// A key pair made by `airlock keygen`; returns (secret, public).
pub fn keygen(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let prefix = dir.join(name);
    airlock_ok(&[
        "keygen",
        "--out",
        s(&prefix),
        "--comment",
        name,
        "--unencrypted",
    ]);
    (
        dir.join(format!("{name}.key")),
        dir.join(format!("{name}.pub")),
    )
}

pub const CREATED: &str = "2026-11-25T12:00:00Z";

/// `airlock export` of every fixture input into `out` (more flags may follow).
pub fn export_all_args<'a>(inputs: &'a Inputs, key: &'a Path, out: &'a Path) -> Vec<&'a str> {
    vec![
        "export",
        "-o",
        s(out),
        "--sign-key",
        s(key),
        "--trivy-db",
        s(&inputs.db),
        "--java-db",
        s(&inputs.java_db),
        "--checks",
        s(&inputs.checks),
        "--vex-manifest",
        s(&inputs.vex_manifest),
        "--vex-archive",
        s(&inputs.vex_archive),
        "--label",
        "ticket=CHG-1234",
        "--created",
        CREATED,
    ]
}

/// Exports every fixture input into `out`.
pub fn export_all(inputs: &Inputs, key: &Path, out: &Path) -> String {
    airlock_ok(&export_all_args(inputs, key, out))
}

/// The fixture inputs, a key pair, and a bundle of all the inputs.
pub struct Exported {
    pub inputs: Inputs,
    pub key: PathBuf,
    pub public: PathBuf,
    pub bundle: PathBuf,
}

/// Writes the inputs, makes a key and exports everything into `b.airlock`.
pub fn export_fixtures(t: &TestDir) -> Exported {
    let inputs = write_inputs(t.path());
    let (key, public) = keygen(t.path(), "builder");
    let bundle = t.join("b.airlock");
    export_all(&inputs, &key, &bundle);
    Exported {
        inputs,
        key,
        public,
        bundle,
    }
}

/// The fixture bundle's content exported again, created a day earlier
/// (`earlier.airlock`): imported first, it makes the fixture bundle a newer
/// one with the same content, which an import stages and swaps in full
/// (the same bundle twice changes nothing the second time: "already
/// installed", issue 15).
pub fn export_earlier(t: &TestDir, e: &Exported) -> PathBuf {
    let earlier = t.join("earlier.airlock");
    let mut args = export_all_args(&e.inputs, &e.key, &earlier);
    let at = args.iter().position(|a| *a == CREATED).expect("--created");
    args[at] = "2026-11-24T12:00:00Z";
    airlock_ok(&args);
    earlier
}

/// `airlock import BUNDLE --key PUBLIC --cache-dir CACHE [extra...]`, which must succeed.
pub fn import_ok(bundle: &Path, public: &Path, cache: &Path, extra: &[&str]) -> String {
    let mut args = vec![
        "import",
        s(bundle),
        "--key",
        s(public),
        "--cache-dir",
        s(cache),
    ];
    args.extend_from_slice(extra);
    airlock_ok(&args)
}

/// `airlock import BUNDLE --key PUBLIC --cache-dir CACHE`, which must fail
/// with `code`; returns stderr.
pub fn import_fails(bundle: &Path, public: &Path, cache: &Path, code: i32) -> String {
    airlock_fails(
        &[
            "import",
            s(bundle),
            "--key",
            s(public),
            "--cache-dir",
            s(cache),
        ],
        code,
    )
}

/// Asserts that `dir` holds no entry whose name starts with `prefix`
/// (staging directories, temporary files).
pub fn assert_no_leftovers(dir: &Path, prefix: &str) {
    let left: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(prefix))
        .collect();
    assert!(
        left.is_empty(),
        "left behind in {}: {left:?}",
        dir.display()
    );
}

/// The audit log import appends to in the cache, accepted or refused.
pub const AUDIT_LOG: &str = "airlock-audit.jsonl";

/// sha256 of every file (and the kind of every entry) under `root`, so two
/// calls compare whole trees byte for byte. The audit log at the root is left
/// out: every import appends to it, refused ones too (tests check it apart).
pub fn tree_hash(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    if !root.exists() {
        return out;
    }
    for e in walkdir::WalkDir::new(root).sort_by_file_name() {
        let e = e.unwrap();
        let rel = e.path().strip_prefix(root).unwrap().display().to_string();
        if rel == AUDIT_LOG {
            continue;
        }
        let ft = e.file_type();
        let v = if ft.is_file() {
            let mut h = Sha256::new();
            let mut f = std::fs::File::open(e.path()).unwrap();
            let mut buf = vec![0u8; 1 << 16];
            loop {
                let n = f.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                h.update(&buf[..n]);
            }
            format!("file {:x}", h.finalize())
        } else if ft.is_dir() {
            "dir".to_string()
        } else {
            format!("other {:?}", ft)
        };
        out.insert(rel, v);
    }
    out
}

/// Finds a reference tool (minisign, signify, tar, python3...). Fails (never
/// skips) when it is missing: the test command installs them.
pub fn tool(name: &str) -> PathBuf {
    // GNU time, not the shell keyword.
    if name == "time" && Path::new("/usr/bin/time").is_file() {
        return PathBuf::from("/usr/bin/time");
    }
    for cand in [name, &format!("{name}-openbsd")] {
        if let Some(path) = std::env::var_os("PATH") {
            for dir in std::env::split_paths(&path) {
                let p = dir.join(cand);
                if p.is_file() {
                    return p;
                }
            }
        }
    }
    panic!(
        "required tool `{name}` is not installed{}; run scripts/test.sh, which installs it",
        if std::env::var("CI").as_deref() == Ok("true") {
            " in CI"
        } else {
            ""
        }
    );
}

/// Runs a command and asserts success; returns stdout.
pub fn run_ok(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({:?}):\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Decompresses a bundle to its tar bytes.
pub fn bundle_tar(bundle: &Path) -> Vec<u8> {
    zstd::stream::decode_all(std::fs::File::open(bundle).unwrap()).unwrap()
}

/// Compresses tar bytes as a bundle.
pub fn write_bundle_tar(path: &Path, tar: &[u8]) {
    let z = zstd::stream::encode_all(tar, 3).unwrap();
    write(path, &z);
}

/// Byte offset of the data of entry `name` in tar bytes.
pub fn tar_entry_offset(tar: &[u8], name: &str) -> (usize, u64) {
    let mut ar = ::tar::Archive::new(tar);
    for e in ar.entries().unwrap() {
        let e = e.unwrap();
        if e.path().unwrap().to_str() == Some(name) {
            return (e.raw_file_position() as usize, e.size());
        }
    }
    panic!("no entry {name}");
}

/// A static HTTP server (python3 -m http.server) on a free loopback port,
/// killed on drop.
pub struct HttpServer {
    child: std::process::Child,
    pub port: u16,
}

impl HttpServer {
    pub fn serve(dir: &Path) -> Self {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let child = Command::new(tool("python3"))
            .args([
                "-m",
                "http.server",
                "--bind",
                "127.0.0.1",
                &port.to_string(),
                "--directory",
            ])
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start python3 -m http.server");
        // From here on Drop kills and reaps the server, whatever happens.
        let server = HttpServer { child, port };
        // Python may take seconds to start on a loaded machine: 30 s.
        for _ in 0..600 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return server;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("http server on port {port} did not start");
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A size-limited tmpfs, unmounted on drop. Mounting needs root: outside CI
/// the test that uses it says so and returns; under CI=true it fails.
pub struct SmallFs {
    pub path: std::path::PathBuf,
}

impl SmallFs {
    pub fn mount(path: std::path::PathBuf, size: &str) -> Option<SmallFs> {
        std::fs::create_dir_all(&path).unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&path)
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return Some(SmallFs { path });
        }
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "cannot mount a tmpfs in CI (needs root)"
        );
        eprintln!("NOT RUN: cannot mount a tmpfs here (needs root)");
        None
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(&self.path)
            .status();
    }
}

/// SHA-256 of what is written into it.
pub struct Hasher(Sha256);

impl Hasher {
    pub fn new() -> Self {
        Hasher(Sha256::new())
    }

    pub fn hex(self) -> String {
        format!("{:x}", self.0.finalize())
    }
}

impl std::io::Write for Hasher {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs `cmd` with `input` on its stdin; returns its output (stdout and
/// stderr captured).
pub fn output_with_stdin(cmd: &mut Command, input: &str) -> std::process::Output {
    use std::io::Write as _;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}
