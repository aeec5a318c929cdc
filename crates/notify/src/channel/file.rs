//! The file channel: each message written as a file named by the event (an `.eml`, or the
//! JSON a Slack or Jira channel would post), for audits and for tests.

use std::path::PathBuf;

use lettre::Message;
use lettre::message::MultiPart;
use serde_json::json;

use super::Failure;
use crate::NotifyError;
use crate::config::FileFormat;
use crate::event::Event;
use crate::templates::Templates;

/// A ready file channel.
pub(crate) struct FileChannel {
    pub(super) folder: PathBuf,
    pub(super) format: FileFormat,
}

impl FileChannel {
    /// Whether the folder can be written.
    pub(super) fn healthcheck(&self) -> Result<String, String> {
        std::fs::create_dir_all(&self.folder)
            .and_then(|()| tempfile::tempfile_in(&self.folder).map(drop))
            .map(|()| format!("{} is writable", self.folder.display()))
            .map_err(|e| format!("{} is not writable: {e}", self.folder.display()))
    }

    /// The file's content for `event`.
    pub(super) fn render(
        &self,
        templates: &Templates,
        event: &Event,
    ) -> Result<Vec<u8>, NotifyError> {
        render_format(self.format, templates, event)
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

pub(super) fn render_format(
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
