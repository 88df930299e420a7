//! The benchmark: workloads with the ids of docs/workloads.md, each checked once against the
//! f64 reference before it is timed, then run until a time budget is filled; medians of the
//! per-run GPU time, GFLOP/s, GB/s, and energy from the device's power source.

pub mod report;
pub mod roofline;
pub mod workloads;

use std::time::Duration;

use crate::time::Instant;

use serde::Serialize;

use crate::device::Device;
use crate::energy::{self, EnergyConfig};
use crate::error::{Error, Result};
use crate::exec::Recorder;
use crate::tensor::Tensor;

/// Which set of workloads to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Suite {
    /// Every family once (about 3 minutes on lavapipe).
    Quick,
    /// Every workload id, fused and unfused.
    Standard,
    /// Standard plus size sweeps.
    Full,
}

impl std::str::FromStr for Suite {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "quick" => Ok(Suite::Quick),
            "standard" => Ok(Suite::Standard),
            "full" => Ok(Suite::Full),
            _ => Err(Error::invalid(
                "bench",
                format!("unknown suite `{s}`; use quick, standard or full"),
            )),
        }
    }
}

/// A workload ready to run: inputs on the device, reference answer computed lazily.
pub trait Prepared {
    /// Records one run's dispatches.
    fn encode(&self, rec: &mut Recorder) -> Result<()>;
    /// Runs once for the check; returns the output tensors (submitted, to be downloaded).
    fn outputs(&self, dev: &Device) -> Result<Vec<Tensor>>;
    /// Compares the downloaded outputs with the f64 reference; a mismatch is an error.
    fn check(&self, got: &[Vec<f32>]) -> Result<()>;
    /// Runs once and compares with the f64 reference (blocking; see [`verify_async`]).
    fn verify(&self, dev: &Device) -> Result<()> {
        let got = self
            .outputs(dev)?
            .iter()
            .map(Tensor::to_f32_vec)
            .collect::<Result<Vec<_>>>()?;
        self.check(&got)
    }
    /// FLOPs of one run, as docs/workloads.md counts them.
    fn flops(&self) -> u64;
    /// Minimum bytes one run moves (inputs read once, outputs written once).
    fn bytes(&self) -> u64;
}

/// Builds a workload's inputs on a device.
pub type PrepareFn = Box<dyn Fn(&Device) -> Result<Box<dyn Prepared>> + Send + Sync>;

/// A benchmark workload.
pub struct Workload {
    /// Id from docs/workloads.md (e.g. `matmul-1024`).
    pub id: String,
    /// `fused`, `unfused`, or none.
    pub variant: Option<&'static str>,
    /// Smallest suite that includes it.
    pub suite: Suite,
    /// Builds inputs on the device.
    pub prepare: PrepareFn,
}

/// How to run.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    /// Suite.
    pub suite: Suite,
    /// Substrings of ids to keep (empty: all of the suite).
    pub filters: Vec<String>,
    /// Minimum timed seconds per workload (runs repeat until it is filled; at least 3 runs).
    pub min_time: Duration,
    /// Energy windows.
    pub energy: EnergyConfig,
    /// Skip fused variants (the `--no-fusion` switch).
    pub no_fusion: bool,
}

impl Default for BenchOptions {
    fn default() -> Self {
        BenchOptions {
            suite: Suite::Quick,
            filters: Vec::new(),
            min_time: Duration::from_millis(1000),
            energy: EnergyConfig::default(),
            no_fusion: false,
        }
    }
}

/// One row of results. Field names are the stable JSON schema (`flopwatt-bench/1`).
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct BenchResult {
    /// Workload id.
    pub id: String,
    /// `fused` / `unfused` / null.
    pub variant: Option<String>,
    /// Timed runs.
    pub runs: u64,
    /// Median GPU time per run, ms.
    pub median_ms: f64,
    /// Fastest run, ms.
    pub min_ms: f64,
    /// Slowest run, ms.
    pub max_ms: f64,
    /// FLOPs per run.
    pub flops: u64,
    /// Bytes per run.
    pub bytes: u64,
    /// GFLOP/s at the median.
    pub gflops: f64,
    /// GB/s at the median.
    pub gbps: f64,
    /// Dispatches per run.
    pub dispatches: u64,
    /// Median wall-clock time per run (encode + submit + wait), ms.
    pub wall_ms: f64,
    /// Percent of the device's measured f32 compute ceiling (null without `peak`).
    pub pct_peak: Option<f64>,
    /// Gross average power over the energy window, W (null without a source).
    pub avg_watts: Option<f64>,
    /// Gross energy per run, J.
    pub joules_per_run: Option<f64>,
    /// GFLOP/s per watt (= GFLOP per joule).
    pub gflops_per_watt: Option<f64>,
    /// Whether the energy figures are measured (false: estimated from fixed watts / TDP).
    pub energy_measured: Option<bool>,
    /// Idle power measured just before this workload's energy window, W.
    pub idle_watts: Option<f64>,
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

/// The workloads selected by `opts`, in suite order.
pub fn select(opts: &BenchOptions) -> Vec<Workload> {
    workloads::all()
        .into_iter()
        .filter(|w| w.suite <= opts.suite)
        .filter(|w| !(opts.no_fusion && w.variant == Some("fused")))
        .filter(|w| {
            opts.filters.is_empty() || opts.filters.iter().any(|f| w.id.contains(f.as_str()))
        })
        .collect()
}

/// [`Prepared::verify`] without blocking (the browser's way).
pub async fn verify_async(p: &dyn Prepared, dev: &Device) -> Result<()> {
    let mut got = Vec::new();
    for t in p.outputs(dev)? {
        got.push(t.to_f32_vec_async().await?);
    }
    p.check(&got)
}

/// Whether the timing loop has enough runs: at least 3, then until `min_time` is filled
/// (at most 1000).
fn more_runs(runs: usize, start: Instant, opts: &BenchOptions) -> bool {
    runs < 3 || (start.elapsed() < opts.min_time && runs < 1000)
}

/// Runs one workload in the browser: verify, warm up, time; awaits the GPU instead of
/// blocking. No energy figures: a page cannot read a power sensor (the fields stay empty
/// and [`BROWSER_ENERGY`] says why).
pub async fn run_workload_async(
    dev: &Device,
    w: &Workload,
    opts: &BenchOptions,
    peak_gflops: Option<f64>,
) -> Result<BenchResult> {
    let p = (w.prepare)(dev)?;
    verify_async(p.as_ref(), dev).await?;
    let mut gpu = Vec::new();
    let mut wall = Vec::new();
    let mut dispatches = 0;
    let start = Instant::now();
    while more_runs(gpu.len(), start, opts) {
        let mut rec = Recorder::new(dev);
        p.encode(&mut rec)?;
        dispatches = rec.len() as u64;
        let t = Instant::now();
        let prof = rec
            .submit_async(true)
            .await?
            .ok_or_else(|| Error::invalid("bench", "timed run returned no profile"))?;
        wall.push(t.elapsed().as_secs_f64() * 1e3);
        gpu.push(prof.gpu_ns() / 1e6);
    }
    Ok(summarize(
        w,
        p.as_ref(),
        gpu,
        wall,
        dispatches,
        peak_gflops,
        None,
    ))
}

/// Why browser results carry no energy: shown by the page and the report.
pub const BROWSER_ENERGY: &str = "no sensor in the browser: energy is not measured";

/// Runs one workload: verify, warm up, time, measure energy.
#[cfg(not(target_arch = "wasm32"))]
pub fn run_workload(
    dev: &Device,
    w: &Workload,
    opts: &BenchOptions,
    power: &mut dyn energy::PowerSource,
    peak_gflops: Option<f64>,
) -> Result<BenchResult> {
    let p = (w.prepare)(dev)?;
    // A wrong kernel must not produce a fast number; this also warms up the pipelines (JIT).
    p.verify(dev)?;
    let mut gpu = Vec::new();
    let mut wall = Vec::new();
    let mut dispatches = 0;
    let start = Instant::now();
    while more_runs(gpu.len(), start, opts) {
        let mut rec = Recorder::new(dev);
        p.encode(&mut rec)?;
        dispatches = rec.len() as u64;
        let t = Instant::now();
        let prof = rec.submit(true)?.expect("timed run returns a profile");
        wall.push(t.elapsed().as_secs_f64() * 1e3);
        gpu.push(prof.gpu_ns() / 1e6);
    }
    let energy = energy::measure(power, &opts.energy, || {
        let mut rec = Recorder::new(dev);
        p.encode(&mut rec)?;
        rec.submit(false).map(|_| ())
    })?;
    Ok(summarize(
        w,
        p.as_ref(),
        gpu,
        wall,
        dispatches,
        peak_gflops,
        energy,
    ))
}

/// One result row from the timed runs (ms) and the energy window, if any.
fn summarize(
    w: &Workload,
    p: &dyn Prepared,
    mut gpu: Vec<f64>,
    mut wall: Vec<f64>,
    dispatches: u64,
    peak_gflops: Option<f64>,
    energy: Option<energy::EnergyResult>,
) -> BenchResult {
    let runs = gpu.len() as u64;
    let min_ms = gpu.iter().cloned().fold(f64::INFINITY, f64::min);
    let max_ms = gpu.iter().cloned().fold(0.0, f64::max);
    let median_ms = median(&mut gpu);
    let wall_ms = median(&mut wall);
    let (flops, bytes) = (p.flops(), p.bytes());
    let gflops = flops as f64 / (median_ms * 1e6);
    let gbps = bytes as f64 / (median_ms * 1e6);
    let (avg_watts, joules_per_run, gpw, measured, idle_watts) = match energy {
        Some(e) => (
            Some(e.avg_watts),
            Some(e.joules_per_run),
            (e.avg_watts > 0.0 && flops > 0).then(|| e.gflops_per_watt(flops as f64)),
            Some(e.measured),
            e.idle_watts,
        ),
        None => (None, None, None, None, None),
    };
    BenchResult {
        id: w.id.clone(),
        variant: w.variant.map(str::to_string),
        runs,
        median_ms,
        min_ms,
        max_ms,
        flops,
        bytes,
        gflops,
        gbps,
        dispatches,
        wall_ms,
        pct_peak: peak_gflops
            .filter(|p| *p > 0.0 && flops > 0)
            .map(|p| 100.0 * gflops / p),
        avg_watts,
        joules_per_run,
        gflops_per_watt: gpw,
        energy_measured: measured,
        idle_watts,
    }
}
