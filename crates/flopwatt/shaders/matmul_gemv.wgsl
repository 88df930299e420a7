// Matrix-vector products, M == 1 or N == 1 (composed after matmul.wgsl).

// matmul_gemv: invocations per workgroup and how many split one dot product.
const GV_WG: u32 = 64u;
const RK: u32 = 1u;
// true when the long side of the GEMV is N (M == 1): the matrix operand is B.
const GV_X_IS_B: bool = true;

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
