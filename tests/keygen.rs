//! `procurize keygen`.

mod common;

use common::{procurize, run, stderr};

#[test]
fn keygen_writes_a_private_and_a_public_key_and_never_overwrites() {
    let dir = tempfile::tempdir().expect("dir");
    let name = dir.path().join("signer");
    for algorithm in ["p256", "ed25519"] {
        let name = dir.path().join(algorithm);
        let out = run(procurize()
            .args(["keygen", "--algorithm", algorithm, "--out"])
            .arg(&name));
        assert!(out.status.success(), "{}", stderr(&out));
        let private =
            std::fs::read_to_string(dir.path().join(format!("{algorithm}.key"))).expect("key");
        let public =
            std::fs::read_to_string(dir.path().join(format!("{algorithm}.pub"))).expect("pub");
        assert!(private.starts_with("-----BEGIN PRIVATE KEY-----"));
        assert!(public.starts_with("-----BEGIN PUBLIC KEY-----"));
        let key = procurize_archive::SigningKey::from_pkcs8_pem(&private).expect("readable");
        assert_eq!(key.algorithm().as_str(), algorithm);
        assert!(
            stderr(&out).contains(&key.public_key().key_id()),
            "{}",
            stderr(&out)
        );
        // Standard tools read it too.
        if let Ok(check) = std::process::Command::new("openssl")
            .args(["pkey", "-in"])
            .arg(dir.path().join(format!("{algorithm}.key")))
            .args(["-pubout"])
            .output()
        {
            assert!(
                check.status.success(),
                "openssl pkey: {}",
                String::from_utf8_lossy(&check.stderr)
            );
            assert_eq!(String::from_utf8_lossy(&check.stdout), public);
        }
    }
    let default = run(procurize().args(["keygen", "--out"]).arg(&name));
    assert!(default.status.success());
    let again = run(procurize().args(["keygen", "--out"]).arg(&name));
    assert_eq!(again.status.code(), Some(2));
    assert!(
        stderr(&again).contains("already exists; not overwriting it"),
        "{}",
        stderr(&again)
    );
}

#[test]
fn keygen_creates_the_missing_folder_of_its_output_for_the_owner_only() {
    let dir = tempfile::tempdir().expect("dir");
    // The README's own example path, in a folder that does not exist yet.
    let name = dir.path().join("keys/nested/evidence");
    let out = run(procurize().args(["keygen", "--out"]).arg(&name));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(dir.path().join("keys/nested/evidence.key").is_file());
    assert!(dir.path().join("keys/nested/evidence.pub").is_file());
    #[cfg(unix)]
    for folder in ["keys", "keys/nested"] {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join(folder))
            .expect("folder")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700, "{folder}: {mode:o}");
    }
}
