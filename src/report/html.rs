//! The report page: one self-contained HTML file (inline CSS and SVG, no script, no network).

use std::fmt::Write as _;

use super::analyze::{self, CategoryRate, FailureRate, OutputStats, Sensitivity};
use super::scan::{MAX_POINTS, RunScan, Times};
use super::svg::{self, Series, number};
use crate::summary::FailureGroup;

/// Escapes text for HTML and SVG content and attributes.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Everything the page shows.
pub(crate) struct Page<'a> {
    /// `(label, value)` rows of the header.
    pub(crate) header: Vec<(&'static str, String)>,
    /// What the run's tables hold.
    pub(crate) run: &'a RunScan,
    /// Per-output statistics.
    pub(crate) outputs: &'a [OutputStats],
    /// Seed of the scatter samples.
    pub(crate) seed: u64,
    /// Failures by message.
    pub(crate) failures: &'a [FailureGroup],
    /// Failure rate across each numeric input.
    pub(crate) failure_rates: &'a [FailureRate],
    /// Failure rate for each value of each categorical input.
    pub(crate) category_rates: &'a [CategoryRate],
    /// The sensitivity analysis.
    pub(crate) sensitivity: &'a Sensitivity,
    /// The design's sampled inputs, in the order of the indices.
    pub(crate) design_inputs: Vec<String>,
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1400px;padding:0 1em;color:#222}\
h1{font-size:1.5em}h2{margin-top:1.6em;border-bottom:1px solid #ddd}table{border-collapse:collapse;margin:.5em 0}\
td,th{padding:2px 10px;border-bottom:1px solid #eee;text-align:right}td:first-child,th:first-child{text-align:left}\
.plots{display:flex;flex-wrap:wrap;gap:12px}figure{margin:0}figcaption{font-size:.85em;color:#555}\
.note{color:#555;font-style:italic}";

fn figure(out: &mut String, plot: &str, svg: &str, caption: &str) {
    let _ = write!(
        out,
        r#"<figure class="plot" data-plot="{}">{svg}<figcaption>{}</figcaption></figure>"#,
        escape(plot),
        escape(caption)
    );
}

fn stat(v: f64) -> String {
    if v.is_nan() { "–".to_owned() } else { number(v) }
}

/// The page's HTML.
pub(crate) fn render(page: &Page<'_>) -> String {
    let mut out = String::from("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    let title = page.header.first().map(|(_, v)| v.as_str()).unwrap_or("run");
    let _ = write!(out, "<title>Scythe report: {}</title><style>{STYLE}</style></head><body>", escape(title));
    let _ = write!(out, "<h1>Scythe report: {}</h1><table class=\"header\">", escape(title));
    for (label, value) in &page.header {
        let _ = write!(out, "<tr><th>{label}</th><td>{}</td></tr>", escape(value));
    }
    out.push_str("</table>");
    outputs_section(&mut out, page);
    scatter_section(&mut out, page);
    failures_section(&mut out, page);
    time_section(&mut out, page.run.times.as_ref());
    sensitivity_section(&mut out, page.sensitivity, &page.design_inputs);
    out.push_str("</body></html>\n");
    out
}

const SUMMARY_HEAD: &str = "<table class=\"summary\"><tr><th>column</th><th>count</th><th>NaN</th><th>inf</th><th>min</th><th>25%</th><th>50%</th><th>75%</th><th>max</th><th>mean</th><th>std</th></tr>";

fn summary_row(out: &mut String, name: &str, s: &scythe_core::analysis::Summary) {
    let _ = write!(
        out,
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        escape(name),
        s.count,
        s.nan,
        s.inf,
        stat(s.min),
        stat(s.q25),
        stat(s.q50),
        stat(s.q75),
        stat(s.max),
        stat(s.mean),
        stat(s.std)
    );
}

fn outputs_section(out: &mut String, page: &Page<'_>) {
    out.push_str("<h2 id=\"outputs\">Outputs</h2>");
    if page.outputs.is_empty() {
        out.push_str("<p class=\"note\">No numeric outputs.</p>");
    }
    if !page.run.skipped.is_empty() {
        let _ =
            write!(out, "<p class=\"note\">Not numeric, not summarized: {}.</p>", escape(&page.run.skipped.join(", ")));
    }
    if !page.outputs.is_empty() {
        out.push_str(SUMMARY_HEAD);
        for o in page.outputs {
            summary_row(out, &o.name, &o.summary);
        }
        out.push_str("</table><p class=\"note\">NaN counts include failed and missing specs; statistics use finite values only (quantiles interpolate linearly, as pandas).</p>");
    }
    out.push_str("<div class=\"plots\">");
    for o in page.outputs {
        let heights: Vec<f64> = o.histogram.counts.iter().map(|&c| c as f64).collect();
        let svg = svg::histogram(&o.histogram.edges, &heights, &o.name, "specs");
        figure(
            out,
            &format!("histogram {}", o.name),
            &svg,
            &format!("{}: {} bins over the finite values", o.name, heights.len()),
        );
    }
    out.push_str("</div>");
}

fn scatter_section(out: &mut String, page: &Page<'_>) {
    out.push_str("<h2 id=\"inputs\">Inputs → outputs</h2>");
    let run = page.run;
    if run.numeric.is_empty() && run.categorical.is_empty() {
        out.push_str("<p class=\"note\">No numeric or categorical inputs to plot against.</p>");
        return;
    }
    let sampled = if run.succeeded as usize > MAX_POINTS {
        format!(
            "a random sample of {} of the {} specs with a result (seed {})",
            run.sample.len(),
            run.succeeded,
            page.seed
        )
    } else {
        format!("all {} specs with a result", run.succeeded)
    };
    let _ = write!(out, "<p>Each dot is a spec: {sampled}. Specs with a non-finite value are not drawn.</p>");
    out.push_str("<div class=\"plots\">");
    for (j, output) in run.outputs.iter().enumerate() {
        // An input without a finite value (an `Option` always `None`) has nothing to draw.
        for (k, input) in run.numeric.iter().enumerate().filter(|(_, i)| i.range.0 <= i.range.1) {
            let points = analyze::scatter_points(run, k, j);
            let svg = svg::scatter(&points, &input.name, &output.name);
            let caption = format!("{} against {}: {} dots", output.name, input.name, points.len());
            figure(out, &format!("scatter {} {}", input.name, output.name), &svg, &caption);
        }
        for (k, input) in run.categorical.iter().enumerate() {
            let points = analyze::strip_points(run, k, j);
            let names: Vec<String> = input.categories.iter().map(|c| c.value.clone()).collect();
            let means: Vec<f64> = input
                .categories
                .iter()
                .map(|c| if c.sums[j].1 == 0 { f64::NAN } else { c.sums[j].0 / c.sums[j].1 as f64 })
                .collect();
            let svg = svg::strip(&names, &points, &means, &input.name, &output.name);
            let caption = format!(
                "{} by {}: one strip per value, {} dots; bar: the mean over all specs with a result",
                output.name,
                input.name,
                points.len()
            );
            figure(out, &format!("strip {} {}", input.name, output.name), &svg, &caption);
        }
    }
    out.push_str("</div>");
}

fn failures_section(out: &mut String, page: &Page<'_>) {
    out.push_str("<h2 id=\"failures\">Failures</h2>");
    if page.failures.is_empty() {
        out.push_str("<p>No spec failed.</p>");
        return;
    }
    out.push_str("<table class=\"failures\"><tr><th>error</th><th>specs</th><th>e.g. sort_index</th></tr>");
    for group in page.failures {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&group.message),
            group.count,
            group.sort_index
        );
    }
    out.push_str("</table><div class=\"plots\">");
    for rate in page.failure_rates {
        let svg = svg::histogram(&rate.edges, &rate.rates, &rate.input, "failure rate");
        figure(
            out,
            &format!("failure rate {}", rate.input),
            &svg,
            &format!("share of specs that failed, across {}", rate.input),
        );
    }
    for rate in page.category_rates {
        let series = [Series { name: "failed", values: &rate.rates, whiskers: None, colour: "#c0504d" }];
        let svg = svg::bars(&rate.categories, &series, "failure rate");
        figure(
            out,
            &format!("failure rate {}", rate.input),
            &svg,
            &format!("share of specs that failed, for each value of {}", rate.input),
        );
    }
    out.push_str("</div>");
}

fn time_section(out: &mut String, times: Option<&Times>) {
    out.push_str("<h2 id=\"time\">Time</h2>");
    let Some(times) = times else {
        out.push_str(
            "<p class=\"note\">This run has no final/provenance.pq (gathered by an older Scythe): no timings.</p>",
        );
        return;
    };
    let summary = times.durations.summary();
    let _ = write!(
        out,
        "<p>Duration of each spec that ran in this run (seconds, from final/provenance.pq, duration_s){}.</p>",
        if times.cached > 0 {
            format!("; {} results reused from the cache are left out (they ran in an earlier run)", times.cached)
        } else {
            String::new()
        }
    );
    out.push_str(SUMMARY_HEAD);
    summary_row(out, "duration_s", &summary);
    out.push_str("</table>");
    if summary.count > 0 {
        let histogram = times.durations.histogram();
        let heights: Vec<f64> = histogram.counts.iter().map(|&c| c as f64).collect();
        out.push_str("<div class=\"plots\">");
        let svg = svg::histogram(&histogram.edges, &heights, "duration (s)", "specs");
        figure(out, "histogram duration_s", &svg, &format!("duration of the {} specs that ran", summary.count));
        out.push_str("</div>");
    }
    if times.slowest.is_empty() {
        return;
    }
    out.push_str("<table class=\"slowest\"><tr><th>sort_index</th><th>duration (s)</th><th>attempts</th><th>status</th><th>inputs</th></tr>");
    for slow in &times.slowest {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            slow.sort_index,
            number(slow.duration_s),
            slow.attempts,
            if slow.failed { "failed" } else { "succeeded" },
            escape(&slow.inputs.join(", "))
        );
    }
    out.push_str("</table>");
}

fn sensitivity_section(out: &mut String, sensitivity: &Sensitivity, design_inputs: &[String]) {
    out.push_str("<h2 id=\"sensitivity\">Sensitivity</h2>");
    let inputs_of = |n: usize, names: &[String]| -> Vec<String> { names.iter().take(n).cloned().collect() };
    match sensitivity {
        Sensitivity::Unsupported(why) => {
            let _ = write!(out, "<p class=\"note\">{}</p>", escape(why));
        }
        Sensitivity::Sobol(results) => {
            out.push_str("<p>First-order (Saltelli 2010) and total (Jansen) Sobol' indices; whiskers: 95% bootstrap intervals over the design's blocks. A block with a failed spec is dropped.</p><div class=\"plots\">");
            for (output, result) in results {
                match result {
                    Ok(s) => {
                        let names = inputs_of(s.s1.len(), design_inputs);
                        let svg = svg::bars(
                            &names,
                            &[
                                Series { name: "S1", values: &s.s1, whiskers: Some(&s.s1_conf), colour: "#4a7ab5" },
                                Series { name: "ST", values: &s.st, whiskers: Some(&s.st_conf), colour: "#d9813b" },
                            ],
                            "Sobol' index",
                        );
                        figure(
                            out,
                            &format!("sobol {output}"),
                            &svg,
                            &format!(
                                "{output}: {} blocks used, {} dropped for failed specs",
                                s.blocks_used, s.blocks_dropped
                            ),
                        );
                    }
                    Err(error) => {
                        let _ = write!(out, "<p class=\"note\">{}: {}</p>", escape(output), escape(&error.to_string()));
                    }
                }
            }
            out.push_str("</div>");
        }
        Sensitivity::Morris(results) => {
            out.push_str("<p>Morris elementary effects: μ* (mean absolute effect, whiskers: 95% bootstrap interval) and σ (their spread: non-linearity or interactions). A trajectory with a failed spec is dropped.</p><div class=\"plots\">");
            for (output, result) in results {
                match result {
                    Ok(m) => {
                        let names = inputs_of(m.mu_star.len(), design_inputs);
                        let svg = svg::bars(
                            &names,
                            &[
                                Series {
                                    name: "μ*",
                                    values: &m.mu_star,
                                    whiskers: Some(&m.mu_star_conf),
                                    colour: "#4a7ab5",
                                },
                                Series { name: "σ", values: &m.sigma, whiskers: None, colour: "#d9813b" },
                            ],
                            "elementary effect",
                        );
                        figure(
                            out,
                            &format!("morris {output}"),
                            &svg,
                            &format!(
                                "{output}: {} trajectories used, {} dropped for failed specs",
                                m.trajectories_used, m.trajectories_dropped
                            ),
                        );
                    }
                    Err(error) => {
                        let _ = write!(out, "<p class=\"note\">{}: {}</p>", escape(output), escape(&error.to_string()));
                    }
                }
            }
            out.push_str("</div>");
        }
    }
}
