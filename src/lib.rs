//! flopwatt: a portable GPU compute engine on WebGPU that tells you how fast and how
//! efficiently its kernels ran.
//!
//! - [`Device`] opens an adapter (chosen by `WGPU_BACKEND` / `WGPU_ADAPTER_NAME`).
//! - [`Tensor`] holds data on it; [`ops`] runs kernels (matmul, reductions, normalisation,
//!   elementwise) checked against the f64 [`reference`](mod@reference).
//! - [`exec::Recorder`] batches dispatches into one submit and times them ([`profile`]).
//! - [`energy`] reads power sources (RAPL, hwmon, NVML, or a labelled estimate).
//!
//! See `ARCHITECTURE.md` for the data flow and the invariants.
#![warn(missing_docs)]

pub mod autodiff;
pub mod bench;
pub mod device;
pub mod energy;
pub mod error;
pub mod exec;
pub mod executable;
pub mod fuse;
pub mod graph;
pub mod onnx;
pub mod ops;
pub mod optim;
pub mod peak;
pub mod plan;
pub mod pool;
pub mod profile;
pub mod reference;
pub mod shaders;
pub mod tensor;
pub mod time;
pub mod tune;
pub(crate) mod wait;
#[cfg(target_arch = "wasm32")]
pub mod web;

pub use device::{AdapterClass, AdapterSummary, Device, DeviceOptions, TimingTier};
pub use error::{Error, Result};
pub use exec::{Cost, Recorder};
pub use executable::{CompileOptions, Executable};
pub use graph::{Graph, ValueId};
pub use tensor::{DType, Tensor};
