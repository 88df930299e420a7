//! The f64 meaning of elementwise expressions, plus a forward error bound for comparing
//! f32 kernels against it on arbitrary trees.
//!
//! [`Expr`] is pure data (no device), so the oracle reads the same tree the generator does.

use crate::{Tolerance, EXACT_F32, F16_STORAGE, TRANSCENDENTAL_F32};
pub use flopwatt_ir::op::{binary_f64, unary_f64};
use flopwatt_ir::op::{BinaryOp, Expr, UnaryOp};
use flopwatt_ir::shape::{broadcast_shapes, broadcast_strides, contiguous_strides, numel};
use flopwatt_ir::DType;

/// Rounds a value to a dtype: i32 truncates, saturates and maps NaN to 0 (Rust `as`), f16
/// rounds to nearest, f32 rounds to nearest.
pub fn cast_f64(x: f64, dtype: DType) -> f64 {
    match dtype {
        DType::F32 => x as f32 as f64,
        DType::F16 => half::f16::from_f64(x).to_f64(),
        DType::I32 => (x as f32) as i32 as f64,
    }
}

/// The reference meaning of `expr` at one element, given that element of every input.
pub fn eval_f64(expr: &Expr, inputs: &[f64]) -> f64 {
    match expr {
        Expr::Input(i) => inputs[*i],
        Expr::Const(c) => *c as f64,
        Expr::Unary(op, a) => unary_f64(*op, eval_f64(a, inputs)),
        Expr::Binary(op, a, b) => binary_f64(*op, eval_f64(a, inputs), eval_f64(b, inputs)),
        Expr::Where(c, a, b) => {
            if eval_f64(c, inputs) != 0.0 {
                eval_f64(a, inputs)
            } else {
                eval_f64(b, inputs)
            }
        }
        Expr::Cast(d, a) => cast_f64(eval_f64(a, inputs), *d),
    }
}

/// The tolerance of one op applied once to exact inputs.
pub fn unary_tolerance(op: UnaryOp) -> Tolerance {
    if op.is_exact() {
        EXACT_F32
    } else {
        TRANSCENDENTAL_F32
    }
}

/// The tolerance of one binary op applied once to exact inputs.
pub fn binary_tolerance(op: BinaryOp) -> Tolerance {
    if op.is_exact() {
        EXACT_F32
    } else {
        TRANSCENDENTAL_F32
    }
}

fn local(tol: Tolerance, r: f64) -> f64 {
    tol.abs + tol.rel * r.abs()
}

/// Above this magnitude an f32 intermediate may have overflowed where f64 did not.
const F32_SAFE: f64 = 1e30;

/// The reference value and a bound on how far an f32 kernel may be from it at this element:
/// each node adds its own rounding (its op's tolerance) to the input errors propagated
/// through it. The bound is infinite where the answer is ill-conditioned (a comparison of
/// nearly equal values, a domain edge within the error, a possible f32 overflow), and 0 for a
/// NaN that no perturbation avoids. Used by the random-tree tests.
pub fn eval_bound(expr: &Expr, inputs: &[f64]) -> (f64, f64) {
    let (v, e) = eval_bound_inner(expr, inputs);
    if v.is_finite() && v.abs() > F32_SAFE {
        return (v, f64::INFINITY);
    }
    (v, e)
}

fn perturbed(f: impl Fn(f64) -> f64, x: f64, ex: f64, tol: Tolerance) -> (f64, f64) {
    let r = f(x);
    if x.is_nan() {
        return (r, ex);
    }
    let (rp, rm) = (f(x + ex), f(x - ex));
    if r.is_nan() {
        let definite = rp.is_nan() && rm.is_nan();
        return (r, if definite { 0.0 } else { f64::INFINITY });
    }
    if rp.is_nan()
        || rm.is_nan()
        || !r.is_finite()
        || !rp.is_finite()
        || !rm.is_finite()
        || r.abs() > F32_SAFE
    {
        return (r, f64::INFINITY);
    }
    // Also sample the middle of each side: catches non-monotone ops (gelu, silu) roughly.
    let (hp, hm) = (f(x + ex / 2.0), f(x - ex / 2.0));
    let spread = [rp, rm, hp, hm]
        .iter()
        .map(|v| (v - r).abs())
        .fold(0.0, f64::max);
    (r, spread + local(tol, r))
}

fn eval_bound_inner(expr: &Expr, inputs: &[f64]) -> (f64, f64) {
    match expr {
        Expr::Input(i) => (inputs[*i], 0.0),
        Expr::Const(c) => (*c as f64, 0.0),
        Expr::Unary(op, a) => {
            let (x, ex) = eval_bound_inner(a, inputs);
            if !ex.is_finite() {
                return (unary_f64(*op, x), f64::INFINITY);
            }
            perturbed(|v| unary_f64(*op, v), x, ex, unary_tolerance(*op))
        }
        Expr::Binary(op, a, b) => {
            let (x, ex) = eval_bound_inner(a, inputs);
            let (y, ey) = eval_bound_inner(b, inputs);
            let r = binary_f64(*op, x, y);
            if !ex.is_finite() || !ey.is_finite() {
                return (r, f64::INFINITY);
            }
            if x.is_nan() || y.is_nan() {
                return (r, ex.max(ey));
            }
            if op.is_comparison() {
                let ambiguous = (x - y).abs() <= ex + ey || !x.is_finite() || !y.is_finite();
                return (
                    r,
                    if ambiguous && (ex + ey > 0.0) {
                        1.0
                    } else {
                        0.0
                    },
                );
            }
            if *op == BinaryOp::Pow {
                // Perturb both operands; a negative base with a non-integer nearby exponent
                // can flip between NaN and a number.
                let f = |dx: f64, dy: f64| binary_f64(*op, x + dx, y + dy);
                let cands = [
                    f(ex, 0.0),
                    f(-ex, 0.0),
                    f(0.0, ey),
                    f(0.0, -ey),
                    f(ex, ey),
                    f(-ex, -ey),
                    f(ex, -ey),
                    f(-ex, ey),
                ];
                if r.is_nan() {
                    let definite = cands.iter().all(|c| c.is_nan());
                    return (r, if definite { 0.0 } else { f64::INFINITY });
                }
                if cands.iter().any(|c| !c.is_finite()) || !r.is_finite() {
                    return (r, f64::INFINITY);
                }
                let spread = cands.iter().map(|c| (c - r).abs()).fold(0.0, f64::max);
                return (r, spread + local(binary_tolerance(*op), r));
            }
            if !r.is_finite() {
                return (r, if ex + ey == 0.0 { 0.0 } else { f64::INFINITY });
            }
            let prop = match op {
                BinaryOp::Add | BinaryOp::Sub => ex + ey,
                BinaryOp::Mul => x.abs() * ey + y.abs() * ex + ex * ey,
                BinaryOp::Div => {
                    if y.abs() <= ey * 1.01 {
                        return (r, f64::INFINITY);
                    }
                    (ex + r.abs() * ey) / (y.abs() - ey)
                }
                BinaryOp::Max | BinaryOp::Min => ex.max(ey),
                _ => unreachable!("comparisons and pow handled above"),
            };
            (r, prop + local(binary_tolerance(*op), r))
        }
        Expr::Where(c, a, b) => {
            let (cv, ec) = eval_bound_inner(c, inputs);
            let (av, ea) = eval_bound_inner(a, inputs);
            let (bv, eb) = eval_bound_inner(b, inputs);
            let take_a = cv != 0.0;
            let r = if take_a { av } else { bv };
            let ambiguous = !ec.is_finite() || (!cv.is_nan() && cv.abs() <= ec);
            if ambiguous {
                if !ea.is_finite() || !eb.is_finite() || av.is_nan() != bv.is_nan() {
                    return (r, f64::INFINITY);
                }
                if av.is_nan() {
                    return (r, 0.0);
                }
                return (r, (av - bv).abs() + ea.max(eb));
            }
            (r, if take_a { ea } else { eb })
        }
        Expr::Cast(d, a) => {
            let (x, ex) = eval_bound_inner(a, inputs);
            let r = cast_f64(x, *d);
            if !ex.is_finite() {
                return (r, f64::INFINITY);
            }
            match d {
                DType::F32 => (r, ex + local(EXACT_F32, r)),
                DType::F16 => {
                    if x.is_finite() && x.abs() > 65000.0 {
                        return (r, f64::INFINITY);
                    }
                    (r, ex * 1.001 + local(F16_STORAGE, r))
                }
                DType::I32 => {
                    if x.is_nan() {
                        return (r, 0.0);
                    }
                    let lo = cast_f64(x - ex, DType::I32);
                    let hi = cast_f64(x + ex, DType::I32);
                    // Truncation jumps by 1 at integers; a step inside the error is ambiguous.
                    (r, (hi - lo).abs())
                }
            }
        }
    }
}

/// Broadcasts `inputs` (row-major data with shapes) to their common shape and evaluates
/// `expr` at every element; `None` when the shapes do not broadcast.
pub fn eval_broadcast(
    expr: &Expr,
    inputs: &[(&[f64], &[usize])],
) -> Option<(Vec<usize>, Vec<f64>)> {
    let rows = broadcast_rows(inputs)?;
    let vals = rows.1.iter().map(|row| eval_f64(expr, row)).collect();
    Some((rows.0, vals))
}

/// Per output element, the value of every input after broadcasting (plus the common shape).
pub fn broadcast_rows(inputs: &[(&[f64], &[usize])]) -> Option<(Vec<usize>, Vec<Vec<f64>>)> {
    let mut shape: Vec<usize> = Vec::new();
    for (_, s) in inputs {
        shape = broadcast_shapes(&shape, s)?;
    }
    let strides: Vec<Vec<usize>> = inputs
        .iter()
        .map(|(_, s)| broadcast_strides(s, &contiguous_strides(s), &shape))
        .collect::<Option<_>>()?;
    let n = numel(&shape);
    let mut rows = Vec::with_capacity(n);
    let mut idx = vec![0usize; shape.len()];
    for _ in 0..n {
        let row = inputs
            .iter()
            .zip(&strides)
            .map(|((d, _), st)| d[idx.iter().zip(st).map(|(i, s)| i * s).sum::<usize>()])
            .collect();
        rows.push(row);
        for d in (0..idx.len()).rev() {
            idx[d] += 1;
            if idx[d] < shape[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    Some((shape, rows))
}

#[cfg(test)]
mod tests {
    use super::*;
    use flopwatt_ir::op::Activation;

    #[test]
    fn meanings() {
        assert!(binary_f64(BinaryOp::Max, f64::NAN, 1.0).is_nan());
        assert_eq!(binary_f64(BinaryOp::Pow, -2.0, 3.0), -8.0);
        assert!(binary_f64(BinaryOp::Pow, -2.0, 0.5).is_nan());
        assert_eq!(binary_f64(BinaryOp::Pow, f64::NAN, 0.0), 1.0);
        assert!(unary_f64(UnaryOp::Act(Activation::Relu), f64::NAN).is_nan());
        assert_eq!(cast_f64(f64::NAN, DType::I32), 0.0);
        assert_eq!(cast_f64(-2.7, DType::I32), -2.0);
        assert_eq!(cast_f64(3e10, DType::I32), i32::MAX as f64);
        let e = Expr::where_(
            Expr::binary(BinaryOp::Gt, Expr::input(0), Expr::Const(0.0)),
            Expr::input(0),
            Expr::input(1),
        );
        assert_eq!(eval_f64(&e, &[2.0, 5.0]), 2.0);
        assert_eq!(eval_f64(&e, &[-2.0, 5.0]), 5.0);
        let (shape, v) = eval_broadcast(
            &(Expr::input(0) + Expr::input(1)),
            &[(&[1.0, 2.0, 3.0], &[3, 1]), (&[10.0, 20.0], &[2])],
        )
        .unwrap();
        assert_eq!(shape, vec![3, 2]);
        assert_eq!(v, vec![11.0, 21.0, 12.0, 22.0, 13.0, 23.0]);
    }

    #[test]
    fn bounds_flag_ill_conditioned_cases() {
        let lt = Expr::binary(
            BinaryOp::Lt,
            Expr::input(0).unary(UnaryOp::Exp),
            Expr::Const(1.0),
        );
        assert_eq!(eval_bound(&lt, &[1e-9]).1, 1.0);
        assert_eq!(eval_bound(&lt, &[0.5]).1, 0.0);
        let lg = Expr::input(0).unary(UnaryOp::Log);
        let (v, e) = eval_bound(&lg, &[-1.0]);
        assert!(v.is_nan() && e == 0.0);
    }
}
