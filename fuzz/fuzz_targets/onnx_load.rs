//! Any bytes given to the ONNX loader (and the .npy reader) must give a model or a typed
//! error, never a panic, an abort or an unbounded allocation; the same for lowering a loaded
//! model onto the graph (no device needed).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../bodies.rs"]
mod bodies;

fuzz_target!(|data: &[u8]| bodies::onnx_load(data));
