//! Export → verify → import → the real Trivy 0.76 scans with the result.

use std::process::Command;

use crate::support::fixtures::*;
use crate::support::trivy::*;
use crate::support::*;

fn sorted(mut v: Vec<&str>) -> Vec<String> {
    v.sort();
    v.into_iter().map(String::from).collect()
}

fn all_cves() -> Vec<String> {
    sorted(vec![ZLIB_CVES[0], ZLIB_CVES[1], JAR_CVE])
}

fn unsuppressed_cves() -> Vec<String> {
    sorted(vec![ZLIB_CVES[0], JAR_CVE])
}

/// Asserts what Trivy finds with `cache`: the fixture CVEs (the jar one via
/// the Java DB), the VEX suppression, and the sentinel check.
fn assert_trivy_uses(cache: &std::path::Path, xdg: &std::path::Path, t: &TestDir) {
    let rootfs = t.join("rootfs");
    if !rootfs.exists() {
        write_alpine_rootfs(&rootfs);
        write_config_project(&t.join("project"));
    }
    assert_eq!(rootfs_vuln_ids(cache, xdg, &rootfs, &[]), all_cves());
    assert_eq!(
        rootfs_vuln_ids(cache, xdg, &rootfs, &["--vex", "repo"]),
        unsuppressed_cves(),
        "the VEX statement must suppress {VEX_SUPPRESSED_CVE}"
    );
    assert_eq!(
        config_check_ids(cache, xdg, &t.join("project")),
        vec![SENTINEL_CHECK_ID.to_string()]
    );
}

/// Points repository.yaml at `repo_url`, runs `trivy vex repo download`
/// into `cache` (which holds the DBs already), then checks Trivy's findings.
fn download_vex_and_scan(
    cache: &std::path::Path,
    xdg: &std::path::Path,
    repo_url: &str,
    t: &TestDir,
) {
    write(
        &xdg.join(".trivy/vex/repository.yaml"),
        vex_repository_yaml("default", repo_url).as_bytes(),
    );
    let dl = trivy(cache, xdg, &["vex", "repo", "download"]);
    assert!(
        dl.status.success(),
        "{}",
        String::from_utf8_lossy(&dl.stderr)
    );
    assert!(cache
        .join("vex/repositories/default/0.1/index.json")
        .is_file());
    assert_trivy_uses(cache, xdg, t);
}

#[test]
fn export_from_files_import_and_scan_with_real_trivy() {
    let t = TestDir::new();
    let inputs = write_inputs(t.path());
    let (key, public) = keygen(t.path(), "builder");
    let bundle = t.join("transfer.airlock");
    let out = export_all(&inputs, &key, &bundle);
    assert!(out.contains("trivy-db"), "{out}");

    let verify = airlock_ok(&["verify", s(&bundle), "--key", s(&public)]);
    assert!(verify.starts_with("OK: "), "{verify}");

    let cache = t.join("cache");
    let xdg = t.join("xdg");
    let report = import_ok(&bundle, &public, &cache, &[]);
    // The report names what was installed and how to use it.
    assert!(
        report.contains(&format!(
            "schema 2, UpdatedAt {UPDATED_AT}, NextUpdate {NEXT_UPDATE}"
        )),
        "{report}"
    );
    assert!(report.contains("schema 1, UpdatedAt"), "{report}");
    assert!(report.contains("--skip-db-update --skip-java-db-update --skip-check-update --vex repo --skip-vex-repo-update"), "{report}");
    assert!(report.contains("- name: default"), "{report}");
    // The layout Trivy reads.
    for p in [
        "db/trivy.db",
        "db/metadata.json",
        "java-db/trivy-java.db",
        "java-db/metadata.json",
        "policy/metadata.json",
        &format!("policy/content/{SENTINEL_REGO_PATH}"),
        "vex/repositories/default/vex-repository.json",
        "vex/repositories/default/cache.json",
        "vex/repositories/default/0.1/index.json",
        &format!("vex/repositories/default/0.1/{VEX_DOC_PATH}"),
    ] {
        assert!(cache.join(p).is_file(), "missing {p}");
    }
    assert_eq!(
        std::fs::read(cache.join("db/trivy.db")).unwrap(),
        trivy_db(2)
    );
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(cache.join("db/metadata.json")).unwrap()).unwrap();
    assert_eq!(meta["Version"], 2);
    assert_ne!(
        meta["DownloadedAt"], ZERO_TIME,
        "DownloadedAt must be the import time"
    );
    // No staging leftovers.
    assert_no_leftovers(&cache, ".airlock-staging");

    assert_trivy_uses(&cache, &xdg, &t);

    // DownloadedAt = now makes Trivy trust the DBs without --skip-*-update:
    // offline, any download attempt would fail the scan.
    let report = trivy_json(
        &cache,
        &xdg,
        &[
            "rootfs",
            "-f",
            "json",
            "--scanners",
            "vuln",
            s(&t.join("rootfs")),
        ],
    );
    assert_eq!(vuln_ids(&report), all_cves());
}

#[test]
fn import_replaces_an_existing_cache_and_leaves_other_components_alone() {
    let t = TestDir::new();
    let inputs = write_inputs(t.path());
    let (key, public) = keygen(t.path(), "builder");
    let cache = t.join("cache");
    // A cache with an old DB and Trivy's own scan cache (not ours to touch).
    write(&cache.join("db/trivy.db"), b"old database");
    write(&cache.join("db/metadata.json"), b"{}");
    write(&cache.join("fanal/fanal.db"), b"scan cache");
    // A bundle with the vulnerability DB only.
    let bundle = t.join("db-only.airlock");
    airlock_ok(&[
        "export",
        "-o",
        s(&bundle),
        "--sign-key",
        s(&key),
        "--trivy-db",
        s(&inputs.db),
        "--created",
        CREATED,
    ]);
    let report = import_ok(&bundle, &public, &cache, &[]);
    assert!(report.contains("(replaced)"), "{report}");
    assert_eq!(
        std::fs::read(cache.join("db/trivy.db")).unwrap(),
        trivy_db(2)
    );
    assert_eq!(
        std::fs::read(cache.join("fanal/fanal.db")).unwrap(),
        b"scan cache"
    );
    assert!(!cache.join("java-db").exists());
    assert!(!cache.join("policy").exists());
}

#[test]
fn static_vex_directory_works_over_file_url_and_http() {
    let t = TestDir::new();
    let Exported {
        inputs,
        key,
        public,
        bundle,
    } = export_fixtures(&t);

    // 1. As file:// (the default URL).
    let cache = t.join("cache");
    let vex_dir = t.join("vex-static");
    let out = airlock_ok(&[
        "import",
        s(&bundle),
        "--key",
        s(&public),
        "--cache-dir",
        s(&cache),
        "--vex-dir",
        s(&vex_dir),
    ]);
    let wk = vex_dir.join("default/.well-known/vex-repository.json");
    let published: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&wk).unwrap()).unwrap();
    let abs = std::path::absolute(&vex_dir).unwrap();
    let loc = format!(
        "file://{}/default/archive.zip//{VEX_TOP_DIR}",
        abs.display()
    );
    assert_eq!(
        published["versions"][0]["locations"][0]["url"],
        loc.as_str()
    );
    assert!(
        out.contains(&format!("url: file://{}/default", abs.display())),
        "{out}"
    );

    // A second host: only the DBs, then `trivy vex repo download` from the static dir.
    let cache2 = t.join("cache2");
    let xdg2 = t.join("xdg2");
    let db_bundle = t.join("dbs.airlock");
    airlock_ok(&[
        "export",
        "-o",
        s(&db_bundle),
        "--sign-key",
        s(&key),
        "--trivy-db",
        s(&inputs.db),
        "--java-db",
        s(&inputs.java_db),
        "--checks",
        s(&inputs.checks),
        "--created",
        CREATED,
    ]);
    import_ok(&db_bundle, &public, &cache2, &[]);
    download_vex_and_scan(
        &cache2,
        &xdg2,
        &format!("file://{}/default", abs.display()),
        &t,
    );

    // 2. Over HTTP from a real static web server.
    let www = t.join("www");
    std::fs::create_dir_all(&www).unwrap();
    let server = HttpServer::serve(&www);
    let cache3 = t.join("cache3");
    let xdg3 = t.join("xdg3");
    airlock_ok(&[
        "import",
        s(&bundle),
        "--key",
        s(&public),
        "--cache-dir",
        s(&t.join("cache-http")),
        "--vex-dir",
        s(&www),
        "--vex-url",
        &server.url(),
    ]);
    import_ok(&db_bundle, &public, &cache3, &[]);
    download_vex_and_scan(&cache3, &xdg3, &format!("{}/default", server.url()), &t);
}

#[test]
fn snapshot_of_a_cache_imports_elsewhere_and_scans_the_same() {
    let t = TestDir::new();
    let (key, public) = keygen(t.path(), "dr");
    // A cache as Trivy itself leaves it after downloading everything.
    let source_cache = t.join("source-cache");
    let source_xdg = t.join("source-xdg");
    write_cache_by_hand(
        &source_cache,
        &source_xdg,
        CacheParts::ALL,
        "https://github.com/aquasecurity/vexhub",
    );
    write(&source_cache.join("fanal/fanal.db"), b"not exported");

    let bundle = t.join("snapshot.airlock");
    airlock_ok(&[
        "export",
        "-o",
        s(&bundle),
        "--sign-key",
        s(&key),
        "--from-cache",
        s(&source_cache),
        "--created",
        CREATED,
        "--label",
        "purpose=disaster-recovery",
    ]);
    let inspect = airlock_ok(&["inspect", s(&bundle), "--json"]);
    let v: serde_json::Value = serde_json::from_str(&inspect).unwrap();
    let kinds: Vec<&str> = v["manifest"]["artifact"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["trivy-db", "java-db", "checks"]);
    assert_eq!(v["manifest"]["vex"][0]["name"], "default");
    assert_eq!(v["manifest"]["labels"]["purpose"], "disaster-recovery");
    // The rebuilt layers carry metadata as published: DownloadedAt zeroed.
    assert!(v["manifest"]["payload"]
        .as_array()
        .unwrap()
        .iter()
        .all(|p| !p["path"].as_str().unwrap().contains("fanal")));

    let cache = t.join("restored");
    let xdg = t.join("xdg");
    import_ok(&bundle, &public, &cache, &[]);
    assert_eq!(
        std::fs::read(cache.join("db/trivy.db")).unwrap(),
        std::fs::read(source_cache.join("db/trivy.db")).unwrap()
    );
    assert_trivy_uses(&cache, &xdg, &t);

    // Determinism holds for snapshots too.
    let again = t.join("snapshot2.airlock");
    airlock_ok(&[
        "export",
        "-o",
        s(&again),
        "--sign-key",
        s(&key),
        "--from-cache",
        s(&source_cache),
        "--created",
        CREATED,
        "--label",
        "purpose=disaster-recovery",
    ]);
    assert_eq!(
        std::fs::read(&bundle).unwrap(),
        std::fs::read(&again).unwrap()
    );
}

#[test]
fn same_inputs_key_and_created_give_identical_bundles() {
    let t = TestDir::new();
    let inputs = write_inputs(t.path());
    let (key, _) = keygen(t.path(), "builder");
    let a = t.join("a.airlock");
    let b = t.join("b.airlock");
    export_all(&inputs, &key, &a);
    export_all(&inputs, &key, &b);
    let (a, b) = (std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    assert_eq!(
        a, b,
        "two exports with the same --created must be byte-identical"
    );
    // And a different time gives a different bundle (the test can fail).
    let c = t.join("c.airlock");
    airlock_ok(&[
        "export",
        "-o",
        s(&c),
        "--sign-key",
        s(&key),
        "--trivy-db",
        s(&inputs.db),
        "--created",
        "2026-11-26T12:00:00Z",
    ]);
    assert_ne!(std::fs::read(&c).unwrap(), a);
}

#[test]
fn standard_tools_open_the_bundle() {
    let t = TestDir::new();
    let inputs = write_inputs(t.path());
    let (key, _) = keygen(t.path(), "builder");
    let bundle = t.join("b.airlock");
    export_all(&inputs, &key, &bundle);
    let listing = run_ok(
        Command::new(tool("tar"))
            .arg("--zstd")
            .arg("-tf")
            .arg(&bundle),
    );
    let names: Vec<&str> = listing.lines().collect();
    assert_eq!(names[0], "airlock/manifest.toml");
    assert!(names[1].starts_with("airlock/signatures/") && names[1].ends_with(".minisig"));
    assert!(names.contains(&"oci/oci-layout"));
    assert!(names.contains(&"oci/index.json"));
    assert!(names.contains(&"vex/default/archive.zip"));
    // The OCI layout inside is readable by skopeo-style tooling: index → manifest → layer.
    let x = t.join("x");
    std::fs::create_dir_all(&x).unwrap();
    run_ok(
        Command::new(tool("tar"))
            .arg("--zstd")
            .arg("-xf")
            .arg(&bundle)
            .arg("-C")
            .arg(&x),
    );
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(x.join("oci/index.json")).unwrap()).unwrap();
    let refs: Vec<&str> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            m["annotations"]["org.opencontainers.image.ref.name"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(refs, ["trivy-db:2", "trivy-java-db:1", "trivy-checks:2"]);
    let m0 = index["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(x.join("oci/blobs/sha256").join(m0)).unwrap())
            .unwrap();
    assert_eq!(manifest["layers"].as_array().unwrap().len(), 1);
    assert_eq!(
        manifest["layers"][0]["mediaType"],
        "application/vnd.aquasec.trivy.db.layer.v1.tar+gzip"
    );
    assert_eq!(
        manifest["layers"][0]["annotations"]["org.opencontainers.image.title"],
        "db.tar.gz"
    );
    let layer = manifest["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:");
    assert_eq!(
        std::fs::read(x.join("oci/blobs/sha256").join(layer)).unwrap(),
        std::fs::read(&inputs.db).unwrap()
    );
    // skopeo reads the layout: each artifact copies out with its manifest
    // byte for byte and its single layer intact.
    for (name, input) in [
        ("trivy-db:2", &inputs.db),
        ("trivy-java-db:1", &inputs.java_db),
        ("trivy-checks:2", &inputs.checks),
    ] {
        let out = t.join(&format!("skopeo-{name}"));
        run_ok(
            Command::new(tool("skopeo"))
                .args(["copy", "--quiet"])
                .arg(format!("oci:{}:{name}", x.join("oci").display()))
                .arg(format!("dir:{}", out.display())),
        );
        let copied = std::fs::read(out.join("manifest.json")).unwrap();
        let m: serde_json::Value = serde_json::from_slice(&copied).unwrap();
        let digest = m["layers"][0]["digest"]
            .as_str()
            .unwrap()
            .trim_start_matches("sha256:");
        assert_eq!(
            std::fs::read(out.join(digest)).unwrap(),
            std::fs::read(input).unwrap(),
            "{name}"
        );
        let listed = index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["annotations"]["org.opencontainers.image.ref.name"] == name)
            .unwrap();
        let hex = listed["digest"]
            .as_str()
            .unwrap()
            .trim_start_matches("sha256:");
        assert_eq!(
            copied,
            std::fs::read(x.join("oci/blobs/sha256").join(hex)).unwrap(),
            "{name}"
        );
    }
}

#[test]
fn a_second_import_into_a_locked_cache_is_refused_and_changes_nothing() {
    use std::os::unix::io::AsRawFd as _;
    let t = TestDir::new();
    let Exported { public, bundle, .. } = export_fixtures(&t);
    let cache = t.join("cache");
    import_ok(&bundle, &public, &cache, &[]);
    let before = tree_hash(&cache);
    // Another import in progress holds the lock.
    let held = std::fs::File::open(cache.join(".airlock.lock")).unwrap();
    // SAFETY: flock on an open descriptor.
    assert_eq!(
        unsafe { libc::flock(held.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) },
        0
    );
    let err = import_fails(&bundle, &public, &cache, 1);
    assert!(
        err.contains("another airlock import is running on"),
        "{err}"
    );
    assert!(err.contains("wait for it to finish"), "{err}");
    assert_eq!(tree_hash(&cache), before);
    drop(held);
    import_ok(&bundle, &public, &cache, &[]);
}

#[test]
fn vex_archive_with_other_content_outside_its_folder_round_trips() {
    // Export signs totals for the whole archive, so what it accepts, import
    // accepts: many entries and a large file outside the //folder.
    let t = TestDir::new();
    let (key, public) = keygen(t.path(), "builder");
    let mut files: Vec<(String, Vec<u8>)> = vex_repo_files()
        .into_iter()
        .map(|(p, d)| (format!("{VEX_TOP_DIR}/{p}"), d))
        .collect();
    for i in 0..100 {
        files.push((format!("docs/note-{i:03}.txt"), b"x".to_vec()));
    }
    files.push(("README.md".to_string(), vec![b'r'; 2 << 20]));
    let refs: Vec<(&str, Vec<u8>)> = files.iter().map(|(p, d)| (p.as_str(), d.clone())).collect();
    let archive = t.join("vex.tar.gz");
    write(&archive, &tar_gz(&refs));
    let manifest = t.join("vex-repository.json");
    write(
        &manifest,
        vex_repository_json("https://example.com/vex.tar.gz").as_bytes(),
    );
    let bundle = t.join("b.airlock");
    airlock_ok(&[
        "export",
        "-o",
        s(&bundle),
        "--sign-key",
        s(&key),
        "--vex-manifest",
        s(&manifest),
        "--vex-archive",
        s(&archive),
    ]);
    airlock_ok(&["verify", s(&bundle), "--key", s(&public)]);
    let cache = t.join("cache");
    import_ok(&bundle, &public, &cache, &[]);
    let tree = tree_hash(&cache.join("vex/repositories/default/0.1"));
    assert!(tree.contains_key("index.json"));
    assert!(
        !tree
            .keys()
            .any(|k| k.contains("README") || k.contains("docs")),
        "{tree:?}"
    );
}

#[test]
fn links_planted_inside_the_cache_are_not_followed() {
    let t = TestDir::new();
    let Exported { public, bundle, .. } = export_fixtures(&t);
    // Someone who can write to the cache points vex/repositories elsewhere.
    let cache = t.join("cache");
    let victim = t.join("victim");
    write(&victim.join("default/keep.txt"), b"precious");
    std::fs::create_dir_all(cache.join("vex")).unwrap();
    std::os::unix::fs::symlink(&victim, cache.join("vex/repositories")).unwrap();
    let before = (tree_hash(&cache), tree_hash(&victim));
    let err = import_fails(&bundle, &public, &cache, 1);
    assert!(
        err.contains("vex/repositories is a symbolic link or not a directory"),
        "{err}"
    );
    // Only the (documented) lock file is new.
    let mut after = tree_hash(&cache);
    assert!(after.remove(".airlock.lock").is_some());
    assert_eq!((after, tree_hash(&victim)), before);
    assert!(
        !cache.join("db").exists(),
        "nothing is swapped in when one swap cannot be prepared"
    );
}

#[test]
fn a_vex_dir_overlapping_the_cache_is_refused() {
    let t = TestDir::new();
    let Exported { public, bundle, .. } = export_fixtures(&t);
    let cache = t.join("cache");
    for vex_dir in [
        cache.clone(),
        cache.join("vex/repositories"),
        t.path().to_path_buf(),
    ] {
        let err = airlock_fails(
            &[
                "import",
                s(&bundle),
                "--key",
                s(&public),
                "--cache-dir",
                s(&cache),
                "--vex-dir",
                s(&vex_dir),
            ],
            2,
        );
        assert!(err.contains("overlap"), "{err}");
    }
    assert!(!cache.exists());
}

#[test]
fn a_disk_too_small_is_refused_up_front_with_the_old_cache_intact() {
    let t = TestDir::new();
    let Some(fs) = SmallFs::mount(t.join("small"), "112k") else {
        return;
    };
    let inputs = write_inputs(t.path());
    let (key, public) = keygen(t.path(), "builder");
    let small = t.join("db-only.airlock");
    airlock_ok(&[
        "export",
        "-o",
        s(&small),
        "--sign-key",
        s(&key),
        "--trivy-db",
        s(&inputs.db),
        "--created",
        CREATED,
    ]);
    let full = t.join("full.airlock");
    export_all(&inputs, &key, &full);
    let cache = fs.path.join("cache");
    import_ok(&small, &public, &cache, &[]);
    let before = tree_hash(&cache);
    let err = import_fails(&full, &public, &cache, 1);
    // Refused up front, with the numbers, before anything is written.
    assert!(
        err.contains("not enough free space on the file system of"),
        "{err}"
    );
    assert!(
        err.contains(") are free") && err.contains("nothing was written"),
        "{err}"
    );
    assert_eq!(
        tree_hash(&cache),
        before,
        "the old cache must be intact, with no staging left"
    );
}

/// A preload library that makes renameat2 with any flag fail with EINVAL,
/// as on NFS, CIFS and some FUSE file systems.
const NO_RENAME_FLAGS_C: &str = r#"
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <sys/syscall.h>
long syscall(long number, ...) {
    va_list ap;
    va_start(ap, number);
    long args[6];
    for (int i = 0; i < 6; i++) args[i] = va_arg(ap, long);
    va_end(ap);
    if (number == SYS_renameat2 && args[4] != 0) { errno = EINVAL; return -1; }
    long (*next)(long, ...) = (long (*)(long, ...))dlsym(RTLD_NEXT, "syscall");
    return next(number, args[0], args[1], args[2], args[3], args[4], args[5]);
}
"#;

#[test]
fn a_file_system_without_atomic_exchange_still_imports() {
    let t = TestDir::new();
    let Exported {
        public,
        bundle,
        inputs,
        key,
    } = export_fixtures(&t);
    // The same content made a day later replaces it (the same bundle again
    // would change nothing: "already installed", issue 15).
    let later = t.join("later.airlock");
    let mut args = export_all_args(&inputs, &key, &later);
    let at = args.iter().position(|a| *a == CREATED).unwrap();
    args[at] = "2026-11-26T12:00:00Z";
    airlock_ok(&args);
    let src = t.join("shim.c");
    write(&src, NO_RENAME_FLAGS_C.as_bytes());
    let shim = t.join("shim.so");
    run_ok(
        Command::new(tool("cc"))
            .args(["-shared", "-fPIC", "-o"])
            .arg(&shim)
            .arg(&src)
            .arg("-ldl"),
    );
    let cache = t.join("cache");
    for (round, bundle) in [("new", &bundle), ("replaced", &later)] {
        let out = Command::new(airlock_bin())
            .args([
                "import",
                s(bundle),
                "--key",
                s(&public),
                "--cache-dir",
                s(&cache),
            ])
            .env("LD_PRELOAD", &shim)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{round}: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains(&format!("db ({round})")), "{stdout}");
        assert_eq!(
            std::fs::read(cache.join("db/trivy.db")).unwrap(),
            trivy_db(2)
        );
    }
    assert_no_leftovers(&cache, ".airlock-staging");
}

#[test]
fn the_jar_finding_comes_through_the_java_db_that_airlock_carried() {
    // The same transfer with a Java DB that does not list the jar's SHA-1:
    // the jar's CVE disappears, so the full transfer's finding really comes
    // from the carried Java DB (the jar has no other identifying metadata).
    let t = TestDir::new();
    let inputs = write_inputs(t.path());
    let (key, public) = keygen(t.path(), "builder");
    let db_file = t.join("no-jar/trivy-java.db");
    std::fs::create_dir_all(db_file.parent().unwrap()).unwrap();
    java_db_without_jar(&db_file);
    let javadb = t.join("javadb-without-jar.tar.gz");
    write(
        &javadb,
        &tar_gz(&[
            (
                "metadata.json",
                db_metadata_json(1, UPDATED_AT, NEXT_UPDATE).into_bytes(),
            ),
            ("trivy-java.db", std::fs::read(&db_file).unwrap()),
        ]),
    );
    let bundle = t.join("b.airlock");
    airlock_ok(&[
        "export",
        "-o",
        s(&bundle),
        "--sign-key",
        s(&key),
        "--trivy-db",
        s(&inputs.db),
        "--java-db",
        s(&javadb),
        "--created",
        CREATED,
    ]);
    let cache = t.join("cache");
    import_ok(&bundle, &public, &cache, &[]);
    let rootfs = t.join("rootfs");
    write_alpine_rootfs(&rootfs);
    assert_eq!(
        rootfs_vuln_ids(&cache, &t.join("xdg"), &rootfs, &[]),
        sorted(vec![ZLIB_CVES[0], ZLIB_CVES[1]])
    );
}

#[test]
fn rollback_puts_back_what_the_last_import_replaced_and_can_be_undone() {
    let t = TestDir::new();
    let inputs = write_inputs(t.path());
    let (key, public) = keygen(t.path(), "builder");
    let export_db = |name: &str, updated: &str, next: &str| {
        let input = t.join(&format!("{name}.tar.gz"));
        write(&input, &trivy_db_tar_gz(2, updated, next));
        let bundle = t.join(&format!("{name}.airlock"));
        airlock_ok(&[
            "export",
            "-o",
            s(&bundle),
            "--sign-key",
            s(&key),
            "--trivy-db",
            s(&input),
            "--created",
            CREATED,
        ]);
        bundle
    };
    let updated_at = |cache: &std::path::Path| -> String {
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(cache.join("db/metadata.json")).unwrap())
                .unwrap();
        v["UpdatedAt"].as_str().unwrap().to_string()
    };
    let cache = t.join("cache");
    let err = airlock_fails(&["rollback", "--cache-dir", s(&cache)], 1);
    assert!(err.contains("no previous generation"), "{err}");

    let first = export_db("monday", "2026-11-23T00:00:00Z", "2026-11-24T00:00:00Z");
    let second = export_db("tuesday", "2026-11-24T00:00:00Z", "2026-11-25T00:00:00Z");
    let full = t.join("full.airlock");
    export_all(&inputs, &key, &full);
    import_ok(&full, &public, &cache, &[]);
    import_ok(&first, &public, &cache, &[]);
    import_ok(&second, &public, &cache, &[]);
    assert_eq!(updated_at(&cache), "2026-11-24T00:00:00Z");
    // status names what is installed and what the kept generation costs.
    let st: serde_json::Value =
        serde_json::from_str(&airlock_ok(&["status", "--cache-dir", s(&cache), "--json"])).unwrap();
    let db = st["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["path"] == "db")
        .unwrap();
    assert_eq!(db["metadata"]["UpdatedAt"], "2026-11-24T00:00:00Z");
    let kept = db["previous_bytes"].as_u64().unwrap();
    assert!(kept > 40_000, "the previous trivy.db and metadata: {kept}");
    assert_eq!(st["previous_bytes"].as_u64().unwrap(), kept);

    // Only the component the last import replaced comes back.
    let out = airlock_ok(&["rollback", "--cache-dir", s(&cache), "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["restored"], serde_json::json!(["db"]));
    assert_eq!(updated_at(&cache), "2026-11-23T00:00:00Z");
    assert!(cache.join("java-db/trivy-java.db").is_file());
    // Trivy scans with the rolled-back cache.
    let rootfs = t.join("rootfs");
    write_alpine_rootfs(&rootfs);
    assert_eq!(
        rootfs_vuln_ids(&cache, &t.join("xdg"), &rootfs, &[]),
        all_cves()
    );
    // A second rollback undoes the first.
    airlock_ok(&["rollback", "--cache-dir", s(&cache)]);
    assert_eq!(updated_at(&cache), "2026-11-24T00:00:00Z");

    // A link planted as the previous generation is neither sized nor used.
    std::fs::remove_dir_all(cache.join(".airlock-previous")).unwrap();
    std::os::unix::fs::symlink("/usr", cache.join(".airlock-previous")).unwrap();
    let st: serde_json::Value =
        serde_json::from_str(&airlock_ok(&["status", "--cache-dir", s(&cache), "--json"])).unwrap();
    assert_eq!(st["previous_bytes"], 0);
    let err = airlock_fails(&["rollback", "--cache-dir", s(&cache)], 1);
    assert!(err.contains("no previous generation"), "{err}");
}
