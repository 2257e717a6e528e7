//! Signed-but-hostile VEX repositories (issue 11, items 9 and 10).
//!
//! Memory: an index.json of ten million packages (248 MiB, all naming one
//! document that exists, every signed total honest) and one whose single
//! `id` is 100 MiB, each run through `export` (from files), `verify` and
//! `import` under GNU time: peak RSS stays within the 64 MiB the README
//! promises; the first is accepted, the second refused with the cache left
//! as it was. The indexes are written to disk streaming, never built in
//! memory, and the three commands run side by side to keep the test short.
//!
//! Credentials: a `--vex-repo` URL that carries them is refused, showing
//! none of them; given by flags or the environment they reach the server,
//! for the manifest and for the archive on the same origin, and appear
//! nowhere else: not on stderr, stdout or in `--json`, not in the signed
//! manifest, not in the audit log.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Instant;

use airlock::keys::SecretKey;
use airlock::manifest::Manifest;

use crate::support::fixtures::*;
use crate::support::*;

/// The README's memory promise, in KiB.
const RSS_LIMIT_KIB: u64 = 64 * 1024;
/// Every package of the big index (26 bytes with its comma).
const PACKAGE: &str = r#"{"id":"x","location":"d"}"#;
const INDEX_HEAD: &str = r#"{"updated_at":"2024-01-01T00:00:00Z","packages":["#;
const DOC: &[u8] = b"{\"@context\":\"https://openvex.dev/ns/v0.2.0\",\"statements\":[]}\n";
const SECRET: &str = "s3cr3t-pass";

/// Counts what passes through.
struct Counting<'a> {
    inner: &'a mut dyn Write,
    n: u64,
}

impl Write for Counting<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.n += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Writes a VEX zip to `dir/main.zip` (`vexhub-main/index.json` written by
/// `index`, streaming, and the document `vexhub-main/d`) with its
/// `vex-repository.json`; returns the length of index.json.
fn vex_repo(dir: &Path, index: &dyn Fn(&mut dyn Write)) -> u64 {
    std::fs::create_dir_all(dir).unwrap();
    write(
        &dir.join("vex-repository.json"),
        vex_repository_json("https://vex.example/main.zip").as_bytes(),
    );
    let mut z = zip::ZipWriter::new(File::create(dir.join("main.zip")).unwrap());
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(zip::DateTime::default());
    z.start_file(format!("{VEX_TOP_DIR}/index.json"), opts)
        .unwrap();
    let mut counted = Counting {
        inner: &mut z,
        n: 0,
    };
    index(&mut counted);
    let n = counted.n;
    z.start_file(format!("{VEX_TOP_DIR}/d"), opts).unwrap();
    z.write_all(DOC).unwrap();
    z.finish().unwrap();
    n
}

/// index.json listing `n` packages, all `PACKAGE`.
fn packages(n: u64) -> impl Fn(&mut dyn Write) {
    move |w: &mut dyn Write| {
        w.write_all(INDEX_HEAD.as_bytes()).unwrap();
        w.write_all(PACKAGE.as_bytes()).unwrap();
        const CHUNK: u64 = 40_000;
        let chunk = format!(",{PACKAGE}").repeat(CHUNK as usize);
        let mut left = n - 1;
        while left > 0 {
            let k = left.min(CHUNK);
            w.write_all(&chunk.as_bytes()[..k as usize * (PACKAGE.len() + 1)])
                .unwrap();
            left -= k;
        }
        w.write_all(b"]}").unwrap();
    }
}

/// `airlock export` of the VEX repository in `dir` (signed with `key`).
fn export_args<'a>(dir: &'a Path, key: &'a Path, out: &'a Path) -> Vec<String> {
    [
        "export",
        "-o",
        s(out),
        "--sign-key",
        s(key),
        "--vex-manifest",
        s(&dir.join("vex-repository.json")),
        "--vex-archive",
        s(&dir.join("main.zip")),
        "--created",
        CREATED,
    ]
    .map(String::from)
    .to_vec()
}

fn manifest_of(bundle: &Path) -> Manifest {
    let tar = bundle_tar(bundle);
    let (o, l) = tar_entry_offset(&tar, "airlock/manifest.toml");
    Manifest::parse(&tar[o..o + l as usize]).unwrap()
}

fn sha256_hex(data: &[u8]) -> String {
    let mut h = Hasher::new();
    h.write_all(data).unwrap();
    h.hex()
}

/// `small` (a bundle exported from a VEX repository of the same layout)
/// with its VEX archive replaced by `archive`, whose index.json is
/// `index_growth` bytes longer and lists `packages` packages: the payload
/// entry and the signed totals updated to match, re-signed with `key`.
fn with_vex_archive(
    small: &Path,
    key: &SecretKey,
    archive: &[u8],
    index_growth: u64,
    packages: u64,
) -> Vec<u8> {
    let path = manifest_of(small).vex[0].archive_path.clone();
    resigned(small, key, &path, archive, |v| {
        v.unpacked.size += index_growth;
        v.unpacked.data += index_growth;
        v.packages = packages;
    })
}

/// `small` with payload `path` replaced by `data`, its manifest entry
/// updated, the VEX entry edited by `edit`, re-signed with `key`.
fn resigned(
    small: &Path,
    key: &SecretKey,
    path: &str,
    data: &[u8],
    edit: impl FnOnce(&mut airlock::manifest::VexRepository),
) -> Vec<u8> {
    let tar = bundle_tar(small);
    let mut m = manifest_of(small);
    edit(&mut m.vex[0]);
    let p = m.payloads.iter_mut().find(|p| p.path == path).unwrap();
    p.size = data.len() as u64;
    p.sha256 = sha256_hex(data).parse().unwrap();
    let text = m.to_toml().unwrap();
    let sig = key
        .sign(
            text.as_bytes(),
            "hostile",
            "timestamp:1\tfile:manifest.toml",
        )
        .unwrap();
    let mut b = tar::Builder::new(Vec::new());
    let mut append = |path: &str, data: &[u8]| {
        // A bundle's entries have plain ustar headers (SPEC.md section 2).
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(FIXED_MTIME);
        b.append_data(&mut h, path, data).unwrap();
    };
    append("airlock/manifest.toml", text.as_bytes());
    append(
        &airlock::bundle::signature_path(sig.key_id()),
        sig.to_text().as_bytes(),
    );
    for p in &m.payloads {
        if p.path == path {
            append(&p.path, data);
        } else {
            let (o, l) = tar_entry_offset(&tar, &p.path);
            append(&p.path, &tar[o..o + l as usize]);
        }
    }
    zstd::stream::encode_all(&b.into_inner().unwrap()[..], 3).unwrap()
}

/// One airlock run under GNU time.
struct Measured {
    name: &'static str,
    out: Output,
    rss_kib: u64,
    elapsed: String,
}

impl Measured {
    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.out.stderr).into_owned()
    }

    fn report(&self) -> String {
        format!(
            "{:<7} exit {:?}  peak RSS {:>6} KiB  {:>8}",
            self.name,
            self.out.status.code(),
            self.rss_kib,
            self.elapsed
        )
    }
}

/// Runs each airlock command under `time -v`, all at once; returns when
/// all have ended. Output goes to files (no pipe to fill and block on).
fn measure_all(dir: &Path, runs: &[(&'static str, Vec<String>)]) -> Vec<Measured> {
    let started: Vec<(&'static str, Child, PathBuf)> = runs
        .iter()
        .map(|(name, args)| {
            let base = dir.join(format!("run-{name}"));
            let child = Command::new(tool("time"))
                .arg("-v")
                .arg("-o")
                .arg(base.with_extension("time"))
                .arg(airlock_bin())
                .args(args)
                .stdin(Stdio::null())
                .stdout(File::create(base.with_extension("out")).unwrap())
                .stderr(File::create(base.with_extension("err")).unwrap())
                .spawn()
                .unwrap();
            (*name, child, base)
        })
        .collect();
    started
        .into_iter()
        .map(|(name, mut child, base)| {
            let status = child.wait().unwrap();
            let time = std::fs::read_to_string(base.with_extension("time")).unwrap();
            let field = |label: &str| {
                time.lines()
                    .find_map(|l| l.trim().strip_prefix(label))
                    .unwrap_or_else(|| panic!("no {label:?} in {time}"))
                    .to_string()
            };
            Measured {
                name,
                rss_kib: field("Maximum resident set size (kbytes): ")
                    .parse()
                    .unwrap(),
                elapsed: field("Elapsed (wall clock) time (h:mm:ss or m:ss): "),
                out: Output {
                    status,
                    stdout: std::fs::read(base.with_extension("out")).unwrap(),
                    stderr: std::fs::read(base.with_extension("err")).unwrap(),
                },
            }
        })
        .collect()
}

#[test]
fn a_vex_index_of_ten_million_packages_is_accepted_within_64_mib() {
    const PACKAGES: u64 = 10_000_000;
    let began = Instant::now();
    let t = TestDir::new();
    let (key_path, public) = keygen(t.path(), "vex");
    let key = SecretKey::from_file(&key_path).unwrap();
    // The same layout twice: one package, then ten million.
    let small_dir = t.join("small");
    let big_dir = t.join("big");
    let small_len = vex_repo(&small_dir, &packages(1));
    let big_len = vex_repo(&big_dir, &packages(PACKAGES));
    assert_eq!(big_len, 260_000_050, "248 MiB of index.json");
    let small = t.join("small.airlock");
    airlock_ok(
        &export_args(&small_dir, &key_path, &small)
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    let hostile = t.join("hostile.airlock");
    let archive = std::fs::read(big_dir.join("main.zip")).unwrap();
    write(
        &hostile,
        &with_vex_archive(&small, &key, &archive, big_len - small_len, PACKAGES),
    );
    let generated = began.elapsed();

    let exported = t.join("exported.airlock");
    let cache = t.join("cache");
    let runs = measure_all(
        t.path(),
        &[
            ("export", export_args(&big_dir, &key_path, &exported)),
            (
                "verify",
                ["verify", s(&hostile), "--key", s(&public)]
                    .map(String::from)
                    .to_vec(),
            ),
            (
                "import",
                [
                    "import",
                    s(&hostile),
                    "--key",
                    s(&public),
                    "--cache-dir",
                    s(&cache),
                ]
                .map(String::from)
                .to_vec(),
            ),
        ],
    );
    let mut table = String::new();
    for r in &runs {
        table.push_str(&r.report());
        table.push('\n');
    }
    eprintln!(
        "index.json of {PACKAGES} packages ({big_len} bytes; VEX zip {} bytes, bundle {} bytes), generated in {:.1?}:\n{table}",
        archive.len(),
        std::fs::metadata(&hostile).unwrap().len(),
        generated
    );
    for r in &runs {
        assert!(r.out.status.success(), "{}: {}", r.name, r.stderr());
        assert!(r.rss_kib < RSS_LIMIT_KIB, "{}", r.report());
    }
    // Honest: export computes the very totals the re-signed manifest signs.
    assert_eq!(manifest_of(&exported).vex, manifest_of(&hostile).vex);
    assert_eq!(manifest_of(&hostile).vex[0].packages, PACKAGES);
    let installed = cache.join("vex/repositories/default/0.1");
    assert_eq!(
        std::fs::metadata(installed.join("index.json"))
            .unwrap()
            .len(),
        big_len
    );
    assert_eq!(std::fs::read(installed.join("d")).unwrap(), DOC);
    eprintln!("whole test: {:.1?}", began.elapsed());
}

#[test]
fn a_vex_index_with_a_100_mib_id_is_refused_early_and_changes_nothing() {
    let began = Instant::now();
    let t = TestDir::new();
    let (key_path, public) = keygen(t.path(), "vex");
    let key = SecretKey::from_file(&key_path).unwrap();
    let small_dir = t.join("small");
    let long_dir = t.join("long");
    let small_len = vex_repo(&small_dir, &packages(1));
    let long_len = vex_repo(&long_dir, &|w: &mut dyn Write| {
        w.write_all(br#"{"packages":[{"id":""#).unwrap();
        let mib = vec![b'p'; 1 << 20];
        for _ in 0..100 {
            w.write_all(&mib).unwrap();
        }
        w.write_all(br#"","location":"d"}]}"#).unwrap();
    });
    let small = t.join("small.airlock");
    airlock_ok(
        &export_args(&small_dir, &key_path, &small)
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    let hostile = t.join("hostile.airlock");
    let archive = std::fs::read(long_dir.join("main.zip")).unwrap();
    write(
        &hostile,
        &with_vex_archive(&small, &key, &archive, long_len - small_len, 1),
    );
    // A cache that holds the small repository: the refusal must leave it.
    let cache = t.join("cache");
    import_ok(&small, &public, &cache, &[]);
    let before = tree_hash(&cache);

    let runs = measure_all(
        t.path(),
        &[
            (
                "export",
                export_args(&long_dir, &key_path, &t.join("no.airlock")),
            ),
            (
                "verify",
                ["verify", s(&hostile), "--key", s(&public)]
                    .map(String::from)
                    .to_vec(),
            ),
            (
                "import",
                [
                    "import",
                    s(&hostile),
                    "--key",
                    s(&public),
                    "--cache-dir",
                    s(&cache),
                ]
                .map(String::from)
                .to_vec(),
            ),
        ],
    );
    let mut table = String::new();
    for r in &runs {
        table.push_str(&format!(
            "{}  {}\n",
            r.report(),
            r.stderr().lines().next().unwrap_or_default()
        ));
    }
    eprintln!("index.json with a 100 MiB id ({long_len} bytes):\n{table}");
    let refusal =
        "vexhub-main/index.json is not a valid VEX index: a string longer than 65536 bytes at line 1 column ";
    for (r, code) in runs.iter().zip([5, 4, 4]) {
        assert_eq!(
            r.out.status.code(),
            Some(code),
            "{}: {}",
            r.name,
            r.stderr()
        );
        assert!(r.stderr().contains(refusal), "{}: {}", r.name, r.stderr());
        assert!(r.rss_kib < RSS_LIMIT_KIB, "{}", r.report());
    }
    assert!(!t.join("no.airlock").exists());
    assert_eq!(tree_hash(&cache), before);
    eprintln!("whole test: {:.1?}", began.elapsed());
}

#[test]
fn a_vex_manifest_of_many_small_objects_is_refused_within_64_mib() {
    // 1 MiB of `{"a":0}` objects: import with --vex-dir rewrites the
    // location through a JSON tree of the whole document (107 MB before).
    let t = TestDir::new();
    let (key_path, public) = keygen(t.path(), "vex");
    let key = SecretKey::from_file(&key_path).unwrap();
    let small_dir = t.join("small");
    vex_repo(&small_dir, &packages(1));
    let small = t.join("small.airlock");
    airlock_ok(
        &export_args(&small_dir, &key_path, &small)
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    let junk = format!(
        r#"{{"name":"x","versions":[{{"spec_version":"0.1","locations":[{{"url":"https://vex.example/main.zip//{VEX_TOP_DIR}"}}]}}],"junk":[{}]}}"#,
        vec![r#"{"a":0}"#; 130_000].join(",")
    );
    assert!(junk.len() < 1 << 20);
    let path = manifest_of(&small).vex[0].manifest_path.clone();
    let hostile = t.join("hostile.airlock");
    write(
        &hostile,
        &resigned(&small, &key, &path, junk.as_bytes(), |_| {}),
    );
    let cache = t.join("cache");
    let vex_dir = t.join("vex");
    import_ok(&small, &public, &cache, &["--vex-dir", s(&vex_dir)]);
    let before = (tree_hash(&cache), tree_hash(&vex_dir));
    let runs = measure_all(
        t.path(),
        &[
            (
                "verify",
                ["verify", s(&hostile), "--key", s(&public)]
                    .map(String::from)
                    .to_vec(),
            ),
            (
                "import",
                [
                    "import",
                    s(&hostile),
                    "--key",
                    s(&public),
                    "--cache-dir",
                    s(&cache),
                    "--vex-dir",
                    s(&vex_dir),
                ]
                .map(String::from)
                .to_vec(),
            ),
        ],
    );
    for r in &runs {
        eprintln!("{}", r.report());
        assert_eq!(r.out.status.code(), Some(4), "{}: {}", r.name, r.stderr());
        assert!(
            r.stderr()
                .contains("vex-repository.json is not valid: more than 10000 JSON values"),
            "{}",
            r.stderr()
        );
        assert!(r.rss_kib < RSS_LIMIT_KIB, "{}", r.report());
    }
    assert_eq!((tree_hash(&cache), tree_hash(&vex_dir)), before);
}

// ---------------------------------------------------------------------------
// Credentials
// ---------------------------------------------------------------------------

/// Asserts that neither stream of `out` holds the secret and that one shows
/// `shown` (the redacted form).
fn assert_redacted(out: &Output, shown: &str) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stdout.contains(SECRET) && !stderr.contains(SECRET),
        "secret printed:\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(
        stderr.contains(shown) || stdout.contains(shown),
        "expected {shown:?}:\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
}

/// The `error` of a `--json` failure report on stdout.
fn json_error(out: &Output) -> String {
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    assert_eq!(v["ok"], false);
    v["error"].as_str().unwrap().to_string()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A static HTTP server on `port` that answers 401 to any request without
/// `user`/`password` in basic auth, and logs each request's path and
/// whether it carried them. Killed on drop.
struct AuthServer {
    child: Child,
    log: PathBuf,
}

const AUTH_SERVER: &str = r#"
import base64, http.server, sys
port, root, user, password, log = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
want = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
class Handler(http.server.SimpleHTTPRequestHandler):
    def __init__(self, *a, **k):
        super().__init__(*a, directory=root, **k)
    def do_GET(self):
        ok = self.headers.get("Authorization") == want
        with open(log, "a") as f:
            f.write(f"{self.path} {'auth' if ok else 'no-auth'}\n")
        if not ok:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="vex"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        super().do_GET()
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
"#;

impl AuthServer {
    fn start(port: u16, root: &Path, user: &str, password: &str, log: PathBuf) -> Self {
        let child = Command::new(tool("python3"))
            .args([
                "-c",
                AUTH_SERVER,
                &port.to_string(),
                s(root),
                user,
                password,
            ])
            .arg(&log)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let server = AuthServer { child, log };
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return server;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("auth server on port {port} did not start");
    }

    fn requests(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for AuthServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs airlock with `args` and the environment `env`; stdin is closed.
fn airlock_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(airlock_bin())
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("run airlock")
}

/// Everything airlock printed, stdout and stderr.
fn printed(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn a_password_in_a_failing_vex_repo_url_is_never_printed() {
    let t = TestDir::new();
    let (key, _) = keygen(t.path(), "vex");
    let bundle = t.join("b.airlock");
    let export = |url: &str, json: bool, env: &[(&str, &str)]| {
        let mut args = vec!["export", "-o", s(&bundle), "--sign-key", s(&key)];
        args.extend(["--vex-repo", url]);
        if json {
            args.push("--json");
        }
        airlock_env(&args, env)
    };

    // Credentials in the URL are refused before anything is sent: exit 2,
    // the URL quoted with its userinfo masked (a quote in the password, or
    // a '/' that ends the authority early, included), the flags to use
    // named on a hint line of their own.
    let port = free_port();
    let hint = "hint: give the URL without them, and the credentials with --vex-username and --vex-password-stdin or --vex-password-file, or --vex-token-file (or AIRLOCK_VEX_USERNAME/AIRLOCK_VEX_PASSWORD, AIRLOCK_VEX_TOKEN)\n";
    for (url, shown) in [
        (
            format!("https://user:{SECRET}@127.0.0.1:{port}/repo?token={SECRET}"),
            format!("https://***@127.0.0.1:{port}/repo?token=***"),
        ),
        (
            format!("https://user:it's-{SECRET}@127.0.0.1:{port}/repo"),
            format!("https://***@127.0.0.1:{port}/repo"),
        ),
        (
            format!("https://user:pa/{SECRET}@127.0.0.1:{port}/repo"),
            format!("https://***@127.0.0.1:{port}/repo"),
        ),
        (
            format!("https://{SECRET}@127.0.0.1:{port}/repo"),
            format!("https://***@127.0.0.1:{port}/repo"),
        ),
        (
            format!("private=http://user:{SECRET}@127.0.0.1:{port}/repo"),
            format!("http://***@127.0.0.1:{port}/repo"),
        ),
    ] {
        let message = format!(
            "--vex-repo \"{shown}\" carries credentials; airlock does not take them from a URL"
        );
        let out = export(&url, false, &[]);
        assert_eq!(out.status.code(), Some(2), "{}", printed(&out));
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            format!("airlock: error: {message}\n{hint}")
        );
        assert!(out.stdout.is_empty());
        let out = export(&url, true, &[]);
        assert_eq!(out.status.code(), Some(2));
        assert_eq!(json_error(&out), message);
        assert!(!printed(&out).contains(SECRET) && !printed(&out).contains("it's"));
        assert!(!bundle.exists());
    }

    // Nothing listens: the HTTP client's own message quotes the URL, its
    // query value masked.
    let url = format!("https://127.0.0.1:{port}/repo?token={SECRET}");
    let shown =
        format!("GET https://127.0.0.1:{port}/repo/.well-known/vex-repository.json?token=***: ");
    for json in [false, true] {
        let out = export(&url, json, &[]);
        assert_eq!(out.status.code(), Some(1));
        assert_redacted(&out, &shown);
        if json {
            let e = json_error(&out);
            assert!(e.contains(&shown) && !e.contains(SECRET), "{e}");
        }
    }

    // A server that answers 404.
    let empty = t.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let server = HttpServer::serve(&empty);
    let url = format!("http://127.0.0.1:{}/missing?sig={SECRET}", server.port);
    let out = export(&url, true, &[]);
    assert_eq!(out.status.code(), Some(1));
    let shown = format!(
        "GET http://127.0.0.1:{}/missing/.well-known/vex-repository.json?sig=***: the server answered 404",
        server.port
    );
    assert_redacted(&out, &shown);
    assert!(json_error(&out).contains(&shown));

    // A server that wants other credentials (401), and a manifest whose
    // archive is not an archive: the credentials given in the environment.
    let root = t.join("root");
    let port = free_port();
    write(
        &root.join("repo/.well-known/vex-repository.json"),
        vex_repository_json(&format!("http://127.0.0.1:{port}/repo/bad.zip")).as_bytes(),
    );
    write(&root.join("repo/bad.zip"), b"not an archive");
    let _server = AuthServer::start(port, &root, "user", SECRET, t.join("requests.log"));
    let plain = format!("127.0.0.1:{port}");
    let url = format!("http://127.0.0.1:{port}/repo");
    let with = |password: &str| {
        airlock_env(
            &[
                "export",
                "-o",
                s(&bundle),
                "--sign-key",
                s(&key),
                "--vex-repo",
                &url,
                "--plain-http",
                &plain,
                "--json",
            ],
            &[
                ("AIRLOCK_VEX_USERNAME", "user"),
                ("AIRLOCK_VEX_PASSWORD", password),
            ],
        )
    };
    let out = with(&format!("wrong-{SECRET}"));
    assert_eq!(out.status.code(), Some(1));
    assert_redacted(&out, "the server answered 401");
    let out = with(SECRET);
    assert_eq!(out.status.code(), Some(5));
    assert_redacted(&out, "neither a zip nor a gzip-compressed tar");

    // Usage errors echo what they refuse: redacted too.
    let out = airlock(&[
        "export",
        "-o",
        s(&bundle),
        "--sign-key",
        s(&key),
        "--vex-repo",
        "a=https://vex.example/",
        "--vex-repo",
        &format!("https://user:{SECRET}@vex.example/b"),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert_redacted(&out, "--vex-repo \"https://***@vex.example/b\"");
    // Registry references have no userinfo; written with one anyway (with
    // or without a scheme), they are refused without being quoted whole.
    for (given, shown) in [
        (
            format!("user:{SECRET}@ghcr.io/aquasec/trivy-db:2"),
            "\"***@ghcr.io/aquasec/trivy-db:2\"",
        ),
        (
            format!("https://user:{SECRET}@ghcr.io/aquasec/trivy-db:2"),
            "\"https://***@ghcr.io/aquasec/trivy-db:2\"",
        ),
    ] {
        let out = airlock(&[
            "export",
            "-o",
            s(&bundle),
            "--sign-key",
            s(&key),
            "--trivy-db",
            &given,
            "--json",
        ]);
        assert_eq!(out.status.code(), Some(2));
        assert_redacted(&out, &format!("--trivy-db {shown} is neither a file nor"));
    }
    assert!(!bundle.exists());
}

#[test]
fn credentials_reach_the_vex_server_and_stay_out_of_the_bundle() {
    let t = TestDir::new();
    let (key, public) = keygen(t.path(), "vex");
    let root = t.join("root");
    let port = free_port();
    // The archive's location carries a token of its own in its query
    // (go-getter's form: url//folder?query).
    let location = format!("http://127.0.0.1:{port}/repo/main.zip//{VEX_TOP_DIR}?sig=sig-{SECRET}");
    write(
        &root.join("repo/.well-known/vex-repository.json"),
        format!(
            r#"{{"name":"private","versions":[{{"spec_version":"0.1","locations":[{{"url":"{location}"}}]}}]}}"#
        )
        .as_bytes(),
    );
    write(&root.join("repo/main.zip"), &vex_archive_zip());
    let server = AuthServer::start(port, &root, "user", SECRET, t.join("requests.log"));
    let bundle = t.join("b.airlock");
    // The password from a file, the user name from a flag (plain http to
    // this host named, or the credentials would not be sent).
    let password_file = t.join("password");
    write(&password_file, format!("{SECRET}\n").as_bytes());
    let out = airlock(&[
        "export",
        "-o",
        s(&bundle),
        "--sign-key",
        s(&key),
        "--vex-repo",
        &format!("http://127.0.0.1:{port}/repo"),
        "--vex-username",
        "user",
        "--vex-password-file",
        s(&password_file),
        "--plain-http",
        &format!("127.0.0.1:{port}"),
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let source = format!("url: http://127.0.0.1:{port}/repo/.well-known/vex-repository.json");
    assert_redacted(&out, &source);
    // Both requests carried the credentials (the archive is on the same origin).
    assert_eq!(
        server.requests(),
        format!(
            "/repo/.well-known/vex-repository.json auth\n/repo/main.zip?sig=sig-{SECRET} auth\n"
        )
    );
    // The signed manifest: where it came from, without the secrets.
    let tar = bundle_tar(&bundle);
    let (o, l) = tar_entry_offset(&tar, "airlock/manifest.toml");
    let text = String::from_utf8(tar[o..o + l as usize].to_vec()).unwrap();
    assert!(!text.contains(SECRET), "{text}");
    let m = Manifest::parse(text.as_bytes()).unwrap();
    assert_eq!(m.vex[0].source, source);
    assert_eq!(
        m.vex[0].original_location,
        format!("http://127.0.0.1:{port}/repo/main.zip//{VEX_TOP_DIR}?sig=***")
    );

    // Import: --vex-url with credentials would publish them; refused.
    let cache = t.join("cache");
    std::fs::create_dir_all(&cache).unwrap();
    let out = airlock(&[
        "import",
        s(&bundle),
        "--key",
        s(&public),
        "--cache-dir",
        s(&cache),
        "--vex-dir",
        s(&t.join("vex")),
        "--vex-url",
        &format!("https://user:{SECRET}@vex.example/vex"),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert_redacted(
        &out,
        "--vex-url \"https://***@vex.example/vex\" carries credentials",
    );
    // A refusal quoting a URL goes into the audit log redacted.
    let out = airlock(&[
        "import",
        s(&bundle),
        "--key",
        s(&public),
        "--cache-dir",
        s(&cache),
        "--push",
        &format!("https://user:{SECRET}@registry.example/security"),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert_redacted(&out, "--push \"https://***@registry.example/security\"");
    let audit = std::fs::read_to_string(cache.join(AUDIT_LOG)).unwrap();
    assert_eq!(audit.lines().count(), 2, "{audit}");
    assert!(
        !audit.contains(SECRET) && audit.contains("https://***@registry.example/security"),
        "{audit}"
    );
    assert!(!t.join("vex").exists());
}
