//! The GitLab templates run the way a runner runs them: gitlab-ci-local (tests/interop, npm) with
//! its shell executor, in a fresh git repository whose `.gitlab-ci.yml` includes the templates
//! with `include: local:` and `inputs:`, against the simulator and a release mirror on 127.0.0.1
//! serving this build's binary with its checksum.

mod common;
#[path = "../crates/review/tests/fake/mod.rs"]
mod fake;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::release::{checksum_file, mirror, release_archive};
use common::{output, stdout};
use procurize_sim::{SAMPLE_ORGANIZATION, Simulator};

/// gitlab-ci-local as `npm ci --prefix tests/interop` installs it; `None` (the test is skipped)
/// outside CI when it is not installed. CI installs it (.ci/run), and there it is required.
fn gitlab_ci_local() -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/interop/node_modules/.bin/gitlab-ci-local");
    let runs = path.exists() && Command::new("rsync").arg("--version").output().is_ok();
    if !runs {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI installs gitlab-ci-local (npm ci --prefix tests/interop) and rsync"
        );
        return None;
    }
    Some(path)
}

/// A git repository holding the templates and a `.gitlab-ci.yml` that includes them.
fn repository(pipeline: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("dir");
    let templates = dir.path().join("templates");
    std::fs::create_dir_all(&templates).expect("dir");
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../gitlab-ci-templates");
    for name in [
        "quality-gate.yml",
        "compliance-notify.yml",
        "audit-archive.yml",
    ] {
        std::fs::copy(source.join(name), templates.join(name)).expect("copy");
    }
    std::fs::create_dir_all(dir.path().join(".procurize")).expect("dir");
    std::fs::write(
        dir.path().join(".procurize/notify.toml"),
        "[channels.audit]\ntype = \"file\"\nfolder = \"audit\"\nformat = \"slack\"\n\n[[route]]\nchannels = [\"audit\"]\n",
    )
    .expect("config");
    std::fs::write(dir.path().join(".gitlab-ci.yml"), pipeline).expect("pipeline");
    for args in [
        &["init", "-q", "-b", "main", "."][..],
        &["add", "-A"],
        &[
            "-c",
            "user.email=ci@example.com",
            "-c",
            "user.name=ci",
            "commit",
            "-q",
            "-m",
            "pipeline",
        ],
    ] {
        let status = Command::new("git")
            .args(args)
            .current_dir(dir.path())
            .status()
            .expect("git");
        assert!(status.success(), "git {args:?}");
    }
    dir
}

/// The gate and notify templates, for `version` and `projects` (the GitLab input's
/// comma-separated form), installing from `mirror`.
fn gate_pipeline(version: &str, projects: &str, mirror: &str) -> String {
    format!(
        "include:
  - local: templates/quality-gate.yml
    inputs:
      mr-comment: true
      version: {version}
      min-rating: D
      project: {projects}
      procurize-version: 0.1.0
      procurize-download-url: {mirror}/{{version}}
  - local: templates/compliance-notify.yml
    inputs:
      procurize-version: 0.1.0
      procurize-download-url: {mirror}/{{version}}
stages: [test]
"
    )
}

/// Runs the whole pipeline with the shell executor, as a merge request pipeline of `gitlab`,
/// with `extra` variables; returns the log and whether it passed.
async fn run_pipeline(
    tool: &Path,
    repo: &Path,
    sim: &Simulator,
    gitlab: &fake::Fake,
    extra: &[String],
) -> (String, bool) {
    let mut command = Command::new(tool);
    command
        .current_dir(repo)
        .arg("--force-shell-executor")
        .args([
            "--ignore-predefined-vars",
            "CI_API_V4_URL,CI_PROJECT_ID,GITLAB_CI",
        ]);
    for variable in [
        // gitlab-ci-local says GITLAB_CI=false (so scripts can tell it from a runner); a runner
        // says true, and that is what `--pr-comment` looks for.
        "GITLAB_CI=true".to_owned(),
        format!("PROCURIZE_ORG={SAMPLE_ORGANIZATION}"),
        format!("PROCURIZE_BASE_URL={}", sim.base_url()),
        format!("CI_API_V4_URL={}/api/v4", gitlab.base),
        format!("CI_PROJECT_ID={}", fake::PROJECT),
        format!("CI_MERGE_REQUEST_IID={}", fake::MERGE_REQUEST),
        format!("PROCURIZE_GITLAB_TOKEN={}", fake::TOKEN),
    ] {
        command.arg("--variable").arg(variable);
    }
    for variable in extra {
        command.arg("--variable").arg(variable);
    }
    let out = output(command).await;
    let log = format!("{}{}", stdout(&out), String::from_utf8_lossy(&out.stderr));
    (log, out.status.success())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gate_and_notify_templates_run_for_real() {
    let Some(tool) = gitlab_ci_local() else {
        return;
    };
    let sim = Simulator::start_sample().await.expect("sim");
    let gitlab = fake::gitlab().await;
    let work = tempfile::tempdir().expect("dir");
    let (archive, bytes) = release_archive(work.path());
    let good = mirror(vec![
        checksum_file(&archive, &bytes),
        (archive.clone(), bytes.clone()),
    ])
    .await;

    // A failing version: the gate job fails, writes its reports, and the notify job runs after it.
    let repo = repository(&gate_pipeline(
        "2.0.0-rc.1",
        " Test product ,Payments API",
        &good,
    ));
    let (log, passed) = run_pipeline(&tool, repo.path(), &sim, &gitlab, &[]).await;
    assert!(!passed, "{log}");
    assert!(
        log.contains("procurize.tar.gz: OK"),
        "the checksum was checked: {log}"
    );
    assert!(
        log.contains("gate failed for version = 2.0.0-rc.1"),
        "{log}"
    );
    for report in [
        "gl-code-quality-report.json",
        "procurize-gate.junit.xml",
        "procurize-gate.json",
    ] {
        assert!(repo.path().join(report).exists(), "{report}: {log}");
    }
    let quality: serde_json::Value = serde_json::from_slice(
        &std::fs::read(repo.path().join("gl-code-quality-report.json")).expect("read"),
    )
    .expect("Code Quality JSON");
    assert!(!quality.as_array().expect("array").is_empty());
    let outcome: serde_json::Value = serde_json::from_slice(
        &std::fs::read(repo.path().join("procurize-gate.json")).expect("read"),
    )
    .expect("JSON");
    assert_eq!(
        outcome["projectsChosen"],
        serde_json::json!(["Test product", "Payments API"])
    );
    assert!(
        log.contains("PASS  procurize-compliance-notify"),
        "notify ran after the failed gate: {log}"
    );
    let sent = std::fs::read_dir(repo.path().join(".procurize/audit"))
        .expect("the notify job wrote its messages")
        .count();
    // One message per failed report: Test product's two (Payments API has none at this version,
    // which fails the gate as missing but is not a report event).
    assert_eq!(sent, 2, "{log}");

    // mr-comment: the verdict is a note on the merge request.
    let notes = gitlab.comments();
    assert_eq!(notes.len(), 1, "{log}");
    assert!(
        notes[0].body.contains("status=fail -->"),
        "{}",
        notes[0].body
    );

    // A passing version: the gate passes and the notify job does not run.
    let repo = repository(&gate_pipeline("v2.1.0", "Payments API", &good));
    let (log, passed) = run_pipeline(&tool, repo.path(), &sim, &gitlab, &[]).await;
    assert!(passed, "{log}");
    assert!(log.contains("gate passed for version = v2.1.0"), "{log}");
    assert!(
        !log.contains("procurize-compliance-notify starting"),
        "{log}"
    );
    assert!(!repo.path().join(".procurize/audit").exists());
    assert!(
        !log.contains(fake::TOKEN),
        "the token is never printed: {log}"
    );
    // Another project scope, so another note; the first one is left as it was.
    let notes = gitlab.comments();
    assert_eq!(notes.len(), 2, "{log}");
    assert!(
        notes[0].body.contains("status=fail -->"),
        "{}",
        notes[0].body
    );
    assert!(
        notes[1].body.contains("status=pass -->"),
        "{}",
        notes[1].body
    );

    // A checksum that does not match stops the install: no gate runs, no report is written.
    let (name, _) = checksum_file(&archive, &bytes);
    let corrupt = mirror(vec![
        (
            name,
            format!("{}  {archive}\n", "0".repeat(64)).into_bytes(),
        ),
        (archive.clone(), bytes),
    ])
    .await;
    let repo = repository(&gate_pipeline("v2.1.0", "Payments API", &corrupt));
    let (log, passed) = run_pipeline(&tool, repo.path(), &sim, &gitlab, &[]).await;
    assert!(!passed, "{log}");
    assert!(log.contains("procurize.tar.gz: FAILED"), "{log}");
    assert!(!log.contains("gate passed"), "{log}");
    assert!(!repo.path().join("procurize-gate.json").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_archive_template_runs_on_tags_and_its_bundle_verifies() {
    let Some(tool) = gitlab_ci_local() else {
        return;
    };
    let sim = Simulator::start_sample().await.expect("sim");
    let gitlab = fake::gitlab().await;
    let work = tempfile::tempdir().expect("dir");
    let (archive, bytes) = release_archive(work.path());
    let good = mirror(vec![
        checksum_file(&archive, &bytes),
        (archive.clone(), bytes),
    ])
    .await;
    let key =
        procurize_archive::SigningKey::generate(procurize_archive::Algorithm::P256).expect("key");
    let pipeline = format!(
        "include:
  - local: templates/audit-archive.yml
    inputs:
      stage: test
      project: Payments API
      bundle: evidence.zip
      procurize-version: 0.1.0
      procurize-download-url: {good}/{{version}}
stages: [test]
"
    );

    // No tag: no job.
    let repo = repository(&pipeline);
    let (log, _) = run_pipeline(&tool, repo.path(), &sim, &gitlab, &[]).await;
    assert!(!log.contains("procurize-audit-archive starting"), "{log}");

    // On a tag: the bundle of that version, of the chosen project, signed with the key from the
    // masked variable, which `procurize verify` accepts.
    let repo = repository(&pipeline);
    let pem = key.to_pkcs8_pem().expect("pem");
    let variables = [
        "CI_COMMIT_TAG=v2.1.0".to_owned(),
        format!("PROCURIZE_SIGNING_KEY={}", pem.as_str()),
    ];
    let (log, passed) = run_pipeline(&tool, repo.path(), &sim, &gitlab, &variables).await;
    assert!(passed, "{log}");
    assert!(
        !log.contains("PRIVATE KEY"),
        "the key is never printed: {log}"
    );
    let bundle = repo.path().join("evidence.zip");
    let public = work.path().join("signer.pub");
    std::fs::write(&public, key.public_key().to_public_key_pem()).expect("write");
    let verified = common::run(
        common::procurize()
            .arg("verify")
            .arg(&bundle)
            .arg("--key")
            .arg(&public),
    );
    assert!(verified.status.success(), "{}", stdout(&verified));
}
