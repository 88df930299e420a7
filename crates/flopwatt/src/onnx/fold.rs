//! Load-time constant folding of shape-only subgraphs.
//!
//! PyTorch exports compute reshape targets at run time: `Shape -> Gather -> Unsqueeze ->
//! Concat -> Reshape`, `ConstantOfShape`, `Range`, `Cast` of constants. Where every input of
//! such a node is known at load time (an initializer, a `Constant`, an earlier folded value,
//! or the static shape of an input for `Shape`), the node is evaluated here on the CPU in
//! f64/i64 and replaced by an initializer, so the GPU graph only sees real tensor work.
//! Nodes whose inputs are not all known stay in the graph.

use std::collections::HashMap;

use super::{Attr, Data, ElemType, Model, Node, TensorValue};
use crate::error::Result;

/// A folded result may exceed its inputs' total size by at most this many elements, so a
/// tiny `ConstantOfShape`/`Range`/`Expand` cannot blow up into a huge initializer at load.
pub const FOLD_GROWTH_LIMIT: usize = 1 << 20;

/// Ops this pass can evaluate.
pub const FOLDABLE_OPS: &[&str] = &[
    "Constant",
    "Identity",
    "Shape",
    "Size",
    "Gather",
    "Unsqueeze",
    "Squeeze",
    "Concat",
    "ConstantOfShape",
    "Range",
    "Reshape",
    "Cast",
    "Add",
    "Sub",
    "Mul",
    "Div",
    "Neg",
    "Equal",
    "Less",
    "Greater",
    "Where",
    "Slice",
    "Expand",
];

/// Folds every node whose inputs are all known; returns how many nodes were removed.
/// Initializers that no remaining node or output reads afterwards are dropped.
pub fn fold(model: &mut Model) -> Result<usize> {
    let opset = model.opset;
    let mut shapes: HashMap<String, Vec<usize>> = HashMap::new();
    for vi in model.inputs.iter().chain(model.value_info.values()) {
        if let Some(s) = vi.static_shape() {
            shapes.insert(vi.name.clone(), s);
        }
    }
    let nodes = std::mem::take(&mut model.nodes);
    let mut kept = Vec::with_capacity(nodes.len());
    let mut folded = 0;
    for node in nodes {
        let default_domain = node.domain.is_empty() || node.domain == "ai.onnx";
        let result = if default_domain && FOLDABLE_OPS.contains(&node.op_type.as_str()) {
            eval(&node, opset, &model.initializers, &shapes)?
        } else {
            None
        };
        match result {
            Some(outs) => {
                for (name, v) in node.outputs.iter().zip(outs) {
                    if !name.is_empty() {
                        model.initializers.insert(name.clone(), v);
                    }
                }
                folded += 1;
            }
            None => {
                if default_domain {
                    if let (Some(out), Some(shape)) = (
                        node.outputs.first(),
                        infer_shape(&node, &model.initializers, &shapes),
                    ) {
                        shapes.entry(out.clone()).or_insert(shape);
                    }
                }
                kept.push(node)
            }
        }
    }
    model.nodes = kept;
    let mut used: std::collections::HashSet<&str> = model
        .nodes
        .iter()
        .flat_map(|n| n.inputs.iter().map(String::as_str))
        .collect();
    used.extend(model.outputs.iter().map(|o| o.name.as_str()));
    let used: std::collections::HashSet<String> = used.into_iter().map(String::from).collect();
    model.initializers.retain(|k, _| used.contains(k));
    Ok(folded)
}

pub(crate) type Consts = std::collections::BTreeMap<String, TensorValue>;

/// Evaluates one node: `Ok(None)` where an input is unknown or the result would be too big,
/// an error where the constants themselves are invalid for the op.
fn eval(
    n: &Node,
    opset: i64,
    consts: &Consts,
    shapes: &HashMap<String, Vec<usize>>,
) -> Result<Option<Vec<TensorValue>>> {
    let err = |m: String| n.error(opset, m);
    // Shape/Size only need the input's shape.
    if n.op_type == "Shape" || n.op_type == "Size" {
        let name = n.input(0).ok_or_else(|| err("needs an input".into()))?;
        let shape = match consts.get(name) {
            Some(t) => t.shape.clone(),
            None => match shapes.get(name) {
                Some(s) => s.clone(),
                None => return Ok(None),
            },
        };
        if n.op_type == "Size" {
            let v = shape.iter().product::<usize>() as i64;
            return Ok(Some(vec![TensorValue::from_i64(
                ElemType::Int64,
                vec![],
                &[v],
            )]));
        }
        let r = shape.len() as i64;
        let clamp = |v: i64| (if v < 0 { v + r } else { v }).clamp(0, r) as usize;
        let start = clamp(n.attr_int("start").unwrap_or(0));
        let end = clamp(n.attr_int("end").unwrap_or(r));
        let dims: Vec<i64> = shape[start..end.max(start)]
            .iter()
            .map(|&d| d as i64)
            .collect();
        return Ok(Some(vec![TensorValue::from_i64(
            ElemType::Int64,
            vec![dims.len()],
            &dims,
        )]));
    }
    if n.op_type == "Constant" {
        return constant(n).map(|v| Some(vec![v])).map_err(err);
    }
    let mut ins: Vec<Option<&TensorValue>> = Vec::with_capacity(n.inputs.len());
    for name in &n.inputs {
        if name.is_empty() {
            ins.push(None);
        } else {
            match consts.get(name) {
                Some(t) => ins.push(Some(t)),
                None => return Ok(None),
            }
        }
    }
    let input_total: usize = ins.iter().flatten().map(|t| t.numel()).sum();
    let need = |i: usize| -> Result<&TensorValue> {
        ins.get(i)
            .copied()
            .flatten()
            .ok_or_else(|| err(format!("input {i} is missing")))
    };
    let limit = input_total.saturating_add(FOLD_GROWTH_LIMIT);
    let out = match n.op_type.as_str() {
        "Identity" => need(0)?.clone(),
        "Cast" => {
            let to = n
                .attr_int("to")
                .ok_or_else(|| err("no `to` attribute".into()))?;
            let dt = ElemType::from_code(to as i32).ok_or_else(|| {
                err(format!(
                    "cast to {} is not supported",
                    super::dtype_name(to as i32)
                ))
            })?;
            let x = need(0)?;
            if x.dtype.is_float() {
                TensorValue::from_f64(dt, x.shape.clone(), &x.to_f64_vec())
            } else {
                TensorValue::from_i64(dt, x.shape.clone(), &x.to_i64_vec())
            }
        }
        "Reshape" => {
            let x = need(0)?;
            let target = need(1)?.to_i64_vec();
            let allowzero = n.attr_int("allowzero").unwrap_or(0) != 0;
            let shape = reshape_target(&x.shape, &target, allowzero).map_err(err)?;
            TensorValue { shape, ..x.clone() }
        }
        "Unsqueeze" => {
            let x = need(0)?;
            let axes = match n.attr_ints("axes") {
                Some(a) => a.to_vec(),
                None => need(1)?.to_i64_vec(),
            };
            let r = (x.shape.len() + axes.len()) as i64;
            let mut ax = axes
                .iter()
                .map(|&a| norm_axis(a, r))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| err(format!("axes {axes:?} out of range for output rank {r}")))?;
            ax.sort_unstable();
            if ax.windows(2).any(|w| w[0] == w[1]) {
                return Err(err(format!("repeated axis in {axes:?}")));
            }
            let mut shape = Vec::with_capacity(r as usize);
            let mut it = x.shape.iter();
            for i in 0..r as usize {
                if ax.binary_search(&i).is_ok() {
                    shape.push(1);
                } else {
                    shape.push(*it.next().expect("rank counted above"));
                }
            }
            TensorValue { shape, ..x.clone() }
        }
        "Squeeze" => {
            let x = need(0)?;
            let axes = match n.attr_ints("axes") {
                Some(a) => Some(a.to_vec()),
                None => ins.get(1).copied().flatten().map(|t| t.to_i64_vec()),
            };
            let r = x.shape.len() as i64;
            let shape = match axes {
                None => x.shape.iter().copied().filter(|&d| d != 1).collect(),
                Some(axes) => {
                    let ax = axes
                        .iter()
                        .map(|&a| norm_axis(a, r))
                        .collect::<Option<Vec<_>>>()
                        .ok_or_else(|| err(format!("axes {axes:?} out of range for rank {r}")))?;
                    for &a in &ax {
                        if x.shape[a] != 1 {
                            return Err(err(format!(
                                "cannot squeeze axis {a} of size {} in {:?}",
                                x.shape[a], x.shape
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
            TensorValue { shape, ..x.clone() }
        }
        "Concat" => {
            let parts: Vec<&TensorValue> = ins.iter().flatten().copied().collect();
            let first = *parts.first().ok_or_else(|| err("no inputs".into()))?;
            let r = first.shape.len() as i64;
            let axis = n
                .attr_int("axis")
                .ok_or_else(|| err("no `axis` attribute".into()))?;
            let a = norm_axis(axis, r)
                .ok_or_else(|| err(format!("axis {axis} out of range for rank {r}")))?;
            let mut shape = first.shape.clone();
            shape[a] = 0;
            for p in &parts {
                let same = p.shape.len() == first.shape.len()
                    && p.shape
                        .iter()
                        .zip(&first.shape)
                        .enumerate()
                        .all(|(i, (x, y))| i == a || x == y);
                if !same {
                    return Err(err(format!(
                        "input shapes {:?} and {:?} differ off axis {a}",
                        first.shape, p.shape
                    )));
                }
                shape[a] += p.shape[a];
            }
            let outer: usize = first.shape[..a].iter().product();
            let mut idx = Vec::with_capacity(shape.iter().product());
            // Gather (part, element) pairs in output order, then pull from f64 or i64.
            for o in 0..outer {
                for (pi, p) in parts.iter().enumerate() {
                    let chunk: usize = p.shape[a..].iter().product();
                    for k in 0..chunk {
                        idx.push((pi, o * chunk + k));
                    }
                }
            }
            if first.dtype.is_float() {
                let vals: Vec<Vec<f64>> = parts.iter().map(|p| p.to_f64_vec()).collect();
                let v: Vec<f64> = idx.iter().map(|&(p, k)| vals[p][k]).collect();
                TensorValue::from_f64(first.dtype, shape, &v)
            } else {
                let vals: Vec<Vec<i64>> = parts.iter().map(|p| p.to_i64_vec()).collect();
                let v: Vec<i64> = idx.iter().map(|&(p, k)| vals[p][k]).collect();
                TensorValue::from_i64(first.dtype, shape, &v)
            }
        }
        "Gather" => {
            let x = need(0)?;
            let ind = need(1)?;
            let r = x.shape.len() as i64;
            let axis = n.attr_int("axis").unwrap_or(0);
            let a = norm_axis(axis, r)
                .ok_or_else(|| err(format!("axis {axis} out of range for rank {r}")))?;
            let dim = x.shape[a] as i64;
            let indices = ind
                .to_i64_vec()
                .into_iter()
                .map(|i| {
                    let j = if i < 0 { i + dim } else { i };
                    if (0..dim).contains(&j) {
                        Ok(j as usize)
                    } else {
                        Err(err(format!(
                            "index {i} out of range for axis {a} of size {dim}"
                        )))
                    }
                })
                .collect::<Result<Vec<_>>>()?;
            let mut shape = x.shape[..a].to_vec();
            shape.extend_from_slice(&ind.shape);
            shape.extend_from_slice(&x.shape[a + 1..]);
            if shape.iter().product::<usize>() > limit {
                return Ok(None);
            }
            let outer: usize = x.shape[..a].iter().product();
            let inner: usize = x.shape[a + 1..].iter().product();
            let mut src = Vec::new();
            for o in 0..outer {
                for &j in &indices {
                    for k in 0..inner {
                        src.push((o * x.shape[a] + j) * inner + k);
                    }
                }
            }
            pick(x, shape, &src)
        }
        "ConstantOfShape" => {
            let shape: Vec<usize> = need(0)?
                .to_i64_vec()
                .iter()
                .map(|&d| usize::try_from(d).map_err(|_| err(format!("negative dimension {d}"))))
                .collect::<Result<_>>()?;
            let count =
                checked_numel(&shape).ok_or_else(|| err(format!("shape {shape:?} overflows")))?;
            if count > limit {
                return Ok(None);
            }
            let value = match n.attributes.get("value") {
                Some(Attr::Tensor(t)) if t.numel() == 1 => t.clone(),
                Some(_) => return Err(err("`value` must be a one-element tensor".into())),
                None => TensorValue::from_f64(ElemType::Float, vec![1], &[0.0]),
            };
            pick(&value, shape, &vec![0; count])
        }
        "Range" => {
            let s = need(0)?;
            let (l, d) = (need(1)?, need(2)?);
            if s.dtype.is_float() {
                let (s0, l0, d0) = (scalar_f(s), scalar_f(l), scalar_f(d));
                if d0 == 0.0 || !(s0.is_finite() && l0.is_finite() && d0.is_finite()) {
                    return Err(err(format!("bad range start={s0} limit={l0} delta={d0}")));
                }
                let count = ((l0 - s0) / d0).ceil().max(0.0);
                if count > limit as f64 {
                    return Ok(None);
                }
                let v: Vec<f64> = (0..count as usize).map(|i| s0 + i as f64 * d0).collect();
                TensorValue::from_f64(s.dtype, vec![v.len()], &v)
            } else {
                let (s0, l0, d0) = (scalar_i(s), scalar_i(l), scalar_i(d));
                if d0 == 0 {
                    return Err(err("range delta is 0".into()));
                }
                let span = l0 as i128 - s0 as i128;
                let count = ((span + d0 as i128 - d0.signum() as i128) / d0 as i128).max(0);
                if count > limit as i128 {
                    return Ok(None);
                }
                let v: Vec<i64> = (0..count as i64).map(|i| s0 + i * d0).collect();
                TensorValue::from_i64(s.dtype, vec![v.len()], &v)
            }
        }
        "Expand" => {
            let x = need(0)?;
            let target: Vec<usize> = need(1)?
                .to_i64_vec()
                .iter()
                .map(|&d| usize::try_from(d).map_err(|_| err(format!("negative dimension {d}"))))
                .collect::<Result<_>>()?;
            let shape = broadcast(&[&x.shape, &target])
                .ok_or_else(|| err(format!("cannot expand {:?} to {target:?}", x.shape)))?;
            if checked_numel(&shape).is_none_or(|c| c > limit) {
                return Ok(None);
            }
            let src = bcast_index(&shape, &x.shape);
            pick(x, shape, &src)
        }
        "Neg" => {
            let x = need(0)?;
            if x.dtype.is_float() {
                let v: Vec<f64> = x.to_f64_vec().iter().map(|v| -v).collect();
                TensorValue::from_f64(x.dtype, x.shape.clone(), &v)
            } else {
                let v: Vec<i64> = x.to_i64_vec().iter().map(|v| v.wrapping_neg()).collect();
                TensorValue::from_i64(x.dtype, x.shape.clone(), &v)
            }
        }
        "Add" | "Sub" | "Mul" | "Div" | "Equal" | "Less" | "Greater" => {
            let (a, b) = (need(0)?, need(1)?);
            let shape = broadcast(&[&a.shape, &b.shape]).ok_or_else(|| {
                err(format!(
                    "shapes {:?} and {:?} do not broadcast",
                    a.shape, b.shape
                ))
            })?;
            if checked_numel(&shape).is_none_or(|c| c > limit) {
                return Ok(None);
            }
            let (ia, ib) = (bcast_index(&shape, &a.shape), bcast_index(&shape, &b.shape));
            let cmp = matches!(n.op_type.as_str(), "Equal" | "Less" | "Greater");
            if a.dtype.is_float() || b.dtype.is_float() {
                let (va, vb) = (a.to_f64_vec(), b.to_f64_vec());
                let v: Vec<f64> = ia
                    .iter()
                    .zip(&ib)
                    .map(|(&i, &j)| {
                        let (x, y) = (va[i], vb[j]);
                        match n.op_type.as_str() {
                            "Add" => x + y,
                            "Sub" => x - y,
                            "Mul" => x * y,
                            "Div" => x / y,
                            "Equal" => (x == y) as u8 as f64,
                            "Less" => (x < y) as u8 as f64,
                            _ => (x > y) as u8 as f64,
                        }
                    })
                    .collect();
                TensorValue::from_f64(if cmp { ElemType::Bool } else { a.dtype }, shape, &v)
            } else {
                let (va, vb) = (a.to_i64_vec(), b.to_i64_vec());
                let mut v = Vec::with_capacity(ia.len());
                for (&i, &j) in ia.iter().zip(&ib) {
                    let (x, y) = (va[i], vb[j]);
                    v.push(match n.op_type.as_str() {
                        "Add" => x.wrapping_add(y),
                        "Sub" => x.wrapping_sub(y),
                        "Mul" => x.wrapping_mul(y),
                        "Div" => {
                            if y == 0 {
                                return Err(err("integer division by zero".into()));
                            }
                            x.wrapping_div(y)
                        }
                        "Equal" => (x == y) as i64,
                        "Less" => (x < y) as i64,
                        _ => (x > y) as i64,
                    });
                }
                TensorValue::from_i64(if cmp { ElemType::Bool } else { a.dtype }, shape, &v)
            }
        }
        "Where" => {
            let (c, x, y) = (need(0)?, need(1)?, need(2)?);
            let shape = broadcast(&[&c.shape, &x.shape, &y.shape]).ok_or_else(|| {
                err(format!(
                    "shapes {:?}, {:?}, {:?} do not broadcast",
                    c.shape, x.shape, y.shape
                ))
            })?;
            if checked_numel(&shape).is_none_or(|n| n > limit) {
                return Ok(None);
            }
            let (ic, ix, iy) = (
                bcast_index(&shape, &c.shape),
                bcast_index(&shape, &x.shape),
                bcast_index(&shape, &y.shape),
            );
            let cv = c.to_i64_vec();
            if x.dtype.is_float() {
                let (vx, vy) = (x.to_f64_vec(), y.to_f64_vec());
                let v: Vec<f64> = (0..ic.len())
                    .map(|k| if cv[ic[k]] != 0 { vx[ix[k]] } else { vy[iy[k]] })
                    .collect();
                TensorValue::from_f64(x.dtype, shape, &v)
            } else {
                let (vx, vy) = (x.to_i64_vec(), y.to_i64_vec());
                let v: Vec<i64> = (0..ic.len())
                    .map(|k| if cv[ic[k]] != 0 { vx[ix[k]] } else { vy[iy[k]] })
                    .collect();
                TensorValue::from_i64(x.dtype, shape, &v)
            }
        }
        "Slice" => {
            let x = need(0)?;
            let starts = need(1)?.to_i64_vec();
            let ends = need(2)?.to_i64_vec();
            let r = x.shape.len();
            let axes: Vec<i64> = match ins.get(3).copied().flatten() {
                Some(t) => t.to_i64_vec(),
                None => (0..starts.len() as i64).collect(),
            };
            let steps: Vec<i64> = match ins.get(4).copied().flatten() {
                Some(t) => t.to_i64_vec(),
                None => vec![1; starts.len()],
            };
            if ends.len() != starts.len()
                || axes.len() != starts.len()
                || steps.len() != starts.len()
            {
                return Err(err("starts, ends, axes and steps differ in length".into()));
            }
            // Per axis: (start, step, count).
            let mut plan: Vec<(i64, i64, usize)> = x.shape.iter().map(|&d| (0, 1, d)).collect();
            for k in 0..starts.len() {
                let a = norm_axis(axes[k], r as i64)
                    .ok_or_else(|| err(format!("axis {} out of range for rank {r}", axes[k])))?;
                let dim = x.shape[a] as i64;
                let step = steps[k];
                if step == 0 {
                    return Err(err("slice step is 0".into()));
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
                plan[a] = (s, step, count as usize);
            }
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
            pick(x, shape, &src)
        }
        _ => return Ok(None),
    };
    Ok(Some(vec![out]))
}

fn scalar_f(t: &TensorValue) -> f64 {
    t.to_f64_vec().first().copied().unwrap_or(0.0)
}

fn scalar_i(t: &TensorValue) -> i64 {
    t.to_i64_vec().first().copied().unwrap_or(0)
}

fn checked_numel(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d))
}

fn norm_axis(a: i64, r: i64) -> Option<usize> {
    let b = if a < 0 { a + r } else { a };
    (0..r).contains(&b).then_some(b as usize)
}

/// Numpy-style multidirectional broadcast of several shapes.
fn broadcast(shapes: &[&Vec<usize>]) -> Option<Vec<usize>> {
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
fn bcast_index(out: &[usize], src: &[usize]) -> Vec<usize> {
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
fn pick(x: &TensorValue, shape: Vec<usize>, src: &[usize]) -> TensorValue {
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

/// Resolves a Reshape target: 0 copies the input dim (unless `allowzero`), one -1 is inferred.
pub fn reshape_target(
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

fn constant(n: &Node) -> Result<TensorValue, String> {
    let (k, a) = n
        .attributes
        .iter()
        .next()
        .ok_or("Constant has no value attribute")?;
    Ok(match (k.as_str(), a) {
        ("value", Attr::Tensor(t)) => t.clone(),
        ("value_float", Attr::Float(f)) => {
            TensorValue::from_f64(ElemType::Float, vec![], &[*f as f64])
        }
        ("value_floats", Attr::Floats(v)) => TensorValue {
            dtype: ElemType::Float,
            shape: vec![v.len()],
            data: Data::F32(v.clone()),
        },
        ("value_int", Attr::Int(i)) => TensorValue::from_i64(ElemType::Int64, vec![], &[*i]),
        ("value_ints", Attr::Ints(v)) => TensorValue::from_i64(ElemType::Int64, vec![v.len()], v),
        (k, _) => return Err(format!("Constant attribute `{k}` is not supported")),
    })
}

/// Shapes that pass through ops which stay in the graph, so that a later `Shape` of their
/// output folds too (once [`Model::specialize`](super::Model::specialize) fixed the inputs).
/// Only ops whose output shape follows from input shapes and constant operands; `None`
/// where anything is unknown or the shapes are invalid (the graph reports those).
pub(crate) fn infer_shape(
    n: &Node,
    consts: &Consts,
    shapes: &HashMap<String, Vec<usize>>,
) -> Option<Vec<usize>> {
    let shape_of = |i: usize| -> Option<Vec<usize>> {
        let name = n.input(i)?;
        consts
            .get(name)
            .map(|t| t.shape.clone())
            .or_else(|| shapes.get(name).cloned())
    };
    let const_of = |i: usize| n.input(i).and_then(|name| consts.get(name));
    match n.op_type.as_str() {
        "Relu" | "LeakyRelu" | "Gelu" | "Erf" | "Sigmoid" | "HardSigmoid" | "HardSwish"
        | "Tanh" | "Clip" | "Exp" | "Log" | "Sqrt" | "Neg" | "Abs" | "Reciprocal" | "Cast"
        | "Identity" | "Softmax" | "LogSoftmax" | "LayerNormalization" | "RMSNormalization"
        | "BatchNormalization" | "Dropout" => shape_of(0),
        "Add" | "Sub" | "Mul" | "Div" | "Pow" | "Max" | "Min" | "Equal" | "Less" | "Greater"
        | "Where" => {
            let all: Vec<Vec<usize>> = (0..n.inputs.len()).map(shape_of).collect::<Option<_>>()?;
            broadcast(&all.iter().collect::<Vec<_>>())
        }
        "MatMul" => {
            let (a, b) = (shape_of(0)?, shape_of(1)?);
            if a.is_empty() || b.is_empty() {
                return None;
            }
            let (a2, b2) = (a.len() == 1, b.len() == 1);
            let a = if a2 { vec![1, a[0]] } else { a };
            let b = if b2 { vec![b[0], 1] } else { b };
            let (m, k) = (a[a.len() - 2], a[a.len() - 1]);
            let (k2, nn) = (b[b.len() - 2], b[b.len() - 1]);
            if k != k2 {
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
        "Gemm" => {
            let (a, b) = (shape_of(0)?, shape_of(1)?);
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
        "Transpose" => {
            let x = shape_of(0)?;
            let perm: Vec<usize> = match n.attr_ints("perm") {
                Some(p) => p
                    .iter()
                    .map(|&a| norm_axis(a, x.len() as i64))
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
        "Reshape" => {
            let x = shape_of(0)?;
            let target = const_of(1)?.to_i64_vec();
            reshape_target(&x, &target, n.attr_int("allowzero").unwrap_or(0) != 0).ok()
        }
        "Unsqueeze" => {
            let x = shape_of(0)?;
            let axes = match n.attr_ints("axes") {
                Some(a) => a.to_vec(),
                None => const_of(1)?.to_i64_vec(),
            };
            let r = (x.len() + axes.len()) as i64;
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
            (0..r as usize)
                .map(|i| {
                    if ax.binary_search(&i).is_ok() {
                        Some(1)
                    } else {
                        it.next().copied()
                    }
                })
                .collect()
        }
        "Squeeze" => {
            let x = shape_of(0)?;
            let axes = match n.attr_ints("axes") {
                Some(a) => Some(a.to_vec()),
                None => match n.input(1) {
                    Some(_) => Some(const_of(1)?.to_i64_vec()),
                    None => None,
                },
            };
            match axes {
                None => Some(x.into_iter().filter(|&d| d != 1).collect()),
                Some(axes) => {
                    let ax: Vec<usize> = axes
                        .iter()
                        .map(|&a| norm_axis(a, x.len() as i64))
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
            }
        }
        "Gather" => {
            let (x, ind) = (shape_of(0)?, shape_of(1)?);
            let a = norm_axis(n.attr_int("axis").unwrap_or(0), x.len() as i64)?;
            let mut out = x[..a].to_vec();
            out.extend_from_slice(&ind);
            out.extend_from_slice(&x[a + 1..]);
            Some(out)
        }
        "Concat" => {
            let parts: Vec<Vec<usize>> = (0..n.inputs.len())
                .filter(|&i| n.input(i).is_some())
                .map(shape_of)
                .collect::<Option<_>>()?;
            let first = parts.first()?.clone();
            let a = norm_axis(n.attr_int("axis")?, first.len() as i64)?;
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
        _ => None,
    }
}
