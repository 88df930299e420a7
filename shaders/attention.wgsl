// Fused scaled dot-product attention over [batch, heads, seq, head_dim], FlashAttention style:
// each invocation owns one query row and keeps its output row, running max and running sum in
// registers while key/value rows stream past in blocks of BK (online softmax), so the
// seq x seq score matrix never exists in device memory.
//
// Two variants share this code:
// - `attn_stream` (CPU adapters such as lavapipe): K/V rows are read straight from storage.
//   Every invocation of a workgroup reads the same key row at the same time, so on lavapipe
//   the load is one scalar load broadcast to all lanes, and no barrier is paid (design.md 8).
// - `attn_tiled` (GPUs): the workgroup copies each BK x D block of K and V into shared memory
//   once, then every invocation reads it from there (one global read per block instead of
//   one per query row).
//
// Scores are kept in base 2: q is pre-multiplied by scale * log2(e) (and an additive mask by
// log2(e)) so that exp2 replaces exp. A score of MASKED or below means "masked out"; a row
// whose every key is masked has l == 0 and returns zeros instead of 0/0 = NaN.

const D: u32 = 64u;
// vec4 chunks per row; D need not be a multiple of 4 (the tail is loaded as zeros).
const D4: u32 = (D + 3u) / 4u;
const WG: u32 = 64u;
const BK: u32 = 16u;
const CAUSAL: bool = false;
// 0: no mask, 1: additive f32 mask, 2: boolean mask (i32, nonzero = attend).
const MASK: u32 = 0u;
const MASKED: f32 = -3.0e38;
const LOG2E: f32 = 1.4426950408889634;

struct Params {
    batch: u32,
    hq: u32,
    hkv: u32,
    lq: u32,
    lk: u32,
    // scale * log2(e)
    qscale: f32,
    _p0: u32,
    _p1: u32,
    // Strides (batch, head, row) and offsets, in elements; the head_dim stride is 1.
    q_sb: u32,
    q_sh: u32,
    q_sl: u32,
    q_off: u32,
    k_sb: u32,
    k_sh: u32,
    k_sl: u32,
    k_off: u32,
    v_sb: u32,
    v_sh: u32,
    v_sl: u32,
    v_off: u32,
    // Mask strides over (batch, head, query, key), 0 where broadcast.
    m_sb: u32,
    m_sh: u32,
    m_sq: u32,
    m_sk: u32,
    m_off: u32,
    _p2: u32,
    _p3: u32,
    _p4: u32,
}

@group(0) @binding(0) var<storage, read> qb: array<f32>;
@group(0) @binding(1) var<storage, read> kb: array<f32>;
@group(0) @binding(2) var<storage, read> vb: array<f32>;
// f32 bits for an additive mask, i32 bits for a boolean one.
@group(0) @binding(3) var<storage, read> mb: array<u32>;
@group(0) @binding(4) var<storage, read_write> ob: array<f32>;
@group(0) @binding(5) var<uniform> p: Params;

var<workgroup> ks: array<vec4<f32>, BK * D4>;
var<workgroup> vs: array<vec4<f32>, BK * D4>;

fn ld_q(base: u32, c: u32) -> vec4<f32> {
    let i = c * 4u;
    return vec4<f32>(
        qb[base + i],
        select(0.0, qb[base + min(i + 1u, D - 1u)], i + 1u < D),
        select(0.0, qb[base + min(i + 2u, D - 1u)], i + 2u < D),
        select(0.0, qb[base + min(i + 3u, D - 1u)], i + 3u < D),
    );
}

fn ld_k(base: u32, c: u32) -> vec4<f32> {
    let i = c * 4u;
    return vec4<f32>(
        kb[base + i],
        select(0.0, kb[base + min(i + 1u, D - 1u)], i + 1u < D),
        select(0.0, kb[base + min(i + 2u, D - 1u)], i + 2u < D),
        select(0.0, kb[base + min(i + 3u, D - 1u)], i + 3u < D),
    );
}

fn ld_v(base: u32, c: u32) -> vec4<f32> {
    let i = c * 4u;
    return vec4<f32>(
        vb[base + i],
        select(0.0, vb[base + min(i + 1u, D - 1u)], i + 1u < D),
        select(0.0, vb[base + min(i + 2u, D - 1u)], i + 2u < D),
        select(0.0, vb[base + min(i + 3u, D - 1u)], i + 3u < D),
    );
}

// Score adjustments for key j of query row `qi`: masks and causality. `s` is in base 2.
fn mask_score(s: f32, b: u32, h: u32, qi: u32, j: u32) -> f32 {
    var ok = j < p.lk;
    if (CAUSAL) {
        ok = ok && j <= qi;
    }
    var t = s;
    let mi = p.m_off + b * p.m_sb + h * p.m_sh + qi * p.m_sq + min(j, p.lk - 1u) * p.m_sk;
    if (MASK == 1u) {
        t = t + bitcast<f32>(mb[mi]) * LOG2E;
    } else if (MASK == 2u) {
        ok = ok && mb[mi] != 0u;
    }
    // max() maps -inf from an additive mask onto the MASKED sentinel; NaN stays NaN.
    return select(MASKED, max(t, MASKED), ok);
}

// Key range for the workgroup (uniform): with a causal mask, keys past the last query row
// of the workgroup are masked for every row in it.
fn key_end(q0: u32) -> u32 {
    if (CAUSAL) {
        return min(p.lk, min(q0 + WG, p.lq));
    }
    return p.lk;
}

fn store_row(b: u32, h: u32, qi: u32, acc: ptr<function, array<vec4<f32>, D4>>, l: f32) {
    // Fully masked rows (l == 0) return zeros, not NaN.
    let inv = select(0.0, 1.0 / l, l > 0.0);
    let ob0 = ((b * p.hq + h) * p.lq + qi) * D;
    for (var c = 0u; c < D4; c++) {
        let v = (*acc)[c] * inv;
        for (var e = 0u; e < 4u; e++) {
            if (c * 4u + e < D) {
                ob[ob0 + c * 4u + e] = v[e];
            }
        }
    }
}

@compute @workgroup_size(WG)
fn attn_stream(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let h = wid.y;
    let b = wid.z;
    let q0 = wid.x * WG;
    let qi = q0 + lid;
    let qr = min(qi, p.lq - 1u);
    let hk = h / (p.hq / p.hkv);
    let qbase = p.q_off + b * p.q_sb + h * p.q_sh + qr * p.q_sl;
    let kbase = p.k_off + b * p.k_sb + hk * p.k_sh;
    let vbase = p.v_off + b * p.v_sb + hk * p.v_sh;
    var q: array<vec4<f32>, D4>;
    var acc: array<vec4<f32>, D4>;
    for (var c = 0u; c < D4; c++) {
        q[c] = ld_q(qbase, c) * p.qscale;
        acc[c] = vec4<f32>(0.0);
    }
    var m = MASKED;
    var l = 0.0;
    let kend = key_end(q0);
    for (var j0 = 0u; j0 < kend; j0 += BK) {
        var s: array<f32, BK>;
        var mnew = m;
        for (var jj = 0u; jj < BK; jj++) {
            let j = j0 + jj;
            let kr = kbase + min(j, p.lk - 1u) * p.k_sl;
            var d4 = vec4<f32>(0.0);
            for (var c = 0u; c < D4; c++) {
                d4 = fma(q[c], ld_k(kr, c), d4);
            }
            let sc = mask_score(d4.x + d4.y + d4.z + d4.w, b, h, qr, j);
            s[jj] = sc;
            mnew = max(mnew, sc);
        }
        let corr = exp2(m - mnew);
        l = l * corr;
        for (var c = 0u; c < D4; c++) {
            acc[c] = acc[c] * corr;
        }
        for (var jj = 0u; jj < BK; jj++) {
            let pj = select(exp2(s[jj] - mnew), 0.0, s[jj] <= MASKED);
            l = l + pj;
            let vr = vbase + min(j0 + jj, p.lk - 1u) * p.v_sl;
            for (var c = 0u; c < D4; c++) {
                acc[c] = fma(vec4<f32>(pj), ld_v(vr, c), acc[c]);
            }
        }
        m = mnew;
    }
    if (qi < p.lq) {
        store_row(b, h, qi, &acc, l);
    }
}

@compute @workgroup_size(WG)
fn attn_tiled(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let h = wid.y;
    let b = wid.z;
    let q0 = wid.x * WG;
    let qi = q0 + lid;
    let qr = min(qi, p.lq - 1u);
    let hk = h / (p.hq / p.hkv);
    let qbase = p.q_off + b * p.q_sb + h * p.q_sh + qr * p.q_sl;
    let kbase = p.k_off + b * p.k_sb + hk * p.k_sh;
    let vbase = p.v_off + b * p.v_sb + hk * p.v_sh;
    var q: array<vec4<f32>, D4>;
    var acc: array<vec4<f32>, D4>;
    for (var c = 0u; c < D4; c++) {
        q[c] = ld_q(qbase, c) * p.qscale;
        acc[c] = vec4<f32>(0.0);
    }
    var m = MASKED;
    var l = 0.0;
    let kend = key_end(q0);
    for (var j0 = 0u; j0 < kend; j0 += BK) {
        // Cooperative copy of the K and V block (rows past the end are clamped; their
        // scores are masked below).
        for (var t = lid; t < BK * D4; t += WG) {
            let r = min(j0 + t / D4, p.lk - 1u);
            ks[t] = ld_k(kbase + r * p.k_sl, t % D4);
            vs[t] = ld_v(vbase + r * p.v_sl, t % D4);
        }
        workgroupBarrier();
        var s: array<f32, BK>;
        var mnew = m;
        for (var jj = 0u; jj < BK; jj++) {
            var d4 = vec4<f32>(0.0);
            for (var c = 0u; c < D4; c++) {
                d4 = fma(q[c], ks[jj * D4 + c], d4);
            }
            let sc = mask_score(d4.x + d4.y + d4.z + d4.w, b, h, qr, j0 + jj);
            s[jj] = sc;
            mnew = max(mnew, sc);
        }
        let corr = exp2(m - mnew);
        l = l * corr;
        for (var c = 0u; c < D4; c++) {
            acc[c] = acc[c] * corr;
        }
        for (var jj = 0u; jj < BK; jj++) {
            let pj = select(exp2(s[jj] - mnew), 0.0, s[jj] <= MASKED);
            l = l + pj;
            for (var c = 0u; c < D4; c++) {
                acc[c] = fma(vec4<f32>(pj), vs[jj * D4 + c], acc[c]);
            }
        }
        m = mnew;
        workgroupBarrier();
    }
    if (qi < p.lq) {
        store_row(b, h, qi, &acc, l);
    }
}
