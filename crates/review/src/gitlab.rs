//! GitLab: notes on the merge request (`GET/POST /projects/{id}/merge_requests/{iid}/notes`,
//! `PUT …/notes/{note_id}`), pages followed through the `X-Next-Page` header.

use serde::Deserialize;
use url::Url;

use crate::http::{Call, Http, api_url, join};
use crate::{Comment, Detected, Posted, ReviewError, Target, Token, marker, required};

const SERVICE: &str = "GitLab";
/// The most pages of notes searched (100 per page).
const MAX_PAGES: u32 = 100;

/// A merge request, from a merge request pipeline's environment.
#[derive(Debug, Clone)]
pub struct MergeRequest {
    api: Url,
    project: String,
    iid: u64,
    /// `CI_PROJECT_URL`, to link to the note.
    web: Option<String>,
    token: Token,
}

impl MergeRequest {
    /// `CI_API_V4_URL`, `CI_PROJECT_ID`, `CI_MERGE_REQUEST_IID`, and the token from
    /// `PROCURIZE_GITLAB_TOKEN` (a project access token: `CI_JOB_TOKEN` cannot write notes).
    pub(crate) fn from_env(var: &impl Fn(&str) -> Option<String>) -> Result<Detected, ReviewError> {
        let Some(iid) = var("CI_MERGE_REQUEST_IID").filter(|v| !v.is_empty()) else {
            return Ok(Detected::NotAReview(
                "CI_MERGE_REQUEST_IID is not set: this is not a merge request pipeline".into(),
            ));
        };
        let iid = iid.parse().map_err(|_| {
            ReviewError::Config(format!("CI_MERGE_REQUEST_IID `{iid}` is not a number"))
        })?;
        let project = required(var, "CI_PROJECT_ID")?;
        if !project.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ReviewError::Config(format!(
                "CI_PROJECT_ID `{project}` is not a number"
            )));
        }
        Ok(Detected::Target(Target::GitLab(MergeRequest {
            api: api_url(var, "CI_API_V4_URL", None)?,
            project,
            iid,
            web: var("CI_PROJECT_URL").filter(|v| !v.is_empty()),
            token: Token::from_env(
                var,
                "PROCURIZE_GITLAB_TOKEN",
                "set it to a project access token with the `api` scope (CI_JOB_TOKEN cannot write notes)",
            )?,
        })))
    }

    pub(crate) fn describe(&self) -> String {
        format!("merge request !{} of project {}", self.iid, self.project)
    }

    fn notes(&self) -> String {
        format!(
            "projects/{}/merge_requests/{}/notes",
            self.project, self.iid
        )
    }

    fn call<'a>(&self, method: &'static str, url: &'a Url) -> Call<'a> {
        Call {
            service: SERVICE,
            method,
            url,
        }
    }

    fn request(&self, builder: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        builder.header("private-token", self.token.expose())
    }

    fn link(&self, note: u64) -> Option<String> {
        self.web.as_ref().map(|web| {
            format!(
                "{}/-/merge_requests/{}#note_{note}",
                web.trim_end_matches('/'),
                self.iid
            )
        })
    }
}

#[derive(Deserialize)]
struct Note {
    id: u64,
    #[serde(default)]
    body: String,
    author: Option<Author>,
    #[serde(default)]
    system: bool,
}

#[derive(Deserialize)]
struct Author {
    id: u64,
}

pub(crate) async fn upsert(
    http: &Http,
    mr: &MergeRequest,
    comment: &Comment<'_>,
) -> Result<Posted, ReviewError> {
    let me = identity(http, mr).await?;
    let earlier = find(http, mr, me, comment).await?;
    let body = marker::body(comment, earlier.map(|(_, status)| status));
    let (method, url) = match earlier {
        Some((id, _)) => ("PUT", join(&mr.api, &format!("{}/{id}", mr.notes()))?),
        None => ("POST", join(&mr.api, &mr.notes())?),
    };
    let call = mr.call(method, &url);
    let answer = http.write_body(call, |b| mr.request(b), &body).await?;
    let written: Note = call.parse(&answer)?;
    Ok(Posted::new(earlier.is_some(), mr.link(written.id)))
}

/// The user the token writes as (`GET /user`; a project access token is its own bot user).
async fn identity(http: &Http, mr: &MergeRequest) -> Result<u64, ReviewError> {
    let url = join(&mr.api, "user")?;
    let call = mr.call("GET", &url);
    let answer = http.send(call, |c| mr.request(c.get(url.clone()))).await?;
    Ok(call.parse::<Author>(&answer)?.id)
}

/// This scope's note written by `me` (the oldest, when there are several) and the status it
/// recorded; every page is searched, oldest first.
async fn find(
    http: &Http,
    mr: &MergeRequest,
    me: u64,
    comment: &Comment<'_>,
) -> Result<Option<(u64, procurize_gate::Status)>, ReviewError> {
    let mut page = 1;
    loop {
        let url = join(
            &mr.api,
            &format!(
                "{}?sort=asc&order_by=created_at&per_page=100&page={page}",
                mr.notes()
            ),
        )?;
        let call = mr.call("GET", &url);
        if page > MAX_PAGES {
            return Err(call.unexpected(format!("more than {MAX_PAGES} pages of notes")));
        }
        let answer = http.send(call, |c| mr.request(c.get(url.clone()))).await?;
        let notes: Vec<Note> = call.parse(&answer)?;
        for note in notes.iter().filter(|n| !n.system) {
            let mine = note.author.as_ref().is_some_and(|a| a.id == me);
            if let (true, Some(status)) = (mine, marker::ours(&note.body, comment.scope)) {
                return Ok(Some((note.id, status)));
            }
        }
        let next = answer
            .headers
            .get("x-next-page")
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty());
        match next {
            None => return Ok(None),
            Some(text) => {
                let next: u32 = text.parse().map_err(|_| {
                    call.unexpected(format!("X-Next-Page `{text}` is not a number"))
                })?;
                if next <= page {
                    return Err(
                        call.unexpected(format!("X-Next-Page {next} does not follow page {page}"))
                    );
                }
                page = next;
            }
        }
    }
}
