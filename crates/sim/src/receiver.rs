//! A webhook receiver that records every delivery, for testing senders (the simulator's own, or
//! yours) on 127.0.0.1.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use tokio::sync::oneshot;

use crate::SimError;

/// One delivery as received.
#[derive(Debug, Clone)]
pub struct Received {
    /// The request's headers.
    pub headers: HeaderMap,
    /// The raw body.
    pub body: Vec<u8>,
}

/// A running receiver: `POST /hook` answers the scripted statuses in turn, the last one for every
/// delivery after. Dropping it stops the server.
pub struct RecordingReceiver {
    url: String,
    received: Arc<Mutex<Vec<Received>>>,
    _shutdown: oneshot::Sender<()>,
}

impl RecordingReceiver {
    /// Starts on a free loopback port. `statuses` must not be empty.
    pub async fn start(statuses: Vec<u16>) -> Result<Self, SimError> {
        let statuses: Vec<StatusCode> = statuses
            .into_iter()
            .map(|s| {
                StatusCode::from_u16(s).map_err(|e| SimError::Config(format!("status {s}: {e}")))
            })
            .collect::<Result<_, _>>()?;
        if statuses.is_empty() {
            return Err(SimError::Config(
                "the receiver needs at least one status to answer".into(),
            ));
        }
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = received.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                let log = log.clone();
                let statuses = statuses.clone();
                async move {
                    let Ok(mut log) = log.lock() else {
                        return StatusCode::INTERNAL_SERVER_ERROR;
                    };
                    let status = statuses[log.len().min(statuses.len() - 1)];
                    log.push(Received {
                        headers,
                        body: body.to_vec(),
                    });
                    status
                }
            }),
        );
        let addr = SocketAddr::from(([127, 0, 0, 1], 0));
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| SimError::Bind { addr, source })?;
        let local = listener
            .local_addr()
            .map_err(|source| SimError::Bind { addr, source })?;
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await
        });
        Ok(Self {
            url: format!("http://{local}/hook"),
            received,
            _shutdown: tx,
        })
    }

    /// The URL to deliver to.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Every delivery so far, in order.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().map(|r| r.clone()).unwrap_or_default()
    }
}
