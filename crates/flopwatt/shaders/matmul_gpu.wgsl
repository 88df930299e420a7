// The shared-memory tiled matmul for real GPUs (composed after matmul.wgsl).

// matmul_gpu register block per invocation (multiples of 4).
const TM: u32 = 4u;
const TN: u32 = 4u;
const TN4: u32 = TN / 4u;
// matmul_gpu: invocation grid and K slice; the tile is (WG_Y * TM) x (WG_X * TN).
const WG_X: u32 = 16u;
const WG_Y: u32 = 16u;
const BK: u32 = 16u;
const BM: u32 = WG_Y * TM;
const BN: u32 = WG_X * TN;
const BM4: u32 = BM / 4u;
const BN4: u32 = BN / 4u;

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
