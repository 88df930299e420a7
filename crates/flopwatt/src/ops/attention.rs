//! Scaled dot-product attention over [batch, heads, seq, head_dim] in one fused kernel
//! (FlashAttention style online softmax; the seq x seq scores never reach device memory).
//!
//! Semantics (PyTorch `scaled_dot_product_attention`):
//! `out = softmax(q k^T * scale + mask) v`, scale defaulting to `1 / sqrt(head_dim)`.
//! - `causal`: query row i attends to keys j <= i (top-left aligned, as PyTorch, also when
//!   the query length differs from the key length).
//! - An additive mask (f32) and a boolean mask (i32, nonzero = attend) broadcast to
//!   [batch, heads, q_len, k_len].
//! - Grouped-query attention: k and v may have fewer heads than q (q heads a multiple of
//!   them); query head h reads kv head `h / (q_heads / kv_heads)`.
//! - A row whose every key is masked (boolean mask all false, additive -inf, or causal)
//!   returns zeros, not NaN.
//! - head_dim up to [`MAX_HEAD_DIM`]; larger is a typed error.
//!
//! Kernels: `attn_stream` (CPU adapters: K/V read straight from storage, no barriers),
//! `attn_tiled` (GPUs: K/V blocks staged in shared memory, fewer keys per block for wide
//! heads so the blocks fit the device's workgroup memory), and for decode (at most
//! [`SPLIT_K_MAX_ROWS`] query rows) `attn_split` + `attn_combine`: split-K over the keys with
//! partial max/sum/output per chunk, then a combine pass (see docs/gpu.md).

use bytemuck::{Pod, Zeroable};

use crate::device::{AdapterClass, Device};
use crate::error::{Error, Result};
use crate::exec::{Cost, Recorder};
use crate::ops::{run_once, same_device};
use crate::shaders::{specialize, ATTENTION, ATTENTION_COMPOSED};
use crate::tensor::{broadcast_strides, DType, Tensor};

/// Largest head dimension the fused kernels accept (the row lives in registers).
pub const MAX_HEAD_DIM: usize = 256;
const WG: usize = 64;
/// Widest head the streaming kernel keeps in registers; wider heads run the tiled kernel.
pub const STREAM_MAX_HEAD_DIM: usize = 128;
/// Query rows per invocation of the streaming kernel (`R` in the shader).
const R: usize = 4;

/// An attention mask, broadcastable to [batch, q_heads, q_len, k_len].
#[derive(Clone, Debug)]
pub enum AttentionMask {
    /// f32 values added to the scaled scores (`-inf` masks a key out).
    Additive(Tensor),
    /// i32 values: nonzero attends, zero masks the key out.
    Boolean(Tensor),
}

/// Which fused kernel to run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AttentionKernel {
    /// Split-K for decode (a few query rows against many keys); otherwise chosen by adapter
    /// class: streaming (with subgroups where possible) on CPU adapters, tiled on GPUs.
    #[default]
    Auto,
    /// K/V streamed from storage, four query rows per invocation, no shared memory.
    Streaming,
    /// [`AttentionKernel::Streaming`] with each K/V chunk loaded once per subgroup and
    /// broadcast (needs `SUBGROUP` with subgroups of exactly 8 lanes on a CPU adapter;
    /// elsewhere it runs as `Streaming`).
    StreamingSubgroup,
    /// K/V blocks staged in shared memory.
    Tiled,
    /// Split-K decode (flash-decoding): each invocation runs one query row over one chunk of
    /// keys, a second dispatch combines the partials. Chosen for a few query rows against
    /// many keys, where one row per invocation leaves the device idle.
    SplitK,
}

/// Query rows at most this many take [`AttentionKernel::SplitK`] (decode steps).
pub const SPLIT_K_MAX_ROWS: usize = 4;
/// Fewest keys per split-K chunk, and the most chunks per query row.
const SPLIT_K_MIN_KEYS: usize = 16;
const SPLIT_K_MAX_SPLITS: usize = 1024;

/// Floats of split-K partials one dispatch may write (64 MiB): many heads in a batch get
/// fewer, longer chunks.
const SPLIT_K_MAX_PARTIALS: usize = 1 << 24;

/// How [`AttentionKernel::SplitK`] cuts `lk` keys for `rows` query rows (batch x heads x
/// queries) of `head_dim`: `(splits, keys per split)`.
pub fn split_k_plan(lk: usize, rows: usize, head_dim: usize) -> (usize, usize) {
    let budget = SPLIT_K_MAX_PARTIALS / (rows.max(1) * (head_dim + 2));
    // The grid's x holds rows of one head times splits, 64 per workgroup.
    let grid = (65_535 * WG) / rows.max(1);
    let splits = lk
        .div_ceil(SPLIT_K_MIN_KEYS)
        .min(SPLIT_K_MAX_SPLITS)
        .min(budget)
        .min(grid)
        .max(1);
    let chunk = lk.div_ceil(splits).max(1);
    (lk.div_ceil(chunk).max(1), chunk)
}

/// Keys per shared-memory block of the tiled kernel for `head_dim`: 16, halved until the K
/// and V blocks fit `limit` bytes of workgroup memory (head_dim 256 needs 32 KiB at 16 keys,
/// WebGPU guarantees 16 KiB); an error if not even one key fits.
pub fn tiled_block_keys(head_dim: usize, limit: u32) -> Result<usize> {
    let per_key = 2 * 16 * head_dim.div_ceil(4);
    let mut bk = 16;
    while bk > 1 && bk * per_key > limit as usize {
        bk /= 2;
    }
    if bk * per_key > limit as usize {
        return Err(Error::invalid(
            "attention",
            format!(
                "head_dim {head_dim} needs {per_key} bytes of workgroup memory per key; this \
                 device offers {limit}: use a smaller head_dim"
            ),
        ));
    }
    Ok(bk)
}

/// Parameters of [`attention`].
#[derive(Clone, Debug, Default)]
pub struct AttentionParams {
    /// Mask keys after the query position (top-left aligned).
    pub causal: bool,
    /// Score scale; `None` is `1 / sqrt(head_dim)`.
    pub scale: Option<f32>,
    /// Optional additive or boolean mask.
    pub mask: Option<AttentionMask>,
    /// Kernel choice (tests force each one).
    pub kernel: AttentionKernel,
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    batch: u32,
    hq: u32,
    hkv: u32,
    lq: u32,
    lk: u32,
    qscale: f32,
    splits: u32,
    chunk: u32,
    q: [u32; 4],
    k: [u32; 4],
    v: [u32; 4],
    m: [u32; 5],
    o: [u32; 3],
}

fn source(d: usize, causal: bool, mask: u32, vec: bool, sg: bool) -> Result<String> {
    source_bk(d, causal, mask, vec, sg, 16)
}

/// `bcast0`..`bcast7`, which hand lane i's vec4 to every lane of an 8-lane subgroup (a
/// `subgroupBroadcast` needs a constant lane) in the subgroup variant, and are the identity,
/// never relied on, in the others.
fn lane_broadcasts(sg: bool) -> String {
    (0..8)
        .map(|i| {
            let body = if sg {
                format!("subgroupBroadcast(v, {i}u)")
            } else {
                "v".to_string()
            };
            format!("fn bcast{i}(v: vec4<f32>) -> vec4<f32> {{ return {body}; }}\n")
        })
        .collect()
}

fn source_bk(d: usize, causal: bool, mask: u32, vec: bool, sg: bool, bk: usize) -> Result<String> {
    let src = format!("{ATTENTION}\n{}", lane_broadcasts(sg));
    specialize(
        &src,
        &[
            ("D", format!("{d}u")),
            ("VEC", vec.to_string()),
            ("SGB", sg.to_string()),
            ("CAUSAL", causal.to_string()),
            ("MASK", format!("{mask}u")),
            ("BK", format!("{bk}u")),
        ],
    )
}

fn u32s(v: &[usize]) -> Vec<u32> {
    v.iter().map(|&x| x as u32).collect()
}

/// Fused attention of `q` [B, Hq, Lq, D], `k` [B, Hkv, Lk, D], `v` [B, Hkv, Lk, D];
/// returns [B, Hq, Lq, D]. See the module docs for the semantics.
pub fn attention(q: &Tensor, k: &Tensor, v: &Tensor, p: &AttentionParams) -> Result<Tensor> {
    run_once(q.device(), |rec| encode_attention(rec, q, k, v, p))
}

/// Records [`attention`] into `rec` (one dispatch; two for [`AttentionKernel::SplitK`]).
pub fn encode_attention(
    rec: &mut Recorder,
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    p: &AttentionParams,
) -> Result<Tensor> {
    encode_attention_layout(rec, q, k, v, p, false)
}

/// [`encode_attention`] that stores the output rows heads-last: the buffer holds
/// [B, Lq, Hq, D] (the layout a following head merge, `transpose(1, 2)` then reshape to
/// [B, Lq, Hq * D], needs), returned as its [B, Hq, Lq, D] view. The merge is then a view,
/// not a copy kernel.
pub fn encode_attention_heads_last(
    rec: &mut Recorder,
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    p: &AttentionParams,
) -> Result<Tensor> {
    encode_attention_layout(rec, q, k, v, p, true)
}

const OP: &str = "attention";

/// The sizes of one attention call: q `[b, hq, lq, d]`, k and v `[b, hkv, lk, d]`.
struct Dims {
    b: usize,
    hq: usize,
    hkv: usize,
    lq: usize,
    lk: usize,
    d: usize,
}

impl Dims {
    /// Checks the operands' device, dtype, rank, layout and agreeing sizes.
    fn of(dev: &Device, q: &Tensor, k: &Tensor, v: &Tensor) -> Result<Self> {
        same_device(OP, dev, &[q, k, v])?;
        for (name, t) in [("q", q), ("k", k), ("v", v)] {
            if t.dtype() != DType::F32 {
                return Err(Error::UnsupportedDType {
                    op: OP,
                    dtype: t.dtype(),
                    hint: format!("{name} must be f32"),
                });
            }
            if t.rank() != 4 {
                return Err(Error::shape(
                    OP,
                    format!(
                        "{name} {:?} must be [batch, heads, seq, head_dim]",
                        t.shape()
                    ),
                ));
            }
            if t.strides()[3] != 1 && t.shape()[3] > 1 {
                return Err(Error::shape(
                    OP,
                    format!(
                        "{name} must be contiguous along head_dim (strides {:?})",
                        t.strides()
                    ),
                ));
            }
        }
        let (b, hq, lq, d) = (q.shape()[0], q.shape()[1], q.shape()[2], q.shape()[3]);
        let (hkv, lk) = (k.shape()[1], k.shape()[2]);
        if k.shape()[0] != b || k.shape()[3] != d || v.shape() != k.shape() {
            return Err(Error::shape(
                OP,
                format!(
                    "q {:?}, k {:?}, v {:?}: batch and head_dim must agree and k, v must have one shape",
                    q.shape(),
                    k.shape(),
                    v.shape()
                ),
            ));
        }
        if hkv == 0 || !hq.is_multiple_of(hkv) {
            return Err(Error::shape(
                OP,
                format!("q heads {hq} must be a multiple of kv heads {hkv}"),
            ));
        }
        if d == 0 || d > MAX_HEAD_DIM {
            return Err(Error::invalid(
                OP,
                format!("head_dim {d} is outside 1..={MAX_HEAD_DIM}"),
            ));
        }
        if lk == 0 && lq > 0 {
            return Err(Error::shape(OP, "keys and values have length 0"));
        }
        Ok(Dims {
            b,
            hq,
            hkv,
            lq,
            lk,
            d,
        })
    }
}

/// The mask's kind for the kernel (0 none, 1 additive, 2 boolean), its tensor, and its
/// strides broadcast to `[b, hq, lq, lk]` with its offset last.
fn mask_layout<'a>(
    dev: &Device,
    mask: &'a Option<AttentionMask>,
    target: [usize; 4],
) -> Result<(u32, Option<&'a Tensor>, [u32; 5])> {
    let Some(m) = mask else {
        return Ok((0, None, [0; 5]));
    };
    let (kind, t, want) = match m {
        AttentionMask::Additive(t) => (1u32, t, DType::F32),
        AttentionMask::Boolean(t) => (2u32, t, DType::I32),
    };
    same_device(OP, dev, &[t])?;
    if t.dtype() != want {
        return Err(Error::UnsupportedDType {
            op: OP,
            dtype: t.dtype(),
            hint: format!("this mask kind needs {want}"),
        });
    }
    let s = broadcast_strides(t.shape(), t.strides(), &target).ok_or_else(|| {
        Error::shape(
            OP,
            format!("mask {:?} does not broadcast to {target:?}", t.shape()),
        )
    })?;
    let s = u32s(&s);
    Ok((kind, Some(t), [s[0], s[1], s[2], s[3], t.offset() as u32]))
}

/// The kernel that runs: the caller's, or by shape and adapter class; the streaming kernels
/// fall back to the tiled one past their head size, the subgroup one to the plain one
/// without 8-lane subgroups.
fn choose_kernel(dev: &Device, asked: AttentionKernel, dims: &Dims) -> AttentionKernel {
    let sg_ok = super::cpu_subgroups_of_8(dev);
    let kernel = match asked {
        // Decode rows split over the keys on every adapter class: one invocation per row
        // leaves a GPU idle and a CPU adapter on one core (docs/gpu.md#decode-attention).
        AttentionKernel::Auto if dims.lq <= SPLIT_K_MAX_ROWS && dims.lk > SPLIT_K_MIN_KEYS => {
            AttentionKernel::SplitK
        }
        AttentionKernel::Auto => match dev.class() {
            AdapterClass::Cpu if sg_ok => AttentionKernel::StreamingSubgroup,
            AdapterClass::Cpu => AttentionKernel::Streaming,
            _ => AttentionKernel::Tiled,
        },
        AttentionKernel::StreamingSubgroup if !sg_ok => AttentionKernel::Streaming,
        k => k,
    };
    // The streaming kernels hold at most 4 chunks of 32 dims per row in registers.
    let streaming = matches!(
        kernel,
        AttentionKernel::Streaming | AttentionKernel::StreamingSubgroup
    );
    if dims.d > STREAM_MAX_HEAD_DIM && streaming {
        AttentionKernel::Tiled
    } else {
        kernel
    }
}

fn encode_attention_layout(
    rec: &mut Recorder,
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    p: &AttentionParams,
    heads_last: bool,
) -> Result<Tensor> {
    let dev = rec.device().clone();
    let dims = Dims::of(&dev, q, k, v)?;
    let Dims {
        b,
        hq,
        hkv,
        lq,
        lk,
        d,
    } = dims;
    let out = if heads_last {
        Tensor::empty(&dev, &[b, lq, hq, d], DType::F32)?.transpose(1, 2)?
    } else {
        Tensor::empty(&dev, &[b, hq, lq, d], DType::F32)?
    };
    if out.numel() == 0 {
        return Ok(out);
    }
    let o_strides = [
        out.strides()[0] as u32,
        out.strides()[1] as u32,
        out.strides()[2] as u32,
    ];
    let scale = p.scale.unwrap_or(1.0 / (d as f32).sqrt());
    if !scale.is_finite() {
        return Err(Error::invalid(OP, format!("scale {scale} is not finite")));
    }
    let (mask_kind, mask_t, mstr) = mask_layout(&dev, &p.mask, [b, hq, lq, lk])?;
    let kernel = choose_kernel(&dev, p.kernel, &dims);
    let sg = kernel == AttentionKernel::StreamingSubgroup;
    let entry = match kernel {
        AttentionKernel::Tiled => "attn_tiled",
        AttentionKernel::SplitK => "attn_split",
        _ => "attn_stream",
    };
    let bk = if kernel == AttentionKernel::Tiled {
        tiled_block_keys(d, dev.limits().max_compute_workgroup_storage_size)?
    } else {
        16
    };
    let split = (kernel == AttentionKernel::SplitK).then(|| split_k_plan(lk, b * hq * lq, d));
    // Aligned rows load as whole vec4s; anything else element by element.
    let vec = d.is_multiple_of(4)
        && [q, k, v].iter().all(|t| {
            t.offset().is_multiple_of(4) && t.strides()[..3].iter().all(|s| s.is_multiple_of(4))
        });
    // The name says every constant of the source, so it is also the pipeline's cache key.
    let name = format!(
        "attention.{}.d{d}{}{}{}{}",
        match kernel {
            AttentionKernel::Tiled if bk != 16 => format!("tiled.bk{bk}"),
            AttentionKernel::Tiled => "tiled".into(),
            AttentionKernel::SplitK => "split".into(),
            _ => "stream".into(),
        },
        if p.causal { ".causal" } else { "" },
        ["", ".addmask", ".boolmask"][mask_kind as usize],
        if vec { "" } else { ".scalar" },
        if sg { ".sg" } else { "" }
    );
    let source = || source_bk(d, p.causal, mask_kind, vec, sg, bk);
    let pipe = dev.kernel_pipeline(&name, &name, || Ok((source()?, entry.into())))?;
    let st = |t: &Tensor| -> [u32; 4] {
        let s = t.strides();
        [s[0] as u32, s[1] as u32, s[2] as u32, t.offset() as u32]
    };
    let params = Params {
        batch: b as u32,
        hq: hq as u32,
        hkv: hkv as u32,
        lq: lq as u32,
        lk: lk as u32,
        qscale: scale * std::f32::consts::LOG2_E,
        splits: split.map_or(0, |x| x.0 as u32),
        chunk: split.map_or(0, |x| x.1 as u32),
        q: st(q),
        k: st(k),
        v: st(v),
        m: mstr,
        o: o_strides,
    };
    // Key/query pairs that are computed: all of them, or the lower triangle when causal.
    let pairs: u64 = if p.causal {
        (0..lq).map(|i| (i + 1).min(lk) as u64).sum()
    } else {
        (lq * lk) as u64
    };
    let cost = Cost {
        flops: 4 * (b * hq * d) as u64 * pairs,
        bytes: 4 * (q.numel() + k.numel() + v.numel() + out.numel()) as u64
            + mask_t.map_or(0, |t| (t.numel() * 4) as u64),
    };
    let ins = [
        q.buffer(),
        k.buffer(),
        v.buffer(),
        mask_t.unwrap_or(q).buffer(),
    ];
    let params = bytemuck::bytes_of(&params);
    if let Some((splits, _)) = split {
        // Partial maxima, sums and outputs per key chunk, then a pass that combines them.
        let parts = Tensor::empty(&dev, &[b * hq * lq * splits * (d + 2)], DType::F32)?;
        let mut binds = ins.to_vec();
        binds.push(parts.buffer());
        let grid = [(lq * splits).div_ceil(WG) as u32, hq as u32, b as u32];
        let parts_bytes = 4 * parts.numel() as u64;
        let split_cost = Cost {
            bytes: cost.bytes + parts_bytes,
            ..cost
        };
        rec.dispatch(&name, &pipe, &binds, Some(params), grid, split_cost)?;
        let cname = format!("attention.combine.d{d}");
        let ckey = format!("{name} combine");
        let cpipe =
            dev.kernel_pipeline(&cname, &ckey, || Ok((source()?, "attn_combine".into())))?;
        let n_out = (b * hq * lq * d) as u64;
        rec.dispatch(
            &cname,
            &cpipe,
            &[parts.buffer(), out.buffer()],
            Some(params),
            crate::exec::grid_1d(&dev, n_out.div_ceil(WG as u64))?,
            Cost {
                flops: 4 * n_out * splits as u64,
                bytes: parts_bytes + 4 * n_out,
            },
        )?;
        rec.keep_alive(parts);
        return Ok(out);
    }
    let rows_per_wg = if kernel == AttentionKernel::Tiled {
        WG
    } else {
        WG * R
    };
    let mut binds = ins.to_vec();
    binds.push(out.buffer());
    let grid = [lq.div_ceil(rows_per_wg) as u32, hq as u32, b as u32];
    rec.dispatch(&name, &pipe, &binds, Some(params), grid, cost)?;
    Ok(out)
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct ComposedParams {
    lq: u32,
    lk: u32,
    scale: f32,
    _p: u32,
}

/// Keys per workgroup column of the composed score stage (`BJ` in the shader).
const BJ: usize = 16;

fn composed_source(stage: u32, d: usize, causal: bool) -> Result<String> {
    specialize(
        ATTENTION_COMPOSED,
        &[
            ("STAGE", format!("{stage}u")),
            ("D", format!("{d}u")),
            ("CAUSAL", causal.to_string()),
        ],
    )
}

/// Unfused attention for comparison: scores matmul, row softmax, probabilities times V, as
/// three dispatches with the [B, H, Lq, Lk] score matrix in device memory. Contiguous
/// inputs with equal q and kv heads, no mask besides `causal`. Returns the output and the
/// bytes of the score buffer it needed.
pub fn encode_attention_composed(
    rec: &mut Recorder,
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    causal: bool,
) -> Result<(Tensor, u64)> {
    const OP: &str = "attention_composed";
    let dev = rec.device().clone();
    same_device(OP, &dev, &[q, k, v])?;
    if q.rank() != 4
        || k.shape() != v.shape()
        || k.rank() != 4
        || q.shape()[..2] != k.shape()[..2]
        || q.shape()[3] != k.shape()[3]
        || ![q, k, v]
            .iter()
            .all(|t| t.is_contiguous() && t.dtype() == DType::F32)
    {
        return Err(Error::shape(
            OP,
            format!(
                "needs contiguous f32 q {:?}, k {:?}, v {:?} with equal heads",
                q.shape(),
                k.shape(),
                v.shape()
            ),
        ));
    }
    let (b, h, lq, d) = (q.shape()[0], q.shape()[1], q.shape()[2], q.shape()[3]);
    let lk = k.shape()[2];
    if d == 0 || d > MAX_HEAD_DIM || lq == 0 || lk == 0 {
        return Err(Error::shape(
            OP,
            format!("empty or too wide: q {:?}, k {:?}", q.shape(), k.shape()),
        ));
    }
    let s = Tensor::empty(&dev, &[b, h, lq, lk], DType::F32)?;
    let out = Tensor::empty(&dev, &[b, h, lq, d], DType::F32)?;
    let params = ComposedParams {
        lq: lq as u32,
        lk: lk as u32,
        scale: 1.0 / (d as f32).sqrt(),
        _p: 0,
    };
    let bh = (b * h) as u32;
    let rows = lq.div_ceil(WG) as u32;
    let sbytes = (s.numel() * 4) as u64;
    let stages: [(&[&wgpu::Buffer], [u32; 3], Cost); 3] = [
        (
            &[q.buffer(), k.buffer(), s.buffer()],
            [rows, lk.div_ceil(BJ) as u32, bh],
            Cost {
                flops: 2 * (b * h * lq * lk * d) as u64,
                bytes: 4 * (q.numel() + k.numel()) as u64 + sbytes,
            },
        ),
        (
            &[q.buffer(), k.buffer(), s.buffer()],
            [rows, 1, bh],
            Cost {
                flops: 4 * s.numel() as u64,
                bytes: 2 * sbytes,
            },
        ),
        (
            &[s.buffer(), v.buffer(), out.buffer()],
            [rows, d.div_ceil(4) as u32, bh],
            Cost {
                flops: 2 * (b * h * lq * lk * d) as u64,
                bytes: sbytes + 4 * (v.numel() + out.numel()) as u64,
            },
        ),
    ];
    for (i, (bufs, grid, cost)) in stages.iter().enumerate() {
        let name = format!(
            "attention.composed{i}.d{d}{}",
            if causal { ".causal" } else { "" }
        );
        let pipe = dev.own_pipeline(&name, &composed_source(i as u32, d, causal)?, "composed")?;
        rec.dispatch(
            &name,
            &pipe,
            bufs,
            Some(bytemuck::bytes_of(&params)),
            *grid,
            *cost,
        )?;
    }
    Ok((out, sbytes))
}

/// Every generated attention variant, for the naga test.
pub fn all_variants() -> Vec<(String, String)> {
    let mut v = Vec::new();
    for (d, causal, mask, vec) in [
        (64, false, 0, true),
        (24, true, 1, true),
        (128, true, 2, false),
        (5, false, 2, false),
        (256, false, 0, true),
    ] {
        v.push((
            format!("attention.d{d}.{causal}.{mask}.{vec}"),
            source(d, causal, mask, vec, vec).expect("attention variant"),
        ));
    }
    // Wide heads under WebGPU's 16 KiB of workgroup memory.
    v.push((
        "attention.d256.bk8".into(),
        source_bk(256, true, 1, true, false, 8).expect("attention variant"),
    ));
    for stage in 0..3 {
        v.push((
            format!("attention.composed{stage}"),
            composed_source(stage, 64, stage == 0).expect("composed variant"),
        ));
    }
    v
}
