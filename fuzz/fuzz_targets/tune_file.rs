//! Any text given to the tune-file reader must give a tune file or a typed error, never a
//! panic; every entry it accepts converts to a kernel choice or to `None`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(f) = flopwatt::tune::TuneFile::parse(text) {
        for t in &f.adapters {
            for e in &t.entries {
                let _ = e.choice();
            }
        }
    }
});
