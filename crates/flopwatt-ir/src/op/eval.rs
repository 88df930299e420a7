//! The f64 meaning of each scalar op: the oracle the kernels are checked against, and what
//! constant folding computes.

use super::{Activation, BinaryOp, UnaryOp};

/// A unary op in f64.
pub fn unary_f64(op: UnaryOp, x: f64) -> f64 {
    match op {
        UnaryOp::Neg => -x,
        UnaryOp::Abs => x.abs(),
        UnaryOp::Exp => x.exp(),
        UnaryOp::Log => x.ln(),
        UnaryOp::Sqrt => x.sqrt(),
        UnaryOp::Rsqrt => 1.0 / x.sqrt(),
        UnaryOp::Reciprocal => 1.0 / x,
        // ln(1 + e^x) = max(x, 0) + ln(1 + e^-|x|): no overflow for large |x|.
        UnaryOp::Softplus => x.max(0.0) + (-x.abs()).exp().ln_1p(),
        UnaryOp::Erf => {
            if x.is_infinite() {
                x.signum()
            } else {
                erf(x)
            }
        }
        // f64::max ignores NaN; the kernels propagate it (IEEE 754-2019 maximum).
        UnaryOp::Act(Activation::Relu) => {
            if x.is_nan() {
                x
            } else {
                x.max(0.0)
            }
        }
        // x * g(x) forms are inf * 0 at -inf in f64 too; state the limits instead.
        UnaryOp::Act(Activation::Gelu | Activation::GeluTanh | Activation::Silu)
            if x.is_infinite() =>
        {
            x.max(0.0)
        }
        UnaryOp::Act(a) => a.apply_f64(x),
        UnaryOp::HardSigmoid { alpha, beta } => clip(alpha as f64 * x + beta as f64, 0.0, 1.0),
        UnaryOp::Clip { min, max } => clip(x, min as f64, max as f64),
    }
}

fn clip(x: f64, lo: f64, hi: f64) -> f64 {
    if x.is_nan() {
        x
    } else {
        x.max(lo).min(hi)
    }
}

fn bool01(b: bool) -> f64 {
    if b {
        1.0
    } else {
        0.0
    }
}

/// A binary op in f64 (comparisons give 0/1, max/min propagate NaN, pow is C's).
pub fn binary_f64(op: BinaryOp, a: f64, b: f64) -> f64 {
    match op {
        BinaryOp::Add => a + b,
        BinaryOp::Sub => a - b,
        BinaryOp::Mul => a * b,
        BinaryOp::Div => a / b,
        BinaryOp::Pow => a.powf(b),
        BinaryOp::Max => {
            if a.is_nan() || b.is_nan() {
                f64::NAN
            } else {
                a.max(b)
            }
        }
        BinaryOp::Min => {
            if a.is_nan() || b.is_nan() {
                f64::NAN
            } else {
                a.min(b)
            }
        }
        BinaryOp::Eq => bool01(a == b),
        BinaryOp::Ne => bool01(a != b),
        BinaryOp::Lt => bool01(a < b),
        BinaryOp::Le => bool01(a <= b),
        BinaryOp::Gt => bool01(a > b),
        BinaryOp::Ge => bool01(a >= b),
    }
}

/// erf in f64 (Abramowitz-Stegun 7.1.26 is too coarse for an oracle; this uses the series
/// for small |x| and a continued-fraction-free erfc expansion with 1e-15 relative error).
pub fn erf(x: f64) -> f64 {
    // W. J. Cody's rational approximations are long; use libm-quality series + erfc via
    // Lentz continued fraction, both converge fast in their ranges.
    if x.is_infinite() {
        return x.signum();
    }
    let ax = x.abs();
    if ax < 2.5 {
        // Maclaurin series: erf x = 2/sqrt(pi) * sum (-1)^n x^(2n+1) / (n! (2n+1)).
        let mut sum = 0.0f64;
        let mut term = ax;
        let mut n = 0.0;
        while term.abs() > 1e-17 * sum.abs().max(1e-300) {
            sum += term / (2.0 * n + 1.0);
            n += 1.0;
            term *= -ax * ax / n;
            if n > 200.0 {
                break;
            }
        }
        return x.signum() * sum * 2.0 / std::f64::consts::PI.sqrt();
    }
    // erfc x = exp(-x^2)/sqrt(pi) * 1/(x + 1/2/(x + 1/(x + 3/2/(x + ...)))) (Lentz).
    let mut f = ax;
    let mut c = ax;
    let mut d = 0.0;
    for k in 1..300 {
        let a = k as f64 / 2.0;
        d = ax + a * d;
        d = if d == 0.0 { 1e-300 } else { 1.0 / d };
        c = ax + a / c;
        let delta = c * d;
        f *= delta;
        if (delta - 1.0).abs() < 1e-16 {
            break;
        }
    }
    let erfc = (-ax * ax).exp() / std::f64::consts::PI.sqrt() / f;
    x.signum() * (1.0 - erfc)
}
