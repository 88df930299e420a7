// A sample of what the elementwise generator writes (a copy kernel) after
// elementwise_common.wgsl; `shaders::ELEMENTWISE` is the two together, so naga checks the
// helpers and this sample as one complete module.

@group(0) @binding(0) var<storage, read> in0: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;

struct Params {
    n: u32,
    _p0: u32,
    _p1: u32,
    _p2: u32,
}
@group(0) @binding(2) var<uniform> p: Params;

fn ew_expr(x0: f32) -> f32 {
    return x0;
}

const WG: u32 = 256u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * nwg.x + wid.x) * WG + lid;
    if (i >= p.n) {
        return;
    }
    out[i] = ew_expr(in0[i]);
}
