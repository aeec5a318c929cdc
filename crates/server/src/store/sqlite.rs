//! The embedded store: one SQLite file in WAL mode with `synchronous=FULL`, so a commit is on
//! disk when it returns.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::{Accepted, ClaimedJob, Finish, JobRow, JobState, NewEvent, RetryTarget, Step, Store};
use crate::ServerError;

/// The schema's version, kept in `PRAGMA user_version`.
const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS events (
    id              INTEGER PRIMARY KEY,
    organization_id TEXT    NOT NULL,
    report_id       TEXT    NOT NULL,
    upload_nanos    INTEGER NOT NULL,
    report          TEXT    NOT NULL,
    received_at     INTEGER NOT NULL,
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
";

/// A [`Store`] in one SQLite file.
pub struct SqliteStore {
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

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish()
    }
}

fn store_error(context: &str) -> impl Fn(rusqlite::Error) -> ServerError + '_ {
    move |e| ServerError::Store(format!("{context}: {e}"))
}

impl SqliteStore {
    /// Opens (creating if needed) the store at `path`: WAL, `synchronous=FULL`, foreign keys on,
    /// a busy timeout so the CLI's `jobs` commands can work beside a running server.
    pub fn open(path: &Path) -> Result<Self, ServerError> {
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
    pub fn checkpoint_in_background(
        &self,
        interval: std::time::Duration,
    ) -> Result<(), ServerError> {
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

    /// The database file.
    pub fn path(&self) -> &Path {
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

fn accept_one(
    tx: &Connection,
    events: &[NewEvent],
    steps: &[Step],
    now: i64,
) -> rusqlite::Result<Accepted> {
    let mut accepted = Accepted::default();
    let mut insert_event = tx.prepare_cached(
        "INSERT INTO events (organization_id, report_id, upload_nanos, report, received_at)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (organization_id, report_id, upload_nanos) DO NOTHING",
    )?;
    let mut insert_job = tx.prepare_cached(
        "INSERT INTO jobs (event_id, step, after_job, state, next_attempt_at, updated_at)
         VALUES (?1, ?2, ?3, CASE WHEN ?3 IS NULL THEN 'pending' ELSE 'waiting' END, ?4, ?4)",
    )?;
    for event in events {
        let inserted = insert_event.execute(params![
            event.organization_id,
            event.report_id,
            event.upload_nanos,
            event.report,
            now
        ])?;
        if inserted == 0 {
            accepted.duplicates += 1;
            continue;
        }
        accepted.new += 1;
        let event_id = tx.last_insert_rowid();
        let mut first: Option<i64> = None;
        for step in steps {
            insert_job.execute(params![event_id, step.as_str(), first, now])?;
            if first.is_none() {
                first = Some(tx.last_insert_rowid());
            }
        }
    }
    Ok(accepted)
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

fn state_of(text: &str) -> rusqlite::Result<JobState> {
    JobState::parse(text).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Text,
            format!("unknown job state `{text}`").into(),
        )
    })
}

impl Store for SqliteStore {
    fn accept(
        &self,
        deliveries: &[Vec<NewEvent>],
        steps: &[Step],
        now: i64,
    ) -> Vec<Result<Accepted, ServerError>> {
        let fail_all = |e: rusqlite::Error| {
            deliveries
                .iter()
                .map(|_| {
                    Err(ServerError::Store(format!(
                        "cannot record the delivery: {e}"
                    )))
                })
                .collect()
        };
        let mut connection = self.lock(Durability::Full);
        let mut tx = match connection.transaction_with_behavior(TransactionBehavior::Immediate) {
            Ok(tx) => tx,
            Err(e) => return fail_all(e),
        };
        let mut results = Vec::with_capacity(deliveries.len());
        for events in deliveries {
            // One savepoint per delivery: a failure undoes that delivery's writes only.
            let outcome = tx.savepoint().and_then(|sp| {
                let accepted = accept_one(&sp, events, steps, now)?;
                sp.commit()?;
                Ok(accepted)
            });
            results.push(
                outcome.map_err(|e| ServerError::Store(format!("cannot record the delivery: {e}"))),
            );
        }
        match tx.commit() {
            Ok(()) => results,
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
                                e.organization_id, e.report, e.upload_nanos
                         FROM jobs j JOIN events e ON e.id = j.event_id
                         WHERE j.state = 'running' AND j.lease_until < ?1
                         LIMIT ?2)
                     UNION ALL
                     SELECT * FROM (
                         SELECT j.id, j.step, j.attempts, j.state, j.interrupted, e.id,
                                e.organization_id, e.report, e.upload_nanos
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
                            id: r.get(0)?,
                            step: step_of(&r.get::<_, String>(1)?)?,
                            attempt: r.get::<_, u32>(2)?.saturating_add(1),
                            recovered: state == "running" || interrupted != 0,
                            event_id: r.get(5)?,
                            organization_id: r.get(6)?,
                            report: r.get(7)?,
                            upload_nanos: r.get(8)?,
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
                take.execute(params![job.id, owner, now.saturating_add(lease_ms), now])
                    .map_err(&error)?;
            }
        }
        tx.commit().map_err(&error)?;
        Ok(claimed)
    }

    fn finish_many(
        &self,
        owner: &str,
        results: &[(i64, Finish<'_>)],
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
            for (job, finish) in results {
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

    fn output(&self, event_id: i64, step: Step) -> Result<Option<String>, ServerError> {
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

    fn record_effect(&self, job: i64, key: &str, now: i64) -> Result<(), ServerError> {
        self.lock(Durability::Process)
            .execute(
                "INSERT OR IGNORE INTO effects (job_id, key, at) VALUES (?1, ?2, ?3)",
                params![job, key, now],
            )
            .map(|_| ())
            .map_err(store_error("cannot record a side effect"))
    }

    fn effects(&self, job: i64) -> Result<Vec<(String, i64)>, ServerError> {
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
                        id: r.get(0)?,
                        event_id: r.get(12)?,
                        step: step_of(&r.get::<_, String>(1)?)?,
                        state,
                        attempts: r.get(3)?,
                        next_attempt_at: (state == JobState::Pending)
                            .then(|| r.get(4))
                            .transpose()?,
                        waiting_for: r.get(5)?,
                        last_error: r.get(6)?,
                        organization_id: r.get(7)?,
                        report_id: r.get(8)?,
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
            RetryTarget::Job(id) => {
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
                Err(ServerError::NotFound(match state.as_deref() {
                    None => format!("there is no job {id}"),
                    Some("running") => format!("job {id} is running; it cannot be retried now"),
                    Some("waiting") => {
                        format!("job {id} waits for the step before it; retry that job instead")
                    }
                    Some(other) => {
                        format!("job {id} is {other}; only dead or pending jobs can be retried")
                    }
                }))
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

    fn extend_leases(&self, owner: &str, jobs: &[i64], until: i64) -> Result<usize, ServerError> {
        let error = store_error("cannot extend leases");
        let mut connection = self.lock(Durability::Process);
        let tx = connection.transaction().map_err(&error)?;
        let mut extended = 0;
        for job in jobs {
            extended += tx
                .execute(
                    "UPDATE jobs SET lease_until = ?3
                     WHERE id = ?1 AND state = 'running' AND lease_owner = ?2",
                    params![job, owner, until],
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

    fn check_writable(&self) -> Result<(), ServerError> {
        let connection = self.read();
        connection
            .execute_batch("BEGIN IMMEDIATE; ROLLBACK;")
            .map_err(store_error("the store is not writable"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STEPS: [Step; 3] = Step::ALL;

    fn event(report: &str, upload: i64) -> NewEvent {
        NewEvent {
            organization_id: "org".into(),
            report_id: report.into(),
            upload_nanos: upload,
            report: "{}".into(),
        }
    }

    fn store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SqliteStore::open(&dir.path().join("store.db")).expect("opens");
        (dir, store)
    }

    #[test]
    fn an_event_is_recorded_once_and_an_update_is_a_new_event() {
        let (_dir, store) = store();
        let results = store.accept(
            &[
                vec![event("a", 1), event("b", 1)],
                vec![event("a", 1)],
                vec![event("a", 2)],
            ],
            &STEPS,
            10,
        );
        let accepted: Vec<Accepted> = results.into_iter().map(|r| r.expect("ok")).collect();
        assert_eq!(
            accepted,
            vec![
                Accepted {
                    new: 2,
                    duplicates: 0
                },
                Accepted {
                    new: 0,
                    duplicates: 1
                },
                Accepted {
                    new: 1,
                    duplicates: 0
                },
            ]
        );
        // Three events, three jobs each.
        let total: u64 = store.counts().expect("counts").iter().map(|c| c.2).sum();
        assert_eq!(total, 9);
        // Reopening finds them (the commit was durable, the schema is reused).
        let path = store.path().to_path_buf();
        drop(store);
        let store = SqliteStore::open(&path).expect("reopens");
        assert_eq!(store.list(None, 100).expect("lists").len(), 9);
    }

    #[test]
    fn later_steps_wait_for_the_first_and_a_lease_can_expire() {
        let (_dir, store) = store();
        store.accept(&[vec![event("a", 1)]], &STEPS, 0)[0]
            .as_ref()
            .expect("ok");
        let first = store.claim("w1", 0, 100, 10).expect("claims");
        assert_eq!(first.len(), 1, "only the gate is due: {first:?}");
        assert_eq!(first[0].step, Step::Gate);
        assert!(!first[0].recovered);
        // Nothing else is due while the gate runs.
        assert!(store.claim("w2", 50, 100, 10).expect("claims").is_empty());
        // The lease expires: another worker takes the job over, marked as recovered.
        let again = store.claim("w2", 101, 100, 10).expect("claims");
        assert_eq!(again.len(), 1);
        assert!(again[0].recovered);
        assert_eq!(again[0].attempt, 2);
        // The first worker's late answer is refused.
        assert!(
            !store
                .finish(first[0].id, "w1", Finish::Done { output: None }, 150)
                .expect("finishes")
        );
        assert!(
            store
                .finish(
                    again[0].id,
                    "w2",
                    Finish::Done {
                        output: Some("verdict")
                    },
                    150
                )
                .expect("finishes")
        );
        assert_eq!(
            store.output(again[0].event_id, Step::Gate).expect("reads"),
            Some("verdict".into())
        );
        let next = store.claim("w2", 200, 100, 10).expect("claims");
        let steps: Vec<Step> = next.iter().map(|j| j.step).collect();
        assert_eq!(steps, vec![Step::Notify, Step::Archive]);
    }

    #[test]
    fn a_dead_job_is_listed_and_retried_and_purge_keeps_unfinished_events() {
        let (_dir, store) = store();
        store.accept(
            &[vec![event("a", 1)], vec![event("b", 1)]],
            &[Step::Gate],
            0,
        );
        let jobs = store.claim("w", 0, 100, 10).expect("claims");
        assert_eq!(jobs.len(), 2);
        store
            .finish(
                jobs[0].id,
                "w",
                Finish::Failed {
                    error: "boom",
                    retry_at: None,
                },
                1,
            )
            .expect("finishes");
        store
            .finish(jobs[1].id, "w", Finish::Done { output: None }, 1)
            .expect("finishes");
        let dead = store.list(Some(JobState::Dead), 10).expect("lists");
        assert_eq!(dead.len(), 1);
        assert_eq!(dead[0].last_error.as_deref(), Some("boom"));
        assert_eq!(
            store.purge(1_000).expect("purges"),
            1,
            "only the done event"
        );
        assert_eq!(store.retry(RetryTarget::AllDead, 5).expect("retries"), 1);
        let again = store.claim("w", 5, 100, 10).expect("claims");
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].attempt, 1, "attempts start over");
        assert!(matches!(
            store.retry(RetryTarget::Job(999), 5),
            Err(ServerError::NotFound(_))
        ));
        // The claimed job is running: a retry is refused and does not take it from its worker.
        let refused = store
            .retry(RetryTarget::Job(again[0].id), 6)
            .expect_err("running");
        assert!(refused.to_string().contains("is running"), "{refused}");
        let running = store.list(Some(JobState::Running), 10).expect("lists");
        assert_eq!(running.len(), 1);
        assert_eq!(running[0].attempts, 1, "the claim is untouched");
    }

    #[test]
    fn leases_of_a_previous_process_are_released_and_marked() {
        let (_dir, store) = store();
        store.accept(&[vec![event("a", 1)]], &[Step::Gate], 0);
        store.claim("old", 0, 1_000_000, 1).expect("claims");
        assert_eq!(store.release_stale_leases("new").expect("releases"), 1);
        let job = store.claim("new", 1, 100, 1).expect("claims");
        assert!(job[0].recovered);
    }

    #[test]
    fn a_file_that_is_not_a_store_is_refused_with_its_name() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("not-a-db");
        std::fs::write(
            &path,
            b"this is plain text, not SQLite, and long enough to matter",
        )
        .expect("writes");
        let error = SqliteStore::open(&path).expect_err("refused").to_string();
        assert!(error.contains("not-a-db"), "{error}");
        let missing = SqliteStore::open(&dir.path().join("no/such/folder/x.db"))
            .expect_err("refused")
            .to_string();
        assert!(missing.contains("does not exist"), "{missing}");
    }
}
