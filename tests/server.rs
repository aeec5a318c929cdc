//! `procurize serve` as a real process on 127.0.0.1: crash safety (SIGKILL mid-burst), graceful
//! shutdown under load (SIGTERM), a downstream outage with retries, dead jobs replayed with
//! `procurize jobs retry`, and `/metrics` read by the Prometheus client's own parser.

#![allow(clippy::print_stderr)]

mod common;

#[path = "../crates/server/tests/support/mod.rs"]
mod support;

#[path = "../crates/notify/tests/support/fake_slack.rs"]
mod fake_slack;

mod serving;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{output, procurize, stdout};
use serving::{Setup, burst, event, jobs_json, published_files, slack_by_fingerprint, until};
use support::{SECRET, post};

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
    let log = std::fs::read_to_string(setup.log(0)).expect("log");
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
    let notify = jobs_json(setup.config(), None)
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
        dead = jobs_json(setup.config(), Some("dead")).await;
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
            .arg(setup.config());
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
    assert!(jobs_json(setup.config(), Some("dead")).await.is_empty());
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

/// The deliveries spread over the replicas: delivery `n` goes to replica `n % replicas` and is
/// retried there, as a load balancer pinning a retry to a replica that went away would.
fn spread(
    setup: &Setup,
    bodies: &[Vec<u8>],
    on_accepted: impl Fn(usize) + Send + Sync + 'static,
) -> tokio::task::JoinHandle<Vec<Vec<procurize_sim::webhook::Attempt>>> {
    let urls: Vec<String> = setup
        .ports
        .iter()
        .map(|port| format!("http://127.0.0.1:{port}/webhooks/procurize"))
        .collect();
    serving::burst_to(&urls, bodies, 8, on_accepted)
}

/// No replica's log says a lease was lost while its step ran (a live replica's lease taken).
fn assert_no_lease_lost(setup: &Setup) {
    for n in 0..setup.ports.len() {
        let log = std::fs::read_to_string(setup.log(n)).unwrap_or_default();
        assert!(
            !log.contains("lease was lost"),
            "replica {n} lost a lease while a step ran:\n{log}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_on_postgres_act_on_each_delivery_once_through_a_sigkill() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let Some(database) = support::postgres::database("three_replicas_sigkill").await else {
        return;
    };
    // A short lease: the killed replica's jobs are taken over by the others within seconds.
    let setup = Setup::replicas(3, 5, database, "lease_seconds = 2").await;
    let mut replicas = Vec::new();
    for n in 0..3 {
        replicas.push(setup.replica(n).await);
    }
    let killed_one = Arc::new(Mutex::new(Some(replicas.remove(1))));
    const EVENTS: usize = 150;
    let bodies: Vec<Vec<u8>> = (0..EVENTS).map(event).collect();
    let killed = Arc::new(AtomicBool::new(false));
    let (killer, flag) = (killed_one.clone(), killed.clone());
    let sending = spread(&setup, &bodies, move |accepted| {
        if accepted == 50
            && let Some(mut server) = killer.lock().expect("lock").take()
        {
            server.child.kill().expect("SIGKILL");
            let _ = server.child.wait();
            flag.store(true, Ordering::SeqCst);
        }
    });
    until(&killed).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let restarted = setup.replica(1).await;
    let attempts = sending.await.expect("join");
    assert!(
        attempts.iter().any(|a| a.len() > 1),
        "the kill happened mid-burst: some deliveries were acknowledged only on a retry"
    );
    restarted.idle().await;
    for server in &replicas {
        server.idle().await;
    }
    assert_eq!(
        setup.check_processed_once(EVENTS).await,
        0,
        "no Slack message repeated"
    );
    assert!(
        jobs_json(setup.config(), Some("running")).await.is_empty(),
        "nothing left running"
    );
    assert_no_lease_lost(&setup);
    // Every replica did work: the database, not one process, is the queue.
    let mut done_by = Vec::new();
    for server in replicas.iter().chain([&restarted]) {
        done_by.push(
            server
                .metric("procurize_deliveries_total{outcome=\"accepted\"}")
                .await,
        );
    }
    assert!(
        done_by.iter().all(|n| *n > 0.0),
        "accepted per replica: {done_by:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_delivery_to_two_replicas_at_once_is_one_event() {
    let Some(database) = support::postgres::database("same_delivery_two_replicas").await else {
        return;
    };
    let setup = Setup::replicas(2, 5, database, "").await;
    let (a, b) = (setup.replica(0).await, setup.replica(1).await);
    const EVENTS: usize = 20;
    let (url_a, url_b) = (a.url(), b.url());
    for n in 0..EVENTS {
        let body = event(n);
        let (first, second) = tokio::join!(
            post(&url_a, body.clone(), Some(SECRET)),
            post(&url_b, body, Some(SECRET))
        );
        let mut statuses = [first.0, second.0];
        statuses.sort_unstable();
        assert_eq!(
            statuses,
            [200, 202],
            "one new event, one duplicate (event {n})"
        );
    }
    a.idle().await;
    b.idle().await;
    assert_eq!(setup.check_processed_once(EVENTS).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_crash_mid_burst_gives_503_and_the_replicas_recover_without_a_restart() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let Some(cluster) = support::postgres::Cluster::start("database_crash_mid_burst") else {
        return;
    };
    let cluster = Arc::new(cluster);
    let setup = Setup::replicas(2, 20, cluster.database(), "lease_seconds = 2").await;
    let replicas = [setup.replica(0).await, setup.replica(1).await];
    const EVENTS: usize = 100;
    let bodies: Vec<Vec<u8>> = (0..EVENTS).map(event).collect();
    let crashed = Arc::new(AtomicBool::new(false));
    let (crasher, flag) = (cluster.clone(), crashed.clone());
    let sending = spread(&setup, &bodies, move |accepted| {
        if accepted == 30 && !flag.swap(true, Ordering::SeqCst) {
            crasher.crash();
        }
    });
    until(&crashed).await;
    // Down for a while: deliveries are refused with 503, so the platform retries them.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (status, body) = post(&replicas[0].url(), event(EVENTS + 1), Some(SECRET)).await;
    assert_eq!(status, 503, "{body}");
    cluster.restart();
    let attempts = sending.await.expect("join");
    let refused = attempts
        .iter()
        .flatten()
        .filter(|a| a.outcome == procurize_sim::webhook::Outcome::Status(503))
        .count();
    assert!(
        refused > 0,
        "some deliveries were answered 503 while it was down"
    );
    for server in &replicas {
        server.idle().await;
    }
    assert_eq!(
        setup.check_processed_once(EVENTS).await,
        0,
        "every acknowledged delivery acted on once"
    );
    assert_no_lease_lost(&setup);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_config_and_the_jobs_commands_work_on_postgres() {
    let Some(database) = support::postgres::database("cli_on_postgres").await else {
        return;
    };
    let url = database.url.clone();
    let password = database.password().to_owned();
    let setup = Setup::replicas(1, 1, database, "").await;

    // The URL from a variable: named when missing; connected and described when set.
    let text = std::fs::read_to_string(setup.config()).expect("config");
    let from_env = replace_url_file(&text, "url_env = \"PROCURIZE_TEST_DATABASE_URL\"");
    let env_config = setup.dir.path().join("from-env.toml");
    std::fs::write(&env_config, from_env).expect("writes");
    let check = |with_url: bool| {
        let mut command = procurize();
        if with_url {
            command.env("PROCURIZE_TEST_DATABASE_URL", &url);
        }
        command
            .args(["serve", "--check-config", "--config"])
            .arg(&env_config);
        output(command)
    };
    let missing = check(false).await;
    assert_eq!(
        missing.status.code(),
        Some(2),
        "{}",
        common::stderr(&missing)
    );
    assert!(
        common::stderr(&missing).contains("PROCURIZE_TEST_DATABASE_URL"),
        "{}",
        common::stderr(&missing)
    );
    let checked = check(true).await;
    assert!(checked.status.success(), "{}", common::stderr(&checked));
    let report = stdout(&checked);
    assert!(
        report.contains("store         postgres procurize@127.0.0.1:")
            && report.contains(&format!(
                ", schema {} (writable)",
                procurize_server::PostgresStore::SCHEMA_VERSION
            )),
        "{report}"
    );
    assert!(!report.contains(&password) && !common::stderr(&checked).contains(&password));

    // A dead job, listed, replayed and kept by a purge, all on the database.
    let server = setup.server().await;
    setup.slack.lock().expect("lock").outage = true;
    assert_eq!(post(&server.url(), event(1), Some(SECRET)).await.0, 202);
    let mut dead = Vec::new();
    for _ in 0..400 {
        dead = jobs_json(setup.config(), Some("dead")).await;
        if !dead.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0]["step"], "notify");
    setup.slack.lock().expect("lock").outage = false;
    let jobs = |args: &[&str]| {
        let mut command = procurize();
        command
            .arg("jobs")
            .args(args)
            .arg("--config")
            .arg(setup.config());
        output(command)
    };
    let retried = jobs(&["retry", "--all-dead"]).await;
    assert!(
        stdout(&retried).contains("1 job due now"),
        "{}",
        stdout(&retried)
    );
    server.idle().await;
    let done = jobs_json(setup.config(), Some("done")).await;
    assert_eq!(done.len(), 3, "{done:?}");
    let again = jobs(&["retry", &done[0]["id"].to_string()]).await;
    assert!(!again.status.success());
    assert!(
        common::stderr(&again).contains("is done; only dead or pending jobs can be retried"),
        "{}",
        common::stderr(&again)
    );
    let purged = jobs(&["purge", "--older-than", "1"]).await;
    assert!(purged.status.success(), "{}", common::stderr(&purged));
    assert!(
        stdout(&purged).contains("deleted 0 finished events"),
        "{}",
        stdout(&purged)
    );
    assert_eq!(jobs_json(setup.config(), None).await.len(), 3);
}

/// `text` with its `url_file = "…"` line replaced by `line`.
fn replace_url_file(text: &str, line: &str) -> String {
    text.lines()
        .map(|l| {
            if l.starts_with("url_file = ") {
                line
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Waits (bounded) for `n` dead jobs and returns them.
async fn dead_jobs(config: &Path, n: usize) -> Vec<serde_json::Value> {
    let mut dead = Vec::new();
    for _ in 0..600 {
        dead = jobs_json(config, Some("dead")).await;
        if dead.len() >= n {
            return dead;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{n} dead job(s) expected within 30 s: {dead:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_attempt_calls_a_channel_once_and_a_permanent_failure_is_dead_at_once() {
    let setup = Setup::new(3).await;
    // The notifier's own retries (4) are the CLI's: inside the service a job attempt makes one
    // call, and the job's retry policy decides what follows.
    let text = std::fs::read_to_string(setup.config()).expect("config");
    let text = text.replace("[notify]\nattempts = 1", "[notify]\nattempts = 4");
    assert!(text.contains("attempts = 4"));
    std::fs::write(setup.config(), text).expect("writes");
    let server = setup.server().await;
    setup.slack.lock().expect("lock").outage = true;
    assert_eq!(post(&server.url(), event(1), Some(SECRET)).await.0, 202);
    let dead = dead_jobs(setup.config(), 1).await;
    assert_eq!(dead[0]["attempts"], 3);
    assert_eq!(
        setup.slack.lock().expect("lock").refused,
        3,
        "one Slack call per job attempt"
    );
    drop(server);

    // A token Slack refuses (`ok:false`, `invalid_auth`) will not change on a retry.
    std::fs::write(setup.dir.path().join("slack.token"), "xoxb-revoked").expect("writes");
    setup.slack.lock().expect("lock").outage = false;
    let server = setup.server().await;
    assert_eq!(post(&server.url(), event(2), Some(SECRET)).await.0, 202);
    let dead = dead_jobs(setup.config(), 2).await;
    let revoked = dead
        .iter()
        .find(|job| {
            job["lastError"]
                .as_str()
                .is_some_and(|e| e.contains("invalid_auth"))
        })
        .unwrap_or_else(|| panic!("a job dead for invalid_auth: {dead:?}"));
    assert_eq!(revoked["attempts"], 1, "dead at once: {revoked}");
    let posts = setup.slack.lock().expect("lock").posts.len();
    assert_eq!(posts, 1, "one call with the revoked token");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_of_an_organization_no_longer_configured_is_dead_at_once() {
    let setup = Setup::new(1000).await;
    // A file where the organization's evidence folder goes: the archive step fails (a transient
    // failure, retried) while the event's other steps are done.
    let organization = procurize_sim::SAMPLE_ORGANIZATION;
    let blocker = setup.dir.path().join("evidence").join(organization);
    std::fs::create_dir_all(setup.dir.path().join("evidence")).expect("creates");
    std::fs::write(&blocker, "not a folder").expect("writes");
    let server = setup.server().await;
    assert_eq!(post(&server.url(), event(1), Some(SECRET)).await.0, 202);
    let archive_job = || async {
        jobs_json(setup.config(), None)
            .await
            .into_iter()
            .find(|job| job["step"] == "archive")
    };
    let mut failed = None;
    for _ in 0..600 {
        failed = archive_job()
            .await
            .filter(|job| job["lastError"].is_string());
        if failed.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(failed.is_some(), "the archive step failed within 30 s");
    drop(server);
    let before = archive_job().await.expect("the archive job");
    assert_eq!(before["state"], "pending", "{before}");
    let attempts = before["attempts"].as_u64().expect("attempts");

    // The organization leaves the configuration while its event's archive job is stored.
    let text = std::fs::read_to_string(setup.config()).expect("config");
    let listed = format!("organizations = [\"{organization}\"]");
    assert!(text.contains(&listed), "{text}");
    let text = text.replace(
        &listed,
        "organizations = [\"00000000-0000-0000-0000-0000000000ff\"]",
    );
    std::fs::write(setup.config(), text).expect("writes");
    std::fs::remove_file(&blocker).expect("removes");
    let _server = setup.server().await;
    let dead = dead_jobs(setup.config(), 1).await;
    assert_eq!(dead[0]["step"], "archive", "{dead:?}");
    assert_eq!(
        dead[0]["attempts"].as_u64(),
        Some(attempts + 1),
        "dead at its first attempt without the organization: {dead:?}"
    );
    let error = dead[0]["lastError"].as_str().unwrap_or_default();
    assert!(
        error.contains(&format!(
            "organization {organization} is no longer configured"
        )),
        "{error}"
    );
}
