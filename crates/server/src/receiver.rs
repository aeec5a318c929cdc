//! The HTTP side: the webhook endpoint, health, readiness and metrics.
//!
//! A delivery is read with a size limit and a deadline, verified before anything else, parsed,
//! checked against the configured organizations and handed to the [`Committer`], which writes
//! the deliveries that arrive together in one durable transaction. The answer is `202` when new
//! events were recorded, `200` for a duplicate, and an error with a JSON body otherwise:
//! `401` (signature), `400` (payload), `403` (organization), `408` (slow body), `413` (size),
//! `503` (store).

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::StreamExt as _;
use procurize_core::webhook::Verifier;
use procurize_core::{ReportList, Uuid};
use serde_json::json;
use tokio::sync::{Notify, Semaphore, mpsc, oneshot};

use crate::metrics::{DeliveryOutcome, Metrics};
use crate::store::{Accepted, EventKey, NewEvent, Step, Store};
use crate::{ServerError, now_millis};

/// The most deliveries written in one transaction.
const MAX_BATCH: usize = 512;

type Submission = (
    Vec<NewEvent>,
    oneshot::Sender<Result<Accepted, ServerError>>,
);

/// Writes deliveries to the store from a task of its own, batching those that wait together
/// into one durable commit (group commit): throughput grows with load while each delivery is
/// still answered only after its own events are durable.
#[derive(Debug, Clone)]
pub struct Committer {
    sender: mpsc::Sender<Submission>,
}

impl Committer {
    /// Starts the committing task. `wake` is notified after a commit that enqueued jobs.
    pub fn start(
        store: Arc<dyn Store>,
        steps: Vec<Step>,
        wake: Arc<Notify>,
    ) -> Result<Self, ServerError> {
        let (sender, mut receiver) = mpsc::channel::<Submission>(4 * MAX_BATCH);
        tokio::spawn(async move {
            while let Some(first) = receiver.recv().await {
                let mut batch = vec![first];
                while batch.len() < MAX_BATCH {
                    match receiver.try_recv() {
                        Ok(next) => batch.push(next),
                        Err(_) => break,
                    }
                }
                let (deliveries, answers): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
                let results = store.accept(deliveries, &steps, now_millis()).await;
                let mut enqueued = false;
                for (answer, result) in answers.into_iter().zip(results) {
                    enqueued |= matches!(&result, Ok(a) if a.new > 0);
                    // The request may have gone (client hung up): its events are stored anyway
                    // and a redelivery will be a duplicate.
                    let _ = answer.send(result);
                }
                if enqueued {
                    wake.notify_waiters();
                }
            }
        });
        Ok(Self { sender })
    }

    /// Records one delivery's events and waits for the durable commit.
    pub async fn submit(&self, events: Vec<NewEvent>) -> Result<Accepted, ServerError> {
        let (answer, result) = oneshot::channel();
        self.sender
            .send((events, answer))
            .await
            .map_err(|_| ServerError::Store("the committing thread has stopped".into()))?;
        result
            .await
            .map_err(|_| ServerError::Store("the committing thread has stopped".into()))?
    }
}

/// What the handlers share.
pub struct AppState {
    /// Verifies signatures.
    pub verifier: Verifier,
    /// The accepted organizations.
    pub organizations: HashSet<Uuid>,
    /// Writes deliveries.
    pub committer: Committer,
    /// The store (for readiness and metrics).
    pub store: Arc<dyn Store>,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// The body limit in bytes.
    pub body_limit: usize,
    /// The deadline for a whole request.
    pub request_timeout: Duration,
    /// The cap on concurrent webhook requests.
    pub permits: Semaphore,
    /// Set when shutdown begins: `/readyz` then says 503.
    pub shutting_down: AtomicBool,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("organizations", &self.organizations)
            .field("body_limit", &self.body_limit)
            .finish_non_exhaustive()
    }
}

/// The routes: the webhook `path`, `/healthz`, `/readyz` and `/metrics`.
pub fn router(state: Arc<AppState>, path: &str) -> Router {
    Router::new()
        .route(path, post(receive))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics))
        .with_state(state)
}

fn problem(status: StatusCode, error: &str, message: impl Into<String>) -> Response {
    (
        status,
        axum::Json(json!({ "error": error, "message": message.into() })),
    )
        .into_response()
}

/// Why a body could not be read.
enum BodyError {
    TooLarge,
    Broken(String),
}

async fn read_body(body: Body, limit: usize, headers: &HeaderMap) -> Result<Vec<u8>, BodyError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    // A declared length over the limit is refused before reading anything.
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(BodyError::TooLarge);
    }
    let mut bytes = Vec::with_capacity(
        declared
            .and_then(|length| usize::try_from(length).ok())
            .unwrap_or(8 * 1024)
            .min(limit),
    );
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| BodyError::Broken(e.to_string()))?;
        if bytes.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge);
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// The events of a payload, one per report, identified by core's event identity.
fn events_of(list: &ReportList) -> Result<Vec<NewEvent>, String> {
    list.event_ids()
        .zip(&list.reports)
        .enumerate()
        .map(|(index, (id, report))| {
            let key = EventKey::try_from(&id).map_err(|e| format!("reports[{index}]: {e}"))?;
            Ok(NewEvent {
                key,
                report: serde_json::to_string(report).map_err(|e| e.to_string())?,
            })
        })
        .collect()
}

async fn receive(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let started = Instant::now();
    let deadline = |what: &str| {
        (
            DeliveryOutcome::Timeout,
            problem(
                StatusCode::REQUEST_TIMEOUT,
                "timeout",
                format!(
                    "the delivery was not {what} within {} s",
                    state.request_timeout.as_secs()
                ),
            ),
        )
    };
    // The cap on concurrent requests: a request waits its turn for at most the request time-out,
    // then gets the whole time-out for itself.
    let (outcome, response) =
        match tokio::time::timeout(state.request_timeout, state.permits.acquire()).await {
            Err(_) => deadline("taken up (the server is busy)"),
            Ok(Err(_)) => (
                DeliveryOutcome::StorageError,
                problem(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "shutting_down",
                    "the server is stopping",
                ),
            ),
            Ok(Ok(_permit)) => {
                match tokio::time::timeout(state.request_timeout, handle(&state, request)).await {
                    Ok(answer) => answer,
                    Err(_) => deadline("read and recorded"),
                }
            }
        };
    state.metrics.delivery(outcome, started.elapsed());
    response
}

async fn handle(state: &AppState, request: Request) -> (DeliveryOutcome, Response) {
    let (parts, body) = request.into_parts();
    let delivery_id = parts
        .headers
        .get(procurize_core::webhook::WEBHOOK_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .chars()
        .take(64)
        .collect::<String>();
    let body = match read_body(body, state.body_limit, &parts.headers).await {
        Ok(body) => body,
        Err(BodyError::TooLarge) => {
            tracing::warn!(delivery = %delivery_id, limit = state.body_limit, "delivery refused: body too large");
            return (
                DeliveryOutcome::TooLarge,
                problem(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "too_large",
                    format!("the body is larger than {} bytes", state.body_limit),
                ),
            );
        }
        Err(BodyError::Broken(reason)) => {
            tracing::warn!(delivery = %delivery_id, "delivery refused: the body could not be read: {reason}");
            return (
                DeliveryOutcome::BadPayload,
                problem(
                    StatusCode::BAD_REQUEST,
                    "bad_payload",
                    format!("the body could not be read: {reason}"),
                ),
            );
        }
    };
    if let Err(e) = state.verifier.verify(&parts.headers, &body) {
        tracing::warn!(delivery = %delivery_id, bytes = body.len(), "delivery refused: {e}");
        return (
            DeliveryOutcome::BadSignature,
            problem(StatusCode::UNAUTHORIZED, "bad_signature", e.to_string()),
        );
    }
    let list = match ReportList::from_json(&body) {
        Ok(list) => list,
        Err(e) => {
            tracing::warn!(delivery = %delivery_id, "delivery refused: {e}");
            return (
                DeliveryOutcome::BadPayload,
                problem(StatusCode::BAD_REQUEST, "bad_payload", e.to_string()),
            );
        }
    };
    if !state.organizations.contains(&list.organization_id) {
        tracing::warn!(delivery = %delivery_id, organization = %list.organization_id, "delivery refused: organization not configured");
        return (
            DeliveryOutcome::UnknownOrganization,
            problem(
                StatusCode::FORBIDDEN,
                "unknown_organization",
                format!(
                    "organization {} is not configured on this server",
                    list.organization_id
                ),
            ),
        );
    }
    if list.reports.is_empty() {
        // Nothing to store or act on; counted apart so an empty delivery is not an accepted one.
        tracing::info!(delivery = %delivery_id, organization = %list.organization_id, "delivery empty");
        let body = json!({ "status": "empty", "new": 0, "duplicates": 0 });
        return (
            DeliveryOutcome::Empty,
            (StatusCode::OK, axum::Json(body)).into_response(),
        );
    }
    let events = match events_of(&list) {
        Ok(events) => events,
        Err(message) => {
            return (
                DeliveryOutcome::BadPayload,
                problem(StatusCode::BAD_REQUEST, "bad_payload", message),
            );
        }
    };
    match state.committer.submit(events).await {
        Ok(accepted) => {
            state.metrics.events(accepted.new);
            let (outcome, status, word) = if accepted.new > 0 {
                (DeliveryOutcome::Accepted, StatusCode::ACCEPTED, "accepted")
            } else {
                (DeliveryOutcome::Duplicate, StatusCode::OK, "duplicate")
            };
            tracing::info!(
                delivery = %delivery_id,
                organization = %list.organization_id,
                new = accepted.new,
                duplicates = accepted.duplicates,
                "delivery {word}"
            );
            (
                outcome,
                (
                    status,
                    axum::Json(json!({
                        "status": word,
                        "new": accepted.new,
                        "duplicates": accepted.duplicates,
                    })),
                )
                    .into_response(),
            )
        }
        Err(e) => {
            tracing::error!(delivery = %delivery_id, "delivery not recorded: {e}");
            (
                DeliveryOutcome::StorageError,
                problem(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "storage_error",
                    "the delivery could not be recorded; send it again later",
                ),
            )
        }
    }
}

async fn ready(State(state): State<Arc<AppState>>) -> Response {
    if state.shutting_down.load(Ordering::Relaxed) {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response();
    }
    match state.store.check_writable().await {
        Ok(()) => (StatusCode::OK, "ready\n").into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n")).into_response(),
    }
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let counts = state.store.counts().await.ok();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(counts.as_deref()),
    )
        .into_response()
}
