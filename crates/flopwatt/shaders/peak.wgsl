// Peak probes: a vec4 copy (bandwidth ceiling) and an empty kernel (dispatch latency). The FMA
// probe is generated in Rust (peak.rs): unrolled chains with no loop for a compiler to bound.

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

@group(0) @binding(0) var<storage, read_write> sink: array<f32>;

// Does nothing a dispatch can see (the store never happens), but keeps one binding so that
// every backend builds the same pipeline layout.
@compute @workgroup_size(1)
fn empty_kernel(@builtin(global_invocation_id) gid: vec3<u32>) {
    if (gid.x == 0xffffffffu) {
        sink[0] = 1.0;
    }
}
