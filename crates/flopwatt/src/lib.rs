//! flopwatt: a portable GPU compute engine on WebGPU that tells you how fast and how
//! efficiently its kernels ran.
//!
//! - [`Device`] opens an adapter (chosen by `WGPU_BACKEND` / `WGPU_ADAPTER_NAME`).
//! - [`Tensor`] holds data on it; [`ops`] runs kernels (matmul, reductions, normalisation,
//!   elementwise), each checked in the tests against the f64 oracle (`flopwatt-reference`).
//! - [`Graph`] (from `flopwatt-ir`, re-exported) builds a model; [`Compile::compile`] fuses,
//!   plans buffers and creates pipelines once, and [`Executable::run`] runs it in one submit.
//! - [`exec::Recorder`] batches dispatches into one submit and times them ([`profile`]).
//! - [`energy`] reads power sources (RAPL, hwmon, NVML, or a labelled estimate).
//!
//! `use flopwatt::prelude::*;` brings what a program needs. See `ARCHITECTURE.md` for the
//! crates, the data flow and the invariants.
#![warn(missing_docs)]

pub mod cache;
pub mod device;
pub mod dist;
pub mod energy;
pub mod exec;
pub mod executable;
pub mod fuse;
#[cfg(feature = "onnx")]
pub mod onnx;
pub mod ops;
pub mod optim;
pub mod peak;
pub mod pipeline;
#[cfg(not(target_arch = "wasm32"))]
mod pipeline_cache;
pub mod plan;
pub mod pool;
pub mod profile;
pub(crate) mod shaders;
pub mod tensor;
pub mod time;
pub mod tune;
pub(crate) mod wait;

pub use flopwatt_ir as ir;
pub use flopwatt_ir::{autodiff, error, graph};

pub use device::{AdapterClass, AdapterSummary, Device, DeviceOptions, PipelineBuild, TimingTier};
pub use error::{Error, Result};
pub use exec::{Cost, Recorder};
pub use executable::{Compile, CompileOptions, Executable};
pub use graph::{Graph, ValueId};
pub use tensor::{DType, Tensor};

/// What a program needs: `use flopwatt::prelude::*;`.
pub mod prelude {
    pub use crate::device::{AdapterClass, Device, DeviceOptions};
    pub use crate::error::{Error, Result};
    pub use crate::exec::Recorder;
    pub use crate::executable::{Compile, CompileOptions, Executable};
    pub use crate::graph::{Graph, ValueId};
    pub use crate::tensor::{DType, Tensor};
}

/// The README's programs, compiled as doc tests so that they stay true to the API.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
