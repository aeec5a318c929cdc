//! The command line, as clap sees it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use procurize_core::{ProductVersion, SecurityRating, Uuid};
use procurize_gate::RequiredReport;

const REPORTS_AFTER_HELP: &str = "\
Exit status:
  0  success
  2  usage error (a bad version, report or organization ID)
  3  API, network or other runtime error";

const ROOT_AFTER_HELP: &str = "\
Exit status:
  0  success
  1  the check failed (a gate failed, a bundle is invalid)
  2  usage or configuration error
  3  API, network or other runtime error

Environment:
  PROCURIZE_BASE_URL  the API's base URL (as --base-url)
  PROCURIZE_ORG       the organization ID (as --org)
  PROCURIZE_CA_CERT   an extra CA certificate in PEM (as --ca-cert)
  HTTPS_PROXY, HTTP_PROXY, NO_PROXY  proxies
  NO_COLOR            turns colour off

Try it offline: procurize --sim reports list --min-version 1.0";

/// Procurize SonarQube security reports in CI/CD pipelines.
#[derive(Debug, Parser)]
#[command(
    name = "procurize",
    version,
    max_term_width = 100,
    after_help = ROOT_AFTER_HELP,
    propagate_version = false
)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) global: Global,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The global options of the API client: only `reports`, `gate` and `archive` call the API
/// (`sim webhook` takes the organization and the time-out for what it sends).
const API_OPTIONS: [&str; 6] = ["base_url", "org", "timeout", "attempts", "ca_cert", "sim"];

/// The command line as `procurize` parses it and documents it (help, man pages, completions):
/// the derived definition, with the API's global options hidden from the commands that never
/// call the API, where they would only mislead. They are still accepted there.
pub(crate) fn command() -> clap::Command {
    use clap::CommandFactory as _;
    let mut command = Cli::command();
    // Build first: that is when clap copies the global options into every subcommand.
    command.build();
    command.mut_subcommands(|sub| {
        let hidden: &[&str] = match sub.get_name() {
            "reports" | "gate" | "archive" | "help" => &[],
            "sim" => &["base_url", "attempts", "ca_cert", "sim"],
            _ => &API_OPTIONS,
        };
        hide(sub, hidden)
    })
}

/// Hides the options `ids` on `command` and on each of its subcommands, in place (the order
/// of commands and options is kept).
fn hide(command: clap::Command, ids: &[&str]) -> clap::Command {
    if ids.is_empty() {
        return command;
    }
    command
        .mut_args(|arg| {
            if ids.contains(&arg.get_id().as_str()) {
                arg.hide(true)
            } else {
                arg
            }
        })
        .mut_subcommands(|sub| hide(sub, ids))
}

/// Options every command takes.
#[derive(Debug, Args)]
#[command(next_help_heading = "Global options")]
pub(crate) struct Global {
    /// The API's base URL
    #[arg(
        long,
        env = "PROCURIZE_BASE_URL",
        global = true,
        value_name = "URL",
        default_value = procurize_core::DEFAULT_BASE_URL,
        hide_env_values = true
    )]
    pub(crate) base_url: String,

    /// The organization ID (a UUID, from the Procurize dashboard's organization settings)
    #[arg(
        long,
        env = "PROCURIZE_ORG",
        global = true,
        value_name = "UUID",
        hide_env_values = true
    )]
    pub(crate) org: Option<String>,

    /// How long to wait for an answer, e.g. 30s, 500ms, 2m
    #[arg(long, global = true, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub(crate) timeout: Duration,

    /// Attempts per request, including the first (retries back off exponentially)
    #[arg(long, global = true, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub(crate) attempts: u32,

    /// An extra CA certificate (PEM) to trust, e.g. a corporate proxy's
    #[arg(
        long,
        env = "PROCURIZE_CA_CERT",
        global = true,
        value_name = "FILE",
        hide_env_values = true
    )]
    pub(crate) ca_cert: Option<PathBuf>,

    /// Run against the built-in simulator and its sample data: no network, no setup
    #[arg(long, global = true)]
    pub(crate) sim: bool,

    /// More output (-v: progress of requests, -vv: debugging)
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub(crate) verbose: u8,

    /// Only errors
    #[arg(short, long, global = true)]
    pub(crate) quiet: bool,

    /// When to use colour (auto: on a terminal, unless NO_COLOR is set)
    #[arg(long, global = true, value_name = "WHEN", default_value = "auto")]
    pub(crate) color: ColorWhen,

    /// How log lines are written to standard error: text, or one JSON object per line
    #[arg(long, global = true, value_name = "FORMAT", default_value = "text")]
    pub(crate) log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ColorWhen {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// List and download SonarQube reports
    #[command(subcommand)]
    Reports(ReportsCommand),
    /// Fail the build when security ratings or vulnerability counts break a policy
    #[command(after_help = GATE_AFTER_HELP)]
    Gate(Box<GateArgs>),
    /// Send gate failures and report events to e-mail, Slack, Jira or files, per routing rules
    #[command(after_help = NOTIFY_AFTER_HELP)]
    Notify(NotifyArgs),
    /// Archive a release's reports as a signed, verifiable evidence bundle
    #[command(after_help = ARCHIVE_AFTER_HELP)]
    Archive(ArchiveArgs),
    /// Verify an evidence bundle offline: signature, statement, manifest, SHA256SUMS
    #[command(after_help = VERIFY_AFTER_HELP)]
    Verify(VerifyArgs),
    /// Make a key pair for signing evidence bundles: NAME.key (private) and NAME.pub
    #[command(after_help = KEYGEN_AFTER_HELP)]
    Keygen(KeygenArgs),
    /// Run a local simulator of the Procurize API, or send it a webhook
    Sim(SimArgs),
    /// Receive Procurize webhooks and run the compliance workflow durably: gate, notify, archive
    #[command(after_help = SERVE_AFTER_HELP)]
    Serve(ServeArgs),
    /// List, retry and purge the workflow's jobs in the server's store
    #[command(subcommand)]
    Jobs(JobsCommand),
    /// See the whole webhook workflow run offline in seconds: simulator, server, gate, messages, bundles
    #[command(after_help = DEMO_AFTER_HELP)]
    Demo(DemoArgs),
    /// Print a shell completion script to standard output
    #[command(after_help = COMPLETIONS_AFTER_HELP)]
    Completions(CompletionsArgs),
    /// Write man pages (roff) for procurize and every one of its commands into a folder
    Man(ManArgs),
    /// Start a repository: a commented policy and the CI file that gates with it
    #[command(after_help = INIT_AFTER_HELP)]
    Init(InitArgs),
}

const INIT_AFTER_HELP: &str = "\
Writes .procurize/policy.toml (every field explained, values a team would start with) and, for
github, .github/workflows/procurize.yml using the quality-gate action; for gitlab, .gitlab-ci.yml
including the quality-gate template. An existing file is never overwritten: nothing is written
and the command says which file is in the way (for GitLab, with the lines to add to it).

Then set PROCURIZE_ORG (a repository or CI/CD variable) and commit the files.

Exit status:
  0  the files were written
  2  a file exists already, or the folder cannot be written";

/// `procurize init`.
#[derive(Debug, Args)]
pub(crate) struct InitArgs {
    /// The CI system to write for
    #[arg(value_enum, value_name = "CI")]
    pub(crate) ci: InitCi,
    /// The project (SonarQube project name) to gate; repeatable. Default: every project at the
    /// version
    #[arg(long, value_name = "NAME")]
    pub(crate) project: Vec<String>,
    /// Where the version comes from: a tag (v1.2.3) or a release branch (release/1.2.3)
    #[arg(long, value_enum, value_name = "FROM", default_value = "tag")]
    pub(crate) version_from: VersionFrom,
    /// The repository's root folder
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub(crate) dir: PathBuf,
}

/// The CI systems `procurize init` writes for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum InitCi {
    /// GitHub Actions
    Github,
    /// GitLab CI
    Gitlab,
}

/// Where a CI run's product version comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum VersionFrom {
    /// A pushed tag: v1.2.3 (the leading v is accepted)
    Tag,
    /// A pushed release branch: release/1.2.3
    Branch,
}

const COMPLETIONS_AFTER_HELP: &str = "\
Install, for example:
  bash   procurize completions bash > ~/.local/share/bash-completion/completions/procurize
  zsh    procurize completions zsh > ~/.zfunc/_procurize   (with fpath+=~/.zfunc before compinit)
  fish   procurize completions fish > ~/.config/fish/completions/procurize.fish
  powershell  procurize completions powershell | Out-String | Invoke-Expression
The release archives carry these scripts in complete/.";

/// `procurize completions`.
#[derive(Debug, Args)]
pub(crate) struct CompletionsArgs {
    /// The shell
    #[arg(value_enum, value_name = "SHELL")]
    pub(crate) shell: clap_complete::Shell,
}

/// `procurize man`.
#[derive(Debug, Args)]
pub(crate) struct ManArgs {
    /// The folder to write the pages to (made if missing): procurize.1, procurize-gate.1, …
    #[arg(long, value_name = "DIR", default_value = "man")]
    pub(crate) out: PathBuf,
}

const SERVE_AFTER_HELP: &str = "\
Webhook answers: 202 new events recorded, 200 a duplicate, 401 bad signature, 400 bad payload,
403 unknown organization, 408 slow body, 413 too large, 503 store failure. Also serves /healthz,
/readyz and /metrics (Prometheus). SIGTERM or SIGINT stops it gracefully. Secrets come from
environment variables or files named in the configuration.

Exit status:
  0  stopped gracefully by SIGTERM or SIGINT; with --check-config, the configuration is good
  2  bad configuration
  3  the store or the listener failed";

const DEMO_AFTER_HELP: &str = "\
Everything runs in this process on 127.0.0.1: no network, no setup. The folder holds the
configuration used (procurize.toml), the store, the messages, the bundles and their public key.
A folder left by an earlier demo is replaced; any other existing folder is refused.

Exit status:
  0  every delivery was answered as expected and every bundle verified
  1  something did not (the summary says what)
  2  the folder cannot be used
  3  a runtime error";

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// The configuration file (TOML)
    #[arg(
        long,
        env = "PROCURIZE_CONFIG",
        value_name = "FILE",
        hide_env_values = true
    )]
    pub(crate) config: PathBuf,
    /// Check the whole configuration (secrets present, templates compile, store opens, key loads) and exit
    #[arg(long)]
    pub(crate) check_config: bool,
}

/// Where the jobs are: the server's configuration, or the store file itself.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub(crate) struct StoreArgs {
    /// The server's configuration file (its `[store]` is used: the SQLite file, or the PostgreSQL
    /// database, whose URL is read from its `url_env` or `url_file`; no other secret is read)
    #[arg(
        long,
        env = "PROCURIZE_CONFIG",
        value_name = "FILE",
        hide_env_values = true
    )]
    pub(crate) config: Option<PathBuf>,
    /// A SQLite store file itself
    #[arg(long, value_name = "FILE")]
    pub(crate) store: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum JobsCommand {
    /// List jobs, newest first
    #[command(after_help = JOBS_AFTER_HELP)]
    List {
        #[command(flatten)]
        store: StoreArgs,
        /// Only jobs in this state
        #[arg(long, value_name = "STATE", value_parser = ["waiting", "pending", "running", "done", "dead"])]
        state: Option<String>,
        /// At most this many
        #[arg(long, value_name = "N", default_value_t = 100)]
        limit: usize,
        /// Output format
        #[arg(long, value_name = "FORMAT", default_value = "table", value_parser = ["table", "json"])]
        format: String,
    },
    /// Make a dead (or waiting) job due now, its attempts counted afresh
    #[command(after_help = JOBS_AFTER_HELP)]
    Retry {
        #[command(flatten)]
        store: StoreArgs,
        /// The job's ID (from `procurize jobs list`)
        #[arg(
            value_name = "ID",
            required_unless_present = "all_dead",
            conflicts_with = "all_dead"
        )]
        id: Option<i64>,
        /// Every dead job
        #[arg(long)]
        all_dead: bool,
    },
    /// Delete finished events and their jobs received more than DAYS ago
    #[command(after_help = PURGE_AFTER_HELP)]
    Purge {
        #[command(flatten)]
        store: StoreArgs,
        /// Age in days (at least 1)
        #[arg(long, value_name = "DAYS", value_parser = clap::value_parser!(u32).range(1..))]
        older_than: u32,
    },
}

const KEYGEN_AFTER_HELP: &str = "\
NAME's folder is created (mode 0700) when it does not exist.

Exit status:
  0  both files were written
  2  usage error, or NAME.key or NAME.pub already exists (nothing is written)
  3  a file could not be written";

const SIM_AFTER_HELP: &str = "\
Exit status:
  0  stopped by SIGTERM or SIGINT
  2  usage error or invalid --data
  3  the address cannot be listened on, or the server failed";

const SIM_WEBHOOK_AFTER_HELP: &str = "\
The shared secret comes from the environment variable --secret-env names, never from the
command line.

Exit status:
  0  the receiver answered 2xx
  2  usage error, an empty secret, or a payload or --data that cannot be used
  3  no attempt was answered 2xx";

const JOBS_AFTER_HELP: &str = "\
Exit status:
  0  success
  2  usage or configuration error; a job that is not there (or, for retry, is running or done)
  3  the store failed";

const PURGE_AFTER_HELP: &str = "\
Only events whose every job is done are deleted; pending and dead jobs stay. A redelivery of a
purged event is treated as a new event, so keep DAYS longer than the platform retries (a day).

Exit status:
  0  success
  2  usage or configuration error
  3  the store failed";

#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// The folder everything is written to
    #[arg(long, value_name = "DIR", default_value = "procurize-demo")]
    pub(crate) out: PathBuf,
}

const NOTIFY_AFTER_HELP: &str = "\
The event is the gate's JSON outcome (procurize gate --json FILE) or a webhook payload. Secrets
come from environment variables or files named in the configuration, never from the command line.

Exit status:
  0  every message was delivered (or, with --dry-run, rendered)
  2  bad configuration, template or event
  3  a channel failed after its retries (the others still delivered)";

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct NotifyArgs {
    #[command(subcommand)]
    pub(crate) command: Option<NotifyCommand>,
    /// The notifier's configuration (TOML)
    #[arg(long, value_name = "FILE", required = true)]
    pub(crate) config: Option<PathBuf>,
    /// The event: a file, or - for standard input
    #[arg(long, value_name = "FILE", required = true)]
    pub(crate) event: Option<PathBuf>,
    /// Render every message that would be sent and print it; send nothing
    #[arg(long)]
    pub(crate) dry_run: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum NotifyCommand {
    /// Check every channel's credentials and reachability, sending nothing
    #[command(after_help = NOTIFY_CHECK_AFTER_HELP)]
    Check {
        /// The notifier's configuration (TOML)
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
}

const NOTIFY_CHECK_AFTER_HELP: &str = "\
Exit status:
  0  every channel is reachable and accepts its credentials
  2  usage or configuration error
  3  a channel failed its check (each channel's line says why)";

const ARCHIVE_AFTER_HELP: &str = "\
SOURCE_DATE_EPOCH fixes the recorded retrieval times: the same inputs then give a byte-identical
bundle. The private key comes from a file (--key) or from an environment variable holding the
PEM (--key-env, for CI secrets), never from the command line.

Exit status:
  0  the bundle was written
  1  a report archive failed validation (nothing is written)
  2  usage, key or configuration error
  3  API, network or other runtime error (including: no report matches)";

const VERIFY_AFTER_HELP: &str = "\
Exit status:
  0  the bundle is valid
  1  the bundle is invalid; every reason is listed
  2  usage error (an unreadable key or bundle)";

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("selection").required(true).multiple(true).args(["version", "min_version", "max_version", "reports"])))]
pub(crate) struct ArchiveArgs {
    /// Exactly this version (1.0, v1.2.3, refs/tags/v1.2.3 and release/1.2.3 are accepted)
    #[arg(long = "version", value_name = "V", value_parser = parse_version, conflicts_with = "reports")]
    pub(crate) version: Option<ProductVersion>,
    /// This version or later
    #[arg(long = "min-version", value_name = "V", value_parser = parse_version, conflicts_with = "reports")]
    pub(crate) min_version: Option<ProductVersion>,
    /// This version or earlier
    #[arg(long = "max-version", value_name = "V", value_parser = parse_version, conflicts_with = "reports")]
    pub(crate) max_version: Option<ProductVersion>,
    /// A report ID instead of versions; repeatable
    #[arg(long = "report", value_name = "ID", value_parser = parse_uuid)]
    pub(crate) reports: Vec<Uuid>,
    /// Archive only this project's reports (repeatable; each one must have reports)
    #[arg(long = "project", value_name = "NAME", conflicts_with = "reports")]
    pub(crate) projects: Vec<String>,
    /// The signing key: a PKCS#8 PEM file (P-256 or Ed25519)
    #[arg(
        long,
        value_name = "FILE",
        required_unless_present = "key_env",
        conflicts_with = "key_env"
    )]
    pub(crate) key: Option<PathBuf>,
    /// The environment variable holding the signing key's PEM
    #[arg(long, value_name = "VAR")]
    pub(crate) key_env: Option<String>,
    /// Where to write the bundle; an existing file is never overwritten
    #[arg(long, value_name = "FILE")]
    pub(crate) out: PathBuf,
    /// Evaluate this gate policy on the archived reports, as `procurize gate` does, and sign
    /// its verdict into the bundle (a SLSA Verification Summary Attestation)
    #[arg(long, value_name = "FILE")]
    pub(crate) policy: Option<PathBuf>,
    /// The most entries one report archive may hold
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    pub(crate) max_entries: usize,
    /// The most bytes one report archive may hold, uncompressed
    #[arg(long, value_name = "BYTES", default_value_t = 1024 * 1024 * 1024)]
    pub(crate) max_size: u64,
    /// The most an entry over 1 MiB may expand, uncompressed to compressed (a ZIP bomb's is
    /// thousands)
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub(crate) max_ratio: u64,
}

#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    /// The evidence bundle (a ZIP written by `procurize archive`)
    #[arg(value_name = "BUNDLE")]
    pub(crate) bundle: PathBuf,
    /// The signer's public key (SPKI PEM); trust in it must come from elsewhere
    #[arg(long, value_name = "FILE")]
    pub(crate) key: PathBuf,
    /// What to print
    #[arg(long, value_name = "FORMAT", default_value = "text", value_parser = ["text", "json"])]
    pub(crate) format: String,
}

#[derive(Debug, Args)]
pub(crate) struct KeygenArgs {
    /// The signature algorithm: ECDSA P-256 with SHA-256 (what cosign expects) or Ed25519
    #[arg(long, value_name = "ALGORITHM", default_value = "p256", value_parser = ["p256", "ed25519"])]
    pub(crate) algorithm: String,
    /// Writes NAME.key (PKCS#8 PEM, mode 0600) and NAME.pub (SPKI PEM); never overwrites
    #[arg(long, value_name = "NAME")]
    pub(crate) out: PathBuf,
}

const GATE_AFTER_HELP: &str = "\
Every flag overrides the same field of the policy file. All requested files are written
whatever the verdict. Inside GitHub Actions (GITHUB_ACTIONS=true) failures and warnings become
annotations, a summary is appended to $GITHUB_STEP_SUMMARY and the outputs status,
report-count, failed-count and the written files' paths to $GITHUB_OUTPUT.

Exit status:
  0  the gate passed (or passed with warnings)
  1  the gate failed (0 with --no-fail)
  2  usage or configuration error (a bad policy file, say)
  3  API, network or other runtime error";

#[derive(Debug, Args)]
pub(crate) struct GateArgs {
    #[command(flatten)]
    pub(crate) filter: FilterArgs,
    /// The policy file (TOML); every flag below overrides its field
    #[arg(long, value_name = "FILE")]
    pub(crate) policy: Option<PathBuf>,
    /// Gate only this project (repeatable; each one must have reports)
    #[arg(long = "project", value_name = "NAME")]
    pub(crate) projects: Vec<String>,
    /// The worst acceptable security rating, A (best) to E
    #[arg(long, value_name = "RATING", value_parser = parse_rating)]
    pub(crate) min_rating: Option<SecurityRating>,
    /// The most vulnerabilities acceptable in one report
    #[arg(long, value_name = "N")]
    pub(crate) max_vulnerabilities: Option<u64>,
    /// A report type that must exist, optionally in a minimum edition: "CWE Top 25@2024"
    #[arg(long = "require-report", value_name = "TYPE[@MIN]", value_parser = parse_required)]
    pub(crate) require_reports: Vec<RequiredReport>,
    /// The oldest acceptable analysis, in days
    #[arg(long, value_name = "N")]
    pub(crate) max_age_days: Option<u32>,
    /// What a missing report means
    #[arg(long, value_name = "WHAT", value_parser = ["fail", "warn", "pass"])]
    pub(crate) on_missing: Option<String>,
    /// Evaluate as of this day (YYYY-MM-DD, UTC; default today), e.g. to reproduce an audit
    #[arg(long, value_name = "DATE", value_parser = parse_day)]
    pub(crate) as_of: Option<time::Date>,
    /// What to print on standard output
    #[arg(long, value_name = "FORMAT", default_value = "text")]
    pub(crate) format: GateFormat,
    /// Write SARIF 2.1.0 here (GitHub code scanning)
    #[arg(long, value_name = "PATH")]
    pub(crate) sarif: Option<PathBuf>,
    /// The file SARIF and Code Quality results point at (default: the policy file, or
    /// procurize-policy.toml)
    #[arg(long, value_name = "PATH")]
    pub(crate) sarif_anchor: Option<String>,
    /// Write JUnit XML here (GitLab artifacts:reports:junit)
    #[arg(long, value_name = "PATH")]
    pub(crate) junit: Option<PathBuf>,
    /// Write GitLab Code Quality JSON here (artifacts:reports:codequality)
    #[arg(long, value_name = "PATH")]
    pub(crate) codequality: Option<PathBuf>,
    /// Write the JSON outcome here (read by `procurize notify`)
    #[arg(long, value_name = "PATH")]
    pub(crate) json: Option<PathBuf>,
    /// Write the Markdown summary here (merge-request comments)
    #[arg(long, value_name = "PATH")]
    pub(crate) markdown: Option<PathBuf>,
    /// Report a failed gate but exit 0
    #[arg(long)]
    pub(crate) no_fail: bool,
    /// Post the verdict as one comment on the pull request (GitHub Actions: GITHUB_TOKEN) or
    /// merge request (GitLab CI: PROCURIZE_GITLAB_TOKEN), edited in place on every run; a
    /// failure to comment is a warning and never changes the exit status
    #[arg(
        long,
        env = "PROCURIZE_PR_COMMENT",
        value_parser = clap::builder::BoolishValueParser::new(),
        default_value_t = false,
        num_args = 0..=1,
        default_missing_value = "true",
        value_name = "BOOL"
    )]
    pub(crate) pr_comment: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum GateFormat {
    Text,
    Json,
    Markdown,
}

fn parse_rating(text: &str) -> Result<SecurityRating, String> {
    text.trim()
        .to_ascii_uppercase()
        .parse::<SecurityRating>()
        .map_err(|e| e.to_string())
}

fn parse_required(text: &str) -> Result<RequiredReport, String> {
    RequiredReport::parse(text)
}

fn parse_day(text: &str) -> Result<time::Date, String> {
    procurize_gate::parse_date(text)
        .ok_or_else(|| format!("`{text}` is not a date such as 2026-11-29"))
}

#[derive(Debug, Subcommand)]
pub(crate) enum ReportsCommand {
    /// List the reports of a product version or range of versions
    #[command(after_help = REPORTS_AFTER_HELP)]
    List(ListArgs),
    /// Download the archive (HTML and PDF reports) of one or more reports
    #[command(after_help = REPORTS_AFTER_HELP)]
    Download(DownloadArgs),
}

/// Which product versions to ask for; at least one is required. Bounds are inclusive.
#[derive(Debug, Clone, Args)]
#[group(id = "filter", required = true, multiple = true)]
pub(crate) struct FilterArgs {
    /// Exactly this version (1.0, v1.2.3, refs/tags/v1.2.3 and release/1.2.3 are accepted)
    #[arg(long = "version", value_name = "V", value_parser = parse_version)]
    pub(crate) version: Option<ProductVersion>,
    /// This version or later
    #[arg(long = "min-version", value_name = "V", value_parser = parse_version)]
    pub(crate) min_version: Option<ProductVersion>,
    /// This version or earlier
    #[arg(long = "max-version", value_name = "V", value_parser = parse_version)]
    pub(crate) max_version: Option<ProductVersion>,
}

#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    #[command(flatten)]
    pub(crate) filter: FilterArgs,
    /// Output format: a table for people, or JSON in the API's own shape
    #[arg(long, value_name = "FORMAT", default_value = "table")]
    pub(crate) format: ListFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ListFormat {
    Table,
    Json,
}

#[derive(Debug, Args)]
pub(crate) struct DownloadArgs {
    /// A report ID; repeat for several reports in one archive
    #[arg(long = "report", value_name = "ID", required = true, value_parser = parse_uuid)]
    pub(crate) reports: Vec<Uuid>,
    /// Where to save the ZIP archive; `-` writes it to standard output
    #[arg(short, long, value_name = "FILE")]
    pub(crate) output: PathBuf,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, after_help = SIM_AFTER_HELP)]
pub(crate) struct SimArgs {
    #[command(subcommand)]
    pub(crate) command: Option<SimCommand>,
    #[command(flatten)]
    pub(crate) serve: SimServeArgs,
}

#[derive(Debug, Args)]
pub(crate) struct SimServeArgs {
    /// Where to listen
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub(crate) listen: SocketAddr,
    /// Reports to serve: a list response, an array of them, or {"organizations": [...]}
    /// (default: the built-in sample)
    #[arg(long, value_name = "FILE")]
    pub(crate) data: Option<PathBuf>,
    /// Serve <DIR>/<report id>.zip, streamed from disk, for single-report downloads
    #[arg(long, value_name = "DIR")]
    pub(crate) archive_dir: Option<PathBuf>,
    /// Split list answers into pages of N reports, linked by `nextPage`
    #[arg(long, value_name = "N")]
    pub(crate) page_size: Option<usize>,
    /// Fail this share of requests (0.0 to 1.0) at random
    #[arg(long, value_name = "RATE", default_value_t = 0.0, value_parser = parse_rate)]
    pub(crate) error_rate: f64,
    /// Fail the first N requests
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub(crate) fail_first: u64,
    /// The status of injected failures
    #[arg(long, value_name = "STATUS", default_value_t = 500, value_parser = clap::value_parser!(u16).range(400..=599))]
    pub(crate) error_status: u16,
    /// Injected failures carry an HTML page instead of the JSON error body
    #[arg(long)]
    pub(crate) html_errors: bool,
    /// Send Retry-After with injected failures
    #[arg(long, value_name = "SECONDS")]
    pub(crate) retry_after: Option<u64>,
    /// Delay every answer, e.g. 500ms
    #[arg(long, value_name = "DURATION", default_value = "0s", value_parser = parse_duration)]
    pub(crate) latency: Duration,
    /// Send half of every archive, then break the connection
    #[arg(long)]
    pub(crate) truncate_downloads: bool,
    /// Seed the random failures, for repeatable runs
    #[arg(long, value_name = "N")]
    pub(crate) seed: Option<u64>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum SimCommand {
    /// Sign and POST a webhook delivery the way the platform does, retrying failures
    #[command(after_help = SIM_WEBHOOK_AFTER_HELP)]
    Webhook(WebhookArgs),
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("body").required(true).args(["payload", "reports"])))]
pub(crate) struct WebhookArgs {
    /// The receiver's URL
    #[arg(long, value_name = "URL")]
    pub(crate) to: String,
    /// The environment variable that holds the shared secret
    #[arg(long, value_name = "VAR")]
    pub(crate) secret_env: String,
    /// Send this file as the body, byte for byte
    #[arg(long, value_name = "FILE")]
    pub(crate) payload: Option<PathBuf>,
    /// Send the payload for these reports (from --data or the sample); repeatable
    #[arg(long = "report", value_name = "ID", value_parser = parse_uuid)]
    pub(crate) reports: Vec<Uuid>,
    /// Where --report looks the reports up (default: the built-in sample)
    #[arg(long, value_name = "FILE")]
    pub(crate) data: Option<PathBuf>,
    /// How to sign
    #[arg(long, value_name = "SCHEME", default_value = "hmac")]
    pub(crate) scheme: SchemeArg,
    /// The signature header of the hmac scheme
    #[arg(long, value_name = "NAME", default_value = procurize_core::webhook::DEFAULT_SIGNATURE_HEADER)]
    pub(crate) header: String,
    /// The wait between attempts (the platform retries hourly)
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = parse_duration)]
    pub(crate) interval: Duration,
    /// Attempts in all
    #[arg(long, value_name = "N", default_value_t = 24, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) max_attempts: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum SchemeArg {
    /// HMAC-SHA256 of the body: `sha256=<hex>` in one header
    Hmac,
    /// Standard Webhooks: webhook-id, webhook-timestamp, webhook-signature
    StandardWebhooks,
}

/// Accepts versions as CI systems hand them over: `v1.2.3`, `refs/tags/v1.2.3`, and release
/// branches `release/1.2.3` (also `refs/heads/release/1.2.3`, `release-1.2.3`). The version
/// asked of the API is what is left.
pub(crate) fn parse_version(text: &str) -> Result<ProductVersion, String> {
    let trimmed = text.trim();
    let bare = trimmed
        .strip_prefix("refs/tags/")
        .or_else(|| trimmed.strip_prefix("refs/heads/"))
        .unwrap_or(trimmed);
    let bare = bare
        .strip_prefix("release/")
        .or_else(|| bare.strip_prefix("release-"))
        .unwrap_or(bare);
    ProductVersion::parse(bare).map_err(|e| e.to_string())
}

fn parse_uuid(text: &str) -> Result<Uuid, String> {
    Uuid::try_parse(text.trim()).map_err(|_| format!("`{text}` is not a report ID (a UUID)"))
}

fn parse_rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(rate) if (0.0..=1.0).contains(&rate) => Ok(rate),
        _ => Err(format!("`{text}` is not a rate between 0.0 and 1.0")),
    }
}

/// `500ms`, `30s`, `2m`, `1h`; a bare number is seconds.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration (e.g. 500ms, 30s, 2m, 1h)"))?;
    let seconds = match unit.trim() {
        "ms" => value / 1000.0,
        "" | "s" => value,
        "m" | "min" => value * 60.0,
        "h" => value * 3600.0,
        other => {
            return Err(format!(
                "unknown unit `{other}` in `{text}` (use ms, s, m or h)"
            ));
        }
    };
    Duration::try_from_secs_f64(seconds).map_err(|e| format!("`{text}`: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
        command().debug_assert();
    }

    #[test]
    fn api_options_are_shown_only_where_the_api_is_called() {
        let command = command();
        let shown = |path: &[&str], id: &str| {
            let mut sub = &command;
            for name in path {
                sub = sub.find_subcommand(name).expect("subcommand");
            }
            let arg = sub.get_arguments().find(|a| a.get_id() == id);
            arg.is_some_and(|a| !a.is_hide_set())
        };
        for path in [&["reports", "list"][..], &["gate"], &["archive"]] {
            for id in API_OPTIONS {
                assert!(shown(path, id), "{path:?} hides --{id}");
            }
        }
        for path in [
            &["verify"][..],
            &["keygen"],
            &["jobs", "retry"],
            &["init"],
            &["serve"],
        ] {
            for id in API_OPTIONS {
                assert!(!shown(path, id), "{path:?} shows --{id}");
            }
            assert!(shown(path, "quiet"), "{path:?} hides --quiet");
        }
        assert!(shown(&["sim", "webhook"], "org"));
        assert!(!shown(&["sim", "webhook"], "base_url"));
    }

    #[test]
    fn ci_tags_are_versions() {
        assert_eq!(
            parse_version("refs/tags/v1.2.3")
                .expect("tag")
                .semver()
                .to_string(),
            "1.2.3"
        );
        assert_eq!(parse_version("v1.0").expect("v").as_str(), "v1.0");
        assert!(parse_version("refs/heads/main").is_err());
        for branch in ["release/1.2.3", "refs/heads/release/1.2.3", "release-1.2.3"] {
            assert_eq!(parse_version(branch).expect(branch).as_str(), "1.2.3");
        }
        assert!(parse_version("release/next").is_err());
    }

    #[test]
    fn durations_take_units() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5d").is_err());
    }
}
