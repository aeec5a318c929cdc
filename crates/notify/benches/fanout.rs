//! 1,000 events fanned out to three channels (e-mail to a real SMTP server, Slack to a local
//! Slack-shaped server, files) with bounded concurrency: the total time, and proof that no
//! message was sent twice.
//!
//! `cargo bench -p procurize-notify --bench fanout` (needs python3 with aiosmtpd)

#![allow(missing_docs, clippy::print_stdout)]

#[path = "../tests/support/fake_slack.rs"]
mod fake_slack;
#[path = "../../../tests/common/smtp.rs"]
mod smtp;

use std::collections::HashSet;
use std::time::Instant;

use procurize_notify::event::sample;
use procurize_notify::{Config, EventKind, Notifier};

const EVENTS: usize = 1_000;

#[tokio::main]
async fn main() {
    let smtp = smtp::Smtp::start(0).expect("python3 with aiosmtpd (pip install aiosmtpd)");
    let (slack, recorded) = fake_slack::fake_slack(0).await;
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(dir.path().join("slack.token"), fake_slack::TOKEN).expect("write");
    let config = format!(
        r##"
[channels.mail]
type = "email"
url = "smtp://127.0.0.1:{}"
from = "p@example.com"
to = ["t@example.com"]

[channels.slack]
type = "slack"
token_file = "slack.token"
channel = "#security"
api_url = "{slack}/api"

[channels.files]
type = "file"
folder = "out"
format = "jira"

[[route]]
channels = ["mail", "slack", "files"]
"##,
        smtp.port
    );
    std::fs::write(dir.path().join("notify.toml"), config).expect("write");
    let notifier =
        Notifier::new(Config::from_file(&dir.path().join("notify.toml")).expect("config"))
            .expect("notifier");
    let events: Vec<_> = (0..EVENTS)
        .map(|i| {
            let mut event = sample(EventKind::GateFailed);
            event.fingerprint = format!("{i:064x}");
            event
        })
        .collect();

    let started = Instant::now();
    let deliveries = notifier.deliver(&events).await;
    let elapsed = started.elapsed();

    let failed = deliveries.iter().filter(|d| !d.delivered).count();
    let mails = smtp.messages();
    let message_ids: HashSet<String> = mails
        .iter()
        .filter_map(|m| {
            m.lines()
                .find(|l| l.starts_with("Message-ID:"))
                .map(str::to_owned)
        })
        .collect();
    let posts = recorded.lock().expect("lock").posts.clone();
    let slack_prints: HashSet<String> = posts
        .iter()
        .map(|(_, body)| {
            body["blocks"][1]["elements"][0]["text"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    let files = std::fs::read_dir(dir.path().join("out"))
        .expect("dir")
        .count();
    println!(
        "{EVENTS} events × 3 channels = {} deliveries in {:.2} s ({:.0}/s), {failed} failed",
        deliveries.len(),
        elapsed.as_secs_f64(),
        deliveries.len() as f64 / elapsed.as_secs_f64()
    );
    println!(
        "received: {} e-mails ({} distinct Message-IDs), {} Slack posts ({} distinct fingerprints), {files} files",
        mails.len(),
        message_ids.len(),
        posts.len(),
        slack_prints.len()
    );
    assert_eq!(failed, 0);
    assert_eq!(
        (mails.len(), message_ids.len()),
        (EVENTS, EVENTS),
        "every e-mail once"
    );
    assert_eq!(
        (posts.len(), slack_prints.len()),
        (EVENTS, EVENTS),
        "every Slack post once"
    );
    assert_eq!(files, EVENTS, "every file once");
    println!("no message was sent twice");
}
