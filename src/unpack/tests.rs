//! Unit tests of the shared unpacking rules (paths, limits, sinks).

use super::*;

#[test]
fn clean_path_rules() {
    assert_eq!(clean_path(b"./a/b").unwrap(), "a/b");
    assert_eq!(clean_path(b"a/b/").unwrap(), "a/b");
    assert_eq!(clean_path(b"./").unwrap(), "");
    for bad in [
        &b"/etc/passwd"[..],
        b"a/../b",
        b"..",
        b"a\\b",
        b"a//b",
        b"a\0b",
        b"a\nb",
    ] {
        assert!(
            clean_path(bad).is_err(),
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
    assert!(clean_path(&vec![b'a'; 1025]).is_err());
    assert!(clean_path(&vec![b'a'; 256]).is_err());
}

#[test]
fn paths_deeper_than_the_cap_are_refused() {
    let at = |n: usize| vec!["d"; n].join("/");
    assert_eq!(clean_path(at(MAX_DEPTH).as_bytes()).unwrap(), at(MAX_DEPTH));
    assert_eq!(
        clean_path(format!("./{}/", at(MAX_DEPTH)).as_bytes()).unwrap(),
        at(MAX_DEPTH)
    );
    assert_eq!(
        clean_path(at(MAX_DEPTH + 1).as_bytes()),
        Err("more than 32 path components")
    );
    // Well inside MAX_PATH: the depth is what is refused.
    assert!(at(500).len() < MAX_PATH);
    assert!(clean_path(at(500).as_bytes()).is_err());
    let mut walk = Walk::new("t", Limits::LOCAL_INPUT);
    let e = walk.admit(at(33).as_bytes()).unwrap_err();
    assert!(
        e.to_string().ends_with(": more than 32 path components"),
        "{e}"
    );
}

fn limits(max_dirs: u64) -> Limits {
    Limits {
        max_dirs,
        ..Limits::LOCAL_INPUT
    }
}

#[test]
fn directories_are_counted_once_explicit_or_implied() {
    let mut walk = Walk::new("t", limits(u64::MAX));
    for (path, kind) in [
        ("a", EntryKind::Dir),
        ("a/b/c", EntryKind::File),
        ("a/b/d", EntryKind::File), // a and a/b exist: nothing new
        ("e", EntryKind::File),
        ("f/g", EntryKind::Dir), // f implied, f/g explicit
        ("f", EntryKind::Dir),   // already implied
        ("f/g/h/i/j", EntryKind::File),
    ] {
        walk.claim(path, kind).unwrap();
    }
    // a, a/b, f, f/g, f/g/h, f/g/h/i.
    assert_eq!(walk.totals.dirs, 6);
    assert_eq!(walk.kept_dirs.len(), 6);
    assert_eq!(walk.kept_files.len(), 4);
}

#[test]
fn the_directory_past_the_limit_is_refused_before_the_sink() {
    struct Record(Vec<String>);
    impl Sink for Record {
        fn dir(&mut self, path: &str) -> io::Result<()> {
            self.0.push(path.to_string());
            Ok(())
        }
        fn file(&mut self, path: &str, _: u64, data: &mut dyn Read) -> io::Result<()> {
            self.0.push(path.to_string());
            io::copy(data, &mut io::sink()).map(|_| ())
        }
    }
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut b = ::tar::Builder::new(gz);
    for name in ["x/a", "x/b", "y/z/c"] {
        let mut h = ::tar::Header::new_gnu();
        h.set_size(0);
        h.set_mode(0o644);
        b.append_data(&mut h, name, io::empty()).unwrap();
    }
    let data = b.into_inner().unwrap().finish().unwrap();
    let walk = |max_dirs: u64, sink: &mut Record| {
        tar_gz(
            "t",
            &data[..],
            limits(max_dirs),
            &mut |p, _| Some(p.into()),
            sink,
        )
    };
    let mut seen = Record(Vec::new());
    assert_eq!(walk(3, &mut seen).unwrap().dirs, 3);
    let mut seen = Record(Vec::new());
    let e = walk(2, &mut seen).unwrap_err();
    assert!(
        matches!(e, UnpackError::TooManyDirs { limit: 2, .. }),
        "{e}"
    );
    assert_eq!(e.to_string(), "t: more than 2 directories, counting the parents every entry implies (a directory bomb, or a manifest that understates them)");
    // y/z/c would make y and y/z: refused before the sink saw it.
    assert_eq!(seen.0, ["x/a", "x/b"]);
}

#[test]
fn names_are_remembered_as_keys() {
    let mut walk = Walk::new("t", Limits::LOCAL_INPUT);
    walk.admit(b"a/b").unwrap();
    walk.admit(b"a/c").unwrap();
    let e = walk.admit(b"./a/b").unwrap_err();
    assert_eq!(e.to_string(), "t: entry \"a/b\" appears more than once");
    // A name the length of MAX_PATH costs one key, not its prefixes.
    let long = vec!["p".repeat(30); 32].join("/");
    walk.admit(long.as_bytes()).unwrap();
    walk.claim(&long, EntryKind::File).unwrap();
    assert_eq!(walk.seen.len(), 3);
    assert_eq!(walk.kept_dirs.len(), 31);
    // A prefix has the key of the path itself, and keys differ between
    // paths and between walks (fresh random keys).
    let keys = PathKeys::new();
    let of_abc: Vec<u128> = keys.prefixes("a/b/c").collect();
    assert_eq!(of_abc[1], keys.prefixes("a/b").last().unwrap());
    assert_eq!(of_abc.len(), 3);
    assert_ne!(of_abc[0], of_abc[1]);
    assert_ne!(keys.key(b"a"), PathKeys::new().key(b"a"));
    // File and directory conflicts still hold.
    let mut walk = Walk::new("t", Limits::LOCAL_INPUT);
    walk.claim("a/b", EntryKind::File).unwrap();
    assert!(walk.claim("a/b/c", EntryKind::File).is_err());
    assert!(walk.claim("a", EntryKind::File).is_err());
    walk.claim("a", EntryKind::Dir).unwrap();
    assert_eq!(walk.totals.dirs, 1);
}
