//! Properties of evaluation over generated reports and policies (proptest).

mod common;

use common::{R, r, today};
use procurize_gate::{Policy, evaluate};
use proptest::prelude::*;

const PROJECTS: [&str; 3] = ["Payments API", "Portal", "会計ポータル"];
const VERSIONS: [&str; 3] = ["1.0", "1.0.0", "2.0"];
const KINDS: [&str; 3] = ["CWE Top 25", "OWASP Top 10", "PCI DSS"];
const RATINGS: [&str; 5] = ["A", "B", "C", "D", "E"];
const UPLOADS: [&str; 3] = [
    "2026-11-20T09:05:48Z",
    "2026-11-21T09:05:48+09:00",
    "2026-11-21T00:05:48Z",
];

/// Reports drawn from a small space, so that the same project, version and type recur (newer
/// uploads supersede older ones) and versions equal by precedence (`1.0`, `1.0.0`) meet.
fn reports() -> impl Strategy<Value = Vec<R>> {
    prop::collection::vec(
        (
            0usize..3,
            0usize..3,
            0usize..3,
            0usize..5,
            0u64..12,
            0usize..3,
        ),
        0..12,
    )
    .prop_map(|rows| {
        rows.into_iter()
            .enumerate()
            .map(|(n, (p, v, k, rating, count, up))| {
                r(n as u128 + 1)
                    .project(PROJECTS[p])
                    .version(VERSIONS[v])
                    .kind(KINDS[k])
                    .rating(RATINGS[rating])
                    .count(count)
                    .uploaded(UPLOADS[up])
            })
            .collect()
    })
}

/// Policies using each rule: ratings, counts, required types, age, projects, an override and
/// a waiver.
fn policy() -> impl Strategy<Value = Policy> {
    (0usize..5, prop::option::of(0u64..10), prop::bool::ANY, prop::bool::ANY, prop::bool::ANY)
        .prop_map(|(rating, max, required, override_, waiver)| {
            let mut text = format!("min_rating = \"{}\"\n", RATINGS[rating]);
            if let Some(max) = max {
                text.push_str(&format!("max_vulnerabilities = {max}\n"));
            }
            if required {
                text.push_str("required_reports = [\"CWE Top 25\", \"PCI DSS\"]\nmax_age_days = 30\n");
            }
            if override_ {
                text.push_str("[[override]]\nproject = \"Portal\"\nmin_rating = \"D\"\n");
            }
            if waiver {
                text.push_str(
                    "[[waiver]]\nproject = \"Payments API\"\nreport_type = \"OWASP Top 10\"\nreason = \"accepted\"\nexpires = \"2027-01-01\"\n",
                );
            }
            Policy::from_toml(&text, "policy.toml").expect("a generated policy parses")
        })
}

proptest! {
    #[test]
    fn the_verdict_does_not_depend_on_the_order_of_the_reports(
        (list, shuffled) in reports().prop_flat_map(|list| (Just(list.clone()), Just(list).prop_shuffle())),
        policy in policy(),
    ) {
        let built = |rows: &[R]| rows.iter().map(R::build).collect::<Vec<_>>();
        let first = evaluate(&policy, built(&list), today());
        let second = evaluate(&policy, built(&shuffled), today());
        prop_assert_eq!(first, second);
    }
}
