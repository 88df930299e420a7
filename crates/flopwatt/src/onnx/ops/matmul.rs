//! Matrix products: `MatMul` (batched, numpy broadcasting) and `Gemm`.

use super::broadcast;
use crate::error::Result;
use crate::graph::ValueId;
use crate::onnx::fold::Known;
use crate::onnx::to_graph::LowerCtx;
use crate::onnx::Node;

pub(crate) fn matmul(cx: &mut LowerCtx<'_>, n: &Node) -> Result<Vec<ValueId>> {
    let a = cx.input(n, 0)?;
    let b = cx.input(n, 1)?;
    Ok(vec![cx.g.matmul(a, b)?])
}

/// alpha * A' B' + beta * C, with A' and B' optionally transposed.
pub(crate) fn gemm(cx: &mut LowerCtx<'_>, n: &Node) -> Result<Vec<ValueId>> {
    let mut a = cx.input(n, 0)?;
    let mut b = cx.input(n, 1)?;
    if n.attr_int("transA").unwrap_or(0) != 0 {
        a = cx.g.transpose(a, 0, 1)?;
    }
    if n.attr_int("transB").unwrap_or(0) != 0 {
        b = cx.g.transpose(b, 0, 1)?;
    }
    let mut y = cx.g.matmul(a, b)?;
    let alpha = n.attr_float("alpha").unwrap_or(1.0);
    if alpha != 1.0 {
        y = cx.g.scale(y, alpha)?;
    }
    if n.input(2).is_some() {
        let mut c = cx.input(n, 2)?;
        let beta = n.attr_float("beta").unwrap_or(1.0);
        if beta != 1.0 {
            c = cx.g.scale(c, beta)?;
        }
        y = cx.g.add(y, c)?;
    }
    Ok(vec![y])
}

/// MatMul's output shape: 1-D operands promoted and dropped again, batch dims broadcast.
pub(crate) fn matmul_shape(k: &Known<'_>, n: &Node) -> Option<Vec<usize>> {
    let (a, b) = (k.shape_of(n, 0)?, k.shape_of(n, 1)?);
    if a.is_empty() || b.is_empty() {
        return None;
    }
    let (a2, b2) = (a.len() == 1, b.len() == 1);
    let a = if a2 { vec![1, a[0]] } else { a };
    let b = if b2 { vec![b[0], 1] } else { b };
    let (m, ka) = (a[a.len() - 2], a[a.len() - 1]);
    let (kb, nn) = (b[b.len() - 2], b[b.len() - 1]);
    if ka != kb {
        return None;
    }
    let ba = a[..a.len() - 2].to_vec();
    let bb = b[..b.len() - 2].to_vec();
    let mut out = broadcast(&[&ba, &bb])?;
    if !a2 {
        out.push(m);
    }
    if !b2 {
        out.push(nn);
    }
    Some(out)
}

pub(crate) fn gemm_shape(k: &Known<'_>, n: &Node) -> Option<Vec<usize>> {
    let (a, b) = (k.shape_of(n, 0)?, k.shape_of(n, 1)?);
    if a.len() != 2 || b.len() != 2 {
        return None;
    }
    let m = if n.attr_int("transA").unwrap_or(0) != 0 {
        a[1]
    } else {
        a[0]
    };
    let nn = if n.attr_int("transB").unwrap_or(0) != 0 {
        b[0]
    } else {
        b[1]
    };
    Some(vec![m, nn])
}
