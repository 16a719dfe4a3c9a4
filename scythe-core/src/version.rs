//! Experiment versions (`v1.2.3`) and how a new run picks one.

use std::fmt;
use std::str::FromStr;

/// An experiment version, written `vMAJOR.MINOR.PATCH` in run folders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    /// Bumped for a new experiment design (the default strategy).
    pub major: u32,
    /// Bumped for a refinement.
    pub minor: u32,
    /// Bumped for a fix.
    pub patch: u32,
}

/// A version or version strategy that cannot be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    /// Not `vX`, `vX.Y` or `vX.Y.Z`.
    #[error("`{0}` is not a version; write it like `v1.2.3` (or `v1`, `v1.2`)")]
    Version(String),
    /// Not a strategy name nor a version.
    #[error(
        "`{0}` is not a version strategy; use `bump-major`, `bump-minor`, `bump-patch`, `keep` or a version like `v1.2.3`"
    )]
    Strategy(String),
}

impl Version {
    /// The first version of every experiment.
    pub const FIRST: Version = Version::new(1, 0, 0);

    /// A version from its parts.
    pub const fn new(major: u32, minor: u32, patch: u32) -> Self {
        Self { major, minor, patch }
    }

    fn bump(self, strategy: VersionStrategy) -> Version {
        match strategy {
            VersionStrategy::BumpMajor => Version::new(self.major + 1, 0, 0),
            VersionStrategy::BumpMinor => Version::new(self.major, self.minor + 1, 0),
            VersionStrategy::BumpPatch => Version::new(self.major, self.minor, self.patch + 1),
            VersionStrategy::Keep => self,
            VersionStrategy::Exact(version) => version,
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}.{}.{}", self.major, self.minor, self.patch)
    }
}

impl FromStr for Version {
    type Err = VersionError;

    /// Parses `v1.2.3`, `v1.2`, `v1` (missing parts are 0) and the legacy `v1-2-3`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = || VersionError::Version(text.to_owned());
        let digits = text.strip_prefix('v').ok_or_else(error)?;
        let separator = if digits.contains('.') { '.' } else { '-' };
        let mut parts = digits.split(separator).map(|part| {
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(error());
            }
            part.parse::<u32>().map_err(|_| error())
        });
        let major = parts.next().ok_or_else(error)??;
        let minor = parts.next().transpose()?.unwrap_or(0);
        let patch = parts.next().transpose()?.unwrap_or(0);
        if parts.next().is_some() {
            return Err(error());
        }
        Ok(Version::new(major, minor, patch))
    }
}

/// How a new run chooses its version from the versions that already exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VersionStrategy {
    /// Next major version (`v1.4.2` → `v2.0.0`): a new experiment design. The default.
    #[default]
    BumpMajor,
    /// Next minor version (`v1.4.2` → `v1.5.0`).
    BumpMinor,
    /// Next patch version (`v1.4.2` → `v1.4.3`).
    BumpPatch,
    /// The latest version again: one more run of the same design.
    Keep,
    /// This version, whatever exists.
    Exact(Version),
}

impl VersionStrategy {
    /// The version a new run gets; with no existing version every strategy but `Exact` gives v1.0.0.
    pub fn resolve(self, existing: impl IntoIterator<Item = Version>) -> Version {
        match (self, existing.into_iter().max()) {
            (VersionStrategy::Exact(version), _) => version,
            (_, None) => Version::FIRST,
            (strategy, Some(latest)) => latest.bump(strategy),
        }
    }

    /// Whether the strategy creates a new version (which must then be claimed exclusively).
    pub fn creates_version(self) -> bool {
        matches!(self, VersionStrategy::BumpMajor | VersionStrategy::BumpMinor | VersionStrategy::BumpPatch)
    }
}

impl FromStr for VersionStrategy {
    type Err = VersionError;

    /// Parses `bump-major`, `bump-minor`, `bump-patch`, `keep` (also without dashes) or a version.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.to_ascii_lowercase().replace(['-', '_'], "").as_str() {
            "bumpmajor" | "major" => Ok(VersionStrategy::BumpMajor),
            "bumpminor" | "minor" => Ok(VersionStrategy::BumpMinor),
            "bumppatch" | "patch" => Ok(VersionStrategy::BumpPatch),
            "keep" | "latest" => Ok(VersionStrategy::Keep),
            _ => text.parse().map(VersionStrategy::Exact).map_err(|_| VersionError::Strategy(text.to_owned())),
        }
    }
}

impl fmt::Display for VersionStrategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VersionStrategy::BumpMajor => f.write_str("bump-major"),
            VersionStrategy::BumpMinor => f.write_str("bump-minor"),
            VersionStrategy::BumpPatch => f.write_str("bump-patch"),
            VersionStrategy::Keep => f.write_str("keep"),
            VersionStrategy::Exact(version) => version.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> Version {
        text.parse().unwrap()
    }

    #[test]
    fn parses_full_short_and_legacy_forms() {
        assert_eq!(v("v1.2.3"), Version::new(1, 2, 3));
        assert_eq!(v("v2"), Version::new(2, 0, 0));
        assert_eq!(v("v1.2"), Version::new(1, 2, 0));
        assert_eq!(v("v1-2-3"), Version::new(1, 2, 3));
        for bad in ["1.2.3", "v", "v1.x", "v1.2.3.4", "v1..2", "v-1", "vv1"] {
            assert!(bad.parse::<Version>().is_err(), "{bad} parsed");
        }
    }

    #[test]
    fn every_strategy_starts_at_v1() {
        for strategy in
            [VersionStrategy::BumpMajor, VersionStrategy::BumpMinor, VersionStrategy::BumpPatch, VersionStrategy::Keep]
        {
            assert_eq!(strategy.resolve([]), Version::FIRST);
        }
    }

    #[test]
    fn strategies_bump_from_the_latest_version() {
        let existing = [v("v1.0.0"), v("v1.4.2"), v("v1.3.9")];
        assert_eq!(VersionStrategy::BumpMajor.resolve(existing), v("v2.0.0"));
        assert_eq!(VersionStrategy::BumpMinor.resolve(existing), v("v1.5.0"));
        assert_eq!(VersionStrategy::BumpPatch.resolve(existing), v("v1.4.3"));
        assert_eq!(VersionStrategy::Keep.resolve(existing), v("v1.4.2"));
        assert_eq!(VersionStrategy::Exact(v("v0.1.0")).resolve(existing), v("v0.1.0"));
    }

    #[test]
    fn strategy_names_round_trip() {
        for text in ["bump-major", "bump-minor", "bump-patch", "keep", "v3.1.4"] {
            assert_eq!(text.parse::<VersionStrategy>().unwrap().to_string(), text);
        }
        assert_eq!("bumpmajor".parse::<VersionStrategy>(), Ok(VersionStrategy::BumpMajor));
        assert!("sideways".parse::<VersionStrategy>().is_err());
    }
}
