//! The platform's data: report lists (also the webhook payload), reports and ratings.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

use crate::{Error, ProductVersion, Timestamp};

/// The answer of `GET /security/report/list`, and the body of every webhook delivery.
///
/// Unknown fields are ignored so that additions on the platform's side do not break clients; a
/// missing required field is an error that names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportList {
    /// The organization the reports belong to.
    pub organization_id: Uuid,
    /// The reports, in the order the platform sent them.
    pub reports: Vec<Report>,
}

impl ReportList {
    /// An empty list for an organization (what a `204 No Content` means).
    pub fn empty(organization_id: Uuid) -> Self {
        Self {
            organization_id,
            reports: Vec::new(),
        }
    }

    /// Parses a list response or webhook payload, naming the offending field on error.
    pub fn from_json(body: &[u8]) -> Result<Self, Error> {
        crate::error::decode_json(body, "report list", None)
    }

    /// The deduplication identity of every report event in this list.
    pub fn event_ids(&self) -> impl Iterator<Item = EventId> + '_ {
        self.reports.iter().map(|report| EventId {
            organization_id: self.organization_id,
            report_id: report.id,
            upload_date: report.upload_date.clone(),
        })
    }
}

/// One SonarQube security report's metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// The SonarQube project's name.
    pub project_name: String,
    /// The report's ID, used to download its archive.
    pub id: Uuid,
    /// The kind of report, e.g. `CWE Top 25`, `OWASP Top 10`, `PCI DSS`.
    pub report_type: String,
    /// The edition of the report type, e.g. `2024` for CWE Top 25 or `4.0` for PCI DSS.
    pub report_version: ReportVersion,
    /// The product version the report covers.
    pub project_version: ProductVersion,
    /// When the analysis was made.
    pub date: Timestamp,
    /// When the report was uploaded to Procurize; a later value means an updated report.
    pub upload_date: Timestamp,
    /// The number of vulnerabilities found.
    pub vulnerabilities_count: u64,
    /// SonarQube's security rating, `A` (best) to `E` (worst).
    pub security_rating: SecurityRating,
}

/// SonarQube's security rating: `A` is best, `E` is worst.
///
/// Ordered from best to worst, so `SecurityRating::A < SecurityRating::C`; a policy "at least B"
/// accepts every rating `<= B`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SecurityRating {
    /// No vulnerabilities.
    A,
    /// At least one minor vulnerability.
    B,
    /// At least one major vulnerability.
    C,
    /// At least one critical vulnerability.
    D,
    /// At least one blocker vulnerability.
    E,
}

impl SecurityRating {
    /// Every rating, best first.
    pub const ALL: [SecurityRating; 5] = [Self::A, Self::B, Self::C, Self::D, Self::E];

    /// The rating's letter.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::A => "A",
            Self::B => "B",
            Self::C => "C",
            Self::D => "D",
            Self::E => "E",
        }
    }
}

impl fmt::Display for SecurityRating {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SecurityRating {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "A" => Ok(Self::A),
            "B" => Ok(Self::B),
            "C" => Ok(Self::C),
            "D" => Ok(Self::D),
            "E" => Ok(Self::E),
            other => Err(Error::InvalidRating {
                value: other.to_owned(),
            }),
        }
    }
}

impl Serialize for SecurityRating {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for SecurityRating {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The edition of a report type, such as `2024` (CWE Top 25) or `4.0` (PCI DSS).
///
/// The platform sends a JSON number; a string is accepted too. The value is written back in the
/// form it came in, and compares by lenient SemVer precedence (`2024` → 2024.0.0, `4.0` → 4.0.0),
/// so a policy can ask for "CWE Top 25 at least 2024".
#[derive(Clone)]
pub struct ReportVersion {
    version: ProductVersion,
    as_number: bool,
}

impl ReportVersion {
    /// Parses an edition such as `2024` or `4.0`.
    pub fn parse(input: &str) -> Result<Self, Error> {
        Ok(Self {
            version: ProductVersion::parse(input)?,
            as_number: false,
        })
    }

    /// The edition as written.
    pub fn as_str(&self) -> &str {
        self.version.as_str()
    }

    /// The edition as a comparable version.
    pub fn version(&self) -> &ProductVersion {
        &self.version
    }
}

impl PartialEq for ReportVersion {
    fn eq(&self, other: &Self) -> bool {
        self.version == other.version
    }
}

impl Eq for ReportVersion {}

impl PartialOrd for ReportVersion {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ReportVersion {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.version.cmp(&other.version)
    }
}

impl std::hash::Hash for ReportVersion {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.version.hash(state);
    }
}

impl fmt::Display for ReportVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for ReportVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ReportVersion({})", self.as_str())
    }
}

impl FromStr for ReportVersion {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::parse(s)
    }
}

impl Serialize for ReportVersion {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.as_number
            && let Ok(number) = serde_json::Number::from_str(self.as_str())
        {
            return number.serialize(serializer);
        }
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ReportVersion {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Wire {
            Number(serde_json::Number),
            Text(String),
        }
        let (text, as_number) = match Wire::deserialize(deserializer).map_err(|_| {
            serde::de::Error::custom("expected a number such as 2024 or a string such as \"4.0\"")
        })? {
            Wire::Number(n) => (n.to_string(), true),
            Wire::Text(s) => (s, false),
        };
        let version = ProductVersion::parse(&text).map_err(serde::de::Error::custom)?;
        Ok(Self { version, as_number })
    }
}

/// The identity of one report event, used to deduplicate webhook deliveries.
///
/// `(organizationId, report id, uploadDate)`: an *updated* report (a later `uploadDate`) is a new
/// event; the same delivery sent again is not.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventId {
    /// The organization.
    pub organization_id: Uuid,
    /// The report.
    pub report_id: Uuid,
    /// The report's upload time, compared by instant.
    pub upload_date: Timestamp,
}

impl fmt::Display for EventId {
    /// A stable text key: `<org>/<report>/<upload date in UTC nanoseconds>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}/{}",
            self.organization_id,
            self.report_id,
            self.upload_date.unix_nanos()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOCUMENTED: &str = r#"{
      "organizationId": "00000000-0000-0000-0000-000000000001",
      "reports": [
        {
          "projectName": "Test product",
          "id": "00000000-0000-0000-0000-000000000002",
          "reportType": "CWE Top 25",
          "reportVersion": 2024,
          "projectVersion": "1.0",
          "date": "2025-12-17T09:05:48.5946432+00:00",
          "uploadDate": "2025-12-17T09:05:48.5946432+00:00",
          "vulnerabilitiesCount": 0,
          "securityRating": "A"
        }
      ]
    }"#;

    #[test]
    fn the_documented_example_parses_with_every_field() {
        let list = ReportList::from_json(DOCUMENTED.as_bytes()).expect("parses");
        assert_eq!(
            list.organization_id.to_string(),
            "00000000-0000-0000-0000-000000000001"
        );
        let report = &list.reports[0];
        assert_eq!(report.project_name, "Test product");
        assert_eq!(
            report.id.to_string(),
            "00000000-0000-0000-0000-000000000002"
        );
        assert_eq!(report.report_type, "CWE Top 25");
        assert_eq!(report.report_version.as_str(), "2024");
        assert_eq!(report.project_version.as_str(), "1.0");
        assert_eq!(report.date.datetime().nanosecond(), 594_643_200);
        assert_eq!(report.upload_date, report.date);
        assert_eq!(report.vulnerabilities_count, 0);
        assert_eq!(report.security_rating, SecurityRating::A);
    }

    #[test]
    fn serializing_keeps_the_wire_shape() {
        let list = ReportList::from_json(DOCUMENTED.as_bytes()).expect("parses");
        let back = serde_json::to_value(&list).expect("serializes");
        let original: serde_json::Value = serde_json::from_str(DOCUMENTED).expect("json");
        assert_eq!(back, original);
    }

    #[test]
    fn unknown_fields_are_ignored() {
        let with_extra = DOCUMENTED
            .replace("\"reports\"", "\"nextGen\": {\"a\": [1]}, \"reports\"")
            .replace(
                "\"securityRating\"",
                "\"reliabilityRating\": \"C\", \"securityRating\"",
            );
        let list = ReportList::from_json(with_extra.as_bytes()).expect("parses");
        assert_eq!(list.reports.len(), 1);
    }

    #[test]
    fn a_missing_required_field_is_named() {
        let without = DOCUMENTED.replace("\"vulnerabilitiesCount\": 0,", "");
        let err = ReportList::from_json(without.as_bytes()).expect_err("missing field");
        let message = err.to_string();
        assert!(message.contains("vulnerabilitiesCount"), "{message}");
        assert!(message.contains("reports[0]"), "{message}");
    }

    #[test]
    fn an_unknown_rating_is_an_error_naming_the_value_and_the_field() {
        let bad = DOCUMENTED.replace("\"securityRating\": \"A\"", "\"securityRating\": \"F\"");
        let err = ReportList::from_json(bad.as_bytes()).expect_err("F is not a rating");
        let message = err.to_string();
        assert!(message.contains("`F`"), "{message}");
        assert!(message.contains("reports[0].securityRating"), "{message}");
        assert!(
            "a".parse::<SecurityRating>().is_err(),
            "ratings are upper case letters"
        );
    }

    #[test]
    fn ratings_are_ordered_best_to_worst() {
        assert!(SecurityRating::A < SecurityRating::B);
        assert!(SecurityRating::D < SecurityRating::E);
        let mut shuffled = vec![SecurityRating::E, SecurityRating::A, SecurityRating::C];
        shuffled.sort();
        assert_eq!(
            shuffled,
            [SecurityRating::A, SecurityRating::C, SecurityRating::E]
        );
    }

    #[test]
    fn report_versions_accept_numbers_and_strings_and_keep_their_form() {
        let n: ReportVersion = serde_json::from_str("4.0").expect("number");
        let s: ReportVersion = serde_json::from_str("\"4.0\"").expect("string");
        assert_eq!(n, s);
        assert_eq!(serde_json::to_string(&n).expect("ser"), "4.0");
        assert_eq!(serde_json::to_string(&s).expect("ser"), "\"4.0\"");
        let older: ReportVersion = serde_json::from_str("2021").expect("number");
        let newer: ReportVersion = serde_json::from_str("2024").expect("number");
        assert!(older < newer);
    }

    #[test]
    fn event_identity_distinguishes_updates_not_redeliveries() {
        let first = ReportList::from_json(DOCUMENTED.as_bytes()).expect("parses");
        let again = ReportList::from_json(DOCUMENTED.as_bytes()).expect("parses");
        let updated = ReportList::from_json(
            DOCUMENTED
                .replacen(
                    "\"uploadDate\": \"2025-12-17T09:05:48.5946432+00:00\"",
                    "\"uploadDate\": \"2025-12-18T10:00:00Z\"",
                    1,
                )
                .as_bytes(),
        )
        .expect("parses");
        let id = |l: &ReportList| l.event_ids().next().expect("one event");
        assert_eq!(id(&first), id(&again));
        assert_ne!(id(&first), id(&updated));
        assert_eq!(
            id(&first).to_string(),
            "00000000-0000-0000-0000-000000000001/00000000-0000-0000-0000-000000000002/1765962348594643200"
        );
    }
}
