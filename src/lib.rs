//! airlock carries Trivy's security data across an air gap.
pub mod artifact;
pub mod digest;
pub mod keys;
pub mod manifest;
pub mod unpack;
