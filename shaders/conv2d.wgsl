// conv2d family, NCHW, f32: a direct convolution with register blocking and no im2col buffer,
// plus conv-transpose 2d.
//
// `conv2d_direct`: each invocation computes TC output channels x TP consecutive output
// pixels of one output row. For every (input channel, kernel row) it loads the input row
// segment the TP pixels need once (SEG values) and reuses it for all KW taps and all TC
// channels, so one load feeds TP*TC*KW/SEG FMAs. All invocations of a workgroup share one
// block of output channels, so the weight loads are uniform (one scalar load broadcast to
// every lane on lavapipe, a broadcast from cache on GPUs) and no shared memory or barrier is
// needed (section 8 of design.md: barriers are what lavapipe pays most for).
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
const TC: u32 = 8u;
// 1x1, stride 1, no padding: pixels are flat over oh * ow.
const FLAT: bool = false;
const HAS_BIAS: bool = false;
const WG: u32 = 64u;
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

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> wt: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

// The fused activation; the host replaces this line with the chosen expression.
fn act(v: f32) -> f32 { return v; }

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
    // Weight row of each channel of the block; channels past the group end read the last
    // valid one (their results are dropped) so that no load needs a bounds branch.
    var wrow: array<u32, TC>;
    for (var c = 0u; c < TC; c++) {
        wrow[c] = (g * p.cout_g + min(co0 + c, p.cout_g - 1u)) * p.cin_g * khw;
    }
    var acc: array<array<f32, TP>, TC>;
    for (var c = 0u; c < TC; c++) {
        for (var j = 0u; j < TP; j++) {
            acc[c][j] = 0.0;
        }
    }
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
    if (FLAT) {
        for (var ci = 0u; ci < p.cin_g; ci++) {
            let xb = xn + ci * hw;
            var xv: array<f32, TP>;
            for (var j = 0u; j < TP; j++) {
                xv[j] = x[xb + min(ocol + j, hw - 1u)];
            }
            for (var c = 0u; c < TC; c++) {
                let wv = wt[wrow[c] + ci];
                for (var j = 0u; j < TP; j++) {
                    acc[c][j] = fma(wv, xv[j], acc[c][j]);
                }
            }
        }
    } else {
        let iw0 = i32(ocol * SW) - i32(p.pad_l);
        for (var ci = 0u; ci < p.cin_g; ci++) {
            let xc = xn + ci * hw;
            let wc = ci * khw;
            for (var kh = 0u; kh < KH; kh++) {
                let ih = i32(orow * SH + kh * DH) - i32(p.pad_t);
                if (ih < 0 || ih >= i32(p.h)) {
                    continue;
                }
                let xr = xc + u32(ih) * p.w;
                var xs: array<f32, SEG>;
                for (var s = 0u; s < SEG; s++) {
                    let iw = iw0 + i32(s);
                    let inside = iw >= 0 && iw < i32(p.w);
                    xs[s] = select(0.0, x[xr + u32(clamp(iw, 0, i32(p.w) - 1))], inside);
                }
                for (var kw = 0u; kw < KW; kw++) {
                    for (var c = 0u; c < TC; c++) {
                        let wv = wt[wrow[c] + wc + kh * KW + kw];
                        for (var j = 0u; j < TP; j++) {
                            acc[c][j] = fma(wv, xs[j * SW + kw * DW], acc[c][j]);
                        }
                    }
                }
            }
        }
    }
    let opix = p.oh * p.ow;
    for (var c = 0u; c < TC; c++) {
        let co = co0 + c;
        if (co >= p.cout_g) {
            break;
        }
        let oc = g * p.cout_g + co;
        var b = 0.0;
        if (HAS_BIAS) {
            b = bias[oc];
        }
        let yb = (n * p.cout + oc) * opix;
        for (var j = 0u; j < TP; j++) {
            if (FLAT) {
                if (ocol + j < opix) {
                    y[yb + ocol + j] = act(acc[c][j] + b);
                }
            } else if (ocol + j < p.ow) {
                y[yb + orow * p.ow + ocol + j] = act(acc[c][j] + b);
            }
        }
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
                let xv = x[((n * p.cin + c) * p.h + iy) * p.w + ix];
                let wv = wt[((c * p.cout_g + cg) * KH + kh) * KW + kw];
                s = fma(xv, wv, s);
            }
        }
    }
    if (HAS_BIAS) {
        s += bias[oc];
    }
    y[idx] = act(s);
}
