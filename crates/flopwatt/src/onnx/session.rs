//! One-call inference: a [`Session`] loads a model once and runs it many times on named
//! arrays, returning named arrays.
//!
//! Each distinct set of input shapes is specialised, lowered and compiled once, and the
//! compiled executable is kept (up to [`MAX_COMPILED`] shape sets, oldest dropped first), so
//! a second run with the same shapes only uploads, runs and downloads.

use std::path::Path;

use super::npy::Array;
use super::to_graph::{to_graph, Lowered};
use super::{fold, Model, ValueInfo};
use crate::device::Device;
use crate::error::{Error, Result};
use crate::executable::{Compile, CompileOptions, Executable};
use crate::tensor::Tensor;

/// How many input-shape sets a [`Session`] keeps compiled: a caller feeding ever new shapes
/// must not grow the device memory without bound.
pub const MAX_COMPILED: usize = 8;

/// How a [`Session`] compiles and what it returns.
#[derive(Clone, Debug, Default)]
pub struct SessionOptions {
    /// Fusion and memory planning of the compiled graphs.
    pub compile: CompileOptions,
    /// Intermediate values to return too, after the declared outputs (to find where a port
    /// departs from another runtime); a name the model does not define is an error.
    pub dumps: Vec<String>,
    /// Return every node output (after load-time folding) too.
    pub dump_all: bool,
}

/// A model loaded once and run many times.
///
/// ```no_run
/// use flopwatt::onnx::npy::Array;
/// use flopwatt::onnx::{Session, SessionOptions};
///
/// fn main() -> flopwatt::Result<()> {
///     let dev = flopwatt::Device::new()?;
///     let mut session = Session::load(&dev, "model.onnx", SessionOptions::default())?;
///     let x = Array::from_f32(vec![1, 3, 32, 32], vec![0.5; 3 * 32 * 32])?;
///     let outputs = session.run(&[("x", &x)])?;
///     for (name, y) in outputs.iter() {
///         println!("{name}: {:?} {:?}", y.shape, &y.to_f32_vec()[..4.min(y.len())]);
///     }
///     // Same shapes: no lowering or compiling, only upload, run and download.
///     let again = session.run(&[("x", &x)])?;
///     assert_eq!(session.compilations(), 1);
///     # drop(again);
///     Ok(())
/// }
/// ```
pub struct Session {
    device: Device,
    model: Model,
    options: SessionOptions,
    /// Compiled shape sets, least recently used first.
    compiled: Vec<(Vec<Vec<usize>>, Compiled)>,
    compilations: usize,
}

/// The model specialised to one set of input shapes, lowered and compiled.
pub struct Compiled {
    lowered: Lowered,
    exe: Executable,
    declared: usize,
}

/// Named output arrays of one run, in the model's output order (dumped values after).
#[derive(Debug, Clone, PartialEq)]
pub struct Outputs(Vec<(String, Array)>);

impl Outputs {
    /// The output called `name`.
    pub fn get(&self, name: &str) -> Option<&Array> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, a)| a)
    }

    /// Names and arrays in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Array)> {
        self.0.iter().map(|(n, a)| (n.as_str(), a))
    }

    /// Number of outputs.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The names and arrays, owned.
    pub fn into_vec(self) -> Vec<(String, Array)> {
        self.0
    }
}

impl Session {
    /// Reads, decodes and folds the ONNX file at `path` and checks that every op is supported.
    pub fn load(device: &Device, path: impl AsRef<Path>, options: SessionOptions) -> Result<Self> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| Error::Io {
            path: path.display().to_string(),
            source,
        })?;
        let model = Model::decode_owned(bytes, &path.display().to_string())?;
        Self::new(device, model, options)
    }

    /// [`Session::load`] from the bytes of an ONNX file.
    pub fn from_bytes(device: &Device, bytes: &[u8], options: SessionOptions) -> Result<Self> {
        Self::new(device, Model::decode(bytes, "<bytes>")?, options)
    }

    /// A session over a decoded model (folded here, so [`super::load`]'s result or a
    /// [`Model::decode`]d one both do).
    pub fn new(device: &Device, mut model: Model, options: SessionOptions) -> Result<Self> {
        fold::fold(&mut model)?;
        model.check_supported()?;
        Ok(Session {
            device: device.clone(),
            model,
            options,
            compiled: Vec::new(),
            compilations: 0,
        })
    }

    /// The model's inputs (names, types, declared shapes).
    pub fn inputs(&self) -> &[ValueInfo] {
        &self.model.inputs
    }

    /// The model's declared outputs.
    pub fn outputs(&self) -> &[ValueInfo] {
        &self.model.outputs
    }

    /// The loaded model (folded, before any input shapes are bound).
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The device it runs on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// How many times a shape set was lowered and compiled (runs with shapes seen before
    /// reuse their executable and do not count).
    pub fn compilations(&self) -> usize {
        self.compilations
    }

    /// The compile options in force.
    pub fn compile_options(&self) -> CompileOptions {
        self.options.compile
    }

    /// Switches the compile options (e.g. fusion off to compare): every kept shape set is
    /// recompiled from its lowered graph now, without lowering again.
    pub fn set_compile_options(&mut self, compile: CompileOptions) -> Result<()> {
        if compile == self.options.compile {
            return Ok(());
        }
        self.options.compile = compile;
        for (_, c) in &mut self.compiled {
            c.exe = c.lowered.graph.compile_with(&self.device, compile)?;
        }
        Ok(())
    }

    /// Runs the model on `feeds` (each input by name, once) and returns every output.
    pub fn run(&mut self, feeds: &[(&str, &Array)]) -> Result<Outputs> {
        let c = self.prepare(feeds)?;
        let inputs = c.upload(feeds)?;
        let refs: Vec<&Tensor> = inputs.iter().collect();
        let outs = c.exe.run(&refs)?;
        c.download(&outs)
    }

    /// Checks `feeds` against the model's inputs and returns the executable for their
    /// shapes, compiling it on first sight: for callers that time or profile the run
    /// themselves ([`Compiled::upload`], [`Compiled::executable`], [`Compiled::download`]).
    pub fn prepare(&mut self, feeds: &[(&str, &Array)]) -> Result<&Compiled> {
        let named: Vec<(String, &Array)> = feeds.iter().map(|(n, a)| (n.to_string(), *a)).collect();
        self.model.check_inputs(&named)?;
        let key: Vec<Vec<usize>> = self
            .model
            .inputs
            .iter()
            .map(|i| {
                feeds
                    .iter()
                    .find(|(n, _)| *n == i.name)
                    .map(|(_, a)| a.shape.clone())
                    .unwrap_or_default()
            })
            .collect();
        let at = match self.compiled.iter().position(|(k, _)| *k == key) {
            Some(at) => at,
            None => {
                let c = self.compile(&key)?;
                if self.compiled.len() >= MAX_COMPILED {
                    self.compiled.remove(0);
                }
                self.compiled.push((key, c));
                self.compilations += 1;
                self.compiled.len() - 1
            }
        };
        // Most recently used last, so the oldest is dropped first.
        let entry = self.compiled.remove(at);
        self.compiled.push(entry);
        Ok(&self.compiled.last().expect("just pushed").1)
    }

    /// Binds the input shapes (`key`, in model input order), folds, lowers and compiles.
    fn compile(&self, key: &[Vec<usize>]) -> Result<Compiled> {
        let mut model = self.model.clone();
        let shapes = model
            .inputs
            .iter()
            .zip(key)
            .map(|(i, s)| (i.name.clone(), s.clone()))
            .collect();
        model.specialize(&shapes)?;
        let mut dumps = self.options.dumps.clone();
        if self.options.dump_all {
            dumps.extend(model.node_outputs());
        }
        let declared = model.outputs.len();
        model.expose(&dumps)?;
        let lowered = to_graph(&model)?;
        let exe = lowered
            .graph
            .compile_with(&self.device, self.options.compile)?;
        Ok(Compiled {
            lowered,
            exe,
            declared,
        })
    }
}

impl Compiled {
    /// The compiled graph.
    pub fn executable(&self) -> &Executable {
        &self.exe
    }

    /// The lowered graph with its input and output names.
    pub fn lowered(&self) -> &Lowered {
        &self.lowered
    }

    /// Output names in the order runs return them: the declared outputs, then dumps.
    pub fn output_names(&self) -> &[String] {
        &self.lowered.outputs
    }

    /// How many of [`Compiled::output_names`] are the model's declared outputs.
    pub fn declared_outputs(&self) -> usize {
        self.declared
    }

    /// Uploads `feeds` (checked by [`Session::prepare`]) in the executable's input order.
    pub fn upload(&self, feeds: &[(&str, &Array)]) -> Result<Vec<Tensor>> {
        self.lowered
            .inputs
            .iter()
            .map(|name| {
                let (_, a) = feeds.iter().find(|(n, _)| n == name).ok_or_else(|| {
                    Error::invalid("onnx input", format!("input `{name}` is missing"))
                })?;
                self.lowered.upload(self.exe.device(), name, a)
            })
            .collect()
    }

    /// Downloads a run's output tensors as named arrays of the model's declared types.
    pub fn download(&self, outs: &[Tensor]) -> Result<Outputs> {
        self.lowered
            .outputs
            .iter()
            .zip(outs)
            .enumerate()
            .map(|(k, (name, t))| Ok((name.clone(), self.lowered.download(k, t)?)))
            .collect::<Result<_>>()
            .map(Outputs)
    }
}
