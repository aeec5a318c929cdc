//! `procurize-archive`: signed, verifiable evidence bundles of Procurize SonarQube reports.
//!
//! This crate is being built in steps (see `ARCHITECTURE.md`); it has the signing layer so far:
//! [`SigningKey`] and [`PublicKey`] (ECDSA P-256 with SHA-256 and Ed25519, PKCS#8 and SPKI PEM,
//! key IDs), and [DSSE](dsse) envelopes.

mod bundle;
pub mod dsse;
mod inspect;
mod keys;

pub use bundle::{
    ATTESTATION_PATH, Artifact, BUNDLE_FORMAT, BundleFile, Evidence, MANIFEST_PATH, PREDICATE_TYPE,
    SIGSTORE_BUNDLE_MEDIA_TYPE, SIGSTORE_PATH, SUMS_PATH, ServedList, Written, write_bundle,
};
pub use inspect::{InnerFile, Limits, inspect_archive};
pub use keys::{Algorithm, PublicKey, SigningKey, write_key_pair};

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
