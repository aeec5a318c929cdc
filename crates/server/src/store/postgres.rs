//! The replicated store: one PostgreSQL database shared by every replica.
//!
//! - **Accept**: one transaction per batch of deliveries (group commit), a savepoint per
//!   delivery, one statement per delivery inserting its events with `ON CONFLICT DO NOTHING` on
//!   the event identity and the jobs of the new ones. `synchronous_commit` is `on` for every
//!   connection, so a delivery is answered only once its commit is durable.
//! - **Claims**: `SELECT … FOR UPDATE SKIP LOCKED` in the claiming `UPDATE`, so replicas
//!   claiming at once never wait for each other nor get the same job; leases carry the
//!   replica's identity and are renewed by the worker while a step runs.
//! - **Start-up**: only leases that have expired are released; a live replica's are its own.
//! - **Migrations**: versioned, applied at start under an advisory lock so replicas starting
//!   together do not race; a database migrated by a newer binary is refused.
//!
//! Connections come from a small pool; a broken one (the database restarted) is dropped and a
//! new one made on the next use, so replicas recover without a restart.

mod pool;
mod tls;

use std::collections::HashMap;

use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::{
    Accepted, AcceptedBatch, ClaimedJob, EventKey, EventRowId, Finish, JobId, JobRow, JobState,
    Lease, NewEvent, RetryTarget, Step, Store, retry_refusal,
};
use crate::ServerError;
use crate::config::PostgresConfig;
use pool::{Commit, Pool};

/// The schema's migrations, in order; the database records how many it has applied. Append
/// only: a released migration is never edited.
const MIGRATIONS: &[&str] = &[
    "
CREATE TABLE events (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    organization_id TEXT   NOT NULL,
    report_id       TEXT   NOT NULL,
    upload_nanos    BIGINT NOT NULL,
    report          TEXT   NOT NULL,
    received_at     BIGINT NOT NULL,
    UNIQUE (organization_id, report_id, upload_nanos)
);
CREATE TABLE jobs (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id        BIGINT  NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    step            TEXT    NOT NULL,
    after_job       BIGINT  REFERENCES jobs (id) ON DELETE CASCADE,
    state           TEXT    NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT  NOT NULL,
    lease_owner     TEXT,
    lease_until     BIGINT,
    interrupted     BOOLEAN NOT NULL DEFAULT FALSE,
    last_error      TEXT,
    output          TEXT,
    updated_at      BIGINT  NOT NULL,
    UNIQUE (event_id, step)
);
CREATE INDEX jobs_due ON jobs (next_attempt_at) WHERE state = 'pending';
CREATE INDEX jobs_leased ON jobs (lease_until) WHERE state = 'running';
CREATE INDEX jobs_after ON jobs (after_job) WHERE after_job IS NOT NULL;
CREATE TABLE effects (
    job_id BIGINT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    key    TEXT   NOT NULL,
    at     BIGINT NOT NULL,
    PRIMARY KEY (job_id, key)
);
",
    "
CREATE TABLE jira_issues (
    channel   TEXT   NOT NULL,
    label     TEXT   NOT NULL,
    issue_key TEXT   NOT NULL,
    at        BIGINT NOT NULL,
    PRIMARY KEY (channel, label)
);
",
    // A lease owner exactly while running: the finishing and renewing statements rely on it to
    // find their jobs by primary key (see `FINISH_SQL`).
    "
ALTER TABLE jobs ADD CONSTRAINT jobs_leased_while_running
    CHECK ((state = 'running') = (lease_owner IS NOT NULL));
",
    // The body of the delivery that brought each event, exactly as received, for the evidence
    // bundle (events recorded before have none).
    "
ALTER TABLE events ADD COLUMN delivery TEXT;
",
];

/// The advisory lock taken while migrating (an arbitrary constant: "procurize" in ASCII).
const MIGRATION_LOCK: i64 = 0x7072_6f63_7572_697a;

/// A [`Store`] in a PostgreSQL database, for any number of replicas.
pub struct PostgresStore {
    pool: Pool,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("database", &self.pool.describe())
            .finish()
    }
}

fn store_error(context: &'static str) -> impl Fn(tokio_postgres::Error) -> ServerError {
    move |e| ServerError::Store(format!("{context}: {}", pool::describe_error(&e)))
}

fn corrupt(what: &str) -> ServerError {
    ServerError::Store(format!("the database holds {what}"))
}

fn step_of(text: &str) -> Result<Step, ServerError> {
    Step::parse(text).ok_or_else(|| corrupt(&format!("an unknown step `{text}`")))
}

fn state_of(text: &str) -> Result<JobState, ServerError> {
    JobState::parse(text).ok_or_else(|| corrupt(&format!("an unknown job state `{text}`")))
}

fn uuid_of(text: &str) -> Result<procurize_core::Uuid, ServerError> {
    text.parse()
        .map_err(|_| corrupt(&format!("an identifier `{text}` that is not a UUID")))
}

/// The first step's name and the later steps' names, as the accepting statements take them.
fn step_names(steps: &[Step]) -> (String, Vec<String>) {
    let first = steps.first().map_or("gate", |s| s.as_str()).to_owned();
    let later = steps
        .iter()
        .skip(1)
        .map(|s| s.as_str().to_owned())
        .collect();
    (first, later)
}

fn count(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

fn limit_of(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

impl PostgresStore {
    /// Connects (reading the URL from its source), applies missing migrations under the
    /// advisory lock, and refuses a database whose schema is newer than this binary's.
    pub async fn connect(config: &PostgresConfig) -> Result<Self, ServerError> {
        let pool = Pool::new(config)?;
        let store = Self { pool };
        store.migrate().await?;
        Ok(store)
    }

    /// Records a batch of attempts' ends (see [`Store::finish_many`]).
    #[doc(hidden)]
    pub const FINISH_SQL: &'static str = "WITH input AS (
                     SELECT * FROM unnest($1::BIGINT[], $2::TEXT[], $3::TEXT[], $4::TEXT[],
                                          $5::BIGINT[])
                         AS i (id, kind, output, error, retry_at)),
                 changed AS (
                     UPDATE jobs j SET
                         state = CASE i.kind WHEN 'release' THEN 'pending' ELSE i.kind END,
                         output = CASE i.kind WHEN 'done' THEN i.output ELSE j.output END,
                         last_error = CASE i.kind WHEN 'done' THEN NULL
                                                  WHEN 'release' THEN j.last_error
                                                  ELSE i.error END,
                         next_attempt_at = CASE i.kind WHEN 'pending' THEN i.retry_at
                                                       WHEN 'dead' THEN $7
                                                       ELSE j.next_attempt_at END,
                         attempts = CASE i.kind WHEN 'release' THEN GREATEST(j.attempts - 1, 0)
                                                ELSE j.attempts END,
                         lease_owner = NULL, lease_until = NULL, updated_at = $7
                     FROM input i
                     -- `= ANY` as well as the join: the primary key's index, whatever the
                     -- planner guesses of the input's size. No `state = 'running'`: a lease
                     -- owner implies it (a constraint), and that test would let the planner
                     -- scan `jobs_leased`, which holds an entry for every job ever leased.
                     WHERE j.id = ANY($1) AND j.id = i.id AND j.lease_owner = $6
                     RETURNING j.id, i.kind),
                 followers AS (
                     UPDATE jobs SET state = 'pending', next_attempt_at = $7, updated_at = $7
                     WHERE after_job IN (SELECT id FROM changed WHERE kind = 'done')
                       AND state = 'waiting')
                 SELECT id FROM changed";

    /// Extends the leases an owner still holds (see [`Store::extend_leases`]). Like
    /// [`Self::FINISH_SQL`] it finds its jobs by primary key, never through `jobs_leased`.
    #[doc(hidden)]
    pub const EXTEND_SQL: &'static str =
        "UPDATE jobs SET lease_until = $3 WHERE id = ANY($1) AND lease_owner = $2";

    /// The schema version this binary writes.
    pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

    async fn migrate(&self) -> Result<(), ServerError> {
        let error = store_error("cannot migrate the database");
        let mut client = self.pool.get(Commit::Durable).await?;
        let client = client.client();
        client
            .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
            .await
            .map_err(&error)?;
        let migrated = async {
            client
                .batch_execute(
                    "CREATE TABLE IF NOT EXISTS procurize_schema (
                         version    INTEGER PRIMARY KEY,
                         applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
                )
                .await
                .map_err(&error)?;
            let current: i64 = client
                .query_one(
                    "SELECT COALESCE(MAX(version), 0)::BIGINT FROM procurize_schema",
                    &[],
                )
                .await
                .map_err(&error)?
                .get(0);
            if current > Self::SCHEMA_VERSION {
                return Err(ServerError::Store(format!(
                    "the database was migrated by a newer procurize (schema {current}, this one knows {}); upgrade this replica",
                    Self::SCHEMA_VERSION
                )));
            }
            for (index, migration) in MIGRATIONS.iter().enumerate().skip(count(current.unsigned_abs())) {
                let version = i32::try_from(index + 1).unwrap_or(i32::MAX);
                let tx = client.transaction().await.map_err(&error)?;
                tx.batch_execute(migration).await.map_err(&error)?;
                tx.execute("INSERT INTO procurize_schema (version) VALUES ($1)", &[&version])
                    .await
                    .map_err(&error)?;
                tx.commit().await.map_err(&error)?;
                tracing::info!(version, "applied a database migration");
            }
            Ok(())
        }
        .await;
        let unlocked = client
            .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
            .await
            .map_err(&error);
        migrated.and(unlocked.map(|_| ()))
    }

    /// The schema version the database is at.
    pub async fn schema_version(&self) -> Result<i64, ServerError> {
        let mut client = self.pool.get(Commit::Durable).await?;
        Ok(client
            .client()
            .query_one(
                "SELECT COALESCE(MAX(version), 0)::BIGINT FROM procurize_schema",
                &[],
            )
            .await
            .map_err(store_error("cannot read the schema version"))?
            .get(0))
    }

    /// The whole batch in one statement, committed on its own (one round trip): every event
    /// inserted once, jobs for the new ones, and per delivery the events it was the first to
    /// bring. A database error here (bad data in one delivery) leaves nothing behind, and the
    /// batch is written again delivery by delivery ([`Self::accept_each`]).
    async fn accept_batch(
        &self,
        deliveries: &[Vec<NewEvent>],
        steps: &[Step],
        now: i64,
        lease: Option<Lease<'_>>,
    ) -> Result<Result<AcceptedBatch, tokio_postgres::Error>, ServerError> {
        let mut pooled = self.pool.get(Commit::Durable).await?;
        Ok(Self::accept_batch_on(&mut pooled, deliveries, steps, now, lease).await)
    }

    async fn accept_batch_on(
        pooled: &mut pool::Pooled<'_>,
        deliveries: &[Vec<NewEvent>],
        steps: &[Step],
        now: i64,
        lease: Option<Lease<'_>>,
    ) -> Result<AcceptedBatch, tokio_postgres::Error> {
        let statement = pooled
            .prepare(
                "WITH input AS (
                     SELECT * FROM unnest($1::INT[], $2::TEXT[], $3::TEXT[], $4::BIGINT[], $5::TEXT[])
                         WITH ORDINALITY AS i (delivery, organization_id, report_id, upload_nanos,
                                               report, position)),
                 -- A delivery's body once in $12, whatever the number of its events.
                 new_events AS (
                     INSERT INTO events (organization_id, report_id, upload_nanos, report, received_at,
                                         delivery)
                     SELECT organization_id, report_id, upload_nanos, report, $6,
                            ($12::TEXT[])[delivery + 1]
                     FROM input
                     ORDER BY position
                     ON CONFLICT (organization_id, report_id, upload_nanos) DO NOTHING
                     RETURNING id, organization_id, report_id, upload_nanos),
                 -- The first $9 new events' first jobs are leased to the accepting replica.
                 first_jobs AS (
                     INSERT INTO jobs (event_id, step, state, attempts, next_attempt_at,
                                       lease_owner, lease_until, updated_at)
                     SELECT id, $7, CASE WHEN leased THEN 'running' ELSE 'pending' END,
                            CASE WHEN leased THEN 1 ELSE 0 END, $6,
                            CASE WHEN leased THEN $10::TEXT END,
                            CASE WHEN leased THEN $11::BIGINT END, $6
                     FROM (SELECT id, row_number() OVER (ORDER BY id) <= $9::BIGINT AS leased
                           FROM new_events) n
                     RETURNING id, event_id, state = 'running' AS leased),
                 later_jobs AS (
                     INSERT INTO jobs (event_id, step, after_job, state, next_attempt_at, updated_at)
                     SELECT f.event_id, s.step, f.id, 'waiting', $6, $6
                     FROM first_jobs f CROSS JOIN unnest($8::TEXT[]) AS s (step)),
                 owners AS (
                     SELECT DISTINCT ON (n.id) i.delivery, i.position, n.id AS event_id
                     FROM new_events n JOIN input i USING (organization_id, report_id, upload_nanos)
                     ORDER BY n.id, i.position)
                 -- A row per new event: the delivery that brought it first, where in the batch,
                 -- and its first job.
                 SELECT o.delivery, o.position, o.event_id, f.id, f.leased
                 FROM owners o JOIN first_jobs f ON f.event_id = o.event_id
                 ORDER BY o.position",
            )
            .await?;
        let mut index = Vec::new();
        let mut flat = Vec::new();
        let (mut organizations, mut reports, mut uploads, mut bodies) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (n, events) in deliveries.iter().enumerate() {
            for event in events {
                flat.push(event);
                index.push(i32::try_from(n).unwrap_or(i32::MAX));
                organizations.push(event.key.organization_id.to_string());
                reports.push(event.key.report_id.to_string());
                uploads.push(event.key.upload_nanos);
                bodies.push(event.report.as_str());
            }
        }
        let (first, later) = step_names(steps);
        let limit = limit_of(lease.map_or(0, |l| l.limit));
        let (owner, until) = (lease.map(|l| l.owner), lease.map(|l| l.until));
        let delivered: Vec<&str> = deliveries
            .iter()
            .map(|events| events.first().map_or("", |e| &*e.delivery))
            .collect();
        let params: [&(dyn ToSql + Sync); 12] = [
            &index,
            &organizations,
            &reports,
            &uploads,
            &bodies,
            &now,
            &first,
            &later,
            &limit,
            &owner,
            &until,
            &delivered,
        ];
        let rows = pooled.client().query(&statement, &params).await?;
        let first = steps.first().copied().unwrap_or(Step::Gate);
        let mut new = vec![0usize; deliveries.len()];
        let mut leased = Vec::new();
        for row in rows {
            let delivery = usize::try_from(row.get::<_, i32>(0)).unwrap_or(usize::MAX);
            if let Some(slot) = new.get_mut(delivery) {
                *slot += 1;
            }
            // The position is 1-based, over the batch's events in order.
            let position = usize::try_from(row.get::<_, i64>(1)).unwrap_or(0);
            if let (true, Some(event)) = (row.get::<_, bool>(4), flat.get(position.wrapping_sub(1)))
            {
                leased.push(ClaimedJob {
                    id: JobId(row.get(3)),
                    step: first,
                    attempt: 1,
                    recovered: false,
                    event: EventRowId(row.get(2)),
                    key: event.key,
                    report: event.report.clone(),
                });
            }
        }
        let deliveries = deliveries
            .iter()
            .zip(new)
            .map(|(events, new)| {
                Ok(Accepted {
                    new,
                    duplicates: events.len().saturating_sub(new),
                })
            })
            .collect();
        Ok(AcceptedBatch { deliveries, leased })
    }

    async fn accept_each(
        &self,
        deliveries: &[Vec<NewEvent>],
        steps: &[Step],
        now: i64,
    ) -> Result<Vec<Result<Accepted, ServerError>>, ServerError> {
        let error = store_error("cannot record the delivery");
        let mut pooled = self.pool.get(Commit::Durable).await?;
        let statement = pooled
            .prepare(
                "WITH input AS (
                     SELECT * FROM unnest($1::TEXT[], $2::TEXT[], $3::BIGINT[], $4::TEXT[])
                         AS i (organization_id, report_id, upload_nanos, report)),
                 new_events AS (
                     INSERT INTO events (organization_id, report_id, upload_nanos, report, received_at,
                                         delivery)
                     SELECT organization_id, report_id, upload_nanos, report, $5, $8 FROM input
                     ON CONFLICT (organization_id, report_id, upload_nanos) DO NOTHING
                     RETURNING id),
                 first_jobs AS (
                     INSERT INTO jobs (event_id, step, state, next_attempt_at, updated_at)
                     SELECT id, $6, 'pending', $5, $5 FROM new_events
                     RETURNING id, event_id),
                 later_jobs AS (
                     INSERT INTO jobs (event_id, step, after_job, state, next_attempt_at, updated_at)
                     SELECT f.event_id, s.step, f.id, 'waiting', $5, $5
                     FROM first_jobs f CROSS JOIN unnest($7::TEXT[]) AS s (step))
                 SELECT COUNT(*) FROM new_events",
            )
            .await
            .map_err(&error)?;
        let (first, later) = step_names(steps);
        let client = pooled.client();
        let mut tx = client.transaction().await.map_err(&error)?;
        let mut results = Vec::with_capacity(deliveries.len());
        for events in deliveries {
            let organizations: Vec<String> = events
                .iter()
                .map(|e| e.key.organization_id.to_string())
                .collect();
            let reports: Vec<String> = events.iter().map(|e| e.key.report_id.to_string()).collect();
            let uploads: Vec<i64> = events.iter().map(|e| e.key.upload_nanos).collect();
            let bodies: Vec<&str> = events.iter().map(|e| e.report.as_str()).collect();
            let delivery: &str = events.first().map_or("", |e| &*e.delivery);
            let params: [&(dyn ToSql + Sync); 8] = [
                &organizations,
                &reports,
                &uploads,
                &bodies,
                &now,
                &first,
                &later,
                &delivery,
            ];
            // A savepoint per delivery: a failure undoes that delivery's writes only.
            let sp = tx.savepoint("delivery").await.map_err(&error)?;
            let outcome = sp.query_one(&statement, &params).await;
            match outcome {
                Ok(row) => {
                    sp.commit().await.map_err(&error)?;
                    let new = count(row.get::<_, i64>(0).unsigned_abs());
                    results.push(Ok(Accepted {
                        new,
                        duplicates: events.len().saturating_sub(new),
                    }));
                }
                Err(e) => {
                    sp.rollback().await.map_err(&error)?;
                    results.push(Err(error(e)));
                }
            }
        }
        tx.commit().await.map_err(&error)?;
        Ok(results)
    }

    fn claimed(row: &Row) -> Result<ClaimedJob, ServerError> {
        Ok(ClaimedJob {
            id: JobId(row.get(0)),
            step: step_of(row.get(1))?,
            attempt: u32::try_from(row.get::<_, i32>(2)).unwrap_or(0),
            recovered: row.get(3),
            event: EventRowId(row.get(4)),
            key: EventKey {
                organization_id: uuid_of(row.get(5))?,
                report_id: uuid_of(row.get(6))?,
                upload_nanos: row.get(7),
            },
            report: row.get(8),
        })
    }

    fn job_row(row: &Row) -> Result<JobRow, ServerError> {
        let state = state_of(row.get(2))?;
        Ok(JobRow {
            id: JobId(row.get(0)),
            step: step_of(row.get(1))?,
            state,
            attempts: u32::try_from(row.get::<_, i32>(3)).unwrap_or(0),
            next_attempt_at: (state == JobState::Pending).then(|| row.get(4)),
            waiting_for: row.get::<_, Option<i64>>(5).map(JobId),
            last_error: row.get(6),
            organization_id: uuid_of(row.get(7))?,
            report_id: uuid_of(row.get(8))?,
            upload_nanos: row.get(9),
            received_at: row.get(10),
            updated_at: row.get(11),
            event_id: EventRowId(row.get(12)),
        })
    }
}

#[async_trait::async_trait]
impl Store for PostgresStore {
    fn describe(&self) -> String {
        // Opened means migrated: the database is at this binary's schema.
        format!(
            "postgres {}, schema {}",
            self.pool.describe(),
            Self::SCHEMA_VERSION
        )
    }

    fn exclusive(&self) -> bool {
        false
    }

    async fn accept_leasing(
        &self,
        deliveries: Vec<Vec<NewEvent>>,
        steps: &[Step],
        now: i64,
        lease: Option<Lease<'_>>,
    ) -> AcceptedBatch {
        let each = match self.accept_batch(&deliveries, steps, now, lease).await {
            Ok(Ok(accepted)) => return accepted,
            // One delivery's data refused: find which, delivery by delivery (leasing nothing:
            // a rare path, and its jobs are due for any worker).
            Ok(Err(e)) if e.as_db_error().is_some() => {
                self.accept_each(&deliveries, steps, now).await
            }
            Ok(Err(e)) => Err(store_error("cannot record the delivery")(e)),
            Err(e) => Err(e),
        };
        let deliveries = match each {
            Ok(results) => results,
            Err(e) => {
                let message = e.to_string();
                deliveries
                    .iter()
                    .map(|_| Err(ServerError::Store(message.clone())))
                    .collect()
            }
        };
        AcceptedBatch {
            deliveries,
            leased: Vec::new(),
        }
    }

    async fn claim(
        &self,
        owner: &str,
        now: i64,
        lease_ms: i64,
        limit: usize,
    ) -> Result<Vec<ClaimedJob>, ServerError> {
        let error = store_error("cannot claim jobs");
        let mut pooled = self.pool.get(Commit::Durable).await?;
        let statement = pooled
            .prepare(
                // Rows another replica is claiming are skipped, not waited for. Each half walks
                // its partial index in order and stops at the limit: an `OR` of the two would be
                // a bitmap scan visiting every entry the index still holds for jobs long done
                // (a queue's index is mostly dead entries until vacuum), where an ordered scan
                // marks them dead as it passes and later claims skip them.
                "WITH expired AS (
                     SELECT id, TRUE AS recovered FROM jobs
                     WHERE state = 'running' AND lease_until < $1
                     ORDER BY lease_until
                     LIMIT $2
                     FOR UPDATE SKIP LOCKED),
                 pending AS (
                     SELECT id, interrupted AS recovered FROM jobs
                     WHERE state = 'pending' AND next_attempt_at <= $1
                     ORDER BY next_attempt_at
                     LIMIT $2
                     FOR UPDATE SKIP LOCKED),
                 due AS (SELECT * FROM expired UNION ALL SELECT * FROM pending LIMIT $2)
                 UPDATE jobs j SET state = 'running', attempts = j.attempts + 1,
                        lease_owner = $3, lease_until = $4, interrupted = FALSE, updated_at = $1
                 FROM due, events e
                 WHERE j.id = due.id AND e.id = j.event_id
                 RETURNING j.id, j.step, j.attempts, due.recovered, e.id, e.organization_id,
                           e.report_id, e.upload_nanos, e.report",
            )
            .await
            .map_err(&error)?;
        let until = now.saturating_add(lease_ms);
        let rows = pooled
            .client()
            .query(&statement, &[&now, &limit_of(limit), &owner, &until])
            .await
            .map_err(&error)?;
        let mut jobs = rows
            .iter()
            .map(Self::claimed)
            .collect::<Result<Vec<_>, _>>()?;
        jobs.sort_by_key(|job| job.id);
        Ok(jobs)
    }

    async fn extend_leases(
        &self,
        owner: &str,
        jobs: &[JobId],
        until: i64,
    ) -> Result<usize, ServerError> {
        let ids: Vec<i64> = jobs.iter().map(|j| j.0).collect();
        let mut pooled = self.pool.get(Commit::Durable).await?;
        let changed = pooled
            .client()
            .execute(Self::EXTEND_SQL, &[&ids, &owner, &until])
            .await
            .map_err(store_error("cannot extend leases"))?;
        Ok(count(changed))
    }

    async fn finish_many(
        &self,
        owner: &str,
        results: Vec<(JobId, Finish)>,
        now: i64,
    ) -> Result<Vec<bool>, ServerError> {
        let error = store_error("cannot record a job's result");
        let mut pooled = self.pool.get(Commit::Bookkeeping).await?;
        // Every result in one statement (committed on its own): a job changes only while its
        // lease is still `owner`'s, and a done job's followers become due.
        let statement = pooled.prepare(Self::FINISH_SQL).await.map_err(&error)?;
        let mut ids = Vec::with_capacity(results.len());
        let (mut kinds, mut outputs, mut errors, mut retries) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (JobId(job), finish) in &results {
            ids.push(*job);
            let (kind, output, failure, retry) = match finish {
                Finish::Done { output } => ("done", output.as_deref(), None, None),
                Finish::Failed {
                    error,
                    retry_at: Some(at),
                } => ("pending", None, Some(error.as_str()), Some(*at)),
                Finish::Failed {
                    error,
                    retry_at: None,
                } => ("dead", None, Some(error.as_str()), None),
                Finish::Release => ("release", None, None, None),
            };
            kinds.push(kind);
            outputs.push(output);
            errors.push(failure);
            retries.push(retry);
        }
        let rows = pooled
            .client()
            .query(
                &statement,
                &[&ids, &kinds, &outputs, &errors, &retries, &owner, &now],
            )
            .await
            .map_err(&error)?;
        let changed: std::collections::HashSet<i64> = rows.iter().map(|row| row.get(0)).collect();
        Ok(ids.iter().map(|id| changed.contains(id)).collect())
    }

    async fn output(&self, event: EventRowId, step: Step) -> Result<Option<String>, ServerError> {
        let mut pooled = self.pool.get(Commit::Durable).await?;
        let row = pooled
            .client()
            .query_opt(
                "SELECT output FROM jobs WHERE event_id = $1 AND step = $2 AND state = 'done'",
                &[&event.0, &step.as_str()],
            )
            .await
            .map_err(store_error("cannot read a step's output"))?;
        Ok(row.and_then(|r| r.get::<_, Option<String>>(0)))
    }

    async fn delivery(&self, event: EventRowId) -> Result<Option<String>, ServerError> {
        let mut pooled = self.pool.get(Commit::Durable).await?;
        let row = pooled
            .client()
            .query_opt("SELECT delivery FROM events WHERE id = $1", &[&event.0])
            .await
            .map_err(store_error("cannot read an event's delivery"))?;
        Ok(row.and_then(|r| r.get::<_, Option<String>>(0)))
    }

    async fn record_effect(&self, job: JobId, key: &str, now: i64) -> Result<(), ServerError> {
        let mut pooled = self.pool.get(Commit::Durable).await?;
        pooled
            .client()
            .execute(
                "INSERT INTO effects (job_id, key, at) VALUES ($1, $2, $3)
                 ON CONFLICT (job_id, key) DO NOTHING",
                &[&job.0, &key, &now],
            )
            .await
            .map_err(store_error("cannot record a side effect"))?;
        Ok(())
    }

    async fn effects(&self, job: JobId) -> Result<Vec<(String, i64)>, ServerError> {
        let mut pooled = self.pool.get(Commit::Durable).await?;
        let rows = pooled
            .client()
            .query(
                "SELECT key, at FROM effects WHERE job_id = $1 ORDER BY key",
                &[&job.0],
            )
            .await
            .map_err(store_error("cannot read side effects"))?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    async fn list(
        &self,
        state: Option<JobState>,
        limit: usize,
    ) -> Result<Vec<JobRow>, ServerError> {
        let mut pooled = self.pool.get(Commit::Durable).await?;
        let state = state.map(JobState::as_str);
        let rows = pooled
            .client()
            .query(
                "SELECT j.id, j.step, j.state, j.attempts, j.next_attempt_at,
                        CASE WHEN j.state = 'waiting' THEN j.after_job END,
                        j.last_error, e.organization_id, e.report_id, e.upload_nanos,
                        e.received_at, j.updated_at, j.event_id
                 FROM jobs j
                 JOIN events e ON e.id = j.event_id
                 WHERE $1::TEXT IS NULL OR j.state = $1
                 ORDER BY j.id DESC
                 LIMIT $2",
                &[&state, &limit_of(limit)],
            )
            .await
            .map_err(store_error("cannot list jobs"))?;
        rows.iter().map(Self::job_row).collect()
    }

    async fn retry(&self, target: RetryTarget, now: i64) -> Result<usize, ServerError> {
        let error = store_error("cannot retry jobs");
        let mut pooled = self.pool.get(Commit::Durable).await?;
        let client = pooled.client();
        match target {
            RetryTarget::Job(job) => {
                // One conditional statement: a job a worker has just claimed is not reset.
                let changed = client
                    .execute(
                        "UPDATE jobs SET state = 'pending', attempts = 0, next_attempt_at = $2,
                                updated_at = $2
                         WHERE id = $1 AND state IN ('dead', 'pending')",
                        &[&job.0, &now],
                    )
                    .await
                    .map_err(&error)?;
                if changed > 0 {
                    return Ok(count(changed));
                }
                let state = client
                    .query_opt("SELECT state FROM jobs WHERE id = $1", &[&job.0])
                    .await
                    .map_err(&error)?
                    .map(|row| row.get::<_, String>(0));
                Err(retry_refusal(job, state.as_deref()))
            }
            RetryTarget::AllDead => client
                .execute(
                    "UPDATE jobs SET state = 'pending', attempts = 0, next_attempt_at = $1,
                            updated_at = $1
                     WHERE state = 'dead'",
                    &[&now],
                )
                .await
                .map(count)
                .map_err(&error),
        }
    }

    async fn purge(&self, before: i64) -> Result<usize, ServerError> {
        let mut pooled = self.pool.get(Commit::Durable).await?;
        pooled
            .client()
            .execute(
                "DELETE FROM events
                 WHERE received_at < $1
                   AND NOT EXISTS (SELECT 1 FROM jobs j
                                   WHERE j.event_id = events.id AND j.state != 'done')",
                &[&before],
            )
            .await
            .map(count)
            .map_err(store_error("cannot purge"))
    }

    async fn counts(&self) -> Result<Vec<(Step, JobState, u64)>, ServerError> {
        let mut pooled = self.pool.get(Commit::Durable).await?;
        let rows = pooled
            .client()
            .query(
                "SELECT step, state, COUNT(*) FROM jobs GROUP BY step, state",
                &[],
            )
            .await
            .map_err(store_error("cannot count jobs"))?;
        let mut counts = HashMap::new();
        for row in &rows {
            counts.insert(
                (step_of(row.get(0))?, state_of(row.get(1))?),
                row.get::<_, i64>(2).unsigned_abs(),
            );
        }
        Ok(counts.into_iter().map(|((s, j), n)| (s, j, n)).collect())
    }

    async fn release_abandoned_leases(&self, _owner: &str, now: i64) -> Result<usize, ServerError> {
        // Other replicas share the database: only an expired lease is provably abandoned.
        let mut pooled = self.pool.get(Commit::Bookkeeping).await?;
        pooled
            .client()
            .execute(
                "UPDATE jobs SET state = 'pending', interrupted = TRUE, lease_owner = NULL,
                        lease_until = NULL
                 WHERE state = 'running' AND lease_until < $1",
                &[&now],
            )
            .await
            .map(count)
            .map_err(store_error("cannot release leases"))
    }

    async fn jira_issue(&self, channel: &str, label: &str) -> Result<Option<String>, ServerError> {
        let mut pooled = self.pool.get(Commit::Durable).await?;
        let row = pooled
            .client()
            .query_opt(
                "SELECT issue_key FROM jira_issues WHERE channel = $1 AND label = $2",
                &[&channel, &label],
            )
            .await
            .map_err(store_error("cannot read the Jira issue record"))?;
        Ok(row.map(|row| row.get(0)))
    }

    async fn remember_jira_issue(
        &self,
        channel: &str,
        label: &str,
        key: &str,
        now: i64,
    ) -> Result<(), ServerError> {
        let mut pooled = self.pool.get(Commit::Durable).await?;
        pooled
            .client()
            .execute(
                "INSERT INTO jira_issues (channel, label, issue_key, at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (channel, label) DO UPDATE SET issue_key = EXCLUDED.issue_key,
                                                            at = EXCLUDED.at",
                &[&channel, &label, &key, &now],
            )
            .await
            .map(|_| ())
            .map_err(store_error("cannot record a Jira issue"))
    }

    async fn lease_holders(&self, now: i64) -> Result<Vec<String>, ServerError> {
        let mut pooled = self.pool.get(Commit::Durable).await?;
        let rows = pooled
            .client()
            .query(
                "SELECT DISTINCT lease_owner FROM jobs
                 WHERE state = 'running' AND lease_until >= $1 AND lease_owner IS NOT NULL",
                &[&now],
            )
            .await
            .map_err(store_error("cannot read the lease holders"))?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }

    async fn check_writable(&self) -> Result<(), ServerError> {
        let mut pooled = self.pool.get(Commit::Durable).await?;
        let row = pooled
            .client()
            .query_one(
                "SELECT pg_is_in_recovery() OR current_setting('transaction_read_only') = 'on'",
                &[],
            )
            .await
            .map_err(store_error("the store is not writable"))?;
        if row.get::<_, bool>(0) {
            return Err(ServerError::Store(
                "the store is not writable: the database is read-only (a standby?)".into(),
            ));
        }
        Ok(())
    }
}
