//! The report's SVG plots, drawn with plotters.

use crate::runs::Run;
use plotters::prelude::*;
use std::collections::BTreeMap;
use std::path::Path;

pub type PlotResult = Result<(), Box<dyn std::error::Error>>;

const COLORS: [RGBColor; 3] = [
    RGBColor(0x4c, 0x9b, 0xe8),
    RGBColor(0xf0, 0xa2, 0x3b),
    RGBColor(0xe0, 0x4f, 0x5f),
];

pub fn plot_rps(runs: &[&Run], path: &Path) -> PlotResult {
    let root = SVGBackend::new(path, (900, 460)).into_drawing_area();
    root.fill(&WHITE)?;
    let max = runs.iter().map(|r| r.rps).fold(1.0, f64::max) * 1.15;
    let values: Vec<(String, f64)> = runs.iter().map(|r| (r.name.clone(), r.rps)).collect();
    let title = "Requests per second by workload (64 connections)";
    bar_chart(&root, title, "req/s", &values, max, |v| format!("{v:.0}"))?;
    root.present()?;
    Ok(())
}

/// One bar per (name, value) on a y axis from 0 to `max`, each value written above
/// its bar by `label`; the chart, for more series.
fn bar_chart<'a, 'b>(
    root: &'a DrawingArea<SVGBackend<'b>, plotters::coord::Shift>,
    title: &str,
    y_desc: &str,
    values: &[(String, f64)],
    max: f64,
    label: impl Fn(f64) -> String,
) -> Result<
    ChartContext<
        'a,
        SVGBackend<'b>,
        Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
    >,
    Box<dyn std::error::Error>,
> {
    let n = values.len().max(1);
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..n as f64, 0f64..max)?;
    let names: Vec<String> = values.iter().map(|v| v.0.clone()).collect();
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n * 2 + 1)
        .x_label_formatter(&|x| {
            let i = x.floor() as usize;
            if (x - i as f64 - 0.5).abs() < 1e-6 {
                names.get(i).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        })
        .y_desc(y_desc)
        .draw()?;
    chart.draw_series(values.iter().enumerate().map(|(i, v)| {
        Rectangle::new(
            [(i as f64 + 0.15, 0.0), (i as f64 + 0.85, v.1)],
            COLORS[0].filled(),
        )
    }))?;
    chart.draw_series(values.iter().enumerate().map(|(i, v)| {
        Text::new(
            label(v.1),
            (i as f64 + 0.25, v.1 + max * 0.02),
            ("sans-serif", 13),
        )
    }))?;
    Ok(chart)
}

pub fn plot_latency(runs: &[&Run], path: &Path) -> PlotResult {
    let names: Vec<String> = runs.iter().map(|r| r.name.clone()).collect();
    let series = [
        ("p50", runs.iter().map(|r| r.p50_ms).collect()),
        ("p90", runs.iter().map(|r| r.p90_ms).collect()),
        ("p99", runs.iter().map(|r| r.p99_ms).collect()),
    ];
    let title = "Latency by workload: p50 / p90 / p99 (ms, log scale)";
    plot_percentiles(&names, &series, title, path)
}

/// Latency percentiles of the open-loop runs, `(name, p50, p99)` each.
pub fn plot_openloop(points: &[(String, f64, f64)], path: &Path) -> PlotResult {
    let names: Vec<String> = points.iter().map(|p| p.0.clone()).collect();
    let series = [
        ("p50", points.iter().map(|p| p.1).collect()),
        ("p99", points.iter().map(|p| p.2).collect()),
    ];
    let title = "Open-loop latency (oha) at 50 % / 80 % of saturation: p50 / p99 (ms, log scale)";
    plot_percentiles(&names, &series, title, path)
}

/// Grouped bars on a log axis: one group per name, one bar per series (label, values).
fn plot_percentiles(
    names: &[String],
    series: &[(&str, Vec<f64>)],
    title: &str,
    path: &Path,
) -> PlotResult {
    let root = SVGBackend::new(path, (900, 460)).into_drawing_area();
    root.fill(&WHITE)?;
    // A log axis: p99s differ by two orders of magnitude between /health and the
    // orders page, and one slow workload would flatten every other on a linear one.
    let all = || series.iter().flat_map(|s| s.1.iter().copied());
    let max = all().fold(0.1, f64::max) * 1.5;
    let min = all().fold(f64::INFINITY, f64::min).clamp(0.01, 1.0) / 2.0;
    let n = names.len().max(1);
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..n as f64, (min..max).log_scale())?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n * 2 + 1)
        .x_label_formatter(&|x| {
            let i = x.floor() as usize;
            if (x - i as f64 - 0.5).abs() < 1e-6 {
                names.get(i).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        })
        .y_desc("ms")
        .draw()?;
    let width = 0.8 / series.len().max(1) as f64;
    for (k, (label, values)) in series.iter().enumerate() {
        let color = COLORS[k % COLORS.len()];
        chart
            .draw_series(values.iter().enumerate().map(move |(i, v)| {
                let x0 = i as f64 + 0.1 + k as f64 * width;
                Rectangle::new([(x0, min), (x0 + width * 0.92, v.max(min))], color.filled())
            }))?
            .label(*label)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled()));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .border_style(BLACK)
        .background_style(WHITE.mix(0.9))
        .draw()?;
    root.present()?;
    Ok(())
}

pub fn plot_workers(runs: &[&Run], path: &Path) -> PlotResult {
    let root = SVGBackend::new(path, (900, 420)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut by_name: BTreeMap<&str, Vec<&Run>> = BTreeMap::new();
    for r in runs {
        by_name.entry(r.name.as_str()).or_default().push(r);
    }
    let panels = root.split_evenly((1, by_name.len().max(1)));
    for ((name, mut rs), panel) in by_name.into_iter().zip(panels.iter()) {
        rs.sort_by_key(|r| r.workers);
        let max = rs.iter().map(|r| r.rps).fold(1.0, f64::max) * 1.2;
        let max_w = rs.iter().map(|r| r.workers).max().unwrap_or(4) as f64;
        let mut chart = ChartBuilder::on(panel)
            .caption(format!("{name}: req/s by workers"), ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(60)
            .build_cartesian_2d(0.5f64..max_w + 0.5, 0f64..max)?;
        chart
            .configure_mesh()
            .x_desc("workers")
            .y_desc("req/s")
            .draw()?;
        chart.draw_series(LineSeries::new(
            rs.iter().map(|r| (r.workers as f64, r.rps)),
            COLORS[0].stroke_width(2),
        ))?;
        chart.draw_series(
            rs.iter()
                .map(|r| Circle::new((r.workers as f64, r.rps), 4, COLORS[0].filled())),
        )?;
        chart.draw_series(rs.iter().map(|r| {
            Text::new(
                format!("{:.0}", r.rps),
                (r.workers as f64 + 0.05, r.rps + max * 0.03),
                ("sans-serif", 13),
            )
        }))?;
    }
    root.present()?;
    Ok(())
}

/// Each workload as a fraction of its ceiling (bars), with its target (a black tick).
pub fn plot_ceilings(items: &[(String, f64, f64)], path: &Path) -> PlotResult {
    let title = "brisk / ceiling (nginx static, pgbench) by workload; tick = target";
    plot_fractions(items, title, "fraction of the ceiling", path)
}

/// Scale 5 over scale 1 by workload (W1: bytes/s), with its target (a black tick).
pub fn plot_scale(items: &[(String, f64, f64)], path: &Path) -> PlotResult {
    let title = "scale 5 / scale 1 by workload (req/s; W1: bytes/s); tick = target";
    plot_fractions(items, title, "scale 5 / scale 1", path)
}

/// One bar per (name, fraction, target), the target drawn as a black tick.
fn plot_fractions(
    items: &[(String, f64, f64)],
    title: &str,
    y_desc: &str,
    path: &Path,
) -> PlotResult {
    let root = SVGBackend::new(path, (900, 460)).into_drawing_area();
    root.fill(&WHITE)?;
    let max = items.iter().map(|i| i.1.max(i.2)).fold(1.0, f64::max) * 1.15;
    let values: Vec<(String, f64)> = items.iter().map(|i| (i.0.clone(), i.1)).collect();
    let mut chart = bar_chart(&root, title, y_desc, &values, max, |v| format!("{v:.2}"))?;
    chart.draw_series(items.iter().enumerate().map(|(i, it)| {
        PathElement::new(
            vec![(i as f64 + 0.1, it.2), (i as f64 + 0.9, it.2)],
            BLACK.stroke_width(3),
        )
    }))?;
    root.present()?;
    Ok(())
}
