//! Hostile servers on loopback for the network tests (issue 17): a Python
//! server (`hostile_server.py`) that plays a registry, a token service or a
//! file server and misbehaves as its JSON config says, recording every
//! request it sees. It exits by itself after its lifetime, and is killed on
//! drop.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{run_ok, s, tool, write};

/// A running hostile server.
pub struct Hostile {
    child: Child,
    /// Its loopback port.
    pub port: u16,
    /// `https` or `http`.
    pub scheme: &'static str,
    log: PathBuf,
}

impl Hostile {
    /// Starts a server in `dir` with `config` (see hostile_server.py); `log`,
    /// `port_file` and a `lifetime` (default 120 s) are filled in.
    pub fn start(dir: &Path, mut config: Value) -> Hostile {
        std::fs::create_dir_all(dir).unwrap();
        let log = dir.join("requests.jsonl");
        let port_file = dir.join("port");
        let _ = std::fs::remove_file(&port_file);
        write(&log, b"");
        config["log"] = json!(s(&log));
        config["port_file"] = json!(s(&port_file));
        if config.get("lifetime").is_none() {
            config["lifetime"] = json!(120);
        }
        let scheme = if config.get("tls").is_some() {
            "https"
        } else {
            "http"
        };
        let conf = dir.join("config.json");
        write(&conf, config.to_string().as_bytes());
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/hostile_server.py");
        let child = Command::new(tool("python3"))
            .arg(script)
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start hostile_server.py");
        let mut server = Hostile {
            child,
            port: 0,
            scheme,
            log,
        };
        let start = Instant::now();
        loop {
            if let Ok(p) = std::fs::read_to_string(&port_file) {
                server.port = p.trim().parse().expect("port");
                return server;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "hostile server did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `SCHEME://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme, self.host())
    }

    /// Every request seen so far, in order (plain-http requests to a TLS
    /// port have `"scheme": "http-on-tls-port"`; failed handshakes are
    /// `{"tls_error": ...}`).
    pub fn requests(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Forgets the requests seen so far (between two runs of one test).
    pub fn clear(&self) {
        write(&self.log, b"");
    }

    /// The requests that carried an Authorization header.
    pub fn authorized_requests(&self) -> Vec<Value> {
        self.requests()
            .into_iter()
            .filter(|r| {
                r["headers"]
                    .as_object()
                    .is_some_and(|h| h.keys().any(|k| k.eq_ignore_ascii_case("authorization")))
            })
            .collect()
    }
}

impl Drop for Hostile {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A certificate authority made for one test, to issue server certificates
/// that a verifier trusting it (`--ca-cert`) accepts (a self-signed
/// certificate is a CA certificate, which WebPKI refuses as a server's own).
pub struct TestCa {
    /// The CA certificate (PEM), for `--ca-cert`.
    pub cert: PathBuf,
    key: PathBuf,
    dir: PathBuf,
}

impl TestCa {
    /// A new CA in `dir`.
    pub fn new(dir: &Path) -> TestCa {
        std::fs::create_dir_all(dir).unwrap();
        let cert = dir.join("ca.pem");
        let key = dir.join("ca.key");
        run_ok(Command::new(tool("openssl")).args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            s(&key),
            "-out",
            s(&cert),
            "-days",
            "2",
            "-subj",
            "/CN=airlock hostile test CA",
        ]));
        TestCa {
            cert,
            key,
            dir: dir.to_path_buf(),
        }
    }

    /// A server certificate for `name` (a DNS name or an IP address) and
    /// its key; returns (cert, key).
    pub fn issue(&self, name: &str) -> (PathBuf, PathBuf) {
        let san = if name.parse::<std::net::IpAddr>().is_ok() {
            format!("IP:{name}")
        } else {
            format!("DNS:{name}")
        };
        let cert = self.dir.join(format!("{name}.pem"));
        let key = self.dir.join(format!("{name}.key"));
        let csr = self.dir.join(format!("{name}.csr"));
        let ext = self.dir.join(format!("{name}.ext"));
        write(
            &ext,
            format!(
                "subjectAltName={san}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
            )
            .as_bytes(),
        );
        run_ok(Command::new(tool("openssl")).args([
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            s(&key),
            "-out",
            s(&csr),
            "-subj",
            &format!("/CN={name}"),
        ]));
        run_ok(Command::new(tool("openssl")).args([
            "x509",
            "-req",
            "-in",
            s(&csr),
            "-CA",
            s(&self.cert),
            "-CAkey",
            s(&self.key),
            "-CAcreateserial",
            "-out",
            s(&cert),
            "-days",
            "2",
            "-extfile",
            s(&ext),
        ]));
        (cert, key)
    }
}
