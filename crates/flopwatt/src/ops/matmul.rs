//! Matrix multiplication with a fused epilogue:
//! `C = act(alpha * (A . B) + bias[n]) + residual[.., m, n]`.
//!
//! - Operands have rank >= 2: A is `[.., M, K]`, B is `[.., K, N]`; the batch dims broadcast
//!   by numpy rules. Rank-1 operands are rejected with a typed error (reshape them to
//!   `[1, K]` / `[K, 1]`): numpy's implicit promote-and-squeeze hides shape mistakes.
//! - Any 2-D strided view works without a copy (e.g. [`Tensor::transpose`]): offsets and row,
//!   column and batch strides go to the kernel in its parameters. Contiguous, 4-aligned
//!   layouts take vec4 fast paths.
//! - f32, or f16 storage with f32 accumulation where the adapter has `SHADER_F16`. The output
//!   has the operands' dtype; bias and residual must have it too.
//!
//! Kernel variants ([`MatmulVariant`]) are chosen per adapter class and shape by
//! [`choose_variant`]; callers (tests, benches) can force one.

use crate::device::{AdapterClass, Device};
use crate::error::{Error, Result};
use crate::exec::{Bind, Cost, Recorder};
use crate::ops::{run_once, Activation};
use crate::tensor::{broadcast_shapes, DType, Tensor};
use operands::Operands;
use source::{kernel_source, KernelKey};

mod cpu_block;
mod operands;
mod source;

const OP: &str = "matmul";

/// Which kernel computes the product.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MatmulVariant {
    /// CPU adapters (lavapipe): register blocks straight from storage, no shared memory, no
    /// barriers.
    CpuRegister,
    /// CPU adapters, large M: [`MatmulVariant::CpuRegister`]'s blocks with B first packed into
    /// an rgba32float texture (one extra dispatch, or none with [`pack_b`]). lavapipe fetches a
    /// texel for all SIMD lanes at once, where its storage loads go lane by lane: about 1.2x
    /// faster at 1024 and 2048. Needs one B matrix (not a batch of them) within the adapter's
    /// 2-D texture size.
    ///
    /// Opt-in only (forced, never chosen by the rules or the tuner): once a process has used a
    /// texture, lavapipe (Mesa 22.3) reports wrong GPU timestamps for later dispatches (e.g.
    /// 0.03 ms for a 20 ms one), and flopwatt's timings must stay right.
    CpuTexture,
    /// CPU adapters with subgroups of 8 lanes (lavapipe): [`MatmulVariant::CpuRegister`]'s
    /// blocks with each row of A loaded by one lane of the subgroup and broadcast to the others,
    /// where every lane would otherwise load every row. Blocks of 8 rows or more.
    CpuSubgroup,
    /// Real GPUs: shared-memory tiles plus register blocks.
    GpuTiled,
    /// M == 1 or N == 1: one dot product per output, split over K where that pays.
    Gemv,
}

impl MatmulVariant {
    /// Every variant.
    pub const ALL: [MatmulVariant; 5] = [
        MatmulVariant::CpuRegister,
        MatmulVariant::CpuTexture,
        MatmulVariant::CpuSubgroup,
        MatmulVariant::GpuTiled,
        MatmulVariant::Gemv,
    ];

    /// Whether `device` can run this variant when forced: only
    /// [`MatmulVariant::CpuSubgroup`] needs something (subgroups of exactly 8 lanes on a CPU
    /// adapter); forcing it elsewhere is a [`Error::MissingFeature`].
    pub fn available_on(self, device: &Device) -> bool {
        self != MatmulVariant::CpuSubgroup || super::cpu_subgroups_of_8(device)
    }

    /// Short name used in kernel labels.
    pub fn name(self) -> &'static str {
        match self {
            MatmulVariant::CpuRegister => "cpu_register",
            MatmulVariant::CpuTexture => "cpu_texture",
            MatmulVariant::CpuSubgroup => "cpu_subgroup",
            MatmulVariant::GpuTiled => "gpu_tiled",
            MatmulVariant::Gemv => "gemv",
        }
    }
}

/// The fused epilogue: `act(alpha * acc + bias[n]) + residual[.., m, n]`.
#[derive(Clone, Copy, Debug)]
pub struct Epilogue<'a> {
    /// Scale of the product.
    pub alpha: f32,
    /// Per-column bias, shape `[N]` (or `[1]`).
    pub bias: Option<&'a Tensor>,
    /// Activation applied after scale and bias.
    pub activation: Activation,
    /// Added after the activation; broadcastable to the output shape.
    pub residual: Option<&'a Tensor>,
}

impl Default for Epilogue<'_> {
    fn default() -> Self {
        Epilogue {
            alpha: 1.0,
            bias: None,
            activation: Activation::None,
            residual: None,
        }
    }
}

/// What an epilogue adds to the cost of a matmul (see [`cost`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EpilogueCost {
    /// FLOPs per output element (scale, bias add, activation, residual add; 1 each).
    pub flops_per_output: u64,
    /// Elements the epilogue reads (bias plus residual, each once).
    pub elems_read: u64,
    /// Bytes per element of every operand (4 for f32, 2 for f16).
    pub elem_bytes: u64,
}

impl Default for EpilogueCost {
    fn default() -> Self {
        EpilogueCost {
            flops_per_output: 0,
            elems_read: 0,
            elem_bytes: 4,
        }
    }
}

impl EpilogueCost {
    /// The cost of `epi` on operands of `dtype`.
    pub fn of(epi: &Epilogue, dtype: DType) -> Self {
        let flops = u64::from(epi.alpha != 1.0)
            + u64::from(epi.bias.is_some())
            + u64::from(epi.activation != Activation::None)
            + u64::from(epi.residual.is_some());
        EpilogueCost {
            flops_per_output: flops,
            elems_read: epi.bias.map_or(0, |t| t.numel() as u64)
                + epi.residual.map_or(0, |t| t.numel() as u64),
            elem_bytes: dtype.size() as u64,
        }
    }
}

/// FLOPs and bytes of `batch` products of `[m, k] x [k, n]`: 2MNK per batch plus the
/// epilogue's per-output FLOPs; bytes are A + B + C plus what the epilogue reads, each once
/// (broadcast operands are counted per batch: an upper bound on the traffic needed).
pub fn cost(batch: usize, m: usize, n: usize, k: usize, epi_elems: EpilogueCost) -> Cost {
    let (b, m, n, k) = (batch as u64, m as u64, n as u64, k as u64);
    Cost {
        flops: b * (2 * m * n * k + epi_elems.flops_per_output * m * n),
        bytes: (b * (m * k + k * n + m * n) + epi_elems.elems_read) * epi_elems.elem_bytes,
    }
}

/// Output shape of `a x b` by numpy rules for ranks >= 2.
pub fn output_shape(a: &[usize], b: &[usize]) -> Result<Vec<usize>> {
    if a.len() < 2 || b.len() < 2 {
        return Err(Error::shape(
            OP,
            format!(
                "operands need rank >= 2 (reshape vectors to [1, K] or [K, 1]), got {a:?} x {b:?}"
            ),
        ));
    }
    let (m, k) = (a[a.len() - 2], a[a.len() - 1]);
    let (k2, n) = (b[b.len() - 2], b[b.len() - 1]);
    if k != k2 {
        return Err(Error::shape(
            OP,
            format!("inner dims differ, {a:?} x {b:?}"),
        ));
    }
    if m == 0 || n == 0 || k == 0 {
        return Err(Error::shape(
            OP,
            format!("zero-sized matrix dims are not supported, {a:?} x {b:?}"),
        ));
    }
    let mut out = broadcast_shapes(&a[..a.len() - 2], &b[..b.len() - 2])
        .ok_or_else(|| Error::shape(OP, format!("batch dims do not broadcast, {a:?} x {b:?}")))?;
    out.extend([m, n]);
    Ok(out)
}

/// The variant [`matmul`] uses on `device` for one `[m, k] x [k, n]` product.
pub fn choose_variant(
    device: &Device,
    m: usize,
    n: usize,
    k: usize,
    dtype: DType,
) -> MatmulVariant {
    let _ = dtype;
    if m == 1 || n == 1 {
        return MatmulVariant::Gemv;
    }
    // Not CpuTexture: see its docs (it breaks lavapipe's timestamps).
    match device.class() {
        AdapterClass::Cpu if small_product(m, n, k) => MatmulVariant::CpuRegister,
        AdapterClass::Cpu if m >= 8 && super::cpu_subgroups_of_8(device) => {
            MatmulVariant::CpuSubgroup
        }
        AdapterClass::Cpu => MatmulVariant::CpuRegister,
        AdapterClass::Gpu => MatmulVariant::GpuTiled,
    }
}

/// Products of at most this many multiply-adds take the smallest CPU block. Every block runs
/// them in well under a millisecond, but a big block's pipeline costs lavapipe up to a second
/// to build and several more to compile on first use: see
/// `docs/decisions.md#matmul-small-products`.
pub const SMALL_PRODUCT_MACS: u64 = 1 << 18;

fn small_product(m: usize, n: usize, k: usize) -> bool {
    (m as u64).saturating_mul(n as u64).saturating_mul(k as u64) <= SMALL_PRODUCT_MACS
}

/// Whether `variant` in configuration `c` may compute an `[m, k] x [k, n]` product on `device`
/// when nobody forced it: it can compute it within the adapter's limits, and it is not the
/// opt-in [`MatmulVariant::CpuTexture`]. Tuning only times, and matmul only takes, such choices.
pub(crate) fn usable(
    device: &Device,
    variant: MatmulVariant,
    c: KernelConfig,
    m: usize,
    n: usize,
) -> bool {
    let has = |blocks: &[(u32, u32)]| blocks.contains(&(c.tm, c.tn));
    let lim = device.limits();
    let fits_wg = c.wg_x > 0
        && c.wg_y > 0
        && c.wg_x * c.wg_y <= lim.max_compute_invocations_per_workgroup
        && c.wg_x <= lim.max_compute_workgroup_size_x
        && c.wg_y <= lim.max_compute_workgroup_size_y;
    let four = |x: u32| x > 0 && x.is_multiple_of(4);
    fits_wg
        && match variant {
            MatmulVariant::CpuRegister => has(source::CPU_BLOCKS),
            // Opt-in only: see its docs (it breaks lavapipe's timestamps).
            MatmulVariant::CpuTexture => false,
            MatmulVariant::CpuSubgroup => {
                has(source::CPU_SG_BLOCKS)
                    && c.wg_x.is_multiple_of(8)
                    && super::cpu_subgroups_of_8(device)
            }
            MatmulVariant::GpuTiled => four(c.tm) && four(c.tn) && tile_fits(device, c),
            MatmulVariant::Gemv => {
                (m == 1 || n == 1) && c.k_split > 0 && c.wg_x.is_multiple_of(c.k_split)
            }
        }
}

/// The most accumulators one invocation of the tiled kernel keeps (`tm * tn`): the largest
/// block any rule or tuning candidate uses. Far larger blocks compile to huge private arrays
/// that drivers spill to memory or cannot create at all.
const MAX_TILE_ACCUMULATORS: u32 = 64;

/// Whether the tiled kernel's per-invocation block and its workgroup tiles of A and B
/// (`k_split` deep, a multiple of 4 for its 4-element loads, in workgroup memory) fit the
/// kernel and the adapter's limits.
fn tile_fits(device: &Device, c: KernelConfig) -> bool {
    let lim = device.limits();
    let shared = (c.tm as u64 * c.wg_y as u64 + c.tn as u64 * c.wg_x as u64)
        .saturating_mul(c.k_split as u64)
        .saturating_mul(4);
    c.k_split > 0
        && c.k_split.is_multiple_of(4)
        && (c.tm as u64) * (c.tn as u64) <= MAX_TILE_ACCUMULATORS as u64
        && shared <= lim.max_compute_workgroup_storage_size as u64
}

/// Whether a `[k, n]` B packs into one 2-D texture on `device` ([`MatmulVariant::CpuTexture`]).
fn texture_fits(device: &Device, n: usize, k: usize) -> bool {
    let max = device.limits().max_texture_dimension_2d as usize;
    n.div_ceil(4) <= max && k <= max
}

/// `a x b` with the variant [`choose_variant`] picks and no epilogue.
pub fn matmul(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    matmul_with(a, b, &Epilogue::default(), None)
}

/// `act(alpha * (a x b) + bias) + residual`, with a forced `variant` or the chosen one.
pub fn matmul_with(
    a: &Tensor,
    b: &Tensor,
    epi: &Epilogue,
    variant: Option<MatmulVariant>,
) -> Result<Tensor> {
    run_once(a.device(), |rec| encode_matmul(rec, a, b, epi, variant))
}

/// Register-block and tile sizes of one kernel; the host and the shader agree through
/// `specialize`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct KernelConfig {
    /// Rows per invocation.
    pub tm: u32,
    /// Columns per invocation (a multiple of 4).
    pub tn: u32,
    /// Invocations per workgroup along x (N).
    pub wg_x: u32,
    /// Invocations per workgroup along y (M); 1 for the CPU and GEMV kernels.
    pub wg_y: u32,
    /// K slice staged per step (GPU) or invocations sharing one dot product (GEMV).
    pub k_split: u32,
}

/// The configuration a variant uses on this device for an `[m, k] x [k, n]` product.
pub fn config(
    device: &Device,
    variant: MatmulVariant,
    m: usize,
    n: usize,
    k: usize,
) -> KernelConfig {
    match variant {
        MatmulVariant::CpuTexture => KernelConfig {
            tm: 32,
            tn: 16,
            wg_x: 64,
            wg_y: 1,
            k_split: 1,
        },
        MatmulVariant::CpuRegister | MatmulVariant::CpuSubgroup => {
            // The biggest block that does not mostly compute clamped rows.
            let (tm, tn) = match (variant, m) {
                (MatmulVariant::CpuRegister, _) if small_product(m, n, k) => (4u32, 4u32),
                (MatmulVariant::CpuSubgroup, 64..) => (64, 8),
                // Not 16x16: see docs/decisions.md#matmul-block-choice.
                (MatmulVariant::CpuSubgroup, 16..) => (32, 8),
                (MatmulVariant::CpuSubgroup, _) => (8, 16),
                (_, 128..) => (32, 16),
                (_, 64..) => (16, 16),
                (_, 8..) => (8, 16),
                _ => (4, 8),
            };
            // Enough invocations along N to cover it, but not so many that most idle.
            let blocks = n.div_ceil(tn as usize).next_power_of_two().clamp(8, 64) as u32;
            KernelConfig {
                tm,
                tn,
                wg_x: blocks,
                wg_y: 1,
                k_split: 1,
            }
        }
        // A 128x128 tile (8x8 per invocation) where both sides fill it, a 64x64 one otherwise,
        // and 16-wide tiles along a side under 32 so that skinny products do not compute
        // mostly clamped rows; see docs/decisions.md#matmul-gpu-tile.
        MatmulVariant::GpuTiled => {
            let (tm, tn, wg_x, wg_y, bk) = if m >= 128 && n >= 128 {
                (8, 8, 16, 16, 8)
            } else if m < 32 && n >= 32 {
                (4, 4, 16, 4, 16)
            } else if n < 32 && m >= 32 {
                (4, 4, 4, 16, 16)
            } else {
                (4, 4, 16, 16, 16)
            };
            KernelConfig {
                tm,
                tn,
                wg_x,
                wg_y,
                k_split: bk,
            }
        }
        MatmulVariant::Gemv => KernelConfig {
            tm: 1,
            tn: 1,
            wg_x: 64,
            wg_y: 1,
            k_split: match device.class() {
                AdapterClass::Cpu => 1,
                AdapterClass::Gpu => 16,
            },
        },
    }
}

/// The register blocks (rows, columns) a CPU variant has kernels for, biggest first; empty
/// for the others. Any of them may be forced through [`encode_matmul_config`].
pub fn cpu_blocks(variant: MatmulVariant) -> Vec<(u32, u32)> {
    source::cpu_table(variant).map_or_else(Vec::new, |(blocks, _)| blocks.to_vec())
}

/// Generated variants for the naga test: every kernel in both dtypes and every layout and
/// epilogue switch.
#[cfg(test)]
pub(crate) fn all_variants() -> Vec<(String, String)> {
    source::all_variants()
}

/// Strides of a view, as u32 (the kernels index in u32).
fn u32_of(v: usize, what: &str) -> Result<u32> {
    u32::try_from(v).map_err(|_| Error::invalid(OP, format!("{what} {v} does not fit in 32 bits")))
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    m: u32,
    n: u32,
    k: u32,
    batch_base: u32,
    a_off: u32,
    a_rs: u32,
    a_cs: u32,
    b_off: u32,
    b_rs: u32,
    b_cs: u32,
    r_off: u32,
    r_rs: u32,
    r_cs: u32,
    bias_off: u32,
    bias_s: u32,
    alpha: f32,
    bshape: [u32; 4],
    a_bs: [u32; 4],
    b_bs: [u32; 4],
    r_bs: [u32; 4],
}

/// Allocates the output and records the product (no submit).
pub fn encode_matmul(
    rec: &mut Recorder,
    a: &Tensor,
    b: &Tensor,
    epi: &Epilogue,
    variant: Option<MatmulVariant>,
) -> Result<Tensor> {
    encode_matmul_config(rec, a, b, epi, variant, None)
}

/// [`encode_matmul`] with the block and tile sizes forced (for tuning; `None` = [`config`]).
/// The sizes must respect [`KernelConfig`]'s rules (`tn`, and `tm` for the GPU kernel,
/// multiples of 4; GEMV `k_split` dividing `wg_x`).
pub fn encode_matmul_config(
    rec: &mut Recorder,
    a: &Tensor,
    b: &Tensor,
    epi: &Epilogue,
    variant: Option<MatmulVariant>,
    forced: Option<KernelConfig>,
) -> Result<Tensor> {
    encode_impl(rec, a, b, epi, variant, forced, None)
}

/// B packed once into the texture that [`MatmulVariant::CpuTexture`] reads (see [`pack_b`]),
/// so that constant weights are not packed again in every run.
#[derive(Debug)]
pub struct PackedB {
    view: wgpu::TextureView,
    k: usize,
    n: usize,
}

/// Packs a `[K, N]` B (any strides; batch dims, if any, all 1) for the texture-fed CPU kernels,
/// on its own submit.
pub fn pack_b(b: &Tensor) -> Result<PackedB> {
    let r = b.rank();
    if r < 2 || b.shape()[..r - 2].iter().any(|&d| d != 1) {
        return Err(Error::shape(
            OP,
            format!("pack_b takes one [K, N] matrix, got {:?}", b.shape()),
        ));
    }
    if b.dtype() == DType::I32 {
        return Err(Error::UnsupportedDType {
            op: OP,
            dtype: b.dtype(),
            hint: "matmul takes f32 or f16".into(),
        });
    }
    let device = b.device().clone();
    let (k, n) = (b.shape()[r - 2], b.shape()[r - 1]);
    if !texture_fits(&device, n, k) {
        return Err(Error::invalid(
            OP,
            format!(
                "B {:?} exceeds the adapter's {} texels a side",
                b.shape(),
                device.limits().max_texture_dimension_2d
            ),
        ));
    }
    let params = Params {
        n: u32_of(n, "N")?,
        k: u32_of(k, "K")?,
        b_off: u32_of(b.offset(), "offset")?,
        b_rs: u32_of(b.strides()[r - 2], "stride")?,
        b_cs: u32_of(b.strides()[r - 1], "stride")?,
        ..Default::default()
    };
    let mut rec = Recorder::new(&device);
    let view = encode_pack_b(&mut rec, &device, b, &params, n, k)?;
    rec.submit(false)?;
    Ok(PackedB { view, k, n })
}

/// [`encode_matmul`] on the texture-fed kernel ([`MatmulVariant::CpuTexture`]), reading
/// `packed` (B packed by [`pack_b`]) instead of packing B again.
pub fn encode_matmul_prepacked(
    rec: &mut Recorder,
    a: &Tensor,
    b: &Tensor,
    packed: &PackedB,
    epi: &Epilogue,
) -> Result<Tensor> {
    encode_impl(
        rec,
        a,
        b,
        epi,
        Some(MatmulVariant::CpuTexture),
        None,
        Some(packed),
    )
}

fn encode_impl(
    rec: &mut Recorder,
    a: &Tensor,
    b: &Tensor,
    epi: &Epilogue,
    variant: Option<MatmulVariant>,
    forced: Option<KernelConfig>,
    prepacked: Option<&PackedB>,
) -> Result<Tensor> {
    let device = rec.device().clone();
    let ops = Operands::of(&device, a, b, epi)?;
    let (variant, cfg) = pick_kernel(&device, &ops, a, b, variant, forced)?;
    let key = kernel_key(&ops, a, b, epi, variant, cfg);
    let name = format!("matmul.{}", variant.name());
    let pipeline = device.kernel_pipeline(&name, &key.cache_key(), || kernel_source(&key))?;
    let mut params = ops.params(a, b, epi)?;
    let grid_xy = grid(&device, &ops, a, b, variant, cfg)?;
    let (m, n, k) = (ops.m, ops.n, ops.k);

    let out = Tensor::empty(&device, &ops.shape, ops.dtype)?;
    let bias_buf = epi.bias.unwrap_or(a).buffer();
    let res_buf = epi.residual.unwrap_or(a).buffer();
    let epi_cost = EpilogueCost::of(epi, ops.dtype);
    let fresh;
    let packed = match (variant, prepacked) {
        (MatmulVariant::CpuTexture, Some(p)) if (p.k, p.n) == (k, n) => Some(&p.view),
        (MatmulVariant::CpuTexture, _) => {
            fresh = encode_pack_b(rec, &device, b, &params, n, k)?;
            Some(&fresh)
        }
        _ => None,
    };
    // Batches beyond the z limit go in further dispatches, each with its own batch_base.
    let max = device.limits().max_compute_workgroups_per_dimension as usize;
    let mut base = 0usize;
    while base < ops.nbatch {
        let chunk = (ops.nbatch - base).min(max);
        params.batch_base = base as u32;
        let c = cost(chunk, m, n, k, epi_cost);
        let grid = [grid_xy[0] as u32, grid_xy[1] as u32, chunk as u32];
        let params = bytemuck::bytes_of(&params);
        match packed {
            Some(view) => rec.dispatch_with(
                &name,
                &pipeline,
                &[
                    (0, Bind::Buffer(a.buffer())),
                    (2, Bind::Buffer(out.buffer())),
                    (3, Bind::Buffer(bias_buf)),
                    (4, Bind::Buffer(res_buf)),
                    (6, Bind::Texture(view)),
                ],
                Some((5, params)),
                grid,
                c,
            )?,
            None => rec.dispatch(
                &name,
                &pipeline,
                &[a.buffer(), b.buffer(), out.buffer(), bias_buf, res_buf],
                Some(params),
                grid,
                c,
            )?,
        }
        base += chunk;
    }
    Ok(out)
}

/// The kernel and its block sizes: the caller's, else a tuned choice (see `tune`) for f32
/// products of this shape class where it can compute this product, else the rules; checked
/// against the variant's constraints either way.
fn pick_kernel(
    device: &Device,
    ops: &Operands,
    a: &Tensor,
    b: &Tensor,
    variant: Option<MatmulVariant>,
    forced: Option<KernelConfig>,
) -> Result<(MatmulVariant, KernelConfig)> {
    let (m, n, k) = (ops.m, ops.n, ops.k);
    let tuned = match (variant, forced, ops.dtype) {
        (None, None, DType::F32) => {
            crate::tune::matmul_choice(device, m, n, k).filter(|&(v, c)| usable(device, v, c, m, n))
        }
        _ => None,
    };
    let variant = match (variant, tuned) {
        (None, Some((v, _))) => Some(v),
        (v, _) => v,
    };
    let forced = forced.or(tuned.map(|(_, c)| c));
    let b_batched = ops.b_bs.iter().any(|&s| s != 0);
    let variant = match variant {
        Some(MatmulVariant::CpuTexture) if b_batched || !texture_fits(device, n, k) => {
            return Err(Error::invalid(
                OP,
                format!(
                    "the cpu_texture variant needs one B matrix within the adapter's {} texels a side, got {:?} x {:?}",
                    device.limits().max_texture_dimension_2d,
                    a.shape(),
                    b.shape()
                ),
            ))
        }
        Some(v) => v,
        None => choose_variant(device, m, n, k, ops.dtype),
    };
    if !variant.available_on(device) {
        return Err(Error::MissingFeature {
            what: "the cpu_subgroup matmul variant (subgroups of exactly 8 lanes on a CPU adapter; leave the variant to the rules)".into(),
            feature: "SUBGROUP",
            adapter: device.summary().name.clone(),
        });
    }
    if variant == MatmulVariant::Gemv && m != 1 && n != 1 {
        return Err(Error::invalid(
            OP,
            format!(
                "the gemv variant needs M == 1 or N == 1, got {:?} x {:?}",
                a.shape(),
                b.shape()
            ),
        ));
    }
    let cfg = forced.unwrap_or_else(|| config(device, variant, m, n, k));
    let four = |x: u32| x > 0 && x.is_multiple_of(4);
    let ok = match variant {
        MatmulVariant::CpuRegister | MatmulVariant::CpuTexture => cfg.wg_x > 0,
        MatmulVariant::CpuSubgroup => cfg.wg_x.is_multiple_of(8) && cfg.wg_x > 0,
        MatmulVariant::GpuTiled => {
            four(cfg.tm) && four(cfg.tn) && cfg.wg_x > 0 && cfg.wg_y > 0 && tile_fits(device, cfg)
        }
        MatmulVariant::Gemv => cfg.k_split > 0 && cfg.wg_x.is_multiple_of(cfg.k_split),
    };
    if !ok {
        return Err(Error::invalid(
            OP,
            format!("kernel config {cfg:?} breaks the {variant:?} rules"),
        ));
    }
    Ok((variant, cfg))
}

/// The pipeline key: the kernel, and which operands take the vec4 paths (contiguous along
/// the vector axis, with every offset and stride a multiple of 4).
fn kernel_key(
    ops: &Operands,
    a: &Tensor,
    b: &Tensor,
    epi: &Epilogue,
    variant: MatmulVariant,
    cfg: KernelConfig,
) -> KernelKey {
    let r = ops.shape.len();
    let (a_rs, a_cs) = (ops.a_str[r - 2], ops.a_str[r - 1]);
    let (b_rs, b_cs) = (ops.b_str[r - 2], ops.b_str[r - 1]);
    let aligned = |xs: &[usize]| xs.iter().all(|x| x.is_multiple_of(4));
    let mut a_aligned = vec![a.offset(), a_rs];
    a_aligned.extend(&ops.a_bs);
    let mut b_aligned = vec![b.offset(), b_rs];
    b_aligned.extend(&ops.b_bs);
    // Every kernel but GEMV has the vec4 loads along K and the vec4 epilogue.
    let cpu = variant != MatmulVariant::Gemv;
    let n = ops.n;
    let a_vec = cpu && a_cs == 1 && aligned(&a_aligned);
    let b_vec =
        variant != MatmulVariant::Gemv && b_cs == 1 && n.is_multiple_of(4) && aligned(&b_aligned);
    let mut bk_aligned = vec![b.offset(), b_cs];
    bk_aligned.extend(&ops.b_bs);
    let b_kvec = cpu && !b_vec && b_rs == 1 && aligned(&bk_aligned);
    // Vectorised epilogue: every 4-column group of a C row is one aligned vec4.
    let c_vec = cpu && n.is_multiple_of(4);
    let bias_vec = c_vec && epi.bias.is_some() && ops.bias_s == 1 && ops.bias_off.is_multiple_of(4);
    let mut r_aligned = vec![ops.r_off, ops.r_str[r - 2]];
    r_aligned.extend(&ops.r_bs);
    let res_vec = c_vec && epi.residual.is_some() && ops.r_str[r - 1] == 1 && aligned(&r_aligned);
    KernelKey {
        variant,
        cfg,
        f16: ops.dtype == DType::F16,
        a_vec,
        b_vec,
        b_kvec,
        has_bias: epi.bias.is_some(),
        has_res: epi.residual.is_some(),
        c_vec,
        bias_vec,
        res_vec,
        activation: epi.activation,
        gemv_x_is_b: ops.m == 1,
    }
}

/// Workgroups along x and y (batches go along z), within the device's per-dimension limit.
fn grid(
    device: &Device,
    ops: &Operands,
    a: &Tensor,
    b: &Tensor,
    variant: MatmulVariant,
    cfg: KernelConfig,
) -> Result<[usize; 2]> {
    let (m, n) = (ops.m, ops.n);
    let max = device.limits().max_compute_workgroups_per_dimension as usize;
    let grid_xy = match variant {
        MatmulVariant::CpuRegister | MatmulVariant::CpuTexture | MatmulVariant::CpuSubgroup => {
            let blocks_n = n.div_ceil(cfg.tn as usize);
            [
                blocks_n.div_ceil(cfg.wg_x as usize),
                m.div_ceil(cfg.tm as usize),
            ]
        }
        MatmulVariant::GpuTiled => [
            n.div_ceil((cfg.wg_x * cfg.tn) as usize),
            m.div_ceil((cfg.wg_y * cfg.tm) as usize),
        ],
        MatmulVariant::Gemv => {
            let outputs = m.max(n);
            let g = crate::exec::grid_1d(
                device,
                outputs.div_ceil((cfg.wg_x / cfg.k_split) as usize) as u64,
            )?;
            [g[0] as usize, g[1] as usize]
        }
    };
    if grid_xy[0] > max || grid_xy[1] > max {
        return Err(Error::TooLarge {
            what: format!("matmul {:?} x {:?} grid {grid_xy:?}", a.shape(), b.shape()),
            bytes: grid_xy[0].max(grid_xy[1]) as u64,
            limit: "max_compute_workgroups_per_dimension",
            max: max as u64,
        });
    }
    Ok(grid_xy)
}

/// Records `matmul_pack_b`: B (one matrix, any strides) into a new rgba32float texture of
/// `ceil(n / 4)` x `k` texels, zero past column n. Returns the view the product binds; the
/// recorded bind groups keep the texture alive until the run completes.
fn encode_pack_b(
    rec: &mut Recorder,
    device: &Device,
    b: &Tensor,
    params: &Params,
    n: usize,
    k: usize,
) -> Result<wgpu::TextureView> {
    let width = n.div_ceil(4);
    let size = wgpu::Extent3d {
        width: u32_of(width, "texture width")?,
        height: u32_of(k, "texture height")?,
        depth_or_array_layers: 1,
    };
    let texture = device
        .wgpu_device()
        .create_texture(&wgpu::TextureDescriptor {
            label: Some("flopwatt-matmul-b"),
            size,
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format: wgpu::TextureFormat::Rgba32Float,
            usage: wgpu::TextureUsages::STORAGE_BINDING | wgpu::TextureUsages::TEXTURE_BINDING,
            view_formats: &[],
        });
    let view = texture.create_view(&wgpu::TextureViewDescriptor::default());
    let f16 = b.dtype() == DType::F16;
    let pipeline =
        device.kernel_pipeline("matmul.pack_b", &format!("matmul pack_b {f16}"), || {
            Ok((source::pack_b_source(f16)?, "matmul_pack_b".into()))
        })?;
    let elems = (width * k) as u64;
    rec.dispatch_with(
        "matmul.pack_b",
        &pipeline,
        &[(1, Bind::Buffer(b.buffer())), (7, Bind::Texture(&view))],
        Some((5, bytemuck::bytes_of(params))),
        [width.div_ceil(64) as u32, size.height, 1],
        Cost {
            flops: 0,
            bytes: (n * k * b.dtype().size()) as u64 + elems * 16,
        },
    )?;
    Ok(view)
}

#[cfg(test)]
mod tests {
    use super::operands::collapse_batch;
    use super::*;

    #[test]
    fn shapes_and_errors() {
        assert_eq!(output_shape(&[3, 4], &[4, 5]).unwrap(), vec![3, 5]);
        assert_eq!(
            output_shape(&[3, 1, 2, 4], &[5, 4, 6]).unwrap(),
            vec![3, 5, 2, 6]
        );
        let e = output_shape(&[3, 4], &[5, 6]).unwrap_err().to_string();
        assert_eq!(e, "matmul: inner dims differ, [3, 4] x [5, 6]");
        assert!(output_shape(&[4], &[4, 5]).is_err());
        assert!(output_shape(&[2, 3, 4], &[3, 4, 5]).is_err());
    }

    #[test]
    fn batch_dims_collapse() {
        // Contiguous [2, 3] batch of a [2, 3, 4, 5] tensor merges into one dim of 6.
        let (s, st) = collapse_batch(&[2, 3], [&[60, 20], &[0, 0], &[15, 5]]).unwrap();
        assert_eq!(s, vec![6]);
        assert_eq!(st[0], vec![20]);
        // A broadcast dim stops the merge.
        let (s, _) = collapse_batch(&[2, 3, 1], [&[3, 1, 0], &[0, 1, 0], &[0, 0, 0]]).unwrap();
        assert_eq!(s, vec![2, 3]);
    }

    #[test]
    fn cost_counts_2mnk() {
        let c = cost(2, 3, 4, 5, EpilogueCost::default());
        assert_eq!(c.flops, 2 * 2 * 3 * 4 * 5);
        assert_eq!(c.bytes, 2 * (15 + 20 + 12) * 4);
    }
}
