//! Where the operands of one product live: the output shape, M, N and K, and every offset
//! and stride the kernel reads with (A and B broadcast over the batch, the residual to the
//! output, the bias along N), checked once and turned into the kernel's parameters.

use super::{u32_of, Epilogue, Params, OP};
use crate::device::Device;
use crate::error::{Error, Result};
use crate::ops::same_device;
use crate::tensor::{broadcast_strides, DType, Tensor};

/// The layout of one product's operands, batch dims collapsed.
pub(super) struct Operands {
    /// Operand and output dtype.
    pub dtype: DType,
    /// Output shape `[batch.., M, N]`.
    pub shape: Vec<usize>,
    pub m: usize,
    pub n: usize,
    pub k: usize,
    /// Product of the batch dims.
    pub nbatch: usize,
    /// A's strides read as `[batch.., M, K]`.
    pub a_str: Vec<usize>,
    /// B's strides read as `[batch.., K, N]`.
    pub b_str: Vec<usize>,
    /// The residual's strides read as the output shape (zeros without one), and its offset.
    pub r_str: Vec<usize>,
    pub r_off: usize,
    /// The bias's offset and stride along N (0 for a one-element bias).
    pub bias_off: usize,
    pub bias_s: usize,
    /// Batch dims after collapsing (at most 4), and A's, B's and the residual's strides in them.
    pub bshape: Vec<usize>,
    pub a_bs: Vec<usize>,
    pub b_bs: Vec<usize>,
    pub r_bs: Vec<usize>,
}

impl Operands {
    /// Checks the operands' device, dtypes and shapes, and reads their layout.
    pub fn of(device: &Device, a: &Tensor, b: &Tensor, epi: &Epilogue) -> Result<Self> {
        let mut all = vec![a, b];
        all.extend(epi.bias);
        all.extend(epi.residual);
        same_device(OP, device, &all)?;
        let dtype = a.dtype();
        if dtype == DType::I32 {
            return Err(Error::UnsupportedDType {
                op: OP,
                dtype,
                hint: "matmul takes f32 or f16".into(),
            });
        }
        for (what, t) in [
            ("B", Some(b)),
            ("bias", epi.bias),
            ("residual", epi.residual),
        ] {
            if let Some(t) = t {
                if t.dtype() != dtype {
                    return Err(Error::UnsupportedDType {
                        op: OP,
                        dtype: t.dtype(),
                        hint: format!("{what} must have A's dtype {dtype}"),
                    });
                }
            }
        }
        let shape = super::output_shape(a.shape(), b.shape())?;
        let r = shape.len();
        let (m, n, k) = (shape[r - 2], shape[r - 1], a.shape()[a.rank() - 1]);
        let batch_shape = &shape[..r - 2];
        let nbatch: usize = batch_shape.iter().product();

        let mut a_target = batch_shape.to_vec();
        a_target.extend([m, k]);
        let mut b_target = batch_shape.to_vec();
        b_target.extend([k, n]);
        let bad = || {
            Error::shape(
                OP,
                format!(
                    "batch dims do not broadcast, {:?} x {:?}",
                    a.shape(),
                    b.shape()
                ),
            )
        };
        let a_str = broadcast_strides(a.shape(), a.strides(), &a_target).ok_or_else(bad)?;
        let b_str = broadcast_strides(b.shape(), b.strides(), &b_target).ok_or_else(bad)?;
        let (r_str, r_off) = match epi.residual {
            Some(t) => (
                broadcast_strides(t.shape(), t.strides(), &shape).ok_or_else(|| {
                    Error::shape(
                        OP,
                        format!(
                            "residual {:?} does not broadcast to the output {shape:?}",
                            t.shape()
                        ),
                    )
                })?,
                t.offset(),
            ),
            None => (vec![0; r], 0),
        };
        let (bias_off, bias_s) = match epi.bias {
            Some(t) => {
                let ok = t.rank() == 1 && (t.shape()[0] == n || t.shape()[0] == 1);
                if !ok {
                    return Err(Error::shape(
                        OP,
                        format!(
                            "bias {:?} must have shape [{n}] for an output {shape:?}",
                            t.shape()
                        ),
                    ));
                }
                (
                    t.offset(),
                    if t.shape()[0] == 1 { 0 } else { t.strides()[0] },
                )
            }
            None => (0, 0),
        };
        let (bshape, [a_bs, b_bs, r_bs]) = collapse_batch(
            batch_shape,
            [&a_str[..r - 2], &b_str[..r - 2], &r_str[..r - 2]],
        )?;
        Ok(Operands {
            dtype,
            shape,
            m,
            n,
            k,
            nbatch,
            a_str,
            b_str,
            r_str,
            r_off,
            bias_off,
            bias_s,
            bshape,
            a_bs,
            b_bs,
            r_bs,
        })
    }

    /// The kernel's parameters (batch_base 0), every value checked to fit in 32 bits.
    pub fn params(&self, a: &Tensor, b: &Tensor, epi: &Epilogue) -> Result<Params> {
        let r = self.shape.len();
        let mut params = Params {
            m: u32_of(self.m, "M")?,
            n: u32_of(self.n, "N")?,
            k: u32_of(self.k, "K")?,
            batch_base: 0,
            a_off: u32_of(a.offset(), "offset")?,
            a_rs: u32_of(self.a_str[r - 2], "stride")?,
            a_cs: u32_of(self.a_str[r - 1], "stride")?,
            b_off: u32_of(b.offset(), "offset")?,
            b_rs: u32_of(self.b_str[r - 2], "stride")?,
            b_cs: u32_of(self.b_str[r - 1], "stride")?,
            r_off: u32_of(self.r_off, "offset")?,
            r_rs: u32_of(self.r_str[r - 2], "stride")?,
            r_cs: u32_of(self.r_str[r - 1], "stride")?,
            bias_off: u32_of(self.bias_off, "offset")?,
            bias_s: u32_of(self.bias_s, "stride")?,
            alpha: epi.alpha,
            bshape: [1; 4],
            a_bs: pad4(&self.a_bs)?,
            b_bs: pad4(&self.b_bs)?,
            r_bs: pad4(&self.r_bs)?,
        };
        for (i, &d) in self.bshape.iter().enumerate() {
            params.bshape[4 - self.bshape.len() + i] = u32_of(d, "batch dim")?;
        }
        u32_of(self.nbatch * self.m * self.n, "output size")?;
        Ok(params)
    }
}

/// Batch dims as (shape, [a, b, residual] strides), with size-1 dims dropped and adjacent
/// dims merged where every operand walks them as one; at most 4 remain.
pub(super) fn collapse_batch(
    shape: &[usize],
    strides: [&[usize]; 3],
) -> Result<(Vec<usize>, [Vec<usize>; 3])> {
    let mut out_shape: Vec<usize> = Vec::new();
    let mut out_strides: [Vec<usize>; 3] = Default::default();
    for d in 0..shape.len() {
        if shape[d] == 1 {
            continue;
        }
        let merge = !out_shape.is_empty()
            && (0..3).all(|o| {
                let last = *out_strides[o].last().unwrap_or(&0);
                last == strides[o][d] * shape[d]
            });
        if merge {
            *out_shape.last_mut().expect("non-empty") *= shape[d];
            for o in 0..3 {
                *out_strides[o].last_mut().expect("non-empty") = strides[o][d];
            }
        } else {
            out_shape.push(shape[d]);
            for o in 0..3 {
                out_strides[o].push(strides[o][d]);
            }
        }
    }
    if out_shape.len() > 4 {
        return Err(Error::invalid(
            OP,
            format!(
                "batch dims {shape:?} with these strides need {} dims; at most 4 are supported",
                out_shape.len()
            ),
        ));
    }
    Ok((out_shape, out_strides))
}

fn pad4(v: &[usize]) -> Result<[u32; 4]> {
    let mut out = [0u32; 4];
    for (i, &x) in v.iter().enumerate() {
        out[4 - v.len() + i] = u32_of(x, "batch stride")?;
    }
    Ok(out)
}
