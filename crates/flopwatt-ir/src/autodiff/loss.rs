//! Losses as graph builders: each returns a scalar (shape `[]`) value, or the per-sample
//! losses with [`Reduction::None`], differentiable by [`super::grad`].

use crate::error::{Error, Result};
use crate::graph::{Graph, ReduceKind, ValueId};
use crate::op::BinaryOp;

/// How per-element (or per-sample) losses are combined.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Reduction {
    /// The mean (PyTorch's default).
    #[default]
    Mean,
    /// The sum.
    Sum,
    /// No reduction: one loss per element (MSE) or per sample (cross-entropy).
    None,
}

fn reduce(g: &mut Graph, v: ValueId, r: Reduction) -> Result<ValueId> {
    match r {
        Reduction::Mean => g.reduce(v, ReduceKind::Mean, None, false),
        Reduction::Sum => g.reduce(v, ReduceKind::Sum, None, false),
        Reduction::None => Ok(v),
    }
}

/// Mean-squared error `(pred - target)^2` reduced by `r`; shapes must be equal.
pub fn mse(g: &mut Graph, pred: ValueId, target: ValueId, r: Reduction) -> Result<ValueId> {
    if g.shape(pred) != g.shape(target) {
        return Err(Error::shape(
            "mse",
            format!(
                "prediction {:?} and target {:?} differ",
                g.shape(pred),
                g.shape(target)
            ),
        ));
    }
    let d = g.sub(pred, target)?;
    let sq = g.mul(d, d)?;
    reduce(g, sq, r)
}

/// Targets of [`cross_entropy_with_logits`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// Integer class indices stored as f32 (graphs compute in f32; indices below 2^24 are
    /// exact), shape = the logits' shape without the class axis.
    Classes(ValueId),
    /// Class probabilities (or one-hot rows), the logits' shape.
    Probabilities(ValueId),
}

/// Cross-entropy of `logits` [.., C] (classes on the last axis) against `target`, computed
/// as `-sum(target * log_softmax(logits))` per sample (stable: log-softmax subtracts the max),
/// then reduced by `r`. Class indices become a one-hot mask in the graph (a comparison with
/// the constant 0..C), so the whole loss stays elementwise-fusable and differentiable.
pub fn cross_entropy_with_logits(
    g: &mut Graph,
    logits: ValueId,
    target: Target,
    r: Reduction,
) -> Result<ValueId> {
    const OP: &str = "cross_entropy";
    let ls = g.shape(logits).to_vec();
    let Some((&c, batch)) = ls.split_last() else {
        return Err(Error::shape(OP, "logits need a class axis, got shape []"));
    };
    let t = match target {
        Target::Probabilities(t) => {
            if g.shape(t) != ls.as_slice() {
                return Err(Error::shape(
                    OP,
                    format!("probabilities {:?} must match logits {ls:?}", g.shape(t)),
                ));
            }
            t
        }
        Target::Classes(t) => {
            if g.shape(t) != batch {
                return Err(Error::shape(
                    OP,
                    format!(
                        "class targets {:?} must be the logits' shape {ls:?} without its last axis",
                        g.shape(t)
                    ),
                ));
            }
            let mut col = batch.to_vec();
            col.push(1);
            let tc = g.reshape(t, &col)?;
            let iota = g.constant("classes", (0..c).map(|i| i as f32).collect(), &[c])?;
            g.binary(tc, iota, BinaryOp::Eq)?
        }
    };
    let lsm = g.log_softmax(logits, -1)?;
    let tl = g.mul(t, lsm)?;
    let s = g.reduce(tl, ReduceKind::Sum, Some(&[-1]), false)?;
    let nll = g.scale(s, -1.0)?;
    reduce(g, nll, r)
}
