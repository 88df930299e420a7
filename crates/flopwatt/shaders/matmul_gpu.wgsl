// The shared-memory tiled matmul for real GPUs (composed after matmul.wgsl).
//
// A workgroup of WG_X x WG_Y invocations computes a BM x BN tile of C (BM = WG_Y * TM,
// BN = WG_X * TN); each invocation owns a TM x TN register block. K goes in BK slices staged
// through workgroup memory, k-major so that the inner loop reads vec4 along M and N. Each
// invocation fetches its share of the next slice into registers before it computes on the
// current one, so global-memory latency hides behind the FMAs (register-prefetch double
// buffering: one shared tile, one barrier pair per slice). Loads go in units of 4 elements
// that consecutive invocations take in memory order: A by (row, 4 along K), one vec4 when A is
// contiguous along K (A_VEC); B by (row k, 4 along N), one vec4 with B_VEC, or for a
// transposed B (B_KVEC) by (column, 4 along K), one vec4. The epilogue stores vec4 rows
// (store4) where C_VEC allows. See docs/decisions.md#matmul-gpu-tile.

// Register block per invocation (multiples of 4).
const TM: u32 = 4u;
const TN: u32 = 4u;
// Invocation grid and K slice (a multiple of 4).
const WG_X: u32 = 16u;
const WG_Y: u32 = 16u;
const BK: u32 = 16u;
const TM4: u32 = TM / 4u;
const TN4: u32 = TN / 4u;
const BM: u32 = WG_Y * TM;
const BN: u32 = WG_X * TN;
const BM4: u32 = BM / 4u;
const BN4: u32 = BN / 4u;
const BK4: u32 = BK / 4u;
const NT: u32 = WG_X * WG_Y;
// Load units of 4 elements per slice, and per invocation (the last round may be partial).
const A_UNITS: u32 = BM * BK4;
const B_UNITS: u32 = BN * BK4;
const A_ROUNDS: u32 = (A_UNITS + NT - 1u) / NT;
const B_ROUNDS: u32 = (B_UNITS + NT - 1u) / NT;

var<workgroup> sa: array<vec4<f32>, BK * BM4>;
var<workgroup> sb: array<vec4<f32>, BK * BN4>;

// A unit `u` of the slice from k0: A[m, k0 + 4 kq ..][4], zero past K (rows clamped into
// range; their results are never stored).
fn fetch_a(bs: Bases, tm0: u32, k0: u32, u: u32) -> vec4<f32> {
    let m = min(tm0 + u / BK4, p.m - 1u);
    let k = k0 + 4u * (u % BK4);
    let ra = bs.a + m * p.a_rs;
    if (A_VEC && k + 3u < p.k) {
        return vec4<f32>(a[(ra + k) >> 2u]);
    }
    var v = vec4<f32>(0.0);
    for (var j = 0u; j < 4u; j++) {
        if (k + j < p.k) {
            v[j] = lda(ra + (k + j) * p.a_cs);
        }
    }
    return v;
}

// A unit `u` of the slice from k0: with B_KVEC B[k0 + 4 kq ..][4, n] (4 along K), else
// B[k0 + kk, n ..][4] (4 along N); zero past K, columns clamped into range.
fn fetch_b(bs: Bases, tn0: u32, k0: u32, u: u32) -> vec4<f32> {
    var v = vec4<f32>(0.0);
    if (B_KVEC) {
        let n = min(tn0 + u / BK4, p.n - 1u);
        let k = k0 + 4u * (u % BK4);
        let cb = bs.b + n * p.b_cs;
        if (k + 3u < p.k) {
            return vec4<f32>(b[(cb + k) >> 2u]);
        }
        for (var j = 0u; j < 4u; j++) {
            if (k + j < p.k) {
                v[j] = ldb(cb + k + j);
            }
        }
        return v;
    }
    let k = k0 + u / BN4;
    let n = tn0 + 4u * (u % BN4);
    if (k >= p.k) {
        return v;
    }
    let rb = bs.b + k * p.b_rs;
    if (B_VEC) {
        // N % 4 == 0: a clamped group of 4 stays inside the row.
        return vec4<f32>(b[(rb + min(n, p.n - 4u)) >> 2u]);
    }
    for (var j = 0u; j < 4u; j++) {
        v[j] = ldb(rb + min(n + j, p.n - 1u) * p.b_cs);
    }
    return v;
}

@compute @workgroup_size(WG_X, WG_Y, 1)
fn matmul_gpu(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let bs = bases(p.batch_base + wid.z);
    let tm0 = wid.y * BM;
    let tn0 = wid.x * BN;
    let tid = lid.y * WG_X + lid.x;
    var acc: array<array<vec4<f32>, TN4>, TM>;
    let keep = touch_epilogue_bindings();
    var ra: array<vec4<f32>, A_ROUNDS>;
    var rb: array<vec4<f32>, B_ROUNDS>;
    for (var r = 0u; r < A_ROUNDS; r++) {
        ra[r] = fetch_a(bs, tm0, 0u, min(tid + r * NT, A_UNITS - 1u));
    }
    for (var r = 0u; r < B_ROUNDS; r++) {
        rb[r] = fetch_b(bs, tn0, 0u, min(tid + r * NT, B_UNITS - 1u));
    }
    for (var k0 = 0u; k0 < p.k; k0 += BK) {
        // Registers -> the shared tile (k-major), then fetch the next slice while computing.
        for (var r = 0u; r < A_ROUNDS; r++) {
            let u = tid + r * NT;
            if (u < A_UNITS) {
                let mm = u / BK4;
                let kk = 4u * (u % BK4);
                for (var j = 0u; j < 4u; j++) {
                    sa[(kk + j) * BM4 + mm / 4u][mm % 4u] = ra[r][j];
                }
            }
        }
        for (var r = 0u; r < B_ROUNDS; r++) {
            let u = tid + r * NT;
            if (u < B_UNITS) {
                if (B_KVEC) {
                    let nn = u / BK4;
                    let kk = 4u * (u % BK4);
                    for (var j = 0u; j < 4u; j++) {
                        sb[(kk + j) * BN4 + nn / 4u][nn % 4u] = rb[r][j];
                    }
                } else {
                    sb[u] = rb[r];
                }
            }
        }
        workgroupBarrier();
        let k_next = k0 + BK;
        if (k_next < p.k) {
            for (var r = 0u; r < A_ROUNDS; r++) {
                ra[r] = fetch_a(bs, tm0, k_next, min(tid + r * NT, A_UNITS - 1u));
            }
            for (var r = 0u; r < B_ROUNDS; r++) {
                rb[r] = fetch_b(bs, tn0, k_next, min(tid + r * NT, B_UNITS - 1u));
            }
        }
        for (var kk = 0u; kk < BK; kk++) {
            var bv: array<vec4<f32>, TN4>;
            for (var j = 0u; j < TN4; j++) {
                bv[j] = sb[kk * BN4 + lid.x * TN4 + j];
            }
            for (var i4 = 0u; i4 < TM4; i4++) {
                let av = sa[kk * BM4 + lid.y * TM4 + i4];
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
    for (var j = 0u; j < TN4; j++) {
        let n = tn0 + lid.x * TN + 4u * j;
        let bv = bias4(n);
        for (var i = 0u; i < TM; i++) {
            store4(bs, tm0 + lid.y * TM + i, n, acc[i][j], bv);
        }
    }
}
