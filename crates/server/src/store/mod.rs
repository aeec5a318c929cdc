//! The durable store of events and jobs, behind one trait with two backends chosen by
//! configuration through one factory, [`open`]:
//!
//! - [`SqliteStore`], the embedded default: one file, one server process (it holds the file's
//!   lock, so it may release every lease it finds at start-up).
//! - [`PostgresStore`]: one database shared by several replicas; claims skip rows another
//!   replica has locked, leases carry the replica's identity, and a start releases only leases
//!   that have expired.
//!
//! The trait is async; the SQLite store runs its blocking calls on tokio's blocking threads.

mod postgres;
mod sqlite;

use std::fmt;
use std::sync::Arc;

use procurize_core::Uuid;
use serde::Serialize;

pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

use crate::ServerError;
use crate::config::StoreConfig;

/// Who opens a store, which decides the SQLite store's lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `procurize serve`: the SQLite store takes its file's lock (one server per file) and
    /// moves checkpoints to a background thread.
    Server,
    /// `procurize jobs` and `serve --check-config`: beside a running server, no lock taken.
    Admin,
}

/// Opens the configured store: the one place that knows which backends exist.
pub async fn open(config: &StoreConfig, role: Role) -> Result<Arc<dyn Store>, ServerError> {
    Ok(match config {
        StoreConfig::Sqlite(sqlite) => {
            let path = sqlite.path.clone();
            let store = tokio::task::spawn_blocking(move || SqliteStore::open_as(&path, role))
                .await
                .map_err(|e| ServerError::Store(format!("opening the store failed: {e}")))??;
            Arc::new(store)
        }
        StoreConfig::Postgres(postgres) => Arc::new(PostgresStore::connect(postgres).await?),
    })
}

/// A job's row number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct JobId(pub i64);

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// An event's row number (not its identity, which is the [`EventKey`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct EventRowId(pub i64);

impl fmt::Display for EventRowId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The identity of a report event, unique in the store: core's
/// [`EventId`](procurize_core::EventId) with the upload time as nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventKey {
    /// The organization.
    pub organization_id: Uuid,
    /// The report.
    pub report_id: Uuid,
    /// The report's upload time, in nanoseconds since the epoch (UTC).
    pub upload_nanos: i64,
}

impl TryFrom<&procurize_core::EventId> for EventKey {
    type Error = String;

    /// Fails for an upload date outside what 64-bit nanoseconds hold (the years 1677 to 2262).
    fn try_from(id: &procurize_core::EventId) -> Result<Self, String> {
        let upload_nanos = i64::try_from(id.upload_date.unix_nanos()).map_err(|_| {
            format!(
                "uploadDate {} is outside the years 1677 to 2262",
                id.upload_date
            )
        })?;
        Ok(Self {
            organization_id: id.organization_id,
            report_id: id.report_id,
            upload_nanos,
        })
    }
}

impl fmt::Display for EventKey {
    /// `<org>/<report>/<upload ns>`, as core's `EventId` shows itself.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}/{}",
            self.organization_id, self.report_id, self.upload_nanos
        )
    }
}

/// A workflow step. Each new event gets one job per configured step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Evaluate the gate policy.
    Gate,
    /// Send notifications (after the gate, whose verdict they report).
    Notify,
    /// Write the evidence bundle (after the gate, so evidence exists once the event is judged).
    Archive,
}

impl Step {
    /// Every step, in workflow order.
    pub const ALL: [Step; 3] = [Self::Gate, Self::Notify, Self::Archive];

    /// `gate`, `notify` or `archive`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Gate => "gate",
            Self::Notify => "notify",
            Self::Archive => "archive",
        }
    }

    /// The step named `text`.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Waiting for the step it follows to be done.
    Waiting,
    /// Due at its next attempt time.
    Pending,
    /// Held by a worker under a lease.
    Running,
    /// Finished.
    Done,
    /// Failed on every attempt; replay it with `procurize jobs retry`.
    Dead,
}

impl JobState {
    /// Every state.
    pub const ALL: [JobState; 5] = [
        Self::Waiting,
        Self::Pending,
        Self::Running,
        Self::Done,
        Self::Dead,
    ];

    /// `waiting`, `pending`, `running`, `done` or `dead`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Waiting => "waiting",
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Done => "done",
            Self::Dead => "dead",
        }
    }

    /// The state named `text`.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A report event to record: its identity and the report as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    /// The deduplication identity.
    pub key: EventKey,
    /// The report's JSON (one element of the payload's `reports`).
    pub report: String,
    /// The body of the delivery that brought it, exactly as received (shared by the events of
    /// one delivery): the evidence bundle keeps it.
    pub delivery: std::sync::Arc<str>,
}

/// What the store made of one delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Accepted {
    /// Events seen for the first time (their jobs are enqueued).
    pub new: usize,
    /// Events already recorded.
    pub duplicates: usize,
}

/// The first-step jobs an accepting process takes for its own workers as it records new events,
/// in the same commit: they need no claim, so a replica runs what it accepted without another
/// round trip, and the other replicas never see them as due (unless the lease expires).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease<'a> {
    /// The lease owner (the replica's worker identity).
    pub owner: &'a str,
    /// When the lease expires (ms since the epoch).
    pub until: i64,
    /// The most jobs to take (the room left in the local queue); the rest are due as usual.
    pub limit: usize,
}

/// What a batch of deliveries came to.
#[derive(Debug, Default)]
pub struct AcceptedBatch {
    /// Per delivery, in order, what the store made of it.
    pub deliveries: Vec<Result<Accepted, ServerError>>,
    /// The jobs leased to the caller (at most the [`Lease`]'s limit; none without one), in the
    /// order of their events in the batch.
    pub leased: Vec<ClaimedJob>,
}

/// A job handed to a worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedJob {
    /// The job.
    pub id: JobId,
    /// Its step.
    pub step: Step,
    /// This attempt's number (1-based).
    pub attempt: u32,
    /// Whether a previous attempt was cut short (its lease expired or the server stopped
    /// uncleanly): side effects of that attempt may exist.
    pub recovered: bool,
    /// The event's row.
    pub event: EventRowId,
    /// The event's identity.
    pub key: EventKey,
    /// The event's report JSON.
    pub report: String,
}

/// One job as `procurize jobs list` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JobRow {
    /// The job.
    pub id: JobId,
    /// The event it belongs to.
    pub event_id: EventRowId,
    /// Its step.
    pub step: Step,
    /// Its state.
    pub state: JobState,
    /// Attempts made.
    pub attempts: u32,
    /// When it is next due (ms since the epoch), for pending jobs.
    pub next_attempt_at: Option<i64>,
    /// The job it waits for, while waiting.
    pub waiting_for: Option<JobId>,
    /// The last error.
    pub last_error: Option<String>,
    /// The organization.
    pub organization_id: Uuid,
    /// The report.
    pub report_id: Uuid,
    /// The report's upload time in nanoseconds.
    pub upload_nanos: i64,
    /// When the event was received (ms since the epoch).
    pub received_at: i64,
    /// When the job last changed (ms since the epoch).
    pub updated_at: i64,
}

/// Which jobs `retry` makes due again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryTarget {
    /// One job (dead or pending).
    Job(JobId),
    /// Every dead job.
    AllDead,
}

/// What happened to a job attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finish {
    /// Done; `output` is kept for the steps that follow.
    Done {
        /// The step's result (the gate's JSON document).
        output: Option<String>,
    },
    /// Failed; try again at `retry_at` (ms since the epoch), or never (`None`: dead).
    Failed {
        /// Why.
        error: String,
        /// When to try again.
        retry_at: Option<i64>,
    },
    /// Not run after all (the server is stopping): due again, the attempt not counted.
    Release,
}

/// The refusal of `retry` for one job, by the job's state: one conditional update decides, and
/// this names why it changed nothing.
pub(crate) fn retry_refusal(id: JobId, state: Option<&str>) -> ServerError {
    ServerError::NotFound(match state {
        None => format!("there is no job {id}"),
        Some("running") => format!("job {id} is running; it cannot be retried now"),
        Some("waiting") => format!("job {id} waits for the step before it; retry that job instead"),
        Some(other) => format!("job {id} is {other}; only dead or pending jobs can be retried"),
    })
}

/// A durable store of events and jobs.
#[async_trait::async_trait]
pub trait Store: Send + Sync + 'static {
    /// What it is, for logs and `--check-config` (a path, or a database's host and name; never
    /// a password).
    fn describe(&self) -> String;

    /// Whether this process is the store's only server (SQLite, holding the file's lock): then
    /// every lease and every leftover file found at start-up is provably abandoned.
    fn exclusive(&self) -> bool;

    /// Records the events of each delivery, enqueueing `steps` (each after the first) for every
    /// new one, and returns per delivery what it made of it. All the deliveries are committed
    /// durably together before this returns (one commit for the batch); a delivery whose
    /// writes fail gets its own error and leaves nothing behind.
    ///
    /// With a `lease`, up to its limit of the new events' first jobs are committed already
    /// running under it (attempt 1) and returned, instead of pending. A store may lease fewer
    /// (none while it retries a failed batch delivery by delivery); the others are due.
    async fn accept_leasing(
        &self,
        deliveries: Vec<Vec<NewEvent>>,
        steps: &[Step],
        now: i64,
        lease: Option<Lease<'_>>,
    ) -> AcceptedBatch;

    /// [`accept_leasing`](Store::accept_leasing) without a lease: every new job is due.
    async fn accept(
        &self,
        deliveries: Vec<Vec<NewEvent>>,
        steps: &[Step],
        now: i64,
    ) -> Vec<Result<Accepted, ServerError>> {
        self.accept_leasing(deliveries, steps, now, None)
            .await
            .deliveries
    }

    /// Takes up to `limit` due jobs under a lease held by `owner` until `now + lease_ms`.
    /// Jobs whose lease has expired are due again. Two callers never get the same job.
    async fn claim(
        &self,
        owner: &str,
        now: i64,
        lease_ms: i64,
        limit: usize,
    ) -> Result<Vec<ClaimedJob>, ServerError>;

    /// Extends to `until` the leases `owner` still holds on `jobs` (the heartbeat of a batch
    /// whose steps are running); returns how many were extended. A lease already lost is not
    /// taken back.
    async fn extend_leases(
        &self,
        owner: &str,
        jobs: &[JobId],
        until: i64,
    ) -> Result<usize, ServerError>;

    /// Records the ends of attempts by `owner`, in one transaction. Each is false when the lease
    /// was lost (the job was taken over), in which case that job is not changed.
    async fn finish_many(
        &self,
        owner: &str,
        results: Vec<(JobId, Finish)>,
        now: i64,
    ) -> Result<Vec<bool>, ServerError>;

    /// Records the end of one attempt by `owner`; false when the lease was lost.
    async fn finish(
        &self,
        job: JobId,
        owner: &str,
        finish: Finish,
        now: i64,
    ) -> Result<bool, ServerError> {
        Ok(self
            .finish_many(owner, vec![(job, finish)], now)
            .await?
            .first()
            .copied()
            .unwrap_or(false))
    }

    /// The output of the event's job for `step`, once done.
    async fn output(&self, event: EventRowId, step: Step) -> Result<Option<String>, ServerError>;

    /// The body of the delivery that first brought the event, exactly as received; `None` for
    /// an event recorded before the store kept bodies.
    async fn delivery(&self, event: EventRowId) -> Result<Option<String>, ServerError>;

    /// Records that a job delivered `key` (a channel and a fingerprint, for the notifier) so a
    /// later attempt does not repeat it.
    async fn record_effect(&self, job: JobId, key: &str, now: i64) -> Result<(), ServerError>;

    /// The effects a job recorded, with when (ms since the epoch).
    async fn effects(&self, job: JobId) -> Result<Vec<(String, i64)>, ServerError>;

    /// Jobs, newest first, optionally in one state, at most `limit`.
    async fn list(&self, state: Option<JobState>, limit: usize)
    -> Result<Vec<JobRow>, ServerError>;

    /// Makes jobs due now with their attempts reset, in one conditional update (a job a worker
    /// has just claimed is not reset); returns how many. For one job that is not dead or
    /// pending, the error names its state.
    async fn retry(&self, target: RetryTarget, now: i64) -> Result<usize, ServerError>;

    /// Deletes events received before `before` (ms since the epoch) whose jobs are all done,
    /// with their jobs. A redelivery of a purged event is treated as new. Returns how many
    /// events were deleted.
    async fn purge(&self, before: i64) -> Result<usize, ServerError>;

    /// Jobs counted by step and state.
    async fn counts(&self) -> Result<Vec<(Step, JobState, u64)>, ServerError>;

    /// Gives back, at start-up, the leases that are provably abandoned, marking their jobs as
    /// interrupted: on an [`exclusive`](Store::exclusive) store every lease not held by
    /// `owner`; on a shared one only those expired at `now` (a live replica's are left alone).
    /// Returns how many jobs were released.
    async fn release_abandoned_leases(&self, owner: &str, now: i64) -> Result<usize, ServerError>;

    /// The Jira issue `channel` created for the fingerprint `label`, if recorded.
    async fn jira_issue(&self, channel: &str, label: &str) -> Result<Option<String>, ServerError>;

    /// Records that `channel` created the issue `key` for `label` (replacing an earlier one),
    /// so every replica sees it before Jira's search does.
    async fn remember_jira_issue(
        &self,
        channel: &str,
        label: &str,
        key: &str,
        now: i64,
    ) -> Result<(), ServerError>;

    /// The owners holding a lease that has not expired at `now`: the workers known to be alive
    /// (a start-up sweep leaves their temporary files alone).
    async fn lease_holders(&self, now: i64) -> Result<Vec<String>, ServerError>;

    /// Checks that the store accepts writes (for `/readyz` and `--check-config`).
    async fn check_writable(&self) -> Result<(), ServerError>;
}

/// The notifier's record of created Jira issues, kept in the store.
pub struct StoreIssueRecord(pub Arc<dyn Store>);

#[async_trait::async_trait]
impl procurize_notify::record::IssueRecord for StoreIssueRecord {
    async fn issue(&self, channel: &str, label: &str) -> Result<Option<String>, String> {
        self.0
            .jira_issue(channel, label)
            .await
            .map_err(|e| e.to_string())
    }

    async fn remember(&self, channel: &str, label: &str, key: &str) -> Result<(), String> {
        self.0
            .remember_jira_issue(channel, label, key, crate::now_millis())
            .await
            .map_err(|e| e.to_string())
    }
}
