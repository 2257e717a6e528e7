//! Review of the guidance airlock writes and prints (issue 14): the
//! trivy.yaml of `airlock trivy-config`, the repository.yaml entries after
//! `import --vex-dir`. Every value reads back, with the real Trivy, as
//! exactly what was given; every printed line is one line of visible text;
//! a reference with credentials is refused without quoting them.

use std::path::Path;

use crate::support::*;

/// `trivy --config FILE rootfs --debug EMPTY`'s stderr (Trivy logs the
/// cache dir and each DB repository it read from the file).
fn trivy_reads(t: &TestDir, yaml: &Path) -> String {
    let empty = t.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let out = std::process::Command::new(crate::support::trivy::trivy_bin())
        .args([
            "--config",
            s(yaml),
            "rootfs",
            "--debug",
            "--timeout",
            "20s",
            s(&empty),
        ])
        .env("XDG_DATA_HOME", t.join("xdg"))
        .env("HTTPS_PROXY", "http://127.0.0.1:9")
        .env("HTTP_PROXY", "http://127.0.0.1:9")
        .output()
        .expect("run trivy");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_cache_dir_with_a_nel_or_line_separator_reads_back_exactly() {
    let t = TestDir::new();
    let cache = t.join("c\u{85}d\u{2028}e");
    // What trivy-config looks for; Trivy logs its cache dir before it
    // opens them.
    write(&cache.join("db/trivy.db"), b"");
    write(&cache.join("db/metadata.json"), b"{}");
    let out = airlock_ok(&["trivy-config", "--cache-dir", s(&cache)]);
    let dir_line = format!("  dir: \"{}/c\\u0085d\\u2028e\"", t.path().display());
    assert!(out.lines().any(|l| l == dir_line), "{out}");
    assert!(!out.contains(['\u{85}', '\u{2028}']), "{out}");
    let yaml = t.join("trivy.yaml");
    write(&yaml, out.as_bytes());
    let err = trivy_reads(&t, &yaml);
    let want = format!("Cache dir\tdir={:?}", s(&cache));
    let want = want
        .replace("\\u{85}", "\\u0085")
        .replace("\\u{2028}", "\\u2028");
    assert!(err.contains(&want), "want {want}\n{err}");
}

#[test]
fn repositories_yaml_would_retype_are_quoted_and_trivy_reads_them_back() {
    let t = TestDir::new();
    let cache = t.join("cache");
    std::fs::create_dir_all(&cache).unwrap();
    let out = airlock_ok(&[
        "trivy-config",
        "--cache-dir",
        s(&cache),
        "--db-repository",
        "0x10",
        "--db-repository",
        "null",
        "--java-db-repository",
        "2001-12-14",
        "--checks-bundle-repository",
        "1_0",
    ]);
    assert!(
        out.contains(
            "db:\n  repository:\n    - \"0x10\"\n    - \"null\"\n  java-repository:\n    - \"2001-12-14\"\n\
             misconfiguration:\n  checks-bundle-repository: \"1_0\"\n"
        ),
        "{out}"
    );
    let yaml = t.join("trivy.yaml");
    write(&yaml, out.as_bytes());
    let err = trivy_reads(&t, &yaml);
    assert!(
        err.contains("repository=\"index.docker.io/library/0x10:2\""),
        "{err}"
    );
    assert!(!err.contains("could not parse reference"), "{err}");
}

#[test]
fn a_reference_with_credentials_or_none_at_all_is_refused_and_nothing_written() {
    let t = TestDir::new();
    let cache = t.join("cache");
    std::fs::create_dir_all(&cache).unwrap();
    let yaml = t.join("trivy.yaml");
    let err = airlock_fails(
        &[
            "trivy-config",
            "--cache-dir",
            s(&cache),
            "-o",
            s(&yaml),
            "--db-repository",
            "alice:s3cret@registry.internal/aquasec/trivy-db:2",
        ],
        2,
    );
    assert!(
        err.starts_with("airlock: error: --db-repository \"***@registry.internal/aquasec/trivy-db:2\" carries credentials, which a trivy.yaml must not hold\n"),
        "{err}"
    );
    assert!(!err.contains("s3cret"), "{err}");
    assert!(!yaml.exists());
    for bad in [
        "reg.internal/a: b",
        "reg.internal/a\nb",
        "reg.internal/a\u{2028}b",
        "*x",
        "reg.internal/A",
    ] {
        let err = airlock_fails(
            &[
                "trivy-config",
                "--cache-dir",
                s(&cache),
                "-o",
                s(&yaml),
                "--checks-bundle-repository",
                bad,
            ],
            2,
        );
        assert!(
            err.starts_with("airlock: error: --checks-bundle-repository: "),
            "{bad:?}: {err}"
        );
        assert_eq!(err.lines().count(), err.matches('\n').count(), "{err}");
        assert!(!yaml.exists());
    }
}

#[test]
fn repository_yaml_entries_stay_one_line_whatever_the_vex_dir_or_url() {
    let t = TestDir::new();
    let e = export_fixtures(&t);
    let vex_dir = t.join("v: #x\ny\u{2028}");
    let out = import_ok(
        &e.bundle,
        &e.public,
        &t.join("c\nd"),
        &["--vex-dir", s(&vex_dir)],
    );
    let root = t.path().display();
    let url = format!("file://{root}/v:%20%23x%0Ay%E2%80%A8/default");
    assert!(out.contains(&format!("\n      url: {url}\n")), "{out}");
    assert!(
        out.contains(&format!("\ninstalled into {root}/c\\u{{a}}d:\n")),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "static repository {root}/v: #x\\u{{a}}y\\u{{2028}}/default served as {url}\n"
        )),
        "{out}"
    );
    assert!(!out.contains('\u{2028}'), "{out}");
    assert!(
        !out.lines()
            .any(|l| l.starts_with('d') || l.starts_with('y')),
        "{out}"
    );

    let err = import_fails_with(
        &e,
        &t.join("cache2"),
        &[
            "--vex-dir",
            s(&t.join("v2")),
            "--vex-url",
            "http://h/a\n    token: x",
        ],
    );
    assert!(
        err.starts_with("airlock: error: --vex-url \"http://h/a\\n    token: x\" holds \\u{a}, which no URL holds raw (percent-encode it)\n"),
        "{err}"
    );
    assert!(!t.join("cache2").exists());
}

fn import_fails_with(e: &Exported, cache: &Path, extra: &[&str]) -> String {
    let mut args = vec![
        "import",
        s(&e.bundle),
        "--key",
        s(&e.public),
        "--cache-dir",
        s(cache),
    ];
    args.extend_from_slice(extra);
    airlock_fails(&args, 2)
}

#[test]
fn a_cache_without_a_db_and_no_db_repository_is_refused_and_nothing_written() {
    let t = TestDir::new();
    let cache = t.join("typo");
    let yaml = t.join("trivy.yaml");
    let err = airlock_fails(
        &["trivy-config", "--cache-dir", s(&cache), "-o", s(&yaml)],
        2,
    );
    assert_eq!(
        err,
        format!(
            "airlock: error: {} holds no vulnerability DB (db/trivy.db and db/metadata.json), and no --db-repository names an internal one: a scan with this trivy.yaml would download it from the Internet\n\
             hint: import a bundle into that cache first, or give --db-repository REF (after import --push)\n",
            cache.display()
        )
    );
    assert!(!yaml.exists());
    assert!(!cache.exists());
}
