//! Device ceilings measured through WebGPU, like vkpeak/clpeak: FMA throughput (scalar and vec4
//! f32; f16 where the adapter has it), copy bandwidth, dispatch latency and host-to-device
//! bandwidth. Their numbers feed the "% of peak" column of the benchmark and the roofline
//! chart, so an under-measured ceiling would inflate every "% of peak": the FMA probe is
//! unrolled straight-line code (no loop for naga to bound or a driver to keep), and the copy
//! probe on GPUs is sized past any last-level cache (see docs/gpu.md).

use std::fmt::Write as _;

use serde::Serialize;

use crate::device::{AdapterClass, Device};
use crate::error::Result;
use crate::exec::{grid_1d, Cost, Recorder};
use crate::shaders::{with_f16_enable, PEAK};
use crate::tensor::{DType, Tensor};

/// Independent FMA chains per invocation (hide the FMA latency of one chain).
const CHAINS: usize = 8;
/// FMAs per chain, written out one per line.
const UNROLL: usize = 128;
const COPY_PER_INVOCATION: u64 = 4;
/// Copy probe buffer on GPU-class adapters: past the largest last-level caches (a 4090's 72
/// MiB L2, an MI300's 256 MiB Infinity Cache), clamped by the adapter's buffer limits.
const COPY_BYTES_GPU: u64 = 512 << 20;
/// Copy probe buffer on CPU adapters (keeps `peak` quick on lavapipe).
const COPY_BYTES_CPU: u64 = 64 << 20;
/// Host-to-device upload size per class.
const UPLOAD_BYTES_GPU: u64 = 256 << 20;
const UPLOAD_BYTES_CPU: u64 = 16 << 20;
/// Empty dispatches recorded into one submission for the batched latency.
const BATCH: usize = 100;

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

/// The FMA kernel source for one type: `CHAINS` independent chains of `UNROLL` FMAs each,
/// written out (no loop), values bounded (x * 0.999 + 0.001 tends to 1). The result is stored
/// only if it equals -1, which it never does, but no compiler can prove that.
pub fn fma_source(t: FmaType) -> Result<String> {
    let scalar = if t == FmaType::Vec4F16 { "f16" } else { "f32" };
    let mut s = String::new();
    let _ = writeln!(s, "alias T = {};\nalias S = {scalar};", t.wgsl());
    s.push_str(
        "@group(0) @binding(0) var<storage, read_write> out: array<T>;\n\n\
         @compute @workgroup_size(256)\n\
         fn fma_peak(@builtin(global_invocation_id) gid: vec3<u32>, \
         @builtin(num_workgroups) nwg: vec3<u32>) {\n\
         \x20   let idx = gid.y * nwg.x * 256u + gid.x;\n\
         \x20   let s = S(f32(idx & 1023u) * 0.0009765625);\n\
         \x20   let m = T(0.999);\n    let c = T(0.001);\n",
    );
    for k in 0..CHAINS {
        let _ = writeln!(s, "    var a{k} = T(s + S({}));", k as f32 / CHAINS as f32);
    }
    for _ in 0..UNROLL {
        for k in 0..CHAINS {
            let _ = writeln!(s, "    a{k} = fma(a{k}, m, c);");
        }
    }
    let sum = (0..CHAINS)
        .map(|k| format!("a{k}"))
        .collect::<Vec<_>>()
        .join(" + ");
    let never = if t.lanes() == 1 {
        "r == T(-1.0)"
    } else {
        "all(r == T(-1.0))"
    };
    let _ = writeln!(
        s,
        "    let r = {sum};\n    if ({never}) {{\n        out[0] = r;\n    }}\n}}"
    );
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
    /// Bytes of the copy probe's source buffer (past the last-level cache on GPUs).
    pub copy_bytes: u64,
    /// One empty dispatch submitted and waited for, wall-clock microseconds (median).
    pub dispatch_roundtrip_us: f64,
    /// One empty dispatch among many in one submission, wall-clock microseconds each.
    pub dispatch_batched_us: f64,
    /// Host-to-device bandwidth of `queue.write_buffer` until the queue is idle, GB/s.
    pub upload_gbps: f64,
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
    let pipe = dev.own_pipeline(t.name(), &src, "fma_peak")?;
    let out = Tensor::empty(dev, &[(t.elem_bytes() / 4) as usize], DType::F32)?;
    let mut workgroups: u64 = 64;
    loop {
        let invocations = workgroups * 256;
        let grid = grid_1d(dev, workgroups)?;
        let flops = invocations * (CHAINS * UNROLL) as u64 * 2 * t.lanes();
        let cost = Cost { flops, bytes: 0 };
        let ns = time_dispatch(dev, 3, &|rec| {
            rec.dispatch(t.name(), &pipe, &[out.buffer()], None, grid, cost)
        })?;
        if ns >= 20e6 || workgroups >= 1 << 22 {
            return Ok(flops as f64 / ns);
        }
        workgroups *= 4;
    }
}

/// The copy probe's buffer size for a device: 512 MiB on GPU-class adapters (past any
/// last-level cache), 64 MiB on CPU ones, clamped by the binding and buffer-size limits.
pub fn copy_bytes(dev: &Device) -> u64 {
    let want = match dev.class() {
        AdapterClass::Gpu => COPY_BYTES_GPU,
        AdapterClass::Cpu => COPY_BYTES_CPU,
    };
    let lim = dev.limits();
    want.min(lim.max_storage_buffer_binding_size)
        .min(lim.max_buffer_size)
        / 16
        * 16
}

/// Measures WGSL vec4 copy bandwidth (bytes read + written per second) over
/// [`copy_bytes`] bytes.
pub fn copy_gbps(dev: &Device) -> Result<f64> {
    let pipe = dev.own_pipeline("peak.copy", PEAK, "copy_peak")?;
    let bytes = copy_bytes(dev);
    let floats = (bytes / 4) as usize;
    let src = Tensor::from_f32(dev, &crate::tensor::random_data(floats, 1), &[floats])?;
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

/// Dispatch latency of an empty kernel, wall clock: `(round trip, batched)` in microseconds,
/// the first one dispatch submitted and waited for, the second one of 100 in one
/// submission (medians of a few runs).
pub fn dispatch_latency_us(dev: &Device) -> Result<(f64, f64)> {
    let pipe = dev.own_pipeline("peak.empty", PEAK, "empty_kernel")?;
    let sink = Tensor::empty(dev, &[1], DType::F32)?;
    let run = |n: usize| -> Result<f64> {
        let t0 = crate::time::Instant::now();
        let mut rec = Recorder::new(dev);
        for _ in 0..n {
            rec.dispatch(
                "peak.empty",
                &pipe,
                &[sink.buffer()],
                None,
                [1, 1, 1],
                Cost::default(),
            )?;
        }
        rec.submit(false)?;
        Ok(t0.elapsed().as_secs_f64() * 1e6 / n as f64)
    };
    run(1)?;
    let one = median((0..15).map(|_| run(1)).collect::<Result<Vec<_>>>()?);
    let batched = median((0..3).map(|_| run(BATCH)).collect::<Result<Vec<_>>>()?);
    Ok((one, batched))
}

/// Host-to-device bandwidth: `queue.write_buffer` of a host buffer, timed on the wall clock
/// until the queue is idle (median of 3), GB/s.
pub fn upload_gbps(dev: &Device) -> Result<f64> {
    let want = match dev.class() {
        AdapterClass::Gpu => UPLOAD_BYTES_GPU,
        AdapterClass::Cpu => UPLOAD_BYTES_CPU,
    };
    let lim = dev.limits();
    let bytes = want
        .min(lim.max_storage_buffer_binding_size)
        .min(lim.max_buffer_size)
        / 16
        * 16;
    let host = crate::tensor::random_data((bytes / 4) as usize, 2);
    let dst = Tensor::empty(dev, &[host.len()], DType::F32)?;
    let mut times = Vec::new();
    for _ in 0..4 {
        let t0 = crate::time::Instant::now();
        dev.queue()
            .write_buffer(dst.buffer(), 0, bytemuck::cast_slice(&host));
        dev.queue().submit([]);
        dev.wait()?;
        times.push(t0.elapsed().as_secs_f64());
    }
    // The first upload also pays for staging allocation: dropped as a warm-up.
    let secs = median(times[1..].to_vec());
    Ok(bytes as f64 / secs / 1e9)
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
    let (roundtrip, batched) = dispatch_latency_us(dev)?;
    let upload = upload_gbps(dev)?;
    Ok(Peak {
        fma_f32_gflops: f32s,
        fma_vec4_f32_gflops: v4,
        fma_vec4_f16_gflops: h,
        copy_gbps: copy,
        copy_bytes: copy_bytes(dev),
        dispatch_roundtrip_us: roundtrip,
        dispatch_batched_us: batched,
        upload_gbps: upload,
        f32_gflops: f32s.max(v4),
        timing: dev.timing_tier().label(),
    })
}
