//! Evidence verification: `verify_bundle` on mutated bundles, with a fixed key. The input is a
//! flag byte and a ZIP. Unless the flags say to use the ZIP as it is, its entries are written
//! again as a new bundle (stored, CRCs right), so that mutations of the DSSE envelope, the
//! manifest, `SHA256SUMS`, the Sigstore bundle and the report archives reach the checks behind
//! the ZIP's own; the flags can also make the target sign the (mutated) statement again with
//! the fixed key, its subjects set to the entries' digests, so the checks behind the signature
//! run too. Whatever the bundle, the verdict is consistent: valid exactly when no problem is
//! listed.
#![no_main]

use std::io::{Cursor, Read, Write};
use std::sync::OnceLock;

use base64::Engine as _;
use libfuzzer_sys::fuzz_target;
use procurize_archive::dsse::{Envelope, IN_TOTO_PAYLOAD_TYPE};
use procurize_archive::{ATTESTATION_PATH, Limits, SIGSTORE_PATH, verify_bundle};
use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;

const AS_IS: u8 = 1;
const RESIGN: u8 = 2;
const SUBJECTS: u8 = 4;

fn folder() -> &'static tempfile::TempDir {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("a temporary folder"))
}

/// The entries of a ZIP, read leniently: what can be read of each, in order.
fn entries(zip: &[u8]) -> Vec<(String, Vec<u8>)> {
    let Ok(mut archive) = zip::ZipArchive::new(Cursor::new(zip)) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for i in 0..archive.len().min(64) {
        let Ok(mut entry) = archive.by_index(i) else {
            continue;
        };
        let Ok(name) = entry.name().map(|n| n.into_owned()) else {
            continue;
        };
        let mut bytes = Vec::new();
        let _ = entry.by_ref().take(4 << 20).read_to_end(&mut bytes);
        out.push((name, bytes));
    }
    out
}

/// Signs the statement of the attestation entry again; with `subjects`, first sets its
/// subjects to the other entries' digests.
fn resign(entries: &mut [(String, Vec<u8>)], subjects: bool) {
    let digests: Vec<serde_json::Value> = entries
        .iter()
        .filter(|(name, _)| name != ATTESTATION_PATH && name != SIGSTORE_PATH)
        .map(|(name, bytes)| {
            serde_json::json!({"name": name, "digest": {"sha256": hex::encode(Sha256::digest(bytes))}})
        })
        .collect();
    let Some((_, attestation)) = entries
        .iter_mut()
        .find(|(name, _)| name == ATTESTATION_PATH)
    else {
        return;
    };
    let Ok(envelope) = serde_json::from_slice::<Envelope>(attestation.trim_ascii_end()) else {
        return;
    };
    let Ok(mut payload) = base64::engine::general_purpose::STANDARD.decode(&envelope.payload)
    else {
        return;
    };
    if subjects
        && let Ok(mut statement) = serde_json::from_slice::<serde_json::Value>(&payload)
        && let Some(object) = statement.as_object_mut()
    {
        object.insert("subject".into(), serde_json::Value::Array(digests));
        payload = serde_json::to_vec(&statement).expect("JSON");
    }
    let signed = Envelope::sign(IN_TOTO_PAYLOAD_TYPE, &payload, &procurize_fuzz::key());
    *attestation = serde_json::to_vec(&signed).expect("JSON");
    attestation.push(b'\n');
}

fn rebuild(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, bytes) in entries {
        if writer.start_file(name.as_str(), options).is_err() {
            continue;
        }
        let _ = writer.write_all(bytes);
    }
    writer.finish().map(Cursor::into_inner).unwrap_or_default()
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, zip)) = data.split_first() else {
        return;
    };
    let bundle = if flags & AS_IS != 0 {
        zip.to_vec()
    } else {
        let mut entries = entries(zip);
        if flags & RESIGN != 0 {
            resign(&mut entries, flags & SUBJECTS != 0);
        }
        rebuild(&entries)
    };
    let path = folder().path().join("bundle.zip");
    std::fs::write(&path, &bundle).expect("the temporary bundle is written");
    let key = procurize_fuzz::key().public_key();
    let limits = Limits {
        max_total_size: 64 << 20,
        ..procurize_fuzz::limits()
    };
    if let Ok(verification) = verify_bundle(&path, &key, &limits) {
        assert_eq!(
            verification.valid,
            verification.problems.is_empty(),
            "the verdict disagrees with the problems: {:?}",
            verification.problems
        );
    }
});
