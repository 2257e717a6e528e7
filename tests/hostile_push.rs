//! Issue 17, item 1: a push is done only when the registry stored it. A
//! hostile registry (tests/support/hostile_server.py) that redirects
//! uploads, answers 201 and stores nothing, claims every blob exists, or
//! serves other manifests than it was given cannot make `import --push`
//! succeed; and the fleet registry keeps its own push history, so it cannot
//! be downgraded through a fresh `--cache-dir` or a push-only import.

use std::path::Path;
use std::process::Output;

use serde_json::{json, Value};

use crate::support::fixtures::*;
use crate::support::hostile::Hostile;
use crate::support::registry::Registry;
use crate::support::*;

/// `airlock import BUNDLE --key PUBLIC --push TARGET [extra...]` (push only).
fn push_only(ex: &Exported, target: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "import",
        s(&ex.bundle),
        "--key",
        s(&ex.public),
        "--push",
        target,
    ];
    args.extend_from_slice(extra);
    airlock(&args)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// (method, path) of every request the server saw.
fn seen(h: &Hostile) -> Vec<(String, String)> {
    h.requests()
        .iter()
        .filter_map(|r| Some((r["method"].as_str()?.into(), r["path"].as_str()?.into())))
        .collect()
}

/// Manifest PUTs into the artifacts' repositories (not the registry state).
fn artifact_manifest_puts(h: &Hostile) -> Vec<String> {
    seen(h)
        .into_iter()
        .filter(|(m, p)| m == "PUT" && p.contains("/manifests/") && !p.contains("airlock-state"))
        .map(|(_, p)| p)
        .collect()
}

/// The failure's `--json` document: not ok, no push report.
fn assert_json_failure(out: &Output, code: i32) {
    assert_eq!(out.status.code(), Some(code), "{}", stderr(out));
    let v: Value = serde_json::from_str(&stdout(out)).unwrap_or_else(|e| {
        panic!("not JSON ({e}): {}", stdout(out));
    });
    assert_eq!(v["ok"], false, "{v}");
    assert_eq!(v["exit_code"], code, "{v}");
    assert!(v.get("push").is_none(), "{v}");
    let text = v.to_string();
    assert!(!text.contains("\"verified\""), "{text}");
}

/// Every blob the bundle would push: (digest, size), from `inspect`.
fn bundle_blobs(ex: &Exported) -> Vec<(String, u64)> {
    let v: Value = serde_json::from_str(&airlock_ok(&[
        "inspect",
        s(&ex.bundle),
        "--key",
        s(&ex.public),
        "--json",
    ]))
    .unwrap();
    v["manifest"]["payload"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| {
            let hex = p["path"].as_str()?.strip_prefix("oci/blobs/sha256/")?;
            Some((format!("sha256:{hex}"), p["size"].as_u64().unwrap()))
        })
        .collect()
}

#[test]
fn a_blob_put_answered_307_is_not_pushed() {
    let t = TestDir::new();
    let ex = export_fixtures(&t);
    let h = Hostile::start(
        &t.join("hostile"),
        json!({"routes": [{
            "method": "PUT",
            "path": "/v2/fleet/trivy-db/blobs/uploads/.*",
            "status": 307,
            "headers": {"Location": "/v2/elsewhere/blobs/uploads/parked"},
        }]}),
    );
    let target = format!("{}/fleet", h.host());
    let out = push_only(&ex, &target, &["--json"]);
    assert_json_failure(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "PUT http://{}/v2/fleet/trivy-db/blobs/uploads/",
            h.host()
        )) && err.contains(
            "the registry answered 307 (to /v2/elsewhere/blobs/uploads/parked), where the distribution spec expects 201"
        ),
        "{err}"
    );
    assert!(err.contains("nothing is reported as pushed"), "{err}");
    // Nothing followed the redirect, and no manifest went up after it.
    let log = seen(&h);
    assert!(!log.iter().any(|(_, p)| p.contains("elsewhere")), "{log:?}");
    let failed = log
        .iter()
        .position(|(m, p)| m == "PUT" && p.starts_with("/v2/fleet/trivy-db/blobs/uploads/"))
        .expect("the blob PUT");
    assert!(
        !log[failed..]
            .iter()
            .any(|(m, p)| m == "PUT" && p.contains("/manifests/")),
        "{log:?}"
    );
    assert!(artifact_manifest_puts(&h).is_empty(), "{log:?}");
}

#[test]
fn a_manifest_put_answered_302_is_refused_and_not_followed() {
    let t = TestDir::new();
    let ex = export_fixtures(&t);
    let h = Hostile::start(
        &t.join("hostile"),
        json!({"routes": [{
            "method": "PUT",
            "path": "/v2/fleet/trivy-db/manifests/.*",
            "status": 302,
            "headers": {"Location": "/v2/elsewhere/manifests/2"},
        }]}),
    );
    let target = format!("{}/fleet", h.host());
    let out = push_only(&ex, &target, &[]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "PUT http://{}/v2/fleet/trivy-db/manifests/2: the registry answered 302 (to /v2/elsewhere/manifests/2), where the distribution spec expects 201",
            h.host()
        )),
        "{err}"
    );
    assert!(err.contains("nothing is reported as pushed"), "{err}");
    assert!(!stdout(&out).contains("pushed into"), "{out:?}");
    let log = seen(&h);
    // No GET (or anything else) went where the 302 pointed.
    assert!(!log.iter().any(|(_, p)| p.contains("elsewhere")), "{log:?}");
    // The registry state was not moved on.
    assert!(
        !log.iter()
            .any(|(m, p)| m == "PUT" && p == "/v2/fleet/airlock-state/manifests/latest"),
        "{log:?}"
    );
}

#[test]
fn a_registry_that_answers_201_and_stores_nothing_fails_the_read_back() {
    let t = TestDir::new();
    let ex = export_fixtures(&t);
    let h = Hostile::start(
        &t.join("hostile"),
        json!({"registry": {"store_blobs": false}}),
    );
    let target = format!("{}/fleet", h.host());
    let out = push_only(&ex, &target, &["--json"]);
    assert_json_failure(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains("the registry does not serve back what was pushed: blob sha256:")
            && err.contains("HEAD answered 404 after the registry accepted its upload (201)"),
        "{err}"
    );
    // Read back before any manifest pointed at the missing blobs.
    assert!(artifact_manifest_puts(&h).is_empty(), "{:?}", seen(&h));
}

#[test]
fn a_registry_that_claims_every_blob_exists_is_caught() {
    let t = TestDir::new();
    let ex = export_fixtures(&t);
    // Naively: HEAD 200 for anything, with no body length.
    let h = Hostile::start(
        &t.join("naive"),
        json!({"registry": {"claim_blobs_exist": true}}),
    );
    let out = push_only(&ex, &format!("{}/fleet", h.host()), &["--json"]);
    assert_json_failure(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains("HEAD http://") && err.contains("the registry says the blob is \"0\" bytes"),
        "{err}"
    );
    assert!(artifact_manifest_puts(&h).is_empty(), "{:?}", seen(&h));

    // Cleverly: HEAD 200 with the right size and digest for every blob of
    // the bundle (and the empty config), none of them stored.
    let mut blobs = bundle_blobs(&ex);
    blobs.push((sha256_of(b"{}"), 2));
    let routes: Vec<Value> = blobs
        .iter()
        .map(|(d, size)| {
            json!({
                "method": "HEAD",
                "path": format!("/v2/.*/blobs/{d}"),
                "status": 200,
                "headers": {"Docker-Content-Digest": d},
                "content_length": size,
            })
        })
        .collect();
    let h = Hostile::start(&t.join("clever"), json!({ "routes": routes }));
    let out = push_only(&ex, &format!("{}/fleet", h.host()), &["--json"]);
    assert_json_failure(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains(
            "the registry said it had it (HEAD 200), so it was not sent, but reading it failed"
        ) && err.contains("the registry answered 404"),
        "{err}"
    );
    let log = seen(&h);
    assert!(
        log.iter()
            .any(|(m, p)| m == "GET" && p.contains("/blobs/sha256:")),
        "{log:?}"
    );
    assert!(artifact_manifest_puts(&h).is_empty(), "{log:?}");
}

fn sha256_of(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    format!("sha256:{:x}", sha2::Sha256::digest(bytes))
}

#[test]
fn a_manifest_served_other_than_pushed_is_caught() {
    let t = TestDir::new();
    let ex = export_fixtures(&t);
    let other = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}"#;
    let h = Hostile::start(
        &t.join("by-digest"),
        json!({"routes": [{
            "method": "GET",
            "path": "/v2/fleet/trivy-db/manifests/sha256:.*",
            "status": 200,
            "headers": {"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
            "body": other,
        }]}),
    );
    let out = push_only(&ex, &format!("{}/fleet", h.host()), &["--json"]);
    assert_json_failure(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "the registry does not serve back what was pushed: manifest {}/fleet/trivy-db@sha256:",
            h.host()
        )) && err.contains(&format!(
            "it serves {} bytes with sha256 {}, other than the",
            other.len(),
            sha256_of(other.as_bytes()).trim_start_matches("sha256:")
        )),
        "{err}"
    );
    // The push is not recorded as done in the registry state either.
    assert!(
        !seen(&h)
            .iter()
            .any(|(m, p)| m == "PUT" && p == "/v2/fleet/airlock-state/manifests/latest"),
        "{:?}",
        seen(&h)
    );

    // A tag that resolves to another manifest is caught the same way.
    let h = Hostile::start(
        &t.join("by-tag"),
        json!({"routes": [{
            "method": "GET",
            "path": "/v2/fleet/trivy-java-db/manifests/1",
            "status": 200,
            "headers": {"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
            "body": other,
        }]}),
    );
    let out = push_only(&ex, &format!("{}/fleet", h.host()), &[]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "tag {}/fleet/trivy-java-db:1: it resolves to {}, expected sha256:",
            h.host(),
            sha256_of(other.as_bytes())
        )),
        "{err}"
    );
}

#[test]
fn an_honest_hostile_server_gets_a_verified_push() {
    let t = TestDir::new();
    let ex = export_fixtures(&t);
    let h = Hostile::start(&t.join("hostile"), json!({}));
    let target = format!("{}/fleet", h.host());
    let out = push_only(&ex, &target, &["--json"]);
    assert!(out.status.success(), "{out:?}");
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["push"]["verified"], true, "{v}");
    assert_eq!(
        v["push"]["state"],
        format!("{}/fleet/airlock-state:latest", h.host())
    );
    let blobs: Vec<&Value> = v["push"]["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|a| a["blobs"].as_array().unwrap())
        .collect();
    assert_eq!(blobs.len(), 6, "{v}");
    // Sent blobs are checked with HEAD; one the server already had (it
    // keeps one blob store for all repositories, so the empty config the
    // registry state pushed first is there) is downloaded in full.
    assert!(
        blobs
            .iter()
            .all(|b| b["read_back"] == if b["skipped"] == true { "GET" } else { "HEAD" }),
        "{v}"
    );
    assert_eq!(
        blobs.iter().filter(|b| b["skipped"] == false).count(),
        3,
        "{v}"
    );
    // Each manifest was read back by digest and by tag.
    let log = seen(&h);
    for a in v["push"]["artifacts"].as_array().unwrap() {
        let reference = a["reference"].as_str().unwrap();
        let (repo_tag, digest) = (
            reference.split_once('/').unwrap().1,
            a["manifest_digest"].as_str().unwrap(),
        );
        let (repo, tag) = repo_tag.rsplit_once(':').unwrap();
        for r in [digest, tag] {
            let path = format!("/v2/{repo}/manifests/{r}");
            assert!(
                log.iter().any(|(m, p)| m == "GET" && *p == path),
                "{path} not read back: {log:?}"
            );
        }
    }
    assert!(
        log.iter()
            .any(|(m, p)| m == "PUT" && p == "/v2/fleet/airlock-state/manifests/latest"),
        "{log:?}"
    );

    // Again, in text: everything is there; what was skipped is downloaded.
    let out = push_only(&ex, &target, &[]);
    assert!(out.status.success(), "{out:?}");
    let text = stdout(&out);
    assert!(
        text.contains(&format!(
            "pushed into http://{} and verified (every blob, manifest and tag read back)",
            h.host()
        )) && text.contains("already there, skipped; read back in full")
            && text.contains(&format!(
                "registry state (push history of this prefix): {}/fleet/airlock-state:latest",
                h.host()
            )),
        "{text}"
    );
}

/// A bundle of the fixtures with the database at `(UpdatedAt, NextUpdate)`, created at
/// `created`, with more export flags.
fn export_variant(
    t: &TestDir,
    name: &str,
    (updated_at, next_update): (&str, &str),
    created: &str,
    extra: &[&str],
) {
    let inputs = write_inputs(&t.join(name));
    write(&inputs.db, &trivy_db_tar_gz(2, updated_at, next_update));
    let bundle = t.join(&format!("{name}.airlock"));
    let key = t.join("builder.key");
    let mut args = export_all_args(&inputs, &key, &bundle);
    let at = args.iter().position(|a| *a == "--created").unwrap();
    args[at + 1] = created;
    args.extend_from_slice(extra);
    airlock_ok(&args);
}

/// Every tag under `prefix` the fleet uses, with the digest served (skopeo).
fn served(reg: &Registry, prefix: &str) -> Vec<(String, String)> {
    [
        "trivy-db:2",
        "trivy-java-db:1",
        "trivy-checks:2",
        "airlock-state:latest",
    ]
    .iter()
    .map(|r| {
        let raw = reg.raw_manifest(&format!("{prefix}/{r}"));
        (r.to_string(), sha256_of(&raw))
    })
    .collect()
}

/// The registry state as stored (the state layer, read from the registry's
/// own storage).
fn stored_state(reg_dir: &Path, reg: &Registry, prefix: &str) -> Value {
    let raw = reg.raw_manifest(&format!("{prefix}/airlock-state:latest"));
    let m: Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(
        m["layers"][0]["mediaType"],
        "application/vnd.airlock.state.v1+json"
    );
    let hex = m["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .strip_prefix("sha256:")
        .unwrap()
        .to_string();
    let path = reg_dir.join(format!(
        "storage/docker/registry/v2/blobs/sha256/{}/{hex}/data",
        &hex[..2]
    ));
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn the_fleet_registry_cannot_be_downgraded_through_another_cache_or_push_only() {
    let t = TestDir::new();
    let (_, public) = keygen(t.path(), "builder");
    export_variant(
        &t,
        "new",
        ("2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z"),
        "2026-11-25T12:00:00Z",
        &["--series", "weekly", "--sequence", "5"],
    );
    export_variant(
        &t,
        "old",
        ("2023-12-01T00:00:00Z", "2023-12-02T00:00:00Z"),
        "2026-11-20T12:00:00Z",
        &["--series", "weekly", "--sequence", "4"],
    );
    let (new, old) = (t.join("new.airlock"), t.join("old.airlock"));
    let reg_dir = t.join("registry");
    let reg = Registry::plain(&reg_dir);
    let target = format!("{}/fleet", reg.host());
    let state_ref = format!("{}/fleet/airlock-state:latest", reg.host());

    import_ok(&new, &public, &t.join("cache-a"), &["--push", &target]);
    let before = served(&reg, "fleet");
    let state = stored_state(&reg_dir, &reg, "fleet");
    assert_eq!(state["series"]["weekly"]["sequence"], 5, "{state}");
    assert_eq!(state["series"]["weekly"]["forced"], false, "{state}");
    assert_eq!(state["components"]["db"], "2026-11-25T12:00:00Z", "{state}");
    assert_eq!(
        state["databases"]["trivy-db"], "2024-01-01T00:00:00Z",
        "{state}"
    );
    // Only what a push publishes: no VEX repository, nothing of a host.
    assert_eq!(state["components"].as_object().unwrap().len(), 3, "{state}");
    assert!(state.get("newest_seen").is_none(), "{state}");

    // A fresh cache has no history, but the registry does: refused before
    // the cache is written.
    let cache_b = t.join("cache-b");
    let err = airlock_fails(
        &[
            "import",
            s(&old),
            "--key",
            s(&public),
            "--cache-dir",
            s(&cache_b),
            "--push",
            &target,
        ],
        6,
    );
    for reason in [
        format!("in the registry state {state_ref}: series \"weekly\" is at sequence 5 on this host; this bundle is sequence 4"),
        format!("in the registry state {state_ref}: the trivy-db in this bundle (UpdatedAt 2023-12-01T00:00:00Z) is older than the installed one (UpdatedAt 2024-01-01T00:00:00Z)"),
    ] {
        assert!(err.contains(&reason), "{reason}\n{err}");
    }
    // The older database is said once, by its UpdatedAt, not again by its
    // bundle's creation time (issue 15: short refusals).
    assert!(
        !err.contains("db was installed here from a bundle created"),
        "{err}"
    );
    assert!(err.contains("--allow-downgrade"), "{err}");
    assert!(!cache_b.exists(), "a refused import created the cache");
    assert_eq!(served(&reg, "fleet"), before);

    // Push only: judged the same way.
    let err = airlock_fails(
        &["import", s(&old), "--key", s(&public), "--push", &target],
        6,
    );
    assert!(
        err.contains(&format!(
            "in the registry state {state_ref}: series \"weekly\" is at sequence 5"
        )),
        "{err}"
    );
    assert_eq!(served(&reg, "fleet"), before);

    // Another prefix has its own history.
    airlock_ok(&[
        "import",
        s(&old),
        "--key",
        s(&public),
        "--push",
        &format!("{}/staging", reg.host()),
    ]);
    assert_eq!(served(&reg, "fleet"), before);

    // Forced: pushed, said, and recorded as forced.
    let out = airlock_ok(&[
        "import",
        s(&old),
        "--key",
        s(&public),
        "--push",
        &target,
        "--allow-downgrade",
        "--json",
    ]);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["push"]["verified"], true, "{v}");
    let forced = v["push"]["forced"].to_string();
    assert!(
        forced.contains(&format!("in the registry state {state_ref}: series")),
        "{v}"
    );
    let after = served(&reg, "fleet");
    assert_ne!(after[0], before[0], "trivy-db was not replaced");
    let state = stored_state(&reg_dir, &reg, "fleet");
    assert_eq!(state["series"]["weekly"]["sequence"], 4, "{state}");
    assert_eq!(state["series"]["weekly"]["forced"], true, "{state}");

    // The new bundle is newer than what the registry now holds again.
    airlock_ok(&["import", s(&new), "--key", s(&public), "--push", &target]);
    assert_eq!(served(&reg, "fleet")[..3], before[..3]);
}

#[test]
fn a_damaged_registry_state_is_refused_not_taken_as_empty() {
    let t = TestDir::new();
    let ex = export_fixtures(&t);
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "not-json",
            json!({"method": "GET", "path": "/v2/fleet/airlock-state/manifests/latest",
                   "status": 200, "body": "not a manifest",
                   "headers": {"Content-Type": "application/vnd.oci.image.manifest.v1+json"}}),
            "its manifest is not an OCI image manifest",
        ),
        (
            "oversized",
            json!({"method": "GET", "path": "/v2/fleet/airlock-state/manifests/latest",
                   "status": 200,
                   "headers": {"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
                   "body": json!({"schemaVersion": 2,
                       "mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "config": {"mediaType": "application/vnd.oci.empty.v1+json",
                                  "digest": sha256_of(b"{}"), "size": 2},
                       "layers": [{"mediaType": "application/vnd.airlock.state.v1+json",
                                   "digest": sha256_of(b"x"), "size": 2u64 << 20}]}).to_string()}),
            "its layer is 2097152 bytes, more than the 1048576 allowed",
        ),
        (
            "missing-layer",
            json!({"method": "GET", "path": "/v2/fleet/airlock-state/manifests/latest",
                   "status": 200,
                   "headers": {"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
                   "body": json!({"schemaVersion": 2,
                       "mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "config": {"mediaType": "application/vnd.oci.empty.v1+json",
                                  "digest": sha256_of(b"{}"), "size": 2},
                       "layers": [{"mediaType": "application/vnd.airlock.state.v1+json",
                                   "digest": sha256_of(b"{}"), "size": 2}]}).to_string()}),
            "is missing",
        ),
    ];
    let mut cases: Vec<(&str, Vec<Value>, &str)> =
        cases.into_iter().map(|(n, r, w)| (n, vec![r], w)).collect();
    // `[]` would read as a state with every field empty.
    cases.push((
        "array",
        vec![
            json!({"method": "GET", "path": "/v2/fleet/airlock-state/manifests/latest",
                   "status": 200,
                   "headers": {"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
                   "body": json!({"schemaVersion": 2,
                       "mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "config": {"mediaType": "application/vnd.oci.empty.v1+json",
                                  "digest": sha256_of(b"{}"), "size": 2},
                       "layers": [{"mediaType": "application/vnd.airlock.state.v1+json",
                                   "digest": sha256_of(b"[]"), "size": 2}]}).to_string()}),
            json!({"method": "GET",
                   "path": format!("/v2/fleet/airlock-state/blobs/{}", sha256_of(b"[]")),
                   "status": 200, "body": "[]"}),
        ],
        "it is not a JSON object",
    ));
    for (name, routes, why) in cases {
        let h = Hostile::start(&t.join(name), json!({ "routes": routes }));
        let out = push_only(&ex, &format!("{}/fleet", h.host()), &[]);
        assert_eq!(out.status.code(), Some(1), "{name}: {out:?}");
        let err = stderr(&out);
        assert!(
            err.contains(&format!(
                "the registry state {}/fleet/airlock-state:latest is damaged (",
                h.host()
            )) && err.contains(why)
                && err.contains("hint: it records the bundles pushed under this prefix"),
            "{name}: {err}"
        );
        let log = seen(&h);
        assert!(
            !log.iter().any(|(m, _)| m == "PUT" || m == "POST"),
            "{name}: something was sent: {log:?}"
        );
    }
}

#[test]
fn a_registry_that_refuses_the_state_fails_the_push_before_anything_else_is_sent() {
    let t = TestDir::new();
    let ex = export_fixtures(&t);
    let h = Hostile::start(
        &t.join("hostile"),
        json!({"routes": [{
            "method": "PUT",
            "path": "/v2/fleet/airlock-state/manifests/.*",
            "status": 400,
            "body": "{\"errors\":[{\"code\":\"MANIFEST_INVALID\"}]}",
        }]}),
    );
    let out = push_only(&ex, &format!("{}/fleet", h.host()), &[]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "PUT http://{}/v2/fleet/airlock-state/manifests/sha256:",
            h.host()
        )) && err.contains("the registry answered 400")
            && err.contains("nothing is reported as pushed"),
        "{err}"
    );
    let log = seen(&h);
    assert!(
        !log.iter().any(|(_, p)| p.contains("/trivy-")),
        "an artifact was sent: {log:?}"
    );
}
