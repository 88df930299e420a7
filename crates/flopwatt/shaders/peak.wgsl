// Peak-throughput probes: an FMA loop (compute ceiling) and a vec4 copy (bandwidth ceiling).
// Variants replace T (f32, vec4<f32>, f16, vec4<f16>) and ITERS.

alias T = f32;
// The scalar of T.
alias S = f32;
const ITERS: u32 = 512u;

@group(0) @binding(0) var<storage, read_write> out: array<T>;

@compute @workgroup_size(256)
fn fma_peak(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let idx = gid.y * nwg.x * 256u + gid.x;
    // Eight independent chains hide FMA latency; values stay bounded (x * 0.999 + 0.001 -> 1).
    let s = S(f32(idx & 1023u) * 0.0009765625);
    var a0 = T(s);
    var a1 = T(s + 0.125);
    var a2 = T(s + 0.25);
    var a3 = T(s + 0.375);
    var a4 = T(s + 0.5);
    var a5 = T(s + 0.625);
    var a6 = T(s + 0.75);
    var a7 = T(s + 0.875);
    let m = T(0.999);
    let c = T(0.001);
    for (var i = 0u; i < ITERS; i++) {
        a0 = fma(a0, m, c);
        a1 = fma(a1, m, c);
        a2 = fma(a2, m, c);
        a3 = fma(a3, m, c);
        a4 = fma(a4, m, c);
        a5 = fma(a5, m, c);
        a6 = fma(a6, m, c);
        a7 = fma(a7, m, c);
    }
    // Stored so the compiler cannot drop the loop.
    out[idx] = ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7));
}

@group(0) @binding(0) var<storage, read> copy_src: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> copy_dst: array<vec4<f32>>;

const COPY_PER_INVOCATION: u32 = 4u;

@compute @workgroup_size(256)
fn copy_peak(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let wg = wid.y * nwg.x + wid.x;
    let n = arrayLength(&copy_dst);
    // Each workgroup copies a contiguous block; invocations stride by 256 inside it.
    // On lavapipe (storage accessed lane by lane) this guarded loop, the unrolled guard and
    // the elementwise kernels' clamped index (no branch) copy at the same speed within noise,
    // as do 8 vec4s per invocation and workgroups of 512 or 1024 (examples/ew_probe.rs).
    let base = wg * 256u * COPY_PER_INVOCATION + lid;
    for (var j = 0u; j < COPY_PER_INVOCATION; j++) {
        let i = base + j * 256u;
        if (i < n) {
            copy_dst[i] = copy_src[i];
        }
    }
}
