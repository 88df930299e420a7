//! Reverse-mode automatic differentiation over [`Graph`], plus losses.
//!
//! [`grad`] appends the backward pass to a copy of the forward graph, built from ordinary
//! graph ops, so the result is fused, planned and compiled like any graph (elementwise
//! gradient chains fuse into one kernel, the transposed matmuls of a linear layer read
//! strided views without copies). Its outputs are the loss, then one gradient per `wrt`
//! value, each with that value's shape.
//!
//! Rules worth stating:
//! - Broadcasting: a gradient flowing into a broadcast operand is summed over the broadcast
//!   axes (leading axes and size-1 axes) and reshaped back to the operand's shape.
//! - Kinks take one-sided derivatives: relu'(0) = 0, |x|'(0) = 0, max/min send the gradient
//!   to the first operand on ties; reductions by max/min share it evenly among tied elements.
//! - Comparisons and `where`'s condition have no gradient; constants and scalars get none.
//! - Attention's backward is composed: it recomputes the scores and the softmax (the fused
//!   forward kernel never stores them) and runs the textbook matmul/softmax backward,
//!   expanding grouped key/value heads and summing their gradients back.
//! - Second derivatives are not supported: the backward-only conv ops have no gradient rule
//!   and [`grad`] says so rather than returning a wrong graph.

pub mod loss;

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::graph::{Graph, Op, ReduceKind, ValueId};
use crate::op::Activation;
use crate::op::PadMode;
use crate::op::{binary_f64, unary_f64};
use crate::op::{BinaryOp, UnaryOp};
use crate::shape::numel;

pub use loss::{cross_entropy_with_logits, mse, Reduction, Target};

/// Builds the forward-and-backward graph of `loss` with respect to `wrt`.
///
/// The returned graph holds every node of `graph` (same ids), then the backward nodes; its
/// outputs are `loss` followed by d(sum of loss)/d(w) for each `w` in `wrt`. A non-scalar
/// loss is differentiated as the sum of its elements. A `wrt` value the loss does not depend
/// on gets a zero gradient.
pub fn grad(graph: &Graph, loss: ValueId, wrt: &[ValueId]) -> Result<Graph> {
    let (g, grads) = grad_values(graph, loss, wrt)?;
    let mut g = g;
    let mut outs = vec![loss];
    outs.extend(grads);
    g.set_outputs(&outs)?;
    Ok(g)
}

/// Like [`grad`] but returns the extended graph without touching its outputs, plus the
/// gradient values (for callers that choose their own outputs, e.g. loss, predictions and
/// gradients).
pub fn grad_values(graph: &Graph, loss: ValueId, wrt: &[ValueId]) -> Result<(Graph, Vec<ValueId>)> {
    let n = graph.nodes().len();
    for v in wrt.iter().chain([&loss]) {
        if v.0 >= n {
            return Err(Error::invalid(
                "grad",
                format!("value {} is not in this graph", v.0),
            ));
        }
    }
    // Which values depend on some `wrt` value: only those carry gradients.
    let mut dep = vec![false; n];
    for w in wrt {
        dep[w.0] = true;
    }
    for (i, node) in graph.nodes().iter().enumerate() {
        if node.inputs.iter().any(|v| dep[v.0]) {
            dep[i] = true;
        }
    }
    let mut b = Builder {
        g: graph.clone(),
        adj: vec![None; n],
    };
    // The seed d(sum L)/dL = 1 stays a scalar literal, broadcast only where an op needs it.
    let seed = b.g.scalar(1.0);
    b.adj[loss.0] = Some(seed);
    for i in (0..=loss.0).rev() {
        let Some(mut gy) = b.adj[i] else { continue };
        if !dep[i] {
            continue;
        }
        let node = graph.node(ValueId(i)).clone();
        // Adjoints may stay smaller than their value (a scalar seed, folded into elementwise
        // kernels as a literal); ops other than elementwise ones and sum/mean reductions need
        // the full shape.
        let lazy_ok = node.op.is_elementwise()
            || matches!(
                node.op,
                Op::Reduce {
                    kind: ReduceKind::Sum | ReduceKind::Mean,
                    ..
                }
            );
        if !lazy_ok && b.g.shape(gy) != node.shape.as_slice() {
            gy = b.g.broadcast_to(gy, &node.shape)?;
        }
        let contribs = b.backward(ValueId(i), &node, gy, &dep)?;
        for (v, c) in contribs {
            if dep[v.0] {
                b.accumulate(v, c)?;
            }
        }
    }
    let mut grads = Vec::with_capacity(wrt.len());
    for w in wrt {
        let gw = match b.adj[w.0] {
            Some(gw) => {
                let ws = graph.shape(*w).to_vec();
                let gw = if b.g.shape(gw) != ws.as_slice() {
                    b.g.broadcast_to(gw, &ws)?
                } else {
                    gw
                };
                // Gradients are outputs: make them computed, dense values rather than views
                // of another value (or literals), so callers get their own buffer.
                let op = &b.g.node(gw).op;
                let shared = matches!(
                    op,
                    Op::Scalar(_)
                        | Op::Input { .. }
                        | Op::Constant { .. }
                        | Op::Transpose(..)
                        | Op::BroadcastTo
                );
                if shared {
                    let one = b.g.scalar(1.0);
                    b.g.mul(gw, one)?
                } else {
                    gw
                }
            }
            None => {
                // Not reached from the loss: an explicit zero of the right shape.
                let z = b.g.scalar(0.0);
                b.g.where_(z, *w, z)?
            }
        };
        grads.push(gw);
    }
    Ok((b.g, grads))
}

struct Builder {
    g: Graph,
    /// Adjoint (gradient of the loss) of each forward value, once some consumer produced it.
    adj: Vec<Option<ValueId>>,
}

impl Builder {
    fn shape(&self, v: ValueId) -> Vec<usize> {
        self.g.shape(v).to_vec()
    }

    fn s(&mut self, v: f32) -> ValueId {
        self.g.scalar(v)
    }

    /// A binary op, folded to a literal when both operands are literals (an elementwise
    /// kernel needs at least one tensor input).
    fn bin(&mut self, a: ValueId, b: ValueId, op: BinaryOp) -> Result<ValueId> {
        match (self.lit(a), self.lit(b)) {
            (Some(x), Some(y)) => Ok(self.g.scalar(binary_f64(op, x as f64, y as f64) as f32)),
            _ => self.g.binary(a, b, op),
        }
    }

    fn mul(&mut self, a: ValueId, b: ValueId) -> Result<ValueId> {
        self.bin(a, b, BinaryOp::Mul)
    }

    fn add(&mut self, a: ValueId, b: ValueId) -> Result<ValueId> {
        self.bin(a, b, BinaryOp::Add)
    }

    fn sub(&mut self, a: ValueId, b: ValueId) -> Result<ValueId> {
        self.bin(a, b, BinaryOp::Sub)
    }

    fn div(&mut self, a: ValueId, b: ValueId) -> Result<ValueId> {
        self.bin(a, b, BinaryOp::Div)
    }

    fn add_s(&mut self, a: ValueId, s: f32) -> Result<ValueId> {
        let c = self.g.scalar(s);
        self.add(a, c)
    }

    /// The value of `v` when it is a scalar literal (folded at build time).
    fn lit(&self, v: ValueId) -> Option<f32> {
        match self.g.node(v).op {
            Op::Scalar(s) => Some(s),
            _ => None,
        }
    }

    fn mul_s(&mut self, a: ValueId, s: f32) -> Result<ValueId> {
        let c = self.g.scalar(s);
        self.mul(a, c)
    }

    fn un(&mut self, x: ValueId, op: UnaryOp) -> Result<ValueId> {
        match self.lit(x) {
            Some(v) => Ok(self.g.scalar(unary_f64(op, v as f64) as f32)),
            None => self.g.unary(x, op),
        }
    }

    /// 0/1 mask of `x op s` for a scalar `s`.
    fn cmp_s(&mut self, x: ValueId, op: BinaryOp, s: f32) -> Result<ValueId> {
        let c = self.s(s);
        self.bin(x, c, op)
    }

    /// Sums `g` over the axes it was broadcast along so it gets `target`'s shape.
    fn reduce_to(&mut self, g: ValueId, target: &[usize]) -> Result<ValueId> {
        let gs = self.shape(g);
        if gs == target {
            return Ok(g);
        }
        let (r, t) = (gs.len(), target.len());
        if r < t {
            // g was broadcast up from a smaller shape (e.g. a scalar seed).
            return self.g.broadcast_to(g, target);
        }
        let axes: Vec<isize> = (0..r)
            .filter(|&i| i < r - t || (target[i - (r - t)] == 1 && gs[i] != 1))
            .map(|i| i as isize)
            .collect();
        let mut out = g;
        if !axes.is_empty() {
            // Only leading axes: drop them directly (no reshape view afterwards).
            let leading = axes.iter().all(|&a| (a as usize) < r - t);
            out = self.g.reduce(out, ReduceKind::Sum, Some(&axes), !leading)?;
        }
        if self.g.shape(out) != target {
            if numel(self.g.shape(out)) == numel(target) {
                out = self.g.reshape(out, target)?;
            } else {
                out = self.g.broadcast_to(out, target)?;
            }
        }
        Ok(out)
    }

    fn accumulate(&mut self, v: ValueId, c: ValueId) -> Result<()> {
        let target = self.g.shape(v).to_vec();
        // A rank-0 contribution stays lazy (see `grad_values`); anything else gets v's shape.
        let c = if self.g.shape(c).is_empty() {
            c
        } else {
            self.reduce_to(c, &target)?
        };
        self.adj[v.0] = Some(match self.adj[v.0] {
            None => c,
            Some(prev) => self.add(prev, c)?,
        });
        Ok(())
    }

    /// Reshape `g` of a reduction's output back to the keepdims shape `ks`.
    fn keepdims(&mut self, g: ValueId, ks: &[usize]) -> Result<ValueId> {
        if self.g.shape(g) == ks {
            Ok(g)
        } else {
            self.g.reshape(g, ks)
        }
    }

    /// Contributions (input value, gradient) of node `y` with adjoint `gy`.
    fn backward(
        &mut self,
        y: ValueId,
        node: &crate::graph::Node,
        gy: ValueId,
        dep: &[bool],
    ) -> Result<Vec<(ValueId, ValueId)>> {
        let ins = node.inputs.clone();
        let needs = |k: usize| ins.get(k).is_some_and(|v| dep[v.0]);
        let mut out = Vec::new();
        match &node.op {
            Op::Input { .. } | Op::Constant { .. } | Op::Scalar(_) => {}
            Op::Unary(op) => {
                let x = ins[0];
                let d = self.unary_grad(*op, x, y, gy)?;
                out.push((x, d));
            }
            Op::Binary(op) => {
                let (a, b) = (ins[0], ins[1]);
                if op.is_comparison() {
                    return Ok(out);
                }
                let (ga, gb) = self.binary_grad(*op, a, b, y, gy, needs(0), needs(1))?;
                out.extend(ga.map(|g| (a, g)));
                out.extend(gb.map(|g| (b, g)));
            }
            Op::Where => {
                let (c, a, b) = (ins[0], ins[1], ins[2]);
                let z = self.s(0.0);
                if needs(1) {
                    let ga = self.g.where_(c, gy, z)?;
                    out.push((a, ga));
                }
                if needs(2) {
                    let gb = self.g.where_(c, z, gy)?;
                    out.push((b, gb));
                }
            }
            Op::MatMul => {
                let (a, b) = (ins[0], ins[1]);
                if needs(0) {
                    let bt = self.g.transpose(b, -1, -2)?;
                    let ga = self.g.matmul(gy, bt)?;
                    out.push((a, ga));
                }
                if needs(1) {
                    let at = self.g.transpose(a, -1, -2)?;
                    let gb = self.g.matmul(at, gy)?;
                    out.push((b, gb));
                }
            }
            Op::Reduce { kind, axes, .. } => {
                out.push((ins[0], self.reduce_grad(y, ins[0], gy, *kind, axes)?))
            }
            Op::Softmax { axis, log } => out.push((ins[0], self.softmax_grad(y, gy, *axis, *log)?)),
            Op::LayerNorm { norm_dims, eps } | Op::RmsNorm { norm_dims, eps } => {
                let rms = matches!(node.op, Op::RmsNorm { .. });
                out.extend(self.norm_grad(&ins, gy, *norm_dims, *eps, rms, &needs)?);
            }
            Op::Conv2d(attrs) => out.extend(self.conv2d_grad(&ins, gy, *attrs, &needs)?),
            Op::Attention { causal, scale } => {
                out.extend(self.attention_grad(&ins, gy, *causal, *scale, &needs)?);
            }
            Op::Transpose(a, b) => {
                let gx = self.g.transpose(gy, *a as isize, *b as isize)?;
                out.push((ins[0], gx));
            }
            Op::Reshape => {
                let xs = self.shape(ins[0]);
                let gx = self.g.reshape(gy, &xs)?;
                out.push((ins[0], gx));
            }
            Op::BroadcastTo => out.push((ins[0], gy)),
            Op::ConstantI32 { .. } => {}
            Op::Cast(_) => {
                // Only an f32 -> f32 cast carries a gradient; integers are not differentiable.
                if node.dtype == DType::F32 && self.g.node(ins[0]).dtype == DType::F32 {
                    out.push((ins[0], gy));
                }
            }
            Op::Concat { axis } => out.extend(self.concat_grad(&ins, gy, *axis, dep)?),
            Op::Slice { starts, steps } if steps.iter().all(|&s| s == 1) => {
                let xs = self.shape(ins[0]);
                let begin: Vec<isize> = starts.iter().map(|&s| s as isize).collect();
                let end: Vec<isize> = (0..xs.len())
                    .map(|d| (xs[d] - starts[d] - node.shape[d]) as isize)
                    .collect();
                let gx = self.g.pad(gy, &begin, &end, PadMode::Constant(0.0))?;
                out.push((ins[0], gx));
            }
            Op::Pad {
                begin,
                end,
                mode: PadMode::Constant(_),
            } if begin.iter().chain(end).all(|&p| p >= 0) => {
                let xs = self.shape(ins[0]);
                let starts: Vec<usize> = begin.iter().map(|&b| b as usize).collect();
                let steps = vec![1; xs.len()];
                let gx = self.g.slice(gy, &starts, &steps, &xs)?;
                out.push((ins[0], gx));
            }
            Op::GlobalAvgPool => {
                let xs = self.shape(ins[0]);
                let gb = self.g.broadcast_to(gy, &xs)?;
                let gx = self.mul_s(gb, 1.0 / (xs[2] * xs[3]).max(1) as f32)?;
                out.push((ins[0], gx));
            }
            Op::ConvTranspose2d(p) if p.activation == Activation::None => {
                out.extend(self.conv_transpose2d_grad(&ins, gy, p, &needs)?)
            }
            Op::Pool2d(p) => {
                let gx = self.g.pool2d_backward(ins[0], gy, *p)?;
                out.push((ins[0], gx));
            }
            Op::Gather { .. }
            | Op::Slice { .. }
            | Op::Pad { .. }
            | Op::ConvTranspose2d(_)
            | Op::Resize2d { .. }
            | Op::Conv2dBackwardInput(_)
            | Op::Conv2dBackwardWeight(_)
            | Op::Pool2dBackward(_) => {
                return Err(Error::invalid(
                    "grad",
                    format!(
                        "no gradient rule for {} `{}` yet (gather, strided slices, reflect/edge \
                         pads, conv-transpose with an activation, resize and second \
                         derivatives are not supported)",
                        node.op.name(),
                        node.label
                    ),
                ));
            }
        }
        Ok(out)
    }

    /// The gradient of reduction input `x` (output `y`, adjoint `gy`).
    fn reduce_grad(
        &mut self,
        y: ValueId,
        x: ValueId,
        gy: ValueId,
        kind: ReduceKind,
        axes: &[usize],
    ) -> Result<ValueId> {
        let xs = self.shape(x);
        let count: usize = axes.iter().map(|&a| xs[a]).product();
        if self.g.shape(gy).is_empty() && matches!(kind, ReduceKind::Sum | ReduceKind::Mean) {
            // A rank-0 adjoint of a sum/mean is the same for every input element: keep it a
            // (lazy) scalar so the consumers fold it in.
            return if kind == ReduceKind::Mean {
                self.mul_s(gy, 1.0 / count.max(1) as f32)
            } else {
                Ok(gy)
            };
        }
        let mut ks = xs.clone();
        for &a in axes {
            ks[a] = 1;
        }
        let gk = self.keepdims(gy, &ks)?;
        Ok(match kind {
            ReduceKind::Sum => self.g.broadcast_to(gk, &xs)?,
            ReduceKind::Mean => {
                let gb = self.g.broadcast_to(gk, &xs)?;
                self.mul_s(gb, 1.0 / count.max(1) as f32)?
            }
            ReduceKind::Max | ReduceKind::Min => {
                // The gradient goes to the elements equal to the result, split evenly among
                // ties.
                let yk = self.keepdims(y, &ks)?;
                let mask = self.bin(x, yk, BinaryOp::Eq)?;
                let ax: Vec<isize> = axes.iter().map(|&a| a as isize).collect();
                let cnt = self.g.reduce(mask, ReduceKind::Sum, Some(&ax), true)?;
                let share = self.div(gk, cnt)?;
                self.mul(mask, share)?
            }
        })
    }

    /// The gradient of a softmax's (log-softmax's with `log`) input, from its output `y`.
    fn softmax_grad(&mut self, y: ValueId, gy: ValueId, axis: usize, log: bool) -> Result<ValueId> {
        let ax = [axis as isize];
        if log {
            let s = self.g.reduce(gy, ReduceKind::Sum, Some(&ax), true)?;
            let p = self.un(y, UnaryOp::Exp)?;
            let ps = self.mul(p, s)?;
            self.sub(gy, ps)
        } else {
            let gyy = self.mul(gy, y)?;
            let s = self.g.reduce(gyy, ReduceKind::Sum, Some(&ax), true)?;
            let d = self.sub(gy, s)?;
            self.mul(y, d)
        }
    }

    /// Contributions of a conv2d over inputs `ins` (x, w and optional bias).
    fn conv2d_grad(
        &mut self,
        ins: &[ValueId],
        gy: ValueId,
        attrs: crate::graph::Conv2dAttrs,
        needs: &dyn Fn(usize) -> bool,
    ) -> Result<Vec<(ValueId, ValueId)>> {
        let mut out = Vec::new();
        let (x, w) = (ins[0], ins[1]);
        let (xs, ws) = (self.shape(x), self.shape(w));
        if needs(0) {
            let gx = self.g.conv2d_backward_input(gy, w, &xs, attrs)?;
            out.push((x, gx));
        }
        if needs(1) {
            let gw = self.g.conv2d_backward_weight(x, gy, &ws, attrs)?;
            out.push((w, gw));
        }
        if needs(2) {
            let gb = self
                .g
                .reduce(gy, ReduceKind::Sum, Some(&[0, 2, 3]), false)?;
            out.push((ins[2], gb));
        }
        Ok(out)
    }

    /// Contributions of a conv-transpose (no activation) over inputs `ins` (x, w and
    /// optional bias).
    fn conv_transpose2d_grad(
        &mut self,
        ins: &[ValueId],
        gy: ValueId,
        p: &crate::op::ConvTranspose2dParams,
        needs: &dyn Fn(usize) -> bool,
    ) -> Result<Vec<(ValueId, ValueId)>> {
        // y = conv_transpose(x, w) is the input gradient of a conv with weight w, so its own
        // gradients are that conv (for x) and that conv's weight gradient with the roles of
        // input and output swapped (for w).
        let mut out = Vec::new();
        let (x, w) = (ins[0], ins[1]);
        let attrs = crate::graph::Conv2dAttrs {
            stride: p.stride,
            padding: p.padding,
            dilation: p.dilation,
            groups: p.groups,
        };
        if needs(0) {
            let gx = self.g.conv2d(gy, w, None, attrs)?;
            out.push((x, gx));
        }
        if needs(1) {
            let ws = self.shape(w);
            let gw = self.g.conv2d_backward_weight(gy, x, &ws, attrs)?;
            out.push((w, gw));
        }
        if needs(2) {
            let gb = self
                .g
                .reduce(gy, ReduceKind::Sum, Some(&[0, 2, 3]), false)?;
            out.push((ins[2], gb));
        }
        Ok(out)
    }

    /// Contributions of a concat along `axis`: each input that needs one gets its slice of
    /// `gy`.
    fn concat_grad(
        &mut self,
        ins: &[ValueId],
        gy: ValueId,
        axis: usize,
        dep: &[bool],
    ) -> Result<Vec<(ValueId, ValueId)>> {
        let mut out = Vec::new();
        let mut at = 0;
        for &x in ins {
            let xs = self.shape(x);
            let mut starts = vec![0; xs.len()];
            starts[axis] = at;
            at += xs[axis];
            if dep[x.0] {
                let steps = vec![1; xs.len()];
                let gx = self.g.slice(gy, &starts, &steps, &xs)?;
                out.push((x, gx));
            }
        }
        Ok(out)
    }

    fn unary_grad(&mut self, op: UnaryOp, x: ValueId, y: ValueId, gy: ValueId) -> Result<ValueId> {
        use std::f32::consts::PI;
        let d = match op {
            UnaryOp::Neg => return self.un(gy, UnaryOp::Neg),
            UnaryOp::Abs => {
                let p = self.cmp_s(x, BinaryOp::Gt, 0.0)?;
                let m = self.cmp_s(x, BinaryOp::Lt, 0.0)?;
                self.sub(p, m)?
            }
            UnaryOp::Exp => y,
            UnaryOp::Log => return self.div(gy, x),
            UnaryOp::Sqrt => {
                let h = self.mul_s(gy, 0.5)?;
                return self.div(h, y);
            }
            UnaryOp::Rsqrt => {
                // d/dx x^-1/2 = -y / (2x).
                let t = self.div(y, x)?;
                self.mul_s(t, -0.5)?
            }
            UnaryOp::Reciprocal => {
                let yy = self.mul(y, y)?;
                self.un(yy, UnaryOp::Neg)?
            }
            UnaryOp::Softplus => self.un(x, UnaryOp::Act(Activation::Sigmoid))?,
            UnaryOp::Erf => {
                let xx = self.mul(x, x)?;
                let nx = self.un(xx, UnaryOp::Neg)?;
                let e = self.un(nx, UnaryOp::Exp)?;
                self.mul_s(e, 2.0 / PI.sqrt())?
            }
            UnaryOp::Act(a) => self.activation_grad(a, x, y)?,
            UnaryOp::HardSigmoid { alpha, beta } => {
                let u = self.mul_s(x, alpha)?;
                let u = self.add_s(u, beta)?;
                let lo = self.cmp_s(u, BinaryOp::Gt, 0.0)?;
                let hi = self.cmp_s(u, BinaryOp::Lt, 1.0)?;
                let m = self.mul(lo, hi)?;
                self.mul_s(m, alpha)?
            }
            UnaryOp::Clip { min, max } => {
                let lo = self.cmp_s(x, BinaryOp::Gt, min)?;
                let hi = self.cmp_s(x, BinaryOp::Lt, max)?;
                self.mul(lo, hi)?
            }
        };
        self.mul(gy, d)
    }

    /// dy/dx of an activation as a graph value (x the input, y the output).
    fn activation_grad(&mut self, a: Activation, x: ValueId, y: ValueId) -> Result<ValueId> {
        use std::f32::consts::{FRAC_1_SQRT_2, PI};
        Ok(match a {
            Activation::None => self.s(1.0),
            // y > 0 exactly where x > 0: reading the output leaves the pre-activation with
            // one use, so the forward matmul/conv epilogue can still absorb the activation.
            Activation::Relu => self.cmp_s(y, BinaryOp::Gt, 0.0)?,
            Activation::LeakyRelu(al) => {
                let on = if al > 0.0 { y } else { x };
                let p = self.cmp_s(on, BinaryOp::Gt, 0.0)?;
                let one = self.s(1.0);
                let al = self.s(al);
                self.g.where_(p, one, al)?
            }
            Activation::Gelu => {
                // Phi(x) + x phi(x).
                let xs = self.mul_s(x, FRAC_1_SQRT_2)?;
                let e = self.un(xs, UnaryOp::Erf)?;
                let e1 = self.add_s(e, 1.0)?;
                let cdf = self.mul_s(e1, 0.5)?;
                let xx = self.mul(x, x)?;
                let h = self.mul_s(xx, -0.5)?;
                let ex = self.un(h, UnaryOp::Exp)?;
                let pdf = self.mul_s(ex, 1.0 / (2.0 * PI).sqrt())?;
                let xp = self.mul(x, pdf)?;
                self.add(cdf, xp)?
            }
            Activation::GeluTanh => {
                // t = tanh(c (x + k x^3)); 0.5 (1 + t) + 0.5 x (1 - t^2) c (1 + 3 k x^2).
                let (c, k) = ((2.0 / PI).sqrt(), 0.044715f32);
                let xx = self.mul(x, x)?;
                let x3 = self.mul(xx, x)?;
                let kx3 = self.mul_s(x3, k)?;
                let inner = self.add(x, kx3)?;
                let inner = self.mul_s(inner, c)?;
                let t = self.un(inner, UnaryOp::Act(Activation::Tanh))?;
                let t1 = self.add_s(t, 1.0)?;
                let left = self.mul_s(t1, 0.5)?;
                let tt = self.mul(t, t)?;
                let one = self.s(1.0);
                let sech2 = self.sub(one, tt)?;
                let kxx = self.mul_s(xx, 3.0 * k)?;
                let poly = self.add_s(kxx, 1.0)?;
                let r = self.mul(sech2, poly)?;
                let r = self.mul(r, x)?;
                let right = self.mul_s(r, 0.5 * c)?;
                self.add(left, right)?
            }
            Activation::Silu => {
                // s (1 + x (1 - s)).
                let s = self.un(x, UnaryOp::Act(Activation::Sigmoid))?;
                let one = self.s(1.0);
                let oms = self.sub(one, s)?;
                let xo = self.mul(x, oms)?;
                let t = self.add_s(xo, 1.0)?;
                self.mul(s, t)?
            }
            Activation::Sigmoid => {
                let one = self.s(1.0);
                let omy = self.sub(one, y)?;
                self.mul(y, omy)?
            }
            Activation::Tanh => {
                let yy = self.mul(y, y)?;
                let one = self.s(1.0);
                self.sub(one, yy)?
            }
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn binary_grad(
        &mut self,
        op: BinaryOp,
        a: ValueId,
        b: ValueId,
        y: ValueId,
        gy: ValueId,
        na: bool,
        nb: bool,
    ) -> Result<(Option<ValueId>, Option<ValueId>)> {
        let mut ga = None;
        let mut gb = None;
        match op {
            BinaryOp::Add => {
                ga = na.then_some(gy);
                gb = nb.then_some(gy);
            }
            BinaryOp::Sub => {
                ga = na.then_some(gy);
                if nb {
                    gb = Some(self.un(gy, UnaryOp::Neg)?);
                }
            }
            BinaryOp::Mul => {
                if na {
                    ga = Some(self.mul(gy, b)?);
                }
                if nb {
                    gb = Some(self.mul(gy, a)?);
                }
            }
            BinaryOp::Div => {
                if na {
                    ga = Some(self.div(gy, b)?);
                }
                if nb {
                    // -gy * y / b.
                    let t = self.mul(gy, y)?;
                    let t = self.div(t, b)?;
                    gb = Some(self.un(t, UnaryOp::Neg)?);
                }
            }
            BinaryOp::Pow => {
                if na {
                    // b * a^(b - 1).
                    let bm1 = self.add_s(b, -1.0)?;
                    let p = self.bin(a, bm1, BinaryOp::Pow)?;
                    let d = self.mul(b, p)?;
                    ga = Some(self.mul(gy, d)?);
                }
                if nb {
                    let l = self.un(a, UnaryOp::Log)?;
                    let d = self.mul(y, l)?;
                    gb = Some(self.mul(gy, d)?);
                }
            }
            BinaryOp::Max | BinaryOp::Min => {
                // The first operand wins ties.
                let (first, second) = if op == BinaryOp::Max {
                    (BinaryOp::Ge, BinaryOp::Lt)
                } else {
                    (BinaryOp::Le, BinaryOp::Gt)
                };
                if na {
                    let m = self.bin(a, b, first)?;
                    ga = Some(self.mul(gy, m)?);
                }
                if nb {
                    let m = self.bin(a, b, second)?;
                    gb = Some(self.mul(gy, m)?);
                }
            }
            _ => {}
        }
        Ok((ga, gb))
    }

    fn norm_grad(
        &mut self,
        ins: &[ValueId],
        gy: ValueId,
        norm_dims: usize,
        eps: f32,
        rms: bool,
        needs: &dyn Fn(usize) -> bool,
    ) -> Result<Vec<(ValueId, ValueId)>> {
        let x = ins[0];
        let rank = self.shape(x).len();
        let axes: Vec<isize> = (rank - norm_dims..rank).map(|a| a as isize).collect();
        let ax = Some(axes.as_slice());
        // Recompute the normalised input and 1/sigma (the forward kernel keeps neither).
        let (xc, var) = if rms {
            let xx = self.mul(x, x)?;
            (x, self.g.reduce(xx, ReduceKind::Mean, ax, true)?)
        } else {
            let mean = self.g.reduce(x, ReduceKind::Mean, ax, true)?;
            let xc = self.sub(x, mean)?;
            let xx = self.mul(xc, xc)?;
            (xc, self.g.reduce(xx, ReduceKind::Mean, ax, true)?)
        };
        let ve = self.add_s(var, eps)?;
        let inv = self.un(ve, UnaryOp::Rsqrt)?;
        let xhat = self.mul(xc, inv)?;
        let mut out = Vec::new();
        if needs(0) {
            let gxhat = match ins.get(1) {
                Some(&gamma) => self.mul(gy, gamma)?,
                None => gy,
            };
            let gx_xhat = self.mul(gxhat, xhat)?;
            let m2 = self.g.reduce(gx_xhat, ReduceKind::Mean, ax, true)?;
            let t = self.mul(xhat, m2)?;
            let mut d = self.sub(gxhat, t)?;
            if !rms {
                let m1 = self.g.reduce(gxhat, ReduceKind::Mean, ax, true)?;
                d = self.sub(d, m1)?;
            }
            out.push((x, self.mul(inv, d)?));
        }
        if needs(1) {
            out.push((ins[1], self.mul(gy, xhat)?));
        }
        if needs(2) {
            out.push((ins[2], gy));
        }
        Ok(out)
    }

    /// Expands grouped key/value heads [B, Hk, S, D] to [B, Hk * rep, S, D].
    fn expand_heads(&mut self, k: ValueId, rep: usize) -> Result<ValueId> {
        if rep == 1 {
            return Ok(k);
        }
        let s = self.shape(k);
        let k5 = self.g.reshape(k, &[s[0], s[1], 1, s[2], s[3]])?;
        let kb = self.g.broadcast_to(k5, &[s[0], s[1], rep, s[2], s[3]])?;
        self.g.reshape(kb, &[s[0], s[1] * rep, s[2], s[3]])
    }

    /// Sums the gradient of expanded heads [B, Hk * rep, S, D] back to [B, Hk, S, D].
    fn fold_heads(&mut self, g: ValueId, hk: usize, rep: usize) -> Result<ValueId> {
        if rep == 1 {
            return Ok(g);
        }
        let s = self.shape(g);
        let g5 = self.g.reshape(g, &[s[0], hk, rep, s[2], s[3]])?;
        self.g.reduce(g5, ReduceKind::Sum, Some(&[2]), false)
    }

    fn attention_grad(
        &mut self,
        ins: &[ValueId],
        gy: ValueId,
        causal: bool,
        scale: Option<f32>,
        needs: &dyn Fn(usize) -> bool,
    ) -> Result<Vec<(ValueId, ValueId)>> {
        let (q, k, v) = (ins[0], ins[1], ins[2]);
        let (qs, ks) = (self.shape(q), self.shape(k));
        let (sq, sk, d) = (qs[2], ks[2], qs[3]);
        let (h, hk) = (qs[1], ks[1]);
        let rep = h / hk;
        let sc = scale.unwrap_or(1.0 / (d as f32).sqrt());
        let kx = self.expand_heads(k, rep)?;
        let vx = self.expand_heads(v, rep)?;
        // Recompute P = softmax(scale q k^T [+ causal mask]).
        let kt = self.g.transpose(kx, -1, -2)?;
        let s = self.g.matmul(q, kt)?;
        let mut s = self.mul_s(s, sc)?;
        if causal {
            // Top-left aligned, as the forward kernel: query i sees keys 0..=i.
            let mask: Vec<f32> = (0..sq * sk).map(|e| f32::from(e % sk <= e / sk)).collect();
            let m = self.g.constant("causal_mask", mask, &[sq, sk])?;
            let neg = self.s(-1e30);
            s = self.g.where_(m, s, neg)?;
        }
        let p = self.g.softmax(s, -1)?;
        let mut out = Vec::new();
        if needs(2) {
            let pt = self.g.transpose(p, -1, -2)?;
            let gv = self.g.matmul(pt, gy)?;
            out.push((v, self.fold_heads(gv, hk, rep)?));
        }
        if needs(0) || needs(1) {
            let vt = self.g.transpose(vx, -1, -2)?;
            let gp = self.g.matmul(gy, vt)?;
            let gpp = self.mul(gp, p)?;
            let rs = self.g.reduce(gpp, ReduceKind::Sum, Some(&[-1]), true)?;
            let dd = self.sub(gp, rs)?;
            let gs = self.mul(p, dd)?;
            let gs = self.mul_s(gs, sc)?;
            if needs(0) {
                out.push((q, self.g.matmul(gs, kx)?));
            }
            if needs(1) {
                let gst = self.g.transpose(gs, -1, -2)?;
                let gk = self.g.matmul(gst, q)?;
                out.push((k, self.fold_heads(gk, hk, rep)?));
            }
        }
        Ok(out)
    }
}
