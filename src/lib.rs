//! airlock carries Trivy's security data across an air gap.
pub mod artifact;
pub mod bundle;
pub mod digest;
pub mod export;
pub mod install;
pub mod keys;
pub mod manifest;
pub mod policy;
pub mod progress;
pub mod source;
pub mod target;
pub mod unpack;
