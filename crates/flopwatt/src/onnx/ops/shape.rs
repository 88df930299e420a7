//! Shape ops: `Reshape`, `Flatten`, `Squeeze`, `Unsqueeze`, `Expand` and `Transpose` (views
//! on the graph), and `Shape` and `Size`, which only fold at load.

use std::collections::HashMap;

use super::{bcast_index, broadcast, checked_numel, node_err, norm_axis, pick};
use crate::error::Result;
use crate::graph::ValueId;
use crate::onnx::fold::{FoldArgs, Known};
use crate::onnx::registry::InferFn;
use crate::onnx::to_graph::LowerCtx;
use crate::onnx::{ElemType, Node, TensorValue};

type Lowered = Result<Vec<ValueId>>;
type Folded = Result<Option<TensorValue>>;

/// Resolves a Reshape target: 0 copies the input dim (unless `allowzero`), one -1 is inferred.
pub(crate) fn reshape_target(
    input: &[usize],
    target: &[i64],
    allowzero: bool,
) -> Result<Vec<usize>, String> {
    let total: usize = input.iter().product();
    let mut out = Vec::with_capacity(target.len());
    let mut infer = None;
    for (i, &t) in target.iter().enumerate() {
        match t {
            -1 if infer.is_none() => {
                infer = Some(i);
                out.push(1);
            }
            0 if !allowzero => out.push(*input.get(i).ok_or_else(|| {
                format!("target {target:?} copies dim {i} of {input:?}, which has none")
            })?),
            t if t >= 0 => out.push(t as usize),
            _ => return Err(format!("bad reshape target {target:?}")),
        }
    }
    let known =
        checked_numel(&out).ok_or_else(|| format!("reshape target {target:?} overflows"))?;
    if let Some(i) = infer {
        if known == 0 || !total.is_multiple_of(known) {
            return Err(format!("cannot reshape {input:?} to {target:?}"));
        }
        out[i] = total / known;
    } else if known != total {
        return Err(format!(
            "cannot reshape {input:?} ({total} elements) to {target:?}"
        ));
    }
    Ok(out)
}

fn allowzero(n: &Node) -> bool {
    n.attr_int("allowzero").unwrap_or(0) != 0
}

pub(crate) fn reshape(cx: &mut LowerCtx<'_>, n: &Node) -> Lowered {
    let err = node_err(n, cx.opset);
    let x = cx.input(n, 0)?;
    let xs = cx.g.shape(x).to_vec();
    let target = cx.const_ints(n, 1).ok_or_else(|| {
        err("Reshape target must be a constant (folding could not compute it)".into())
    })?;
    let shape = reshape_target(&xs, &target, allowzero(n)).map_err(&err)?;
    Ok(vec![cx.g.reshape(x, &shape)?])
}

pub(crate) fn flatten(cx: &mut LowerCtx<'_>, n: &Node) -> Lowered {
    let x = cx.input(n, 0)?;
    let xs = cx.g.shape(x).to_vec();
    let r = xs.len() as i64;
    let a = n.attr_int("axis").unwrap_or(1);
    let a = if a < 0 { a + r } else { a };
    if !(0..=r).contains(&a) {
        return Err(n.error(cx.opset, format!("axis {a} out of range for rank {r}")));
    }
    let a = a as usize;
    let shape = [xs[..a].iter().product(), xs[a..].iter().product()];
    Ok(vec![cx.g.reshape(x, &shape)?])
}

/// Squeeze and Unsqueeze on the graph: a reshape to the shape their inference gives.
fn reshape_inferred(cx: &mut LowerCtx<'_>, n: &Node, infer: InferFn) -> Lowered {
    let x = cx.input(n, 0)?;
    let xs = cx.g.shape(x).to_vec();
    let shapes: HashMap<String, Vec<usize>> =
        [(n.inputs[0].clone(), xs.clone())].into_iter().collect();
    let known = Known {
        consts: &cx.model.initializers,
        shapes: &shapes,
    };
    let shape = infer(&known, n)
        .ok_or_else(|| n.error(cx.opset, format!("bad axes for input shape {xs:?}")))?;
    Ok(vec![cx.g.reshape(x, &shape)?])
}

pub(crate) fn squeeze(cx: &mut LowerCtx<'_>, n: &Node) -> Lowered {
    reshape_inferred(cx, n, squeeze_shape)
}

pub(crate) fn unsqueeze(cx: &mut LowerCtx<'_>, n: &Node) -> Lowered {
    reshape_inferred(cx, n, unsqueeze_shape)
}

pub(crate) fn expand(cx: &mut LowerCtx<'_>, n: &Node) -> Lowered {
    let err = node_err(n, cx.opset);
    let x = cx.input(n, 0)?;
    let xs = cx.g.shape(x).to_vec();
    let target = cx
        .const_ints(n, 1)
        .ok_or_else(|| err("Expand shape must be a constant".into()))?;
    let t: Vec<usize> = target.iter().map(|&d| d.max(0) as usize).collect();
    let out = crate::tensor::broadcast_shapes(&xs, &t)
        .ok_or_else(|| err(format!("cannot expand {xs:?} to {t:?}")))?;
    Ok(vec![cx.g.broadcast_to(x, &out)?])
}

pub(crate) fn transpose(cx: &mut LowerCtx<'_>, n: &Node) -> Lowered {
    let mut x = cx.input(n, 0)?;
    let r = cx.g.shape(x).len();
    let perm: Vec<usize> = match n.attr_ints("perm") {
        Some(p) => p
            .iter()
            .map(|&a| {
                if a < 0 {
                    (a + r as i64) as usize
                } else {
                    a as usize
                }
            })
            .collect(),
        None => (0..r).rev().collect(),
    };
    let mut sorted = perm.clone();
    sorted.sort_unstable();
    if sorted != (0..r).collect::<Vec<_>>() {
        return Err(n.error(
            cx.opset,
            format!("perm {perm:?} is not a permutation of rank {r}"),
        ));
    }
    // Any permutation is a product of swaps; each swap is a view in the graph.
    let mut cur: Vec<usize> = (0..r).collect();
    for (i, &p) in perm.iter().enumerate() {
        let j = cur.iter().position(|&c| c == p).expect("perm checked");
        if j != i {
            x = cx.g.transpose(x, i as isize, j as isize)?;
            cur.swap(i, j);
        }
    }
    Ok(vec![x])
}

/// The shape of Shape's and Size's input: its constant's, else the one known at load.
fn input_shape(a: &FoldArgs<'_>) -> Result<Option<Vec<usize>>> {
    if a.n.input(0).is_none() {
        return Err(a.err("needs an input".into()));
    }
    Ok(a.known.shape_of(a.n, 0))
}

pub(crate) fn fold_shape(a: &FoldArgs<'_>) -> Folded {
    let Some(shape) = input_shape(a)? else {
        return Ok(None);
    };
    let r = shape.len() as i64;
    let clamp = |v: i64| (if v < 0 { v + r } else { v }).clamp(0, r) as usize;
    let start = clamp(a.n.attr_int("start").unwrap_or(0));
    let end = clamp(a.n.attr_int("end").unwrap_or(r));
    let dims: Vec<i64> = shape[start..end.max(start)]
        .iter()
        .map(|&d| d as i64)
        .collect();
    Ok(Some(TensorValue::from_i64(
        ElemType::Int64,
        vec![dims.len()],
        &dims,
    )))
}

pub(crate) fn fold_size(a: &FoldArgs<'_>) -> Folded {
    let Some(shape) = input_shape(a)? else {
        return Ok(None);
    };
    let v = shape.iter().product::<usize>() as i64;
    Ok(Some(TensorValue::from_i64(ElemType::Int64, vec![], &[v])))
}

pub(crate) fn fold_reshape(a: &FoldArgs<'_>) -> Folded {
    let x = a.need(0)?;
    let target = a.need(1)?.to_i64_vec();
    let shape = reshape_target(&x.shape, &target, allowzero(a.n)).map_err(|m| a.err(m))?;
    Ok(Some(TensorValue { shape, ..x.clone() }))
}

pub(crate) fn fold_unsqueeze(a: &FoldArgs<'_>) -> Folded {
    let x = a.need(0)?;
    let axes = match a.n.attr_ints("axes") {
        Some(ax) => ax.to_vec(),
        None => a.need(1)?.to_i64_vec(),
    };
    let r = x.shape.len() + axes.len();
    let mut ax = axes
        .iter()
        .map(|&v| norm_axis(v, r))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| a.err(format!("axes {axes:?} out of range for output rank {r}")))?;
    ax.sort_unstable();
    if ax.windows(2).any(|w| w[0] == w[1]) {
        return Err(a.err(format!("repeated axis in {axes:?}")));
    }
    let mut shape = Vec::with_capacity(r);
    let mut it = x.shape.iter();
    for i in 0..r {
        if ax.binary_search(&i).is_ok() {
            shape.push(1);
        } else {
            shape.push(*it.next().expect("rank counted above"));
        }
    }
    Ok(Some(TensorValue { shape, ..x.clone() }))
}

pub(crate) fn fold_squeeze(a: &FoldArgs<'_>) -> Folded {
    let x = a.need(0)?;
    let axes = match a.n.attr_ints("axes") {
        Some(ax) => Some(ax.to_vec()),
        None => a.opt(1).map(|t| t.to_i64_vec()),
    };
    let r = x.shape.len();
    let shape = match axes {
        None => x.shape.iter().copied().filter(|&d| d != 1).collect(),
        Some(axes) => {
            let ax = axes
                .iter()
                .map(|&v| norm_axis(v, r))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| a.err(format!("axes {axes:?} out of range for rank {r}")))?;
            for &i in &ax {
                if x.shape[i] != 1 {
                    return Err(a.err(format!(
                        "cannot squeeze axis {i} of size {} in {:?}",
                        x.shape[i], x.shape
                    )));
                }
            }
            x.shape
                .iter()
                .enumerate()
                .filter(|(i, _)| !ax.contains(i))
                .map(|(_, &d)| d)
                .collect()
        }
    };
    Ok(Some(TensorValue { shape, ..x.clone() }))
}

pub(crate) fn fold_expand(a: &FoldArgs<'_>) -> Folded {
    let x = a.need(0)?;
    let target: Vec<usize> = a
        .need(1)?
        .to_i64_vec()
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| a.err(format!("negative dimension {d}"))))
        .collect::<Result<_>>()?;
    let shape = broadcast(&[&x.shape, &target])
        .ok_or_else(|| a.err(format!("cannot expand {:?} to {target:?}", x.shape)))?;
    if checked_numel(&shape).is_none_or(|c| c > a.limit) {
        return Ok(None);
    }
    let src = bcast_index(&shape, &x.shape);
    Ok(Some(pick(x, shape, &src)))
}

pub(crate) fn transpose_shape(k: &Known<'_>, n: &Node) -> Option<Vec<usize>> {
    let x = k.shape_of(n, 0)?;
    let perm: Vec<usize> = match n.attr_ints("perm") {
        Some(p) => p
            .iter()
            .map(|&a| norm_axis(a, x.len()))
            .collect::<Option<_>>()?,
        None => (0..x.len()).rev().collect(),
    };
    let mut seen = vec![false; x.len()];
    for &p in &perm {
        if std::mem::replace(seen.get_mut(p)?, true) {
            return None;
        }
    }
    (perm.len() == x.len()).then(|| perm.iter().map(|&p| x[p]).collect())
}

pub(crate) fn reshape_shape(k: &Known<'_>, n: &Node) -> Option<Vec<usize>> {
    let x = k.shape_of(n, 0)?;
    let target = k.const_of(n, 1)?.to_i64_vec();
    reshape_target(&x, &target, allowzero(n)).ok()
}

pub(crate) fn unsqueeze_shape(k: &Known<'_>, n: &Node) -> Option<Vec<usize>> {
    let x = k.shape_of(n, 0)?;
    let axes = match n.attr_ints("axes") {
        Some(a) => a.to_vec(),
        None => k.const_of(n, 1)?.to_i64_vec(),
    };
    let r = x.len() + axes.len();
    let mut ax: Vec<usize> = axes
        .iter()
        .map(|&a| norm_axis(a, r))
        .collect::<Option<_>>()?;
    ax.sort_unstable();
    ax.dedup();
    if ax.len() != axes.len() {
        return None;
    }
    let mut it = x.iter();
    (0..r)
        .map(|i| {
            if ax.binary_search(&i).is_ok() {
                Some(1)
            } else {
                it.next().copied()
            }
        })
        .collect()
}

pub(crate) fn squeeze_shape(k: &Known<'_>, n: &Node) -> Option<Vec<usize>> {
    let x = k.shape_of(n, 0)?;
    let axes = match n.attr_ints("axes") {
        Some(a) => Some(a.to_vec()),
        None => match n.input(1) {
            Some(_) => Some(k.const_of(n, 1)?.to_i64_vec()),
            None => None,
        },
    };
    let Some(axes) = axes else {
        return Some(x.into_iter().filter(|&d| d != 1).collect());
    };
    let ax: Vec<usize> = axes
        .iter()
        .map(|&a| norm_axis(a, x.len()))
        .collect::<Option<_>>()?;
    if ax.iter().any(|&a| x[a] != 1) {
        return None;
    }
    Some(
        x.iter()
            .enumerate()
            .filter(|(i, _)| !ax.contains(i))
            .map(|(_, &d)| d)
            .collect(),
    )
}
