//! Posting the gate's comment against local GitHub and GitLab fakes that speak the documented
//! shapes: the first run creates, the next ones edit, pages are followed, other authors' comments
//! are left alone, and refusals are errors that show no token.

mod fake;

use std::collections::HashMap;
use std::time::Duration;

use procurize_gate::Status;
use procurize_review::{Comment, Detected, Posted, ReviewError, Scope, Target, post};

fn target(env: &HashMap<&str, String>) -> Target {
    match Target::from_env(|name| env.get(name).cloned()).expect("environment") {
        Detected::Target(target) => target,
        Detected::NotAReview(why) => panic!("not a review: {why}"),
    }
}

fn github_env(fake: &fake::Fake, event: &std::path::Path) -> HashMap<&'static str, String> {
    HashMap::from([
        ("GITHUB_ACTIONS", "true".to_owned()),
        ("GITHUB_API_URL", fake.base.clone()),
        ("GITHUB_REPOSITORY", fake::REPOSITORY.to_owned()),
        ("GITHUB_EVENT_NAME", "pull_request".to_owned()),
        ("GITHUB_EVENT_PATH", event.display().to_string()),
        ("GITHUB_TOKEN", fake::TOKEN.to_owned()),
    ])
}

fn gitlab_env(fake: &fake::Fake) -> HashMap<&'static str, String> {
    HashMap::from([
        ("GITLAB_CI", "true".to_owned()),
        ("CI_API_V4_URL", format!("{}/api/v4", fake.base)),
        ("CI_PROJECT_ID", fake::PROJECT.to_string()),
        (
            "CI_PROJECT_URL",
            "https://gitlab.example.com/acme/payments".to_owned(),
        ),
        ("CI_MERGE_REQUEST_IID", fake::MERGE_REQUEST.to_string()),
        ("PROCURIZE_GITLAB_TOKEN", fake::TOKEN.to_owned()),
    ])
}

async fn send(
    target: &Target,
    scope: &Scope,
    status: Status,
    markdown: &str,
) -> Result<Posted, ReviewError> {
    let comment = Comment {
        scope,
        status,
        markdown,
    };
    post(target, &comment, Duration::from_secs(5)).await
}

/// The scenario both forges must pass: `others` is the author of other people's comments,
/// `me` the token's own.
async fn one_comment_per_scope(fake: &fake::Fake, target: &Target, me: &str, others: &str) {
    let scope = Scope::projects(&["Payments API".into()]);
    let marker_line = format!("<!-- procurize-gate scope={} status=fail -->", scope.key());
    // Two and a half pages of other people's comments, and another bot's comment carrying the
    // very same marker: the search must reach page 3 and must not take the impostor's.
    for n in 0..230 {
        fake.seed(others, &format!("comment {n}"));
    }
    let impostor = fake.seed(others, &format!("{marker_line}\nquoted by another bot"));

    let first = send(target, &scope, Status::Fail, "### ❌ failed\n")
        .await
        .expect("first run");
    assert!(matches!(first, Posted::Created { .. }), "{first:?}");
    let second = send(target, &scope, Status::Fail, "### ❌ still failing\n")
        .await
        .expect("second run");
    assert!(matches!(second, Posted::Updated { .. }), "{second:?}");
    let third = send(target, &scope, Status::Pass, "### ✅ passed\n")
        .await
        .expect("third run");
    assert!(matches!(third, Posted::Updated { .. }), "{third:?}");

    let comments = fake.comments();
    let mine: Vec<_> = comments.iter().filter(|c| c.author == me).collect();
    assert_eq!(mine.len(), 1, "exactly one comment of ours: {mine:?}");
    let body = &mine[0].body;
    assert!(
        body.starts_with(&format!(
            "<!-- procurize-gate scope={} status=pass -->\n",
            scope.key()
        )),
        "{body}"
    );
    assert!(
        body.contains("failed on an earlier run and passes now"),
        "{body}"
    );
    assert!(body.ends_with("### ✅ passed\n"), "{body}");
    let left = comments
        .iter()
        .find(|c| c.id == impostor)
        .expect("impostor");
    assert!(left.body.ends_with("quoted by another bot"), "left alone");
    let pages: Vec<String> = fake
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.target.contains("page=3"))
        .map(|r| r.target.clone())
        .collect();
    assert!(!pages.is_empty(), "page 3 was read: {:?}", fake.requests());

    // Another scope is another comment.
    let every = Scope::projects(&[]);
    let other = send(target, &every, Status::Pass, "### ✅ every project\n")
        .await
        .expect("other scope");
    assert!(matches!(other, Posted::Created { .. }));
    assert_eq!(fake.comments().iter().filter(|c| c.author == me).count(), 2);

    // A refusal is an error with the forge's message and status, never the token; not retryable.
    fake.refuse_writes(403);
    let error = send(target, &scope, Status::Fail, "### ❌\n")
        .await
        .expect_err("refused");
    assert!(
        matches!(error, ReviewError::Http { status: 403, .. }),
        "{error:?}"
    );
    assert!(!error.is_retryable());
    for shown in [
        error.to_string(),
        format!("{error:?}"),
        format!("{target:?}"),
    ] {
        assert!(!shown.contains(fake::TOKEN), "{shown}");
    }
}

#[tokio::test]
async fn github_pull_requests_carry_exactly_one_comment_per_scope() {
    let fake = fake::github().await;
    let dir = tempfile::tempdir().expect("dir");
    let dir = dir.path();
    let event = dir.join("event.json");
    std::fs::write(
        &event,
        format!(
            r#"{{"action":"synchronize","pull_request":{{"number":{}}}}}"#,
            fake::PULL
        ),
    )
    .expect("event");
    let target = target(&github_env(&fake, &event));
    assert_eq!(
        target.describe(),
        format!("pull request {}#{}", fake::REPOSITORY, fake::PULL)
    );
    one_comment_per_scope(&fake, &target, fake::GITHUB_BOT, "renovate[bot]").await;
    let created = fake
        .requests()
        .into_iter()
        .find(|r| r.method == "POST")
        .expect("post");
    assert_eq!(
        created.target,
        format!("/repos/{}/issues/{}/comments", fake::REPOSITORY, fake::PULL)
    );
    assert!(fake.requests().iter().any(|r| {
        r.method == "PATCH"
            && r.target
                .starts_with(&format!("/repos/{}/issues/comments/", fake::REPOSITORY))
    }));
}

#[tokio::test]
async fn gitlab_merge_requests_carry_exactly_one_note_per_scope() {
    let fake = fake::gitlab().await;
    let target = target(&gitlab_env(&fake));
    assert_eq!(
        target.describe(),
        format!(
            "merge request !{} of project {}",
            fake::MERGE_REQUEST,
            fake::PROJECT
        )
    );
    one_comment_per_scope(&fake, &target, &fake::GITLAB_BOT.to_string(), "17").await;
    let notes = format!(
        "/api/v4/projects/{}/merge_requests/{}/notes",
        fake::PROJECT,
        fake::MERGE_REQUEST
    );
    assert!(
        fake.requests()
            .iter()
            .any(|r| r.method == "POST" && r.target == notes)
    );
    assert!(
        fake.requests()
            .iter()
            .any(|r| r.method == "PUT" && r.target.starts_with(&format!("{notes}/")))
    );
}

#[tokio::test]
async fn outside_a_review_nothing_is_sent_and_missing_tokens_are_named() {
    let none = |_: &str| None;
    assert!(matches!(
        Target::from_env(none),
        Ok(Detected::NotAReview(_))
    ));
    let dir = tempfile::tempdir().expect("dir");
    let dir = dir.path();
    let push = dir.join("push.json");
    std::fs::write(&push, r#"{"ref":"refs/heads/main"}"#).expect("event");
    let fake = fake::github().await;
    let mut env = github_env(&fake, &push);
    env.insert("GITHUB_EVENT_NAME", "push".into());
    match Target::from_env(|n| env.get(n).cloned()).expect("ok") {
        Detected::NotAReview(why) => assert_eq!(why, "the push event is not for a pull request"),
        other => panic!("{other:?}"),
    }
    let pr = dir.join("pr.json");
    std::fs::write(&pr, r#"{"pull_request":{"number":7}}"#).expect("event");
    let mut env = github_env(&fake, &pr);
    env.remove("GITHUB_TOKEN");
    let error = Target::from_env(|n| env.get(n).cloned()).expect_err("no token");
    assert!(
        error.to_string().starts_with("GITHUB_TOKEN is not set; "),
        "{error}"
    );

    let gitlab = fake::gitlab().await;
    let mut env = gitlab_env(&gitlab);
    env.remove("CI_MERGE_REQUEST_IID");
    assert!(matches!(
        Target::from_env(|n| env.get(n).cloned()),
        Ok(Detected::NotAReview(_))
    ));
    let mut env = gitlab_env(&gitlab);
    env.remove("PROCURIZE_GITLAB_TOKEN");
    let error = Target::from_env(|n| env.get(n).cloned()).expect_err("no token");
    assert!(
        error
            .to_string()
            .contains("CI_JOB_TOKEN cannot write notes"),
        "{error}"
    );
    assert!(fake.requests().is_empty() && gitlab.requests().is_empty());
}

#[tokio::test]
async fn nothing_listening_is_a_retryable_transport_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    drop(listener);
    let env = HashMap::from([
        ("GITLAB_CI", "true".to_owned()),
        ("CI_API_V4_URL", format!("{base}/api/v4")),
        ("CI_PROJECT_ID", "42".to_owned()),
        ("CI_MERGE_REQUEST_IID", "3".to_owned()),
        ("PROCURIZE_GITLAB_TOKEN", fake::TOKEN.to_owned()),
    ]);
    let error = send(&target(&env), &Scope::projects(&[]), Status::Pass, "ok")
        .await
        .expect_err("down");
    assert!(matches!(error, ReviewError::Transport { .. }), "{error:?}");
    assert!(error.is_retryable());
}
