//! Deliveries from the simulator's sender to the workflow service, in-process on 127.0.0.1: what
//! each one is answered, what is stored, and which side effects happen (files, bundles, Slack).

mod support;

#[path = "../../notify/tests/support/fake_slack.rs"]
mod fake_slack;

use procurize_archive::{Limits, verify_bundle};
use procurize_server::store::{JobState, Step};
use procurize_sim::webhook::Delivery;
use support::{Harness, OLD_SECRET, Options, SECRET, deliver, payload, post, signer};

#[tokio::test]
async fn a_delivery_runs_the_workflow_once_and_a_redelivery_changes_nothing() {
    let (slack, recorded) = fake_slack::fake_slack(0).await;
    let harness = Harness::start_with(
        Options {
            slack: Some(slack),
            ..Options::default()
        },
        fake_slack::TOKEN,
    )
    .await;
    // Payments API v2.1.0 OWASP Top 10 is rated D: the gate (B or better) fails.
    let delivery = Delivery::new(harness.url.clone(), payload(&[0x10d]), signer(SECRET));
    assert_eq!(deliver(&delivery).await, 202);
    harness.idle().await;
    assert_eq!(
        harness.states().await,
        vec![
            (Step::Gate, JobState::Done, 1),
            (Step::Notify, JobState::Done, 1),
            (Step::Archive, JobState::Done, 1),
        ]
    );
    let messages = harness.files("messages");
    let names: Vec<String> = messages
        .iter()
        .map(|p| p.file_name().expect("name").to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(
        names.iter().any(|n| n.ends_with(".gate_failed.eml")),
        "{names:?}"
    );
    assert!(
        names.iter().any(|n| n.ends_with(".report_published.eml")),
        "{names:?}"
    );
    let bundles = harness.files("evidence");
    assert_eq!(bundles.len(), 1, "{bundles:?}");
    let name = bundles[0]
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    assert!(
        name.starts_with("00000000-0000-0000-0000-00000000010d-"),
        "named by the event: {name}"
    );
    let verification =
        verify_bundle(&bundles[0], &harness.key.public_key(), &Limits::default()).expect("reads");
    assert!(verification.valid, "{verification:?}");
    // The bundle says which report it is (the delivery's object) and keeps the signed delivery
    // byte for byte.
    let mut zip =
        zip::ZipArchive::new(std::fs::File::open(&bundles[0]).expect("opens")).expect("a ZIP");
    let mut read = |name: &str| {
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut zip.by_name(name).expect(name), &mut bytes).expect(name);
        bytes
    };
    assert_eq!(read("metadata/delivery.json"), delivery.body);
    let manifest: serde_json::Value =
        serde_json::from_slice(&read("manifest.json")).expect("manifest");
    let metadata = &manifest["reports"][0]["metadata"];
    assert_eq!(metadata["securityRating"], "D", "{manifest:#}");
    assert_eq!(metadata["projectName"], "Payments API", "{manifest:#}");
    // The gate's verdict is signed into it: FAILED, as the gate step decided, under the
    // configuration's policy, with the gate's own outcome as the detail.
    let verdict = verification.verdict.as_ref().expect("a signed verdict");
    assert_eq!(verdict.result, "FAILED");
    assert_eq!(verdict.reports, 1);
    assert!(verdict.policy_uri.ends_with("#gate.policy"), "{verdict:?}");
    let envelope: procurize_archive::dsse::Envelope =
        serde_json::from_slice(read("verdict.intoto.jsonl").trim_ascii_end()).expect("envelope");
    let verified = envelope
        .verify(
            &[harness.key.public_key()],
            1,
            &["application/vnd.in-toto+json"],
        )
        .expect("signed with the service's key");
    let statement: serde_json::Value = serde_json::from_slice(&verified.payload).expect("json");
    let predicate = &statement["predicate"];
    assert_eq!(
        predicate["inputAttestations"][0]["uri"],
        "metadata/delivery.json"
    );
    let detail = &predicate[procurize_archive::GATE_EXTENSION];
    assert_eq!(detail["status"], "fail", "{detail:#}");
    assert_eq!(predicate["timeVerified"], detail["evaluatedAt"]);
    let config =
        procurize_server::Config::from_file(&harness.path("procurize.toml")).expect("config");
    assert_eq!(
        read("metadata/policy.json"),
        config.gate.policy.canonical_json(),
        "the policy the event was gated with"
    );
    assert_eq!(recorded.lock().expect("lock").posts.len(), 2);

    // The platform sends it again (same ID, same body): 200, no new job, no new side effect.
    let modified = std::fs::metadata(&bundles[0])
        .expect("stat")
        .modified()
        .expect("mtime");
    assert_eq!(deliver(&delivery).await, 200);
    // And once more as a new delivery ID with the same event.
    let again = Delivery::new(harness.url.clone(), payload(&[0x10d]), signer(SECRET));
    assert_eq!(deliver(&again).await, 200);
    harness.idle().await;
    assert_eq!(
        harness
            .running()
            .store()
            .list(None, 100)
            .await
            .expect("list")
            .len(),
        3
    );
    assert_eq!(harness.files("messages").len(), 2);
    assert_eq!(harness.files("evidence"), bundles);
    assert_eq!(
        std::fs::metadata(&bundles[0])
            .expect("stat")
            .modified()
            .expect("mtime"),
        modified
    );
    assert_eq!(recorded.lock().expect("lock").posts.len(), 2);
    let metrics = harness.metrics().await;
    assert!(
        metrics.contains("procurize_deliveries_total{outcome=\"accepted\"} 1\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("procurize_deliveries_total{outcome=\"duplicate\"} 2\n"),
        "{metrics}"
    );
}

#[tokio::test]
async fn an_updated_report_is_a_new_event() {
    let harness = Harness::start(Options::default()).await;
    let original = payload(&[0x100]);
    assert_eq!(
        deliver(&Delivery::new(
            harness.url.clone(),
            original.clone(),
            signer(SECRET)
        ))
        .await,
        202
    );
    let mut updated: serde_json::Value = serde_json::from_slice(&original).expect("json");
    updated["reports"][0]["uploadDate"] = "2026-01-05T10:00:00.1234567+09:00".into();
    let updated = serde_json::to_vec(&updated).expect("json");
    assert_eq!(
        deliver(&Delivery::new(
            harness.url.clone(),
            updated.clone(),
            signer(SECRET)
        ))
        .await,
        202
    );
    // The same instant written with another offset is the same event.
    let mut same: serde_json::Value = serde_json::from_slice(&updated).expect("json");
    same["reports"][0]["uploadDate"] = "2026-01-05T01:00:00.1234567Z".into();
    assert_eq!(
        deliver(&Delivery::new(
            harness.url.clone(),
            serde_json::to_vec(&same).expect("json"),
            signer(SECRET)
        ))
        .await,
        200
    );
    harness.idle().await;
    assert_eq!(harness.files("evidence").len(), 2);
    assert_eq!(
        harness
            .files("messages")
            .iter()
            .filter(|p| p.to_string_lossy().ends_with(".report_published.eml"))
            .count(),
        2
    );
}

#[tokio::test]
async fn a_bad_or_missing_signature_is_401_and_nothing_is_stored() {
    let harness = Harness::start(Options::default()).await;
    let wrong = Delivery::new(
        harness.url.clone(),
        payload(&[0x100]),
        signer("not-the-secret"),
    );
    assert_eq!(deliver(&wrong).await, 401);
    let (status, answer) = post(&harness.url, payload(&[0x100]), None).await;
    assert_eq!(status, 401);
    assert_eq!(answer["error"], "bad_signature");
    assert!(
        answer["message"]
            .as_str()
            .expect("message")
            .to_ascii_lowercase()
            .contains("x-procurize-signature` header is missing"),
        "{answer}"
    );
    // A signature over other bytes.
    let mut tampered = payload(&[0x100]);
    let good = procurize_core::webhook::sign_hmac(
        &procurize_core::webhook::Secret::new(SECRET.as_bytes().to_vec()),
        &tampered,
    );
    tampered[20] ^= 1;
    let status = procurize_core::tls::reqwest_client()
        .expect("http client")
        .post(&harness.url)
        .header("X-Procurize-Signature", good)
        .body(tampered)
        .send()
        .await
        .expect("post")
        .status();
    assert_eq!(status.as_u16(), 401);
    assert!(
        harness
            .running()
            .store()
            .list(None, 10)
            .await
            .expect("list")
            .is_empty()
    );
    assert!(harness.files("messages").is_empty());
    let metrics = harness.metrics().await;
    assert!(
        metrics.contains("procurize_deliveries_total{outcome=\"bad_signature\"} 3\n"),
        "{metrics}"
    );
}

#[tokio::test]
async fn bad_payloads_are_refused_with_a_reason_and_nothing_is_stored() {
    let harness = Harness::start(Options {
        server: "body_limit_bytes = 4096".into(),
        ..Options::default()
    })
    .await;
    // Malformed JSON, signed correctly.
    let (status, answer) = post(
        &harness.url,
        b"{\"organizationId\": ".to_vec(),
        Some(SECRET),
    )
    .await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["error"], "bad_payload");
    // Valid JSON, a field of the wrong kind: the answer names it.
    let mut bad: serde_json::Value = serde_json::from_slice(&payload(&[0x100])).expect("json");
    bad["reports"][0]["securityRating"] = "F".into();
    let (status, answer) = post(
        &harness.url,
        serde_json::to_vec(&bad).expect("json"),
        Some(SECRET),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        answer["message"]
            .as_str()
            .expect("message")
            .contains("reports[0].securityRating"),
        "{answer}"
    );
    // Over the limit (4 KiB here; 1 MiB by default): 413, from the sender too.
    let big = vec![b' '; 5000];
    let (status, answer) = post(&harness.url, big.clone(), Some(SECRET)).await;
    assert_eq!(status, 413);
    assert_eq!(answer["error"], "too_large");
    assert_eq!(
        deliver(&Delivery::new(harness.url.clone(), big, signer(SECRET))).await,
        413
    );
    // An organization that is not configured: 403.
    let mut other: serde_json::Value = serde_json::from_slice(&payload(&[0x100])).expect("json");
    other["organizationId"] = "00000000-0000-0000-0000-0000000000ff".into();
    let (status, answer) = post(
        &harness.url,
        serde_json::to_vec(&other).expect("json"),
        Some(SECRET),
    )
    .await;
    assert_eq!(status, 403);
    assert!(
        answer["message"]
            .as_str()
            .expect("message")
            .contains("00000000-0000-0000-0000-0000000000ff"),
        "{answer}"
    );
    assert!(
        harness
            .running()
            .store()
            .list(None, 10)
            .await
            .expect("list")
            .is_empty()
    );
    let metrics = harness.metrics().await;
    for line in [
        "procurize_deliveries_total{outcome=\"bad_payload\"} 2\n",
        "procurize_deliveries_total{outcome=\"too_large\"} 2\n",
        "procurize_deliveries_total{outcome=\"unknown_organization\"} 1\n",
        "procurize_deliveries_total{outcome=\"accepted\"} 0\n",
    ] {
        assert!(metrics.contains(line), "{line} in {metrics}");
    }
}

#[tokio::test]
async fn a_rotated_secret_is_accepted_beside_the_new_one() {
    let harness = Harness::start(Options {
        old_secret: true,
        ..Options::default()
    })
    .await;
    let new = Delivery::new(harness.url.clone(), payload(&[0x100]), signer(SECRET));
    let old = Delivery::new(harness.url.clone(), payload(&[0x101]), signer(OLD_SECRET));
    let neither = Delivery::new(harness.url.clone(), payload(&[0x102]), signer("third"));
    assert_eq!(deliver(&new).await, 202);
    assert_eq!(deliver(&old).await, 202);
    assert_eq!(deliver(&neither).await, 401);
    harness.idle().await;
    assert_eq!(harness.files("evidence").len(), 2);
}

#[tokio::test]
async fn a_signed_delivery_without_reports_is_counted_as_empty_and_stores_nothing() {
    let harness = Harness::start(Options::default()).await;
    let empty = Delivery::new(harness.url.clone(), payload(&[]), signer(SECRET));
    assert_eq!(deliver(&empty).await, 200);
    harness.idle().await;
    assert!(
        harness
            .running()
            .store()
            .list(None, 100)
            .await
            .expect("list")
            .is_empty()
    );
    let metrics = harness.metrics().await;
    assert!(
        metrics.contains("procurize_deliveries_total{outcome=\"empty\"} 1\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("procurize_deliveries_total{outcome=\"accepted\"} 0\n"),
        "{metrics}"
    );
}

#[tokio::test]
async fn without_the_old_secret_its_deliveries_are_refused() {
    let harness = Harness::start(Options::default()).await;
    let old = Delivery::new(harness.url.clone(), payload(&[0x101]), signer(OLD_SECRET));
    assert_eq!(deliver(&old).await, 401);
}

#[tokio::test]
async fn health_and_readiness_answer() {
    let harness = Harness::start(Options::default()).await;
    let base = format!("http://{}", harness.running().addr());
    let health = procurize_core::tls::reqwest_client()
        .expect("http client")
        .get(format!("{base}/healthz"))
        .send()
        .await
        .expect("get");
    assert_eq!(health.status().as_u16(), 200);
    let ready = procurize_core::tls::reqwest_client()
        .expect("http client")
        .get(format!("{base}/readyz"))
        .send()
        .await
        .expect("get");
    assert_eq!(ready.status().as_u16(), 200);
    // Only POST is a delivery.
    let get = procurize_core::tls::reqwest_client()
        .expect("http client")
        .get(&harness.url)
        .send()
        .await
        .expect("get");
    assert_eq!(get.status().as_u16(), 405);
}

#[tokio::test]
async fn standard_webhooks_deliveries_are_verified_with_their_timestamp() {
    use procurize_core::webhook::{Scheme, Secret, Signer, sign_standard};
    let harness = Harness::start(Options {
        standard: true,
        ..Options::default()
    })
    .await;
    let secret = Secret::standard(support::STANDARD_SECRET).expect("secret");
    let signer = Signer::new(Scheme::StandardWebhooks, secret.clone());
    let delivery = Delivery::new(harness.url.clone(), payload(&[0x100]), signer);
    assert_eq!(deliver(&delivery).await, 202);
    // Signed correctly but an hour old: outside the five-minute window.
    let body = payload(&[0x101]);
    let stale = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
        - 3600;
    let response = procurize_core::tls::reqwest_client()
        .expect("http client")
        .post(&harness.url)
        .header("webhook-id", "msg_stale")
        .header("webhook-timestamp", stale.to_string())
        .header(
            "webhook-signature",
            sign_standard(&secret, "msg_stale", stale, &body),
        )
        .body(body)
        .send()
        .await
        .expect("post");
    assert_eq!(response.status().as_u16(), 401);
    let answer: serde_json::Value = response.json().await.expect("json");
    assert!(
        answer["message"]
            .as_str()
            .expect("message")
            .contains("outside the tolerance"),
        "{answer}"
    );
    harness.idle().await;
    assert_eq!(harness.files("evidence").len(), 1);
}

#[tokio::test]
async fn a_slow_body_times_out_and_the_concurrency_cap_makes_others_wait() {
    use tokio::io::AsyncWriteExt as _;
    let harness = Harness::start(Options {
        server: "request_timeout_seconds = 1\nmax_concurrent_requests = 1".into(),
        ..Options::default()
    })
    .await;
    let addr = harness.running().addr();
    // A client that announces 1,000 bytes and sends 10: it holds the only permit until its
    // deadline.
    let mut slow = tokio::net::TcpStream::connect(addr).await.expect("connect");
    slow.write_all(
        b"POST /webhooks/procurize HTTP/1.1\r\nhost: x\r\ncontent-length: 1000\r\n\r\n{\"organiz",
    )
    .await
    .expect("write");
    // Time for the server to take the slow request's permit (it holds it for 1 s).
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let started = std::time::Instant::now();
    let status = deliver(&Delivery::new(
        harness.url.clone(),
        payload(&[0x100]),
        signer(SECRET),
    ))
    .await;
    assert_eq!(status, 202);
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(400),
        "the second request waited for the slow one's permit ({:?})",
        started.elapsed()
    );
    let mut answer = vec![0u8; 512];
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        tokio::io::AsyncReadExt::read(&mut slow, &mut answer),
    )
    .await
    .expect("an answer within 5 s")
    .expect("read");
    let answer = String::from_utf8_lossy(&answer[..read]);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    let metrics = harness.metrics().await;
    assert!(
        metrics.contains("procurize_deliveries_total{outcome=\"timeout\"} 1\n"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_policy_requiring_report_types_lists_the_version_from_the_api() {
    let harness = Harness::start(Options {
        policy: "required_reports = [\"CWE Top 25\", \"Secrets scan\"]".into(),
        ..Options::default()
    })
    .await;
    // Test product 1.0 OWASP Top 10 (A): the project's CWE Top 25 report is listed from the
    // API; no Secrets scan exists, so the gate fails on the missing report.
    let delivery = Delivery::new(harness.url.clone(), payload(&[0x101]), signer(SECRET));
    assert_eq!(deliver(&delivery).await, 202);
    harness.idle().await;
    let listed: Vec<_> = harness
        .sim
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/list"))
        .collect();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert!(listed[0].query.contains("version=1.0"), "{listed:?}");
    let gate = harness
        .running()
        .store()
        .list(None, 10)
        .await
        .expect("list")
        .into_iter()
        .find(|j| j.step == Step::Gate)
        .expect("gate job");
    let document: serde_json::Value = serde_json::from_str(
        &harness
            .running()
            .store()
            .output(gate.event_id, Step::Gate)
            .await
            .expect("output")
            .expect("done"),
    )
    .expect("json");
    assert_eq!(document["status"], "fail", "{document}");
    let types: Vec<&str> = document["reports"]
        .as_array()
        .expect("reports")
        .iter()
        .map(|r| r["reportType"].as_str().expect("type"))
        .collect();
    assert!(
        types.contains(&"CWE Top 25") && types.contains(&"OWASP Top 10"),
        "{types:?}"
    );
    assert_eq!(
        document["missing"][0]["reportType"], "Secrets scan",
        "{document}"
    );
    assert!(
        harness
            .files("messages")
            .iter()
            .any(|p| p.to_string_lossy().ends_with(".gate_failed.eml"))
    );
}

#[tokio::test]
async fn a_start_sweeps_the_temporary_files_a_killed_notify_step_left() {
    let dir = tempfile::tempdir().expect("dir");
    let sim = procurize_sim::Simulator::start_sample().await.expect("sim");
    let (config, _) = support::write_config(
        dir.path(),
        &sim.base_url(),
        &Options::default(),
        "xoxb-test",
    );
    let messages = dir.path().join("messages");
    std::fs::create_dir_all(&messages).expect("mkdir");
    std::fs::write(messages.join(".procurize-k1ll3d.partial"), b"{\"half\":").expect("write");
    std::fs::write(messages.join("earlier.json"), b"{}").expect("write");
    let running = support::start(&config).await;
    let mut left: Vec<String> = std::fs::read_dir(&messages)
        .expect("read")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["earlier.json"]);
    running.shutdown().await.expect("shutdown");
}

/// Reads until the server closes the connection; whether it did within `limit`.
async fn closed_within(
    stream: &mut (impl tokio::io::AsyncRead + Unpin),
    limit: std::time::Duration,
) -> bool {
    use tokio::io::AsyncReadExt;
    let mut buffer = [0u8; 1024];
    tokio::time::timeout(limit, async {
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}

#[tokio::test]
async fn slow_half_sent_and_silent_headers_are_cut_off() {
    use tokio::io::AsyncWriteExt;
    let harness = Harness::start(Options {
        server: "request_timeout_seconds = 1".into(),
        ..Options::default()
    })
    .await;
    let addr = harness.running().addr();
    let limit = std::time::Duration::from_secs(5);

    // Connects and sends nothing.
    let mut silent = tokio::net::TcpStream::connect(addr).await.expect("connect");
    // Stops half-way through a header line.
    let mut half = tokio::net::TcpStream::connect(addr).await.expect("connect");
    half.write_all(b"POST /webhook HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Le")
        .await
        .expect("write");
    // Sends its headers one byte at a time, a byte every 100 ms, for as long as it may.
    let mut dribble = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (mut read_half, mut write_half) = dribble.split();
    let headers = b"POST /webhook HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
    let writer = async {
        for byte in headers {
            if write_half.write_all(&[*byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    };
    let reader = closed_within(&mut read_half, limit);
    let (_, dribble_closed) = tokio::join!(writer, reader);
    assert!(
        dribble_closed,
        "a byte-at-a-time client was still connected after 5 s"
    );
    assert!(
        closed_within(&mut half, limit).await,
        "a half-sent header was still open after 5 s"
    );
    assert!(
        closed_within(&mut silent, limit).await,
        "a silent client was still connected after 5 s"
    );

    // The server still answers everyone else.
    let delivery = Delivery::new(harness.url.clone(), payload(&[0x100]), signer(SECRET));
    assert_eq!(deliver(&delivery).await, 202);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_slower_than_its_lease_runs_once() {
    // Every API answer takes 2.5 s; the lease is 1 s and two workers are waiting for work.
    let sim = procurize_sim::Simulator::start_local(procurize_sim::SimConfig::sample_with(
        procurize_sim::Faults {
            latency: std::time::Duration::from_millis(2500),
            ..procurize_sim::Faults::default()
        },
    ))
    .await
    .expect("sim");
    let dir = tempfile::tempdir().expect("dir");
    let (config, _) = support::write_config(
        dir.path(),
        &sim.base_url(),
        &Options::default(),
        "xoxb-test",
    );
    let text = std::fs::read_to_string(&config).expect("config");
    assert!(text.contains("poll_millis = 20\n"));
    std::fs::write(
        &config,
        text.replace(
            "poll_millis = 20\n",
            "poll_millis = 20\nlease_seconds = 1\n",
        ),
    )
    .expect("config");
    let running = support::start(&config).await;
    let delivery = Delivery::new(running.webhook_url(), payload(&[0x100]), signer(SECRET));
    assert_eq!(deliver(&delivery).await, 202);
    assert!(running.wait_idle(std::time::Duration::from_secs(60)).await);
    let jobs = running.store().list(None, 100).await.expect("list");
    let archive = jobs
        .iter()
        .find(|j| j.step == Step::Archive)
        .expect("archive job");
    assert_eq!(archive.state, JobState::Done);
    assert_eq!(
        archive.attempts, 1,
        "the slow step was not claimed again: {jobs:?}"
    );
    let downloads = sim
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/files"))
        .count();
    assert_eq!(downloads, 1, "one download, not one per expired lease");
    running.shutdown().await.expect("shutdown");
}
