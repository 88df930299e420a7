//! The fuzz targets' bodies (`fuzz/bodies.rs`) on every seed of their corpora, so the
//! targets compile and their seeds pass in every CI run (cargo-fuzz itself needs nightly and
//! runs from `fuzz/run.sh`). No device needed.
#![cfg(not(target_arch = "wasm32"))]

#[path = "../../../fuzz/bodies.rs"]
mod bodies;

/// Runs `body` on each file of `fuzz/corpus/<target>` (there must be some).
fn seeds(target: &str, body: fn(&[u8])) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        body(&bytes);
        // Truncations and a flipped byte of every seed too: the cheap half of fuzzing.
        for cut in [0, 1, bytes.len() / 2, bytes.len().saturating_sub(1)] {
            body(&bytes[..cut]);
        }
        for at in (0..bytes.len()).step_by(bytes.len().div_ceil(64).max(1)) {
            let mut b = bytes.clone();
            b[at] ^= 0xff;
            body(&b);
        }
        n += 1;
    }
    assert!(n > 0, "no seeds in {}", dir.display());
}

#[test]
fn onnx_load_seeds() {
    seeds("onnx_load", bodies::onnx_load);
}

#[test]
fn npy_read_seeds() {
    seeds("npy_read", bodies::npy_read);
}

#[test]
fn tune_file_seeds() {
    seeds("tune_file", bodies::tune_file);
}
