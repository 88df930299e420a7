//! Optimisers as GPU kernels (`shaders/optim.wgsl`) and a [`Trainer`] that keeps parameters,
//! gradients and optimiser state on the device between steps.
//!
//! Every update is one in-place dispatch per parameter tensor: the parameter and its state
//! buffers are read and written where they live, the gradient is read where the backward
//! graph left it, and nothing goes through the host. Semantics follow PyTorch (`SGD` with
//! dampening 0, `Adam`, `AdamW`), so the f64 reference (`flopwatt_reference::train::OptimRef`)
//! states the same formulas.

pub mod data;
mod trainer;

pub use trainer::Trainer;

use bytemuck::{Pod, Zeroable};

pub use flopwatt_ir::optim::Optimizer;

use crate::error::{Error, Result};
use crate::exec::{grid_1d, Cost, Recorder};
use crate::ops::same_device;
use crate::shaders::OPTIM;
use crate::tensor::{DType, Tensor};

const WG: usize = 256;

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    n: u32,
    _p: [u32; 3],
    lr: f32,
    momentum: f32,
    weight_decay: f32,
    flag: f32,
    beta1: f32,
    beta2: f32,
    eps: f32,
    bc1: f32,
    bc2: f32,
    _q: [f32; 3],
}

/// Zero-initialised optimiser state for a parameter of shape `shape`.
pub fn new_state(opt: &Optimizer, param: &Tensor) -> Result<Vec<Tensor>> {
    let zeros = vec![0.0f32; param.numel()];
    (0..opt.state_tensors())
        .map(|_| Tensor::from_f32(param.device(), &zeros, param.shape()))
        .collect()
}

/// Records one update of `param` in place from `grad` (step `t`, counting from 1, for the
/// Adam bias corrections), reading and writing `state` ([`new_state`]) in place.
pub fn encode_update(
    rec: &mut Recorder,
    opt: &Optimizer,
    param: &Tensor,
    grad: &Tensor,
    state: &[Tensor],
    t: u32,
) -> Result<()> {
    const OP: &str = "optimizer";
    opt.validate()?;
    let dev = rec.device().clone();
    same_device(OP, &dev, &[param, grad])?;
    if param.dtype() != DType::F32 || grad.dtype() != DType::F32 {
        return Err(Error::UnsupportedDType {
            op: OP,
            dtype: if param.dtype() != DType::F32 {
                param.dtype()
            } else {
                grad.dtype()
            },
            hint: "parameters and gradients are f32".into(),
        });
    }
    if param.shape() != grad.shape() {
        return Err(Error::shape(
            OP,
            format!(
                "gradient {:?} does not match parameter {:?}",
                grad.shape(),
                param.shape()
            ),
        ));
    }
    if !param.is_contiguous() || param.offset() != 0 {
        return Err(Error::shape(
            OP,
            format!(
                "parameter {:?} must be a whole contiguous tensor",
                param.shape()
            ),
        ));
    }
    if state.len() != opt.state_tensors()
        || state
            .iter()
            .any(|s| s.shape() != param.shape() || !s.is_contiguous() || s.offset() != 0)
    {
        return Err(Error::shape(
            OP,
            format!(
                "{} state tensors of shape {:?} expected",
                opt.state_tensors(),
                param.shape()
            ),
        ));
    }
    // The kernel reads the gradient densely from offset 0 and must not read the buffer it
    // writes: copy views, and gradients that are the parameter itself.
    let grad = if !grad.is_contiguous() || grad.offset() != 0 || grad.buffer() == param.buffer() {
        crate::ops::elementwise::encode_fused(
            rec,
            &[grad],
            &crate::ops::elementwise::Expr::Input(0),
        )?
    } else {
        grad.clone()
    };
    let n = param.numel();
    if n == 0 {
        return Ok(());
    }
    let mut p = Params {
        n: n as u32,
        _p: [0; 3],
        lr: 0.0,
        momentum: 0.0,
        weight_decay: 0.0,
        flag: 0.0,
        beta1: 0.0,
        beta2: 0.0,
        eps: 0.0,
        bc1: 1.0,
        bc2: 1.0,
        _q: [0.0; 3],
    };
    let (entry, flops, streams) = match *opt {
        Optimizer::Sgd {
            lr,
            momentum,
            nesterov,
            weight_decay,
        } => {
            p.lr = lr;
            p.momentum = momentum;
            p.weight_decay = weight_decay;
            p.flag = f32::from(u8::from(nesterov));
            if momentum == 0.0 {
                ("sgd", 4, 3)
            } else {
                ("sgd_momentum", 8, 5)
            }
        }
        Optimizer::Adam {
            lr,
            beta1,
            beta2,
            eps,
            weight_decay,
            decoupled,
        } => {
            p.lr = lr;
            p.beta1 = beta1;
            p.beta2 = beta2;
            p.eps = eps;
            p.weight_decay = weight_decay;
            p.flag = f32::from(u8::from(decoupled));
            // Bias corrections in f64 so late steps do not lose them to f32 powers.
            p.bc1 = (1.0 - (beta1 as f64).powi(t.max(1) as i32)) as f32;
            p.bc2 = (1.0 - (beta2 as f64).powi(t.max(1) as i32)) as f32;
            ("adam", 16, 7)
        }
    };
    let name = format!("optim.{entry}");
    let pipe = dev.own_pipeline(&name, OPTIM, entry)?;
    let mut bufs: Vec<&wgpu::Buffer> = vec![param.buffer(), grad.buffer()];
    bufs.extend(state.iter().map(|s| s.buffer()));
    rec.dispatch(
        &name,
        &pipe,
        &bufs,
        Some(bytemuck::bytes_of(&p)),
        grid_1d(&dev, n.div_ceil(WG) as u64)?,
        Cost {
            flops: (flops * n) as u64,
            bytes: (4 * streams * n) as u64,
        },
    )?;
    rec.keep_alive(grad);
    Ok(())
}
