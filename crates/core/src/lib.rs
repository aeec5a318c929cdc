//! `procurize-core`: the typed client, models and webhook signature verification for
//! Procurize's SonarQube Report API.
//!
//! This is the only crate of the workspace that talks HTTP to Procurize. It never prints and
//! never exits: callers decide what to show and how to end.
//!
//! ```no_run
//! # async fn run() -> Result<(), procurize_core::Error> {
//! use procurize_core::{Client, VersionFilter};
//!
//! let client = Client::builder()
//!     .organization("00000000-0000-0000-0000-000000000001")
//!     .build()?;
//! let reports = client.list_reports(&VersionFilter::exact("1.0".parse()?)).await?;
//! for report in &reports.reports {
//!     println!("{} {} {}", report.project_name, report.report_type, report.security_rating);
//! }
//! # Ok(())
//! # }
//! ```

mod client;
pub mod config;
mod error;
mod filter;
pub mod fs;
mod model;
mod retry;
pub mod secret;
pub mod text;
mod timestamp;
pub mod tls;
mod version;
pub mod webhook;

pub use client::{
    Client, ClientBuilder, DEFAULT_BASE_URL, Download, FILES_PATH, LIST_PATH, Listing, Progress,
    RawPage, USER_AGENT, parse_organization,
};
pub use error::{Error, TransportKind, error_chain};
pub use filter::VersionFilter;
pub use model::{EventId, Report, ReportList, ReportVersion, SecurityRating};
pub use retry::{RetryPolicy, parse_retry_after};
pub use secret::{SecretError, SecretSource};
pub use timestamp::Timestamp;
pub use uuid::Uuid;
pub use version::ProductVersion;

/// The pages of `docs/` whose Rust examples are compiled as doctests, so that they stay true.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/simulator.md")]
pub struct SimulatorPage;
