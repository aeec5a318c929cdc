//! The durable store of events and jobs, behind a small trait so another database (PostgreSQL
//! for several replicas) can be added without touching the receiver or the workflow.
//!
//! Every method is blocking; async callers run them on a blocking thread.

mod sqlite;

use std::fmt;

use serde::Serialize;

pub use sqlite::SqliteStore;

use crate::ServerError;

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

/// A report event to record: the deduplication key and the report as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    /// The organization.
    pub organization_id: String,
    /// The report.
    pub report_id: String,
    /// The report's upload time, in nanoseconds since the epoch (UTC).
    pub upload_nanos: i64,
    /// The report's JSON (one element of the payload's `reports`).
    pub report: String,
}

/// What the store made of one delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Accepted {
    /// Events seen for the first time (their jobs are enqueued).
    pub new: usize,
    /// Events already recorded.
    pub duplicates: usize,
}

/// A job handed to a worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedJob {
    /// The job.
    pub id: i64,
    /// Its step.
    pub step: Step,
    /// This attempt's number (1-based).
    pub attempt: u32,
    /// Whether a previous attempt was cut short (its lease expired or the server stopped
    /// uncleanly): side effects of that attempt may exist.
    pub recovered: bool,
    /// The event's row.
    pub event_id: i64,
    /// The event's organization.
    pub organization_id: String,
    /// The event's report JSON.
    pub report: String,
    /// The event's upload time in nanoseconds.
    pub upload_nanos: i64,
}

/// One job as `procurize jobs list` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JobRow {
    /// The job.
    pub id: i64,
    /// The event it belongs to.
    pub event_id: i64,
    /// Its step.
    pub step: Step,
    /// Its state.
    pub state: JobState,
    /// Attempts made.
    pub attempts: u32,
    /// When it is next due (ms since the epoch), for pending jobs.
    pub next_attempt_at: Option<i64>,
    /// The job it waits for, while waiting.
    pub waiting_for: Option<i64>,
    /// The last error.
    pub last_error: Option<String>,
    /// The organization.
    pub organization_id: String,
    /// The report.
    pub report_id: String,
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
    Job(i64),
    /// Every dead job.
    AllDead,
}

/// What happened to a job attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum Finish<'a> {
    /// Done; `output` is kept for the steps that follow.
    Done {
        /// The step's result (the gate's JSON document).
        output: Option<&'a str>,
    },
    /// Failed; try again at `retry_at` (ms since the epoch), or never (`None`: dead).
    Failed {
        /// Why.
        error: &'a str,
        /// When to try again.
        retry_at: Option<i64>,
    },
    /// Not run after all (the server is stopping): due again, the attempt not counted.
    Release,
}

/// A durable store of events and jobs.
pub trait Store: Send + Sync + 'static {
    /// Records the events of each delivery, enqueueing `steps` (each after the first) for every
    /// new one, and returns per delivery what it made of it. All the deliveries are committed
    /// durably together before this returns (one commit for the batch); a delivery whose
    /// writes fail gets its own error and leaves nothing behind.
    fn accept(
        &self,
        deliveries: &[Vec<NewEvent>],
        steps: &[Step],
        now: i64,
    ) -> Vec<Result<Accepted, ServerError>>;

    /// Takes up to `limit` due jobs under a lease held by `owner` until `now + lease_ms`.
    /// Jobs whose lease has expired are due again.
    fn claim(
        &self,
        owner: &str,
        now: i64,
        lease_ms: i64,
        limit: usize,
    ) -> Result<Vec<ClaimedJob>, ServerError>;

    /// Extends to `until` the leases `owner` still holds on `jobs` (the heartbeat of a batch
    /// whose steps are running); returns how many were extended. A lease already lost is not
    /// taken back.
    fn extend_leases(&self, owner: &str, jobs: &[i64], until: i64) -> Result<usize, ServerError>;

    /// Records the ends of attempts by `owner`, in one transaction. Each is false when the lease
    /// was lost (the job was taken over), in which case that job is not changed.
    fn finish_many(
        &self,
        owner: &str,
        results: &[(i64, Finish<'_>)],
        now: i64,
    ) -> Result<Vec<bool>, ServerError>;

    /// Records the end of one attempt by `owner`; false when the lease was lost.
    fn finish(
        &self,
        job: i64,
        owner: &str,
        finish: Finish<'_>,
        now: i64,
    ) -> Result<bool, ServerError> {
        Ok(self
            .finish_many(owner, &[(job, finish)], now)?
            .first()
            .copied()
            .unwrap_or(false))
    }

    /// The output of the event's job for `step`, once done.
    fn output(&self, event_id: i64, step: Step) -> Result<Option<String>, ServerError>;

    /// Records that a job delivered `key` (a channel and a fingerprint, for the notifier) so a
    /// later attempt does not repeat it.
    fn record_effect(&self, job: i64, key: &str, now: i64) -> Result<(), ServerError>;

    /// The effects a job recorded, with when (ms since the epoch).
    fn effects(&self, job: i64) -> Result<Vec<(String, i64)>, ServerError>;

    /// Jobs, newest first, optionally in one state, at most `limit`.
    fn list(&self, state: Option<JobState>, limit: usize) -> Result<Vec<JobRow>, ServerError>;

    /// Makes jobs due now with their attempts reset; returns how many.
    fn retry(&self, target: RetryTarget, now: i64) -> Result<usize, ServerError>;

    /// Deletes events received before `before` (ms since the epoch) whose jobs are all done,
    /// with their jobs. A redelivery of a purged event is treated as new. Returns how many
    /// events were deleted.
    fn purge(&self, before: i64) -> Result<usize, ServerError>;

    /// Jobs counted by step and state.
    fn counts(&self) -> Result<Vec<(Step, JobState, u64)>, ServerError>;

    /// Gives back every lease held by a previous process (called at start-up by the only
    /// server using this store); returns how many jobs were released.
    fn release_stale_leases(&self, owner: &str) -> Result<usize, ServerError>;

    /// Checks that the store accepts writes (for `/readyz`).
    fn check_writable(&self) -> Result<(), ServerError>;
}
