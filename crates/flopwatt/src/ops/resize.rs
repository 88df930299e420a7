//! Layout ops over the last two axes of NCHW f32: resize (nearest, bilinear) and pad
//! (constant, reflect, edge).

use bytemuck::{Pod, Zeroable};

use crate::error::{Error, Result};
use crate::exec::{grid_1d, Cost, Recorder};
use crate::ops::{run_once, same_device};
use crate::shaders::{specialize, RESIZE};
use crate::tensor::{DType, Tensor};
pub use flopwatt_ir::op::ResizeMode;

const WG: usize = 64;

/// Pad fill rule.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum PadMode {
    /// A constant value.
    Constant(f32),
    /// Mirror around the edge without repeating it (numpy `reflect`).
    Reflect,
    /// Repeat the edge value.
    Edge,
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    planes: u32,
    h: u32,
    w: u32,
    oh: u32,
    ow: u32,
    pad_t: u32,
    pad_l: u32,
    total: u32,
    scale_y: f32,
    scale_x: f32,
    value: f32,
    _p: u32,
}

fn check_input(op: &'static str, x: &Tensor) -> Result<[usize; 4]> {
    if x.dtype() != DType::F32 {
        return Err(Error::UnsupportedDType {
            op,
            dtype: x.dtype(),
            hint: "input must be f32".into(),
        });
    }
    if x.rank() != 4 || !x.is_contiguous() {
        return Err(Error::shape(
            op,
            format!(
                "input {:?} must be a contiguous [N, C, H, W] tensor",
                x.shape()
            ),
        ));
    }
    let s = x.shape();
    if s[2] == 0 || s[3] == 0 {
        return Err(Error::shape(op, format!("input {s:?} has empty planes")));
    }
    Ok([s[0], s[1], s[2], s[3]])
}

fn run(
    rec: &mut Recorder,
    name: &str,
    entry: &str,
    mode: u32,
    x: &Tensor,
    y: &Tensor,
    params: Params,
) -> Result<()> {
    let dev = rec.device().clone();
    let pipe = dev.own_pipeline(
        name,
        &specialize(RESIZE, &[("MODE", format!("{mode}u"))])?,
        entry,
    )?;
    let total = y.numel();
    rec.dispatch(
        name,
        &pipe,
        &[x.buffer(), y.buffer()],
        Some(bytemuck::bytes_of(&params)),
        grid_1d(&dev, total.div_ceil(WG) as u64)?,
        Cost {
            flops: if mode == 1 && entry == "resize2d" {
                6 * total as u64
            } else {
                0
            },
            bytes: 4 * (x.numel() + total) as u64,
        },
    )
}

/// Resizes the last two axes of `x` [N, C, H, W] to `size` (height, width).
pub fn resize2d(x: &Tensor, size: [usize; 2], mode: ResizeMode) -> Result<Tensor> {
    run_once(x.device(), |rec| encode_resize2d(rec, x, size, mode))
}

/// Records [`resize2d`] into `rec` (one dispatch).
pub fn encode_resize2d(
    rec: &mut Recorder,
    x: &Tensor,
    size: [usize; 2],
    mode: ResizeMode,
) -> Result<Tensor> {
    const OP: &str = "resize2d";
    same_device(OP, rec.device(), &[x])?;
    let [n, c, h, w] = check_input(OP, x)?;
    if size.contains(&0) {
        return Err(Error::invalid(
            OP,
            format!("output size {size:?} must be positive"),
        ));
    }
    let y = Tensor::empty(rec.device(), &[n, c, size[0], size[1]], DType::F32)?;
    if y.numel() == 0 {
        return Ok(y);
    }
    let params = Params {
        planes: (n * c) as u32,
        h: h as u32,
        w: w as u32,
        oh: size[0] as u32,
        ow: size[1] as u32,
        pad_t: 0,
        pad_l: 0,
        total: y.numel() as u32,
        scale_y: h as f32 / size[0] as f32,
        scale_x: w as f32 / size[1] as f32,
        value: 0.0,
        _p: 0,
    };
    let (name, m) = match mode {
        ResizeMode::Nearest => ("resize.nearest", 0),
        ResizeMode::Linear => ("resize.linear", 1),
    };
    run(rec, name, "resize2d", m, x, &y, params)?;
    Ok(y)
}

/// Pads the last two axes of `x` [N, C, H, W] by `padding` (top, left, bottom, right).
pub fn pad2d(x: &Tensor, padding: [usize; 4], mode: PadMode) -> Result<Tensor> {
    run_once(x.device(), |rec| encode_pad2d(rec, x, padding, mode))
}

/// Records [`pad2d`] into `rec` (one dispatch).
pub fn encode_pad2d(
    rec: &mut Recorder,
    x: &Tensor,
    padding: [usize; 4],
    mode: PadMode,
) -> Result<Tensor> {
    const OP: &str = "pad2d";
    same_device(OP, rec.device(), &[x])?;
    let [n, c, h, w] = check_input(OP, x)?;
    let (oh, ow) = (h + padding[0] + padding[2], w + padding[1] + padding[3]);
    let y = Tensor::empty(rec.device(), &[n, c, oh, ow], DType::F32)?;
    if y.numel() == 0 {
        return Ok(y);
    }
    let (name, m, value) = match mode {
        PadMode::Constant(v) => ("pad.constant", 0, v),
        PadMode::Reflect => ("pad.reflect", 1, 0.0),
        PadMode::Edge => ("pad.edge", 2, 0.0),
    };
    let params = Params {
        planes: (n * c) as u32,
        h: h as u32,
        w: w as u32,
        oh: oh as u32,
        ow: ow as u32,
        pad_t: padding[0] as u32,
        pad_l: padding[1] as u32,
        total: y.numel() as u32,
        scale_y: 0.0,
        scale_x: 0.0,
        value,
        _p: 0,
    };
    run(rec, name, "pad2d", m, x, &y, params)?;
    Ok(y)
}

/// Every generated resize/pad variant, for the naga test.
pub fn all_variants() -> Vec<(String, String)> {
    (0..3)
        .map(|m| {
            (
                format!("resize.mode{m}"),
                specialize(RESIZE, &[("MODE", format!("{m}u"))]).expect("resize variant"),
            )
        })
        .collect()
}
