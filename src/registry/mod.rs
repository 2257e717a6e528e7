//! A small, blocking client for the OCI distribution API: what airlock needs
//! to push artifacts into a registry (check a blob, upload a blob from a
//! stream, put a manifest), with the registry's own authentication.
//!
//! - Scheme: https, or plain http for a host named by `--plain-http`
//!   ([`Options::plain_http`]). A registry on a loopback address may fall
//!   back from https to plain http (as with Trivy), but only when the https
//!   attempt met a server that does not speak TLS at all: never after a
//!   refused certificate, never when `--ca-cert` was given, and never with
//!   credentials (issue 17, item 4).
//! - TLS: see [`tls`]; certificates are verified for every host except those
//!   named by `--insecure-skip-verify` ([`Options::skip_verify`]).
//! - Authentication: credentials are sent only in answer to a 401 challenge
//!   (the `/v2/` ping's, or a later request's), only to the registry they
//!   belong to ([`auth::resolve`]), and to a bearer challenge's token realm
//!   only as [`hosts::realm_may_receive_credentials`] allows (issue 17,
//!   item 3). Credentials never travel over plain http to a registry the
//!   operator did not name with `--plain-http`.
//! - Redirects: an https registry is never followed to plain http (its
//!   agents are https-only; an upload Location on plain http is refused
//!   unless that host is `--plain-http`). GET and HEAD follow redirects (a
//!   registry may serve a blob from its storage) without the Authorization
//!   header; a request with a body (POST, PUT, PATCH) and every request to a
//!   token service that carries credentials follow none.
//! - Time limits ([`deadline`]): an idle timeout on every read and an
//!   overall deadline from the bytes actually received; a limit that trips
//!   is final for this registry (never retried).
//! - Transient failures (connection refused or reset, 429, 502, 503, 504)
//!   of requests without a streamed body are retried with back-off, within
//!   a budget of [`deadline::RETRY_BUDGET`] retries per registry; a
//!   `Retry-After` (seconds or an HTTP date) is honoured up to
//!   [`deadline::NetLimits::max_retry_after`], and a longer one ends the
//!   attempt at once. A streamed upload is not retried (the next run finds
//!   what already arrived and skips it). A blob of the wrong size or digest
//!   is refused at once, never fetched again.
//! - Every request says `User-Agent: airlock/<version>`, and with
//!   `--debug` is recorded ([`request_log`]) without its credentials.
//! - Success is only what the distribution spec defines for each request
//!   (POST upload 202 with a Location, PUT upload and PUT manifest 201, HEAD
//!   and GET 200): any other status is an error, and a request that sends a
//!   body never follows a redirect, since a registry that answers one has
//!   not stored what was sent (and following a 301/302/303 would turn it
//!   into a GET that succeeds elsewhere).
//!
//! Files by job: this one holds the options, the error, the client and its
//! `/v2/` ping; `agents.rs` the HTTP agents and proxies; `token.rs` the
//! challenge and the credentials or token answering it; `call.rs` one
//! request from start to answer (retries, statuses); `blobs.rs` and
//! `manifests.rs` the distribution API itself.

pub mod auth;
pub mod deadline;
pub mod framing;
pub mod hosts;
pub mod limits;
pub mod request_log;
pub mod tls;

mod agents;
mod blobs;
mod call;
mod client;
mod cred_helper;
mod manifests;
mod options;
mod registry_error;
mod token;

pub use agents::http_agent;
pub use auth::Credentials;
pub use hosts::{HostList, HostPort};

pub use client::{is_loopback, redact, Client};
pub use options::{Options, VexCredentials};
pub use registry_error::RegistryError;
pub use request_log::{RequestLog, RequestRecord};

use client::{blob_time, SMALL_REQUEST};

/// `airlock/<version>`, the User-Agent of every request.
pub const USER_AGENT: &str = concat!("airlock/", env!("CARGO_PKG_VERSION"));

#[cfg(test)]
mod registry_tests;
