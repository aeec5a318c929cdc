//! `procurize archive` and `procurize verify` end to end against the simulator: a valid bundle,
//! determinism, every kind of tampering with its own reason, and malicious archives refused.

mod common;

use std::collections::BTreeMap;
use std::io::{Cursor, Read, Write};
use std::path::{Path, PathBuf};

use common::{output, procurize, run, stderr, stdout};
use procurize_sim::{SAMPLE_ORGANIZATION, SimConfig, SimData, Simulator};

fn keygen(dir: &Path, name: &str, algorithm: &str) -> (PathBuf, PathBuf) {
    let out = run(procurize()
        .args(["-q", "keygen", "--algorithm", algorithm, "--out"])
        .arg(dir.join(name)));
    assert!(out.status.success(), "{}", stderr(&out));
    (
        dir.join(format!("{name}.key")),
        dir.join(format!("{name}.pub")),
    )
}

fn archive(sim: &Simulator, key: &Path, out: &Path, selection: &[&str]) -> std::process::Command {
    let mut command = procurize();
    command
        .env("SOURCE_DATE_EPOCH", "1764374400")
        .args([
            "--base-url",
            &sim.base_url(),
            "--org",
            SAMPLE_ORGANIZATION,
            "--attempts",
            "1",
            "archive",
        ])
        .args(selection)
        .arg("--key")
        .arg(key)
        .arg("--out")
        .arg(out);
    command
}

fn verify(bundle: &Path, key: &Path) -> std::process::Output {
    run(procurize().arg("verify").arg(bundle).arg("--key").arg(key))
}

fn entries(bundle: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut zip = zip::ZipArchive::new(std::fs::File::open(bundle).expect("open")).expect("zip");
    (0..zip.len())
        .map(|i| {
            let mut entry = zip.by_index(i).expect("entry");
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).expect("read");
            (entry.name().expect("name").into_owned(), bytes)
        })
        .collect()
}

/// A change an attacker makes to a bundle's files.
type Tamper<'a> = Box<dyn FnOnce(&mut BTreeMap<String, Vec<u8>>) + 'a>;

/// Rewrites a bundle as an attacker would: a well-formed ZIP with changed contents.
fn rewrite(bundle: &Path, out: &Path, change: impl FnOnce(&mut BTreeMap<String, Vec<u8>>)) {
    let mut files = entries(bundle);
    change(&mut files);
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, bytes) in files {
        writer
            .start_file(name, zip::write::SimpleFileOptions::default())
            .expect("start");
        writer.write_all(&bytes).expect("write");
    }
    std::fs::write(out, writer.finish().expect("finish").into_inner()).expect("write");
}

/// Applies each change to a copy of `bundle` and checks that `verify` refuses the copy (exit 1)
/// with the expected reason; returns what it printed, by case.
fn tampered(
    bundle: &Path,
    public: &Path,
    dir: &Path,
    cases: Vec<(&str, Tamper<'_>, &str)>,
) -> Vec<(String, String)> {
    cases
        .into_iter()
        .map(|(name, change, expected)| {
            let copy = dir.join(format!("{name}.zip"));
            rewrite(bundle, &copy, change);
            let out = verify(&copy, public);
            let shown = stdout(&out);
            assert_eq!(out.status.code(), Some(1), "{name}: {shown}");
            assert!(shown.contains(expected), "{name}: {shown}");
            (name.to_owned(), shown)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archive_then_verify_and_standard_tools_agree() {
    let sim = Simulator::start_sample().await.expect("sim");
    let dir = tempfile::tempdir().expect("dir");
    for algorithm in ["p256", "ed25519"] {
        let (key, public) = keygen(dir.path(), algorithm, algorithm);
        let bundle = dir.path().join(format!("{algorithm}.zip"));
        let out = output(archive(&sim, &key, &bundle, &["--version", "v1.2.0"])).await;
        assert!(out.status.success(), "{}", stderr(&out));
        let verified = verify(&bundle, &public);
        assert_eq!(verified.status.code(), Some(0), "{}", stdout(&verified));
        assert!(
            stdout(&verified).contains(": valid (13 files"),
            "{}",
            stdout(&verified)
        );

        let files = entries(&bundle);
        let names: Vec<&str> = files.keys().map(String::as_str).collect();
        assert!(names.contains(&"metadata/reports.json") && names.contains(&"VERIFY.md"));
        assert_eq!(
            names.iter().filter(|n| n.starts_with("artifacts/")).count(),
            6
        );
        // The list response exactly as served.
        let served = common::served_list(&sim, "v1.2.0").await;
        assert_eq!(files["metadata/reports.json"], served);
        // sha256sum -c accepts SHA256SUMS.
        let unpacked = dir.path().join(format!("{algorithm}-unpacked"));
        for (name, bytes) in &files {
            let path = unpacked.join(name);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(path, bytes).expect("write");
        }
        let check = std::process::Command::new("sha256sum")
            .args(["-c", "--strict", "SHA256SUMS"])
            .current_dir(&unpacked)
            .output()
            .expect("sha256sum");
        assert!(
            check.status.success(),
            "{}",
            String::from_utf8_lossy(&check.stdout)
        );
        // The Sigstore bundle names the key and carries the same envelope.
        let sigstore: serde_json::Value =
            serde_json::from_slice(&files["attestation.sigstore.json"]).expect("json");
        assert_eq!(
            sigstore["mediaType"],
            "application/vnd.dev.sigstore.bundle.v0.3+json"
        );
        let envelope: serde_json::Value =
            serde_json::from_slice(&files["attestation.intoto.jsonl"]).expect("json");
        assert_eq!(sigstore["dsseEnvelope"], envelope);
        let key_id = procurize_archive::PublicKey::from_public_key_pem(
            &std::fs::read_to_string(&public).expect("pub"),
        )
        .expect("key")
        .key_id();
        assert_eq!(
            sigstore["verificationMaterial"]["publicKey"]["hint"],
            key_id.as_str()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_inputs_and_clock_give_identical_bytes() {
    let sim = Simulator::start_sample().await.expect("sim");
    let dir = tempfile::tempdir().expect("dir");
    let (key, _) = keygen(dir.path(), "signer", "p256");
    let first = dir.path().join("first.zip");
    let second = dir.path().join("second.zip");
    assert!(
        output(archive(&sim, &key, &first, &["--min-version", "1.0"]))
            .await
            .status
            .success()
    );
    assert!(
        output(archive(&sim, &key, &second, &["--min-version", "1.0"]))
            .await
            .status
            .success()
    );
    assert_eq!(
        std::fs::read(&first).expect("first"),
        std::fs::read(&second).expect("second")
    );
    // An existing bundle is never overwritten.
    let again = output(archive(&sim, &key, &first, &["--min-version", "1.0"])).await;
    assert_eq!(again.status.code(), Some(2));
    assert!(
        stderr(&again).contains("already exists"),
        "{}",
        stderr(&again)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_tampering_is_detected_with_its_own_reason() {
    let sim = Simulator::start_sample().await.expect("sim");
    let dir = tempfile::tempdir().expect("dir");
    let (key, public) = keygen(dir.path(), "signer", "p256");
    let (other_key, other_public) = keygen(dir.path(), "other", "p256");
    let bundle = dir.path().join("bundle.zip");
    assert!(
        output(archive(&sim, &key, &bundle, &["--version", "1.0"]))
            .await
            .status
            .success()
    );
    let artifact = "artifacts/00000000-0000-0000-0000-000000000100.zip".to_owned();

    let other = procurize_archive::SigningKey::from_pkcs8_pem(
        &std::fs::read_to_string(&other_key).expect("key"),
    )
    .expect("key");
    let cases: Vec<(&str, Tamper<'_>, &str)> = vec![
        (
            "flipped",
            Box::new(|files| {
                let bytes = files.get_mut(&artifact).expect("artifact");
                let last = bytes.len() - 30;
                bytes[last] ^= 1;
            }),
            "artifacts/00000000-0000-0000-0000-000000000100.zip does not match its digest in the signed statement",
        ),
        (
            "removed",
            Box::new(|files| {
                files.remove("artifacts/00000000-0000-0000-0000-000000000101.zip");
            }),
            "artifacts/00000000-0000-0000-0000-000000000101.zip is named by the signed statement but missing (a file was removed)",
        ),
        (
            "added",
            Box::new(|files| {
                files.insert("artifacts/extra.zip".into(), b"PK".to_vec());
            }),
            "artifacts/extra.zip is not covered by the signed statement (a file was added)",
        ),
        (
            "manifest",
            Box::new(|files| {
                let text = String::from_utf8(files["manifest.json"].clone()).expect("utf-8");
                files.insert(
                    "manifest.json".into(),
                    text.replace("\"procurize\"", "\"procurise\"").into_bytes(),
                );
            }),
            "manifest.json does not match its digest in the signed statement",
        ),
        (
            "resigned",
            Box::new(move |files| {
                let envelope: procurize_archive::dsse::Envelope =
                    serde_json::from_slice(&files["attestation.intoto.jsonl"]).expect("envelope");
                let statement = base64_decode(&envelope.payload);
                let forged = procurize_archive::dsse::Envelope::sign(
                    &envelope.payload_type,
                    &statement,
                    &other,
                );
                files.insert(
                    "attestation.intoto.jsonl".into(),
                    serde_json::to_vec(&forged).expect("json"),
                );
            }),
            "the envelope was signed by key",
        ),
    ];
    for (name, shown) in tampered(&bundle, &public, dir.path(), cases) {
        if name == "flipped" {
            // The report archive's own check (on its second thread) says so too.
            assert!(shown.contains(&format!("  - {artifact}: ")), "{shown}");
        }
    }
    // The wrong public key.
    let out = verify(&bundle, &other_public);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("is not the bundle's signer.pub"),
        "{}",
        stdout(&out)
    );
    // Machines get JSON with every reason.
    let out = run(procurize()
        .arg("verify")
        .arg(&bundle)
        .arg("--key")
        .arg(&other_public)
        .args(["--format", "json"]));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(report["valid"], false);
    assert!(report["problems"].as_array().expect("problems").len() >= 2);
    // A key that is not a key, or a bundle that does not exist: usage errors.
    assert_eq!(verify(&bundle, &bundle).status.code(), Some(2));
    assert_eq!(
        verify(&dir.path().join("missing.zip"), &public)
            .status
            .code(),
        Some(2)
    );
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .expect("base64")
}

fn crafted(name: &str) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    writer
        .start_file("report.html", zip::write::SimpleFileOptions::default())
        .expect("start");
    writer.write_all(b"<html></html>").expect("write");
    writer
        .start_file(name, zip::write::SimpleFileOptions::default())
        .expect("start");
    writer.write_all(b"evil").expect("write");
    writer.finish().expect("finish").into_inner()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malicious_archives_from_the_server_are_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().expect("dir");
    let (key, _) = keygen(dir.path(), "signer", "ed25519");
    let archives = dir.path().join("archives");
    std::fs::create_dir(&archives).expect("mkdir");
    let id = "00000000-0000-0000-0000-000000000100";
    let config = SimConfig {
        data: SimData::sample(),
        archive_dir: Some(archives.clone()),
        ..SimConfig::default()
    };
    let sim = Simulator::start_local(config).await.expect("sim");
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).expect("mkdir");
    let mut truncated = crafted("a.txt");
    truncated.truncate(truncated.len() / 2);
    for (label, bytes, expected) in [
        (
            "zip-slip",
            crafted("../x"),
            "entry `../x`: has `..` in its path",
        ),
        (
            "absolute",
            crafted("/etc/x"),
            "entry `/etc/x`: has an absolute path",
        ),
        (
            "nested slip",
            crafted("a/../../x"),
            "entry `a/../../x`: has `..` in its path",
        ),
        ("truncated", truncated, "not a readable ZIP file"),
    ] {
        std::fs::write(archives.join(format!("{id}.zip")), &bytes).expect("write");
        let bundle = out_dir.join("bundle.zip");
        let out = output(archive(&sim, &key, &bundle, &["--report", id])).await;
        assert_eq!(out.status.code(), Some(1), "{label}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(&format!("the archive of report {id} is invalid"))
                && stderr(&out).contains(expected),
            "{label}: {}",
            stderr(&out)
        );
        assert_eq!(
            std::fs::read_dir(&out_dir).expect("dir").count(),
            0,
            "{label}: nothing left behind"
        );
    }
    // A symbolic link, an encrypted entry, and an entry whose declared size lies.
    let symlink = {
        let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
        writer
            .add_symlink(
                "report.html",
                "/etc/passwd",
                zip::write::SimpleFileOptions::default(),
            )
            .expect("symlink");
        writer.finish().expect("finish").into_inner()
    };
    let stored =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    let plain = {
        let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
        writer.start_file("report.pdf", stored).expect("start");
        writer.write_all(&[b'x'; 1000]).expect("write");
        writer.finish().expect("finish").into_inner()
    };
    let central = plain
        .windows(4)
        .position(|w| w == b"PK\x01\x02")
        .expect("central directory");
    let mut encrypted = plain.clone();
    encrypted[6] |= 1;
    encrypted[central + 8] |= 1;
    let mut lying = plain;
    lying[central + 24..central + 28].copy_from_slice(&10u32.to_le_bytes());
    // An honest entry that expands 1000 to 1 (64 MiB of zeros).
    let bomb = {
        let deflated = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
        writer.start_file("report.pdf", deflated).expect("start");
        writer
            .write_all(&vec![0u8; 64 * 1024 * 1024])
            .expect("write");
        writer.finish().expect("finish").into_inner()
    };
    for (label, bytes, expected) in [
        (
            "symlink",
            symlink,
            &["entry `report.html`: is a symbolic link"][..],
        ),
        (
            "encrypted",
            encrypted,
            &["entry `report.pdf`: is encrypted"],
        ),
        ("lying size", lying, &["entry `report.pdf`:"]),
        (
            "ratio",
            bomb.clone(),
            &["entry `report.pdf`:", "more than the 100 to 1 allowed"],
        ),
    ] {
        std::fs::write(archives.join(format!("{id}.zip")), &bytes).expect("write");
        let out = output(archive(
            &sim,
            &key,
            &out_dir.join("bundle.zip"),
            &["--report", id],
        ))
        .await;
        assert_eq!(out.status.code(), Some(1), "{label}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(&format!("the archive of report {id} is invalid")),
            "{label}: {}",
            stderr(&out)
        );
        for needle in expected {
            assert!(stderr(&out).contains(needle), "{label}: {}", stderr(&out));
        }
        assert_eq!(
            std::fs::read_dir(&out_dir).expect("dir").count(),
            0,
            "{label}: nothing left behind"
        );
    }

    // Over the size cap.
    std::fs::write(archives.join(format!("{id}.zip")), crafted("big.bin")).expect("write");
    let out = output({
        let mut command = archive(&sim, &key, &out_dir.join("bundle.zip"), &["--report", id]);
        command.args(["--max-size", "8"]);
        command
    })
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("more than the 8 bytes allowed"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read_dir(&out_dir).expect("dir").count(), 0);

    // The bomb of the table above passes with `--max-ratio` raised above its ratio.
    std::fs::write(archives.join(format!("{id}.zip")), &bomb).expect("write");
    let out = output({
        let mut command = archive(&sim, &key, &out_dir.join("bundle.zip"), &["--report", id]);
        command.args(["--max-ratio", "5000"]);
        command
    })
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

/// sigstore-js, a verifier we did not write, checks the Sigstore bundle offline with the public
/// key (as `cosign verify-blob-attestation --key … --insecure-ignore-tlog` does).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigstore_js_verifies_the_bundle_offline() {
    let interop = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/interop");
    if !interop.join("node_modules/@sigstore/verify").exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI installs tests/interop (npm ci) before the tests"
        );
        return;
    }
    let sim = Simulator::start_sample().await.expect("sim");
    let dir = tempfile::tempdir().expect("dir");
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, "min_rating = \"C\"\n").expect("write");
    for algorithm in ["p256", "ed25519"] {
        let (key, public) = keygen(dir.path(), algorithm, algorithm);
        let bundle = dir.path().join(format!("{algorithm}.zip"));
        let policy_arg = policy.to_str().expect("UTF-8 path");
        let out = output(archive(
            &sim,
            &key,
            &bundle,
            &["--version", "1.0", "--policy", policy_arg],
        ))
        .await;
        assert!(out.status.success(), "{}", stderr(&out));
        let files = entries(&bundle);
        let unpacked = dir.path().join(algorithm);
        std::fs::create_dir_all(unpacked.join("artifacts")).expect("mkdir");
        let artifact = "artifacts/00000000-0000-0000-0000-000000000100.zip";
        for name in [
            "attestation.sigstore.json",
            "manifest.json",
            "verdict.sigstore.json",
            artifact,
        ] {
            std::fs::write(unpacked.join(name), &files[name]).expect("write");
        }
        let verify_with = |bundle: &str, blob: &Path, predicate: &str| {
            std::process::Command::new("node")
                .arg(interop.join("sigstore-verify.cjs"))
                .arg(unpacked.join(bundle))
                .arg(&public)
                .arg(blob)
                .arg(predicate)
                .output()
                .expect("node")
        };
        // The gate's verdict is a Sigstore bundle sigstore-js accepts, over a report archive.
        let out = verify_with(
            "verdict.sigstore.json",
            &unpacked.join(artifact),
            procurize_archive::VSA_PREDICATE_TYPE,
        );
        assert!(
            out.status.success(),
            "{algorithm} verdict: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let node = |blob: &Path| {
            verify_with(
                "attestation.sigstore.json",
                blob,
                procurize_archive::PREDICATE_TYPE,
            )
        };
        let out = node(&unpacked.join("manifest.json"));
        assert!(
            out.status.success(),
            "{algorithm}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).starts_with("verified: key "));
        // An edited blob is not a subject.
        std::fs::write(unpacked.join("edited.json"), b"{}").expect("write");
        let out = node(&unpacked.join("edited.json"));
        assert!(!out.status.success());
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("is not a subject"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_failures_exit_3_and_no_match_is_reported() {
    let dir = tempfile::tempdir().expect("dir");
    let (key, _) = keygen(dir.path(), "signer", "p256");
    let failing = Simulator::start_local(SimConfig::sample_with(procurize_sim::Faults {
        fail_first: u64::MAX,
        ..procurize_sim::Faults::default()
    }))
    .await
    .expect("sim");
    let out = output(archive(
        &failing,
        &key,
        &dir.path().join("a.zip"),
        &["--version", "1.0"],
    ))
    .await;
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("HTTP 500"), "{}", stderr(&out));
    let sim = Simulator::start_sample().await.expect("sim");
    let out = output(archive(
        &sim,
        &key,
        &dir.path().join("b.zip"),
        &["--version", "9.9"],
    ))
    .await;
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).contains("no report matches"),
        "{}",
        stderr(&out)
    );
    assert!(!dir.path().join("a.zip").exists() && !dir.path().join("b.zip").exists());
    // A key that is not a key is a usage error, before any request.
    std::fs::write(dir.path().join("bad.key"), "not a key").expect("write");
    let out = output(archive(
        &sim,
        &dir.path().join("bad.key"),
        &dir.path().join("c.zip"),
        &["--version", "1.0"],
    ))
    .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("cannot read the signing key"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn project_scopes_the_bundle_and_several_projects_are_named() {
    let sim = Simulator::start_sample().await.expect("sim");
    let dir = tempfile::tempdir().expect("dir");
    let (key, public) = keygen(dir.path(), "signer", "p256");
    let artifacts = |bundle: &Path| {
        entries(bundle)
            .keys()
            .filter(|n| n.starts_with("artifacts/"))
            .count()
    };

    let all = dir.path().join("all.zip");
    let out = output(archive(&sim, &key, &all, &["--version", "1.0"])).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stderr(&out).lines().next(),
        Some(
            "note: the bundle holds the reports of 2 projects: Test product, 会計ポータル. \
             To archive one, pass --project NAME (repeatable)."
        ),
        "{}",
        stderr(&out)
    );
    assert_eq!(artifacts(&all), 5);

    let one = dir.path().join("one.zip");
    let out = output(archive(
        &sim,
        &key,
        &one,
        &["--version", "1.0", "--project", "会計ポータル"],
    ))
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("note:"), "{}", stderr(&out));
    assert_eq!(artifacts(&one), 2);
    let manifest: serde_json::Value =
        serde_json::from_slice(&entries(&one)["manifest.json"]).expect("manifest");
    assert_eq!(
        manifest["selection"]["projects"],
        serde_json::json!(["会計ポータル"]),
        "{manifest:#}"
    );
    assert_eq!(verify(&one, &public).status.code(), Some(0));

    // A project without reports is named with the ones that have some; nothing is written.
    let none = dir.path().join("none.zip");
    let out = output(archive(
        &sim,
        &key,
        &none,
        &[
            "--version",
            "1.0",
            "--project",
            "会計ポータル",
            "--project",
            "Payments API",
        ],
    ))
    .await;
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(
            "project `Payments API` has no report at the versions asked for; \
             these projects have: Test product, 会計ポータル"
        ),
        "{}",
        stderr(&out)
    );
    assert!(!none.exists());
    // Projects narrow versions; reports named by ID are already exact.
    let out = output(archive(
        &sim,
        &key,
        &none,
        &[
            "--report",
            "00000000-0000-0000-0000-000000000100",
            "--project",
            "X",
        ],
    ))
    .await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));

    // Reports named by ID carry their metadata, found by listing every version; an ID the list
    // does not know stops it, naming the ID, and writes nothing.
    let one = dir.path().join("by-id.zip");
    let out = output(archive(
        &sim,
        &key,
        &one,
        &["--report", "00000000-0000-0000-0000-000000000100"],
    ))
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let manifest: serde_json::Value =
        serde_json::from_slice(&entries(&one)["manifest.json"]).expect("manifest");
    let metadata = &manifest["reports"][0]["metadata"];
    assert_eq!(
        metadata["id"], "00000000-0000-0000-0000-000000000100",
        "{manifest:#}"
    );
    assert!(metadata["securityRating"].is_string(), "{manifest:#}");
    assert!(entries(&one).contains_key("metadata/reports.json"));
    let unknown = dir.path().join("unknown.zip");
    let out = output(archive(
        &sim,
        &key,
        &unknown,
        &["--report", "00000000-0000-0000-0000-0000000fffff"],
    ))
    .await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(
            "report 00000000-0000-0000-0000-0000000fffff is not in the organization's list"
        ),
        "{}",
        stderr(&out)
    );
    assert!(!unknown.exists());
}

/// The statement a DSSE envelope line carries (not verified: `procurize verify` does that).
fn statement_of(envelope: &[u8]) -> serde_json::Value {
    let envelope: procurize_archive::dsse::Envelope =
        serde_json::from_slice(envelope.trim_ascii_end()).expect("envelope");
    serde_json::from_slice(&base64_decode(&envelope.payload)).expect("statement")
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    hex_lower(&sha2::Sha256::digest(bytes))
}

fn hex_lower(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_signs_the_gates_verdict_into_the_bundle() {
    let sim = Simulator::start_sample().await.expect("sim");
    let dir = tempfile::tempdir().expect("dir");
    let (key, public) = keygen(dir.path(), "signer", "p256");
    let strict = dir.path().join("strict.toml");
    std::fs::write(
        &strict,
        "# every report must be rated A\nmin_rating = \"A\"\nmax_vulnerabilities = 0\n",
    )
    .expect("write");
    let lenient = dir.path().join("lenient.toml");
    std::fs::write(&lenient, "min_rating = \"E\"\n").expect("write");

    for (policy, expected) in [(&strict, "FAILED"), (&lenient, "PASSED")] {
        let bundle = dir.path().join(format!("{expected}.zip"));
        let policy_arg = policy.to_str().expect("UTF-8 path");
        let out = output(archive(
            &sim,
            &key,
            &bundle,
            &["--version", "v1.2.0", "--policy", policy_arg],
        ))
        .await;
        // A failed gate is recorded, not an archive failure.
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert!(
            stderr(&out).contains(&format!("Gate verdict {expected} under file:")),
            "{}",
            stderr(&out)
        );
        let verified = verify(&bundle, &public);
        assert_eq!(verified.status.code(), Some(0), "{}", stdout(&verified));
        assert!(
            stdout(&verified).contains(&format!("gate verdict: {expected} for 6 reports")),
            "{}",
            stdout(&verified)
        );

        let files = entries(&bundle);
        // The policy, canonical: its digest is the verdict's.
        let text = std::fs::read_to_string(policy).expect("policy");
        let parsed = procurize_gate::Policy::from_toml(&text, "policy").expect("policy");
        assert_eq!(files["metadata/policy.json"], parsed.canonical_json());
        let statement = statement_of(&files["verdict.intoto.jsonl"]);
        assert_eq!(statement["_type"], "https://in-toto.io/Statement/v1");
        assert_eq!(
            statement["predicateType"],
            "https://slsa.dev/verification_summary/v1"
        );
        let predicate = &statement["predicate"];
        assert_eq!(predicate["verificationResult"], expected);
        assert_eq!(
            predicate["verifiedLevels"][0],
            if expected == "PASSED" {
                "PROCURIZE_SECURITY_GATE_PASSED"
            } else {
                "FAILED"
            }
        );
        assert_eq!(
            predicate["verifier"]["id"],
            "https://github.com/procurize/procurize-pipeline/gate"
        );
        assert_eq!(predicate["timeVerified"], "2025-11-29T00:00:00Z");
        assert_eq!(
            predicate["policy"]["uri"],
            format!("file:{}", policy.display())
        );
        assert_eq!(
            predicate["policy"]["digest"]["sha256"],
            sha256_hex(&files["metadata/policy.json"])
        );
        // Subjects: exactly the report archives, with their digests; inputs: the list served.
        let subjects: BTreeMap<String, String> = statement["subject"]
            .as_array()
            .expect("subjects")
            .iter()
            .map(|s| {
                (
                    s["name"].as_str().expect("name").to_owned(),
                    s["digest"]["sha256"].as_str().expect("digest").to_owned(),
                )
            })
            .collect();
        let archives: BTreeMap<String, String> = files
            .iter()
            .filter(|(name, _)| name.starts_with("artifacts/"))
            .map(|(name, bytes)| (name.clone(), sha256_hex(bytes)))
            .collect();
        assert_eq!(subjects, archives);
        assert_eq!(
            predicate["inputAttestations"][0]["uri"],
            "metadata/reports.json"
        );
        assert_eq!(
            predicate["inputAttestations"][0]["digest"]["sha256"],
            sha256_hex(&files["metadata/reports.json"])
        );
        // The per-rule detail: the gate's own JSON outcome.
        let detail = &predicate["https://github.com/procurize/procurize-pipeline/gate/v1"];
        assert_eq!(detail["schemaVersion"], 1);
        assert_eq!(
            detail["status"],
            if expected == "PASSED" { "pass" } else { "fail" }
        );
        // Every archived report is judged, or listed as superseded by a newer upload.
        let judged = detail["reports"].as_array().expect("reports").len();
        let superseded = detail["superseded"].as_array().expect("superseded").len();
        assert_eq!(judged + superseded, 6, "{detail:#}");
        // Machines get the verdict too; VERIFY.md says how to check it.
        let json = run(procurize()
            .arg("verify")
            .arg(&bundle)
            .arg("--key")
            .arg(&public)
            .args(["--format", "json"]));
        let report: serde_json::Value = serde_json::from_slice(&json.stdout).expect("json");
        assert_eq!(report["verdict"]["result"], expected);
        assert!(String::from_utf8_lossy(&files["VERIFY.md"]).contains("verdict.sigstore.json"));
    }

    // Tampering with the verdict is found, with its own reason.
    let bundle = dir.path().join("FAILED.zip");
    let (other_key, _) = keygen(dir.path(), "other", "p256");
    let other = procurize_archive::SigningKey::from_pkcs8_pem(
        &std::fs::read_to_string(&other_key).expect("key"),
    )
    .expect("key");
    let cases: Vec<(&str, Tamper<'_>, &str)> = vec![
        (
            "verdict-resigned",
            Box::new(move |files| {
                // FAILED turned into PASSED and signed again, by another key.
                let mut statement = statement_of(&files["verdict.intoto.jsonl"]);
                statement["predicate"]["verificationResult"] = "PASSED".into();
                let forged = procurize_archive::dsse::Envelope::sign(
                    "application/vnd.in-toto+json",
                    &serde_json::to_vec(&statement).expect("json"),
                    &other,
                );
                files.insert(
                    "verdict.intoto.jsonl".into(),
                    serde_json::to_vec(&forged).expect("json"),
                );
            }),
            "(the verdict is not trusted)",
        ),
        (
            "policy-replaced",
            Box::new(|files| {
                files.insert("metadata/policy.json".into(), b"{}\n".to_vec());
            }),
            "metadata/policy.json is not the policy the verdict names",
        ),
        (
            "verdict-removed",
            Box::new(|files| {
                files.remove("verdict.intoto.jsonl");
            }),
            "verdict.intoto.jsonl is missing",
        ),
    ];
    for (name, shown) in tampered(&bundle, &public, dir.path(), cases) {
        assert!(!shown.contains("gate verdict:"), "{name}: {shown}");
    }
    // A policy that does not parse stops it before anything is written.
    let broken = dir.path().join("broken.toml");
    std::fs::write(&broken, "min_rating = \"Z\"\n").expect("write");
    let out_path = dir.path().join("never.zip");
    let broken_arg = broken.to_str().expect("UTF-8 path");
    let out = output(archive(
        &sim,
        &key,
        &out_path,
        &["--version", "v1.2.0", "--policy", broken_arg],
    ))
    .await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("broken.toml:1"), "{}", stderr(&out));
    assert!(!out_path.exists());
}
