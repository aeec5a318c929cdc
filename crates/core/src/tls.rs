//! The workspace's one TLS configuration: rustls with ring, for every HTTP client and connector.
//!
//! Two promises, kept here and nowhere else:
//!
//! - **rustls, always.** Every client of the workspace (the API client, the Jira and Slack
//!   connectors, the e-mail channel, the simulator's webhook sender) is built from
//!   [`client_config`], [`reqwest_builder`] or [`system_certificates`]. reqwest is built without a
//!   TLS backend of its own choosing (no native-tls, so no OpenSSL in the binary) and
//!   [`reqwest_builder`] hands it a finished rustls configuration. A clippy lint
//!   (`disallowed-methods` in `clippy.toml`) rejects `reqwest::Client::new`/`builder` anywhere
//!   else; `.ci/run` fails if `openssl-sys` or `native-tls` comes back into the tree.
//! - **Trust anchors are loaded lazily and once.** Nothing is read when a client is built. The
//!   first certificate that needs checking is checked against the extra CA certificates (such as
//!   `--ca-cert`) first; only when they do not know its issuer are the system's roots loaded
//!   (`SSL_CERT_FILE`, `SSL_CERT_DIR`, or the platform's store), once per process, and shared by
//!   every client. A command that talks plain `http://` reads no certificate at all
//!   (`tests/tls.rs` checks both with strace).

use std::fmt;
use std::sync::{Arc, OnceLock};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, OtherError, RootCertStore, SignatureScheme};

use crate::Error;

/// The process's crypto provider: ring.
fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| Arc::new(rustls::crypto::ring::default_provider()))
        .clone()
}

/// The system's trust anchors, loaded at the first use in this process; an error says why there
/// are none.
fn system_verifier() -> Result<Arc<WebPkiServerVerifier>, String> {
    static SYSTEM: OnceLock<Result<Arc<WebPkiServerVerifier>, String>> = OnceLock::new();
    SYSTEM
        .get_or_init(|| {
            let mut roots = RootCertStore::empty();
            let (added, ignored) =
                roots.add_parsable_certificates(system_certificates().iter().cloned());
            tracing::debug!(added, ignored, "loaded the system's root certificates");
            verifier_for(Arc::new(roots)).map_err(|e| {
                format!(
                    "no usable root certificates on this system ({e}); set SSL_CERT_FILE or pass the CA with --ca-cert"
                )
            })
        })
        .clone()
}

/// The system's root certificates (DER), read at the first call in this process and shared
/// afterwards: by every client of this module, and by connectors that keep a root store of their
/// own (the e-mail channel).
pub fn system_certificates() -> Arc<[CertificateDer<'static>]> {
    static ROOTS: OnceLock<Arc<[CertificateDer<'static>]>> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let found = rustls_native_certs::load_native_certs();
            for error in &found.errors {
                tracing::debug!(%error, "a system certificate could not be read");
            }
            found.certs.into()
        })
        .clone()
}

fn verifier_for(roots: Arc<RootCertStore>) -> Result<Arc<WebPkiServerVerifier>, String> {
    WebPkiServerVerifier::builder_with_provider(roots, provider())
        .build()
        .map_err(|e| e.to_string())
}

/// Certificates in PEM form that are trusted besides the system's roots (for example a corporate
/// proxy's CA).
#[derive(Clone, Default)]
pub struct ExtraRoots {
    certificates: Vec<CertificateDer<'static>>,
}

impl fmt::Debug for ExtraRoots {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ExtraRoots({} certificates)", self.certificates.len())
    }
}

impl ExtraRoots {
    /// No extra certificates: the system's roots alone.
    pub fn none() -> Self {
        Self::default()
    }

    /// Adds every certificate of a PEM bundle; an error names what is wrong with it.
    pub fn add_pem(&mut self, pem: &[u8]) -> Result<(), Error> {
        use rustls::pki_types::pem::PemObject as _;
        let mut added = 0;
        for certificate in CertificateDer::pem_slice_iter(pem) {
            let certificate = certificate
                .map_err(|e| Error::Config(format!("CA certificate is not valid PEM: {e}")))?;
            self.certificates.push(certificate);
            added += 1;
        }
        if added == 0 {
            return Err(Error::Config(
                "CA certificate file holds no certificate".into(),
            ));
        }
        Ok(())
    }

    /// Whether there are no extra certificates.
    pub fn is_empty(&self) -> bool {
        self.certificates.is_empty()
    }
}

/// A rustls client configuration (ring, TLS 1.2 and 1.3) trusting `extra` and, when those do not
/// vouch for a server, the system's roots. No ALPN protocol is set: callers that speak HTTP/2
/// set `alpn_protocols` themselves.
pub fn client_config(extra: &ExtraRoots) -> Result<rustls::ClientConfig, Error> {
    let extra = if extra.is_empty() {
        None
    } else {
        let mut store = RootCertStore::empty();
        for certificate in &extra.certificates {
            store.add(certificate.clone()).map_err(|e| {
                Error::Config(format!(
                    "CA certificate cannot be used as a trust anchor: {e}"
                ))
            })?;
        }
        Some(verifier_for(Arc::new(store)).map_err(Error::Config)?)
    };
    with_verifier(LazyVerifier {
        extra,
        algorithms: provider().signature_verification_algorithms,
        check_certificate: true,
    })
}

/// A rustls client configuration that encrypts but does not check the server's certificate
/// (the handshake's signatures still are): PostgreSQL's `sslmode=require`, which protects
/// against listening and not against an active attacker. Only for a setting that says so.
pub fn client_config_unverified() -> Result<rustls::ClientConfig, Error> {
    with_verifier(LazyVerifier {
        extra: None,
        algorithms: provider().signature_verification_algorithms,
        check_certificate: false,
    })
}

fn with_verifier(verifier: LazyVerifier) -> Result<rustls::ClientConfig, Error> {
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Config(format!("cannot set up TLS: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Ok(config)
}

/// A reqwest client builder on rustls (see the module's docs), with the workspace's
/// `User-Agent`. The only place a reqwest client is started from.
#[allow(clippy::disallowed_methods)]
pub fn reqwest_builder(extra: &ExtraRoots) -> Result<reqwest::ClientBuilder, Error> {
    Ok(reqwest::Client::builder()
        .user_agent(crate::USER_AGENT)
        .use_preconfigured_tls(client_config(extra)?))
}

/// A reqwest client with the workspace's defaults: rustls, the system's roots on first need,
/// the workspace's `User-Agent`.
pub fn reqwest_client() -> Result<reqwest::Client, Error> {
    reqwest_builder(&ExtraRoots::none())?
        .build()
        .map_err(|e| Error::Config(format!("cannot set up HTTP: {}", crate::error_chain(&e))))
}

/// Checks a server's certificate against the extra roots, then (loaded on first need) the
/// system's. Signatures of the handshake need no roots and are checked with the provider's
/// algorithms.
#[derive(Debug)]
struct LazyVerifier {
    extra: Option<Arc<WebPkiServerVerifier>>,
    algorithms: WebPkiSupportedAlgorithms,
    /// False only for [`client_config_unverified`].
    check_certificate: bool,
}

impl ServerCertVerifier for LazyVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if !self.check_certificate {
            return Ok(ServerCertVerified::assertion());
        }
        let check = |verifier: &WebPkiServerVerifier| {
            verifier.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        };
        let extra_error = match &self.extra {
            Some(extra) => match check(extra) {
                Ok(verified) => return Ok(verified),
                // The extra roots vouch for the chain but not for the rest (name, dates, usage):
                // the system's roots would not change that.
                Err(error)
                    if !matches!(
                        error,
                        rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)
                    ) =>
                {
                    return Err(error);
                }
                Err(error) => Some(error),
            },
            None => None,
        };
        let system = system_verifier().map_err(|reason| {
            rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(
                NoRoots(reason),
            ))))
        });
        match (system.and_then(|system| check(&system)), extra_error) {
            (Ok(verified), _) => Ok(verified),
            // The system does not know the issuer: the extra roots' reason is the telling one.
            (
                Err(rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)),
                Some(extra),
            ) => Err(extra),
            (Err(error), _) => Err(error),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// Why no system root could be used.
#[derive(Debug)]
struct NoRoots(String);

impl fmt::Display for NoRoots {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NoRoots {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bundle_without_certificates_or_with_garbage_is_named() {
        let mut roots = ExtraRoots::none();
        let err = roots.add_pem(b"not a certificate").expect_err("empty");
        assert!(err.to_string().contains("holds no certificate"), "{err}");
        let err = roots
            .add_pem(b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n")
            .expect_err("garbage");
        assert!(err.to_string().contains("not valid PEM"), "{err}");
        assert!(roots.is_empty());
    }
}
