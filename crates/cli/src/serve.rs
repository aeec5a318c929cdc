//! `procurize serve` and `procurize jobs`.

use std::io::Write;
use std::sync::Arc;

use procurize_server::config::{SqliteConfig, StoreConfig};
use procurize_server::store::{self, JobId, JobRow, JobState, RetryTarget, Role, Store};
use procurize_server::{Config, Service, now_millis, shutdown_signal};

use crate::Exit;
use crate::args::{JobsCommand, ServeArgs, StoreArgs};

pub(crate) async fn run(args: ServeArgs) -> anyhow::Result<Exit> {
    let config = Config::from_file(&args.config)?;
    let origin = args.config.display().to_string();
    let prepared = config.prepare(&origin)?;
    if args.check_config {
        // The store must open (a database: connect, its schema migrated to this version) and
        // take writes; a SQLite server's lock is not taken, so a running server's configuration
        // can be checked beside it.
        let store = store::open(&prepared.config.store, Role::Admin).await?;
        store.check_writable().await?;
        let config = &prepared.config;
        let mut out = anstream::stdout().lock();
        writeln!(out, "{origin}: configuration is valid")?;
        writeln!(
            out,
            "  listen        http://{}{}",
            config.server.listen, config.server.path
        )?;
        writeln!(
            out,
            "  organizations {}",
            config
                .api
                .organizations
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        )?;
        writeln!(
            out,
            "  webhook       {}, {} secret(s) loaded",
            match prepared.verifier.scheme() {
                procurize_core::webhook::Scheme::StandardWebhooks => "standard_webhooks",
                _ => "hmac",
            },
            config.webhook.secrets.len()
        )?;
        writeln!(out, "  store         {} (writable)", store.describe())?;
        if let Some(notifier) = &prepared.notifier {
            writeln!(
                out,
                "  notify        {} template(s) compiled",
                notifier.templates().names().count()
            )?;
        }
        if let (Some(archive), Some(key)) = (&config.archive, &prepared.signing_key) {
            writeln!(
                out,
                "  archive       {} (key {})",
                archive.folder.display(),
                key.public_key().key_id()
            )?;
        }
        return Ok(Exit::Success);
    }
    let running = Service::open(prepared).await?.start().await?;
    shutdown_signal().await;
    running.shutdown().await?;
    Ok(Exit::Success)
}

/// The store the `jobs` commands work on: `--store FILE` (SQLite), or the configuration's.
async fn open(args: &StoreArgs) -> anyhow::Result<Arc<dyn Store>> {
    let config = match (&args.config, &args.store) {
        (_, Some(path)) => StoreConfig::Sqlite(SqliteConfig { path: path.clone() }),
        (Some(config), None) => Config::from_file(config)?.store,
        (None, None) => unreachable!("clap requires --config or --store"),
    };
    if let StoreConfig::Sqlite(sqlite) = &config
        && !sqlite.path.is_file()
    {
        return Err(crate::UsageError(format!(
            "there is no store at {}; has the server run?",
            sqlite.path.display()
        ))
        .into());
    }
    Ok(store::open(&config, Role::Admin).await?)
}

fn time_text(millis: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
        .ok()
        .and_then(|t| t.replace_nanosecond(0).ok())
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| millis.to_string())
}

fn table(rows: &[JobRow]) -> String {
    let mut lines = vec![[
        "ID".to_owned(),
        "STEP".into(),
        "STATE".into(),
        "ATTEMPTS".into(),
        "WHEN".into(),
        "REPORT".into(),
        "DETAIL".into(),
    ]];
    for row in rows {
        let when = match (row.state, row.next_attempt_at, row.waiting_for) {
            (JobState::Waiting, _, _) => "-".to_owned(),
            (JobState::Pending, Some(at), None) => format!("due {}", time_text(at)),
            _ => time_text(row.updated_at),
        };
        let detail = match (row.waiting_for, &row.last_error) {
            (Some(job), _) => format!("waiting for job {job}"),
            (None, Some(error)) => error.chars().take(120).collect(),
            (None, None) => String::new(),
        };
        lines.push([
            row.id.to_string(),
            row.step.to_string(),
            row.state.to_string(),
            row.attempts.to_string(),
            when,
            row.report_id.to_string(),
            detail,
        ]);
    }
    let widths: Vec<usize> = (0..7)
        .map(|c| {
            lines
                .iter()
                .map(|l| l[c].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for line in lines {
        let cells: Vec<String> = line
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:width$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

pub(crate) async fn jobs(command: JobsCommand, quiet: bool) -> anyhow::Result<Exit> {
    let mut out = anstream::stdout().lock();
    match command {
        JobsCommand::List {
            store,
            state,
            limit,
            format,
        } => {
            let store = open(&store).await?;
            let state = state.as_deref().and_then(JobState::parse);
            let rows = store.list(state, limit).await?;
            if format == "json" {
                serde_json::to_writer_pretty(&mut out, &rows)?;
                writeln!(out)?;
            } else if rows.is_empty() {
                if !quiet {
                    writeln!(out, "no jobs")?;
                }
            } else {
                out.write_all(table(&rows).as_bytes())?;
            }
        }
        JobsCommand::Retry {
            store,
            id,
            all_dead,
        } => {
            let store = open(&store).await?;
            let target = match id {
                Some(id) if !all_dead => RetryTarget::Job(JobId(id)),
                _ => RetryTarget::AllDead,
            };
            let count = store.retry(target, now_millis()).await?;
            if !quiet {
                writeln!(
                    out,
                    "{count} job{} due now; a running server picks {} up",
                    if count == 1 { "" } else { "s" },
                    if count == 1 { "it" } else { "them" }
                )?;
            }
        }
        JobsCommand::Purge { store, older_than } => {
            let store = open(&store).await?;
            let before = now_millis() - i64::from(older_than) * 86_400_000;
            let count = store.purge(before).await?;
            if !quiet {
                writeln!(
                    out,
                    "deleted {count} finished event{} received before {}",
                    if count == 1 { "" } else { "s" },
                    time_text(before)
                )?;
            }
        }
    }
    Ok(Exit::Success)
}
