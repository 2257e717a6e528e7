//! The clean-up registry's and the sweep's unit tests.

use super::*;

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn leftover_names_are_airlocks_temporary_paths_only() {
    for yes in [
        ".airlock-export-AbC123",
        ".airlock-bundle-x1.partial",
        ".airlock-part-x1.partial",
        ".airlock-sign-x1.partial",
        ".airlock-sums-x1.partial",
    ] {
        assert!(is_leftover_name(yes), "{yes}");
    }
    for no in [
        ".airlock-export-",
        ".airlock-bundle-x1",
        ".airlock-staging-x1",
        ".airlock-previous",
        ".airlock.lock",
        ".airlock-state.json",
        "bundle.airlock",
        ".airlock-bundle-.partial",
        ".airlock-export-settings-backup",
        ".airlock-export-AbC1234",
        ".airlock-bundle-old-2024.partial",
        ".airlock-bundle-AbC123.partial.bak",
        ".airlock-sign-x\nimport.partial",
        ".airlock-part-ab cd.partial",
    ] {
        assert!(!is_leftover_name(no), "{no}");
    }
    // What airlock really creates is a leftover.
    let t = tempfile::tempdir().unwrap();
    for (prefix, suffix) in LEFTOVERS {
        let f = temp_file(t.path(), prefix, suffix).unwrap();
        let name = f.path().file_name().unwrap().to_str().unwrap().to_owned();
        assert!(is_leftover_name(&name), "{name}");
        let w = work_dir(t.path(), prefix).unwrap();
        let name = w.path().file_name().unwrap().to_str().unwrap().to_owned();
        assert_eq!(name.len(), prefix.len() + RANDOM_LEN, "{name}");
    }
}

#[test]
fn a_dead_runs_leftovers_are_swept_and_nothing_else() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    // A dead run's folder and file: nobody holds their locks.
    std::fs::create_dir(d.join(".airlock-export-dead")).unwrap();
    std::fs::create_dir(d.join(".airlock-export-dead/vex-default")).unwrap();
    std::fs::write(
        d.join(".airlock-export-dead/vex-default/archive"),
        [0u8; 3000],
    )
    .unwrap();
    std::fs::write(d.join(".airlock-bundle-dead.partial"), [0u8; 700]).unwrap();
    // Not ours, or not plain: left alone.
    std::fs::write(d.join("bundle.airlock"), b"x").unwrap();
    std::fs::create_dir(d.join(".airlock-staging-x")).unwrap();
    let victim = t.path().join("victim");
    std::fs::create_dir(&victim).unwrap();
    std::fs::write(victim.join("keep"), b"keep").unwrap();
    std::os::unix::fs::symlink(&victim, d.join(".airlock-export-link")).unwrap();

    let swept = sweep(d);
    assert_eq!(
        swept,
        vec![
            Swept {
                path: d.join(".airlock-bundle-dead.partial"),
                dir: false,
                bytes: 700
            },
            Swept {
                path: d.join(".airlock-export-dead"),
                dir: true,
                bytes: 3000
            },
        ]
    );
    assert_eq!(
        names(d),
        [
            ".airlock-export-link",
            ".airlock-staging-x",
            "bundle.airlock",
            "victim"
        ]
    );
    assert_eq!(std::fs::read(victim.join("keep")).unwrap(), b"keep");
    assert!(sweep(d).is_empty());
}

#[test]
fn a_live_runs_folder_and_file_are_never_swept() {
    let t = tempfile::tempdir().unwrap();
    let work = work_dir(t.path(), ".airlock-export-").unwrap();
    std::fs::write(work.path().join("blob"), [1u8; 10]).unwrap();
    let mut file = temp_file(t.path(), ".airlock-bundle-", ".partial").unwrap();
    file.write_all(b"partial").unwrap();
    let now = registered();
    assert!(now.contains(&work.path().to_path_buf()));
    assert!(now.contains(&file.path().to_path_buf()));

    // Locks are per open file: sweeping from this process sees them
    // held exactly as another process would.
    assert!(sweep(t.path()).is_empty());
    assert!(work.path().join("blob").is_file());
    assert!(file.path().is_file());

    let (wp, fp) = (work.path().to_path_buf(), file.path().to_path_buf());
    let out = t.path().join("out");
    file.persist_noclobber(&out).unwrap();
    drop(work);
    assert!(!wp.exists());
    assert!(!fp.exists());
    assert_eq!(std::fs::read(&out).unwrap(), b"partial");
    let now = registered();
    assert!(!now.contains(&wp) && !now.contains(&fp));
    assert!(sweep(t.path()).is_empty());
    assert_eq!(names(t.path()), ["out"]);
}

#[test]
fn a_registry_removes_what_is_registered() {
    let t = tempfile::tempdir().unwrap();
    let r = Registry::new();
    let dir = t.path().join("w");
    std::fs::create_dir_all(dir.join("a/b")).unwrap();
    std::fs::write(dir.join("a/b/c"), [0u8; 100]).unwrap();
    let file = t.path().join("f");
    std::fs::write(&file, [0u8; 20]).unwrap();
    let kept = t.path().join("kept");
    std::fs::write(&kept, b"k").unwrap();
    r.register(&dir, true);
    r.register(&file, false);
    let k = r.register(&kept, false);
    r.unregister(k);
    let removed = r.remove_all();
    assert_eq!(removed.bytes, 120);
    assert_eq!(removed.paths, vec![dir.clone(), file.clone()]);
    assert!(!dir.exists() && !file.exists() && kept.exists());
    assert!(r.paths().is_empty());
}
