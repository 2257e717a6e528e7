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
use blake2::{Blake2b512, Digest as _};
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use zeroize::Zeroizing;

const UNTRUSTED_PREFIX: &str = "untrusted comment: ";
const TRUSTED_PREFIX: &str = "trusted comment: ";
const ALG_LEGACY: &[u8; 2] = b"Ed";
const ALG_PREHASHED: &[u8; 2] = b"ED";
const KDF_NONE: &[u8; 2] = &[0, 0];
const KDF_SCRYPT: &[u8; 2] = b"Sc";
const CHK_BLAKE2: &[u8; 2] = b"B2";
const SECRET_KEY_LEN: usize = 2 + 2 + 2 + 32 + 8 + 8 + 8 + 64 + 32;
/// The longest comment line accepted (minisign's own limit is 1024 bytes).
const MAX_COMMENT: usize = 1024;

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

/// A trusted public key.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    key_id: KeyId,
    key: VerifyingKey,
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.key_id)
    }
}

impl PublicKey {
    /// The key id.
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// The Ed25519 public key bytes.
    pub fn bytes(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// Parses a public key file (comment line + base64 line), or a bare
    /// base64 line as `minisign -P` takes it.
    pub fn from_text(text: &str) -> Result<Self, KeyError> {
        const WHAT: &str = "public key";
        let data = if text.trim_start().starts_with(UNTRUSTED_PREFIX) {
            comment_and_data(text.trim_start(), WHAT)?.1
        } else {
            text.trim()
        };
        let raw: [u8; 42] = decode_exact(data, WHAT)?;
        if &raw[..2] != ALG_LEGACY {
            return Err(malformed(
                WHAT,
                "unsupported signature algorithm (expected Ed25519)",
            ));
        }
        let key_id = KeyId(raw[2..10].try_into().expect("8 bytes"));
        let pk: [u8; 32] = raw[10..].try_into().expect("32 bytes");
        let key = VerifyingKey::from_bytes(&pk)
            .map_err(|_| malformed(WHAT, "not a valid Ed25519 point"))?;
        Ok(PublicKey { key_id, key })
    }

    /// Reads a public key file.
    pub fn from_file(path: &Path) -> Result<Self, KeyFileError> {
        let text = read_small_text(path, 4096)?;
        PublicKey::from_text(&text).map_err(|source| KeyFileError::Key {
            path: path.to_path_buf(),
            source,
        })
    }

    /// The base64 line alone.
    pub fn to_base64(&self) -> String {
        let mut raw = Vec::with_capacity(42);
        raw.extend_from_slice(ALG_LEGACY);
        raw.extend_from_slice(&self.key_id.0);
        raw.extend_from_slice(self.key.as_bytes());
        B64.encode(raw)
    }

    /// The public key file, as minisign writes it.
    pub fn to_text(&self, comment: &str) -> String {
        format!("{UNTRUSTED_PREFIX}{comment}\n{}\n", self.to_base64())
    }

    /// Checks `sig` over `message` with this key, including its trusted comment.
    pub fn verify(&self, sig: &Signature, message: &[u8]) -> Result<(), KeyError> {
        if sig.key_id != self.key_id {
            return Err(KeyError::KeyIdMismatch {
                found: sig.key_id,
                expected: self.key_id,
            });
        }
        // Fuzz builds only (`cargo fuzz` sets `--cfg fuzzing`): a signature by
        // the right key id passes without its Ed25519 check, so the fuzzer
        // can reach the parsers that run after verification.
        if cfg!(fuzzing) {
            return Ok(());
        }
        let signature = ed25519_dalek::Signature::from_bytes(&sig.sig);
        let ok = if sig.prehashed {
            let h = Blake2b512::digest(message);
            self.key.verify_strict(&h, &signature)
        } else {
            self.key.verify_strict(message, &signature)
        };
        ok.map_err(|_| KeyError::BadSignature(self.key_id))?;
        let global = ed25519_dalek::Signature::from_bytes(&sig.global_sig);
        let mut signed = Vec::with_capacity(64 + sig.trusted_comment.len());
        signed.extend_from_slice(&sig.sig);
        signed.extend_from_slice(sig.trusted_comment.as_bytes());
        self.key
            .verify_strict(&signed, &global)
            .map_err(|_| KeyError::BadCommentSignature(self.key_id))
    }
}

/// Asked for the passphrase of an encrypted key file (`None`: there is none).
pub type PassphraseSource<'a> =
    dyn FnMut(&Path) -> Result<Option<Zeroizing<Vec<u8>>>, KeyFileError> + 'a;

/// A secret signing key. The key bytes are zeroed when it is dropped.
pub struct SecretKey {
    key_id: KeyId,
    key: SigningKey,
    comment: String,
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey({}, <redacted>)", self.key_id)
    }
}

impl SecretKey {
    /// A new random key pair.
    pub fn generate(comment: &str) -> Result<Self, KeyError> {
        check_comment(comment)?;
        let mut seed = Zeroizing::new([0u8; 32]);
        getrandom::getrandom(seed.as_mut()).map_err(KeyError::Random)?;
        let mut id = [0u8; 8];
        getrandom::getrandom(&mut id).map_err(KeyError::Random)?;
        Ok(SecretKey {
            key_id: KeyId(id),
            key: SigningKey::from_bytes(&seed),
            comment: comment.to_string(),
        })
    }

    /// A key from a fixed seed and id (test vectors only).
    pub fn from_seed(seed: [u8; 32], key_id: KeyId, comment: &str) -> Result<Self, KeyError> {
        check_comment(comment)?;
        let seed = Zeroizing::new(seed);
        Ok(SecretKey {
            key_id,
            key: SigningKey::from_bytes(&seed),
            comment: comment.to_string(),
        })
    }

    /// The key id.
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// The comment stored with the key (it becomes part of each signature's
    /// trusted comment).
    pub fn comment(&self) -> &str {
        &self.comment
    }

    /// The public half.
    pub fn public_key(&self) -> PublicKey {
        PublicKey {
            key_id: self.key_id,
            key: self.key.verifying_key(),
        }
    }

    /// Whether a secret key file's text is encrypted with a passphrase.
    pub fn is_encrypted(text: &str) -> bool {
        comment_and_data(text, "secret key")
            .ok()
            .and_then(|(_, data, _)| B64.decode(data).ok().map(Zeroizing::new))
            .is_some_and(|raw| raw.get(2..4) == Some(KDF_SCRYPT))
    }

    /// Parses an unencrypted minisign secret key file.
    pub fn from_text(text: &str) -> Result<Self, KeyError> {
        Self::from_text_with(text, None)
    }

    /// Parses a minisign secret key file, decrypting it with `passphrase`
    /// when it is encrypted (scrypt, as minisign does).
    pub fn from_text_with(text: &str, passphrase: Option<&[u8]>) -> Result<Self, KeyError> {
        const WHAT: &str = "secret key";
        let (comment, data, _) = comment_and_data(text, WHAT)?;
        let mut raw: Zeroizing<[u8; SECRET_KEY_LEN]> = Zeroizing::new(decode_exact(data, WHAT)?);
        if &raw[0..2] != ALG_LEGACY {
            return Err(malformed(
                WHAT,
                "unsupported signature algorithm (expected Ed25519)",
            ));
        }
        let encrypted = &raw[2..4] == KDF_SCRYPT;
        if encrypted {
            let passphrase = passphrase.ok_or(KeyError::EncryptedSecretKey)?;
            let salt: [u8; 32] = raw[6..38].try_into().expect("32 bytes");
            let ops = u64::from_le_bytes(raw[38..46].try_into().expect("8 bytes"));
            let mem = u64::from_le_bytes(raw[46..54].try_into().expect("8 bytes"));
            let stream = kdf_stream(passphrase, &salt, ops, mem)?;
            for (b, k) in raw[54..].iter_mut().zip(stream.iter()) {
                *b ^= k;
            }
        } else if &raw[2..4] != KDF_NONE {
            return Err(malformed(WHAT, "unknown key derivation function"));
        }
        if &raw[4..6] != CHK_BLAKE2 {
            return Err(malformed(WHAT, "unknown checksum function"));
        }
        let key_id = KeyId(raw[54..62].try_into().expect("8 bytes"));
        let seed: Zeroizing<[u8; 32]> = Zeroizing::new(raw[62..94].try_into().expect("32 bytes"));
        let embedded_pk = &raw[94..126];
        let chk = &raw[126..158];
        // `minisign -G -W` leaves the checksum zeroed; when one is present it
        // must hold (for an encrypted key, a mismatch means a wrong passphrase).
        if (encrypted || chk.iter().any(|&b| b != 0))
            && chk != secret_key_checksum(&key_id, &raw[62..126])
        {
            return Err(if encrypted {
                KeyError::WrongPassphrase
            } else {
                KeyError::DamagedSecretKey
            });
        }
        let key = SigningKey::from_bytes(&seed);
        if key.verifying_key().as_bytes() != embedded_pk {
            return Err(KeyError::DamagedSecretKey);
        }
        let comment = comment.to_string();
        Ok(SecretKey {
            key_id,
            key,
            comment,
        })
    }

    /// Reads a secret key file. Like ssh, refuses a file that group or
    /// others may read: a secret key that leaked is no proof of anything.
    pub fn from_file(path: &Path) -> Result<Self, KeyFileError> {
        Self::from_file_with(path, &mut |_| Ok(None))
    }

    /// [`SecretKey::from_file`] for a key that may be encrypted: when it is,
    /// `passphrase(path)` is asked for the passphrase (`None`: there is none).
    pub fn from_file_with(
        path: &Path,
        passphrase: &mut PassphraseSource<'_>,
    ) -> Result<Self, KeyFileError> {
        use std::os::unix::fs::PermissionsExt as _;
        let meta = std::fs::metadata(path)
            .map_err(crate::error::PathIo::at("cannot read key file", path))?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(KeyFileError::Permissions {
                path: path.to_path_buf(),
                mode,
            });
        }
        let text = Zeroizing::new(read_small_text(path, 4096)?);
        let pass = if SecretKey::is_encrypted(&text) {
            passphrase(path)?
        } else {
            None
        };
        SecretKey::from_text_with(&text, pass.as_ref().map(|p| p.as_slice())).map_err(|source| {
            KeyFileError::Key {
                path: path.to_path_buf(),
                source,
            }
        })
    }

    /// The secret key file, unencrypted, laid out as `minisign -G -W` writes it
    /// (but with the checksum filled in).
    pub fn to_text(&self) -> Zeroizing<String> {
        self.to_text_with(None).expect("no derivation, no failure")
    }

    /// The secret key file, encrypted with `passphrase` as `minisign -G`
    /// does (scrypt with minisign's parameters: 1 GiB, a few seconds), or
    /// unencrypted without one.
    pub fn to_text_with(&self, passphrase: Option<&[u8]>) -> Result<Zeroizing<String>, KeyError> {
        let mut raw = Zeroizing::new(Vec::with_capacity(SECRET_KEY_LEN));
        raw.extend_from_slice(ALG_LEGACY);
        raw.extend_from_slice(if passphrase.is_some() {
            KDF_SCRYPT
        } else {
            KDF_NONE
        });
        raw.extend_from_slice(CHK_BLAKE2);
        let mut salt = [0u8; 32];
        if passphrase.is_some() {
            getrandom::getrandom(&mut salt).map_err(KeyError::Random)?;
            raw.extend_from_slice(&salt);
            raw.extend_from_slice(&OPSLIMIT_SENSITIVE.to_le_bytes());
            raw.extend_from_slice(&MEMLIMIT_SENSITIVE.to_le_bytes());
        } else {
            raw.extend_from_slice(&[0u8; 32 + 8 + 8]);
        }
        raw.extend_from_slice(&self.key_id.0);
        raw.extend_from_slice(self.key.as_bytes());
        raw.extend_from_slice(self.key.verifying_key().as_bytes());
        let chk = secret_key_checksum(&self.key_id, &raw[62..126]);
        raw.extend_from_slice(&chk);
        if let Some(p) = passphrase {
            let stream = kdf_stream(p, &salt, OPSLIMIT_SENSITIVE, MEMLIMIT_SENSITIVE)?;
            for (b, k) in raw[54..].iter_mut().zip(stream.iter()) {
                *b ^= k;
            }
        }
        Ok(Zeroizing::new(format!(
            "{UNTRUSTED_PREFIX}{}\n{}\n",
            self.comment,
            B64.encode(raw.as_slice())
        )))
    }

    /// Signs `message` (legacy, non-prehashed "Ed" signature so that signify
    /// can check it too) with the given comments.
    pub fn sign(
        &self,
        message: &[u8],
        untrusted_comment: &str,
        trusted_comment: &str,
    ) -> Result<Signature, KeyError> {
        check_comment(untrusted_comment)?;
        check_comment(trusted_comment)?;
        let sig = self.key.sign(message).to_bytes();
        let mut signed = Vec::with_capacity(64 + trusted_comment.len());
        signed.extend_from_slice(&sig);
        signed.extend_from_slice(trusted_comment.as_bytes());
        let global_sig = self.key.sign(&signed).to_bytes();
        Ok(Signature {
            key_id: self.key_id,
            prehashed: false,
            sig,
            untrusted_comment: untrusted_comment.to_string(),
            trusted_comment: trusted_comment.to_string(),
            global_sig,
        })
    }
}

/// libsodium's `crypto_pwhash_scryptsalsa208sha256_OPSLIMIT_SENSITIVE`, which
/// minisign uses.
const OPSLIMIT_SENSITIVE: u64 = 33_554_432;
/// libsodium's `..._MEMLIMIT_SENSITIVE` (1 GiB).
const MEMLIMIT_SENSITIVE: u64 = 1_073_741_824;
/// The most memory a key file may ask scrypt for.
const MEMLIMIT_MAX: u64 = 4 << 30;

/// scrypt's N, r, p from libsodium's opslimit and memlimit, exactly as
/// libsodium picks them (so keys interoperate with minisign).
fn pick_params(opslimit: u64, memlimit: u64) -> (u8, u32, u32) {
    let ops = opslimit.max(32_768);
    let r: u64 = 8;
    let n_log2 = |max_n: u64| {
        let mut l = 1u8;
        while l < 63 && (1u64 << l) <= max_n / 2 {
            l += 1;
        }
        l
    };
    if ops < memlimit / 32 {
        (n_log2(ops / (r * 4)), r as u32, 1)
    } else {
        let l = n_log2(memlimit / (r * 128));
        let max_rp = ((ops / 4) / (1u64 << l)).min(0x3fff_ffff);
        (l, r as u32, ((max_rp / r) as u32).max(1))
    }
}

/// The 104-byte key stream that encrypts `key_id || sk || checksum`.
fn kdf_stream(
    passphrase: &[u8],
    salt: &[u8; 32],
    opslimit: u64,
    memlimit: u64,
) -> Result<Zeroizing<[u8; 104]>, KeyError> {
    let (log_n, r, p) = pick_params(opslimit, memlimit);
    let bad = KeyError::KdfParameters { opslimit, memlimit };
    let memory = 128u64
        .saturating_mul(r as u64)
        .saturating_mul(1u64.checked_shl(log_n as u32).unwrap_or(u64::MAX));
    if memory > MEMLIMIT_MAX || p > 64 {
        return Err(bad);
    }
    let params = scrypt::Params::new(log_n, r, p, 32).map_err(|_| bad)?;
    let mut out = Zeroizing::new([0u8; 104]);
    scrypt::scrypt(passphrase, salt, &params, out.as_mut())
        .map_err(|_| KeyError::KdfParameters { opslimit, memlimit })?;
    Ok(out)
}

fn secret_key_checksum(key_id: &KeyId, sk: &[u8]) -> [u8; 32] {
    use blake2::digest::{Update, VariableOutput};
    let mut h = blake2::Blake2bVar::new(32).expect("32 is a valid BLAKE2b output size");
    h.update(ALG_LEGACY);
    h.update(&key_id.0);
    h.update(sk);
    let mut out = [0u8; 32];
    h.finalize_variable(&mut out)
        .expect("output buffer has the requested size");
    out
}

/// A minisign signature with its comments.
#[derive(Clone, PartialEq, Eq)]
pub struct Signature {
    key_id: KeyId,
    prehashed: bool,
    sig: [u8; 64],
    untrusted_comment: String,
    trusted_comment: String,
    global_sig: [u8; 64],
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({}, {:?})", self.key_id, self.trusted_comment)
    }
}

impl Signature {
    /// The id of the key that made it.
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// The trusted (signed) comment.
    pub fn trusted_comment(&self) -> &str {
        &self.trusted_comment
    }

    /// The untrusted comment.
    pub fn untrusted_comment(&self) -> &str {
        &self.untrusted_comment
    }

    /// Whether the message was pre-hashed with BLAKE2b-512 ("ED").
    pub fn is_prehashed(&self) -> bool {
        self.prehashed
    }

    /// Parses a `.minisig` file.
    pub fn from_text(text: &str) -> Result<Self, KeyError> {
        const WHAT: &str = "signature";
        let (untrusted, data, mut rest) = comment_and_data(text, WHAT)?;
        let raw: [u8; 74] = decode_exact(data, WHAT)?;
        let prehashed = match &raw[..2] {
            a if a == ALG_LEGACY => false,
            a if a == ALG_PREHASHED => true,
            _ => return Err(malformed(WHAT, "unsupported signature algorithm")),
        };
        let key_id = KeyId(raw[2..10].try_into().expect("8 bytes"));
        let sig: [u8; 64] = raw[10..].try_into().expect("64 bytes");
        let trusted = rest
            .next()
            .and_then(|l| l.strip_prefix(TRUSTED_PREFIX))
            .ok_or_else(|| {
                malformed(
                    WHAT,
                    format!("the third line must start with {TRUSTED_PREFIX:?}"),
                )
            })?;
        let global_line = rest
            .next()
            .ok_or_else(|| malformed(WHAT, "the global signature line is missing"))?;
        let global_sig: [u8; 64] = decode_exact(global_line.trim(), WHAT)?;
        if rest.any(|l| !l.trim().is_empty()) {
            return Err(malformed(
                WHAT,
                "unexpected lines after the global signature",
            ));
        }
        if untrusted.len() > MAX_COMMENT || trusted.len() > MAX_COMMENT {
            return Err(malformed(WHAT, "comment too long"));
        }
        Ok(Signature {
            key_id,
            prehashed,
            sig,
            untrusted_comment: untrusted.to_string(),
            trusted_comment: trusted.strip_suffix('\r').unwrap_or(trusted).to_string(),
            global_sig,
        })
    }

    /// The `.minisig` file text.
    pub fn to_text(&self) -> String {
        let mut raw = Vec::with_capacity(74);
        raw.extend_from_slice(if self.prehashed {
            ALG_PREHASHED
        } else {
            ALG_LEGACY
        });
        raw.extend_from_slice(&self.key_id.0);
        raw.extend_from_slice(&self.sig);
        format!(
            "{UNTRUSTED_PREFIX}{}\n{}\n{TRUSTED_PREFIX}{}\n{}\n",
            self.untrusted_comment,
            B64.encode(raw),
            self.trusted_comment,
            B64.encode(self.global_sig)
        )
    }
}

/// Errors reading a key file from disk.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// The file could not be read.
    #[error(transparent)]
    Io(#[from] crate::error::PathIo),
    /// A secret key file that group or others can read.
    #[error("secret key file {} is accessible by others (mode {mode:03o})", path.display())]
    Permissions {
        /// The file.
        path: std::path::PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// A passphrase file that group or others can read (like a secret key
    /// file, refused: it opens the key).
    #[error("passphrase file {} is accessible by others (mode {mode:03o})", path.display())]
    PassphrasePermissions {
        /// The file.
        path: std::path::PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The file is larger than any key file.
    #[error("{} is too large to be a key file", path.display())]
    TooLarge {
        /// The file.
        path: std::path::PathBuf,
    },
    /// The file's content is not a key.
    #[error("{}", path.display())]
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
        }
    }

    fn hint(&self) -> Option<crate::error::Hint> {
        use crate::error::Hint;
        match self {
            KeyFileError::Permissions { path, .. }
            | KeyFileError::PassphrasePermissions { path, .. } => {
                Hint::text(format!("run `chmod 600 {}`", path.display()))
            }
            KeyFileError::Key { source, .. } => source.hint(),
            KeyFileError::Io(_) | KeyFileError::TooLarge { .. } => None,
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    // A key written by `minisign -G -W` (minisign 0.11), and a legacy and a
    // prehashed signature it made over "hello\n".
    const MINISIGN_PUB: &str = "untrusted comment: minisign public key 28474E173E2D034E\nRWROAy0+F05HKPVQT7sk3nO2DMHo8bM6bSzHcLgU9XU2ehfIv6OkJea9\n";
    const MINISIGN_KEY: &str = "untrusted comment: minisign encrypted secret key\nRWQAAEIyAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAATgMtPhdORyivhOPs815xliXuACGbBg/oH3Z4y9aZrrMI+dLbwRG3XPVQT7sk3nO2DMHo8bM6bSzHcLgU9XU2ehfIv6OkJea9AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
    const SIG_PREHASHED: &str = "untrusted comment: signature from minisign secret key\nRUROAy0+F05HKJRMqGFo7oVUybchKwkSm4KO3m5XLJC/+WFDZuU908kijtwGZReUpMF/PNELhFej4QN5gWuIdSPOJ5mAU74yDgw=\ntrusted comment: timestamp:1795644362\tfile:m.txt\thashed\nHgXEjRlTzBEiNgif5zpx2o5wnSQ9M4jTIseMM5BxArv4W8iUBhGbIHl0MJxxb0tX12IpUFk1ps8vb4endziLDw==\n";
    const SIG_LEGACY: &str = "untrusted comment: signature from minisign secret key\nRWROAy0+F05HKC0B57B+iN0wOi+KB0Ln72JS6vvPfs3Cmu8R2OTRvZRn1nv0deiSCxzI0qXFgAkzEczYSArg94f/l7m8m/ydiQI=\ntrusted comment: timestamp:1795644362\tfile:m.txt\n14R5fMglryxKfloK2exm/NDkju8+plEGy0yioItFGa0SMx2MfW006r+Phbf6tdAJ9VkkeC1IgIFJaFIX+9GBAA==\n";

    #[test]
    fn minisign_vectors_verify() {
        let pk = PublicKey::from_text(MINISIGN_PUB).unwrap();
        assert_eq!(pk.key_id().to_string(), "28474E173E2D034E");
        for text in [SIG_PREHASHED, SIG_LEGACY] {
            let sig = Signature::from_text(text).unwrap();
            pk.verify(&sig, b"hello\n").unwrap();
            assert!(matches!(
                pk.verify(&sig, b"hello!\n"),
                Err(KeyError::BadSignature(_))
            ));
            assert_eq!(Signature::from_text(&sig.to_text()).unwrap(), sig);
        }
    }

    #[test]
    fn minisign_secret_key_loads_and_signs() {
        let sk = SecretKey::from_text(MINISIGN_KEY).unwrap();
        let pk = PublicKey::from_text(MINISIGN_PUB).unwrap();
        assert_eq!(sk.public_key(), pk);
        let sig = sk.sign(b"msg", "u", "timestamp:1\tfile:x").unwrap();
        pk.verify(&sig, b"msg").unwrap();
        // Round trip through our own text form (with the checksum filled in).
        let again = SecretKey::from_text(&sk.to_text()).unwrap();
        assert_eq!(again.public_key(), pk);
    }

    #[test]
    fn altered_trusted_comment_is_detected() {
        let pk = PublicKey::from_text(MINISIGN_PUB).unwrap();
        let text = SIG_LEGACY.replace("timestamp:1795644362", "timestamp:1795644363");
        let sig = Signature::from_text(&text).unwrap();
        assert!(matches!(
            pk.verify(&sig, b"hello\n"),
            Err(KeyError::BadCommentSignature(_))
        ));
    }

    #[test]
    fn damaged_secret_key_is_refused() {
        let sk = SecretKey::generate("c").unwrap();
        let text = sk.to_text();
        let mut lines: Vec<String> = text.lines().map(String::from).collect();
        let mut raw = B64.decode(&lines[1]).unwrap();
        raw[100] ^= 1; // inside the embedded public key
        lines[1] = B64.encode(&raw);
        let err = SecretKey::from_text(&lines.join("\n")).unwrap_err();
        assert!(matches!(err, KeyError::DamagedSecretKey), "{err}");
    }

    #[test]
    fn encrypted_secret_key_is_refused_clearly() {
        let mut raw = B64.decode(MINISIGN_KEY.lines().nth(1).unwrap()).unwrap();
        raw[2..4].copy_from_slice(b"Sc");
        let text = format!("untrusted comment: x\n{}\n", B64.encode(raw));
        assert!(matches!(
            SecretKey::from_text(&text),
            Err(KeyError::EncryptedSecretKey)
        ));
    }
}

#[cfg(test)]
mod kdf_tests {
    use super::*;

    #[test]
    fn scrypt_parameters_are_libsodiums() {
        // minisign's default (OPSLIMIT/MEMLIMIT_SENSITIVE): N = 2^20, r = 8, p = 1.
        assert_eq!(
            pick_params(OPSLIMIT_SENSITIVE, MEMLIMIT_SENSITIVE),
            (20, 8, 1)
        );
        // libsodium's INTERACTIVE pair (524288, 16 MiB): N = 2^14, r = 8, p = 1.
        assert_eq!(pick_params(524_288, 16_777_216), (14, 8, 1));
        // A key file asking for 64 GiB is refused before any allocation.
        let err = kdf_stream(b"x", &[0; 32], 1 << 40, 64 << 30).unwrap_err();
        assert!(matches!(err, KeyError::KdfParameters { .. }));
    }
}
