//! Putting it together: the store, the committer, the HTTP server and the workers, and their
//! orderly stop.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;

use crate::config::Prepared;
use crate::janitor::Janitor;
use crate::metrics::Metrics;
use crate::receiver::{AppState, Committer, router};
use crate::store::{JobState, Role, Store};
use crate::workflow::{ArchiveTarget, Handoff, Workflow};
use crate::{ServerError, now_millis};

/// A configured service, its store open (and, for SQLite, locked), not yet listening.
pub struct Service {
    prepared: Prepared,
    store: Arc<dyn Store>,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("store", &self.store.describe())
            .finish_non_exhaustive()
    }
}

impl Service {
    /// Opens the configured store in the server role.
    pub async fn open(prepared: Prepared) -> Result<Self, ServerError> {
        let mut prepared = prepared;
        let store = crate::store::open(&prepared.config.store, Role::Server).await?;
        // Every replica shares one record of the Jira issues created (not a file per process).
        let record = Arc::new(crate::store::StoreIssueRecord(store.clone()));
        prepared.notifier = prepared.notifier.map(|n| n.with_issue_record(record));
        Ok(Self { prepared, store })
    }

    /// The store.
    pub fn store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }

    /// Binds the configured address and starts serving and working.
    pub async fn start(self) -> Result<Running, ServerError> {
        let addr = self.prepared.config.server.listen;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| ServerError::Bind { addr, source })?;
        self.start_on(listener).await
    }

    /// Starts serving on `listener` (tests and the demo bind port 0) and starts the workers.
    /// Leases left by a previous process are released first.
    pub async fn start_on(self, listener: TcpListener) -> Result<Running, ServerError> {
        let Service { prepared, store } = self;
        let addr = listener.local_addr().map_err(|source| ServerError::Bind {
            addr: prepared.config.server.listen,
            source,
        })?;
        let owner = crate::janitor::new_owner();
        let released = store.release_abandoned_leases(&owner, now_millis()).await?;
        if released > 0 {
            tracing::warn!(
                jobs = released,
                "released jobs interrupted by a previous stop; they will run again"
            );
        }
        let lease = Duration::from_secs(prepared.config.jobs.lease_seconds);
        let janitor = Janitor::new(&prepared, store.clone(), lease);
        janitor.sweep(store.exclusive()).await?;
        let metrics = Arc::new(Metrics::default());
        let config = &prepared.config;
        let archive = match (&config.archive, &prepared.signing_key) {
            (Some(section), Some(key)) => Some(ArchiveTarget {
                folder: section.folder.clone(),
                key: key.clone(),
            }),
            _ => None,
        };
        let workflow = Arc::new(Workflow {
            store: store.clone(),
            jobs: config.jobs.clone(),
            policy: config.gate.policy.clone(),
            anchor: prepared.origin.clone(),
            clients: prepared.clients.clone(),
            notifier: prepared.notifier,
            archive,
            metrics: metrics.clone(),
            owner,
        });
        let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX);
        let handoff = Arc::new(Handoff::for_workers(
            &workflow.owner,
            lease_ms,
            config.jobs.workers,
        ));
        let committer = Committer::start(store.clone(), workflow.steps(), handoff.clone())?;
        let state = Arc::new(AppState {
            verifier: prepared.verifier,
            organizations: config
                .api
                .organizations
                .iter()
                .copied()
                .collect::<HashSet<_>>(),
            committer,
            store: store.clone(),
            metrics: metrics.clone(),
            body_limit: config.server.body_limit_bytes,
            request_timeout: Duration::from_secs(config.server.request_timeout_seconds.max(1)),
            permits: Semaphore::new(config.server.max_concurrent_requests),
            shutting_down: Default::default(),
        });
        let app = router(state.clone(), &config.server.path);
        let (stop_http, mut http_stopped) = watch::channel(false);
        let header_timeout = state.request_timeout;
        let server = tokio::spawn(async move {
            serve(listener, app, header_timeout, async move {
                let _ = http_stopped.wait_for(|stop| *stop).await;
            })
            .await
        });
        let (stop_workers, workers_stopped) = watch::channel(false);
        let mut workers: Vec<JoinHandle<()>> = (0..config.jobs.workers)
            .map(|_| {
                tokio::spawn(
                    workflow
                        .clone()
                        .worker(handoff.clone(), workers_stopped.clone()),
                )
            })
            .collect();
        if !store.exclusive() {
            workers.push(tokio::spawn(janitor.run(workers_stopped.clone())));
        }
        tracing::info!(%addr, path = %config.server.path, store = %store.describe(), steps = ?workflow.steps(), "listening");
        Ok(Running {
            addr,
            path: config.server.path.clone(),
            grace: Duration::from_secs(config.server.shutdown_grace_seconds),
            state,
            store,
            metrics,
            server,
            stop_http,
            workers,
            stop_workers,
            workflow,
            handoff,
        })
    }
}

/// Serves `app` on `listener` until `stop` resolves, then lets the open connections finish.
///
/// Each connection is hyper's HTTP/1 server with a header-read time-out: a client that sends its
/// headers a byte at a time, stops half-way through them, or connects and sends nothing is cut
/// off after `header_timeout` (bodies have the receiver's own time-out, answered with 408).
async fn serve(
    listener: TcpListener,
    app: axum::Router,
    header_timeout: Duration,
    stop: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    tokio::pin!(stop);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little instead of spinning.
                    tracing::warn!("cannot accept a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        let connection = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!("connection closed: {e}");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// A running service.
pub struct Running {
    addr: SocketAddr,
    path: String,
    grace: Duration,
    state: Arc<AppState>,
    store: Arc<dyn Store>,
    metrics: Arc<Metrics>,
    server: JoinHandle<std::io::Result<()>>,
    stop_http: watch::Sender<bool>,
    workers: Vec<JoinHandle<()>>,
    stop_workers: watch::Sender<bool>,
    workflow: Arc<Workflow>,
    handoff: Arc<Handoff>,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Running {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The webhook URL.
    pub fn webhook_url(&self) -> String {
        format!("http://{}{}", self.addr, self.path)
    }

    /// The counters.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The store.
    pub fn store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }

    /// Waits until no job is pending or running (dead ones are finished too), up to `timeout`;
    /// returns whether it got there.
    pub async fn wait_idle(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let busy = self.store.counts().await.ok().map(|counts| {
                counts
                    .iter()
                    .filter(|(_, state, _)| matches!(state, JobState::Pending | JobState::Running))
                    .map(|c| c.2)
                    .sum::<u64>()
            });
            if busy == Some(0) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops in order: refuse readiness, stop accepting and finish in-flight requests, then let
    /// the workers finish their current step — all within the grace period. A step still running
    /// after it is abandoned; its lease makes it run again at the next start.
    pub async fn shutdown(self) -> Result<(), ServerError> {
        let deadline = Instant::now() + self.grace;
        tracing::info!(grace_s = self.grace.as_secs(), "shutting down");
        self.state.shutting_down.store(true, Ordering::Relaxed);
        let _ = self.stop_http.send(true);
        let mut server = self.server;
        let served = match tokio::time::timeout_at(deadline.into(), &mut server).await {
            Ok(Ok(result)) => result.map_err(ServerError::Serve),
            Ok(Err(e)) => Err(ServerError::Serve(std::io::Error::other(e))),
            Err(_) => {
                tracing::warn!("requests still open at the end of the grace period; closing them");
                server.abort();
                Ok(())
            }
        };
        let _ = self.stop_workers.send(true);
        for mut worker in self.workers {
            if tokio::time::timeout_at(deadline.into(), &mut worker)
                .await
                .is_err()
            {
                tracing::warn!(
                    "a step was still running at the end of the grace period; it will run again at the next start"
                );
                worker.abort();
            }
        }
        // Jobs leased as their events were accepted and not yet taken: due again for anyone.
        self.workflow.release_handed(&self.handoff).await;
        tracing::info!(at = now_millis(), "stopped");
        served
    }
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C).
pub async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(e) => {
                    tracing::error!("cannot listen for SIGTERM: {e}");
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}
