//! A local server on 127.0.0.1 that implements the parts of Jira's REST API v2 the notifier
//! uses, in Jira's documented shapes: `POST /rest/api/2/issue` (→ `{id, key, self}`),
//! `POST /rest/api/2/issue/{key}/comment`, JQL search at `/rest/api/2/search` (Data Center) and
//! `/rest/api/2/search/jql` (Cloud, `nextPageToken`/`isLast`), and `/rest/api/2/myself`. Search
//! understands `labels = "…"`. It records every request's Authorization header.

#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde_json::{Value, json};

/// One issue in the fake.
#[derive(Clone, Debug)]
pub struct FakeIssue {
    pub key: String,
    pub summary: String,
    pub labels: Vec<String>,
    pub resolved: bool,
    pub comments: Vec<String>,
}

/// What the fake holds and saw.
#[derive(Default, Debug)]
pub struct Jira {
    pub issues: Vec<FakeIssue>,
    pub authorizations: Vec<String>,
    pub searches: Vec<String>,
    /// While true, search does not see new issues (Jira's index lags).
    pub search_lags: bool,
    /// When set, `/myself` answers 401 (Jira's shape) to any other Authorization header.
    pub accepted_authorization: Option<String>,
    /// The body of every issue creation accepted, as received.
    pub created: Vec<Value>,
}

pub type Shared = Arc<Mutex<Jira>>;

fn user() -> Value {
    json!({
        "active": true, "displayName": "Procurize", "emailAddress": "bot@example.com",
        "timeZone": "UTC", "self": "http://jira/user", "accountId": "1",
        "avatarUrls": {"16x16": "a", "24x24": "b", "32x32": "c", "48x48": "d"}
    })
}

fn issue_json(issue: &FakeIssue) -> Value {
    let now = "2026-11-29T00:00:00.000+0000";
    json!({
        "id": issue.key.trim_start_matches("SEC-"),
        "key": issue.key,
        "expand": "",
        "self": format!("http://jira/rest/api/2/issue/{}", issue.key),
        "fields": {
            "labels": issue.labels,
            "summary": issue.summary,
            "description": null,
            "reporter": user(), "creator": user(), "assignee": null,
            "status": {
                "description": "", "iconUrl": "", "id": "1",
                "name": if issue.resolved { "Done" } else { "Open" },
                "statusCategory": {"colorName": "blue", "id": 2, "key": if issue.resolved { "done" } else { "new" }, "name": "x", "self": "s"},
                "self": "s"
            },
            "resolution": if issue.resolved { json!({"description": "", "id": "1", "name": "Done", "self": "s"}) } else { Value::Null },
            "created": now, "updated": now,
            "issuetype": {"description": "", "iconUrl": "", "id": "1", "name": "Bug", "subtask": false, "self": "s"},
            "workratio": -1,
            "project": {"id": "1", "key": "SEC", "name": "Security", "projectTypeKey": "software", "avatarUrls": {"16x16": "a", "24x24": "b", "32x32": "c", "48x48": "d"}, "self": "s"},
            "components": [], "issuelinks": [],
            "watches": {"isWatching": false, "watchCount": 0, "self": "s"},
            "votes": {"hasVoted": false, "votes": 0, "self": "s"}
        }
    })
}

fn record(state: &Shared, headers: &HeaderMap) {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    state.lock().expect("lock").authorizations.push(auth);
}

fn search(state: &Shared, params: &HashMap<String, String>) -> Vec<Value> {
    let jql = params.get("jql").cloned().unwrap_or_default();
    let mut s = state.lock().expect("lock");
    s.searches.push(jql.clone());
    let wanted = jql
        .split("labels = \"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap_or_default()
        .to_owned();
    if s.search_lags {
        return Vec::new();
    }
    s.issues
        .iter()
        .rev()
        .filter(|i| i.labels.contains(&wanted))
        .map(issue_json)
        .collect()
}

/// Starts the fake; returns its base URL and its state.
pub async fn fake_jira() -> (String, Shared) {
    let state: Shared = Arc::new(Mutex::new(Jira::default()));
    let app = axum::Router::new()
        .route(
            "/rest/api/2/search",
            axum::routing::get(|State(state): State<Shared>, headers: HeaderMap, RawQuery(query): RawQuery| async move {
                record(&state, &headers);
                let params: HashMap<String, String> =
                    url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()).into_owned().collect();
                let issues = search(&state, &params);
                Json(json!({"startAt": 0, "maxResults": 50, "total": issues.len(), "issues": issues}))
            }),
        )
        .route(
            "/rest/api/2/search/jql",
            axum::routing::get(|State(state): State<Shared>, headers: HeaderMap, RawQuery(query): RawQuery| async move {
                record(&state, &headers);
                let params: HashMap<String, String> =
                    url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()).into_owned().collect();
                let issues = search(&state, &params);
                Json(json!({"issues": issues, "isLast": true}))
            }),
        )
        .route(
            "/rest/api/2/issue",
            axum::routing::post(|State(state): State<Shared>, headers: HeaderMap, Json(body): Json<Value>| async move {
                record(&state, &headers);
                let mut s = state.lock().expect("lock");
                let key = format!("SEC-{}", s.issues.len() + 1);
                let fields = &body["fields"];
                if fields["project"]["key"] != "SEC" || fields["summary"].as_str().is_none_or(str::is_empty) {
                    return (StatusCode::BAD_REQUEST, Json(json!({"errorMessages": [], "errors": {"summary": "You must specify a summary of the issue."}}))).into_response();
                }
                s.created.push(body.clone());
                s.issues.push(FakeIssue {
                    key: key.clone(),
                    summary: fields["summary"].as_str().unwrap_or_default().to_owned(),
                    labels: fields["labels"].as_array().into_iter().flatten().filter_map(|l| l.as_str().map(str::to_owned)).collect(),
                    resolved: false,
                    comments: Vec::new(),
                });
                (StatusCode::CREATED, Json(json!({"id": key.trim_start_matches("SEC-"), "key": key, "self": format!("http://jira/rest/api/2/issue/{key}")}))).into_response()
            }),
        )
        .route(
            "/rest/api/2/issue/{key}/comment",
            axum::routing::post(|State(state): State<Shared>, headers: HeaderMap, Path(key): Path<String>, Json(body): Json<Value>| async move {
                record(&state, &headers);
                let mut s = state.lock().expect("lock");
                match s.issues.iter_mut().find(|i| i.key == key) {
                    Some(issue) => {
                        issue.comments.push(body["body"].as_str().unwrap_or_default().to_owned());
                        (StatusCode::CREATED, Json(json!({"id": "10000", "body": body["body"]}))).into_response()
                    }
                    None => (StatusCode::NOT_FOUND, Json(json!({"errorMessages": ["Issue does not exist or you do not have permission to see it."], "errors": {}}))).into_response(),
                }
            }),
        )
        .route(
            "/rest/api/2/myself",
            axum::routing::get(|State(state): State<Shared>, headers: HeaderMap| async move {
                record(&state, &headers);
                let accepted = state.lock().expect("lock").accepted_authorization.clone();
                let given = headers.get("authorization").and_then(|v| v.to_str().ok());
                if accepted.is_some_and(|a| Some(a.as_str()) != given) {
                    let body = json!({
                        "errorMessages": ["You are not authenticated. Authentication required to perform this operation."],
                        "errors": {}
                    });
                    return (StatusCode::UNAUTHORIZED, Json(body)).into_response();
                }
                Json(user()).into_response()
            }),
        )
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, state)
}
