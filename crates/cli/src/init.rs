//! `procurize init`: a commented policy and the CI file that gates with it, for a repository
//! starting out.

use std::fs::OpenOptions;
use std::io::Write as _;
use std::path::Path;

use crate::args::{Global, InitArgs, InitCi, VersionFrom};
use crate::{Exit, UsageError};

/// Where the policy goes, relative to the repository's root.
const POLICY_PATH: &str = ".procurize/policy.toml";

/// One file to write: its path relative to the root, and its text.
struct Planned {
    path: &'static str,
    text: String,
}

pub(crate) fn run(global: &Global, args: &InitArgs) -> anyhow::Result<Exit> {
    let planned = plan(args)?;
    // Every file is checked before any is written: a repository gets all of them or none.
    if let Some(existing) = planned.iter().find(|p| args.dir.join(p.path).exists()) {
        let mut message = format!(
            "{} exists already; nothing was written (procurize init never overwrites a file)",
            shown(&args.dir, existing.path)
        );
        if existing.path == ".gitlab-ci.yml" {
            message.push_str(&format!(
                ". Add this to it instead:\n\n{}",
                gitlab_include(args)?
            ));
        }
        return Err(UsageError(message).into());
    }
    let mut written = Vec::new();
    let mut names = Vec::new();
    for file in &planned {
        let path = args.dir.join(file.path);
        if let Err(e) = write_new(&path, &file.text) {
            // Nothing half-done: what this run wrote goes again.
            for done in &written {
                let _ = std::fs::remove_file(done);
            }
            return Err(UsageError(format!("cannot write {}: {e}", path.display())).into());
        }
        written.push(path);
        names.push(shown(&args.dir, file.path));
    }
    if !global.quiet {
        for name in &names {
            println!("Wrote {name}");
        }
        println!("{}", next_steps(args));
    }
    Ok(Exit::Success)
}

fn plan(args: &InitArgs) -> Result<Vec<Planned>, UsageError> {
    let ci = match args.ci {
        InitCi::Github => Planned {
            path: ".github/workflows/procurize.yml",
            text: github_workflow(args),
        },
        InitCi::Gitlab => Planned {
            path: ".gitlab-ci.yml",
            text: format!("{GITLAB_HEADER}{}", gitlab_include(args)?),
        },
    };
    Ok(vec![
        Planned {
            path: POLICY_PATH,
            text: policy(&args.project),
        },
        ci,
    ])
}

/// Creates `path` (and its folders) with `text`; fails if it exists.
fn write_new(path: &Path, text: &str) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut file = OpenOptions::new().write(true).create_new(true).open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

/// A string as a TOML basic string or a YAML double-quoted scalar: JSON's escaping is valid in
/// both.
fn quoted(text: &str) -> String {
    serde_json::Value::String(text.to_owned()).to_string()
}

fn next_steps(args: &InitArgs) -> String {
    let (variable, place) = match args.ci {
        InitCi::Github => (
            "the repository variable",
            "Settings > Secrets and variables > Actions > Variables",
        ),
        InitCi::Gitlab => ("the CI/CD variable", "Settings > CI/CD > Variables"),
    };
    let when = match args.version_from {
        VersionFrom::Tag => "every version tag pushed (v1.2.3)",
        VersionFrom::Branch => "every push to a release branch (release/1.2.3)",
    };
    format!(
        "\nNext:\n  1. Set {variable} PROCURIZE_ORG to your organization ID ({place}).\n  \
         2. Review {POLICY_PATH}: `procurize gate --policy {POLICY_PATH} --version V` tries it.\n  \
         3. Commit both files. The gate then runs on {when}."
    )
}

/// How a written file is named to the user: relative to the folder they are in when `--dir` is
/// the default.
fn shown(dir: &Path, path: &str) -> String {
    if dir == Path::new(".") {
        path.to_owned()
    } else {
        dir.join(path).display().to_string()
    }
}

/// The policy: every field, explained; the values a team starts with; the projects asked for.
fn policy(projects: &[String]) -> String {
    let projects = if projects.is_empty() {
        "# projects = [\"Payments API\"]".to_owned()
    } else {
        let names: Vec<String> = projects.iter().map(|p| quoted(p)).collect();
        format!("projects = [{}]", names.join(", "))
    };
    POLICY_TEMPLATE.replace("{projects}", &projects)
}

const POLICY_TEMPLATE: &str = r#"# The security gate's policy, read by `procurize gate --policy .procurize/policy.toml` and by the
# quality-gate action and template. Every field is optional; each has a flag of the same name.
# Unknown keys and bad values are errors naming the line, so a typo never passes silently.

# The worst acceptable SonarQube security rating, A (best) to E. SonarQube's own gate asks for A;
# B is a common start for code that already exists.
min_rating = "B"

# The most vulnerabilities acceptable in one report. Default: no limit.
# max_vulnerabilities = 10

# The oldest acceptable analysis (the report's `date`), in days: a report older than this says
# nothing about the code being released. Default: no limit.
max_age_days = 90

# Report types every project and version must have, optionally in a minimum edition
# ("CWE Top 25@2024", or { type = "OWASP Top 10", min_version = 2021 }).
required_reports = ["CWE Top 25"]

# What a missing report (or no report at all) means: fail, warn or pass. Start with warn while
# the reports are being set up, then make it fail.
on_missing = "warn"

# Gate only these projects (SonarQube project names); each must have reports. Without it every
# project with reports at the version is gated: an organization's products often share versions.
{projects}

# Different limits for a project, a report type, or both; the most specific wins, field by field.
# [[override]]
# report_type = "PCI DSS"
# min_rating = "A"

# Accepted exceptions: a report's failures become warnings until the waiver expires. Give the
# reason and the ticket; an expired waiver no longer applies and is reported as expired.
# [[waiver]]
# project = "Payments API"
# report_type = "OWASP Top 10"
# reason = "accepted risk, see SEC-42"
# expires = 2027-06-30
"#;

/// The GitHub workflow: the quality-gate action on every version tag or release branch, its
/// SARIF uploaded to code scanning.
fn github_workflow(args: &InitArgs) -> String {
    let trigger = match args.version_from {
        VersionFrom::Tag => "    tags: [\"v[0-9]*\", \"[0-9]*\"]",
        VersionFrom::Branch => "    branches: [\"release/*\"]",
    };
    let project = match args.project.as_slice() {
        [] => String::new(),
        projects => format!("          project: {}\n", quoted(&projects.join("\n"))),
    };
    format!(
        r#"# Written by `procurize init github`: gates every release on Procurize's SonarQube security
# reports with the policy in .procurize/policy.toml. Needs the repository variable PROCURIZE_ORG.
name: Procurize security gate
on:
  push:
{trigger}
permissions:
  contents: read
jobs:
  security-gate:
    runs-on: ubuntu-latest
    permissions:
      contents: read
      security-events: write # to upload SARIF to code scanning
    steps:
      - uses: actions/checkout@v5
        with:
          persist-credentials: false
      - uses: procurize/procurize-pipeline/plugins/quality-gate@v{version}
        with:
          org: ${{{{ vars.PROCURIZE_ORG }}}}
          # The tag (v1.2.3) or branch (release/1.2.3) pushed; procurize reads the version in it.
          version: ${{{{ github.ref_name }}}}
{project}          policy: .procurize/policy.toml
          sarif-file: procurize-gate.sarif
      - if: always()
        uses: github/codeql-action/upload-sarif@v4
        with:
          sarif_file: procurize-gate.sarif
          category: procurize-gate
"#,
        version = env!("CARGO_PKG_VERSION"),
    )
}

const GITLAB_HEADER: &str = "\
# Written by `procurize init gitlab`: gates every release on Procurize's SonarQube security
# reports with the policy in .procurize/policy.toml. Needs the CI/CD variable PROCURIZE_ORG.
stages: [test]

";

/// The include of the quality-gate template, with the job's rules: it runs where there is a
/// version to gate.
fn gitlab_include(args: &InitArgs) -> Result<String, UsageError> {
    if let Some(name) = args.project.iter().find(|p| p.contains(',')) {
        return Err(UsageError(format!(
            "--project {name:?}: the GitLab template separates projects with commas, so a name \
             cannot contain one"
        )));
    }
    let (version, rule) = match args.version_from {
        VersionFrom::Tag => ("$CI_COMMIT_TAG", "$CI_COMMIT_TAG =~ /^v?[0-9]/"),
        VersionFrom::Branch => ("$CI_COMMIT_BRANCH", "$CI_COMMIT_BRANCH =~ /^release\\//"),
    };
    let project = match args.project.as_slice() {
        [] => String::new(),
        projects => format!("      project: {}\n", quoted(&projects.join(","))),
    };
    Ok(format!(
        r#"include:
  - remote: https://raw.githubusercontent.com/procurize/procurize-pipeline/v{version}/gitlab-ci-templates/quality-gate.yml
    inputs:
      stage: test
      version: {version_variable}
{project}      policy: .procurize/policy.toml
      procurize-version: {version}

# The template's job, run only for a version: a tag (v1.2.3) or a release branch (release/1.2.3).
procurize-quality-gate:
  rules:
    - if: {rule}
"#,
        version = env!("CARGO_PKG_VERSION"),
        version_variable = version,
    ))
}
