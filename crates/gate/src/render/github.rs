//! GitHub Actions workflow commands, outputs and job summaries.

use super::Context;
use crate::{Outcome, Status};

/// Escapes a workflow command's message, as GitHub's runner expects.
pub fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a workflow command's property value (also `:` and `,`).
pub fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

/// `::error title=…::message` for each failure and `::warning …` for each warning.
pub fn annotations(outcome: &Outcome) -> Vec<String> {
    outcome
        .problems()
        .iter()
        .map(|problem| {
            let command = if problem.status() == Status::Fail {
                "error"
            } else {
                "warning"
            };
            let title = format!("Procurize gate: {}", problem.rule());
            format!(
                "::{command} title={}::{}",
                escape_property(&title),
                escape_data(&problem.message())
            )
        })
        .collect()
}

/// Lines for `$GITHUB_OUTPUT`: `status`, `report-count`, `failed-count`, and `NAME=PATH` for each
/// written file (e.g. `sarif-file`).
pub fn outputs(outcome: &Outcome, files: &[(&str, &str)]) -> String {
    let mut out = format!(
        "status={}\nreport-count={}\nfailed-count={}\n",
        outcome.status, outcome.summary.reports, outcome.summary.failed
    );
    for (name, path) in files {
        // A value with a newline would need the heredoc form; paths do not have one.
        out.push_str(&format!("{name}={}\n", path.replace(['\n', '\r'], "")));
    }
    out
}

/// The Markdown job summary for `$GITHUB_STEP_SUMMARY`.
pub fn summary(context: &Context, outcome: &Outcome) -> String {
    super::markdown(context, outcome)
}
