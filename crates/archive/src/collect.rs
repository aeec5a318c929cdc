//! Fetching the evidence: the list response and every report's archive, each archive inspected
//! before it is trusted.

use std::path::Path;

use procurize_core::{Client, ProductVersion, Report, Uuid, VersionFilter};
use serde_json::json;

use crate::bundle::{Artifact, Evidence, ServedList};
use crate::{ArchiveError, Limits, inspect_archive};

/// What to archive: the reports of some versions, or reports named by ID.
#[derive(Debug, Clone)]
pub enum Selection {
    /// Every report the list returns for the filter, of these projects only when `projects` is
    /// not empty (each one must have a report).
    Versions {
        /// The versions.
        filter: VersionFilter,
        /// The projects, by name; empty for every project.
        projects: Vec<String>,
    },
    /// These reports, by ID. Their metadata is found by listing every version of the
    /// organization (the list's paging is bounded); an ID the list does not know is an error.
    Reports(Vec<Uuid>),
    /// Reports whose metadata the caller already holds (the service: from the signed delivery),
    /// with the delivery's body exactly as received, kept in the bundle. Nothing is listed.
    Delivered {
        /// The reports.
        reports: Vec<Report>,
        /// The delivery's body, byte for byte (`None` when it was not kept).
        body: Option<Vec<u8>>,
    },
}

/// Lists and downloads the reports of `selection` into `work` (one archive per report, streamed
/// to disk), inspects every archive, and returns the evidence to bundle. The retrieval times are
/// given by the caller (so `SOURCE_DATE_EPOCH` can fix them).
pub async fn collect(
    client: &Client,
    selection: &Selection,
    work: &Path,
    limits: &Limits,
    clock: impl Fn() -> String,
    tool_version: &str,
) -> Result<Evidence, ArchiveError> {
    let retrieval_started = clock();
    let (reports, lists, selection_json) = match selection {
        Selection::Versions { filter, projects } => {
            let listing = client.list_reports_detailed(filter).await?;
            let lists = served(listing.pages);
            let mut described = serde_json::Map::new();
            for (name, value) in filter.query_pairs() {
                described.insert(name.to_owned(), json!(value));
            }
            let mut selection = json!({ "versions": described });
            if !projects.is_empty() {
                selection["projects"] = json!(projects);
            }
            let reports = of_projects(listing.reports.reports, projects)?;
            (
                reports
                    .into_iter()
                    .map(|r| (r.id, Some(r)))
                    .collect::<Vec<_>>(),
                lists,
                selection,
            )
        }
        Selection::Reports(ids) => {
            let (reports, lists) = listed(client, ids).await?;
            (reports, lists, json!({ "reports": ids }))
        }
        Selection::Delivered { reports, .. } => (
            reports.iter().map(|r| (r.id, Some(r.clone()))).collect(),
            Vec::new(),
            json!({ "reports": reports.iter().map(|r| r.id).collect::<Vec<_>>(), "delivered": true }),
        ),
    };
    if reports.is_empty() {
        return Err(ArchiveError::NothingToArchive);
    }
    let mut artifacts = Vec::with_capacity(reports.len());
    for (id, report) in reports {
        let path = work.join(format!("{id}.zip"));
        // A working copy: only the bundle it goes into must reach the disk.
        let download = client
            .download_reports_scratch(&[id], &path)
            .await
            .map_err(|e| match e {
                procurize_core::Error::InvalidArchive { reason, .. } => {
                    ArchiveError::BadReportArchive {
                        report: id,
                        entry: None,
                        reason: format!("not a readable ZIP file: {reason}"),
                    }
                }
                other => ArchiveError::Api(other),
            })?;
        let file = std::fs::File::open(&path)
            .map_err(|e| ArchiveError::Io(format!("cannot read {}: {e}", path.display())))?;
        let files =
            inspect_archive(std::io::BufReader::new(file), limits).map_err(|e| match e {
                ArchiveError::InvalidArchive { entry, reason } => ArchiveError::BadReportArchive {
                    report: id,
                    entry,
                    reason,
                },
                other => other,
            })?;
        artifacts.push(Artifact {
            id,
            report,
            path,
            url: download.url,
            size: download.size,
            sha256: hex::encode(download.sha256),
            files,
        });
    }
    Ok(Evidence {
        organization: client.organization(),
        selection: selection_json,
        api_base_url: client.base_url().to_string(),
        lists,
        delivery: match selection {
            Selection::Delivered { body, .. } => body.clone(),
            _ => None,
        },
        artifacts,
        retrieval_started,
        retrieval_finished: clock(),
        tool_version: tool_version.to_owned(),
        verdict: None,
    })
}

/// The list's pages as the bundle keeps them.
fn served(pages: Vec<procurize_core::RawPage>) -> Vec<ServedList> {
    pages
        .into_iter()
        .map(|p| ServedList {
            url: p.url,
            body: p.body,
        })
        .collect()
}

/// Every version of the organization, for finding reports by ID: a lenient `0`, so `minver=0`.
fn every_version() -> VersionFilter {
    VersionFilter::at_least(ProductVersion::parse("0").unwrap_or_else(|_| unreachable!()))
}

/// The metadata of `ids` from the list of every version, and the list's pages as served; an
/// ID the list does not hold is an error naming it.
async fn listed(
    client: &Client,
    ids: &[Uuid],
) -> Result<(Vec<(Uuid, Option<Report>)>, Vec<ServedList>), ArchiveError> {
    let listing = client.list_reports_detailed(&every_version()).await?;
    let known = &listing.reports.reports;
    let mut reports = Vec::with_capacity(ids.len());
    for id in ids {
        // The newest upload when the list holds the same ID more than once.
        let report = known
            .iter()
            .filter(|r| r.id == *id)
            .max_by(|a, b| a.upload_date.cmp(&b.upload_date))
            .ok_or(ArchiveError::ReportNotListed {
                report: *id,
                listed: known.len(),
            })?;
        reports.push((*id, Some(report.clone())));
    }
    Ok((reports, served(listing.pages)))
}

/// The reports of `projects` (all of them when it is empty); a project without a report is an
/// error naming it and the projects that do have reports.
fn of_projects(reports: Vec<Report>, projects: &[String]) -> Result<Vec<Report>, ArchiveError> {
    if projects.is_empty() {
        return Ok(reports);
    }
    if let Some(absent) = projects
        .iter()
        .find(|p| !reports.iter().any(|r| &r.project_name == *p))
    {
        let mut seen: Vec<String> = reports.iter().map(|r| r.project_name.clone()).collect();
        seen.sort_unstable();
        seen.dedup();
        return Err(ArchiveError::ProjectNotFound {
            project: absent.clone(),
            seen,
        });
    }
    Ok(reports
        .into_iter()
        .filter(|r| projects.contains(&r.project_name))
        .collect())
}
