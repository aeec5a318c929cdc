//! One reqwest client (rustls, from `procurize_core::tls`) and one way to send a request and
//! read its answer, shared by both forges.

use std::time::Duration;

use procurize_core::tls::{ExtraRoots, reqwest_builder};
use reqwest::header::HeaderMap;
use serde::de::DeserializeOwned;
use url::Url;

use crate::ReviewError;

/// The most bytes of an answer read: comment pages are far smaller.
const MAX_BODY: usize = 16 * 1024 * 1024;

pub(crate) struct Http {
    client: reqwest::Client,
}

/// A 2xx answer.
pub(crate) struct Answer {
    pub(crate) headers: HeaderMap,
    pub(crate) body: Vec<u8>,
}

/// Who is asking, for errors.
#[derive(Clone, Copy)]
pub(crate) struct Call<'a> {
    pub(crate) service: &'static str,
    pub(crate) method: &'static str,
    pub(crate) url: &'a Url,
}

impl Call<'_> {
    pub(crate) fn unexpected(&self, reason: impl std::fmt::Display) -> ReviewError {
        ReviewError::Response {
            service: self.service,
            method: self.method,
            url: self.url.to_string(),
            reason: reason.to_string(),
        }
    }

    /// The answer's body as `T`, or an error naming the request.
    pub(crate) fn parse<T: DeserializeOwned>(&self, answer: &Answer) -> Result<T, ReviewError> {
        serde_json::from_slice(&answer.body).map_err(|e| self.unexpected(e))
    }
}

impl Http {
    pub(crate) fn new(timeout: Duration) -> Result<Self, ReviewError> {
        let setup =
            |e: &dyn std::fmt::Display| ReviewError::Config(format!("cannot set up HTTP: {e}"));
        let client = reqwest_builder(&ExtraRoots::none())
            .map_err(|e| setup(&e))?
            .timeout(timeout)
            .build()
            .map_err(|e| setup(&procurize_core::error_chain(&e)))?;
        Ok(Http { client })
    }

    /// Sends `request` (built for `call`) and returns a 2xx answer; any other status is
    /// [`ReviewError::Http`] with the forge's `message` when it sent one.
    pub(crate) async fn send(
        &self,
        call: Call<'_>,
        build: impl FnOnce(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<Answer, ReviewError> {
        let transport = |e: reqwest::Error| ReviewError::Transport {
            service: call.service,
            method: call.method,
            url: call.url.to_string(),
            detail: procurize_core::error_chain(&e).to_string(),
        };
        let mut response = build(&self.client).send().await.map_err(transport)?;
        let status = response.status();
        let headers = response.headers().clone();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(transport)? {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(call.unexpected(format!("the body is over {MAX_BODY} bytes")));
            }
            body.extend_from_slice(&chunk);
        }
        if !status.is_success() {
            return Err(ReviewError::Http {
                service: call.service,
                method: call.method,
                url: call.url.to_string(),
                status: status.as_u16(),
                message: message(&body),
            });
        }
        Ok(Answer { headers, body })
    }

    /// Sends `{"body": text}` with `call`'s method: `POST` to create a comment, `PATCH` (GitHub)
    /// or `PUT` (GitLab) to edit one.
    pub(crate) async fn write_body(
        &self,
        call: Call<'_>,
        authorize: impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
        text: &str,
    ) -> Result<Answer, ReviewError> {
        let method =
            reqwest::Method::from_bytes(call.method.as_bytes()).map_err(|e| call.unexpected(e))?;
        let payload = serde_json::json!({ "body": text }).to_string();
        self.send(call, |c| {
            authorize(c.request(method, call.url.clone()))
                .header("content-type", "application/json")
                .body(payload)
        })
        .await
    }
}

/// The `message` both forges put in their JSON errors, else a short excerpt of the body.
fn message(body: &[u8]) -> String {
    let from_json = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| match &v["message"] {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Null => None,
            other => Some(other.to_string()),
        });
    let text = from_json.unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match text.char_indices().nth(200) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None if text.is_empty() => "no message".into(),
        None => text,
    }
}

/// `base` with `path` appended (`base` may carry a path: GitHub Enterprise's `/api/v3`, GitLab's
/// `/api/v4`).
pub(crate) fn join(base: &Url, path: &str) -> Result<Url, ReviewError> {
    let text = format!("{}/{}", base.as_str().trim_end_matches('/'), path);
    Url::parse(&text).map_err(|e| ReviewError::Config(format!("`{text}` is not a URL: {e}")))
}

/// The forge's API URL from `variable`, else `default`.
pub(crate) fn api_url(
    var: &impl Fn(&str) -> Option<String>,
    variable: &str,
    default: Option<&str>,
) -> Result<Url, ReviewError> {
    let text = match (var(variable).filter(|v| !v.is_empty()), default) {
        (Some(v), _) => v,
        (None, Some(d)) => d.to_owned(),
        (None, None) => return Err(ReviewError::Config(format!("{variable} is not set"))),
    };
    let url = Url::parse(&text)
        .map_err(|e| ReviewError::Config(format!("{variable} `{text}` is not a URL: {e}")))?;
    match url.scheme() {
        "https" | "http" => Ok(url),
        other => Err(ReviewError::Config(format!(
            "{variable} `{text}`: the scheme must be https or http, not {other}"
        ))),
    }
}

/// Whether `next` is on the API's own origin: a pagination link elsewhere would get the token.
pub(crate) fn same_origin(api: &Url, next: &Url) -> bool {
    api.origin() == next.origin()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_the_forges_or_a_short_excerpt() {
        assert_eq!(
            message(br#"{"message":"Resource not accessible by integration"}"#),
            "Resource not accessible by integration"
        );
        assert_eq!(
            message(br#"{"message":{"note":["is too long"]}}"#),
            r#"{"note":["is too long"]}"#
        );
        assert_eq!(message(b""), "no message");
        assert!(message(&[b'x'; 500]).ends_with('…'));
    }

    #[test]
    fn joined_urls_keep_the_base_path() {
        let base = Url::parse("https://ghe.example.com/api/v3/").expect("url");
        assert_eq!(
            join(&base, "repos/o/r").expect("join").as_str(),
            "https://ghe.example.com/api/v3/repos/o/r"
        );
        let other = Url::parse("https://evil.example.com/api/v3/x").expect("url");
        assert!(!same_origin(&base, &other));
    }
}
