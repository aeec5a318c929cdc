//! Evaluating a policy over a version's reports. Pure: no I/O, the date is an input.

use std::collections::BTreeMap;

use procurize_core::{ProductVersion, Report, SecurityRating};
use time::Date;

use crate::outcome::{
    ExpiredWaiver, MissingReport, Outcome, ReportOutcome, Rule, RuleOutcome, Status, Summary,
    Superseded, WaiverUse,
};
use crate::policy::{OnMissing, Policy};

/// Evaluates `policy` over `reports` as of `today`.
///
/// When several reports share project, type and product version, the newest `uploadDate`
/// decides and the older ones are listed as superseded. Everything is ordered
/// deterministically, whatever order the reports came in.
pub fn evaluate(policy: &Policy, reports: &[Report], today: Date) -> Outcome {
    let in_scope: Vec<&Report> = reports
        .iter()
        .filter(|r| policy.projects.is_empty() || policy.projects.contains(&r.project_name))
        .collect();

    // Newest upload per (project, version, type); the others are superseded by it.
    type Key = (String, ProductVersion, String);
    let key = |r: &Report| -> Key {
        (
            r.project_name.clone(),
            r.project_version.clone(),
            r.report_type.clone(),
        )
    };
    let mut current: BTreeMap<Key, &Report> = BTreeMap::new();
    let mut older: Vec<&Report> = Vec::new();
    for report in in_scope {
        match current.insert(key(report), report) {
            Some(previous) if newer(previous, report) => {
                older.push(report);
                current.insert(key(report), previous);
            }
            Some(previous) => older.push(previous),
            None => {}
        }
    }
    let mut superseded: Vec<Superseded> = older
        .into_iter()
        .map(|r| Superseded {
            id: r.id,
            superseded_by: current[&key(r)].id,
            project_name: r.project_name.clone(),
            project_version: r.project_version.to_string(),
            report_type: r.report_type.clone(),
            upload_date: r.upload_date.to_string(),
        })
        .collect();
    superseded.sort_by(|a, b| {
        (&a.project_name, &a.report_type, &a.upload_date, a.id).cmp(&(
            &b.project_name,
            &b.report_type,
            &b.upload_date,
            b.id,
        ))
    });

    let mut outcomes: Vec<ReportOutcome> =
        current.values().map(|r| judge(policy, r, today)).collect();
    outcomes.sort_by(|a, b| {
        (
            &a.project_name,
            version_key(&a.project_version),
            &a.report_type,
            &a.report_version,
            a.id,
        )
            .cmp(&(
                &b.project_name,
                version_key(&b.project_version),
                &b.report_type,
                &b.report_version,
                b.id,
            ))
    });

    let missing = missing_reports(policy, current.values().copied());

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
    }
}

/// Whether `kept` stays over `other`: a later upload, or on a tie the larger ID (so the choice
/// does not depend on the order reports came in).
fn newer(kept: &Report, other: &Report) -> bool {
    (&kept.upload_date, kept.id) > (&other.upload_date, other.id)
}

fn version_key(text: &str) -> Option<ProductVersion> {
    ProductVersion::parse(text).ok()
}

pub(crate) fn date_text(date: Date) -> String {
    format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

fn rating_words(rating: SecurityRating) -> String {
    if rating == SecurityRating::A {
        "A".to_owned()
    } else {
        format!("{rating} or better")
    }
}

fn judge(policy: &Policy, report: &Report, today: Date) -> ReportOutcome {
    let limits = policy.limits(&report.project_name, &report.report_type);
    let mut rules = Vec::with_capacity(3);

    let rating = report.security_rating;
    rules.push(if rating <= limits.min_rating {
        rule(
            Rule::MinRating,
            rating_words(limits.min_rating),
            rating.to_string(),
            Status::Pass,
            format!(
                "security rating {rating} meets {}",
                rating_words(limits.min_rating)
            ),
        )
    } else {
        rule(
            Rule::MinRating,
            rating_words(limits.min_rating),
            rating.to_string(),
            Status::Fail,
            format!(
                "security rating {rating} is worse than the minimum {}",
                limits.min_rating
            ),
        )
    });

    if let Some(max) = limits.max_vulnerabilities {
        let count = report.vulnerabilities_count;
        let (status, reason) = if count <= max {
            (
                Status::Pass,
                format!("{count} vulnerabilities, at most {max} allowed"),
            )
        } else {
            (
                Status::Fail,
                format!("{count} vulnerabilities, more than the {max} allowed"),
            )
        };
        rules.push(rule(
            Rule::MaxVulnerabilities,
            format!("at most {max}"),
            count.to_string(),
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
            (
                Status::Pass,
                format!("analysed {age} days ago, at most {max} allowed"),
            )
        } else {
            (
                Status::Fail,
                format!(
                    "analysed {age} days ago ({}), older than the {max} days allowed",
                    date_text(analysed)
                ),
            )
        };
        rules.push(rule(
            Rule::MaxAgeDays,
            format!("at most {max} days"),
            format!("{age} days"),
            status,
            reason,
        ));
    }

    // Waivers turn failures into warnings while they last.
    let waivers: Vec<_> = policy
        .waivers
        .iter()
        .filter(|w| w.covers(&report.id, &report.project_name, &report.report_type))
        .collect();
    for r in rules.iter_mut().filter(|r| r.status == Status::Fail) {
        if let Some(w) = waivers.iter().find(|w| w.active_on(today)) {
            r.status = Status::Warn;
            r.reason = format!(
                "{} (waived until {}: {})",
                r.reason,
                date_text(w.expires),
                w.reason
            );
            r.waiver = Some(WaiverUse {
                reason: w.reason.clone(),
                expires: date_text(w.expires),
            });
        } else if let Some(w) = waivers.first() {
            r.reason = format!(
                "{} (the waiver expired on {})",
                r.reason,
                date_text(w.expires)
            );
        }
    }

    let status = rules.iter().map(|r| r.status).max().unwrap_or(Status::Pass);
    ReportOutcome {
        id: report.id,
        project_name: report.project_name.clone(),
        project_version: report.project_version.to_string(),
        report_type: report.report_type.clone(),
        report_version: report.report_version.to_string(),
        security_rating: report.security_rating,
        vulnerabilities_count: report.vulnerabilities_count,
        date: report.date.to_string(),
        upload_date: report.upload_date.to_string(),
        status,
        rules,
    }
}

fn rule(
    rule: Rule,
    expected: String,
    actual: String,
    status: Status,
    reason: String,
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

fn missing_reports<'a>(
    policy: &Policy,
    current: impl Iterator<Item = &'a Report>,
) -> Vec<MissingReport> {
    let status = missing_status(policy.on_missing);
    // Every (project, version) with reports, and the reports of each.
    let mut groups: BTreeMap<(String, ProductVersion), Vec<&Report>> = BTreeMap::new();
    for report in current {
        groups
            .entry((report.project_name.clone(), report.project_version.clone()))
            .or_default()
            .push(report);
    }
    let mut missing = Vec::new();
    if groups.is_empty() && policy.projects.is_empty() {
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
        if !groups.keys().any(|(p, _)| p == project) {
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
    for ((project, version), reports) in &groups {
        for required in &policy.required_reports {
            let of_type: Vec<&&Report> = reports
                .iter()
                .filter(|r| r.report_type == required.report_type)
                .collect();
            let acceptable = of_type.iter().any(|r| {
                required
                    .min_version
                    .as_ref()
                    .is_none_or(|min| &r.report_version >= min)
            });
            if acceptable {
                continue;
            }
            let reason = match (&required.min_version, of_type.first()) {
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
