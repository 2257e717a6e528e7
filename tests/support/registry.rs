//! A real OCI registry for the tests: Debian's `docker-registry`
//! (distribution 2.8) on a free loopback port, with filesystem storage in
//! the test's directory; optionally TLS with a CA made by openssl for the
//! test, and htpasswd basic authentication.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{run_ok, s, tool, write};

/// User and password of the authenticated registry.
pub const USER: &str = "fleet";
pub const PASSWORD: &str = "s3cret-for-tests";
/// The file in a token-auth registry's directory that lists the scopes asked for.
pub const SCOPE_LOG: &str = "token-scopes.log";

/// A running registry; killed on drop.
pub struct Registry {
    child: Option<Child>,
    /// The token service (token-auth registries).
    token_server: Option<Child>,
    config: PathBuf,
    pub port: u16,
    /// The CA certificate (TLS registries).
    pub ca: Option<PathBuf>,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Registry {
    /// Plain http, no authentication.
    pub fn plain(dir: &Path) -> Registry {
        Self::start(dir, false)
    }

    /// TLS (a test CA) and htpasswd authentication ([`USER`], [`PASSWORD`]).
    pub fn tls_with_auth(dir: &Path) -> Registry {
        Self::start(dir, true)
    }

    /// Plain http with bearer-token authentication: a token service
    /// (`token_server.py`) checks [`USER`] / [`PASSWORD`] and issues JWTs
    /// the registry verifies.
    /// The scopes the token service was asked for are appended, one a
    /// line, to [`SCOPE_LOG`] in `dir`.
    pub fn with_token_auth(dir: &Path) -> Registry {
        std::fs::create_dir_all(dir).unwrap();
        run_ok(Command::new(tool("openssl")).current_dir(dir).args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "token.key",
            "-out",
            "token.pem",
            "-days",
            "2",
            "-subj",
            "/CN=airlock test token issuer",
        ]));
        let der = Command::new(tool("openssl"))
            .current_dir(dir)
            .args(["x509", "-in", "token.pem", "-outform", "DER"])
            .output()
            .unwrap()
            .stdout;
        use base64::Engine as _;
        let der_b64 = base64::engine::general_purpose::STANDARD.encode(der);
        let token_port = free_port();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/token_server.py");
        let token_server = Command::new(tool("python3"))
            .arg(script)
            .args([
                &token_port.to_string(),
                s(&dir.join("token.key")),
                &der_b64,
                USER,
                PASSWORD,
            ])
            .arg("airlock-test")
            .arg(dir.join(SCOPE_LOG))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", token_port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "token server did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let extra = format!(
            "auth:\n  token:\n    realm: http://127.0.0.1:{token_port}/token\n    service: airlock-test\n    issuer: airlock-test-issuer\n    rootcertbundle: {}\n",
            s(&dir.join("token.pem"))
        );
        let mut r = Self::start_with(dir, false, extra);
        r.token_server = Some(token_server);
        r
    }

    fn start(dir: &Path, secure: bool) -> Registry {
        Self::start_with(dir, secure, String::new())
    }

    fn start_with(dir: &Path, secure: bool, mut extra: String) -> Registry {
        std::fs::create_dir_all(dir).unwrap();
        let port = free_port();
        let mut ca = None;
        if secure {
            let openssl = |args: &[&str]| {
                run_ok(Command::new(tool("openssl")).args(args).current_dir(dir));
            };
            openssl(&[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                "/CN=airlock test CA",
            ]);
            openssl(&[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
                "-subj",
                "/CN=127.0.0.1",
            ]);
            write(
                &dir.join("ext.cnf"),
                b"subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
            );
            openssl(&[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "server.pem",
                "-days",
                "2",
                "-extfile",
                "ext.cnf",
            ]);
            let htpasswd = run_ok(Command::new(tool("htpasswd")).args(["-Bbn", USER, PASSWORD]));
            write(&dir.join("htpasswd"), htpasswd.trim().as_bytes());
            extra = format!(
                "auth:\n  htpasswd:\n    realm: airlock-test\n    path: {}\n",
                s(&dir.join("htpasswd"))
            );
            ca = Some(dir.join("ca.pem"));
            // skopeo reads CA files named *.crt from a directory.
            std::fs::create_dir_all(dir.join("certs")).unwrap();
            std::fs::copy(dir.join("ca.pem"), dir.join("certs/ca.crt")).unwrap();
        }
        let tls = if secure {
            format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                s(&dir.join("server.pem")),
                s(&dir.join("server.key"))
            )
        } else {
            String::new()
        };
        let config = dir.join("config.yml");
        write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n{extra}http:\n  addr: 127.0.0.1:{port}\n{tls}",
                s(&dir.join("storage"))
            )
            .as_bytes(),
        );
        let mut r = Registry {
            child: None,
            token_server: None,
            config,
            port,
            ca,
        };
        r.restart();
        r
    }

    /// Starts (again) on the same port and storage.
    pub fn restart(&mut self) {
        let log = std::fs::File::create(self.config.with_file_name("registry.log")).unwrap();
        let child = Command::new(tool("docker-registry"))
            .arg("serve")
            .arg(&self.config)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "docker-registry did not start: {}",
                std::fs::read_to_string(self.config.with_file_name("registry.log"))
                    .unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills it (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The raw manifest of `repo:tag` as the registry serves it (skopeo).
    pub fn raw_manifest(&self, reference: &str) -> Vec<u8> {
        let mut cmd = Command::new(tool("skopeo"));
        cmd.args(["inspect", "--raw"]);
        match &self.ca {
            Some(ca) => {
                cmd.arg("--cert-dir")
                    .arg(ca.parent().unwrap().join("certs"));
            }
            None => {
                cmd.arg("--tls-verify=false");
            }
        }
        // Sent only when the registry asks (htpasswd or token auth).
        cmd.args(["--creds", &format!("{USER}:{PASSWORD}")]);
        cmd.arg(format!("docker://{}/{reference}", self.host()));
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "skopeo inspect {reference}: {out:?}");
        out.stdout
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.kill();
        if let Some(mut t) = self.token_server.take() {
            let _ = t.kill();
            let _ = t.wait();
        }
    }
}
