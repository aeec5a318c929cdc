//! Helpers for the end-to-end tests: run the real `procurize` binary.

#![allow(dead_code, unreachable_pub, clippy::print_stderr)]

pub mod release;
pub mod smtp;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The `procurize` binary of this build; cargo builds it before running these tests.
pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_procurize"))
}

/// A `procurize` command with a clean environment: no inherited PROCURIZE_* settings, proxies
/// or colour preferences, so tests see the same thing on every machine.
pub fn procurize() -> Command {
    let mut command = Command::new(binary());
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if key.starts_with("PROCURIZE_")
            || key.to_ascii_uppercase().ends_with("_PROXY")
            || [
                "NO_COLOR",
                "CLICOLOR",
                "CLICOLOR_FORCE",
                "TERM",
                "COLUMNS",
                "RUST_LOG",
                "RUST_BACKTRACE",
            ]
            .contains(&key.as_ref())
        {
            command.env_remove(key.as_ref());
        }
    }
    command
}

/// Runs a command to completion.
pub fn run(command: &mut Command) -> Output {
    command.output().expect("run procurize")
}

/// Standard output as text.
pub fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("UTF-8 standard output")
}

/// Standard error as text.
pub fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).expect("UTF-8 standard error")
}

/// Runs a command on a blocking thread, so that a simulator on the test's runtime keeps serving.
pub async fn output(mut command: Command) -> Output {
    tokio::task::spawn_blocking(move || run(&mut command))
        .await
        .expect("join")
}

/// The simulator's list response for `version`, exactly as served, fetched by the library (not
/// by the binary under test).
pub async fn served_list(sim: &procurize_sim::Simulator, version: &str) -> Vec<u8> {
    let client = procurize_core::Client::builder()
        .base_url(sim.base_url())
        .organization(procurize_sim::SAMPLE_ORGANIZATION)
        .build()
        .expect("client");
    let filter = procurize_core::VersionFilter::exact(version.parse().expect("version"));
    let listing = client.list_reports_detailed(&filter).await.expect("list");
    listing.pages[0].body.clone()
}

/// Whether `tool` runs here; in CI (which installs it, `.ci/run`) its absence fails the test
/// instead of skipping it.
pub fn available(tool: &str) -> bool {
    // `openssl version`, `strace --version`.
    let version = if tool == "openssl" {
        "version"
    } else {
        "--version"
    };
    let found = Command::new(tool)
        .arg(version)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "{tool} is required in CI (.ci/run installs it)"
        );
        eprintln!("{tool} not available; skipping");
    }
    found
}

/// Runs `tool args… file` and fails with its output unless it succeeds.
pub fn check(tool: &str, args: &[&str], file: &Path) {
    if !available(tool) {
        return;
    }
    let output = Command::new(tool)
        .args(args)
        .arg(file)
        .output()
        .expect("run the checker");
    assert!(
        output.status.success(),
        "{tool} {args:?} {} failed:\n{}{}",
        file.display(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
