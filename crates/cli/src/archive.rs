//! `procurize archive` and `procurize verify`.

use std::io::Write;

use anyhow::Context as _;
use procurize_archive::{
    Evidence, Limits, PublicKey, Selection, SigningKey, Verdict, VerificationResult, collect,
    verify_bundle, write_bundle,
};
use procurize_core::{ProductVersion, VersionFilter};
use procurize_gate::render::{self, Context};
use time::format_description::well_known::Rfc3339;

use crate::args::{ArchiveArgs, Global, VerifyArgs};
use crate::connect::connect;
use crate::output::human_bytes;
use crate::{Exit, UsageError};

fn signing_key(args: &ArchiveArgs) -> anyhow::Result<SigningKey> {
    let origin = match (&args.key, &args.key_env) {
        (Some(path), _) => path.display().to_string(),
        (None, Some(variable)) => format!("${variable}"),
        (None, None) => {
            return Err(UsageError("a signing key is required: --key or --key-env".into()).into());
        }
    };
    let pem = procurize_core::SecretSource::new(args.key_env.clone(), args.key.clone())
        .read_as(["--key-env", "--key"])
        .map_err(|e| UsageError(format!("the signing key: {e}")))?;
    SigningKey::from_pkcs8_pem(&pem).with_context(|| format!("the signing key {origin}"))
}

/// The recorded time: `SOURCE_DATE_EPOCH` when set (reproducible bundles), else now, in UTC.
fn clock() -> anyhow::Result<impl Fn() -> String> {
    let fixed = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(text) => {
            let seconds: i64 = text.trim().parse().map_err(|_| {
                UsageError(format!(
                    "SOURCE_DATE_EPOCH `{text}` is not a Unix time in seconds"
                ))
            })?;
            Some(
                time::OffsetDateTime::from_unix_timestamp(seconds)
                    .map_err(|e| UsageError(format!("SOURCE_DATE_EPOCH `{text}`: {e}")))?,
            )
        }
        Err(_) => None,
    };
    Ok(move || {
        let at = fixed.unwrap_or_else(time::OffsetDateTime::now_utc);
        at.format(&Rfc3339).unwrap_or_default()
    })
}

/// One line when versions were archived without `--project` and their reports belong to several
/// projects: how many and which, and how to choose one.
fn scope_notice(selection: &Selection, evidence: &procurize_archive::Evidence) -> Option<String> {
    let Selection::Versions { projects, .. } = selection else {
        return None;
    };
    let mut seen: Vec<&str> = evidence
        .artifacts
        .iter()
        .filter_map(|a| a.report.as_ref().map(|r| r.project_name.as_str()))
        .collect();
    seen.sort_unstable();
    seen.dedup();
    (projects.is_empty() && seen.len() > 1).then(|| {
        format!(
            "note: the bundle holds the reports of {} projects: {}. To archive one, pass --project NAME (repeatable).",
            seen.len(),
            seen.join(", ")
        )
    })
}

pub(crate) async fn run(global: &Global, args: ArchiveArgs) -> anyhow::Result<Exit> {
    let key = signing_key(&args)?;
    // Read before anything is downloaded: a bad policy is the caller's to fix first.
    let policy = match &args.policy {
        Some(path) => {
            let mut policy = crate::gate::read_policy(path)?;
            if !args.projects.is_empty() {
                policy.projects = args.projects.clone();
            }
            Some((path, policy))
        }
        None => None,
    };
    if args.out.exists() {
        return Err(UsageError(format!(
            "{} already exists; not overwriting it",
            args.out.display()
        ))
        .into());
    }
    let selection = if args.reports.is_empty() {
        Selection::Versions {
            filter: VersionFilter::new(
                args.version.clone(),
                args.min_version.clone(),
                args.max_version.clone(),
            )?,
            projects: args.projects.clone(),
        }
    } else {
        Selection::Reports(args.reports.clone())
    };
    let limits = Limits {
        max_entries: args.max_entries,
        max_total_size: args.max_size,
        max_ratio: args.max_ratio,
    };
    let clock = clock()?;
    let connection = connect(global).await?;
    // Downloads go next to the bundle, so that they are on the same disk and go away after.
    let folder = match args.out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let work = tempfile::Builder::new()
        .prefix(&procurize_core::fs::temp_prefix(".procurize-archive-"))
        .tempdir_in(&folder)
        .with_context(|| format!("cannot create a working folder in {}", folder.display()))?;
    let mut evidence = collect(
        &connection.client,
        &selection,
        work.path(),
        &limits,
        &clock,
        env!("CARGO_PKG_VERSION"),
    )
    .await?;
    if let Some((path, policy)) = &policy {
        evidence.verdict = Some(verdict(path, policy, &selection, &evidence, clock())?);
    }
    let written = write_bundle(&evidence, &key, &args.out)?;
    if !global.quiet {
        if let Some(notice) = scope_notice(&selection, &evidence) {
            eprintln!("{notice}");
        }
        let size = std::fs::metadata(&written.path)
            .map(|m| m.len())
            .unwrap_or(0);
        eprintln!(
            "Wrote {} ({}, {} report{}, {} files), signed with key {}",
            written.path.display(),
            human_bytes(size),
            evidence.artifacts.len(),
            if evidence.artifacts.len() == 1 {
                ""
            } else {
                "s"
            },
            written.files.len(),
            written.key_id
        );
        if let Some(verdict) = &evidence.verdict {
            eprintln!(
                "Gate verdict {} under {}, signed into the bundle",
                verdict.result.as_str(),
                verdict.policy_uri
            );
        }
    }
    Ok(Exit::Success)
}

/// The gate's verdict on the collected reports: `policy` (read from `path`, scoped to the
/// `--project` projects as `procurize gate --project` does) evaluated on the day of `now`.
fn verdict(
    path: &std::path::Path,
    policy: &procurize_gate::Policy,
    selection: &Selection,
    evidence: &Evidence,
    now: String,
) -> anyhow::Result<Verdict> {
    let reports: Vec<_> = evidence
        .artifacts
        .iter()
        .filter_map(|a| a.report.clone())
        .collect();
    let filter = match selection {
        Selection::Versions { filter, .. } => filter.clone(),
        _ => {
            let versions: Vec<&ProductVersion> =
                reports.iter().map(|r| &r.project_version).collect();
            VersionFilter::new(
                None,
                versions.iter().min().map(|v| (*v).clone()),
                versions.iter().max().map(|v| (*v).clone()),
            )?
        }
    };
    let day = time::OffsetDateTime::parse(&now, &Rfc3339)
        .map(|t| t.date())
        .unwrap_or_else(|_| time::OffsetDateTime::now_utc().date());
    let outcome = procurize_gate::evaluate(policy, reports, day);
    let context = Context {
        organization: evidence.organization,
        filter,
        tool_version: env!("CARGO_PKG_VERSION").to_owned(),
        anchor: path.display().to_string(),
        evaluated_on: day,
    };
    let detail = serde_json::from_str(&render::json(&context, &outcome))
        .context("the gate's JSON outcome")?;
    Ok(Verdict {
        result: match outcome.status {
            procurize_gate::Status::Fail => VerificationResult::Failed,
            _ => VerificationResult::Passed,
        },
        time_verified: now,
        policy_uri: format!("file:{}", path.display()),
        policy: policy.canonical_json(),
        detail,
    })
}

pub(crate) fn verify(args: &VerifyArgs) -> anyhow::Result<Exit> {
    let pem = std::fs::read_to_string(&args.key).map_err(|e| {
        UsageError(format!(
            "cannot read the public key {}: {e}",
            args.key.display()
        ))
    })?;
    let key = PublicKey::from_public_key_pem(&pem)
        .with_context(|| format!("the public key {}", args.key.display()))?;
    if !args.bundle.is_file() {
        return Err(UsageError(format!("{} is not a file", args.bundle.display())).into());
    }
    let verification = verify_bundle(&args.bundle, &key, &Limits::bundle())?;
    let mut out = anstream::stdout().lock();
    if args.format == "json" {
        serde_json::to_writer_pretty(&mut out, &verification)?;
        writeln!(out)?;
    } else if verification.valid {
        writeln!(
            out,
            "{}: valid ({} files, signed with key {})",
            args.bundle.display(),
            verification.files,
            verification.key_id
        )?;
        if let Some(verdict) = &verification.verdict {
            writeln!(
                out,
                "  gate verdict: {} for {} report{}, evaluated {} under {} (sha256 {})",
                verdict.result,
                verdict.reports,
                if verdict.reports == 1 { "" } else { "s" },
                verdict.time_verified,
                verdict.policy_uri,
                verdict.policy_sha256
            )?;
        }
    } else {
        writeln!(out, "{}: INVALID", args.bundle.display())?;
        for problem in &verification.problems {
            writeln!(out, "  - {problem}")?;
        }
    }
    Ok(if verification.valid {
        Exit::Success
    } else {
        Exit::CheckFailed
    })
}
