//! `procurize-server`: receives Procurize's signed report webhooks and runs the compliance
//! workflow for each new report event, durably.
//!
//! The flow of one delivery:
//!
//! 1. [`receiver`]: the raw body is read with a size limit, its signature verified with
//!    [`procurize_core::webhook::Verifier`], the payload parsed and its organization checked.
//! 2. The events it carries (one per report, identified by organization, report ID and upload
//!    date) are written to the [`store`] with a unique constraint, and one job per workflow step
//!    is enqueued for each new event, in the same transaction. Deliveries arriving together
//!    share one durable commit (group commit). Only then is the delivery answered `2xx`.
//! 3. [`workflow`] workers claim jobs under a lease and run the steps: the gate
//!    ([`procurize_gate`]), notifications ([`procurize_notify`]) and the evidence bundle
//!    ([`procurize_archive`]). A failed step is retried with exponential backoff and jitter;
//!    after the configured attempts it is dead, visible and replayable.
//!
//! [`Service`] puts the pieces together; [`metrics`] counts what happens.

pub mod config;
mod janitor;
pub mod metrics;
pub mod receiver;
mod service;
pub mod store;
pub mod workflow;

pub use config::{Config, Prepared};
pub use service::{Running, Service, shutdown_signal};
pub use store::{PostgresStore, SqliteStore, Store};

/// What can go wrong in the workflow service.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The configuration is invalid or incomplete.
    #[error("{0}")]
    Config(String),
    /// The store cannot be opened, read or written.
    #[error("store: {0}")]
    Store(String),
    /// The listening socket could not be opened.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: std::net::SocketAddr,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The server stopped with an error.
    #[error("the server stopped: {0}")]
    Serve(#[source] std::io::Error),
    /// A job or event named by the caller does not exist.
    #[error("{0}")]
    NotFound(String),
}

/// Milliseconds since the Unix epoch: the store's clock.
pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
