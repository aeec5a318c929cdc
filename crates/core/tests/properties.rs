//! Properties of the parsers and of signing, over generated inputs (proptest): what example
//! tests cannot show. The coverage-guided fuzz targets are in `fuzz/`.

use std::cmp::Ordering;
use std::time::{Duration, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use procurize_core::webhook::{Scheme, Secret, Signer, Verifier};
use procurize_core::{ProductVersion, Timestamp};
use proptest::prelude::*;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

/// An RFC 3339 timestamp as the platform or a person could write it: any date and time, zero to
/// nine fractional digits, `Z`, `z` or a numeric offset.
fn timestamp() -> impl Strategy<Value = String> {
    (
        (1u32..=9999, 1u32..=12, 1u32..=28),
        (0u32..24, 0u32..60, 0u32..60),
        prop::option::of("[0-9]{1,9}"),
        prop_oneof![
            Just("Z".to_owned()),
            Just("z".to_owned()),
            (prop::bool::ANY, 0u32..24, 0u32..60).prop_map(|(minus, h, m)| format!(
                "{}{h:02}:{m:02}",
                if minus { '-' } else { '+' }
            )),
        ],
    )
        .prop_map(|((y, mo, d), (h, mi, s), fraction, offset)| {
            let fraction = fraction.map(|f| format!(".{f}")).unwrap_or_default();
            format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}{fraction}{offset}")
        })
}

/// A SemVer version: numbers, an optional pre-release of numeric and alphanumeric identifiers,
/// optional build metadata.
fn semver_text() -> impl Strategy<Value = String> {
    let number = prop_oneof![0u64..4, 0u64..1_000_000];
    let identifier = prop_oneof![
        (0u64..20).prop_map(|n| n.to_string()),
        "[a-zA-Z][0-9a-zA-Z-]{0,5}",
    ];
    (
        (number.clone(), number.clone(), number),
        prop::collection::vec(identifier, 0..3),
        prop::option::of("[0-9a-zA-Z]{1,4}(\\.[0-9a-zA-Z]{1,4}){0,2}"),
    )
        .prop_map(|((major, minor, patch), pre, build)| {
            let mut text = format!("{major}.{minor}.{patch}");
            if !pre.is_empty() {
                text.push('-');
                text.push_str(&pre.join("."));
            }
            if let Some(build) = build {
                text.push('+');
                text.push_str(&build);
            }
            text
        })
}

proptest! {
    #[test]
    fn a_timestamp_keeps_its_text_and_orders_by_instant(a in timestamp(), b in timestamp()) {
        let (x, y) = (Timestamp::parse(&a).unwrap(), Timestamp::parse(&b).unwrap());
        prop_assert_eq!(x.to_string(), a);
        prop_assert_eq!(y.to_string(), b);
        prop_assert_eq!(x.cmp(&y), x.unix_nanos().cmp(&y.unix_nanos()));
        prop_assert_eq!(x == y, x.unix_nanos() == y.unix_nanos());
    }

    #[test]
    fn version_order_is_semver_precedence(a in semver_text(), b in semver_text(), c in semver_text()) {
        let parse = |t: &str| ProductVersion::parse(t).unwrap();
        let (x, y, z) = (parse(&a), parse(&b), parse(&c));
        let precedence = |p: &str, q: &str| {
            semver::Version::parse(p).unwrap().cmp_precedence(&semver::Version::parse(q).unwrap())
        };
        prop_assert_eq!(x.cmp(&y), precedence(&a, &b));
        // A total order: antisymmetric and transitive.
        prop_assert_eq!(x.cmp(&y), y.cmp(&x).reverse());
        if x <= y && y <= z {
            prop_assert!(x <= z);
        }
        prop_assert_eq!(x.as_str(), a.as_str());
    }

    #[test]
    fn lenient_versions_equal_their_semver_forms(major in 0u64..10_000, minor in 0u64..10_000, v in prop::bool::ANY) {
        let prefix = if v { "v" } else { "" };
        let full = ProductVersion::parse(&format!("{major}.{minor}.0")).unwrap();
        prop_assert_eq!(ProductVersion::parse(&format!("{prefix}{major}.{minor}")).unwrap(), full);
        let major_only = ProductVersion::parse(&format!("{major}.0.0")).unwrap();
        prop_assert_eq!(ProductVersion::parse(&format!("{prefix}{major}")).unwrap(), major_only.clone());
        prop_assert_eq!(
            ProductVersion::parse(&format!("V{major}.0.0")).unwrap().cmp(&major_only),
            Ordering::Equal
        );
    }

    #[test]
    fn signed_deliveries_verify_and_any_flipped_bit_fails(
        secret in prop::collection::vec(any::<u8>(), 1..64),
        body in prop::collection::vec(any::<u8>(), 0..512),
        standard in prop::bool::ANY,
        encoding in 0usize..4,
        id in "[a-zA-Z0-9_-]{1,32}",
        timestamp in 1_600_000_000i64..2_000_000_000,
        flip in any::<prop::sample::Index>(),
        bit in 0u8..8,
        in_signature in prop::bool::ANY,
    ) {
        let scheme = if standard { Scheme::StandardWebhooks } else { Scheme::Hmac };
        let verifier = Verifier::new(
            scheme,
            vec![Secret::new(b"another".to_vec()), Secret::new(secret.clone())],
        )
        .unwrap();
        let now = UNIX_EPOCH + Duration::from_secs(u64::try_from(timestamp).unwrap());
        let mut pairs = Signer::new(scheme, Secret::new(secret.clone())).headers(&id, timestamp, &body);
        let at = pairs.iter().position(|(n, _)| n.to_ascii_lowercase().contains("signature")).unwrap();
        let mac = mac_of(&pairs[at].1);
        pairs[at].1 = encode(standard, encoding, &mac);
        prop_assert!(verifier.verify_at(&headers(&pairs), &body, now).is_ok());
        if in_signature || body.is_empty() {
            let mut flipped = mac;
            let index = flip.index(flipped.len());
            flipped[index] ^= 1 << bit;
            pairs[at].1 = encode(standard, encoding, &flipped);
            prop_assert!(verifier.verify_at(&headers(&pairs), &body, now).is_err());
        } else {
            let mut changed = body.clone();
            let index = flip.index(changed.len());
            changed[index] ^= 1 << bit;
            prop_assert!(verifier.verify_at(&headers(&pairs), &changed, now).is_err());
        }
    }
}

/// The MAC bytes of a signature header as the signer wrote it (`sha256=<hex>` or `v1,<base64>`).
fn mac_of(value: &str) -> Vec<u8> {
    match value.split_once(',') {
        Some((_, encoded)) => STANDARD.decode(encoded).unwrap(),
        None => hex::decode(&value["sha256=".len()..]).unwrap(),
    }
}

/// A MAC in one of the encodings a scheme's verifier accepts: Standard Webhooks' `v1,<base64>`;
/// for the plain scheme `sha256=<hex>`, bare lower- or upper-case hex, or base64.
fn encode(standard: bool, encoding: usize, mac: &[u8]) -> String {
    if standard {
        return format!("v1,{}", STANDARD.encode(mac));
    }
    match encoding {
        0 => format!("sha256={}", hex::encode(mac)),
        1 => hex::encode(mac),
        2 => hex::encode_upper(mac),
        _ => STANDARD.encode(mac),
    }
}

fn headers(pairs: &[(String, String)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.insert(
            HeaderName::try_from(name.as_str()).unwrap(),
            HeaderValue::try_from(value.as_str()).unwrap(),
        );
    }
    map
}
