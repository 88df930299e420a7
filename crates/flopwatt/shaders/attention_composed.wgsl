// Composed attention, the unfused baseline the fused kernel is measured against:
// STAGE 0 writes the scores S = scale * Q K^T (+ causal mask) to device memory, STAGE 1
// turns each row of S into softmax probabilities in place, STAGE 2 computes O = P V.
// One entry point with a compile-time stage keeps the three bind-group layouts identical
// (a, b, c, params), so a stage that does not read `a` or `b` is given any buffer.
// Tensors are contiguous [batch * heads, rows, D]; K/V heads are not grouped here.

const STAGE: u32 = 0u;
const D: u32 = 64u;
const WG: u32 = 64u;
// Keys per invocation in the score stage.
const BJ: u32 = 16u;
const CAUSAL: bool = false;

struct Params {
    lq: u32,
    lk: u32,
    scale: f32,
    _p: u32,
}

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> c: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

@compute @workgroup_size(WG)
fn composed(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let bh = wid.z;
    let i = wid.x * WG + lid;
    let ir = min(i, p.lq - 1u);
    let srow = (bh * p.lq + ir) * p.lk;
    if (STAGE == 0u) {
        // a = Q, b = K, c = S. One query row per invocation, BJ keys per workgroup column.
        // No private arrays: lavapipe miscomputes large private arrays once a dispatch has
        // 1024 or more invocations (seen as zeroed outputs), so Q is re-read per key.
        let j0 = wid.y * BJ;
        let qrow = (bh * p.lq + ir) * D;
        for (var jj = 0u; jj < BJ; jj++) {
            let j = j0 + jj;
            let jr = min(j, p.lk - 1u);
            let krow = (bh * p.lk + jr) * D;
            var s = 0.0;
            for (var t = 0u; t < D; t++) {
                s = fma(a[qrow + t], b[krow + t], s);
            }
            s *= p.scale;
            if (CAUSAL && j > ir) {
                s = -3.0e38;
            }
            if (i < p.lq && j < p.lk) {
                c[srow + j] = s;
            }
        }
    } else if (STAGE == 1u) {
        // c = S, turned into P in place; one row per invocation: max, sum of exp, normalise.
        if (i >= p.lq) {
            return;
        }
        var mx = -3.0e38 + a[0] * 0.0 + b[0] * 0.0;
        for (var j = 0u; j < p.lk; j++) {
            mx = max(mx, c[srow + j]);
        }
        var sum = 0.0;
        for (var j = 0u; j < p.lk; j++) {
            let e = exp(c[srow + j] - mx);
            c[srow + j] = e;
            sum += e;
        }
        let inv = 1.0 / sum;
        for (var j = 0u; j < p.lk; j++) {
            c[srow + j] = c[srow + j] * inv;
        }
    } else {
        // a = P, b = V, c = O. One query row and four output columns per invocation (the
        // workgroup's y picks the columns), accumulated in a vec4 instead of a private array.
        let t0 = wid.y * 4u;
        var acc = vec4<f32>(0.0);
        for (var j = 0u; j < p.lk; j++) {
            let pj = a[srow + j];
            let vrow = (bh * p.lk + j) * D;
            var vv = vec4<f32>(0.0);
            for (var u = 0u; u < 4u; u++) {
                if (t0 + u < D) {
                    vv[u] = b[vrow + t0 + u];
                }
            }
            acc = fma(vec4<f32>(pj), vv, acc);
        }
        if (i < p.lq) {
            for (var u = 0u; u < 4u; u++) {
                if (t0 + u < D) {
                    c[(bh * p.lq + i) * D + t0 + u] = acc[u];
                }
            }
        }
    }
}
