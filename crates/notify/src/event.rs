//! Events: what a notification is about. Read from the gate's JSON outcome or from a webhook
//! payload (the list response's shape).

use procurize_core::{ReportList, SecurityRating, Uuid};
use procurize_gate::render::GateDocument;
use procurize_gate::{Problem, Status};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::NotifyError;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A quality gate failed on a rule or a missing report.
    GateFailed,
    /// A quality gate let something through with a warning.
    GateWarned,
    /// A report was ingested or updated on the platform.
    ReportPublished,
}

impl EventKind {
    /// Every kind.
    pub const ALL: [EventKind; 3] = [Self::GateFailed, Self::GateWarned, Self::ReportPublished];

    /// `gate_failed`, `gate_warned` or `report_published`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::GateFailed => "gate_failed",
            Self::GateWarned => "gate_warned",
            Self::ReportPublished => "report_published",
        }
    }
}

impl std::str::FromStr for EventKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                format!("`{s}` is not an event (gate_failed, gate_warned, report_published)")
            })
    }
}

/// One thing to tell people about. Templates see these fields by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Event {
    /// What happened.
    pub kind: EventKind,
    /// A stable identity (hex SHA-256 of organization, project, version, report type and rule),
    /// the same in every channel and every run: it deduplicates Jira issues and names e-mails.
    pub fingerprint: String,
    /// The organization.
    pub organization: Uuid,
    /// The project, when the event concerns one.
    pub project: Option<String>,
    /// The product version.
    pub version: Option<String>,
    /// The report type.
    pub report_type: Option<String>,
    /// The report type's edition.
    pub report_version: Option<String>,
    /// The gate rule, for gate events.
    pub rule: Option<String>,
    /// The security rating, when a report is concerned.
    pub rating: Option<SecurityRating>,
    /// The vulnerability count, when a report is concerned.
    pub vulnerabilities: Option<u64>,
    /// The report's ID.
    pub report_id: Option<Uuid>,
    /// One line: what and why.
    pub summary: String,
    /// The versions the gate was asked about, for gate events.
    pub filter: Option<String>,
}

fn fingerprint(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0u8]);
    }
    hex::encode(hasher.finalize())
}

/// Reads events from the gate's JSON outcome (one event per failed or warned rule and per
/// missing report) or from a webhook payload (one `report_published` per report).
pub fn events_from_json(bytes: &[u8]) -> Result<Vec<Event>, NotifyError> {
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| NotifyError::Input(format!("the event is not JSON: {e}")))?;
    if value.get("schemaVersion").is_some() {
        let document: GateDocument = serde_json::from_value(value)
            .map_err(|e| NotifyError::Input(format!("the gate outcome is not valid: {e}")))?;
        Ok(from_gate(&document))
    } else if value.get("organizationId").is_some() {
        let list = ReportList::from_json(bytes).map_err(|e| NotifyError::Input(e.to_string()))?;
        Ok(from_payload(&list))
    } else {
        Err(NotifyError::Input(
            "the event is neither the gate's JSON outcome (`procurize gate --json`) nor a webhook payload".into(),
        ))
    }
}

/// One event per problem of a gate outcome.
pub fn from_gate(document: &GateDocument) -> Vec<Event> {
    let filter = [
        document
            .filter
            .version
            .as_ref()
            .map(|v| format!("version = {v}")),
        document
            .filter
            .min_version
            .as_ref()
            .map(|v| format!("version >= {v}")),
        document
            .filter
            .max_version
            .as_ref()
            .map(|v| format!("version <= {v}")),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(", ");
    document
        .outcome
        .problems()
        .iter()
        .map(|problem| {
            let kind = if problem.status() == Status::Fail {
                EventKind::GateFailed
            } else {
                EventKind::GateWarned
            };
            let (project, version, report_type, report_version, rating, vulnerabilities, report_id) = match problem {
                Problem::Rule { report, .. } => {
                    let r = &report.report;
                    (
                        Some(r.project_name.clone()),
                        Some(r.project_version.to_string()),
                        Some(r.report_type.clone()),
                        Some(r.report_version.to_string()),
                        Some(r.security_rating),
                        Some(r.vulnerabilities_count),
                        Some(r.id),
                    )
                }
                Problem::Missing(m) => (
                    m.project_name.clone(),
                    m.project_version.clone(),
                    m.report_type.clone(),
                    m.min_report_version.clone(),
                    None,
                    None,
                    None,
                ),
            };
            Event {
                kind,
                fingerprint: problem.fingerprint(&document.organization),
                organization: document.organization,
                project,
                version,
                report_type,
                report_version,
                rule: Some(problem.rule().as_str().to_owned()),
                rating,
                vulnerabilities,
                report_id,
                summary: problem.message(),
                filter: Some(filter.clone()),
            }
        })
        .collect()
}

/// One `report_published` event per report of a webhook payload. An updated report (a later
/// `uploadDate`) is a new event with a new fingerprint; a redelivery is the same event.
pub fn from_payload(list: &ReportList) -> Vec<Event> {
    list.reports
        .iter()
        .map(|r| Event {
            kind: EventKind::ReportPublished,
            fingerprint: fingerprint(&[
                &list.organization_id.to_string(),
                &r.project_name,
                r.project_version.as_str(),
                &r.report_type,
                "report_published",
                &r.id.to_string(),
                &r.upload_date.unix_nanos().to_string(),
            ]),
            organization: list.organization_id,
            project: Some(r.project_name.clone()),
            version: Some(r.project_version.to_string()),
            report_type: Some(r.report_type.clone()),
            report_version: Some(r.report_version.to_string()),
            rule: None,
            rating: Some(r.security_rating),
            vulnerabilities: Some(r.vulnerabilities_count),
            report_id: Some(r.id),
            summary: format!(
                "{} {} {} {}: security rating {}, {} vulnerabilities",
                r.project_name,
                r.project_version,
                r.report_type,
                r.report_version,
                r.security_rating,
                r.vulnerabilities_count
            ),
            filter: None,
        })
        .collect()
}

/// An event to check templates with at start-up (and to show in `--dry-run` examples).
pub fn sample(kind: EventKind) -> Event {
    Event {
        kind,
        fingerprint: "0".repeat(64),
        organization: Uuid::from_u128(1),
        project: Some("会計ポータル <Payments & Co>".into()),
        version: Some("1.2.0".into()),
        report_type: Some("CWE Top 25".into()),
        report_version: Some("2024".into()),
        rule: (kind != EventKind::ReportPublished).then(|| "min_rating".to_owned()),
        rating: Some(SecurityRating::D),
        vulnerabilities: Some(9),
        report_id: Some(Uuid::from_u128(0x104)),
        summary: "会計ポータル <Payments & Co> 1.2.0 CWE Top 25 2024: security rating D is worse than the minimum B".into(),
        filter: (kind != EventKind::ReportPublished).then(|| "version = 1.2.0".to_owned()),
    }
}
