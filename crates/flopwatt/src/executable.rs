//! A compiled graph: fused steps, a buffer plan, weights on the device, warm pipelines.
//!
//! [`Graph::compile`] lowers the graph ([`crate::fuse`]), plans buffers ([`crate::plan`]),
//! uploads constants once, and records one run on buffers of its own: every pipeline, bind
//! group, parameter buffer and intermediate buffer is made then, once. [`Executable::run`]
//! replays that recording: it copies the caller's inputs into the executable's input buffers,
//! encodes the recorded dispatches, copies the outputs out into fresh tensors that the caller
//! owns, all in one command buffer and one submit (see `docs/host-path.md`). Inputs that a
//! buffer copy cannot take whole (strided views) are recorded afresh, the way every run was
//! recorded before.

use std::fmt::Write as _;

use crate::device::Device;
use crate::error::{Error, Result};
use crate::exec::{BufferCopy, Copies, Recorder, Recording};
use crate::fuse::{self, FuseOptions, Kernel, Step};
use crate::graph::{Graph, Op, ValueId};
use crate::ops::elementwise::{encode_fused, Expr};
use crate::plan::{self, Plan};
use crate::profile::RunProfile;
use crate::tensor::{contiguous_strides, numel, Tensor};

/// How to compile a graph. Build one from [`CompileOptions::DEFAULT`] (or `default()`) with
/// struct update syntax, so that fields added later keep their defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CompileOptions {
    /// Run the fusers (else one kernel per op, layout ops copied).
    pub fusion: bool,
    /// Free intermediates after their last use so buffers are shared (else all live to the end).
    pub memory_planning: bool,
    /// Let elementwise steps write into a dead input's buffer (with memory planning on).
    pub in_place: bool,
    /// Stack matmuls that share an input into one product (with fusion on); `None` chooses by
    /// adapter class ([`fuse::horizontal_for`]).
    pub stacked_matmuls: Option<bool>,
}

impl CompileOptions {
    /// Fusion, memory planning and in-place steps on; stacked matmuls by adapter class.
    pub const DEFAULT: CompileOptions = CompileOptions {
        fusion: true,
        memory_planning: true,
        in_place: true,
        stacked_matmuls: None,
    };
}

impl Default for CompileOptions {
    fn default() -> Self {
        CompileOptions::DEFAULT
    }
}

/// A graph compiled for one device; run it many times with new inputs. `Send + Sync`: runs
/// from several threads each submit their own command buffer (copies in, the recorded
/// dispatches, copies out to their own outputs), which the queue runs one after another.
pub struct Executable {
    device: Device,
    graph: Graph,
    steps: Vec<Step>,
    plan: Plan,
    options: CompileOptions,
    /// Constants (and scalars read as tensors), by node id; resident for the executable's life.
    constants: Vec<Option<Tensor>>,
    inputs: Vec<ValueId>,
    /// Kernel names each step recorded in the dry run.
    step_kernels: Vec<Vec<String>>,
    /// Device tensors a step reads in place of graph constants, prepared once at compile
    /// time: the stacked weights and biases of [`Kernel::MatMulStack`], repacked conv weights.
    step_consts: Vec<Vec<Tensor>>,
    /// The run recorded at compile time, replayed by every run (`None` when compiled inside
    /// another open recording on the same thread: then every run records afresh).
    replay: Option<Replay>,
}

/// A run recorded once on the executable's own buffers.
///
/// Inputs are copied into `inputs` inside the run's command buffer rather than bound where
/// the caller's tensors live: callers mostly upload fresh tensors for every run, so bind
/// groups cached by caller buffer identity would rarely hit and would keep those buffers
/// alive, while a copy costs one command per input and leaves every bind group fixed.
/// Nothing here changes after compile, so concurrent runs share it without a lock: each run
/// is one command buffer (copies in, dispatches, copies out to its own output buffers), and
/// the queue executes command buffers one after another in submission order.
struct Replay {
    recording: Recording,
    /// The executable's input tensors, bound by the recorded dispatches.
    inputs: Vec<Tensor>,
    /// The recorded run's outputs, in the executable's buffers; copied out by every run.
    outputs: Vec<Tensor>,
}

/// Elements from a view's first element to its last, inclusive (0 when empty).
fn span(t: &Tensor) -> usize {
    if t.numel() == 0 {
        return 0;
    }
    1 + t
        .shape()
        .iter()
        .zip(t.strides())
        .map(|(&d, &s)| (d - 1) * s)
        .sum::<usize>()
}

impl Replay {
    /// The copies that run the recording on `inputs`, and the caller-owned outputs they
    /// fill; `None` when an input is not dense or its size is not a whole number of 4-byte
    /// words (what a buffer copy needs), so the run must be recorded afresh.
    fn copies(&self, inputs: &[&Tensor]) -> Option<(Copies, Vec<Tensor>)> {
        let mut copies = Copies::default();
        for (src, dst) in inputs.iter().zip(&self.inputs) {
            let size = src.dtype().size();
            let (start, bytes) = ((src.offset() * size) as u64, (src.numel() * size) as u64);
            let dense = src.strides() == contiguous_strides(src.shape()).as_slice();
            if !dense || start % 4 != 0 || bytes % 4 != 0 {
                return None;
            }
            if bytes > 0 {
                copies.before.push(BufferCopy {
                    src: src.buffer().clone(),
                    src_offset: start,
                    dst: dst.buffer().clone(),
                    dst_offset: 0,
                    size: bytes,
                });
            }
        }
        let outputs = self
            .outputs
            .iter()
            .map(|t| {
                // The words holding the view, from its first element (rounded down to a
                // word) to its last: a part of a stacked product copies only its part.
                let size = t.dtype().size();
                let first = (t.offset() * size) & !3;
                let end = ((t.offset() + span(t)) * size).next_multiple_of(4);
                let out = Tensor::fresh_like(t, (end - first) as u64, t.offset() - first / size);
                if end > first {
                    copies.after.push(BufferCopy {
                        src: t.buffer().clone(),
                        src_offset: first as u64,
                        dst: out.buffer().clone(),
                        dst_offset: 0,
                        size: (end - first) as u64,
                    });
                }
                out
            })
            .collect();
        Some((copies, outputs))
    }
}

/// The values a step reads as device tensors (a stacked matmul reads its prepared weights
/// instead of the graph's constants).
fn tensor_inputs(step: &Step) -> &[ValueId] {
    match step.kernel {
        Kernel::MatMulStack { .. } => &step.inputs[..1],
        _ => &step.inputs,
    }
}

/// The data of constants `parts`, end to end.
fn stack_constants(graph: &Graph, parts: &[ValueId]) -> Vec<f32> {
    let mut out = Vec::new();
    for p in parts {
        if let Op::Constant { data } = &graph.node(*p).op {
            out.extend_from_slice(data);
        }
    }
    out
}

/// conv2d parameters of a graph conv step.
fn conv_params(
    attrs: &crate::graph::Conv2dAttrs,
    activation: crate::ops::Activation,
) -> crate::ops::conv::Conv2dParams {
    crate::ops::conv::Conv2dParams {
        stride: attrs.stride,
        padding: attrs.padding,
        dilation: attrs.dilation,
        groups: attrs.groups,
        activation,
    }
}

fn prepare_step_consts(device: &Device, graph: &Graph, step: &Step) -> Result<Vec<Tensor>> {
    if let Kernel::Conv2d { attrs, activation } = &step.kernel {
        // Constant weights: repack them once here instead of in every run.
        let w = step.inputs[1];
        let Op::Constant { data } = &graph.node(w).op else {
            return Ok(Vec::new());
        };
        let wt = Tensor::from_f32(device, data, graph.shape(w))?;
        let x = step.inputs[0];
        let xt = Tensor::empty(device, graph.shape(x), graph.node(x).dtype)?;
        let mut rec = Recorder::new(device);
        let packed = crate::ops::conv::pack_conv2d_weights(
            &mut rec,
            &xt,
            &wt,
            &conv_params(attrs, *activation),
        )?;
        rec.submit(false)?;
        return Ok(vec![packed]);
    }
    let Kernel::MatMulStack { parts, bias, .. } = &step.kernel else {
        return Ok(Vec::new());
    };
    // [P, 1.., K, N] weights and [P, 1.., 1, N] biases against the output [P, batch.., M, N].
    let batch = graph.shape(step.inputs[0]).len() - 2;
    let bs = graph.shape(step.inputs[1]);
    let mut wshape = vec![*parts];
    wshape.extend(std::iter::repeat_n(1, batch));
    let mut bshape = wshape.clone();
    wshape.extend_from_slice(bs);
    bshape.extend([1, bs[1]]);
    let w = stack_constants(graph, &step.inputs[1..1 + parts]);
    let mut out = vec![Tensor::from_f32(device, &w, &wshape)?];
    if *bias {
        let b = stack_constants(graph, &step.inputs[1 + parts..1 + 2 * parts]);
        out.push(Tensor::from_f32(device, &b, &bshape)?);
    }
    Ok(out)
}

/// `graph.compile(&device)`: compiling an IR [`Graph`] for a device (the IR crate knows no
/// device, so the runtime adds the method; it is in the [`crate::prelude`]).
pub trait Compile {
    /// Compiles with fusion and memory planning on.
    fn compile(&self, device: &Device) -> Result<Executable>;

    /// Compiles with explicit options.
    fn compile_with(&self, device: &Device, options: CompileOptions) -> Result<Executable>;
}

impl Compile for Graph {
    fn compile(&self, device: &Device) -> Result<Executable> {
        Executable::new(self, device, CompileOptions::default())
    }

    fn compile_with(&self, device: &Device, options: CompileOptions) -> Result<Executable> {
        Executable::new(self, device, options)
    }
}

/// A contiguous copy of `t` when it is a strided view (one copy kernel: the elementwise one
/// for f32, the raw strided copy for i32 so that integers above 2^24 stay exact).
fn contiguous(rec: &mut Recorder, t: &Tensor) -> Result<Tensor> {
    if t.is_contiguous() {
        Ok(t.clone())
    } else {
        copy(rec, t)
    }
}

/// `t` itself when its last axis is dense (what the attention kernels need: they read q, k
/// and v through their other strides, so head-split transposes cost no copy), else a copy.
fn dense_rows(rec: &mut Recorder, t: &Tensor) -> Result<Tensor> {
    let last = t.rank().saturating_sub(1);
    if t.rank() == 0 || t.strides()[last] == 1 || t.shape()[last] <= 1 {
        Ok(t.clone())
    } else {
        copy(rec, t)
    }
}

/// A fresh contiguous copy of `t` (see [`contiguous`]).
fn copy(rec: &mut Recorder, t: &Tensor) -> Result<Tensor> {
    if t.dtype() == crate::tensor::DType::I32 {
        crate::ops::gather::encode_contiguous(rec, t)
    } else {
        encode_fused(rec, &[t], &Expr::Input(0))
    }
}

/// Applies a layout op to `t` as a view; a reshape of a strided view copies first.
fn view(rec: &mut Recorder, t: &Tensor, op: &Op, shape: &[usize]) -> Result<Tensor> {
    match op {
        Op::Transpose(a, b) => t.transpose(*a, *b),
        // The same rule as `fuse::lower`: a view where strides allow, else a copy.
        Op::Reshape => match t.reshape_view(shape) {
            Ok(v) => Ok(v),
            Err(_) => contiguous(rec, t)?.reshape(shape),
        },
        Op::BroadcastTo => t.broadcast_to(shape),
        Op::Slice { starts, steps } => {
            let steps: Vec<usize> = steps.iter().map(|&s| s as usize).collect();
            t.slice_view(starts, &steps, shape)
        }
        _ => Err(Error::invalid(
            "graph",
            format!("{} is not a layout op", op.name()),
        )),
    }
}

impl Executable {
    fn new(graph: &Graph, device: &Device, options: CompileOptions) -> Result<Self> {
        if graph.outputs().is_empty() {
            return Err(Error::invalid("compile", "the graph has no outputs"));
        }
        let steps = fuse::lower(
            graph,
            FuseOptions {
                fusion: options.fusion,
                horizontal: options
                    .stacked_matmuls
                    .unwrap_or_else(|| fuse::horizontal_for(device.class())),
            },
        );
        let plan = plan::plan(
            graph,
            &steps,
            plan::PlanOptions {
                sharing: options.memory_planning,
                in_place: options.memory_planning && options.in_place,
            },
        );
        let mut constants: Vec<Option<Tensor>> = vec![None; graph.nodes().len()];
        let mut read_as_tensor = vec![false; graph.nodes().len()];
        for s in &steps {
            for v in tensor_inputs(s) {
                read_as_tensor[v.0] = true;
            }
        }
        for o in graph.outputs() {
            read_as_tensor[o.0] = true;
        }
        for (i, node) in graph.nodes().iter().enumerate() {
            match &node.op {
                // Constants only a compile-time rewrite reads (stacked weights) stay on the
                // host.
                Op::Constant { data } if read_as_tensor[i] => {
                    constants[i] = Some(Tensor::from_f32(device, data, &node.shape)?);
                }
                Op::Scalar(s) if read_as_tensor[i] => {
                    constants[i] = Some(Tensor::from_f32(device, &[*s], &[])?);
                }
                Op::ConstantI32 { data } => {
                    constants[i] = Some(Tensor::from_i32(device, data, &node.shape)?);
                }
                _ => {}
            }
        }
        let step_consts = steps
            .iter()
            .map(|s| prepare_step_consts(device, graph, s))
            .collect::<Result<_>>()?;

        let mut exe = Executable {
            device: device.clone(),
            graph: graph.clone(),
            steps,
            plan,
            options,
            constants,
            inputs: graph.inputs(),
            step_kernels: Vec::new(),
            step_consts,
            replay: None,
        };
        // The recorded run: builds every pipeline, bind group and buffer now (not in the
        // first timed run), names the kernels, and is what every run replays.
        let inputs: Vec<Tensor> = exe
            .inputs
            .iter()
            .map(|v| Tensor::empty(device, graph.shape(*v), graph.node(*v).dtype))
            .collect::<Result<_>>()?;
        let mut rec = Recorder::new(device);
        let mut names = Vec::new();
        let outputs = {
            let refs: Vec<&Tensor> = inputs.iter().collect();
            exe.record(&mut rec, &refs, Some(&mut names))?
        };
        exe.step_kernels = names;
        // The pipelines were built on workers while the run was recorded: wait for them
        // here, so that a build error is a compile error.
        crate::exec::resolve(rec.dispatches())?;
        exe.replay = rec.into_recording().map(|recording| Replay {
            recording,
            inputs,
            outputs,
        });
        Ok(exe)
    }

    /// The replay of a run on `inputs` (already checked): its copies and outputs, or `None`
    /// when the run must be recorded afresh.
    fn replay_for(&self, inputs: &[&Tensor]) -> Option<(&Replay, Copies, Vec<Tensor>)> {
        let replay = self.replay.as_ref()?;
        let (copies, outputs) = replay.copies(inputs)?;
        Some((replay, copies, outputs))
    }

    /// Whether runs on dense inputs replay the compile-time recording (true unless the graph
    /// was compiled inside another open [`Recorder`] on the same thread).
    pub fn replays(&self) -> bool {
        self.replay.is_some()
    }

    /// The device it runs on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The steps (fused kernels and views) in execution order.
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    /// The buffer plan.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The options it was compiled with.
    pub fn options(&self) -> CompileOptions {
        self.options
    }

    /// Dispatches per run.
    pub fn dispatch_count(&self) -> usize {
        self.step_kernels.iter().map(Vec::len).sum()
    }

    /// Bytes of constants kept on the device.
    pub fn constant_bytes(&self) -> u64 {
        self.constants
            .iter()
            .flatten()
            .chain(self.step_consts.iter().flatten())
            .map(|t| (t.numel() * t.dtype().size()) as u64)
            .sum()
    }

    /// Runs on `inputs` (in the order the graph declared them); returns the outputs, which
    /// the caller owns (a later run never writes them).
    pub fn run(&self, inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
        self.check_inputs(inputs)?;
        if let Some((replay, copies, outs)) = self.replay_for(inputs) {
            #[cfg(not(target_arch = "wasm32"))]
            crate::wait::block_on(self.replay(replay, copies, false))?;
            // The browser cannot wait here: the run is submitted and its checks are skipped,
            // as for `Recorder::submit` (`run_async` checks them).
            #[cfg(target_arch = "wasm32")]
            crate::exec::submit_no_wait(&self.device, &replay.recording.dispatches, &copies);
            return Ok(outs);
        }
        let mut rec = Recorder::new(&self.device);
        let outs = self.record(&mut rec, inputs, None)?;
        rec.submit(false)?;
        Ok(outs)
    }

    /// Submits one replay of the compile-time recording with `copies` around it, then turns
    /// a run-time check that failed (a gather index out of range, an integer overflow) into
    /// its error.
    async fn replay(
        &self,
        replay: &Replay,
        mut copies: Copies,
        timed: bool,
    ) -> Result<Option<RunProfile>> {
        let rec = &replay.recording;
        let readback = rec.checks.read_after(&self.device, &mut copies, true);
        let profile =
            crate::exec::submit_dispatches(&self.device, &rec.dispatches, &copies, timed).await?;
        rec.checks
            .verify(&self.device, readback, &rec.dispatches)
            .await?;
        Ok(profile)
    }

    /// [`Executable::run`] without blocking: resolves once the GPU has finished the run (in
    /// the browser, `run` itself only submits).
    pub async fn run_async(&self, inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
        Ok(self.run_timed_async(inputs, false).await?.0)
    }

    /// [`Executable::run_profiled`] without blocking (the browser's way to time a graph).
    pub async fn run_profiled_async(
        &self,
        inputs: &[&Tensor],
    ) -> Result<(Vec<Tensor>, RunProfile)> {
        let (outs, profile) = self.run_timed_async(inputs, true).await?;
        let profile = profile
            .ok_or_else(|| Error::invalid("run_profiled", "recorder returned no profile"))?;
        Ok((outs, profile))
    }

    async fn run_timed_async(
        &self,
        inputs: &[&Tensor],
        timed: bool,
    ) -> Result<(Vec<Tensor>, Option<RunProfile>)> {
        self.check_inputs(inputs)?;
        if let Some((replay, copies, outs)) = self.replay_for(inputs) {
            let profile = self.replay(replay, copies, timed).await?;
            return Ok((outs, profile));
        }
        let mut rec = Recorder::new(&self.device);
        let outs = self.record(&mut rec, inputs, None)?;
        let profile = rec.submit_async(timed).await?;
        Ok((outs, profile))
    }

    /// Records one run into `rec` without submitting (for callers that batch several runs or
    /// time them their own way); the outputs are valid once `rec` has been submitted.
    pub fn encode(&self, rec: &mut Recorder, inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
        self.record(rec, inputs, None)
    }

    /// Runs with per-dispatch timing; each record's `covers` names the graph ops it computes.
    pub fn run_profiled(&self, inputs: &[&Tensor]) -> Result<(Vec<Tensor>, RunProfile)> {
        #[cfg(not(target_arch = "wasm32"))]
        {
            crate::wait::block_on(self.run_profiled_async(inputs))
        }
        #[cfg(target_arch = "wasm32")]
        {
            let mut rec = Recorder::new(&self.device);
            let outs = self.record(&mut rec, inputs, None)?;
            let profile = rec
                .submit(true)?
                .ok_or_else(|| Error::invalid("run_profiled", "recorder returned no profile"))?;
            Ok((outs, profile))
        }
    }

    fn check_inputs(&self, inputs: &[&Tensor]) -> Result<()> {
        if inputs.len() != self.inputs.len() {
            return Err(Error::invalid(
                "run",
                format!(
                    "the graph takes {} inputs, {} given",
                    self.inputs.len(),
                    inputs.len()
                ),
            ));
        }
        for (t, v) in inputs.iter().zip(&self.inputs) {
            let node = self.graph.node(*v);
            if t.shape() != node.shape.as_slice() || t.dtype() != node.dtype {
                return Err(Error::shape(
                    "run",
                    format!(
                        "input `{}` expects {:?} {}, got {:?} {}",
                        node.label,
                        node.shape,
                        node.dtype,
                        t.shape(),
                        t.dtype()
                    ),
                ));
            }
            if !t.device().same(&self.device) {
                return Err(Error::DeviceMismatch { op: "run" });
            }
        }
        Ok(())
    }

    fn record(
        &self,
        rec: &mut Recorder,
        inputs: &[&Tensor],
        mut names: Option<&mut Vec<Vec<String>>>,
    ) -> Result<Vec<Tensor>> {
        self.check_inputs(inputs)?;
        let mut vals = self.constants.clone();
        for (t, v) in inputs.iter().zip(&self.inputs) {
            vals[v.0] = Some((*t).clone());
        }
        for (si, step) in self.steps.iter().enumerate() {
            let start = rec.len();
            let out = {
                let ins: Vec<&Tensor> = tensor_inputs(step)
                    .iter()
                    .map(|v| {
                        vals[v.0].as_ref().ok_or_else(|| {
                            Error::invalid(
                                "graph",
                                format!(
                                    "value {} read after it was freed",
                                    self.graph.node(*v).label
                                ),
                            )
                        })
                    })
                    .collect::<Result<_>>()?;
                let (natural, planned) = (self.plan.step_bytes[si], self.plan.step_class[si]);
                let upgrade = self.plan.enabled && planned > natural;
                let pool = &self.device.inner.pool;
                if upgrade {
                    pool.set_upgrade(Some((natural, planned)));
                }
                let in_place = self.plan.in_place.get(si).copied().flatten();
                let out = self.encode_step(rec, step, &ins, &self.step_consts[si], in_place);
                if upgrade {
                    pool.set_upgrade(None);
                }
                out?
            };
            if rec.len() > start {
                let covers = step
                    .covers
                    .iter()
                    .map(|&c| self.graph.nodes()[c].label.clone())
                    .collect();
                rec.set_covers(covers);
            }
            if let Some(n) = names.as_deref_mut() {
                n.push(
                    rec.dispatches()[start..]
                        .iter()
                        .map(|d| d.kernel.clone())
                        .collect(),
                );
            }
            if let Kernel::MatMulStack { .. } = &step.kernel {
                let rest = out.shape()[1..].to_vec();
                for (p, v) in std::iter::once(&step.output)
                    .chain(&step.extra_outputs)
                    .enumerate()
                {
                    vals[v.0] = Some(out.narrow(0, p, 1)?.reshape_view(&rest)?);
                }
            } else {
                vals[step.output.0] = Some(out);
            }
            for v in &self.plan.free_after[si] {
                vals[v.0] = None;
            }
        }
        self.graph
            .outputs()
            .iter()
            .map(|o| {
                vals[o.0]
                    .clone()
                    .ok_or_else(|| Error::invalid("graph", "an output was not computed"))
            })
            .collect()
    }

    fn encode_step(
        &self,
        rec: &mut Recorder,
        step: &Step,
        ins: &[&Tensor],
        consts: &[Tensor],
        in_place: Option<usize>,
    ) -> Result<Tensor> {
        let out_node = self.graph.node(step.output);
        match &step.kernel {
            Kernel::Elementwise(expr) => match in_place {
                Some(k) => crate::ops::elementwise::encode_fused_in_place(rec, ins, expr, k),
                None => encode_fused(rec, ins, expr),
            },
            Kernel::View(op) => view(rec, ins[0], op, &out_node.shape),
            Kernel::Copy(op) => {
                let copies =
                    matches!(op, Op::Reshape) && ins[0].reshape_view(&out_node.shape).is_err();
                let v = view(rec, ins[0], op, &out_node.shape)?;
                if copies {
                    return Ok(v); // `view` already copied the strided input
                }
                // A reshape of a contiguous input is already a view: copy it anyway so the
                // unfused path materialises every layout op, as an op-by-op runtime would.
                copy(rec, &v)
            }
            Kernel::MatMul {
                alpha,
                bias,
                activation,
                residual,
            } => {
                use crate::ops::matmul::{encode_matmul, Epilogue};
                let mut rest = ins[2..].iter();
                let bias = if *bias { rest.next().copied() } else { None };
                let residual = if *residual {
                    rest.next().copied()
                } else {
                    None
                };
                let epi = Epilogue {
                    alpha: *alpha,
                    bias,
                    activation: *activation,
                    residual,
                };
                encode_matmul(rec, ins[0], ins[1], &epi, None)
            }
            Kernel::Conv2d { attrs, activation } => {
                use crate::ops::conv::{encode_conv2d, encode_conv2d_prepacked};
                let x = contiguous(rec, ins[0])?;
                let w = contiguous(rec, ins[1])?;
                let b = ins.get(2).map(|b| contiguous(rec, b)).transpose()?;
                let p = conv_params(attrs, *activation);
                match consts.first() {
                    Some(packed) => encode_conv2d_prepacked(rec, &x, &w, packed, b.as_ref(), &p),
                    None => encode_conv2d(rec, &x, &w, b.as_ref(), &p),
                }
            }
            Kernel::Reduce { .. }
            | Kernel::ReduceFused(_)
            | Kernel::SoftmaxPrologue { .. }
            | Kernel::Softmax { .. }
            | Kernel::LayerNorm { .. }
            | Kernel::RmsNorm { .. } => encode_rowwise(rec, &step.kernel, ins),
            Kernel::Single(op) => encode_single(rec, op, ins, &out_node.shape),
            Kernel::MaskedAttention { .. } | Kernel::Attention { .. } => {
                encode_attention_step(rec, &step.kernel, ins)
            }
            Kernel::MatMulStack {
                alpha, activation, ..
            } => {
                use crate::ops::matmul::{encode_matmul, Epilogue};
                let mut lead = vec![1];
                lead.extend_from_slice(ins[0].shape());
                let a = ins[0].reshape_view(&lead)?;
                let epi = Epilogue {
                    alpha: *alpha,
                    bias: None,
                    activation: *activation,
                    residual: consts.get(1),
                };
                encode_matmul(rec, &a, &consts[0], &epi, None)
            }
        }
    }

    /// A human-readable plan: every step with its kernels, the graph ops it fused, its
    /// output buffer, the dispatch count and the peak intermediate memory.
    pub fn explain(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "EXPLAIN: {} graph nodes -> {} steps, {} dispatches per run (fusion {}, memory planning {})",
            self.graph.nodes().len(),
            self.steps.len(),
            self.dispatch_count(),
            if self.options.fusion { "on" } else { "off" },
            if self.options.memory_planning { "on" } else { "off" },
        );
        for (i, step) in self.steps.iter().enumerate() {
            let node = self.graph.node(step.output);
            let covers: Vec<&str> = step
                .covers
                .iter()
                .map(|&c| self.graph.nodes()[c].label.as_str())
                .collect();
            let kernels = self
                .step_kernels
                .get(i)
                .map(|k| {
                    if k.is_empty() {
                        "(no dispatch)".to_string()
                    } else {
                        k.join(" + ")
                    }
                })
                .unwrap_or_default();
            let buf = match self.plan.step_buffer[i] {
                Some(b) if self.plan.in_place.get(i).is_some_and(Option::is_some) => {
                    format!("in-place @buf{b}")
                }
                None => "view".to_string(),
                Some(b) if self.options.memory_planning => {
                    format!("{} @buf{b}", human(self.plan.step_bytes[i]))
                }
                Some(_) => human(self.plan.step_bytes[i]),
            };
            let _ = writeln!(
                s,
                "  [{i:>3}] {:<34} {:<28} -> {:?} {buf:>17}  covers {}",
                step.kernel.describe(),
                kernels,
                node.shape,
                covers.join(", ")
            );
        }
        let _ = writeln!(
            s,
            "  intermediate+output peak: {} planned in {} buffers, {} unplanned ({:.0}%); constants {}; inputs {}",
            human(self.plan.peak_planned),
            self.plan.buffers.len(),
            human(self.plan.peak_unplanned),
            100.0 * self.plan.peak_planned as f64 / self.plan.peak_unplanned.max(1) as f64,
            human(self.constant_bytes()),
            human(
                self.inputs
                    .iter()
                    .map(|v| (numel(self.graph.shape(*v)) * 4) as u64)
                    .sum()
            ),
        );
        s
    }
}
/// Records a row-wise kernel (a reduction, fused or not, a softmax or a norm) over `ins`.
fn encode_rowwise(rec: &mut Recorder, kernel: &Kernel, ins: &[&Tensor]) -> Result<Tensor> {
    match kernel {
        Kernel::Reduce {
            kind,
            axes,
            keepdims,
        } => {
            use crate::graph::ReduceKind;
            use crate::ops::reduce::{encode_reduce, ReduceOp};
            let op = match kind {
                ReduceKind::Sum => ReduceOp::Sum,
                ReduceKind::Mean => ReduceOp::Mean,
                ReduceKind::Max => ReduceOp::Max,
                ReduceKind::Min => ReduceOp::Min,
            };
            let x = contiguous(rec, ins[0])?;
            let axes: Vec<isize> = axes.iter().map(|&a| a as isize).collect();
            encode_reduce(rec, &x, op, Some(&axes), *keepdims)
        }
        Kernel::ReduceFused(spec) => crate::ops::reduce_fused::encode_reduce_fused(
            rec,
            ins,
            spec,
            crate::ops::reduce::Strategy::Auto,
        ),
        Kernel::SoftmaxPrologue {
            axis,
            log,
            scale,
            mask,
        } => {
            let x = contiguous(rec, ins[0])?;
            let m = if *mask { ins.get(1).copied() } else { None };
            crate::ops::norm::encode_softmax_prologue(
                rec,
                &x,
                *scale,
                m,
                *axis as isize,
                *log,
                crate::ops::reduce::Strategy::Auto,
            )
        }
        Kernel::Softmax { axis, log } => {
            let x = contiguous(rec, ins[0])?;
            crate::ops::norm::encode_softmax(rec, &x, *axis as isize, *log)
        }
        Kernel::LayerNorm { norm_dims, eps } => {
            let x = contiguous(rec, ins[0])?;
            let p: Vec<Tensor> = ins[1..]
                .iter()
                .map(|t| contiguous(rec, t))
                .collect::<Result<_>>()?;
            crate::ops::norm::encode_layer_norm(rec, &x, *norm_dims, p.first(), p.get(1), *eps)
        }
        Kernel::RmsNorm { norm_dims, eps } => {
            let x = contiguous(rec, ins[0])?;
            let p: Vec<Tensor> = ins[1..]
                .iter()
                .map(|t| contiguous(rec, t))
                .collect::<Result<_>>()?;
            crate::ops::norm::encode_rms_norm(rec, &x, *norm_dims, p.first(), *eps)
        }
        _ => unreachable!("not a row-wise kernel"),
    }
}

/// Records an attention kernel (masked or not) over `ins`: q, k, v[, mask].
fn encode_attention_step(rec: &mut Recorder, kernel: &Kernel, ins: &[&Tensor]) -> Result<Tensor> {
    use crate::ops::attention::{
        encode_attention, encode_attention_heads_last, AttentionMask, AttentionParams,
    };
    // The kernel reads strided rows (head_dim dense): head-split views need no copy.
    let q = dense_rows(rec, ins[0])?;
    let k = dense_rows(rec, ins[1])?;
    let v = dense_rows(rec, ins[2])?;
    match kernel {
        Kernel::MaskedAttention { scale } => {
            let p = AttentionParams {
                scale: Some(*scale),
                mask: Some(AttentionMask::Additive(ins[3].clone())),
                ..Default::default()
            };
            encode_attention(rec, &q, &k, &v, &p)
        }
        Kernel::Attention {
            causal,
            scale,
            heads_last,
        } => {
            let p = AttentionParams {
                causal: *causal,
                scale: *scale,
                ..Default::default()
            };
            if *heads_last {
                encode_attention_heads_last(rec, &q, &k, &v, &p)?.transpose(1, 2)
            } else {
                encode_attention(rec, &q, &k, &v, &p)
            }
        }
        _ => unreachable!("not an attention kernel"),
    }
}

/// The ops of the ONNX-import block, one kernel each (inputs made contiguous where the kernel
/// needs it).
fn encode_single(rec: &mut Recorder, op: &Op, ins: &[&Tensor], shape: &[usize]) -> Result<Tensor> {
    use crate::ops::{conv, gather, pool, resize};
    match op {
        Op::Gather { axis } => gather::encode_gather(rec, ins[0], ins[1], *axis),
        Op::Concat { axis } => gather::encode_concat(rec, ins, *axis),
        Op::Slice { starts, steps } => gather::encode_slice(rec, ins[0], starts, steps, shape),
        Op::Pad { begin, end, mode } => gather::encode_pad(rec, ins[0], begin, end, *mode),
        Op::Pool2d(p) => {
            let x = contiguous(rec, ins[0])?;
            pool::encode_pool2d(rec, &x, p)
        }
        Op::GlobalAvgPool => {
            let x = contiguous(rec, ins[0])?;
            pool::encode_global_avg_pool(rec, &x)
        }
        Op::ConvTranspose2d(p) => {
            let x = contiguous(rec, ins[0])?;
            let w = contiguous(rec, ins[1])?;
            let b = ins.get(2).map(|b| contiguous(rec, b)).transpose()?;
            conv::encode_conv_transpose2d(rec, &x, &w, b.as_ref(), p)
        }
        Op::Resize2d { size, mode } => {
            let x = contiguous(rec, ins[0])?;
            resize::encode_resize2d(rec, &x, *size, *mode)
        }
        // Training ops (autodiff).
        Op::Conv2dBackwardInput(a) => {
            crate::ops::conv_backward::encode_conv2d_backward_input(rec, ins[0], ins[1], shape, a)
        }
        Op::Conv2dBackwardWeight(a) => {
            crate::ops::conv_backward::encode_conv2d_backward_weight(rec, ins[0], ins[1], shape, a)
        }
        Op::Pool2dBackward(p) => {
            crate::ops::conv_backward::encode_pool2d_backward(rec, ins[0], ins[1], p)
        }
        other => Err(Error::invalid(
            "graph",
            format!("{} has no single-kernel lowering", other.name()),
        )),
    }
}

fn human(b: u64) -> String {
    if b >= 1 << 20 {
        format!("{:.2} MiB", b as f64 / (1u64 << 20) as f64)
    } else if b >= 1 << 10 {
        format!("{:.1} KiB", b as f64 / 1024.0)
    } else {
        format!("{b} B")
    }
}
