//! `--push` of a delta bundle rebuilds each delta's layer from the cache
//! before it sends anything: a bundle it cannot push leaves the registry as
//! it was (before, the registry state's blobs and its untagged manifest
//! went up first, then the push was refused).

use std::path::Path;

use crate::support::fixtures::*;
use crate::support::registry::Registry;
use crate::support::*;

/// Every file under `dir` (the registry's storage), relative.
fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries {
            let p = e.unwrap().path();
            if p.is_dir() {
                todo.push(p);
            } else {
                out.push(p.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    out
}

#[test]
fn a_delta_bundle_pushed_without_its_cache_sends_nothing() {
    let t = TestDir::new();
    let e = export_fixtures(&t);
    let mut root = trivy_db_buckets();
    root.bucket("vulnerability").put(
        "CVE-2099-0002",
        r#"{"Title":"airlock push order","Severity":"LOW"}"#,
    );
    let next_layer = t.join("next-db.tar.gz");
    write(
        &next_layer,
        &tar_gz(&[
            (
                "metadata.json",
                db_metadata_json(2, "2026-11-21T06:13:44Z", "2026-11-22T06:13:44Z").into_bytes(),
            ),
            ("trivy.db", bbolt_bytes(&root)),
        ]),
    );
    let delta = t.join("delta.airlock");
    let mut args = export_all_args(&e.inputs, &e.key, &delta);
    let at = args.iter().position(|a| *a == s(&e.inputs.db)).unwrap();
    args[at] = s(&next_layer);
    let created = args.iter().position(|a| *a == CREATED).unwrap();
    args[created] = "2026-11-26T12:00:00Z";
    args.extend(["--base", s(&e.bundle)]);
    airlock_ok(&args);

    let reg = Registry::plain(&t.join("registry"));
    let storage = t.join("registry").join("storage");
    let before = files_under(&storage);
    let err = airlock_fails(
        &[
            "import",
            s(&delta),
            "--key",
            s(&e.public),
            "--push",
            &format!("{}/mirror", reg.host()),
        ],
        2,
    );
    assert!(
        err.contains("cannot push the trivy-db of this delta bundle")
            && err.contains("no cache was given to rebuild its layer from"),
        "{err}"
    );
    assert_eq!(files_under(&storage), before, "the registry was written to");
}
