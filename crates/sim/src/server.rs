//! The simulated API: `GET /security/report/list` and `GET /security/report/files`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{RawQuery, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use procurize_core::{FILES_PATH, LIST_PATH, ProductVersion, Report, ReportList, Uuid};
use tokio::io::AsyncReadExt;
use tokio::sync::oneshot;

use crate::{SimData, SimError, archive};

/// Faults to inject, for testing how clients cope.
#[derive(Debug, Clone, PartialEq)]
pub struct Faults {
    /// The share of requests (0.0 to 1.0) answered with `error_status` at random.
    pub error_rate: f64,
    /// The first this-many requests are answered with `error_status`.
    pub fail_first: u64,
    /// The status of injected errors (default 500).
    pub error_status: u16,
    /// Injected errors carry an HTML page, as a misconfigured proxy or server would, instead of
    /// the JSON error body.
    pub html_errors: bool,
    /// A `Retry-After` value (seconds) on injected errors.
    pub retry_after: Option<u64>,
    /// Added before every answer.
    pub latency: Duration,
    /// Downloads announce their full length, send half of it, then break the connection.
    pub truncate_downloads: bool,
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            error_rate: 0.0,
            fail_first: 0,
            error_status: 500,
            html_errors: false,
            retry_after: None,
            latency: Duration::ZERO,
            truncate_downloads: false,
        }
    }
}

/// What the simulator serves and how.
#[derive(Debug, Clone, Default)]
pub struct SimConfig {
    /// The reports.
    pub data: SimData,
    /// Faults to inject.
    pub faults: Faults,
    /// A folder of prepared archives: a request for exactly one report whose
    /// `<report id>.zip` is there is answered with that file, streamed from disk.
    pub archive_dir: Option<PathBuf>,
    /// Splits list answers into pages of this many reports, linked by `nextPage`.
    pub page_size: Option<usize>,
    /// Seeds the random fault injection, for repeatable runs.
    pub seed: Option<u64>,
}

impl SimConfig {
    /// The built-in sample data with `faults`.
    pub fn sample_with(faults: Faults) -> Self {
        Self {
            data: SimData::sample(),
            faults,
            ..Self::default()
        }
    }
}

/// A request the simulator received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    /// The method.
    pub method: String,
    /// The path.
    pub path: String,
    /// The raw query string.
    pub query: String,
    /// The `User-Agent` header.
    pub user_agent: Option<String>,
}

struct Shared {
    config: SimConfig,
    requests: Mutex<Vec<RecordedRequest>>,
    counter: AtomicU64,
    rng: Mutex<fastrand::Rng>,
}

/// A running simulator. Dropping it stops the server.
pub struct Simulator {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Simulator {
    /// Starts serving on `addr` (use `127.0.0.1:0` for a free port) in the background.
    pub async fn start(config: SimConfig, addr: SocketAddr) -> Result<Self, SimError> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| SimError::Bind { addr, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| SimError::Bind { addr, source })?;
        let rng = config
            .seed
            .map_or_else(fastrand::Rng::new, fastrand::Rng::with_seed);
        let shared = Arc::new(Shared {
            config,
            requests: Mutex::new(Vec::new()),
            counter: AtomicU64::new(0),
            rng: Mutex::new(rng),
        });
        let app = router(shared.clone());
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await
        });
        tracing::info!(%addr, "simulator listening");
        Ok(Self {
            addr,
            shared,
            shutdown: Some(tx),
            task: Some(task),
        })
    }

    /// Starts serving `config` on a free loopback port.
    pub async fn start_local(config: SimConfig) -> Result<Self, SimError> {
        Self::start(config, SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Starts the simulator with the built-in sample data on a free loopback port.
    pub async fn start_sample() -> Result<Self, SimError> {
        Self::start_local(SimConfig::sample_with(Faults::default())).await
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL to give a client, e.g. `http://127.0.0.1:41234`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared
            .requests
            .lock()
            .map(|r| r.clone())
            .unwrap_or_default()
    }

    /// Stops accepting connections and waits for open requests to finish.
    pub async fn shutdown(mut self) -> Result<(), SimError> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            match task.await {
                Ok(result) => result.map_err(SimError::Serve)?,
                Err(e) => return Err(SimError::Serve(std::io::Error::other(e))),
            }
        }
        Ok(())
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route(LIST_PATH, get(list))
        .route(FILES_PATH, get(files))
        .fallback(|| async {
            error(
                StatusCode::NOT_FOUND,
                "not_found",
                "no such endpoint; the API serves /security/report/list and /security/report/files",
            )
        })
        .layer(middleware::from_fn_with_state(shared.clone(), faults))
        .with_state(shared)
}

/// Records the request, then applies latency and injected errors.
async fn faults(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    let number = shared.counter.fetch_add(1, Ordering::SeqCst) + 1;
    if let Ok(mut log) = shared.requests.lock() {
        log.push(RecordedRequest {
            method: request.method().to_string(),
            path: request.uri().path().to_owned(),
            query: request.uri().query().unwrap_or_default().to_owned(),
            user_agent: request
                .headers()
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        });
    }
    let faults = &shared.config.faults;
    if !faults.latency.is_zero() {
        tokio::time::sleep(faults.latency).await;
    }
    let random_failure = faults.error_rate > 0.0
        && shared
            .rng
            .lock()
            .map(|mut rng| rng.f64() < faults.error_rate)
            .unwrap_or(false);
    if number <= faults.fail_first || random_failure {
        let status =
            StatusCode::from_u16(faults.error_status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = if faults.html_errors {
            html_error(status)
        } else {
            error(status, "injected_fault", "fault injected by the simulator")
        };
        if let Some(seconds) = faults.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        return response;
    }
    next.run(request).await
}

/// A JSON error body as the platform documents: a machine-readable code and a message.
fn error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = serde_json::json!({ "code": code, "message": message }).to_string();
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// A `400 Bad Request` with its code and message.
struct BadRequest {
    code: &'static str,
    message: String,
}

impl BadRequest {
    fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl IntoResponse for BadRequest {
    fn into_response(self) -> Response {
        error(StatusCode::BAD_REQUEST, self.code, &self.message)
    }
}

fn html_error(status: StatusCode) -> Response {
    let reason = status.canonical_reason().unwrap_or("Error");
    let body = format!(
        "<!DOCTYPE html>\n<html><head><title>{code} {reason}</title>\n<style>body {{ font-family: sans-serif; }}</style></head>\n<body><h1>{reason}</h1>\n<p>The server encountered an internal error and was unable to complete your request. {filler}</p>\n<hr><address>nginx</address></body></html>\n",
        code = status.as_u16(),
        filler = "Please try again later. ".repeat(20),
    );
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response()
}

type Params = Vec<(String, String)>;

fn params(query: Option<String>) -> Params {
    url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

fn single<'p>(params: &'p Params, name: &str) -> Result<Option<&'p str>, BadRequest> {
    let mut values = params
        .iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.as_str());
    let first = values.next();
    if values.next().is_some() {
        return Err(BadRequest::new(
            "invalid_parameter",
            format!("the `{name}` parameter is given more than once"),
        ));
    }
    Ok(first)
}

fn organization(params: &Params) -> Result<Uuid, BadRequest> {
    let org = single(params, "org")?
        .ok_or_else(|| BadRequest::new("missing_parameter", "the `org` parameter is required"))?;
    Uuid::try_parse(org).map_err(|_| {
        BadRequest::new(
            "invalid_parameter",
            format!("`org` must be an organization ID (a UUID), not `{org}`"),
        )
    })
}

fn version(params: &Params, name: &str) -> Result<Option<ProductVersion>, BadRequest> {
    single(params, name)?
        .map(|text| {
            ProductVersion::parse(text)
                .map_err(|e| BadRequest::new("invalid_version", format!("`{name}`: {e}")))
        })
        .transpose()
}

async fn list(State(shared): State<Arc<Shared>>, RawQuery(query): RawQuery) -> Response {
    let params = params(query);
    let result = (|| {
        let org = organization(&params)?;
        let exact = version(&params, "version")?;
        let min = version(&params, "minver")?;
        let max = version(&params, "maxver")?;
        if exact.is_none() && min.is_none() && max.is_none() {
            return Err(BadRequest::new(
                "missing_version_filter",
                "at least one of `version`, `minver` and `maxver` is required",
            ));
        }
        let page = match single(&params, "page")? {
            None => 1,
            Some(p) => p.parse::<usize>().ok().filter(|p| *p >= 1).ok_or_else(|| {
                BadRequest::new("invalid_parameter", "`page` must be a positive number")
            })?,
        };
        let matching: Vec<&Report> = shared
            .config
            .data
            .reports(&org)
            .iter()
            .filter(|r| {
                let v = &r.project_version;
                exact.as_ref().is_none_or(|e| v == e)
                    && min.as_ref().is_none_or(|m| v >= m)
                    && max.as_ref().is_none_or(|m| v <= m)
            })
            .collect();
        Ok((org, matching, page))
    })();
    let (org, matching, page) = match result {
        Ok(found) => found,
        Err(bad) => return bad.into_response(),
    };
    if matching.is_empty() {
        return StatusCode::NO_CONTENT.into_response();
    }
    let size = shared.config.page_size.unwrap_or(usize::MAX).max(1);
    let start = (page - 1).saturating_mul(size);
    let chunk: Vec<Report> = matching
        .iter()
        .skip(start)
        .take(size)
        .map(|r| (*r).clone())
        .collect();
    let list = ReportList {
        organization_id: org,
        reports: chunk,
    };
    let mut body = match serde_json::to_value(&list) {
        Ok(body) => body,
        Err(e) => {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                &e.to_string(),
            );
        }
    };
    if start.saturating_add(size) < matching.len() {
        let next: Params = params
            .iter()
            .filter(|(k, _)| k != "page")
            .cloned()
            .chain([("page".to_owned(), (page + 1).to_string())])
            .collect();
        let query = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(next)
            .finish();
        body["nextPage"] = format!("{LIST_PATH}?{query}").into();
    }
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        body.to_string(),
    )
        .into_response()
}

async fn files(State(shared): State<Arc<Shared>>, RawQuery(query): RawQuery) -> Response {
    let params = params(query);
    let org = match organization(&params) {
        Ok(org) => org,
        Err(bad) => return bad.into_response(),
    };
    let mut ids = Vec::new();
    for (_, value) in params.iter().filter(|(k, _)| k == "reports") {
        // Accept a comma-separated list too, as some clients send arrays that way.
        for text in value.split(',').filter(|t| !t.is_empty()) {
            match Uuid::try_parse(text) {
                Ok(id) if !ids.contains(&id) => ids.push(id),
                Ok(_) => {}
                Err(_) => {
                    return BadRequest::new(
                        "invalid_parameter",
                        format!("`reports` must be report IDs (UUIDs), not `{text}`"),
                    )
                    .into_response();
                }
            }
        }
    }
    if ids.is_empty() {
        return BadRequest::new(
            "missing_parameter",
            "the `reports` parameter is required (repeat it for several reports)",
        )
        .into_response();
    }
    let data = &shared.config.data;
    let found: Vec<&Report> = ids.iter().filter_map(|id| data.report(&org, id)).collect();
    if found.is_empty() {
        return StatusCode::NO_CONTENT.into_response();
    }
    let truncate = shared.config.faults.truncate_downloads;
    if let ([report], Some(dir)) = (found.as_slice(), &shared.config.archive_dir) {
        let path = dir.join(format!("{}.zip", report.id));
        if let Ok(file) = tokio::fs::File::open(&path).await
            && let Ok(meta) = file.metadata().await
        {
            return zip_response(meta.len(), file_body(file, meta.len(), truncate));
        }
    }
    let bytes = Bytes::from(archive::build(&found));
    let len = bytes.len() as u64;
    let body = if truncate {
        let half = bytes.slice(..bytes.len() / 2);
        Body::from_stream(futures_util::stream::iter([
            Ok(half),
            Err(std::io::Error::other(
                "download truncated by fault injection",
            )),
        ]))
    } else {
        Body::from(bytes)
    };
    zip_response(len, body)
}

fn zip_response(len: u64, body: Body) -> Response {
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/zip"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"reports.zip\""),
    );
    response
}

/// Streams a file in 256 KiB chunks; when truncating, stops with an error halfway.
fn file_body(file: tokio::fs::File, len: u64, truncate: bool) -> Body {
    const CHUNK: u64 = 256 * 1024;
    let limit = if truncate { len / 2 } else { len };
    let stream = futures_util::stream::unfold(Some((file, 0u64)), move |state| async move {
        let (mut file, sent) = state?;
        if sent >= limit {
            return truncate.then(|| {
                (
                    Err(std::io::Error::other(
                        "download truncated by fault injection",
                    )),
                    None,
                )
            });
        }
        let want = usize::try_from(CHUNK.min(limit - sent)).unwrap_or(256 * 1024);
        let mut buf = vec![0u8; want];
        match file.read(&mut buf).await {
            Ok(0) => Some((
                Err(std::io::Error::other(
                    "archive file shrank while being served",
                )),
                None,
            )),
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(Bytes::from(buf)), Some((file, sent + n as u64))))
            }
            Err(e) => Some((Err(e), None)),
        }
    });
    Body::from_stream(stream)
}
