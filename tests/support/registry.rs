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

/// A running registry; killed on drop.
pub struct Registry {
    child: Option<Child>,
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

    fn start(dir: &Path, secure: bool) -> Registry {
        std::fs::create_dir_all(dir).unwrap();
        let port = free_port();
        let mut extra = String::new();
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
                cmd.args(["--creds", &format!("{USER}:{PASSWORD}")]);
            }
            None => {
                cmd.arg("--tls-verify=false");
            }
        }
        cmd.arg(format!("docker://{}/{reference}", self.host()));
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "skopeo inspect {reference}: {out:?}");
        out.stdout
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.kill();
    }
}
