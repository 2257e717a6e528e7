//! Signed but hostile archives (issue 11, items 2 and 6).
//!
//! Directory bombs: a layer whose few thousand empty files each sit under
//! hundreds of directories of their own, in bundles whose signed totals say
//! exactly what they hold (format 1.1 without `dirs`, 1.2 with an honest
//! `dirs`). Zip archives whose parts disagree, so that two readers would
//! extract different content. Each is refused by `verify`, `import` and
//! `export` with its message and exit code, changes nothing, and is judged
//! in little memory. Also: `dirs` is exact, 1.1 bundles still import, and
//! the inode pre-flight counts directories.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sha2::Digest as _;

use airlock::manifest::{ArtifactKind, Manifest, Payload, Unpacked};

use crate::corpus::{base_of, corpus_key, export_library, exported_base, Base};
use crate::support::fixtures::*;
use crate::support::*;

/// The memory verify and export may use on any of these archives.
const RSS_BUDGET_KIB: u64 = 64 << 10;

const VEX_ARCHIVE: &str = "vex/default/archive.zip";

fn digest(data: &[u8]) -> airlock::digest::Sha256Digest {
    airlock::digest::Sha256Digest(sha2::Sha256::digest(data).into())
}

// ---------------------------------------------------------------------------
// Directory bombs
// ---------------------------------------------------------------------------

/// `depth` components: a top directory of its own (`i` in hex), `d`s, `f`.
fn deep_name(i: usize, depth: usize) -> String {
    let mut p = format!("{i:x}");
    for _ in 0..depth - 2 {
        p.push_str("/d");
    }
    p.push_str("/f");
    p
}

/// bundle.tar.gz of `files` empty files `depth` components deep, each under
/// a top directory of its own: every file implies `depth - 1` directories.
fn dir_bomb(files: usize, depth: usize) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let mut b = ::tar::Builder::new(gz);
    for i in 0..files {
        let mut h = ::tar::Header::new_gnu();
        h.set_size(0);
        h.set_mode(0o644);
        h.set_mtime(FIXED_MTIME);
        // Over 100 bytes, tar-rs writes a GNU long name entry first.
        b.append_data(&mut h, deep_name(i, depth), std::io::empty())
            .unwrap();
    }
    b.into_inner().unwrap().finish().unwrap()
}

/// What the walker counts in a tar.gz layer (every raw entry, long names
/// included), with `dirs` as given.
fn tar_totals(layer: &[u8], dirs: Option<u64>) -> Unpacked {
    let mut ar = ::tar::Archive::new(flate2::read::GzDecoder::new(layer));
    let mut u = Unpacked {
        size: 0,
        files: 0,
        entries: 0,
        data: 0,
        dirs,
    };
    for e in ar.entries().unwrap().raw(true) {
        let e = e.unwrap();
        u.entries += 1;
        u.data += e.size();
        if e.header().entry_type() == ::tar::EntryType::Regular {
            u.files += 1;
            u.size += e.size();
        }
    }
    u
}

/// `m` as format 1.1: no `dirs` anywhere.
fn as_1_1(mut m: Manifest) -> Manifest {
    m.format_version = "1.1".into();
    for a in &mut m.artifacts {
        a.unpacked.dirs = None;
    }
    for v in &mut m.vex {
        v.unpacked.dirs = None;
    }
    m
}

/// The base bundle with its checks layer replaced by `layer` declaring
/// `unpacked` (re-signed; the OCI manifest still names the old layer, which
/// no case reaches: the layer is refused while it is walked).
fn with_checks_layer(base: &Base, layer: &[u8], unpacked: Unpacked, v1_1: bool) -> Vec<u8> {
    let mut m = base.manifest.clone();
    let a = m
        .artifacts
        .iter_mut()
        .find(|a| a.kind == ArtifactKind::Checks)
        .unwrap();
    let old = Manifest::blob_path(&a.layer.digest);
    let h = digest(layer);
    a.layer.digest = h;
    a.layer.size = layer.len() as u64;
    a.unpacked = unpacked;
    m.payloads.retain(|p| p.path != old);
    let path = Manifest::blob_path(&h);
    m.payloads.push(Payload {
        path: path.clone(),
        size: layer.len() as u64,
        sha256: h,
    });
    m.payloads.sort_by(|a, b| a.path.cmp(&b.path));
    if v1_1 {
        m = as_1_1(m);
    }
    base.resigned(&m, &[(path.to_string(), layer.to_vec())])
}

/// The base bundle with the VEX archive replaced by `z`, declaring the
/// entries and data it holds (the other totals as before: the archive is
/// refused before they matter).
fn with_vex_archive(base: &Base, z: &Z, v1_1: bool) -> Vec<u8> {
    let zip = build_zip(z);
    let mut m = base.manifest.clone();
    let p = m
        .payloads
        .iter_mut()
        .find(|p| p.path == VEX_ARCHIVE)
        .unwrap();
    p.size = zip.len() as u64;
    p.sha256 = digest(&zip);
    let listed: Vec<&E> = z.entries.iter().filter(|e| e.listed).collect();
    let count = z.count.map_or(0, u64::from);
    m.vex[0].unpacked.entries = count.max(listed.len() as u64);
    m.vex[0].unpacked.data = listed.iter().map(|e| e.data.len() as u64).sum();
    if v1_1 {
        m = as_1_1(m);
    }
    base.resigned(&m, &[(VEX_ARCHIVE.to_string(), zip)])
}

fn dir_count(root: &Path) -> usize {
    walkdir::WalkDir::new(root)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_dir())
        .count()
}

/// Runs airlock under GNU time; returns its output and peak RSS in KiB.
fn airlock_measured(args: &[&str]) -> (Output, u64) {
    let out = Command::new(tool("time"))
        .arg("-v")
        .arg(airlock_bin())
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let rss = stderr
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("Maximum resident set size (kbytes): ")
        })
        .unwrap_or_else(|| panic!("no RSS from GNU time in {stderr}"))
        .parse()
        .unwrap();
    (out, rss)
}

/// A corpus cache and static VEX directory to import into, and the
/// populated state they must keep.
struct Target {
    cache: PathBuf,
    vex_dir: PathBuf,
    before: (BTreeMap<String, String>, BTreeMap<String, String>),
    dirs_before: usize,
}

impl Target {
    fn new(t: &TestDir, good: &Path, public: &Path) -> Target {
        let cache = t.join("cache");
        let vex_dir = t.join("vex");
        import_ok(good, public, &cache, &["--vex-dir", s(&vex_dir)]);
        Target {
            before: (tree_hash(&cache), tree_hash(&vex_dir)),
            dirs_before: dir_count(&cache) + dir_count(&vex_dir),
            cache,
            vex_dir,
        }
    }

    /// `bundle` is refused by verify (within the memory budget) and import
    /// with `code` and `needle`, and the target is left as it was.
    fn refuses(
        &self,
        t: &TestDir,
        name: &str,
        bundle: &[u8],
        public: &Path,
        code: i32,
        needle: &str,
    ) -> u64 {
        let path = t.join(name);
        write(&path, bundle);
        let (v, rss) = airlock_measured(&["verify", s(&path), "--key", s(public)]);
        let verify = String::from_utf8_lossy(&v.stderr);
        assert_eq!(v.status.code(), Some(code), "{name}: verify: {verify}");
        assert!(
            verify.contains(needle),
            "{name}: verify: expected {needle:?} in {verify}"
        );
        assert!(rss < RSS_BUDGET_KIB, "{name}: verify peaked at {rss} KiB");
        let import = airlock_fails(
            &[
                "import",
                s(&path),
                "--key",
                s(public),
                "--cache-dir",
                s(&self.cache),
                "--vex-dir",
                s(&self.vex_dir),
            ],
            code,
        );
        assert!(
            import.contains(needle),
            "{name}: import: expected {needle:?} in {import}"
        );
        assert_eq!(
            (tree_hash(&self.cache), tree_hash(&self.vex_dir)),
            self.before,
            "{name}: a refused import changed the target"
        );
        assert_eq!(
            dir_count(&self.cache) + dir_count(&self.vex_dir),
            self.dirs_before,
            "{name}: a refused import left directories behind"
        );
        assert_no_leftovers(&self.cache, ".airlock-staging-");
        eprintln!("{name}: verify and import refused (exit {code}), verify peak RSS {rss} KiB");
        rss
    }
}

/// `airlock export` of `args` (after `-o OUT --sign-key KEY`) is refused
/// with exit 5 and `needle`, within the memory budget, writing nothing.
fn export_refuses(t: &TestDir, key: &Path, args: &[&str], needle: &str) -> u64 {
    let out = t.join("refused.airlock");
    let mut all = vec![
        "export",
        "-o",
        s(&out),
        "--sign-key",
        s(key),
        "--created",
        CREATED,
    ];
    all.extend_from_slice(args);
    let (o, rss) = airlock_measured(&all);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(5), "export {args:?}: {stderr}");
    assert!(
        stderr.contains(needle),
        "export: expected {needle:?} in {stderr}"
    );
    assert!(rss < RSS_BUDGET_KIB, "export peaked at {rss} KiB");
    assert!(!out.exists());
    rss
}

#[test]
fn a_directory_bomb_past_the_depth_cap_is_refused_by_verify_import_and_export() {
    let t = TestDir::new();
    let (base, public, good) = exported_base(&t);
    let target = Target::new(&t, &good, &public);
    let needle = "more than 32 path components";

    // 3000 empty files 500 deep: 1.5 million directories from a layer of
    // a few tens of KiB, every total honest (1.1: no dirs to sign).
    let bomb = dir_bomb(3000, 500);
    eprintln!("directory bomb layer: {} bytes", bomb.len());
    let v1_1 = with_checks_layer(&base, &bomb, tar_totals(&bomb, None), true);
    if let Some(dir) = std::env::var_os("AIRLOCK_HOSTILE_OUT") {
        // To measure another build on the same bundle.
        write(&Path::new(&dir).join("dir-bomb-1.1.airlock"), &v1_1);
        write(
            &Path::new(&dir).join("corpus.pub"),
            &std::fs::read(&public).unwrap(),
        );
    }
    target.refuses(&t, "dir-bomb-1.1.airlock", &v1_1, &public, 4, needle);
    // 1.2, dirs signed honestly: 600 files 100 deep, 59,400 directories
    // (few enough that the free-space pre-flight lets it through to the
    // walker on any test host).
    let bomb12 = dir_bomb(600, 100);
    let honest = tar_totals(&bomb12, Some(600 * 99));
    let v1_2 = with_checks_layer(&base, &bomb12, honest, false);
    target.refuses(&t, "dir-bomb-1.2.airlock", &v1_2, &public, 4, needle);
    // The same in a VEX zip.
    let mut z = vex_zip();
    for i in 0..1000 {
        z.entries
            .push(E::new(&format!("{VEX_TOP_DIR}/{}", deep_name(i, 100)), b""));
    }
    let zip = build_zip(&z);
    target.refuses(
        &t,
        "vex-dir-bomb-1.1.airlock",
        &with_vex_archive(&base, &z, true),
        &public,
        4,
        needle,
    );

    // Export of the same layer and archive from files.
    let (key, _) = keygen(t.path(), "builder");
    let file = t.join("bomb.tar.gz");
    write(&file, &bomb);
    let rss = export_refuses(&t, &key, &["--checks", s(&file)], needle);
    eprintln!("export of the directory bomb refused, peak RSS {rss} KiB");
    let archive = t.join("bomb.zip");
    write(&archive, &zip);
    let manifest = t.join("vex-repository.json");
    write(
        &manifest,
        vex_repository_json("https://example.invalid/main.zip").as_bytes(),
    );
    export_refuses(
        &t,
        &key,
        &["--vex-manifest", s(&manifest), "--vex-archive", s(&archive)],
        needle,
    );
}

#[test]
fn a_1_1_bundle_past_the_legacy_directory_bound_is_refused() {
    // 300 files 32 deep (within the cap): 9,300 directories for 300
    // entries. Exported, the bundle signs them (1.2) and verifies; as 1.1,
    // without dirs, the legacy bound of 2 × 300 + 1024 stops the walk.
    let t = TestDir::new();
    let (_, public, good) = exported_base(&t);
    let target = Target::new(&t, &good, &public);
    let mut inputs = write_inputs(&t.join("wide"));
    inputs.checks = t.join("wide.tar.gz");
    let layer = dir_bomb(300, 32);
    write(&inputs.checks, &layer);
    let wide = t.join("wide.airlock");
    export_library(&inputs, &corpus_key(), &wide);
    let (out, rss) = airlock_measured(&["verify", s(&wide), "--key", s(&public)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("honest 1.2 bundle of 9,300 directories verified, peak RSS {rss} KiB");
    let base = base_of(&wide, corpus_key());
    let checks = |m: &Manifest| {
        m.artifacts
            .iter()
            .find(|a| a.kind == ArtifactKind::Checks)
            .unwrap()
            .unpacked
    };
    assert_eq!(checks(&base.manifest).dirs, Some(9300));
    let old = as_1_1(base.manifest.clone());
    assert_eq!(Unpacked::legacy_dirs(checks(&old).entries), 1624);
    target.refuses(
        &t,
        "legacy-bound.airlock",
        &base.resigned(&old, &[]),
        &public,
        4,
        "bundle.tar.gz: more than 1624 directories, counting the parents every entry implies (a directory bomb, or a manifest that understates them)",
    );
}

fn checks(m: &mut Manifest) -> &mut Unpacked {
    &mut m
        .artifacts
        .iter_mut()
        .find(|a| a.kind == ArtifactKind::Checks)
        .unwrap()
        .unpacked
}

#[test]
fn a_signed_directory_count_must_be_exact() {
    let t = TestDir::new();
    let (base, public, good) = exported_base(&t);
    let target = Target::new(&t, &good, &public);
    let edit = |f: &dyn Fn(&mut Manifest)| {
        let mut m = base.manifest.clone();
        f(&mut m);
        base.resigned(&m, &[])
    };
    let real = checks(&mut base.manifest.clone()).dirs.unwrap();
    assert_eq!(
        real, 3,
        "policies, policies/<kind>, policies/<kind>/policies"
    );
    target.refuses(
        &t,
        "checks-dirs-understated.airlock",
        &edit(&|m| checks(m).dirs = Some(real - 1)),
        &public,
        4,
        "bundle.tar.gz: more than 2 directories",
    );
    let signed = *checks(&mut base.manifest.clone());
    let over = Unpacked {
        dirs: Some(real + 1),
        ..signed
    };
    target.refuses(
        &t,
        "checks-dirs-overstated.airlock",
        &edit(&|m| *checks(m) = over),
        &public,
        4,
        &format!(
            "the bundle contradicts its own manifest: {} unpacks to {signed}; the manifest says {over}",
            ArtifactKind::Checks
        ),
    );
    let vex_real = base.manifest.vex[0].unpacked.dirs.unwrap();
    assert_eq!(
        vex_real, 4,
        "pkg, pkg/apk, pkg/apk/alpine, pkg/apk/alpine/zlib"
    );
    target.refuses(
        &t,
        "vex-dirs-understated.airlock",
        &edit(&|m| m.vex[0].unpacked.dirs = Some(vex_real - 1)),
        &public,
        4,
        "VEX archive: more than 3 directories",
    );
    target.refuses(
        &t,
        "vex-dirs-overstated.airlock",
        &edit(&|m| m.vex[0].unpacked.dirs = Some(vex_real + 1)),
        &public,
        4,
        ", dirs 4 and 1 packages; the manifest says",
    );
}

#[test]
fn a_1_1_bundle_without_directory_counts_still_verifies_and_imports() {
    let t = TestDir::new();
    let (base, public, good) = exported_base(&t);
    let m = base.manifest.clone();
    assert_eq!(m.format_version, "1.2");
    let text = as_1_1(m.clone()).to_toml().unwrap();
    assert!(
        text.contains("format_version = \"1.1\"") && !text.contains("dirs"),
        "{text}"
    );
    let old = t.join("old.airlock");
    write(&old, &base.resigned(&as_1_1(m), &[]));
    airlock_ok(&["verify", s(&old), "--key", s(&public)]);
    let (cache_old, cache_new) = (t.join("cache-1.1"), t.join("cache-1.2"));
    import_ok(
        &old,
        &public,
        &cache_old,
        &["--vex-dir", s(&t.join("vex-1.1"))],
    );
    import_ok(
        &good,
        &public,
        &cache_new,
        &["--vex-dir", s(&t.join("vex-1.2"))],
    );
    // The same trees (metadata files aside: they carry the import time).
    let content = |cache: &Path| -> BTreeMap<String, String> {
        tree_hash(cache)
            .into_iter()
            .filter(|(k, _)| {
                [
                    "db/trivy.db",
                    "java-db/trivy-java.db",
                    "policy/content",
                    "vex/repositories/default/0.1",
                ]
                .iter()
                .any(|p| k.starts_with(p))
            })
            .collect()
    };
    let installed = content(&cache_old);
    assert!(
        installed.contains_key("vex/repositories/default/0.1/index.json"),
        "{installed:?}"
    );
    assert_eq!(installed, content(&cache_new));
}

#[test]
fn the_inode_preflight_counts_directories() {
    let t = TestDir::new();
    // tmpfs takes nr_inodes after size (SmallFs passes `size=<this>`).
    let Some(fs) = SmallFs::mount(t.join("small"), "64m,nr_inodes=2000") else {
        return;
    };
    let (_, public, good) = exported_base(&t);
    let cache = fs.path.join("cache");
    import_ok(&good, &public, &cache, &[]);
    let before = tree_hash(&cache);
    // 300 files 8 deep, 2,100 directories: honest, about 10 MiB of blocks,
    // more inodes than the file system has left.
    let mut inputs = write_inputs(&t.join("wide"));
    inputs.checks = t.join("wide.tar.gz");
    write(&inputs.checks, &dir_bomb(300, 8));
    let wide = t.join("wide.airlock");
    export_library(&inputs, &corpus_key(), &wide);
    airlock_ok(&["verify", s(&wide), "--key", s(&public)]);
    let err = import_fails(&wide, &public, &cache, 1);
    assert!(
        err.contains(&format!(
            "not enough free inodes on the file system of {}: this import needs about ",
            cache.display()
        )),
        "{err}"
    );
    let needed: u64 = err
        .split("needs about ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let free: u64 = err
        .split("it writes), ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(needed > 2100 && free < 2000 && needed > free, "{err}");
    assert!(err.contains("nothing was written"), "{err}");
    assert_eq!(
        tree_hash(&cache),
        before,
        "refused up front, nothing written"
    );
    assert_no_leftovers(&cache, ".airlock-staging-");
}

// ---------------------------------------------------------------------------
// Zip archives readers disagree on
// ---------------------------------------------------------------------------

/// One stored entry of a hand-made zip.
#[derive(Clone, Default)]
struct E {
    name: Vec<u8>,
    /// The name in the local header, when it is to differ.
    local_name: Option<Vec<u8>>,
    data: Vec<u8>,
    /// Listed in the central directory.
    listed: bool,
}

impl E {
    fn new(name: &str, data: &[u8]) -> E {
        E {
            name: name.as_bytes().to_vec(),
            data: data.to_vec(),
            listed: true,
            local_name: None,
        }
    }
}

/// A hand-made zip of stored entries.
#[derive(Clone, Default)]
struct Z {
    entries: Vec<E>,
    /// The end record's entry count, when it is to differ.
    count: Option<u16>,
}

fn crc32(data: &[u8]) -> u32 {
    let mut c = flate2::Crc::new();
    c.update(data);
    c.sum()
}

/// Writes the zip byte by byte: local headers and data, the central
/// directory (listed entries only), the end record.
fn build_zip(z: &Z) -> Vec<u8> {
    let mut out = Vec::new();
    let mut offsets = Vec::new();
    let fixed = |out: &mut Vec<u8>, e: &E| {
        out.extend_from_slice(&20u16.to_le_bytes()); // version needed
        out.extend_from_slice(&[0, 0, 0, 0]); // flags, method (stored)
        out.extend_from_slice(&[0, 0, 0x21, 0]); // 1980-01-01 00:00
        for v in [crc32(&e.data), e.data.len() as u32, e.data.len() as u32] {
            out.extend_from_slice(&v.to_le_bytes());
        }
    };
    for e in &z.entries {
        offsets.push(out.len() as u32);
        let name = e.local_name.as_ref().unwrap_or(&e.name);
        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        fixed(&mut out, e);
        out.extend_from_slice(&(name.len() as u16).to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(name);
        out.extend_from_slice(&e.data);
    }
    let cd_offset = out.len() as u32;
    let mut listed = 0u16;
    for (e, offset) in z.entries.iter().zip(offsets) {
        if !e.listed {
            continue;
        }
        listed += 1;
        out.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        out.extend_from_slice(&0x031eu16.to_le_bytes()); // made by Unix, 3.0
        fixed(&mut out, e);
        out.extend_from_slice(&(e.name.len() as u16).to_le_bytes());
        out.extend_from_slice(&[0; 8]); // extra, comment, disk, internal attributes
        let mode: u32 = if e.name.ends_with(b"/") {
            0o40755
        } else {
            0o100644
        };
        out.extend_from_slice(&(mode << 16).to_le_bytes());
        out.extend_from_slice(&offset.to_le_bytes());
        out.extend_from_slice(&e.name);
    }
    let cd_size = out.len() as u32 - cd_offset;
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    let count = z.count.unwrap_or(listed);
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&cd_size.to_le_bytes());
    out.extend_from_slice(&cd_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

/// The fixture's VEX archive, by hand: the top directory, index.json and
/// the OpenVEX document.
fn vex_zip() -> Z {
    Z {
        entries: vec![
            E::new(&format!("{VEX_TOP_DIR}/"), b""),
            E::new(
                &format!("{VEX_TOP_DIR}/index.json"),
                vex_index_json().as_bytes(),
            ),
            E::new(
                &format!("{VEX_TOP_DIR}/{VEX_DOC_PATH}"),
                vex_openvex_json().as_bytes(),
            ),
        ],
        count: None,
    }
}

/// The hostile zips: (name, archive, message).
fn hostile_zips() -> Vec<(&'static str, Z, String)> {
    let index = format!("{VEX_TOP_DIR}/index.json");
    let empty_index = br#"{"updated_at":"2026-01-01T00:00:00Z","packages":[]}"#;
    let mut twice = vex_zip();
    twice.entries.push(E::new(&index, empty_index));
    let mut renamed = vex_zip();
    renamed.entries[1].local_name = Some(format!("{VEX_TOP_DIR}/index.jsoX").into_bytes());
    let mut hidden = vex_zip();
    let mut e = E::new(&index, empty_index);
    e.listed = false;
    hidden.entries.insert(2, e);
    let mut miscounted = vex_zip();
    miscounted.count = Some(4);
    vec![
        (
            "a name twice",
            twice,
            format!("VEX archive: entry \"{index}\" appears more than once"),
        ),
        (
            "a local header naming another file",
            renamed,
            format!("VEX archive: entry \"{index}\": its local header names \"{VEX_TOP_DIR}/index.jsoX\"; the central directory and the local header must agree"),
        ),
        (
            "an entry the central directory omits",
            hidden,
            format!("after entry \"{index}\", that no central directory entry covers (a hidden entry?)"),
        ),
        (
            "an end record counting 4 of 3 entries",
            miscounted,
            "VEX archive: the end of central directory record counts 4 entries, the central directory holds 3".to_string(),
        ),
    ]
}

/// For the corpus (tests/corpus.rs): (name, bundle, message), each refused
/// by verify and import with exit 4.
pub(crate) fn corpus_cases(base: &Base) -> Vec<(String, Vec<u8>, &'static str)> {
    let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
    let mut out = Vec::new();
    let bomb = dir_bomb(200, 200);
    out.push((
        "directory bomb 200 deep in bundle.tar.gz (1.1)".to_string(),
        with_checks_layer(base, &bomb, tar_totals(&bomb, None), true),
        "more than 32 path components",
    ));
    let wide = dir_bomb(300, 32);
    out.push((
        "directory bomb past the 1.1 bound in bundle.tar.gz".to_string(),
        with_checks_layer(base, &wide, tar_totals(&wide, None), true),
        "more than 1624 directories",
    ));
    out.push((
        "directory bomb past the signed dirs (1.2)".to_string(),
        with_checks_layer(base, &wide, tar_totals(&wide, Some(9299)), false),
        "more than 9299 directories",
    ));
    for (name, zip, needle) in hostile_zips() {
        out.push((
            format!("VEX zip with {name}"),
            with_vex_archive(base, &zip, false),
            leak(needle),
        ));
    }
    out
}

#[test]
fn vex_zips_readers_disagree_on_are_refused_by_verify_import_and_export() {
    let t = TestDir::new();
    let (base, public, good) = exported_base(&t);
    let target = Target::new(&t, &good, &public);
    let (key, _) = keygen(t.path(), "builder");
    let manifest = t.join("vex-repository.json");
    write(
        &manifest,
        vex_repository_json("https://example.invalid/main.zip").as_bytes(),
    );
    // The hand-made archive itself is accepted: only the defects differ.
    let control = t.join("control.zip");
    write(&control, &build_zip(&vex_zip()));
    let exported = t.join("control.airlock");
    airlock_ok(&[
        "export",
        "-o",
        s(&exported),
        "--sign-key",
        s(&key),
        "--vex-manifest",
        s(&manifest),
        "--vex-archive",
        s(&control),
        "--created",
        CREATED,
    ]);
    for (i, (name, z, needle)) in hostile_zips().into_iter().enumerate() {
        target.refuses(
            &t,
            &format!("zip-{i}.airlock"),
            &with_vex_archive(&base, &z, false),
            &public,
            4,
            &needle,
        );
        let archive = t.join(&format!("zip-{i}.zip"));
        write(&archive, &build_zip(&z));
        export_refuses(
            &t,
            &key,
            &["--vex-manifest", s(&manifest), "--vex-archive", s(&archive)],
            &needle,
        );
        eprintln!("VEX zip with {name}: refused by verify, import and export");
    }
}

/// Zips as GitHub (git archive) and Python's zipfile streaming to a pipe
/// (data descriptors, zip64 markers) write them pass the structure checks.
#[test]
fn zips_real_writers_make_are_accepted() {
    let t = TestDir::new();
    let repo = t.join("repo");
    for (path, data) in vex_repo_files() {
        write(&repo.join(&path), &data);
    }
    let git = |args: &[&str]| {
        run_ok(
            Command::new(tool("git"))
                .args([
                    "-c",
                    "user.name=t",
                    "-c",
                    "user.email=t@t",
                    "-c",
                    "init.defaultBranch=main",
                ])
                .args(args)
                .current_dir(&repo),
        )
    };
    git(&["init", "-q"]);
    git(&["add", "."]);
    git(&["commit", "-q", "-m", "vex"]);
    let from_git = t.join("git.zip");
    git(&[
        "archive",
        "--format=zip",
        &format!("--prefix={VEX_TOP_DIR}/"),
        "-o",
        s(&from_git),
        "HEAD",
    ]);
    let from_python = t.join("python.zip");
    let script = format!(
        r#"
import os, sys, zipfile
with zipfile.ZipFile(sys.stdout.buffer, "w", zipfile.ZIP_DEFLATED) as z:
    for root, dirs, files in sorted(os.walk(".")):
        dirs[:] = [d for d in dirs if d != ".git"]
        for f in sorted(files):
            p = os.path.join(root, f)[2:]
            with z.open("{VEX_TOP_DIR}/" + p, "w", force_zip64=True) as w:
                w.write(open(p, "rb").read())
"#
    );
    let out = Command::new(tool("python3"))
        .args(["-c", &script])
        .current_dir(&repo)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    write(&from_python, &out.stdout);
    let (key, public) = keygen(t.path(), "builder");
    let manifest = t.join("vex-repository.json");
    write(
        &manifest,
        vex_repository_json("https://example.invalid/main.zip").as_bytes(),
    );
    for zip in [&from_git, &from_python] {
        let bundle = t.join("b.airlock");
        airlock_ok(&[
            "export",
            "-o",
            s(&bundle),
            "--sign-key",
            s(&key),
            "--vex-manifest",
            s(&manifest),
            "--vex-archive",
            s(zip),
            "--created",
            CREATED,
            "--force",
        ]);
        airlock_ok(&["verify", s(&bundle), "--key", s(&public)]);
    }
    // Python streamed: data descriptors (after zip64-marked local headers).
    let bytes = std::fs::read(&from_python).unwrap();
    assert!(bytes.windows(4).any(|w| w == 0x0807_4b50u32.to_le_bytes()));
}
