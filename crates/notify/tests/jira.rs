//! The Jira channel against a local Jira-shaped server (tests/support): the first failure creates
//! an issue, a repeat comments on it, a resolved issue leads to a new one; search lag is covered by
//! the local record; Cloud (basic) and Data Center (bearer) authentication.

#[path = "support/fake_jira.rs"]
mod fake_jira;

use std::io::Write;

use procurize_notify::event::sample;
use procurize_notify::{Config, EventKind, Notifier};

fn notifier(dir: &std::path::Path, base: &str, deployment: &str) -> Notifier {
    std::fs::write(dir.join("jira.token"), "s3cret-token\n").expect("write");
    let email = if deployment == "cloud" {
        "email = \"bot@example.com\"\n"
    } else {
        ""
    };
    let text = format!(
        "[channels.jira]\ntype = \"jira\"\nurl = \"{base}\"\ndeployment = \"{deployment}\"\nproject = \"SEC\"\n{email}token_file = \"jira.token\"\nlabels = [\"security\"]\n\n[[route]]\nchannels = [\"jira\"]\n"
    );
    let path = dir.join("notify.toml");
    std::fs::File::create(&path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .expect("write");
    Notifier::new(Config::from_file(&path).expect("config")).expect("notifier")
}

#[tokio::test]
async fn first_failure_creates_a_repeat_comments_and_a_resolved_issue_leads_to_a_new_one() {
    for deployment in ["data_center", "cloud"] {
        let (base, state) = fake_jira::fake_jira().await;
        let dir = tempfile::tempdir().expect("dir");
        let notifier = notifier(dir.path(), &base, deployment);
        let event = sample(EventKind::GateFailed);

        let first = notifier.deliver(std::slice::from_ref(&event)).await;
        assert_eq!(first[0].detail, "created SEC-1", "{deployment}: {first:?}");
        let second = notifier.deliver(std::slice::from_ref(&event)).await;
        assert_eq!(
            second[0].detail, "commented on SEC-1",
            "{deployment}: {second:?}"
        );
        {
            let mut s = state.lock().expect("lock");
            assert_eq!(s.issues.len(), 1);
            assert_eq!(s.issues[0].comments.len(), 1);
            let labels = &s.issues[0].labels;
            assert!(
                labels.contains(&"procurize".to_owned()) && labels.contains(&"security".to_owned())
            );
            assert!(labels.contains(&format!("procurize-{}", &event.fingerprint[..16])));
            // The search was percent-encoded JQL for the fingerprint label.
            assert!(
                s.searches[0].contains("labels = \"procurize-0000000000000000\""),
                "{:?}",
                s.searches
            );
            s.issues[0].resolved = true;
        }
        let third = notifier.deliver(std::slice::from_ref(&event)).await;
        assert_eq!(third[0].detail, "created SEC-2", "{deployment}: {third:?}");

        let authorizations = state.lock().expect("lock").authorizations.clone();
        let expected = if deployment == "cloud" {
            // base64("bot@example.com:s3cret-token")
            "Basic Ym90QGV4YW1wbGUuY29tOnMzY3JldC10b2tlbg=="
        } else {
            "Bearer s3cret-token"
        };
        assert!(
            authorizations.iter().all(|a| a == expected),
            "{deployment}: {authorizations:?}"
        );
        let health = notifier.healthcheck().await;
        assert!(health[0].1.is_ok(), "{health:?}");
    }
}

#[tokio::test]
async fn an_issue_search_cannot_see_yet_is_found_in_the_local_record() {
    let (base, state) = fake_jira::fake_jira().await;
    let dir = tempfile::tempdir().expect("dir");
    let notifier = notifier(dir.path(), &base, "data_center");
    let event = sample(EventKind::GateFailed);
    state.lock().expect("lock").search_lags = true;
    assert_eq!(
        notifier.deliver(std::slice::from_ref(&event)).await[0].detail,
        "created SEC-1"
    );
    assert_eq!(
        notifier.deliver(std::slice::from_ref(&event)).await[0].detail,
        "commented on SEC-1"
    );
    assert_eq!(
        state.lock().expect("lock").issues.len(),
        1,
        "no duplicate while search lags"
    );
    let record = std::fs::read_to_string(dir.path().join("jira-issues.json")).expect("record");
    assert!(record.contains("SEC-1"), "{record}");
}

#[tokio::test]
async fn jira_refusals_are_reported_with_jiras_answer_and_not_retried() {
    let (base, state) = fake_jira::fake_jira().await;
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(dir.path().join("jira.token"), "t").expect("write");
    let text = format!(
        "[channels.jira]\ntype = \"jira\"\nurl = \"{base}\"\ndeployment = \"data_center\"\nproject = \"NOPE\"\ntoken_file = \"jira.token\"\n\n[[route]]\nchannels = [\"jira\"]\n"
    );
    std::fs::write(dir.path().join("notify.toml"), text).expect("write");
    let notifier =
        Notifier::new(Config::from_file(&dir.path().join("notify.toml")).expect("config"))
            .expect("notifier");
    let delivery = &notifier.deliver(&[sample(EventKind::GateFailed)]).await[0];
    assert!(!delivery.delivered);
    assert_eq!(delivery.attempts, 1, "a 400 is not retried");
    assert!(
        delivery.detail.starts_with("Jira answered HTTP 400"),
        "{}",
        delivery.detail
    );
    assert!(
        delivery.detail.contains("You must specify a summary"),
        "{}",
        delivery.detail
    );
    assert!(state.lock().expect("lock").issues.is_empty());
}

#[tokio::test]
async fn a_refused_token_is_reported_with_our_configuration_keys() {
    for (deployment, hint) in [
        ("data_center", "personal access token"),
        ("cloud", "`email`"),
    ] {
        let (base, state) = fake_jira::fake_jira().await;
        state.lock().expect("lock").accepted_authorization = Some("Bearer another-token".into());
        let dir = tempfile::tempdir().expect("dir");
        let notifier = notifier(dir.path(), &base, deployment);
        let health = notifier.healthcheck().await;
        let reason = health[0].1.as_ref().expect_err("refused");
        assert!(
            reason.contains("Jira refused the channel's credentials (HTTP 401")
                && reason.contains("`token_env` or `token_file`")
                && reason.contains(hint)
                && reason.contains("You are not authenticated"),
            "{deployment}: {reason}"
        );
        assert!(!reason.contains("JIRA_API_KEY"), "{deployment}: {reason}");
        assert!(!reason.contains("s3cret-token"), "{deployment}: {reason}");
    }
}

#[tokio::test]
async fn a_dry_run_shows_the_issue_exactly_as_it_is_created() {
    let (base, state) = fake_jira::fake_jira().await;
    let dir = tempfile::tempdir().expect("dir");
    let notifier = notifier(dir.path(), &base, "data_center");
    let event = sample(EventKind::GateFailed);
    let planned = notifier
        .dry_run(std::slice::from_ref(&event))
        .expect("dry run");
    assert_eq!(planned.len(), 1);
    assert!(
        state.lock().expect("lock").created.is_empty(),
        "a dry run sends nothing"
    );
    let shown: serde_json::Value = serde_json::from_slice(&planned[0].2).expect("JSON");
    // The configured project, issue type and labels are in it.
    assert_eq!(shown["fields"]["project"]["key"], "SEC");
    assert!(shown["fields"]["issuetype"]["name"].is_string(), "{shown}");
    assert!(
        shown["fields"]["labels"]
            .as_array()
            .is_some_and(|l| l.iter().any(|l| l == "security")),
        "{shown}"
    );
    let delivered = notifier.deliver(std::slice::from_ref(&event)).await;
    assert_eq!(delivered[0].detail, "created SEC-1", "{delivered:?}");
    let created = state.lock().expect("lock").created.clone();
    assert_eq!(created, vec![shown]);
}
