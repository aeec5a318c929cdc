//! `procurize init`: the files it writes, that they validate (the policy with our parser, the
//! workflow and the GitLab file with the schema checks `.ci/run` uses, and actionlint), and
//! that it never overwrites a file.

mod common;

use common::{check, procurize, run, stderr, stdout};
use std::path::Path;

fn init(dir: &Path, args: &[&str]) -> std::process::Output {
    run(procurize().arg("init").args(args).arg("--dir").arg(dir))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The policy written parses with the gate's own parser and gates `projects`.
fn assert_policy(dir: &Path, projects: &[&str]) -> String {
    let path = dir.join(".procurize/policy.toml");
    let text = read(&path);
    let policy =
        procurize_gate::Policy::from_toml(&text, "policy.toml").expect("the policy parses");
    assert_eq!(policy.projects, projects);
    text
}

#[test]
fn github_writes_a_policy_and_a_workflow_that_validate() {
    let dir = tempfile::tempdir().expect("dir");
    let output = init(dir.path(), &["github", "--project", "Payments API"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let shown = stdout(&output).replace(&dir.path().display().to_string(), "REPO");
    insta::assert_snapshot!("init_github_output", shown);
    let policy = assert_policy(dir.path(), &["Payments API"]);
    insta::assert_snapshot!("init_policy", policy);
    let workflow = dir.path().join(".github/workflows/procurize.yml");
    insta::assert_snapshot!("init_github_workflow", read(&workflow));
    check(
        "check-jsonschema",
        &["--builtin-schema", "vendor.github-workflows"],
        &workflow,
    );
    check("actionlint", &[], &workflow);
}

#[test]
fn gitlab_from_release_branches_writes_an_include_that_validates() {
    let dir = tempfile::tempdir().expect("dir");
    let output = init(
        dir.path(),
        &[
            "gitlab",
            "--project",
            "Payments API",
            "--project",
            "会計ポータル",
            "--version-from",
            "branch",
        ],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_policy(dir.path(), &["Payments API", "会計ポータル"]);
    let pipeline = dir.path().join(".gitlab-ci.yml");
    let text = read(&pipeline);
    insta::assert_snapshot!("init_gitlab_branch", text);
    assert!(text.contains("version: $CI_COMMIT_BRANCH"), "{text}");
    check(
        "check-jsonschema",
        &["--builtin-schema", "vendor.gitlab-ci"],
        &pipeline,
    );
}

#[test]
fn no_projects_gates_every_project_and_odd_names_survive_quoting() {
    let dir = tempfile::tempdir().expect("dir");
    let output = init(dir.path(), &["github", "--version-from", "branch"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_policy(dir.path(), &[]);
    let workflow = read(&dir.path().join(".github/workflows/procurize.yml"));
    assert!(
        workflow.contains(r#"branches: ["release/*"]"#),
        "{workflow}"
    );
    assert!(!workflow.contains("project:"), "{workflow}");

    let odd = "Pay \"ments\" \\ API\t#1";
    let dir = tempfile::tempdir().expect("dir");
    let output = init(dir.path(), &["github", "--project", odd]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_policy(dir.path(), &[odd]);
    check(
        "check-jsonschema",
        &["--builtin-schema", "vendor.github-workflows"],
        &dir.path().join(".github/workflows/procurize.yml"),
    );
}

#[test]
fn an_existing_file_is_never_overwritten_and_nothing_is_written() {
    let dir = tempfile::tempdir().expect("dir");
    let workflows = dir.path().join(".github/workflows");
    std::fs::create_dir_all(&workflows).expect("dir");
    std::fs::write(workflows.join("procurize.yml"), "mine\n").expect("write");
    let output = init(dir.path(), &["github"]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("procurize.yml exists already"),
        "{}",
        stderr(&output)
    );
    assert_eq!(read(&workflows.join("procurize.yml")), "mine\n");
    assert!(
        !dir.path().join(".procurize").exists(),
        "the policy was written anyway"
    );

    // GitLab: the pipeline file is the user's; the answer shows what to add to it.
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(dir.path().join(".gitlab-ci.yml"), "stages: [build]\n").expect("write");
    let output = init(dir.path(), &["gitlab", "--project", "Payments API"]);
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(
        message.contains(".gitlab-ci.yml exists already"),
        "{message}"
    );
    assert!(message.contains("include:\n  - remote: "), "{message}");
    assert!(!dir.path().join(".procurize").exists());

    // A comma cannot be passed to the GitLab template's project list.
    let dir = tempfile::tempdir().expect("dir");
    let output = init(dir.path(), &["gitlab", "--project", "A, B"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("cannot contain one"),
        "{}",
        stderr(&output)
    );
}
