//! The benchmark: workloads with the ids of `docs/workloads.md`, each checked once against the
//! f64 reference before it is timed, then run until a time budget is filled; medians of the
//! per-run GPU time, GFLOP/s, GB/s, and energy from the device's power source.
#![warn(missing_docs)]

pub mod compare;
pub mod energy_bars;
pub mod html;
pub mod provenance;
pub mod report;
pub mod roofline;
#[cfg(target_arch = "wasm32")]
pub mod web;
pub mod workloads;

use std::time::Duration;

use flopwatt::time::Instant;

use serde::Serialize;

use flopwatt::device::Device;
use flopwatt::energy::{self, EnergyConfig};
use flopwatt::error::{Error, Result};
use flopwatt::exec::Recorder;
use flopwatt::tensor::Tensor;

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

impl Suite {
    /// Every suite, smallest first.
    pub const ALL: [Suite; 3] = [Suite::Quick, Suite::Standard, Suite::Full];

    /// The name `--suite` takes.
    pub fn name(self) -> &'static str {
        match self {
            Suite::Quick => "quick",
            Suite::Standard => "standard",
            Suite::Full => "full",
        }
    }
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
    /// A timed run the workload performs itself (a compiled graph replays what it built at
    /// compile time), or `None`: the bench records [`Prepared::encode`] into a fresh
    /// [`Recorder`] every run.
    #[cfg(not(target_arch = "wasm32"))]
    fn run_profiled(&self) -> Option<Result<flopwatt::profile::RunProfile>> {
        None
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

/// One row of results: one workload (and variant) timed on one device. Field names are the
/// stable schema of the JSON document and the CSV columns ([`report::SCHEMA`]); any command
/// that reports timed runs can fill one (see [`BenchResult::from_runs`]).
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
    /// First quartile of the run times, ms (absent in files of schema 1).
    #[serde(default)]
    pub p25_ms: Option<f64>,
    /// Third quartile of the run times, ms (absent in files of schema 1).
    #[serde(default)]
    pub p75_ms: Option<f64>,
    /// Interquartile range relative to the median, percent: the run-to-run spread.
    #[serde(default)]
    pub spread_pct: Option<f64>,
    /// The spread passes [`NOISY_SPREAD_PCT`]: medians of this row may move between runs.
    #[serde(default)]
    pub noisy: bool,
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
    /// Host time per dispatch, microseconds: (wall - GPU medians) / dispatches; what the
    /// process spends around each kernel. Null until the dispatch count is known (see
    /// [`BenchResult::with_dispatches`]) and in files that predate it.
    #[serde(default)]
    pub host_us_per_dispatch: Option<f64>,
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

/// Spread (interquartile range over the median, percent) above which a row is `noisy`.
pub const NOISY_SPREAD_PCT: f64 = 10.0;

fn median(v: &mut [f64]) -> f64 {
    quantile(v, 0.5)
}

/// The `q` quantile of `v` (sorted in place), interpolating linearly between order statistics.
fn quantile(v: &mut [f64], q: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        return f64::NAN;
    }
    let pos = q * (v.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    v[lo] + (v[hi] - v[lo]) * (pos - lo as f64)
}

/// Run-time statistics of a row: median, min, max, quartiles, spread and the noisy flag.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RunStats {
    /// Median, ms.
    pub median_ms: f64,
    /// Fastest, ms.
    pub min_ms: f64,
    /// Slowest, ms.
    pub max_ms: f64,
    /// First quartile, ms.
    pub p25_ms: f64,
    /// Third quartile, ms.
    pub p75_ms: f64,
    /// Interquartile range over the median, percent.
    pub spread_pct: f64,
    /// `spread_pct` > [`NOISY_SPREAD_PCT`].
    pub noisy: bool,
}

impl RunStats {
    /// Statistics of the run times `ms` (at least one).
    pub fn of(ms: &[f64]) -> Self {
        let mut v = ms.to_vec();
        let median_ms = quantile(&mut v, 0.5);
        let (p25_ms, p75_ms) = (quantile(&mut v, 0.25), quantile(&mut v, 0.75));
        let spread_pct = if median_ms > 0.0 {
            100.0 * (p75_ms - p25_ms) / median_ms
        } else {
            0.0
        };
        RunStats {
            median_ms,
            min_ms: v.first().copied().unwrap_or(f64::NAN),
            max_ms: v.last().copied().unwrap_or(f64::NAN),
            p25_ms,
            p75_ms,
            spread_pct,
            noisy: spread_pct > NOISY_SPREAD_PCT,
        }
    }
}

impl BenchResult {
    /// A row from per-run GPU and wall-clock times (ms, at least one each; no wall-clock
    /// times: the GPU median stands in) and the work of one run; the dispatch count starts
    /// at 0 and the energy and peak fields empty, for the caller to fill.
    pub fn from_runs(
        id: &str,
        variant: Option<&str>,
        gpu_ms: &[f64],
        wall_ms: &[f64],
        flops: u64,
        bytes: u64,
    ) -> Self {
        let s = RunStats::of(gpu_ms);
        let wall = if wall_ms.is_empty() {
            s.median_ms
        } else {
            median(&mut wall_ms.to_vec())
        };
        // A zero time (a timer too coarse for the run) gives no rate rather than infinity.
        let rate = |work: u64| {
            if s.median_ms > 0.0 {
                work as f64 / (s.median_ms * 1e6)
            } else {
                0.0
            }
        };
        BenchResult {
            id: id.to_string(),
            variant: variant.map(str::to_string),
            runs: gpu_ms.len() as u64,
            median_ms: s.median_ms,
            min_ms: s.min_ms,
            max_ms: s.max_ms,
            p25_ms: Some(s.p25_ms),
            p75_ms: Some(s.p75_ms),
            spread_pct: Some(s.spread_pct),
            noisy: s.noisy,
            flops,
            bytes,
            gflops: rate(flops),
            gbps: rate(bytes),
            dispatches: 0,
            wall_ms: wall,
            host_us_per_dispatch: None,
            pct_peak: None,
            avg_watts: None,
            joules_per_run: None,
            gflops_per_watt: None,
            energy_measured: None,
            idle_watts: None,
        }
    }
}

impl BenchResult {
    /// The row with the energy figures of its window, where a source measured or estimated
    /// them (GFLOP/s per watt only with work and power both above zero).
    pub fn with_energy(mut self, e: Option<&energy::EnergyResult>) -> Self {
        if let Some(e) = e {
            self.avg_watts = Some(e.avg_watts);
            self.joules_per_run = Some(e.joules_per_run);
            self.gflops_per_watt =
                (e.avg_watts > 0.0 && self.flops > 0).then(|| e.gflops_per_watt(self.flops as f64));
            self.energy_measured = Some(e.measured);
            self.idle_watts = e.idle_watts;
        }
        self
    }

    /// The row with its dispatch count per run, and the host time per dispatch that follows
    /// from it.
    pub fn with_dispatches(mut self, dispatches: u64) -> Self {
        self.dispatches = dispatches;
        self.host_us_per_dispatch =
            (dispatches > 0).then(|| (self.wall_ms - self.median_ms) * 1e3 / dispatches as f64);
        self
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
        let t = Instant::now();
        let mut rec = Recorder::new(dev);
        p.encode(&mut rec)?;
        dispatches = rec.len() as u64;
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
        // Wall time from before encoding to completion: the host's share is part of the run.
        let t = Instant::now();
        let prof = match p.run_profiled() {
            Some(prof) => prof?,
            None => {
                let mut rec = Recorder::new(dev);
                p.encode(&mut rec)?;
                rec.submit(true)?.expect("timed run returns a profile")
            }
        };
        wall.push(t.elapsed().as_secs_f64() * 1e3);
        dispatches = prof.dispatches.len() as u64;
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
    gpu: Vec<f64>,
    wall: Vec<f64>,
    dispatches: u64,
    peak_gflops: Option<f64>,
    energy: Option<energy::EnergyResult>,
) -> BenchResult {
    let (flops, bytes) = (p.flops(), p.bytes());
    let mut r = BenchResult::from_runs(&w.id, w.variant, &gpu, &wall, flops, bytes)
        .with_dispatches(dispatches);
    r.pct_peak = peak_gflops
        .filter(|p| *p > 0.0 && flops > 0)
        .map(|p| 100.0 * r.gflops / p);
    r.with_energy(energy.as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_time_per_dispatch_is_wall_minus_gpu_over_dispatches() {
        let r = BenchResult::from_runs("x", None, &[2.0, 1.0, 3.0], &[4.0, 2.5, 3.0], 0, 0);
        assert_eq!(r.host_us_per_dispatch, None, "dispatch count not known yet");
        let r = r.with_dispatches(4);
        // (3.0 ms wall - 2.0 ms GPU) / 4 dispatches = 250 us.
        assert_eq!((r.dispatches, r.host_us_per_dispatch), (4, Some(250.0)));
        assert_eq!(r.with_dispatches(0).host_us_per_dispatch, None);
    }

    #[test]
    fn run_stats_quartiles_spread_and_noise() {
        let s = RunStats::of(&[4.0, 1.0, 3.0, 2.0, 5.0]);
        assert_eq!((s.min_ms, s.median_ms, s.max_ms), (1.0, 3.0, 5.0));
        assert_eq!((s.p25_ms, s.p75_ms), (2.0, 4.0));
        assert!((s.spread_pct - 200.0 / 3.0).abs() < 1e-9);
        assert!(s.noisy);
        let calm = RunStats::of(&[10.0, 10.1, 10.2, 9.9]);
        assert!(!calm.noisy, "{calm:?}");
        let one = RunStats::of(&[7.0]);
        assert_eq!(
            (one.median_ms, one.spread_pct, one.noisy),
            (7.0, 0.0, false)
        );
    }
}
