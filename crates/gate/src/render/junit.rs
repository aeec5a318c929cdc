use procurize_core::text::escape_markup as xml;

use super::Context;
use crate::{Outcome, Status};

/// JUnit XML for GitLab's `artifacts:reports:junit`: a test case per report and rule, and per
/// missing report; failures carry the reason, warnings are passing cases that say so.
pub fn junit(context: &Context, outcome: &Outcome) -> String {
    let mut cases = String::new();
    let mut tests = 0;
    let mut failures = 0;
    let mut case = |classname: &str, name: &str, status: Status, message: &str, detail: &str| {
        tests += 1;
        cases.push_str(&format!(
            "    <testcase classname=\"{}\" name=\"{}\" file=\"{}\">\n",
            xml(classname),
            xml(name),
            xml(&context.anchor)
        ));
        match status {
            Status::Fail => {
                failures += 1;
                cases.push_str(&format!(
                    "      <failure message=\"{}\" type=\"procurize-gate\">{}</failure>\n",
                    xml(message),
                    xml(detail)
                ));
            }
            Status::Warn => cases.push_str(&format!(
                "      <system-out>warning: {}</system-out>\n",
                xml(message)
            )),
            Status::Pass => {}
        }
        cases.push_str("    </testcase>\n");
    };
    for r in &outcome.reports {
        let classname = format!("{} {}", r.report.project_name, r.report.project_version);
        for rule in &r.rules {
            let name = format!(
                "{} {}: {}",
                r.report.report_type, r.report.report_version, rule.rule
            );
            let detail = format!(
                "expected: {}\nactual: {}\nreport: {}",
                rule.expected, rule.actual, r.report.id
            );
            case(&classname, &name, rule.status, &rule.reason, &detail);
        }
    }
    for m in &outcome.missing {
        let classname = match (&m.project_name, &m.project_version) {
            (Some(p), Some(v)) => format!("{p} {v}"),
            (Some(p), None) => p.clone(),
            _ => context.filter.to_string(),
        };
        let name = format!(
            "required report: {}",
            m.report_type.as_deref().unwrap_or("any report")
        );
        case(&classname, &name, m.status, &m.reason, &m.reason);
    }
    let suite = xml(&format!("procurize gate: {}", context.filter));
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"procurize gate\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\">\n  <testsuite name=\"{suite}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" skipped=\"0\" timestamp=\"{}T00:00:00\">\n{cases}  </testsuite>\n</testsuites>\n",
        context.date()
    )
}
