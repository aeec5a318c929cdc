use super::Context;
use crate::{Outcome, Status};

/// For a CI log: one line per report with its rating, count, verdict and why; then what is
/// missing, superseded or expired; then the verdict.
pub fn text(context: &Context, outcome: &Outcome) -> String {
    let mut out = String::new();
    if let Some(notice) = super::scope_notice(context, outcome, str::to_owned, "--project NAME") {
        out.push_str(&format!("note  {notice}\n"));
    }
    let mark = |s: Status| match s {
        Status::Pass => "PASS",
        Status::Warn => "WARN",
        Status::Fail => "FAIL",
    };
    for r in &outcome.reports {
        let why: Vec<&str> = r.problems().map(|p| &*p.reason).collect();
        let why = if why.is_empty() {
            "meets the policy".to_owned()
        } else {
            why.join("; ")
        };
        out.push_str(&format!(
            "{}  {} {}  {} {}  rating {}  {} vulnerabilit{}  {}\n",
            mark(r.status),
            r.report.project_name,
            r.report.project_version,
            r.report.report_type,
            r.report.report_version,
            r.report.security_rating,
            r.report.vulnerabilities_count,
            if r.report.vulnerabilities_count == 1 {
                "y"
            } else {
                "ies"
            },
            why
        ));
    }
    for m in &outcome.missing {
        out.push_str(&format!("{}  missing: {}\n", mark(m.status), m.reason));
    }
    for s in &outcome.superseded {
        out.push_str(&format!(
            "note  {} {} {}: report {} (uploaded {}) is superseded by {}\n",
            s.report.project_name,
            s.report.project_version,
            s.report.report_type,
            s.report.id,
            s.report.upload_date,
            s.superseded_by
        ));
    }
    for w in &outcome.expired_waivers {
        out.push_str(&format!(
            "note  the waiver for {} expired on {} and no longer applies ({})\n",
            w.subject, w.expired, w.reason
        ));
    }
    let s = &outcome.summary;
    out.push_str(&format!(
        "gate {} for {} in organization {}: {} report{}: {} passed, {} warned, {} failed; {} missing; {} superseded\n",
        match outcome.status {
            Status::Pass => "passed",
            Status::Warn => "passed with warnings",
            Status::Fail => "failed",
        },
        context.filter,
        context.organization,
        s.reports,
        if s.reports == 1 { "" } else { "s" },
        s.passed,
        s.warned,
        s.failed,
        s.missing,
        s.superseded
    ));
    out
}
