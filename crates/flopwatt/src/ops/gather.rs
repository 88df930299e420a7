//! Index kernels (`shaders/gather.wgsl`): gather along an axis, strided copies (slices with
//! any step sign, concatenation, contiguous copies of i32 tensors) and N-d pad.
//!
//! The kernels move raw 4-byte words, so they serve f32 and i32 tensors alike (f16 tensors
//! are refused: their elements are 2 bytes). They do no arithmetic: FLOPs are 0 and the cost
//! is the bytes read and written.

use bytemuck::{Pod, Zeroable};

use crate::error::{Error, Result};
use crate::exec::{grid_1d, Cost, Recorder};
use crate::ops::{run_once, same_device};
use crate::shaders::GATHER;
use crate::tensor::{contiguous_strides, numel, DType, Tensor};
pub use flopwatt_ir::op::PadMode;
pub use flopwatt_ir::shape::{concat_shape, gather_shape, pad_shape, slice_range};

const WG: usize = 64;
/// The highest rank the strided kernels index.
pub const MAX_RANK: usize = 8;

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct GatherParams {
    outer: u32,
    axis_len: u32,
    n_idx: u32,
    inner: u32,
    total: u32,
    _p: [u32; 3],
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct StridedParams {
    rank: u32,
    total: u32,
    src_off: i32,
    dst_off: u32,
    shape: [u32; 8],
    src_strides: [i32; 8],
    dst_strides: [u32; 8],
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct PadParams {
    rank: u32,
    total: u32,
    mode: u32,
    value: u32,
    src_off: u32,
    _p: [u32; 3],
    out_shape: [u32; 8],
    in_shape: [u32; 8],
    begin: [i32; 8],
    in_strides: [u32; 8],
}

fn word_dtype(op: &'static str, t: &Tensor) -> Result<()> {
    match t.dtype() {
        DType::F32 | DType::I32 => Ok(()),
        d => Err(Error::UnsupportedDType {
            op,
            dtype: d,
            hint: "index kernels move f32 or i32 elements".into(),
        }),
    }
}

fn u32_of(op: &'static str, v: usize) -> Result<u32> {
    u32::try_from(v).map_err(|_| Error::invalid(op, format!("{v} does not fit in u32")))
}

fn i32_of(op: &'static str, v: isize) -> Result<i32> {
    i32::try_from(v).map_err(|_| Error::invalid(op, format!("{v} does not fit in i32")))
}

fn rank_ok(op: &'static str, shape: &[usize]) -> Result<()> {
    if shape.len() > MAX_RANK {
        return Err(Error::invalid(
            op,
            format!("rank {} above {MAX_RANK}: {shape:?}", shape.len()),
        ));
    }
    Ok(())
}

/// A contiguous copy of `t` (f32 or i32) with one strided-copy dispatch.
pub fn encode_contiguous(rec: &mut Recorder, t: &Tensor) -> Result<Tensor> {
    let strides: Vec<isize> = t.strides().iter().map(|&s| s as isize).collect();
    encode_strided_copy(rec, t, t.offset() as isize, &strides, t.shape())
}

/// Copies the region `shape` of `src`'s buffer read at `offset + sum c_d * strides_d`
/// (element units, strides may be negative) into a new contiguous tensor.
pub fn encode_strided_copy(
    rec: &mut Recorder,
    src: &Tensor,
    offset: isize,
    strides: &[isize],
    shape: &[usize],
) -> Result<Tensor> {
    let y = Tensor::empty(rec.device(), shape, src.dtype())?;
    encode_copy_into(rec, src, offset, strides, &y, 0)?;
    Ok(y)
}

/// Copies the region of `src` described by (`offset`, `strides`, `dst`'s region shape) into the
/// contiguous tensor `dst` starting at `dst_off` with `dst`'s own strides over `region`.
fn encode_copy_region(
    rec: &mut Recorder,
    src: &Tensor,
    src_off: isize,
    src_strides: &[isize],
    region: &[usize],
    dst: &Tensor,
    dst_off: usize,
) -> Result<()> {
    const OP: &str = "strided_copy";
    let dev = rec.device().clone();
    same_device(OP, &dev, &[src, dst])?;
    word_dtype(OP, src)?;
    rank_ok(OP, region)?;
    if src.dtype() != dst.dtype() {
        return Err(Error::invalid(
            OP,
            format!("dtypes differ: {} into {}", src.dtype(), dst.dtype()),
        ));
    }
    let total = numel(region);
    if total == 0 {
        return Ok(());
    }
    let dst_strides = contiguous_strides(dst.shape());
    let mut p = StridedParams {
        rank: region.len() as u32,
        total: u32_of(OP, total)?,
        src_off: i32_of(OP, src_off)?,
        dst_off: u32_of(OP, dst_off)?,
        shape: [1; 8],
        src_strides: [0; 8],
        dst_strides: [0; 8],
    };
    for d in 0..region.len() {
        p.shape[d] = u32_of(OP, region[d])?;
        p.src_strides[d] = i32_of(OP, src_strides[d])?;
        p.dst_strides[d] = u32_of(OP, dst_strides[d])?;
    }
    let pipe = dev.own_pipeline("gather.copy_strided", GATHER, "copy_strided")?;
    rec.dispatch(
        "gather.copy_strided",
        &pipe,
        &[src.buffer(), dst.buffer()],
        Some(bytemuck::bytes_of(&p)),
        grid_1d(&dev, total.div_ceil(WG) as u64)?,
        Cost {
            flops: 0,
            bytes: 8 * total as u64,
        },
    )?;
    Ok(())
}

fn encode_copy_into(
    rec: &mut Recorder,
    src: &Tensor,
    offset: isize,
    strides: &[isize],
    dst: &Tensor,
    dst_off: usize,
) -> Result<()> {
    let region = dst.shape().to_vec();
    encode_copy_region(rec, src, offset, strides, &region, dst, dst_off)
}

/// ONNX/numpy `take` along `axis`: `indices` is i32, `-len..len` (negative counts from the
/// end); an index out of range makes the run an error naming it (a flag the kernel sets,
/// read back after the run: see `Recorder::check_flag`).
pub fn gather(data: &Tensor, indices: &Tensor, axis: usize) -> Result<Tensor> {
    run_once(data.device(), |rec| encode_gather(rec, data, indices, axis))
}

/// Records [`gather`] (one dispatch; strided inputs are copied first).
pub fn encode_gather(
    rec: &mut Recorder,
    data: &Tensor,
    indices: &Tensor,
    axis: usize,
) -> Result<Tensor> {
    const OP: &str = "gather";
    let dev = rec.device().clone();
    same_device(OP, &dev, &[data, indices])?;
    word_dtype(OP, data)?;
    if indices.dtype() != DType::I32 {
        return Err(Error::UnsupportedDType {
            op: OP,
            dtype: indices.dtype(),
            hint: "indices must be i32".into(),
        });
    }
    let ds = data.shape();
    if axis >= ds.len() {
        return Err(Error::invalid(
            OP,
            format!("axis {axis} out of range for data {ds:?}"),
        ));
    }
    let out_shape = gather_shape(ds, indices.shape(), axis);
    let y = Tensor::empty(&dev, &out_shape, data.dtype())?;
    let total = y.numel();
    if total == 0 {
        return Ok(y);
    }
    if ds[axis] == 0 {
        return Err(Error::shape(
            OP,
            format!("gathering from an empty axis {axis} of {ds:?}"),
        ));
    }
    let data = if data.is_contiguous() {
        data.clone()
    } else {
        encode_contiguous(rec, data)?
    };
    let indices = if indices.is_contiguous() {
        indices.clone()
    } else {
        encode_contiguous(rec, indices)?
    };
    let p = GatherParams {
        outer: u32_of(OP, ds[..axis].iter().product())?,
        axis_len: u32_of(OP, ds[axis])?,
        n_idx: u32_of(OP, indices.numel())?,
        inner: u32_of(OP, ds[axis + 1..].iter().product())?,
        total: u32_of(OP, total)?,
        _p: [0; 3],
    };
    let pipe = dev.own_pipeline("gather.gather", GATHER, "gather")?;
    let len = ds[axis];
    let flag = rec.check_flag(move |bad| {
        format!(
            "gather index {} is out of range for an axis of size {len} (valid: -{len} to {})",
            bad as i32,
            len - 1
        )
    });
    rec.dispatch(
        "gather.gather",
        &pipe,
        &[data.buffer(), indices.buffer(), y.buffer(), &flag],
        Some(bytemuck::bytes_of(&p)),
        grid_1d(&dev, total.div_ceil(WG) as u64)?,
        Cost {
            flops: 0,
            bytes: 8 * total as u64 + 4 * indices.numel() as u64,
        },
    )?;
    Ok(y)
}

/// `x[start_d :: step_d]` for every axis, `counts` elements each (see [`slice_range`]); any
/// step sign, one dispatch.
pub fn slice(x: &Tensor, starts: &[usize], steps: &[isize], counts: &[usize]) -> Result<Tensor> {
    run_once(x.device(), |rec| {
        encode_slice(rec, x, starts, steps, counts)
    })
}

/// Records [`slice()`].
pub fn encode_slice(
    rec: &mut Recorder,
    x: &Tensor,
    starts: &[usize],
    steps: &[isize],
    counts: &[usize],
) -> Result<Tensor> {
    const OP: &str = "slice";
    let r = x.rank();
    if starts.len() != r || steps.len() != r || counts.len() != r {
        return Err(Error::invalid(
            OP,
            format!(
                "starts/steps/counts must have rank {r} entries for {:?}",
                x.shape()
            ),
        ));
    }
    let mut off = x.offset() as isize;
    let mut strides = Vec::with_capacity(r);
    for d in 0..r {
        let n = x.shape()[d];
        let last = starts[d] as isize + steps[d] * (counts[d] as isize - 1);
        if counts[d] > 0 && (starts[d] >= n || last < 0 || last >= n as isize || steps[d] == 0) {
            return Err(Error::shape(
                OP,
                format!(
                    "axis {d}: start {} step {} count {} leaves [0, {n}) of {:?}",
                    starts[d],
                    steps[d],
                    counts[d],
                    x.shape()
                ),
            ));
        }
        let st = x.strides()[d] as isize;
        off += starts[d] as isize * st;
        strides.push(st * steps[d]);
    }
    encode_strided_copy(rec, x, off, &strides, counts)
}

/// Concatenation along `axis` (one strided-copy dispatch per input).
pub fn concat(xs: &[&Tensor], axis: usize) -> Result<Tensor> {
    let first = xs
        .first()
        .ok_or_else(|| Error::invalid("concat", "no inputs"))?;
    run_once(first.device(), |rec| encode_concat(rec, xs, axis))
}

/// Records [`concat()`].
pub fn encode_concat(rec: &mut Recorder, xs: &[&Tensor], axis: usize) -> Result<Tensor> {
    let shapes: Vec<&[usize]> = xs.iter().map(|t| t.shape()).collect();
    let out_shape = concat_shape(&shapes, axis)?;
    let dt = xs[0].dtype();
    if xs.iter().any(|t| t.dtype() != dt) {
        return Err(Error::invalid("concat", "inputs have different dtypes"));
    }
    let y = Tensor::empty(rec.device(), &out_shape, dt)?;
    let ystr = contiguous_strides(&out_shape);
    let mut at = 0;
    for x in xs {
        let strides: Vec<isize> = x.strides().iter().map(|&s| s as isize).collect();
        encode_copy_region(
            rec,
            x,
            x.offset() as isize,
            &strides,
            x.shape(),
            &y,
            at * ystr[axis],
        )?;
        at += x.shape()[axis];
    }
    Ok(y)
}

/// N-d pad of `x` with `begin`/`end` pads per axis (negative crops), one dispatch.
pub fn pad(x: &Tensor, begin: &[isize], end: &[isize], mode: PadMode) -> Result<Tensor> {
    run_once(x.device(), |rec| encode_pad(rec, x, begin, end, mode))
}

/// Records [`pad`].
pub fn encode_pad(
    rec: &mut Recorder,
    x: &Tensor,
    begin: &[isize],
    end: &[isize],
    mode: PadMode,
) -> Result<Tensor> {
    const OP: &str = "pad";
    let dev = rec.device().clone();
    same_device(OP, &dev, &[x])?;
    word_dtype(OP, x)?;
    rank_ok(OP, x.shape())?;
    let out_shape = pad_shape(x.shape(), begin, end)?;
    if !matches!(mode, PadMode::Constant(_)) {
        for (d, &n) in x.shape().iter().enumerate() {
            let grows = begin[d] > 0 || end[d] > 0;
            if grows && n == 0 {
                return Err(Error::shape(
                    OP,
                    format!("{mode:?} padding of the empty axis {d} of {:?}", x.shape()),
                ));
            }
        }
    }
    let y = Tensor::empty(&dev, &out_shape, x.dtype())?;
    let total = y.numel();
    if total == 0 {
        return Ok(y);
    }
    let (mode_id, value) = match mode {
        PadMode::Constant(v) => (
            0,
            if x.dtype() == DType::I32 {
                (v as i32) as u32
            } else {
                v.to_bits()
            },
        ),
        PadMode::Reflect => (1, 0),
        PadMode::Edge => (2, 0),
        PadMode::Wrap => (3, 0),
    };
    let mut p = PadParams {
        rank: x.rank() as u32,
        total: u32_of(OP, total)?,
        mode: mode_id,
        value,
        src_off: u32_of(OP, x.offset())?,
        _p: [0; 3],
        out_shape: [1; 8],
        in_shape: [1; 8],
        begin: [0; 8],
        in_strides: [0; 8],
    };
    for d in 0..x.rank() {
        p.out_shape[d] = u32_of(OP, out_shape[d])?;
        p.in_shape[d] = u32_of(OP, x.shape()[d])?;
        p.begin[d] = i32_of(OP, begin[d])?;
        p.in_strides[d] = u32_of(OP, x.strides()[d])?;
    }
    let pipe = dev.own_pipeline("gather.pad", GATHER, "pad")?;
    rec.dispatch(
        "gather.pad",
        &pipe,
        &[x.buffer(), y.buffer()],
        Some(bytemuck::bytes_of(&p)),
        grid_1d(&dev, total.div_ceil(WG) as u64)?,
        Cost {
            flops: 0,
            bytes: 8 * total as u64,
        },
    )?;
    Ok(y)
}
