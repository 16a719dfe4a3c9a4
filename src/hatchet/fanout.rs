//! How a distributed run fans out: specs are cut into leaves of `batch` consecutive specs, and
//! leaves are grouped under scatter nodes of at most `fanout` children each, as many levels deep
//! as the number of leaves needs (`⌈log_fanout(leaves)⌉`). Pure arithmetic: every node derives
//! its children from its own range, so a retried node spawns exactly the same children.

use std::ops::Range;

/// Most children one scatter node spawns (leaves or nodes).
pub(crate) const FANOUT: u64 = 256;
/// Leaves a run is cut into when neither the experiment nor the user sets a batch size: enough
/// to spread over many workers, few enough that the engine's per-task cost (about 0.25 s of
/// queueing per task on a local engine) stays small next to the work.
pub(crate) const DEFAULT_LEAVES: u64 = 256;

/// Specs per leaf: the explicit choice, else as many as keep the run near [`DEFAULT_LEAVES`].
pub(crate) fn batch_size(n_specs: u64, explicit: Option<u32>) -> u64 {
    match explicit {
        Some(batch) => u64::from(batch).max(1),
        None => n_specs.div_ceil(DEFAULT_LEAVES).max(1),
    }
}

/// What a scatter node spawns for its range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Children {
    /// Leaf tasks, each running its range of specs.
    Leaves(Vec<Range<u64>>),
    /// Scatter nodes one level down, each covering whole leaves.
    Nodes(Vec<Range<u64>>),
}

impl Children {
    /// The children's spec ranges.
    pub(crate) fn ranges(&self) -> &[Range<u64>] {
        match self {
            Self::Leaves(ranges) | Self::Nodes(ranges) => ranges,
        }
    }
}

/// The children of the node over `specs`, with leaves of `batch` specs counted from `specs.start`
/// and at most `fanout` children. Nodes get equal shares of leaves (differing by at most one), so
/// the tree is balanced and no level is deeper than it must be.
pub(crate) fn children(specs: Range<u64>, batch: u64, fanout: u64) -> Children {
    let (batch, fanout) = (batch.max(1), fanout.max(2));
    let n_leaves = (specs.end.saturating_sub(specs.start)).div_ceil(batch);
    let leaf_start = |leaf: u64| specs.start.saturating_add(leaf.saturating_mul(batch)).min(specs.end);
    if n_leaves <= fanout {
        return Children::Leaves((0..n_leaves).map(|leaf| leaf_start(leaf)..leaf_start(leaf + 1)).collect());
    }
    // Leaves under each child: the smallest power of `fanout` that needs at most `fanout` children.
    let mut per_child = fanout;
    while n_leaves.div_ceil(per_child) > fanout {
        per_child = per_child.saturating_mul(fanout);
    }
    let n_children = n_leaves.div_ceil(per_child);
    let bound = |child: u64| leaf_start(n_leaves * child / n_children);
    Children::Nodes((0..n_children).map(|child| bound(child)..bound(child + 1)).collect())
}

/// Levels of scatter nodes above the leaves (1: the root spawns the leaves itself).
pub(crate) fn depth(n_specs: u64, batch: u64, fanout: u64) -> u32 {
    let (batch, fanout) = (batch.max(1), fanout.max(2));
    let mut capacity = fanout;
    let mut depth = 1;
    while n_specs.div_ceil(batch) > capacity {
        capacity = capacity.saturating_mul(fanout);
        depth += 1;
    }
    depth
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Expands a node down to its leaves, checking every node's fan-out on the way.
    fn leaves(specs: Range<u64>, batch: u64, fanout: u64, levels: &mut u32) -> Vec<Range<u64>> {
        *levels += 1;
        match children(specs, batch, fanout) {
            Children::Leaves(ranges) => {
                assert!(ranges.len() as u64 <= fanout);
                ranges
            }
            Children::Nodes(ranges) => {
                assert!(ranges.len() as u64 <= fanout && ranges.len() > 1);
                let mut deepest = 0;
                let mut all = Vec::new();
                for range in ranges {
                    let mut below = *levels;
                    all.extend(leaves(range, batch, fanout, &mut below));
                    deepest = deepest.max(below);
                }
                *levels = deepest;
                all
            }
        }
    }

    #[test]
    fn leaves_tile_the_range_in_batches_at_the_planned_depth() {
        for (n, batch, fanout) in [(0, 1, 4), (1, 1, 4), (10, 3, 4), (17, 1, 4), (1000, 1, 256), (100_000, 1, 16)] {
            let mut levels = 0;
            let all = leaves(0..n, batch, fanout, &mut levels);
            let mut next = 0;
            for leaf in &all {
                assert_eq!(leaf.start, next, "n={n} batch={batch} fanout={fanout}");
                assert!(leaf.end > leaf.start && leaf.end - leaf.start <= batch);
                assert!(leaf.end == n || leaf.end - leaf.start == batch, "only the last leaf may be short");
                next = leaf.end;
            }
            assert_eq!(next, n);
            assert_eq!(levels, depth(n, batch, fanout), "n={n} batch={batch} fanout={fanout}");
        }
    }

    #[test]
    fn depth_grows_with_the_logarithm_of_the_leaf_count() {
        assert_eq!(depth(256, 1, 256), 1);
        assert_eq!(depth(257, 1, 256), 2);
        assert_eq!(depth(65_536, 1, 256), 2);
        assert_eq!(depth(65_537, 1, 256), 3);
        assert_eq!(depth(1_000_000, 1, 256), 3);
        assert_eq!(depth(1_000_000, batch_size(1_000_000, None), FANOUT), 1);
    }

    #[test]
    fn nodes_share_the_leaves_evenly() {
        let Children::Nodes(nodes) = children(5..1005, 1, 256) else { panic!("1000 leaves need nodes") };
        let sizes: Vec<u64> = nodes.iter().map(|r| r.end - r.start).collect();
        assert_eq!(sizes, [250, 250, 250, 250]);
        assert_eq!((nodes[0].start, nodes[3].end), (5, 1005));
    }

    #[test]
    fn default_batch_keeps_runs_near_the_default_leaf_count() {
        assert_eq!(batch_size(10, None), 1);
        assert_eq!(batch_size(2000, None), 8);
        assert_eq!(batch_size(100_000, None), 391);
        assert_eq!(batch_size(100_000, Some(1)), 1);
    }
}
