//! flopwatt's graph IR: element types, shapes, the op vocabulary, the [`Graph`] builder with
//! shape inference, and reverse-mode autodiff (graph to graph).
//!
//! Pure data: nothing here knows a device, a shader or wgpu (CI checks `cargo tree`), so the
//! reference oracle and tools can use it without a GPU stack.
#![warn(missing_docs)]

pub mod autodiff;
pub mod dtype;
pub mod error;
pub mod graph;
pub mod op;
pub mod optim;
pub mod shape;

pub use dtype::DType;
pub use error::{Error, Result};
pub use graph::{Graph, ValueId};
