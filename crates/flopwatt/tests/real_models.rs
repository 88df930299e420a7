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
use flopwatt::onnx::{self, check};
use flopwatt::Compile;

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

/// Runs one case (`ref/<case>/`) fused and unfused and checks every output.
fn check_case(dev: &flopwatt::Device, dir: &Path, case: &str) {
    let refdir = dir.join("ref").join(case);
    let spec = std::fs::read_to_string(refdir.join("model.txt")).unwrap();
    let model_file = spec.trim().split('|').next().unwrap();
    let mut feeds: Vec<(String, Array)> = Vec::new();
    for e in std::fs::read_dir(refdir.join("inputs")).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_stem().unwrap().to_string_lossy().into_owned();
        feeds.push((name, npy::read(&p).unwrap()));
    }
    let mut model = onnx::load(dir.join(model_file)).unwrap();
    let refs: Vec<(String, &Array)> = feeds.iter().map(|(n, a)| (n.clone(), a)).collect();
    model.check_inputs(&refs).unwrap();
    let shapes = feeds
        .iter()
        .map(|(n, a)| (n.clone(), a.shape.clone()))
        .collect();
    model.specialize(&shapes).unwrap();
    let low = onnx::to_graph::to_graph(&model).unwrap_or_else(|e| panic!("{case}: {e}"));
    let inputs: Vec<flopwatt::Tensor> = low
        .inputs
        .iter()
        .map(|n| {
            let a = &feeds.iter().find(|(f, _)| f == n).unwrap().1;
            low.upload(dev, n, a).unwrap()
        })
        .collect();
    let trefs: Vec<&flopwatt::Tensor> = inputs.iter().collect();
    for fusion in [true, false] {
        let exe = low
            .graph
            .compile_with(
                dev,
                CompileOptions {
                    fusion,
                    memory_planning: true,
                    ..CompileOptions::DEFAULT
                },
            )
            .unwrap();
        let outs = exe.run(&trefs).unwrap();
        for (k, t) in outs.iter().enumerate() {
            let name = &low.outputs[k];
            let got = low.download(k, t).unwrap();
            let want_path = refdir
                .join("expected")
                .join(format!("{}.npy", file_name(name)));
            let want = npy::read(&want_path).unwrap();
            let d = check::compare(&got, &want).unwrap_or_else(|m| panic!("{case} `{name}`: {m}"));
            println!(
                "{case} fusion {fusion}: `{name}` {:?} rel L2 {:.2e} ({} dispatches)",
                got.shape,
                d.rel_l2,
                exe.dispatch_count()
            );
            assert!(
                d.rel_l2 < MAX_REL_L2,
                "{case} fusion {fusion}: output `{name}` rel L2 {:.3e}",
                d.rel_l2
            );
        }
    }
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
    for case in &cases {
        check_case(&dev, &dir, case);
    }
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
