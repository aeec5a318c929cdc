//! What only the PostgreSQL store has: migrations under an advisory lock, a newer schema
//! refused, TLS to the database, and connection errors that name the problem but not the
//! password. Skipped outside CI without a cluster (`support::postgres`).

mod support;

use procurize_core::Uuid;
use procurize_server::config::{SslMode, StoreConfig};
use procurize_server::store::{self, EventKey, Finish, Lease, NewEvent, Role, Step, Store};
use procurize_server::{PostgresStore, ServerError};
use support::postgres as pg;
use tokio_postgres::types::ToSql;

async fn connect(
    config: &procurize_server::config::PostgresConfig,
) -> Result<PostgresStore, ServerError> {
    PostgresStore::connect(config).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_starting_together_migrate_once() {
    let Some(database) = pg::database("replicas_starting_together_migrate_once").await else {
        return;
    };
    let config = database.postgres_config(SslMode::Disable);
    let starts: Vec<_> = (0..6)
        .map(|_| {
            let config = config.clone();
            tokio::spawn(async move { PostgresStore::connect(&config).await })
        })
        .collect();
    for start in starts {
        let store = start.await.expect("joins").expect("every replica starts");
        assert_eq!(
            store.schema_version().await.expect("reads"),
            PostgresStore::SCHEMA_VERSION
        );
    }
    // One row per migration: none was applied twice.
    let (client, connection) = tokio_postgres::connect(&database.url, tokio_postgres::NoTls)
        .await
        .expect("connects");
    tokio::spawn(connection);
    let rows: i64 = client
        .query_one("SELECT count(*) FROM procurize_schema", &[])
        .await
        .expect("counts")
        .get(0);
    assert_eq!(rows, PostgresStore::SCHEMA_VERSION);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_migrated_by_a_newer_binary_is_refused() {
    let Some(database) = pg::database("a_database_migrated_by_a_newer_binary_is_refused").await
    else {
        return;
    };
    let config = database.postgres_config(SslMode::Disable);
    connect(&config).await.expect("migrates");
    let newer = PostgresStore::SCHEMA_VERSION + 1;
    pg::execute(
        &database.url,
        &format!("INSERT INTO procurize_schema (version) VALUES ({newer})"),
    )
    .await;
    let error = connect(&config).await.expect_err("refused").to_string();
    assert!(
        error.contains(&format!("schema {newer}")) && error.contains("newer procurize"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_to_the_database_is_verified_against_the_ca_certificate() {
    let Some(database) = pg::database("tls_to_the_database_is_verified").await else {
        return;
    };
    assert!(
        database.ca_cert.is_some(),
        "{} names the cluster's CA certificate",
        pg::CA_VAR
    );
    let verified = connect(&database.postgres_config(SslMode::VerifyFull)).await;
    verified.expect("verify-full with the cluster's CA");
    let encrypted = database.postgres_config(SslMode::Require);
    connect(&encrypted).await.expect("require");
    assert_ssl_in_use(&database).await;

    // Without the CA, the system's roots do not know the cluster's certificate.
    let mut unknown = database.postgres_config(SslMode::VerifyFull);
    unknown.ca_cert = None;
    let error = connect(&unknown).await.expect_err("refused").to_string();
    assert!(error.contains("certificate"), "{error}");
}

/// The server's own view: our connection uses TLS.
async fn assert_ssl_in_use(database: &pg::Database) {
    let store = store::open(
        &StoreConfig::Postgres(database.postgres_config(SslMode::VerifyFull)),
        Role::Admin,
    )
    .await
    .expect("opens");
    store.check_writable().await.expect("writable");
    let (client, connection) = tokio_postgres::connect(&database.url, tokio_postgres::NoTls)
        .await
        .expect("connects");
    tokio::spawn(connection);
    let tls: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_stat_ssl JOIN pg_stat_activity USING (pid)
             WHERE ssl AND application_name = 'procurize'",
            &[],
        )
        .await
        .expect("reads pg_stat_ssl")
        .get(0);
    assert!(tls >= 1, "no procurize connection uses TLS");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_named_without_the_url() {
    let Some(database) = pg::database("a_wrong_password_is_named_without_the_url").await else {
        return;
    };
    let wrong = database
        .url
        .replacen("procurize:", "procurize:not-the-password-", 1);
    let file = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(file.path(), &wrong).expect("writes");
    let mut config = database.postgres_config(SslMode::Disable);
    config.url_file = Some(file.path().to_path_buf());
    let error = connect(&config).await.expect_err("refused").to_string();
    assert!(error.contains("password authentication failed"), "{error}");
    assert!(!error.contains("not-the-password"), "{error}");

    std::fs::write(file.path(), "mysql://nobody").expect("writes");
    let error = connect(&config).await.expect_err("refused").to_string();
    assert!(error.contains("store.url"), "{error}");
    assert!(!error.contains("mysql://nobody"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_the_database_refuses_leaves_the_rest_of_its_batch() {
    use procurize_core::Uuid;
    use procurize_server::store::{EventKey, NewEvent, Step};
    let Some(database) = pg::database("a_delivery_the_database_refuses").await else {
        return;
    };
    let store = store::open(&database.store_config(), Role::Server)
        .await
        .expect("opens");
    let event = |n: u128, report: &str| NewEvent {
        key: EventKey {
            organization_id: Uuid::from_u128(1),
            report_id: Uuid::from_u128(n),
            upload_nanos: 1,
        },
        report: report.into(),
        delivery: "{}".into(),
    };
    // PostgreSQL's text cannot hold NUL: the middle delivery is refused, its neighbours are not.
    let results = store
        .accept(
            vec![
                vec![event(1, "{}")],
                vec![event(2, "{\u{0}}")],
                vec![event(3, "{}"), event(1, "{}")],
            ],
            &[Step::Gate],
            0,
        )
        .await;
    assert_eq!(results.len(), 3);
    let first = results[0].as_ref().expect("the first is recorded");
    assert_eq!((first.new, first.duplicates), (1, 0));
    let refused = results[1]
        .as_ref()
        .expect_err("the second is refused")
        .to_string();
    assert!(refused.contains("0x00"), "{refused}");
    let third = results[2].as_ref().expect("the third is recorded");
    assert_eq!((third.new, third.duplicates), (1, 1));
    assert_eq!(store.list(None, 10).await.expect("lists").len(), 2);
}

/// The plan of `statement` (with `params`) as text, in the database at `url`, custom and generic.
async fn plans(url: &str, statement: &str, params: &[&(dyn ToSql + Sync)]) -> Vec<String> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connects");
    tokio::spawn(connection);
    let mut plans = Vec::new();
    for mode in ["force_custom_plan", "force_generic_plan"] {
        client
            .batch_execute(&format!("SET plan_cache_mode = {mode}"))
            .await
            .expect("sets the plan mode");
        let rows = client
            .query(&format!("EXPLAIN {statement}"), params)
            .await
            .expect("explains");
        let plan: Vec<String> = rows.iter().map(|row| row.get(0)).collect();
        plans.push(plan.join("\n"));
    }
    plans
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finishing_and_renewing_find_jobs_by_key_not_through_the_lease_index() {
    let Some(database) =
        pg::database("finishing_and_renewing_find_jobs_by_key_not_through_the_lease_index").await
    else {
        return;
    };
    let store = connect(&database.postgres_config(SslMode::Disable))
        .await
        .expect("connects");
    // A history: jobs leased as accepted and done, each leaving a dead entry in `jobs_leased`
    // (until vacuum), and a few still running.
    let lease = Lease {
        owner: "me",
        until: i64::MAX,
        limit: usize::MAX,
    };
    let mut running = Vec::new();
    for round in 0..20_u128 {
        let events = (0..100_u128)
            .map(|n| NewEvent {
                key: EventKey {
                    organization_id: Uuid::from_u128(1),
                    report_id: Uuid::from_u128(round * 1000 + n),
                    upload_nanos: 1,
                },
                report: "{}".into(),
                delivery: "{}".into(),
            })
            .collect();
        let leased = store
            .accept_leasing(vec![events], &[Step::Gate], 0, Some(lease))
            .await
            .leased;
        assert_eq!(leased.len(), 100);
        let (done, left) = leased.split_at(98);
        let results = done
            .iter()
            .map(|job| (job.id, Finish::Done { output: None }))
            .collect();
        let kept = store.finish_many("me", results, 1).await.expect("finishes");
        assert!(kept.iter().all(|k| *k));
        running.extend(left.iter().map(|job| job.id.0));
    }
    pg::execute(&database.url, "ANALYZE jobs").await;
    let ids: Vec<i64> = running.iter().copied().take(8).collect();
    let kinds = vec!["done"; ids.len()];
    let none_text: Vec<Option<&str>> = vec![None; ids.len()];
    let none_at: Vec<Option<i64>> = vec![None; ids.len()];
    let finish: [&(dyn ToSql + Sync); 7] = [
        &ids, &kinds, &none_text, &none_text, &none_at, &"me", &2_i64,
    ];
    let extend: [&(dyn ToSql + Sync); 3] = [&ids, &"me", &3_i64];
    for (statement, params) in [
        (PostgresStore::FINISH_SQL, &finish[..]),
        (PostgresStore::EXTEND_SQL, &extend[..]),
    ] {
        for plan in plans(&database.url, statement, params).await {
            assert!(
                plan.contains("jobs_pkey") && !plan.contains("jobs_leased"),
                "{statement}\n{plan}"
            );
        }
    }
}
