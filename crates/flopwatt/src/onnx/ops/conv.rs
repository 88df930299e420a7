//! Convolutions: `Conv` (1-D as 2-D over NC1L, and 2-D), `ConvTranspose`, and
//! `BatchNormalization`, either folded into the preceding Conv's weights at load
//! ([`fold_batch_norm`]) or lowered as a per-channel scale and shift. Also the spatial
//! attribute helpers that pooling shares.

use std::collections::HashMap;

use super::node_err;
use crate::error::Result;
use crate::graph::{Conv2dAttrs, Graph, ValueId};
use crate::onnx::to_graph::LowerCtx;
use crate::onnx::{Data, ElemType, Model, Node, TensorValue};
use crate::ops::conv::ConvTranspose2dParams;
use crate::ops::elementwise::UnaryOp;

/// A per-spatial-axis attribute (e.g. `strides`) of a 1-D or 2-D op as two ints: a 1-D op
/// (`one_d`) runs as 2-D with a leading axis of size 1, which gets `lead`.
pub(super) fn two(
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
pub(super) fn pads4(n: &Node, one_d: bool) -> std::result::Result<[usize; 4], String> {
    match n.attr_ints("pads") {
        None => Ok([0; 4]),
        Some(p) if p.iter().any(|&v| v < 0) => Err(format!("pads {p:?} must be non-negative")),
        Some([a, b]) if one_d => Ok([0, *a as usize, 0, *b as usize]),
        Some([a, b, c, d]) if !one_d => Ok([*a as usize, *b as usize, *c as usize, *d as usize]),
        Some(p) => Err(format!("pads {p:?} do not match the op's spatial rank")),
    }
}

/// Views a 1-D NCL value as NC1L (and says whether it did), so 1-D ops run on 2-D kernels.
pub(super) fn as_2d(g: &mut Graph, x: ValueId) -> Result<(ValueId, bool)> {
    let xs = g.shape(x).to_vec();
    if xs.len() == 3 {
        Ok((g.reshape(x, &[xs[0], xs[1], 1, xs[2]])?, true))
    } else {
        Ok((x, false))
    }
}

/// The inverse of [`as_2d`] on an op's NC1L result.
pub(super) fn back_1d(g: &mut Graph, y: ValueId, one_d: bool) -> Result<ValueId> {
    if one_d {
        let s = g.shape(y).to_vec();
        g.reshape(y, &[s[0], s[1], s[3]])
    } else {
        Ok(y)
    }
}

/// Pads (top, left, bottom, right) from `pads`, or from `auto_pad` once the spatial sizes
/// `hw` are known: `SAME_UPPER` / `SAME_LOWER` pad so that the output is `ceil(hw / stride)`,
/// the odd unit at the end / start; `VALID` pads nothing. `k` is the kernel, `s` the stride,
/// `d` the dilation (all in the 2-D view of a 1-D op).
pub(super) fn auto_pads(
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

fn groups(n: &Node) -> std::result::Result<usize, String> {
    let groups = n.attr_int("group").unwrap_or(1);
    if groups < 1 {
        return Err(format!("group {groups} must be positive"));
    }
    Ok(groups as usize)
}

pub(crate) fn conv(cx: &mut LowerCtx<'_>, n: &Node) -> Result<Vec<ValueId>> {
    let x = cx.input(n, 0)?;
    let w = cx.input(n, 1)?;
    let bias = cx.opt_input(n, 2)?;
    let y = if cx.g.shape(x).len() == 3 {
        conv1d(cx, n, x, w, bias)?
    } else {
        conv2d(cx, n, x, w, bias)?
    };
    Ok(vec![y])
}

/// 1-D (NCL) convolution as 2-D over NC1L.
fn conv1d(
    cx: &mut LowerCtx<'_>,
    n: &Node,
    x: ValueId,
    w: ValueId,
    bias: Option<ValueId>,
) -> Result<ValueId> {
    let err = node_err(n, cx.opset);
    let g = &mut cx.g;
    if g.shape(w).len() != 3 {
        return Err(err(format!(
            "1-D convolution needs NCL input and weight, got {:?} and {:?}",
            g.shape(x),
            g.shape(w)
        )));
    }
    let (x, _) = as_2d(g, x)?;
    let (w, _) = as_2d(g, w)?;
    let groups = groups(n).map_err(&err)?;
    let stride = two(n, "strides", Some([1, 1]), true, 1).map_err(&err)?;
    let dilation = two(n, "dilations", Some([1, 1]), true, 1).map_err(&err)?;
    let (xs, ws) = (g.shape(x).to_vec(), g.shape(w).to_vec());
    let attrs = Conv2dAttrs {
        stride,
        padding: auto_pads(n, [xs[2], xs[3]], [ws[2], ws[3]], stride, dilation, true)
            .map_err(&err)?,
        dilation,
        groups,
    };
    let y = g.conv2d(x, w, bias, attrs)?;
    back_1d(g, y, true)
}

fn conv2d(
    cx: &mut LowerCtx<'_>,
    n: &Node,
    x: ValueId,
    w: ValueId,
    bias: Option<ValueId>,
) -> Result<ValueId> {
    let err = node_err(n, cx.opset);
    if cx.g.shape(x).len() != 4 {
        return Err(err(format!(
            "only 2-D convolution (NCHW) is supported, input is {:?}",
            cx.g.shape(x)
        )));
    }
    let pair = |name: &str| -> Result<[usize; 2]> {
        match n.attr_ints(name) {
            None => Ok([1, 1]),
            Some([a, b]) if *a > 0 && *b > 0 => Ok([*a as usize, *b as usize]),
            Some(v) => Err(err(format!("{name} {v:?} must be two positive ints"))),
        }
    };
    let (stride, dilation) = (pair("strides")?, pair("dilations")?);
    let (xs, ws) = (cx.g.shape(x).to_vec(), cx.g.shape(w).to_vec());
    if ws.len() != 4 {
        return Err(err(format!(
            "weight {ws:?} must be 4-D (M, C/group, kH, kW)"
        )));
    }
    let padding =
        auto_pads(n, [xs[2], xs[3]], [ws[2], ws[3]], stride, dilation, false).map_err(&err)?;
    let groups = groups(n).map_err(&err)?;
    let attrs = Conv2dAttrs {
        stride,
        padding,
        dilation,
        groups,
    };
    cx.g.conv2d(x, w, bias, attrs)
}

pub(crate) fn conv_transpose(cx: &mut LowerCtx<'_>, n: &Node) -> Result<Vec<ValueId>> {
    let err = node_err(n, cx.opset);
    let x = cx.input(n, 0)?;
    let w = cx.input(n, 1)?;
    let bias = cx.opt_input(n, 2)?;
    let g = &mut cx.g;
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
    let stride = two(n, "strides", Some([1, 1]), one_d, 1).map_err(&err)?;
    let dil = two(n, "dilations", Some([1, 1]), one_d, 1).map_err(&err)?;
    if xs[2..].contains(&0) || ws[2..].contains(&0) || stride.contains(&0) || dil.contains(&0) {
        return Err(err(format!(
            "empty input {xs:?} or kernel {ws:?}, or zero stride/dilation"
        )));
    }
    let out_pad = two(n, "output_padding", Some([0, 0]), one_d, 0).map_err(&err)?;
    let groups = groups(n).map_err(&err)?;
    let sizes = TransposeSizes {
        xs: [xs[2], xs[3]],
        ks: [ws[2], ws[3]],
        stride,
        dil,
        out_pad,
    };
    let (padding, output_padding) = transpose_pads(n, &sizes, one_d).map_err(&err)?;
    let params = ConvTranspose2dParams {
        stride,
        padding,
        output_padding,
        dilation: dil,
        groups,
        activation: crate::ops::Activation::None,
    };
    let y = g.conv_transpose2d(x, w, bias, params)?;
    Ok(vec![back_1d(g, y, one_d)?])
}

/// The spatial sizes a ConvTranspose's padding follows from.
struct TransposeSizes {
    xs: [usize; 2],
    ks: [usize; 2],
    stride: [usize; 2],
    dil: [usize; 2],
    out_pad: [usize; 2],
}

/// ConvTranspose's (padding, output_padding): explicit `pads`, or fitted to `output_shape`
/// or SAME auto_pad (which fix the output size), or none for VALID.
fn transpose_pads(
    n: &Node,
    s: &TransposeSizes,
    one_d: bool,
) -> std::result::Result<([usize; 4], [usize; 2]), String> {
    let auto = n.attr_str("auto_pad").unwrap_or("NOTSET");
    let mut padding = pads4(n, one_d)?;
    let mut out_pad = s.out_pad;
    let full = |a: usize| s.stride[a] * (s.xs[a] - 1) + s.out_pad[a] + (s.ks[a] - 1) * s.dil[a] + 1;
    let target: Option<[usize; 2]> = match n.attr_ints("output_shape") {
        Some(t) if one_d && !t.is_empty() => Some([1, t[t.len() - 1].max(0) as usize]),
        Some(t) if !one_d && t.len() >= 2 => {
            let t = &t[t.len() - 2..];
            Some([t[0].max(0) as usize, t[1].max(0) as usize])
        }
        Some(t) => return Err(format!("output_shape {t:?} does not match the rank")),
        None if auto == "SAME_UPPER" || auto == "SAME_LOWER" => {
            Some([s.xs[0] * s.stride[0], s.xs[1] * s.stride[1]])
        }
        None => None,
    };
    let Some(t) = target else {
        if auto == "VALID" {
            padding = [0; 4];
        }
        return Ok((padding, out_pad));
    };
    let same = n.attr_ints("output_shape").is_none();
    for a in 0..2 {
        let f = full(a);
        if t[a] > f && same {
            // SAME's `in * stride` is a target the pads approach from above only: onnxruntime
            // and onnx's shape inference clamp the total pad at zero (output `f`), although
            // the spec's wording asks for `in * stride`.
            padding[a] = 0;
            padding[a + 2] = 0;
            continue;
        }
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
    Ok((padding, out_pad))
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

/// Inference BatchNormalization that was not folded into a Conv: constant statistics give
/// one scale and one shift per channel; run-time ones are applied as given.
pub(crate) fn batch_norm(cx: &mut LowerCtx<'_>, n: &Node) -> Result<Vec<ValueId>> {
    let err = node_err(n, cx.opset);
    if n.attr_int("training_mode").unwrap_or(0) != 0 {
        return Err(err(
            "training_mode=1 is not supported (inference only)".into()
        ));
    }
    let x = cx.input(n, 0)?;
    let xs = cx.g.shape(x).to_vec();
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
            cx.init(n, i)
                .map(TensorValue::to_f64_vec)
                .filter(|v| v.len() == c)
        })
        .collect();
    if let Some(p) = params {
        let (s, b) = bn_affine(&p[0], &p[1], &p[2], &p[3], eps);
        let g = &mut cx.g;
        let sv = g.constant(&format!("{}/scale", n.name), s, &pshape)?;
        let bv = g.constant(&format!("{}/shift", n.name), b, &pshape)?;
        let y = g.mul(x, sv)?;
        return Ok(vec![g.add(y, bv)?]);
    }
    let mut p = Vec::new();
    for i in 1..5 {
        let v = cx.input(n, i)?;
        if cx.g.shape(v) != [c] {
            return Err(err(format!(
                "parameter {i} has shape {:?}, expected [{c}]",
                cx.g.shape(v)
            )));
        }
        p.push(cx.g.reshape(v, &pshape)?);
    }
    let g = &mut cx.g;
    let ve = g.add_scalar(p[3], eps as f32)?;
    let inv = g.unary(ve, UnaryOp::Rsqrt)?;
    let d = g.sub(x, p[2])?;
    let y = g.mul(d, inv)?;
    let y = g.mul(y, p[0])?;
    Ok(vec![g.add(y, p[1])?])
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
    let mut out: Option<Model> = None;
    let mut removed = vec![false; model.nodes.len()];
    for (bi, bn) in model.nodes.iter().enumerate() {
        if bn.op_type != "BatchNormalization"
            || !bn.default_domain()
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
        let Some((w, b)) = folded_conv_params(model, conv, bn) else {
            continue;
        };
        let m = out.get_or_insert_with(|| model.clone());
        let (wn, bname) = (
            format!("{}/bn_folded_W", conv.name),
            format!("{}/bn_folded_B", conv.name),
        );
        m.initializers.insert(wn.clone(), w);
        m.initializers.insert(bname.clone(), b);
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

/// A conv's weight and bias with a batch norm applied, where its weight is a float32
/// constant and the norm's parameters and the conv's bias are float constants per channel.
fn folded_conv_params(model: &Model, conv: &Node, bn: &Node) -> Option<(TensorValue, TensorValue)> {
    let float = |name: Option<&str>| -> Option<Vec<f64>> {
        let t = model.initializers.get(name?)?;
        t.dtype.is_float().then(|| t.to_f64_vec())
    };
    let wt = model.initializers.get(conv.input(1)?)?;
    if wt.dtype != ElemType::Float || wt.shape.is_empty() {
        return None;
    }
    let co = wt.shape[0];
    let ps: Vec<Vec<f64>> = (1..5)
        .map(|i| float(bn.input(i)))
        .collect::<Option<_>>()
        .filter(|p: &Vec<Vec<f64>>| p.iter().all(|v| v.len() == co))?;
    let bias = match conv.input(2) {
        Some(b) => float(Some(b)).filter(|v| v.len() == co)?,
        None => vec![0.0; co],
    };
    let eps = bn.attr_float("epsilon").unwrap_or(1e-5) as f64;
    let s: Vec<f64> = (0..co)
        .map(|c| ps[0][c] / (ps[3][c] + eps).sqrt())
        .collect();
    let per = wt.numel() / co.max(1);
    let Data::F32(w) = &wt.data else { return None };
    let w2: Vec<f32> = w
        .iter()
        .enumerate()
        .map(|(i, &v)| (v as f64 * s[i / per]) as f32)
        .collect();
    let b2: Vec<f32> = (0..co)
        .map(|c| ((bias[c] - ps[2][c]) * s[c] + ps[1][c]) as f32)
        .collect();
    let w = TensorValue {
        dtype: ElemType::Float,
        shape: wt.shape.clone(),
        data: Data::F32(w2),
    };
    let b = TensorValue {
        dtype: ElemType::Float,
        shape: vec![co],
        data: Data::F32(b2),
    };
    Some((w, b))
}
