//! Where a Jira channel remembers the issues it created: Jira's search does not show an issue
//! until it is indexed, so a redelivery seconds later would open a second one without a record.
//!
//! The CLI keeps it in a JSON file per channel ([`FileIssueRecord`], `record` in the channel's
//! configuration, default `jira-issues.json`); the workflow service keeps it in its store, so
//! that every replica sees what any of them created.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;

/// The record of created issues, by channel and fingerprint label.
#[async_trait::async_trait]
pub trait IssueRecord: Send + Sync + 'static {
    /// The issue created for `label` by the channel `channel`, if any.
    async fn issue(&self, channel: &str, label: &str) -> Result<Option<String>, String>;

    /// Records that `channel` created `key` for `label` (replacing an earlier one).
    async fn remember(&self, channel: &str, label: &str, key: &str) -> Result<(), String>;
}

/// The record in a JSON file (`{"<label>": "<key>"}`), written atomically.
#[derive(Debug)]
pub struct FileIssueRecord {
    path: PathBuf,
    /// Serialises updates (deliveries run concurrently).
    lock: Mutex<()>,
}

impl FileIssueRecord {
    /// The record at `path`, which need not exist yet.
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            lock: Mutex::new(()),
        }
    }

    fn read(&self) -> BTreeMap<String, String> {
        std::fs::read_to_string(&self.path)
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default()
    }
}

#[async_trait::async_trait]
impl IssueRecord for FileIssueRecord {
    async fn issue(&self, _channel: &str, label: &str) -> Result<Option<String>, String> {
        Ok(self.read().get(label).cloned())
    }

    async fn remember(&self, _channel: &str, label: &str, key: &str) -> Result<(), String> {
        let _guard = self
            .lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut record = self.read();
        record.insert(label.to_owned(), key.to_owned());
        let bytes = serde_json::to_vec_pretty(&record).unwrap_or_default();
        procurize_core::fs::write_atomic(&self.path, &bytes).map_err(|e| e.to_string())
    }
}
