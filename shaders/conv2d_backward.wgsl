// conv2d backward, NCHW, f32: the weight gradient.
//
// (The input gradient is a transposed convolution with the same weight: `conv_transpose2d`
// in conv2d.wgsl computes it, with an output padding that restores the input size.)
//
// `conv2d_backward_weight`: dW[o, c, ky, kx] = sum over n, oy, ox of
//   dy[n, o, oy, ox] * x[n, g * cin_g + c, oy * sh - pad_t + ky * dh, ox * sw - pad_l + kx * dw]
// Each invocation owns one weight element and one slice of the batch (SPLIT slices): the
// weight tensor is usually far smaller than the batch, so splitting the long reduction over
// the batch gives the adapter enough invocations; the host sums the SPLIT partials after.
// No shared memory and no barriers (lavapipe pays most for those); the dy row walk is
// contiguous, and neighbouring invocations (consecutive kx) read neighbouring x.

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
    kw: u32,
    sh: u32,
    sw: u32,
    dh: u32,
    dw: u32,
    pad_t: u32,
    pad_l: u32,
    // Weight elements (cout * cin_g * kh * kw).
    wsize: u32,
    // Batch slices and images per slice.
    split: u32,
    per_split: u32,
    _p0: u32,
    _p1: u32,
    _p2: u32,
    _p3: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
// [split, wsize] partial sums.
@group(0) @binding(2) var<storage, read_write> dw: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

const WG: u32 = 64u;

@compute @workgroup_size(WG)
fn conv2d_backward_weight(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let gid = (wid.y * nwg.x + wid.x) * WG + li;
    if gid >= p.wsize * p.split {
        return;
    }
    let s = gid / p.wsize;
    let wi = gid % p.wsize;
    let kx = wi % p.kw;
    let ky = (wi / p.kw) % p.kh;
    let c = (wi / (p.kw * p.kh)) % p.cin_g;
    let o = wi / (p.kw * p.kh * p.cin_g);
    let ci = (o / p.cout_g) * p.cin_g + c;
    let n0 = s * p.per_split;
    let n1 = min(n0 + p.per_split, p.n);
    var acc = 0.0;
    for (var n = n0; n < n1; n++) {
        let xb = (n * p.cin + ci) * p.h;
        let yb = (n * p.cout + o) * p.oh;
        for (var oy = 0u; oy < p.oh; oy++) {
            // Signed arithmetic through wrapping: an out-of-range row wraps to a huge u32.
            let iy = oy * p.sh + ky * p.dh - p.pad_t;
            if iy >= p.h {
                continue;
            }
            let xr = (xb + iy) * p.w;
            let yr = (yb + oy) * p.ow;
            for (var ox = 0u; ox < p.ow; ox++) {
                let ix = ox * p.sw + kx * p.dw - p.pad_l;
                if ix < p.w {
                    acc += dy[yr + ox] * x[xr + ix];
                }
            }
        }
    }
    dw[gid] = acc;
}
