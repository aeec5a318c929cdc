//! The Slack channel (slack-morphism) against a local Slack-shaped server (tests/support).

#[path = "support/fake_slack.rs"]
mod fake_slack;

use std::io::Write;
use std::time::{Duration, Instant};

use fake_slack::{TOKEN, fake_slack};
use procurize_core::RetryPolicy;
use procurize_notify::event::sample;
use procurize_notify::{Config, EventKind, Notifier};

fn notifier(dir: &std::path::Path, channel_toml: &str) -> Notifier {
    let path = dir.join("notify.toml");
    let text = format!("{channel_toml}\n[[route]]\nchannels = [\"slack\"]\n");
    std::fs::File::create(&path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .expect("write");
    Notifier::new(Config::from_file(&path).expect("config"))
        .expect("notifier")
        .with_retry(RetryPolicy {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(50),
            max_retry_after: Duration::from_secs(2),
        })
}

#[tokio::test]
async fn chat_post_message_sends_blocks_with_the_bot_token_and_survives_a_429() {
    let (base, state) = fake_slack(1).await;
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(dir.path().join("slack.token"), format!("{TOKEN}\n")).expect("write");
    let notifier = notifier(
        dir.path(),
        &format!(
            "[channels.slack]\ntype = \"slack\"\ntoken_file = \"slack.token\"\nchannel = \"#security\"\napi_url = \"{base}/api\"\n"
        ),
    );
    let started = Instant::now();
    let deliveries = notifier.deliver(&[sample(EventKind::GateFailed)]).await;
    assert!(deliveries[0].delivered, "{deliveries:?}");
    assert_eq!(deliveries[0].attempts, 2);
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "Retry-After: 1 was honoured"
    );
    let posts = state.lock().expect("lock").posts.clone();
    assert_eq!(posts.len(), 2);
    let (auth, body) = &posts[1];
    assert_eq!(auth, &format!("Bearer {TOKEN}"));
    assert_eq!(body["channel"], "#security");
    assert!(
        body["text"]
            .as_str()
            .expect("text")
            .contains("&lt;Payments &amp; Co&gt;")
    );
    assert_eq!(body["blocks"][0]["type"], "section");
    assert_eq!(body["blocks"][0]["text"]["type"], "mrkdwn");
    assert_eq!(body["blocks"][1]["type"], "context");
    let health = notifier.healthcheck().await;
    assert!(
        health[0].1.as_ref().is_ok_and(|t| t.contains("Example")),
        "{health:?}"
    );
}

#[tokio::test]
async fn ok_false_is_an_error_carrying_slacks_error_string_and_is_not_retried() {
    let (base, state) = fake_slack(0).await;
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(dir.path().join("slack.token"), TOKEN).expect("write");
    let notifier = notifier(
        dir.path(),
        &format!(
            "[channels.slack]\ntype = \"slack\"\ntoken_file = \"slack.token\"\nchannel = \"#missing\"\napi_url = \"{base}/api\"\n"
        ),
    );
    let deliveries = notifier.deliver(&[sample(EventKind::GateFailed)]).await;
    assert!(!deliveries[0].delivered);
    assert_eq!(deliveries[0].attempts, 1);
    assert!(
        deliveries[0].detail.contains("channel_not_found"),
        "{}",
        deliveries[0].detail
    );
    assert_eq!(state.lock().expect("lock").posts.len(), 1);
}

#[tokio::test]
async fn incoming_webhooks_receive_the_same_blocks() {
    let (base, state) = fake_slack(0).await;
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(
        dir.path().join("webhook.url"),
        format!("{base}/hooks/T1/B1/secret"),
    )
    .expect("write");
    let notifier = notifier(
        dir.path(),
        "[channels.slack]\ntype = \"slack\"\nwebhook_url_file = \"webhook.url\"\n",
    );
    let deliveries = notifier
        .deliver(&[sample(EventKind::ReportPublished)])
        .await;
    assert!(deliveries[0].delivered, "{deliveries:?}");
    let recorded = state.lock().expect("lock");
    assert_eq!(recorded.webhooks.len(), 1);
    assert_eq!(recorded.webhooks[0]["blocks"][0]["type"], "section");
}

#[tokio::test]
async fn a_posted_message_is_found_in_the_channel_history_by_its_event() {
    let (base, state) = fake_slack(0).await;
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(dir.path().join("slack.token"), TOKEN).expect("write");
    // The channel by name: the bot looks its ID up with conversations.list.
    let notifier = notifier(
        dir.path(),
        &format!(
            "[channels.slack]\ntype = \"slack\"\ntoken_file = \"slack.token\"\nchannel = \"#security\"\napi_url = \"{base}/api\"\n\n[channels.files]\ntype = \"file\"\nfolder = \"out\"\nformat = \"slack\"\n\n[[route]]\nchannels = [\"slack\", \"files\"]\n"
        ),
    );
    assert!(notifier.can_confirm("slack"));
    assert!(!notifier.can_confirm("files"));
    let before = std::time::SystemTime::now();
    let posted = sample(EventKind::GateFailed);
    let other = sample(EventKind::GateWarned);
    let delivery = notifier.deliver_to(&posted, "slack").await;
    assert!(delivery.delivered, "{delivery:?}");
    // The post carried the event's identity as Slack message metadata.
    let body = state.lock().expect("lock").posts[0].1.clone();
    assert_eq!(body["metadata"]["event_type"], "procurize_notification");
    assert_eq!(
        body["metadata"]["event_payload"]["fingerprint"],
        posted.fingerprint
    );
    assert_eq!(
        notifier.find_delivered(&posted, "slack", before).await,
        Ok(Some(true))
    );
    assert_eq!(
        notifier.find_delivered(&other, "slack", before).await,
        Ok(Some(false)),
        "another event (same fingerprint, other kind) is not confused with it"
    );
    // Only history from shortly before `since` is read.
    let later = std::time::SystemTime::now() + Duration::from_secs(3600);
    assert_eq!(
        notifier.find_delivered(&posted, "slack", later).await,
        Ok(Some(false))
    );
    assert_eq!(
        notifier.find_delivered(&posted, "files", before).await,
        Ok(None)
    );
    assert_eq!(state.lock().expect("lock").history_reads, 3);
}
