//! An outsider's review of the network features of issue 14: hostile
//! files and environment (a FIFO or a device where a credential file or
//! the CA store is expected), secrets that cannot travel in an HTTP header
//! (a control character, a non-ASCII letter), and a hostile token service
//! handing out such a token. Nothing waits forever, nothing reads without
//! end, and no secret is printed.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::support::*;

const SECRET: &str = "s3cr3t-tok";

/// Runs airlock with `args` and `env`, stdin closed; killed (and the test
/// failed) if it runs longer than `limit`.
fn airlock_within(args: &[&str], env: &[(&str, &str)], limit: Duration) -> Output {
    let mut child = Command::new(airlock_bin())
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run airlock");
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "airlock {args:?} still ran after {limit:?}:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

fn mkfifo(path: &Path) {
    let ok = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(ok.success());
}

/// A static server whose /v2/ answers (so the registry client resolves
/// its credentials) and whose manifests are missing (404).
fn v2_server(t: &TestDir) -> HttpServer {
    write(&t.join("www/v2/index.html"), b"{}");
    HttpServer::serve(&t.join("www"))
}

#[test]
fn a_fifo_or_a_device_as_credential_file_or_ca_store_is_not_waited_on() {
    let t = TestDir::new();
    let (key, _) = keygen(t.path(), "k");
    let bundle = t.join("b.airlock");
    let fifo = t.join("fifo");
    mkfifo(&fifo);
    let server = v2_server(&t);
    let host = format!("127.0.0.1:{}", server.port);
    let reference = format!("{host}/x:1");
    let args = [
        "export",
        "-o",
        s(&bundle),
        "--sign-key",
        s(&key),
        "--trivy-db",
        &reference,
        "--plain-http",
        &host,
    ];
    let link = t.join("link.pem");
    std::os::unix::fs::symlink(&fifo, &link).unwrap();
    let dir = t.join("certs");
    std::fs::create_dir_all(&dir).unwrap();
    std::os::unix::fs::symlink(&fifo, dir.join("a.pem")).unwrap();
    for env in [
        ("REGISTRY_AUTH_FILE", s(&fifo)),
        ("REGISTRY_AUTH_FILE", "/dev/zero"),
        ("SSL_CERT_FILE", s(&fifo)),
        ("SSL_CERT_FILE", s(&link)),
        ("SSL_CERT_FILE", "/dev/zero"),
        ("SSL_CERT_DIR", s(&dir)),
    ] {
        let out = airlock_within(&args, &[env], Duration::from_secs(30));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{env:?}: {stderr}");
        assert!(
            stderr.contains(&format!(
                "GET http://{host}/v2/x/manifests/1: the registry answered 404"
            )),
            "{env:?}: {stderr}"
        );
    }
}

#[test]
fn a_vex_secret_that_cannot_be_sent_is_refused_unshown() {
    let t = TestDir::new();
    let (key, _) = keygen(t.path(), "k");
    let bundle = t.join("b.airlock");
    let base = [
        "export",
        "-o",
        s(&bundle),
        "--sign-key",
        s(&key),
        "--vex-repo",
        "https://127.0.0.1:1/repo",
    ];
    let file = t.join("token");
    for (content, kind) in [
        (format!("{SECRET}\u{1}x\n"), "a control character"),
        (format!("{SECRET}\rx\n"), "a control character"),
        (
            format!("{SECRET}\u{e9}\n"),
            "a character outside visible ASCII",
        ),
        (format!("{SECRET} x\n"), "a space"),
    ] {
        write(&file, content.as_bytes());
        let mut args = base.to_vec();
        args.extend(["--vex-token-file", s(&file)]);
        let out = airlock_within(&args, &[], Duration::from_secs(30));
        assert_eq!(out.status.code(), Some(2));
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            format!("airlock: error: the VEX token holds {kind}, which cannot be sent; it is not shown\n")
        );
        // The same from the environment.
        let token = content.trim_end_matches('\n');
        let out = airlock_within(
            &base,
            &[("AIRLOCK_VEX_TOKEN", token)],
            Duration::from_secs(30),
        );
        assert_eq!(out.status.code(), Some(2));
        assert!(!String::from_utf8_lossy(&out.stderr).contains(SECRET));
    }
    // A password with a NUL in it.
    write(&file, format!("{SECRET}\0\n").as_bytes());
    let mut args = base.to_vec();
    args.extend(["--vex-username", "u", "--vex-password-file", s(&file)]);
    let out = airlock_within(&args, &[], Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "airlock: error: the VEX password holds a control character, which cannot be sent; it is not shown\n"
    );
    // A token file that never ends a line is read up to a limit, not
    // without end.
    let mut args = base.to_vec();
    args.extend(["--vex-token-file", "/dev/zero"]);
    let out = airlock_within(&args, &[], Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "airlock: error: cannot read the --vex-token-file file /dev/zero\n  caused by: its first line is longer than 65536 bytes\n"
    );
}

/// A registry at `/v2/` that wants a bearer token from its own `/token`,
/// which hands out `token`.
const TOKEN_SERVER: &str = r#"
import http.server, json, sys
port, token = int(sys.argv[1]), sys.argv[2]
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path.startswith("/token"):
            body = json.dumps({"token": token}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.send_response(401)
        self.send_header("WWW-Authenticate", f'Bearer realm="http://127.0.0.1:{port}/token",service="r"')
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
"#;

#[test]
fn a_token_the_http_client_refuses_to_send_is_not_printed() {
    let t = TestDir::new();
    let (key, _) = keygen(t.path(), "k");
    let bundle = t.join("b.airlock");
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    // A hostile token service's token with a character no header carries.
    let mut child = Command::new(tool("python3"))
        .args([
            "-c",
            TOKEN_SERVER,
            &port.to_string(),
            &format!("{SECRET}\u{1}x"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let host = format!("127.0.0.1:{port}");
    let reference = format!("{host}/x:1");
    let args = [
        "export",
        "-o",
        s(&bundle),
        "--sign-key",
        s(&key),
        "--trivy-db",
        &reference,
        "--plain-http",
        &host,
        "--debug",
    ];
    // The token service's token, and one from TRIVY_REGISTRY_TOKEN.
    let outs = [
        airlock_within(&args, &[], Duration::from_secs(30)),
        airlock_within(
            &args,
            &[("TRIVY_REGISTRY_TOKEN", &format!("{SECRET}\u{e9}"))],
            Duration::from_secs(30),
        ),
    ];
    let _ = child.kill();
    let _ = child.wait();
    for out in outs {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(!stderr.contains(SECRET), "{stderr}");
        assert!(
            stderr.contains("invalid header 'Authorization: ***'"),
            "{stderr}"
        );
    }
}

#[test]
fn a_refusal_after_a_redirect_does_not_claim_the_credentials_were_sent() {
    let t = TestDir::new();
    let (key, _) = keygen(t.path(), "k");
    let bundle = t.join("b.airlock");
    let root = t.join("root");
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let base = format!("http://127.0.0.1:{port}");
    // The manifest's archive is behind a redirect to this same server,
    // which wants the token there too: the HTTP client sends none after a
    // redirect, so the 401 comes from a server that got nothing.
    write(
        &root.join("repo/.well-known/vex-repository.json"),
        format!(
            r#"{{"name":"r","versions":[{{"spec_version":"0.1","locations":[{{"url":"{base}/redirect/repo/main.zip"}}]}}]}}"#
        )
        .as_bytes(),
    );
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/vex_auth_server.py");
    let mut child = Command::new(tool("python3"))
        .arg(&script)
        .args([&port.to_string(), s(&root), "bearer", "u", "p", SECRET])
        .arg(t.join("requests.log"))
        .arg(&base)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let url = format!("{base}/repo");
    let out = airlock_within(
        &[
            "export",
            "-o",
            s(&bundle),
            "--sign-key",
            s(&key),
            "--vex-repo",
            &url,
            "--plain-http",
            "127.0.0.1",
        ],
        &[("AIRLOCK_VEX_TOKEN", SECRET)],
        Duration::from_secs(30),
    );
    let _ = child.kill();
    let _ = child.wait();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(
        stderr.lines().next().unwrap(),
        format!("airlock: error: GET {base}/redirect/repo/main.zip: the server answered 401 (credentials sent: none to {base}/repo/main.zip, where the request was redirected)")
    );
    assert!(!stderr.contains(SECRET), "{stderr}");
}

/// A registry behind HTTP basic auth whose manifests answer 500 with a
/// body that quotes the Authorization header and the password it decodes.
const ECHO_SERVER: &str = r#"
import base64, http.server, sys
port = int(sys.argv[1])
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        got = self.headers.get("Authorization")
        if not got:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="r"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        password = base64.b64decode(got.split(" ", 1)[1]).decode().split(":", 1)[1]
        body = f"refused {got} with password {password}; again: {password}".encode()
        self.send_response(500)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
"#;

#[test]
fn a_registry_that_quotes_the_credentials_it_was_sent_does_not_get_them_printed() {
    let t = TestDir::new();
    let (key, _) = keygen(t.path(), "k");
    let bundle = t.join("b.airlock");
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut child = Command::new(tool("python3"))
        .args(["-c", ECHO_SERVER, &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let host = format!("127.0.0.1:{port}");
    let reference = format!("{host}/x:1");
    let out = airlock_within(
        &[
            "export",
            "-o",
            s(&bundle),
            "--sign-key",
            s(&key),
            "--trivy-db",
            &reference,
            "--plain-http",
            &host,
            "--json",
        ],
        &[("TRIVY_USERNAME", "u"), ("TRIVY_PASSWORD", SECRET)],
        Duration::from_secs(60),
    );
    let _ = child.kill();
    let _ = child.wait();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    use base64::Engine as _;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("u:{SECRET}"));
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(!all.contains(SECRET) && !all.contains(&basic), "{all}");
    assert!(
        all.contains("the registry answered 500: refused Basic *** with password ***; again: ***"),
        "{all}"
    );
}

#[test]
fn a_profile_vex_source_with_credentials_in_its_url_is_refused_unshown() {
    let t = TestDir::new();
    let profile = t.join("export.toml");
    write(
        &profile,
        format!(
            "output = \"b.airlock\"\nsign_key = [\"k.key\"]\n[[sources.vex]]\nname = \"internal\"\nurl = \"https://u:{SECRET}@vex.example/repo\"\n"
        )
        .as_bytes(),
    );
    let out = airlock_within(
        &["export", "--profile", s(&profile)],
        &[],
        Duration::from_secs(30),
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!("airlock: error: export profile {}: VEX source \"internal\": url \"https://***@vex.example/repo\" carries credentials; airlock does not take them from a URL\nhint: give the URL without them, and the credentials with --vex-username and --vex-password-stdin or --vex-password-file, or --vex-token-file (or AIRLOCK_VEX_USERNAME/AIRLOCK_VEX_PASSWORD, AIRLOCK_VEX_TOKEN)\n", profile.display())
    );
}
