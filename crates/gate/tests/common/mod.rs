//! Reports and dates for the gate's tests.

#![allow(dead_code, unreachable_pub)]

use procurize_core::{Report, Uuid};
use time::{Date, Month};

/// 2026-11-29, the day the tests evaluate on.
pub fn today() -> Date {
    Date::from_calendar_date(2026, Month::November, 29).expect("date")
}

/// A report builder with sensible defaults: Test product 1.0, CWE Top 25 2024, rating A, 0
/// vulnerabilities, analysed 2026-11-20 and uploaded the same day.
#[derive(Debug, Clone)]
pub struct R {
    pub id: u128,
    pub project: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub edition: &'static str,
    pub rating: &'static str,
    pub count: u64,
    pub date: &'static str,
    pub uploaded: &'static str,
}

pub fn r(id: u128) -> R {
    R {
        id,
        project: "Test product",
        version: "1.0",
        kind: "CWE Top 25",
        edition: "2024",
        rating: "A",
        count: 0,
        date: "2026-11-20T09:05:48.5946432+00:00",
        uploaded: "2026-11-20T09:05:48.5946432+00:00",
    }
}

impl R {
    pub fn project(mut self, p: &'static str) -> Self {
        self.project = p;
        self
    }
    pub fn version(mut self, v: &'static str) -> Self {
        self.version = v;
        self
    }
    pub fn kind(mut self, k: &'static str) -> Self {
        self.kind = k;
        self
    }
    pub fn edition(mut self, e: &'static str) -> Self {
        self.edition = e;
        self
    }
    pub fn rating(mut self, r: &'static str) -> Self {
        self.rating = r;
        self
    }
    pub fn count(mut self, c: u64) -> Self {
        self.count = c;
        self
    }
    pub fn date(mut self, d: &'static str) -> Self {
        self.date = d;
        self
    }
    pub fn uploaded(mut self, u: &'static str) -> Self {
        self.uploaded = u;
        self
    }
    pub fn build(&self) -> Report {
        let edition: serde_json::Value = serde_json::from_str(self.edition).expect("edition");
        serde_json::from_value(serde_json::json!({
            "projectName": self.project,
            "id": Uuid::from_u128(self.id).to_string(),
            "reportType": self.kind,
            "reportVersion": edition,
            "projectVersion": self.version,
            "date": self.date,
            "uploadDate": self.uploaded,
            "vulnerabilitiesCount": self.count,
            "securityRating": self.rating,
        }))
        .expect("valid report")
    }
}

pub fn reports(list: &[R]) -> Vec<Report> {
    list.iter().map(R::build).collect()
}
