//! What a command tells the researcher at its end: the run's counts, the most common errors of
//! its failed specs, what to do next, and the exit code.

use std::collections::HashMap;
use std::io::Write;
use std::process::ExitCode;

use arrow::array::{Array, AsArray};
use arrow::datatypes::UInt64Type;
use futures::TryStreamExt;
use scythe_core::schema::SORT_INDEX;
use scythe_storage::Store;

use crate::api::RunReport;
use crate::error::Error;

/// Most error groups a summary lists.
pub(crate) const TOP_GROUPS: usize = 5;

/// Exit code: every spec has a result and none failed (or `--allow-failures`).
pub(crate) const EXIT_OK: u8 = 0;
/// Exit code: some specs failed (`final/failures.pq`).
pub(crate) const EXIT_FAILED: u8 = 1;
/// Exit code: the run is incomplete (specs without a result; `resume` runs them).
pub(crate) const EXIT_INCOMPLETE: u8 = 3;

/// The exit codes, as `--help` shows them.
pub(crate) const EXIT_CODES_HELP: &str = "\
Exit codes (scatter, resume, work, gather):
  0  every spec has a result and none failed (with --allow-failures: failures allowed)
  1  some specs failed: see final/failures.pq, fix the cause, `resume <run> --retry-failed`
  2  usage error
  3  incomplete: some specs have no result (interrupted): `resume <run>` runs them";

/// Failed specs that share an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureGroup {
    /// The first line of the error of the group's first spec.
    pub message: String,
    /// How many failed specs have this error (up to numbers in it).
    pub count: u64,
    /// The sort index of one of them (the smallest).
    pub sort_index: u64,
}

/// The exit code of a command whose run has `failed` failed specs and `missing` specs without
/// a result: incomplete beats failed, since `resume` is the next step either way.
pub(crate) fn exit_code(failed: u64, missing: u64, allow_failures: bool) -> ExitCode {
    ExitCode::from(if missing > 0 {
        EXIT_INCOMPLETE
    } else if failed > 0 && !allow_failures {
        EXIT_FAILED
    } else {
        EXIT_OK
    })
}

/// The first line of an error, trimmed.
pub(crate) fn first_line(error: &str) -> &str {
    error.lines().map(str::trim).find(|line| !line.is_empty()).unwrap_or("")
}

/// What errors are grouped by: the first line with every number replaced by `#`, so
/// "x = 3" and "x = 4" share a group.
fn group_key(error: &str) -> String {
    let mut key = String::new();
    let mut in_number = false;
    for c in first_line(error).chars() {
        if c.is_ascii_digit() {
            if !in_number {
                key.push('#');
            }
            in_number = true;
        } else {
            in_number = in_number && c == '.';
            if !in_number {
                key.push(c);
            }
        }
    }
    key
}

/// Groups `(sort_index, error)` pairs, most frequent first (ties: smallest sort index).
#[derive(Debug, Default)]
pub(crate) struct Grouper {
    groups: HashMap<String, FailureGroup>,
}

impl Grouper {
    pub(crate) fn add(&mut self, sort_index: u64, error: &str) {
        let group = self.groups.entry(group_key(error)).or_insert_with(|| FailureGroup {
            message: first_line(error).to_owned(),
            count: 0,
            sort_index,
        });
        group.count += 1;
        if sort_index < group.sort_index {
            group.sort_index = sort_index;
            first_line(error).clone_into(&mut group.message);
        }
    }

    /// Every group, most frequent first.
    pub(crate) fn finish(self) -> Vec<FailureGroup> {
        let mut groups: Vec<FailureGroup> = self.groups.into_values().collect();
        groups.sort_by(|a, b| b.count.cmp(&a.count).then(a.sort_index.cmp(&b.sort_index)));
        groups
    }
}

/// The error groups of a gathered `failures.pq` (streamed: memory stays bounded by the groups).
pub(crate) async fn failure_groups(store: &Store, key: &str) -> Result<Vec<FailureGroup>, Error> {
    let corrupt = || Error::Document {
        document: store.uri(key),
        reason: "failures.pq lacks a UInt64 `sort_index` or a string `error` column".to_owned(),
    };
    let mut grouper = Grouper::default();
    let mut stream = store.read_parquet(key, 64 * 1024).await?;
    while let Some(batch) = stream
        .try_next()
        .await
        .map_err(|source| Error::Store(scythe_storage::StoreError::Parquet { uri: store.uri(key), source }))?
    {
        let indexes =
            batch.column_by_name(SORT_INDEX).and_then(|c| c.as_primitive_opt::<UInt64Type>()).ok_or_else(corrupt)?;
        let errors = batch.column_by_name("error").and_then(|c| c.as_string_opt::<i32>()).ok_or_else(corrupt)?;
        for row in 0..batch.num_rows() {
            let error = if errors.is_null(row) { "" } else { errors.value(row) };
            grouper.add(indexes.value(row), error);
        }
    }
    Ok(grouper.finish())
}

/// Prints the error groups: the [`TOP_GROUPS`] most common, and how many more.
pub(crate) fn write_failure_groups(out: &mut impl Write, failed: u64, groups: &[FailureGroup]) -> std::io::Result<()> {
    if failed == 0 {
        return Ok(());
    }
    writeln!(out, "failures   {failed} specs failed (final/failures.pq), by error:")?;
    for group in groups.iter().take(TOP_GROUPS) {
        writeln!(out, "  {:>9} × {}  (e.g. sort_index {})", group.count, group.message, group.sort_index)?;
    }
    if groups.len() > TOP_GROUPS {
        let rest: u64 = groups[TOP_GROUPS..].iter().map(|g| g.count).sum();
        writeln!(out, "  {rest:>9} × {} other errors", groups.len() - TOP_GROUPS)?;
    }
    Ok(())
}

/// Which command printed a report, for its advice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReportOf {
    Scatter,
    Resume,
}

/// Prints the end summary of a scatter or resume.
pub(crate) fn write_report(out: &mut impl Write, report: &RunReport, of: ReportOf) -> std::io::Result<()> {
    let rate = report.ran as f64 / report.run_time.as_secs_f64().max(1e-9);
    writeln!(out, "run        {}", report.run)?;
    writeln!(out, "folder     {}", report.folder)?;
    writeln!(
        out,
        "specs      {} ({} succeeded, {} failed, {} not run)",
        report.n_specs, report.succeeded, report.failed, report.missing
    )?;
    writeln!(
        out,
        "time       {:.2?} running {} specs ({rate:.0} specs/s), {:.2?} gathering",
        report.run_time, report.ran, report.gather_time
    )?;
    if report.reused > 0 {
        writeln!(
            out,
            "cache      reused {} specs whose code, inputs and input files are unchanged (`--no-cache` runs them)",
            report.reused
        )?;
    }
    if let Some(earlier) = &report.copied_from {
        writeln!(
            out,
            "cache      identical to run {earlier}: its final tables were copied, nothing ran or was gathered"
        )?;
    }
    for (table, uri) in &report.tables {
        writeln!(out, "table      {table:<18} {uri}")?;
    }
    write_failure_groups(out, report.failed, &report.failure_groups)?;
    if report.retried > 0 {
        writeln!(out, "note       ran {} failed specs again; {} still fail", report.retried, report.failed)?;
    }
    if report.failed > 0 {
        let left_alone = if of == ReportOf::Resume && report.retried == 0 { " were left alone:" } else { ":" };
        writeln!(
            out,
            "note       {} failed specs{left_alone} fix the cause, then `resume {} --retry-failed` runs them again",
            report.failed, report.run
        )?;
    }
    if report.missing > 0 {
        writeln!(out, "note       interrupted: `resume {}` runs the {} remaining specs", report.run, report.missing)?;
    }
    Ok(())
}

/// Prints why specs ran (`--explain`): a count per reason, then the first specs. `ran` and
/// `reused` are the execution's own counts, so that an explanation without reasons (tasks that
/// reported none) is not taken for "nothing ran".
pub(crate) fn write_explanation(
    out: &mut impl Write,
    explanation: &crate::reuse::Explanation,
    ran: u64,
    reused: u64,
) -> std::io::Result<()> {
    let explained: u64 = explanation.counts.values().sum();
    if explained == 0 {
        match (ran, reused) {
            (0, 0) => writeln!(out, "explain    no spec ran: every spec already had a result")?,
            (0, _) => writeln!(out, "explain    no spec ran: every result was reused")?,
            (ran, _) => writeln!(out, "explain    {ran} specs ran; their tasks reported no reasons")?,
        }
        return Ok(());
    }
    writeln!(out, "explain    {explained} specs ran:")?;
    for (reason, count) in &explanation.counts {
        writeln!(out, "  {count:>9} × {reason}")?;
    }
    for (sort_index, reason) in &explanation.examples {
        writeln!(out, "  sort_index {sort_index}: {reason}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::single_range_in_vec_init)] // a one-range list of sort indexes
    fn an_explanation_without_reasons_says_what_happened() {
        let say = |explanation: &crate::reuse::Explanation, ran, reused| {
            let mut out = Vec::new();
            write_explanation(&mut out, explanation, ran, reused).unwrap_or_default();
            String::from_utf8_lossy(&out).into_owned()
        };
        let none = crate::reuse::Explanation::default();
        assert!(say(&none, 0, 4).contains("every result was reused"));
        assert!(say(&none, 0, 0).contains("every spec already had a result"));
        assert!(say(&none, 3, 1).contains("3 specs ran; their tasks reported no reasons"));
        let some = crate::reuse::Explanation::all(&[0..2], crate::reuse::RanBecause::NoEntry);
        let text = say(&some, 2, 0);
        assert!(text.contains("explain    2 specs ran:") && text.contains("sort_index 1: no entry"), "{text}");
    }

    #[test]
    fn groups_by_first_line_up_to_numbers() {
        let mut grouper = Grouper::default();
        grouper.add(7, "asked to fail (x = 7)\ncaused by: nothing");
        grouper.add(3, "asked to fail (x = 3.5)");
        grouper.add(4, "panicked: negative area\n   0: backtrace");
        grouper.add(1, "\n  disk full  ");
        grouper.add(9, "asked to fail (x = 9)");
        let groups = grouper.finish();
        assert_eq!(
            groups,
            [
                FailureGroup { message: "asked to fail (x = 3.5)".into(), count: 3, sort_index: 3 },
                FailureGroup { message: "disk full".into(), count: 1, sort_index: 1 },
                FailureGroup { message: "panicked: negative area".into(), count: 1, sort_index: 4 },
            ]
        );
        assert_eq!(group_key("v1.2.3 at 0x1f"), "v# at #x#f");
    }

    #[test]
    fn lists_the_top_groups_and_counts_the_rest() {
        let groups: Vec<FailureGroup> =
            (0..7).map(|i| FailureGroup { message: format!("error {i}"), count: 10 - i, sort_index: i }).collect();
        let mut out = Vec::new();
        write_failure_groups(&mut out, 52, &groups).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("failures   52 specs failed (final/failures.pq), by error:\n"), "{text}");
        assert!(text.contains("       10 × error 0  (e.g. sort_index 0)"), "{text}");
        assert!(text.contains("error 4") && !text.contains("error 5"), "{text}");
        assert!(text.trim_end().ends_with("9 × 2 other errors"), "{text}");
    }

    #[test]
    fn incomplete_beats_failed_and_failures_can_be_allowed() {
        let code = |failed, missing, allow| format!("{:?}", exit_code(failed, missing, allow));
        assert_eq!(code(0, 0, false), format!("{:?}", ExitCode::from(0)));
        assert_eq!(code(2, 0, false), format!("{:?}", ExitCode::from(1)));
        assert_eq!(code(2, 0, true), format!("{:?}", ExitCode::from(0)));
        assert_eq!(code(2, 1, true), format!("{:?}", ExitCode::from(3)));
    }
}
