//! `procurize demo`: the whole webhook workflow, offline, in seconds.
//!
//! The simulator and the server run in this process on loopback. The simulator's sender delivers
//! signed webhooks for sample reports (one failing the gate, one sent twice, one with a bad
//! signature, one updated); the workflow gates, writes messages with the file channel and signs
//! evidence bundles with a fresh key; the bundles are then verified.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use procurize_archive::{Algorithm, Limits, SigningKey, verify_bundle, write_key_pair};
use procurize_core::webhook::{Scheme, Secret, Signer};
use procurize_core::{ReportList, Uuid};
use procurize_gate::render::GateDocument;
use procurize_server::store::{JobState, Step, Store};
use procurize_server::{Config, Service};
use procurize_sim::webhook::{Delivery, Outcome, Schedule};
use procurize_sim::{SAMPLE_ORGANIZATION, SimData, Simulator};

use crate::args::DemoArgs;
use crate::{Exit, UsageError};

/// Marks a folder as the demo's own, so a later run may replace it.
const MARKER: &str = ".procurize-demo";

fn prepare_folder(out: &Path) -> anyhow::Result<()> {
    if out.exists() {
        let ours = out.join(MARKER).is_file();
        let empty = out.is_dir()
            && std::fs::read_dir(out)
                .map(|mut d| d.next().is_none())
                .unwrap_or(false);
        if !ours && !empty {
            return Err(UsageError(format!(
                "{} exists and was not written by `procurize demo`; give another --out",
                out.display()
            ))
            .into());
        }
        if ours {
            std::fs::remove_dir_all(out)
                .with_context(|| format!("cannot replace the earlier demo in {}", out.display()))?;
        }
    }
    for folder in [out.to_path_buf(), out.join("keys")] {
        std::fs::create_dir_all(&folder)
            .with_context(|| format!("cannot create {}", folder.display()))?;
    }
    std::fs::write(
        out.join(MARKER),
        b"written by `procurize demo`; safe to delete\n",
    )
    .with_context(|| format!("cannot write in {}", out.display()))?;
    Ok(())
}

fn write_secret(path: &Path, secret: &str) -> anyhow::Result<()> {
    let mut options = std::fs::File::options();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.write_all(secret.as_bytes())?;
    Ok(())
}

fn config_text(api: &str, organization: &str) -> String {
    format!(
        r#"# Written by `procurize demo`: the configuration its server ran with. The simulator's port
# changes at every run; to serve with this file, start `procurize sim` and point base_url at it.

[server]
listen = "127.0.0.1:0"

[api]
base_url = "{api}"
organizations = ["{organization}"]

[webhook]
scheme = "hmac"

[[webhook.secret]]
file = "webhook-secret"

[store]
type = "sqlite"
path = "procurize.db"

[jobs]
workers = 2
backoff_seconds = 0.2
poll_millis = 50

[gate.policy]
min_rating = "B"

[notify]
attempts = 2

[notify.channels.messages]
type = "file"
folder = "messages"
format = "email"

[[notify.route]]
channels = ["messages"]

[archive]
folder = "evidence"

[archive.key]
file = "keys/evidence.key"
"#
    )
}

/// One delivery the demo makes, and the answer it expects.
struct Planned {
    what: String,
    body: Vec<u8>,
    signer: Signer,
    /// Reuse the ID of an earlier delivery (a redelivery).
    same_as: Option<usize>,
    expected: u16,
}

fn describe(list: &ReportList) -> String {
    list.reports
        .iter()
        .map(|r| {
            format!(
                "{} {} {} (rating {})",
                r.project_name, r.project_version, r.report_type, r.security_rating
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) async fn run(args: DemoArgs) -> anyhow::Result<Exit> {
    let out = args.out.clone();
    prepare_folder(&out)?;
    let simulator = Simulator::start_sample()
        .await
        .context("cannot start the simulator")?;
    let organization: Uuid = SAMPLE_ORGANIZATION.parse()?;

    // A fresh signing key and webhook secret, in files the configuration names.
    let key = SigningKey::generate(Algorithm::P256)?;
    let (_, public_path) = write_key_pair(&key, &out.join("keys").join("evidence"))?;
    let mut secret_bytes = [0u8; 32];
    getrandom::fill(&mut secret_bytes)
        .map_err(|e| anyhow::anyhow!("the system's random generator failed: {e}"))?;
    let secret: String = secret_bytes.iter().map(|b| format!("{b:02x}")).collect();
    write_secret(&out.join("webhook-secret"), &secret)?;
    let config_path = out.join("procurize.toml");
    std::fs::write(
        &config_path,
        config_text(&simulator.base_url(), SAMPLE_ORGANIZATION),
    )
    .with_context(|| format!("cannot write {}", config_path.display()))?;

    let config = Config::from_file(&config_path)?;
    let prepared = config.prepare(&config_path.display().to_string())?;
    let service = Service::open(prepared).await?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .context("cannot listen on 127.0.0.1")?;
    let running = service.start_on(listener).await?;
    let url = running.webhook_url();

    // The deliveries.
    let data = SimData::sample();
    let payload = |id: u128| -> anyhow::Result<Vec<u8>> {
        Ok(Delivery::payload_for(
            &data,
            &organization,
            &[Uuid::from_u128(id)],
        )?)
    };
    let signer = Signer::new(Scheme::Hmac, Secret::new(secret.clone().into_bytes()));
    let wrong = Signer::new(
        Scheme::Hmac,
        Secret::new(b"not the configured secret".to_vec()),
    );
    let mut updated: ReportList = serde_json::from_slice(&payload(0x100)?)?;
    let now =
        time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339)?;
    let updated_json = serde_json::to_value(&updated)?;
    let mut updated_json = updated_json;
    updated_json["reports"][0]["uploadDate"] = serde_json::Value::String(now);
    updated = ReportList::from_json(&serde_json::to_vec(&updated_json)?)?;
    let plan = vec![
        Planned {
            what: String::new(),
            body: payload(0x100)?,
            signer: signer.clone(),
            same_as: None,
            expected: 202,
        },
        Planned {
            what: String::new(),
            body: payload(0x10d)?,
            signer: signer.clone(),
            same_as: None,
            expected: 202,
        },
        Planned {
            what: String::new(),
            body: payload(0x102)?,
            signer: signer.clone(),
            same_as: None,
            expected: 202,
        },
        Planned {
            what: "sent again".into(),
            body: payload(0x100)?,
            signer: signer.clone(),
            same_as: Some(0),
            expected: 200,
        },
        Planned {
            what: "signed with a wrong secret".into(),
            body: payload(0x101)?,
            signer: wrong,
            same_as: None,
            expected: 401,
        },
        Planned {
            what: "updated: a later uploadDate".into(),
            body: serde_json::to_vec(&updated)?,
            signer,
            same_as: None,
            expected: 202,
        },
    ];
    let schedule = Schedule {
        interval: Duration::from_millis(100),
        max_attempts: 1,
        timeout: Duration::from_secs(10),
    };
    let mut sent: Vec<Delivery> = Vec::new();
    let mut answers = Vec::new();
    for planned in &plan {
        let mut delivery = Delivery::new(url.clone(), planned.body.clone(), planned.signer.clone());
        if let Some(earlier) = planned.same_as {
            delivery.id = sent[earlier].id.clone();
        }
        let mut status = None;
        let _ = delivery
            .send(&schedule, |attempt| {
                status = Some(attempt.outcome.clone());
            })
            .await;
        answers.push(status);
        sent.push(delivery);
    }

    let idle = running.wait_idle(Duration::from_secs(60)).await;
    let store = running.store();
    let summary = gather(&store, &out, &key).await?;
    let metrics = (
        running
            .metrics()
            .deliveries(procurize_server::metrics::DeliveryOutcome::Accepted),
        running
            .metrics()
            .deliveries(procurize_server::metrics::DeliveryOutcome::Duplicate),
        running
            .metrics()
            .deliveries(procurize_server::metrics::DeliveryOutcome::BadSignature),
    );
    running.shutdown().await?;
    simulator.shutdown().await.ok();

    // The summary.
    let mut problems = Vec::new();
    let mut text = String::new();
    use std::fmt::Write as _;
    let _ = writeln!(
        text,
        "procurize demo: the simulator sent {} signed webhooks to the server at {url}\n",
        plan.len()
    );
    let _ = writeln!(text, "Deliveries");
    for (planned, answer) in plan.iter().zip(&answers) {
        let list = ReportList::from_json(&planned.body)?;
        let (code, word) = match answer {
            Some(Outcome::Status(s)) => (
                s.to_string(),
                match s {
                    202 => "accepted",
                    200 => "duplicate",
                    401 => "rejected",
                    _ => "unexpected",
                },
            ),
            Some(Outcome::Error(e)) => ("---".into(), e.as_str()),
            None => ("---".into(), "not sent"),
        };
        if !matches!(answer, Some(Outcome::Status(s)) if *s == planned.expected) {
            problems.push(format!(
                "expected HTTP {} for {}, got {code} {word}",
                planned.expected,
                describe(&list)
            ));
        }
        let note = if planned.what.is_empty() {
            String::new()
        } else {
            format!(" — {}", planned.what)
        };
        let _ = writeln!(text, "  {code} {word:<10} {}{note}", describe(&list));
    }
    let _ = writeln!(
        text,
        "  {} accepted, {} deduplicated, {} rejected\n",
        metrics.0, metrics.1, metrics.2
    );
    let _ = writeln!(text, "Gate (policy: security rating B or better)");
    for (status, subject) in &summary.verdicts {
        let _ = writeln!(text, "  {status:<5} {subject}");
    }
    let _ = writeln!(
        text,
        "\nMessages written by the file channel: {}",
        summary.messages.len()
    );
    for path in &summary.messages {
        let _ = writeln!(text, "  {}", path.display());
    }
    let verified = summary.bundles.iter().filter(|b| b.1).count();
    let _ = writeln!(
        text,
        "\nEvidence bundles: {} written, {verified} verified with {}",
        summary.bundles.len(),
        public_path.display()
    );
    for (path, valid) in &summary.bundles {
        let _ = writeln!(
            text,
            "  {} {}",
            if *valid { "valid  " } else { "INVALID" },
            path.display()
        );
    }
    let _ = writeln!(
        text,
        "\nAlso written: {} (configuration), {} (store)",
        config_path.display(),
        out.join("procurize.db").display()
    );
    let _ = writeln!(
        text,
        "Try: procurize jobs list --store {}",
        out.join("procurize.db").display()
    );
    if let Some((bundle, _)) = summary.bundles.first() {
        let _ = writeln!(
            text,
            "     procurize verify --key {} {}",
            public_path.display(),
            bundle.display()
        );
    }

    if !idle {
        problems.push("the workflow did not finish within 60 s".into());
    }
    for (state, count) in &summary.unfinished {
        problems.push(format!("{count} job(s) {state}"));
    }
    if summary.bundles.len() != 4 || verified != summary.bundles.len() {
        problems.push(format!(
            "expected 4 verified bundles, found {} ({verified} verified)",
            summary.bundles.len()
        ));
    }
    let mut stdout = anstream::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    if problems.is_empty() {
        Ok(Exit::Success)
    } else {
        writeln!(stdout, "\nThe demo did not go as expected:")?;
        for problem in problems {
            writeln!(stdout, "  - {problem}")?;
        }
        Ok(Exit::CheckFailed)
    }
}

struct Summary {
    verdicts: Vec<(String, String)>,
    messages: Vec<PathBuf>,
    bundles: Vec<(PathBuf, bool)>,
    unfinished: BTreeMap<JobState, u64>,
}

async fn gather(
    store: &std::sync::Arc<dyn Store>,
    out: &Path,
    key: &SigningKey,
) -> anyhow::Result<Summary> {
    let store = store.clone();
    let out = out.to_path_buf();
    let public = key.public_key();
    {
        let rows = store.list(None, 10_000).await?;
        let mut verdicts = Vec::new();
        let mut unfinished = BTreeMap::new();
        for row in rows.iter().rev() {
            if row.state != JobState::Done {
                *unfinished.entry(row.state).or_insert(0) += 1;
            }
            if row.step != Step::Gate {
                continue;
            }
            if let Some(output) = store.output(row.event_id, Step::Gate).await? {
                let document: GateDocument = serde_json::from_str(&output)?;
                let outcome = &document.outcome;
                for report in &outcome.reports {
                    let r = &report.report;
                    let mut subject = format!(
                        "{} {} {} (rating {})",
                        r.project_name, r.project_version, r.report_type, r.security_rating
                    );
                    for rule in report.problems() {
                        subject.push_str(&format!(": {}", rule.reason));
                    }
                    verdicts.push((report.status.as_str().to_owned(), subject));
                }
            }
        }
        let mut messages: Vec<PathBuf> = std::fs::read_dir(out.join("messages"))
            .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
            .unwrap_or_default();
        messages.sort();
        let mut bundles = Vec::new();
        if let Ok(orgs) = std::fs::read_dir(out.join("evidence")) {
            for org in orgs.filter_map(Result::ok) {
                for entry in std::fs::read_dir(org.path())?.filter_map(Result::ok) {
                    let path = entry.path();
                    if path.extension().is_some_and(|e| e == "zip") {
                        let valid = verify_bundle(&path, &public, &Limits::bundle())
                            .map(|v| v.valid)
                            .unwrap_or(false);
                        bundles.push((path, valid));
                    }
                }
            }
        }
        bundles.sort();
        Ok(Summary {
            verdicts,
            messages,
            bundles,
            unfinished,
        })
    }
}
