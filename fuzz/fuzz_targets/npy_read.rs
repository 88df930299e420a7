//! Any bytes given to the `.npy` reader must give an array or a typed error, never a panic,
//! an abort or an allocation larger than the input implies; a parsed array writes back.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../bodies.rs"]
mod bodies;

fuzz_target!(|data: &[u8]| bodies::npy_read(data));
