//! Retries with exponential backoff and jitter.

use std::time::Duration;

/// When and how often failed requests are retried.
///
/// Connection failures, time-outs, broken bodies, `429 Too Many Requests` and
/// `500`/`502`/`503`/`504` are retried: the platform's endpoints are all `GET`s, so a retry is
/// safe. The wait before retry *n* is drawn at random from the upper half of
/// `initial_backoff × 2ⁿ⁻¹` (capped at `max_backoff`); a `Retry-After` header, when present,
/// is honoured instead, up to `max_retry_after`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, including the first; `1` turns retries off.
    pub max_attempts: u32,
    /// The wait before the first retry (before jitter).
    pub initial_backoff: Duration,
    /// The longest wait between attempts (before jitter).
    pub max_backoff: Duration,
    /// The longest `Retry-After` that is honoured; longer values are cut to this.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(20),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// No retries: one attempt only.
    pub fn none() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// The wait after failed attempt number `attempt` (1-based): `retry_after` (capped) when
    /// the server asked for one, else exponential backoff with jitter.
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(after) = retry_after {
            return after.min(self.max_retry_after);
        }
        let exponent = attempt.saturating_sub(1).min(30);
        let backoff = self
            .initial_backoff
            .saturating_mul(1u32 << exponent)
            .min(self.max_backoff);
        let half = backoff / 2;
        let jitter_nanos = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
        half + Duration::from_nanos(fastrand::u64(0..=jitter_nanos))
    }
}

/// Parses a `Retry-After` value (RFC 9110): delay-seconds, or an HTTP date as seen at `now`.
/// `None` when it is neither, or the date has passed.
pub fn parse_retry_after(value: &str, now: time::OffsetDateTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let format = time::format_description::parse_borrowed::<2>(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT",
    )
    .ok()?;
    let date = time::PrimitiveDateTime::parse(value, &format)
        .ok()?
        .assume_utc();
    let wait = date - now;
    Some(Duration::try_from(wait).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_exponentially_with_jitter_in_the_upper_half_and_is_capped() {
        let policy = RetryPolicy {
            max_attempts: 10,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(1_000),
            max_retry_after: Duration::from_secs(5),
        };
        for _ in 0..200 {
            let first = policy.delay(1, None);
            assert!((50..=100).contains(&first.as_millis()), "{first:?}");
            let third = policy.delay(3, None);
            assert!((200..=400).contains(&third.as_millis()), "{third:?}");
            let late = policy.delay(30, None);
            assert!((500..=1_000).contains(&late.as_millis()), "{late:?}");
        }
        let draws: std::collections::HashSet<_> = (0..50).map(|_| policy.delay(2, None)).collect();
        assert!(draws.len() > 1, "jitter varies the delay");
    }

    #[test]
    fn retry_after_is_honoured_and_capped() {
        let policy = RetryPolicy::default();
        assert_eq!(
            policy.delay(1, Some(Duration::from_secs(3))),
            Duration::from_secs(3)
        );
        assert_eq!(
            policy.delay(1, Some(Duration::from_secs(3_600))),
            Duration::from_secs(60)
        );
    }

    #[test]
    fn retry_after_parses_seconds_and_http_dates() {
        let now = time::OffsetDateTime::from_unix_timestamp(784_111_777).expect("time"); // Sun, 06 Nov 1994 08:49:37 GMT
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:50:37 GMT", now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
