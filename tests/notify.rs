//! `procurize notify` end to end: the gate's JSON outcome from the simulator, e-mailed to a real
//! SMTP server and written to files; exit statuses 0, 2 and 3; dry runs send nothing.

mod common;

use common::smtp::Smtp;
use common::{output, procurize, run, stderr, stdout};
use procurize_sim::{SAMPLE_ORGANIZATION, Simulator};

async fn gate_json(sim: &Simulator, dir: &std::path::Path) -> std::path::PathBuf {
    let json = dir.join("gate.json");
    let mut command = procurize();
    command
        .args([
            "--base-url",
            &sim.base_url(),
            "--org",
            SAMPLE_ORGANIZATION,
            "gate",
            "--version",
            "1.2.0",
        ])
        .args(["--min-rating", "B", "--as-of", "2026-03-20", "--json"])
        .arg(&json);
    let out = output(command).await;
    assert_eq!(
        out.status.code(),
        Some(1),
        "the gate fails: {}",
        stderr(&out)
    );
    json
}

fn notify(
    config: &std::path::Path,
    event: &std::path::Path,
    extra: &[&str],
) -> std::process::Output {
    run(procurize()
        .arg("notify")
        .arg("--config")
        .arg(config)
        .arg("--event")
        .arg(event)
        .args(extra))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_gate_is_mailed_and_filed_and_a_down_channel_exits_3() {
    let Some(smtp) = Smtp::start(0) else { return };
    let sim = Simulator::start_sample().await.expect("sim");
    let dir = tempfile::tempdir().expect("dir");
    let event = gate_json(&sim, dir.path()).await;
    let config = dir.path().join("notify.toml");
    std::fs::write(
        &config,
        format!(
            r#"
attempts = 2

[channels.mail]
type = "email"
url = "smtp://127.0.0.1:{}"
from = "Procurize <security@example.com>"
to = ["release@example.com"]

[channels.audit]
type = "file"
folder = "audit"
format = "email"

[[route]]
events = ["gate_failed"]
channels = ["mail", "audit"]
"#,
            smtp.port
        ),
    )
    .expect("write");
    // Dry run: printed, nothing sent or written.
    let out = tokio::task::block_in_place(|| notify(&config, &event, &["--dry-run"]));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out).matches("===== mail · ").count(),
        2,
        "{}",
        stdout(&out)
    );
    assert!(smtp.messages().is_empty());
    assert!(!dir.path().join("audit").exists());

    let out = tokio::task::block_in_place(|| notify(&config, &event, &[]));
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(
        stderr(&out).contains("2 events, 4 deliveries: 4 sent, 0 failed"),
        "{}",
        stderr(&out)
    );
    let mails = smtp.messages();
    assert_eq!(mails.len(), 2);
    assert!(
        mails.iter().any(
            |m| m.contains("Subject: [Procurize] Gate failed: Test product 1.2.0 OWASP Top 10")
        ),
        "{mails:?}"
    );
    assert_eq!(
        std::fs::read_dir(dir.path().join("audit"))
            .expect("dir")
            .count(),
        2
    );

    // The SMTP server goes away: the file channel still delivers; exit 3.
    drop(smtp);
    let out = tokio::task::block_in_place(|| notify(&config, &event, &[]));
    assert_eq!(out.status.code(), Some(3), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("FAIL  mail gate_failed"),
        "{}",
        stdout(&out)
    );
    assert!(
        stdout(&out).contains("sent  audit gate_failed"),
        "{}",
        stdout(&out)
    );
    let out = run(procurize()
        .args(["notify", "check", "--config"])
        .arg(&config));
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stdout(&out).contains("FAIL  mail:") && stdout(&out).contains("ok    audit:"),
        "{}",
        stdout(&out)
    );
    // The help states the code the command really uses.
    let help = run(procurize().args(["notify", "check", "--help"]));
    assert!(
        stdout(&help).contains("3  a channel failed its check"),
        "{}",
        stdout(&help)
    );
}

#[test]
fn bad_configuration_or_event_exits_2() {
    let dir = tempfile::tempdir().expect("dir");
    let config = dir.path().join("notify.toml");
    let event = dir.path().join("event.json");
    std::fs::write(
        &event,
        br#"{"organizationId":"00000000-0000-0000-0000-000000000001","reports":[]}"#,
    )
    .expect("write");
    std::fs::write(
        &config,
        "[channels.a]\ntype = \"file\"\nfolder = \"x\"\nformat = \"slack\"\nretries = 3\n",
    )
    .expect("write");
    let out = notify(&config, &event, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("notify.toml:5:1: unknown field `retries`"),
        "{}",
        stderr(&out)
    );

    std::fs::write(
        &config,
        "[channels.a]\ntype = \"file\"\nfolder = \"x\"\nformat = \"slack\"\ntemplates_x = 1\n",
    )
    .expect("write");
    assert_eq!(notify(&config, &event, &[]).status.code(), Some(2));

    std::fs::write(
        &config,
        "templates = \"tpl\"\n[channels.a]\ntype = \"file\"\nfolder = \"x\"\nformat = \"slack\"\n",
    )
    .expect("write");
    std::fs::create_dir_all(dir.path().join("tpl/slack")).expect("mkdir");
    std::fs::write(
        dir.path().join("tpl/slack/gate_failed.text.hbs"),
        "{{#each}}\n",
    )
    .expect("write");
    let out = notify(&config, &event, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("gate_failed.text.hbs"),
        "{}",
        stderr(&out)
    );

    std::fs::remove_file(dir.path().join("tpl/slack/gate_failed.text.hbs")).expect("rm");
    std::fs::write(&event, b"{\"hello\": 1}").expect("write");
    let out = notify(&config, &event, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("neither the gate's JSON outcome"),
        "{}",
        stderr(&out)
    );
}
