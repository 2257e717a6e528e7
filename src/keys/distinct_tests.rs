use super::*;
use crate::progress::NoProgress;

fn write_key(dir: &Path, name: &str, text: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt as _;
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    p
}

fn no_passphrase(_: &Path) -> Result<Option<zeroize::Zeroizing<Vec<u8>>>, KeyFileError> {
    panic!("no key here is encrypted")
}

#[test]
fn one_key_named_twice_or_stored_twice_is_refused_and_distinct_keys_open() {
    let dir = tempfile::tempdir().unwrap();
    let a = SecretKey::generate("a").unwrap();
    let b = SecretKey::generate("b").unwrap();
    let pa = write_key(dir.path(), "a.key", &a.to_text());
    let pb = write_key(dir.path(), "b.key", &b.to_text());
    let open = |paths: &[PathBuf]| unlock_each(paths, &mut no_passphrase, &NoProgress);
    let keys = open(&[pa.clone(), pb.clone()]).unwrap();
    assert_eq!(keys.len(), 2);
    assert_eq!(first_repeated(&keys), None);
    let err = open(&[pa.clone(), pb.clone(), pa.clone()]).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "the secret key {} is given twice; each key signs a bundle once",
            pa.display()
        )
    );
    // The same key under another comment: the same key bytes.
    let renamed = a
        .to_text()
        .replacen("untrusted comment: a", "untrusted comment: x", 1);
    let pc = write_key(dir.path(), "c.key", &renamed);
    let err = open(&[pa.clone(), pc.clone()]).unwrap_err();
    assert!(matches!(&err, KeyFileError::SameKey { first, again } if *first == pa && *again == pc));
    // Another key with a's key id: refused once both are open.
    let twin = SecretKey::from_seed([7; 32], a.key_id(), "twin").unwrap();
    let pt = write_key(dir.path(), "t.key", &twin.to_text());
    let err = open(&[pa.clone(), pt.clone()]).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{} and {} are different keys with the same key id {}; each key id signs a bundle once",
            pa.display(),
            pt.display(),
            a.key_id()
        )
    );
    use crate::error::Classify as _;
    assert_eq!(err.class(), crate::error::ExitClass::Usage);
    // Keys already open: the rule is the same.
    let again = SecretKey::from_text(&a.to_text()).unwrap();
    assert_eq!(first_repeated(&[a, b, again]), Some(keys[0].key_id()));
}
