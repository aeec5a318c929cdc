//! Webhook signatures: verifying deliveries from the platform, and signing them (for the
//! simulator and tests).
//!
//! The platform documents only "HMAC-SHA256 with a shared secret". Two schemes are supported:
//!
//! - [`Scheme::Hmac`]: HMAC-SHA256 of the raw body in one header (default
//!   `X-Procurize-Signature`), written as `sha256=<hex>`, bare hex or base64 (standard or
//!   URL-safe alphabet, with or without padding). This is also GitHub's `X-Hub-Signature-256`.
//! - [`Scheme::StandardWebhooks`]: the [Standard Webhooks] headers `webhook-id`,
//!   `webhook-timestamp` and `webhook-signature: v1,<base64> ...` over `id.timestamp.body`, with
//!   `whsec_` secrets.
//!
//! Comparisons are constant-time. Several secrets may be configured, so a secret can be rotated
//! without dropping deliveries.
//!
//! [Standard Webhooks]: https://www.standardwebhooks.com/

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use hmac::{Hmac, KeyInit, Mac};
use reqwest::header::{HeaderMap, HeaderName};
use sha2::Sha256;

use crate::Error;

type HmacSha256 = Hmac<Sha256>;

/// The default signature header of the plain HMAC scheme.
pub const DEFAULT_SIGNATURE_HEADER: &str = "X-Procurize-Signature";
/// The default timestamp header of the plain HMAC scheme (checked only when a tolerance is set).
pub const DEFAULT_TIMESTAMP_HEADER: &str = "X-Procurize-Timestamp";
/// The Standard Webhooks message-ID header.
pub const WEBHOOK_ID_HEADER: &str = "webhook-id";
/// The Standard Webhooks timestamp header.
pub const WEBHOOK_TIMESTAMP_HEADER: &str = "webhook-timestamp";
/// The Standard Webhooks signature header.
pub const WEBHOOK_SIGNATURE_HEADER: &str = "webhook-signature";
/// The default timestamp tolerance of the Standard Webhooks scheme.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(5 * 60);

/// A shared webhook secret. Its `Debug` output never shows the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl Secret {
    /// A secret used as raw bytes (the plain HMAC scheme uses the text's UTF-8 bytes).
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Self(bytes.into())
    }

    /// A Standard Webhooks secret: base64, optionally prefixed with `whsec_`.
    pub fn standard(text: &str) -> Result<Self, Error> {
        let encoded = text.trim().strip_prefix("whsec_").unwrap_or(text.trim());
        let bytes = STANDARD
            .decode(encoded)
            .map_err(|e| Error::Config(format!("webhook secret is not `whsec_<base64>`: {e}")))?;
        if bytes.is_empty() {
            return Err(Error::Config("webhook secret is empty".into()));
        }
        Ok(Self(bytes))
    }

    /// The key bytes.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    fn mac(&self) -> HmacSha256 {
        // HMAC accepts keys of any length; this cannot fail.
        <HmacSha256 as KeyInit>::new_from_slice(&self.0).unwrap_or_else(|_| unreachable!())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret([REDACTED; {} bytes])", self.0.len())
    }
}

/// How deliveries are signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Scheme {
    /// HMAC-SHA256 of the raw body in one header.
    #[default]
    Hmac,
    /// Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature`).
    StandardWebhooks,
}

/// Why a delivery was rejected. Never says what the expected signature was.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignatureFailure {
    /// A required header is absent.
    MissingHeader(String),
    /// A header is present but cannot be read.
    Malformed {
        /// The header.
        header: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The signature is well-formed but no configured secret produces it.
    Mismatch,
    /// The timestamp is outside the tolerance window.
    Stale {
        /// How far from now the timestamp is, in seconds (negative: in the future).
        age_seconds: i64,
        /// The tolerance, in seconds.
        tolerance_seconds: u64,
    },
}

impl fmt::Display for SignatureFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingHeader(h) => write!(f, "the `{h}` header is missing"),
            Self::Malformed { header, reason } => write!(f, "the `{header}` header {reason}"),
            Self::Mismatch => {
                f.write_str("the signature does not match the body with any configured secret")
            }
            Self::Stale {
                age_seconds,
                tolerance_seconds,
            } => write!(
                f,
                "the timestamp is {age_seconds} s from now, outside the tolerance of {tolerance_seconds} s"
            ),
        }
    }
}

/// Verifies webhook deliveries over the raw body bytes.
///
/// ```
/// use procurize_core::webhook::{Secret, Verifier, sign_hmac};
/// use reqwest::header::{HeaderMap, HeaderValue};
///
/// let secret = Secret::new("It's a Secret to Everybody");
/// let verifier = Verifier::hmac(vec![secret.clone()]).expect("one secret");
/// let mut headers = HeaderMap::new();
/// let signature = sign_hmac(&secret, b"Hello, World!");
/// headers.insert("x-procurize-signature", HeaderValue::from_str(&signature).unwrap());
/// verifier.verify(&headers, b"Hello, World!").expect("valid");
/// assert!(verifier.verify(&headers, b"Hello, World?").is_err());
/// ```
#[derive(Clone)]
pub struct Verifier {
    scheme: Scheme,
    /// One keyed HMAC state per secret, cloned for each delivery (cheaper than re-keying).
    keys: Vec<HmacSha256>,
    signature_header: HeaderName,
    timestamp_header: HeaderName,
    tolerance: Option<Duration>,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("scheme", &self.scheme)
            .field("secrets", &format_args!("[REDACTED; {}]", self.keys.len()))
            .field("signature_header", &self.signature_header)
            .field("timestamp_header", &self.timestamp_header)
            .field("tolerance", &self.tolerance)
            .finish()
    }
}

fn header_name(name: &str) -> Result<HeaderName, Error> {
    HeaderName::from_bytes(name.trim().as_bytes())
        .map_err(|_| Error::Config(format!("`{name}` is not a valid HTTP header name")))
}

impl Verifier {
    /// A verifier of the plain HMAC scheme, with no timestamp tolerance (the platform retries
    /// hourly and may resend the same signature).
    pub fn hmac(secrets: Vec<Secret>) -> Result<Self, Error> {
        Self::new(Scheme::Hmac, secrets)
    }

    /// A verifier of the Standard Webhooks scheme, with the default tolerance of five minutes.
    pub fn standard_webhooks(secrets: Vec<Secret>) -> Result<Self, Error> {
        Self::new(Scheme::StandardWebhooks, secrets)
    }

    /// A verifier of `scheme` with that scheme's defaults.
    pub fn new(scheme: Scheme, secrets: Vec<Secret>) -> Result<Self, Error> {
        if secrets.is_empty() {
            return Err(Error::Config(
                "at least one webhook secret is required".into(),
            ));
        }
        if secrets.iter().any(|s| s.0.is_empty()) {
            return Err(Error::Config("a webhook secret is empty".into()));
        }
        let (signature, timestamp) = match scheme {
            Scheme::Hmac => (DEFAULT_SIGNATURE_HEADER, DEFAULT_TIMESTAMP_HEADER),
            Scheme::StandardWebhooks => (WEBHOOK_SIGNATURE_HEADER, WEBHOOK_TIMESTAMP_HEADER),
        };
        Ok(Self {
            scheme,
            keys: secrets.iter().map(Secret::mac).collect(),
            signature_header: header_name(signature)?,
            timestamp_header: header_name(timestamp)?,
            tolerance: match scheme {
                Scheme::Hmac => None,
                Scheme::StandardWebhooks => Some(DEFAULT_TOLERANCE),
            },
        })
    }

    /// Sets the signature header of the plain HMAC scheme (matched case-insensitively); fails
    /// if `name` is not a valid header name. The Standard Webhooks headers are fixed.
    pub fn signature_header(mut self, name: &str) -> Result<Self, Error> {
        if self.scheme == Scheme::Hmac {
            self.signature_header = header_name(name)?;
        }
        Ok(self)
    }

    /// Sets the timestamp header of the plain HMAC scheme; fails if `name` is not a valid header
    /// name.
    pub fn timestamp_header(mut self, name: &str) -> Result<Self, Error> {
        if self.scheme == Scheme::Hmac {
            self.timestamp_header = header_name(name)?;
        }
        Ok(self)
    }

    /// Sets the timestamp tolerance (`None` turns the check off). For the plain scheme the
    /// timestamp header is checked only when present.
    pub fn tolerance(mut self, tolerance: Option<Duration>) -> Self {
        self.tolerance = tolerance;
        self
    }

    /// The scheme this verifier checks.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// Verifies a delivery against the current time.
    pub fn verify(&self, headers: &HeaderMap, body: &[u8]) -> Result<(), Error> {
        // The clock is read only when a tolerance needs it.
        let now = if self.tolerance.is_some() {
            SystemTime::now()
        } else {
            UNIX_EPOCH
        };
        self.verify_at(headers, body, now)
    }

    /// Verifies a delivery as of `now`.
    pub fn verify_at(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now: SystemTime,
    ) -> Result<(), Error> {
        match self.scheme {
            Scheme::Hmac => self.verify_hmac(headers, body, now),
            Scheme::StandardWebhooks => self.verify_standard(headers, body, now),
        }
        .map_err(Error::Signature)
    }

    fn verify_hmac(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now: SystemTime,
    ) -> Result<(), SignatureFailure> {
        let value = header(headers, &self.signature_header)?;
        let signature =
            decode_hmac_signature(value).map_err(|reason| SignatureFailure::Malformed {
                header: self.signature_header.to_string(),
                reason,
            })?;
        if let Some(tolerance) = self.tolerance
            && headers.contains_key(&self.timestamp_header)
        {
            let timestamp = parse_timestamp(
                header(headers, &self.timestamp_header)?,
                self.timestamp_header.as_str(),
            )?;
            check_tolerance(timestamp, now, tolerance)?;
        }
        self.match_any(|mut mac| {
            mac.update(body);
            mac.verify_slice(&signature).is_ok()
        })
    }

    fn verify_standard(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now: SystemTime,
    ) -> Result<(), SignatureFailure> {
        let id = header(headers, WEBHOOK_ID_HEADER)?;
        let timestamp_text = header(headers, WEBHOOK_TIMESTAMP_HEADER)?;
        let timestamp = parse_timestamp(timestamp_text, WEBHOOK_TIMESTAMP_HEADER)?;
        let list = header(headers, WEBHOOK_SIGNATURE_HEADER)?;
        if let Some(tolerance) = self.tolerance {
            check_tolerance(timestamp, now, tolerance)?;
        }
        let mut candidates = Vec::new();
        for entry in list.split(' ').filter(|e| !e.is_empty()) {
            let Some((version, encoded)) = entry.split_once(',') else {
                return Err(SignatureFailure::Malformed {
                    header: WEBHOOK_SIGNATURE_HEADER.into(),
                    reason: "is not a space-separated list of `v1,<base64>`".into(),
                });
            };
            if version != "v1" {
                continue; // Other versions (e.g. v1a, asymmetric) are not ours to check.
            }
            if let Ok(bytes) = STANDARD.decode(encoded) {
                candidates.push(bytes);
            }
        }
        if candidates.is_empty() {
            return Err(SignatureFailure::Malformed {
                header: WEBHOOK_SIGNATURE_HEADER.into(),
                reason: "has no `v1,<base64>` signature".into(),
            });
        }
        self.match_any(|mut mac| {
            mac.update(id.as_bytes());
            mac.update(b".");
            mac.update(timestamp_text.as_bytes());
            mac.update(b".");
            mac.update(body);
            // Check every candidate, so timing does not tell which one matched.
            candidates.iter().fold(false, |found, candidate| {
                mac.clone().verify_slice(candidate).is_ok() | found
            })
        })
    }

    /// Runs `check` with a fresh keyed MAC per secret.
    fn match_any(&self, check: impl Fn(HmacSha256) -> bool) -> Result<(), SignatureFailure> {
        // Try every secret, whatever matched, so timing does not tell which one did.
        let matched = self
            .keys
            .iter()
            .fold(false, |found, key| check(key.clone()) | found);
        if matched {
            Ok(())
        } else {
            Err(SignatureFailure::Mismatch)
        }
    }
}

fn header<K>(headers: &HeaderMap, name: K) -> Result<&str, SignatureFailure>
where
    K: reqwest::header::AsHeaderName + Copy + fmt::Display,
{
    let mut values = headers.get_all(name).iter();
    let value = values
        .next()
        .ok_or_else(|| SignatureFailure::MissingHeader(name.to_string()))?;
    if values.next().is_some() {
        return Err(SignatureFailure::Malformed {
            header: name.to_string(),
            reason: "appears more than once".into(),
        });
    }
    let text = value.to_str().map_err(|_| SignatureFailure::Malformed {
        header: name.to_string(),
        reason: "is not visible ASCII".into(),
    })?;
    let text = text.trim();
    if text.is_empty() {
        return Err(SignatureFailure::Malformed {
            header: name.to_string(),
            reason: "is empty".into(),
        });
    }
    Ok(text)
}

/// Decodes `sha256=<hex>`, bare hex or base64 into the 32 signature bytes.
fn decode_hmac_signature(value: &str) -> Result<[u8; 32], String> {
    let (prefixed, body) = match value.split_once('=') {
        Some((algorithm, rest)) if algorithm.eq_ignore_ascii_case("sha256") => (true, rest),
        _ => (false, value),
    };
    if let Some(bytes) = decode_hex32(body.as_bytes()) {
        return Ok(bytes);
    }
    if prefixed {
        return Err(format!(
            "must be `sha256=` followed by 64 hex digits, got {} characters",
            body.len()
        ));
    }
    let bytes = [STANDARD, URL_SAFE, STANDARD_NO_PAD, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|engine| engine.decode(body).ok())
        .ok_or_else(|| "is neither `sha256=<hex>`, 64 hex digits nor base64".to_owned())?;
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| {
        format!(
            "holds a {}-byte signature; HMAC-SHA256 signatures have 32 bytes",
            bytes.len()
        )
    })
}

/// 64 hex digits (either case) into 32 bytes; `None` for anything else. On the hot path of every
/// delivery, so it allocates nothing.
fn decode_hex32(text: &[u8]) -> Option<[u8; 32]> {
    /// Each byte's value as a hex digit, or 0xFF.
    const NIBBLES: [u8; 256] = {
        let mut table = [0xFF; 256];
        let mut i = 0;
        while i < 10 {
            table[b'0' as usize + i] = i as u8;
            i += 1;
        }
        let mut i = 0;
        while i < 6 {
            table[b'a' as usize + i] = 10 + i as u8;
            table[b'A' as usize + i] = 10 + i as u8;
            i += 1;
        }
        table
    };
    if text.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    let mut invalid = 0u8;
    for (byte, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
        let (high, low) = (NIBBLES[usize::from(pair[0])], NIBBLES[usize::from(pair[1])]);
        invalid |= (high | low) & 0xF0;
        *byte = (high << 4) | (low & 0x0F);
    }
    (invalid == 0).then_some(out)
}

fn parse_timestamp(text: &str, header: &str) -> Result<i64, SignatureFailure> {
    text.parse::<i64>()
        .map_err(|_| SignatureFailure::Malformed {
            header: header.to_owned(),
            reason: "is not a Unix time in seconds".into(),
        })
}

fn check_tolerance(
    timestamp: i64,
    now: SystemTime,
    tolerance: Duration,
) -> Result<(), SignatureFailure> {
    let now = match now.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    };
    let age = now.saturating_sub(timestamp);
    let limit = i64::try_from(tolerance.as_secs()).unwrap_or(i64::MAX);
    if age.unsigned_abs() > limit.unsigned_abs() {
        return Err(SignatureFailure::Stale {
            age_seconds: age,
            tolerance_seconds: tolerance.as_secs(),
        });
    }
    Ok(())
}

/// The plain scheme's signature of `body`: `sha256=<lower-case hex>`.
pub fn sign_hmac(secret: &Secret, body: &[u8]) -> String {
    let mut mac = secret.mac();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// One Standard Webhooks signature of `body`: `v1,<base64>`.
pub fn sign_standard(secret: &Secret, id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = secret.mac();
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// Produces the headers of a signed delivery, as the platform would send them.
#[derive(Debug, Clone)]
pub struct Signer {
    scheme: Scheme,
    secret: Secret,
    signature_header: String,
}

impl Signer {
    /// A signer of `scheme` with `secret`.
    pub fn new(scheme: Scheme, secret: Secret) -> Self {
        Self {
            scheme,
            secret,
            signature_header: DEFAULT_SIGNATURE_HEADER.into(),
        }
    }

    /// Sets the plain scheme's signature header.
    pub fn signature_header(mut self, name: impl Into<String>) -> Self {
        self.signature_header = name.into();
        self
    }

    /// The headers to send with `body`: `id` identifies the delivery (stable across retries) and
    /// `timestamp` is the Unix time of this attempt.
    pub fn headers(&self, id: &str, timestamp: i64, body: &[u8]) -> Vec<(String, String)> {
        match self.scheme {
            Scheme::Hmac => vec![
                (self.signature_header.clone(), sign_hmac(&self.secret, body)),
                (DEFAULT_TIMESTAMP_HEADER.to_owned(), timestamp.to_string()),
                ("X-Procurize-Delivery".to_owned(), id.to_owned()),
            ],
            Scheme::StandardWebhooks => vec![
                (WEBHOOK_ID_HEADER.to_owned(), id.to_owned()),
                (WEBHOOK_TIMESTAMP_HEADER.to_owned(), timestamp.to_string()),
                (
                    WEBHOOK_SIGNATURE_HEADER.to_owned(),
                    sign_standard(&self.secret, id, timestamp, body),
                ),
            ],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderName, HeaderValue};

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(
                HeaderName::from_bytes(k.as_bytes()).expect("name"),
                HeaderValue::from_str(v).expect("value"),
            );
        }
        map
    }

    // GitHub's documented example for X-Hub-Signature-256 ("Validating webhook deliveries").
    const GITHUB_SECRET: &str = "It's a Secret to Everybody";
    const GITHUB_BODY: &[u8] = b"Hello, World!";
    const GITHUB_SIGNATURE: &str =
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    // The Standard Webhooks reference libraries' test vector.
    const SW_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const SW_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const SW_TIMESTAMP: i64 = 1_614_265_330;
    const SW_BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SW_SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    fn github_verifier() -> Verifier {
        Verifier::hmac(vec![Secret::new(GITHUB_SECRET)])
            .expect("secret")
            .signature_header("X-Hub-Signature-256")
            .expect("header name")
    }

    fn at(seconds: i64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(u64::try_from(seconds).expect("positive"))
    }

    fn rejection(result: Result<(), Error>) -> SignatureFailure {
        match result {
            Err(Error::Signature(failure)) => failure,
            other => panic!("expected a signature failure, got {other:?}"),
        }
    }

    #[test]
    fn github_documented_example_signs_and_verifies() {
        assert_eq!(
            sign_hmac(&Secret::new(GITHUB_SECRET), GITHUB_BODY),
            GITHUB_SIGNATURE
        );
        let h = headers(&[("x-hub-signature-256", GITHUB_SIGNATURE)]);
        github_verifier().verify(&h, GITHUB_BODY).expect("valid");
    }

    #[test]
    fn header_name_is_case_insensitive_and_encodings_are_all_accepted() {
        let hex = GITHUB_SIGNATURE.trim_start_matches("sha256=");
        let bytes = hex::decode(hex).expect("hex");
        let verifier = Verifier::hmac(vec![Secret::new(GITHUB_SECRET)]).expect("secret");
        for value in [
            GITHUB_SIGNATURE.to_owned(),
            format!("SHA256={}", hex.to_uppercase()),
            hex.to_owned(),
            STANDARD.encode(&bytes),
            URL_SAFE_NO_PAD.encode(&bytes),
        ] {
            let h = headers(&[("X-PROCURIZE-SIGNATURE", &value)]);
            verifier
                .verify(&h, GITHUB_BODY)
                .unwrap_or_else(|e| panic!("{value}: {e}"));
        }
    }

    #[test]
    fn wrong_secret_is_a_mismatch() {
        let verifier = Verifier::hmac(vec![Secret::new("not it")]).expect("secret");
        let h = headers(&[("x-procurize-signature", GITHUB_SIGNATURE)]);
        assert_eq!(
            rejection(verifier.verify(&h, GITHUB_BODY)),
            SignatureFailure::Mismatch
        );
    }

    #[test]
    fn rotation_accepts_any_configured_secret() {
        let verifier = Verifier::hmac(vec![Secret::new("new secret"), Secret::new(GITHUB_SECRET)])
            .expect("secrets");
        let h = headers(&[("x-procurize-signature", GITHUB_SIGNATURE)]);
        verifier
            .verify(&h, GITHUB_BODY)
            .expect("old secret still accepted");
    }

    #[test]
    fn tampered_and_empty_bodies_are_mismatches() {
        let h = headers(&[("x-hub-signature-256", GITHUB_SIGNATURE)]);
        assert_eq!(
            rejection(github_verifier().verify(&h, b"Hello, World?")),
            SignatureFailure::Mismatch
        );
        assert_eq!(
            rejection(github_verifier().verify(&h, b"")),
            SignatureFailure::Mismatch
        );
        // An empty body with its own valid signature is fine.
        let empty = sign_hmac(&Secret::new(GITHUB_SECRET), b"");
        let h = headers(&[("x-hub-signature-256", &empty)]);
        github_verifier()
            .verify(&h, b"")
            .expect("empty body, right signature");
    }

    #[test]
    fn truncated_signatures_and_wrong_encodings_are_malformed() {
        let truncated = &GITHUB_SIGNATURE[..GITHUB_SIGNATURE.len() - 2];
        for (value, expected) in [
            (truncated, "64 hex digits, got 62 characters"),
            ("sha256=zz", "64 hex digits"),
            ("sha1=0123456789abcdef", "neither"),
            ("!!!not base64!!!", "neither"),
            ("c2hvcnQ=", "5-byte signature"),
        ] {
            let h = headers(&[("x-hub-signature-256", value)]);
            let failure = rejection(github_verifier().verify(&h, GITHUB_BODY));
            assert!(
                matches!(&failure, SignatureFailure::Malformed { reason, .. } if reason.contains(expected)),
                "{value}: {failure}"
            );
        }
    }

    #[test]
    fn hex_decoding_accepts_both_cases_and_rejects_any_other_digit() {
        let hex = GITHUB_SIGNATURE.trim_start_matches("sha256=");
        let expected: Vec<u8> = hex::decode(hex).expect("hex");
        assert_eq!(
            decode_hex32(hex.as_bytes()).map(Vec::from),
            Some(expected.clone())
        );
        assert_eq!(
            decode_hex32(hex.to_uppercase().as_bytes()).map(Vec::from),
            Some(expected)
        );
        for position in [0, 1, 31, 62, 63] {
            for bad in [b'g', b'G', b' ', b'/', b':', 0xC3] {
                let mut text = hex.as_bytes().to_vec();
                text[position] = bad;
                assert_eq!(decode_hex32(&text), None, "{position} {bad}");
            }
        }
        assert_eq!(decode_hex32(&hex.as_bytes()[..62]), None);
    }

    #[test]
    fn a_missing_or_repeated_header_is_named() {
        let failure = rejection(github_verifier().verify(&HeaderMap::new(), GITHUB_BODY));
        assert_eq!(
            failure,
            SignatureFailure::MissingHeader("x-hub-signature-256".into())
        );
        assert_eq!(
            failure.to_string(),
            "the `x-hub-signature-256` header is missing"
        );
        let h = headers(&[
            ("x-hub-signature-256", GITHUB_SIGNATURE),
            ("x-hub-signature-256", GITHUB_SIGNATURE),
        ]);
        assert!(matches!(
            rejection(github_verifier().verify(&h, GITHUB_BODY)),
            SignatureFailure::Malformed { .. }
        ));
    }

    #[test]
    fn plain_scheme_has_no_tolerance_by_default_and_enforces_one_when_set() {
        let secret = Secret::new("s");
        let signer = Signer::new(Scheme::Hmac, secret.clone());
        let h = headers(
            &signer
                .headers("d1", 1_000, b"{}")
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect::<Vec<_>>(),
        );
        let verifier = Verifier::hmac(vec![secret]).expect("secret");
        // An hourly retry re-sends the same signature days later: accepted by default.
        verifier
            .verify_at(&h, b"{}", at(1_000 + 3 * 86_400))
            .expect("no tolerance");
        let strict = verifier.tolerance(Some(Duration::from_secs(300)));
        strict
            .verify_at(&h, b"{}", at(1_200))
            .expect("within 5 min");
        assert!(matches!(
            rejection(strict.verify_at(&h, b"{}", at(1_400))),
            SignatureFailure::Stale {
                age_seconds: 400,
                ..
            }
        ));
    }

    #[test]
    fn standard_webhooks_vector_signs_and_verifies() {
        let secret = Secret::standard(SW_SECRET).expect("secret");
        assert_eq!(
            sign_standard(&secret, SW_ID, SW_TIMESTAMP, SW_BODY),
            SW_SIGNATURE
        );
        let verifier = Verifier::standard_webhooks(vec![secret]).expect("secret");
        let ts = SW_TIMESTAMP.to_string();
        let h = headers(&[
            ("webhook-id", SW_ID),
            ("webhook-timestamp", &ts),
            ("webhook-signature", SW_SIGNATURE),
        ]);
        verifier
            .verify_at(&h, SW_BODY, at(SW_TIMESTAMP + 10))
            .expect("valid");
        // A list with a wrong and an unknown-version entry first still verifies.
        let list = format!("v1,bm9wZQ== v1a,abc {SW_SIGNATURE}");
        let h2 = headers(&[
            ("webhook-id", SW_ID),
            ("webhook-timestamp", &ts),
            ("webhook-signature", &list),
        ]);
        verifier
            .verify_at(&h2, SW_BODY, at(SW_TIMESTAMP))
            .expect("list");
        // Default tolerance is five minutes.
        assert!(matches!(
            rejection(verifier.verify_at(&h, SW_BODY, at(SW_TIMESTAMP + 301))),
            SignatureFailure::Stale { .. }
        ));
        assert!(matches!(
            rejection(verifier.verify_at(&h, SW_BODY, at(SW_TIMESTAMP - 301))),
            SignatureFailure::Stale {
                age_seconds: -301,
                ..
            }
        ));
        // The id and timestamp are signed too.
        let h3 = headers(&[
            ("webhook-id", "msg_other"),
            ("webhook-timestamp", &ts),
            ("webhook-signature", SW_SIGNATURE),
        ]);
        assert_eq!(
            rejection(verifier.verify_at(&h3, SW_BODY, at(SW_TIMESTAMP))),
            SignatureFailure::Mismatch
        );
        // Missing headers are named.
        let h4 = headers(&[("webhook-id", SW_ID), ("webhook-signature", SW_SIGNATURE)]);
        assert_eq!(
            rejection(verifier.verify_at(&h4, SW_BODY, at(SW_TIMESTAMP))),
            SignatureFailure::MissingHeader("webhook-timestamp".into())
        );
        // No v1 entry at all.
        let h5 = headers(&[
            ("webhook-id", SW_ID),
            ("webhook-timestamp", &ts),
            ("webhook-signature", "v2,abc"),
        ]);
        assert!(matches!(
            rejection(verifier.verify_at(&h5, SW_BODY, at(SW_TIMESTAMP))),
            SignatureFailure::Malformed { .. }
        ));
    }

    #[test]
    fn standard_webhooks_signer_round_trips() {
        let secret = Secret::standard(SW_SECRET).expect("secret");
        let signer = Signer::new(Scheme::StandardWebhooks, secret.clone());
        let sent = signer.headers("msg_1", 1_700_000_000, b"{}");
        let h = headers(
            &sent
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect::<Vec<_>>(),
        );
        Verifier::standard_webhooks(vec![secret])
            .expect("secret")
            .verify_at(&h, b"{}", at(1_700_000_000))
            .expect("round trip");
    }

    #[test]
    fn secrets_are_redacted_and_required() {
        let secret = Secret::new("hunter2");
        assert_eq!(format!("{secret:?}"), "Secret([REDACTED; 7 bytes])");
        let verifier = Verifier::hmac(vec![secret]).expect("secret");
        assert!(!format!("{verifier:?}").contains("hunter2"));
        assert!(Verifier::hmac(vec![]).is_err());
        assert!(Verifier::hmac(vec![Secret::new("")]).is_err());
        assert!(Secret::standard("whsec_not base64!").is_err());
        let err = Verifier::hmac(vec![Secret::new("s")])
            .expect("secret")
            .signature_header("Bad Header")
            .expect_err("spaces are not allowed in header names");
        assert!(err.to_string().contains("`Bad Header`"), "{err}");
    }
}
