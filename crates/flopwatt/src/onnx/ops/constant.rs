//! Ops that create constants: `Constant`, `ConstantOfShape` and `Range`. They are supported
//! only as folded at load; one whose inputs are not constant cannot be lowered.

use super::{checked_numel, pick, scalar_f, scalar_i};
use crate::error::Result;
use crate::onnx::fold::FoldArgs;
use crate::onnx::{Attr, Data, ElemType, Node, TensorValue};

type Folded = Result<Option<TensorValue>>;

pub(crate) fn fold_constant(a: &FoldArgs<'_>) -> Folded {
    constant(a.n).map(Some).map_err(|m| a.err(m))
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

pub(crate) fn fold_constant_of_shape(a: &FoldArgs<'_>) -> Folded {
    let shape: Vec<usize> = a
        .need(0)?
        .to_i64_vec()
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| a.err(format!("negative dimension {d}"))))
        .collect::<Result<_>>()?;
    let count = checked_numel(&shape).ok_or_else(|| a.err(format!("shape {shape:?} overflows")))?;
    if count > a.limit {
        return Ok(None);
    }
    let value = match a.n.attributes.get("value") {
        Some(Attr::Tensor(t)) if t.numel() == 1 => t.clone(),
        Some(_) => return Err(a.err("`value` must be a one-element tensor".into())),
        None => TensorValue::from_f64(ElemType::Float, vec![1], &[0.0]),
    };
    Ok(Some(pick(&value, shape, &vec![0; count])))
}

/// start, start + delta, ... up to limit (exclusive), in f64 or i64 by the start's type.
pub(crate) fn fold_range(a: &FoldArgs<'_>) -> Folded {
    let s = a.need(0)?;
    let (l, d) = (a.need(1)?, a.need(2)?);
    if s.dtype.is_float() {
        let (s0, l0, d0) = (scalar_f(s), scalar_f(l), scalar_f(d));
        if d0 == 0.0 || !(s0.is_finite() && l0.is_finite() && d0.is_finite()) {
            return Err(a.err(format!("bad range start={s0} limit={l0} delta={d0}")));
        }
        let count = ((l0 - s0) / d0).ceil().max(0.0);
        if count > a.limit as f64 {
            return Ok(None);
        }
        let v: Vec<f64> = (0..count as usize).map(|i| s0 + i as f64 * d0).collect();
        Ok(Some(TensorValue::from_f64(s.dtype, vec![v.len()], &v)))
    } else {
        let (s0, l0, d0) = (scalar_i(s), scalar_i(l), scalar_i(d));
        if d0 == 0 {
            return Err(a.err("range delta is 0".into()));
        }
        let span = l0 as i128 - s0 as i128;
        let count = ((span + d0 as i128 - d0.signum() as i128) / d0 as i128).max(0);
        if count > a.limit as i128 {
            return Ok(None);
        }
        let v: Vec<i64> = (0..count as i64).map(|i| s0 + i * d0).collect();
        Ok(Some(TensorValue::from_i64(s.dtype, vec![v.len()], &v)))
    }
}
