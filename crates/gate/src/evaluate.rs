//! Evaluating a policy over a version's reports. Pure: no I/O, the date is an input.

use std::borrow::Cow;
use std::cmp::Ordering;

use procurize_core::{Report, SecurityRating};
use time::Date;

use crate::outcome::{
    ExpiredWaiver, MissingReport, Outcome, Quantity, ReportOutcome, Rule, RuleOutcome, Status,
    Summary, Superseded, Text, WaiverUse,
};
use crate::policy::{OnMissing, Policy};

/// Evaluates `policy` over `reports` as of `today`.
///
/// When several reports share project, type and product version, the newest `uploadDate`
/// decides and the older ones are listed as superseded. Everything is ordered
/// deterministically (project, version by SemVer precedence, type), whatever order the reports
/// came in. The reports move into the outcome: nothing is copied.
pub fn evaluate(policy: &Policy, reports: Vec<Report>, today: Date) -> Outcome {
    let mut projects_seen: Vec<String> = reports.iter().map(|r| r.project_name.clone()).collect();
    projects_seen.sort_unstable();
    projects_seen.dedup();
    let mut in_scope = reports;
    if !policy.projects.is_empty() {
        in_scope.retain(|r| policy.projects.contains(&r.project_name));
    }
    // Group order, and within a group the newest upload first (the larger ID on a tie).
    in_scope.sort_unstable_by(|a, b| {
        same_group(a, b).then_with(|| (&b.upload_date, b.id).cmp(&(&a.upload_date, a.id)))
    });
    let mut current: Vec<Report> = Vec::with_capacity(in_scope.len());
    let mut superseded: Vec<Superseded> = Vec::new();
    for report in in_scope {
        match current.last() {
            Some(decider) if same_group(decider, &report).is_eq() => superseded.push(Superseded {
                superseded_by: decider.id,
                report,
            }),
            _ => current.push(report),
        }
    }

    let missing = missing_reports(policy, &current);
    let outcomes: Vec<ReportOutcome> = current
        .into_iter()
        .map(|r| judge(policy, r, today))
        .collect();

    let expired_waivers = policy
        .waivers
        .iter()
        .filter(|w| !w.active_on(today))
        .map(|w| ExpiredWaiver {
            subject: w.subject(),
            reason: w.reason.clone(),
            expired: date_text(w.expires),
        })
        .collect();

    let status = outcomes
        .iter()
        .map(|o| o.status)
        .chain(missing.iter().map(|m| m.status))
        .max()
        .unwrap_or(Status::Pass);
    let count = |s| outcomes.iter().filter(|o| o.status == s).count();
    let summary = Summary {
        reports: outcomes.len(),
        passed: count(Status::Pass),
        warned: count(Status::Warn),
        failed: count(Status::Fail),
        missing: missing.len(),
        superseded: superseded.len(),
    };
    Outcome {
        status,
        summary,
        reports: outcomes,
        missing,
        superseded,
        expired_waivers,
        projects_seen,
        projects_chosen: policy.projects.clone(),
    }
}

/// Orders reports by project, product version (precedence: `1.0` and `1.0.0` are one version)
/// and report type; `Equal` means they compete and only the newest upload counts.
fn same_group(a: &Report, b: &Report) -> Ordering {
    a.project_name
        .cmp(&b.project_name)
        .then_with(|| a.project_version.cmp(&b.project_version))
        .then_with(|| a.report_type.cmp(&b.report_type))
}

pub(crate) fn date_text(date: Date) -> String {
    format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

/// The reason a rating fails, without building a string for each of thousands of reports.
fn worse_rating(actual: SecurityRating, minimum: SecurityRating) -> &'static str {
    use SecurityRating::{A, B, C, D, E};
    match (actual, minimum) {
        (B, A) => "security rating B is worse than the minimum A",
        (C, A) => "security rating C is worse than the minimum A",
        (C, B) => "security rating C is worse than the minimum B",
        (D, A) => "security rating D is worse than the minimum A",
        (D, B) => "security rating D is worse than the minimum B",
        (D, C) => "security rating D is worse than the minimum C",
        (E, A) => "security rating E is worse than the minimum A",
        (E, B) => "security rating E is worse than the minimum B",
        (E, C) => "security rating E is worse than the minimum C",
        (E, D) => "security rating E is worse than the minimum D",
        _ => "security rating meets the minimum",
    }
}

const MEETS: Text = Cow::Borrowed("meets the policy");

fn judge(policy: &Policy, report: Report, today: Date) -> ReportOutcome {
    let limits = policy.limits(&report.project_name, &report.report_type);
    let mut rules = Vec::with_capacity(3);

    let rating = report.security_rating;
    let (status, reason) = if rating <= limits.min_rating {
        (Status::Pass, MEETS)
    } else {
        (
            Status::Fail,
            Cow::Borrowed(worse_rating(rating, limits.min_rating)),
        )
    };
    rules.push(rule(
        Rule::MinRating,
        Quantity::RatingOrBetter(limits.min_rating),
        Quantity::Rating(rating),
        status,
        reason,
    ));

    if let Some(max) = limits.max_vulnerabilities {
        let count = report.vulnerabilities_count;
        let (status, reason) = if count <= max {
            (Status::Pass, MEETS)
        } else {
            (
                Status::Fail,
                Cow::Owned(format!(
                    "{count} vulnerabilities, more than the {max} allowed"
                )),
            )
        };
        rules.push(rule(
            Rule::MaxVulnerabilities,
            Quantity::AtMost(max),
            Quantity::Count(count),
            status,
            reason,
        ));
    }

    if let Some(max) = limits.max_age_days {
        let analysed = report
            .date
            .datetime()
            .to_offset(time::UtcOffset::UTC)
            .date();
        let age = (today - analysed).whole_days();
        let (status, reason) = if age <= i64::from(max) {
            (Status::Pass, MEETS)
        } else {
            (
                Status::Fail,
                Cow::Owned(format!(
                    "analysed {age} days ago ({}), older than the {max} days allowed",
                    date_text(analysed)
                )),
            )
        };
        rules.push(rule(
            Rule::MaxAgeDays,
            Quantity::AtMostDays(i64::from(max)),
            Quantity::Days(age),
            status,
            reason,
        ));
    }

    // Waivers turn failures into warnings while they last.
    if rules.iter().any(|r| r.status == Status::Fail) {
        let mut waivers = policy
            .waivers
            .iter()
            .filter(|w| w.covers(&report.id, &report.project_name, &report.report_type));
        let first = waivers.clone().next();
        let active = waivers.find(|w| w.active_on(today));
        for r in rules.iter_mut().filter(|r| r.status == Status::Fail) {
            if let Some(w) = active {
                r.status = Status::Warn;
                r.reason = Cow::Owned(format!(
                    "{} (waived until {}: {})",
                    r.reason,
                    date_text(w.expires),
                    w.reason
                ));
                r.waiver = Some(WaiverUse {
                    reason: w.reason.clone(),
                    expires: date_text(w.expires),
                });
            } else if let Some(w) = first {
                r.reason = Cow::Owned(format!(
                    "{} (the waiver expired on {})",
                    r.reason,
                    date_text(w.expires)
                ));
            }
        }
    }

    let status = rules.iter().map(|r| r.status).max().unwrap_or(Status::Pass);
    ReportOutcome {
        report,
        status,
        rules,
    }
}

fn rule(
    rule: Rule,
    expected: Quantity,
    actual: Quantity,
    status: Status,
    reason: Text,
) -> RuleOutcome {
    RuleOutcome {
        rule,
        expected,
        actual,
        status,
        reason,
        waiver: None,
    }
}

fn missing_status(on_missing: OnMissing) -> Status {
    match on_missing {
        OnMissing::Fail => Status::Fail,
        OnMissing::Warn => Status::Warn,
        OnMissing::Pass => Status::Pass,
    }
}

/// Required reports absent from `current` (sorted by project and version, one report per
/// project, version and type).
fn missing_reports(policy: &Policy, current: &[Report]) -> Vec<MissingReport> {
    let status = missing_status(policy.on_missing);
    let mut missing = Vec::new();
    if current.is_empty() && policy.projects.is_empty() {
        missing.push(MissingReport {
            project_name: None,
            project_version: None,
            report_type: None,
            min_report_version: None,
            status,
            reason: "no report exists for the requested version".into(),
        });
        return missing;
    }
    for project in &policy.projects {
        if !current.iter().any(|r| &r.project_name == project) {
            missing.push(MissingReport {
                project_name: Some(project.clone()),
                project_version: None,
                report_type: None,
                min_report_version: None,
                status,
                reason: format!("no report exists for project {project} at the requested version"),
            });
        }
    }
    if policy.required_reports.is_empty() {
        return missing;
    }
    let same_version = |a: &Report, b: &Report| {
        a.project_name == b.project_name && a.project_version == b.project_version
    };
    for group in current.chunk_by(|a, b| same_version(a, b)) {
        let (project, version) = (&group[0].project_name, &group[0].project_version);
        for required in &policy.required_reports {
            let found = group.iter().find(|r| r.report_type == required.report_type);
            let acceptable = found.is_some_and(|r| {
                required
                    .min_version
                    .as_ref()
                    .is_none_or(|min| &r.report_version >= min)
            });
            if acceptable {
                continue;
            }
            let reason = match (&required.min_version, found) {
                (Some(min), Some(found)) => format!(
                    "{project} {version}: {} {} is too old; {min} or later is required",
                    required.report_type, found.report_version
                ),
                _ => format!("{project} {version}: no {} report", required.report_type),
            };
            missing.push(MissingReport {
                project_name: Some(project.clone()),
                project_version: Some(version.to_string()),
                report_type: Some(required.report_type.clone()),
                min_report_version: required.min_version.as_ref().map(ToString::to_string),
                status,
                reason,
            });
        }
    }
    missing
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_static_rating_reasons_say_what_the_format_would() {
        for actual in SecurityRating::ALL {
            for minimum in SecurityRating::ALL.into_iter().filter(|m| actual > *m) {
                assert_eq!(
                    worse_rating(actual, minimum),
                    format!("security rating {actual} is worse than the minimum {minimum}")
                );
            }
        }
    }
}
