//! airlock's integration tests: one binary, a temporary directory per test,
//! the real airlock binary, and the real reference tools (Trivy 0.76,
//! minisign, signify, GNU tar, a static HTTP server).

mod support;

mod approvals;
mod bench_script;
mod cheap_checks;
mod conformance;
mod corpus;
mod crash;
mod credential_helpers;
mod e2e;
mod exit_classes;
mod export_passes;
mod export_refusals;
mod guidance;
mod guidance_fixes;
mod history;
mod history_repairs;
mod hostile_archives;
mod hostile_auth;
mod hostile_databases;
mod hostile_manifest;
mod hostile_network;
mod hostile_policy;
mod hostile_push;
mod hostile_vex;
mod import_refusals;
mod import_transaction;
mod interop;
mod interrupted;
mod interrupts;
mod interrupts_ops;
mod key_unlock;
mod network_conventions;
mod parts;
mod push;
mod refactor_review;
mod registry_export;
mod review_approvals;
mod review_history;
mod review_network;
mod review_ops;
mod review_spec;
mod second_reader;
mod sign;
mod sign_output;
mod small_things;
mod staleness;
mod transaction_review;
mod trust;
mod tty_echo;
mod vectors;
mod vex_auth;
mod walkthrough;
