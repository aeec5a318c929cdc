//! The reports the simulator serves: from a JSON file or the built-in sample.

use std::collections::BTreeMap;
use std::path::Path;

use procurize_core::{Report, ReportList, Uuid};

use crate::SimError;

/// The organization of the built-in sample data set.
pub const SAMPLE_ORGANIZATION: &str = "00000000-0000-0000-0000-000000000001";

/// The reports of every organization the simulator knows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SimData {
    organizations: BTreeMap<Uuid, Vec<Report>>,
}

impl SimData {
    /// An empty data set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a list's reports to its organization.
    pub fn add(&mut self, list: ReportList) {
        self.organizations
            .entry(list.organization_id)
            .or_default()
            .extend(list.reports);
    }

    /// Reads a data file: one list response (`{"organizationId", "reports"}`), an array of them,
    /// or `{"organizations": [...]}`.
    pub fn from_json(bytes: &[u8]) -> Result<Self, SimError> {
        // Pick the shape first, then parse strictly, so an error names the field.
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| SimError::Data(format!("not JSON: {e}")))?;
        let lists = match value {
            serde_json::Value::Array(_) => {
                let reparsed = serde_json::to_vec(&value).unwrap_or_default();
                vec_of_lists(&reparsed)?
            }
            serde_json::Value::Object(ref map) if map.contains_key("organizations") => {
                let inner = serde_json::to_vec(&map["organizations"]).unwrap_or_default();
                vec_of_lists(&inner)?
            }
            _ => vec![ReportList::from_json(bytes).map_err(|e| SimError::Data(e.to_string()))?],
        };
        let mut data = Self::new();
        for list in lists {
            data.add(list);
        }
        Ok(data)
    }

    /// Reads a data file from disk; see [`SimData::from_json`].
    pub fn from_file(path: &Path) -> Result<Self, SimError> {
        let bytes = std::fs::read(path).map_err(|e| SimError::Io {
            action: "cannot read",
            path: path.to_path_buf(),
            source: e,
        })?;
        Self::from_json(&bytes).map_err(|e| match e {
            SimError::Data(reason) => SimError::Data(format!("{}: {reason}", path.display())),
            other => other,
        })
    }

    /// The reports of `organization`, in insertion order.
    pub fn reports(&self, organization: &Uuid) -> &[Report] {
        self.organizations
            .get(organization)
            .map_or(&[], Vec::as_slice)
    }

    /// Every organization with reports.
    pub fn organizations(&self) -> impl Iterator<Item = &Uuid> {
        self.organizations.keys()
    }

    /// Finds a report of `organization` by ID.
    pub fn report(&self, organization: &Uuid, id: &Uuid) -> Option<&Report> {
        self.reports(organization).iter().find(|r| &r.id == id)
    }

    /// The built-in sample: several products (one with a Japanese name), versions such as `1.0`,
    /// `1.2.0` and `2.0.0-rc.1`, every rating from A to E, the report types CWE Top 25, OWASP
    /// Top 10 and PCI DSS, and updated reports (a later `uploadDate`, and a re-upload that
    /// supersedes an older report of the same project, type and version).
    pub fn sample() -> Self {
        let mut data = Self::new();
        data.add(sample_list());
        data
    }
}

fn vec_of_lists(bytes: &[u8]) -> Result<Vec<ReportList>, SimError> {
    let values: Vec<serde_json::Value> =
        serde_json::from_slice(bytes).map_err(|e| SimError::Data(e.to_string()))?;
    values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let bytes = serde_json::to_vec(v).unwrap_or_default();
            ReportList::from_json(&bytes).map_err(|e| SimError::Data(format!("list {i}: {e}")))
        })
        .collect()
}

/// The sample as a list response (the same shape a data file takes).
pub fn sample_list() -> ReportList {
    /// (project, version, type, edition, rating, vulnerabilities, analysed, uploaded)
    type Row = (
        &'static str,
        &'static str,
        &'static str,
        &'static str,
        &'static str,
        u64,
        &'static str,
        &'static str,
    );
    const ROWS: &[Row] = &[
        (
            "Test product",
            "1.0",
            "CWE Top 25",
            "2024",
            "A",
            0,
            "2025-12-17T09:05:48.5946432+00:00",
            "2025-12-17T09:05:48.5946432+00:00",
        ),
        (
            "Test product",
            "1.0",
            "OWASP Top 10",
            "2021",
            "A",
            0,
            "2025-12-17T09:05:48.5946432+00:00",
            "2025-12-17T09:06:02.1234567+00:00",
        ),
        (
            "Test product",
            "1.0",
            "PCI DSS",
            "4.0",
            "B",
            2,
            "2025-12-17T09:05:48.5946432+00:00",
            "2025-12-17T09:06:10+00:00",
        ),
        (
            "Test product",
            "1.2.0",
            "CWE Top 25",
            "2024",
            "C",
            6,
            "2026-02-03T11:20:00+09:00",
            "2026-02-03T11:25:31.5+09:00",
        ),
        (
            "Test product",
            "1.2.0",
            "CWE Top 25",
            "2024",
            "B",
            3,
            "2026-02-10T08:00:00+09:00",
            "2026-02-10T08:02:15.25+09:00",
        ),
        (
            "Test product",
            "1.2.0",
            "OWASP Top 10",
            "2021",
            "C",
            5,
            "2026-02-03T11:20:00+09:00",
            "2026-02-03T11:26:00+09:00",
        ),
        (
            "Test product",
            "1.2.0",
            "PCI DSS",
            "4.0",
            "A",
            0,
            "2026-02-03T11:20:00+09:00",
            "2026-02-03T11:27:45.999+09:00",
        ),
        (
            "Test product",
            "2.0.0-rc.1",
            "CWE Top 25",
            "2024",
            "D",
            9,
            "2026-05-20T14:00:00Z",
            "2026-05-20T14:10:00Z",
        ),
        (
            "Test product",
            "2.0.0-rc.1",
            "OWASP Top 10",
            "2021",
            "E",
            14,
            "2026-05-20T14:00:00Z",
            "2026-05-21T07:30:00.000000001Z",
        ),
        (
            "会計ポータル",
            "1.0",
            "CWE Top 25",
            "2024",
            "C",
            4,
            "2025-11-04T10:00:00+09:00",
            "2025-11-04T10:03:00+09:00",
        ),
        (
            "会計ポータル",
            "1.0",
            "OWASP Top 10",
            "2021",
            "B",
            1,
            "2025-11-04T10:00:00+09:00",
            "2025-11-04T10:04:00+09:00",
        ),
        (
            "会計ポータル",
            "1.2.0",
            "CWE Top 25",
            "2023",
            "A",
            0,
            "2026-03-01T09:00:00+09:00",
            "2026-03-01T09:01:00+09:00",
        ),
        (
            "会計ポータル",
            "1.2.0",
            "PCI DSS",
            "4.0",
            "E",
            21,
            "2026-03-01T09:00:00+09:00",
            "2026-03-15T18:45:12.3456789+09:00",
        ),
        (
            "Payments API",
            "v2.1.0",
            "OWASP Top 10",
            "2021",
            "D",
            7,
            "2026-06-30T16:00:00-04:00",
            "2026-06-30T16:05:00-04:00",
        ),
        (
            "Payments API",
            "v2.1.0",
            "PCI DSS",
            "4.0",
            "B",
            1,
            "2026-06-30T16:00:00-04:00",
            "2026-07-02T09:00:00-04:00",
        ),
    ];
    let reports: Vec<serde_json::Value> = ROWS
        .iter()
        .enumerate()
        .map(
            |(i, &(project, version, kind, edition, rating, count, date, uploaded))| {
                let edition: serde_json::Value = serde_json::from_str(edition).unwrap_or_default();
                serde_json::json!({
                    "projectName": project,
                    "id": Uuid::from_u128(0x100 + i as u128).to_string(),
                    "reportType": kind,
                    "reportVersion": edition,
                    "projectVersion": version,
                    "date": date,
                    "uploadDate": uploaded,
                    "vulnerabilitiesCount": count,
                    "securityRating": rating,
                })
            },
        )
        .collect();
    let document = serde_json::json!({ "organizationId": SAMPLE_ORGANIZATION, "reports": reports });
    // The rows above are constants checked by the tests below; they always parse.
    serde_json::from_value(document).unwrap_or_else(|e| unreachable!("sample data is invalid: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use procurize_core::SecurityRating;

    #[test]
    fn sample_covers_every_rating_report_type_and_version_shape() {
        let data = SimData::sample();
        let org: Uuid = SAMPLE_ORGANIZATION.parse().expect("uuid");
        let reports = data.reports(&org);
        for rating in SecurityRating::ALL {
            assert!(
                reports.iter().any(|r| r.security_rating == rating),
                "{rating}"
            );
        }
        for kind in ["CWE Top 25", "OWASP Top 10", "PCI DSS"] {
            assert!(reports.iter().any(|r| r.report_type == kind), "{kind}");
        }
        for version in ["1.0", "1.2.0", "2.0.0-rc.1", "v2.1.0"] {
            assert!(
                reports
                    .iter()
                    .any(|r| r.project_version.as_str() == version),
                "{version}"
            );
        }
        assert!(
            reports.iter().any(|r| r.upload_date > r.date),
            "an updated report"
        );
        assert!(reports.iter().any(|r| !r.project_name.is_ascii()));
        let superseded = reports
            .iter()
            .filter(|r| {
                r.project_name == "Test product"
                    && r.project_version.as_str() == "1.2.0"
                    && r.report_type == "CWE Top 25"
            })
            .count();
        assert_eq!(
            superseded, 2,
            "a re-upload of the same project, type and version"
        );
    }

    #[test]
    fn data_files_take_every_documented_shape() {
        let one = serde_json::to_vec(&sample_list()).expect("json");
        assert_eq!(SimData::from_json(&one).expect("one"), SimData::sample());
        let many = format!("[{}]", String::from_utf8_lossy(&one));
        assert_eq!(
            SimData::from_json(many.as_bytes()).expect("many"),
            SimData::sample()
        );
        let wrapped = format!("{{\"organizations\": {many}}}");
        assert_eq!(
            SimData::from_json(wrapped.as_bytes()).expect("wrapped"),
            SimData::sample()
        );
    }

    #[test]
    fn a_bad_data_file_names_the_problem() {
        let bad = String::from_utf8(serde_json::to_vec(&sample_list()).expect("json"))
            .expect("utf8")
            .replacen("\"securityRating\":\"A\"", "\"securityRating\":\"F\"", 1);
        let err = SimData::from_json(bad.as_bytes()).expect_err("F");
        assert!(err.to_string().contains("securityRating"), "{err}");
        let err = SimData::from_json(b"[{\"organizationId\": 1}]").expect_err("bad");
        assert!(err.to_string().contains("list 0"), "{err}");
    }
}
