//! VEX servers that want credentials (issue 14): a user name and password
//! or a bearer token, from flags, the environment or a file, sent to the
//! first `--vex-repo`'s origin only: not to another host, not on a
//! redirect, not over plain http unless `--plain-http` names the host, and
//! never printed.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use crate::support::fixtures::*;
use crate::support::*;

const USER: &str = "vex-reader";
const PASSWORD: &str = "vex-pass-5ecret";
const TOKEN: &str = "vex-token-5ecret";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// tests/support/vex_auth_server.py on a free port; killed on drop.
struct VexServer {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl VexServer {
    /// `mode`: "basic", "bearer" or "open"; `/redirect/...` goes to
    /// `redirect` (a base URL).
    fn start(root: &Path, mode: &str, log: PathBuf, redirect: &str) -> VexServer {
        let port = free_port();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/vex_auth_server.py");
        let child = Command::new(tool("python3"))
            .arg(script)
            .args([&port.to_string(), s(root), mode, USER, PASSWORD, TOKEN])
            .arg(&log)
            .arg(redirect)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let server = VexServer { child, port, log };
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return server;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("VEX server on port {port} did not start");
    }

    /// The requests since the last call ("PATH AUTHORIZATION"), emptied.
    fn take_requests(&self) -> Vec<String> {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let _ = std::fs::write(&self.log, "");
        text.lines().map(str::to_string).collect()
    }
}

impl Drop for VexServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A VEX repository under `root/repo`, its archive at `archive_url`.
fn repository(root: &Path, archive_url: &str) {
    write(
        &root.join("repo/.well-known/vex-repository.json"),
        vex_repository_json(archive_url).as_bytes(),
    );
    write(&root.join("repo/main.zip"), &vex_archive_zip());
}

/// `airlock export` of the VEX repository at `url` alone, with `extra`
/// flags, `env` and `stdin`.
fn export(t: &TestDir, url: &str, extra: &[&str], env: &[(&str, &str)], stdin: &str) -> Output {
    let key = t.join("vex.key");
    if !key.exists() {
        keygen(t.path(), "vex");
    }
    let bundle = t.join("vex.airlock");
    let _ = std::fs::remove_file(&bundle);
    let mut cmd = Command::new(airlock_bin());
    cmd.args(["export", "-o", s(&bundle), "--sign-key", s(&key)])
        .args(["--vex-repo", url])
        .args(extra)
        .env_remove("AIRLOCK_VEX_USERNAME")
        .env_remove("AIRLOCK_VEX_PASSWORD")
        .env_remove("AIRLOCK_VEX_TOKEN");
    for (k, v) in env {
        cmd.env(k, v);
    }
    output_with_stdin(&mut cmd, stdin)
}

/// stderr, after checking that neither stream holds a secret.
fn stderr_without_secrets(out: &Output) -> String {
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for secret in [PASSWORD, TOKEN] {
        assert!(!all.contains(secret), "{secret} printed: {all}");
    }
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn basic() -> String {
    use base64::Engine as _;
    let b = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
    format!("Basic {b}")
}

#[test]
fn a_vex_server_behind_basic_auth_takes_credentials_from_flags_a_file_or_the_environment() {
    let t = TestDir::new();
    let root = t.join("root");
    let server = VexServer::start(
        &root,
        "basic",
        t.join("requests.log"),
        "http://unused.invalid",
    );
    let base = format!("http://127.0.0.1:{}", server.port);
    repository(&root, &format!("{base}/repo/main.zip"));
    let url = format!("{base}/repo");
    let manifest = format!("{base}/repo/.well-known/vex-repository.json");
    let plain = ["--plain-http", "127.0.0.1"];

    // Without credentials: refused, and said so.
    let out = export(&t, &url, &[], &[], "");
    let err = stderr_without_secrets(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(
        err.lines().next().unwrap(),
        format!("airlock: error: GET {manifest}: the server answered 401 (credentials sent: none)")
    );
    assert!(
        err.lines()
            .any(|l| l.starts_with("hint: if 127.0.0.1:") && l.contains("--vex-username")),
        "{err}"
    );
    assert_eq!(
        server.take_requests(),
        ["/repo/.well-known/vex-repository.json none"]
    );

    // Credentials over plain http to a host not named: nothing is sent.
    let login = ["--vex-username", USER, "--vex-password-stdin"];
    let out = export(&t, &url, &login, &[], &format!("{PASSWORD}\n"));
    let err = stderr_without_secrets(&out);
    assert_eq!(out.status.code(), Some(5), "{err}");
    assert_eq!(
        err.lines().next().unwrap(),
        format!("airlock: error: VEX repository \"default\": the credentials for 127.0.0.1:{} would go over plain http ({manifest}); nothing was sent", server.port)
    );
    assert!(server.take_requests().is_empty());

    // A wrong password.
    let mut flags = login.to_vec();
    flags.extend(plain);
    let out = export(&t, &url, &flags, &[], "wrong\n");
    let err = stderr_without_secrets(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(
        err.lines().next().unwrap(),
        format!("airlock: error: GET {manifest}: the server answered 401 (credentials sent: user name and password)")
    );
    server.take_requests();

    // The right one: from stdin, a file, the environment; both requests
    // carry it.
    let file = t.join("vex-password");
    write(&file, format!("{PASSWORD}\n").as_bytes());
    let both = vec![
        format!("/repo/.well-known/vex-repository.json {}", basic()),
        format!("/repo/main.zip {}", basic()),
    ];
    let out = export(&t, &url, &flags, &[], &format!("{PASSWORD}\n"));
    assert!(out.status.success(), "{}", stderr_without_secrets(&out));
    assert_eq!(server.take_requests(), both);
    let out = export(
        &t,
        &url,
        &[
            "--vex-username",
            USER,
            "--vex-password-file",
            s(&file),
            "--plain-http",
            "127.0.0.1",
        ],
        &[],
        "",
    );
    assert!(out.status.success(), "{}", stderr_without_secrets(&out));
    assert_eq!(server.take_requests(), both);
    let out = export(
        &t,
        &url,
        &plain,
        &[
            ("AIRLOCK_VEX_USERNAME", USER),
            ("AIRLOCK_VEX_PASSWORD", PASSWORD),
        ],
        "",
    );
    assert!(out.status.success(), "{}", stderr_without_secrets(&out));
    assert_eq!(server.take_requests(), both);

    // Never from the URL, with the flags or without them.
    let with_userinfo = format!("http://{USER}:{PASSWORD}@127.0.0.1:{}/repo", server.port);
    let out = export(&t, &with_userinfo, &flags, &[], &format!("{PASSWORD}\n"));
    let err = stderr_without_secrets(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!("airlock: error: --vex-repo \"http://***@127.0.0.1:{}/repo\" carries credentials; airlock does not take them from a URL", server.port)),
        "{err}"
    );
    assert!(server.take_requests().is_empty());
}

#[test]
fn a_bearer_token_goes_to_its_vex_server_and_not_to_another_host_or_a_redirect() {
    let t = TestDir::new();
    // The other host: `localhost` is another origin than 127.0.0.1.
    let other_root = t.join("other");
    let other = VexServer::start(
        &other_root,
        "open",
        t.join("other.log"),
        "http://unused.invalid",
    );
    write(&other_root.join("repo/main.zip"), &vex_archive_zip());
    let other_base = format!("http://localhost:{}", other.port);
    let root = t.join("root");
    let server = VexServer::start(&root, "bearer", t.join("requests.log"), &other_base);
    let base = format!("http://127.0.0.1:{}", server.port);
    let url = format!("{base}/repo");
    let token_file = t.join("token");
    write(&token_file, format!("{TOKEN}\n").as_bytes());
    let flags = [
        "--vex-token-file",
        s(&token_file),
        "--plain-http",
        "127.0.0.1",
    ];
    let bearer = format!("Bearer {TOKEN}");

    // The archive on this server: the token goes with both requests, from
    // the file or from AIRLOCK_VEX_TOKEN.
    repository(&root, &format!("{base}/repo/main.zip"));
    let out = export(&t, &url, &flags, &[], "");
    assert!(out.status.success(), "{}", stderr_without_secrets(&out));
    let both = vec![
        format!("/repo/.well-known/vex-repository.json {bearer}"),
        format!("/repo/main.zip {bearer}"),
    ];
    assert_eq!(server.take_requests(), both);
    let out = export(
        &t,
        &url,
        &["--plain-http", "127.0.0.1"],
        &[("AIRLOCK_VEX_TOKEN", TOKEN)],
        "",
    );
    assert!(out.status.success(), "{}", stderr_without_secrets(&out));
    assert_eq!(server.take_requests(), both);

    // A wrong token.
    let out = export(
        &t,
        &url,
        &["--plain-http", "127.0.0.1"],
        &[("AIRLOCK_VEX_TOKEN", "wrong")],
        "",
    );
    let err = stderr_without_secrets(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(
        err.lines().next().unwrap(),
        format!("airlock: error: GET {base}/repo/.well-known/vex-repository.json: the server answered 401 (credentials sent: token)")
    );
    server.take_requests();

    // The archive on another host: it gets no token.
    repository(&root, &format!("{other_base}/repo/main.zip"));
    let out = export(&t, &url, &flags, &[], "");
    assert!(out.status.success(), "{}", stderr_without_secrets(&out));
    assert_eq!(server.take_requests(), both[..1]);
    assert_eq!(other.take_requests(), ["/repo/main.zip none"]);

    // The archive redirected to another host: the token goes with the
    // request to its own server, not with the redirect.
    repository(&root, &format!("{base}/redirect/repo/main.zip"));
    let out = export(&t, &url, &flags, &[], "");
    assert!(out.status.success(), "{}", stderr_without_secrets(&out));
    assert_eq!(
        server.take_requests(),
        [both[0].clone(), format!("/redirect/repo/main.zip {bearer}")]
    );
    assert_eq!(other.take_requests(), ["/repo/main.zip none"]);

    // --debug: the requests, without the token.
    let mut debug = flags.to_vec();
    debug.push("--debug");
    let out = export(&t, &url, &debug, &[], "");
    let err = stderr_without_secrets(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.lines().any(|l| l.starts_with(&format!("airlock: debug: GET {base}/redirect/repo/main.zip (redirected to {other_base}/repo/main.zip) -> 200, "))),
        "{err}"
    );
}
