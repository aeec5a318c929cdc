//! The HTTP side: the webhook endpoint, health, readiness and metrics.
//!
//! A delivery is read with a size limit and a deadline, verified before anything else, parsed,
//! checked against the configured organizations and handed to the [`Committer`], which writes
//! the deliveries that arrive together in one durable transaction. The answer is a [`Received`]
//! (`202` when new events were recorded, `200` for a duplicate or an empty delivery) or a
//! [`Rejection`] with a JSON body: `401` (signature), `400` (payload), `403` (organization),
//! `408` (slow body, busy server), `413` (size), `503` (store, stopping).

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
use tokio::sync::{Semaphore, mpsc, oneshot};

use crate::metrics::{DeliveryOutcome, Metrics};
use crate::store::{Accepted, EventKey, NewEvent, Step, Store};
use crate::workflow::Handoff;
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
    /// Starts the committing task. Each commit leases the first jobs of its new events to this
    /// replica's workers, as many as `handoff` has room for, and hands them over; when it
    /// leaves jobs due in the store it wakes one worker.
    pub fn start(
        store: Arc<dyn Store>,
        steps: Vec<Step>,
        handoff: Arc<Handoff>,
    ) -> Result<Self, ServerError> {
        let (sender, mut receiver) = mpsc::channel::<Submission>(4 * MAX_BATCH);
        tokio::spawn(async move {
            while let Some(first) = receiver.recv().await {
                let mut batch = vec![first];
                take_waiting(&mut receiver, &mut batch);
                // Requests about to submit (verified, parsing) join this batch, not the next.
                for _ in 0..2 {
                    tokio::task::yield_now().await;
                    take_waiting(&mut receiver, &mut batch);
                }
                let (deliveries, answers): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
                let now = now_millis();
                let lease = handoff.lease(now);
                let until = lease.map_or(now, |l| l.until);
                let accepted = store.accept_leasing(deliveries, &steps, now, lease).await;
                let new: usize = accepted.deliveries.iter().flatten().map(|a| a.new).sum();
                let leased = accepted.leased.len();
                // Handed over before anyone is answered: a shutdown that has answered every
                // request finds every leased job here to give back.
                handoff.push(accepted.leased, until);
                for (answer, result) in answers.into_iter().zip(accepted.deliveries) {
                    // The request may have gone (client hung up): its events are stored anyway
                    // and a redelivery will be a duplicate.
                    let _ = answer.send(result);
                }
                // One worker is woken; it wakes another when it finds more than it takes.
                if new > leased {
                    handoff.wake();
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

/// Adds the submissions already waiting to `batch`, up to [`MAX_BATCH`].
fn take_waiting(receiver: &mut mpsc::Receiver<Submission>, batch: &mut Vec<Submission>) {
    while batch.len() < MAX_BATCH {
        match receiver.try_recv() {
            Ok(next) => batch.push(next),
            Err(_) => break,
        }
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

/// The body, read up to `limit` bytes.
async fn read_body(body: Body, limit: usize, headers: &HeaderMap) -> Result<Vec<u8>, Rejection> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    // A declared length over the limit is refused before reading anything.
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(Rejection::TooLarge { limit });
    }
    let mut bytes = Vec::with_capacity(
        declared
            .and_then(|length| usize::try_from(length).ok())
            .unwrap_or(8 * 1024)
            .min(limit),
    );
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| Rejection::UnreadableBody(e.to_string()))?;
        if bytes.len() + chunk.len() > limit {
            return Err(Rejection::TooLarge { limit });
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// The events of a payload, one per report, identified by core's event identity; each keeps
/// the delivery's body.
fn events_of(list: &ReportList, body: &Arc<str>) -> Result<Vec<NewEvent>, String> {
    list.event_ids()
        .zip(&list.reports)
        .enumerate()
        .map(|(index, (id, report))| {
            let key = EventKey::try_from(&id).map_err(|e| format!("reports[{index}]: {e}"))?;
            Ok(NewEvent {
                key,
                report: serde_json::to_string(report).map_err(|e| e.to_string())?,
                delivery: body.clone(),
            })
        })
        .collect()
}

/// The webhook endpoint: a turn under the concurrency cap, then [`handle`] within the request
/// time-out; the answer and its outcome are logged and counted here, once.
async fn receive(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let started = Instant::now();
    let delivery = delivery_id(request.headers());
    let seconds = state.request_timeout.as_secs();
    // The cap on concurrent requests: a request waits its turn for at most the request time-out,
    // then gets the whole time-out for itself.
    let answer = match tokio::time::timeout(state.request_timeout, state.permits.acquire()).await {
        Err(_) => Err(Rejection::Busy { seconds }),
        Ok(Err(_)) => Err(Rejection::ShuttingDown),
        Ok(Ok(_permit)) => tokio::time::timeout(state.request_timeout, handle(&state, request))
            .await
            .unwrap_or(Err(Rejection::Timeout { seconds })),
    };
    let (outcome, response) = match answer {
        Ok(received) => {
            let Accepted { new, duplicates } = received.counts();
            tracing::info!(delivery = %delivery, new, duplicates, "delivery {}", received.word());
            (received.outcome(), received.into_response())
        }
        Err(rejection) => {
            match &rejection {
                Rejection::Storage(e) => {
                    tracing::error!(delivery = %delivery, "delivery not recorded: {e}");
                }
                other => {
                    tracing::warn!(delivery = %delivery, "delivery refused: {}", other.message())
                }
            }
            (rejection.outcome(), rejection.into_response())
        }
    };
    state.metrics.delivery(outcome, started.elapsed());
    response
}

/// The platform's delivery ID, for the log (at most 64 characters; `-` without one).
fn delivery_id(headers: &HeaderMap) -> String {
    headers
        .get(procurize_core::webhook::WEBHOOK_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .chars()
        .take(64)
        .collect()
}

/// One delivery, in the order `docs/service.md` describes: read the body (bounded), verify the
/// signature before anything else, parse, check the organization, record durably.
async fn handle(state: &AppState, request: Request) -> Result<Received, Rejection> {
    let (parts, body) = request.into_parts();
    let body = read_body(body, state.body_limit, &parts.headers).await?;
    state
        .verifier
        .verify(&parts.headers, &body)
        .map_err(|e| Rejection::BadSignature(e.to_string()))?;
    let list = ReportList::from_json(&body).map_err(|e| Rejection::BadPayload(e.to_string()))?;
    if !state.organizations.contains(&list.organization_id) {
        return Err(Rejection::UnknownOrganization(list.organization_id));
    }
    if list.reports.is_empty() {
        // Nothing to store or act on; counted apart so an empty delivery is not an accepted one.
        return Ok(Received::Empty);
    }
    // A body that parsed as JSON is UTF-8; kept as text for the evidence bundle.
    let body: Arc<str> = String::from_utf8(body)
        .map_err(|_| Rejection::BadPayload("the body is not UTF-8".into()))?
        .into();
    let events = events_of(&list, &body).map_err(Rejection::BadPayload)?;
    let accepted = state
        .committer
        .submit(events)
        .await
        .map_err(Rejection::Storage)?;
    state.metrics.events(accepted.new);
    Ok(Received::Stored(accepted))
}

/// A delivery taken: `202` when it brought new events, `200` otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    /// Recorded: some events new (`202`), or all seen before (`200`, a duplicate).
    Stored(Accepted),
    /// Signed and valid, without a report in it (`200`).
    Empty,
}

impl Received {
    /// `accepted`, `duplicate` or `empty`: the answer's `status`.
    pub fn word(&self) -> &'static str {
        match self {
            Self::Stored(accepted) if accepted.new > 0 => "accepted",
            Self::Stored(_) => "duplicate",
            Self::Empty => "empty",
        }
    }

    /// The events new and seen before.
    pub fn counts(&self) -> Accepted {
        match self {
            Self::Stored(accepted) => *accepted,
            Self::Empty => Accepted::default(),
        }
    }

    /// Its outcome in the metrics.
    pub fn outcome(&self) -> DeliveryOutcome {
        match self {
            Self::Stored(accepted) if accepted.new > 0 => DeliveryOutcome::Accepted,
            Self::Stored(_) => DeliveryOutcome::Duplicate,
            Self::Empty => DeliveryOutcome::Empty,
        }
    }
}

impl IntoResponse for Received {
    fn into_response(self) -> Response {
        let accepted = self.counts();
        let status = if accepted.new > 0 {
            StatusCode::ACCEPTED
        } else {
            StatusCode::OK
        };
        let body = json!({
            "status": self.word(),
            "new": accepted.new,
            "duplicates": accepted.duplicates,
        });
        (status, axum::Json(body)).into_response()
    }
}

/// Why a delivery was refused. Each has its HTTP status, the `error` code of the JSON answer
/// (`{"error": code, "message": …}`) and its outcome in the metrics; only `503`s and `408`s
/// are worth the platform's retry.
#[derive(Debug)]
pub enum Rejection {
    /// No turn under the concurrency cap within the request time-out (`408 timeout`).
    Busy {
        /// The time-out.
        seconds: u64,
    },
    /// The body was not read and recorded within the request time-out (`408 timeout`).
    Timeout {
        /// The time-out.
        seconds: u64,
    },
    /// The server is stopping (`503 shutting_down`).
    ShuttingDown,
    /// The body is over the limit, declared or read (`413 too_large`).
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The body broke off while being read (`400 bad_payload`).
    UnreadableBody(String),
    /// The signature is missing or wrong (`401 bad_signature`).
    BadSignature(String),
    /// Not a payload of the platform's shape (`400 bad_payload`).
    BadPayload(String),
    /// For an organization this server is not configured for (`403 unknown_organization`).
    UnknownOrganization(Uuid),
    /// The store failed (`503 storage_error`); the cause is logged, not answered.
    Storage(ServerError),
}

impl Rejection {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Busy { .. } | Self::Timeout { .. } => StatusCode::REQUEST_TIMEOUT,
            Self::ShuttingDown | Self::Storage(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnreadableBody(_) | Self::BadPayload(_) => StatusCode::BAD_REQUEST,
            Self::BadSignature(_) => StatusCode::UNAUTHORIZED,
            Self::UnknownOrganization(_) => StatusCode::FORBIDDEN,
        }
    }

    /// The answer's `error` code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Busy { .. } | Self::Timeout { .. } => "timeout",
            Self::ShuttingDown => "shutting_down",
            Self::TooLarge { .. } => "too_large",
            Self::UnreadableBody(_) | Self::BadPayload(_) => "bad_payload",
            Self::BadSignature(_) => "bad_signature",
            Self::UnknownOrganization(_) => "unknown_organization",
            Self::Storage(_) => "storage_error",
        }
    }

    /// Its outcome in the metrics.
    pub fn outcome(&self) -> DeliveryOutcome {
        match self {
            Self::Busy { .. } | Self::Timeout { .. } => DeliveryOutcome::Timeout,
            Self::ShuttingDown | Self::Storage(_) => DeliveryOutcome::StorageError,
            Self::TooLarge { .. } => DeliveryOutcome::TooLarge,
            Self::UnreadableBody(_) | Self::BadPayload(_) => DeliveryOutcome::BadPayload,
            Self::BadSignature(_) => DeliveryOutcome::BadSignature,
            Self::UnknownOrganization(_) => DeliveryOutcome::UnknownOrganization,
        }
    }

    /// The answer's `message`, for the sender.
    pub fn message(&self) -> String {
        match self {
            Self::Busy { seconds } => {
                format!("the delivery was not taken up (the server is busy) within {seconds} s")
            }
            Self::Timeout { seconds } => {
                format!("the delivery was not read and recorded within {seconds} s")
            }
            Self::ShuttingDown => "the server is stopping".into(),
            Self::TooLarge { limit } => format!("the body is larger than {limit} bytes"),
            Self::UnreadableBody(reason) => format!("the body could not be read: {reason}"),
            Self::BadSignature(reason) | Self::BadPayload(reason) => reason.clone(),
            Self::UnknownOrganization(organization) => {
                format!("organization {organization} is not configured on this server")
            }
            Self::Storage(_) => "the delivery could not be recorded; send it again later".into(),
        }
    }
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        let body = json!({ "error": self.code(), "message": self.message() });
        (self.status(), axum::Json(body)).into_response()
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
