//! Convolution, NCHW f32: conv2d (stride, asymmetric padding, dilation, groups, bias, fused
//! activation), conv1d through it, and conv-transpose 2d.
//!
//! conv2d is a direct, register-blocked kernel without an im2col buffer (see
//! `shaders/conv2d.wgsl`): kernel size, stride and dilation are compiled in, so each shape
//! class gets its own pipeline (cached by the device) and 1x1 stride-1 unpadded convolutions
//! take a flat path with no tap loops and no bounds checks.

use bytemuck::{Pod, Zeroable};

use crate::device::Device;
use crate::error::{Error, Result};
use crate::exec::{grid_1d, Cost, Recorder};
use crate::ops::{act_function, run_once, same_device, Activation};
use crate::shaders::{specialize, CONV2D};
use crate::tensor::{numel, DType, Tensor};
pub use flopwatt_ir::op::{Conv1dParams, Conv2dParams, ConvTranspose2dParams};

const WG: usize = 64;

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    n: u32,
    cin: u32,
    h: u32,
    w: u32,
    cout: u32,
    oh: u32,
    ow: u32,
    groups: u32,
    cin_g: u32,
    cout_g: u32,
    pad_t: u32,
    pad_l: u32,
    tiles_row: u32,
    co_blocks: u32,
    total_tiles: u32,
    _pad: u32,
}

/// The compile-time shape of a conv kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Spec {
    k: [usize; 2],
    s: [usize; 2],
    d: [usize; 2],
    tp: usize,
    tc: usize,
    flat: bool,
    bias: bool,
    aligned: bool,
    pl: usize,
}

fn source(spec: &Spec, act: Activation) -> Result<String> {
    let u = |v: usize| format!("{v}u");
    let src = specialize(
        CONV2D,
        &[
            ("KH", u(spec.k[0])),
            ("KW", u(spec.k[1])),
            ("SH", u(spec.s[0])),
            ("SW", u(spec.s[1])),
            ("DH", u(spec.d[0])),
            ("DW", u(spec.d[1])),
            ("TP", u(spec.tp)),
            ("TC", u(spec.tc)),
            ("FLAT", spec.flat.to_string()),
            ("HAS_BIAS", spec.bias.to_string()),
            ("ALIGNED", spec.aligned.to_string()),
            ("PL", u(spec.pl)),
        ],
    )?;
    Ok(format!("{src}\n{}", act_function(act)))
}

fn check_f32_contig(op: &'static str, what: &str, t: &Tensor, rank: usize) -> Result<()> {
    if t.dtype() != DType::F32 {
        return Err(Error::UnsupportedDType {
            op,
            dtype: t.dtype(),
            hint: format!("{what} must be f32"),
        });
    }
    if t.rank() != rank {
        return Err(Error::shape(
            op,
            format!("{what} must have rank {rank}, got shape {:?}", t.shape()),
        ));
    }
    if !t.is_contiguous() {
        return Err(Error::shape(
            op,
            format!("{what} {:?} must be contiguous", t.shape()),
        ));
    }
    Ok(())
}

/// Output extent of a convolution along one axis, or `None` when the window does not fit.
fn out_extent(inp: usize, pad: usize, k: usize, s: usize, d: usize) -> Option<usize> {
    let span = d * (k - 1) + 1;
    let padded = inp + pad;
    if padded < span {
        None
    } else {
        Some((padded - span) / s + 1)
    }
}

/// 2-D convolution of `x` [N, Cin, H, W] with `w` [Cout, Cin / groups, KH, KW], plus `bias`
/// \[Cout\], then the activation; returns [N, Cout, OH, OW].
pub fn conv2d(x: &Tensor, w: &Tensor, bias: Option<&Tensor>, p: &Conv2dParams) -> Result<Tensor> {
    run_once(x.device(), |rec| encode_conv2d(rec, x, w, bias, p))
}

/// Records [`conv2d`] into `rec`: a weight repack (each tap's output-channel block made
/// contiguous for vec4 loads), then the convolution.
pub fn encode_conv2d(
    rec: &mut Recorder,
    x: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    p: &Conv2dParams,
) -> Result<Tensor> {
    encode_conv2d_impl(rec, x, w, bias, p, Packing::Both).map(|(y, _)| y)
}

/// Repacks constant weights once for [`encode_conv2d_prepacked`] with inputs of `x`'s shape
/// (a compiled graph does this at compile time, so a run is one dispatch). `x` is only read
/// for its shape and device.
pub fn pack_conv2d_weights(
    rec: &mut Recorder,
    x: &Tensor,
    w: &Tensor,
    p: &Conv2dParams,
) -> Result<Tensor> {
    encode_conv2d_impl(rec, x, w, None, p, Packing::PackOnly).map(|(_, packed)| packed)
}

/// [`encode_conv2d`] with weights repacked earlier by [`pack_conv2d_weights`] for the same
/// `x` shape, `w` and `p` (one dispatch). `w` is checked for shape, not read.
pub fn encode_conv2d_prepacked(
    rec: &mut Recorder,
    x: &Tensor,
    w: &Tensor,
    packed: &Tensor,
    bias: Option<&Tensor>,
    p: &Conv2dParams,
) -> Result<Tensor> {
    encode_conv2d_impl(rec, x, w, bias, p, Packing::Prepacked(packed)).map(|(y, _)| y)
}

#[derive(Clone, Copy)]
enum Packing<'a> {
    Both,
    PackOnly,
    Prepacked(&'a Tensor),
}

/// The sizes of one conv2d, checked: input `[n, cin, h, w]`, weight `[cout, cin_g, kh, kw]`,
/// `g` groups, output `[n, cout, oh, ow]`.
struct ConvShape {
    n: usize,
    cin: usize,
    h: usize,
    w: usize,
    cout: usize,
    cin_g: usize,
    kh: usize,
    kw: usize,
    g: usize,
    oh: usize,
    ow: usize,
}

impl ConvShape {
    const OP: &'static str = "conv2d";

    /// Checks devices, dtypes, layouts, groups, strides and the output extent.
    fn of(
        dev: &Device,
        x: &Tensor,
        w: &Tensor,
        bias: Option<&Tensor>,
        p: &Conv2dParams,
    ) -> Result<Self> {
        let op = Self::OP;
        same_device(op, dev, &[x, w])?;
        check_f32_contig(op, "input", x, 4)?;
        check_f32_contig(op, "weight", w, 4)?;
        let (n, cin, h, wd) = (x.shape()[0], x.shape()[1], x.shape()[2], x.shape()[3]);
        let (cout, cin_g, kh, kw) = (w.shape()[0], w.shape()[1], w.shape()[2], w.shape()[3]);
        let g = p.groups;
        if g == 0 || !cin.is_multiple_of(g) || !cout.is_multiple_of(g) {
            return Err(Error::invalid(
                op,
                format!("groups {g} must divide input channels {cin} and output channels {cout}"),
            ));
        }
        if cin_g != cin / g || kh == 0 || kw == 0 {
            return Err(Error::shape(
                op,
                format!(
                    "weight {:?} does not fit input {:?} with groups {g} (need [Cout, {}, KH, KW])",
                    w.shape(),
                    x.shape(),
                    cin / g
                ),
            ));
        }
        if p.stride.contains(&0) || p.dilation.contains(&0) {
            return Err(Error::invalid(
                op,
                format!(
                    "stride {:?} and dilation {:?} must be positive",
                    p.stride, p.dilation
                ),
            ));
        }
        if let Some(b) = bias {
            same_device(op, dev, &[b])?;
            check_f32_contig(op, "bias", b, 1)?;
            if b.shape()[0] != cout {
                return Err(Error::shape(
                    op,
                    format!("bias {:?} must be [{cout}]", b.shape()),
                ));
            }
        }
        let pd = p.padding;
        let oh = out_extent(h, pd[0] + pd[2], kh, p.stride[0], p.dilation[0]);
        let ow = out_extent(wd, pd[1] + pd[3], kw, p.stride[1], p.dilation[1]);
        let (Some(oh), Some(ow)) = (oh, ow) else {
            return Err(Error::shape(
                op,
                format!(
                    "kernel {kh}x{kw} with dilation {:?} does not fit input {:?} padded by {:?}",
                    p.dilation,
                    x.shape(),
                    pd
                ),
            ));
        };
        Ok(ConvShape {
            n,
            cin,
            h,
            w: wd,
            cout,
            cin_g,
            kh,
            kw,
            g,
            oh,
            ow,
        })
    }

    fn out_shape(&self) -> [usize; 4] {
        [self.n, self.cout, self.oh, self.ow]
    }

    fn cout_g(&self) -> usize {
        self.cout / self.g
    }

    /// The kernel for this shape: 1x1 stride-1 unpadded convs run flat over pixels; the
    /// channel block follows the channels per group (depthwise gets 1); rows take vec4 loads
    /// where their stride and padding keep the 4-pixel segments aligned.
    fn spec(&self, p: &Conv2dParams, bias: bool) -> Spec {
        let (kh, kw) = (self.kh, self.kw);
        let pd = p.padding;
        let flat = kh == 1 && kw == 1 && p.stride == [1, 1] && pd == [0; 4];
        let cout_g = self.cout_g();
        let tc = if cout_g >= 8 {
            8
        } else if cout_g >= 4 {
            4
        } else {
            1
        };
        let tp = 4;
        let seg = (tp - 1) * p.stride[1] + (kw - 1) * p.dilation[1] + 1;
        let aligned = if flat {
            (self.oh * self.ow).is_multiple_of(4)
        } else {
            p.stride[1] == 1 && self.w.is_multiple_of(4) && pd[1] <= 4 && seg <= 8 + pd[1]
        };
        Spec {
            k: [kh, kw],
            s: if flat { [1, 1] } else { p.stride },
            d: if flat { [1, 1] } else { p.dilation },
            tp,
            tc,
            flat,
            bias,
            aligned,
            pl: if aligned && !flat { pd[1] } else { 0 },
        }
    }

    /// The kernel's parameters for `spec`, every size checked to fit in 32 bits.
    fn params(&self, spec: &Spec, p: &Conv2dParams) -> Result<Params> {
        let tiles_row = if spec.flat {
            (self.oh * self.ow).div_ceil(spec.tp)
        } else {
            self.ow.div_ceil(spec.tp)
        };
        let total_tiles = if spec.flat {
            self.n * tiles_row
        } else {
            self.n * self.oh * tiles_row
        };
        let u = |v: usize, what: &str| {
            u32::try_from(v).map_err(|_| {
                Error::shape(
                    Self::OP,
                    format!("{what} {v} does not fit in 32 bits; use a smaller shape"),
                )
            })
        };
        u(numel(&self.out_shape()), "output size")?;
        Ok(Params {
            n: u(self.n, "batch")?,
            cin: u(self.cin, "input channels")?,
            h: u(self.h, "height")?,
            w: u(self.w, "width")?,
            cout: u(self.cout, "output channels")?,
            oh: u(self.oh, "output height")?,
            ow: u(self.ow, "output width")?,
            groups: u(self.g, "groups")?,
            cin_g: u(self.cin_g, "input channels per group")?,
            cout_g: u(self.cout_g(), "output channels per group")?,
            pad_t: u(p.padding[0], "padding")?,
            pad_l: u(p.padding[1], "padding")?,
            tiles_row: u(tiles_row, "tiles per row")?,
            co_blocks: u(self.cout_g().div_ceil(spec.tc), "channel blocks")?,
            total_tiles: u(total_tiles, "tiles")?,
            _pad: 0,
        })
    }

    fn cost(&self, x: &Tensor, w: &Tensor, bias: Option<&Tensor>) -> Cost {
        let y_numel = numel(&self.out_shape());
        let flops = 2
            * (self.n * self.cout * self.oh * self.ow * self.cin_g * self.kh * self.kw) as u64
            + if bias.is_some() { y_numel as u64 } else { 0 };
        let bytes = 4 * (x.numel() + w.numel() + y_numel + bias.map_or(0, |b| b.numel())) as u64;
        Cost { flops, bytes }
    }
}

/// The pipeline name of a direct conv kernel (what profiles and `explain` show).
fn kernel_name(spec: &Spec) -> String {
    format!(
        "conv2d.direct.k{}x{}.s{}x{}.d{}x{}.tc{}{}{}",
        spec.k[0],
        spec.k[1],
        spec.s[0],
        spec.s[1],
        spec.d[0],
        spec.d[1],
        spec.tc,
        if spec.flat { ".flat" } else { "" },
        if spec.aligned {
            format!(".aligned{}", spec.pl)
        } else {
            String::new()
        }
    )
}

fn encode_conv2d_impl(
    rec: &mut Recorder,
    x: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    p: &Conv2dParams,
    packing: Packing,
) -> Result<(Tensor, Tensor)> {
    let dev = rec.device().clone();
    let cs = ConvShape::of(&dev, x, w, bias, p)?;
    let out_shape = cs.out_shape();
    if numel(&out_shape) == 0 {
        let y = Tensor::empty(&dev, &out_shape, DType::F32)?;
        return Ok((y.clone(), y));
    }
    let spec = cs.spec(p, bias.is_some());
    let params = cs.params(&spec, p)?;
    let name = kernel_name(&spec);
    let key = format!("conv2d {spec:?} {}", super::activation_key(p.activation));
    let pipe = dev.kernel_pipeline(&name, &format!("{key} direct"), || {
        Ok((source(&spec, p.activation)?, "conv2d_direct".into()))
    })?;
    let mut grid = grid_1d(&dev, (params.total_tiles as usize).div_ceil(WG) as u64)?;
    grid[2] = params.groups * params.co_blocks;
    // Pack the weights so that each tap's channel block is contiguous (vec4 loads).
    let packed_len = cs.g * params.co_blocks as usize * cs.cin_g * cs.kh * cs.kw * spec.tc.max(4);
    let packed = match packing {
        Packing::Prepacked(t) => {
            same_device(ConvShape::OP, &dev, &[t])?;
            if t.shape() != [packed_len] || t.dtype() != DType::F32 {
                return Err(Error::shape(
                    ConvShape::OP,
                    format!(
                        "prepacked weights {:?} do not match weight {:?} for input {:?} (need [{packed_len}])",
                        t.shape(),
                        w.shape(),
                        x.shape()
                    ),
                ));
            }
            t.clone()
        }
        Packing::Both | Packing::PackOnly => {
            let packed = Tensor::empty(&dev, &[packed_len], DType::F32)?;
            let pack_pipe =
                dev.kernel_pipeline(&format!("{name}.pack"), &format!("{key} pack"), || {
                    Ok((source(&spec, p.activation)?, "pack_weights".into()))
                })?;
            let pack_params = Params {
                total_tiles: packed_len as u32,
                ..params
            };
            rec.dispatch(
                &format!("{name}.pack"),
                &pack_pipe,
                &[w.buffer(), w.buffer(), w.buffer(), packed.buffer()],
                Some(bytemuck::bytes_of(&pack_params)),
                grid_1d(&dev, packed_len.div_ceil(WG) as u64)?,
                Cost {
                    flops: 0,
                    bytes: 4 * (w.numel() + packed_len) as u64,
                },
            )?;
            packed
        }
    };
    if let Packing::PackOnly = packing {
        return Ok((packed.clone(), packed));
    }
    let y = Tensor::empty(&dev, &out_shape, DType::F32)?;
    let b = bias.unwrap_or(x);
    rec.dispatch(
        &name,
        &pipe,
        &[x.buffer(), packed.buffer(), b.buffer(), y.buffer()],
        Some(bytemuck::bytes_of(&params)),
        grid,
        cs.cost(x, w, bias),
    )?;
    Ok((y, packed))
}

/// 1-D convolution of `x` [N, C, L] with `w` [Cout, C / groups, K]; runs as a conv2d with a
/// height of one.
pub fn conv1d(x: &Tensor, w: &Tensor, bias: Option<&Tensor>, p: &Conv1dParams) -> Result<Tensor> {
    run_once(x.device(), |rec| encode_conv1d(rec, x, w, bias, p))
}

/// Records [`conv1d`] into `rec`.
pub fn encode_conv1d(
    rec: &mut Recorder,
    x: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    p: &Conv1dParams,
) -> Result<Tensor> {
    const OP: &str = "conv1d";
    if x.rank() != 3 || w.rank() != 3 {
        return Err(Error::shape(
            OP,
            format!(
                "input {:?} must be [N, C, L] and weight {:?} [Cout, C / groups, K]",
                x.shape(),
                w.shape()
            ),
        ));
    }
    let xs = x.shape();
    let ws = w.shape();
    let x4 = x.reshape(&[xs[0], xs[1], 1, xs[2]])?;
    let w4 = w.reshape(&[ws[0], ws[1], 1, ws[2]])?;
    let p2 = Conv2dParams {
        stride: [1, p.stride],
        padding: [0, p.padding[0], 0, p.padding[1]],
        dilation: [1, p.dilation],
        groups: p.groups,
        activation: p.activation,
    };
    let y = encode_conv2d(rec, &x4, &w4, bias, &p2)?;
    let ys = y.shape().to_vec();
    y.reshape(&[ys[0], ys[1], ys[3]])
}

/// Transposed 2-D convolution (the gradient of conv2d with respect to its input) of `x`
/// [N, Cin, H, W] with `w` [Cin, Cout / groups, KH, KW]; returns [N, Cout, OH, OW] with
/// `OH = (H - 1) * stride - pad_top - pad_bottom + dilation * (KH - 1) + output_padding + 1`.
pub fn conv_transpose2d(
    x: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    p: &ConvTranspose2dParams,
) -> Result<Tensor> {
    run_once(x.device(), |rec| {
        encode_conv_transpose2d(rec, x, w, bias, p)
    })
}

/// Records [`conv_transpose2d`] into `rec` (one dispatch).
pub fn encode_conv_transpose2d(
    rec: &mut Recorder,
    x: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    p: &ConvTranspose2dParams,
) -> Result<Tensor> {
    const OP: &str = "conv_transpose2d";
    let dev = rec.device().clone();
    same_device(OP, &dev, &[x, w])?;
    check_f32_contig(OP, "input", x, 4)?;
    check_f32_contig(OP, "weight", w, 4)?;
    let (n, cin, h, wd) = (x.shape()[0], x.shape()[1], x.shape()[2], x.shape()[3]);
    let (wcin, cout_g, kh, kw) = (w.shape()[0], w.shape()[1], w.shape()[2], w.shape()[3]);
    let g = p.groups;
    if g == 0 || !cin.is_multiple_of(g) {
        return Err(Error::invalid(
            OP,
            format!("groups {g} must divide input channels {cin}"),
        ));
    }
    if wcin != cin || kh == 0 || kw == 0 || cout_g == 0 {
        return Err(Error::shape(
            OP,
            format!(
                "weight {:?} does not fit input {:?} (need [{cin}, Cout / groups, KH, KW])",
                w.shape(),
                x.shape()
            ),
        ));
    }
    if p.stride.contains(&0) || p.dilation.contains(&0) {
        return Err(Error::invalid(
            OP,
            format!(
                "stride {:?} and dilation {:?} must be positive",
                p.stride, p.dilation
            ),
        ));
    }
    for a in 0..2 {
        if p.output_padding[a] >= p.stride[a].max(p.dilation[a]) {
            return Err(Error::invalid(
                OP,
                format!(
                    "output_padding {:?} must be smaller than stride {:?} or dilation {:?}",
                    p.output_padding, p.stride, p.dilation
                ),
            ));
        }
    }
    let cout = cout_g * g;
    if let Some(b) = bias {
        same_device(OP, &dev, &[b])?;
        check_f32_contig(OP, "bias", b, 1)?;
        if b.shape()[0] != cout {
            return Err(Error::shape(
                OP,
                format!("bias {:?} must be [{cout}]", b.shape()),
            ));
        }
    }
    let pd = p.padding;
    let full = |i: usize, a: usize, k: usize| {
        (i - 1) * p.stride[a] + p.dilation[a] * (k - 1) + 1 + p.output_padding[a]
    };
    let (fh, fw) = (full(h.max(1), 0, kh), full(wd.max(1), 1, kw));
    if h == 0 || wd == 0 || fh <= pd[0] + pd[2] || fw <= pd[1] + pd[3] {
        return Err(Error::shape(
            OP,
            format!(
                "padding {pd:?} leaves no output for input {:?} and weight {:?}",
                x.shape(),
                w.shape()
            ),
        ));
    }
    let (oh, ow) = (fh - pd[0] - pd[2], fw - pd[1] - pd[3]);
    let y = Tensor::empty(&dev, &[n, cout, oh, ow], DType::F32)?;
    if y.numel() == 0 {
        return Ok(y);
    }
    let spec = Spec {
        k: [kh, kw],
        s: p.stride,
        d: p.dilation,
        tp: 4,
        tc: 1,
        flat: false,
        bias: bias.is_some(),
        aligned: false,
        pl: 0,
    };
    let name = format!(
        "conv2d.transpose.k{kh}x{kw}.s{}x{}.d{}x{}",
        p.stride[0], p.stride[1], p.dilation[0], p.dilation[1]
    );
    let key = format!(
        "conv2d {spec:?} {} transpose",
        super::activation_key(p.activation)
    );
    let pipe = dev.kernel_pipeline(&name, &key, || {
        Ok((source(&spec, p.activation)?, "conv_transpose2d".into()))
    })?;
    let total = y.numel();
    let params = Params {
        n: n as u32,
        cin: cin as u32,
        h: h as u32,
        w: wd as u32,
        cout: cout as u32,
        oh: oh as u32,
        ow: ow as u32,
        groups: g as u32,
        cin_g: (cin / g) as u32,
        cout_g: cout_g as u32,
        pad_t: pd[0] as u32,
        pad_l: pd[1] as u32,
        tiles_row: 0,
        co_blocks: 0,
        total_tiles: total as u32,
        _pad: 0,
    };
    let grid = grid_1d(&dev, total.div_ceil(WG) as u64)?;
    // Useful work: every input pixel scatters KH*KW*Cout/groups products.
    let flops = 2 * (n * cin * h * wd * cout_g * kh * kw) as u64;
    let bytes = 4 * (x.numel() + w.numel() + y.numel() + bias.map_or(0, |b| b.numel())) as u64;
    let b = bias.unwrap_or(w);
    rec.dispatch(
        &name,
        &pipe,
        &[x.buffer(), w.buffer(), b.buffer(), y.buffer()],
        Some(bytemuck::bytes_of(&params)),
        grid,
        Cost { flops, bytes },
    )?;
    Ok(y)
}

/// Every generated conv variant (as the code above would build them), for the naga test.
pub fn all_variants() -> Vec<(String, String)> {
    let mut v = Vec::new();
    let specs = [
        (
            Spec {
                k: [3, 3],
                s: [1, 1],
                d: [1, 1],
                tp: 4,
                tc: 8,
                flat: false,
                bias: true,
                aligned: true,
                pl: 1,
            },
            Activation::Relu,
        ),
        (
            Spec {
                k: [1, 1],
                s: [1, 1],
                d: [1, 1],
                tp: 4,
                tc: 4,
                flat: true,
                bias: false,
                aligned: true,
                pl: 0,
            },
            Activation::Gelu,
        ),
        (
            Spec {
                k: [5, 2],
                s: [2, 3],
                d: [2, 1],
                tp: 4,
                tc: 1,
                flat: false,
                bias: false,
                aligned: false,
                pl: 0,
            },
            Activation::LeakyRelu(0.1),
        ),
        (
            Spec {
                k: [7, 7],
                s: [2, 2],
                d: [1, 1],
                tp: 4,
                tc: 8,
                flat: false,
                bias: true,
                aligned: false,
                pl: 0,
            },
            Activation::Silu,
        ),
    ];
    for (i, (s, a)) in specs.iter().enumerate() {
        v.push((
            format!("conv2d.variant{i}"),
            source(s, *a).expect("conv variant"),
        ));
    }
    v
}
