//! Reductions: sum, mean, max, min, prod, argmax, argmin over any set of axes (or all), with
//! keepdims.
//!
//! Plan: a contiguous input is viewed with its size-1 dims dropped and neighbouring kept /
//! reduced dims merged, so every reduction becomes one or more passes over `[outer, red,
//! inner]`. Each pass splits `red` into `parts` chunks when the output alone would not fill
//! the device (a full reduction, a few long rows), and the partial results are reduced again
//! by the same kernels: multi-pass, never one invocation looping over millions of elements.
//! Two kernel families, picked per adapter ([`Strategy`]):
//! - *direct* (CPU adapters such as lavapipe): one invocation per output element reads its
//!   chunk straight from storage, with vec4 loads when the run is contiguous, and never
//!   touches shared memory or barriers. With `inner > 1` neighbouring invocations read
//!   neighbouring addresses, so a non-last-axis reduction is a coalesced sweep.
//! - *tree* (real GPUs, last-axis runs): a workgroup per chunk, coalesced strided loads,
//!   then a tree in shared memory. A run that is not last (a column reduction, `inner > 1`,
//!   e.g. every bias gradient) keeps the direct kernels with lanes along the columns, but its
//!   rows split into chunks of a few dozen over many workgroups (`plan_gpu_cols`); the
//!   next pass combines the partials (see docs/gpu.md).
//!
//! Strided views, and arg reductions over axes that do not merge into one run, take a
//! strided fallback kernel (one invocation per output, any strides).
//!
//! NaN: max/min/argmax/argmin ignore NaN (like `fmax`; a row of only NaN gives -inf/+inf
//! and index 0); sum/prod/mean propagate it. Ties in argmax/argmin give the first index
//! (row-major position within the reduced axes). Reducing zero elements is an error.

use bytemuck::{Pod, Zeroable};

use crate::device::AdapterClass;
use crate::error::{Error, Result};
use crate::exec::{grid_1d, Cost, Recorder};
use crate::ops::{run_once, same_device};
use crate::shaders;
use crate::tensor::{DType, Tensor};

/// Which reduction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReduceOp {
    /// Sum of the elements.
    Sum,
    /// Arithmetic mean.
    Mean,
    /// Largest element (NaN ignored).
    Max,
    /// Smallest element (NaN ignored).
    Min,
    /// Product of the elements.
    Prod,
    /// Index of the largest element (first on ties), as I32.
    ArgMax,
    /// Index of the smallest element (first on ties), as I32.
    ArgMin,
}

impl ReduceOp {
    /// The `OP` constant of shaders/reduce.wgsl (mean is a scaled sum).
    fn code(self) -> u32 {
        match self {
            ReduceOp::Sum | ReduceOp::Mean => 0,
            ReduceOp::Prod => 1,
            ReduceOp::Max => 2,
            ReduceOp::Min => 3,
            ReduceOp::ArgMax => 4,
            ReduceOp::ArgMin => 5,
        }
    }

    /// Whether the result is an index.
    pub fn is_arg(self) -> bool {
        matches!(self, ReduceOp::ArgMax | ReduceOp::ArgMin)
    }

    /// Lower-case name, used in kernel names.
    pub fn name(self) -> &'static str {
        match self {
            ReduceOp::Sum => "sum",
            ReduceOp::Mean => "mean",
            ReduceOp::Max => "max",
            ReduceOp::Min => "min",
            ReduceOp::Prod => "prod",
            ReduceOp::ArgMax => "argmax",
            ReduceOp::ArgMin => "argmin",
        }
    }
}

/// Kernel family for row-wise work (reductions and normalisation).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Strategy {
    /// Chosen by the adapter class: [`Strategy::Direct`] on CPU adapters, [`Strategy::Tree`]
    /// on GPUs.
    #[default]
    Auto,
    /// One invocation per output reading straight from storage (vec4, no shared memory).
    Direct,
    /// A workgroup per row (chunk) with a shared-memory tree.
    Tree,
}

/// Rows at most this long take one invocation per row under [`Strategy::Auto`] on every
/// adapter class: a 256-lane tree over a short row leaves most lanes idle, while one lane per
/// row puts many rows in each workgroup (see docs/gpu.md).
pub const SHORT_ROW: usize = 64;

impl Strategy {
    /// Resolves `Auto` for a device class.
    pub fn resolve(self, class: AdapterClass) -> Strategy {
        match (self, class) {
            (Strategy::Auto, AdapterClass::Cpu) => Strategy::Direct,
            (Strategy::Auto, AdapterClass::Gpu) => Strategy::Tree,
            (s, _) => s,
        }
    }

    /// Resolves `Auto` for rows of `len` elements: [`Strategy::Direct`] for rows of at most
    /// [`SHORT_ROW`], else as [`Strategy::resolve`]. An explicit family is kept.
    pub fn resolve_for_row(self, class: AdapterClass, len: usize) -> Strategy {
        match self {
            Strategy::Auto if len <= SHORT_ROW => Strategy::Direct,
            s => s.resolve(class),
        }
    }
}

/// Workgroup size of the direct kernels (lavapipe runs 8 lanes per vector; 64 is 8 vectors).
const WG_DIRECT: u32 = 64;
/// Workgroup size of the shared-memory tree kernels.
const WG_TREE: u32 = 256;
/// GPU-class column reductions: invocations the first pass aims to fill (a large GPU holds
/// some 10^5 resident lanes).
const GPU_COLS_TARGET: usize = 1 << 16;
/// GPU-class column reductions: the fewest rows one invocation reads per pass, and the
/// longest run (partials included) reduced in one pass.
const GPU_COLS_MIN_ROWS: usize = 32;
const GPU_COLS_ONE_PASS: usize = 256;

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    outer: u32,
    red: u32,
    inner: u32,
    parts: u32,
    chunk: u32,
    scale: f32,
    _pad: [u32; 2],
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct StridedParams {
    kshape: [u32; 8],
    kstride: [u32; 8],
    rshape: [u32; 8],
    rstride: [u32; 8],
    nk: u32,
    nr: u32,
    n_out: u32,
    n_red: u32,
    offset: u32,
    scale: f32,
    _pad: [u32; 2],
}

fn source(op_code: u32, wg: u32) -> Result<String> {
    shaders::specialize(
        shaders::REDUCE,
        &[("OP", format!("{op_code}u")), ("WG", format!("{wg}u"))],
    )
}

/// Every specialisation of shaders/reduce.wgsl the code can generate, for the naga test.
pub fn all_variants() -> Vec<(String, String)> {
    let mut v = Vec::new();
    for op in 0..6u32 {
        for wg in [WG_DIRECT, WG_TREE] {
            let src = source(op, wg).expect("reduce.wgsl declares OP and WG");
            v.push((format!("reduce.op{op}.wg{wg}"), src));
        }
    }
    v
}

/// Normalises `axes` (negative counts from the end) into a per-dim mask; `None` = all.
pub(crate) fn axis_mask(
    op: &'static str,
    shape: &[usize],
    axes: Option<&[isize]>,
) -> Result<Vec<bool>> {
    let rank = shape.len();
    let Some(axes) = axes else {
        return Ok(vec![true; rank]);
    };
    let mut mask = vec![false; rank];
    for &a in axes {
        let d = if a < 0 { a + rank as isize } else { a };
        if d < 0 || d >= rank as isize {
            return Err(Error::invalid(
                op,
                format!("axis {a} is out of range for shape {shape:?} (rank {rank})"),
            ));
        }
        if mask[d as usize] {
            return Err(Error::invalid(
                op,
                format!("axis {a} is repeated in {axes:?} for shape {shape:?}"),
            ));
        }
        mask[d as usize] = true;
    }
    Ok(mask)
}

/// Reduces `x` over `axes` (`None` = every axis). Submits and waits.
pub fn reduce(x: &Tensor, op: ReduceOp, axes: Option<&[isize]>, keepdims: bool) -> Result<Tensor> {
    run_once(x.device(), |rec| encode_reduce(rec, x, op, axes, keepdims))
}

/// Records the reduction into `rec`; the result is valid after `rec` is submitted.
pub fn encode_reduce(
    rec: &mut Recorder,
    x: &Tensor,
    op: ReduceOp,
    axes: Option<&[isize]>,
    keepdims: bool,
) -> Result<Tensor> {
    encode_reduce_with(rec, x, op, axes, keepdims, Strategy::Auto)
}

/// [`encode_reduce`] with an explicit kernel family (tests run both on any adapter).
pub fn encode_reduce_with(
    rec: &mut Recorder,
    x: &Tensor,
    op: ReduceOp,
    axes: Option<&[isize]>,
    keepdims: bool,
    strategy: Strategy,
) -> Result<Tensor> {
    const OPN: &str = "reduce";
    same_device(OPN, rec.device(), &[x])?;
    if x.dtype() != DType::F32 {
        return Err(Error::UnsupportedDType {
            op: OPN,
            dtype: x.dtype(),
            hint: "reductions take f32 tensors".into(),
        });
    }
    let shape = x.shape().to_vec();
    let mask = axis_mask(OPN, &shape, axes)?;
    let out_shape: Vec<usize> = shape
        .iter()
        .zip(&mask)
        .filter_map(|(&d, &m)| match (m, keepdims) {
            (false, _) => Some(d),
            (true, true) => Some(1),
            (true, false) => None,
        })
        .collect();
    let count: usize = shape
        .iter()
        .zip(&mask)
        .filter(|(_, &m)| m)
        .map(|(&d, _)| d)
        .product();
    if x.numel() == 0 {
        return Err(Error::invalid(
            OPN,
            format!(
                "cannot {} a tensor with no elements (shape {shape:?})",
                op.name()
            ),
        ));
    }
    let class = rec.device().class();
    let scale = if op == ReduceOp::Mean {
        1.0 / count as f32
    } else {
        1.0
    };

    // Drop size-1 dims, merge neighbours of the same kind.
    let mut runs: Vec<(usize, bool)> = Vec::new();
    for (&d, &m) in shape.iter().zip(&mask) {
        if d == 1 {
            continue;
        }
        match runs.last_mut() {
            Some((s, k)) if *k == m => *s *= d,
            _ => runs.push((d, m)),
        }
    }
    if !runs.iter().any(|r| r.1) {
        runs.push((1, true));
    }
    let n_red_runs = runs.iter().filter(|r| r.1).count();
    if !x.is_contiguous() || (op.is_arg() && n_red_runs > 1) {
        let t = encode_strided(rec, x, op, &mask, count, scale)?;
        return t.reshape(&out_shape);
    }

    let mut cur = x.clone();
    while let Some(j) = runs.iter().rposition(|r| r.1) {
        let outer: usize = runs[..j].iter().map(|r| r.0).product();
        let inner: usize = runs[j + 1..].iter().map(|r| r.0).product();
        let last = runs[..j].iter().all(|r| !r.1);
        let s = if last { scale } else { 1.0 };
        cur = encode_run(rec, &cur, op, [outer, runs[j].0, inner], s, strategy, class)?;
        runs.remove(j);
        if j > 0 && j < runs.len() && runs[j - 1].1 == runs[j].1 {
            runs[j - 1].0 *= runs[j].0;
            runs.remove(j);
        }
    }
    cur.reshape(&out_shape)
}

/// Chooses how many parts to split each reduced run into.
pub(crate) fn plan_parts(
    items: usize,
    red: usize,
    target: usize,
    min_chunk: usize,
    align: usize,
) -> (usize, usize) {
    let want = target
        .div_ceil(items.max(1))
        .min(red.div_ceil(min_chunk))
        .max(1);
    let chunk = red.div_ceil(want).next_multiple_of(align);
    (red.div_ceil(chunk).max(1), chunk)
}

/// How a GPU-class column reduction (`inner > 1`) splits its rows: chunks of at least
/// [`GPU_COLS_MIN_ROWS`] rows, enough of them to fill [`GPU_COLS_TARGET`] invocations, each
/// writing a partial row that the next pass combines; a run of at most
/// [`GPU_COLS_ONE_PASS`] rows (the partials, usually) is reduced in one pass.
pub(crate) fn plan_gpu_cols(items: usize, red: usize) -> (usize, usize) {
    if red <= GPU_COLS_ONE_PASS {
        return (1, red);
    }
    let want = GPU_COLS_TARGET
        .div_ceil(items.max(1))
        .min(red.div_ceil(GPU_COLS_MIN_ROWS))
        .max(1);
    let chunk = red.div_ceil(want);
    (red.div_ceil(chunk), chunk)
}

/// One reduced run of a contiguous tensor viewed as `[outer, red, inner]`, in as many passes
/// as needed; returns the `[outer * inner]` result (I32 indices for arg ops).
fn encode_run(
    rec: &mut Recorder,
    x: &Tensor,
    op: ReduceOp,
    dims: [usize; 3],
    scale: f32,
    strategy: Strategy,
    class: AdapterClass,
) -> Result<Tensor> {
    let dev = rec.device().clone();
    let [outer, mut red, inner] = dims;
    let mut vals = x.clone();
    let mut idx: Option<Tensor> = None;
    loop {
        // Per pass: the partials of a split long row are a short row.
        let chosen = if inner == 1 {
            strategy.resolve_for_row(class, red)
        } else {
            strategy.resolve(class)
        };
        let tree = chosen == Strategy::Tree && inner == 1;
        // GPU class, reduced run not last: the rows split over many workgroups (lanes along
        // the columns, so each row's load is coalesced), partials combined by the next pass.
        let gpu_cols = chosen == Strategy::Tree && inner > 1;
        let rows4 = !tree && inner == 1 && red.is_multiple_of(4) && idx.is_none();
        let cols4 = !tree && inner.is_multiple_of(4) && !op.is_arg();
        // One lane per 64 columns suits a CPU's prefetchers but not a GPU's coalescing.
        let cols64 = cols4 && inner.is_multiple_of(64) && !gpu_cols;
        let width = if cols64 {
            64
        } else if cols4 {
            4
        } else {
            1
        };
        let (parts, chunk) = if tree {
            plan_parts(outer, red, 2048, WG_TREE as usize * 8, 1)
        } else if gpu_cols {
            plan_gpu_cols(outer * inner / width, red)
        } else {
            let align = if rows4 { 4 } else { 1 };
            plan_parts(outer * inner / width, red, 1024, 4096, align)
        };
        let last = parts == 1;
        let n_out = outer * parts * inner;
        let p = Params {
            outer: outer as u32,
            red: red as u32,
            inner: inner as u32,
            parts: parts as u32,
            chunk: chunk as u32,
            scale: if last { scale } else { 1.0 },
            _pad: [0; 2],
        };
        let wg = if tree { WG_TREE } else { WG_DIRECT };
        let src = source(op.code(), wg)?;
        let family = if tree {
            "tree"
        } else if rows4 {
            "rows4"
        } else if cols64 {
            "cols64"
        } else if cols4 {
            "cols4"
        } else {
            "cols"
        };
        let mode = match (op.is_arg(), idx.is_some()) {
            (false, _) => "plain",
            (true, false) => "arg",
            (true, true) => "carry",
        };
        let entry = format!("{family}_{mode}");
        let name = format!("reduce.{family}.{}", op.name());
        let pipe = dev.own_pipeline(&name, &src, &entry)?;
        let grid = if tree {
            grid_1d(&dev, (outer * parts) as u64)?
        } else {
            grid_1d(
                &dev,
                (n_out as u64 / width as u64).div_ceil(WG_DIRECT as u64),
            )?
        };
        let n_in = (outer * red * inner) as u64;
        let idx_bytes = if idx.is_some() { 4 * n_in } else { 0 };
        let out_bytes = if op.is_arg() { 8 } else { 4 } * n_out as u64;
        let cost = Cost {
            flops: n_in,
            bytes: 4 * n_in + idx_bytes + out_bytes,
        };
        let out_v = Tensor::empty(&dev, &[n_out], DType::F32)?;
        let bytes = bytemuck::bytes_of(&p);
        if op.is_arg() {
            let out_i = Tensor::empty(&dev, &[n_out], DType::I32)?;
            match &idx {
                None => rec.dispatch(
                    &name,
                    &pipe,
                    &[vals.buffer(), out_v.buffer(), out_i.buffer()],
                    Some(bytes),
                    grid,
                    cost,
                )?,
                Some(ii) => rec.dispatch(
                    &name,
                    &pipe,
                    &[vals.buffer(), ii.buffer(), out_v.buffer(), out_i.buffer()],
                    Some(bytes),
                    grid,
                    cost,
                )?,
            }
            rec.keep_alive(out_i.clone());
            idx = Some(out_i);
        } else {
            rec.dispatch(
                &name,
                &pipe,
                &[vals.buffer(), out_v.buffer()],
                Some(bytes),
                grid,
                cost,
            )?;
        }
        rec.keep_alive(out_v.clone());
        vals = out_v;
        if last {
            return Ok(if op.is_arg() {
                idx.expect("arg pass wrote indices")
            } else {
                vals
            });
        }
        red = parts;
    }
}

/// The strided fallback: any view, any set of axes, one invocation per output element.
fn encode_strided(
    rec: &mut Recorder,
    x: &Tensor,
    op: ReduceOp,
    mask: &[bool],
    count: usize,
    scale: f32,
) -> Result<Tensor> {
    let dev = rec.device().clone();
    let mut p = StridedParams::zeroed();
    let (mut nk, mut nr) = (0usize, 0usize);
    for ((&d, &s), &m) in x.shape().iter().zip(x.strides()).zip(mask) {
        if d == 1 {
            continue;
        }
        let (shape, stride, n) = if m {
            (&mut p.rshape, &mut p.rstride, &mut nr)
        } else {
            (&mut p.kshape, &mut p.kstride, &mut nk)
        };
        if *n == 8 {
            return Err(Error::invalid(
                "reduce",
                format!(
                    "strided input {:?} has more than 8 kept or reduced dims",
                    x.shape()
                ),
            ));
        }
        shape[*n] = d as u32;
        stride[*n] = s as u32;
        *n += 1;
    }
    let n_out = x.numel() / count;
    p.nk = nk as u32;
    p.nr = nr as u32;
    p.n_out = n_out as u32;
    p.n_red = count as u32;
    p.offset = x.offset() as u32;
    p.scale = scale;
    let src = source(op.code(), WG_DIRECT)?;
    let name = format!("reduce.strided.{}", op.name());
    let grid = grid_1d(&dev, (n_out as u64).div_ceil(WG_DIRECT as u64))?;
    let n_in = x.numel() as u64;
    let out_v = Tensor::empty(&dev, &[n_out], DType::F32)?;
    let bytes = bytemuck::bytes_of(&p);
    if op.is_arg() {
        let pipe = dev.own_pipeline(&name, &src, "strided_arg")?;
        let out_i = Tensor::empty(&dev, &[n_out], DType::I32)?;
        let cost = Cost {
            flops: n_in,
            bytes: 4 * n_in + 8 * n_out as u64,
        };
        rec.dispatch(
            &name,
            &pipe,
            &[x.buffer(), out_v.buffer(), out_i.buffer()],
            Some(bytes),
            grid,
            cost,
        )?;
        rec.keep_alive(out_v);
        Ok(out_i)
    } else {
        let pipe = dev.own_pipeline(&name, &src, "strided_plain")?;
        let cost = Cost {
            flops: n_in,
            bytes: 4 * n_in + 4 * n_out as u64,
        };
        rec.dispatch(
            &name,
            &pipe,
            &[x.buffer(), out_v.buffer()],
            Some(bytes),
            grid,
            cost,
        )?;
        Ok(out_v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_cover_the_run() {
        for (items, red) in [
            (1usize, 1usize),
            (1, 1 << 24),
            (4096, 4096),
            (3, 257),
            (1, 5000),
        ] {
            for align in [1, 4] {
                let red = if align == 4 {
                    red.next_multiple_of(4)
                } else {
                    red
                };
                let (parts, chunk) = plan_parts(items, red, 1024, 4096, align);
                assert!(
                    parts * chunk >= red && (parts - 1) * chunk < red,
                    "{items} {red}"
                );
                assert_eq!(chunk % align, 0);
            }
        }
    }

    #[test]
    fn gpu_columns_split_then_combine_in_one_pass() {
        // [4096, 64] summed over rows, vec4 lanes: 16 lane columns.
        let (parts, chunk) = plan_gpu_cols(16, 4096);
        assert_eq!((parts, chunk), (128, 32));
        assert_eq!(plan_gpu_cols(16, parts), (1, 128));
        for (items, red) in [
            (1usize, 1usize),
            (1, 257),
            (3, 1000),
            (17, 4097),
            (1, 1 << 22),
        ] {
            let (parts, chunk) = plan_gpu_cols(items, red);
            assert!(
                parts * chunk >= red && (parts - 1) * chunk < red,
                "{items} {red}"
            );
            assert!(
                parts == 1 || parts < red,
                "{items} {red}: the partials must shrink"
            );
        }
    }

    #[test]
    fn axes_are_checked() {
        assert_eq!(
            axis_mask("t", &[2, 3, 4], Some(&[-1, 0])).unwrap(),
            vec![true, false, true]
        );
        assert!(axis_mask("t", &[2, 3], Some(&[2])).is_err());
        assert!(axis_mask("t", &[2, 3], Some(&[1, -1])).is_err());
    }
}
