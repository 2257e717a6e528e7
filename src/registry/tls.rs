//! TLS for registries, token services and VEX servers: rustls with the
//! Mozilla roots, the system store and any `--ca-cert` files, checked
//! by the WebPKI verifier for every host except those named by
//! `--insecure-skip-verify` (issue 17, item 5: one switch used to turn off
//! verification for every registry, realm, redirect target and VEX server
//! at once).
//!
//! # Security
//!
//! The skip list is compared with the name the connection was opened for
//! (the SNI name, the host of the URL): a certificate names a host, not a
//! port, so a named host is accepted unverified on every port. Every other
//! name, a token realm or a redirect target included, is verified as usual.
//! Even for a named host, the handshake signature is checked against the
//! certificate presented (the server must hold its key).
//!
//! # The system store
//!
//! As OpenSSL finds it (rustls-native-certs): `SSL_CERT_FILE` and
//! `SSL_CERT_DIR` (directories separated by `:`, every file in them read,
//! hashed names or not) when either is set, and then nothing else; else the
//! distribution's bundle or directory wherever it lives (Debian's
//! `/etc/ssl/certs/ca-certificates.crt`, RHEL's
//! `/etc/pki/tls/certs/ca-bundle.crt`, SUSE's `/etc/ssl/ca-bundle.pem`,
//! Alpine's `/etc/ssl/cert.pem`, ...). A store that cannot be read, or a
//! file in it that is not PEM, adds nothing and is not an error (as before:
//! the Mozilla roots and `--ca-cert` still apply); a `--ca-cert` file that
//! cannot be read, or holds no certificate, is.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};

use super::hosts::HostList;
use super::RegistryError;

/// Verifies server certificates with WebPKI, except for the names in
/// `skip`, whose certificates are accepted as they are.
#[derive(Debug)]
pub struct PerHostVerifier {
    inner: Arc<WebPkiServerVerifier>,
    skip: HostList,
}

impl PerHostVerifier {
    fn skips(&self, name: &ServerName<'_>) -> bool {
        match name {
            ServerName::DnsName(d) => self.skip.matches_name(d.as_ref()),
            ServerName::IpAddress(ip) => self
                .skip
                .matches_name(&std::net::IpAddr::from(*ip).to_string()),
            _ => false,
        }
    }
}

impl ServerCertVerifier for PerHostVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if self.skips(server_name) {
            return Ok(ServerCertVerified::assertion());
        }
        self.inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

fn add_pem_file(roots: &mut rustls::RootCertStore, path: &Path) -> Result<(), RegistryError> {
    use rustls::pki_types::pem::PemObject as _;
    use std::io::Read as _;
    let tls = |reason: String| RegistryError::Tls {
        path: path.to_path_buf(),
        reason,
    };
    // Opened as given (a pipe from the shell is a fine --ca-cert), but
    // never read past the limit (`--ca-cert /dev/zero`).
    let file = std::fs::File::open(path).map_err(|e| tls(e.to_string()))?;
    let mut bytes = Vec::new();
    file.take(MAX_PEM_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| tls(e.to_string()))?;
    if bytes.len() as u64 > MAX_PEM_FILE {
        return Err(tls(format!("larger than {MAX_PEM_FILE} bytes")));
    }
    let mut added = 0;
    for cert in CertificateDer::pem_slice_iter(&bytes) {
        let cert = cert.map_err(|e| tls(pem_reason(e)))?;
        if roots.add(cert).is_ok() {
            added += 1;
        }
    }
    if added == 0 {
        return Err(tls("no PEM certificate in it".into()));
    }
    Ok(())
}

/// The most a PEM file (a `--ca-cert`, a file of the system store) may
/// hold; a distribution's whole bundle is well under 1 MiB.
const MAX_PEM_FILE: u64 = 16 << 20;

/// The most files read from the `SSL_CERT_DIR` directories together.
const MAX_STORE_FILES: usize = 10_000;

/// A PEM error in words (an I/O error as the OS says it).
fn pem_reason(e: rustls::pki_types::pem::Error) -> String {
    match e {
        rustls::pki_types::pem::Error::Io(io) => io.to_string(),
        other => other.to_string(),
    }
}

/// The system store's certificates ([module docs](self)); unreadable
/// parts are left out. When `SSL_CERT_FILE` or `SSL_CERT_DIR` names the
/// store, it is read here, not by rustls-native-certs, which would wait on
/// a FIFO and read a device or a huge file without end: each file must be
/// a regular file of at most [`MAX_PEM_FILE`] bytes, opened without
/// waiting, and at most [`MAX_STORE_FILES`] are read.
fn add_system_roots(roots: &mut rustls::RootCertStore) {
    use rustls::pki_types::pem::PemObject as _;
    let var = |v: &str| std::env::var_os(v).filter(|x| !x.is_empty());
    let file = var("SSL_CERT_FILE").map(PathBuf::from);
    let dirs: Vec<PathBuf> = var("SSL_CERT_DIR")
        .map(|d| std::env::split_paths(&d).collect())
        .unwrap_or_default();
    if file.is_none() && dirs.is_empty() {
        roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        return;
    }
    let mut files: Vec<PathBuf> = file.into_iter().collect();
    for d in &dirs {
        if let Ok(entries) = std::fs::read_dir(d) {
            let room = MAX_STORE_FILES.saturating_sub(files.len());
            files.extend(entries.flatten().take(room).map(|e| e.path()));
        }
    }
    for f in files.iter().take(MAX_STORE_FILES) {
        if let Ok(bytes) = crate::fsio::bounded::read_regular(f, MAX_PEM_FILE) {
            roots.add_parsable_certificates(CertificateDer::pem_slice_iter(&bytes).flatten());
        }
    }
}

/// The client configuration: the roots, `ca_certs`, and certificates
/// accepted unverified for the names in `skip` only.
pub fn client_config(
    ca_certs: &[PathBuf],
    skip: &HostList,
) -> Result<rustls::ClientConfig, RegistryError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    add_system_roots(&mut roots);
    for ca in ca_certs {
        add_pem_file(&mut roots, ca)?;
    }
    let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| RegistryError::Tls {
            path: ca_certs.first().cloned().unwrap_or_default(),
            reason: e.to_string(),
        })?;
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions");
    Ok(builder
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(PerHostVerifier {
            inner,
            skip: skip.clone(),
        }))
        .with_no_client_auth())
}

/// How a TLS attempt failed, as far as the fallback to plain http cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsFailure {
    /// The server answered the handshake with something that is not TLS
    /// (a plain-http server's "HTTP/1.1 400"): the only case in which
    /// plain http may be tried.
    NotTls,
    /// The certificate (or another part of the handshake) was refused: the
    /// server speaks TLS, and plain http must not be tried.
    Refused,
}

/// What `err` says about TLS, if it is a TLS failure at all (a refused
/// connection or a timeout is not).
pub fn classify(err: &ureq::Transport) -> Option<TlsFailure> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(err);
    while let Some(e) = source {
        if let Some(t) = e.downcast_ref::<rustls::Error>() {
            return Some(match t {
                rustls::Error::InvalidMessage(_) => TlsFailure::NotTls,
                _ => TlsFailure::Refused,
            });
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if let Some(inner) = io.get_ref() {
                source = Some(inner);
                continue;
            }
        }
        source = e.source();
    }
    None
}
