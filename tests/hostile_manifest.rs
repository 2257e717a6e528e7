//! Manifests that carry a VALID signature by a trusted key and are still
//! hostile (issue 11): names that would leave the registry prefix, strings
//! that would print forged lines, times from the future, and an older
//! bundle replayed into a shared static VEX directory. Each is refused with
//! its exit code and message, and the cache, the VEX directory and the
//! registry stay as they were.

use std::path::Path;

use crate::import_refusals::{signed_with_payload, tar_entries, write_raw_bundle, Setup};
use crate::support::fixtures::*;
use crate::support::registry::Registry;
use crate::support::*;

/// Replaces the first `old` of the manifest text by `new` (which must occur).
fn edit(old: &'static str, new: &'static str) -> impl Fn(String) -> String {
    move |text: String| {
        assert!(
            text.contains(old),
            "{old:?} is not in the manifest:\n{text}"
        );
        text.replacen(old, new, 1)
    }
}

/// The repositories a registry holds (its `_catalog`).
fn catalog(reg: &Registry) -> String {
    ureq::get(&format!("http://{}/v2/_catalog", reg.host()))
        .call()
        .expect("catalog")
        .into_string()
        .expect("catalog text")
}

#[test]
fn signed_names_that_leave_the_registry_prefix_are_refused_before_any_push() {
    let setup = Setup::new();
    let reg = Registry::plain(&setup.path("registry"));
    let target = format!("{}/aquasec", reg.host());
    let cases: [(&str, &str, &str, &str); 5] = [
        (
            "escaping repository",
            "repository = \"trivy-db\"",
            "repository = \"../library/nginx\"",
            "trivy-db repository: \"../library/nginx\" is not a repository name",
        ),
        (
            "repository outside /v2/",
            "repository = \"trivy-db\"",
            "repository = \"../../../api/x\"",
            "is not a repository name",
        ),
        (
            "tag with a query",
            "tag = \"2\"",
            "tag = \"latest?x=1#\"",
            "trivy-db tag: \"latest?x=1#\" is not a tag",
        ),
        (
            "upper-case repository",
            "repository = \"trivy-db\"",
            "repository = \"Library/Nginx\"",
            "is not a repository name",
        ),
        (
            "upstream reference with credentials",
            "repository = \"trivy-db\"",
            "reference = \"user:pw@host.example/x:1\"\nrepository = \"trivy-db\"",
            "is not a registry reference",
        ),
    ];
    for (i, (name, old, new, needle)) in cases.iter().enumerate() {
        let bundle = setup.resigned(&format!("names-{i}.airlock"), edit(old, new));
        let stderr = setup.refused(&bundle, 4, &[needle]);
        assert!(
            stderr.contains("manifest field is invalid"),
            "{name}: {stderr}"
        );
        // The push shares the import's verification: nothing reaches the
        // registry.
        let push = airlock_fails(
            &[
                "import",
                s(&bundle),
                "--key",
                s(&setup.public),
                "--push",
                &target,
            ],
            4,
        );
        assert!(push.contains(needle), "{name}: {push}");
        assert_eq!(catalog(&reg).trim(), r#"{"repositories":[]}"#, "{name}");
    }

    // The operator's own names are held to the same grammar.
    let err = airlock_fails(
        &[
            "import",
            s(&setup.good),
            "--key",
            s(&setup.public),
            "--push",
            &format!("{}/../library", reg.host()),
        ],
        2,
    );
    assert!(err.contains("is not REGISTRY[/PREFIX]"), "{err}");
    let err = airlock_fails(
        &[
            "import",
            s(&setup.good),
            "--key",
            s(&setup.public),
            "--push",
            &target,
            "--tag",
            "trivy-db=latest?x=1",
        ],
        2,
    );
    assert!(err.contains("\"latest?x=1\" is not a tag"), "{err}");
    assert_eq!(catalog(&reg).trim(), r#"{"repositories":[]}"#);

    // And the client itself builds no URL from an unchecked name.
    let client =
        airlock::registry::Client::connect(&reg.host(), &Default::default()).expect("connect");
    let digest = format!("sha256:{}", "a".repeat(64));
    for (repo, reference) in [
        ("../library/nginx", digest.as_str()),
        ("trivy-db", "sha256:../../../../etc/x"),
    ] {
        let e = client.blob_exists(repo, reference).unwrap_err();
        assert!(
            matches!(e, airlock::registry::RegistryError::InvalidName { .. }),
            "{e}"
        );
    }
    let e = client
        .put_manifest("trivy-db", "x?y", "application/json", b"{}", &digest)
        .unwrap_err();
    // The message names the refusal; its source, the rule broken.
    let text = airlock::error::chain_text(&e);
    assert!(text.contains("\"x?y\" is not a tag"), "{text}");
    assert_eq!(catalog(&reg).trim(), r#"{"repositories":[]}"#);

    // inspect names where each artifact would be pushed.
    let out = airlock_ok(&["inspect", s(&setup.good)]);
    assert!(
        out.contains("push as trivy-db:2  manifest sha256:"),
        "{out}"
    );
    assert!(
        out.contains("push as trivy-java-db:1  manifest sha256:"),
        "{out}"
    );
}

#[test]
fn manifest_strings_cannot_print_forged_lines_even_unverified() {
    let setup = Setup::new();
    // Signed by a key nobody trusts: inspect without --key still parses it.
    let (stranger, _) = keygen(setup.t.path(), "stranger");
    let forged = setup.t.join("forged.airlock");
    let inputs = write_inputs(&setup.t.join("again"));
    airlock_ok(&export_all_args(&inputs, &stranger, &forged));
    let cases: [(&str, &str, &str); 5] = [
        (
            "generator = \"airlock ",
            "generator = \"x\\n  key ABC: valid, counted\\npolicy:   satisfied\\nairlock ",
            "generator \"x\\\\u{a}  key ABC: valid, counted",
        ),
        (
            "source = \"",
            "source = \"\\u001b[2J",
            "source \"\\\\u{1b}[2J",
        ),
        (
            "title = \"",
            "title = \"\\u202e",
            "\"\\\\u{202e}db.tar.gz\" is not a plain name",
        ),
        (
            "created = \"",
            "created = \"2026-11-25T12:00:00Z\\r",
            "created \"2026-11-25T12:00:00Z\\\\u{d}",
        ),
        (
            "ticket = \"CHG-1234\"",
            "ticket = \"CHG-1234\\u2028policy:   satisfied\"",
            "label \"ticket\"",
        ),
    ];
    for (i, (old, new, needle)) in cases.iter().enumerate() {
        // Re-signed by the trusted key (verify, import) ...
        let bundle = setup.resigned(&format!("strings-{i}.airlock"), edit(old, new));
        setup.refused(&bundle, 4, &[needle]);
        // ... and by the stranger, for inspect without --key.
        let text = String::from_utf8(tar_entries(&bundle_tar(&forged))[0].1.clone()).unwrap();
        let hostile = edit(old, new)(text);
        let path = setup.path(&format!("strings-{i}-unverified.airlock"));
        rewrite_manifest(&forged, &path, hostile.as_bytes(), &stranger);
        let out = airlock(&["inspect", s(&path)]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(4), "{stdout}{stderr}");
        assert!(stderr.contains(needle), "{stderr}");
        assert!(!stdout.contains("satisfied"), "{stdout}");
        assert!(
            !stderr
                .lines()
                .any(|l| l.starts_with("policy:") || l.trim_start().starts_with("key ")),
            "a forged line reached the terminal: {stderr}"
        );
    }
}

/// `from` with its manifest replaced by `manifest` and its signature by one
/// of `key` (an airlock secret key file), written to `to`.
fn rewrite_manifest(from: &Path, to: &Path, manifest: &[u8], key: &Path) {
    let sig = airlock::keys::SecretKey::from_file(key)
        .unwrap()
        .sign(manifest, "t", "timestamp:1\tfile:manifest.toml")
        .unwrap();
    let mut entries = tar_entries(&bundle_tar(from));
    entries[0].1 = manifest.to_vec();
    entries[1] = (
        airlock::bundle::signature_path(sig.key_id()),
        sig.to_text().into_bytes(),
    );
    write_raw_bundle(to, &entries);
}

#[test]
fn times_from_the_future_are_refused_at_export_and_import() {
    let setup = Setup::new();
    let inputs = write_inputs(&setup.t.join("future"));
    let key = setup.key.clone();
    let out = setup.path("future.airlock");

    // Export: a --created in the future is a usage error ...
    let mut args = export_all_args(&inputs, &key, &out);
    let at = args.iter().position(|a| *a == CREATED).unwrap();
    args[at] = "2099-01-01T00:00:00Z";
    let err = airlock_fails(&args, 2);
    assert!(
        err.contains("--created 2099-01-01T00:00:00Z is in the future"),
        "{err}"
    );
    // ... and a database dated in the future is refused input.
    write(
        &inputs.db,
        &trivy_db_tar_gz(2, "9999-01-01T00:00:00Z", "9999-01-02T00:00:00Z"),
    );
    let err = airlock_fails(&export_all_args(&inputs, &key, &out), 5);
    assert!(
        err.contains("the trivy-db's UpdatedAt 9999-01-01T00:00:00Z is")
            && err.contains("ahead of this host's clock"),
        "{err}"
    );
    assert!(!out.exists());

    // Import and verify: the same times under a valid signature.
    for (i, (old, new, needle)) in [
        (
            "created = \"2026-11-25T12:00:00Z\"",
            "created = \"2099-01-01T00:00:00Z\"",
            "the bundle's created time 2099-01-01T00:00:00Z is",
        ),
        (
            "updated_at = \"2024-01-01T00:00:00Z\"\nnext_update = \"2024-01-02T00:00:00Z\"",
            "updated_at = \"9999-01-01T00:00:00Z\"\nnext_update = \"9999-01-02T00:00:00Z\"",
            "the trivy-db's UpdatedAt 9999-01-01T00:00:00Z is",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let bundle = setup.resigned(&format!("future-{i}.airlock"), edit(old, new));
        setup.refused(
            &bundle,
            6,
            &[
                needle,
                "ahead of this host's clock",
                "at most 1h 0m of clock skew",
            ],
        );
    }

    // Nothing was recorded: a genuinely newer bundle imports as usual.
    let newer = setup.path("newer.airlock");
    let mut args = export_all_args(&inputs, &key, &newer);
    write(&inputs.db, &trivy_db_tar_gz(2, UPDATED_AT, NEXT_UPDATE));
    let at = args.iter().position(|a| *a == CREATED).unwrap();
    args[at] = "2026-11-30T00:00:00Z";
    airlock_ok(&args);
    import_ok(
        &newer,
        &setup.public,
        &setup.cache,
        &["--vex-dir", s(&setup.vex_dir)],
    );
}

#[test]
fn an_older_bundle_cannot_replace_what_a_shared_vex_directory_publishes() {
    let t = TestDir::new();
    let inputs = write_inputs(t.path());
    let (key, public) = keygen(t.path(), "builder");
    let export = |name: &str, created: &'static str, extra: &[&'static str]| {
        let out = t.join(name);
        let mut args = export_all_args(&inputs, &key, &out);
        let at = args.iter().position(|a| *a == CREATED).unwrap();
        args[at] = created;
        args.extend_from_slice(extra);
        airlock_ok(&args);
        out
    };
    let newer = export("newer.airlock", "2026-11-25T12:00:00Z", &[]);
    // Another version of the repository: identical content made earlier is
    // "already installed", not a downgrade (issue 15).
    let original = std::fs::read(&inputs.vex_archive).unwrap();
    write(
        &inputs.vex_archive,
        &vex_archive_zip_compressed(zip::CompressionMethod::Stored),
    );
    let older = export("older.airlock", "2026-11-20T12:00:00Z", &[]);
    write(&inputs.vex_archive, &original);
    let vex_dir = t.join("published");
    import_ok(
        &newer,
        &public,
        &t.join("cache-1"),
        &["--vex-dir", s(&vex_dir)],
    );
    let published = tree_hash(&vex_dir);
    assert!(
        published.contains_key(".airlock-state.json"),
        "{published:?}"
    );

    // A fresh cache has no history, but the VEX directory does.
    let cache_2 = t.join("cache-2");
    let err = airlock_fails(
        &[
            "import",
            s(&older),
            "--key",
            s(&public),
            "--cache-dir",
            s(&cache_2),
            "--vex-dir",
            s(&vex_dir),
        ],
        6,
    );
    assert!(
        err.contains(&format!(
            "in the static VEX directory {}: vex/repositories/default was installed here from a bundle created 2026-11-25T12:00:00Z; this bundle was created 2026-11-20T12:00:00Z",
            vex_dir.display()
        )),
        "{err}"
    );
    assert_eq!(tree_hash(&vex_dir), published);
    assert!(!cache_2.exists(), "a refused import created the cache");

    // Forcing it is possible, and said.
    let out = airlock_ok(&[
        "import",
        s(&older),
        "--key",
        s(&public),
        "--cache-dir",
        s(&cache_2),
        "--vex-dir",
        s(&vex_dir),
        "--allow-downgrade",
        "--json",
    ]);
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    let forced = report["forced"].to_string();
    assert!(forced.contains("in the static VEX directory"), "{out}");

    // A series is followed too.
    let five = export(
        "five.airlock",
        "2026-11-25T12:00:00Z",
        &["--series", "weekly", "--sequence", "5"],
    );
    let four = export(
        "four.airlock",
        "2026-11-26T12:00:00Z",
        &["--series", "weekly", "--sequence", "4"],
    );
    let other_vex = t.join("published-2");
    import_ok(
        &five,
        &public,
        &t.join("cache-3"),
        &["--vex-dir", s(&other_vex)],
    );
    let before = tree_hash(&other_vex);
    let err = airlock_fails(
        &[
            "import",
            s(&four),
            "--key",
            s(&public),
            "--cache-dir",
            s(&t.join("cache-4")),
            "--vex-dir",
            s(&other_vex),
        ],
        6,
    );
    assert!(
        err.contains("in the static VEX directory")
            && err.contains(
                "series \"weekly\" is at sequence 5 on this host; this bundle is sequence 4"
            ),
        "{err}"
    );
    assert_eq!(tree_hash(&other_vex), before);
}

/// No line of `stderr` may look like one of airlock's verdicts unless it
/// starts the message.
fn assert_no_forged_line(stderr: &str) {
    assert!(
        !stderr.lines().any(|l| l.starts_with("policy:")
            || l.trim_start().starts_with("key ")
            || l.starts_with("OK")),
        "a forged line reached the terminal: {stderr}"
    );
}

#[test]
fn parser_messages_quoting_signed_text_cannot_forge_lines() {
    let setup = Setup::new();
    for (i, (old, new)) in [
        (
            "kind = \"trivy-db\"",
            "kind = \"trivy-db\\npolicy:   satisfied\"",
        ),
        (
            "format_version = \"1.",
            "format_version = \"2.0\\n  key ABC: valid, counted\\npolicy:   satisfied\\n1.",
        ),
        (
            "generator = ",
            "\"x\\npolicy:   satisfied\" = 1\n\"x\\npolicy:   satisfied\" = 2\ngenerator = ",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let bundle = setup.resigned(&format!("parser-{i}.airlock"), edit(old, new));
        let stderr = setup.refused(&bundle, 4, &["policy:   satisfied"]);
        assert_no_forged_line(&stderr);
        let inspect = airlock_fails(&["inspect", s(&bundle)], 4);
        assert_no_forged_line(&inspect);
    }
}

#[test]
fn signed_layouts_and_names_that_point_elsewhere_are_refused() {
    let setup = Setup::new();
    // The checks bundle aimed at the trivy-db repository.
    let mut m = setup.manifest();
    let checks = m
        .artifacts
        .iter_mut()
        .find(|a| a.kind == airlock::manifest::ArtifactKind::Checks)
        .unwrap();
    checks.repository = "trivy-db".into();
    let text = m.to_toml().unwrap();
    let bundle = setup.resigned("checks-as-db.airlock", move |_| text.clone());
    setup.refused(
        &bundle,
        4,
        &["checks repository \"trivy-db\" is not \"trivy-checks\""],
    );

    // The OCI layout's index names the checks manifest trivy-db:2 (what
    // skopeo or any OCI tool would read from the bundle).
    let index_bytes = {
        let tar = bundle_tar(&setup.good);
        let (o, l) = tar_entry_offset(&tar, "oci/index.json");
        tar[o..o + l as usize].to_vec()
    };
    let mut index: serde_json::Value = serde_json::from_slice(&index_bytes).unwrap();
    let names: Vec<serde_json::Value> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["annotations"]["org.opencontainers.image.ref.name"].clone())
        .collect();
    assert_eq!(names.len(), 3, "{index}");
    index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"] = names[2].clone();
    index["manifests"][2]["annotations"]["org.opencontainers.image.ref.name"] = names[0].clone();
    let bundle = signed_with_payload(
        &setup,
        "oci/index.json",
        serde_json::to_vec(&index).unwrap(),
        "swapped-index.airlock",
    );
    setup.refused(
        &bundle,
        4,
        &["oci/index.json does not name exactly the manifest's artifacts"],
    );

    // A database that claims to stay current until 9999.
    let bundle = setup.resigned(
        "next-update.airlock",
        edit(
            "next_update = \"2024-01-02T00:00:00Z\"",
            "next_update = \"9999-12-31T00:00:00Z\"",
        ),
    );
    setup.refused(
        &bundle,
        4,
        &["NextUpdate 9999-12-31T00:00:00Z must fall between UpdatedAt 2024-01-01T00:00:00Z and 14 days after it"],
    );
    let inputs = write_inputs(&setup.t.join("frozen"));
    write(
        &inputs.db,
        &trivy_db_tar_gz(2, UPDATED_AT, "9999-12-31T00:00:00Z"),
    );
    let err = airlock_fails(
        &export_all_args(&inputs, &setup.key, &setup.path("frozen.airlock")),
        5,
    );
    assert!(err.contains("must fall between UpdatedAt"), "{err}");
}

#[test]
fn a_state_file_that_cannot_be_read_exactly_is_refused_not_ignored() {
    let setup = Setup::new();
    let state = setup.vex_dir.join(".airlock-state.json");
    let good_state = std::fs::read(&state).unwrap();
    let import = |cache: &str| {
        airlock(&[
            "import",
            s(&setup.good),
            "--key",
            s(&setup.public),
            "--cache-dir",
            s(&setup.path(cache)),
            "--vex-dir",
            s(&setup.vex_dir),
        ])
    };
    // A FIFO is refused at once, not waited on.
    std::fs::remove_file(&state).unwrap();
    run_ok(std::process::Command::new("mkfifo").arg(&state));
    let started = std::time::Instant::now();
    let out = import("c1");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(".airlock-state.json is damaged (it is not a regular file)"),
        "{err}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    // A recorded time that does not parse would switch the check off.
    std::fs::remove_file(&state).unwrap();
    let text = String::from_utf8(good_state.clone()).unwrap();
    let broken = text.replacen(
        "\"vex/repositories/default\": \"",
        "\"vex/repositories/default\": \"garbage",
        1,
    );
    assert_ne!(broken, text, "{text}");
    write(&state, broken.as_bytes());
    let out = import("c2");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("is not an RFC 3339 time"), "{err}");
    assert!(!setup.path("c2").join("db").exists());
    // And a static VEX directory needs a cache to be judged against.
    let err = airlock_fails(
        &[
            "import",
            s(&setup.good),
            "--key",
            s(&setup.public),
            "--push",
            "127.0.0.1:9",
            "--vex-dir",
            s(&setup.vex_dir),
        ],
        2,
    );
    assert!(err.contains("--cache-dir"), "{err}");
}
