//! Bench output: the table, the JSON document (`flopwatt-bench/1`), CSV rows, and the
//! comparison with a baseline run.

use serde::{Deserialize, Serialize};

use super::BenchResult;
use flopwatt::device::AdapterSummary;
use flopwatt::error::{Error, Result};
use flopwatt::peak::Peak;

/// Schema tag of the JSON document.
pub const SCHEMA: &str = "flopwatt-bench/1";

/// The power source as the JSON reports it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PowerInfo {
    /// `nvml`, `rapl`, `hwmon`, `fixed`, `estimate` or `none`.
    pub source: String,
    /// Whether it is a sensor reading (false for fixed watts and estimates).
    pub measured: bool,
    /// Idle watts measured before the first workload (null when not measured).
    pub idle_watts: Option<f64>,
    /// A human description (which sensor, or why none).
    pub description: String,
}

/// The whole bench document.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BenchReport {
    /// Always [`SCHEMA`].
    pub schema: String,
    /// The adapter.
    pub device: serde_json::Value,
    /// Timing tier of the GPU times.
    pub timing: String,
    /// Power source.
    pub power: PowerInfo,
    /// Measured ceilings (null when `peak` was skipped).
    pub peak: Option<serde_json::Value>,
    /// One row per workload and variant.
    pub results: Vec<BenchResult>,
}

impl BenchReport {
    /// Assembles a report.
    pub fn new(
        device: &AdapterSummary,
        timing: &str,
        power: PowerInfo,
        peak: Option<&Peak>,
        results: Vec<BenchResult>,
    ) -> Self {
        BenchReport {
            schema: SCHEMA.to_string(),
            device: serde_json::to_value(device).unwrap_or(serde_json::Value::Null),
            timing: timing.to_string(),
            power,
            peak: peak.and_then(|p| serde_json::to_value(p).ok()),
            results,
        }
    }

    /// Pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("report serialises")
    }

    /// Reads a report written earlier (for `--baseline`).
    pub fn from_json(path: &str, text: &str) -> Result<Self> {
        let r: BenchReport = serde_json::from_str(text).map_err(|e| {
            Error::invalid("bench", format!("{path} is not a flopwatt bench JSON: {e}"))
        })?;
        if r.schema != SCHEMA {
            return Err(Error::invalid(
                "bench",
                format!("{path} has schema `{}`, expected `{SCHEMA}`", r.schema),
            ));
        }
        Ok(r)
    }

    /// CSV with one header line and one row per result (same field names as the JSON).
    pub fn to_csv(&self) -> String {
        let mut s = String::from(
            "id,variant,runs,median_ms,min_ms,max_ms,flops,bytes,gflops,gbps,dispatches,wall_ms,pct_peak,avg_watts,joules_per_run,gflops_per_watt,energy_measured\n",
        );
        let o = |v: Option<f64>| v.map(|x| format!("{x}")).unwrap_or_default();
        for r in &self.results {
            s.push_str(&format!(
                "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n",
                r.id,
                r.variant.as_deref().unwrap_or(""),
                r.runs,
                r.median_ms,
                r.min_ms,
                r.max_ms,
                r.flops,
                r.bytes,
                r.gflops,
                r.gbps,
                r.dispatches,
                r.wall_ms,
                o(r.pct_peak),
                o(r.avg_watts),
                o(r.joules_per_run),
                o(r.gflops_per_watt),
                r.energy_measured.map(|b| b.to_string()).unwrap_or_default(),
            ));
        }
        s
    }

    /// The human table.
    pub fn table(&self) -> String {
        let mut s = format!(
            "{:<24} {:<8} {:>10} {:>9} {:>8} {:>7} {:>7} {:>8} {:>4}  {}\n",
            "id",
            "variant",
            "median ms",
            "GFLOP/s",
            "GB/s",
            "%peak",
            "W",
            "GFLOP/J",
            "disp",
            "timing"
        );
        let o = |v: Option<f64>, prec: usize| match v {
            Some(x) => format!("{x:.prec$}"),
            None => "-".to_string(),
        };
        for r in &self.results {
            let est = if r.energy_measured == Some(false) {
                "~"
            } else {
                ""
            };
            s.push_str(&format!(
                "{:<24} {:<8} {:>10.3} {:>9.2} {:>8.2} {:>7} {:>7} {:>8} {:>4}  {}\n",
                r.id,
                r.variant.as_deref().unwrap_or("-"),
                r.median_ms,
                r.gflops,
                r.gbps,
                o(r.pct_peak, 1),
                format!("{est}{}", o(r.avg_watts, 1)),
                format!("{est}{}", o(r.gflops_per_watt, 3)),
                r.dispatches,
                self.timing
            ));
        }
        if self
            .results
            .iter()
            .any(|r| r.energy_measured == Some(false))
        {
            s.push_str(&format!(
                "~ energy figures are not measured: {}\n",
                self.power.description
            ));
        }
        s
    }
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

/// Run-to-run spread of a result: half the min-max range relative to the median, at least 2%.
fn spread(r: &BenchResult) -> f64 {
    if r.median_ms <= 0.0 {
        return 0.02;
    }
    (0.5 * (r.max_ms - r.min_ms) / r.median_ms).max(0.02)
}

/// Compares `new` with `old` workload by workload.
pub fn compare(old: &BenchReport, new: &BenchReport) -> Vec<Comparison> {
    new.results
        .iter()
        .filter_map(|n| {
            let o = old
                .results
                .iter()
                .find(|o| o.id == n.id && o.variant == n.variant)?;
            let speedup = o.median_ms / n.median_ms;
            let noise = spread(o).max(spread(n));
            Some(Comparison {
                id: n.id.clone(),
                variant: n.variant.clone(),
                speedup,
                noise,
                regression: n.median_ms > o.median_ms * (1.0 + 2.0 * noise),
            })
        })
        .collect()
}

/// The comparison as text.
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

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, med: f64, min: f64, max: f64) -> BenchResult {
        BenchResult {
            id: id.into(),
            variant: None,
            runs: 5,
            median_ms: med,
            min_ms: min,
            max_ms: max,
            flops: 1,
            bytes: 1,
            gflops: 1.0,
            gbps: 1.0,
            dispatches: 1,
            wall_ms: med,
            pct_peak: None,
            avg_watts: None,
            joules_per_run: None,
            gflops_per_watt: None,
            energy_measured: None,
            idle_watts: None,
        }
    }

    fn report(rows: Vec<BenchResult>) -> BenchReport {
        BenchReport {
            schema: SCHEMA.into(),
            device: serde_json::Value::Null,
            timing: "t".into(),
            power: PowerInfo {
                source: "none".into(),
                measured: false,
                idle_watts: None,
                description: String::new(),
            },
            peak: None,
            results: rows,
        }
    }

    #[test]
    fn regressions_beyond_noise_are_flagged() {
        let old = report(vec![row("a", 10.0, 9.9, 10.1), row("b", 10.0, 9.9, 10.1)]);
        let new = report(vec![row("a", 10.2, 10.1, 10.3), row("b", 15.0, 14.9, 15.1)]);
        let c = compare(&old, &new);
        assert!(!c[0].regression, "2% slower is within the 2% x 2 band");
        assert!(c[1].regression);
        assert!((c[1].speedup - 10.0 / 15.0).abs() < 1e-12);
    }

    #[test]
    fn json_roundtrip_and_schema_check() {
        let r = report(vec![row("a", 1.0, 1.0, 1.0)]);
        let back = BenchReport::from_json("x", &r.to_json()).unwrap();
        assert_eq!(back.results[0].id, "a");
        let bad = r.to_json().replace(SCHEMA, "other/9");
        assert!(BenchReport::from_json("x", &bad).is_err());
        assert!(r.to_csv().lines().count() == 2);
    }
}
