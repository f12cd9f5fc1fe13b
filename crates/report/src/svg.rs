//! A small SVG builder for the report's charts: horizontal bars (with intervals for rates),
//! heatmaps, line charts and sparklines, each an inline `<svg role="img">` with a `<title>`
//! (the chart's accessible name) and its values written as text beside the colours, so a chart
//! reads in print, in a screen reader and in grey.
//!
//! Every text that reaches the markup goes through [`esc`]. Bars carry `class="bar"`, heatmap
//! cells `class="cell"` and plotted points `class="point"`, with their value in `data-value`,
//! which is what the browser test counts.

use std::fmt::Write as _;

/// Escapes text for SVG/HTML content and attribute values.
#[must_use]
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' && c != '\t' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

fn open(out: &mut String, class: &str, width: f64, height: f64, title: &str) {
    let _ = write!(
        out,
        r#"<svg class="chart {class}" role="img" viewBox="0 0 {width:.0} {height:.0}" width="{width:.0}" height="{height:.0}"><title>{}</title>"#,
        esc(title)
    );
}

/// A value in 0–1 shown as a share with one decimal, or "n/a".
#[must_use]
pub fn share(value: Option<f64>) -> String {
    value.map_or_else(|| "n/a".to_owned(), |v| format!("{:.1}%", v * 100.0))
}

/// Text width estimate for laying out labels (monospace-ish, 7 px per character).
#[expect(clippy::cast_precision_loss, reason = "label lengths are small")]
fn text_width(text: &str) -> f64 {
    text.chars().count() as f64 * 7.0
}

/// One bar of a [`bars`] chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    /// The label left of the bar.
    pub label: String,
    /// The value (0–1); `None` draws an empty bar marked "n/a".
    pub value: Option<f64>,
    /// A CSS class for the bar's colour (`p`, `r`, `f`, …).
    pub tone: &'static str,
}

/// Horizontal bars of values in 0–1, one `rect.bar` per item, each with its value as text.
#[must_use]
pub fn bars(title: &str, items: &[Bar]) -> String {
    let label_w = items
        .iter()
        .map(|b| text_width(&b.label))
        .fold(40.0_f64, f64::max)
        .min(260.0);
    let bar_w = 240.0;
    let row_h = 18.0;
    let width = label_w + bar_w + 70.0;
    #[expect(clippy::cast_precision_loss, reason = "few bars")]
    let height = items.len() as f64 * row_h + 8.0;
    let mut out = String::new();
    open(&mut out, "bars", width, height, title);
    for (i, bar) in items.iter().enumerate() {
        #[expect(clippy::cast_precision_loss, reason = "few bars")]
        let y = 4.0 + i as f64 * row_h;
        let value = bar.value.map_or(0.0, |v| v.clamp(0.0, 1.0));
        let text = share(bar.value);
        let _ = write!(
            out,
            r#"<g><text x="{:.1}" y="{:.1}" text-anchor="end" class="lbl">{}</text><rect class="bar {}" x="{label_w:.1}" y="{:.1}" width="{:.1}" height="{:.1}" data-value="{}"><title>{}: {}</title></rect><text x="{:.1}" y="{:.1}" class="val">{}</text></g>"#,
            label_w - 6.0,
            y + 12.0,
            esc(&bar.label),
            bar.tone,
            y + 2.0,
            value * bar_w,
            row_h - 4.0,
            bar.value.map_or_else(String::new, |v| format!("{v:.6}")),
            esc(&bar.label),
            text,
            label_w + value * bar_w + 4.0,
            y + 12.0,
            text,
        );
    }
    out.push_str("</svg>");
    out
}

/// One bar of a [`rates`] chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Rate {
    /// The label left of the bar.
    pub label: String,
    /// The rate (0–1); `None` draws an empty bar marked "n/a".
    pub value: Option<f64>,
    /// Its 95% interval, drawn as a whisker over the bar.
    pub ci: Option<[f64; 2]>,
    /// What the rate is of (`10 of 12 rows`), for the tooltip.
    pub note: String,
}

/// Horizontal bars of rates in 0–1 with their 95% intervals: one `rect.bar` per item (its
/// value in `data-value`) and one `line.whisker` per interval, each written as text beside it.
#[must_use]
pub fn rates(title: &str, items: &[Rate]) -> String {
    let label_w = items
        .iter()
        .map(|b| text_width(&b.label))
        .fold(40.0_f64, f64::max)
        .min(260.0);
    let bar_w = 240.0;
    let row_h = 20.0;
    let width = label_w + bar_w + 150.0;
    #[expect(clippy::cast_precision_loss, reason = "few bars")]
    let height = items.len() as f64 * row_h + 8.0;
    let x = |v: f64| label_w + v.clamp(0.0, 1.0) * bar_w;
    let mut out = String::new();
    open(&mut out, "bars rates", width, height, title);
    for (i, item) in items.iter().enumerate() {
        #[expect(clippy::cast_precision_loss, reason = "few bars")]
        let y = 4.0 + i as f64 * row_h;
        let value = item.value.map_or(0.0, |v| v.clamp(0.0, 1.0));
        let ci_text = item.ci.map_or_else(String::new, |[l, h]| {
            format!(" ({}–{})", share(Some(l)), share(Some(h)))
        });
        let text = format!("{}{ci_text}", share(item.value));
        let _ = write!(
            out,
            r#"<g><text x="{:.1}" y="{:.1}" text-anchor="end" class="lbl">{}</text><rect class="track" x="{label_w:.1}" y="{:.1}" width="{bar_w:.1}" height="{:.1}"/><rect class="bar pass" x="{label_w:.1}" y="{:.1}" width="{:.1}" height="{:.1}" data-value="{}"><title>{}: {}{} ({})</title></rect>"#,
            label_w - 6.0,
            y + 13.0,
            esc(&item.label),
            y + 2.0,
            row_h - 4.0,
            y + 2.0,
            value * bar_w,
            row_h - 4.0,
            item.value.map_or_else(String::new, |v| format!("{v:.6}")),
            esc(&item.label),
            share(item.value),
            item.ci.map_or_else(String::new, |[l, h]| format!(
                ", 95% interval {} to {}",
                share(Some(l)),
                share(Some(h))
            )),
            esc(&item.note),
        );
        if let Some([l, h]) = item.ci {
            let mid = y + row_h / 2.0;
            let _ = write!(
                out,
                r#"<line class="whisker" x1="{:.1}" x2="{:.1}" y1="{mid:.1}" y2="{mid:.1}" data-low="{l:.6}" data-high="{h:.6}"/><line class="whisker" x1="{:.1}" x2="{:.1}" y1="{:.1}" y2="{:.1}"/><line class="whisker" x1="{:.1}" x2="{:.1}" y1="{:.1}" y2="{:.1}"/>"#,
                x(l),
                x(h),
                x(l),
                x(l),
                mid - 5.0,
                mid + 5.0,
                x(h),
                x(h),
                mid - 5.0,
                mid + 5.0,
            );
        }
        let _ = write!(
            out,
            r#"<text x="{:.1}" y="{:.1}" class="val">{}</text></g>"#,
            label_w + bar_w + 6.0,
            y + 13.0,
            esc(&text),
        );
    }
    out.push_str("</svg>");
    out
}

/// A heatmap of counts with row percentages: rows are the first axis (e.g. expected), columns
/// the second (e.g. predicted). One `rect.cell` per cell; the colour is the row share, and
/// each cell prints its count and row percentage.
#[must_use]
pub fn heatmap(
    title: &str,
    row_axis: &str,
    col_axis: &str,
    labels: &[String],
    counts: &[Vec<u64>],
) -> String {
    let cell = 64.0_f64;
    let label_w = labels
        .iter()
        .map(|l| text_width(l))
        .fold(30.0_f64, f64::max)
        .min(200.0)
        + 24.0;
    let top = 44.0;
    #[expect(clippy::cast_precision_loss, reason = "few labels")]
    let n = labels.len() as f64;
    let width = label_w + n * cell + 10.0;
    let height = top + n * cell + 10.0;
    let mut out = String::new();
    open(&mut out, "heatmap", width, height, title);
    let _ = write!(
        out,
        r#"<text x="{:.1}" y="12" class="axis">{} →</text><text x="4" y="{:.1}" class="axis">{} ↓</text>"#,
        label_w,
        esc(col_axis),
        top - 6.0,
        esc(row_axis)
    );
    for (j, label) in labels.iter().enumerate() {
        #[expect(clippy::cast_precision_loss, reason = "few labels")]
        let x = label_w + j as f64 * cell + cell / 2.0;
        let _ = write!(
            out,
            r#"<text x="{x:.1}" y="30" text-anchor="middle" class="lbl">{}</text>"#,
            esc(label)
        );
    }
    for (i, row) in counts.iter().enumerate() {
        #[expect(clippy::cast_precision_loss, reason = "few labels")]
        let y = top + i as f64 * cell;
        let label = labels.get(i).map_or("", String::as_str);
        let _ = write!(
            out,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end" class="lbl">{}</text>"#,
            label_w - 6.0,
            y + cell / 2.0 + 4.0,
            esc(label)
        );
        let total: u64 = row.iter().sum();
        for (j, &count) in row.iter().enumerate() {
            #[expect(clippy::cast_precision_loss, reason = "counts are far below 2^52")]
            let pct = (total > 0).then(|| count as f64 / total as f64);
            #[expect(clippy::cast_precision_loss, reason = "few labels")]
            let x = label_w + j as f64 * cell;
            let shade = pct.unwrap_or(0.0);
            let tone = if i == j { "diag" } else { "off" };
            let dark = shade > 0.55;
            let col = labels.get(j).map_or("", String::as_str);
            let pct_text = pct.map_or_else(|| "–".to_owned(), |p| format!("{:.0}%", p * 100.0));
            let _ = write!(
                out,
                r#"<g><rect class="cell {tone}" x="{x:.1}" y="{y:.1}" width="{:.1}" height="{:.1}" style="fill-opacity:{:.3}" data-value="{count}"><title>{} {} / {} {}: {count} ({pct_text} of the row)</title></rect><text x="{:.1}" y="{:.1}" text-anchor="middle" class="num{}">{count}</text><text x="{:.1}" y="{:.1}" text-anchor="middle" class="pct{}">{pct_text}</text></g>"#,
                cell - 2.0,
                cell - 2.0,
                0.08 + 0.92 * shade,
                esc(row_axis),
                esc(label),
                esc(col_axis),
                esc(col),
                x + cell / 2.0,
                y + cell / 2.0,
                if dark { " dark" } else { "" },
                x + cell / 2.0,
                y + cell / 2.0 + 15.0,
                if dark { " dark" } else { "" },
            );
        }
    }
    out.push_str("</svg>");
    out
}

/// One point of a [`line()`] chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// Position on the x axis (0–1 for calibration; an index for histories).
    pub x: f64,
    /// Value (0–1).
    pub y: f64,
    /// What the point is, shown in its tooltip.
    pub label: String,
    /// A short mark written under the x axis at the point (prompt version and model), or empty.
    pub tick: String,
}

/// A line chart of values in 0–1 against `x` in `x_range`, one `circle.point` per point with
/// its value written beside it; `diagonal` adds the y = x reference line (calibration).
#[must_use]
pub fn line(
    title: &str,
    x_axis: &str,
    y_axis: &str,
    points: &[Point],
    x_range: (f64, f64),
    diagonal: bool,
) -> String {
    let (w, h, left, top) = (420.0_f64, 220.0_f64, 44.0_f64, 14.0_f64);
    let ticks = points.iter().any(|p| !p.tick.is_empty());
    let below = if ticks { 28.0 } else { 0.0 };
    let width = w + left + 60.0;
    let height = h + top + 40.0 + below;
    let span = (x_range.1 - x_range.0).max(f64::EPSILON);
    let px = |x: f64| left + (x - x_range.0) / span * w;
    let py = |y: f64| top + (1.0 - y.clamp(0.0, 1.0)) * h;
    let mut out = String::new();
    open(&mut out, "line", width, height, title);
    for tick in [0.0, 0.25, 0.5, 0.75, 1.0] {
        let y = py(tick);
        let _ = write!(
            out,
            r#"<line class="grid" x1="{left:.1}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}"/><text x="{:.1}" y="{:.1}" text-anchor="end" class="tick">{:.0}%</text>"#,
            left + w,
            left - 4.0,
            y + 4.0,
            tick * 100.0,
        );
    }
    if diagonal {
        let _ = write!(
            out,
            r#"<line class="ref" x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}"/>"#,
            px(x_range.0),
            py(x_range.0),
            px(x_range.1),
            py(x_range.1)
        );
    }
    let _ = write!(
        out,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" class="axis">{}</text><text x="12" y="{:.1}" class="axis" transform="rotate(-90 12 {:.1})" text-anchor="middle">{}</text>"#,
        left + w / 2.0,
        top + h + 34.0 + below,
        esc(x_axis),
        top + h / 2.0,
        top + h / 2.0,
        esc(y_axis)
    );
    if points.len() > 1 {
        let coords: Vec<String> = points
            .iter()
            .map(|p| format!("{:.1},{:.1}", px(p.x), py(p.y)))
            .collect();
        let _ = write!(
            out,
            r#"<polyline class="series" points="{}"/>"#,
            coords.join(" ")
        );
    }
    for p in points {
        let _ = write!(
            out,
            r#"<g><circle class="point" cx="{:.1}" cy="{:.1}" r="4" data-value="{:.6}"><title>{}: {}</title></circle><text x="{:.1}" y="{:.1}" text-anchor="middle" class="val">{:.0}%</text></g>"#,
            px(p.x),
            py(p.y),
            p.y,
            esc(&p.label),
            share(Some(p.y)),
            px(p.x),
            py(p.y) - 8.0,
            p.y * 100.0,
        );
        if !p.tick.is_empty() {
            let _ = write!(
                out,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" class="tick">{}</text>"#,
                px(p.x),
                top + h + 16.0,
                esc(&p.tick)
            );
        }
    }
    out.push_str("</svg>");
    out
}

/// A small sparkline of values in 0–1 (oldest first), one `circle.point` per value; the newest
/// value is written at the end.
#[must_use]
pub fn sparkline(title: &str, values: &[f64]) -> String {
    let (w, h) = (90.0_f64, 22.0_f64);
    let mut out = String::new();
    open(&mut out, "spark", w + 40.0, h, title);
    #[expect(clippy::cast_precision_loss, reason = "few runs")]
    let step = if values.len() > 1 {
        (w - 6.0) / (values.len() - 1) as f64
    } else {
        0.0
    };
    let pos = |i: usize, v: f64| {
        #[expect(clippy::cast_precision_loss, reason = "few runs")]
        let x = 3.0 + i as f64 * step;
        (x, 3.0 + (1.0 - v.clamp(0.0, 1.0)) * (h - 6.0))
    };
    if values.len() > 1 {
        let coords: Vec<String> = values
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                let (x, y) = pos(i, v);
                format!("{x:.1},{y:.1}")
            })
            .collect();
        let _ = write!(
            out,
            r#"<polyline class="series" points="{}"/>"#,
            coords.join(" ")
        );
    }
    for (i, &v) in values.iter().enumerate() {
        let (x, y) = pos(i, v);
        let _ = write!(
            out,
            r#"<circle class="point" cx="{x:.1}" cy="{y:.1}" r="2" data-value="{v:.6}"><title>run {}: {}</title></circle>"#,
            i + 1,
            share(Some(v))
        );
    }
    if let Some(last) = values.last() {
        let _ = write!(
            out,
            r#"<text x="{:.1}" y="15" class="val">{:.0}%</text>"#,
            w + 2.0,
            last * 100.0
        );
    }
    out.push_str("</svg>");
    out
}

/// A value with its interval on a 0–1 scale: the interval as a `rect.bar`, the value as a tick.
#[must_use]
pub fn interval(title: &str, value: f64, ci: [f64; 2]) -> String {
    let w = 120.0_f64;
    let mut out = String::new();
    open(&mut out, "ci", w + 4.0, 14.0, title);
    let x = |v: f64| 2.0 + v.clamp(0.0, 1.0) * w;
    let _ = write!(
        out,
        r#"<rect class="track" x="2" y="5" width="{w:.1}" height="4"/><rect class="bar ci" x="{:.1}" y="3" width="{:.1}" height="8" data-value="{value:.6}"><title>{}: {} (95% interval {} to {})</title></rect><rect class="tick" x="{:.1}" y="1" width="2" height="12"/>"#,
        x(ci[0]),
        (x(ci[1]) - x(ci[0])).max(1.0),
        esc(title),
        share(Some(value)),
        share(Some(ci[0])),
        share(Some(ci[1])),
        x(value) - 1.0,
    );
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(haystack: &str, needle: &str) -> usize {
        haystack.matches(needle).count()
    }

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            esc(r#"<script>"a" & 'b'</script>"#),
            "&lt;script&gt;&quot;a&quot; &amp; &#39;b&#39;&lt;/script&gt;"
        );
    }

    #[test]
    fn bars_draw_one_rect_per_item_with_title_and_values() {
        let svg = bars(
            "Recall per label",
            &[
                Bar {
                    label: "R".into(),
                    value: Some(0.5),
                    tone: "r",
                },
                Bar {
                    label: "<b>".into(),
                    value: None,
                    tone: "r",
                },
            ],
        );
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains("<title>Recall per label</title>"));
        assert_eq!(count(&svg, r#"class="bar "#), 2);
        assert!(svg.contains(">50.0%</text>"));
        assert!(svg.contains(">n/a</text>"));
        assert!(svg.contains("&lt;b&gt;") && !svg.contains("<b>"));
    }

    #[test]
    fn heatmap_has_a_cell_per_count_with_row_percentages() {
        let labels = vec!["Y".to_owned(), "N".to_owned()];
        let svg = heatmap(
            "Confusion",
            "expected",
            "predicted",
            &labels,
            &[vec![3, 1], vec![0, 0]],
        );
        assert_eq!(count(&svg, r#"<rect class="cell"#), 4);
        assert!(svg.contains(">75%</text>"));
        assert!(svg.contains(">25%</text>"));
        assert!(svg.contains(r#"data-value="3""#));
        // An empty row has no percentage rather than a division by zero.
        assert!(svg.contains(">–</text>"));
        assert!(!svg.contains("NaN"));
    }

    #[test]
    fn line_and_sparkline_plot_each_point() {
        let points = vec![
            Point {
                x: 0.0,
                y: 0.8,
                label: "v1".into(),
                tick: "v1 · gpt-4o".into(),
            },
            Point {
                x: 1.0,
                y: 0.9,
                label: "v2".into(),
                tick: String::new(),
            },
        ];
        let svg = line("History", "run", "accuracy", &points, (0.0, 1.0), true);
        assert_eq!(count(&svg, r#"class="point""#), 2);
        assert!(svg.contains(r#"class="ref""#));
        assert!(svg.contains(">90%</text>"));
        assert!(svg.contains(">v1 · gpt-4o</text>"));
        let spark = sparkline("Accuracy history", &[0.5, 0.7, 0.9]);
        assert_eq!(count(&spark, r#"class="point""#), 3);
        assert!(spark.contains(">90%</text>"));
    }

    #[test]
    fn rates_draw_a_bar_and_a_whisker_per_interval() {
        let svg = rates(
            "Pass rate per criterion",
            &[
                Rate {
                    label: "grounded".into(),
                    value: Some(0.75),
                    ci: Some([0.5, 0.9]),
                    note: "9 of 12 rows".into(),
                },
                Rate {
                    label: "<i>".into(),
                    value: None,
                    ci: None,
                    note: String::new(),
                },
            ],
        );
        assert_eq!(count(&svg, r#"<rect class="bar pass""#), 2);
        assert_eq!(
            count(&svg, r#"class="whisker""#),
            3,
            "one interval, two caps"
        );
        assert!(svg.contains(r#"data-value="0.750000""#));
        assert!(svg.contains(r#"data-low="0.500000" data-high="0.900000""#));
        assert!(svg.contains(">75.0% (50.0%–90.0%)</text>"));
        assert!(svg.contains(
            "<title>grounded: 75.0%, 95% interval 50.0% to 90.0% (9 of 12 rows)</title>"
        ));
        assert!(svg.contains(">n/a</text>"));
        assert!(svg.contains("&lt;i&gt;") && !svg.contains("<i>"));
    }

    #[test]
    fn interval_draws_the_range() {
        let svg = interval("Accuracy", 0.8, [0.7, 0.9]);
        assert!(svg.contains("95% interval 70.0% to 90.0%"));
        assert_eq!(count(&svg, r#"class="bar ci""#), 1);
    }

    #[test]
    fn no_chart_references_the_network() {
        let svg = bars(
            "x",
            &[Bar {
                label: "https://evil.example/x.png".into(),
                value: Some(1.0),
                tone: "f",
            }],
        );
        // Inline SVG in HTML needs no namespace; labels are text, never references.
        assert!(!svg.contains("xmlns"));
        assert!(!svg.contains("href"));
        assert!(!svg.contains("src="));
    }
}
