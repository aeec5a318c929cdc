//! Delivery against real peers: e-mail to a real SMTP server (aiosmtpd) on 127.0.0.1, files on
//! disk; one channel down while the others deliver; retries; dry runs; strict configuration.

#[path = "../../../tests/common/smtp.rs"]
mod smtp;

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use smtp::Smtp;

use procurize_core::RetryPolicy;
use procurize_notify::event::sample;
use procurize_notify::{Config, EventKind, Notifier};

fn config(dir: &Path, text: &str) -> Config {
    let path = dir.join("notify.toml");
    std::fs::File::create(&path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .expect("write");
    Config::from_file(&path).expect("valid config")
}

fn quick(notifier: Notifier) -> Notifier {
    notifier.with_retry(RetryPolicy {
        max_attempts: 3,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
        max_retry_after: Duration::from_millis(100),
    })
}

#[tokio::test]
async fn email_reaches_a_real_smtp_server_as_multipart_alternative() {
    let Some(smtp) = Smtp::start(0) else { return };
    let dir = tempfile::tempdir().expect("dir");
    let notifier = quick(
        Notifier::new(config(
            dir.path(),
            &format!(
                r#"
[channels.mail]
type = "email"
url = "smtp://127.0.0.1:{}"
from = "Procurize <security@example.com>"
to = ["release-team@example.com", "grc@example.com"]

[[route]]
events = ["gate_failed"]
channels = ["mail"]
"#,
                smtp.port
            ),
        ))
        .expect("notifier"),
    );
    let event = sample(EventKind::GateFailed);
    let deliveries = notifier.deliver(std::slice::from_ref(&event)).await;
    assert_eq!(deliveries.len(), 1);
    assert!(deliveries[0].delivered, "{deliveries:?}");
    let messages = smtp.messages();
    assert_eq!(messages.len(), 1);
    let eml = &messages[0];
    assert!(eml.contains("Content-Type: multipart/alternative"), "{eml}");
    assert!(
        eml.contains("Content-Type: text/plain; charset=utf-8"),
        "{eml}"
    );
    assert!(
        eml.contains("Content-Type: text/html; charset=utf-8"),
        "{eml}"
    );
    assert!(
        eml.contains(&format!(
            "Message-ID: <{}.gate_failed@example.com>",
            event.fingerprint
        )),
        "{eml}"
    );
    assert!(
        eml.contains("From: Procurize <security@example.com>"),
        "{eml}"
    );
    assert!(
        eml.contains("release-team@example.com") && eml.contains("grc@example.com"),
        "{eml}"
    );
    // The Japanese subject is RFC 2047 encoded, and decodes back.
    let subject = eml
        .lines()
        .find(|l| l.starts_with("Subject: "))
        .expect("subject");
    assert!(subject.contains("=?utf-8?b?"), "{subject}");
    assert!(subject.is_ascii());
}

#[tokio::test]
async fn one_channel_down_does_not_stop_the_others_and_retries_are_bounded() {
    let dir = tempfile::tempdir().expect("dir");
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let notifier = quick(
        Notifier::new(config(
            dir.path(),
            &format!(
                r#"
timeout_seconds = 2

[channels.down]
type = "email"
url = "smtp://127.0.0.1:{closed}"
from = "p@example.com"
to = ["t@example.com"]

[channels.audit]
type = "file"
folder = "audit"
format = "jira"

[[route]]
channels = ["down", "audit"]
"#
            ),
        ))
        .expect("notifier"),
    );
    let events = [
        sample(EventKind::GateFailed),
        sample(EventKind::ReportPublished),
    ];
    let deliveries = notifier.deliver(&events).await;
    assert_eq!(deliveries.len(), 4);
    for d in &deliveries {
        match d.channel.as_str() {
            "audit" => assert!(d.delivered && d.attempts == 1, "{d:?}"),
            "down" => {
                assert!(!d.delivered && d.attempts == 3, "{d:?}");
                assert!(
                    d.detail.to_lowercase().contains("connect") || d.detail.contains("refused"),
                    "{}",
                    d.detail
                );
            }
            other => panic!("unexpected channel {other}"),
        }
    }
    let written: Vec<_> = std::fs::read_dir(dir.path().join("audit"))
        .expect("dir")
        .collect();
    assert_eq!(written.len(), 2);
    // The Jira payload carries the fingerprint label.
    let payload: serde_json::Value = serde_json::from_slice(
        &std::fs::read(
            dir.path()
                .join("audit")
                .join(format!("{}.gate_failed.json", events[0].fingerprint)),
        )
        .expect("json"),
    )
    .expect("json");
    assert!(
        payload["fields"]["labels"]
            .as_array()
            .expect("labels")
            .len()
            == 2
    );
    // Healthchecks: the file channel is fine, the SMTP server is not there.
    let health = notifier.healthcheck().await;
    assert!(health.iter().any(|(n, r)| n == "audit" && r.is_ok()));
    assert!(health.iter().any(|(n, r)| n == "down" && r.is_err()));
}

#[tokio::test]
async fn transient_smtp_refusals_are_retried_until_accepted() {
    let Some(smtp) = Smtp::start(2) else { return };
    let dir = tempfile::tempdir().expect("dir");
    let notifier = quick(
        Notifier::new(config(
            dir.path(),
            &format!(
                "[channels.mail]\ntype = \"email\"\nurl = \"smtp://127.0.0.1:{}\"\nfrom = \"p@example.com\"\nto = [\"t@example.com\"]\n\n[[route]]\nchannels = [\"mail\"]\n",
                smtp.port
            ),
        ))
        .expect("notifier"),
    );
    let deliveries = notifier.deliver(&[sample(EventKind::GateWarned)]).await;
    assert!(deliveries[0].delivered, "{deliveries:?}");
    assert_eq!(deliveries[0].attempts, 3);
    assert_eq!(smtp.messages().len(), 1, "delivered exactly once");
    assert!(notifier.healthcheck().await[0].1.is_ok());
}

#[tokio::test]
async fn routing_rules_filter_by_event_project_and_rating_and_dry_runs_send_nothing() {
    let dir = tempfile::tempdir().expect("dir");
    let notifier = Notifier::new(config(
        dir.path(),
        r#"
[channels.jira]
type = "file"
folder = "jira"
format = "jira"

[channels.slack]
type = "file"
folder = "slack"
format = "slack"

[[route]]
events = ["gate_failed"]
projects = ["会計*"]
rating_at_or_below = "C"
channels = ["jira"]

[[route]]
channels = ["slack"]
"#,
    ))
    .expect("notifier");
    let failed = sample(EventKind::GateFailed); // 会計ポータル…, rating D
    let mut elsewhere = failed.clone();
    elsewhere.project = Some("Test product".into());
    let mut better = failed.clone();
    better.rating = Some(procurize_core::SecurityRating::B);
    let published = sample(EventKind::ReportPublished);
    let plan: Vec<(String, String)> = notifier
        .plan(&[failed.clone(), elsewhere, better, published])
        .into_iter()
        .map(|(e, c)| {
            (
                format!("{}:{:?}:{:?}", e.kind.as_str(), e.project, e.rating),
                c,
            )
        })
        .collect();
    assert_eq!(
        plan.iter().filter(|(_, c)| c == "jira").count(),
        1,
        "{plan:?}"
    );
    assert_eq!(
        plan.iter().filter(|(_, c)| c == "slack").count(),
        4,
        "{plan:?}"
    );
    let rendered = notifier
        .dry_run(std::slice::from_ref(&failed))
        .expect("dry run");
    assert_eq!(rendered.len(), 2);
    let slack: serde_json::Value =
        serde_json::from_slice(&rendered.iter().find(|r| r.0 == "slack").expect("slack").2)
            .expect("json");
    assert_eq!(slack["blocks"][0]["type"], "section");
    assert!(
        slack["blocks"][0]["text"]["text"]
            .as_str()
            .expect("text")
            .contains("&lt;Payments &amp; Co&gt;")
    );
    assert!(
        !dir.path().join("slack").exists(),
        "a dry run writes nothing"
    );
}

#[test]
fn configuration_is_strict_and_errors_name_file_and_line() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("notify.toml");
    for (text, needle) in [
        (
            "[channels.a]\ntype = \"file\"\nfolder = \"x\"\nformat = \"jira\"\ncolour = \"red\"\n",
            "notify.toml:5:1: unknown field `colour`",
        ),
        (
            "[channels.a]\ntype = \"pager\"\n",
            "unknown variant `pager`",
        ),
        (
            "[channels.a]\ntype = \"file\"\nfolder = \"x\"\nformat = \"jira\"\n\n[[route]]\nchannels = [\"b\"]\n",
            "notify.toml:6: the route names channel `b`",
        ),
        (
            "[channels.a]\ntype = \"file\"\nfolder = \"x\"\nformat = \"jira\"\n\n[[route]]\nevents = [\"gate_exploded\"]\nchannels = [\"a\"]\n",
            "unknown variant `gate_exploded`",
        ),
    ] {
        std::fs::write(&path, text).expect("write");
        let err = Config::from_file(&path).expect_err(text).to_string();
        assert!(err.contains(needle), "{text:?} → {err}");
    }
    std::fs::write(
        &path,
        "[channels.m]\ntype = \"email\"\nurl = \"smtp://127.0.0.1:25\"\nfrom = \"p@example.com\"\nto = [\"t@example.com\"]\nusername = \"u\"\npassword_env = \"PROCURIZE_TEST_NO_SUCH_VAR\"\n",
    )
    .expect("write");
    let err = Notifier::new(Config::from_file(&path).expect("config"))
        .expect_err("missing secret")
        .to_string();
    assert!(err.contains("PROCURIZE_TEST_NO_SUCH_VAR"), "{err}");
}

#[test]
fn the_reference_configuration_example_is_valid() {
    let readme = include_str!("../../../docs/configuration.md");
    let block = readme
        .split("```toml\n")
        .skip(1)
        .filter_map(|rest| rest.split_once("```").map(|(toml, _)| toml))
        .find(|toml| toml.contains("[channels.security-mail]"))
        .expect("the notifier example");
    let dir = tempfile::tempdir().expect("dir");
    let config = config(dir.path(), block);
    assert_eq!(config.channels.len(), 4);
    assert_eq!(config.routes.len(), 3);
    assert_eq!(config.attempts, 3);
}

#[tokio::test]
async fn required_tls_on_a_server_without_starttls_fails_once_and_is_not_retried() {
    let Some(smtp) = Smtp::start(0) else { return };
    let dir = tempfile::tempdir().expect("dir");
    let notifier = quick(
        Notifier::new(config(
            dir.path(),
            &format!(
                r#"
[channels.mail]
type = "email"
url = "smtp://127.0.0.1:{}?tls=required"
from = "security@example.com"
to = ["grc@example.com"]

[[route]]
channels = ["mail"]
"#,
                smtp.port
            ),
        ))
        .expect("notifier"),
    );
    let delivery = &notifier.deliver(&[sample(EventKind::GateFailed)]).await[0];
    assert!(!delivery.delivered);
    assert!(delivery.detail.contains("STARTTLS"), "{}", delivery.detail);
    assert_eq!(delivery.attempts, 1, "not retried: {}", delivery.detail);
    assert!(!delivery.retryable, "{}", delivery.detail);
}

#[test]
fn every_channel_reads_its_secrets_the_same_way() {
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(dir.path().join("secret"), "s3cret\n").expect("write");
    let path = dir.path().join("notify.toml");
    let cases = [
        // Both sources: refused, where the e-mail channel used to prefer the variable silently.
        (
            "[channels.m]\ntype = \"email\"\nurl = \"smtp://127.0.0.1:25\"\nfrom = \"p@example.com\"\nto = [\"t@example.com\"]\nusername = \"u\"\npassword_env = \"HOME\"\npassword_file = \"secret\"\n",
            "give `password_env` or `password_file`, not both",
        ),
        // An empty file: refused by every channel alike.
        (
            "[channels.s]\ntype = \"slack\"\ntoken_file = \"empty\"\nchannel = \"#security\"\n",
            "is empty",
        ),
        (
            "[channels.j]\ntype = \"jira\"\nurl = \"http://127.0.0.1:9\"\ndeployment = \"data_center\"\nproject = \"SEC\"\ntoken_file = \"empty\"\n",
            "is empty",
        ),
    ];
    std::fs::write(dir.path().join("empty"), "\n").expect("write");
    for (text, needle) in cases {
        std::fs::write(&path, text).expect("write");
        let err = Notifier::new(Config::from_file(&path).expect("config"))
            .expect_err(text)
            .to_string();
        assert!(err.contains(needle), "{text:?} → {err}");
        assert!(!err.contains("s3cret"), "{err}");
    }
}

/// The message text without its `Date:` header, the one line that depends on when it was made,
/// and without the line end SMTP's end-of-data framing adds after the last line.
fn undated(message: &str) -> String {
    message
        .trim_end_matches("\r\n")
        .split("\r\n")
        .filter(|line| !line.starts_with("Date: "))
        .collect::<Vec<_>>()
        .join("\r\n")
}

#[tokio::test]
async fn the_file_channel_keeps_the_email_the_email_channel_sends() {
    let Some(smtp) = Smtp::start(0) else { return };
    let dir = tempfile::tempdir().expect("dir");
    let notifier = quick(
        Notifier::new(config(
            dir.path(),
            &format!(
                r#"
[channels.mail]
type = "email"
url = "smtp://127.0.0.1:{}"
from = "Procurize <security@example.com>"
to = ["release-team@example.com", "GRC <grc@example.com>"]

[channels.audit]
type = "file"
folder = "audit"
format = "email"
from = "Procurize <security@example.com>"
to = ["release-team@example.com", "GRC <grc@example.com>"]

[[route]]
channels = ["mail", "audit"]
"#,
                smtp.port
            ),
        ))
        .expect("notifier"),
    );
    let event = sample(EventKind::GateFailed);
    let deliveries = notifier.deliver(std::slice::from_ref(&event)).await;
    assert!(deliveries.iter().all(|d| d.delivered), "{deliveries:?}");
    let sent = smtp.messages();
    assert_eq!(sent.len(), 1);
    let kept = std::fs::read_to_string(
        dir.path()
            .join("audit")
            .join(format!("{}.gate_failed.eml", event.fingerprint)),
    )
    .expect("the .eml");
    // Byte for byte but for the Date header (each is dated when it was made), which both have.
    assert_eq!(undated(&sent[0]), undated(&kept));
    assert!(sent[0].contains("\r\nDate: ") && kept.contains("\r\nDate: "));
    assert!(
        kept.contains(&format!(
            "Message-ID: <{}.gate_failed@example.com>",
            event.fingerprint
        )),
        "{kept}"
    );
    // Nothing in it is random: the dry run composes the same message.
    let shown = notifier
        .dry_run(std::slice::from_ref(&event))
        .expect("dry run");
    for (_, _, bytes) in &shown {
        assert_eq!(undated(&String::from_utf8_lossy(bytes)), undated(&kept));
    }
}
