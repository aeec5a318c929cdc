//! `procurize serve` as a real process on 127.0.0.1: crash safety (SIGKILL mid-burst), graceful
//! shutdown under load (SIGTERM), a downstream outage with retries, dead jobs replayed with
//! `procurize jobs retry`, and `/metrics` read by the Prometheus client's own parser.

#![allow(clippy::print_stderr)]

mod common;

#[path = "../crates/server/tests/support/mod.rs"]
mod support;

#[path = "../crates/notify/tests/support/fake_slack.rs"]
mod fake_slack;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{output, procurize, stdout};
use procurize_sim::webhook::{Attempt, Delivery, Schedule};
use support::{Options, SECRET, payload, post, write_config};

/// A `procurize serve` process.
struct Server {
    child: Child,
    base: String,
}

impl Server {
    /// Starts the server and waits (bounded) until `/healthz` answers.
    async fn start(config: &Path, port: u16, log: &Path) -> Self {
        let log = std::fs::File::options()
            .create(true)
            .append(true)
            .open(log)
            .expect("log file");
        let child = procurize()
            .args(["serve", "--config"])
            .arg(config)
            .args(["--log-format", "json"])
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn procurize serve");
        let server = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        let client = procurize_core::tls::reqwest_client().expect("http client");
        for _ in 0..200 {
            if let Ok(r) = client
                .get(format!("{}/healthz", server.base))
                .timeout(Duration::from_secs(1))
                .send()
                .await
                && r.status().is_success()
            {
                return server;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the server did not start within 10 s");
    }

    fn url(&self) -> String {
        format!("{}/webhooks/procurize", self.base)
    }

    async fn metrics(&self) -> String {
        procurize_core::tls::reqwest_client()
            .expect("http client")
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .expect("scrape")
            .text()
            .await
            .expect("body")
    }

    /// The value of one series, read from the exposition text.
    async fn metric(&self, series: &str) -> f64 {
        let text = self.metrics().await;
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no {series} in {text}"))
    }

    /// Waits (bounded) until no job is pending or running.
    async fn idle(&self) {
        for _ in 0..600 {
            if self.metric("procurize_queue_depth").await == 0.0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the workflow did not finish within 30 s");
    }

    fn signal(&self, name: &str) {
        let status = std::process::Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// Waits (bounded) for the process to end; returns its exit code.
    async fn wait(mut self, within: Duration) -> Option<i32> {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status.code();
            }
            assert!(
                started.elapsed() < within,
                "the server did not stop within {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// Distinct report events: sample report 0x100 uploaded again at `n` seconds past a base time.
fn event(n: usize) -> Vec<u8> {
    let mut value: serde_json::Value = serde_json::from_slice(&payload(&[0x100])).expect("json");
    value["reports"][0]["uploadDate"] = format!(
        "2026-01-01T{:02}:{:02}:{:02}Z",
        n / 3600,
        (n / 60) % 60,
        n % 60
    )
    .into();
    serde_json::to_vec(&value).expect("json")
}

/// Sends every body with the simulator's sender, as the platform does: signed, and retried until
/// a 2xx answer (here every 200 ms, at most 150 times), `concurrency` deliveries at a time.
/// `on_accepted` sees the running count of 2xx answers. The handle gives each delivery's
/// attempts.
fn burst(
    url: &str,
    bodies: &[Vec<u8>],
    concurrency: usize,
    on_accepted: impl Fn(usize) + Send + Sync + 'static,
) -> tokio::task::JoinHandle<Vec<Vec<Attempt>>> {
    let semaphore = Arc::new(tokio::sync::Semaphore::new(concurrency));
    let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let on_accepted = Arc::new(on_accepted);
    let schedule = Schedule {
        interval: Duration::from_millis(200),
        max_attempts: 150,
        timeout: Duration::from_secs(10),
    };
    let tasks: Vec<_> = bodies
        .iter()
        .map(|body| {
            let (semaphore, accepted, on_accepted) =
                (semaphore.clone(), accepted.clone(), on_accepted.clone());
            let delivery = Delivery::new(url, body.clone(), support::signer(SECRET));
            let schedule = schedule.clone();
            tokio::spawn(async move {
                let _permit = semaphore.acquire().await.expect("permit");
                delivery
                    .send(&schedule, |attempt| {
                        if attempt.outcome.delivered() {
                            on_accepted(
                                accepted.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1,
                            );
                        }
                    })
                    .await
                    .expect("delivered within the sender's retries")
            })
        })
        .collect();
    tokio::spawn(async move {
        let mut attempts = Vec::new();
        for task in tasks {
            attempts.push(task.await.expect("join"));
        }
        attempts
    })
}

/// Waits (bounded) until `flag` is set.
async fn until(flag: &std::sync::atomic::AtomicBool) {
    for _ in 0..1000 {
        if flag.load(std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the burst never reached the point of the stop");
}

/// `report_published` messages written by the file channel.
fn published_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("messages"))
        .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.retain(|p| p.to_string_lossy().ends_with(".report_published.eml"));
    files.sort();
    files
}

/// Slack messages received, counted by event fingerprint.
fn slack_by_fingerprint(recorded: &Mutex<fake_slack::Recorded>) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for (_, body) in &recorded.lock().expect("lock").posts {
        let text = body.to_string();
        let fingerprint = text
            .split("fingerprint `")
            .nth(1)
            .and_then(|rest| rest.split('`').next())
            .expect("a fingerprint in the Slack message")
            .to_owned();
        *counts.entry(fingerprint).or_insert(0) += 1;
    }
    counts
}

async fn jobs_json(config: &Path, state: Option<&str>) -> Vec<serde_json::Value> {
    let mut command = procurize();
    command
        .args([
            "jobs", "list", "--format", "json", "--limit", "100000", "--config",
        ])
        .arg(config);
    if let Some(state) = state {
        command.args(["--state", state]);
    }
    let out = output(command).await;
    assert!(out.status.success(), "{}", common::stderr(&out));
    serde_json::from_str(&stdout(&out)).expect("jobs JSON")
}

struct Setup {
    dir: tempfile::TempDir,
    _sim: procurize_sim::Simulator,
    config: PathBuf,
    port: u16,
    slack: Arc<Mutex<fake_slack::Recorded>>,
}

impl Setup {
    async fn new(max_attempts: u32) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let sim = procurize_sim::Simulator::start_sample().await.expect("sim");
        let (slack_url, slack) = fake_slack::fake_slack(0).await;
        let port = free_port();
        let (config, _) = write_config(
            dir.path(),
            &sim.base_url(),
            &Options {
                server: format!("listen = \"127.0.0.1:{port}\"\nshutdown_grace_seconds = 20"),
                slack: Some(slack_url),
                max_attempts: Some(max_attempts),
                ..Options::default()
            },
            fake_slack::TOKEN,
        );
        Self {
            dir,
            _sim: sim,
            config,
            port,
            slack,
        }
    }

    async fn server(&self) -> Server {
        Server::start(&self.config, self.port, &self.dir.path().join("server.log")).await
    }

    /// Every event was processed exactly once by the file channel, every job is done and the
    /// Slack messages cover every event; returns the number of repeated Slack messages.
    async fn check_processed_once(&self, events: usize) -> usize {
        let files = published_files(self.dir.path());
        assert_eq!(
            files.len(),
            events,
            "one report_published message per event"
        );
        let jobs = jobs_json(&self.config, None).await;
        assert_eq!(jobs.len(), events * 3, "three jobs per event, no more");
        let not_done: Vec<_> = jobs.iter().filter(|j| j["state"] != "done").collect();
        assert!(not_done.is_empty(), "{not_done:?}");
        let slack = slack_by_fingerprint(&self.slack);
        assert_eq!(slack.len(), events, "every event reached Slack");
        let bundles = std::fs::read_dir(
            self.dir
                .path()
                .join("evidence")
                .join(procurize_sim::SAMPLE_ORGANIZATION),
        )
        .expect("evidence")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect::<Vec<_>>();
        let leftovers: Vec<_> = bundles.iter().filter(|n| n.starts_with('.')).collect();
        assert!(
            leftovers.is_empty(),
            "unfinished bundles swept: {leftovers:?}"
        );
        let bundles = bundles.iter().filter(|n| n.ends_with(".zip")).count();
        assert_eq!(bundles, events, "one bundle per event");
        slack.values().map(|n| n - 1).sum()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_burst_loses_no_acknowledged_delivery_and_repeats_no_side_effect() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let setup = Setup::new(5).await;
    let server = Arc::new(Mutex::new(Some(setup.server().await)));
    let url = server.lock().expect("lock").as_ref().expect("server").url();
    const EVENTS: usize = 120;
    let bodies: Vec<Vec<u8>> = (0..EVENTS).map(event).collect();
    // SIGKILL once 40 deliveries have been acknowledged: work is queued and running then.
    let killed = Arc::new(AtomicBool::new(false));
    let (killer, flag) = (server.clone(), killed.clone());
    let sending = burst(&url, &bodies, 8, move |accepted| {
        if accepted == 40
            && let Some(mut server) = killer.lock().expect("lock").take()
        {
            server.child.kill().expect("SIGKILL");
            let _ = server.child.wait();
            flag.store(true, Ordering::SeqCst);
        }
    });
    until(&killed).await;
    // Down for a while, during which the senders' attempts fail; then restarted.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let server = setup.server().await;
    let attempts = sending.await.expect("join");
    let retried = attempts.iter().filter(|a| a.len() > 1).count();
    assert!(retried > 0, "some deliveries were accepted only on a retry");
    let acknowledged_first = EVENTS - retried;
    assert!(acknowledged_first >= 40, "{acknowledged_first}");
    server.idle().await;
    let recovered = server.metric("procurize_jobs_recovered_total").await as usize;
    assert!(recovered > 0, "the kill cut some jobs short");
    // Slack has no idempotency key: a notify step cut short after its intent asks Slack's
    // history whether it posted before posting again, so no message is repeated.
    assert_eq!(
        setup.check_processed_once(EVENTS).await,
        0,
        "no Slack message repeated"
    );
    eprintln!(
        "accepted on the first attempt: {acknowledged_first}; on a retry: {retried}; recovered jobs: {recovered}; Slack history reads: {}",
        setup.slack.lock().expect("lock").history_reads
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_finishes_in_flight_work_and_loses_nothing() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let setup = Setup::new(5).await;
    let server = Arc::new(Mutex::new(Some(setup.server().await)));
    let url = server.lock().expect("lock").as_ref().expect("server").url();
    const EVENTS: usize = 120;
    let bodies: Vec<Vec<u8>> = (0..EVENTS).map(event).collect();
    let signalled = Arc::new(AtomicBool::new(false));
    let (stopping, flag) = (server.clone(), signalled.clone());
    let sending = burst(&url, &bodies, 8, move |accepted| {
        if accepted == 40
            && let Some(server) = stopping.lock().expect("lock").as_ref()
        {
            server.signal("TERM");
            flag.store(true, Ordering::SeqCst);
        }
    });
    until(&signalled).await;
    let stopped = server.lock().expect("lock").take().expect("server");
    assert_eq!(
        stopped.wait(Duration::from_secs(25)).await,
        Some(0),
        "a graceful stop exits 0"
    );
    // With a graceful stop no step was cut short; the senders' retries land on the new process.
    let server = setup.server().await;
    let attempts = sending.await.expect("join");
    assert!(
        attempts.iter().any(|a| a.len() > 1),
        "the stop happened mid-burst"
    );
    server.idle().await;
    assert_eq!(
        setup.check_processed_once(EVENTS).await,
        0,
        "no Slack message repeated"
    );
    assert_eq!(server.metric("procurize_jobs_recovered_total").await, 0.0);
    let log = std::fs::read_to_string(setup.dir.path().join("server.log")).expect("log");
    assert!(log.contains("\"shutting down\""), "JSON log lines: {log}");
    assert!(!log.contains(SECRET), "no secret in the log");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slack_outage_is_retried_and_a_dead_job_is_replayed_by_jobs_retry() {
    let setup = Setup::new(3).await;
    let server = setup.server().await;
    setup.slack.lock().expect("lock").outage = true;
    assert_eq!(post(&server.url(), event(1), Some(SECRET)).await.0, 202);
    // Wait (bounded) for two refused attempts, then end the outage.
    for _ in 0..400 {
        if setup.slack.lock().expect("lock").refused >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(setup.slack.lock().expect("lock").refused >= 2);
    setup.slack.lock().expect("lock").outage = false;
    server.idle().await;
    assert_eq!(
        slack_by_fingerprint(&setup.slack).values().sum::<usize>(),
        1,
        "arrived once"
    );
    let notify = jobs_json(&setup.config, None)
        .await
        .into_iter()
        .find(|j| j["step"] == "notify")
        .expect("notify job");
    assert!(
        notify["attempts"].as_u64().expect("attempts") >= 2,
        "{notify}"
    );
    assert_eq!(notify["state"], "done");

    // An outage longer than the attempts: the job is dead, visible, and replayable.
    setup.slack.lock().expect("lock").outage = true;
    assert_eq!(post(&server.url(), event(2), Some(SECRET)).await.0, 202);
    let mut dead = Vec::new();
    for _ in 0..600 {
        dead = jobs_json(&setup.config, Some("dead")).await;
        if !dead.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0]["step"], "notify");
    assert_eq!(dead[0]["attempts"], 3);
    assert!(
        dead[0]["lastError"]
            .as_str()
            .expect("error")
            .contains("slack"),
        "{}",
        dead[0]
    );
    assert_eq!(
        server
            .metric("procurize_jobs{step=\"notify\",state=\"dead\"}")
            .await,
        1.0
    );
    let files_before = published_files(setup.dir.path()).len();
    setup.slack.lock().expect("lock").outage = false;
    let out = output({
        let mut c = procurize();
        c.args(["jobs", "retry", "--all-dead", "--config"])
            .arg(&setup.config);
        c
    })
    .await;
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert!(stdout(&out).contains("1 job due now"), "{}", stdout(&out));
    server.idle().await;
    let slack = slack_by_fingerprint(&setup.slack);
    assert_eq!(slack.len(), 2);
    assert!(
        slack.values().all(|n| *n == 1),
        "each message once: {slack:?}"
    );
    assert!(jobs_json(&setup.config, Some("dead")).await.is_empty());
    // The file channel delivered on the first attempt and was not repeated by the replay.
    assert_eq!(published_files(setup.dir.path()).len(), files_before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_parse_as_prometheus_text_with_the_expected_counters() {
    let python = std::process::Command::new("python3")
        .args(["-c", "import prometheus_client"])
        .status()
        .is_ok_and(|s| s.success());
    if !python {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI installs prometheus-client (pip) before the tests"
        );
        eprintln!("skipped: python3 with prometheus_client is not installed");
        return;
    }
    let setup = Setup::new(3).await;
    let server = setup.server().await;
    assert_eq!(post(&server.url(), event(1), Some(SECRET)).await.0, 202);
    assert_eq!(post(&server.url(), event(1), Some(SECRET)).await.0, 200);
    assert_eq!(post(&server.url(), event(2), Some("wrong")).await.0, 401);
    assert_eq!(
        post(&server.url(), b"[".to_vec(), Some(SECRET)).await.0,
        400
    );
    server.idle().await;
    let file = setup.dir.path().join("metrics.txt");
    std::fs::write(&file, server.metrics().await).expect("write");
    let parsed = std::process::Command::new("python3")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/interop/prom_parse.py"))
        .arg(&file)
        .output()
        .expect("python3");
    assert!(
        parsed.status.success(),
        "the Prometheus parser refused the exposition: {}",
        String::from_utf8_lossy(&parsed.stderr)
    );
    let parsed: serde_json::Value = serde_json::from_slice(&parsed.stdout).expect("JSON");
    let families = &parsed["families"];
    assert_eq!(families["procurize_deliveries"], "counter");
    assert_eq!(families["procurize_delivery_duration_seconds"], "histogram");
    assert_eq!(families["procurize_step_duration_seconds"], "histogram");
    assert_eq!(families["procurize_jobs"], "gauge");
    assert_eq!(families["procurize_queue_depth"], "gauge");
    let value = |name: &str, labels: serde_json::Value| -> f64 {
        parsed["samples"]
            .as_array()
            .expect("samples")
            .iter()
            .find(|s| s[0] == name && s[1] == labels)
            .and_then(|s| s[2].as_f64())
            .unwrap_or_else(|| panic!("no sample {name} {labels}"))
    };
    use serde_json::json;
    assert_eq!(
        value("procurize_deliveries_total", json!({"outcome": "accepted"})),
        1.0
    );
    assert_eq!(
        value(
            "procurize_deliveries_total",
            json!({"outcome": "duplicate"})
        ),
        1.0
    );
    assert_eq!(
        value(
            "procurize_deliveries_total",
            json!({"outcome": "bad_signature"})
        ),
        1.0
    );
    assert_eq!(
        value(
            "procurize_deliveries_total",
            json!({"outcome": "bad_payload"})
        ),
        1.0
    );
    assert_eq!(
        value(
            "procurize_deliveries_total",
            json!({"outcome": "too_large"})
        ),
        0.0
    );
    assert_eq!(
        value("procurize_delivery_duration_seconds_count", json!({})),
        4.0
    );
    assert_eq!(
        value(
            "procurize_delivery_duration_seconds_bucket",
            json!({"le": "+Inf"})
        ),
        4.0
    );
    for step in ["gate", "notify", "archive"] {
        assert_eq!(
            value("procurize_jobs", json!({"step": step, "state": "done"})),
            1.0
        );
        assert_eq!(
            value(
                "procurize_step_duration_seconds_count",
                json!({"step": step})
            ),
            1.0
        );
    }
    assert_eq!(value("procurize_queue_depth", json!({})), 0.0);
}
