//! f64 references for convolution, pooling, resize and pad (NCHW, plain loops).

use flopwatt_ir::op::Activation;

/// conv2d: `x` [n, cin, h, w], `w` [cout, cin / groups, kh, kw]; padding top, left, bottom,
/// right. Returns the output and its shape.
#[allow(clippy::too_many_arguments)]
pub fn conv2d(
    x: &[f32],
    xs: [usize; 4],
    w: &[f32],
    ws: [usize; 4],
    bias: Option<&[f32]>,
    stride: [usize; 2],
    pad: [usize; 4],
    dil: [usize; 2],
    groups: usize,
    act: Activation,
) -> (Vec<f64>, [usize; 4]) {
    let [n, cin, h, wd] = xs;
    let [cout, cin_g, kh, kw] = ws;
    let oh = (h + pad[0] + pad[2] - dil[0] * (kh - 1) - 1) / stride[0] + 1;
    let ow = (wd + pad[1] + pad[3] - dil[1] * (kw - 1) - 1) / stride[1] + 1;
    let cout_g = cout / groups;
    let mut y = vec![0.0; n * cout * oh * ow];
    for b in 0..n {
        for oc in 0..cout {
            let g = oc / cout_g;
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut s = bias.map_or(0.0, |bs| bs[oc] as f64);
                    for ci in 0..cin_g {
                        let c = g * cin_g + ci;
                        for ky in 0..kh {
                            let iy = (oy * stride[0] + ky * dil[0]) as isize - pad[0] as isize;
                            if iy < 0 || iy >= h as isize {
                                continue;
                            }
                            for kx in 0..kw {
                                let ix = (ox * stride[1] + kx * dil[1]) as isize - pad[1] as isize;
                                if ix < 0 || ix >= wd as isize {
                                    continue;
                                }
                                let xv = x[((b * cin + c) * h + iy as usize) * wd + ix as usize];
                                let wv = w[((oc * cin_g + ci) * kh + ky) * kw + kx];
                                s += xv as f64 * wv as f64;
                            }
                        }
                    }
                    y[((b * cout + oc) * oh + oy) * ow + ox] = act.apply_f64(s);
                }
            }
        }
    }
    (y, [n, cout, oh, ow])
}

/// conv-transpose 2d by scattering: `w` [cin, cout / groups, kh, kw].
#[allow(clippy::too_many_arguments)]
pub fn conv_transpose2d(
    x: &[f32],
    xs: [usize; 4],
    w: &[f32],
    ws: [usize; 4],
    bias: Option<&[f32]>,
    stride: [usize; 2],
    pad: [usize; 4],
    out_pad: [usize; 2],
    dil: [usize; 2],
    groups: usize,
    act: Activation,
) -> (Vec<f64>, [usize; 4]) {
    let [n, cin, h, wd] = xs;
    let [_, cout_g, kh, kw] = ws;
    let cout = cout_g * groups;
    let cin_g = cin / groups;
    let fh = (h - 1) * stride[0] + dil[0] * (kh - 1) + 1 + out_pad[0];
    let fw = (wd - 1) * stride[1] + dil[1] * (kw - 1) + 1 + out_pad[1];
    let (oh, ow) = (fh - pad[0] - pad[2], fw - pad[1] - pad[3]);
    let mut y = vec![0.0; n * cout * oh * ow];
    for b in 0..n {
        for c in 0..cin {
            let g = c / cin_g;
            for iy in 0..h {
                for ix in 0..wd {
                    let xv = x[((b * cin + c) * h + iy) * wd + ix] as f64;
                    for cg in 0..cout_g {
                        let oc = g * cout_g + cg;
                        for ky in 0..kh {
                            let oy = (iy * stride[0] + ky * dil[0]) as isize - pad[0] as isize;
                            if oy < 0 || oy >= oh as isize {
                                continue;
                            }
                            for kx in 0..kw {
                                let ox = (ix * stride[1] + kx * dil[1]) as isize - pad[1] as isize;
                                if ox < 0 || ox >= ow as isize {
                                    continue;
                                }
                                let wv = w[((c * cout_g + cg) * kh + ky) * kw + kx] as f64;
                                y[((b * cout + oc) * oh + oy as usize) * ow + ox as usize] +=
                                    xv * wv;
                            }
                        }
                    }
                }
            }
        }
    }
    for b in 0..n {
        for oc in 0..cout {
            let base = (b * cout + oc) * oh * ow;
            for v in &mut y[base..base + oh * ow] {
                *v = act.apply_f64(*v + bias.map_or(0.0, |bs| bs[oc] as f64));
            }
        }
    }
    (y, [n, cout, oh, ow])
}

/// Max or average pooling; `count_pad` counts padded positions in the average divisor.
#[allow(clippy::too_many_arguments)]
pub fn pool2d(
    x: &[f32],
    xs: [usize; 4],
    k: [usize; 2],
    stride: [usize; 2],
    pad: [usize; 4],
    dil: [usize; 2],
    max: bool,
    count_pad: bool,
) -> (Vec<f64>, [usize; 4]) {
    pool2d_ceil(x, xs, k, stride, pad, dil, max, count_pad, false)
}

/// [`pool2d`] with ONNX/PyTorch `ceil_mode` (output sizes rounded up; a last window must
/// start inside the input or the leading padding).
#[allow(clippy::too_many_arguments)]
pub fn pool2d_ceil(
    x: &[f32],
    xs: [usize; 4],
    k: [usize; 2],
    stride: [usize; 2],
    pad: [usize; 4],
    dil: [usize; 2],
    max: bool,
    count_pad: bool,
    ceil: bool,
) -> (Vec<f64>, [usize; 4]) {
    let [n, c, h, wd] = xs;
    let len = |i: usize, a: usize| {
        let span = dil[a] * (k[a] - 1) + 1;
        let room = i + pad[a] + pad[a + 2] - span;
        let mut o = if ceil {
            room.div_ceil(stride[a]) + 1
        } else {
            room / stride[a] + 1
        };
        if ceil && (o - 1) * stride[a] >= i + pad[a] {
            o -= 1;
        }
        o
    };
    let (oh, ow) = (len(h, 0), len(wd, 1));
    let mut y = vec![0.0; n * c * oh * ow];
    for p in 0..n * c {
        for oy in 0..oh {
            for ox in 0..ow {
                let mut m = f64::NEG_INFINITY;
                let mut s = 0.0;
                let mut cnt = 0usize;
                let mut cnt_pad = 0usize;
                for ky in 0..k[0] {
                    for kx in 0..k[1] {
                        let iy = (oy * stride[0] + ky * dil[0]) as isize - pad[0] as isize;
                        let ix = (ox * stride[1] + kx * dil[1]) as isize - pad[1] as isize;
                        // Positions in the padded frame (not beyond it) count for count_pad.
                        let in_frame = iy < (h + pad[2]) as isize && ix < (wd + pad[3]) as isize;
                        if in_frame {
                            cnt_pad += 1;
                        }
                        if iy < 0 || ix < 0 || iy >= h as isize || ix >= wd as isize {
                            continue;
                        }
                        let v = x[(p * h + iy as usize) * wd + ix as usize] as f64;
                        m = m.max(v);
                        s += v;
                        cnt += 1;
                    }
                }
                y[(p * oh + oy) * ow + ox] = if max {
                    m
                } else if count_pad {
                    s / cnt_pad as f64
                } else if cnt == 0 {
                    0.0
                } else {
                    s / cnt as f64
                };
            }
        }
    }
    (y, [n, c, oh, ow])
}

/// Global average pooling to [n, c, 1, 1].
pub fn global_avg_pool(x: &[f32], xs: [usize; 4]) -> Vec<f64> {
    let hw = xs[2] * xs[3];
    (0..xs[0] * xs[1])
        .map(|p| {
            x[p * hw..(p + 1) * hw]
                .iter()
                .map(|&v| v as f64)
                .sum::<f64>()
                / hw as f64
        })
        .collect()
}

/// Resize of the last two axes; `linear` is bilinear with half-pixel centres (ONNX
/// `half_pixel`, PyTorch `align_corners=False`), else nearest with `floor` of the
/// asymmetric source coordinate (ONNX `asymmetric` + `floor`, PyTorch `nearest`).
pub fn resize2d(x: &[f32], xs: [usize; 4], oh: usize, ow: usize, linear: bool) -> Vec<f64> {
    let [n, c, h, wd] = xs;
    let (sy, sx) = (h as f64 / oh as f64, wd as f64 / ow as f64);
    let at = |p: usize, y: usize, xx: usize| x[(p * h + y) * wd + xx] as f64;
    let mut out = vec![0.0; n * c * oh * ow];
    for p in 0..n * c {
        for oy in 0..oh {
            for ox in 0..ow {
                out[(p * oh + oy) * ow + ox] = if linear {
                    let fy = ((oy as f64 + 0.5) * sy - 0.5).max(0.0);
                    let fx = ((ox as f64 + 0.5) * sx - 0.5).max(0.0);
                    let (y0, x0) = (fy.floor() as usize, fx.floor() as usize);
                    let (y0, x0) = (y0.min(h - 1), x0.min(wd - 1));
                    let (y1, x1) = ((y0 + 1).min(h - 1), (x0 + 1).min(wd - 1));
                    let (ty, tx) = (fy - y0 as f64, fx - x0 as f64);
                    let (ty, tx) = (ty.min(1.0), tx.min(1.0));
                    let top = at(p, y0, x0) * (1.0 - tx) + at(p, y0, x1) * tx;
                    let bot = at(p, y1, x0) * (1.0 - tx) + at(p, y1, x1) * tx;
                    top * (1.0 - ty) + bot * ty
                } else {
                    let iy = ((oy as f64 * sy).floor() as usize).min(h - 1);
                    let ix = ((ox as f64 * sx).floor() as usize).min(wd - 1);
                    at(p, iy, ix)
                };
            }
        }
    }
    out
}

/// Pad modes of [`pad2d`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum PadMode {
    /// A constant value.
    Constant(f32),
    /// Mirror without repeating the edge (numpy `reflect`).
    Reflect,
    /// Repeat the edge value.
    Edge,
}

/// Pads the last two axes by top, left, bottom, right.
pub fn pad2d(x: &[f32], xs: [usize; 4], pad: [usize; 4], mode: PadMode) -> Vec<f64> {
    let [n, c, h, wd] = xs;
    let (oh, ow) = (h + pad[0] + pad[2], wd + pad[1] + pad[3]);
    let src = |i: isize, len: usize| -> Option<usize> {
        if i >= 0 && (i as usize) < len {
            return Some(i as usize);
        }
        match mode {
            PadMode::Constant(_) => None,
            PadMode::Edge => Some(i.clamp(0, len as isize - 1) as usize),
            PadMode::Reflect => {
                let period = 2 * (len as isize - 1);
                if period == 0 {
                    return Some(0);
                }
                let m = i.rem_euclid(period);
                Some(if m < len as isize { m } else { period - m } as usize)
            }
        }
    };
    let mut out = vec![0.0; n * c * oh * ow];
    for p in 0..n * c {
        for oy in 0..oh {
            for ox in 0..ow {
                let iy = src(oy as isize - pad[0] as isize, h);
                let ix = src(ox as isize - pad[1] as isize, wd);
                out[(p * oh + oy) * ow + ox] = match (iy, ix, mode) {
                    (Some(a), Some(b), _) => x[(p * h + a) * wd + b] as f64,
                    (_, _, PadMode::Constant(v)) => v as f64,
                    _ => unreachable!("reflect and edge always map inside"),
                };
            }
        }
    }
    out
}
