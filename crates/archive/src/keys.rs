//! Signing keys: ECDSA P-256 with SHA-256 (DER signatures, the default) and Ed25519.
//! PKCS#8 PEM private keys, SPKI PEM public keys; the key ID is the hex SHA-256 of the public
//! key's SPKI DER.

use std::fmt;

use ed25519_dalek::Signer as _;
use ed25519_dalek::Verifier as _;
use p256::pkcs8::{
    DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, LineEnding,
};
use sha2::{Digest, Sha256};

use crate::ArchiveError;

/// A signature algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Algorithm {
    /// ECDSA over NIST P-256 with SHA-256, ASN.1 DER signatures: what cosign and most verifiers
    /// expect.
    #[default]
    P256,
    /// Ed25519.
    Ed25519,
}

impl Algorithm {
    /// `p256` or `ed25519`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::P256 => "p256",
            Self::Ed25519 => "ed25519",
        }
    }
}

impl std::str::FromStr for Algorithm {
    type Err = ArchiveError;
    fn from_str(s: &str) -> Result<Self, ArchiveError> {
        match s {
            "p256" | "ecdsa-p256" => Ok(Self::P256),
            "ed25519" => Ok(Self::Ed25519),
            other => Err(ArchiveError::Key(format!(
                "unknown algorithm `{other}` (use p256 or ed25519)"
            ))),
        }
    }
}

/// A private signing key. Its `Debug` output never shows the key.
#[derive(Clone)]
pub enum SigningKey {
    /// ECDSA P-256.
    P256(p256::ecdsa::SigningKey),
    /// Ed25519.
    Ed25519(ed25519_dalek::SigningKey),
}

/// A public key that verifies signatures.
#[derive(Clone, PartialEq, Eq)]
pub enum PublicKey {
    /// ECDSA P-256.
    P256(p256::ecdsa::VerifyingKey),
    /// Ed25519.
    Ed25519(ed25519_dalek::VerifyingKey),
}

impl SigningKey {
    /// A new random key from the operating system's generator; an error if it cannot give one.
    pub fn generate(algorithm: Algorithm) -> Result<Self, ArchiveError> {
        use p256::elliptic_curve::Generate as _;
        let failed = |e: getrandom::Error| {
            ArchiveError::Key(format!("the system's random generator failed: {e}"))
        };
        let mut rng = getrandom::SysRng;
        Ok(match algorithm {
            Algorithm::P256 => Self::P256(
                p256::ecdsa::SigningKey::try_generate_from_rng(&mut rng).map_err(failed)?,
            ),
            Algorithm::Ed25519 => {
                // An Ed25519 secret key is any 32 bytes (RFC 8032, 5.1.5).
                let mut secret = zeroize::Zeroizing::new([0u8; 32]);
                getrandom::fill(secret.as_mut()).map_err(failed)?;
                Self::Ed25519(ed25519_dalek::SigningKey::from_bytes(&secret))
            }
        })
    }

    /// Reads a PKCS#8 PEM private key (`-----BEGIN PRIVATE KEY-----`), P-256 or Ed25519.
    pub fn from_pkcs8_pem(pem: &str) -> Result<Self, ArchiveError> {
        if let Ok(key) = p256::ecdsa::SigningKey::from_pkcs8_pem(pem) {
            return Ok(Self::P256(key));
        }
        if let Ok(key) = ed25519_dalek::SigningKey::from_pkcs8_pem(pem) {
            return Ok(Self::Ed25519(key));
        }
        let hint = if pem.contains("ENCRYPTED PRIVATE KEY") {
            "it is encrypted; give an unencrypted PKCS#8 key (keep it in a secret store instead)"
        } else if pem.contains("BEGIN EC PRIVATE KEY") {
            "it is a SEC1 key; convert it with `openssl pkcs8 -topk8 -nocrypt`"
        } else if pem.contains("BEGIN PUBLIC KEY") {
            "it is a public key; signing needs the private key"
        } else {
            "expected a PKCS#8 PEM P-256 or Ed25519 private key (-----BEGIN PRIVATE KEY-----)"
        };
        Err(ArchiveError::Key(format!(
            "cannot read the signing key: {hint}"
        )))
    }

    /// The key as PKCS#8 PEM.
    pub fn to_pkcs8_pem(&self) -> Result<String, ArchiveError> {
        let pem = match self {
            Self::P256(k) => k.to_pkcs8_pem(LineEnding::LF),
            // PKCS#8 v1, without the optional public key: OpenSSL 3.0 and other tools do not all
            // read the v2 form.
            Self::Ed25519(k) => ed25519_dalek::pkcs8::KeypairBytes {
                secret_key: k.to_bytes(),
                public_key: None,
            }
            .to_pkcs8_pem(LineEnding::LF),
        }
        .map_err(|e| ArchiveError::Key(format!("cannot encode the key: {e}")))?;
        Ok(pem.to_string())
    }

    /// Its algorithm.
    pub fn algorithm(&self) -> Algorithm {
        match self {
            Self::P256(_) => Algorithm::P256,
            Self::Ed25519(_) => Algorithm::Ed25519,
        }
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        match self {
            Self::P256(k) => PublicKey::P256(*k.verifying_key()),
            Self::Ed25519(k) => PublicKey::Ed25519(k.verifying_key()),
        }
    }

    /// Signs `message`: an ASN.1 DER ECDSA signature (SHA-256), or a 64-byte Ed25519 signature.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        match self {
            Self::P256(k) => {
                let signature: p256::ecdsa::Signature = k.sign(message);
                signature.to_der().as_bytes().to_vec()
            }
            Self::Ed25519(k) => k.sign(message).to_bytes().to_vec(),
        }
    }
}

/// Creates the folder `name` goes in when it is missing (`keys/` of `keys/evidence`), readable by
/// its owner only: it will hold a private key.
fn create_parent(name: &std::path::Path) -> Result<(), ArchiveError> {
    let Some(parent) = name.parent().filter(|p| !p.as_os_str().is_empty()) else {
        return Ok(());
    };
    if parent.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(parent)
        .map_err(|e| ArchiveError::Key(format!("cannot create {}: {e}", parent.display())))
}

/// Writes `NAME.key` (the private key, PKCS#8 PEM, readable by the owner only) and `NAME.pub`
/// (the public key, SPKI PEM), creating their folder (mode 0700) when it is missing. Refuses to
/// overwrite either file; on failure neither is left.
pub fn write_key_pair(
    key: &SigningKey,
    name: &std::path::Path,
) -> Result<(std::path::PathBuf, std::path::PathBuf), ArchiveError> {
    use std::io::Write;
    let with = |extension: &str| {
        let mut path = name.as_os_str().to_owned();
        path.push(extension);
        std::path::PathBuf::from(path)
    };
    let (private, public) = (with(".key"), with(".pub"));
    for path in [&private, &public] {
        if path.exists() {
            return Err(ArchiveError::Key(format!(
                "{} already exists; not overwriting it",
                path.display()
            )));
        }
    }
    create_parent(name)?;
    let create = |path: &std::path::Path, mode: u32, text: &str| -> Result<(), ArchiveError> {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(mode);
        }
        #[cfg(not(unix))]
        let _ = mode;
        let mut file = options
            .open(path)
            .map_err(|e| ArchiveError::Key(format!("cannot create {}: {e}", path.display())))?;
        file.write_all(text.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(|e| {
                // Nothing half-written is left behind.
                let _ = std::fs::remove_file(path);
                ArchiveError::Key(format!("cannot write {}: {e}", path.display()))
            })
    };
    create(&private, 0o600, &key.to_pkcs8_pem()?)?;
    if let Err(e) = create(&public, 0o644, &key.public_key().to_public_key_pem()) {
        let _ = std::fs::remove_file(&private);
        return Err(e);
    }
    Ok((private, public))
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey({}, [REDACTED])", self.algorithm().as_str())
    }
}

impl PublicKey {
    /// Reads an SPKI PEM public key (`-----BEGIN PUBLIC KEY-----`), P-256 or Ed25519.
    pub fn from_public_key_pem(pem: &str) -> Result<Self, ArchiveError> {
        if let Ok(key) = p256::ecdsa::VerifyingKey::from_public_key_pem(pem) {
            return Ok(Self::P256(key));
        }
        if let Ok(key) = ed25519_dalek::VerifyingKey::from_public_key_pem(pem) {
            return Ok(Self::Ed25519(key));
        }
        Err(ArchiveError::Key(
            "cannot read the public key: expected an SPKI PEM P-256 or Ed25519 key (-----BEGIN PUBLIC KEY-----)".into(),
        ))
    }

    /// The key as SPKI DER.
    pub fn to_spki_der(&self) -> Vec<u8> {
        let der = match self {
            Self::P256(k) => k.to_public_key_der(),
            Self::Ed25519(k) => k.to_public_key_der(),
        };
        // Encoding a valid key cannot fail.
        der.map(|d| d.as_bytes().to_vec()).unwrap_or_default()
    }

    /// The key as SPKI PEM.
    pub fn to_public_key_pem(&self) -> String {
        let pem = match self {
            Self::P256(k) => k.to_public_key_pem(LineEnding::LF),
            Self::Ed25519(k) => k.to_public_key_pem(LineEnding::LF),
        };
        pem.unwrap_or_default()
    }

    /// The key ID: the hex SHA-256 of the SPKI DER.
    pub fn key_id(&self) -> String {
        hex::encode(Sha256::digest(self.to_spki_der()))
    }

    /// Its algorithm.
    pub fn algorithm(&self) -> Algorithm {
        match self {
            Self::P256(_) => Algorithm::P256,
            Self::Ed25519(_) => Algorithm::Ed25519,
        }
    }

    /// Whether `signature` is this key's signature of `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        match self {
            Self::P256(k) => p256::ecdsa::Signature::from_der(signature)
                .is_ok_and(|s| k.verify(message, &s).is_ok()),
            Self::Ed25519(k) => ed25519_dalek::Signature::from_slice(signature)
                .is_ok_and(|s| k.verify_strict(message, &s).is_ok()),
        }
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "PublicKey({}, {})",
            self.algorithm().as_str(),
            self.key_id()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_algorithms_round_trip_through_pem_and_sign() {
        for algorithm in [Algorithm::P256, Algorithm::Ed25519] {
            let key = SigningKey::generate(algorithm).expect("key");
            let pem = key.to_pkcs8_pem().expect("pem");
            assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
            let read = SigningKey::from_pkcs8_pem(&pem).expect("read back");
            assert_eq!(read.algorithm(), algorithm);
            let public = PublicKey::from_public_key_pem(&key.public_key().to_public_key_pem())
                .expect("public");
            assert_eq!(public, key.public_key());
            let signature = read.sign(b"evidence");
            assert!(public.verify(b"evidence", &signature));
            assert!(!public.verify(b"evidencE", &signature));
            assert!(
                !SigningKey::generate(algorithm)
                    .expect("key")
                    .public_key()
                    .verify(b"evidence", &signature)
            );
            assert_eq!(public.key_id().len(), 64);
            assert!(!format!("{read:?}").contains(&pem[30..60]));
        }
    }

    #[test]
    fn p256_signatures_are_der() {
        let key = SigningKey::generate(Algorithm::P256).expect("key");
        let signature = key.sign(b"x");
        assert_eq!(signature[0], 0x30, "an ASN.1 SEQUENCE");
        assert_eq!(usize::from(signature[1]) + 2, signature.len());
    }

    #[test]
    fn key_pairs_are_written_private_and_never_overwritten() {
        let dir = tempfile::tempdir().expect("dir");
        let name = dir.path().join("signer");
        let key = SigningKey::generate(Algorithm::Ed25519).expect("key");
        let (private, public) = write_key_pair(&key, &name).expect("written");
        assert_eq!(private, dir.path().join("signer.key"));
        let read = SigningKey::from_pkcs8_pem(&std::fs::read_to_string(&private).expect("read"))
            .expect("key");
        assert_eq!(read.public_key(), key.public_key());
        assert_eq!(
            PublicKey::from_public_key_pem(&std::fs::read_to_string(&public).expect("read"))
                .expect("pub"),
            key.public_key()
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&private)
                .expect("meta")
                .permissions()
                .mode()
                & 0o777;
            assert_eq!(mode, 0o600);
        }
        let err = write_key_pair(&SigningKey::generate(Algorithm::P256).expect("key"), &name)
            .expect_err("exists");
        assert!(err.to_string().contains("already exists"), "{err}");
        assert_eq!(
            read.public_key(),
            SigningKey::from_pkcs8_pem(&std::fs::read_to_string(&private).expect("read"))
                .expect("key")
                .public_key(),
            "untouched"
        );
    }

    #[test]
    fn unreadable_keys_say_why() {
        let err = SigningKey::from_pkcs8_pem(
            "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n",
        )
        .expect_err("sec1");
        assert!(err.to_string().contains("openssl pkcs8 -topk8"), "{err}");
        let public = SigningKey::generate(Algorithm::P256)
            .expect("key")
            .public_key()
            .to_public_key_pem();
        let err = SigningKey::from_pkcs8_pem(&public).expect_err("public");
        assert!(err.to_string().contains("public key"), "{err}");
        assert!(PublicKey::from_public_key_pem("nonsense").is_err());
    }
}
