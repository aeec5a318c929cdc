//! `procurize`: Procurize SonarQube reports in CI/CD pipelines.
//!
//! A thin front-end: parsing, output and exit codes live here; the work lives in the library
//! crates.

#![allow(clippy::print_stdout, clippy::print_stderr)]

mod archive;
mod args;
mod connect;
mod demo;
mod docs;
mod gate;
mod init;
mod keygen;
mod notify;
mod output;
mod reports;
mod review;
mod serve;
mod sim;

use std::io::{self, Write};
use std::process::ExitCode;

use clap::FromArgMatches as _;

use crate::args::{Cli, ColorWhen, Command, Global, LogFormat};

/// The documented exit statuses, the same for every command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exit {
    /// The command did what was asked.
    Success = 0,
    /// The check failed: a gate failed, a bundle is invalid.
    CheckFailed = 1,
    /// Bad usage or configuration.
    Usage = 2,
    /// The API, the network or something else failed at run time.
    Runtime = 3,
}

/// An error the user can fix by changing the command or its configuration (exit status 2).
#[derive(Debug)]
pub(crate) struct UsageError(pub(crate) String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

fn main() -> ExitCode {
    // A bug must still end in one clear line and the runtime-error status, not a backtrace.
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_owned());
        eprintln!("error: internal error: {message}{location}");
        eprintln!("  this is a bug in procurize; please report it");
    }));
    match std::panic::catch_unwind(real_main) {
        Ok(code) => code,
        Err(_) => ExitCode::from(Exit::Runtime as u8),
    }
}

fn real_main() -> ExitCode {
    let cli = match Cli::from_arg_matches(&args::command().get_matches()) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    init(&cli.global, &cli.command);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return report(&anyhow::Error::new(e).context("cannot start the async runtime")),
    };
    let result = runtime.block_on(run(cli));
    match result {
        Ok(exit) => ExitCode::from(exit as u8),
        Err(error) if is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => report(&error),
    }
}

async fn run(cli: Cli) -> anyhow::Result<Exit> {
    match cli.command {
        Command::Reports(command) => reports::run(&cli.global, command).await,
        Command::Gate(args) => gate::run(&cli.global, *args).await,
        Command::Keygen(args) => keygen::run(&cli.global, &args),
        Command::Archive(args) => archive::run(&cli.global, args).await,
        Command::Notify(args) => notify::run(&cli.global, args).await,
        Command::Verify(args) => archive::verify(&args),
        Command::Sim(args) => sim::run(&cli.global, args).await,
        Command::Serve(args) => serve::run(args).await,
        Command::Jobs(command) => serve::jobs(command, cli.global.quiet).await,
        Command::Demo(args) => demo::run(args).await,
        Command::Completions(args) => docs::completions(&args),
        Command::Man(args) => docs::man(&cli.global, &args),
        Command::Init(args) => init::run(&cli.global, &args),
    }
}

fn init(global: &Global, command: &Command) {
    match global.color {
        ColorWhen::Always => anstream::ColorChoice::Always.write_global(),
        ColorWhen::Never => anstream::ColorChoice::Never.write_global(),
        ColorWhen::Auto => {}
    }
    let level = if global.quiet {
        tracing::Level::ERROR
    } else {
        match global.verbose {
            // A server's log is its record of what happened: requests and steps by default.
            0 if matches!(command, Command::Serve(_)) => tracing::Level::INFO,
            // The demo's summary says what was refused and why.
            0 if matches!(command, Command::Demo(_)) => tracing::Level::ERROR,
            0 => tracing::Level::WARN,
            1 => tracing::Level::INFO,
            2 => tracing::Level::DEBUG,
            _ => tracing::Level::TRACE,
        }
    };
    let ansi = match global.color {
        ColorWhen::Always => true,
        ColorWhen::Never => false,
        ColorWhen::Auto => {
            std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && io::IsTerminal::is_terminal(&io::stderr())
        }
    };
    let builder = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(io::stderr)
        .with_target(global.verbose >= 2);
    match (global.log_format, command) {
        (LogFormat::Json, _) => builder.json().with_ansi(false).init(),
        // A long-running server's lines need their time; a command's do not.
        (LogFormat::Text, Command::Serve(_)) => builder.with_ansi(ansi).init(),
        (LogFormat::Text, _) => builder.with_ansi(ansi).without_time().init(),
    }
}

/// Prints the error as one line plus its causes, and picks the exit status.
fn report(error: &anyhow::Error) -> ExitCode {
    let mut err = anstream::stderr().lock();
    let red = anstyle::Style::new()
        .fg_color(Some(anstyle::AnsiColor::Red.into()))
        .bold();
    let _ = writeln!(err, "{red}error:{red:#} {error}");
    for cause in error.chain().skip(1) {
        let _ = writeln!(err, "  caused by: {cause}");
    }
    ExitCode::from(exit_status(error) as u8)
}

fn exit_status(error: &anyhow::Error) -> Exit {
    for cause in error.chain() {
        if cause.is::<UsageError>() {
            return Exit::Usage;
        }
        if let Some(e) = cause.downcast_ref::<procurize_core::Error>() {
            return if e.is_usage() {
                Exit::Usage
            } else {
                Exit::Runtime
            };
        }
        if cause.is::<procurize_notify::NotifyError>() {
            // Configuration, templates and input: the caller's to fix.
            return Exit::Usage;
        }
        if let Some(e) = cause.downcast_ref::<procurize_archive::ArchiveError>() {
            use procurize_archive::ArchiveError as A;
            return match e {
                A::Api(api) if api.is_usage() => Exit::Usage,
                A::Api(_) | A::Io(_) | A::NothingToArchive | A::ProjectNotFound { .. } => {
                    Exit::Runtime
                }
                A::BadReportArchive { .. } | A::InvalidArchive { .. } => Exit::CheckFailed,
                _ => Exit::Usage,
            };
        }
        if let Some(e) = cause.downcast_ref::<procurize_server::ServerError>() {
            use procurize_server::ServerError as S;
            return match e {
                S::Config(_) | S::NotFound(_) => Exit::Usage,
                _ => Exit::Runtime,
            };
        }
        if let Some(e) = cause.downcast_ref::<procurize_sim::SimError>() {
            return match e {
                procurize_sim::SimError::Data(_) | procurize_sim::SimError::Config(_) => {
                    Exit::Usage
                }
                _ => Exit::Runtime,
            };
        }
    }
    Exit::Runtime
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        let kind = cause
            .downcast_ref::<io::Error>()
            .map(io::Error::kind)
            .or_else(|| {
                cause
                    .downcast_ref::<serde_json::Error>()
                    .and_then(serde_json::Error::io_error_kind)
            });
        kind == Some(io::ErrorKind::BrokenPipe)
    })
}
