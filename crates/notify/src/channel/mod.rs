//! The channels, behind one closed enum: each module owns its channel's configuration
//! resolution, payload, send and healthcheck; this one holds what they share ([`Failure`]) and
//! dispatches.

mod email;
mod file;
pub(crate) mod jira;
mod slack;
mod webhook;

use std::time::Duration;

use crate::NotifyError;
use crate::config::ChannelConfig;
use crate::event::Event;
use crate::templates::Templates;
use email::EmailChannel;
use file::FileChannel;
use jira::JiraChannel;
use slack::SlackChannel;
use webhook::WebhookChannel;

/// A ready channel.
pub(crate) enum Channel {
    Email(Box<EmailChannel>),
    Slack(Box<SlackChannel>),
    Jira(Box<JiraChannel>),
    File(FileChannel),
    Webhook(Box<WebhookChannel>),
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
            ChannelConfig::Jira(jira) => Ok(Self::Jira(Box::new(JiraChannel::build(
                name, jira, timeout,
            )?))),
            ChannelConfig::File(file) => Ok(Self::File(FileChannel::build(name, file)?)),
            ChannelConfig::Webhook(webhook) => Ok(Self::Webhook(Box::new(WebhookChannel::build(
                name, webhook, timeout,
            )?))),
        }
    }

    /// Checks credentials and reachability without sending anything.
    pub(crate) async fn healthcheck(&self) -> Result<String, String> {
        match self {
            Self::Email(email) => email.healthcheck().await,
            Self::Slack(slack) => slack.healthcheck().await,
            Self::Jira(jira) => jira.healthcheck().await,
            Self::File(file) => file.healthcheck(),
            Self::Webhook(webhook) => webhook.healthcheck().await,
        }
    }

    /// Whether [`Channel::find`] can tell if a message was posted (a Slack bot token can read the
    /// channel's history; the other channels need not: they are idempotent by construction).
    pub(crate) fn can_confirm(&self) -> bool {
        matches!(self, Self::Slack(slack) if slack.can_confirm())
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
            Self::Slack(_) => pretty_json(&slack::payload(templates, event)?),
            Self::Jira(jira) => jira.render(templates, event),
            Self::File(file) => file.render(templates, event),
            Self::Webhook(_) => WebhookChannel::render(event),
        }
    }

    /// One delivery attempt.
    pub(crate) async fn send(
        &self,
        templates: &Templates,
        event: &Event,
    ) -> Result<String, Failure> {
        match self {
            Self::Email(email) => email.send(templates, event).await,
            Self::Slack(slack) => slack.send(templates, event).await,
            Self::Jira(jira) => jira.send(templates, event).await,
            Self::File(file) => file.send(templates, event),
            Self::Webhook(webhook) => webhook.send(event).await,
        }
    }
}

/// A payload as a dry run shows it and a file channel writes it: pretty JSON and a final newline.
fn pretty_json(value: &serde_json::Value) -> Result<Vec<u8>, NotifyError> {
    let mut bytes =
        serde_json::to_vec_pretty(value).map_err(|e| NotifyError::Config(e.to_string()))?;
    bytes.push(b'\n');
    Ok(bytes)
}
