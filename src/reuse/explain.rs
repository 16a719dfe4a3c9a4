//! Why specs ran instead of reusing a cached result: what `--explain` prints.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;

use super::index::Finding;

/// Specs listed by [`Explanation::examples`].
pub(crate) const EXAMPLES: usize = 10;

/// Why one spec ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RanBecause {
    /// The index has no entry for its input values: a new spec.
    NoEntry,
    /// A run had the same input values and files, with other code (the function's tokens,
    /// `cache_version`, the crate's version or the output schema).
    CodeChanged,
    /// A run had the same input values with other input file contents.
    InputFileChanged,
    /// It failed before with the same code and inputs (failures are never reused).
    FailedBefore,
    /// The cached result's run lost its final tables (deleted).
    CachedRunGone,
    /// One of its input files could not be read, so it has no key.
    InputUnreadable,
    /// The cache was off (`--no-cache`, `SCYTHE_NO_CACHE=1`).
    CacheDisabled,
    /// The experiment has no code fingerprint (not defined with `#[scythe::experiment]`).
    NoFingerprint,
    /// A process running the run died; its suspects run again as recorded, without the cache.
    Recovering,
}

impl RanBecause {
    /// The reason of a spec the cache did not copy, from what the index said about it.
    pub(crate) fn of(finding: &Finding) -> Self {
        if finding.hit().is_some() {
            RanBecause::CachedRunGone
        } else if finding.failed_before {
            RanBecause::FailedBefore
        } else if finding.same_files {
            RanBecause::CodeChanged
        } else if finding.other_files {
            RanBecause::InputFileChanged
        } else {
            RanBecause::NoEntry
        }
    }
}

impl fmt::Display for RanBecause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RanBecause::NoEntry => "no entry (new input values)",
            RanBecause::CodeChanged => "code changed (same inputs, other code fingerprint)",
            RanBecause::InputFileChanged => "input file changed (same values, other file contents)",
            RanBecause::FailedBefore => "failed before (failures are not cached)",
            RanBecause::CachedRunGone => "the run holding its result is gone",
            RanBecause::InputUnreadable => "an input file could not be read",
            RanBecause::CacheDisabled => "cache disabled (--no-cache)",
            RanBecause::NoFingerprint => "no code fingerprint (not a #[scythe::experiment])",
            RanBecause::Recovering => "recovering from a crash (suspects run as recorded)",
        })
    }
}

/// Why the specs of an execution ran: a count per reason and the first few specs.
///
/// Serialized in the outputs of Hatchet tasks, so that a distributed run can explain itself.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Explanation {
    /// Specs that ran, by reason.
    pub counts: BTreeMap<RanBecause, u64>,
    /// The first specs that ran (at most 10), by sort index, with their reason.
    pub examples: Vec<(u64, RanBecause)>,
}

impl Explanation {
    /// Every spec of `ranges` ran for `reason`.
    pub(crate) fn all(ranges: &[Range<u64>], reason: RanBecause) -> Self {
        let mut explanation = Explanation::default();
        for index in ranges.iter().flat_map(Clone::clone).take(EXAMPLES) {
            explanation.examples.push((index, reason));
        }
        let total: u64 = ranges.iter().map(|r| r.end - r.start).sum();
        if total > 0 {
            explanation.counts.insert(reason, total);
        }
        explanation
    }

    /// Whether no spec ran.
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    /// Adds the specs `other` explains (another part of the same run): counts summed, the
    /// first specs of both kept in sort-index order.
    #[cfg_attr(not(feature = "hatchet"), allow(dead_code, reason = "Hatchet scatter nodes merge their leaves'"))]
    pub(crate) fn merge(&mut self, other: Explanation) {
        for (reason, count) in other.counts {
            *self.counts.entry(reason).or_default() += count;
        }
        self.examples.extend(other.examples);
        self.examples.sort_unstable_by_key(|&(sort_index, _)| sort_index);
        self.examples.dedup_by_key(|&mut (sort_index, _)| sort_index);
        self.examples.truncate(EXAMPLES);
    }

    /// Notes that spec `sort_index` ran for `reason` (call in sort-index order).
    pub(crate) fn add(&mut self, sort_index: u64, reason: RanBecause) {
        *self.counts.entry(reason).or_default() += 1;
        if self.examples.len() < EXAMPLES {
            self.examples.push((sort_index, reason));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::single_range_in_vec_init)] // one-range lists of sort indexes
    fn merged_explanations_sum_counts_and_keep_the_first_specs() {
        let mut left = Explanation::all(&[20..26], RanBecause::NoEntry);
        let right = Explanation::all(&[0..3, 40..50], RanBecause::CodeChanged);
        left.merge(right);
        assert_eq!(left.counts[&RanBecause::NoEntry], 6);
        assert_eq!(left.counts[&RanBecause::CodeChanged], 13);
        let first: Vec<u64> = left.examples.iter().map(|&(index, _)| index).collect();
        assert_eq!(first, [0, 1, 2, 20, 21, 22, 23, 24, 25, 40]);
        assert_eq!(left.examples[0].1, RanBecause::CodeChanged);
        let mut empty = Explanation::default();
        empty.merge(Explanation::default());
        assert!(empty.is_empty());
    }

    #[test]
    #[allow(clippy::single_range_in_vec_init)] // a one-range list of sort indexes
    fn an_explanation_survives_a_task_output() {
        let explanation = Explanation::all(&[3..5], RanBecause::InputFileChanged);
        let json = serde_json::to_value(&explanation).unwrap_or_default();
        assert_eq!(json["counts"]["input_file_changed"], 2, "{json}");
        let back: Explanation = serde_json::from_value(json).unwrap_or_default();
        assert_eq!(back, explanation);
    }
}
