//! What import produces: Trivy's cache tree ([`trivy_cache`]) and a static
//! VEX repository directory ([`vex_repo`]). These modules know the layouts
//! and the small files Trivy reads; staging and swapping are `install`'s job.

pub mod oci_repos;
pub mod scan;
pub mod trivy_cache;
pub mod trivy_config;
pub mod vex_repo;
