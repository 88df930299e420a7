// Pooling over the last two axes of NCHW f32: max, average (padding counted or not) and
// global average. One output element per invocation; the window is a runtime loop (no
// private arrays, so nothing for the driver to unroll).

const WG: u32 = 64u;
// 0: max, 1: average over the valid positions, 2: average counting padding.
const MODE: u32 = 0u;

struct Params {
    planes: u32,
    h: u32,
    w: u32,
    oh: u32,
    ow: u32,
    kh: u32,
    kw: u32,
    sh: u32,
    sw: u32,
    pad_t: u32,
    pad_l: u32,
    dh: u32,
    dw: u32,
    // Height and width of the padded frame (input plus top/bottom or left/right padding).
    hp: u32,
    wp: u32,
    total: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

// Infinities built at run time: Tint (Chromium's WGSL compiler) rejects a constant
// infinity such as `bitcast<f32>(0xff800000u)` ("value -inf cannot be represented").
fn pool_inf_bits(bits: u32) -> f32 {
    var b = bits;
    return bitcast<f32>(b);
}

@compute @workgroup_size(WG)
fn pool2d(
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
    let pl = idx / (p.ow * p.oh);
    let base = pl * p.h * p.w;
    var mx = pool_inf_bits(0xff800000u);
    var sum = 0.0;
    var cnt = 0u;
    var cnt_pad = 0u;
    for (var ky = 0u; ky < p.kh; ky++) {
        let py = oy * p.sh + ky * p.dh;
        let iy = i32(py) - i32(p.pad_t);
        for (var kx = 0u; kx < p.kw; kx++) {
            let px = ox * p.sw + kx * p.dw;
            let ix = i32(px) - i32(p.pad_l);
            if (py < p.hp && px < p.wp) {
                cnt_pad += 1u;
            }
            if (iy < 0 || ix < 0 || iy >= i32(p.h) || ix >= i32(p.w)) {
                continue;
            }
            let v = x[base + u32(iy) * p.w + u32(ix)];
            // NaN propagates through max like numpy / PyTorch.
            mx = select(max(mx, v), v, v != v);
            sum += v;
            cnt += 1u;
        }
    }
    var r = mx;
    if (MODE == 1u) {
        r = select(0.0, sum / f32(cnt), cnt > 0u);
    } else if (MODE == 2u) {
        r = sum / f32(max(cnt_pad, 1u));
    }
    y[idx] = r;
}

// Global average: one invocation per plane.
@compute @workgroup_size(WG)
fn global_avg(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let pl = (wid.y * nwg.x + wid.x) * WG + lid;
    if (pl >= p.planes) {
        return;
    }
    let hw = p.h * p.w;
    let base = pl * hw;
    // Four partial sums keep the rounding error of long planes low and the loop short.
    var s = vec4<f32>(0.0);
    let n4 = hw / 4u;
    for (var i = 0u; i < n4; i++) {
        let b = base + i * 4u;
        s += vec4<f32>(x[b], x[b + 1u], x[b + 2u], x[b + 3u]);
    }
    var t = 0.0;
    for (var i = n4 * 4u; i < hw; i++) {
        t += x[base + i];
    }
    y[pl] = (s.x + s.y + s.z + s.w + t) / f32(hw);
}
