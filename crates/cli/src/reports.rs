//! `procurize reports list` and `procurize reports download`.

use std::io::{IsTerminal, Write};
use std::path::Path;

use anyhow::Context as _;
use procurize_core::Client;

use crate::args::{DownloadArgs, Global, ListArgs, ListFormat, ReportsCommand};
use crate::connect::connect;
use crate::output::{ProgressLine, human_bytes, report_table};
use crate::{Exit, UsageError};

pub(crate) async fn run(global: &Global, command: ReportsCommand) -> anyhow::Result<Exit> {
    match command {
        ReportsCommand::List(args) => list(global, args).await,
        ReportsCommand::Download(args) => download(global, args).await,
    }
}

async fn list(global: &Global, args: ListArgs) -> anyhow::Result<Exit> {
    let filter = args.filter.to_filter()?;
    let connection = connect(global).await?;
    let list = connection.client.list_reports(&filter).await?;
    let mut out = anstream::stdout().lock();
    match args.format {
        ListFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &list)?;
            writeln!(out)?;
        }
        ListFormat::Table => report_table(&mut out, &list.reports)?,
    }
    out.flush()?;
    Ok(Exit::Success)
}

async fn download(global: &Global, args: DownloadArgs) -> anyhow::Result<Exit> {
    let to_stdout = args.output.as_os_str() == "-";
    if to_stdout && std::io::stdout().is_terminal() {
        return Err(UsageError(
            "refusing to write a ZIP archive to a terminal; redirect standard output or pass -o FILE".into(),
        )
        .into());
    }
    let connection = connect(global).await?;
    if to_stdout {
        // Download to a temporary file first, so that nothing reaches standard output unless the
        // whole archive arrived and is a readable ZIP.
        let dir = tempfile::tempdir().context("cannot create a temporary folder")?;
        let path = dir.path().join("reports.zip");
        fetch(global, &connection.client, &args, &path).await?;
        let mut file = std::fs::File::open(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let mut out = std::io::stdout().lock();
        std::io::copy(&mut file, &mut out)?;
        out.flush()?;
    } else {
        let download = fetch(global, &connection.client, &args, &args.output).await?;
        if !global.quiet {
            let sha: String = download.sha256.iter().map(|b| format!("{b:02x}")).collect();
            eprintln!(
                "Saved {} ({}, {} report{}), sha256 {sha}",
                download.path.display(),
                human_bytes(download.size),
                args.reports.len(),
                if args.reports.len() == 1 { "" } else { "s" },
            );
        }
    }
    Ok(Exit::Success)
}

async fn fetch(
    global: &Global,
    client: &Client,
    args: &DownloadArgs,
    path: &Path,
) -> anyhow::Result<procurize_core::Download> {
    let mut progress = ProgressLine::new(!global.quiet);
    let result = client
        .download_reports_with_progress(&args.reports, path, |p| {
            progress.update(p.received, p.total)
        })
        .await;
    progress.finish();
    Ok(result?)
}
