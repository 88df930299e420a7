//! Pooling: `MaxPool` and `AveragePool` (1-D as 2-D over NC1L, and 2-D), and
//! `GlobalAveragePool`.

use super::conv::{as_2d, auto_pads, back_1d, two};
use super::node_err;
use crate::error::Result;
use crate::graph::{ReduceKind, ValueId};
use crate::onnx::to_graph::LowerCtx;
use crate::onnx::Node;
use crate::ops::pool::{Pool2dParams, PoolKind};

fn pool(cx: &mut LowerCtx<'_>, n: &Node, kind: PoolKind) -> Result<Vec<ValueId>> {
    let err = node_err(n, cx.opset);
    let x = cx.input(n, 0)?;
    let g = &mut cx.g;
    if !matches!(g.shape(x).len(), 3 | 4) {
        return Err(err(format!(
            "only 1-D and 2-D pooling (NCL, NCHW) is supported, input is {:?}",
            g.shape(x)
        )));
    }
    let (x, one_d) = as_2d(g, x)?;
    let xs = g.shape(x).to_vec();
    let k = two(n, "kernel_shape", None, one_d, 1).map_err(&err)?;
    let stride = two(n, "strides", Some([1, 1]), one_d, 1).map_err(&err)?;
    let dil = two(n, "dilations", Some([1, 1]), one_d, 1).map_err(&err)?;
    let ceil = n.attr_int("ceil_mode").unwrap_or(0) != 0;
    let padding = auto_pads(n, [xs[2], xs[3]], k, stride, dil, one_d).map_err(&err)?;
    let params = Pool2dParams {
        kind,
        kernel: k,
        stride,
        padding,
        dilation: dil,
        ceil_mode: ceil,
    };
    let y = g.pool2d(x, params)?;
    Ok(vec![back_1d(g, y, one_d)?])
}

/// MaxPool's `storage_order` only changes its Indices output, which flopwatt does not compute.
pub(crate) fn max_pool(cx: &mut LowerCtx<'_>, n: &Node) -> Result<Vec<ValueId>> {
    pool(cx, n, PoolKind::Max)
}

pub(crate) fn average_pool(cx: &mut LowerCtx<'_>, n: &Node) -> Result<Vec<ValueId>> {
    let kind = if n.attr_int("count_include_pad").unwrap_or(0) != 0 {
        PoolKind::AvgCountPad
    } else {
        PoolKind::Avg
    };
    pool(cx, n, kind)
}

/// The mean over every spatial axis, kept as size 1.
pub(crate) fn global_average_pool(cx: &mut LowerCtx<'_>, n: &Node) -> Result<Vec<ValueId>> {
    let x = cx.input(n, 0)?;
    let xs = cx.g.shape(x).to_vec();
    let y = if xs.len() == 4 {
        cx.g.global_avg_pool(x)?
    } else if xs.len() >= 3 {
        let axes: Vec<isize> = (2..xs.len() as isize).collect();
        cx.g.reduce(x, ReduceKind::Mean, Some(&axes), true)?
    } else {
        return Err(n.error(cx.opset, format!("input {xs:?} needs rank >= 3")));
    };
    Ok(vec![y])
}
