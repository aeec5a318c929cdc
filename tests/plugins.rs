//! The pipeline plugins' scripts, run for real: the quality-gate action's `gate.sh` against the
//! simulator, and the setup action's `install.sh` against a release mirror on 127.0.0.1.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::release::{mirror, release_archive};
use common::{binary, output, stderr, stdout};
use procurize_sim::{SAMPLE_ORGANIZATION, Simulator};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn gate_sh(sim: &Simulator, inputs: &[(&str, &str)]) -> Command {
    let mut command = Command::new("bash");
    command
        .arg(root().join("plugins/quality-gate/gate.sh"))
        .env("PROCURIZE", binary())
        .env("INPUT_ORG", SAMPLE_ORGANIZATION)
        .env("INPUT_BASE_URL", sim.base_url())
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITLAB_CI");
    for (name, value) in inputs {
        command.env(name, value);
    }
    command
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_action_maps_every_input_to_a_flag() {
    let sim = Simulator::start_sample().await.expect("sim");
    let dir = tempfile::tempdir().expect("dir");
    let junit = dir.path().join("gate.xml");
    let sarif = dir.path().join("gate.sarif");
    let out = output(gate_sh(
        &sim,
        &[
            ("INPUT_VERSION", "refs/tags/v2.1.0"),
            ("INPUT_MIN_RATING", "D"),
            ("INPUT_MAX_VULNERABILITIES", "7"),
            ("INPUT_REQUIRED_REPORTS", "PCI DSS@4.0\r\n  \nOWASP Top 10"),
            ("INPUT_ON_MISSING", "fail"),
            ("INPUT_SARIF_FILE", sarif.to_str().expect("utf-8")),
            ("INPUT_JUNIT_FILE", junit.to_str().expect("utf-8")),
            ("INPUT_NO_FAIL", "false"),
        ],
    ))
    .await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(sarif.exists() && junit.exists());
    let query = &sim.requests()[0].query;
    assert!(query.ends_with("&version=v2.1.0"), "{query}");

    // A failing gate fails the step, unless no-fail is true.
    let out = output(gate_sh(&sim, &[("INPUT_VERSION", "2.0.0-rc.1")])).await;
    assert_eq!(out.status.code(), Some(1));
    let out = output(gate_sh(
        &sim,
        &[("INPUT_VERSION", "2.0.0-rc.1"), ("INPUT_NO_FAIL", "true")],
    ))
    .await;
    assert_eq!(out.status.code(), Some(0));
    let out = output(gate_sh(
        &sim,
        &[("INPUT_VERSION", "1.0"), ("INPUT_NO_FAIL", "sometimes")],
    ))
    .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(stdout(&out).contains("::error::no-fail must be true or false"));

    // pr-comment true reaches `--pr-comment`: outside a pull request, a notice and the same status.
    let out = output(gate_sh(
        &sim,
        &[
            ("INPUT_VERSION", "2.0.0-rc.1"),
            ("INPUT_PR_COMMENT", "true"),
        ],
    ))
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("notice: no pull request comment"),
        "{}",
        stderr(&out)
    );
    let out = output(gate_sh(
        &sim,
        &[("INPUT_VERSION", "1.0"), ("INPUT_PR_COMMENT", "often")],
    ))
    .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(stdout(&out).contains("::error::pr-comment must be true or false, not often"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inputs_are_never_run_as_shell_text() {
    let sim = Simulator::start_sample().await.expect("sim");
    let dir = tempfile::tempdir().expect("dir");
    let marker = dir.path().join("pwned");
    let hostile = format!(
        "1.0\"; touch {}; echo \"$(touch {})",
        marker.display(),
        marker.display()
    );
    let out = output(gate_sh(
        &sim,
        &[
            ("INPUT_VERSION", &hostile),
            ("INPUT_REQUIRED_REPORTS", &hostile),
        ],
    ))
    .await;
    assert_eq!(
        out.status.code(),
        Some(2),
        "rejected as a version, not executed"
    );
    assert!(!marker.exists());
}

fn install_sh(version: &str, install_dir: &Path) -> Command {
    let mut command = Command::new("bash");
    command
        .arg(root().join("plugins/setup/install.sh"))
        .env("PROCURIZE_VERSION", version)
        .env("PROCURIZE_INSTALL_DIR", install_dir)
        .env_remove("GITHUB_PATH");
    command
}

#[test]
fn setup_uses_the_installed_binary_when_asked() {
    let dir = tempfile::tempdir().expect("dir");
    let path = format!(
        "{}:{}",
        binary().parent().expect("dir").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = install_sh("installed", dir.path())
        .env("PATH", path)
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out).lines().last(),
        Some(binary().to_str().expect("utf-8"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_downloads_verifies_and_installs_a_release() {
    if std::env::consts::OS != "linux" {
        return;
    }
    let work = tempfile::tempdir().expect("dir");
    let (archive, bytes) = release_archive(work.path());
    let digest = {
        use sha2::Digest;
        hex_string(&sha2::Sha256::digest(&bytes))
    };
    let good = mirror(vec![
        (archive.clone(), bytes.clone()),
        (
            format!("{archive}.sha256"),
            format!("{digest}  {archive}\n").into_bytes(),
        ),
    ])
    .await;
    let install = tempfile::tempdir().expect("dir");
    // `{version}` in the mirror's URL becomes the version, without its `v`.
    let mut command = install_sh("v0.1.0", install.path());
    command.env("PROCURIZE_DOWNLOAD_URL", format!("{good}/{{version}}/"));
    let out = output(command).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let installed = install.path().join("procurize");
    assert_eq!(
        stdout(&out).lines().last(),
        Some(installed.to_str().expect("utf-8"))
    );
    assert!(
        stderr(&out).contains(&format!("verified {archive} (sha256 {digest})")),
        "{}",
        stderr(&out)
    );
    let version = Command::new(&installed)
        .arg("--version")
        .output()
        .expect("run");
    assert!(stdout(&version).starts_with("procurize "));

    // A checksum that does not match stops the installation.
    let bad = mirror(vec![
        (archive.clone(), bytes),
        (
            format!("{archive}.sha256"),
            format!("{}  {archive}\n", "0".repeat(64)).into_bytes(),
        ),
    ])
    .await;
    let install = tempfile::tempdir().expect("dir");
    let mut command = install_sh("0.1.0", install.path());
    command.env("PROCURIZE_DOWNLOAD_URL", format!("{bad}/0.1.0"));
    let out = output(command).await;
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("checksum mismatch"),
        "{}",
        stderr(&out)
    );
    assert!(!install.path().join("procurize").exists());

    // A mirror without the asset is an error, not a silent build from source.
    let empty = mirror(Vec::new()).await;
    let mut command = install_sh("0.1.0", install.path());
    command.env("PROCURIZE_DOWNLOAD_URL", format!("{empty}/0.1.0"));
    let out = output(command).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("cannot download {empty}/0.1.0/{archive}")),
        "{}",
        stderr(&out)
    );
    assert!(
        !stderr(&out).contains("building from source"),
        "{}",
        stderr(&out)
    );
    assert!(!install.path().join("procurize").exists());
}

fn hex_string(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_archive_action_signs_with_the_key_from_the_environment() {
    let sim = Simulator::start_sample().await.expect("sim");
    let dir = tempfile::tempdir().expect("dir");
    let key =
        procurize_archive::SigningKey::generate(procurize_archive::Algorithm::P256).expect("key");
    let bundle = dir.path().join("evidence.zip");
    let github_output = dir.path().join("github_output");
    let mut command = Command::new("bash");
    command
        .arg(root().join("plugins/audit-archive/archive.sh"))
        .env("PROCURIZE", binary())
        .env("PROCURIZE_SIGNING_KEY", key.to_pkcs8_pem().expect("pem"))
        .env("INPUT_ORG", SAMPLE_ORGANIZATION)
        .env("INPUT_BASE_URL", sim.base_url())
        .env(
            "INPUT_REPORTS",
            "00000000-0000-0000-0000-000000000100\n 00000000-0000-0000-0000-00000000010c \n",
        )
        .env("INPUT_BUNDLE", &bundle)
        .env("GITHUB_OUTPUT", &github_output);
    let out = output(command).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        !stderr(&out).contains("PRIVATE KEY"),
        "the key is never printed"
    );
    assert_eq!(
        std::fs::read_to_string(&github_output).expect("outputs"),
        format!("bundle={}\n", bundle.display())
    );
    let public = dir.path().join("signer.pub");
    std::fs::write(&public, key.public_key().to_public_key_pem()).expect("write");
    let verified = Command::new(binary())
        .arg("verify")
        .arg(&bundle)
        .arg("--key")
        .arg(&public)
        .output()
        .expect("verify");
    assert!(verified.status.success(), "{}", stdout(&verified));
}

#[test]
fn the_compliance_notify_action_runs_notify_with_its_inputs() {
    let dir = tempfile::tempdir().expect("dir");
    let config = dir.path().join("notify.toml");
    std::fs::write(&config, "[channels.audit]\ntype = \"file\"\nfolder = \"audit\"\nformat = \"slack\"\n\n[[route]]\nchannels = [\"audit\"]\n").expect("write");
    let event = dir.path().join("event.json");
    let payload = serde_json::to_vec(&procurize_sim::sample_list()).expect("json");
    std::fs::write(&event, payload).expect("write");
    let script = |dry_run: &str| {
        Command::new("bash")
            .arg(root().join("plugins/compliance-notify/notify.sh"))
            .env("PROCURIZE", binary())
            .env("INPUT_CONFIG", &config)
            .env("INPUT_EVENT", &event)
            .env("INPUT_DRY_RUN", dry_run)
            .output()
            .expect("run")
    };
    let out = script("true");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).matches("===== audit · ").count(), 15);
    assert!(!dir.path().join("audit").exists());
    let out = script("false");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_dir(dir.path().join("audit"))
            .expect("dir")
            .count(),
        15
    );
    assert_eq!(script("maybe").status.code(), Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_project_input_takes_one_name_per_line() {
    let sim = Simulator::start_sample().await.expect("sim");
    let dir = tempfile::tempdir().expect("dir");
    let json = dir.path().join("gate.json");
    let out = output(gate_sh(
        &sim,
        &[
            ("INPUT_VERSION", "1.0"),
            ("INPUT_MIN_RATING", "E"),
            ("INPUT_PROJECT", "  会計ポータル \r\n\n Test product\n"),
            ("INPUT_JSON_FILE", json.to_str().expect("utf-8")),
        ],
    ))
    .await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let document: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json).expect("json")).expect("valid");
    assert_eq!(
        document["projectsChosen"],
        serde_json::json!(["会計ポータル", "Test product"])
    );
    assert_eq!(document["summary"]["reports"], 5);
}
