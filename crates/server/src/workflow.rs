//! The workflow: workers claim due jobs under a lease and run their step.
//!
//! - **Gate**: evaluates the policy on the event's report (listing the version's other reports
//!   of the project when the policy requires report types) and keeps the gate's JSON document.
//! - **Notify**: sends the `report_published` event and the gate's failures and warnings per the
//!   routing rules. Each (channel, event) sent is recorded, so a retry sends only what failed.
//!   A crash between a send and its record re-runs that send: e-mail (`Message-ID`), Jira
//!   (fingerprint label) and files (named by fingerprint) absorb the repeat. Slack cannot, so an
//!   intent is recorded before a Slack post, and an attempt that finds one asks Slack (the
//!   channel's history, where our messages carry the event in their metadata) whether it was
//!   posted. An incoming webhook cannot be asked: there a crash at that moment can repeat it.
//! - **Archive**: writes a signed evidence bundle named by the event; if it exists (an earlier
//!   attempt finished writing), it is verified instead of written again.
//!
//! A failed attempt is retried with exponential backoff and jitter; after `max_attempts` the job
//! is dead until `procurize jobs retry`.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use procurize_archive::{Limits, Selection, SigningKey, collect, verify_bundle, write_bundle};
use procurize_core::{Client, Report, ReportList, Uuid, VersionFilter};
use procurize_gate::Policy;
use procurize_gate::render::{Context, GateDocument};
use procurize_notify::Notifier;
use time::format_description::well_known::Rfc3339;
use tokio::sync::{Notify, watch};

use crate::config::JobsSection;
use crate::metrics::{Metrics, StepResult};
use crate::now_millis;

/// The most jobs a worker claims at once (their results are recorded in one transaction).
const CLAIM_BATCH: usize = 8;
use crate::store::{ClaimedJob, Finish, Step, Store};

/// The archive step's settings.
#[derive(Clone)]
pub struct ArchiveTarget {
    /// The folder bundles go to.
    pub folder: PathBuf,
    /// The signing key.
    pub key: SigningKey,
}

impl std::fmt::Debug for ArchiveTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArchiveTarget")
            .field("folder", &self.folder)
            .field("key", &"[REDACTED]")
            .finish()
    }
}

/// Where the bundle of an event goes: `<folder>/<organization>/<report>-<upload ns>.zip`.
pub fn bundle_path(folder: &Path, organization: &str, report: &str, upload_nanos: i64) -> PathBuf {
    folder
        .join(organization)
        .join(format!("{report}-{upload_nanos}.zip"))
}

/// Removes what an archive step cut short by a crash left in `folder`: working folders
/// (`.procurize-archive-*`) and unfinished bundles (`.procurize-bundle-*`) in each
/// organization's folder. Finished bundles are never touched. Only the server holding the
/// store's lock calls it, so no other writer is at work there. Returns how many were removed.
pub fn sweep_leftovers(folder: &Path) -> usize {
    let Ok(organizations) = std::fs::read_dir(folder) else {
        return 0;
    };
    let mut removed = 0;
    for organization in organizations.filter_map(Result::ok) {
        let Ok(entries) = std::fs::read_dir(organization.path()) else {
            continue;
        };
        for entry in entries.filter_map(Result::ok) {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let path = entry.path();
            let gone = if name.starts_with(".procurize-archive-") && path.is_dir() {
                std::fs::remove_dir_all(&path).is_ok()
            } else if name.starts_with(".procurize-bundle-") && path.is_file() {
                std::fs::remove_file(&path).is_ok()
            } else {
                false
            };
            removed += usize::from(gone);
        }
    }
    removed
}

/// The workflow's steps and what they need.
pub struct Workflow {
    /// The store.
    pub store: Arc<dyn Store>,
    /// Retry and lease settings.
    pub jobs: JobsSection,
    /// The gate policy.
    pub policy: Policy,
    /// The anchor file the gate's documents name (the configuration file).
    pub anchor: String,
    /// API clients by organization.
    pub clients: BTreeMap<Uuid, Client>,
    /// The notifier, when configured.
    pub notifier: Option<Notifier>,
    /// The archive, when configured.
    pub archive: Option<ArchiveTarget>,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// This process's lease owner name.
    pub owner: String,
}

impl std::fmt::Debug for Workflow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Workflow")
            .field("steps", &self.steps())
            .field("owner", &self.owner)
            .finish_non_exhaustive()
    }
}

impl Workflow {
    /// The steps enqueued for each new event: the gate, then notify and archive when configured.
    pub fn steps(&self) -> Vec<Step> {
        let mut steps = vec![Step::Gate];
        if self.notifier.is_some() {
            steps.push(Step::Notify);
        }
        if self.archive.is_some() {
            steps.push(Step::Archive);
        }
        steps
    }

    /// Runs one worker until `stop` turns true: claim a due job, run it, record the result;
    /// when nothing is due, wait for `wake` or the poll interval.
    pub async fn worker(self: Arc<Self>, wake: Arc<Notify>, mut stop: watch::Receiver<bool>) {
        let poll = Duration::from_millis(self.jobs.poll_millis.max(1));
        let lease_ms =
            i64::try_from(self.jobs.lease_seconds.saturating_mul(1000)).unwrap_or(i64::MAX);
        loop {
            if *stop.borrow() {
                break;
            }
            // Registered before looking, so a commit between the look and the wait still wakes us.
            let woken = wake.notified();
            let store = self.store.clone();
            let owner = self.owner.clone();
            let claimed = tokio::task::spawn_blocking(move || {
                store.claim(&owner, now_millis(), lease_ms, CLAIM_BATCH)
            })
            .await;
            let jobs = match claimed {
                Ok(Ok(jobs)) => jobs,
                Ok(Err(e)) => {
                    tracing::error!("{e}");
                    Vec::new()
                }
                Err(e) => {
                    tracing::error!("claiming jobs failed: {e}");
                    Vec::new()
                }
            };
            if jobs.is_empty() {
                tokio::select! {
                    () = woken => {}
                    () = tokio::time::sleep(poll) => {}
                    _ = stop.changed() => {}
                }
                continue;
            }
            // Run the batch; once stopping, the jobs not started go back, their attempt uncounted.
            // While it runs, its leases are renewed every third of the lease (no task is spawned:
            // the renewal shares this loop), so a step slower than the lease is not claimed and
            // run again by another worker.
            let ids: Vec<i64> = jobs.iter().map(|j| j.id).collect();
            let batch = async {
                let mut results = Vec::with_capacity(jobs.len());
                for job in &jobs {
                    let finish = if *stop.borrow() {
                        OwnedFinish::Release
                    } else {
                        self.run(job).await
                    };
                    results.push((job.id, finish));
                }
                results
            };
            tokio::pin!(batch);
            let every = Duration::from_millis(u64::try_from(lease_ms / 3).unwrap_or(1000).max(10));
            let mut renew = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            let results = loop {
                tokio::select! {
                    results = &mut batch => break results,
                    _ = renew.tick() => self.renew_leases(&ids, lease_ms).await,
                }
            };
            self.record(results).await;
        }
    }

    /// Extends the leases this worker holds on `jobs` to a full lease from now.
    async fn renew_leases(&self, jobs: &[i64], lease_ms: i64) {
        let (store, owner, jobs) = (self.store.clone(), self.owner.clone(), jobs.to_vec());
        let renewed = tokio::task::spawn_blocking(move || {
            store.extend_leases(&owner, &jobs, now_millis().saturating_add(lease_ms))
        })
        .await;
        match renewed {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!("cannot renew the leases of running jobs: {e}"),
            Err(e) => tracing::warn!("renewing leases failed: {e}"),
        }
    }

    /// Records a batch of results in one transaction.
    async fn record(&self, results: Vec<(i64, OwnedFinish)>) {
        let store = self.store.clone();
        let owner = self.owner.clone();
        let now = now_millis();
        let ids: Vec<i64> = results.iter().map(|r| r.0).collect();
        let recorded = tokio::task::spawn_blocking(move || {
            let borrowed: Vec<(i64, Finish<'_>)> =
                results.iter().map(|(id, f)| (*id, f.as_finish())).collect();
            store.finish_many(&owner, &borrowed, now)
        })
        .await;
        match recorded {
            Ok(Ok(flags)) => {
                for (id, kept) in ids.iter().zip(flags) {
                    if !kept {
                        tracing::warn!(
                            job = id,
                            "the job's lease was lost while it ran; another worker owns it now"
                        );
                    }
                }
            }
            Ok(Err(e)) => tracing::error!("{e}"),
            Err(e) => tracing::error!("recording results failed: {e}"),
        }
    }

    async fn run(&self, job: &ClaimedJob) -> OwnedFinish {
        let started = Instant::now();
        if job.recovered {
            self.metrics.recovered();
            tracing::warn!(job = job.id, step = %job.step, attempt = job.attempt, "resuming a job whose previous attempt was interrupted");
        }
        let result = match job.step {
            Step::Gate => self.gate(job).await,
            Step::Notify => self.notify(job).await,
            Step::Archive => self.archive(job).await,
        };
        let elapsed = started.elapsed();
        let now = now_millis();
        let (finish, outcome) = match &result {
            Ok(output) => (
                Finish::Done {
                    output: output.as_deref(),
                },
                StepResult::Done,
            ),
            Err(error) if job.attempt >= self.jobs.max_attempts => (
                Finish::Failed {
                    error,
                    retry_at: None,
                },
                StepResult::Dead,
            ),
            Err(error) => {
                let delay = self.jobs.backoff(job.attempt);
                let delay_ms = i64::try_from(delay.as_millis()).unwrap_or(i64::MAX);
                (
                    Finish::Failed {
                        error,
                        retry_at: Some(now.saturating_add(delay_ms)),
                    },
                    StepResult::Retry,
                )
            }
        };
        match outcome {
            StepResult::Done => {
                // Per-step success is counted in the metrics; the log keeps what needs attention.
                tracing::debug!(job = job.id, step = %job.step, attempt = job.attempt, elapsed_ms = elapsed.as_millis() as u64, "step done");
            }
            StepResult::Retry => {
                tracing::warn!(job = job.id, step = %job.step, attempt = job.attempt, "step failed, will retry: {}", result.as_ref().err().map_or("", String::as_str));
            }
            StepResult::Dead => {
                tracing::error!(job = job.id, step = %job.step, attempt = job.attempt, "step failed for the last time; the job is dead (replay it with `procurize jobs retry {}`): {}", job.id, result.as_ref().err().map_or("", String::as_str));
            }
        }
        self.metrics.step(job.step, outcome, elapsed);
        owned(finish)
    }

    /// Records a side effect of a job (durable against a process crash before it returns).
    async fn record_effect(&self, job: i64, key: &str) -> Result<(), String> {
        let store = self.store.clone();
        let key = key.to_owned();
        tokio::task::spawn_blocking(move || store.record_effect(job, &key, now_millis()))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())
    }

    fn report(job: &ClaimedJob) -> Result<(Uuid, Report), String> {
        let organization: Uuid = job
            .organization_id
            .parse()
            .map_err(|e| format!("stored organization `{}`: {e}", job.organization_id))?;
        let report: Report = serde_json::from_str(&job.report)
            .map_err(|e| format!("the stored report cannot be read: {e}"))?;
        Ok((organization, report))
    }

    fn client(&self, organization: &Uuid) -> Result<&Client, String> {
        self.clients
            .get(organization)
            .ok_or_else(|| format!("organization {organization} is no longer configured"))
    }

    async fn gate(&self, job: &ClaimedJob) -> Result<Option<String>, String> {
        let (organization, report) = Self::report(job)?;
        let filter = VersionFilter::new(Some(report.project_version.clone()), None, None)
            .map_err(|e| e.to_string())?;
        // The event's project is gated; other projects of the version are not this event's.
        let mut policy = self.policy.clone();
        policy.projects.clear();
        let mut reports = Vec::new();
        if !policy.required_reports.is_empty() {
            let listed = self
                .client(&organization)?
                .list_reports(&filter)
                .await
                .map_err(|e| format!("listing the version's reports: {e}"))?;
            reports.extend(
                listed
                    .reports
                    .into_iter()
                    .filter(|r| r.project_name == report.project_name && r.id != report.id),
            );
        }
        reports.push(report);
        let today = time::OffsetDateTime::now_utc().date();
        let outcome = procurize_gate::evaluate(&policy, reports, today);
        let context = Context {
            organization,
            filter,
            tool_version: env!("CARGO_PKG_VERSION").to_owned(),
            anchor: self.anchor.clone(),
            evaluated_on: today,
        };
        tracing::info!(
            job = job.id,
            verdict = outcome.status.as_str(),
            "gate evaluated"
        );
        Ok(Some(procurize_gate::render::json(&context, &outcome)))
    }

    async fn notify(&self, job: &ClaimedJob) -> Result<Option<String>, String> {
        let Some(notifier) = &self.notifier else {
            return Ok(None);
        };
        let (organization, report) = Self::report(job)?;
        let list = ReportList {
            organization_id: organization,
            reports: vec![report],
        };
        let mut events = procurize_notify::event::from_payload(&list);
        let store = self.store.clone();
        let (event_id, job_id) = (job.event_id, job.id);
        let (gate, done) = tokio::task::spawn_blocking(move || {
            Ok::<_, crate::ServerError>((
                store.output(event_id, Step::Gate)?,
                store.effects(job_id)?,
            ))
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
        if let Some(gate) = gate {
            let document: GateDocument = serde_json::from_str(&gate)
                .map_err(|e| format!("the gate's stored outcome cannot be read: {e}"))?;
            events.extend(procurize_notify::event::from_gate(&document));
        }
        let done: HashMap<String, i64> = done.into_iter().collect();
        let mut failures = Vec::new();
        for (event, channel) in notifier.plan(&events) {
            let key = format!("{channel}/{}/{}", event.kind.as_str(), event.fingerprint);
            if done.contains_key(&key) {
                continue;
            }
            // A channel that is not idempotent by itself (Slack) gets an intent recorded before
            // the send; finding one means an attempt was cut short after it, so the channel is
            // asked whether that attempt posted before anything is sent again.
            if notifier.can_confirm(&channel) {
                let intent = format!("intent/{key}");
                if let Some(at) = done.get(&intent) {
                    let since = std::time::UNIX_EPOCH
                        + Duration::from_millis(u64::try_from(*at).unwrap_or(0));
                    match notifier.find_delivered(event, &channel, since).await {
                        Ok(Some(true)) => {
                            tracing::info!(job = job_id, channel = %channel, "an interrupted attempt had posted; not posting again");
                            self.record_effect(job_id, &key).await?;
                            continue;
                        }
                        Ok(_) => {}
                        Err(e) => {
                            failures.push(format!(
                                "{channel} ({}): cannot tell whether an interrupted attempt posted: {e}",
                                event.kind.as_str()
                            ));
                            continue;
                        }
                    }
                } else {
                    self.record_effect(job_id, &intent).await?;
                }
            }
            let delivery = notifier.deliver_to(event, &channel).await;
            if delivery.delivered {
                self.record_effect(job_id, &key).await?;
            } else {
                failures.push(format!(
                    "{channel} ({}): {}",
                    event.kind.as_str(),
                    delivery.detail
                ));
            }
        }
        if failures.is_empty() {
            Ok(None)
        } else {
            Err(failures.join("; "))
        }
    }

    async fn archive(&self, job: &ClaimedJob) -> Result<Option<String>, String> {
        let Some(target) = &self.archive else {
            return Ok(None);
        };
        let (organization, report) = Self::report(job)?;
        let out = bundle_path(
            &target.folder,
            &job.organization_id,
            &report.id.to_string(),
            job.upload_nanos,
        );
        let key = target.key.clone();
        if out.exists() {
            // An earlier attempt wrote it (bundles are renamed into place whole): check it.
            let path = out.clone();
            let verification = tokio::task::spawn_blocking(move || {
                verify_bundle(&path, &key.public_key(), &Limits::default())
            })
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
            return if verification.valid {
                Ok(Some(out.display().to_string()))
            } else {
                Err(format!(
                    "{} exists but does not verify: {}",
                    out.display(),
                    verification.problems.join("; ")
                ))
            };
        }
        let folder = out.parent().unwrap_or(&target.folder).to_path_buf();
        std::fs::create_dir_all(&folder)
            .map_err(|e| format!("cannot create {}: {e}", folder.display()))?;
        let work = tempfile::Builder::new()
            .prefix(".procurize-archive-")
            .tempdir_in(&folder)
            .map_err(|e| {
                format!(
                    "cannot create a working folder in {}: {e}",
                    folder.display()
                )
            })?;
        let clock = || {
            time::OffsetDateTime::now_utc()
                .format(&Rfc3339)
                .unwrap_or_default()
        };
        let evidence = collect(
            self.client(&organization)?,
            &Selection::Reports(vec![report.id]),
            work.path(),
            &Limits::default(),
            clock,
            env!("CARGO_PKG_VERSION"),
        )
        .await
        .map_err(|e| e.to_string())?;
        let path = out.clone();
        tokio::task::spawn_blocking(move || {
            let written = write_bundle(&evidence, &key, &path);
            drop(work);
            written
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
        Ok(Some(out.display().to_string()))
    }
}

/// A [`Finish`] that owns its text, to cross into a blocking task.
enum OwnedFinish {
    Done(Option<String>),
    Failed(String, Option<i64>),
    Release,
}

impl OwnedFinish {
    fn as_finish(&self) -> Finish<'_> {
        match self {
            Self::Done(output) => Finish::Done {
                output: output.as_deref(),
            },
            Self::Failed(error, retry_at) => Finish::Failed {
                error,
                retry_at: *retry_at,
            },
            Self::Release => Finish::Release,
        }
    }
}

fn owned(finish: Finish<'_>) -> OwnedFinish {
    match finish {
        Finish::Done { output } => OwnedFinish::Done(output.map(str::to_owned)),
        Finish::Failed { error, retry_at } => OwnedFinish::Failed(error.to_owned(), retry_at),
        Finish::Release => OwnedFinish::Release,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leftovers_of_a_crash_are_swept_and_bundles_kept() {
        let dir = tempfile::tempdir().expect("temp dir");
        let org = dir.path().join("org");
        std::fs::create_dir_all(org.join(".procurize-archive-abc/inner")).expect("mkdir");
        std::fs::write(org.join(".procurize-bundle-xyz"), b"half a zip").expect("write");
        std::fs::write(org.join("report-1.zip"), b"a bundle").expect("write");
        assert_eq!(sweep_leftovers(dir.path()), 2);
        let left: Vec<_> = std::fs::read_dir(&org)
            .expect("read")
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(left, vec!["report-1.zip".to_owned()]);
        assert_eq!(sweep_leftovers(&dir.path().join("missing")), 0);
    }
}
