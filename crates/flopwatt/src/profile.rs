//! Per-dispatch timing records and run totals.

use serde::Serialize;

use crate::device::TimingTier;
use crate::exec::Dispatch;

/// One timed dispatch.
#[derive(Clone, Debug, Serialize)]
pub struct DispatchRecord {
    /// Kernel name.
    pub kernel: String,
    /// Graph ops it covers.
    pub covers: Vec<String>,
    /// GPU time in nanoseconds.
    pub gpu_ns: f64,
    /// Where the time came from.
    pub source: TimingTier,
    /// FLOPs.
    pub flops: u64,
    /// Bytes moved.
    pub bytes: u64,
}

impl DispatchRecord {
    pub(crate) fn new(d: &Dispatch, gpu_ns: f64, source: TimingTier) -> Self {
        DispatchRecord {
            kernel: d.kernel.clone(),
            covers: d.covers.clone(),
            gpu_ns,
            source,
            flops: d.cost.flops,
            bytes: d.cost.bytes,
        }
    }

    /// GFLOP/s (0 when the time is 0).
    pub fn gflops(&self) -> f64 {
        rate(self.flops as f64, self.gpu_ns)
    }

    /// GB/s.
    pub fn gbps(&self) -> f64 {
        rate(self.bytes as f64, self.gpu_ns)
    }

    /// FLOPs per byte.
    pub fn intensity(&self) -> f64 {
        if self.bytes == 0 {
            0.0
        } else {
            self.flops as f64 / self.bytes as f64
        }
    }
}

fn rate(amount: f64, ns: f64) -> f64 {
    if ns > 0.0 {
        amount / ns
    } else {
        0.0
    }
}

/// All dispatches of one run.
#[derive(Clone, Debug, Serialize)]
pub struct RunProfile {
    /// Per-dispatch records in submission order.
    pub dispatches: Vec<DispatchRecord>,
    /// Timing tier used.
    pub source: TimingTier,
    /// Wall-clock time from encoding to completion, in nanoseconds.
    pub wall_ns: f64,
}

impl RunProfile {
    pub(crate) fn new(dispatches: Vec<DispatchRecord>, source: TimingTier, wall_ns: f64) -> Self {
        RunProfile {
            dispatches,
            source,
            wall_ns,
        }
    }

    /// Sum of per-dispatch GPU times.
    pub fn gpu_ns(&self) -> f64 {
        self.dispatches.iter().map(|d| d.gpu_ns).sum()
    }

    /// Total FLOPs.
    pub fn flops(&self) -> u64 {
        self.dispatches.iter().map(|d| d.flops).sum()
    }

    /// Total bytes.
    pub fn bytes(&self) -> u64 {
        self.dispatches.iter().map(|d| d.bytes).sum()
    }

    /// A text table: kernel, covers, time, GFLOP/s, GB/s, intensity.
    pub fn table(&self) -> String {
        let mut s = format!(
            "{:<28} {:>10} {:>10} {:>9} {:>8}  covers\n",
            "kernel", "gpu ms", "GFLOP/s", "GB/s", "FLOP/B"
        );
        for d in &self.dispatches {
            s.push_str(&format!(
                "{:<28} {:>10.3} {:>10.2} {:>9.2} {:>8.2}  {}\n",
                d.kernel,
                d.gpu_ns / 1e6,
                d.gflops(),
                d.gbps(),
                d.intensity(),
                d.covers.join(", ")
            ));
        }
        s.push_str(&format!(
            "total: {} dispatches, {:.3} ms GPU ({}), {:.3} ms wall\n",
            self.dispatches.len(),
            self.gpu_ns() / 1e6,
            self.source.label(),
            self.wall_ns / 1e6
        ));
        s
    }
}
