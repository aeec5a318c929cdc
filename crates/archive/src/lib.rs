//! `procurize-archive`: signed, verifiable evidence bundles of Procurize SonarQube reports.
//!
//! [`collect`] lists and downloads a selection of reports with the core client, inspecting every
//! archive before trusting it ([`inspect_archive`]); [`write_bundle`] writes a deterministic ZIP
//! with the archives and the list response exactly as served, a manifest, `SHA256SUMS`, and an
//! in-toto statement signed as a [DSSE](dsse) envelope and as a Sigstore bundle;
//! [`verify_bundle`] checks all of it offline. Keys: [`SigningKey`] and [`PublicKey`] (ECDSA
//! P-256 with SHA-256, DER signatures, and Ed25519; PKCS#8 and SPKI PEM; key IDs).

mod bundle;
mod collect;
pub mod dsse;
mod inspect;
mod keys;
mod verdict;
mod verify;

pub use bundle::{
    ATTESTATION_PATH, Artifact, BUNDLE_FORMAT, BundleFile, DELIVERY_PATH, Evidence, MANIFEST_PATH,
    PREDICATE_TYPE, SIGSTORE_BUNDLE_MEDIA_TYPE, SIGSTORE_PATH, SUMS_PATH, ServedList, Written,
    write_bundle,
};
pub use collect::{Selection, collect};
pub use inspect::{InnerFile, Limits, RATIO_FLOOR, inspect_archive};
pub use keys::{Algorithm, PublicKey, SigningKey, write_key_pair};
pub use verdict::{
    GATE_EXTENSION, PASSED_LEVEL, POLICY_PATH, VERDICT_PATH, VERDICT_SIGSTORE_PATH, VERIFIER_ID,
    VSA_PREDICATE_TYPE, Verdict, VerdictSummary, VerificationResult,
};
pub use verify::{Verification, verify_bundle};

/// What can go wrong while archiving or verifying.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ArchiveError {
    /// A key cannot be read, written or used.
    #[error("{0}")]
    Key(String),
    /// A signature does not verify.
    #[error("signature: {0}")]
    Signature(String),
    /// The API or the network failed.
    #[error(transparent)]
    Api(#[from] procurize_core::Error),
    /// The selection matched no report.
    #[error("no report matches; there is nothing to archive")]
    NothingToArchive,
    /// A project chosen with `--project` has no report at the versions asked for.
    #[error("project `{project}` has no report at the versions asked for; {}", if seen.is_empty() { "no project has".to_owned() } else { format!("these projects have: {}", seen.join(", ")) })]
    ProjectNotFound {
        /// The project asked for.
        project: String,
        /// The projects that have reports, in name order.
        seen: Vec<String>,
    },
    /// A report asked for by ID is not in the organization's list of every version, so its
    /// metadata (rating, counts, dates) cannot be put in the bundle.
    #[error(
        "report {report} is not in the organization's list of reports ({listed} listed, every version); check the ID"
    )]
    ReportNotListed {
        /// The report asked for.
        report: procurize_core::Uuid,
        /// How many reports the list holds.
        listed: usize,
    },
    /// A downloaded report archive failed validation.
    #[error("the archive of report {report} is invalid{}: {reason}", entry.as_ref().map(|e| format!(", entry `{e}`")).unwrap_or_default())]
    BadReportArchive {
        /// The report.
        report: procurize_core::Uuid,
        /// The offending entry, when one is to blame.
        entry: Option<String>,
        /// What is wrong.
        reason: String,
    },
    /// A file cannot be read or written.
    #[error("{0}")]
    Io(String),
    /// A report archive failed validation.
    #[error("invalid archive{}: {reason}", entry.as_ref().map(|e| format!(", entry `{e}`")).unwrap_or_default())]
    InvalidArchive {
        /// The offending entry, when one is to blame.
        entry: Option<String>,
        /// What is wrong.
        reason: String,
    },
}

impl ArchiveError {
    /// Whether trying again later could succeed (the API or the network failed in a way that
    /// passes, a file could not be written); not for a report archive that fails validation or
    /// a key that cannot be used.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Api(error) => error.is_retryable(),
            Self::Io(_) => true,
            _ => false,
        }
    }
}
