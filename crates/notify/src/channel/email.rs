//! The e-mail channel: a multipart (text and HTML) message to an SMTP server.

use std::time::{Duration, SystemTime};

use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncTransport, Message};
use procurize_core::SecretSource;

use super::Failure;
use crate::NotifyError;
use crate::config::EmailConfig;
use crate::event::Event;
use crate::smtp::SmtpServer;
use crate::templates::Templates;

pub(crate) struct EmailChannel {
    server: SmtpServer,
    from: Mailbox,
    to: Vec<Mailbox>,
}

/// The e-mail for `event` from `from` to `to`, dated `date`: what the e-mail channel sends and
/// what a file channel of format `email` keeps, byte for byte for the same sender, recipients
/// and time. The Message-ID (on the sender's domain) and the MIME boundary come from the event,
/// so a redelivery is recognisable and nothing in the message is random.
pub(super) fn compose(
    templates: &Templates,
    event: &Event,
    from: &Mailbox,
    to: &[Mailbox],
    date: SystemTime,
) -> Result<Message, NotifyError> {
    let subject = templates.render("email", "subject", event)?;
    let text = templates.render("email", "text", event)?;
    let html = templates.render("email", "html", event)?;
    let mut builder = Message::builder()
        .from(from.clone())
        .subject(subject.trim())
        .date(date)
        .message_id(Some(format!(
            "<{}.{}@{}>",
            event.fingerprint,
            event.kind.as_str(),
            from.email.domain()
        )));
    for to in to {
        builder = builder.to(to.clone());
    }
    // From the event, lengthened until neither part holds it (base64 parts cannot: it has a
    // `-`, which base64 does not use).
    let mut boundary = format!(
        "procurize-{}-{}",
        event.kind.as_str(),
        event.fingerprint.get(..24).unwrap_or(&event.fingerprint)
    );
    while text.contains(&boundary) || html.contains(&boundary) {
        boundary.push('x');
    }
    builder
        .multipart(
            MultiPart::alternative()
                .boundary(boundary)
                .singlepart(SinglePart::plain(text))
                .singlepart(SinglePart::html(html)),
        )
        .map_err(|e| NotifyError::Config(format!("cannot build the e-mail: {e}")))
}

impl EmailChannel {
    pub(super) fn build(
        name: &str,
        config: &EmailConfig,
        timeout: Duration,
    ) -> Result<Self, NotifyError> {
        let bad = |what: String| NotifyError::Config(format!("channel `{name}`: {what}"));
        let credentials = match &config.username {
            Some(user) => {
                let source =
                    SecretSource::new(config.password_env.clone(), config.password_file.clone());
                let password = source
                    .read_as(["password_env", "password_file"])
                    .map_err(|e| bad(format!("`username` needs a password: {e}")))?;
                Some(Credentials::new(user.clone(), password))
            }
            None => None,
        };
        let server = SmtpServer::parse(&config.url, timeout, credentials)
            .map_err(|e| bad(format!("`url` {}: {e}", config.url)))?;
        let from: Mailbox = config
            .from
            .parse()
            .map_err(|e| bad(format!("`from` {}: {e}", config.from)))?;
        let to = config
            .to
            .iter()
            .map(|t| {
                t.parse::<Mailbox>()
                    .map_err(|e| bad(format!("`to` {t}: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if to.is_empty() {
            return Err(bad("`to` needs at least one recipient".into()));
        }
        Ok(Self { server, from, to })
    }

    /// The message for `event`, dated now.
    pub(super) fn message(
        &self,
        templates: &Templates,
        event: &Event,
    ) -> Result<Message, NotifyError> {
        compose(templates, event, &self.from, &self.to, SystemTime::now())
    }

    /// Whether the SMTP server answers, without sending anything.
    pub(super) async fn healthcheck(&self) -> Result<String, String> {
        match self.server.transport()?.test_connection().await {
            Ok(true) => Ok("the SMTP server answered".into()),
            Ok(false) => Err("the SMTP server did not answer NOOP".into()),
            Err(e) => Err(format!(
                "cannot reach the SMTP server: {}",
                procurize_core::error_chain(&e)
            )),
        }
    }

    /// Sends the message for `event`.
    pub(super) async fn send(
        &self,
        templates: &Templates,
        event: &Event,
    ) -> Result<String, Failure> {
        let message = self
            .message(templates, event)
            .map_err(|e| Failure::fatal(e.to_string()))?;
        let transport = self.server.transport().map_err(Failure::fatal)?;
        match transport.send(message).await {
            Ok(response) => Ok(format!("accepted: {}", response.code())),
            Err(e) => Err(Failure {
                // A 5xx answer, or a mismatch on our side that another try repeats
                // ("STARTTLS is not supported" where TLS is required, no shared
                // authentication mechanism).
                retry: !(e.is_permanent() || e.is_client()),
                reason: procurize_core::error_chain(&e),
                retry_after: None,
            }),
        }
    }
}
