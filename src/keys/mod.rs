//! Keys and signatures in minisign's formats (Ed25519).
//!
//! airlock's public keys, secret keys and signatures are byte-compatible with
//! minisign, so an inspector can check an extracted manifest with
//! `minisign -V` (or `signify -V`, which reads the same public key and legacy
//! signature lines) without trusting airlock. The text forms ([`PublicKey::to_text`],
//! [`Signature::to_text`], ...) are separate from the parsed forms.
//!
//! Formats (all integers little-endian, base64 with padding):
//! - public key: `"Ed" || key_id[8] || pk[32]`
//! - secret key: `"Ed" || kdf_alg[2] || "B2" || salt[32] || opslimit[8] || memlimit[8]
//!   || key_id[8] || sk[64] || checksum[32]`; `kdf_alg` is two zero bytes for an
//!   unencrypted key (as `minisign -G -W` writes it), `"Sc"` for scrypt: then
//!   `key_id || sk || checksum` is XORed with 104 bytes of scrypt output from the
//!   passphrase and salt, N, r, p derived from opslimit/memlimit as libsodium does.
//! - signature: `alg[2] || key_id[8] || sig[64]` where `alg` is `"Ed"` (legacy:
//!   the signature is over the message itself) or `"ED"` (over BLAKE2b-512 of the
//!   message); then a trusted comment and a global signature over
//!   `sig || trusted_comment`.

use std::fmt;
use std::path::Path;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use zeroize::Zeroizing;

mod distinct;
mod kind;
mod public;
mod secret;
mod signature;

pub(crate) use distinct::GIVE_EACH_ONCE;
pub use distinct::{first_repeated, unlock_each};
pub use kind::{recognize, KeyKind};
pub use public::PublicKey;
pub use secret::{PassphraseSource, SecretKey, SecretKeyFile, UnlockCost};
pub use signature::Signature;

const UNTRUSTED_PREFIX: &str = "untrusted comment: ";
const ALG_LEGACY: &[u8; 2] = b"Ed";
/// The longest comment line accepted (minisign's own limit is 1024 bytes):
/// a signature with a longer trusted or untrusted comment is refused.
pub const MAX_COMMENT: usize = 1024;

/// Errors reading, using or checking keys and signatures.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The text is not in the expected minisign form.
    #[error("{what} is malformed: {reason}")]
    Malformed {
        /// What was being read ("public key", "signature", ...).
        what: &'static str,
        /// Why it was refused.
        reason: String,
    },
    /// A secret key protected by a passphrase, read without one.
    #[error("the secret key is encrypted with a passphrase")]
    EncryptedSecretKey,
    /// The passphrase does not open the key.
    #[error("wrong passphrase for the secret key (or the key file is damaged)")]
    WrongPassphrase,
    /// Key derivation parameters out of range.
    #[error("the secret key asks for scrypt parameters airlock refuses (opslimit {opslimit}, memlimit {memlimit})")]
    KdfParameters {
        /// As stored.
        opslimit: u64,
        /// As stored.
        memlimit: u64,
    },
    /// The secret key's embedded public half does not match its seed.
    #[error("the secret key is damaged: its public half does not match its secret half")]
    DamagedSecretKey,
    /// The signature was made by another key.
    #[error("signature key id {found} does not match public key id {expected}")]
    KeyIdMismatch {
        /// The key id in the signature.
        found: KeyId,
        /// The key id of the public key.
        expected: KeyId,
    },
    /// Ed25519 verification of the message failed.
    #[error("signature by key {0} does not match the signed bytes")]
    BadSignature(KeyId),
    /// Ed25519 verification of the trusted comment failed.
    #[error("the trusted comment of the signature by key {0} was altered")]
    BadCommentSignature(KeyId),
    /// A comment with a line break or over the length limit.
    #[error("comment must be a single line of at most {MAX_COMMENT} bytes")]
    BadComment,
    /// A signer name (a key's comment or `--comment`) with a tab or a
    /// control character: in the tab-separated trusted comment it would
    /// read as a field of its own.
    #[error("the signer name {0} holds a tab or a control character, and a trusted comment's fields are tab-separated")]
    BadSigner(String),
    /// The random number generator failed.
    #[error("cannot get random bytes from the operating system")]
    Random(#[source] getrandom::Error),
}

impl crate::error::Classify for KeyError {
    fn class(&self) -> crate::error::ExitClass {
        use crate::error::ExitClass::*;
        match self {
            // Met directly, a key error is about a key file or the host; a
            // signature that does not verify reaches the user as a policy
            // refusal, which classes it.
            KeyError::Malformed { .. }
            | KeyError::EncryptedSecretKey
            | KeyError::WrongPassphrase
            | KeyError::KdfParameters { .. }
            | KeyError::DamagedSecretKey
            | KeyError::KeyIdMismatch { .. }
            | KeyError::BadSignature(_)
            | KeyError::BadCommentSignature(_)
            | KeyError::BadComment
            | KeyError::Random(_) => HostFailure,
            KeyError::BadSigner(_) => Usage,
        }
    }

    fn hint(&self) -> Option<crate::error::Hint> {
        use crate::error::{FlagHint, Hint};
        match self {
            KeyError::EncryptedSecretKey => Some(Hint::Flag(FlagHint::Passphrase)),
            KeyError::Malformed { .. }
            | KeyError::WrongPassphrase
            | KeyError::KdfParameters { .. }
            | KeyError::DamagedSecretKey
            | KeyError::KeyIdMismatch { .. }
            | KeyError::BadSignature(_)
            | KeyError::BadCommentSignature(_)
            | KeyError::BadComment
            | KeyError::BadSigner(_)
            | KeyError::Random(_) => None,
        }
    }
}

fn malformed(what: &'static str, reason: impl Into<String>) -> KeyError {
    KeyError::Malformed {
        what,
        reason: reason.into(),
    }
}

/// A minisign key id: 8 random bytes, shown as minisign shows it (16 uppercase
/// hex digits of the little-endian number).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(pub [u8; 8]);

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016X}", u64::from_le_bytes(self.0))
    }
}

impl KeyId {
    /// Parses the 16 hex digits minisign shows.
    pub fn from_hex(text: &str) -> Option<KeyId> {
        if text.len() != 16 {
            return None;
        }
        u64::from_str_radix(text, 16)
            .ok()
            .map(|n| KeyId(n.to_le_bytes()))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

fn check_comment(c: &str) -> Result<(), KeyError> {
    if c.len() > MAX_COMMENT || c.contains(['\n', '\r']) {
        return Err(KeyError::BadComment);
    }
    Ok(())
}

/// Splits key/signature text into (comment, base64) lines.
fn comment_and_data<'a>(
    text: &'a str,
    what: &'static str,
) -> Result<(&'a str, &'a str, std::str::Lines<'a>), KeyError> {
    let mut lines = text.lines();
    let first = lines
        .next()
        .ok_or_else(|| malformed(what, "the file is empty"))?;
    let comment = first.strip_prefix(UNTRUSTED_PREFIX).ok_or_else(|| {
        malformed(
            what,
            format!("the first line must start with {UNTRUSTED_PREFIX:?}"),
        )
    })?;
    let data = lines
        .next()
        .ok_or_else(|| malformed(what, "the base64 line is missing"))?
        .trim();
    Ok((comment, data, lines))
}

fn decode_exact<const N: usize>(data: &str, what: &'static str) -> Result<[u8; N], KeyError> {
    let bytes = Zeroizing::new(
        B64.decode(data)
            .map_err(|e| malformed(what, format!("invalid base64: {e}")))?,
    );
    <[u8; N]>::try_from(bytes.as_slice())
        .map_err(|_| malformed(what, format!("expected {N} bytes, found {}", bytes.len())))
}

/// Errors reading a key file from disk.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// The file could not be read.
    #[error(transparent)]
    Io(#[from] crate::error::PathIo),
    /// A secret key file that group or others can read.
    #[error(
        "secret key file {} is accessible by others (mode {mode:03o})",
        crate::text::path(path)
    )]
    Permissions {
        /// The file.
        path: std::path::PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// A passphrase file that group or others can read (like a secret key
    /// file, refused: it opens the key).
    #[error(
        "passphrase file {} is accessible by others (mode {mode:03o})",
        crate::text::path(path)
    )]
    PassphrasePermissions {
        /// The file.
        path: std::path::PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The file is larger than any key file.
    #[error("{} is too large to be a key file", crate::text::path(path))]
    TooLarge {
        /// The file.
        path: std::path::PathBuf,
    },
    /// A key file of another kind than the one asked for (a public key
    /// where a secret key belongs, or the reverse). Only the kind is said,
    /// never the content.
    #[error("{} is {found}, not {}", crate::text::path(path), wanted_words(*wanted))]
    WrongKind {
        /// The file.
        path: std::path::PathBuf,
        /// What it is.
        found: KeyKind,
        /// What was asked for.
        wanted: KeyKind,
        /// The other half of the pair beside it (`bob.key` for `bob.pub`),
        /// if it exists.
        other_half: Option<std::path::PathBuf>,
    },
    /// One key given twice where each key signs once: the same file, or
    /// two files holding the same key (see [`unlock_each`]).
    #[error("{}", distinct::same_key_words(first, again))]
    SameKey {
        /// Where it was given first.
        first: std::path::PathBuf,
        /// Where it was given again.
        again: std::path::PathBuf,
    },
    /// Two different keys with the same key id, where each key id signs
    /// once (a bundle's signature entry is named by it).
    #[error("{} and {} are different keys with the same key id {key_id}; each key id signs a bundle once", crate::text::path(first), crate::text::path(again))]
    SameKeyId {
        /// The first key's file.
        first: std::path::PathBuf,
        /// The second key's file.
        again: std::path::PathBuf,
        /// The key id they share.
        key_id: KeyId,
    },
    /// The file's content is not a key.
    #[error("{}", crate::text::path(path))]
    Key {
        /// The file.
        path: std::path::PathBuf,
        /// The cause.
        #[source]
        source: KeyError,
    },
}

impl crate::error::Classify for KeyFileError {
    fn class(&self) -> crate::error::ExitClass {
        use crate::error::ExitClass::*;
        match self {
            KeyFileError::Io(_)
            | KeyFileError::Permissions { .. }
            | KeyFileError::PassphrasePermissions { .. }
            | KeyFileError::TooLarge { .. }
            | KeyFileError::Key { .. } => HostFailure,
            // The file is readable and sound: it is the wrong one for the
            // job, a mistake in the command line.
            KeyFileError::WrongKind { .. }
            | KeyFileError::SameKey { .. }
            | KeyFileError::SameKeyId { .. } => Usage,
        }
    }

    fn hint(&self) -> Option<crate::error::Hint> {
        use crate::error::Hint;
        match self {
            KeyFileError::Permissions { path, .. }
            | KeyFileError::PassphrasePermissions { path, .. } => {
                Hint::text(match crate::text::shell_word_posix(path) {
                    Some(p) => format!("run `chmod 600 {p}`"),
                    None => "make it readable by its owner only (chmod 600)".into(),
                })
            }
            KeyFileError::Key { source, .. } => source.hint(),
            KeyFileError::SameKey { .. } | KeyFileError::SameKeyId { .. } => {
                Hint::text(distinct::GIVE_EACH_ONCE)
            }
            KeyFileError::WrongKind {
                found,
                wanted,
                other_half,
                ..
            } => wrong_kind_hint(*found, *wanted, other_half.as_deref()),
            KeyFileError::Io(_) | KeyFileError::TooLarge { .. } => None,
        }
    }
}

fn wanted_words(kind: KeyKind) -> &'static str {
    match kind {
        KeyKind::SecretKey => "a secret key",
        KeyKind::PublicKey => "a public key",
        KeyKind::Signature => "a signature",
        KeyKind::Other => "a key",
    }
}

/// What to give instead of a key file of the wrong kind.
fn wrong_kind_hint(
    found: KeyKind,
    wanted: KeyKind,
    other_half: Option<&Path>,
) -> Option<crate::error::Hint> {
    use crate::error::Hint;
    let beside = |what: &str| match other_half {
        Some(p) => format!("{what} ({} beside it)", p.display()),
        None => what.to_string(),
    };
    match (found, wanted) {
        (KeyKind::PublicKey, KeyKind::SecretKey) => Hint::text(format!(
            "signing needs the secret half of the key pair: {}; a public key only checks signatures",
            beside("the .key file written with this .pub")
        )),
        (KeyKind::SecretKey, KeyKind::PublicKey) => Hint::text(format!(
            "give the public half of the key pair: {}; a secret key belongs only with the person who signs",
            beside("the .pub file written with this .key")
        )),
        (KeyKind::Signature, KeyKind::PublicKey) => {
            Hint::text("give the public key (.pub) of whoever made the signature")
        }
        _ => None,
    }
}

/// Reads a key file of kind `wanted`: a file of another recognized kind is
/// refused as such, before anything else is done with it.
fn read_key_text(path: &Path, wanted: KeyKind) -> Result<Zeroizing<String>, KeyFileError> {
    let text = Zeroizing::new(read_small_text(path, 4096)?);
    let found = recognize(&text);
    if found != wanted && found != KeyKind::Other {
        return Err(KeyFileError::WrongKind {
            path: path.to_path_buf(),
            found,
            wanted,
            other_half: kind::other_half(path, wanted),
        });
    }
    Ok(text)
}

fn read_small_text(path: &Path, max: u64) -> Result<String, KeyFileError> {
    use std::io::Read as _;
    let io = crate::error::PathIo::at_each("cannot read key file", path);
    let f = std::fs::File::open(path).map_err(&io)?;
    let mut s = String::new();
    f.take(max + 1).read_to_string(&mut s).map_err(&io)?;
    if s.len() as u64 > max {
        return Err(KeyFileError::TooLarge {
            path: path.to_path_buf(),
        });
    }
    Ok(s)
}

/// minisign's own test key and signatures, shared by the unit tests of the
/// wire objects.
#[cfg(test)]
mod vectors {
    // A key written by `minisign -G -W` (minisign 0.11), and a legacy and a
    // prehashed signature it made over "hello\n".
    pub(super) const MINISIGN_PUB: &str = "untrusted comment: minisign public key 28474E173E2D034E\nRWROAy0+F05HKPVQT7sk3nO2DMHo8bM6bSzHcLgU9XU2ehfIv6OkJea9\n";
    pub(super) const MINISIGN_KEY: &str = "untrusted comment: minisign encrypted secret key\nRWQAAEIyAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAATgMtPhdORyivhOPs815xliXuACGbBg/oH3Z4y9aZrrMI+dLbwRG3XPVQT7sk3nO2DMHo8bM6bSzHcLgU9XU2ehfIv6OkJea9AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
    pub(super) const SIG_PREHASHED: &str = "untrusted comment: signature from minisign secret key\nRUROAy0+F05HKJRMqGFo7oVUybchKwkSm4KO3m5XLJC/+WFDZuU908kijtwGZReUpMF/PNELhFej4QN5gWuIdSPOJ5mAU74yDgw=\ntrusted comment: timestamp:1795644362\tfile:m.txt\thashed\nHgXEjRlTzBEiNgif5zpx2o5wnSQ9M4jTIseMM5BxArv4W8iUBhGbIHl0MJxxb0tX12IpUFk1ps8vb4endziLDw==\n";
    pub(super) const SIG_LEGACY: &str = "untrusted comment: signature from minisign secret key\nRWROAy0+F05HKC0B57B+iN0wOi+KB0Ln72JS6vvPfs3Cmu8R2OTRvZRn1nv0deiSCxzI0qXFgAkzEczYSArg94f/l7m8m/ydiQI=\ntrusted comment: timestamp:1795644362\tfile:m.txt\n14R5fMglryxKfloK2exm/NDkju8+plEGy0yioItFGa0SMx2MfW006r+Phbf6tdAJ9VkkeC1IgIFJaFIX+9GBAA==\n";
}
