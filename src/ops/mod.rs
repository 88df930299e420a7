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

/// An activation applied elementwise, shared by elementwise ops and the epilogues of matmul
/// and conv (so fused and unfused paths evaluate the same WGSL expression).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum Activation {
    /// Identity.
    #[default]
    None,
    /// max(x, 0).
    Relu,
    /// x if x > 0 else alpha * x.
    LeakyRelu(f32),
    /// x * Phi(x) with the erf form.
    Gelu,
    /// The tanh approximation of gelu.
    GeluTanh,
    /// x * sigmoid(x).
    Silu,
    /// 1 / (1 + exp(-x)).
    Sigmoid,
    /// tanh(x).
    Tanh,
}

impl Activation {
    /// WGSL expression applying the activation to the f32 expression `x`.
    ///
    /// Uses helper functions from [`ACTIVATION_WGSL`], which shaders that take an activation
    /// include.
    pub fn wgsl(self, x: &str) -> String {
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

    /// The f64 meaning, for the reference.
    pub fn apply_f64(self, x: f64) -> f64 {
        match self {
            Activation::None => x,
            // NaN propagates (f64::max would drop it).
            Activation::Relu => {
                if x < 0.0 {
                    0.0
                } else {
                    x
                }
            }
            Activation::LeakyRelu(a) => {
                if x > 0.0 {
                    x
                } else {
                    a as f64 * x
                }
            }
            Activation::Gelu => {
                0.5 * x * (1.0 + crate::reference::erf(x / std::f64::consts::SQRT_2))
            }
            Activation::GeluTanh if x == f64::NEG_INFINITY => 0.0,
            Activation::GeluTanh => {
                let c = (2.0 / std::f64::consts::PI).sqrt();
                0.5 * x * (1.0 + (c * (x + 0.044715 * x * x * x)).tanh())
            }
            Activation::Silu if x == f64::NEG_INFINITY => 0.0,
            Activation::Silu => x / (1.0 + (-x).exp()),
            Activation::Sigmoid => 1.0 / (1.0 + (-x).exp()),
            Activation::Tanh => x.tanh(),
        }
    }
}

/// Formats an f32 as a WGSL literal that round-trips exactly (NaN and infinities via bitcast).
pub fn wgsl_f32(v: f32) -> String {
    if v.is_finite() {
        format!("{v:?}f")
    } else {
        format!("bitcast<f32>({}u)", v.to_bits())
    }
}

/// WGSL helpers behind [`Activation::wgsl`]; numerically careful forms (no overflow to NaN
/// for large |x|).
pub const ACTIVATION_WGSL: &str = include_str!("../../shaders/activation.wgsl");

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

/// `src` with its identity lane functions (`{ return v; } // lane i`, i in 0..8) turned into
/// `subgroupBroadcast(v, i)`: shader files keep the identity bodies so that they stay valid,
/// and creatable, on devices without subgroups; kernels swap them in only where
/// [`cpu_subgroups_of_8`] holds.
pub(crate) fn with_subgroup_broadcasts(src: &str) -> String {
    let mut out = src.to_string();
    for i in 0..8 {
        out = out.replace(
            &format!("{{ return v; }} // lane {i}"),
            &format!("{{ return subgroupBroadcast(v, {i}u); }} // lane {i}"),
        );
    }
    out
}
