//! `procurize-review`: the gate's verdict as one comment on the pull request (GitHub) or merge
//! request (GitLab) a pipeline runs for, edited in place on every run.
//!
//! Reviewers look at the pull request, not at the job summary. [`post`] finds the comment an
//! earlier run left (a hidden marker per [`Scope`], written by the token's own identity, searched
//! through every page of comments), edits it, or creates it when there is none: a pull request
//! carries exactly one comment per scope, however many times the pipeline runs. A gate that passes
//! after failing says so.
//!
//! This is the only crate that talks to GitHub's and GitLab's REST APIs; `procurize-gate` stays
//! free of I/O and hands over rendered Markdown. Each forge is one module owning its environment,
//! its request shapes and its pagination. Nothing here prints: the caller turns a
//! [`ReviewError`] into a warning, and a failure here never changes the gate's verdict.

mod github;
mod gitlab;
mod http;
mod marker;

use std::time::Duration;

pub use github::PullRequest;
pub use gitlab::MergeRequest;
pub use marker::Scope;
use procurize_gate::Status;

/// Where the comment goes.
#[derive(Debug, Clone)]
pub enum Target {
    /// A GitHub pull request (Actions).
    GitHub(PullRequest),
    /// A GitLab merge request (a merge request pipeline).
    GitLab(MergeRequest),
}

/// What the CI environment says about where a comment could go.
#[derive(Debug, Clone)]
pub enum Detected {
    /// A pull or merge request to comment on.
    Target(Target),
    /// Not a pull or merge request pipeline; the reason, for a one-line notice.
    NotAReview(String),
}

impl Target {
    /// Reads the CI environment through `var`: GitHub Actions when `GITHUB_ACTIONS=true`, GitLab
    /// CI when `GITLAB_CI=true`. A pipeline that is not for a pull or merge request is
    /// [`Detected::NotAReview`]; one that is but lacks what a comment needs (the token, the
    /// repository) is an error naming the variable.
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Detected, ReviewError> {
        let set = |name: &str| var(name).is_some_and(|v| v == "true");
        if set("GITHUB_ACTIONS") {
            PullRequest::from_env(&var)
        } else if set("GITLAB_CI") {
            MergeRequest::from_env(&var)
        } else {
            Ok(Detected::NotAReview(
                "not running in GitHub Actions or GitLab CI".into(),
            ))
        }
    }

    /// `pull request owner/name#12`, `merge request !7 of project 42`.
    pub fn describe(&self) -> String {
        match self {
            Target::GitHub(pr) => pr.describe(),
            Target::GitLab(mr) => mr.describe(),
        }
    }
}

/// The comment to post.
#[derive(Debug, Clone, Copy)]
pub struct Comment<'a> {
    /// Which gate this is: one comment per scope.
    pub scope: &'a Scope,
    /// The verdict, kept in the marker so the next run can tell a fix from a first pass.
    pub status: Status,
    /// The gate's Markdown.
    pub markdown: &'a str,
}

/// What [`post`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Posted {
    /// No earlier comment of this scope: a new one.
    Created {
        /// Where it can be seen, when the forge says.
        url: Option<String>,
    },
    /// The earlier comment, edited.
    Updated {
        /// Where it can be seen, when the forge says.
        url: Option<String>,
    },
}

impl Posted {
    fn new(edited: bool, url: Option<String>) -> Self {
        if edited {
            Posted::Updated { url }
        } else {
            Posted::Created { url }
        }
    }
}

/// Creates or edits the comment of `comment.scope` on `target`, each request bounded by
/// `timeout`.
pub async fn post(
    target: &Target,
    comment: &Comment<'_>,
    timeout: Duration,
) -> Result<Posted, ReviewError> {
    let http = http::Http::new(timeout)?;
    match target {
        Target::GitHub(pr) => github::upsert(&http, pr, comment).await,
        Target::GitLab(mr) => gitlab::upsert(&http, mr, comment).await,
    }
}

/// What can go wrong. None of it shows a token.
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    /// The environment lacks something a comment needs.
    #[error("{0}")]
    Config(String),
    /// The event file (`GITHUB_EVENT_PATH`) cannot be read or is not the JSON GitHub writes.
    #[error("the event file {path}: {reason}")]
    Event {
        /// Its path.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The forge answered with an error status.
    #[error("{service} answered {method} {url} with HTTP {status}: {message}")]
    Http {
        /// `GitHub` or `GitLab`.
        service: &'static str,
        /// The request's method.
        method: &'static str,
        /// The request's URL (tokens travel in headers, never here).
        url: String,
        /// The status.
        status: u16,
        /// The forge's own message, or an excerpt of the body.
        message: String,
    },
    /// The request did not complete: connection, TLS, time-out.
    #[error("{service}: {method} {url} failed: {detail}")]
    Transport {
        /// `GitHub` or `GitLab`.
        service: &'static str,
        /// The request's method.
        method: &'static str,
        /// The request's URL.
        url: String,
        /// The cause, with its chain.
        detail: String,
    },
    /// A 2xx answer that is not what the documented API returns.
    #[error("{service}: {method} {url} returned an unexpected body: {reason}")]
    Response {
        /// `GitHub` or `GitLab`.
        service: &'static str,
        /// The request's method.
        method: &'static str,
        /// The request's URL.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl ReviewError {
    /// Whether trying again later could succeed: time-outs, connection failures, 429 and 5xx.
    /// A missing token, a 401/403/404 or a malformed answer will not change by itself.
    pub fn is_retryable(&self) -> bool {
        match self {
            ReviewError::Transport { .. } => true,
            ReviewError::Http { status, .. } => *status == 429 || *status >= 500,
            ReviewError::Config(_) | ReviewError::Event { .. } | ReviewError::Response { .. } => {
                false
            }
        }
    }
}

/// A token. Its `Debug` never shows it.
#[derive(Clone)]
pub(crate) struct Token(String);

impl Token {
    /// A non-empty token from `variable`, else an error naming the variable and `hint`.
    pub(crate) fn from_env(
        var: &impl Fn(&str) -> Option<String>,
        variable: &str,
        hint: &str,
    ) -> Result<Self, ReviewError> {
        match var(variable) {
            Some(value) if !value.trim().is_empty() => Ok(Token(value.trim().to_owned())),
            _ => Err(ReviewError::Config(format!(
                "{variable} is not set; {hint}"
            ))),
        }
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// A required variable, else an error naming it.
pub(crate) fn required(
    var: &impl Fn(&str) -> Option<String>,
    variable: &str,
) -> Result<String, ReviewError> {
    var(variable)
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| ReviewError::Config(format!("{variable} is not set")))
}
