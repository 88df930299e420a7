//! Bars of GFLOP per joule: one bar per workload and device, grouped by workload, each
//! device in the colour it has on the roofline chart.

use plotters::prelude::*;

use crate::compare::Row;
use crate::roofline::colour;
use flopwatt::error::{Error, Result};

/// Renders the bars of `rows` (one cell per device in `devices` order) as an SVG document;
/// workloads without any energy figure are left out, and a chart with none says so.
pub fn svg(devices: &[String], rows: &[Row]) -> Result<String> {
    // (row label shown once per group, device index, value)
    let mut bars: Vec<(String, usize, f64)> = Vec::new();
    for row in rows {
        let vals: Vec<(usize, f64)> = row
            .cells
            .iter()
            .enumerate()
            .filter_map(|(i, c)| Some((i, c.as_ref()?.gflops_per_joule?)))
            .filter(|(_, v)| v.is_finite() && *v >= 0.0)
            .collect();
        for (k, (i, v)) in vals.iter().enumerate() {
            let label = if k == 0 { row.label() } else { String::new() };
            bars.push((label, *i, *v));
        }
    }
    let n = bars.len().max(1) as u32;
    let height = 110 + 24 * n;
    let max = bars.iter().map(|b| b.2).fold(0.0, f64::max).max(1e-9);
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (960, height)).into_drawing_area();
        let err = |e: &dyn std::fmt::Display| Error::invalid("energy chart", e.to_string());
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let title = if bars.is_empty() {
            "GFLOP per joule: no energy figures in these files (run bench with a power sensor or --watts)"
        } else {
            "GFLOP per joule (higher is better)"
        };
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(15)
            .margin_right(60)
            .x_label_area_size(40)
            .y_label_area_size(230)
            .build_cartesian_2d(0.0..max * 1.2, (0..n).into_segmented())
            .map_err(|e| err(&e))?;
        let labels: Vec<String> = bars.iter().map(|b| b.0.clone()).collect();
        chart
            .configure_mesh()
            .disable_y_mesh()
            .x_desc("GFLOP/J")
            .y_labels(n as usize)
            .y_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) => labels.get(*i as usize).cloned().unwrap_or_default(),
                _ => String::new(),
            })
            .draw()
            .map_err(|e| err(&e))?;
        for (k, (_, dev, v)) in bars.iter().enumerate() {
            let c = colour(*dev);
            let k = k as u32;
            chart
                .draw_series([Rectangle::new(
                    [
                        (0.0, SegmentValue::Exact(k)),
                        (*v, SegmentValue::Exact(k + 1)),
                    ],
                    c.filled(),
                )])
                .map_err(|e| err(&e))?;
            chart
                .draw_series([Text::new(
                    format!("{v:.3}"),
                    (*v + max * 0.01, SegmentValue::CenterOf(k)),
                    ("sans-serif", 12).into_font(),
                )])
                .map_err(|e| err(&e))?;
        }
        for (i, d) in devices.iter().enumerate() {
            let c = colour(i);
            chart
                .draw_series(std::iter::empty::<Rectangle<(f64, SegmentValue<u32>)>>())
                .map_err(|e| err(&e))?
                .label(d.clone())
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 16, y + 5)], c.filled()));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .border_style(BLACK)
            .background_style(WHITE.mix(0.8))
            .draw()
            .map_err(|e| err(&e))?;
        root.present().map_err(|e| err(&e))?;
    }
    Ok(out)
}
