//! The webhook channel: every event POSTed as JSON to a receiver of your own (a GRC tool, a
//! SIEM, an in-house service), signed per Standard Webhooks so the receiver can check that it
//! came from us and drop a repeat by its `webhook-id`.
//!
//! The body (`schemaVersion` 1, documented in docs/notifications.md):
//! `{"type", "schemaVersion", "id", "data": {fingerprint, organization, project, version,
//! reportType, reportVersion, rule, rating, vulnerabilities, reportId, summary, filter}}`; a
//! field that does not apply to the event is `null`. The `webhook-id` is the event's kind and
//! fingerprint, so every retry of one event carries the same ID.

use std::time::Duration;

use procurize_core::SecretSource;
use procurize_core::webhook::{Scheme, Secret, Signer};
use serde_json::{Value, json};

use super::Failure;
use crate::NotifyError;
use crate::config::WebhookConfig;
use crate::event::Event;

/// The version of the body's shape.
pub(crate) const SCHEMA_VERSION: u32 = 1;

/// A ready webhook channel.
pub(crate) struct WebhookChannel {
    url: reqwest::Url,
    signer: Signer,
    http: reqwest::Client,
}

impl WebhookChannel {
    pub(crate) fn build(
        name: &str,
        config: &WebhookConfig,
        timeout: Duration,
    ) -> Result<Self, NotifyError> {
        let bad = |message: String| NotifyError::Config(format!("channel `{name}`: {message}"));
        let url = reqwest::Url::parse(&config.url)
            .ok()
            .filter(|u| matches!(u.scheme(), "https" | "http") && u.has_host())
            .ok_or_else(|| bad(format!("`url` {} is not an http(s) URL", config.url)))?;
        let source = SecretSource::new(config.secret_env.clone(), config.secret_file.clone());
        if !source.is_given() {
            return Err(bad(
                "the signing secret is missing: `secret_env` or `secret_file`".into(),
            ));
        }
        let text = source
            .read_as(["secret_env", "secret_file"])
            .map_err(|e| bad(e.to_string()))?;
        let secret = Secret::standard(&text).map_err(|e| bad(format!("the secret: {e}")))?;
        let http = procurize_core::tls::reqwest_builder(&procurize_core::tls::ExtraRoots::none())
            .map_err(|e| bad(e.to_string()))?
            .timeout(timeout)
            .build()
            .map_err(|e| bad(format!("cannot set up HTTP: {e}")))?;
        Ok(Self {
            url,
            signer: Signer::new(Scheme::StandardWebhooks, secret),
            http,
        })
    }

    /// Whether the receiver answers at all (a `HEAD`; any status will do). Nothing is sent, so
    /// the secret cannot be checked: only the receiver can tell.
    pub(crate) async fn healthcheck(&self) -> Result<String, String> {
        match self.http.head(self.url.clone()).send().await {
            Ok(response) => Ok(format!(
                "{} answers (HEAD: {}); the secret is checked by the receiver",
                self.url,
                response.status()
            )),
            Err(e) => Err(format!("{} cannot be reached: {e}", self.url)),
        }
    }

    /// The body for `event`, as a dry run shows it: pretty JSON.
    pub(crate) fn render(event: &Event) -> Result<Vec<u8>, NotifyError> {
        super::pretty_json(&payload(event))
    }

    /// One delivery attempt: a 2xx is delivered; 410 Gone is an error naming the URL (the
    /// receiver wants no more, and only a person should decide to remove the channel);
    /// anything else is worth retrying, after `Retry-After` when the receiver gives one.
    pub(crate) async fn send(&self, event: &Event) -> Result<String, Failure> {
        // The bytes a dry run shows are the bytes sent.
        let body = Self::render(event).map_err(|e| Failure::fatal(e.to_string()))?;
        let id = delivery_id(event);
        let now = time::OffsetDateTime::now_utc();
        let mut request = self
            .http
            .post(self.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json");
        for (name, value) in self.signer.headers(&id, now.unix_timestamp(), &body) {
            request = request.header(name, value);
        }
        let response = request.body(body).send().await.map_err(|e| Failure {
            reason: format!("POST {}: {e}", self.url),
            retry: true,
            retry_after: None,
        })?;
        let status = response.status();
        if status.is_success() {
            return Ok(format!("delivered to {} ({id})", self.url));
        }
        if status == reqwest::StatusCode::GONE {
            return Err(Failure::fatal(format!(
                "{} answered 410 Gone: the receiver wants no more events; remove the channel or correct its `url`",
                self.url
            )));
        }
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| procurize_core::parse_retry_after(v, now));
        Err(Failure {
            reason: format!("{} answered {status}", self.url),
            retry: true,
            retry_after,
        })
    }
}

/// The delivery's ID: the same for every attempt at one event, different for any other.
pub(crate) fn delivery_id(event: &Event) -> String {
    format!("msg_{}_{}", event.kind.as_str(), event.fingerprint)
}

/// The body, `schemaVersion` 1.
pub(crate) fn payload(event: &Event) -> Value {
    json!({
        "type": event.kind.as_str(),
        "schemaVersion": SCHEMA_VERSION,
        "id": delivery_id(event),
        "data": {
            "fingerprint": event.fingerprint,
            "organization": event.organization,
            "project": event.project,
            "version": event.version,
            "reportType": event.report_type,
            "reportVersion": event.report_version,
            "rule": event.rule,
            "rating": event.rating,
            "vulnerabilities": event.vulnerabilities,
            "reportId": event.report_id,
            "summary": event.summary,
            "filter": event.filter,
        },
    })
}
