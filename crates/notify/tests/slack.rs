//! The Slack channel (slack-morphism) against a local server on 127.0.0.1 that speaks Slack's
//! documented shapes: `chat.postMessage` (Bearer token, JSON body, `{"ok":true,…}` or
//! `{"ok":false,"error":…}`), `auth.test`, incoming webhooks (`ok`), and 429 with `Retry-After`.
//! It records what it received.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use procurize_core::RetryPolicy;
use procurize_notify::event::sample;
use procurize_notify::{Config, EventKind, Notifier};
use serde_json::{Value, json};

const TOKEN: &str = "xoxb-test-token";

#[derive(Default)]
struct Recorded {
    posts: Vec<(String, Value)>,
    webhooks: Vec<Value>,
    rate_limit_first: usize,
    calls: usize,
}

async fn fake_slack(rate_limit_first: usize) -> (String, Arc<Mutex<Recorded>>) {
    let state = Arc::new(Mutex::new(Recorded {
        rate_limit_first,
        ..Recorded::default()
    }));
    let posts = state.clone();
    let hooks = state.clone();
    let app = axum::Router::new()
        .route(
            "/api/chat.postMessage",
            axum::routing::post(move |headers: HeaderMap, Json(body): Json<Value>| {
                let state = posts.clone();
                async move {
                    let mut s = state.lock().expect("lock");
                    s.calls += 1;
                    let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
                    s.posts.push((auth.clone(), body.clone()));
                    if s.calls <= s.rate_limit_first {
                        return (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "1")], Json(json!({"ok": false, "error": "ratelimited"}))).into_response();
                    }
                    if auth != format!("Bearer {TOKEN}") {
                        return Json(json!({"ok": false, "error": "invalid_auth"})).into_response();
                    }
                    if body["channel"] == "#missing" {
                        return Json(json!({"ok": false, "error": "channel_not_found"})).into_response();
                    }
                    let ts = format!("1700000000.{:06}", s.calls);
                    Json(json!({"ok": true, "channel": "C0SECURITY", "ts": ts, "message": {"ts": ts, "text": body["text"]}})).into_response()
                }
            }),
        )
        .route(
            "/api/auth.test",
            // Web API methods accept GET and POST.
            axum::routing::any(|headers: HeaderMap| async move {
                let ok = headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {TOKEN}"));
                let body = if ok {
                    json!({"ok": true, "url": "https://example.slack.com/", "team": "Example", "user": "procurize", "team_id": "T1", "user_id": "U1"})
                } else {
                    json!({"ok": false, "error": "invalid_auth"})
                };
                Json(body).into_response()
            }),
        )
        .route(
            "/hooks/T1/B1/secret",
            axum::routing::post(move |Json(body): Json<Value>| {
                let state = hooks.clone();
                async move {
                    state.lock().expect("lock").webhooks.push(body);
                    Response::new(axum::body::Body::from("ok"))
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, state)
}

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
