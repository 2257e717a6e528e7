//! Issue 14: what a running `trivy server` needs to pick up a database an
//! import just installed. Trivy 0.76's server opens trivy.db once at start
//! (with `--skip-db-update` it never looks again; without it, it would try
//! the registry on its hourly check): airlock swaps the `db` directory in,
//! the server keeps reading the database it opened, and only a restart makes
//! it read the new one (it has no reload signal: SIGHUP, unhandled, ends it
//! as Go's default does). Seen here with the real binary, client and server.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::support::fixtures::*;
use crate::support::*;

/// The newer fixture DB's extra zlib vulnerability.
const NEW_CVE: &str = "CVE-2099-1003";

/// A trivy.db tar.gz: the fixture's, plus [`NEW_CVE`] when `newer`.
fn db_tar_gz(newer: bool, updated_at: &str, next_update: &str) -> Vec<u8> {
    let mut root = trivy_db_buckets();
    if newer {
        root.bucket(ALPINE_BUCKET)
            .bucket("zlib")
            .put(NEW_CVE, format!(r#"{{"FixedVersion":"{ZLIB_FIXED}"}}"#));
        root.bucket("vulnerability").put(
            NEW_CVE,
            r#"{"Title":"airlock fixture","Severity":"HIGH","VendorSeverity":{"alpine":3}}"#,
        );
    }
    tar_gz(&[
        (
            "metadata.json",
            db_metadata_json(2, updated_at, next_update).into_bytes(),
        ),
        ("trivy.db", bbolt_bytes(&root)),
    ])
}

fn db_bundle(
    t: &TestDir,
    key: &Path,
    name: &str,
    newer: bool,
    updated: &str,
    next: &str,
    created: &str,
) -> PathBuf {
    let input = t.join(&format!("{name}.tar.gz"));
    write(&input, &db_tar_gz(newer, updated, next));
    let bundle = t.join(&format!("{name}.airlock"));
    airlock_ok(&[
        "export",
        "-o",
        s(&bundle),
        "--sign-key",
        s(key),
        "--trivy-db",
        s(&input),
        "--created",
        created,
    ]);
    bundle
}

/// `trivy server` on a free loopback port, killed on drop.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start(cache: &Path, home: &Path) -> Self {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        std::fs::create_dir_all(home).unwrap();
        let child = Command::new(crate::support::trivy::trivy_bin())
            .args(["server", "--listen", &format!("127.0.0.1:{port}")])
            .arg("--cache-dir")
            .arg(cache)
            .args(["--skip-db-update", "--config", ""])
            .env_clear()
            .env("HOME", home)
            .env("XDG_DATA_HOME", home)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let server = Server {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return server;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("trivy server on port {port} did not start");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The vulnerabilities a client scan of the example root file system gets
/// from `server` (the client's own cache is its own).
fn client_scan(t: &TestDir, server: &Server) -> Vec<String> {
    let rootfs = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data/rootfs");
    let report = crate::support::trivy::trivy_json(
        &t.join("client-cache"),
        &t.join("client-xdg"),
        &[
            "rootfs",
            "--server",
            &server.url,
            "--scanners",
            "vuln",
            "--skip-files",
            "**/*.jar",
            "-f",
            "json",
            s(&rootfs),
        ],
    );
    crate::support::trivy::vuln_ids(&report)
}

#[test]
fn a_running_trivy_server_needs_a_restart_to_use_a_freshly_imported_db() {
    let t = TestDir::new();
    let (key, public) = keygen(t.path(), "builder");
    let first = db_bundle(
        &t,
        &key,
        "first",
        false,
        UPDATED_AT,
        NEXT_UPDATE,
        "2026-11-25T12:00:00Z",
    );
    let second = db_bundle(
        &t,
        &key,
        "second",
        true,
        "2024-02-01T00:00:00Z",
        "2024-02-02T00:00:00Z",
        "2026-11-26T12:00:00Z",
    );
    let cache = t.join("cache");
    let out = import_ok(&first, &public, &cache, &[]);
    // A first import replaces nothing: no server can be holding a DB.
    assert!(!out.contains("trivy server"), "{out}");
    let server = Server::start(&cache, &t.join("server-home"));
    assert_eq!(client_scan(&t, &server), ZLIB_CVES);

    let out = import_ok(&second, &public, &cache, &[]);
    // The import says so.
    assert!(
        out.contains("\n(a running `trivy server` on this cache keeps the database it opened: restart it to serve this one)\n\n"),
        "{out}"
    );
    // The server still answers from the database it opened at start.
    assert_eq!(client_scan(&t, &server), ZLIB_CVES);
    drop(server);

    let server = Server::start(&cache, &t.join("server-home"));
    assert_eq!(
        client_scan(&t, &server),
        [ZLIB_CVES[0], ZLIB_CVES[1], NEW_CVE]
    );
}
