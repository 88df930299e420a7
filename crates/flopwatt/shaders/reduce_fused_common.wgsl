// Fused reductions, generated like the elementwise kernels:
//   activation.wgsl + elementwise_common.wgsl + this file (with `OP` specialised)
//   + generated bindings, params, `pre_expr` / `post_expr` and the two entry points.
// - prologue mode: the reduction reads its input through `pre_expr` (e.g. sum(x * x)), so the
//   elementwise intermediate is never written; output [n_out, parts] partials.
// - row mode: one row (trailing reduced dims) per invocation or workgroup; the row's reduction
//   of `pre_expr` feeds `post_expr` over the same row (e.g. x - mean(x)), so the reduction
//   result is never written and re-read by a second pass.

// The reduce.wgsl codes: 0 sum (mean is a scaled sum), 1 prod, 2 max, 3 min.
const OP: u32 = 0u;

// Infinities built at run time (Tint rejects constant infinities; see reduce.wgsl).
fn rf_inf_bits(bits: u32) -> f32 {
    var b = bits;
    return bitcast<f32>(b);
}

fn rf_identity() -> f32 {
    switch OP {
        case 0u: { return 0.0; }
        case 1u: { return 1.0; }
        case 2u: { return rf_inf_bits(0xff800000u); }
        default: { return rf_inf_bits(0x7f800000u); }
    }
}

// max/min ignore NaN (a NaN never replaces the running value), exactly like reduce.wgsl, so
// fused and unfused reductions agree on NaN too.
fn rf_comb(a: f32, b: f32) -> f32 {
    switch OP {
        case 0u: { return a + b; }
        case 1u: { return a * b; }
        case 2u: { return select(a, b, b > a); }
        default: { return select(a, b, b < a); }
    }
}

fn rf_get(a: array<vec4<u32>, 2>, d: u32) -> u32 {
    return a[d / 4u][d % 4u];
}

// Offset of the element whose row-major position among the `n` dims `shape` is `t`.
fn rf_unravel(t: u32, n: u32, shape: array<vec4<u32>, 2>, stride: array<vec4<u32>, 2>) -> u32 {
    var rem = t;
    var off = 0u;
    for (var k = 0u; k < n; k++) {
        let d = n - 1u - k;
        let s = rf_get(shape, d);
        off += (rem % s) * rf_get(stride, d);
        rem /= s;
    }
    return off;
}
