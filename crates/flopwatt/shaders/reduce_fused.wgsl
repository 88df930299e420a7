// A sample of what the fused-reduction generator writes (sum(x * x) per row, prologue mode)
// after reduce_fused_common.wgsl; `shaders::REDUCE_FUSED` is the two together, so naga
// checks the helpers and this sample as one complete module.

@group(0) @binding(0) var<storage, read> in0: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;

struct Params {
    n_out: u32,
    parts: u32,
    chunk: u32,
    n_red: u32,
    scale: f32,
    nk: u32,
    nr: u32,
    _p0: u32,
    kshape: array<vec4<u32>, 2>,
    rshape: array<vec4<u32>, 2>,
    offs: array<vec4<u32>, 2>,
    ks0: array<vec4<u32>, 2>,
    rs0: array<vec4<u32>, 2>,
}
@group(0) @binding(2) var<uniform> p: Params;

fn pre_expr(x0: f32) -> f32 {
    return x0 * x0;
}

fn rf_finish(v: f32) -> f32 {
    return select(v, v * p.scale, OP == 0u);
}

const WG_DIRECT: u32 = 64u;
const WG_TREE: u32 = 256u;
var<workgroup> rf_sh: array<f32, WG_TREE>;

@compute @workgroup_size(WG_DIRECT)
fn direct(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let t = (wid.y * nwg.x + wid.x) * WG_DIRECT + lid;
    if (t >= p.n_out * p.parts) {
        return;
    }
    let part = t % p.parts;
    let row = t / p.parts;
    let r0 = part * p.chunk;
    let r1 = min(p.n_red, r0 + p.chunk);
    var acc = rf_identity();
    var o0 = p.offs[0][0] + rf_unravel(row, p.nk, p.kshape, p.ks0) + rf_unravel(r0, p.nr, p.rshape, p.rs0);
    for (var r = r0; r < r1; r++) {
        acc = rf_comb(acc, pre_expr(f32(in0[o0])));
        o0 += p.rs0[0][0];
    }
    out[t] = rf_finish(acc);
}

@compute @workgroup_size(WG_TREE)
fn tree(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let t = wid.y * nwg.x + wid.x;
    let valid = t < p.n_out * p.parts;
    let part = t % p.parts;
    let row = t / p.parts;
    var acc = rf_identity();
    if (valid) {
        let r0 = part * p.chunk;
        let r1 = min(p.n_red, r0 + p.chunk);
        let k0 = p.offs[0][0] + rf_unravel(row, p.nk, p.kshape, p.ks0);
        for (var r = r0 + lid; r < r1; r += WG_TREE) {
            acc = rf_comb(acc, pre_expr(f32(in0[k0 + rf_unravel(r, p.nr, p.rshape, p.rs0)])));
        }
    }
    rf_sh[lid] = acc;
    workgroupBarrier();
    for (var s = WG_TREE / 2u; s > 0u; s >>= 1u) {
        if (lid < s) {
            rf_sh[lid] = rf_comb(rf_sh[lid], rf_sh[lid + s]);
        }
        workgroupBarrier();
    }
    let red = rf_finish(rf_sh[0]);
    if (lid == 0u && valid) {
        out[t] = red;
    }
}
