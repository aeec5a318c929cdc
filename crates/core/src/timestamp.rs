//! RFC 3339 timestamps as the platform sends them, with full precision kept.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::Error;

/// A point in time such as `2025-12-17T09:05:48.5946432+00:00`.
///
/// Accepts RFC 3339 with zero to nine fractional digits and any offset. The instant is kept to the
/// nanosecond, and the original text is kept so that a value can be written back exactly as it
/// was received. Equality, ordering and hashing are by instant: the same moment written with two
/// different offsets is equal.
#[derive(Clone)]
pub struct Timestamp {
    original: String,
    at: OffsetDateTime,
}

impl Timestamp {
    /// Parses an RFC 3339 timestamp.
    pub fn parse(input: &str) -> Result<Self, Error> {
        let invalid = |reason: String| Error::InvalidTimestamp {
            input: input.to_owned(),
            reason,
        };
        // RFC 3339 allows at most what fits in nanoseconds for us; more digits would lose data.
        if let Some(dot) = input.find('.') {
            let digits = input[dot + 1..]
                .bytes()
                .take_while(u8::is_ascii_digit)
                .count();
            if digits > 9 {
                return Err(invalid(format!(
                    "{digits} fractional digits; at most 9 are supported"
                )));
            }
        }
        let at = OffsetDateTime::parse(input, &Rfc3339).map_err(|e| invalid(e.to_string()))?;
        Ok(Self {
            original: input.to_owned(),
            at,
        })
    }

    /// A timestamp for an instant, written in RFC 3339 with its own offset.
    pub fn from_datetime(at: OffsetDateTime) -> Self {
        let original = at
            .format(&Rfc3339)
            .unwrap_or_else(|_| at.unix_timestamp().to_string());
        Self { original, at }
    }

    /// The current time in UTC.
    pub fn now_utc() -> Self {
        Self::from_datetime(OffsetDateTime::now_utc())
    }

    /// The text exactly as it was given or received.
    pub fn as_str(&self) -> &str {
        &self.original
    }

    /// The instant, with its original offset.
    pub fn datetime(&self) -> OffsetDateTime {
        self.at
    }

    /// Nanoseconds since the Unix epoch.
    pub fn unix_nanos(&self) -> i128 {
        self.at.unix_timestamp_nanos()
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.original)
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({:?})", self.original)
    }
}

impl FromStr for Timestamp {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::parse(s)
    }
}

impl PartialEq for Timestamp {
    fn eq(&self, other: &Self) -> bool {
        self.at == other.at
    }
}

impl Eq for Timestamp {}

impl PartialOrd for Timestamp {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Timestamp {
    fn cmp(&self, other: &Self) -> Ordering {
        self.at.cmp(&other.at)
    }
}

impl Hash for Timestamp {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.unix_nanos().hash(state);
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.original)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seven_fractional_digits_keep_full_precision() {
        let t = Timestamp::parse("2025-12-17T09:05:48.5946432+00:00").expect("parses");
        assert_eq!(t.datetime().nanosecond(), 594_643_200);
        assert_eq!(t.as_str(), "2025-12-17T09:05:48.5946432+00:00");
        assert_eq!(t.unix_nanos() % 1_000_000_000, 594_643_200);
    }

    #[test]
    fn zero_to_nine_digits_and_any_offset() {
        for input in [
            "2025-12-17T09:05:48Z",
            "2025-12-17T09:05:48.5Z",
            "2025-12-17T18:05:48.123456789+09:00",
            "2025-12-17t04:05:48.1-05:00",
        ] {
            Timestamp::parse(input).expect(input);
        }
        let tokyo = Timestamp::parse("2025-12-17T18:05:48+09:00").expect("parses");
        let utc = Timestamp::parse("2025-12-17T09:05:48Z").expect("parses");
        assert_eq!(tokyo, utc);
        assert!(Timestamp::parse("2025-12-17T09:05:49Z").expect("parses") > tokyo);
    }

    #[test]
    fn malformed_input_is_rejected_with_the_input_named() {
        for bad in [
            "2025-12-17",
            "2025-12-17 09:05:48",
            "2025-12-17T09:05:48",
            "2025-13-17T09:05:48Z",
            "2025-12-17T09:05:48.1234567891Z",
            "yesterday",
        ] {
            let err = Timestamp::parse(bad).expect_err(bad);
            assert!(err.to_string().contains(bad), "{err}");
        }
    }

    #[test]
    fn serde_round_trips_the_original_text() {
        let json = "\"2025-12-17T09:05:48.5946432+00:00\"";
        let t: Timestamp = serde_json::from_str(json).expect("parses");
        assert_eq!(serde_json::to_string(&t).expect("serializes"), json);
    }
}
