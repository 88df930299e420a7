//! Normalisations: `Softmax`, `LogSoftmax`, `LayerNormalization`, `RMSNormalization`.

use super::node_err;
use crate::error::Result;
use crate::graph::{ReduceKind, ValueId};
use crate::onnx::to_graph::LowerCtx;
use crate::onnx::Node;
use crate::ops::elementwise::UnaryOp;

/// Before opset 13 the default axis is 1 and the op flattens around it, which only matches
/// a plain softmax over the last axis.
fn softmax_axis(cx: &mut LowerCtx<'_>, n: &Node) -> Result<(ValueId, isize)> {
    let opset = cx.opset;
    let x = cx.input(n, 0)?;
    let axis = n
        .attr_int("axis")
        .unwrap_or(if opset >= 13 { -1 } else { 1 }) as isize;
    if opset < 13 && axis != cx.g.shape(x).len() as isize - 1 && axis != -1 {
        return Err(n.error(
            opset,
            "opset < 13 Softmax over a non-last axis flattens; not supported",
        ));
    }
    Ok((x, axis))
}

pub(crate) fn softmax(cx: &mut LowerCtx<'_>, n: &Node) -> Result<Vec<ValueId>> {
    let (x, axis) = softmax_axis(cx, n)?;
    Ok(vec![cx.g.softmax(x, axis)?])
}

pub(crate) fn log_softmax(cx: &mut LowerCtx<'_>, n: &Node) -> Result<Vec<ValueId>> {
    let (x, axis) = softmax_axis(cx, n)?;
    Ok(vec![cx.g.log_softmax(x, axis)?])
}

/// The input, normalised axes `a..r`, epsilon and scale shared by both norms.
struct NormArgs {
    x: ValueId,
    a: i64,
    r: i64,
    eps: f32,
    gamma: Option<ValueId>,
}

fn norm_args(cx: &mut LowerCtx<'_>, n: &Node) -> Result<NormArgs> {
    let err = node_err(n, cx.opset);
    let x = cx.input(n, 0)?;
    let r = cx.g.shape(x).len() as i64;
    let axis = n.attr_int("axis").unwrap_or(-1);
    let a = if axis < 0 { axis + r } else { axis };
    if !(0..r).contains(&a) {
        return Err(err(format!("axis {axis} out of range for rank {r}")));
    }
    let eps = n.attr_float("epsilon").unwrap_or(1e-5);
    let gamma = cx.opt_input(n, 1)?;
    Ok(NormArgs {
        x,
        a,
        r,
        eps,
        gamma,
    })
}

pub(crate) fn layer_norm(cx: &mut LowerCtx<'_>, n: &Node) -> Result<Vec<ValueId>> {
    let NormArgs {
        x,
        a,
        r,
        eps,
        gamma,
    } = norm_args(cx, n)?;
    let beta = cx.opt_input(n, 2)?;
    let g = &mut cx.g;
    let y = g.layer_norm(x, (r - a) as usize, gamma, beta, eps)?;
    let wants = |k: usize| n.outputs.get(k).is_some_and(|o| !o.is_empty());
    if !(wants(1) || wants(2)) {
        return Ok(vec![y]);
    }
    // Optional outputs Mean and InvStdDev (over the normalised axes, kept as 1).
    let axes: Vec<isize> = (a as isize..r as isize).collect();
    let mean = g.reduce(x, ReduceKind::Mean, Some(&axes), true)?;
    let d = g.sub(x, mean)?;
    let d2 = g.mul(d, d)?;
    let var = g.reduce(d2, ReduceKind::Mean, Some(&axes), true)?;
    let ve = g.add_scalar(var, eps)?;
    let inv = g.unary(ve, UnaryOp::Rsqrt)?;
    Ok(vec![y, mean, inv])
}

pub(crate) fn rms_norm(cx: &mut LowerCtx<'_>, n: &Node) -> Result<Vec<ValueId>> {
    let p = norm_args(cx, n)?;
    Ok(vec![cx.g.rms_norm(
        p.x,
        (p.r - p.a) as usize,
        p.gamma,
        p.eps,
    )?])
}
