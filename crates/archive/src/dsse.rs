//! DSSE, the Dead Simple Signing Envelope: signatures over the pre-authentication encoding
//! (PAE) of a payload and its type.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};

use crate::{ArchiveError, PublicKey, SigningKey};

/// The payload type of an in-toto statement.
pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

/// `PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`, lengths in bytes, in
/// decimal without leading zeros.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload_type.len() + payload.len() + 32);
    out.extend_from_slice(b"DSSEv1 ");
    out.extend_from_slice(payload_type.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload_type.as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload);
    out
}

/// A DSSE envelope in its JSON form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope {
    /// The payload, base64.
    pub payload: String,
    /// How to read the payload, e.g. [`IN_TOTO_PAYLOAD_TYPE`].
    pub payload_type: String,
    /// The signatures.
    pub signatures: Vec<EnvelopeSignature>,
}

/// One signature of an envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvelopeSignature {
    /// An unauthenticated hint naming the key (ours: the hex SHA-256 of its SPKI DER).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub keyid: String,
    /// The signature, base64.
    pub sig: String,
}

/// What a verified envelope says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The payload type.
    pub payload_type: String,
    /// The payload's bytes.
    pub payload: Vec<u8>,
    /// The IDs of the trusted keys whose signatures verified.
    pub key_ids: Vec<String>,
}

fn decode(text: &str, what: &str) -> Result<Vec<u8>, ArchiveError> {
    [STANDARD, URL_SAFE, STANDARD_NO_PAD, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|engine| engine.decode(text).ok())
        .ok_or_else(|| ArchiveError::Signature(format!("the {what} is not base64")))
}

impl Envelope {
    /// Signs `payload` of `payload_type` with `key`.
    pub fn sign(payload_type: &str, payload: &[u8], key: &SigningKey) -> Self {
        let signature = key.sign(&pae(payload_type, payload));
        Self {
            payload: STANDARD.encode(payload),
            payload_type: payload_type.to_owned(),
            signatures: vec![EnvelopeSignature {
                keyid: key.public_key().key_id(),
                sig: STANDARD.encode(signature),
            }],
        }
    }

    /// Verifies the envelope: its type must be one of `supported`, and signatures by at least
    /// `threshold` distinct keys of `trusted` must verify over the PAE. Key IDs in the envelope
    /// are hints only and are not relied on; either base64 alphabet is accepted.
    pub fn verify(
        &self,
        trusted: &[PublicKey],
        threshold: usize,
        supported: &[&str],
    ) -> Result<Verified, ArchiveError> {
        if !supported.contains(&self.payload_type.as_str()) {
            return Err(ArchiveError::Signature(format!(
                "the payload type `{}` is not one of {}",
                self.payload_type,
                supported.join(", ")
            )));
        }
        let payload = decode(&self.payload, "payload")?;
        let message = pae(&self.payload_type, &payload);
        let mut verified: Vec<usize> = Vec::new();
        for signature in &self.signatures {
            let Ok(bytes) = decode(&signature.sig, "signature") else {
                continue;
            };
            if let Some(index) = trusted
                .iter()
                .enumerate()
                .filter(|(i, _)| !verified.contains(i))
                .find(|(_, key)| key.verify(&message, &bytes))
                .map(|(i, _)| i)
            {
                verified.push(index);
            }
        }
        if verified.len() < threshold.max(1) {
            return Err(ArchiveError::Signature(if self.signatures.is_empty() {
                "the envelope has no signature".to_owned()
            } else if verified.is_empty() {
                "no signature verifies with the given key".to_owned()
            } else {
                format!("{} of the {threshold} required keys signed", verified.len())
            }));
        }
        Ok(Verified {
            payload_type: self.payload_type.clone(),
            payload,
            key_ids: verified.iter().map(|&i| trusted[i].key_id()).collect(),
        })
    }
}
