//! The version filter every list request needs.

use std::fmt;

use crate::{Error, ProductVersion};

/// Which product versions a list request asks for: an exact version, a minimum, a maximum, or a
/// combination. Bounds are inclusive, in SemVer precedence.
///
/// The platform requires at least one of `version`, `minver` and `maxver`; this type cannot be
/// built without one, so an empty filter is rejected before any request is sent.
///
/// ```
/// use procurize_core::{ProductVersion, VersionFilter};
/// let filter = VersionFilter::at_least("1.0".parse()?).with_max("2.0".parse()?)?;
/// assert!(filter.matches(&"1.5".parse()?));
/// assert!(filter.matches(&"2.0.0".parse()?));
/// assert!(!filter.matches(&"2.0.1".parse()?));
/// # Ok::<(), procurize_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionFilter {
    exact: Option<ProductVersion>,
    min: Option<ProductVersion>,
    max: Option<ProductVersion>,
}

impl VersionFilter {
    /// Builds a filter from optional parts: fails when all three are absent, or when the bounds
    /// cannot match anything (`min > max`, or `exact` outside them).
    pub fn new(
        exact: Option<ProductVersion>,
        min: Option<ProductVersion>,
        max: Option<ProductVersion>,
    ) -> Result<Self, Error> {
        if exact.is_none() && min.is_none() && max.is_none() {
            return Err(Error::EmptyFilter);
        }
        let filter = Self { exact, min, max };
        filter.check_satisfiable()?;
        Ok(filter)
    }

    /// Exactly this version.
    pub fn exact(version: ProductVersion) -> Self {
        Self {
            exact: Some(version),
            min: None,
            max: None,
        }
    }

    /// This version or any later one.
    pub fn at_least(version: ProductVersion) -> Self {
        Self {
            exact: None,
            min: Some(version),
            max: None,
        }
    }

    /// This version or any earlier one.
    pub fn at_most(version: ProductVersion) -> Self {
        Self {
            exact: None,
            min: None,
            max: Some(version),
        }
    }

    /// Adds or replaces the minimum; fails if the filter can then match nothing.
    pub fn with_min(mut self, version: ProductVersion) -> Result<Self, Error> {
        self.min = Some(version);
        self.check_satisfiable()?;
        Ok(self)
    }

    /// Adds or replaces the maximum; fails if the filter can then match nothing.
    pub fn with_max(mut self, version: ProductVersion) -> Result<Self, Error> {
        self.max = Some(version);
        self.check_satisfiable()?;
        Ok(self)
    }

    /// The exact version asked for, if any.
    pub fn exact_version(&self) -> Option<&ProductVersion> {
        self.exact.as_ref()
    }

    /// The inclusive minimum, if any.
    pub fn min_version(&self) -> Option<&ProductVersion> {
        self.min.as_ref()
    }

    /// The inclusive maximum, if any.
    pub fn max_version(&self) -> Option<&ProductVersion> {
        self.max.as_ref()
    }

    /// Whether a report for `version` belongs in the answer.
    pub fn matches(&self, version: &ProductVersion) -> bool {
        self.exact.as_ref().is_none_or(|v| version == v)
            && self.min.as_ref().is_none_or(|v| version >= v)
            && self.max.as_ref().is_none_or(|v| version <= v)
    }

    /// The query parameters the platform expects, with the versions as originally written.
    pub fn query_pairs(&self) -> Vec<(&'static str, &str)> {
        let mut pairs = Vec::with_capacity(3);
        if let Some(v) = &self.exact {
            pairs.push(("version", v.as_str()));
        }
        if let Some(v) = &self.min {
            pairs.push(("minver", v.as_str()));
        }
        if let Some(v) = &self.max {
            pairs.push(("maxver", v.as_str()));
        }
        pairs
    }

    fn check_satisfiable(&self) -> Result<(), Error> {
        if let (Some(min), Some(max)) = (&self.min, &self.max)
            && min > max
        {
            return Err(Error::UnsatisfiableFilter {
                reason: format!("the minimum {min} is greater than the maximum {max}"),
            });
        }
        if let Some(exact) = &self.exact
            && (self.min.as_ref().is_some_and(|v| exact < v)
                || self.max.as_ref().is_some_and(|v| exact > v))
        {
            return Err(Error::UnsatisfiableFilter {
                reason: format!("the version {exact} lies outside {self}"),
            });
        }
        Ok(())
    }
}

impl fmt::Display for VersionFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if let Some(v) = &self.exact {
            parts.push(format!("version = {v}"));
        }
        if let Some(v) = &self.min {
            parts.push(format!("version >= {v}"));
        }
        if let Some(v) = &self.max {
            parts.push(format!("version <= {v}"));
        }
        f.write_str(&parts.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> ProductVersion {
        s.parse().expect(s)
    }

    #[test]
    fn an_empty_filter_cannot_be_built() {
        assert!(matches!(
            VersionFilter::new(None, None, None),
            Err(Error::EmptyFilter)
        ));
    }

    #[test]
    fn bounds_are_inclusive_in_semver_order() {
        let f = VersionFilter::new(None, Some(v("1.0")), Some(v("2.0.0"))).expect("valid");
        assert!(f.matches(&v("1.0.0")));
        assert!(f.matches(&v("v1.2.0")));
        assert!(f.matches(&v("2.0")));
        assert!(f.matches(&v("2.0.0-rc.1")), "rc.1 precedes 2.0.0");
        assert!(!f.matches(&v("1.0.0-rc.1")), "rc.1 precedes 1.0.0");
        assert!(!f.matches(&v("2.0.1")));
    }

    #[test]
    fn exact_matches_by_precedence_not_text() {
        let f = VersionFilter::exact(v("1.0"));
        assert!(f.matches(&v("1.0.0")));
        assert!(f.matches(&v("v1")));
        assert!(!f.matches(&v("1.0.1")));
    }

    #[test]
    fn query_keeps_the_original_text() {
        let f = VersionFilter::new(Some(v("v1.0")), Some(v("1")), None).expect("valid");
        assert_eq!(f.query_pairs(), [("version", "v1.0"), ("minver", "1")]);
    }

    #[test]
    fn impossible_filters_are_rejected() {
        let err = VersionFilter::at_least(v("2.0"))
            .with_max(v("1.0"))
            .expect_err("min > max");
        assert!(
            err.to_string()
                .contains("2.0 is greater than the maximum 1.0"),
            "{err}"
        );
        assert!(VersionFilter::new(Some(v("3.0")), None, Some(v("2.0"))).is_err());
    }
}
