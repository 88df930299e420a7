// Layout ops over the last two axes of NCHW f32: resize (nearest, bilinear) and pad
// (constant, reflect, edge). One output element per invocation.

const WG: u32 = 64u;
// resize: 0 nearest (floor of the asymmetric source coordinate), 1 bilinear with
// half-pixel centres. pad: 0 constant, 1 reflect, 2 edge.
const MODE: u32 = 0u;

struct Params {
    planes: u32,
    h: u32,
    w: u32,
    oh: u32,
    ow: u32,
    pad_t: u32,
    pad_l: u32,
    total: u32,
    // Source pixels per output pixel (resize), the fill value (constant pad).
    scale_y: f32,
    scale_x: f32,
    value: f32,
    _p: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

fn at(base: u32, iy: u32, ix: u32) -> f32 {
    return x[base + iy * p.w + ix];
}

@compute @workgroup_size(WG)
fn resize2d(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let idx = (wid.y * nwg.x + wid.x) * WG + lid;
    if (idx >= p.total) {
        return;
    }
    let ox = idx % p.ow;
    let oy = (idx / p.ow) % p.oh;
    let base = (idx / (p.ow * p.oh)) * p.h * p.w;
    if (MODE == 0u) {
        let iy = min(u32(floor(f32(oy) * p.scale_y)), p.h - 1u);
        let ix = min(u32(floor(f32(ox) * p.scale_x)), p.w - 1u);
        y[idx] = at(base, iy, ix);
        return;
    }
    let fy = max((f32(oy) + 0.5) * p.scale_y - 0.5, 0.0);
    let fx = max((f32(ox) + 0.5) * p.scale_x - 0.5, 0.0);
    let y0 = min(u32(floor(fy)), p.h - 1u);
    let x0 = min(u32(floor(fx)), p.w - 1u);
    let y1 = min(y0 + 1u, p.h - 1u);
    let x1 = min(x0 + 1u, p.w - 1u);
    let ty = min(fy - f32(y0), 1.0);
    let tx = min(fx - f32(x0), 1.0);
    let top = mix(at(base, y0, x0), at(base, y0, x1), tx);
    let bot = mix(at(base, y1, x0), at(base, y1, x1), tx);
    y[idx] = mix(top, bot, ty);
}

// Source index along one axis for output position `o` shifted by `pad`; -1 for constant
// padding outside the input.
fn src(o: u32, pad: u32, len: u32) -> i32 {
    let i = i32(o) - i32(pad);
    let n = i32(len);
    if (i >= 0 && i < n) {
        return i;
    }
    if (MODE == 0u) {
        return -1;
    }
    if (MODE == 2u || n == 1) {
        return clamp(i, 0, n - 1);
    }
    let period = 2 * (n - 1);
    var m = i % period;
    if (m < 0) {
        m += period;
    }
    return select(period - m, m, m < n);
}

@compute @workgroup_size(WG)
fn pad2d(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let idx = (wid.y * nwg.x + wid.x) * WG + lid;
    if (idx >= p.total) {
        return;
    }
    let ox = idx % p.ow;
    let oy = (idx / p.ow) % p.oh;
    let base = (idx / (p.ow * p.oh)) * p.h * p.w;
    let iy = src(oy, p.pad_t, p.h);
    let ix = src(ox, p.pad_l, p.w);
    if (iy < 0 || ix < 0) {
        y[idx] = p.value;
    } else {
        y[idx] = at(base, u32(iy), u32(ix));
    }
}
