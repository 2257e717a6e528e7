//! Issue 14: what the air-gapped host needs to scan. The scan commands an
//! import prints, and the trivy.yaml `airlock trivy-config` writes, run with
//! the real Trivy in a network namespace with no route (`unshare --net`),
//! traced for `connect()` calls (strace), on a cache whose own dates make
//! Trivy want to refresh everything: `rootfs` with a jar, `image --input`
//! from an image tar, and `config` succeed with the fixtures' exact IDs and
//! without one attempt to reach the network. A control case checks that the
//! namespace and the aged dates bite: without `--skip-db-update` the same
//! scan tries the network and fails.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::fixtures::*;
use crate::support::*;

/// The example data shipped with the repository.
fn example(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/data")
        .join(p)
}

/// Makes every component of the cache due for a refresh in Trivy's eyes:
/// `DownloadedAt` (databases, checks) and the VEX `cache.json` `UpdatedAt`
/// set to 2024, long before now.
fn age(cache: &Path) {
    let old = "2024-01-01T00:00:00Z";
    for (file, field) in [
        ("db/metadata.json", "DownloadedAt"),
        ("java-db/metadata.json", "DownloadedAt"),
        ("policy/metadata.json", "DownloadedAt"),
        ("vex/repositories/default/cache.json", "UpdatedAt"),
    ] {
        let path = cache.join(file);
        let mut v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        v[field] = old.into();
        write(&path, &serde_json::to_vec(&v).unwrap());
    }
}

/// A `docker save` image tar of the example root file system (one layer),
/// written by python's tarfile: no registry, no daemon.
const IMAGE_TAR: &str = r#"
import hashlib, io, json, os, sys, tarfile
src, out = sys.argv[1], sys.argv[2]
layer = io.BytesIO()
with tarfile.open(fileobj=layer, mode="w", format=tarfile.USTAR_FORMAT) as t:
    for dp, dns, fns in sorted(os.walk(src)):
        dns.sort()
        for n in sorted(fns):
            p = os.path.join(dp, n)
            ti = t.gettarinfo(p, os.path.relpath(p, src))
            ti.mtime = 0; ti.uid = ti.gid = 0; ti.uname = ti.gname = ""
            with open(p, "rb") as f:
                t.addfile(ti, f)
lb = layer.getvalue()
config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
    "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(lb).hexdigest()]}}).encode()
manifest = json.dumps([{"Config": "config.json", "RepoTags": ["example/app:1"], "Layers": ["layer.tar"]}]).encode()
with tarfile.open(out, "w", format=tarfile.USTAR_FORMAT) as t:
    for name, data in [("config.json", config), ("layer.tar", lb), ("manifest.json", manifest)]:
        ti = tarfile.TarInfo(name); ti.size = len(data); ti.mode = 0o644
        t.addfile(ti, io.BytesIO(data))
"#;

fn image_tar(t: &TestDir) -> PathBuf {
    let out = t.join("image.tar");
    run_ok(
        Command::new(tool("python3"))
            .args(["-c", IMAGE_TAR])
            .arg(example("rootfs"))
            .arg(&out),
    );
    out
}

/// What a run in the namespace did.
struct Offline {
    out: Output,
    /// `connect()` calls to an internet address (AF_INET or AF_INET6).
    connects: Vec<String>,
}

/// Runs `argv` (`trivy` first, resolved to the real binary) in a user and
/// network namespace with no route, under strace, with a fresh HOME and
/// XDG_DATA_HOME, no TRIVY_* variable but TRIVY_FORMAT=json (so the command
/// line stays as printed).
fn no_network(t: &TestDir, name: &str, argv: &[String]) -> Offline {
    let home = t.join(&format!("home-{name}"));
    std::fs::create_dir_all(&home).unwrap();
    let trace = t.join(&format!("strace-{name}.txt"));
    let mut cmd = Command::new("unshare");
    cmd.args(["--user", "--map-root-user", "--net"])
        .arg(tool("strace"))
        .args(["-f", "-qq", "-e", "trace=connect", "-o"])
        .arg(&trace)
        .arg(crate::support::trivy::trivy_bin())
        .args(&argv[1..])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", &home)
        .env("XDG_DATA_HOME", home.join("share"))
        .env("TRIVY_FORMAT", "json");
    let out = cmd.output().unwrap();
    let connects = std::fs::read_to_string(&trace)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("connect(") && l.contains("AF_INET"))
        .map(str::to_string)
        .collect();
    Offline { out, connects }
}

/// The report of a run that must have succeeded without touching the network.
fn offline_report(t: &TestDir, name: &str, argv: &[String]) -> serde_json::Value {
    let r = no_network(t, name, argv);
    let err = String::from_utf8_lossy(&r.out.stderr);
    assert_eq!(r.out.status.code(), Some(0), "{argv:?}\n{err}");
    assert_eq!(r.connects, Vec::<String>::new(), "{argv:?}\n{err}");
    serde_json::from_slice(&r.out.stdout).unwrap_or_else(|e| panic!("{argv:?}: {e}\n{err}"))
}

/// The printed command for `target`, its operand replaced by `operand`.
fn printed(commands: &serde_json::Value, target: &str, operand: &[&str]) -> Vec<String> {
    let c = commands
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["target"] == target)
        .unwrap_or_else(|| panic!("no {target} command in {commands}"));
    let mut argv: Vec<String> = c["argv"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    argv.pop();
    argv.extend(operand.iter().map(|s| s.to_string()));
    argv
}

/// Imports the fixtures into `cache` (aged) and returns the printed commands.
fn aged_import(t: &TestDir, cache: &Path) -> serde_json::Value {
    let e = export_fixtures(t);
    let out = import_ok(&e.bundle, &e.public, cache, &["--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    age(cache);
    v["scan_commands"].clone()
}

#[test]
fn the_printed_commands_scan_a_rootfs_with_a_jar_an_image_tar_and_configs_with_no_network() {
    let t = TestDir::new();
    let cache = t.join("cache");
    let commands = aged_import(&t, &cache);
    let rootfs = example("rootfs");
    let image = image_tar(&t);
    let project = example("project");

    let argv = printed(&commands, "rootfs", &[s(&rootfs)]);
    let report = offline_report(&t, "rootfs", &argv);
    // CVE-2099-1002 is suppressed by the imported VEX repository; the jar's
    // CVE comes from the Java DB.
    assert_eq!(
        crate::support::trivy::vuln_ids(&report),
        [ZLIB_CVES[0], JAR_CVE]
    );

    let argv = printed(&commands, "image", &["--input", s(&image)]);
    let report = offline_report(&t, "image", &argv);
    assert_eq!(
        crate::support::trivy::vuln_ids(&report),
        [ZLIB_CVES[0], JAR_CVE]
    );

    let argv = printed(&commands, "config", &[s(&project)]);
    let report = offline_report(&t, "config", &argv);
    // The imported checks bundle's sentinel, not Trivy's embedded checks.
    assert_eq!(
        crate::support::trivy::misconfig_ids(&report),
        [SENTINEL_CHECK_ID]
    );
}

#[test]
fn without_skip_db_update_the_same_scan_tries_the_network_and_fails() {
    // The control case: the namespace has no route and the aged cache makes
    // Trivy want a refresh, so each printed flag is needed.
    let t = TestDir::new();
    let cache = t.join("cache");
    let commands = aged_import(&t, &cache);
    let rootfs = example("rootfs");
    let argv: Vec<String> = printed(&commands, "rootfs", &[s(&rootfs)])
        .into_iter()
        .filter(|a| a != "--skip-db-update")
        .collect();
    let r = no_network(&t, "control", &argv);
    let err = String::from_utf8_lossy(&r.out.stderr);
    assert_eq!(r.out.status.code(), Some(1), "{err}");
    assert!(!r.connects.is_empty(), "{err}");
    assert!(err.contains("failed to download vulnerability DB"), "{err}");
}

#[test]
fn the_written_trivy_yaml_scans_the_same_with_no_network() {
    let t = TestDir::new();
    let cache = t.join("cache");
    aged_import(&t, &cache);
    let yaml = t.join("trivy.yaml");
    let out = airlock_ok(&["trivy-config", "--cache-dir", s(&cache), "-o", s(&yaml)]);
    assert_eq!(
        out,
        format!(
            "wrote {} (Trivy reads it with --config FILE)\n",
            yaml.display()
        )
    );
    assert_eq!(
        std::fs::read_to_string(&yaml).unwrap(),
        format!(
            "# Trivy configuration written by airlock: `trivy --config FILE rootfs|fs|image|config ...`\n\
             cache:\n  dir: {}\n\
             db:\n  skip-update: true\n  java-skip-update: true\n\
             rego:\n  skip-check-update: true\n\
             scan:\n  offline: true\n  skip-version-check: true\n  disable-telemetry: true\n\
             vulnerability:\n  vex:\n    - repo\n  skip-vex-repo-update: true\n",
            cache.display()
        )
    );
    let rootfs = example("rootfs");
    let image = image_tar(&t);
    let project = example("project");
    let with = |args: &[&str]| -> Vec<String> {
        ["trivy", "--config", s(&yaml)]
            .iter()
            .chain(args)
            .map(|a| a.to_string())
            .collect()
    };
    let report = offline_report(&t, "rootfs", &with(&["rootfs", s(&rootfs)]));
    assert_eq!(
        crate::support::trivy::vuln_ids(&report),
        [ZLIB_CVES[0], JAR_CVE]
    );
    let report = offline_report(&t, "image", &with(&["image", "--input", s(&image)]));
    assert_eq!(
        crate::support::trivy::vuln_ids(&report),
        [ZLIB_CVES[0], JAR_CVE]
    );
    let report = offline_report(&t, "config", &with(&["config", s(&project)]));
    assert_eq!(
        crate::support::trivy::misconfig_ids(&report),
        [SENTINEL_CHECK_ID]
    );
    // An existing file is never overwritten.
    let err = airlock_fails(
        &["trivy-config", "--cache-dir", s(&cache), "-o", s(&yaml)],
        2,
    );
    assert_eq!(
        err,
        format!(
            "airlock: error: {} exists; airlock writes a new file only\n",
            yaml.display()
        )
    );
}
