// conv2d backward, NCHW, f32.
//
// `conv2d_backward_weight`: dW[o, c, ky, kx] = sum over n, oy, ox of
//   dy[n, o, oy, ox] * x[n, g * cin_g + c, oy * sh - pad_t + ky * dh, ox * sw - pad_l + kx * dw]
// Each invocation owns TO output channels x all KW taps of one (input channel, kernel row),
// for one slice of the batch (SPLIT slices; the host sums the partials after): per output
// pixel it loads KW input values and TO gradients and does TO * KW FMAs from registers, and
// the weight tensor, usually far smaller than the batch, still yields enough invocations. No
// shared memory and no barriers (lavapipe pays most for those). KW and TO are compile-time
// constants (the host specialises them) so the tap arrays live in registers.
//
// `flip_weight`: w [O, C/g, KH, KW] -> w' [C, O/g, KH, KW] with the taps reversed, so that
// the input gradient of a stride-1 conv is the forward conv kernel run on dy with w'.
//
// (The input gradient of a strided conv is a transposed convolution with the same weight:
// `conv_transpose2d` in conv2d.wgsl, with an output padding that restores the input size.)

const KW: u32 = 3u;
const TO: u32 = 4u;
const WG: u32 = 64u;

struct Params {
    n: u32,
    cin: u32,
    h: u32,
    w: u32,
    cout: u32,
    oh: u32,
    ow: u32,
    cin_g: u32,
    cout_g: u32,
    kh: u32,
    sh: u32,
    sw: u32,
    dh: u32,
    dw: u32,
    pad_t: u32,
    pad_l: u32,
    // Weight elements (cout * cin_g * kh * KW).
    wsize: u32,
    // Invocations per batch slice: (cout / TO) * cin_g * kh.
    items: u32,
    // Batch slices and images per slice.
    split: u32,
    per_split: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
// [split, wsize] partial sums.
@group(0) @binding(2) var<storage, read_write> dwt: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

@compute @workgroup_size(WG)
fn conv2d_backward_weight(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let gid = (wid.y * nwg.x + wid.x) * WG + li;
    if gid >= p.items * p.split {
        return;
    }
    let s = gid / p.items;
    let item = gid % p.items;
    let ky = item % p.kh;
    let c = (item / p.kh) % p.cin_g;
    let o0 = (item / (p.kh * p.cin_g)) * TO;
    let ci = (o0 / p.cout_g) * p.cin_g + c;
    let n0 = s * p.per_split;
    let n1 = min(n0 + p.per_split, p.n);
    var acc: array<f32, TO * KW>;
    for (var n = n0; n < n1; n++) {
        for (var oy = 0u; oy < p.oh; oy++) {
            // Out-of-range rows wrap to a huge u32 (pad_t > position) and fail the test.
            let iy = oy * p.sh + ky * p.dh - p.pad_t;
            if iy >= p.h {
                continue;
            }
            let xr = ((n * p.cin + ci) * p.h + iy) * p.w;
            let yr = ((n * p.cout + o0) * p.oh + oy) * p.ow;
            let ystride = p.oh * p.ow;
            for (var ox = 0u; ox < p.ow; ox++) {
                var xv: array<f32, KW>;
                for (var kx = 0u; kx < KW; kx++) {
                    let ix = ox * p.sw + kx * p.dw - p.pad_l;
                    xv[kx] = select(0.0, x[xr + min(ix, p.w - 1u)], ix < p.w);
                }
                for (var t = 0u; t < TO; t++) {
                    let g = dy[yr + t * ystride + ox];
                    for (var kx = 0u; kx < KW; kx++) {
                        acc[t * KW + kx] += g * xv[kx];
                    }
                }
            }
        }
    }
    for (var t = 0u; t < TO; t++) {
        let base = s * p.wsize + (((o0 + t) * p.cin_g + c) * p.kh + ky) * KW;
        for (var kx = 0u; kx < KW; kx++) {
            dwt[base + kx] = acc[t * KW + kx];
        }
    }
}

struct FlipParams {
    // Output elements (C * O/g * KH * KW).
    total: u32,
    cout_g: u32,
    cin_g: u32,
    kh: u32,
    kw: u32,
    _p0: u32,
    _p1: u32,
    _p2: u32,
}

@group(0) @binding(0) var<storage, read> wsrc: array<f32>;
@group(0) @binding(1) var<storage, read_write> wflip: array<f32>;
@group(0) @binding(2) var<uniform> fp: FlipParams;

@compute @workgroup_size(WG)
fn flip_weight(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let i = (wid.y * nwg.x + wid.x) * WG + li;
    if i >= fp.total {
        return;
    }
    // i indexes w' [C, O/g, KH, KW].
    let kx = i % fp.kw;
    let ky = (i / fp.kw) % fp.kh;
    let o = (i / (fp.kw * fp.kh)) % fp.cout_g;
    let cc = i / (fp.kw * fp.kh * fp.cout_g);
    let g = cc / fp.cin_g;
    let c = cc % fp.cin_g;
    let src = (((g * fp.cout_g + o) * fp.cin_g + c) * fp.kh + (fp.kh - 1u - ky)) * fp.kw
        + (fp.kw - 1u - kx);
    wflip[i] = wsrc[src];
}

// `pool2d_backward`: dx of max / average pooling, gathered per input element (no atomics):
// every output window that contains the element adds its share. Max recomputes the window's
// first maximum (scan order, strictly greater wins, as the reference) and adds dy only where
// that is this element; average adds dy / divisor.
struct PoolParams {
    planes: u32,
    h: u32,
    w: u32,
    oh: u32,
    ow: u32,
    kh: u32,
    kw: u32,
    sh: u32,
    sw: u32,
    dh: u32,
    dw: u32,
    pad_t: u32,
    pad_l: u32,
    pad_b: u32,
    pad_r: u32,
    // 0 max, 1 average over in-input positions, 2 average over the padded frame.
    kind: u32,
}

@group(0) @binding(0) var<storage, read> px: array<f32>;
@group(0) @binding(1) var<storage, read> pdy: array<f32>;
@group(0) @binding(2) var<storage, read_write> pdx: array<f32>;
@group(0) @binding(3) var<uniform> pp: PoolParams;

@compute @workgroup_size(WG)
fn pool2d_backward(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let i = (wid.y * nwg.x + wid.x) * WG + li;
    if i >= pp.planes * pp.h * pp.w {
        return;
    }
    let ix = i % pp.w;
    let iy = (i / pp.w) % pp.h;
    let plane = i / (pp.w * pp.h);
    let xb = plane * pp.h * pp.w;
    let yb = plane * pp.oh * pp.ow;
    var acc = 0.0;
    for (var ky = 0u; ky < pp.kh; ky++) {
        // Window row oy holds iy at tap ky when oy * sh + ky * dh == iy + pad_t.
        let ty = iy + pp.pad_t;
        if ty < ky * pp.dh || (ty - ky * pp.dh) % pp.sh != 0u {
            continue;
        }
        let oy = (ty - ky * pp.dh) / pp.sh;
        if oy >= pp.oh {
            continue;
        }
        for (var kx = 0u; kx < pp.kw; kx++) {
            let tx = ix + pp.pad_l;
            if tx < kx * pp.dw || (tx - kx * pp.dw) % pp.sw != 0u {
                continue;
            }
            let ox = (tx - kx * pp.dw) / pp.sw;
            if ox >= pp.ow {
                continue;
            }
            let g = pdy[yb + oy * pp.ow + ox];
            // Scan the window (oy, ox).
            var best = 0xffffffffu;
            var bestv = 0.0;
            var cnt = 0u;
            var cnt_pad = 0u;
            for (var wy = 0u; wy < pp.kh; wy++) {
                let y0 = oy * pp.sh + wy * pp.dh;
                for (var wx = 0u; wx < pp.kw; wx++) {
                    let x0 = ox * pp.sw + wx * pp.dw;
                    if y0 < pp.h + pp.pad_t + pp.pad_b && x0 < pp.w + pp.pad_l + pp.pad_r {
                        cnt_pad += 1u;
                    }
                    if y0 < pp.pad_t || x0 < pp.pad_l {
                        continue;
                    }
                    let yy = y0 - pp.pad_t;
                    let xx = x0 - pp.pad_l;
                    if yy >= pp.h || xx >= pp.w {
                        continue;
                    }
                    cnt += 1u;
                    let v = px[xb + yy * pp.w + xx];
                    if best == 0xffffffffu || v > bestv {
                        best = yy * pp.w + xx;
                        bestv = v;
                    }
                }
            }
            if pp.kind == 0u {
                if best == iy * pp.w + ix {
                    acc += g;
                }
            } else {
                let d = select(cnt, cnt_pad, pp.kind == 2u);
                acc += g / f32(max(d, 1u));
            }
        }
    }
    pdx[i] = acc;
}
