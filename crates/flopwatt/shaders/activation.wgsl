// Activation helpers shared by elementwise kernels and matmul/conv epilogues.
// Written to stay finite for large |x|: exp is only ever taken of a non-positive number.

fn act_sigmoid(x: f32) -> f32 {
    let e = exp(-abs(x));
    let s = 1.0 / (1.0 + e);
    return select(e * s, s, x >= 0.0);
}

fn act_tanh(x: f32) -> f32 {
    // tanh(x) = sign(x) * (1 - e) / (1 + e) with e = exp(-2|x|).
    let e = exp(-2.0 * abs(x));
    return sign(x) * (1.0 - e) / (1.0 + e);
}

// relu that propagates NaN (WGSL's max leaves NaN implementation-defined).
fn act_relu(x: f32) -> f32 {
    // Integer tests of the bits (negative, below -0, not NaN): a float `x < 0.0` select may be
    // compiled as maxps(x, 0), which drops NaN (lavapipe on AVX2 does).
    let b = bitcast<u32>(x);
    return select(x, 0.0, b > 0x80000000u && b <= 0xff800000u);
}

// Below -200 the product already rounds to -0 for finite x; the select only turns -inf * 0
// (NaN) into the limit 0.
fn act_silu(x: f32) -> f32 {
    return select(x * act_sigmoid(x), 0.0, x < -200.0);
}

fn act_leaky_relu(x: f32, alpha: f32) -> f32 {
    return select(alpha * x, x, x > 0.0);
}

// erf by Abramowitz-Stegun 7.1.26 is only 1e-7 absolute; use the W. J. Cody style rational
// approximation via erfc for |x| > 0.5 and a Taylor-like series near 0 to keep 1e-6 relative.
fn act_erf(x: f32) -> f32 {
    let ax = abs(x);
    if (ax < 0.5) {
        let t = x * x;
        // Maclaurin series to x^13: error < 1e-8 for |x| < 0.5.
        let p = 1.0 + t * (-1.0 / 3.0 + t * (1.0 / 10.0 + t * (-1.0 / 42.0 + t * (1.0 / 216.0 + t * (-1.0 / 1320.0 + t * (1.0 / 9360.0))))));
        return 1.1283791670955126 * x * p;
    }
    // Numerical Recipes erfc (Chebyshev), relative error < 1.2e-7.
    let z = 1.0 / (1.0 + 0.5 * ax);
    let r = z * exp(-ax * ax - 1.26551223 + z * (1.00002368 + z * (0.37409196 + z * (0.09678418 + z * (-0.18628806 + z * (0.27886807 + z * (-1.13520398 + z * (1.48851587 + z * (-0.82215223 + z * 0.17087277)))))))));
    return sign(x) * (1.0 - r);
}

// Below -40 the erf form already gives -0 for finite x; the select fixes only -inf * 0.
fn act_gelu(x: f32) -> f32 {
    return select(0.5 * x * (1.0 + act_erf(x * 0.7071067811865476)), 0.0, x < -40.0);
}

fn act_gelu_tanh(x: f32) -> f32 {
    return select(0.5 * x * (1.0 + act_tanh(0.7978845608028654 * (x + 0.044715 * x * x * x))), 0.0, x < -40.0);
}
