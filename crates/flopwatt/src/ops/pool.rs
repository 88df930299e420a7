//! Pooling over the last two axes of NCHW f32: max, average (with or without the padded
//! positions in the divisor) and global average.

use bytemuck::{Pod, Zeroable};

use crate::error::{Error, Result};
use crate::exec::{grid_1d, Cost, Recorder};
use crate::ops::{run_once, same_device};
use crate::shaders::{specialize, POOL};
use crate::tensor::{DType, Tensor};
pub use flopwatt_ir::op::{pool_out_len, Pool2dParams, PoolKind};

const WG: usize = 64;

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    planes: u32,
    h: u32,
    w: u32,
    oh: u32,
    ow: u32,
    kh: u32,
    kw: u32,
    sh: u32,
    sw: u32,
    pad_t: u32,
    pad_l: u32,
    dh: u32,
    dw: u32,
    hp: u32,
    wp: u32,
    total: u32,
}

fn source(kind: PoolKind) -> Result<String> {
    let mode = match kind {
        PoolKind::Max => 0,
        PoolKind::Avg => 1,
        PoolKind::AvgCountPad => 2,
    };
    specialize(POOL, &[("MODE", format!("{mode}u"))])
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
    Ok([s[0], s[1], s[2], s[3]])
}

/// Max or average pooling of `x` [N, C, H, W]; returns [N, C, OH, OW] with
/// `OH = (H + pad_t + pad_b - dilation * (KH - 1) - 1) / stride + 1`.
pub fn pool2d(x: &Tensor, p: &Pool2dParams) -> Result<Tensor> {
    run_once(x.device(), |rec| encode_pool2d(rec, x, p))
}

/// Records [`pool2d`] into `rec` (one dispatch).
pub fn encode_pool2d(rec: &mut Recorder, x: &Tensor, p: &Pool2dParams) -> Result<Tensor> {
    const OP: &str = "pool2d";
    let dev = rec.device().clone();
    same_device(OP, &dev, &[x])?;
    let [n, c, h, w] = check_input(OP, x)?;
    if p.kernel.contains(&0) || p.stride.contains(&0) || p.dilation.contains(&0) {
        return Err(Error::invalid(
            OP,
            format!(
                "kernel {:?}, stride {:?} and dilation {:?} must be positive",
                p.kernel, p.stride, p.dilation
            ),
        ));
    }
    let pd = p.padding;
    let (hp, wp) = (h + pd[0] + pd[2], w + pd[1] + pd[3]);
    let span = |a: usize| p.dilation[a] * (p.kernel[a] - 1) + 1;
    if hp < span(0) || wp < span(1) {
        return Err(Error::shape(
            OP,
            format!(
                "window {:?} (dilation {:?}) does not fit input {:?} padded by {pd:?}",
                p.kernel,
                p.dilation,
                x.shape()
            ),
        ));
    }
    // A window that lies entirely in the padding would have no input value (max of nothing).
    if pd[0].max(pd[2]) >= span(0) || pd[1].max(pd[3]) >= span(1) {
        return Err(Error::invalid(
            OP,
            format!("padding {pd:?} must be smaller than the window extent"),
        ));
    }
    let len = |a: usize, i: usize| {
        pool_out_len(
            i,
            p.kernel[a],
            p.stride[a],
            pd[a],
            pd[a + 2],
            p.dilation[a],
            p.ceil_mode,
        )
        .expect("window checked to fit")
    };
    let (oh, ow) = (len(0, h), len(1, w));
    let y = Tensor::empty(&dev, &[n, c, oh, ow], DType::F32)?;
    if y.numel() == 0 {
        return Ok(y);
    }
    let total = y.numel();
    let params = Params {
        planes: (n * c) as u32,
        h: h as u32,
        w: w as u32,
        oh: oh as u32,
        ow: ow as u32,
        kh: p.kernel[0] as u32,
        kw: p.kernel[1] as u32,
        sh: p.stride[0] as u32,
        sw: p.stride[1] as u32,
        pad_t: pd[0] as u32,
        pad_l: pd[1] as u32,
        dh: p.dilation[0] as u32,
        dw: p.dilation[1] as u32,
        hp: hp as u32,
        wp: wp as u32,
        total: total as u32,
    };
    let name = format!("pool.{:?}", p.kind).to_lowercase();
    let pipe = dev.own_pipeline(&name, &source(p.kind)?, "pool2d")?;
    let window = (p.kernel[0] * p.kernel[1]) as u64;
    rec.dispatch(
        &name,
        &pipe,
        &[x.buffer(), y.buffer()],
        Some(bytemuck::bytes_of(&params)),
        grid_1d(&dev, total.div_ceil(WG) as u64)?,
        Cost {
            flops: total as u64 * window,
            bytes: 4 * (x.numel() + total) as u64,
        },
    )?;
    Ok(y)
}

/// Global average pooling of `x` [N, C, H, W] to [N, C, 1, 1].
pub fn global_avg_pool(x: &Tensor) -> Result<Tensor> {
    run_once(x.device(), |rec| encode_global_avg_pool(rec, x))
}

/// Records [`global_avg_pool`] into `rec` (one dispatch).
pub fn encode_global_avg_pool(rec: &mut Recorder, x: &Tensor) -> Result<Tensor> {
    const OP: &str = "global_avg_pool";
    let dev = rec.device().clone();
    same_device(OP, &dev, &[x])?;
    let [n, c, h, w] = check_input(OP, x)?;
    if h * w == 0 {
        return Err(Error::shape(
            OP,
            format!("input {:?} has empty planes", x.shape()),
        ));
    }
    let y = Tensor::empty(&dev, &[n, c, 1, 1], DType::F32)?;
    if y.numel() == 0 {
        return Ok(y);
    }
    let params = Params {
        planes: (n * c) as u32,
        h: h as u32,
        w: w as u32,
        oh: 1,
        ow: 1,
        kh: 0,
        kw: 0,
        sh: 0,
        sw: 0,
        pad_t: 0,
        pad_l: 0,
        dh: 0,
        dw: 0,
        hp: 0,
        wp: 0,
        total: (n * c) as u32,
    };
    let pipe = dev.own_pipeline("pool.global_avg", POOL, "global_avg")?;
    rec.dispatch(
        "pool.global_avg",
        &pipe,
        &[x.buffer(), y.buffer()],
        Some(bytemuck::bytes_of(&params)),
        grid_1d(&dev, (n * c).div_ceil(WG) as u64)?,
        Cost {
            flops: x.numel() as u64,
            bytes: 4 * (x.numel() + n * c) as u64,
        },
    )?;
    Ok(y)
}

/// Every generated pooling variant, for the naga test.
pub fn all_variants() -> Vec<(String, String)> {
    [PoolKind::Max, PoolKind::Avg, PoolKind::AvgCountPad]
        .into_iter()
        .map(|k| (format!("pool.{k:?}"), source(k).expect("pool variant")))
        .collect()
}
