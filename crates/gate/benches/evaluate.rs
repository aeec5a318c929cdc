//! Evaluating a policy over 10,000 reports (goal: under 10 ms).
//!
//! `cargo bench -p procurize-gate --bench evaluate`

#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use procurize_core::{Report, ReportList};
use procurize_gate::{Policy, evaluate};

fn reports(count: usize) -> Vec<Report> {
    let ratings = ["A", "B", "C", "D", "E"];
    let types = ["CWE Top 25", "OWASP Top 10", "PCI DSS"];
    let reports: Vec<serde_json::Value> = (0..count)
        .map(|i| {
            serde_json::json!({
                "projectName": format!("project-{}", i / 3),
                "id": procurize_core::Uuid::from_u128(i as u128 + 1).to_string(),
                "reportType": types[i % 3],
                "reportVersion": 2024,
                "projectVersion": if i % 10 == 0 { "v2.1.0" } else { "2.1" },
                "date": "2026-11-01T09:05:48.5946432+00:00",
                "uploadDate": format!("2026-11-{:02}T10:00:00Z", 1 + i % 28),
                "vulnerabilitiesCount": i % 13,
                "securityRating": ratings[i % 5],
            })
        })
        .collect();
    let list: ReportList = serde_json::from_value(serde_json::json!({
        "organizationId": "00000000-0000-0000-0000-000000000001",
        "reports": reports,
    }))
    .expect("valid reports");
    list.reports
}

fn bench(c: &mut Criterion) {
    let reports = reports(10_000);
    let policy = Policy::from_toml(
        r#"
min_rating = "B"
max_vulnerabilities = 10
max_age_days = 90
required_reports = ["CWE Top 25@2024", "OWASP Top 10", "PCI DSS"]

[[override]]
report_type = "PCI DSS"
min_rating = "A"

[[override]]
project = "project-7"
max_vulnerabilities = 3

[[waiver]]
project = "project-9"
report_type = "OWASP Top 10"
reason = "accepted risk"
expires = 2027-01-31
"#,
        "bench.toml",
    )
    .expect("policy");
    let today = time::Date::from_calendar_date(2026, time::Month::November, 29).expect("date");
    c.bench_function("evaluate 10,000 reports", |b| {
        // The reports move into the outcome; copying them for each run is not measured.
        b.iter_batched(
            || reports.clone(),
            |reports| evaluate(black_box(&policy), reports, today),
            criterion::BatchSize::LargeInput,
        );
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
