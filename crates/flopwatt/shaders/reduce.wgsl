// Reductions (sum, prod, max, min, argmax, argmin) over one run of axes of a contiguous tensor
// viewed as [outer, red, inner], plus a strided fallback for views and scattered arg axes.
//
// The host splits each reduced run into `parts` chunks so that small outputs still fill the
// device; the partial results [outer, parts, inner] are reduced again by the same kernels
// (multi-pass) until parts == 1. Arg kernels carry (value, index) pairs between passes.
//
// Variants (the host specialises OP and WG):
// - `cols_*` / `cols4_*` / `rows4_*`: one invocation per output element reads its whole chunk straight
//   from storage, no shared memory, no barriers (what a CPU adapter like lavapipe wants).
//   With inner == 1 (`rows4_*`) an invocation reads a contiguous run with vec4 loads; with
//   inner > 1 (`cols_*`, `cols4_*` with vec4 over 4 columns) neighbouring invocations read neighbouring addresses, so a
//   non-last-axis reduction is a coalesced sweep, not a strided gather.
// - `tree_*`: a workgroup per (row, part), strided coalesced loads, then a tree in shared
//   memory (what a real GPU wants).
// - `strided_*`: any strides and offset, one invocation per output; correctness fallback.
//
// NaN: max/min/argmax/argmin compare with `>` / `<`, so NaN never wins: they ignore NaN like
// fmax (a row of only NaN gives -inf / +inf and index 0). Sum/prod/mean propagate NaN.

// 0 sum, 1 prod, 2 max, 3 min, 4 argmax, 5 argmin.
const OP: u32 = 0u;
const WG: u32 = 64u;
const NO_INDEX: u32 = 0xffffffffu;

struct Params {
    outer: u32,
    red: u32,
    inner: u32,
    parts: u32,
    chunk: u32,
    // Multiplies the final result (1/count for mean).
    scale: f32,
    _p0: u32,
    _p1: u32,
}

// Infinities built at run time: Tint (Chromium's WGSL compiler) rejects a constant
// infinity such as `bitcast<f32>(0xff800000u)` ("value -inf cannot be represented").
fn reduce_inf_bits(bits: u32) -> f32 {
    var b = bits;
    return bitcast<f32>(b);
}

fn identity() -> f32 {
    switch OP {
        case 0u: { return 0.0; }
        case 1u: { return 1.0; }
        case 2u, 4u: { return reduce_inf_bits(0xff800000u); }
        default: { return reduce_inf_bits(0x7f800000u); }
    }
}

// Whether `b` replaces `a` as the running max/min (strict: first occurrence wins, NaN loses).
fn better(b: f32, a: f32) -> bool {
    if OP == 2u || OP == 4u {
        return b > a;
    }
    return b < a;
}

fn better4(b: vec4<f32>, a: vec4<f32>) -> vec4<bool> {
    if OP == 2u || OP == 4u {
        return b > a;
    }
    return b < a;
}

fn comb(a: f32, b: f32) -> f32 {
    switch OP {
        case 0u: { return a + b; }
        case 1u: { return a * b; }
        default: { return select(a, b, better(b, a)); }
    }
}

fn comb4(a: vec4<f32>, b: vec4<f32>) -> vec4<f32> {
    switch OP {
        case 0u: { return a + b; }
        case 1u: { return a * b; }
        default: { return select(a, b, better4(b, a)); }
    }
}

struct Pair {
    v: f32,
    i: u32,
}

// Order-independent pair combine: the better value, and on ties the smaller index.
fn comb_pair(a: Pair, b: Pair) -> Pair {
    if better(b.v, a.v) || (b.v == a.v && b.i < a.i) {
        return b;
    }
    return a;
}

fn finish(v: f32) -> f32 {
    if OP == 0u {
        return v * params.scale;
    }
    return v;
}

fn out_index(i: u32) -> i32 {
    return i32(select(i, 0u, i == NO_INDEX));
}

fn linear_id(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wid.y * nwg.x + wid.x) * WG + lid;
}

// ---- bindings: each entry point uses one consecutive set ----
@group(0) @binding(0) var<storage, read> xs: array<f32>;
@group(0) @binding(0) var<storage, read> x4: array<vec4<f32>>;
// plain: x, out, params
@group(0) @binding(1) var<storage, read_write> out_v: array<f32>;
@group(0) @binding(1) var<storage, read_write> out4: array<vec4<f32>>;
@group(0) @binding(2) var<uniform> params: Params;
// arg first pass: x, out values, out indices, params
@group(0) @binding(1) var<storage, read_write> a_v: array<f32>;
@group(0) @binding(2) var<storage, read_write> a_i: array<i32>;
@group(0) @binding(3) var<uniform> a_params: Params;
// arg carry pass: x values, x indices, out values, out indices, params
@group(0) @binding(1) var<storage, read> c_xi: array<i32>;
@group(0) @binding(2) var<storage, read_write> c_v: array<f32>;
@group(0) @binding(3) var<storage, read_write> c_i: array<i32>;
@group(0) @binding(4) var<uniform> c_params: Params;

struct Item {
    o: u32,
    p: u32,
    i: u32,
    valid: bool,
}

// Splits a linear invocation id over [outer, parts, inner / iw].
fn item(t: u32, p: Params, iw: u32) -> Item {
    let ni = p.inner / iw;
    var it: Item;
    it.valid = t < p.outer * p.parts * ni;
    it.i = (t % ni) * iw;
    let rest = t / ni;
    it.p = rest % p.parts;
    it.o = rest / p.parts;
    return it;
}

// ---- cols: inner >= 1, scalar loads, neighbouring invocations read neighbouring addresses ----

fn cols_plain_sum(it: Item, p: Params) -> f32 {
    let r0 = it.p * p.chunk;
    let r1 = min(p.red, r0 + p.chunk);
    var base = (it.o * p.red + r0) * p.inner + it.i;
    var acc = identity();
    for (var r = r0; r < r1; r++) {
        acc = comb(acc, xs[base]);
        base += p.inner;
    }
    return acc;
}

@compute @workgroup_size(WG)
fn cols_plain(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
    let p = params;
    let it = item(linear_id(wid, nwg, lid), p, 1u);
    if !it.valid { return; }
    let v = cols_plain_sum(it, p);
    out_v[(it.o * p.parts + it.p) * p.inner + it.i] = finish(v);
}

fn cols_arg_scan(it: Item, p: Params) -> Pair {
    let r0 = it.p * p.chunk;
    let r1 = min(p.red, r0 + p.chunk);
    var base = (it.o * p.red + r0) * p.inner + it.i;
    var best = Pair(identity(), NO_INDEX);
    for (var r = r0; r < r1; r++) {
        best = comb_pair(best, Pair(xs[base], r));
        base += p.inner;
    }
    return best;
}

// Separate from cols_arg_scan: an entry point binds every global its call tree names.
fn cols_carry_scan(it: Item, p: Params) -> Pair {
    let r0 = it.p * p.chunk;
    let r1 = min(p.red, r0 + p.chunk);
    var base = (it.o * p.red + r0) * p.inner + it.i;
    var best = Pair(identity(), NO_INDEX);
    for (var r = r0; r < r1; r++) {
        best = comb_pair(best, Pair(xs[base], u32(c_xi[base])));
        base += p.inner;
    }
    return best;
}

@compute @workgroup_size(WG)
fn cols_arg(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) lid: u32) {
    let p = a_params;
    let it = item(linear_id(wid, nwg, lid), p, 1u);
    if !it.valid { return; }
    let b = cols_arg_scan(it, p);
    let o = (it.o * p.parts + it.p) * p.inner + it.i;
    a_v[o] = b.v;
    a_i[o] = out_index(b.i);
}

@compute @workgroup_size(WG)
fn cols_carry(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
    let p = c_params;
    let it = item(linear_id(wid, nwg, lid), p, 1u);
    if !it.valid { return; }
    let b = cols_carry_scan(it, p);
    let o = (it.o * p.parts + it.p) * p.inner + it.i;
    c_v[o] = b.v;
    c_i[o] = out_index(b.i);
}

// ---- cols4: inner % 4 == 0: each invocation owns 4 neighbouring columns (vec4 loads) ----

@compute @workgroup_size(WG)
fn cols4_plain(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
    let p = params;
    let it = item(linear_id(wid, nwg, lid), p, 4u);
    if !it.valid { return; }
    let r0 = it.p * p.chunk;
    let r1 = min(p.red, r0 + p.chunk);
    let step = p.inner / 4u;
    var b = ((it.o * p.red + r0) * p.inner + it.i) / 4u;
    var a0 = vec4<f32>(identity());
    var a1 = vec4<f32>(identity());
    var r = r0;
    for (; r + 1u < r1; r += 2u) {
        a0 = comb4(a0, x4[b]);
        a1 = comb4(a1, x4[b + step]);
        b += 2u * step;
    }
    if r < r1 {
        a0 = comb4(a0, x4[b]);
    }
    var a = comb4(a0, a1);
    if OP == 0u {
        a *= p.scale;
    }
    out4[((it.o * p.parts + it.p) * p.inner + it.i) / 4u] = a;
}

// ---- cols64: inner % 64 == 0: each invocation owns 64 neighbouring columns (16 vec4) ----
// On a CPU adapter a lane of `cols4` touches 16 bytes per row, a new page every step; here
// it reads 256 contiguous bytes per row, so prefetchers and TLBs keep up.

const CW: u32 = 16u;

@compute @workgroup_size(WG)
fn cols64_plain(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
    let p = params;
    let it = item(linear_id(wid, nwg, lid), p, 4u * CW);
    if !it.valid { return; }
    let r0 = it.p * p.chunk;
    let r1 = min(p.red, r0 + p.chunk);
    let step = p.inner / 4u;
    var b = ((it.o * p.red + r0) * p.inner + it.i) / 4u;
    var acc: array<vec4<f32>, CW>;
    for (var c = 0u; c < CW; c++) {
        acc[c] = vec4<f32>(identity());
    }
    for (var r = r0; r < r1; r++) {
        for (var c = 0u; c < CW; c++) {
            acc[c] = comb4(acc[c], x4[b + c]);
        }
        b += step;
    }
    let o = ((it.o * p.parts + it.p) * p.inner + it.i) / 4u;
    for (var c = 0u; c < CW; c++) {
        var a = acc[c];
        if OP == 0u {
            a *= p.scale;
        }
        out4[o + c] = a;
    }
}

// ---- rows4: inner == 1, red % 4 == 0, chunk % 4 == 0: contiguous vec4 runs ----

@compute @workgroup_size(WG)
fn rows4_plain(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
    let p = params;
    let it = item(linear_id(wid, nwg, lid), p, 1u);
    if !it.valid { return; }
    let r0 = it.p * p.chunk;
    let r1 = min(p.red, r0 + p.chunk);
    let b0 = (it.o * p.red + r0) / 4u;
    let n4 = (r1 - r0) / 4u;
    // Two independent accumulators hide the add latency of a serial chain.
    var a0 = vec4<f32>(identity());
    var a1 = vec4<f32>(identity());
    var k = 0u;
    for (; k + 1u < n4; k += 2u) {
        a0 = comb4(a0, x4[b0 + k]);
        a1 = comb4(a1, x4[b0 + k + 1u]);
    }
    if k < n4 {
        a0 = comb4(a0, x4[b0 + k]);
    }
    let a = comb4(a0, a1);
    out_v[it.o * p.parts + it.p] = finish(comb(comb(a.x, a.y), comb(a.z, a.w)));
}

@compute @workgroup_size(WG)
fn rows4_arg(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
    let p = a_params;
    let it = item(linear_id(wid, nwg, lid), p, 1u);
    if !it.valid { return; }
    let r0 = it.p * p.chunk;
    let r1 = min(p.red, r0 + p.chunk);
    let b0 = (it.o * p.red + r0) / 4u;
    let n4 = (r1 - r0) / 4u;
    var bv = vec4<f32>(identity());
    var bi = vec4<u32>(NO_INDEX);
    for (var k = 0u; k < n4; k++) {
        let v = x4[b0 + k];
        let take = better4(v, bv);
        bv = select(bv, v, take);
        bi = select(bi, vec4<u32>(r0 + 4u * k) + vec4<u32>(0u, 1u, 2u, 3u), take);
    }
    var b = Pair(bv.x, bi.x);
    b = comb_pair(b, Pair(bv.y, bi.y));
    b = comb_pair(b, Pair(bv.z, bi.z));
    b = comb_pair(b, Pair(bv.w, bi.w));
    let o = it.o * p.parts + it.p;
    a_v[o] = b.v;
    a_i[o] = out_index(b.i);
}

// ---- tree: inner == 1, one workgroup per (row, part), shared-memory tree ----

var<workgroup> sh_v: array<f32, WG>;
var<workgroup> sh_i: array<u32, WG>;

fn tree_item(wid: vec3<u32>, nwg: vec3<u32>, p: Params) -> Item {
    return item(wid.y * nwg.x + wid.x, p, 1u);
}

@compute @workgroup_size(WG)
fn tree_plain(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
    let p = params;
    let it = tree_item(wid, nwg, p);
    // Uniform control flow for the barriers: invalid groups still take part, with identity.
    var acc = identity();
    if it.valid {
        let r0 = it.p * p.chunk;
        let r1 = min(p.red, r0 + p.chunk);
        let base = it.o * p.red;
        for (var r = r0 + lid; r < r1; r += WG) {
            acc = comb(acc, xs[base + r]);
        }
    }
    sh_v[lid] = acc;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if lid < s {
            sh_v[lid] = comb(sh_v[lid], sh_v[lid + s]);
        }
        workgroupBarrier();
    }
    if lid == 0u && it.valid {
        out_v[it.o * p.parts + it.p] = finish(sh_v[0]);
    }
}

fn tree_pair_reduce(best: Pair, lid: u32) -> Pair {
    sh_v[lid] = best.v;
    sh_i[lid] = best.i;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if lid < s {
            let b = comb_pair(Pair(sh_v[lid], sh_i[lid]), Pair(sh_v[lid + s], sh_i[lid + s]));
            sh_v[lid] = b.v;
            sh_i[lid] = b.i;
        }
        workgroupBarrier();
    }
    return Pair(sh_v[0], sh_i[0]);
}

@compute @workgroup_size(WG)
fn tree_arg(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) lid: u32) {
    let p = a_params;
    let it = tree_item(wid, nwg, p);
    var best = Pair(identity(), NO_INDEX);
    if it.valid {
        let r0 = it.p * p.chunk;
        let r1 = min(p.red, r0 + p.chunk);
        let base = it.o * p.red;
        for (var r = r0 + lid; r < r1; r += WG) {
            best = comb_pair(best, Pair(xs[base + r], r));
        }
    }
    let b = tree_pair_reduce(best, lid);
    if lid == 0u && it.valid {
        let o = it.o * p.parts + it.p;
        a_v[o] = b.v;
        a_i[o] = out_index(b.i);
    }
}

@compute @workgroup_size(WG)
fn tree_carry(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
    let p = c_params;
    let it = tree_item(wid, nwg, p);
    var best = Pair(identity(), NO_INDEX);
    if it.valid {
        let r0 = it.p * p.chunk;
        let r1 = min(p.red, r0 + p.chunk);
        let base = it.o * p.red;
        for (var r = r0 + lid; r < r1; r += WG) {
            best = comb_pair(best, Pair(xs[base + r], u32(c_xi[base + r])));
        }
    }
    let b = tree_pair_reduce(best, lid);
    if lid == 0u && it.valid {
        let o = it.o * p.parts + it.p;
        c_v[o] = b.v;
        c_i[o] = out_index(b.i);
    }
}

// ---- strided: any view; kept and reduced dims (up to 8 each) with their strides ----

struct StridedParams {
    // Sizes and strides (elements) of kept dims, row-major order, padded with 1 / 0.
    kshape: array<vec4<u32>, 2>,
    kstride: array<vec4<u32>, 2>,
    rshape: array<vec4<u32>, 2>,
    rstride: array<vec4<u32>, 2>,
    nk: u32,
    nr: u32,
    n_out: u32,
    n_red: u32,
    offset: u32,
    scale: f32,
    _p0: u32,
    _p1: u32,
}

@group(0) @binding(2) var<uniform> s_params: StridedParams;
@group(0) @binding(3) var<uniform> sa_params: StridedParams;

fn sget(a: array<vec4<u32>, 2>, d: u32) -> u32 {
    return a[d / 4u][d % 4u];
}

// Offset of the element whose row-major position among dims `shape` is `t`.
fn unravel(t: u32, n: u32, shape: array<vec4<u32>, 2>, stride: array<vec4<u32>, 2>) -> u32 {
    var rem = t;
    var off = 0u;
    for (var k = 0u; k < n; k++) {
        let d = n - 1u - k;
        let s = sget(shape, d);
        off += (rem % s) * sget(stride, d);
        rem /= s;
    }
    return off;
}

fn strided_scan(t: u32, p: StridedParams) -> Pair {
    let base = p.offset + unravel(t, p.nk, p.kshape, p.kstride);
    var best = Pair(identity(), NO_INDEX);
    var acc = identity();
    for (var r = 0u; r < p.n_red; r++) {
        let v = xs[base + unravel(r, p.nr, p.rshape, p.rstride)];
        if OP >= 4u {
            best = comb_pair(best, Pair(v, r));
        } else {
            acc = comb(acc, v);
        }
    }
    if OP < 4u {
        best.v = acc;
    }
    return best;
}

@compute @workgroup_size(WG)
fn strided_plain(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) lid: u32) {
    let p = s_params;
    let t = linear_id(wid, nwg, lid);
    if t >= p.n_out { return; }
    let b = strided_scan(t, p);
    var v = b.v;
    if OP == 0u {
        v *= p.scale;
    }
    out_v[t] = v;
}

@compute @workgroup_size(WG)
fn strided_arg(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
    let p = sa_params;
    let t = linear_id(wid, nwg, lid);
    if t >= p.n_out { return; }
    let b = strided_scan(t, p);
    a_v[t] = b.v;
    a_i[t] = out_index(b.i);
}
