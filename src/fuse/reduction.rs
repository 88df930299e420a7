//! Fuser (d): reduction prologues and row epilogues -> one fused reduction kernel
//! ([`crate::ops::reduce_fused`]).
//!
//! - *Prologue*: a reduction whose input is an elementwise tree used by nothing else
//!   (`sum(x * x)`, `mean(|x - y|)`, `max(exp(x))`, with broadcasting) reads its leaves
//!   through the tree's expression: the intermediate is never written.
//! - *Epilogue*: a reduction over the trailing axes with keepdims whose only consumer is an
//!   elementwise tree of the reduction input's shape (`x - mean(x)`, `(x - mean(x))^2`,
//!   `x * rsqrt(mean(x * x) + eps) * g`) runs row by row: the row's result stays in a register
//!   and the tree is evaluated over the row right after, so the reduction result is not
//!   written and re-read by a second pass. Taken when a row is short enough for one
//!   invocation or workgroup ([`MAX_ROW`]) or there are rows enough to fill the device.
//!
//! Trees are built by the elementwise fuser's own rule (`super::elementwise::tree`: a node
//! joins when it has no other use), so nothing is computed twice and no value another step
//! reads is lost. Leaves must be f32 or i32 and the trees free of f16 casts. The unfused twin
//! is the elementwise kernel(s) plus the plain reduction, which compute the same f32
//! expression per element and reduce it with the same combine rules (NaN ignored by max/min).

use super::{elementwise, Ctx, Kernel, Step};
use crate::graph::{Op, ReduceKind, ValueId};
use crate::ops::elementwise::{expr_uses_f16, Expr};
use crate::ops::reduce::ReduceOp;
use crate::ops::reduce_fused::{FusedReduce, MAX_INPUTS};
use crate::tensor::{broadcast_shapes, numel, DType};

/// Longest row a row epilogue takes whatever the row count: past this, few long rows would
/// leave most of the device idle (one invocation or workgroup per row), and the unfused
/// multi-pass reduction wins.
pub const MAX_ROW: usize = 1 << 16;
/// Row count from which any row length is fused (enough rows to fill the device).
const MIN_ROWS: usize = 256;

/// `e` with every `Input(i)` replaced by `Input(f(i))`.
fn remap(e: &Expr, f: &dyn Fn(usize) -> usize) -> Expr {
    match e {
        Expr::Input(i) => Expr::Input(f(*i)),
        Expr::Const(c) => Expr::Const(*c),
        Expr::Unary(op, a) => Expr::Unary(*op, Box::new(remap(a, f))),
        Expr::Binary(op, a, b) => Expr::Binary(*op, Box::new(remap(a, f)), Box::new(remap(b, f))),
        Expr::Where(c, a, b) => Expr::Where(
            Box::new(remap(c, f)),
            Box::new(remap(a, f)),
            Box::new(remap(b, f)),
        ),
        Expr::Cast(d, a) => Expr::Cast(*d, Box::new(remap(a, f))),
    }
}

fn op_of(kind: ReduceKind) -> ReduceOp {
    match kind {
        ReduceKind::Sum => ReduceOp::Sum,
        ReduceKind::Mean => ReduceOp::Mean,
        ReduceKind::Max => ReduceOp::Max,
        ReduceKind::Min => ReduceOp::Min,
    }
}

/// Whether a tree with these leaves and expression fits the fused kernel.
fn fits(ctx: &Ctx, leaves: &[ValueId], e: &Expr) -> bool {
    leaves.len() <= MAX_INPUTS
        && !expr_uses_f16(e)
        && leaves
            .iter()
            .all(|&l| matches!(ctx.graph.node(l).dtype, DType::F32 | DType::I32))
}

/// Claims reduction prologues and epilogues.
pub fn fuse(ctx: &mut Ctx) -> Vec<Step> {
    let mut steps = Vec::new();
    for r in 0..ctx.graph.nodes().len() {
        if ctx.claimed[r] {
            continue;
        }
        if let Some(s) = reduction(ctx, r) {
            for &c in &s.covers {
                ctx.claimed[c] = true;
            }
            steps.push(s);
        }
    }
    steps
}

fn reduction(ctx: &mut Ctx, r: usize) -> Option<Step> {
    let g = ctx.graph;
    let node = &g.nodes()[r];
    let Op::Reduce {
        kind,
        ref axes,
        keepdims,
    } = node.op
    else {
        return None;
    };
    let x = node.inputs[0];
    let shape = g.shape(x).to_vec();
    let mut covers = vec![r];
    // Prologue: the input's elementwise tree, when nothing else reads the input.
    let mut pre = Expr::Input(0);
    let mut leaves = vec![x];
    if g.node(x).op.is_elementwise() && ctx.sole_consumer(x.0) == Some(r) {
        let (e, l, absorbed) = elementwise::tree(ctx, x);
        if !l.is_empty() && fits(ctx, &l, &e) {
            pre = e;
            leaves = l;
            covers.extend(absorbed);
            covers.push(x.0);
        }
    }
    // Epilogue: a row-wise consumer tree of the input's shape.
    let rank = shape.len();
    let trailing = !axes.is_empty()
        && axes
            .iter()
            .enumerate()
            .all(|(k, &a)| a == rank - axes.len() + k);
    let row: usize = axes.iter().map(|&a| shape[a]).product();
    let rows = numel(&shape) / row.max(1);
    let mut post = None;
    let mut output = r;
    // Elementwise f32 nodes whose shape broadcasts into the input's: per-row values (of the
    // reduction's keepdims shape, such as `rsqrt(r + eps)`) are recomputed per element, which
    // costs a few flops where the unfused path pays a dispatch and a round trip.
    let within = |ctx: &Ctx, v: usize| {
        let n = &ctx.graph.nodes()[v];
        n.op.is_elementwise()
            && n.dtype == DType::F32
            && !ctx.claimed[v]
            && broadcast_shapes(&n.shape, &shape).as_deref() == Some(shape.as_slice())
    };
    if keepdims && trailing && (row <= MAX_ROW || rows >= MIN_ROWS) {
        // Climb the chain of sole consumers; the root is its last node of the input's shape.
        let mut cur = r;
        let mut top = None;
        while let Some(n) = ctx.sole_consumer(cur).filter(|&n| within(ctx, n)) {
            cur = n;
            if ctx.graph.nodes()[n].shape == shape {
                top = Some(n);
            }
        }
        if let Some(root) = top {
            // The prologue's nodes are taken: the consumer tree must not absorb them.
            for &cv in &covers {
                ctx.claimed[cv] = true;
            }
            let (e, l, absorbed) = elementwise::tree(ctx, ValueId(root));
            for &cv in &covers {
                ctx.claimed[cv] = false;
            }
            if let Some(ri) = l.iter().position(|&v| v.0 == r) {
                let mut union = leaves.clone();
                let mut map = vec![usize::MAX; l.len()];
                for (j, &v) in l.iter().enumerate() {
                    if j == ri {
                        continue;
                    }
                    map[j] = match union.iter().position(|&u| u == v) {
                        Some(k) => k,
                        None => {
                            union.push(v);
                            union.len() - 1
                        }
                    };
                }
                let red = union.len();
                map[ri] = red;
                let e = remap(&e, &|j| map[j]);
                if fits(ctx, &union, &e) {
                    leaves = union;
                    post = Some(e);
                    covers.extend(absorbed);
                    covers.push(root);
                    output = root;
                }
            }
        }
    }
    if post.is_none() && covers.len() == 1 {
        return None; // a plain reduction
    }
    covers.sort_unstable();
    covers.dedup();
    Some(Step {
        kernel: Kernel::ReduceFused(FusedReduce {
            op: op_of(kind),
            shape,
            axes: axes.clone(),
            keepdims,
            pre,
            post,
        }),
        inputs: leaves,
        output: ValueId(output),
        covers,
        extra_outputs: vec![],
    })
}
