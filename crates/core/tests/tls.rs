//! HTTPS with an extra CA certificate, against a real TLS server: `openssl s_server` on
//! 127.0.0.1 with a certificate signed by a throwaway CA made here.

#![allow(clippy::print_stderr)]

use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use procurize_core::{Client, Error, RetryPolicy, TransportKind, VersionFilter};

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn openssl(dir: &Path, args: &[&str]) -> bool {
    Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A CA, and a server certificate for 127.0.0.1 signed by it. `None` without the openssl CLI.
fn make_certificates(dir: &Path) -> Option<()> {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let ok = openssl(dir, &[&["req", "-x509"][..], &ec, &["-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=procurize test CA"]].concat())
        && openssl(dir, &[&["req"][..], &ec, &["-keyout", "leaf.key", "-out", "leaf.csr", "-subj", "/CN=127.0.0.1"]].concat())
        && std::fs::write(
            dir.join("leaf.ext"),
            "subjectAltName=IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
        )
        .is_ok()
        && openssl(
            dir,
            &["x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "leaf.pem", "-days", "2", "-extfile", "leaf.ext"],
        );
    ok.then_some(())
}

fn start_server(dir: &Path) -> (Server, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let child = Command::new("openssl")
        .args(["s_server", "-quiet", "-www", "-accept"])
        .arg(format!("127.0.0.1:{port}"))
        .args(["-cert", "leaf.pem", "-key", "leaf.key"])
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start openssl s_server");
    let server = Server(child);
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "openssl s_server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    (server, port)
}

#[tokio::test]
async fn an_extra_ca_certificate_is_trusted_and_its_absence_is_a_tls_error() {
    let dir = tempfile::tempdir().expect("dir");
    if make_certificates(dir.path()).is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "the openssl CLI is required in CI"
        );
        eprintln!("openssl CLI not available; skipping the TLS test");
        return;
    }
    let (_server, port) = start_server(dir.path());
    let filter = VersionFilter::exact("1.0".parse().expect("v"));
    let base = Client::builder()
        .base_url(format!("https://127.0.0.1:{port}"))
        .organization("00000000-0000-0000-0000-000000000001")
        .retry(RetryPolicy::none());

    let err = base
        .clone()
        .build()
        .expect("client")
        .list_reports(&filter)
        .await
        .expect_err("untrusted");
    assert!(
        matches!(
            err,
            Error::Transport {
                kind: TransportKind::Tls,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("--ca-cert"), "{err}");

    let pem = std::fs::read(dir.path().join("ca.pem")).expect("ca");
    let err = base
        .add_ca_certificate_pem(pem)
        .build()
        .expect("client")
        .list_reports(&filter)
        .await
        .expect_err("s_server answers with an HTML status page, not a report list");
    // The TLS handshake succeeded: what fails now is the body, which is not a report list.
    assert!(matches!(err, Error::Decode { .. }), "{err:?}");
}
