// Helpers every generated elementwise kernel shares, and the prelude of the other generated
// kernels that evaluate an elementwise expression (the fused reductions). A generated kernel
// is: activation.wgsl + this file + generated bindings, `ew_expr` and entry point.
//
// Arithmetic is f32 whatever the storage type; the helpers make the IEEE cases explicit
// where WGSL leaves them implementation-defined (max/min with NaN, pow of negatives).

// NaN test on the bits: survives compilers that assume no NaNs for `x != x`.
fn ew_isnan(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u;
}

// A quiet NaN made from a runtime value, so no constant NaN is ever folded at compile time.
fn ew_nan_like(x: f32) -> f32 {
    return bitcast<f32>(bitcast<u32>(x) | 0x7fc00000u);
}

// exp/log/sqrt/inverseSqrt outside their WGSL domain (NaN, negatives, zero, infinity) are
// left to the implementation: SwiftShader (Chromium's software adapter) gives log(-1) finite
// and exp(NaN) = inf. The IEEE answers, spelled out:
fn ew_exp(x: f32) -> f32 {
    return select(exp(x), x, ew_isnan(x));
}

// ln(1 + e^x) as max(x, 0) + log1p(e^-|x|): exp never overflows, and log1p (Goldberg's
// `log(u) * e / (u - 1)`) keeps e^x's relative precision for very negative x. NaN is
// returned explicitly: SwiftShader's exp(NaN) is inf, which made softplus(NaN) = inf there.
fn ew_softplus(x: f32) -> f32 {
    if (ew_isnan(x)) {
        return x;
    }
    let e = exp(-abs(x));
    let u = 1.0 + e;
    var l = e;
    if (u != 1.0) {
        l = log(u) * e / (u - 1.0);
    }
    return max(x, 0.0) + l;
}

fn ew_log(x: f32) -> f32 {
    if (ew_isnan(x) || x < 0.0) {
        return ew_nan_like(x);
    }
    if (x == 0.0) {
        return -ew_inf_like(x);
    }
    if (x > bitcast<f32>(0x7f7fffffu)) {
        return x;
    }
    return log(x);
}

fn ew_sqrt(x: f32) -> f32 {
    if (ew_isnan(x) || x < 0.0) {
        return ew_nan_like(x);
    }
    if (x == 0.0 || x > bitcast<f32>(0x7f7fffffu)) {
        return x;
    }
    return sqrt(x);
}

fn ew_rsqrt(x: f32) -> f32 {
    if (ew_isnan(x) || x < 0.0) {
        return ew_nan_like(x);
    }
    if (x == 0.0) {
        // 1 / sqrt(+-0) = +-inf: the sign bit of x on an infinity.
        return bitcast<f32>((bitcast<u32>(x) & 0x80000000u) | 0x7f800000u);
    }
    if (x > bitcast<f32>(0x7f7fffffu)) {
        return 0.0;
    }
    return inverseSqrt(x);
}

// WGSL max/min with a NaN operand may return either operand; IEEE 754-2019 maximum returns NaN.
fn ew_max(a: f32, b: f32) -> f32 {
    return select(max(a, b), a + b, ew_isnan(a) || ew_isnan(b));
}

fn ew_min(a: f32, b: f32) -> f32 {
    return select(min(a, b), a + b, ew_isnan(a) || ew_isnan(b));
}

// relu that propagates NaN; see docs/decisions.md#elementwise-nan.
fn ew_relu(x: f32) -> f32 {
    // Integer tests of the bits (negative, below -0, not NaN): a float `x < 0.0` select may be
    // compiled as maxps(x, 0), which drops NaN (lavapipe on AVX2 does).
    let b = bitcast<u32>(x);
    return select(x, 0.0, b > 0x80000000u && b <= 0xff800000u);
}

// numpy order: max with lo first, then min with hi (so lo > hi gives hi).
fn ew_clip(x: f32, lo: f32, hi: f32) -> f32 {
    return select(min(max(x, lo), hi), x, ew_isnan(x));
}

fn ew_hard_sigmoid(x: f32, alpha: f32, beta: f32) -> f32 {
    return ew_clip(alpha * x + beta, 0.0, 1.0);
}

// +inf made from a runtime value (a constant infinity would be folded and rejected).
fn ew_inf_like(x: f32) -> f32 {
    return bitcast<f32>((bitcast<u32>(x) & 0u) | 0x7f800000u);
}

// |a|^b for a >= 0, b != 0, a != 1, neither NaN. Zeros and infinities are spelled out:
// drivers compute pow as exp2(b * log2(a)) and lavapipe gives pow(0, -1) = 0.
fn ew_pow_abs(a: f32, b: f32) -> f32 {
    // f32::MAX exactly: the decimal 3.4028235e38 lies above it and Tint rejects it.
    let big = bitcast<f32>(0x7f7fffffu);
    let inf = ew_inf_like(a);
    if (a == 0.0) {
        return select(0.0, inf, b < 0.0);
    }
    if (a > big) {
        return select(0.0, inf, b > 0.0);
    }
    if (abs(b) > big) {
        return select(0.0, inf, (a > 1.0) == (b > 0.0));
    }
    return pow(a, b);
}

// C pow semantics: WGSL pow(x, y) is only defined for x > 0 (it is exp2(y * log2(x))).
fn ew_pow(a: f32, b: f32) -> f32 {
    // f32::MAX exactly: the decimal 3.4028235e38 lies above it and Tint rejects it.
    let big = bitcast<f32>(0x7f7fffffu);
    if (b == 0.0 || a == 1.0 || (a == -1.0 && abs(b) > big)) {
        return 1.0;
    }
    if (ew_isnan(a) || ew_isnan(b)) {
        return a + b;
    }
    let r = ew_pow_abs(abs(a), b);
    // The sign bit, so that -0 and -inf follow C too (pow(-0, -1) = -inf).
    if ((bitcast<u32>(a) & 0x80000000u) != 0u) {
        if (floor(b) != b) {
            // Non-integer exponent: NaN for finite negative bases, like |a|^b for -0 and -inf.
            return select(ew_nan_like(a), r, a == 0.0 || abs(a) > big);
        }
        // Odd integer exponents keep the sign; every f32 above 2^24 is even.
        let odd = abs(b) < 16777216.0 && fract(b * 0.5) != 0.0;
        return select(r, -r, odd);
    }
    return r;
}

// `v` (an activation of x), or 0 where x is -inf; a bit test, which no fast-math fold removes.
fn ew_neg_inf_to_zero(x: f32, v: f32) -> f32 {
    return select(v, 0.0, bitcast<u32>(x) == 0xff800000u);
}

// f32 -> i32 truncating toward zero, saturating, NaN -> 0 (Rust `as` semantics).
fn ew_to_i32(x: f32) -> i32 {
    if (ew_isnan(x)) {
        return 0i;
    }
    if (x >= 2147483648.0) {
        return 2147483647i;
    }
    if (x < -2147483648.0) {
        return -2147483647i - 1i;
    }
    return i32(x);
}

// Integer arithmetic (docs/decisions.md#integer-arithmetic): exact in i32, or `*bad` set to
// 1 (overflow) or 2 (division by zero) for the host to turn into an error after the run.
// The arithmetic is done on u32 bit patterns: wrapping by definition, and no signed division
// or remainder, which a lavapipe build got wrong for negative operands (see gather.wgsl).

// |x| as u32 (2^31 for i32's minimum).
fn ew_mag(x: i32) -> u32 {
    return select(u32(x), 0u - u32(x), x < 0i);
}

fn ew_add_i32(a: i32, b: i32, bad: ptr<function, u32>) -> i32 {
    let r = i32(u32(a) + u32(b));
    // Overflow: both operands have the sign the result lacks.
    if (((a ^ r) & (b ^ r)) < 0i) {
        *bad = 1u;
    }
    return r;
}

fn ew_sub_i32(a: i32, b: i32, bad: ptr<function, u32>) -> i32 {
    let r = i32(u32(a) - u32(b));
    if (((a ^ b) & (a ^ r)) < 0i) {
        *bad = 1u;
    }
    return r;
}

fn ew_mul_i32(a: i32, b: i32, bad: ptr<function, u32>) -> i32 {
    let ua = ew_mag(a);
    let ub = ew_mag(b);
    let neg = (a < 0i) != (b < 0i);
    if (ua != 0u && ub > 0xffffffffu / ua) {
        *bad = 1u;
        return 0i;
    }
    let m = ua * ub;
    if (m > select(0x7fffffffu, 0x80000000u, neg)) {
        *bad = 1u;
    }
    return i32(select(m, 0u - m, neg));
}

fn ew_neg_i32(x: i32, bad: ptr<function, u32>) -> i32 {
    if (x == -2147483647i - 1i) {
        *bad = 1u;
    }
    return i32(0u - u32(x));
}

fn ew_abs_i32(x: i32, bad: ptr<function, u32>) -> i32 {
    if (x == -2147483647i - 1i) {
        *bad = 1u;
    }
    return i32(ew_mag(x));
}

// Truncating division (what casting the true quotient to an integer gives).
fn ew_div_i32(a: i32, b: i32, bad: ptr<function, u32>) -> i32 {
    if (b == 0i) {
        *bad = 2u;
        return 0i;
    }
    let q = ew_mag(a) / ew_mag(b);
    if ((a < 0i) != (b < 0i)) {
        return i32(0u - q);
    }
    if (q > 0x7fffffffu) {
        *bad = 1u;
    }
    return i32(q);
}

// An integer as f32, with `*bad` = 3 where f32 cannot hold it exactly (more than 24
// significant bits).
fn ew_i32_to_f32(x: i32, bad: ptr<function, u32>) -> f32 {
    let m = ew_mag(x);
    if ((m >> (countTrailingZeros(m) & 31u)) >= 16777216u) {
        *bad = 3u;
    }
    return f32(x);
}
