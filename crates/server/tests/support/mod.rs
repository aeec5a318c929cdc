//! A workflow service started in-process on 127.0.0.1 against the simulator, with its
//! configuration, secrets and key in a temporary folder.

#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use procurize_archive::{Algorithm, SigningKey, write_key_pair};
use procurize_core::Uuid;
use procurize_core::webhook::{Scheme, Secret, Signer, sign_hmac};
use procurize_server::store::{JobState, Step};
use procurize_server::{Config, Running, Service};
use procurize_sim::webhook::{Delivery, Outcome, Schedule};
use procurize_sim::{SAMPLE_ORGANIZATION, SimData, Simulator};

pub mod postgres;

pub const SECRET: &str = "current-secret";
pub const OLD_SECRET: &str = "previous-secret";

/// What to put in the configuration besides the defaults.
#[derive(Default)]
pub struct Options {
    /// Extra `[[webhook.secret]]` files (the current one is always there).
    pub old_secret: bool,
    /// Extra lines in `[server]`.
    pub server: String,
    /// A Slack-shaped server's base URL: adds a Slack channel.
    pub slack: Option<String>,
    /// `jobs.max_attempts`.
    pub max_attempts: Option<u32>,
    /// Standard Webhooks instead of plain HMAC (secret [`STANDARD_SECRET`]).
    pub standard: bool,
    /// Extra lines in `[gate.policy]`.
    pub policy: String,
    /// The whole `[store]` section (default: SQLite, `store.db`).
    pub store: Option<String>,
    /// Extra lines in `[jobs]`.
    pub jobs: String,
}

/// The Standard Webhooks secret (`whsec_` + base64 of "current-secret").
pub const STANDARD_SECRET: &str = "whsec_Y3VycmVudC1zZWNyZXQ=";

pub struct Harness {
    pub dir: tempfile::TempDir,
    pub sim: Simulator,
    pub running: Option<Running>,
    pub url: String,
    pub key: SigningKey,
}

pub fn config_text(sim: &str, options: &Options) -> String {
    let mut text = format!(
        r#"[server]
{server}

[api]
base_url = "{sim}"
organizations = ["{SAMPLE_ORGANIZATION}"]

[webhook]
scheme = "{scheme}"

[[webhook.secret]]
file = "{secret}"
"#,
        server = options.server,
        scheme = if options.standard {
            "standard_webhooks"
        } else {
            "hmac"
        },
        secret = if options.standard {
            "standard-secret"
        } else {
            "secret"
        },
    );
    if options.old_secret {
        text.push_str("\n[[webhook.secret]]\nfile = \"old-secret\"\n");
    }
    text.push_str(&format!(
        r#"
{store}
[jobs]
{jobs}
workers = 2
max_attempts = {attempts}
backoff_seconds = 0.05
backoff_max_seconds = 0.2
poll_millis = 20

[gate.policy]
min_rating = "B"
{policy}

[notify]
attempts = 1
timeout_seconds = 5

[notify.channels.files]
type = "file"
folder = "messages"
format = "email"
"#,
        attempts = options.max_attempts.unwrap_or(5),
        policy = options.policy,
        store = options
            .store
            .as_deref()
            .unwrap_or("[store]\npath = \"store.db\"\n"),
        jobs = options.jobs,
    ));
    let mut channels = vec!["\"files\""];
    if let Some(slack) = &options.slack {
        text.push_str(&format!(
            "\n[notify.channels.slack]\ntype = \"slack\"\ntoken_file = \"slack.token\"\nchannel = \"#security\"\napi_url = \"{slack}/api\"\n"
        ));
        channels.push("\"slack\"");
    }
    text.push_str(&format!(
        "\n[[notify.route]]\nchannels = [{}]\n\n[archive]\nfolder = \"evidence\"\n\n[archive.key]\nfile = \"evidence.key\"\n",
        channels.join(", ")
    ));
    text
}

/// Writes the secrets, the key and the configuration into `dir`; returns the configuration's path.
pub fn write_config(
    dir: &Path,
    sim: &str,
    options: &Options,
    slack_token: &str,
) -> (PathBuf, SigningKey) {
    std::fs::write(dir.join("secret"), format!("{SECRET}\n")).expect("write secret");
    std::fs::write(dir.join("old-secret"), OLD_SECRET).expect("write secret");
    std::fs::write(dir.join("standard-secret"), STANDARD_SECRET).expect("write secret");
    std::fs::write(dir.join("slack.token"), slack_token).expect("write token");
    let key = SigningKey::generate(Algorithm::P256).expect("key");
    if !dir.join("evidence.key").exists() {
        write_key_pair(&key, &dir.join("evidence")).expect("key pair");
    }
    let key = SigningKey::from_pkcs8_pem(
        &std::fs::read_to_string(dir.join("evidence.key")).expect("read key"),
    )
    .expect("key");
    let path = dir.join("procurize.toml");
    std::fs::write(&path, config_text(sim, options)).expect("write config");
    (path, key)
}

impl Harness {
    pub async fn start(options: Options) -> Self {
        Self::start_with(options, "xoxb-test-token").await
    }

    pub async fn start_with(options: Options, slack_token: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let sim = Simulator::start_sample().await.expect("simulator");
        let (path, key) = write_config(dir.path(), &sim.base_url(), &options, slack_token);
        let running = start(&path).await;
        let url = running.webhook_url();
        Self {
            dir,
            sim,
            running: Some(running),
            url,
            key,
        }
    }

    pub fn running(&self) -> &Running {
        self.running.as_ref().expect("running")
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Files in a folder of the harness, sorted.
    pub fn files(&self, folder: &str) -> Vec<PathBuf> {
        let mut files = Vec::new();
        let mut stack = vec![self.path(folder)];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.filter_map(Result::ok) {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    files.push(path);
                }
            }
        }
        files.sort();
        files
    }

    /// Waits for the workflow to finish everything due.
    pub async fn idle(&self) {
        if !self.running().wait_idle(Duration::from_secs(30)).await {
            panic!(
                "the workflow did not finish: {:?}",
                self.running().store().list(None, 100).await
            );
        }
    }

    /// Job counts by state.
    pub async fn states(&self) -> Vec<(Step, JobState, u64)> {
        let mut counts = self.running().store().counts().await.expect("counts");
        counts.sort();
        counts
    }

    pub async fn metrics(&self) -> String {
        procurize_core::tls::reqwest_client()
            .expect("http client")
            .get(format!("http://{}/metrics", self.running().addr()))
            .send()
            .await
            .expect("scrape")
            .text()
            .await
            .expect("body")
    }
}

pub async fn start(config: &Path) -> Running {
    let prepared = Config::from_file(config)
        .expect("config")
        .prepare(&config.display().to_string())
        .expect("prepare");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    Service::open(prepared)
        .await
        .expect("open")
        .start_on(listener)
        .await
        .expect("start")
}

/// The sample organization.
pub fn org() -> Uuid {
    SAMPLE_ORGANIZATION.parse().expect("uuid")
}

/// The platform's payload for sample reports `ids` (0x100..).
pub fn payload(ids: &[u128]) -> Vec<u8> {
    let ids: Vec<Uuid> = ids.iter().map(|i| Uuid::from_u128(*i)).collect();
    Delivery::payload_for(&SimData::sample(), &org(), &ids).expect("payload")
}

pub fn signer(secret: &str) -> Signer {
    Signer::new(Scheme::Hmac, Secret::new(secret.as_bytes().to_vec()))
}

/// Sends one delivery with the simulator's sender, once; returns the status.
pub async fn deliver(delivery: &Delivery) -> u16 {
    let schedule = Schedule {
        interval: Duration::from_millis(10),
        max_attempts: 1,
        timeout: Duration::from_secs(10),
    };
    let mut status = None;
    let _ = delivery
        .send(&schedule, |attempt| status = Some(attempt.outcome.clone()))
        .await;
    match status {
        Some(Outcome::Status(s)) => s,
        other => panic!("no answer: {other:?}"),
    }
}

/// Posts `body` signed with `secret` (when given); returns the status and the JSON answer.
pub async fn post(url: &str, body: Vec<u8>, secret: Option<&str>) -> (u16, serde_json::Value) {
    let mut request = procurize_core::tls::reqwest_client()
        .expect("http client")
        .post(url)
        .header("content-type", "application/json");
    if let Some(secret) = secret {
        request = request.header(
            "X-Procurize-Signature",
            sign_hmac(&Secret::new(secret.as_bytes().to_vec()), &body),
        );
    }
    let response = request.body(body).send().await.expect("post");
    let status = response.status().as_u16();
    let json = response.json().await.unwrap_or(serde_json::Value::Null);
    (status, json)
}
