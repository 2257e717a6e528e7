//! Inputs `export` must refuse: each with its exit code and a message that
//! says what is wrong, and nothing left behind (no file at the -o path, no
//! `.airlock-*` temporary file or directory beside it).
//!
//! `hand_built_inputs_export_when_they_are_valid` checks that the archive
//! builders used here make inputs export accepts, so each refusal is caused
//! by the one defect its test introduces.

use std::path::{Path, PathBuf};

use crate::support::fixtures::*;
use crate::support::*;

/// A key, the valid fixture inputs, and an empty output directory.
struct Setup {
    t: TestDir,
    key: PathBuf,
    inputs: Inputs,
    out_dir: PathBuf,
}

impl Setup {
    fn new() -> Self {
        let t = TestDir::new();
        let (key, _) = keygen(t.path(), "builder");
        let inputs = write_inputs(t.path());
        let out_dir = t.join("out");
        std::fs::create_dir_all(&out_dir).unwrap();
        Setup {
            t,
            key,
            inputs,
            out_dir,
        }
    }

    /// Writes an input file under `inputs/`.
    fn input(&self, name: &str, data: &[u8]) -> PathBuf {
        let p = self.t.join("inputs").join(name);
        write(&p, data);
        p
    }

    fn output(&self) -> PathBuf {
        self.out_dir.join("bundle.airlock")
    }

    /// Runs `airlock export -o OUT --sign-key KEY --created ... <args>`.
    fn export_args<'a>(&'a self, out: &'a Path, args: &[&'a str]) -> Vec<&'a str> {
        let mut v = vec![
            "export",
            "-o",
            s(out),
            "--sign-key",
            s(&self.key),
            "--created",
            CREATED,
        ];
        v.extend_from_slice(args);
        v
    }

    /// Asserts that export with `args` fails with `code`, that stderr holds
    /// each of `needles`, and that the output directory is still empty.
    fn refused(&self, args: &[&str], code: i32, needles: &[&str]) -> String {
        let out = self.output();
        let stderr = airlock_fails(&self.export_args(&out, args), code);
        for n in needles {
            assert!(stderr.contains(n), "expected {n:?} in stderr:\n{stderr}");
        }
        assert!(
            !out.exists(),
            "a failed export left {} behind (stderr: {stderr})",
            out.display()
        );
        assert_eq!(
            dir_names(&self.out_dir),
            Vec::<String>::new(),
            "a failed export left files in the output directory (stderr: {stderr})"
        );
        stderr
    }

    /// Asserts that export with `args` succeeds (then removes the bundle).
    fn accepted(&self, args: &[&str]) {
        let out = self.output();
        airlock_ok(&self.export_args(&out, args));
        assert!(out.is_file());
        std::fs::remove_file(&out).unwrap();
    }
}

/// The names in `dir`, sorted (hidden ones included).
fn dir_names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// A tar.gz whose entry names are written into the header as raw bytes
/// (the tar crate's `set_path` refuses `..`, an attacker's tool does not).
/// Each entry: (name, type, data, link target).
fn raw_tar_gz(entries: &[(&str, tar::EntryType, &[u8], &str)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, kind, data, link) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(*kind);
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(FIXED_MTIME);
        if !link.is_empty() {
            h.set_link_name(link).unwrap();
        }
        let gnu = h.as_gnu_mut().unwrap();
        gnu.name[..name.len()].copy_from_slice(name.as_bytes());
        h.set_cksum();
        b.append(&h, *data).unwrap();
    }
    gzip(&b.into_inner().unwrap())
}

fn metadata_v2() -> Vec<u8> {
    db_metadata_json(2, UPDATED_AT, NEXT_UPDATE).into_bytes()
}

/// A valid db.tar.gz with one more entry between metadata.json and trivy.db.
fn db_tar_gz_with(extra: (&str, tar::EntryType, &[u8], &str)) -> Vec<u8> {
    let meta = metadata_v2();
    let db = trivy_db(2);
    raw_tar_gz(&[
        ("metadata.json", tar::EntryType::Regular, &meta, ""),
        extra,
        ("trivy.db", tar::EntryType::Regular, &db, ""),
    ])
}

/// vex-repository.json with the given `versions` JSON array.
fn vex_manifest_with_versions(versions: &str) -> String {
    format!(r#"{{"name":"airlock fixture VEX repository","versions":{versions}}}"#)
}

const ARCHIVE_URL: &str = "https://github.com/aquasecurity/vexhub/archive/refs/heads/main.zip";

#[test]
fn hand_built_inputs_export_when_they_are_valid() {
    let setup = Setup::new();
    // The raw tar builder, with only the files a DB layer holds.
    let meta = metadata_v2();
    let db = trivy_db(2);
    let good_db = setup.input(
        "raw-db.tar.gz",
        &raw_tar_gz(&[
            ("metadata.json", tar::EntryType::Regular, &meta, ""),
            ("trivy.db", tar::EntryType::Regular, &db, ""),
        ]),
    );
    setup.accepted(&["--trivy-db", s(&good_db)]);
    // A hand-written vex-repository.json of the shape the VEX tests vary.
    let versions = format!(
        r#"[{{"spec_version":"0.1","locations":[{{"url":"{ARCHIVE_URL}//{VEX_TOP_DIR}"}}]}}]"#
    );
    let manifest = setup.input(
        "hand-vex-repository.json",
        vex_manifest_with_versions(&versions).as_bytes(),
    );
    setup.accepted(&[
        "--vex-manifest",
        s(&manifest),
        "--vex-archive",
        s(&setup.inputs.vex_archive),
    ]);
    // The same repository as a tar.gz built with fixtures::tar_gz.
    let files = vex_repo_files();
    let entries: Vec<(String, Vec<u8>)> = files
        .iter()
        .map(|(p, d)| (format!("{VEX_TOP_DIR}/{p}"), d.clone()))
        .collect();
    let refs: Vec<(&str, Vec<u8>)> = entries
        .iter()
        .map(|(p, d)| (p.as_str(), d.clone()))
        .collect();
    let archive = setup.input("vex.tar.gz", &tar_gz(&refs));
    setup.accepted(&[
        "--vex-manifest",
        s(&setup.inputs.vex_manifest),
        "--vex-archive",
        s(&archive),
    ]);
}

#[test]
fn db_layer_without_trivy_db_is_refused() {
    let setup = Setup::new();
    let db = setup.input("db.tar.gz", &tar_gz(&[("metadata.json", metadata_v2())]));
    setup.refused(
        &["--trivy-db", s(&db)],
        5,
        &[s(&db), "db.tar.gz has no trivy.db at its root"],
    );
}

#[test]
fn db_layer_with_schema_version_3_is_refused() {
    let setup = Setup::new();
    let db = setup.input("db.tar.gz", &trivy_db_tar_gz(3, UPDATED_AT, NEXT_UPDATE));
    setup.refused(
        &["--trivy-db", s(&db)],
        5,
        &["trivy-db has schema Version 3", "accepts only Version 2"],
    );
}

#[test]
fn checks_bundle_given_as_trivy_db_is_refused() {
    let setup = Setup::new();
    let entry = format!("unexpected entry {SENTINEL_REGO_PATH:?}");
    setup.refused(
        &["--trivy-db", s(&setup.inputs.checks)],
        5,
        &[&entry, "a database layer holds only files at its root"],
    );
}

#[test]
fn db_layer_that_is_not_gzip_is_refused() {
    let setup = Setup::new();
    let db = setup.input("db.tar.gz", b"this is a text file, not a gzip stream\n");
    setup.refused(
        &["--trivy-db", s(&db)],
        5,
        &[s(&db), "db.tar.gz is damaged"],
    );
}

#[test]
fn db_layer_with_a_symlink_is_refused() {
    let setup = Setup::new();
    let db = setup.input(
        "db.tar.gz",
        &db_tar_gz_with(("evil-link", tar::EntryType::Symlink, b"", "/etc/passwd")),
    );
    setup.refused(
        &["--trivy-db", s(&db)],
        5,
        &["entry \"evil-link\" is a symbolic link; only regular files and directories are accepted"],
    );
}

#[test]
fn db_layer_with_a_dot_dot_entry_is_refused() {
    let setup = Setup::new();
    let db = setup.input(
        "db.tar.gz",
        &db_tar_gz_with(("../evil", tar::EntryType::Regular, b"pwned\n", "")),
    );
    setup.refused(
        &["--trivy-db", s(&db)],
        5,
        &[
            "unsafe entry name \"../evil\"",
            "contains . or .. component",
        ],
    );
}

#[test]
fn vex_archive_without_index_under_the_location_folder_is_refused() {
    let setup = Setup::new();
    // index.json at the archive root, while the location names //vexhub-main.
    let root_level: Vec<(&str, Vec<u8>)> = vec![
        ("index.json", vex_index_json().into_bytes()),
        (VEX_DOC_PATH, vex_openvex_json().into_bytes()),
    ];
    let archive = setup.input("flat.tar.gz", &tar_gz(&root_level));
    let missing = format!("the VEX archive has no {VEX_TOP_DIR}/index.json");
    setup.refused(
        &[
            "--vex-manifest",
            s(&setup.inputs.vex_manifest),
            "--vex-archive",
            s(&archive),
        ],
        5,
        &[
            "VEX repository \"default\"",
            &missing,
            "must end with //<folder> naming the folder that holds index.json",
        ],
    );
}

#[test]
fn vex_manifest_without_spec_version_0_1_is_refused() {
    let setup = Setup::new();
    let versions = format!(
        r#"[{{"spec_version":"0.2","locations":[{{"url":"{ARCHIVE_URL}//{VEX_TOP_DIR}"}}]}}]"#
    );
    let manifest = setup.input(
        "vex-0.2.json",
        vex_manifest_with_versions(&versions).as_bytes(),
    );
    setup.refused(
        &[
            "--vex-manifest",
            s(&manifest),
            "--vex-archive",
            s(&setup.inputs.vex_archive),
        ],
        5,
        &["offers no spec_version \"0.1\" (found [\"0.2\"])"],
    );
}

#[test]
fn vex_location_folder_that_escapes_is_refused() {
    let setup = Setup::new();
    let url = format!("{ARCHIVE_URL}//../x");
    let versions = format!(r#"[{{"spec_version":"0.1","locations":[{{"url":"{url}"}}]}}]"#);
    let manifest = setup.input(
        "vex-escape.json",
        vex_manifest_with_versions(&versions).as_bytes(),
    );
    let unsafe_location = format!("location {url:?} names an unsafe folder");
    setup.refused(
        &[
            "--vex-manifest",
            s(&manifest),
            "--vex-archive",
            s(&setup.inputs.vex_archive),
        ],
        5,
        &[&unsafe_location],
    );
}

#[test]
fn existing_output_is_left_untouched() {
    let setup = Setup::new();
    let out = setup.output();
    let existing = b"an earlier bundle, not to be overwritten\n";
    write(&out, existing);
    let args = setup.export_args(&out, &["--trivy-db", s(&setup.inputs.db)]);
    let stderr = airlock_fails(&args, 2);
    let exists = format!("{} already exists", out.display());
    assert!(stderr.contains(&exists), "{stderr}");
    assert!(
        stderr.contains("--force"),
        "the hint names --force: {stderr}"
    );
    assert_eq!(std::fs::read(&out).unwrap(), existing);
    assert_eq!(
        dir_names(&setup.out_dir),
        vec!["bundle.airlock".to_string()]
    );
}

#[test]
fn export_without_sources_tries_trivys_defaults_and_says_so_offline() {
    // Every default repository fails (the proxy is a closed port, so the
    // test never reaches the internet even where there is one), each named.
    let setup = Setup::new();
    let out = setup.output();
    let result = std::process::Command::new(airlock_bin())
        .args(setup.export_args(&out, &[]))
        .env("HTTPS_PROXY", "http://127.0.0.1:9")
        .env("HTTP_PROXY", "http://127.0.0.1:9")
        .env_remove("NO_PROXY")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&result.stderr);
    assert_eq!(result.status.code(), Some(1), "{err}");
    for n in [
        "no repository served the trivy-db",
        "mirror.gcr.io/aquasec/trivy-db:2",
        "ghcr.io/aquasecurity/trivy-db:2",
        "give the files (--trivy-db FILE)",
    ] {
        assert!(err.contains(n), "{n:?} not in:\n{err}");
    }
    assert_eq!(dir_names(&setup.out_dir), Vec::<String>::new());
}
