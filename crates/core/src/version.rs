//! Product versions as the platform writes them, parsed leniently into SemVer ordering.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::Error;

/// A product version such as `1.0`, `v1.2.3` or `2.0.0-rc.1+build.5`.
///
/// The platform documents "semantic versioning" but sends versions like `"1.0"`, which are not
/// strict SemVer 2.0. Parsing is therefore lenient:
///
/// - a leading `v` or `V` is dropped (`v1.2.3` → 1.2.3);
/// - missing minor and patch numbers are zero (`1` → 1.0.0, `1.0` → 1.0.0);
/// - pre-release and build metadata are kept (`2.0-rc.1` → 2.0.0-rc.1).
///
/// The original string is kept for display and for queries sent to the platform.
///
/// Equality, ordering and hashing follow SemVer *precedence*: `1.0` equals `1.0.0`, pre-releases
/// sort before their release, and build metadata is ignored.
#[derive(Clone)]
pub struct ProductVersion {
    original: String,
    semver: semver::Version,
}

impl ProductVersion {
    /// Parses a version leniently; see the type's documentation for what is accepted.
    pub fn parse(input: &str) -> Result<Self, Error> {
        let invalid = |reason: &str| Error::InvalidVersion {
            input: input.to_owned(),
            reason: reason.to_owned(),
        };
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(invalid("it is empty"));
        }
        let unprefixed = trimmed
            .strip_prefix('v')
            .or_else(|| trimmed.strip_prefix('V'))
            .unwrap_or(trimmed);
        // Split `core[-pre][+build]`; the core ends at the first `-` or `+`.
        let core_end = unprefixed.find(['-', '+']).unwrap_or(unprefixed.len());
        let (core, rest) = unprefixed.split_at(core_end);
        let parts: Vec<&str> = core.split('.').collect();
        if parts.len() > 3 {
            return Err(invalid("it has more than three numeric components"));
        }
        for part in &parts {
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(invalid(&format!(
                    "`{part}` is not a number (expected MAJOR[.MINOR[.PATCH]][-PRE][+BUILD])"
                )));
            }
        }
        let mut normalized = parts.join(".");
        for _ in parts.len()..3 {
            normalized.push_str(".0");
        }
        normalized.push_str(rest);
        let semver = semver::Version::parse(&normalized).map_err(|e| invalid(&e.to_string()))?;
        Ok(Self {
            original: input.to_owned(),
            semver,
        })
    }

    /// The string exactly as it was given or received.
    pub fn as_str(&self) -> &str {
        &self.original
    }

    /// The normalised SemVer form (`1.0` → `1.0.0`).
    pub fn semver(&self) -> &semver::Version {
        &self.semver
    }
}

impl fmt::Display for ProductVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.original)
    }
}

impl fmt::Debug for ProductVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ProductVersion({:?} = {})", self.original, self.semver)
    }
}

impl FromStr for ProductVersion {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::parse(s)
    }
}

impl PartialEq for ProductVersion {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for ProductVersion {}

impl PartialOrd for ProductVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ProductVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        self.semver.cmp_precedence(&other.semver)
    }
}

impl Hash for ProductVersion {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Consistent with `Eq`: build metadata does not take part.
        self.semver.major.hash(state);
        self.semver.minor.hash(state);
        self.semver.patch.hash(state);
        self.semver.pre.hash(state);
    }
}

impl Serialize for ProductVersion {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.original)
    }
}

impl<'de> Deserialize<'de> for ProductVersion {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> ProductVersion {
        ProductVersion::parse(s).expect(s)
    }

    #[test]
    fn short_forms_are_padded_with_zeros() {
        assert_eq!(v("1").semver(), &semver::Version::new(1, 0, 0));
        assert_eq!(v("1.0").semver(), &semver::Version::new(1, 0, 0));
        assert_eq!(v("1.0").as_str(), "1.0");
        assert_eq!(v("1.0"), v("1.0.0"));
    }

    #[test]
    fn leading_v_is_dropped_and_the_original_kept() {
        let version = v("v1.2.3");
        assert_eq!(version.semver(), &semver::Version::new(1, 2, 3));
        assert_eq!(version.to_string(), "v1.2.3");
        assert_eq!(v("V2").semver(), &semver::Version::new(2, 0, 0));
    }

    #[test]
    fn pre_release_sorts_before_release_and_build_is_ignored() {
        assert!(v("2.0.0-rc.1") < v("2.0.0"));
        assert!(v("2.0.0-alpha") < v("2.0.0-rc.1"));
        assert!(v("2.0-rc.2") > v("2.0.0-rc.1"));
        assert!(v("1.2.0") < v("2.0.0-rc.1"));
        assert_eq!(v("1.0.0+build.7"), v("1.0"));
        assert_eq!(v("v1.0-beta+exp.sha.5114f85").semver().pre.as_str(), "beta");
    }

    #[test]
    fn numeric_components_compare_as_numbers() {
        assert!(v("1.10") > v("1.9"));
        assert!(v("10") > v("9.99.99"));
    }

    #[test]
    fn what_still_does_not_parse_is_rejected_with_the_input_named() {
        for bad in ["", "  ", "x", "1.2.3.4", "1..2", "1.a", "v", "1.0-", "01.0"] {
            let err = ProductVersion::parse(bad).expect_err(bad);
            let message = err.to_string();
            assert!(message.contains(&format!("`{bad}`")), "{message}");
        }
    }
}
