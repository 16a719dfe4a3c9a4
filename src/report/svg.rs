//! Inline SVG charts drawn by hand: histograms, scatter plots, strips per category and bar
//! charts with whiskers.
//!
//! Every chart is one `<svg>` of fixed size with a plot area, a few ticks on each axis and its
//! marks (`<rect class="bar">`, `<circle class="point">`, `<line class="whisker">`), so a
//! browser draws it with no script and a test can count the marks in the DOM.

use std::fmt::Write as _;

use super::html::escape;

const WIDTH: f64 = 420.0;
const HEIGHT: f64 = 260.0;
const LEFT: f64 = 58.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 42.0;

/// A linear map from data `[low, high]` onto pixels `[from, to]`.
#[derive(Debug, Clone, Copy)]
struct Scale {
    low: f64,
    high: f64,
    from: f64,
    to: f64,
}

impl Scale {
    fn new(low: f64, high: f64, from: f64, to: f64) -> Scale {
        let (low, high) = if high > low { (low, high) } else { (low - 0.5, low + 0.5) };
        Scale { low, high, from, to }
    }

    fn at(self, v: f64) -> f64 {
        self.from + (v - self.low) / (self.high - self.low) * (self.to - self.from)
    }
}

/// A number for a tick or a label: at most 4 significant digits.
pub(crate) fn number(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    let magnitude = v.abs().log10().floor();
    if !(-3.0..5.0).contains(&magnitude) {
        return format!("{v:.3e}");
    }
    let decimals = (3.0 - magnitude).max(0.0) as usize;
    let text = format!("{v:.decimals$}");
    if text.contains('.') { text.trim_end_matches('0').trim_end_matches('.').to_owned() } else { text }
}

/// The opening of a chart, its axes with 5 ticks each and their labels.
fn frame(out: &mut String, kind: &str, x: Scale, y: Scale, x_label: &str, y_label: &str, x_ticks: bool) {
    let _ = write!(
        out,
        r##"<svg xmlns="http://www.w3.org/2000/svg" class="chart {kind}" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img">"##
    );
    let (x0, x1, y0, y1) = (LEFT, WIDTH - RIGHT, HEIGHT - BOTTOM, TOP);
    let _ = write!(
        out,
        r##"<rect class="area" x="{x0}" y="{y1}" width="{}" height="{}" fill="#fafafa"/>"##,
        x1 - x0,
        y0 - y1
    );
    for i in 0..=4 {
        let t = f64::from(i) / 4.0;
        let value = y.low + t * (y.high - y.low);
        let py = y.at(value);
        let _ = write!(
            out,
            r##"<line x1="{x0}" x2="{x1}" y1="{py:.1}" y2="{py:.1}" stroke="#e4e4e4"/><text x="{}" y="{:.1}" text-anchor="end" font-size="10">{}</text>"##,
            x0 - 4.0,
            py + 3.0,
            number(value)
        );
        if x_ticks {
            let value = x.low + t * (x.high - x.low);
            let px = x.at(value);
            let _ = write!(
                out,
                r##"<line x1="{px:.1}" x2="{px:.1}" y1="{y0}" y2="{}" stroke="#888"/><text x="{px:.1}" y="{}" text-anchor="middle" font-size="10">{}</text>"##,
                y0 + 4.0,
                y0 + 15.0,
                number(value)
            );
        }
    }
    let _ = write!(
        out,
        r##"<line x1="{x0}" x2="{x1}" y1="{y0}" y2="{y0}" stroke="#444"/><line x1="{x0}" x2="{x0}" y1="{y0}" y2="{y1}" stroke="#444"/><text x="{}" y="{}" text-anchor="middle" font-size="11">{}</text><text transform="translate(12 {}) rotate(-90)" text-anchor="middle" font-size="11">{}</text>"##,
        (x0 + x1) / 2.0,
        HEIGHT - 6.0,
        escape(x_label),
        (y0 + y1) / 2.0,
        escape(y_label)
    );
}

/// Bars of `counts` between consecutive `edges` (a histogram), or of rates in `[0, 1]`.
pub(crate) fn histogram(edges: &[f64], heights: &[f64], x_label: &str, y_label: &str) -> String {
    let mut out = String::new();
    let (Some(&low), Some(&high)) = (edges.first(), edges.last()) else { return out };
    let top = heights.iter().copied().fold(0.0, f64::max);
    let x = Scale::new(low, high, LEFT, WIDTH - RIGHT);
    let y = Scale::new(0.0, if top > 0.0 { top } else { 1.0 }, HEIGHT - BOTTOM, TOP);
    frame(&mut out, "histogram", x, y, x_label, y_label, true);
    for (i, &h) in heights.iter().enumerate() {
        let (left, right) = (x.at(edges[i]), x.at(edges[i + 1]));
        let _ = write!(
            out,
            r##"<rect class="bar" x="{left:.2}" y="{:.2}" width="{:.2}" height="{:.2}" fill="#4a7ab5"><title>{} – {}: {}</title></rect>"##,
            y.at(h),
            (right - left - 0.5).max(0.5),
            y.at(0.0) - y.at(h),
            number(edges[i]),
            number(edges[i + 1]),
            number(h)
        );
    }
    out.push_str("</svg>");
    out
}

/// Points `(x, y)` (non-finite ones are skipped).
pub(crate) fn scatter(points: &[(f64, f64)], x_label: &str, y_label: &str) -> String {
    let mut out = String::new();
    let finite = || points.iter().filter(|(a, b)| a.is_finite() && b.is_finite());
    let range = |pick: fn(&(f64, f64)) -> f64| {
        finite().map(pick).fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)))
    };
    let ((xl, xh), (yl, yh)) = (range(|p| p.0), range(|p| p.1));
    let (xl, xh, yl, yh) = if xl > xh { (0.0, 1.0, 0.0, 1.0) } else { (xl, xh, yl, yh) };
    let x = Scale::new(xl, xh, LEFT + 4.0, WIDTH - RIGHT - 4.0);
    let y = Scale::new(yl, yh, HEIGHT - BOTTOM - 4.0, TOP + 4.0);
    frame(&mut out, "scatter", x, y, x_label, y_label, true);
    for &(a, b) in finite() {
        let _ = write!(
            out,
            r##"<circle class="point" cx="{:.1}" cy="{:.1}" r="1.6" fill="#4a7ab5" fill-opacity="0.45"/>"##,
            x.at(a),
            y.at(b)
        );
    }
    out.push_str("</svg>");
    out
}

/// One strip of points per category (`(category, y)` pairs, non-finite `y` skipped), spread
/// sideways by a fixed jitter so that they do not hide each other, and a bar at each category's
/// `means` entry.
pub(crate) fn strip(
    categories: &[String],
    points: &[(usize, f64)],
    means: &[f64],
    x_label: &str,
    y_label: &str,
) -> String {
    let mut out = String::new();
    let finite = || points.iter().filter(|(c, y)| y.is_finite() && *c < categories.len());
    let (low, high) = finite()
        .map(|p| p.1)
        .chain(means.iter().copied().filter(|m| m.is_finite()))
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let (low, high) = if low > high { (0.0, 1.0) } else { (low, high) };
    let x = Scale::new(0.0, categories.len().max(1) as f64, LEFT, WIDTH - RIGHT);
    let y = Scale::new(low, high, HEIGHT - BOTTOM - 4.0, TOP + 4.0);
    frame(&mut out, "strip", x, y, x_label, y_label, false);
    let slot = x.at(1.0) - x.at(0.0);
    for (c, category) in categories.iter().enumerate() {
        let _ = write!(
            out,
            r##"<text x="{:.1}" y="{}" text-anchor="middle" font-size="11">{}</text>"##,
            x.at(c as f64 + 0.5),
            HEIGHT - BOTTOM + 14.0,
            escape(category)
        );
        if let Some(&mean) = means.get(c).filter(|m| m.is_finite()) {
            let _ = write!(
                out,
                r##"<line class="mean" x1="{:.1}" x2="{:.1}" y1="{:.1}" y2="{:.1}" stroke="#d9813b" stroke-width="2"><title>{}: mean {}</title></line>"##,
                x.at(c as f64 + 0.15),
                x.at(c as f64 + 0.85),
                y.at(mean),
                y.at(mean),
                escape(category),
                number(mean)
            );
        }
    }
    for (i, &(c, v)) in finite().enumerate() {
        // A fixed low-discrepancy spread (golden ratio) within the middle 60% of the slot.
        let jitter = (i as f64 * 0.618_033_988_749_895).fract() - 0.5;
        let _ = write!(
            out,
            r##"<circle class="point" cx="{:.1}" cy="{:.1}" r="1.6" fill="#4a7ab5" fill-opacity="0.45"/>"##,
            x.at(c as f64 + 0.5) + jitter * slot * 0.6,
            y.at(v)
        );
    }
    out.push_str("</svg>");
    out
}

/// One bar series of a grouped bar chart.
pub(crate) struct Series<'a> {
    /// Legend text.
    pub(crate) name: &'a str,
    /// One value per category.
    pub(crate) values: &'a [f64],
    /// Half-widths of the whiskers, one per category.
    pub(crate) whiskers: Option<&'a [f64]>,
    /// Fill colour.
    pub(crate) colour: &'a str,
}

/// Grouped bars, one group per category, with optional whiskers (confidence intervals).
pub(crate) fn bars(categories: &[String], series: &[Series<'_>], y_label: &str) -> String {
    let mut out = String::new();
    let mut low: f64 = 0.0;
    let mut high: f64 = 0.0;
    for s in series {
        for (i, &v) in s.values.iter().enumerate().filter(|(_, v)| v.is_finite()) {
            let w = s.whiskers.and_then(|w| w.get(i)).copied().filter(|w| w.is_finite()).unwrap_or(0.0);
            low = low.min(v - w);
            high = high.max(v + w);
        }
    }
    let x = Scale::new(0.0, categories.len().max(1) as f64, LEFT, WIDTH - RIGHT);
    let y = Scale::new(low, if high > low { high } else { low + 1.0 }, HEIGHT - BOTTOM, TOP);
    frame(&mut out, "bars", x, y, "", y_label, false);
    let group = x.at(1.0) - x.at(0.0);
    let width = group * 0.8 / series.len().max(1) as f64;
    for (c, category) in categories.iter().enumerate() {
        let start = x.at(c as f64) + group * 0.1;
        let _ = write!(
            out,
            r##"<text x="{:.1}" y="{}" text-anchor="middle" font-size="11">{}</text>"##,
            start + group * 0.4,
            HEIGHT - BOTTOM + 14.0,
            escape(category)
        );
        for (k, s) in series.iter().enumerate() {
            let Some(&v) = s.values.get(c).filter(|v| v.is_finite()) else { continue };
            let left = start + k as f64 * width;
            let (top, bottom) = (y.at(v.max(0.0)), y.at(v.min(0.0)));
            let _ = write!(
                out,
                r##"<rect class="bar" x="{left:.2}" y="{top:.2}" width="{:.2}" height="{:.2}" fill="{}"><title>{} {}: {}</title></rect>"##,
                width - 1.0,
                (bottom - top).max(0.5),
                s.colour,
                escape(s.name),
                escape(category),
                number(v)
            );
            if let Some(&w) = s.whiskers.and_then(|w| w.get(c)).filter(|w| w.is_finite()) {
                let mid = left + (width - 1.0) / 2.0;
                let (a, b) = (y.at(v - w), y.at(v + w));
                let _ = write!(
                    out,
                    r##"<line class="whisker" x1="{mid:.2}" x2="{mid:.2}" y1="{a:.2}" y2="{b:.2}" stroke="#222"/><line x1="{:.2}" x2="{:.2}" y1="{b:.2}" y2="{b:.2}" stroke="#222"/><line x1="{:.2}" x2="{:.2}" y1="{a:.2}" y2="{a:.2}" stroke="#222"/>"##,
                    mid - 3.0,
                    mid + 3.0,
                    mid - 3.0,
                    mid + 3.0
                );
            }
        }
    }
    for (k, s) in series.iter().enumerate() {
        let lx = WIDTH - RIGHT - 110.0 + k as f64 * 55.0;
        let _ = write!(
            out,
            r##"<rect x="{lx}" y="{}" width="10" height="10" fill="{}"/><text x="{}" y="{}" font-size="11">{}</text>"##,
            TOP + 4.0,
            s.colour,
            lx + 14.0,
            TOP + 13.0,
            escape(s.name)
        );
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_have_at_most_four_significant_digits() {
        assert_eq!(number(1.23456), "1.235");
        assert_eq!(number(1234.6), "1235");
        assert_eq!(number(0.5), "0.5");
        assert_eq!(number(0.0), "0");
        assert_eq!(number(1.0e-7), "1.000e-7");
    }

    #[test]
    fn charts_hold_one_mark_per_value() {
        let h = histogram(&[0.0, 1.0, 2.0], &[3.0, 1.0], "y", "count");
        assert_eq!(h.matches(r#"class="bar""#).count(), 2);
        let s = scatter(&[(0.0, 1.0), (1.0, f64::NAN), (2.0, 3.0)], "x", "y");
        assert_eq!(s.matches(r#"class="point""#).count(), 2);
        let strip =
            strip(&["wood".into(), "brick".into()], &[(0, 1.0), (1, 2.0), (1, f64::NAN)], &[1.0, 2.0], "m", "y");
        assert_eq!((strip.matches(r#"class="point""#).count(), strip.matches(r#"class="mean""#).count()), (2, 2));
        let b = bars(
            &["a".into(), "b<".into()],
            &[Series { name: "S1", values: &[0.5, 0.1], whiskers: Some(&[0.05, 0.02]), colour: "#000" }],
            "index",
        );
        assert_eq!((b.matches(r#"class="bar""#).count(), b.matches(r#"class="whisker""#).count()), (2, 2));
        assert!(b.contains("b&lt;") && !b.contains("b<"));
    }
}
