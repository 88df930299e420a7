//! Fuser (d): the attention pattern -> the fused attention kernel.
//!
//! Matches `matmul(softmax(matmul(q, transpose(k, -2, -1)) [* s | / s] [+ mask], -1), v)`
//! over rank-4 [batch, heads, seq, head_dim] operands with equal head counts, every
//! intermediate used once. The fused kernel never writes the seq x seq scores. An f32 mask
//! added after the scale (what BERT-style exports do with the attention mask) becomes the
//! kernel's additive mask, read through its broadcast strides.
//! A `transpose(·, 1, 2)` that is the only use of an unmasked attention output (the start of
//! a head merge, also after an `Op::Attention` node) folds into the kernel's store: it writes
//! rows heads-last, so the transpose and the reshape after it are views.

use super::{Ctx, Kernel, Step};
use crate::graph::{Op, ValueId};
use crate::ops::elementwise::BinaryOp;

/// Whether the fused attention kernel is in this build (when false, the pattern runs
/// unfused: matmul, softmax, matmul; correct, only slower).
pub const KERNEL_AVAILABLE: bool = true;

/// Claims attention patterns (and attention ops followed by a head merge).
pub fn fuse(ctx: &mut Ctx) -> Vec<Step> {
    let mut steps = Vec::new();
    for sm in 0..ctx.graph.nodes().len() {
        if let Some(s) = try_match(ctx, sm).or_else(|| attention_op(ctx, sm)) {
            for &c in &s.covers {
                ctx.claimed[c] = true;
            }
            steps.push(s);
        }
    }
    steps
}

fn attention_op(ctx: &Ctx, a: usize) -> Option<Step> {
    let node = &ctx.graph.nodes()[a];
    let Op::Attention { causal, scale } = node.op else {
        return None;
    };
    if ctx.claimed[a] {
        return None;
    }
    let t = merge_heads(ctx, a)?;
    Some(Step {
        kernel: Kernel::Attention {
            causal,
            scale,
            heads_last: true,
        },
        inputs: node.inputs.clone(),
        output: ValueId(t),
        covers: vec![a, t],
        extra_outputs: vec![],
    })
}

fn try_match(ctx: &Ctx, sm: usize) -> Option<Step> {
    let g = ctx.graph;
    let node = &g.nodes()[sm];
    let Op::Softmax { axis, log: false } = node.op else {
        return None;
    };
    if node.shape.len() != 4 || axis != 3 || ctx.claimed[sm] {
        return None;
    }
    // Forward: softmax -> matmul(., v).
    let out = ctx.sole_consumer(sm)?;
    let on = &g.nodes()[out];
    if on.op != Op::MatMul || on.inputs[0].0 != sm || on.inputs[1].0 == sm {
        return None;
    }
    let v = on.inputs[1];
    // Backward: [* scalar] then matmul(q, kT).
    let mut covers = vec![sm, out];
    let mut x = node.inputs[0].0;
    let mut scale = 1.0f32;
    let mut mask = None;
    if let Op::Binary(BinaryOp::Add) = g.nodes()[x].op {
        // Either operand may be the scores; addition commutes, so the other is the mask.
        let ins = &g.nodes()[x].inputs;
        let scores_like = |v: ValueId| {
            g.shape(v) == node.shape.as_slice()
                && matches!(
                    g.node(v).op,
                    Op::MatMul | Op::Binary(BinaryOp::Mul) | Op::Binary(BinaryOp::Div)
                )
        };
        let (s, m) = if scores_like(ins[0]) {
            (ins[0], ins[1])
        } else if scores_like(ins[1]) {
            (ins[1], ins[0])
        } else {
            return None;
        };
        let mn = g.node(m);
        if mn.dtype != crate::tensor::DType::F32 || mn.shape.len() > 4 || ctx.scalar(m).is_some() {
            return None;
        }
        ctx.sole_consumer(x)?;
        covers.push(x);
        mask = Some(m);
        x = s.0;
    }
    if let Op::Binary(op @ (BinaryOp::Mul | BinaryOp::Div)) = g.nodes()[x].op {
        let ins = &g.nodes()[x].inputs;
        let (s, other) = match (ctx.scalar(ins[0]), ctx.scalar(ins[1])) {
            (Some(s), None) if op == BinaryOp::Mul => (s, ins[1].0),
            (None, Some(s)) if op == BinaryOp::Mul => (s, ins[0].0),
            (None, Some(s)) if s != 0.0 => (1.0 / s, ins[0].0),
            _ => return None,
        };
        ctx.sole_consumer(x)?;
        covers.push(x);
        scale = s;
        x = other;
    }
    let qk = &g.nodes()[x];
    if qk.op != Op::MatMul || ctx.sole_consumer(x).is_none() {
        return None;
    }
    covers.push(x);
    let (q, kt) = (qk.inputs[0], qk.inputs[1]);
    let ktn = &g.nodes()[kt.0];
    if !matches!(ktn.op, Op::Transpose(2, 3) | Op::Transpose(3, 2)) {
        return None;
    }
    let k = ktn.inputs[0];
    if ctx.sole_consumer(kt.0).is_some() {
        covers.push(kt.0);
    }
    let (sq, sk, sv) = (g.shape(q), g.shape(k), g.shape(v));
    let ok = sq.len() == 4 && sk == sv && sq[0] == sk[0] && sq[1] == sk[1] && sq[3] == sk[3];
    if !ok {
        return None;
    }
    // The masked kernel stores heads-first: a head merge after it stays a transpose.
    let merged = if mask.is_none() {
        merge_heads(ctx, out)
    } else {
        None
    };
    let (heads_last, output) = match merged {
        Some(t) => {
            covers.push(t);
            (true, t)
        }
        None => (false, out),
    };
    covers.sort_unstable();
    let (kernel, inputs) = match mask {
        Some(m) => (Kernel::MaskedAttention { scale }, vec![q, k, v, m]),
        None => (
            Kernel::Attention {
                causal: false,
                scale: Some(scale),
                heads_last,
            },
            vec![q, k, v],
        ),
    };
    Some(Step {
        kernel,
        inputs,
        output: ValueId(output),
        covers,
        extra_outputs: vec![],
    })
}

/// The `transpose(a, 1, 2)` that is the only use of attention output `a` (the start of a
/// head merge): the kernel can store heads-last and the transpose becomes free.
pub fn merge_heads(ctx: &Ctx, a: usize) -> Option<usize> {
    let t = ctx.sole_consumer(a)?;
    let tn = &ctx.graph.nodes()[t];
    (ctx.graph.nodes()[a].shape.len() == 4
        && matches!(tn.op, Op::Transpose(1, 2) | Op::Transpose(2, 1))
        && !ctx.claimed[t])
        .then_some(t)
}
