//! A store that fails: deliveries get 503 (so the platform retries), `/readyz` says why, and
//! the failure is counted. Uses the `Store` trait as another backend would.

use std::sync::Arc;
use std::time::Duration;

use procurize_core::webhook::{Secret, Verifier, sign_hmac};
use procurize_server::ServerError;
use procurize_server::metrics::{DeliveryOutcome, Metrics};
use procurize_server::receiver::{AppState, Committer, router};
use procurize_server::store::{
    AcceptedBatch, ClaimedJob, EventRowId, Finish, JobId, JobRow, JobState, Lease, NewEvent,
    RetryTarget, Step, Store,
};
use procurize_server::workflow::Handoff;

/// Every write fails as a full disk would.
struct FullDisk;

fn full() -> ServerError {
    ServerError::Store("database or disk is full".into())
}

#[async_trait::async_trait]
impl Store for FullDisk {
    fn describe(&self) -> String {
        "a full disk".into()
    }
    fn exclusive(&self) -> bool {
        true
    }
    async fn accept_leasing(
        &self,
        deliveries: Vec<Vec<NewEvent>>,
        _: &[Step],
        _: i64,
        _: Option<Lease<'_>>,
    ) -> AcceptedBatch {
        AcceptedBatch {
            deliveries: deliveries.iter().map(|_| Err(full())).collect(),
            leased: Vec::new(),
        }
    }
    async fn claim(
        &self,
        _: &str,
        _: i64,
        _: i64,
        _: usize,
    ) -> Result<Vec<ClaimedJob>, ServerError> {
        Err(full())
    }
    async fn extend_leases(&self, _: &str, _: &[JobId], _: i64) -> Result<usize, ServerError> {
        Err(full())
    }
    async fn finish_many(
        &self,
        _: &str,
        _: Vec<(JobId, Finish)>,
        _: i64,
    ) -> Result<Vec<bool>, ServerError> {
        Err(full())
    }
    async fn output(&self, _: EventRowId, _: Step) -> Result<Option<String>, ServerError> {
        Err(full())
    }
    async fn delivery(&self, _: EventRowId) -> Result<Option<String>, ServerError> {
        Err(full())
    }
    async fn record_effect(&self, _: JobId, _: &str, _: i64) -> Result<(), ServerError> {
        Err(full())
    }
    async fn effects(&self, _: JobId) -> Result<Vec<(String, i64)>, ServerError> {
        Err(full())
    }
    async fn list(&self, _: Option<JobState>, _: usize) -> Result<Vec<JobRow>, ServerError> {
        Err(full())
    }
    async fn retry(&self, _: RetryTarget, _: i64) -> Result<usize, ServerError> {
        Err(full())
    }
    async fn purge(&self, _: i64) -> Result<usize, ServerError> {
        Err(full())
    }
    async fn counts(&self) -> Result<Vec<(Step, JobState, u64)>, ServerError> {
        Err(full())
    }
    async fn release_abandoned_leases(&self, _: &str, _: i64) -> Result<usize, ServerError> {
        Err(full())
    }
    async fn jira_issue(&self, _: &str, _: &str) -> Result<Option<String>, ServerError> {
        Err(full())
    }
    async fn remember_jira_issue(
        &self,
        _: &str,
        _: &str,
        _: &str,
        _: i64,
    ) -> Result<(), ServerError> {
        Err(full())
    }
    async fn lease_holders(&self, _: i64) -> Result<Vec<String>, ServerError> {
        Err(full())
    }
    async fn check_writable(&self) -> Result<(), ServerError> {
        Err(full())
    }
}

#[tokio::test]
async fn a_store_failure_is_503_and_readiness_says_why() {
    let store: Arc<dyn Store> = Arc::new(FullDisk);
    let metrics = Arc::new(Metrics::default());
    let committer = Committer::start(
        store.clone(),
        vec![Step::Gate],
        Arc::new(Handoff::new("test", 60_000, 8)),
    )
    .expect("committer");
    let organization = procurize_sim::SAMPLE_ORGANIZATION.parse().expect("uuid");
    let state = Arc::new(AppState {
        verifier: Verifier::hmac(vec![Secret::new(b"s".to_vec())]).expect("verifier"),
        organizations: [organization].into_iter().collect(),
        committer,
        store,
        metrics: metrics.clone(),
        body_limit: 1 << 20,
        request_timeout: Duration::from_secs(5),
        permits: tokio::sync::Semaphore::new(8),
        shutting_down: Default::default(),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, router(state, "/hook")).await });

    let body = procurize_sim::webhook::Delivery::payload_for(
        &procurize_sim::SimData::sample(),
        &organization,
        &[procurize_core::Uuid::from_u128(0x100)],
    )
    .expect("payload");
    let response = procurize_core::tls::reqwest_client()
        .expect("http client")
        .post(format!("{base}/hook"))
        .header(
            "X-Procurize-Signature",
            sign_hmac(&Secret::new(b"s".to_vec()), &body),
        )
        .body(body)
        .send()
        .await
        .expect("post");
    assert_eq!(response.status().as_u16(), 503);
    let answer: serde_json::Value = response.json().await.expect("json");
    assert_eq!(answer["error"], "storage_error");
    // The store's own words stay in the log, not in the answer to the outside.
    assert!(!answer.to_string().contains("disk is full"), "{answer}");
    assert_eq!(metrics.deliveries(DeliveryOutcome::StorageError), 1);

    let ready = procurize_core::tls::reqwest_client()
        .expect("http client")
        .get(format!("{base}/readyz"))
        .send()
        .await
        .expect("get");
    assert_eq!(ready.status().as_u16(), 503);
    assert!(ready.text().await.expect("text").contains("disk is full"));
    let scrape = procurize_core::tls::reqwest_client()
        .expect("http client")
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("text");
    assert!(scrape.contains("procurize_store_up 0\n"), "{scrape}");
    assert!(scrape.contains("procurize_deliveries_total{outcome=\"storage_error\"} 1\n"));
}
