use super::Context;
use crate::{Outcome, Status};

fn cell(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '|' => out.push_str("\\|"),
            '\n' | '\r' => out.push(' '),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '*' | '_' | '`' | '[' | ']' => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

fn badge(status: Status) -> &'static str {
    match status {
        Status::Pass => "✅ pass",
        Status::Warn => "⚠️ warn",
        Status::Fail => "❌ fail",
    }
}

/// A compact table for job summaries and merge-request comments.
pub fn markdown(context: &Context, outcome: &Outcome) -> String {
    let s = &outcome.summary;
    let mut out = format!(
        "### {} Procurize security gate: {}\n\n`{}` · {} report{}: {} passed, {} warned, {} failed · {} missing\n\n",
        match outcome.status {
            Status::Pass => "✅",
            Status::Warn => "⚠️",
            Status::Fail => "❌",
        },
        match outcome.status {
            Status::Pass => "passed",
            Status::Warn => "passed with warnings",
            Status::Fail => "failed",
        },
        context.filter,
        s.reports,
        if s.reports == 1 { "" } else { "s" },
        s.passed,
        s.warned,
        s.failed,
        s.missing
    );
    if let Some(notice) = super::scope_notice(context, outcome, cell, "`--project NAME`") {
        out.push_str(&format!("> [!NOTE]\n> {notice}\n\n"));
    }
    if !outcome.reports.is_empty() {
        out.push_str("| Project | Version | Report | Rating | Vulnerabilities | Verdict | Why |\n");
        out.push_str("|---|---|---|:-:|--:|---|---|\n");
        for r in &outcome.reports {
            let why: Vec<String> = r.problems().map(|p| cell(&p.reason)).collect();
            out.push_str(&format!(
                "| {} | {} | {} {} | {} | {} | {} | {} |\n",
                cell(&r.report.project_name),
                cell(r.report.project_version.as_str()),
                cell(&r.report.report_type),
                cell(r.report.report_version.as_str()),
                r.report.security_rating,
                r.report.vulnerabilities_count,
                badge(r.status),
                why.join("; ")
            ));
        }
        out.push('\n');
    }
    if !outcome.missing.is_empty() {
        out.push_str("**Missing reports**\n\n");
        for m in &outcome.missing {
            out.push_str(&format!("- {}: {}\n", badge(m.status), cell(&m.reason)));
        }
        out.push('\n');
    }
    if !outcome.superseded.is_empty() {
        out.push_str("<details><summary>Superseded reports</summary>\n\n");
        for sup in &outcome.superseded {
            out.push_str(&format!(
                "- {} {} {}: `{}` superseded by `{}`\n",
                cell(&sup.report.project_name),
                cell(sup.report.project_version.as_str()),
                cell(&sup.report.report_type),
                sup.report.id,
                sup.superseded_by
            ));
        }
        out.push_str("\n</details>\n\n");
    }
    for w in &outcome.expired_waivers {
        out.push_str(&format!(
            "> The waiver for {} expired on {} and no longer applies: {}\n",
            cell(&w.subject),
            w.expired,
            cell(&w.reason)
        ));
    }
    out
}
