//! The real `procurize` binary against the simulator on 127.0.0.1.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

use procurize_core::webhook::{Secret, Verifier};
use procurize_core::{ReportList, Uuid};
use procurize_sim::{Faults, RecordingReceiver, SAMPLE_ORGANIZATION, SimConfig, Simulator};
mod common;

use common::{output, procurize, run, stderr, stdout};

async fn sim_with(faults: Faults) -> Simulator {
    Simulator::start_local(SimConfig::sample_with(faults))
        .await
        .expect("simulator")
}

fn against(sim: &Simulator) -> std::process::Command {
    let mut command = procurize();
    command
        .env("PROCURIZE_BASE_URL", sim.base_url())
        .env("PROCURIZE_ORG", SAMPLE_ORGANIZATION)
        .args(["--timeout", "5s"]);
    command
}

/// Runs `procurize ARGS` against the simulator.
async fn run_against(sim: &Simulator, args: &[&str]) -> std::process::Output {
    let mut command = against(sim);
    command.args(args);
    output(command).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_list_table() {
    let sim = Simulator::start_sample().await.expect("sim");
    let out = run_against(
        &sim,
        &[
            "reports",
            "list",
            "--min-version",
            "v1.2",
            "--max-version",
            "2.0.0",
        ],
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        !stdout(&out).contains('\x1b'),
        "no colour when not a terminal"
    );
    insta::assert_snapshot!("reports_list_table", stdout(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_list_json_keeps_the_api_shape() {
    let sim = Simulator::start_sample().await.expect("sim");
    let out = run_against(
        &sim,
        &[
            "reports",
            "list",
            "--version",
            "refs/tags/v1.0",
            "--format",
            "json",
        ],
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    insta::assert_snapshot!("reports_list_json", stdout(&out));
    let printed: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    // The same document the API served, field for field.
    let served: serde_json::Value =
        serde_json::from_slice(&common::served_list(&sim, "1.0").await).expect("JSON");
    assert_eq!(printed, served);
    assert_eq!(
        sim.requests()[0].query,
        format!("org={SAMPLE_ORGANIZATION}&version=v1.0")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn colour_is_forced_by_flag_and_off_with_no_color() {
    let sim = Simulator::start_sample().await.expect("sim");
    let out = run_against(
        &sim,
        &[
            "--color",
            "always",
            "reports",
            "list",
            "--version",
            "2.0.0-rc.1",
        ],
    )
    .await;
    assert!(
        stdout(&out).contains("\x1b[1m\x1b[31mE"),
        "E is bold red: {:?}",
        stdout(&out)
    );
    let mut command = against(&sim);
    command.env("NO_COLOR", "1").env("CLICOLOR_FORCE", "0");
    command.args(["reports", "list", "--version", "2.0.0-rc.1"]);
    let out = output(command).await;
    assert!(!stdout(&out).contains('\x1b'));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_version_filter_is_a_usage_error_before_any_request() {
    let sim = Simulator::start_sample().await.expect("sim");
    let out = run_against(&sim, &["reports", "list"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--version <V>|--min-version <V>|--max-version <V>"),
        "{}",
        stderr(&out)
    );
    assert!(sim.requests().is_empty(), "no request was sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configuration_errors_exit_2_and_send_nothing() {
    let sim = Simulator::start_sample().await.expect("sim");
    for (args, message) in [
        (
            vec!["--org", "acme", "reports", "list", "--version", "1"],
            "organization ID `acme` is not a UUID",
        ),
        (
            vec!["reports", "list", "--version", "one"],
            "invalid version `one`",
        ),
        (
            vec![
                "reports",
                "list",
                "--min-version",
                "2",
                "--max-version",
                "1",
            ],
            "the minimum 2 is greater than the maximum 1",
        ),
        (
            vec![
                "--ca-cert",
                "/nonexistent.pem",
                "reports",
                "list",
                "--version",
                "1",
            ],
            "cannot read the CA certificate",
        ),
        (
            vec!["reports", "download", "--report", "42", "-o", "x.zip"],
            "`42` is not a report ID",
        ),
    ] {
        let mut command = against(&sim);
        command.args(&args);
        let out = output(command).await;
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(message), "{args:?}: {}", stderr(&out));
    }
    let mut command = procurize();
    command.args(["reports", "list", "--version", "1"]);
    let out = output(command).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("pass --org or set PROCURIZE_ORG"),
        "{}",
        stderr(&out)
    );
    assert!(sim.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_errors_exit_3_with_one_clear_line() {
    let sim = sim_with(Faults {
        fail_first: u64::MAX,
        html_errors: true,
        ..Faults::default()
    })
    .await;
    let out = run_against(
        &sim,
        &["--attempts", "2", "reports", "list", "--version", "1.0"],
    )
    .await;
    assert_eq!(out.status.code(), Some(3));
    let err = stderr(&out);
    let error_lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(error_lines.len(), 1, "{err}");
    assert!(
        error_lines[0].starts_with(&format!(
            "error: HTTP 500 from {}/security/report/list?org=",
            sim.base_url()
        )),
        "{err}"
    );
    assert!(
        !err.contains("<html") && !err.contains("panicked") && !err.contains("backtrace"),
        "{err}"
    );
    assert_eq!(sim.requests().len(), 2, "--attempts 2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_to_a_file_and_to_stdout() {
    let sim = Simulator::start_sample().await.expect("sim");
    let dir = tempfile::tempdir().expect("dir");
    let target = dir.path().join("evidence.zip");
    let mut command = against(&sim);
    command.args([
        "reports",
        "download",
        "--report",
        "00000000-0000-0000-0000-000000000100",
        "-o",
    ]);
    command.arg(&target);
    let out = output(command).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let bytes = std::fs::read(&target).expect("saved");
    let digest: String =
        sha2::Digest::finalize(<sha2::Sha256 as sha2::Digest>::new_with_prefix(&bytes))
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
    assert!(
        stderr(&out).contains(&digest),
        "the digest is reported: {}",
        stderr(&out)
    );
    assert!(stdout(&out).is_empty());

    let out = run_against(
        &sim,
        &[
            "reports",
            "download",
            "--report",
            "00000000-0000-0000-0000-000000000100",
            "-o",
            "-",
        ],
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(out.stdout, bytes, "the same archive on standard output");
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncated_download_exits_3_and_leaves_nothing() {
    let sim = sim_with(Faults {
        truncate_downloads: true,
        ..Faults::default()
    })
    .await;
    let dir = tempfile::tempdir().expect("dir");
    let mut command = against(&sim);
    command.args([
        "--attempts",
        "1",
        "reports",
        "download",
        "--report",
        "00000000-0000-0000-0000-000000000100",
        "-o",
    ]);
    command.arg(dir.path().join("evidence.zip"));
    let out = output(command).await;
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("connection broke"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 0);

    // Nothing reaches standard output either.
    let out = run_against(
        &sim,
        &[
            "--attempts",
            "1",
            "reports",
            "download",
            "--report",
            "00000000-0000-0000-0000-000000000100",
            "-o",
            "-",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(3));
    assert!(out.stdout.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_report_ids_exit_3_naming_them() {
    let sim = Simulator::start_sample().await.expect("sim");
    let out = run_against(
        &sim,
        &[
            "reports",
            "download",
            "--report",
            "00000000-0000-0000-0000-0000000001ff",
            "-o",
            "x.zip",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(
        stderr(&out),
        "error: no report exists with ID 00000000-0000-0000-0000-0000000001ff\n"
    );
}

#[test]
fn the_built_in_simulator_needs_no_setup() {
    let out = run(procurize().args([
        "--sim",
        "reports",
        "list",
        "--min-version",
        "1.0",
        "--format",
        "json",
    ]));
    assert!(out.status.success(), "{}", stderr(&out));
    let list = ReportList::from_json(&out.stdout).expect("list");
    assert_eq!(list.reports.len(), 15);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sim_webhook_signs_retries_and_logs_every_attempt() {
    let receiver = RecordingReceiver::start(vec![503, 200])
        .await
        .expect("receiver");
    let url = receiver.url().to_owned();

    let mut command = procurize();
    command
        .env("HOOK_SECRET", "s3cret value")
        .args([
            "sim",
            "webhook",
            "--to",
            &url,
            "--secret-env",
            "HOOK_SECRET",
        ])
        .args([
            "--report",
            "00000000-0000-0000-0000-000000000108",
            "--interval",
            "20ms",
            "--max-attempts",
            "3",
        ]);
    let out = output(command).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "attempt 1/3 to {url}: HTTP 503; retrying in 20 ms"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!("attempt 2/3 to {url}: HTTP 200; delivered")),
        "{err}"
    );
    assert!(!err.contains("s3cret"), "the secret is never logged");
    let verifier = Verifier::hmac(vec![Secret::new("s3cret value")]).expect("verifier");
    let seen = receiver.received();
    assert_eq!(seen.len(), 2);
    for delivery in &seen {
        verifier
            .verify(&delivery.headers, &delivery.body)
            .expect("signed");
        let list = ReportList::from_json(&delivery.body).expect("the list shape");
        assert_eq!(list.reports[0].id, Uuid::from_u128(0x108));
    }

    let mut command = procurize();
    command.args([
        "sim",
        "webhook",
        "--to",
        &url,
        "--secret-env",
        "PROCURIZE_TEST_UNSET_VAR",
        "--report",
        "00000000-0000-0000-0000-000000000108",
    ]);
    let out = output(command).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("PROCURIZE_TEST_UNSET_VAR"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn sim_serves_until_terminated() {
    let mut child = procurize()
        .args(["sim", "--listen", "127.0.0.1:0"])
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let first = lines.next().expect("a line").expect("text");
    let base_url = first
        .split_whitespace()
        .find(|w| w.starts_with("http://127.0.0.1:"))
        .expect("the URL is announced")
        .to_owned();
    let out = run(procurize().args([
        "--base-url",
        &base_url,
        "--org",
        SAMPLE_ORGANIZATION,
        "reports",
        "list",
        "--version",
        "1.0",
        "--format",
        "json",
    ]));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        ReportList::from_json(&out.stdout)
            .expect("list")
            .reports
            .len(),
        5
    );
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            assert!(status.success(), "exit 0 on SIGTERM, got {status:?}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the simulator did not stop"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_go_through_the_proxy_named_in_the_environment() {
    // The simulator stands in for the proxy: hyper routes absolute-form requests by their path.
    let sim = Simulator::start_sample().await.expect("sim");
    let mut command = procurize();
    command
        .env("HTTP_PROXY", sim.base_url())
        .args([
            "--base-url",
            "http://api.procurize.invalid",
            "--org",
            SAMPLE_ORGANIZATION,
            "--attempts",
            "1",
        ])
        .args(["reports", "list", "--version", "1.0", "--format", "json"]);
    let out = output(command).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        ReportList::from_json(&out.stdout)
            .expect("list")
            .reports
            .len(),
        5
    );
    assert_eq!(sim.requests().len(), 1, "the request reached the proxy");
}

#[test]
fn a_progress_bar_is_drawn_on_a_terminal() {
    // util-linux's `script` gives the command a pseudo-terminal.
    let dir = tempfile::tempdir().expect("dir");
    let target = dir.path().join("evidence.zip");
    let inner = format!(
        "{} --sim reports download --report 00000000-0000-0000-0000-000000000100 -o {}",
        common::binary().display(),
        target.display()
    );
    let out = match under_pty(&inner) {
        Some(out) => out,
        None => {
            assert!(
                std::env::var_os("CI").is_none(),
                "`script` (util-linux) is required in CI"
            );
            return;
        }
    };
    let screen = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{screen}");
    assert!(
        screen.contains("\r\x1b[2K") && screen.contains("(100%)"),
        "{screen:?}"
    );
    assert!(target.exists());
}

fn under_pty(command: &str) -> Option<std::process::Output> {
    let mut script = std::process::Command::new("script");
    script
        .args(["-qec", command, "/dev/null"])
        .env_remove("NO_COLOR");
    script.output().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sim_webhook_sends_a_payload_file_byte_for_byte_with_standard_webhooks() {
    let receiver = RecordingReceiver::start(vec![204]).await.expect("receiver");
    let dir = tempfile::tempdir().expect("dir");
    let payload = dir.path().join("payload.json");
    let body =
        b"{ \"organizationId\": \"00000000-0000-0000-0000-000000000001\", \"reports\": [] }\n";
    std::fs::write(&payload, body).expect("write");
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let mut command = procurize();
    command
        .env("HOOK_SECRET", secret)
        .args([
            "sim",
            "webhook",
            "--to",
            receiver.url(),
            "--secret-env",
            "HOOK_SECRET",
        ])
        .args(["--scheme", "standard-webhooks", "--payload"])
        .arg(&payload);
    let out = output(command).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let seen = receiver.received();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].body, body);
    Verifier::standard_webhooks(vec![Secret::standard(secret).expect("secret")])
        .expect("verifier")
        .verify(&seen[0].headers, &seen[0].body)
        .expect("a Standard Webhooks signature");
}

#[test]
fn sim_rejects_a_bad_data_file_naming_the_field() {
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("reports.json");
    std::fs::write(
        &data,
        r#"{"organizationId": "00000000-0000-0000-0000-000000000001", "reports": [{"projectName": "P"}]}"#,
    )
    .expect("write");
    let out = run(procurize()
        .args(["sim", "--listen", "127.0.0.1:0", "--data"])
        .arg(&data));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("reports.json")
            && err.contains("reports[0]")
            && err.contains("missing field `id`"),
        "{err}"
    );
}
