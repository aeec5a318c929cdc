//! `procurize serve` as real processes on 127.0.0.1, for the end-to-end tests of the service:
//! the server process, a signed burst of deliveries with the platform's retries, and what the
//! workflow left behind (messages, Slack posts, bundles, jobs).

#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::{self, output, procurize, stdout};
use crate::fake_slack;
use crate::support::{Options, SECRET, payload, postgres as pg, write_config};
use procurize_sim::webhook::{Attempt, Delivery, Schedule};

/// A `procurize serve` process.
pub struct Server {
    pub child: Child,
    pub base: String,
}

impl Server {
    /// Starts the server and waits (bounded) until `/healthz` answers.
    pub async fn start(config: &Path, port: u16, log: &Path) -> Self {
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

    pub fn url(&self) -> String {
        format!("{}/webhooks/procurize", self.base)
    }

    pub async fn metrics(&self) -> String {
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
    pub async fn metric(&self, series: &str) -> f64 {
        let text = self.metrics().await;
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no {series} in {text}"))
    }

    /// Waits (bounded) until no job is pending or running.
    pub async fn idle(&self) {
        for _ in 0..600 {
            if self.metric("procurize_queue_depth").await == 0.0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the workflow did not finish within 30 s");
    }

    pub fn signal(&self, name: &str) {
        let status = std::process::Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// Waits (bounded) for the process to end; returns its exit code.
    pub async fn wait(mut self, within: Duration) -> Option<i32> {
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

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// Distinct report events: sample report 0x100 uploaded again at `n` seconds past a base time.
pub fn event(n: usize) -> Vec<u8> {
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
pub fn burst(
    url: &str,
    bodies: &[Vec<u8>],
    concurrency: usize,
    on_accepted: impl Fn(usize) + Send + Sync + 'static,
) -> tokio::task::JoinHandle<Vec<Vec<Attempt>>> {
    burst_to(&[url.to_owned()], bodies, concurrency, on_accepted)
}

/// [`burst`] over several receivers: body `n` goes to `urls[n % urls.len()]`.
pub fn burst_to(
    urls: &[String],
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
        .enumerate()
        .map(|(n, body)| {
            let (semaphore, accepted, on_accepted) =
                (semaphore.clone(), accepted.clone(), on_accepted.clone());
            let url = &urls[n % urls.len()];
            let delivery = Delivery::new(url, body.clone(), crate::support::signer(SECRET));
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
pub async fn until(flag: &std::sync::atomic::AtomicBool) {
    for _ in 0..1000 {
        if flag.load(std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the burst never reached the point of the stop");
}

/// The names in `folder`.
fn names(folder: &Path) -> Vec<String> {
    std::fs::read_dir(folder)
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The names in `folder` starting with a dot: temporary files and folders.
fn hidden(folder: &Path) -> Vec<String> {
    names(folder)
        .into_iter()
        .filter(|n| n.starts_with('.'))
        .collect()
}

/// `report_published` messages written by the file channel.
pub fn published_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("messages"))
        .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.retain(|p| p.to_string_lossy().ends_with(".report_published.eml"));
    files.sort();
    files
}

/// Slack messages received, counted by event fingerprint.
pub fn slack_by_fingerprint(recorded: &Mutex<fake_slack::Recorded>) -> BTreeMap<String, usize> {
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

pub async fn jobs_json(config: &Path, state: Option<&str>) -> Vec<serde_json::Value> {
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

/// A simulator, a Slack-shaped fake and the configuration of one or more replicas in one folder:
/// one on SQLite, or several on one PostgreSQL database, each with a port and a configuration
/// file of its own and everything else (secrets, key, message and evidence folders) shared.
pub struct Setup {
    pub dir: tempfile::TempDir,
    _sim: procurize_sim::Simulator,
    pub configs: Vec<PathBuf>,
    pub ports: Vec<u16>,
    pub slack: Arc<Mutex<fake_slack::Recorded>>,
    _database: Option<pg::Database>,
}

impl Setup {
    /// One server on SQLite.
    pub async fn new(max_attempts: u32) -> Self {
        Self::build(max_attempts, 1, None, "").await
    }

    /// `replicas` servers on `database`, with `jobs` added to their `[jobs]`.
    pub async fn replicas(
        replicas: usize,
        max_attempts: u32,
        database: pg::Database,
        jobs: &str,
    ) -> Self {
        Self::build(max_attempts, replicas, Some(database), jobs).await
    }

    async fn build(
        max_attempts: u32,
        replicas: usize,
        database: Option<pg::Database>,
        jobs: &str,
    ) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let sim = procurize_sim::Simulator::start_sample().await.expect("sim");
        let (slack_url, slack) = fake_slack::fake_slack(0).await;
        let options = Options {
            server: "listen = \"127.0.0.1:PORT\"\nshutdown_grace_seconds = 20".into(),
            slack: Some(slack_url),
            max_attempts: Some(max_attempts),
            store: database.as_ref().map(pg::Database::store_section),
            jobs: jobs.into(),
            ..Options::default()
        };
        let (template, _) = write_config(dir.path(), &sim.base_url(), &options, fake_slack::TOKEN);
        let text = std::fs::read_to_string(&template).expect("reads the configuration");
        let ports: Vec<u16> = (0..replicas).map(|_| free_port()).collect();
        let configs = ports
            .iter()
            .enumerate()
            .map(|(n, port)| {
                let path = dir.path().join(format!("replica-{n}.toml"));
                std::fs::write(&path, text.replace("PORT", &port.to_string())).expect("writes");
                path
            })
            .collect();
        Self {
            dir,
            _sim: sim,
            configs,
            ports,
            slack,
            _database: database,
        }
    }

    /// The first replica's configuration.
    pub fn config(&self) -> &Path {
        &self.configs[0]
    }

    /// The first replica, started.
    pub async fn server(&self) -> Server {
        self.replica(0).await
    }

    /// Replica `n`, started, logging to `server-<n>.log`.
    pub async fn replica(&self, n: usize) -> Server {
        Server::start(&self.configs[n], self.ports[n], &self.log(n)).await
    }

    /// Replica `n`'s log file.
    pub fn log(&self, n: usize) -> PathBuf {
        self.dir.path().join(format!("server-{n}.log"))
    }

    /// Every event was processed exactly once by the file channel, every job is done and the
    /// Slack messages cover every event; returns the number of repeated Slack messages.
    pub async fn check_processed_once(&self, events: usize) -> usize {
        let files = published_files(self.dir.path());
        assert_eq!(
            files.len(),
            events,
            "one report_published message per event"
        );
        let jobs = jobs_json(self.config(), None).await;
        assert_eq!(jobs.len(), events * 3, "three jobs per event, no more");
        let not_done: Vec<_> = jobs.iter().filter(|j| j["state"] != "done").collect();
        assert!(not_done.is_empty(), "{not_done:?}");
        let slack = slack_by_fingerprint(&self.slack);
        assert_eq!(slack.len(), events, "every event reached Slack");
        // Unfinished files are swept: at once by a lone server's restart, within a lease
        // period or two by the replicas (once the killed one's leases expire).
        let evidence = self
            .dir
            .path()
            .join("evidence")
            .join(procurize_sim::SAMPLE_ORGANIZATION);
        let folders = [evidence.clone(), self.dir.path().join("messages")];
        let mut leftovers = Vec::new();
        for _ in 0..200 {
            leftovers = folders.iter().flat_map(|f| hidden(f)).collect();
            if leftovers.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(
            leftovers.is_empty(),
            "unfinished files swept: {leftovers:?}"
        );
        let bundles = names(&evidence);
        let bundles = bundles.iter().filter(|n| n.ends_with(".zip")).count();
        assert_eq!(bundles, events, "one bundle per event");
        slack.values().map(|n| n - 1).sum()
    }
}
