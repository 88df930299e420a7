// Fused reductions, generated like the elementwise kernels:
//   activation.wgsl + elementwise.wgsl helpers + this file up to the GENERATED marker
//   + generated bindings, params, `pre_expr` / `post_expr` and the two entry points.
// - prologue mode: the reduction reads its input through `pre_expr` (e.g. sum(x * x)), so the
//   elementwise intermediate is never written; output [n_out, parts] partials.
// - row mode: one row (trailing reduced dims) per invocation or workgroup; the row's reduction
//   of `pre_expr` feeds `post_expr` over the same row (e.g. x - mean(x)), so the reduction
//   result is never written and re-read by a second pass.
// Below the marker is a sample of what the generator writes (sum(x * x) per row, prologue
// mode), so this file is complete, valid WGSL on its own and naga checks it.

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

// ---- GENERATED: generated kernels replace everything below this line ----

@group(0) @binding(0) var<storage, read> in0: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;

struct Params {
    n_out: u32,
    parts: u32,
    chunk: u32,
    n_red: u32,
    scale: f32,
    nk: u32,
    nr: u32,
    _p0: u32,
    kshape: array<vec4<u32>, 2>,
    rshape: array<vec4<u32>, 2>,
    offs: array<vec4<u32>, 2>,
    ks0: array<vec4<u32>, 2>,
    rs0: array<vec4<u32>, 2>,
}
@group(0) @binding(2) var<uniform> p: Params;

fn pre_expr(x0: f32) -> f32 {
    return x0 * x0;
}

fn rf_finish(v: f32) -> f32 {
    return select(v, v * p.scale, OP == 0u);
}

const WG_DIRECT: u32 = 64u;
const WG_TREE: u32 = 256u;
var<workgroup> rf_sh: array<f32, WG_TREE>;

@compute @workgroup_size(WG_DIRECT)
fn direct(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let t = (wid.y * nwg.x + wid.x) * WG_DIRECT + lid;
    if (t >= p.n_out * p.parts) {
        return;
    }
    let part = t % p.parts;
    let row = t / p.parts;
    let r0 = part * p.chunk;
    let r1 = min(p.n_red, r0 + p.chunk);
    var acc = rf_identity();
    var o0 = p.offs[0][0] + rf_unravel(row, p.nk, p.kshape, p.ks0) + rf_unravel(r0, p.nr, p.rshape, p.rs0);
    for (var r = r0; r < r1; r++) {
        acc = rf_comb(acc, pre_expr(f32(in0[o0])));
        o0 += p.rs0[0][0];
    }
    out[t] = rf_finish(acc);
}

@compute @workgroup_size(WG_TREE)
fn tree(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let t = wid.y * nwg.x + wid.x;
    let valid = t < p.n_out * p.parts;
    let part = t % p.parts;
    let row = t / p.parts;
    var acc = rf_identity();
    if (valid) {
        let r0 = part * p.chunk;
        let r1 = min(p.n_red, r0 + p.chunk);
        let k0 = p.offs[0][0] + rf_unravel(row, p.nk, p.kshape, p.ks0);
        for (var r = r0 + lid; r < r1; r += WG_TREE) {
            acc = rf_comb(acc, pre_expr(f32(in0[k0 + rf_unravel(r, p.nr, p.rshape, p.rs0)])));
        }
    }
    rf_sh[lid] = acc;
    workgroupBarrier();
    for (var s = WG_TREE / 2u; s > 0u; s >>= 1u) {
        if (lid < s) {
            rf_sh[lid] = rf_comb(rf_sh[lid], rf_sh[lid + s]);
        }
        workgroupBarrier();
    }
    let red = rf_finish(rf_sh[0]);
    if (lid == 0u && valid) {
        out[t] = red;
    }
}
