//! The DSSE specification's published test vectors, and round trips with both algorithms.

use base64::Engine as _;
use procurize_archive::dsse::{Envelope, IN_TOTO_PAYLOAD_TYPE, pae};
use procurize_archive::{Algorithm, PublicKey, SigningKey};
use serde_json::Value;

const VECTORS: &str = include_str!("vectors/dsse-vectors.json");

fn vector_keys(document: &Value) -> Vec<(String, SigningKey, PublicKey)> {
    document["keys"]
        .as_object()
        .expect("keys")
        .iter()
        .map(|(name, key)| {
            let seed: [u8; 32] = hex::decode(key["seed"].as_str().expect("seed"))
                .expect("hex")
                .try_into()
                .expect("32 bytes");
            let signing = ed25519_dalek::SigningKey::from_bytes(&seed);
            assert_eq!(
                hex::encode(signing.verifying_key().as_bytes()),
                key["public"].as_str().expect("public"),
                "RFC 8032 key {name}"
            );
            (
                name.clone(),
                SigningKey::Ed25519(signing.clone()),
                PublicKey::Ed25519(signing.verifying_key()),
            )
        })
        .collect()
}

#[test]
fn the_pae_of_the_specification_example() {
    assert_eq!(
        pae("http://example.com/HelloWorld", b"hello world"),
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    );
    assert_eq!(pae("", b""), b"DSSEv1 0  0 ");
}

#[test]
fn every_published_vector_is_accepted_or_rejected_as_specified() {
    let document: Value = serde_json::from_str(VECTORS).expect("vectors");
    let keys = vector_keys(&document);
    let vectors = document["vectors"].as_array().expect("vectors");
    assert_eq!(vectors.len(), 9);
    for vector in vectors {
        let id = vector["id"].as_str().expect("id");
        let envelope: Envelope = serde_json::from_value(vector["envelope"].clone()).expect(id);
        let trusted: Vec<PublicKey> = vector["trustedKeys"]
            .as_array()
            .expect("trusted")
            .iter()
            .map(|name| {
                keys.iter()
                    .find(|(n, ..)| n == name.as_str().expect("name"))
                    .expect("key")
                    .2
                    .clone()
            })
            .collect();
        let supported: Vec<&str> = vector["supportedPayloadTypes"]
            .as_array()
            .expect("supported")
            .iter()
            .map(|t| t.as_str().expect("type"))
            .collect();
        let threshold = vector["threshold"].as_u64().expect("threshold") as usize;

        // The PAE the signatures cover. For the swapped type the signatures cover the original
        // type's PAE, which is what the vector records.
        if id != "payload-type-swapped" {
            let payload = decode_any(&envelope.payload);
            assert_eq!(
                hex::encode(pae(&envelope.payload_type, &payload)),
                vector["pae"],
                "{id}"
            );
        }

        let result = envelope.verify(&trusted, threshold, &supported);
        match vector["expect"].as_str().expect("expect") {
            "accept" => {
                let verified = result.unwrap_or_else(|e| panic!("{id}: {e}"));
                assert_eq!(verified.key_ids.len(), threshold, "{id}");
            }
            "reject" => assert!(result.is_err(), "{id} must be rejected"),
            other => panic!("{id}: unknown expectation {other}"),
        }
    }
}

#[test]
fn ed25519_signatures_reproduce_the_published_ones_byte_for_byte() {
    let document: Value = serde_json::from_str(VECTORS).expect("vectors");
    let keys = vector_keys(&document);
    let single = &document["vectors"][0];
    assert_eq!(single["id"], "single-signature");
    let envelope: Envelope = serde_json::from_value(single["envelope"].clone()).expect("envelope");
    let payload = decode_any(&envelope.payload);
    let ours = Envelope::sign(IN_TOTO_PAYLOAD_TYPE, &payload, &keys[0].1);
    assert_eq!(ours.payload, envelope.payload);
    assert_eq!(ours.signatures[0].sig, envelope.signatures[0].sig);
    assert_eq!(
        ours.signatures[0].keyid,
        keys[0].2.key_id(),
        "our key ID is the SPKI digest"
    );
}

#[test]
fn both_algorithms_round_trip_and_reject_other_keys_and_edits() {
    for algorithm in [Algorithm::P256, Algorithm::Ed25519] {
        let key = SigningKey::generate(algorithm).expect("key");
        let envelope = Envelope::sign(IN_TOTO_PAYLOAD_TYPE, br#"{"_type":"x"}"#, &key);
        let verified = envelope
            .verify(&[key.public_key()], 1, &[IN_TOTO_PAYLOAD_TYPE])
            .expect("round trip");
        assert_eq!(verified.payload, br#"{"_type":"x"}"#);
        let other = SigningKey::generate(algorithm).expect("key").public_key();
        let err = envelope
            .verify(&[other], 1, &[IN_TOTO_PAYLOAD_TYPE])
            .expect_err("wrong key");
        assert!(
            err.to_string()
                .contains("no signature verifies with the given key"),
            "{err}"
        );
        let mut edited = envelope.clone();
        edited.payload = base64::engine::general_purpose::STANDARD.encode(br#"{"_type":"y"}"#);
        assert!(
            edited
                .verify(&[key.public_key()], 1, &[IN_TOTO_PAYLOAD_TYPE])
                .is_err()
        );
    }
}

fn decode_any(text: &str) -> Vec<u8> {
    use base64::engine::general_purpose::{STANDARD, URL_SAFE};
    STANDARD
        .decode(text)
        .or_else(|_| URL_SAFE.decode(text))
        .expect("base64")
}
