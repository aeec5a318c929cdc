//! `--help` of every command, as users read it. Review changes to these snapshots like prose.

mod common;

use common::{procurize, run, stdout};

fn help(args: &[&str]) -> String {
    let output = run(procurize().args(args).arg("--help"));
    assert!(output.status.success(), "{args:?} --help failed");
    stdout(&output)
}

#[test]
fn root() {
    insta::assert_snapshot!("root", help(&[]));
}

#[test]
fn reports() {
    insta::assert_snapshot!("reports", help(&["reports"]));
}

#[test]
fn reports_list() {
    insta::assert_snapshot!("reports_list", help(&["reports", "list"]));
}

#[test]
fn reports_download() {
    insta::assert_snapshot!("reports_download", help(&["reports", "download"]));
}

#[test]
fn gate() {
    insta::assert_snapshot!("gate", help(&["gate"]));
}

#[test]
fn notify() {
    insta::assert_snapshot!("notify", help(&["notify"]));
}

#[test]
fn notify_check() {
    insta::assert_snapshot!("notify_check", help(&["notify", "check"]));
}

#[test]
fn archive() {
    insta::assert_snapshot!("archive", help(&["archive"]));
}

#[test]
fn verify() {
    insta::assert_snapshot!("verify", help(&["verify"]));
}

#[test]
fn keygen() {
    insta::assert_snapshot!("keygen", help(&["keygen"]));
}

#[test]
fn sim() {
    insta::assert_snapshot!("sim", help(&["sim"]));
}

#[test]
fn sim_webhook() {
    insta::assert_snapshot!("sim_webhook", help(&["sim", "webhook"]));
}

#[test]
fn version() {
    let output = run(procurize().arg("--version"));
    assert!(output.status.success());
    assert_eq!(
        stdout(&output),
        format!("procurize {}\n", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn serve() {
    insta::assert_snapshot!("serve", help(&["serve"]));
}

#[test]
fn jobs() {
    insta::assert_snapshot!("jobs", help(&["jobs"]));
}

#[test]
fn jobs_list() {
    insta::assert_snapshot!("jobs_list", help(&["jobs", "list"]));
}

#[test]
fn jobs_retry() {
    insta::assert_snapshot!("jobs_retry", help(&["jobs", "retry"]));
}

#[test]
fn jobs_purge() {
    insta::assert_snapshot!("jobs_purge", help(&["jobs", "purge"]));
}

#[test]
fn demo() {
    insta::assert_snapshot!("demo", help(&["demo"]));
}

#[test]
fn completions() {
    insta::assert_snapshot!("completions", help(&["completions"]));
}

#[test]
fn man() {
    insta::assert_snapshot!("man", help(&["man"]));
}

#[test]
fn init() {
    insta::assert_snapshot!("init", help(&["init"]));
}
