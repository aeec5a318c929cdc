use procurize_core::SecurityRating;
use serde_json::{Value, json};

use super::Context;
use crate::Outcome;
use crate::outcome::Problem;

fn severity(problem: &Problem<'_>) -> &'static str {
    match problem.rating() {
        Some(SecurityRating::A) => "info",
        Some(SecurityRating::B) => "minor",
        Some(SecurityRating::C) => "major",
        Some(SecurityRating::D) => "critical",
        Some(SecurityRating::E) => "blocker",
        None => "major",
    }
}

/// GitLab Code Quality (Code Climate) JSON: one issue per failed or warned rule and per missing
/// report, with a stable fingerprint.
pub fn codequality(context: &Context, outcome: &Outcome) -> String {
    let issues: Vec<Value> = outcome
        .problems()
        .iter()
        .map(|problem| {
            json!({
                "type": "issue",
                "description": problem.message(),
                "check_name": format!("procurize/{}", problem.rule().as_str()),
                "categories": ["Security"],
                "fingerprint": problem.fingerprint(&context.organization),
                "severity": severity(problem),
                "location": {
                    "path": context.anchor,
                    "lines": { "begin": 1 },
                },
            })
        })
        .collect();
    let mut text = serde_json::to_string_pretty(&issues)
        .unwrap_or_else(|e| unreachable!("plain data always serializes: {e}"));
    text.push('\n');
    text
}
