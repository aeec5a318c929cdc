//! The channels: one module's worth each, behind one closed enum.

use std::path::PathBuf;
use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde_json::json;

use crate::NotifyError;
use crate::config::{ChannelConfig, EmailConfig, FileConfig, FileFormat};
use crate::event::Event;
use crate::templates::Templates;

/// A ready channel.
pub(crate) enum Channel {
    Email(Box<EmailChannel>),
    File(FileChannel),
}

pub(crate) struct EmailChannel {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    to: Vec<Mailbox>,
    domain: String,
}

pub(crate) struct FileChannel {
    folder: PathBuf,
    format: FileFormat,
}

/// Why an attempt failed, and whether trying again may help.
pub(crate) struct Failure {
    pub(crate) reason: String,
    pub(crate) retry: bool,
}

impl Channel {
    pub(crate) fn build(
        name: &str,
        config: &ChannelConfig,
        timeout: Duration,
    ) -> Result<Self, NotifyError> {
        match config {
            ChannelConfig::Email(email) => Ok(Self::Email(Box::new(EmailChannel::build(
                name, email, timeout,
            )?))),
            ChannelConfig::File(FileConfig { folder, format }) => Ok(Self::File(FileChannel {
                folder: folder.clone(),
                format: *format,
            })),
        }
    }

    /// Checks credentials and reachability without sending anything.
    pub(crate) async fn healthcheck(&self) -> Result<String, String> {
        match self {
            Self::Email(email) => match email.transport.test_connection().await {
                Ok(true) => Ok("the SMTP server answered".into()),
                Ok(false) => Err("the SMTP server did not answer NOOP".into()),
                Err(e) => Err(format!(
                    "cannot reach the SMTP server: {}",
                    procurize_core::error_chain(&e)
                )),
            },
            Self::File(file) => std::fs::create_dir_all(&file.folder)
                .and_then(|()| tempfile::tempfile_in(&file.folder).map(drop))
                .map(|()| format!("{} is writable", file.folder.display()))
                .map_err(|e| format!("{} is not writable: {e}", file.folder.display())),
        }
    }

    /// The message for `event`, as text to show (a dry run) or to write.
    pub(crate) fn render(
        &self,
        templates: &Templates,
        event: &Event,
    ) -> Result<Vec<u8>, NotifyError> {
        match self {
            Self::Email(email) => Ok(email.message(templates, event)?.formatted()),
            Self::File(file) => render_format(file.format, templates, event),
        }
    }

    /// One delivery attempt.
    pub(crate) async fn send(
        &self,
        templates: &Templates,
        event: &Event,
    ) -> Result<String, Failure> {
        match self {
            Self::Email(email) => {
                let message = email.message(templates, event).map_err(|e| Failure {
                    reason: e.to_string(),
                    retry: false,
                })?;
                match email.transport.send(message).await {
                    Ok(response) => Ok(format!("accepted: {}", response.code())),
                    Err(e) => Err(Failure {
                        retry: !e.is_permanent(),
                        reason: procurize_core::error_chain(&e),
                    }),
                }
            }
            Self::File(file) => {
                let bytes = render_format(file.format, templates, event).map_err(|e| Failure {
                    reason: e.to_string(),
                    retry: false,
                })?;
                let extension = if file.format == FileFormat::Email {
                    "eml"
                } else {
                    "json"
                };
                let path = file.folder.join(format!(
                    "{}.{}.{extension}",
                    event.fingerprint,
                    event.kind.as_str()
                ));
                std::fs::create_dir_all(&file.folder).map_err(|e| Failure {
                    reason: format!("cannot create {}: {e}", file.folder.display()),
                    retry: false,
                })?;
                procurize_core::fs::write_atomic(&path, &bytes).map_err(|e| Failure {
                    reason: e.to_string(),
                    retry: false,
                })?;
                Ok(format!("wrote {}", path.display()))
            }
        }
    }
}

impl EmailChannel {
    fn build(name: &str, config: &EmailConfig, timeout: Duration) -> Result<Self, NotifyError> {
        let bad = |what: String| NotifyError::Config(format!("channel `{name}`: {what}"));
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(&config.url)
            .map_err(|e| bad(format!("`url` {}: {e}", config.url)))?
            .timeout(Some(timeout));
        if let Some(user) = &config.username {
            let password = match (&config.password_env, &config.password_file) {
                (Some(var), _) => std::env::var(var).map_err(|_| {
                    bad(format!(
                        "the environment variable {var} (password_env) is not set"
                    ))
                })?,
                (None, Some(path)) => std::fs::read_to_string(path)
                    .map(|p| p.trim_end_matches(['\n', '\r']).to_owned())
                    .map_err(|e| {
                        bad(format!("cannot read password_file {}: {e}", path.display()))
                    })?,
                (None, None) => {
                    return Err(bad(
                        "`username` needs `password_env` or `password_file`".into()
                    ));
                }
            };
            builder = builder.credentials(Credentials::new(user.clone(), password));
        }
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
        let domain = from.email.domain().to_owned();
        Ok(Self {
            transport: builder.build(),
            from,
            to,
            domain,
        })
    }

    fn message(&self, templates: &Templates, event: &Event) -> Result<Message, NotifyError> {
        let subject = templates.render("email", "subject", event)?;
        let text = templates.render("email", "text", event)?;
        let html = templates.render("email", "html", event)?;
        let mut builder = Message::builder()
            .from(self.from.clone())
            .subject(subject.trim())
            // The same event gets the same Message-ID, so a redelivery is recognisable.
            .message_id(Some(format!(
                "<{}.{}@{}>",
                event.fingerprint,
                event.kind.as_str(),
                self.domain
            )));
        for to in &self.to {
            builder = builder.to(to.clone());
        }
        builder
            .multipart(MultiPart::alternative_plain_html(text, html))
            .map_err(|e| NotifyError::Config(format!("cannot build the e-mail: {e}")))
    }
}

/// A message in the given channel's shape, for the file channel.
fn render_format(
    format: FileFormat,
    templates: &Templates,
    event: &Event,
) -> Result<Vec<u8>, NotifyError> {
    let value = match format {
        FileFormat::Email => {
            let subject = templates.render("email", "subject", event)?;
            let text = templates.render("email", "text", event)?;
            let html = templates.render("email", "html", event)?;
            let message = Message::builder()
                .from(
                    "Procurize <procurize@localhost>"
                        .parse()
                        .map_err(|e| NotifyError::Config(format!("{e}")))?,
                )
                .to("audit <audit@localhost>"
                    .parse()
                    .map_err(|e| NotifyError::Config(format!("{e}")))?)
                .subject(subject.trim())
                .message_id(Some(format!(
                    "<{}.{}@localhost>",
                    event.fingerprint,
                    event.kind.as_str()
                )))
                .date(std::time::UNIX_EPOCH)
                .multipart(MultiPart::alternative_plain_html(text, html))
                .map_err(|e| NotifyError::Config(format!("cannot build the e-mail: {e}")))?;
            return Ok(message.formatted());
        }
        FileFormat::Slack => {
            let text = templates.render("slack", "text", event)?;
            json!({
                "text": text.trim(),
                "blocks": [
                    { "type": "section", "text": { "type": "mrkdwn", "text": text.trim() } },
                    { "type": "context", "elements": [{ "type": "mrkdwn", "text": format!("fingerprint `{}`", event.fingerprint) }] },
                ],
            })
        }
        FileFormat::Jira => json!({
            "fields": {
                "summary": templates.render("jira", "summary", event)?.trim(),
                "description": templates.render("jira", "description", event)?,
                "labels": ["procurize", format!("procurize-{}", &event.fingerprint[..16.min(event.fingerprint.len())])],
            },
        }),
    };
    let mut bytes =
        serde_json::to_vec_pretty(&value).map_err(|e| NotifyError::Config(e.to_string()))?;
    bytes.push(b'\n');
    Ok(bytes)
}
