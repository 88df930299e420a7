//! f64 references for softmax, layer norm and RMS norm (no runtime dependency).

/// Softmax (or log-softmax) of row-major `x` of `shape` along `axis`, in f64 with the max
/// subtracted (a row whose max is infinite gives NaN, as the formula does).
pub fn softmax(x: &[f32], shape: &[usize], axis: usize, log: bool) -> Vec<f64> {
    let outer: usize = shape[..axis].iter().product();
    let red = shape[axis];
    let inner: usize = shape[axis + 1..].iter().product();
    let mut y = vec![0.0; x.len()];
    for o in 0..outer {
        for i in 0..inner {
            let at = |r: usize| (o * red + r) * inner + i;
            let m = (0..red)
                .map(|r| x[at(r)] as f64)
                .fold(f64::NEG_INFINITY, f64::max);
            let s: f64 = (0..red).map(|r| (x[at(r)] as f64 - m).exp()).sum();
            for r in 0..red {
                let d = x[at(r)] as f64 - m;
                y[at(r)] = if log { d - s.ln() } else { d.exp() / s };
            }
        }
    }
    y
}

/// Layer norm of `rows` rows of `len`: biased variance, optional gamma/beta of length `len`.
pub fn layer_norm(
    x: &[f32],
    len: usize,
    gamma: Option<&[f32]>,
    beta: Option<&[f32]>,
    eps: f32,
) -> Vec<f64> {
    let mut y = Vec::with_capacity(x.len());
    for row in x.chunks(len) {
        let mean = row.iter().map(|&v| v as f64).sum::<f64>() / len as f64;
        let var = row.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / len as f64;
        let r = 1.0 / (var + eps as f64).sqrt();
        for (j, &v) in row.iter().enumerate() {
            let mut o = (v as f64 - mean) * r;
            if let Some(g) = gamma {
                o *= g[j] as f64;
            }
            if let Some(b) = beta {
                o += b[j] as f64;
            }
            y.push(o);
        }
    }
    y
}

/// RMS norm of rows of `len`: `x / sqrt(mean(x^2) + eps) * gamma`.
pub fn rms_norm(x: &[f32], len: usize, gamma: Option<&[f32]>, eps: f32) -> Vec<f64> {
    let mut y = Vec::with_capacity(x.len());
    for row in x.chunks(len) {
        let ms = row.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / len as f64;
        let r = 1.0 / (ms + eps as f64).sqrt();
        for (j, &v) in row.iter().enumerate() {
            y.push(v as f64 * r * gamma.map_or(1.0, |g| g[j] as f64));
        }
    }
    y
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_cases() {
        let s = softmax(&[0.0, 0.0, f32::NEG_INFINITY], &[3], 0, false);
        assert_eq!(s, vec![0.5, 0.5, 0.0]);
        let l = layer_norm(&[1.0, 3.0], 2, None, None, 0.0);
        assert!((l[0] + 1.0).abs() < 1e-12 && (l[1] - 1.0).abs() < 1e-12);
        let r = rms_norm(&[3.0, 4.0], 2, Some(&[2.0, 1.0]), 0.0);
        let k = (12.5f64).sqrt();
        assert!((r[0] - 6.0 / k).abs() < 1e-12 && (r[1] - 4.0 / k).abs() < 1e-12);
    }
}
