//! Export straight from OCI registries and a VEX server: a real
//! docker-registry seeded by skopeo (never by airlock's own push), fallback
//! across repositories, a registry that serves corrupt bytes, credentials,
//! a VEX repository under `.well-known`, and the memory of a 512 MiB export.

use std::io::Write as _;
use std::path::Path;
use std::process::Command;

use crate::support::fixtures::*;
use crate::support::registry::{Registry, PASSWORD, USER};
use crate::support::trivy::*;
use crate::support::*;

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    format!("{:x}", sha2::Sha256::digest(bytes))
}

/// What `oras push --artifact-type ...` publishes for a Trivy artifact: an
/// OCI layout with the empty config and one titled layer, copied into
/// `reg` as `reference` by skopeo. Returns the manifest digest.
fn seed(dir: &Path, reg: &Registry, reference: &str, layer: &Path, annotations: &str) -> String {
    let kind = reference
        .rsplit('/')
        .next()
        .unwrap()
        .split(':')
        .next()
        .unwrap();
    let (layer_type, artifact_type, title) = match kind {
        "trivy-db" => (
            "application/vnd.aquasec.trivy.db.layer.v1.tar+gzip",
            "application/vnd.aquasec.trivy.config.v1+json",
            "db.tar.gz",
        ),
        "trivy-java-db" => (
            "application/vnd.aquasec.trivy.javadb.layer.v1.tar+gzip",
            "application/vnd.aquasec.trivy.config.v1+json",
            "javadb.tar.gz",
        ),
        _ => (
            "application/vnd.cncf.openpolicyagent.layer.v1.tar+gzip",
            "application/vnd.cncf.openpolicyagent.config.v1+json",
            "bundle.tar.gz",
        ),
    };
    let layout = dir.join(format!("layout-{}", reference.replace(['/', ':'], "_")));
    let blobs = layout.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let (lsha, lsize) = {
        let mut h = crate::support::Hasher::new();
        let size = std::io::copy(&mut std::fs::File::open(layer).unwrap(), &mut h).unwrap();
        (h.hex(), size)
    };
    std::fs::copy(layer, blobs.join(&lsha)).unwrap();
    let config = b"{}";
    write(&blobs.join(sha256_hex(config)), config);
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"{artifact_type}","config":{{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:{}","size":2}},"layers":[{{"mediaType":"{layer_type}","digest":"sha256:{lsha}","size":{lsize},"annotations":{{"org.opencontainers.image.title":"{title}"}}}}]{annotations}}}"#,
        sha256_hex(config)
    );
    let msha = sha256_hex(manifest.as_bytes());
    write(&blobs.join(&msha), manifest.as_bytes());
    write(
        &layout.join("index.json"),
        format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:{msha}","size":{}}}]}}"#,
            manifest.len()
        )
        .as_bytes(),
    );
    write(
        &layout.join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    );
    let mut cmd = Command::new(tool("skopeo"));
    cmd.args(["copy", "--preserve-digests", "--quiet"]);
    match &reg.ca {
        Some(ca) => {
            cmd.arg("--dest-cert-dir")
                .arg(ca.parent().unwrap().join("certs"));
            cmd.args(["--dest-creds", &format!("{USER}:{PASSWORD}")]);
        }
        None => {
            cmd.arg("--dest-tls-verify=false");
        }
    }
    cmd.arg(format!("oci:{}", s(&layout)))
        .arg(format!("docker://{}/{reference}", reg.host()));
    run_ok(&mut cmd);
    format!("sha256:{msha}")
}

/// Seeds the three fixture artifacts under `prefix`; returns their manifest
/// digests (db, java-db, checks).
pub(crate) fn seed_fixtures(t: &TestDir, reg: &Registry, prefix: &str) -> [String; 3] {
    let inputs = write_inputs(t.path());
    [
        seed(
            t.path(),
            reg,
            &format!("{prefix}/trivy-db:2"),
            &inputs.db,
            "",
        ),
        seed(
            t.path(),
            reg,
            &format!("{prefix}/trivy-java-db:1"),
            &inputs.java_db,
            "",
        ),
        seed(
            t.path(),
            reg,
            &format!("{prefix}/trivy-checks:2"),
            &inputs.checks,
            r#","annotations":{"org.opencontainers.image.version":"2.0.0"}"#,
        ),
    ]
}

fn refs(reg: &Registry, prefix: &str) -> Vec<String> {
    vec![
        "--trivy-db".into(),
        format!("{}/{prefix}/trivy-db:2", reg.host()),
        "--java-db".into(),
        format!("{}/{prefix}/trivy-java-db:1", reg.host()),
        "--checks".into(),
        format!("{}/{prefix}/trivy-checks:2", reg.host()),
    ]
}

fn export_cmd(out: &Path, key: &Path, extra: &[String]) -> Command {
    let mut cmd = Command::new(airlock_bin());
    cmd.args(["export", "-o", s(out), "--sign-key", s(key)])
        .args(extra)
        .env_remove("TRIVY_USERNAME")
        .env_remove("TRIVY_PASSWORD")
        .env("DOCKER_CONFIG", out.with_extension("no-docker-config"));
    cmd
}

#[test]
fn export_from_a_registry_and_a_vex_server_then_import_and_scan() {
    let t = TestDir::new();
    let reg = Registry::plain(&t.join("registry"));
    let digests = seed_fixtures(&t, &reg, "upstream");
    // A VEX repository served under .well-known by a static web server.
    let site = t.join("site");
    write(&site.join("vex/archive.zip"), &vex_archive_zip());
    let server = HttpServer::serve(&site);
    write(
        &site.join("vex/.well-known/vex-repository.json"),
        vex_repository_json(&format!("{}/vex/archive.zip", server.url())).as_bytes(),
    );
    let (key, public) = keygen(t.path(), "builder");
    let bundle = t.join("b.airlock");
    let mut extra = refs(&reg, "upstream");
    extra.extend(["--vex-repo".into(), format!("{}/vex", server.url())]);
    let out = export_cmd(&bundle, &key, &extra).output().unwrap();
    assert!(out.status.success(), "{out:?}");

    // The bundle holds the registry's manifests, byte for byte.
    let v: serde_json::Value = serde_json::from_str(&airlock_ok(&[
        "inspect",
        s(&bundle),
        "--key",
        s(&public),
        "--json",
    ]))
    .unwrap();
    let arts = v["manifest"]["artifact"].as_array().unwrap();
    for (a, d) in arts.iter().zip(&digests) {
        assert_eq!(a["manifest_digest"].as_str().unwrap(), d);
        assert!(a["reference"].as_str().unwrap().starts_with(&reg.host()));
        assert!(a["fetched_at"].as_str().unwrap().starts_with("20"));
    }
    assert_eq!(arts[2]["checks"]["version"], "2.0.0");
    let tar = bundle_tar(&bundle);
    for d in &digests {
        let (o, l) = tar_entry_offset(&tar, &format!("oci/blobs/sha256/{}", &d[7..]));
        assert_eq!(
            format!("sha256:{}", sha256_hex(&tar[o..o + l as usize])),
            *d
        );
    }
    assert_eq!(v["manifest"]["vex"][0]["name"], "default");

    // Import and scan: the fixture CVEs, the VEX statement applied.
    let cache = t.join("cache");
    import_ok(&bundle, &public, &cache, &[]);
    let rootfs = t.join("rootfs");
    write_alpine_rootfs(&rootfs);
    let xdg = t.join("xdg");
    let mut want = vec![ZLIB_CVES[0].to_string(), JAR_CVE.to_string()];
    want.sort();
    assert_eq!(
        rootfs_vuln_ids(&cache, &xdg, &rootfs, &["--vex", "repo"]),
        want
    );
    drop(server);
}

#[test]
fn fallback_across_repositories_and_a_registry_serving_corrupt_bytes() {
    let t = TestDir::new();
    let reg = Registry::plain(&t.join("registry"));
    let digests = seed_fixtures(&t, &reg, "good");
    let (key, public) = keygen(t.path(), "builder");
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let bundle = t.join("b.airlock");
    let extra: Vec<String> = vec![
        "--trivy-db".into(),
        format!("127.0.0.1:{closed}/down/trivy-db:2"),
        "--trivy-db".into(),
        format!("{}/missing/trivy-db:2", reg.host()),
        "--trivy-db".into(),
        format!("{}/good/trivy-db:2", reg.host()),
    ];
    let out = export_cmd(&bundle, &key, &extra).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!(
            "skipped 127.0.0.1:{closed}/down/trivy-db:2: cannot reach the registry"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("skipped {}/missing/trivy-db:2:", reg.host()))
            && text.contains("answered 404"),
        "{text}"
    );
    airlock_ok(&["verify", s(&bundle), "--key", s(&public)]);

    // Corrupt the stored layer of trivy-db: the registry serves it anyway.
    let layer_digest = {
        let v: serde_json::Value =
            serde_json::from_slice(&reg.raw_manifest("good/trivy-db:2")).unwrap();
        v["layers"][0]["digest"].as_str().unwrap().to_string()
    };
    let hex = &layer_digest[7..];
    let data = t
        .join("registry/storage/docker/registry/v2/blobs/sha256")
        .join(&hex[..2])
        .join(hex)
        .join("data");
    let mut bytes = std::fs::read(&data).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    std::fs::write(&data, bytes).unwrap();
    let bad = t.join("out/bad.airlock");
    std::fs::create_dir_all(bad.parent().unwrap()).unwrap();
    let out = export_cmd(
        &bad,
        &key,
        &[
            "--trivy-db".into(),
            format!("{}/good/trivy-db:2", reg.host()),
        ],
    )
    .output()
    .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains(&format!("the blob {layer_digest}")) && err.contains("with digest sha256:"),
        "{err}"
    );
    let left: Vec<_> = std::fs::read_dir(bad.parent().unwrap()).unwrap().collect();
    assert!(left.is_empty(), "a failed export leaves nothing: {left:?}");
    let _ = digests;
}

#[test]
fn an_authenticated_registry_needs_credentials_from_docker_config_or_stdin() {
    let t = TestDir::new();
    let reg = Registry::tls_with_auth(&t.join("registry"));
    seed_fixtures(&t, &reg, "secure");
    let ca = reg.ca.clone().unwrap();
    let (key, _) = keygen(t.path(), "builder");
    let mut base = refs(&reg, "secure");
    base.extend(["--ca-cert".into(), s(&ca).to_string()]);

    // No credentials: a clear refusal, no bundle.
    let none = t.join("none.airlock");
    let out = export_cmd(&none, &key, &base).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0));
    assert!(err.contains("refused the credentials (anonymous)"), "{err}");
    assert!(!none.exists());

    // From a Docker config.
    use base64::Engine as _;
    let docker = t.join("docker");
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
    write(
        &docker.join("config.json"),
        format!(r#"{{"auths":{{"{}":{{"auth":"{auth}"}}}}}}"#, reg.host()).as_bytes(),
    );
    let b1 = t.join("b1.airlock");
    let out = export_cmd(&b1, &key, &base)
        .env("DOCKER_CONFIG", &docker)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");

    // From --username and --password-stdin.
    let b2 = t.join("b2.airlock");
    let mut extra = base.clone();
    extra.extend(["--username".into(), USER.into(), "--password-stdin".into()]);
    let out = output_with_stdin(&mut export_cmd(&b2, &key, &extra), &format!("{PASSWORD}\n"));
    assert!(out.status.success(), "{out:?}");
    // Both bundles hold the same artifacts.
    let digests = |b: &Path| {
        let v: serde_json::Value =
            serde_json::from_str(&airlock_ok(&["inspect", s(b), "--json"])).unwrap();
        v["manifest"]["artifact"].clone()
    };
    assert_eq!(
        digests(&b1)[0]["manifest_digest"],
        digests(&b2)[0]["manifest_digest"]
    );
}

/// A db.tar.gz whose trivy.db is `size` bytes: the fixture database's
/// pages, then noise in pages no bucket points to (a valid bbolt file),
/// written as it is generated.
fn big_db_layer(path: &Path, size: u64) {
    let f = std::fs::File::create(path).unwrap();
    let gz = flate2::write::GzEncoder::new(std::io::BufWriter::new(f), flate2::Compression::fast());
    let mut tb = tar::Builder::new(gz);
    let meta = db_metadata_json(2, UPDATED_AT, NEXT_UPDATE);
    let mut h = tar::Header::new_gnu();
    h.set_size(meta.len() as u64);
    h.set_mode(0o644);
    h.set_mtime(FIXED_MTIME);
    tb.append_data(&mut h, "metadata.json", meta.as_bytes())
        .unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_size(size);
    h.set_mode(0o644);
    h.set_mtime(FIXED_MTIME);
    struct Noise(u64, u64);
    impl std::io::Read for Noise {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = buf.len().min(self.1 as usize) & !7;
            let n = if n == 0 {
                (self.1 as usize).min(buf.len())
            } else {
                n
            };
            for chunk in buf[..n].chunks_mut(8) {
                self.0 ^= self.0 << 13;
                self.0 ^= self.0 >> 7;
                self.0 ^= self.0 << 17;
                let b = self.0.to_le_bytes();
                chunk.copy_from_slice(&b[..chunk.len()]);
            }
            self.1 -= n as u64;
            Ok(n)
        }
    }
    let head = trivy_db_head_for(size);
    let noise = Noise(0x9e37_79b9_7f4a_7c15, size - head.len() as u64);
    tb.append_data(&mut h, "trivy.db", std::io::Read::chain(&head[..], noise))
        .unwrap();
    tb.into_inner().unwrap().finish().unwrap().flush().unwrap();
}

#[test]
fn exporting_a_512_mib_layer_from_a_registry_keeps_memory_flat() {
    let t = TestDir::new();
    let reg = Registry::plain(&t.join("registry"));
    let layer = t.join("db.tar.gz");
    big_db_layer(&layer, 512 << 20);
    let size = std::fs::metadata(&layer).unwrap().len();
    assert!(size >= 512 << 20, "{size}");
    let digest = seed(t.path(), &reg, "big/trivy-db:2", &layer, "");
    let (key, public) = keygen(t.path(), "builder");
    let bundle = t.join("big.airlock");
    let out = Command::new(tool("time"))
        .arg("-v")
        .arg(airlock_bin())
        .args(["export", "-o", s(&bundle), "--sign-key", s(&key), "--quiet"])
        .args(["--trivy-db", &format!("{}/big/trivy-db:2", reg.host())])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let rss_kib: u64 = err
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("Maximum resident set size (kbytes): ")
        })
        .unwrap()
        .parse()
        .unwrap();
    eprintln!("export of a {size}-byte layer from the registry: peak RSS {rss_kib} KiB");
    assert!(rss_kib < 64 * 1024, "peak RSS {rss_kib} KiB");
    let v: serde_json::Value = serde_json::from_str(&airlock_ok(&[
        "inspect",
        s(&bundle),
        "--key",
        s(&public),
        "--json",
    ]))
    .unwrap();
    assert_eq!(v["manifest"]["artifact"][0]["manifest_digest"], digest);
}

#[test]
fn the_shipped_export_profile_runs_against_local_mirrors() {
    let t = TestDir::new();
    let reg = Registry::plain(&t.join("registry"));
    seed_fixtures(&t, &reg, "aquasec");
    let site = t.join("site");
    write(&site.join("vex/archive.zip"), &vex_archive_zip());
    let server = HttpServer::serve(&site);
    write(
        &site.join("vex/.well-known/vex-repository.json"),
        vex_repository_json(&format!("{}/vex/archive.zip", server.url())).as_bytes(),
    );
    // The shipped profile, its upstream hosts pointed at the test's servers.
    let example =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/export.toml"))
            .unwrap();
    let profile_text = example
        .replace("mirror.gcr.io/aquasec", &format!("{}/aquasec", reg.host()))
        .replace(
            "https://github.com/aquasecurity/vexhub",
            &format!("{}/vex", server.url()),
        );
    assert_ne!(profile_text, example);
    let dir = t.join("transfer");
    write(&dir.join("export.toml"), profile_text.as_bytes());
    std::fs::create_dir_all(dir.join("keys")).unwrap();
    let (key, public) = keygen(&dir.join("keys"), "builder");
    assert!(key.ends_with("keys/builder.key"));
    std::fs::create_dir_all(dir.join("transfers")).unwrap();
    let out = airlock_ok(&["export", "--profile", s(&dir.join("export.toml"))]);
    // ghcr.io is not reachable here: the first repository of each served.
    assert!(out.contains("split into 1 part ("), "{out}");
    let today = {
        let now = time::OffsetDateTime::now_utc();
        format!(
            "{:04}-{:02}-{:02}",
            now.year(),
            now.month() as u8,
            now.day()
        )
    };
    let name = format!("trivy-{today}.airlock");
    let part = dir.join("transfers").join(format!("{name}.001"));
    assert!(part.is_file(), "{out}");
    run_ok(
        Command::new("sha256sum")
            .args(["-c", &format!("{name}.sha256sums")])
            .current_dir(dir.join("transfers")),
    );
    let seq = std::fs::read_to_string(dir.join("transfers/monthly.seq")).unwrap();
    assert!(
        seq.contains("sequence = 1") && seq.contains("series = \"monthly\""),
        "{seq}"
    );
    let v: serde_json::Value = serde_json::from_str(&airlock_ok(&[
        "inspect",
        s(&part),
        "--key",
        s(&public),
        "--json",
    ]))
    .unwrap();
    assert_eq!(
        v["manifest"]["labels"]["purpose"],
        "monthly Trivy data transfer"
    );
    assert_eq!(v["manifest"]["sequence"], 1);
    assert_eq!(v["manifest"]["artifact"].as_array().unwrap().len(), 3);
    assert_eq!(v["manifest"]["vex"][0]["name"], "default");
    // A flag overrides the profile: another output, no split.
    let other = t.join("other.airlock");
    airlock_ok(&[
        "export",
        "--profile",
        s(&dir.join("export.toml")),
        "-o",
        s(&other),
        "--split",
        "4G",
    ]);
    assert!(other.with_extension("airlock.001").is_file());
    drop(server);
}
