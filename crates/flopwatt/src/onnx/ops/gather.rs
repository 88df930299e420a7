//! Ops that copy elements by index (the `crate::ops::gather` kernels): `Gather`, `Slice`,
//! `Concat`, `Split` and `Pad`. Gather, Slice and Concat also fold at load.

use super::{checked_numel, node_err, norm_axis, pick};
use crate::error::Result;
use crate::graph::ValueId;
use crate::onnx::fold::{FoldArgs, Known};
use crate::onnx::to_graph::LowerCtx;
use crate::onnx::{Node, TensorValue};
use crate::ops::gather::{slice_range, PadMode};

type Lowered = Result<Vec<ValueId>>;
type Folded = Result<Option<TensorValue>>;

pub(crate) fn gather(cx: &mut LowerCtx<'_>, n: &Node) -> Lowered {
    let err = node_err(n, cx.opset);
    let data = cx.input(n, 0)?;
    let idx = cx.input(n, 1)?;
    let shape = cx.g.shape(data).to_vec();
    let r = shape.len();
    let a = n.attr_int("axis").unwrap_or(0);
    let a = norm_axis(a, r).ok_or_else(|| err(format!("axis {a} out of range for rank {r}")))?;
    // Constant indices are checked here; run-time ones out of range read 0.
    if let Some(ix) = cx.const_ints(n, 1) {
        let len = shape[a] as i64;
        if let Some(bad) = ix.iter().find(|&&i| i < -len || i >= len) {
            return Err(err(format!(
                "index {bad} out of range for axis {a} of {shape:?}"
            )));
        }
    }
    Ok(vec![cx.g.gather(data, idx, a as isize)?])
}

pub(crate) fn concat(cx: &mut LowerCtx<'_>, n: &Node) -> Lowered {
    let err = node_err(n, cx.opset);
    let xs: Vec<ValueId> = (0..n.inputs.len())
        .filter(|&i| n.input(i).is_some())
        .map(|i| cx.input(n, i))
        .collect::<Result<_>>()?;
    let r = xs.first().map(|x| cx.g.shape(*x).len()).unwrap_or(0);
    let a = n
        .attr_int("axis")
        .ok_or_else(|| err("axis attribute is required".into()))?;
    let a = norm_axis(a, r).ok_or_else(|| err(format!("axis {a} out of range for rank {r}")))?;
    // Empty inputs contribute nothing (ONNX allows them); the kernel skips them anyway.
    Ok(vec![cx.g.concat(&xs, a as isize)?])
}

/// A constant integer input the op needs, or an error naming it.
fn need_ints(cx: &LowerCtx<'_>, n: &Node, i: usize, what: &str) -> Result<Vec<i64>> {
    cx.const_ints(n, i)
        .ok_or_else(|| n.error(cx.opset, format!("{what} (input {i}) must be a constant")))
}

/// Slice's starts, ends, axes and steps (inputs 1 to 4), checked to have one length.
fn slice_params(cx: &LowerCtx<'_>, n: &Node) -> Result<[Vec<i64>; 4]> {
    let starts = need_ints(cx, n, 1, "starts")?;
    let ends = need_ints(cx, n, 2, "ends")?;
    let axes = match n.input(3) {
        Some(_) => need_ints(cx, n, 3, "axes")?,
        None => (0..starts.len() as i64).collect(),
    };
    let steps = match n.input(4) {
        Some(_) => need_ints(cx, n, 4, "steps")?,
        None => vec![1; starts.len()],
    };
    if ends.len() != starts.len() || axes.len() != starts.len() || steps.len() != starts.len() {
        return Err(n.error(cx.opset, "starts, ends, axes and steps differ in length"));
    }
    Ok([starts, ends, axes, steps])
}

pub(crate) fn slice(cx: &mut LowerCtx<'_>, n: &Node) -> Lowered {
    let err = node_err(n, cx.opset);
    let x = cx.input(n, 0)?;
    let xs = cx.g.shape(x).to_vec();
    let r = xs.len();
    let [starts, ends, axes, steps] = slice_params(cx, n)?;
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
    Ok(vec![cx.g.slice(x, &st, &sp, &cnt)?])
}

/// Split sizes from the constant second input or the `split` attribute, else equal parts.
fn split_sizes(cx: &LowerCtx<'_>, n: &Node, dim: usize, xs: &[usize]) -> Result<Vec<usize>> {
    let err = node_err(n, cx.opset);
    let given = cx
        .const_ints(n, 1)
        .or_else(|| n.attr_ints("split").map(<[i64]>::to_vec));
    Ok(match given {
        Some(s) => {
            if s.iter().any(|&v| v < 0) || s.iter().sum::<i64>() != dim as i64 {
                return Err(err(format!(
                    "split {s:?} does not sum to dim {dim} of {xs:?}"
                )));
            }
            s.iter().map(|&v| v as usize).collect()
        }
        None if n.input(1).is_some() => return Err(err("split sizes must be a constant".into())),
        None => {
            let parts = n
                .attr_int("num_outputs")
                .map(|v| v as usize)
                .unwrap_or(n.outputs.len());
            if parts == 0 {
                return Err(err("zero outputs".into()));
            }
            // Equal chunks of ceil(dim / parts); the last one takes the remainder.
            let chunk = dim.div_ceil(parts);
            (0..parts)
                .map(|i| chunk.min(dim.saturating_sub(i * chunk)))
                .collect()
        }
    })
}

pub(crate) fn split(cx: &mut LowerCtx<'_>, n: &Node) -> Lowered {
    let x = cx.input(n, 0)?;
    let xs = cx.g.shape(x).to_vec();
    let r = xs.len();
    let a = n.attr_int("axis").unwrap_or(0);
    let a = norm_axis(a, r)
        .ok_or_else(|| n.error(cx.opset, format!("axis {a} out of range for rank {r}")))?;
    let sizes = split_sizes(cx, n, xs[a], &xs)?;
    let mut outs = Vec::new();
    let mut at = 0;
    for sz in sizes {
        let mut st = vec![0; r];
        let mut cnt = xs.clone();
        st[a] = if sz == 0 { 0 } else { at };
        cnt[a] = sz;
        outs.push(cx.g.slice(x, &st, &vec![1; r], &cnt)?);
        at += sz;
    }
    Ok(outs)
}

/// Pad's constant pads, and the per-axis (begin, end) amounts they give.
type PadAmounts = (Vec<i64>, Vec<isize>, Vec<isize>);

/// Reads the constant pads (an attribute before opset 11) over the optional axes input.
fn pad_amounts(cx: &LowerCtx<'_>, n: &Node, r: usize) -> Result<PadAmounts> {
    let err = node_err(n, cx.opset);
    let pads = if cx.opset < 11 {
        n.attr_ints("pads").map(<[i64]>::to_vec)
    } else {
        cx.const_ints(n, 1)
    }
    .ok_or_else(|| err("pads must be a constant".into()))?;
    let axes: Vec<usize> = match n.input(3) {
        Some(_) => need_ints(cx, n, 3, "axes")?
            .iter()
            .map(|&a| {
                norm_axis(a, r).ok_or_else(|| err(format!("axis {a} out of range for rank {r}")))
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
    Ok((pads, begin, end))
}

pub(crate) fn pad(cx: &mut LowerCtx<'_>, n: &Node) -> Lowered {
    let err = node_err(n, cx.opset);
    let x = cx.input(n, 0)?;
    let xs = cx.g.shape(x).to_vec();
    let r = xs.len();
    let (pads, begin, end) = pad_amounts(cx, n, r)?;
    let value = match cx.init(n, 2) {
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
        for d in 0..r {
            if begin[d].max(end[d]) >= xs[d] as isize && (begin[d] > 0 || end[d] > 0) {
                return Err(err(format!(
                    "reflect pads {pads:?} must be smaller than the dims of {xs:?}"
                )));
            }
        }
    }
    Ok(vec![cx.g.pad(x, &begin, &end, mode)?])
}

pub(crate) fn fold_gather(a: &FoldArgs<'_>) -> Folded {
    let x = a.need(0)?;
    let ind = a.need(1)?;
    let r = x.shape.len();
    let axis = a.n.attr_int("axis").unwrap_or(0);
    let ax = norm_axis(axis, r)
        .ok_or_else(|| a.err(format!("axis {axis} out of range for rank {r}")))?;
    let dim = x.shape[ax] as i64;
    let indices = ind
        .to_i64_vec()
        .into_iter()
        .map(|i| {
            let j = if i < 0 { i + dim } else { i };
            if (0..dim).contains(&j) {
                Ok(j as usize)
            } else {
                Err(a.err(format!(
                    "index {i} out of range for axis {ax} of size {dim}"
                )))
            }
        })
        .collect::<Result<Vec<_>>>()?;
    let mut shape = x.shape[..ax].to_vec();
    shape.extend_from_slice(&ind.shape);
    shape.extend_from_slice(&x.shape[ax + 1..]);
    let total = match checked_numel(&shape) {
        Some(t) if t <= a.limit => t,
        _ => return Ok(None),
    };
    // An empty result needs no walk over its (possibly huge) outer dims.
    if total == 0 {
        return Ok(Some(pick(x, shape, &[])));
    }
    let outer: usize = x.shape[..ax].iter().product();
    let inner: usize = x.shape[ax + 1..].iter().product();
    let mut src = Vec::new();
    for o in 0..outer {
        for &j in &indices {
            for k in 0..inner {
                src.push((o * x.shape[ax] + j) * inner + k);
            }
        }
    }
    Ok(Some(pick(x, shape, &src)))
}

pub(crate) fn fold_concat(a: &FoldArgs<'_>) -> Folded {
    let parts: Vec<&TensorValue> = a.ins.iter().flatten().copied().collect();
    let first = *parts.first().ok_or_else(|| a.err("no inputs".into()))?;
    let r = first.shape.len();
    let axis =
        a.n.attr_int("axis")
            .ok_or_else(|| a.err("no `axis` attribute".into()))?;
    let ax = norm_axis(axis, r)
        .ok_or_else(|| a.err(format!("axis {axis} out of range for rank {r}")))?;
    let mut shape = first.shape.clone();
    shape[ax] = 0;
    for p in &parts {
        let same = p.shape.len() == first.shape.len()
            && p.shape
                .iter()
                .zip(&first.shape)
                .enumerate()
                .all(|(i, (x, y))| i == ax || x == y);
        if !same {
            return Err(a.err(format!(
                "input shapes {:?} and {:?} differ off axis {ax}",
                first.shape, p.shape
            )));
        }
        shape[ax] = shape[ax]
            .checked_add(p.shape[ax])
            .ok_or_else(|| a.err(format!("concatenated axis {ax} overflows")))?;
    }
    let total =
        checked_numel(&shape).ok_or_else(|| a.err(format!("output shape {shape:?} overflows")))?;
    // An empty result needs no walk over its (possibly huge) outer dims.
    let outer: usize = if total == 0 {
        0
    } else {
        first.shape[..ax].iter().product()
    };
    let mut idx = Vec::with_capacity(total);
    // Gather (part, element) pairs in output order, then pull from f64 or i64.
    for o in 0..outer {
        for (pi, p) in parts.iter().enumerate() {
            let chunk: usize = p.shape[ax..].iter().product();
            for k in 0..chunk {
                idx.push((pi, o * chunk + k));
            }
        }
    }
    Ok(Some(if first.dtype.is_float() {
        let vals: Vec<Vec<f64>> = parts.iter().map(|p| p.to_f64_vec()).collect();
        let v: Vec<f64> = idx.iter().map(|&(p, k)| vals[p][k]).collect();
        TensorValue::from_f64(first.dtype, shape, &v)
    } else {
        let vals: Vec<Vec<i64>> = parts.iter().map(|p| p.to_i64_vec()).collect();
        let v: Vec<i64> = idx.iter().map(|&(p, k)| vals[p][k]).collect();
        TensorValue::from_i64(first.dtype, shape, &v)
    }))
}

/// Per axis of a constant Slice: (start, step, count).
fn slice_plan(a: &FoldArgs<'_>, x: &TensorValue) -> Result<Vec<(i64, i64, usize)>> {
    let starts = a.need(1)?.to_i64_vec();
    let ends = a.need(2)?.to_i64_vec();
    let r = x.shape.len();
    let axes: Vec<i64> = match a.opt(3) {
        Some(t) => t.to_i64_vec(),
        None => (0..starts.len() as i64).collect(),
    };
    let steps: Vec<i64> = match a.opt(4) {
        Some(t) => t.to_i64_vec(),
        None => vec![1; starts.len()],
    };
    if ends.len() != starts.len() || axes.len() != starts.len() || steps.len() != starts.len() {
        return Err(a.err("starts, ends, axes and steps differ in length".into()));
    }
    let mut plan: Vec<(i64, i64, usize)> = x.shape.iter().map(|&d| (0, 1, d)).collect();
    for k in 0..starts.len() {
        let ax = norm_axis(axes[k], r)
            .ok_or_else(|| a.err(format!("axis {} out of range for rank {r}", axes[k])))?;
        let dim = x.shape[ax] as i64;
        let step = steps[k];
        if step == 0 {
            return Err(a.err("slice step is 0".into()));
        }
        let fix = |v: i64| if v < 0 { v.saturating_add(dim) } else { v };
        let (s, e) = if step > 0 {
            (fix(starts[k]).clamp(0, dim), fix(ends[k]).clamp(0, dim))
        } else {
            (
                fix(starts[k]).clamp(-1, dim - 1),
                fix(ends[k]).clamp(-1, dim - 1),
            )
        };
        let count = if step > 0 {
            ((e - s).max(0) + step - 1) / step
        } else {
            ((s - e).max(0) + (-step) - 1) / (-step)
        };
        plan[ax] = (s, step, count as usize);
    }
    Ok(plan)
}

pub(crate) fn fold_slice(a: &FoldArgs<'_>) -> Folded {
    let x = a.need(0)?;
    let plan = slice_plan(a, x)?;
    let r = x.shape.len();
    let shape: Vec<usize> = plan.iter().map(|p| p.2).collect();
    let strides = crate::tensor::contiguous_strides(&x.shape);
    let total: usize = shape.iter().product();
    let mut src = Vec::with_capacity(total);
    let mut idx = vec![0usize; r];
    for _ in 0..total {
        let off: i64 = (0..r)
            .map(|d| (plan[d].0 + idx[d] as i64 * plan[d].1) * strides[d] as i64)
            .sum();
        src.push(off as usize);
        for d in (0..r).rev() {
            idx[d] += 1;
            if idx[d] < shape[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    Ok(Some(pick(x, shape, &src)))
}

pub(crate) fn gather_shape(k: &Known<'_>, n: &Node) -> Option<Vec<usize>> {
    let (x, ind) = (k.shape_of(n, 0)?, k.shape_of(n, 1)?);
    let a = norm_axis(n.attr_int("axis").unwrap_or(0), x.len())?;
    let mut out = x[..a].to_vec();
    out.extend_from_slice(&ind);
    out.extend_from_slice(&x[a + 1..]);
    Some(out)
}

pub(crate) fn concat_shape(k: &Known<'_>, n: &Node) -> Option<Vec<usize>> {
    let parts: Vec<Vec<usize>> = (0..n.inputs.len())
        .filter(|&i| n.input(i).is_some())
        .map(|i| k.shape_of(n, i))
        .collect::<Option<_>>()?;
    let first = parts.first()?.clone();
    let a = norm_axis(n.attr_int("axis")?, first.len())?;
    let mut out = first.clone();
    out[a] = 0;
    for p in &parts {
        if p.len() != first.len()
            || p.iter()
                .zip(&first)
                .enumerate()
                .any(|(i, (x, y))| i != a && x != y)
        {
            return None;
        }
        out[a] += p[a];
    }
    Some(out)
}
