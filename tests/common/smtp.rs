//! A real SMTP server for the tests: tests/interop/smtp_sink.py (aiosmtpd) on 127.0.0.1.
//! Shared by the notifier's tests and the end-to-end tests.

#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A real SMTP server: tests/interop/smtp_sink.py. Stops when dropped.
pub struct Smtp {
    child: Child,
    pub port: u16,
    folder: tempfile::TempDir,
}

impl Smtp {
    pub fn start(fail_first: u32) -> Option<Self> {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/interop/smtp_sink.py");
        let folder = tempfile::tempdir().expect("dir");
        let mut child = Command::new("python3")
            .arg(&script)
            .arg(folder.path())
            .args(["--fail-first", &fail_first.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let mut line = String::new();
        BufReader::new(child.stdout.take()?)
            .read_line(&mut line)
            .ok()?;
        match line.trim().parse() {
            Ok(port) => Some(Self {
                child,
                port,
                folder,
            }),
            Err(_) => {
                let _ = child.kill();
                assert!(
                    std::env::var_os("CI").is_none(),
                    "CI installs aiosmtpd (pip) before the tests"
                );
                None
            }
        }
    }

    pub fn messages(&self) -> Vec<String> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(self.folder.path())
            .expect("dir")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "eml"))
            .collect();
        names.sort();
        names
            .iter()
            .map(|p| std::fs::read_to_string(p).expect("eml"))
            .collect()
    }
}

impl Drop for Smtp {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
