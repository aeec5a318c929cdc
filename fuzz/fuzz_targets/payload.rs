//! Payload parsing: `ReportList::from_json` on arbitrary bytes (and through it the version,
//! timestamp, rating and report-version parsers), the same parsers on the input's lines, and
//! `VersionFilter` construction and matching on what parses. A list that parses survives
//! serialise → parse unchanged; a filter that can be built matches its own bounds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use procurize_core::{ProductVersion, ReportList, ReportVersion, Timestamp, VersionFilter};

fuzz_target!(|data: &[u8]| {
    if let Ok(list) = ReportList::from_json(data) {
        let again = serde_json::to_vec(&list).expect("a parsed list serialises");
        let back = ReportList::from_json(&again).expect("a serialised list parses");
        assert_eq!(back, list, "serialise -> parse changed the list");
        let _ = list.event_ids().count();
        let versions: Vec<ProductVersion> = list
            .reports
            .iter()
            .map(|r| r.project_version.clone())
            .collect();
        filters(&versions);
    }
    let text = String::from_utf8_lossy(data);
    let mut versions = Vec::new();
    for line in text.lines().take(16) {
        if let Ok(version) = ProductVersion::parse(line) {
            assert_eq!(version.as_str(), line, "a version keeps its text");
            versions.push(version);
        }
        if let Ok(at) = Timestamp::parse(line) {
            assert_eq!(at.to_string(), line, "a timestamp keeps its text");
            let _ = at.unix_nanos();
        }
        if let Ok(edition) = ReportVersion::parse(line) {
            assert_eq!(edition.as_str(), line);
        }
    }
    filters(&versions);
});

/// Every filter of up to three of `versions`: when it can be built it matches what it names,
/// and its matching agrees with the order.
fn filters(versions: &[ProductVersion]) {
    let pick = |i: usize| versions.get(i).cloned();
    for (exact, min, max) in [
        (pick(0), None, None),
        (None, pick(0), pick(1)),
        (pick(0), pick(1), pick(2)),
        (None, None, pick(0)),
    ] {
        let Ok(filter) = VersionFilter::new(exact.clone(), min.clone(), max.clone()) else {
            continue;
        };
        if let Some(exact) = &exact {
            assert!(
                filter.matches(exact),
                "{filter} does not match its own version"
            );
        }
        for version in versions {
            let expected = exact.as_ref().is_none_or(|e| version == e)
                && min.as_ref().is_none_or(|m| version >= m)
                && max.as_ref().is_none_or(|m| version <= m);
            assert_eq!(filter.matches(version), expected, "{filter} on {version}");
        }
        let _ = filter.query_pairs();
    }
}
