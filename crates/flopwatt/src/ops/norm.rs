//! Normalisation: softmax / log-softmax over any axis, layer norm and RMS norm over the last
//! `norm_dims` axes with optional affine parameters.
//!
//! Kernel families as for reductions ([`Strategy`]): on CPU adapters one invocation per row
//! reads straight from storage (vec4 where the row allows), on GPUs (and for few long rows
//! anywhere) a workgroup per row sums in shared memory. Rows of at most
//! [`SHORT_ROW`] elements take one invocation per row on every
//! adapter class under `Auto`. Softmax over a non-last axis runs the
//! direct kernel over `[outer, red, inner]` with neighbouring invocations on neighbouring
//! addresses, so no transpose and no strided gather. Inputs must be contiguous f32.

use bytemuck::{Pod, Zeroable};

use crate::error::{Error, Result};
use crate::exec::{grid_1d, Cost, Recorder};
use crate::ops::reduce::{Strategy, SHORT_ROW};
use crate::ops::{run_once, same_device, wgsl_f32};
use crate::shaders;
use crate::tensor::{broadcast_strides, DType, Tensor};

const WG_DIRECT: u32 = 64;
const WG_TREE: u32 = 256;
/// Below this many rows the direct kernels cannot fill even a CPU; use a workgroup per row.
const MIN_DIRECT_ROWS: usize = 256;

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct SoftmaxParams {
    outer: u32,
    red: u32,
    inner: u32,
    m_red: u32,
    scale: f32,
    m_off: u32,
    _pad: [u32; 2],
    oshape: [u32; 4],
    ostride: [u32; 4],
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct NormParams {
    rows: u32,
    len: u32,
    eps: f32,
    _pad: u32,
}

fn softmax_source(log: bool, wg: u32, recompute: bool) -> Result<String> {
    softmax_source_pro(log, wg, recompute, false, false)
}

fn softmax_source_pro(
    log: bool,
    wg: u32,
    recompute: bool,
    scaled: bool,
    mask: bool,
) -> Result<String> {
    shaders::specialize(
        shaders::SOFTMAX,
        &[
            ("LOG", log.to_string()),
            ("WG", format!("{wg}u")),
            ("RECOMPUTE", recompute.to_string()),
            ("SCALED", scaled.to_string()),
            ("MASK", mask.to_string()),
        ],
    )
}

fn norm_source(affine: u32, wg: u32, one_read: bool) -> Result<String> {
    shaders::specialize(
        shaders::NORM,
        &[
            ("AFFINE", format!("{affine}u")),
            ("WG", format!("{wg}u")),
            ("ONE_READ", one_read.to_string()),
        ],
    )
}

/// Kernel choices for softmax and the norms. The default is what the library runs; tests
/// and benches set the other fields to exercise and time the alternative kernel forms. A
/// [`Strategy`] converts into the default options with that kernel family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NormOptions {
    /// Kernel family (direct or workgroup tree).
    pub strategy: Strategy,
    /// The direct softmax recomputes exp in its last sweep instead of storing it and
    /// rescaling (softmax.wgsl `RECOMPUTE`). On by default: on lavapipe it won more runs than
    /// it lost, within the noise (`docs/decisions.md#softmax-recompute-exp`).
    pub recompute_exp: bool,
    /// Layer norm's vec4 kernel reads each full block once instead of twice (norm.wgsl
    /// `ONE_READ`).
    pub one_read: bool,
}

impl Default for NormOptions {
    fn default() -> Self {
        NormOptions {
            strategy: Strategy::Auto,
            recompute_exp: true,
            one_read: true,
        }
    }
}

impl From<Strategy> for NormOptions {
    fn from(strategy: Strategy) -> Self {
        NormOptions {
            strategy,
            ..NormOptions::default()
        }
    }
}

/// Every specialisation of shaders/softmax.wgsl and shaders/norm.wgsl, for the naga test.
pub fn all_variants() -> Vec<(String, String)> {
    let mut v = Vec::new();
    for wg in [WG_DIRECT, WG_TREE] {
        for log in [false, true] {
            for rc in [false, true] {
                let src =
                    softmax_source(log, wg, rc).expect("softmax.wgsl declares LOG, WG, RECOMPUTE");
                v.push((format!("softmax.log{log}.wg{wg}.recompute{rc}"), src));
            }
            for (scaled, mask) in [(true, false), (false, true), (true, true)] {
                let src = softmax_source_pro(log, wg, true, scaled, mask)
                    .expect("softmax.wgsl declares SCALED and MASK");
                v.push((
                    format!("softmax.log{log}.wg{wg}.scaled{scaled}.mask{mask}"),
                    src,
                ));
            }
        }
        for affine in 0..3 {
            for one in [false, true] {
                let src =
                    norm_source(affine, wg, one).expect("norm.wgsl declares AFFINE, WG, ONE_READ");
                v.push((format!("norm.affine{affine}.wg{wg}.one_read{one}"), src));
            }
        }
    }
    v
}

fn check_input(op: &'static str, rec: &Recorder, x: &Tensor) -> Result<()> {
    same_device(op, rec.device(), &[x])?;
    if x.dtype() != DType::F32 {
        return Err(Error::UnsupportedDType {
            op,
            dtype: x.dtype(),
            hint: "normalisation takes f32 tensors".into(),
        });
    }
    if !x.is_contiguous() {
        return Err(Error::shape(
            op,
            format!(
                "input {:?} is a strided view; make it contiguous first",
                x.shape()
            ),
        ));
    }
    if x.numel() == 0 {
        return Err(Error::invalid(
            op,
            format!("input {:?} has no elements", x.shape()),
        ));
    }
    Ok(())
}

/// Whether `rows` rows of `len` elements use the tree kernel: short rows never do under
/// `Auto` (one invocation per row, many rows per workgroup; see `SHORT_ROW`).
fn use_tree(strategy: Strategy, rec: &Recorder, rows: usize, len: usize) -> bool {
    match strategy.resolve_for_row(rec.device().class(), len) {
        Strategy::Tree => true,
        _ => strategy == Strategy::Auto && len > SHORT_ROW && rows < MIN_DIRECT_ROWS,
    }
}

/// Softmax over `axis` (negative counts from the end). Submits and waits.
pub fn softmax(x: &Tensor, axis: isize) -> Result<Tensor> {
    run_once(x.device(), |rec| encode_softmax(rec, x, axis, false))
}

/// Log-softmax over `axis`. Submits and waits.
pub fn log_softmax(x: &Tensor, axis: isize) -> Result<Tensor> {
    run_once(x.device(), |rec| encode_softmax(rec, x, axis, true))
}

/// Records softmax (or log-softmax with `log`) over `axis` into `rec`.
pub fn encode_softmax(rec: &mut Recorder, x: &Tensor, axis: isize, log: bool) -> Result<Tensor> {
    encode_softmax_with(rec, x, axis, log, NormOptions::default())
}

/// [`encode_softmax`] with explicit kernel choices: a [`Strategy`] or [`NormOptions`] (tests
/// run both families on any adapter).
pub fn encode_softmax_with(
    rec: &mut Recorder,
    x: &Tensor,
    axis: isize,
    log: bool,
    options: impl Into<NormOptions>,
) -> Result<Tensor> {
    encode_softmax_prologue(rec, x, 1.0, None, axis, log, options)
}

/// `softmax(x * scale + mask)` (or log-softmax) over `axis` in one kernel: the prologue is
/// applied as the row is read, so no elementwise kernel or intermediate precedes it.
/// `mask` may be any view broadcastable to `x` (e.g. [1, 1, S, S] against [B, H, S, S]),
/// read through its strides; a mask needs `axis` to be the last axis and at most four dims
/// before it. `scale == 1.0` and no mask is plain softmax. `options`: a [`Strategy`] or
/// [`NormOptions`].
pub fn encode_softmax_prologue(
    rec: &mut Recorder,
    x: &Tensor,
    scale: f32,
    mask: Option<&Tensor>,
    axis: isize,
    log: bool,
    options: impl Into<NormOptions>,
) -> Result<Tensor> {
    let options = options.into();
    let op = if log { "log_softmax" } else { "softmax" };
    check_input(op, rec, x)?;
    let shape = x.shape();
    let rank = shape.len() as isize;
    let a = if axis < 0 { axis + rank } else { axis };
    if a < 0 || a >= rank {
        return Err(Error::invalid(
            op,
            format!("axis {axis} is out of range for shape {shape:?} (rank {rank})"),
        ));
    }
    let a = a as usize;
    let outer: usize = shape[..a].iter().product();
    let red = shape[a];
    let inner: usize = shape[a + 1..].iter().product();
    let dev = rec.device().clone();
    let tree = inner == 1 && use_tree(options.strategy, rec, outer, red);
    let (wg, entry, grid) = if tree {
        (WG_TREE, "tree", grid_1d(&dev, outer as u64)?)
    } else {
        let entry = if inner == 1 && red.is_multiple_of(4) {
            "direct4"
        } else {
            "direct"
        };
        let items = (outer * inner) as u64;
        (
            WG_DIRECT,
            entry,
            grid_1d(&dev, items.div_ceil(WG_DIRECT as u64))?,
        )
    };
    let scaled = scale != 1.0;
    if !scale.is_finite() {
        return Err(Error::invalid(
            op,
            format!("prologue scale {scale} is not finite"),
        ));
    }
    let (mut oshape, mut ostride, mut m_red, mut m_off) = ([1u32; 4], [0u32; 4], 0u32, 0u32);
    if let Some(m) = mask {
        same_device(op, rec.device(), &[m])?;
        if m.dtype() != DType::F32 {
            return Err(Error::UnsupportedDType {
                op,
                dtype: m.dtype(),
                hint: "the additive mask must be f32".into(),
            });
        }
        if a + 1 != shape.len() || a > 4 {
            return Err(Error::invalid(
                op,
                format!(
                    "a mask needs the last axis and at most 4 dims before it; axis {axis} of {shape:?}"
                ),
            ));
        }
        let st = broadcast_strides(m.shape(), m.strides(), shape).ok_or_else(|| {
            Error::shape(
                op,
                format!("mask {:?} does not broadcast to {shape:?}", m.shape()),
            )
        })?;
        for k in 0..a {
            oshape[4 - a + k] = shape[k] as u32;
            ostride[4 - a + k] = st[k] as u32;
        }
        m_red = st[a] as u32;
        m_off = m.offset() as u32;
    }
    let src = softmax_source_pro(log, wg, options.recompute_exp, scaled, mask.is_some())?;
    let name = format!(
        "{op}.{entry}{}{}",
        if scaled { ".scaled" } else { "" },
        if mask.is_some() { ".mask" } else { "" }
    );
    let pipe = dev.own_pipeline(&name, &src, entry)?;
    let y = Tensor::empty(&dev, shape, DType::F32)?;
    let p = SoftmaxParams {
        outer: outer as u32,
        red: red as u32,
        inner: inner as u32,
        m_red,
        scale,
        m_off,
        _pad: [0; 2],
        oshape,
        ostride,
    };
    let n = x.numel() as u64;
    let cost = Cost {
        flops: (5 + u64::from(scaled) + u64::from(mask.is_some())) * n,
        bytes: 8 * n + mask.map_or(0, |m| 4 * m.numel() as u64),
    };
    let mbuf = mask.unwrap_or(x);
    rec.dispatch(
        &name,
        &pipe,
        &[x.buffer(), y.buffer(), mbuf.buffer()],
        Some(bytemuck::bytes_of(&p)),
        grid,
        cost,
    )?;
    Ok(y)
}

/// Checks `norm_dims` and an affine parameter's shape; returns the row length.
fn norm_len(
    op: &'static str,
    x: &Tensor,
    norm_dims: usize,
    params: &[(&str, Option<&Tensor>)],
) -> Result<usize> {
    let shape = x.shape();
    if norm_dims == 0 || norm_dims > shape.len() {
        return Err(Error::invalid(
            op,
            format!(
                "norm_dims {norm_dims} must be between 1 and the rank {} of {shape:?}",
                shape.len()
            ),
        ));
    }
    let tail = &shape[shape.len() - norm_dims..];
    for (what, t) in params {
        if let Some(t) = t {
            if t.shape() != tail {
                return Err(Error::shape(
                    op,
                    format!(
                        "{what} has shape {:?} but the normalised dims of {shape:?} are {tail:?}",
                        t.shape()
                    ),
                ));
            }
            if t.dtype() != DType::F32 || !t.is_contiguous() {
                return Err(Error::invalid(
                    op,
                    format!("{what} must be a contiguous f32 tensor"),
                ));
            }
        }
    }
    Ok(tail.iter().product())
}

/// A 1-element stand-in bound where gamma/beta are absent (never read: the variant compiles
/// the read out, but one binding layout serves all variants).
fn dummy(rec: &mut Recorder) -> Result<Tensor> {
    let t = Tensor::from_f32(rec.device(), &[0.0], &[1])?;
    rec.keep_alive(t.clone());
    Ok(t)
}

fn check_eps(op: &'static str, eps: f32) -> Result<()> {
    if !(eps.is_finite() && eps >= 0.0) {
        return Err(Error::invalid(
            op,
            format!("epsilon {} must be finite and >= 0", wgsl_f32(eps)),
        ));
    }
    Ok(())
}

/// Layer norm over the last `norm_dims` axes: `(x - mean) / sqrt(var + eps) * gamma + beta`
/// (biased variance). `gamma`/`beta` have the shape of those axes. Submits and waits.
pub fn layer_norm(
    x: &Tensor,
    norm_dims: usize,
    gamma: Option<&Tensor>,
    beta: Option<&Tensor>,
    eps: f32,
) -> Result<Tensor> {
    run_once(x.device(), |rec| {
        encode_layer_norm(rec, x, norm_dims, gamma, beta, eps)
    })
}

/// Records [`layer_norm`] into `rec`.
pub fn encode_layer_norm(
    rec: &mut Recorder,
    x: &Tensor,
    norm_dims: usize,
    gamma: Option<&Tensor>,
    beta: Option<&Tensor>,
    eps: f32,
) -> Result<Tensor> {
    encode_norm(
        rec,
        x,
        norm_dims,
        gamma,
        beta,
        eps,
        false,
        NormOptions::default(),
    )
}

/// RMS norm over the last `norm_dims` axes: `x / sqrt(mean(x^2) + eps) * gamma`.
pub fn rms_norm(x: &Tensor, norm_dims: usize, gamma: Option<&Tensor>, eps: f32) -> Result<Tensor> {
    run_once(x.device(), |rec| {
        encode_rms_norm(rec, x, norm_dims, gamma, eps)
    })
}

/// Records [`rms_norm`] into `rec`.
pub fn encode_rms_norm(
    rec: &mut Recorder,
    x: &Tensor,
    norm_dims: usize,
    gamma: Option<&Tensor>,
    eps: f32,
) -> Result<Tensor> {
    encode_norm(
        rec,
        x,
        norm_dims,
        gamma,
        None,
        eps,
        true,
        NormOptions::default(),
    )
}

/// Layer norm (`rms` false) or RMS norm (`rms` true, `beta` must be `None`) with explicit
/// kernel choices: a [`Strategy`] or [`NormOptions`].
#[allow(clippy::too_many_arguments)]
pub fn encode_norm(
    rec: &mut Recorder,
    x: &Tensor,
    norm_dims: usize,
    gamma: Option<&Tensor>,
    beta: Option<&Tensor>,
    eps: f32,
    rms: bool,
    options: impl Into<NormOptions>,
) -> Result<Tensor> {
    let options = options.into();
    let op = if rms { "rms_norm" } else { "layer_norm" };
    check_input(op, rec, x)?;
    check_eps(op, eps)?;
    if rms && beta.is_some() {
        return Err(Error::invalid(op, "rms_norm takes no beta"));
    }
    let ts: Vec<&Tensor> = gamma.iter().chain(beta.iter()).copied().collect();
    same_device(op, rec.device(), &ts)?;
    let len = norm_len(op, x, norm_dims, &[("gamma", gamma), ("beta", beta)])?;
    let rows = x.numel() / len;
    let affine = match (gamma, beta) {
        (None, None) => 0,
        (Some(_), None) => 1,
        (Some(_), Some(_)) => 2,
        (None, Some(_)) => {
            return Err(Error::invalid(op, "beta without gamma; pass gamma = ones"));
        }
    };
    let dev = rec.device().clone();
    let tree = use_tree(options.strategy, rec, rows, len);
    let kind = if rms { "rms" } else { "ln" };
    let (wg, entry, grid) = if tree {
        (WG_TREE, format!("{kind}_tree"), grid_1d(&dev, rows as u64)?)
    } else {
        let v = if len.is_multiple_of(4) {
            "direct4"
        } else {
            "direct"
        };
        let g = grid_1d(&dev, (rows as u64).div_ceil(WG_DIRECT as u64))?;
        (WG_DIRECT, format!("{kind}_{v}"), g)
    };
    let src = norm_source(affine, wg, options.one_read)?;
    let name = format!("{op}.{entry}");
    let pipe = dev.own_pipeline(&name, &src, &entry)?;
    let y = Tensor::empty(&dev, x.shape(), DType::F32)?;
    let p = NormParams {
        rows: rows as u32,
        len: len as u32,
        eps,
        _pad: 0,
    };
    let n = x.numel() as u64;
    let cost = Cost {
        flops: if rms { 4 * n } else { 8 * n },
        bytes: 8 * n + 4 * affine as u64 * len as u64,
    };
    let d = dummy(rec)?;
    let g = gamma.unwrap_or(&d);
    let params = Some(bytemuck::bytes_of(&p));
    if rms {
        rec.dispatch(
            &name,
            &pipe,
            &[x.buffer(), g.buffer(), y.buffer()],
            params,
            grid,
            cost,
        )?;
    } else {
        let b = beta.unwrap_or(&d);
        rec.dispatch(
            &name,
            &pipe,
            &[x.buffer(), g.buffer(), b.buffer(), y.buffer()],
            params,
            grid,
            cost,
        )?;
    }
    Ok(y)
}
