//! Webhook verification throughput for a 2 KiB body, beside raw SHA-256 of the same bytes.
//!
//! `cargo bench -p procurize-core --bench webhook`; compare the two throughputs as a ratio.

#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use procurize_core::webhook::{Scheme, Secret, Signer, Verifier};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use sha2::{Digest, Sha256};

fn body() -> Vec<u8> {
    // A realistic payload: the list shape, padded to 2 KiB.
    let mut body = serde_json::to_vec(&serde_json::json!({
        "organizationId": "00000000-0000-0000-0000-000000000001",
        "reports": [{
            "projectName": "Test product", "id": "00000000-0000-0000-0000-000000000002",
            "reportType": "CWE Top 25", "reportVersion": 2024, "projectVersion": "1.0",
            "date": "2025-12-17T09:05:48.5946432+00:00", "uploadDate": "2025-12-17T09:05:48.5946432+00:00",
            "vulnerabilitiesCount": 0, "securityRating": "A"
        }]
    }))
    .expect("json");
    body.resize(2048, b' ');
    body
}

fn headers(pairs: Vec<(String, String)>) -> HeaderMap {
    pairs
        .into_iter()
        .map(|(k, v)| {
            (
                HeaderName::from_bytes(k.as_bytes()).expect("name"),
                HeaderValue::from_str(&v).expect("value"),
            )
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let body = body();
    let mut group = c.benchmark_group("webhook-2KiB");
    group.throughput(Throughput::Bytes(body.len() as u64));

    group.bench_function("sha256 (reference)", |b| {
        b.iter(|| Sha256::digest(black_box(&body)));
    });

    let secret = Secret::new("a shared secret of reasonable length");
    let verifier = Verifier::hmac(vec![secret.clone()]).expect("verifier");
    let signed = headers(Signer::new(Scheme::Hmac, secret).headers("d", 0, &body));
    group.bench_function("verify hmac", |b| {
        b.iter(|| {
            verifier
                .verify(black_box(&signed), black_box(&body))
                .expect("valid")
        });
    });

    let secret = Secret::standard("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("secret");
    let verifier = Verifier::standard_webhooks(vec![secret.clone()])
        .expect("verifier")
        .tolerance(None);
    let signed = headers(Signer::new(Scheme::StandardWebhooks, secret).headers(
        "msg_1",
        1_700_000_000,
        &body,
    ));
    group.bench_function("verify standard-webhooks", |b| {
        b.iter(|| {
            verifier
                .verify(black_box(&signed), black_box(&body))
                .expect("valid")
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
