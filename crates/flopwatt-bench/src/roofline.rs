//! The roofline chart: measured compute and bandwidth ceilings and one point per workload,
//! arithmetic intensity (FLOP/byte) against GFLOP/s, both axes logarithmic. Several devices
//! share one chart (`flopwatt compare --html`), each in its own colour.

use plotters::prelude::*;

use super::BenchResult;
use flopwatt::error::{Error, Result};

/// One device's data on the chart.
pub struct Series<'a> {
    /// Legend text (device, or file and device).
    pub label: String,
    /// Compute ceiling (GFLOP/s) and bandwidth ceiling (GB/s), when measured.
    pub ceilings: Option<(f64, f64)>,
    /// The workloads: one point each, at (FLOPs / bytes, GFLOP/s).
    pub results: &'a [BenchResult],
}

/// Colours of the devices, in order (then repeated).
const COLOURS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
    RGBColor(23, 190, 207),
];

/// The colour of series `i`.
pub fn colour(i: usize) -> RGBColor {
    COLOURS[i % COLOURS.len()]
}

/// Renders one device's chart as an SVG document (ceilings are left out unless both are
/// positive).
pub fn svg(
    device: &str,
    peak_gflops: f64,
    peak_gbps: f64,
    results: &[BenchResult],
) -> Result<String> {
    let ceilings = (peak_gflops > 0.0 && peak_gbps > 0.0).then_some((peak_gflops, peak_gbps));
    svg_multi(
        &format!("flopwatt roofline: {device}"),
        &[Series {
            label: device.to_string(),
            ceilings,
            results,
        }],
    )
}

/// A point of a workload: (intensity, GFLOP/s, label), when both are positive.
fn points(results: &[BenchResult]) -> Vec<(f64, f64, String)> {
    results
        .iter()
        .filter(|r| r.flops > 0 && r.bytes > 0 && r.gflops > 0.0 && r.gflops.is_finite())
        .map(|r| {
            let label = match &r.variant {
                Some(v) => format!("{} ({v})", r.id),
                None => r.id.clone(),
            };
            (r.flops as f64 / r.bytes as f64, r.gflops, label)
        })
        .collect()
}

/// The decades around `lo..hi`, nudged outward so that the end decades get their tick labels
/// (plotters labels 10^k only when it lies inside the range, and 10^k computed in floating
/// point may miss an exact end).
fn decades(lo: f64, hi: f64) -> (f64, f64) {
    let lo = 10f64.powf(lo.log10().floor());
    let mut hi = 10f64.powf(hi.log10().ceil());
    if hi <= lo {
        hi = lo * 10.0;
    }
    (lo * 0.999, hi * 1.001)
}

/// A tick label: 3 significant digits, no trailing zeros (`0.01`, `1000`, `2.5`).
fn tick(v: f64) -> String {
    if v <= 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    let prec = (2 - v.log10().floor() as i32).max(0) as usize;
    let s = format!("{v:.prec$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// The axis ranges that fit every point and every ceiling's ridge (where the bandwidth
/// roof meets the compute roof), in whole decades.
fn ranges(series: &[Series]) -> ((f64, f64), (f64, f64)) {
    let (mut x, mut y) = ((f64::MAX, f64::MIN), (f64::MAX, f64::MIN));
    let mut add = |px: f64, py: f64| {
        x = (x.0.min(px), x.1.max(px));
        y = (y.0.min(py), y.1.max(py));
    };
    for s in series {
        for (px, py, _) in points(s.results) {
            add(px, py);
        }
        if let Some((g, b)) = s.ceilings {
            add(g / b, g);
        }
    }
    if x.0 > x.1 {
        return (decades(0.1, 100.0), decades(0.1, 100.0));
    }
    // A decade of room past the extremes: labels sit right of points, ceilings above them.
    (decades(x.0, x.1 * 10.0), decades(y.0, y.1 * 2.0))
}

/// Renders the chart of several devices as an SVG document.
pub fn svg_multi(title: &str, series: &[Series]) -> Result<String> {
    let ((xmin, xmax), (ymin, ymax)) = ranges(series);
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (960, 640)).into_drawing_area();
        let err = |e: &dyn std::fmt::Display| Error::invalid("roofline", e.to_string());
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(15)
            .margin_right(40)
            .x_label_area_size(50)
            .y_label_area_size(75)
            .build_cartesian_2d((xmin..xmax).log_scale(), (ymin..ymax).log_scale())
            .map_err(|e| err(&e))?;
        chart
            .configure_mesh()
            .x_desc("arithmetic intensity (FLOP/byte)")
            .y_desc("GFLOP/s")
            .x_label_formatter(&|v| tick(*v))
            .y_label_formatter(&|v| tick(*v))
            .draw()
            .map_err(|e| err(&e))?;
        for (i, s) in series.iter().enumerate() {
            let c = colour(i);
            let font = ("sans-serif", 12).into_font().color(&c);
            if let Some((g, b)) = s.ceilings {
                // The roof enters the chart where bandwidth * intensity reaches the floor,
                // rises to the ridge, then runs flat at the compute ceiling.
                let ridge = g / b;
                let x0 = xmin.max(ymin / b);
                let mut roof = Vec::new();
                if x0 < ridge {
                    roof.push((x0, b * x0));
                }
                roof.push((ridge.max(xmin).min(xmax), g.min(b * xmax)));
                roof.push((xmax, g.min(b * xmax)));
                chart
                    .draw_series(LineSeries::new(roof, c.stroke_width(2)))
                    .map_err(|e| err(&e))?
                    .label(s.label.clone())
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2))
                    });
                let tx = (ridge * 1.3).max(xmin * 1.5);
                chart
                    .draw_series([
                        Text::new(
                            format!("compute {} GFLOP/s", tick(g)),
                            (tx, g * 1.12),
                            font.clone(),
                        ),
                        Text::new(
                            format!("bandwidth {} GB/s", tick(b)),
                            (x0.max(ridge / 30.0), b * x0.max(ridge / 30.0) * 1.5),
                            font.clone(),
                        ),
                    ])
                    .map_err(|e| err(&e))?;
            } else {
                chart
                    .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())
                    .map_err(|e| err(&e))?
                    .label(format!("{} (no ceilings measured)", s.label))
                    .legend(move |(x, y)| Circle::new((x + 10, y), 4, c.filled()));
            }
            let pts = points(s.results);
            chart
                .draw_series(
                    pts.iter()
                        .map(|(x, y, _)| Circle::new((*x, *y), 4, c.filled())),
                )
                .map_err(|e| err(&e))?;
            chart
                .draw_series(
                    pts.iter()
                        .map(|(x, y, l)| Text::new(l.clone(), (*x * 1.1, *y), font.clone())),
                )
                .map_err(|e| err(&e))?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(svg: &str) -> Vec<String> {
        svg.split("<text")
            .skip(1)
            .filter_map(|t| {
                let body = t.split_once('>')?.1;
                Some(body.split_once("</text>")?.0.trim().to_string())
            })
            .collect()
    }

    fn result(id: &str, flops: u64, bytes: u64, gflops: f64) -> BenchResult {
        let mut r = BenchResult::from_runs(id, None, &[1.0], &[], flops, bytes);
        r.gflops = gflops;
        r
    }

    #[test]
    fn ticks_have_no_trailing_zeros() {
        assert_eq!(tick(1000.0), "1000");
        assert_eq!(tick(0.010000000000000002), "0.01");
        assert_eq!(tick(2.5), "2.5");
    }

    #[test]
    fn axes_fit_the_data_with_every_decade_labelled_and_ceilings_named() {
        let rs = [
            result("matmul-1024", 2_000_000_000, 12_000_000, 50.0),
            result("sum-4096", 16_000_000, 64_000_000, 0.8),
        ];
        let svg = svg("dev", 120.0, 20.0, &rs).unwrap();
        let t = texts(&svg);
        // Points from intensity 0.25 to 167 and 0.8..120 GFLOP/s: decades 0.1..10000 and
        // 0.1..1000, the lowest and highest labelled.
        for label in ["0.1", "1", "10", "100", "1000", "10000"] {
            assert!(
                t.iter().any(|x| x == label),
                "x/y label {label} missing: {t:?}"
            );
        }
        assert!(!t.iter().any(|x| x.ends_with(".0")), "{t:?}");
        assert!(t.iter().any(|x| x == "compute 120 GFLOP/s"), "{t:?}");
        assert!(t.iter().any(|x| x == "bandwidth 20 GB/s"), "{t:?}");
        assert!(t.iter().any(|x| x == "matmul-1024") && t.iter().any(|x| x == "sum-4096"));
    }

    #[test]
    fn several_devices_on_one_chart() {
        let a = [result("m", 100, 10, 5.0)];
        let b = [result("m", 100, 10, 50.0)];
        let svg = svg_multi(
            "t",
            &[
                Series {
                    label: "dev-a".into(),
                    ceilings: Some((10.0, 2.0)),
                    results: &a,
                },
                Series {
                    label: "dev-b".into(),
                    ceilings: None,
                    results: &b,
                },
            ],
        )
        .unwrap();
        let t = texts(&svg);
        assert!(t.iter().any(|x| x == "dev-a"), "{t:?}");
        assert!(t.iter().any(|x| x.starts_with("dev-b")), "{t:?}");
        assert_eq!(t.iter().filter(|x| *x == "m").count(), 2);
    }
}
