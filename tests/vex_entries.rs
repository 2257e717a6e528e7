//! Issue 14: the repository.yaml entries printed after an import with
//! `--vex-dir` show, commented out, where Trivy's `username`/`password`/
//! `token` go when the internal server requires authentication; and those
//! lines, uncommented as shown, are what the real `trivy vex repo download`
//! sends to a server behind basic auth or a bearer token.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::support::*;

/// A static file server that answers 401 unless the request carries
/// exactly the `Authorization` header given (python's http.server).
const AUTH_SERVER: &str = r#"
import functools, http.server, sys
root, port, expected = sys.argv[1], int(sys.argv[2]), sys.argv[3]
class H(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a): pass
    def _ok(self):
        if self.headers.get("Authorization") == expected:
            return True
        self.send_response(401); self.send_header("WWW-Authenticate", 'Basic realm="vex"')
        self.send_header("Content-Length", "0"); self.end_headers()
        return False
    def do_GET(self):
        if self._ok(): super().do_GET()
    def do_HEAD(self):
        if self._ok(): super().do_HEAD()
http.server.ThreadingHTTPServer(("127.0.0.1", port), functools.partial(H, directory=root)).serve_forever()
"#;

struct AuthServer {
    child: std::process::Child,
    port: u16,
}

impl Drop for AuthServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The printed entry lines (without the two-space indent), from
/// `repositories:` on.
fn printed_entries(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .skip_while(|l| *l != "  repositories:")
        .take_while(|l| l.starts_with("  "))
        .map(|l| l[2..].to_string())
        .collect()
}

/// The entries with the credential lines uncommented as the comment says.
fn uncommented(entries: &[String], keep: &[&str]) -> String {
    let mut yaml = String::new();
    for l in entries {
        let t = l.trim_start();
        if let Some(field) = t.strip_prefix("# ") {
            if keep.iter().any(|k| field.starts_with(&format!("{k}: "))) {
                yaml.push_str(&l.replacen("# ", "", 1));
                yaml.push('\n');
            }
            continue;
        }
        yaml.push_str(l);
        yaml.push('\n');
    }
    yaml
}

/// `trivy vex repo download` with `repository_yaml` and a fresh cache.
fn download(t: &TestDir, name: &str, repository_yaml: &str) -> std::process::Output {
    let xdg = t.join(&format!("xdg-{name}"));
    write(
        &xdg.join(".trivy/vex/repository.yaml"),
        repository_yaml.as_bytes(),
    );
    crate::support::trivy::trivy(
        &t.join(&format!("cache-{name}")),
        &xdg,
        &["vex", "repo", "download"],
    )
}

#[test]
fn the_printed_entries_show_where_the_credentials_go_and_trivy_sends_them() {
    let t = TestDir::new();
    let e = export_fixtures(&t);
    let vex_dir = t.join("vex-dir");
    // The port is known before the import names the URL.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let base = format!("http://127.0.0.1:{port}");
    let out = import_ok(
        &e.bundle,
        &e.public,
        &t.join("cache"),
        &["--vex-dir", s(&vex_dir), "--vex-url", &base],
    );
    let entries = printed_entries(&out);
    assert_eq!(
        entries,
        [
            "repositories:".to_string(),
            "  - name: default".to_string(),
            format!("    url: {base}/default"),
            "    enabled: true".to_string(),
            "    # if the server requires authentication, uncomment either:".to_string(),
            "    # username: USER".to_string(),
            "    # password: PASSWORD".to_string(),
            "    # or:".to_string(),
            "    # token: TOKEN".to_string(),
        ],
        "{out}"
    );

    // Basic auth: USER / PASSWORD as printed, replaced by real values.
    let basic = "Basic YWxpY2U6czNjcmV0"; // alice:s3cret
    let with_user = uncommented(&entries, &["username", "password"])
        .replace("USER", "alice")
        .replace("PASSWORD", "s3cret");
    let without = uncommented(&entries, &[]);
    {
        let _server = AuthServer::serve_on(&vex_dir, basic, port);
        let ok = download(&t, "basic", &with_user);
        assert!(
            ok.status.success(),
            "{with_user}\n{}",
            String::from_utf8_lossy(&ok.stderr)
        );
        assert!(t
            .join("cache-basic/vex/repositories/default/0.1/index.json")
            .is_file());
        // The control: the same entry without credentials is refused.
        let refused = download(&t, "none", &without);
        let err = String::from_utf8_lossy(&refused.stderr);
        assert!(!refused.status.success(), "{err}");
        assert!(err.contains("401"), "{err}");
    }
    // Bearer token.
    let with_token = uncommented(&entries, &["token"]).replace("TOKEN", "t0ken");
    let _server = AuthServer::serve_on(&vex_dir, "Bearer t0ken", port);
    let ok = download(&t, "token", &with_token);
    assert!(
        ok.status.success(),
        "{with_token}\n{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(t
        .join("cache-token/vex/repositories/default/0.1/index.json")
        .is_file());
}

impl AuthServer {
    /// As [`AuthServer::serve`] on a port chosen earlier.
    fn serve_on(dir: &Path, authorization: &str, port: u16) -> Self {
        let child = Command::new(tool("python3"))
            .args(["-c", AUTH_SERVER])
            .arg(dir)
            .args([&port.to_string(), authorization])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let server = AuthServer { child, port };
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", server.port)).is_ok() {
                return server;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("auth server on port {port} did not start");
    }
}
