//! `procurize gate`: evaluate a policy over a version's reports, write every requested output,
//! and exit 1 when the gate fails.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use procurize_core::fs::write_atomic;
use procurize_gate::render::{self, Context};
use procurize_gate::{OnMissing, Policy, Status, evaluate};

use crate::args::{GateArgs, GateFormat, Global};
use crate::connect::connect;
use crate::{Exit, UsageError};

/// Renders an outcome into one format.
type Renderer = fn(&Context, &procurize_gate::Outcome) -> String;

/// Where results are anchored when no policy file or anchor is given.
const DEFAULT_ANCHOR: &str = "procurize-policy.toml";

pub(crate) async fn run(global: &Global, args: GateArgs) -> anyhow::Result<Exit> {
    let policy = load_policy(&args)?;
    let filter = args.filter.to_filter()?;
    let connection = connect(global).await?;
    let list = connection.client.list_reports(&filter).await?;
    let today = args
        .as_of
        .unwrap_or_else(|| time::OffsetDateTime::now_utc().date());
    let outcome = evaluate(&policy, list.reports, today);
    let anchor = args
        .sarif_anchor
        .clone()
        .or_else(|| args.policy.as_ref().map(|p| p.display().to_string()))
        .unwrap_or_else(|| DEFAULT_ANCHOR.to_owned());
    let context = Context {
        organization: connection.client.organization(),
        filter,
        tool_version: env!("CARGO_PKG_VERSION").to_owned(),
        anchor,
        evaluated_on: today,
    };

    // Every requested file, whatever the verdict: pipelines upload them with `if: always()`.
    let files: [(&str, &Option<PathBuf>, Renderer); 5] = [
        ("sarif-file", &args.sarif, render::sarif),
        ("junit-file", &args.junit, render::junit),
        ("codequality-file", &args.codequality, render::codequality),
        ("json-file", &args.json, render::json),
        ("markdown-file", &args.markdown, render::markdown),
    ];
    let mut written = Vec::new();
    let mut write_errors = Vec::new();
    for (name, path, renderer) in files {
        if let Some(path) = path {
            match write_atomic(path, renderer(&context, &outcome).as_bytes()) {
                Ok(()) => written.push((name, path.display().to_string())),
                Err(e) => write_errors.push(e),
            }
        }
    }

    let mut out = anstream::stdout().lock();
    let in_github = std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true");
    if in_github {
        for line in render::github::annotations(&outcome) {
            writeln!(out, "{line}")?;
        }
        let named: Vec<(&str, &str)> = written.iter().map(|(n, p)| (*n, p.as_str())).collect();
        append_env_file("GITHUB_OUTPUT", &render::github::outputs(&outcome, &named))?;
        append_env_file(
            "GITHUB_STEP_SUMMARY",
            &render::github::summary(&context, &outcome),
        )?;
    }
    let shown = match args.format {
        GateFormat::Text => render::text(&context, &outcome),
        GateFormat::Json => render::json(&context, &outcome),
        GateFormat::Markdown => render::markdown(&context, &outcome),
    };
    out.write_all(shown.as_bytes())?;
    out.flush()?;
    drop(out);
    if args.pr_comment {
        let comment = procurize_review::Comment {
            scope: &procurize_review::Scope::projects(&outcome.projects_chosen),
            status: outcome.status,
            markdown: &render::markdown(&context, &outcome),
        };
        crate::review::comment(&comment, global.timeout, in_github).await;
    }

    if let Some(first) = write_errors.into_iter().next() {
        return Err(anyhow::Error::new(first).context("could not write every requested output"));
    }
    Ok(match outcome.status {
        Status::Fail if !args.no_fail => Exit::CheckFailed,
        _ => Exit::Success,
    })
}

/// Reads and parses a policy file; a file that cannot be read or parsed is a usage error.
pub(crate) fn read_policy(path: &Path) -> anyhow::Result<Policy> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        UsageError(format!(
            "cannot read the policy file {}: {e}",
            path.display()
        ))
    })?;
    Ok(Policy::from_toml(&text, &path.display().to_string())
        .map_err(|e| UsageError(e.to_string()))?)
}

fn load_policy(args: &GateArgs) -> anyhow::Result<Policy> {
    let mut policy = match &args.policy {
        Some(path) => read_policy(path)?,
        None => Policy::default(),
    };
    if let Some(rating) = args.min_rating {
        policy.min_rating = rating;
    }
    if let Some(max) = args.max_vulnerabilities {
        policy.max_vulnerabilities = Some(max);
    }
    if let Some(days) = args.max_age_days {
        policy.max_age_days = Some(days);
    }
    if let Some(on_missing) = &args.on_missing {
        policy.on_missing = on_missing.parse::<OnMissing>().map_err(UsageError)?;
    }
    policy
        .required_reports
        .extend(args.require_reports.iter().cloned());
    if !args.projects.is_empty() {
        policy.projects = args.projects.clone();
    }
    Ok(policy)
}

/// Appends to the file a GitHub runner names in an environment variable.
fn append_env_file(variable: &str, text: &str) -> anyhow::Result<()> {
    let Some(path) = std::env::var_os(variable) else {
        tracing::warn!("{variable} is not set; skipping it");
        return Ok(());
    };
    let path = Path::new(&path);
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot open ${variable} ({})", path.display()))?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("cannot write ${variable} ({})", path.display()))?;
    Ok(())
}
