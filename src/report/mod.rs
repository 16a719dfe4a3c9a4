//! `report`: a self-contained HTML report of a run (plots, failures, sensitivity indices) and
//! its tables, written next to the run (`<run>/report/`, on any store) or to a local folder.
//! `final/` is never written: the Python tool lists it.

mod analyze;
mod html;
mod scan;
mod svg;
mod tables;

use std::path::{Path, PathBuf};

use scythe_core::layout::{RunId, RunLayout};
use scythe_storage::Store;

use crate::catalog::read_manifest;
use crate::error::Error;
use crate::manifest::{Summary, from_yaml};
use crate::parts::FAILURES;
use scan::Times;

/// The folder of a run that holds its report.
pub(crate) const REPORT_DIR: &str = "report";

/// Where a report was written.
#[derive(Debug, Clone)]
pub(crate) struct Written {
    /// URI or path of `index.html`.
    pub(crate) index: String,
    /// `index.html` on this machine, when written to a local folder or a local store.
    pub(crate) local: Option<PathBuf>,
    /// URI or path of each file written, `index.html` first.
    pub(crate) files: Vec<String>,
    /// Lines about the sensitivity analysis for the terminal.
    pub(crate) notes: Vec<String>,
}

/// Writes the report of run `id` to `out`, or to `<run>/report/` in `store` without `out`.
pub(crate) async fn write(store: &Store, id: &RunId, out: Option<&Path>) -> Result<Written, Error> {
    let layout = RunLayout::new(store.prefix(), id.clone());
    let manifest = read_manifest(store, &layout).await?.ok_or_else(|| Error::RunNotFound(id.to_string()))?;
    let design = manifest.design.as_ref();
    let seed = design.map_or(0, |d| d.seed);
    let run = scan::scan(store, &layout, manifest.n_specs, seed, analyze::dense_columns(design)).await?;
    let outputs = analyze::outputs(&run);
    let failures = crate::summary::failure_groups(store, &layout.final_table(FAILURES)).await?;
    let failure_rates = analyze::failure_rates(&run);
    let category_rates = analyze::category_rates(&run);
    let sensitivity = analyze::sensitivity(&run, design);
    let design_inputs = analyze::design_inputs(design);
    let (succeeded, failed) = (run.succeeded, run.failed);
    let missing = manifest.n_specs.saturating_sub(succeeded + failed);
    let design_text = match design {
        Some(d) => format!(
            "{} (n {}, seed {}, {} sampled inputs: {})",
            d.method,
            d.n,
            d.seed,
            d.dimensions.len(),
            design_inputs.join(", ")
        ),
        None => "none recorded (specs from a file or a sampler)".to_owned(),
    };
    let gathered_at = gathered_at(store, &layout).await?;
    let header = vec![
        ("run", id.to_string()),
        ("experiment", manifest.experiment_name.clone()),
        ("version", id.version().to_string()),
        ("design", design_text),
        ("specs", format!("{} ({succeeded} succeeded, {failed} failed, {missing} without a result)", manifest.n_specs)),
        ("engine", manifest.engine.clone()),
        ("allocated", manifest.created_at.clone()),
        ("gathered", gathered_at.clone().unwrap_or_else(|| "not yet (no summary.yml)".to_owned())),
        ("wall time", wall_time(&manifest.created_at, gathered_at.as_deref(), run.times.as_ref())),
        ("storage", store.uri(&layout.run_dir())),
        ("scythe", manifest.scythe_version.clone()),
    ];
    let page = html::Page {
        header,
        run: &run,
        outputs: &outputs,
        seed,
        failures: &failures,
        failure_rates: &failure_rates,
        category_rates: &category_rates,
        sensitivity: &sensitivity,
        design_inputs: design_inputs.clone(),
    };
    let mut files: Vec<(&str, Vec<u8>)> = vec![("index.html", html::render(&page).into_bytes())];
    if let Some(table) = tables::sensitivity(&sensitivity, &design_inputs)? {
        files.push(("sensitivity.pq", table));
    }
    files.push(("summary.pq", tables::summary(&outputs)?));
    files.push(("histograms.pq", tables::histograms(&outputs)?));
    if !failure_rates.is_empty() || !category_rates.is_empty() {
        files.push(("failure_rates.pq", tables::failure_rates(&failure_rates, &category_rates)?));
    }
    if let Some(times) = &run.times {
        files.push(("time.pq", tables::time(times)?));
        files.push(("slowest.pq", tables::slowest(times)?));
    }
    let mut notes = notes(&sensitivity);
    notes.push(format!("statistics from {} streamed passes over the final tables", run.passes));

    let mut written = Vec::with_capacity(files.len());
    let local = match out {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(Error::io(format!("creating {}", dir.display())))?;
            for (name, bytes) in files {
                let path = dir.join(name);
                std::fs::write(&path, bytes).map_err(Error::io(format!("writing {}", path.display())))?;
                written.push(path.display().to_string());
            }
            Some(dir.join("index.html"))
        }
        None => {
            let dir = format!("{}/{REPORT_DIR}", layout.run_dir());
            for (name, bytes) in files {
                let key = format!("{dir}/{name}");
                store.put(&key, bytes).await?;
                written.push(store.uri(&key));
            }
            store.location().local_root().map(|root| root.join(&dir).join("index.html"))
        }
    };
    Ok(Written { index: written[0].clone(), local, files: written, notes })
}

/// `gathered_at` of the run's `summary.yml`, when it has been gathered whole.
async fn gathered_at(store: &Store, layout: &RunLayout) -> Result<Option<String>, Error> {
    for key in [layout.summary(), layout.legacy_summary()] {
        if store.head(&key).await?.is_some() {
            let summary: Summary = from_yaml("summary.yml", &store.get(&key).await?)?;
            return Ok(Some(summary.gathered_at));
        }
    }
    Ok(None)
}

/// The header's wall-time split: allocation (manifest) → first spec started → last spec ended
/// (provenance) → gathered (summary.yml), and the specs' summed durations over the span in
/// which they ran (how many ran at once on average).
fn wall_time(created_at: &str, gathered_at: Option<&str>, times: Option<&Times>) -> String {
    let parse = |text: &str| chrono::DateTime::parse_from_rfc3339(text).ok().map(|t| t.timestamp_micros());
    let seconds = |us: i64| format!("{} s", svg::number(us as f64 / 1e6));
    let (created, gathered) = (parse(created_at), gathered_at.and_then(parse));
    let Some((first, last)) = times.and_then(|t| t.span_us) else {
        return match (created, gathered) {
            (Some(a), Some(b)) => format!("{} from allocation to gather (no spec ran in this run)", seconds(b - a)),
            _ => "unknown (no spec ran in this run)".to_owned(),
        };
    };
    let busy = times.map_or(0.0, |t| t.busy_s);
    let mut parts = Vec::new();
    if let Some(created) = created {
        parts.push(format!("{} from allocation to the first spec", seconds(first - created)));
    }
    parts.push(format!(
        "{} running specs (first start to last end; {} s of spec time, {} at a time on average)",
        seconds(last - first),
        svg::number(busy),
        svg::number(busy / ((last - first) as f64 / 1e6).max(1e-6))
    ));
    if let Some(gathered) = gathered {
        parts.push(format!("{} from the last spec to the gather's end", seconds((gathered - last).max(0))));
    }
    match (created, gathered) {
        // The manifest and summary.yml keep whole seconds.
        (Some(a), Some(b)) => {
            format!("{} in all: {} (allocation and gather times to ±1 s)", seconds(b - a), parts.join(", "))
        }
        _ => parts.join(", "),
    }
}

/// One line per output on what the sensitivity analysis rests on, or why there is none.
fn notes(sensitivity: &analyze::Sensitivity) -> Vec<String> {
    match sensitivity {
        analyze::Sensitivity::Unsupported(why) => vec![format!("sensitivity: {why}")],
        analyze::Sensitivity::Sobol(results) => results
            .iter()
            .map(|(output, r)| match r {
                Ok(s) => format!(
                    "sensitivity of {output}: Sobol' indices from {} blocks ({} dropped for failed specs)",
                    s.blocks_used, s.blocks_dropped
                ),
                Err(error) => format!("sensitivity of {output}: {error}"),
            })
            .collect(),
        analyze::Sensitivity::Morris(results) => results
            .iter()
            .map(|(output, r)| match r {
                Ok(m) => format!(
                    "sensitivity of {output}: Morris statistics from {} trajectories ({} dropped for failed specs)",
                    m.trajectories_used, m.trajectories_dropped
                ),
                Err(error) => format!("sensitivity of {output}: {error}"),
            })
            .collect(),
    }
}

/// Opens `index.html` with `xdg-open` when it is on this machine and `xdg-open` exists;
/// otherwise says where it is.
pub(crate) fn open(written: &Written) -> String {
    let Some(path) = &written.local else {
        return format!("the report is in a bucket: download {} to open it", written.index);
    };
    match std::process::Command::new("xdg-open").arg(path).status() {
        Ok(status) if status.success() => format!("opened {}", path.display()),
        _ => format!("no xdg-open here: open {} in a browser", path.display()),
    }
}
