//! Device ceilings measured through WebGPU, like vkpeak/clpeak: FMA throughput (scalar and vec4
//! f32; f16 where the adapter has it) and copy bandwidth. Their numbers feed the "% of peak"
//! column of the benchmark and the roofline chart.

use serde::Serialize;

use crate::device::Device;
use crate::error::Result;
use crate::exec::{grid_1d, Cost, Recorder};
use crate::shaders::{specialize, with_f16_enable, PEAK};
use crate::tensor::{DType, Tensor};

const ITERS: u64 = 512;
const CHAINS: u64 = 8;
const COPY_PER_INVOCATION: u64 = 4;

/// One FMA probe type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FmaType {
    /// Scalar f32.
    F32,
    /// `vec4<f32>`.
    Vec4F32,
    /// `vec4<f16>`.
    Vec4F16,
}

impl FmaType {
    fn wgsl(self) -> &'static str {
        match self {
            FmaType::F32 => "f32",
            FmaType::Vec4F32 => "vec4<f32>",
            FmaType::Vec4F16 => "vec4<f16>",
        }
    }
    fn lanes(self) -> u64 {
        match self {
            FmaType::F32 => 1,
            _ => 4,
        }
    }
    fn elem_bytes(self) -> u64 {
        match self {
            FmaType::F32 => 4,
            FmaType::Vec4F32 => 16,
            FmaType::Vec4F16 => 8,
        }
    }
    fn name(self) -> &'static str {
        match self {
            FmaType::F32 => "peak.fma_f32",
            FmaType::Vec4F32 => "peak.fma_vec4_f32",
            FmaType::Vec4F16 => "peak.fma_vec4_f16",
        }
    }
}

/// The FMA kernel source for one type.
pub fn fma_source(t: FmaType) -> Result<String> {
    let scalar = if t == FmaType::Vec4F16 { "f16" } else { "f32" };
    let s = specialize(
        PEAK,
        &[("T", t.wgsl().to_string()), ("S", scalar.to_string())],
    )?;
    Ok(with_f16_enable(s, t == FmaType::Vec4F16))
}

/// Every generated variant (for the naga test).
pub fn all_variants() -> Vec<(String, String)> {
    [FmaType::F32, FmaType::Vec4F32, FmaType::Vec4F16]
        .into_iter()
        .map(|t| (t.name().to_string(), fma_source(t).expect("peak variant")))
        .collect()
}

/// Measured ceilings of a device.
#[derive(Clone, Debug, Serialize)]
pub struct Peak {
    /// Scalar f32 FMA throughput, GFLOP/s.
    pub fma_f32_gflops: f64,
    /// `vec4<f32>` FMA throughput, GFLOP/s.
    pub fma_vec4_f32_gflops: f64,
    /// `vec4<f16>` FMA throughput, GFLOP/s (None without SHADER_F16).
    pub fma_vec4_f16_gflops: Option<f64>,
    /// WGSL vec4 copy bandwidth (read + write), GB/s.
    pub copy_gbps: f64,
    /// The f32 compute ceiling used for "% of peak": the better of scalar and vec4.
    pub f32_gflops: f64,
    /// Timing tier of the measurements.
    pub timing: &'static str,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Times `record` (one dispatch) `reps` times after a warm-up; median GPU ns.
fn time_dispatch(
    dev: &Device,
    reps: usize,
    record: &dyn Fn(&mut Recorder) -> Result<()>,
) -> Result<f64> {
    let mut warm = Recorder::new(dev);
    record(&mut warm)?;
    warm.submit(false)?;
    let mut times = Vec::with_capacity(reps);
    for _ in 0..reps {
        let mut rec = Recorder::new(dev);
        record(&mut rec)?;
        let prof = rec.submit(true)?.expect("timed");
        times.push(prof.gpu_ns());
    }
    Ok(median(times))
}

/// Measures FMA throughput of one type, growing the dispatch until it runs for >= 20 ms
/// (so that launch overhead and timer resolution do not count).
pub fn fma_gflops(dev: &Device, t: FmaType) -> Result<f64> {
    let src = fma_source(t)?;
    let pipe = dev.pipeline(t.name(), &src, "fma_peak")?;
    let max_elems = (dev.limits().max_storage_buffer_binding_size / t.elem_bytes()).min(1 << 24);
    let mut workgroups: u64 = 64;
    loop {
        let invocations = workgroups * 256;
        let out = Tensor::empty(
            dev,
            &[(invocations * t.elem_bytes() / 4) as usize],
            DType::F32,
        )?;
        let grid = grid_1d(dev, workgroups)?;
        let flops = invocations * ITERS * CHAINS * 2 * t.lanes();
        let cost = Cost {
            flops,
            bytes: invocations * t.elem_bytes(),
        };
        let ns = time_dispatch(dev, 3, &|rec| {
            rec.dispatch(t.name(), &pipe, &[out.buffer()], None, grid, cost)
        })?;
        let big_enough = ns >= 20e6 || (workgroups * 4 * 256) > max_elems;
        if big_enough {
            return Ok(flops as f64 / ns);
        }
        workgroups *= 4;
    }
}

/// Measures WGSL vec4 copy bandwidth (bytes read + written per second) on a buffer of up to
/// 64 MiB (or the binding limit).
pub fn copy_gbps(dev: &Device) -> Result<f64> {
    let pipe = dev.pipeline("peak.copy", PEAK, "copy_peak")?;
    let bytes = (64u64 << 20).min(dev.limits().max_storage_buffer_binding_size);
    let floats = (bytes / 4) as usize;
    let src = Tensor::from_f32(dev, &crate::reference::random(floats, 1), &[floats])?;
    let dst = Tensor::empty(dev, &[floats], DType::F32)?;
    let vec4s = bytes / 16;
    let grid = grid_1d(dev, vec4s.div_ceil(256 * COPY_PER_INVOCATION))?;
    let cost = Cost {
        flops: 0,
        bytes: 2 * bytes,
    };
    let ns = time_dispatch(dev, 5, &|rec| {
        rec.dispatch(
            "peak.copy",
            &pipe,
            &[src.buffer(), dst.buffer()],
            None,
            grid,
            cost,
        )
    })?;
    Ok(2.0 * bytes as f64 / ns)
}

/// Measures every ceiling.
pub fn measure(dev: &Device) -> Result<Peak> {
    let f32s = fma_gflops(dev, FmaType::F32)?;
    let v4 = fma_gflops(dev, FmaType::Vec4F32)?;
    let h = if dev.has_f16() {
        Some(fma_gflops(dev, FmaType::Vec4F16)?)
    } else {
        None
    };
    let copy = copy_gbps(dev)?;
    Ok(Peak {
        fma_f32_gflops: f32s,
        fma_vec4_f32_gflops: v4,
        fma_vec4_f16_gflops: h,
        copy_gbps: copy,
        f32_gflops: f32s.max(v4),
        timing: dev.timing_tier().label(),
    })
}
