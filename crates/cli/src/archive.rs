//! `procurize archive` and `procurize verify`.

use std::io::Write;

use anyhow::Context as _;
use procurize_archive::{
    Limits, PublicKey, Selection, SigningKey, collect, verify_bundle, write_bundle,
};
use procurize_core::VersionFilter;
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
    let evidence = collect(
        &connection.client,
        &selection,
        work.path(),
        &limits,
        clock,
        env!("CARGO_PKG_VERSION"),
    )
    .await?;
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
    }
    Ok(Exit::Success)
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
