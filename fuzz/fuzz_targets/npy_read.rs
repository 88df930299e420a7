//! Any bytes given to the `.npy` reader must give an array or a typed error, never a panic,
//! an abort or an allocation larger than the input implies; a parsed array writes back.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(a) = flopwatt::onnx::npy::from_bytes(data, "fuzz") {
        let _ = flopwatt::onnx::npy::to_bytes(&a);
    }
});
