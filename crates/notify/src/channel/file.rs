//! The file channel: each message written as a file named by the event (an `.eml`, or the
//! JSON a Slack or Jira channel would post), for audits and for tests.

use std::path::PathBuf;
use std::time::SystemTime;

use lettre::message::Mailbox;
use serde_json::json;

use super::Failure;
use crate::NotifyError;
use crate::config::{FileConfig, FileFormat};
use crate::event::Event;
use crate::templates::Templates;

/// The sender of an `.eml` when the channel names none.
const DEFAULT_FROM: &str = "Procurize <procurize@localhost>";
/// The recipient of an `.eml` when the channel names none.
const DEFAULT_TO: &str = "audit <audit@localhost>";

/// A ready file channel.
pub(crate) struct FileChannel {
    folder: PathBuf,
    format: FileFormat,
    /// For `.eml` files: the sender and recipients written in them.
    from: Mailbox,
    to: Vec<Mailbox>,
}

impl FileChannel {
    pub(super) fn build(name: &str, config: &FileConfig) -> Result<Self, NotifyError> {
        let bad = |what: String| NotifyError::Config(format!("channel `{name}`: {what}"));
        let from = config.from.as_deref().unwrap_or(DEFAULT_FROM);
        let from: Mailbox = from
            .parse()
            .map_err(|e| bad(format!("`from` {from}: {e}")))?;
        let to = if config.to.is_empty() {
            vec![DEFAULT_TO.to_owned()]
        } else {
            config.to.clone()
        };
        let to = to
            .iter()
            .map(|t| {
                t.parse::<Mailbox>()
                    .map_err(|e| bad(format!("`to` {t}: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            folder: config.folder.clone(),
            format: config.format,
            from,
            to,
        })
    }

    /// Whether the folder can be written.
    pub(super) fn healthcheck(&self) -> Result<String, String> {
        std::fs::create_dir_all(&self.folder)
            .and_then(|()| tempfile::tempfile_in(&self.folder).map(drop))
            .map(|()| format!("{} is writable", self.folder.display()))
            .map_err(|e| format!("{} is not writable: {e}", self.folder.display()))
    }

    /// The file's content for `event`: the e-mail as the e-mail channel composes it (dated
    /// now), or the JSON the Slack or Jira channel posts.
    pub(super) fn render(
        &self,
        templates: &Templates,
        event: &Event,
    ) -> Result<Vec<u8>, NotifyError> {
        let value = match self.format {
            FileFormat::Email => {
                let message = super::email::compose(
                    templates,
                    event,
                    &self.from,
                    &self.to,
                    SystemTime::now(),
                )?;
                return Ok(message.formatted());
            }
            FileFormat::Slack => super::slack::payload(templates, event)?,
            FileFormat::Jira => json!({
                "fields": {
                    "summary": templates.render("jira", "summary", event)?.trim(),
                    "description": templates.render("jira", "description", event)?,
                    "labels": ["procurize", super::jira::fingerprint_label(&event.fingerprint)],
                },
            }),
        };
        super::pretty_json(&value)
    }

    /// Writes the file for `event` (whole: a temporary file renamed into place).
    pub(super) fn send(&self, templates: &Templates, event: &Event) -> Result<String, Failure> {
        let bytes = self
            .render(templates, event)
            .map_err(|e| Failure::fatal(e.to_string()))?;
        let extension = if self.format == FileFormat::Email {
            "eml"
        } else {
            "json"
        };
        let path = self.folder.join(format!(
            "{}.{}.{extension}",
            event.fingerprint,
            event.kind.as_str()
        ));
        std::fs::create_dir_all(&self.folder)
            .map_err(|e| Failure::fatal(format!("cannot create {}: {e}", self.folder.display())))?;
        procurize_core::fs::write_atomic(&path, &bytes)
            .map_err(|e| Failure::fatal(e.to_string()))?;
        Ok(format!("wrote {}", path.display()))
    }
}
