//! Review 1 of the issue 18 refactor (OS helpers, error model, export
//! side): reproductions of what the review found, and a few cheap
//! regression tests for suspicions that held up.

use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::Path;

use airlock::export::sequence::SequenceFile;
use airlock::fsio::atomic::{self, CommitError};
use airlock::fsio::Replace;

use crate::support::*;

fn mode(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).expect("stat").mode() & 0o7777
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// FINDING (low): before the refactor the CLI wrote the sequence file
/// through `tempfile::NamedTempFile` (mode 0600, umask-proof); the library
/// now writes it with `AtomicFile::create(.., 0o644)`, so every sequence
/// file (new or rewritten) became world-readable. Nobody asked for the
/// change and the CHANGELOG does not mention it.
#[test]
fn a_recorded_sequence_file_stays_private_as_before_the_refactor() {
    let t = TestDir::new();
    let path = t.join("seq.toml");
    let file = SequenceFile::read(&path).expect("a new file reads as 0");
    file.record("monthly", 1).expect("records");
    assert_eq!(
        mode(&path),
        0o600,
        "the sequence file was 0600 before the refactor (NamedTempFile)"
    );
    // An existing file (the next export) is rewritten, not chmod-ed wider.
    let file = SequenceFile::read(&path).expect("reads");
    file.record("monthly", 2).expect("records");
    assert_eq!(mode(&path), 0o600);
}

/// Held up: `Replace::Never` refuses a target that is a dangling symbolic
/// link (RENAME_NOREPLACE sees the link itself), so nothing is written
/// through it to where it points; no temporary file is left behind.
#[test]
fn a_no_replace_commit_does_not_write_through_a_link_at_the_target() {
    let t = TestDir::new();
    let victim = t.join("victim");
    let target = t.join("out");
    std::os::unix::fs::symlink(&victim, &target).expect("link");
    let e = atomic::write(&target, ".airlock-test-", b"new", 0o644, Replace::Never)
        .expect_err("a link at the target is an existing target");
    assert!(matches!(e, CommitError::Exists(_)), "{e:?}");
    assert!(!victim.exists(), "nothing written through the link");
    assert!(std::fs::symlink_metadata(&target)
        .expect("link kept")
        .file_type()
        .is_symlink());
    assert_eq!(names(t.path()), ["out"]);
}

/// Held up: a key file is created with exactly its mode (0600 secret key)
/// even under a permissive umask, and `keygen` refuses a dangling link at
/// the key's name without writing through it or leaving a temporary file
/// (which, for an unencrypted key, would hold the secret).
#[test]
fn keygen_refuses_a_dangling_link_at_the_key_name_and_leaves_nothing() {
    let t = TestDir::new();
    let (sk, pk) = keygen(t.path(), "ok");
    assert_eq!(mode(&sk), 0o600);
    assert_eq!(mode(&pk), 0o644);
    let victim = t.join("victim.key");
    std::os::unix::fs::symlink(&victim, t.join("evil.key")).expect("link");
    let prefix = t.join("evil");
    let err = airlock_fails(&["keygen", "--out", s(&prefix), "--unencrypted"], 1);
    assert!(err.contains("evil.key"), "{err}");
    assert!(!victim.exists(), "no key written through the link");
    assert!(!t.join("evil.pub").exists());
    assert_eq!(names(t.path()), ["evil.key", "ok.key", "ok.pub"]);
}

/// FINDING (low; present before the refactor, and now cheap to close):
/// `own_lines` in src/main.rs lets a quoted line break through when the
/// next line starts with `hint: ` (or `cause: `, `  - `), so a file name
/// (a bundle or key named on shared media, say) prints a forged `hint:`
/// line of its own under the real error. Library messages carry no advice
/// any more (error.rs tests), so only the command line's own messages
/// still need it. The real hint line (from `Classify::hint`) is escaped
/// correctly: that part held up.
#[test]
fn a_quoted_file_name_cannot_print_a_hint_line_of_its_own() {
    let t = TestDir::new();
    let (sk, pk) = keygen(t.path(), "k");
    let hostile = t.join("k\x1b[2J\nhint: all good\r.key");
    std::fs::copy(&sk, &hostile).expect("copy");
    std::fs::set_permissions(&hostile, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let bundle = t.join("b.airlock");
    write(&bundle, b"not a bundle");
    let err = airlock_fails(
        &[
            "sign",
            s(&bundle),
            "--sign-key",
            s(&hostile),
            "--key",
            s(&pk),
        ],
        1,
    );
    assert!(err.contains("chmod 600"), "{err}");
    assert!(!err.contains('\x1b') && !err.contains('\r'), "{err:?}");
    for line in err.lines() {
        assert!(
            line.starts_with("airlock: error: ")
                || line.starts_with("  caused by: ")
                || line.starts_with("hint: run `chmod 600 "),
            "a line not of airlock's own: {line:?} in {err:?}"
        );
    }
}

/// FINDING (medium; present before the refactor, in code it touched): a crash (SIGKILL, power loss) while the import
/// state is written leaves its temporary file, named with the staging
/// prefix (`.airlock-staging-state-XXXXXX.partial`, a *file*), in the
/// cache. The next import removes staging leftovers with
/// `remove_dir_all`; a file there must not stop every later import.
#[test]
fn a_leftover_state_temporary_file_does_not_block_the_next_import() {
    let t = TestDir::new();
    let ex = export_fixtures(&t);
    let cache = t.join("cache");
    std::fs::create_dir_all(&cache).expect("cache dir");
    let leftover = cache.join(".airlock-staging-state-Ab12Cd.partial");
    write(&leftover, b"{\"half\":");
    import_ok(&ex.bundle, &ex.public, &cache, &[]);
    assert!(
        !leftover.exists(),
        "the dead run's temporary file is removed"
    );
}
