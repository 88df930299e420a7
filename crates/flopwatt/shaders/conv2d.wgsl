// conv2d family, NCHW, f32: a direct convolution with register blocking and no im2col buffer,
// plus conv-transpose 2d.
//
// `conv2d_direct`: each invocation computes TC output channels x TP consecutive output
// pixels of one output row. For every (input channel, kernel row) it loads the input row
// segment the TP pixels need once (SEG values) and reuses it for all KW taps and all TC
// channels, so one load feeds TP*TC*KW/SEG FMAs. All invocations of a workgroup share one
// block of output channels, so the weight loads are uniform (one scalar load broadcast to
// every lane on lavapipe, a broadcast from cache on GPUs) and no shared memory or barrier is
// needed (barriers are what lavapipe pays most for: docs/decisions.md#adapter-classes).
//
// Kernel size, stride and dilation are compile-time constants (the host specialises them), so
// the tap loops unroll and the 1x1 case loses its loops and bounds checks: with FLAT the
// pixels of an image are one flat, contiguous range (1x1, stride 1, no padding).

const KH: u32 = 3u;
const KW: u32 = 3u;
const SH: u32 = 1u;
const SW: u32 = 1u;
const DH: u32 = 1u;
const DW: u32 = 1u;
// Output pixels (along the row) and output channels per invocation.
const TP: u32 = 4u;
// 1, 4 or 8.
const TC: u32 = 8u;
// 1x1, stride 1, no padding: pixels are flat over oh * ow.
const FLAT: bool = false;
const HAS_BIAS: bool = false;
// Aligned input loads: with FLAT, pixels per image are a multiple of 4; otherwise stride 1
// along the row, width a multiple of 4, left padding PL <= 4 and SEG <= 8 + PL, so the
// segment of a tile lies in three aligned vec4s (columns 4t - 4 .. 4t + 7), each wholly
// inside the row or wholly outside it.
const ALIGNED: bool = false;
const PL: u32 = 1u;
const WG: u32 = 64u;
// Packed channel block: 4 or 8 floats per tap.
const TCP: u32 = max(TC, 4u);
// Input values one kernel row of TP outputs touches.
const SEG: u32 = (TP - 1u) * SW + (KW - 1u) * DW + 1u;

struct Params {
    n: u32,
    cin: u32,
    h: u32,
    w: u32,
    cout: u32,
    oh: u32,
    ow: u32,
    groups: u32,
    cin_g: u32,
    cout_g: u32,
    pad_t: u32,
    pad_l: u32,
    // Pixel tiles per output row (or per image with FLAT), channel blocks per group, and
    // the number of pixel tiles in all.
    tiles_row: u32,
    co_blocks: u32,
    total_tiles: u32,
    _pad: u32,
}

// Input as vec4s: whole aligned vec4 loads on the aligned paths, single elements otherwise.
@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
// Weights. conv2d reads them packed by `pack_weights` so that the TC channels of one tap
// are contiguous (one or two vec4 loads instead of TC scalar loads: lavapipe pays a loop
// over the lanes per load, not per element).
@group(0) @binding(1) var<storage, read> wt: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

// `act`, the fused activation, is appended by the launch code (ops::act_function).

// Private arrays indexed in a loop that the driver does not unroll live in scratch memory
// (lavapipe: a gather per access), so the accumulators are named vec4 variables (4 pixels
// each) and the channel block is at most 8: `if (TC > k)` is constant and folds away.
fn xe(i: u32) -> f32 {
    return x[i >> 2u][i & 3u];
}

fn ld_x(base: u32, iw: i32) -> f32 {
    let inside = iw >= 0 && iw < i32(p.w);
    let i = base + u32(clamp(iw, 0, i32(p.w) - 1));
    return select(0.0, x[i >> 2u][i & 3u], inside);
}

// The TP = 4 inputs of one tap: columns iw, iw + SW, iw + 2 SW, iw + 3 SW.
fn ld_x4(base: u32, iw: i32) -> vec4<f32> {
    return vec4<f32>(
        ld_x(base, iw),
        ld_x(base, iw + i32(SW)),
        ld_x(base, iw + 2 * i32(SW)),
        ld_x(base, iw + 3 * i32(SW)),
    );
}

// Element i (< 12) of the window (v0, v1, v2); i is a constant.
fn win(v0: vec4<f32>, v1: vec4<f32>, v2: vec4<f32>, i: u32) -> f32 {
    if (i < 4u) {
        return v0[i];
    }
    if (i < 8u) {
        return v1[i - 4u];
    }
    return v2[min(i, 11u) - 8u];
}

// Component i (< 8, constant after unrolling) of the 8-wide segment (lo, hi).
fn seg(lo: vec4<f32>, hi: vec4<f32>, i: u32) -> f32 {
    return select(hi[min(i, 7u) & 3u], lo[min(i, 3u)], i < 4u);
}

fn store4(c: u32, yrow: u32, ocol: u32, lim: u32, b: f32, v: vec4<f32>) {
    for (var j = 0u; j < 4u; j++) {
        if (ocol + j < lim) {
            y[yrow + ocol + j] = act(v[j] + b);
        }
    }
}

fn store_ch(g: u32, co: u32, n: u32, orow: u32, ocol: u32, v: vec4<f32>) {
    if (co >= p.cout_g) {
        return;
    }
    let oc = g * p.cout_g + co;
    var b = 0.0;
    if (HAS_BIAS) {
        b = bias[oc];
    }
    let yb = (n * p.cout + oc) * p.oh * p.ow;
    if (FLAT) {
        store4(co, yb, ocol, p.oh * p.ow, b, v);
    } else {
        store4(co, yb + orow * p.ow, ocol, p.ow, b, v);
    }
}

@compute @workgroup_size(WG)
fn conv2d_direct(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let t = (wid.y * nwg.x + wid.x) * WG + lid;
    if (t >= p.total_tiles) {
        return;
    }
    let g = wid.z / p.co_blocks;
    let co0 = (wid.z % p.co_blocks) * TC;
    let khw = KH * KW;
    // Packed weights of this channel block: [cin_g][KH][KW][TCP].
    let wblk = wid.z * p.cin_g * khw;
    var a0 = vec4<f32>(0.0);
    var a1 = vec4<f32>(0.0);
    var a2 = vec4<f32>(0.0);
    var a3 = vec4<f32>(0.0);
    var a4 = vec4<f32>(0.0);
    var a5 = vec4<f32>(0.0);
    var a6 = vec4<f32>(0.0);
    var a7 = vec4<f32>(0.0);
    let hw = p.h * p.w;
    var n = 0u;
    var orow = 0u;
    var ocol = 0u;
    if (FLAT) {
        n = t / p.tiles_row;
        ocol = (t % p.tiles_row) * TP;
    } else {
        ocol = (t % p.tiles_row) * TP;
        let r = t / p.tiles_row;
        orow = r % p.oh;
        n = r / p.oh;
    }
    let xn = (n * p.cin + g * p.cin_g) * hw;
    let iw0 = i32(ocol * SW) - i32(p.pad_l);
    for (var ci = 0u; ci < p.cin_g; ci++) {
        let xc = xn + ci * hw;
        let wc = ci * khw;
        if (FLAT) {
            var xw: vec4<f32>;
            if (ALIGNED) {
                // Pixels per image a multiple of 4: one aligned vec4 (tiles never pass the end).
                xw = x[(xc + ocol) >> 2u];
            } else {
                xw = vec4<f32>(xe(xc + min(ocol, hw - 1u)), xe(xc + min(ocol + 1u, hw - 1u)), xe(xc + min(ocol + 2u, hw - 1u)), xe(xc + min(ocol + 3u, hw - 1u)));
            }
            let wi = (wblk + ci) * (TCP / 4u);
            let wlo = wt[wi];
            a0 = fma(vec4<f32>(wlo.x), xw, a0);
            if (TC > 1u) {
                a1 = fma(vec4<f32>(wlo.y), xw, a1);
                a2 = fma(vec4<f32>(wlo.z), xw, a2);
                a3 = fma(vec4<f32>(wlo.w), xw, a3);
            }
            if (TC > 4u) {
                let whi = wt[wi + 1u];
                a4 = fma(vec4<f32>(whi.x), xw, a4);
                a5 = fma(vec4<f32>(whi.y), xw, a5);
                a6 = fma(vec4<f32>(whi.z), xw, a6);
                a7 = fma(vec4<f32>(whi.w), xw, a7);
            }
            continue;
        }
        for (var kh = 0u; kh < KH; kh++) {
            let ih = i32(orow * SH + kh * DH) - i32(p.pad_t);
            if (ih < 0 || ih >= i32(p.h)) {
                continue;
            }
            let xr = xc + u32(ih) * p.w;
            // With stride 1 and a short kernel row, the 4 outputs of every tap read inside
            // one 8-wide segment: load it once and shift it per tap.
            var lo = vec4<f32>(0.0);
            var hi = vec4<f32>(0.0);
            if (ALIGNED) {
                let vb = (xr + ocol) >> 2u;
                let v0 = select(vec4<f32>(0.0), x[max(vb, 1u) - 1u], ocol >= 4u);
                let v1 = select(vec4<f32>(0.0), x[vb], ocol < p.w);
                let v2 = select(vec4<f32>(0.0), x[vb + 1u], ocol + 4u < p.w);
                // Segment element s is window element 4 - PL + s (constant after unrolling).
                lo = vec4<f32>(win(v0, v1, v2, 4u - PL), win(v0, v1, v2, 5u - PL), win(v0, v1, v2, 6u - PL), win(v0, v1, v2, 7u - PL));
                hi = vec4<f32>(win(v0, v1, v2, 8u - PL), win(v0, v1, v2, 9u - PL), win(v0, v1, v2, 10u - PL), win(v0, v1, v2, 11u - PL));
            } else if (SEG <= 8u) {
                lo = vec4<f32>(ld_x(xr, iw0), ld_x(xr, iw0 + 1), ld_x(xr, iw0 + 2), ld_x(xr, iw0 + 3));
                if (SEG > 4u) {
                    hi = vec4<f32>(ld_x(xr, iw0 + 4), ld_x(xr, iw0 + 5), ld_x(xr, iw0 + 6), ld_x(xr, iw0 + 7));
                }
            }
            for (var kw = 0u; kw < KW; kw++) {
                var xw: vec4<f32>;
                if (ALIGNED || SEG <= 8u) {
                    let o = kw * DW;
                    xw = vec4<f32>(seg(lo, hi, o), seg(lo, hi, o + SW), seg(lo, hi, o + 2u * SW), seg(lo, hi, o + 3u * SW));
                } else {
                    xw = ld_x4(xr, iw0 + i32(kw * DW));
                }
                let wi = (wblk + wc + kh * KW + kw) * (TCP / 4u);
                let wlo = wt[wi];
                a0 = fma(vec4<f32>(wlo.x), xw, a0);
                if (TC > 1u) {
                    a1 = fma(vec4<f32>(wlo.y), xw, a1);
                    a2 = fma(vec4<f32>(wlo.z), xw, a2);
                    a3 = fma(vec4<f32>(wlo.w), xw, a3);
                }
                if (TC > 4u) {
                    let whi = wt[wi + 1u];
                    a4 = fma(vec4<f32>(whi.x), xw, a4);
                    a5 = fma(vec4<f32>(whi.y), xw, a5);
                    a6 = fma(vec4<f32>(whi.z), xw, a6);
                    a7 = fma(vec4<f32>(whi.w), xw, a7);
                }
            }
        }
    }
    store_ch(g, co0, n, orow, ocol, a0);
    if (TC > 1u) {
        store_ch(g, co0 + 1u, n, orow, ocol, a1);
        store_ch(g, co0 + 2u, n, orow, ocol, a2);
        store_ch(g, co0 + 3u, n, orow, ocol, a3);
    }
    if (TC > 4u) {
        store_ch(g, co0 + 4u, n, orow, ocol, a4);
        store_ch(g, co0 + 5u, n, orow, ocol, a5);
        store_ch(g, co0 + 6u, n, orow, ocol, a6);
        store_ch(g, co0 + 7u, n, orow, ocol, a7);
    }
}

// conv-transpose 2d as a gather: each invocation owns one output element and sums the input
// pixels whose scattered taps land on it, so no atomics and no zero-fill pass are needed.
// Weight layout [cin, cout / groups, KH, KW] (PyTorch / ONNX ConvTranspose).
@compute @workgroup_size(WG)
fn conv_transpose2d(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let idx = (wid.y * nwg.x + wid.x) * WG + lid;
    if (idx >= p.total_tiles) {
        return;
    }
    let ox = idx % p.ow;
    let oy = (idx / p.ow) % p.oh;
    let oc = (idx / (p.ow * p.oh)) % p.cout;
    let n = idx / (p.ow * p.oh * p.cout);
    let g = oc / p.cout_g;
    let cg = oc % p.cout_g;
    var s = 0.0;
    for (var kh = 0u; kh < KH; kh++) {
        let ty = i32(oy + p.pad_t) - i32(kh * DH);
        if (ty < 0 || ty % i32(SH) != 0) {
            continue;
        }
        let iy = u32(ty) / SH;
        if (iy >= p.h) {
            continue;
        }
        for (var kw = 0u; kw < KW; kw++) {
            let tx = i32(ox + p.pad_l) - i32(kw * DW);
            if (tx < 0 || tx % i32(SW) != 0) {
                continue;
            }
            let ix = u32(tx) / SW;
            if (ix >= p.w) {
                continue;
            }
            for (var ci = 0u; ci < p.cin_g; ci++) {
                let c = g * p.cin_g + ci;
                let xv = xe(((n * p.cin + c) * p.h + iy) * p.w + ix);
                let wi = ((c * p.cout_g + cg) * KH + kh) * KW + kw;
                let wv = wt[wi >> 2u][wi & 3u];
                s = fma(xv, wv, s);
            }
        }
    }
    if (HAS_BIAS) {
        s += bias[oc];
    }
    y[idx] = act(s);
}

// Packs conv2d weights [cout, cin_g, KH, KW] (read through `x`) into
// [groups * co_blocks][cin_g][KH][KW][TCP] (written to `y`), zero past each group's end.
// `wt` and `bias` are bound but only touched on a path that never runs, because every
// binding of the shared layout must be used.
@compute @workgroup_size(WG)
fn pack_weights(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let idx = (wid.y * nwg.x + wid.x) * WG + lid;
    if (idx >= p.total_tiles) {
        if (idx == 0xffffffffu) {
            y[0] = wt[0].x + bias[0];
        }
        return;
    }
    let khw = KH * KW;
    let c = idx % TCP;
    let tap = (idx / TCP) % khw;
    let ci = (idx / (TCP * khw)) % p.cin_g;
    let blk = idx / (TCP * khw * p.cin_g);
    let g = blk / p.co_blocks;
    let co = (blk % p.co_blocks) * TC + c;
    var v = 0.0;
    if (c < TC && co < p.cout_g) {
        v = xe(((g * p.cout_g + co) * p.cin_g + ci) * khw + tap);
    }
    y[idx] = v;
}
