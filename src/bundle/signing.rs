//! The one place airlock signs a manifest: a new bundle's manifest (export),
//! an approval of an existing bundle's manifest (sign), and the manifest of
//! a split bundle, its part index (parts).
//!
//! What each signature claims lives in its trusted comment, and readers
//! depend on its fields (`timestamp:` for the freshness checks in
//! [`crate::policy`], `file:` for the file it covers, `approval` and
//! `signer:` for reports), so the comments are built here and nowhere else:
//! the bytes are part of the bundle format (`bundle-spec/SPEC.md`).

use crate::keys::{KeyError, SecretKey, Signature};

/// What a signature says it is.
#[derive(Debug, Clone, Copy)]
pub enum Statement<'a> {
    /// The exporter's signature on a new bundle's manifest, dated at the
    /// bundle's creation time (seconds since the epoch).
    Bundle {
        /// The bundle's creation time.
        created: u64,
    },
    /// An approval added to an existing bundle's manifest, dated when it
    /// was made.
    Approval {
        /// When the approval was made.
        at: u64,
    },
    /// The signature on a part index, named by the index's file name.
    PartIndex {
        /// When the index was signed (the bundle's creation time).
        signed_at: u64,
        /// The index's file name (`<bundle>.parts`).
        file: &'a str,
    },
}

impl Statement<'_> {
    /// The untrusted comment: a human label naming the key.
    fn untrusted(&self, key: &SecretKey) -> String {
        let what = match self {
            Statement::Bundle { .. } => "bundle",
            Statement::Approval { .. } => "approval",
            Statement::PartIndex { .. } => "part index",
        };
        format!("airlock {what} signature from key {}", key.key_id())
    }

    /// The trusted comment, with `signer:` when `signer` is not empty (a
    /// part index names no signer).
    fn trusted(&self, signer: &str) -> String {
        let mut trusted = match self {
            Statement::Bundle { created } => format!("timestamp:{created}\tfile:manifest.toml"),
            Statement::Approval { at } => format!("timestamp:{at}\tfile:manifest.toml\tapproval"),
            Statement::PartIndex { signed_at, file } => {
                return format!("timestamp:{signed_at}\tfile:{file}")
            }
        };
        if !signer.is_empty() {
            trusted.push_str("\tsigner:");
            trusted.push_str(signer);
        }
        trusted
    }
}

impl Statement<'_> {
    /// The longest `signer` the trusted comment of this statement has room
    /// for ([`crate::keys::MAX_COMMENT`] bytes, less the statement's own
    /// fields).
    pub fn signer_room(&self) -> usize {
        let fields = self.trusted("-").len() - 1;
        crate::keys::MAX_COMMENT.saturating_sub(fields)
    }
}

/// Signs `manifest` (the exact bytes that are stored) with `key`, saying
/// `statement`; `signer`, if not empty, is named in the trusted comment.
///
/// # Errors
///
/// [`KeyError`] when a comment is not one line (a signer name with a
/// control character).
pub fn sign_manifest(
    key: &SecretKey,
    manifest: &[u8],
    statement: Statement<'_>,
    signer: &str,
) -> Result<Signature, KeyError> {
    if signer
        .chars()
        .any(|c| c == '\t' || crate::text::is_unsafe(c))
    {
        return Err(KeyError::BadSigner(
            crate::text::escape(signer).into_owned(),
        ));
    }
    key.sign(
        manifest,
        &statement.untrusted(key),
        &statement.trusted(signer),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SecretKey {
        SecretKey::generate("").expect("a key")
    }

    #[test]
    fn each_statement_keeps_the_comments_bundles_have_always_carried() {
        let k = key();
        let id = k.key_id();
        let cases: [(Statement<'_>, &str, String, String); 5] = [
            (
                Statement::Bundle { created: 7 },
                "",
                format!("airlock bundle signature from key {id}"),
                "timestamp:7\tfile:manifest.toml".into(),
            ),
            (
                Statement::Bundle { created: 7 },
                "ops",
                format!("airlock bundle signature from key {id}"),
                "timestamp:7\tfile:manifest.toml\tsigner:ops".into(),
            ),
            (
                Statement::Approval { at: 9 },
                "",
                format!("airlock approval signature from key {id}"),
                "timestamp:9\tfile:manifest.toml\tapproval".into(),
            ),
            (
                Statement::Approval { at: 9 },
                "alice",
                format!("airlock approval signature from key {id}"),
                "timestamp:9\tfile:manifest.toml\tapproval\tsigner:alice".into(),
            ),
            (
                Statement::PartIndex {
                    signed_at: 3,
                    file: "b.airlock.parts",
                },
                "ignored",
                format!("airlock part index signature from key {id}"),
                "timestamp:3\tfile:b.airlock.parts".into(),
            ),
        ];
        for (statement, signer, untrusted, trusted) in cases {
            let sig = sign_manifest(&k, b"manifest", statement, signer).expect("signs");
            assert_eq!(sig.untrusted_comment(), untrusted, "{statement:?}");
            assert_eq!(sig.trusted_comment(), trusted, "{statement:?}");
            assert_eq!(sig.key_id(), id);
            k.public_key()
                .verify(&sig, b"manifest")
                .expect("the signature verifies");
        }
    }

    #[test]
    fn a_signer_of_the_room_left_fits_and_one_byte_more_does_not() {
        let k = key();
        let at = Statement::Approval { at: 1_764_600_000 };
        // "timestamp:1764600000\tfile:manifest.toml\tapproval\tsigner:"
        assert_eq!(at.signer_room(), 1024 - 56);
        let fits = "x".repeat(at.signer_room());
        sign_manifest(&k, b"m", at, &fits).expect("fits");
        assert!(sign_manifest(&k, b"m", at, &format!("{fits}x")).is_err());
    }

    #[test]
    fn a_signer_name_on_two_lines_is_refused() {
        let r = sign_manifest(&key(), b"m", Statement::Bundle { created: 1 }, "a\nb");
        assert!(r.is_err());
    }
}
