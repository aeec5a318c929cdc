//! The webhook channel against a receiver on 127.0.0.1 that records what it gets: the signature
//! checked by the Standard Webhooks reference library (Python's `standardwebhooks`), one
//! `webhook-id` across the retries of one event, the body equal to the dry run, `Retry-After`
//! honoured, and 410 an error naming the URL that is not retried.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use base64::Engine as _;
use procurize_core::RetryPolicy;
use procurize_notify::event::sample;
use procurize_notify::{Config, EventKind, Notifier};

/// The Standard Webhooks libraries' own test secret.
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// What the receiver got, and the statuses it answers with, in order (then 200).
#[derive(Default)]
struct Receiver {
    requests: Vec<(HeaderMap, Vec<u8>)>,
    answers: Vec<(StatusCode, Option<&'static str>)>,
}

async fn receiver(
    answers: Vec<(StatusCode, Option<&'static str>)>,
) -> (String, Arc<Mutex<Receiver>>) {
    let state = Arc::new(Mutex::new(Receiver {
        requests: Vec::new(),
        answers,
    }));
    let shared = state.clone();
    let app = axum::Router::new().route(
        "/hooks/procurize",
        axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let shared = shared.clone();
            async move {
                let mut state = shared.lock().expect("lock");
                state.requests.push((headers, body.to_vec()));
                let (status, retry_after) = if state.answers.is_empty() {
                    (StatusCode::OK, None)
                } else {
                    state.answers.remove(0)
                };
                let mut response = status.into_response();
                if let Some(seconds) = retry_after {
                    response
                        .headers_mut()
                        .insert("retry-after", seconds.parse().expect("header"));
                }
                response
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!(
        "http://{}/hooks/procurize",
        listener.local_addr().expect("addr")
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, state)
}

fn notifier(dir: &Path, url: &str) -> Notifier {
    let secret = dir.join("webhook-secret");
    std::fs::write(&secret, format!("{SECRET}\n")).expect("write");
    let path = dir.join("notify.toml");
    std::fs::write(
        &path,
        format!(
            "[channels.grc]\ntype = \"webhook\"\nurl = \"{url}\"\nsecret_file = \"webhook-secret\"\n\n[[route]]\nchannels = [\"grc\"]\n"
        ),
    )
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

/// Runs the reference library over the recorded deliveries; `None` where Python or the library
/// is missing (outside CI, which installs them).
fn reference_verifies(secret: &str, requests: &[(HeaderMap, Vec<u8>)]) -> Option<bool> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/interop/standard_webhooks_verify.py");
    let present = Command::new("python3")
        .args(["-c", "import standardwebhooks"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !present {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI installs standardwebhooks (.ci/run)"
        );
        return None;
    }
    let deliveries: Vec<serde_json::Value> = requests
        .iter()
        .map(|(headers, body)| {
            let headers: serde_json::Map<String, serde_json::Value> = headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().into()))
                .collect();
            serde_json::json!({
                "headers": headers,
                "body": base64::engine::general_purpose::STANDARD.encode(body),
            })
        })
        .collect();
    let mut child = Command::new("python3")
        .arg(script)
        .arg(secret)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&serde_json::to_vec(&deliveries).expect("json"))
        .expect("write");
    let output = child.wait_with_output().expect("wait");
    Some(output.status.success())
}

#[tokio::test]
async fn events_arrive_signed_once_per_event_and_as_the_dry_run_shows() {
    let (url, state) = receiver(vec![(StatusCode::SERVICE_UNAVAILABLE, Some("1"))]).await;
    let dir = tempfile::tempdir().expect("dir");
    let notifier = notifier(dir.path(), &url);
    let failed = sample(EventKind::GateFailed);
    let published = sample(EventKind::ReportPublished);
    let started = std::time::Instant::now();
    let deliveries = notifier.deliver(&[failed.clone(), published.clone()]).await;
    assert!(deliveries.iter().all(|d| d.delivered), "{deliveries:?}");
    // The 503's Retry-After was waited for.
    assert!(started.elapsed() >= Duration::from_millis(900));

    let requests = state.lock().expect("lock").requests.clone();
    assert_eq!(
        requests.len(),
        3,
        "one each, and a retry of the one that got the 503"
    );
    // By ID: one per event, stable across that event's attempts (the kind and fingerprint).
    let mut by_id: std::collections::BTreeMap<String, Vec<&Vec<u8>>> = Default::default();
    for (headers, body) in &requests {
        assert_eq!(headers["content-type"], "application/json");
        assert!(
            headers["webhook-signature"]
                .to_str()
                .expect("signature")
                .starts_with("v1,")
        );
        let id = headers["webhook-id"].to_str().expect("id").to_owned();
        by_id.entry(id).or_default().push(body);
    }
    let failed_id = format!("msg_gate_failed_{}", failed.fingerprint);
    let published_id = format!("msg_report_published_{}", published.fingerprint);
    assert_eq!(
        by_id.keys().cloned().collect::<Vec<_>>(),
        [failed_id.clone(), published_id.clone()]
    );
    let retried: Vec<_> = by_id.values().filter(|bodies| bodies.len() == 2).collect();
    assert_eq!(retried.len(), 1, "one event was retried");
    assert_eq!(retried[0][0], retried[0][1], "a retry sends the same body");
    // The body is what the dry run shows, and says what happened in the documented shape.
    let shown = notifier
        .dry_run(std::slice::from_ref(&failed))
        .expect("dry run");
    assert_eq!(&shown[0].2, by_id[&failed_id][0]);
    let body: serde_json::Value = serde_json::from_slice(by_id[&failed_id][0]).expect("json");
    assert_eq!(body["type"], "gate_failed");
    assert_eq!(body["schemaVersion"], 1);
    assert_eq!(body["id"], failed_id.as_str());
    assert_eq!(body["data"]["fingerprint"], failed.fingerprint);
    assert_eq!(
        body["data"]["project"],
        failed.project.clone().expect("project")
    );
    assert_eq!(body["data"]["rule"], failed.rule.clone().expect("rule"));
    let published_body: serde_json::Value =
        serde_json::from_slice(by_id[&published_id][0]).expect("json");
    assert_eq!(published_body["type"], "report_published");
    assert_eq!(published_body["data"]["rule"], serde_json::Value::Null);

    // The reference library accepts every delivery, and refuses them with another secret.
    if let Some(verified) = reference_verifies(SECRET, &requests) {
        assert!(verified, "standardwebhooks refused a delivery");
        let other = "whsec_dGhpcyBpcyBub3QgdGhlIHNlY3JldA==";
        assert_eq!(reference_verifies(other, &requests), Some(false));
    }
}

#[tokio::test]
async fn gone_is_an_error_naming_the_url_and_is_not_retried() {
    let (url, state) = receiver(vec![(StatusCode::GONE, None)]).await;
    let dir = tempfile::tempdir().expect("dir");
    let notifier = notifier(dir.path(), &url);
    let deliveries = notifier.deliver(&[sample(EventKind::GateFailed)]).await;
    assert!(!deliveries[0].delivered);
    assert!(deliveries[0].detail.contains(&url), "{deliveries:?}");
    assert!(deliveries[0].detail.contains("410"), "{deliveries:?}");
    assert_eq!(deliveries[0].attempts, 1);
    assert_eq!(state.lock().expect("lock").requests.len(), 1);
}

#[test]
fn a_bad_url_or_a_missing_secret_is_a_configuration_error() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("notify.toml");
    for (text, needle) in [
        (
            "[channels.grc]\ntype = \"webhook\"\nurl = \"ftp://example.com/x\"\nsecret_env = \"PROCURIZE_TEST_WEBHOOK\"\n",
            "is not an http(s) URL",
        ),
        (
            "[channels.grc]\ntype = \"webhook\"\nurl = \"https://example.com/x\"\n",
            "`secret_env` or `secret_file`",
        ),
        (
            "[channels.grc]\ntype = \"webhook\"\nurl = \"https://example.com/x\"\nsecret_env = \"PROCURIZE_TEST_NO_SUCH_VARIABLE\"\n",
            "PROCURIZE_TEST_NO_SUCH_VARIABLE",
        ),
    ] {
        std::fs::write(&path, text).expect("write");
        let error = match Notifier::new(Config::from_file(&path).expect("parses")) {
            Ok(_) => panic!("{text}: accepted"),
            Err(e) => e.to_string(),
        };
        assert!(error.contains(needle), "{error}");
        assert!(error.contains("channel `grc`"), "{error}");
    }
}

/// The shape a JSON value has: its keys, recursively, and the kind of each leaf.
fn shape(value: &serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => map
            .iter()
            .map(|(k, v)| (k.clone(), shape(v)))
            .collect::<serde_json::Map<_, _>>()
            .into(),
        serde_json::Value::Null => "null".into(),
        serde_json::Value::Bool(_) => "bool".into(),
        serde_json::Value::Number(_) => "number".into(),
        serde_json::Value::String(_) => "string".into(),
        serde_json::Value::Array(_) => "array".into(),
    }
}

/// docs/notifications.md shows the body a `gate_failed` event gets, in exactly its shape.
#[test]
fn the_documented_body_is_the_body_sent() {
    let page = include_str!("../../../docs/notifications.md");
    let block = page
        .split("<!-- check: webhook-body -->\n```json\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("docs/notifications.md shows the webhook body");
    let documented: serde_json::Value = serde_json::from_str(block).expect("JSON");
    let dir = tempfile::tempdir().expect("dir");
    let notifier = notifier(dir.path(), "http://127.0.0.1:9/unused");
    let shown = notifier
        .dry_run(&[sample(EventKind::GateFailed)])
        .expect("dry run");
    let sent: serde_json::Value = serde_json::from_slice(&shown[0].2).expect("JSON");
    assert_eq!(shape(&documented), shape(&sent));
    assert_eq!(documented["schemaVersion"], sent["schemaVersion"]);
    assert_eq!(documented["type"], sent["type"]);
}
