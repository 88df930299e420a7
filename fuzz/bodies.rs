//! The fuzz targets' bodies as plain functions: `fuzz_targets/*.rs` call them under
//! libFuzzer, and the runtime's test `tests/fuzz_seeds.rs` runs them on every seed of
//! `corpus/`, so they compile (and the seeds pass) in every CI run without cargo-fuzz.

/// Any bytes given to the ONNX loader (and the .npy reader) must give a model or a typed
/// error, never a panic, an abort or an unbounded allocation; the same for lowering a loaded
/// model onto the graph (no device needed), with its unknown dims bound to small sizes.
pub fn onnx_load(data: &[u8]) {
    if let Ok(m) = flopwatt::onnx::load_bytes(data) {
        let _ = m.check_supported();
        let _ = flopwatt::onnx::to_graph::to_graph(&m);
        // Inputs with unknown dims, bound to 2 (what `run` does with the shapes fed).
        let shapes = m
            .inputs
            .iter()
            .filter_map(|i| {
                let dims = i.shape.as_ref()?;
                let dims = dims.iter().map(|d| match d {
                    flopwatt::onnx::Dim::Fixed(n) => *n,
                    _ => 2,
                });
                Some((i.name.clone(), dims.collect()))
            })
            .collect();
        let mut m = m;
        if m.specialize(&shapes).is_ok() {
            let _ = flopwatt::onnx::to_graph::to_graph(&m);
        }
    }
    let _ = flopwatt::onnx::npy::from_bytes(data, "fuzz");
}

/// Any bytes given to the `.npy` reader must give an array or a typed error, never a panic,
/// an abort or an allocation larger than the input implies; a parsed array writes back.
pub fn npy_read(data: &[u8]) {
    if let Ok(a) = flopwatt::onnx::npy::from_bytes(data, "fuzz") {
        let _ = flopwatt::onnx::npy::to_bytes(&a);
    }
}

/// Any text given to the tune-file reader must give a tune file or a typed error, never a
/// panic; every entry it accepts converts to a kernel choice or to `None`.
pub fn tune_file(data: &[u8]) {
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
}
