//! Any bytes given to the ONNX loader (and the .npy reader) must give a model or a typed
//! error, never a panic, an abort or an unbounded allocation; the same for lowering a loaded
//! model onto the graph (no device needed).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = flopwatt::onnx::load_bytes(data) {
        let _ = m.check_supported();
        let _ = flopwatt::onnx::to_graph::to_graph(&m);
    }
    let _ = flopwatt::onnx::npy::from_bytes(data, "fuzz");
});
