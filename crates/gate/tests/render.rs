//! Every output format for a passing, a warning and a failing run: snapshots, plus the checks
//! each consumer makes (SARIF against the official schema and GitHub's rules, Code Quality and
//! JUnit fields, GitHub workflow-command escaping).

mod common;

use common::{r, reports, today};
use procurize_core::{Uuid, VersionFilter};
use procurize_gate::render::{self, Context, GateDocument};
use procurize_gate::{Outcome, Policy, Status, evaluate};
use serde_json::Value;

fn context() -> Context {
    Context {
        organization: Uuid::from_u128(1),
        filter: VersionFilter::exact("1.0".parse().expect("v")),
        tool_version: "1.2.3".into(),
        anchor: ".procurize/policy.toml".into(),
        evaluated_on: today(),
    }
}

fn passing() -> Outcome {
    let list = [
        r(1),
        r(2).kind("OWASP Top 10").edition("2021"),
        r(3).project("会計ポータル").rating("B").count(1),
    ];
    let policy = Policy::from_toml(
        "min_rating = \"B\"\nrequired_reports = [\"CWE Top 25@2024\"]",
        "p.toml",
    )
    .expect("policy");
    evaluate(&policy, reports(&list), today())
}

fn warning() -> Outcome {
    let list = [
        r(1).rating("C").count(4),
        r(2).kind("OWASP Top 10").edition("2021"),
    ];
    let policy = Policy::from_toml(
        r#"
min_rating = "B"
on_missing = "warn"
required_reports = ["PCI DSS@4.0"]

[[waiver]]
report = "00000000-0000-0000-0000-000000000001"
reason = "fix: 1.0.1, see SEC-42"
expires = 2026-12-31
"#,
        "p.toml",
    )
    .expect("policy");
    evaluate(&policy, reports(&list), today())
}

fn failing() -> Outcome {
    let list = [
        r(1).rating("E").count(14),
        r(2).rating("A").uploaded("2026-11-10T00:00:00Z"),
        r(3).kind("OWASP Top 10")
            .edition("2021")
            .rating("C")
            .count(5)
            .date("2026-06-01T00:00:00Z"),
        r(4).project("Payments | API")
            .kind("PCI DSS")
            .edition("4.0")
            .rating("D")
            .count(7),
    ];
    let policy = Policy::from_toml(
        r#"
min_rating = "B"
max_vulnerabilities = 5
max_age_days = 90
required_reports = ["CWE Top 25@2024", "OWASP Top 10"]

[[waiver]]
project = "Payments | API"
report_type = "PCI DSS"
reason = "expired exception"
expires = 2026-10-31
"#,
        "p.toml",
    )
    .expect("policy");
    evaluate(&policy, reports(&list), today())
}

fn runs() -> [(&'static str, Outcome); 3] {
    [
        ("pass", passing()),
        ("warn", warning()),
        ("fail", failing()),
    ]
}

#[test]
fn the_three_runs_have_the_verdicts_their_names_say() {
    assert_eq!(passing().status, Status::Pass);
    assert_eq!(warning().status, Status::Warn);
    assert_eq!(failing().status, Status::Fail);
}

#[test]
fn snapshots_of_every_format() {
    let ctx = context();
    for (name, outcome) in runs() {
        insta::assert_snapshot!(format!("{name}.txt"), render::text(&ctx, &outcome));
        insta::assert_snapshot!(format!("{name}.md"), render::markdown(&ctx, &outcome));
        insta::assert_snapshot!(format!("{name}.json"), render::json(&ctx, &outcome));
        insta::assert_snapshot!(format!("{name}.sarif"), render::sarif(&ctx, &outcome));
        insta::assert_snapshot!(format!("{name}.junit.xml"), render::junit(&ctx, &outcome));
        insta::assert_snapshot!(
            format!("{name}.codequality.json"),
            render::codequality(&ctx, &outcome)
        );
        insta::assert_snapshot!(
            format!("{name}.github"),
            render::github::annotations(&outcome).join("\n")
        );
    }
}

#[test]
fn quantities_read_back_as_written() {
    use procurize_core::SecurityRating::{A, C};
    use procurize_gate::Quantity;
    for q in [
        Quantity::Rating(C),
        Quantity::RatingOrBetter(C),
        Quantity::RatingOrBetter(A),
        Quantity::Count(7),
        Quantity::AtMost(0),
        Quantity::Days(-2),
        Quantity::AtMostDays(90),
        Quantity::Other("something else".into()),
    ] {
        let text = q.to_string();
        let back: Quantity = text.parse().expect("infallible");
        assert_eq!(back, q, "{text}");
    }
    assert_eq!(
        "B or better".parse::<Quantity>(),
        Ok(Quantity::RatingOrBetter(procurize_core::SecurityRating::B))
    );
}

#[test]
fn json_reads_back_into_the_documented_type() {
    let ctx = context();
    for (_, outcome) in runs() {
        let document: GateDocument =
            serde_json::from_str(&render::json(&ctx, &outcome)).expect("reads back");
        assert_eq!(document.schema_version, render::JSON_SCHEMA_VERSION);
        assert_eq!(document.outcome, outcome);
        assert_eq!(document.filter.version.as_deref(), Some("1.0"));
        assert_eq!(document.evaluated_on, "2026-11-29");
    }
}

fn sarif_validator() -> (boon::Schemas, boon::SchemaIndex) {
    use sha2::{Digest, Sha256};
    let text = include_str!("schemas/sarif-2.1.0.json");
    assert_eq!(
        hex::encode(Sha256::digest(text.as_bytes())),
        "1c49a0f2b60444c71bb14878e21e0d882198eff4c539861b133093ad89ed798c",
        "the vendored schema is the one schemas/README.md names"
    );
    let schema: Value = serde_json::from_str(text).expect("schema JSON");
    let mut schemas = boon::Schemas::new();
    let mut compiler = boon::Compiler::new();
    compiler
        .add_resource("urn:sarif-2.1.0", schema)
        .expect("add schema");
    let index = compiler
        .compile("urn:sarif-2.1.0", &mut schemas)
        .expect("compile schema");
    (schemas, index)
}

#[test]
fn sarif_validates_against_the_official_schema() {
    let (schemas, index) = sarif_validator();
    for (name, outcome) in runs() {
        let document: Value =
            serde_json::from_str(&render::sarif(&context(), &outcome)).expect("JSON");
        if let Err(e) = schemas.validate(&document, index) {
            panic!("{name}: {e:#}");
        }
    }
    // The validator is not vacuous: a broken document is refused.
    let mut broken: Value =
        serde_json::from_str(&render::sarif(&context(), &failing())).expect("JSON");
    broken["runs"][0]["results"][0]["level"] = "fatal".into();
    assert!(schemas.validate(&broken, index).is_err());
}

#[test]
fn sarif_meets_github_code_scanning_requirements() {
    let document: Value =
        serde_json::from_str(&render::sarif(&context(), &failing())).expect("JSON");
    assert!(
        document["$schema"]
            .as_str()
            .is_some_and(|s| s.contains("sarif-2.1.0"))
    );
    let run = &document["runs"][0];
    let driver = &run["tool"]["driver"];
    assert_eq!(driver["name"], "procurize-gate");
    assert_eq!(driver["version"], "1.2.3");
    assert!(
        driver["informationUri"]
            .as_str()
            .is_some_and(|u| u.starts_with("https://"))
    );
    let rules = driver["rules"].as_array().expect("rules");
    for rule in rules {
        for field in ["shortDescription", "fullDescription", "help"] {
            assert!(
                rule[field]["text"].as_str().is_some_and(|t| !t.is_empty()),
                "{field}: {rule}"
            );
        }
        assert!(
            rule["properties"]["tags"]
                .as_array()
                .is_some_and(|t| t.iter().any(|t| t == "security"))
        );
        let severity: f64 = rule["properties"]["security-severity"]
            .as_str()
            .expect("severity")
            .parse()
            .expect("number");
        assert!((0.0..=10.0).contains(&severity));
    }
    let severity_of = |id: &str| -> f64 {
        rules.iter().find(|r| r["id"] == id).expect(id)["properties"]["security-severity"]
            .as_str()
            .expect("s")
            .parse()
            .expect("n")
    };
    assert!(
        severity_of("procurize/min_rating/E") >= 9.0,
        "E is critical"
    );
    assert!(
        severity_of("procurize/min_rating/D") >= 7.0 && severity_of("procurize/min_rating/D") < 9.0,
        "D is high"
    );
    assert!(
        severity_of("procurize/min_rating/C") >= 4.0 && severity_of("procurize/min_rating/C") < 7.0,
        "C is medium"
    );
    assert_eq!(
        run["automationDetails"]["id"],
        "procurize-gate/version-1.0/"
    );
    let results = run["results"].as_array().expect("results");
    assert!(!results.is_empty());
    for result in results {
        assert_eq!(
            result["locations"].as_array().map(Vec::len),
            Some(1),
            "{result}"
        );
        assert_eq!(
            result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            ".procurize/policy.toml"
        );
        let index = result["ruleIndex"].as_u64().expect("index") as usize;
        assert_eq!(rules[index]["id"], result["ruleId"]);
        assert_eq!(
            result["partialFingerprints"]["procurizeGate/v1"]
                .as_str()
                .map(str::len),
            Some(64)
        );
    }
    // Fingerprints are stable across runs and distinct across problems.
    let again: Value = serde_json::from_str(&render::sarif(&context(), &failing())).expect("JSON");
    assert_eq!(again, document);
    let prints: std::collections::HashSet<&str> = results
        .iter()
        .map(|r| {
            r["partialFingerprints"]["procurizeGate/v1"]
                .as_str()
                .expect("fp")
        })
        .collect();
    assert_eq!(prints.len(), results.len());
}

#[test]
fn code_quality_has_the_fields_gitlab_reads() {
    let issues: Vec<Value> =
        serde_json::from_str(&render::codequality(&context(), &failing())).expect("JSON");
    assert!(!issues.is_empty());
    for issue in &issues {
        for field in ["description", "check_name", "fingerprint", "severity"] {
            assert!(
                issue[field].as_str().is_some_and(|s| !s.is_empty()),
                "{field}: {issue}"
            );
        }
        assert!(
            ["info", "minor", "major", "critical", "blocker"]
                .contains(&issue["severity"].as_str().expect("s"))
        );
        assert_eq!(issue["location"]["path"], ".procurize/policy.toml");
        assert_eq!(issue["location"]["lines"]["begin"], 1);
    }
    let severity_for = |rating: &str| {
        issues
            .iter()
            .find(|i| {
                i["description"]
                    .as_str()
                    .is_some_and(|d| d.contains(&format!("security rating {rating}")))
            })
            .map(|i| i["severity"].as_str().expect("s").to_owned())
    };
    assert_eq!(severity_for("E").as_deref(), Some("blocker"));
    assert_eq!(severity_for("D").as_deref(), Some("critical"));
    assert_eq!(severity_for("C").as_deref(), Some("major"));
    let passing: Vec<Value> =
        serde_json::from_str(&render::codequality(&context(), &passing())).expect("JSON");
    assert!(passing.is_empty());
}

#[test]
fn junit_has_a_case_per_report_and_rule_and_failures_carry_the_reason() {
    let outcome = failing();
    let xml = render::junit(&context(), &outcome);
    let rules: usize = outcome.reports.iter().map(|r| r.rules.len()).sum();
    let cases = xml.matches("<testcase ").count();
    assert_eq!(cases, rules + outcome.missing.len());
    let failures = xml.matches("<failure ").count();
    assert_eq!(
        xml.matches(&format!("tests=\"{cases}\" failures=\"{failures}\""))
            .count(),
        2
    );
    assert!(xml.contains("message=\"security rating E is worse than the minimum B\""));
    assert!(xml.contains("classname=\"Payments | API 1.0\""));
    let odd = evaluate(
        &Policy::default(),
        reports(&[r(9).project("A&B <\"x\">").rating("C")]),
        today(),
    );
    let odd_xml = render::junit(&context(), &odd);
    assert!(
        odd_xml.contains("classname=\"A&amp;B &lt;&quot;x&quot;&gt; 1.0\""),
        "{odd_xml}"
    );
    assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"));
    // Well-formed enough for any parser: every element that opens closes.
    for tag in ["testsuites", "testsuite", "testcase"] {
        assert_eq!(
            xml.matches(&format!("<{tag} ")).count(),
            xml.matches(&format!("</{tag}>")).count(),
            "{tag}"
        );
    }
}

#[test]
fn github_commands_escape_percent_colon_comma_and_newlines() {
    assert_eq!(
        render::github::escape_data("50% done\r\nnext"),
        "50%25 done%0D%0Anext"
    );
    assert_eq!(
        render::github::escape_property("a: b, c%\n"),
        "a%3A b%2C c%25%0A"
    );
    let lines = render::github::annotations(&failing());
    assert!(lines.iter().all(|l| !l.contains('\n')));
    assert!(
        lines[0].starts_with("::error title=Procurize gate%3A min_rating::"),
        "{}",
        lines[0]
    );
    let warn = render::github::annotations(&warning());
    assert!(warn.iter().all(|l| l.starts_with("::warning ")), "{warn:?}");
    let outputs = render::github::outputs(&failing(), &[("sarif-file", "out/gate.sarif")]);
    assert_eq!(
        outputs,
        "status=fail\nreport-count=3\nfailed-count=3\nsarif-file=out/gate.sarif\n"
    );
}
