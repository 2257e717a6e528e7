//! airlock carries Trivy's security data across an air gap.
//!
//! On a connected host, [`export`] collects the vulnerability DB, the Java
//! DB, the checks bundle and VEX repositories ([`source`]) into one bundle
//! whose manifest ([`manifest`]) lists every byte and is signed with
//! minisign-compatible keys ([`keys`]). On the air-gapped host,
//! [`install::Import`] proves the bundle against a [`policy::TrustPolicy`]
//! before it writes anything, then builds Trivy's cache ([`layout`]) in a
//! staging area, swaps each part in atomically, and records the decision in
//! an audit log.
//!
//! Data flows one way in each direction:
//!
//! ```text
//! export:  source/ -> artifact -> bundle::writer (+ manifest, keys) -> file
//! import:  file -> media -> bundle::reader (+ policy, keys) -> install::Import
//!          (stage, swap, generation, audit, receipt) -> layout/
//! ```
//!
//! The library never prints; long work reports through [`progress::Progress`].
//! The format is specified in `bundle-spec/SPEC.md`.
//!
//! # Examples
//!
//! A whole transfer of one VEX repository, in a temporary directory:
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::io::Write as _;
//! use airlock::{export, install, keys::SecretKey, policy::TrustPolicy, progress::NoProgress};
//!
//! let dir = tempfile::tempdir()?;
//! // A VEX repository: its manifest and a tar.gz whose top folder holds index.json.
//! let manifest = dir.path().join("vex-repository.json");
//! std::fs::write(&manifest, br#"{"name":"Example","versions":[{"spec_version":"0.1",
//!     "locations":[{"url":"https://example.com/vex.tar.gz//vex"}],"update_interval":"24h"}]}"#)?;
//! let archive = dir.path().join("vex.tar.gz");
//! let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
//!     std::fs::File::create(&archive)?, flate2::Compression::default()));
//! let index = br#"{"updated_at":"2026-01-01T00:00:00Z","packages":[]}"#;
//! let mut header = tar::Header::new_gnu();
//! header.set_size(index.len() as u64);
//! header.set_mode(0o644);
//! tar.append_data(&mut header, "vex/index.json", &index[..])?;
//! tar.into_inner()?.finish()?.flush()?;
//!
//! // Connected side: sign and write the bundle.
//! let key = SecretKey::generate("example")?;
//! let plan = export::ExportPlan {
//!     sources: vec![export::SourceSpec::Vex {
//!         name: "default".into(),
//!         manifest,
//!         archive,
//!     }],
//!     labels: Default::default(),
//!     created: time::OffsetDateTime::now_utc(),
//!     output: dir.path().join("transfer.airlock"),
//!     force: false,
//!     split: None,
//!     sequence: None,
//!     network: Default::default(),
//! };
//! let report = export::export(&plan, std::slice::from_ref(&key), "example", &NoProgress)?;
//!
//! // Air-gapped side: trust the public key, import into a cache. The import
//! // is one transaction: verify, judge, stage, swap, audit.
//! let policy = TrustPolicy::any_of(vec![key.public_key()])?;
//! let cache = dir.path().join("cache");
//! std::fs::create_dir(&cache)?;
//! let bundle = airlock::media::Input::open(&report.output, Some(&policy))?;
//! let request = install::ImportRequest {
//!     bundle_name: "transfer.airlock".into(),
//!     cache_dir: Some(cache.clone()),
//!     vex_dir: None,
//!     vex_url: None,
//!     now: time::OffsetDateTime::now_utc(),
//!     allow_downgrade: false,
//!     audit_log: None, // <cache>/airlock-audit.jsonl
//!     receipt: None,
//!     generator: "example".into(),
//! };
//! let outcome = install::Import::new(&bundle, &policy, request).run(&NoProgress);
//! assert_eq!(outcome.decision, install::Decision::Accepted);
//! assert_eq!(outcome.import.as_ref().map(|i| i.vex[0].name.as_str()), Some("default"));
//! assert!(cache.join("vex/repositories/default/0.1/index.json").is_file());
//! assert!(cache.join("airlock-audit.jsonl").is_file());
//! # Ok(())
//! # }
//! ```

// renameat2 (RENAME_EXCHANGE, RENAME_NOREPLACE), /proc and flock semantics
// the import's atomicity rests on: Linux only.
#[cfg(not(target_os = "linux"))]
compile_error!("airlock runs on Linux only: import swaps with renameat2(RENAME_EXCHANGE)");

pub mod artifact;
pub mod bundle;
pub mod cleanup;
pub mod delta;
pub mod digest;
pub mod disk;
pub mod docker_ref;
pub mod error;
pub mod export;
pub mod fault;
pub mod freshness;
pub mod fsio;
pub mod install;
pub mod keys;
pub mod layout;
pub mod manifest;
pub mod media;
pub mod oci_name;
pub mod pipe;
pub mod policy;
pub mod progress;
pub mod redact;
pub mod registry;
pub mod sign;
pub mod source;
#[cfg(test)]
pub(crate) mod testing;
pub mod text;
pub mod timestamp;
pub mod unpack;
