//! The book (`docs/`) and the README, checked as a reader would use them: every configuration
//! example parses with the parser that reads it, every `procurize` command line parses with the
//! command line's own definition, every YAML example passes the schema checks `.ci/run` uses,
//! and no link points at a page or section that does not exist.
//!
//! A TOML or YAML block says what it is with a comment on the line before its fence:
//! `<!-- check: policy -->`, `notify`, `server`, `server-part` (a few tables of a service
//! configuration), `github-workflow` or `gitlab-ci`.

mod common;

#[allow(dead_code, unreachable_pub, clippy::all)]
#[path = "../crates/cli/src/args.rs"]
mod args;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use clap::FromArgMatches as _;

/// The repository's root.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// One Markdown page, by its path from the repository's root.
struct Page {
    path: String,
    text: String,
}

/// The README and every page of the book.
fn pages() -> Vec<Page> {
    let mut paths = vec!["README.md".to_owned()];
    let mut book: Vec<String> = std::fs::read_dir(root().join("docs"))
        .expect("docs/")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".md"))
        .map(|name| format!("docs/{name}"))
        .collect();
    book.sort();
    paths.extend(book);
    paths
        .into_iter()
        .map(|path| Page {
            text: std::fs::read_to_string(root().join(&path))
                .unwrap_or_else(|e| panic!("{path}: {e}")),
            path,
        })
        .collect()
}

/// A fenced code block: its language, the `check:` marker before it, its text and line.
struct Block {
    language: String,
    check: Option<String>,
    body: String,
    line: usize,
}

/// The fenced blocks of a page, and its text outside them (blocks blanked, lines kept).
fn split(text: &str) -> (Vec<Block>, String) {
    let mut blocks = Vec::new();
    let mut prose = String::new();
    let mut open: Option<Block> = None;
    let mut previous = "";
    for (number, line) in text.lines().enumerate() {
        match (&mut open, line.trim_start().strip_prefix("```")) {
            (None, Some(info)) => {
                let check = previous
                    .trim()
                    .strip_prefix("<!-- check:")
                    .and_then(|rest| rest.strip_suffix("-->"))
                    .map(|kind| kind.trim().to_owned());
                open = Some(Block {
                    language: info.trim().to_owned(),
                    check,
                    body: String::new(),
                    line: number + 1,
                });
            }
            (Some(_), Some(_)) => blocks.extend(open.take()),
            (Some(block), None) => {
                block.body.push_str(line);
                block.body.push('\n');
            }
            (None, None) => prose.push_str(line),
        }
        prose.push('\n');
        if !line.trim().is_empty() {
            previous = line;
        }
    }
    assert!(open.is_none(), "a fenced block is never closed");
    (blocks, prose)
}

/// Every block of every page, with the page it is on.
fn blocks() -> Vec<(String, Block)> {
    pages()
        .into_iter()
        .flat_map(|page| {
            let (blocks, _) = split(&page.text);
            blocks.into_iter().map(move |b| (page.path.clone(), b))
        })
        .collect()
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("dir");
    }
    std::fs::write(&path, text).expect("write");
    path
}

/// The tables a `server-part` example is completed with: a minimal valid configuration, less
/// the tables the example itself gives.
const SERVER_BASE: &[(&str, &str)] = &[
    (
        "[api]",
        "organizations = [\"00000000-0000-0000-0000-000000000001\"]\n",
    ),
    ("[[webhook.secret]]", "env = \"PROCURIZE_WEBHOOK_SECRET\"\n"),
    ("[store]", "type = \"sqlite\"\npath = \"procurize.db\"\n"),
];

/// A `server-part` example completed into a whole configuration.
fn complete_server(part: &str) -> String {
    let given: BTreeSet<&str> = part
        .lines()
        .map(str::trim)
        .filter(|line| line.starts_with('['))
        .map(|line| line.split('#').next().unwrap_or(line).trim())
        .collect();
    let mut text = String::new();
    for (header, body) in SERVER_BASE {
        if !given.contains(header) {
            text.push_str(&format!("{header}\n{body}\n"));
        }
    }
    text.push_str(part);
    text
}

/// Parses a TOML example with the parser its marker names; the error names page and line.
fn check_toml(page: &str, block: &Block, dir: &Path) {
    let place = format!("{page}:{}", block.line);
    let kind = block.check.as_deref().unwrap_or_else(|| {
        panic!("{place}: a TOML block needs <!-- check: policy|notify|server|server-part -->")
    });
    match kind {
        "policy" => {
            procurize_gate::Policy::from_toml(&block.body, &place)
                .unwrap_or_else(|e| panic!("{place}: {e}"));
        }
        "notify" => {
            let path = write(dir, "notify.toml", &block.body);
            procurize_notify::Config::from_file(&path).unwrap_or_else(|e| panic!("{place}: {e}"));
        }
        "server" | "server-part" => {
            let text = if kind == "server" {
                block.body.clone()
            } else {
                complete_server(&block.body)
            };
            procurize_server::Config::from_toml(&text, &place, Some(dir))
                .unwrap_or_else(|e| panic!("{place}: {e}\n{text}"));
        }
        other => panic!("{place}: unknown check `{other}`"),
    }
}

/// Runs the schema checks on a YAML example, as `.ci/run` runs them on the plugins.
fn check_yaml(page: &str, block: &Block, dir: &Path, index: usize) {
    let place = format!("{page}:{}", block.line);
    match block.check.as_deref() {
        Some("github-workflow") => {
            let path = write(
                dir,
                &format!(".github/workflows/example-{index}.yml"),
                &block.body,
            );
            common::check(
                "check-jsonschema",
                &["--builtin-schema", "vendor.github-workflows"],
                &path,
            );
            common::check("actionlint", &[], &path);
        }
        Some("gitlab-ci") => {
            let path = write(dir, &format!("gitlab-{index}.yml"), &block.body);
            common::check(
                "check-jsonschema",
                &["--builtin-schema", "vendor.gitlab-ci"],
                &path,
            );
        }
        _ => panic!("{place}: a YAML block needs <!-- check: github-workflow|gitlab-ci -->"),
    }
}

#[test]
fn every_configuration_example_parses_and_every_yaml_example_validates() {
    let dir = tempfile::tempdir().expect("dir");
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for (index, (page, block)) in blocks().into_iter().enumerate() {
        match block.language.as_str() {
            "toml" => check_toml(&page, &block, dir.path()),
            "yaml" => check_yaml(&page, &block, dir.path(), index),
            // Compiled as doctests of procurize-core (its lib.rs includes the page).
            "rust" => assert!(
                include_str!("../crates/core/src/lib.rs")
                    .contains(&format!("include_str!(\"../../../{page}\")")),
                "{page}:{}: a Rust example on a page procurize-core does not compile",
                block.line
            ),
            // A JSON body the notifier sends; its shape is compared with the real one by
            // crates/notify/tests/webhook.rs.
            "json" => {
                assert_eq!(
                    block.check.as_deref(),
                    Some("webhook-body"),
                    "{page}:{}: a JSON block needs <!-- check: webhook-body -->",
                    block.line
                );
                serde_json::from_str::<serde_json::Value>(&block.body)
                    .unwrap_or_else(|e| panic!("{page}:{}: {e}", block.line));
            }
            "sh" | "text" => {}
            other => panic!(
                "{page}:{}: a block in `{other}`: give it a language these checks know",
                block.line
            ),
        }
        *seen
            .entry(block.check.unwrap_or(block.language))
            .or_default() += 1;
    }
    // The checks ran on what the pages hold (a marker mistyped would show here).
    for kind in [
        "policy",
        "notify",
        "server",
        "server-part",
        "github-workflow",
        "gitlab-ci",
        "rust",
    ] {
        assert!(seen.contains_key(kind), "no `{kind}` example: {seen:?}");
    }
}

/// Splits a shell command line into words: quotes, backslashes and comments as the shell reads
/// them; it stops at a pipe, redirection or list operator.
fn words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                w.extend(chars.by_ref().take_while(|&c| c != '\''));
            }
            '"' => {
                let w = word.get_or_insert_with(String::new);
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => w.extend(chars.next()),
                        c => w.push(c),
                    }
                }
            }
            '\\' => word.get_or_insert_with(String::new).extend(chars.next()),
            '#' if word.is_none() => break,
            '|' | '>' | '<' | ';' | '&' if word.is_none() => break,
            c if c.is_whitespace() => words.extend(word.take()),
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    words
}

/// What `<ID>` stands for in a command example.
const REPORT_ID: &str = "00000000-0000-0000-0000-000000000100";

/// A sample value for a shell variable.
fn sample(word: &str) -> String {
    let mut out = word.to_owned();
    while let Some(start) = out.find('$') {
        let rest = &out[start + 1..];
        let name_len = rest
            .trim_start_matches('{')
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.trim_start_matches('{').len());
        let braces = usize::from(rest.starts_with('{')) * 2;
        out.replace_range(start..start + 1 + name_len + braces, "1.2.0");
    }
    out
}

/// The `procurize` command lines of a shell block, continuation lines joined.
fn command_lines(body: &str) -> Vec<String> {
    let joined = body.replace("\\\n", " ");
    joined
        .lines()
        .map(str::trim)
        .filter_map(|line| {
            line.strip_prefix("cargo run -q -p procurize-cli -- ")
                .map(|rest| format!("procurize {rest}"))
                .or_else(|| line.starts_with("procurize ").then(|| line.to_owned()))
        })
        .collect()
}

#[test]
fn every_command_example_parses() {
    let mut checked = 0;
    for (page, block) in blocks() {
        if block.language != "sh" {
            continue;
        }
        for line in command_lines(&block.body) {
            // A placeholder before the line is split (its `<` is not a redirection).
            let line = line.replace("<ID>", REPORT_ID);
            let argv: Vec<String> = words(&line).iter().map(|w| sample(w)).collect();
            let parsed = args::command()
                .try_get_matches_from(&argv)
                .and_then(|matches| args::Cli::from_arg_matches(&matches));
            if let Err(e) = parsed {
                panic!("{page}:{}: `{line}` does not parse:\n{e}", block.line);
            }
            checked += 1;
        }
    }
    assert!(checked >= 35, "only {checked} command lines found");
}

#[test]
fn the_shell_splitter_reads_quotes_comments_and_operators() {
    assert_eq!(
        words(r#"procurize gate --project "Payments API" --x 'a b' c\ d # no"#),
        [
            "procurize",
            "gate",
            "--project",
            "Payments API",
            "--x",
            "a b",
            "c d"
        ]
    );
    assert_eq!(words("procurize a || true"), ["procurize", "a"]);
    assert_eq!(words("procurize a > out.json"), ["procurize", "a"]);
    assert_eq!(sample("v${NEXT}-$CI_COMMIT_TAG"), "v1.2.0-1.2.0");
    assert_eq!(sample("$CI_COMMIT_TAG"), "1.2.0");
    assert_eq!(
        command_lines("cargo run -q -p procurize-cli -- demo\nprocurize a \\\n  --b c\nls\n"),
        ["procurize demo", "procurize a    --b c"]
    );
}

/// The anchor mdBook (and GitHub) gives a heading: lower case, spaces to `-`, punctuation gone.
fn anchor(heading: &str) -> String {
    heading
        .chars()
        .filter_map(|c| {
            if c.is_alphanumeric() || c == '-' || c == '_' {
                Some(c.to_lowercase().next().unwrap_or(c))
            } else if c.is_whitespace() {
                Some('-')
            } else {
                None
            }
        })
        .collect()
}

/// The anchors of a page's headings.
fn anchors(text: &str) -> BTreeSet<String> {
    let (_, prose) = split(text);
    prose
        .lines()
        .filter(|line| line.starts_with('#'))
        .map(|line| anchor(line.trim_start_matches('#').trim()))
        .collect()
}

/// The targets of a text's Markdown links, outside code.
fn links(prose: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (number, line) in prose.lines().enumerate() {
        // Inline code is not a link.
        let line: String = line
            .split('`')
            .enumerate()
            .filter(|(i, _)| i % 2 == 0)
            .map(|(_, part)| part)
            .collect::<Vec<_>>()
            .join(" ");
        let mut rest = line.as_str();
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let end = after.find(')').unwrap_or(after.len());
            found.push((number + 1, after[..end].to_owned()));
            rest = &after[end..];
        }
    }
    found
}

#[test]
fn no_page_links_to_a_page_or_section_that_does_not_exist() {
    let pages = pages();
    let known: BTreeMap<&str, BTreeSet<String>> = pages
        .iter()
        .map(|p| (p.path.as_str(), anchors(&p.text)))
        .collect();
    let mut checked = 0;
    for page in &pages {
        let (_, prose) = split(&page.text);
        let folder = Path::new(&page.path).parent().unwrap_or(Path::new(""));
        for (line, target) in links(&prose) {
            if target.starts_with("https://") || target.starts_with("http://") {
                continue;
            }
            let place = format!("{}:{line}: `{target}`", page.path);
            let (file, section) = target.split_once('#').unwrap_or((&target, ""));
            let path = if file.is_empty() {
                page.path.clone()
            } else {
                normalize(&folder.join(file))
            };
            assert!(root().join(&path).exists(), "{place}: no such file");
            if page.path.starts_with("docs/") {
                assert!(
                    path.starts_with("docs/"),
                    "{place}: the book links outside docs/, which mdBook does not publish"
                );
            }
            if !section.is_empty() {
                let anchors = known
                    .get(path.as_str())
                    .unwrap_or_else(|| panic!("{place}: a section of a file that is not a page"));
                assert!(
                    anchors.contains(section),
                    "{place}: no such section; {path} has {anchors:?}"
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 30, "only {checked} links found");
}

/// `a/b/../c.md` → `a/c.md`, as a path from the repository's root.
fn normalize(path: &Path) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.to_str().expect("UTF-8 path").split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            part => parts.push(part),
        }
    }
    parts.join("/")
}

#[test]
fn the_summary_lists_every_page_of_the_book() {
    let summary = std::fs::read_to_string(root().join("docs/SUMMARY.md")).expect("SUMMARY.md");
    let listed: BTreeSet<String> = links(&summary)
        .into_iter()
        .map(|(_, target)| format!("docs/{target}"))
        .collect();
    let pages: BTreeSet<String> = pages()
        .into_iter()
        .map(|p| p.path)
        .filter(|p| p.starts_with("docs/") && p != "docs/SUMMARY.md")
        .collect();
    assert_eq!(listed, pages);
}

/// Every environment variable a flag reads is in the reference's table.
#[test]
fn the_reference_lists_every_environment_variable() {
    let page = std::fs::read_to_string(root().join("docs/configuration.md")).expect("page");
    let table = page
        .split("<!-- environment -->")
        .nth(1)
        .and_then(|rest| rest.split("<!-- /environment -->").next())
        .expect("docs/configuration.md marks its table of environment variables");
    let mut pending = vec![args::command()];
    let mut seen = 0;
    while let Some(command) = pending.pop() {
        for arg in command.get_arguments() {
            if let Some(name) = arg.get_env() {
                let name = name.to_string_lossy();
                assert!(
                    table.contains(&format!("`{name}`")),
                    "`{name}` (--{}) is not in the reference's table",
                    arg.get_id()
                );
                seen += 1;
            }
        }
        pending.extend(command.get_subcommands().cloned());
    }
    assert!(seen >= 5, "{seen}");
}
