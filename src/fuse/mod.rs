//! Fusion: rewrites a [`Graph`] into [`Step`]s, each one kernel launch (or a view).
//!
//! Each pattern is a small fuser in its own module that claims graph nodes; whatever no fuser
//! claims is lowered one op per step (the unfused path, also used when fusion is off), so
//! every fused pattern has an unfused twin that computes the same thing:
//! - [`attention`]: matmul(q, kᵀ) -> \[scale\] -> \[+ mask\] -> softmax(-1) -> matmul(·, v) -> one
//!   attention kernel;
//! - [`epilogue`]: matmul -> [* scalar] -> [+ bias\[N\]] -> [activation] -> [+ residual] and
//!   conv2d -> [activation] -> the kernel's epilogue slot;
//! - [`elementwise`]: chains and trees of elementwise ops (with broadcasting) -> one generated
//!   kernel;
//! - layout ops (transpose, reshape, broadcast) become strided views read by the consumer
//!   (with fusion off they are materialised by a copy kernel).
//!
//! Reduction prologues (e.g. softmax(x * s + mask)) are not fused into the reduction kernel:
//! the softmax kernel has no prologue slot. The prologue becomes one fused elementwise kernel.

pub mod attention;
pub mod elementwise;
pub mod epilogue;

use crate::graph::{Conv2dAttrs, Graph, Op, ReduceKind, ValueId};
use crate::ops::elementwise::Expr;
use crate::ops::Activation;

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
    },
    /// A layout op as a view of its input (no dispatch unless a reshape needs a copy).
    View(Op),
    /// A layout op materialised by a copy kernel (the unfused path of layout folding).
    Copy(Op),
    /// An op of the ONNX-import block (gather, concat, slice, pad, pooling, conv-transpose,
    /// resize) run as its own kernel(s); inputs are the node's.
    Single(Op),
    /// Fused attention with an additive f32 mask; inputs q, k, v, mask.
    MaskedAttention {
        /// Scale of the scores (before the mask is added).
        scale: f32,
    },
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
            Kernel::Attention { causal, .. } => {
                format!("attention{}", if *causal { "(causal)" } else { "" })
            }
            Kernel::View(op) => format!("view({})", op.name()),
            Kernel::Copy(op) => format!("copy({})", op.name()),
            Kernel::Single(op) => op.name().into(),
            Kernel::MaskedAttention { .. } => "attention(mask)".into(),
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

    /// The only consumer of `v` when `v` is used exactly once and is not an output: the
    /// condition for folding `v` into its consumer without recomputation or a lost value.
    pub fn sole_consumer(&self, v: usize) -> Option<usize> {
        (self.uses[v] == 1 && !self.is_output[v] && !self.claimed[v])
            .then(|| self.consumers[v].first().copied())
            .flatten()
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
}

/// Lowers a graph to steps in a valid execution order.
pub fn lower(graph: &Graph, opts: FuseOptions) -> Vec<Step> {
    let mut ctx = Ctx::new(graph);
    // Fused steps, keyed by the node whose value they define (their root).
    let mut fused: Vec<Option<Step>> = vec![None; graph.nodes().len()];
    if opts.fusion && attention::KERNEL_AVAILABLE {
        for s in attention::fuse(&mut ctx) {
            let r = s.output.0;
            fused[r] = Some(s);
        }
    }
    if opts.fusion {
        for s in epilogue::fuse(&mut ctx) {
            let r = s.output.0;
            fused[r] = Some(s);
        }
    }
    for s in elementwise::fuse(&mut ctx, opts.fusion) {
        let r = s.output.0;
        fused[r] = Some(s);
    }
    // Static contiguity of each value: kernel outputs, inputs and constants are dense; a
    // transpose or a real broadcast is a strided view, and a reshape of one needs a copy.
    let mut contiguous = vec![true; graph.nodes().len()];
    for (i, node) in graph.nodes().iter().enumerate() {
        contiguous[i] = match node.op {
            Op::Transpose(a, b) => contiguous[node.inputs[0].0] && a == b,
            Op::BroadcastTo => {
                contiguous[node.inputs[0].0] && graph.shape(node.inputs[0]) == node.shape
            }
            Op::Slice { .. } => !slice_is_view(&node.op, opts.fusion),
            _ => true,
        };
    }
    let mut steps = Vec::new();
    for (i, node) in graph.nodes().iter().enumerate() {
        if let Some(s) = fused[i].take() {
            steps.push(s);
            continue;
        }
        if ctx.claimed[i] {
            continue;
        }
        let kernel = match &node.op {
            Op::Input { .. } | Op::Constant { .. } | Op::Scalar(_) => continue,
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
            },
            op @ (Op::Transpose(..) | Op::Reshape | Op::BroadcastTo) => {
                let strided_reshape = matches!(op, Op::Reshape) && !contiguous[node.inputs[0].0];
                if opts.fusion && !strided_reshape {
                    Kernel::View(op.clone())
                } else {
                    Kernel::Copy(op.clone())
                }
            }
            // ONNX-import ops (keep this block last).
            Op::ConstantI32 { .. } => continue,
            op @ Op::Slice { .. } if slice_is_view(op, opts.fusion) => Kernel::View(op.clone()),
            Op::Cast(_) => unreachable!("elementwise fuser lowers every elementwise node"),
            op @ (Op::Gather { .. }
            | Op::Concat { .. }
            | Op::Slice { .. }
            | Op::Pad { .. }
            | Op::Pool2d(_)
            | Op::GlobalAvgPool
            | Op::ConvTranspose2d(_)
            | Op::Resize2d { .. }) => Kernel::Single(op.clone()),
        };
        steps.push(Step {
            kernel,
            inputs: node.inputs.clone(),
            output: ValueId(i),
            covers: vec![i],
        });
    }
    steps
}

/// A slice with positive steps is a strided view of its input when fusion is on (no copy);
/// otherwise (or with a negative step, which strides cannot express) a copy kernel.
fn slice_is_view(op: &Op, fusion: bool) -> bool {
    fusion && matches!(op, Op::Slice { steps, .. } if steps.iter().all(|&s| s > 0))
}
