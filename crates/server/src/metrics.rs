//! What the service counts, in the Prometheus text exposition format (version 0.0.4).
//!
//! Counters and histograms live in memory (they start at zero with the process, as Prometheus
//! expects); job counts by step and state are read from the store at each scrape.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::store::{JobState, Step};

/// How a delivery ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// New events recorded.
    Accepted,
    /// Every event was already recorded.
    Duplicate,
    /// Signed and valid, but with no report in it: nothing to record (200).
    Empty,
    /// Missing or wrong signature (401).
    BadSignature,
    /// Not a valid payload (400).
    BadPayload,
    /// Over the body limit (413).
    TooLarge,
    /// For an organization that is not configured (403).
    UnknownOrganization,
    /// The store failed (503).
    StorageError,
    /// The body did not arrive in time (408).
    Timeout,
}

impl DeliveryOutcome {
    /// Every outcome, in exposition order.
    pub const ALL: [DeliveryOutcome; 9] = [
        Self::Accepted,
        Self::Duplicate,
        Self::Empty,
        Self::BadSignature,
        Self::BadPayload,
        Self::TooLarge,
        Self::UnknownOrganization,
        Self::StorageError,
        Self::Timeout,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Duplicate => "duplicate",
            Self::Empty => "empty",
            Self::BadSignature => "bad_signature",
            Self::BadPayload => "bad_payload",
            Self::TooLarge => "too_large",
            Self::UnknownOrganization => "unknown_organization",
            Self::StorageError => "storage_error",
            Self::Timeout => "timeout",
        }
    }
}

/// How a step attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepResult {
    /// Done.
    Done,
    /// Failed; will be retried.
    Retry,
    /// Failed for the last time.
    Dead,
}

impl StepResult {
    const ALL: [StepResult; 3] = [Self::Done, Self::Retry, Self::Dead];

    fn as_str(self) -> &'static str {
        match self {
            Self::Done => "done",
            Self::Retry => "retry",
            Self::Dead => "dead",
        }
    }
}

/// Bucket bounds in seconds, for request and step latencies.
const BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// A latency histogram with fixed buckets.
#[derive(Debug, Default)]
pub struct Histogram {
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    /// Records one observation.
    pub fn observe(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        if let Some(index) = BUCKETS.iter().position(|b| seconds <= *b) {
            self.buckets[index].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add(
            u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    fn write(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0;
        let sep = if labels.is_empty() { "" } else { "," };
        for (bound, bucket) in BUCKETS.iter().zip(&self.buckets) {
            cumulative += bucket.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {cumulative}"
            );
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {count}");
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum{braces} {sum}");
        let _ = writeln!(out, "{name}_count{braces} {count}");
    }
}

/// Every metric the service keeps in memory.
#[derive(Debug, Default)]
pub struct Metrics {
    deliveries: [AtomicU64; DeliveryOutcome::ALL.len()],
    events_accepted: AtomicU64,
    request_latency: Histogram,
    step_latency: [Histogram; Step::ALL.len()],
    step_results: [[AtomicU64; StepResult::ALL.len()]; Step::ALL.len()],
    recovered: AtomicU64,
}

/// Writes a metric family's `HELP` and `TYPE` lines.
fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// Writes a metric family of one unlabelled sample.
fn scalar(out: &mut String, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) {
    family(out, name, kind, help);
    let _ = writeln!(out, "{name} {value}");
}

fn step_index(step: Step) -> usize {
    Step::ALL.iter().position(|s| *s == step).unwrap_or(0)
}

impl Metrics {
    /// Counts a delivery and the time it took to answer.
    pub fn delivery(&self, outcome: DeliveryOutcome, elapsed: Duration) {
        let index = DeliveryOutcome::ALL
            .iter()
            .position(|o| *o == outcome)
            .unwrap_or(0);
        self.deliveries[index].fetch_add(1, Ordering::Relaxed);
        self.request_latency.observe(elapsed);
    }

    /// Counts new events recorded.
    pub fn events(&self, new: usize) {
        self.events_accepted
            .fetch_add(new as u64, Ordering::Relaxed);
    }

    /// The deliveries counted with `outcome`.
    pub fn deliveries(&self, outcome: DeliveryOutcome) -> u64 {
        let index = DeliveryOutcome::ALL
            .iter()
            .position(|o| *o == outcome)
            .unwrap_or(0);
        self.deliveries[index].load(Ordering::Relaxed)
    }

    /// Counts a step attempt and its duration.
    pub fn step(&self, step: Step, result: StepResult, elapsed: Duration) {
        let s = step_index(step);
        let r = StepResult::ALL
            .iter()
            .position(|x| *x == result)
            .unwrap_or(0);
        self.step_results[s][r].fetch_add(1, Ordering::Relaxed);
        self.step_latency[s].observe(elapsed);
    }

    /// Counts a job taken over after an interrupted attempt.
    pub fn recovered(&self) {
        self.recovered.fetch_add(1, Ordering::Relaxed);
    }

    /// The exposition text, with the job counts read from the store (`None` when the store
    /// could not be read: those series are left out and `procurize_store_up` is 0).
    pub fn render(&self, jobs: Option<&[(Step, JobState, u64)]>) -> String {
        let mut out = String::with_capacity(8 * 1024);
        family(
            &mut out,
            "procurize_deliveries_total",
            "counter",
            "Webhook deliveries received, by outcome.",
        );
        for (outcome, count) in DeliveryOutcome::ALL.iter().zip(&self.deliveries) {
            let _ = writeln!(
                out,
                "procurize_deliveries_total{{outcome=\"{}\"}} {}",
                outcome.as_str(),
                count.load(Ordering::Relaxed)
            );
        }
        scalar(
            &mut out,
            "procurize_events_accepted_total",
            "counter",
            "New report events recorded.",
            self.events_accepted.load(Ordering::Relaxed),
        );
        family(
            &mut out,
            "procurize_delivery_duration_seconds",
            "histogram",
            "Time to answer a webhook delivery.",
        );
        self.request_latency
            .write(&mut out, "procurize_delivery_duration_seconds", "");

        family(
            &mut out,
            "procurize_step_duration_seconds",
            "histogram",
            "Time one workflow step attempt took.",
        );
        for (step, histogram) in Step::ALL.iter().zip(&self.step_latency) {
            histogram.write(
                &mut out,
                "procurize_step_duration_seconds",
                &format!("step=\"{step}\""),
            );
        }
        family(
            &mut out,
            "procurize_step_attempts_total",
            "counter",
            "Workflow step attempts, by result.",
        );
        for (step, results) in Step::ALL.iter().zip(&self.step_results) {
            for (result, count) in StepResult::ALL.iter().zip(results) {
                let _ = writeln!(
                    out,
                    "procurize_step_attempts_total{{step=\"{step}\",result=\"{}\"}} {}",
                    result.as_str(),
                    count.load(Ordering::Relaxed)
                );
            }
        }
        scalar(
            &mut out,
            "procurize_jobs_recovered_total",
            "counter",
            "Jobs taken over after an interrupted attempt.",
            self.recovered.load(Ordering::Relaxed),
        );

        scalar(
            &mut out,
            "procurize_store_up",
            "gauge",
            "Whether the store could be read for this scrape.",
            u8::from(jobs.is_some()),
        );
        if let Some(jobs) = jobs {
            family(
                &mut out,
                "procurize_jobs",
                "gauge",
                "Jobs in the store, by step and state.",
            );
            let mut depth = 0;
            for step in Step::ALL {
                for state in JobState::ALL {
                    let count = jobs
                        .iter()
                        .find(|(s, st, _)| *s == step && *st == state)
                        .map_or(0, |c| c.2);
                    if matches!(state, JobState::Pending | JobState::Running) {
                        depth += count;
                    }
                    let _ = writeln!(
                        out,
                        "procurize_jobs{{step=\"{step}\",state=\"{state}\"}} {count}"
                    );
                }
            }
            scalar(
                &mut out,
                "procurize_queue_depth",
                "gauge",
                "Jobs that can run now or are running (waiting ones are in procurize_jobs).",
                depth,
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_cumulative_and_count_everything() {
        let metrics = Metrics::default();
        metrics.delivery(DeliveryOutcome::Accepted, Duration::from_micros(500));
        metrics.delivery(DeliveryOutcome::Accepted, Duration::from_millis(20));
        metrics.delivery(DeliveryOutcome::BadSignature, Duration::from_secs(100));
        let text = metrics.render(Some(&[(Step::Gate, JobState::Dead, 2)]));
        assert!(text.contains("procurize_deliveries_total{outcome=\"accepted\"} 2\n"));
        assert!(text.contains("procurize_deliveries_total{outcome=\"bad_signature\"} 1\n"));
        assert!(text.contains("procurize_delivery_duration_seconds_bucket{le=\"0.001\"} 1\n"));
        assert!(text.contains("procurize_delivery_duration_seconds_bucket{le=\"0.025\"} 2\n"));
        assert!(text.contains("procurize_delivery_duration_seconds_bucket{le=\"30\"} 2\n"));
        assert!(text.contains("procurize_delivery_duration_seconds_bucket{le=\"+Inf\"} 3\n"));
        assert!(text.contains("procurize_delivery_duration_seconds_count 3\n"));
        assert!(text.contains("procurize_jobs{step=\"gate\",state=\"dead\"} 2\n"));
        assert!(text.contains("procurize_queue_depth 0\n"));
        let down = metrics.render(None);
        assert!(down.contains("procurize_store_up 0\n"));
        assert!(!down.contains("procurize_jobs{"));
    }

    /// `docs/service.md` lists exactly the metric families `/metrics` serves, and every outcome.
    #[test]
    fn the_docs_list_every_metric_and_outcome() {
        let page = include_str!("../../../docs/service.md");
        let table = page
            .split("<!-- metrics -->")
            .nth(1)
            .and_then(|rest| rest.split("<!-- /metrics -->").next())
            .expect("docs/service.md marks its table of metrics");
        let listed: std::collections::BTreeSet<&str> = table
            .lines()
            .filter_map(|line| line.strip_prefix("| `"))
            .filter_map(|rest| rest.split('`').next())
            .collect();
        let text = Metrics::default().render(Some(&[]));
        let served: std::collections::BTreeSet<&str> = text
            .lines()
            .filter_map(|line| line.strip_prefix("# TYPE "))
            .filter_map(|rest| rest.split(' ').next())
            .collect();
        assert_eq!(listed, served);
        for outcome in DeliveryOutcome::ALL {
            assert!(
                table.contains(&format!("`{}`", outcome.as_str())),
                "docs/service.md does not list the outcome {}",
                outcome.as_str()
            );
        }
    }
}
