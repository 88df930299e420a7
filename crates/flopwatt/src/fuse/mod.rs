//! Fusion: rewrites a [`Graph`] into [`Step`]s, each one kernel launch (or a view).
//!
//! Each pattern is a small fuser in its own module that claims graph nodes; whatever no fuser
//! claims is lowered one op per step (the unfused path, also used when fusion is off), so
//! every fused pattern has an unfused twin that computes the same thing:
//! - [`attention`]: matmul(q, kᵀ) -> \[scale\] -> \[+ mask\] -> softmax(-1) -> matmul(·, v) -> one
//!   attention kernel;
//! - [`epilogue`]: matmul -> [* scalar] -> [+ bias\[N\]] -> \[activation\] -> [+ residual] and
//!   conv2d -> \[activation\] -> the kernel's epilogue slot;
//! - [`elementwise`]: chains and trees of elementwise ops (with broadcasting) -> one generated
//!   kernel;
//! - [`prologue`]: softmax(x * s + mask) -> the softmax kernel's prologue;
//! - [`reduction`]: elementwise trees feeding a reduction (`sum(x * x)`) and row-wise
//!   consumers of a reduction (`x - mean(x)`) -> one fused reduction kernel;
//! - [`horizontal`]: matmuls sharing A (q/k/v projections) -> one batched product over
//!   weights stacked at compile time (GPUs; see [`horizontal_for`]);
//! - layout ops (transpose, reshape, broadcast) become strided views read by the consumer
//!   (with fusion off they are materialised by a copy kernel).

pub mod attention;
pub mod elementwise;
pub mod epilogue;
pub mod horizontal;
pub mod prologue;
pub mod reduction;

use crate::graph::{Conv2dAttrs, Graph, Op, ReduceKind, ValueId};
use crate::ops::elementwise::Expr;
use crate::ops::Activation;
use crate::tensor::{broadcast_strides, contiguous_strides, reshape_strides};

/// What one step launches.
#[derive(Clone, Debug, PartialEq)]
pub enum Kernel {
    /// One generated elementwise kernel; inputs are `Expr::Input(i)` in order.
    Elementwise(Expr),
    /// matmul with epilogue; inputs a, b, then bias and residual when present.
    MatMul {
        /// Scale of the product.
        alpha: f32,
        /// Whether a bias input follows a and b.
        bias: bool,
        /// Activation after scale and bias.
        activation: Activation,
        /// Whether a residual input comes last.
        residual: bool,
    },
    /// Reduction; input x.
    Reduce {
        /// Which.
        kind: ReduceKind,
        /// Axes.
        axes: Vec<usize>,
        /// Keep dims.
        keepdims: bool,
    },
    /// Softmax; input x.
    Softmax {
        /// Axis.
        axis: usize,
        /// Log-softmax.
        log: bool,
    },
    /// Layer norm; inputs x[, gamma[, beta]].
    LayerNorm {
        /// Trailing dims normalised.
        norm_dims: usize,
        /// Epsilon.
        eps: f32,
    },
    /// RMS norm; inputs x[, gamma].
    RmsNorm {
        /// Trailing dims normalised.
        norm_dims: usize,
        /// Epsilon.
        eps: f32,
    },
    /// conv2d with activation; inputs x, w[, bias].
    Conv2d {
        /// Attributes.
        attrs: Conv2dAttrs,
        /// Activation in the epilogue slot.
        activation: Activation,
    },
    /// Fused attention; inputs q, k, v.
    Attention {
        /// Causal.
        causal: bool,
        /// Scale (None: 1/sqrt(d)).
        scale: Option<f32>,
        /// The step's value is `transpose(attention, 1, 2)`: the kernel stores rows
        /// heads-last, so the head merge that follows is a view, not a copy.
        heads_last: bool,
    },
    /// A layout op as a view of its input (no dispatch unless a reshape needs a copy).
    View(Op),
    /// A layout op materialised by a copy kernel (the unfused path of layout folding).
    Copy(Op),
    /// `softmax(x * scale + mask)` in the softmax kernel; inputs x[, mask].
    SoftmaxPrologue {
        /// Axis.
        axis: usize,
        /// Log-softmax.
        log: bool,
        /// Scale applied first (1.0: none).
        scale: f32,
        /// Whether a mask input follows x.
        mask: bool,
    },
    /// Several matmuls that read one A and have B of one shape, as one batched product
    /// over their B stacked at compile time ([P, K, N]; A broadcast over P). Each output is
    /// one slice of the product's leading axis (a view). Inputs: a, then every b, then every
    /// bias when `bias` (stacked into a [P, 1, N] residual: only without an activation).
    MatMulStack {
        /// Scale of the products.
        alpha: f32,
        /// Whether biases follow the b inputs (one per product).
        bias: bool,
        /// Activation after the scale (never with `bias`).
        activation: Activation,
        /// Number of products (`Step::output` then `Step::extra_outputs`).
        parts: usize,
    },
    /// An op of the ONNX-import block (gather, concat, slice, pad, pooling, conv-transpose,
    /// resize) run as its own kernel(s); inputs are the node's.
    Single(Op),
    /// Fused attention with an additive f32 mask; inputs q, k, v, mask.
    MaskedAttention {
        /// Scale of the scores (before the mask is added).
        scale: f32,
    },
    /// A reduction with a generated elementwise prologue and/or row epilogue
    /// ([`reduction`]); inputs are the trees' leaves.
    ReduceFused(crate::ops::reduce_fused::FusedReduce),
}

impl Kernel {
    /// Short description for EXPLAIN.
    pub fn describe(&self) -> String {
        match self {
            Kernel::Elementwise(e) => format!("elementwise[{} ops]", e.op_count()),
            Kernel::MatMul {
                alpha,
                bias,
                activation,
                residual,
            } => {
                let mut parts = vec![];
                if *alpha != 1.0 {
                    parts.push(format!("alpha={alpha}"));
                }
                if *bias {
                    parts.push("bias".into());
                }
                if *activation != Activation::None {
                    parts.push(format!("{activation:?}").to_lowercase());
                }
                if *residual {
                    parts.push("residual".into());
                }
                if parts.is_empty() {
                    "matmul".into()
                } else {
                    format!("matmul+epilogue({})", parts.join(","))
                }
            }
            Kernel::Reduce { kind, .. } => format!("reduce.{kind:?}").to_lowercase(),
            Kernel::Softmax { log, .. } => (if *log { "log_softmax" } else { "softmax" }).into(),
            Kernel::LayerNorm { .. } => "layer_norm".into(),
            Kernel::RmsNorm { .. } => "rms_norm".into(),
            Kernel::Conv2d { activation, .. } => {
                if *activation == Activation::None {
                    "conv2d".into()
                } else {
                    format!("conv2d+{activation:?}").to_lowercase()
                }
            }
            Kernel::Attention {
                causal, heads_last, ..
            } => format!(
                "attention{}{}",
                if *causal { "(causal)" } else { "" },
                if *heads_last { "+merge_heads" } else { "" }
            ),
            Kernel::SoftmaxPrologue {
                log, scale, mask, ..
            } => {
                let mut parts = vec![];
                if *scale != 1.0 {
                    parts.push(format!("scale={scale}"));
                }
                if *mask {
                    parts.push("mask".to_string());
                }
                format!(
                    "{}+prologue({})",
                    if *log { "log_softmax" } else { "softmax" },
                    parts.join(",")
                )
            }
            Kernel::MatMulStack {
                parts,
                bias,
                activation,
                ..
            } => {
                let mut s = format!("matmul x{parts} stacked");
                if *bias {
                    s += "+bias";
                }
                if *activation != Activation::None {
                    s += &format!("+{activation:?}").to_lowercase();
                }
                s
            }
            Kernel::View(op) => format!("view({})", op.name()),
            Kernel::Copy(op) => format!("copy({})", op.name()),
            Kernel::Single(op) => op.name().into(),
            Kernel::MaskedAttention { .. } => "attention(mask)".into(),
            Kernel::ReduceFused(f) => {
                let mut s = format!("reduce.{}", f.op.name());
                let pre = f.pre.op_count();
                if pre > 0 {
                    s += &format!("+prologue[{pre} ops]");
                }
                if let Some(post) = &f.post {
                    s += &format!("+epilogue[{} ops]", post.op_count());
                }
                s
            }
        }
    }
}

/// One step of an executable: a kernel, its input values, the value it defines, and the
/// graph nodes it covers (for EXPLAIN and profiles).
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    /// What runs.
    pub kernel: Kernel,
    /// Input values in kernel order.
    pub inputs: Vec<ValueId>,
    /// The value it defines.
    pub output: ValueId,
    /// Graph nodes (ids) it covers, in topological order.
    pub covers: Vec<usize>,
    /// Further values the step defines (views of its one buffer), e.g. the column slices of
    /// [`Kernel::MatMulStack`]; empty for most steps.
    pub extra_outputs: Vec<ValueId>,
}

/// Per-node facts the fusers share.
pub struct Ctx<'g> {
    /// The graph.
    pub graph: &'g Graph,
    /// Uses of each value (consumers plus outputs).
    pub uses: Vec<usize>,
    /// Consumer nodes of each value.
    pub consumers: Vec<Vec<usize>>,
    /// Whether a node is a graph output.
    pub is_output: Vec<bool>,
    /// Nodes already claimed by a fused step (not materialised on their own).
    pub claimed: Vec<bool>,
}

impl<'g> Ctx<'g> {
    fn new(graph: &'g Graph) -> Self {
        let n = graph.nodes().len();
        let mut consumers = vec![Vec::new(); n];
        for (i, node) in graph.nodes().iter().enumerate() {
            for v in &node.inputs {
                if !consumers[v.0].contains(&i) {
                    consumers[v.0].push(i);
                }
            }
        }
        let mut is_output = vec![false; n];
        for o in graph.outputs() {
            is_output[o.0] = true;
        }
        Ctx {
            graph,
            uses: graph.use_counts(),
            consumers,
            is_output,
            claimed: vec![false; n],
        }
    }

    /// The only consumer of `v` when `v` is used exactly once and is not an output, and
    /// neither is claimed by a step yet: the condition for folding `v` into its consumer
    /// without recomputation, a lost value, or two steps defining one value.
    pub fn sole_consumer(&self, v: usize) -> Option<usize> {
        (self.uses[v] == 1 && !self.is_output[v] && !self.claimed[v])
            .then(|| self.consumers[v].first().copied())
            .flatten()
            .filter(|&c| !self.claimed[c])
    }

    /// The scalar value of node `v`, if it is a scalar constant.
    pub fn scalar(&self, v: ValueId) -> Option<f32> {
        match self.graph.node(v).op {
            Op::Scalar(s) => Some(s),
            _ => None,
        }
    }
}

/// Options for [`lower`].
#[derive(Clone, Copy, Debug)]
pub struct FuseOptions {
    /// Run the fusers (else one step per op).
    pub fusion: bool,
    /// Run the horizontal (stacked matmul) fuser too; the executable chooses it per adapter
    /// class (see [`horizontal_for`]).
    pub horizontal: bool,
}

/// Whether stacked matmuls pay on `class`: on GPUs one larger product fills the device
/// better than several small ones; on CPU adapters (lavapipe) the stacked product measured
/// slower than the separate ones (examples/block_profile.rs, examples/mm_probe.rs), so the
/// fuser stays off there.
pub fn horizontal_for(class: crate::device::AdapterClass) -> bool {
    class == crate::device::AdapterClass::Gpu
}

/// Lowers a graph to steps in a valid execution order.
pub fn lower(graph: &Graph, opts: FuseOptions) -> Vec<Step> {
    let n = graph.nodes().len();
    let mut ctx = Ctx::new(graph);
    // Steps keyed by the node whose value they define (their root); emitted in node order.
    let mut slots: Vec<Option<Step>> = vec![None; n];
    let put = |slots: &mut Vec<Option<Step>>, s: Step| {
        let r = s.output.0;
        slots[r] = Some(s);
    };
    if opts.fusion && attention::KERNEL_AVAILABLE {
        for s in attention::fuse(&mut ctx) {
            put(&mut slots, s);
        }
    }
    if opts.fusion {
        for s in epilogue::fuse(&mut ctx) {
            put(&mut slots, s);
        }
    }
    if opts.fusion {
        for s in reduction::fuse(&mut ctx) {
            put(&mut slots, s);
        }
    }
    if opts.fusion {
        for s in prologue::fuse(&mut ctx) {
            put(&mut slots, s);
        }
    }
    for s in elementwise::fuse(&mut ctx, opts.fusion) {
        put(&mut slots, s);
    }
    for (i, node) in graph.nodes().iter().enumerate() {
        if slots[i].is_some() || ctx.claimed[i] {
            continue;
        }
        let Some(kernel) = single_kernel(&node.op, opts.fusion) else {
            continue;
        };
        slots[i] = Some(Step {
            kernel,
            inputs: node.inputs.clone(),
            output: ValueId(i),
            covers: vec![i],
            extra_outputs: vec![],
        });
    }
    if opts.fusion && opts.horizontal {
        horizontal::fuse(graph, &mut slots);
    }
    view_or_copy(graph, slots, opts.fusion)
}

/// The kernel of a node no fuser claimed, or `None` for nodes that need none (inputs and
/// constants).
fn single_kernel(op: &Op, fusion: bool) -> Option<Kernel> {
    Some(match op {
        Op::Input { .. } | Op::Constant { .. } | Op::Scalar(_) => return None,
        Op::Unary(_) | Op::Binary(_) | Op::Where => {
            unreachable!("elementwise fuser lowers every elementwise node")
        }
        Op::MatMul => Kernel::MatMul {
            alpha: 1.0,
            bias: false,
            activation: Activation::None,
            residual: false,
        },
        Op::Reduce {
            kind,
            axes,
            keepdims,
        } => Kernel::Reduce {
            kind: *kind,
            axes: axes.clone(),
            keepdims: *keepdims,
        },
        Op::Softmax { axis, log } => Kernel::Softmax {
            axis: *axis,
            log: *log,
        },
        Op::LayerNorm { norm_dims, eps } => Kernel::LayerNorm {
            norm_dims: *norm_dims,
            eps: *eps,
        },
        Op::RmsNorm { norm_dims, eps } => Kernel::RmsNorm {
            norm_dims: *norm_dims,
            eps: *eps,
        },
        Op::Conv2d(attrs) => Kernel::Conv2d {
            attrs: *attrs,
            activation: Activation::None,
        },
        Op::Attention { causal, scale } => Kernel::Attention {
            causal: *causal,
            scale: *scale,
            heads_last: false,
        },
        // ONNX-import ops (keep this block last).
        Op::ConstantI32 { .. } => return None,
        op @ Op::Slice { .. } if slice_is_view(op, fusion) => Kernel::View(op.clone()),
        Op::Cast(_) => unreachable!("elementwise fuser lowers every elementwise node"),
        op @ (Op::Gather { .. }
        | Op::Concat { .. }
        | Op::Slice { .. }
        | Op::Pad { .. }
        | Op::Pool2d(_)
        | Op::GlobalAvgPool
        | Op::ConvTranspose2d(_)
        | Op::Resize2d { .. }
        | Op::Conv2dBackwardInput(_)
        | Op::Conv2dBackwardWeight(_)
        | Op::Pool2dBackward(_)) => Kernel::Single(op.clone()),
        // View or copy is decided in `view_or_copy`, once the input's layout is known.
        op @ (Op::Transpose(..) | Op::Reshape | Op::BroadcastTo) => Kernel::View(op.clone()),
    })
}

/// The steps in node order, each layout view that cannot be one (or any view without
/// fusion) turned into a copy.
fn view_or_copy(graph: &Graph, mut slots: Vec<Option<Step>>, fusion: bool) -> Vec<Step> {
    // Static strides of each value, to tell a reshape that is a view from one that needs a
    // copy (the executable applies the same rule at run time).
    let mut strides: Vec<Vec<usize>> = graph
        .nodes()
        .iter()
        .map(|nd| contiguous_strides(&nd.shape))
        .collect();
    let mut steps = Vec::new();
    for slot in slots.iter_mut() {
        let Some(mut step) = slot.take() else {
            continue;
        };
        let out = step.output.0;
        let shape = &graph.nodes()[out].shape;
        match &step.kernel {
            Kernel::View(op) => {
                let x = step.inputs[0].0;
                let xs = graph.shape(step.inputs[0]);
                let view = match op {
                    Op::Transpose(a, b) => {
                        let mut st = strides[x].clone();
                        st.swap(*a, *b);
                        Some(st)
                    }
                    Op::Reshape => reshape_strides(xs, &strides[x], shape),
                    Op::BroadcastTo => broadcast_strides(xs, &strides[x], shape),
                    Op::Slice { steps, .. } => Some(
                        strides[x]
                            .iter()
                            .zip(steps)
                            .map(|(&st, &k)| st * k as usize)
                            .collect(),
                    ),
                    _ => None,
                };
                match view {
                    Some(st) if fusion => strides[out] = st,
                    _ => step.kernel = Kernel::Copy(op.clone()),
                }
            }
            Kernel::Attention {
                heads_last: true, ..
            } => {
                // Stored [b, l, h, d]; the step's value is its transpose: dense.
            }
            Kernel::MatMulStack { .. } => {
                // Each output is a dense slice of the stacked product.
            }
            _ => {}
        }
        steps.push(step);
    }
    steps
}

/// A slice with positive steps is a strided view of its input when fusion is on (no copy);
/// otherwise (or with a negative step, which strides cannot express) a copy kernel.
fn slice_is_view(op: &Op, fusion: bool) -> bool {
    fusion && matches!(op, Op::Slice { steps, .. } if steps.iter().all(|&s| s > 0))
}
