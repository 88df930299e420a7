// The texture-fed CPU matmul (composed after matmul.wgsl and matmul_cpu.wgsl): B as texels of
// 4 columns, one texture row per k, written by matmul_pack_b.
@group(0) @binding(6) var btex: texture_2d<f32>;
@group(0) @binding(7) var bpack: texture_storage_2d<rgba32float, write>;

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
