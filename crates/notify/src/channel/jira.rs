//! The Jira channel: one issue per fingerprint. A repeat of an event comments on the open issue
//! instead of creating a duplicate; once that issue is resolved, a new one is created.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};

use super::Failure;
use crate::NotifyError;
use crate::config::{JiraConfig, JiraDeployment};
use crate::event::Event;
use crate::record::{FileIssueRecord, IssueRecord};
use crate::templates::Templates;

pub(crate) struct JiraChannel {
    base: String,
    project: String,
    issue_type: String,
    labels: Vec<String>,
    authorization: String,
    http: reqwest::Client,
    search: jira_query::JiraInstance,
    /// The channel's name, the record's key with the label.
    name: String,
    record: Arc<dyn IssueRecord>,
    /// What else to check when Jira refuses the credentials, by deployment.
    credentials_hint: &'static str,
}

/// The label that ties an issue to an event.
pub(crate) fn fingerprint_label(fingerprint: &str) -> String {
    format!("procurize-{}", &fingerprint[..16.min(fingerprint.len())])
}

/// Percent-encodes a JQL query for a URL (jira_query sends it as given).
fn encode_query(jql: &str) -> String {
    url::form_urlencoded::byte_serialize(jql.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

impl JiraChannel {
    pub(crate) fn build(
        name: &str,
        config: &JiraConfig,
        timeout: Duration,
    ) -> Result<Self, NotifyError> {
        let bad = |what: String| NotifyError::Config(format!("channel `{name}`: {what}"));
        let token =
            procurize_core::SecretSource::new(config.token_env.clone(), config.token_file.clone())
                .read_as(["token_env", "token_file"])
                .map_err(|e| bad(e.to_string()))?;
        let base = config.url.trim_end_matches('/').to_owned();
        url::Url::parse(&base).map_err(|e| bad(format!("`url` {base}: {e}")))?;
        let (authorization, auth) = match (config.deployment, &config.email) {
            (JiraDeployment::Cloud, Some(email)) => (
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(format!("{email}:{token}"))
                ),
                jira_query::Auth::Basic {
                    user: email.clone(),
                    password: token,
                },
            ),
            (JiraDeployment::Cloud, None) => {
                return Err(bad("Jira Cloud needs `email` (with an API token)".into()));
            }
            (JiraDeployment::DataCenter, _) => {
                (format!("Bearer {token}"), jira_query::Auth::ApiKey(token))
            }
        };
        let http = procurize_core::tls::reqwest_builder(&procurize_core::tls::ExtraRoots::none())
            .map_err(|e| bad(e.to_string()))?
            .timeout(timeout)
            .build()
            .map_err(|e| bad(format!("cannot set up HTTP: {e}")))?;
        let mut search = jira_query::JiraInstance::at(base.clone())
            .map_err(|e| bad(format!("`url` {base}: {e}")))?
            .authenticate(auth)
            .with_client(http.clone());
        if config.deployment == JiraDeployment::Cloud {
            search = search.for_cloud();
        }
        let credentials_hint = match config.deployment {
            JiraDeployment::Cloud => " and `email` (Jira Cloud takes an API token of that account)",
            JiraDeployment::DataCenter => " (Jira Data Center takes a personal access token)",
        };
        Ok(Self {
            base,
            credentials_hint,
            project: config.project.clone(),
            issue_type: config.issue_type.clone(),
            labels: config.labels.clone(),
            authorization,
            http,
            search,
            name: name.to_owned(),
            record: Arc::new(FileIssueRecord::new(
                config
                    .record
                    .clone()
                    .unwrap_or_else(|| "jira-issues.json".into()),
            )),
        })
    }

    pub(crate) async fn healthcheck(&self) -> Result<String, String> {
        self.search
            .verify_authentication()
            .await
            .map(|()| format!("authenticated at {}", self.base))
            .map_err(|e| match e {
                // jira_query's own text names environment variables we do not use.
                jira_query::JiraQueryError::AuthenticationFailed { status, message } => format!(
                    "Jira refused the channel's credentials (HTTP {status}: {}); check `token_env` or `token_file`{}",
                    message.trim(),
                    self.credentials_hint
                ),
                other => format!(
                    "Jira is unreachable: {}",
                    procurize_core::error_chain(&other)
                ),
            })
    }

    /// Keeps the record of created issues in `record` instead of the configured file.
    pub(crate) fn use_record(&mut self, record: Arc<dyn IssueRecord>) {
        self.record = record;
    }

    fn record_failure(e: String) -> Failure {
        Failure {
            reason: format!("the record of created Jira issues: {e}"),
            retry: true,
            retry_after: None,
        }
    }

    /// The open issue carrying `label`: from Jira's search, or from the local record for an issue
    /// created so recently that search does not show it yet. `None` when there is none, or only
    /// resolved ones.
    async fn open_issue(&self, label: &str) -> Result<Option<String>, Failure> {
        let jql = format!(
            "project = \"{}\" AND labels = \"{label}\" ORDER BY created DESC",
            self.project
        );
        let issues = self
            .search
            .search(&encode_query(&jql))
            .await
            .map_err(|e| Failure {
                reason: format!("Jira search failed: {e}"),
                retry: true,
                retry_after: None,
            })?;
        if let Some(open) = issues.iter().find(|i| i.fields.resolution.is_none()) {
            return Ok(Some(open.key.clone()));
        }
        let recorded = self
            .record
            .issue(&self.name, label)
            .await
            .map_err(Self::record_failure)?;
        match recorded {
            // Search saw it and it is resolved: a new issue is due.
            Some(key) if issues.iter().any(|i| i.key == key) => Ok(None),
            // Not indexed yet: trust the record.
            Some(key) => Ok(Some(key)),
            None => Ok(None),
        }
    }

    async fn post(&self, path: &str, body: &Value) -> Result<Value, Failure> {
        let url = format!("{}/rest/api/2/{path}", self.base);
        let response = self
            .http
            .post(&url)
            .header(reqwest::header::AUTHORIZATION, &self.authorization)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(reqwest::header::ACCEPT, "application/json")
            .body(serde_json::to_vec(body).unwrap_or_default())
            .send()
            .await
            .map_err(|e| Failure {
                reason: format!("cannot reach Jira: {}", procurize_core::error_chain(&e)),
                retry: true,
                retry_after: None,
            })?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        if !status.is_success() {
            let detail: String = text.chars().take(300).collect();
            return Err(Failure {
                reason: format!("Jira answered HTTP {}: {detail}", status.as_u16()),
                retry: status.is_server_error() || status.as_u16() == 429,
                retry_after: None,
            });
        }
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// The issue this channel creates: what `send` posts, and what a dry run shows.
    fn new_issue(&self, summary: &str, description: &str, label: &str) -> Value {
        let mut labels = vec!["procurize".to_owned(), label.to_owned()];
        labels.extend(self.labels.iter().cloned());
        json!({
            "fields": {
                "project": { "key": self.project },
                "issuetype": { "name": self.issue_type },
                "summary": summary.trim(),
                "description": description,
                "labels": labels,
            }
        })
    }

    /// The issue `send` would create for `event` (a repeat comments with its description
    /// instead), as pretty JSON.
    pub(crate) fn render(
        &self,
        templates: &Templates,
        event: &Event,
    ) -> Result<Vec<u8>, NotifyError> {
        let summary = templates.render("jira", "summary", event)?;
        let description = templates.render("jira", "description", event)?;
        let issue = self.new_issue(
            &summary,
            &description,
            &fingerprint_label(&event.fingerprint),
        );
        super::pretty_json(&issue)
    }

    pub(crate) async fn send(
        &self,
        templates: &Templates,
        event: &Event,
    ) -> Result<String, Failure> {
        let render = |part| {
            templates
                .render("jira", part, event)
                .map_err(|e| Failure::fatal(e.to_string()))
        };
        let summary = render("summary")?;
        let description = render("description")?;
        let label = fingerprint_label(&event.fingerprint);
        if let Some(key) = self.open_issue(&label).await? {
            self.post(
                &format!("issue/{key}/comment"),
                &json!({ "body": description }),
            )
            .await?;
            return Ok(format!("commented on {key}"));
        }
        let created = self
            .post("issue", &self.new_issue(&summary, &description, &label))
            .await?;
        let key = created["key"].as_str().unwrap_or_default().to_owned();
        if key.is_empty() {
            return Err(Failure::fatal(
                "Jira created the issue but did not say its key",
            ));
        }
        // The issue exists now: failing the delivery would have a retry create another.
        match self.record.remember(&self.name, &label, &key).await {
            Ok(()) => Ok(format!("created {key}")),
            Err(e) => Ok(format!(
                "created {key} (not recorded, a redelivery before Jira indexes it may create another: {e})"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jql_is_percent_encoded_for_the_url() {
        assert_eq!(
            encode_query("labels = \"procurize-0123\" ORDER BY created DESC"),
            "labels%20%3D%20%22procurize-0123%22%20ORDER%20BY%20created%20DESC"
        );
    }
}
