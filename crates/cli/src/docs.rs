//! `procurize completions` and `procurize man`: the command line described for shells and for
//! `man`, generated from the same clap definition as `--help`.

use std::io::Write as _;

use anyhow::Context as _;

use crate::Exit;
use crate::args::{self, CompletionsArgs, Global, ManArgs};

/// Prints the completion script for a shell.
pub(crate) fn completions(args: &CompletionsArgs) -> anyhow::Result<Exit> {
    let mut command = args::command();
    // Into memory first: clap_complete panics on a write error, and a closed pipe is not a bug.
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "procurize", &mut script);
    std::io::stdout().lock().write_all(&script)?;
    Ok(Exit::Success)
}

/// Writes `procurize.1` and a page per command (`procurize-gate.1`, `procurize-reports-list.1`).
pub(crate) fn man(global: &Global, args: &ManArgs) -> anyhow::Result<Exit> {
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    clap_mangen::generate_to(args::command(), &args.out)
        .with_context(|| format!("cannot write the man pages into {}", args.out.display()))?;
    if !global.quiet {
        let count = std::fs::read_dir(&args.out)
            .map(|entries| {
                entries
                    .flatten()
                    .filter(|e| e.path().extension().is_some_and(|x| x == "1"))
                    .count()
            })
            .unwrap_or(0);
        eprintln!("Wrote {count} man pages to {}", args.out.display());
    }
    Ok(Exit::Success)
}
