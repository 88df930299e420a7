//! f64 reference for scaled dot-product attention (see `ops::attention` for the semantics).

/// Attention of contiguous `q` [b, hq, lq, d], `k`/`v` [b, hkv, lk, d]. `mask(b, h, i, j)`
/// returns `None` to mask a key out, or `Some(additive)`. Fully masked rows give zeros.
#[allow(clippy::too_many_arguments)]
pub fn attention(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    dims: [usize; 6], // b, hq, hkv, lq, lk, d
    scale: f64,
    causal: bool,
    mask: &dyn Fn(usize, usize, usize, usize) -> Option<f64>,
) -> Vec<f64> {
    let [b, hq, hkv, lq, lk, d] = dims;
    let group = hq / hkv;
    let mut out = vec![0.0; b * hq * lq * d];
    let mut s = vec![0.0f64; lk];
    for bi in 0..b {
        for h in 0..hq {
            let hk = h / group;
            for i in 0..lq {
                let qr = &q[((bi * hq + h) * lq + i) * d..][..d];
                let mut mx = f64::NEG_INFINITY;
                for (j, sj) in s.iter_mut().enumerate() {
                    let kr = &k[((bi * hkv + hk) * lk + j) * d..][..d];
                    let dot: f64 = qr.iter().zip(kr).map(|(&a, &c)| a as f64 * c as f64).sum();
                    let m = if causal && j > i {
                        None
                    } else {
                        mask(bi, h, i, j)
                    };
                    *sj = match m {
                        None => f64::NEG_INFINITY,
                        Some(add) => dot * scale + add,
                    };
                    mx = mx.max(*sj);
                }
                if mx == f64::NEG_INFINITY {
                    continue;
                }
                let mut sum = 0.0;
                for sj in s.iter_mut() {
                    *sj = (*sj - mx).exp();
                    sum += *sj;
                }
                let o = &mut out[((bi * hq + h) * lq + i) * d..][..d];
                for (j, &pj) in s.iter().enumerate() {
                    let vr = &v[((bi * hkv + hk) * lk + j) * d..][..d];
                    for (oe, &ve) in o.iter_mut().zip(vr) {
                        *oe += pj / sum * ve as f64;
                    }
                }
            }
        }
    }
    out
}
