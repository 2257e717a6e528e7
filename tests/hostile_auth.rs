//! Issue 17, items 3 to 5: hostile registries, token services and TLS.
//! Credentials go only where a challenge asked for them and only to the
//! registry they were given for; a token realm on another origin gets none
//! (unless `--allow-token-realm` names it); a refused certificate never
//! becomes a plain-http retry; an https registry is never followed to plain
//! http; `--insecure-skip-verify` covers the host it names and no other; a
//! token service's redirect is never followed with credentials.
//!
//! Every server is a loopback `hostile_server.py` that records each request
//! with its headers (and plain-http requests that reach its TLS port), so
//! each test asserts what the servers saw, not only airlock's exit code.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{json, Value};

use crate::support::hostile::{Hostile, TestCa};
use crate::support::*;

const USER: &str = "fleet";
const PASSWORD: &str = "hostile-s3cret";

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The `registry` knob of a hostile server that serves the fixture bundle's
/// trivy-db as `REPO:2` for each of `repos` (manifest, config and layer
/// written into `dir`).
fn serving_trivy_db(ex: &Exported, dir: &Path, repos: &[&str]) -> Value {
    std::fs::create_dir_all(dir).unwrap();
    let v: Value = serde_json::from_str(&airlock_ok(&[
        "inspect",
        s(&ex.bundle),
        "--key",
        s(&ex.public),
        "--json",
    ]))
    .unwrap();
    let art = v["manifest"]["artifact"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["kind"] == "trivy-db")
        .expect("a trivy-db artifact")
        .clone();
    let tar = bundle_tar(&ex.bundle);
    let blob = |digest: &str| -> PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap();
        let (o, l) = tar_entry_offset(&tar, &format!("oci/blobs/sha256/{hex}"));
        let path = dir.join(hex);
        write(&path, &tar[o..o + l as usize]);
        path
    };
    let manifest = blob(art["manifest_digest"].as_str().unwrap());
    let m: Value = serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap();
    let mut blobs = serde_json::Map::new();
    for d in [&m["config"]["digest"], &m["layers"][0]["digest"]] {
        let d = d.as_str().unwrap();
        blobs.insert(d.into(), json!(s(&blob(d))));
    }
    let manifests: serde_json::Map<String, Value> = repos
        .iter()
        .map(|r| (format!("{r}:2"), json!(s(&manifest))))
        .collect();
    json!({"blobs": blobs, "manifests": manifests})
}

/// `airlock export` of `--trivy-db` from `refs`, with `extra` flags, the
/// password on stdin, `env` set, and no credentials from the environment or
/// a Docker config otherwise.
fn export(
    t: &TestDir,
    ex: &Exported,
    name: &str,
    refs: &[String],
    extra: &[&str],
    env: &[(&str, &str)],
) -> Output {
    let out = t.join(&format!("{name}.airlock"));
    let mut cmd = Command::new(airlock_bin());
    cmd.args(["export", "-o", s(&out), "--sign-key", s(&ex.key)]);
    for r in refs {
        cmd.args(["--trivy-db", r]);
    }
    cmd.args(extra)
        .env_remove("TRIVY_USERNAME")
        .env_remove("TRIVY_PASSWORD")
        .env_remove("TRIVY_REGISTRY_TOKEN")
        .env("DOCKER_CONFIG", t.join("no-docker-config"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    output_with_stdin(&mut cmd, &format!("{PASSWORD}\n"))
}

/// Whether a recorded request carried an Authorization header.
fn authorized(r: &Value) -> bool {
    r["headers"]
        .as_object()
        .is_some_and(|h| h.keys().any(|k| k.eq_ignore_ascii_case("authorization")))
}

/// Requests that reached the server as plain http on its TLS port.
fn plain_on_tls(h: &Hostile) -> Vec<Value> {
    h.requests()
        .into_iter()
        .filter(|r| r["scheme"] == "http-on-tls-port")
        .collect()
}

/// (method, path, authorized) of every HTTP request the server saw.
fn seen(h: &Hostile) -> Vec<(String, String, bool)> {
    h.requests()
        .iter()
        .filter_map(|r| {
            Some((
                r["method"].as_str()?.to_string(),
                r["path"].as_str()?.to_string(),
                authorized(r),
            ))
        })
        .collect()
}

/// A registry that asks for `USER`/`PASSWORD` gets them only after its 401:
/// its first request carries none, and every authorized one follows a
/// request that carried none.
fn assert_credentials_only_after_a_challenge(h: &Hostile) {
    let log = seen(h);
    assert!(!log.is_empty(), "no request");
    assert_eq!(log[0].1, "/v2/", "{log:?}");
    assert!(!log[0].2, "the first request carried credentials: {log:?}");
    assert!(log.iter().any(|r| r.2), "never authorized: {log:?}");
}

#[test]
fn credentials_go_only_to_their_registry_and_only_after_its_challenge() {
    let t = TestDir::new();
    let ex = export_fixtures(&t);
    // B: the registry the credentials are for (the list's first host).
    let b = Hostile::start(
        &t.join("b"),
        json!({"auth": "basic", "user": USER, "password": PASSWORD,
               "registry": serving_trivy_db(&ex, &t.join("b-files"), &["good/trivy-db"])}),
    );
    // A: answers /v2/ 200 without a challenge, and 404 for the manifest.
    let a = Hostile::start(&t.join("a"), json!({}));
    // C: challenges, but is another registry.
    let c = Hostile::start(
        &t.join("c"),
        json!({"auth": "basic", "user": USER, "password": PASSWORD}),
    );
    let refs = [
        format!("{}/missing/trivy-db:2", b.host()),
        format!("{}/x/trivy-db:2", a.host()),
        format!("{}/x/trivy-db:2", c.host()),
        format!("{}/good/trivy-db:2", b.host()),
    ];
    // Every host named for plain http: only the scoping rules stand between
    // the password and A or C.
    let plain = [
        "--plain-http",
        &a.host(),
        "--plain-http",
        &b.host(),
        "--plain-http",
        &c.host(),
    ];
    let mut extra = plain.to_vec();
    extra.extend(["--username", USER, "--password-stdin"]);
    let out = export(&t, &ex, "stdin", &refs, &extra, &[]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        a.authorized_requests().is_empty(),
        "{:?}",
        a.authorized_requests()
    );
    assert!(
        c.authorized_requests().is_empty(),
        "{:?}",
        c.authorized_requests()
    );
    assert_credentials_only_after_a_challenge(&b);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!(
            "skipped {}/x/trivy-db:2: the registry {} refused the credentials (anonymous)",
            c.host(),
            c.host()
        )),
        "{stdout}"
    );
    // The note on where the credentials go, once.
    let note = format!(
        "are sent only to {} (the first reference of the list)",
        b.host()
    );
    assert_eq!(err.matches(&note).count(), 1, "{err}");

    // Trivy's variables are scoped the same way.
    for h in [&a, &b, &c] {
        h.clear();
    }
    let out = export(
        &t,
        &ex,
        "env",
        &refs,
        &plain,
        &[("TRIVY_USERNAME", USER), ("TRIVY_PASSWORD", PASSWORD)],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(a.authorized_requests().is_empty() && c.authorized_requests().is_empty());
    assert_credentials_only_after_a_challenge(&b);

    // With A first, the credentials are A's: A never challenges and never
    // sees them, and B gets none.
    for h in [&a, &b, &c] {
        h.clear();
    }
    let refs = [
        format!("{}/x/trivy-db:2", a.host()),
        format!("{}/good/trivy-db:2", b.host()),
    ];
    let out = export(&t, &ex, "a-first", &refs, &extra, &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "{}/good/trivy-db:2: the registry {} refused the credentials (anonymous)",
            b.host(),
            b.host()
        )),
        "{err}"
    );
    assert!(a.authorized_requests().is_empty());
    assert!(b.authorized_requests().is_empty());
}

/// A token service route answering every GET for a token with `token`.
fn token_route() -> Value {
    json!({"method": "GET", "path": "/token.*", "status": 200,
           "headers": {"Content-Type": "application/json"},
           "body": "{\"token\": \"hostile-token\"}"})
}

#[test]
fn a_realm_that_hides_its_host_behind_a_backslash_gets_no_credentials() {
    // `https://127.0.0.1:P\@localhost/token`: by hand the host looks like
    // `localhost` (the registry's own); the HTTP client, for which `\` ends
    // an http(s) authority like `/`, asks 127.0.0.1:P.
    let t = TestDir::new();
    let ex = export_fixtures(&t);
    let ca = TestCa::new(&t.join("ca"));
    let (tcert, tkey) = ca.issue("127.0.0.1");
    let token = Hostile::start(
        &t.join("token"),
        json!({"tls": {"cert": s(&tcert), "key": s(&tkey)}, "routes": [token_route()]}),
    );
    let realm = format!("https://127.0.0.1:{}\\@localhost/token", token.port);
    let (rcert, rkey) = ca.issue("localhost");
    let reg = Hostile::start(
        &t.join("reg"),
        json!({"tls": {"cert": s(&rcert), "key": s(&rkey)}, "auth": "bearer", "realm": realm,
               "registry": serving_trivy_db(&ex, &t.join("files"), &["good/trivy-db"])}),
    );
    let refs = [format!("localhost:{}/good/trivy-db:2", reg.port)];
    let creds = [
        "--ca-cert",
        s(&ca.cert),
        "--username",
        USER,
        "--password-stdin",
    ];
    let out = export(&t, &ex, "backslash", &refs, &creds, &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("to the token service 127.0.0.1:{}", token.port)),
        "{err}"
    );
    assert!(
        token.authorized_requests().is_empty(),
        "{:?}",
        token.requests()
    );
    assert!(reg.authorized_requests().is_empty());
}

#[test]
fn a_token_realm_on_another_origin_gets_no_credentials_unless_allowed() {
    let t = TestDir::new();
    let ex = export_fixtures(&t);
    let ca = TestCa::new(&t.join("ca"));
    let (tcert, tkey) = ca.issue("localhost");
    let token = Hostile::start(
        &t.join("token"),
        json!({"tls": {"cert": s(&tcert), "key": s(&tkey)}, "routes": [token_route()]}),
    );
    let realm_host = format!("localhost:{}", token.port);
    let realm = format!("https://{realm_host}/token");
    let (rcert, rkey) = ca.issue("127.0.0.1");
    let reg = Hostile::start(
        &t.join("reg"),
        json!({"tls": {"cert": s(&rcert), "key": s(&rkey)}, "auth": "bearer", "realm": realm,
               "registry": serving_trivy_db(&ex, &t.join("files"), &["good/trivy-db"])}),
    );
    let refs = [format!("{}/good/trivy-db:2", reg.host())];
    let creds = [
        "--ca-cert",
        s(&ca.cert),
        "--username",
        USER,
        "--password-stdin",
    ];

    // Another host, not on the registry's domain: refused before any
    // request reaches it.
    let out = export(&t, &ex, "refused", &refs, &creds, &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "refusing to send the credentials for {} to the token service {realm_host} ({realm}): the realm is neither the registry's host nor on its registrable domain",
            reg.host()
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!("--allow-token-realm {realm_host}")),
        "{err}"
    );
    assert!(token.requests().is_empty(), "{:?}", token.requests());
    assert!(reg.authorized_requests().is_empty());

    // Named by --allow-token-realm: the realm gets the password, the
    // registry the token, and the export succeeds.
    let mut allowed = creds.to_vec();
    allowed.extend(["--allow-token-realm", &realm_host]);
    let out = export(&t, &ex, "allowed", &refs, &allowed, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let sent = token.authorized_requests();
    assert!(!sent.is_empty());
    assert!(sent.iter().all(|r| r["headers"]["Authorization"]
        .as_str()
        .unwrap()
        .starts_with("Basic ")));
    assert!(reg
        .authorized_requests()
        .iter()
        .all(|r| r["headers"]["Authorization"] == "Bearer hostile-token"));

    // Control: anonymous, the realm is asked with nothing to leak.
    token.clear();
    let out = export(
        &t,
        &ex,
        "anonymous",
        &refs,
        &["--ca-cert", s(&ca.cert)],
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!token.requests().is_empty());
    assert!(token.authorized_requests().is_empty());
}

#[test]
fn a_certificate_for_another_name_is_never_retried_over_plain_http() {
    let t = TestDir::new();
    let ex = export_fixtures(&t);
    let ca = TestCa::new(&t.join("ca"));
    let (cert, key) = ca.issue("other.example");
    let h = Hostile::start(
        &t.join("h"),
        json!({"tls": {"cert": s(&cert), "key": s(&key)},
               "auth": "basic", "user": USER, "password": PASSWORD,
               "registry": serving_trivy_db(&ex, &t.join("files"), &["good/trivy-db"])}),
    );
    let host = format!("localhost:{}", h.port);
    let refs = [format!("{host}/good/trivy-db:2")];
    let creds = ["--username", USER, "--password-stdin"];
    // With --ca-cert (the certificate names another host), and without it
    // (its issuer is unknown): a refused certificate either way.
    for (name, ca_args, why) in [
        (
            "with-ca",
            vec!["--ca-cert", s(&ca.cert)],
            "certificate not valid for name \"localhost\"",
        ),
        ("without-ca", vec![], "UnknownIssuer"),
    ] {
        h.clear();
        let mut extra = ca_args.clone();
        extra.extend(creds);
        let out = export(&t, &ex, name, &refs, &extra, &[]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{name}: {err}");
        assert!(
            err.contains(&format!("cannot reach the registry {host}: https://{host}"))
                && err.contains(why)
                && err.contains("--insecure-skip-verify HOST"),
            "{name}: {err}"
        );
        let log = h.requests();
        assert!(plain_on_tls(&h).is_empty(), "{name}: {log:?}");
        assert!(h.authorized_requests().is_empty(), "{name}: {log:?}");
        assert!(seen(&h).is_empty(), "{name}: {log:?}");
        // The server logs the failed handshake when it sees the client
        // hang up, which may come just after airlock has exited.
        let start = std::time::Instant::now();
        while !h.requests().iter().any(|r| r.get("tls_error").is_some())
            && start.elapsed() < std::time::Duration::from_secs(5)
        {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let log = h.requests();
        assert!(
            log.iter().any(|r| r.get("tls_error").is_some()),
            "{name}: the handshake was not even tried: {log:?}"
        );
    }

    // Control: a certificate for localhost from the same CA.
    let (good_cert, good_key) = ca.issue("localhost");
    let good = Hostile::start(
        &t.join("good"),
        json!({"tls": {"cert": s(&good_cert), "key": s(&good_key)},
               "auth": "basic", "user": USER, "password": PASSWORD,
               "registry": serving_trivy_db(&ex, &t.join("files"), &["good/trivy-db"])}),
    );
    let refs = [format!("localhost:{}/good/trivy-db:2", good.port)];
    let mut extra = vec!["--ca-cert", s(&ca.cert)];
    extra.extend(creds);
    let out = export(&t, &ex, "control", &refs, &extra, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_credentials_only_after_a_challenge(&good);
    assert!(plain_on_tls(&good).is_empty());
}

#[test]
fn an_https_registry_is_never_followed_to_plain_http() {
    let t = TestDir::new();
    let ex = export_fixtures(&t);
    let ca = TestCa::new(&t.join("ca"));
    let (cert, key) = ca.issue("127.0.0.1");
    let tls = json!({"cert": s(&cert), "key": s(&key)});
    // Where a downgrade would lead: a plain server that records.
    let sink = Hostile::start(&t.join("sink"), json!({}));

    // A push whose upload Location is plain http.
    let reg = Hostile::start(
        &t.join("push"),
        json!({"tls": tls, "registry": {
            "upload_location": format!("http://{}/v2/fleet/trivy-db/blobs/uploads/stolen", sink.host())}}),
    );
    let target = format!("{}/fleet", reg.host());
    let push = |target: &str| {
        airlock(&[
            "import",
            s(&ex.bundle),
            "--key",
            s(&ex.public),
            "--push",
            target,
            "--ca-cert",
            s(&ca.cert),
        ])
    };
    let out = push(&target);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "the registry {} sent the client to plain http (http://{}/v2/fleet/trivy-db/blobs/uploads/stolen)",
            reg.host(),
            sink.host()
        )) && err.contains(&format!("--plain-http {}", sink.host())),
        "{err}"
    );
    assert!(sink.requests().is_empty(), "{:?}", sink.requests());

    // A blob GET redirected to plain http.
    let files = serving_trivy_db(&ex, &t.join("files"), &["good/trivy-db"]);
    let reg2 = Hostile::start(
        &t.join("export"),
        json!({"tls": tls, "registry": files, "routes": [{
            "method": "GET", "path": "/v2/good/trivy-db/blobs/sha256:.*", "status": 302,
            "headers": {"Location": format!("http://{}/blob", sink.host())}}]}),
    );
    let refs = [format!("{}/good/trivy-db:2", reg2.host())];
    let out = export(&t, &ex, "blob", &refs, &["--ca-cert", s(&ca.cert)], &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "the registry {} sent the client to plain http; an https registry is never followed to plain http",
            reg2.host()
        )),
        "{err}"
    );
    assert!(sink.requests().is_empty(), "{:?}", sink.requests());

    // Control: the same https registry without the plain-http Location
    // takes the push.
    let honest = Hostile::start(&t.join("honest"), json!({"tls": tls}));
    let out = push(&format!("{}/fleet", honest.host()));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("pushed into https://"));
}

#[test]
fn skip_verify_covers_the_host_it_names_and_no_other() {
    let t = TestDir::new();
    let ex = export_fixtures(&t);
    let ca = TestCa::new(&t.join("ca"));
    let (cert, key) = ca.issue("other.example");
    let files = serving_trivy_db(&ex, &t.join("files"), &["good/trivy-db"]);
    let tls = json!({"cert": s(&cert), "key": s(&key)});
    let a = Hostile::start(&t.join("a"), json!({"tls": tls, "registry": files}));
    let b = Hostile::start(&t.join("b"), json!({"tls": tls, "registry": files}));
    // A is reached as localhost, B as 127.0.0.1: two names, the same bad
    // certificate.
    let a_host = format!("localhost:{}", a.port);
    let refs = [
        format!("{}/good/trivy-db:2", b.host()),
        format!("{a_host}/good/trivy-db:2"),
    ];
    let out = export(
        &t,
        &ex,
        "skip",
        &refs,
        &["--insecure-skip-verify", &a_host],
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!(
            "skipped {}/good/trivy-db:2: cannot reach the registry {}",
            b.host(),
            b.host()
        )) && stdout.contains("UnknownIssuer"),
        "{stdout}"
    );
    assert!(
        seen(&b).is_empty() && plain_on_tls(&b).is_empty(),
        "{:?}",
        b.requests()
    );
    assert!(!seen(&a).is_empty());

    // The deprecated --insecure: this run's own hosts only, with a warning.
    a.clear();
    let out = export(
        &t,
        &ex,
        "legacy",
        &[format!("{a_host}/good/trivy-db:2")],
        &["--insecure"],
        &[],
    );
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("--insecure is deprecated")
            && err.contains(&format!("this run names ({a_host})")),
        "{err}"
    );
    assert!(!seen(&a).is_empty());
}

#[test]
fn no_proxy_keeps_an_internal_registry_and_its_credentials_away_from_the_proxy() {
    let t = TestDir::new();
    let ex = export_fixtures(&t);
    let files = serving_trivy_db(&ex, &t.join("files"), &["good/trivy-db"]);
    let h = Hostile::start(
        &t.join("h"),
        json!({"auth": "basic", "user": USER, "password": PASSWORD, "registry": files}),
    );
    // A "proxy" that records what reaches it (and answers 404).
    let proxy = Hostile::start(&t.join("proxy"), json!({}));
    let refs = [format!("{}/good/trivy-db:2", h.host())];
    let mut extra = vec!["--plain-http", "127.0.0.1"];
    extra.extend(["--username", USER, "--password-stdin"]);
    let proxy_url = proxy.url();
    // NO_PROXY names the registry: it is reached directly.
    let out = export(
        &t,
        &ex,
        "direct",
        &refs,
        &extra,
        &[
            ("http_proxy", &proxy_url),
            ("HTTPS_PROXY", &proxy_url),
            ("NO_PROXY", "localhost,127.0.0.1"),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(proxy.requests().is_empty(), "{:?}", proxy.requests());
    assert!(!h.authorized_requests().is_empty());
    // Control: without NO_PROXY the proxy is used (and gets the request).
    let out = export(
        &t,
        &ex,
        "proxied",
        &refs,
        &extra,
        &[("http_proxy", &proxy_url)],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(!proxy.requests().is_empty());
    // A proxy the client cannot use fails the run instead of being
    // silently gone around.
    h.clear();
    let out = export(
        &t,
        &ex,
        "unusable",
        &refs,
        &extra,
        &[("http_proxy", "https://127.0.0.1:9")],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("from the environment cannot be used"),
        "{}",
        stderr(&out)
    );
    assert!(h.requests().is_empty(), "{:?}", h.requests());
}

#[test]
fn plain_http_with_credentials_only_for_a_host_named_plain() {
    let t = TestDir::new();
    let ex = export_fixtures(&t);
    let files = serving_trivy_db(&ex, &t.join("files"), &["good/trivy-db"]);
    let h = Hostile::start(
        &t.join("h"),
        json!({"auth": "basic", "user": USER, "password": PASSWORD, "registry": files}),
    );
    let refs = [format!("{}/good/trivy-db:2", h.host())];
    let creds = ["--username", USER, "--password-stdin"];
    // A loopback registry is reached over plain http by itself, but gets no
    // credentials that way.
    let out = export(&t, &ex, "unnamed", &refs, &creds, &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "refusing to send the credentials for {} over plain http (http://{})",
            h.host(),
            h.host()
        )) && err.contains(&format!("--plain-http {}", h.host())),
        "{err}"
    );
    assert!(h.authorized_requests().is_empty());

    // Named: the credentials go, after the challenge.
    h.clear();
    let mut extra = vec!["--plain-http", &refs[0][..refs[0].find('/').unwrap()]];
    extra.extend(creds);
    let out = export(&t, &ex, "named", &refs, &extra, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_credentials_only_after_a_challenge(&h);

    // A GET redirected to another origin does not carry them there.
    let elsewhere = Hostile::start(&t.join("elsewhere"), json!({}));
    let redirecting = Hostile::start(
        &t.join("redirecting"),
        json!({"auth": "basic", "user": USER, "password": PASSWORD, "routes": [{
            "method": "GET", "path": "/v2/good/trivy-db/manifests/2", "status": 302,
            "headers": {"Location": format!("http://{}/v2/good/trivy-db/manifests/2", elsewhere.host())}}]}),
    );
    let refs = [format!("{}/good/trivy-db:2", redirecting.host())];
    let mut extra = vec!["--plain-http", "127.0.0.1"];
    extra.extend(creds);
    let out = export(&t, &ex, "redirected", &refs, &extra, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(!seen(&elsewhere).is_empty());
    assert!(elsewhere.authorized_requests().is_empty());
}

#[test]
fn a_token_service_redirect_is_not_followed() {
    let t = TestDir::new();
    let ex = export_fixtures(&t);
    let elsewhere = Hostile::start(&t.join("elsewhere"), json!({}));
    let steal = format!("http://{}/steal", elsewhere.host());
    let token = Hostile::start(
        &t.join("token"),
        json!({"routes": [
            {"method": "POST", "path": "/token303.*", "status": 303, "headers": {"Location": steal}},
            {"method": "POST", "path": "/token.*", "status": 307, "headers": {"Location": steal}},
            {"method": "GET", "path": "/token.*", "status": 302, "headers": {"Location": steal}},
        ]}),
    );
    let realm = format!("http://{}/token", token.host());
    let reg = Hostile::start(
        &t.join("reg"),
        json!({"auth": "bearer", "realm": realm,
               "registry": serving_trivy_db(&ex, &t.join("files"), &["good/trivy-db"])}),
    );
    let refs = [format!("{}/good/trivy-db:2", reg.host())];
    // A --plain-http registry, its realm on the same address: the realm may
    // receive the credentials, but not hand them on.
    let docker = t.join("docker");
    write(
        &docker.join("config.json"),
        format!(
            r#"{{"auths":{{"{}":{{"identitytoken":"idt-{PASSWORD}"}}}}}}"#,
            reg.host()
        )
        .as_bytes(),
    );
    let out = export(
        &t,
        &ex,
        "refresh",
        &refs,
        &["--plain-http", &reg.host()],
        &[("DOCKER_CONFIG", s(&docker))],
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "POST {realm}: the token service answered 307 (to {steal}), where a token (200) was expected"
        )),
        "{err}"
    );
    let posts: Vec<_> = seen(&token).into_iter().filter(|r| r.0 == "POST").collect();
    assert_eq!(posts.len(), 1, "{posts:?}");

    // A 303 would turn the POST into a GET elsewhere: not followed either.
    let realm303 = format!("http://{}/token303", token.host());
    let reg303 = Hostile::start(
        &t.join("reg303"),
        json!({"auth": "bearer", "realm": realm303,
               "registry": serving_trivy_db(&ex, &t.join("files"), &["good/trivy-db"])}),
    );
    write(
        &docker.join("config.json"),
        format!(
            r#"{{"auths":{{"{}":{{"identitytoken":"idt-{PASSWORD}"}}}}}}"#,
            reg303.host()
        )
        .as_bytes(),
    );
    let out = export(
        &t,
        &ex,
        "refresh303",
        &[format!("{}/good/trivy-db:2", reg303.host())],
        &["--plain-http", &reg303.host()],
        &[("DOCKER_CONFIG", s(&docker))],
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "POST {realm303}: the token service answered 303 (to {steal})"
        )),
        "{err}"
    );
    assert!(
        elsewhere.requests().is_empty(),
        "{:?}",
        elsewhere.requests()
    );

    // HTTP basic credentials: the GET's 302 is not followed either.
    let mut extra = vec!["--plain-http", &refs[0][..refs[0].find('/').unwrap()]];
    extra.extend(["--username", USER, "--password-stdin"]);
    let out = export(&t, &ex, "basic", &refs, &extra, &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "GET {realm}: the token service answered 302 (to {steal})"
        )),
        "{err}"
    );
    assert!(
        elsewhere.requests().is_empty(),
        "{:?}",
        elsewhere.requests()
    );
}
