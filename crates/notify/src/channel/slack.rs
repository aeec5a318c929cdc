//! The Slack channel: a bot token posting to a channel (with the event in the message's
//! metadata, so a repeat can be found), or an incoming webhook.

use std::time::Duration;

use procurize_core::SecretSource;
use serde_json::json;
use slack_morphism::errors::SlackClientError;
use slack_morphism::prelude::*;

use super::Failure;
use crate::NotifyError;
use crate::event::Event;
use crate::templates::Templates;

/// A ready Slack channel.
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

impl SlackChannel {
    /// Whether this channel can read back what it posted (a bot token reads the channel's
    /// history; an incoming webhook cannot).
    pub(super) fn can_confirm(&self) -> bool {
        matches!(self.target, SlackTarget::Bot { .. })
    }

    pub(super) fn build(
        name: &str,
        config: &crate::config::SlackConfig,
    ) -> Result<Self, NotifyError> {
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

    pub(super) async fn healthcheck(&self) -> Result<String, String> {
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

    pub(super) async fn send(
        &self,
        templates: &Templates,
        event: &Event,
    ) -> Result<String, Failure> {
        let value = payload(templates, event).map_err(|e| Failure::fatal(e.to_string()))?;
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
    pub(super) async fn find(
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

/// The message for `event`: its text, and blocks with the event's fingerprint. What a post
/// sends, and what a dry run or a file channel in Slack's format shows.
pub(super) fn payload(
    templates: &Templates,
    event: &Event,
) -> Result<serde_json::Value, NotifyError> {
    let text = templates.render("slack", "text", event)?;
    Ok(json!({
        "text": text.trim(),
        "blocks": [
            { "type": "section", "text": { "type": "mrkdwn", "text": text.trim() } },
            { "type": "context", "elements": [{ "type": "mrkdwn", "text": format!("fingerprint `{}`", event.fingerprint) }] },
        ],
    }))
}
