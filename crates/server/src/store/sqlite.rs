//! The embedded store: one SQLite file in WAL mode with `synchronous=FULL`, so a commit is on
//! disk when it returns.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::{
    Accepted, AcceptedBatch, ClaimedJob, EventKey, EventRowId, Finish, JobId, JobRow, JobState,
    Lease, NewEvent, RetryTarget, Role, Step, Store, retry_refusal,
};
use crate::ServerError;

/// The schema's version, kept in `PRAGMA user_version`.
const SCHEMA_VERSION: i64 = 3;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS events (
    id              INTEGER PRIMARY KEY,
    organization_id TEXT    NOT NULL,
    report_id       TEXT    NOT NULL,
    upload_nanos    INTEGER NOT NULL,
    report          TEXT    NOT NULL,
    received_at     INTEGER NOT NULL,
    delivery        TEXT,
    UNIQUE (organization_id, report_id, upload_nanos)
);
CREATE TABLE IF NOT EXISTS jobs (
    id              INTEGER PRIMARY KEY,
    event_id        INTEGER NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    step            TEXT    NOT NULL,
    after_job       INTEGER REFERENCES jobs (id) ON DELETE CASCADE,
    state           TEXT    NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    lease_owner     TEXT,
    lease_until     INTEGER,
    interrupted     INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    output          TEXT,
    updated_at      INTEGER NOT NULL,
    UNIQUE (event_id, step)
);
CREATE INDEX IF NOT EXISTS jobs_due ON jobs (state, next_attempt_at);
CREATE INDEX IF NOT EXISTS jobs_after ON jobs (after_job);
CREATE TABLE IF NOT EXISTS effects (
    job_id INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    key    TEXT    NOT NULL,
    at     INTEGER NOT NULL,
    PRIMARY KEY (job_id, key)
);
CREATE TABLE IF NOT EXISTS jira_issues (
    channel   TEXT    NOT NULL,
    label     TEXT    NOT NULL,
    issue_key TEXT    NOT NULL,
    at        INTEGER NOT NULL,
    PRIMARY KEY (channel, label)
);
";

/// The SQLite file and its connection: the blocking half of [`SqliteStore`].
struct Sqlite {
    path: PathBuf,
    connection: Mutex<Held>,
    /// Dropping it stops the background checkpointer, if one was started.
    checkpointer: Mutex<Option<std::sync::mpsc::Sender<()>>>,
}

/// The connection and its current `synchronous` setting.
struct Held {
    connection: Connection,
    full: bool,
}

/// How durable a write must be.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Durability {
    /// On disk when the commit returns (`synchronous=FULL`): accepting deliveries, and what an
    /// operator does (retry, purge).
    Full,
    /// Safe from a process crash, possibly not from a power cut (`synchronous=NORMAL` in WAL
    /// mode): job bookkeeping, whose loss re-runs an idempotent step. The next FULL commit makes
    /// it durable too, as the log is written in order.
    Process,
}

impl std::fmt::Debug for Sqlite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sqlite").field("path", &self.path).finish()
    }
}

fn store_error(context: &str) -> impl Fn(rusqlite::Error) -> ServerError + '_ {
    move |e| ServerError::Store(format!("{context}: {e}"))
}

impl Sqlite {
    /// Opens (creating if needed) the store at `path`: WAL, `synchronous=FULL`, foreign keys on,
    /// a busy timeout so the CLI's `jobs` commands can work beside a running server.
    fn open(path: &Path) -> Result<Self, ServerError> {
        if let Some(parent) = path.parent()
            && !parent.as_os_str().is_empty()
            && !parent.is_dir()
        {
            return Err(ServerError::Store(format!(
                "cannot open {}: the folder {} does not exist",
                path.display(),
                parent.display()
            )));
        }
        let open_error =
            |e: rusqlite::Error| ServerError::Store(format!("cannot open {}: {e}", path.display()));
        let connection = Connection::open(path).map_err(open_error)?;
        connection
            .busy_timeout(std::time::Duration::from_secs(10))
            .map_err(open_error)?;
        let mode: String = connection
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(open_error)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(ServerError::Store(format!(
                "{} cannot use write-ahead logging (journal mode is {mode})",
                path.display()
            )));
        }
        connection
            .execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")
            .map_err(open_error)?;
        let version: i64 = connection
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(open_error)?;
        if version > SCHEMA_VERSION {
            return Err(ServerError::Store(format!(
                "{} was written by a newer procurize (schema {version}, this one knows {SCHEMA_VERSION})",
                path.display()
            )));
        }
        connection
            .execute_batch(SCHEMA)
            // Schema 3 keeps each event's delivery body; older stores gain the column (their
            // events have none).
            .and_then(|()| match version {
                1 | 2 => connection.execute_batch("ALTER TABLE events ADD COLUMN delivery TEXT"),
                _ => Ok(()),
            })
            .and_then(|()| {
                connection.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION}"))
            })
            .map_err(|e| {
                ServerError::Store(format!(
                    "{} is not a procurize store, or cannot be written: {e}",
                    path.display()
                ))
            })?;
        Ok(Self {
            path: path.to_path_buf(),
            connection: Mutex::new(Held {
                connection,
                full: true,
            }),
            checkpointer: Mutex::new(None),
        })
    }

    /// Moves WAL checkpoints (copying the log into the database file, with its own `fsync`) off
    /// the commit path: a thread with its own connection runs a passive checkpoint every
    /// `interval`, and commits no longer checkpoint. For the server; the thread stops when the
    /// store is dropped.
    fn checkpoint_in_background(&self, interval: std::time::Duration) -> Result<(), ServerError> {
        let error = |e: rusqlite::Error| {
            ServerError::Store(format!(
                "cannot start checkpointing {}: {e}",
                self.path.display()
            ))
        };
        let connection = Connection::open(&self.path).map_err(error)?;
        connection
            .busy_timeout(std::time::Duration::from_secs(10))
            .map_err(error)?;
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        std::thread::Builder::new()
            .name("procurize-checkpoint".into())
            .spawn(move || {
                while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                    stopped.recv_timeout(interval)
                {
                    if let Err(e) =
                        connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
                    {
                        tracing::warn!("checkpoint failed: {e}");
                    }
                }
            })
            .map_err(|e| {
                ServerError::Store(format!("cannot start the checkpointing thread: {e}"))
            })?;
        self.read()
            .execute_batch("PRAGMA wal_autocheckpoint = 0")
            .map_err(error)?;
        *self
            .checkpointer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(stop);
        Ok(())
    }

    fn path(&self) -> &Path {
        &self.path
    }

    /// The connection, set for `durability`. A panic while holding the lock cannot leave a
    /// transaction open (rusqlite rolls back on drop), so a poisoned lock is still usable.
    fn lock(&self, durability: Durability) -> ConnectionGuard<'_> {
        let mut held = self
            .connection
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let full = durability == Durability::Full;
        if held.full != full {
            let pragma = if full {
                "PRAGMA synchronous = FULL"
            } else {
                "PRAGMA synchronous = NORMAL"
            };
            // If it cannot be changed, the setting stays FULL-or-stricter from `open`, or the
            // next use tries again; never less durable than asked for accepting deliveries.
            if held.connection.execute_batch(pragma).is_ok() {
                held.full = full;
            }
        }
        ConnectionGuard(held)
    }

    /// The connection for reading, its setting left as it is.
    fn read(&self) -> ConnectionGuard<'_> {
        ConnectionGuard(
            self.connection
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }
}

/// The locked connection.
struct ConnectionGuard<'a>(std::sync::MutexGuard<'a, Held>);

impl std::ops::Deref for ConnectionGuard<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        &self.0.connection
    }
}

impl std::ops::DerefMut for ConnectionGuard<'_> {
    fn deref_mut(&mut self) -> &mut Connection {
        &mut self.0.connection
    }
}

/// Records one delivery; the first jobs of its new events are leased while `room` lasts
/// (`room` is the lease's limit left for this delivery).
fn accept_one(
    tx: &Connection,
    events: &[NewEvent],
    steps: &[Step],
    now: i64,
    lease: Option<(Lease<'_>, usize)>,
) -> rusqlite::Result<(Accepted, Vec<ClaimedJob>)> {
    let mut accepted = Accepted::default();
    let mut leased = Vec::new();
    let mut insert_event = tx.prepare_cached(
        "INSERT INTO events (organization_id, report_id, upload_nanos, report, received_at,
                             delivery)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (organization_id, report_id, upload_nanos) DO NOTHING",
    )?;
    let mut insert_job = tx.prepare_cached(
        "INSERT INTO jobs (event_id, step, after_job, state, next_attempt_at, updated_at)
         VALUES (?1, ?2, ?3, CASE WHEN ?3 IS NULL THEN 'pending' ELSE 'waiting' END, ?4, ?4)",
    )?;
    let mut insert_leased = tx.prepare_cached(
        "INSERT INTO jobs (event_id, step, state, attempts, next_attempt_at, lease_owner,
                           lease_until, updated_at)
         VALUES (?1, ?2, 'running', 1, ?3, ?4, ?5, ?3)",
    )?;
    for event in events {
        let inserted = insert_event.execute(params![
            event.key.organization_id.to_string(),
            event.key.report_id.to_string(),
            event.key.upload_nanos,
            event.report,
            now,
            &*event.delivery
        ])?;
        if inserted == 0 {
            accepted.duplicates += 1;
            continue;
        }
        accepted.new += 1;
        let event_id = tx.last_insert_rowid();
        let mut first: Option<i64> = None;
        for step in steps {
            match (first, lease) {
                (None, Some((lease, room))) if leased.len() < room => {
                    insert_leased.execute(params![
                        event_id,
                        step.as_str(),
                        now,
                        lease.owner,
                        lease.until
                    ])?;
                    leased.push(ClaimedJob {
                        id: JobId(tx.last_insert_rowid()),
                        step: *step,
                        attempt: 1,
                        recovered: false,
                        event: EventRowId(event_id),
                        key: event.key,
                        report: event.report.clone(),
                    });
                }
                _ => {
                    insert_job.execute(params![event_id, step.as_str(), first, now])?;
                }
            }
            if first.is_none() {
                first = Some(tx.last_insert_rowid());
            }
        }
    }
    Ok((accepted, leased))
}

fn step_of(text: &str) -> rusqlite::Result<Step> {
    Step::parse(text).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Text,
            format!("unknown step `{text}`").into(),
        )
    })
}

fn uuid_of(text: &str) -> rusqlite::Result<procurize_core::Uuid> {
    text.parse().map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Text,
            format!("stored identifier `{text}` is not a UUID: {e}").into(),
        )
    })
}

fn state_of(text: &str) -> rusqlite::Result<JobState> {
    JobState::parse(text).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Text,
            format!("unknown job state `{text}`").into(),
        )
    })
}

impl Sqlite {
    fn accept(
        &self,
        deliveries: &[Vec<NewEvent>],
        steps: &[Step],
        now: i64,
        lease: Option<Lease<'_>>,
    ) -> AcceptedBatch {
        let fail_all = |e: rusqlite::Error| AcceptedBatch {
            deliveries: deliveries
                .iter()
                .map(|_| {
                    Err(ServerError::Store(format!(
                        "cannot record the delivery: {e}"
                    )))
                })
                .collect(),
            leased: Vec::new(),
        };
        let mut connection = self.lock(Durability::Full);
        let mut tx = match connection.transaction_with_behavior(TransactionBehavior::Immediate) {
            Ok(tx) => tx,
            Err(e) => return fail_all(e),
        };
        let mut results = Vec::with_capacity(deliveries.len());
        let mut leased = Vec::new();
        for events in deliveries {
            let room = lease.map(|l| (l, l.limit.saturating_sub(leased.len())));
            // One savepoint per delivery: a failure undoes that delivery's writes only.
            let outcome = tx.savepoint().and_then(|sp| {
                let accepted = accept_one(&sp, events, steps, now, room)?;
                sp.commit()?;
                Ok(accepted)
            });
            results.push(
                outcome
                    .map(|(accepted, jobs)| {
                        leased.extend(jobs);
                        accepted
                    })
                    .map_err(|e| ServerError::Store(format!("cannot record the delivery: {e}"))),
            );
        }
        match tx.commit() {
            Ok(()) => AcceptedBatch {
                deliveries: results,
                leased,
            },
            Err(e) => fail_all(e),
        }
    }

    fn claim(
        &self,
        owner: &str,
        now: i64,
        lease_ms: i64,
        limit: usize,
    ) -> Result<Vec<ClaimedJob>, ServerError> {
        let error = store_error("cannot claim jobs");
        let mut connection = self.lock(Durability::Process);
        let tx = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&error)?;
        let claimed = {
            let mut due = tx
                .prepare_cached(
                    // Expired leases first, then due jobs in order of the index: the scan
                    // stops after `limit` rows however long the queue is.
                    "SELECT * FROM (
                         SELECT j.id, j.step, j.attempts, j.state, j.interrupted, e.id,
                                        e.organization_id, e.report_id, e.upload_nanos, e.report
                         FROM jobs j JOIN events e ON e.id = j.event_id
                         WHERE j.state = 'running' AND j.lease_until < ?1
                         LIMIT ?2)
                     UNION ALL
                     SELECT * FROM (
                         SELECT j.id, j.step, j.attempts, j.state, j.interrupted, e.id,
                                e.organization_id, e.report_id, e.upload_nanos, e.report
                         FROM jobs j INDEXED BY jobs_due JOIN events e ON e.id = j.event_id
                         WHERE j.state = 'pending' AND j.next_attempt_at <= ?1
                         ORDER BY j.next_attempt_at
                         LIMIT ?2)
                     LIMIT ?2",
                )
                .map_err(&error)?;
            let rows = due
                .query_map(
                    params![now, i64::try_from(limit).unwrap_or(i64::MAX)],
                    |r| {
                        let state: String = r.get(3)?;
                        let interrupted: i64 = r.get(4)?;
                        Ok(ClaimedJob {
                            id: JobId(r.get(0)?),
                            step: step_of(&r.get::<_, String>(1)?)?,
                            attempt: r.get::<_, u32>(2)?.saturating_add(1),
                            recovered: state == "running" || interrupted != 0,
                            event: EventRowId(r.get(5)?),
                            key: EventKey {
                                organization_id: uuid_of(&r.get::<_, String>(6)?)?,
                                report_id: uuid_of(&r.get::<_, String>(7)?)?,
                                upload_nanos: r.get(8)?,
                            },
                            report: r.get(9)?,
                        })
                    },
                )
                .map_err(&error)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(&error)?
        };
        {
            let mut take = tx
                .prepare_cached(
                    "UPDATE jobs SET state = 'running', attempts = attempts + 1, lease_owner = ?2,
                            lease_until = ?3, interrupted = 0, updated_at = ?4
                     WHERE id = ?1",
                )
                .map_err(&error)?;
            for job in &claimed {
                take.execute(params![job.id.0, owner, now.saturating_add(lease_ms), now])
                    .map_err(&error)?;
            }
        }
        tx.commit().map_err(&error)?;
        Ok(claimed)
    }

    fn finish_many(
        &self,
        owner: &str,
        results: &[(JobId, Finish)],
        now: i64,
    ) -> Result<Vec<bool>, ServerError> {
        let error = store_error("cannot record a job's result");
        let mut connection = self.lock(Durability::Process);
        let tx = connection.transaction().map_err(&error)?;
        let mut recorded = Vec::with_capacity(results.len());
        {
            let mut done = tx
                .prepare_cached(
                    "UPDATE jobs SET state = 'done', output = ?3, lease_owner = NULL,
                            lease_until = NULL, last_error = NULL, updated_at = ?4
                     WHERE id = ?1 AND state = 'running' AND lease_owner = ?2",
                )
                .map_err(&error)?;
            let mut failed = tx
                .prepare_cached(
                    "UPDATE jobs SET state = ?3, next_attempt_at = ?4, last_error = ?5,
                            lease_owner = NULL, lease_until = NULL, updated_at = ?6
                     WHERE id = ?1 AND state = 'running' AND lease_owner = ?2",
                )
                .map_err(&error)?;
            let mut release = tx
                .prepare_cached(
                    "UPDATE jobs SET state = 'pending', attempts = MAX(attempts - 1, 0),
                            lease_owner = NULL, lease_until = NULL, updated_at = ?3
                     WHERE id = ?1 AND state = 'running' AND lease_owner = ?2",
                )
                .map_err(&error)?;
            let mut follow = tx
                .prepare_cached(
                    "UPDATE jobs SET state = 'pending', next_attempt_at = ?2, updated_at = ?2
                     WHERE after_job = ?1 AND state = 'waiting'",
                )
                .map_err(&error)?;
            for (JobId(job), finish) in results {
                let changed = match finish {
                    Finish::Done { output } => done
                        .execute(params![job, owner, output, now])
                        .and_then(|changed| {
                            if changed == 1 {
                                follow.execute(params![job, now])?;
                            }
                            Ok(changed)
                        }),
                    Finish::Failed {
                        error: reason,
                        retry_at,
                    } => failed.execute(params![
                        job,
                        owner,
                        if retry_at.is_some() {
                            "pending"
                        } else {
                            "dead"
                        },
                        retry_at.unwrap_or(now),
                        reason,
                        now
                    ]),
                    Finish::Release => release.execute(params![job, owner, now]),
                }
                .map_err(&error)?;
                recorded.push(changed == 1);
            }
        }
        tx.commit().map_err(&error)?;
        Ok(recorded)
    }

    fn output(
        &self,
        EventRowId(event_id): EventRowId,
        step: Step,
    ) -> Result<Option<String>, ServerError> {
        self.read()
            .query_row(
                "SELECT output FROM jobs WHERE event_id = ?1 AND step = ?2 AND state = 'done'",
                params![event_id, step.as_str()],
                |r| r.get::<_, Option<String>>(0),
            )
            .optional()
            .map(Option::flatten)
            .map_err(store_error("cannot read a step's output"))
    }

    fn delivery(&self, EventRowId(event_id): EventRowId) -> Result<Option<String>, ServerError> {
        self.read()
            .query_row(
                "SELECT delivery FROM events WHERE id = ?1",
                params![event_id],
                |r| r.get::<_, Option<String>>(0),
            )
            .optional()
            .map(Option::flatten)
            .map_err(store_error("cannot read an event's delivery"))
    }

    fn record_effect(&self, JobId(job): JobId, key: &str, now: i64) -> Result<(), ServerError> {
        self.lock(Durability::Process)
            .execute(
                "INSERT OR IGNORE INTO effects (job_id, key, at) VALUES (?1, ?2, ?3)",
                params![job, key, now],
            )
            .map(|_| ())
            .map_err(store_error("cannot record a side effect"))
    }

    fn effects(&self, JobId(job): JobId) -> Result<Vec<(String, i64)>, ServerError> {
        let error = store_error("cannot read side effects");
        let connection = self.read();
        let mut statement = connection
            .prepare_cached("SELECT key, at FROM effects WHERE job_id = ?1 ORDER BY key")
            .map_err(&error)?;
        let rows = statement
            .query_map(params![job], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(&error)?;
        rows.collect::<Result<_, _>>().map_err(&error)
    }

    fn list(&self, state: Option<JobState>, limit: usize) -> Result<Vec<JobRow>, ServerError> {
        let error = store_error("cannot list jobs");
        let connection = self.read();
        let mut statement = connection
            .prepare_cached(
                "SELECT j.id, j.step, j.state, j.attempts, j.next_attempt_at,
                        CASE WHEN j.state = 'waiting' THEN j.after_job END,
                        j.last_error, e.organization_id, e.report_id, e.upload_nanos,
                        e.received_at, j.updated_at, j.event_id
                 FROM jobs j
                 JOIN events e ON e.id = j.event_id
                 WHERE ?1 IS NULL OR j.state = ?1
                 ORDER BY j.id DESC
                 LIMIT ?2",
            )
            .map_err(&error)?;
        let rows = statement
            .query_map(
                params![
                    state.map(JobState::as_str),
                    i64::try_from(limit).unwrap_or(i64::MAX)
                ],
                |r| {
                    let state = state_of(&r.get::<_, String>(2)?)?;
                    Ok(JobRow {
                        id: JobId(r.get(0)?),
                        event_id: EventRowId(r.get(12)?),
                        step: step_of(&r.get::<_, String>(1)?)?,
                        state,
                        attempts: r.get(3)?,
                        next_attempt_at: (state == JobState::Pending)
                            .then(|| r.get(4))
                            .transpose()?,
                        waiting_for: r.get::<_, Option<i64>>(5)?.map(JobId),
                        last_error: r.get(6)?,
                        organization_id: uuid_of(&r.get::<_, String>(7)?)?,
                        report_id: uuid_of(&r.get::<_, String>(8)?)?,
                        upload_nanos: r.get(9)?,
                        received_at: r.get(10)?,
                        updated_at: r.get(11)?,
                    })
                },
            )
            .map_err(&error)?;
        rows.collect::<Result<_, _>>().map_err(&error)
    }

    fn retry(&self, target: RetryTarget, now: i64) -> Result<usize, ServerError> {
        let error = store_error("cannot retry jobs");
        let connection = self.lock(Durability::Full);
        match target {
            RetryTarget::Job(job) => {
                let id = job.0;
                // One conditional statement: a worker claiming the job between a read and a
                // write (another process on the same file) cannot have its claim reset.
                let changed = connection
                    .execute(
                        "UPDATE jobs SET state = 'pending', attempts = 0, next_attempt_at = ?2,
                                updated_at = ?2
                         WHERE id = ?1 AND state IN ('dead', 'pending')",
                        params![id, now],
                    )
                    .map_err(&error)?;
                if changed > 0 {
                    return Ok(changed);
                }
                let state: Option<String> = connection
                    .query_row("SELECT state FROM jobs WHERE id = ?1", params![id], |r| {
                        r.get(0)
                    })
                    .optional()
                    .map_err(&error)?;
                Err(retry_refusal(job, state.as_deref()))
            }
            RetryTarget::AllDead => connection
                .execute(
                    "UPDATE jobs SET state = 'pending', attempts = 0, next_attempt_at = ?1,
                            updated_at = ?1
                     WHERE state = 'dead'",
                    params![now],
                )
                .map_err(&error),
        }
    }

    fn purge(&self, before: i64) -> Result<usize, ServerError> {
        self.lock(Durability::Full)
            .execute(
                "DELETE FROM events
                 WHERE received_at < ?1
                   AND NOT EXISTS (SELECT 1 FROM jobs j
                                   WHERE j.event_id = events.id AND j.state != 'done')",
                params![before],
            )
            .map_err(store_error("cannot purge"))
    }

    fn counts(&self) -> Result<Vec<(Step, JobState, u64)>, ServerError> {
        let error = store_error("cannot count jobs");
        let connection = self.read();
        let mut statement = connection
            .prepare_cached("SELECT step, state, COUNT(*) FROM jobs GROUP BY step, state")
            .map_err(&error)?;
        let rows = statement
            .query_map([], |r| {
                Ok((
                    step_of(&r.get::<_, String>(0)?)?,
                    state_of(&r.get::<_, String>(1)?)?,
                    // COUNT(*) is never negative.
                    r.get::<_, i64>(2)?.unsigned_abs(),
                ))
            })
            .map_err(&error)?;
        rows.collect::<Result<_, _>>().map_err(&error)
    }

    fn extend_leases(&self, owner: &str, jobs: &[JobId], until: i64) -> Result<usize, ServerError> {
        let error = store_error("cannot extend leases");
        let mut connection = self.lock(Durability::Process);
        let tx = connection.transaction().map_err(&error)?;
        let mut extended = 0;
        for job in jobs {
            extended += tx
                .execute(
                    "UPDATE jobs SET lease_until = ?3
                     WHERE id = ?1 AND state = 'running' AND lease_owner = ?2",
                    params![job.0, owner, until],
                )
                .map_err(&error)?;
        }
        tx.commit().map_err(&error)?;
        Ok(extended)
    }

    fn release_stale_leases(&self, owner: &str) -> Result<usize, ServerError> {
        self.lock(Durability::Process)
            .execute(
                "UPDATE jobs SET state = 'pending', interrupted = 1, lease_owner = NULL,
                        lease_until = NULL
                 WHERE state = 'running' AND lease_owner != ?1",
                params![owner],
            )
            .map_err(store_error("cannot release leases"))
    }

    /// Gives back leases that expired before `now` (another process may share the file).
    fn release_expired_leases(&self, now: i64) -> Result<usize, ServerError> {
        self.lock(Durability::Process)
            .execute(
                "UPDATE jobs SET state = 'pending', interrupted = 1, lease_owner = NULL,
                        lease_until = NULL
                 WHERE state = 'running' AND lease_until < ?1",
                params![now],
            )
            .map_err(store_error("cannot release leases"))
    }

    fn jira_issue(&self, channel: &str, label: &str) -> Result<Option<String>, ServerError> {
        self.read()
            .query_row(
                "SELECT issue_key FROM jira_issues WHERE channel = ?1 AND label = ?2",
                params![channel, label],
                |row| row.get(0),
            )
            .optional()
            .map_err(store_error("cannot read the Jira issue record"))
    }

    fn remember_jira_issue(
        &self,
        channel: &str,
        label: &str,
        key: &str,
        now: i64,
    ) -> Result<(), ServerError> {
        self.lock(Durability::Full)
            .execute(
                "INSERT INTO jira_issues (channel, label, issue_key, at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (channel, label) DO UPDATE SET issue_key = excluded.issue_key,
                                                            at = excluded.at",
                params![channel, label, key, now],
            )
            .map(|_| ())
            .map_err(store_error("cannot record a Jira issue"))
    }

    fn lease_holders(&self, now: i64) -> Result<Vec<String>, ServerError> {
        let error = store_error("cannot read the lease holders");
        let connection = self.read();
        let mut statement = connection
            .prepare_cached(
                "SELECT DISTINCT lease_owner FROM jobs
                 WHERE state = 'running' AND lease_until >= ?1 AND lease_owner IS NOT NULL",
            )
            .map_err(&error)?;
        let rows = statement
            .query_map(params![now], |row| row.get(0))
            .map_err(&error)?;
        rows.collect::<Result<_, _>>().map_err(&error)
    }

    fn check_writable(&self) -> Result<(), ServerError> {
        let connection = self.read();
        connection
            .execute_batch("BEGIN IMMEDIATE; ROLLBACK;")
            .map_err(store_error("the store is not writable"))
    }
}

/// A [`Store`] in one SQLite file (WAL, `synchronous=FULL`), for one server process.
///
/// Opened as a [`Role::Server`] it holds the file's server lock (`<file>.lock`), so no second
/// server can use the file and every lease found at start-up belongs to a stopped process; and it
/// checkpoints the log on a background thread instead of on the commit path. Opened as
/// [`Role::Admin`] (the `jobs` commands, `--check-config`) it takes neither.
pub struct SqliteStore {
    inner: Arc<Sqlite>,
    /// The server lock, held while the store is open in the server role.
    _lock: Option<File>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.inner.path)
            .field("locked", &self._lock.is_some())
            .finish()
    }
}

/// Takes the store's server lock (`<store>.lock`): one server process per SQLite store, so its
/// leases can be released safely at start-up.
fn lock_store(path: &Path) -> Result<File, ServerError> {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    let lock_path = PathBuf::from(name);
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| ServerError::Store(format!("cannot open {}: {e}", lock_path.display())))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(ServerError::Store(format!(
            "another server is using {} (its lock {} is held)",
            path.display(),
            lock_path.display()
        ))),
        Err(std::fs::TryLockError::Error(e)) => Err(ServerError::Store(format!(
            "cannot lock {}: {e}",
            lock_path.display()
        ))),
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the store at `path` for `role` (blocking).
    pub fn open_as(path: &Path, role: Role) -> Result<Self, ServerError> {
        let inner = Sqlite::open(path)?;
        let lock = match role {
            Role::Server => {
                let lock = lock_store(path)?;
                inner.checkpoint_in_background(std::time::Duration::from_millis(500))?;
                Some(lock)
            }
            Role::Admin => None,
        };
        Ok(Self {
            inner: Arc::new(inner),
            _lock: lock,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        self.inner.path()
    }

    /// Runs `work` on a blocking thread with the connection.
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Sqlite) -> Result<T, ServerError> + Send + 'static,
    ) -> Result<T, ServerError> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || work(&inner))
            .await
            .map_err(|e| ServerError::Store(format!("a store task failed: {e}")))?
    }
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    fn describe(&self) -> String {
        format!("sqlite {}, schema {SCHEMA_VERSION}", self.path().display())
    }

    fn exclusive(&self) -> bool {
        self._lock.is_some()
    }

    async fn accept_leasing(
        &self,
        deliveries: Vec<Vec<NewEvent>>,
        steps: &[Step],
        now: i64,
        lease: Option<Lease<'_>>,
    ) -> AcceptedBatch {
        let (count, steps) = (deliveries.len(), steps.to_vec());
        let inner = self.inner.clone();
        let lease = lease.map(|l| (l.owner.to_owned(), l.until, l.limit));
        let accepted = tokio::task::spawn_blocking(move || {
            let lease = lease.as_ref().map(|(owner, until, limit)| Lease {
                owner,
                until: *until,
                limit: *limit,
            });
            inner.accept(&deliveries, &steps, now, lease)
        })
        .await;
        accepted.unwrap_or_else(|e| AcceptedBatch {
            deliveries: (0..count)
                .map(|_| Err(ServerError::Store(format!("a store task failed: {e}"))))
                .collect(),
            leased: Vec::new(),
        })
    }

    async fn claim(
        &self,
        owner: &str,
        now: i64,
        lease_ms: i64,
        limit: usize,
    ) -> Result<Vec<ClaimedJob>, ServerError> {
        let owner = owner.to_owned();
        self.blocking(move |db| db.claim(&owner, now, lease_ms, limit))
            .await
    }

    async fn extend_leases(
        &self,
        owner: &str,
        jobs: &[JobId],
        until: i64,
    ) -> Result<usize, ServerError> {
        let (owner, jobs) = (owner.to_owned(), jobs.to_vec());
        self.blocking(move |db| db.extend_leases(&owner, &jobs, until))
            .await
    }

    async fn finish_many(
        &self,
        owner: &str,
        results: Vec<(JobId, Finish)>,
        now: i64,
    ) -> Result<Vec<bool>, ServerError> {
        let owner = owner.to_owned();
        self.blocking(move |db| db.finish_many(&owner, &results, now))
            .await
    }

    async fn output(&self, event: EventRowId, step: Step) -> Result<Option<String>, ServerError> {
        self.blocking(move |db| db.output(event, step)).await
    }

    async fn delivery(&self, event: EventRowId) -> Result<Option<String>, ServerError> {
        self.blocking(move |db| db.delivery(event)).await
    }

    async fn record_effect(&self, job: JobId, key: &str, now: i64) -> Result<(), ServerError> {
        let key = key.to_owned();
        self.blocking(move |db| db.record_effect(job, &key, now))
            .await
    }

    async fn effects(&self, job: JobId) -> Result<Vec<(String, i64)>, ServerError> {
        self.blocking(move |db| db.effects(job)).await
    }

    async fn list(
        &self,
        state: Option<JobState>,
        limit: usize,
    ) -> Result<Vec<JobRow>, ServerError> {
        self.blocking(move |db| db.list(state, limit)).await
    }

    async fn retry(&self, target: RetryTarget, now: i64) -> Result<usize, ServerError> {
        self.blocking(move |db| db.retry(target, now)).await
    }

    async fn purge(&self, before: i64) -> Result<usize, ServerError> {
        self.blocking(move |db| db.purge(before)).await
    }

    async fn counts(&self) -> Result<Vec<(Step, JobState, u64)>, ServerError> {
        self.blocking(Sqlite::counts).await
    }

    async fn release_abandoned_leases(&self, owner: &str, now: i64) -> Result<usize, ServerError> {
        let owner = owner.to_owned();
        let exclusive = self.exclusive();
        self.blocking(move |db| {
            if exclusive {
                db.release_stale_leases(&owner)
            } else {
                db.release_expired_leases(now)
            }
        })
        .await
    }

    async fn jira_issue(&self, channel: &str, label: &str) -> Result<Option<String>, ServerError> {
        let (channel, label) = (channel.to_owned(), label.to_owned());
        self.blocking(move |db| db.jira_issue(&channel, &label))
            .await
    }

    async fn remember_jira_issue(
        &self,
        channel: &str,
        label: &str,
        key: &str,
        now: i64,
    ) -> Result<(), ServerError> {
        let (channel, label, key) = (channel.to_owned(), label.to_owned(), key.to_owned());
        self.blocking(move |db| db.remember_jira_issue(&channel, &label, &key, now))
            .await
    }

    async fn lease_holders(&self, now: i64) -> Result<Vec<String>, ServerError> {
        self.blocking(move |db| db.lease_holders(now)).await
    }

    async fn check_writable(&self) -> Result<(), ServerError> {
        self.blocking(Sqlite::check_writable).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_that_is_not_a_store_is_refused_with_its_name() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("not-a-db");
        std::fs::write(
            &path,
            b"this is plain text, not SQLite, and long enough to matter",
        )
        .expect("writes");
        let error = SqliteStore::open_as(&path, Role::Admin)
            .expect_err("refused")
            .to_string();
        assert!(error.contains("not-a-db"), "{error}");
        let missing = SqliteStore::open_as(&dir.path().join("no/such/folder/x.db"), Role::Admin)
            .expect_err("refused")
            .to_string();
        assert!(missing.contains("does not exist"), "{missing}");
    }

    #[test]
    fn a_second_server_on_the_same_file_is_refused_and_admin_handles_are_not() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("store.db");
        let server = SqliteStore::open_as(&path, Role::Server).expect("opens");
        assert!(server.exclusive());
        let second = SqliteStore::open_as(&path, Role::Server)
            .expect_err("locked")
            .to_string();
        assert!(second.contains("another server"), "{second}");
        let admin = SqliteStore::open_as(&path, Role::Admin).expect("opens beside it");
        assert!(!admin.exclusive());
    }
}
