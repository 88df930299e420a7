//! f64 meaning of the training ops: conv2d forward and backward in f64 (finite differences
//! need f64 inputs end to end), and the optimiser updates.
//!
//! Plain loops, no runtime dependency, like the rest of the reference.

use crate::graph::Conv2dAttrs;

/// Output extent (oh, ow) of a conv2d.
fn out_hw(xs: [usize; 4], ws: [usize; 4], p: &Conv2dAttrs) -> (usize, usize) {
    let e = |i: usize, k: usize, a: usize, lo: usize, hi: usize| {
        (i + lo + hi - (p.dilation[a] * (k - 1) + 1)) / p.stride[a] + 1
    };
    (
        e(xs[2], ws[2], 0, p.padding[0], p.padding[2]),
        e(xs[3], ws[3], 1, p.padding[1], p.padding[3]),
    )
}

/// Visits every (x index, w index, y index) triple that conv2d multiplies.
fn taps(xs: [usize; 4], ws: [usize; 4], p: &Conv2dAttrs, mut f: impl FnMut(usize, usize, usize)) {
    let [n, cin, h, wd] = xs;
    let [cout, cin_g, kh, kw] = ws;
    let (oh, ow) = out_hw(xs, ws, p);
    let cout_g = cout / p.groups;
    for b in 0..n {
        for oc in 0..cout {
            let g = oc / cout_g;
            for oy in 0..oh {
                for ox in 0..ow {
                    let yi = ((b * cout + oc) * oh + oy) * ow + ox;
                    for ci in 0..cin_g {
                        let c = g * cin_g + ci;
                        for ky in 0..kh {
                            let iy = (oy * p.stride[0] + ky * p.dilation[0]) as isize
                                - p.padding[0] as isize;
                            if iy < 0 || iy >= h as isize {
                                continue;
                            }
                            for kx in 0..kw {
                                let ix = (ox * p.stride[1] + kx * p.dilation[1]) as isize
                                    - p.padding[1] as isize;
                                if ix < 0 || ix >= wd as isize {
                                    continue;
                                }
                                let xi = ((b * cin + c) * h + iy as usize) * wd + ix as usize;
                                let wi = ((oc * cin_g + ci) * kh + ky) * kw + kx;
                                f(xi, wi, yi);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// conv2d in f64: x [N, C, H, W], w [O, C/g, KH, KW], optional bias \[O\].
pub fn conv2d(
    x: &[f64],
    xs: [usize; 4],
    w: &[f64],
    ws: [usize; 4],
    bias: Option<&[f64]>,
    p: &Conv2dAttrs,
) -> Vec<f64> {
    let (oh, ow) = out_hw(xs, ws, p);
    let plane = oh * ow;
    let mut y = vec![0.0; xs[0] * ws[0] * plane];
    if let Some(b) = bias {
        for (i, v) in y.iter_mut().enumerate() {
            *v = b[(i / plane) % ws[0]];
        }
    }
    taps(xs, ws, p, |xi, wi, yi| y[yi] += x[xi] * w[wi]);
    y
}

/// The conv2d input gradient: dx = sum over taps of dy * w.
pub fn conv2d_backward_input(
    dy: &[f64],
    w: &[f64],
    xs: [usize; 4],
    ws: [usize; 4],
    p: &Conv2dAttrs,
) -> Vec<f64> {
    let mut dx = vec![0.0; xs.iter().product()];
    taps(xs, ws, p, |xi, wi, yi| dx[xi] += dy[yi] * w[wi]);
    dx
}

/// The conv2d weight gradient: dw = sum over taps of dy * x.
pub fn conv2d_backward_weight(
    x: &[f64],
    dy: &[f64],
    xs: [usize; 4],
    ws: [usize; 4],
    p: &Conv2dAttrs,
) -> Vec<f64> {
    let mut dw = vec![0.0; ws.iter().product()];
    taps(xs, ws, p, |xi, wi, yi| dw[wi] += dy[yi] * x[xi]);
    dw
}

/// One optimiser step in f64 on `param` with gradient `grad`; `state` holds the momentum
/// buffer (SGD) or m then v (Adam), zero-initialised by the caller; `t` counts from 1.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum OptimRef {
    /// SGD (momentum 0 means plain), PyTorch semantics with dampening 0.
    Sgd {
        /// Learning rate.
        lr: f64,
        /// Momentum.
        momentum: f64,
        /// Nesterov.
        nesterov: bool,
        /// L2 weight decay.
        weight_decay: f64,
    },
    /// Adam or AdamW.
    Adam {
        /// Learning rate.
        lr: f64,
        /// beta1.
        beta1: f64,
        /// beta2.
        beta2: f64,
        /// epsilon.
        eps: f64,
        /// Weight decay (L2 for Adam, decoupled for AdamW).
        weight_decay: f64,
        /// Decoupled weight decay.
        decoupled: bool,
    },
}

impl OptimRef {
    /// Applies step `t` (from 1) to every element.
    pub fn step(&self, param: &mut [f64], grad: &[f64], state: &mut [Vec<f64>], t: u32) {
        match *self {
            OptimRef::Sgd {
                lr,
                momentum,
                nesterov,
                weight_decay,
            } => {
                for i in 0..param.len() {
                    let g = grad[i] + weight_decay * param[i];
                    let d = if momentum != 0.0 {
                        let b = momentum * state[0][i] + g;
                        state[0][i] = b;
                        if nesterov {
                            g + momentum * b
                        } else {
                            b
                        }
                    } else {
                        g
                    };
                    param[i] -= lr * d;
                }
            }
            OptimRef::Adam {
                lr,
                beta1,
                beta2,
                eps,
                weight_decay,
                decoupled,
            } => {
                let bc1 = 1.0 - beta1.powi(t as i32);
                let bc2 = 1.0 - beta2.powi(t as i32);
                for i in 0..param.len() {
                    let mut g = grad[i];
                    if decoupled {
                        param[i] *= 1.0 - lr * weight_decay;
                    } else {
                        g += weight_decay * param[i];
                    }
                    let m = beta1 * state[0][i] + (1.0 - beta1) * g;
                    let v = beta2 * state[1][i] + (1.0 - beta2) * g * g;
                    state[0][i] = m;
                    state[1][i] = v;
                    param[i] -= lr * (m / bc1) / ((v / bc2).sqrt() + eps);
                }
            }
        }
    }
}

/// Pooling attributes for the f64 pooling reference (mirrors `ops::pool::Pool2dParams`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PoolRef {
    /// Max (else average).
    pub max: bool,
    /// Average divides by the positions inside the padded frame (else inside the input).
    pub count_pad: bool,
    /// Window.
    pub k: [usize; 2],
    /// Stride.
    pub stride: [usize; 2],
    /// Padding: top, left, bottom, right.
    pub pad: [usize; 4],
    /// Dilation.
    pub dil: [usize; 2],
}

/// Visits every pooling window of a plane-major [N*C, H, W] input with output extent
/// (oh, ow): the output index, the in-input positions (scan order) and the count of positions
/// inside the padded frame.
fn windows(xs: [usize; 4], o: [usize; 2], p: &PoolRef, mut f: impl FnMut(usize, &[usize], usize)) {
    let [n, c, h, wd] = xs;
    let mut pos = Vec::with_capacity(p.k[0] * p.k[1]);
    for pl in 0..n * c {
        for oy in 0..o[0] {
            for ox in 0..o[1] {
                pos.clear();
                let mut cnt_pad = 0;
                for ky in 0..p.k[0] {
                    for kx in 0..p.k[1] {
                        let iy = (oy * p.stride[0] + ky * p.dil[0]) as isize - p.pad[0] as isize;
                        let ix = (ox * p.stride[1] + kx * p.dil[1]) as isize - p.pad[1] as isize;
                        if iy < (h + p.pad[2]) as isize && ix < (wd + p.pad[3]) as isize {
                            cnt_pad += 1;
                        }
                        if iy < 0 || ix < 0 || iy >= h as isize || ix >= wd as isize {
                            continue;
                        }
                        pos.push((pl * h + iy as usize) * wd + ix as usize);
                    }
                }
                f((pl * o[0] + oy) * o[1] + ox, &pos, cnt_pad);
            }
        }
    }
}

/// 2-D pooling in f64 with output extent `o` (the caller's shape rule, ceil mode included).
pub fn pool2d(x: &[f64], xs: [usize; 4], o: [usize; 2], p: &PoolRef) -> Vec<f64> {
    let mut y = vec![0.0; xs[0] * xs[1] * o[0] * o[1]];
    windows(xs, o, p, |yi, pos, cnt_pad| {
        y[yi] = if p.max {
            pos.iter().map(|&i| x[i]).fold(f64::NEG_INFINITY, f64::max)
        } else {
            let s: f64 = pos.iter().map(|&i| x[i]).sum();
            let d = if p.count_pad { cnt_pad } else { pos.len() };
            if d == 0 {
                0.0
            } else {
                s / d as f64
            }
        };
    });
    y
}

/// The gradient of [`pool2d`] with respect to its input: max sends each output's gradient
/// to the first maximum of its window (scan order), average spreads it over the divisor.
pub fn pool2d_backward(
    x: &[f64],
    dy: &[f64],
    xs: [usize; 4],
    o: [usize; 2],
    p: &PoolRef,
) -> Vec<f64> {
    let mut dx = vec![0.0; x.len()];
    windows(xs, o, p, |yi, pos, cnt_pad| {
        if p.max {
            let mut best: Option<usize> = None;
            for &i in pos {
                if best.is_none_or(|b| x[i] > x[b]) {
                    best = Some(i);
                }
            }
            if let Some(b) = best {
                dx[b] += dy[yi];
            }
        } else {
            let d = if p.count_pad { cnt_pad } else { pos.len() };
            if d > 0 {
                for &i in pos {
                    dx[i] += dy[yi] / d as f64;
                }
            }
        }
    });
    dx
}
