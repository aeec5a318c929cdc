//! `gate --pr-comment`: the verdict as one comment on the pull or merge request. Whatever
//! happens here is a notice or a warning; the gate's exit status is decided before and elsewhere.

use std::time::Duration;

use procurize_gate::render::github::escape_data;
use procurize_review::{Comment, Detected, Posted, Target, post};

/// Posts `comment` where the CI environment says, printing one line of what happened.
pub(crate) async fn comment(comment: &Comment<'_>, timeout: Duration, in_github: bool) {
    let target = match Target::from_env(|name| std::env::var(name).ok()) {
        Ok(Detected::Target(target)) => target,
        Ok(Detected::NotAReview(why)) => {
            eprintln!("notice: no pull request comment: {why}");
            return;
        }
        Err(e) => {
            return warn(
                in_github,
                &format!("cannot comment on the pull request: {e}"),
            );
        }
    };
    let at = |url: Option<String>| url.map(|u| format!(" ({u})")).unwrap_or_default();
    match post(&target, comment, timeout).await {
        Ok(Posted::Created { url }) => eprintln!("Commented on {}{}", target.describe(), at(url)),
        Ok(Posted::Updated { url }) => {
            eprintln!("Updated the comment on {}{}", target.describe(), at(url))
        }
        Err(e) => warn(
            in_github,
            &format!(
                "cannot comment on {}: {e}{}",
                target.describe(),
                if e.is_retryable() {
                    " (temporary; the next run will try again)"
                } else {
                    ""
                }
            ),
        ),
    }
}

/// A warning: an annotation inside GitHub Actions, a line on stderr elsewhere.
fn warn(in_github: bool, message: &str) {
    if in_github {
        println!(
            "::warning title=Procurize pull request comment::{}",
            escape_data(message)
        );
    } else {
        eprintln!("warning: {message}");
    }
}
