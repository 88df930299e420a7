//! The ops of [`super::registry`], one module per family: each lowers its ops onto the graph
//! ([`super::to_graph::LowerCtx`]) and, where the op can appear in a shape computation,
//! evaluates it at load time ([`super::fold::FoldArgs`]) and infers its output shape
//! ([`super::fold::Known`]). This module holds the helpers several families share.

pub(crate) mod attention;
pub(crate) mod constant;
pub(crate) mod conv;
pub(crate) mod elementwise;
pub(crate) mod gather;
pub(crate) mod matmul;
pub(crate) mod norm;
pub(crate) mod pool;
pub(crate) mod recurrent;
pub(crate) mod reduce;
pub(crate) mod resize;
pub(crate) mod shape;

use super::{Data, Node, TensorValue};
use crate::error::Error;

/// The error for a node's problems, as a closure for `ok_or_else` / `map_err`.
pub(crate) fn node_err(n: &Node, opset: i64) -> impl Fn(String) -> Error + '_ {
    move |m| n.error(opset, m)
}

/// Axis `a` of a rank-`r` value, counting from the end where negative.
pub(crate) fn norm_axis(a: i64, r: usize) -> Option<usize> {
    let r = r as i64;
    let b = if a < 0 { a + r } else { a };
    (0..r).contains(&b).then_some(b as usize)
}

pub(crate) fn scalar_f(t: &TensorValue) -> f64 {
    t.to_f64_vec().first().copied().unwrap_or(0.0)
}

pub(crate) fn scalar_i(t: &TensorValue) -> i64 {
    t.to_i64_vec().first().copied().unwrap_or(0)
}

pub(crate) fn checked_numel(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d))
}

/// Numpy-style multidirectional broadcast of several shapes.
pub(crate) fn broadcast(shapes: &[&Vec<usize>]) -> Option<Vec<usize>> {
    let r = shapes.iter().map(|s| s.len()).max().unwrap_or(0);
    let mut out = vec![1usize; r];
    for s in shapes {
        let off = r - s.len();
        for (i, &d) in s.iter().enumerate() {
            let o = &mut out[off + i];
            if *o == 1 {
                *o = d;
            } else if d != 1 && d != *o {
                return None;
            }
        }
    }
    Some(out)
}

/// For each element of `out` (C order), the linear index of the broadcast source element.
pub(crate) fn bcast_index(out: &[usize], src: &[usize]) -> Vec<usize> {
    let r = out.len();
    let off = r - src.len();
    let sstr = crate::tensor::contiguous_strides(src);
    let total: usize = out.iter().product();
    let mut res = Vec::with_capacity(total);
    let mut idx = vec![0usize; r];
    for _ in 0..total {
        let mut k = 0;
        for (i, &d) in src.iter().enumerate() {
            if d != 1 {
                k += idx[off + i] * sstr[i];
            }
        }
        res.push(k);
        for d in (0..r).rev() {
            idx[d] += 1;
            if idx[d] < out[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    res
}

/// A tensor of `x`'s dtype made of `x`'s elements at `src`.
pub(crate) fn pick(x: &TensorValue, shape: Vec<usize>, src: &[usize]) -> TensorValue {
    let data = match &x.data {
        Data::F32(v) => Data::F32(src.iter().map(|&i| v[i]).collect()),
        Data::F64(v) => Data::F64(src.iter().map(|&i| v[i]).collect()),
        Data::I64(v) => Data::I64(src.iter().map(|&i| v[i]).collect()),
        Data::I32(v) => Data::I32(src.iter().map(|&i| v[i]).collect()),
        Data::Bool(v) => Data::Bool(src.iter().map(|&i| v[i]).collect()),
    };
    TensorValue {
        dtype: x.dtype,
        shape,
        data,
    }
}
