//! Fuser (c): reduction prologues, `softmax(x * s + mask)` into the softmax kernel.
//!
//! Matches softmax (or log-softmax) whose input is `x * s` (a scalar), `x + mask`, or
//! `x * s + mask`, each intermediate used only by the next op; `x` must have the softmax's
//! shape and `mask` may be any non-scalar value that broadcasts to it (a mask needs the last
//! axis, as attention scores have, and rank <= 5). The softmax kernel applies the prologue as
//! it reads each row (`ops::norm::encode_softmax_prologue`): one dispatch, no intermediate.
//! The unfused twin is one elementwise kernel and the plain softmax; both compute
//! `x * s + mask` in f32 in that order, so results agree up to the softmax's own rounding.

use super::{Ctx, Kernel, Step};
use crate::graph::{Op, ValueId};
use crate::ops::elementwise::BinaryOp;
use crate::tensor::broadcast_shapes;

fn binary_op(ctx: &Ctx, v: ValueId) -> Option<BinaryOp> {
    match ctx.graph.node(v).op {
        Op::Binary(op) => Some(op),
        _ => None,
    }
}

/// `(s, x)` when `v` is `x * s` or `s * x` for a scalar `s`.
fn scaled(ctx: &Ctx, v: ValueId) -> Option<(f32, ValueId)> {
    if binary_op(ctx, v)? != BinaryOp::Mul {
        return None;
    }
    let ins = &ctx.graph.node(v).inputs;
    match (ctx.scalar(ins[0]), ctx.scalar(ins[1])) {
        (None, Some(s)) => Some((s, ins[0])),
        (Some(s), None) => Some((s, ins[1])),
        _ => None,
    }
}

/// Claims softmax prologues.
pub fn fuse(ctx: &mut Ctx) -> Vec<Step> {
    let mut steps = Vec::new();
    for sm in 0..ctx.graph.nodes().len() {
        if ctx.claimed[sm] {
            continue;
        }
        if let Some(s) = softmax(ctx, sm) {
            for &c in &s.covers {
                ctx.claimed[c] = true;
            }
            steps.push(s);
        }
    }
    steps
}

fn softmax(ctx: &Ctx, sm: usize) -> Option<Step> {
    let g = ctx.graph;
    let node = &g.nodes()[sm];
    let Op::Softmax { axis, log } = node.op else {
        return None;
    };
    let shape = &node.shape;
    let full = |v: ValueId| g.shape(v) == shape.as_slice();
    let mut covers = vec![sm];
    let mut x = node.inputs[0];
    let mut mask = None;
    let mut scale = 1.0f32;
    let feeds = |v: ValueId, into: usize| ctx.sole_consumer(v.0) == Some(into);
    // + mask (last axis only).
    if axis + 1 == shape.len()
        && shape.len() <= 5
        && feeds(x, sm)
        && binary_op(ctx, x) == Some(BinaryOp::Add)
    {
        let ins = &g.node(x).inputs;
        let maskable = |v: ValueId| {
            ctx.scalar(v).is_none()
                && broadcast_shapes(g.shape(v), shape).as_deref() == Some(shape.as_slice())
        };
        // The data operand has the full shape; prefer the scaled one when both do.
        let is_scaled = |v: ValueId| feeds(v, x.0) && scaled(ctx, v).is_some();
        let prefer_first = is_scaled(ins[0]) || !is_scaled(ins[1]);
        let pick = if full(ins[0]) && maskable(ins[1]) && prefer_first {
            Some((ins[0], ins[1]))
        } else if full(ins[1]) && maskable(ins[0]) {
            Some((ins[1], ins[0]))
        } else {
            None
        };
        if let Some((d, m)) = pick {
            covers.push(x.0);
            mask = Some(m);
            x = d;
        }
    }
    // * scalar.
    let into = *covers.last().expect("softmax is covered");
    if feeds(x, into) {
        if let Some((s, d)) = scaled(ctx, x) {
            if full(d) {
                covers.push(x.0);
                scale = s;
                x = d;
            }
        }
    }
    if covers.len() == 1 {
        return None;
    }
    covers.sort_unstable();
    let mut inputs = vec![x];
    inputs.extend(mask);
    Some(Step {
        kernel: Kernel::SoftmaxPrologue {
            axis,
            log,
            scale,
            mask: mask.is_some(),
        },
        inputs,
        output: ValueId(sm),
        covers,
        extra_outputs: vec![],
    })
}
