//! The client against real HTTP servers on 127.0.0.1: the simulator, and a scripted server for
//! the answers the simulator never gives.

mod common;

use std::io::Read;
use std::time::{Duration, Instant};

use common::{Canned, Scripted};
use procurize_core::{
    Client, Error, ProductVersion, RetryPolicy, SecurityRating, TransportKind, USER_AGENT, Uuid,
    VersionFilter,
};
use procurize_sim::{Faults, SAMPLE_ORGANIZATION, SimConfig, SimData, Simulator};
use sha2::{Digest, Sha256};

fn v(s: &str) -> ProductVersion {
    s.parse().expect(s)
}

fn fast_retries(attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts: attempts,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
        max_retry_after: Duration::from_millis(200),
    }
}

fn client(base_url: &str) -> Client {
    Client::builder()
        .base_url(base_url)
        .organization(SAMPLE_ORGANIZATION)
        .timeout(Duration::from_secs(5))
        .retry(fast_retries(3))
        .build()
        .expect("client")
}

async fn sim_with(faults: Faults) -> Simulator {
    Simulator::start_local(SimConfig::sample_with(faults))
        .await
        .expect("simulator")
}

fn files_in(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect()
}

#[tokio::test]
async fn lists_an_exact_version_with_full_timestamp_precision() {
    let sim = Simulator::start_sample().await.expect("sim");
    let list = client(&sim.base_url())
        .list_reports(&VersionFilter::exact(v("1.0")))
        .await
        .expect("list");
    assert_eq!(list.organization_id.to_string(), SAMPLE_ORGANIZATION);
    assert_eq!(list.reports.len(), 5);
    assert!(list.reports.iter().all(|r| r.project_version == v("1.0.0")));
    let first = &list.reports[0];
    assert_eq!(first.date.as_str(), "2025-12-17T09:05:48.5946432+00:00");
    assert_eq!(first.date.datetime().nanosecond(), 594_643_200);
    let requests = sim.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].path, "/security/report/list");
    assert_eq!(
        requests[0].query,
        format!("org={SAMPLE_ORGANIZATION}&version=1.0")
    );
    assert_eq!(requests[0].user_agent.as_deref(), Some(USER_AGENT));
    assert!(USER_AGENT.starts_with("procurize/"));
}

#[tokio::test]
async fn v_prefixed_versions_and_pre_release_ordering() {
    let sim = Simulator::start_sample().await.expect("sim");
    let c = client(&sim.base_url());
    // `v1.2.0` asks for the same version as `1.2.0`.
    let list = c
        .list_reports(&VersionFilter::exact(v("v1.2.0")))
        .await
        .expect("list");
    assert_eq!(list.reports.len(), 6);
    // 2.0.0-rc.1 precedes 2.0.0, so "at most 2.0.0" includes it and "at least 2.0.0" does not.
    let up_to_2 = c
        .list_reports(
            &VersionFilter::at_least(v("1.2.1"))
                .with_max(v("2.0.0"))
                .expect("filter"),
        )
        .await
        .expect("list");
    assert!(
        up_to_2
            .reports
            .iter()
            .all(|r| r.project_version.as_str() == "2.0.0-rc.1")
    );
    assert_eq!(up_to_2.reports.len(), 2);
    let from_2 = c
        .list_reports(&VersionFilter::at_least(v("2.0.0")))
        .await
        .expect("list");
    assert!(
        from_2
            .reports
            .iter()
            .all(|r| r.project_version.as_str() == "v2.1.0")
    );
    assert_eq!(from_2.reports.len(), 2);
}

#[tokio::test]
async fn no_content_on_the_list_is_an_empty_list() {
    let sim = Simulator::start_sample().await.expect("sim");
    let list = client(&sim.base_url())
        .list_reports(&VersionFilter::exact(v("9.9.9")))
        .await
        .expect("204 is not an error");
    assert!(list.reports.is_empty());
    assert_eq!(list.organization_id.to_string(), SAMPLE_ORGANIZATION);
}

#[tokio::test]
async fn no_content_on_download_names_the_ids_and_leaves_no_file() {
    let sim = Simulator::start_sample().await.expect("sim");
    let dir = tempfile::tempdir().expect("dir");
    let missing = Uuid::from_u128(0xdead);
    let err = client(&sim.base_url())
        .download_reports(&[missing], &dir.path().join("out.zip"))
        .await
        .expect_err("none exist");
    assert!(matches!(err, Error::ReportsNotFound { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("00000000-0000-0000-0000-00000000dead"),
        "{err}"
    );
    assert!(files_in(dir.path()).is_empty());
}

#[tokio::test]
async fn downloads_a_real_zip_with_its_digest() {
    let sim = Simulator::start_sample().await.expect("sim");
    let dir = tempfile::tempdir().expect("dir");
    let ids = [Uuid::from_u128(0x100), Uuid::from_u128(0x10c)];
    let target = dir.path().join("reports.zip");
    let mut last = None;
    let download = client(&sim.base_url())
        .download_reports_with_progress(&ids, &target, |p| last = Some(p))
        .await
        .expect("download");
    let bytes = std::fs::read(&target).expect("file");
    assert_eq!(download.size, bytes.len() as u64);
    assert_eq!(download.sha256, <[u8; 32]>::from(Sha256::digest(&bytes)));
    let progress = last.expect("progress reported");
    assert_eq!(progress.received, bytes.len() as u64);
    assert_eq!(progress.total, Some(bytes.len() as u64));
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("zip");
    let mut names: Vec<String> = zip
        .file_names()
        .map(|n| n.expect("name").into_owned())
        .collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "00000000-0000-0000-0000-000000000100/report.html",
            "00000000-0000-0000-0000-000000000100/report.pdf",
            "00000000-0000-0000-0000-00000000010c/report.html",
            "00000000-0000-0000-0000-00000000010c/report.pdf",
        ]
    );
    let mut html = String::new();
    zip.by_name("00000000-0000-0000-0000-00000000010c/report.html")
        .expect("entry")
        .read_to_string(&mut html)
        .expect("read");
    assert!(html.contains("会計ポータル"));
    assert_eq!(
        files_in(dir.path()),
        ["reports.zip"],
        "no temporary file left"
    );
    let query = &sim.requests()[0].query;
    assert!(query.ends_with("&reports=00000000-0000-0000-0000-000000000100&reports=00000000-0000-0000-0000-00000000010c"), "{query}");
}

#[tokio::test]
async fn a_truncated_download_is_retried_then_fails_leaving_no_file() {
    let sim = sim_with(Faults {
        truncate_downloads: true,
        ..Faults::default()
    })
    .await;
    let dir = tempfile::tempdir().expect("dir");
    let target = dir.path().join("reports.zip");
    let err = client(&sim.base_url())
        .download_reports(&[Uuid::from_u128(0x100)], &target)
        .await
        .expect_err("truncated");
    assert!(
        matches!(
            err,
            Error::Transport {
                kind: TransportKind::Body,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        files_in(dir.path()).is_empty(),
        "left: {:?}",
        files_in(dir.path())
    );
    assert_eq!(sim.requests().len(), 3, "three attempts");
}

#[tokio::test]
async fn a_body_that_is_not_a_zip_is_rejected_and_not_kept() {
    let server = Scripted::start(vec![Canned {
        status: 200,
        headers: vec![("content-type", "application/zip".into())],
        body: b"<html>login required</html>".to_vec(),
    }])
    .await;
    let dir = tempfile::tempdir().expect("dir");
    let target = dir.path().join("reports.zip");
    std::fs::write(&target, b"previous").expect("write");
    let err = client(&server.base_url)
        .download_reports(&[Uuid::from_u128(0x100)], &target)
        .await
        .expect_err("not a zip");
    assert!(matches!(err, Error::InvalidArchive { .. }), "{err:?}");
    assert_eq!(files_in(dir.path()), ["reports.zip"]);
    assert_eq!(
        std::fs::read(&target).expect("read"),
        b"previous",
        "old file untouched"
    );
}

#[tokio::test]
async fn a_bad_request_surfaces_the_json_code_and_message() {
    let server = Scripted::start(vec![Canned::json(
        400,
        r#"{"code":"invalid_version","message":"`maxver` is not a version"}"#,
    )])
    .await;
    let err = client(&server.base_url)
        .list_reports(&VersionFilter::exact(v("1.0")))
        .await
        .expect_err("400");
    assert_eq!(err.status(), Some(400));
    assert_eq!(err.code(), Some("invalid_version"));
    assert_eq!(err.message(), "`maxver` is not a version");
    assert_eq!(server.requests().len(), 1, "a 400 is not retried");
}

#[tokio::test]
async fn an_html_500_page_becomes_a_short_error() {
    let sim = sim_with(Faults {
        fail_first: u64::MAX,
        html_errors: true,
        ..Faults::default()
    })
    .await;
    let err = client(&sim.base_url())
        .list_reports(&VersionFilter::exact(v("1.0")))
        .await
        .expect_err("500");
    let text = err.to_string();
    assert_eq!(err.status(), Some(500));
    assert!(
        text.starts_with(&format!(
            "HTTP 500 from {}/security/report/list",
            sim.base_url()
        )),
        "{text}"
    );
    assert!(text.contains("Internal Server Error"), "{text}");
    assert!(
        !text.contains('<') && !text.contains("font-family"),
        "{text}"
    );
    assert!(text.len() < 400, "{} chars: {text}", text.len());
    assert_eq!(sim.requests().len(), 3, "500 is retried");
}

#[tokio::test]
async fn a_slow_server_times_out_with_a_clear_error() {
    let sim = sim_with(Faults {
        latency: Duration::from_secs(3),
        ..Faults::default()
    })
    .await;
    let c = Client::builder()
        .base_url(sim.base_url())
        .organization(SAMPLE_ORGANIZATION)
        .timeout(Duration::from_millis(200))
        .retry(RetryPolicy::none())
        .build()
        .expect("client");
    let started = Instant::now();
    let err = c
        .list_reports(&VersionFilter::exact(v("1.0")))
        .await
        .expect_err("timeout");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "gave up at the time-out"
    );
    assert!(
        matches!(
            err,
            Error::Transport {
                kind: TransportKind::Timeout,
                ..
            }
        ),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains("timed out") && text.contains("200 ms") && text.contains("--timeout"),
        "{text}"
    );
}

#[tokio::test]
async fn a_503_is_retried_and_then_succeeds() {
    let sim = sim_with(Faults {
        fail_first: 2,
        error_status: 503,
        ..Faults::default()
    })
    .await;
    let list = client(&sim.base_url())
        .list_reports(&VersionFilter::exact(v("1.0")))
        .await
        .expect("third attempt succeeds");
    assert_eq!(list.reports.len(), 5);
    assert_eq!(sim.requests().len(), 3);
}

#[tokio::test]
async fn retry_after_is_honoured_up_to_the_cap() {
    let ok = serde_json::to_string(&procurize_sim::sample_list()).expect("json");
    let server = Scripted::start(vec![
        Canned::json(429, r#"{"code":"rate_limited","message":"slow down"}"#)
            .with_header("retry-after", "3600"),
        Canned::json(200, &ok),
    ])
    .await;
    let started = Instant::now();
    let list = client(&server.base_url)
        .list_reports(&VersionFilter::exact(v("1.0")))
        .await
        .expect("retried");
    let waited = started.elapsed();
    assert_eq!(list.reports.len(), 5);
    assert_eq!(server.requests().len(), 2);
    // The cap in `fast_retries` is 200 ms: Retry-After was honoured, but not for an hour.
    assert!(waited >= Duration::from_millis(190), "{waited:?}");
    assert!(waited < Duration::from_secs(3), "{waited:?}");
}

#[tokio::test]
async fn a_lax_server_cannot_widen_the_answer() {
    // This server ignores the filter and sends every report.
    let all = serde_json::to_string(&procurize_sim::sample_list()).expect("json");
    let server = Scripted::start(vec![Canned::json(200, &all)]).await;
    let listing = client(&server.base_url)
        .list_reports_detailed(&VersionFilter::exact(v("1.2")))
        .await
        .expect("list");
    assert_eq!(listing.reports.reports.len(), 6);
    assert!(
        listing
            .reports
            .reports
            .iter()
            .all(|r| r.project_version == v("1.2.0"))
    );
    assert_eq!(listing.discarded, 9);
    assert_eq!(listing.pages.len(), 1);
    assert_eq!(
        listing.pages[0].body,
        all.as_bytes(),
        "raw page kept exactly"
    );
}

#[tokio::test]
async fn unknown_fields_are_ignored_and_an_unknown_rating_is_named() {
    let body = r#"{"organizationId":"00000000-0000-0000-0000-000000000001","schemaVersion":3,"reports":[{"projectName":"P","id":"00000000-0000-0000-0000-000000000002","reportType":"CWE Top 25","reportVersion":2024,"projectVersion":"1.0","date":"2025-12-17T09:05:48.5946432+00:00","uploadDate":"2025-12-17T09:05:48.5946432+00:00","vulnerabilitiesCount":0,"securityRating":"A","branch":"main","newCode":{"rating":"B"}}]}"#;
    let server = Scripted::start(vec![Canned::json(200, body)]).await;
    let list = client(&server.base_url)
        .list_reports(&VersionFilter::exact(v("1.0")))
        .await
        .expect("unknown fields ignored");
    assert_eq!(list.reports[0].security_rating, SecurityRating::A);

    let bad = body.replace(r#""securityRating":"A""#, r#""securityRating":"F""#);
    let server = Scripted::start(vec![Canned::json(200, &bad)]).await;
    let err = client(&server.base_url)
        .list_reports(&VersionFilter::exact(v("1.0")))
        .await
        .expect_err("F");
    let text = err.to_string();
    assert!(matches!(err, Error::Decode { .. }), "{err:?}");
    assert!(
        text.contains("reports[0].securityRating") && text.contains("`F`"),
        "{text}"
    );
    assert!(text.contains("body starts: {\"organizationId\""), "{text}");
    assert_eq!(server.requests().len(), 1, "a decode error is not retried");
}

#[tokio::test]
async fn an_answer_for_another_organization_is_refused() {
    let other = serde_json::to_string(&procurize_core::ReportList::empty(Uuid::from_u128(7)))
        .expect("json");
    let server = Scripted::start(vec![Canned::json(200, &other)]).await;
    let err = client(&server.base_url)
        .list_reports(&VersionFilter::exact(v("1.0")))
        .await
        .expect_err("mismatch");
    assert!(matches!(err, Error::OrganizationMismatch { .. }), "{err:?}");
}

#[tokio::test]
async fn pages_are_followed_and_bounded() {
    let config = SimConfig {
        data: SimData::sample(),
        page_size: Some(2),
        ..SimConfig::default()
    };
    let sim = Simulator::start_local(config).await.expect("sim");
    let listing = client(&sim.base_url())
        .list_reports_detailed(&VersionFilter::exact(v("1.2.0")))
        .await
        .expect("list");
    assert_eq!(listing.reports.reports.len(), 6);
    assert_eq!(listing.pages.len(), 3);
    let ids: std::collections::HashSet<_> = listing.reports.reports.iter().map(|r| r.id).collect();
    assert_eq!(ids.len(), 6, "no page read twice");

    let bounded = Client::builder()
        .base_url(sim.base_url())
        .organization(SAMPLE_ORGANIZATION)
        .max_pages(2)
        .build()
        .expect("client");
    let err = bounded
        .list_reports(&VersionFilter::exact(v("1.2.0")))
        .await
        .expect_err("too many pages");
    assert!(err.to_string().contains("more than 2 pages"), "{err}");

    // A server whose next link points at itself does not make the client loop.
    let looping = r#"{"organizationId":"00000000-0000-0000-0000-000000000001","reports":[],"nextPage":"/security/report/list?org=00000000-0000-0000-0000-000000000001&version=1.0"}"#;
    let server = Scripted::start(vec![Canned::json(200, looping)]).await;
    client(&server.base_url)
        .list_reports(&VersionFilter::exact(v("1.0")))
        .await
        .expect("stops at the repeated link");
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn nothing_listening_is_a_connect_error_with_a_hint() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let err = Client::builder()
        .base_url(format!("http://{addr}"))
        .organization(SAMPLE_ORGANIZATION)
        .retry(RetryPolicy::none())
        .build()
        .expect("client")
        .list_reports(&VersionFilter::exact(v("1.0")))
        .await
        .expect_err("refused");
    assert!(
        matches!(
            err,
            Error::Transport {
                kind: TransportKind::Connect,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("Check that the server is running"),
        "{err}"
    );
}
