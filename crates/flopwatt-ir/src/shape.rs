//! Shapes and strides: element counts, broadcasting, views, and the output shapes of the
//! index ops.

use crate::error::{Error, Result};

/// Number of elements of a shape (1 for a scalar). Saturates at `usize::MAX` where the
/// product overflows, so an unchecked huge shape never reads as a small one; shapes that
/// passed [`check_shape`] never saturate.
pub fn numel(shape: &[usize]) -> usize {
    checked_numel(shape).unwrap_or(usize::MAX)
}

/// Number of elements of a shape, `None` where the product overflows `usize`.
pub fn checked_numel(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d))
}

/// The most bytes one value may span: Rust's allocation limit, so a host copy of any
/// accepted value is at least expressible.
pub const MAX_VALUE_BYTES: u64 = isize::MAX as u64;

/// Checks that a shape's element count, its size in bytes at `elem_bytes` per element, and
/// its contiguous strides (products of trailing dims, zero-sized dims included) all fit in
/// [`MAX_VALUE_BYTES`]; returns the element count. The error names the op and the shape.
pub fn check_shape(op: &'static str, shape: &[usize], elem_bytes: usize) -> Result<usize> {
    // Strides multiply every trailing dim, so a zero dim does not excuse the others.
    let span = shape
        .iter()
        .try_fold(elem_bytes.max(1) as u64, |a, &d| {
            a.checked_mul((d as u64).max(1))
        })
        .filter(|&b| b <= MAX_VALUE_BYTES);
    match span {
        Some(_) => Ok(numel(shape)),
        None => Err(Error::shape(
            op,
            format!(
                "shape {shape:?} spans more than {MAX_VALUE_BYTES} bytes at {elem_bytes} bytes \
                 per element; use a smaller shape"
            ),
        )),
    }
}

/// Row-major (C order) strides of a shape, in elements (saturating, like [`numel`]).
pub fn contiguous_strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1usize; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1].saturating_mul(shape[i + 1]);
    }
    s
}

/// numpy broadcasting of two shapes; `None` when they are incompatible.
pub fn broadcast_shapes(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let r = a.len().max(b.len());
    let mut out = vec![0; r];
    for i in 0..r {
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
        out[i] = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => return None,
        };
    }
    Some(out)
}

/// Strides that read a tensor of `shape`/`strides` as `new_shape` without moving data, when
/// such strides exist (numpy's no-copy reshape): each group of old dims that maps onto a
/// group of new dims must be dense with itself. `None` when a copy is needed or the element
/// counts differ. Contiguous inputs always give contiguous strides.
pub fn reshape_strides(
    shape: &[usize],
    strides: &[usize],
    new_shape: &[usize],
) -> Option<Vec<usize>> {
    if numel(shape) != numel(new_shape) || shape.len() != strides.len() {
        return None;
    }
    if numel(shape) == 0 {
        return Some(contiguous_strides(new_shape));
    }
    let old: Vec<(usize, usize)> = shape
        .iter()
        .zip(strides)
        .filter(|(&d, _)| d != 1)
        .map(|(&d, &s)| (d, s))
        .collect();
    let new_idx: Vec<usize> = (0..new_shape.len())
        .filter(|&i| new_shape[i] != 1)
        .collect();
    let mut out = vec![0; new_shape.len()];
    let (mut oi, mut ni) = (0, 0);
    while oi < old.len() && ni < new_idx.len() {
        let (mut oj, mut nj) = (oi + 1, ni + 1);
        let (mut op, mut np) = (old[oi].0, new_shape[new_idx[ni]]);
        while op != np {
            if op < np {
                op *= old.get(oj)?.0;
                oj += 1;
            } else {
                np *= new_shape[*new_idx.get(nj)?];
                nj += 1;
            }
        }
        if (oi..oj - 1).any(|k| old[k].1 != old[k + 1].0 * old[k + 1].1) {
            return None;
        }
        let mut s = old[oj - 1].1;
        for k in (ni..nj).rev() {
            out[new_idx[k]] = s;
            s *= new_shape[new_idx[k]];
        }
        oi = oj;
        ni = nj;
    }
    // Size-1 dims take the stride a dense layout would give them (any value is valid).
    for i in (0..new_shape.len()).rev() {
        if new_shape[i] == 1 {
            out[i] = if i + 1 < new_shape.len() {
                out[i + 1] * new_shape[i + 1]
            } else {
                1
            };
        }
    }
    Some(out)
}

/// Strides that read a tensor of `shape`/`strides` as if broadcast to `target`.
pub fn broadcast_strides(
    shape: &[usize],
    strides: &[usize],
    target: &[usize],
) -> Option<Vec<usize>> {
    if shape.len() > target.len() {
        return None;
    }
    let lead = target.len() - shape.len();
    let mut out = vec![0; target.len()];
    for i in 0..shape.len() {
        let t = target[lead + i];
        out[lead + i] = if shape[i] == t {
            strides[i]
        } else if shape[i] == 1 {
            0
        } else {
            return None;
        };
    }
    Some(out)
}

/// The output shape of `gather`: `data.shape[..axis] + indices.shape + data.shape[axis+1..]`.
pub fn gather_shape(data: &[usize], indices: &[usize], axis: usize) -> Vec<usize> {
    let mut s = data[..axis].to_vec();
    s.extend_from_slice(indices);
    s.extend_from_slice(&data[axis + 1..]);
    s
}

/// Resolves a slice along one axis of length `n` by ONNX rules (clamping, negative `start`/
/// `end` counting from the end, `step` != 0): returns (first index, count).
pub fn slice_range(n: usize, start: i64, end: i64, step: i64) -> (usize, usize) {
    if n == 0 || step == 0 {
        return (0, 0);
    }
    let n = n as i64;
    let fix = |v: i64, lo: i64, hi: i64| {
        let v = if v < 0 { v.saturating_add(n) } else { v };
        v.clamp(lo, hi)
    };
    if step > 0 {
        let (s, e) = (fix(start, 0, n), fix(end, 0, n));
        let c = if e > s { (e - s - 1) / step + 1 } else { 0 };
        (s as usize, c as usize)
    } else {
        let (s, e) = (fix(start, 0, n - 1), fix(end, -1, n - 1));
        let c = if s > e {
            (s - e - 1) / step.saturating_neg() + 1
        } else {
            0
        };
        (s.max(0) as usize, c as usize)
    }
}

/// The output shape of [`concat`], or a shape error naming the inputs.
pub fn concat_shape(shapes: &[&[usize]], axis: usize) -> Result<Vec<usize>> {
    let first = shapes
        .first()
        .ok_or_else(|| Error::invalid("concat", "no inputs"))?;
    if axis >= first.len() {
        return Err(Error::invalid(
            "concat",
            format!("axis {axis} out of range for {first:?}"),
        ));
    }
    let mut out = first.to_vec();
    out[axis] = 0;
    for s in shapes {
        let same = s.len() == first.len() && (0..s.len()).all(|d| d == axis || s[d] == first[d]);
        if !same {
            return Err(Error::shape(
                "concat",
                format!("shapes {shapes:?} differ outside axis {axis}"),
            ));
        }
        out[axis] += s[axis];
    }
    Ok(out)
}

/// The output shape of `pad`: `n + begin + end` per axis (negative pads crop).
pub fn pad_shape(shape: &[usize], begin: &[isize], end: &[isize]) -> Result<Vec<usize>> {
    if begin.len() != shape.len() || end.len() != shape.len() {
        return Err(Error::invalid(
            "pad",
            format!("pads {begin:?}/{end:?} need one entry per axis of {shape:?}"),
        ));
    }
    (0..shape.len())
        .map(|d| {
            let n = shape[d] as isize + begin[d] + end[d];
            if n < 0 {
                Err(Error::shape(
                    "pad",
                    format!("pads {begin:?}/{end:?} crop {shape:?} below zero"),
                ))
            } else {
                Ok(n as usize)
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_shape_rejects_counts_bytes_and_strides_that_overflow() {
        assert_eq!(check_shape("t", &[2, 3], 4).unwrap(), 6);
        assert_eq!(check_shape("t", &[], 4).unwrap(), 1);
        // 2^64 elements: the product itself overflows.
        assert!(check_shape("t", &[1 << 32, 1 << 32], 4).is_err());
        // 2^62 elements fit usize, but not at 4 bytes each.
        assert!(check_shape("t", &[1 << 31, 1 << 31], 4).is_err());
        // No elements, but the strides of the leading dims overflow.
        assert!(check_shape("t", &[0, 1 << 40, 1 << 40], 4).is_err());
        assert_eq!(numel(&[1 << 32, 1 << 32]), usize::MAX);
    }
}
