//! Kernel families: each module holds its parameters, FLOP and byte counts, variant choice,
//! and launch code. Every op has an `encode_*` form that appends to a [`Recorder`] (used by
//! graphs and benchmarks: one submit for many dispatches) and a direct form that submits.

pub mod attention;
pub mod conv;
pub mod conv_backward;
pub mod elementwise;
pub mod gather;
pub mod matmul;
pub mod norm;
pub mod pool;
pub mod reduce;
pub mod reduce_fused;
pub mod resize;

use crate::device::Device;
use crate::error::{Error, Result};
use crate::exec::Recorder;
use crate::tensor::Tensor;

/// Records with `f` on a fresh recorder, submits once, and returns what `f` produced.
pub(crate) fn run_once<T>(
    device: &Device,
    f: impl FnOnce(&mut Recorder) -> Result<T>,
) -> Result<T> {
    let mut rec = Recorder::new(device);
    let out = f(&mut rec)?;
    rec.submit(false)?;
    Ok(out)
}

/// Checks that every tensor lives on `device`.
pub(crate) fn same_device(op: &'static str, device: &Device, ts: &[&Tensor]) -> Result<()> {
    if ts.iter().all(|t| t.device().same(device)) {
        Ok(())
    } else {
        Err(Error::DeviceMismatch { op })
    }
}

pub use flopwatt_ir::op::Activation;

/// WGSL spelling of an [`Activation`] (the IR knows no shader language).
pub(crate) trait ActivationWgsl {
    /// WGSL expression applying the activation to the f32 expression `x`.
    fn wgsl(self, x: &str) -> String;
}

impl ActivationWgsl for Activation {
    /// WGSL expression applying the activation to the f32 expression `x`.
    ///
    /// Uses helper functions from [`ACTIVATION_WGSL`], which shaders that take an activation
    /// include.
    fn wgsl(self, x: &str) -> String {
        match self {
            Activation::None => x.to_string(),
            Activation::Relu => format!("act_relu({x})"),
            Activation::LeakyRelu(a) => format!("act_leaky_relu({x}, {})", wgsl_f32(a)),
            Activation::Gelu => format!("act_gelu({x})"),
            Activation::GeluTanh => format!("act_gelu_tanh({x})"),
            Activation::Silu => format!("act_silu({x})"),
            Activation::Sigmoid => format!("act_sigmoid({x})"),
            Activation::Tanh => format!("act_tanh({x})"),
        }
    }
}

/// `a` as part of a pipeline-cache key: its Debug form plus its constant's bits, because Debug
/// prints every NaN alike and [`wgsl_f32`] spells each bit pattern.
pub(crate) fn activation_key(a: Activation) -> String {
    let bits = match a {
        Activation::LeakyRelu(alpha) => alpha.to_bits(),
        _ => 0,
    };
    format!("{a:?}/{bits:08x}")
}

/// Formats an f32 as a WGSL literal that round-trips exactly (NaN and infinities via bitcast).
pub fn wgsl_f32(v: f32) -> String {
    if v.is_finite() {
        format!("{v:?}f")
    } else {
        format!("bitcast<f32>({}u)", v.to_bits())
    }
}

/// WGSL helpers behind `ActivationWgsl::wgsl`; numerically careful forms (no overflow to NaN
/// for large |x|).
pub const ACTIVATION_WGSL: &str = include_str!("../../shaders/activation.wgsl");

/// `fn act(x: f32) -> f32` applying `a`, with the helpers it calls. Kernels with an activation
/// epilogue call `act` without defining it; their launch code appends this to the source.
pub(crate) fn act_function(a: Activation) -> String {
    let f = format!("fn act(x: f32) -> f32 {{ return {}; }}\n", a.wgsl("x"));
    if a == Activation::None {
        f
    } else {
        format!("{ACTIVATION_WGSL}\n{f}")
    }
}

/// Whether kernels may hand values between the lanes of 8-invocation subgroups with
/// `subgroupBroadcast`: the SUBGROUP feature with subgroups of exactly 8 consecutive
/// invocations (lavapipe's 8-wide vectors), on a CPU adapter, where invocations are laid out
/// lane by lane.
pub(crate) fn cpu_subgroups_of_8(dev: &crate::Device) -> bool {
    let lim = &dev.summary().limits;
    dev.class() == crate::AdapterClass::Cpu
        && dev.features().contains(wgpu::Features::SUBGROUP)
        && lim.min_subgroup_size == 8
        && lim.max_subgroup_size == 8
}
