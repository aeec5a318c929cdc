//! `procurize-notify`: compliance notifications. Gate outcomes and report events become
//! messages in Slack, e-mail, Jira and files, rendered from handlebars templates and routed by
//! rules.

mod channel;
pub mod config;
pub mod event;
mod notifier;
pub mod record;
mod smtp;
pub mod templates;

pub use config::Config;
pub use event::{Event, EventKind, events_from_json};
pub use notifier::{Delivery, Notifier};
pub use templates::Templates;

/// What can go wrong while notifying.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NotifyError {
    /// The configuration is invalid.
    #[error("{0}")]
    Config(String),
    /// A template does not compile or render.
    #[error("template {file}{}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    Template {
        /// The template's file (or default name).
        file: String,
        /// The line, when known.
        line: Option<usize>,
        /// What is wrong.
        message: String,
    },
    /// The event input is invalid.
    #[error("{0}")]
    Input(String),
}
