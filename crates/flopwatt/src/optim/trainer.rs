//! [`Trainer`]: parameters, the compiled forward+backward executable and the optimiser state,
//! all on the device; one training step is one command buffer and one submit. With a
//! [`Communicator`] of several ranks the step is data-parallel: gradients are averaged over
//! the ranks between the backward pass and the update.

use std::sync::Arc;

use crate::autodiff;
use crate::device::Device;
use crate::dist::{agree, all_reduce_bucketed, Communicator, SingleProcess, BUCKET_FLOATS};
use crate::error::{Error, Result};
use crate::exec::Recorder;
use crate::executable::{Compile, CompileOptions, Executable};
use crate::graph::{Graph, Op, ValueId};
use crate::tensor::Tensor;

use super::{encode_update, new_state, Optimizer};

/// Trains the parameters of a graph: owns them (device tensors), the compiled gradient
/// executable, and the optimiser state.
///
/// Parameters are graph inputs (not constants) so that the executable reads the trainer's
/// device tensors directly each step: nothing is uploaded but the batch. A step records the
/// forward and backward dispatches and then one in-place optimiser dispatch per parameter
/// into one [`Recorder`], and submits once.
pub struct Trainer {
    device: Device,
    exe: Executable,
    params: Vec<Tensor>,
    /// For each graph input (declaration order): `Some(i)` for parameter i, `None` for data.
    slots: Vec<Option<usize>>,
    data_count: usize,
    opt: Optimizer,
    state: Vec<Vec<Tensor>>,
    step: u32,
    last_dispatches: usize,
    comm: Arc<dyn Communicator>,
}

impl Trainer {
    /// Differentiates `loss` of `graph` with respect to `params` (each an input of `graph`,
    /// with its initial values), compiles the result with `options`, and uploads the
    /// parameters and zeroed optimiser state once. The other inputs of `graph` are the batch,
    /// fed to [`Trainer::step`] in declaration order.
    pub fn new(
        device: &Device,
        graph: &Graph,
        loss: ValueId,
        params: &[(ValueId, Vec<f32>)],
        opt: Optimizer,
        options: CompileOptions,
    ) -> Result<Self> {
        const OP: &str = "trainer";
        opt.validate()?;
        if !graph.shape(loss).is_empty() {
            return Err(Error::shape(
                OP,
                format!(
                    "the loss must be a scalar (shape []), got {:?}",
                    graph.shape(loss)
                ),
            ));
        }
        let inputs = graph.inputs();
        let mut slots = vec![None; inputs.len()];
        let mut tensors = Vec::with_capacity(params.len());
        for (i, (v, data)) in params.iter().enumerate() {
            let Some(pos) = inputs.iter().position(|x| x == v) else {
                return Err(Error::invalid(
                    OP,
                    format!(
                        "parameter {} must be a graph input (constants cannot be trained)",
                        v.0
                    ),
                ));
            };
            if slots[pos].is_some() {
                return Err(Error::invalid(
                    OP,
                    format!("parameter {} listed twice", graph.node(*v).label),
                ));
            }
            slots[pos] = Some(i);
            tensors.push(Tensor::from_f32(device, data, graph.shape(*v))?);
        }
        let wrt: Vec<ValueId> = params.iter().map(|p| p.0).collect();
        let gg = autodiff::grad(graph, loss, &wrt)?;
        debug_assert!(gg
            .inputs()
            .iter()
            .all(|v| matches!(gg.node(*v).op, Op::Input { .. })));
        let exe = gg.compile_with(device, options)?;
        let state = tensors
            .iter()
            .map(|p| new_state(&opt, p))
            .collect::<Result<_>>()?;
        let data_count = slots.iter().filter(|s| s.is_none()).count();
        Ok(Trainer {
            device: device.clone(),
            exe,
            params: tensors,
            slots,
            data_count,
            opt,
            state,
            step: 0,
            last_dispatches: 0,
            comm: Arc::new(SingleProcess),
        })
    }

    /// Makes training data-parallel over `comm`'s ranks: rank 0's parameters are broadcast to
    /// every rank now, and each [`Trainer::step`] averages the gradients over the ranks
    /// (bucketed all-reduce) before the optimiser update, so every rank keeps identical
    /// parameters; the loss it returns is the mean over the ranks. Each rank feeds its own
    /// shard of the global batch. Every rank must build the same model.
    pub fn with_communicator(mut self, comm: Arc<dyn Communicator>) -> Result<Self> {
        if comm.size() > 1 {
            let shapes: Vec<u8> = self
                .params
                .iter()
                .flat_map(|p| format!("{:?};", p.shape()).into_bytes())
                .collect();
            let mut root_shapes = shapes.clone();
            comm.broadcast_bytes(&mut root_shapes, 0)?;
            let same = if root_shapes == shapes {
                Ok(())
            } else {
                Err(Error::invalid(
                    "trainer",
                    "this rank's parameter shapes differ from rank 0's: every rank must build the same model",
                ))
            };
            agree(comm.as_ref(), same)?;
            let mut flat = agree(comm.as_ref(), self.param_values())?.concat();
            comm.broadcast(&mut flat, 0)?;
            let mut at = 0;
            for p in &mut self.params {
                let n = p.numel();
                *p = Tensor::from_f32(&self.device, &flat[at..at + n], p.shape())?;
                at += n;
            }
        }
        self.comm = comm;
        Ok(self)
    }

    /// The communicator the steps average over ([`SingleProcess`] unless
    /// [`Trainer::with_communicator`] gave one).
    pub fn communicator(&self) -> &Arc<dyn Communicator> {
        &self.comm
    }

    /// One step on a batch (the non-parameter inputs, in declaration order): forward,
    /// backward and the optimiser update in one submit. Returns the loss of this batch
    /// (computed with the parameters before the update), as a device tensor of shape [].
    pub fn step(&mut self, batch: &[&Tensor]) -> Result<Tensor> {
        if self.comm.size() > 1 {
            return self.step_data_parallel(batch);
        }
        let mut rec = Recorder::new(&self.device);
        let loss = self.encode_step(&mut rec, batch)?;
        rec.submit(false)?;
        Ok(loss)
    }

    /// Records one step into `rec` without submitting (benchmarks batch and time steps their
    /// own way); the parameters are updated, and the returned loss valid, once `rec` has been
    /// submitted. Counts as a step (Adam's bias correction advances).
    pub fn encode_step(&mut self, rec: &mut Recorder, batch: &[&Tensor]) -> Result<Tensor> {
        if self.comm.size() > 1 {
            return Err(Error::invalid(
                "trainer",
                "a data-parallel step exchanges gradients between its passes and cannot be \
                 recorded into one submit; call step()",
            ));
        }
        let inputs = self.inputs(batch)?;
        let start = rec.len();
        let outs = self.exe.encode(rec, &inputs)?;
        let t = self.step + 1;
        for (i, p) in self.params.iter().enumerate() {
            encode_update(rec, &self.opt, p, &outs[i + 1], &self.state[i], t)?;
        }
        self.last_dispatches = rec.len() - start;
        for g in &outs[1..] {
            rec.keep_alive(g.clone());
        }
        self.step = t;
        Ok(outs[0].clone())
    }

    /// One data-parallel step: forward and backward (one submit), then this rank's loss and
    /// gradients go to the host in one flat vector, are summed over the ranks in buckets and
    /// divided by the rank count, and the averaged gradients drive the update (a second
    /// submit). A rank whose local work fails makes every rank return an error naming it.
    fn step_data_parallel(&mut self, batch: &[&Tensor]) -> Result<Tensor> {
        let local = self.local_loss_and_grads(batch);
        let (mut flat, dispatches) = agree(self.comm.as_ref(), local)?;
        all_reduce_bucketed(self.comm.as_ref(), &mut flat, BUCKET_FLOATS)?;
        let scale = 1.0 / self.comm.size() as f32;
        flat.iter_mut().for_each(|v| *v *= scale);
        let update = || -> Result<Tensor> {
            let mut rec = Recorder::new(&self.device);
            let t = self.step + 1;
            let mut at = 1;
            for (i, p) in self.params.iter().enumerate() {
                let n = p.numel();
                let g = Tensor::from_f32(&self.device, &flat[at..at + n], p.shape())?;
                encode_update(&mut rec, &self.opt, p, &g, &self.state[i], t)?;
                at += n;
            }
            rec.submit(false)?;
            Tensor::from_f32(&self.device, &flat[..1], &[])
        };
        let loss = agree(self.comm.as_ref(), update())?;
        self.last_dispatches = dispatches + self.params.len();
        self.step += 1;
        Ok(loss)
    }

    /// Forward and backward on this rank's batch; returns `[loss, grad 0.., grad 1.., ..]`
    /// flattened on the host, and the dispatches recorded.
    fn local_loss_and_grads(&self, batch: &[&Tensor]) -> Result<(Vec<f32>, usize)> {
        let inputs = self.inputs(batch)?;
        let mut rec = Recorder::new(&self.device);
        let outs = self.exe.encode(&mut rec, &inputs)?;
        let dispatches = rec.len();
        rec.submit(false)?;
        let total: usize = 1 + self.params.iter().map(Tensor::numel).sum::<usize>();
        let mut flat = Vec::with_capacity(total);
        for t in &outs {
            flat.extend(t.to_f32_vec()?);
        }
        Ok((flat, dispatches))
    }

    /// The executable's inputs: parameters and batch tensors in graph-input order.
    fn inputs<'a>(&'a self, batch: &[&'a Tensor]) -> Result<Vec<&'a Tensor>> {
        if batch.len() != self.data_count {
            return Err(Error::invalid(
                "trainer",
                format!(
                    "the graph takes {} batch inputs, {} given",
                    self.data_count,
                    batch.len()
                ),
            ));
        }
        let mut data = batch.iter();
        Ok(self
            .slots
            .iter()
            .map(|s| match s {
                Some(i) => &self.params[*i],
                None => *data.next().expect("counted above"),
            })
            .collect())
    }

    /// [`Trainer::step`], reading the loss back to the host.
    pub fn step_loss(&mut self, batch: &[&Tensor]) -> Result<f32> {
        Ok(self.step(batch)?.to_f32_vec()?[0])
    }

    /// The parameters (device tensors, updated in place each step), in the order given.
    pub fn params(&self) -> &[Tensor] {
        &self.params
    }

    /// Reads every parameter back to the host.
    pub fn param_values(&self) -> Result<Vec<Vec<f32>>> {
        self.params.iter().map(|p| p.to_f32_vec()).collect()
    }

    /// Steps taken.
    pub fn steps(&self) -> u32 {
        self.step
    }

    /// The optimiser (hyper-parameters may change between steps, e.g. a schedule).
    pub fn optimizer(&self) -> Optimizer {
        self.opt
    }

    /// Replaces the hyper-parameters; the kind (and so the state layout) must not change.
    pub fn set_optimizer(&mut self, opt: Optimizer) -> Result<()> {
        opt.validate()?;
        if opt.state_tensors() != self.opt.state_tensors()
            || std::mem::discriminant(&opt) != std::mem::discriminant(&self.opt)
        {
            return Err(Error::invalid(
                "trainer",
                "set_optimizer cannot change the optimiser kind or its state (momentum on/off)",
            ));
        }
        self.opt = opt;
        Ok(())
    }

    /// The compiled forward+backward executable (for `explain()` and its dispatch count).
    pub fn executable(&self) -> &Executable {
        &self.exe
    }

    /// Dispatches recorded by the last step (forward, backward, updates); 0 before any.
    pub fn dispatches_per_step(&self) -> usize {
        self.last_dispatches
    }

    /// Submits per step: one, or two when data-parallel (the gradients leave the device
    /// between the backward pass and the update).
    pub fn submits_per_step(&self) -> usize {
        if self.comm.size() > 1 {
            2
        } else {
            1
        }
    }
}
