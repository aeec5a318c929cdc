use procurize_core::SecurityRating;
use serde_json::{Value, json};

use super::{Context, INFORMATION_URI};
use crate::outcome::{Problem, Rule};
use crate::{Outcome, Status};

/// GitHub's `security-severity` (0.0–10.0) for a rating: B low, C medium, D high, E critical.
fn security_severity(rating: Option<SecurityRating>) -> &'static str {
    match rating {
        Some(SecurityRating::A) => "1.0",
        Some(SecurityRating::B) => "3.0",
        Some(SecurityRating::C) => "5.5",
        Some(SecurityRating::D) => "8.0",
        Some(SecurityRating::E) => "9.5",
        None => "5.5",
    }
}

struct RuleInfo {
    id: String,
    name: &'static str,
    short: String,
    full: &'static str,
    help: &'static str,
    rating: Option<SecurityRating>,
}

/// Every rule the gate can report, in a fixed order (so indices are stable): each report rule
/// once per rating, since GitHub takes severity from the rule, then the required-report rule.
fn rules() -> Vec<RuleInfo> {
    let mut rules = Vec::new();
    let kinds: [(Rule, &str, &str, &str); 3] = [
        (
            Rule::MinRating,
            "SecurityRatingBelowMinimum",
            "The SonarQube security rating of a report is worse than the policy's minimum.",
            "Fix the vulnerabilities SonarQube reports for this project and version, re-run the analysis and upload the new report to Procurize; or lower `min_rating` for this project or report type in the policy, or add a waiver with a reason and an expiry date.",
        ),
        (
            Rule::MaxVulnerabilities,
            "TooManyVulnerabilities",
            "A report counts more vulnerabilities than the policy allows.",
            "Fix vulnerabilities until the count is within `max_vulnerabilities`, re-run the analysis and upload the new report; or raise the limit for this project or report type, or add a waiver.",
        ),
        (
            Rule::MaxAgeDays,
            "ReportTooOld",
            "A report's analysis is older than the policy allows.",
            "Re-run the SonarQube analysis for this version and upload the report to Procurize; or raise `max_age_days`.",
        ),
    ];
    for (rule, name, full, help) in kinds {
        for rating in SecurityRating::ALL {
            rules.push(RuleInfo {
                id: format!("procurize/{}/{rating}", rule.as_str()),
                name,
                short: format!("{full} (rating {rating})"),
                full,
                help,
                rating: Some(rating),
            });
        }
    }
    rules.push(RuleInfo {
        id: format!("procurize/{}", Rule::RequiredReport.as_str()),
        name: "RequiredReportMissing",
        short: "A report the policy requires does not exist for the version.".into(),
        full: "A report type the policy requires (or any report at all) does not exist for a project and version, or only in an older edition than required.",
        help: "Run the missing SonarQube report for this project and version and upload it to Procurize; or remove it from `required_reports`, or set `on_missing`.",
        rating: None,
    });
    rules
}

fn rule_id(problem: &Problem<'_>) -> String {
    match problem.rating() {
        Some(rating) => format!("procurize/{}/{rating}", problem.rule().as_str()),
        None => format!("procurize/{}", problem.rule().as_str()),
    }
}

/// SARIF 2.1.0 for GitHub code scanning: valid against the 2.1.0 schema and meeting GitHub's
/// extra requirements (rules with descriptions, help, tags and `security-severity`; one location
/// per result, anchored to the policy file; stable `partialFingerprints`;
/// `automationDetails.id`).
pub fn sarif(context: &Context, outcome: &Outcome) -> String {
    let rules = rules();
    let rule_json: Vec<Value> = rules
        .iter()
        .map(|r| {
            json!({
                "id": r.id,
                "name": r.name,
                "shortDescription": { "text": r.short },
                "fullDescription": { "text": r.full },
                "help": { "text": r.help, "markdown": r.help },
                "helpUri": INFORMATION_URI,
                "defaultConfiguration": { "level": "error" },
                "properties": {
                    "tags": ["security", "procurize", "sonarqube"],
                    "precision": "very-high",
                    "problem.severity": "error",
                    "security-severity": security_severity(r.rating),
                },
            })
        })
        .collect();
    let results: Vec<Value> = outcome
        .problems()
        .iter()
        .map(|problem| {
            let id = rule_id(problem);
            let index = rules.iter().position(|r| r.id == id).unwrap_or(0);
            let mut properties = serde_json::Map::new();
            if let Problem::Rule { report, rule } = problem {
                properties.insert("reportId".into(), json!(report.report.id));
                properties.insert("projectName".into(), json!(report.report.project_name));
                properties.insert("projectVersion".into(), json!(report.report.project_version));
                properties.insert("reportType".into(), json!(report.report.report_type));
                properties.insert("securityRating".into(), json!(report.report.security_rating));
                properties.insert("expected".into(), json!(rule.expected));
                properties.insert("actual".into(), json!(rule.actual));
            }
            json!({
                "ruleId": id,
                "ruleIndex": index,
                "level": if problem.status() == Status::Fail { "error" } else { "warning" },
                "message": { "text": problem.message() },
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": { "uri": context.anchor },
                        "region": { "startLine": 1 },
                    },
                }],
                "partialFingerprints": { "procurizeGate/v1": problem.fingerprint(&context.organization) },
                "properties": properties,
            })
        })
        .collect();
    let document = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "procurize-gate",
                    "version": context.tool_version,
                    "semanticVersion": context.tool_version,
                    "informationUri": INFORMATION_URI,
                    "rules": rule_json,
                },
            },
            "automationDetails": { "id": format!("procurize-gate/{}/", context.filter_slug()) },
            "results": results,
            "properties": {
                "organization": context.organization,
                "status": outcome.status,
                "evaluatedOn": context.date(),
            },
        }],
    });
    let mut text = serde_json::to_string_pretty(&document)
        .unwrap_or_else(|e| unreachable!("plain data always serializes: {e}"));
    text.push('\n');
    text
}
