//! Webhook verification: arbitrary header sets and bodies through `Verifier::verify_at`, both
//! schemes, several secrets. Besides never panicking, a delivery the target signed itself with
//! one of the verifier's secrets must verify, and the same delivery with one body bit flipped
//! must not.
#![no_main]

use std::time::{Duration, UNIX_EPOCH};

use arbitrary::Arbitrary;
use http::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;
use procurize_core::webhook::{Scheme, Secret, Signer, Verifier};

#[derive(Debug, Arbitrary)]
struct Input {
    standard: bool,
    /// Which of the verifier's secrets signs (or one it does not know).
    signer: u8,
    sign: bool,
    /// A body bit to flip after signing: (byte index, bit).
    flip: Option<(u16, u8)>,
    headers: Vec<(String, Vec<u8>)>,
    id: String,
    timestamp: u32,
    body: Vec<u8>,
}

const SECRETS: [&[u8]; 3] = [b"first secret", b"second", b"\x00\xff binary"];

fuzz_target!(|input: Input| {
    let scheme = if input.standard {
        Scheme::StandardWebhooks
    } else {
        Scheme::Hmac
    };
    let secrets = SECRETS.iter().map(|s| Secret::new(s.to_vec())).collect();
    let verifier = Verifier::new(scheme, secrets).expect("fixed secrets are valid");
    let mut headers = HeaderMap::new();
    let known = usize::from(input.signer) < SECRETS.len();
    let mut signed = false;
    if input.sign {
        let secret = SECRETS
            .get(usize::from(input.signer))
            .copied()
            .unwrap_or(b"unknown");
        let signer = Signer::new(scheme, Secret::new(secret.to_vec()));
        // A header is read as HTTP reads it, trimmed and visible ASCII, and must not be empty:
        // an ID that is not so cannot arrive as it was signed.
        signed = !input.standard
            || (!input.id.is_empty()
                && input.id.trim() == input.id
                && input.id.bytes().all(|b| b.is_ascii_graphic() || b == b' '));
        for (name, value) in signer.headers(&input.id, i64::from(input.timestamp), &input.body) {
            match (HeaderName::try_from(name), HeaderValue::try_from(value)) {
                (Ok(name), Ok(value)) => {
                    headers.insert(name, value);
                }
                _ => signed = false,
            }
        }
    }
    let mut clean = true;
    for (name, value) in &input.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::try_from(name.as_str()),
            HeaderValue::from_bytes(value),
        ) {
            clean &= !headers.contains_key(&name);
            headers.append(name, value);
        }
    }
    let mut body = input.body.clone();
    let mut flipped = false;
    if let Some((index, bit)) = input.flip
        && let Some(byte) = body.get_mut(usize::from(index))
    {
        *byte ^= 1 << (bit % 8);
        flipped = true;
    }
    let now = UNIX_EPOCH + Duration::from_secs(u64::from(input.timestamp));
    let result = verifier.verify_at(&headers, &body, now);
    if signed && clean {
        match (known, flipped) {
            (true, false) => assert!(
                result.is_ok(),
                "a correctly signed delivery was refused: {result:?}"
            ),
            (_, true) | (false, _) => assert!(
                result.is_err(),
                "a delivery that is not correctly signed was accepted"
            ),
        }
    }
    if let Err(error) = result {
        // The message is printable and never carries a secret.
        let message = error.to_string();
        for secret in SECRETS {
            if let Ok(text) = std::str::from_utf8(secret) {
                assert!(
                    !message.contains(text),
                    "the error shows a secret: {message}"
                );
            }
        }
    }
});
