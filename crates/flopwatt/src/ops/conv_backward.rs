//! conv2d backward (NCHW, f32): the input gradient and the weight gradient.
//!
//! - Input gradient, stride 1: the forward conv kernel (register-blocked, the fast one) run on
//!   `dy` with the weight transposed per group and its taps reversed (`flip_weight`, a tiny
//!   dispatch) and padding `dilation * (k - 1) - pad`.
//! - Input gradient, strided (or padding wider than the kernel): a transposed convolution of
//!   `dy` with the forward weight ([`crate::ops::conv::encode_conv_transpose2d`]; the weight
//!   layouts coincide), with the output padding that restores the input's size when the
//!   stride dropped rows.
//! - Weight gradient: `shaders/conv2d_backward.wgsl`, one invocation per (block of output
//!   channels, input channel, kernel row) and batch slice, register-blocked over the taps of
//!   the row; then a sum over the slices (one reduce dispatch) when there is more than one.

use bytemuck::{Pod, Zeroable};

use crate::error::{Error, Result};
use crate::exec::{grid_1d, Cost, Recorder};
use crate::graph::{conv2d_shape, Conv2dAttrs};
use crate::ops::conv::{encode_conv2d, Conv2dParams};
use crate::ops::conv::{encode_conv_transpose2d, ConvTranspose2dParams};
use crate::ops::reduce::{encode_reduce, ReduceOp};
use crate::ops::{run_once, same_device, Activation};
use crate::shaders::{specialize, CONV2D_BACKWARD};
use crate::tensor::{DType, Tensor};

const WG: usize = 64;
/// Enough invocations to keep a GPU (or lavapipe's 8-wide lanes on every core) busy.
const TARGET_INVOCATIONS: usize = 16384;

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    n: u32,
    cin: u32,
    h: u32,
    w: u32,
    cout: u32,
    oh: u32,
    ow: u32,
    cin_g: u32,
    cout_g: u32,
    kh: u32,
    sh: u32,
    sw: u32,
    dh: u32,
    dw: u32,
    pad_t: u32,
    pad_l: u32,
    wsize: u32,
    items: u32,
    split: u32,
    per_split: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct FlipParams {
    total: u32,
    cout_g: u32,
    cin_g: u32,
    kh: u32,
    kw: u32,
    _p: [u32; 3],
}

/// Output channels per weight-gradient invocation for `cout_g` channels per group.
fn block_channels(cout_g: usize) -> usize {
    [8, 4, 2, 1]
        .into_iter()
        .find(|t| cout_g.is_multiple_of(*t))
        .unwrap_or(1)
}

/// The weight-gradient kernel specialised for `kw` taps per row and `to` output channels.
fn weight_source(kw: usize, to: usize) -> Result<String> {
    specialize(
        CONV2D_BACKWARD,
        &[("KW", format!("{kw}u")), ("TO", format!("{to}u"))],
    )
}

/// Every generated variant (what [`encode_conv2d_backward_weight`] builds), for the naga test.
pub fn all_variants() -> Vec<(String, String)> {
    let mut v = Vec::new();
    for kw in [1, 3, 5, 7] {
        for to in [1, 2, 4, 8] {
            if let Ok(src) = weight_source(kw, to) {
                v.push((format!("conv2d_backward.weight.kw{kw}.to{to}"), src));
            }
        }
    }
    v
}

fn check(op: &'static str, what: &str, t: &Tensor) -> Result<()> {
    if t.dtype() != DType::F32 {
        return Err(Error::UnsupportedDType {
            op,
            dtype: t.dtype(),
            hint: format!("{what} must be f32"),
        });
    }
    if t.rank() != 4 {
        return Err(Error::shape(
            op,
            format!("{what} must have rank 4, got shape {:?}", t.shape()),
        ));
    }
    Ok(())
}

fn contiguous(rec: &mut Recorder, t: &Tensor) -> Result<Tensor> {
    if t.is_contiguous() {
        Ok(t.clone())
    } else {
        crate::ops::elementwise::encode_fused(rec, &[t], &crate::ops::elementwise::Expr::Input(0))
    }
}

/// Checks that `dy` is the conv2d output of an input `xs` and weight `ws`.
fn check_dy(
    op: &'static str,
    xs: &[usize],
    ws: &[usize],
    dy: &[usize],
    a: &Conv2dAttrs,
) -> Result<()> {
    let y = conv2d_shape(xs, ws, None, a).map_err(|e| Error::shape(op, e.to_string()))?;
    if y != dy {
        return Err(Error::shape(
            op,
            format!("dy {dy:?} is not the conv2d output {y:?} of x {xs:?} and w {ws:?}"),
        ));
    }
    Ok(())
}

/// Gradient of conv2d with respect to its input `x` of shape `x_shape`, from `dy` and `w`.
pub fn conv2d_backward_input(
    dy: &Tensor,
    w: &Tensor,
    x_shape: &[usize],
    a: &Conv2dAttrs,
) -> Result<Tensor> {
    run_once(dy.device(), |rec| {
        encode_conv2d_backward_input(rec, dy, w, x_shape, a)
    })
}

/// Records [`conv2d_backward_input`] (one dispatch, plus copies of strided operands).
pub fn encode_conv2d_backward_input(
    rec: &mut Recorder,
    dy: &Tensor,
    w: &Tensor,
    x_shape: &[usize],
    a: &Conv2dAttrs,
) -> Result<Tensor> {
    const OP: &str = "conv2d_backward_input";
    same_device(OP, rec.device(), &[dy, w])?;
    check(OP, "dy", dy)?;
    check(OP, "weight", w)?;
    check_dy(OP, x_shape, w.shape(), dy.shape(), a)?;
    let dy = contiguous(rec, dy)?;
    let w = contiguous(rec, w)?;
    let (kh, kw) = (w.shape()[2], w.shape()[3]);
    let eff = |k: usize, ax: usize| a.dilation[ax] * (k - 1) + 1;
    let reach = [eff(kh, 0) - 1, eff(kw, 1) - 1];
    let pads_fit = (0..4).all(|i| a.padding[i] <= reach[i % 2]);
    if a.stride == [1, 1] && pads_fit {
        let dev = rec.device().clone();
        let (o, cin_g) = (w.shape()[0], w.shape()[1]);
        let cout_g = o / a.groups;
        let c = cin_g * a.groups;
        let wf = Tensor::empty(&dev, &[c, cout_g, kh, kw], DType::F32)?;
        let fp = FlipParams {
            total: wf.numel() as u32,
            cout_g: cout_g as u32,
            cin_g: cin_g as u32,
            kh: kh as u32,
            kw: kw as u32,
            _p: [0; 3],
        };
        let pipe = dev.kernel_pipeline("conv2d_backward.flip", "conv2d_backward.flip", || {
            Ok((CONV2D_BACKWARD.into(), "flip_weight".into()))
        })?;
        rec.dispatch(
            "conv2d_backward.flip",
            &pipe,
            &[w.buffer(), wf.buffer()],
            Some(bytemuck::bytes_of(&fp)),
            grid_1d(&dev, wf.numel().div_ceil(WG) as u64)?,
            Cost {
                flops: 0,
                bytes: 8 * wf.numel() as u64,
            },
        )?;
        let p = Conv2dParams {
            stride: [1, 1],
            padding: [
                reach[0] - a.padding[0],
                reach[1] - a.padding[1],
                reach[0] - a.padding[2],
                reach[1] - a.padding[3],
            ],
            dilation: a.dilation,
            groups: a.groups,
            activation: Activation::None,
        };
        let dx = encode_conv2d(rec, &dy, &wf, None, &p)?;
        rec.keep_alive(wf);
        debug_assert_eq!(dx.shape(), x_shape);
        return Ok(dx);
    }
    // Rows the forward stride skipped at the bottom/right come back as output padding.
    let rest = |ax: usize, k: usize| {
        let (i, lo, hi) = (x_shape[2 + ax], a.padding[ax], a.padding[2 + ax]);
        (i + lo + hi - eff(k, ax)) % a.stride[ax]
    };
    let p = ConvTranspose2dParams {
        stride: a.stride,
        padding: a.padding,
        output_padding: [rest(0, kh), rest(1, kw)],
        dilation: a.dilation,
        groups: a.groups,
        activation: Activation::None,
    };
    let dx = encode_conv_transpose2d(rec, &dy, &w, None, &p)?;
    debug_assert_eq!(dx.shape(), x_shape);
    Ok(dx)
}

/// Gradient of conv2d with respect to its weight of shape `w_shape`, from `x` and `dy`.
pub fn conv2d_backward_weight(
    x: &Tensor,
    dy: &Tensor,
    w_shape: &[usize],
    a: &Conv2dAttrs,
) -> Result<Tensor> {
    run_once(x.device(), |rec| {
        encode_conv2d_backward_weight(rec, x, dy, w_shape, a)
    })
}

/// Records [`conv2d_backward_weight`] (one dispatch, a second to sum batch slices).
pub fn encode_conv2d_backward_weight(
    rec: &mut Recorder,
    x: &Tensor,
    dy: &Tensor,
    w_shape: &[usize],
    a: &Conv2dAttrs,
) -> Result<Tensor> {
    const OP: &str = "conv2d_backward_weight";
    let dev = rec.device().clone();
    same_device(OP, &dev, &[x, dy])?;
    check(OP, "input", x)?;
    check(OP, "dy", dy)?;
    check_dy(OP, x.shape(), w_shape, dy.shape(), a)?;
    let x = contiguous(rec, x)?;
    let dy = contiguous(rec, dy)?;
    let (n, cin, h, wd) = (x.shape()[0], x.shape()[1], x.shape()[2], x.shape()[3]);
    let (cout, oh, ow) = (dy.shape()[1], dy.shape()[2], dy.shape()[3]);
    let (cin_g, kh, kw) = (w_shape[1], w_shape[2], w_shape[3]);
    let wsize: usize = w_shape.iter().product();
    if wsize == 0 {
        return Tensor::empty(&dev, w_shape, DType::F32);
    }
    let to = block_channels(cout / a.groups);
    let items = wsize / kw / to;
    let split = TARGET_INVOCATIONS.div_ceil(items).clamp(1, n.max(1));
    let per_split = n.max(1).div_ceil(split);
    let split = n.max(1).div_ceil(per_split);
    let partial = Tensor::empty(&dev, &[split, wsize], DType::F32)?;
    let params = Params {
        n: n as u32,
        cin: cin as u32,
        h: h as u32,
        w: wd as u32,
        cout: cout as u32,
        oh: oh as u32,
        ow: ow as u32,
        cin_g: cin_g as u32,
        cout_g: (cout / a.groups) as u32,
        kh: kh as u32,
        sh: a.stride[0] as u32,
        sw: a.stride[1] as u32,
        dh: a.dilation[0] as u32,
        dw: a.dilation[1] as u32,
        pad_t: a.padding[0] as u32,
        pad_l: a.padding[1] as u32,
        wsize: wsize as u32,
        items: items as u32,
        split: split as u32,
        per_split: per_split as u32,
    };
    let name = format!("conv2d_backward.weight.kw{kw}.to{to}");
    // The name determines the source: (kw, to) are its only constants.
    let pipe = dev.kernel_pipeline(&name, &name, || {
        Ok((weight_source(kw, to)?, "conv2d_backward_weight".into()))
    })?;
    let flops = 2 * (n * cout * oh * ow * cin_g * kh * kw) as u64;
    let bytes = 4 * (x.numel() + dy.numel() + split * wsize) as u64;
    rec.dispatch(
        &name,
        &pipe,
        &[x.buffer(), dy.buffer(), partial.buffer()],
        Some(bytemuck::bytes_of(&params)),
        grid_1d(&dev, (split * items).div_ceil(WG) as u64)?,
        Cost { flops, bytes },
    )?;
    rec.keep_alive(x);
    rec.keep_alive(dy);
    let dw = if split > 1 {
        let s = encode_reduce(rec, &partial, ReduceOp::Sum, Some(&[0]), false)?;
        rec.keep_alive(partial);
        s
    } else {
        partial
    };
    dw.reshape(w_shape)
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct PoolParams {
    planes: u32,
    h: u32,
    w: u32,
    oh: u32,
    ow: u32,
    kh: u32,
    kw: u32,
    sh: u32,
    sw: u32,
    dh: u32,
    dw: u32,
    pad_t: u32,
    pad_l: u32,
    pad_b: u32,
    pad_r: u32,
    kind: u32,
}

/// Gradient of 2-D pooling ([`crate::ops::pool::pool2d`]) with respect to its input `x`,
/// from `dy` (the pooled output's gradient). Max pooling routes each output's gradient to the
/// first maximum of its window; average pooling spreads it over the window's divisor.
pub fn pool2d_backward(
    x: &Tensor,
    dy: &Tensor,
    p: &crate::ops::pool::Pool2dParams,
) -> Result<Tensor> {
    run_once(x.device(), |rec| encode_pool2d_backward(rec, x, dy, p))
}

/// Records [`pool2d_backward`] (one dispatch, plus copies of strided operands).
pub fn encode_pool2d_backward(
    rec: &mut Recorder,
    x: &Tensor,
    dy: &Tensor,
    p: &crate::ops::pool::Pool2dParams,
) -> Result<Tensor> {
    use crate::ops::pool::{pool_out_len, PoolKind};
    const OP: &str = "pool2d_backward";
    let dev = rec.device().clone();
    same_device(OP, &dev, &[x, dy])?;
    check(OP, "input", x)?;
    check(OP, "dy", dy)?;
    let s = x.shape().to_vec();
    let len = |a: usize| {
        pool_out_len(
            s[2 + a],
            p.kernel[a],
            p.stride[a],
            p.padding[a],
            p.padding[2 + a],
            p.dilation[a],
            p.ceil_mode,
        )
    };
    let want = match (len(0), len(1)) {
        (Some(oh), Some(ow)) => vec![s[0], s[1], oh, ow],
        _ => {
            return Err(Error::shape(
                OP,
                format!("pooling {p:?} does not fit input {s:?}"),
            ))
        }
    };
    if dy.shape() != want.as_slice() {
        return Err(Error::shape(
            OP,
            format!(
                "dy {:?} is not the pooled shape {want:?} of input {s:?}",
                dy.shape()
            ),
        ));
    }
    let x = contiguous(rec, x)?;
    let dy = contiguous(rec, dy)?;
    let dx = Tensor::empty(&dev, &s, DType::F32)?;
    if dx.numel() == 0 {
        return Ok(dx);
    }
    let u = |v: usize| v as u32;
    let params = PoolParams {
        planes: u(s[0] * s[1]),
        h: u(s[2]),
        w: u(s[3]),
        oh: u(want[2]),
        ow: u(want[3]),
        kh: u(p.kernel[0]),
        kw: u(p.kernel[1]),
        sh: u(p.stride[0]),
        sw: u(p.stride[1]),
        dh: u(p.dilation[0]),
        dw: u(p.dilation[1]),
        pad_t: u(p.padding[0]),
        pad_l: u(p.padding[1]),
        pad_b: u(p.padding[2]),
        pad_r: u(p.padding[3]),
        kind: match p.kind {
            PoolKind::Max => 0,
            PoolKind::Avg => 1,
            PoolKind::AvgCountPad => 2,
        },
    };
    let pipe = dev.kernel_pipeline("pool2d_backward", "pool2d_backward", || {
        Ok((CONV2D_BACKWARD.into(), "pool2d_backward".into()))
    })?;
    let taps = (p.kernel[0] * p.kernel[1]) as u64;
    rec.dispatch(
        "pool2d_backward",
        &pipe,
        &[x.buffer(), dy.buffer(), dx.buffer()],
        Some(bytemuck::bytes_of(&params)),
        grid_1d(&dev, dx.numel().div_ceil(WG) as u64)?,
        Cost {
            // Each window that holds an element is rescanned (max) or divided (average).
            flops: dx.numel() as u64 * taps,
            bytes: 4 * (x.numel() + dy.numel() + dx.numel()) as u64,
        },
    )?;
    rec.keep_alive(x);
    rec.keep_alive(dy);
    Ok(dx)
}
