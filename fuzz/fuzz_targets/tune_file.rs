//! Any text given to the tune-file reader must give a tune file or a typed error, never a
//! panic; every entry it accepts converts to a kernel choice or to `None`.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../bodies.rs"]
mod bodies;

fuzz_target!(|data: &[u8]| bodies::tune_file(data));
