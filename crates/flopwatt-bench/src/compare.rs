//! Comparing result files: a run against its baseline (`bench --baseline`) and any number of
//! files side by side (`flopwatt compare`), with each difference judged against the runs'
//! own noise.

use crate::report::BenchReport;
use crate::BenchResult;

/// Run-to-run spread of a row: half the min-max range relative to the median, at least 2%.
pub fn noise(r: &BenchResult) -> f64 {
    if r.median_ms <= 0.0 {
        return 0.02;
    }
    (0.5 * (r.max_ms - r.min_ms) / r.median_ms).max(0.02)
}

/// Whether two medians differ by more than twice the larger of the two rows' noise.
fn beyond_noise(old: &BenchResult, new: &BenchResult) -> bool {
    let band = 2.0 * noise(old).max(noise(new));
    new.median_ms > old.median_ms * (1.0 + band) || new.median_ms * (1.0 + band) < old.median_ms
}

/// One row of a baseline comparison.
#[derive(Clone, Debug)]
pub struct Comparison {
    /// Workload id.
    pub id: String,
    /// Variant.
    pub variant: Option<String>,
    /// Old median / new median (> 1: faster now).
    pub speedup: f64,
    /// Noise band used (relative).
    pub noise: f64,
    /// Slower beyond the noise band.
    pub regression: bool,
}

/// Compares `new` with `old` workload by workload (rows of `new` missing in `old` are left
/// out).
pub fn compare(old: &BenchReport, new: &BenchReport) -> Vec<Comparison> {
    new.results
        .iter()
        .filter_map(|n| {
            let o = find(old, n)?;
            Some(Comparison {
                id: n.id.clone(),
                variant: n.variant.clone(),
                speedup: o.median_ms / n.median_ms,
                noise: noise(o).max(noise(n)),
                regression: n.median_ms > o.median_ms && beyond_noise(o, n),
            })
        })
        .collect()
}

fn find<'a>(rep: &'a BenchReport, row: &BenchResult) -> Option<&'a BenchResult> {
    rep.results
        .iter()
        .find(|o| o.id == row.id && o.variant == row.variant)
}

/// The baseline comparison as text.
pub fn comparison_table(rows: &[Comparison]) -> String {
    let mut s = format!(
        "{:<24} {:<8} {:>9} {:>8}  verdict\n",
        "id", "variant", "speedup", "noise"
    );
    for c in rows {
        s.push_str(&format!(
            "{:<24} {:<8} {:>8.3}x {:>7.1}%  {}\n",
            c.id,
            c.variant.as_deref().unwrap_or("-"),
            c.speedup,
            100.0 * c.noise,
            if c.regression {
                "REGRESSION"
            } else if c.speedup > 1.0 + 2.0 * c.noise {
                "faster"
            } else {
                "same within noise"
            }
        ));
    }
    s
}

/// One file's numbers for one workload in a side-by-side comparison.
#[derive(Clone, Debug)]
pub struct Cell {
    /// Median time per run, ms.
    pub median_ms: f64,
    /// GFLOP/s at the median.
    pub gflops: f64,
    /// GFLOP per joule, when the file has energy figures.
    pub gflops_per_joule: Option<f64>,
    /// The first file's median over this one's (> 1: faster than the first).
    pub speedup: Option<f64>,
    /// The difference to the first file is larger than both runs' noise.
    pub beyond_noise: bool,
    /// The row itself is flagged noisy.
    pub noisy: bool,
}

/// One workload across files: a cell per file, None where a file lacks the workload.
#[derive(Clone, Debug)]
pub struct Row {
    /// Workload id.
    pub id: String,
    /// Variant.
    pub variant: Option<String>,
    /// One per file, in file order.
    pub cells: Vec<Option<Cell>>,
}

impl Row {
    /// `id` or `id (variant)`.
    pub fn label(&self) -> String {
        match &self.variant {
            Some(v) => format!("{} ({v})", self.id),
            None => self.id.clone(),
        }
    }
}

/// Every workload of any file (in first-seen order), with each file's numbers and their
/// ratio to the first file's.
pub fn compare_files(reports: &[BenchReport]) -> Vec<Row> {
    let mut keys: Vec<(String, Option<String>)> = Vec::new();
    for rep in reports {
        for r in &rep.results {
            let k = (r.id.clone(), r.variant.clone());
            if !keys.contains(&k) {
                keys.push(k);
            }
        }
    }
    keys.into_iter()
        .map(|(id, variant)| {
            let of = |rep: &BenchReport| {
                rep.results
                    .iter()
                    .find(|r| r.id == id && r.variant == variant)
                    .cloned()
            };
            let first = reports.first().and_then(of);
            let cells = reports
                .iter()
                .map(|rep| {
                    let r = of(rep)?;
                    Some(Cell {
                        median_ms: r.median_ms,
                        gflops: r.gflops,
                        gflops_per_joule: r.gflops_per_watt,
                        speedup: first.as_ref().map(|f| f.median_ms / r.median_ms),
                        beyond_noise: first.as_ref().is_some_and(|f| beyond_noise(f, &r)),
                        noisy: r.noisy,
                    })
                })
                .collect();
            Row { id, variant, cells }
        })
        .collect()
}

/// A workload that is slower in a later file than in the first by more than a threshold.
#[derive(Clone, Debug, PartialEq)]
pub struct Regression {
    /// Index of the slower file.
    pub file: usize,
    /// `id (variant)`.
    pub workload: String,
    /// How much slower, percent (100: twice the time).
    pub slower_pct: f64,
}

/// The workloads of files after the first whose median is more than `pct` percent longer
/// than the first file's.
pub fn regressions(rows: &[Row], pct: f64) -> Vec<Regression> {
    let mut out = Vec::new();
    for row in rows {
        for (file, cell) in row.cells.iter().enumerate().skip(1) {
            if let Some(s) = cell.as_ref().and_then(|c| c.speedup) {
                let slower_pct = 100.0 * (1.0 / s - 1.0);
                if slower_pct > pct {
                    out.push(Regression {
                        file,
                        workload: row.label(),
                        slower_pct,
                    });
                }
            }
        }
    }
    out
}

/// The side-by-side comparison as text: one block per workload, one line per file.
pub fn files_table(names: &[String], rows: &[Row]) -> String {
    let w = names.iter().map(|n| n.len()).max().unwrap_or(4).max(4);
    let mut s = String::new();
    for row in rows {
        s.push_str(&format!("{}\n", row.label()));
        s.push_str(&format!(
            "  {:<w$} {:>11} {:>10} {:>9} {:>9}  verdict\n",
            "file", "median ms", "GFLOP/s", "GFLOP/J", "vs first"
        ));
        for (name, cell) in names.iter().zip(&row.cells) {
            match cell {
                None => s.push_str(&format!("  {name:<w$} {:>11}\n", "absent")),
                Some(c) => {
                    let gpj = c
                        .gflops_per_joule
                        .map(|g| format!("{g:.3}"))
                        .unwrap_or_else(|| "-".into());
                    let ratio = c
                        .speedup
                        .map(|r| format!("{r:.3}x"))
                        .unwrap_or_else(|| "-".into());
                    let verdict = match c.speedup {
                        None => "",
                        Some(_) if !c.beyond_noise => "within noise",
                        Some(r) if r > 1.0 => "faster",
                        Some(_) => "SLOWER",
                    };
                    let noisy = if c.noisy { " (noisy)" } else { "" };
                    s.push_str(&format!(
                        "  {name:<w$} {:>11.3} {:>10.2} {gpj:>9} {ratio:>9}  {verdict}{noisy}\n",
                        c.median_ms, c.gflops
                    ));
                }
            }
        }
    }
    s
}
