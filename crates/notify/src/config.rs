//! The notifier's configuration: channels and routing rules, in strict TOML.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use procurize_core::SecurityRating;
use serde::Deserialize;

use crate::NotifyError;
use crate::event::{Event, EventKind};

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// A folder of templates overriding the defaults (relative to the config file).
    #[serde(default)]
    pub templates: Option<PathBuf>,
    /// How long one delivery attempt may take, in seconds (default 10).
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
    /// Attempts per delivery, including the first (default 3).
    #[serde(default = "default_attempts")]
    pub attempts: u32,
    /// The channels, by name.
    pub channels: BTreeMap<String, ChannelConfig>,
    /// Which events go to which channels.
    #[serde(default, rename = "route")]
    pub routes: Vec<Route>,
}

fn default_timeout() -> u64 {
    10
}

fn default_attempts() -> u32 {
    3
}

/// A channel: one of a closed set, tagged by `type`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ChannelConfig {
    /// E-mail over SMTP.
    Email(EmailConfig),
    /// Slack: a bot token and channel (`chat.postMessage`), or an incoming webhook.
    Slack(SlackConfig),
    /// Jira: an issue per fingerprint; a repeat comments on the open issue instead.
    Jira(JiraConfig),
    /// Rendered messages written into a folder.
    File(FileConfig),
    /// Every event POSTed as JSON to a receiver of your own, signed per Standard Webhooks.
    Webhook(WebhookConfig),
}

/// A receiver of your own (a GRC tool, a SIEM, an in-house service): each event POSTed as JSON
/// (`schemaVersion` 1) and signed per Standard Webhooks (`webhook-id`, stable across the retries
/// of one event, `webhook-timestamp`, `webhook-signature: v1,…`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Where to POST, `https://…` (plain `http://` works, for tests and internal receivers).
    pub url: String,
    /// The environment variable holding the signing secret (`whsec_…`, base64 after the prefix).
    #[serde(default)]
    pub secret_env: Option<String>,
    /// Or a file holding it (relative to the config file).
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
}

/// Which Jira and how it authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JiraDeployment {
    /// Jira Cloud: e-mail and API token (basic auth); search at `/rest/api/2/search/jql`.
    Cloud,
    /// Jira Data Center / Server: a personal access token (bearer); search at
    /// `/rest/api/2/search`.
    DataCenter,
}

/// Jira: creates an issue with `POST /rest/api/2/issue`, or comments on the open issue that
/// already carries the event's fingerprint label (found with a JQL search through jira_query, and
/// in a local record of the issues created, since Jira's search is eventually consistent).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JiraConfig {
    /// The site, e.g. `https://example.atlassian.net`.
    pub url: String,
    /// Cloud or Data Center.
    pub deployment: JiraDeployment,
    /// The project key, e.g. `SEC`.
    pub project: String,
    /// The issue type (default `Bug`).
    #[serde(default = "default_issue_type")]
    pub issue_type: String,
    /// The account's e-mail (Cloud only).
    #[serde(default)]
    pub email: Option<String>,
    /// The environment variable holding the API token (Cloud) or personal access token (DC).
    #[serde(default)]
    pub token_env: Option<String>,
    /// Or a file holding it.
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// Labels added to every issue, besides `procurize` and the fingerprint label.
    #[serde(default)]
    pub labels: Vec<String>,
    /// The local record of created issues (default `jira-issues.json` beside the config).
    #[serde(default)]
    pub record: Option<PathBuf>,
}

fn default_issue_type() -> String {
    "Bug".into()
}

/// Slack (slack-morphism): `token_env` + `channel` for `chat.postMessage` with Block Kit blocks,
/// or `webhook_url_env` for an incoming webhook.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackConfig {
    /// The environment variable holding the bot token (`xoxb-…`).
    #[serde(default)]
    pub token_env: Option<String>,
    /// Or a file holding it (relative to the config file).
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// The channel to post to, e.g. `#security` or `C0123456789`.
    #[serde(default)]
    pub channel: Option<String>,
    /// Or: the environment variable holding an incoming-webhook URL (a secret too).
    #[serde(default)]
    pub webhook_url_env: Option<String>,
    /// Or a file holding it.
    #[serde(default)]
    pub webhook_url_file: Option<PathBuf>,
    /// The Web API's base URL (default `https://slack.com/api`; plain HTTP works, for tests).
    #[serde(default)]
    pub api_url: Option<String>,
}

/// E-mail over SMTP (lettre).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    /// `smtp://host:port` (no TLS, for a local relay), `smtp://host:587?tls=required` (STARTTLS)
    /// or `smtps://host:465` (TLS).
    pub url: String,
    /// The sender, e.g. `Procurize <security@example.com>`.
    pub from: String,
    /// The recipients.
    pub to: Vec<String>,
    /// The SMTP user, when the server wants authentication.
    #[serde(default)]
    pub username: Option<String>,
    /// The environment variable holding the SMTP password.
    #[serde(default)]
    pub password_env: Option<String>,
    /// Or a file holding it.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
}

/// Rendered messages written into a folder: `.eml` for e-mail, `.json` for Slack and Jira
/// payloads. For audit trails, dry runs and offline demos.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// The folder (relative to the config file).
    pub folder: PathBuf,
    /// Which channel's message to write: `email`, `slack` or `jira`.
    pub format: FileFormat,
    /// For `email`: the sender, as an e-mail channel's `from` (default
    /// `Procurize <procurize@localhost>`). With the same `from` and `to` as an e-mail channel,
    /// the file holds the message that channel sends.
    #[serde(default)]
    pub from: Option<String>,
    /// For `email`: the recipients (default `audit <audit@localhost>`).
    #[serde(default)]
    pub to: Vec<String>,
}

/// The message a file channel writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileFormat {
    /// An RFC 5322 message (`.eml`).
    Email,
    /// A Slack `chat.postMessage` payload (`.json`).
    Slack,
    /// A Jira issue-create payload (`.json`).
    Jira,
}

/// A routing rule: events that match go to the listed channels.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// The channels, by name.
    pub channels: Vec<String>,
    /// Only these events (default: all).
    #[serde(default)]
    pub events: Vec<EventKind>,
    /// Only projects matching one of these globs (`*` and `?`; default: all).
    #[serde(default)]
    pub projects: Vec<String>,
    /// Only reports rated this or worse (default: any; events without a rating pass).
    #[serde(default)]
    pub rating_at_or_below: Option<SecurityRating>,
}

impl Route {
    /// Whether `event` matches the rule.
    pub fn matches(&self, event: &Event) -> bool {
        (self.events.is_empty() || self.events.contains(&event.kind))
            && (self.projects.is_empty()
                || event
                    .project
                    .as_deref()
                    .is_some_and(|p| self.projects.iter().any(|g| glob(g, p))))
            && self
                .rating_at_or_below
                .is_none_or(|limit| event.rating.is_none_or(|r| r >= limit))
    }
}

/// `*` matches any run of characters, `?` any one character.
pub fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

impl Config {
    /// Reads a configuration file: strict, with errors naming the file, the line and the key.
    pub fn from_file(path: &Path) -> Result<Self, NotifyError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| NotifyError::Config(format!("cannot read {}: {e}", path.display())))?;
        let origin = path.display().to_string();
        let config: Self = procurize_core::config::parse_toml(&text, &origin)
            .map_err(|e| NotifyError::Config(e.to_string()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        config.resolve(base, &text, &origin, "")
    }

    /// Finishes a configuration read as part of a larger file: makes its paths relative to
    /// `base` (the file's folder) and checks what parsing cannot (routes name defined channels,
    /// at least one attempt). `text` and `origin` locate errors; `prefix` is the tables' prefix in
    /// that file (`notify.` when the notifier's tables are `[notify.channels.x]`).
    pub fn resolve(
        mut self,
        base: &Path,
        text: &str,
        origin: &str,
        prefix: &str,
    ) -> Result<Self, NotifyError> {
        let config = &mut self;
        config.templates = config.templates.take().map(|t| base.join(t));
        for channel in config.channels.values_mut() {
            match channel {
                ChannelConfig::File(file) => file.folder = base.join(&file.folder),
                ChannelConfig::Webhook(webhook) => {
                    webhook.secret_file = webhook.secret_file.as_ref().map(|p| base.join(p));
                }
                ChannelConfig::Email(email) => {
                    email.password_file = email.password_file.as_ref().map(|p| base.join(p))
                }
                ChannelConfig::Jira(jira) => {
                    jira.token_file = jira.token_file.as_ref().map(|p| base.join(p));
                    jira.record = Some(
                        base.join(
                            jira.record
                                .clone()
                                .unwrap_or_else(|| "jira-issues.json".into()),
                        ),
                    );
                }
                ChannelConfig::Slack(slack) => {
                    slack.token_file = slack.token_file.as_ref().map(|p| base.join(p));
                    slack.webhook_url_file = slack.webhook_url_file.as_ref().map(|p| base.join(p));
                }
            }
        }
        for (index, route) in config.routes.iter().enumerate() {
            let line = procurize_core::config::table_line(text, &format!("{prefix}route"), index);
            if route.channels.is_empty() {
                return Err(NotifyError::Config(format!(
                    "{origin}:{line}: a [[{prefix}route]] needs `channels`"
                )));
            }
            for name in &route.channels {
                if !config.channels.contains_key(name) {
                    return Err(NotifyError::Config(format!(
                        "{origin}:{line}: the route names channel `{name}`, which [{prefix}channels] does not define"
                    )));
                }
            }
        }
        if config.attempts == 0 {
            return Err(NotifyError::Config(format!(
                "{origin}: `{prefix}attempts` must be at least 1"
            )));
        }
        Ok(self)
    }

    /// The channels an event goes to, each once, in name order.
    pub fn channels_for(&self, event: &Event) -> Vec<&str> {
        let mut names: Vec<&str> = self
            .routes
            .iter()
            .filter(|r| r.matches(event))
            .flat_map(|r| r.channels.iter().map(String::as_str))
            .collect();
        names.sort_unstable();
        names.dedup();
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_like_a_shell() {
        assert!(glob("Payments*", "Payments API"));
        assert!(glob("*API", "Payments API"));
        assert!(glob("会計*", "会計ポータル"));
        assert!(glob("?est product", "Test product"));
        assert!(!glob("Payments*", "Test product"));
        assert!(glob("*", ""));
        assert!(!glob("a?", "a"));
    }
}
