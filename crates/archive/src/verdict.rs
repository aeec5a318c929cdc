//! Signed gate verdicts: a second in-toto statement in a bundle, with the SLSA Verification
//! Summary Attestation predicate (<https://slsa.dev/verification_summary/v1>), saying what the
//! gate decided about the bundle's reports, when, and under which policy.
//!
//! The statement's subjects are the report archives the verdict is about; its
//! `inputAttestations` are the metadata the gate read (the list response or the webhook
//! delivery, as kept in the bundle); its `policy` names the policy by a URI and by the SHA-256
//! of its canonical text, which the bundle holds as [`POLICY_PATH`]. The gate's per-rule detail
//! is in the extension field [`GATE_EXTENSION`] (a URI, as the predicate's parsing rules ask):
//! the gate's JSON outcome (`procurize gate --format json`, `schemaVersion` 1) as it was.

use serde::Serialize;
use serde_json::{Value, json};

/// The predicate type of a Verification Summary Attestation, version 1.
pub const VSA_PREDICATE_TYPE: &str = "https://slsa.dev/verification_summary/v1";
/// The verdict's DSSE envelope, one JSON line.
pub const VERDICT_PATH: &str = "verdict.intoto.jsonl";
/// The same envelope as a Sigstore bundle.
pub const VERDICT_SIGSTORE_PATH: &str = "verdict.sigstore.json";
/// The policy the verdict was reached under, as canonical JSON (its SHA-256 is the policy's
/// digest in the verdict).
pub const POLICY_PATH: &str = "metadata/policy.json";
/// The verifier's identity in the verdict.
pub const VERIFIER_ID: &str = "https://github.com/procurize/procurize-pipeline/gate";
/// The extension field that holds the gate's per-rule detail.
pub const GATE_EXTENSION: &str = "https://github.com/procurize/procurize-pipeline/gate/v1";
/// `verifiedLevels` of a verdict that passed (a custom value: the predicate reserves `SLSA_`).
pub const PASSED_LEVEL: &str = "PROCURIZE_SECURITY_GATE_PASSED";

/// What the gate decided, in the predicate's words: a pass with warnings is `PASSED`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum VerificationResult {
    /// Every rule passed, or only warned.
    #[serde(rename = "PASSED")]
    Passed,
    /// A rule failed.
    #[serde(rename = "FAILED")]
    Failed,
}

impl VerificationResult {
    /// `PASSED` or `FAILED`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Passed => "PASSED",
            Self::Failed => "FAILED",
        }
    }
}

/// A gate's verdict on a bundle's reports, to be signed into the bundle (see the module docs).
#[derive(Debug, Clone)]
pub struct Verdict {
    /// What was decided.
    pub result: VerificationResult,
    /// When the gate evaluated, RFC 3339 UTC.
    pub time_verified: String,
    /// Where the policy came from: `file:.procurize/policy.toml`, or the service's
    /// configuration file and table.
    pub policy_uri: String,
    /// The policy's canonical text (`procurize_gate::Policy::canonical_json`), kept as
    /// [`POLICY_PATH`].
    pub policy: Vec<u8>,
    /// The gate's JSON outcome, the per-rule detail.
    pub detail: Value,
}

/// What verification found of a bundle's verdict, once its signature and subjects checked out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VerdictSummary {
    /// `PASSED` or `FAILED`.
    pub result: String,
    /// When the gate evaluated.
    pub time_verified: String,
    /// The policy's URI.
    pub policy_uri: String,
    /// The SHA-256 of the policy's canonical text, hex.
    pub policy_sha256: String,
    /// The reports the verdict is about: how many.
    pub reports: usize,
}

/// The in-toto statement of a verdict. `subjects` are the report archives (bundle path, hex
/// SHA-256), `inputs` the metadata files the gate read, `resource` the URI the reports were
/// fetched from.
pub(crate) fn statement(
    verdict: &Verdict,
    policy_sha256: &str,
    subjects: &[(String, String)],
    inputs: &[(String, String)],
    resource: &str,
    tool_version: &str,
) -> Value {
    let descriptor =
        |(name, sha256): &(String, String)| json!({ "uri": name, "digest": { "sha256": sha256 } });
    let mut predicate = json!({
        "verifier": { "id": VERIFIER_ID, "version": { "procurize": tool_version } },
        "timeVerified": verdict.time_verified,
        "resourceUri": resource,
        "policy": { "uri": verdict.policy_uri, "digest": { "sha256": policy_sha256 } },
        "inputAttestations": inputs.iter().map(descriptor).collect::<Vec<_>>(),
        "verificationResult": verdict.result,
        "verifiedLevels": [match verdict.result {
            VerificationResult::Passed => PASSED_LEVEL,
            VerificationResult::Failed => "FAILED",
        }],
        "slsaVersion": "1.0",
    });
    predicate[GATE_EXTENSION] = verdict.detail.clone();
    json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": subjects.iter().map(|(name, sha256)| json!({ "name": name, "digest": { "sha256": sha256 } })).collect::<Vec<_>>(),
        "predicateType": VSA_PREDICATE_TYPE,
        "predicate": predicate,
    })
}
