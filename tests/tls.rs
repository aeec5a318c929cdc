//! Every HTTP client of the binary is rustls, and trust anchors are read only when a TLS
//! connection needs them.
//!
//! Two behaviours tell rustls from native-tls (OpenSSL) from outside the process:
//!
//! - **A certificate naming its host only in the subject's CN.** OpenSSL's host check falls back
//!   to the CN when a certificate has no subjectAltName; rustls (webpki) does not. The tests show
//!   OpenSSL accepting the server first (`openssl s_client -verify_hostname`), then require every
//!   client of the binary (the API client, Jira, Slack) to refuse it by name.
//! - **The files a process opens.** native-tls initialises OpenSSL when a client is built, which
//!   reads `openssl.cnf` and the system's CA store even for `http://`. Under `strace`, a plain-HTTP
//!   command must open neither, and a TLS one must read the store once, or not at all when
//!   `--ca-cert` vouches for the server.
//!
//! The servers are `openssl s_server` on 127.0.0.1 with certificates made here by the openssl CLI.

#![allow(clippy::print_stderr)]

mod common;

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{available, procurize, run, stderr, stdout};
use procurize_sim::{SAMPLE_ORGANIZATION, Simulator};

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A throwaway CA (`ca.pem`) and two server certificates for `localhost` signed by it:
/// `san` names it in a subjectAltName, `cn` only in the subject's common name.
struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("dir");
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        let path = dir.path();
        openssl(
            path,
            &[
                &["req", "-x509"][..],
                &ec,
                &["-keyout", "ca.key", "-out", "ca.pem", "-days", "2"],
                &["-subj", "/CN=procurize test CA"],
            ]
            .concat(),
        );
        let usage = "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n";
        for (name, extensions) in [
            ("san", format!("subjectAltName=DNS:localhost\n{usage}")),
            ("cn", usage.to_owned()),
        ] {
            let (key, csr, ext, pem) = (
                format!("{name}.key"),
                format!("{name}.csr"),
                format!("{name}.ext"),
                format!("{name}.pem"),
            );
            std::fs::write(path.join(&ext), extensions).expect("extensions");
            openssl(
                path,
                &[
                    &["req"][..],
                    &ec,
                    &["-keyout", &key, "-out", &csr, "-subj", "/CN=localhost"],
                ]
                .concat(),
            );
            openssl(
                path,
                &[
                    "x509",
                    "-req",
                    "-in",
                    &csr,
                    "-CA",
                    "ca.pem",
                    "-CAkey",
                    "ca.key",
                    "-CAcreateserial",
                    "-out",
                    &pem,
                    "-days",
                    "2",
                    "-extfile",
                    &ext,
                ],
            );
        }
        std::fs::create_dir(path.join("no-certs")).expect("empty dir");
        Self { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Makes `bundle` the system's whole CA store for `command` (rustls-native-certs and OpenSSL
    /// both read `SSL_CERT_FILE` and `SSL_CERT_DIR`).
    fn as_system_store<'c>(&self, command: &'c mut Command, bundle: &Path) -> &'c mut Command {
        command
            .env("SSL_CERT_FILE", bundle)
            .env("SSL_CERT_DIR", self.path("no-certs"))
    }

    /// `openssl s_server` with the certificate `name`, answering every request with its status
    /// page.
    fn serve(&self, name: &str) -> TlsServer {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let child = Command::new("openssl")
            .args(["s_server", "-quiet", "-www", "-accept"])
            .arg(format!("127.0.0.1:{port}"))
            .args([
                "-cert",
                &format!("{name}.pem"),
                "-key",
                &format!("{name}.key"),
            ])
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start openssl s_server");
        let server = TlsServer { child, port };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "openssl s_server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }
}

struct TlsServer {
    child: Child,
    port: u16,
}

impl TlsServer {
    /// The server's URL by name: `localhost` is what the certificates are for.
    fn url(&self) -> String {
        format!("https://localhost:{}", self.port)
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `procurize reports list` against `base`, one attempt.
fn list_against(base: &str) -> Command {
    let mut command = procurize();
    command
        .args(["--base-url", base, "--org", SAMPLE_ORGANIZATION])
        .args(["--attempts", "1", "--timeout", "5s"])
        .args(["reports", "list", "--version", "1.0"]);
    command
}

/// `procurize notify check` of a Jira and a Slack channel, both at `server`: two clients, two
/// connections.
fn notify_check(pki: &Pki, server: &TlsServer) -> Command {
    let config = pki.path("notify.toml");
    std::fs::write(
        &config,
        format!(
            r##"
[channels.jira]
type = "jira"
url = "{url}"
deployment = "data_center"
project = "SEC"
token_env = "TEST_JIRA_TOKEN"

[channels.slack]
type = "slack"
token_env = "TEST_SLACK_TOKEN"
channel = "#security"
api_url = "{url}/api"
"##,
            url = server.url()
        ),
    )
    .expect("config");
    let mut check = procurize();
    check
        .args(["notify", "check", "--config"])
        .arg(&config)
        .env("TEST_JIRA_TOKEN", "pat")
        .env("TEST_SLACK_TOKEN", "xoxb-test");
    check
}

const REFUSED_BY_NAME: &str = "certificate not valid for name \"localhost\"";

#[test]
fn openssl_accepts_a_cn_only_certificate_and_every_client_refuses_it() {
    if !available("openssl") {
        return;
    }
    let pki = Pki::new();
    let server = pki.serve("cn");

    // The control: OpenSSL, what native-tls is, verifies the chain and the name.
    let control = Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &format!("127.0.0.1:{}", server.port),
        ])
        .args(["-servername", "localhost", "-verify_hostname", "localhost"])
        .args(["-verify_return_error", "-CAfile"])
        .arg(pki.path("ca.pem"))
        .stdin(Stdio::null())
        .output()
        .expect("openssl s_client");
    assert!(
        control.status.success() && stdout(&control).contains("Verify return code: 0 (ok)"),
        "OpenSSL should accept a CN-only certificate: {}",
        String::from_utf8_lossy(&control.stderr)
    );

    // The API client, with the CA as --ca-cert.
    let out = run(list_against(&server.url())
        .arg("--ca-cert")
        .arg(pki.path("ca.pem")));
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("TLS handshake failed"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains(REFUSED_BY_NAME), "{}", stderr(&out));

    // The same CA as the system's store, for the API client, Jira and Slack alike.
    let out = run(pki.as_system_store(&mut list_against(&server.url()), &pki.path("ca.pem")));
    assert!(stderr(&out).contains(REFUSED_BY_NAME), "{}", stderr(&out));

    let mut check = notify_check(&pki, &server);
    let out = run(pki.as_system_store(&mut check, &pki.path("ca.pem")));
    assert_eq!(out.status.code(), Some(3), "{}", stdout(&out));
    for channel in ["jira", "slack"] {
        let line = stdout(&out)
            .lines()
            .find(|l| l.contains(&format!(" {channel}:")))
            .map(str::to_owned)
            .unwrap_or_default();
        assert!(
            line.starts_with("FAIL") && line.contains(REFUSED_BY_NAME),
            "{channel}: {}",
            stdout(&out)
        );
    }
}

#[test]
fn a_certificate_with_its_name_in_subject_alt_name_is_accepted() {
    if !available("openssl") {
        return;
    }
    let pki = Pki::new();
    let server = pki.serve("san");
    let out = run(list_against(&server.url())
        .arg("--ca-cert")
        .arg(pki.path("ca.pem")));
    // The handshake succeeds; what fails is s_server's status page, which is no report list.
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("unexpected report list"),
        "{}",
        stderr(&out)
    );
}

/// Runs `command` under `strace` and returns the paths it opened (successfully or not).
fn opened_files(command: &Command, dir: &Path) -> (Output, Vec<String>) {
    let log = dir.join(format!(
        "strace-{}.log",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default()
    ));
    let mut traced = Command::new("strace");
    traced
        .args(["-f", "-qq", "-e", "trace=open,openat,openat2", "-o"])
        .arg(&log)
        .arg(command.get_program())
        .args(command.get_args());
    for (key, value) in command.get_envs() {
        match value {
            Some(value) => traced.env(key, value),
            None => traced.env_remove(key),
        };
    }
    let out = run(&mut traced);
    let text = std::fs::read_to_string(&log).expect("strace log");
    let paths = text
        .lines()
        .filter_map(|line| line.split('"').nth(1))
        .map(str::to_owned)
        .collect();
    (out, paths)
}

/// What OpenSSL opens when it is initialised, and what a CA store is made of.
fn is_openssl_or_store(path: &str) -> bool {
    path.contains("openssl.cnf") || path.starts_with("/etc/ssl") || path.starts_with("/usr/lib/ssl")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_http_command_reads_no_certificate_and_no_openssl_configuration() {
    if !available("strace") {
        return;
    }
    let pki = tempfile::tempdir().expect("dir");
    let bundle = pki.path().join("bundle.pem");
    std::fs::write(&bundle, "").expect("bundle");
    let sim = Simulator::start_sample().await.expect("sim");
    let mut command = list_against(&sim.base_url());
    command
        .env("SSL_CERT_FILE", &bundle)
        .env("SSL_CERT_DIR", pki.path());
    let dir = pki.path().to_owned();
    let (out, opened) = tokio::task::spawn_blocking(move || opened_files(&command, &dir))
        .await
        .expect("join");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        !opened.is_empty(),
        "strace saw no open at all: is it tracing?"
    );
    let unwanted: Vec<&String> = opened
        .iter()
        .filter(|p| is_openssl_or_store(p) || Path::new(p).starts_with(pki.path()))
        .collect();
    assert!(unwanted.is_empty(), "opened {unwanted:?}");
}

#[test]
fn tls_reads_the_system_store_once_and_not_at_all_when_the_ca_cert_vouches() {
    if !available("strace") || !available("openssl") {
        return;
    }
    let pki = Pki::new();
    let server = pki.serve("san");
    let bundle = pki.path("bundle.pem");
    std::fs::copy(pki.path("ca.pem"), &bundle).expect("bundle");
    let count = |opened: &[String], path: &Path| {
        opened
            .iter()
            .filter(|p| Path::new(p.as_str()) == path)
            .count()
    };

    // --ca-cert vouches for the server: the system's store is never read.
    let mut command = list_against(&server.url());
    command.arg("--ca-cert").arg(pki.path("ca.pem"));
    pki.as_system_store(&mut command, &bundle);
    let (out, opened) = opened_files(&command, pki.dir.path());
    assert!(
        stderr(&out).contains("unexpected report list"),
        "{}",
        stderr(&out)
    );
    assert_eq!(count(&opened, &bundle), 0, "{opened:#?}");
    assert_eq!(count(&opened, &pki.path("ca.pem")), 1, "{opened:#?}");
    let unwanted: Vec<&String> = opened.iter().filter(|p| is_openssl_or_store(p)).collect();
    assert!(unwanted.is_empty(), "opened {unwanted:?}");

    // No --ca-cert: the system's store, read once for all the clients and connections of the
    // process (Jira's and Slack's here).
    let mut command = notify_check(&pki, &server);
    pki.as_system_store(&mut command, &bundle);
    let (out, opened) = opened_files(&command, pki.dir.path());
    // Both handshakes succeed; what s_server answers is neither Jira nor Slack.
    for channel in ["jira", "slack"] {
        assert!(
            stdout(&out).contains(&format!(" {channel}: ")),
            "{}",
            stdout(&out)
        );
    }
    assert!(
        !stdout(&out).contains("certificate") && !stdout(&out).contains("TLS"),
        "{}",
        stdout(&out)
    );
    assert_eq!(count(&opened, &bundle), 1, "{opened:#?}");
    let unwanted: Vec<&String> = opened.iter().filter(|p| is_openssl_or_store(p)).collect();
    assert!(unwanted.is_empty(), "opened {unwanted:?}");
}
