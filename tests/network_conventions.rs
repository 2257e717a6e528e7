//! Registry behaviour users know from other tools (issue 14): the system CA
//! store (`SSL_CERT_FILE`, `SSL_CERT_DIR`), `--insecure-skip-tls-verify`,
//! podman's `auth.json`, a `pull`-only token scope at export, and
//! `--debug` request lines that carry no credential.

use std::path::Path;
use std::process::{Command, Output};

use crate::support::registry::{Registry, PASSWORD, SCOPE_LOG, USER};
use crate::support::*;

/// `import --push` of the fixtures' bundle into `reg` (as `host/security`),
/// with `extra` flags, `env` set and the password on stdin; no Docker or
/// podman credentials and no CA store but what `env` gives.
fn push(
    t: &TestDir,
    ex: &Exported,
    reg: &Registry,
    extra: &[&str],
    env: &[(&str, &Path)],
) -> Output {
    let mut cmd = Command::new(airlock_bin());
    cmd.args(["import", s(&ex.bundle), "--key", s(&ex.public)])
        .args(["--push", &format!("{}/security", reg.host())])
        .args(extra);
    for v in [
        "TRIVY_USERNAME",
        "TRIVY_PASSWORD",
        "TRIVY_REGISTRY_TOKEN",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "REGISTRY_AUTH_FILE",
        "XDG_RUNTIME_DIR",
        "XDG_CONFIG_HOME",
    ] {
        cmd.env_remove(v);
    }
    cmd.env("DOCKER_CONFIG", t.join("no-docker-config"))
        .env("HOME", t.join("home"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    output_with_stdin(&mut cmd, &format!("{PASSWORD}\n"))
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_registry_whose_ca_is_in_ssl_cert_file_or_ssl_cert_dir_needs_no_ca_cert() {
    let t = TestDir::new();
    let ex = export_fixtures(&t);
    let reg = Registry::tls_with_auth(&t.join("registry"));
    let ca = reg.ca.clone().unwrap();
    let login = ["--username", USER, "--password-stdin"];
    // Without the CA anywhere: the error it always gave.
    let out = push(&t, &ex, &reg, &login, &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.starts_with(&format!(
            "airlock: error: cannot reach the registry {}: ",
            reg.host()
        )) && err.contains("--ca-cert"),
        "{err}"
    );
    // A bundle named by SSL_CERT_FILE.
    let bundle = t.join("store/bundle.crt");
    write(&bundle, &std::fs::read(&ca).unwrap());
    let out = push(&t, &ex, &reg, &login, &[("SSL_CERT_FILE", &bundle)]);
    assert!(out.status.success(), "{}", stderr(&out));
    // A directory named by SSL_CERT_DIR, a plain .pem file in it.
    let dir = t.join("store/certs");
    write(&dir.join("internal-ca.pem"), &std::fs::read(&ca).unwrap());
    let out = push(&t, &ex, &reg, &login, &[("SSL_CERT_DIR", &dir)]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("already there, skipped"));
    // A directory without it is no help.
    let other = t.join("store/other");
    write(&other.join("unrelated.pem"), b"not a certificate\n");
    let out = push(&t, &ex, &reg, &login, &[("SSL_CERT_DIR", &other)]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("cannot reach the registry"));
}

#[test]
fn insecure_skip_tls_verify_is_accepted_as_oras_spells_it() {
    let t = TestDir::new();
    let ex = export_fixtures(&t);
    let reg = Registry::tls_with_auth(&t.join("registry"));
    let login = ["--username", USER, "--password-stdin"];
    let mut extra = login.to_vec();
    extra.extend(["--insecure-skip-tls-verify", "localhost"]);
    // Another host named: this one is still verified.
    let out = push(&t, &ex, &reg, &extra, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    extra.extend(["--insecure-skip-tls-verify", "127.0.0.1"]);
    let out = push(&t, &ex, &reg, &extra, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn podman_auth_files_are_read_in_podmans_order_beside_the_docker_config() {
    use base64::Engine as _;
    let t = TestDir::new();
    let ex = export_fixtures(&t);
    let reg = Registry::tls_with_auth(&t.join("registry"));
    let ca = reg.ca.clone().unwrap();
    let auth_json = |password: &str| {
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{password}"));
        format!(r#"{{"auths":{{"{}":{{"auth":"{auth}"}}}}}}"#, reg.host()).into_bytes()
    };
    let with_ca = ["--ca-cert", s(&ca)];
    // REGISTRY_AUTH_FILE.
    let file = t.join("auth/auth.json");
    write(&file, &auth_json(PASSWORD));
    let out = push(&t, &ex, &reg, &with_ca, &[("REGISTRY_AUTH_FILE", &file)]);
    assert!(out.status.success(), "{}", stderr(&out));
    // $XDG_RUNTIME_DIR/containers/auth.json.
    let run = t.join("run");
    write(&run.join("containers/auth.json"), &auth_json(PASSWORD));
    let out = push(&t, &ex, &reg, &with_ca, &[("XDG_RUNTIME_DIR", &run)]);
    assert!(out.status.success(), "{}", stderr(&out));
    // ~/.config/containers/auth.json (HOME is the test's home).
    write(
        &t.join("home/.config/containers/auth.json"),
        &auth_json(PASSWORD),
    );
    let out = push(&t, &ex, &reg, &with_ca, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    // podman's files come before Docker's: a wrong password in
    // REGISTRY_AUTH_FILE is used although the Docker config is right.
    write(&file, &auth_json("wrong"));
    let docker = t.join("docker");
    write(&docker.join("config.json"), &auth_json(PASSWORD));
    let out = push(
        &t,
        &ex,
        &reg,
        &with_ca,
        &[("REGISTRY_AUTH_FILE", &file), ("DOCKER_CONFIG", &docker)],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("refused the credentials (user name and password)"),
        "{}",
        stderr(&out)
    );
}

/// The scopes the token service was asked for since the last call,
/// which empties the log.
fn scopes_asked(reg_dir: &Path) -> Vec<String> {
    let log = reg_dir.join(SCOPE_LOG);
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    std::fs::write(&log, "").unwrap();
    text.lines().map(str::to_string).collect()
}

/// A bearer token for the three repositories, from the token service the
/// registry's challenge names.
fn bearer_token(reg: &Registry) -> String {
    use base64::Engine as _;
    let Err(ureq::Error::Status(401, r)) = ureq::get(&format!("http://{}/v2/", reg.host())).call()
    else {
        panic!("no challenge");
    };
    let challenge = r.header("www-authenticate").unwrap().to_string();
    let realm = challenge
        .split("realm=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
    let mut req = ureq::get(realm)
        .query("service", "airlock-test")
        .set("Authorization", &format!("Basic {basic}"));
    for repo in ["trivy-db", "trivy-java-db", "trivy-checks"] {
        req = req.query("scope", &format!("repository:aquasec/{repo}:pull"));
    }
    let body = req.call().unwrap().into_string().unwrap();
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    v["token"].as_str().unwrap().to_string()
}

#[test]
fn export_asks_for_pull_only_and_debug_lines_carry_no_password_or_token() {
    let t = TestDir::new();
    let ex = export_fixtures(&t);
    let reg_dir = t.join("registry");
    let reg = Registry::with_token_auth(&reg_dir);
    let target = format!("{}/aquasec", reg.host());
    let mut cmd = Command::new(airlock_bin());
    cmd.args(["import", s(&ex.bundle), "--key", s(&ex.public)])
        .args(["--push", &target, "--plain-http", &reg.host()])
        .args(["--username", USER, "--password-stdin"])
        .env("DOCKER_CONFIG", t.join("no-docker-config"));
    let out = output_with_stdin(&mut cmd, &format!("{PASSWORD}\n"));
    assert!(out.status.success(), "{}", stderr(&out));
    let pushed = scopes_asked(&reg_dir);
    assert!(
        pushed.contains(&"repository:aquasec/trivy-db:pull,push".to_string()),
        "{pushed:?}"
    );
    let export = |env: (&str, &str), out_name: &str| {
        Command::new(airlock_bin())
            .args([
                "export",
                "-o",
                s(&t.join(out_name)),
                "--sign-key",
                s(&ex.key),
            ])
            .args(["--trivy-db", &format!("{target}/trivy-db:2")])
            .args(["--java-db", &format!("{target}/trivy-java-db:1")])
            .args(["--checks", &format!("{target}/trivy-checks:2")])
            .args(["--plain-http", &reg.host(), "--debug"])
            .env_remove("TRIVY_USERNAME")
            .env_remove("TRIVY_PASSWORD")
            .env_remove("TRIVY_REGISTRY_TOKEN")
            .env(env.0, env.1)
            .env("DOCKER_CONFIG", t.join("no-docker-config"))
            .output()
            .unwrap()
    };
    // A user name and password: exchanged for tokens of scope pull.
    let out = {
        let mut c = Command::new(airlock_bin());
        c.args([
            "export",
            "-o",
            s(&t.join("pulled-1.airlock")),
            "--sign-key",
            s(&ex.key),
        ])
        .args(["--trivy-db", &format!("{target}/trivy-db:2")])
        .args(["--java-db", &format!("{target}/trivy-java-db:1")])
        .args(["--checks", &format!("{target}/trivy-checks:2")])
        .args(["--plain-http", &reg.host(), "-v"])
        .env("TRIVY_USERNAME", USER)
        .env("TRIVY_PASSWORD", PASSWORD)
        .env_remove("TRIVY_REGISTRY_TOKEN")
        .env("DOCKER_CONFIG", t.join("no-docker-config"));
        c.output().unwrap()
    };
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    let asked = scopes_asked(&reg_dir);
    assert!(!asked.is_empty());
    assert!(asked.iter().all(|s| s.ends_with(":pull")), "{asked:?}");
    let manifest_line = format!(
        "airlock: debug: GET http://{}/v2/aquasec/trivy-db/manifests/2 -> 200, ",
        reg.host()
    );
    assert!(err.lines().any(|l| l.starts_with(&manifest_line)), "{err}");
    assert!(
        err.lines()
            .any(|l| l.starts_with("airlock: debug: GET http://127.0.0.1:")
                && l.contains("/token?")
                && l.contains(" -> 200, ")),
        "{err}"
    );
    for secret in [PASSWORD, "Basic ", "Bearer ", "eyJ"] {
        assert!(!err.contains(secret), "{secret:?} in {err}");
    }
    // A bearer token given to the run is used as it is, and never shown.
    let token = bearer_token(&reg);
    let out = export(("TRIVY_REGISTRY_TOKEN", &token), "pulled-2.airlock");
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.lines().any(|l| l.starts_with(&manifest_line)), "{err}");
    assert!(!err.contains(&token) && !err.contains("eyJ"), "{err}");
    // Without --debug, no request lines.
    let out = Command::new(airlock_bin())
        .args([
            "export",
            "-o",
            s(&t.join("pulled-3.airlock")),
            "--sign-key",
            s(&ex.key),
        ])
        .args(["--trivy-db", &format!("{target}/trivy-db:2")])
        .args(["--java-db", &format!("{target}/trivy-java-db:1")])
        .args(["--checks", &format!("{target}/trivy-checks:2")])
        .args(["--plain-http", &reg.host()])
        .env("TRIVY_REGISTRY_TOKEN", &token)
        .env("DOCKER_CONFIG", t.join("no-docker-config"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        !stderr(&out).contains("airlock: debug:"),
        "{}",
        stderr(&out)
    );
}
