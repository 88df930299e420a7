//! The graph: ops, shapes and dtypes as pure data (no wgpu, no device).
//!
//! Build a [`Graph`] with its builder methods (each infers the output shape and dtype and
//! returns a typed error naming the op and the shapes), mark outputs, then
//! compile it with the runtime (`flopwatt`) for a device.
//!
//! ```no_run
//! # fn main() -> flopwatt_ir::Result<()> {
//! use flopwatt_ir::Graph;
//! let mut g = Graph::new();
//! let x = g.input("x", &[4, 8])?;
//! let w = g.constant("w", vec![0.5; 8 * 3], &[8, 3])?;
//! let y = g.matmul(x, w)?;
//! let y = g.relu(y)?;
//! g.output(y)?;
//! # Ok(()) }
//! ```

use std::sync::Arc;

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::op::Activation;
use crate::op::ConvTranspose2dParams;
use crate::op::PadMode;
use crate::op::Pool2dParams;
use crate::op::ResizeMode;
use crate::op::{BinaryOp, UnaryOp};
use crate::shape::{broadcast_shapes, check_shape, numel};

pub mod models;

/// A value in a graph (the output of one node).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ValueId(pub usize);

/// Reductions a graph can express.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReduceKind {
    /// Sum.
    Sum,
    /// Mean.
    Mean,
    /// Maximum.
    Max,
    /// Minimum.
    Min,
}

/// conv2d attributes (NCHW input, OIHW weight).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2dAttrs {
    /// Stride (h, w).
    pub stride: [usize; 2],
    /// Padding (top, left, bottom, right).
    pub padding: [usize; 4],
    /// Dilation (h, w).
    pub dilation: [usize; 2],
    /// Groups.
    pub groups: usize,
}

impl Default for Conv2dAttrs {
    fn default() -> Self {
        Conv2dAttrs {
            stride: [1, 1],
            padding: [0; 4],
            dilation: [1, 1],
            groups: 1,
        }
    }
}

/// A graph op. Inputs are in [`Node::inputs`].
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// A run-time input, fed by position (declaration order) to `run`.
    Input {
        /// Its name (for errors and EXPLAIN).
        name: String,
    },
    /// A constant (weights): uploaded once at compile time and kept on the device.
    Constant {
        /// Row-major f32 data.
        data: Arc<Vec<f32>>,
    },
    /// A scalar constant; folded into elementwise kernels as a literal.
    Scalar(f32),
    /// Elementwise unary op.
    Unary(UnaryOp),
    /// Elementwise binary op with numpy broadcasting.
    Binary(BinaryOp),
    /// `where(cond, a, b)` with broadcasting.
    Where,
    /// Batched matmul with broadcasting of the batch dims.
    MatMul,
    /// Reduction over axes.
    Reduce {
        /// Which reduction.
        kind: ReduceKind,
        /// Axes (non-negative, sorted).
        axes: Vec<usize>,
        /// Keep reduced dims as 1.
        keepdims: bool,
    },
    /// Softmax (or log-softmax) over one axis.
    Softmax {
        /// Axis (non-negative).
        axis: usize,
        /// Log-softmax.
        log: bool,
    },
    /// Layer norm over the last `norm_dims` axes; inputs x[, gamma[, beta]].
    LayerNorm {
        /// Number of trailing axes normalised.
        norm_dims: usize,
        /// Epsilon.
        eps: f32,
    },
    /// RMS norm over the last `norm_dims` axes; inputs x[, gamma].
    RmsNorm {
        /// Number of trailing axes normalised.
        norm_dims: usize,
        /// Epsilon.
        eps: f32,
    },
    /// conv2d; inputs x, w[, bias].
    Conv2d(Conv2dAttrs),
    /// Scaled dot-product attention over [batch, heads, seq, head_dim]; inputs q, k, v.
    Attention {
        /// Causal mask.
        causal: bool,
        /// Scale (default 1/sqrt(head_dim)).
        scale: Option<f32>,
    },
    /// Swap two axes (a view).
    Transpose(usize, usize),
    /// Reshape (a view when the input is contiguous).
    Reshape,
    /// Broadcast to the node's shape (a view).
    BroadcastTo,

    // ---- ONNX import ops: keep this block contiguous and last ----
    /// An i32 constant (indices; int64 model constants narrowed at load time).
    ConstantI32 {
        /// Row-major i32 data.
        data: Arc<Vec<i32>>,
    },
    /// Elementwise conversion to a dtype (f32 <-> i32; float to i32 truncates toward zero).
    Cast(DType),
    /// `take` along `axis`; inputs data (f32 or i32), indices (i32, negative from the end).
    Gather {
        /// Axis of data (non-negative).
        axis: usize,
    },
    /// Concatenation of every input along `axis`.
    Concat {
        /// Axis (non-negative).
        axis: usize,
    },
    /// Element `starts[d] + i * steps[d]` along each axis `d` for `i < shape[d]` (a view when
    /// every step is positive and fusion is on).
    Slice {
        /// First index per axis.
        starts: Vec<usize>,
        /// Step per axis (non-zero; negative walks backwards).
        steps: Vec<isize>,
    },
    /// N-d pad (negative pads crop).
    Pad {
        /// Leading pad per axis.
        begin: Vec<isize>,
        /// Trailing pad per axis.
        end: Vec<isize>,
        /// Fill rule.
        mode: PadMode,
    },
    /// Max / average pooling over the last two axes of NCHW.
    Pool2d(Pool2dParams),
    /// Average over H and W of NCHW, to [N, C, 1, 1].
    GlobalAvgPool,
    /// Transposed conv2d; inputs x [N, Cin, H, W], w [Cin, Cout / groups, KH, KW][, bias].
    ConvTranspose2d(ConvTranspose2dParams),
    /// Resize of the last two axes of NCHW to `size`.
    Resize2d {
        /// Output (height, width).
        size: [usize; 2],
        /// Interpolation.
        mode: ResizeMode,
    },
    // --- training (autodiff) ops: keep this block contiguous and last ---
    /// Gradient of conv2d with respect to its input; inputs dy [N, O, OH, OW], w [O, C/g, KH,
    /// KW]; the node's shape is the conv input's shape [N, C, H, W].
    Conv2dBackwardInput(Conv2dAttrs),
    /// Gradient of conv2d with respect to its weight; inputs x [N, C, H, W], dy [N, O, OH, OW];
    /// the node's shape is the weight's shape [O, C/g, KH, KW].
    Conv2dBackwardWeight(Conv2dAttrs),
    /// Gradient of 2-D pooling with respect to its input; inputs x [N, C, H, W] and dy (the
    /// pooled shape); the node's shape is x's.
    Pool2dBackward(Pool2dParams),
}

impl Op {
    /// Short op name for errors, EXPLAIN and profile `covers`.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Input { .. } => "input",
            Op::Constant { .. } => "constant",
            Op::Scalar(_) => "scalar",
            Op::Unary(_) => "unary",
            Op::Binary(_) => "binary",
            Op::Where => "where",
            Op::MatMul => "matmul",
            Op::Reduce { .. } => "reduce",
            Op::Softmax { .. } => "softmax",
            Op::LayerNorm { .. } => "layer_norm",
            Op::RmsNorm { .. } => "rms_norm",
            Op::Conv2d(_) => "conv2d",
            Op::Attention { .. } => "attention",
            Op::Transpose(..) => "transpose",
            Op::Reshape => "reshape",
            Op::BroadcastTo => "broadcast_to",
            Op::ConstantI32 { .. } => "constant_i32",
            Op::Cast(_) => "cast",
            Op::Gather { .. } => "gather",
            Op::Concat { .. } => "concat",
            Op::Slice { .. } => "slice",
            Op::Pad { .. } => "pad",
            Op::Pool2d(_) => "pool2d",
            Op::GlobalAvgPool => "global_avg_pool",
            Op::ConvTranspose2d(_) => "conv_transpose2d",
            Op::Resize2d { .. } => "resize2d",
            Op::Conv2dBackwardInput(_) => "conv2d_backward_input",
            Op::Conv2dBackwardWeight(_) => "conv2d_backward_weight",
            Op::Pool2dBackward(_) => "pool2d_backward",
        }
    }

    /// Whether the op is elementwise (fusable into one generated kernel).
    pub fn is_elementwise(&self) -> bool {
        matches!(self, Op::Unary(_) | Op::Binary(_) | Op::Where | Op::Cast(_))
    }

    /// Whether the op only changes the view (shape/strides), not the data.
    pub fn is_layout(&self) -> bool {
        matches!(self, Op::Transpose(..) | Op::Reshape | Op::BroadcastTo)
    }
}

/// One node: an op, its inputs, and its inferred output shape and dtype.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// The op.
    pub op: Op,
    /// Input values.
    pub inputs: Vec<ValueId>,
    /// Output shape.
    pub shape: Vec<usize>,
    /// Output dtype.
    pub dtype: DType,
    /// Display label (`op#id` unless named).
    pub label: String,
}

/// A computation graph: pure data, nodes in topological order by construction.
#[derive(Clone, Debug, Default)]
pub struct Graph {
    nodes: Vec<Node>,
    outputs: Vec<ValueId>,
}

fn shape_of(shape: &[usize]) -> String {
    format!("{shape:?}")
}

/// Resolves a possibly negative axis against `rank`.
fn axis(op: &'static str, a: isize, rank: usize, shape: &[usize]) -> Result<usize> {
    let r = rank as isize;
    if a < -r || a >= r {
        return Err(Error::invalid(
            op,
            format!("axis {a} out of range for shape {}", shape_of(shape)),
        ));
    }
    Ok(if a < 0 { (a + r) as usize } else { a as usize })
}

impl Graph {
    /// An empty graph.
    pub fn new() -> Self {
        Graph::default()
    }

    /// All nodes, in topological order (a node's id is its index).
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// The node producing `v`.
    pub fn node(&self, v: ValueId) -> &Node {
        &self.nodes[v.0]
    }

    /// Marked outputs, in order.
    pub fn outputs(&self) -> &[ValueId] {
        &self.outputs
    }

    /// Input values, in declaration order (the order `run` takes them).
    pub fn inputs(&self) -> Vec<ValueId> {
        (0..self.nodes.len())
            .filter(|&i| matches!(self.nodes[i].op, Op::Input { .. }))
            .map(ValueId)
            .collect()
    }

    /// Shape of a value.
    pub fn shape(&self, v: ValueId) -> &[usize] {
        &self.nodes[v.0].shape
    }

    /// How many nodes (and outputs) read each value.
    pub fn use_counts(&self) -> Vec<usize> {
        let mut c = vec![0; self.nodes.len()];
        for n in &self.nodes {
            for i in &n.inputs {
                c[i.0] += 1;
            }
        }
        for o in &self.outputs {
            c[o.0] += 1;
        }
        c
    }

    fn check(&self, op: &'static str, vs: &[ValueId]) -> Result<()> {
        for v in vs {
            if v.0 >= self.nodes.len() {
                return Err(Error::invalid(
                    op,
                    format!("value {} is not in this graph", v.0),
                ));
            }
        }
        Ok(())
    }

    /// Adds a node after checking that its shape's element count, byte size and strides fit
    /// the address space: a shape that overflows is an error here, not a wrapped count later.
    fn push(
        &mut self,
        op: Op,
        inputs: Vec<ValueId>,
        shape: Vec<usize>,
        dtype: DType,
    ) -> Result<ValueId> {
        check_shape(op.name(), &shape, dtype.size())?;
        Ok(self.push_unchecked(op, inputs, shape, dtype))
    }

    fn push_unchecked(
        &mut self,
        op: Op,
        inputs: Vec<ValueId>,
        shape: Vec<usize>,
        dtype: DType,
    ) -> ValueId {
        let id = self.nodes.len();
        let label = format!("{}#{id}", op.name());
        self.nodes.push(Node {
            op,
            inputs,
            shape,
            dtype,
            label,
        });
        ValueId(id)
    }

    /// f32 or i32 operands: elementwise kernels compute `+ - *`, max, min, negation, `abs`,
    /// comparisons and `where` of i32 operands exactly in i32 (overflow is a run-time error)
    /// and the rest in f32 (i32 read as f32, exact below 2^24); the result is an f32 value
    /// (an integer result must be exact in f32), so wrap it in [`Graph::cast`] to i32 to keep
    /// integers exact.
    fn numeric(&self, op: &'static str, vs: &[ValueId]) -> Result<()> {
        for v in vs {
            let d = self.nodes[v.0].dtype;
            if !matches!(d, DType::F32 | DType::I32) {
                return Err(Error::UnsupportedDType {
                    op,
                    dtype: d,
                    hint: "elementwise graph ops take f32 or i32".into(),
                });
            }
        }
        Ok(())
    }

    fn f32_only(&self, op: &'static str, vs: &[ValueId]) -> Result<()> {
        for v in vs {
            let d = self.nodes[v.0].dtype;
            if d != DType::F32 {
                return Err(Error::UnsupportedDType {
                    op,
                    dtype: d,
                    hint: "graphs compute in f32".into(),
                });
            }
        }
        Ok(())
    }

    /// Marks `v` as an output (returned by `run` in marking order).
    pub fn output(&mut self, v: ValueId) -> Result<()> {
        self.check("output", &[v])?;
        self.outputs.push(v);
        Ok(())
    }

    /// Renames the node producing `v` (for EXPLAIN and profiles).
    pub fn name(&mut self, v: ValueId, label: &str) -> ValueId {
        if let Some(n) = self.nodes.get_mut(v.0) {
            n.label = label.to_string();
        }
        v
    }

    /// A run-time f32 input.
    pub fn input(&mut self, name: &str, shape: &[usize]) -> Result<ValueId> {
        let v = self.push(
            Op::Input { name: name.into() },
            vec![],
            shape.to_vec(),
            DType::F32,
        )?;
        Ok(self.name(v, name))
    }

    /// A constant tensor (weights), kept on the device by the executable.
    pub fn constant(&mut self, name: &str, data: Vec<f32>, shape: &[usize]) -> Result<ValueId> {
        if data.len() != numel(shape) {
            return Err(Error::DataLength {
                got: data.len(),
                shape: shape.to_vec(),
                expected: numel(shape),
            });
        }
        let v = self.push(
            Op::Constant {
                data: Arc::new(data),
            },
            vec![],
            shape.to_vec(),
            DType::F32,
        )?;
        Ok(self.name(v, name))
    }

    /// A scalar constant (shape []), folded into elementwise kernels.
    pub fn scalar(&mut self, value: f32) -> ValueId {
        self.push_unchecked(Op::Scalar(value), vec![], vec![], DType::F32)
    }

    /// An elementwise unary op.
    pub fn unary(&mut self, x: ValueId, op: UnaryOp) -> Result<ValueId> {
        self.check("unary", &[x])?;
        self.numeric("unary", &[x])?;
        let s = self.nodes[x.0].shape.clone();
        self.push(Op::Unary(op), vec![x], s, DType::F32)
    }

    /// An elementwise binary op with numpy broadcasting.
    pub fn binary(&mut self, a: ValueId, b: ValueId, op: BinaryOp) -> Result<ValueId> {
        self.check("binary", &[a, b])?;
        self.numeric("binary", &[a, b])?;
        let (sa, sb) = (&self.nodes[a.0].shape, &self.nodes[b.0].shape);
        let s = broadcast_shapes(sa, sb).ok_or_else(|| {
            Error::shape(
                "binary",
                format!(
                    "{op:?}: shapes do not broadcast, {} and {}",
                    shape_of(sa),
                    shape_of(sb)
                ),
            )
        })?;
        self.push(Op::Binary(op), vec![a, b], s, DType::F32)
    }

    /// `where(cond, a, b)`: a where cond != 0, else b (broadcasting all three).
    pub fn where_(&mut self, cond: ValueId, a: ValueId, b: ValueId) -> Result<ValueId> {
        self.check("where", &[cond, a, b])?;
        let (sc, sa, sb) = (self.shape(cond), self.shape(a), self.shape(b));
        let s = broadcast_shapes(sc, sa)
            .and_then(|s| broadcast_shapes(&s, sb))
            .ok_or_else(|| {
                Error::shape(
                    "where",
                    format!(
                        "shapes do not broadcast, {}, {} and {}",
                        shape_of(sc),
                        shape_of(sa),
                        shape_of(sb)
                    ),
                )
            })?;
        self.push(Op::Where, vec![cond, a, b], s, DType::F32)
    }

    /// a + b.
    pub fn add(&mut self, a: ValueId, b: ValueId) -> Result<ValueId> {
        self.binary(a, b, BinaryOp::Add)
    }
    /// a - b.
    pub fn sub(&mut self, a: ValueId, b: ValueId) -> Result<ValueId> {
        self.binary(a, b, BinaryOp::Sub)
    }
    /// a * b.
    pub fn mul(&mut self, a: ValueId, b: ValueId) -> Result<ValueId> {
        self.binary(a, b, BinaryOp::Mul)
    }
    /// a / b.
    pub fn div(&mut self, a: ValueId, b: ValueId) -> Result<ValueId> {
        self.binary(a, b, BinaryOp::Div)
    }
    /// x * s for a scalar s.
    pub fn scale(&mut self, x: ValueId, s: f32) -> Result<ValueId> {
        let c = self.scalar(s);
        self.mul(x, c)
    }
    /// x + s for a scalar s.
    pub fn add_scalar(&mut self, x: ValueId, s: f32) -> Result<ValueId> {
        let c = self.scalar(s);
        self.add(x, c)
    }
    /// An activation.
    pub fn activation(&mut self, x: ValueId, a: Activation) -> Result<ValueId> {
        self.unary(x, UnaryOp::Act(a))
    }
    /// relu(x).
    pub fn relu(&mut self, x: ValueId) -> Result<ValueId> {
        self.activation(x, Activation::Relu)
    }
    /// gelu(x) (erf form).
    pub fn gelu(&mut self, x: ValueId) -> Result<ValueId> {
        self.activation(x, Activation::Gelu)
    }
    /// exp(x).
    pub fn exp(&mut self, x: ValueId) -> Result<ValueId> {
        self.unary(x, UnaryOp::Exp)
    }

    /// Batched matmul: a [.., M, K] x b [.., K, N] with broadcast batch dims.
    pub fn matmul(&mut self, a: ValueId, b: ValueId) -> Result<ValueId> {
        self.check("matmul", &[a, b])?;
        self.f32_only("matmul", &[a, b])?;
        let s = matmul_shape(self.shape(a), self.shape(b))?;
        self.push(Op::MatMul, vec![a, b], s, DType::F32)
    }

    /// A reduction over `axes` (negative allowed; `None` = all).
    pub fn reduce(
        &mut self,
        x: ValueId,
        kind: ReduceKind,
        axes: Option<&[isize]>,
        keepdims: bool,
    ) -> Result<ValueId> {
        self.check("reduce", &[x])?;
        self.f32_only("reduce", &[x])?;
        let shape = self.shape(x).to_vec();
        let r = shape.len();
        let mut ax: Vec<usize> = match axes {
            None => (0..r).collect(),
            Some(a) => a
                .iter()
                .map(|&a| axis("reduce", a, r, &shape))
                .collect::<Result<_>>()?,
        };
        ax.sort_unstable();
        let before = ax.len();
        ax.dedup();
        if ax.len() != before {
            return Err(Error::invalid(
                "reduce",
                format!("repeated axis in {axes:?} for shape {}", shape_of(&shape)),
            ));
        }
        let out: Vec<usize> = (0..r)
            .filter_map(|i| {
                if ax.contains(&i) {
                    keepdims.then_some(1)
                } else {
                    Some(shape[i])
                }
            })
            .collect();
        self.push(
            Op::Reduce {
                kind,
                axes: ax,
                keepdims,
            },
            vec![x],
            out,
            DType::F32,
        )
    }

    /// Softmax over `axis` (negative allowed).
    pub fn softmax(&mut self, x: ValueId, axis_: isize) -> Result<ValueId> {
        self.softmax_impl(x, axis_, false)
    }

    /// Log-softmax over `axis` (negative allowed).
    pub fn log_softmax(&mut self, x: ValueId, axis_: isize) -> Result<ValueId> {
        self.softmax_impl(x, axis_, true)
    }

    fn softmax_impl(&mut self, x: ValueId, a: isize, log: bool) -> Result<ValueId> {
        self.check("softmax", &[x])?;
        self.f32_only("softmax", &[x])?;
        let s = self.shape(x).to_vec();
        let ax = axis("softmax", a, s.len(), &s)?;
        self.push(Op::Softmax { axis: ax, log }, vec![x], s, DType::F32)
    }

    fn norm_params(
        &self,
        op: &'static str,
        x: ValueId,
        norm_dims: usize,
        params: &[ValueId],
    ) -> Result<()> {
        self.check(op, &[x])?;
        self.check(op, params)?;
        self.f32_only(op, &[x])?;
        let s = self.shape(x);
        if norm_dims == 0 || norm_dims > s.len() {
            return Err(Error::invalid(
                op,
                format!("norm_dims {norm_dims} invalid for shape {}", shape_of(s)),
            ));
        }
        let tail = &s[s.len() - norm_dims..];
        for p in params {
            if self.shape(*p) != tail {
                return Err(Error::shape(
                    op,
                    format!(
                        "affine parameter shape {} must equal the normalised dims {} of {}",
                        shape_of(self.shape(*p)),
                        shape_of(tail),
                        shape_of(s)
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Layer norm over the last `norm_dims` axes, optional gamma and beta (shape of those axes).
    pub fn layer_norm(
        &mut self,
        x: ValueId,
        norm_dims: usize,
        gamma: Option<ValueId>,
        beta: Option<ValueId>,
        eps: f32,
    ) -> Result<ValueId> {
        if beta.is_some() && gamma.is_none() {
            return Err(Error::invalid("layer_norm", "beta without gamma"));
        }
        let params: Vec<ValueId> = gamma.into_iter().chain(beta).collect();
        self.norm_params("layer_norm", x, norm_dims, &params)?;
        let s = self.shape(x).to_vec();
        let mut inputs = vec![x];
        inputs.extend(params);
        self.push(Op::LayerNorm { norm_dims, eps }, inputs, s, DType::F32)
    }

    /// RMS norm over the last `norm_dims` axes, optional gamma.
    pub fn rms_norm(
        &mut self,
        x: ValueId,
        norm_dims: usize,
        gamma: Option<ValueId>,
        eps: f32,
    ) -> Result<ValueId> {
        let params: Vec<ValueId> = gamma.into_iter().collect();
        self.norm_params("rms_norm", x, norm_dims, &params)?;
        let s = self.shape(x).to_vec();
        let mut inputs = vec![x];
        inputs.extend(params);
        self.push(Op::RmsNorm { norm_dims, eps }, inputs, s, DType::F32)
    }

    /// conv2d: x [N, C, H, W], w [O, C/groups, KH, KW], optional bias \[O\].
    pub fn conv2d(
        &mut self,
        x: ValueId,
        w: ValueId,
        bias: Option<ValueId>,
        attrs: Conv2dAttrs,
    ) -> Result<ValueId> {
        let mut inputs = vec![x, w];
        inputs.extend(bias);
        self.check("conv2d", &inputs)?;
        self.f32_only("conv2d", &inputs)?;
        let s = conv2d_shape(
            self.shape(x),
            self.shape(w),
            bias.map(|b| self.shape(b)),
            &attrs,
        )?;
        self.push(Op::Conv2d(attrs), inputs, s, DType::F32)
    }

    /// Scaled dot-product attention: q [B, H, Sq, D], k and v [B, Hkv, Sk, D].
    pub fn attention(
        &mut self,
        q: ValueId,
        k: ValueId,
        v: ValueId,
        causal: bool,
        scale: Option<f32>,
    ) -> Result<ValueId> {
        self.check("attention", &[q, k, v])?;
        self.f32_only("attention", &[q, k, v])?;
        let (sq, sk, sv) = (self.shape(q), self.shape(k), self.shape(v));
        let ok = sq.len() == 4
            && sk.len() == 4
            && sk == sv
            && sq[0] == sk[0]
            && sq[3] == sk[3]
            && sk[1] > 0
            && sq[1].is_multiple_of(sk[1]);
        if !ok {
            return Err(Error::shape(
                "attention",
                format!(
                    "expected q [B, H, Sq, D], k = v [B, Hkv, Sk, D] with H % Hkv == 0, got {}, {}, {}",
                    shape_of(sq),
                    shape_of(sk),
                    shape_of(sv)
                ),
            ));
        }
        let s = sq.to_vec();
        self.push(
            Op::Attention { causal, scale },
            vec![q, k, v],
            s,
            DType::F32,
        )
    }

    /// Swaps axes `a` and `b` (negative allowed).
    pub fn transpose(&mut self, x: ValueId, a: isize, b: isize) -> Result<ValueId> {
        self.check("transpose", &[x])?;
        let mut s = self.shape(x).to_vec();
        let a = axis("transpose", a, s.len(), &s)?;
        let b = axis("transpose", b, s.len(), &s)?;
        let dt = self.nodes[x.0].dtype;
        s.swap(a, b);
        self.push(Op::Transpose(a, b), vec![x], s, dt)
    }

    /// Reshape to `shape` (same element count).
    pub fn reshape(&mut self, x: ValueId, shape: &[usize]) -> Result<ValueId> {
        self.check("reshape", &[x])?;
        let s = self.shape(x);
        if numel(s) != numel(shape) {
            return Err(Error::shape(
                "reshape",
                format!("cannot reshape {} into {}", shape_of(s), shape_of(shape)),
            ));
        }
        let dt = self.nodes[x.0].dtype;
        self.push(Op::Reshape, vec![x], shape.to_vec(), dt)
    }

    /// Broadcast to `shape` by numpy rules.
    pub fn broadcast_to(&mut self, x: ValueId, shape: &[usize]) -> Result<ValueId> {
        self.check("broadcast_to", &[x])?;
        let s = self.shape(x);
        if broadcast_shapes(s, shape).as_deref() != Some(shape) {
            return Err(Error::shape(
                "broadcast_to",
                format!("cannot broadcast {} to {}", shape_of(s), shape_of(shape)),
            ));
        }
        let dt = self.nodes[x.0].dtype;
        self.push(Op::BroadcastTo, vec![x], shape.to_vec(), dt)
    }
}

impl Graph {
    // ---- ONNX import ops ----

    /// A run-time input of `dtype` (f32, or i32 for token ids and masks).
    pub fn input_typed(&mut self, name: &str, shape: &[usize], dtype: DType) -> Result<ValueId> {
        if !matches!(dtype, DType::F32 | DType::I32) {
            return Err(Error::UnsupportedDType {
                op: "input",
                dtype,
                hint: "graph inputs are f32 or i32".into(),
            });
        }
        let v = self.push(
            Op::Input { name: name.into() },
            vec![],
            shape.to_vec(),
            dtype,
        )?;
        Ok(self.name(v, name))
    }

    /// An i32 constant tensor (indices).
    pub fn constant_i32(&mut self, name: &str, data: Vec<i32>, shape: &[usize]) -> Result<ValueId> {
        if data.len() != numel(shape) {
            return Err(Error::DataLength {
                got: data.len(),
                shape: shape.to_vec(),
                expected: numel(shape),
            });
        }
        let v = self.push(
            Op::ConstantI32 {
                data: Arc::new(data),
            },
            vec![],
            shape.to_vec(),
            DType::I32,
        )?;
        Ok(self.name(v, name))
    }

    /// The dtype of a value.
    pub fn dtype(&self, v: ValueId) -> DType {
        self.nodes[v.0].dtype
    }

    /// Elementwise cast to f32 or i32 (float to i32 truncates toward zero and saturates).
    pub fn cast(&mut self, x: ValueId, dtype: DType) -> Result<ValueId> {
        self.check("cast", &[x])?;
        if !matches!(dtype, DType::F32 | DType::I32) {
            return Err(Error::UnsupportedDType {
                op: "cast",
                dtype,
                hint: "graphs cast between f32 and i32".into(),
            });
        }
        if self.dtype(x) == dtype {
            return Ok(x);
        }
        let s = self.shape(x).to_vec();
        self.push(Op::Cast(dtype), vec![x], s, dtype)
    }

    /// `take(data, indices, axis)`: shape `data[..axis] + indices + data[axis+1..]`.
    pub fn gather(&mut self, data: ValueId, indices: ValueId, axis_: isize) -> Result<ValueId> {
        self.check("gather", &[data, indices])?;
        if self.dtype(indices) != DType::I32 {
            return Err(Error::UnsupportedDType {
                op: "gather",
                dtype: self.dtype(indices),
                hint: "indices must be i32".into(),
            });
        }
        let ds = self.shape(data).to_vec();
        let a = axis("gather", axis_, ds.len(), &ds)?;
        if ds[a] == 0 {
            return Err(Error::shape(
                "gather",
                format!("axis {a} of {} is empty", shape_of(&ds)),
            ));
        }
        let s = crate::shape::gather_shape(&ds, self.shape(indices), a);
        let dt = self.dtype(data);
        self.push(Op::Gather { axis: a }, vec![data, indices], s, dt)
    }

    /// Concatenation along `axis` (same dtype, equal dims off the axis).
    pub fn concat(&mut self, xs: &[ValueId], axis_: isize) -> Result<ValueId> {
        self.check("concat", xs)?;
        let first = *xs
            .first()
            .ok_or_else(|| Error::invalid("concat", "no inputs"))?;
        let r = self.shape(first).len();
        let a = axis("concat", axis_, r, self.shape(first))?;
        let shapes: Vec<&[usize]> = xs.iter().map(|v| self.shape(*v)).collect();
        let s = crate::shape::concat_shape(&shapes, a)?;
        let dt = self.dtype(first);
        if xs.iter().any(|v| self.dtype(*v) != dt) {
            return Err(Error::invalid("concat", "inputs have different dtypes"));
        }
        if xs.len() == 1 {
            return Ok(first);
        }
        self.push(Op::Concat { axis: a }, xs.to_vec(), s, dt)
    }

    /// Slice with resolved per-axis `starts`, `steps` (non-zero) and element `counts`.
    pub fn slice(
        &mut self,
        x: ValueId,
        starts: &[usize],
        steps: &[isize],
        counts: &[usize],
    ) -> Result<ValueId> {
        self.check("slice", &[x])?;
        let xs = self.shape(x).to_vec();
        let r = xs.len();
        if starts.len() != r || steps.len() != r || counts.len() != r {
            return Err(Error::invalid(
                "slice",
                format!("starts/steps/counts need {r} entries for {}", shape_of(&xs)),
            ));
        }
        for d in 0..r {
            let last = starts[d] as isize + steps[d] * (counts[d] as isize - 1);
            if steps[d] == 0
                || (counts[d] > 0 && (starts[d] >= xs[d] || last < 0 || last >= xs[d] as isize))
            {
                return Err(Error::shape(
                    "slice",
                    format!(
                        "axis {d}: start {} step {} count {} leaves {}",
                        starts[d],
                        steps[d],
                        counts[d],
                        shape_of(&xs)
                    ),
                ));
            }
        }
        if counts == xs.as_slice() && steps.iter().all(|&s| s == 1) {
            return Ok(x);
        }
        let dt = self.dtype(x);
        self.push(
            Op::Slice {
                starts: starts.to_vec(),
                steps: steps.to_vec(),
            },
            vec![x],
            counts.to_vec(),
            dt,
        )
    }

    /// N-d pad with `begin`/`end` per axis (negative crops).
    pub fn pad(
        &mut self,
        x: ValueId,
        begin: &[isize],
        end: &[isize],
        mode: PadMode,
    ) -> Result<ValueId> {
        self.check("pad", &[x])?;
        let xs = self.shape(x).to_vec();
        let s = crate::shape::pad_shape(&xs, begin, end)?;
        if !matches!(mode, PadMode::Constant(_)) {
            for d in 0..xs.len() {
                if (begin[d] > 0 || end[d] > 0) && xs[d] == 0 {
                    return Err(Error::shape(
                        "pad",
                        format!(
                            "{mode:?} padding of the empty axis {d} of {}",
                            shape_of(&xs)
                        ),
                    ));
                }
            }
        }
        let dt = self.dtype(x);
        self.push(
            Op::Pad {
                begin: begin.to_vec(),
                end: end.to_vec(),
                mode,
            },
            vec![x],
            s,
            dt,
        )
    }

    fn nchw(&self, op: &'static str, x: ValueId) -> Result<[usize; 4]> {
        self.check(op, &[x])?;
        self.f32_only(op, &[x])?;
        match *self.shape(x) {
            [n, c, h, w] => Ok([n, c, h, w]),
            ref s => Err(Error::shape(
                op,
                format!("input {} must be [N, C, H, W]", shape_of(s)),
            )),
        }
    }

    /// Max or average pooling of NCHW `x`.
    pub fn pool2d(&mut self, x: ValueId, p: Pool2dParams) -> Result<ValueId> {
        let [n, c, h, w] = self.nchw("pool2d", x)?;
        let pd = p.padding;
        let len = |a: usize, i: usize| {
            crate::op::pool_out_len(
                i,
                p.kernel[a],
                p.stride[a],
                pd[a],
                pd[a + 2],
                p.dilation[a],
                p.ceil_mode,
            )
        };
        let span = |a: usize| p.dilation[a] * p.kernel[a].saturating_sub(1) + 1;
        let (oh, ow) = match (len(0, h), len(1, w)) {
            (Some(a), Some(b)) if pd[0].max(pd[2]) < span(0) && pd[1].max(pd[3]) < span(1) => {
                (a, b)
            }
            _ => {
                return Err(Error::shape(
                    "pool2d",
                    format!(
                        "window {:?} stride {:?} dilation {:?} padding {pd:?} does not fit {}",
                        p.kernel,
                        p.stride,
                        p.dilation,
                        shape_of(&[n, c, h, w])
                    ),
                ))
            }
        };
        self.push(Op::Pool2d(p), vec![x], vec![n, c, oh, ow], DType::F32)
    }

    /// Global average pooling of NCHW `x` to [N, C, 1, 1].
    pub fn global_avg_pool(&mut self, x: ValueId) -> Result<ValueId> {
        let [n, c, h, w] = self.nchw("global_avg_pool", x)?;
        if h * w == 0 {
            return Err(Error::shape(
                "global_avg_pool",
                format!("input {} has empty planes", shape_of(&[n, c, h, w])),
            ));
        }
        self.push(Op::GlobalAvgPool, vec![x], vec![n, c, 1, 1], DType::F32)
    }

    /// Transposed conv2d: x [N, Cin, H, W], w [Cin, Cout / groups, KH, KW], bias \[Cout\].
    pub fn conv_transpose2d(
        &mut self,
        x: ValueId,
        w: ValueId,
        bias: Option<ValueId>,
        p: ConvTranspose2dParams,
    ) -> Result<ValueId> {
        let [n, cin, h, wd] = self.nchw("conv_transpose2d", x)?;
        let mut inputs = vec![x, w];
        inputs.extend(bias);
        self.check("conv_transpose2d", &inputs)?;
        self.f32_only("conv_transpose2d", &inputs)?;
        let ws = self.shape(w).to_vec();
        let g = p.groups;
        let bad = |m: String| Error::shape("conv_transpose2d", m);
        if ws.len() != 4 || g == 0 || ws[0] != cin || !cin.is_multiple_of(g) || ws[2] * ws[3] == 0 {
            return Err(bad(format!(
                "x {} and w {} (groups {g}) do not match [Cin, Cout/groups, KH, KW]",
                shape_of(&[n, cin, h, wd]),
                shape_of(&ws)
            )));
        }
        let cout = ws[1] * g;
        if let Some(b) = bias {
            if self.shape(b) != [cout] {
                return Err(bad(format!(
                    "bias {} must be [{cout}]",
                    shape_of(self.shape(b))
                )));
            }
        }
        let len = |i: usize, a: usize| -> Option<usize> {
            let full =
                (i - 1) * p.stride[a] + p.dilation[a] * (ws[2 + a] - 1) + 1 + p.output_padding[a];
            full.checked_sub(p.padding[a] + p.padding[a + 2])
                .filter(|&o| o > 0)
        };
        if h == 0 || wd == 0 || p.stride.contains(&0) || p.dilation.contains(&0) {
            return Err(bad(format!(
                "empty input {} or zero stride/dilation",
                shape_of(&[n, cin, h, wd])
            )));
        }
        let (oh, ow) = match (len(h, 0), len(wd, 1)) {
            (Some(a), Some(b)) => (a, b),
            _ => {
                return Err(bad(format!(
                    "padding {:?} removes the whole output",
                    p.padding
                )))
            }
        };
        self.push(
            Op::ConvTranspose2d(p),
            inputs,
            vec![n, cout, oh, ow],
            DType::F32,
        )
    }

    /// Resize of the last two axes of NCHW `x` to `size`.
    pub fn resize2d(&mut self, x: ValueId, size: [usize; 2], mode: ResizeMode) -> Result<ValueId> {
        let [n, c, h, w] = self.nchw("resize2d", x)?;
        if size.contains(&0) || h * w == 0 {
            return Err(Error::shape(
                "resize2d",
                format!("cannot resize {} to {size:?}", shape_of(&[n, c, h, w])),
            ));
        }
        self.push(
            Op::Resize2d { size, mode },
            vec![x],
            vec![n, c, size[0], size[1]],
            DType::F32,
        )
    }
}

// --- training (autodiff) builders: keep this block contiguous ---
impl Graph {
    /// Replaces the marked outputs (autodiff builds a forward+backward graph from a clone).
    pub fn set_outputs(&mut self, outputs: &[ValueId]) -> Result<()> {
        self.check("set_outputs", outputs)?;
        self.outputs = outputs.to_vec();
        Ok(())
    }

    /// The conv2d input gradient: `dy` [N, O, OH, OW] and `w` [O, C/g, KH, KW] back to an
    /// input of shape `x_shape` [N, C, H, W] (checked by running the forward shape rule).
    pub fn conv2d_backward_input(
        &mut self,
        dy: ValueId,
        w: ValueId,
        x_shape: &[usize],
        attrs: Conv2dAttrs,
    ) -> Result<ValueId> {
        const OP: &str = "conv2d_backward_input";
        self.check(OP, &[dy, w])?;
        self.f32_only(OP, &[dy, w])?;
        let y = conv2d_shape(x_shape, self.shape(w), None, &attrs)?;
        if y != self.shape(dy) {
            return Err(Error::shape(
                OP,
                format!(
                    "dy {} is not the conv2d output {} of x {} and w {}",
                    shape_of(self.shape(dy)),
                    shape_of(&y),
                    shape_of(x_shape),
                    shape_of(self.shape(w))
                ),
            ));
        }
        self.push(
            Op::Conv2dBackwardInput(attrs),
            vec![dy, w],
            x_shape.to_vec(),
            DType::F32,
        )
    }

    /// The conv2d weight gradient: `x` [N, C, H, W] and `dy` [N, O, OH, OW] to a weight of
    /// shape `w_shape` [O, C/g, KH, KW].
    pub fn conv2d_backward_weight(
        &mut self,
        x: ValueId,
        dy: ValueId,
        w_shape: &[usize],
        attrs: Conv2dAttrs,
    ) -> Result<ValueId> {
        const OP: &str = "conv2d_backward_weight";
        self.check(OP, &[x, dy])?;
        self.f32_only(OP, &[x, dy])?;
        let y = conv2d_shape(self.shape(x), w_shape, None, &attrs)?;
        if y != self.shape(dy) {
            return Err(Error::shape(
                OP,
                format!(
                    "dy {} is not the conv2d output {} of x {} and w {}",
                    shape_of(self.shape(dy)),
                    shape_of(&y),
                    shape_of(self.shape(x)),
                    shape_of(w_shape)
                ),
            ));
        }
        self.push(
            Op::Conv2dBackwardWeight(attrs),
            vec![x, dy],
            w_shape.to_vec(),
            DType::F32,
        )
    }

    /// The pooling input gradient: `x` [N, C, H, W] and `dy` (the gradient of
    /// `pool2d(x, p)`) to x's shape.
    pub fn pool2d_backward(&mut self, x: ValueId, dy: ValueId, p: Pool2dParams) -> Result<ValueId> {
        const OP: &str = "pool2d_backward";
        self.check(OP, &[x, dy])?;
        self.f32_only(OP, &[x, dy])?;
        let mut probe = Graph::new();
        let px = probe.input("x", self.shape(x))?;
        let py = probe.pool2d(px, p)?;
        if probe.shape(py) != self.shape(dy) {
            return Err(Error::shape(
                OP,
                format!(
                    "dy {} is not the pooled shape {} of x {}",
                    shape_of(self.shape(dy)),
                    shape_of(probe.shape(py)),
                    shape_of(self.shape(x))
                ),
            ));
        }
        let s = self.shape(x).to_vec();
        self.push(Op::Pool2dBackward(p), vec![x, dy], s, DType::F32)
    }
}

/// matmul output shape: a [.., M, K] x b [.., K, N] (rank >= 2; batch dims broadcast).
pub fn matmul_shape(a: &[usize], b: &[usize]) -> Result<Vec<usize>> {
    if a.len() < 2 || b.len() < 2 {
        return Err(Error::shape(
            "matmul",
            format!(
                "operands need rank >= 2, got {} x {}",
                shape_of(a),
                shape_of(b)
            ),
        ));
    }
    let (m, k) = (a[a.len() - 2], a[a.len() - 1]);
    let (k2, n) = (b[b.len() - 2], b[b.len() - 1]);
    if k != k2 {
        return Err(Error::shape(
            "matmul",
            format!("inner dims differ, {} x {}", shape_of(a), shape_of(b)),
        ));
    }
    let batch = broadcast_shapes(&a[..a.len() - 2], &b[..b.len() - 2]).ok_or_else(|| {
        Error::shape(
            "matmul",
            format!(
                "batch dims do not broadcast, {} x {}",
                shape_of(a),
                shape_of(b)
            ),
        )
    })?;
    let mut s = batch;
    s.extend([m, n]);
    Ok(s)
}

/// conv2d output shape (NCHW), checking channels, groups and bias.
pub fn conv2d_shape(
    x: &[usize],
    w: &[usize],
    bias: Option<&[usize]>,
    p: &Conv2dAttrs,
) -> Result<Vec<usize>> {
    let bad = |msg: String| Error::shape("conv2d", msg);
    if x.len() != 4 || w.len() != 4 {
        return Err(bad(format!(
            "expected x [N, C, H, W] and w [O, C/groups, KH, KW], got {} and {}",
            shape_of(x),
            shape_of(w)
        )));
    }
    let g = p.groups;
    if g == 0 || !x[1].is_multiple_of(g) || !w[0].is_multiple_of(g) || w[1] * g != x[1] {
        return Err(bad(format!(
            "channels do not match groups {g}: x {} and w {}",
            shape_of(x),
            shape_of(w)
        )));
    }
    if w[2] == 0 || w[3] == 0 {
        return Err(bad(format!("empty kernel {}", shape_of(w))));
    }
    if let Some(b) = bias {
        if b != [w[0]] {
            return Err(bad(format!("bias {} must be [{}]", shape_of(b), w[0])));
        }
    }
    // Kernels index in 32-bit integers: larger strides, dilations or pads cannot be spelled.
    let attrs = p.stride.iter().chain(&p.dilation).chain(&p.padding);
    if let Some(big) = attrs.copied().find(|&v| v > i32::MAX as usize) {
        return Err(bad(format!(
            "stride, dilation and padding must be at most {}, got {big}",
            i32::MAX
        )));
    }
    let span = |i: usize, k: usize, d: usize, s: usize, lo: usize, hi: usize| -> Option<usize> {
        let eff = d.checked_mul(k - 1)?.checked_add(1)?;
        let padded = i.checked_add(lo)?.checked_add(hi)?;
        (s > 0 && padded >= eff).then(|| (padded - eff) / s + 1)
    };
    let oh = span(
        x[2],
        w[2],
        p.dilation[0],
        p.stride[0],
        p.padding[0],
        p.padding[2],
    );
    let ow = span(
        x[3],
        w[3],
        p.dilation[1],
        p.stride[1],
        p.padding[1],
        p.padding[3],
    );
    match (oh, ow) {
        (Some(oh), Some(ow)) => Ok(vec![x[0], w[0], oh, ow]),
        _ => Err(bad(format!(
            "kernel {} larger than padded input {} (or zero stride)",
            shape_of(w),
            shape_of(x)
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_whose_size_overflows_are_errors_not_wrapped_counts() {
        let mut g = Graph::new();
        let x = g.input("x", &[1, 1]).unwrap();
        let e = g.broadcast_to(x, &[1 << 32, 1 << 32]).unwrap_err();
        assert!(matches!(e, Error::Shape { .. }), "{e}");
        assert!(g.input("y", &[0, 1 << 40, 1 << 40]).is_err());
        let e = g.reshape(x, &[1, 1, usize::MAX]).unwrap_err();
        assert!(matches!(e, Error::Shape { .. }), "{e}");
    }

    #[test]
    fn conv_attributes_beyond_32_bits_are_shape_errors() {
        let p = Conv2dAttrs {
            stride: [1 << 40, 1],
            ..Conv2dAttrs::default()
        };
        let e = conv2d_shape(&[1, 1, 4, 4], &[1, 1, 1, 1], None, &p).unwrap_err();
        assert!(matches!(e, Error::Shape { .. }), "{e}");
        let p = Conv2dAttrs {
            dilation: [usize::MAX, 1],
            ..Conv2dAttrs::default()
        };
        assert!(conv2d_shape(&[1, 1, 4, 4], &[1, 1, 2, 1], None, &p).is_err());
    }
}
