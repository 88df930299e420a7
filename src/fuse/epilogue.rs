//! Fuser (b): matmul and conv2d epilogues.
//!
//! matmul -> [* scalar] -> [+ bias of shape \[N\]] -> \[activation\] -> [+ residual] maps onto the
//! matmul kernel's epilogue `act(alpha * AB + bias) + residual`; conv2d -> \[activation\] onto
//! the conv kernel's activation slot. Each stage is taken only when the value before it has
//! no other use, in this order only (the kernel's order), so the fused result is the
//! unfused result up to f32 rounding of the same operations.

use super::{Ctx, Kernel, Step};
use crate::graph::{Op, ValueId};
use crate::ops::elementwise::{BinaryOp, UnaryOp};
use crate::ops::Activation;
use crate::tensor::broadcast_shapes;

/// The other operand of binary node `c` when one of its operands is `v`.
fn other(ctx: &Ctx, c: usize, v: usize) -> Option<ValueId> {
    let ins = &ctx.graph.nodes()[c].inputs;
    match (ins[0].0 == v, ins[1].0 == v) {
        (true, false) => Some(ins[1]),
        (false, true) => Some(ins[0]),
        _ => None,
    }
}

fn binary_op(ctx: &Ctx, c: usize) -> Option<BinaryOp> {
    match ctx.graph.nodes()[c].op {
        Op::Binary(op) => Some(op),
        _ => None,
    }
}

/// Claims matmul and conv epilogue chains.
pub fn fuse(ctx: &mut Ctx) -> Vec<Step> {
    let mut steps = Vec::new();
    for i in 0..ctx.graph.nodes().len() {
        if ctx.claimed[i] {
            continue;
        }
        match ctx.graph.nodes()[i].op {
            Op::MatMul => {
                if let Some(s) = matmul_chain(ctx, i) {
                    steps.push(s);
                }
            }
            Op::Conv2d(attrs) => {
                let Some(c) = ctx.sole_consumer(i) else {
                    continue;
                };
                let Op::Unary(UnaryOp::Act(a)) = ctx.graph.nodes()[c].op else {
                    continue;
                };
                ctx.claimed[i] = true;
                ctx.claimed[c] = true;
                steps.push(Step {
                    kernel: Kernel::Conv2d {
                        attrs,
                        activation: a,
                    },
                    inputs: ctx.graph.nodes()[i].inputs.clone(),
                    output: ValueId(c),
                    covers: vec![i, c],
                    extra_outputs: vec![],
                });
            }
            _ => {}
        }
    }
    steps
}

fn matmul_chain(ctx: &mut Ctx, m: usize) -> Option<Step> {
    let out_shape = ctx.graph.nodes()[m].shape.clone();
    let n = *out_shape.last()?;
    let mut cur = m;
    let mut covers = vec![m];
    let mut alpha = 1.0f32;
    let mut bias = None;
    let mut activation = Activation::None;
    let mut residual = None;
    // Stage 1: * scalar.
    if let Some(c) = ctx.sole_consumer(cur) {
        if binary_op(ctx, c) == Some(BinaryOp::Mul) {
            if let Some(s) = other(ctx, c, cur).and_then(|o| ctx.scalar(o)) {
                alpha = s;
                cur = c;
                covers.push(c);
            }
        }
    }
    // Stage 2: + bias[N].
    if let Some(c) = ctx.sole_consumer(cur) {
        if binary_op(ctx, c) == Some(BinaryOp::Add) {
            if let Some(o) = other(ctx, c, cur) {
                if ctx.graph.shape(o) == [n] && ctx.scalar(o).is_none() {
                    bias = Some(o);
                    cur = c;
                    covers.push(c);
                }
            }
        }
    }
    // Stage 3: activation.
    if let Some(c) = ctx.sole_consumer(cur) {
        if let Op::Unary(UnaryOp::Act(a)) = ctx.graph.nodes()[c].op {
            if a != Activation::None {
                activation = a;
                cur = c;
                covers.push(c);
            }
        }
    }
    // Stage 4: + residual broadcastable to the output (the output shape must not grow).
    if let Some(c) = ctx.sole_consumer(cur) {
        if binary_op(ctx, c) == Some(BinaryOp::Add) {
            if let Some(o) = other(ctx, c, cur) {
                let fits = broadcast_shapes(&out_shape, ctx.graph.shape(o)).as_deref()
                    == Some(&out_shape[..]);
                if fits && ctx.scalar(o).is_none() {
                    residual = Some(o);
                    cur = c;
                    covers.push(c);
                }
            }
        }
    }
    if cur == m {
        return None;
    }
    for &c in &covers {
        ctx.claimed[c] = true;
    }
    let mut inputs = ctx.graph.nodes()[m].inputs.clone();
    inputs.extend(bias);
    inputs.extend(residual);
    Some(Step {
        kernel: Kernel::MatMul {
            alpha,
            bias: bias.is_some(),
            activation,
            residual: residual.is_some(),
        },
        inputs,
        output: ValueId(cur),
        covers,
        extra_outputs: vec![],
    })
}
