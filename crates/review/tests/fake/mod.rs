//! Local stand-ins for GitHub's and GitLab's REST APIs, on 127.0.0.1: the documented request and
//! response shapes of issue comments (GitHub: `Link` pagination, `POST` to create, `PATCH` to
//! edit) and merge request notes (GitLab: `X-Next-Page` pagination, `POST`, `PUT`), recording
//! every request. Shared by this crate's tests and the CLI's.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

/// The token both fakes accept.
pub(crate) const TOKEN: &str = "test-token-3f9c";

/// One request as received.
#[derive(Debug, Clone)]
pub(crate) struct Recorded {
    /// `GET`, `POST`, …
    pub(crate) method: String,
    /// Path and query.
    pub(crate) target: String,
    /// The JSON body, if any.
    pub(crate) body: Option<serde_json::Value>,
}

/// A comment (GitHub) or note (GitLab) on the pull or merge request.
#[derive(Debug, Clone)]
pub(crate) struct Stored {
    /// Its ID.
    pub(crate) id: u64,
    /// The author: a login (GitHub) or a user ID as text (GitLab).
    pub(crate) author: String,
    /// Its text.
    pub(crate) body: String,
}

#[derive(Default)]
struct State {
    comments: Vec<Stored>,
    requests: Vec<Recorded>,
    next_id: u64,
    /// Answer every write with this status.
    refuse_writes: Option<u16>,
}

impl State {
    /// Stores a new comment by `author` with the request's `body` field; `None` without one.
    fn create(&mut self, author: &str, body: &Option<serde_json::Value>) -> Option<Stored> {
        let text = body.as_ref()?["body"].as_str()?;
        self.next_id += 1;
        let stored = Stored {
            id: self.next_id,
            author: author.into(),
            body: text.into(),
        };
        self.comments.push(stored.clone());
        Some(stored)
    }

    /// Replaces comment `id`'s text with the request's `body` field; `None` when there is no such
    /// comment.
    fn edit(&mut self, id: &str, body: &Option<serde_json::Value>) -> Option<Stored> {
        let id: u64 = id.parse().ok()?;
        let text = body.as_ref()?["body"].as_str()?.to_owned();
        let comment = self.comments.iter_mut().find(|c| c.id == id)?;
        comment.body = text;
        Some(comment.clone())
    }
}

/// A fake forge.
#[derive(Clone)]
pub(crate) struct Fake {
    state: Arc<Mutex<State>>,
    /// `http://127.0.0.1:PORT`.
    pub(crate) base: String,
}

impl Fake {
    /// The comments, in order.
    pub(crate) fn comments(&self) -> Vec<Stored> {
        self.state.lock().expect("lock").comments.clone()
    }

    /// Every request so far.
    pub(crate) fn requests(&self) -> Vec<Recorded> {
        self.state.lock().expect("lock").requests.clone()
    }

    /// Adds a comment by `author`.
    pub(crate) fn seed(&self, author: &str, body: &str) -> u64 {
        let mut state = self.state.lock().expect("lock");
        state.next_id += 1;
        let id = state.next_id;
        state.comments.push(Stored {
            id,
            author: author.into(),
            body: body.into(),
        });
        id
    }

    /// From now on, answer creates and edits with `status`.
    pub(crate) fn refuse_writes(&self, status: u16) {
        self.state.lock().expect("lock").refuse_writes = Some(status);
    }
}

async fn start(
    handler: fn(&Fake, &Method, &Uri, &HeaderMap, Option<serde_json::Value>) -> Response,
) -> Fake {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let fake = Fake {
        state: Arc::new(Mutex::new(State {
            next_id: 1000,
            ..State::default()
        })),
        base: format!("http://{}", listener.local_addr().expect("addr")),
    };
    let shared = fake.clone();
    let app = axum::Router::new().fallback(move |request: Request<Body>| {
        let fake = shared.clone();
        async move {
            let (parts, body) = request.into_parts();
            let bytes = axum::body::to_bytes(body, 1 << 20)
                .await
                .unwrap_or_default();
            let json: Option<serde_json::Value> = serde_json::from_slice(&bytes).ok();
            fake.state.lock().expect("lock").requests.push(Recorded {
                method: parts.method.to_string(),
                target: parts.uri.to_string(),
                body: json.clone(),
            });
            handler(&fake, &parts.method, &parts.uri, &parts.headers, json)
        }
    });
    tokio::spawn(async move { axum::serve(listener, app).await });
    fake
}

fn json(status: StatusCode, value: serde_json::Value) -> Response {
    (
        status,
        [("content-type", "application/json")],
        value.to_string(),
    )
        .into_response()
}

fn query(uri: &Uri, name: &str) -> Option<usize> {
    uri.query()?.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name).then(|| v.parse().ok()).flatten()
    })
}

/// A page of `comments` as `render` shapes each one.
fn page(comments: &[Stored], uri: &Uri) -> (Vec<Stored>, usize, bool) {
    let per_page = query(uri, "per_page").unwrap_or(30).clamp(1, 100);
    let number = query(uri, "page").unwrap_or(1).max(1);
    let start = (number - 1) * per_page;
    let items = comments
        .iter()
        .skip(start)
        .take(per_page)
        .cloned()
        .collect();
    (items, number, comments.len() > start + per_page)
}

// --- GitHub -------------------------------------------------------------------------------

/// Who `GITHUB_TOKEN` writes as.
pub(crate) const GITHUB_BOT: &str = "github-actions[bot]";
/// The repository and pull request the GitHub fake serves.
pub(crate) const REPOSITORY: &str = "acme/payments";
/// The pull request's number.
pub(crate) const PULL: u64 = 7;

/// GitHub, as a workflow's `GITHUB_TOKEN` sees it: `GET /user` is refused, comments are written
/// as `github-actions[bot]`.
pub(crate) async fn github() -> Fake {
    start(github_handler).await
}

fn github_comment(fake: &Fake, c: &Stored) -> serde_json::Value {
    serde_json::json!({
        "id": c.id,
        "body": c.body,
        "user": { "login": c.author, "type": "Bot" },
        "html_url": format!("{}/{REPOSITORY}/pull/{PULL}#issuecomment-{}", fake.base, c.id),
    })
}

fn github_handler(
    fake: &Fake,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Option<serde_json::Value>,
) -> Response {
    if headers.get("authorization").and_then(|v| v.to_str().ok())
        != Some(&format!("Bearer {TOKEN}"))
    {
        return json(
            StatusCode::UNAUTHORIZED,
            serde_json::json!({"message": "Bad credentials"}),
        );
    }
    let comments_path = format!("/repos/{REPOSITORY}/issues/{PULL}/comments");
    let edit_prefix = format!("/repos/{REPOSITORY}/issues/comments/");
    let path = uri.path();
    let mut state = fake.state.lock().expect("lock");
    let refused = state.refuse_writes;
    match (method.as_str(), path) {
        ("GET", "/user") => json(
            StatusCode::FORBIDDEN,
            serde_json::json!({"message": "Resource not accessible by integration"}),
        ),
        ("GET", p) if p == comments_path => {
            let (items, number, more) = page(&state.comments, uri);
            let values: Vec<_> = items.iter().map(|c| github_comment(fake, c)).collect();
            let mut response = json(StatusCode::OK, serde_json::Value::Array(values));
            if more {
                let per_page = query(uri, "per_page").unwrap_or(30);
                let link = format!(
                    "<{}{comments_path}?per_page={per_page}&page={}>; rel=\"next\", <{}{comments_path}?per_page={per_page}&page=1>; rel=\"first\"",
                    fake.base,
                    number + 1,
                    fake.base
                );
                response
                    .headers_mut()
                    .insert("link", link.parse().expect("header"));
            }
            response
        }
        ("POST" | "PATCH", _) if refused.is_some() => json(
            StatusCode::from_u16(refused.unwrap_or(403)).expect("status"),
            serde_json::json!({"message": "Resource not accessible by integration"}),
        ),
        ("POST", p) if p == comments_path => match state.create(GITHUB_BOT, &body) {
            Some(c) => json(StatusCode::CREATED, github_comment(fake, &c)),
            None => json(
                StatusCode::UNPROCESSABLE_ENTITY,
                serde_json::json!({"message": "Validation Failed"}),
            ),
        },
        ("PATCH", p) if p.starts_with(&edit_prefix) => {
            match state.edit(&p[edit_prefix.len()..], &body) {
                Some(c) => json(StatusCode::OK, github_comment(fake, &c)),
                None => json(
                    StatusCode::NOT_FOUND,
                    serde_json::json!({"message": "Not Found"}),
                ),
            }
        }
        _ => json(
            StatusCode::NOT_FOUND,
            serde_json::json!({"message": "Not Found"}),
        ),
    }
}

// --- GitLab -------------------------------------------------------------------------------

/// The project access token's bot user.
pub(crate) const GITLAB_BOT: u64 = 4242;
/// The project the GitLab fake serves.
pub(crate) const PROJECT: u64 = 42;
/// The merge request's IID.
pub(crate) const MERGE_REQUEST: u64 = 3;

/// GitLab's REST API v4 under `/api/v4`, as a project access token sees it.
pub(crate) async fn gitlab() -> Fake {
    start(gitlab_handler).await
}

fn gitlab_note(c: &Stored) -> serde_json::Value {
    serde_json::json!({
        "id": c.id,
        "body": c.body,
        "author": { "id": c.author.parse::<u64>().unwrap_or(0), "username": "someone" },
        "system": c.author == "system",
        "noteable_iid": MERGE_REQUEST,
    })
}

fn gitlab_handler(
    fake: &Fake,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Option<serde_json::Value>,
) -> Response {
    if headers.get("private-token").and_then(|v| v.to_str().ok()) != Some(TOKEN) {
        return json(
            StatusCode::UNAUTHORIZED,
            serde_json::json!({"message": "401 Unauthorized"}),
        );
    }
    let notes = format!("/api/v4/projects/{PROJECT}/merge_requests/{MERGE_REQUEST}/notes");
    let path = uri.path();
    let mut state = fake.state.lock().expect("lock");
    let refused = state.refuse_writes;
    match (method.as_str(), path) {
        ("GET", "/api/v4/user") => json(
            StatusCode::OK,
            serde_json::json!({"id": GITLAB_BOT, "username": "project_42_bot", "bot": true}),
        ),
        ("GET", p) if p == notes => {
            let (items, number, more) = page(&state.comments, uri);
            let values: Vec<_> = items.iter().map(gitlab_note).collect();
            let mut response = json(StatusCode::OK, serde_json::Value::Array(values));
            let next = if more {
                (number + 1).to_string()
            } else {
                String::new()
            };
            response
                .headers_mut()
                .insert("x-next-page", next.parse().expect("header"));
            response
                .headers_mut()
                .insert("x-page", number.to_string().parse().expect("header"));
            response
        }
        ("POST" | "PUT", _) if refused.is_some() => json(
            StatusCode::from_u16(refused.unwrap_or(403)).expect("status"),
            serde_json::json!({"message": "403 Forbidden"}),
        ),
        ("POST", p) if p == notes => match state.create(&GITLAB_BOT.to_string(), &body) {
            Some(c) => json(StatusCode::CREATED, gitlab_note(&c)),
            None => json(
                StatusCode::BAD_REQUEST,
                serde_json::json!({"message": {"body": ["can't be blank"]}}),
            ),
        },
        ("PUT", p) if p.starts_with(&format!("{notes}/")) => {
            match state.edit(&p[notes.len() + 1..], &body) {
                Some(c) => json(StatusCode::OK, gitlab_note(&c)),
                None => json(
                    StatusCode::NOT_FOUND,
                    serde_json::json!({"message": "404 Not found"}),
                ),
            }
        }
        _ => json(
            StatusCode::NOT_FOUND,
            serde_json::json!({"message": "404 Not Found"}),
        ),
    }
}
