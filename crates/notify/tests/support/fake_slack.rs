//! A local server on 127.0.0.1 that speaks Slack's documented shapes: `chat.postMessage`
//! (Bearer token, JSON body, `{"ok":true,…}` or `{"ok":false,"error":…}`), `auth.test`
//! (GET or POST), incoming webhooks (a plain `ok`), and 429 with `Retry-After`. It records what
//! it received. Shared by the Slack tests, the fan-out benchmark and the workflow service's
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
