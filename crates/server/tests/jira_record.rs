//! The service keeps the Jira channel's record of created issues in its store, not in a file
//! per process: a second replica (another notifier, in another folder, on another handle of the
//! same store) comments on the issue the first created, while Jira's search still lags.

mod support;

#[path = "../../notify/tests/support/fake_jira.rs"]
mod fake_jira;

use std::path::Path;
use std::sync::Arc;

use procurize_notify::event::sample;
use procurize_notify::{Config, EventKind, Notifier};
use procurize_server::config::{SqliteConfig, StoreConfig};
use procurize_server::store::{self, Role, StoreIssueRecord};
use support::postgres as pg;

/// A replica's notifier: its own folder, its own handle on the store.
async fn replica(dir: &Path, base: &str, store: &StoreConfig) -> Notifier {
    std::fs::write(dir.join("jira.token"), "token\n").expect("write");
    let text = format!(
        "[channels.jira]\ntype = \"jira\"\nurl = \"{base}\"\ndeployment = \"data_center\"\nproject = \"SEC\"\ntoken_file = \"jira.token\"\n\n[[route]]\nchannels = [\"jira\"]\n"
    );
    std::fs::write(dir.join("notify.toml"), text).expect("write");
    let handle = store::open(store, Role::Admin).await.expect("opens");
    Notifier::new(Config::from_file(&dir.join("notify.toml")).expect("config"))
        .expect("notifier")
        .with_issue_record(Arc::new(StoreIssueRecord(handle)))
}

async fn one_issue_across_replicas(store: StoreConfig) {
    let (base, state) = fake_jira::fake_jira().await;
    state.lock().expect("lock").search_lags = true;
    let (a, b) = (
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    );
    let first = replica(a.path(), &base, &store).await;
    let second = replica(b.path(), &base, &store).await;
    let event = sample(EventKind::GateFailed);
    let created = first.deliver(std::slice::from_ref(&event)).await;
    assert_eq!(created[0].detail, "created SEC-1", "{created:?}");
    let commented = second.deliver(std::slice::from_ref(&event)).await;
    assert_eq!(commented[0].detail, "commented on SEC-1", "{commented:?}");
    assert_eq!(state.lock().expect("lock").issues.len(), 1, "no duplicate");
    for dir in [&a, &b] {
        assert!(
            !dir.path().join("jira-issues.json").exists(),
            "no record file beside a replica"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_jira_record_is_in_a_sqlite_store() {
    let dir = tempfile::tempdir().expect("dir");
    one_issue_across_replicas(StoreConfig::Sqlite(SqliteConfig {
        path: dir.path().join("store.db"),
    }))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_jira_record_is_shared_by_replicas_on_postgres() {
    let Some(database) = pg::database("the_jira_record_is_shared").await else {
        return;
    };
    one_issue_across_replicas(database.store_config()).await;
}
