// Matrix multiplication C = act(alpha * (A . B) + bias[n]) + residual[.., m, n], batched with
// numpy broadcasting of the batch dims, on any 2-D strided views of A and B.
//
// Three kernels share the bindings and the epilogue:
// - matmul_cpu_<TM>x<TN>: for CPU adapters (lavapipe). No shared memory, no barriers; each
//                invocation owns a TM x TN block of C and streams A (vec4 along K) and B (vec4
//                along N) straight from storage. The rows of a block come from workgroup_id,
//                so the lanes lavapipe packs into one SIMD vector read the same A addresses.
// - matmul_gpu:  for real GPUs. A BM x BN tile per workgroup staged through shared memory in
//                BK slices; each invocation owns a TM x TN register block.
// - matmul_gemv: M == 1 or N == 1. Every output is a dot product of length K; RK invocations
//                split each dot product and combine through shared memory (RK = 1 on CPUs).
//
// Every operand is bound as array<vec4<T>> so that aligned, contiguous layouts load a vec4 in
// one access; other strides read one element with `x[i >> 2][i & 3]`. Variants are made by
// replacing the `const`/`alias` values below (see src/shaders.rs `specialize`), and the
// activation by replacing the body of `act`.

alias T = f32;

// matmul_gpu register block per invocation (multiples of 4).
const TM: u32 = 4u;
const TN: u32 = 4u;
const TN4: u32 = TN / 4u;
// matmul_cpu: invocations per workgroup, all along N.
const CPU_WG: u32 = 64u;
// matmul_gpu: invocation grid and K slice; the tile is (WG_Y * TM) x (WG_X * TN).
const WG_X: u32 = 16u;
const WG_Y: u32 = 16u;
const BK: u32 = 16u;
const BM: u32 = WG_Y * TM;
const BN: u32 = WG_X * TN;
const BM4: u32 = BM / 4u;
const BN4: u32 = BN / 4u;
// matmul_gemv: invocations per workgroup and how many split one dot product.
const GV_WG: u32 = 64u;
const RK: u32 = 1u;
// true when the long side of the GEMV is N (M == 1): the matrix operand is B.
const GV_X_IS_B: bool = true;
// Layout fast paths, decided on the host from the strides: A contiguous along K and B
// contiguous along N, both in aligned groups of 4 with K (resp. N) a multiple of 4.
const A_VEC: bool = false;
const B_VEC: bool = false;
// matmul_cpu only: B contiguous along K (a transposed view, e.g. x . W^T), aligned groups of 4.
const B_KVEC: bool = false;
const HAS_BIAS: bool = false;
const HAS_RES: bool = false;

struct Params {
    m: u32,
    n: u32,
    k: u32,
    batch_base: u32,
    a_off: u32,
    a_rs: u32,
    a_cs: u32,
    b_off: u32,
    b_rs: u32,
    b_cs: u32,
    r_off: u32,
    r_rs: u32,
    r_cs: u32,
    bias_off: u32,
    bias_s: u32,
    alpha: f32,
    // Output batch shape, innermost last, padded in front with 1.
    bshape: vec4<u32>,
    // Batch strides (elements) of A, B and the residual; 0 where broadcast.
    a_bs: vec4<u32>,
    b_bs: vec4<u32>,
    r_bs: vec4<u32>,
}

@group(0) @binding(0) var<storage, read> a: array<vec4<T>>;
@group(0) @binding(1) var<storage, read> b: array<vec4<T>>;
@group(0) @binding(2) var<storage, read_write> c: array<T>;
@group(0) @binding(3) var<storage, read> bias: array<T>;
@group(0) @binding(4) var<storage, read> res: array<T>;
@group(0) @binding(5) var<uniform> p: Params;
// matmul_cpu_tex_*: B as texels of 4 columns, one texture row per k (see matmul_pack_b).
@group(0) @binding(6) var btex: texture_2d<f32>;
@group(0) @binding(7) var bpack: texture_storage_2d<rgba32float, write>;

fn act(x: f32) -> f32 { return x; }

fn lda(i: u32) -> f32 {
    return f32(a[i >> 2u][i & 3u]);
}

fn ldb(i: u32) -> f32 {
    return f32(b[i >> 2u][i & 3u]);
}

struct Bases {
    a: u32,
    b: u32,
    r: u32,
    c: u32,
}

// Element offsets of batch `z` (row-major over bshape) in A, B, residual and C.
fn bases(z: u32) -> Bases {
    var rem = z;
    var out = Bases(p.a_off, p.b_off, p.r_off, z * p.m * p.n);
    for (var d = 3; d >= 0; d--) {
        let i = rem % p.bshape[d];
        rem = rem / p.bshape[d];
        out.a += i * p.a_bs[d];
        out.b += i * p.b_bs[d];
        out.r += i * p.r_bs[d];
    }
    return out;
}

// act(alpha * acc + bias[n]) + res[m, n], stored to C; callers guarantee m < M and n < N.
fn store(bs: Bases, m: u32, n: u32, acc: f32) {
    var v = p.alpha * acc;
    if (HAS_BIAS) {
        v += f32(bias[p.bias_off + n * p.bias_s]);
    }
    v = act(v);
    if (HAS_RES) {
        v += f32(res[bs.r + m * p.r_rs + n * p.r_cs]);
    }
    c[bs.c + m * p.n + n] = T(v);
}

// Keeps bias and res in every entry point's interface (the bind group always binds them;
// a placeholder buffer stands in when the epilogue has none). Never true at run time.
fn touch_epilogue_bindings() -> bool {
    return p.m == 0u && (bias[0] != T(0.0) || res[0] != T(0.0));
}

// Column offsets of B for the 4 columns from n (clamped into range; never stored).
// With B_VEC only .x is used: N % 4 == 0 keeps a clamped group of 4 inside the row.
fn b_cols(bb: u32, n: u32) -> vec4<u32> {
    if (B_VEC) {
        return vec4<u32>(bb + min(n, p.n - 4u));
    }
    let last = p.n - 1u;
    return vec4<u32>(bb + min(n, last) * p.b_cs, bb + min(n + 1u, last) * p.b_cs, bb + min(n + 2u, last) * p.b_cs, bb + min(n + 3u, last) * p.b_cs);
}

fn load_b4(cb: vec4<u32>, brow: u32) -> vec4<f32> {
    if (B_VEC) {
        return vec4<f32>(b[(cb.x + brow) >> 2u]);
    }
    return vec4<f32>(ldb(cb.x + brow), ldb(cb.y + brow), ldb(cb.z + brow), ldb(cb.w + brow));
}

// A[row, k..k + 4] for the row starting at element `ra`.
fn load_a4(ra: u32, k: u32) -> vec4<f32> {
    if (A_VEC) {
        return vec4<f32>(a[(ra + k) >> 2u]);
    }
    return vec4<f32>(lda(ra + k * p.a_cs), lda(ra + (k + 1u) * p.a_cs), lda(ra + (k + 2u) * p.a_cs), lda(ra + (k + 3u) * p.a_cs));
}

// B[k + kk, 4 columns] as column kk of the matrix.
fn load_b4x4(cb: vec4<u32>, k: u32) -> mat4x4<f32> {
    if (B_KVEC) {
        // One vec4 along K per column, then a register transpose.
        return transpose(mat4x4<f32>(vec4<f32>(b[(cb.x + k) >> 2u]), vec4<f32>(b[(cb.y + k) >> 2u]), vec4<f32>(b[(cb.z + k) >> 2u]), vec4<f32>(b[(cb.w + k) >> 2u])));
    }
    return mat4x4<f32>(load_b4(cb, k * p.b_rs), load_b4(cb, (k + 1u) * p.b_rs), load_b4(cb, (k + 2u) * p.b_rs), load_b4(cb, (k + 3u) * p.b_rs));
}

// Stores the in-range part of 4 outputs C[m, n..n + 4].
fn store4(bs: Bases, m: u32, n: u32, v: vec4<f32>) {
    if (m >= p.m) {
        return;
    }
    if (n < p.n) {
        store(bs, m, n, v.x);
    }
    if (n + 1u < p.n) {
        store(bs, m, n + 1u, v.y);
    }
    if (n + 2u < p.n) {
        store(bs, m, n + 2u, v.z);
    }
    if (n + 3u < p.n) {
        store(bs, m, n + 3u, v.w);
    }
}

// Texel column of B holding columns n..n + 4 (clamped into range; never stored).
fn tex_col(n: u32) -> i32 {
    return i32(min(n >> 2u, (p.n + 3u) / 4u - 1u));
}

// B[k + kk, 4 columns] from the packed texture, as column kk of the matrix.
fn load_btex4x4(col: i32, k: u32) -> mat4x4<f32> {
    let r = i32(k);
    return mat4x4<f32>(textureLoad(btex, vec2<i32>(col, r), 0), textureLoad(btex, vec2<i32>(col, r + 1), 0), textureLoad(btex, vec2<i32>(col, r + 2), 0), textureLoad(btex, vec2<i32>(col, r + 3), 0));
}

// Packs one B matrix (any strides, batch 0) into bpack: texel (x, k) = B[k, 4x..4x + 4],
// zero past N. matmul_cpu_tex_* then fetch B as texels: lavapipe gathers a texel for all
// SIMD lanes at once, where its storage loads go lane by lane.
@compute @workgroup_size(64, 1, 1)
fn matmul_pack_b(@builtin(global_invocation_id) gid: vec3<u32>) {
    let x = gid.x;
    let k = gid.y;
    if (x >= (p.n + 3u) / 4u || k >= p.k) {
        return;
    }
    let row = p.b_off + k * p.b_rs;
    var v = vec4<f32>(0.0);
    for (var q = 0u; q < 4u; q++) {
        let n = 4u * x + q;
        if (n < p.n) {
            v[q] = ldb(row + n * p.b_cs);
        }
    }
    textureStore(bpack, vec2<i32>(i32(x), i32(k)), v);
}

// matmul_cpu_<TM>x<TN>: one TM x TN block of C per invocation; rows from workgroup_id.y
// (uniform: A loads are one load broadcast to all lanes), columns from the invocation.
// Out-of-range rows and columns load clamped, valid data and are never stored, so the inner
// loop has no bounds checks. The block is spelled out as named variables: lavapipe keeps
// arrays indexed in loops in memory.
// GENERATED CPU KERNELS BEGIN (tools/gen_matmul_cpu.py)
@compute @workgroup_size(CPU_WG, 1, 1)
fn matmul_cpu_32x16(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let n0 = (wid.x * CPU_WG + lid.x) * 16u;
    let m0 = wid.y * 32u;
    // No early return for n0 >= N: lavapipe loads uniform addresses once only where no
    // invocation can have left; those invocations compute clamped columns, store nothing.
    if (touch_epilogue_bindings()) {
        return;
    }
    let bs = bases(p.batch_base + wid.z);
    let ra0 = bs.a + min(m0 + 0u, p.m - 1u) * p.a_rs;
    let ra1 = bs.a + min(m0 + 1u, p.m - 1u) * p.a_rs;
    let ra2 = bs.a + min(m0 + 2u, p.m - 1u) * p.a_rs;
    let ra3 = bs.a + min(m0 + 3u, p.m - 1u) * p.a_rs;
    let ra4 = bs.a + min(m0 + 4u, p.m - 1u) * p.a_rs;
    let ra5 = bs.a + min(m0 + 5u, p.m - 1u) * p.a_rs;
    let ra6 = bs.a + min(m0 + 6u, p.m - 1u) * p.a_rs;
    let ra7 = bs.a + min(m0 + 7u, p.m - 1u) * p.a_rs;
    let ra8 = bs.a + min(m0 + 8u, p.m - 1u) * p.a_rs;
    let ra9 = bs.a + min(m0 + 9u, p.m - 1u) * p.a_rs;
    let ra10 = bs.a + min(m0 + 10u, p.m - 1u) * p.a_rs;
    let ra11 = bs.a + min(m0 + 11u, p.m - 1u) * p.a_rs;
    let ra12 = bs.a + min(m0 + 12u, p.m - 1u) * p.a_rs;
    let ra13 = bs.a + min(m0 + 13u, p.m - 1u) * p.a_rs;
    let ra14 = bs.a + min(m0 + 14u, p.m - 1u) * p.a_rs;
    let ra15 = bs.a + min(m0 + 15u, p.m - 1u) * p.a_rs;
    let ra16 = bs.a + min(m0 + 16u, p.m - 1u) * p.a_rs;
    let ra17 = bs.a + min(m0 + 17u, p.m - 1u) * p.a_rs;
    let ra18 = bs.a + min(m0 + 18u, p.m - 1u) * p.a_rs;
    let ra19 = bs.a + min(m0 + 19u, p.m - 1u) * p.a_rs;
    let ra20 = bs.a + min(m0 + 20u, p.m - 1u) * p.a_rs;
    let ra21 = bs.a + min(m0 + 21u, p.m - 1u) * p.a_rs;
    let ra22 = bs.a + min(m0 + 22u, p.m - 1u) * p.a_rs;
    let ra23 = bs.a + min(m0 + 23u, p.m - 1u) * p.a_rs;
    let ra24 = bs.a + min(m0 + 24u, p.m - 1u) * p.a_rs;
    let ra25 = bs.a + min(m0 + 25u, p.m - 1u) * p.a_rs;
    let ra26 = bs.a + min(m0 + 26u, p.m - 1u) * p.a_rs;
    let ra27 = bs.a + min(m0 + 27u, p.m - 1u) * p.a_rs;
    let ra28 = bs.a + min(m0 + 28u, p.m - 1u) * p.a_rs;
    let ra29 = bs.a + min(m0 + 29u, p.m - 1u) * p.a_rs;
    let ra30 = bs.a + min(m0 + 30u, p.m - 1u) * p.a_rs;
    let ra31 = bs.a + min(m0 + 31u, p.m - 1u) * p.a_rs;
    let cb0 = b_cols(bs.b, n0 + 0u);
    let cb1 = b_cols(bs.b, n0 + 4u);
    let cb2 = b_cols(bs.b, n0 + 8u);
    let cb3 = b_cols(bs.b, n0 + 12u);
    var c0_0 = vec4<f32>(0.0);
    var c0_1 = vec4<f32>(0.0);
    var c0_2 = vec4<f32>(0.0);
    var c0_3 = vec4<f32>(0.0);
    var c1_0 = vec4<f32>(0.0);
    var c1_1 = vec4<f32>(0.0);
    var c1_2 = vec4<f32>(0.0);
    var c1_3 = vec4<f32>(0.0);
    var c2_0 = vec4<f32>(0.0);
    var c2_1 = vec4<f32>(0.0);
    var c2_2 = vec4<f32>(0.0);
    var c2_3 = vec4<f32>(0.0);
    var c3_0 = vec4<f32>(0.0);
    var c3_1 = vec4<f32>(0.0);
    var c3_2 = vec4<f32>(0.0);
    var c3_3 = vec4<f32>(0.0);
    var c4_0 = vec4<f32>(0.0);
    var c4_1 = vec4<f32>(0.0);
    var c4_2 = vec4<f32>(0.0);
    var c4_3 = vec4<f32>(0.0);
    var c5_0 = vec4<f32>(0.0);
    var c5_1 = vec4<f32>(0.0);
    var c5_2 = vec4<f32>(0.0);
    var c5_3 = vec4<f32>(0.0);
    var c6_0 = vec4<f32>(0.0);
    var c6_1 = vec4<f32>(0.0);
    var c6_2 = vec4<f32>(0.0);
    var c6_3 = vec4<f32>(0.0);
    var c7_0 = vec4<f32>(0.0);
    var c7_1 = vec4<f32>(0.0);
    var c7_2 = vec4<f32>(0.0);
    var c7_3 = vec4<f32>(0.0);
    var c8_0 = vec4<f32>(0.0);
    var c8_1 = vec4<f32>(0.0);
    var c8_2 = vec4<f32>(0.0);
    var c8_3 = vec4<f32>(0.0);
    var c9_0 = vec4<f32>(0.0);
    var c9_1 = vec4<f32>(0.0);
    var c9_2 = vec4<f32>(0.0);
    var c9_3 = vec4<f32>(0.0);
    var c10_0 = vec4<f32>(0.0);
    var c10_1 = vec4<f32>(0.0);
    var c10_2 = vec4<f32>(0.0);
    var c10_3 = vec4<f32>(0.0);
    var c11_0 = vec4<f32>(0.0);
    var c11_1 = vec4<f32>(0.0);
    var c11_2 = vec4<f32>(0.0);
    var c11_3 = vec4<f32>(0.0);
    var c12_0 = vec4<f32>(0.0);
    var c12_1 = vec4<f32>(0.0);
    var c12_2 = vec4<f32>(0.0);
    var c12_3 = vec4<f32>(0.0);
    var c13_0 = vec4<f32>(0.0);
    var c13_1 = vec4<f32>(0.0);
    var c13_2 = vec4<f32>(0.0);
    var c13_3 = vec4<f32>(0.0);
    var c14_0 = vec4<f32>(0.0);
    var c14_1 = vec4<f32>(0.0);
    var c14_2 = vec4<f32>(0.0);
    var c14_3 = vec4<f32>(0.0);
    var c15_0 = vec4<f32>(0.0);
    var c15_1 = vec4<f32>(0.0);
    var c15_2 = vec4<f32>(0.0);
    var c15_3 = vec4<f32>(0.0);
    var c16_0 = vec4<f32>(0.0);
    var c16_1 = vec4<f32>(0.0);
    var c16_2 = vec4<f32>(0.0);
    var c16_3 = vec4<f32>(0.0);
    var c17_0 = vec4<f32>(0.0);
    var c17_1 = vec4<f32>(0.0);
    var c17_2 = vec4<f32>(0.0);
    var c17_3 = vec4<f32>(0.0);
    var c18_0 = vec4<f32>(0.0);
    var c18_1 = vec4<f32>(0.0);
    var c18_2 = vec4<f32>(0.0);
    var c18_3 = vec4<f32>(0.0);
    var c19_0 = vec4<f32>(0.0);
    var c19_1 = vec4<f32>(0.0);
    var c19_2 = vec4<f32>(0.0);
    var c19_3 = vec4<f32>(0.0);
    var c20_0 = vec4<f32>(0.0);
    var c20_1 = vec4<f32>(0.0);
    var c20_2 = vec4<f32>(0.0);
    var c20_3 = vec4<f32>(0.0);
    var c21_0 = vec4<f32>(0.0);
    var c21_1 = vec4<f32>(0.0);
    var c21_2 = vec4<f32>(0.0);
    var c21_3 = vec4<f32>(0.0);
    var c22_0 = vec4<f32>(0.0);
    var c22_1 = vec4<f32>(0.0);
    var c22_2 = vec4<f32>(0.0);
    var c22_3 = vec4<f32>(0.0);
    var c23_0 = vec4<f32>(0.0);
    var c23_1 = vec4<f32>(0.0);
    var c23_2 = vec4<f32>(0.0);
    var c23_3 = vec4<f32>(0.0);
    var c24_0 = vec4<f32>(0.0);
    var c24_1 = vec4<f32>(0.0);
    var c24_2 = vec4<f32>(0.0);
    var c24_3 = vec4<f32>(0.0);
    var c25_0 = vec4<f32>(0.0);
    var c25_1 = vec4<f32>(0.0);
    var c25_2 = vec4<f32>(0.0);
    var c25_3 = vec4<f32>(0.0);
    var c26_0 = vec4<f32>(0.0);
    var c26_1 = vec4<f32>(0.0);
    var c26_2 = vec4<f32>(0.0);
    var c26_3 = vec4<f32>(0.0);
    var c27_0 = vec4<f32>(0.0);
    var c27_1 = vec4<f32>(0.0);
    var c27_2 = vec4<f32>(0.0);
    var c27_3 = vec4<f32>(0.0);
    var c28_0 = vec4<f32>(0.0);
    var c28_1 = vec4<f32>(0.0);
    var c28_2 = vec4<f32>(0.0);
    var c28_3 = vec4<f32>(0.0);
    var c29_0 = vec4<f32>(0.0);
    var c29_1 = vec4<f32>(0.0);
    var c29_2 = vec4<f32>(0.0);
    var c29_3 = vec4<f32>(0.0);
    var c30_0 = vec4<f32>(0.0);
    var c30_1 = vec4<f32>(0.0);
    var c30_2 = vec4<f32>(0.0);
    var c30_3 = vec4<f32>(0.0);
    var c31_0 = vec4<f32>(0.0);
    var c31_1 = vec4<f32>(0.0);
    var c31_2 = vec4<f32>(0.0);
    var c31_3 = vec4<f32>(0.0);
    var k = 0u;
    let k4 = p.k & ~3u;
    for (; k < k4; k += 4u) {
        let a0 = load_a4(ra0, k);
        let a1 = load_a4(ra1, k);
        let a2 = load_a4(ra2, k);
        let a3 = load_a4(ra3, k);
        let a4 = load_a4(ra4, k);
        let a5 = load_a4(ra5, k);
        let a6 = load_a4(ra6, k);
        let a7 = load_a4(ra7, k);
        let a8 = load_a4(ra8, k);
        let a9 = load_a4(ra9, k);
        let a10 = load_a4(ra10, k);
        let a11 = load_a4(ra11, k);
        let a12 = load_a4(ra12, k);
        let a13 = load_a4(ra13, k);
        let a14 = load_a4(ra14, k);
        let a15 = load_a4(ra15, k);
        let a16 = load_a4(ra16, k);
        let a17 = load_a4(ra17, k);
        let a18 = load_a4(ra18, k);
        let a19 = load_a4(ra19, k);
        let a20 = load_a4(ra20, k);
        let a21 = load_a4(ra21, k);
        let a22 = load_a4(ra22, k);
        let a23 = load_a4(ra23, k);
        let a24 = load_a4(ra24, k);
        let a25 = load_a4(ra25, k);
        let a26 = load_a4(ra26, k);
        let a27 = load_a4(ra27, k);
        let a28 = load_a4(ra28, k);
        let a29 = load_a4(ra29, k);
        let a30 = load_a4(ra30, k);
        let a31 = load_a4(ra31, k);
        let b0 = load_b4x4(cb0, k);
        let b1 = load_b4x4(cb1, k);
        let b2 = load_b4x4(cb2, k);
        let b3 = load_b4x4(cb3, k);
        c0_0 = fma(vec4<f32>(a0.w), b0[3], fma(vec4<f32>(a0.z), b0[2], fma(vec4<f32>(a0.y), b0[1], fma(vec4<f32>(a0.x), b0[0], c0_0))));
        c0_1 = fma(vec4<f32>(a0.w), b1[3], fma(vec4<f32>(a0.z), b1[2], fma(vec4<f32>(a0.y), b1[1], fma(vec4<f32>(a0.x), b1[0], c0_1))));
        c0_2 = fma(vec4<f32>(a0.w), b2[3], fma(vec4<f32>(a0.z), b2[2], fma(vec4<f32>(a0.y), b2[1], fma(vec4<f32>(a0.x), b2[0], c0_2))));
        c0_3 = fma(vec4<f32>(a0.w), b3[3], fma(vec4<f32>(a0.z), b3[2], fma(vec4<f32>(a0.y), b3[1], fma(vec4<f32>(a0.x), b3[0], c0_3))));
        c1_0 = fma(vec4<f32>(a1.w), b0[3], fma(vec4<f32>(a1.z), b0[2], fma(vec4<f32>(a1.y), b0[1], fma(vec4<f32>(a1.x), b0[0], c1_0))));
        c1_1 = fma(vec4<f32>(a1.w), b1[3], fma(vec4<f32>(a1.z), b1[2], fma(vec4<f32>(a1.y), b1[1], fma(vec4<f32>(a1.x), b1[0], c1_1))));
        c1_2 = fma(vec4<f32>(a1.w), b2[3], fma(vec4<f32>(a1.z), b2[2], fma(vec4<f32>(a1.y), b2[1], fma(vec4<f32>(a1.x), b2[0], c1_2))));
        c1_3 = fma(vec4<f32>(a1.w), b3[3], fma(vec4<f32>(a1.z), b3[2], fma(vec4<f32>(a1.y), b3[1], fma(vec4<f32>(a1.x), b3[0], c1_3))));
        c2_0 = fma(vec4<f32>(a2.w), b0[3], fma(vec4<f32>(a2.z), b0[2], fma(vec4<f32>(a2.y), b0[1], fma(vec4<f32>(a2.x), b0[0], c2_0))));
        c2_1 = fma(vec4<f32>(a2.w), b1[3], fma(vec4<f32>(a2.z), b1[2], fma(vec4<f32>(a2.y), b1[1], fma(vec4<f32>(a2.x), b1[0], c2_1))));
        c2_2 = fma(vec4<f32>(a2.w), b2[3], fma(vec4<f32>(a2.z), b2[2], fma(vec4<f32>(a2.y), b2[1], fma(vec4<f32>(a2.x), b2[0], c2_2))));
        c2_3 = fma(vec4<f32>(a2.w), b3[3], fma(vec4<f32>(a2.z), b3[2], fma(vec4<f32>(a2.y), b3[1], fma(vec4<f32>(a2.x), b3[0], c2_3))));
        c3_0 = fma(vec4<f32>(a3.w), b0[3], fma(vec4<f32>(a3.z), b0[2], fma(vec4<f32>(a3.y), b0[1], fma(vec4<f32>(a3.x), b0[0], c3_0))));
        c3_1 = fma(vec4<f32>(a3.w), b1[3], fma(vec4<f32>(a3.z), b1[2], fma(vec4<f32>(a3.y), b1[1], fma(vec4<f32>(a3.x), b1[0], c3_1))));
        c3_2 = fma(vec4<f32>(a3.w), b2[3], fma(vec4<f32>(a3.z), b2[2], fma(vec4<f32>(a3.y), b2[1], fma(vec4<f32>(a3.x), b2[0], c3_2))));
        c3_3 = fma(vec4<f32>(a3.w), b3[3], fma(vec4<f32>(a3.z), b3[2], fma(vec4<f32>(a3.y), b3[1], fma(vec4<f32>(a3.x), b3[0], c3_3))));
        c4_0 = fma(vec4<f32>(a4.w), b0[3], fma(vec4<f32>(a4.z), b0[2], fma(vec4<f32>(a4.y), b0[1], fma(vec4<f32>(a4.x), b0[0], c4_0))));
        c4_1 = fma(vec4<f32>(a4.w), b1[3], fma(vec4<f32>(a4.z), b1[2], fma(vec4<f32>(a4.y), b1[1], fma(vec4<f32>(a4.x), b1[0], c4_1))));
        c4_2 = fma(vec4<f32>(a4.w), b2[3], fma(vec4<f32>(a4.z), b2[2], fma(vec4<f32>(a4.y), b2[1], fma(vec4<f32>(a4.x), b2[0], c4_2))));
        c4_3 = fma(vec4<f32>(a4.w), b3[3], fma(vec4<f32>(a4.z), b3[2], fma(vec4<f32>(a4.y), b3[1], fma(vec4<f32>(a4.x), b3[0], c4_3))));
        c5_0 = fma(vec4<f32>(a5.w), b0[3], fma(vec4<f32>(a5.z), b0[2], fma(vec4<f32>(a5.y), b0[1], fma(vec4<f32>(a5.x), b0[0], c5_0))));
        c5_1 = fma(vec4<f32>(a5.w), b1[3], fma(vec4<f32>(a5.z), b1[2], fma(vec4<f32>(a5.y), b1[1], fma(vec4<f32>(a5.x), b1[0], c5_1))));
        c5_2 = fma(vec4<f32>(a5.w), b2[3], fma(vec4<f32>(a5.z), b2[2], fma(vec4<f32>(a5.y), b2[1], fma(vec4<f32>(a5.x), b2[0], c5_2))));
        c5_3 = fma(vec4<f32>(a5.w), b3[3], fma(vec4<f32>(a5.z), b3[2], fma(vec4<f32>(a5.y), b3[1], fma(vec4<f32>(a5.x), b3[0], c5_3))));
        c6_0 = fma(vec4<f32>(a6.w), b0[3], fma(vec4<f32>(a6.z), b0[2], fma(vec4<f32>(a6.y), b0[1], fma(vec4<f32>(a6.x), b0[0], c6_0))));
        c6_1 = fma(vec4<f32>(a6.w), b1[3], fma(vec4<f32>(a6.z), b1[2], fma(vec4<f32>(a6.y), b1[1], fma(vec4<f32>(a6.x), b1[0], c6_1))));
        c6_2 = fma(vec4<f32>(a6.w), b2[3], fma(vec4<f32>(a6.z), b2[2], fma(vec4<f32>(a6.y), b2[1], fma(vec4<f32>(a6.x), b2[0], c6_2))));
        c6_3 = fma(vec4<f32>(a6.w), b3[3], fma(vec4<f32>(a6.z), b3[2], fma(vec4<f32>(a6.y), b3[1], fma(vec4<f32>(a6.x), b3[0], c6_3))));
        c7_0 = fma(vec4<f32>(a7.w), b0[3], fma(vec4<f32>(a7.z), b0[2], fma(vec4<f32>(a7.y), b0[1], fma(vec4<f32>(a7.x), b0[0], c7_0))));
        c7_1 = fma(vec4<f32>(a7.w), b1[3], fma(vec4<f32>(a7.z), b1[2], fma(vec4<f32>(a7.y), b1[1], fma(vec4<f32>(a7.x), b1[0], c7_1))));
        c7_2 = fma(vec4<f32>(a7.w), b2[3], fma(vec4<f32>(a7.z), b2[2], fma(vec4<f32>(a7.y), b2[1], fma(vec4<f32>(a7.x), b2[0], c7_2))));
        c7_3 = fma(vec4<f32>(a7.w), b3[3], fma(vec4<f32>(a7.z), b3[2], fma(vec4<f32>(a7.y), b3[1], fma(vec4<f32>(a7.x), b3[0], c7_3))));
        c8_0 = fma(vec4<f32>(a8.w), b0[3], fma(vec4<f32>(a8.z), b0[2], fma(vec4<f32>(a8.y), b0[1], fma(vec4<f32>(a8.x), b0[0], c8_0))));
        c8_1 = fma(vec4<f32>(a8.w), b1[3], fma(vec4<f32>(a8.z), b1[2], fma(vec4<f32>(a8.y), b1[1], fma(vec4<f32>(a8.x), b1[0], c8_1))));
        c8_2 = fma(vec4<f32>(a8.w), b2[3], fma(vec4<f32>(a8.z), b2[2], fma(vec4<f32>(a8.y), b2[1], fma(vec4<f32>(a8.x), b2[0], c8_2))));
        c8_3 = fma(vec4<f32>(a8.w), b3[3], fma(vec4<f32>(a8.z), b3[2], fma(vec4<f32>(a8.y), b3[1], fma(vec4<f32>(a8.x), b3[0], c8_3))));
        c9_0 = fma(vec4<f32>(a9.w), b0[3], fma(vec4<f32>(a9.z), b0[2], fma(vec4<f32>(a9.y), b0[1], fma(vec4<f32>(a9.x), b0[0], c9_0))));
        c9_1 = fma(vec4<f32>(a9.w), b1[3], fma(vec4<f32>(a9.z), b1[2], fma(vec4<f32>(a9.y), b1[1], fma(vec4<f32>(a9.x), b1[0], c9_1))));
        c9_2 = fma(vec4<f32>(a9.w), b2[3], fma(vec4<f32>(a9.z), b2[2], fma(vec4<f32>(a9.y), b2[1], fma(vec4<f32>(a9.x), b2[0], c9_2))));
        c9_3 = fma(vec4<f32>(a9.w), b3[3], fma(vec4<f32>(a9.z), b3[2], fma(vec4<f32>(a9.y), b3[1], fma(vec4<f32>(a9.x), b3[0], c9_3))));
        c10_0 = fma(vec4<f32>(a10.w), b0[3], fma(vec4<f32>(a10.z), b0[2], fma(vec4<f32>(a10.y), b0[1], fma(vec4<f32>(a10.x), b0[0], c10_0))));
        c10_1 = fma(vec4<f32>(a10.w), b1[3], fma(vec4<f32>(a10.z), b1[2], fma(vec4<f32>(a10.y), b1[1], fma(vec4<f32>(a10.x), b1[0], c10_1))));
        c10_2 = fma(vec4<f32>(a10.w), b2[3], fma(vec4<f32>(a10.z), b2[2], fma(vec4<f32>(a10.y), b2[1], fma(vec4<f32>(a10.x), b2[0], c10_2))));
        c10_3 = fma(vec4<f32>(a10.w), b3[3], fma(vec4<f32>(a10.z), b3[2], fma(vec4<f32>(a10.y), b3[1], fma(vec4<f32>(a10.x), b3[0], c10_3))));
        c11_0 = fma(vec4<f32>(a11.w), b0[3], fma(vec4<f32>(a11.z), b0[2], fma(vec4<f32>(a11.y), b0[1], fma(vec4<f32>(a11.x), b0[0], c11_0))));
        c11_1 = fma(vec4<f32>(a11.w), b1[3], fma(vec4<f32>(a11.z), b1[2], fma(vec4<f32>(a11.y), b1[1], fma(vec4<f32>(a11.x), b1[0], c11_1))));
        c11_2 = fma(vec4<f32>(a11.w), b2[3], fma(vec4<f32>(a11.z), b2[2], fma(vec4<f32>(a11.y), b2[1], fma(vec4<f32>(a11.x), b2[0], c11_2))));
        c11_3 = fma(vec4<f32>(a11.w), b3[3], fma(vec4<f32>(a11.z), b3[2], fma(vec4<f32>(a11.y), b3[1], fma(vec4<f32>(a11.x), b3[0], c11_3))));
        c12_0 = fma(vec4<f32>(a12.w), b0[3], fma(vec4<f32>(a12.z), b0[2], fma(vec4<f32>(a12.y), b0[1], fma(vec4<f32>(a12.x), b0[0], c12_0))));
        c12_1 = fma(vec4<f32>(a12.w), b1[3], fma(vec4<f32>(a12.z), b1[2], fma(vec4<f32>(a12.y), b1[1], fma(vec4<f32>(a12.x), b1[0], c12_1))));
        c12_2 = fma(vec4<f32>(a12.w), b2[3], fma(vec4<f32>(a12.z), b2[2], fma(vec4<f32>(a12.y), b2[1], fma(vec4<f32>(a12.x), b2[0], c12_2))));
        c12_3 = fma(vec4<f32>(a12.w), b3[3], fma(vec4<f32>(a12.z), b3[2], fma(vec4<f32>(a12.y), b3[1], fma(vec4<f32>(a12.x), b3[0], c12_3))));
        c13_0 = fma(vec4<f32>(a13.w), b0[3], fma(vec4<f32>(a13.z), b0[2], fma(vec4<f32>(a13.y), b0[1], fma(vec4<f32>(a13.x), b0[0], c13_0))));
        c13_1 = fma(vec4<f32>(a13.w), b1[3], fma(vec4<f32>(a13.z), b1[2], fma(vec4<f32>(a13.y), b1[1], fma(vec4<f32>(a13.x), b1[0], c13_1))));
        c13_2 = fma(vec4<f32>(a13.w), b2[3], fma(vec4<f32>(a13.z), b2[2], fma(vec4<f32>(a13.y), b2[1], fma(vec4<f32>(a13.x), b2[0], c13_2))));
        c13_3 = fma(vec4<f32>(a13.w), b3[3], fma(vec4<f32>(a13.z), b3[2], fma(vec4<f32>(a13.y), b3[1], fma(vec4<f32>(a13.x), b3[0], c13_3))));
        c14_0 = fma(vec4<f32>(a14.w), b0[3], fma(vec4<f32>(a14.z), b0[2], fma(vec4<f32>(a14.y), b0[1], fma(vec4<f32>(a14.x), b0[0], c14_0))));
        c14_1 = fma(vec4<f32>(a14.w), b1[3], fma(vec4<f32>(a14.z), b1[2], fma(vec4<f32>(a14.y), b1[1], fma(vec4<f32>(a14.x), b1[0], c14_1))));
        c14_2 = fma(vec4<f32>(a14.w), b2[3], fma(vec4<f32>(a14.z), b2[2], fma(vec4<f32>(a14.y), b2[1], fma(vec4<f32>(a14.x), b2[0], c14_2))));
        c14_3 = fma(vec4<f32>(a14.w), b3[3], fma(vec4<f32>(a14.z), b3[2], fma(vec4<f32>(a14.y), b3[1], fma(vec4<f32>(a14.x), b3[0], c14_3))));
        c15_0 = fma(vec4<f32>(a15.w), b0[3], fma(vec4<f32>(a15.z), b0[2], fma(vec4<f32>(a15.y), b0[1], fma(vec4<f32>(a15.x), b0[0], c15_0))));
        c15_1 = fma(vec4<f32>(a15.w), b1[3], fma(vec4<f32>(a15.z), b1[2], fma(vec4<f32>(a15.y), b1[1], fma(vec4<f32>(a15.x), b1[0], c15_1))));
        c15_2 = fma(vec4<f32>(a15.w), b2[3], fma(vec4<f32>(a15.z), b2[2], fma(vec4<f32>(a15.y), b2[1], fma(vec4<f32>(a15.x), b2[0], c15_2))));
        c15_3 = fma(vec4<f32>(a15.w), b3[3], fma(vec4<f32>(a15.z), b3[2], fma(vec4<f32>(a15.y), b3[1], fma(vec4<f32>(a15.x), b3[0], c15_3))));
        c16_0 = fma(vec4<f32>(a16.w), b0[3], fma(vec4<f32>(a16.z), b0[2], fma(vec4<f32>(a16.y), b0[1], fma(vec4<f32>(a16.x), b0[0], c16_0))));
        c16_1 = fma(vec4<f32>(a16.w), b1[3], fma(vec4<f32>(a16.z), b1[2], fma(vec4<f32>(a16.y), b1[1], fma(vec4<f32>(a16.x), b1[0], c16_1))));
        c16_2 = fma(vec4<f32>(a16.w), b2[3], fma(vec4<f32>(a16.z), b2[2], fma(vec4<f32>(a16.y), b2[1], fma(vec4<f32>(a16.x), b2[0], c16_2))));
        c16_3 = fma(vec4<f32>(a16.w), b3[3], fma(vec4<f32>(a16.z), b3[2], fma(vec4<f32>(a16.y), b3[1], fma(vec4<f32>(a16.x), b3[0], c16_3))));
        c17_0 = fma(vec4<f32>(a17.w), b0[3], fma(vec4<f32>(a17.z), b0[2], fma(vec4<f32>(a17.y), b0[1], fma(vec4<f32>(a17.x), b0[0], c17_0))));
        c17_1 = fma(vec4<f32>(a17.w), b1[3], fma(vec4<f32>(a17.z), b1[2], fma(vec4<f32>(a17.y), b1[1], fma(vec4<f32>(a17.x), b1[0], c17_1))));
        c17_2 = fma(vec4<f32>(a17.w), b2[3], fma(vec4<f32>(a17.z), b2[2], fma(vec4<f32>(a17.y), b2[1], fma(vec4<f32>(a17.x), b2[0], c17_2))));
        c17_3 = fma(vec4<f32>(a17.w), b3[3], fma(vec4<f32>(a17.z), b3[2], fma(vec4<f32>(a17.y), b3[1], fma(vec4<f32>(a17.x), b3[0], c17_3))));
        c18_0 = fma(vec4<f32>(a18.w), b0[3], fma(vec4<f32>(a18.z), b0[2], fma(vec4<f32>(a18.y), b0[1], fma(vec4<f32>(a18.x), b0[0], c18_0))));
        c18_1 = fma(vec4<f32>(a18.w), b1[3], fma(vec4<f32>(a18.z), b1[2], fma(vec4<f32>(a18.y), b1[1], fma(vec4<f32>(a18.x), b1[0], c18_1))));
        c18_2 = fma(vec4<f32>(a18.w), b2[3], fma(vec4<f32>(a18.z), b2[2], fma(vec4<f32>(a18.y), b2[1], fma(vec4<f32>(a18.x), b2[0], c18_2))));
        c18_3 = fma(vec4<f32>(a18.w), b3[3], fma(vec4<f32>(a18.z), b3[2], fma(vec4<f32>(a18.y), b3[1], fma(vec4<f32>(a18.x), b3[0], c18_3))));
        c19_0 = fma(vec4<f32>(a19.w), b0[3], fma(vec4<f32>(a19.z), b0[2], fma(vec4<f32>(a19.y), b0[1], fma(vec4<f32>(a19.x), b0[0], c19_0))));
        c19_1 = fma(vec4<f32>(a19.w), b1[3], fma(vec4<f32>(a19.z), b1[2], fma(vec4<f32>(a19.y), b1[1], fma(vec4<f32>(a19.x), b1[0], c19_1))));
        c19_2 = fma(vec4<f32>(a19.w), b2[3], fma(vec4<f32>(a19.z), b2[2], fma(vec4<f32>(a19.y), b2[1], fma(vec4<f32>(a19.x), b2[0], c19_2))));
        c19_3 = fma(vec4<f32>(a19.w), b3[3], fma(vec4<f32>(a19.z), b3[2], fma(vec4<f32>(a19.y), b3[1], fma(vec4<f32>(a19.x), b3[0], c19_3))));
        c20_0 = fma(vec4<f32>(a20.w), b0[3], fma(vec4<f32>(a20.z), b0[2], fma(vec4<f32>(a20.y), b0[1], fma(vec4<f32>(a20.x), b0[0], c20_0))));
        c20_1 = fma(vec4<f32>(a20.w), b1[3], fma(vec4<f32>(a20.z), b1[2], fma(vec4<f32>(a20.y), b1[1], fma(vec4<f32>(a20.x), b1[0], c20_1))));
        c20_2 = fma(vec4<f32>(a20.w), b2[3], fma(vec4<f32>(a20.z), b2[2], fma(vec4<f32>(a20.y), b2[1], fma(vec4<f32>(a20.x), b2[0], c20_2))));
        c20_3 = fma(vec4<f32>(a20.w), b3[3], fma(vec4<f32>(a20.z), b3[2], fma(vec4<f32>(a20.y), b3[1], fma(vec4<f32>(a20.x), b3[0], c20_3))));
        c21_0 = fma(vec4<f32>(a21.w), b0[3], fma(vec4<f32>(a21.z), b0[2], fma(vec4<f32>(a21.y), b0[1], fma(vec4<f32>(a21.x), b0[0], c21_0))));
        c21_1 = fma(vec4<f32>(a21.w), b1[3], fma(vec4<f32>(a21.z), b1[2], fma(vec4<f32>(a21.y), b1[1], fma(vec4<f32>(a21.x), b1[0], c21_1))));
        c21_2 = fma(vec4<f32>(a21.w), b2[3], fma(vec4<f32>(a21.z), b2[2], fma(vec4<f32>(a21.y), b2[1], fma(vec4<f32>(a21.x), b2[0], c21_2))));
        c21_3 = fma(vec4<f32>(a21.w), b3[3], fma(vec4<f32>(a21.z), b3[2], fma(vec4<f32>(a21.y), b3[1], fma(vec4<f32>(a21.x), b3[0], c21_3))));
        c22_0 = fma(vec4<f32>(a22.w), b0[3], fma(vec4<f32>(a22.z), b0[2], fma(vec4<f32>(a22.y), b0[1], fma(vec4<f32>(a22.x), b0[0], c22_0))));
        c22_1 = fma(vec4<f32>(a22.w), b1[3], fma(vec4<f32>(a22.z), b1[2], fma(vec4<f32>(a22.y), b1[1], fma(vec4<f32>(a22.x), b1[0], c22_1))));
        c22_2 = fma(vec4<f32>(a22.w), b2[3], fma(vec4<f32>(a22.z), b2[2], fma(vec4<f32>(a22.y), b2[1], fma(vec4<f32>(a22.x), b2[0], c22_2))));
        c22_3 = fma(vec4<f32>(a22.w), b3[3], fma(vec4<f32>(a22.z), b3[2], fma(vec4<f32>(a22.y), b3[1], fma(vec4<f32>(a22.x), b3[0], c22_3))));
        c23_0 = fma(vec4<f32>(a23.w), b0[3], fma(vec4<f32>(a23.z), b0[2], fma(vec4<f32>(a23.y), b0[1], fma(vec4<f32>(a23.x), b0[0], c23_0))));
        c23_1 = fma(vec4<f32>(a23.w), b1[3], fma(vec4<f32>(a23.z), b1[2], fma(vec4<f32>(a23.y), b1[1], fma(vec4<f32>(a23.x), b1[0], c23_1))));
        c23_2 = fma(vec4<f32>(a23.w), b2[3], fma(vec4<f32>(a23.z), b2[2], fma(vec4<f32>(a23.y), b2[1], fma(vec4<f32>(a23.x), b2[0], c23_2))));
        c23_3 = fma(vec4<f32>(a23.w), b3[3], fma(vec4<f32>(a23.z), b3[2], fma(vec4<f32>(a23.y), b3[1], fma(vec4<f32>(a23.x), b3[0], c23_3))));
        c24_0 = fma(vec4<f32>(a24.w), b0[3], fma(vec4<f32>(a24.z), b0[2], fma(vec4<f32>(a24.y), b0[1], fma(vec4<f32>(a24.x), b0[0], c24_0))));
        c24_1 = fma(vec4<f32>(a24.w), b1[3], fma(vec4<f32>(a24.z), b1[2], fma(vec4<f32>(a24.y), b1[1], fma(vec4<f32>(a24.x), b1[0], c24_1))));
        c24_2 = fma(vec4<f32>(a24.w), b2[3], fma(vec4<f32>(a24.z), b2[2], fma(vec4<f32>(a24.y), b2[1], fma(vec4<f32>(a24.x), b2[0], c24_2))));
        c24_3 = fma(vec4<f32>(a24.w), b3[3], fma(vec4<f32>(a24.z), b3[2], fma(vec4<f32>(a24.y), b3[1], fma(vec4<f32>(a24.x), b3[0], c24_3))));
        c25_0 = fma(vec4<f32>(a25.w), b0[3], fma(vec4<f32>(a25.z), b0[2], fma(vec4<f32>(a25.y), b0[1], fma(vec4<f32>(a25.x), b0[0], c25_0))));
        c25_1 = fma(vec4<f32>(a25.w), b1[3], fma(vec4<f32>(a25.z), b1[2], fma(vec4<f32>(a25.y), b1[1], fma(vec4<f32>(a25.x), b1[0], c25_1))));
        c25_2 = fma(vec4<f32>(a25.w), b2[3], fma(vec4<f32>(a25.z), b2[2], fma(vec4<f32>(a25.y), b2[1], fma(vec4<f32>(a25.x), b2[0], c25_2))));
        c25_3 = fma(vec4<f32>(a25.w), b3[3], fma(vec4<f32>(a25.z), b3[2], fma(vec4<f32>(a25.y), b3[1], fma(vec4<f32>(a25.x), b3[0], c25_3))));
        c26_0 = fma(vec4<f32>(a26.w), b0[3], fma(vec4<f32>(a26.z), b0[2], fma(vec4<f32>(a26.y), b0[1], fma(vec4<f32>(a26.x), b0[0], c26_0))));
        c26_1 = fma(vec4<f32>(a26.w), b1[3], fma(vec4<f32>(a26.z), b1[2], fma(vec4<f32>(a26.y), b1[1], fma(vec4<f32>(a26.x), b1[0], c26_1))));
        c26_2 = fma(vec4<f32>(a26.w), b2[3], fma(vec4<f32>(a26.z), b2[2], fma(vec4<f32>(a26.y), b2[1], fma(vec4<f32>(a26.x), b2[0], c26_2))));
        c26_3 = fma(vec4<f32>(a26.w), b3[3], fma(vec4<f32>(a26.z), b3[2], fma(vec4<f32>(a26.y), b3[1], fma(vec4<f32>(a26.x), b3[0], c26_3))));
        c27_0 = fma(vec4<f32>(a27.w), b0[3], fma(vec4<f32>(a27.z), b0[2], fma(vec4<f32>(a27.y), b0[1], fma(vec4<f32>(a27.x), b0[0], c27_0))));
        c27_1 = fma(vec4<f32>(a27.w), b1[3], fma(vec4<f32>(a27.z), b1[2], fma(vec4<f32>(a27.y), b1[1], fma(vec4<f32>(a27.x), b1[0], c27_1))));
        c27_2 = fma(vec4<f32>(a27.w), b2[3], fma(vec4<f32>(a27.z), b2[2], fma(vec4<f32>(a27.y), b2[1], fma(vec4<f32>(a27.x), b2[0], c27_2))));
        c27_3 = fma(vec4<f32>(a27.w), b3[3], fma(vec4<f32>(a27.z), b3[2], fma(vec4<f32>(a27.y), b3[1], fma(vec4<f32>(a27.x), b3[0], c27_3))));
        c28_0 = fma(vec4<f32>(a28.w), b0[3], fma(vec4<f32>(a28.z), b0[2], fma(vec4<f32>(a28.y), b0[1], fma(vec4<f32>(a28.x), b0[0], c28_0))));
        c28_1 = fma(vec4<f32>(a28.w), b1[3], fma(vec4<f32>(a28.z), b1[2], fma(vec4<f32>(a28.y), b1[1], fma(vec4<f32>(a28.x), b1[0], c28_1))));
        c28_2 = fma(vec4<f32>(a28.w), b2[3], fma(vec4<f32>(a28.z), b2[2], fma(vec4<f32>(a28.y), b2[1], fma(vec4<f32>(a28.x), b2[0], c28_2))));
        c28_3 = fma(vec4<f32>(a28.w), b3[3], fma(vec4<f32>(a28.z), b3[2], fma(vec4<f32>(a28.y), b3[1], fma(vec4<f32>(a28.x), b3[0], c28_3))));
        c29_0 = fma(vec4<f32>(a29.w), b0[3], fma(vec4<f32>(a29.z), b0[2], fma(vec4<f32>(a29.y), b0[1], fma(vec4<f32>(a29.x), b0[0], c29_0))));
        c29_1 = fma(vec4<f32>(a29.w), b1[3], fma(vec4<f32>(a29.z), b1[2], fma(vec4<f32>(a29.y), b1[1], fma(vec4<f32>(a29.x), b1[0], c29_1))));
        c29_2 = fma(vec4<f32>(a29.w), b2[3], fma(vec4<f32>(a29.z), b2[2], fma(vec4<f32>(a29.y), b2[1], fma(vec4<f32>(a29.x), b2[0], c29_2))));
        c29_3 = fma(vec4<f32>(a29.w), b3[3], fma(vec4<f32>(a29.z), b3[2], fma(vec4<f32>(a29.y), b3[1], fma(vec4<f32>(a29.x), b3[0], c29_3))));
        c30_0 = fma(vec4<f32>(a30.w), b0[3], fma(vec4<f32>(a30.z), b0[2], fma(vec4<f32>(a30.y), b0[1], fma(vec4<f32>(a30.x), b0[0], c30_0))));
        c30_1 = fma(vec4<f32>(a30.w), b1[3], fma(vec4<f32>(a30.z), b1[2], fma(vec4<f32>(a30.y), b1[1], fma(vec4<f32>(a30.x), b1[0], c30_1))));
        c30_2 = fma(vec4<f32>(a30.w), b2[3], fma(vec4<f32>(a30.z), b2[2], fma(vec4<f32>(a30.y), b2[1], fma(vec4<f32>(a30.x), b2[0], c30_2))));
        c30_3 = fma(vec4<f32>(a30.w), b3[3], fma(vec4<f32>(a30.z), b3[2], fma(vec4<f32>(a30.y), b3[1], fma(vec4<f32>(a30.x), b3[0], c30_3))));
        c31_0 = fma(vec4<f32>(a31.w), b0[3], fma(vec4<f32>(a31.z), b0[2], fma(vec4<f32>(a31.y), b0[1], fma(vec4<f32>(a31.x), b0[0], c31_0))));
        c31_1 = fma(vec4<f32>(a31.w), b1[3], fma(vec4<f32>(a31.z), b1[2], fma(vec4<f32>(a31.y), b1[1], fma(vec4<f32>(a31.x), b1[0], c31_1))));
        c31_2 = fma(vec4<f32>(a31.w), b2[3], fma(vec4<f32>(a31.z), b2[2], fma(vec4<f32>(a31.y), b2[1], fma(vec4<f32>(a31.x), b2[0], c31_2))));
        c31_3 = fma(vec4<f32>(a31.w), b3[3], fma(vec4<f32>(a31.z), b3[2], fma(vec4<f32>(a31.y), b3[1], fma(vec4<f32>(a31.x), b3[0], c31_3))));
    }
    for (; k < p.k; k++) {
        let brow = k * p.b_rs;
        let acol = k * p.a_cs;
        let b0 = load_b4(cb0, brow);
        let b1 = load_b4(cb1, brow);
        let b2 = load_b4(cb2, brow);
        let b3 = load_b4(cb3, brow);
        let a0 = vec4<f32>(lda(ra0 + acol));
        c0_0 = fma(a0, b0, c0_0);
        c0_1 = fma(a0, b1, c0_1);
        c0_2 = fma(a0, b2, c0_2);
        c0_3 = fma(a0, b3, c0_3);
        let a1 = vec4<f32>(lda(ra1 + acol));
        c1_0 = fma(a1, b0, c1_0);
        c1_1 = fma(a1, b1, c1_1);
        c1_2 = fma(a1, b2, c1_2);
        c1_3 = fma(a1, b3, c1_3);
        let a2 = vec4<f32>(lda(ra2 + acol));
        c2_0 = fma(a2, b0, c2_0);
        c2_1 = fma(a2, b1, c2_1);
        c2_2 = fma(a2, b2, c2_2);
        c2_3 = fma(a2, b3, c2_3);
        let a3 = vec4<f32>(lda(ra3 + acol));
        c3_0 = fma(a3, b0, c3_0);
        c3_1 = fma(a3, b1, c3_1);
        c3_2 = fma(a3, b2, c3_2);
        c3_3 = fma(a3, b3, c3_3);
        let a4 = vec4<f32>(lda(ra4 + acol));
        c4_0 = fma(a4, b0, c4_0);
        c4_1 = fma(a4, b1, c4_1);
        c4_2 = fma(a4, b2, c4_2);
        c4_3 = fma(a4, b3, c4_3);
        let a5 = vec4<f32>(lda(ra5 + acol));
        c5_0 = fma(a5, b0, c5_0);
        c5_1 = fma(a5, b1, c5_1);
        c5_2 = fma(a5, b2, c5_2);
        c5_3 = fma(a5, b3, c5_3);
        let a6 = vec4<f32>(lda(ra6 + acol));
        c6_0 = fma(a6, b0, c6_0);
        c6_1 = fma(a6, b1, c6_1);
        c6_2 = fma(a6, b2, c6_2);
        c6_3 = fma(a6, b3, c6_3);
        let a7 = vec4<f32>(lda(ra7 + acol));
        c7_0 = fma(a7, b0, c7_0);
        c7_1 = fma(a7, b1, c7_1);
        c7_2 = fma(a7, b2, c7_2);
        c7_3 = fma(a7, b3, c7_3);
        let a8 = vec4<f32>(lda(ra8 + acol));
        c8_0 = fma(a8, b0, c8_0);
        c8_1 = fma(a8, b1, c8_1);
        c8_2 = fma(a8, b2, c8_2);
        c8_3 = fma(a8, b3, c8_3);
        let a9 = vec4<f32>(lda(ra9 + acol));
        c9_0 = fma(a9, b0, c9_0);
        c9_1 = fma(a9, b1, c9_1);
        c9_2 = fma(a9, b2, c9_2);
        c9_3 = fma(a9, b3, c9_3);
        let a10 = vec4<f32>(lda(ra10 + acol));
        c10_0 = fma(a10, b0, c10_0);
        c10_1 = fma(a10, b1, c10_1);
        c10_2 = fma(a10, b2, c10_2);
        c10_3 = fma(a10, b3, c10_3);
        let a11 = vec4<f32>(lda(ra11 + acol));
        c11_0 = fma(a11, b0, c11_0);
        c11_1 = fma(a11, b1, c11_1);
        c11_2 = fma(a11, b2, c11_2);
        c11_3 = fma(a11, b3, c11_3);
        let a12 = vec4<f32>(lda(ra12 + acol));
        c12_0 = fma(a12, b0, c12_0);
        c12_1 = fma(a12, b1, c12_1);
        c12_2 = fma(a12, b2, c12_2);
        c12_3 = fma(a12, b3, c12_3);
        let a13 = vec4<f32>(lda(ra13 + acol));
        c13_0 = fma(a13, b0, c13_0);
        c13_1 = fma(a13, b1, c13_1);
        c13_2 = fma(a13, b2, c13_2);
        c13_3 = fma(a13, b3, c13_3);
        let a14 = vec4<f32>(lda(ra14 + acol));
        c14_0 = fma(a14, b0, c14_0);
        c14_1 = fma(a14, b1, c14_1);
        c14_2 = fma(a14, b2, c14_2);
        c14_3 = fma(a14, b3, c14_3);
        let a15 = vec4<f32>(lda(ra15 + acol));
        c15_0 = fma(a15, b0, c15_0);
        c15_1 = fma(a15, b1, c15_1);
        c15_2 = fma(a15, b2, c15_2);
        c15_3 = fma(a15, b3, c15_3);
        let a16 = vec4<f32>(lda(ra16 + acol));
        c16_0 = fma(a16, b0, c16_0);
        c16_1 = fma(a16, b1, c16_1);
        c16_2 = fma(a16, b2, c16_2);
        c16_3 = fma(a16, b3, c16_3);
        let a17 = vec4<f32>(lda(ra17 + acol));
        c17_0 = fma(a17, b0, c17_0);
        c17_1 = fma(a17, b1, c17_1);
        c17_2 = fma(a17, b2, c17_2);
        c17_3 = fma(a17, b3, c17_3);
        let a18 = vec4<f32>(lda(ra18 + acol));
        c18_0 = fma(a18, b0, c18_0);
        c18_1 = fma(a18, b1, c18_1);
        c18_2 = fma(a18, b2, c18_2);
        c18_3 = fma(a18, b3, c18_3);
        let a19 = vec4<f32>(lda(ra19 + acol));
        c19_0 = fma(a19, b0, c19_0);
        c19_1 = fma(a19, b1, c19_1);
        c19_2 = fma(a19, b2, c19_2);
        c19_3 = fma(a19, b3, c19_3);
        let a20 = vec4<f32>(lda(ra20 + acol));
        c20_0 = fma(a20, b0, c20_0);
        c20_1 = fma(a20, b1, c20_1);
        c20_2 = fma(a20, b2, c20_2);
        c20_3 = fma(a20, b3, c20_3);
        let a21 = vec4<f32>(lda(ra21 + acol));
        c21_0 = fma(a21, b0, c21_0);
        c21_1 = fma(a21, b1, c21_1);
        c21_2 = fma(a21, b2, c21_2);
        c21_3 = fma(a21, b3, c21_3);
        let a22 = vec4<f32>(lda(ra22 + acol));
        c22_0 = fma(a22, b0, c22_0);
        c22_1 = fma(a22, b1, c22_1);
        c22_2 = fma(a22, b2, c22_2);
        c22_3 = fma(a22, b3, c22_3);
        let a23 = vec4<f32>(lda(ra23 + acol));
        c23_0 = fma(a23, b0, c23_0);
        c23_1 = fma(a23, b1, c23_1);
        c23_2 = fma(a23, b2, c23_2);
        c23_3 = fma(a23, b3, c23_3);
        let a24 = vec4<f32>(lda(ra24 + acol));
        c24_0 = fma(a24, b0, c24_0);
        c24_1 = fma(a24, b1, c24_1);
        c24_2 = fma(a24, b2, c24_2);
        c24_3 = fma(a24, b3, c24_3);
        let a25 = vec4<f32>(lda(ra25 + acol));
        c25_0 = fma(a25, b0, c25_0);
        c25_1 = fma(a25, b1, c25_1);
        c25_2 = fma(a25, b2, c25_2);
        c25_3 = fma(a25, b3, c25_3);
        let a26 = vec4<f32>(lda(ra26 + acol));
        c26_0 = fma(a26, b0, c26_0);
        c26_1 = fma(a26, b1, c26_1);
        c26_2 = fma(a26, b2, c26_2);
        c26_3 = fma(a26, b3, c26_3);
        let a27 = vec4<f32>(lda(ra27 + acol));
        c27_0 = fma(a27, b0, c27_0);
        c27_1 = fma(a27, b1, c27_1);
        c27_2 = fma(a27, b2, c27_2);
        c27_3 = fma(a27, b3, c27_3);
        let a28 = vec4<f32>(lda(ra28 + acol));
        c28_0 = fma(a28, b0, c28_0);
        c28_1 = fma(a28, b1, c28_1);
        c28_2 = fma(a28, b2, c28_2);
        c28_3 = fma(a28, b3, c28_3);
        let a29 = vec4<f32>(lda(ra29 + acol));
        c29_0 = fma(a29, b0, c29_0);
        c29_1 = fma(a29, b1, c29_1);
        c29_2 = fma(a29, b2, c29_2);
        c29_3 = fma(a29, b3, c29_3);
        let a30 = vec4<f32>(lda(ra30 + acol));
        c30_0 = fma(a30, b0, c30_0);
        c30_1 = fma(a30, b1, c30_1);
        c30_2 = fma(a30, b2, c30_2);
        c30_3 = fma(a30, b3, c30_3);
        let a31 = vec4<f32>(lda(ra31 + acol));
        c31_0 = fma(a31, b0, c31_0);
        c31_1 = fma(a31, b1, c31_1);
        c31_2 = fma(a31, b2, c31_2);
        c31_3 = fma(a31, b3, c31_3);
    }
    store4(bs, m0 + 0u, n0 + 0u, c0_0);
    store4(bs, m0 + 0u, n0 + 4u, c0_1);
    store4(bs, m0 + 0u, n0 + 8u, c0_2);
    store4(bs, m0 + 0u, n0 + 12u, c0_3);
    store4(bs, m0 + 1u, n0 + 0u, c1_0);
    store4(bs, m0 + 1u, n0 + 4u, c1_1);
    store4(bs, m0 + 1u, n0 + 8u, c1_2);
    store4(bs, m0 + 1u, n0 + 12u, c1_3);
    store4(bs, m0 + 2u, n0 + 0u, c2_0);
    store4(bs, m0 + 2u, n0 + 4u, c2_1);
    store4(bs, m0 + 2u, n0 + 8u, c2_2);
    store4(bs, m0 + 2u, n0 + 12u, c2_3);
    store4(bs, m0 + 3u, n0 + 0u, c3_0);
    store4(bs, m0 + 3u, n0 + 4u, c3_1);
    store4(bs, m0 + 3u, n0 + 8u, c3_2);
    store4(bs, m0 + 3u, n0 + 12u, c3_3);
    store4(bs, m0 + 4u, n0 + 0u, c4_0);
    store4(bs, m0 + 4u, n0 + 4u, c4_1);
    store4(bs, m0 + 4u, n0 + 8u, c4_2);
    store4(bs, m0 + 4u, n0 + 12u, c4_3);
    store4(bs, m0 + 5u, n0 + 0u, c5_0);
    store4(bs, m0 + 5u, n0 + 4u, c5_1);
    store4(bs, m0 + 5u, n0 + 8u, c5_2);
    store4(bs, m0 + 5u, n0 + 12u, c5_3);
    store4(bs, m0 + 6u, n0 + 0u, c6_0);
    store4(bs, m0 + 6u, n0 + 4u, c6_1);
    store4(bs, m0 + 6u, n0 + 8u, c6_2);
    store4(bs, m0 + 6u, n0 + 12u, c6_3);
    store4(bs, m0 + 7u, n0 + 0u, c7_0);
    store4(bs, m0 + 7u, n0 + 4u, c7_1);
    store4(bs, m0 + 7u, n0 + 8u, c7_2);
    store4(bs, m0 + 7u, n0 + 12u, c7_3);
    store4(bs, m0 + 8u, n0 + 0u, c8_0);
    store4(bs, m0 + 8u, n0 + 4u, c8_1);
    store4(bs, m0 + 8u, n0 + 8u, c8_2);
    store4(bs, m0 + 8u, n0 + 12u, c8_3);
    store4(bs, m0 + 9u, n0 + 0u, c9_0);
    store4(bs, m0 + 9u, n0 + 4u, c9_1);
    store4(bs, m0 + 9u, n0 + 8u, c9_2);
    store4(bs, m0 + 9u, n0 + 12u, c9_3);
    store4(bs, m0 + 10u, n0 + 0u, c10_0);
    store4(bs, m0 + 10u, n0 + 4u, c10_1);
    store4(bs, m0 + 10u, n0 + 8u, c10_2);
    store4(bs, m0 + 10u, n0 + 12u, c10_3);
    store4(bs, m0 + 11u, n0 + 0u, c11_0);
    store4(bs, m0 + 11u, n0 + 4u, c11_1);
    store4(bs, m0 + 11u, n0 + 8u, c11_2);
    store4(bs, m0 + 11u, n0 + 12u, c11_3);
    store4(bs, m0 + 12u, n0 + 0u, c12_0);
    store4(bs, m0 + 12u, n0 + 4u, c12_1);
    store4(bs, m0 + 12u, n0 + 8u, c12_2);
    store4(bs, m0 + 12u, n0 + 12u, c12_3);
    store4(bs, m0 + 13u, n0 + 0u, c13_0);
    store4(bs, m0 + 13u, n0 + 4u, c13_1);
    store4(bs, m0 + 13u, n0 + 8u, c13_2);
    store4(bs, m0 + 13u, n0 + 12u, c13_3);
    store4(bs, m0 + 14u, n0 + 0u, c14_0);
    store4(bs, m0 + 14u, n0 + 4u, c14_1);
    store4(bs, m0 + 14u, n0 + 8u, c14_2);
    store4(bs, m0 + 14u, n0 + 12u, c14_3);
    store4(bs, m0 + 15u, n0 + 0u, c15_0);
    store4(bs, m0 + 15u, n0 + 4u, c15_1);
    store4(bs, m0 + 15u, n0 + 8u, c15_2);
    store4(bs, m0 + 15u, n0 + 12u, c15_3);
    store4(bs, m0 + 16u, n0 + 0u, c16_0);
    store4(bs, m0 + 16u, n0 + 4u, c16_1);
    store4(bs, m0 + 16u, n0 + 8u, c16_2);
    store4(bs, m0 + 16u, n0 + 12u, c16_3);
    store4(bs, m0 + 17u, n0 + 0u, c17_0);
    store4(bs, m0 + 17u, n0 + 4u, c17_1);
    store4(bs, m0 + 17u, n0 + 8u, c17_2);
    store4(bs, m0 + 17u, n0 + 12u, c17_3);
    store4(bs, m0 + 18u, n0 + 0u, c18_0);
    store4(bs, m0 + 18u, n0 + 4u, c18_1);
    store4(bs, m0 + 18u, n0 + 8u, c18_2);
    store4(bs, m0 + 18u, n0 + 12u, c18_3);
    store4(bs, m0 + 19u, n0 + 0u, c19_0);
    store4(bs, m0 + 19u, n0 + 4u, c19_1);
    store4(bs, m0 + 19u, n0 + 8u, c19_2);
    store4(bs, m0 + 19u, n0 + 12u, c19_3);
    store4(bs, m0 + 20u, n0 + 0u, c20_0);
    store4(bs, m0 + 20u, n0 + 4u, c20_1);
    store4(bs, m0 + 20u, n0 + 8u, c20_2);
    store4(bs, m0 + 20u, n0 + 12u, c20_3);
    store4(bs, m0 + 21u, n0 + 0u, c21_0);
    store4(bs, m0 + 21u, n0 + 4u, c21_1);
    store4(bs, m0 + 21u, n0 + 8u, c21_2);
    store4(bs, m0 + 21u, n0 + 12u, c21_3);
    store4(bs, m0 + 22u, n0 + 0u, c22_0);
    store4(bs, m0 + 22u, n0 + 4u, c22_1);
    store4(bs, m0 + 22u, n0 + 8u, c22_2);
    store4(bs, m0 + 22u, n0 + 12u, c22_3);
    store4(bs, m0 + 23u, n0 + 0u, c23_0);
    store4(bs, m0 + 23u, n0 + 4u, c23_1);
    store4(bs, m0 + 23u, n0 + 8u, c23_2);
    store4(bs, m0 + 23u, n0 + 12u, c23_3);
    store4(bs, m0 + 24u, n0 + 0u, c24_0);
    store4(bs, m0 + 24u, n0 + 4u, c24_1);
    store4(bs, m0 + 24u, n0 + 8u, c24_2);
    store4(bs, m0 + 24u, n0 + 12u, c24_3);
    store4(bs, m0 + 25u, n0 + 0u, c25_0);
    store4(bs, m0 + 25u, n0 + 4u, c25_1);
    store4(bs, m0 + 25u, n0 + 8u, c25_2);
    store4(bs, m0 + 25u, n0 + 12u, c25_3);
    store4(bs, m0 + 26u, n0 + 0u, c26_0);
    store4(bs, m0 + 26u, n0 + 4u, c26_1);
    store4(bs, m0 + 26u, n0 + 8u, c26_2);
    store4(bs, m0 + 26u, n0 + 12u, c26_3);
    store4(bs, m0 + 27u, n0 + 0u, c27_0);
    store4(bs, m0 + 27u, n0 + 4u, c27_1);
    store4(bs, m0 + 27u, n0 + 8u, c27_2);
    store4(bs, m0 + 27u, n0 + 12u, c27_3);
    store4(bs, m0 + 28u, n0 + 0u, c28_0);
    store4(bs, m0 + 28u, n0 + 4u, c28_1);
    store4(bs, m0 + 28u, n0 + 8u, c28_2);
    store4(bs, m0 + 28u, n0 + 12u, c28_3);
    store4(bs, m0 + 29u, n0 + 0u, c29_0);
    store4(bs, m0 + 29u, n0 + 4u, c29_1);
    store4(bs, m0 + 29u, n0 + 8u, c29_2);
    store4(bs, m0 + 29u, n0 + 12u, c29_3);
    store4(bs, m0 + 30u, n0 + 0u, c30_0);
    store4(bs, m0 + 30u, n0 + 4u, c30_1);
    store4(bs, m0 + 30u, n0 + 8u, c30_2);
    store4(bs, m0 + 30u, n0 + 12u, c30_3);
    store4(bs, m0 + 31u, n0 + 0u, c31_0);
    store4(bs, m0 + 31u, n0 + 4u, c31_1);
    store4(bs, m0 + 31u, n0 + 8u, c31_2);
    store4(bs, m0 + 31u, n0 + 12u, c31_3);
}

@compute @workgroup_size(CPU_WG, 1, 1)
fn matmul_cpu_16x16(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let n0 = (wid.x * CPU_WG + lid.x) * 16u;
    let m0 = wid.y * 16u;
    // No early return for n0 >= N: lavapipe loads uniform addresses once only where no
    // invocation can have left; those invocations compute clamped columns, store nothing.
    if (touch_epilogue_bindings()) {
        return;
    }
    let bs = bases(p.batch_base + wid.z);
    let ra0 = bs.a + min(m0 + 0u, p.m - 1u) * p.a_rs;
    let ra1 = bs.a + min(m0 + 1u, p.m - 1u) * p.a_rs;
    let ra2 = bs.a + min(m0 + 2u, p.m - 1u) * p.a_rs;
    let ra3 = bs.a + min(m0 + 3u, p.m - 1u) * p.a_rs;
    let ra4 = bs.a + min(m0 + 4u, p.m - 1u) * p.a_rs;
    let ra5 = bs.a + min(m0 + 5u, p.m - 1u) * p.a_rs;
    let ra6 = bs.a + min(m0 + 6u, p.m - 1u) * p.a_rs;
    let ra7 = bs.a + min(m0 + 7u, p.m - 1u) * p.a_rs;
    let ra8 = bs.a + min(m0 + 8u, p.m - 1u) * p.a_rs;
    let ra9 = bs.a + min(m0 + 9u, p.m - 1u) * p.a_rs;
    let ra10 = bs.a + min(m0 + 10u, p.m - 1u) * p.a_rs;
    let ra11 = bs.a + min(m0 + 11u, p.m - 1u) * p.a_rs;
    let ra12 = bs.a + min(m0 + 12u, p.m - 1u) * p.a_rs;
    let ra13 = bs.a + min(m0 + 13u, p.m - 1u) * p.a_rs;
    let ra14 = bs.a + min(m0 + 14u, p.m - 1u) * p.a_rs;
    let ra15 = bs.a + min(m0 + 15u, p.m - 1u) * p.a_rs;
    let cb0 = b_cols(bs.b, n0 + 0u);
    let cb1 = b_cols(bs.b, n0 + 4u);
    let cb2 = b_cols(bs.b, n0 + 8u);
    let cb3 = b_cols(bs.b, n0 + 12u);
    var c0_0 = vec4<f32>(0.0);
    var c0_1 = vec4<f32>(0.0);
    var c0_2 = vec4<f32>(0.0);
    var c0_3 = vec4<f32>(0.0);
    var c1_0 = vec4<f32>(0.0);
    var c1_1 = vec4<f32>(0.0);
    var c1_2 = vec4<f32>(0.0);
    var c1_3 = vec4<f32>(0.0);
    var c2_0 = vec4<f32>(0.0);
    var c2_1 = vec4<f32>(0.0);
    var c2_2 = vec4<f32>(0.0);
    var c2_3 = vec4<f32>(0.0);
    var c3_0 = vec4<f32>(0.0);
    var c3_1 = vec4<f32>(0.0);
    var c3_2 = vec4<f32>(0.0);
    var c3_3 = vec4<f32>(0.0);
    var c4_0 = vec4<f32>(0.0);
    var c4_1 = vec4<f32>(0.0);
    var c4_2 = vec4<f32>(0.0);
    var c4_3 = vec4<f32>(0.0);
    var c5_0 = vec4<f32>(0.0);
    var c5_1 = vec4<f32>(0.0);
    var c5_2 = vec4<f32>(0.0);
    var c5_3 = vec4<f32>(0.0);
    var c6_0 = vec4<f32>(0.0);
    var c6_1 = vec4<f32>(0.0);
    var c6_2 = vec4<f32>(0.0);
    var c6_3 = vec4<f32>(0.0);
    var c7_0 = vec4<f32>(0.0);
    var c7_1 = vec4<f32>(0.0);
    var c7_2 = vec4<f32>(0.0);
    var c7_3 = vec4<f32>(0.0);
    var c8_0 = vec4<f32>(0.0);
    var c8_1 = vec4<f32>(0.0);
    var c8_2 = vec4<f32>(0.0);
    var c8_3 = vec4<f32>(0.0);
    var c9_0 = vec4<f32>(0.0);
    var c9_1 = vec4<f32>(0.0);
    var c9_2 = vec4<f32>(0.0);
    var c9_3 = vec4<f32>(0.0);
    var c10_0 = vec4<f32>(0.0);
    var c10_1 = vec4<f32>(0.0);
    var c10_2 = vec4<f32>(0.0);
    var c10_3 = vec4<f32>(0.0);
    var c11_0 = vec4<f32>(0.0);
    var c11_1 = vec4<f32>(0.0);
    var c11_2 = vec4<f32>(0.0);
    var c11_3 = vec4<f32>(0.0);
    var c12_0 = vec4<f32>(0.0);
    var c12_1 = vec4<f32>(0.0);
    var c12_2 = vec4<f32>(0.0);
    var c12_3 = vec4<f32>(0.0);
    var c13_0 = vec4<f32>(0.0);
    var c13_1 = vec4<f32>(0.0);
    var c13_2 = vec4<f32>(0.0);
    var c13_3 = vec4<f32>(0.0);
    var c14_0 = vec4<f32>(0.0);
    var c14_1 = vec4<f32>(0.0);
    var c14_2 = vec4<f32>(0.0);
    var c14_3 = vec4<f32>(0.0);
    var c15_0 = vec4<f32>(0.0);
    var c15_1 = vec4<f32>(0.0);
    var c15_2 = vec4<f32>(0.0);
    var c15_3 = vec4<f32>(0.0);
    var k = 0u;
    let k4 = p.k & ~3u;
    for (; k < k4; k += 4u) {
        let a0 = load_a4(ra0, k);
        let a1 = load_a4(ra1, k);
        let a2 = load_a4(ra2, k);
        let a3 = load_a4(ra3, k);
        let a4 = load_a4(ra4, k);
        let a5 = load_a4(ra5, k);
        let a6 = load_a4(ra6, k);
        let a7 = load_a4(ra7, k);
        let a8 = load_a4(ra8, k);
        let a9 = load_a4(ra9, k);
        let a10 = load_a4(ra10, k);
        let a11 = load_a4(ra11, k);
        let a12 = load_a4(ra12, k);
        let a13 = load_a4(ra13, k);
        let a14 = load_a4(ra14, k);
        let a15 = load_a4(ra15, k);
        let b0 = load_b4x4(cb0, k);
        let b1 = load_b4x4(cb1, k);
        let b2 = load_b4x4(cb2, k);
        let b3 = load_b4x4(cb3, k);
        c0_0 = fma(vec4<f32>(a0.w), b0[3], fma(vec4<f32>(a0.z), b0[2], fma(vec4<f32>(a0.y), b0[1], fma(vec4<f32>(a0.x), b0[0], c0_0))));
        c0_1 = fma(vec4<f32>(a0.w), b1[3], fma(vec4<f32>(a0.z), b1[2], fma(vec4<f32>(a0.y), b1[1], fma(vec4<f32>(a0.x), b1[0], c0_1))));
        c0_2 = fma(vec4<f32>(a0.w), b2[3], fma(vec4<f32>(a0.z), b2[2], fma(vec4<f32>(a0.y), b2[1], fma(vec4<f32>(a0.x), b2[0], c0_2))));
        c0_3 = fma(vec4<f32>(a0.w), b3[3], fma(vec4<f32>(a0.z), b3[2], fma(vec4<f32>(a0.y), b3[1], fma(vec4<f32>(a0.x), b3[0], c0_3))));
        c1_0 = fma(vec4<f32>(a1.w), b0[3], fma(vec4<f32>(a1.z), b0[2], fma(vec4<f32>(a1.y), b0[1], fma(vec4<f32>(a1.x), b0[0], c1_0))));
        c1_1 = fma(vec4<f32>(a1.w), b1[3], fma(vec4<f32>(a1.z), b1[2], fma(vec4<f32>(a1.y), b1[1], fma(vec4<f32>(a1.x), b1[0], c1_1))));
        c1_2 = fma(vec4<f32>(a1.w), b2[3], fma(vec4<f32>(a1.z), b2[2], fma(vec4<f32>(a1.y), b2[1], fma(vec4<f32>(a1.x), b2[0], c1_2))));
        c1_3 = fma(vec4<f32>(a1.w), b3[3], fma(vec4<f32>(a1.z), b3[2], fma(vec4<f32>(a1.y), b3[1], fma(vec4<f32>(a1.x), b3[0], c1_3))));
        c2_0 = fma(vec4<f32>(a2.w), b0[3], fma(vec4<f32>(a2.z), b0[2], fma(vec4<f32>(a2.y), b0[1], fma(vec4<f32>(a2.x), b0[0], c2_0))));
        c2_1 = fma(vec4<f32>(a2.w), b1[3], fma(vec4<f32>(a2.z), b1[2], fma(vec4<f32>(a2.y), b1[1], fma(vec4<f32>(a2.x), b1[0], c2_1))));
        c2_2 = fma(vec4<f32>(a2.w), b2[3], fma(vec4<f32>(a2.z), b2[2], fma(vec4<f32>(a2.y), b2[1], fma(vec4<f32>(a2.x), b2[0], c2_2))));
        c2_3 = fma(vec4<f32>(a2.w), b3[3], fma(vec4<f32>(a2.z), b3[2], fma(vec4<f32>(a2.y), b3[1], fma(vec4<f32>(a2.x), b3[0], c2_3))));
        c3_0 = fma(vec4<f32>(a3.w), b0[3], fma(vec4<f32>(a3.z), b0[2], fma(vec4<f32>(a3.y), b0[1], fma(vec4<f32>(a3.x), b0[0], c3_0))));
        c3_1 = fma(vec4<f32>(a3.w), b1[3], fma(vec4<f32>(a3.z), b1[2], fma(vec4<f32>(a3.y), b1[1], fma(vec4<f32>(a3.x), b1[0], c3_1))));
        c3_2 = fma(vec4<f32>(a3.w), b2[3], fma(vec4<f32>(a3.z), b2[2], fma(vec4<f32>(a3.y), b2[1], fma(vec4<f32>(a3.x), b2[0], c3_2))));
        c3_3 = fma(vec4<f32>(a3.w), b3[3], fma(vec4<f32>(a3.z), b3[2], fma(vec4<f32>(a3.y), b3[1], fma(vec4<f32>(a3.x), b3[0], c3_3))));
        c4_0 = fma(vec4<f32>(a4.w), b0[3], fma(vec4<f32>(a4.z), b0[2], fma(vec4<f32>(a4.y), b0[1], fma(vec4<f32>(a4.x), b0[0], c4_0))));
        c4_1 = fma(vec4<f32>(a4.w), b1[3], fma(vec4<f32>(a4.z), b1[2], fma(vec4<f32>(a4.y), b1[1], fma(vec4<f32>(a4.x), b1[0], c4_1))));
        c4_2 = fma(vec4<f32>(a4.w), b2[3], fma(vec4<f32>(a4.z), b2[2], fma(vec4<f32>(a4.y), b2[1], fma(vec4<f32>(a4.x), b2[0], c4_2))));
        c4_3 = fma(vec4<f32>(a4.w), b3[3], fma(vec4<f32>(a4.z), b3[2], fma(vec4<f32>(a4.y), b3[1], fma(vec4<f32>(a4.x), b3[0], c4_3))));
        c5_0 = fma(vec4<f32>(a5.w), b0[3], fma(vec4<f32>(a5.z), b0[2], fma(vec4<f32>(a5.y), b0[1], fma(vec4<f32>(a5.x), b0[0], c5_0))));
        c5_1 = fma(vec4<f32>(a5.w), b1[3], fma(vec4<f32>(a5.z), b1[2], fma(vec4<f32>(a5.y), b1[1], fma(vec4<f32>(a5.x), b1[0], c5_1))));
        c5_2 = fma(vec4<f32>(a5.w), b2[3], fma(vec4<f32>(a5.z), b2[2], fma(vec4<f32>(a5.y), b2[1], fma(vec4<f32>(a5.x), b2[0], c5_2))));
        c5_3 = fma(vec4<f32>(a5.w), b3[3], fma(vec4<f32>(a5.z), b3[2], fma(vec4<f32>(a5.y), b3[1], fma(vec4<f32>(a5.x), b3[0], c5_3))));
        c6_0 = fma(vec4<f32>(a6.w), b0[3], fma(vec4<f32>(a6.z), b0[2], fma(vec4<f32>(a6.y), b0[1], fma(vec4<f32>(a6.x), b0[0], c6_0))));
        c6_1 = fma(vec4<f32>(a6.w), b1[3], fma(vec4<f32>(a6.z), b1[2], fma(vec4<f32>(a6.y), b1[1], fma(vec4<f32>(a6.x), b1[0], c6_1))));
        c6_2 = fma(vec4<f32>(a6.w), b2[3], fma(vec4<f32>(a6.z), b2[2], fma(vec4<f32>(a6.y), b2[1], fma(vec4<f32>(a6.x), b2[0], c6_2))));
        c6_3 = fma(vec4<f32>(a6.w), b3[3], fma(vec4<f32>(a6.z), b3[2], fma(vec4<f32>(a6.y), b3[1], fma(vec4<f32>(a6.x), b3[0], c6_3))));
        c7_0 = fma(vec4<f32>(a7.w), b0[3], fma(vec4<f32>(a7.z), b0[2], fma(vec4<f32>(a7.y), b0[1], fma(vec4<f32>(a7.x), b0[0], c7_0))));
        c7_1 = fma(vec4<f32>(a7.w), b1[3], fma(vec4<f32>(a7.z), b1[2], fma(vec4<f32>(a7.y), b1[1], fma(vec4<f32>(a7.x), b1[0], c7_1))));
        c7_2 = fma(vec4<f32>(a7.w), b2[3], fma(vec4<f32>(a7.z), b2[2], fma(vec4<f32>(a7.y), b2[1], fma(vec4<f32>(a7.x), b2[0], c7_2))));
        c7_3 = fma(vec4<f32>(a7.w), b3[3], fma(vec4<f32>(a7.z), b3[2], fma(vec4<f32>(a7.y), b3[1], fma(vec4<f32>(a7.x), b3[0], c7_3))));
        c8_0 = fma(vec4<f32>(a8.w), b0[3], fma(vec4<f32>(a8.z), b0[2], fma(vec4<f32>(a8.y), b0[1], fma(vec4<f32>(a8.x), b0[0], c8_0))));
        c8_1 = fma(vec4<f32>(a8.w), b1[3], fma(vec4<f32>(a8.z), b1[2], fma(vec4<f32>(a8.y), b1[1], fma(vec4<f32>(a8.x), b1[0], c8_1))));
        c8_2 = fma(vec4<f32>(a8.w), b2[3], fma(vec4<f32>(a8.z), b2[2], fma(vec4<f32>(a8.y), b2[1], fma(vec4<f32>(a8.x), b2[0], c8_2))));
        c8_3 = fma(vec4<f32>(a8.w), b3[3], fma(vec4<f32>(a8.z), b3[2], fma(vec4<f32>(a8.y), b3[1], fma(vec4<f32>(a8.x), b3[0], c8_3))));
        c9_0 = fma(vec4<f32>(a9.w), b0[3], fma(vec4<f32>(a9.z), b0[2], fma(vec4<f32>(a9.y), b0[1], fma(vec4<f32>(a9.x), b0[0], c9_0))));
        c9_1 = fma(vec4<f32>(a9.w), b1[3], fma(vec4<f32>(a9.z), b1[2], fma(vec4<f32>(a9.y), b1[1], fma(vec4<f32>(a9.x), b1[0], c9_1))));
        c9_2 = fma(vec4<f32>(a9.w), b2[3], fma(vec4<f32>(a9.z), b2[2], fma(vec4<f32>(a9.y), b2[1], fma(vec4<f32>(a9.x), b2[0], c9_2))));
        c9_3 = fma(vec4<f32>(a9.w), b3[3], fma(vec4<f32>(a9.z), b3[2], fma(vec4<f32>(a9.y), b3[1], fma(vec4<f32>(a9.x), b3[0], c9_3))));
        c10_0 = fma(vec4<f32>(a10.w), b0[3], fma(vec4<f32>(a10.z), b0[2], fma(vec4<f32>(a10.y), b0[1], fma(vec4<f32>(a10.x), b0[0], c10_0))));
        c10_1 = fma(vec4<f32>(a10.w), b1[3], fma(vec4<f32>(a10.z), b1[2], fma(vec4<f32>(a10.y), b1[1], fma(vec4<f32>(a10.x), b1[0], c10_1))));
        c10_2 = fma(vec4<f32>(a10.w), b2[3], fma(vec4<f32>(a10.z), b2[2], fma(vec4<f32>(a10.y), b2[1], fma(vec4<f32>(a10.x), b2[0], c10_2))));
        c10_3 = fma(vec4<f32>(a10.w), b3[3], fma(vec4<f32>(a10.z), b3[2], fma(vec4<f32>(a10.y), b3[1], fma(vec4<f32>(a10.x), b3[0], c10_3))));
        c11_0 = fma(vec4<f32>(a11.w), b0[3], fma(vec4<f32>(a11.z), b0[2], fma(vec4<f32>(a11.y), b0[1], fma(vec4<f32>(a11.x), b0[0], c11_0))));
        c11_1 = fma(vec4<f32>(a11.w), b1[3], fma(vec4<f32>(a11.z), b1[2], fma(vec4<f32>(a11.y), b1[1], fma(vec4<f32>(a11.x), b1[0], c11_1))));
        c11_2 = fma(vec4<f32>(a11.w), b2[3], fma(vec4<f32>(a11.z), b2[2], fma(vec4<f32>(a11.y), b2[1], fma(vec4<f32>(a11.x), b2[0], c11_2))));
        c11_3 = fma(vec4<f32>(a11.w), b3[3], fma(vec4<f32>(a11.z), b3[2], fma(vec4<f32>(a11.y), b3[1], fma(vec4<f32>(a11.x), b3[0], c11_3))));
        c12_0 = fma(vec4<f32>(a12.w), b0[3], fma(vec4<f32>(a12.z), b0[2], fma(vec4<f32>(a12.y), b0[1], fma(vec4<f32>(a12.x), b0[0], c12_0))));
        c12_1 = fma(vec4<f32>(a12.w), b1[3], fma(vec4<f32>(a12.z), b1[2], fma(vec4<f32>(a12.y), b1[1], fma(vec4<f32>(a12.x), b1[0], c12_1))));
        c12_2 = fma(vec4<f32>(a12.w), b2[3], fma(vec4<f32>(a12.z), b2[2], fma(vec4<f32>(a12.y), b2[1], fma(vec4<f32>(a12.x), b2[0], c12_2))));
        c12_3 = fma(vec4<f32>(a12.w), b3[3], fma(vec4<f32>(a12.z), b3[2], fma(vec4<f32>(a12.y), b3[1], fma(vec4<f32>(a12.x), b3[0], c12_3))));
        c13_0 = fma(vec4<f32>(a13.w), b0[3], fma(vec4<f32>(a13.z), b0[2], fma(vec4<f32>(a13.y), b0[1], fma(vec4<f32>(a13.x), b0[0], c13_0))));
        c13_1 = fma(vec4<f32>(a13.w), b1[3], fma(vec4<f32>(a13.z), b1[2], fma(vec4<f32>(a13.y), b1[1], fma(vec4<f32>(a13.x), b1[0], c13_1))));
        c13_2 = fma(vec4<f32>(a13.w), b2[3], fma(vec4<f32>(a13.z), b2[2], fma(vec4<f32>(a13.y), b2[1], fma(vec4<f32>(a13.x), b2[0], c13_2))));
        c13_3 = fma(vec4<f32>(a13.w), b3[3], fma(vec4<f32>(a13.z), b3[2], fma(vec4<f32>(a13.y), b3[1], fma(vec4<f32>(a13.x), b3[0], c13_3))));
        c14_0 = fma(vec4<f32>(a14.w), b0[3], fma(vec4<f32>(a14.z), b0[2], fma(vec4<f32>(a14.y), b0[1], fma(vec4<f32>(a14.x), b0[0], c14_0))));
        c14_1 = fma(vec4<f32>(a14.w), b1[3], fma(vec4<f32>(a14.z), b1[2], fma(vec4<f32>(a14.y), b1[1], fma(vec4<f32>(a14.x), b1[0], c14_1))));
        c14_2 = fma(vec4<f32>(a14.w), b2[3], fma(vec4<f32>(a14.z), b2[2], fma(vec4<f32>(a14.y), b2[1], fma(vec4<f32>(a14.x), b2[0], c14_2))));
        c14_3 = fma(vec4<f32>(a14.w), b3[3], fma(vec4<f32>(a14.z), b3[2], fma(vec4<f32>(a14.y), b3[1], fma(vec4<f32>(a14.x), b3[0], c14_3))));
        c15_0 = fma(vec4<f32>(a15.w), b0[3], fma(vec4<f32>(a15.z), b0[2], fma(vec4<f32>(a15.y), b0[1], fma(vec4<f32>(a15.x), b0[0], c15_0))));
        c15_1 = fma(vec4<f32>(a15.w), b1[3], fma(vec4<f32>(a15.z), b1[2], fma(vec4<f32>(a15.y), b1[1], fma(vec4<f32>(a15.x), b1[0], c15_1))));
        c15_2 = fma(vec4<f32>(a15.w), b2[3], fma(vec4<f32>(a15.z), b2[2], fma(vec4<f32>(a15.y), b2[1], fma(vec4<f32>(a15.x), b2[0], c15_2))));
        c15_3 = fma(vec4<f32>(a15.w), b3[3], fma(vec4<f32>(a15.z), b3[2], fma(vec4<f32>(a15.y), b3[1], fma(vec4<f32>(a15.x), b3[0], c15_3))));
    }
    for (; k < p.k; k++) {
        let brow = k * p.b_rs;
        let acol = k * p.a_cs;
        let b0 = load_b4(cb0, brow);
        let b1 = load_b4(cb1, brow);
        let b2 = load_b4(cb2, brow);
        let b3 = load_b4(cb3, brow);
        let a0 = vec4<f32>(lda(ra0 + acol));
        c0_0 = fma(a0, b0, c0_0);
        c0_1 = fma(a0, b1, c0_1);
        c0_2 = fma(a0, b2, c0_2);
        c0_3 = fma(a0, b3, c0_3);
        let a1 = vec4<f32>(lda(ra1 + acol));
        c1_0 = fma(a1, b0, c1_0);
        c1_1 = fma(a1, b1, c1_1);
        c1_2 = fma(a1, b2, c1_2);
        c1_3 = fma(a1, b3, c1_3);
        let a2 = vec4<f32>(lda(ra2 + acol));
        c2_0 = fma(a2, b0, c2_0);
        c2_1 = fma(a2, b1, c2_1);
        c2_2 = fma(a2, b2, c2_2);
        c2_3 = fma(a2, b3, c2_3);
        let a3 = vec4<f32>(lda(ra3 + acol));
        c3_0 = fma(a3, b0, c3_0);
        c3_1 = fma(a3, b1, c3_1);
        c3_2 = fma(a3, b2, c3_2);
        c3_3 = fma(a3, b3, c3_3);
        let a4 = vec4<f32>(lda(ra4 + acol));
        c4_0 = fma(a4, b0, c4_0);
        c4_1 = fma(a4, b1, c4_1);
        c4_2 = fma(a4, b2, c4_2);
        c4_3 = fma(a4, b3, c4_3);
        let a5 = vec4<f32>(lda(ra5 + acol));
        c5_0 = fma(a5, b0, c5_0);
        c5_1 = fma(a5, b1, c5_1);
        c5_2 = fma(a5, b2, c5_2);
        c5_3 = fma(a5, b3, c5_3);
        let a6 = vec4<f32>(lda(ra6 + acol));
        c6_0 = fma(a6, b0, c6_0);
        c6_1 = fma(a6, b1, c6_1);
        c6_2 = fma(a6, b2, c6_2);
        c6_3 = fma(a6, b3, c6_3);
        let a7 = vec4<f32>(lda(ra7 + acol));
        c7_0 = fma(a7, b0, c7_0);
        c7_1 = fma(a7, b1, c7_1);
        c7_2 = fma(a7, b2, c7_2);
        c7_3 = fma(a7, b3, c7_3);
        let a8 = vec4<f32>(lda(ra8 + acol));
        c8_0 = fma(a8, b0, c8_0);
        c8_1 = fma(a8, b1, c8_1);
        c8_2 = fma(a8, b2, c8_2);
        c8_3 = fma(a8, b3, c8_3);
        let a9 = vec4<f32>(lda(ra9 + acol));
        c9_0 = fma(a9, b0, c9_0);
        c9_1 = fma(a9, b1, c9_1);
        c9_2 = fma(a9, b2, c9_2);
        c9_3 = fma(a9, b3, c9_3);
        let a10 = vec4<f32>(lda(ra10 + acol));
        c10_0 = fma(a10, b0, c10_0);
        c10_1 = fma(a10, b1, c10_1);
        c10_2 = fma(a10, b2, c10_2);
        c10_3 = fma(a10, b3, c10_3);
        let a11 = vec4<f32>(lda(ra11 + acol));
        c11_0 = fma(a11, b0, c11_0);
        c11_1 = fma(a11, b1, c11_1);
        c11_2 = fma(a11, b2, c11_2);
        c11_3 = fma(a11, b3, c11_3);
        let a12 = vec4<f32>(lda(ra12 + acol));
        c12_0 = fma(a12, b0, c12_0);
        c12_1 = fma(a12, b1, c12_1);
        c12_2 = fma(a12, b2, c12_2);
        c12_3 = fma(a12, b3, c12_3);
        let a13 = vec4<f32>(lda(ra13 + acol));
        c13_0 = fma(a13, b0, c13_0);
        c13_1 = fma(a13, b1, c13_1);
        c13_2 = fma(a13, b2, c13_2);
        c13_3 = fma(a13, b3, c13_3);
        let a14 = vec4<f32>(lda(ra14 + acol));
        c14_0 = fma(a14, b0, c14_0);
        c14_1 = fma(a14, b1, c14_1);
        c14_2 = fma(a14, b2, c14_2);
        c14_3 = fma(a14, b3, c14_3);
        let a15 = vec4<f32>(lda(ra15 + acol));
        c15_0 = fma(a15, b0, c15_0);
        c15_1 = fma(a15, b1, c15_1);
        c15_2 = fma(a15, b2, c15_2);
        c15_3 = fma(a15, b3, c15_3);
    }
    store4(bs, m0 + 0u, n0 + 0u, c0_0);
    store4(bs, m0 + 0u, n0 + 4u, c0_1);
    store4(bs, m0 + 0u, n0 + 8u, c0_2);
    store4(bs, m0 + 0u, n0 + 12u, c0_3);
    store4(bs, m0 + 1u, n0 + 0u, c1_0);
    store4(bs, m0 + 1u, n0 + 4u, c1_1);
    store4(bs, m0 + 1u, n0 + 8u, c1_2);
    store4(bs, m0 + 1u, n0 + 12u, c1_3);
    store4(bs, m0 + 2u, n0 + 0u, c2_0);
    store4(bs, m0 + 2u, n0 + 4u, c2_1);
    store4(bs, m0 + 2u, n0 + 8u, c2_2);
    store4(bs, m0 + 2u, n0 + 12u, c2_3);
    store4(bs, m0 + 3u, n0 + 0u, c3_0);
    store4(bs, m0 + 3u, n0 + 4u, c3_1);
    store4(bs, m0 + 3u, n0 + 8u, c3_2);
    store4(bs, m0 + 3u, n0 + 12u, c3_3);
    store4(bs, m0 + 4u, n0 + 0u, c4_0);
    store4(bs, m0 + 4u, n0 + 4u, c4_1);
    store4(bs, m0 + 4u, n0 + 8u, c4_2);
    store4(bs, m0 + 4u, n0 + 12u, c4_3);
    store4(bs, m0 + 5u, n0 + 0u, c5_0);
    store4(bs, m0 + 5u, n0 + 4u, c5_1);
    store4(bs, m0 + 5u, n0 + 8u, c5_2);
    store4(bs, m0 + 5u, n0 + 12u, c5_3);
    store4(bs, m0 + 6u, n0 + 0u, c6_0);
    store4(bs, m0 + 6u, n0 + 4u, c6_1);
    store4(bs, m0 + 6u, n0 + 8u, c6_2);
    store4(bs, m0 + 6u, n0 + 12u, c6_3);
    store4(bs, m0 + 7u, n0 + 0u, c7_0);
    store4(bs, m0 + 7u, n0 + 4u, c7_1);
    store4(bs, m0 + 7u, n0 + 8u, c7_2);
    store4(bs, m0 + 7u, n0 + 12u, c7_3);
    store4(bs, m0 + 8u, n0 + 0u, c8_0);
    store4(bs, m0 + 8u, n0 + 4u, c8_1);
    store4(bs, m0 + 8u, n0 + 8u, c8_2);
    store4(bs, m0 + 8u, n0 + 12u, c8_3);
    store4(bs, m0 + 9u, n0 + 0u, c9_0);
    store4(bs, m0 + 9u, n0 + 4u, c9_1);
    store4(bs, m0 + 9u, n0 + 8u, c9_2);
    store4(bs, m0 + 9u, n0 + 12u, c9_3);
    store4(bs, m0 + 10u, n0 + 0u, c10_0);
    store4(bs, m0 + 10u, n0 + 4u, c10_1);
    store4(bs, m0 + 10u, n0 + 8u, c10_2);
    store4(bs, m0 + 10u, n0 + 12u, c10_3);
    store4(bs, m0 + 11u, n0 + 0u, c11_0);
    store4(bs, m0 + 11u, n0 + 4u, c11_1);
    store4(bs, m0 + 11u, n0 + 8u, c11_2);
    store4(bs, m0 + 11u, n0 + 12u, c11_3);
    store4(bs, m0 + 12u, n0 + 0u, c12_0);
    store4(bs, m0 + 12u, n0 + 4u, c12_1);
    store4(bs, m0 + 12u, n0 + 8u, c12_2);
    store4(bs, m0 + 12u, n0 + 12u, c12_3);
    store4(bs, m0 + 13u, n0 + 0u, c13_0);
    store4(bs, m0 + 13u, n0 + 4u, c13_1);
    store4(bs, m0 + 13u, n0 + 8u, c13_2);
    store4(bs, m0 + 13u, n0 + 12u, c13_3);
    store4(bs, m0 + 14u, n0 + 0u, c14_0);
    store4(bs, m0 + 14u, n0 + 4u, c14_1);
    store4(bs, m0 + 14u, n0 + 8u, c14_2);
    store4(bs, m0 + 14u, n0 + 12u, c14_3);
    store4(bs, m0 + 15u, n0 + 0u, c15_0);
    store4(bs, m0 + 15u, n0 + 4u, c15_1);
    store4(bs, m0 + 15u, n0 + 8u, c15_2);
    store4(bs, m0 + 15u, n0 + 12u, c15_3);
}

@compute @workgroup_size(CPU_WG, 1, 1)
fn matmul_cpu_8x16(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let n0 = (wid.x * CPU_WG + lid.x) * 16u;
    let m0 = wid.y * 8u;
    // No early return for n0 >= N: lavapipe loads uniform addresses once only where no
    // invocation can have left; those invocations compute clamped columns, store nothing.
    if (touch_epilogue_bindings()) {
        return;
    }
    let bs = bases(p.batch_base + wid.z);
    let ra0 = bs.a + min(m0 + 0u, p.m - 1u) * p.a_rs;
    let ra1 = bs.a + min(m0 + 1u, p.m - 1u) * p.a_rs;
    let ra2 = bs.a + min(m0 + 2u, p.m - 1u) * p.a_rs;
    let ra3 = bs.a + min(m0 + 3u, p.m - 1u) * p.a_rs;
    let ra4 = bs.a + min(m0 + 4u, p.m - 1u) * p.a_rs;
    let ra5 = bs.a + min(m0 + 5u, p.m - 1u) * p.a_rs;
    let ra6 = bs.a + min(m0 + 6u, p.m - 1u) * p.a_rs;
    let ra7 = bs.a + min(m0 + 7u, p.m - 1u) * p.a_rs;
    let cb0 = b_cols(bs.b, n0 + 0u);
    let cb1 = b_cols(bs.b, n0 + 4u);
    let cb2 = b_cols(bs.b, n0 + 8u);
    let cb3 = b_cols(bs.b, n0 + 12u);
    var c0_0 = vec4<f32>(0.0);
    var c0_1 = vec4<f32>(0.0);
    var c0_2 = vec4<f32>(0.0);
    var c0_3 = vec4<f32>(0.0);
    var c1_0 = vec4<f32>(0.0);
    var c1_1 = vec4<f32>(0.0);
    var c1_2 = vec4<f32>(0.0);
    var c1_3 = vec4<f32>(0.0);
    var c2_0 = vec4<f32>(0.0);
    var c2_1 = vec4<f32>(0.0);
    var c2_2 = vec4<f32>(0.0);
    var c2_3 = vec4<f32>(0.0);
    var c3_0 = vec4<f32>(0.0);
    var c3_1 = vec4<f32>(0.0);
    var c3_2 = vec4<f32>(0.0);
    var c3_3 = vec4<f32>(0.0);
    var c4_0 = vec4<f32>(0.0);
    var c4_1 = vec4<f32>(0.0);
    var c4_2 = vec4<f32>(0.0);
    var c4_3 = vec4<f32>(0.0);
    var c5_0 = vec4<f32>(0.0);
    var c5_1 = vec4<f32>(0.0);
    var c5_2 = vec4<f32>(0.0);
    var c5_3 = vec4<f32>(0.0);
    var c6_0 = vec4<f32>(0.0);
    var c6_1 = vec4<f32>(0.0);
    var c6_2 = vec4<f32>(0.0);
    var c6_3 = vec4<f32>(0.0);
    var c7_0 = vec4<f32>(0.0);
    var c7_1 = vec4<f32>(0.0);
    var c7_2 = vec4<f32>(0.0);
    var c7_3 = vec4<f32>(0.0);
    var k = 0u;
    let k4 = p.k & ~3u;
    for (; k < k4; k += 4u) {
        let a0 = load_a4(ra0, k);
        let a1 = load_a4(ra1, k);
        let a2 = load_a4(ra2, k);
        let a3 = load_a4(ra3, k);
        let a4 = load_a4(ra4, k);
        let a5 = load_a4(ra5, k);
        let a6 = load_a4(ra6, k);
        let a7 = load_a4(ra7, k);
        let b0 = load_b4x4(cb0, k);
        let b1 = load_b4x4(cb1, k);
        let b2 = load_b4x4(cb2, k);
        let b3 = load_b4x4(cb3, k);
        c0_0 = fma(vec4<f32>(a0.w), b0[3], fma(vec4<f32>(a0.z), b0[2], fma(vec4<f32>(a0.y), b0[1], fma(vec4<f32>(a0.x), b0[0], c0_0))));
        c0_1 = fma(vec4<f32>(a0.w), b1[3], fma(vec4<f32>(a0.z), b1[2], fma(vec4<f32>(a0.y), b1[1], fma(vec4<f32>(a0.x), b1[0], c0_1))));
        c0_2 = fma(vec4<f32>(a0.w), b2[3], fma(vec4<f32>(a0.z), b2[2], fma(vec4<f32>(a0.y), b2[1], fma(vec4<f32>(a0.x), b2[0], c0_2))));
        c0_3 = fma(vec4<f32>(a0.w), b3[3], fma(vec4<f32>(a0.z), b3[2], fma(vec4<f32>(a0.y), b3[1], fma(vec4<f32>(a0.x), b3[0], c0_3))));
        c1_0 = fma(vec4<f32>(a1.w), b0[3], fma(vec4<f32>(a1.z), b0[2], fma(vec4<f32>(a1.y), b0[1], fma(vec4<f32>(a1.x), b0[0], c1_0))));
        c1_1 = fma(vec4<f32>(a1.w), b1[3], fma(vec4<f32>(a1.z), b1[2], fma(vec4<f32>(a1.y), b1[1], fma(vec4<f32>(a1.x), b1[0], c1_1))));
        c1_2 = fma(vec4<f32>(a1.w), b2[3], fma(vec4<f32>(a1.z), b2[2], fma(vec4<f32>(a1.y), b2[1], fma(vec4<f32>(a1.x), b2[0], c1_2))));
        c1_3 = fma(vec4<f32>(a1.w), b3[3], fma(vec4<f32>(a1.z), b3[2], fma(vec4<f32>(a1.y), b3[1], fma(vec4<f32>(a1.x), b3[0], c1_3))));
        c2_0 = fma(vec4<f32>(a2.w), b0[3], fma(vec4<f32>(a2.z), b0[2], fma(vec4<f32>(a2.y), b0[1], fma(vec4<f32>(a2.x), b0[0], c2_0))));
        c2_1 = fma(vec4<f32>(a2.w), b1[3], fma(vec4<f32>(a2.z), b1[2], fma(vec4<f32>(a2.y), b1[1], fma(vec4<f32>(a2.x), b1[0], c2_1))));
        c2_2 = fma(vec4<f32>(a2.w), b2[3], fma(vec4<f32>(a2.z), b2[2], fma(vec4<f32>(a2.y), b2[1], fma(vec4<f32>(a2.x), b2[0], c2_2))));
        c2_3 = fma(vec4<f32>(a2.w), b3[3], fma(vec4<f32>(a2.z), b3[2], fma(vec4<f32>(a2.y), b3[1], fma(vec4<f32>(a2.x), b3[0], c2_3))));
        c3_0 = fma(vec4<f32>(a3.w), b0[3], fma(vec4<f32>(a3.z), b0[2], fma(vec4<f32>(a3.y), b0[1], fma(vec4<f32>(a3.x), b0[0], c3_0))));
        c3_1 = fma(vec4<f32>(a3.w), b1[3], fma(vec4<f32>(a3.z), b1[2], fma(vec4<f32>(a3.y), b1[1], fma(vec4<f32>(a3.x), b1[0], c3_1))));
        c3_2 = fma(vec4<f32>(a3.w), b2[3], fma(vec4<f32>(a3.z), b2[2], fma(vec4<f32>(a3.y), b2[1], fma(vec4<f32>(a3.x), b2[0], c3_2))));
        c3_3 = fma(vec4<f32>(a3.w), b3[3], fma(vec4<f32>(a3.z), b3[2], fma(vec4<f32>(a3.y), b3[1], fma(vec4<f32>(a3.x), b3[0], c3_3))));
        c4_0 = fma(vec4<f32>(a4.w), b0[3], fma(vec4<f32>(a4.z), b0[2], fma(vec4<f32>(a4.y), b0[1], fma(vec4<f32>(a4.x), b0[0], c4_0))));
        c4_1 = fma(vec4<f32>(a4.w), b1[3], fma(vec4<f32>(a4.z), b1[2], fma(vec4<f32>(a4.y), b1[1], fma(vec4<f32>(a4.x), b1[0], c4_1))));
        c4_2 = fma(vec4<f32>(a4.w), b2[3], fma(vec4<f32>(a4.z), b2[2], fma(vec4<f32>(a4.y), b2[1], fma(vec4<f32>(a4.x), b2[0], c4_2))));
        c4_3 = fma(vec4<f32>(a4.w), b3[3], fma(vec4<f32>(a4.z), b3[2], fma(vec4<f32>(a4.y), b3[1], fma(vec4<f32>(a4.x), b3[0], c4_3))));
        c5_0 = fma(vec4<f32>(a5.w), b0[3], fma(vec4<f32>(a5.z), b0[2], fma(vec4<f32>(a5.y), b0[1], fma(vec4<f32>(a5.x), b0[0], c5_0))));
        c5_1 = fma(vec4<f32>(a5.w), b1[3], fma(vec4<f32>(a5.z), b1[2], fma(vec4<f32>(a5.y), b1[1], fma(vec4<f32>(a5.x), b1[0], c5_1))));
        c5_2 = fma(vec4<f32>(a5.w), b2[3], fma(vec4<f32>(a5.z), b2[2], fma(vec4<f32>(a5.y), b2[1], fma(vec4<f32>(a5.x), b2[0], c5_2))));
        c5_3 = fma(vec4<f32>(a5.w), b3[3], fma(vec4<f32>(a5.z), b3[2], fma(vec4<f32>(a5.y), b3[1], fma(vec4<f32>(a5.x), b3[0], c5_3))));
        c6_0 = fma(vec4<f32>(a6.w), b0[3], fma(vec4<f32>(a6.z), b0[2], fma(vec4<f32>(a6.y), b0[1], fma(vec4<f32>(a6.x), b0[0], c6_0))));
        c6_1 = fma(vec4<f32>(a6.w), b1[3], fma(vec4<f32>(a6.z), b1[2], fma(vec4<f32>(a6.y), b1[1], fma(vec4<f32>(a6.x), b1[0], c6_1))));
        c6_2 = fma(vec4<f32>(a6.w), b2[3], fma(vec4<f32>(a6.z), b2[2], fma(vec4<f32>(a6.y), b2[1], fma(vec4<f32>(a6.x), b2[0], c6_2))));
        c6_3 = fma(vec4<f32>(a6.w), b3[3], fma(vec4<f32>(a6.z), b3[2], fma(vec4<f32>(a6.y), b3[1], fma(vec4<f32>(a6.x), b3[0], c6_3))));
        c7_0 = fma(vec4<f32>(a7.w), b0[3], fma(vec4<f32>(a7.z), b0[2], fma(vec4<f32>(a7.y), b0[1], fma(vec4<f32>(a7.x), b0[0], c7_0))));
        c7_1 = fma(vec4<f32>(a7.w), b1[3], fma(vec4<f32>(a7.z), b1[2], fma(vec4<f32>(a7.y), b1[1], fma(vec4<f32>(a7.x), b1[0], c7_1))));
        c7_2 = fma(vec4<f32>(a7.w), b2[3], fma(vec4<f32>(a7.z), b2[2], fma(vec4<f32>(a7.y), b2[1], fma(vec4<f32>(a7.x), b2[0], c7_2))));
        c7_3 = fma(vec4<f32>(a7.w), b3[3], fma(vec4<f32>(a7.z), b3[2], fma(vec4<f32>(a7.y), b3[1], fma(vec4<f32>(a7.x), b3[0], c7_3))));
    }
    for (; k < p.k; k++) {
        let brow = k * p.b_rs;
        let acol = k * p.a_cs;
        let b0 = load_b4(cb0, brow);
        let b1 = load_b4(cb1, brow);
        let b2 = load_b4(cb2, brow);
        let b3 = load_b4(cb3, brow);
        let a0 = vec4<f32>(lda(ra0 + acol));
        c0_0 = fma(a0, b0, c0_0);
        c0_1 = fma(a0, b1, c0_1);
        c0_2 = fma(a0, b2, c0_2);
        c0_3 = fma(a0, b3, c0_3);
        let a1 = vec4<f32>(lda(ra1 + acol));
        c1_0 = fma(a1, b0, c1_0);
        c1_1 = fma(a1, b1, c1_1);
        c1_2 = fma(a1, b2, c1_2);
        c1_3 = fma(a1, b3, c1_3);
        let a2 = vec4<f32>(lda(ra2 + acol));
        c2_0 = fma(a2, b0, c2_0);
        c2_1 = fma(a2, b1, c2_1);
        c2_2 = fma(a2, b2, c2_2);
        c2_3 = fma(a2, b3, c2_3);
        let a3 = vec4<f32>(lda(ra3 + acol));
        c3_0 = fma(a3, b0, c3_0);
        c3_1 = fma(a3, b1, c3_1);
        c3_2 = fma(a3, b2, c3_2);
        c3_3 = fma(a3, b3, c3_3);
        let a4 = vec4<f32>(lda(ra4 + acol));
        c4_0 = fma(a4, b0, c4_0);
        c4_1 = fma(a4, b1, c4_1);
        c4_2 = fma(a4, b2, c4_2);
        c4_3 = fma(a4, b3, c4_3);
        let a5 = vec4<f32>(lda(ra5 + acol));
        c5_0 = fma(a5, b0, c5_0);
        c5_1 = fma(a5, b1, c5_1);
        c5_2 = fma(a5, b2, c5_2);
        c5_3 = fma(a5, b3, c5_3);
        let a6 = vec4<f32>(lda(ra6 + acol));
        c6_0 = fma(a6, b0, c6_0);
        c6_1 = fma(a6, b1, c6_1);
        c6_2 = fma(a6, b2, c6_2);
        c6_3 = fma(a6, b3, c6_3);
        let a7 = vec4<f32>(lda(ra7 + acol));
        c7_0 = fma(a7, b0, c7_0);
        c7_1 = fma(a7, b1, c7_1);
        c7_2 = fma(a7, b2, c7_2);
        c7_3 = fma(a7, b3, c7_3);
    }
    store4(bs, m0 + 0u, n0 + 0u, c0_0);
    store4(bs, m0 + 0u, n0 + 4u, c0_1);
    store4(bs, m0 + 0u, n0 + 8u, c0_2);
    store4(bs, m0 + 0u, n0 + 12u, c0_3);
    store4(bs, m0 + 1u, n0 + 0u, c1_0);
    store4(bs, m0 + 1u, n0 + 4u, c1_1);
    store4(bs, m0 + 1u, n0 + 8u, c1_2);
    store4(bs, m0 + 1u, n0 + 12u, c1_3);
    store4(bs, m0 + 2u, n0 + 0u, c2_0);
    store4(bs, m0 + 2u, n0 + 4u, c2_1);
    store4(bs, m0 + 2u, n0 + 8u, c2_2);
    store4(bs, m0 + 2u, n0 + 12u, c2_3);
    store4(bs, m0 + 3u, n0 + 0u, c3_0);
    store4(bs, m0 + 3u, n0 + 4u, c3_1);
    store4(bs, m0 + 3u, n0 + 8u, c3_2);
    store4(bs, m0 + 3u, n0 + 12u, c3_3);
    store4(bs, m0 + 4u, n0 + 0u, c4_0);
    store4(bs, m0 + 4u, n0 + 4u, c4_1);
    store4(bs, m0 + 4u, n0 + 8u, c4_2);
    store4(bs, m0 + 4u, n0 + 12u, c4_3);
    store4(bs, m0 + 5u, n0 + 0u, c5_0);
    store4(bs, m0 + 5u, n0 + 4u, c5_1);
    store4(bs, m0 + 5u, n0 + 8u, c5_2);
    store4(bs, m0 + 5u, n0 + 12u, c5_3);
    store4(bs, m0 + 6u, n0 + 0u, c6_0);
    store4(bs, m0 + 6u, n0 + 4u, c6_1);
    store4(bs, m0 + 6u, n0 + 8u, c6_2);
    store4(bs, m0 + 6u, n0 + 12u, c6_3);
    store4(bs, m0 + 7u, n0 + 0u, c7_0);
    store4(bs, m0 + 7u, n0 + 4u, c7_1);
    store4(bs, m0 + 7u, n0 + 8u, c7_2);
    store4(bs, m0 + 7u, n0 + 12u, c7_3);
}

@compute @workgroup_size(CPU_WG, 1, 1)
fn matmul_cpu_4x8(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let n0 = (wid.x * CPU_WG + lid.x) * 8u;
    let m0 = wid.y * 4u;
    // No early return for n0 >= N: lavapipe loads uniform addresses once only where no
    // invocation can have left; those invocations compute clamped columns, store nothing.
    if (touch_epilogue_bindings()) {
        return;
    }
    let bs = bases(p.batch_base + wid.z);
    let ra0 = bs.a + min(m0 + 0u, p.m - 1u) * p.a_rs;
    let ra1 = bs.a + min(m0 + 1u, p.m - 1u) * p.a_rs;
    let ra2 = bs.a + min(m0 + 2u, p.m - 1u) * p.a_rs;
    let ra3 = bs.a + min(m0 + 3u, p.m - 1u) * p.a_rs;
    let cb0 = b_cols(bs.b, n0 + 0u);
    let cb1 = b_cols(bs.b, n0 + 4u);
    var c0_0 = vec4<f32>(0.0);
    var c0_1 = vec4<f32>(0.0);
    var c1_0 = vec4<f32>(0.0);
    var c1_1 = vec4<f32>(0.0);
    var c2_0 = vec4<f32>(0.0);
    var c2_1 = vec4<f32>(0.0);
    var c3_0 = vec4<f32>(0.0);
    var c3_1 = vec4<f32>(0.0);
    var k = 0u;
    let k4 = p.k & ~3u;
    for (; k < k4; k += 4u) {
        let a0 = load_a4(ra0, k);
        let a1 = load_a4(ra1, k);
        let a2 = load_a4(ra2, k);
        let a3 = load_a4(ra3, k);
        let b0 = load_b4x4(cb0, k);
        let b1 = load_b4x4(cb1, k);
        c0_0 = fma(vec4<f32>(a0.w), b0[3], fma(vec4<f32>(a0.z), b0[2], fma(vec4<f32>(a0.y), b0[1], fma(vec4<f32>(a0.x), b0[0], c0_0))));
        c0_1 = fma(vec4<f32>(a0.w), b1[3], fma(vec4<f32>(a0.z), b1[2], fma(vec4<f32>(a0.y), b1[1], fma(vec4<f32>(a0.x), b1[0], c0_1))));
        c1_0 = fma(vec4<f32>(a1.w), b0[3], fma(vec4<f32>(a1.z), b0[2], fma(vec4<f32>(a1.y), b0[1], fma(vec4<f32>(a1.x), b0[0], c1_0))));
        c1_1 = fma(vec4<f32>(a1.w), b1[3], fma(vec4<f32>(a1.z), b1[2], fma(vec4<f32>(a1.y), b1[1], fma(vec4<f32>(a1.x), b1[0], c1_1))));
        c2_0 = fma(vec4<f32>(a2.w), b0[3], fma(vec4<f32>(a2.z), b0[2], fma(vec4<f32>(a2.y), b0[1], fma(vec4<f32>(a2.x), b0[0], c2_0))));
        c2_1 = fma(vec4<f32>(a2.w), b1[3], fma(vec4<f32>(a2.z), b1[2], fma(vec4<f32>(a2.y), b1[1], fma(vec4<f32>(a2.x), b1[0], c2_1))));
        c3_0 = fma(vec4<f32>(a3.w), b0[3], fma(vec4<f32>(a3.z), b0[2], fma(vec4<f32>(a3.y), b0[1], fma(vec4<f32>(a3.x), b0[0], c3_0))));
        c3_1 = fma(vec4<f32>(a3.w), b1[3], fma(vec4<f32>(a3.z), b1[2], fma(vec4<f32>(a3.y), b1[1], fma(vec4<f32>(a3.x), b1[0], c3_1))));
    }
    for (; k < p.k; k++) {
        let brow = k * p.b_rs;
        let acol = k * p.a_cs;
        let b0 = load_b4(cb0, brow);
        let b1 = load_b4(cb1, brow);
        let a0 = vec4<f32>(lda(ra0 + acol));
        c0_0 = fma(a0, b0, c0_0);
        c0_1 = fma(a0, b1, c0_1);
        let a1 = vec4<f32>(lda(ra1 + acol));
        c1_0 = fma(a1, b0, c1_0);
        c1_1 = fma(a1, b1, c1_1);
        let a2 = vec4<f32>(lda(ra2 + acol));
        c2_0 = fma(a2, b0, c2_0);
        c2_1 = fma(a2, b1, c2_1);
        let a3 = vec4<f32>(lda(ra3 + acol));
        c3_0 = fma(a3, b0, c3_0);
        c3_1 = fma(a3, b1, c3_1);
    }
    store4(bs, m0 + 0u, n0 + 0u, c0_0);
    store4(bs, m0 + 0u, n0 + 4u, c0_1);
    store4(bs, m0 + 1u, n0 + 0u, c1_0);
    store4(bs, m0 + 1u, n0 + 4u, c1_1);
    store4(bs, m0 + 2u, n0 + 0u, c2_0);
    store4(bs, m0 + 2u, n0 + 4u, c2_1);
    store4(bs, m0 + 3u, n0 + 0u, c3_0);
    store4(bs, m0 + 3u, n0 + 4u, c3_1);
}

@compute @workgroup_size(CPU_WG, 1, 1)
fn matmul_cpu_tex_32x16(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let n0 = (wid.x * CPU_WG + lid.x) * 16u;
    let m0 = wid.y * 32u;
    // No early return for n0 >= N: lavapipe loads uniform addresses once only where no
    // invocation can have left; those invocations compute clamped columns, store nothing.
    if (touch_epilogue_bindings()) {
        return;
    }
    let bs = bases(p.batch_base + wid.z);
    let ra0 = bs.a + min(m0 + 0u, p.m - 1u) * p.a_rs;
    let ra1 = bs.a + min(m0 + 1u, p.m - 1u) * p.a_rs;
    let ra2 = bs.a + min(m0 + 2u, p.m - 1u) * p.a_rs;
    let ra3 = bs.a + min(m0 + 3u, p.m - 1u) * p.a_rs;
    let ra4 = bs.a + min(m0 + 4u, p.m - 1u) * p.a_rs;
    let ra5 = bs.a + min(m0 + 5u, p.m - 1u) * p.a_rs;
    let ra6 = bs.a + min(m0 + 6u, p.m - 1u) * p.a_rs;
    let ra7 = bs.a + min(m0 + 7u, p.m - 1u) * p.a_rs;
    let ra8 = bs.a + min(m0 + 8u, p.m - 1u) * p.a_rs;
    let ra9 = bs.a + min(m0 + 9u, p.m - 1u) * p.a_rs;
    let ra10 = bs.a + min(m0 + 10u, p.m - 1u) * p.a_rs;
    let ra11 = bs.a + min(m0 + 11u, p.m - 1u) * p.a_rs;
    let ra12 = bs.a + min(m0 + 12u, p.m - 1u) * p.a_rs;
    let ra13 = bs.a + min(m0 + 13u, p.m - 1u) * p.a_rs;
    let ra14 = bs.a + min(m0 + 14u, p.m - 1u) * p.a_rs;
    let ra15 = bs.a + min(m0 + 15u, p.m - 1u) * p.a_rs;
    let ra16 = bs.a + min(m0 + 16u, p.m - 1u) * p.a_rs;
    let ra17 = bs.a + min(m0 + 17u, p.m - 1u) * p.a_rs;
    let ra18 = bs.a + min(m0 + 18u, p.m - 1u) * p.a_rs;
    let ra19 = bs.a + min(m0 + 19u, p.m - 1u) * p.a_rs;
    let ra20 = bs.a + min(m0 + 20u, p.m - 1u) * p.a_rs;
    let ra21 = bs.a + min(m0 + 21u, p.m - 1u) * p.a_rs;
    let ra22 = bs.a + min(m0 + 22u, p.m - 1u) * p.a_rs;
    let ra23 = bs.a + min(m0 + 23u, p.m - 1u) * p.a_rs;
    let ra24 = bs.a + min(m0 + 24u, p.m - 1u) * p.a_rs;
    let ra25 = bs.a + min(m0 + 25u, p.m - 1u) * p.a_rs;
    let ra26 = bs.a + min(m0 + 26u, p.m - 1u) * p.a_rs;
    let ra27 = bs.a + min(m0 + 27u, p.m - 1u) * p.a_rs;
    let ra28 = bs.a + min(m0 + 28u, p.m - 1u) * p.a_rs;
    let ra29 = bs.a + min(m0 + 29u, p.m - 1u) * p.a_rs;
    let ra30 = bs.a + min(m0 + 30u, p.m - 1u) * p.a_rs;
    let ra31 = bs.a + min(m0 + 31u, p.m - 1u) * p.a_rs;
    let cb0 = tex_col(n0 + 0u);
    let cb1 = tex_col(n0 + 4u);
    let cb2 = tex_col(n0 + 8u);
    let cb3 = tex_col(n0 + 12u);
    var c0_0 = vec4<f32>(0.0);
    var c0_1 = vec4<f32>(0.0);
    var c0_2 = vec4<f32>(0.0);
    var c0_3 = vec4<f32>(0.0);
    var c1_0 = vec4<f32>(0.0);
    var c1_1 = vec4<f32>(0.0);
    var c1_2 = vec4<f32>(0.0);
    var c1_3 = vec4<f32>(0.0);
    var c2_0 = vec4<f32>(0.0);
    var c2_1 = vec4<f32>(0.0);
    var c2_2 = vec4<f32>(0.0);
    var c2_3 = vec4<f32>(0.0);
    var c3_0 = vec4<f32>(0.0);
    var c3_1 = vec4<f32>(0.0);
    var c3_2 = vec4<f32>(0.0);
    var c3_3 = vec4<f32>(0.0);
    var c4_0 = vec4<f32>(0.0);
    var c4_1 = vec4<f32>(0.0);
    var c4_2 = vec4<f32>(0.0);
    var c4_3 = vec4<f32>(0.0);
    var c5_0 = vec4<f32>(0.0);
    var c5_1 = vec4<f32>(0.0);
    var c5_2 = vec4<f32>(0.0);
    var c5_3 = vec4<f32>(0.0);
    var c6_0 = vec4<f32>(0.0);
    var c6_1 = vec4<f32>(0.0);
    var c6_2 = vec4<f32>(0.0);
    var c6_3 = vec4<f32>(0.0);
    var c7_0 = vec4<f32>(0.0);
    var c7_1 = vec4<f32>(0.0);
    var c7_2 = vec4<f32>(0.0);
    var c7_3 = vec4<f32>(0.0);
    var c8_0 = vec4<f32>(0.0);
    var c8_1 = vec4<f32>(0.0);
    var c8_2 = vec4<f32>(0.0);
    var c8_3 = vec4<f32>(0.0);
    var c9_0 = vec4<f32>(0.0);
    var c9_1 = vec4<f32>(0.0);
    var c9_2 = vec4<f32>(0.0);
    var c9_3 = vec4<f32>(0.0);
    var c10_0 = vec4<f32>(0.0);
    var c10_1 = vec4<f32>(0.0);
    var c10_2 = vec4<f32>(0.0);
    var c10_3 = vec4<f32>(0.0);
    var c11_0 = vec4<f32>(0.0);
    var c11_1 = vec4<f32>(0.0);
    var c11_2 = vec4<f32>(0.0);
    var c11_3 = vec4<f32>(0.0);
    var c12_0 = vec4<f32>(0.0);
    var c12_1 = vec4<f32>(0.0);
    var c12_2 = vec4<f32>(0.0);
    var c12_3 = vec4<f32>(0.0);
    var c13_0 = vec4<f32>(0.0);
    var c13_1 = vec4<f32>(0.0);
    var c13_2 = vec4<f32>(0.0);
    var c13_3 = vec4<f32>(0.0);
    var c14_0 = vec4<f32>(0.0);
    var c14_1 = vec4<f32>(0.0);
    var c14_2 = vec4<f32>(0.0);
    var c14_3 = vec4<f32>(0.0);
    var c15_0 = vec4<f32>(0.0);
    var c15_1 = vec4<f32>(0.0);
    var c15_2 = vec4<f32>(0.0);
    var c15_3 = vec4<f32>(0.0);
    var c16_0 = vec4<f32>(0.0);
    var c16_1 = vec4<f32>(0.0);
    var c16_2 = vec4<f32>(0.0);
    var c16_3 = vec4<f32>(0.0);
    var c17_0 = vec4<f32>(0.0);
    var c17_1 = vec4<f32>(0.0);
    var c17_2 = vec4<f32>(0.0);
    var c17_3 = vec4<f32>(0.0);
    var c18_0 = vec4<f32>(0.0);
    var c18_1 = vec4<f32>(0.0);
    var c18_2 = vec4<f32>(0.0);
    var c18_3 = vec4<f32>(0.0);
    var c19_0 = vec4<f32>(0.0);
    var c19_1 = vec4<f32>(0.0);
    var c19_2 = vec4<f32>(0.0);
    var c19_3 = vec4<f32>(0.0);
    var c20_0 = vec4<f32>(0.0);
    var c20_1 = vec4<f32>(0.0);
    var c20_2 = vec4<f32>(0.0);
    var c20_3 = vec4<f32>(0.0);
    var c21_0 = vec4<f32>(0.0);
    var c21_1 = vec4<f32>(0.0);
    var c21_2 = vec4<f32>(0.0);
    var c21_3 = vec4<f32>(0.0);
    var c22_0 = vec4<f32>(0.0);
    var c22_1 = vec4<f32>(0.0);
    var c22_2 = vec4<f32>(0.0);
    var c22_3 = vec4<f32>(0.0);
    var c23_0 = vec4<f32>(0.0);
    var c23_1 = vec4<f32>(0.0);
    var c23_2 = vec4<f32>(0.0);
    var c23_3 = vec4<f32>(0.0);
    var c24_0 = vec4<f32>(0.0);
    var c24_1 = vec4<f32>(0.0);
    var c24_2 = vec4<f32>(0.0);
    var c24_3 = vec4<f32>(0.0);
    var c25_0 = vec4<f32>(0.0);
    var c25_1 = vec4<f32>(0.0);
    var c25_2 = vec4<f32>(0.0);
    var c25_3 = vec4<f32>(0.0);
    var c26_0 = vec4<f32>(0.0);
    var c26_1 = vec4<f32>(0.0);
    var c26_2 = vec4<f32>(0.0);
    var c26_3 = vec4<f32>(0.0);
    var c27_0 = vec4<f32>(0.0);
    var c27_1 = vec4<f32>(0.0);
    var c27_2 = vec4<f32>(0.0);
    var c27_3 = vec4<f32>(0.0);
    var c28_0 = vec4<f32>(0.0);
    var c28_1 = vec4<f32>(0.0);
    var c28_2 = vec4<f32>(0.0);
    var c28_3 = vec4<f32>(0.0);
    var c29_0 = vec4<f32>(0.0);
    var c29_1 = vec4<f32>(0.0);
    var c29_2 = vec4<f32>(0.0);
    var c29_3 = vec4<f32>(0.0);
    var c30_0 = vec4<f32>(0.0);
    var c30_1 = vec4<f32>(0.0);
    var c30_2 = vec4<f32>(0.0);
    var c30_3 = vec4<f32>(0.0);
    var c31_0 = vec4<f32>(0.0);
    var c31_1 = vec4<f32>(0.0);
    var c31_2 = vec4<f32>(0.0);
    var c31_3 = vec4<f32>(0.0);
    var k = 0u;
    let k4 = p.k & ~3u;
    for (; k < k4; k += 4u) {
        let a0 = load_a4(ra0, k);
        let a1 = load_a4(ra1, k);
        let a2 = load_a4(ra2, k);
        let a3 = load_a4(ra3, k);
        let a4 = load_a4(ra4, k);
        let a5 = load_a4(ra5, k);
        let a6 = load_a4(ra6, k);
        let a7 = load_a4(ra7, k);
        let a8 = load_a4(ra8, k);
        let a9 = load_a4(ra9, k);
        let a10 = load_a4(ra10, k);
        let a11 = load_a4(ra11, k);
        let a12 = load_a4(ra12, k);
        let a13 = load_a4(ra13, k);
        let a14 = load_a4(ra14, k);
        let a15 = load_a4(ra15, k);
        let a16 = load_a4(ra16, k);
        let a17 = load_a4(ra17, k);
        let a18 = load_a4(ra18, k);
        let a19 = load_a4(ra19, k);
        let a20 = load_a4(ra20, k);
        let a21 = load_a4(ra21, k);
        let a22 = load_a4(ra22, k);
        let a23 = load_a4(ra23, k);
        let a24 = load_a4(ra24, k);
        let a25 = load_a4(ra25, k);
        let a26 = load_a4(ra26, k);
        let a27 = load_a4(ra27, k);
        let a28 = load_a4(ra28, k);
        let a29 = load_a4(ra29, k);
        let a30 = load_a4(ra30, k);
        let a31 = load_a4(ra31, k);
        let b0 = load_btex4x4(cb0, k);
        let b1 = load_btex4x4(cb1, k);
        let b2 = load_btex4x4(cb2, k);
        let b3 = load_btex4x4(cb3, k);
        c0_0 = fma(vec4<f32>(a0.w), b0[3], fma(vec4<f32>(a0.z), b0[2], fma(vec4<f32>(a0.y), b0[1], fma(vec4<f32>(a0.x), b0[0], c0_0))));
        c0_1 = fma(vec4<f32>(a0.w), b1[3], fma(vec4<f32>(a0.z), b1[2], fma(vec4<f32>(a0.y), b1[1], fma(vec4<f32>(a0.x), b1[0], c0_1))));
        c0_2 = fma(vec4<f32>(a0.w), b2[3], fma(vec4<f32>(a0.z), b2[2], fma(vec4<f32>(a0.y), b2[1], fma(vec4<f32>(a0.x), b2[0], c0_2))));
        c0_3 = fma(vec4<f32>(a0.w), b3[3], fma(vec4<f32>(a0.z), b3[2], fma(vec4<f32>(a0.y), b3[1], fma(vec4<f32>(a0.x), b3[0], c0_3))));
        c1_0 = fma(vec4<f32>(a1.w), b0[3], fma(vec4<f32>(a1.z), b0[2], fma(vec4<f32>(a1.y), b0[1], fma(vec4<f32>(a1.x), b0[0], c1_0))));
        c1_1 = fma(vec4<f32>(a1.w), b1[3], fma(vec4<f32>(a1.z), b1[2], fma(vec4<f32>(a1.y), b1[1], fma(vec4<f32>(a1.x), b1[0], c1_1))));
        c1_2 = fma(vec4<f32>(a1.w), b2[3], fma(vec4<f32>(a1.z), b2[2], fma(vec4<f32>(a1.y), b2[1], fma(vec4<f32>(a1.x), b2[0], c1_2))));
        c1_3 = fma(vec4<f32>(a1.w), b3[3], fma(vec4<f32>(a1.z), b3[2], fma(vec4<f32>(a1.y), b3[1], fma(vec4<f32>(a1.x), b3[0], c1_3))));
        c2_0 = fma(vec4<f32>(a2.w), b0[3], fma(vec4<f32>(a2.z), b0[2], fma(vec4<f32>(a2.y), b0[1], fma(vec4<f32>(a2.x), b0[0], c2_0))));
        c2_1 = fma(vec4<f32>(a2.w), b1[3], fma(vec4<f32>(a2.z), b1[2], fma(vec4<f32>(a2.y), b1[1], fma(vec4<f32>(a2.x), b1[0], c2_1))));
        c2_2 = fma(vec4<f32>(a2.w), b2[3], fma(vec4<f32>(a2.z), b2[2], fma(vec4<f32>(a2.y), b2[1], fma(vec4<f32>(a2.x), b2[0], c2_2))));
        c2_3 = fma(vec4<f32>(a2.w), b3[3], fma(vec4<f32>(a2.z), b3[2], fma(vec4<f32>(a2.y), b3[1], fma(vec4<f32>(a2.x), b3[0], c2_3))));
        c3_0 = fma(vec4<f32>(a3.w), b0[3], fma(vec4<f32>(a3.z), b0[2], fma(vec4<f32>(a3.y), b0[1], fma(vec4<f32>(a3.x), b0[0], c3_0))));
        c3_1 = fma(vec4<f32>(a3.w), b1[3], fma(vec4<f32>(a3.z), b1[2], fma(vec4<f32>(a3.y), b1[1], fma(vec4<f32>(a3.x), b1[0], c3_1))));
        c3_2 = fma(vec4<f32>(a3.w), b2[3], fma(vec4<f32>(a3.z), b2[2], fma(vec4<f32>(a3.y), b2[1], fma(vec4<f32>(a3.x), b2[0], c3_2))));
        c3_3 = fma(vec4<f32>(a3.w), b3[3], fma(vec4<f32>(a3.z), b3[2], fma(vec4<f32>(a3.y), b3[1], fma(vec4<f32>(a3.x), b3[0], c3_3))));
        c4_0 = fma(vec4<f32>(a4.w), b0[3], fma(vec4<f32>(a4.z), b0[2], fma(vec4<f32>(a4.y), b0[1], fma(vec4<f32>(a4.x), b0[0], c4_0))));
        c4_1 = fma(vec4<f32>(a4.w), b1[3], fma(vec4<f32>(a4.z), b1[2], fma(vec4<f32>(a4.y), b1[1], fma(vec4<f32>(a4.x), b1[0], c4_1))));
        c4_2 = fma(vec4<f32>(a4.w), b2[3], fma(vec4<f32>(a4.z), b2[2], fma(vec4<f32>(a4.y), b2[1], fma(vec4<f32>(a4.x), b2[0], c4_2))));
        c4_3 = fma(vec4<f32>(a4.w), b3[3], fma(vec4<f32>(a4.z), b3[2], fma(vec4<f32>(a4.y), b3[1], fma(vec4<f32>(a4.x), b3[0], c4_3))));
        c5_0 = fma(vec4<f32>(a5.w), b0[3], fma(vec4<f32>(a5.z), b0[2], fma(vec4<f32>(a5.y), b0[1], fma(vec4<f32>(a5.x), b0[0], c5_0))));
        c5_1 = fma(vec4<f32>(a5.w), b1[3], fma(vec4<f32>(a5.z), b1[2], fma(vec4<f32>(a5.y), b1[1], fma(vec4<f32>(a5.x), b1[0], c5_1))));
        c5_2 = fma(vec4<f32>(a5.w), b2[3], fma(vec4<f32>(a5.z), b2[2], fma(vec4<f32>(a5.y), b2[1], fma(vec4<f32>(a5.x), b2[0], c5_2))));
        c5_3 = fma(vec4<f32>(a5.w), b3[3], fma(vec4<f32>(a5.z), b3[2], fma(vec4<f32>(a5.y), b3[1], fma(vec4<f32>(a5.x), b3[0], c5_3))));
        c6_0 = fma(vec4<f32>(a6.w), b0[3], fma(vec4<f32>(a6.z), b0[2], fma(vec4<f32>(a6.y), b0[1], fma(vec4<f32>(a6.x), b0[0], c6_0))));
        c6_1 = fma(vec4<f32>(a6.w), b1[3], fma(vec4<f32>(a6.z), b1[2], fma(vec4<f32>(a6.y), b1[1], fma(vec4<f32>(a6.x), b1[0], c6_1))));
        c6_2 = fma(vec4<f32>(a6.w), b2[3], fma(vec4<f32>(a6.z), b2[2], fma(vec4<f32>(a6.y), b2[1], fma(vec4<f32>(a6.x), b2[0], c6_2))));
        c6_3 = fma(vec4<f32>(a6.w), b3[3], fma(vec4<f32>(a6.z), b3[2], fma(vec4<f32>(a6.y), b3[1], fma(vec4<f32>(a6.x), b3[0], c6_3))));
        c7_0 = fma(vec4<f32>(a7.w), b0[3], fma(vec4<f32>(a7.z), b0[2], fma(vec4<f32>(a7.y), b0[1], fma(vec4<f32>(a7.x), b0[0], c7_0))));
        c7_1 = fma(vec4<f32>(a7.w), b1[3], fma(vec4<f32>(a7.z), b1[2], fma(vec4<f32>(a7.y), b1[1], fma(vec4<f32>(a7.x), b1[0], c7_1))));
        c7_2 = fma(vec4<f32>(a7.w), b2[3], fma(vec4<f32>(a7.z), b2[2], fma(vec4<f32>(a7.y), b2[1], fma(vec4<f32>(a7.x), b2[0], c7_2))));
        c7_3 = fma(vec4<f32>(a7.w), b3[3], fma(vec4<f32>(a7.z), b3[2], fma(vec4<f32>(a7.y), b3[1], fma(vec4<f32>(a7.x), b3[0], c7_3))));
        c8_0 = fma(vec4<f32>(a8.w), b0[3], fma(vec4<f32>(a8.z), b0[2], fma(vec4<f32>(a8.y), b0[1], fma(vec4<f32>(a8.x), b0[0], c8_0))));
        c8_1 = fma(vec4<f32>(a8.w), b1[3], fma(vec4<f32>(a8.z), b1[2], fma(vec4<f32>(a8.y), b1[1], fma(vec4<f32>(a8.x), b1[0], c8_1))));
        c8_2 = fma(vec4<f32>(a8.w), b2[3], fma(vec4<f32>(a8.z), b2[2], fma(vec4<f32>(a8.y), b2[1], fma(vec4<f32>(a8.x), b2[0], c8_2))));
        c8_3 = fma(vec4<f32>(a8.w), b3[3], fma(vec4<f32>(a8.z), b3[2], fma(vec4<f32>(a8.y), b3[1], fma(vec4<f32>(a8.x), b3[0], c8_3))));
        c9_0 = fma(vec4<f32>(a9.w), b0[3], fma(vec4<f32>(a9.z), b0[2], fma(vec4<f32>(a9.y), b0[1], fma(vec4<f32>(a9.x), b0[0], c9_0))));
        c9_1 = fma(vec4<f32>(a9.w), b1[3], fma(vec4<f32>(a9.z), b1[2], fma(vec4<f32>(a9.y), b1[1], fma(vec4<f32>(a9.x), b1[0], c9_1))));
        c9_2 = fma(vec4<f32>(a9.w), b2[3], fma(vec4<f32>(a9.z), b2[2], fma(vec4<f32>(a9.y), b2[1], fma(vec4<f32>(a9.x), b2[0], c9_2))));
        c9_3 = fma(vec4<f32>(a9.w), b3[3], fma(vec4<f32>(a9.z), b3[2], fma(vec4<f32>(a9.y), b3[1], fma(vec4<f32>(a9.x), b3[0], c9_3))));
        c10_0 = fma(vec4<f32>(a10.w), b0[3], fma(vec4<f32>(a10.z), b0[2], fma(vec4<f32>(a10.y), b0[1], fma(vec4<f32>(a10.x), b0[0], c10_0))));
        c10_1 = fma(vec4<f32>(a10.w), b1[3], fma(vec4<f32>(a10.z), b1[2], fma(vec4<f32>(a10.y), b1[1], fma(vec4<f32>(a10.x), b1[0], c10_1))));
        c10_2 = fma(vec4<f32>(a10.w), b2[3], fma(vec4<f32>(a10.z), b2[2], fma(vec4<f32>(a10.y), b2[1], fma(vec4<f32>(a10.x), b2[0], c10_2))));
        c10_3 = fma(vec4<f32>(a10.w), b3[3], fma(vec4<f32>(a10.z), b3[2], fma(vec4<f32>(a10.y), b3[1], fma(vec4<f32>(a10.x), b3[0], c10_3))));
        c11_0 = fma(vec4<f32>(a11.w), b0[3], fma(vec4<f32>(a11.z), b0[2], fma(vec4<f32>(a11.y), b0[1], fma(vec4<f32>(a11.x), b0[0], c11_0))));
        c11_1 = fma(vec4<f32>(a11.w), b1[3], fma(vec4<f32>(a11.z), b1[2], fma(vec4<f32>(a11.y), b1[1], fma(vec4<f32>(a11.x), b1[0], c11_1))));
        c11_2 = fma(vec4<f32>(a11.w), b2[3], fma(vec4<f32>(a11.z), b2[2], fma(vec4<f32>(a11.y), b2[1], fma(vec4<f32>(a11.x), b2[0], c11_2))));
        c11_3 = fma(vec4<f32>(a11.w), b3[3], fma(vec4<f32>(a11.z), b3[2], fma(vec4<f32>(a11.y), b3[1], fma(vec4<f32>(a11.x), b3[0], c11_3))));
        c12_0 = fma(vec4<f32>(a12.w), b0[3], fma(vec4<f32>(a12.z), b0[2], fma(vec4<f32>(a12.y), b0[1], fma(vec4<f32>(a12.x), b0[0], c12_0))));
        c12_1 = fma(vec4<f32>(a12.w), b1[3], fma(vec4<f32>(a12.z), b1[2], fma(vec4<f32>(a12.y), b1[1], fma(vec4<f32>(a12.x), b1[0], c12_1))));
        c12_2 = fma(vec4<f32>(a12.w), b2[3], fma(vec4<f32>(a12.z), b2[2], fma(vec4<f32>(a12.y), b2[1], fma(vec4<f32>(a12.x), b2[0], c12_2))));
        c12_3 = fma(vec4<f32>(a12.w), b3[3], fma(vec4<f32>(a12.z), b3[2], fma(vec4<f32>(a12.y), b3[1], fma(vec4<f32>(a12.x), b3[0], c12_3))));
        c13_0 = fma(vec4<f32>(a13.w), b0[3], fma(vec4<f32>(a13.z), b0[2], fma(vec4<f32>(a13.y), b0[1], fma(vec4<f32>(a13.x), b0[0], c13_0))));
        c13_1 = fma(vec4<f32>(a13.w), b1[3], fma(vec4<f32>(a13.z), b1[2], fma(vec4<f32>(a13.y), b1[1], fma(vec4<f32>(a13.x), b1[0], c13_1))));
        c13_2 = fma(vec4<f32>(a13.w), b2[3], fma(vec4<f32>(a13.z), b2[2], fma(vec4<f32>(a13.y), b2[1], fma(vec4<f32>(a13.x), b2[0], c13_2))));
        c13_3 = fma(vec4<f32>(a13.w), b3[3], fma(vec4<f32>(a13.z), b3[2], fma(vec4<f32>(a13.y), b3[1], fma(vec4<f32>(a13.x), b3[0], c13_3))));
        c14_0 = fma(vec4<f32>(a14.w), b0[3], fma(vec4<f32>(a14.z), b0[2], fma(vec4<f32>(a14.y), b0[1], fma(vec4<f32>(a14.x), b0[0], c14_0))));
        c14_1 = fma(vec4<f32>(a14.w), b1[3], fma(vec4<f32>(a14.z), b1[2], fma(vec4<f32>(a14.y), b1[1], fma(vec4<f32>(a14.x), b1[0], c14_1))));
        c14_2 = fma(vec4<f32>(a14.w), b2[3], fma(vec4<f32>(a14.z), b2[2], fma(vec4<f32>(a14.y), b2[1], fma(vec4<f32>(a14.x), b2[0], c14_2))));
        c14_3 = fma(vec4<f32>(a14.w), b3[3], fma(vec4<f32>(a14.z), b3[2], fma(vec4<f32>(a14.y), b3[1], fma(vec4<f32>(a14.x), b3[0], c14_3))));
        c15_0 = fma(vec4<f32>(a15.w), b0[3], fma(vec4<f32>(a15.z), b0[2], fma(vec4<f32>(a15.y), b0[1], fma(vec4<f32>(a15.x), b0[0], c15_0))));
        c15_1 = fma(vec4<f32>(a15.w), b1[3], fma(vec4<f32>(a15.z), b1[2], fma(vec4<f32>(a15.y), b1[1], fma(vec4<f32>(a15.x), b1[0], c15_1))));
        c15_2 = fma(vec4<f32>(a15.w), b2[3], fma(vec4<f32>(a15.z), b2[2], fma(vec4<f32>(a15.y), b2[1], fma(vec4<f32>(a15.x), b2[0], c15_2))));
        c15_3 = fma(vec4<f32>(a15.w), b3[3], fma(vec4<f32>(a15.z), b3[2], fma(vec4<f32>(a15.y), b3[1], fma(vec4<f32>(a15.x), b3[0], c15_3))));
        c16_0 = fma(vec4<f32>(a16.w), b0[3], fma(vec4<f32>(a16.z), b0[2], fma(vec4<f32>(a16.y), b0[1], fma(vec4<f32>(a16.x), b0[0], c16_0))));
        c16_1 = fma(vec4<f32>(a16.w), b1[3], fma(vec4<f32>(a16.z), b1[2], fma(vec4<f32>(a16.y), b1[1], fma(vec4<f32>(a16.x), b1[0], c16_1))));
        c16_2 = fma(vec4<f32>(a16.w), b2[3], fma(vec4<f32>(a16.z), b2[2], fma(vec4<f32>(a16.y), b2[1], fma(vec4<f32>(a16.x), b2[0], c16_2))));
        c16_3 = fma(vec4<f32>(a16.w), b3[3], fma(vec4<f32>(a16.z), b3[2], fma(vec4<f32>(a16.y), b3[1], fma(vec4<f32>(a16.x), b3[0], c16_3))));
        c17_0 = fma(vec4<f32>(a17.w), b0[3], fma(vec4<f32>(a17.z), b0[2], fma(vec4<f32>(a17.y), b0[1], fma(vec4<f32>(a17.x), b0[0], c17_0))));
        c17_1 = fma(vec4<f32>(a17.w), b1[3], fma(vec4<f32>(a17.z), b1[2], fma(vec4<f32>(a17.y), b1[1], fma(vec4<f32>(a17.x), b1[0], c17_1))));
        c17_2 = fma(vec4<f32>(a17.w), b2[3], fma(vec4<f32>(a17.z), b2[2], fma(vec4<f32>(a17.y), b2[1], fma(vec4<f32>(a17.x), b2[0], c17_2))));
        c17_3 = fma(vec4<f32>(a17.w), b3[3], fma(vec4<f32>(a17.z), b3[2], fma(vec4<f32>(a17.y), b3[1], fma(vec4<f32>(a17.x), b3[0], c17_3))));
        c18_0 = fma(vec4<f32>(a18.w), b0[3], fma(vec4<f32>(a18.z), b0[2], fma(vec4<f32>(a18.y), b0[1], fma(vec4<f32>(a18.x), b0[0], c18_0))));
        c18_1 = fma(vec4<f32>(a18.w), b1[3], fma(vec4<f32>(a18.z), b1[2], fma(vec4<f32>(a18.y), b1[1], fma(vec4<f32>(a18.x), b1[0], c18_1))));
        c18_2 = fma(vec4<f32>(a18.w), b2[3], fma(vec4<f32>(a18.z), b2[2], fma(vec4<f32>(a18.y), b2[1], fma(vec4<f32>(a18.x), b2[0], c18_2))));
        c18_3 = fma(vec4<f32>(a18.w), b3[3], fma(vec4<f32>(a18.z), b3[2], fma(vec4<f32>(a18.y), b3[1], fma(vec4<f32>(a18.x), b3[0], c18_3))));
        c19_0 = fma(vec4<f32>(a19.w), b0[3], fma(vec4<f32>(a19.z), b0[2], fma(vec4<f32>(a19.y), b0[1], fma(vec4<f32>(a19.x), b0[0], c19_0))));
        c19_1 = fma(vec4<f32>(a19.w), b1[3], fma(vec4<f32>(a19.z), b1[2], fma(vec4<f32>(a19.y), b1[1], fma(vec4<f32>(a19.x), b1[0], c19_1))));
        c19_2 = fma(vec4<f32>(a19.w), b2[3], fma(vec4<f32>(a19.z), b2[2], fma(vec4<f32>(a19.y), b2[1], fma(vec4<f32>(a19.x), b2[0], c19_2))));
        c19_3 = fma(vec4<f32>(a19.w), b3[3], fma(vec4<f32>(a19.z), b3[2], fma(vec4<f32>(a19.y), b3[1], fma(vec4<f32>(a19.x), b3[0], c19_3))));
        c20_0 = fma(vec4<f32>(a20.w), b0[3], fma(vec4<f32>(a20.z), b0[2], fma(vec4<f32>(a20.y), b0[1], fma(vec4<f32>(a20.x), b0[0], c20_0))));
        c20_1 = fma(vec4<f32>(a20.w), b1[3], fma(vec4<f32>(a20.z), b1[2], fma(vec4<f32>(a20.y), b1[1], fma(vec4<f32>(a20.x), b1[0], c20_1))));
        c20_2 = fma(vec4<f32>(a20.w), b2[3], fma(vec4<f32>(a20.z), b2[2], fma(vec4<f32>(a20.y), b2[1], fma(vec4<f32>(a20.x), b2[0], c20_2))));
        c20_3 = fma(vec4<f32>(a20.w), b3[3], fma(vec4<f32>(a20.z), b3[2], fma(vec4<f32>(a20.y), b3[1], fma(vec4<f32>(a20.x), b3[0], c20_3))));
        c21_0 = fma(vec4<f32>(a21.w), b0[3], fma(vec4<f32>(a21.z), b0[2], fma(vec4<f32>(a21.y), b0[1], fma(vec4<f32>(a21.x), b0[0], c21_0))));
        c21_1 = fma(vec4<f32>(a21.w), b1[3], fma(vec4<f32>(a21.z), b1[2], fma(vec4<f32>(a21.y), b1[1], fma(vec4<f32>(a21.x), b1[0], c21_1))));
        c21_2 = fma(vec4<f32>(a21.w), b2[3], fma(vec4<f32>(a21.z), b2[2], fma(vec4<f32>(a21.y), b2[1], fma(vec4<f32>(a21.x), b2[0], c21_2))));
        c21_3 = fma(vec4<f32>(a21.w), b3[3], fma(vec4<f32>(a21.z), b3[2], fma(vec4<f32>(a21.y), b3[1], fma(vec4<f32>(a21.x), b3[0], c21_3))));
        c22_0 = fma(vec4<f32>(a22.w), b0[3], fma(vec4<f32>(a22.z), b0[2], fma(vec4<f32>(a22.y), b0[1], fma(vec4<f32>(a22.x), b0[0], c22_0))));
        c22_1 = fma(vec4<f32>(a22.w), b1[3], fma(vec4<f32>(a22.z), b1[2], fma(vec4<f32>(a22.y), b1[1], fma(vec4<f32>(a22.x), b1[0], c22_1))));
        c22_2 = fma(vec4<f32>(a22.w), b2[3], fma(vec4<f32>(a22.z), b2[2], fma(vec4<f32>(a22.y), b2[1], fma(vec4<f32>(a22.x), b2[0], c22_2))));
        c22_3 = fma(vec4<f32>(a22.w), b3[3], fma(vec4<f32>(a22.z), b3[2], fma(vec4<f32>(a22.y), b3[1], fma(vec4<f32>(a22.x), b3[0], c22_3))));
        c23_0 = fma(vec4<f32>(a23.w), b0[3], fma(vec4<f32>(a23.z), b0[2], fma(vec4<f32>(a23.y), b0[1], fma(vec4<f32>(a23.x), b0[0], c23_0))));
        c23_1 = fma(vec4<f32>(a23.w), b1[3], fma(vec4<f32>(a23.z), b1[2], fma(vec4<f32>(a23.y), b1[1], fma(vec4<f32>(a23.x), b1[0], c23_1))));
        c23_2 = fma(vec4<f32>(a23.w), b2[3], fma(vec4<f32>(a23.z), b2[2], fma(vec4<f32>(a23.y), b2[1], fma(vec4<f32>(a23.x), b2[0], c23_2))));
        c23_3 = fma(vec4<f32>(a23.w), b3[3], fma(vec4<f32>(a23.z), b3[2], fma(vec4<f32>(a23.y), b3[1], fma(vec4<f32>(a23.x), b3[0], c23_3))));
        c24_0 = fma(vec4<f32>(a24.w), b0[3], fma(vec4<f32>(a24.z), b0[2], fma(vec4<f32>(a24.y), b0[1], fma(vec4<f32>(a24.x), b0[0], c24_0))));
        c24_1 = fma(vec4<f32>(a24.w), b1[3], fma(vec4<f32>(a24.z), b1[2], fma(vec4<f32>(a24.y), b1[1], fma(vec4<f32>(a24.x), b1[0], c24_1))));
        c24_2 = fma(vec4<f32>(a24.w), b2[3], fma(vec4<f32>(a24.z), b2[2], fma(vec4<f32>(a24.y), b2[1], fma(vec4<f32>(a24.x), b2[0], c24_2))));
        c24_3 = fma(vec4<f32>(a24.w), b3[3], fma(vec4<f32>(a24.z), b3[2], fma(vec4<f32>(a24.y), b3[1], fma(vec4<f32>(a24.x), b3[0], c24_3))));
        c25_0 = fma(vec4<f32>(a25.w), b0[3], fma(vec4<f32>(a25.z), b0[2], fma(vec4<f32>(a25.y), b0[1], fma(vec4<f32>(a25.x), b0[0], c25_0))));
        c25_1 = fma(vec4<f32>(a25.w), b1[3], fma(vec4<f32>(a25.z), b1[2], fma(vec4<f32>(a25.y), b1[1], fma(vec4<f32>(a25.x), b1[0], c25_1))));
        c25_2 = fma(vec4<f32>(a25.w), b2[3], fma(vec4<f32>(a25.z), b2[2], fma(vec4<f32>(a25.y), b2[1], fma(vec4<f32>(a25.x), b2[0], c25_2))));
        c25_3 = fma(vec4<f32>(a25.w), b3[3], fma(vec4<f32>(a25.z), b3[2], fma(vec4<f32>(a25.y), b3[1], fma(vec4<f32>(a25.x), b3[0], c25_3))));
        c26_0 = fma(vec4<f32>(a26.w), b0[3], fma(vec4<f32>(a26.z), b0[2], fma(vec4<f32>(a26.y), b0[1], fma(vec4<f32>(a26.x), b0[0], c26_0))));
        c26_1 = fma(vec4<f32>(a26.w), b1[3], fma(vec4<f32>(a26.z), b1[2], fma(vec4<f32>(a26.y), b1[1], fma(vec4<f32>(a26.x), b1[0], c26_1))));
        c26_2 = fma(vec4<f32>(a26.w), b2[3], fma(vec4<f32>(a26.z), b2[2], fma(vec4<f32>(a26.y), b2[1], fma(vec4<f32>(a26.x), b2[0], c26_2))));
        c26_3 = fma(vec4<f32>(a26.w), b3[3], fma(vec4<f32>(a26.z), b3[2], fma(vec4<f32>(a26.y), b3[1], fma(vec4<f32>(a26.x), b3[0], c26_3))));
        c27_0 = fma(vec4<f32>(a27.w), b0[3], fma(vec4<f32>(a27.z), b0[2], fma(vec4<f32>(a27.y), b0[1], fma(vec4<f32>(a27.x), b0[0], c27_0))));
        c27_1 = fma(vec4<f32>(a27.w), b1[3], fma(vec4<f32>(a27.z), b1[2], fma(vec4<f32>(a27.y), b1[1], fma(vec4<f32>(a27.x), b1[0], c27_1))));
        c27_2 = fma(vec4<f32>(a27.w), b2[3], fma(vec4<f32>(a27.z), b2[2], fma(vec4<f32>(a27.y), b2[1], fma(vec4<f32>(a27.x), b2[0], c27_2))));
        c27_3 = fma(vec4<f32>(a27.w), b3[3], fma(vec4<f32>(a27.z), b3[2], fma(vec4<f32>(a27.y), b3[1], fma(vec4<f32>(a27.x), b3[0], c27_3))));
        c28_0 = fma(vec4<f32>(a28.w), b0[3], fma(vec4<f32>(a28.z), b0[2], fma(vec4<f32>(a28.y), b0[1], fma(vec4<f32>(a28.x), b0[0], c28_0))));
        c28_1 = fma(vec4<f32>(a28.w), b1[3], fma(vec4<f32>(a28.z), b1[2], fma(vec4<f32>(a28.y), b1[1], fma(vec4<f32>(a28.x), b1[0], c28_1))));
        c28_2 = fma(vec4<f32>(a28.w), b2[3], fma(vec4<f32>(a28.z), b2[2], fma(vec4<f32>(a28.y), b2[1], fma(vec4<f32>(a28.x), b2[0], c28_2))));
        c28_3 = fma(vec4<f32>(a28.w), b3[3], fma(vec4<f32>(a28.z), b3[2], fma(vec4<f32>(a28.y), b3[1], fma(vec4<f32>(a28.x), b3[0], c28_3))));
        c29_0 = fma(vec4<f32>(a29.w), b0[3], fma(vec4<f32>(a29.z), b0[2], fma(vec4<f32>(a29.y), b0[1], fma(vec4<f32>(a29.x), b0[0], c29_0))));
        c29_1 = fma(vec4<f32>(a29.w), b1[3], fma(vec4<f32>(a29.z), b1[2], fma(vec4<f32>(a29.y), b1[1], fma(vec4<f32>(a29.x), b1[0], c29_1))));
        c29_2 = fma(vec4<f32>(a29.w), b2[3], fma(vec4<f32>(a29.z), b2[2], fma(vec4<f32>(a29.y), b2[1], fma(vec4<f32>(a29.x), b2[0], c29_2))));
        c29_3 = fma(vec4<f32>(a29.w), b3[3], fma(vec4<f32>(a29.z), b3[2], fma(vec4<f32>(a29.y), b3[1], fma(vec4<f32>(a29.x), b3[0], c29_3))));
        c30_0 = fma(vec4<f32>(a30.w), b0[3], fma(vec4<f32>(a30.z), b0[2], fma(vec4<f32>(a30.y), b0[1], fma(vec4<f32>(a30.x), b0[0], c30_0))));
        c30_1 = fma(vec4<f32>(a30.w), b1[3], fma(vec4<f32>(a30.z), b1[2], fma(vec4<f32>(a30.y), b1[1], fma(vec4<f32>(a30.x), b1[0], c30_1))));
        c30_2 = fma(vec4<f32>(a30.w), b2[3], fma(vec4<f32>(a30.z), b2[2], fma(vec4<f32>(a30.y), b2[1], fma(vec4<f32>(a30.x), b2[0], c30_2))));
        c30_3 = fma(vec4<f32>(a30.w), b3[3], fma(vec4<f32>(a30.z), b3[2], fma(vec4<f32>(a30.y), b3[1], fma(vec4<f32>(a30.x), b3[0], c30_3))));
        c31_0 = fma(vec4<f32>(a31.w), b0[3], fma(vec4<f32>(a31.z), b0[2], fma(vec4<f32>(a31.y), b0[1], fma(vec4<f32>(a31.x), b0[0], c31_0))));
        c31_1 = fma(vec4<f32>(a31.w), b1[3], fma(vec4<f32>(a31.z), b1[2], fma(vec4<f32>(a31.y), b1[1], fma(vec4<f32>(a31.x), b1[0], c31_1))));
        c31_2 = fma(vec4<f32>(a31.w), b2[3], fma(vec4<f32>(a31.z), b2[2], fma(vec4<f32>(a31.y), b2[1], fma(vec4<f32>(a31.x), b2[0], c31_2))));
        c31_3 = fma(vec4<f32>(a31.w), b3[3], fma(vec4<f32>(a31.z), b3[2], fma(vec4<f32>(a31.y), b3[1], fma(vec4<f32>(a31.x), b3[0], c31_3))));
    }
    for (; k < p.k; k++) {
        let brow = k * p.b_rs;
        let acol = k * p.a_cs;
        let b0 = textureLoad(btex, vec2<i32>(cb0, i32(k)), 0);
        let b1 = textureLoad(btex, vec2<i32>(cb1, i32(k)), 0);
        let b2 = textureLoad(btex, vec2<i32>(cb2, i32(k)), 0);
        let b3 = textureLoad(btex, vec2<i32>(cb3, i32(k)), 0);
        let a0 = vec4<f32>(lda(ra0 + acol));
        c0_0 = fma(a0, b0, c0_0);
        c0_1 = fma(a0, b1, c0_1);
        c0_2 = fma(a0, b2, c0_2);
        c0_3 = fma(a0, b3, c0_3);
        let a1 = vec4<f32>(lda(ra1 + acol));
        c1_0 = fma(a1, b0, c1_0);
        c1_1 = fma(a1, b1, c1_1);
        c1_2 = fma(a1, b2, c1_2);
        c1_3 = fma(a1, b3, c1_3);
        let a2 = vec4<f32>(lda(ra2 + acol));
        c2_0 = fma(a2, b0, c2_0);
        c2_1 = fma(a2, b1, c2_1);
        c2_2 = fma(a2, b2, c2_2);
        c2_3 = fma(a2, b3, c2_3);
        let a3 = vec4<f32>(lda(ra3 + acol));
        c3_0 = fma(a3, b0, c3_0);
        c3_1 = fma(a3, b1, c3_1);
        c3_2 = fma(a3, b2, c3_2);
        c3_3 = fma(a3, b3, c3_3);
        let a4 = vec4<f32>(lda(ra4 + acol));
        c4_0 = fma(a4, b0, c4_0);
        c4_1 = fma(a4, b1, c4_1);
        c4_2 = fma(a4, b2, c4_2);
        c4_3 = fma(a4, b3, c4_3);
        let a5 = vec4<f32>(lda(ra5 + acol));
        c5_0 = fma(a5, b0, c5_0);
        c5_1 = fma(a5, b1, c5_1);
        c5_2 = fma(a5, b2, c5_2);
        c5_3 = fma(a5, b3, c5_3);
        let a6 = vec4<f32>(lda(ra6 + acol));
        c6_0 = fma(a6, b0, c6_0);
        c6_1 = fma(a6, b1, c6_1);
        c6_2 = fma(a6, b2, c6_2);
        c6_3 = fma(a6, b3, c6_3);
        let a7 = vec4<f32>(lda(ra7 + acol));
        c7_0 = fma(a7, b0, c7_0);
        c7_1 = fma(a7, b1, c7_1);
        c7_2 = fma(a7, b2, c7_2);
        c7_3 = fma(a7, b3, c7_3);
        let a8 = vec4<f32>(lda(ra8 + acol));
        c8_0 = fma(a8, b0, c8_0);
        c8_1 = fma(a8, b1, c8_1);
        c8_2 = fma(a8, b2, c8_2);
        c8_3 = fma(a8, b3, c8_3);
        let a9 = vec4<f32>(lda(ra9 + acol));
        c9_0 = fma(a9, b0, c9_0);
        c9_1 = fma(a9, b1, c9_1);
        c9_2 = fma(a9, b2, c9_2);
        c9_3 = fma(a9, b3, c9_3);
        let a10 = vec4<f32>(lda(ra10 + acol));
        c10_0 = fma(a10, b0, c10_0);
        c10_1 = fma(a10, b1, c10_1);
        c10_2 = fma(a10, b2, c10_2);
        c10_3 = fma(a10, b3, c10_3);
        let a11 = vec4<f32>(lda(ra11 + acol));
        c11_0 = fma(a11, b0, c11_0);
        c11_1 = fma(a11, b1, c11_1);
        c11_2 = fma(a11, b2, c11_2);
        c11_3 = fma(a11, b3, c11_3);
        let a12 = vec4<f32>(lda(ra12 + acol));
        c12_0 = fma(a12, b0, c12_0);
        c12_1 = fma(a12, b1, c12_1);
        c12_2 = fma(a12, b2, c12_2);
        c12_3 = fma(a12, b3, c12_3);
        let a13 = vec4<f32>(lda(ra13 + acol));
        c13_0 = fma(a13, b0, c13_0);
        c13_1 = fma(a13, b1, c13_1);
        c13_2 = fma(a13, b2, c13_2);
        c13_3 = fma(a13, b3, c13_3);
        let a14 = vec4<f32>(lda(ra14 + acol));
        c14_0 = fma(a14, b0, c14_0);
        c14_1 = fma(a14, b1, c14_1);
        c14_2 = fma(a14, b2, c14_2);
        c14_3 = fma(a14, b3, c14_3);
        let a15 = vec4<f32>(lda(ra15 + acol));
        c15_0 = fma(a15, b0, c15_0);
        c15_1 = fma(a15, b1, c15_1);
        c15_2 = fma(a15, b2, c15_2);
        c15_3 = fma(a15, b3, c15_3);
        let a16 = vec4<f32>(lda(ra16 + acol));
        c16_0 = fma(a16, b0, c16_0);
        c16_1 = fma(a16, b1, c16_1);
        c16_2 = fma(a16, b2, c16_2);
        c16_3 = fma(a16, b3, c16_3);
        let a17 = vec4<f32>(lda(ra17 + acol));
        c17_0 = fma(a17, b0, c17_0);
        c17_1 = fma(a17, b1, c17_1);
        c17_2 = fma(a17, b2, c17_2);
        c17_3 = fma(a17, b3, c17_3);
        let a18 = vec4<f32>(lda(ra18 + acol));
        c18_0 = fma(a18, b0, c18_0);
        c18_1 = fma(a18, b1, c18_1);
        c18_2 = fma(a18, b2, c18_2);
        c18_3 = fma(a18, b3, c18_3);
        let a19 = vec4<f32>(lda(ra19 + acol));
        c19_0 = fma(a19, b0, c19_0);
        c19_1 = fma(a19, b1, c19_1);
        c19_2 = fma(a19, b2, c19_2);
        c19_3 = fma(a19, b3, c19_3);
        let a20 = vec4<f32>(lda(ra20 + acol));
        c20_0 = fma(a20, b0, c20_0);
        c20_1 = fma(a20, b1, c20_1);
        c20_2 = fma(a20, b2, c20_2);
        c20_3 = fma(a20, b3, c20_3);
        let a21 = vec4<f32>(lda(ra21 + acol));
        c21_0 = fma(a21, b0, c21_0);
        c21_1 = fma(a21, b1, c21_1);
        c21_2 = fma(a21, b2, c21_2);
        c21_3 = fma(a21, b3, c21_3);
        let a22 = vec4<f32>(lda(ra22 + acol));
        c22_0 = fma(a22, b0, c22_0);
        c22_1 = fma(a22, b1, c22_1);
        c22_2 = fma(a22, b2, c22_2);
        c22_3 = fma(a22, b3, c22_3);
        let a23 = vec4<f32>(lda(ra23 + acol));
        c23_0 = fma(a23, b0, c23_0);
        c23_1 = fma(a23, b1, c23_1);
        c23_2 = fma(a23, b2, c23_2);
        c23_3 = fma(a23, b3, c23_3);
        let a24 = vec4<f32>(lda(ra24 + acol));
        c24_0 = fma(a24, b0, c24_0);
        c24_1 = fma(a24, b1, c24_1);
        c24_2 = fma(a24, b2, c24_2);
        c24_3 = fma(a24, b3, c24_3);
        let a25 = vec4<f32>(lda(ra25 + acol));
        c25_0 = fma(a25, b0, c25_0);
        c25_1 = fma(a25, b1, c25_1);
        c25_2 = fma(a25, b2, c25_2);
        c25_3 = fma(a25, b3, c25_3);
        let a26 = vec4<f32>(lda(ra26 + acol));
        c26_0 = fma(a26, b0, c26_0);
        c26_1 = fma(a26, b1, c26_1);
        c26_2 = fma(a26, b2, c26_2);
        c26_3 = fma(a26, b3, c26_3);
        let a27 = vec4<f32>(lda(ra27 + acol));
        c27_0 = fma(a27, b0, c27_0);
        c27_1 = fma(a27, b1, c27_1);
        c27_2 = fma(a27, b2, c27_2);
        c27_3 = fma(a27, b3, c27_3);
        let a28 = vec4<f32>(lda(ra28 + acol));
        c28_0 = fma(a28, b0, c28_0);
        c28_1 = fma(a28, b1, c28_1);
        c28_2 = fma(a28, b2, c28_2);
        c28_3 = fma(a28, b3, c28_3);
        let a29 = vec4<f32>(lda(ra29 + acol));
        c29_0 = fma(a29, b0, c29_0);
        c29_1 = fma(a29, b1, c29_1);
        c29_2 = fma(a29, b2, c29_2);
        c29_3 = fma(a29, b3, c29_3);
        let a30 = vec4<f32>(lda(ra30 + acol));
        c30_0 = fma(a30, b0, c30_0);
        c30_1 = fma(a30, b1, c30_1);
        c30_2 = fma(a30, b2, c30_2);
        c30_3 = fma(a30, b3, c30_3);
        let a31 = vec4<f32>(lda(ra31 + acol));
        c31_0 = fma(a31, b0, c31_0);
        c31_1 = fma(a31, b1, c31_1);
        c31_2 = fma(a31, b2, c31_2);
        c31_3 = fma(a31, b3, c31_3);
    }
    store4(bs, m0 + 0u, n0 + 0u, c0_0);
    store4(bs, m0 + 0u, n0 + 4u, c0_1);
    store4(bs, m0 + 0u, n0 + 8u, c0_2);
    store4(bs, m0 + 0u, n0 + 12u, c0_3);
    store4(bs, m0 + 1u, n0 + 0u, c1_0);
    store4(bs, m0 + 1u, n0 + 4u, c1_1);
    store4(bs, m0 + 1u, n0 + 8u, c1_2);
    store4(bs, m0 + 1u, n0 + 12u, c1_3);
    store4(bs, m0 + 2u, n0 + 0u, c2_0);
    store4(bs, m0 + 2u, n0 + 4u, c2_1);
    store4(bs, m0 + 2u, n0 + 8u, c2_2);
    store4(bs, m0 + 2u, n0 + 12u, c2_3);
    store4(bs, m0 + 3u, n0 + 0u, c3_0);
    store4(bs, m0 + 3u, n0 + 4u, c3_1);
    store4(bs, m0 + 3u, n0 + 8u, c3_2);
    store4(bs, m0 + 3u, n0 + 12u, c3_3);
    store4(bs, m0 + 4u, n0 + 0u, c4_0);
    store4(bs, m0 + 4u, n0 + 4u, c4_1);
    store4(bs, m0 + 4u, n0 + 8u, c4_2);
    store4(bs, m0 + 4u, n0 + 12u, c4_3);
    store4(bs, m0 + 5u, n0 + 0u, c5_0);
    store4(bs, m0 + 5u, n0 + 4u, c5_1);
    store4(bs, m0 + 5u, n0 + 8u, c5_2);
    store4(bs, m0 + 5u, n0 + 12u, c5_3);
    store4(bs, m0 + 6u, n0 + 0u, c6_0);
    store4(bs, m0 + 6u, n0 + 4u, c6_1);
    store4(bs, m0 + 6u, n0 + 8u, c6_2);
    store4(bs, m0 + 6u, n0 + 12u, c6_3);
    store4(bs, m0 + 7u, n0 + 0u, c7_0);
    store4(bs, m0 + 7u, n0 + 4u, c7_1);
    store4(bs, m0 + 7u, n0 + 8u, c7_2);
    store4(bs, m0 + 7u, n0 + 12u, c7_3);
    store4(bs, m0 + 8u, n0 + 0u, c8_0);
    store4(bs, m0 + 8u, n0 + 4u, c8_1);
    store4(bs, m0 + 8u, n0 + 8u, c8_2);
    store4(bs, m0 + 8u, n0 + 12u, c8_3);
    store4(bs, m0 + 9u, n0 + 0u, c9_0);
    store4(bs, m0 + 9u, n0 + 4u, c9_1);
    store4(bs, m0 + 9u, n0 + 8u, c9_2);
    store4(bs, m0 + 9u, n0 + 12u, c9_3);
    store4(bs, m0 + 10u, n0 + 0u, c10_0);
    store4(bs, m0 + 10u, n0 + 4u, c10_1);
    store4(bs, m0 + 10u, n0 + 8u, c10_2);
    store4(bs, m0 + 10u, n0 + 12u, c10_3);
    store4(bs, m0 + 11u, n0 + 0u, c11_0);
    store4(bs, m0 + 11u, n0 + 4u, c11_1);
    store4(bs, m0 + 11u, n0 + 8u, c11_2);
    store4(bs, m0 + 11u, n0 + 12u, c11_3);
    store4(bs, m0 + 12u, n0 + 0u, c12_0);
    store4(bs, m0 + 12u, n0 + 4u, c12_1);
    store4(bs, m0 + 12u, n0 + 8u, c12_2);
    store4(bs, m0 + 12u, n0 + 12u, c12_3);
    store4(bs, m0 + 13u, n0 + 0u, c13_0);
    store4(bs, m0 + 13u, n0 + 4u, c13_1);
    store4(bs, m0 + 13u, n0 + 8u, c13_2);
    store4(bs, m0 + 13u, n0 + 12u, c13_3);
    store4(bs, m0 + 14u, n0 + 0u, c14_0);
    store4(bs, m0 + 14u, n0 + 4u, c14_1);
    store4(bs, m0 + 14u, n0 + 8u, c14_2);
    store4(bs, m0 + 14u, n0 + 12u, c14_3);
    store4(bs, m0 + 15u, n0 + 0u, c15_0);
    store4(bs, m0 + 15u, n0 + 4u, c15_1);
    store4(bs, m0 + 15u, n0 + 8u, c15_2);
    store4(bs, m0 + 15u, n0 + 12u, c15_3);
    store4(bs, m0 + 16u, n0 + 0u, c16_0);
    store4(bs, m0 + 16u, n0 + 4u, c16_1);
    store4(bs, m0 + 16u, n0 + 8u, c16_2);
    store4(bs, m0 + 16u, n0 + 12u, c16_3);
    store4(bs, m0 + 17u, n0 + 0u, c17_0);
    store4(bs, m0 + 17u, n0 + 4u, c17_1);
    store4(bs, m0 + 17u, n0 + 8u, c17_2);
    store4(bs, m0 + 17u, n0 + 12u, c17_3);
    store4(bs, m0 + 18u, n0 + 0u, c18_0);
    store4(bs, m0 + 18u, n0 + 4u, c18_1);
    store4(bs, m0 + 18u, n0 + 8u, c18_2);
    store4(bs, m0 + 18u, n0 + 12u, c18_3);
    store4(bs, m0 + 19u, n0 + 0u, c19_0);
    store4(bs, m0 + 19u, n0 + 4u, c19_1);
    store4(bs, m0 + 19u, n0 + 8u, c19_2);
    store4(bs, m0 + 19u, n0 + 12u, c19_3);
    store4(bs, m0 + 20u, n0 + 0u, c20_0);
    store4(bs, m0 + 20u, n0 + 4u, c20_1);
    store4(bs, m0 + 20u, n0 + 8u, c20_2);
    store4(bs, m0 + 20u, n0 + 12u, c20_3);
    store4(bs, m0 + 21u, n0 + 0u, c21_0);
    store4(bs, m0 + 21u, n0 + 4u, c21_1);
    store4(bs, m0 + 21u, n0 + 8u, c21_2);
    store4(bs, m0 + 21u, n0 + 12u, c21_3);
    store4(bs, m0 + 22u, n0 + 0u, c22_0);
    store4(bs, m0 + 22u, n0 + 4u, c22_1);
    store4(bs, m0 + 22u, n0 + 8u, c22_2);
    store4(bs, m0 + 22u, n0 + 12u, c22_3);
    store4(bs, m0 + 23u, n0 + 0u, c23_0);
    store4(bs, m0 + 23u, n0 + 4u, c23_1);
    store4(bs, m0 + 23u, n0 + 8u, c23_2);
    store4(bs, m0 + 23u, n0 + 12u, c23_3);
    store4(bs, m0 + 24u, n0 + 0u, c24_0);
    store4(bs, m0 + 24u, n0 + 4u, c24_1);
    store4(bs, m0 + 24u, n0 + 8u, c24_2);
    store4(bs, m0 + 24u, n0 + 12u, c24_3);
    store4(bs, m0 + 25u, n0 + 0u, c25_0);
    store4(bs, m0 + 25u, n0 + 4u, c25_1);
    store4(bs, m0 + 25u, n0 + 8u, c25_2);
    store4(bs, m0 + 25u, n0 + 12u, c25_3);
    store4(bs, m0 + 26u, n0 + 0u, c26_0);
    store4(bs, m0 + 26u, n0 + 4u, c26_1);
    store4(bs, m0 + 26u, n0 + 8u, c26_2);
    store4(bs, m0 + 26u, n0 + 12u, c26_3);
    store4(bs, m0 + 27u, n0 + 0u, c27_0);
    store4(bs, m0 + 27u, n0 + 4u, c27_1);
    store4(bs, m0 + 27u, n0 + 8u, c27_2);
    store4(bs, m0 + 27u, n0 + 12u, c27_3);
    store4(bs, m0 + 28u, n0 + 0u, c28_0);
    store4(bs, m0 + 28u, n0 + 4u, c28_1);
    store4(bs, m0 + 28u, n0 + 8u, c28_2);
    store4(bs, m0 + 28u, n0 + 12u, c28_3);
    store4(bs, m0 + 29u, n0 + 0u, c29_0);
    store4(bs, m0 + 29u, n0 + 4u, c29_1);
    store4(bs, m0 + 29u, n0 + 8u, c29_2);
    store4(bs, m0 + 29u, n0 + 12u, c29_3);
    store4(bs, m0 + 30u, n0 + 0u, c30_0);
    store4(bs, m0 + 30u, n0 + 4u, c30_1);
    store4(bs, m0 + 30u, n0 + 8u, c30_2);
    store4(bs, m0 + 30u, n0 + 12u, c30_3);
    store4(bs, m0 + 31u, n0 + 0u, c31_0);
    store4(bs, m0 + 31u, n0 + 4u, c31_1);
    store4(bs, m0 + 31u, n0 + 8u, c31_2);
    store4(bs, m0 + 31u, n0 + 12u, c31_3);
}
// GENERATED CPU KERNELS END

// matmul_gpu shared tiles, k-major so that the inner loop reads vec4 along M and N.
var<workgroup> sa: array<vec4<f32>, BK * BM4>;
var<workgroup> sb: array<vec4<f32>, BK * BN4>;

@compute @workgroup_size(WG_X, WG_Y, 1)
fn matmul_gpu(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let bs = bases(p.batch_base + wid.z);
    let tm0 = wid.y * BM;
    let tn0 = wid.x * BN;
    let tid = lid.y * WG_X + lid.x;
    let nthreads = WG_X * WG_Y;
    var acc: array<array<vec4<f32>, TN4>, TM>;
    for (var i = 0u; i < TM; i++) {
        for (var j = 0u; j < TN4; j++) {
            acc[i][j] = vec4<f32>(0.0);
        }
    }
    let keep = touch_epilogue_bindings();
    for (var k0 = 0u; k0 < p.k; k0 += BK) {
        // Stage A[tm0.., k0..] as sa[kk][m]; out-of-range k reads 0, out-of-range m is clamped.
        for (var e = tid; e < BK * BM; e += nthreads) {
            let kk = e / BM;
            let mm = e % BM;
            let m = min(tm0 + mm, p.m - 1u);
            let kg = k0 + kk;
            var v = 0.0;
            if (kg < p.k) {
                v = lda(bs.a + m * p.a_rs + kg * p.a_cs);
            }
            sa[kk * BM4 + mm / 4u][mm % 4u] = v;
        }
        // Stage B[k0.., tn0..] as sb[kk][n].
        if (B_VEC) {
            for (var e = tid; e < BK * BN4; e += nthreads) {
                let kk = e / BN4;
                let n4 = e % BN4;
                let n = min(tn0 + 4u * n4, p.n - 4u);
                let kg = k0 + kk;
                var v = vec4<f32>(0.0);
                if (kg < p.k) {
                    v = vec4<f32>(b[(bs.b + kg * p.b_rs + n) >> 2u]);
                }
                sb[e] = v;
            }
        } else {
            for (var e = tid; e < BK * BN; e += nthreads) {
                let kk = e / BN;
                let nn = e % BN;
                let n = min(tn0 + nn, p.n - 1u);
                let kg = k0 + kk;
                var v = 0.0;
                if (kg < p.k) {
                    v = ldb(bs.b + kg * p.b_rs + n * p.b_cs);
                }
                sb[kk * BN4 + nn / 4u][nn % 4u] = v;
            }
        }
        workgroupBarrier();
        for (var kk = 0u; kk < BK; kk++) {
            var bv: array<vec4<f32>, TN4>;
            for (var j = 0u; j < TN4; j++) {
                bv[j] = sb[kk * BN4 + lid.x * TN4 + j];
            }
            for (var i4 = 0u; i4 < TM / 4u; i4++) {
                let av = sa[kk * BM4 + lid.y * (TM / 4u) + i4];
                for (var q = 0u; q < 4u; q++) {
                    let s = vec4<f32>(av[q]);
                    for (var j = 0u; j < TN4; j++) {
                        acc[4u * i4 + q][j] = fma(s, bv[j], acc[4u * i4 + q][j]);
                    }
                }
            }
        }
        workgroupBarrier();
    }
    if (keep) {
        return;
    }
    for (var i = 0u; i < TM; i++) {
        let m = tm0 + lid.y * TM + i;
        if (m < p.m) {
            for (var j = 0u; j < TN4; j++) {
                for (var q = 0u; q < 4u; q++) {
                    let n = tn0 + lid.x * TN + 4u * j + q;
                    if (n < p.n) {
                        store(bs, m, n, acc[i][j][q]);
                    }
                }
            }
        }
    }
}

var<workgroup> partial: array<f32, GV_WG>;

// Output j of this workgroup's GV_WG / RK outputs is reduced by RK invocations over
// interleaved k, then summed through shared memory.
@compute @workgroup_size(GV_WG, 1, 1)
fn matmul_gemv(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let bs = bases(p.batch_base + wid.z);
    let per_wg = GV_WG / RK;
    let jl = lid.x % per_wg;
    let slice = lid.x / per_wg;
    let j = (wid.y * nwg.x + wid.x) * per_wg + jl;
    var len = p.m;
    if (GV_X_IS_B) {
        len = p.n;
    }
    let jc = min(j, len - 1u);
    var sum = 0.0;
    for (var k = slice; k < p.k; k += RK) {
        if (GV_X_IS_B) {
            // M == 1: out[n] = sum_k A[0, k] * B[k, n].
            sum = fma(lda(bs.a + k * p.a_cs), ldb(bs.b + k * p.b_rs + jc * p.b_cs), sum);
        } else {
            // N == 1: out[m] = sum_k A[m, k] * B[k, 0].
            sum = fma(lda(bs.a + jc * p.a_rs + k * p.a_cs), ldb(bs.b + k * p.b_rs), sum);
        }
    }
    if (RK > 1u) {
        partial[lid.x] = sum;
        workgroupBarrier();
        if (slice == 0u) {
            for (var s = 1u; s < RK; s++) {
                sum += partial[s * per_wg + jl];
            }
        }
    }
    if (slice != 0u || j >= len || touch_epilogue_bindings()) {
        return;
    }
    if (GV_X_IS_B) {
        store(bs, 0u, j, sum);
    } else {
        store(bs, j, 0u, sum);
    }
}
