//! Countersigning: add an approval signature to an existing bundle without
//! changing anything the signatures cover.
//!
//! The bundle is read through the verifying reader (so its signatures must
//! satisfy the approver's trust policy, and every payload byte must match the
//! signed manifest: nobody countersigns damaged bytes) and written, in the
//! same pass, to a temporary file beside it with the same manifest bytes,
//! the earlier signatures and the new one (rewritten from the verified
//! entries, never copied byte for byte: a bundle with anything after its zstd
//! frame is refused by the reader, not passed on). Only when all of that succeeded is
//! the temporary file renamed over the original, so a crash or a refusal
//! leaves the original untouched.

use std::fmt;
use std::fs::File;
use std::io::{BufReader, BufWriter, Write as _};
use std::path::{Path, PathBuf};

use crate::bundle::reader::{
    self, BundleError, PayloadReader, PayloadVisitor, ReadError, Verified,
};
use crate::bundle::signing::{sign_manifest, Statement};
use crate::bundle::writer::{BundleWriter, WriteError};
use crate::bundle::MAX_SIGNATURES;
use crate::error::PathIo;
use crate::fsio::{AtomicFile, Replace};
use crate::keys::{KeyError, PublicKey, SecretKey};
use crate::manifest::Payload;
use crate::policy::{Approvals, Standing, TrustPolicy};
use crate::progress::{Progress, ProgressReader};

/// Why an approval would not count (see [`SignError::NotCounted`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Uncounted {
    /// The policy lists no key with its key id.
    NotListed,
    /// The policy revoked it (as this `revoked` entry).
    Revoked(String),
    /// A listed key (`name (key ID)`) has its key id but is another key.
    IdTaken(String),
    /// Its public key signed the bundle already, under another key id.
    SameKeySigned,
}

impl fmt::Display for Uncounted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Uncounted::NotListed => f.write_str("is not listed in the trust policy: its approval would never count"),
            Uncounted::Revoked(by) => write!(f, "is revoked by the trust policy (as {by}): its approval would never count"),
            Uncounted::IdTaken(listed) => write!(f, "has the key id of {listed} in the trust policy but is another key: its signature would make the bundle fail verification"),
            Uncounted::SameKeySigned => f.write_str("has signed this bundle already under another key id: its approval would not count again"),
        }
    }
}

/// Why a bundle was not countersigned. The original is untouched.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// The bundle was refused (untrusted, damaged...).
    #[error(transparent)]
    Bundle(#[from] BundleError),
    /// The key has signed this bundle already (`name (key ID)` or `key ID`).
    #[error("{0} has already signed this bundle")]
    AlreadySigned(String),
    /// The bundle carries as many signatures as a reader accepts: one more
    /// and no reader would accept it.
    #[error("the bundle carries {MAX_SIGNATURES} signatures already, as many as a reader accepts: one more would make every reader refuse it; nothing was changed")]
    Full,
    /// The signer comment (`--comment`, else the key's own) has no room
    /// in the approval's trusted comment.
    #[error("the signer comment is {len} bytes; an approval's trusted comment has room for at most {max}; nothing was changed")]
    CommentTooLong {
        /// Its length.
        len: usize,
        /// The room.
        max: usize,
    },
    /// The policy would not count the approval (issue 15: an approval that
    /// does not count must not pass for one).
    #[error("{who} {why}")]
    NotCounted {
        /// The key (`name (key ID)` or `key ID`).
        who: String,
        /// Why.
        why: Uncounted,
    },
    /// Signing failed.
    #[error("cannot sign the manifest")]
    Key(#[from] KeyError),
    /// Writing the new bundle failed.
    #[error(transparent)]
    Write(#[from] WriteError),
    /// Another process is signing or replacing the same bundle.
    #[error("{} is being signed or replaced by another process; nothing was changed", crate::text::path(.0))]
    Busy(PathBuf),
    /// File system trouble.
    #[error(transparent)]
    Io(#[from] PathIo),
}

impl crate::error::Classify for SignError {
    fn class(&self) -> crate::error::ExitClass {
        use crate::error::ExitClass::*;
        match self {
            SignError::Bundle(e) => e.class(),
            // Signing this bundle with this key cannot work, whoever runs
            // it: the bundle is sound and stays as it is (not damaged, 4).
            SignError::AlreadySigned(_) | SignError::Full | SignError::CommentTooLong { .. } => {
                Usage
            }
            SignError::Write(e) => e.class(),
            // What the approval would prove: nothing.
            SignError::NotCounted { .. } => NotProven,
            SignError::Key(e) => e.class(),
            SignError::Busy(_) | SignError::Io(_) => HostFailure,
        }
    }

    fn hint(&self) -> Option<crate::error::Hint> {
        use crate::error::{FlagHint, Hint};
        match self {
            SignError::Busy(_) => {
                crate::error::Hint::text("run airlock sign again when it is done")
            }
            SignError::NotCounted {
                why: Uncounted::IdTaken(_),
                ..
            } => Hint::text(
                "make a new key pair for this signer: the policy gives this key id to another key",
            ),
            SignError::NotCounted { .. } => Some(Hint::Flag(FlagHint::ForceApproval)),
            SignError::Bundle(e) => e.hint(),
            SignError::Key(e) => e.hint(),
            SignError::Write(e) => e.hint(),
            SignError::AlreadySigned(_)
            | SignError::Full
            | SignError::CommentTooLong { .. }
            | SignError::Io(_) => None,
        }
    }
}

/// How to sign.
pub struct SignOptions<'a> {
    /// If not empty, replaces the key's own comment as `signer:`.
    pub comment: &'a str,
    /// Whether the policy says who approves (a policy file): then an
    /// approval it would not count is refused, and the report says where
    /// the approvals stand. Trusted keys alone (`any_of`) say only who may
    /// vouch for the bundle as it is.
    pub judge: bool,
    /// Add an approval the policy would not count all the same (the
    /// signer knows; the report says so).
    pub force: bool,
    /// Told of the pass over the bundle.
    pub progress: &'a dyn Progress,
}

/// What `sign` did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SignReport {
    /// The bundle.
    pub bundle: PathBuf,
    /// SHA-256 of the (unchanged) manifest.
    pub manifest_sha256: String,
    /// The key that signed now.
    pub key_id: String,
    /// It, as the policy names it (`name (key ID)`, or `key ID`).
    pub signer: String,
    /// The trusted comment of the new signature.
    pub trusted_comment: String,
    /// Every signature the bundle now carries.
    pub signed_by: Vec<String>,
    /// Where the approvals stand under the policy (when it says who
    /// approves): each signer judged, and what is still needed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approvals: Option<Approvals>,
    /// Whether the approval was added although the policy does not count
    /// it (`force`).
    pub forced: bool,
    /// Why the policy refuses the bundle whatever its approvals (its age
    /// limits, a time from the future), as `verify` and `import` would
    /// judge it now; `None` when it does not (or no policy file was
    /// given). `approvals.satisfied` counts approvals alone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy_refuses: Option<String>,
}

struct Copier<'a, W: std::io::Write> {
    key: &'a SecretKey,
    /// When the approval is made (seconds since the epoch).
    at: u64,
    options: &'a SignOptions<'a>,
    policy: &'a TrustPolicy,
    out: Option<W>,
    writer: Option<BundleWriter<W>>,
    trusted_comment: String,
    signed_by: Vec<String>,
    approvals: Option<Approvals>,
    policy_refuses: Option<String>,
}

impl<W: std::io::Write> Copier<'_, W> {
    /// Where the approvals stand with `sigs` (when the policy says who
    /// approves); refuses if the new signature would not count, unless
    /// forced.
    fn judge(
        &self,
        manifest: &[u8],
        sigs: &[crate::keys::Signature],
    ) -> Result<Option<Approvals>, SignError> {
        if !self.options.judge {
            return Ok(None);
        }
        let approvals = self
            .policy
            .approvals(manifest, sigs)
            .map_err(|e| SignError::Bundle(BundleError::Policy(e)))?;
        let id = self.key.key_id().to_string();
        let counted = approvals
            .signers
            .iter()
            .any(|r| r.key_id == id && r.counted);
        if !counted
            && !self.options.force
            && self.policy.standing(&self.key.public_key()) == Standing::Counts
        {
            return Err(SignError::NotCounted {
                who: self.policy.label(self.key.key_id()),
                why: Uncounted::SameKeySigned,
            });
        }
        Ok(Some(approvals))
    }
}

impl<W: std::io::Write> PayloadVisitor for Copier<'_, W> {
    type Error = SignError;

    fn start(&mut self, bundle: &Verified) -> Result<(), SignError> {
        if bundle
            .signatures
            .iter()
            .any(|s| s.key_id() == self.key.key_id())
        {
            return Err(SignError::AlreadySigned(
                self.policy.label(self.key.key_id()),
            ));
        }
        let created = bundle.manifest.created.at().unix_timestamp().max(0) as u64;
        let who = signer(self.key, self.options);
        if bundle.signatures.len() >= MAX_SIGNATURES {
            return Err(SignError::Full);
        }
        let at = self.at;
        let sig = sign_manifest(
            self.key,
            &bundle.manifest_bytes,
            Statement::Approval { at },
            who,
        )?;
        let trusted = sig.trusted_comment().to_string();
        let mut sigs = bundle.signatures.clone();
        sigs.push(sig);
        self.approvals = self.judge(&bundle.manifest_bytes, &sigs)?;
        if self.options.judge {
            self.policy_refuses = age_refusal(&bundle.manifest, self.policy);
        }
        self.signed_by = {
            let mut ids: Vec<String> = sigs.iter().map(|s| s.key_id().to_string()).collect();
            ids.sort();
            ids
        };
        self.trusted_comment = trusted;
        let out = self.out.take().expect("start runs once");
        self.writer = Some(BundleWriter::new(
            out,
            &bundle.manifest_bytes,
            &sigs,
            bundle.manifest.payloads.clone(),
            created,
        )?);
        Ok(())
    }

    fn payload(
        &mut self,
        payload: &Payload,
        data: &mut PayloadReader<'_>,
    ) -> Result<(), SignError> {
        let w = self.writer.as_mut().expect("start ran");
        w.append(&payload.path, data)?;
        crate::fault::point("sign: payload copied");
        Ok(())
    }
}

/// Whether `policy` would count an approval by `key`: `Ok(false)` when it
/// would not but `force` says to sign anyway. A key whose id the policy
/// gives to another key is refused even then (its signature would make
/// the bundle fail verification). What `sign` checks first; a caller may
/// check earlier, before the passphrase, with an unencrypted key's own
/// public half, never with a `.pub` file beside an encrypted key (only its
/// holder's word, maybe stale: a refusal must name the key that signs).
pub fn check_approver(
    policy: &TrustPolicy,
    key: &PublicKey,
    force: bool,
) -> Result<bool, SignError> {
    let why = match policy.standing(key) {
        Standing::Counts => return Ok(true),
        Standing::NotListed => Uncounted::NotListed,
        Standing::Revoked { revoked_as } => Uncounted::Revoked(revoked_as),
        Standing::IdTaken { listed_as } => Uncounted::IdTaken(listed_as),
    };
    if force && !matches!(why, Uncounted::IdTaken(_)) {
        return Ok(false);
    }
    Err(SignError::NotCounted {
        who: policy.label(key.key_id()),
        why,
    })
}

/// Refuses a signer comment (`--comment`, else the key's own) that the
/// trusted comment of an approval made at `at` (seconds since the epoch)
/// has no room for: what `sign` checks before opening the bundle; a caller
/// may check `--comment` earlier, before unlocking the key.
pub fn check_signer(who: &str, at: u64) -> Result<(), SignError> {
    if who.chars().any(|c| c == '\t' || crate::text::is_unsafe(c)) {
        return Err(SignError::Key(KeyError::BadSigner(
            crate::text::escape(who).into_owned(),
        )));
    }
    let room = Statement::Approval { at }.signer_room();
    if who.len() > room {
        return Err(SignError::CommentTooLong {
            len: who.len(),
            max: room,
        });
    }
    Ok(())
}

/// Refuses early a bundle that carries [`MAX_SIGNATURES`] signatures
/// already, reading only its start (nothing verified: the pass over the
/// bundle checks again). A bundle that cannot be read is not refused
/// here: that pass says why. What a caller checks before unlocking a key.
pub fn check_room(given: &Path) -> Result<(), SignError> {
    let Ok(file) = File::open(given) else {
        return Ok(());
    };
    match reader::read_header(BufReader::new(file)) {
        Ok(h) if h.signatures.len() >= MAX_SIGNATURES => Err(SignError::Full),
        _ => Ok(()),
    }
}

/// Adds `key`'s signature to the bundle at `given` (see the module docs),
/// the key's own comment as `signer:`, judging nothing: see
/// [`sign_with`].
pub fn sign(
    given: &Path,
    policy: &TrustPolicy,
    key: &SecretKey,
    comment: &str,
) -> Result<SignReport, SignError> {
    let options = SignOptions {
        comment,
        judge: false,
        force: false,
        progress: &crate::progress::NoProgress,
    };
    sign_with(given, policy, key, &options)
}

/// Adds `key`'s signature to the bundle at `given` (see the module docs).
/// With `options.judge`, an approval the policy would not count is refused
/// before anything is written (unless `options.force`), and the report
/// says where the approvals stand.
pub fn sign_with(
    given: &Path,
    policy: &TrustPolicy,
    key: &SecretKey,
    options: &SignOptions<'_>,
) -> Result<SignReport, SignError> {
    use std::os::unix::fs::MetadataExt as _;
    if options.judge {
        check_approver(policy, &key.public_key(), options.force)?;
    }
    let at = time::OffsetDateTime::now_utc().unix_timestamp().max(0) as u64;
    check_signer(signer(key, options), at)?;
    let (path, original, meta) = open_locked(given)?;
    let path = path.as_path();
    let io = |what: &'static str| PathIo::at(what, path);
    let mode = meta.mode() & 0o7777;
    // Registered and locked: a signal, or the next export into this
    // directory after a crash, removes it (see crate::cleanup).
    let tmp = AtomicFile::create(path, SIGN_TEMP_PREFIX, SIGN_TEMP_SUFFIX, mode)
        .map_err(io("cannot create a temporary file beside"))?;
    crate::fault::point("sign: temporary file created");
    let out = BufWriter::with_capacity(
        1 << 20,
        tmp.as_file()
            .try_clone()
            .map_err(io("cannot write beside"))?,
    );
    options.progress.begin("sign", meta.len());
    let copied = copy_signed(original, out, path, policy, (key, at), options);
    options.progress.end();
    let (verified, copier) = copied?;
    replace(tmp, path, &meta)?;
    let id = key.key_id().to_string();
    // Judged, and not counted: signed because forced.
    let forced = copier
        .approvals
        .as_ref()
        .is_some_and(|a| !a.signers.iter().any(|r| r.key_id == id && r.counted));
    Ok(SignReport {
        bundle: path.to_path_buf(),
        manifest_sha256: verified.manifest_sha256.hex(),
        key_id: key.key_id().to_string(),
        signer: policy.label(key.key_id()),
        trusted_comment: copier.trusted_comment,
        signed_by: copier.signed_by,
        approvals: copier.approvals,
        forced,
        policy_refuses: copier.policy_refuses,
    })
}

/// Why `policy` refuses the bundle of manifest `m` now whatever its
/// approvals: the one judgement of `verify`, `import` and `inspect`
/// ([`crate::freshness::judge`]: the clock skew, then the policy's
/// `max_age` and `max_db_age`), so that `sign` never calls a policy
/// satisfied that `verify` refuses.
fn age_refusal(m: &crate::manifest::Manifest, policy: &TrustPolicy) -> Option<String> {
    let now = time::OffsetDateTime::now_utc();
    crate::freshness::judge(m, policy, now)
        .err()
        .map(|e| e.to_string())
}

/// Who signs, as the trusted comment will say: `--comment`, else the
/// key's own comment.
fn signer<'a>(key: &'a SecretKey, options: &'a SignOptions<'_>) -> &'a str {
    if options.comment.is_empty() {
        key.comment()
    } else {
        options.comment
    }
}

/// What the copy learnt: the new signature's trusted comment, every
/// signer's key id, where the approvals stand.
struct Copied {
    trusted_comment: String,
    signed_by: Vec<String>,
    approvals: Option<Approvals>,
    policy_refuses: Option<String>,
}

/// The bundle behind `given` (links resolved: renaming over a link would
/// replace the link), open and locked against another `sign`, with its
/// metadata.
/// The file `sign` really replaces when given `given`: the file a link
/// names (renaming over a link would replace the link), whose folder gets
/// the temporary copy. Cheap checks of where sign writes look there.
///
/// # Errors
/// `given` cannot be resolved (missing, a dangling link, a loop).
pub fn signed_file(given: &Path) -> std::io::Result<PathBuf> {
    std::fs::canonicalize(given)
}

/// The name of sign's temporary copy: `<prefix>XXXXXX<suffix>` (one of
/// [`crate::cleanup::LEFTOVERS`]).
const SIGN_TEMP_PREFIX: &str = ".airlock-sign-";
const SIGN_TEMP_SUFFIX: &str = ".partial";

/// Removes the temporary copies that killed `sign` runs left beside the
/// file `sign` replaces (a live run's, whose lock is held, stay; see
/// [`crate::cleanup`]): what `sign` does before it starts, as export, split
/// and join sweep their own kinds.
pub fn sweep_leftovers(given: &Path) -> Vec<crate::cleanup::Swept> {
    let real = signed_file(given).unwrap_or_else(|_| given.to_path_buf());
    let dir = crate::fsio::atomic::parent_dir(&real);
    crate::cleanup::sweep_kind(&dir, SIGN_TEMP_PREFIX, SIGN_TEMP_SUFFIX)
}

fn open_locked(given: &Path) -> Result<(PathBuf, File, std::fs::Metadata), SignError> {
    let real = signed_file(given).map_err(PathIo::at("cannot open", given))?;
    let io = |what: &'static str| PathIo::at(what, &real);
    let original = File::open(&real).map_err(io("cannot open"))?;
    // One `sign` at a time per bundle: two would each replace the file and
    // one signature would be lost.
    if !matches!(crate::fsio::lock::try_lock_exclusive(&original), Ok(true)) {
        return Err(SignError::Busy(real));
    }
    let meta = original.metadata().map_err(io("cannot examine"))?;
    Ok((real, original, meta))
}

/// Reads `original` through the verifying reader (the bundle must already
/// carry a valid signature by a trusted key: the threshold is what the
/// approvals being added are for) and writes it, with `key`'s approval
/// added, to `out`.
fn copy_signed<W: std::io::Write>(
    original: File,
    out: BufWriter<W>,
    path: &Path,
    policy: &TrustPolicy,
    (key, at): (&SecretKey, u64),
    options: &SignOptions<'_>,
) -> Result<(Verified, Copied), SignError> {
    let mut copier = Copier {
        key,
        at,
        options,
        policy,
        out: Some(out),
        writer: None,
        trusted_comment: String::new(),
        signed_by: Vec::new(),
        approvals: None,
        policy_refuses: None,
    };
    let input = ProgressReader::new(original, options.progress);
    let verified = match reader::read(
        BufReader::with_capacity(1 << 20, input),
        &policy.any_trusted(),
        &mut copier,
    ) {
        Ok(v) => v,
        Err(ReadError::Bundle(e)) => return Err(SignError::Bundle(e)),
        Err(ReadError::Visitor(e)) => return Err(e),
    };
    let Copier {
        writer,
        trusted_comment,
        signed_by,
        approvals,
        policy_refuses,
        ..
    } = copier;
    let mut out = writer
        .expect("a verified bundle started the copy")
        .finish()?;
    out.flush()
        .map_err(PathIo::at("cannot write beside", path))?;
    Ok((
        verified,
        Copied {
            trusted_comment,
            signed_by,
            approvals,
            policy_refuses,
        },
    ))
}

/// Gives the copy the original's owner (best effort) and renames it over
/// `path`, unless `path` no longer names the file read.
fn replace(mut tmp: AtomicFile, path: &Path, meta: &std::fs::Metadata) -> Result<(), SignError> {
    use std::os::unix::fs::MetadataExt as _;
    let io = |what: &'static str| PathIo::at(what, path);
    // Keep the owner and group too (best effort: only root may give a file away).
    let _ = std::os::unix::fs::fchown(tmp.as_file(), Some(meta.uid()), Some(meta.gid()));
    let _ = std::os::unix::fs::fchown(tmp.as_file(), None, Some(meta.gid()));
    // Refuse if the path no longer names the file that was read.
    let now = std::fs::symlink_metadata(path).map_err(io("cannot examine"))?;
    if now.dev() != meta.dev() || now.ino() != meta.ino() {
        return Err(SignError::Busy(path.to_path_buf()));
    }
    tmp.sync().map_err(io("cannot flush"))?;
    crate::fault::point("sign: copy flushed");
    tmp.commit(Replace::Overwrite)
        .map_err(|e| PathIo::new("cannot replace", path, e.into_io()))?;
    crate::fault::point("sign: replaced");
    Ok(())
}

#[cfg(test)]
mod tests;
