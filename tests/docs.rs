//! `procurize completions` and `procurize man`: generated from the same definition as `--help`,
//! so a command added to the CLI is completed and documented without another step.

mod common;

use common::{procurize, run, stderr, stdout};

/// The commands `procurize --help` lists (its `Commands:` section), `help` aside.
fn commands() -> Vec<String> {
    let help = stdout(&run(procurize().arg("--help")));
    help.lines()
        .skip_while(|line| !line.starts_with("Commands:"))
        .skip(1)
        .take_while(|line| !line.trim().is_empty())
        .filter(|line| line.starts_with("  ") && !line.starts_with("   "))
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_shell_gets_a_script_that_completes_every_command() {
    let commands = commands();
    assert!(commands.len() >= 10, "{commands:?}");
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = run(procurize().args(["completions", shell]));
        assert!(out.status.success(), "{shell}: {}", stderr(&out));
        let script = stdout(&out);
        for command in &commands {
            assert!(script.contains(command.as_str()), "{shell}: no `{command}`");
        }
    }
    insta::assert_snapshot!(
        "completions_fish",
        stdout(&run(procurize().args(["completions", "fish"])))
    );
    // The bash script is valid bash.
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("procurize.bash");
    std::fs::write(
        &path,
        stdout(&run(procurize().args(["completions", "bash"]))),
    )
    .expect("write");
    if let Ok(check) = std::process::Command::new("bash")
        .arg("-n")
        .arg(&path)
        .output()
    {
        assert!(
            check.status.success(),
            "{}",
            String::from_utf8_lossy(&check.stderr)
        );
    }
    // An unknown shell is a usage error.
    let out = run(procurize().args(["completions", "tcsh"]));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

#[test]
fn man_writes_a_page_for_procurize_and_for_every_command() {
    let dir = tempfile::tempdir().expect("dir");
    let folder = dir.path().join("doc/man");
    let out = run(procurize().args(["man", "--out"]).arg(&folder));
    assert!(out.status.success(), "{}", stderr(&out));
    let mut pages: Vec<String> = std::fs::read_dir(&folder)
        .expect("folder")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    pages.sort();
    assert!(pages.contains(&"procurize.1".to_owned()), "{pages:?}");
    for command in commands() {
        assert!(
            pages.contains(&format!("procurize-{command}.1")),
            "no page for {command}: {pages:?}"
        );
    }
    // Subcommands too.
    for page in [
        "procurize-reports-list.1",
        "procurize-notify-check.1",
        "procurize-jobs-retry.1",
    ] {
        assert!(pages.contains(&page.to_owned()), "{page}: {pages:?}");
    }
    assert!(
        stderr(&out).contains(&format!("Wrote {} man pages", pages.len())),
        "{}",
        stderr(&out)
    );
    let root = std::fs::read_to_string(folder.join("procurize.1")).expect("page");
    assert!(
        root.starts_with(".ie") || root.contains(".TH procurize 1"),
        "{root}"
    );
    insta::assert_snapshot!(
        "man_gate",
        std::fs::read_to_string(folder.join("procurize-gate.1")).expect("page")
    );
    // `man` renders it, where man is installed.
    if let Ok(rendered) = std::process::Command::new("man")
        .arg("-l")
        .arg(folder.join("procurize-gate.1"))
        .env("MANPAGER", "cat")
        .env("MANWIDTH", "100")
        .output()
        && rendered.status.success()
    {
        assert!(String::from_utf8_lossy(&rendered.stdout).contains("Fail the build"));
    }
}
