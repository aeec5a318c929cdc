//! `procurize-sim`: a local simulator of the Procurize SonarQube Report API and of its webhook
//! sender, so integrations can be developed and tested offline.
//!
//! Tests start it in-process on a free loopback port:
//!
//! ```no_run
//! # async fn run() -> Result<(), procurize_sim::SimError> {
//! let sim = procurize_sim::Simulator::start_sample().await?;
//! println!("serving the sample data on {}", sim.base_url());
//! # Ok(())
//! # }
//! ```
//!
//! The API is served as documented: `400` with a JSON `{"code","message"}` for a missing or
//! malformed `org`, a missing version filter or a version that does not parse; `204` when nothing
//! matches; repeated `reports` parameters. Archives are real ZIP files with an HTML and a PDF
//! report each. [`Faults`] injects errors, latency and truncated downloads.

mod archive;
mod data;
mod pdf;
mod receiver;
mod server;
pub mod webhook;

use std::net::SocketAddr;
use std::path::PathBuf;

pub use archive::build as build_archive;
pub use data::{SAMPLE_ORGANIZATION, SimData, sample_list};
pub use receiver::{Received, RecordingReceiver};
pub use server::{Faults, RecordedRequest, SimConfig, Simulator};

/// What can go wrong in the simulator.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// The listening socket could not be opened.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The server stopped with an error.
    #[error("the simulator stopped: {0}")]
    Serve(#[source] std::io::Error),
    /// A data or payload file is invalid.
    #[error("invalid data: {0}")]
    Data(String),
    /// A file could not be read.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A webhook setting is invalid.
    #[error("invalid webhook delivery: {0}")]
    Config(String),
    /// A webhook delivery was not accepted after every attempt.
    #[error("the delivery to {url} failed after {attempts} attempts; last: {last}")]
    DeliveryFailed {
        /// The receiver.
        url: String,
        /// How many attempts were made.
        attempts: u32,
        /// The last attempt's outcome.
        last: String,
    },
}
