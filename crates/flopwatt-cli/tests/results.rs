//! Result files end to end: provenance in JSON and CSV, `-` as standard output, no file left
//! by a failed bench, `--baseline` checks and exit codes, `compare` and its HTML page.
// Native only: runs the built binary.
#![cfg(not(target_arch = "wasm32"))]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn flopwatt(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_flopwatt"))
        .args(args)
        .output()
        .expect("flopwatt runs")
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A fresh folder for one test.
fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("flopwatt-results-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A result file as `bench --json` writes it, with one row per (id, median ms).
fn result_file(device: &str, rows: &[(&str, f64)], gflops_per_watt: bool) -> String {
    let rows: Vec<serde_json::Value> = rows
        .iter()
        .map(|(id, med)| {
            serde_json::json!({
                "id": id, "variant": null, "runs": 5,
                "median_ms": med, "min_ms": med * 0.99, "max_ms": med * 1.01,
                "p25_ms": med * 0.995, "p75_ms": med * 1.005, "spread_pct": 1.0, "noisy": false,
                "flops": 2_000_000_000u64, "bytes": 12_000_000u64,
                "gflops": 2.0 / med * 1e3 / 1e3, "gbps": 1.0, "dispatches": 1, "wall_ms": med,
                "pct_peak": null, "avg_watts": 10.0, "joules_per_run": med * 1e-2,
                "gflops_per_watt": if gflops_per_watt { Some(2.0 / (med * 1e-2)) } else { None },
                "energy_measured": false, "idle_watts": null
            })
        })
        .collect();
    serde_json::json!({
        "schema": "flopwatt-bench/2",
        "provenance": {"device_name": device, "created_utc": "2026-01-01T00:00:00Z", "timing": "wall-clock"},
        "device": {"name": device, "backend": "vulkan", "driver": "d", "driver_info": "1"},
        "power": {"source": "fixed", "measured": false, "idle_watts": null, "description": "10 W"},
        "peak": {"f32_gflops": 500.0, "copy_gbps": 50.0},
        "results": rows
    })
    .to_string()
}

#[test]
fn help_documents_exit_codes_and_suites() {
    let o = flopwatt(&["bench", "--help"]);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(
        t.contains("Exit codes") && t.contains("3  regression"),
        "{t}"
    );
    assert!(
        t.contains("quick") && t.contains("standard") && t.contains("full"),
        "{t}"
    );
    let o = flopwatt(&["bench", "--suite", "huge"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}

#[test]
fn a_filter_matching_nothing_names_the_suites_that_have_it() {
    let o = flopwatt(&["bench", "--filter", "matmul-256"]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(t.contains("--suite standard has matmul-256"), "{t}");
    let o = flopwatt(&["bench", "--filter", "no-such-thing"]);
    assert!(text(&o).contains("--list"), "{}", text(&o));
}

#[test]
fn a_failed_bench_leaves_no_result_file() {
    let d = scratch("failed");
    let bad = d.join("bad.json");
    std::fs::write(&bad, result_file("gpu", &[("sum-4096", 1e-300)], true)).unwrap();
    let out = d.join("out.json");
    let o = flopwatt(&[
        "bench",
        "--filter",
        "sum-4096",
        "--json",
        s(&out),
        "--baseline",
        s(&bad),
    ]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(t.contains("bad.json") && t.contains("sum-4096"), "{t}");
    assert!(!out.exists(), "a failed bench wrote {}", out.display());
    assert_eq!(
        std::fs::read_dir(&d).unwrap().count(),
        1,
        "only bad.json is left"
    );
    let o = flopwatt(&["bench", "--json", "-", "--csv", "-"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn compare_tables_html_and_the_regression_gate() {
    let d = scratch("compare");
    let a = d.join("a.json");
    let b = d.join("b.json");
    std::fs::write(
        &a,
        result_file("gpu-a", &[("matmul-1024", 10.0), ("sum-4096", 1.0)], true),
    )
    .unwrap();
    // A planted 2x regression of matmul-1024.
    std::fs::write(
        &b,
        result_file("gpu-b", &[("matmul-1024", 20.0), ("sum-4096", 1.0)], true),
    )
    .unwrap();
    let html = d.join("report.html");
    let o = flopwatt(&["compare", s(&a), s(&b), "--html", s(&html)]);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(
        t.contains("matmul-1024") && t.contains("0.500x") && t.contains("SLOWER"),
        "{t}"
    );
    assert!(t.contains("gpu-a") && t.contains("gpu-b"), "{t}");
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("id=\"compare\"") && page.matches("<svg").count() == 2);
    let o = flopwatt(&["compare", s(&a), s(&b), "--fail-on-regression", "50"]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(3), "{t}");
    assert!(
        t.contains("regression: matmul-1024 is 100.0% slower"),
        "{t}"
    );
    let o = flopwatt(&["compare", s(&a), s(&b), "--fail-on-regression", "150"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = flopwatt(&["compare", s(&a), s(&b), "--fail-on-regression", "-5"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let o = flopwatt(&["compare", s(&a)]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "one file is a usage error: {}",
        text(&o)
    );
    let o = flopwatt(&["compare", s(&a), s(&b), "--html", "-"]);
    assert!(
        String::from_utf8_lossy(&o.stdout).starts_with("<!DOCTYPE html>"),
        "{}",
        text(&o)
    );
    std::fs::remove_dir_all(&d).unwrap();
}

/// An adapter exists (CI=true makes its absence a failure, as in the library tests).
fn have_device() -> bool {
    match flopwatt::Device::new() {
        Ok(_) => true,
        Err(e) => {
            assert!(
                std::env::var("CI").map(|v| v != "true").unwrap_or(true),
                "CI=true but no GPU adapter: {e}"
            );
            eprintln!("SKIPPED: no GPU adapter ({e})");
            false
        }
    }
}

#[test]
fn bench_results_carry_provenance_and_a_baseline_regression_exits_3() {
    if !have_device() {
        return;
    }
    let d = scratch("bench");
    let csv = d.join("r.csv");
    let common = [
        "bench",
        "--filter",
        "sum-4096",
        "--min-time",
        "0",
        "--no-peak",
        "--watts",
        "10",
    ];
    let mut args = common.to_vec();
    args.extend(["--json", "-", "--csv", s(&csv)]);
    let o = flopwatt(&args);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(
        !Path::new("-").exists(),
        "`-` is standard output, not a file"
    );
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).expect(&t);
    assert_eq!(json["schema"], "flopwatt-bench/2");
    let prov = json["provenance"].as_object().unwrap();
    for k in [
        "flopwatt_version",
        "git_commit",
        "created_utc",
        "host_cpu",
        "host_cores",
        "host_memory_bytes",
        "host_os",
        "host_kernel",
        "device_name",
        "device_driver",
        "timing",
        "power_source",
        "command_line",
        "noisy_threshold_pct",
    ] {
        assert!(prov.contains_key(k), "provenance lacks {k}: {prov:?}");
    }
    assert!(prov["created_utc"].as_str().unwrap().ends_with('Z'));
    assert!(prov["command_line"]
        .as_str()
        .unwrap()
        .contains("--filter sum-4096"));
    assert_eq!(prov["power_source"], "fixed");
    assert_eq!(json["device"]["features"]["timing_tier"], prov["timing"]);
    let row = json["results"][0].as_object().unwrap();
    for k in [
        "min_ms",
        "max_ms",
        "p25_ms",
        "p75_ms",
        "spread_pct",
        "noisy",
        "idle_watts",
    ] {
        assert!(row.contains_key(k), "row lacks {k}");
    }
    let csv_text = std::fs::read_to_string(&csv).unwrap();
    let header: Vec<&str> = csv_text.lines().next().unwrap().split(',').collect();
    for k in prov.keys().chain(row.keys()) {
        assert!(header.contains(&k.as_str()), "CSV lacks {k}: {header:?}");
    }
    assert!(header.contains(&"schema"));

    // A baseline 10x faster, from another device: a warning, a REGRESSION line, exit 3.
    let mut old = json.clone();
    for k in ["median_ms", "min_ms", "max_ms"] {
        let v = old["results"][0][k].as_f64().unwrap();
        old["results"][0][k] = (v / 10.0).into();
    }
    old["device"]["name"] = "some other GPU".into();
    let base = d.join("base.json");
    std::fs::write(&base, old.to_string()).unwrap();
    let mut args = common.to_vec();
    args.extend(["--baseline", s(&base)]);
    let o = flopwatt(&args);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(3), "{t}");
    assert!(
        t.contains("REGRESSION") && t.contains("another device") && t.contains("some other GPU"),
        "{t}"
    );
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn bench_list_names_ids_suites_flops_and_bytes() {
    if !have_device() {
        return;
    }
    let o = flopwatt(&[
        "bench", "--list", "--suite", "standard", "--filter", "sum-4096",
    ]);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    let line = String::from_utf8_lossy(&o.stdout)
        .lines()
        .find(|l| l.starts_with("sum-4096"))
        .map(str::to_string)
        .expect(&t);
    assert!(
        line.contains("quick") && line.contains("16777216"),
        "{line}"
    );
}
