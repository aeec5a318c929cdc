//! The policy: what a release must meet. Read from TOML, strictly.

use std::fmt;

use procurize_core::{ReportVersion, SecurityRating, Uuid};
use serde::{Deserialize, Deserializer, Serialize};
use time::Date;

use crate::GateError;

/// What to do when a required report, or any report at all, is missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnMissing {
    /// Missing is a failure: no report is not a pass (the default).
    #[default]
    Fail,
    /// Missing is a warning.
    Warn,
    /// Missing is fine.
    Pass,
}

impl std::str::FromStr for OnMissing {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "fail" => Ok(Self::Fail),
            "warn" => Ok(Self::Warn),
            "pass" => Ok(Self::Pass),
            other => Err(format!("`{other}` is not one of fail, warn, pass")),
        }
    }
}

/// A report type that must exist for every project and version, optionally in a minimum
/// edition: `"CWE Top 25"`, `"CWE Top 25@2024"`, or `{ type = "CWE Top 25", min_version = 2024 }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequiredReport {
    /// The report type, e.g. `CWE Top 25`.
    pub report_type: String,
    /// The oldest acceptable edition, e.g. 2024.
    pub min_version: Option<ReportVersion>,
}

impl RequiredReport {
    /// Parses `TYPE` or `TYPE@MINVERSION`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (kind, min) = match text.rsplit_once('@') {
            Some((kind, min)) => (kind, Some(min)),
            None => (text, None),
        };
        let kind = kind.trim();
        if kind.is_empty() {
            return Err(format!("`{text}` names no report type"));
        }
        let min_version = min
            .map(|m| ReportVersion::parse(m.trim()).map_err(|e| e.to_string()))
            .transpose()?;
        Ok(Self {
            report_type: kind.to_owned(),
            min_version,
        })
    }
}

impl fmt::Display for RequiredReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.min_version {
            Some(min) => write!(f, "{} ≥ {min}", self.report_type),
            None => f.write_str(&self.report_type),
        }
    }
}

impl<'de> Deserialize<'de> for RequiredReport {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Full {
            #[serde(rename = "type")]
            report_type: String,
            min_version: Option<toml::Value>,
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Wire {
            Short(String),
            Full(Full),
        }
        match Wire::deserialize(deserializer).map_err(|_| {
            serde::de::Error::custom(
                "expected \"TYPE\", \"TYPE@MINVERSION\" or { type = \"TYPE\", min_version = 2024 }",
            )
        })? {
            Wire::Short(text) => Self::parse(&text).map_err(serde::de::Error::custom),
            Wire::Full(full) => {
                let min_version = match full.min_version {
                    None => None,
                    Some(toml::Value::String(s)) => Some(s),
                    Some(toml::Value::Integer(i)) => Some(i.to_string()),
                    Some(toml::Value::Float(f)) => Some(f.to_string()),
                    Some(_) => {
                        return Err(serde::de::Error::custom(
                            "min_version must be a number or a string",
                        ));
                    }
                };
                let min_version = min_version
                    .map(|m| ReportVersion::parse(&m).map_err(serde::de::Error::custom))
                    .transpose()?;
                if full.report_type.trim().is_empty() {
                    return Err(serde::de::Error::custom("type must not be empty"));
                }
                Ok(Self {
                    report_type: full.report_type,
                    min_version,
                })
            }
        }
    }
}

/// Different limits for some projects or report types. The most specific match wins field by
/// field: project and type, then type, then project, then the policy's own limits.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Override {
    /// The project it applies to (exact name); any project when absent.
    pub project: Option<String>,
    /// The report type it applies to; any type when absent.
    pub report_type: Option<String>,
    /// The worst acceptable rating.
    pub min_rating: Option<SecurityRating>,
    /// The most vulnerabilities acceptable.
    pub max_vulnerabilities: Option<u64>,
    /// The oldest acceptable analysis, in days.
    pub max_age_days: Option<u32>,
}

impl Override {
    fn specificity(&self) -> u8 {
        match (&self.project, &self.report_type) {
            (Some(_), Some(_)) => 3,
            (None, Some(_)) => 2,
            (Some(_), None) => 1,
            (None, None) => 0,
        }
    }

    fn applies(&self, project: &str, report_type: &str) -> bool {
        self.project.as_deref().is_none_or(|p| p == project)
            && self.report_type.as_deref().is_none_or(|t| t == report_type)
    }
}

/// An accepted exception: a report's failures count as warnings until the waiver expires.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Waiver {
    /// The report it applies to.
    pub report: Option<Uuid>,
    /// Or: every report of this project…
    pub project: Option<String>,
    /// …and this report type.
    pub report_type: Option<String>,
    /// Why the exception was accepted (shown wherever the waiver is used).
    pub reason: String,
    /// The last day it applies (inclusive).
    #[serde(deserialize_with = "date")]
    pub expires: Date,
}

impl Waiver {
    /// Whether the waiver covers this report.
    pub fn covers(&self, id: &Uuid, project: &str, report_type: &str) -> bool {
        match (&self.report, &self.project, &self.report_type) {
            (Some(report), _, _) => report == id,
            (None, Some(p), Some(t)) => p == project && t == report_type,
            _ => false,
        }
    }

    /// Whether it still applies on `today`.
    pub fn active_on(&self, today: Date) -> bool {
        today <= self.expires
    }

    /// What it covers, for messages: a report ID or `project / type`.
    pub fn subject(&self) -> String {
        match (&self.report, &self.project, &self.report_type) {
            (Some(id), _, _) => format!("report {id}"),
            (None, Some(p), Some(t)) => format!("{p} / {t}"),
            _ => "nothing".to_owned(),
        }
    }
}

fn date<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Date, D::Error> {
    let value = toml::Value::deserialize(deserializer)?;
    let text = match value {
        toml::Value::String(s) => s,
        toml::Value::Datetime(d) => d.to_string(),
        _ => {
            return Err(serde::de::Error::custom(
                "expected a date such as 2026-12-31",
            ));
        }
    };
    parse_date(&text).ok_or_else(|| {
        serde::de::Error::custom(format!("`{text}` is not a date such as 2026-12-31"))
    })
}

/// Parses a day written `YYYY-MM-DD`.
pub fn parse_date(text: &str) -> Option<Date> {
    let mut parts = text.trim().splitn(3, '-');
    let year: i32 = parts.next()?.parse().ok()?;
    let month: u8 = parts.next()?.parse().ok()?;
    let day: u8 = parts.next()?.parse().ok()?;
    Date::from_calendar_date(year, time::Month::try_from(month).ok()?, day).ok()
}

/// The policy. Every field has a default, so an empty file (or none) is the default policy:
/// security rating A, no missing reports.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// The worst acceptable security rating (default A, as SonarQube's own default gate).
    #[serde(default = "default_rating")]
    pub min_rating: SecurityRating,
    /// The most vulnerabilities acceptable in one report (default: no limit).
    #[serde(default)]
    pub max_vulnerabilities: Option<u64>,
    /// Report types that must exist for each project and version.
    #[serde(default)]
    pub required_reports: Vec<RequiredReport>,
    /// The oldest acceptable analysis (`date`), in days (default: no limit).
    #[serde(default)]
    pub max_age_days: Option<u32>,
    /// What a missing report means (default fail).
    #[serde(default)]
    pub on_missing: OnMissing,
    /// Only these projects are gated (default: every project of the version); each one listed
    /// must have reports.
    #[serde(default)]
    pub projects: Vec<String>,
    /// Different limits for some projects or report types.
    #[serde(default, rename = "override")]
    pub overrides: Vec<Override>,
    /// Accepted exceptions.
    #[serde(default, rename = "waiver")]
    pub waivers: Vec<Waiver>,
}

fn default_rating() -> SecurityRating {
    SecurityRating::A
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            min_rating: SecurityRating::A,
            max_vulnerabilities: None,
            required_reports: Vec::new(),
            max_age_days: None,
            on_missing: OnMissing::Fail,
            projects: Vec::new(),
            overrides: Vec::new(),
            waivers: Vec::new(),
        }
    }
}

/// The limits that apply to one report after overrides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The worst acceptable rating.
    pub min_rating: SecurityRating,
    /// The most vulnerabilities acceptable.
    pub max_vulnerabilities: Option<u64>,
    /// The oldest acceptable analysis, in days.
    pub max_age_days: Option<u32>,
}

impl Policy {
    /// The policy as canonical JSON: every field with its value (defaults written out), keys in
    /// a fixed order, no whitespace, one line. Two files that mean the same policy (comments,
    /// layout, a default written out or left out) give the same bytes, so a signed verdict can
    /// name its policy by their SHA-256 and an evidence bundle can hold them for `sha256sum`.
    pub fn canonical_json(&self) -> Vec<u8> {
        let day = |d: &Date| format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day());
        let value = serde_json::json!({
            "minRating": self.min_rating,
            "maxVulnerabilities": self.max_vulnerabilities,
            "maxAgeDays": self.max_age_days,
            "requiredReports": self.required_reports.iter().map(|r| serde_json::json!({
                "reportType": r.report_type,
                "minVersion": r.min_version.as_ref().map(ToString::to_string),
            })).collect::<Vec<_>>(),
            "onMissing": self.on_missing,
            "projects": self.projects,
            "overrides": self.overrides.iter().map(|o| serde_json::json!({
                "project": o.project,
                "reportType": o.report_type,
                "minRating": o.min_rating,
                "maxVulnerabilities": o.max_vulnerabilities,
                "maxAgeDays": o.max_age_days,
            })).collect::<Vec<_>>(),
            "waivers": self.waivers.iter().map(|w| serde_json::json!({
                "report": w.report,
                "project": w.project,
                "reportType": w.report_type,
                "reason": w.reason,
                "expires": day(&w.expires),
            })).collect::<Vec<_>>(),
        });
        let mut bytes = serde_json::to_vec(&value).unwrap_or_default();
        bytes.push(b'\n');
        bytes
    }

    /// Parses a policy file's text. `origin` names the file in errors, which give its line:
    /// unknown keys and bad values are errors, never ignored.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self, GateError> {
        let policy: Self =
            procurize_core::config::parse_toml(text, origin).map_err(|e| GateError::Policy {
                file: e.file,
                line: e.line,
                column: e.column,
                message: e.message,
            })?;
        policy.validate(origin, text, "")?;
        Ok(policy)
    }

    /// Checks what parsing cannot (an override names what it applies to, a waiver has a subject
    /// and a reason). For a policy read as part of a larger file: `text` and `origin` locate
    /// errors, `prefix` is its tables' prefix there (`gate.policy.` for `[[gate.policy.waiver]]`).
    pub fn validate(&self, origin: &str, text: &str, prefix: &str) -> Result<(), GateError> {
        let locate = |table: &str, index: usize| {
            procurize_core::config::table_line(text, &format!("{prefix}{table}"), index)
        };
        let error = |line, message: String| GateError::Policy {
            file: origin.to_owned(),
            line,
            column: 1,
            message,
        };
        for (i, o) in self.overrides.iter().enumerate() {
            if o.project.is_none() && o.report_type.is_none() {
                return Err(error(
                    locate("override", i),
                    "an [[override]] needs `project`, `report_type` or both".into(),
                ));
            }
        }
        for (i, w) in self.waivers.iter().enumerate() {
            if w.report.is_none() && (w.project.is_none() || w.report_type.is_none()) {
                return Err(error(
                    locate("waiver", i),
                    "a [[waiver]] needs `report`, or both `project` and `report_type`".into(),
                ));
            }
            if w.reason.trim().is_empty() {
                return Err(error(
                    locate("waiver", i),
                    "a [[waiver]] needs a `reason`".into(),
                ));
            }
        }
        Ok(())
    }

    /// The limits for a report of `project` and `report_type`.
    pub fn limits(&self, project: &str, report_type: &str) -> Limits {
        let mut limits = Limits {
            min_rating: self.min_rating,
            max_vulnerabilities: self.max_vulnerabilities,
            max_age_days: self.max_age_days,
        };
        // Least specific first, so the most specific is applied last; in file order within a level.
        let matching = (0..=3).flat_map(|level| {
            self.overrides
                .iter()
                .filter(move |o| o.specificity() == level && o.applies(project, report_type))
        });
        for o in matching {
            if let Some(r) = o.min_rating {
                limits.min_rating = r;
            }
            if let Some(v) = o.max_vulnerabilities {
                limits.max_vulnerabilities = Some(v);
            }
            if let Some(d) = o.max_age_days {
                limits.max_age_days = Some(d);
            }
        }
        limits
    }
}
