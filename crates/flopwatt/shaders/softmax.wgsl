// Softmax and log-softmax along one axis of a contiguous tensor viewed as [outer, red, inner].
//
// Numerically stable: the row max is subtracted before exp, so huge inputs do not overflow;
// -inf inputs give 0 (softmax) / -inf (log-softmax). A row whose max is +inf or -inf gives
// NaN, as the formula does in f64. Log-softmax is (x - max) - log(sum): adding log(sum) to
// the max first would round it away when the max is huge.
//
// - `direct` / `direct4`: one invocation per row (per (outer, inner) pair) reading straight
//   from storage, no shared memory or barriers (CPU adapters). Three sweeps over the row
//   (max; exp and sum, writing exp; scale) that stay in cache; `direct4` uses vec4 when
//   inner == 1 and red % 4 == 0. With inner > 1 neighbouring invocations read neighbouring
//   addresses (coalesced), so a non-last axis is not a strided gather.
// - every entry can apply a prologue first (SCALED, MASK below).
// - `tree`: a workgroup per row (inner == 1) with shared-memory trees for max and sum (GPUs,
//   and few long rows anywhere).

const LOG: bool = false;
// Softmax: recompute exp in the last sweep instead of storing it in the second and scaling
// it in the third (one store and one dependent load fewer, one exp more).
const RECOMPUTE: bool = true;
const WG: u32 = 64u;
// Prologue folded in by the graph fuser: softmax(x * scale + mask) reads x once, with no
// elementwise kernel and no intermediate before it. SCALED multiplies by params.scale;
// MASK adds the mask (any broadcast, read through strides; only for the last axis, where
// inner == 1).
const SCALED: bool = false;
const MASK: bool = false;

struct Params {
    outer: u32,
    red: u32,
    inner: u32,
    // Mask stride along the softmax axis and offset, in elements.
    m_red: u32,
    scale: f32,
    m_off: u32,
    _p0: u32,
    _p1: u32,
    // The row index split over up to four outer dims (outermost first) and the mask's
    // strides over them (0 where broadcast).
    oshape: vec4<u32>,
    ostride: vec4<u32>,
}

@group(0) @binding(0) var<storage, read> xs: array<f32>;
@group(0) @binding(0) var<storage, read> x4: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> ys: array<f32>;
@group(0) @binding(1) var<storage, read_write> y4: array<vec4<f32>>;
// The mask (the input itself stands in when there is none; MASK compiles the read out).
@group(0) @binding(2) var<storage, read> mb: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

// Mask offset of row `o` (only with MASK).
fn mask_row(o: u32) -> u32 {
    var rem = o;
    var off = params.m_off;
    for (var k = 3; k >= 0; k--) {
        let d = params.oshape[k];
        off += (rem % d) * params.ostride[k];
        rem = rem / d;
    }
    return off;
}

// Element r of the row at `idx`, prologue applied.
fn px(idx: u32, mrow: u32, r: u32) -> f32 {
    var v = xs[idx];
    if SCALED {
        v = v * params.scale;
    }
    if MASK {
        v = v + mb[mrow + r * params.m_red];
    }
    return v;
}

// Chunk k (elements 4k..4k+3) of the row starting at vec4 `base`, prologue applied.
fn px4(base: u32, k: u32, mrow: u32) -> vec4<f32> {
    var v = x4[base + k];
    if SCALED {
        v = v * params.scale;
    }
    if MASK {
        let j = mrow + 4u * k * params.m_red;
        let s = params.m_red;
        v = v + vec4<f32>(mb[j], mb[j + s], mb[j + 2u * s], mb[j + 3u * s]);
    }
    return v;
}

// Infinities built at run time: Tint (Chromium's WGSL compiler) rejects a constant
// infinity such as `bitcast<f32>(0xff800000u)` ("value -inf cannot be represented").
fn sm_inf_bits(bits: u32) -> f32 {
    var b = bits;
    return bitcast<f32>(b);
}

fn linear_id(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wid.y * nwg.x + wid.x) * WG + lid;
}

@compute @workgroup_size(WG)
fn direct(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
    let p = params;
    let t = linear_id(wid, nwg, lid);
    if t >= p.outer * p.inner { return; }
    let i = t % p.inner;
    let o = t / p.inner;
    let base = o * p.red * p.inner + i;
    var mrow = 0u;
    if MASK {
        mrow = mask_row(o);
    }
    var m = sm_inf_bits(0xff800000u);
    for (var r = 0u; r < p.red; r++) {
        m = max(m, px(base + r * p.inner, mrow, r));
    }
    var s = 0.0;
    for (var r = 0u; r < p.red; r++) {
        let e = exp(px(base + r * p.inner, mrow, r) - m);
        s += e;
        if !LOG {
            ys[base + r * p.inner] = e;
        }
    }
    if LOG {
        let ls = log(s);
        for (var r = 0u; r < p.red; r++) {
            ys[base + r * p.inner] = (px(base + r * p.inner, mrow, r) - m) - ls;
        }
    } else {
        let inv = 1.0 / s;
        for (var r = 0u; r < p.red; r++) {
            ys[base + r * p.inner] *= inv;
        }
    }
}

@compute @workgroup_size(WG)
fn direct4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
    let p = params;
    let row = linear_id(wid, nwg, lid);
    if row >= p.outer { return; }
    let n4 = p.red / 4u;
    let base = row * n4;
    var mrow = 0u;
    if MASK {
        mrow = mask_row(row);
    }
    var m4 = vec4<f32>(sm_inf_bits(0xff800000u));
    for (var k = 0u; k < n4; k++) {
        m4 = max(m4, px4(base, k, mrow));
    }
    let m = max(max(m4.x, m4.y), max(m4.z, m4.w));
    var s4 = vec4<f32>(0.0);
    for (var k = 0u; k < n4; k++) {
        let e = exp(px4(base, k, mrow) - m);
        s4 += e;
        if !LOG && !RECOMPUTE {
            y4[base + k] = e;
        }
    }
    let s = (s4.x + s4.y) + (s4.z + s4.w);
    if LOG {
        let ls = log(s);
        for (var k = 0u; k < n4; k++) {
            y4[base + k] = (px4(base, k, mrow) - m) - ls;
        }
    } else {
        let inv = 1.0 / s;
        if RECOMPUTE {
            for (var k = 0u; k < n4; k++) {
                y4[base + k] = exp(px4(base, k, mrow) - m) * inv;
            }
        } else {
            for (var k = 0u; k < n4; k++) {
                y4[base + k] *= inv;
            }
        }
    }
}

var<workgroup> sh: array<f32, WG>;

fn tree_max(v: f32, lid: u32) -> f32 {
    sh[lid] = v;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if lid < s {
            sh[lid] = max(sh[lid], sh[lid + s]);
        }
        workgroupBarrier();
    }
    let r = sh[0];
    workgroupBarrier();
    return r;
}

fn tree_sum(v: f32, lid: u32) -> f32 {
    sh[lid] = v;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if lid < s {
            sh[lid] = sh[lid] + sh[lid + s];
        }
        workgroupBarrier();
    }
    let r = sh[0];
    workgroupBarrier();
    return r;
}

@compute @workgroup_size(WG)
fn tree(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let p = params;
    let row = wid.y * nwg.x + wid.x;
    // Every invocation of a group takes the same path, so the barriers stay uniform.
    if row >= p.outer { return; }
    let base = row * p.red;
    var mrow = 0u;
    if MASK {
        mrow = mask_row(row);
    }
    var m = sm_inf_bits(0xff800000u);
    for (var r = lid; r < p.red; r += WG) {
        m = max(m, px(base + r, mrow, r));
    }
    m = tree_max(m, lid);
    var s = 0.0;
    for (var r = lid; r < p.red; r += WG) {
        s += exp(px(base + r, mrow, r) - m);
    }
    s = tree_sum(s, lid);
    if LOG {
        let ls = log(s);
        for (var r = lid; r < p.red; r += WG) {
            ys[base + r] = (px(base + r, mrow, r) - m) - ls;
        }
    } else {
        let inv = 1.0 / s;
        for (var r = lid; r < p.red; r += WG) {
            ys[base + r] = exp(px(base + r, mrow, r) - m) * inv;
        }
    }
}
