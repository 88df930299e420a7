//! Reference matmul: numpy `matmul` semantics for operands of rank >= 2 (batch dims broadcast),
//! plus the fused epilogue `act(alpha * (A . B) + bias[n]) + residual`. Plain f64 loops.

use flopwatt_ir::op::Activation;

fn broadcast(a: &[usize], b: &[usize]) -> Vec<usize> {
    let r = a.len().max(b.len());
    (0..r)
        .map(|i| {
            let da = if i + a.len() >= r {
                a[i + a.len() - r]
            } else {
                1
            };
            let db = if i + b.len() >= r {
                b[i + b.len() - r]
            } else {
                1
            };
            assert!(
                da == db || da == 1 || db == 1,
                "batch dims {a:?} and {b:?} do not broadcast"
            );
            da.max(db)
        })
        .collect()
}

/// Offset (in elements of a row-major array of `shape`) of the multi-index `idx` of a larger
/// broadcast shape: missing leading dims and dims of size 1 read index 0.
fn broadcast_offset(shape: &[usize], idx: &[usize]) -> usize {
    let lead = idx.len() - shape.len();
    let mut off = 0;
    for (d, &s) in shape.iter().enumerate() {
        let i = if s == 1 { 0 } else { idx[lead + d] };
        off = off * s + i;
    }
    off
}

fn unravel(mut z: usize, shape: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for d in (0..shape.len()).rev() {
        idx[d] = z % shape[d];
        z /= shape[d];
    }
    idx
}

/// C = A . B for row-major `a` of `a_shape` [.., M, K] and `b` of `b_shape` [.., K, N]
/// (ranks >= 2, batch dims broadcast by numpy rules). Returns C and its shape.
///
/// Panics on shapes that do not fit: this is a test oracle, the ops check shapes for users.
pub fn matmul(
    a: &[f64],
    a_shape: &[usize],
    b: &[f64],
    b_shape: &[usize],
) -> (Vec<f64>, Vec<usize>) {
    assert!(
        a_shape.len() >= 2 && b_shape.len() >= 2,
        "ranks must be >= 2"
    );
    let (m, k) = (a_shape[a_shape.len() - 2], a_shape[a_shape.len() - 1]);
    let (k2, n) = (b_shape[b_shape.len() - 2], b_shape[b_shape.len() - 1]);
    assert_eq!(k, k2, "inner dims differ");
    let a_batch = &a_shape[..a_shape.len() - 2];
    let b_batch = &b_shape[..b_shape.len() - 2];
    let batch = broadcast(a_batch, b_batch);
    let nb: usize = batch.iter().product();
    let mut out = vec![0.0; nb * m * n];
    for z in 0..nb {
        let idx = unravel(z, &batch);
        let ao = broadcast_offset(a_batch, &idx) * m * k;
        let bo = broadcast_offset(b_batch, &idx) * k * n;
        let c = &mut out[z * m * n..(z + 1) * m * n];
        for i in 0..m {
            for p in 0..k {
                let av = a[ao + i * k + p];
                for j in 0..n {
                    c[i * n + j] += av * b[bo + p * n + j];
                }
            }
        }
    }
    let mut shape = batch;
    shape.extend([m, n]);
    (out, shape)
}

/// The fused epilogue on a row-major C of `shape` [.., M, N], in place:
/// `c = act(alpha * c + bias[n]) + residual[.., m, n]`, where `bias` has N elements and
/// `residual` (with its shape) broadcasts to `shape`.
pub fn epilogue(
    c: &mut [f64],
    shape: &[usize],
    alpha: f64,
    bias: Option<&[f64]>,
    activation: Activation,
    residual: Option<(&[f64], &[usize])>,
) {
    let n = shape[shape.len() - 1];
    for (e, v) in c.iter_mut().enumerate() {
        let mut x = alpha * *v;
        if let Some(b) = bias {
            x += b[e % n];
        }
        x = activation.apply_f64(x);
        if let Some((r, rs)) = residual {
            x += r[broadcast_offset(rs, &unravel(e, shape))];
        }
        *v = x;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_known_products() {
        // [[1, 2], [3, 4]] x [[5, 6], [7, 8]] = [[19, 22], [43, 50]].
        let (c, s) = matmul(&[1., 2., 3., 4.], &[2, 2], &[5., 6., 7., 8.], &[2, 2]);
        assert_eq!(s, vec![2, 2]);
        assert_eq!(c, vec![19., 22., 43., 50.]);
        // Batch broadcast: [2, 1, 2] x [2, 1] -> [2, 1, 1].
        let (c, s) = matmul(&[1., 2., 3., 4.], &[2, 1, 2], &[1., 1.], &[2, 1]);
        assert_eq!(s, vec![2, 1, 1]);
        assert_eq!(c, vec![3., 7.]);
        let mut c = vec![1.0, -2.0];
        epilogue(
            &mut c,
            &[1, 2],
            2.0,
            Some(&[1.0, 1.0]),
            Activation::Relu,
            Some((&[10.0], &[1])),
        );
        assert_eq!(c, vec![13.0, 10.0]);
    }
}
