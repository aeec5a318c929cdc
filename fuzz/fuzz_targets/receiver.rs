//! The receiver as a whole: the axum router in-process on a SQLite store in a temporary folder
//! (on tmpfs when there is one), arbitrary method, path, headers and body. The input is a
//! method byte, a path byte and a flag byte, then header lines (`name: value`) up to an empty
//! line, then the body; flag 1 signs the body with the service's secret (so parsing and storing
//! are reached), flag 2 sets `Content-Length` to the body's length. The answer is always one of
//! the documented statuses, a refused delivery stores nothing, and a `202` stores something.
#![no_main]

use std::collections::HashSet;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use libfuzzer_sys::fuzz_target;
use procurize_core::Uuid;
use procurize_core::webhook::{Secret, Verifier, sign_hmac};
use procurize_server::metrics::Metrics;
use procurize_server::receiver::{AppState, Committer, router};
use procurize_server::store::{Role, Step, Store};
use procurize_server::workflow::Handoff;
use tower::ServiceExt as _;

const SECRET: &[u8] = b"fuzzing secret";
const ORG: &str = "00000000-0000-0000-0000-000000000001";
const PATH: &str = "/webhooks/procurize";
const PATHS: [&str; 6] = [
    PATH,
    "/healthz",
    "/readyz",
    "/metrics",
    "/",
    "/webhooks/procurize/",
];
const METHODS: [Method; 5] = [
    Method::POST,
    Method::GET,
    Method::PUT,
    Method::HEAD,
    Method::OPTIONS,
];

struct Fixture {
    runtime: tokio::runtime::Runtime,
    app: axum::Router,
    store: Arc<dyn Store>,
    _dir: tempfile::TempDir,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a runtime");
        let shm = std::path::Path::new("/dev/shm");
        let dir = if shm.is_dir() {
            tempfile::tempdir_in(shm)
        } else {
            tempfile::tempdir()
        }
        .expect("a temporary folder");
        let (app, store) = runtime.block_on(async {
            let store: Arc<dyn Store> = Arc::new(
                procurize_server::SqliteStore::open_as(&dir.path().join("store.db"), Role::Server)
                    .expect("the store opens"),
            );
            let handoff = Arc::new(Handoff::for_workers("fuzz", 60_000, 1));
            let committer = Committer::start(store.clone(), vec![Step::Gate], handoff)
                .expect("the committer starts");
            let state = Arc::new(AppState {
                verifier: Verifier::hmac(vec![Secret::new(SECRET.to_vec())]).expect("verifier"),
                organizations: HashSet::from([ORG.parse::<Uuid>().expect("uuid")]),
                committer,
                store: store.clone(),
                metrics: Arc::new(Metrics::default()),
                body_limit: 64 * 1024,
                request_timeout: Duration::from_secs(5),
                permits: tokio::sync::Semaphore::new(16),
                shutting_down: AtomicBool::new(false),
            });
            (router(state, PATH), store)
        });
        Fixture {
            runtime,
            app,
            store,
            _dir: dir,
        }
    })
}

/// Every job in the store: one per event and step, so a change means something was stored.
async fn stored(store: &dyn Store) -> u64 {
    let counts = store.counts().await.expect("the store answers");
    counts.iter().map(|(_, _, n)| n).sum()
}

fuzz_target!(|data: &[u8]| {
    let [method, path, flags, rest @ ..] = data else {
        return;
    };
    let (head, body) = match rest.windows(2).position(|w| w == b"\n\n") {
        Some(at) => (&rest[..at], &rest[at + 2..]),
        None => (rest, &[][..]),
    };
    let mut request = Request::builder()
        .method(METHODS[usize::from(*method) % METHODS.len()].clone())
        .uri(PATHS[usize::from(*path) % PATHS.len()]);
    for line in head.split(|b| *b == b'\n') {
        if let Some(colon) = line.iter().position(|b| *b == b':') {
            let value = line[colon + 1..].trim_ascii_start();
            if let (Ok(name), Ok(value)) = (
                axum::http::HeaderName::from_bytes(&line[..colon]),
                axum::http::HeaderValue::from_bytes(value),
            ) {
                request = request.header(name, value);
            }
        }
    }
    if flags & 1 != 0 {
        request = request.header(
            "x-procurize-signature",
            sign_hmac(&Secret::new(SECRET.to_vec()), body),
        );
    }
    if flags & 2 != 0 {
        request = request.header("content-length", body.len());
    }
    let Ok(request) = request.body(Body::from(body.to_vec())) else {
        return;
    };
    let fixture = fixture();
    let (status, before, after) = fixture.runtime.block_on(async {
        let before = stored(fixture.store.as_ref()).await;
        let response = fixture
            .app
            .clone()
            .oneshot(request)
            .await
            .expect("infallible");
        let status = response.status();
        // The body is read to its end: an answer is complete.
        let _ = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .expect("a body");
        (status, before, stored(fixture.store.as_ref()).await)
    });
    let documented = [
        StatusCode::OK,
        StatusCode::ACCEPTED,
        StatusCode::BAD_REQUEST,
        StatusCode::UNAUTHORIZED,
        StatusCode::FORBIDDEN,
        StatusCode::NOT_FOUND,
        StatusCode::METHOD_NOT_ALLOWED,
        StatusCode::REQUEST_TIMEOUT,
        StatusCode::PAYLOAD_TOO_LARGE,
        StatusCode::SERVICE_UNAVAILABLE,
    ];
    assert!(
        documented.contains(&status),
        "an undocumented status: {status}"
    );
    if status == StatusCode::ACCEPTED {
        assert!(after > before, "202 but nothing stored");
    } else {
        assert_eq!(after, before, "{status} but something was stored");
    }
});
