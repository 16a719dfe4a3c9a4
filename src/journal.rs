//! The journal of work in flight, kept in the store so it survives a process that dies.
//!
//! Before a worker runs a chunk of specs it writes a marker for the chunk's range
//! (`results/inflight/<start>-<end>`) and deletes it once the chunk's results are written. A
//! marker whose range is not covered by result parts when an execution starts means the
//! process running it died (abort, `exit`, a signal, the OOM killer): its uncovered specs are
//! *suspects*. They run first in careful mode: on one thread, alone in the process, in
//! sub-chunks of 1, 2, 4, … specs, each with its own marker. A spec that runs alone is preceded
//! by a crash marker (`results/inflight/<sort_index>.crash<k>`, create-only), so the number of
//! times the process died while exactly that spec ran survives the process; once it reaches
//! `retries + 1` the spec is recorded as failed (`crashed`) instead of run again.
//!
//! A healthy run that is killed (SIGKILL, power loss) leaves markers too: its in-flight chunks
//! become suspects, which costs a slower start of the next execution, never a failure, unless
//! the same spec is killed again and again while it runs alone.

use std::collections::BTreeMap;
use std::ops::Range;

use scythe_core::layout::RunLayout;
use scythe_storage::Store;

use crate::error::Error;

/// One marker object of the journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Marker {
    /// Specs `range` were handed to a worker (a chunk or a careful sub-chunk).
    Range(Range<u64>),
    /// Spec `sort_index` started running alone for the `crash + 1`-th time while `crash`
    /// earlier solo runs of it ended with the process.
    Solo { sort_index: u64, crash: u32 },
}

impl Marker {
    /// The marker's object name inside `results/inflight/`.
    pub(crate) fn name(&self) -> String {
        match self {
            Marker::Range(range) => format!("{:010}-{:010}", range.start, range.end),
            Marker::Solo { sort_index, crash } => format!("{sort_index:010}.crash{crash}"),
        }
    }

    /// Parses a marker's object name (see [`Marker::name`]); `None` for anything else.
    pub(crate) fn parse(name: &str) -> Option<Marker> {
        if let Some((index, crash)) = name.split_once(".crash") {
            return Some(Marker::Solo { sort_index: index.parse().ok()?, crash: crash.parse().ok()? });
        }
        let (start, end) = name.split_once('-')?;
        let (start, end): (u64, u64) = (start.parse().ok()?, end.parse().ok()?);
        (start < end).then_some(Marker::Range(start..end))
    }

    /// The sort indexes the marker is about.
    fn range(&self) -> Range<u64> {
        match self {
            Marker::Range(range) => range.clone(),
            Marker::Solo { sort_index, .. } => *sort_index..sort_index + 1,
        }
    }
}

/// Specs a dead process had in flight, to run carefully before anything else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Suspect {
    /// Consecutive sort indexes without a result.
    pub(crate) range: Range<u64>,
    /// Range markers (object names) to delete once the suspects are handled.
    pub(crate) markers: Vec<String>,
}

/// What the journal says about the specs an execution is about to run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Recovery {
    /// Suspect ranges, in sort-index order, each inside the pending ranges.
    pub(crate) suspects: Vec<Suspect>,
    /// Times the process died while a pending spec ran alone, by sort index.
    pub(crate) crashes: BTreeMap<u64, u32>,
    /// Markers of finished work (results written, marker not yet deleted), to delete.
    pub(crate) stale: Vec<String>,
}

impl Recovery {
    /// Sort indexes of the suspects, for a log line: `96..128, 160..192`.
    pub(crate) fn describe(&self) -> String {
        let ranges: Vec<String> = self.suspects.iter().map(|s| format!("{}..{}", s.range.start, s.range.end)).collect();
        match ranges.len() {
            0..=4 => ranges.join(", "),
            n => format!("{} and {} more ranges", ranges[..3].join(", "), n - 3),
        }
    }
}

/// Works out suspects and crash counts from the markers found (with their object names) and
/// the ranges that have no result yet (`pending`, sorted, disjoint), within `within`.
pub(crate) fn recover(markers: &[(String, Marker)], pending: &[Range<u64>], within: &Range<u64>) -> Recovery {
    let uncovered = |range: &Range<u64>| -> Vec<Range<u64>> {
        pending
            .iter()
            .filter_map(|p| {
                let (start, end) = (p.start.max(range.start), p.end.min(range.end));
                (start < end).then_some(start..end)
            })
            .collect()
    };
    let mut recovery = Recovery::default();
    // Suspect pieces with the marker that makes them suspect, merged below.
    let mut pieces: Vec<(Range<u64>, Option<String>)> = Vec::new();
    for (name, marker) in markers {
        let range = marker.range();
        let inside = within.start <= range.start && range.end <= within.end;
        let open = uncovered(&range);
        if open.is_empty() {
            if inside {
                recovery.stale.push(name.clone());
            }
            continue;
        }
        match marker {
            Marker::Solo { sort_index, crash } => {
                let count = recovery.crashes.entry(*sort_index).or_default();
                *count = (*count).max(crash + 1);
                pieces.push((range, None));
            }
            Marker::Range(_) => {
                let owner = inside.then(|| name.clone());
                pieces.extend(open.into_iter().map(|piece| (piece, owner.clone())));
            }
        }
    }
    pieces.retain(|(range, _)| range.start < within.end && within.start < range.end);
    for (range, _) in &mut pieces {
        *range = range.start.max(within.start)..range.end.min(within.end);
    }
    pieces.sort_by_key(|(range, _)| (range.start, range.end));
    for (range, owner) in pieces {
        match recovery.suspects.last_mut() {
            Some(last) if range.start <= last.range.end => {
                last.range.end = last.range.end.max(range.end);
                last.markers.extend(owner.filter(|name| !last.markers.contains(name)));
            }
            _ => recovery.suspects.push(Suspect { range, markers: owner.into_iter().collect() }),
        }
    }
    recovery
}

/// The journal of one run in its store.
#[derive(Debug, Clone)]
pub(crate) struct Journal {
    store: Store,
    layout: RunLayout,
    dir: String,
}

impl Journal {
    /// The journal of `layout`'s run.
    pub(crate) fn new(store: Store, layout: &RunLayout) -> Self {
        Self { store, layout: layout.clone(), dir: layout.inflight_dir() }
    }

    fn key(&self, marker: &Marker) -> String {
        format!("{}/{}", self.dir, marker.name())
    }

    /// Writes `marker` (a range marker is idempotent; a crash marker is create-only).
    pub(crate) async fn begin(&self, marker: &Marker) -> Result<(), Error> {
        let note = format!("pid {}\n", std::process::id());
        match marker {
            Marker::Range(_) => self.store.put(&self.key(marker), note).await?,
            Marker::Solo { .. } => drop(self.store.put_new(&self.key(marker), note).await?),
        }
        Ok(())
    }

    /// Deletes `marker`; for a crash marker, also the earlier ones of its spec.
    pub(crate) async fn end(&self, marker: &Marker) -> Result<(), Error> {
        match *marker {
            Marker::Range(_) => self.store.delete(&self.key(marker)).await?,
            Marker::Solo { sort_index, crash } => {
                for earlier in 0..=crash {
                    self.store.delete(&self.key(&Marker::Solo { sort_index, crash: earlier })).await?;
                }
            }
        }
        Ok(())
    }

    /// Deletes markers by object name (as [`Recovery`] lists them).
    pub(crate) async fn remove(&self, names: &[String]) -> Result<(), Error> {
        for name in names {
            self.store.delete(&format!("{}/{name}", self.dir)).await?;
        }
        Ok(())
    }

    /// Reads the journal: suspects and crash counts among `pending` (within `within`).
    pub(crate) async fn read(&self, pending: &[Range<u64>], within: &Range<u64>) -> Result<Recovery, Error> {
        let markers: Vec<(String, Marker)> = self
            .store
            .list(&self.dir)
            .await?
            .into_iter()
            .filter_map(|meta| {
                let name = meta.location.filename()?.to_owned();
                Marker::parse(&name).map(|marker| (name, marker))
            })
            .collect();
        if markers.is_empty() {
            return Ok(Recovery::default());
        }
        Ok(recover(&markers, pending, within))
    }

    /// After a process died: how far the run got (specs with a result plus crash records, a
    /// number that grows with every death that was not in vain) and its suspects, for a log line.
    pub(crate) async fn inspect(&self) -> Result<(u64, String), Error> {
        let mut covered: Vec<Range<u64>> = Vec::new();
        for table in [crate::parts::SCALARS, crate::parts::FAILURES] {
            let parts = crate::gather::list_parts(&self.store, &self.layout, table).await?;
            covered.extend(parts.into_iter().map(|part| part.id.start..part.id.end));
        }
        covered.sort_by_key(|r| (r.start, r.end));
        let (mut pending, mut next, mut done) = (Vec::new(), 0, 0);
        for range in covered {
            if range.start > next {
                pending.push(next..range.start);
            }
            done += range.end.saturating_sub(range.start.max(next));
            next = next.max(range.end);
        }
        pending.push(next..u64::MAX);
        let recovery = self.read(&pending, &(0..u64::MAX)).await?;
        let crashes: u64 = recovery.crashes.values().map(|&n| u64::from(n)).sum();
        Ok((done + crashes, recovery.describe()))
    }
}

#[cfg(test)]
#[allow(clippy::single_range_in_vec_init)] // one-range lists of pending specs
mod tests {
    use super::*;

    fn named(markers: &[Marker]) -> Vec<(String, Marker)> {
        markers.iter().map(|m| (m.name(), m.clone())).collect()
    }

    #[test]
    fn marker_names_round_trip() {
        for marker in [Marker::Range(96..128), Marker::Solo { sort_index: 120, crash: 2 }] {
            assert_eq!(Marker::parse(&marker.name()), Some(marker));
        }
        assert_eq!(Marker::Range(0..8192).name(), "0000000000-0000008192");
        assert_eq!(Marker::Solo { sort_index: 7, crash: 0 }.name(), "0000000007.crash0");
        for junk in ["0000000008-0000000004", "x-y", "12.crashy", "notes.txt"] {
            assert_eq!(Marker::parse(junk), None, "{junk}");
        }
    }

    #[test]
    fn suspects_are_the_uncovered_parts_of_markers() {
        // Chunk 96..128 died after writing 96..110; chunk 0..32 finished but kept its marker;
        // chunk 160..192 wrote nothing.
        let markers = named(&[Marker::Range(96..128), Marker::Range(0..32), Marker::Range(160..192)]);
        let pending = vec![110..128, 160..200];
        let recovery = recover(&markers, &pending, &(0..200));
        assert_eq!(
            recovery.suspects,
            vec![
                Suspect { range: 110..128, markers: vec![Marker::Range(96..128).name()] },
                Suspect { range: 160..192, markers: vec![Marker::Range(160..192).name()] },
            ]
        );
        assert_eq!(recovery.stale, vec![Marker::Range(0..32).name()]);
        assert!(recovery.crashes.is_empty());
        assert_eq!(recovery.describe(), "110..128, 160..192");
    }

    #[test]
    fn crash_counts_come_from_solo_markers_of_specs_without_results() {
        let markers = named(&[
            Marker::Range(96..128),
            Marker::Range(120..122),
            Marker::Solo { sort_index: 120, crash: 0 },
            Marker::Solo { sort_index: 120, crash: 1 },
            // Spec 5 crashed once alone, then succeeded: its marker is stale, not a crash.
            Marker::Solo { sort_index: 5, crash: 0 },
        ]);
        let pending = vec![120..128];
        let recovery = recover(&markers, &pending, &(0..200));
        assert_eq!(recovery.crashes, BTreeMap::from([(120, 2)]));
        assert_eq!(recovery.suspects.len(), 1);
        assert_eq!(recovery.suspects[0].range, 120..128);
        let mut owners = recovery.suspects[0].markers.clone();
        owners.sort();
        assert_eq!(owners, vec![Marker::Range(96..128).name(), Marker::Range(120..122).name()]);
        assert_eq!(recovery.stale, vec![Marker::Solo { sort_index: 5, crash: 0 }.name()]);
    }

    #[test]
    fn a_shard_only_sees_and_deletes_its_own_rows() {
        let markers = named(&[Marker::Range(90..110), Marker::Range(0..10)]);
        let pending = vec![100..200];
        let recovery = recover(&markers, &pending, &(100..200));
        assert_eq!(recovery.suspects, vec![Suspect { range: 100..110, markers: Vec::new() }]);
        // 0..10 is covered but outside this shard: left to whoever runs those rows.
        assert!(recovery.stale.is_empty());
    }

    #[test]
    fn no_markers_no_suspects() {
        assert_eq!(recover(&[], &[0..100], &(0..100)), Recovery::default());
    }
}
