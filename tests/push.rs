//! `import --push`: the databases and checks go into a real registry
//! (Debian's docker-registry), byte for byte, and the real Trivy 0.76
//! downloads from it — by flags, and through trivy.yaml `registry.mirrors`.

use std::path::Path;
use std::process::Command;

use crate::support::fixtures::*;
use crate::support::registry::{Registry, PASSWORD, USER};
use crate::support::trivy::*;
use crate::support::*;

/// The manifest digests the bundle records, by repository name.
fn bundle_digests(bundle: &Path, public: &Path) -> Vec<(String, String, String)> {
    let v: serde_json::Value = serde_json::from_str(&airlock_ok(&[
        "inspect",
        s(bundle),
        "--key",
        s(public),
        "--json",
    ]))
    .unwrap();
    v["manifest"]["artifact"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["repository"].as_str().unwrap().to_string(),
                a["tag"].as_str().unwrap().to_string(),
                a["manifest_digest"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    format!("{:x}", sha2::Sha256::digest(bytes))
}

/// The registry serves exactly the manifests the bundle recorded.
fn assert_same_manifests(reg: &Registry, prefix: &str, bundle: &Path, public: &Path) {
    let digests = bundle_digests(bundle, public);
    assert_eq!(digests.len(), 3);
    for (repo, tag, digest) in digests {
        let raw = reg.raw_manifest(&format!("{prefix}/{repo}:{tag}"));
        assert_eq!(
            format!("sha256:{}", sha256_hex(&raw)),
            digest,
            "{repo}:{tag}"
        );
    }
}

/// Every blob of an `import --push --json` report.
fn pushed_blobs(json: &str) -> Vec<serde_json::Value> {
    let v: serde_json::Value = serde_json::from_str(json).unwrap();
    v["push"]["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|a| a["blobs"].as_array().unwrap().clone())
        .collect()
}

fn all_cves() -> Vec<String> {
    let mut v = vec![
        ZLIB_CVES[0].to_string(),
        ZLIB_CVES[1].to_string(),
        JAR_CVE.to_string(),
    ];
    v.sort();
    v
}

/// Trivy downloads all three artifacts from `host/prefix` into `cache`
/// (with `env` for TLS and credentials), then scans with that cache.
fn trivy_downloads_and_scans(t: &TestDir, cache: &Path, repo: &str, env: &[(&str, &str)]) {
    let xdg = t.join("xdg");
    let run = |args: Vec<String>| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = trivy_with_env(cache, &xdg, &args, env);
        assert!(
            out.status.success(),
            "trivy {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(vec![
        "image".into(),
        "--download-db-only".into(),
        "--db-repository".into(),
        format!("{repo}/trivy-db:2"),
    ]);
    run(vec![
        "image".into(),
        "--download-java-db-only".into(),
        "--java-db-repository".into(),
        format!("{repo}/trivy-java-db:1"),
    ]);
    assert!(cache.join("db/trivy.db").is_file() && cache.join("java-db/trivy-java.db").is_file());
    let rootfs = t.join("rootfs");
    if !rootfs.exists() {
        write_alpine_rootfs(&rootfs);
        write_config_project(&t.join("project"));
    }
    assert_eq!(rootfs_vuln_ids(cache, &xdg, &rootfs, &[]), all_cves());
    // The checks bundle, fetched by a config scan from the registry.
    let out = trivy_with_env(
        cache,
        &xdg,
        &[
            "config",
            "-f",
            "json",
            "--checks-bundle-repository",
            &format!("{repo}/trivy-checks:2"),
            s(&t.join("project")),
        ],
        env,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(misconfig_ids(&report), [SENTINEL_CHECK_ID]);
}

#[test]
fn push_to_a_plain_registry_then_trivy_downloads_by_flags_and_by_mirror() {
    let t = TestDir::new();
    let ex = export_fixtures(&t);
    let reg = Registry::plain(&t.join("registry"));
    let target = format!("{}/aquasec", reg.host());
    let cache = t.join("cache");
    let out = import_ok(&ex.bundle, &ex.public, &cache, &["--push", &target]);
    assert!(
        out.contains(&format!("--db-repository {target}/trivy-db:2")),
        "{out}"
    );
    assert!(
        out.contains("registry:\n    mirrors:\n      mirror.gcr.io:"),
        "{out}"
    );
    assert!(
        cache.join("db/trivy.db").is_file(),
        "the cache import happened too"
    );
    assert_same_manifests(&reg, "aquasec", &ex.bundle, &ex.public);

    trivy_downloads_and_scans(&t, &t.join("fleet-cache"), &target, &[]);

    // Without any repository flag: trivy.yaml maps mirror.gcr.io here.
    let conf = t.join("trivy.yaml");
    write(
        &conf,
        format!(
            "registry:\n  mirrors:\n    mirror.gcr.io:\n      - {}\n",
            reg.host()
        )
        .as_bytes(),
    );
    let mirror_cache = t.join("mirror-cache");
    let xdg = t.join("xdg");
    for what in ["--download-db-only", "--download-java-db-only"] {
        let out = trivy(&mirror_cache, &xdg, &["image", what, "--config", s(&conf)]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{err}");
        assert!(err.contains("Using the mirror registry"), "{err}");
    }
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(mirror_cache.join("db/metadata.json")).unwrap())
            .unwrap();
    assert_eq!(meta["UpdatedAt"], UPDATED_AT);

    // Again, push only: everything is there, nothing is sent.
    let out = airlock_ok(&[
        "import",
        s(&ex.bundle),
        "--key",
        s(&ex.public),
        "--push",
        &target,
        "--json",
    ]);
    let blobs = pushed_blobs(&out);
    assert_eq!(blobs.len(), 6);
    assert!(blobs.iter().all(|b| b["skipped"] == true), "{out}");
}

#[test]
fn push_with_basic_auth_over_tls_with_a_private_ca() {
    let t = TestDir::new();
    let ex = export_fixtures(&t);
    let reg = Registry::tls_with_auth(&t.join("registry"));
    let ca = reg.ca.clone().unwrap();
    let target = format!("{}/security", reg.host());
    let push = |extra: &[&str], stdin: &str| {
        let mut cmd = Command::new(airlock_bin());
        cmd.args([
            "import",
            s(&ex.bundle),
            "--key",
            s(&ex.public),
            "--push",
            &target,
        ])
        .args(extra)
        .env_remove("TRIVY_USERNAME")
        .env_remove("TRIVY_PASSWORD")
        .env("DOCKER_CONFIG", t.join("no-docker-config"));
        output_with_stdin(&mut cmd, stdin)
    };
    // The private CA is not trusted by default.
    let out = push(&[], "");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("cannot reach the registry") && err.contains("--ca-cert"),
        "{err}"
    );
    // Trusted, but no credentials: refused by the registry.
    let out = push(&["--ca-cert", s(&ca)], "");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("refused the credentials (anonymous)"), "{err}");
    // A wrong password is refused too.
    let out = push(
        &["--ca-cert", s(&ca), "--username", USER, "--password-stdin"],
        "wrong\n",
    );
    assert_eq!(out.status.code(), Some(1));
    // The right ones, from stdin.
    let out = push(
        &["--ca-cert", s(&ca), "--username", USER, "--password-stdin"],
        &format!("{PASSWORD}\n"),
    );
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("pushed into https://{}", reg.host())),
        "{text}"
    );
    assert!(text.contains("push to a path ending in /aquasec"), "{text}");
    assert_same_manifests(&reg, "security", &ex.bundle, &ex.public);

    // The same credentials from a Docker config: an `auths` entry, then a
    // credential helper (a script on PATH, as docker-credential-* are).
    use base64::Engine as _;
    let docker = t.join("docker");
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
    write(
        &docker.join("config.json"),
        format!(r#"{{"auths":{{"{}":{{"auth":"{auth}"}}}}}}"#, reg.host()).as_bytes(),
    );
    let bin = t.join("bin");
    write(
        &bin.join("docker-credential-airlocktest"),
        format!(
            "#!/bin/sh\nread host\n[ \"$host\" = \"{}\" ] || exit 1\nprintf '{{\"Username\":\"{USER}\",\"Secret\":\"{PASSWORD}\"}}'\n",
            reg.host()
        )
        .as_bytes(),
    );
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(
        bin.join("docker-credential-airlocktest"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let helper = t.join("docker-helper");
    write(
        &helper.join("config.json"),
        format!(r#"{{"credHelpers":{{"{}":"airlocktest"}}}}"#, reg.host()).as_bytes(),
    );
    let path = format!("{}:{}", s(&bin), std::env::var("PATH").unwrap_or_default());
    for config in [&docker, &helper] {
        let out = Command::new(airlock_bin())
            .args([
                "import",
                s(&ex.bundle),
                "--key",
                s(&ex.public),
                "--push",
                &target,
            ])
            .args(["--ca-cert", s(&ca)])
            .env_remove("TRIVY_USERNAME")
            .env_remove("TRIVY_PASSWORD")
            .env("DOCKER_CONFIG", config)
            .env("PATH", &path)
            .output()
            .unwrap();
        assert!(out.status.success(), "{config:?}: {out:?}");
        assert!(String::from_utf8_lossy(&out.stdout).contains("already there, skipped"));
    }

    // Trivy, trusting the same CA, with the same credentials.
    trivy_downloads_and_scans(
        &t,
        &t.join("fleet-cache"),
        &target,
        &[
            ("SSL_CERT_FILE", s(&ca)),
            ("TRIVY_USERNAME", USER),
            ("TRIVY_PASSWORD", PASSWORD),
        ],
    );
}

/// Driven by the crash points of `src/fault.rs`: compiled only with
/// `--features fault-injection` (tests/crash.rs fails a CI run without it).
#[cfg(feature = "fault-injection")]
#[test]
fn a_push_interrupted_by_a_registry_crash_completes_on_the_next_run() {
    use std::process::Stdio;
    use std::time::{Duration, Instant};
    let t = TestDir::new();
    let inputs = write_inputs(t.path());
    write(
        &inputs.java_db,
        &java_db_tar_gz_padded(UPDATED_AT, NEXT_UPDATE, 4 << 20),
    );
    let (key, public) = keygen(t.path(), "builder");
    let bundle = t.join("b.airlock");
    export_all(&inputs, &key, &bundle);
    let mut reg = Registry::plain(&t.join("registry"));
    let target = format!("{}/aquasec", reg.host());

    // Pause after the first blob went up, kill the registry, let airlock go on.
    let pause = t.join("paused");
    let mut child = Command::new(airlock_bin())
        .args(["import", s(&bundle), "--key", s(&public), "--push", &target])
        .env("AIRLOCK_FAULT_PAUSE", "all")
        .env("AIRLOCK_FAULT_PAUSE_FILE", &pause)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let mut killed = false;
    loop {
        if let Ok(text) = std::fs::read_to_string(&pause) {
            if !killed && text.trim().ends_with("blob pushed") {
                reg.kill();
                killed = true;
            }
            std::fs::remove_file(&pause).unwrap();
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "push hung");
        std::thread::sleep(Duration::from_millis(5));
    }
    let out = child.wait_with_output().unwrap();
    assert!(killed, "no blob was pushed: {out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("127.0.0.1"), "{err}");

    // The registry comes back; the same command completes and skips what
    // arrived before the crash.
    reg.restart();
    let out = airlock_ok(&[
        "import",
        s(&bundle),
        "--key",
        s(&public),
        "--push",
        &target,
        "--json",
    ]);
    let blobs = pushed_blobs(&out);
    let skipped = blobs.iter().filter(|b| b["skipped"] == true).count();
    assert!(skipped >= 1 && skipped < blobs.len(), "{out}");
    assert_same_manifests(&reg, "aquasec", &bundle, &public);
    let text = airlock_ok(&["import", s(&bundle), "--key", s(&public), "--push", &target]);
    assert!(text.contains("already there, skipped"), "{text}");
    trivy_downloads_and_scans(&t, &t.join("fleet-cache"), &target, &[]);
}

#[test]
fn push_and_export_with_a_bearer_token_registry() {
    let t = TestDir::new();
    let ex = export_fixtures(&t);
    let reg = Registry::with_token_auth(&t.join("registry"));
    let target = format!("{}/aquasec", reg.host());
    let push = |password: &str| {
        let mut cmd = Command::new(airlock_bin());
        cmd.args([
            "import",
            s(&ex.bundle),
            "--key",
            s(&ex.public),
            "--push",
            &target,
        ])
        .args(["--username", USER, "--password-stdin"])
        // Credentials go over plain http only to a registry named so.
        .args(["--plain-http", &reg.host()])
        .env("DOCKER_CONFIG", t.join("no-docker-config"));
        output_with_stdin(&mut cmd, &format!("{password}\n"))
    };
    // The token service refuses a wrong password.
    let out = push("wrong");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("refused the credentials (user name and password)"),
        "{err}"
    );
    // The right one: a token per repository, and everything arrives.
    let out = push(PASSWORD);
    assert!(out.status.success(), "{out:?}");
    assert_same_manifests(&reg, "aquasec", &ex.bundle, &ex.public);

    // Export from it, the credentials from Trivy's variables.
    let again = t.join("again.airlock");
    let out = Command::new(airlock_bin())
        .args(["export", "-o", s(&again), "--sign-key", s(&ex.key)])
        .args(["--trivy-db", &format!("{target}/trivy-db:2")])
        .args(["--java-db", &format!("{target}/trivy-java-db:1")])
        .args(["--checks", &format!("{target}/trivy-checks:2")])
        .args(["--plain-http", &reg.host()])
        .env("TRIVY_USERNAME", USER)
        .env("TRIVY_PASSWORD", PASSWORD)
        .env("DOCKER_CONFIG", t.join("no-docker-config"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let digests = |b: &Path| -> Vec<String> {
        bundle_digests(b, &ex.public)
            .into_iter()
            .map(|(_, _, d)| d)
            .collect()
    };
    assert_eq!(digests(&again), digests(&ex.bundle));
    // An identity token in the Docker config (what `docker login` keeps for
    // ACR and the like) is exchanged for access tokens.
    let docker = t.join("docker");
    write(
        &docker.join("config.json"),
        format!(
            r#"{{"auths":{{"{}":{{"identitytoken":"idt-{PASSWORD}"}}}}}}"#,
            reg.host()
        )
        .as_bytes(),
    );
    let out = Command::new(airlock_bin())
        .args([
            "import",
            s(&ex.bundle),
            "--key",
            s(&ex.public),
            "--push",
            &target,
        ])
        .args(["--plain-http", &reg.host()])
        .env_remove("TRIVY_USERNAME")
        .env_remove("TRIVY_PASSWORD")
        .env("DOCKER_CONFIG", &docker)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("already there, skipped"));
    // (Trivy 0.76 itself refuses a token realm on a loopback or private
    // address, "invalid realm in www-authenticate", so it cannot be the
    // client here; the basic-auth test above has it download.)
}
