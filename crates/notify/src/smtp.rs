//! The e-mail channel's connection to its SMTP server: the URL read when the configuration is
//! loaded, the lettre transport built at the first connection.
//!
//! The transport is built lazily because a TLS transport needs trust anchors: lettre's own
//! `from_url` would read the system's certificate store when the configuration is loaded, a second
//! time besides [`procurize_core::tls`]'s copy. Here the TLS parameters are made from that one
//! shared copy, and only when a message is sent or the server checked.

use std::sync::OnceLock;
use std::time::Duration;

use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, CertificateStore, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, Tokio1Executor};

/// How the connection is secured, from the URL's scheme and its `tls` parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Security {
    /// `smtp://host`: no TLS (a local relay).
    None,
    /// `smtp://host?tls=required`: STARTTLS, refused if the server does not offer it.
    StartTlsRequired,
    /// `smtp://host?tls=opportunistic`: STARTTLS when the server offers it.
    StartTlsOpportunistic,
    /// `smtps://host`: TLS from the first byte.
    Wrapper,
}

/// An SMTP server as configured: `smtp://host[:port][?tls=required|opportunistic]` or
/// `smtps://host[:port]`, with the ports lettre defaults to (25, 587 for STARTTLS, 465).
pub(crate) struct SmtpServer {
    host: String,
    port: u16,
    security: Security,
    timeout: Duration,
    credentials: Option<Credentials>,
    transport: OnceLock<AsyncSmtpTransport<Tokio1Executor>>,
}

impl SmtpServer {
    /// Reads the URL; an error names what is wrong with it. Nothing is connected or loaded.
    pub(crate) fn parse(
        url: &str,
        timeout: Duration,
        credentials: Option<Credentials>,
    ) -> Result<Self, String> {
        let parsed = url::Url::parse(url).map_err(|e| format!("not a URL: {e}"))?;
        let host = parsed
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or("names no host")?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(
                "holds credentials; give `username` and `password_env` or `password_file`".into(),
            );
        }
        let tls = parsed
            .query_pairs()
            .find(|(key, _)| key == "tls")
            .map(|(_, value)| value.into_owned());
        let (security, default_port) = match (parsed.scheme(), tls.as_deref()) {
            ("smtp", None) => (Security::None, 25),
            ("smtp", Some("required")) => (Security::StartTlsRequired, 587),
            ("smtp", Some("opportunistic")) => (Security::StartTlsOpportunistic, 587),
            ("smtps", None) => (Security::Wrapper, 465),
            ("smtp" | "smtps", Some(other)) => {
                return Err(format!(
                    "`tls={other}` is not one of `required` or `opportunistic` (and smtps:// takes none)"
                ));
            }
            (scheme, _) => {
                return Err(format!("scheme `{scheme}` is not smtp:// or smtps://"));
            }
        };
        Ok(Self {
            host,
            port: parsed.port().unwrap_or(default_port),
            security,
            timeout,
            credentials,
            transport: OnceLock::new(),
        })
    }

    /// The transport, built at the first call (loading the system's trust anchors, once per
    /// process, if the connection uses TLS).
    pub(crate) fn transport(&self) -> Result<&AsyncSmtpTransport<Tokio1Executor>, String> {
        if let Some(transport) = self.transport.get() {
            return Ok(transport);
        }
        let built = self.build()?;
        Ok(self.transport.get_or_init(|| built))
    }

    fn build(&self) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&self.host)
            .port(self.port)
            .timeout(Some(self.timeout));
        builder = match self.security {
            Security::None => builder.tls(Tls::None),
            Security::StartTlsRequired => builder.tls(Tls::Required(self.tls_parameters()?)),
            Security::StartTlsOpportunistic => {
                builder.tls(Tls::Opportunistic(self.tls_parameters()?))
            }
            Security::Wrapper => builder.tls(Tls::Wrapper(self.tls_parameters()?)),
        };
        if let Some(credentials) = &self.credentials {
            builder = builder.credentials(credentials.clone());
        }
        Ok(builder.build())
    }

    /// rustls parameters trusting the system's roots, as loaded by [`procurize_core::tls`].
    fn tls_parameters(&self) -> Result<TlsParameters, String> {
        let roots = procurize_core::tls::system_certificates();
        let mut builder =
            TlsParameters::builder(self.host.clone()).certificate_store(CertificateStore::None);
        for root in roots.iter() {
            let certificate = Certificate::from_der(root.to_vec())
                .map_err(|e| format!("a system root certificate is unusable: {e}"))?;
            builder = builder.add_root_certificate(certificate);
        }
        builder
            .build_rustls()
            .map_err(|e| format!("cannot set up TLS: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(url: &str) -> Result<SmtpServer, String> {
        SmtpServer::parse(url, Duration::from_secs(1), None)
    }

    #[test]
    fn urls_give_lettres_ports_and_security() {
        for (url, port, security) in [
            ("smtp://relay.local", 25, Security::None),
            ("smtp://relay.local:2525", 2525, Security::None),
            (
                "smtp://mail.example.com?tls=required",
                587,
                Security::StartTlsRequired,
            ),
            (
                "smtp://mail.example.com?tls=opportunistic",
                587,
                Security::StartTlsOpportunistic,
            ),
            ("smtps://mail.example.com", 465, Security::Wrapper),
            ("smtps://[::1]:4650", 4650, Security::Wrapper),
        ] {
            let server = parse(url).expect(url);
            assert_eq!((server.port, server.security), (port, security), "{url}");
        }
        assert_eq!(parse("smtps://[::1]:4650").expect("v6").host, "::1");
    }

    #[test]
    fn bad_urls_say_what_is_wrong() {
        for (url, expected) in [
            ("mail.example.com", "not a URL"),
            ("http://mail.example.com", "scheme `http`"),
            ("smtp://mail.example.com?tls=always", "`tls=always`"),
            (
                "smtps://mail.example.com?tls=required",
                "smtps:// takes none",
            ),
            ("smtp://user:secret@mail.example.com", "holds credentials"),
        ] {
            let err = parse(url).err().unwrap_or_else(|| panic!("{url} accepted"));
            assert!(err.contains(expected), "{url}: {err}");
            assert!(!err.contains("secret"), "{url}: {err}");
        }
    }

    #[test]
    fn a_plain_relay_is_built_without_trust_anchors() {
        let server = parse("smtp://127.0.0.1:2525").expect("url");
        server.transport().expect("transport");
        assert!(server.transport.get().is_some());
    }
}
