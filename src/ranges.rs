//! Arithmetic on sort-index ranges: which specs are pending, covered by parts, or reused.
//!
//! Ranges are half-open (`start..end`) over a run's sort indexes; functions that take a list
//! say whether it must be sorted and disjoint.

use std::ops::Range;

/// Consecutive runs of `indexes` (sorted, distinct) as ranges.
pub(crate) fn ranges_of(indexes: &[u64]) -> Vec<Range<u64>> {
    let mut ranges: Vec<Range<u64>> = Vec::new();
    for &index in indexes {
        match ranges.last_mut() {
            Some(last) if last.end == index => last.end += 1,
            _ => ranges.push(index..index + 1),
        }
    }
    ranges
}

/// The union of `ranges`, sorted and with overlapping or touching ranges merged.
pub(crate) fn union_ranges(ranges: impl IntoIterator<Item = Range<u64>>) -> Vec<Range<u64>> {
    let mut ranges: Vec<Range<u64>> = ranges.into_iter().filter(|r| !r.is_empty()).collect();
    ranges.sort_by_key(|r| (r.start, r.end));
    let mut merged: Vec<Range<u64>> = Vec::with_capacity(ranges.len());
    for range in ranges {
        match merged.last_mut() {
            Some(last) if range.start <= last.end => last.end = last.end.max(range.end),
            _ => merged.push(range),
        }
    }
    merged
}

/// `ranges` without the sorted `removed` indexes.
pub(crate) fn subtract(ranges: &[Range<u64>], removed: &[u64]) -> Vec<Range<u64>> {
    let mut out = Vec::new();
    for range in ranges {
        let mut next = range.start;
        let from = removed.partition_point(|&i| i < range.start);
        for &index in removed[from..].iter().take_while(|&&i| i < range.end) {
            if index > next {
                out.push(next..index);
            }
            next = index + 1;
        }
        if next < range.end {
            out.push(next..range.end);
        }
    }
    out
}

/// The parts of `within` that no range of `covered` (in any order, overlapping or not) covers.
pub(crate) fn uncovered(mut covered: Vec<Range<u64>>, within: Range<u64>) -> Vec<Range<u64>> {
    covered.sort_by_key(|r| (r.start, r.end));
    let mut pending = Vec::new();
    let mut next = within.start;
    for range in covered {
        if range.start > next && next < within.end {
            pending.push(next..range.start.min(within.end));
        }
        next = next.max(range.end);
    }
    if next < within.end {
        pending.push(next..within.end);
    }
    pending
}

/// Whether `range` lies inside one range of `merged` (disjoint and sorted, as [`union_ranges`]
/// returns them); an empty range always does.
#[cfg(any(feature = "hatchet", test))]
pub(crate) fn covers(merged: &[Range<u64>], range: &Range<u64>) -> bool {
    if range.is_empty() {
        return true;
    }
    let i = merged.partition_point(|r| r.start <= range.start);
    i > 0 && merged[i - 1].end >= range.end
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removed_indexes_leave_the_ranges() {
        assert_eq!(subtract(&[0..10, 20..25], &[0, 3, 4, 9, 21]), vec![1..3, 5..9, 20..21, 22..25]);
        assert_eq!(subtract(&[0..3, 5..6], &[]), vec![0..3, 5..6]);
        assert_eq!(subtract(&[0..3, 5..6], &[0, 1, 2, 5]), Vec::<Range<u64>>::new());
    }

    #[test]
    fn failed_indexes_become_ranges_merged_with_the_pending_ones() {
        assert_eq!(ranges_of(&[]), Vec::<Range<u64>>::new());
        assert_eq!(ranges_of(&[3, 4, 5, 9, 11, 12]), vec![3..6, 9..10, 11..13]);
        let pending = vec![0..2, 6..9, 20..30];
        assert_eq!(
            union_ranges(pending.into_iter().chain(ranges_of(&[2, 5, 9, 12]))),
            vec![0..3, 5..10, 12..13, 20..30]
        );
        assert_eq!(union_ranges([5..10, 0..0, 1..6, 10..11]), vec![1..11]);
    }

    #[test]
    fn covered_ranges_are_found_in_the_merged_parts() {
        let parts = union_ranges([12..14, 0..4, 4..8, 5..6, 20..20, 30..40]);
        assert_eq!(parts, vec![0..8, 12..14, 30..40]);
        for (range, expected) in
            [(0..8, true), (2..5, true), (0..9, false), (8..12, false), (12..14, true), (13..15, false), (35..40, true)]
        {
            assert_eq!(covers(&parts, &range), expected, "{range:?}");
        }
        assert!(covers(&parts, &(50..50)), "an empty range is covered");
        assert!(!covers(&[], &(0..1)));
    }

    #[test]
    #[allow(clippy::single_range_in_vec_init)] // one-range lists of sort indexes
    fn pending_ranges_are_the_gaps_between_parts_inside_the_shard() {
        // Nothing written: the whole shard.
        assert_eq!(uncovered(vec![], 10..20), vec![10..20]);
        // Parts in any order, overlapping (a retried leaf wrote a generation 1 part over 4..8).
        assert_eq!(uncovered(vec![12..14, 0..4, 4..8, 5..6], 0..20), vec![8..12, 14..20]);
        // Parts reaching past the shard on both sides leave only what lies inside it.
        assert_eq!(uncovered(vec![0..12, 18..30], 10..20), vec![12..18]);
        // Fully covered, and an empty shard.
        assert_eq!(uncovered(vec![0..5, 5..10], 0..10), Vec::<Range<u64>>::new());
        assert_eq!(uncovered(vec![0..5], 7..7), Vec::<Range<u64>>::new());
        // A part starting at the shard's end does not create an empty gap.
        assert_eq!(uncovered(vec![20..25], 10..20), vec![10..20]);
    }
}
