//! The browser entry points (wasm32 only), exported to JavaScript with wasm-bindgen.
//!
//! `web/index.html` loads the `--target web` build of this crate and calls these: they open
//! the browser's WebGPU adapter, run the quick benchmark suite without ever blocking the
//! page (every GPU wait is awaited), and hand results back as JSON plus the roofline SVG.

use wasm_bindgen::prelude::*;

use crate::{self as bench, BenchOptions, BenchResult, Suite, BROWSER_ENERGY};
use flopwatt::device::Device;

fn js_err(e: impl std::fmt::Display) -> JsValue {
    JsValue::from_str(&e.to_string())
}

/// Shows Rust panics in the browser console instead of an opaque `unreachable`.
#[wasm_bindgen(start)]
pub fn start() {
    std::panic::set_hook(Box::new(|info| {
        web_sys_console_error(&info.to_string());
    }));
}

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = console, js_name = error)]
    fn web_sys_console_error(s: &str);
}

/// The adapter as JSON (`AdapterSummary`): name, class, features, limits, timing tier.
#[wasm_bindgen]
pub async fn adapter_info() -> Result<String, JsValue> {
    let dev = Device::new_async().await.map_err(js_err)?;
    serde_json::to_string(dev.summary()).map_err(js_err)
}

/// Ids of the workloads a run with `filter` (comma-separated substrings; empty: all) would
/// do, as a JSON array of `[id, variant]`.
#[wasm_bindgen]
pub fn quick_suite_ids(filter: &str) -> String {
    let ids: Vec<(String, Option<&str>)> = bench::select(&options(filter, 0))
        .into_iter()
        .map(|w| (w.id, w.variant))
        .collect();
    serde_json::to_string(&ids).unwrap_or_default()
}

fn options(filter: &str, min_time_ms: u32) -> BenchOptions {
    BenchOptions {
        suite: Suite::Quick,
        filters: filter
            .split(',')
            .map(str::trim)
            .filter(|f| !f.is_empty())
            .map(str::to_string)
            .collect(),
        min_time: std::time::Duration::from_millis(min_time_ms as u64),
        ..BenchOptions::default()
    }
}

/// Runs the quick suite (workloads whose id contains one of the comma-separated `filter`
/// substrings; empty: all), each verified against the f64 reference before it is timed for
/// at least `min_time_ms`. `on_row(json)` is called after each workload with a JSON object:
/// the `BenchResult` fields plus `verified` (true), or `{id, variant, error}` when it failed.
/// Resolves to a JSON summary: `{device, timing_tier, energy, results, roofline_svg}`.
#[wasm_bindgen]
pub async fn run_quick_suite(
    filter: String,
    min_time_ms: u32,
    on_row: js_sys::Function,
) -> Result<String, JsValue> {
    let dev = Device::new_async().await.map_err(js_err)?;
    let opts = options(&filter, min_time_ms);
    let mut results: Vec<BenchResult> = Vec::new();
    for w in bench::select(&opts) {
        let row = match bench::run_workload_async(&dev, &w, &opts, None).await {
            Ok(r) => {
                let mut v = serde_json::to_value(&r).map_err(js_err)?;
                v["verified"] = serde_json::Value::Bool(true);
                results.push(r);
                v
            }
            Err(e) => serde_json::json!({
                "id": w.id,
                "variant": w.variant,
                "verified": false,
                "error": e.to_string(),
            }),
        };
        let _ = on_row.call1(&JsValue::NULL, &JsValue::from_str(&row.to_string()));
    }
    // No peak run in the browser: the ceilings are the best compute and bandwidth measured.
    let peak_gflops = results.iter().map(|r| r.gflops).fold(0.0, f64::max);
    let peak_gbps = results.iter().map(|r| r.gbps).fold(0.0, f64::max);
    let name = match dev.summary().name.as_str() {
        "" => "WebGPU adapter",
        n => n,
    };
    let svg = bench::roofline::svg(name, peak_gflops.max(1e-3), peak_gbps.max(1e-3), &results)
        .unwrap_or_default();
    Ok(serde_json::json!({
        "device": dev.summary(),
        "timing_tier": dev.timing_tier().label(),
        "energy": BROWSER_ENERGY,
        "ceilings": "best measured workload (no peak run in the browser)",
        "results": results,
        "roofline_svg": svg,
    })
    .to_string())
}
