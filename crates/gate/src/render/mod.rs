//! The outcome in the formats people and CI systems read. Every renderer returns text; writing
//! it anywhere is the caller's business.

mod codequality;
pub mod github;
mod json;
mod junit;
mod markdown;
mod sarif;
mod text;

pub use codequality::codequality;
pub use json::{GateDocument, JSON_SCHEMA_VERSION, document, json};
pub use junit::junit;
pub use markdown::markdown;
pub use sarif::sarif;
pub use text::text;

use procurize_core::{Uuid, VersionFilter};
use time::Date;

/// What every renderer needs besides the outcome.
#[derive(Debug, Clone)]
pub struct Context {
    /// The organization.
    pub organization: Uuid,
    /// The versions asked for.
    pub filter: VersionFilter,
    /// The tool's version, e.g. `0.1.0`.
    pub tool_version: String,
    /// The file results are anchored to where a format needs a location (reports have none):
    /// the policy file, or a path given by the user.
    pub anchor: String,
    /// The day the policy was evaluated.
    pub evaluated_on: Date,
}

impl Context {
    /// The filter as a short slug for identifiers: `version-1.0`, `min-1.0-max-2.0`.
    pub fn filter_slug(&self) -> String {
        let mut parts = Vec::new();
        if let Some(v) = self.filter.exact_version() {
            parts.push(format!("version-{v}"));
        }
        if let Some(v) = self.filter.min_version() {
            parts.push(format!("min-{v}"));
        }
        if let Some(v) = self.filter.max_version() {
            parts.push(format!("max-{v}"));
        }
        parts.join("-")
    }

    pub(crate) fn date(&self) -> String {
        crate::evaluate::date_text(self.evaluated_on)
    }
}

/// One sentence when the policy chose no project and reports of several were gated together,
/// naming how many and which, and how to choose: products of one organization often share version
/// numbers, and one product's pipeline should not fail on another's report. `name` formats each
/// project name for the output (escaping), `flag` is how the option is shown.
pub(crate) fn scope_notice(
    context: &Context,
    outcome: &crate::Outcome,
    name: fn(&str) -> String,
    flag: &str,
) -> Option<String> {
    let projects = outcome.unscoped_projects()?;
    let names: Vec<String> = projects.iter().map(|p| name(p)).collect();
    Some(format!(
        "reports of {} projects match {} and were gated together: {}. To gate one, pass {flag} (repeatable).",
        projects.len(),
        context.filter,
        names.join(", ")
    ))
}

/// The project's home page, where SARIF and other formats point for help.
pub const INFORMATION_URI: &str = "https://github.com/procurize/procurize-pipeline";
