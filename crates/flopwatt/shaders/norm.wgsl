// Layer norm and RMS norm over the trailing dims of a contiguous tensor viewed as [rows, len].
//
// One sweep over memory for the statistics (Chan's block merge, see below), then one that
// writes.
//
// - `ln_direct` / `ln_direct4` / `rms_*`: one invocation per row, straight from storage (vec4
//   when len % 4 == 0), no shared memory or barriers (CPU adapters).
// - `ln_tree` / `rms_tree`: a workgroup per row with shared-memory sums (GPUs, few rows).
//
// AFFINE: 0 none, 1 gamma, 2 gamma and beta. gamma/beta are always bound (a dummy when
// absent) so every variant has one binding layout; the unused reads are compiled out.

const AFFINE: u32 = 2u;
// ln_direct4: full blocks read once into registers (true) or twice from cache (false).
const ONE_READ: bool = true;
const WG: u32 = 64u;

struct Params {
    rows: u32,
    len: u32,
    eps: f32,
    _p: u32,
}

@group(0) @binding(0) var<storage, read> xs: array<f32>;
@group(0) @binding(0) var<storage, read> x4: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> gs: array<f32>;
@group(0) @binding(1) var<storage, read> g4: array<vec4<f32>>;
// layer norm: x, gamma, beta, y, params
@group(0) @binding(2) var<storage, read> bs: array<f32>;
@group(0) @binding(2) var<storage, read> b4: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> ys: array<f32>;
@group(0) @binding(3) var<storage, read_write> y4: array<vec4<f32>>;
@group(0) @binding(4) var<uniform> params: Params;
// rms norm: x, gamma, y, params
@group(0) @binding(2) var<storage, read_write> rys: array<f32>;
@group(0) @binding(2) var<storage, read_write> ry4: array<vec4<f32>>;
@group(0) @binding(3) var<uniform> rparams: Params;

fn linear_id(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wid.y * nwg.x + wid.x) * WG + lid;
}

fn ln_affine(v: f32, j: u32) -> f32 {
    var r = v;
    if AFFINE >= 1u { r *= gs[j]; }
    if AFFINE >= 2u { r += bs[j]; }
    return r;
}

fn ln_affine4(v: vec4<f32>, k: u32) -> vec4<f32> {
    var r = v;
    if AFFINE >= 1u { r *= g4[k]; }
    if AFFINE >= 2u { r += b4[k]; }
    return r;
}

// Row statistics are (count, mean, M2) of d = x - K with K the row's first element, merged
// block by block with Chan's formula: one sweep over memory (a block is re-read from L1),
// no cancellation in M2 even when the mean is far from zero or K is far from the mean, and
// the mean of d is small against the spread, so rounding it costs little.
const BLOCK: u32 = 8u;

fn chan(a: vec3<f32>, b: vec3<f32>) -> vec3<f32> {
    let n = a.x + b.x;
    if b.x == 0.0 { return a; }
    if a.x == 0.0 { return b; }
    let delta = b.y - a.y;
    let f = b.x / n;
    return vec3<f32>(n, a.y + delta * f, a.z + b.z + delta * delta * a.x * f);
}

fn rstd(m2: f32, n: f32, eps: f32) -> f32 {
    return inverseSqrt(max(m2 / n, 0.0) + eps);
}

@compute @workgroup_size(WG)
fn ln_direct(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
    let p = params;
    let row = linear_id(wid, nwg, lid);
    if row >= p.rows { return; }
    let base = row * p.len;
    let k = xs[base];
    var st = vec3<f32>(0.0);
    for (var j = 0u; j < p.len; j += BLOCK) {
        let e = min(j + BLOCK, p.len);
        let nb = f32(e - j);
        var s = 0.0;
        for (var q = j; q < e; q++) { s += xs[base + q] - k; }
        let mb = s / nb;
        var m2 = 0.0;
        for (var q = j; q < e; q++) {
            let d = (xs[base + q] - k) - mb;
            m2 += d * d;
        }
        st = chan(st, vec3<f32>(nb, mb, m2));
    }
    let r = rstd(st.z, st.x, p.eps);
    for (var j = 0u; j < p.len; j++) {
        ys[base + j] = ln_affine(((xs[base + j] - k) - st.y) * r, j);
    }
}

@compute @workgroup_size(WG)
fn ln_direct4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
    let p = params;
    let row = linear_id(wid, nwg, lid);
    if row >= p.rows { return; }
    let n4 = p.len / 4u;
    let base = row * n4;
    let k = x4[base].x;
    // Per-lane statistics; every lane has seen the same count.
    var cnt = 0.0;
    var mean = vec4<f32>(0.0);
    var m2 = vec4<f32>(0.0);
    // Full blocks have a constant trip count (the compiler unrolls them); then the tail.
    let full = n4 - n4 % BLOCK;
    for (var j = 0u; j < n4; j += BLOCK) {
        var len = BLOCK;
        if j >= full {
            len = n4 - full;
        }
        let nb = f32(len);
        var s = vec4<f32>(0.0);
        var mb2 = vec4<f32>(0.0);
        if ONE_READ && len == BLOCK {
            var v: array<vec4<f32>, BLOCK>;
            for (var q = 0u; q < BLOCK; q++) {
                v[q] = x4[base + j + q] - k;
                s += v[q];
            }
            let mb = s / nb;
            for (var q = 0u; q < BLOCK; q++) {
                let d = v[q] - mb;
                mb2 += d * d;
            }
        } else {
            let e = j + len;
            for (var q = j; q < e; q++) { s += x4[base + q] - k; }
            let mb = s / nb;
            for (var q = j; q < e; q++) {
                let d = (x4[base + q] - k) - mb;
                mb2 += d * d;
            }
        }
        let mb = s / nb;
        let n = cnt + nb;
        let delta = mb - mean;
        let f = nb / n;
        mean += delta * f;
        m2 += mb2 + delta * delta * (cnt * f);
        cnt = n;
    }
    var st = vec3<f32>(cnt, mean.x, m2.x);
    st = chan(st, vec3<f32>(cnt, mean.y, m2.y));
    st = chan(st, vec3<f32>(cnt, mean.z, m2.z));
    st = chan(st, vec3<f32>(cnt, mean.w, m2.w));
    let r = rstd(st.z, st.x, p.eps);
    for (var j = 0u; j < n4; j++) {
        y4[base + j] = ln_affine4(((x4[base + j] - k) - st.y) * r, j);
    }
}

var<workgroup> sh1: array<f32, WG>;
var<workgroup> sh2: array<f32, WG>;
var<workgroup> sh3: array<f32, WG>;

fn tree_chan(v: vec3<f32>, lid: u32) -> vec3<f32> {
    sh1[lid] = v.x;
    sh2[lid] = v.y;
    sh3[lid] = v.z;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if lid < s {
            let c = chan(vec3<f32>(sh1[lid], sh2[lid], sh3[lid]), vec3<f32>(sh1[lid + s], sh2[lid + s], sh3[lid + s]));
            sh1[lid] = c.x;
            sh2[lid] = c.y;
            sh3[lid] = c.z;
        }
        workgroupBarrier();
    }
    return vec3<f32>(sh1[0], sh2[0], sh3[0]);
}

fn tree_sum(v: f32, lid: u32) -> f32 {
    sh3[lid] = v;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if lid < s {
            sh3[lid] += sh3[lid + s];
        }
        workgroupBarrier();
    }
    return sh3[0];
}

@compute @workgroup_size(WG)
fn ln_tree(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
    let p = params;
    let row = wid.y * nwg.x + wid.x;
    if row >= p.rows { return; }
    let base = row * p.len;
    let k = xs[base];
    var st = vec3<f32>(0.0);
    // Blocks of BLOCK elements strided by WG (coalesced across the group).
    for (var j = lid; j < p.len; j += WG * BLOCK) {
        var s = 0.0;
        var nb = 0.0;
        for (var q = j; q < min(j + WG * BLOCK, p.len); q += WG) {
            s += xs[base + q] - k;
            nb += 1.0;
        }
        let mb = s / nb;
        var m2 = 0.0;
        for (var q = j; q < min(j + WG * BLOCK, p.len); q += WG) {
            let d = (xs[base + q] - k) - mb;
            m2 += d * d;
        }
        st = chan(st, vec3<f32>(nb, mb, m2));
    }
    st = tree_chan(st, lid);
    let r = rstd(st.z, st.x, p.eps);
    for (var j = lid; j < p.len; j += WG) {
        ys[base + j] = ln_affine(((xs[base + j] - k) - st.y) * r, j);
    }
}

@compute @workgroup_size(WG)
fn rms_direct(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
    let p = rparams;
    let row = linear_id(wid, nwg, lid);
    if row >= p.rows { return; }
    let base = row * p.len;
    var s2 = 0.0;
    for (var j = 0u; j < p.len; j++) {
        let v = xs[base + j];
        s2 += v * v;
    }
    let r = inverseSqrt(s2 / f32(p.len) + p.eps);
    for (var j = 0u; j < p.len; j++) {
        var v = xs[base + j] * r;
        if AFFINE >= 1u { v *= gs[j]; }
        rys[base + j] = v;
    }
}

@compute @workgroup_size(WG)
fn rms_direct4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
    let p = rparams;
    let row = linear_id(wid, nwg, lid);
    if row >= p.rows { return; }
    let n4 = p.len / 4u;
    let base = row * n4;
    var s2 = vec4<f32>(0.0);
    for (var j = 0u; j < n4; j++) {
        let v = x4[base + j];
        s2 += v * v;
    }
    let r = inverseSqrt(((s2.x + s2.y) + (s2.z + s2.w)) / f32(p.len) + p.eps);
    for (var j = 0u; j < n4; j++) {
        var v = x4[base + j] * r;
        if AFFINE >= 1u { v *= g4[j]; }
        ry4[base + j] = v;
    }
}

@compute @workgroup_size(WG)
fn rms_tree(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) lid: u32) {
    let p = rparams;
    let row = wid.y * nwg.x + wid.x;
    if row >= p.rows { return; }
    let base = row * p.len;
    var s2 = 0.0;
    for (var j = lid; j < p.len; j += WG) {
        let v = xs[base + j];
        s2 += v * v;
    }
    let r = inverseSqrt(tree_sum(s2, lid) / f32(p.len) + p.eps);
    for (var j = lid; j < p.len; j += WG) {
        var v = xs[base + j] * r;
        if AFFINE >= 1u { v *= gs[j]; }
        rys[base + j] = v;
    }
}
