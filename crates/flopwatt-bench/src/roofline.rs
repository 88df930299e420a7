//! The roofline chart: measured compute and bandwidth ceilings and one point per workload,
//! arithmetic intensity (FLOP/byte) against GFLOP/s, both axes logarithmic.

use plotters::prelude::*;

use super::BenchResult;
use flopwatt::error::{Error, Result};

/// Renders the chart as an SVG document.
pub fn svg(
    device: &str,
    peak_gflops: f64,
    peak_gbps: f64,
    results: &[BenchResult],
) -> Result<String> {
    let points: Vec<(f64, f64, String)> = results
        .iter()
        .filter(|r| r.flops > 0 && r.bytes > 0 && r.gflops > 0.0)
        .map(|r| {
            let label = match &r.variant {
                Some(v) => format!("{} ({v})", r.id),
                None => r.id.clone(),
            };
            (r.flops as f64 / r.bytes as f64, r.gflops, label)
        })
        .collect();
    let (mut xmin, mut xmax) = (0.01f64, 1000.0f64);
    let (mut ymin, mut ymax) = (0.01f64, peak_gflops.max(1.0) * 3.0);
    for (x, y, _) in &points {
        xmin = xmin.min(x / 3.0);
        xmax = xmax.max(x * 3.0);
        ymin = ymin.min(y / 3.0);
        ymax = ymax.max(y * 3.0);
    }
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (900, 600)).into_drawing_area();
        let err = |e: &dyn std::fmt::Display| Error::invalid("roofline", e.to_string());
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(format!("flopwatt roofline: {device}"), ("sans-serif", 20))
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(65)
            .build_cartesian_2d((xmin..xmax).log_scale(), (ymin..ymax).log_scale())
            .map_err(|e| err(&e))?;
        chart
            .configure_mesh()
            .x_desc("arithmetic intensity (FLOP/byte)")
            .y_desc("GFLOP/s")
            .draw()
            .map_err(|e| err(&e))?;
        // The roof: min(compute ceiling, bandwidth * intensity), sampled densely in log space.
        let roof: Vec<(f64, f64)> = (0..=200)
            .map(|i| {
                let x = xmin * (xmax / xmin).powf(i as f64 / 200.0);
                (x, (peak_gbps * x).min(peak_gflops))
            })
            .collect();
        chart
            .draw_series(LineSeries::new(roof, BLUE.stroke_width(2)))
            .map_err(|e| err(&e))?
            .label(format!(
                "ceilings: {peak_gflops:.1} GFLOP/s, {peak_gbps:.1} GB/s"
            ))
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE));
        chart
            .draw_series(
                points
                    .iter()
                    .map(|(x, y, _)| Circle::new((*x, *y), 4, RED.filled())),
            )
            .map_err(|e| err(&e))?;
        chart
            .draw_series(points.iter().map(|(x, y, l)| {
                Text::new(l.clone(), (*x * 1.08, *y), ("sans-serif", 12).into_font())
            }))
            .map_err(|e| err(&e))?;
        chart
            .configure_series_labels()
            .border_style(BLACK)
            .background_style(WHITE.mix(0.8))
            .draw()
            .map_err(|e| err(&e))?;
        root.present().map_err(|e| err(&e))?;
    }
    Ok(out)
}
