//! The channels: one module's worth each, behind one closed enum.

use std::path::PathBuf;
use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncTransport, Message};
use procurize_core::SecretSource;
use serde_json::json;
use slack_morphism::errors::SlackClientError;
use slack_morphism::prelude::*;

use crate::NotifyError;
use crate::config::{ChannelConfig, EmailConfig, FileConfig, FileFormat};
use crate::event::Event;
use crate::smtp::SmtpServer;
use crate::templates::Templates;

/// A ready channel.
pub(crate) enum Channel {
    Email(Box<EmailChannel>),
    Slack(Box<SlackChannel>),
    Jira(Box<crate::jira::JiraChannel>),
    File(FileChannel),
}

pub(crate) struct SlackChannel {
    client: SlackClient<SlackClientHyperHttpsConnector>,
    target: SlackTarget,
}

enum SlackTarget {
    Bot {
        token: SlackApiToken,
        channel: String,
    },
    Webhook {
        url: url::Url,
    },
}

pub(crate) struct EmailChannel {
    server: SmtpServer,
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
    /// How long the service asked us to wait (Slack's 429 `Retry-After`).
    pub(crate) retry_after: Option<Duration>,
}

impl Failure {
    pub(crate) fn fatal(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            retry: false,
            retry_after: None,
        }
    }
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
            ChannelConfig::Slack(slack) => {
                Ok(Self::Slack(Box::new(SlackChannel::build(name, slack)?)))
            }
            ChannelConfig::Jira(jira) => Ok(Self::Jira(Box::new(crate::jira::JiraChannel::build(
                name, jira, timeout,
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
            Self::Email(email) => match email.server.transport()?.test_connection().await {
                Ok(true) => Ok("the SMTP server answered".into()),
                Ok(false) => Err("the SMTP server did not answer NOOP".into()),
                Err(e) => Err(format!(
                    "cannot reach the SMTP server: {}",
                    procurize_core::error_chain(&e)
                )),
            },
            Self::Slack(slack) => slack.healthcheck().await,
            Self::Jira(jira) => jira.healthcheck().await,
            Self::File(file) => std::fs::create_dir_all(&file.folder)
                .and_then(|()| tempfile::tempfile_in(&file.folder).map(drop))
                .map(|()| format!("{} is writable", file.folder.display()))
                .map_err(|e| format!("{} is not writable: {e}", file.folder.display())),
        }
    }

    /// Whether [`Channel::find`] can tell if a message was posted (a Slack bot token can read the
    /// channel's history; the other channels need not: they are idempotent by construction).
    pub(crate) fn can_confirm(&self) -> bool {
        matches!(self, Self::Slack(slack) if matches!(slack.target, SlackTarget::Bot { .. }))
    }

    /// Looks for a message about `event` posted since `since`: `Ok(None)` when this channel
    /// cannot tell.
    pub(crate) async fn find(
        &self,
        event: &Event,
        since: std::time::SystemTime,
    ) -> Result<Option<bool>, String> {
        match self {
            Self::Slack(slack) => slack.find(event, since).await,
            _ => Ok(None),
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
            Self::Slack(_) => render_format(FileFormat::Slack, templates, event),
            Self::Jira(jira) => jira.render(templates, event),
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
                let message = email
                    .message(templates, event)
                    .map_err(|e| Failure::fatal(e.to_string()))?;
                let transport = email.server.transport().map_err(Failure::fatal)?;
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
            Self::Slack(slack) => slack.send(templates, event).await,
            Self::Jira(jira) => jira.send(templates, event).await,
            Self::File(file) => {
                let bytes = render_format(file.format, templates, event)
                    .map_err(|e| Failure::fatal(e.to_string()))?;
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
                std::fs::create_dir_all(&file.folder).map_err(|e| {
                    Failure::fatal(format!("cannot create {}: {e}", file.folder.display()))
                })?;
                procurize_core::fs::write_atomic(&path, &bytes)
                    .map_err(|e| Failure::fatal(e.to_string()))?;
                Ok(format!("wrote {}", path.display()))
            }
        }
    }
}

impl EmailChannel {
    fn build(name: &str, config: &EmailConfig, timeout: Duration) -> Result<Self, NotifyError> {
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
        let domain = from.email.domain().to_owned();
        Ok(Self {
            server,
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

impl SlackChannel {
    fn build(name: &str, config: &crate::config::SlackConfig) -> Result<Self, NotifyError> {
        let bad = |what: String| NotifyError::Config(format!("channel `{name}`: {what}"));
        // Each of the two is optional; which one is given decides the kind of target.
        let secret = |env: &Option<String>,
                      file: &Option<std::path::PathBuf>,
                      key: &str|
         -> Result<Option<String>, NotifyError> {
            let source = SecretSource::new(env.clone(), file.clone());
            if !source.is_given() {
                return Ok(None);
            }
            source
                .read_as([&format!("{key}_env"), &format!("{key}_file")])
                .map(Some)
                .map_err(|e| bad(e.to_string()))
        };
        let token = secret(&config.token_env, &config.token_file, "token")?;
        let webhook = secret(
            &config.webhook_url_env,
            &config.webhook_url_file,
            "webhook_url",
        )?;
        let target = match (token, &config.channel, webhook) {
            (Some(token), Some(channel), None) => SlackTarget::Bot {
                token: SlackApiToken::new(SlackApiTokenValue(token)),
                channel: channel.clone(),
            },
            (None, None, Some(url)) => SlackTarget::Webhook {
                url: url.parse().map_err(|e| bad(format!("the incoming-webhook URL is not a URL: {e}")))?,
            },
            _ => return Err(bad("give a token (`token_env` or `token_file`) and `channel`, or an incoming webhook (`webhook_url_env` or `webhook_url_file`)".into())),
        };
        let tls = procurize_core::tls::client_config(&procurize_core::tls::ExtraRoots::none())
            .map_err(|e| bad(e.to_string()))?;
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .build();
        let api_url = config
            .api_url
            .as_deref()
            .unwrap_or("https://slack.com/api")
            .trim_end_matches('/');
        let connector = SlackClientHyperConnector::from(https).with_slack_api_url(api_url);
        Ok(Self {
            client: SlackClient::new(connector),
            target,
        })
    }

    async fn healthcheck(&self) -> Result<String, String> {
        match &self.target {
            SlackTarget::Bot { token, .. } => {
                match self.client.open_session(token).auth_test().await {
                    Ok(answer) => Ok(format!("token valid for team {}", answer.team)),
                    Err(e) => Err(slack_failure(e).reason),
                }
            }
            SlackTarget::Webhook { .. } => {
                Ok("incoming webhook configured (Slack offers no check that does not post)".into())
            }
        }
    }

    async fn send(&self, templates: &Templates, event: &Event) -> Result<String, Failure> {
        let payload = render_format(FileFormat::Slack, templates, event)
            .map_err(|e| Failure::fatal(e.to_string()))?;
        let value: serde_json::Value =
            serde_json::from_slice(&payload).map_err(|e| Failure::fatal(e.to_string()))?;
        let blocks: Vec<SlackBlock> = serde_json::from_value(value["blocks"].clone())
            .map_err(|e| Failure::fatal(format!("invalid blocks: {e}")))?;
        let content = SlackMessageContent::new()
            .with_text(value["text"].as_str().unwrap_or_default().to_owned())
            .with_blocks(blocks);
        match &self.target {
            SlackTarget::Bot { token, channel } => self
                .client
                .open_session(token)
                .chat_post_message(&SlackApiChatPostMessageRequest::new(
                    channel.clone().into(),
                    // Slack's message metadata carries the event's identity, so that a later
                    // attempt can find the message in the channel's history (`find`).
                    content.with_metadata(event_metadata(event)),
                ))
                .await
                .map(|answer| format!("posted to {} at {}", answer.channel, answer.ts))
                .map_err(slack_failure),
            SlackTarget::Webhook { url } => match self
                .client
                .post_webhook_message(url, &SlackApiPostWebhookMessageRequest::new(content))
                .await
            {
                Ok(_) => Ok("posted to the incoming webhook".to_owned()),
                // Slack documents a plain `ok` answer, which slack-morphism expects as JSON.
                Err(SlackClientError::ProtocolError(e))
                    if e.json_body.as_deref().map(str::trim) == Some("ok") =>
                {
                    Ok("posted to the incoming webhook".to_owned())
                }
                Err(e) => Err(slack_failure(e)),
            },
        }
    }
}

/// The metadata event type of our Slack messages.
const METADATA_EVENT_TYPE: &str = "procurize_notification";

fn event_metadata(event: &Event) -> SlackMessageMetadata {
    SlackMessageMetadata::new(METADATA_EVENT_TYPE.into()).with_event_payload(
        [
            ("fingerprint".to_owned(), event.fingerprint.clone()),
            ("kind".to_owned(), event.kind.as_str().to_owned()),
        ]
        .into_iter()
        .collect(),
    )
}

/// Whether `text` is a Slack conversation ID (`C…`, `G…`, `D…`) rather than a name.
fn is_conversation_id(text: &str) -> bool {
    text.len() >= 9
        && text.starts_with(['C', 'G', 'D'])
        && text
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

/// How many pages of a Slack listing are read at the most.
const MAX_SLACK_PAGES: usize = 50;

impl SlackChannel {
    /// The conversation ID of the configured channel: as given, or looked up by name.
    async fn channel_id(
        &self,
        session: &SlackClientSession<'_, SlackClientHyperHttpsConnector>,
        channel: &str,
    ) -> Result<SlackChannelId, String> {
        if is_conversation_id(channel) {
            return Ok(channel.to_owned().into());
        }
        let name = channel.trim_start_matches('#');
        let mut cursor: Option<SlackCursorId> = None;
        for _ in 0..MAX_SLACK_PAGES {
            let mut request = SlackApiConversationsListRequest::new()
                .with_exclude_archived(true)
                .with_limit(200)
                .with_types(vec![
                    SlackConversationType::Public,
                    SlackConversationType::Private,
                ]);
            if let Some(cursor) = cursor.take() {
                request = request.with_cursor(cursor);
            }
            let answer = session
                .conversations_list(&request)
                .await
                .map_err(|e| slack_failure(e).reason)?;
            if let Some(found) = answer
                .channels
                .iter()
                .find(|c| c.name.as_deref() == Some(name))
            {
                return Ok(found.id.clone());
            }
            cursor = answer
                .response_metadata
                .and_then(|m| m.next_cursor)
                .filter(|c| !c.0.is_empty());
            if cursor.is_none() {
                break;
            }
        }
        Err(format!(
            "no channel named `{channel}` is visible to the bot"
        ))
    }

    /// Looks in the channel's history since `since` (less a minute for clock skew) for a message
    /// whose metadata names `event`.
    async fn find(
        &self,
        event: &Event,
        since: std::time::SystemTime,
    ) -> Result<Option<bool>, String> {
        let SlackTarget::Bot { token, channel } = &self.target else {
            return Ok(None);
        };
        let session = self.client.open_session(token);
        let id = self.channel_id(&session, channel).await?;
        let oldest = since
            .checked_sub(Duration::from_secs(60))
            .unwrap_or(std::time::UNIX_EPOCH)
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let oldest = SlackTs::new(format!(
            "{}.{:06}",
            oldest.as_secs(),
            oldest.subsec_micros()
        ));
        let mut cursor: Option<SlackCursorId> = None;
        for _ in 0..MAX_SLACK_PAGES {
            let mut request = SlackApiConversationsHistoryRequest::new()
                .with_channel(id.clone())
                .with_oldest(oldest.clone())
                .with_include_all_metadata(true)
                .with_limit(200);
            if let Some(cursor) = cursor.take() {
                request = request.with_cursor(cursor);
            }
            let answer = session
                .conversations_history(&request)
                .await
                .map_err(|e| slack_failure(e).reason)?;
            let found = answer.messages.iter().any(|m| {
                m.content.metadata.as_ref().is_some_and(|meta| {
                    meta.event_type == METADATA_EVENT_TYPE
                        && meta.event_payload.as_ref().is_some_and(|p| {
                            p.get("fingerprint") == Some(&event.fingerprint)
                                && p.get("kind").map(String::as_str) == Some(event.kind.as_str())
                        })
                })
            });
            if found {
                return Ok(Some(true));
            }
            cursor = answer
                .response_metadata
                .and_then(|m| m.next_cursor)
                .filter(|c| !c.0.is_empty());
            if cursor.is_none() || answer.has_more == Some(false) {
                return Ok(Some(false));
            }
        }
        Err(format!(
            "more than {MAX_SLACK_PAGES} pages of history to search"
        ))
    }
}

/// Slack's errors: `ok:false` carries Slack's error string and is final; 429 waits as asked;
/// 5xx and transport errors are retried.
fn slack_failure(error: SlackClientError) -> Failure {
    match error {
        SlackClientError::ApiError(e) => {
            Failure::fatal(format!("Slack answered ok:false, error `{}`", e.code))
        }
        SlackClientError::RateLimitError(e) => Failure {
            reason: "Slack is rate limiting (429)".into(),
            retry: true,
            retry_after: e.retry_after,
        },
        SlackClientError::HttpError(e) => Failure {
            retry: e.status_code.is_server_error(),
            reason: format!("Slack answered HTTP {}", e.status_code.as_u16()),
            retry_after: None,
        },
        // slack-morphism prints its cause with `Debug`; the chain of `Display`s reads better.
        SlackClientError::HttpProtocolError(e) => Failure {
            reason: match e.cause.as_deref() {
                Some(cause) => {
                    format!("cannot reach Slack: {}", procurize_core::error_chain(cause))
                }
                None => "cannot reach Slack".into(),
            },
            retry: true,
            retry_after: None,
        },
        other => Failure {
            reason: format!("cannot reach Slack: {other}"),
            retry: true,
            retry_after: None,
        },
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
                "labels": ["procurize", crate::jira::fingerprint_label(&event.fingerprint)],
            },
        }),
    };
    let mut bytes =
        serde_json::to_vec_pretty(&value).map_err(|e| NotifyError::Config(e.to_string()))?;
    bytes.push(b'\n');
    Ok(bytes)
}
