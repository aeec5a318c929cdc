use procurize_core::Uuid;
use serde::{Deserialize, Serialize};

use super::Context;
use crate::Outcome;

/// The version of the JSON document's shape. Additions keep it; a change that breaks readers
/// bumps it.
pub const JSON_SCHEMA_VERSION: u32 = 1;

/// The gate's JSON document: the outcome plus what it was evaluated for. Stable and documented,
/// so other tools (the notifier) can read it back with this type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GateDocument {
    /// [`JSON_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// `procurize` and its version.
    pub tool: Tool,
    /// The organization.
    pub organization: Uuid,
    /// The versions asked for.
    pub filter: Filter,
    /// The day the policy was evaluated, `YYYY-MM-DD`.
    pub evaluated_on: String,
    /// The verdict.
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// The tool that made a document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tool {
    /// Its name.
    pub name: String,
    /// Its version.
    pub version: String,
}

/// A version filter as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Filter {
    /// The exact version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The minimum.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_version: Option<String>,
    /// The maximum.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_version: Option<String>,
}

/// The JSON document, pretty-printed.
pub fn json(context: &Context, outcome: &Outcome) -> String {
    let mut text = serde_json::to_string_pretty(&document(context, outcome.clone()))
        .unwrap_or_else(|e| unreachable!("plain data always serializes: {e}"));
    text.push('\n');
    text
}

/// The JSON document as a value, taking the outcome (for callers that store or send it in their
/// own form, such as the workflow service).
pub fn document(context: &Context, outcome: Outcome) -> GateDocument {
    GateDocument {
        schema_version: JSON_SCHEMA_VERSION,
        tool: Tool {
            name: "procurize".into(),
            version: context.tool_version.clone(),
        },
        organization: context.organization,
        filter: Filter {
            version: context.filter.exact_version().map(ToString::to_string),
            min_version: context.filter.min_version().map(ToString::to_string),
            max_version: context.filter.max_version().map(ToString::to_string),
        },
        evaluated_on: context.date(),
        outcome,
    }
}
