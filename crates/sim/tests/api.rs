//! The simulator's HTTP API as a client sees it, over a real socket.

#![allow(clippy::print_stderr)]

use std::io::Read;
use std::time::Duration;

use procurize_core::webhook::{Scheme, Secret, Signer, Verifier};
use procurize_core::{ReportList, Uuid};
use procurize_sim::webhook::{Delivery, Outcome, Schedule};
use procurize_sim::{RecordingReceiver, SAMPLE_ORGANIZATION, SimData, Simulator};

const ORG: &str = SAMPLE_ORGANIZATION;

async fn get(sim: &Simulator, path_and_query: &str) -> (u16, Option<String>, Vec<u8>) {
    let response = procurize_core::tls::reqwest_client()
        .expect("http client")
        .get(format!("{}{path_and_query}", sim.base_url()))
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().expect("ascii").to_owned());
    let body = response.bytes().await.expect("body").to_vec();
    (status, content_type, body)
}

fn json_error(body: &[u8]) -> (String, String) {
    let value: serde_json::Value = serde_json::from_slice(body).expect("JSON error body");
    (
        value["code"].as_str().expect("code").to_owned(),
        value["message"].as_str().expect("message").to_owned(),
    )
}

#[tokio::test]
async fn bad_requests_get_a_json_code_and_message() {
    let sim = Simulator::start_sample().await.expect("sim");
    let cases = [
        (
            "/security/report/list?version=1.0",
            "missing_parameter",
            "`org`",
        ),
        (
            "/security/report/list?org=acme&version=1.0",
            "invalid_parameter",
            "`acme`",
        ),
        (
            &format!("/security/report/list?org={ORG}") as &str,
            "missing_version_filter",
            "`minver`",
        ),
        (
            &format!("/security/report/list?org={ORG}&minver=banana"),
            "invalid_version",
            "`banana`",
        ),
        (
            &format!("/security/report/list?org={ORG}&version=1&version=2"),
            "invalid_parameter",
            "more than once",
        ),
        (
            "/security/report/files?reports=00000000-0000-0000-0000-000000000100",
            "missing_parameter",
            "`org`",
        ),
        (
            &format!("/security/report/files?org={ORG}"),
            "missing_parameter",
            "`reports`",
        ),
        (
            &format!("/security/report/files?org={ORG}&reports=42"),
            "invalid_parameter",
            "`42`",
        ),
    ];
    for (path, code, needle) in cases {
        let (status, content_type, body) = get(&sim, path).await;
        assert_eq!(status, 400, "{path}");
        assert_eq!(content_type.as_deref(), Some("application/json"), "{path}");
        let (got_code, message) = json_error(&body);
        assert_eq!(got_code, code, "{path}");
        assert!(message.contains(needle), "{path}: {message}");
    }
}

#[tokio::test]
async fn nothing_matching_is_no_content_on_both_endpoints() {
    let sim = Simulator::start_sample().await.expect("sim");
    let (status, _, body) = get(
        &sim,
        &format!("/security/report/list?org={ORG}&version=7.0"),
    )
    .await;
    assert_eq!((status, body.len()), (204, 0));
    let other_org = "00000000-0000-0000-0000-0000000000ff";
    let (status, _, _) = get(
        &sim,
        &format!("/security/report/list?org={other_org}&minver=0"),
    )
    .await;
    assert_eq!(status, 204, "an organization without reports");
    let (status, _, body) = get(
        &sim,
        &format!("/security/report/files?org={ORG}&reports=00000000-0000-0000-0000-00000000beef"),
    )
    .await;
    assert_eq!((status, body.len()), (204, 0));
}

#[tokio::test]
async fn list_answers_in_the_documented_shape() {
    let sim = Simulator::start_sample().await.expect("sim");
    let (status, content_type, body) = get(
        &sim,
        &format!("/security/report/list?org={ORG}&minver=1.1&maxver=1.2.0"),
    )
    .await;
    assert_eq!(status, 200);
    assert!(content_type.expect("type").starts_with("application/json"));
    let value: serde_json::Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(value["organizationId"], ORG);
    let first = &value["reports"][0];
    for field in [
        "projectName",
        "id",
        "reportType",
        "reportVersion",
        "projectVersion",
        "date",
        "uploadDate",
        "vulnerabilitiesCount",
        "securityRating",
    ] {
        assert!(first.get(field).is_some(), "{field}");
    }
    assert!(
        first["reportVersion"].is_number(),
        "reportVersion is a JSON number"
    );
    let list = ReportList::from_json(&body).expect("parses");
    assert_eq!(list.reports.len(), 6);
}

#[tokio::test]
async fn repeated_reports_parameters_select_an_archive_with_html_and_a_readable_pdf() {
    let sim = Simulator::start_sample().await.expect("sim");
    let (status, content_type, body) = get(
        &sim,
        &format!(
            "/security/report/files?org={ORG}&reports=00000000-0000-0000-0000-000000000101&reports=00000000-0000-0000-0000-00000000010b&reports=00000000-0000-0000-0000-00000000dead"
        ),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(content_type.as_deref(), Some("application/zip"));
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(body)).expect("zip");
    assert_eq!(
        zip.len(),
        4,
        "two reports (the unknown ID is skipped), two files each"
    );
    let mut pdf = Vec::new();
    zip.by_name("00000000-0000-0000-0000-00000000010b/report.pdf")
        .expect("pdf")
        .read_to_end(&mut pdf)
        .expect("read");
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("report.pdf");
    std::fs::write(&path, &pdf).expect("write");
    // A real PDF reader must open it: poppler's pdftotext (installed by .ci/run).
    match std::process::Command::new("pdftotext")
        .arg(&path)
        .arg("-")
        .output()
    {
        Ok(out) => {
            assert!(
                out.status.success(),
                "pdftotext: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(
                out.stderr.is_empty(),
                "pdftotext complained: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(text.contains("SonarQube CWE Top 25 2023 report"), "{text}");
            assert!(text.contains("Security rating: A"), "{text}");
        }
        Err(e) if std::env::var_os("CI").is_none() => {
            eprintln!(
                "pdftotext not available ({e}); install poppler-utils to check PDFs with a real reader"
            );
        }
        Err(e) => panic!("pdftotext is required in CI: {e}"),
    }
}

#[tokio::test]
async fn prepared_archives_are_streamed_from_disk() {
    let dir = tempfile::tempdir().expect("dir");
    let id = Uuid::from_u128(0x100);
    let prepared = procurize_sim::build_archive(&[]);
    std::fs::write(dir.path().join(format!("{id}.zip")), &prepared).expect("write");
    let config = procurize_sim::SimConfig {
        data: SimData::sample(),
        archive_dir: Some(dir.path().to_path_buf()),
        ..Default::default()
    };
    let sim = Simulator::start_local(config).await.expect("sim");
    let (status, _, body) = get(
        &sim,
        &format!("/security/report/files?org={ORG}&reports={id}"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body, prepared);
}

#[tokio::test]
async fn webhook_deliveries_are_signed_retried_on_schedule_and_logged() {
    let receiver = RecordingReceiver::start(vec![500, 500, 204])
        .await
        .expect("receiver");
    let url = receiver.url();
    let secret = Secret::new("shared secret");
    let org: Uuid = ORG.parse().expect("uuid");
    let body = Delivery::payload_for(&SimData::sample(), &org, &[Uuid::from_u128(0x100)])
        .expect("payload");
    let delivery = Delivery::new(url, body.clone(), Signer::new(Scheme::Hmac, secret.clone()));
    let schedule = Schedule {
        interval: Duration::from_millis(20),
        max_attempts: 5,
        timeout: Duration::from_secs(5),
    };
    let mut logged = Vec::new();
    let attempts = delivery
        .send(&schedule, |a| logged.push(a.outcome.clone()))
        .await
        .expect("delivered on the third attempt");
    assert_eq!(attempts.len(), 3);
    assert_eq!(
        logged,
        [
            Outcome::Status(500),
            Outcome::Status(500),
            Outcome::Status(204)
        ]
    );
    let seen = receiver.received();
    assert_eq!(seen.len(), 3);
    let verifier = Verifier::hmac(vec![secret]).expect("verifier");
    let ids: std::collections::HashSet<_> = seen
        .iter()
        .map(|delivery| {
            assert_eq!(delivery.body, body);
            verifier
                .verify(&delivery.headers, &delivery.body)
                .expect("valid signature");
            delivery.headers["x-procurize-delivery"]
                .to_str()
                .expect("id")
                .to_owned()
        })
        .collect();
    assert_eq!(ids.len(), 1, "the same delivery ID on every attempt");
    let payload = ReportList::from_json(&body).expect("payload is the list shape");
    assert_eq!(payload.reports[0].id, Uuid::from_u128(0x100));
}

#[tokio::test]
async fn webhook_delivery_gives_up_after_the_last_attempt() {
    let receiver = RecordingReceiver::start(vec![500]).await.expect("receiver");
    let url = receiver.url();
    let secret = Secret::standard("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("secret");
    let delivery = Delivery::new(
        url,
        b"{}".to_vec(),
        Signer::new(Scheme::StandardWebhooks, secret),
    );
    let schedule = Schedule {
        interval: Duration::from_millis(10),
        max_attempts: 2,
        timeout: Duration::from_secs(5),
    };
    let err = delivery
        .send(&schedule, |_| {})
        .await
        .expect_err("gives up");
    assert_eq!(
        err.to_string(),
        format!("the delivery to {url} failed after 2 attempts; last: HTTP 500")
    );
}

#[test]
fn default_schedule_is_hourly() {
    assert_eq!(Schedule::default().interval, Duration::from_secs(3600));
}
