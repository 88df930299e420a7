// Fused scaled dot-product attention over [batch, heads, seq, head_dim], FlashAttention style:
// each invocation owns one query row and keeps its output row, running max and running sum in
// registers while key/value rows stream past in blocks of BK (online softmax), so the
// seq x seq score matrix never exists in device memory.
//
// Two variants share this code:
// - `attn_stream` (CPU adapters such as lavapipe): K/V rows are read straight from storage.
//   Every invocation of a workgroup reads the same key row at the same time, so on lavapipe
//   the load is one scalar load broadcast to all lanes, and no barrier is paid (docs/decisions.md#attention-kernel).
// - `attn_tiled` (GPUs): the workgroup copies each BK x D block of K and V into shared memory
//   once, then every invocation reads it from there (one global read per block instead of
//   one per query row).
// - `attn_split` + `attn_combine` (GPUs, decode: a few query rows, many keys): flash-decoding.
//   Each invocation runs the online softmax of one query row over one chunk of keys and
//   writes its partial (max, sum, unnormalised output row); the combine pass rescales the
//   partials to the common max and sums them. One query row then keeps many lanes busy.
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
// Rows and strides are multiples of 4 elements: rows load as aligned vec4s.
const VEC: bool = true;
// Query rows per invocation in the streaming kernel: each loaded key/value chunk feeds R
// rows (lavapipe pays per load, not per FMA).
const R: u32 = 4u;
const LOG2E: f32 = 1.4426950408889634;

struct Params {
    batch: u32,
    hq: u32,
    hkv: u32,
    lq: u32,
    lk: u32,
    // scale * log2(e)
    qscale: f32,
    // Split-K decode (`attn_split` / `attn_combine`): key chunks per row and keys per chunk.
    splits: u32,
    chunk: u32,
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
    // Output strides (batch, head, row), head_dim stride 1: [b, h, l, d] rows, or [b, l, h, d]
    // when the caller merges heads next (the transpose folds into the store).
    o_sb: u32,
    o_sh: u32,
    o_sl: u32,
}

// vec4 bindings: on lavapipe every load whose address is not a compile-time uniform runs a
// loop over the 8 lanes, and a vec4 load does 4 elements in one such loop.
@group(0) @binding(0) var<storage, read> qb: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> kb: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> vb: array<vec4<f32>>;
// f32 bits for an additive mask, i32 bits for a boolean one.
@group(0) @binding(3) var<storage, read> mb: array<u32>;
@group(0) @binding(4) var<storage, read_write> ob: array<f32>;
@group(0) @binding(5) var<uniform> p: Params;

var<workgroup> ks: array<vec4<f32>, BK * D4>;
var<workgroup> vs: array<vec4<f32>, BK * D4>;

// Chunk c (4 elements) of the row starting at element `base`. With VEC (head_dim, strides
// and offsets multiples of 4) that is one aligned vec4 load; otherwise element by element,
// with the tail past head_dim read as zeros.
fn ld_q(base: u32, c: u32) -> vec4<f32> {
    if (VEC) {
        return qb[(base >> 2u) + c];
    }
    let i = base + c * 4u;
    let e = vec4<u32>(i, i + 1u, i + 2u, i + 3u);
    let last = base + D - 1u;
    let ok = vec4<u32>(c * 4u) + vec4<u32>(0u, 1u, 2u, 3u) < vec4<u32>(D);
    let m = min(e, vec4<u32>(last));
    return select(vec4<f32>(0.0), vec4<f32>(qb[m.x >> 2u][m.x & 3u], qb[m.y >> 2u][m.y & 3u], qb[m.z >> 2u][m.z & 3u], qb[m.w >> 2u][m.w & 3u]), ok);
}

fn ld_k(base: u32, c: u32) -> vec4<f32> {
    if (VEC) {
        return kb[(base >> 2u) + c];
    }
    let i = base + c * 4u;
    let e = vec4<u32>(i, i + 1u, i + 2u, i + 3u);
    let last = base + D - 1u;
    let ok = vec4<u32>(c * 4u) + vec4<u32>(0u, 1u, 2u, 3u) < vec4<u32>(D);
    let m = min(e, vec4<u32>(last));
    return select(vec4<f32>(0.0), vec4<f32>(kb[m.x >> 2u][m.x & 3u], kb[m.y >> 2u][m.y & 3u], kb[m.z >> 2u][m.z & 3u], kb[m.w >> 2u][m.w & 3u]), ok);
}

fn ld_v(base: u32, c: u32) -> vec4<f32> {
    if (VEC) {
        return vb[(base >> 2u) + c];
    }
    let i = base + c * 4u;
    let e = vec4<u32>(i, i + 1u, i + 2u, i + 3u);
    let last = base + D - 1u;
    let ok = vec4<u32>(c * 4u) + vec4<u32>(0u, 1u, 2u, 3u) < vec4<u32>(D);
    let m = min(e, vec4<u32>(last));
    return select(vec4<f32>(0.0), vec4<f32>(vb[m.x >> 2u][m.x & 3u], vb[m.y >> 2u][m.y & 3u], vb[m.z >> 2u][m.z & 3u], vb[m.w >> 2u][m.w & 3u]), ok);
}

fn hsum(v: vec4<f32>) -> f32 {
    return v.x + v.y + v.z + v.w;
}

// NaN test on the bits: max() and exp2 may drop a NaN (lavapipe's do), and a compiler may
// assume x == x. A NaN score of a key that is not masked out makes its row NaN, as the
// reference's softmax does; every kernel tracks it in a flag rather than through max/exp2.
fn is_nan(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u;
}

fn is_nan4(x: vec4<f32>) -> vec4<bool> {
    return (bitcast<vec4<u32>>(x) & vec4<u32>(0x7fffffffu)) > vec4<u32>(0x7f800000u);
}

// The row sum `l`, or, for a row that met a NaN score, a quiet NaN made from it at run time
// (no constant NaN is folded at compile time): the stores then write NaN.
fn poisoned(l: f32, bad: bool) -> f32 {
    return select(l, bitcast<f32>(bitcast<u32>(l) | 0x7fc00000u), bad);
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
    return select(MASKED, select(max(t, MASKED), t, is_nan(t)), ok);
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
    // Fully masked rows (l == 0) return zeros, not NaN; a poisoned row (l NaN) is NaN.
    let inv = select(0.0, 1.0 / l, l > 0.0);
    let ob0 = b * p.o_sb + h * p.o_sh + qi * p.o_sl;
    for (var c = 0u; c < D4; c++) {
        let v = select((*acc)[c] * inv, vec4<f32>(l), is_nan(l));
        for (var e = 0u; e < 4u; e++) {
            if (c * 4u + e < D) {
                ob[ob0 + c * 4u + e] = v[e];
            }
        }
    }
}

fn key_end_rows(q0: u32, rows: u32) -> u32 {
    if (CAUSAL) {
        return min(p.lk, min(q0 + rows, p.lq));
    }
    return p.lk;
}

fn mask4(s: vec4<f32>, b: u32, h: u32, rows: vec4<u32>, j: u32) -> vec4<f32> {
    return vec4<f32>(
        mask_score(s.x, b, h, rows.x, j),
        mask_score(s.y, b, h, rows.y, j),
        mask_score(s.z, b, h, rows.z, j),
        mask_score(s.w, b, h, rows.w, j),
    );
}

// The streaming kernel keeps q and the output rows in chunks of C vec4s (32 dims): the
// driver (lavapipe) unrolls a loop of C iterations and keeps the chunk in registers, but
// not a loop over a whole 64- or 128-wide row, and a private array indexed in a loop that
// is not unrolled lives in scratch memory (several times slower). Up to 4 chunks (head_dim
// 128); wider heads take the tiled kernel.
const C: u32 = 8u;
// Subgroup variant (lavapipe: subgroups of 8 consecutive invocations): lane i of a subgroup
// loads vec4 i of a chunk and the other lanes take it by broadcast, so a key or value chunk
// costs one load per lane instead of eight. The host enables it only with the SUBGROUP
// feature and subgroups of exactly C lanes. `bcast0`..`bcast7` are appended by the launch
// code (ops/attention.rs `lane_broadcasts`): `subgroupBroadcast` in this variant, the identity
// in the others, so that a module without subgroups never names a subgroup builtin.
const SGB: bool = false;
const NCH: u32 = (D4 + C - 1u) / C;
alias Chunk = array<vec4<f32>, C>;

// Partial dot products of key row `kr` with the 4 rows' chunk `ch`: one load per vec4 of
// the key feeds all four rows.
fn dots(kr: u32, ch: u32, qa: ptr<function, Chunk>, qb_: ptr<function, Chunk>, qc: ptr<function, Chunk>, qd: ptr<function, Chunk>) -> vec4<f32> {
    var d0 = vec4<f32>(0.0);
    var d1 = vec4<f32>(0.0);
    var d2 = vec4<f32>(0.0);
    var d3 = vec4<f32>(0.0);
    for (var i = 0u; i < C; i++) {
        let c = ch * C + i;
        if (c < D4) {
            let kv = ld_k(kr, c);
            d0 = fma((*qa)[i], kv, d0);
            d1 = fma((*qb_)[i], kv, d1);
            d2 = fma((*qc)[i], kv, d2);
            d3 = fma((*qd)[i], kv, d3);
        }
    }
    return vec4<f32>(hsum(d0), hsum(d1), hsum(d2), hsum(d3));
}

// o = o * corr + p v for the chunk `ch` of the four rows.
fn update(vr: u32, ch: u32, corr: vec4<f32>, pj: vec4<f32>, oa: ptr<function, Chunk>, ob2: ptr<function, Chunk>, oc: ptr<function, Chunk>, od: ptr<function, Chunk>) {
    for (var i = 0u; i < C; i++) {
        let c = ch * C + i;
        if (c < D4) {
            let vv = ld_v(vr, c);
            (*oa)[i] = fma(vec4<f32>(pj.x), vv, (*oa)[i] * corr.x);
            (*ob2)[i] = fma(vec4<f32>(pj.y), vv, (*ob2)[i] * corr.y);
            (*oc)[i] = fma(vec4<f32>(pj.z), vv, (*oc)[i] * corr.z);
            (*od)[i] = fma(vec4<f32>(pj.w), vv, (*od)[i] * corr.w);
        }
    }
}

fn dots_sg(kr: u32, ch: u32, sl: u32, qa: ptr<function, Chunk>, qb_: ptr<function, Chunk>, qc: ptr<function, Chunk>, qd: ptr<function, Chunk>) -> vec4<f32> {
    let mine = ld_k(kr, min(ch * C + sl, D4 - 1u));
    var d0 = vec4<f32>(0.0);
    var d1 = vec4<f32>(0.0);
    var d2 = vec4<f32>(0.0);
    var d3 = vec4<f32>(0.0);
    if (ch * C + 0u < D4) {
        let kv = bcast0(mine);
        d0 = fma((*qa)[0], kv, d0);
        d1 = fma((*qb_)[0], kv, d1);
        d2 = fma((*qc)[0], kv, d2);
        d3 = fma((*qd)[0], kv, d3);
    }
    if (ch * C + 1u < D4) {
        let kv = bcast1(mine);
        d0 = fma((*qa)[1], kv, d0);
        d1 = fma((*qb_)[1], kv, d1);
        d2 = fma((*qc)[1], kv, d2);
        d3 = fma((*qd)[1], kv, d3);
    }
    if (ch * C + 2u < D4) {
        let kv = bcast2(mine);
        d0 = fma((*qa)[2], kv, d0);
        d1 = fma((*qb_)[2], kv, d1);
        d2 = fma((*qc)[2], kv, d2);
        d3 = fma((*qd)[2], kv, d3);
    }
    if (ch * C + 3u < D4) {
        let kv = bcast3(mine);
        d0 = fma((*qa)[3], kv, d0);
        d1 = fma((*qb_)[3], kv, d1);
        d2 = fma((*qc)[3], kv, d2);
        d3 = fma((*qd)[3], kv, d3);
    }
    if (ch * C + 4u < D4) {
        let kv = bcast4(mine);
        d0 = fma((*qa)[4], kv, d0);
        d1 = fma((*qb_)[4], kv, d1);
        d2 = fma((*qc)[4], kv, d2);
        d3 = fma((*qd)[4], kv, d3);
    }
    if (ch * C + 5u < D4) {
        let kv = bcast5(mine);
        d0 = fma((*qa)[5], kv, d0);
        d1 = fma((*qb_)[5], kv, d1);
        d2 = fma((*qc)[5], kv, d2);
        d3 = fma((*qd)[5], kv, d3);
    }
    if (ch * C + 6u < D4) {
        let kv = bcast6(mine);
        d0 = fma((*qa)[6], kv, d0);
        d1 = fma((*qb_)[6], kv, d1);
        d2 = fma((*qc)[6], kv, d2);
        d3 = fma((*qd)[6], kv, d3);
    }
    if (ch * C + 7u < D4) {
        let kv = bcast7(mine);
        d0 = fma((*qa)[7], kv, d0);
        d1 = fma((*qb_)[7], kv, d1);
        d2 = fma((*qc)[7], kv, d2);
        d3 = fma((*qd)[7], kv, d3);
    }
    return vec4<f32>(hsum(d0), hsum(d1), hsum(d2), hsum(d3));
}

fn update_sg(vr: u32, ch: u32, sl: u32, corr: vec4<f32>, pj: vec4<f32>, oa: ptr<function, Chunk>, ob2: ptr<function, Chunk>, oc: ptr<function, Chunk>, od: ptr<function, Chunk>) {
    let mine = ld_v(vr, min(ch * C + sl, D4 - 1u));
    if (ch * C + 0u < D4) {
        let vv = bcast0(mine);
        (*oa)[0] = fma(vec4<f32>(pj.x), vv, (*oa)[0] * corr.x);
        (*ob2)[0] = fma(vec4<f32>(pj.y), vv, (*ob2)[0] * corr.y);
        (*oc)[0] = fma(vec4<f32>(pj.z), vv, (*oc)[0] * corr.z);
        (*od)[0] = fma(vec4<f32>(pj.w), vv, (*od)[0] * corr.w);
    }
    if (ch * C + 1u < D4) {
        let vv = bcast1(mine);
        (*oa)[1] = fma(vec4<f32>(pj.x), vv, (*oa)[1] * corr.x);
        (*ob2)[1] = fma(vec4<f32>(pj.y), vv, (*ob2)[1] * corr.y);
        (*oc)[1] = fma(vec4<f32>(pj.z), vv, (*oc)[1] * corr.z);
        (*od)[1] = fma(vec4<f32>(pj.w), vv, (*od)[1] * corr.w);
    }
    if (ch * C + 2u < D4) {
        let vv = bcast2(mine);
        (*oa)[2] = fma(vec4<f32>(pj.x), vv, (*oa)[2] * corr.x);
        (*ob2)[2] = fma(vec4<f32>(pj.y), vv, (*ob2)[2] * corr.y);
        (*oc)[2] = fma(vec4<f32>(pj.z), vv, (*oc)[2] * corr.z);
        (*od)[2] = fma(vec4<f32>(pj.w), vv, (*od)[2] * corr.w);
    }
    if (ch * C + 3u < D4) {
        let vv = bcast3(mine);
        (*oa)[3] = fma(vec4<f32>(pj.x), vv, (*oa)[3] * corr.x);
        (*ob2)[3] = fma(vec4<f32>(pj.y), vv, (*ob2)[3] * corr.y);
        (*oc)[3] = fma(vec4<f32>(pj.z), vv, (*oc)[3] * corr.z);
        (*od)[3] = fma(vec4<f32>(pj.w), vv, (*od)[3] * corr.w);
    }
    if (ch * C + 4u < D4) {
        let vv = bcast4(mine);
        (*oa)[4] = fma(vec4<f32>(pj.x), vv, (*oa)[4] * corr.x);
        (*ob2)[4] = fma(vec4<f32>(pj.y), vv, (*ob2)[4] * corr.y);
        (*oc)[4] = fma(vec4<f32>(pj.z), vv, (*oc)[4] * corr.z);
        (*od)[4] = fma(vec4<f32>(pj.w), vv, (*od)[4] * corr.w);
    }
    if (ch * C + 5u < D4) {
        let vv = bcast5(mine);
        (*oa)[5] = fma(vec4<f32>(pj.x), vv, (*oa)[5] * corr.x);
        (*ob2)[5] = fma(vec4<f32>(pj.y), vv, (*ob2)[5] * corr.y);
        (*oc)[5] = fma(vec4<f32>(pj.z), vv, (*oc)[5] * corr.z);
        (*od)[5] = fma(vec4<f32>(pj.w), vv, (*od)[5] * corr.w);
    }
    if (ch * C + 6u < D4) {
        let vv = bcast6(mine);
        (*oa)[6] = fma(vec4<f32>(pj.x), vv, (*oa)[6] * corr.x);
        (*ob2)[6] = fma(vec4<f32>(pj.y), vv, (*ob2)[6] * corr.y);
        (*oc)[6] = fma(vec4<f32>(pj.z), vv, (*oc)[6] * corr.z);
        (*od)[6] = fma(vec4<f32>(pj.w), vv, (*od)[6] * corr.w);
    }
    if (ch * C + 7u < D4) {
        let vv = bcast7(mine);
        (*oa)[7] = fma(vec4<f32>(pj.x), vv, (*oa)[7] * corr.x);
        (*ob2)[7] = fma(vec4<f32>(pj.y), vv, (*ob2)[7] * corr.y);
        (*oc)[7] = fma(vec4<f32>(pj.z), vv, (*oc)[7] * corr.z);
        (*od)[7] = fma(vec4<f32>(pj.w), vv, (*od)[7] * corr.w);
    }
}

fn load_q(base: u32, ch: u32, q: ptr<function, Chunk>, o: ptr<function, Chunk>) {
    for (var i = 0u; i < C; i++) {
        let c = min(ch * C + i, D4 - 1u);
        (*q)[i] = ld_q(base, c) * p.qscale;
        (*o)[i] = vec4<f32>(0.0);
    }
}

fn store_chunk(b: u32, h: u32, qi: u32, ch: u32, o: ptr<function, Chunk>, l: f32) {
    if (qi >= p.lq) {
        return;
    }
    // Fully masked rows (l == 0) return zeros, not NaN; a poisoned row (l NaN) is NaN.
    let inv = select(0.0, 1.0 / l, l > 0.0);
    let ob0 = b * p.o_sb + h * p.o_sh + qi * p.o_sl;
    for (var i = 0u; i < C; i++) {
        let c = ch * C + i;
        let v = select((*o)[i] * inv, vec4<f32>(l), is_nan(l));
        for (var e = 0u; e < 4u; e++) {
            if (c < D4 && c * 4u + e < D) {
                ob[ob0 + c * 4u + e] = v[e];
            }
        }
    }
}

// The R = 4 query rows of an invocation are lid, lid + WG, lid + 2 WG, lid + 3 WG of the
// workgroup's block, each with its own q, output, running max and sum (vec4 over rows).
// Keys are taken one at a time.
@compute @workgroup_size(WG)
fn attn_stream(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let h = wid.y;
    let b = wid.z;
    let q0 = wid.x * WG * R;
    let rows = vec4<u32>(q0 + lid, q0 + lid + WG, q0 + lid + 2u * WG, q0 + lid + 3u * WG);
    let sl = lid % C;
    let rr = min(rows, vec4<u32>(p.lq - 1u));
    let hk = h / (p.hq / p.hkv);
    let qh = p.q_off + b * p.q_sb + h * p.q_sh;
    let kbase = p.k_off + b * p.k_sb + hk * p.k_sh;
    let vbase = p.v_off + b * p.v_sb + hk * p.v_sh;
    var qa0: Chunk;
    var oa0: Chunk;
    var qb0: Chunk;
    var ob0: Chunk;
    var qc0: Chunk;
    var oc0: Chunk;
    var qd0: Chunk;
    var od0: Chunk;
    var qa1: Chunk;
    var oa1: Chunk;
    var qb1: Chunk;
    var ob1: Chunk;
    var qc1: Chunk;
    var oc1: Chunk;
    var qd1: Chunk;
    var od1: Chunk;
    var qa2: Chunk;
    var oa2: Chunk;
    var qb2: Chunk;
    var ob2: Chunk;
    var qc2: Chunk;
    var oc2: Chunk;
    var qd2: Chunk;
    var od2: Chunk;
    var qa3: Chunk;
    var oa3: Chunk;
    var qb3: Chunk;
    var ob3: Chunk;
    var qc3: Chunk;
    var oc3: Chunk;
    var qd3: Chunk;
    var od3: Chunk;
    {
        load_q(qh + rr.x * p.q_sl, 0u, &qa0, &oa0);
        load_q(qh + rr.y * p.q_sl, 0u, &qb0, &ob0);
        load_q(qh + rr.z * p.q_sl, 0u, &qc0, &oc0);
        load_q(qh + rr.w * p.q_sl, 0u, &qd0, &od0);
    }
    if (NCH > 1u) {
        load_q(qh + rr.x * p.q_sl, 1u, &qa1, &oa1);
        load_q(qh + rr.y * p.q_sl, 1u, &qb1, &ob1);
        load_q(qh + rr.z * p.q_sl, 1u, &qc1, &oc1);
        load_q(qh + rr.w * p.q_sl, 1u, &qd1, &od1);
    }
    if (NCH > 2u) {
        load_q(qh + rr.x * p.q_sl, 2u, &qa2, &oa2);
        load_q(qh + rr.y * p.q_sl, 2u, &qb2, &ob2);
        load_q(qh + rr.z * p.q_sl, 2u, &qc2, &oc2);
        load_q(qh + rr.w * p.q_sl, 2u, &qd2, &od2);
    }
    if (NCH > 3u) {
        load_q(qh + rr.x * p.q_sl, 3u, &qa3, &oa3);
        load_q(qh + rr.y * p.q_sl, 3u, &qb3, &ob3);
        load_q(qh + rr.z * p.q_sl, 3u, &qc3, &oc3);
        load_q(qh + rr.w * p.q_sl, 3u, &qd3, &od3);
    }
    var m = vec4<f32>(MASKED);
    var l = vec4<f32>(0.0);
    var bad = vec4<bool>(false);
    let kend = key_end_rows(q0, WG * R);
    for (var j = 0u; j < kend; j++) {
        let kr = kbase + j * p.k_sl;
        var dsum = vec4<f32>(0.0);
        if (SGB) {
            dsum = dots_sg(kr, 0u, sl, &qa0, &qb0, &qc0, &qd0);
        } else {
            dsum = dots(kr, 0u, &qa0, &qb0, &qc0, &qd0);
        }
        if (NCH > 1u) {
            if (SGB) {
                dsum += dots_sg(kr, 1u, sl, &qa1, &qb1, &qc1, &qd1);
            } else {
                dsum += dots(kr, 1u, &qa1, &qb1, &qc1, &qd1);
            }
        }
        if (NCH > 2u) {
            if (SGB) {
                dsum += dots_sg(kr, 2u, sl, &qa2, &qb2, &qc2, &qd2);
            } else {
                dsum += dots(kr, 2u, &qa2, &qb2, &qc2, &qd2);
            }
        }
        if (NCH > 3u) {
            if (SGB) {
                dsum += dots_sg(kr, 3u, sl, &qa3, &qb3, &qc3, &qd3);
            } else {
                dsum += dots(kr, 3u, &qa3, &qb3, &qc3, &qd3);
            }
        }
        let s = mask4(dsum, b, h, rr, j);
        bad = bad | is_nan4(s);
        let mnew = max(m, s);
        let corr = exp2(m - mnew);
        let pj = select(exp2(s - mnew), vec4<f32>(0.0), s <= vec4<f32>(MASKED));
        l = fma(l, corr, pj);
        m = mnew;
        let vr = vbase + j * p.v_sl;
        if (SGB) {
            update_sg(vr, 0u, sl, corr, pj, &oa0, &ob0, &oc0, &od0);
        } else {
            update(vr, 0u, corr, pj, &oa0, &ob0, &oc0, &od0);
        }
        if (NCH > 1u) {
            if (SGB) {
                update_sg(vr, 1u, sl, corr, pj, &oa1, &ob1, &oc1, &od1);
            } else {
                update(vr, 1u, corr, pj, &oa1, &ob1, &oc1, &od1);
            }
        }
        if (NCH > 2u) {
            if (SGB) {
                update_sg(vr, 2u, sl, corr, pj, &oa2, &ob2, &oc2, &od2);
            } else {
                update(vr, 2u, corr, pj, &oa2, &ob2, &oc2, &od2);
            }
        }
        if (NCH > 3u) {
            if (SGB) {
                update_sg(vr, 3u, sl, corr, pj, &oa3, &ob3, &oc3, &od3);
            } else {
                update(vr, 3u, corr, pj, &oa3, &ob3, &oc3, &od3);
            }
        }
    }
    l = vec4<f32>(poisoned(l.x, bad.x), poisoned(l.y, bad.y), poisoned(l.z, bad.z), poisoned(l.w, bad.w));
    {
        store_chunk(b, h, rows.x, 0u, &oa0, l.x);
        store_chunk(b, h, rows.y, 0u, &ob0, l.y);
        store_chunk(b, h, rows.z, 0u, &oc0, l.z);
        store_chunk(b, h, rows.w, 0u, &od0, l.w);
    }
    if (NCH > 1u) {
        store_chunk(b, h, rows.x, 1u, &oa1, l.x);
        store_chunk(b, h, rows.y, 1u, &ob1, l.y);
        store_chunk(b, h, rows.z, 1u, &oc1, l.z);
        store_chunk(b, h, rows.w, 1u, &od1, l.w);
    }
    if (NCH > 2u) {
        store_chunk(b, h, rows.x, 2u, &oa2, l.x);
        store_chunk(b, h, rows.y, 2u, &ob2, l.y);
        store_chunk(b, h, rows.z, 2u, &oc2, l.z);
        store_chunk(b, h, rows.w, 2u, &od2, l.w);
    }
    if (NCH > 3u) {
        store_chunk(b, h, rows.x, 3u, &oa3, l.x);
        store_chunk(b, h, rows.y, 3u, &ob3, l.y);
        store_chunk(b, h, rows.z, 3u, &oc3, l.z);
        store_chunk(b, h, rows.w, 3u, &od3, l.w);
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
    var bad = false;
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
            bad = bad || is_nan(sc);
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
        store_row(b, h, qi, &acc, poisoned(l, bad));
    }
}

// ---- split-K decode: partials [b, hq, lq, splits] x (m, l, acc[D]), then a combine ----

// The partials buffer takes the output's binding in `attn_split`.
@group(0) @binding(4) var<storage, read_write> pb: array<f32>;

@compute @workgroup_size(WG)
fn attn_split(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let h = wid.y;
    let b = wid.z;
    let t = wid.x * WG + lid;
    if (t >= p.lq * p.splits) {
        return;
    }
    let qi = t / p.splits;
    let sp = t % p.splits;
    let hk = h / (p.hq / p.hkv);
    let qbase = p.q_off + b * p.q_sb + h * p.q_sh + qi * p.q_sl;
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
    var bad = false;
    let j0 = sp * p.chunk;
    let j1 = min(p.lk, j0 + p.chunk);
    for (var j = j0; j < j1; j++) {
        var d4 = vec4<f32>(0.0);
        for (var c = 0u; c < D4; c++) {
            d4 = fma(q[c], ld_k(kbase + j * p.k_sl, c), d4);
        }
        let sc = mask_score(hsum(d4), b, h, qi, j);
        bad = bad || is_nan(sc);
        // Masked keys are skipped; a NaN score poisons the partial through `bad`.
        if (!(sc <= MASKED)) {
            let mnew = max(m, sc);
            let corr = exp2(m - mnew);
            let pj = exp2(sc - mnew);
            l = l * corr + pj;
            for (var c = 0u; c < D4; c++) {
                acc[c] = fma(vec4<f32>(pj), ld_v(vbase + j * p.v_sl, c), acc[c] * corr);
            }
            m = mnew;
        }
    }
    let base = (((b * p.hq + h) * p.lq + qi) * p.splits + sp) * (D + 2u);
    pb[base] = m;
    pb[base + 1u] = poisoned(l, bad);
    for (var c = 0u; c < D4; c++) {
        for (var e = 0u; e < 4u; e++) {
            if (c * 4u + e < D) {
                pb[base + 2u + c * 4u + e] = acc[c][e];
            }
        }
    }
}

@group(0) @binding(0) var<storage, read> cb_parts: array<f32>;
@group(0) @binding(1) var<storage, read_write> cb_out: array<f32>;
@group(0) @binding(2) var<uniform> cp: Params;

// One invocation per output element: rescales every partial to the row's common max.
@compute @workgroup_size(WG)
fn attn_combine(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
    let t = (wid.y * nwg.x + wid.x) * WG + lid;
    let rows = cp.batch * cp.hq * cp.lq;
    if (t >= rows * D) {
        return;
    }
    let r = t / D;
    let e = t % D;
    let base = r * cp.splits * (D + 2u);
    var mx = MASKED;
    for (var s = 0u; s < cp.splits; s++) {
        mx = max(mx, cb_parts[base + s * (D + 2u)]);
    }
    var l = 0.0;
    var o = 0.0;
    var bad = false;
    for (var s = 0u; s < cp.splits; s++) {
        let ps = base + s * (D + 2u);
        bad = bad || is_nan(cb_parts[ps + 1u]);
        let f = exp2(cb_parts[ps] - mx);
        l = l + f * cb_parts[ps + 1u];
        o = o + f * cb_parts[ps + 2u + e];
    }
    let qi = r % cp.lq;
    let bh = r / cp.lq;
    let h = bh % cp.hq;
    let b = bh / cp.hq;
    // Fully masked rows (l == 0) return zeros, not NaN; a poisoned partial makes the row NaN.
    let inv = select(0.0, 1.0 / l, l > 0.0);
    cb_out[b * cp.o_sb + h * cp.o_sh + qi * cp.o_sl + e] = select(o * inv, poisoned(l, true), bad);
}
