//! The one error type of `procurize-core`.

use std::fmt;
use std::path::PathBuf;

use uuid::Uuid;

/// Everything that can go wrong in `procurize-core`.
///
/// API errors carry the HTTP status, the platform's machine-readable code and its message; see
/// [`Error::status`], [`Error::code`] and [`Error::message`]. [`Error::is_usage`] tells a
/// caller's mistake (bad input or configuration) from a runtime failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The platform answered with an error status.
    #[error("HTTP {status} from {url}{}", api_detail(code.as_deref(), message))]
    Api {
        /// The HTTP status code.
        status: u16,
        /// The URL that was requested.
        url: String,
        /// The platform's machine-readable error code, when it sent one.
        code: Option<String>,
        /// The platform's human-readable message, or a short excerpt of a non-JSON body.
        message: String,
    },

    /// A response body did not have the documented shape.
    #[error("unexpected {what} from {url}: {path}: {reason} (body starts: {excerpt})")]
    Decode {
        /// What was being read, e.g. `report list`.
        what: &'static str,
        /// The URL that was requested.
        url: String,
        /// Where in the document the problem is, e.g. `reports[0].securityRating`.
        path: String,
        /// What is wrong there.
        reason: String,
        /// The start of the body, for context.
        excerpt: String,
    },

    /// A JSON document (a payload or a file) did not have the documented shape.
    #[error("invalid {what}: {path}: {reason}")]
    InvalidDocument {
        /// What was being read, e.g. `report list`.
        what: &'static str,
        /// Where in the document the problem is.
        path: String,
        /// What is wrong there.
        reason: String,
    },

    /// The request could not be completed: no connection, TLS failure, time-out, broken body.
    #[error("{kind} for {url}: {detail}. {}", kind.hint())]
    Transport {
        /// What kind of failure it was.
        kind: TransportKind,
        /// The URL that was requested.
        url: String,
        /// The underlying error's chain of causes, as text.
        detail: String,
    },

    /// The platform answered for another organization than the one asked for.
    #[error("the platform answered for organization {got}, but {expected} was asked for")]
    OrganizationMismatch {
        /// The organization in the request.
        expected: Uuid,
        /// The organization in the answer.
        got: Uuid,
    },

    /// A download matched none of the requested report IDs (`204 No Content`).
    #[error("no report exists with ID {}", join_ids(ids))]
    ReportsNotFound {
        /// The IDs that were asked for.
        ids: Vec<Uuid>,
    },

    /// A downloaded archive is not a readable ZIP file.
    #[error("the archive from {url} is not a readable ZIP file: {reason}")]
    InvalidArchive {
        /// The URL it came from.
        url: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A local file could not be read or written.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done, e.g. `cannot write`.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },

    /// A client or verifier setting is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),

    /// A product version does not parse even leniently.
    #[error("invalid version `{input}`: {reason}")]
    InvalidVersion {
        /// The text given.
        input: String,
        /// Why it was rejected.
        reason: String,
    },

    /// A security rating other than `A`..`E`.
    #[error("unknown security rating `{value}` (expected one of A, B, C, D, E)")]
    InvalidRating {
        /// The value given.
        value: String,
    },

    /// A timestamp that is not RFC 3339.
    #[error("invalid timestamp `{input}`: {reason}")]
    InvalidTimestamp {
        /// The text given.
        input: String,
        /// Why it was rejected.
        reason: String,
    },

    /// A list request without any version filter.
    #[error(
        "a version filter is required: give at least one of version, minimum version, maximum version"
    )]
    EmptyFilter,

    /// A version filter that can match nothing.
    #[error("the version filter can match nothing: {reason}")]
    UnsatisfiableFilter {
        /// Why.
        reason: String,
    },

    /// A webhook delivery's signature did not verify.
    #[error("webhook signature rejected: {0}")]
    Signature(crate::webhook::SignatureFailure),
}

impl Error {
    /// The HTTP status, for errors the platform answered with.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The platform's machine-readable error code, when it sent one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Api { code, .. } => code.as_deref(),
            _ => None,
        }
    }

    /// The platform's human-readable message, or this error's own message.
    pub fn message(&self) -> String {
        match self {
            Self::Api { message, .. } => message.clone(),
            other => other.to_string(),
        }
    }

    /// Whether trying the same request again later could succeed: the transport failed, the
    /// platform was overloaded or down (`408`, `429`, `5xx`), a file could not be written. Not
    /// for what the platform will keep answering (`4xx`: no such report, no access), documents
    /// of the wrong shape, or the caller's own mistakes. The workflow service makes a job that
    /// fails with a non-retryable error dead at once.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Api { status, .. } => matches!(status, 408 | 429 | 500..=599),
            Self::Transport { .. } | Self::Io { .. } | Self::InvalidArchive { .. } => true,
            _ => false,
        }
    }

    /// Whether the error is the caller's: bad input or configuration rather than a failure at
    /// run time. A command-line tool maps these to its usage exit code.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            Self::Config(_)
                | Self::InvalidVersion { .. }
                | Self::InvalidRating { .. }
                | Self::InvalidTimestamp { .. }
                | Self::InvalidDocument { .. }
                | Self::EmptyFilter
                | Self::UnsatisfiableFilter { .. }
        )
    }

    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        Self::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

/// What kind of transport failure happened, and so what to check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransportKind {
    /// The host name did not resolve.
    Dns,
    /// The TCP connection was refused or could not be made.
    Connect,
    /// The TLS handshake failed (certificate, protocol).
    Tls,
    /// The proxy refused or failed the connection.
    Proxy,
    /// No answer within the time-out.
    Timeout,
    /// The connection broke while the body was being received.
    Body,
    /// Anything else.
    Other,
}

impl TransportKind {
    /// What the user should check.
    pub fn hint(self) -> &'static str {
        match self {
            Self::Dns => "Check the host name in the base URL and your DNS settings",
            Self::Connect => "Check that the server is running and reachable, and any firewall",
            Self::Tls => {
                "Check the server's TLS certificate; behind a corporate proxy, pass its CA with --ca-cert or PROCURIZE_CA_CERT"
            }
            Self::Proxy => "Check HTTPS_PROXY, HTTP_PROXY and NO_PROXY",
            Self::Timeout => {
                "Check that the server is up and your network; raise the time-out with --timeout if it is just slow"
            }
            Self::Body => "The connection broke mid-transfer; check the network and try again",
            Self::Other => "Check the base URL and your network",
        }
    }
}

impl fmt::Display for TransportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Dns => "cannot resolve host",
            Self::Connect => "cannot connect",
            Self::Tls => "TLS handshake failed",
            Self::Proxy => "proxy error",
            Self::Timeout => "timed out",
            Self::Body => "connection broke while receiving the response",
            Self::Other => "request failed",
        })
    }
}

fn api_detail(code: Option<&str>, message: &str) -> String {
    match (code, message.is_empty()) {
        (Some(code), false) => format!(": {code}: {message}"),
        (Some(code), true) => format!(": {code}"),
        (None, false) => format!(": {message}"),
        (None, true) => String::new(),
    }
}

fn join_ids(ids: &[Uuid]) -> String {
    ids.iter()
        .map(Uuid::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// An error and its causes as one line, without repeating what an outer message already says.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current: Option<&dyn std::error::Error> = Some(error);
    while let Some(e) = current {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        current = e.source();
    }
    parts.join(": ")
}

/// At most this many characters of a body appear in an error.
pub(crate) const EXCERPT_CHARS: usize = 160;

/// A short, single-line excerpt of a body for an error message: markup is stripped, whitespace
/// collapsed, and the result cut to [`EXCERPT_CHARS`] characters.
pub(crate) fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(64 * 1024)]);
    let looks_like_markup = text.trim_start().starts_with('<');
    let mut out = String::new();
    let mut in_tag = false;
    let mut skip_until: Option<&str> = None;
    let lower = text.to_ascii_lowercase();
    let mut i = 0;
    while i < text.len() {
        let c = text[i..].chars().next().unwrap_or(' ');
        if let Some(end) = skip_until {
            if lower[i..].starts_with(end) {
                skip_until = None;
                i += end.len();
            } else {
                i += c.len_utf8();
            }
            continue;
        }
        if looks_like_markup {
            if lower[i..].starts_with("<style") {
                skip_until = Some("</style>");
                continue;
            }
            if lower[i..].starts_with("<script") {
                skip_until = Some("</script>");
                continue;
            }
            if c == '<' {
                in_tag = true;
            } else if c == '>' && in_tag {
                in_tag = false;
                out.push(' ');
            } else if !in_tag {
                out.push(c);
            }
        } else {
            out.push(c);
        }
        i += c.len_utf8();
    }
    let collapsed = out.split_whitespace().collect::<Vec<_>>().join(" ");
    if collapsed.chars().count() > EXCERPT_CHARS {
        let mut cut: String = collapsed.chars().take(EXCERPT_CHARS).collect();
        cut.push('…');
        cut
    } else {
        collapsed
    }
}

/// The platform's error body, in any of the shapes it may take.
pub(crate) fn api_error(status: u16, url: &str, body: &[u8]) -> Error {
    #[derive(serde::Deserialize)]
    struct Body {
        code: Option<serde_json::Value>,
        message: Option<String>,
        error: Option<serde_json::Value>,
        title: Option<String>,
        detail: Option<String>,
        #[serde(rename = "type")]
        kind: Option<String>,
    }
    let scalar = |v: serde_json::Value| match v {
        serde_json::Value::String(s) => Some(s),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    let (code, message) = match serde_json::from_slice::<Body>(body) {
        Ok(parsed) => {
            let code = parsed
                .code
                .and_then(scalar)
                .or_else(|| parsed.error.clone().and_then(scalar))
                .or_else(|| parsed.kind.filter(|t| t != "about:blank"));
            let message = parsed
                .message
                .or(match (parsed.title, parsed.detail) {
                    (Some(t), Some(d)) => Some(format!("{t}: {d}")),
                    (t, d) => t.or(d),
                })
                .unwrap_or_else(|| excerpt(body));
            (code, message)
        }
        Err(_) => (None, excerpt(body)),
    };
    Error::Api {
        status,
        url: url.to_owned(),
        code,
        message,
    }
}

/// Parses JSON, naming the path of the offending field on error.
pub(crate) fn decode_json<T: serde::de::DeserializeOwned>(
    body: &[u8],
    what: &'static str,
    url: Option<&str>,
) -> Result<T, Error> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let result: Result<T, _> = serde_path_to_error::deserialize(&mut de);
    let failure = match result {
        Ok(value) => match de.end() {
            Ok(()) => return Ok(value),
            Err(e) => ("document".to_owned(), e.to_string()),
        },
        Err(e) => {
            let path = match e.path().to_string() {
                p if p == "." || p.is_empty() => "document".to_owned(),
                p => p,
            };
            (path, e.into_inner().to_string())
        }
    };
    let (path, reason) = failure;
    Err({
        match url {
            Some(url) => Error::Decode {
                what,
                url: url.to_owned(),
                path,
                reason,
                excerpt: excerpt(body),
            },
            None => Error::InvalidDocument { what, path, reason },
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_code_and_message_are_surfaced() {
        let err = api_error(
            400,
            "http://x/list",
            br#"{"code":"invalid_org","message":"org must be a UUID"}"#,
        );
        assert_eq!(err.status(), Some(400));
        assert_eq!(err.code(), Some("invalid_org"));
        assert_eq!(err.message(), "org must be a UUID");
        assert_eq!(
            err.to_string(),
            "HTTP 400 from http://x/list: invalid_org: org must be a UUID"
        );
    }

    #[test]
    fn rfc7807_problem_details_are_understood() {
        let err = api_error(
            400,
            "u",
            br#"{"type":"https://procurize.com/errors/bad-version","title":"Bad version","detail":"maxver is not a version","status":400}"#,
        );
        assert_eq!(err.code(), Some("https://procurize.com/errors/bad-version"));
        assert_eq!(err.message(), "Bad version: maxver is not a version");
    }

    #[test]
    fn an_html_page_becomes_a_short_excerpt() {
        let page = format!(
            "<!DOCTYPE html><html><head><title>500 Internal Server Error</title><style>body {{ color: red }}</style></head><body><h1>Internal Server Error</h1><p>{}</p></body></html>",
            "The server encountered an unexpected condition. ".repeat(40)
        );
        let err = api_error(500, "https://api.example/list", page.as_bytes());
        let text = err.to_string();
        assert!(text.starts_with("HTTP 500 from https://api.example/list: 500 Internal Server Error Internal Server Error The server"), "{text}");
        assert!(!text.contains('<'), "{text}");
        assert!(!text.contains("color"), "{text}");
        assert!(text.chars().count() < 250, "{text}");
    }

    #[test]
    fn plain_text_is_the_message() {
        let err = api_error(503, "u", b"upstream unavailable\n");
        assert_eq!(err.code(), None);
        assert_eq!(err.to_string(), "HTTP 503 from u: upstream unavailable");
    }

    #[test]
    fn trailing_garbage_in_a_document_is_reported() {
        let err = decode_json::<serde_json::Value>(b"{} x", "thing", None).expect_err("garbage");
        assert!(err.to_string().contains("trailing characters"), "{err}");
    }
}
