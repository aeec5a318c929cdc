//! A local server on 127.0.0.1 that speaks Slack's documented shapes: `chat.postMessage`
//! (Bearer token, JSON body, `{"ok":true,…}` or `{"ok":false,"error":…}`), `auth.test`
//! (GET or POST), `conversations.list` and `conversations.history` (query parameters; message
//! `metadata` only with `include_all_metadata=true`; `oldest` exclusive), incoming webhooks (a
//! plain `ok`), and 429 with `Retry-After`. It records what it received. Shared by the Slack tests, the fan-out benchmark and the workflow service's
//! tests (which include this file by path).

#![allow(dead_code, unreachable_pub)]

use std::sync::{Arc, Mutex};

use axum::Json;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// The bot token the fake accepts.
pub const TOKEN: &str = "xoxb-test-token";

#[derive(Default)]
pub struct Recorded {
    /// Every `chat.postMessage` call: the Authorization header and the body.
    pub posts: Vec<(String, Value)>,
    pub webhooks: Vec<Value>,
    /// While true, `chat.postMessage` answers 500 (an outage) and records the call here only.
    pub outage: bool,
    /// Calls answered 500 during an outage.
    pub refused: usize,
    /// Messages in the channel (`C0SECURITY`, named `security`): ts and the posted body.
    pub messages: Vec<(String, Value)>,
    /// `conversations.history` calls.
    pub history_reads: usize,
    rate_limit_first: usize,
    calls: usize,
}

pub async fn fake_slack(rate_limit_first: usize) -> (String, Arc<Mutex<Recorded>>) {
    let state = Arc::new(Mutex::new(Recorded {
        rate_limit_first,
        ..Recorded::default()
    }));
    let posts = state.clone();
    let hooks = state.clone();
    let history = state.clone();
    let app = axum::Router::new()
        .route(
            "/api/chat.postMessage",
            axum::routing::post(move |headers: HeaderMap, Json(body): Json<Value>| {
                let state = posts.clone();
                async move {
                    let mut s = state.lock().expect("lock");
                    if s.outage {
                        s.refused += 1;
                        return (StatusCode::INTERNAL_SERVER_ERROR, "upstream unavailable").into_response();
                    }
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
                    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock");
                    let ts = format!("{}.{:06}", now.as_secs(), (now.subsec_micros() + s.calls as u32) % 1_000_000);
                    s.messages.push((ts.clone(), body.clone()));
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
            "/api/conversations.list",
            axum::routing::any(|headers: HeaderMap| async move {
                if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(&format!("Bearer {TOKEN}")) {
                    return Json(json!({"ok": false, "error": "invalid_auth"})).into_response();
                }
                Json(json!({
                    "ok": true,
                    "channels": [
                        {"id": "C0GENERAL1", "created": 1700000000, "name": "general", "is_channel": true},
                        {"id": "C0SECURITY", "created": 1700000000, "name": "security", "is_channel": true}
                    ],
                    "response_metadata": {"next_cursor": ""}
                }))
                .into_response()
            }),
        )
        .route(
            "/api/conversations.history",
            axum::routing::any(move |headers: HeaderMap, query: axum::extract::RawQuery| {
                let state = history.clone();
                async move {
                    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(&format!("Bearer {TOKEN}")) {
                        return Json(json!({"ok": false, "error": "invalid_auth"})).into_response();
                    }
                    let query = query.0.unwrap_or_default();
                    let param = |name: &str| {
                        query.split('&').find_map(|pair| {
                            let (key, value) = pair.split_once('=')?;
                            (key == name).then(|| value.to_owned())
                        })
                    };
                    if param("channel").as_deref() != Some("C0SECURITY") {
                        return Json(json!({"ok": false, "error": "channel_not_found"})).into_response();
                    }
                    let oldest: f64 = param("oldest").and_then(|v| v.parse().ok()).unwrap_or(0.0);
                    let metadata = param("include_all_metadata").as_deref() == Some("true");
                    let mut s = state.lock().expect("lock");
                    s.history_reads += 1;
                    let messages: Vec<Value> = s
                        .messages
                        .iter()
                        .rev()
                        .filter(|(ts, _)| ts.parse::<f64>().unwrap_or(0.0) > oldest)
                        .map(|(ts, body)| {
                            let mut message = json!({"type": "message", "ts": ts, "text": body["text"], "bot_id": "B1"});
                            if metadata && !body["metadata"].is_null() {
                                message["metadata"] = body["metadata"].clone();
                            }
                            message
                        })
                        .collect();
                    Json(json!({"ok": true, "messages": messages, "has_more": false, "response_metadata": {"next_cursor": ""}})).into_response()
                }
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
