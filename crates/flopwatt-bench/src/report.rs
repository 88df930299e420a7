//! Bench output: the result document (JSON, schema [`SCHEMA`]), its CSV form, and the human
//! table. The document and its rows are the result format of every flopwatt command that
//! times runs: build rows with [`BenchResult::from_runs`], a [`Provenance`] with
//! [`Provenance::collect`], and write them with [`BenchReport::to_json`] / [`to_csv`](BenchReport::to_csv).

use serde::{Deserialize, Serialize};

use super::BenchResult;
use crate::provenance::Provenance;
use flopwatt::device::AdapterSummary;
use flopwatt::error::{Error, Result};
use flopwatt::peak::Peak;

/// Schema tag of the JSON document and the first CSV column.
pub const SCHEMA: &str = "flopwatt-bench/2";

/// Earlier schema that still reads (as a `--baseline` or a `compare` input): no provenance,
/// no quartiles.
pub const SCHEMA_V1: &str = "flopwatt-bench/1";

/// Shortest median accepted in a result file, ms: below a nanosecond no GPU timer resolves.
pub const MIN_MEDIAN_MS: f64 = 1e-6;

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

/// The whole result document.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BenchReport {
    /// [`SCHEMA`] (or [`SCHEMA_V1`] in older files).
    pub schema: String,
    /// When, where and how the file was made.
    #[serde(default)]
    pub provenance: Provenance,
    /// The adapter, every field `flopwatt info --json` shows.
    pub device: serde_json::Value,
    /// Power source.
    pub power: PowerInfo,
    /// Measured ceilings (null when `peak` was skipped).
    pub peak: Option<serde_json::Value>,
    /// One row per workload and variant.
    pub results: Vec<BenchResult>,
}

/// An adapter's name, backend and driver as one line, from its JSON object.
fn device_label_of(device: &serde_json::Value) -> String {
    let f = |k: &str| device.get(k).and_then(|v| v.as_str()).unwrap_or("");
    let driver = format!("{} {}", f("driver"), f("driver_info"));
    format!("{} ({}, {})", f("name"), f("backend"), driver.trim())
}

/// The schema tag leading each CSV row.
#[derive(Serialize)]
struct SchemaColumn<'a> {
    schema: &'a str,
}

impl BenchReport {
    /// Assembles a report.
    pub fn new(
        provenance: Provenance,
        device: &AdapterSummary,
        power: PowerInfo,
        peak: Option<&Peak>,
        results: Vec<BenchResult>,
    ) -> Self {
        BenchReport {
            schema: SCHEMA.to_string(),
            provenance,
            device: serde_json::to_value(device).unwrap_or(serde_json::Value::Null),
            power,
            peak: peak.and_then(|p| serde_json::to_value(p).ok()),
            results,
        }
    }

    /// Pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("report serialises") + "\n"
    }

    /// Reads a report written earlier (`--baseline`, `compare`), checking its schema and
    /// that every row's times are usable numbers (see [`BenchReport::validate`]).
    pub fn from_json(path: &str, text: &str) -> Result<Self> {
        let r: BenchReport = serde_json::from_str(text).map_err(|e| {
            Error::invalid(
                "bench",
                format!("{path} is not a flopwatt bench JSON ({e}); write one with `flopwatt bench --json {path}`"),
            )
        })?;
        if r.schema != SCHEMA && r.schema != SCHEMA_V1 {
            return Err(Error::invalid(
                "bench",
                format!(
                    "{path} has schema `{}`; this flopwatt reads `{SCHEMA}` and `{SCHEMA_V1}`",
                    r.schema
                ),
            ));
        }
        r.validate(path)?;
        Ok(r)
    }

    /// Checks that every row has at least one run and finite, positive times no shorter
    /// than [`MIN_MEDIAN_MS`], ordered min <= median <= max: ratios of anything else would
    /// be nonsense verdicts.
    pub fn validate(&self, path: &str) -> Result<()> {
        for r in &self.results {
            let name = match &r.variant {
                Some(v) => format!("{} ({v})", r.id),
                None => r.id.clone(),
            };
            let bad = |what: String| {
                Err(Error::invalid(
                    "bench",
                    format!("{path}: row `{name}`: {what}; the file is damaged or was edited, re-run `flopwatt bench --json`"),
                ))
            };
            let times = [r.median_ms, r.min_ms, r.max_ms];
            if r.runs == 0 {
                return bad("0 runs".into());
            }
            if times.iter().any(|t| !t.is_finite()) {
                return bad(format!(
                    "times must be finite numbers, got median {} min {} max {}",
                    r.median_ms, r.min_ms, r.max_ms
                ));
            }
            if times.iter().any(|t| *t < MIN_MEDIAN_MS) {
                return bad(format!(
                    "times must be at least {MIN_MEDIAN_MS} ms, got median {} min {} max {}",
                    r.median_ms, r.min_ms, r.max_ms
                ));
            }
            // Relative slack: medians are computed from the same numbers as min and max.
            let eps = 1e-9 * r.median_ms;
            if r.min_ms > r.median_ms + eps || r.median_ms > r.max_ms + eps {
                return bad(format!(
                    "expected min <= median <= max, got {} / {} / {} ms",
                    r.min_ms, r.median_ms, r.max_ms
                ));
            }
            for (field, v) in [
                ("gflops", Some(r.gflops)),
                ("gflops_per_watt", r.gflops_per_watt),
            ] {
                if let Some(v) = v {
                    if !(v.is_finite() && v >= 0.0) {
                        return bad(format!("{field} must be a finite number >= 0, got {v}"));
                    }
                }
            }
        }
        Ok(())
    }

    /// The adapter's name, backend and driver as one line (from the `device` object, so
    /// it works for files of either schema).
    pub fn device_label(&self) -> String {
        device_label_of(&self.device)
    }

    /// Why `device` is not the one these results were measured on (name, backend or
    /// driver differ), or None when it is.
    pub fn device_differs(&self, device: &AdapterSummary) -> Option<String> {
        self.device_differs_from(&serde_json::to_value(device).ok()?)
    }

    /// [`device_differs`](Self::device_differs) for a device given as its JSON object
    /// (another report's `device`).
    pub fn device_differs_from(&self, device: &serde_json::Value) -> Option<String> {
        let (here, there) = (device_label_of(device), self.device_label());
        (here != there).then(|| format!("{there} vs {here}"))
    }

    /// The f32 compute and copy-bandwidth ceilings measured with the run, if any.
    pub fn ceilings(&self) -> Option<(f64, f64)> {
        let p = self.peak.as_ref()?;
        let g = p.get("f32_gflops")?.as_f64()?;
        let b = p.get("copy_gbps")?.as_f64()?;
        (g > 0.0 && b > 0.0).then_some((g, b))
    }

    /// CSV: a header line and one row per result; each row starts with the schema and the
    /// provenance, then the result's fields, all named as in the JSON.
    pub fn to_csv(&self) -> Result<String> {
        let mut w = csv::Writer::from_writer(Vec::new());
        let tag = SchemaColumn {
            schema: &self.schema,
        };
        let err = |e: &dyn std::fmt::Display| Error::invalid("bench", format!("csv: {e}"));
        for r in &self.results {
            w.serialize((&tag, &self.provenance, r))
                .map_err(|e| err(&e))?;
        }
        let bytes = w.into_inner().map_err(|e| err(&e))?;
        String::from_utf8(bytes).map_err(|e| err(&e))
    }

    /// Rows whose run-to-run spread passes the noise threshold.
    pub fn noisy_rows(&self) -> Vec<&BenchResult> {
        self.results.iter().filter(|r| r.noisy).collect()
    }

    /// The human table.
    pub fn table(&self) -> String {
        let mut s = format!(
            "{:<24} {:<8} {:>10} {:>7} {:>9} {:>9} {:>9} {:>8} {:>7} {:>7} {:>8} {:>4}  {}\n",
            "id",
            "variant",
            "median ms",
            "spread",
            "wall ms",
            "host us/d",
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
            let spread = match r.spread_pct {
                Some(p) => format!("{p:.1}%{}", if r.noisy { "!" } else { "" }),
                None => "-".into(),
            };
            s.push_str(&format!(
                "{:<24} {:<8} {:>10.3} {:>7} {:>9.3} {:>9} {:>9.2} {:>8.2} {:>7} {:>7} {:>8} {:>4}  {}\n",
                r.id,
                r.variant.as_deref().unwrap_or("-"),
                r.median_ms,
                spread,
                r.wall_ms,
                o(r.host_us_per_dispatch, 1),
                r.gflops,
                r.gbps,
                o(r.pct_peak, 1),
                format!("{est}{}", o(r.avg_watts, 1)),
                format!("{est}{}", o(r.gflops_per_watt, 3)),
                r.dispatches,
                self.provenance.timing
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

    /// Warnings about the trustworthiness of the numbers: noisy rows, a loaded host.
    pub fn noise_warnings(&self) -> Vec<String> {
        let mut w = Vec::new();
        let noisy = self.noisy_rows();
        if !noisy.is_empty() {
            let ids: Vec<&str> = noisy.iter().map(|r| r.id.as_str()).collect();
            w.push(format!(
                "noisy: {} row(s) spread more than {}% between runs ({}); medians may move on a re-run: close other programs or raise --min-time",
                noisy.len(),
                crate::NOISY_SPREAD_PCT,
                ids.join(", ")
            ));
        }
        if self.provenance.host_loaded() {
            w.push(format!(
                "loaded host: load average {:.1} on {} cores when the run started; other work competed for the machine",
                self.provenance.host_load_1m.unwrap_or(0.0),
                self.provenance.host_cores
            ));
        }
        w
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::compare::{compare, compare_files, regressions};

    /// A row with the given median, min and max (ms) and made-up work.
    pub(crate) fn row(id: &str, med: f64, min: f64, max: f64) -> BenchResult {
        let mut r = BenchResult::from_runs(id, None, &[min, med, max], &[], 1_000_000, 1_000);
        r.gflops_per_watt = Some(1.0 / med);
        r
    }

    /// A report of `rows` from a device named `device`.
    pub(crate) fn report_on(device: &str, rows: Vec<BenchResult>) -> BenchReport {
        BenchReport {
            schema: SCHEMA.into(),
            provenance: Provenance {
                device_name: device.into(),
                timing: "t".into(),
                ..Provenance::default()
            },
            device: serde_json::json!({"name": device, "backend": "vulkan", "driver": "d", "driver_info": "1"}),
            power: PowerInfo {
                source: "none".into(),
                measured: false,
                idle_watts: None,
                description: String::new(),
            },
            peak: Some(serde_json::json!({"f32_gflops": 100.0, "copy_gbps": 10.0})),
            results: rows,
        }
    }

    fn report(rows: Vec<BenchResult>) -> BenchReport {
        report_on("gpu", rows)
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
        let v1 = r.to_json().replace(SCHEMA, SCHEMA_V1);
        assert!(
            BenchReport::from_json("x", &v1).is_ok(),
            "schema 1 files still read"
        );
    }

    #[test]
    fn csv_has_every_json_name_provenance_and_idle_watts() {
        let mut r = report(vec![row("a", 1.0, 1.0, 1.0), row("b,c", 2.0, 2.0, 2.0)]);
        r.results[0].idle_watts = Some(3.5);
        let csv = r.to_csv().unwrap();
        let mut lines = csv.lines();
        let header: Vec<&str> = lines.next().unwrap().split(',').collect();
        let json: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        let mut want = vec!["schema".to_string()];
        want.extend(json["provenance"].as_object().unwrap().keys().cloned());
        want.extend(json["results"][0].as_object().unwrap().keys().cloned());
        for name in &want {
            assert!(
                header.contains(&name.as_str()),
                "CSV lacks `{name}`: {header:?}"
            );
        }
        assert_eq!(header.len(), want.len());
        assert!(header.contains(&"idle_watts") && header.contains(&"noisy"));
        assert_eq!(csv.lines().count(), 3);
        assert!(csv.contains("\"b,c\""), "a comma in an id is quoted: {csv}");
    }

    #[test]
    fn damaged_baselines_are_rejected_with_the_row_named() {
        let good = report(vec![row("a", 1.0, 0.5, 2.0)]).to_json();
        for (field, value) in [
            ("median_ms", "0.0"),
            ("median_ms", "-1.0"),
            ("median_ms", "1e-300"),
            ("min_ms", "5.0"),
            ("runs", "0"),
        ] {
            let v: serde_json::Value = serde_json::from_str(&good).unwrap();
            let mut v = v;
            v["results"][0][field] = serde_json::from_str(value).unwrap();
            let e = BenchReport::from_json("old.json", &v.to_string())
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("old.json") && e.contains("`a`"),
                "{field}={value}: {e}"
            );
        }
    }

    #[test]
    fn device_mismatch_names_both_devices() {
        let a = report_on("gpu-a", vec![]);
        let b = report_on("gpu-b", vec![]);
        assert!(a.device_differs_from(&a.device).is_none());
        let m = a.device_differs_from(&b.device).unwrap();
        assert!(m.contains("gpu-a") && m.contains("gpu-b"), "{m}");
    }

    #[test]
    fn compare_files_ratios_and_planted_regression() {
        let a = report(vec![
            row("m", 10.0, 9.9, 10.1),
            row("only-a", 1.0, 1.0, 1.0),
        ]);
        let b = report(vec![row("m", 20.0, 19.8, 20.2)]);
        let c = report(vec![row("m", 10.1, 10.0, 10.2)]);
        let rows = compare_files(&[a, b, c]);
        assert_eq!(rows.len(), 2);
        let m = &rows[0];
        assert!((m.cells[1].as_ref().unwrap().speedup.unwrap() - 0.5).abs() < 1e-12);
        assert!(m.cells[1].as_ref().unwrap().beyond_noise);
        assert!(!m.cells[2].as_ref().unwrap().beyond_noise);
        assert!(rows[1].cells[1].is_none());
        let reg = regressions(&rows, 50.0);
        assert_eq!(reg.len(), 1, "{reg:?}");
        assert_eq!((reg[0].file, reg[0].workload.as_str()), (1, "m"));
        assert!(regressions(&rows, 150.0).is_empty());
        let text = crate::compare::files_table(&["a".into(), "b".into(), "c".into()], &rows);
        assert!(text.contains("SLOWER") && text.contains("absent"), "{text}");
    }
}
