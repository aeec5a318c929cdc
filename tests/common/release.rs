//! A release as the setup action and the GitLab templates download it: a tarball of this
//! build's binary named for the target, served with its `.sha256` by a mirror on 127.0.0.1.

#![allow(dead_code, unreachable_pub)]

use std::path::Path;
use std::process::Command;

use super::binary;

/// Serves `files` under `/<version>/` on 127.0.0.1, as a release mirror.
pub async fn mirror(files: Vec<(String, Vec<u8>)>) -> String {
    let files = std::sync::Arc::new(files);
    let app = axum::Router::new().route(
        "/{version}/{file}",
        axum::routing::get(
            move |axum::extract::Path((_, file)): axum::extract::Path<(String, String)>| {
                let files = files.clone();
                async move {
                    match files.iter().find(|(name, _)| *name == file) {
                        Some((_, bytes)) => (axum::http::StatusCode::OK, bytes.clone()),
                        None => (axum::http::StatusCode::NOT_FOUND, Vec::new()),
                    }
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

pub fn release_archive(dir: &Path) -> (String, Vec<u8>) {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "x86_64",
        "aarch64" => "aarch64",
        other => panic!("no release target for {other}"),
    };
    let name = format!("procurize-{arch}-unknown-linux-musl");
    std::fs::create_dir_all(dir.join(&name)).expect("dir");
    std::fs::copy(binary(), dir.join(&name).join("procurize")).expect("copy");
    let status = Command::new("tar")
        .args(["-czf", &format!("{name}.tar.gz"), &name])
        .current_dir(dir)
        .status()
        .expect("tar");
    assert!(status.success());
    let archive = format!("{name}.tar.gz");
    let bytes = std::fs::read(dir.join(&archive)).expect("read");
    (archive, bytes)
}

/// The `.sha256` file a release publishes beside `archive`: `<hex>  <name>`.
pub fn checksum_file(archive: &str, bytes: &[u8]) -> (String, Vec<u8>) {
    use sha2::Digest;
    let digest: String = sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    (
        format!("{archive}.sha256"),
        format!("{digest}  {archive}\n").into_bytes(),
    )
}
