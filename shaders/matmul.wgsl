// Matrix multiplication C = act(alpha * (A . B) + bias[n]) + residual[.., m, n], batched with
// numpy broadcasting of the batch dims, on any 2-D strided views of A and B.
//
// Three kernels share the bindings and the epilogue:
// - matmul_cpu:  for CPU adapters (lavapipe). No shared memory, no barriers; each invocation
//                owns a TM x TN block of C and streams A and B straight from storage. The rows
//                of a block come from workgroup_id only, so A loads are uniform across the
//                invocations that lavapipe packs into one SIMD vector (one load, broadcast),
//                and B is read as vec4 along N.
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

// Register block per invocation (TN and, for matmul_gpu, TM multiples of 4).
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

@compute @workgroup_size(CPU_WG, 1, 1)
fn matmul_cpu(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let n0 = (wid.x * CPU_WG + lid.x) * TN;
    let m0 = wid.y * TM;
    if (n0 >= p.n || touch_epilogue_bindings()) {
        return;
    }
    let bs = bases(p.batch_base + wid.z);
    // Out-of-range rows and columns load clamped (valid) data and are never stored, so the
    // inner loop has no bounds checks.
    var ra: array<u32, TM>;
    for (var i = 0u; i < TM; i++) {
        ra[i] = bs.a + min(m0 + i, p.m - 1u) * p.a_rs;
    }
    var cb: array<u32, TN>;
    for (var j = 0u; j < TN; j++) {
        cb[j] = bs.b + min(n0 + j, p.n - 1u) * p.b_cs;
    }
    // With B_VEC, N % 4 == 0, so a clamped group of 4 columns stays in range.
    var cb4: array<u32, TN4>;
    for (var j = 0u; j < TN4; j++) {
        cb4[j] = bs.b + min(n0 + 4u * j, p.n - 4u);
    }
    var acc: array<array<vec4<f32>, TN4>, TM>;
    for (var i = 0u; i < TM; i++) {
        for (var j = 0u; j < TN4; j++) {
            acc[i][j] = vec4<f32>(0.0);
        }
    }
    var k = 0u;
    if (A_VEC) {
        // A along K in vec4: one load gives 4 k-steps of a row.
        let k4 = p.k & ~3u;
        for (; k < k4; k += 4u) {
            var av: array<vec4<f32>, TM>;
            for (var i = 0u; i < TM; i++) {
                av[i] = vec4<f32>(a[(ra[i] + k) >> 2u]);
            }
            for (var kk = 0u; kk < 4u; kk++) {
                var bv: array<vec4<f32>, TN4>;
                let brow = (k + kk) * p.b_rs;
                for (var j = 0u; j < TN4; j++) {
                    if (B_VEC) {
                        bv[j] = vec4<f32>(b[(cb4[j] + brow) >> 2u]);
                    } else {
                        bv[j] = vec4<f32>(ldb(cb[4u * j] + brow), ldb(cb[4u * j + 1u] + brow), ldb(cb[4u * j + 2u] + brow), ldb(cb[4u * j + 3u] + brow));
                    }
                }
                for (var i = 0u; i < TM; i++) {
                    let s = vec4<f32>(av[i][kk]);
                    for (var j = 0u; j < TN4; j++) {
                        acc[i][j] = fma(s, bv[j], acc[i][j]);
                    }
                }
            }
        }
    }
    for (; k < p.k; k++) {
        var bv: array<vec4<f32>, TN4>;
        let brow = k * p.b_rs;
        for (var j = 0u; j < TN4; j++) {
            if (B_VEC) {
                bv[j] = vec4<f32>(b[(cb4[j] + brow) >> 2u]);
            } else {
                bv[j] = vec4<f32>(ldb(cb[4u * j] + brow), ldb(cb[4u * j + 1u] + brow), ldb(cb[4u * j + 2u] + brow), ldb(cb[4u * j + 3u] + brow));
            }
        }
        let acs = k * p.a_cs;
        for (var i = 0u; i < TM; i++) {
            let s = vec4<f32>(lda(ra[i] + acs));
            for (var j = 0u; j < TN4; j++) {
                acc[i][j] = fma(s, bv[j], acc[i][j]);
            }
        }
    }
    for (var i = 0u; i < TM; i++) {
        let m = m0 + i;
        if (m < p.m) {
            for (var j = 0u; j < TN4; j++) {
                for (var q = 0u; q < 4u; q++) {
                    // Columns are the block's own (not the clamped load columns).
                    let n = n0 + 4u * j + q;
                    if (n < p.n) {
                        store(bs, m, n, acc[i][j][q]);
                    }
                }
            }
        }
    }
}

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
