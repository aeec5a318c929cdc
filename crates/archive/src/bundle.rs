//! Writing an evidence bundle: a deterministic ZIP of the archives exactly as served, the list
//! response exactly as served, a manifest, `SHA256SUMS`, and a signed in-toto statement (as a
//! DSSE envelope and as a Sigstore bundle).

use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use procurize_core::{Report, Uuid};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;

use crate::dsse::{Envelope, IN_TOTO_PAYLOAD_TYPE};
use crate::inspect::media_type;
use crate::verdict::{
    POLICY_PATH, VERDICT_PATH, VERDICT_SIGSTORE_PATH, VSA_PREDICATE_TYPE, Verdict, statement,
};
use crate::{ArchiveError, InnerFile, SigningKey};

/// The bundle format this crate writes.
pub const BUNDLE_FORMAT: &str = "procurize-evidence/v1";
/// The in-toto predicate type of the statement.
pub const PREDICATE_TYPE: &str = "https://github.com/procurize/procurize-pipeline/evidence/v1";
/// The Sigstore bundle media type.
pub const SIGSTORE_BUNDLE_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
/// The DSSE envelope, one JSON line.
pub const ATTESTATION_PATH: &str = "attestation.intoto.jsonl";
/// The same envelope as a Sigstore bundle.
pub const SIGSTORE_PATH: &str = "attestation.sigstore.json";
/// The manifest.
pub const MANIFEST_PATH: &str = "manifest.json";
/// The webhook delivery that brought a service bundle's reports, exactly as received.
pub const DELIVERY_PATH: &str = "metadata/delivery.json";

/// The checksums, for `sha256sum -c`.
pub const SUMS_PATH: &str = "SHA256SUMS";

/// One report's archive, downloaded and inspected.
#[derive(Debug, Clone)]
pub struct Artifact {
    /// The report.
    pub id: Uuid,
    /// The report's metadata from the list, when it was listed.
    pub report: Option<Report>,
    /// The archive on disk, exactly as served.
    pub path: PathBuf,
    /// The URL it was downloaded from.
    pub url: String,
    /// Its size, as downloaded.
    pub size: u64,
    /// Its SHA-256, hex, computed while it was downloaded.
    pub sha256: String,
    /// The files inside it.
    pub files: Vec<InnerFile>,
}

/// A list response exactly as served.
#[derive(Debug, Clone)]
pub struct ServedList {
    /// The URL requested.
    pub url: String,
    /// The body's bytes.
    pub body: Vec<u8>,
}

/// Everything a bundle records.
#[derive(Debug, Clone)]
pub struct Evidence {
    /// The organization.
    pub organization: Uuid,
    /// What was asked for: `{"version": …}` or `{"reports": […]}`.
    pub selection: Value,
    /// The API's base URL.
    pub api_base_url: String,
    /// The list responses, in order (none when the reports came with a delivery).
    pub lists: Vec<ServedList>,
    /// The webhook delivery that brought the reports, its body exactly as received (the
    /// service's bundles), kept as `metadata/delivery.json`.
    pub delivery: Option<Vec<u8>>,
    /// The archives, one per report.
    pub artifacts: Vec<Artifact>,
    /// When retrieval started, RFC 3339 UTC.
    pub retrieval_started: String,
    /// When it ended, RFC 3339 UTC.
    pub retrieval_finished: String,
    /// The tool's version.
    pub tool_version: String,
    /// The gate's verdict on these reports, when the gate was evaluated: signed into the
    /// bundle as a second statement ([`VERDICT_PATH`]) beside the policy ([`POLICY_PATH`]).
    pub verdict: Option<Verdict>,
}

/// A file in the bundle, as the manifest and the statement describe it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BundleFile {
    /// Its path in the bundle.
    pub path: String,
    /// Its size.
    pub size: u64,
    /// Its SHA-256, hex.
    pub sha256: String,
    /// Its media type.
    pub media_type: String,
}

/// What was written.
#[derive(Debug, Clone)]
pub struct Written {
    /// The bundle's path.
    pub path: PathBuf,
    /// Its files, in order.
    pub files: Vec<BundleFile>,
    /// The signing key's ID.
    pub key_id: String,
}

/// Where the content of a bundle entry comes from.
enum Source {
    Bytes(Vec<u8>),
    File(PathBuf),
}

fn describe(path: &str, size: u64, sha256: String, head: &[u8]) -> BundleFile {
    BundleFile {
        path: path.to_owned(),
        size,
        sha256,
        media_type: media_type(path, head).to_owned(),
    }
}

fn from_bytes(path: &str, bytes: &[u8]) -> BundleFile {
    describe(
        path,
        bytes.len() as u64,
        hex::encode(Sha256::digest(bytes)),
        bytes,
    )
}

/// The `VERIFY.md` text; with a verdict, how to check the verdict too.
fn verify_instructions(key_id: &str, verdict: bool) -> String {
    let mut text = format!(
        r#"# Verifying this evidence bundle

This bundle holds SonarQube security reports exactly as Procurize served them, a manifest that
describes every file (and every file inside each report archive), `SHA256SUMS`, and an in-toto
statement over all of it, signed with the key `{key_id}`
(the hex SHA-256 of the public key's SPKI DER).

`signer.pub` is included for convenience only: trust in the key must come from elsewhere (your
key registry, a release page, a colleague). Compare its key ID before relying on it.

With procurize:

    procurize verify bundle.zip --key signer.pub

With cosign (offline; no transparency log is involved):

    unzip bundle.zip -d bundle && cd bundle
    cosign verify-blob-attestation --key signer.pub --insecure-ignore-tlog \
      --type {PREDICATE_TYPE} \
      --bundle {SIGSTORE_PATH} --new-bundle-format {MANIFEST_PATH}

With coreutils, after unzipping:

    sha256sum -c {SUMS_PATH}
"#
    );
    if verdict {
        text.push_str(&format!(
            r#"
## The gate's verdict

`{VERDICT_PATH}` is a second statement, signed with the same key: a SLSA Verification Summary
Attestation (`{VSA_PREDICATE_TYPE}`) saying whether the reports in `artifacts/` passed the
security gate, when, and under which policy. The policy is `{POLICY_PATH}`; its SHA-256 is the
verdict's `policy.digest.sha256`, and the gate's per-rule detail is in the predicate's
`https://github.com/procurize/procurize-pipeline/gate/v1` field. `procurize verify` checks it
and prints the verdict. With cosign, for one report archive:

    cosign verify-blob-attestation --key signer.pub --insecure-ignore-tlog \
      --type {VSA_PREDICATE_TYPE} \
      --bundle {VERDICT_SIGSTORE_PATH} --new-bundle-format artifacts/<report-id>.zip
"#
        ));
    }
    text
}

/// The options of a bundle entry: fixed time and permissions; stored when already compressed.
fn options(path: &str, head: &[u8]) -> SimpleFileOptions {
    let compressed = matches!(
        media_type(path, head),
        "application/zip" | "application/pdf"
    );
    SimpleFileOptions::default()
        .compression_method(if compressed {
            zip::CompressionMethod::Stored
        } else {
            zip::CompressionMethod::Deflated
        })
        .last_modified_time(zip::DateTime::default())
        .unix_permissions(0o644)
        .large_file(true)
}

/// Writes the bundle to `out`: into a temporary file beside it, renamed into place at the end.
/// Refuses to overwrite an existing file; on any failure nothing is left behind.
pub fn write_bundle(
    evidence: &Evidence,
    key: &SigningKey,
    out: &Path,
) -> Result<Written, ArchiveError> {
    if out.exists() {
        return Err(ArchiveError::Io(format!(
            "{} already exists; not overwriting it",
            out.display()
        )));
    }
    let public = key.public_key();
    let key_id = public.key_id();

    // The entries, by path, before the manifest.
    let mut entries: Vec<(String, Source, BundleFile)> = Vec::new();
    for artifact in &evidence.artifacts {
        let path = format!("artifacts/{}.zip", artifact.id);
        // The digest was taken while downloading; the media type is known: a ZIP archive.
        let file = describe(&path, artifact.size, artifact.sha256.clone(), b"PK\x03\x04");
        entries.push((path, Source::File(artifact.path.clone()), file));
    }
    for (index, list) in evidence.lists.iter().enumerate() {
        let path = if index == 0 {
            "metadata/reports.json".to_owned()
        } else {
            format!("metadata/reports-{}.json", index + 1)
        };
        let file = from_bytes(&path, &list.body);
        entries.push((path, Source::Bytes(list.body.clone()), file));
    }
    if let Some(body) = &evidence.delivery {
        let path = DELIVERY_PATH;
        entries.push((
            path.into(),
            Source::Bytes(body.clone()),
            from_bytes(path, body),
        ));
    }
    if let Some(verdict) = &evidence.verdict {
        entries.extend(verdict_entries(evidence, verdict, &entries, key)?);
    }
    let pem = public.to_public_key_pem().into_bytes();
    entries.push((
        "signer.pub".into(),
        Source::Bytes(pem.clone()),
        from_bytes("signer.pub", &pem),
    ));
    let instructions = verify_instructions(&key_id, evidence.verdict.is_some()).into_bytes();
    entries.push((
        "VERIFY.md".into(),
        Source::Bytes(instructions.clone()),
        from_bytes("VERIFY.md", &instructions),
    ));
    entries.sort_by(|a, b| a.0.cmp(&b.0));

    let manifest = manifest(
        evidence,
        &entries.iter().map(|e| e.2.clone()).collect::<Vec<_>>(),
    );
    let manifest_bytes = pretty(&manifest);
    entries.push((
        MANIFEST_PATH.into(),
        Source::Bytes(manifest_bytes.clone()),
        from_bytes(MANIFEST_PATH, &manifest_bytes),
    ));
    entries.sort_by(|a, b| a.0.cmp(&b.0));

    let sums: String = entries
        .iter()
        .map(|(path, _, file)| format!("{}  {path}\n", file.sha256))
        .collect();
    let sums = sums.into_bytes();
    entries.push((
        SUMS_PATH.into(),
        Source::Bytes(sums.clone()),
        from_bytes(SUMS_PATH, &sums),
    ));
    entries.sort_by(|a, b| a.0.cmp(&b.0));

    let subjects: Vec<Value> = entries
        .iter()
        .map(|(path, _, file)| json!({ "name": path, "digest": { "sha256": file.sha256 } }))
        .collect();
    let statement = json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": subjects,
        "predicateType": PREDICATE_TYPE,
        "predicate": predicate(evidence),
    });
    let (line, sigstore) = sign(&statement, key)?;
    let mut files: Vec<BundleFile> = entries.iter().map(|e| e.2.clone()).collect();
    for (path, bytes) in [(ATTESTATION_PATH, line), (SIGSTORE_PATH, sigstore)] {
        files.push(from_bytes(path, &bytes));
        entries.push((path.to_owned(), Source::Bytes(bytes), from_bytes(path, b"")));
    }
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    files.sort_by(|a, b| a.path.cmp(&b.path));

    // Write to a temporary file beside the target, then move it into place.
    let folder = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let io = |what: &str, e: &dyn std::fmt::Display| {
        ArchiveError::Io(format!("{what} {}: {e}", out.display()))
    };
    let temp = tempfile::Builder::new()
        .prefix(&procurize_core::fs::temp_prefix(".procurize-bundle-"))
        .suffix(".partial")
        .tempfile_in(folder)
        .map_err(|e| io("cannot create a temporary file for", &e))?;
    {
        let mut writer = zip::ZipWriter::new(std::io::BufWriter::with_capacity(
            256 * 1024,
            temp.as_file(),
        ));
        for (path, source, _) in &entries {
            match source {
                Source::Bytes(bytes) => {
                    writer
                        .start_file(path.as_str(), options(path, bytes))
                        .map_err(|e| io("cannot write", &e))?;
                    writer
                        .write_all(bytes)
                        .map_err(|e| io("cannot write", &e))?;
                }
                Source::File(file) => {
                    let mut input = std::fs::File::open(file)
                        .map_err(|e| io("cannot read an archive for", &e))?;
                    let mut head = [0u8; 8];
                    let n = input
                        .read(&mut head)
                        .map_err(|e| io("cannot read an archive for", &e))?;
                    input
                        .rewind()
                        .map_err(|e| io("cannot read an archive for", &e))?;
                    writer
                        .start_file(path.as_str(), options(path, &head[..n]))
                        .map_err(|e| io("cannot write", &e))?;
                    std::io::copy(&mut input, &mut writer).map_err(|e| io("cannot write", &e))?;
                }
            }
        }
        let buffered = writer.finish().map_err(|e| io("cannot finish", &e))?;
        buffered
            .into_inner()
            .map_err(|e| io("cannot write", &e.error()))?;
    }
    temp.as_file()
        .sync_all()
        .map_err(|e| io("cannot write", &e))?;
    temp.persist_noclobber(out)
        .map_err(|e| io("cannot move the bundle into place at", &e.error))?;
    Ok(Written {
        path: out.to_path_buf(),
        files,
        key_id,
    })
}

/// A statement signed: its DSSE envelope as one JSON line, and as a Sigstore bundle v0.3 with a
/// public-key hint.
fn sign(statement: &Value, key: &SigningKey) -> Result<(Vec<u8>, Vec<u8>), ArchiveError> {
    let statement_bytes =
        serde_json::to_vec(statement).map_err(|e| ArchiveError::Io(e.to_string()))?;
    let envelope = Envelope::sign(IN_TOTO_PAYLOAD_TYPE, &statement_bytes, key);
    let mut line = serde_json::to_vec(&envelope).map_err(|e| ArchiveError::Io(e.to_string()))?;
    line.push(b'\n');
    let sigstore = pretty(&json!({
        "mediaType": SIGSTORE_BUNDLE_MEDIA_TYPE,
        "verificationMaterial": {
            "publicKey": { "hint": key.public_key().key_id() },
            "tlogEntries": [],
        },
        "dsseEnvelope": envelope,
    }));
    Ok((line, sigstore))
}

/// The policy and the signed verdict, as bundle entries. The verdict's subjects are the report
/// archives among `entries`; its inputs, the metadata files the gate read.
fn verdict_entries(
    evidence: &Evidence,
    verdict: &Verdict,
    entries: &[(String, Source, BundleFile)],
    key: &SigningKey,
) -> Result<Vec<(String, Source, BundleFile)>, ArchiveError> {
    let described = |prefix: &str| -> Vec<(String, String)> {
        entries
            .iter()
            .filter(|(path, _, _)| path.starts_with(prefix))
            .map(|(path, _, file)| (path.clone(), file.sha256.clone()))
            .collect()
    };
    let policy = from_bytes(POLICY_PATH, &verdict.policy);
    let resource = evidence
        .lists
        .first()
        .map(|l| l.url.clone())
        .or_else(|| evidence.artifacts.first().map(|a| a.url.clone()))
        .unwrap_or_default();
    let statement = statement(
        verdict,
        &policy.sha256,
        &described("artifacts/"),
        &described("metadata/"),
        &resource,
        &evidence.tool_version,
    );
    let (line, sigstore) = sign(&statement, key)?;
    Ok(vec![
        (
            POLICY_PATH.into(),
            Source::Bytes(verdict.policy.clone()),
            policy,
        ),
        (
            VERDICT_PATH.into(),
            Source::Bytes(line.clone()),
            from_bytes(VERDICT_PATH, &line),
        ),
        (
            VERDICT_SIGSTORE_PATH.into(),
            Source::Bytes(sigstore.clone()),
            from_bytes(VERDICT_SIGSTORE_PATH, &sigstore),
        ),
    ])
}

fn pretty(value: &Value) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(value).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

fn manifest(evidence: &Evidence, files: &[BundleFile]) -> Value {
    let reports: Vec<Value> = evidence
        .artifacts
        .iter()
        .map(|a| {
            json!({
                "id": a.id,
                "metadata": a.report,
                "artifact": format!("artifacts/{}.zip", a.id),
                "url": a.url,
                "files": a.files,
            })
        })
        .collect();
    let mut requests: Vec<&str> = evidence.lists.iter().map(|l| l.url.as_str()).collect();
    requests.extend(evidence.artifacts.iter().map(|a| a.url.as_str()));
    json!({
        "bundleFormat": BUNDLE_FORMAT,
        "tool": { "name": "procurize", "version": evidence.tool_version },
        "organization": evidence.organization,
        "selection": evidence.selection,
        "api": { "baseUrl": evidence.api_base_url, "requests": requests },
        "retrieval": { "started": evidence.retrieval_started, "finished": evidence.retrieval_finished },
        "files": files,
        "reports": reports,
        "verdict": evidence.verdict.as_ref().map(|v| json!({
            "result": v.result,
            "timeVerified": v.time_verified,
            "policy": { "uri": v.policy_uri, "path": POLICY_PATH },
            "attestation": VERDICT_PATH,
        })),
    })
}

fn predicate(evidence: &Evidence) -> Value {
    let mut versions: Vec<String> = evidence
        .artifacts
        .iter()
        .filter_map(|a| a.report.as_ref().map(|r| r.project_version.to_string()))
        .collect();
    versions.sort();
    versions.dedup();
    json!({
        "organization": evidence.organization,
        "selection": evidence.selection,
        "versions": versions,
        "reports": evidence.artifacts.iter().map(|a| json!({
            "id": a.id,
            "projectName": a.report.as_ref().map(|r| r.project_name.clone()),
            "reportType": a.report.as_ref().map(|r| r.report_type.clone()),
            "securityRating": a.report.as_ref().map(|r| r.security_rating),
            "vulnerabilitiesCount": a.report.as_ref().map(|r| r.vulnerabilities_count),
        })).collect::<Vec<_>>(),
        "retrieval": { "started": evidence.retrieval_started, "finished": evidence.retrieval_finished },
        "apiBaseUrl": evidence.api_base_url,
        "tool": { "name": "procurize", "version": evidence.tool_version },
    })
}
