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

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use procurize_archive::{
    Limits, Selection, SigningKey, Verdict, VerificationResult, collect, verify_bundle,
    write_bundle,
};
use procurize_core::{Client, Report, ReportList, Uuid, VersionFilter};
use procurize_gate::Policy;
use procurize_gate::render::{Context, GateDocument};
use procurize_notify::Notifier;
use time::format_description::well_known::Rfc3339;
use tokio::sync::{Notify, watch};

use crate::config::JobsSection;
use crate::metrics::{Metrics, StepResult};
use crate::now_millis;
use crate::store::{ClaimedJob, Finish, JobId, Lease, Step, Store};

/// The most jobs a worker claims at once (their results are recorded in one statement).
const CLAIM_BATCH: usize = 8;

/// What the committer hands this replica's workers: the jobs it leased to them as it recorded
/// their events (no claim needed), and a wake-up for the jobs it left due in the store.
///
/// Leased jobs wait here at most `capacity` at a time; the committer leases only as many as
/// there is room for, so the rest of a burst stays due for any replica. A job whose lease has
/// run half out while it waited is given back to the store instead of run (another replica may
/// soon take it over).
#[derive(Debug)]
pub struct Handoff {
    owner: String,
    lease_ms: i64,
    capacity: usize,
    leased: Mutex<VecDeque<(ClaimedJob, i64)>>,
    /// Leased jobs are waiting here.
    ready: Notify,
    /// Jobs are due in the store.
    due: Notify,
}

impl Handoff {
    /// A hand-off for workers leasing as `owner` for `lease_ms`, holding up to `capacity` jobs
    /// (0: the committer leases nothing and every job is claimed from the store).
    pub fn new(owner: &str, lease_ms: i64, capacity: usize) -> Self {
        Self {
            owner: owner.to_owned(),
            lease_ms,
            capacity,
            leased: Mutex::new(VecDeque::new()),
            ready: Notify::new(),
            due: Notify::new(),
        }
    }

    /// A hand-off sized for `workers` workers.
    pub fn for_workers(owner: &str, lease_ms: i64, workers: usize) -> Self {
        Self::new(owner, lease_ms, workers.saturating_mul(2 * CLAIM_BATCH))
    }

    fn queue(&self) -> std::sync::MutexGuard<'_, VecDeque<(ClaimedJob, i64)>> {
        // The queue holds plain data: a panic elsewhere leaves it consistent.
        self.leased.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The lease for the jobs of a commit made `now`: as many as there is room for, or none.
    pub fn lease(&self, now: i64) -> Option<Lease<'_>> {
        let room = self.capacity.saturating_sub(self.queue().len());
        (room > 0).then(|| Lease {
            owner: &self.owner,
            until: now.saturating_add(self.lease_ms),
            limit: room,
        })
    }

    /// Hands over the jobs a commit leased until `until`, and wakes a worker for them.
    pub fn push(&self, jobs: Vec<ClaimedJob>, until: i64) {
        if jobs.is_empty() {
            return;
        }
        self.queue()
            .extend(jobs.into_iter().map(|job| (job, until)));
        self.ready.notify_one();
    }

    /// Wakes a worker to claim jobs that are due in the store.
    pub fn wake(&self) {
        self.due.notify_one();
    }

    /// Up to `limit` leased jobs, oldest first, each with when its lease ends.
    fn take(&self, limit: usize) -> Vec<(ClaimedJob, i64)> {
        let mut queue = self.queue();
        let n = limit.min(queue.len());
        queue.drain(..n).collect()
    }

    /// Every job still waiting (at shutdown, to give them back).
    pub fn drain(&self) -> Vec<ClaimedJob> {
        self.queue().drain(..).map(|(job, _)| job).collect()
    }
}

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

/// The field of the gate step's stored outcome that says when it was evaluated (RFC 3339); the
/// rest is the gate's JSON document.
const EVALUATED_AT: &str = "evaluatedAt";

/// The archive step's working folders start with this.
const ARCHIVE_WORK: &str = ".procurize-archive-";
/// The archiver's unfinished bundles start with this.
const BUNDLE_TEMP: &str = ".procurize-bundle-";

/// What an archive step has in progress in `folder`, or left when cut short by a crash:
/// working folders (`.procurize-archive-*`) and unfinished bundles (`.procurize-bundle-*`) in
/// each organization's folder. Finished bundles are never among them.
pub fn archive_leftovers(folder: &Path) -> Vec<procurize_core::fs::Leftover> {
    let Ok(organizations) = std::fs::read_dir(folder) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for organization in organizations.filter_map(Result::ok) {
        let path = organization.path();
        found.extend(procurize_core::fs::leftovers(&path, ARCHIVE_WORK, "", true));
        found.extend(procurize_core::fs::leftovers(&path, BUNDLE_TEMP, "", false));
    }
    found
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

    /// Runs one worker until `stop` turns true: take the jobs the committer leased to this
    /// replica, else claim due jobs from the store, run them and record the results; when there
    /// is nothing, wait for the hand-off, a wake-up or the poll interval.
    pub async fn worker(self: Arc<Self>, handoff: Arc<Handoff>, mut stop: watch::Receiver<bool>) {
        let poll = Duration::from_millis(self.jobs.poll_millis.max(1));
        let lease_ms =
            i64::try_from(self.jobs.lease_seconds.saturating_mul(1000)).unwrap_or(i64::MAX);
        let last = self.steps().last().copied();
        // Whether to look in the store for due jobs: at start, after a wake-up, and after a
        // batch that may have left some. A look that finds nothing costs the database a
        // statement, so a worker does not look after every batch.
        let mut look = true;
        loop {
            if *stop.borrow() {
                break;
            }
            let mut jobs = self.take_handed(&handoff, lease_ms).await;
            let from_store = jobs.is_empty();
            if from_store && look {
                jobs = self
                    .store
                    .claim(&self.owner, now_millis(), lease_ms, CLAIM_BATCH)
                    .await
                    .unwrap_or_else(|e| {
                        tracing::error!("{e}");
                        Vec::new()
                    });
            }
            if jobs.is_empty() {
                look = false;
                // A hand-off or a commit since the last look left a permit: this returns at once.
                tokio::select! {
                    () = handoff.ready.notified() => {}
                    () = handoff.due.notified() => look = true,
                    () = tokio::time::sleep(poll) => look = true,
                    _ = stop.changed() => {}
                }
                continue;
            }
            // A full batch may have left more: another idle worker takes those, so a commit
            // wakes as many workers as it has work for, not all of them.
            let full = jobs.len() == CLAIM_BATCH;
            match (full, from_store) {
                (true, true) => handoff.due.notify_one(),
                (true, false) => handoff.ready.notify_one(),
                (false, _) => {}
            }
            let results = self.run_batch(&jobs, &stop, lease_ms).await;
            // A done step releases its event's next one (due now, and no commit wakes anyone).
            let released = jobs.iter().zip(&results).any(|(job, (_, finish))| {
                matches!(finish, Finish::Done { .. }) && Some(job.step) != last
            });
            look = released || if from_store { full } else { look };
            self.record(results).await;
        }
    }

    /// The next jobs leased to this replica by the committer. Those whose lease ran half out
    /// while they waited go back to the store (due again, the attempt not counted) rather than
    /// risk running beside a replica that takes them over.
    async fn take_handed(&self, handoff: &Handoff, lease_ms: i64) -> Vec<ClaimedJob> {
        let margin = now_millis().saturating_add(lease_ms / 2);
        let (fresh, stale): (Vec<_>, Vec<_>) = handoff
            .take(CLAIM_BATCH)
            .into_iter()
            .partition(|(_, until)| *until > margin);
        if !stale.is_empty() {
            tracing::warn!(
                jobs = stale.len(),
                "jobs waited half their lease for a worker; giving them back to the store"
            );
            let released = stale.into_iter().map(|(job, _)| (job.id, Finish::Release));
            self.record(released.collect()).await;
        }
        fresh.into_iter().map(|(job, _)| job).collect()
    }

    /// Gives back, at shutdown, the jobs leased to this replica that no worker took: due again
    /// for any replica, their attempt not counted.
    pub async fn release_handed(&self, handoff: &Handoff) {
        let left: Vec<(JobId, Finish)> = handoff
            .drain()
            .into_iter()
            .map(|job| (job.id, Finish::Release))
            .collect();
        if !left.is_empty() {
            self.record(left).await;
        }
    }

    /// Runs a batch of claimed jobs one after the other; once stopping, the jobs not started go
    /// back, their attempt uncounted. While it runs, its leases are renewed every third of the
    /// lease (no task is spawned: the renewal shares this future), so a step slower than the
    /// lease is not claimed and run again by another worker.
    async fn run_batch(
        &self,
        jobs: &[ClaimedJob],
        stop: &watch::Receiver<bool>,
        lease_ms: i64,
    ) -> Vec<(JobId, Finish)> {
        let ids: Vec<JobId> = jobs.iter().map(|j| j.id).collect();
        let batch = async {
            let mut results = Vec::with_capacity(jobs.len());
            for job in jobs {
                let finish = if *stop.borrow() {
                    Finish::Release
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
        loop {
            tokio::select! {
                results = &mut batch => break results,
                _ = renew.tick() => self.renew_leases(&ids, lease_ms).await,
            }
        }
    }

    /// Extends the leases this worker holds on `jobs` to a full lease from now.
    async fn renew_leases(&self, jobs: &[JobId], lease_ms: i64) {
        let until = now_millis().saturating_add(lease_ms);
        if let Err(e) = self.store.extend_leases(&self.owner, jobs, until).await {
            tracing::warn!("cannot renew the leases of running jobs: {e}");
        }
    }

    /// Records a batch of results in one transaction.
    async fn record(&self, results: Vec<(JobId, Finish)>) {
        let ids: Vec<JobId> = results.iter().map(|r| r.0).collect();
        match self
            .store
            .finish_many(&self.owner, results, now_millis())
            .await
        {
            Ok(flags) => {
                for (id, kept) in ids.iter().zip(flags) {
                    if !kept {
                        tracing::warn!(
                            job = id.0,
                            "the job's lease was lost while it ran; another worker owns it now"
                        );
                    }
                }
            }
            Err(e) => tracing::error!("{e}"),
        }
    }

    async fn run(&self, job: &ClaimedJob) -> Finish {
        let started = Instant::now();
        if job.recovered {
            self.metrics.recovered();
            tracing::warn!(job = job.id.0, step = %job.step, attempt = job.attempt, "resuming a job whose previous attempt was interrupted");
        }
        let result = match job.step {
            Step::Gate => self.gate(job).await,
            Step::Notify => self.notify(job).await,
            Step::Archive => self.archive(job).await,
        };
        let elapsed = started.elapsed();
        let (finish, outcome) = match result {
            Ok(output) => {
                // Per-step success is counted in the metrics; the log keeps what needs attention.
                tracing::debug!(job = job.id.0, step = %job.step, attempt = job.attempt, elapsed_ms = elapsed.as_millis() as u64, "step done");
                (Finish::Done { output }, StepResult::Done)
            }
            Err(error) if error.permanent || job.attempt >= self.jobs.max_attempts => {
                let why = if error.permanent {
                    "the failure is permanent"
                } else {
                    "it failed for the last time"
                };
                tracing::error!(job = job.id.0, step = %job.step, attempt = job.attempt, "the job is dead, {why} (replay it with `procurize jobs retry {}`): {}", job.id, error.message);
                let finish = Finish::Failed {
                    error: error.message,
                    retry_at: None,
                };
                (finish, StepResult::Dead)
            }
            Err(error) => {
                tracing::warn!(job = job.id.0, step = %job.step, attempt = job.attempt, "step failed, will retry: {}", error.message);
                let delay = self.jobs.backoff(job.attempt);
                let delay_ms = i64::try_from(delay.as_millis()).unwrap_or(i64::MAX);
                let finish = Finish::Failed {
                    error: error.message,
                    retry_at: Some(now_millis().saturating_add(delay_ms)),
                };
                (finish, StepResult::Retry)
            }
        };
        self.metrics.step(job.step, outcome, elapsed);
        finish
    }

    /// Records a side effect of a job (durable against a process crash before it returns).
    async fn record_effect(&self, job: JobId, key: &str) -> Result<(), StepError> {
        self.store
            .record_effect(job, key, now_millis())
            .await
            .map_err(StepError::from)
    }

    fn report(job: &ClaimedJob) -> Result<(Uuid, Report), StepError> {
        let report: Report = serde_json::from_str(&job.report)
            .map_err(|e| StepError::permanent(format!("the stored report cannot be read: {e}")))?;
        Ok((job.key.organization_id, report))
    }

    fn client(&self, organization: &Uuid) -> Result<&Client, StepError> {
        self.clients.get(organization).ok_or_else(|| {
            StepError::permanent(format!(
                "organization {organization} is no longer configured"
            ))
        })
    }

    async fn gate(&self, job: &ClaimedJob) -> Result<Option<String>, StepError> {
        let (organization, report) = Self::report(job)?;
        let filter = VersionFilter::new(Some(report.project_version.clone()), None, None)
            .map_err(|e| StepError::permanent(e.to_string()))?;
        let policy = self.event_policy();
        let mut reports = Vec::new();
        if !policy.required_reports.is_empty() {
            let listed = self
                .client(&organization)?
                .list_reports(&filter)
                .await
                .map_err(|e| {
                    let message = format!("listing the version's reports: {e}");
                    if e.is_retryable() {
                        StepError::transient(message)
                    } else {
                        StepError::permanent(message)
                    }
                })?;
            reports.extend(
                listed
                    .reports
                    .into_iter()
                    .filter(|r| r.project_name == report.project_name && r.id != report.id),
            );
        }
        reports.push(report);
        let now = time::OffsetDateTime::now_utc();
        let today = now.date();
        let outcome = procurize_gate::evaluate(&policy, reports, today);
        let context = Context {
            organization,
            filter,
            tool_version: env!("CARGO_PKG_VERSION").to_owned(),
            anchor: self.anchor.clone(),
            evaluated_on: today,
        };
        tracing::info!(
            job = job.id.0,
            verdict = outcome.status.as_str(),
            "gate evaluated"
        );
        // The document `procurize gate --format json` prints, and when it was evaluated (the
        // archive step signs that time into the bundle's verdict).
        let mut document: serde_json::Value =
            serde_json::from_str(&procurize_gate::render::json(&context, &outcome))
                .map_err(|e| StepError::permanent(format!("the gate's outcome: {e}")))?;
        document[EVALUATED_AT] = now.format(&Rfc3339).unwrap_or_default().into();
        Ok(Some(document.to_string()))
    }

    /// The policy as one event is gated with: the event's own project, whatever projects the
    /// configured policy names (other projects of the version are not this event's).
    fn event_policy(&self) -> procurize_gate::Policy {
        let mut policy = self.policy.clone();
        policy.projects.clear();
        policy
    }

    /// The gate's verdict on the event, from the gate step's stored outcome, to be signed into
    /// the event's bundle; `None` when the gate left no outcome.
    async fn verdict(&self, job: &ClaimedJob) -> Result<Option<Verdict>, StepError> {
        let Some(stored) = self.store.output(job.event, Step::Gate).await? else {
            return Ok(None);
        };
        let detail: serde_json::Value = serde_json::from_str(&stored).map_err(|e| {
            StepError::permanent(format!("the gate's stored outcome cannot be read: {e}"))
        })?;
        let result = match detail["status"].as_str() {
            Some("fail") => VerificationResult::Failed,
            Some("pass" | "warn") => VerificationResult::Passed,
            other => {
                return Err(StepError::permanent(format!(
                    "the gate's stored outcome has no verdict (status {other:?})"
                )));
            }
        };
        let time_verified = detail[EVALUATED_AT]
            .as_str()
            .map(str::to_owned)
            // An outcome stored before the time was kept: the day it names, at its start.
            .or_else(|| {
                detail["evaluatedOn"]
                    .as_str()
                    .map(|day| format!("{day}T00:00:00Z"))
            })
            .unwrap_or_default();
        Ok(Some(Verdict {
            result,
            time_verified,
            policy_uri: format!("file:{}#gate.policy", self.anchor),
            policy: self.event_policy().canonical_json(),
            detail,
        }))
    }

    async fn notify(&self, job: &ClaimedJob) -> Result<Option<String>, StepError> {
        let Some(notifier) = &self.notifier else {
            return Ok(None);
        };
        let (organization, report) = Self::report(job)?;
        let list = ReportList {
            organization_id: organization,
            reports: vec![report],
        };
        let mut events = procurize_notify::event::from_payload(&list);
        let job_id = job.id;
        let gate = self.store.output(job.event, Step::Gate).await?;
        let done = self.store.effects(job_id).await?;
        if let Some(gate) = gate {
            let document: GateDocument = serde_json::from_str(&gate).map_err(|e| {
                StepError::permanent(format!("the gate's stored outcome cannot be read: {e}"))
            })?;
            events.extend(procurize_notify::event::from_gate(&document));
        }
        let done: HashMap<String, i64> = done.into_iter().collect();
        let mut failures = Vec::new();
        let mut all_permanent = true;
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
                            tracing::info!(job = job_id.0, channel = %channel, "an interrupted attempt had posted; not posting again");
                            self.record_effect(job_id, &key).await?;
                            continue;
                        }
                        Ok(_) => {}
                        Err(e) => {
                            all_permanent = false;
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
            // One attempt: the job's own retry policy decides whether and when to come back.
            let delivery = notifier.deliver_once(event, &channel).await;
            if delivery.delivered {
                self.record_effect(job_id, &key).await?;
            } else {
                all_permanent &= !delivery.retryable;
                failures.push(format!(
                    "{channel} ({}): {}",
                    event.kind.as_str(),
                    delivery.detail
                ));
            }
        }
        match (failures.is_empty(), all_permanent) {
            (true, _) => Ok(None),
            // Retrying gives the passing failures another chance; only when every failure is
            // for good is the job dead at once.
            (false, true) => Err(StepError::permanent(failures.join("; "))),
            (false, false) => Err(StepError::transient(failures.join("; "))),
        }
    }

    async fn archive(&self, job: &ClaimedJob) -> Result<Option<String>, StepError> {
        let Some(target) = &self.archive else {
            return Ok(None);
        };
        let (organization, report) = Self::report(job)?;
        let out = bundle_path(
            &target.folder,
            &job.key.organization_id.to_string(),
            &job.key.report_id.to_string(),
            job.key.upload_nanos,
        );
        let key = target.key.clone();
        if out.exists() {
            // An earlier attempt wrote it (bundles are renamed into place whole): check it.
            let path = out.clone();
            let verification = tokio::task::spawn_blocking(move || {
                verify_bundle(&path, &key.public_key(), &Limits::bundle())
            })
            .await
            .map_err(joined)??;
            return if verification.valid {
                Ok(Some(out.display().to_string()))
            } else {
                // Another attempt would find the same file.
                Err(StepError::permanent(format!(
                    "{} exists but does not verify: {}",
                    out.display(),
                    verification.problems.join("; ")
                )))
            };
        }
        let folder = out.parent().unwrap_or(&target.folder).to_path_buf();
        std::fs::create_dir_all(&folder).map_err(|e| {
            StepError::transient(format!("cannot create {}: {e}", folder.display()))
        })?;
        let work = tempfile::Builder::new()
            .prefix(&procurize_core::fs::temp_prefix(ARCHIVE_WORK))
            .tempdir_in(&folder)
            .map_err(|e| {
                StepError::transient(format!(
                    "cannot create a working folder in {}: {e}",
                    folder.display()
                ))
            })?;
        let clock = || {
            time::OffsetDateTime::now_utc()
                .format(&Rfc3339)
                .unwrap_or_default()
        };
        // The report's metadata and the delivery's body, as the signed delivery brought them.
        let body = self
            .store
            .delivery(job.event)
            .await?
            .map(String::into_bytes);
        let selection = Selection::Delivered {
            reports: vec![report],
            body,
        };
        let mut evidence = collect(
            self.client(&organization)?,
            &selection,
            work.path(),
            &Limits::default(),
            clock,
            env!("CARGO_PKG_VERSION"),
        )
        .await?;
        evidence.verdict = self.verdict(job).await?;
        let path = out.clone();
        tokio::task::spawn_blocking(move || {
            let written = write_bundle(&evidence, &key, &path);
            drop(work);
            written
        })
        .await
        .map_err(joined)??;
        Ok(Some(out.display().to_string()))
    }
}

/// Why a step failed, and whether trying again could help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepError {
    /// What went wrong, as the job's `last_error`.
    pub message: String,
    /// Whether it will fail the same way however often it is tried (the organization is no
    /// longer configured, a channel refused the request for good, the stored data cannot be
    /// read): the job is dead at once instead of being retried `max_attempts` times.
    pub permanent: bool,
}

impl StepError {
    /// A failure worth retrying (a time-out, a 5xx, the store busy).
    pub fn transient(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            permanent: false,
        }
    }

    /// A failure that retrying will not change.
    pub fn permanent(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            permanent: true,
        }
    }
}

impl From<procurize_archive::ArchiveError> for StepError {
    fn from(error: procurize_archive::ArchiveError) -> Self {
        if error.is_retryable() {
            Self::transient(error.to_string())
        } else {
            Self::permanent(error.to_string())
        }
    }
}

/// A blocking task that panicked or was cancelled: worth another attempt.
fn joined(error: tokio::task::JoinError) -> StepError {
    StepError::transient(format!("the step's task failed: {error}"))
}

impl From<crate::ServerError> for StepError {
    /// The store failing is worth retrying: it is the database that is down, not the job.
    fn from(error: crate::ServerError) -> Self {
        Self::transient(error.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{EventKey, JobState, NewEvent, Role, SqliteStore};

    /// A workflow of the gate alone on a new SQLite store, and three events accepted under a
    /// lease to `owner` that ends at `until`.
    async fn leased_jobs(
        dir: &Path,
        until: i64,
    ) -> (Arc<Workflow>, Handoff, Vec<ClaimedJob>, Arc<dyn Store>) {
        let store: Arc<dyn Store> =
            Arc::new(SqliteStore::open_as(&dir.join("store.db"), Role::Server).expect("opens"));
        let workflow = Arc::new(Workflow {
            store: store.clone(),
            jobs: JobsSection::default(),
            policy: Policy::default(),
            anchor: "test.toml".into(),
            clients: BTreeMap::new(),
            notifier: None,
            archive: None,
            metrics: Arc::default(),
            owner: "me".into(),
        });
        let handoff = Handoff::new("me", 1_000, 2);
        let events = (1..=3)
            .map(|n| NewEvent {
                key: EventKey {
                    organization_id: Uuid::from_u128(1),
                    report_id: Uuid::from_u128(n),
                    upload_nanos: 1,
                },
                report: "{}".into(),
                delivery: "{}".into(),
            })
            .collect();
        let lease = handoff.lease(0).map(|lease| Lease { until, ..lease });
        assert_eq!(lease.map(|l| l.limit), Some(2), "the hand-off's room");
        let accepted = store
            .accept_leasing(vec![events], &[Step::Gate], 0, lease)
            .await;
        (workflow, handoff, accepted.leased, store)
    }

    async fn state(store: &dyn Store, job: JobId) -> (JobState, u32) {
        let rows = store.list(None, 10).await.expect("lists");
        let row = rows.iter().find(|r| r.id == job).expect("listed");
        (row.state, row.attempts)
    }

    #[tokio::test]
    async fn handed_jobs_are_taken_while_their_lease_is_young_and_given_back_otherwise() {
        let dir = tempfile::tempdir().expect("temp dir");
        let now = now_millis();
        let (workflow, handoff, leased, store) = leased_jobs(dir.path(), now + 10_000).await;
        assert_eq!(leased.len(), 2, "as many as there is room for");
        let (young, old) = (leased[0].clone(), leased[1].clone());
        handoff.push(vec![young.clone()], now + 10_000);
        // This one's lease (1 s) has less than half left.
        handoff.push(vec![old.clone()], now + 400);
        assert!(handoff.lease(now).is_none(), "no room left");
        let taken = workflow.take_handed(&handoff, 1_000).await;
        assert_eq!(taken, vec![young]);
        assert_eq!(
            state(&*store, old.id).await,
            (JobState::Pending, 0),
            "given back, its attempt not counted"
        );
        assert!(handoff.lease(now).is_some(), "room again");
    }

    #[tokio::test]
    async fn handed_jobs_left_at_shutdown_are_given_back() {
        let dir = tempfile::tempdir().expect("temp dir");
        let until = now_millis() + 60_000;
        let (workflow, handoff, leased, store) = leased_jobs(dir.path(), until).await;
        handoff.push(leased.clone(), until);
        workflow.release_handed(&handoff).await;
        for job in &leased {
            assert_eq!(state(&*store, job.id).await, (JobState::Pending, 0));
        }
        assert!(handoff.drain().is_empty());
        let due = store
            .claim("other", now_millis(), 1_000, 10)
            .await
            .expect("claims");
        assert_eq!(due.len(), 3, "every job is due for any worker: {due:?}");
    }

    #[test]
    fn leftovers_of_an_archive_step_are_found_and_bundles_are_not() {
        let dir = tempfile::tempdir().expect("temp dir");
        let org = dir.path().join("org");
        std::fs::create_dir_all(org.join(".procurize-archive-abc/inner")).expect("mkdir");
        std::fs::create_dir_all(org.join(".procurize-archive-gone_2_b~w")).expect("mkdir");
        std::fs::write(org.join(".procurize-bundle-xyz"), b"half a zip").expect("write");
        std::fs::write(org.join("report-1.zip"), b"a bundle").expect("write");
        let mut found: Vec<(String, Option<String>, bool)> = archive_leftovers(dir.path())
            .into_iter()
            .map(|l| {
                let name = l
                    .path
                    .file_name()
                    .expect("name")
                    .to_string_lossy()
                    .into_owned();
                (name, l.tag, l.folder)
            })
            .collect();
        found.sort();
        assert_eq!(
            found,
            [
                (".procurize-archive-abc".into(), None, true),
                (
                    ".procurize-archive-gone_2_b~w".into(),
                    Some("gone_2_b".into()),
                    true
                ),
                (".procurize-bundle-xyz".into(), None, false),
            ]
        );
        assert!(archive_leftovers(&dir.path().join("missing")).is_empty());
    }
}
