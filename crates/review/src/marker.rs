//! The hidden marker that makes a comment findable again: `<!-- procurize-gate scope=… status=…
//! -->` on the comment's first line.

use procurize_gate::Status;
use sha2::{Digest, Sha256};

use crate::Comment;

const PREFIX: &str = "<!-- procurize-gate scope=";

/// Which gate a comment belongs to: the projects it was scoped to (`--project`), or every
/// project. Two gate jobs of one pipeline for different projects keep two comments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    key: String,
}

impl Scope {
    /// The scope of a gate over `projects`, in any order; empty for every project.
    pub fn projects(projects: &[String]) -> Self {
        let mut names: Vec<&str> = projects.iter().map(String::as_str).collect();
        names.sort_unstable();
        names.dedup();
        // Hex of a digest: project names may hold `-->` or anything else an HTML comment cannot.
        let digest = Sha256::digest(names.join("\n").as_bytes());
        Scope {
            key: hex::encode(&digest[..8]),
        }
    }

    /// The key in the marker: 16 hex digits.
    pub fn key(&self) -> &str {
        &self.key
    }
}

/// The status an earlier run recorded, when `body` is a comment of `scope`.
pub(crate) fn ours(body: &str, scope: &Scope) -> Option<Status> {
    let first = body.lines().next()?;
    let rest = first.strip_prefix(PREFIX)?.strip_prefix(scope.key())?;
    let status = rest.strip_prefix(" status=")?.strip_suffix(" -->")?;
    match status {
        "pass" => Some(Status::Pass),
        "warn" => Some(Status::Warn),
        "fail" => Some(Status::Fail),
        _ => None,
    }
}

/// The comment's body: the marker, a line when a failed gate now passes, then the Markdown.
pub(crate) fn body(comment: &Comment<'_>, previous: Option<Status>) -> String {
    let mut out = format!(
        "{PREFIX}{} status={} -->\n",
        comment.scope.key(),
        comment.status
    );
    if previous == Some(Status::Fail) && comment.status != Status::Fail {
        out.push_str("> [!TIP]\n> This gate failed on an earlier run and passes now.\n\n");
    }
    out.push_str(comment.markdown);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_is_found_again_only_for_its_own_scope() {
        let one = Scope::projects(&["Payments API".into()]);
        let every = Scope::projects(&[]);
        assert_ne!(one, every);
        assert_eq!(
            Scope::projects(&["b".into(), "a".into(), "a".into()]),
            Scope::projects(&["a".into(), "b".into()])
        );
        let comment = Comment {
            scope: &one,
            status: Status::Fail,
            markdown: "### gate\n",
        };
        let text = body(&comment, None);
        assert_eq!(ours(&text, &one), Some(Status::Fail));
        assert_eq!(ours(&text, &every), None);
        assert_eq!(ours("a comment quoting <!-- procurize-gate", &one), None);
        assert!(!text.contains("passes now"));
        let fixed = Comment {
            status: Status::Pass,
            ..comment
        };
        let text = body(&fixed, Some(Status::Fail));
        assert!(
            text.contains("failed on an earlier run and passes now"),
            "{text}"
        );
        assert_eq!(ours(&text, &one), Some(Status::Pass));
        assert!(!body(&fixed, Some(Status::Pass)).contains("passes now"));
    }
}
