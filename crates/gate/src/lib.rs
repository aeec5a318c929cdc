//! `procurize-gate`: a security quality gate over Procurize SonarQube reports.
//!
//! A [`Policy`] (TOML, strict) is [evaluated](evaluate()) over a version's reports into an
//! [`Outcome`]: pass, warn or fail overall, per report and per rule, with a one-line reason for
//! each. The [`render`] module turns the outcome into what CI systems read: text, Markdown, JSON,
//! SARIF 2.1.0, JUnit XML, GitLab Code Quality and GitHub workflow commands.
//!
//! No I/O happens here: reports and the date come in, text comes out.
//!
//! ```
//! use procurize_gate::{Policy, Status, evaluate};
//! let policy = Policy::from_toml("min_rating = \"B\"\nmax_vulnerabilities = 5", "policy.toml")?;
//! let outcome = evaluate(&policy, vec![], time::Date::from_calendar_date(2026, time::Month::November, 29).unwrap());
//! assert_eq!(outcome.status, Status::Fail, "no report is not a pass");
//! # Ok::<(), procurize_gate::GateError>(())
//! ```

mod evaluate;
mod outcome;
mod policy;
pub mod render;

pub use evaluate::evaluate;
pub use outcome::{
    ExpiredWaiver, MissingReport, Outcome, Problem, Quantity, ReportOutcome, Rule, RuleOutcome,
    Status, Summary, Superseded, Text, WaiverUse,
};
pub use policy::{Limits, OnMissing, Override, Policy, RequiredReport, Waiver, parse_date};

/// What can go wrong in the gate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GateError {
    /// The policy file is invalid.
    #[error("{file}:{line}:{column}: {message}")]
    Policy {
        /// The file.
        file: String,
        /// The line, 1-based.
        line: usize,
        /// The column, 1-based.
        column: usize,
        /// What is wrong.
        message: String,
    },
}
