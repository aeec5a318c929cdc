//! Verifying an evidence bundle offline: the signature, the statement's subjects against the
//! bundle's files, the manifest against the files and the archives inside them, `SHA256SUMS`,
//! and the Sigstore bundle against the DSSE envelope.

use std::collections::BTreeMap;
use std::io::{Read, Seek};
use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use crate::bundle::{
    ATTESTATION_PATH, MANIFEST_PATH, SIGSTORE_BUNDLE_MEDIA_TYPE, SIGSTORE_PATH, SUMS_PATH,
};
use crate::dsse::{Envelope, IN_TOTO_PAYLOAD_TYPE};
use crate::verdict::{
    POLICY_PATH, VERDICT_PATH, VERDICT_SIGSTORE_PATH, VSA_PREDICATE_TYPE, VerdictSummary,
};
use crate::{ArchiveError, InnerFile, Limits, PublicKey, inspect_archive};

/// The result of a verification: valid, or every reason it is not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Verification {
    /// Whether every check passed.
    pub valid: bool,
    /// Every problem found, one line each.
    pub problems: Vec<String>,
    /// The files checked.
    pub files: usize,
    /// The key the signature was checked with.
    pub key_id: String,
    /// The gate's signed verdict, when the bundle holds one and it checked out.
    pub verdict: Option<VerdictSummary>,
}

/// Verifies the bundle at `path` with `key`. `Err` only when the bundle cannot be read at all.
pub fn verify_bundle(
    path: &Path,
    key: &PublicKey,
    limits: &Limits,
) -> Result<Verification, ArchiveError> {
    let file = std::fs::File::open(path)
        .map_err(|e| ArchiveError::Io(format!("cannot read {}: {e}", path.display())))?;
    // The report archives inside are checked on a second thread, beside the outer inspection
    // (which hashes every file, the archives included): each is a pass over the same bytes.
    std::thread::scope(|scope| {
        let inner = scope.spawn(|| report_archives(path, limits));
        let outer = verify_with(&file, path, key, limits);
        // Joined on every path: the thread has ended (its thread-locals freed) before the
        // answer is returned, whatever the answer.
        let inner = inner.join().unwrap_or_else(|_| {
            vec!["the report archives could not be checked (internal error)".to_owned()]
        });
        outer.map(|mut verification| {
            verification.problems.extend(inner);
            verification.problems.dedup();
            verification.valid = verification.problems.is_empty();
            if !verification.valid {
                verification.verdict = None;
            }
            verification
        })
    })
}

/// Everything but the report archives' own files, which a second thread checks meanwhile.
fn verify_with(
    file: &std::fs::File,
    path: &Path,
    key: &PublicKey,
    limits: &Limits,
) -> Result<Verification, ArchiveError> {
    let mut problems = Vec::new();
    let finish =
        |problems: Vec<String>, files: usize, verdict: Option<VerdictSummary>| Verification {
            valid: problems.is_empty(),
            verdict: verdict.filter(|_| problems.is_empty()),
            problems,
            files,
            key_id: key.key_id(),
        };

    // The outer ZIP: safe names, no tricks, every CRC right; and the digest of every file.
    let listing = match inspect_archive(std::io::BufReader::new(file), limits) {
        Ok(listing) => listing,
        Err(e) => {
            problems.push(format!("bundle: {e}"));
            return Ok(finish(problems, 0, None));
        }
    };
    let digests: BTreeMap<&str, &InnerFile> =
        listing.iter().map(|f| (f.path.as_str(), f)).collect();
    let mut zip = zip::ZipArchive::new(std::io::BufReader::new(file))
        .map_err(|e| ArchiveError::Io(format!("cannot read {}: {e}", path.display())))?;
    // The signature, and the statement it covers.
    let envelope: Option<Envelope> = read_entry(&mut zip, ATTESTATION_PATH, &mut problems)
        .and_then(|bytes| {
            serde_json::from_slice(bytes.trim_ascii_end())
                .map_err(|e| {
                    problems.push(format!("{ATTESTATION_PATH} is not a DSSE envelope: {e}"))
                })
                .ok()
        });
    let statement: Option<Value> = envelope
        .as_ref()
        .and_then(|envelope| signed_statement(envelope, key, "statement", &mut problems));

    // The convenience copy of the key: a different one means the wrong key was given, or the
    // bundle was re-signed.
    if let Some(pem) = read_entry(&mut zip, "signer.pub", &mut problems) {
        match PublicKey::from_public_key_pem(&String::from_utf8_lossy(&pem)) {
            Ok(included) if included != *key => problems.push(format!(
                "the given key {} is not the bundle's signer.pub ({})",
                key.key_id(),
                included.key_id()
            )),
            Ok(_) => {}
            Err(_) => problems.push("signer.pub is not a public key".into()),
        }
    }

    // Subjects: exactly the bundle's files but the attestations, each with its digest.
    if let Some(statement) = &statement {
        let subjects: BTreeMap<String, String> = statement["subject"]
            .as_array()
            .map(|list| {
                list.iter()
                    .filter_map(|s| {
                        Some((
                            s["name"].as_str()?.to_owned(),
                            s["digest"]["sha256"].as_str()?.to_owned(),
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default();
        for (name, file) in &digests {
            if *name == ATTESTATION_PATH || *name == SIGSTORE_PATH {
                continue;
            }
            match subjects.get(*name) {
                None => problems.push(format!(
                    "{name} is not covered by the signed statement (a file was added)"
                )),
                Some(digest) if *digest != file.sha256 => problems.push(format!(
                    "{name} does not match its digest in the signed statement"
                )),
                Some(_) => {}
            }
        }
        for name in subjects.keys() {
            if !digests.contains_key(name.as_str()) {
                problems.push(format!(
                    "{name} is named by the signed statement but missing (a file was removed)"
                ));
            }
        }
    }

    // The manifest: every file, and every file inside each report archive.
    let mut declared_verdict = None;
    if let Some(bytes) = read_entry(&mut zip, MANIFEST_PATH, &mut problems) {
        match serde_json::from_slice::<Value>(&bytes) {
            Err(e) => problems.push(format!("{MANIFEST_PATH} is not JSON: {e}")),
            Ok(manifest) => {
                declared_verdict = manifest["verdict"]["result"].as_str().map(str::to_owned);
                for entry in manifest["files"].as_array().into_iter().flatten() {
                    let name = entry["path"].as_str().unwrap_or_default();
                    match digests.get(name) {
                        None => {
                            problems.push(format!("{MANIFEST_PATH} lists {name}, which is missing"))
                        }
                        Some(file) => {
                            if entry["sha256"].as_str() != Some(file.sha256.as_str())
                                || entry["size"].as_u64() != Some(file.size)
                            {
                                problems.push(format!("{name} does not match the manifest"));
                            }
                        }
                    }
                }
            }
        }
    }

    // SHA256SUMS, as `sha256sum -c` would check it.
    if let Some(bytes) = read_entry(&mut zip, SUMS_PATH, &mut problems) {
        let text = String::from_utf8_lossy(&bytes);
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let Some((digest, name)) = line.split_once("  ") else {
                problems.push(format!("{SUMS_PATH}: malformed line `{line}`"));
                continue;
            };
            match digests.get(name) {
                None => problems.push(format!("{SUMS_PATH} lists {name}, which is missing")),
                Some(file) if file.sha256 != digest => {
                    problems.push(format!("{name} does not match {SUMS_PATH}"))
                }
                Some(_) => {}
            }
        }
    }

    // The Sigstore bundle carries the same envelope.
    if let Some(bytes) = read_entry(&mut zip, SIGSTORE_PATH, &mut problems) {
        match serde_json::from_slice::<Value>(&bytes) {
            Err(e) => problems.push(format!("{SIGSTORE_PATH} is not JSON: {e}")),
            Ok(bundle) => {
                if bundle["mediaType"] != SIGSTORE_BUNDLE_MEDIA_TYPE {
                    problems.push(format!("{SIGSTORE_PATH} is not a Sigstore bundle v0.3"));
                }
                let same = envelope.as_ref().is_some_and(|e| {
                    serde_json::from_value::<Envelope>(bundle["dsseEnvelope"].clone())
                        .ok()
                        .as_ref()
                        == Some(e)
                });
                if !same {
                    problems.push(format!(
                        "{SIGSTORE_PATH} does not carry the same envelope as {ATTESTATION_PATH}"
                    ));
                }
            }
        }
    }
    let verdict = (declared_verdict.is_some() || digests.contains_key(VERDICT_PATH))
        .then(|| {
            verify_verdict(
                &mut zip,
                &digests,
                key,
                declared_verdict.as_deref(),
                &mut problems,
            )
        })
        .flatten();
    problems.dedup();
    Ok(finish(problems, listing.len(), verdict))
}

/// Checks an envelope's signature with `key` and reads the statement it signs, or records why
/// it cannot be trusted. `what` names the statement in problems.
fn signed_statement(
    envelope: &Envelope,
    key: &PublicKey,
    what: &str,
    problems: &mut Vec<String>,
) -> Option<Value> {
    match envelope.verify(std::slice::from_ref(key), 1, &[IN_TOTO_PAYLOAD_TYPE]) {
        Ok(verified) => serde_json::from_slice(&verified.payload)
            .map_err(|e| problems.push(format!("the signed {what} is not JSON: {e}")))
            .ok(),
        Err(e) => {
            let named: Vec<&str> = envelope
                .signatures
                .iter()
                .map(|s| s.keyid.as_str())
                .filter(|k| !k.is_empty())
                .collect();
            let hint = if named.is_empty() || named.contains(&key.key_id().as_str()) {
                String::new()
            } else {
                format!("; the envelope was signed by key {}", named.join(", "))
            };
            problems.push(format!(
                "{e} {}{hint} (the {what} is not trusted)",
                key.key_id()
            ));
            None
        }
    }
}

/// The gate's verdict: signed with the same key, a Verification Summary Attestation whose
/// subjects are exactly the bundle's report archives, whose policy digest is the bundle's
/// policy file, and whose result is the one the manifest declares; its Sigstore copy carries
/// the same envelope.
fn verify_verdict<R: Read + Seek>(
    zip: &mut zip::ZipArchive<R>,
    digests: &BTreeMap<&str, &InnerFile>,
    key: &PublicKey,
    declared: Option<&str>,
    problems: &mut Vec<String>,
) -> Option<VerdictSummary> {
    let before = problems.len();
    let envelope: Envelope = read_entry(zip, VERDICT_PATH, problems).and_then(|bytes| {
        serde_json::from_slice(bytes.trim_ascii_end())
            .map_err(|e| problems.push(format!("{VERDICT_PATH} is not a DSSE envelope: {e}")))
            .ok()
    })?;
    if let Some(bytes) = read_entry(zip, VERDICT_SIGSTORE_PATH, problems) {
        let copy = serde_json::from_slice::<Value>(&bytes)
            .ok()
            .and_then(|b| serde_json::from_value::<Envelope>(b["dsseEnvelope"].clone()).ok());
        if copy.as_ref() != Some(&envelope) {
            problems.push(format!(
                "{VERDICT_SIGSTORE_PATH} does not carry the same envelope as {VERDICT_PATH}"
            ));
        }
    }
    let statement = signed_statement(&envelope, key, "verdict", problems)?;
    let predicate = &statement["predicate"];
    if statement["predicateType"] != VSA_PREDICATE_TYPE {
        problems.push(format!(
            "{VERDICT_PATH} is not a Verification Summary Attestation ({VSA_PREDICATE_TYPE})"
        ));
    }
    let subjects: BTreeMap<&str, &str> = statement["subject"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| Some((s["name"].as_str()?, s["digest"]["sha256"].as_str()?)))
        .collect();
    let archives: BTreeMap<&str, &str> = digests
        .iter()
        .filter(|(name, _)| name.starts_with("artifacts/"))
        .map(|(name, file)| (*name, file.sha256.as_str()))
        .collect();
    if subjects != archives {
        problems.push(format!(
            "the verdict's subjects are not the bundle's report archives ({} named, {} in the bundle, or a digest differs)",
            subjects.len(),
            archives.len()
        ));
    }
    let policy_sha256 = predicate["policy"]["digest"]["sha256"]
        .as_str()
        .unwrap_or_default();
    match digests.get(POLICY_PATH) {
        None => problems.push(format!(
            "{POLICY_PATH} is missing; the verdict names a policy"
        )),
        Some(file) if file.sha256 != policy_sha256 => problems.push(format!(
            "{POLICY_PATH} is not the policy the verdict names (sha256 {policy_sha256})"
        )),
        Some(_) => {}
    }
    let result = predicate["verificationResult"].as_str().unwrap_or_default();
    if !matches!(result, "PASSED" | "FAILED") {
        problems.push(format!(
            "the verdict's verificationResult `{result}` is neither PASSED nor FAILED"
        ));
    }
    if declared != Some(result) {
        problems.push(format!(
            "{MANIFEST_PATH} declares the verdict {}, the signed verdict says {result}",
            declared.unwrap_or("(none)")
        ));
    }
    (problems.len() == before).then(|| VerdictSummary {
        result: result.to_owned(),
        time_verified: predicate["timeVerified"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        policy_uri: predicate["policy"]["uri"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        policy_sha256: policy_sha256.to_owned(),
        reports: subjects.len(),
    })
}

/// Reads one small entry, or records why it cannot be.
fn read_entry<R: Read + Seek>(
    zip: &mut zip::ZipArchive<R>,
    name: &str,
    problems: &mut Vec<String>,
) -> Option<Vec<u8>> {
    let Ok(mut entry) = zip.by_name(name) else {
        problems.push(format!("{name} is missing"));
        return None;
    };
    let mut bytes = Vec::new();
    match entry.read_to_end(&mut bytes) {
        Ok(_) => Some(bytes),
        Err(e) => {
            problems.push(format!("{name}: cannot be read: {e}"));
            None
        }
    }
}

/// The report archives the manifest lists, each checked against the files the manifest says it
/// holds: one problem line per archive that differs. A manifest that cannot be read is the main
/// check's to report; here it means nothing to check.
fn report_archives(path: &Path, limits: &Limits) -> Vec<String> {
    let Ok(file) = std::fs::File::open(path) else {
        return Vec::new();
    };
    let Ok(mut zip) = zip::ZipArchive::new(std::io::BufReader::new(file)) else {
        return Vec::new();
    };
    let mut bytes = Vec::new();
    let manifest = zip.by_name(MANIFEST_PATH).ok().and_then(|entry| {
        // Bounded: the outer inspection, running meanwhile, has not vouched for its size yet.
        entry.take(MAX_MANIFEST).read_to_end(&mut bytes).ok()?;
        serde_json::from_slice::<Value>(&bytes).ok()
    });
    let Some(manifest) = manifest else {
        return Vec::new();
    };
    let mut problems = Vec::new();
    for report in manifest["reports"].as_array().into_iter().flatten() {
        let artifact = report["artifact"].as_str().unwrap_or_default().to_owned();
        let expected: Vec<InnerFile> =
            serde_json::from_value(report["files"].clone()).unwrap_or_default();
        match inner_files(&mut zip, &artifact, limits) {
            Err(reason) => problems.push(format!("{artifact}: {reason}")),
            Ok(actual) if actual != expected => {
                problems.push(format!("{artifact}: its files do not match the manifest"));
            }
            Ok(_) => {}
        }
    }
    problems
}

/// The most bytes of `manifest.json` read to find the report archives.
const MAX_MANIFEST: u64 = 64 * 1024 * 1024;

/// Inspects a report archive inside the bundle: in place when it is stored (as bundles store
/// them), else extracted to a temporary file first. Memory stays flat either way.
fn inner_files<R: Read + Seek>(
    zip: &mut zip::ZipArchive<R>,
    name: &str,
    limits: &Limits,
) -> Result<Vec<InnerFile>, String> {
    if let Ok(entry) = zip.by_name_seek(name) {
        return inspect_archive(std::io::BufReader::new(entry), limits).map_err(|e| e.to_string());
    }
    let mut entry = zip.by_name(name).map_err(|_| "is missing".to_owned())?;
    let mut temp = tempfile::tempfile().map_err(|e| format!("cannot extract: {e}"))?;
    std::io::copy(&mut entry, &mut temp).map_err(|e| format!("cannot extract: {e}"))?;
    temp.rewind().map_err(|e| format!("cannot extract: {e}"))?;
    inspect_archive(std::io::BufReader::new(temp), limits).map_err(|e| e.to_string())
}
