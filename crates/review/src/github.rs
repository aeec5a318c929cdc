//! GitHub: issue comments on the pull request (`GET/POST /repos/{repo}/issues/{n}/comments`,
//! `PATCH /repos/{repo}/issues/comments/{id}`), pages followed through the `Link` header.

use serde::Deserialize;
use url::Url;

use crate::http::{Call, Http, api_url, join, same_origin};
use crate::{Comment, Detected, Posted, ReviewError, Target, Token, marker, required};

const SERVICE: &str = "GitHub";
/// Who `GITHUB_TOKEN` comments as; that token cannot read `GET /user`.
const ACTIONS_BOT: &str = "github-actions[bot]";
/// The most pages of comments searched (100 per page).
const MAX_PAGES: usize = 100;

/// A pull request, from the Actions environment.
#[derive(Debug, Clone)]
pub struct PullRequest {
    api: Url,
    repository: String,
    number: u64,
    token: Token,
}

impl PullRequest {
    /// `GITHUB_API_URL` (default `https://api.github.com`), `GITHUB_REPOSITORY`, the number from
    /// the event at `GITHUB_EVENT_PATH`, the token from `GITHUB_TOKEN`.
    pub(crate) fn from_env(var: &impl Fn(&str) -> Option<String>) -> Result<Detected, ReviewError> {
        let Some(path) = var("GITHUB_EVENT_PATH").filter(|p| !p.is_empty()) else {
            return Ok(Detected::NotAReview("GITHUB_EVENT_PATH is not set".into()));
        };
        let Some(number) = pull_request_number(&path)? else {
            let event = var("GITHUB_EVENT_NAME").unwrap_or_else(|| "this".into());
            return Ok(Detected::NotAReview(format!(
                "the {event} event is not for a pull request"
            )));
        };
        let repository = required(var, "GITHUB_REPOSITORY")?;
        if repository.split('/').count() != 2 || repository.contains(['?', '#', ' ']) {
            return Err(ReviewError::Config(format!(
                "GITHUB_REPOSITORY `{repository}` is not owner/name"
            )));
        }
        Ok(Detected::Target(Target::GitHub(PullRequest {
            api: api_url(var, "GITHUB_API_URL", Some("https://api.github.com"))?,
            repository,
            number,
            token: Token::from_env(
                var,
                "GITHUB_TOKEN",
                "give the step `env: GITHUB_TOKEN: ${{ github.token }}` and the job `permissions: pull-requests: write`",
            )?,
        })))
    }

    pub(crate) fn describe(&self) -> String {
        format!("pull request {}#{}", self.repository, self.number)
    }

    fn call<'a>(&self, method: &'static str, url: &'a Url) -> Call<'a> {
        Call {
            service: SERVICE,
            method,
            url,
        }
    }

    fn request(&self, builder: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        builder
            .bearer_auth(self.token.expose())
            .header("accept", "application/vnd.github+json")
            .header("x-github-api-version", "2022-11-28")
    }
}

/// The pull request an event is for: `pull_request.number`, or `issue.number` when the issue is
/// a pull request (`issue_comment`); `None` for any other event.
fn pull_request_number(path: &str) -> Result<Option<u64>, ReviewError> {
    let event = |reason: String| ReviewError::Event {
        path: path.to_owned(),
        reason,
    };
    let text = std::fs::read(path).map_err(|e| event(e.to_string()))?;
    let value: serde_json::Value =
        serde_json::from_slice(&text).map_err(|e| event(format!("not JSON: {e}")))?;
    let number = |v: &serde_json::Value| {
        v.as_u64()
            .ok_or_else(|| event(format!("the pull request number `{v}` is not a number")))
    };
    if let Some(pr) = value.get("pull_request").filter(|v| v.is_object()) {
        return number(&pr["number"]).map(Some);
    }
    match value.get("issue") {
        Some(issue) if issue.get("pull_request").is_some() => number(&issue["number"]).map(Some),
        _ => Ok(None),
    }
}

#[derive(Deserialize)]
struct IssueComment {
    id: u64,
    #[serde(default)]
    body: Option<String>,
    user: Option<User>,
    #[serde(default)]
    html_url: Option<String>,
}

#[derive(Deserialize)]
struct User {
    login: String,
}

pub(crate) async fn upsert(
    http: &Http,
    pr: &PullRequest,
    comment: &Comment<'_>,
) -> Result<Posted, ReviewError> {
    let me = identity(http, pr).await?;
    let earlier = find(http, pr, &me, comment).await?;
    let body = marker::body(comment, earlier.map(|(_, status)| status));
    let (method, url) = match &earlier {
        Some((id, _)) => (
            "PATCH",
            join(
                &pr.api,
                &format!("repos/{}/issues/comments/{id}", pr.repository),
            )?,
        ),
        None => (
            "POST",
            join(
                &pr.api,
                &format!("repos/{}/issues/{}/comments", pr.repository, pr.number),
            )?,
        ),
    };
    let call = pr.call(method, &url);
    let answer = http.write_body(call, |b| pr.request(b), &body).await?;
    let written: IssueComment = call.parse(&answer)?;
    Ok(Posted::new(earlier.is_some(), written.html_url))
}

/// The login comments are written as: `GET /user`, or the Actions bot when the token cannot
/// read it (the `GITHUB_TOKEN` of a workflow answers 403).
async fn identity(http: &Http, pr: &PullRequest) -> Result<String, ReviewError> {
    let url = join(&pr.api, "user")?;
    let call = pr.call("GET", &url);
    match http.send(call, |c| pr.request(c.get(url.clone()))).await {
        Ok(answer) => Ok(call.parse::<User>(&answer)?.login),
        Err(ReviewError::Http {
            status: 401 | 403 | 404,
            ..
        }) => Ok(ACTIONS_BOT.to_owned()),
        Err(other) => Err(other),
    }
}

/// This scope's comment written by `me` (the oldest, when there are several), and the status it
/// recorded; every page is searched.
async fn find(
    http: &Http,
    pr: &PullRequest,
    me: &str,
    comment: &Comment<'_>,
) -> Result<Option<(u64, procurize_gate::Status)>, ReviewError> {
    let mut next = Some(join(
        &pr.api,
        &format!(
            "repos/{}/issues/{}/comments?per_page=100",
            pr.repository, pr.number
        ),
    )?);
    let mut pages = 0;
    while let Some(url) = next.take() {
        pages += 1;
        if pages > MAX_PAGES {
            return Err(pr
                .call("GET", &url)
                .unexpected(format!("more than {MAX_PAGES} pages of comments")));
        }
        let call = pr.call("GET", &url);
        let answer = http.send(call, |c| pr.request(c.get(url.clone()))).await?;
        let page: Vec<IssueComment> = call.parse(&answer)?;
        for c in page {
            let mine = c.user.as_ref().is_some_and(|u| u.login == me);
            let status = marker::ours(c.body.as_deref().unwrap_or_default(), comment.scope);
            if let (true, Some(status)) = (mine, status) {
                return Ok(Some((c.id, status)));
            }
        }
        next = next_link(&answer.headers)
            .map(|link| {
                let link = Url::parse(&link).map_err(|e| call.unexpected(format!("Link: {e}")))?;
                if same_origin(&pr.api, &link) {
                    Ok(link)
                } else {
                    Err(call.unexpected(format!(
                        "the next page `{link}` is not on {}; not sending the token there",
                        pr.api.origin().ascii_serialization()
                    )))
                }
            })
            .transpose()?;
    }
    Ok(None)
}

/// The `rel="next"` URL of a `Link` header.
fn next_link(headers: &reqwest::header::HeaderMap) -> Option<String> {
    let link = headers.get("link")?.to_str().ok()?;
    link.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        let is_next = params
            .split(';')
            .any(|p| matches!(p.trim(), "rel=\"next\"" | "rel=next"));
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        is_next.then(|| target.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_link_is_found_among_others() {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            "link",
            "<https://api.github.com/x?page=1>; rel=\"prev\", <https://api.github.com/x?page=3>; rel=\"next\", <https://api.github.com/x?page=9>; rel=\"last\""
                .parse()
                .expect("header"),
        );
        assert_eq!(
            next_link(&headers).as_deref(),
            Some("https://api.github.com/x?page=3")
        );
        headers.insert(
            "link",
            "<https://api.github.com/x?page=1>; rel=\"prev\""
                .parse()
                .expect("header"),
        );
        assert_eq!(next_link(&headers), None);
    }

    #[test]
    fn only_pull_request_events_have_a_number() {
        let dir = tempfile::tempdir().expect("dir");
        let dir = dir.path();
        let write = |name: &str, text: &str| {
            let path = dir.join(name);
            std::fs::write(&path, text).expect("write");
            path.to_string_lossy().into_owned()
        };
        let pr = write("pr.json", r#"{"pull_request":{"number":12}}"#);
        assert_eq!(pull_request_number(&pr).expect("ok"), Some(12));
        let comment = write("ic.json", r#"{"issue":{"number":7,"pull_request":{}}}"#);
        assert_eq!(pull_request_number(&comment).expect("ok"), Some(7));
        let push = write("push.json", r#"{"ref":"refs/heads/main"}"#);
        assert_eq!(pull_request_number(&push).expect("ok"), None);
        let bad = write("bad.json", "not json");
        assert!(
            pull_request_number(&bad)
                .expect_err("bad")
                .to_string()
                .contains("not JSON")
        );
    }
}
