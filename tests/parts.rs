//! Split bundles on removable media: export --split, verify/inspect/import
//! straight from the parts, split/join, SHA256SUMS, damaged media, the
//! export pre-flight, and progress events.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::fixtures::*;
use crate::support::trivy::*;
use crate::support::*;

const PART: u64 = 1 << 20;

/// Inputs whose Java DB carries 5 MiB of noise, so the bundle spans several
/// 1 MiB parts.
fn big_inputs(dir: &Path) -> Inputs {
    let inputs = write_inputs(dir);
    write(
        &inputs.java_db,
        &java_db_tar_gz_padded(UPDATED_AT, NEXT_UPDATE, 5 << 20),
    );
    inputs
}

struct Media {
    t: TestDir,
    inputs: Inputs,
    key: PathBuf,
    public: PathBuf,
    /// The directory of the parts.
    dir: PathBuf,
    /// `dir/b.airlock` (which itself does not exist).
    bundle: PathBuf,
    /// How many parts.
    count: usize,
}

impl Media {
    fn part(&self, n: usize) -> PathBuf {
        self.dir.join(format!("b.airlock.{n:03}"))
    }
}

/// A split export into `media/` with its checksums (`b.airlock.sha256sums`).
fn split_export() -> Media {
    let t = TestDir::new();
    let inputs = big_inputs(t.path());
    let (key, public) = keygen(t.path(), "builder");
    let dir = t.join("media");
    std::fs::create_dir_all(&dir).unwrap();
    let bundle = dir.join("b.airlock");
    let mut args = export_all_args(&inputs, &key, &bundle);
    args.extend(["--split", "1M", "--sha256sums"]);
    let out = airlock_ok(&args);
    assert!(out.contains("split into"), "{out}");
    let count = std::fs::read_dir(&dir)
        .unwrap()
        .filter(|e| {
            let name = e.as_ref().unwrap().file_name();
            let name = name.to_string_lossy();
            name.len() == "b.airlock.001".len() && name.starts_with("b.airlock.0")
        })
        .count();
    Media {
        t,
        inputs,
        key,
        public,
        dir,
        bundle,
        count,
    }
}

#[test]
fn a_split_export_imports_from_any_part_and_trivy_scans() {
    let m = split_export();
    assert!(m.count >= 5, "only {} parts", m.count);
    assert!(!m.bundle.exists(), "no joined copy is written");
    for n in 1..=m.count {
        let size = std::fs::metadata(m.part(n)).unwrap().len();
        assert!(size <= PART, "part {n} is {size} bytes");
        if n < m.count {
            assert_eq!(size, PART, "every part but the last is full");
        }
    }
    // The operator's check of the media, with coreutils alone.
    let sums = run_ok(
        Command::new("sha256sum")
            .args(["-c", "b.airlock.sha256sums"])
            .current_dir(&m.dir),
    );
    assert_eq!(
        sums.lines().filter(|l| l.ends_with(": OK")).count(),
        m.count + 2,
        "{sums}"
    );
    let before = tree_hash(&m.dir);

    // Any file of the set works, in any command.
    let out = airlock_ok(&["verify", s(&m.part(3)), "--key", s(&m.public)]);
    assert!(out.contains("OK:"), "{out}");
    let out = airlock_ok(&["inspect", s(&m.part(m.count)), "--key", s(&m.public)]);
    assert!(out.contains("java-db"), "{out}");
    // One part on its own (say, the DVD in the drive).
    let out = airlock_ok(&[
        "verify",
        "--parts-only",
        s(&m.part(2)),
        "--key",
        s(&m.public),
    ]);
    assert!(
        out.contains(&format!("part 2/{} b.airlock.002: ok", m.count)),
        "{out}"
    );
    assert_eq!(out.matches(": ok").count(), 1, "{out}");
    let out = airlock_ok(&[
        "verify",
        "--parts-only",
        s(&m.dir.join("b.airlock.parts")),
        "--key",
        s(&m.public),
    ]);
    assert_eq!(out.matches(": ok").count(), m.count, "{out}");

    let cache = m.t.join("cache");
    import_ok(&m.part(2), &m.public, &cache, &[]);
    let rootfs = m.t.join("rootfs");
    write_alpine_rootfs(&rootfs);
    let xdg = m.t.join("xdg");
    let mut want = vec![
        ZLIB_CVES[0].to_string(),
        ZLIB_CVES[1].to_string(),
        JAR_CVE.to_string(),
    ];
    want.sort();
    assert_eq!(rootfs_vuln_ids(&cache, &xdg, &rootfs, &[]), want);
    assert_eq!(tree_hash(&m.dir), before, "the parts are never modified");
}

#[test]
fn join_gives_the_unsplit_bundle_and_split_gives_the_same_parts() {
    let m = split_export();
    let whole_dir = m.t.join("whole");
    std::fs::create_dir_all(&whole_dir).unwrap();
    let whole = whole_dir.join("b.airlock");
    airlock_ok(&export_all_args(&m.inputs, &m.key, &whole));
    let whole_bytes = std::fs::read(&whole).unwrap();

    let joined = m.t.join("joined.airlock");
    let out = airlock_ok(&[
        "join",
        s(&m.part(1)),
        "-o",
        s(&joined),
        "--key",
        s(&m.public),
    ]);
    assert!(out.contains("verified every part"), "{out}");
    assert!(
        std::fs::read(&joined).unwrap() == whole_bytes,
        "join must give the unsplit bundle byte for byte"
    );
    // The parts are plain byte ranges: cat joins them too.
    let mut cat = Vec::new();
    for n in 1..=m.count {
        cat.extend(std::fs::read(m.part(n)).unwrap());
    }
    assert!(cat == whole_bytes);

    // Splitting the whole bundle later gives the very same files.
    let again_dir = m.t.join("again");
    std::fs::create_dir_all(&again_dir).unwrap();
    airlock_ok(&[
        "split",
        s(&whole),
        "--split",
        "1M",
        "-o",
        s(&again_dir.join("b.airlock")),
        "--sign-key",
        s(&m.key),
        "--key",
        s(&m.public),
        "--sha256sums",
    ]);
    assert_eq!(tree_hash(&again_dir), tree_hash(&m.dir));
    // join refuses to overwrite, like export.
    let err = airlock_fails(
        &[
            "join",
            s(&m.part(1)),
            "-o",
            s(&joined),
            "--key",
            s(&m.public),
        ],
        2,
    );
    assert!(err.contains("already exists"), "{err}");
}

#[test]
fn damaged_media_is_refused_naming_the_part_and_nothing_is_imported() {
    let m = split_export();
    let index: toml::Value =
        toml::from_str(&std::fs::read_to_string(m.dir.join("b.airlock.parts")).unwrap()).unwrap();
    let sha = |n: usize| index["part"][n - 1]["sha256"].as_str().unwrap().to_string();
    let (stranger_key, _) = keygen(m.t.path(), "stranger");
    let last = m.count;
    type Damage<'a> = Box<dyn Fn(&Path) + 'a>;
    let cases: Vec<(&str, Damage, i32, Vec<String>)> = vec![
        (
            "part 2 missing",
            Box::new(|d: &Path| std::fs::remove_file(d.join("b.airlock.002")).unwrap()),
            4,
            vec![
                format!("part 2 of {last} is missing"),
                "b.airlock.002".into(),
                sha(2),
            ],
        ),
        (
            "last part truncated",
            Box::new(move |d: &Path| {
                let p = d.join(format!("b.airlock.{last:03}"));
                let len = std::fs::metadata(&p).unwrap().len();
                let f = std::fs::OpenOptions::new().write(true).open(&p).unwrap();
                f.set_len(len - 100).unwrap();
            }),
            4,
            vec![
                format!("part {last} of {last}, "),
                format!("b.airlock.{last:03}"),
                "(truncated)".into(),
            ],
        ),
        (
            "a byte flipped in part 3",
            Box::new(|d: &Path| {
                let p = d.join("b.airlock.003");
                let mut bytes = std::fs::read(&p).unwrap();
                bytes[500_000] ^= 0x01;
                std::fs::write(&p, bytes).unwrap();
            }),
            4,
            vec![
                format!("part 3 of {last}, "),
                "b.airlock.003, is corrupt".into(),
                format!("the index says {}", sha(3)),
            ],
        ),
        (
            "parts 2 and 3 swapped by renaming",
            Box::new(|d: &Path| {
                std::fs::rename(d.join("b.airlock.002"), d.join("x")).unwrap();
                std::fs::rename(d.join("b.airlock.003"), d.join("b.airlock.002")).unwrap();
                std::fs::rename(d.join("x"), d.join("b.airlock.003")).unwrap();
            }),
            4,
            vec![
                "b.airlock.002, is corrupt".into(),
                format!("its sha256 is {}", sha(3)),
                "that is the digest of part 3".into(),
            ],
        ),
        (
            "part 4 overwritten by a copy of part 2",
            Box::new(|d: &Path| {
                std::fs::copy(d.join("b.airlock.002"), d.join("b.airlock.004")).unwrap();
            }),
            4,
            vec![
                "b.airlock.004, is corrupt".into(),
                "that is the digest of part 2".into(),
            ],
        ),
        (
            "part index edited",
            Box::new(|d: &Path| {
                let p = d.join("b.airlock.parts");
                let text = std::fs::read_to_string(&p).unwrap();
                std::fs::write(&p, text.replacen("sha256 = \"", "sha256 = \"0", 1)).unwrap();
            }),
            3,
            vec![
                "the part index".into(),
                "b.airlock.parts is not proven".into(),
            ],
        ),
        (
            "part index signed by a stranger",
            Box::new(|d: &Path| {
                // Re-split with another key: a consistent set, untrusted.
                let whole = d.join("whole.airlock");
                let bytes: Vec<u8> = (1..=last)
                    .flat_map(|n| std::fs::read(d.join(format!("b.airlock.{n:03}"))).unwrap())
                    .collect();
                std::fs::write(&whole, bytes).unwrap();
                airlock_ok(&[
                    "split",
                    s(&whole),
                    "--split",
                    "1M",
                    "--force",
                    "-o",
                    s(&d.join("b.airlock")),
                    "--sign-key",
                    s(&stranger_key),
                    "--key",
                    s(&m.public),
                ]);
                std::fs::remove_file(whole).unwrap();
            }),
            3,
            vec![
                "is not proven".into(),
                "no signature by a trusted key".into(),
            ],
        ),
        (
            "part index signature missing",
            Box::new(|d: &Path| std::fs::remove_file(d.join("b.airlock.parts.minisig")).unwrap()),
            4,
            vec!["b.airlock.parts.minisig is missing or damaged".into()],
        ),
        (
            "index missing",
            Box::new(|d: &Path| std::fs::remove_file(d.join("b.airlock.parts")).unwrap()),
            4,
            vec![
                "looks like a part of a split bundle".into(),
                "b.airlock.parts is missing".into(),
            ],
        ),
    ];

    // A working cache to protect.
    let cache = m.t.join("cache");
    let small = m.t.join("small.airlock");
    airlock_ok(&[
        "export",
        "-o",
        s(&small),
        "--sign-key",
        s(&m.key),
        "--trivy-db",
        s(&m.inputs.db),
        "--created",
        CREATED,
    ]);
    import_ok(&small, &m.public, &cache, &[]);
    let cache_before = tree_hash(&cache);

    let mut table = Vec::new();
    for (i, (name, damage, code, needles)) in cases.iter().enumerate() {
        let d = m.t.join(&format!("case-{i}"));
        run_ok(Command::new("cp").arg("-a").arg(&m.dir).arg(&d));
        damage(&d);
        let first = d.join("b.airlock.001");
        for cmd in ["verify", "import"] {
            let mut args = vec![cmd, s(&first), "--key", s(&m.public)];
            if cmd == "import" {
                args.extend(["--cache-dir", s(&cache)]);
            }
            let err = airlock_fails(&args, *code);
            for n in needles {
                assert!(
                    err.contains(n.as_str()),
                    "{name}, {cmd}: {n:?} not in:\n{err}"
                );
            }
            if cmd == "import" {
                table.push(format!(
                    "{name:<40} exit {code}  {}",
                    err.lines().next().unwrap()
                ));
            }
        }
        assert_eq!(tree_hash(&cache), cache_before, "{name}: the cache changed");
        assert_no_leftovers(&cache, ".airlock-staging-");
    }
    eprintln!("{}", table.join("\n"));
}

#[test]
fn export_refuses_up_front_when_the_disk_is_too_small() {
    let t = TestDir::new();
    let Some(fs) = SmallFs::mount(t.join("small"), "2m") else {
        return;
    };
    let inputs = big_inputs(t.path());
    let (key, _) = keygen(t.path(), "builder");
    for split in [false, true] {
        let out = fs.path.join("b.airlock");
        let mut args = export_all_args(&inputs, &key, &out);
        if split {
            args.extend(["--split", "1M"]);
        }
        let err = airlock_fails(&args, 1);
        assert!(
            err.contains("not enough free space on the file system of")
                && err.contains("this bundle needs up to")
                && err.contains("nothing was written"),
            "{err}"
        );
        let left: Vec<_> = std::fs::read_dir(&fs.path).unwrap().collect();
        assert!(left.is_empty(), "{left:?}");
    }
}

#[test]
fn progress_events_name_the_part_being_read() {
    let m = split_export();
    let out = Command::new(airlock_bin())
        .args(["verify", "--json", s(&m.part(1)), "--key", s(&m.public)])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let events: Vec<serde_json::Value> = String::from_utf8(out.stderr)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect();
    assert_eq!(events[0]["event"], "begin");
    assert_eq!(events[0]["phase"], "verify");
    let notes: Vec<&str> = events
        .iter()
        .filter(|e| e["event"] == "note")
        .map(|e| e["what"].as_str().unwrap())
        .collect();
    let want: Vec<String> = (1..=m.count)
        .map(|n| format!("part {n}/{} b.airlock.{n:03}", m.count))
        .collect();
    assert_eq!(notes, want);
    let last = events.last().unwrap();
    assert_eq!(last["event"], "end");
    let size: u64 = (1..=m.count)
        .map(|n| std::fs::metadata(m.part(n)).unwrap().len())
        .sum();
    assert_eq!(last["bytes"], size);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["ok"], true);

    // --quiet: nothing on stderr.
    let out = Command::new(airlock_bin())
        .args(["verify", "--quiet", s(&m.part(1)), "--key", s(&m.public)])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(out.stderr.is_empty(), "{out:?}");
}
