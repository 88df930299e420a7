//! f64 meaning of the index ops (gather, slice, concat, pad) and of ONNX's inference
//! BatchNormalization: plain loops over row-major data, no device.

use flopwatt_ir::shape::{contiguous_strides, numel};

fn unravel(mut e: usize, shape: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for i in (0..shape.len()).rev() {
        idx[i] = e % shape[i].max(1);
        e /= shape[i].max(1);
    }
    idx
}

/// `take(data, indices, axis)`; negative indices count from the end, out-of-range reads 0.
pub fn gather(data: &[f64], ds: &[usize], indices: &[i64], is: &[usize], axis: usize) -> Vec<f64> {
    let outer: usize = ds[..axis].iter().product();
    let inner: usize = ds[axis + 1..].iter().product();
    let n = ds[axis] as i64;
    let ni = numel(is);
    let mut out = Vec::with_capacity(outer * ni * inner);
    for o in 0..outer {
        for &k in &indices[..ni] {
            let k = if k < 0 { k + n } else { k };
            for i in 0..inner {
                out.push(if (0..n).contains(&k) {
                    data[(o * n as usize + k as usize) * inner + i]
                } else {
                    0.0
                });
            }
        }
    }
    out
}

/// Element `starts[d] + i * steps[d]` along each axis, `counts[d]` of them.
pub fn slice(
    x: &[f64],
    xs: &[usize],
    starts: &[usize],
    steps: &[isize],
    counts: &[usize],
) -> Vec<f64> {
    let st = contiguous_strides(xs);
    (0..numel(counts))
        .map(|e| {
            let c = unravel(e, counts);
            let off: isize = (0..xs.len())
                .map(|d| (starts[d] as isize + c[d] as isize * steps[d]) * st[d] as isize)
                .sum();
            x[off as usize]
        })
        .collect()
}

/// Concatenation along `axis`.
pub fn concat(xs: &[(&[f64], &[usize])], axis: usize) -> Vec<f64> {
    let outer: usize = xs[0].1[..axis].iter().product();
    let mut out = Vec::new();
    for o in 0..outer {
        for (x, s) in xs {
            let block: usize = s[axis..].iter().product();
            out.extend_from_slice(&x[o * block..(o + 1) * block]);
        }
    }
    out
}

/// numpy-style pad modes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Mode {
    /// Fill with a constant.
    Constant(f64),
    /// Mirror without the edge.
    Reflect,
    /// Repeat the edge.
    Edge,
    /// Wrap around.
    Wrap,
}

/// N-d pad (negative pads crop).
pub fn pad(x: &[f64], xs: &[usize], begin: &[isize], end: &[isize], mode: Mode) -> Vec<f64> {
    let out: Vec<usize> = (0..xs.len())
        .map(|d| (xs[d] as isize + begin[d] + end[d]) as usize)
        .collect();
    let st = contiguous_strides(xs);
    (0..numel(&out))
        .map(|e| {
            let c = unravel(e, &out);
            let mut off = 0usize;
            for d in 0..xs.len() {
                let n = xs[d] as isize;
                let mut s = c[d] as isize - begin[d];
                if s < 0 || s >= n {
                    s = match mode {
                        Mode::Constant(v) => return v,
                        Mode::Edge => s.clamp(0, n - 1),
                        Mode::Wrap => s.rem_euclid(n),
                        Mode::Reflect => {
                            let per = (2 * (n - 1)).max(1);
                            let m = s.rem_euclid(per);
                            if m >= n {
                                per - m
                            } else {
                                m
                            }
                        }
                    };
                }
                off += s as usize * st[d];
            }
            x[off]
        })
        .collect()
}

/// Inference batch norm over axis 1 of `x` (`[N, C, ...]`).
pub fn batch_norm(
    x: &[f64],
    xs: &[usize],
    scale: &[f64],
    bias: &[f64],
    mean: &[f64],
    var: &[f64],
    eps: f64,
) -> Vec<f64> {
    let c = xs[1];
    let inner: usize = xs[2..].iter().product();
    x.iter()
        .enumerate()
        .map(|(e, &v)| {
            let ch = (e / inner) % c;
            (v - mean[ch]) / (var[ch] + eps).sqrt() * scale[ch] + bias[ch]
        })
        .collect()
}
