//! The platform's webhook sender: signs a delivery and POSTs it, retrying failures on a schedule
//! (hourly by default, as the platform does) and reporting every attempt.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use procurize_core::webhook::Signer;
use procurize_core::{ReportList, Uuid, error_chain};

use crate::{SimData, SimError};

/// When a failed delivery is tried again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    /// The wait between attempts (default one hour, like the platform).
    pub interval: Duration,
    /// Attempts in all, including the first (default 24: a day of hourly retries).
    pub max_attempts: u32,
    /// How long one attempt may take (default 30 s).
    pub timeout: Duration,
}

impl Default for Schedule {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(3600),
            max_attempts: 24,
            timeout: Duration::from_secs(30),
        }
    }
}

/// The outcome of one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The receiver answered with this status.
    Status(u16),
    /// No answer: the transport failed.
    Error(String),
}

impl Outcome {
    /// Whether the platform counts this as delivered (any `2xx`).
    pub fn delivered(&self) -> bool {
        matches!(self, Self::Status(s) if (200..300).contains(s))
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Status(s) => write!(f, "HTTP {s}"),
            Self::Error(e) => f.write_str(e),
        }
    }
}

/// One delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// 1-based.
    pub number: u32,
    /// When it was made.
    pub at: SystemTime,
    /// What came of it.
    pub outcome: Outcome,
}

/// A signed webhook delivery to send.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The receiver's URL.
    pub url: String,
    /// The body, sent exactly as given.
    pub body: Vec<u8>,
    /// Signs each attempt.
    pub signer: Signer,
    /// The delivery's ID, the same on every attempt.
    pub id: String,
}

impl Delivery {
    /// A delivery of `body` with a fresh random ID.
    pub fn new(url: impl Into<String>, body: Vec<u8>, signer: Signer) -> Self {
        let id = uuid::Builder::from_random_bytes(fastrand::u128(..).to_le_bytes()).into_uuid();
        Self {
            url: url.into(),
            body,
            signer,
            id: format!("msg_{}", id.simple()),
        }
    }

    /// The payload the platform sends when the reports `ids` of `organization` are ingested or
    /// updated: the list response's shape with just those reports.
    pub fn payload_for(
        data: &SimData,
        organization: &Uuid,
        ids: &[Uuid],
    ) -> Result<Vec<u8>, SimError> {
        let mut reports = Vec::with_capacity(ids.len());
        for id in ids {
            let report = data.report(organization, id).ok_or_else(|| {
                SimError::Data(format!("organization {organization} has no report {id}"))
            })?;
            reports.push(report.clone());
        }
        let list = ReportList {
            organization_id: *organization,
            reports,
        };
        serde_json::to_vec(&list).map_err(|e| SimError::Data(e.to_string()))
    }

    /// Sends the delivery, retrying on `schedule` until a `2xx` answer, calling `on_attempt`
    /// after every attempt.
    pub async fn send(
        &self,
        schedule: &Schedule,
        mut on_attempt: impl FnMut(&Attempt),
    ) -> Result<Vec<Attempt>, SimError> {
        let url = reqwest::Url::parse(&self.url)
            .map_err(|e| SimError::Config(format!("`{}` is not a URL: {e}", self.url)))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(SimError::Config(format!(
                "`{}` is not an http(s) URL",
                self.url
            )));
        }
        if schedule.max_attempts == 0 {
            return Err(SimError::Config("at least one attempt is required".into()));
        }
        let http = procurize_core::tls::reqwest_builder(&procurize_core::tls::ExtraRoots::none())
            .map_err(|e| SimError::Config(e.to_string()))?
            .user_agent(concat!("procurize-sim/", env!("CARGO_PKG_VERSION")))
            .timeout(schedule.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| SimError::Config(e.to_string()))?;
        let mut attempts = Vec::new();
        for number in 1..=schedule.max_attempts {
            let at = SystemTime::now();
            let timestamp = at
                .duration_since(UNIX_EPOCH)
                .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
                .unwrap_or(0);
            let mut request = http
                .post(url.clone())
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(self.body.clone());
            for (name, value) in self.signer.headers(&self.id, timestamp, &self.body) {
                request = request.header(name, value);
            }
            let outcome = match request.send().await {
                Ok(response) => Outcome::Status(response.status().as_u16()),
                Err(e) => Outcome::Error(error_chain(&e)),
            };
            let attempt = Attempt {
                number,
                at,
                outcome,
            };
            tracing::info!(url = %self.url, id = %self.id, attempt = number, outcome = %attempt.outcome, "webhook delivery attempt");
            on_attempt(&attempt);
            let delivered = attempt.outcome.delivered();
            attempts.push(attempt);
            if delivered {
                return Ok(attempts);
            }
            if number < schedule.max_attempts {
                tokio::time::sleep(schedule.interval).await;
            }
        }
        Err(SimError::DeliveryFailed {
            url: self.url.clone(),
            attempts: schedule.max_attempts,
            last: attempts
                .last()
                .map(|a| a.outcome.to_string())
                .unwrap_or_default(),
        })
    }
}
