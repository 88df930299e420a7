//! f64 references for reductions (no runtime dependency).

/// Which reduction (mirrors `ops::reduce::ReduceOp` without depending on it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Sum.
    Sum,
    /// Mean.
    Mean,
    /// Max, NaN ignored.
    Max,
    /// Min, NaN ignored.
    Min,
    /// Product.
    Prod,
    /// First index of the max, NaN ignored.
    ArgMax,
    /// First index of the min, NaN ignored.
    ArgMin,
}

/// Reduces row-major `x` of `shape` over the dims where `mask` is true. The result is in
/// row-major order of the kept dims; arg kinds return the row-major position within the
/// reduced dims, as f64.
pub fn reduce(x: &[f32], shape: &[usize], mask: &[bool], kind: Kind) -> Vec<f64> {
    let n_out: usize = shape
        .iter()
        .zip(mask)
        .filter(|(_, &m)| !m)
        .map(|(&d, _)| d)
        .product();
    let count: usize = shape
        .iter()
        .zip(mask)
        .filter(|(_, &m)| m)
        .map(|(&d, _)| d)
        .product();
    let init = match kind {
        Kind::Sum | Kind::Mean => 0.0,
        Kind::Prod => 1.0,
        Kind::Max | Kind::ArgMax => f64::NEG_INFINITY,
        Kind::Min | Kind::ArgMin => f64::INFINITY,
    };
    let mut acc = vec![init; n_out];
    let mut arg: Vec<Option<usize>> = vec![None; n_out];
    let mut idx = vec![0usize; shape.len()];
    for &v in x {
        let (mut o, mut r) = (0usize, 0usize);
        for (d, (&i, &m)) in idx.iter().zip(mask).enumerate() {
            if m {
                r = r * shape[d] + i;
            } else {
                o = o * shape[d] + i;
            }
        }
        let v = v as f64;
        match kind {
            Kind::Sum | Kind::Mean => acc[o] += v,
            Kind::Prod => acc[o] *= v,
            Kind::Max => {
                if v > acc[o] {
                    acc[o] = v
                }
            }
            Kind::Min => {
                if v < acc[o] {
                    acc[o] = v
                }
            }
            Kind::ArgMax | Kind::ArgMin => {
                let better = if kind == Kind::ArgMax {
                    v > acc[o]
                } else {
                    v < acc[o]
                };
                // Elements arrive in increasing r for each output, so strict comparison keeps
                // the first occurrence; the first non-NaN equal to the initial infinity counts.
                if better || (arg[o].is_none() && v == acc[o]) {
                    acc[o] = v;
                    arg[o] = Some(r);
                }
            }
        }
        for d in (0..idx.len()).rev() {
            idx[d] += 1;
            if idx[d] < shape[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    match kind {
        Kind::Mean => acc.iter().map(|a| a / count as f64).collect(),
        Kind::ArgMax | Kind::ArgMin => arg.iter().map(|a| a.unwrap_or(0) as f64).collect(),
        _ => acc,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_cases() {
        let x = [1.0f32, 5.0, 5.0, -2.0, 0.5, 3.0];
        assert_eq!(
            reduce(&x, &[2, 3], &[false, true], Kind::Sum),
            vec![11.0, 1.5]
        );
        assert_eq!(
            reduce(&x, &[2, 3], &[true, false], Kind::Max),
            vec![1.0, 5.0, 5.0]
        );
        assert_eq!(
            reduce(&x, &[2, 3], &[false, true], Kind::ArgMax),
            vec![1.0, 2.0]
        );
        assert_eq!(reduce(&x, &[2, 3], &[true, true], Kind::ArgMin), vec![3.0]);
        assert_eq!(
            reduce(&x, &[2, 3], &[true, true], Kind::Mean),
            vec![12.5 / 6.0]
        );
        assert_eq!(
            reduce(&[f32::NAN, 2.0], &[2], &[true], Kind::ArgMax),
            vec![1.0]
        );
    }
}
