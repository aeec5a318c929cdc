//! The HTTP client for the platform's two endpoints.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{CONTENT_LENGTH, LINK, RETRY_AFTER};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use url::Url;
use uuid::Uuid;

use crate::error::{TransportKind, api_error, decode_json, error_chain};
use crate::retry::parse_retry_after;
use crate::tls::ExtraRoots;
use crate::{Error, ReportList, RetryPolicy, VersionFilter};

/// The platform's production API.
pub const DEFAULT_BASE_URL: &str = "https://api.procurize.com";
/// The `User-Agent` every request carries.
pub const USER_AGENT: &str = concat!("procurize/", env!("CARGO_PKG_VERSION"));
/// The list endpoint's path.
pub const LIST_PATH: &str = "/security/report/list";
/// The download endpoint's path.
pub const FILES_PATH: &str = "/security/report/files";

/// The most bytes of a list response or error body that are read into memory.
const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;
/// The most bytes of an error body that are kept.
const MAX_ERROR_BYTES: usize = 64 * 1024;
/// Chunks a download may have received ahead of its hash. A chunk can be half a MiB, and the
/// queue counts in peak memory: 32 took the 1 GiB download from 15 to 30 MiB, 4 costs nothing.
const HASH_QUEUE: usize = 4;

/// Builds a [`Client`]; see [`Client::builder`].
#[derive(Debug, Clone)]
#[must_use]
pub struct ClientBuilder {
    base_url: String,
    organization: Option<String>,
    timeout: Duration,
    connect_timeout: Duration,
    ca_certificates: ExtraRoots,
    /// The first bad CA bundle, reported by `build`.
    ca_error: Option<String>,
    retry: RetryPolicy,
    max_pages: usize,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        Self {
            base_url: DEFAULT_BASE_URL.to_owned(),
            organization: None,
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            ca_certificates: ExtraRoots::none(),
            ca_error: None,
            retry: RetryPolicy::default(),
            max_pages: 100,
        }
    }
}

impl ClientBuilder {
    /// The API's base URL (default [`DEFAULT_BASE_URL`]); `http://` is allowed for the simulator.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = url.into();
        self
    }

    /// The organization ID, a UUID (required).
    pub fn organization(mut self, id: impl Into<String>) -> Self {
        self.organization = Some(id.into());
        self
    }

    /// How long to wait for a response, and at most between two chunks of a download
    /// (default 30 s). A download as a whole may take longer.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How long to wait for a connection (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Trusts the certificates of a PEM bundle in addition to the system's roots, e.g. a
    /// corporate proxy's CA.
    /// A bundle that is not valid PEM makes [`ClientBuilder::build`] fail, naming the problem.
    pub fn add_ca_certificate_pem(mut self, pem: impl AsRef<[u8]>) -> Self {
        if let Err(Error::Config(reason)) = self.ca_certificates.add_pem(pem.as_ref()) {
            self.ca_error.get_or_insert(reason);
        }
        self
    }

    /// The retry policy (default [`RetryPolicy::default`]).
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// The most pages a list request follows (default 100).
    pub fn max_pages(mut self, pages: usize) -> Self {
        self.max_pages = pages.max(1);
        self
    }

    /// Validates the settings and builds the client. Proxies come from the standard environment
    /// variables (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, `NO_PROXY`).
    pub fn build(self) -> Result<Client, Error> {
        let organization = self
            .organization
            .as_deref()
            .ok_or_else(|| Error::Config("an organization ID is required".into()))
            .and_then(parse_organization)?;
        let mut base = Url::parse(self.base_url.trim()).map_err(|e| {
            Error::Config(format!("base URL `{}` is not a URL: {e}", self.base_url))
        })?;
        if !matches!(base.scheme(), "http" | "https") || base.host().is_none() {
            return Err(Error::Config(format!(
                "base URL `{}` must be an http:// or https:// URL with a host",
                self.base_url
            )));
        }
        if base.query().is_some() || base.fragment().is_some() {
            return Err(Error::Config(format!(
                "base URL `{}` must not have a query or fragment",
                self.base_url
            )));
        }
        let trimmed = base.path().trim_end_matches('/').to_owned();
        base.set_path(&trimmed);
        if self.retry.max_attempts == 0 {
            return Err(Error::Config("retry attempts must be at least 1".into()));
        }
        if self.timeout.is_zero() || self.connect_timeout.is_zero() {
            return Err(Error::Config("time-outs must be greater than zero".into()));
        }
        if let Some(reason) = self.ca_error {
            return Err(Error::Config(reason));
        }
        let http = crate::tls::reqwest_builder(&self.ca_certificates)?
            .connect_timeout(self.connect_timeout)
            .redirect(reqwest::redirect::Policy::limited(5));
        let http = http
            .build()
            .map_err(|e| Error::Config(format!("cannot set up HTTP: {}", error_chain(&e))))?;
        Ok(Client {
            http,
            base,
            organization,
            timeout: self.timeout,
            retry: self.retry,
            max_pages: self.max_pages,
        })
    }
}

/// Parses an organization ID, with an error that says where to find it.
pub fn parse_organization(id: &str) -> Result<Uuid, Error> {
    Uuid::try_parse(id.trim()).map_err(|_| {
        Error::Config(format!(
            "organization ID `{id}` is not a UUID (find it in the Procurize dashboard's organization settings)"
        ))
    })
}

/// A client of the Procurize SonarQube Report API for one organization.
///
/// Cheap to clone; clones share one connection pool.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: Url,
    organization: Uuid,
    timeout: Duration,
    retry: RetryPolicy,
    max_pages: usize,
}

/// A list request's result with the raw pages, as evidence of exactly what was served.
#[derive(Debug, Clone)]
pub struct Listing {
    /// The reports that match the filter, from every page.
    pub reports: ReportList,
    /// Every response, in order, exactly as received.
    pub pages: Vec<RawPage>,
    /// How many reports the server sent that do not match the filter (and were dropped).
    pub discarded: usize,
}

/// One response exactly as received.
#[derive(Debug, Clone)]
pub struct RawPage {
    /// The URL requested.
    pub url: String,
    /// The HTTP status (200 or 204).
    pub status: u16,
    /// The body's bytes.
    pub body: Vec<u8>,
}

/// A downloaded archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Download {
    /// Where it was written.
    pub path: PathBuf,
    /// The URL it came from.
    pub url: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its SHA-256 digest.
    pub sha256: [u8; 32],
}

/// How far a download has come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Bytes received so far in this attempt.
    pub received: u64,
    /// The announced size, when the server sent one.
    pub total: Option<u64>,
}

/// An attempt's failure and whether to try again.
struct Failure {
    error: Error,
    retry: bool,
    retry_after: Option<Duration>,
}

impl Failure {
    fn fatal(error: Error) -> Self {
        Self {
            error,
            retry: false,
            retry_after: None,
        }
    }

    fn transport(url: &Url, error: reqwest::Error) -> Self {
        let error = transport_error(url, error);
        let retry = matches!(
            &error,
            Error::Transport {
                kind: TransportKind::Connect
                    | TransportKind::Timeout
                    | TransportKind::Body
                    | TransportKind::Other,
                ..
            }
        );
        Self {
            error,
            retry,
            retry_after: None,
        }
    }

    fn timeout(url: &Url, after: Duration) -> Self {
        Self {
            error: Error::Transport {
                kind: TransportKind::Timeout,
                url: url.to_string(),
                detail: format!("no answer within {}", human_duration(after)),
            },
            retry: true,
            retry_after: None,
        }
    }
}

impl Client {
    /// Starts building a client.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// The organization this client asks about.
    pub fn organization(&self) -> Uuid {
        self.organization
    }

    /// The base URL, without a trailing slash.
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    /// The URL of the list request for `filter`.
    pub fn list_url(&self, filter: &VersionFilter) -> Url {
        let mut url = self.endpoint(LIST_PATH);
        {
            let mut query = url.query_pairs_mut();
            query.append_pair("org", &self.organization.to_string());
            for (name, value) in filter.query_pairs() {
                query.append_pair(name, value);
            }
        }
        url
    }

    /// The URL of the download request for `ids`.
    pub fn files_url(&self, ids: &[Uuid]) -> Url {
        let mut url = self.endpoint(FILES_PATH);
        {
            let mut query = url.query_pairs_mut();
            query.append_pair("org", &self.organization.to_string());
            for id in ids {
                query.append_pair("reports", &id.to_string());
            }
        }
        url
    }

    fn endpoint(&self, path: &str) -> Url {
        let mut url = self.base.clone();
        let full = format!("{}{}", self.base.path().trim_end_matches('/'), path);
        url.set_path(&full);
        url
    }

    /// Lists the reports that match `filter`. `204 No Content` is an empty list.
    ///
    /// The answer is filtered again here by the same bounds, so a lax server cannot widen it,
    /// and next-page links or cursors are followed, bounded by [`ClientBuilder::max_pages`].
    pub async fn list_reports(&self, filter: &VersionFilter) -> Result<ReportList, Error> {
        Ok(self.list_reports_detailed(filter).await?.reports)
    }

    /// Like [`Client::list_reports`], also returning every response exactly as received.
    pub async fn list_reports_detailed(&self, filter: &VersionFilter) -> Result<Listing, Error> {
        let mut url = self.list_url(filter);
        let mut seen = HashSet::new();
        let mut reports = ReportList::empty(self.organization);
        let mut pages = Vec::new();
        let mut discarded = 0;
        loop {
            if !seen.insert(url.to_string()) {
                tracing::warn!(%url, "the platform sent a next-page link already followed; stopping");
                break;
            }
            if pages.len() >= self.max_pages {
                return Err(Error::Decode {
                    what: "report list",
                    url: url.to_string(),
                    path: "paging".into(),
                    reason: format!(
                        "more than {} pages; refusing to follow further",
                        self.max_pages
                    ),
                    excerpt: String::new(),
                });
            }
            let (status, body, link_next) = self.fetch_page(&url).await?;
            let next = if status == StatusCode::NO_CONTENT {
                None
            } else {
                let page: ReportList = decode_json(&body, "report list", Some(url.as_str()))?;
                if page.organization_id != self.organization {
                    return Err(Error::OrganizationMismatch {
                        expected: self.organization,
                        got: page.organization_id,
                    });
                }
                for report in page.reports {
                    if filter.matches(&report.project_version) {
                        reports.reports.push(report);
                    } else {
                        discarded += 1;
                    }
                }
                next_page(&url, &body, link_next.as_deref(), &self.base)
            };
            pages.push(RawPage {
                url: url.to_string(),
                status: status.as_u16(),
                body,
            });
            match next {
                Some(next) => url = next,
                None => break,
            }
        }
        if discarded > 0 {
            tracing::warn!(discarded, %filter, "the platform sent reports outside the filter; dropped them");
        }
        Ok(Listing {
            reports,
            pages,
            discarded,
        })
    }

    async fn fetch_page(&self, url: &Url) -> Result<(StatusCode, Vec<u8>, Option<String>), Error> {
        let mut number = 1;
        loop {
            match self.fetch_page_once(url).await {
                Ok(page) => return Ok(page),
                Err(failure) => self.backoff(number, failure).await?,
            }
            number += 1;
        }
    }

    async fn fetch_page_once(
        &self,
        url: &Url,
    ) -> Result<(StatusCode, Vec<u8>, Option<String>), Failure> {
        let response = self.send(url).await?;
        let status = response.status();
        let link = response
            .headers()
            .get(LINK)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let (body, cut) = self.read_body(url, response, MAX_BODY_BYTES).await?;
        if cut {
            return Err(Failure::fatal(Error::Decode {
                what: "response",
                url: url.to_string(),
                path: "body".into(),
                reason: format!("larger than {} MiB", MAX_BODY_BYTES / (1024 * 1024)),
                excerpt: crate::error::excerpt(&body),
            }));
        }
        Ok((status, body, link))
    }

    /// Downloads the archive of `ids` to `destination`.
    ///
    /// The body is streamed to a temporary file in the destination's folder (memory does not grow
    /// with the archive's size), and renamed into place only once the whole body has arrived and
    /// is a readable ZIP file; on any failure no file is left behind. `204 No Content` means none
    /// of the IDs exists: [`Error::ReportsNotFound`].
    pub async fn download_reports(
        &self,
        ids: &[Uuid],
        destination: &Path,
    ) -> Result<Download, Error> {
        self.download_reports_with_progress(ids, destination, |_| {})
            .await
    }

    /// Like [`Client::download_reports`], for a working copy that the caller reads and then
    /// removes (the archiver's): the same checks, but the file is not flushed to the disk before
    /// it is moved into place, which a file that does not outlive the process does not need.
    pub async fn download_reports_scratch(
        &self,
        ids: &[Uuid],
        destination: &Path,
    ) -> Result<Download, Error> {
        self.download(ids, destination, false, |_| {}).await
    }

    /// Like [`Client::download_reports`], reporting progress after every chunk.
    pub async fn download_reports_with_progress(
        &self,
        ids: &[Uuid],
        destination: &Path,
        progress: impl FnMut(Progress) + Send,
    ) -> Result<Download, Error> {
        self.download(ids, destination, true, progress).await
    }

    /// A download; `durable`: flushed to the disk before it is moved into place.
    async fn download(
        &self,
        ids: &[Uuid],
        destination: &Path,
        durable: bool,
        mut progress: impl FnMut(Progress) + Send,
    ) -> Result<Download, Error> {
        if ids.is_empty() {
            return Err(Error::Config("at least one report ID is required".into()));
        }
        let url = self.files_url(ids);
        let folder = match destination.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let file_name = destination.file_name().ok_or_else(|| {
            Error::Config(format!("`{}` is not a file name", destination.display()))
        })?;
        let mut number = 1;
        let (temp, size, sha256) = loop {
            match self
                .download_attempt(&url, ids, (&folder, file_name), durable, &mut progress)
                .await
            {
                Ok(done) => break done,
                Err(failure) => self.backoff(number, failure).await?,
            }
            number += 1;
        };
        let url_text = url.to_string();
        let temp = check_zip(temp, &url_text).await?;
        temp.persist(destination).map_err(|e| {
            Error::io(
                "cannot move the download into place at",
                destination,
                e.error,
            )
        })?;
        Ok(Download {
            path: destination.to_path_buf(),
            url: url_text,
            size,
            sha256,
        })
    }

    async fn download_attempt(
        &self,
        url: &Url,
        ids: &[Uuid],
        (folder, file_name): (&Path, &std::ffi::OsStr),
        durable: bool,
        progress: &mut (impl FnMut(Progress) + Send),
    ) -> Result<(tempfile::NamedTempFile, u64, [u8; 32]), Failure> {
        let mut response = self.send(url).await?;
        if response.status() == StatusCode::NO_CONTENT {
            return Err(Failure::fatal(Error::ReportsNotFound { ids: ids.to_vec() }));
        }
        let total = response
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let mut prefix = std::ffi::OsString::from(".");
        prefix.push(file_name);
        prefix.push(".");
        let temp = tempfile::Builder::new()
            .prefix(&prefix)
            .suffix(".partial")
            .tempfile_in(folder)
            .map_err(|e| {
                Failure::fatal(Error::io("cannot create a temporary file in", folder, e))
            })?;
        let std_file = temp
            .reopen()
            .map_err(|e| Failure::fatal(Error::io("cannot open", temp.path(), e)))?;
        let mut file =
            tokio::io::BufWriter::with_capacity(256 * 1024, tokio::fs::File::from_std(std_file));
        // SHA-256 runs on a thread of its own, beside the receiving and writing: on a fast link
        // hashing is the slowest part, and this way it costs no wall time. The channel is
        // bounded, so a slow hasher slows the download instead of buffering it in memory.
        let (chunks, mut to_hash) = tokio::sync::mpsc::channel::<bytes::Bytes>(HASH_QUEUE);
        let hasher = tokio::task::spawn_blocking(move || {
            let mut hasher = Sha256::new();
            while let Some(chunk) = to_hash.blocking_recv() {
                hasher.update(&chunk);
            }
            <[u8; 32]>::from(hasher.finalize())
        });
        let mut received: u64 = 0;
        let write_error = |e| Failure::fatal(Error::io("cannot write", temp.path(), e));
        loop {
            let chunk = match tokio::time::timeout(self.timeout, response.chunk()).await {
                Err(_) => return Err(Failure::timeout(url, self.timeout)),
                Ok(Err(e)) => return Err(Failure::transport(url, e)),
                Ok(Ok(None)) => break,
                Ok(Ok(Some(chunk))) => chunk,
            };
            // A send fails only when the hasher is gone, which its join below reports.
            let _ = chunks.send(chunk.clone()).await;
            file.write_all(&chunk).await.map_err(write_error)?;
            received += chunk.len() as u64;
            progress(Progress { received, total });
        }
        if let Some(total) = total
            && received != total
        {
            return Err(Failure {
                error: Error::Transport {
                    kind: TransportKind::Body,
                    url: url.to_string(),
                    detail: format!("the body ended after {received} of {total} bytes"),
                },
                retry: true,
                retry_after: None,
            });
        }
        drop(chunks);
        file.flush().await.map_err(write_error)?;
        if durable {
            file.get_ref().sync_all().await.map_err(write_error)?;
        }
        let sha256 = hasher.await.map_err(|e| {
            Failure::fatal(Error::Config(format!(
                "the download's hash did not finish: {e}"
            )))
        })?;
        Ok((temp, received, sha256))
    }

    /// Sends a GET and turns every status but 200 and 204 into a failure.
    async fn send(&self, url: &Url) -> Result<reqwest::Response, Failure> {
        tracing::debug!(%url, "GET");
        let response =
            match tokio::time::timeout(self.timeout, self.http.get(url.clone()).send()).await {
                Err(_) => return Err(Failure::timeout(url, self.timeout)),
                Ok(Err(e)) => return Err(Failure::transport(url, e)),
                Ok(Ok(response)) => response,
            };
        let status = response.status();
        if status == StatusCode::OK || status == StatusCode::NO_CONTENT {
            return Ok(response);
        }
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, time::OffsetDateTime::now_utc()));
        let body = self
            .read_body(url, response, MAX_ERROR_BYTES)
            .await
            .map(|(body, _)| body)
            .unwrap_or_default();
        let retry = matches!(status.as_u16(), 429 | 500 | 502 | 503 | 504);
        Err(Failure {
            error: api_error(status.as_u16(), url.as_str(), &body),
            retry,
            retry_after: if matches!(status.as_u16(), 429 | 503) {
                retry_after
            } else {
                None
            },
        })
    }

    /// Reads a body into memory, keeping at most `limit` bytes; the flag says whether it was cut.
    async fn read_body(
        &self,
        url: &Url,
        mut response: reqwest::Response,
        limit: usize,
    ) -> Result<(Vec<u8>, bool), Failure> {
        let mut body = Vec::new();
        loop {
            match tokio::time::timeout(self.timeout, response.chunk()).await {
                Err(_) => return Err(Failure::timeout(url, self.timeout)),
                Ok(Err(e)) => return Err(Failure::transport(url, e)),
                Ok(Ok(None)) => return Ok((body, false)),
                Ok(Ok(Some(chunk))) => {
                    let room = limit - body.len();
                    if chunk.len() > room {
                        body.extend_from_slice(&chunk[..room]);
                        return Ok((body, true));
                    }
                    body.extend_from_slice(&chunk);
                }
            }
        }
    }

    /// After failed attempt `number`: waits and returns `Ok` when another attempt should be
    /// made, or returns the error.
    async fn backoff(&self, number: u32, failure: Failure) -> Result<(), Error> {
        if !failure.retry || number >= self.retry.max_attempts {
            return Err(failure.error);
        }
        let wait = self.retry.delay(number, failure.retry_after);
        tracing::warn!(
            "attempt {number} of {} failed: {}; retrying in {}",
            self.retry.max_attempts,
            failure.error,
            human_duration(wait)
        );
        tokio::time::sleep(wait).await;
        Ok(())
    }
}

/// Checks on a blocking thread that the downloaded file is a readable ZIP archive.
async fn check_zip(
    temp: tempfile::NamedTempFile,
    url: &str,
) -> Result<tempfile::NamedTempFile, Error> {
    let url = url.to_owned();
    tokio::task::spawn_blocking(move || {
        let file = temp
            .reopen()
            .map_err(|e| Error::io("cannot read back", temp.path(), e))?;
        match zip::ZipArchive::new(std::io::BufReader::new(file)) {
            Ok(_) => Ok(temp),
            Err(e) => Err(Error::InvalidArchive {
                url,
                reason: e.to_string(),
            }),
        }
    })
    .await
    .map_err(|e| Error::Config(format!("archive check did not finish: {e}")))?
}

/// The next page, from a `Link: <…>; rel="next"` header or a link or cursor in the body.
///
/// Only links to the same origin as the base URL are followed.
fn next_page(current: &Url, body: &[u8], link_header: Option<&str>, base: &Url) -> Option<Url> {
    #[derive(serde::Deserialize, Default)]
    #[serde(rename_all = "camelCase")]
    struct Hints {
        next_page: Option<String>,
        next_link: Option<String>,
        next: Option<String>,
        #[serde(rename = "@odata.nextLink")]
        odata_next_link: Option<String>,
        next_cursor: Option<String>,
        cursor: Option<String>,
        continuation_token: Option<String>,
    }
    let hints: Hints = serde_json::from_slice(body).unwrap_or_default();
    let from_header = link_header.and_then(|value| {
        value.split(',').find_map(|part| {
            let (target, params) = part.split_once(';')?;
            let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
            params
                .split(';')
                .any(|p| {
                    let p = p.trim().replace(' ', "");
                    p.eq_ignore_ascii_case("rel=\"next\"") || p.eq_ignore_ascii_case("rel=next")
                })
                .then(|| target.to_owned())
        })
    });
    let link = from_header
        .or(hints.next_page)
        .or(hints.next_link)
        .or(hints.odata_next_link)
        .or(hints.next)
        .filter(|l| !l.trim().is_empty());
    if let Some(link) = link {
        let next = current.join(link.trim()).ok()?;
        if next.origin() != base.origin() {
            tracing::warn!(%next, "the platform's next-page link leaves its origin; not following it");
            return None;
        }
        return Some(next);
    }
    let cursor = hints
        .next_cursor
        .or(hints.cursor)
        .or(hints.continuation_token)
        .filter(|c| !c.trim().is_empty())?;
    let mut next = current.clone();
    let kept: Vec<(String, String)> = current
        .query_pairs()
        .filter(|(k, _)| k != "cursor")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    next.query_pairs_mut()
        .clear()
        .extend_pairs(kept)
        .append_pair("cursor", &cursor);
    Some(next)
}

fn transport_error(url: &Url, error: reqwest::Error) -> Error {
    let text = error_chain(&error).to_ascii_lowercase();
    let kind = if error.is_timeout() {
        TransportKind::Timeout
    } else if text.contains("dns error")
        || text.contains("failed to lookup address")
        || text.contains("name or service not known")
    {
        TransportKind::Dns
    } else if text.contains("certificate") || text.contains("tls") || text.contains("handshake") {
        TransportKind::Tls
    } else if text.contains("proxy") || text.contains("tunnel") {
        TransportKind::Proxy
    } else if error.is_connect() {
        TransportKind::Connect
    } else if error.is_body()
        || error.is_decode()
        || text.contains("connection closed")
        || text.contains("incomplete")
    {
        TransportKind::Body
    } else {
        TransportKind::Other
    };
    Error::Transport {
        kind,
        url: url.to_string(),
        detail: error_chain(&error.without_url()),
    }
}

/// `1.5 s`, `200 ms`, `2 min`.
pub(crate) fn human_duration(d: Duration) -> String {
    if d.as_secs() >= 120 {
        format!("{} min", d.as_secs() / 60)
    } else if d.as_millis() >= 1_000 {
        let s = d.as_secs_f64();
        if (s - s.round()).abs() < 0.05 {
            format!("{} s", s.round())
        } else {
            format!("{s:.1} s")
        }
    } else {
        format!("{} ms", d.as_millis())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Url {
        Url::parse("http://127.0.0.1:9/api").expect("url")
    }

    #[test]
    fn builder_validates_organization_and_url() {
        let err = Client::builder()
            .organization("not-a-uuid")
            .build()
            .expect_err("bad org");
        assert!(
            err.to_string().contains("`not-a-uuid` is not a UUID"),
            "{err}"
        );
        assert!(err.is_usage());
        assert!(
            Client::builder().build().is_err(),
            "organization is required"
        );
        let org = "00000000-0000-0000-0000-000000000001";
        for bad in ["ftp://x", "not a url", "http://x/?q=1"] {
            let err = Client::builder()
                .organization(org)
                .base_url(bad)
                .build()
                .expect_err(bad);
            assert!(err.to_string().contains(bad), "{err}");
        }
        let err = Client::builder()
            .organization(org)
            .add_ca_certificate_pem("not pem")
            .build()
            .expect_err("bad pem");
        assert!(err.to_string().contains("CA certificate"), "{err}");
    }

    #[test]
    fn urls_carry_org_filter_and_repeated_ids() {
        let client = Client::builder()
            .organization("00000000-0000-0000-0000-000000000001")
            .base_url("http://127.0.0.1:9/api/")
            .build()
            .expect("client");
        let filter = VersionFilter::at_least("v1.0".parse().expect("v"))
            .with_max("2".parse().expect("v"))
            .expect("f");
        assert_eq!(
            client.list_url(&filter).as_str(),
            "http://127.0.0.1:9/api/security/report/list?org=00000000-0000-0000-0000-000000000001&minver=v1.0&maxver=2"
        );
        let ids = [Uuid::from_u128(2), Uuid::from_u128(3)];
        assert_eq!(
            client.files_url(&ids).as_str(),
            "http://127.0.0.1:9/api/security/report/files?org=00000000-0000-0000-0000-000000000001&reports=00000000-0000-0000-0000-000000000002&reports=00000000-0000-0000-0000-000000000003"
        );
    }

    #[test]
    fn next_page_comes_from_link_header_body_link_or_cursor() {
        let current =
            Url::parse("http://127.0.0.1:9/api/security/report/list?org=o&version=1").expect("url");
        let next = next_page(
            &current,
            b"{}",
            Some("<http://127.0.0.1:9/api/p2>; rel=\"next\""),
            &base(),
        );
        assert_eq!(next.expect("link").as_str(), "http://127.0.0.1:9/api/p2");
        let next = next_page(
            &current,
            br#"{"nextPage":"?org=o&version=1&page=2"}"#,
            None,
            &base(),
        );
        assert_eq!(
            next.expect("relative").as_str(),
            "http://127.0.0.1:9/api/security/report/list?org=o&version=1&page=2"
        );
        let next = next_page(&current, br#"{"nextCursor":"abc"}"#, None, &base());
        assert_eq!(
            next.expect("cursor").as_str(),
            "http://127.0.0.1:9/api/security/report/list?org=o&version=1&cursor=abc"
        );
        assert!(
            next_page(
                &current,
                br#"{"nextPage":"https://evil.example/p2"}"#,
                None,
                &base()
            )
            .is_none()
        );
        assert!(next_page(&current, br#"{"reports":[]}"#, None, &base()).is_none());
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(human_duration(Duration::from_millis(250)), "250 ms");
        assert_eq!(human_duration(Duration::from_secs(2)), "2 s");
        assert_eq!(human_duration(Duration::from_millis(1_500)), "1.5 s");
        assert_eq!(human_duration(Duration::from_secs(3_600)), "60 min");
    }
}
