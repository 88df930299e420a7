//! Elementwise ops: activations and unary math, broadcasting arithmetic and comparisons,
//! `Where`, `Clip`, `Cast` and `Identity`; the arithmetic on integers folds at load.

use super::{bcast_index, broadcast, checked_numel};
use crate::error::Result;
use crate::graph::ValueId;
use crate::onnx::fold::{FoldArgs, Known};
use crate::onnx::to_graph::LowerCtx;
use crate::onnx::{dtype_name, ElemType, Node, TensorValue};
use crate::ops::elementwise::{BinaryOp, UnaryOp};
use crate::ops::Activation;
use crate::tensor::DType;

type Lowered = Result<Vec<ValueId>>;

fn unary(cx: &mut LowerCtx<'_>, n: &Node, op: UnaryOp) -> Lowered {
    let x = cx.input(n, 0)?;
    Ok(vec![cx.g.unary(x, op)?])
}

fn binary(cx: &mut LowerCtx<'_>, n: &Node, op: BinaryOp) -> Lowered {
    let a = cx.input(n, 0)?;
    let b = cx.input(n, 1)?;
    Ok(vec![cx.g.binary(a, b, op)?])
}

pub(crate) fn identity(cx: &mut LowerCtx<'_>, n: &Node) -> Lowered {
    Ok(vec![cx.input(n, 0)?])
}

pub(crate) fn cast(cx: &mut LowerCtx<'_>, n: &Node) -> Lowered {
    let y = match n.attr_int("to") {
        Some(1) => {
            let x = cx.input(n, 0)?;
            cx.g.cast(x, DType::F32)?
        }
        Some(6 | 7) => {
            let x = cx.input(n, 0)?;
            cx.g.cast(x, DType::I32)?
        }
        Some(9) => {
            let x = cx.input(n, 0)?;
            let x = cx.g.cast(x, DType::F32)?;
            let z = cx.g.scalar(0.0);
            let ne = cx.g.binary(x, z, BinaryOp::Ne)?;
            cx.g.cast(ne, DType::I32)?
        }
        t => {
            return Err(n.error(
                cx.opset,
                format!(
                    "cast to {} is not supported on the graph",
                    dtype_name(t.unwrap_or(0) as i32)
                ),
            ))
        }
    };
    Ok(vec![y])
}

pub(crate) fn relu(cx: &mut LowerCtx<'_>, n: &Node) -> Lowered {
    unary(cx, n, UnaryOp::Act(Activation::Relu))
}

pub(crate) fn sigmoid(cx: &mut LowerCtx<'_>, n: &Node) -> Lowered {
    unary(cx, n, UnaryOp::Act(Activation::Sigmoid))
}

pub(crate) fn tanh(cx: &mut LowerCtx<'_>, n: &Node) -> Lowered {
    unary(cx, n, UnaryOp::Act(Activation::Tanh))
}

pub(crate) fn gelu(cx: &mut LowerCtx<'_>, n: &Node) -> Lowered {
    let a = if n.attr_str("approximate") == Some("tanh") {
        Activation::GeluTanh
    } else {
        Activation::Gelu
    };
    unary(cx, n, UnaryOp::Act(a))
}

pub(crate) fn leaky_relu(cx: &mut LowerCtx<'_>, n: &Node) -> Lowered {
    let alpha = n.attr_float("alpha").unwrap_or(0.01);
    unary(cx, n, UnaryOp::Act(Activation::LeakyRelu(alpha)))
}

pub(crate) fn exp(cx: &mut LowerCtx<'_>, n: &Node) -> Lowered {
    unary(cx, n, UnaryOp::Exp)
}

pub(crate) fn log(cx: &mut LowerCtx<'_>, n: &Node) -> Lowered {
    unary(cx, n, UnaryOp::Log)
}

pub(crate) fn sqrt(cx: &mut LowerCtx<'_>, n: &Node) -> Lowered {
    unary(cx, n, UnaryOp::Sqrt)
}

pub(crate) fn neg(cx: &mut LowerCtx<'_>, n: &Node) -> Lowered {
    unary(cx, n, UnaryOp::Neg)
}

pub(crate) fn abs(cx: &mut LowerCtx<'_>, n: &Node) -> Lowered {
    unary(cx, n, UnaryOp::Abs)
}

pub(crate) fn reciprocal(cx: &mut LowerCtx<'_>, n: &Node) -> Lowered {
    unary(cx, n, UnaryOp::Reciprocal)
}

pub(crate) fn erf(cx: &mut LowerCtx<'_>, n: &Node) -> Lowered {
    unary(cx, n, UnaryOp::Erf)
}

pub(crate) fn softplus(cx: &mut LowerCtx<'_>, n: &Node) -> Lowered {
    unary(cx, n, UnaryOp::Softplus)
}

pub(crate) fn hard_sigmoid(cx: &mut LowerCtx<'_>, n: &Node) -> Lowered {
    let op = UnaryOp::HardSigmoid {
        alpha: n.attr_float("alpha").unwrap_or(0.2),
        beta: n.attr_float("beta").unwrap_or(0.5),
    };
    unary(cx, n, op)
}

pub(crate) fn hard_swish(cx: &mut LowerCtx<'_>, n: &Node) -> Lowered {
    let x = cx.input(n, 0)?;
    let h = cx.g.unary(
        x,
        UnaryOp::HardSigmoid {
            alpha: 1.0 / 6.0,
            beta: 0.5,
        },
    )?;
    Ok(vec![cx.g.mul(x, h)?])
}

pub(crate) fn clip(cx: &mut LowerCtx<'_>, n: &Node) -> Lowered {
    let bound = |i: usize| cx.init(n, i).and_then(|t| t.to_f32_vec().first().copied());
    let (lo, hi) = (bound(1), bound(2));
    if (n.input(1).is_some() && lo.is_none()) || (n.input(2).is_some() && hi.is_none()) {
        // Run-time bounds: min(max(x, lo), hi), which also gives hi when lo > hi.
        let mut y = cx.input(n, 0)?;
        if n.input(1).is_some() {
            let lo = cx.input(n, 1)?;
            y = cx.g.binary(y, lo, BinaryOp::Max)?;
        }
        if n.input(2).is_some() {
            let hi = cx.input(n, 2)?;
            y = cx.g.binary(y, hi, BinaryOp::Min)?;
        }
        Ok(vec![y])
    } else {
        let min = lo.unwrap_or(f32::NEG_INFINITY);
        let max = hi.unwrap_or(f32::INFINITY);
        unary(cx, n, UnaryOp::Clip { min, max })
    }
}

pub(crate) fn add(cx: &mut LowerCtx<'_>, n: &Node) -> Lowered {
    binary(cx, n, BinaryOp::Add)
}

pub(crate) fn sub(cx: &mut LowerCtx<'_>, n: &Node) -> Lowered {
    binary(cx, n, BinaryOp::Sub)
}

pub(crate) fn mul(cx: &mut LowerCtx<'_>, n: &Node) -> Lowered {
    binary(cx, n, BinaryOp::Mul)
}

pub(crate) fn div(cx: &mut LowerCtx<'_>, n: &Node) -> Lowered {
    binary(cx, n, BinaryOp::Div)
}

pub(crate) fn pow(cx: &mut LowerCtx<'_>, n: &Node) -> Lowered {
    binary(cx, n, BinaryOp::Pow)
}

pub(crate) fn equal(cx: &mut LowerCtx<'_>, n: &Node) -> Lowered {
    binary(cx, n, BinaryOp::Eq)
}

pub(crate) fn less(cx: &mut LowerCtx<'_>, n: &Node) -> Lowered {
    binary(cx, n, BinaryOp::Lt)
}

pub(crate) fn greater(cx: &mut LowerCtx<'_>, n: &Node) -> Lowered {
    binary(cx, n, BinaryOp::Gt)
}

/// Max and Min take any number of inputs: a left fold of the binary op.
fn variadic(cx: &mut LowerCtx<'_>, n: &Node, op: BinaryOp) -> Lowered {
    let mut acc = cx.input(n, 0)?;
    for i in 1..n.inputs.len() {
        let b = cx.input(n, i)?;
        acc = cx.g.binary(acc, b, op)?;
    }
    Ok(vec![acc])
}

pub(crate) fn max(cx: &mut LowerCtx<'_>, n: &Node) -> Lowered {
    variadic(cx, n, BinaryOp::Max)
}

pub(crate) fn min(cx: &mut LowerCtx<'_>, n: &Node) -> Lowered {
    variadic(cx, n, BinaryOp::Min)
}

pub(crate) fn where_(cx: &mut LowerCtx<'_>, n: &Node) -> Lowered {
    let c = cx.input(n, 0)?;
    let a = cx.input(n, 1)?;
    let b = cx.input(n, 2)?;
    Ok(vec![cx.g.where_(c, a, b)?])
}

/// Output shape of the ops that keep their input's shape.
pub(crate) fn same_shape(k: &Known<'_>, n: &Node) -> Option<Vec<usize>> {
    k.shape_of(n, 0)
}

/// Output shape of the broadcasting ops: every input's shape, broadcast.
pub(crate) fn broadcast_shape(k: &Known<'_>, n: &Node) -> Option<Vec<usize>> {
    let all: Vec<Vec<usize>> = (0..n.inputs.len())
        .map(|i| k.shape_of(n, i))
        .collect::<Option<_>>()?;
    broadcast(&all.iter().collect::<Vec<_>>())
}

type Folded = Result<Option<TensorValue>>;

pub(crate) fn fold_identity(a: &FoldArgs<'_>) -> Folded {
    Ok(Some(a.need(0)?.clone()))
}

pub(crate) fn fold_cast(a: &FoldArgs<'_>) -> Folded {
    let to =
        a.n.attr_int("to")
            .ok_or_else(|| a.err("no `to` attribute".into()))?;
    let dt = ElemType::from_code(to as i32).ok_or_else(|| {
        a.err(format!(
            "cast to {} is not supported",
            dtype_name(to as i32)
        ))
    })?;
    let x = a.need(0)?;
    Ok(Some(if x.dtype.is_float() {
        TensorValue::from_f64(dt, x.shape.clone(), &x.to_f64_vec())
    } else {
        TensorValue::from_i64(dt, x.shape.clone(), &x.to_i64_vec())
    }))
}

pub(crate) fn fold_neg(a: &FoldArgs<'_>) -> Folded {
    let x = a.need(0)?;
    Ok(Some(if x.dtype.is_float() {
        let v: Vec<f64> = x.to_f64_vec().iter().map(|v| -v).collect();
        TensorValue::from_f64(x.dtype, x.shape.clone(), &v)
    } else {
        let v = x.to_i64_vec();
        let v: Vec<i64> = v
            .iter()
            .map(|&v| v.checked_neg().filter(|&r| fits(x.dtype, r)))
            .collect::<Option<_>>()
            .ok_or_else(|| a.err("integer overflow folding a negation".into()))?;
        TensorValue::from_i64(x.dtype, x.shape.clone(), &v)
    }))
}

/// Whether integer `v` is a value of `dtype` (folding refuses to wrap into narrow types).
fn fits(dtype: ElemType, v: i64) -> bool {
    match dtype {
        ElemType::Int32 => i32::try_from(v).is_ok(),
        ElemType::Int16 => i16::try_from(v).is_ok(),
        ElemType::Int8 => i8::try_from(v).is_ok(),
        ElemType::Uint8 => u8::try_from(v).is_ok(),
        ElemType::Uint16 => u16::try_from(v).is_ok(),
        ElemType::Uint32 => u32::try_from(v).is_ok(),
        ElemType::Uint64 => v >= 0,
        _ => true,
    }
}

/// The binary ops that fold: arithmetic, and comparisons (which give bool).
#[derive(Clone, Copy)]
enum Arith {
    Add,
    Sub,
    Mul,
    Div,
    Equal,
    Less,
    Greater,
}

impl Arith {
    fn is_comparison(self) -> bool {
        matches!(self, Arith::Equal | Arith::Less | Arith::Greater)
    }

    fn f64(self, x: f64, y: f64) -> f64 {
        match self {
            Arith::Add => x + y,
            Arith::Sub => x - y,
            Arith::Mul => x * y,
            Arith::Div => x / y,
            Arith::Equal => (x == y) as u8 as f64,
            Arith::Less => (x < y) as u8 as f64,
            Arith::Greater => (x > y) as u8 as f64,
        }
    }

    /// Exact integer arithmetic (division truncates); an error message for an overflow or
    /// a division by zero: folding never wraps silently.
    fn i64(self, x: i64, y: i64) -> std::result::Result<i64, String> {
        let overflow = || format!("integer overflow folding {x} and {y}");
        match self {
            Arith::Add => x.checked_add(y).ok_or_else(overflow),
            Arith::Sub => x.checked_sub(y).ok_or_else(overflow),
            Arith::Mul => x.checked_mul(y).ok_or_else(overflow),
            Arith::Div if y == 0 => Err("integer division by zero".into()),
            Arith::Div => x.checked_div(y).ok_or_else(overflow),
            Arith::Equal => Ok((x == y) as i64),
            Arith::Less => Ok((x < y) as i64),
            Arith::Greater => Ok((x > y) as i64),
        }
    }
}

/// Broadcasts two constants and combines them in f64 (where either is float) or i64.
fn fold_arith(a: &FoldArgs<'_>, op: Arith) -> Folded {
    let (x, y) = (a.need(0)?, a.need(1)?);
    let shape = broadcast(&[&x.shape, &y.shape]).ok_or_else(|| {
        a.err(format!(
            "shapes {:?} and {:?} do not broadcast",
            x.shape, y.shape
        ))
    })?;
    if checked_numel(&shape).is_none_or(|c| c > a.limit) {
        return Ok(None);
    }
    let (ix, iy) = (bcast_index(&shape, &x.shape), bcast_index(&shape, &y.shape));
    let dtype = if op.is_comparison() {
        ElemType::Bool
    } else {
        x.dtype
    };
    if x.dtype.is_float() || y.dtype.is_float() {
        let (vx, vy) = (x.to_f64_vec(), y.to_f64_vec());
        let v: Vec<f64> = ix
            .iter()
            .zip(&iy)
            .map(|(&i, &j)| op.f64(vx[i], vy[j]))
            .collect();
        Ok(Some(TensorValue::from_f64(dtype, shape, &v)))
    } else {
        let (vx, vy) = (x.to_i64_vec(), y.to_i64_vec());
        let mut v = Vec::with_capacity(ix.len());
        for (&i, &j) in ix.iter().zip(&iy) {
            let r = op.i64(vx[i], vy[j]).map_err(|m| a.err(m))?;
            if !fits(dtype, r) {
                return Err(a.err(format!("integer result {r} does not fit in {dtype:?}")));
            }
            v.push(r);
        }
        Ok(Some(TensorValue::from_i64(dtype, shape, &v)))
    }
}

pub(crate) fn fold_add(a: &FoldArgs<'_>) -> Folded {
    fold_arith(a, Arith::Add)
}

pub(crate) fn fold_sub(a: &FoldArgs<'_>) -> Folded {
    fold_arith(a, Arith::Sub)
}

pub(crate) fn fold_mul(a: &FoldArgs<'_>) -> Folded {
    fold_arith(a, Arith::Mul)
}

pub(crate) fn fold_div(a: &FoldArgs<'_>) -> Folded {
    fold_arith(a, Arith::Div)
}

pub(crate) fn fold_equal(a: &FoldArgs<'_>) -> Folded {
    fold_arith(a, Arith::Equal)
}

pub(crate) fn fold_less(a: &FoldArgs<'_>) -> Folded {
    fold_arith(a, Arith::Less)
}

pub(crate) fn fold_greater(a: &FoldArgs<'_>) -> Folded {
    fold_arith(a, Arith::Greater)
}

pub(crate) fn fold_where(a: &FoldArgs<'_>) -> Folded {
    let (c, x, y) = (a.need(0)?, a.need(1)?, a.need(2)?);
    let shape = broadcast(&[&c.shape, &x.shape, &y.shape]).ok_or_else(|| {
        a.err(format!(
            "shapes {:?}, {:?}, {:?} do not broadcast",
            c.shape, x.shape, y.shape
        ))
    })?;
    if checked_numel(&shape).is_none_or(|n| n > a.limit) {
        return Ok(None);
    }
    let (ic, ix, iy) = (
        bcast_index(&shape, &c.shape),
        bcast_index(&shape, &x.shape),
        bcast_index(&shape, &y.shape),
    );
    let cv = c.to_i64_vec();
    Ok(Some(if x.dtype.is_float() {
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
    }))
}
