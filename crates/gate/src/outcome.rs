//! The result of evaluating a policy: overall, per report and per rule. Serialized as the gate's
//! JSON output, which other tools (the notifier) read; see [`crate::render::json`].

use std::borrow::Cow;

use procurize_core::{Report, SecurityRating, Uuid};
use serde::{Deserialize, Serialize};

/// Text that is usually fixed (`B or better`, `meets the policy`) and only sometimes built.
pub type Text = Cow<'static, str>;

/// A verdict. Ordered: `Pass < Warn < Fail`, so the worst of several is their maximum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Meets the policy.
    Pass,
    /// Does not meet it, but is let through: a waiver, or `on_missing = "warn"`.
    Warn,
    /// Does not meet it.
    Fail,
}

impl Status {
    /// `pass`, `warn` or `fail`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Warn => "warn",
            Self::Fail => "fail",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A policy rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// The security rating is at least the minimum.
    MinRating,
    /// The vulnerability count is at most the maximum.
    MaxVulnerabilities,
    /// The analysis is recent enough.
    MaxAgeDays,
    /// A required report exists.
    RequiredReport,
}

impl Rule {
    /// The rule's name, as in the policy file.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MinRating => "min_rating",
            Self::MaxVulnerabilities => "max_vulnerabilities",
            Self::MaxAgeDays => "max_age_days",
            Self::RequiredReport => "required_report",
        }
    }
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A value a rule compares: written as text (`B or better`, `C`, `at most 5`, `9 days`), kept
/// as data so that evaluating thousands of reports does not build thousands of strings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Quantity {
    /// A rating: `C`.
    Rating(SecurityRating),
    /// A rating or any better one: `B or better`.
    RatingOrBetter(SecurityRating),
    /// A count: `5`.
    Count(u64),
    /// A limit on a count: `at most 5`.
    AtMost(u64),
    /// An age: `9 days`.
    Days(i64),
    /// A limit on an age: `at most 90 days`.
    AtMostDays(i64),
    /// Anything else, as written.
    Other(String),
}

impl std::fmt::Display for Quantity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Rating(r) => write!(f, "{r}"),
            Self::RatingOrBetter(r) => write!(f, "{r} or better"),
            Self::Count(n) => write!(f, "{n}"),
            Self::AtMost(n) => write!(f, "at most {n}"),
            Self::Days(n) => write!(f, "{n} days"),
            Self::AtMostDays(n) => write!(f, "at most {n} days"),
            Self::Other(text) => f.write_str(text),
        }
    }
}

impl std::str::FromStr for Quantity {
    type Err = std::convert::Infallible;
    /// Reads back what `Display` wrote; anything else is [`Quantity::Other`].
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let rating = |t: &str| t.parse::<SecurityRating>().ok();
        let parsed = if let Some(days) = text
            .strip_prefix("at most ")
            .and_then(|t| t.strip_suffix(" days"))
        {
            days.parse().ok().map(Self::AtMostDays)
        } else if let Some(n) = text.strip_prefix("at most ") {
            n.parse().ok().map(Self::AtMost)
        } else if let Some(days) = text.strip_suffix(" days") {
            days.parse().ok().map(Self::Days)
        } else if let Some(r) = text.strip_suffix(" or better") {
            rating(r).map(Self::RatingOrBetter)
        } else if let Some(r) = rating(text) {
            Some(Self::Rating(r))
        } else {
            text.parse().ok().map(Self::Count)
        };
        Ok(parsed.unwrap_or_else(|| Self::Other(text.to_owned())))
    }
}

impl Serialize for Quantity {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Ok(text.parse().unwrap_or_else(|never| match never {}))
    }
}

/// One rule checked against one report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleOutcome {
    /// The rule.
    pub rule: Rule,
    /// What the policy asks, e.g. `B or better`.
    pub expected: Quantity,
    /// What the report has, e.g. `C`.
    pub actual: Quantity,
    /// The verdict.
    pub status: Status,
    /// One line saying why.
    pub reason: Text,
    /// The waiver that turned a failure into a warning, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiver: Option<WaiverUse>,
}

/// A waiver as applied to a rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WaiverUse {
    /// Why it was accepted.
    pub reason: String,
    /// Its last day, `YYYY-MM-DD`.
    pub expires: String,
}

/// One report and its verdict. Serialized as the report in the API's own shape (camelCase),
/// plus `status` and `rules`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportOutcome {
    /// The report, as the platform sent it.
    #[serde(flatten)]
    pub report: Report,
    /// The worst of its rules.
    pub status: Status,
    /// Every rule checked, in a fixed order.
    pub rules: Vec<RuleOutcome>,
}

impl ReportOutcome {
    /// The rules that did not pass.
    pub fn problems(&self) -> impl Iterator<Item = &RuleOutcome> {
        self.rules.iter().filter(|r| r.status != Status::Pass)
    }
}

/// A required report that does not exist (or not in a recent enough edition), or a version
/// without any report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MissingReport {
    /// The project, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_name: Option<String>,
    /// The product version, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_version: Option<String>,
    /// The missing report type; absent when no report at all exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report_type: Option<String>,
    /// The oldest acceptable edition, when the policy names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_report_version: Option<String>,
    /// The verdict, per `on_missing`.
    pub status: Status,
    /// One line saying what is missing.
    pub reason: String,
}

/// A report replaced by a newer upload of the same project, type and version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Superseded {
    /// The older report, as the platform sent it.
    #[serde(flatten)]
    pub report: Report,
    /// The report that decides instead.
    pub superseded_by: Uuid,
}

/// A waiver in the policy whose expiry date has passed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExpiredWaiver {
    /// What it covered.
    pub subject: String,
    /// Why it had been accepted.
    pub reason: String,
    /// Its last day, `YYYY-MM-DD`.
    pub expired: String,
}

/// Counts, for summaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// Reports evaluated (superseded ones excluded).
    pub reports: usize,
    /// Reports that passed.
    pub passed: usize,
    /// Reports with warnings.
    pub warned: usize,
    /// Reports that failed.
    pub failed: usize,
    /// Missing reports.
    pub missing: usize,
    /// Superseded reports.
    pub superseded: usize,
}

/// The whole verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Outcome {
    /// The worst of everything below.
    pub status: Status,
    /// Counts.
    pub summary: Summary,
    /// Every current report, ordered by project, version, type, edition and ID.
    pub reports: Vec<ReportOutcome>,
    /// Missing reports, ordered likewise.
    pub missing: Vec<MissingReport>,
    /// Reports replaced by newer uploads.
    pub superseded: Vec<Superseded>,
    /// Waivers past their expiry date (they no longer apply).
    pub expired_waivers: Vec<ExpiredWaiver>,
    /// Every project that has reports in the listed versions, chosen or not, in name order.
    /// Organizations hold many products that share version numbers; this is how a reader sees
    /// that a gate without `projects` judged several of them together.
    #[serde(default)]
    pub projects_seen: Vec<String>,
    /// The projects the policy chose (`--project`); empty when every project was gated.
    #[serde(default)]
    pub projects_chosen: Vec<String>,
}

impl Outcome {
    /// The projects gated together without having been chosen: `Some` when the policy chose
    /// none and reports of more than one project were found.
    pub fn unscoped_projects(&self) -> Option<&[String]> {
        (self.projects_chosen.is_empty() && self.projects_seen.len() > 1)
            .then_some(self.projects_seen.as_slice())
    }
}

impl Outcome {
    /// Every problem as `(report, rule)`, `report` being `None` for a missing report, in order.
    pub fn problems(&self) -> Vec<Problem<'_>> {
        let mut out = Vec::new();
        for report in &self.reports {
            for rule in report.problems() {
                out.push(Problem::Rule { report, rule });
            }
        }
        for missing in self.missing.iter().filter(|m| m.status != Status::Pass) {
            out.push(Problem::Missing(missing));
        }
        out
    }
}

/// One thing that did not pass.
#[derive(Debug, Clone, Copy)]
pub enum Problem<'a> {
    /// A rule of a report.
    Rule {
        /// The report.
        report: &'a ReportOutcome,
        /// The rule.
        rule: &'a RuleOutcome,
    },
    /// A missing report.
    Missing(&'a MissingReport),
}

impl Problem<'_> {
    /// Its verdict.
    pub fn status(&self) -> Status {
        match self {
            Self::Rule { rule, .. } => rule.status,
            Self::Missing(m) => m.status,
        }
    }

    /// Its rule.
    pub fn rule(&self) -> Rule {
        match self {
            Self::Rule { rule, .. } => rule.rule,
            Self::Missing(_) => Rule::RequiredReport,
        }
    }

    /// One line: what, where and why.
    pub fn message(&self) -> String {
        match self {
            Self::Rule { report, rule } => format!(
                "{} {} {} {}: {}",
                report.report.project_name,
                report.report.project_version,
                report.report.report_type,
                report.report.report_version,
                rule.reason
            ),
            Self::Missing(m) => m.reason.clone(),
        }
    }

    /// A stable identity: organization, project, version, report type and rule, hashed. The same
    /// problem in the next run has the same fingerprint.
    pub fn fingerprint(&self, organization: &Uuid) -> String {
        use sha2::{Digest, Sha256};
        let (project, version, kind) = match self {
            Self::Rule { report, .. } => (
                report.report.project_name.as_str(),
                report.report.project_version.as_str(),
                report.report.report_type.as_str(),
            ),
            Self::Missing(m) => (
                m.project_name.as_deref().unwrap_or(""),
                m.project_version.as_deref().unwrap_or(""),
                m.report_type.as_deref().unwrap_or(""),
            ),
        };
        let mut hasher = Sha256::new();
        for part in [
            &organization.to_string(),
            project,
            version,
            kind,
            self.rule().as_str(),
        ] {
            hasher.update(part.as_bytes());
            hasher.update([0u8]);
        }
        hex::encode(hasher.finalize())
    }

    /// The rating the problem is about (a missing report has none).
    pub fn rating(&self) -> Option<SecurityRating> {
        match self {
            Self::Rule { report, .. } => Some(report.report.security_rating),
            Self::Missing(_) => None,
        }
    }
}
