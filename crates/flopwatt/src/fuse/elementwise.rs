//! Fuser (a): chains and trees of elementwise ops -> one generated kernel.
//!
//! Working from the last node back, each unclaimed elementwise node roots a tree; an
//! elementwise input joins the tree when it has no other use (so nothing is computed twice
//! and no intermediate is lost) and the tree stays within the kernel's input limit. Inputs
//! of different shapes broadcast inside the kernel; a producer of a smaller shape that joins a
//! broadcast consumer is evaluated per output element, which gives the same value.
//! Scalars become literals. With fusion off every elementwise node is its own tree of one op.

use super::{Ctx, Step};
use crate::fuse::Kernel;
use crate::graph::{Op, ValueId};
use crate::ops::elementwise::{Expr, MAX_INPUTS};

struct Builder<'a, 'g> {
    ctx: &'a Ctx<'g>,
    fusion: bool,
    leaves: Vec<ValueId>,
    absorbed: Vec<usize>,
}

impl Builder<'_, '_> {
    fn leaf(&mut self, v: ValueId) -> Expr {
        if let Some(s) = self.ctx.scalar(v) {
            return Expr::Const(s);
        }
        let i = match self.leaves.iter().position(|&l| l == v) {
            Some(i) => i,
            None => {
                self.leaves.push(v);
                self.leaves.len() - 1
            }
        };
        Expr::Input(i)
    }

    /// The expression of node `v`'s op over its inputs (children absorbed when allowed).
    fn node_expr(&mut self, v: ValueId) -> Expr {
        let node = self.ctx.graph.node(v);
        let kids: Vec<Expr> = node.inputs.iter().map(|&c| self.child(c)).collect();
        let mut it = kids.into_iter();
        let mut next = || it.next().expect("arity checked by the builder");
        match &node.op {
            Op::Unary(op) => Expr::Unary(*op, Box::new(next())),
            Op::Binary(op) => {
                let a = next();
                Expr::Binary(*op, Box::new(a), Box::new(next()))
            }
            Op::Where => {
                let c = next();
                let a = next();
                Expr::Where(Box::new(c), Box::new(a), Box::new(next()))
            }
            Op::Cast(d) => Expr::Cast(*d, Box::new(next())),
            _ => unreachable!("node_expr on a non-elementwise node"),
        }
    }

    fn child(&mut self, c: ValueId) -> Expr {
        let absorbable = self.fusion
            && self.ctx.graph.node(c).op.is_elementwise()
            && self.ctx.sole_consumer(c.0).is_some();
        if !absorbable {
            return self.leaf(c);
        }
        let (nl, na) = (self.leaves.len(), self.absorbed.len());
        self.absorbed.push(c.0);
        let e = self.node_expr(c);
        if self.leaves.len() > MAX_INPUTS {
            // Too many inputs for one kernel: keep `c` as its own kernel and read its result.
            self.leaves.truncate(nl);
            self.absorbed.truncate(na);
            return self.leaf(c);
        }
        e
    }
}

/// The fused tree rooted at elementwise node `root` (absorbing children as [`fuse`] does):
/// its expression, its leaves (`Expr::Input(i)` is `leaves[i]`) and the absorbed nodes. Claims
/// nothing; other fusers (reduction prologues and epilogues) use it so that one rule decides
/// what an elementwise tree is.
pub(super) fn tree(ctx: &Ctx, root: ValueId) -> (Expr, Vec<ValueId>, Vec<usize>) {
    let mut b = Builder {
        ctx,
        fusion: true,
        leaves: Vec::new(),
        absorbed: Vec::new(),
    };
    let expr = b.node_expr(root);
    (expr, b.leaves, b.absorbed)
}

/// Claims elementwise nodes and returns one step per tree (root last in each).
pub fn fuse(ctx: &mut Ctx, fusion: bool) -> Vec<Step> {
    let n = ctx.graph.nodes().len();
    let mut steps = Vec::new();
    for i in (0..n).rev() {
        if ctx.claimed[i] || !ctx.graph.nodes()[i].op.is_elementwise() {
            continue;
        }
        let mut b = Builder {
            ctx,
            fusion,
            leaves: Vec::new(),
            absorbed: Vec::new(),
        };
        let expr = b.node_expr(ValueId(i));
        let (leaves, absorbed) = (b.leaves, b.absorbed);
        let mut covers = absorbed.clone();
        covers.push(i);
        covers.sort_unstable();
        for a in absorbed {
            ctx.claimed[a] = true;
        }
        ctx.claimed[i] = true;
        steps.push(Step {
            kernel: Kernel::Elementwise(expr),
            inputs: leaves,
            output: ValueId(i),
            covers,
            extra_outputs: vec![],
        });
    }
    steps
}
