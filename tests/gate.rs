//! `procurize gate` end to end, against the simulator: exit statuses 0, 1, 2 and 3, the files it
//! writes, and GitHub Actions mode.

mod common;

use common::{output, procurize, stderr, stdout};
use procurize_sim::{Faults, SAMPLE_ORGANIZATION, SimConfig, Simulator};

fn gate(sim: &Simulator) -> std::process::Command {
    let mut command = procurize();
    command
        .env("PROCURIZE_BASE_URL", sim.base_url())
        .env("PROCURIZE_ORG", SAMPLE_ORGANIZATION)
        .args([
            "--timeout",
            "5s",
            "--attempts",
            "1",
            "gate",
            "--as-of",
            "2026-07-15",
        ]);
    command
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passing_and_warning_gates_exit_0() {
    let sim = Simulator::start_sample().await.expect("sim");
    let mut command = gate(&sim);
    command.args(["--version", "v2.1.0", "--min-rating", "D"]);
    let out = output(command).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(
        stdout(&out).contains("gate passed for version = v2.1.0"),
        "{}",
        stdout(&out)
    );

    let mut command = gate(&sim);
    command.args([
        "--version",
        "2.1",
        "--min-rating",
        "d",
        "--require-report",
        "CWE Top 25",
        "--on-missing",
        "warn",
    ]);
    let out = output(command).await;
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("WARN  missing: Payments API v2.1.0: no CWE Top 25 report"),
        "{}",
        stdout(&out)
    );
    assert!(stdout(&out).contains("gate passed with warnings"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_gate_exits_1_after_writing_every_file() {
    let sim = Simulator::start_sample().await.expect("sim");
    let dir = tempfile::tempdir().expect("dir");
    let path = |name: &str| dir.path().join(name);
    let mut command = gate(&sim);
    command.args(["--version", "2.0.0-rc.1", "--format", "json"]);
    for (flag, name) in [
        ("--sarif", "g.sarif"),
        ("--junit", "g.xml"),
        ("--codequality", "g.cq.json"),
        ("--json", "g.json"),
        ("--markdown", "g.md"),
    ] {
        command.arg(flag).arg(path(name));
    }
    let out = output(command).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(printed["status"], "fail");
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(path("g.json")).expect("json")).expect("JSON");
    assert_eq!(saved, printed);
    let sarif: serde_json::Value =
        serde_json::from_slice(&std::fs::read(path("g.sarif")).expect("sarif")).expect("SARIF");
    assert_eq!(
        sarif["runs"][0]["results"].as_array().map(Vec::len),
        Some(2)
    );
    assert_eq!(
        sarif["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        "procurize-policy.toml"
    );
    assert!(
        std::fs::read_to_string(path("g.xml"))
            .expect("junit")
            .contains("<failure ")
    );
    assert!(
        std::fs::read_to_string(path("g.cq.json"))
            .expect("cq")
            .contains("\"severity\": \"blocker\"")
    );
    assert!(
        std::fs::read_to_string(path("g.md"))
            .expect("md")
            .contains("❌ fail")
    );

    // --no-fail reports the failure but exits 0.
    let mut command = gate(&sim);
    command.args(["--version", "2.0.0-rc.1", "--no-fail"]);
    let out = output(command).await;
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("gate failed"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_report_for_the_version_fails_by_default() {
    let sim = Simulator::start_sample().await.expect("sim");
    let mut command = gate(&sim);
    command.args(["--version", "9.9"]);
    let out = output(command).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("FAIL  missing: no report exists for the requested version"),
        "{}",
        stdout(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_policies_and_flags_exit_2_before_any_request() {
    let sim = Simulator::start_sample().await.expect("sim");
    let dir = tempfile::tempdir().expect("dir");
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, "min_rating = \"B\"\nmax_vulnerabilites = 3\n").expect("write");
    let mut command = gate(&sim);
    command.args(["--version", "1.0", "--policy"]).arg(&policy);
    let out = output(command).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains(&format!(
            "{}:2:1: unknown field `max_vulnerabilites`",
            policy.display()
        )),
        "{}",
        stderr(&out)
    );
    for args in [
        vec!["--version", "1.0", "--min-rating", "F"],
        vec!["--version", "1.0", "--on-missing", "maybe"],
        vec!["--version", "1.0", "--as-of", "yesterday"],
        vec!["--min-rating", "B"],
        vec!["--version", "1.0", "--policy", "/nonexistent/policy.toml"],
    ] {
        let mut command = gate(&sim);
        command.args(&args);
        let out = output(command).await;
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    }
    assert!(sim.requests().is_empty(), "nothing was asked of the API");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_failures_exit_3() {
    let sim = Simulator::start_local(SimConfig::sample_with(Faults {
        fail_first: u64::MAX,
        ..Faults::default()
    }))
    .await
    .expect("sim");
    let mut command = gate(&sim);
    command.args(["--version", "1.0"]);
    let out = output(command).await;
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).starts_with("error: HTTP 500 from "),
        "{}",
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_actions_mode_annotates_summarises_and_sets_outputs() {
    let sim = Simulator::start_sample().await.expect("sim");
    let dir = tempfile::tempdir().expect("dir");
    let output_file = dir.path().join("github_output");
    let summary_file = dir.path().join("step_summary");
    std::fs::write(&output_file, "earlier=kept\n").expect("write");
    let sarif = dir.path().join("gate.sarif");
    let mut command = gate(&sim);
    command
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_OUTPUT", &output_file)
        .env("GITHUB_STEP_SUMMARY", &summary_file)
        .args(["--version", "1.2.0", "--min-rating", "B", "--sarif"])
        .arg(&sarif);
    let out = output(command).await;
    assert_eq!(out.status.code(), Some(1));
    let printed = stdout(&out);
    let annotations: Vec<&str> = printed.lines().filter(|l| l.starts_with("::")).collect();
    assert_eq!(
        annotations,
        [
            "::error title=Procurize gate%3A min_rating::Test product 1.2.0 OWASP Top 10 2021: security rating C is worse than the minimum B",
            "::error title=Procurize gate%3A min_rating::会計ポータル 1.2.0 PCI DSS 4.0: security rating E is worse than the minimum B",
        ]
    );
    let outputs = std::fs::read_to_string(&output_file).expect("outputs");
    assert_eq!(
        outputs,
        format!(
            "earlier=kept\nstatus=fail\nreport-count=5\nfailed-count=2\nsarif-file={}\n",
            sarif.display()
        )
    );
    let summary = std::fs::read_to_string(&summary_file).expect("summary");
    assert!(
        summary.starts_with("### ❌ Procurize security gate: failed"),
        "{summary}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_projects_at_a_version_are_named_and_project_scopes_the_gate() {
    let sim = Simulator::start_sample().await.expect("sim");
    let dir = tempfile::tempdir().expect("dir");
    let json = dir.path().join("gate.json");
    let document = || -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(&json).expect("json")).expect("valid")
    };

    // Two products share version 1.0: the first line says so and how to choose.
    let mut command = gate(&sim);
    command.args(["--version", "1.0", "--min-rating", "E", "--json"]);
    command.arg(&json);
    let out = output(command).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out).lines().next(),
        Some(
            "note  reports of 2 projects match version = 1.0 and were gated together: \
             Test product, 会計ポータル. To gate one, pass --project NAME (repeatable)."
        ),
        "{}",
        stdout(&out)
    );
    let seen = serde_json::json!(["Test product", "会計ポータル"]);
    assert_eq!(document()["projectsSeen"], seen);
    assert_eq!(document()["projectsChosen"], serde_json::json!([]));

    // One project chosen: only its reports, no notice, both recorded.
    let mut command = gate(&sim);
    command.args([
        "--version",
        "1.0",
        "--min-rating",
        "E",
        "--project",
        "会計ポータル",
        "--json",
    ]);
    command.arg(&json);
    let out = output(command).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        !stdout(&out).contains("were gated together"),
        "{}",
        stdout(&out)
    );
    let doc = document();
    assert_eq!(doc["projectsSeen"], seen);
    assert_eq!(doc["projectsChosen"], serde_json::json!(["会計ポータル"]));
    let projects: Vec<&str> = doc["reports"]
        .as_array()
        .expect("reports")
        .iter()
        .map(|r| r["projectName"].as_str().expect("name"))
        .collect();
    assert_eq!(projects, ["会計ポータル", "会計ポータル"]);

    // One project at the version is nothing to warn about.
    let mut command = gate(&sim);
    command.args(["--version", "v2.1.0", "--min-rating", "E"]);
    let out = output(command).await;
    assert!(
        !stdout(&out).contains("were gated together"),
        "{}",
        stdout(&out)
    );
}

#[path = "../crates/review/tests/fake/mod.rs"]
mod fake;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pr_comment_creates_then_edits_and_a_refusal_is_only_a_warning() {
    let sim = Simulator::start_sample().await.expect("sim");
    let github = fake::github().await;
    let dir = tempfile::tempdir().expect("dir");
    let event = dir.path().join("event.json");
    std::fs::write(&event, r#"{"pull_request":{"number":7}}"#).expect("event");
    let run = |version: &str| {
        let mut command = gate(&sim);
        command
            .args(["--version", version, "--min-rating", "D", "--pr-comment"])
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_API_URL", &github.base)
            .env("GITHUB_REPOSITORY", fake::REPOSITORY)
            .env("GITHUB_EVENT_PATH", &event)
            .env("GITHUB_TOKEN", fake::TOKEN)
            .env("GITHUB_OUTPUT", dir.path().join("output"))
            .env("GITHUB_STEP_SUMMARY", dir.path().join("summary"))
            .env_remove("GITLAB_CI");
        command
    };
    let out = output(run("2.0.0-rc.1")).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("Commented on pull request acme/payments#7 (http://"),
        "{}",
        stderr(&out)
    );
    let out = output(run("v2.1.0")).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("Updated the comment on pull request acme/payments#7"),
        "{}",
        stderr(&out)
    );
    let comments = github.comments();
    assert_eq!(comments.len(), 1, "{comments:?}");
    assert!(
        comments[0]
            .body
            .contains("failed on an earlier run and passes now"),
        "{}",
        comments[0].body
    );
    assert!(
        comments[0].body.contains("Procurize security gate: passed"),
        "{}",
        comments[0].body
    );

    // GitHub refuses (no `pull-requests: write`): a warning annotation, the same exit status.
    github.refuse_writes(403);
    let out = output(run("2.0.0-rc.1")).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("::warning title=Procurize pull request comment::cannot comment on pull request acme/payments#7: GitHub answered PATCH"),
        "{}",
        stdout(&out)
    );
    assert!(
        stdout(&out).contains("HTTP 403: Resource not accessible by integration"),
        "{}",
        stdout(&out)
    );
    assert!(!stdout(&out).contains(fake::TOKEN) && !stderr(&out).contains(fake::TOKEN));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pr_comment_outside_a_review_is_a_notice_and_gitlab_gets_a_note() {
    let sim = Simulator::start_sample().await.expect("sim");
    let mut command = gate(&sim);
    command
        .args(["--version", "v2.1.0", "--min-rating", "D"])
        .env("PROCURIZE_PR_COMMENT", "true")
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITLAB_CI");
    let out = output(command).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(
            "notice: no pull request comment: not running in GitHub Actions or GitLab CI"
        ),
        "{}",
        stderr(&out)
    );

    let gitlab = fake::gitlab().await;
    let mut command = gate(&sim);
    command
        .args([
            "--version",
            "v2.1.0",
            "--min-rating",
            "D",
            "--project",
            "Payments API",
        ])
        .env("PROCURIZE_PR_COMMENT", "yes")
        .env_remove("GITHUB_ACTIONS")
        .env("GITLAB_CI", "true")
        .env("CI_API_V4_URL", format!("{}/api/v4", gitlab.base))
        .env("CI_PROJECT_ID", fake::PROJECT.to_string())
        .env("CI_MERGE_REQUEST_IID", fake::MERGE_REQUEST.to_string())
        .env("PROCURIZE_GITLAB_TOKEN", fake::TOKEN);
    let out = output(command).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("Commented on merge request !3 of project 42"),
        "{}",
        stderr(&out)
    );
    let notes = gitlab.comments();
    assert_eq!(notes.len(), 1);
    let scope = procurize_review::Scope::projects(&["Payments API".into()]);
    assert!(
        notes[0].body.starts_with(&format!(
            "<!-- procurize-gate scope={} status=pass -->",
            scope.key()
        )),
        "{}",
        notes[0].body
    );
}
