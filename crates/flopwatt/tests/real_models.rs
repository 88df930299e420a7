//! End to end: the PP-OCRv4 detector and recogniser, the PP-OCR direction classifier
//! (PyPI `rapidocr-onnxruntime` 1.4.4) and YOLOv8n (`nudenet` 3.4.2, `320n.onnx`) against
//! onnxruntime, each at two input sizes, fused and unfused: relative L2 error under 1e-3 on
//! every output.
//!
//! Neither the models nor the expected outputs are committed: `.ci/run` fetches the wheels
//! and has onnxruntime write `ref/<case>/{inputs,expected}/` beside them (`fetch_real_models`
//! in `.ci/lib.sh`, `tools/onnx_reference.py`), and sets `FLOPWATT_MODELS`. Without them the
//! test skips with a message, except when `FLOPWATT_MODELS` is set or `CI=true`: then they
//! were meant to be there, so it fails.
// Native only (sync API); the browser runs the gpu_test! binaries.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::path::{Path, PathBuf};

use flopwatt::executable::CompileOptions;
use flopwatt::onnx::npy::{self, Array};
use flopwatt::onnx::{check, Session, SessionOptions};

const MAX_REL_L2: f64 = 1e-3;

/// The cache folder `fetch_real_models` fills.
fn models_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("FLOPWATT_MODELS") {
        return p.into();
    }
    let cache = std::env::var_os("FLOPWATT_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/flopwatt")))
        .unwrap_or_else(|| ".cache/flopwatt".into());
    cache.join("models")
}

/// The file name `flopwatt run` and the reference tool give a value.
fn file_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// A case's model file (`ref/<case>/model.txt`) and inputs.
fn read_case(dir: &Path, case: &str) -> (String, Vec<(String, Array)>) {
    let refdir = dir.join("ref").join(case);
    let spec = std::fs::read_to_string(refdir.join("model.txt")).unwrap();
    let model_file = spec.trim().split('|').next().unwrap().to_string();
    let mut feeds: Vec<(String, Array)> = Vec::new();
    for e in std::fs::read_dir(refdir.join("inputs")).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_stem().unwrap().to_string_lossy().into_owned();
        feeds.push((name, npy::read(&p).unwrap()));
    }
    (model_file, feeds)
}

/// Runs every case through one session of their model, fused then unfused (the session
/// keeps each case's lowered graph, so the switch only recompiles), and checks every output.
fn check_cases(dev: &flopwatt::Device, dir: &Path, cases: &[String]) {
    let read: Vec<_> = cases.iter().map(|c| read_case(dir, c)).collect();
    let model_file = &read[0].0;
    assert!(
        read.iter().all(|(m, _)| m == model_file),
        "cases {cases:?} name different models"
    );
    let mut session = Session::load(dev, dir.join(model_file), SessionOptions::default()).unwrap();
    for fusion in [true, false] {
        session
            .set_compile_options(CompileOptions {
                fusion,
                memory_planning: true,
                ..CompileOptions::DEFAULT
            })
            .unwrap();
        for (case, (_, feeds)) in cases.iter().zip(&read) {
            let refs: Vec<(&str, &Array)> = feeds.iter().map(|(n, a)| (n.as_str(), a)).collect();
            let dispatches = session
                .prepare(&refs)
                .unwrap_or_else(|e| panic!("{case}: {e}"))
                .executable()
                .dispatch_count();
            let outs = session.run(&refs).unwrap();
            for (name, got) in outs.iter() {
                let want_path = dir
                    .join("ref")
                    .join(case)
                    .join("expected")
                    .join(format!("{}.npy", file_name(name)));
                let want = npy::read(&want_path).unwrap();
                let d =
                    check::compare(got, &want).unwrap_or_else(|m| panic!("{case} `{name}`: {m}"));
                println!(
                    "{case} fusion {fusion}: `{name}` {:?} rel L2 {:.2e} ({dispatches} dispatches)",
                    got.shape, d.rel_l2
                );
                assert!(
                    d.rel_l2 < MAX_REL_L2,
                    "{case} fusion {fusion}: output `{name}` rel L2 {:.3e}",
                    d.rel_l2
                );
            }
        }
    }
    assert_eq!(
        session.compilations(),
        cases.len(),
        "each input size is lowered once"
    );
}

/// Runs every case of `prefix` found under the models folder, or skips (see the module doc).
fn check_model(prefix: &str) {
    let dir = models_dir();
    let mut cases: Vec<String> = std::fs::read_dir(dir.join("ref"))
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(prefix))
                .collect()
        })
        .unwrap_or_default();
    cases.sort();
    if cases.len() < 2 {
        let asked = std::env::var_os("FLOPWATT_MODELS").is_some();
        let ci = std::env::var("CI").map(|v| v == "true").unwrap_or(false);
        assert!(
            !(asked || ci),
            "fewer than two `{prefix}` cases in {} (CI fills it with .ci/lib.sh fetch_real_models)",
            dir.join("ref").display()
        );
        eprintln!(
            "SKIPPED: no `{prefix}` cases in {} (run .ci/lib.sh fetch_real_models)",
            dir.join("ref").display()
        );
        return;
    }
    let dev = device_or_skip!();
    check_cases(&dev, &dir, &cases);
}

#[test]
fn ppocr_detector_matches_onnxruntime() {
    check_model("det-");
}

#[test]
fn ppocr_recogniser_matches_onnxruntime() {
    check_model("rec-");
}

#[test]
fn ppocr_classifier_matches_onnxruntime() {
    check_model("cls-");
}

#[test]
fn yolov8n_matches_onnxruntime() {
    check_model("yolo-");
}
