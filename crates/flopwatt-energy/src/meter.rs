//! The energy method: idle window, then the workload repeated over a window of at least
//! `min_window`, the cumulative counter read at both ends (see the module docs of
//! `crate::energy`).

use std::time::Duration;

use serde::Serialize;

use super::{Clock, PowerSource, Reading, SourceKind, SystemClock};
use flopwatt_ir::error::Result;

/// How long to measure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EnergyConfig {
    /// The workload repeats until at least this much time has passed (counters update every
    /// 1-100 ms, so shorter windows are mostly quantisation error).
    pub min_window: Duration,
    /// Idle power is measured over this window just before (zero: skip it).
    pub idle_window: Duration,
}

impl Default for EnergyConfig {
    fn default() -> Self {
        EnergyConfig {
            min_window: Duration::from_secs(1),
            idle_window: Duration::from_millis(500),
        }
    }
}

/// The energy of one workload over its measurement window. All figures are gross (they include
/// the idle floor); `idle_watts` is alongside so that net figures can be derived.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EnergyResult {
    /// Workload repetitions inside the window.
    pub runs: u64,
    /// Window length in seconds.
    pub seconds: f64,
    /// Energy over the window.
    pub joules: f64,
    /// `joules / seconds`.
    pub avg_watts: f64,
    /// Power over the idle window just before (`None` when skipped or not measured).
    pub idle_watts: Option<f64>,
    /// `joules / runs`.
    pub joules_per_run: f64,
    /// False for `--watts` constants and TDP estimates.
    pub measured: bool,
    /// Where the figures came from.
    pub source: SourceKind,
}

impl EnergyResult {
    /// GFLOP per watt-second (= GFLOP/J) for a workload of `flops_per_run`:
    /// GFLOP/s over the window divided by `avg_watts`.
    pub fn gflops_per_watt(&self, flops_per_run: f64) -> f64 {
        if self.seconds <= 0.0 || self.avg_watts <= 0.0 {
            return 0.0;
        }
        let gflops_per_s = flops_per_run * self.runs as f64 / self.seconds / 1e9;
        gflops_per_s / self.avg_watts
    }

    /// Energy per run above the idle floor (`None` without an idle figure); clamped at 0,
    /// since noise can put a light workload's average under idle.
    pub fn net_joules_per_run(&self) -> Option<f64> {
        let idle = self.idle_watts?;
        if self.runs == 0 {
            return None;
        }
        Some(((self.avg_watts - idle) * self.seconds / self.runs as f64).max(0.0))
    }
}

/// What a measurement gave: figures, or why there are none.
#[derive(Clone, Debug, PartialEq)]
pub enum EnergyStatus {
    /// The figures.
    Measured(EnergyResult),
    /// The source could not be read (permissions, a vanished file, a counter that went
    /// backwards); the workload still ran.
    Unavailable {
        /// The source that failed.
        source: SourceKind,
        /// Why, in words.
        reason: String,
    },
}

/// Measures `run` with `source` on the system clock; `None` when the source cannot be read.
///
/// `run` must return only when its GPU work has finished (submit and wait), or the work spills
/// outside the window. Warm up (pipeline compilation, first-touch allocation) before calling.
/// Errors from `run` are returned as they are.
pub fn measure(
    source: &mut dyn PowerSource,
    cfg: &EnergyConfig,
    run: impl FnMut() -> Result<()>,
) -> Result<Option<EnergyResult>> {
    Ok(match measure_status(source, cfg, &SystemClock, run)? {
        EnergyStatus::Measured(r) => Some(r),
        EnergyStatus::Unavailable { .. } => None,
    })
}

/// [`measure`] with the reason kept when there are no figures, on the given clock (the clock
/// that times the idle window and decides when the window is full; readings carry their own
/// timestamps from the source).
pub fn measure_status(
    source: &mut dyn PowerSource,
    cfg: &EnergyConfig,
    clock: &dyn Clock,
    mut run: impl FnMut() -> Result<()>,
) -> Result<EnergyStatus> {
    let kind = source.kind();
    let unavailable = |reason: String| EnergyStatus::Unavailable {
        source: kind,
        reason,
    };

    match window(source, cfg, clock, &mut run) {
        Ok(r) => Ok(EnergyStatus::Measured(r)),
        Err(Stop::Source(reason)) => Ok(unavailable(reason)),
        Err(Stop::Run(e)) => Err(e),
    }
}

/// Why a window ended without figures.
enum Stop {
    /// The source failed: no figures, the reason kept.
    Source(String),
    /// The workload failed: its error goes to the caller.
    Run(crate::Error),
}

fn src_err(e: crate::Error) -> Stop {
    Stop::Source(e.to_string())
}

/// How often a reader polls for a counter update at the edges of a window.
const TICK_POLL: Duration = Duration::from_millis(1);
/// The longest wait for a counter update (NVML's counter moves every 20-100 ms; a counter
/// that has not moved in this long is taken as it is).
const TICK_TIMEOUT: Duration = Duration::from_millis(250);

/// How often a counter is read inside a window even though only the edges count: a wrapping
/// counter (RAPL) must be read at least once per wrap, or whole wraps go missing. Real RAPL
/// ranges take minutes to fill; some platforms' take seconds at high power.
const KEEP_UP: Duration = Duration::from_millis(50);

/// Sleeps for `d` in slices of [`KEEP_UP`], reading the source after each.
fn sleep_reading(
    source: &mut dyn PowerSource,
    clock: &dyn Clock,
    d: Duration,
) -> std::result::Result<(), Stop> {
    let mut left = d;
    while !left.is_zero() {
        let step = left.min(KEEP_UP);
        clock.sleep(step);
        source.read().map_err(src_err)?;
        left -= step;
    }
    Ok(())
}

/// Reads the source just after its counter moves, so the reading describes energy up to now
/// rather than up to an update tens of milliseconds ago.
fn fresh_read(
    source: &mut dyn PowerSource,
    clock: &dyn Clock,
) -> std::result::Result<Reading, Stop> {
    let first = source.read().map_err(src_err)?;
    let t0 = clock.now();
    loop {
        clock.sleep(TICK_POLL);
        let r = source.read().map_err(src_err)?;
        if r.joules != first.joules || clock.now().saturating_duration_since(t0) >= TICK_TIMEOUT {
            return Ok(r);
        }
    }
}

fn window(
    source: &mut dyn PowerSource,
    cfg: &EnergyConfig,
    clock: &dyn Clock,
    run: &mut dyn FnMut() -> Result<()>,
) -> std::result::Result<EnergyResult, Stop> {
    let kind = source.kind();
    let measured = source.measured();
    // Constants and estimates are exact at any instant; only counters need their edges aligned.
    let read_edge = |source: &mut dyn PowerSource| {
        if measured {
            fresh_read(source, clock)
        } else {
            source.read().map_err(src_err)
        }
    };

    let mut idle_watts = None;
    let start = if measured && !cfg.idle_window.is_zero() {
        let a = read_edge(source)?;
        sleep_reading(source, clock, cfg.idle_window)?;
        let b = read_edge(source)?;
        idle_watts = Some(
            watts_between(&a, &b, measured)
                .map_err(|why| Stop::Source(format!("idle window: {why}")))?,
        );
        // The idle window ends on a fresh reading: it is the start of the busy window too.
        b
    } else {
        read_edge(source)?
    };

    let t0 = clock.now();
    let mut runs = 0u64;
    let mut last_read = t0;
    loop {
        run().map_err(Stop::Run)?;
        runs += 1;
        let now = clock.now();
        if now.saturating_duration_since(t0) >= cfg.min_window {
            break;
        }
        if measured && now.saturating_duration_since(last_read) >= KEEP_UP {
            source.read().map_err(src_err)?;
            last_read = now;
        }
    }
    let mut end = source.read().map_err(src_err)?;
    let per_run = clock.now().saturating_duration_since(t0).as_secs_f64() / runs as f64;
    if measured && per_run < TICK_TIMEOUT.as_secs_f64() {
        // Keep the workload running until the counter moves, so the end reading is not a stale
        // value from before the last runs: the error shrinks from one counter period to one run.
        let stale = end.joules;
        let t_end = clock.now();
        while end.joules == stale && clock.now().saturating_duration_since(t_end) < TICK_TIMEOUT {
            run().map_err(Stop::Run)?;
            runs += 1;
            end = source.read().map_err(src_err)?;
        }
    }
    let avg_watts = watts_between(&start, &end, measured).map_err(Stop::Source)?;
    let seconds = end.at.saturating_duration_since(start.at).as_secs_f64();
    let joules = end.joules - start.joules;
    Ok(EnergyResult {
        runs,
        seconds,
        joules,
        avg_watts,
        idle_watts,
        joules_per_run: joules / runs as f64,
        measured,
        source: kind,
    })
}

/// [`measure`] on a given clock (tests drive a virtual one).
pub fn measure_with_clock(
    source: &mut dyn PowerSource,
    cfg: &EnergyConfig,
    clock: &dyn Clock,
    run: impl FnMut() -> Result<()>,
) -> Result<Option<EnergyResult>> {
    Ok(match measure_status(source, cfg, clock, run)? {
        EnergyStatus::Measured(r) => Some(r),
        EnergyStatus::Unavailable { .. } => None,
    })
}

/// The most power a reading may show and still count as a measurement: more than any one
/// device or CPU package draws (the largest accelerator boards draw about 1.5 kW). Above it,
/// the counter was reset, jumped or misread.
pub const MAX_PLAUSIBLE_WATTS: f64 = 5_000.0;

/// Average power between two readings; an error for no elapsed time, a counter that went
/// backwards (a driver reload resets NVML's counter), and, for measured sources, a counter
/// that never moved or a power no device draws: such readings are reported as not measured
/// with the reason, never as figures.
fn watts_between(a: &Reading, b: &Reading, measured: bool) -> std::result::Result<f64, String> {
    let dt = b.at.saturating_duration_since(a.at).as_secs_f64();
    let de = b.joules - a.joules;
    if dt <= 0.0 {
        return Err("no time passed between readings".into());
    }
    if !(de.is_finite() && de >= 0.0) {
        return Err(format!("energy counter went backwards ({de} J)"));
    }
    let w = de / dt;
    if measured && de == 0.0 {
        return Err(format!(
            "the energy counter did not move in {dt:.2} s; a stuck counter is not a measurement"
        ));
    }
    if measured && w > MAX_PLAUSIBLE_WATTS {
        return Err(format!(
            "the energy counter rose {de:.1} J in {dt:.2} s ({w:.0} W, over the \
             {MAX_PLAUSIBLE_WATTS} W any one device draws): a counter reset or jump, not a \
             measurement"
        ));
    }
    Ok(w)
}
