//! Lowering of the index, pooling, conv-transpose, batch-norm, resize and attention ops onto
//! the graph (the second half of [`super::to_graph`]), and the load-time folding of
//! BatchNormalization into a preceding Conv.

use std::collections::HashMap;

use super::{Data, ElemType, Model, Node, TensorValue};
use crate::error::Result;
use crate::graph::{Graph, ValueId};
use crate::ops::conv::ConvTranspose2dParams;
use crate::ops::elementwise::UnaryOp;
use crate::ops::gather::{slice_range, PadMode};
use crate::ops::pool::{Pool2dParams, PoolKind};
use crate::ops::resize::ResizeMode;
use crate::tensor::DType;

type Input<'a> = dyn FnMut(usize, &mut Graph) -> Result<ValueId> + 'a;

fn norm_axis(a: i64, r: usize) -> Option<usize> {
    let r = r as i64;
    let a = if a < 0 { a + r } else { a };
    (0..r).contains(&a).then_some(a as usize)
}

/// Lowers one node of the ops this module covers; returns its computed outputs in order.
pub(crate) fn lower(
    model: &Model,
    n: &Node,
    g: &mut Graph,
    input: &mut Input<'_>,
) -> Result<Vec<ValueId>> {
    let opset = model.opset;
    let err = |m: String| n.error(opset, m);
    let init = |i: usize| -> Option<&TensorValue> {
        n.input(i).and_then(|name| model.initializers.get(name))
    };
    let const_ints = |i: usize| init(i).map(|t| t.to_i64_vec());
    let need_ints = |i: usize, what: &str| -> Result<Vec<i64>> {
        const_ints(i).ok_or_else(|| err(format!("{what} (input {i}) must be a constant")))
    };
    let v = match n.op_type.as_str() {
        "Gather" => {
            let data = input(0, g)?;
            let idx = input(1, g)?;
            let r = g.shape(data).len();
            let a = n.attr_int("axis").unwrap_or(0);
            let a = norm_axis(a, r)
                .ok_or_else(|| err(format!("axis {a} out of range for rank {r}")))?;
            // Constant indices are checked here; run-time ones out of range read 0.
            if let Some(ix) = const_ints(1) {
                let len = g.shape(data)[a] as i64;
                if let Some(bad) = ix.iter().find(|&&i| i < -len || i >= len) {
                    return Err(err(format!(
                        "index {bad} out of range for axis {a} of {:?}",
                        g.shape(data)
                    )));
                }
            }
            g.gather(data, idx, a as isize)?
        }
        "Concat" => {
            let k = n.inputs.len();
            let xs: Vec<ValueId> = (0..k)
                .filter(|&i| n.input(i).is_some())
                .map(|i| input(i, g))
                .collect::<Result<_>>()?;
            let r = xs.first().map(|x| g.shape(*x).len()).unwrap_or(0);
            let a = n
                .attr_int("axis")
                .ok_or_else(|| err("axis attribute is required".into()))?;
            let a = norm_axis(a, r)
                .ok_or_else(|| err(format!("axis {a} out of range for rank {r}")))?;
            // Empty inputs contribute nothing (ONNX allows them); the kernel skips them anyway.
            g.concat(&xs, a as isize)?
        }
        "Slice" => {
            let x = input(0, g)?;
            let xs = g.shape(x).to_vec();
            let r = xs.len();
            let starts = need_ints(1, "starts")?;
            let ends = need_ints(2, "ends")?;
            let axes = match n.input(3) {
                Some(_) => need_ints(3, "axes")?,
                None => (0..starts.len() as i64).collect(),
            };
            let steps = match n.input(4) {
                Some(_) => need_ints(4, "steps")?,
                None => vec![1; starts.len()],
            };
            if ends.len() != starts.len()
                || axes.len() != starts.len()
                || steps.len() != starts.len()
            {
                return Err(err("starts, ends, axes and steps differ in length".into()));
            }
            let mut st = vec![0usize; r];
            let mut sp = vec![1isize; r];
            let mut cnt = xs.clone();
            let mut seen = vec![false; r];
            for k in 0..starts.len() {
                let a = norm_axis(axes[k], r)
                    .ok_or_else(|| err(format!("axis {} out of range for rank {r}", axes[k])))?;
                if std::mem::replace(&mut seen[a], true) {
                    return Err(err(format!("axis {a} repeated in {axes:?}")));
                }
                if steps[k] == 0 {
                    return Err(err("slice step is 0".into()));
                }
                let (s, c) = slice_range(xs[a], starts[k], ends[k], steps[k]);
                st[a] = if c == 0 { 0 } else { s };
                sp[a] = steps[k].clamp(-(1 << 30), 1 << 30) as isize;
                cnt[a] = c;
            }
            g.slice(x, &st, &sp, &cnt)?
        }
        "Split" => return split(model, n, g, input),
        "Pad" => {
            let x = input(0, g)?;
            let r = g.shape(x).len();
            let pads = if opset < 11 {
                n.attr_ints("pads").map(<[i64]>::to_vec)
            } else {
                const_ints(1)
            }
            .ok_or_else(|| err("pads must be a constant".into()))?;
            let axes: Vec<usize> = match n.input(3) {
                Some(_) => need_ints(3, "axes")?
                    .iter()
                    .map(|&a| {
                        norm_axis(a, r)
                            .ok_or_else(|| err(format!("axis {a} out of range for rank {r}")))
                    })
                    .collect::<Result<_>>()?,
                None => (0..r).collect(),
            };
            if pads.len() != 2 * axes.len() {
                return Err(err(format!(
                    "pads {pads:?} need 2 x {} entries",
                    axes.len()
                )));
            }
            let mut begin = vec![0isize; r];
            let mut end = vec![0isize; r];
            for (k, &a) in axes.iter().enumerate() {
                begin[a] = pads[k] as isize;
                end[a] = pads[k + axes.len()] as isize;
            }
            let value = match init(2) {
                Some(t) => t.to_f64_vec().first().copied().unwrap_or(0.0) as f32,
                None if n.input(2).is_some() => {
                    return Err(err("constant_value must be a constant".into()))
                }
                None => 0.0,
            };
            let mode = match n.attr_str("mode").unwrap_or("constant") {
                "constant" => PadMode::Constant(value),
                "reflect" => PadMode::Reflect,
                "edge" => PadMode::Edge,
                "wrap" => PadMode::Wrap,
                m => return Err(err(format!("pad mode `{m}` is not supported"))),
            };
            if mode == PadMode::Reflect {
                let xs = g.shape(x).to_vec();
                for d in 0..r {
                    if begin[d].max(end[d]) >= xs[d] as isize && (begin[d] > 0 || end[d] > 0) {
                        return Err(err(format!(
                            "reflect pads {pads:?} must be smaller than the dims of {xs:?}"
                        )));
                    }
                }
            }
            g.pad(x, &begin, &end, mode)?
        }
        "MaxPool" | "AveragePool" => {
            let x = input(0, g)?;
            if !matches!(g.shape(x).len(), 3 | 4) {
                return Err(err(format!(
                    "only 1-D and 2-D pooling (NCL, NCHW) is supported, input is {:?}",
                    g.shape(x)
                )));
            }
            let (x, one_d) = as_2d(g, x)?;
            let xs = g.shape(x).to_vec();
            let k = two(n, "kernel_shape", None, one_d, 1).map_err(err)?;
            let stride = two(n, "strides", Some([1, 1]), one_d, 1).map_err(err)?;
            let dil = two(n, "dilations", Some([1, 1]), one_d, 1).map_err(err)?;
            let ceil = n.attr_int("ceil_mode").unwrap_or(0) != 0;
            let padding = auto_pads(n, [xs[2], xs[3]], k, stride, dil, one_d).map_err(err)?;
            let kind = if n.op_type == "MaxPool" {
                if n.attr_int("storage_order").unwrap_or(0) != 0 {
                    // Only the Indices output depends on it, which flopwatt does not compute.
                }
                PoolKind::Max
            } else if n.attr_int("count_include_pad").unwrap_or(0) != 0 {
                PoolKind::AvgCountPad
            } else {
                PoolKind::Avg
            };
            let y = g.pool2d(
                x,
                Pool2dParams {
                    kind,
                    kernel: k,
                    stride,
                    padding,
                    dilation: dil,
                    ceil_mode: ceil,
                },
            )?;
            back_1d(g, y, one_d)?
        }
        "GlobalAveragePool" => {
            let x = input(0, g)?;
            let xs = g.shape(x).to_vec();
            if xs.len() == 4 {
                g.global_avg_pool(x)?
            } else if xs.len() >= 3 {
                let axes: Vec<isize> = (2..xs.len() as isize).collect();
                g.reduce(x, crate::graph::ReduceKind::Mean, Some(&axes), true)?
            } else {
                return Err(err(format!("input {xs:?} needs rank >= 3")));
            }
        }
        "ConvTranspose" => {
            let x = input(0, g)?;
            let w = input(1, g)?;
            let bias = if n.input(2).is_some() {
                Some(input(2, g)?)
            } else {
                None
            };
            let (rx, rw) = (g.shape(x).len(), g.shape(w).len());
            if !matches!((rx, rw), (3, 3) | (4, 4)) {
                return Err(err(format!(
                    "only 1-D and 2-D conv-transpose (NCL, NCHW) is supported, input {:?}, weight {:?}",
                    g.shape(x),
                    g.shape(w)
                )));
            }
            let (x, one_d) = as_2d(g, x)?;
            let (w, _) = as_2d(g, w)?;
            let (xs, ws) = (g.shape(x).to_vec(), g.shape(w).to_vec());
            let stride = two(n, "strides", Some([1, 1]), one_d, 1).map_err(err)?;
            let dil = two(n, "dilations", Some([1, 1]), one_d, 1).map_err(err)?;
            if xs[2..].contains(&0)
                || ws[2..].contains(&0)
                || stride.contains(&0)
                || dil.contains(&0)
            {
                return Err(err(format!(
                    "empty input {xs:?} or kernel {ws:?}, or zero stride/dilation"
                )));
            }
            let mut out_pad = two(n, "output_padding", Some([0, 0]), one_d, 0).map_err(err)?;
            let groups = n.attr_int("group").unwrap_or(1);
            if groups < 1 {
                return Err(err(format!("group {groups} must be positive")));
            }
            let auto = n.attr_str("auto_pad").unwrap_or("NOTSET");
            let mut padding = pads4(n, one_d).map_err(err)?;
            let op0 = out_pad;
            let full =
                |a: usize| stride[a] * (xs[2 + a] - 1) + op0[a] + (ws[2 + a] - 1) * dil[a] + 1;
            let target: Option<[usize; 2]> = match n.attr_ints("output_shape") {
                Some(s) if one_d && !s.is_empty() => Some([1, s[s.len() - 1].max(0) as usize]),
                Some(s) if !one_d && s.len() >= 2 => {
                    let s = &s[s.len() - 2..];
                    Some([s[0].max(0) as usize, s[1].max(0) as usize])
                }
                Some(s) => return Err(err(format!("output_shape {s:?} does not match the rank"))),
                None if auto == "SAME_UPPER" || auto == "SAME_LOWER" => {
                    Some([xs[2] * stride[0], xs[3] * stride[1]])
                }
                None => None,
            };
            if let Some(t) = target {
                for a in 0..2 {
                    let f = full(a);
                    if t[a] > f {
                        // The missing rows come from output_padding (ONNX puts them at the end).
                        out_pad[a] += t[a] - f;
                        padding[a] = 0;
                        padding[a + 2] = 0;
                        continue;
                    }
                    let total = f - t[a];
                    let (lo, hi) = if auto == "SAME_UPPER" {
                        (total / 2, total - total / 2)
                    } else {
                        (total - total / 2, total / 2)
                    };
                    padding[a] = lo;
                    padding[a + 2] = hi;
                }
            } else if auto == "VALID" {
                padding = [0; 4];
            }
            let y = g.conv_transpose2d(
                x,
                w,
                bias,
                ConvTranspose2dParams {
                    stride,
                    padding,
                    output_padding: out_pad,
                    dilation: dil,
                    groups: groups as usize,
                    activation: crate::ops::Activation::None,
                },
            )?;
            back_1d(g, y, one_d)?
        }
        "BatchNormalization" => {
            if n.attr_int("training_mode").unwrap_or(0) != 0 {
                return Err(err(
                    "training_mode=1 is not supported (inference only)".into()
                ));
            }
            let x = input(0, g)?;
            let xs = g.shape(x).to_vec();
            if xs.len() < 2 {
                return Err(err(format!("input {xs:?} needs a channel axis")));
            }
            let c = xs[1];
            let eps = n.attr_float("epsilon").unwrap_or(1e-5) as f64;
            let pshape: Vec<usize> = std::iter::once(c)
                .chain(std::iter::repeat_n(1, xs.len() - 2))
                .collect();
            let params: Option<Vec<Vec<f64>>> = (1..5)
                .map(|i| {
                    init(i)
                        .map(TensorValue::to_f64_vec)
                        .filter(|v| v.len() == c)
                })
                .collect();
            match params {
                Some(p) => {
                    // Constant statistics: one scale and one shift per channel.
                    let (s, b) = bn_affine(&p[0], &p[1], &p[2], &p[3], eps);
                    let sv = g.constant(&format!("{}/scale", n.name), s, &pshape)?;
                    let bv = g.constant(&format!("{}/shift", n.name), b, &pshape)?;
                    let y = g.mul(x, sv)?;
                    g.add(y, bv)?
                }
                None => {
                    let mut p = Vec::new();
                    for i in 1..5 {
                        let v = input(i, g)?;
                        if g.shape(v) != [c] {
                            return Err(err(format!(
                                "parameter {i} has shape {:?}, expected [{c}]",
                                g.shape(v)
                            )));
                        }
                        p.push(g.reshape(v, &pshape)?);
                    }
                    let ve = g.add_scalar(p[3], eps as f32)?;
                    let inv = g.unary(ve, UnaryOp::Rsqrt)?;
                    let d = g.sub(x, p[2])?;
                    let y = g.mul(d, inv)?;
                    let y = g.mul(y, p[0])?;
                    g.add(y, p[1])?
                }
            }
        }
        "Conv" => {
            // 1-D (NCL) convolution as 2-D over NC1L; 2-D convs are lowered in `to_graph`.
            let x = input(0, g)?;
            let w = input(1, g)?;
            let bias = if n.input(2).is_some() {
                Some(input(2, g)?)
            } else {
                None
            };
            if g.shape(x).len() != 3 || g.shape(w).len() != 3 {
                return Err(err(format!(
                    "1-D convolution needs NCL input and weight, got {:?} and {:?}",
                    g.shape(x),
                    g.shape(w)
                )));
            }
            if n.attr_str("auto_pad").is_some_and(|p| p != "NOTSET") {
                return Err(err(
                    "auto_pad other than NOTSET is not supported; export with explicit pads".into(),
                ));
            }
            let (x, _) = as_2d(g, x)?;
            let (w, _) = as_2d(g, w)?;
            let groups = n.attr_int("group").unwrap_or(1);
            if groups < 1 {
                return Err(err(format!("group {groups} must be positive")));
            }
            let y = g.conv2d(
                x,
                w,
                bias,
                crate::graph::Conv2dAttrs {
                    stride: two(n, "strides", Some([1, 1]), true, 1).map_err(err)?,
                    padding: pads4(n, true).map_err(err)?,
                    dilation: two(n, "dilations", Some([1, 1]), true, 1).map_err(err)?,
                    groups: groups as usize,
                },
            )?;
            back_1d(g, y, true)?
        }
        "Resize" => resize(model, n, g, input)?,
        "Attention" => return attention(model, n, g, input),
        other => return Err(err(format!("{other} is not lowered onto the graph yet"))),
    };
    Ok(vec![v])
}

/// Per-channel (scale, shift) of inference batch norm.
fn bn_affine(
    gamma: &[f64],
    beta: &[f64],
    mean: &[f64],
    var: &[f64],
    eps: f64,
) -> (Vec<f32>, Vec<f32>) {
    let s: Vec<f64> = (0..gamma.len())
        .map(|c| gamma[c] / (var[c] + eps).sqrt())
        .collect();
    let b: Vec<f32> = (0..gamma.len())
        .map(|c| (beta[c] - mean[c] * s[c]) as f32)
        .collect();
    (s.iter().map(|&v| v as f32).collect(), b)
}

/// A per-spatial-axis attribute (e.g. `strides`) of a 1-D or 2-D op as two ints: a 1-D op
/// (`one_d`) runs as 2-D with a leading axis of size 1, which gets `lead`.
fn two(
    n: &Node,
    name: &str,
    default: Option<[usize; 2]>,
    one_d: bool,
    lead: usize,
) -> std::result::Result<[usize; 2], String> {
    match (n.attr_ints(name), default) {
        (None, Some(d)) => Ok(d),
        (None, None) => Err(format!("attribute {name} is required")),
        (Some([a]), _) if one_d && *a >= 0 => Ok([lead, *a as usize]),
        (Some([a, b]), _) if !one_d && *a >= 0 && *b >= 0 => Ok([*a as usize, *b as usize]),
        (Some(v), _) => Err(format!(
            "{name} {v:?} must be {} non-negative int(s) (1-D and 2-D only)",
            if one_d { 1 } else { 2 }
        )),
    }
}

/// Explicit `pads` of a 1-D or 2-D op as (top, left, bottom, right).
fn pads4(n: &Node, one_d: bool) -> std::result::Result<[usize; 4], String> {
    match n.attr_ints("pads") {
        None => Ok([0; 4]),
        Some(p) if p.iter().any(|&v| v < 0) => Err(format!("pads {p:?} must be non-negative")),
        Some([a, b]) if one_d => Ok([0, *a as usize, 0, *b as usize]),
        Some([a, b, c, d]) if !one_d => Ok([*a as usize, *b as usize, *c as usize, *d as usize]),
        Some(p) => Err(format!("pads {p:?} do not match the op's spatial rank")),
    }
}

/// Views a 1-D NCL value as NC1L (and says whether it did), so 1-D ops run on 2-D kernels.
fn as_2d(g: &mut Graph, x: ValueId) -> Result<(ValueId, bool)> {
    let xs = g.shape(x).to_vec();
    if xs.len() == 3 {
        Ok((g.reshape(x, &[xs[0], xs[1], 1, xs[2]])?, true))
    } else {
        Ok((x, false))
    }
}

/// The inverse of [`as_2d`] on an op's NC1L result.
fn back_1d(g: &mut Graph, y: ValueId, one_d: bool) -> Result<ValueId> {
    if one_d {
        let s = g.shape(y).to_vec();
        g.reshape(y, &[s[0], s[1], s[3]])
    } else {
        Ok(y)
    }
}

/// Pooling pads from `pads` or `auto_pad` (SAME_UPPER / SAME_LOWER / VALID).
fn auto_pads(
    n: &Node,
    hw: [usize; 2],
    k: [usize; 2],
    s: [usize; 2],
    d: [usize; 2],
    one_d: bool,
) -> std::result::Result<[usize; 4], String> {
    match n.attr_str("auto_pad").unwrap_or("NOTSET") {
        "NOTSET" | "" => pads4(n, one_d),
        "VALID" => Ok([0; 4]),
        m @ ("SAME_UPPER" | "SAME_LOWER") => {
            let mut p = [0; 4];
            for a in 0..2 {
                if s[a] == 0 || hw[a] == 0 {
                    return Err("zero stride or empty input".into());
                }
                let out = hw[a].div_ceil(s[a]);
                let span = d[a] * k[a].saturating_sub(1) + 1;
                let total = ((out - 1) * s[a] + span).saturating_sub(hw[a]);
                let (lo, hi) = if m == "SAME_UPPER" {
                    (total / 2, total - total / 2)
                } else {
                    (total - total / 2, total / 2)
                };
                p[a] = lo;
                p[a + 2] = hi;
            }
            Ok(p)
        }
        m => Err(format!("auto_pad `{m}` is not supported")),
    }
}

fn split(model: &Model, n: &Node, g: &mut Graph, input: &mut Input<'_>) -> Result<Vec<ValueId>> {
    let err = |m: String| n.error(model.opset, m);
    let x = input(0, g)?;
    let xs = g.shape(x).to_vec();
    let r = xs.len();
    let a = n.attr_int("axis").unwrap_or(0);
    let a = norm_axis(a, r).ok_or_else(|| err(format!("axis {a} out of range for rank {r}")))?;
    let k = n.outputs.len();
    let sizes: Vec<usize> = match n
        .input(1)
        .and_then(|name| model.initializers.get(name))
        .map(|t| t.to_i64_vec())
        .or_else(|| n.attr_ints("split").map(<[i64]>::to_vec))
    {
        Some(s) => {
            if s.iter().any(|&v| v < 0) || s.iter().sum::<i64>() != xs[a] as i64 {
                return Err(err(format!(
                    "split {s:?} does not sum to dim {} of {xs:?}",
                    xs[a]
                )));
            }
            s.iter().map(|&v| v as usize).collect()
        }
        None if n.input(1).is_some() => return Err(err("split sizes must be a constant".into())),
        None => {
            let parts = n.attr_int("num_outputs").map(|v| v as usize).unwrap_or(k);
            if parts == 0 {
                return Err(err("zero outputs".into()));
            }
            // Equal chunks of ceil(dim / parts); the last one takes the remainder.
            let chunk = xs[a].div_ceil(parts);
            (0..parts)
                .map(|i| chunk.min(xs[a].saturating_sub(i * chunk)))
                .collect()
        }
    };
    let mut outs = Vec::new();
    let mut at = 0;
    for sz in sizes {
        let mut st = vec![0; r];
        let mut cnt = xs.clone();
        st[a] = if sz == 0 { 0 } else { at };
        cnt[a] = sz;
        outs.push(g.slice(x, &st, &vec![1; r], &cnt)?);
        at += sz;
    }
    Ok(outs)
}

fn resize(model: &Model, n: &Node, g: &mut Graph, input: &mut Input<'_>) -> Result<ValueId> {
    let err = |m: String| n.error(model.opset, m);
    let x = input(0, g)?;
    let xs = g.shape(x).to_vec();
    if xs.len() != 4 {
        return Err(err(format!(
            "only NCHW resize is supported, input is {xs:?}"
        )));
    }
    if n.attr_ints("axes").is_some() {
        return Err(err("the axes attribute is not supported".into()));
    }
    let init = |i: usize| n.input(i).and_then(|name| model.initializers.get(name));
    let scales = init(2)
        .map(TensorValue::to_f64_vec)
        .filter(|v| !v.is_empty());
    let sizes = init(3)
        .map(TensorValue::to_i64_vec)
        .filter(|v| !v.is_empty());
    let out: Vec<usize> = match (&scales, &sizes) {
        (_, Some(s)) if s.len() == 4 => s.iter().map(|&v| v.max(0) as usize).collect(),
        (Some(s), None) if s.len() == 4 => xs
            .iter()
            .zip(s)
            .map(|(&d, &f)| (d as f64 * f).floor() as usize)
            .collect(),
        _ => return Err(err("scales or sizes must be a constant of 4 values".into())),
    };
    if out[0] != xs[0] || out[1] != xs[1] {
        return Err(err(format!(
            "only H and W may be resized ({xs:?} -> {out:?})"
        )));
    }
    if let Some(s) = &scales {
        // The kernels map coordinates with in/out; ONNX uses the given scale, equal only
        // when the scale is exactly out/in.
        for a in 2..4 {
            if (s[a] * xs[a] as f64 - out[a] as f64).abs() > 1e-9 {
                return Err(err(format!(
                    "scale {} does not map {} to a whole size",
                    s[a], xs[a]
                )));
            }
        }
    }
    if n.attr_str("keep_aspect_ratio_policy")
        .is_some_and(|p| p != "stretch")
        && sizes.is_some()
    {
        return Err(err(
            "keep_aspect_ratio_policy other than stretch is not supported".into(),
        ));
    }
    let mode = n.attr_str("mode").unwrap_or("nearest");
    let ctm = n
        .attr_str("coordinate_transformation_mode")
        .unwrap_or("half_pixel");
    let m = match mode {
        "nearest"
            if ctm == "asymmetric"
                && n.attr_str("nearest_mode").unwrap_or("round_prefer_floor") == "floor" =>
        {
            ResizeMode::Nearest
        }
        "linear"
            if n.attr_int("antialias").unwrap_or(0) == 0
                && (ctm == "half_pixel"
                    || (ctm == "pytorch_half_pixel" && out[2] > 1 && out[3] > 1)) =>
        {
            ResizeMode::Linear
        }
        _ => {
            return Err(err(format!(
                "mode {mode} with coordinate_transformation_mode {ctm} is not supported \
                 (nearest: asymmetric + floor; linear: half_pixel, no antialias)"
            )))
        }
    };
    g.resize2d(x, [out[2], out[3]], m)
}

/// ONNX Attention (opset 23): the fused attention op when there is no mask, no past KV and no
/// softcap; otherwise composed from matmul, softmax and elementwise ops.
fn attention(
    model: &Model,
    n: &Node,
    g: &mut Graph,
    input: &mut Input<'_>,
) -> Result<Vec<ValueId>> {
    let err = |m: String| n.error(model.opset, m);
    let mut q = input(0, g)?;
    let mut k = input(1, g)?;
    let mut v = input(2, g)?;
    if n.input(4).is_some() != n.input(5).is_some() {
        return Err(err("past_key and past_value come together".into()));
    }
    let wants_qk = n.outputs.get(3).is_some_and(|o| !o.is_empty());
    let qk_mode = n.attr_int("qk_matmul_output_mode").unwrap_or(0);
    if !(0..=3).contains(&qk_mode) {
        return Err(err(format!("qk_matmul_output_mode {qk_mode} is not 0..3")));
    }
    let ranks = [g.shape(q).len(), g.shape(k).len(), g.shape(v).len()];
    if ranks != [3, 3, 3] && ranks != [4, 4, 4] {
        return Err(err(format!(
            "q, k and v must all be 3-D or all 4-D, got ranks {ranks:?}"
        )));
    }
    let three = ranks[0] == 3;
    let batch = g.shape(q)[0];
    if three {
        let hq = n.attr_int("q_num_heads").unwrap_or(0) as usize;
        let hk = n.attr_int("kv_num_heads").unwrap_or(0) as usize;
        if hq == 0 || hk == 0 {
            return Err(err("3-D inputs need q_num_heads and kv_num_heads".into()));
        }
        let split_heads = |g: &mut Graph, t: ValueId, h: usize| -> Result<ValueId> {
            let s = g.shape(t).to_vec();
            if !s[2].is_multiple_of(h) {
                return Err(err(format!(
                    "hidden size {} is not a multiple of {h} heads",
                    s[2]
                )));
            }
            let r = g.reshape(t, &[s[0], s[1], h, s[2] / h])?;
            g.transpose(r, 1, 2)
        };
        q = split_heads(g, q, hq)?;
        k = split_heads(g, k, hk)?;
        v = split_heads(g, v, hk)?;
    }
    // A KV cache: the past keys and values ([B, Hkv, past, D]) come before this step's, and
    // the concatenations are the present_key / present_value outputs.
    let mut past = 0;
    if n.input(4).is_some() {
        let pk = input(4, g)?;
        past = g.shape(pk).get(2).copied().unwrap_or(0);
        let pv = input(5, g)?;
        k = g.concat(&[pk, k], 2)?;
        v = g.concat(&[pv, v], 2)?;
    }
    let (qs, ks, vs) = (
        g.shape(q).to_vec(),
        g.shape(k).to_vec(),
        g.shape(v).to_vec(),
    );
    if qs.len() != 4 || ks.len() != 4 || vs.len() != 4 || qs[3] != ks[3] || ks[2] != vs[2] {
        return Err(err(format!(
            "q {qs:?}, k {ks:?}, v {vs:?} do not form attention"
        )));
    }
    if ks[1] == 0 || !qs[1].is_multiple_of(ks[1]) || vs[1] != ks[1] {
        return Err(err(format!(
            "q heads {} are not a multiple of kv heads {}",
            qs[1], ks[1]
        )));
    }
    let causal = n.attr_int("is_causal").unwrap_or(0) != 0;
    let scale = n.attr_float("scale");
    let softcap = n.attr_float("softcap").unwrap_or(0.0);
    let mask = n.input(3).is_some();
    let mut qk_out = None;
    // The fused kernel's causal mask is top-left aligned; with a KV cache ONNX shifts it by
    // the past length, which the composed path applies.
    let nonpad = n.input(6).is_some();
    let cached_causal = causal && past > 0;
    let fused_ok =
        !(mask || nonpad || wants_qk || cached_causal || softcap != 0.0 || vs[3] != qs[3]);
    let y = if fused_ok {
        g.attention(q, k, v, causal, scale)?
    } else {
        // Grouped heads: q [B, Hkv, G * Sq, D] against k [B, Hkv, Sk, D].
        let (b, h, sq, d) = (qs[0], qs[1], qs[2], qs[3]);
        let (hk, sk, dv) = (ks[1], ks[2], vs[3]);
        let grp = h / hk;
        let q5 = g.reshape(q, &[b, hk, grp * sq, d])?;
        let kt = g.transpose(k, 2, 3)?;
        let s = g.matmul(q5, kt)?;
        let s = g.scale(s, scale.unwrap_or(1.0 / (d as f32).sqrt()))?;
        let mut s = g.reshape(s, &[b, hk, grp, sq, sk])?;
        if softcap > 0.0 {
            let t = g.scale(s, 1.0 / softcap)?;
            let t = g.activation(t, crate::ops::Activation::Tanh)?;
            s = g.scale(t, softcap)?;
        }
        let s_cap = s;
        if mask {
            let m = input(3, g)?;
            let mut m = if g.dtype(m) == DType::I32 {
                // Boolean mask: true keeps, false masks out.
                let mf = g.cast(m, DType::F32)?;
                let zero = g.scalar(0.0);
                let ninf = g.scalar(f32::NEG_INFINITY);
                g.where_(mf, zero, ninf)?
            } else {
                m
            };
            // A mask shorter than the keys (a KV cache grown past it) masks the rest out.
            let mut ms = g.shape(m).to_vec();
            let r = ms.len();
            if r > 0 && ms[r - 1] < sk {
                let mut end = vec![0isize; r];
                end[r - 1] = (sk - ms[r - 1]) as isize;
                m = g.pad(m, &vec![0; r], &end, PadMode::Constant(f32::NEG_INFINITY))?;
                ms = g.shape(m).to_vec();
            }
            // The mask broadcasts to [B, H, Sq, Sk]; give it the grouped layout.
            let full = crate::tensor::broadcast_shapes(&ms, &[b, h, sq, sk]).ok_or_else(|| {
                err(format!(
                    "mask {ms:?} does not broadcast to {:?}",
                    [b, h, sq, sk]
                ))
            })?;
            let mb = g.broadcast_to(m, &full)?;
            let mb = g.reshape(mb, &[b, hk, grp, sq, sk])?;
            s = g.add(s, mb)?;
        }
        if nonpad {
            // Keys at or after each batch row's valid length are masked out.
            let lens = input(6, g)?;
            let lens = g.cast(lens, DType::F32)?;
            let lens = g.reshape(lens, &[b, 1, 1, 1, 1])?;
            let pos: Vec<f32> = (0..sk).map(|j| j as f32).collect();
            let pos = g.constant(&format!("{}/positions", n.name), pos, &[sk])?;
            let keep = g.binary(pos, lens, crate::ops::elementwise::BinaryOp::Lt)?;
            let zero = g.scalar(0.0);
            let ninf = g.scalar(f32::NEG_INFINITY);
            let pm = g.where_(keep, zero, ninf)?;
            s = g.add(s, pm)?;
        }
        if causal {
            let data: Vec<f32> = (0..sq * sk)
                .map(|e| {
                    if e % sk <= e / sk + past {
                        0.0
                    } else {
                        f32::NEG_INFINITY
                    }
                })
                .collect();
            let cm = g.constant(&format!("{}/causal", n.name), data, &[sq, sk])?;
            s = g.add(s, cm)?;
        }
        let p5 = g.softmax(s, -1)?;
        if wants_qk {
            // Mode 0 and 1: the (softcapped) scaled scores; 2: with the mask; 3: softmax.
            let pick = match qk_mode {
                0 | 1 => s_cap,
                2 => s,
                _ => p5,
            };
            qk_out = Some(g.reshape(pick, &[b, h, sq, sk])?);
        }
        let p = g.reshape(p5, &[b, hk, grp * sq, sk])?;
        let o = g.matmul(p, v)?;
        g.reshape(o, &[b, h, sq, dv])?
    };
    let y = if three {
        let s = g.shape(y).to_vec();
        let t = g.transpose(y, 1, 2)?;
        g.reshape(t, &[batch, s[2], s[1] * s[3]])?
    } else {
        y
    };
    let mut outs = vec![y, k, v];
    outs.extend(qk_out);
    Ok(outs)
}

/// Folds every inference `BatchNormalization` whose input is a `Conv` output read by nothing
/// else into that conv (W' = W * s, B' = (B - mean) * s + beta with s = gamma / sqrt(var +
/// eps)), when all the parameters are constants. Returns the rewritten model, or `None` when
/// there was nothing to fold.
pub fn fold_batch_norm(model: &Model) -> Option<Model> {
    let mut uses: HashMap<&str, usize> = HashMap::new();
    for n in &model.nodes {
        for i in &n.inputs {
            *uses.entry(i.as_str()).or_default() += 1;
        }
    }
    for o in &model.outputs {
        *uses.entry(o.name.as_str()).or_default() += 1;
    }
    let producer: HashMap<&str, usize> = model
        .nodes
        .iter()
        .enumerate()
        .flat_map(|(i, n)| n.outputs.iter().map(move |o| (o.as_str(), i)))
        .collect();
    let float = |name: Option<&str>| -> Option<Vec<f64>> {
        let t = model.initializers.get(name?)?;
        t.dtype.is_float().then(|| t.to_f64_vec())
    };
    let mut out: Option<Model> = None;
    let mut removed = vec![false; model.nodes.len()];
    for (bi, bn) in model.nodes.iter().enumerate() {
        if bn.op_type != "BatchNormalization"
            || !(bn.domain.is_empty() || bn.domain == "ai.onnx")
            || bn.attr_int("training_mode").unwrap_or(0) != 0
            || bn.outputs.iter().skip(1).any(|o| !o.is_empty())
        {
            continue;
        }
        let Some(x) = bn.input(0) else { continue };
        let Some(&ci) = producer.get(x) else { continue };
        let conv = &model.nodes[ci];
        if conv.op_type != "Conv" || uses.get(x) != Some(&1) || removed[ci] {
            continue;
        }
        let Some(wt) = conv.input(1).and_then(|w| model.initializers.get(w)) else {
            continue;
        };
        if wt.dtype != ElemType::Float || wt.shape.is_empty() {
            continue;
        }
        let co = wt.shape[0];
        let ps: Option<Vec<Vec<f64>>> = (1..5).map(|i| float(bn.input(i))).collect();
        let Some(ps) = ps.filter(|p| p.iter().all(|v| v.len() == co)) else {
            continue;
        };
        let bias = match conv.input(2) {
            Some(b) => match float(Some(b)) {
                Some(v) if v.len() == co => v,
                _ => continue,
            },
            None => vec![0.0; co],
        };
        let eps = bn.attr_float("epsilon").unwrap_or(1e-5) as f64;
        let s: Vec<f64> = (0..co)
            .map(|c| ps[0][c] / (ps[3][c] + eps).sqrt())
            .collect();
        let per = wt.numel() / co.max(1);
        let Data::F32(w) = &wt.data else { continue };
        let w2: Vec<f32> = w
            .iter()
            .enumerate()
            .map(|(i, &v)| (v as f64 * s[i / per]) as f32)
            .collect();
        let b2: Vec<f32> = (0..co)
            .map(|c| ((bias[c] - ps[2][c]) * s[c] + ps[1][c]) as f32)
            .collect();
        let m = out.get_or_insert_with(|| model.clone());
        let (wn, bname) = (
            format!("{}/bn_folded_W", conv.name),
            format!("{}/bn_folded_B", conv.name),
        );
        m.initializers.insert(
            wn.clone(),
            TensorValue {
                dtype: ElemType::Float,
                shape: wt.shape.clone(),
                data: Data::F32(w2),
            },
        );
        m.initializers.insert(
            bname.clone(),
            TensorValue {
                dtype: ElemType::Float,
                shape: vec![co],
                data: Data::F32(b2),
            },
        );
        let c = &mut m.nodes[ci];
        c.inputs = vec![c.inputs[0].clone(), wn, bname];
        c.outputs[0] = bn.outputs[0].clone();
        removed[bi] = true;
    }
    let mut m = out?;
    let mut i = 0;
    m.nodes.retain(|_| {
        i += 1;
        !removed[i - 1]
    });
    Some(m)
}
