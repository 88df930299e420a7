//! Optimisers as data: which update rule and its hyper-parameters (the runtime runs them as
//! in-place kernels; the reference in f64).

use crate::error::{Error, Result};

/// An optimiser and its hyper-parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Optimizer {
    /// Stochastic gradient descent; `momentum == 0` keeps no state.
    Sgd {
        /// Learning rate.
        lr: f32,
        /// Momentum (0 for plain SGD).
        momentum: f32,
        /// Nesterov momentum (needs `momentum > 0`).
        nesterov: bool,
        /// L2 weight decay added to the gradient.
        weight_decay: f32,
    },
    /// Adam, or AdamW with `decoupled` weight decay.
    Adam {
        /// Learning rate.
        lr: f32,
        /// First-moment decay.
        beta1: f32,
        /// Second-moment decay.
        beta2: f32,
        /// Denominator epsilon.
        eps: f32,
        /// Weight decay: L2 on the gradient (Adam) or decoupled (AdamW).
        weight_decay: f32,
        /// AdamW's decoupled weight decay.
        decoupled: bool,
    },
}

impl Optimizer {
    /// Plain SGD.
    pub fn sgd(lr: f32) -> Self {
        Optimizer::Sgd {
            lr,
            momentum: 0.0,
            nesterov: false,
            weight_decay: 0.0,
        }
    }

    /// Adam with PyTorch's defaults (0.9, 0.999, 1e-8, no weight decay).
    pub fn adam(lr: f32) -> Self {
        Optimizer::Adam {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            decoupled: false,
        }
    }

    /// AdamW with PyTorch's defaults and the given weight decay.
    pub fn adamw(lr: f32, weight_decay: f32) -> Self {
        Optimizer::Adam {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay,
            decoupled: true,
        }
    }

    /// State buffers per parameter (each the parameter's size).
    pub fn state_tensors(&self) -> usize {
        match self {
            Optimizer::Sgd { momentum, .. } => usize::from(*momentum != 0.0),
            Optimizer::Adam { .. } => 2,
        }
    }

    /// A typed error for hyper-parameters no update rule accepts (negative rates, betas outside [0, 1)).
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::invalid("optimizer", m));
        match *self {
            Optimizer::Sgd {
                lr,
                momentum,
                nesterov,
                weight_decay,
            } => {
                if !(lr >= 0.0 && momentum >= 0.0 && weight_decay >= 0.0) {
                    return bad(format!(
                        "SGD needs lr, momentum and weight_decay >= 0, got {lr}, {momentum}, {weight_decay}"
                    ));
                }
                if nesterov && momentum == 0.0 {
                    return bad("Nesterov momentum needs momentum > 0".into());
                }
            }
            Optimizer::Adam {
                lr,
                beta1,
                beta2,
                eps,
                weight_decay,
                ..
            } => {
                let betas = (0.0..1.0).contains(&beta1) && (0.0..1.0).contains(&beta2);
                if !(lr >= 0.0 && betas && eps >= 0.0 && weight_decay >= 0.0) {
                    return bad(format!(
                        "Adam needs lr, eps, weight_decay >= 0 and betas in [0, 1), got lr {lr}, betas ({beta1}, {beta2}), eps {eps}, weight_decay {weight_decay}"
                    ));
                }
            }
        }
        Ok(())
    }
}
