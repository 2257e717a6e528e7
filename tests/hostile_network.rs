//! Hostile registries, token services and VEX servers (issue 17, items 2,
//! 6, 7 and 9), played by `hostile_server.py` on loopback: servers that
//! stall or trickle, a `Content-Length` of 20 GiB, zip bombs, blobs longer
//! than their descriptor, `Retry-After`, an image index that also carries
//! config and layers. Every test sets deadlines of a second or two through
//! the `AIRLOCK_NETWORK_*` variables (or the flags) and asserts the time to
//! give up, the exit code and message, and what the server saw; the honest
//! configurations of the same servers pass.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::support::fixtures::*;
use crate::support::hostile::{Hostile, TestCa};
use crate::support::*;

const USER_AGENT: &str = concat!("airlock/", env!("CARGO_PKG_VERSION"));
const CHECKS_LAYER_TYPE: &str = "application/vnd.cncf.openpolicyagent.layer.v1.tar+gzip";
const INDEX_TYPE: &str = "application/vnd.oci.image.index.v1+json";

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    format!("{:x}", sha2::Sha256::digest(bytes))
}

/// The checks artifact as a registry serves it: files for the hostile
/// server's `registry` config, and the layer's digest.
struct Artifact {
    registry: Value,
    layer_digest: String,
    config_digest: String,
}

/// Writes the checks bundle's layer, config and manifest into `dir`;
/// `manifest_media_type` and `extra` (more top-level JSON members) shape
/// the manifest.
fn checks_artifact(dir: &Path, repo: &str, manifest_media_type: &str, extra: &str) -> Artifact {
    std::fs::create_dir_all(dir).unwrap();
    let layer = checks_bundle_tar_gz();
    let lsha = sha256_hex(&layer);
    let config = b"{}".to_vec();
    let csha = sha256_hex(&config);
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"{manifest_media_type}","artifactType":"application/vnd.cncf.openpolicyagent.config.v1+json","config":{{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:{csha}","size":2}},"layers":[{{"mediaType":"{CHECKS_LAYER_TYPE}","digest":"sha256:{lsha}","size":{},"annotations":{{"org.opencontainers.image.title":"bundle.tar.gz"}}}}],"annotations":{{"org.opencontainers.image.version":"2.0.0"}}{extra}}}"#,
        layer.len()
    );
    let (lp, cp, mp) = (dir.join("layer"), dir.join("config"), dir.join("manifest"));
    write(&lp, &layer);
    write(&cp, &config);
    write(&mp, manifest.as_bytes());
    Artifact {
        registry: json!({
            "blobs": {format!("sha256:{lsha}"): s(&lp), format!("sha256:{csha}"): s(&cp)},
            "manifests": {format!("{repo}:2"): s(&mp)},
        }),
        layer_digest: format!("sha256:{lsha}"),
        config_digest: format!("sha256:{csha}"),
    }
}

fn honest_checks(dir: &Path) -> Artifact {
    checks_artifact(
        dir,
        "x/trivy-checks",
        "application/vnd.oci.image.manifest.v1+json",
        "",
    )
}

/// A registry serving `a`, with `knobs` merged into its registry config.
fn registry(dir: &Path, a: &Artifact, knobs: Value) -> Hostile {
    let mut reg = a.registry.clone();
    for (k, v) in knobs.as_object().unwrap() {
        reg[k] = v.clone();
    }
    Hostile::start(dir, json!({"registry": reg, "lifetime": 90}))
}

/// Short deadlines for a test: idle 1 s, overall 2 s + 1 s per 1000 bytes,
/// Retry-After waited for up to 5 s.
fn short_limits() -> Vec<(&'static str, &'static str)> {
    vec![
        ("AIRLOCK_NETWORK_IDLE_TIMEOUT", "1"),
        ("AIRLOCK_NETWORK_DEADLINE_BASE", "2"),
        ("AIRLOCK_NETWORK_MIN_RATE", "1000"),
        ("AIRLOCK_NETWORK_MAX_RETRY_AFTER", "5"),
    ]
}

/// Runs `airlock export -o OUT --sign-key KEY ARGS...` with `env`; returns
/// the output and how long it took.
fn export(t: &TestDir, out: &Path, args: &[&str], env: &[(&str, &str)]) -> (Output, Duration) {
    let key = t.join("k.key");
    if !key.exists() {
        keygen(t.path(), "k");
    }
    let mut cmd = Command::new(airlock_bin());
    cmd.args(["export", "-o", s(out), "--sign-key", s(&key), "--quiet"])
        .args(args)
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let start = Instant::now();
    let output = cmd.output().expect("run airlock");
    (output, start.elapsed())
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn assert_exit(o: &Output, code: i32) {
    assert_eq!(
        o.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&o.stdout),
        stderr(o)
    );
}

/// GETs the server saw for paths ending with `tail`.
fn gets(server: &Hostile, tail: &str) -> Vec<Value> {
    server
        .requests()
        .into_iter()
        .filter(|r| r["method"] == "GET" && r["path"].as_str().unwrap_or("").ends_with(tail))
        .collect()
}

/// A VEX server: the archive on one server (its route shaped by `archive`),
/// the manifest naming it on another. Returns (manifest server, archive
/// server, the --vex-repo URL).
fn vex_servers(dir: &Path, archive: Value) -> (Hostile, Hostile, String) {
    let mut route = archive;
    route["path"] = json!("/a\\.zip");
    let archive_server = Hostile::start(
        &dir.join("archive"),
        json!({"routes": [route], "lifetime": 90}),
    );
    let manifest = vex_repository_json(&format!("{}/a.zip", archive_server.url()));
    let manifest_server = Hostile::start(
        &dir.join("manifest"),
        json!({"routes": [{"path": "/repo/\\.well-known/vex-repository\\.json", "body": manifest}], "lifetime": 90}),
    );
    let url = format!("{}/repo", manifest_server.url());
    (manifest_server, archive_server, url)
}

/// The largest total size of the files under `dir` seen while `cmd` ran
/// (sampled every 20 ms), with its output and duration.
fn run_watching_disk(cmd: &mut Command, dir: &Path) -> (Output, u64, Duration) {
    fn size(p: &Path) -> u64 {
        let Ok(rd) = std::fs::read_dir(p) else {
            return 0;
        };
        rd.flatten()
            .map(|e| match e.metadata() {
                Ok(m) if m.is_dir() => size(&e.path()),
                Ok(m) => m.len(),
                Err(_) => 0,
            })
            .sum()
    }
    let start = Instant::now();
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut most = 0;
    while child.try_wait().unwrap().is_none() {
        most = most.max(size(dir));
        assert!(start.elapsed() < Duration::from_secs(60), "export hangs");
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    (out, most.max(size(dir)), start.elapsed())
}

#[test]
fn a_vex_server_that_trickles_is_given_up_on_at_the_idle_timeout() {
    let t = TestDir::new();
    let (_m, archive, url) = vex_servers(&t.join("srv"), json!({"body_zeros": 1000, "trickle": 2}));
    let out = t.join("b.airlock");
    let (o, took) = export(&t, &out, &["--vex-repo", &url], &short_limits());
    assert_exit(&o, 1);
    let err = stderr(&o);
    assert!(
        err.contains("/a.zip: the server sent nothing for 1 s (the idle timeout) after"),
        "{err}"
    );
    // One idle period after the first byte, plus start-up: not 11 minutes.
    assert!(took < Duration::from_secs(8), "{took:?}");
    assert_eq!(gets(&archive, "/a.zip").len(), 1, "no retry of a stall");
    assert!(!out.exists());
    assert_no_leftovers(t.path(), ".airlock-export-");
}

#[test]
fn a_server_that_trickles_its_headers_is_given_up_on_at_the_deadline() {
    let t = TestDir::new();
    // One header byte every 0.5 s: never idle for the 1 s timeout, but the
    // head never ends; the deadline's base (2 s) cuts it off.
    let (_m, archive, url) = vex_servers(&t.join("srv"), json!({"header_trickle": 0.5}));
    let out = t.join("b.airlock");
    let (o, took) = export(&t, &out, &["--vex-repo", &url], &short_limits());
    assert_exit(&o, 1);
    let err = stderr(&o);
    assert!(err.contains("/a.zip: no response within 2 s"), "{err}");
    assert!(took < Duration::from_secs(8), "{took:?}");
    assert_eq!(gets(&archive, "/a.zip").len(), 1, "no retry of a stall");
    assert!(!out.exists());

    // A registry whose /v2/ does the same: given up on at the deadline.
    let slow = Hostile::start(
        &t.join("slow-registry"),
        json!({"routes": [{"path": "/v2/?", "header_trickle": 0.5}], "lifetime": 60}),
    );
    let (o, took) = export(
        &t,
        &out,
        &[
            "--trivy-db",
            &format!("{}/aquasec/trivy-db:2", slow.host()),
            "--plain-http",
            &slow.host(),
        ],
        &short_limits(),
    );
    assert_exit(&o, 1);
    let err = stderr(&o);
    assert!(err.contains("no response within 2 s"), "{err}");
    assert!(took < Duration::from_secs(10), "{took:?}");
}

#[test]
fn a_vex_server_below_the_floor_rate_is_given_up_on_at_the_deadline() {
    let t = TestDir::new();
    // 1 byte every 5 ms (about 200 bytes/s, minus Python's overhead): never
    // idle for a second, but far below the floor of 1000 bytes/s.
    let (_m, _a, url) = vex_servers(
        &t.join("srv"),
        json!({"body_zeros": 100_000, "trickle": 0.005}),
    );
    let out = t.join("b.airlock");
    let (o, took) = export(&t, &out, &["--vex-repo", &url], &short_limits());
    assert_exit(&o, 1);
    let err = stderr(&o);
    assert!(err.contains("too slow: "), "{err}");
    assert!(
        err.contains("below the floor of 1000 bytes/s after the first 2 s"),
        "{err}"
    );
    // 2 s + received/1000 with received < 200/s: about 2.5 s.
    assert!(took < Duration::from_secs(8), "{took:?}");

    // The flags say the same as the variables, and win over them.
    let (o, took) = export(
        &t,
        &out,
        &[
            "--vex-repo",
            &url,
            "--network-deadline-base",
            "1",
            "--network-min-rate",
            "1K",
        ],
        &[("AIRLOCK_NETWORK_DEADLINE_BASE", "600")],
    );
    assert_exit(&o, 1);
    assert!(
        stderr(&o).contains("below the floor of 1 KiB/s after the first 1 s"),
        "{}",
        stderr(&o)
    );
    assert!(took < Duration::from_secs(8), "{took:?}");

    // A bad value is a usage error.
    let (o, _) = export(
        &t,
        &out,
        &["--vex-repo", &url, "--network-min-rate", "0"],
        &[],
    );
    assert_exit(&o, 2);
    assert!(
        stderr(&o).contains("--network-min-rate \"0\" is not valid"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_registry_whose_v2_stalls_is_left_for_the_next_reference_after_the_deadline() {
    let t = TestDir::new();
    let a = honest_checks(&t.join("artifact"));
    let stalled = Hostile::start(
        &t.join("stalled"),
        json!({"routes": [{"path": "/v2/?", "delay": 60, "body": "{}"}], "lifetime": 90}),
    );
    let honest = registry(&t.join("honest"), &a, json!({}));
    let out = t.join("b.airlock");
    let first = format!("{}/x/trivy-checks:2", stalled.host());
    let second = format!("{}/x/trivy-checks:2", honest.host());
    let (o, took) = export(
        &t,
        &out,
        &["--checks", &first, "--checks", &second, "--json"],
        &short_limits(),
    );
    assert_exit(&o, 0);
    let report: Value = serde_json::from_slice(&o.stdout).unwrap();
    let skipped = &report["skipped"][0];
    assert_eq!(skipped["reference"], first.as_str());
    let reason = skipped["reason"].as_str().unwrap();
    assert!(
        reason.starts_with(&format!("cannot reach the registry {}", stalled.host())),
        "{reason}"
    );
    // https (refused by the plain-http server), then plain http (loopback),
    // which stalls for one idle period of 1 s and is not asked again: not
    // 3 x 120 s.
    assert!(took < Duration::from_secs(10), "{took:?}");
    assert_eq!(
        gets(&stalled, "/v2/").len(),
        1,
        "the stalled /v2/ was asked again"
    );
}

#[test]
fn a_redirect_the_http_client_cannot_follow_skips_the_reference_not_the_run() {
    // ureq 2 panics on a redirect to a URL without a host: contained on the
    // request thread, reported, and the next reference is tried.
    let t = TestDir::new();
    let a = honest_checks(&t.join("artifact"));
    let hostile = Hostile::start(
        &t.join("hostile"),
        json!({"routes": [
            {"path": "/v2/?", "body": "{}"},
            {"path": "/v2/x/trivy-checks/manifests/2", "status": 302,
             "headers": {"Location": "file:///etc/passwd"}}
        ], "lifetime": 60}),
    );
    let honest = registry(&t.join("honest"), &a, json!({}));
    let out = t.join("b.airlock");
    let first = format!("{}/x/trivy-checks:2", hostile.host());
    let second = format!("{}/x/trivy-checks:2", honest.host());
    let (o, _) = export(
        &t,
        &out,
        &[
            "--checks",
            &first,
            "--checks",
            &second,
            "--plain-http",
            &hostile.host(),
            "--json",
        ],
        &short_limits(),
    );
    assert_exit(&o, 0);
    assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
    let report: Value = serde_json::from_slice(&o.stdout).unwrap();
    let reason = report["skipped"][0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("the HTTP client could not follow the server's answer"),
        "{reason}"
    );
}

#[test]
fn a_content_length_of_20_gib_is_refused_before_anything_is_written() {
    let t = TestDir::new();
    let (_m, archive, url) = vex_servers(
        &t.join("srv"),
        json!({"body_zeros": 32 << 20, "content_length": 20u64 << 30}),
    );
    let outdir = t.join("out");
    std::fs::create_dir_all(&outdir).unwrap();
    let key = t.join("k.key");
    keygen(t.path(), "k");
    let mut cmd = Command::new(airlock_bin());
    cmd.args(["export", "-o"])
        .arg(outdir.join("b.airlock"))
        .args(["--sign-key", s(&key), "--quiet", "--vex-repo", &url])
        .envs(short_limits())
        .stdin(Stdio::null());
    let (o, most, took) = run_watching_disk(&mut cmd, &outdir);
    assert_exit(&o, 1);
    let err = stderr(&o);
    assert!(
        err.contains("the server announces 21474836480 bytes, more than the 1073741824 airlock accepts here; nothing was written"),
        "{err}"
    );
    assert!(
        most < 64 << 10,
        "{most} bytes appeared in the output directory"
    );
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert_eq!(gets(&archive, "/a.zip").len(), 1);
    assert_no_leftovers(&outdir, ".airlock-export-");
}

/// A zip with the fixture's index.json and document under VEX_TOP_DIR, plus
/// `files` more files of `each` zero bytes.
fn bomb_zip(path: &Path, files: usize, each: usize) {
    use std::io::Write as _;
    let mut z = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .compression_level(Some(9))
        .large_file(each > u32::MAX as usize)
        .last_modified_time(zip::DateTime::default());
    z.start_file(format!("{VEX_TOP_DIR}/index.json"), opts)
        .unwrap();
    z.write_all(vex_index_json().as_bytes()).unwrap();
    z.start_file(format!("{VEX_TOP_DIR}/{VEX_DOC_PATH}"), opts)
        .unwrap();
    z.write_all(vex_openvex_json().as_bytes()).unwrap();
    let zeros = vec![0u8; 1 << 20];
    for i in 0..files {
        z.start_file(format!("{VEX_TOP_DIR}/bomb-{i}"), opts)
            .unwrap();
        let mut left = each;
        while left > 0 {
            let n = left.min(zeros.len());
            z.write_all(&zeros[..n]).unwrap();
            left -= n;
        }
    }
    z.finish().unwrap();
}

/// Peak RSS (KiB) and output of `airlock ARGS` under GNU time.
fn under_time(t: &TestDir, name: &str, args: &[&str]) -> (Output, u64) {
    let report = t.join(&format!("{name}.time"));
    let o = Command::new(tool("time"))
        .arg("-v")
        .arg("-o")
        .arg(&report)
        .arg(airlock_bin())
        .args(args)
        .envs(short_limits())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = std::fs::read_to_string(&report).unwrap();
    let kib = text
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("Maximum resident set size (kbytes): ")
        })
        .unwrap()
        .parse()
        .unwrap();
    (o, kib)
}

#[test]
fn chunked_framing_that_never_ends_is_bounded_in_memory_and_time() {
    // ureq's chunked decoder keeps a chunk-size line whole and reads a
    // chunk extension without returning: over https each connection's
    // bytes that are not content are bounded below it; over plain http a
    // chunked response is refused.
    let t = TestDir::new();
    keygen(t.path(), "k");
    let key = t.join("k.key");
    let ca = TestCa::new(&t.join("ca"));
    let (cert, certkey) = ca.issue("localhost");
    for (name, attack, needle) in [
        (
            "size-line",
            json!({"chunked_attack": "size_line"}),
            "that are not content",
        ),
        (
            "extension",
            json!({"chunked_attack": "extension", "trickle": 0.2}),
            "no progress",
        ),
    ] {
        let mut route = attack;
        route["path"] = json!("/a\\.zip");
        let server = Hostile::start(
            &t.join(name),
            json!({"tls": {"cert": s(&cert), "key": s(&certkey)}, "lifetime": 60,
                   "routes": [route]}),
        );
        // The manifest names the archive server's port.
        let manifest = Hostile::start(
            &t.join(&format!("{name}-manifest")),
            json!({"tls": {"cert": s(&cert), "key": s(&certkey)}, "lifetime": 60,
                   "routes": [{"path": "/repo/\\.well-known/vex-repository\\.json",
                               "body": vex_repository_json(&format!("https://localhost:{}/a.zip", server.port))}]}),
        );
        let url = format!("https://localhost:{}/repo", manifest.port);
        let out = t.join(&format!("{name}.airlock"));
        let started = Instant::now();
        let (o, kib) = under_time(
            &t,
            name,
            &[
                "export",
                "-o",
                s(&out),
                "--sign-key",
                s(&key),
                "--vex-repo",
                &url,
                "--ca-cert",
                s(&ca.cert),
            ],
        );
        let took = started.elapsed();
        assert_eq!(o.status.code(), Some(1), "{name}: {}", stderr(&o));
        assert!(stderr(&o).contains(needle), "{name}: {}", stderr(&o));
        assert!(kib < 64 * 1024, "{name}: {kib} KiB");
        assert!(took < Duration::from_secs(20), "{name}: {took:?}");
        eprintln!("chunked {name}: exit 1 after {took:?}, peak RSS {kib} KiB");
    }

    // Plain http: a Transfer-Encoding of any value (ureq decodes them all
    // as chunked) is refused before a byte of the body is read.
    for te in ["chunked", "gzip", "x"] {
        let (_m, _a, url) = vex_servers(
            &t.join(&format!("plain-{te}")),
            json!({"chunked_attack": "size_line", "te": te}),
        );
        let out = t.join("plain.airlock");
        let (o, _) = export(&t, &out, &["--vex-repo", &url], &short_limits());
        assert_exit(&o, 1);
        assert!(
            stderr(&o).contains("a plain-http server must send Content-Length"),
            "{te}: {}",
            stderr(&o)
        );
    }
    // ... and an error answer's body is not read at all.
    let reg = Hostile::start(
        &t.join("plain-500"),
        json!({"lifetime": 60, "routes": [
            {"path": "/v2/?", "body": "{}"},
            {"path": "/v2/x/trivy-db/manifests/2", "chunked_attack": "size_line", "status": 500}
        ]}),
    );
    let started = Instant::now();
    let (o, kib) = under_time(
        &t,
        "plain-500",
        &[
            "export",
            "-o",
            s(&t.join("p5.airlock")),
            "--sign-key",
            s(&key),
            "--trivy-db",
            &format!("{}/x/trivy-db:2", reg.host()),
            "--plain-http",
            &reg.host(),
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(kib < 64 * 1024, "{kib} KiB");
    assert!(started.elapsed() < Duration::from_secs(20));
}

#[test]
fn vex_zip_bombs_are_refused_at_export_and_at_verify() {
    let t = TestDir::new();
    keygen(t.path(), "k");
    let key = t.join("k.key");
    // One document of 80 MiB (80 KB compressed): over the 64 MiB per file.
    let big = t.join("big.zip");
    bomb_zip(&big, 1, 80 << 20);
    // 300 files of 2 MiB (600 MiB, about 600 KB compressed): each under
    // the per-file cap, all together over 200 x the archive + 256 MiB.
    let many = t.join("many.zip");
    bomb_zip(&many, 300, 2 << 20);
    let many_len = std::fs::metadata(&many).unwrap().len();
    assert!(many_len < 2 << 20, "{many_len}");
    let manifest = t.join("vex-repository.json");
    write(
        &manifest,
        vex_repository_json("https://vex.example/a.zip").as_bytes(),
    );
    for (name, archive, needle) in [
        (
            "big",
            &big,
            format!("the VEX archive's file \"bomb-0\" is {} bytes, more than the 67108864 airlock accepts for one VEX document", 80 << 20),
        ),
        (
            "many",
            &many,
            format!("the VEX archive ({many_len} bytes) expands to more than {} bytes", many_len * 200 + (256 << 20)),
        ),
    ] {
        let out = t.join(&format!("{name}.airlock"));
        let (o, rss) = under_time(
            &t,
            name,
            &[
                "export", "-o", s(&out), "--sign-key", s(&key), "--quiet",
                "--vex-manifest", s(&manifest), "--vex-archive", s(archive),
            ],
        );
        assert_exit(&o, 5);
        assert!(stderr(&o).contains(&needle), "{name}: {}", stderr(&o));
        assert!(rss < 64 * 1024, "{name}: peak RSS {rss} KiB");
        assert!(!out.exists());
    }

    // Over the network: the same archive from a VEX server.
    let (_m, _a, url) = vex_servers(&t.join("srv"), json!({"body_file": s(&big)}));
    let (o, _) = export(
        &t,
        &t.join("net.airlock"),
        &["--vex-repo", &url],
        &short_limits(),
    );
    assert_exit(&o, 5);
    assert!(
        stderr(&o).contains("more than the 67108864 airlock accepts for one VEX document"),
        "{}",
        stderr(&o)
    );

    // A bundle re-signed by a trusted key around the bomb, its signed totals
    // made to match: refused by verify and import all the same, the cache
    // left as it was.
    let (base, public, _good) = crate::corpus::exported_base(&t);
    let archive_path = "vex/default/archive.zip".to_string();
    let bytes = std::fs::read(&many).unwrap();
    let mut m = base.manifest.clone();
    let v = &mut m.vex[0];
    let totals = (300u64 * (2 << 20)) + (vex_index_json().len() + vex_openvex_json().len()) as u64;
    v.unpacked.size = totals;
    v.unpacked.data = totals;
    v.unpacked.files = 302;
    v.unpacked.entries = 302;
    let p = m
        .payloads
        .iter_mut()
        .find(|p| p.path == archive_path)
        .unwrap();
    p.size = bytes.len() as u64;
    p.sha256 = sha256_hex(&bytes).parse().unwrap();
    let bundle = t.join("bomb.airlock");
    write(&bundle, &base.resigned(&m, &[(archive_path, bytes)]));
    let (o, rss) = under_time(&t, "verify", &["verify", s(&bundle), "--key", s(&public)]);
    assert_exit(&o, 4);
    assert!(
        stderr(&o).contains(&format!(
            "expands to more than {} bytes",
            many_len * 200 + (256 << 20)
        )),
        "{}",
        stderr(&o)
    );
    assert!(rss < 64 * 1024, "verify: peak RSS {rss} KiB");
    let cache = t.join("cache");
    let (o, _) = under_time(
        &t,
        "import",
        &[
            "import",
            s(&bundle),
            "--key",
            s(&public),
            "--cache-dir",
            s(&cache),
        ],
    );
    assert_exit(&o, 4);
    assert!(
        stderr(&o).contains("expands to more than"),
        "{}",
        stderr(&o)
    );
    assert!(!cache.join("vex").exists());
}

#[test]
fn a_blob_longer_than_its_descriptor_is_refused_after_one_request() {
    let t = TestDir::new();
    let a = honest_checks(&t.join("artifact"));
    let long = registry(
        &t.join("long"),
        &a,
        json!({"extra_blob_bytes": {a.layer_digest.clone(): 10}}),
    );
    let out = t.join("b.airlock");
    let reference = format!("{}/x/trivy-checks:2", long.host());
    let (o, took) = export(&t, &out, &["--checks", &reference], &short_limits());
    assert_exit(&o, 1);
    let err = stderr(&o);
    assert!(
        err.contains(&format!(
            "served the blob {} of x/trivy-checks of more than {} bytes, its descriptor says {} bytes",
            a.layer_digest,
            checks_bundle_tar_gz().len(),
            checks_bundle_tar_gz().len()
        )),
        "{err}"
    );
    assert_eq!(gets(&long, &a.layer_digest).len(), 1, "fetched again");
    assert!(took < Duration::from_secs(10), "{took:?}");
    // The config blob was fine, and fetched once.
    assert_eq!(gets(&long, &a.config_digest).len(), 1);
}

#[test]
fn retry_after_is_honoured_up_to_the_cap_and_every_request_names_airlock() {
    let t = TestDir::new();
    let a = honest_checks(&t.join("artifact"));
    // 429 with Retry-After: 2 once, then the manifest.
    let busy = registry(
        &t.join("busy"),
        &a,
        json!({"retry_after": {"/v2/x/trivy-checks/manifests/2": [429, 2, 1]}}),
    );
    let out = t.join("b.airlock");
    let reference = format!("{}/x/trivy-checks:2", busy.host());
    let (o, took) = export(&t, &out, &["--checks", &reference], &short_limits());
    assert_exit(&o, 0);
    let manifests = gets(&busy, "/manifests/2");
    assert_eq!(manifests.len(), 2, "{manifests:?}");
    let waited = manifests[1]["time"].as_f64().unwrap() - manifests[0]["time"].as_f64().unwrap();
    assert!((2.0..4.0).contains(&waited), "waited {waited} s");
    assert!(took < Duration::from_secs(15), "{took:?}");
    // Control: the bundle is good.
    let (_, public) = (t.join("k.key"), t.join("k.pub"));
    airlock_ok(&["verify", s(&out), "--key", s(&public), "--quiet"]);

    // User-Agent on every request, to the registry and the token service.
    let token = Hostile::start(
        &t.join("token"),
        json!({"routes": [{"path": "/token.*", "body": "{\"token\":\"hostile-token\"}"}], "lifetime": 90}),
    );
    let mut reg = a.registry.clone();
    reg["retry_after"] = json!({});
    let bearer = Hostile::start(
        &t.join("bearer"),
        json!({"registry": reg, "auth": "bearer", "realm": format!("{}/token", token.url()), "lifetime": 90}),
    );
    let reference = format!("{}/x/trivy-checks:2", bearer.host());
    let (o, _) = export(
        &t,
        &t.join("c.airlock"),
        &["--checks", &reference, "--force"],
        &short_limits(),
    );
    assert_exit(&o, 0);
    let (_m, archive, url) = vex_servers(
        &t.join("vex"),
        json!({"body_file": s(&{
            let p = t.join("a.zip");
            write(&p, &vex_archive_zip());
            p
        })}),
    );
    let (o, _) = export(
        &t,
        &t.join("d.airlock"),
        &["--vex-repo", &url],
        &short_limits(),
    );
    assert_exit(&o, 0);
    for (name, server) in [
        ("busy", &busy),
        ("bearer", &bearer),
        ("token", &token),
        ("vex archive", &archive),
        ("vex manifest", &_m),
    ] {
        let seen = server.requests();
        assert!(!seen.is_empty(), "{name}");
        for r in seen.iter().filter(|r| r.get("method").is_some()) {
            assert_eq!(r["headers"]["User-Agent"], USER_AGENT, "{name}: {r}");
        }
    }
    assert!(!token.requests().is_empty());

    // Retry-After: 3600 is more than the cap: given up on at once, and the
    // next reference used; the reason says so.
    let slow = registry(
        &t.join("slow"),
        &a,
        json!({"retry_after": {"/v2/x/trivy-checks/manifests/2": [503, 3600, 100]}}),
    );
    let first = format!("{}/x/trivy-checks:2", slow.host());
    let second = format!("{}/x/trivy-checks:2", busy.host());
    let (o, took) = export(
        &t,
        &t.join("e.airlock"),
        &["--checks", &first, "--checks", &second, "--json"],
        &short_limits(),
    );
    assert_exit(&o, 0);
    let report: Value = serde_json::from_slice(&o.stdout).unwrap();
    let reason = report["skipped"][0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("the registry answered 503 asking to retry after 3600 s, longer than the 5 s airlock waits"),
        "{reason}"
    );
    assert_eq!(gets(&slow, "/manifests/2").len(), 1);
    assert!(took < Duration::from_secs(10), "{took:?}");
}

#[test]
fn an_image_index_carrying_config_and_layers_is_refused() {
    let t = TestDir::new();
    let a = checks_artifact(
        &t.join("artifact"),
        "x/trivy-checks",
        INDEX_TYPE,
        r#","manifests":[]"#,
    );
    let server = registry(&t.join("reg"), &a, json!({}));
    let reference = format!("{}/x/trivy-checks:2", server.host());
    let (o, _) = export(
        &t,
        &t.join("b.airlock"),
        &["--checks", &reference],
        &short_limits(),
    );
    assert_exit(&o, 1);
    let err = stderr(&o);
    assert!(
        err.contains(&format!("{reference}: the registry served an ambiguous document: its mediaType is the image index {INDEX_TYPE} and also config and layers")),
        "{err}"
    );
    assert!(
        gets(&server, &a.layer_digest).is_empty(),
        "a blob was fetched"
    );
}
