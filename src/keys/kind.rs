//! What a key file is, told from its shape alone (issue 15, item 8): a
//! minisign secret key, public key or signature, or something else. Read
//! before anything else is done with a file, so that a public key given
//! where a secret key belongs is named as such, not refused for its
//! permissions or as a "malformed secret key".
//!
//! Nothing here decrypts or keeps what it looks at; a caller that says what
//! it found says only the kind, never the content.

use std::fmt;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use zeroize::Zeroizing;

use super::UNTRUSTED_PREFIX;

/// The kind of a key file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyKind {
    /// A minisign secret key (`minisign -G`, `airlock keygen`'s `.key`).
    SecretKey,
    /// A minisign public key (a `.pub` file, or its bare base64 line).
    PublicKey,
    /// A minisign signature (a `.minisig` file).
    Signature,
    /// None of these.
    Other,
}

impl fmt::Display for KeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyKind::SecretKey => "a minisign secret key",
            KeyKind::PublicKey => "a minisign public key",
            KeyKind::Signature => "a minisign signature",
            KeyKind::Other => "not a minisign key",
        })
    }
}

/// The decoded lengths of minisign's objects (see the module docs of
/// [`crate::keys`]).
const SECRET_LEN: usize = 158;
const PUBLIC_LEN: usize = 42;
const SIGNATURE_LEN: usize = 74;

/// Tells what `text` is: by its base64 line's decoded length and algorithm
/// bytes (and, for a signature, its `trusted comment:` line).
pub fn recognize(text: &str) -> KeyKind {
    let text = text.trim_start();
    let mut lines = text.lines();
    let (data, commented) = match lines.next() {
        Some(first) if first.starts_with(UNTRUSTED_PREFIX) => (lines.next(), true),
        first => (first, false),
    };
    let Some(data) = data else {
        return KeyKind::Other;
    };
    let Ok(raw) = B64.decode(data.trim()).map(Zeroizing::new) else {
        return KeyKind::Other;
    };
    let alg = raw.get(..2);
    match raw.len() {
        SECRET_LEN if alg == Some(b"Ed") && commented => KeyKind::SecretKey,
        PUBLIC_LEN if alg == Some(b"Ed") => KeyKind::PublicKey,
        SIGNATURE_LEN
            if matches!(alg, Some(b"Ed" | b"ED"))
                && lines
                    .next()
                    .is_some_and(|l| l.starts_with("trusted comment:")) =>
        {
            KeyKind::Signature
        }
        _ => KeyKind::Other,
    }
}

/// The other half of a key pair as `airlock keygen` and `minisign -G` name
/// it (`bob.key` and `bob.pub`), if that file exists.
pub fn other_half(path: &Path, wanted: KeyKind) -> Option<PathBuf> {
    let ext = match wanted {
        KeyKind::SecretKey => "key",
        KeyKind::PublicKey => "pub",
        KeyKind::Signature | KeyKind::Other => return None,
    };
    let other = path.with_extension(ext);
    (other != path && other.is_file()).then_some(other)
}

#[cfg(test)]
mod tests {
    use super::super::vectors::{MINISIGN_KEY, MINISIGN_PUB, SIG_LEGACY, SIG_PREHASHED};
    use super::*;

    #[test]
    fn each_kind_is_told_from_its_shape() {
        assert_eq!(recognize(MINISIGN_KEY), KeyKind::SecretKey);
        assert_eq!(recognize(MINISIGN_PUB), KeyKind::PublicKey);
        // The bare base64 line, as `minisign -P` and a policy take it.
        let line = MINISIGN_PUB.lines().nth(1).unwrap();
        assert_eq!(recognize(line), KeyKind::PublicKey);
        assert_eq!(recognize(SIG_LEGACY), KeyKind::Signature);
        assert_eq!(recognize(SIG_PREHASHED), KeyKind::Signature);
        for other in [
            "",
            "untrusted comment: x\n",
            "hello\n",
            "untrusted comment: x\nnot base64!\n",
            // A signature's line without its trusted comment.
            &SIG_LEGACY.lines().take(2).collect::<Vec<_>>().join("\n"),
            // A secret key's line without its comment line.
            MINISIGN_KEY.lines().nth(1).unwrap(),
        ] {
            assert_eq!(recognize(other), KeyKind::Other, "{other:?}");
        }
    }
}
