//! `procurize demo`, the README's quick start, and `procurize serve --check-config`.

mod common;

use common::{output, procurize, run, stderr, stdout};

#[test]
fn the_demo_runs_the_whole_workflow_offline_and_can_run_again() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("procurize-demo");
    for round in 0..2 {
        let result = run(procurize().arg("demo").arg("--out").arg(&out));
        let text = stdout(&result);
        assert!(
            result.status.success(),
            "round {round}: {text}\n{}",
            stderr(&result)
        );
        for expected in [
            "202 accepted   Payments API v2.1.0 OWASP Top 10 (rating D)",
            "200 duplicate  Test product 1.0 CWE Top 25 (rating A) — sent again",
            "401 rejected   Test product 1.0 OWASP Top 10 (rating A) — signed with a wrong secret",
            "4 accepted, 1 deduplicated, 1 rejected",
            "fail  Payments API v2.1.0 OWASP Top 10 (rating D): security rating D is worse than the minimum B",
            "Messages written by the file channel: 5",
            "Evidence bundles: 4 written, 4 verified",
        ] {
            assert!(
                text.contains(expected),
                "round {round}: `{expected}` in\n{text}"
            );
        }
        assert_eq!(text.matches("\n  pass  ").count(), 3, "{text}");
        assert!(!text.contains("INVALID"), "{text}");
    }
    // What it wrote is real: the bundles verify with the `verify` command and the public key.
    let evidence = out
        .join("evidence")
        .join(procurize_sim::SAMPLE_ORGANIZATION);
    let bundles: Vec<_> = std::fs::read_dir(&evidence)
        .expect("evidence")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    assert_eq!(
        bundles.len(),
        4,
        "the second run replaced the first: {bundles:?}"
    );
    let verified = run(procurize()
        .arg("verify")
        .arg("--key")
        .arg(out.join("keys/evidence.pub"))
        .arg(&bundles[0]));
    assert!(verified.status.success(), "{}", stdout(&verified));
    let messages = std::fs::read_dir(out.join("messages"))
        .expect("messages")
        .count();
    assert_eq!(messages, 5);
    // The configuration it ran with passes the server's own check.
    let checked = run(procurize()
        .args(["serve", "--check-config", "--config"])
        .arg(out.join("procurize.toml")));
    assert!(checked.status.success(), "{}", stderr(&checked));
    assert!(stdout(&checked).contains("configuration is valid"));
    let jobs = run(procurize()
        .args(["jobs", "list", "--format", "json", "--store"])
        .arg(out.join("procurize.db")));
    let jobs: Vec<serde_json::Value> = serde_json::from_str(&stdout(&jobs)).expect("JSON");
    assert_eq!(jobs.len(), 12);
    assert!(jobs.iter().all(|j| j["state"] == "done"));
    // A done job cannot be retried; a job that does not exist is named; purging keeps recent events.
    let store = out.join("procurize.db");
    let done = run(procurize()
        .args(["jobs", "retry", "1", "--store"])
        .arg(&store));
    assert_eq!(done.status.code(), Some(2));
    assert!(stderr(&done).contains("job 1 is done"), "{}", stderr(&done));
    let missing = run(procurize()
        .args(["jobs", "retry", "999", "--store"])
        .arg(&store));
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).contains("there is no job 999"));
    let purged = run(procurize()
        .args(["jobs", "purge", "--older-than", "1", "--store"])
        .arg(&store));
    assert!(purged.status.success());
    assert!(
        stdout(&purged).starts_with("deleted 0 finished events"),
        "{}",
        stdout(&purged)
    );
    let none = run(procurize()
        .args(["jobs", "list", "--store"])
        .arg(dir.path().join("nothing.db")));
    assert_eq!(none.status.code(), Some(2));
    assert!(stderr(&none).contains("there is no store"));
}

#[test]
fn the_demo_refuses_a_folder_it_did_not_write() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("precious.txt"), "keep me").expect("write");
    let result = run(procurize().arg("demo").arg("--out").arg(dir.path()));
    assert_eq!(result.status.code(), Some(2), "{}", stderr(&result));
    assert!(stderr(&result).contains("was not written by `procurize demo`"));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("precious.txt")).expect("still there"),
        "keep me"
    );
}

fn write(dir: &std::path::Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write");
    path
}

const MINIMAL: &str = r#"[api]
organizations = ["00000000-0000-0000-0000-000000000001"]

[webhook]

[[webhook.secret]]
env = "PROCURIZE_TEST_WEBHOOK_SECRET"
"#;

#[tokio::test]
async fn check_config_finds_missing_secrets_unknown_keys_and_bad_stores() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write(dir.path(), "procurize.toml", MINIMAL);

    // The secret's variable is not set: named, exit 2.
    let mut command = procurize();
    command
        .args(["serve", "--check-config", "--config"])
        .arg(&config);
    let result = output(command).await;
    assert_eq!(result.status.code(), Some(2));
    assert!(
        stderr(&result)
            .contains("the environment variable PROCURIZE_TEST_WEBHOOK_SECRET is not set"),
        "{}",
        stderr(&result)
    );

    // Set: valid, and the store is created beside the file.
    let mut command = procurize();
    command
        .env("PROCURIZE_TEST_WEBHOOK_SECRET", "s3cr3t-value")
        .args(["serve", "--check-config", "--config"])
        .arg(&config);
    let result = output(command).await;
    assert!(result.status.success(), "{}", stderr(&result));
    assert!(!stdout(&result).contains("s3cr3t-value"));
    assert!(dir.path().join("procurize.db").is_file());

    // An unknown key: file, line and key.
    let typo = write(
        dir.path(),
        "typo.toml",
        &format!("{MINIMAL}\n[jobs]\nmax_attempt = 3\n"),
    );
    let mut command = procurize();
    command
        .args(["serve", "--check-config", "--config"])
        .arg(&typo);
    let result = output(command).await;
    assert_eq!(result.status.code(), Some(2));
    let message = stderr(&result);
    assert!(message.contains("typo.toml:10"), "{message}");
    assert!(message.contains("max_attempt"), "{message}");

    // A route naming a channel that does not exist, inside [notify].
    let route = write(
        dir.path(),
        "route.toml",
        &format!(
            "{MINIMAL}\n[notify.channels.files]\ntype = \"file\"\nfolder = \"m\"\nformat = \"email\"\n\n[[notify.route]]\nchannels = [\"slack\"]\n"
        ),
    );
    let mut command = procurize();
    command
        .env("PROCURIZE_TEST_WEBHOOK_SECRET", "x")
        .args(["serve", "--check-config", "--config"])
        .arg(&route);
    let result = output(command).await;
    assert_eq!(result.status.code(), Some(2));
    assert!(
        stderr(&result).contains("route.toml:14"),
        "{}",
        stderr(&result)
    );
    assert!(stderr(&result).contains("`slack`"), "{}", stderr(&result));

    // A store that is not one.
    write(
        dir.path(),
        "junk.db",
        "this is not an SQLite database at all, just text",
    );
    let junk = write(
        dir.path(),
        "junk.toml",
        &format!("{MINIMAL}\n[store]\npath = \"junk.db\"\n"),
    );
    let mut command = procurize();
    command
        .env("PROCURIZE_TEST_WEBHOOK_SECRET", "x")
        .args(["serve", "--check-config", "--config"])
        .arg(&junk);
    let result = output(command).await;
    assert_eq!(result.status.code(), Some(3));
    assert!(stderr(&result).contains("junk.db"), "{}", stderr(&result));
}

/// The configuration reference's complete example (docs/configuration.md) parses, and with its secrets in place passes
/// `--check-config`.
#[tokio::test]
async fn the_readme_example_configuration_is_valid() {
    let readme = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/configuration.md"
    ))
    .expect("docs/configuration.md");
    let start = readme
        .find("<!-- server-config:start -->")
        .expect("the page marks its example configuration");
    let end = readme
        .find("<!-- server-config:end -->")
        .expect("end marker");
    let block = &readme[start..end];
    let toml = block
        .split_once("```toml\n")
        .and_then(|(_, rest)| rest.split_once("```"))
        .map(|(toml, _)| toml)
        .expect("a toml block");
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write(dir.path(), "procurize.toml", toml);
    // The files the example names.
    std::fs::create_dir_all(dir.path().join("secrets")).expect("dir");
    let key =
        procurize_archive::SigningKey::generate(procurize_archive::Algorithm::P256).expect("key");
    procurize_archive::write_key_pair(&key, &dir.path().join("secrets/evidence")).expect("key");
    let mut command = procurize();
    command
        .env("PROCURIZE_WEBHOOK_SECRET", "new")
        .env("PROCURIZE_WEBHOOK_SECRET_OLD", "old")
        .env("SMTP_PASSWORD", "password")
        .env("SLACK_BOT_TOKEN", "xoxb-1")
        .env("JIRA_API_TOKEN", "token")
        .args(["serve", "--check-config", "--config"])
        .arg(&config);
    let result = output(command).await;
    assert!(
        result.status.success(),
        "{}\n{}",
        stdout(&result),
        stderr(&result)
    );
}
