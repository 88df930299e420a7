//! Reductions over axes: `ReduceSum`, `ReduceMean`, `ReduceMax`, `ReduceMin`.

use super::node_err;
use crate::error::Result;
use crate::graph::{ReduceKind, ValueId};
use crate::onnx::to_graph::LowerCtx;
use crate::onnx::Node;
use crate::tensor::DType;

/// Axes from the attribute (before opset 18) or the constant second input; none = all.
fn reduce(cx: &mut LowerCtx<'_>, n: &Node, kind: ReduceKind) -> Result<Vec<ValueId>> {
    let err = node_err(n, cx.opset);
    let x = cx.input(n, 0)?;
    // Integer (and bool) data reduces in f32; the lowering casts the result back.
    let x = cx.g.cast(x, DType::F32)?;
    let axes = match n.attr_ints("axes") {
        Some(a) => Some(a.to_vec()),
        None if n.input(1).is_some() => Some(
            cx.const_ints(n, 1)
                .ok_or_else(|| err("axes must be a constant".into()))?,
        ),
        None => None,
    };
    let keep = n.attr_int("keepdims").unwrap_or(1) != 0;
    let empty = axes.as_ref().is_some_and(|a| a.is_empty());
    if empty && n.attr_int("noop_with_empty_axes").unwrap_or(0) != 0 {
        return Ok(vec![x]);
    }
    let ax: Option<Vec<isize>> = axes
        .filter(|a| !a.is_empty())
        .map(|a| a.iter().map(|&v| v as isize).collect());
    Ok(vec![cx.g.reduce(x, kind, ax.as_deref(), keep)?])
}

pub(crate) fn sum(cx: &mut LowerCtx<'_>, n: &Node) -> Result<Vec<ValueId>> {
    reduce(cx, n, ReduceKind::Sum)
}

pub(crate) fn mean(cx: &mut LowerCtx<'_>, n: &Node) -> Result<Vec<ValueId>> {
    reduce(cx, n, ReduceKind::Mean)
}

pub(crate) fn max(cx: &mut LowerCtx<'_>, n: &Node) -> Result<Vec<ValueId>> {
    reduce(cx, n, ReduceKind::Max)
}

pub(crate) fn min(cx: &mut LowerCtx<'_>, n: &Node) -> Result<Vec<ValueId>> {
    reduce(cx, n, ReduceKind::Min)
}
