//! The policy matrix: every rule passing, warning and failing, at its boundaries.

mod common;

use common::{r, reports, today};
use procurize_core::{SecurityRating, Uuid};
use procurize_gate::{OnMissing, Outcome, Policy, Rule, Status, evaluate};

fn policy(toml: &str) -> Policy {
    Policy::from_toml(toml, "policy.toml").expect("valid policy")
}

fn run(toml: &str, list: &[common::R]) -> Outcome {
    evaluate(&policy(toml), reports(list), today())
}

fn rule_status(outcome: &Outcome, id: u128, rule: Rule) -> Status {
    outcome
        .reports
        .iter()
        .find(|o| o.report.id == Uuid::from_u128(id))
        .and_then(|o| o.rules.iter().find(|x| x.rule == rule))
        .map(|x| x.status)
        .unwrap_or_else(|| panic!("no {rule} for report {id}"))
}

#[test]
fn default_policy_requires_rating_a() {
    let outcome = run("", &[r(1), r(2).rating("B").kind("OWASP Top 10")]);
    assert_eq!(rule_status(&outcome, 1, Rule::MinRating), Status::Pass);
    assert_eq!(rule_status(&outcome, 2, Rule::MinRating), Status::Fail);
    assert_eq!(outcome.status, Status::Fail);
    let reason = &outcome.reports[1].rules[0].reason;
    assert_eq!(reason, "security rating B is worse than the minimum A");
}

#[test]
fn rating_equal_to_the_minimum_passes_and_one_worse_fails() {
    let list = [
        r(1).rating("A"),
        r(2).rating("B").kind("OWASP Top 10"),
        r(3).rating("C").kind("PCI DSS").edition("4.0"),
    ];
    let outcome = run(r#"min_rating = "B""#, &list);
    assert_eq!(rule_status(&outcome, 1, Rule::MinRating), Status::Pass);
    assert_eq!(rule_status(&outcome, 2, Rule::MinRating), Status::Pass);
    assert_eq!(rule_status(&outcome, 3, Rule::MinRating), Status::Fail);
    let failing = &outcome
        .reports
        .iter()
        .find(|o| o.report.id == Uuid::from_u128(3))
        .expect("r3")
        .rules[0];
    assert_eq!(
        (
            failing.expected.to_string().as_str(),
            failing.actual.to_string().as_str()
        ),
        ("B or better", "C")
    );
    assert_eq!(outcome.summary.failed, 1);
    assert_eq!(outcome.summary.passed, 2);
}

#[test]
fn count_equal_to_the_maximum_passes_and_one_more_fails() {
    let list = [
        r(1).rating("B").count(3),
        r(2).rating("B").count(4).kind("OWASP Top 10"),
    ];
    let outcome = run("min_rating = \"B\"\nmax_vulnerabilities = 3", &list);
    assert_eq!(
        rule_status(&outcome, 1, Rule::MaxVulnerabilities),
        Status::Pass
    );
    assert_eq!(
        rule_status(&outcome, 2, Rule::MaxVulnerabilities),
        Status::Fail
    );
    assert!(
        outcome.reports[1].rules[1]
            .reason
            .contains("4 vulnerabilities, more than the 3 allowed")
    );
    // Without a maximum there is no such rule.
    let outcome = run("min_rating = \"B\"", &list);
    assert!(outcome.reports.iter().all(|o| o.rules.len() == 1));
}

#[test]
fn age_equal_to_the_maximum_passes_and_one_day_more_fails() {
    // today() is 2026-11-29.
    let list = [
        r(1).date("2026-11-19T23:59:59Z"),
        r(2).date("2026-11-18T00:00:00+00:00").kind("OWASP Top 10"),
        // 2026-11-19T08:00+09:00 is 2026-11-18T23:00Z: age is counted in UTC.
        r(3).date("2026-11-19T08:00:00+09:00").kind("PCI DSS"),
    ];
    let outcome = run("max_age_days = 10", &list);
    assert_eq!(rule_status(&outcome, 1, Rule::MaxAgeDays), Status::Pass);
    assert_eq!(rule_status(&outcome, 2, Rule::MaxAgeDays), Status::Fail);
    assert_eq!(rule_status(&outcome, 3, Rule::MaxAgeDays), Status::Fail);
}

#[test]
fn no_report_at_all_follows_on_missing() {
    for (on_missing, expected) in [
        ("fail", Status::Fail),
        ("warn", Status::Warn),
        ("pass", Status::Pass),
    ] {
        let outcome = run(&format!("on_missing = \"{on_missing}\""), &[]);
        assert_eq!(outcome.status, expected, "{on_missing}");
        assert_eq!(outcome.missing.len(), 1);
        assert_eq!(
            outcome.missing[0].reason,
            "no report exists for the requested version"
        );
    }
}

#[test]
fn required_reports_are_checked_per_project_and_version_under_each_on_missing() {
    let list = [
        r(1),
        r(2).kind("OWASP Top 10").edition("2021"),
        r(3).project("会計ポータル")
            .kind("CWE Top 25")
            .edition("2023"),
        r(4).version("1.0.0")
            .project("Payments API")
            .kind("PCI DSS")
            .edition("4.0"),
    ];
    for (on_missing, expected) in [
        (OnMissing::Fail, Status::Fail),
        (OnMissing::Warn, Status::Warn),
        (OnMissing::Pass, Status::Pass),
    ] {
        let mut p = policy(
            r#"required_reports = ["CWE Top 25@2024", { type = "OWASP Top 10", min_version = 2021 }]"#,
        );
        p.on_missing = on_missing;
        let outcome = evaluate(&p, reports(&list), today());
        let reasons: Vec<&str> = outcome.missing.iter().map(|m| m.reason.as_str()).collect();
        assert_eq!(
            reasons,
            [
                "Payments API 1.0.0: no CWE Top 25 report",
                "Payments API 1.0.0: no OWASP Top 10 report",
                "会計ポータル 1.0: CWE Top 25 2023 is too old; 2024 or later is required",
                "会計ポータル 1.0: no OWASP Top 10 report",
            ]
        );
        assert!(outcome.missing.iter().all(|m| m.status == expected));
        assert_eq!(
            outcome.status, expected,
            "{on_missing:?}: every present report passes"
        );
    }
}

#[test]
fn listed_projects_without_reports_are_missing_and_others_are_ignored() {
    let list = [r(1), r(2).project("Other").rating("E")];
    let outcome = run(r#"projects = ["Test product", "Billing"]"#, &list);
    assert_eq!(outcome.reports.len(), 1, "Other is out of scope");
    assert_eq!(outcome.missing.len(), 1);
    assert_eq!(outcome.missing[0].project_name.as_deref(), Some("Billing"));
    assert_eq!(outcome.status, Status::Fail);
}

#[test]
fn the_newest_upload_decides_and_older_ones_are_superseded() {
    let list = [
        r(1).rating("C").uploaded("2026-11-20T10:00:00Z"),
        r(2).rating("A").uploaded("2026-11-21T10:00:00+09:00"), // 01:00Z on the 21st: newest
        r(3).rating("E").uploaded("2026-11-20T23:00:00Z"),
        r(4).rating("A").version("1.0.0").kind("OWASP Top 10"),
    ];
    let outcome = run("", &list);
    assert_eq!(outcome.status, Status::Pass);
    let ids: Vec<Uuid> = outcome.reports.iter().map(|o| o.report.id).collect();
    assert_eq!(ids, [Uuid::from_u128(2), Uuid::from_u128(4)]);
    let superseded: Vec<(Uuid, Uuid)> = outcome
        .superseded
        .iter()
        .map(|s| (s.report.id, s.superseded_by))
        .collect();
    assert_eq!(superseded.len(), 2);
    assert!(superseded.iter().all(|(_, by)| *by == Uuid::from_u128(2)));
    assert_eq!(outcome.summary.superseded, 2);

    // The same reports in any order give the same outcome.
    let mut reversed = list.to_vec();
    reversed.reverse();
    assert_eq!(run("", &reversed), outcome);
    // `1.0` and `1.0.0` are the same version.
    let outcome = run(
        "",
        &[
            r(1).rating("E"),
            r(2).version("1.0.0").uploaded("2026-11-22T00:00:00Z"),
        ],
    );
    assert_eq!(outcome.reports.len(), 1);
    assert_eq!(outcome.status, Status::Pass);
}

#[test]
fn active_waivers_turn_failures_into_warnings() {
    let list = [
        r(1).rating("D").count(9),
        r(2).rating("C").kind("OWASP Top 10"),
    ];
    let outcome = run(
        r#"
max_vulnerabilities = 5

[[waiver]]
report = "00000000-0000-0000-0000-000000000001"
reason = "fix scheduled for 1.0.1"
expires = 2026-11-29

[[waiver]]
project = "Test product"
report_type = "OWASP Top 10"
reason = "accepted risk, see RISK-12"
expires = "2027-03-31"
"#,
        &list,
    );
    assert_eq!(outcome.status, Status::Warn);
    assert_eq!(
        rule_status(&outcome, 1, Rule::MinRating),
        Status::Warn,
        "expires today: still active"
    );
    assert_eq!(
        rule_status(&outcome, 1, Rule::MaxVulnerabilities),
        Status::Warn
    );
    assert_eq!(rule_status(&outcome, 2, Rule::MinRating), Status::Warn);
    let rule = &outcome.reports[0].rules[0];
    assert_eq!(
        rule.waiver.as_ref().map(|w| w.expires.as_str()),
        Some("2026-11-29")
    );
    assert!(
        rule.reason
            .ends_with("(waived until 2026-11-29: fix scheduled for 1.0.1)"),
        "{}",
        rule.reason
    );
    assert!(outcome.expired_waivers.is_empty());
}

#[test]
fn expired_waivers_no_longer_apply_and_are_reported() {
    let outcome = run(
        r#"
[[waiver]]
report = "00000000-0000-0000-0000-000000000001"
reason = "was going to be fixed"
expires = 2026-11-28
"#,
        &[r(1).rating("B")],
    );
    assert_eq!(outcome.status, Status::Fail);
    assert!(outcome.reports[0].rules[0].waiver.is_none());
    assert!(
        outcome.reports[0].rules[0]
            .reason
            .ends_with("(the waiver expired on 2026-11-28)")
    );
    assert_eq!(outcome.expired_waivers.len(), 1);
    assert_eq!(outcome.expired_waivers[0].expired, "2026-11-28");
    assert_eq!(
        outcome.expired_waivers[0].subject,
        "report 00000000-0000-0000-0000-000000000001"
    );
}

#[test]
fn overrides_apply_most_specific_first_field_by_field() {
    let p = policy(
        r#"
min_rating = "A"
max_vulnerabilities = 0

[[override]]
report_type = "PCI DSS"
min_rating = "C"
max_vulnerabilities = 10

[[override]]
project = "Legacy"
min_rating = "D"

[[override]]
project = "Legacy"
report_type = "PCI DSS"
min_rating = "B"
"#,
    );
    let limits = p.limits("Test product", "CWE Top 25");
    assert_eq!(
        (limits.min_rating, limits.max_vulnerabilities),
        (SecurityRating::A, Some(0))
    );
    let limits = p.limits("Test product", "PCI DSS");
    assert_eq!(
        (limits.min_rating, limits.max_vulnerabilities),
        (SecurityRating::C, Some(10))
    );
    let limits = p.limits("Legacy", "CWE Top 25");
    assert_eq!(
        (limits.min_rating, limits.max_vulnerabilities),
        (SecurityRating::D, Some(0))
    );
    let limits = p.limits("Legacy", "PCI DSS");
    assert_eq!(
        (limits.min_rating, limits.max_vulnerabilities),
        (SecurityRating::B, Some(10)),
        "project+type wins on rating; the type override still gives the count"
    );
    let outcome = evaluate(
        &p,
        reports(&[
            r(1).project("Legacy").kind("PCI DSS").rating("B").count(10),
            r(2).project("Legacy")
                .kind("PCI DSS")
                .rating("C")
                .version("2.0"),
        ]),
        today(),
    );
    assert_eq!(rule_status(&outcome, 1, Rule::MinRating), Status::Pass);
    assert_eq!(
        rule_status(&outcome, 1, Rule::MaxVulnerabilities),
        Status::Pass
    );
    assert_eq!(rule_status(&outcome, 2, Rule::MinRating), Status::Fail);
}

#[test]
fn order_is_deterministic() {
    let list = [
        r(5).project("b").version("10.0"),
        r(4).project("b").version("9.0"),
        r(3).project("a").kind("PCI DSS"),
        r(2).project("a").kind("OWASP Top 10"),
        r(1).project("a").version("1.0.0-rc.1"),
    ];
    let outcome = run("", &list);
    let order: Vec<(String, String, String)> = outcome
        .reports
        .iter()
        .map(|o| {
            (
                o.report.project_name.clone(),
                o.report.project_version.to_string(),
                o.report.report_type.clone(),
            )
        })
        .collect();
    assert_eq!(
        order,
        [
            ("a".into(), "1.0.0-rc.1".into(), "CWE Top 25".into()),
            ("a".into(), "1.0".into(), "OWASP Top 10".into()),
            ("a".into(), "1.0".into(), "PCI DSS".into()),
            ("b".into(), "9.0".into(), "CWE Top 25".into()),
            ("b".into(), "10.0".into(), "CWE Top 25".into()),
        ]
    );
}

#[test]
fn policy_files_are_strict_and_errors_name_file_line_and_key() {
    let cases = [
        (
            "min_rating = \"A\"\nmax_vulnerabilites = 3\n",
            2,
            "unknown field `max_vulnerabilites`",
        ),
        ("min_rating = \"F\"\n", 1, "unknown security rating `F`"),
        ("\n\non_missing = \"maybe\"\n", 3, "maybe"),
        ("max_vulnerabilities = -1\n", 1, "max_vulnerabilities"),
        (
            "required_reports = [\"@2024\"]\n",
            1,
            "names no report type",
        ),
        (
            "[[override]]\nmin_rating = \"B\"\n",
            1,
            "needs `project`, `report_type` or both",
        ),
        (
            "[[waiver]]\nproject = \"P\"\nreason = \"r\"\nexpires = 2027-01-01\n",
            1,
            "needs `report`, or both `project` and `report_type`",
        ),
        (
            "[[waiver]]\nreport = \"00000000-0000-0000-0000-000000000001\"\nreason = \"r\"\nexpires = \"next week\"\n",
            4,
            "`next week` is not a date",
        ),
        (
            "[[waiver]]\nreport = \"00000000-0000-0000-0000-000000000001\"\nexpires = 2027-01-01\n",
            1,
            "missing field `reason`",
        ),
        (
            "[[override]]\nproject = \"P\"\ncolour = \"red\"\n",
            3,
            "unknown field `colour`",
        ),
    ];
    for (text, line, needle) in cases {
        let err = Policy::from_toml(text, "gate.toml")
            .expect_err(text)
            .to_string();
        assert!(
            err.starts_with(&format!("gate.toml:{line}:")),
            "{text:?} → {err}"
        );
        assert!(err.contains(needle), "{text:?} → {err}");
    }
}

#[test]
fn required_reports_take_every_documented_form() {
    let p = policy(
        r#"required_reports = ["CWE Top 25", "CWE Top 25@2024", { type = "PCI DSS", min_version = "4.0" }, { type = "OWASP Top 10", min_version = 2021 }]"#,
    );
    let shown: Vec<String> = p.required_reports.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        [
            "CWE Top 25",
            "CWE Top 25 ≥ 2024",
            "PCI DSS ≥ 4.0",
            "OWASP Top 10 ≥ 2021"
        ]
    );
}

#[test]
fn an_empty_policy_is_the_default() {
    assert_eq!(policy(""), Policy::default());
    assert_eq!(Policy::default().on_missing, OnMissing::Fail);
}

#[test]
fn the_reference_policy_example_is_valid_and_complete() {
    let readme = include_str!("../../../docs/configuration.md");
    let start = readme
        .find("## The policy file")
        .expect("the example's heading");
    let block = &readme[start..];
    let body = block
        .split_once("```toml\n")
        .and_then(|(_, rest)| rest.split_once("```"))
        .map(|(toml, _)| toml)
        .expect("a toml block");
    let p = Policy::from_toml(body, "configuration.md").expect("the reference's policy parses");
    assert_eq!(p.min_rating, SecurityRating::B);
    assert_eq!(p.max_vulnerabilities, Some(5));
    assert_eq!(p.max_age_days, Some(90));
    assert_eq!(p.required_reports.len(), 2);
    assert_eq!(p.on_missing, OnMissing::Fail);
    assert_eq!(p.projects, ["Test product"]);
    assert_eq!(p.overrides.len(), 2);
    assert_eq!(p.waivers.len(), 2);
}

#[test]
fn the_canonical_text_is_the_policy_not_its_layout() {
    let written = Policy::from_toml(
        "# a comment\nmin_rating = \"B\"\non_missing = \"fail\"   # the default, written out\n\n[[waiver]]\nproject = \"P\"\nreport_type = \"T\"\nreason = \"r\"\nexpires = 2026-12-31\n",
        "a.toml",
    )
    .expect("policy");
    let same = Policy::from_toml(
        "min_rating = 'B'\n[[waiver]]\nexpires = \"2026-12-31\"\nreason = \"r\"\nreport_type = \"T\"\nproject = \"P\"\n",
        "c.toml",
    )
    .expect("policy");
    // Comments, order, quoting, a date as a string and a default left out: the same bytes.
    assert_eq!(written.canonical_json(), same.canonical_json());
    let text = String::from_utf8(written.canonical_json()).expect("utf-8");
    assert_eq!(text.lines().count(), 1, "{text}");
    let value: serde_json::Value = serde_json::from_str(&text).expect("json");
    assert_eq!(value["minRating"], "B");
    assert_eq!(value["onMissing"], "fail");
    assert_eq!(value["maxVulnerabilities"], serde_json::Value::Null);
    assert_eq!(value["waivers"][0]["expires"], "2026-12-31");
    // Any change of meaning changes the bytes.
    let stricter = Policy::from_toml(
        "min_rating = 'A'\n[[waiver]]\nexpires = \"2026-12-31\"\nreason = \"r\"\nreport_type = \"T\"\nproject = \"P\"\n",
        "d.toml",
    )
    .expect("policy");
    assert_ne!(written.canonical_json(), stricter.canonical_json());
}
