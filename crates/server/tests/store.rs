//! One conformance suite for every store backend: each case runs against SQLite and against a
//! fresh PostgreSQL database (skipped outside CI without one), through the `Store` trait and the
//! factory the server uses.

mod support;

use std::collections::HashSet;
use std::sync::Arc;

use procurize_core::Uuid;
use procurize_server::ServerError;
use procurize_server::config::{SqliteConfig, StoreConfig};
use procurize_server::store::{
    self, Accepted, EventKey, Finish, JobId, JobState, Lease, NewEvent, RetryTarget, Role, Step,
    Store,
};
use support::postgres as pg;

/// A store under test and what reopens it.
struct Fixture {
    config: StoreConfig,
    store: Arc<dyn Store>,
    /// The database's password, for PostgreSQL.
    password: Option<String>,
    _keep: Box<dyn std::any::Any + Send>,
}

impl Fixture {
    async fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = StoreConfig::Sqlite(SqliteConfig {
            path: dir.path().join("store.db"),
        });
        let store = store::open(&config, Role::Server).await.expect("opens");
        Self {
            config,
            store,
            password: None,
            _keep: Box::new(dir),
        }
    }

    async fn postgres(test: &str) -> Option<Self> {
        let database = pg::database(test).await?;
        let config = database.store_config();
        let store = store::open(&config, Role::Server).await.expect("opens");
        Some(Self {
            config,
            store,
            password: Some(database.password().to_owned()),
            _keep: Box::new(database),
        })
    }

    /// Another handle on the same store, as `procurize jobs` (SQLite) or a second replica
    /// (PostgreSQL) opens it.
    async fn another(&self) -> Arc<dyn Store> {
        store::open(&self.config, Role::Admin)
            .await
            .expect("opens again")
    }
}

/// Each case, once per backend.
macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(super::Fixture::sqlite().await).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    if let Some(fixture) = super::Fixture::postgres(stringify!($case)).await {
                        super::$case(fixture).await;
                    }
                }
            )*
        }
    };
}

conformance!(
    an_event_is_recorded_once_and_an_update_is_a_new_event,
    later_steps_wait_for_the_first_and_a_lease_can_expire,
    an_accept_leases_new_first_jobs_up_to_its_limit,
    a_late_finish_is_refused_and_changes_nothing,
    a_failed_attempt_is_due_at_its_retry_time_and_dead_after,
    a_released_job_is_due_again_without_counting_the_attempt,
    retry_is_conditional_and_names_the_state,
    purge_deletes_only_finished_events,
    a_heartbeat_keeps_the_lease,
    leases_are_released_at_start_only_when_abandoned,
    effects_are_recorded_once,
    lease_holders_are_the_owners_of_live_leases,
    a_batch_of_results_is_recorded_together,
    concurrent_claims_from_two_handles_never_share_a_job,
    the_store_describes_itself_without_secrets,
    an_event_keeps_the_body_of_the_delivery_that_brought_it,
);

const ORG: Uuid = Uuid::from_u128(0x0123_4567_89ab_4def_8123_4567_89ab_cdef);

fn event(report: u128, upload: i64) -> NewEvent {
    NewEvent {
        key: EventKey {
            organization_id: ORG,
            report_id: Uuid::from_u128(report),
            upload_nanos: upload,
        },
        report: format!(r#"{{"id":"{}"}}"#, Uuid::from_u128(report)),
        delivery: format!(
            r#"{{"reports": [ {{"id":"{}"}} ]}}"#,
            Uuid::from_u128(report)
        )
        .into(),
    }
}

async fn accept(
    store: &dyn Store,
    deliveries: Vec<Vec<NewEvent>>,
    steps: &[Step],
) -> Vec<Accepted> {
    store
        .accept(deliveries, steps, 0)
        .await
        .into_iter()
        .map(|r| r.expect("accepted"))
        .collect()
}

fn done() -> Finish {
    Finish::Done { output: None }
}

async fn total_jobs(store: &dyn Store) -> u64 {
    store
        .counts()
        .await
        .expect("counts")
        .iter()
        .map(|c| c.2)
        .sum()
}

async fn state_of(store: &dyn Store, job: JobId) -> JobState {
    let rows = store.list(None, 1_000).await.expect("lists");
    rows.iter()
        .find(|row| row.id == job)
        .unwrap_or_else(|| panic!("job {job} is not listed: {rows:?}"))
        .state
}

async fn an_event_keeps_the_body_of_the_delivery_that_brought_it(fixture: Fixture) {
    let store = &*fixture.store;
    let with = |mut event: NewEvent, body: &str| {
        event.delivery = body.into();
        event
    };
    // Two events of one delivery share its body; a later delivery of the same event (a
    // duplicate, with other bytes) changes nothing.
    let first = "{ \"reports\": [1, 2],\n  \"note\": \"会計 \\u00e9\" }  ";
    accept(
        store,
        vec![
            vec![with(event(1, 1), first), with(event(2, 1), first)],
            vec![with(event(3, 1), "{}")],
        ],
        &[Step::Gate],
    )
    .await;
    accept(
        store,
        vec![vec![with(event(1, 1), "{\"other\": true}")]],
        &[Step::Gate],
    )
    .await;
    let claimed = store
        .claim("me", i64::MAX / 2, 60_000, 10)
        .await
        .expect("claims");
    assert_eq!(claimed.len(), 3);
    for job in claimed {
        let expected = if job.key.report_id == Uuid::from_u128(3) {
            "{}"
        } else {
            first
        };
        let kept = store.delivery(job.event).await.expect("reads");
        assert_eq!(kept.as_deref(), Some(expected), "{}", job.key.report_id);
    }
    assert_eq!(
        store
            .delivery(procurize_server::store::EventRowId(i64::MAX))
            .await
            .expect("reads"),
        None,
        "an unknown event has no delivery"
    );
}

async fn an_event_is_recorded_once_and_an_update_is_a_new_event(fixture: Fixture) {
    let store = &*fixture.store;
    let accepted = accept(
        store,
        vec![
            vec![event(1, 1), event(2, 1)],
            vec![event(1, 1)],
            vec![event(1, 2)],
        ],
        &Step::ALL,
    )
    .await;
    let counts: Vec<(usize, usize)> = accepted.iter().map(|a| (a.new, a.duplicates)).collect();
    assert_eq!(counts, vec![(2, 0), (0, 1), (1, 0)]);
    assert_eq!(total_jobs(store).await, 9, "three events, three jobs each");
    // A later batch sees the earlier one's events as duplicates.
    let again = accept(store, vec![vec![event(2, 1), event(3, 1)]], &Step::ALL).await;
    assert_eq!((again[0].new, again[0].duplicates), (1, 1));
    // Another handle (reopening) finds everything: the commit was durable.
    drop(fixture.store.clone());
    let other = fixture.another().await;
    assert_eq!(other.list(None, 100).await.expect("lists").len(), 12);
    let waiting = other
        .list(Some(JobState::Waiting), 100)
        .await
        .expect("lists");
    assert_eq!(
        waiting.len(),
        8,
        "every step after the first waits: {waiting:?}"
    );
    assert!(waiting.iter().all(|row| row.waiting_for.is_some()));
}

async fn later_steps_wait_for_the_first_and_a_lease_can_expire(fixture: Fixture) {
    let store = &*fixture.store;
    accept(store, vec![vec![event(1, 1)]], &Step::ALL).await;
    let first = store.claim("w1", 0, 100, 10).await.expect("claims");
    assert_eq!(first.len(), 1, "only the gate is due: {first:?}");
    assert_eq!(first[0].step, Step::Gate);
    assert_eq!(first[0].attempt, 1);
    assert!(!first[0].recovered);
    assert_eq!(first[0].key, event(1, 1).key);
    assert_eq!(first[0].report, event(1, 1).report);
    assert!(
        store
            .claim("w2", 50, 100, 10)
            .await
            .expect("claims")
            .is_empty(),
        "nothing else is due while the gate runs"
    );
    // The lease expires: another worker takes the job over, marked as recovered.
    let again = store.claim("w2", 101, 100, 10).await.expect("claims");
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].id, first[0].id);
    assert!(again[0].recovered);
    assert_eq!(again[0].attempt, 2);
    let output = Finish::Done {
        output: Some("verdict".into()),
    };
    assert!(
        store
            .finish(again[0].id, "w2", output, 150)
            .await
            .expect("finishes")
    );
    assert_eq!(
        store
            .output(again[0].event, Step::Gate)
            .await
            .expect("reads"),
        Some("verdict".into())
    );
    assert_eq!(
        store
            .output(again[0].event, Step::Notify)
            .await
            .expect("reads"),
        None
    );
    let next = store.claim("w2", 200, 100, 10).await.expect("claims");
    let mut steps: Vec<Step> = next.iter().map(|j| j.step).collect();
    steps.sort();
    assert_eq!(steps, vec![Step::Notify, Step::Archive]);
}

async fn an_accept_leases_new_first_jobs_up_to_its_limit(fixture: Fixture) {
    let store = &*fixture.store;
    accept(store, vec![vec![event(9, 1)]], &Step::ALL).await;
    let lease = Lease {
        owner: "w1",
        until: 100,
        limit: 2,
    };
    let batch = store
        .accept_leasing(
            vec![
                vec![event(1, 1), event(9, 1)],
                vec![event(1, 1), event(2, 1)],
                vec![event(3, 1)],
            ],
            &Step::ALL,
            0,
            Some(lease),
        )
        .await;
    let counts: Vec<(usize, usize)> = batch
        .deliveries
        .iter()
        .map(|r| r.as_ref().map(|a| (a.new, a.duplicates)).expect("accepted"))
        .collect();
    assert_eq!(counts, vec![(1, 1), (1, 1), (1, 0)]);
    // The first two new events' gates, never a duplicate's, under the lease as a claim gives it.
    let leased = &batch.leased;
    assert_eq!(leased.len(), 2, "{leased:?}");
    for (job, expected) in leased.iter().zip([event(1, 1), event(2, 1)]) {
        assert_eq!((job.key, &job.report), (expected.key, &expected.report));
        assert_eq!(
            (job.step, job.attempt, job.recovered),
            (Step::Gate, 1, false)
        );
        assert_eq!(state_of(store, job.id).await, JobState::Running);
    }
    assert_eq!(store.lease_holders(50).await.expect("holders"), vec!["w1"]);
    // Only the unleased gates are due for another worker, the third event's and the first
    // batch's.
    let due = store.claim("w2", 50, 100, 10).await.expect("claims");
    let mut due_keys: Vec<EventKey> = due.iter().map(|job| job.key).collect();
    due_keys.sort();
    assert_eq!(due_keys, vec![event(3, 1).key, event(9, 1).key]);
    // A leased job is finished as a claimed one, and its followers become due.
    assert!(
        store
            .finish(leased[0].id, "w1", done(), 60)
            .await
            .expect("finishes")
    );
    let followers = store.claim("w2", 60, 100, 10).await.expect("claims");
    assert_eq!(followers.len(), 2, "{followers:?}");
    assert!(followers.iter().all(|job| job.event == leased[0].event));
    // A lease that expires is taken over like any other, the attempt marked interrupted.
    let taken = store.claim("w2", 101, 100, 10).await.expect("claims");
    assert_eq!(taken.len(), 1, "{taken:?}");
    assert_eq!(
        (taken[0].id, taken[0].attempt, taken[0].recovered),
        (leased[1].id, 2, true)
    );
    // No lease, or no room: nothing is leased, every first job is due.
    for lease in [None, Some(Lease { limit: 0, ..lease })] {
        let batch = store
            .accept_leasing(vec![vec![event(4, 1)]], &[Step::Gate], 200, lease)
            .await;
        assert!(batch.leased.is_empty(), "{lease:?}: {:?}", batch.leased);
    }
    let last = store.claim("w3", 200, 100, 10).await.expect("claims");
    let fresh: Vec<EventKey> = last
        .iter()
        .filter(|j| !j.recovered)
        .map(|j| j.key)
        .collect();
    assert_eq!(fresh, vec![event(4, 1).key], "{last:?}");
}

async fn a_late_finish_is_refused_and_changes_nothing(fixture: Fixture) {
    let store = &*fixture.store;
    accept(store, vec![vec![event(1, 1)]], &[Step::Gate]).await;
    let first = store.claim("w1", 0, 100, 1).await.expect("claims");
    let second = store.claim("w2", 101, 100, 1).await.expect("claims");
    assert_eq!(second[0].id, first[0].id);
    let late = Finish::Failed {
        error: "late".into(),
        retry_at: None,
    };
    let results = store
        .finish_many("w1", vec![(first[0].id, late)], 150)
        .await
        .expect("finishes");
    assert_eq!(results, vec![false], "the lease was lost");
    assert_eq!(state_of(store, first[0].id).await, JobState::Running);
    assert!(
        store
            .finish(second[0].id, "w2", done(), 160)
            .await
            .expect("finishes")
    );
    assert_eq!(state_of(store, first[0].id).await, JobState::Done);
    assert!(
        !store
            .finish(second[0].id, "w2", done(), 170)
            .await
            .expect("finishes"),
        "a finished job cannot be finished again"
    );
}

async fn a_failed_attempt_is_due_at_its_retry_time_and_dead_after(fixture: Fixture) {
    let store = &*fixture.store;
    accept(store, vec![vec![event(1, 1)]], &[Step::Gate, Step::Notify]).await;
    let job = store
        .claim("w", 0, 100, 10)
        .await
        .expect("claims")
        .remove(0);
    let failed = Finish::Failed {
        error: "the API answered 503".into(),
        retry_at: Some(50),
    };
    assert!(
        store
            .finish(job.id, "w", failed, 10)
            .await
            .expect("finishes")
    );
    assert_eq!(state_of(store, job.id).await, JobState::Pending);
    assert!(
        store
            .claim("w", 49, 100, 10)
            .await
            .expect("claims")
            .is_empty()
    );
    let again = store.claim("w", 50, 100, 10).await.expect("claims");
    assert_eq!(
        (again[0].id, again[0].attempt, again[0].recovered),
        (job.id, 2, false)
    );
    let dead = Finish::Failed {
        error: "the organization is no longer configured".into(),
        retry_at: None,
    };
    assert!(store.finish(job.id, "w", dead, 60).await.expect("finishes"));
    let rows = store.list(Some(JobState::Dead), 10).await.expect("lists");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].id, job.id);
    assert_eq!(rows[0].attempts, 2);
    assert_eq!(
        rows[0].last_error.as_deref(),
        Some("the organization is no longer configured")
    );
    assert!(
        store
            .claim("w", 1_000_000, 100, 10)
            .await
            .expect("claims")
            .is_empty(),
        "the step after a dead one never becomes due"
    );
}

async fn a_released_job_is_due_again_without_counting_the_attempt(fixture: Fixture) {
    let store = &*fixture.store;
    accept(store, vec![vec![event(1, 1)]], &[Step::Gate]).await;
    let job = store.claim("w", 0, 100, 1).await.expect("claims").remove(0);
    assert!(
        store
            .finish(job.id, "w", Finish::Release, 5)
            .await
            .expect("finishes")
    );
    let again = store.claim("w", 5, 100, 1).await.expect("claims").remove(0);
    assert_eq!(
        (again.id, again.attempt, again.recovered),
        (job.id, 1, false)
    );
}

async fn retry_is_conditional_and_names_the_state(fixture: Fixture) {
    let store = &*fixture.store;
    accept(
        store,
        vec![vec![event(1, 1)], vec![event(2, 1)]],
        &[Step::Gate, Step::Notify],
    )
    .await;
    let jobs = store.claim("w", 0, 100, 10).await.expect("claims");
    assert_eq!(jobs.len(), 2);
    let dead = Finish::Failed {
        error: "boom".into(),
        retry_at: None,
    };
    store
        .finish(jobs[0].id, "w", dead, 1)
        .await
        .expect("finishes");
    let rows = store.list(None, 100).await.expect("lists");
    let waiting = rows
        .iter()
        .find(|row| row.state == JobState::Waiting)
        .expect("a waiting job")
        .id;

    let refusal = |error: ServerError| {
        assert!(matches!(error, ServerError::NotFound(_)), "{error:?}");
        error.to_string()
    };
    let running = store
        .retry(RetryTarget::Job(jobs[1].id), 2)
        .await
        .expect_err("running");
    assert!(refusal(running).contains("is running"));
    let waits = store
        .retry(RetryTarget::Job(waiting), 2)
        .await
        .expect_err("waiting");
    assert!(refusal(waits).contains("waits for"));
    let missing = store
        .retry(RetryTarget::Job(JobId(999_999)), 2)
        .await
        .expect_err("missing");
    assert!(refusal(missing).contains("there is no job 999999"));
    assert_eq!(
        state_of(store, jobs[1].id).await,
        JobState::Running,
        "left to its worker"
    );

    assert_eq!(
        store.retry(RetryTarget::AllDead, 5).await.expect("retries"),
        1
    );
    assert_eq!(
        store.retry(RetryTarget::AllDead, 5).await.expect("retries"),
        0
    );
    let again = store.claim("w", 5, 100, 10).await.expect("claims");
    assert_eq!(again.len(), 1);
    assert_eq!(
        (again[0].id, again[0].attempt),
        (jobs[0].id, 1),
        "attempts start over"
    );
}

async fn purge_deletes_only_finished_events(fixture: Fixture) {
    let store = &*fixture.store;
    accept(
        store,
        vec![vec![event(1, 1)], vec![event(2, 1)]],
        &[Step::Gate],
    )
    .await;
    let jobs = store.claim("w", 0, 100, 10).await.expect("claims");
    store
        .finish(jobs[0].id, "w", done(), 1)
        .await
        .expect("finishes");
    assert_eq!(
        store.purge(0).await.expect("purges"),
        0,
        "received at 0, not before"
    );
    assert_eq!(
        store.purge(1_000).await.expect("purges"),
        1,
        "only the done event"
    );
    assert_eq!(total_jobs(store).await, 1);
    // A redelivery of the purged event is new again.
    let redelivered = accept(store, vec![vec![event(1, 1), event(2, 1)]], &[Step::Gate]).await;
    assert_eq!((redelivered[0].new, redelivered[0].duplicates), (1, 1));
}

async fn a_heartbeat_keeps_the_lease(fixture: Fixture) {
    let store = &*fixture.store;
    accept(
        store,
        vec![vec![event(1, 1)], vec![event(2, 1)]],
        &[Step::Gate],
    )
    .await;
    let jobs = store.claim("w1", 0, 100, 10).await.expect("claims");
    let ids: Vec<JobId> = jobs.iter().map(|j| j.id).collect();
    assert_eq!(
        store
            .extend_leases("w2", &ids, 1_000)
            .await
            .expect("extends"),
        0,
        "not w2's"
    );
    assert_eq!(
        store
            .extend_leases("w1", &ids, 1_000)
            .await
            .expect("extends"),
        2
    );
    assert!(
        store
            .claim("w2", 500, 100, 10)
            .await
            .expect("claims")
            .is_empty(),
        "a renewed lease is not taken over"
    );
    let taken = store.claim("w2", 1_001, 100, 10).await.expect("claims");
    assert_eq!(taken.len(), 2, "expired after its new end");
    assert_eq!(
        store
            .extend_leases("w1", &ids, 5_000)
            .await
            .expect("extends"),
        0,
        "a lost lease is not taken back"
    );
}

async fn leases_are_released_at_start_only_when_abandoned(fixture: Fixture) {
    let store = &*fixture.store;
    accept(store, vec![vec![event(1, 1)]], &[Step::Gate]).await;
    store.claim("old", 0, 1_000, 1).await.expect("claims");
    let released = store
        .release_abandoned_leases("new", 10)
        .await
        .expect("releases");
    if store.exclusive() {
        // The only server: whoever held a lease is gone.
        assert_eq!(released, 1);
    } else {
        assert_eq!(released, 0, "a live replica's lease is left alone");
        assert!(
            store
                .claim("new", 10, 100, 1)
                .await
                .expect("claims")
                .is_empty()
        );
        assert_eq!(
            store
                .release_abandoned_leases("new", 1_001)
                .await
                .expect("releases"),
            1
        );
    }
    let job = store.claim("new", 1_001, 100, 1).await.expect("claims");
    assert_eq!(job.len(), 1);
    assert!(
        job[0].recovered,
        "side effects of the cut attempt may exist"
    );
}

async fn effects_are_recorded_once(fixture: Fixture) {
    let store = &*fixture.store;
    accept(store, vec![vec![event(1, 1)]], &[Step::Gate]).await;
    let job = store.claim("w", 0, 100, 1).await.expect("claims").remove(0);
    store
        .record_effect(job.id, "slack:abc", 5)
        .await
        .expect("records");
    store
        .record_effect(job.id, "slack:abc", 6)
        .await
        .expect("records again");
    store
        .record_effect(job.id, "email:def", 7)
        .await
        .expect("records");
    let effects = fixture
        .another()
        .await
        .effects(job.id)
        .await
        .expect("reads");
    assert_eq!(
        effects,
        vec![("email:def".to_owned(), 7), ("slack:abc".to_owned(), 5)]
    );
}

async fn concurrent_claims_from_two_handles_never_share_a_job(fixture: Fixture) {
    const EVENTS: u128 = 300;
    let deliveries: Vec<Vec<NewEvent>> = (0..EVENTS).map(|n| vec![event(n + 1, 1)]).collect();
    accept(&*fixture.store, deliveries, &[Step::Gate]).await;
    let handles = [fixture.store.clone(), fixture.another().await];
    let mut tasks = Vec::new();
    for worker in 0..8 {
        let store = handles[worker % 2].clone();
        tasks.push(tokio::spawn(async move {
            let owner = format!("w{worker}");
            let mut mine = Vec::new();
            // Bounded: each round takes at least one job while any is left.
            for _ in 0..EVENTS {
                let jobs = store.claim(&owner, 0, 60_000, 7).await.expect("claims");
                if jobs.is_empty() {
                    break;
                }
                mine.extend(jobs.iter().map(|j| j.id));
            }
            mine
        }));
    }
    let mut seen = HashSet::new();
    let mut total = 0;
    for task in tasks {
        for id in task.await.expect("joins") {
            total += 1;
            assert!(seen.insert(id), "job {id} was claimed twice");
        }
    }
    assert_eq!(total, EVENTS as usize, "every job claimed once");
}

async fn the_store_describes_itself_without_secrets(fixture: Fixture) {
    let description = fixture.store.describe();
    assert!(!description.is_empty());
    if let Some(password) = fixture.password.as_deref() {
        assert!(!description.contains(password), "{description}");
        assert!(!format!("{:?}", fixture.store.list(None, 1).await).contains(password));
    }
    fixture.store.check_writable().await.expect("writable");
}

async fn lease_holders_are_the_owners_of_live_leases(fixture: Fixture) {
    let store = &*fixture.store;
    accept(
        store,
        vec![vec![event(1, 1)], vec![event(2, 1)]],
        &[Step::Gate],
    )
    .await;
    store.claim("a#0", 0, 100, 1).await.expect("claims");
    store.claim("b#0", 0, 200, 1).await.expect("claims");
    let mut holders = store.lease_holders(50).await.expect("reads");
    holders.sort();
    assert_eq!(holders, ["a#0", "b#0"]);
    assert_eq!(store.lease_holders(150).await.expect("reads"), ["b#0"]);
    assert!(store.lease_holders(201).await.expect("reads").is_empty());
}

async fn a_batch_of_results_is_recorded_together(fixture: Fixture) {
    let store = &*fixture.store;
    let deliveries = (1..=4).map(|n| vec![event(n, 1)]).collect();
    accept(store, deliveries, &[Step::Gate, Step::Notify]).await;
    let jobs = store.claim("w", 0, 100, 10).await.expect("claims");
    assert_eq!(jobs.len(), 4);
    let stolen = store.claim("other", 0, 100, 10).await.expect("claims");
    assert!(stolen.is_empty());
    let results = vec![
        (
            jobs[0].id,
            Finish::Done {
                output: Some("a".into()),
            },
        ),
        (
            jobs[1].id,
            Finish::Failed {
                error: "later".into(),
                retry_at: Some(500),
            },
        ),
        (
            jobs[2].id,
            Finish::Failed {
                error: "never".into(),
                retry_at: None,
            },
        ),
        (jobs[3].id, Finish::Release),
        (JobId(999_999), done()),
    ];
    let recorded = store.finish_many("w", results, 10).await.expect("finishes");
    assert_eq!(recorded, [true, true, true, true, false]);
    let rows = store.list(None, 100).await.expect("lists");
    let row = |id: JobId| rows.iter().find(|r| r.id == id).expect("listed");
    assert_eq!(row(jobs[0].id).state, JobState::Done);
    assert_eq!(
        (row(jobs[1].id).state, row(jobs[1].id).next_attempt_at),
        (JobState::Pending, Some(500))
    );
    assert_eq!(row(jobs[1].id).last_error.as_deref(), Some("later"));
    assert_eq!(row(jobs[2].id).state, JobState::Dead);
    assert_eq!(
        (row(jobs[3].id).state, row(jobs[3].id).attempts),
        (JobState::Pending, 0)
    );
    // Only the done gate's follower became due.
    let due = store.claim("w", 20, 100, 10).await.expect("claims");
    let steps: Vec<(Step, u32)> = due.iter().map(|j| (j.step, j.attempt)).collect();
    assert_eq!(steps.len(), 2, "{due:?}");
    assert!(
        steps.contains(&(Step::Notify, 1)) && steps.contains(&(Step::Gate, 1)),
        "{steps:?}"
    );
    assert_eq!(
        store
            .output(jobs[0].event, Step::Gate)
            .await
            .expect("reads"),
        Some("a".into())
    );
}

/// A store written by the previous schema (2, no delivery bodies) opens: its events read as
/// having no body, and new ones keep theirs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_store_of_schema_2_gains_delivery_bodies() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("store.db");
    {
        let old = rusqlite::Connection::open(&path).expect("creates");
        old.execute_batch(
            "PRAGMA journal_mode = WAL;
             CREATE TABLE events (
                 id INTEGER PRIMARY KEY, organization_id TEXT NOT NULL, report_id TEXT NOT NULL,
                 upload_nanos INTEGER NOT NULL, report TEXT NOT NULL, received_at INTEGER NOT NULL,
                 UNIQUE (organization_id, report_id, upload_nanos));
             INSERT INTO events (organization_id, report_id, upload_nanos, report, received_at)
                 VALUES ('o', 'r', 1, '{}', 1);
             PRAGMA user_version = 2;",
        )
        .expect("the old schema");
    }
    let config = StoreConfig::Sqlite(SqliteConfig { path: path.clone() });
    let store = store::open(&config, Role::Server).await.expect("opens");
    let old = procurize_server::store::EventRowId(1);
    assert_eq!(store.delivery(old).await.expect("reads"), None);
    accept(&*store, vec![vec![event(7, 1)]], &[Step::Gate]).await;
    let claimed = store
        .claim("me", i64::MAX / 2, 60_000, 10)
        .await
        .expect("claims");
    assert_eq!(claimed.len(), 1);
    assert_eq!(
        store
            .delivery(claimed[0].event)
            .await
            .expect("reads")
            .as_deref(),
        Some(&*event(7, 1).delivery)
    );
}
